//! The NumPy trio a popular PyTorch port reads: `images.npy` (N×3×H×W, float, [−1, 1], BGR),
//! `ids.npy` (identity per image) and `yaws.npy` (integer pose class). Images are read from the
//! file one at a time when needed, never all at once.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use super::SetBuilder;
use crate::data::faceset::{FaceSet, Format, ImageSource, NpyImage, OUT_OF_RANGE};
use crate::model::PoseBins;

/// The images array's file name.
pub const IMAGES: &str = "images.npy";
/// The identities array's file name.
pub const IDS: &str = "ids.npy";
/// The pose classes array's file name.
pub const YAWS: &str = "yaws.npy";

/// What an `.npy` header says.
#[derive(Debug, PartialEq)]
pub struct NpyHeader {
    /// The dtype, e.g. `<f4`.
    pub descr: String,
    /// Array shape.
    pub shape: Vec<usize>,
    /// Byte offset of the data.
    pub data_start: u64,
}

/// Reads the header of an `.npy` file (format versions 1 to 3, C order).
pub fn read_header(path: &Path) -> anyhow::Result<NpyHeader> {
    let mut file = BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    let mut magic = [0u8; 8];
    file.read_exact(&mut magic).with_context(|| format!("{} is too short to be a .npy file", path.display()))?;
    if &magic[..6] != b"\x93NUMPY" {
        bail!("{} is not a .npy file", path.display());
    }
    let (header_len, prefix) = if magic[6] == 1 {
        let mut len = [0u8; 2];
        file.read_exact(&mut len)?;
        (u16::from_le_bytes(len) as usize, 10)
    } else {
        let mut len = [0u8; 4];
        file.read_exact(&mut len)?;
        (u32::from_le_bytes(len) as usize, 12)
    };
    if header_len > MAX_HEADER_BYTES {
        bail!("{}: its header claims {header_len} bytes; a .npy header is a few hundred", path.display());
    }
    let mut header = vec![0u8; header_len];
    file.read_exact(&mut header).with_context(|| format!("{}: truncated header", path.display()))?;
    let header = String::from_utf8_lossy(&header);
    let value_of = |key: &str| -> Option<String> {
        let start = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest.to_owned())
    };
    let descr = value_of("descr")
        .and_then(|v| v.strip_prefix('\'').and_then(|v| v.split('\'').next()).map(str::to_owned))
        .with_context(|| format!("{}: no dtype in the header", path.display()))?;
    if value_of("fortran_order").is_some_and(|v| v.starts_with("True")) {
        bail!("{}: Fortran-ordered arrays are not supported; save with C order", path.display());
    }
    let shape = value_of("shape")
        .and_then(|v| v.strip_prefix('(').and_then(|v| v.split(')').next()).map(str::to_owned))
        .with_context(|| format!("{}: no shape in the header", path.display()))?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: unreadable shape", path.display()))?;
    Ok(NpyHeader { descr, shape, data_start: (prefix + header_len) as u64 })
}

/// Longest `.npy` header read (bounded memory whatever a file claims).
const MAX_HEADER_BYTES: usize = 1 << 20;

/// The number of elements of `shape`, or an error when it does not fit in memory's address
/// space (a damaged or hostile header).
fn element_count(shape: &[usize], path: &Path) -> anyhow::Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |count, &d| count.checked_mul(d))
        .with_context(|| format!("{}: the shape {shape:?} is larger than any file can be", path.display()))
}

/// Reads a one-dimensional integer (or integral float) array.
pub fn read_integers(path: &Path) -> anyhow::Result<Vec<i64>> {
    let header = read_header(path)?;
    let count = element_count(&header.shape, path)?;
    let bytes = std::fs::read(path)?;
    let data = bytes.get(header.data_start as usize..).unwrap_or(&[]);
    if header.descr.starts_with('>') {
        bail!("{}: big-endian arrays are not supported", path.display());
    }
    let (kind, size) = header.descr.trim_start_matches(['<', '|', '=']).split_at_checked(1).unwrap_or_default();
    let size: usize = size.parse().with_context(|| format!("{}: unknown dtype {}", path.display(), header.descr))?;
    if !matches!((kind, size), ("i" | "u", 1 | 2 | 4 | 8) | ("f", 4 | 8)) {
        bail!("{}: dtype {} is not an array of integers (identities and labels must be whole numbers, not names)", path.display(), header.descr);
    }
    if count.checked_mul(size).is_none_or(|needed| data.len() < needed) {
        bail!("{} is truncated: {} values announced, {} bytes present", path.display(), count, data.len());
    }
    let value = |chunk: &[u8]| -> Option<i64> {
        let mut buf = [0u8; 8];
        buf[..size].copy_from_slice(chunk);
        match (kind, size) {
            ("i", 1) => Some(chunk[0] as i8 as i64),
            ("i", 2) => Some(i16::from_le_bytes([chunk[0], chunk[1]]) as i64),
            ("i", 4) => Some(i32::from_le_bytes(buf[..4].try_into().ok()?) as i64),
            ("i", 8) => Some(i64::from_le_bytes(buf)),
            ("u", 1 | 2 | 4 | 8) => i64::try_from(u64::from_le_bytes(buf)).ok(),
            ("f", 4) => Some(f32::from_le_bytes(buf[..4].try_into().ok()?)).filter(|v| v.fract() == 0.0).map(|v| v as i64),
            ("f", 8) => Some(f64::from_le_bytes(buf)).filter(|v| v.fract() == 0.0).map(|v| v as i64),
            _ => None,
        }
    };
    data.chunks(size)
        .take(count)
        .map(|chunk| value(chunk).with_context(|| format!("{}: dtype {} holds no integer class", path.display(), header.descr)))
        .collect()
}

/// Reads a float array (`<f4` or `<f8`, C order): its shape, and its values as `f32`.
pub fn read_floats(path: &Path) -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
    let header = read_header(path)?;
    let count = element_count(&header.shape, path)?;
    let size = match header.descr.as_str() {
        "<f4" | "=f4" => 4,
        "<f8" | "=f8" => 8,
        other => bail!(
            "{}: dtype {other} is not a little-endian float32 or float64 array",
            path.display()
        ),
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let data = bytes.get(header.data_start as usize..).unwrap_or(&[]);
    if count
        .checked_mul(size)
        .is_none_or(|needed| data.len() < needed)
    {
        bail!(
            "{} is truncated: {} values announced, {} bytes present",
            path.display(),
            count,
            data.len()
        );
    }
    let values = data
        .chunks_exact(size)
        .take(count)
        .map(|chunk| match chunk {
            [a, b, c, d] => f32::from_le_bytes([*a, *b, *c, *d]),
            _ => f64::from_le_bytes(std::array::from_fn(|i| chunk[i])) as f32,
        })
        .collect();
    Ok((header.shape, values))
}

/// Writes `values` (C order) as a little-endian float32 `.npy` array of `shape`.
pub fn write_floats(path: &Path, shape: &[usize], values: &[f32]) -> anyhow::Result<()> {
    anyhow::ensure!(
        shape.iter().product::<usize>() == values.len(),
        "{} values do not fill the shape {shape:?}",
        values.len()
    );
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for value in values {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Reads the trio in `folder`.
pub fn read(folder: &Path, pose_bins: &PoseBins) -> anyhow::Result<FaceSet> {
    let images_path = folder.join(IMAGES);
    let header = read_header(&images_path)?;
    let value_bytes = match header.descr.as_str() {
        "<f4" => 4,
        "<f8" => 8,
        other => bail!("{}: images must be float32 or float64, found dtype {other}", images_path.display()),
    };
    let [count, 3, height, width] = header.shape[..] else {
        bail!("{}: expected a shape N×3×H×W, found {:?}", images_path.display(), header.shape);
    };
    element_count(&header.shape, &images_path)?;
    let pixels = height.saturating_mul(width);
    let budget = crate::data::prepare::pixel_budget();
    if pixels as u64 > budget {
        bail!("{}: its images are {width}×{height}, over the decode budget of {budget} pixels per image (--max-pixels)", images_path.display());
    }
    let file_len = std::fs::metadata(&images_path)?.len();
    let image_bytes = (3 * pixels * value_bytes) as u64;
    let complete = (file_len.saturating_sub(header.data_start) / image_bytes.max(1)) as usize;
    let ids = read_integers(&folder.join(IDS))?;
    let poses = read_integers(&folder.join(YAWS))?;
    if ids.len() != count || poses.len() != count {
        bail!(
            "{} holds {count} images, but {} has {} identities and {} has {} poses",
            folder.display(),
            IDS,
            ids.len(),
            YAWS,
            poses.len()
        );
    }
    let path: Arc<PathBuf> = Arc::new(images_path.clone());
    let mut set = SetBuilder::default();
    for (index, (&id, &pose)) in ids.iter().zip(&poses).enumerate() {
        let image = NpyImage { path: path.clone(), index, data_start: header.data_start, height, width, value_bytes };
        let name = format!("{}[{index}]", images_path.display());
        if index >= complete {
            set.skipped.add("truncated image data", name);
            continue;
        }
        let Some(bin) = usize::try_from(pose).ok().filter(|&b| b < pose_bins.len()) else {
            set.skipped.add(OUT_OF_RANGE, name);
            continue;
        };
        set.push(ImageSource::Npy(image), Some(&id.to_string()), Some(pose_bins.yaws[bin]), Some(bin), None);
    }
    Ok(set.finish(Format::Numpy, folder, pose_bins))
}

/// Reads one image of an `images.npy` as RGB bytes (the file stores BGR in [−1, 1]).
pub fn read_image(image: &NpyImage) -> anyhow::Result<image::RgbImage> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(image.path.as_ref()).with_context(|| format!("opening {}", image.path.display()))?;
    file.seek(SeekFrom::Start(image.offset()))?;
    let plane = image.height * image.width;
    let mut bytes = vec![0u8; 3 * plane * image.value_bytes];
    file.read_exact(&mut bytes).with_context(|| format!("{}[{}]: truncated", image.path.display(), image.index))?;
    let value = |i: usize| -> f32 {
        let at = i * image.value_bytes;
        match image.value_bytes {
            8 => f64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8])) as f32,
            _ => f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4])),
        }
    };
    let to_byte = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
    Ok(image::RgbImage::from_fn(image.width as u32, image.height as u32, |x, y| {
        let at = y as usize * image.width + x as usize;
        // BGR planes → RGB pixel.
        image::Rgb([to_byte(value(2 * plane + at)), to_byte(value(plane + at)), to_byte(value(at))])
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_written_read_back_with_their_shape() {
        let dir = tempfile::tempdir().expect("a temp dir");
        for (shape, values) in [
            (vec![3], vec![1.0, -2.5, 3.25]),
            (vec![2, 2], vec![0.0, 1.0, 2.0, 3.0]),
        ] {
            let path = dir.path().join("a.npy");
            write_floats(&path, &shape, &values).expect("written");
            assert_eq!(read_floats(&path).expect("read"), (shape, values));
        }
        assert!(
            write_floats(&dir.path().join("b.npy"), &[3], &[1.0]).is_err(),
            "the shape must hold the values"
        );
    }
}

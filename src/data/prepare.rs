//! Decoding and shaping images for the model: square centre crop, resize to 110/96 of the
//! model's input, random (training) or centre crop to the input, optional mirror, pixels to
//! [−1, 1] in channel-first RGB.

use image::{DynamicImage, RgbImage, imageops::FilterType};
use rand::Rng;

use super::faceset::ImageSource;
use crate::model::PoseBins;

/// Side of the image the crops are taken from: 110/96 of the model's input (110 for 96).
pub fn load_size(input_size: usize) -> usize {
    (input_size * 110 + 48) / 96
}

/// Images with a side shorter than this are refused as too small to hold a face.
pub const MIN_SIDE: u32 = 16;

/// Default decode budget: images whose header declares more pixels are skipped before they are
/// decoded (a 12,000×12,000 PNG of a few hundred kilobytes would take half a gigabyte).
pub const MAX_PIXELS: u64 = 4096 * 4096;

static PIXEL_BUDGET: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(MAX_PIXELS);

/// Changes the decode budget for this process (`--max-pixels`).
pub fn set_pixel_budget(pixels: u64) {
    PIXEL_BUDGET.store(pixels.max(1), std::sync::atomic::Ordering::Relaxed);
}

/// The decode budget in pixels per image.
pub fn pixel_budget() -> u64 {
    PIXEL_BUDGET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Why an image could not be used; each variant is a skip reason of its own.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The file is empty.
    #[error("zero-byte file")]
    Empty,
    /// The file is missing, unreadable, truncated or not an image.
    #[error("unreadable image")]
    Unreadable(#[source] anyhow::Error),
    /// The image is smaller than [`MIN_SIDE`].
    #[error("image too small (under 16 px)")]
    TooSmall,
    /// The image's header declares more pixels than the decode budget allows.
    #[error("image too large (over the decode budget; see --max-pixels)")]
    TooLarge,
    /// The landmarks given for the image cannot align it (outside it, say).
    #[error("landmarks that cannot align the image")]
    BadLandmarks(#[source] anyhow::Error),
}

impl PrepareError {
    /// The skip reason, as the report counts it.
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

/// Reads (or renders) `source` at its own size, as RGB.
pub fn decode(source: &ImageSource) -> Result<DynamicImage, PrepareError> {
    let image = match source {
        ImageSource::File(path) | ImageSource::Aligned { path, .. } => {
            if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
                return Err(PrepareError::Empty);
            }
            let open = || -> Result<image::ImageReader<std::io::BufReader<std::fs::File>>, PrepareError> {
                image::ImageReader::open(path)
                    .map_err(|e| PrepareError::Unreadable(e.into()))?
                    .with_guessed_format()
                    .map_err(|e| PrepareError::Unreadable(e.into()))
            };
            // The header first: an image over the budget is never decoded.
            let (width, height) = open()?.into_dimensions().map_err(|e| PrepareError::Unreadable(e.into()))?;
            if u64::from(width) * u64::from(height) > pixel_budget() {
                return Err(PrepareError::TooLarge);
            }
            let mut reader = open()?;
            let mut limits = image::Limits::default();
            limits.max_image_width = Some(width);
            limits.max_image_height = Some(height);
            reader.limits(limits);
            reader.decode().map_err(|e| PrepareError::Unreadable(e.into()))?
        }
        ImageSource::Npy(image) => DynamicImage::ImageRgb8(crate::data::formats::numpy::read_image(image).map_err(PrepareError::Unreadable)?),
        ImageSource::Synthetic { spec, person, yaw, light } => DynamicImage::ImageRgb8(spec.render(*person, *yaw, *light, 128)),
    };
    if image.width().min(image.height()) < MIN_SIDE {
        return Err(PrepareError::TooSmall);
    }
    Ok(image)
}

/// Whether `source` can be used: it decodes, and its landmarks (if it has some) lie on it.
pub fn verify(source: &ImageSource) -> Result<(), PrepareError> {
    let image = decode(source)?;
    match source {
        ImageSource::Aligned { landmarks, .. } => super::align::check(landmarks, image.width(), image.height()).map_err(PrepareError::BadLandmarks),
        _ => Ok(()),
    }
}

/// Reads (or renders) `source` as a `size`×`size` RGB image.
pub fn load_rgb(source: &ImageSource, size: usize) -> Result<RgbImage, PrepareError> {
    match source {
        // Synthetic faces are rendered at the wanted size directly: sharper and faster.
        ImageSource::Synthetic { spec, person, yaw, light } => Ok(spec.render(*person, *yaw, *light, size as u32)),
        // Placed as the renderer places faces in its square, so the crops that follow (centred or
        // random) see an aligned face as they see a synthetic one.
        ImageSource::Aligned { landmarks, .. } => {
            super::align::align_square(&decode(source)?.to_rgb8(), landmarks, size).map_err(PrepareError::BadLandmarks)
        }
        _ => Ok(square_resize(decode(source)?, size)),
    }
}

/// `source` as the model sees it at evaluation: loaded at [`load_size`] and centre-cropped to
/// `input_size`×`input_size` (exactly the pixels of [`Crop::centre`]).
pub fn centred_input(source: &ImageSource, input_size: usize) -> Result<RgbImage, PrepareError> {
    let load = load_size(input_size);
    let crop = Crop::centre(load, input_size);
    let loaded = load_rgb(source, load)?;
    Ok(image::imageops::crop_imm(&loaded, crop.x as u32, crop.y as u32, input_size as u32, input_size as u32).to_image())
}

/// Centre-crops to a square and resizes to `size`×`size`; grey and RGBA become RGB.
pub fn square_resize(image: DynamicImage, size: usize) -> RgbImage {
    let (w, h) = (image.width(), image.height());
    let side = w.min(h);
    let square = image.crop_imm((w - side) / 2, (h - side) / 2, side, side);
    square.resize_exact(size as u32, size as u32, FilterType::Triangle).to_rgb8()
}

/// Pixels as channel-first floats in [−1, 1].
pub fn to_chw(image: &RgbImage) -> Vec<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut out = vec![0.0; 3 * w * h];
    for (x, y, pixel) in image.enumerate_pixels() {
        for c in 0..3 {
            out[c * w * h + y as usize * w + x as usize] = pixel.0[c] as f32 / 127.5 - 1.0;
        }
    }
    out
}

/// Channel-first floats in [−1, 1] back to an RGB image of side `size`.
pub fn from_chw(pixels: &[f32], size: usize) -> RgbImage {
    let plane = size * size;
    RgbImage::from_fn(size as u32, size as u32, |x, y| {
        let at = y as usize * size + x as usize;
        image::Rgb(std::array::from_fn(|c| ((pixels[c * plane + at] + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8))
    })
}

/// Where to cut the model's input out of a loaded image, and whether to mirror it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crop {
    /// Left edge.
    pub x: usize,
    /// Top edge.
    pub y: usize,
    /// Mirror horizontally.
    pub flip: bool,
}

impl Crop {
    /// The centred crop, unmirrored (evaluation and display).
    pub fn centre(load: usize, input: usize) -> Self {
        let offset = (load - input) / 2;
        Self { x: offset, y: offset, flip: false }
    }

    /// A uniformly random crop, mirrored half the time when `flip` is allowed (training).
    pub fn random(rng: &mut impl Rng, load: usize, input: usize, flip: bool) -> Self {
        Self {
            x: rng.random_range(0..=load - input),
            y: rng.random_range(0..=load - input),
            flip: flip && rng.random_bool(0.5),
        }
    }

    /// The pose bin of the cropped image: mirroring also mirrors the pose.
    pub fn bin(&self, bin: usize, pose_bins: &PoseBins) -> usize {
        if self.flip { pose_bins.mirrored(bin) } else { bin }
    }

    /// Appends the `input`×`input` crop of `image` as channel-first floats in [−1, 1].
    pub fn extend_rgb(&self, image: &RgbImage, input: usize, out: &mut Vec<f32>) {
        let (load, raw) = (image.width() as usize, image.as_raw());
        for c in 0..3 {
            for y in 0..input {
                let row = ((self.y + y) * load + self.x) * 3 + c;
                let value = |x: usize| raw[row + 3 * x] as f32 / 127.5 - 1.0;
                if self.flip {
                    out.extend((0..input).rev().map(value));
                } else {
                    out.extend((0..input).map(value));
                }
            }
        }
    }

    /// Appends the `input`×`input` crop of the channel-first image `pixels` (side `load`).
    pub fn extend(&self, pixels: &[f32], load: usize, input: usize, out: &mut Vec<f32>) {
        for c in 0..3 {
            for y in 0..input {
                let row = c * load * load + (self.y + y) * load + self.x;
                let src = &pixels[row..row + input];
                if self.flip {
                    out.extend(src.iter().rev());
                } else {
                    out.extend_from_slice(src);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_round_trip_and_a_flip_mirrors_the_pose() {
        let image = RgbImage::from_fn(4, 4, |x, y| image::Rgb([(x * 60) as u8, (y * 60) as u8, 7]));
        let chw = to_chw(&image);
        assert_eq!(from_chw(&chw, 4), image);
        let mut out = Vec::new();
        Crop { x: 0, y: 0, flip: true }.extend(&chw, 4, 4, &mut out);
        assert_eq!(from_chw(&out, 4), image::imageops::flip_horizontal(&image));
        for crop in [Crop { x: 1, y: 0, flip: false }, Crop { x: 0, y: 1, flip: true }] {
            let (mut from_floats, mut from_bytes) = (Vec::new(), Vec::new());
            crop.extend(&chw, 4, 3, &mut from_floats);
            crop.extend_rgb(&image, 3, &mut from_bytes);
            assert_eq!(from_floats, from_bytes);
        }
        let bins = PoseBins::default();
        assert_eq!(Crop { x: 0, y: 0, flip: true }.bin(1, &bins), 7);
        assert_eq!(load_size(96), 110);
        assert_eq!(load_size(32), 37);
    }
}

//! The project's own format: `manifest.csv` with the header `path,identity,yaw` (yaw in degrees)
//! or `path,identity,pose_bin`, paths relative to the manifest's folder. Optional landmark
//! columns [`LANDMARK_COLUMNS`] place each face (`data::align`); a row that leaves them empty is
//! read as usual. Other columns are ignored and listed once in the report.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};

use super::SetBuilder;
use crate::data::align::{Landmarks, check_shape};
use crate::data::faceset::{EXAMPLE_CHARS, FaceSet, Format, ImageSource, OUT_OF_RANGE, clip};
use crate::model::PoseBins;

/// The manifest's file name inside a face-set folder.
pub const FILE_NAME: &str = "manifest.csv";

/// The optional landmark columns, in pixels of each image: the centre of the eye on the image's
/// left, of the eye on its right, and of the mouth.
pub const LANDMARK_COLUMNS: [&str; 6] = ["left_eye_x", "left_eye_y", "right_eye_x", "right_eye_y", "mouth_x", "mouth_y"];

/// Skip reason of a row whose landmarks cannot place a face.
const BAD_LANDMARKS: &str = "unusable landmarks";

/// How a manifest gives the pose.
enum PoseColumn {
    Yaw(usize),
    Bin(usize),
}

/// Reads a manifest; rows that cannot be used are skipped with a reason.
pub fn read(manifest: &Path, pose_bins: &PoseBins) -> anyhow::Result<FaceSet> {
    let folder = manifest.parent().unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let pose = match (column("yaw"), column("pose_bin")) {
        (Some(col), _) => Some(PoseColumn::Yaw(col)),
        (None, Some(col)) => Some(PoseColumn::Bin(col)),
        (None, None) => None,
    };
    let (Some(path_col), Some(id_col), Some(pose)) = (column("path"), column("identity"), pose) else {
        bail!(
            "{}: the header must name the columns path, identity and yaw (or pose_bin); found: {}",
            manifest.display(),
            clip(&headers.iter().collect::<Vec<_>>().join(","), EXAMPLE_CHARS)
        );
    };
    let landmark_cols: Vec<usize> = LANDMARK_COLUMNS.iter().filter_map(|name| column(name)).collect();
    if !landmark_cols.is_empty() && landmark_cols.len() < LANDMARK_COLUMNS.len() {
        bail!("{}: landmarks need all six columns {}; some are missing", manifest.display(), LANDMARK_COLUMNS.join(","));
    }
    let used: Vec<&str> = ["path", "identity", "yaw", "pose_bin"].into_iter().chain(LANDMARK_COLUMNS).collect();
    let ignored: Vec<String> = headers.iter().filter(|h| !used.contains(&h.to_ascii_lowercase().as_str())).take(20).map(|h| clip(h, 60)).collect();
    // Links are followed before the "inside the folder" rule is applied, so a link to a file
    // elsewhere is caught too.
    let root = folder.canonicalize().ok();
    let mut set = SetBuilder::default();
    let mut seen_paths = HashSet::new();
    for (line, record) in reader.records().enumerate() {
        let row = format!("line {}", line + 2);
        let Ok(record) = record else {
            set.skipped.add("unreadable row", row);
            continue;
        };
        let field = |col: usize| record.get(col).unwrap_or("").to_owned();
        let (path, identity) = (field(path_col), field(id_col));
        if path.is_empty() {
            set.skipped.add("missing path", row);
            continue;
        }
        if identity.is_empty() {
            set.skipped.add("missing identity", path);
            continue;
        }
        let (yaw, bin) = match pose {
            PoseColumn::Yaw(col) => match field(col).parse::<f32>().ok().filter(|y| y.is_finite()) {
                Some(yaw) => (Some(yaw), pose_bins.bin_of(yaw)),
                None => {
                    set.skipped.add("non-numeric yaw", path);
                    continue;
                }
            },
            PoseColumn::Bin(col) => match field(col).parse::<usize>() {
                Ok(bin) if bin < pose_bins.len() => (Some(pose_bins.yaws[bin]), Some(bin)),
                Ok(_) => (None, None),
                Err(_) => {
                    set.skipped.add("non-numeric pose bin", path);
                    continue;
                }
            },
        };
        // Links and `.`/`..` resolved, so that one file under two spellings is one image.
        let resolved = folder.join(&path).canonicalize().ok();
        if escapes_folder(Path::new(&path)) || links_out(resolved.as_deref(), root.as_deref()) {
            set.skipped.add("path outside the manifest's folder", path);
            continue;
        }
        if !seen_paths.insert(resolved.unwrap_or_else(|| normalised(Path::new(&path)))) {
            set.skipped.add("duplicate path", path);
            continue;
        }
        if bin.is_none() {
            set.skipped.add(OUT_OF_RANGE, path);
            continue;
        }
        let image = match landmarks(&landmark_cols, &field) {
            Ok(None) => ImageSource::File(folder.join(&path)),
            Ok(Some(landmarks)) => ImageSource::Aligned { path: folder.join(&path), landmarks },
            Err(()) => {
                set.skipped.add(BAD_LANDMARKS, path);
                continue;
            }
        };
        set.push(image, Some(&identity), yaw, bin, None);
    }
    let mut faces = set.finish(Format::Manifest, manifest, pose_bins);
    faces.ignored_columns = ignored;
    Ok(faces)
}

/// A row's landmarks from the columns `cols` (none when the manifest has none or the row leaves
/// them all empty); `Err` when they are not six numbers that make a face-like triangle.
fn landmarks(cols: &[usize], field: &dyn Fn(usize) -> String) -> Result<Option<Landmarks>, ()> {
    let values: Vec<String> = cols.iter().map(|&c| field(c)).collect();
    if values.iter().all(String::is_empty) {
        return Ok(None);
    }
    let numbers: Vec<f32> = values.iter().map(|v| v.parse::<f32>()).collect::<Result<_, _>>().map_err(|_| ())?;
    let landmarks = Landmarks([[numbers[0], numbers[1]], [numbers[2], numbers[3]], [numbers[4], numbers[5]]]);
    check_shape(&landmarks).map_err(|_| ())?;
    Ok(Some(landmarks))
}

/// Whether a relative path leaves its folder (absolute, or climbing out with `..`).
pub fn escapes_folder(path: &Path) -> bool {
    let mut depth = 0i32;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => depth -= 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return true,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// Whether `resolved` (a path that exists, links followed) lies outside `root` (a missing file
/// is left to the decoder to report).
fn links_out(resolved: Option<&Path>, root: Option<&Path>) -> bool {
    match (resolved, root) {
        (Some(real), Some(root)) => !real.starts_with(root),
        _ => false,
    }
}

/// A relative path that stays in its folder, without `.` and with each `..` taken back: the
/// duplicate check's key for a file that does not exist (`./a.png` and `b/../a.png` are `a.png`).
fn normalised(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Writes `manifest.csv` rows `(relative path, identity, yaw)` into `folder`.
pub fn write<'a>(folder: &Path, rows: impl IntoIterator<Item = (&'a str, &'a str, f32)>) -> anyhow::Result<()> {
    let path = folder.join(FILE_NAME);
    let mut writer = csv::Writer::from_path(&path).with_context(|| format!("creating {}", path.display()))?;
    writer.write_record(["path", "identity", "yaw"])?;
    for (file, identity, yaw) in rows {
        writer.write_record([file, identity, &yaw.to_string()])?;
    }
    writer.flush()?;
    Ok(())
}

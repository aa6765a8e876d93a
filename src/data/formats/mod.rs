//! Readers of face-set layouts on disk, one file per format, and the detection that picks one
//! from whatever folder or file a person points at.

pub mod cfp;
pub mod folder;
pub mod list;
pub mod manifest;
pub mod multipie;
pub mod numpy;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::bail;

use super::faceset::{FaceSet, Format, ImageSource, Sample, SkipReport};
use crate::model::PoseBins;

/// How to read a face set.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// The pose bins yaws are mapped to.
    pub pose_bins: PoseBins,
    /// Read a CFP set as two bins, frontal (0°) and profile (90°), instead of reporting the
    /// profile faces as out of range.
    pub cfp_two_bins: bool,
}

/// File extensions of the images the `image` crate decodes here.
pub const IMAGE_EXTENSIONS: [&str; 9] = ["png", "jpg", "jpeg", "bmp", "webp", "gif", "tif", "tiff", "ppm"];

/// Whether `path` names an image file by its extension.
pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Every image file under `folder`, sorted (so sets read the same every time).
pub fn images_under(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(folder)
        .follow_links(true)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && is_image(e.path()))
        .map(walkdir::DirEntry::into_path)
        .collect();
    files.sort();
    files
}

/// Detects the layout at `path` and reads it.
pub fn open(path: &Path, options: &OpenOptions) -> anyhow::Result<FaceSet> {
    if !path.exists() {
        bail!("face set {} does not exist", path.display());
    }
    let format = detect(path)?;
    let set = match format {
        Format::Manifest => manifest::read(&manifest_path(path), &options.pose_bins)?,
        Format::Numpy => numpy::read(&numpy_folder(path), &options.pose_bins)?,
        Format::List => list::read(path, &options.pose_bins)?,
        Format::Cfp => cfp::read(path, options)?,
        Format::MultiPie => multipie::read(path, &options.pose_bins)?,
        Format::Folder => folder::read(path, &options.pose_bins)?,
        Format::Synthetic => bail!("synthetic sets are made, not read"),
    };
    Ok(set)
}

fn manifest_path(path: &Path) -> PathBuf {
    if path.is_dir() { path.join(manifest::FILE_NAME) } else { path.to_path_buf() }
}

fn numpy_folder(path: &Path) -> PathBuf {
    if path.is_dir() { path.to_path_buf() } else { path.parent().unwrap_or(Path::new(".")).to_path_buf() }
}

/// Which layout `path` holds.
pub fn detect(path: &Path) -> anyhow::Result<Format> {
    if path.is_file() {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        return match extension.as_str() {
            "csv" => Ok(Format::Manifest),
            "npy" => Ok(Format::Numpy),
            "txt" | "lst" | "list" => Ok(Format::List),
            _ => bail!(
                "{} is not a face set: point at a folder, a manifest (.csv), a list file (.txt, .lst) or images.npy",
                path.display()
            ),
        };
    }
    if path.join(manifest::FILE_NAME).is_file() {
        return Ok(Format::Manifest);
    }
    if path.join(numpy::IMAGES).is_file() {
        return Ok(Format::Numpy);
    }
    let images = images_under(path);
    if images.is_empty() {
        bail!("{} holds no images (and no manifest.csv, list file or images.npy)", path.display());
    }
    if images.iter().any(|p| cfp::pose_of(p).is_some()) {
        return Ok(Format::Cfp);
    }
    if images.iter().any(|p| multipie::parse_name(p).is_some()) {
        return Ok(Format::MultiPie);
    }
    Ok(Format::Folder)
}

/// Gathers samples with identity names mapped to dense indices, in order of appearance.
#[derive(Default)]
pub struct SetBuilder {
    samples: Vec<Sample>,
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// What was skipped.
    pub skipped: SkipReport,
}

impl SetBuilder {
    /// Adds a sample of identity `name` (or unlabelled, with `None`).
    pub fn push(&mut self, image: ImageSource, name: Option<&str>, yaw: Option<f32>, bin: Option<usize>, light: Option<u32>) {
        let identity = name.map(|name| match self.index.get(name) {
            Some(&id) => id,
            None => {
                self.names.push(name.to_owned());
                self.index.insert(name.to_owned(), self.names.len() - 1);
                self.names.len() - 1
            }
        });
        self.samples.push(Sample { image, identity, yaw, bin, light });
    }

    /// The face set.
    pub fn finish(self, format: Format, origin: &Path, pose_bins: &PoseBins) -> FaceSet {
        FaceSet {
            format,
            origin: origin.display().to_string(),
            samples: self.samples,
            identity_names: self.names,
            pose_bins: pose_bins.clone(),
            skipped: self.skipped,
            ignored_columns: Vec::new(),
        }
    }
}

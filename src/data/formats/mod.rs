//! Readers of face-set layouts on disk, one file per format.

pub mod manifest;

use std::path::Path;

use anyhow::{Context, bail};

use super::faceset::FaceSet;
use crate::model::PoseBins;

/// Reads the face set at `path` (a folder holding `manifest.csv`, or the manifest itself).
pub fn open(path: &Path, pose_bins: &PoseBins) -> anyhow::Result<FaceSet> {
    if !path.exists() {
        bail!("face set {} does not exist", path.display());
    }
    let manifest = if path.is_dir() { path.join(manifest::FILE_NAME) } else { path.to_path_buf() };
    if !manifest.is_file() {
        bail!(
            "{} holds no {}: point --data at a folder written by `drgan-studio synth` or at a manifest with the header `path,identity,yaw`",
            path.display(),
            manifest::FILE_NAME
        );
    }
    manifest::read(&manifest, pose_bins).with_context(|| format!("reading {}", manifest.display()))
}

//! A plain folder of images without labels: for exploring and frontalizing, not for training.

use std::path::Path;

use super::{SetBuilder, images_under};
use crate::data::faceset::{FaceSet, Format, ImageSource};
use crate::model::PoseBins;

/// Reads every image under `folder`, unlabelled.
pub fn read(folder: &Path, pose_bins: &PoseBins) -> anyhow::Result<FaceSet> {
    let mut set = SetBuilder::default();
    for path in images_under(folder) {
        set.push(ImageSource::File(path), None, None, None, None);
    }
    Ok(set.finish(Format::Folder, folder, pose_bins))
}

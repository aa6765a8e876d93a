//! The CFP layout: `.../<id>/frontal/NN.jpg` (0°) and `.../<id>/profile/NN.jpg` (beyond ±60°,
//! so out of range unless the set is read as two bins, frontal and profile).

use std::path::Path;

use super::{OpenOptions, SetBuilder, images_under};
use crate::data::faceset::{FaceSet, Format, ImageSource, OUT_OF_RANGE};
use crate::model::PoseBins;

/// Yaw given to profile faces when the set is read as two bins.
pub const PROFILE_YAW: f32 = 90.0;

/// Whether an image is a CFP frontal or profile face, and of which identity.
pub fn pose_of(path: &Path) -> Option<(bool, String)> {
    let pose_dir = path.parent()?;
    let identity = pose_dir.parent()?.file_name()?.to_str()?.to_owned();
    match pose_dir.file_name()?.to_str()? {
        "frontal" => Some((true, identity)),
        "profile" => Some((false, identity)),
        _ => None,
    }
}

/// Reads a CFP tree; with `options.cfp_two_bins` the bins become frontal (0°) and profile (90°).
pub fn read(folder: &Path, options: &OpenOptions) -> anyhow::Result<FaceSet> {
    let pose_bins = if options.cfp_two_bins {
        PoseBins { yaws: vec![0.0, PROFILE_YAW] }
    } else {
        options.pose_bins.clone()
    };
    let mut set = SetBuilder::default();
    for path in images_under(folder) {
        let Some((frontal, identity)) = pose_of(&path) else {
            set.skipped.add("not in a frontal/ or profile/ folder", path.display().to_string());
            continue;
        };
        let yaw = if frontal { 0.0 } else { PROFILE_YAW };
        match pose_bins.bin_of(yaw) {
            Some(bin) => set.push(ImageSource::File(path), Some(&identity), Some(yaw), Some(bin), None),
            None => set.skipped.add(OUT_OF_RANGE, path.display().to_string()),
        }
    }
    Ok(set.finish(Format::Cfp, folder, &pose_bins))
}

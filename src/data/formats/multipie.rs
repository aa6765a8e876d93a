//! Multi-PIE file names, `SSS_SS_EE_CCC_LL.png` (subject, session, recording, camera, light), at
//! any folder depth. The camera gives the yaw (SPEC's table); cameras outside ±60° are reported.

use std::path::Path;

use super::{SetBuilder, images_under};
use crate::data::faceset::{FaceSet, Format, ImageSource, OUT_OF_RANGE};
use crate::model::PoseBins;

/// Camera (as written in file names) → yaw in degrees, for the nine cameras within ±60°.
pub const CAMERA_YAWS: [(&str, f32); 9] = [
    ("090", -60.0),
    ("080", -45.0),
    ("130", -30.0),
    ("140", -15.0),
    ("051", 0.0),
    ("050", 15.0),
    ("041", 30.0),
    ("190", 45.0),
    ("200", 60.0),
];

/// The parts of a Multi-PIE file name.
#[derive(Debug, PartialEq, Eq)]
pub struct MultiPieName {
    /// Subject id.
    pub subject: String,
    /// Camera, e.g. `051`.
    pub camera: String,
    /// Light (flash) number.
    pub light: u32,
}

/// Parses `SSS_SS_EE_CCC_LL.ext`; `None` for other names.
pub fn parse_name(path: &Path) -> Option<MultiPieName> {
    let stem = path.file_stem()?.to_str()?;
    let parts: Vec<&str> = stem.split('_').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match parts[..] {
        [subject, session, recording, camera, light]
            if digits(subject, 3) && digits(session, 2) && digits(recording, 2) && digits(camera, 3) && digits(light, 2) =>
        {
            Some(MultiPieName { subject: subject.to_owned(), camera: camera.to_owned(), light: light.parse().ok()? })
        }
        _ => None,
    }
}

/// Reads every Multi-PIE-named image under `folder`.
pub fn read(folder: &Path, pose_bins: &PoseBins) -> anyhow::Result<FaceSet> {
    let mut set = SetBuilder::default();
    for path in images_under(folder) {
        let Some(name) = parse_name(&path) else {
            set.skipped.add("file name not in Multi-PIE form", path.display().to_string());
            continue;
        };
        let yaw = CAMERA_YAWS.iter().find(|(camera, _)| *camera == name.camera).map(|(_, yaw)| *yaw);
        match yaw.and_then(|yaw| pose_bins.bin_of(yaw).map(|bin| (yaw, bin))) {
            Some((yaw, bin)) => set.push(ImageSource::File(path), Some(&name.subject), Some(yaw), Some(bin), Some(name.light)),
            None => set.skipped.add(OUT_OF_RANGE, path.display().to_string()),
        }
    }
    Ok(set.finish(Format::MultiPie, folder, pose_bins))
}

//! List files of the public ports: `path;identity` lines (pose unknown) or `path identity pose`
//! lines, where pose is the integer pose class (0 = the most negative bin). Relative paths resolve
//! against the list file's folder; blank lines and `#` comments are skipped.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context;

use super::SetBuilder;
use crate::data::faceset::{FaceSet, Format, ImageSource, OUT_OF_RANGE};
use crate::model::PoseBins;

/// Reads a list file.
pub fn read(list: &Path, pose_bins: &PoseBins) -> anyhow::Result<FaceSet> {
    let text = std::fs::read_to_string(list).with_context(|| format!("reading {}", list.display()))?;
    let folder = list.parent().unwrap_or(Path::new("."));
    let mut set = SetBuilder::default();
    let mut seen = HashSet::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let row = format!("line {}", number + 1);
        let fields: Vec<&str> = match line.split_once(';') {
            Some((path, identity)) => vec![path.trim(), identity.trim()],
            None => line.split_whitespace().collect(),
        };
        let (path, identity, pose) = match fields[..] {
            [path, identity] => (path, identity, None),
            [path, identity, pose] => (path, identity, Some(pose)),
            [path] => (path, "", None),
            _ => {
                set.skipped.add("unreadable row", row);
                continue;
            }
        };
        if identity.is_empty() {
            set.skipped.add("missing identity", path.to_owned());
            continue;
        }
        let bin = match pose.map(str::parse::<usize>) {
            None => None,
            Some(Ok(bin)) if bin < pose_bins.len() => Some(bin),
            Some(Ok(_)) => {
                set.skipped.add(OUT_OF_RANGE, path.to_owned());
                continue;
            }
            Some(Err(_)) => {
                set.skipped.add("non-numeric pose", path.to_owned());
                continue;
            }
        };
        if !seen.insert(path.to_owned()) {
            set.skipped.add("duplicate path", path.to_owned());
            continue;
        }
        let yaw = bin.map(|b| pose_bins.yaws[b]);
        set.push(ImageSource::File(folder.join(path)), Some(identity), yaw, bin, None);
    }
    Ok(set.finish(Format::List, list, pose_bins))
}

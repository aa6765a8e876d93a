//! The project's own format: `manifest.csv` with the header `path,identity,yaw` (yaw in degrees,
//! paths relative to the manifest's folder).

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path};

use anyhow::{Context, bail};

use crate::data::faceset::{FaceSet, ImageSource, Sample, SkipReport};
use crate::model::PoseBins;

/// The manifest's file name inside a face-set folder.
pub const FILE_NAME: &str = "manifest.csv";

/// Reads a manifest; rows that cannot be used are skipped with a reason.
pub fn read(manifest: &Path, pose_bins: &PoseBins) -> anyhow::Result<FaceSet> {
    let folder = manifest.parent().unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(manifest)?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(path_col), Some(id_col), Some(yaw_col)) = (column("path"), column("identity"), column("yaw")) else {
        bail!("the header must name the columns path, identity and yaw (found: {})", headers.iter().collect::<Vec<_>>().join(","));
    };
    let mut skipped = SkipReport::default();
    let mut samples = Vec::new();
    let mut identity_names: Vec<String> = Vec::new();
    let mut identity_index: HashMap<String, usize> = HashMap::new();
    let mut seen_paths = HashSet::new();
    for (line, record) in reader.records().enumerate() {
        let row = format!("line {}", line + 2);
        let Ok(record) = record else {
            skipped.add("unreadable row", row);
            continue;
        };
        let field = |col: usize| record.get(col).unwrap_or("").to_owned();
        let (path, identity, yaw) = (field(path_col), field(id_col), field(yaw_col));
        if path.is_empty() {
            skipped.add("missing path", row);
            continue;
        }
        if identity.is_empty() {
            skipped.add("missing identity", path);
            continue;
        }
        let Ok(yaw) = yaw.parse::<f32>().map_err(|_| ()).and_then(|y| if y.is_finite() { Ok(y) } else { Err(()) }) else {
            skipped.add("non-numeric yaw", path);
            continue;
        };
        if escapes_folder(Path::new(&path)) {
            skipped.add("path outside the manifest's folder", path);
            continue;
        }
        if !seen_paths.insert(path.clone()) {
            skipped.add("duplicate path", path);
            continue;
        }
        let Some(bin) = pose_bins.bin_of(yaw) else {
            skipped.add("yaw outside the pose bins", path);
            continue;
        };
        let next = identity_names.len();
        let id = *identity_index.entry(identity.clone()).or_insert_with(|| {
            identity_names.push(identity);
            next
        });
        samples.push(Sample { image: ImageSource::File(folder.join(&path)), identity: id, yaw: Some(yaw), bin: Some(bin) });
    }
    Ok(FaceSet {
        origin: manifest.display().to_string(),
        samples,
        identity_names,
        pose_bins: pose_bins.clone(),
        skipped,
    })
}

/// Whether a relative path leaves its folder (absolute, or climbing with `..`).
fn escapes_folder(path: &Path) -> bool {
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

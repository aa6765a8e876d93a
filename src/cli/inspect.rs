//! `drgan-studio inspect`: what a face set holds, and everything that was left out and why.

use std::path::PathBuf;

use rayon::prelude::*;
use serde_json::json;

use crate::data::faceset::{FaceSet, SkipReport};
use crate::data::formats::{self, OpenOptions};
use crate::data::prepare::verify;
use crate::model::PoseBins;

/// Arguments of `inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// A face-set folder, a manifest (.csv), a list file (.txt, .lst) or images.npy.
    pub path: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Read a CFP set as two pose bins, frontal and profile.
    #[arg(long)]
    pub cfp_two_bins: bool,
}

/// Reads the set, decodes every image once to find the broken ones (and landmarks off their
/// image), and reports.
pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let options = OpenOptions { pose_bins: PoseBins::default(), cfp_two_bins: args.cfp_two_bins };
    let mut faces = formats::open(&args.path, &options)?;
    drop_undecodable(&mut faces);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report_json(&faces))?);
    } else {
        print!("{}", report_text(&faces));
    }
    Ok(())
}

/// Decodes every sample (in parallel) and moves those that fail into the skip report.
pub fn drop_undecodable(faces: &mut FaceSet) {
    let failures: Vec<Option<String>> = faces.samples.par_iter().map(|s| verify(&s.image).err().map(|e| e.reason())).collect();
    let mut kept = Vec::with_capacity(faces.samples.len());
    for (sample, failure) in std::mem::take(&mut faces.samples).into_iter().zip(failures) {
        match failure {
            Some(reason) => faces.skipped.add(&reason, sample.image.describe()),
            None => kept.push(sample),
        }
    }
    faces.samples = kept;
}

/// Whether `train` would take the set: labels on some images, and two identities or more (one to
/// train on, one to test).
fn trainable(faces: &FaceSet) -> bool {
    faces.trainable() && identities(faces) >= 2
}

fn identities(faces: &FaceSet) -> usize {
    let mut ids: Vec<usize> = faces.samples.iter().filter_map(|s| s.identity).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len()
}

fn skipped_json(report: &SkipReport) -> serde_json::Value {
    report
        .entries()
        .map(|(reason, count, examples)| json!({ "reason": reason, "count": count, "examples": examples }))
        .collect()
}

/// The `--json` object.
pub fn report_json(faces: &FaceSet) -> serde_json::Value {
    json!({
        "format": faces.format.name(),
        "origin": faces.origin,
        "images": faces.samples.len(),
        "identities": identities(faces),
        "pose_bins": faces.pose_bins.yaws,
        "per_bin": faces.per_bin(),
        "pose_unknown": faces.samples.iter().filter(|s| s.bin.is_none()).count(),
        "unlabelled": faces.samples.iter().filter(|s| s.identity.is_none()).count(),
        "out_of_range": faces.out_of_range(),
        "trainable": trainable(faces),
        "ignored_columns": faces.ignored_columns,
        "skipped": skipped_json(&faces.skipped),
    })
}

/// The readable report.
pub fn report_text(faces: &FaceSet) -> String {
    let mut out = format!(
        "{}\n  format: {}\n  usable images: {} of {} identities\n",
        faces.origin,
        faces.format.name(),
        faces.samples.len(),
        identities(faces)
    );
    out += "  images per pose bin:";
    for (bin, count) in faces.per_bin().iter().enumerate() {
        out += &format!(" {} {count},", faces.pose_bins.label(bin));
    }
    out.pop();
    out.push('\n');
    let unknown = faces.samples.iter().filter(|s| s.bin.is_none()).count();
    if unknown > 0 {
        out += &format!("  pose unknown: {unknown}\n");
    }
    let unlabelled = faces.samples.iter().filter(|s| s.identity.is_none()).count();
    if unlabelled > 0 {
        out += &format!("  no identity label: {unlabelled} (explore and frontalize only)\n");
    }
    if !faces.ignored_columns.is_empty() {
        out += &format!("  ignored columns: {}\n", faces.ignored_columns.join(", "));
    }
    out += &format!(
        "  trainable: {}\n",
        if trainable(faces) { "yes" } else { "no (training needs identity and pose labels, and two identities or more)" }
    );
    if faces.skipped.total() == 0 {
        out += "  nothing skipped\n";
    } else {
        out += &faces.skipped.to_string();
    }
    out
}

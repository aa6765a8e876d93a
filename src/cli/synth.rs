//! `drgan-studio synth`: writes a synthetic face set in the project's own format.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use image::{GenericImage, RgbImage};
use rayon::prelude::*;

use crate::data::formats::manifest;
use crate::model::PoseBins;
use crate::synth::{SynthSpec, identity_name};

/// Arguments of `synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Folder to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of identities.
    #[arg(long, default_value_t = 40)]
    pub identities: usize,
    /// Seed: the same seed gives the same people and pixels.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Image side in pixels.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(8..=1024))]
    pub size: u32,
    /// Lighting conditions per identity and pose.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub lights: u64,
}

/// File name of the contact sheet `synth` writes beside the manifest.
pub const PREVIEW_NAME: &str = "preview.png";

/// Identities shown in the contact sheet.
const PREVIEW_IDENTITIES: usize = 8;

/// A contact sheet: the first identities (rows) at every bin yaw (columns), first light.
fn preview_sheet(spec: &SynthSpec, bins: &PoseBins, size: u32) -> anyhow::Result<RgbImage> {
    let rows = spec.identities.min(PREVIEW_IDENTITIES);
    let mut sheet = RgbImage::new(size * bins.len() as u32, size * rows as u32);
    for person in 0..rows {
        for (column, &yaw) in bins.yaws.iter().enumerate() {
            sheet.copy_from(&spec.render(person, yaw, 0, size), size * column as u32, size * person as u32)?;
        }
    }
    Ok(sheet)
}

/// Renders every identity at the nine bin yaws under every light, writes the manifest and a
/// contact sheet.
pub fn run(args: &SynthArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let spec = SynthSpec { identities: args.identities, seed: args.seed, lights: args.lights as usize };
    spec.validate()?;
    let bins = PoseBins::default();
    let jobs: Vec<(usize, f32, usize)> = (0..spec.identities)
        .flat_map(|person| bins.yaws.iter().flat_map(move |&yaw| (0..spec.lights).map(move |light| (person, yaw, light))))
        .collect();
    for person in 0..spec.identities {
        let dir = args.out.join(identity_name(person));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let rows: Vec<(String, String, f32)> = jobs
        .par_iter()
        .map(|&(person, yaw, light)| {
            let file = format!("{}/yaw{:+03}_light{light}.png", identity_name(person), yaw as i32);
            let path = args.out.join(&file);
            spec.render(person, yaw, light, args.size)
                .save(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            Ok((file, identity_name(person), yaw))
        })
        .collect::<anyhow::Result<_>>()?;
    manifest::write(&args.out, rows.iter().map(|(f, i, y)| (f.as_str(), i.as_str(), *y)))?;
    let preview = args.out.join(PREVIEW_NAME);
    preview_sheet(&spec, &bins, args.size)?
        .save(&preview)
        .with_context(|| format!("writing {}", preview.display()))?;
    println!(
        "wrote {} images of {} identities ({}×{} px, {} light{}), manifest.csv and {PREVIEW_NAME} to {} in {:.1} s",
        rows.len(),
        spec.identities,
        args.size,
        args.size,
        spec.lights,
        if spec.lights == 1 { "" } else { "s" },
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

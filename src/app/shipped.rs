//! The models that ship inside the binary, so the studio shows faces turning on first launch
//! with no file to find: the generator of `assets/default-run` (trained by this project's own
//! `train` command; docs/SHIPPED-MODEL.md says how), and the multi-image generator of
//! `assets/multi-run`, trained from it (docs/MULTI-IMAGE.md), which fuses several photos of one
//! person.

use std::path::Path;

use anyhow::Context;
use burn::prelude::Device;

use crate::assets::asset_bytes;
use crate::model::rotator::Rotator;
use crate::synth::SynthSpec;
use crate::train::RunConfig;

const CONFIG: &str = include_str!("../../assets/default-run/config.json");
const STEP: u64 = 800;
const MULTI_CONFIG: &str = include_str!("../../assets/multi-run/config.json");
const MULTI_STEP: u64 = 800;
/// The built-in model's name in the window.
pub const ORIGIN: &str = "built-in model (assets/default-run)";
/// The multi-image model's name in the window.
pub const MULTI_ORIGIN: &str = "built-in multi-image model (assets/multi-run)";

/// The shipped run's configuration.
pub fn config() -> anyhow::Result<RunConfig> {
    serde_json::from_str(CONFIG).context("the shipped model's config.json does not parse")
}

/// The shipped generator, ready for inference on `device`.
pub fn rotator(device: &Device) -> anyhow::Result<Rotator> {
    let config = config()?;
    let steps_before = config.steps_before();
    Ok(Rotator::from_record(
        config.model,
        asset_bytes!("default-run/checkpoints/step-00000800/generator.bpk")?,
        STEP,
        ORIGIN.to_owned(),
        device,
    )?
    .with_steps_before(steps_before))
}

/// The shipped multi-image run's configuration.
pub fn multi_config() -> anyhow::Result<RunConfig> {
    serde_json::from_str(MULTI_CONFIG)
        .context("the shipped multi-image model's config.json does not parse")
}

/// The shipped multi-image generator, ready for inference on `device`.
pub fn multi_rotator(device: &Device) -> anyhow::Result<Rotator> {
    let config = multi_config()?;
    let steps_before = config.steps_before();
    Ok(Rotator::from_record(
        config.model,
        asset_bytes!("multi-run/checkpoints/step-00000800/generator.bpk")?,
        MULTI_STEP,
        MULTI_ORIGIN.to_owned(),
        device,
    )?
    .with_steps_before(steps_before))
}

/// Whether `path` is one of the shipped runs' folders in the source tree this binary was built
/// from (their files are the repository's).
pub fn is_shipped_run(path: &Path) -> bool {
    ["assets/default-run", "assets/multi-run"].iter().any(|shipped| {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join(shipped);
        matches!((path.canonicalize(), shipped.canonicalize()), (Ok(path), Ok(shipped)) if path == shipped)
    })
}

/// The face set the studio opens on first launch: synthetic people the shipped model never
/// saw (another seed than its training set).
pub fn default_faces() -> SynthSpec {
    SynthSpec { identities: 50, seed: 2026, lights: 1 }
}

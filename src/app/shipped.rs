//! The model that ships inside the binary: the generator of `assets/default-run` (trained by
//! this project's own `train` command; docs/SHIPPED-MODEL.md says how), so the studio shows faces turning
//! on first launch with no file to find.

use std::path::Path;

use anyhow::Context;
use burn::prelude::Device;

use crate::model::rotator::Rotator;
use crate::synth::SynthSpec;
use crate::train::RunConfig;

const CONFIG: &str = include_str!("../../assets/default-run/config.json");
const GENERATOR: &[u8] = include_bytes!("../../assets/default-run/checkpoints/step-00000800/generator.bpk");
const STEP: u64 = 800;

/// The shipped run's configuration.
pub fn config() -> anyhow::Result<RunConfig> {
    serde_json::from_str(CONFIG).context("the shipped model's config.json does not parse")
}

/// The shipped generator, ready for inference on `device`.
pub fn rotator(device: &Device) -> anyhow::Result<Rotator> {
    let config = config()?;
    let steps_before = config.steps_before();
    Ok(Rotator::from_record(config.model, GENERATOR.to_vec(), STEP, "built-in model (assets/default-run)".to_owned(), device)?.with_steps_before(steps_before))
}

/// Whether `path` is the shipped run's folder in the source tree this binary was built from
/// (its files are the repository's).
pub fn is_shipped_run(path: &Path) -> bool {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/default-run");
    matches!((path.canonicalize(), shipped.canonicalize()), (Ok(path), Ok(shipped)) if path == shipped)
}

/// The face set the studio opens on first launch: synthetic people the shipped model never
/// saw (another seed than its training set).
pub fn default_faces() -> SynthSpec {
    SynthSpec { identities: 50, seed: 2026, lights: 1 }
}

//! `drgan-studio export`: a checkpoint's G and D as one safetensors file named by the SPEC
//! table (see `model::exchange`), with the run's configuration beside it as
//! `<file stem>.config.json`; with `--golden DIR`, that file and test vectors a port checks
//! itself against (`python/check_golden.py`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::prelude::Device;
use image::RgbImage;

use crate::data::ImageSource;
use crate::data::formats::numpy::write_floats;
use crate::data::prepare::{centred_input, to_chw};
use crate::model::rotator::{Rotator, pose_code};
use crate::synth::SynthSpec;
use crate::train::RunDir;
use crate::train::run::{export_checkpoint, load_generator};

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// The checkpoint step (default: the newest).
    #[arg(long)]
    pub checkpoint: Option<u64>,
    /// The file to write (`NAME.safetensors`, new or a regular file outside any run folder);
    /// the run's configuration is written beside it as `NAME.config.json`.
    #[arg(long, required_unless_present = "golden")]
    pub out: Option<PathBuf>,
    /// Write `DIR/model.safetensors` and test vectors for a port: an input photo, the tensor
    /// the model reads from it, the noise z, pose codes, f(x) and the faces drawn (see
    /// `python/check_golden.py`).
    #[arg(long, conflicts_with = "out")]
    pub golden: Option<PathBuf>,
}

/// The seed of the golden vectors' noise.
const GOLDEN_SEED: u64 = 7;
/// The golden vectors' poses besides the bins: between two bins, where the code blends.
const BETWEEN_BINS: [f32; 2] = [-22.5, 7.5];

/// Writes the file and its configuration (and the golden vectors).
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let run = RunDir::new(&args.run);
    match (&args.out, &args.golden) {
        (Some(out), _) => println!("{}", export_checkpoint(&run, args.checkpoint, out)?),
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            println!(
                "{}",
                export_checkpoint(&run, args.checkpoint, &dir.join("model.safetensors"))?
            );
            let rotator = load_generator(&run, args.checkpoint, &Device::flex())?.value;
            golden(&rotator, dir)?;
            println!(
                "golden vectors written to {}; check a port with `python3 python/check_golden.py {}`",
                dir.display(),
                dir.display()
            );
        }
        (None, None) => anyhow::bail!(
            "name the file to write with --out, or a folder of test vectors with --golden"
        ),
    }
    Ok(())
}

/// The test vectors of `rotator` in `dir`.
fn golden(rotator: &Rotator, dir: &Path) -> anyhow::Result<()> {
    let size = rotator.image_size();
    // A face the model never saw, turned 30°, in a photo that is neither square nor the model's
    // size, so that every step of the input's preparation matters.
    let spec = SynthSpec {
        identities: 1,
        seed: 0x601D,
        lights: 1,
    };
    let rendered = spec.render(0, 30.0, 0, (size * 5 / 2) as u32);
    let photo: RgbImage =
        image::imageops::crop_imm(&rendered, 0, 0, rendered.width(), rendered.height() * 7 / 8)
            .to_image();
    let input_path = dir.join("input.png");
    photo
        .save(&input_path)
        .with_context(|| format!("writing {}", input_path.display()))?;
    let prepared = centred_input(&ImageSource::File(input_path.clone()), size)
        .map_err(|e| anyhow::anyhow!("{}: {}", input_path.display(), e.reason()))?;
    write_floats(
        &dir.join("prepared.npy"),
        &[3, size, size],
        &to_chw(&prepared),
    )?;
    let z = rotator.noise(GOLDEN_SEED);
    write_floats(&dir.join("z.npy"), &[z.len()], &z)?;
    let mut yaws = rotator.pose_bins().yaws.clone();
    yaws.extend(BETWEEN_BINS);
    let codes: Vec<Vec<f32>> = yaws
        .iter()
        .map(|&yaw| pose_code(yaw, rotator.pose_bins()))
        .collect();
    write_floats(
        &dir.join("codes.npy"),
        &[codes.len(), rotator.config.num_poses()],
        &codes.concat(),
    )?;
    let encoded = rotator.encode(&prepared)?;
    let feature = rotator.feature_of(&encoded)?;
    write_floats(&dir.join("features.npy"), &[feature.len()], &feature)?;
    let faces = rotator.draw_with(&encoded, &codes, &z)?;
    let pixels: Vec<f32> = faces
        .iter()
        .flat_map(|face| face.as_raw().iter().map(|&v| f32::from(v)))
        .collect();
    write_floats(
        &dir.join("outputs.npy"),
        &[faces.len(), size, size, 3],
        &pixels,
    )?;
    let described = serde_json::json!({
        "seed": GOLDEN_SEED,
        "yaws": yaws,
        "image_size": size,
        "files": {
            "input.png": "the photo",
            "prepared.npy": "the model's input made from it, 3×S×S in [−1, 1]",
            "z.npy": "the noise of the seed",
            "codes.npy": "the pose code of each yaw, one per row",
            "features.npy": "f(x)",
            "outputs.npy": "the faces drawn at each yaw, P×S×S×3 grey levels (as float32)",
        },
    });
    std::fs::write(
        dir.join("golden.json"),
        serde_json::to_string_pretty(&described)?,
    )
    .with_context(|| format!("writing {}", dir.display()))
}

//! `drgan-studio bench`: measures the full training step (D on real and fake, G forward and
//! backward) in images per second for each preset, on the chosen device.

use std::sync::Mutex;
use std::time::Instant;

use crate::data::formats::{self, OpenOptions};
use crate::data::loader::batch_for_step;
use crate::data::{BatchPlan, FaceSet, ImageSource, LabelledImage, SkipReport, Split};
use crate::device::{self, DeviceChoice};
use crate::model::{ModelConfig, PoseBins, Preset};
use crate::synth::SynthSpec;
use crate::train::{Balance, DataSource, RunConfig, TrainSettings, Trainer};

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Presets to measure.
    #[arg(long, value_enum, num_args = 1.., default_values_t = [Preset::Tiny, Preset::Small])]
    pub presets: Vec<Preset>,
    /// Real images per step.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Timed steps per preset (after one untimed warm-up step).
    #[arg(long, default_value_t = 5)]
    pub steps: u64,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Measure the data path instead: the loader's images per second at 96×96 on one core, and
    /// the time from opening a manifest of this many rows to the first finished training step.
    #[arg(long)]
    pub loader: Option<usize>,
}

/// Prints one line per preset: images per second through a full training step.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let chosen = device::choose(args.device)?;
    println!("device: {} — {}", chosen.name, chosen.reason);
    if let Some(rows) = args.loader {
        return loader_bench(rows, &chosen.device);
    }
    let spec = SynthSpec { identities: 12, seed: 1, lights: 1 };
    let faces = FaceSet::synthetic(spec.clone(), PoseBins::default());
    for &preset in &args.presets {
        let split = Split::by_identity(&faces.identity_names, 0.2, 0)?;
        let config = RunConfig {
            model: ModelConfig::new(preset, split.train.len()),
            training: TrainSettings {
                steps: args.steps + 1,
                batch_size: args.batch,
                learning_rate: 2e-4,
                beta1: 0.5,
                beta2: 0.999,
                seed: 0,
                checkpoint_every: u64::MAX,
                // Always one G update per step, so every step costs the same.
                balance: Balance { g_steps: 1, g_steps_when_d_strong: 1, d_strong_accuracy: 1.0 },
                flip: false,
                test_fraction: 0.2,
                device: args.device,
                cfp_two_bins: false,
                eval_every: 0,
            },
            data: DataSource::Synthetic(spec.clone()),
            split,
        };
        let mut trainer = Trainer::new(config, &faces, &chosen.device)?;
        let [encoder, decoder, discriminator] = trainer.parameter_counts();
        trainer.train_step()?;
        let started = Instant::now();
        for _ in 0..args.steps {
            trainer.train_step()?;
        }
        let secs = started.elapsed().as_secs_f64();
        let images = (args.steps as usize * args.batch) as f64;
        println!(
            "{:<6} {}×{}  batch {:>3}: {:>7.1} img/s  ({:.3} s per step, {} steps); parameters: G enc {:.2} M, G dec {:.2} M, D {:.2} M (Nd {})",
            preset.name(),
            preset.image_size(),
            preset.image_size(),
            args.batch,
            images / secs,
            secs / args.steps as f64,
            args.steps,
            encoder as f64 / 1e6,
            decoder as f64 / 1e6,
            discriminator as f64 / 1e6,
            trainer.config().model.identities
        );
    }
    Ok(())
}

/// Distinct image files behind the rows of the loader benchmark's manifest.
const DISTINCT_FILES: usize = 256;

/// The data path: decode + resize + crop throughput on one core, and time to the first step on
/// a large manifest (its rows are hard links to a few hundred rendered 128×128 PNG faces).
fn loader_bench(rows: usize, device: &burn::prelude::Device) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let spec = SynthSpec { identities: 32, seed: 3, lights: 1 };
    let bins = PoseBins::default();
    let files: Vec<std::path::PathBuf> = (0..DISTINCT_FILES)
        .map(|i| {
            let path = dir.path().join(format!("face{i}.png"));
            spec.render(i % spec.identities, bins.yaws[i % bins.len()], 0, 128).save(&path)?;
            Ok(path)
        })
        .collect::<anyhow::Result<_>>()?;
    let images: Vec<LabelledImage> = files
        .iter()
        .enumerate()
        .map(|(i, path)| LabelledImage { source: ImageSource::File(path.clone()), class: i % spec.identities, bin: i % bins.len() })
        .collect();
    let plan = BatchPlan { input_size: 96, batch_size: 64, flip: true, seed: 0, pose_bins: bins.clone() };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let skipped = Mutex::new(SkipReport::default());
    let started = Instant::now();
    let batches = 8;
    pool.install(|| (0..batches).try_for_each(|step| batch_for_step(&images, &plan, step, &skipped).map(drop)))
        .map_err(anyhow::Error::msg)?;
    let per_sec = (batches as usize * plan.batch_size) as f64 / started.elapsed().as_secs_f64();
    println!("loader: {per_sec:.0} images/s prepared for a 96×96 model (128×128 PNG → 110×110 → random 96×96 crop, flip) on one core");

    let set = dir.path().join("large");
    std::fs::create_dir(&set)?;
    let mut writer = csv::Writer::from_path(set.join(formats::manifest::FILE_NAME))?;
    writer.write_record(["path", "identity", "yaw"])?;
    for row in 0..rows {
        let name = format!("{row}.png");
        std::fs::hard_link(&files[row % DISTINCT_FILES], set.join(&name))?;
        writer.write_record([name.as_str(), &format!("person{}", row % 1000), &bins.yaws[row % bins.len()].to_string()])?;
    }
    writer.flush()?;
    let started = Instant::now();
    let faces = formats::open(&set, &OpenOptions::default())?;
    let opened = started.elapsed().as_secs_f64();
    let split = Split::by_identity(&faces.identity_names, 0.2, 0)?;
    let config = RunConfig {
        model: ModelConfig::new(Preset::Paper, split.train.len()),
        training: TrainSettings {
            steps: 1,
            batch_size: 8,
            learning_rate: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            seed: 0,
            checkpoint_every: 1,
            balance: Balance::default(),
            flip: false,
            test_fraction: 0.2,
            device: DeviceChoice::Cpu,
            cfp_two_bins: false,
            eval_every: 0,
        },
        data: DataSource::Folder(set.clone()),
        split,
    };
    let mut trainer = Trainer::new(config, &faces, device)?;
    let ready = started.elapsed().as_secs_f64();
    trainer.train_step()?;
    let first_step = started.elapsed().as_secs_f64();
    println!(
        "{rows}-row manifest: read in {opened:.2} s, trainer ready in {ready:.2} s, first paper-preset step (batch 8) done at {first_step:.2} s"
    );
    Ok(())
}

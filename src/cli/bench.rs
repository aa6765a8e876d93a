//! `drgan-studio bench`: measures the full training step (D on real and fake, G forward and
//! backward) in images per second for each preset, on the chosen device.

use std::time::Instant;

use crate::data::{FaceSet, Split};
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
}

/// Prints one line per preset: images per second through a full training step.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let chosen = device::choose(args.device)?;
    println!("device: {} — {}", chosen.name, chosen.reason);
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

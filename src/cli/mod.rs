//! The command line: one file per subcommand.

pub mod bench;
pub mod eval;
pub mod export;
pub mod gpu_cache;
pub mod import;
pub mod inspect;
pub mod judge;
pub mod recipe_file;
pub mod rotate;
pub mod synth;
pub mod train;
pub mod window;

use clap::{Parser, Subcommand};

/// DR-GAN Studio: train DR-GAN models and look at how faces turn. Without a subcommand it opens
/// the studio window.
#[derive(Debug, Parser)]
#[command(name = "drgan-studio", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Images whose header declares more pixels than this are skipped before decoding.
    #[arg(long, global = true, default_value_t = crate::data::prepare::MAX_PIXELS)]
    pub max_pixels: u64,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a synthetic face set (PNG files and manifest.csv).
    Synth(synth::SynthArgs),
    /// Train a DR-GAN, headless, into a run folder.
    #[command(args_override_self = true)]
    Train(train::TrainArgs),
    /// Report what a face set holds and what was skipped.
    Inspect(inspect::InspectArgs),
    /// Measure training speed (images per second) for each preset.
    Bench(bench::BenchArgs),
    /// Evaluate a run: identification across pose, verification, rotation fidelity, pose
    /// control and identity preservation, on identities it never trained on.
    Eval(eval::EvalArgs),
    /// Redraw face images at chosen poses with a run's generator.
    Rotate(rotate::RotateArgs),
    /// Write a checkpoint's G and D as safetensors, named by the SPEC table, for other tools.
    Export(export::ExportArgs),
    /// Make a run folder from a safetensors file written by `export`.
    Import(import::ImportArgs),
    /// Make the identity judge (a face recogniser trained apart from every model) or print
    /// its own figures.
    Judge(judge::JudgeArgs),
    /// Bring the GPU's tuning results from one machine to another with the same card, as one
    /// bundle file, so its first step does not tune again.
    GpuCache(gpu_cache::GpuCacheArgs),
    /// Open the studio window (the default without a subcommand).
    Window(window::WindowArgs),
}

//! `drgan-studio export`: a checkpoint's G and D as one safetensors file named by the SPEC
//! table (see `model::exchange`), with the run's `config.json` beside it.

use std::path::PathBuf;

use crate::train::RunDir;
use crate::train::run::export_checkpoint;

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// The checkpoint step (default: the newest).
    #[arg(long)]
    pub checkpoint: Option<u64>,
    /// The file to write (`….safetensors`); `config.json` is written into the same folder.
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes the file and its `config.json`.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    println!("{}", export_checkpoint(&RunDir::new(&args.run), args.checkpoint, &args.out)?);
    Ok(())
}

//! `drgan-studio export`: a checkpoint's G and D as one safetensors file named by the SPEC
//! table (see `model::exchange`), with the run's configuration beside it as
//! `<file stem>.config.json`.

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
    /// The file to write (`NAME.safetensors`, new or a regular file outside any run folder);
    /// the run's configuration is written beside it as `NAME.config.json`.
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes the file and its configuration.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    println!("{}", export_checkpoint(&RunDir::new(&args.run), args.checkpoint, &args.out)?);
    Ok(())
}

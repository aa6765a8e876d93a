//! `drgan-studio export`: a checkpoint's G and D as one safetensors file named by the SPEC
//! table (see `model::exchange`), with the run's `config.json` beside it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::prelude::Device;

use crate::model::exchange::write_safetensors;
use crate::train::RunDir;
use crate::train::run::load_networks;
use crate::train::run_dir::write_atomically;

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
    let (config, step, networks) = load_networks(&RunDir::new(&args.run), args.checkpoint, &Device::flex())?;
    let folder = args.out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let config_path = folder.join("config.json");
    let config_text = serde_json::to_string_pretty(&config)?;
    if let Ok(existing) = std::fs::read_to_string(&config_path) {
        anyhow::ensure!(
            existing == config_text,
            "{} already holds another run's configuration; export into another folder",
            config_path.display()
        );
    }
    write_safetensors(&networks, &config.model, step, &args.out)?;
    readable_by_others(&args.out)?;
    write_atomically(&config_path, config_text.as_bytes())?;
    println!("wrote {} (step {step}, {}) and {}", args.out.display(), config.model.summary(), config_path.display());
    Ok(())
}

/// burn-store writes its file through a private (`0600`) scratch file; weights meant for other
/// tools get a plain file's permissions.
fn readable_by_others(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).with_context(|| format!("setting the permissions of {}", path.display()))?;
    }
    Ok(())
}

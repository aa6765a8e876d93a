//! `drgan-studio import`: a run folder from a safetensors file written by `export` (or by any
//! tool that names the tensors the same way), so the studio can look at it and train it on.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::prelude::Device;

use crate::model::exchange::{Exported, Imported, RUN_KEY};
use crate::train::run::{create_from_networks, exported_config_path};
use crate::train::{RunConfig, RunDir};

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The safetensors file.
    #[arg(long)]
    pub from: PathBuf,
    /// The run's configuration (default: `<file stem>.config.json` beside the file, as `export`
    /// writes it, else `config.json` there).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The new run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// The step the run starts at (default: the step recorded in the file, else 0).
    #[arg(long)]
    pub step: Option<u64>,
}

/// Makes the run.
pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    let file = Exported::read(&args.from)?;
    let (config, config_path) = configuration(args, &file)?;
    config
        .validate()
        .with_context(|| format!("{config_path} holds a setting training cannot use"))?;
    let (recorded_step, recorded_model) = file.metadata()?;
    if let Some(model) = recorded_model {
        anyhow::ensure!(
            model == config.model,
            "{} was exported from a {} model but {} describes a {} one",
            args.from.display(),
            model.summary(),
            config_path,
            config.model.summary()
        );
    }
    let Imported { networks, notes } = file.networks(&config.model, &Device::flex())?;
    let step = args.step.or(recorded_step).unwrap_or(0);
    let run = RunDir::new(&args.run);
    create_from_networks(&run, &config, step, networks)?;
    for note in notes {
        println!("{note}");
    }
    println!("made the run {} at step {step} ({}); its optimizers start fresh", run.root().display(), config.model.summary());
    Ok(())
}

/// The run's configuration and where it came from, in this order: `--config`, the file
/// `export` wrote beside the weights, or the copy in the file's own metadata (`drgan.run`,
/// which the PyTorch reference loader keeps when it saves a model trained there).
fn configuration(args: &ImportArgs, file: &Exported) -> anyhow::Result<(RunConfig, String)> {
    let path = match &args.config {
        Some(path) => Some(path.clone()),
        None => Some(config_beside(&args.from)?).filter(|path| path.is_file()),
    };
    if let Some(path) = path {
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (name the run's configuration with --config)",
                path.display()
            )
        })?;
        let config = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a run's config.json", path.display()))?;
        return Ok((config, path.display().to_string()));
    }
    let Some(text) = file.field(RUN_KEY)? else {
        anyhow::bail!(
            "{} has no configuration beside it ({}) nor in its metadata; name the run's config.json with --config",
            args.from.display(),
            config_beside(&args.from)?.display()
        );
    };
    let config = serde_json::from_str(&text).with_context(|| {
        format!(
            "the configuration in {}'s metadata is not a run's config.json",
            args.from.display()
        )
    })?;
    Ok((config, format!("the metadata of {}", args.from.display())))
}

/// The configuration `export` wrote beside `file`: `<file stem>.config.json`, or the
/// `config.json` earlier versions wrote.
fn config_beside(file: &Path) -> anyhow::Result<PathBuf> {
    let named = exported_config_path(file)?;
    let shared = file.with_file_name("config.json");
    Ok(if named.is_file() || !shared.is_file() { named } else { shared })
}

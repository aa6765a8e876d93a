//! Evaluations made in the window, kept so that they are shown again: with the run they measure
//! (`RUN/evaluations/*.json`, written under the run's lock), or, for the built-in model and
//! for a run another process is training, in the studio's own data folder.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::eval::evaluate::EvalReport;
use crate::train::RunDir;
use crate::train::run_dir::write_atomically;

/// Seconds since 1970, the time stamp of a kept evaluation.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The folder of evaluations inside a run.
pub const RUN_FOLDER: &str = "evaluations";

/// One kept evaluation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeptEvaluation {
    /// What was evaluated on what.
    pub label: String,
    /// When it was made, in seconds since 1970.
    pub made_at: u64,
    /// Its numbers.
    pub report: EvalReport,
}

/// Where evaluations of a model are kept: its run folder (`run`), or the studio's data folder
/// (`data`, `None` when the window keeps no settings, as in tests) for the built-in model.
#[derive(Clone, Debug)]
pub struct Keeper {
    run: Option<PathBuf>,
    data: Option<PathBuf>,
}

impl Keeper {
    /// Evaluations of the model of `run` (`None`: the built-in model), with `data` the
    /// studio's data folder.
    pub fn new(run: Option<&Path>, data: Option<&Path>) -> Self {
        Self {
            run: run.map(Path::to_path_buf),
            data: data.map(Path::to_path_buf),
        }
    }

    /// The folder in the studio's data folder for this model's evaluations.
    fn data_folder(&self) -> Option<PathBuf> {
        let data = self.data.as_ref()?.join(RUN_FOLDER);
        Some(match &self.run {
            None => data.join("built-in"),
            // A run's evaluations that could not go into the run: named after its path.
            Some(run) => data.join(run.display().to_string().replace(['/', '\\', ':'], "_")),
        })
    }

    /// Every kept evaluation of this model, oldest first (unreadable files are passed over).
    pub fn read(&self) -> Vec<KeptEvaluation> {
        let folders = self
            .run
            .iter()
            .map(|run| run.join(RUN_FOLDER))
            .chain(self.data_folder());
        let mut kept: Vec<KeptEvaluation> = folders
            .flat_map(|folder| std::fs::read_dir(folder).into_iter().flatten().flatten())
            .filter(|entry| entry.path().extension().is_some_and(|e| e == "json"))
            .filter_map(|entry| serde_json::from_slice(&std::fs::read(entry.path()).ok()?).ok())
            .collect();
        kept.sort_by_key(|k| k.made_at);
        kept
    }

    /// Keeps `label`'s `report`, made at `made_at` ([`now`]): in the run folder when its lock can
    /// be taken, otherwise in the studio's data folder. Returns where it went.
    pub fn keep(&self, label: &str, report: &EvalReport, made_at: u64) -> anyhow::Result<PathBuf> {
        let kept = KeptEvaluation {
            label: label.to_owned(),
            made_at,
            report: report.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&kept)?;
        let name = format!(
            "{made_at}-{}.json",
            &crate::train::run_dir::sha256_hex(&bytes)[..8]
        );
        if let Some(run) = &self.run {
            let dir = RunDir::new(run);
            // A run folder that is gone is not made again.
            if let Some(lock) = dir.is_run().then(|| dir.lock().ok()).flatten() {
                let folder = run.join(RUN_FOLDER);
                std::fs::create_dir_all(&folder)
                    .with_context(|| format!("making {}", folder.display()))?;
                let path = folder.join(&name);
                write_atomically(&path, &bytes)?;
                drop(lock);
                return Ok(path);
            }
        }
        let folder = self.data_folder().ok_or_else(|| {
            anyhow::anyhow!(
                "this window keeps no settings, so the evaluation is kept until it closes"
            )
        })?;
        std::fs::create_dir_all(&folder).with_context(|| format!("making {}", folder.display()))?;
        let path = folder.join(&name);
        write_atomically(&path, &bytes)?;
        Ok(path)
    }
}

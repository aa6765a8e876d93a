//! The run folder, the one on-disk contract shared by the command line and the window:
//!
//! ```text
//! RUN/config.json        everything needed to rebuild the model and continue training
//! RUN/metrics.jsonl      one JSON object per step
//! RUN/samples/step-00000500.png   sample grids
//! RUN/checkpoints/step-00000500/  generator.bpk, discriminator.bpk, optim_g.bpk, optim_d.bpk, state.json
//! RUN/lock               the process id of the trainer writing the run
//! ```

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use super::recipe::Recipe;
use super::schedule::Balance;
use crate::data::Split;
use crate::device::DeviceChoice;
use crate::model::ModelConfig;
use crate::synth::SynthSpec;

/// Where the training images come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// A synthetic set made on the fly.
    Synthetic(SynthSpec),
    /// A face set on disk.
    Folder(PathBuf),
}

/// Training settings (everything `train` takes besides the model and the data).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// The step the run trains to.
    pub steps: u64,
    /// Real images per step.
    pub batch_size: usize,
    /// Adam learning rate of both optimizers.
    pub learning_rate: f64,
    /// Adam β1.
    pub beta1: f32,
    /// Adam β2.
    pub beta2: f32,
    /// Seed of weights, batches, crops, noise and pose codes.
    pub seed: u64,
    /// Steps between checkpoints (and sample grids).
    pub checkpoint_every: u64,
    /// The G/D balance.
    pub balance: Balance,
    /// Mirror training images (and their pose bins) half the time.
    pub flip: bool,
    /// Fraction of identities held out for testing.
    pub test_fraction: f32,
    /// The device asked for.
    pub device: DeviceChoice,
    /// A CFP set is read as two bins, frontal and profile.
    #[serde(default)]
    pub cfp_two_bins: bool,
    /// Steps between quick evaluations on a few held-out identities (`eval.jsonl`); 0: none.
    #[serde(default)]
    pub eval_every: u64,
    /// The losses' extra terms and the schedule (runs written before recipes existed used the
    /// paper's).
    #[serde(default)]
    pub recipe: Recipe,
}

/// `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The networks.
    pub model: ModelConfig,
    /// The training settings.
    pub training: TrainSettings,
    /// The face set.
    pub data: DataSource,
    /// Train and test identities.
    pub split: Split,
}

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Step number, from 1.
    pub step: u64,
    /// Seconds of training so far (across resumes).
    pub wall_secs: f64,
    /// D's loss.
    pub d_loss: f32,
    /// G's loss (of its last update in this step).
    pub g_loss: f32,
    /// Real faces D gives their identity.
    pub d_id_acc_real: f32,
    /// Real faces D puts in their pose bin.
    pub d_pose_acc_real: f32,
    /// Generated faces D classes as fake.
    pub d_fake_acc: f32,
    /// Generated faces D puts in the requested pose bin.
    pub g_pose_acc: f32,
    /// Generated faces D gives the source identity.
    pub g_id_acc: f32,
    /// G updates made in this step (the G/D balance at work).
    pub g_steps: usize,
    /// Mean cosine of `f(x)` and `f(G(x, c))` in G's last update (recipes with an identity term).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub g_identity_cos: Option<f32>,
    /// Mean absolute pixel difference of `G(x, c_x)` and `x` where the requested pose was the
    /// input's own (recipes with a reconstruction term).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub g_reconstruction_l1: Option<f32>,
}

/// One line of `eval.jsonl`: the quick evaluation made during training (`eval_every`) on a
/// fixed few held-out identities, without the pose classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepEval {
    /// The step evaluated.
    pub step: u64,
    /// Held-out identities used.
    pub identities: usize,
    /// Rank-1 averaged over non-frontal bins.
    pub rank1_avg: Option<f64>,
    /// The same with frontalized probes.
    pub rank1_frontalized_avg: Option<f64>,
    /// Mean SSIM of frontalization (synthetic sets only).
    pub ssim_frontal_avg: Option<f64>,
    /// Mean SSIM over every input bin × requested bin (synthetic sets only).
    #[serde(default)]
    pub ssim_mean: Option<f64>,
}

/// `state.json` inside a checkpoint: what besides the weights a resume needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainerState {
    /// Steps completed.
    pub step: u64,
    /// Seconds of training so far.
    pub wall_secs: f64,
    /// The training random generator, exactly where it stood.
    pub rng: Pcg64,
    /// D's accuracy in the last step (it decides the next step's G updates).
    pub last_d_accuracy: Option<f32>,
}

/// A run folder.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

/// File names inside a checkpoint folder.
pub mod checkpoint_files {
    /// Generator weights.
    pub const GENERATOR: &str = "generator.bpk";
    /// Discriminator weights.
    pub const DISCRIMINATOR: &str = "discriminator.bpk";
    /// G's Adam state.
    pub const OPTIM_G: &str = "optim_g.bpk";
    /// D's Adam state.
    pub const OPTIM_D: &str = "optim_d.bpk";
    /// [`super::TrainerState`].
    pub const STATE: &str = "state.json";
}

impl RunDir {
    /// The run at `root` (which may not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The run folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn config_path(&self) -> PathBuf {
        self.root.join("config.json")
    }

    fn metrics_path(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    /// Folder of the sample grids.
    pub fn samples_dir(&self) -> PathBuf {
        self.root.join("samples")
    }

    fn checkpoints_dir(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// The folder of the checkpoint at `step`.
    pub fn checkpoint_dir(&self, step: u64) -> PathBuf {
        self.checkpoints_dir().join(format!("step-{step:08}"))
    }

    /// Whether the folder already holds a run.
    pub fn has_config(&self) -> bool {
        self.config_path().is_file()
    }

    /// Creates the folders of a run.
    pub fn create(&self) -> anyhow::Result<()> {
        for dir in [self.root.clone(), self.samples_dir(), self.checkpoints_dir()] {
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(())
    }

    /// Writes `config.json` atomically.
    pub fn write_config(&self, config: &RunConfig) -> anyhow::Result<()> {
        write_atomically(&self.config_path(), serde_json::to_string_pretty(config)?.as_bytes())
    }

    /// Reads `config.json`.
    pub fn read_config(&self) -> anyhow::Result<RunConfig> {
        let path = self.config_path();
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a DR-GAN Studio run configuration", path.display()))
    }

    /// Appends one line to `metrics.jsonl`.
    pub fn append_metrics(&self, metrics: &StepMetrics) -> anyhow::Result<()> {
        append_line(&self.metrics_path(), metrics)
    }

    /// Every line of `metrics.jsonl` (lines that do not parse, such as a line cut short by a
    /// kill, are left out).
    pub fn read_metrics(&self) -> anyhow::Result<Vec<StepMetrics>> {
        read_lines(&self.metrics_path())
    }

    /// Drops the metrics and evaluations of steps after `step` (they belong to work a resume
    /// redoes).
    pub fn truncate_metrics(&self, step: u64) -> anyhow::Result<()> {
        let metrics: Vec<StepMetrics> = self.read_metrics()?.into_iter().filter(|m| m.step <= step).collect();
        write_lines(&self.metrics_path(), &metrics)?;
        let evals: Vec<StepEval> = self.read_evals()?.into_iter().filter(|e| e.step <= step).collect();
        if !evals.is_empty() || self.evals_path().exists() {
            write_lines(&self.evals_path(), &evals)?;
        }
        Ok(())
    }

    fn evals_path(&self) -> PathBuf {
        self.root.join("eval.jsonl")
    }

    /// Appends one line to `eval.jsonl`.
    pub fn append_eval(&self, eval: &StepEval) -> anyhow::Result<()> {
        append_line(&self.evals_path(), eval)
    }

    /// Every line of `eval.jsonl` (none when training ran without evaluation).
    pub fn read_evals(&self) -> anyhow::Result<Vec<StepEval>> {
        read_lines(&self.evals_path())
    }

    /// Steps of the complete checkpoints, oldest first.
    pub fn checkpoints(&self) -> Vec<u64> {
        let Ok(entries) = fs::read_dir(self.checkpoints_dir()) else {
            return Vec::new();
        };
        let mut steps: Vec<u64> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.strip_prefix("step-")?.parse().ok())
            .filter(|&step| self.checkpoint_dir(step).join(checkpoint_files::STATE).is_file())
            .collect();
        steps.sort_unstable();
        steps
    }

    /// Reads a checkpoint's `state.json`.
    pub fn read_state(&self, step: u64) -> anyhow::Result<TrainerState> {
        let path = self.checkpoint_dir(step).join(checkpoint_files::STATE);
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?)
    }

    /// Writes a checkpoint atomically: `fill` writes the files into a temporary folder, which
    /// is then renamed into place. Keeps the newest `keep` checkpoints.
    pub fn write_checkpoint(
        &self,
        step: u64,
        keep: usize,
        fill: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<PathBuf> {
        let target = self.checkpoint_dir(step);
        let temp = self.checkpoints_dir().join(format!(".step-{step:08}.partial"));
        if temp.exists() {
            fs::remove_dir_all(&temp)?;
        }
        fs::create_dir_all(&temp)?;
        fill(&temp)?;
        if target.exists() {
            fs::remove_dir_all(&target)?;
        }
        fs::rename(&temp, &target).with_context(|| format!("moving the checkpoint into {}", target.display()))?;
        let steps = self.checkpoints();
        for &old in steps.iter().take(steps.len().saturating_sub(keep)) {
            fs::remove_dir_all(self.checkpoint_dir(old)).ok();
        }
        Ok(target)
    }

    /// Claims the run for this process until the returned guard is dropped. Refuses while
    /// another live process holds it; a lock left by a killed process is taken over.
    pub fn lock(&self) -> anyhow::Result<RunLock> {
        let path = self.root.join("lock");
        if let Ok(text) = fs::read_to_string(&path)
            && let Ok(pid) = text.trim().parse::<u32>()
            && pid != std::process::id()
            && Path::new(&format!("/proc/{pid}")).exists()
        {
            bail!("{} is being trained by process {pid}; stop it first or choose another --out", self.root.display());
        }
        fs::write(&path, std::process::id().to_string()).with_context(|| format!("writing {}", path.display()))?;
        Ok(RunLock { path })
    }
}

/// Holds a run's lock; dropping it releases the run.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        fs::remove_file(&self.path).ok();
    }
}

fn append_line<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("appending to {}", path.display()))?;
    writeln!(file, "{}", serde_json::to_string(value)?)?;
    Ok(())
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let file = fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(BufReader::new(file).lines().map_while(Result::ok).filter_map(|line| serde_json::from_str(&line).ok()).collect())
}

fn write_lines<T: Serialize>(path: &Path, values: &[T]) -> anyhow::Result<()> {
    let mut text = String::new();
    for value in values {
        text.push_str(&serde_json::to_string(value)?);
        text.push('\n');
    }
    write_atomically(path, text.as_bytes())
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader never sees a
/// half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temp = path.with_extension("partial");
    {
        let mut file = fs::File::create(&temp).with_context(|| format!("writing {}", temp.display()))?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temp, path).with_context(|| format!("replacing {}", path.display()))
}

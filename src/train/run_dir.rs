//! The run folder, the one on-disk contract shared by the command line and the window:
//!
//! ```text
//! RUN/config.json        everything needed to rebuild the model and continue training
//! RUN/metrics.jsonl      one JSON object per step
//! RUN/eval.jsonl         one JSON object per quick evaluation during training (--eval-every)
//! RUN/pose-teacher.bpk   the frozen pose teacher, with --pose-teacher-weight (trained once)
//! RUN/pose-teacher.sha256 its SHA-256, written with it
//! RUN/samples/step-00000500.png   sample grids
//! RUN/checkpoints/step-00000500/  generator.bpk, discriminator.bpk, optim_g.bpk, optim_d.bpk,
//!                                 state.json, checksums.json (SHA-256 of each file)
//! RUN/lock               held (an OS file lock) by the one process writing the run; holds its PID
//! ```
//!
//! The rule: nothing in a run changes unless its lock is held. Every method that writes takes
//! the [`RunLock`] that [`RunDir::lock`] returns, so the compiler checks the rule.

use std::fs;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use super::recipe::Recipe;
use super::schedule::Balance;
use crate::data::Split;
use crate::data::faceset::{EXAMPLE_CHARS, clip};
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
    /// The multi-image DR-GAN's settings; `None` for the single-image model.
    #[serde(default)]
    pub multi: Option<MultiImage>,
}

/// How the multi-image DR-GAN trains: each batch holds groups of images of one person, G draws
/// from each image's feature and from each group's confidence-weighted fusion, and D and G
/// losses cover both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiImage {
    /// Images of one identity per group (the paper: 6).
    pub images_per_id: usize,
    /// Fraction of G's inputs degraded (blur, an occluding box or noise), so that the
    /// confidences have something to tell apart.
    pub degrade_fraction: f32,
    /// Groups per batch, the rest of the batch single photos of people drawn independently (so
    /// that a batch holds more people than its groups); absent: the whole batch is groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_per_batch: Option<usize>,
    /// Whether D's real faces are a batch of their own, drawn independently, rather than G's
    /// batch of groups (the paper's; and every run made before this setting existed).
    #[serde(default)]
    pub d_real_apart: bool,
}

impl MultiImage {
    /// The images of a batch of `batch_size` that are in groups (the batch's first rows).
    pub fn grouped_images(&self, batch_size: usize) -> usize {
        self.groups_per_batch.map_or(batch_size, |groups| groups * self.images_per_id)
    }

    /// The people a batch of `batch_size` holds: one per group, one per single photo (when
    /// every one is another person's, which the random draw makes likely on a large set).
    pub fn people_per_batch(&self, batch_size: usize) -> usize {
        let grouped = self.grouped_images(batch_size).min(batch_size);
        grouped / self.images_per_id.max(1) + (batch_size - grouped)
    }
}

impl TrainSettings {
    /// Checks every setting against what training can do with it, so that nonsense is refused
    /// before a run folder exists (a negative learning rate trains by gradient ascent; NaN
    /// stops at step 1).
    pub fn validate(&self) -> anyhow::Result<()> {
        let lr = self.learning_rate;
        anyhow::ensure!(lr.is_finite() && lr > 0.0, "the learning rate must be a finite number above 0 (got {lr})");
        for (name, beta) in [("β1 (--beta1)", self.beta1), ("β2 (--beta2)", self.beta2)] {
            anyhow::ensure!(beta.is_finite() && (0.0..1.0).contains(&beta), "Adam's {name} must be in [0, 1) (got {beta})");
        }
        anyhow::ensure!(self.batch_size >= 1, "the batch must hold at least one image");
        anyhow::ensure!(self.steps >= 1, "a run needs at least one step");
        anyhow::ensure!(self.checkpoint_every >= 1, "checkpoints are written every 1 or more steps (got {})", self.checkpoint_every);
        anyhow::ensure!(
            self.test_fraction.is_finite() && (0.0..1.0).contains(&self.test_fraction),
            "the test fraction must be in [0, 1) (got {})",
            self.test_fraction
        );
        let balance = &self.balance;
        anyhow::ensure!(
            balance.d_strong_accuracy.is_finite() && (0.0..=1.0).contains(&balance.d_strong_accuracy),
            "D's strong accuracy must be in [0, 1] (got {})",
            balance.d_strong_accuracy
        );
        anyhow::ensure!((1..=100).contains(&balance.g_steps) && (1..=100).contains(&balance.g_steps_when_d_strong), "G steps per D step must be 1 to 100");
        if let Some(multi) = &self.multi {
            anyhow::ensure!(multi.images_per_id >= 2, "a multi-image group needs at least 2 images (got {})", multi.images_per_id);
            match multi.groups_per_batch {
                None => anyhow::ensure!(
                    self.batch_size.is_multiple_of(multi.images_per_id),
                    "the batch ({}) must hold whole groups of {} images",
                    self.batch_size,
                    multi.images_per_id
                ),
                Some(groups) => {
                    let size = multi.images_per_id;
                    let fit = match self.batch_size / size {
                        0 => format!("make the batch at least {size}"),
                        1 => "1 group does".to_owned(),
                        most => format!("1 to {most} groups do"),
                    };
                    let asked = if groups == 1 { format!("1 group of {size} images does") } else { format!("{groups} groups of {size} images do") };
                    anyhow::ensure!(
                        groups >= 1 && groups.saturating_mul(size) <= self.batch_size,
                        "{asked} not fit a batch of {}: {fit}",
                        self.batch_size
                    );
                }
            }
            anyhow::ensure!(
                multi.degrade_fraction.is_finite() && (0.0..=1.0).contains(&multi.degrade_fraction),
                "the degraded fraction must be in [0, 1] (got {})",
                multi.degrade_fraction
            );
        }
        anyhow::ensure!(
            self.recipe.d_warmup < self.steps,
            "D's warm-up ({} steps) must be shorter than the run ({} steps), or G is never trained",
            self.recipe.d_warmup,
            self.steps
        );
        self.recipe.validate()
    }
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
    /// The run whose weights this one started from (`train --init-from`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_from: Option<StartedFrom>,
}

/// The weights a run started from (`train --init-from`), and the training behind them, so that
/// a model is not taken for one trained only its own steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartedFrom {
    /// The source run's folder, as it was given.
    pub run: String,
    /// The source checkpoint's step.
    pub step: u64,
    /// Training steps behind the source checkpoint: its step, and those its own run started from.
    pub steps_before: u64,
    /// Images behind the source checkpoint, counted the same way (steps × batch).
    pub images_before: u64,
    /// The source run's recipe (`studio`, `paper`, `polish` or `custom`); absent in runs
    /// started before it was recorded.
    #[serde(default)]
    pub recipe: Option<String>,
}

impl RunConfig {
    /// Checks the training settings, and the recipe against the networks, as a new run's are
    /// checked: a hand-edited or imported `config.json` is refused with the reason, not trained
    /// or evaluated into a panic.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.training.validate()?;
        super::recipe::Architecture::of(&self.model).validate(&self.training.recipe)
    }

    /// Training steps behind this run's first step (0 unless it started from another run).
    pub fn steps_before(&self) -> u64 {
        self.started_from.as_ref().map_or(0, |s| s.steps_before)
    }

    /// Images behind this run's first step (0 unless it started from another run).
    pub fn images_before(&self) -> u64 {
        self.started_from.as_ref().map_or(0, |s| s.images_before)
    }
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
    /// Generated faces the pose teacher puts in the requested bin, in G's last update
    /// (recipes with a pose teacher).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub g_teacher_pose_acc: Option<f32>,
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
    /// Fraction of outputs the independent pose classifier puts in the requested bin.
    #[serde(default)]
    pub pose_control_acc: Option<f64>,
    /// Rank-1 of the frontalized probes by the identity judge (`None` where no judge applies).
    #[serde(default)]
    pub judge_rank1_frontalized_avg: Option<f64>,
    /// The share of G's faces the identity judge calls the input's person.
    #[serde(default)]
    pub judge_identity_kept: Option<f64>,
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

    /// Keeps a copy of the recipe file a run was started with (`recipe.toml`).
    pub fn keep_recipe(&self, lock: &RunLock, text: &[u8]) -> anyhow::Result<()> {
        self.held(lock)?;
        write_atomically(&self.root.join(super::recipe_file::RUN_FILE), text)
    }

    /// The lock file ([`RunDir::lock`]).
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
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

    fn pose_teacher_path(&self) -> PathBuf {
        self.root.join("pose-teacher.bpk")
    }

    /// The SHA-256 of `pose-teacher.bpk`, written with it.
    fn pose_teacher_checksum_path(&self) -> PathBuf {
        self.root.join("pose-teacher.sha256")
    }

    /// The weights of the run's pose teacher, when it has kept one (recipes with a teacher);
    /// an error when they cannot be read or no longer match the checksum written with them (a
    /// teacher kept before checksums existed has none, and is taken as it is).
    pub fn read_pose_teacher(&self) -> Option<anyhow::Result<Vec<u8>>> {
        let path = self.pose_teacher_path();
        let bytes = match fs::read(&path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            read => read.with_context(|| format!("reading {}", path.display())),
        };
        let expected = fs::read_to_string(self.pose_teacher_checksum_path()).ok();
        Some(bytes.and_then(|bytes| match expected {
            Some(expected) if expected.trim() != sha256_hex(&bytes) => bail!(
                "{} does not match the checksum written with it: the file is damaged",
                path.display()
            ),
            _ => Ok(bytes),
        }))
    }

    /// Keeps the run's pose teacher (`pose-teacher.bpk`) and its checksum, each atomically.
    pub fn write_pose_teacher(&self, lock: &RunLock, bytes: &[u8]) -> anyhow::Result<()> {
        self.held(lock)?;
        write_atomically(&self.pose_teacher_path(), bytes)
            .context("keeping the pose teacher in the run folder")?;
        write_atomically(
            &self.pose_teacher_checksum_path(),
            sha256_hex(bytes).as_bytes(),
        )
        .context("keeping the pose teacher's checksum in the run folder")
    }

    /// Whether the folder already holds a run.
    pub fn has_config(&self) -> bool {
        self.config_path().is_file()
    }

    /// Whether a new run may start in the folder: it does not exist, or holds nothing but
    /// perhaps a lock file (left by a killed process, or this one's own).
    pub fn is_free(&self) -> bool {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return !self.root.exists();
        };
        let lock = self.lock_path();
        entries.filter_map(Result::ok).all(|entry| entry.path() == lock)
    }

    /// Whether the folder is a run's: its `config.json` and its checkpoints folder (a folder of
    /// exported files may hold a `config.json` written by an earlier `export`).
    pub fn is_run(&self) -> bool {
        self.has_config() && self.checkpoints_dir().is_dir()
    }

    /// Checks that `lock` is this run's.
    fn held(&self, lock: &RunLock) -> anyhow::Result<()> {
        anyhow::ensure!(lock.path == self.lock_path(), "{} is not locked by this process (its lock is {})", self.root.display(), lock.path.display());
        Ok(())
    }

    /// Creates the folders of a run.
    pub fn create(&self, lock: &RunLock) -> anyhow::Result<()> {
        self.held(lock)?;
        for dir in [self.root.clone(), self.samples_dir(), self.checkpoints_dir()] {
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(())
    }

    /// Writes `config.json` atomically.
    pub fn write_config(&self, lock: &RunLock, config: &RunConfig) -> anyhow::Result<()> {
        self.held(lock)?;
        write_atomically(&self.config_path(), serde_json::to_string_pretty(config)?.as_bytes())
    }

    /// Reads `config.json`.
    pub fn read_config(&self) -> anyhow::Result<RunConfig> {
        let path = self.config_path();
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let config: RunConfig = serde_json::from_str(&text).with_context(|| format!("{} is not a DR-GAN Studio run configuration", path.display()))?;
        config.validate().with_context(|| format!("{} holds a setting training cannot use", path.display()))?;
        Ok(config)
    }

    /// Appends one line to `metrics.jsonl`; a new run is kept from then on ([`RunDir::lock_new`]).
    pub fn append_metrics(&self, lock: &RunLock, metrics: &StepMetrics) -> anyhow::Result<()> {
        self.held(lock)?;
        append_line(&self.metrics_path(), metrics)?;
        lock.keep();
        Ok(())
    }

    /// Every readable line of `metrics.jsonl`, and the numbers of those that are not (a line
    /// cut short by a kill, or damaged by hand).
    pub fn read_metrics(&self) -> anyhow::Result<Lines<StepMetrics>> {
        read_lines(&self.metrics_path())
    }

    /// Drops the metrics and evaluations of steps after `step` (they belong to work a resume
    /// redoes), and lines that cannot be read.
    pub fn truncate_metrics(&self, lock: &RunLock, step: u64) -> anyhow::Result<()> {
        self.held(lock)?;
        let metrics: Vec<StepMetrics> = self.read_metrics()?.values.into_iter().filter(|m| m.step <= step).collect();
        write_lines(&self.metrics_path(), &metrics)?;
        let evals: Vec<StepEval> = self.read_evals()?.values.into_iter().filter(|e| e.step <= step).collect();
        if !evals.is_empty() || self.evals_path().exists() {
            write_lines(&self.evals_path(), &evals)?;
        }
        Ok(())
    }

    fn evals_path(&self) -> PathBuf {
        self.root.join("eval.jsonl")
    }

    /// Appends one line to `eval.jsonl`.
    pub fn append_eval(&self, lock: &RunLock, eval: &StepEval) -> anyhow::Result<()> {
        self.held(lock)?;
        append_line(&self.evals_path(), eval)
    }

    /// Every readable line of `eval.jsonl` (none when training ran without evaluation).
    pub fn read_evals(&self) -> anyhow::Result<Lines<StepEval>> {
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

    /// Reads a checkpoint's `state.json`, checks that it belongs to its folder's step, and that
    /// every file still has the checksum written with it.
    pub fn read_state(&self, step: u64) -> anyhow::Result<TrainerState> {
        let dir = self.checkpoint_dir(step);
        let path = dir.join(checkpoint_files::STATE);
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let state: TrainerState = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        anyhow::ensure!(state.step == step, "{} says step {} but its folder is that of step {step}", path.display(), state.step);
        verify_checksums(&dir)?;
        Ok(state)
    }

    /// Writes a checkpoint atomically: `fill` writes the files into a temporary folder, their
    /// checksums are added, and the folder is renamed into place; a failure removes the
    /// temporary folder. Keeps the newest `keep` checkpoints; a new run is kept from then on
    /// ([`RunDir::lock_new`]).
    pub fn write_checkpoint(
        &self,
        lock: &RunLock,
        step: u64,
        keep: usize,
        fill: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<PathBuf> {
        self.held(lock)?;
        let target = self.checkpoint_dir(step);
        let temp = self.checkpoints_dir().join(format!(".step-{step:08}.partial"));
        if temp.exists() {
            fs::remove_dir_all(&temp)?;
        }
        let written = fs::create_dir_all(&temp).map_err(anyhow::Error::from).and_then(|()| fill(&temp)).and_then(|()| write_checksums(&temp));
        if let Err(error) = written {
            fs::remove_dir_all(&temp).ok();
            return Err(error.context(format!("writing the checkpoint of step {step}")));
        }
        if target.exists() {
            fs::remove_dir_all(&target)?;
        }
        fs::rename(&temp, &target).with_context(|| format!("moving the checkpoint into {}", target.display()))?;
        lock.keep();
        let steps = self.checkpoints();
        for &old in steps.iter().take(steps.len().saturating_sub(keep)) {
            fs::remove_dir_all(self.checkpoint_dir(old)).ok();
        }
        Ok(target)
    }

    /// Claims the run for this process until the returned guard is dropped: the one rule of
    /// the run folder is that nothing in it changes unless its lock is held (every method that
    /// writes takes the guard). The claim is an exclusive advisory lock on `RUN/lock`, taken
    /// atomically by the operating system and released by it when the holder ends, however it
    /// ends; so a lock is never stale, whatever process later gets the holder's PID. The file
    /// names its holder for the message a refused claim gives.
    pub fn lock(&self) -> anyhow::Result<RunLock> {
        fs::create_dir_all(&self.root).with_context(|| format!("creating {}", self.root.display()))?;
        let path = self.lock_path();
        loop {
            let file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("opening the lock file {}", path.display()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    let holder = fs::read_to_string(&path).unwrap_or_default();
                    let holder = holder.trim();
                    let holder = if holder.is_empty() { "another process".to_owned() } else { format!("process {holder}") };
                    bail!(
                        "{} is being trained by {holder}, which holds its lock file {}; stop it first or choose another --out",
                        self.root.display(),
                        path.display()
                    );
                }
                Err(fs::TryLockError::Error(error)) => return Err(error).with_context(|| format!("locking {}", path.display())),
            }
            // The previous holder removes the file as it lets go: if that happened between our
            // open and our lock, we hold a file no one else can see, so try again.
            if same_file(&file, &path) {
                let mut file = file;
                file.set_len(0)?;
                writeln!(file, "{}", std::process::id()).with_context(|| format!("writing {}", path.display()))?;
                return Ok(RunLock { path, _file: file, new_run: None });
            }
        }
    }

    /// Claims a folder for a new run, as [`RunDir::lock`] does, after checking that it is new
    /// or empty (a lone lock file left by a killed process aside): a folder that holds a run,
    /// or anything else, is refused and left as it was. The run is then made whole or not at
    /// all: until it writes its first metrics or checkpoint, dropping the lock (a failure, a
    /// refused source, Ctrl-C before the first step) removes what was made, the folder itself
    /// when the claim made it.
    pub fn lock_new(&self) -> anyhow::Result<RunLock> {
        let made_folder = !self.root.exists();
        let mut lock = self.lock()?;
        let root = self.root.display();
        anyhow::ensure!(!self.has_config(), "{root} already holds a run; continue it with `train --resume --out {root}`, or choose another folder");
        anyhow::ensure!(self.is_free(), "{root} is not empty and holds no run (no config.json); choose a new or empty folder");
        lock.new_run = Some(NewRun { root: self.root.clone(), made_folder, kept: AtomicBool::new(false) });
        Ok(lock)
    }
}

/// Whether the open `file` is the one at `path`.
fn same_file(file: &fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// A run's lock, held from [`RunDir::lock`] until dropped: the proof every writing method of
/// [`RunDir`] asks for.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    _file: fs::File,
    /// Set by [`RunDir::lock_new`].
    new_run: Option<NewRun>,
}

/// A new run's claim: what to remove if the run never writes a step or a checkpoint.
#[derive(Debug)]
struct NewRun {
    root: PathBuf,
    /// Whether the claim made the folder (else it was there, empty).
    made_folder: bool,
    /// Whether the run has written metrics or a checkpoint, and stays.
    kept: AtomicBool,
}

impl NewRun {
    /// Removes what the run made: its folder, or everything in the folder but the lock file.
    fn undo(&self, lock: &Path) {
        if self.made_folder {
            fs::remove_dir_all(&self.root).ok();
            return;
        }
        for entry in fs::read_dir(&self.root).into_iter().flatten().filter_map(Result::ok).filter(|e| e.path().as_path() != lock) {
            let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) { fs::remove_dir_all(entry.path()) } else { fs::remove_file(entry.path()) };
            removed.ok();
        }
    }
}

impl RunLock {
    /// Keeps a new run when its lock is dropped ([`RunDir::lock_new`]).
    fn keep(&self) {
        if let Some(new_run) = &self.new_run {
            new_run.kept.store(true, Ordering::SeqCst);
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some(new_run) = self.new_run.as_ref().filter(|n| !n.kept.load(Ordering::SeqCst)) {
            new_run.undo(&self.path);
        }
        // Removed while still locked; the lock itself goes with the file handle, right after.
        fs::remove_file(&self.path).ok();
    }
}

/// The readable lines of a JSON-lines file, and the (1-based) numbers of those that are not.
#[derive(Debug)]
pub struct Lines<T> {
    /// Values of the readable lines, in order.
    pub values: Vec<T>,
    /// Numbers of lines that are not valid UTF-8 or not the expected JSON.
    pub unreadable: Vec<usize>,
}

impl<T> Lines<T> {
    /// A note for people when lines could not be read, e.g. `1 line of …/metrics.jsonl could
    /// not be read (line 11) and was left out`.
    pub fn note(&self, path: &str) -> Option<String> {
        let count = self.unreadable.len();
        (count > 0).then(|| {
            let shown: Vec<String> = self.unreadable.iter().take(5).map(usize::to_string).collect();
            let more = if count > 5 { ", …" } else { "" };
            let (lines, was) = if count == 1 { ("line", "was") } else { ("lines", "were") };
            format!("{count} {lines} of {path} could not be read ({} {}{more}) and {was} left out", lines, shown.join(", "))
        })
    }
}

fn append_line<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("appending to {}", path.display()))?;
    writeln!(file, "{}", serde_json::to_string(value)?)?;
    Ok(())
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Lines<T>> {
    let mut lines = Lines { values: Vec::new(), unreadable: Vec::new() };
    if !path.exists() {
        return Ok(lines);
    }
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match std::str::from_utf8(line).ok().and_then(|text| serde_json::from_str(text).ok()) {
            Some(value) => lines.values.push(value),
            None => lines.unreadable.push(number + 1),
        }
    }
    Ok(lines)
}

fn write_lines<T: Serialize>(path: &Path, values: &[T]) -> anyhow::Result<()> {
    let mut text = String::new();
    for value in values {
        text.push_str(&serde_json::to_string(value)?);
        text.push('\n');
    }
    write_atomically(path, text.as_bytes())
}

/// Writes `bytes` to `path` through a temporary file of its own (unique to this writer) and a
/// rename, so a reader never sees a half-written file. The file gets the permissions of any
/// file the user makes (`0666` less the umask), not the temporary file's private `0600`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut temp = builder.tempfile_in(dir).with_context(|| format!("writing next to {}", path.display()))?;
    temp.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Name of the file that holds a checkpoint's checksums.
const CHECKSUMS: &str = "checksums.json";

/// Writes the SHA-256 of every file of the checkpoint folder `dir` into its `checksums.json`.
fn write_checksums(dir: &Path) -> anyhow::Result<()> {
    let mut sums = std::collections::BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if let Some(name) = path.file_name().and_then(|n| n.to_str()).filter(|n| *n != CHECKSUMS) {
            sums.insert(name.to_owned(), sha256(&path)?);
        }
    }
    fs::write(dir.join(CHECKSUMS), serde_json::to_string_pretty(&sums)?).with_context(|| format!("writing the checksums of {}", dir.display()))
}

/// Checks the files of checkpoint folder `dir` against its `checksums.json` (checkpoints
/// written before checksums existed have none, and are taken as they are).
fn verify_checksums(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(CHECKSUMS);
    let Ok(text) = fs::read_to_string(&path) else {
        return Ok(());
    };
    let sums: std::collections::BTreeMap<String, String> = serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))?;
    for (name, expected) in &sums {
        let Some(file) = file_in(dir, name) else {
            bail!("{} names {:?}, which is not a file of its checkpoint folder: the checkpoint is damaged", path.display(), clip(name, EXAMPLE_CHARS));
        };
        let actual = sha256(&file)?;
        anyhow::ensure!(&actual == expected, "{} does not match the checksum written with it: the file is damaged", file.display());
    }
    Ok(())
}

/// `dir/name` when `name` is a plain file name (no folder, not `.` or `..`) of a regular file
/// in `dir` (not a link, a FIFO or a device, which a checkpoint never holds).
fn file_in(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut components = Path::new(name).components();
    let plain = matches!((components.next(), components.next()), (Some(Component::Normal(only)), None) if only == name);
    let file = dir.join(name);
    (plain && fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_file())).then_some(file)
}

/// The SHA-256 of `bytes`, in lowercase hex (as `checksums.json` holds them).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

fn sha256(path: &Path) -> anyhow::Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut file = fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    std::io::copy(&mut file, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_that_fails_halfway_leaves_no_folder_behind() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path().join("run"));
        let lock = run.lock().unwrap();
        run.create(&lock).unwrap();
        let failed = run.write_checkpoint(&lock, 7, 3, |folder| {
            std::fs::write(folder.join("generator.bpk"), b"half")?;
            anyhow::bail!("no space left on device")
        });
        assert!(failed.is_err());
        let left: Vec<_> = fs::read_dir(run.checkpoints_dir()).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        assert!(run.checkpoints().is_empty());
    }

    /// Found in review: a hand-edited group of 0 reached `chunks_exact(0)` in `eval`.
    #[test]
    fn a_config_json_with_a_setting_training_cannot_use_is_refused_on_reading() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        let shipped = include_str!("../../assets/default-run/config.json");
        fs::write(run.config_path(), shipped).unwrap();
        let mut config = run.read_config().expect("the shipped config reads");
        config.training.multi = Some(MultiImage { images_per_id: 0, degrade_fraction: 0.25, groups_per_batch: None, d_real_apart: true });
        fs::write(run.config_path(), serde_json::to_string(&config).unwrap()).unwrap();
        let error = format!("{:#}", run.read_config().unwrap_err());
        assert!(error.contains("holds a setting training cannot use") && error.contains("at least 2 images"), "{error}");
    }

    /// Found by a hostile tester: finite damage to the teacher went unnoticed.
    #[test]
    fn a_pose_teacher_changed_on_disk_is_caught_by_its_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path().join("run"));
        let lock = run.lock().unwrap();
        run.create(&lock).unwrap();
        assert!(run.read_pose_teacher().is_none(), "no teacher kept yet");
        run.write_pose_teacher(&lock, b"teacher weights").unwrap();
        assert_eq!(run.read_pose_teacher().unwrap().unwrap(), b"teacher weights");
        fs::write(run.pose_teacher_path(), b"teacher weighta").unwrap();
        let error = run.read_pose_teacher().unwrap().unwrap_err().to_string();
        assert!(error.contains("does not match the checksum"), "{error}");
    }

    #[test]
    fn a_second_claim_on_a_locked_run_is_refused_naming_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path().join("run"));
        let held = run.lock().unwrap();
        let error = run.lock().unwrap_err().to_string();
        assert!(error.contains("being trained by process") && error.contains("lock"), "{error}");
        drop(held);
        assert!(!run.lock_path().exists(), "the lock file goes with the lock");
        run.lock().unwrap();
    }
}

//! Starting, resuming and driving a run: what `train` on the command line and the window's
//! model thread do around the [`Trainer`].

use anyhow::{Context, bail};
use burn::prelude::Device;

use image::RgbImage;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::AdamConfig;
use burn::store::ModuleRecord;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use super::run_dir::{DataSource, RunConfig, RunDir, RunLock, StepEval, StepMetrics, TrainSettings, TrainerState, checkpoint_files, write_atomically};
use crate::eval::pose_classifier::TrainedPoseClassifier;
use super::recipe::{Architecture, RecipeName};
use super::trainer::Trainer;
use crate::data::formats::{self, OpenOptions};
use crate::data::{FaceSet, SkipReport, Split};
use crate::eval::evaluate::{EvalOptions, Instruments, evaluate, pose_judge};
use crate::eval::judge::{self, Judge};
use crate::model::exchange::{ARCHITECTURE_KEY, Networks, RUN_KEY, to_safetensors};
use crate::model::rotator::Rotator;
use crate::model::finite::check_finite;
use crate::model::{Discriminator, Generator, ModelConfig, Preset};

/// Reads (or makes) the face set a run trains on.
pub fn open_faces(source: &DataSource, options: &OpenOptions) -> anyhow::Result<FaceSet> {
    let faces = match source {
        DataSource::Synthetic(spec) => FaceSet::synthetic(spec.clone(), options.pose_bins.clone())?,
        DataSource::Folder(path) => formats::open(path, options)?,
    };
    if faces.samples.is_empty() {
        bail!("{} holds no usable images\n{}", faces.origin, faces.skipped);
    }
    Ok(faces)
}

/// The configuration of a new run of `preset` on `faces`: identities with at least one image
/// that has both labels are split into train and test by the settings' seed.
pub fn plan(preset: Preset, settings: TrainSettings, data: DataSource, faces: &FaceSet) -> anyhow::Result<RunConfig> {
    if !(0.0..1.0).contains(&settings.test_fraction) {
        bail!("the test fraction must be in [0, 1)");
    }
    if !faces.trainable() {
        bail!(
            "{} ({} format) has no images with both an identity and a pose label: it can be inspected and explored, not trained on",
            faces.origin,
            faces.format.name()
        );
    }
    // Identities with at least one trainable image, in order of appearance.
    let mut labelled = vec![false; faces.identity_names.len()];
    for sample in &faces.samples {
        if let (Some(identity), Some(_)) = (sample.identity, sample.bin) {
            labelled[identity] = true;
        }
    }
    let names: Vec<String> = faces.identity_names.iter().zip(&labelled).filter(|(_, l)| **l).map(|(n, _)| n.clone()).collect();
    let split = Split::by_identity(&names, settings.test_fraction, settings.seed)?;
    let mut model = ModelConfig::new(preset, split.train.len());
    model.pose_bins = faces.pose_bins.clone();
    Ok(RunConfig { model, training: settings, data, split, started_from: None })
}

/// A trainer ready to continue, the run's lock, and what reading its face set skipped.
pub struct Opened {
    /// The run's lock, held from before anything in the run was touched.
    pub lock: RunLock,
    /// The trainer, at step 0 or at its last checkpoint.
    pub trainer: Trainer,
    /// Images left out, by reason.
    pub skipped: SkipReport,
    /// The checkpoint step resumed from, if any.
    pub resumed_from: Option<u64>,
    /// Things the person should know (a damaged checkpoint passed over).
    pub notes: Vec<String>,
}

/// Starts a new run of `config` in `run` (a new or empty folder), from fresh weights or from
/// `init_from`'s newest checkpoint that loads (every weight whose shape agrees). The run is
/// locked before anything is written, so of two processes starting the same run one wins and
/// the other changes nothing; a run that fails before its first step leaves nothing
/// ([`RunDir::lock_new`]).
pub fn start(run: &RunDir, config: RunConfig, faces: &FaceSet, device: &Device, init_from: Option<&RunDir>) -> anyhow::Result<Opened> {
    config.training.validate()?;
    let architecture = Architecture::of(&config.model);
    architecture.validate(&config.training.recipe)?;
    let lock = run.lock_new()?;
    let mut trainer = Trainer::new(config, faces, device, None)?;
    let mut notes: Vec<String> = trainer.teacher_note().map(str::to_owned).into_iter().collect();
    match init_from {
        Some(source) => notes.push(trainer.init_from(source)?),
        None if RecipeName::of(&trainer.config().training.recipe, architecture).is_some_and(RecipeName::continues_a_model) => notes.push(
            "note: the polish recipe is meant to continue a trained model, and this run starts from fresh weights; from scratch its pose teacher cost the picture in the ablation (docs/ABLATION.md, row 10)".to_owned(),
        ),
        None => {}
    }
    run.create(&lock)?;
    run.write_config(&lock, trainer.config())?;
    trainer.save_pose_teacher(run, &lock)?;
    Ok(Opened { lock, trainer, skipped: faces.skipped.clone(), resumed_from: None, notes })
}

/// Continues the run in `run` from its newest checkpoint (or from the start when it has none),
/// training to `steps` in all. Metrics written after that checkpoint are dropped: the resumed
/// run writes them again, the same.
pub fn resume(run: &RunDir, steps: Option<u64>, device: &Device) -> anyhow::Result<Opened> {
    if !run.has_config() {
        bail!("{} holds no run (no config.json); --resume needs a run folder written by `train`", run.root().display());
    }
    let lock = run.lock()?;
    let mut config = run.read_config().context("--resume needs a run folder written by `train`")?;
    if let Some(steps) = steps {
        config.training.steps = steps;
    }
    config.training.validate()?;
    let options = OpenOptions { pose_bins: config.model.pose_bins.clone(), cfp_two_bins: config.training.cfp_two_bins };
    let faces = open_faces(&config.data, &options)?;
    // The newest checkpoint that loads; a damaged one (a kill during a disk failure, say) is
    // passed over for the one before it, never for a fresh start.
    let checkpoints = run.checkpoints();
    let mut failures = Vec::new();
    // The pose teacher the run kept; once trained here, the next try reuses it.
    let mut teacher = run.read_pose_teacher();
    for &step in checkpoints.iter().rev() {
        let trainer = Trainer::new(config.clone(), &faces, device, teacher.take())?;
        teacher = trainer.pose_teacher_bytes()?.map(Ok);
        match trainer.load_checkpoint(run, step) {
            Ok(trainer) => {
                let mut notes: Vec<String> = unreadable_notes(run)?;
                run.truncate_metrics(&lock, step)?;
                run.write_config(&lock, &config)?;
                trainer.save_pose_teacher(run, &lock)?;
                notes.extend(failures.iter().map(|e: &anyhow::Error| format!("passed over: {e:#}")));
                if Trainer::lacks_optimizer_state(&run.checkpoint_dir(step)) {
                    notes.push(format!("checkpoint {step} holds no optimizer state (the built-in models ship without it): Adam starts fresh"));
                }
                notes.extend(trainer.teacher_note().map(str::to_owned));
                return Ok(Opened { lock, trainer, skipped: faces.skipped, resumed_from: Some(step), notes });
            }
            Err(error) => failures.push(error),
        }
    }
    if let Some(newest) = failures.into_iter().next() {
        return Err(newest.context(format!("no checkpoint of {} could be loaded", run.root().display())));
    }
    let trainer = Trainer::new(config.clone(), &faces, device, teacher)?;
    let mut notes = unreadable_notes(run)?;
    notes.extend(trainer.teacher_note().map(str::to_owned));
    run.truncate_metrics(&lock, 0)?;
    run.write_config(&lock, &config)?;
    trainer.save_pose_teacher(run, &lock)?;
    Ok(Opened { lock, trainer, skipped: faces.skipped, resumed_from: None, notes })
}

/// What a resume leaves out of the run's metrics and evaluations because it cannot read them.
fn unreadable_notes(run: &RunDir) -> anyhow::Result<Vec<String>> {
    let metrics = run.read_metrics()?.note("metrics.jsonl");
    let evals = run.read_evals()?.note("eval.jsonl");
    Ok(metrics.into_iter().chain(evals).collect())
}

/// How [`train_to_end`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It reached the configured step count.
    Finished,
    /// `stop` asked it to end early; the step it reached has a checkpoint.
    Stopped(u64),
}

/// Trains until the configured step count, appending metrics, and writing a checkpoint and a
/// sample grid every `checkpoint_every` steps and at the end, and a quick evaluation every
/// `eval_every` steps. `on_step` sees every step, `on_eval` every evaluation. When `stop`
/// says so (Ctrl-C, say), the step in progress finishes, a checkpoint is written and it ends.
pub fn train_to_end(
    trainer: &mut Trainer,
    run: &RunDir,
    lock: &RunLock,
    stop: impl Fn() -> bool,
    mut on_step: impl FnMut(&StepMetrics),
    mut on_eval: impl FnMut(&StepEval),
) -> anyhow::Result<Ended> {
    let total = trainer.config().training.steps;
    let every = trainer.config().training.checkpoint_every;
    let mut quick = QuickEval::default();
    let mut record = |metrics: StepMetrics| -> anyhow::Result<()> {
        run.append_metrics(lock, &metrics)?;
        on_step(&metrics);
        Ok(())
    };
    while trainer.step_count() < total {
        if stop() {
            if let Some(metrics) = trainer.flush()? {
                record(metrics)?;
            }
            if trainer.step_count() > 0 && !run.checkpoints().contains(&trainer.step_count()) {
                save_progress(trainer, run, lock)?;
            }
            return Ok(Ended::Stopped(trainer.step_count()));
        }
        if let Some(metrics) = trainer.train_step()? {
            record(metrics)?;
        }
        let step = trainer.step_count();
        if step.is_multiple_of(every) || step == total {
            if let Some(metrics) = trainer.flush()? {
                record(metrics)?;
            }
            save_progress(trainer, run, lock)?;
        }
        if let Some(eval) = quick.if_due(trainer, run, lock)? {
            on_eval(&eval);
        }
    }
    Ok(Ended::Finished)
}

/// Held-out identities of the quick evaluation during training.
const QUICK_EVAL_IDENTITIES: usize = 10;

/// The evaluations during a run (`eval_every`), with the instruments they share: the
/// independent pose classifier, trained once, at the first of them, on the run's training
/// identities, and the identity judge for the run's face set, read once. Neither takes part in
/// training: they only measure the generator between steps.
#[derive(Default)]
pub struct QuickEval {
    pose: Option<TrainedPoseClassifier>,
    /// The identity judge, once looked for (`Some(None)`: none applies to the face set).
    judge: Option<Option<Judge>>,
}

impl QuickEval {
    /// When the run's `eval_every` says so at this step: evaluates the current generator on the
    /// first few test identities and appends the result to `eval.jsonl`.
    pub fn if_due(&mut self, trainer: &Trainer, run: &RunDir, lock: &RunLock) -> anyhow::Result<Option<StepEval>> {
        let config = trainer.config();
        let every = config.training.eval_every;
        if every == 0 || !trainer.step_count().is_multiple_of(every) {
            return Ok(None);
        }
        let options = OpenOptions { pose_bins: config.model.pose_bins.clone(), cfp_two_bins: config.training.cfp_two_bins };
        let faces = open_faces(&config.data, &options)?;
        let only: HashSet<String> = config.split.test.iter().take(QUICK_EVAL_IDENTITIES).cloned().collect();
        let rotator = trainer.rotator();
        if self.pose.is_none() {
            self.pose = Some(pose_judge(
                config,
                rotator.image_size(),
                &EvalOptions::default(),
                &Device::flex(),
                &mut |_| Ok(()),
            )?);
        }
        if self.judge.is_none() {
            // A judge that cannot be read leaves its figures out; the run goes on.
            let read = judge::for_data(Some(run.root()), &config.data, &Device::flex());
            if let Err(error) = &read {
                eprintln!(
                    "note: the evaluations during this run have no identity judge figures: {error:#}"
                );
            }
            self.judge = Some(read.ok().flatten());
        }
        let quick = EvalOptions {
            classifier_images: 0,
            ..EvalOptions::default()
        };
        let instruments = Instruments {
            pose: self.pose.as_ref(),
            judge: self.judge.as_ref().and_then(Option::as_ref),
        };
        let report = evaluate(
            &rotator,
            config,
            &faces,
            Some(&only),
            &quick,
            instruments,
            &Device::flex(),
            &mut |_, _| {},
        )?
        .report;
        let eval = StepEval {
            step: trainer.step_count(),
            identities: report.identities,
            rank1_avg: report.rank1_avg,
            rank1_frontalized_avg: report.rank1_frontalized_avg,
            ssim_frontal_avg: report.ssim_frontal_avg,
            ssim_mean: report.ssim_mean,
            pose_control_acc: report.pose_control_acc,
            judge_rank1_frontalized_avg: report.judge_rank1_frontalized_avg,
            judge_identity_kept: report.judge_identity_kept,
        };
        run.append_eval(lock, &eval)?;
        Ok(Some(eval))
    }
}

/// Writes a checkpoint and the sample grid of the current step, and returns the grid (none
/// when none of the test images decodes; the loader's skip report says why).
pub fn save_progress(trainer: &mut Trainer, run: &RunDir, lock: &RunLock) -> anyhow::Result<Option<RgbImage>> {
    trainer.save_checkpoint(run, lock)?;
    let grid = trainer.sample_grid()?;
    if let Some(grid) = &grid {
        let path = run.samples_dir().join(format!("step-{:08}.png", trainer.step_count()));
        grid.save(&path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(grid)
}

/// What a reader took from a checkpoint that passed every check, with the run's configuration.
pub struct Loaded<T> {
    /// The run's configuration.
    pub config: RunConfig,
    /// The checkpoint's step.
    pub step: u64,
    /// What was read.
    pub value: T,
    /// Newer checkpoints passed over, each with the reason (`passed over: …`).
    pub passed_over: Vec<String>,
}

/// Reads checkpoint `step` of `run` with `read`, once its `state.json` belongs to its folder and
/// every file matches its checksum. Without a step: the newest checkpoint that reads, a damaged
/// one passed over for the one before it as a resume does. The one loader of every reader
/// (`rotate`, `eval`, `export`, `--init-from`, the window).
fn load_checked<T>(run: &RunDir, step: Option<u64>, mut read: impl FnMut(&RunConfig, u64) -> anyhow::Result<T>) -> anyhow::Result<Loaded<T>> {
    let config = run.read_config().with_context(|| format!("{} is not a run folder (no readable config.json)", run.root().display()))?;
    let steps: Vec<u64> = match step {
        Some(step) => vec![step],
        None => run.checkpoints().into_iter().rev().collect(),
    };
    anyhow::ensure!(!steps.is_empty(), "{} has no checkpoint yet", run.root().display());
    let mut failures: Vec<anyhow::Error> = Vec::new();
    for &step in &steps {
        match run.read_state(step).and_then(|_| read(&config, step)) {
            Ok(value) => {
                let passed_over = failures.iter().map(|e| format!("passed over: {e:#}")).collect();
                return Ok(Loaded { config, step, value, passed_over });
            }
            Err(error) => failures.push(error),
        }
    }
    let newest = failures.into_iter().next().context("no checkpoint was tried")?;
    Err(if steps.len() > 1 { newest.context(format!("no checkpoint of {} could be loaded", run.root().display())) } else { newest })
}

/// The generator of checkpoint `step` of `run` (its newest that loads when `None`), checked
/// as [`load_checked`] says, ready for inference.
pub fn load_generator(run: &RunDir, step: Option<u64>, device: &Device) -> anyhow::Result<Loaded<Rotator>> {
    load_checked(run, step, |config, step| {
        let path = run.checkpoint_dir(step).join(checkpoint_files::GENERATOR);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let origin = format!("{} step {step}", run.root().display());
        Ok(Rotator::from_record(config.model.clone(), bytes, step, origin, device)?.with_steps_before(config.steps_before()))
    })
}

/// G and D of checkpoint `step` of `run` (its newest that loads when `None`), checked as
/// [`load_checked`] says, their weights all numbers.
pub fn load_networks(run: &RunDir, step: Option<u64>, device: &Device) -> anyhow::Result<Loaded<Networks>> {
    load_checked(run, step, |config, step| {
        let dir = run.checkpoint_dir(step);
        let unreadable = |what: &str, e: burn::store::RecordError| {
            anyhow::anyhow!("the {what} of {} does not fit a {} model ({e})", dir.display(), config.model.summary())
        };
        let record = |name: &str, what: &str| ModuleRecord::load(dir.join(name)).map_err(|e| unreadable(what, e));
        let generator = Generator::new(&config.model, device).try_load_record(record(checkpoint_files::GENERATOR, "generator")?).map_err(|e| unreadable("generator", e))?;
        let discriminator = Discriminator::new(&config.model, device)
            .try_load_record(record(checkpoint_files::DISCRIMINATOR, "discriminator")?)
            .map_err(|e| unreadable("discriminator", e))?;
        check_finite(&generator, &format!("generator of {}", dir.display()))?;
        check_finite(&discriminator, &format!("discriminator of {}", dir.display()))?;
        Ok(Networks { generator, discriminator })
    })
}

/// Makes `run` (a new or empty folder) a run of `config` whose one checkpoint, at `step`, holds
/// `networks`; its optimizers start fresh, so training it on continues from these weights. The
/// run is made whole or not at all: a failure (a full disk) leaves nothing.
pub fn create_from_networks(run: &RunDir, config: &RunConfig, step: u64, networks: Networks) -> anyhow::Result<()> {
    let lock = run.lock_new()?;
    run.create(&lock)?;
    run.write_config(&lock, config)?;
    let state = TrainerState { step, wall_secs: 0.0, rng: Pcg64::seed_from_u64(config.training.seed), last_d_accuracy: None };
    let adam = AdamConfig::new();
    run.write_checkpoint(&lock, step, 1, |dir| {
        let saved = |what: &str| format!("saving the {what} into {}", dir.display());
        networks.generator.into_record().save(dir.join(checkpoint_files::GENERATOR)).map_err(anyhow::Error::msg).with_context(|| saved("generator"))?;
        networks.discriminator.into_record().save(dir.join(checkpoint_files::DISCRIMINATOR)).map_err(anyhow::Error::msg).with_context(|| saved("discriminator"))?;
        for name in [checkpoint_files::OPTIM_G, checkpoint_files::OPTIM_D] {
            adam.init().save(dir.join(name)).map_err(anyhow::Error::msg).with_context(|| saved("optimizer"))?;
        }
        std::fs::write(dir.join(checkpoint_files::STATE), serde_json::to_string_pretty(&state)?)?;
        Ok(())
    })?;
    Ok(())
}

/// Writes checkpoint `step` of `run` (its newest that loads when `None`) as a safetensors file
/// at `out` (`model::exchange`), with the run's configuration beside it as
/// `<file stem>.config.json` ([`exported_config_path`]). `out` must be a new or regular file
/// outside any run folder, and a configuration already there that describes another run is
/// never overwritten. Returns what was written, for people.
pub fn export_checkpoint(run: &RunDir, step: Option<u64>, out: &Path) -> anyhow::Result<String> {
    let config_path = exported_config_path(out)?;
    for path in [out, config_path.as_path()] {
        check_export_target(path)?;
    }
    let Loaded { config, step, value: networks, passed_over } = load_networks(run, step, &Device::flex())?;
    let folder = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let config_text = serde_json::to_string_pretty(&config)?;
    if let Ok(existing) = std::fs::read_to_string(&config_path) {
        anyhow::ensure!(existing == config_text, "{} already holds another run's configuration; export into another folder or under another name", config_path.display());
    }
    let described = [
        (
            ARCHITECTURE_KEY,
            crate::model::architecture::describe(&config.model, config.training.recipe.d_head)
                .to_string(),
        ),
        (RUN_KEY, serde_json::to_string(&config)?),
    ];
    write_atomically(
        out,
        &to_safetensors(&networks, &config.model, step, &described)?,
    )?;
    write_atomically(&config_path, config_text.as_bytes())?;
    let written = format!("wrote {} (step {step}, {}) and {}", out.display(), config.model.summary(), config_path.display());
    Ok(passed_over.into_iter().chain([written]).collect::<Vec<_>>().join("\n"))
}

/// Where `export` writes the configuration of the file `out`: `<file stem>.config.json` beside
/// it, so that files exported into one folder each keep their own (`import` looks there first).
pub fn exported_config_path(out: &Path) -> anyhow::Result<PathBuf> {
    let stem = out.file_stem().with_context(|| format!("{} names no file; name the .safetensors file to write", out.display()))?;
    let mut name = stem.to_os_string();
    name.push(".config.json");
    Ok(out.with_file_name(name))
}

/// Refuses an export target that is not a new or regular file (a folder, a device, a FIFO, a
/// link), or that lies inside a run folder, whose own files an export must never replace.
fn check_export_target(path: &Path) -> anyhow::Result<()> {
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        anyhow::ensure!(metadata.is_file(), "{} exists and is not a regular file; export to a new file", path.display());
    }
    // The folders that exist above it, links and `..` resolved.
    let existing = path.ancestors().skip(1).map(|a| if a.as_os_str().is_empty() { Path::new(".") } else { a }).find_map(|a| a.canonicalize().ok());
    if let Some(run) = existing.iter().flat_map(|folder| folder.ancestors()).find(|folder| RunDir::new(folder).is_run()) {
        bail!("{} is inside the run folder {}; export outside any run", path.display(), run.display());
    }
    Ok(())
}

//! The D/G step loop: two Adam optimizers, pose codes drawn uniformly, the G/D balance, and
//! checkpoints that let a killed run continue exactly where it stood.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::run_dir::{RunConfig, RunDir, RunLock, StartedFrom, StepMetrics, TrainerState, checkpoint_files};
use super::augment::augment;
use super::pose_teacher::{self, PoseTeacher, teacher_loss};
use super::recipe::{Architecture, DAugment, Recipe};
use super::run::{Loaded, load_networks};
use super::samples;
use super::schedule::Balance;
use std::sync::Arc;

use crate::data::{Batch, BatchLoader, BatchPlan, FaceSet, LabelledImage, SkipReport};
use crate::model::codes::{labels, pose_one_hot, uniform_noise};
use crate::model::loss::{DTargets, DiscriminatorLoss, GeneratorLoss, classification_loss, cosine_distance, discriminator_loss, edge_l1, generator_loss};
use crate::model::finite::check_finite;
use crate::model::transfer::load_matching;
use crate::model::rotator::Rotator;
use crate::model::exchange::Networks;
use crate::model::{Discriminator, Generator, Judgement, fuse};

/// How many checkpoints a run keeps.
pub const KEPT_CHECKPOINTS: usize = 3;

/// A run in progress: the models, their optimizers and everything that makes the next step
/// reproducible.
pub struct Trainer {
    config: RunConfig,
    device: Device,
    generator: Generator,
    discriminator: Discriminator,
    optim_g: ModuleOptimizer,
    optim_d: ModuleOptimizer,
    rng: Pcg64,
    step: u64,
    wall_secs: f64,
    last_d_accuracy: Option<f32>,
    /// The newest checkpoint written or loaded, if any.
    last_checkpoint: Option<u64>,
    /// Whether a step's numbers are read after the next step is queued (on a GPU).
    pipelined: bool,
    /// The numbers of the last step queued, not read yet.
    pending: Option<Pending>,
    train_images: Arc<Vec<LabelledImage>>,
    test_images: Vec<LabelledImage>,
    loader: Option<BatchLoader>,
    /// The frozen pose teacher of G's second pose term (recipes with one).
    teacher: Option<PoseTeacher>,
    /// What training the teacher measured, for the run's notes.
    teacher_note: Option<String>,
}

/// A step's numbers still on the device (D's and G's losses and accuracies, then the
/// identity and reconstruction terms when the recipe has them).
struct Pending {
    numbers: Tensor<1>,
    step: u64,
    g_steps: usize,
    identity: bool,
    reconstructed: bool,
    taught: bool,
}

/// One batch redrawn by G.
struct Generated {
    /// The requested pose bin of each image.
    requested: Vec<usize>,
    /// Whether each image was requested at its own pose (never for fused images).
    own_pose: Vec<bool>,
    /// The identity class each image should show.
    sources: Vec<usize>,
    /// The features drawn from: `f(x)` of each input, then (multi-image) each group's fusion.
    features: Tensor<2>,
    /// `G(f, c, z)`: one per input, then one per group.
    images: Tensor<4>,
    /// How many of them are drawn from single inputs (the rest from fused features).
    singles: usize,
}

/// What one G update measured, on the device.
struct GUpdate {
    /// The adversarial term and what D read in G's faces.
    adversarial: GeneratorLoss,
    /// `1 − cos(f(x), f(G(x)))`, when the recipe has the identity term.
    identity_distance: Option<Tensor<1>>,
    /// The L1 of faces redrawn at their own pose, when the recipe has that term.
    reconstruction: Option<Tensor<1>>,
    /// The pose teacher's hits, when it is on.
    taught: Option<Tensor<1>>,
}

/// A step whose losses were not finite: training stops there.
#[derive(Debug, thiserror::Error)]
#[error("the losses became non-finite at step {step} (d_loss {d_loss}, g_loss {g_loss}); the run stopped there — {kept}; try a lower learning rate")]
pub struct Diverged {
    /// What of the run is kept: its last good checkpoint, or none yet.
    pub kept: String,
    /// The step that diverged.
    pub step: u64,
    /// D's loss at that step.
    pub d_loss: f32,
    /// G's loss at that step.
    pub g_loss: f32,
}

impl Trainer {
    /// A fresh run of `config` on `faces`, with new weights seeded from the config's seed.
    /// Nothing is decoded yet: a background loader starts with the first step. A recipe with a
    /// pose teacher reads `saved_teacher` (the run's `pose-teacher.bpk`, see
    /// [`Trainer::save_pose_teacher`]) when given and it loads, and trains the teacher otherwise
    /// (saying why, when the kept one was damaged).
    pub fn new(config: RunConfig, faces: &FaceSet, device: &Device, saved_teacher: Option<anyhow::Result<Vec<u8>>>) -> anyhow::Result<Self> {
        let device = device.clone().autodiff();
        let pipelined = device.clone().without_autodiff() != Device::flex();
        device.seed(config.training.seed);
        let generator = Generator::new(&config.model, &device);
        let discriminator = Discriminator::new(&config.model, &device);
        let adam = AdamConfig::new()
            .with_beta_1(config.training.beta1)
            .with_beta_2(config.training.beta2)
            .with_epsilon(1e-8);
        let (train_images, test_images) = labelled_images(&config, faces)?;
        // Trained after G and D are made, so that their weights are those of a run without one.
        let teacher = (config.training.recipe.pose_teacher_weight > 0.0).then(|| teacher(&config, &train_images, &test_images, saved_teacher, &device)).transpose()?;
        let (teacher, teacher_note) = teacher.map(|t| (t.network, t.note)).unzip();
        Ok(Self {
            rng: Pcg64::seed_from_u64(config.training.seed),
            optim_g: adam.init(),
            optim_d: adam.init(),
            config,
            device,
            generator,
            discriminator,
            step: 0,
            wall_secs: 0.0,
            last_d_accuracy: None,
            last_checkpoint: None,
            pipelined,
            pending: None,
            train_images: Arc::new(train_images),
            test_images,
            loader: None,
            teacher,
            teacher_note,
        })
    }

    /// Whether the checkpoint folder `dir` holds no optimizer state at all.
    pub fn lacks_optimizer_state(dir: &Path) -> bool {
        [checkpoint_files::OPTIM_G, checkpoint_files::OPTIM_D].iter().all(|name| !dir.join(name).exists())
    }

    /// Loads the checkpoint at `step` of `run` into a trainer made by [`Trainer::new`] with the
    /// run's configuration (fresh optimizers when it holds none).
    pub fn load_checkpoint(mut self, run: &RunDir, step: u64) -> anyhow::Result<Self> {
        let dir = run.checkpoint_dir(step);
        let state = run.read_state(step)?;
        let incompatible = |what: &str, e: burn::store::RecordError| {
            anyhow::anyhow!(
                "the checkpoint {} cannot be loaded into this model ({what}: {e}); it is damaged or was made with another preset, pose bins or identity count",
                dir.display()
            )
        };
        self.generator = self
            .generator
            .try_load_record(ModuleRecord::load(dir.join(checkpoint_files::GENERATOR)).map_err(|e| incompatible("generator", e))?)
            .map_err(|e| incompatible("generator", e))?;
        self.discriminator = self
            .discriminator
            .try_load_record(ModuleRecord::load(dir.join(checkpoint_files::DISCRIMINATOR)).map_err(|e| incompatible("discriminator", e))?)
            .map_err(|e| incompatible("discriminator", e))?;
        // A checkpoint with neither optimizer file (the built-in models ship without them, to
        // keep the repository small) resumes with fresh ones; one with only one is damaged.
        if !Self::lacks_optimizer_state(&dir) {
            self.optim_g = self.optim_g.load(dir.join(checkpoint_files::OPTIM_G)).map_err(|e| incompatible("G optimizer", e))?;
            self.optim_d = self.optim_d.load(dir.join(checkpoint_files::OPTIM_D)).map_err(|e| incompatible("D optimizer", e))?;
        }
        let refused = |e: anyhow::Error| e.context(format!("the checkpoint {} cannot be used", dir.display()));
        check_finite(&self.generator, "generator").map_err(refused)?;
        check_finite(&self.discriminator, "discriminator").map_err(refused)?;
        self.rng = state.rng;
        self.step = state.step;
        self.wall_secs = state.wall_secs;
        self.last_d_accuracy = state.last_d_accuracy;
        self.last_checkpoint = Some(state.step);
        Ok(self)
    }

    /// Starts this (new) run from the newest checkpoint of `source`: every weight of G and D
    /// whose shape agrees is loaded (a single-image run starts a multi-image one; the confidence
    /// head, and D's identity head when the identity count differs, start fresh), and the
    /// configuration records where they came from (write it to the run). Returns a note saying
    /// how many were loaded.
    pub fn init_from(&mut self, source: &RunDir) -> anyhow::Result<String> {
        anyhow::ensure!(self.step == 0, "--init-from starts a new run, not one at step {}", self.step);
        let config = source.read_config().with_context(|| format!("--init-from: {} is not a run folder", source.root().display()))?;
        let (theirs, ours) = (config.model.preset, self.config.model.preset);
        anyhow::ensure!(
            theirs == ours,
            "--init-from: {} holds a {} model ({}×{}) and this run is {} ({}×{}): start from a run of the same preset",
            source.root().display(),
            theirs.name(),
            theirs.image_size(),
            theirs.image_size(),
            ours.name(),
            ours.image_size(),
            ours.image_size()
        );
        let Loaded { step, value: source_networks, passed_over, .. } = load_networks(source, None, &self.device).context("--init-from")?;
        let Networks { generator, discriminator } = source_networks;
        let (generator, g_loaded, g_total) = load_matching(self.generator.clone(), &generator);
        let (discriminator, d_loaded, d_total) = load_matching(self.discriminator.clone(), &discriminator);
        self.generator = generator;
        self.discriminator = discriminator;
        self.config.started_from = Some(StartedFrom {
            run: source.root().display().to_string(),
            step,
            steps_before: config.steps_before() + step,
            images_before: config.images_before() + step * config.training.batch_size as u64,
            recipe: Some(config.training.recipe.describe(Architecture::of(&config.model)).to_owned()),
        });
        let started = format!(
            "started from {} step {step}: {g_loaded} of {g_total} tensors of G and {d_loaded} of {d_total} of D loaded; the rest start fresh",
            source.root().display()
        );
        Ok(passed_over.into_iter().chain([started]).collect::<Vec<_>>().join("\n"))
    }

    /// What training (or reading back) the pose teacher measured, when the recipe has one.
    pub fn teacher_note(&self) -> Option<&str> {
        self.teacher_note.as_deref()
    }

    /// The pose teacher's weights, when the recipe has one ([`Trainer::new`] reads them back).
    pub fn pose_teacher_bytes(&self) -> anyhow::Result<Option<Vec<u8>>> {
        self.teacher.as_ref().map(pose_teacher::to_bytes).transpose()
    }

    /// Keeps the pose teacher in `run` (atomically), unless the run holds these weights
    /// already, so that a resume need not train it again.
    pub fn save_pose_teacher(&self, run: &RunDir, lock: &RunLock) -> anyhow::Result<()> {
        match self.pose_teacher_bytes()? {
            Some(bytes) if !matches!(run.read_pose_teacher(), Some(Ok(kept)) if kept == bytes) => run.write_pose_teacher(lock, &bytes),
            _ => Ok(()),
        }
    }

    /// Steps completed.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The run's configuration.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Parameters of G's encoder, G's decoder and D (BatchNorm running statistics included).
    pub fn parameter_counts(&self) -> [usize; 3] {
        [
            self.generator.encoder.num_params(),
            self.generator.decoder.num_params(),
            self.discriminator.num_params(),
        ]
    }

    /// Number of training images.
    pub fn train_images(&self) -> usize {
        self.train_images.len()
    }

    /// Number of test images.
    pub fn test_images(&self) -> usize {
        self.test_images.len()
    }

    /// Images the loader could not decode so far.
    pub fn skipped(&self) -> SkipReport {
        self.loader.as_ref().map(BatchLoader::skipped).unwrap_or_default()
    }

    /// The next batch, from the background loader (started on the first call, at the current
    /// step, so that a resumed run gets the batches an uninterrupted one would).
    fn next_batch(&mut self) -> anyhow::Result<Batch> {
        if self.loader.is_none() {
            let settings = &self.config.training;
            let plan = BatchPlan {
                input_size: self.config.model.image_size(),
                batch_size: settings.batch_size,
                flip: settings.flip,
                seed: settings.seed,
                pose_bins: self.config.model.pose_bins.clone(),
                group: self.group(),
                grouped: settings.multi.as_ref().map_or(0, |multi| multi.grouped_images(settings.batch_size)),
                degrade: settings.multi.as_ref().map_or(0.0, |multi| multi.degrade_fraction),
                d_real_apart: settings.multi.as_ref().is_some_and(|multi| multi.d_real_apart),
            };
            self.loader = Some(BatchLoader::spawn(self.train_images.clone(), plan, self.step)?);
        }
        self.loader.as_ref().context("the batch loader is missing")?.next_batch()
    }

    /// One training step: a D update, then one or more G updates as the balance says.
    ///
    /// On the CPU the step's numbers come back with it. On a GPU they are read only once the
    /// next step is queued, so that the device never waits for the host: this returns the
    /// previous step's metrics (none after the first step), [`Trainer::flush`] the last ones,
    /// and the G/D balance reads D's accuracy one step late.
    pub fn train_step(&mut self) -> anyhow::Result<Option<StepMetrics>> {
        let started = Instant::now();
        // On a rayon thread: the step's many parallel loops then hand work to the other
        // threads directly, instead of each putting the caller to sleep and waking it again.
        let queued = rayon::scope(|_| self.queue_step())?;
        self.wall_secs += started.elapsed().as_secs_f64();
        let ready = if self.pipelined { self.pending.replace(queued) } else { Some(queued) };
        ready.map(|pending| self.read(pending)).transpose()
    }

    /// Whether each step's numbers are read only after the next step is queued: the default on
    /// a GPU; the CPU can be asked for it too (the tests check the bookkeeping there).
    pub fn set_pipelined(&mut self, pipelined: bool) -> anyhow::Result<()> {
        anyhow::ensure!(self.pending.is_none(), "flush the step still on the device first");
        self.pipelined = pipelined;
        Ok(())
    }

    /// The metrics of the step still on the device, if any (a checkpoint needs them first).
    pub fn flush(&mut self) -> anyhow::Result<Option<StepMetrics>> {
        self.pending.take().map(|pending| self.read(pending)).transpose()
    }

    /// Queues the work of one step on the device, and returns its numbers unread.
    fn queue_step(&mut self) -> anyhow::Result<Pending> {
        let batch = self.next_batch()?;
        let settings = &self.config.training;
        let recipe = settings.recipe.clone();
        let lr = recipe.learning_rate(settings.learning_rate, self.step, settings.steps);
        let d_lr = lr * recipe.d_lr_factor as f64;
        let noise = recipe.noise_at(self.step, settings.steps);
        let teacher_on = recipe.pose_teacher_on(self.step, settings.steps);
        let g_steps = settings.balance.g_steps_after(self.last_d_accuracy);
        let real = self.images(&batch.pixels, batch.len());
        // What G encodes: the real faces, or (multi-image) some of them degraded.
        let input = match &batch.inputs {
            Some(inputs) => self.images(inputs, batch.len()),
            None => real.clone(),
        };
        // D's real faces: G's batch, or (multi-image) a batch drawn apart from its groups.
        let d_faces = batch.d_real.as_deref().unwrap_or(&batch);
        let d_real = if batch.d_real.is_some() { self.images(&d_faces.pixels, d_faces.len()) } else { real.clone() };
        if self.step < recipe.d_warmup {
            let (identity, pose) = (labels(&d_faces.identities, &self.device), labels(&d_faces.bins, &self.device));
            return Ok(self.warmup_step(d_real, identity, pose, &recipe, d_lr, noise));
        }

        let generated = self.generate(&input, &batch.bins, &batch.identities);
        let d = self.d_update(d_faces, &d_real, &generated, &recipe, d_lr, noise);
        let mut first = Some(generated);
        let mut last = None;
        for _ in 0..g_steps {
            let generated = match first.take() {
                Some(generated) => generated,
                None => self.generate(&input, &batch.bins, &batch.identities),
            };
            last = Some(self.g_update(&real, generated, &recipe, lr, noise, teacher_on));
        }
        let g = last.context("the balance asked for no G update")?;

        let (identity, reconstructed, taught) = (g.identity_distance.is_some(), g.reconstruction.is_some(), g.taught.is_some());
        let mut numbers = vec![d.loss, g.adversarial.loss, d.id_acc_real, d.pose_acc_real, d.fake_acc, g.adversarial.pose_acc, g.adversarial.id_acc];
        numbers.extend(g.identity_distance);
        numbers.extend(g.reconstruction);
        numbers.extend(g.taught);
        self.step += 1;
        Ok(Pending { numbers: Tensor::cat(numbers, 0).detach(), step: self.step, g_steps, identity, reconstructed, taught })
    }

    /// D's update: the real `faces` (whose pixels are `real`) get their identity and pose, G's
    /// faces are fake.
    fn d_update(&mut self, faces: &Batch, real: &Tensor<4>, generated: &Generated, recipe: &Recipe, lr: f64, noise: f32) -> DiscriminatorLoss {
        let discriminator = self.discriminator.clone();
        let (real_judged, fake_judged) = self.judged_pair(&discriminator, real, generated.images.clone().detach(), recipe, noise);
        let mismatched = (self.config.model.pose_projection && recipe.pose_mismatch_weight > 0.0).then(|| {
            let num_poses = self.config.model.num_poses();
            let wrong: Vec<usize> = faces.bins.iter().map(|&bin| (bin + self.rng.random_range(1..num_poses)) % num_poses).collect();
            (labels(&wrong, &self.device), recipe.pose_mismatch_weight)
        });
        let (identity, pose) = (labels(&faces.identities, &self.device), labels(&faces.bins, &self.device));
        let targets = DTargets { identity, pose, pose_sigma: recipe.pose_label_sigma, requested: labels(&generated.requested, &self.device), mismatched };
        let d = discriminator_loss(
            real_judged,
            fake_judged,
            targets,
            self.discriminator.fake_class(),
            self.config.model.num_poses(),
            recipe.d_head,
            recipe.label_smoothing,
        );
        let grads = GradientsParams::from_grads(d.loss.backward(), &self.discriminator);
        self.discriminator = self.optim_d.step(lr, self.discriminator.clone(), grads);
        d
    }

    /// One G update: D should see the source identity at the requested pose; the recipe's
    /// identity, reconstruction, edge, perceptual and teacher terms keep the person and the
    /// pose. D's weights take no gradient here.
    fn g_update(&mut self, real: &Tensor<4>, generated: Generated, recipe: &Recipe, lr: f64, noise: f32, teacher_on: bool) -> GUpdate {
        let judge = self.discriminator.clone().no_grad();
        let judged = self.judged_fakes(&judge, real, generated.images.clone(), recipe, noise);
        let sources = labels(&generated.sources, &self.device);
        let requested = labels(&generated.requested, &self.device);
        let adversarial = generator_loss(judged, sources, requested.clone(), recipe.d_head, recipe.pose_weight);
        let mut loss = adversarial.loss.clone();
        let taught = self.teacher.as_ref().filter(|_| teacher_on).map(|teacher| {
            let (term, hits) = teacher_loss(teacher, generated.images.clone(), requested, &mut self.rng);
            loss = loss.clone() + term.mul_scalar(recipe.pose_teacher_weight);
            hits
        });
        let identity_distance = (recipe.identity_weight > 0.0).then(|| {
            cosine_distance(generated.features.clone().detach(), self.generator.encode(generated.images.clone()))
        });
        if let Some(distance) = &identity_distance {
            loss = loss + distance.clone().mul_scalar(recipe.identity_weight);
        }
        // The faces redrawn at their own pose, beside the real faces they should equal: what
        // the reconstruction, edge and perceptual terms compare.
        let compares = recipe.reconstruction_weight > 0.0 || recipe.edge_weight > 0.0 || recipe.perceptual_weight > 0.0;
        let own = compares.then(|| own_pose_rows(&generated.own_pose[..generated.singles], &self.device)).flatten();
        let mut reconstruction = None;
        if let Some(rows) = own {
            let drawn = generated.images.clone().select(0, rows.clone());
            let target = real.clone().select(0, rows);
            if recipe.reconstruction_weight > 0.0 {
                let l1 = (drawn.clone() - target.clone()).abs().mean();
                loss = loss + l1.clone().mul_scalar(recipe.reconstruction_weight);
                reconstruction = Some(l1);
            }
            if recipe.edge_weight > 0.0 {
                loss = loss + edge_l1(drawn.clone(), target.clone()).mul_scalar(recipe.edge_weight);
            }
            if recipe.perceptual_weight > 0.0 {
                // One pass, so that D's BatchNorm normalises both with the same statistics.
                let maps = judge.perceptual_features(Tensor::cat(vec![drawn, target], 0)).chunk(2, 0);
                loss = loss + (maps[0].clone() - maps[1].clone()).abs().mean().mul_scalar(recipe.perceptual_weight);
            }
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.generator);
        self.generator = self.optim_g.step(lr, self.generator.clone(), grads);
        GUpdate { adversarial, identity_distance, reconstruction, taught }
    }

    /// A warm-up step: D learns the real faces' identities and poses; G is not updated.
    fn warmup_step(&mut self, real: Tensor<4>, identity: Tensor<1, Int>, pose: Tensor<1, Int>, recipe: &Recipe, lr: f64, noise: f32) -> Pending {
        let seen = self.as_d_sees(real, recipe, noise);
        let d = classification_loss(self.discriminator.forward(seen), identity, pose, recipe.pose_label_sigma, recipe.d_head);
        let grads = GradientsParams::from_grads(d.loss.backward(), &self.discriminator);
        self.discriminator = self.optim_d.step(lr, self.discriminator.clone(), grads);
        let nothing = || Tensor::<1>::zeros([1], &self.device);
        let numbers = vec![d.loss, nothing(), d.id_acc_real, d.pose_acc_real, d.fake_acc, nothing(), nothing()];
        self.step += 1;
        Pending { numbers: Tensor::cat(numbers, 0).detach(), step: self.step, g_steps: 0, identity: false, reconstructed: false, taught: false }
    }

    /// Reads a step's numbers back (waiting for the device) and makes its metrics.
    fn read(&mut self, pending: Pending) -> anyhow::Result<StepMetrics> {
        let started = Instant::now();
        let Pending { numbers, step, g_steps, identity, reconstructed, taught } = pending;
        let values: Vec<f32> = numbers.into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("reading the step's numbers back: {e:?}"))?;
        let [d_loss, g_loss, d_id_acc_real, d_pose_acc_real, d_fake_acc, g_pose_acc, g_id_acc, ref extra @ ..] = values[..] else {
            bail!("expected at least 7 numbers from the step, got {}", values.len());
        };
        let mut extra = extra.iter().copied();
        let g_identity_cos = identity.then(|| extra.next()).flatten().map(|distance| 1.0 - distance);
        let g_reconstruction_l1 = reconstructed.then(|| extra.next()).flatten();
        let g_teacher_pose_acc = taught.then(|| extra.next()).flatten();
        if !d_loss.is_finite() || !g_loss.is_finite() {
            let kept = match self.last_checkpoint {
                Some(step) => format!("its last good checkpoint, of step {step}, is kept"),
                None => "no checkpoint had been written yet, so --resume starts it again from step 0".to_owned(),
            };
            return Err(Diverged { kept, step, d_loss, g_loss }.into());
        }
        self.last_d_accuracy = Some(Balance::d_accuracy(d_id_acc_real, d_fake_acc));
        self.wall_secs += started.elapsed().as_secs_f64();
        Ok(StepMetrics {
            step,
            wall_secs: self.wall_secs,
            d_loss,
            g_loss,
            d_id_acc_real,
            d_pose_acc_real,
            d_fake_acc,
            g_pose_acc,
            g_id_acc,
            g_steps,
            g_identity_cos,
            g_reconstruction_l1,
            g_teacher_pose_acc,
        })
    }

    /// Redraws `input` (whose pose bins are `own`) at requested bins with fresh noise: the
    /// input's own bin for the recipe's own-pose fraction, otherwise drawn uniformly.
    fn generate(&mut self, input: &Tensor<4>, own: &[usize], identities: &[usize]) -> Generated {
        let num_poses = self.config.model.num_poses();
        let own_fraction = self.config.training.recipe.own_pose_fraction;
        let mut requested: Vec<usize> = own
            .iter()
            .map(|&bin| {
                // The paper's recipe draws nothing extra, so its random stream is unchanged.
                if own_fraction > 0.0 && self.rng.random::<f32>() < own_fraction { bin } else { self.rng.random_range(0..num_poses) }
            })
            .collect();
        let mut own_pose: Vec<bool> = requested.iter().zip(own).map(|(r, o)| r == o).collect();
        let mut sources = identities.to_vec();
        let (features, omega) = self.generator.encode_with_confidence(input.clone());
        let features = match (omega, self.group()) {
            (Some(omega), group) if group > 1 => {
                // Each group of `group` images of one person (the batch's first rows; single
                // photos may follow) also draws its fused feature.
                let grouped = self.grouped_rows(own.len());
                let fused = if grouped < own.len() {
                    fuse(features.clone().narrow(0, 0, grouped), omega.narrow(0, 0, grouped), group)
                } else {
                    fuse(features.clone(), omega, group)
                };
                for first in (0..grouped).step_by(group) {
                    requested.push(self.rng.random_range(0..num_poses));
                    own_pose.push(false);
                    sources.push(identities[first]);
                }
                Tensor::cat(vec![features, fused], 0)
            }
            _ => features,
        };
        let noise = uniform_noise(&mut self.rng, requested.len(), self.config.model.noise_dim, &self.device);
        let code = pose_one_hot(&requested, num_poses, &self.device);
        let images = self.generator.decoder.forward(features.clone(), code, noise);
        Generated { requested, own_pose, sources, features, images, singles: own.len() }
    }

    /// Images of one person per group in multi-image training; 1 otherwise.
    fn group(&self) -> usize {
        self.config.training.multi.as_ref().map_or(1, |multi| multi.images_per_id)
    }

    /// The rows of a batch of `rows` that are whole groups (multi-image training).
    fn grouped_rows(&self, rows: usize) -> usize {
        let group = self.group();
        let grouped = self.config.training.multi.as_ref().map_or(0, |multi| multi.grouped_images(rows)).min(rows);
        grouped - grouped % group
    }

    /// `discriminator`'s judgement of `images`, augmented as the recipe says.
    fn judged(&mut self, discriminator: &Discriminator, images: Tensor<4>, recipe: &Recipe, sigma: f32) -> Judgement {
        match recipe.d_augment {
            DAugment::Off => discriminator.forward(self.as_d_sees(images, recipe, sigma)),
            DAugment::All => {
                let augmented = augment(images, &mut self.rng);
                discriminator.forward(self.as_d_sees(augmented, recipe, sigma))
            }
            DAugment::Realness => {
                let clean = discriminator.forward(self.as_d_sees(images.clone(), recipe, sigma));
                let augmented = augment(images, &mut self.rng);
                clean.with_realness_of(discriminator.forward(self.as_d_sees(augmented, recipe, sigma)))
            }
        }
    }

    /// `discriminator`'s judgements of `real` and of G's `fakes`: in one pass when the recipe
    /// judges them as one batch (so that BatchNorm normalises them together), else in two.
    fn judged_pair(&mut self, discriminator: &Discriminator, real: &Tensor<4>, fakes: Tensor<4>, recipe: &Recipe, sigma: f32) -> (Judgement, Judgement) {
        if recipe.joint_d_batch {
            let rows = real.dims()[0];
            self.judged(discriminator, Tensor::cat(vec![real.clone(), fakes], 0), recipe, sigma).split(rows)
        } else {
            (self.judged(discriminator, real.clone(), recipe, sigma), self.judged(discriminator, fakes, recipe, sigma))
        }
    }

    /// `discriminator`'s judgement of G's `fakes`: beside `real` (the faces G drew them from)
    /// with a joint batch, alone otherwise. That is the company D's step saw them in, except
    /// with D's real faces drawn apart (multi-image), where D saw them beside its own batch.
    fn judged_fakes(&mut self, discriminator: &Discriminator, real: &Tensor<4>, fakes: Tensor<4>, recipe: &Recipe, sigma: f32) -> Judgement {
        if recipe.joint_d_batch {
            self.judged_pair(discriminator, real, fakes, recipe, sigma).1
        } else {
            self.judged(discriminator, fakes, recipe, sigma)
        }
    }

    /// `images` as D sees them: blurred by the recipe's radius, then with instance noise.
    fn as_d_sees(&mut self, images: Tensor<4>, recipe: &Recipe, sigma: f32) -> Tensor<4> {
        let blurred = binomial_blur(images, recipe.d_blur as usize);
        self.with_instance_noise(blurred, sigma)
    }

    /// `images` with Gaussian noise of standard deviation `sigma` added (drawn from the run's
    /// own random generator, so a resumed run adds the same noise).
    fn with_instance_noise(&mut self, images: Tensor<4>, sigma: f32) -> Tensor<4> {
        let Ok(normal) = rand_distr::Normal::new(0.0f32, sigma) else {
            return images;
        };
        if sigma <= 0.0 {
            return images;
        }
        let dims = images.dims();
        let values: Vec<f32> = (0..dims.iter().product::<usize>()).map(|_| self.rng.sample(normal)).collect();
        images + Tensor::from_data(TensorData::new(values, dims), &self.device)
    }

    fn images(&self, pixels: &[f32], count: usize) -> Tensor<4> {
        let size = self.config.model.image_size();
        Tensor::from_data(TensorData::new(pixels.to_vec(), [count, 3, size, size]), &self.device)
    }

    /// Writes a checkpoint of the current step into `run` (atomically).
    pub fn save_checkpoint(&mut self, run: &RunDir, lock: &RunLock) -> anyhow::Result<()> {
        anyhow::ensure!(self.pending.is_none(), "a step's metrics are still on the device; flush them before the checkpoint");
        let state = TrainerState {
            step: self.step,
            wall_secs: self.wall_secs,
            rng: self.rng.clone(),
            last_d_accuracy: self.last_d_accuracy,
        };
        run.write_checkpoint(lock, self.step, KEPT_CHECKPOINTS, |dir: &Path| {
            let saved = |what: &str| format!("saving the {what} into {}", dir.display());
            self.generator.clone().into_record().save(dir.join(checkpoint_files::GENERATOR)).map_err(anyhow::Error::msg).with_context(|| saved("generator"))?;
            self.discriminator.clone().into_record().save(dir.join(checkpoint_files::DISCRIMINATOR)).map_err(anyhow::Error::msg).with_context(|| saved("discriminator"))?;
            self.optim_g.save(dir.join(checkpoint_files::OPTIM_G)).map_err(anyhow::Error::msg).with_context(|| saved("G optimizer"))?;
            self.optim_d.save(dir.join(checkpoint_files::OPTIM_D)).map_err(anyhow::Error::msg).with_context(|| saved("D optimizer"))?;
            std::fs::write(dir.join(checkpoint_files::STATE), serde_json::to_string_pretty(&state)?)?;
            Ok(())
        })?;
        self.last_checkpoint = Some(self.step);
        Ok(())
    }

    /// The current generator, for inference.
    pub fn rotator(&self) -> Rotator {
        let origin = format!("training step {}", self.step);
        Rotator::from_generator(self.config.model.clone(), self.generator.clone(), self.step, origin, &self.device.clone().without_autodiff())
            .with_steps_before(self.config.steps_before())
    }

    /// The sample grid of the current generator: rows are test faces, columns the input and
    /// then every pose bin (`None` when no test image decodes).
    pub fn sample_grid(&self) -> anyhow::Result<Option<RgbImage>> {
        samples::grid(
            &self.generator.valid(),
            &self.test_images,
            &self.config.model,
            self.config.training.seed,
            &self.device.clone().without_autodiff(),
        )
    }
}

/// The run's pose teacher: `saved` read back when it loads, else one trained on the training
/// faces (with a note saying why a saved one was not used).
fn teacher(config: &RunConfig, train: &[LabelledImage], held_out: &[LabelledImage], saved: Option<anyhow::Result<Vec<u8>>>, device: &Device) -> anyhow::Result<pose_teacher::TrainedTeacher> {
    let (size, poses) = (config.model.image_size(), config.model.num_poses());
    let refused = match saved.map(|bytes| bytes.and_then(|bytes| pose_teacher::load(bytes, held_out, size, poses, device))) {
        Some(Ok(teacher)) => return Ok(teacher),
        Some(Err(error)) => Some(error),
        None => None,
    };
    let mut trained = pose_teacher::train(train, held_out, size, poses, config.training.seed, device)?;
    if let Some(error) = refused {
        trained.note = format!("the saved pose teacher was not used ({error:#}), so it was trained again; {}", trained.note);
    }
    Ok(trained)
}

/// The labelled images of the training identities (with their class) and of the test identities.
fn labelled_images(config: &RunConfig, faces: &FaceSet) -> anyhow::Result<(Vec<LabelledImage>, Vec<LabelledImage>)> {
    let class_in = |names: &[String]| -> Vec<Option<usize>> {
        let index: std::collections::HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        faces.identity_names.iter().map(|name| index.get(name.as_str()).copied()).collect()
    };
    let (train_class, test_class) = (class_in(&config.split.train), class_in(&config.split.test));
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for sample in &faces.samples {
        let (Some(identity), Some(bin)) = (sample.identity, sample.bin) else {
            continue;
        };
        if let Some(class) = train_class[identity] {
            train.push(LabelledImage { source: sample.image.clone(), class, bin });
        } else if let Some(class) = test_class[identity] {
            test.push(LabelledImage { source: sample.image.clone(), class, bin });
        }
    }
    if train.is_empty() {
        bail!("{} has no images with both an identity and a pose among the training identities; it can be explored but not trained on", faces.origin);
    }
    if test.is_empty() {
        bail!("{} has no images of the test identities", faces.origin);
    }
    Ok((train, test))
}

/// The rows of a batch whose requested pose is their own, as an index tensor (none: `None`).
fn own_pose_rows(own_pose: &[bool], device: &Device) -> Option<Tensor<1, Int>> {
    let rows: Vec<i64> = own_pose.iter().enumerate().filter(|(_, own)| **own).map(|(row, _)| row as i64).collect();
    let count = rows.len();
    (count > 0).then(|| Tensor::from_data(TensorData::new(rows, [count]), device))
}

/// `images` smoothed by the binomial kernel of `radius` (1: `[1 2 1]/4` along each axis; 0:
/// unchanged), each channel on its own, with zero padding so the size stays.
pub fn binomial_blur(images: Tensor<4>, radius: usize) -> Tensor<4> {
    if radius == 0 {
        return images;
    }
    let taps = (0..2 * radius).fold(vec![1.0f32], |row, _| {
        let mut next = vec![1.0f32; row.len() + 1];
        for i in 1..row.len() {
            next[i] = row[i - 1] + row[i];
        }
        next
    });
    let total: f32 = taps.iter().sum();
    let size = taps.len();
    let kernel: Vec<f32> = taps.iter().flat_map(|a| taps.iter().map(move |b| a * b / (total * total))).collect();
    let [_, channels, _, _] = images.dims();
    let weights: Vec<f32> = (0..channels).flat_map(|_| kernel.iter().copied()).collect();
    let weight = Tensor::from_data(TensorData::new(weights, [channels, 1, size, size]), &images.device());
    burn::tensor::module::conv2d(images, weight, None, burn::tensor::ops::ConvOptions::new([1, 1], [radius, radius], [1, 1], channels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::recipe::MAX_D_BLUR;

    /// Rows alternating +1 and −1 (horizontal stripes), plus `level`.
    fn stripes(size: usize, level: f32, device: &Device) -> Tensor<4> {
        let values: Vec<f32> = (0..3 * size * size).map(|i| level + if (i / size).is_multiple_of(2) { 1.0 } else { -1.0 }).collect();
        Tensor::from_data(TensorData::new(values, [1, 3, size, size]), device)
    }

    #[test]
    fn the_blur_keeps_flat_regions_and_removes_row_stripes_and_passes_gradients() {
        let device = Device::flex().autodiff();
        let size = 8;
        let flat = Tensor::<4>::full([1, 3, size, size], 0.5, &device);
        let inner = |t: Tensor<4>, r: usize| t.slice([0..1, 0..3, r..size - r, r..size - r]).into_data().try_to_vec::<f32>().unwrap();
        for radius in 1..=MAX_D_BLUR as usize {
            assert!(inner(binomial_blur(flat.clone(), radius), radius).iter().all(|v| (v - 0.5).abs() < 1e-6), "radius {radius}: a flat image stays flat");
            let striped = stripes(size, 0.25, &device).require_grad();
            let blurred = binomial_blur(striped.clone(), radius);
            // [1 2 1]/4 (and every wider binomial) has no response at the Nyquist frequency.
            assert!(inner(blurred.clone(), radius).iter().all(|v| (v - 0.25).abs() < 1e-5), "radius {radius}: stripes of period 2 vanish");
            let grads = blurred.sum().backward();
            let grad = striped.grad(&grads).expect("a gradient reaches the input").into_data().try_to_vec::<f32>().unwrap();
            let centre = grad[size * size / 2 + size / 2];
            assert!((centre - 1.0).abs() < 1e-5, "radius {radius}: an inner pixel's gradient is its kernel's sum, got {centre}");
        }
        assert_eq!(binomial_blur(flat.clone(), 0).into_data(), flat.into_data(), "radius 0 changes nothing");
    }
}

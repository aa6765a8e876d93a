//! `drgan-studio train`: headless training into a run folder, with a progress bar on a terminal
//! and plain lines elsewhere.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use burn::prelude::Device;
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::shipped;
use crate::data::formats::OpenOptions;
use crate::data::FaceSet;
use crate::device::{self, DeviceChoice};
use crate::model::{PoseBins, Preset, Upsample};
use crate::synth::SynthSpec;
use crate::train::interrupt::{self, StoppedBeforeFirstStep};
use crate::train::run::{Ended, Opened, open_faces, plan, resume, start, train_to_end};
use crate::train::{Architecture, Balance, DAugment, DHead, DataSource, MultiImage, Recipe, RecipeName, RunConfig, RunDir, StepEval, StepMetrics, TrainSettings};

/// Arguments of `train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// A recipe file: TOML, each key a flag below without its dashes (`batch = 64`); flags
    /// typed as well override it, and the run folder keeps a copy (`recipe.toml`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Face set folder (holding manifest.csv) or manifest file.
    #[arg(long, conflicts_with = "synthetic")]
    pub data: Option<PathBuf>,
    /// Train on a synthetic set of this many identities instead of --data.
    #[arg(long)]
    pub synthetic: Option<usize>,
    /// Seed of the synthetic set's people.
    #[arg(long, default_value_t = 1)]
    pub synthetic_seed: u64,
    /// Lighting conditions per identity and pose in the synthetic set.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub lights: u64,
    /// Network scale.
    #[arg(long, value_enum, default_value_t = Preset::Small)]
    pub preset: Preset,
    /// The step the run trains to [default: 1000; with --resume, the run's own, unless given].
    #[arg(long)]
    pub steps: Option<u64>,
    /// Real images per step.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub batch: u64,
    /// Run folder to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Seed of weights, batches, crops, noise and pose codes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Steps between checkpoints and sample grids.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: u64,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Adam learning rate [default: the recipe's, 2e-4 (paper, studio) or 1e-4 (polish)].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Adam β1.
    #[arg(long, default_value_t = 0.5)]
    pub beta1: f32,
    /// Adam β2.
    #[arg(long, default_value_t = 0.999)]
    pub beta2: f32,
    /// G updates per D update.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub g_steps: u64,
    /// G updates per D update while D is strong.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub g_steps_when_d_strong: u64,
    /// D is strong while its accuracy is at least this.
    #[arg(long, default_value_t = 0.9)]
    pub d_strong_accuracy: f32,
    /// Mirror training images (and their pose labels) half the time.
    #[arg(long)]
    pub flip: bool,
    /// Fraction of identities held out for testing.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f32,
    /// Read a CFP set as two pose bins, frontal and profile.
    #[arg(long)]
    pub cfp_two_bins: bool,
    /// Every this many steps, evaluate on a few held-out identities into RUN/eval.jsonl
    /// (rank-1 and frontal SSIM; 0: never).
    #[arg(long, default_value_t = 0)]
    pub eval_every: u64,
    /// The training recipe; the options below change single settings of it.
    #[arg(long, value_enum, default_value_t = RecipeName::Studio)]
    pub recipe: RecipeName,
    /// D's head: `paper` (Nd+1 classes, the last "fake") or `tpami` (Nd classes and a
    /// real/fake logit).
    #[arg(long, value_enum)]
    pub d_head: Option<DHead>,
    /// One-sided label smoothing of D's "real" target (0: off).
    #[arg(long)]
    pub label_smoothing: Option<f32>,
    /// Standard deviation of the noise added to D's inputs, falling to 0 at the last step.
    #[arg(long)]
    pub instance_noise: Option<f32>,
    /// Weight of G's pose term (D's cross-entropy of the requested pose; the paper: 1).
    #[arg(long)]
    pub pose_weight: Option<f32>,
    /// Weight of G's identity term, 1 − cos(f(x), f(G(x, c))).
    #[arg(long)]
    pub identity_weight: Option<f32>,
    /// Weight of G's reconstruction term, |G(x, c_x) − x|₁ at the input's own pose.
    #[arg(long)]
    pub reconstruction_weight: Option<f32>,
    /// Fraction of images redrawn at their own pose (the rest at uniformly drawn poses).
    #[arg(long)]
    pub own_pose_fraction: Option<f32>,
    /// Fraction of the run after which the learning rate falls linearly to 0 (1: constant).
    #[arg(long)]
    pub lr_decay_start: Option<f32>,
    /// The decoder's upsampling: `transposed` convolutions, or `resize` (nearest ×2 + conv).
    #[arg(long, value_enum)]
    pub upsample: Option<Upsample>,
    /// Whether D's pose head has a "fake" class for generated faces (true or false).
    #[arg(long)]
    pub pose_fake_class: Option<bool>,
    /// Whether D's real/fake logit depends on the requested pose through a projection (true or
    /// false; needs the tpami D head).
    #[arg(long)]
    pub pose_projection: Option<bool>,
    /// Whether the pose code also enters every upsampling layer of the decoder as constant maps
    /// (true or false).
    #[arg(long)]
    pub pose_maps: Option<bool>,
    /// Whether D also judges realness patch by patch on its early feature map (a PatchGAN
    /// critic; true or false).
    #[arg(long)]
    pub patch_critic: Option<bool>,
    /// With a pose projection: weight of D's term calling real faces at a wrong pose fake.
    #[arg(long)]
    pub pose_mismatch_weight: Option<f32>,
    /// Radius of a binomial blur on every image D sees (0: off; 1: 3×3, 2: 5×5, at most 3).
    #[arg(long)]
    pub d_blur: Option<u32>,
    /// Which of D's judgements see augmented faces (colour, shift, cutout: DiffAugment): off,
    /// all, or realness only (needs the tpami D head).
    #[arg(long, value_enum)]
    pub d_augment: Option<DAugment>,
    /// Steps at the start in which only D learns the real faces' identities and poses (no G
    /// update; they count in --steps).
    #[arg(long)]
    pub d_warmup: Option<u64>,
    /// D's learning rate as a multiple of G's (two time-scale updates; 1: the same).
    #[arg(long)]
    pub d_lr_factor: Option<f32>,
    /// Width, in bins, of the Gaussian D's pose target for a real face is spread over (0: its
    /// bin alone).
    #[arg(long)]
    pub pose_label_sigma: Option<f32>,
    /// Weight of G's edge term, |∇G(x, c_x) − ∇x|₁ at the input's own pose (0: off).
    #[arg(long)]
    pub edge_weight: Option<f32>,
    /// Weight of G's perceptual term, the L1 distance of D's early feature maps of G(x, c_x)
    /// and x at the input's own pose (0: off).
    #[arg(long)]
    pub perceptual_weight: Option<f32>,
    /// Weight of G's second pose term, from a frozen pose teacher trained on the training
    /// people's real faces before the first step (0: off).
    #[arg(long)]
    pub pose_teacher_weight: Option<f32>,
    /// Fraction of the run after which the pose teacher's term is on (0: from the first step;
    /// e.g. 0.9 does in one run what a studio run and then a polish run do).
    #[arg(long)]
    pub pose_teacher_start: Option<f32>,
    /// Whether D judges real and generated faces as one batch, sharing BatchNorm statistics
    /// (true or false; the paper: apart).
    #[arg(long)]
    pub joint_d_batch: Option<bool>,
    /// Train the multi-image DR-GAN: groups of photos of one person, fused by learned confidences.
    #[arg(long)]
    pub multi: bool,
    /// Photos of one person per group (with --multi; the batch must hold whole groups, unless
    /// --groups-per-batch is given).
    #[arg(long, default_value_t = 6, requires = "multi")]
    pub images_per_id: usize,
    /// Groups per batch (with --multi), the rest of the batch single photos of other people, so
    /// that a batch holds more people than groups [default: the whole batch in groups].
    #[arg(long, requires = "multi")]
    pub groups_per_batch: Option<usize>,
    /// Fraction of G's inputs degraded by blur, an occluding box or noise (with --multi), so that
    /// the confidences have something to learn.
    #[arg(long, default_value_t = 0.25, requires = "multi")]
    pub degrade_fraction: f32,
    /// Whether D's real faces are a batch drawn independently of G's groups (true), or G's
    /// batch of groups itself, as in the paper (false); with --multi.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, requires = "multi")]
    pub d_real_apart: bool,
    /// Start a new run from another run's newest checkpoint: every weight whose shape agrees
    /// (a single-image run starts a multi-image one; its confidence head starts fresh).
    #[arg(long, conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
}

impl TrainArgs {
    /// The recipe and architecture these arguments ask for: the named recipe with any single
    /// setting replaced.
    pub fn recipe(&self) -> anyhow::Result<(Recipe, Architecture)> {
        let mut recipe = self.recipe.recipe();
        let replace = |value: &mut f32, given: Option<f32>| {
            if let Some(given) = given {
                *value = given;
            }
        };
        if let Some(head) = self.d_head {
            recipe.d_head = head;
        }
        replace(&mut recipe.label_smoothing, self.label_smoothing);
        replace(&mut recipe.instance_noise, self.instance_noise);
        replace(&mut recipe.pose_weight, self.pose_weight);
        replace(&mut recipe.identity_weight, self.identity_weight);
        replace(&mut recipe.reconstruction_weight, self.reconstruction_weight);
        replace(&mut recipe.own_pose_fraction, self.own_pose_fraction);
        replace(&mut recipe.lr_decay_start, self.lr_decay_start);
        replace(&mut recipe.pose_mismatch_weight, self.pose_mismatch_weight);
        replace(&mut recipe.d_lr_factor, self.d_lr_factor);
        replace(&mut recipe.pose_label_sigma, self.pose_label_sigma);
        replace(&mut recipe.edge_weight, self.edge_weight);
        replace(&mut recipe.perceptual_weight, self.perceptual_weight);
        replace(&mut recipe.pose_teacher_weight, self.pose_teacher_weight);
        replace(&mut recipe.pose_teacher_start, self.pose_teacher_start);
        if let Some(radius) = self.d_blur {
            recipe.d_blur = radius;
        }
        if let Some(augment) = self.d_augment {
            recipe.d_augment = augment;
        }
        if let Some(joint) = self.joint_d_batch {
            recipe.joint_d_batch = joint;
        }
        if let Some(steps) = self.d_warmup {
            recipe.d_warmup = steps;
        }
        recipe.validate()?;
        let named = self.recipe.architecture();
        let architecture = Architecture {
            upsample: self.upsample.unwrap_or(named.upsample),
            pose_fake_class: self.pose_fake_class.unwrap_or(named.pose_fake_class),
            pose_projection: self.pose_projection.unwrap_or(named.pose_projection),
            pose_maps: self.pose_maps.unwrap_or(named.pose_maps),
            patch_critic: self.patch_critic.unwrap_or(named.patch_critic),
        };
        architecture.validate(&recipe)?;
        Ok((recipe, architecture))
    }
}

/// A run ended early by Ctrl-C or SIGTERM: after writing a checkpoint of the step it reached,
/// or before its first step, when there is nothing to keep.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Interrupted {
    /// The step reached (0: the first step was never taken).
    pub step: u64,
    /// The run folder.
    pub out: String,
}

impl Interrupted {
    fn describe(&self) -> String {
        match self.step {
            0 => "stopped by a signal before the first step, so no checkpoint was written; the same command starts the run again".to_owned(),
            step => format!("stopped at step {step} by a signal; a checkpoint of that step is written, and `train --resume --out {}` continues it", self.out),
        }
    }
}

/// When the first Ctrl-C or SIGTERM came: finish the step, write a checkpoint, stop.
static STOP: OnceLock<Instant> = OnceLock::new();

/// A repeat of the first signal within this time is the same request, not a second one: GNU
/// `timeout` sends SIGTERM to the process and then to its whole process group, so a run under
/// `timeout` receives it twice at once.
const REPEAT_WINDOW: Duration = Duration::from_secs(1);

/// The first signal asks the run to stop after its current step; a second one, later, ends the
/// process at once (the operating system releases the run's lock either way).
fn stop_on_signals() {
    let installed = ctrlc::set_handler(|| {
        let now = Instant::now();
        let first = *STOP.get_or_init(|| now);
        interrupt::request();
        if first == now {
            eprintln!("\nstopping at the end of this step (press Ctrl-C again to stop at once)");
        } else if now.duration_since(first) > REPEAT_WINDOW {
            eprintln!("\nstopping now, without a checkpoint of this step");
            std::process::exit(130);
        }
    });
    if let Err(error) = installed {
        eprintln!("note: Ctrl-C will stop training at once, without a checkpoint ({error})");
    }
}

/// The steps of a new run when `--steps` is not given.
const DEFAULT_STEPS: u64 = 1000;

/// Starts or resumes a run and trains it to `--steps`.
pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    if args.resume && shipped::is_shipped_run(&args.out) {
        bail!(
            "{} is the built-in model's run, part of the source tree, so --resume does not train it in place; \
             copy the folder and resume the copy, or start a run of your own from its weights with --init-from {}",
            args.out.display(),
            args.out.display()
        );
    }
    let chosen = device::choose(args.device)?;
    println!("device: {} — {}", chosen.name, chosen.reason);
    let run = RunDir::new(&args.out);
    stop_on_signals();
    let Opened { lock, mut trainer, skipped, resumed_from, notes } = match open(args, &run, &chosen.device) {
        Err(error) if error.downcast_ref::<StoppedBeforeFirstStep>().is_some() => {
            return Err(Interrupted { step: 0, out: run.root().display().to_string() }.into());
        }
        opened => opened?,
    };
    if let Some(file) = &args.config {
        let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        run.keep_recipe(&lock, &text)?;
        println!(
            "recipe: {} (a copy kept in {})",
            file.display(),
            run.root()
                .join(crate::train::recipe_file::RUN_FILE)
                .display()
        );
    }
    let config = trainer.config().clone();
    println!("recipe: {}", config.training.recipe.summary(Architecture::of(&config.model)));
    println!(
        "model: {}; {} training images of {} identities, {} test images of {} identities; batch {}; {}",
        config.model.summary(),
        trainer.train_images(),
        config.split.train.len(),
        trainer.test_images(),
        config.split.test.len(),
        config.training.batch_size,
        config.training.balance.describe()
    );
    if skipped.total() > 0 {
        print!("{skipped}");
    }
    for note in notes {
        println!("{note}");
    }
    if let Some(step) = resumed_from {
        println!("resuming {} from step {step}", run.root().display());
    }
    let first = trainer.step_count();
    let total = config.training.steps;
    if first >= total {
        println!("{} is already at step {first} (asked for {total}); nothing to do", run.root().display());
        return Ok(());
    }
    let mut progress = Progress::new(first, total, config.training.batch_size);
    let print_eval = |e: &StepEval| {
        let show = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"));
        println!(
            "eval at step {} on {} held-out identities: rank-1 {}, frontalized rank-1 {}, frontal SSIM {}, SSIM every pose pair {}, pose control {}",
            e.step,
            e.identities,
            show(e.rank1_avg),
            show(e.rank1_frontalized_avg),
            show(e.ssim_frontal_avg),
            show(e.ssim_mean),
            show(e.pose_control_acc)
        );
    };
    let result = train_to_end(&mut trainer, &run, &lock, interrupt::requested, |m| progress.update(m), print_eval);
    progress.finish();
    if let Ended::Stopped(step) = result? {
        drop(lock);
        return Err(Interrupted { step, out: run.root().display().to_string() }.into());
    }
    let skipped = trainer.skipped();
    if skipped.total() > 0 {
        print!("skipped while training:\n{skipped}");
    }
    println!(
        "trained to step {total} in {:.1} s ({:.1} img/s); run folder {}",
        progress.started.elapsed().as_secs_f64(),
        progress.images_per_sec(),
        run.root().display()
    );
    Ok(())
}

/// The run `args` ask for, resumed or started, ready for its next step.
fn open(args: &TrainArgs, run: &RunDir, device: &Device) -> anyhow::Result<Opened> {
    if args.resume {
        return resume(run, args.steps, device);
    }
    let data = data_source(args)?;
    let options = OpenOptions { pose_bins: PoseBins::default(), cfp_two_bins: args.cfp_two_bins };
    let faces = open_faces(&data, &options)?;
    let config = new_config(args, data, &faces)?;
    start(run, config, &faces, device, args.init_from.as_deref().map(RunDir::new).as_ref())
}

fn data_source(args: &TrainArgs) -> anyhow::Result<DataSource> {
    match (&args.data, args.synthetic) {
        (Some(path), None) => Ok(DataSource::Folder(path.clone())),
        (None, Some(identities)) => Ok(DataSource::Synthetic(SynthSpec { identities, seed: args.synthetic_seed, lights: args.lights as usize })),
        _ => bail!("say what to train on: --data DIR or --synthetic N (or --resume an existing run)"),
    }
}

fn new_config(args: &TrainArgs, data: DataSource, faces: &FaceSet) -> anyhow::Result<RunConfig> {
    let (settings, architecture) = settings(args)?;
    let mut config = plan(args.preset, settings, data, faces)?;
    architecture.apply(&mut config.model);
    config.model.confidence = args.multi;
    Ok(config)
}

/// The training settings (with the recipe) and the network choices `args` ask for.
pub fn settings(args: &TrainArgs) -> anyhow::Result<(TrainSettings, Architecture)> {
    let (recipe, architecture) = args.recipe()?;
    let settings = TrainSettings {
        steps: args.steps.unwrap_or(DEFAULT_STEPS),
        batch_size: args.batch as usize,
        learning_rate: args.lr.unwrap_or(args.recipe.learning_rate()),
        beta1: args.beta1,
        beta2: args.beta2,
        seed: args.seed,
        checkpoint_every: args.checkpoint_every,
        balance: Balance {
            g_steps: args.g_steps as usize,
            g_steps_when_d_strong: args.g_steps_when_d_strong as usize,
            d_strong_accuracy: args.d_strong_accuracy,
        },
        flip: args.flip,
        test_fraction: args.test_fraction,
        device: args.device,
        cfp_two_bins: args.cfp_two_bins,
        eval_every: args.eval_every,
        recipe,
        multi: args.multi.then_some(MultiImage {
            images_per_id: args.images_per_id,
            degrade_fraction: args.degrade_fraction,
            groups_per_batch: args.groups_per_batch,
            d_real_apart: args.d_real_apart,
        }),
    };
    Ok((settings, architecture))
}

/// A progress bar on a terminal; a plain line every few seconds elsewhere.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    first: u64,
    total: u64,
    done: u64,
    batch: usize,
}

impl Progress {
    fn new(first: u64, total: u64, batch: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total).with_position(first);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} steps, {msg}, ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        let now = Instant::now();
        Self { bar, started: now, last_line: now, first, total, done: first, batch }
    }

    fn images_per_sec(&self) -> f64 {
        let steps = (self.done - self.first) as f64;
        steps * self.batch as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    fn update(&mut self, m: &StepMetrics) {
        self.done = m.step;
        let summary = format!(
            "{:.1} img/s, d_loss {:.3}, g_loss {:.3}, D pose {:.2}, G pose {:.2}, G id {:.2}",
            self.images_per_sec(),
            m.d_loss,
            m.g_loss,
            m.d_pose_acc_real,
            m.g_pose_acc,
            m.g_id_acc
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(m.step);
                bar.set_message(summary);
            }
            None => {
                if self.last_line.elapsed() >= Duration::from_secs(5) || m.step == self.total || m.step == self.first + 1 {
                    self.last_line = Instant::now();
                    let remaining = (self.total - m.step) as f64 * self.started.elapsed().as_secs_f64() / (m.step - self.first) as f64;
                    println!("step {}/{}: {summary}, ETA {:.0} s", m.step, self.total, remaining);
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

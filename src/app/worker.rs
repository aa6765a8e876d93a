//! The model thread: it owns the burn device, the model shown in Explore and the training run.
//! The window sends [`Command`]s and reads [`Event`]s; it never waits for this thread. A slider
//! drag queues many renders, and only the newest is drawn.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use burn::prelude::Device;
use image::RgbImage;

use super::align::SHOWN_PHOTO;
use super::shipped;
use crate::device::{ChosenDevice, DeviceChoice};
use crate::eval::evaluate::{EvalOptions, Evaluation, Instruments, evaluate, held_out_identities};
use crate::eval::image_quality::ssim;
use crate::eval::judge::{self, Judge};
use crate::model::rotator::{Encoded, Rotator, cosine, one_hot, pose_code};
use crate::data::ImageSource;
use crate::data::align::{Landmarks, align, aligned_input};
use crate::data::prepare::{centred_input, decode};
use crate::train::run::{Opened, QuickEval, export_checkpoint, load_generator, resume, save_progress, start};
use crate::train::run_dir::RunLock;
use crate::train::{DataSource, RunConfig, RunDir, StepEval, StepMetrics, Trainer};

/// What the window asks of the model thread.
pub enum Command {
    /// Show the model that ships with the studio in Explore.
    LoadShipped,
    /// Show the multi-image model that ships with the studio in Explore.
    LoadShippedMulti,
    /// Show the generator of a run's checkpoint (its newest when `step` is `None`) in Explore.
    LoadRun { run: PathBuf, step: Option<u64> },
    /// Read `source` as the loaded model's input (decoded, resized and centre-cropped here, off
    /// the window's thread), or aligned by `landmarks` (its pixels at the eyes and mouth).
    Prepare { source: ImageSource, landmarks: Option<Landmarks> },
    /// Read the photo `source` whole, for the alignment view.
    LoadPhoto { source: ImageSource },
    /// Write checkpoint `step` of `run` as safetensors at `out` (`drgan-studio export`).
    Export { run: PathBuf, step: u64, out: PathBuf },
    /// Redraw `input` (already at the model's size) at `yaw` degrees with the noise of `seed`,
    /// its identity blended into a second face's when `blend` says so. When `source` is a
    /// synthetic face (and no blend moves it), its true rendering at `yaw` is drawn beside it.
    Render {
        input: Arc<RgbImage>,
        blend: Option<Blend>,
        source: Option<ImageSource>,
        yaw: f32,
        seed: u64,
        sent: Instant,
    },
    /// Redraw `input` (blended as `blend` says) at every pose bin and measure identity at each:
    /// G's own cosine, and the identity judge's similarity (to the true rendering too, when
    /// `source` is a synthetic face).
    Strip {
        input: Arc<RgbImage>,
        blend: Option<Blend>,
        source: Option<ImageSource>,
        seed: u64,
    },
    /// Read several photos of one person for the multi-image model.
    PrepareGroup { sources: Vec<ImageSource> },
    /// Fuse `inputs` (photos of one person) by the model's confidences and draw the fused face
    /// and each photo alone at `yaw`.
    Fuse { inputs: Arc<Vec<RgbImage>>, yaw: f32, seed: u64 },
    /// Start a new run in `run` with `config`, from fresh weights or from `init_from`'s newest
    /// checkpoint.
    StartTraining { run: PathBuf, config: Box<RunConfig>, init_from: Option<PathBuf> },
    /// Continue the run in `run` from its newest checkpoint, to `steps` in all, on `device`
    /// (as `train --resume --device` does; a run may move between machines).
    ResumeTraining { run: PathBuf, steps: u64, device: DeviceChoice },
    /// Evaluate the model shown in Explore on `data` (its held-out identities when `data` is
    /// the model's own training set).
    Evaluate { data: DataSource, options: EvalOptions },
    /// Hold the run between steps.
    Pause,
    /// Continue a paused run.
    Continue,
    /// Take one step of a paused run.
    StepOnce,
    /// Write a checkpoint and end the run.
    Stop,
    /// Draw every Explore face with a second model too (a checkpoint of `run`, the newest when
    /// `step` is `None`), beside the first.
    Compare { run: PathBuf, step: Option<u64> },
    /// Stop drawing with the second model.
    StopComparing,
}

/// What an error is about: a later success of the same kind clears it from the status bar, and
/// nothing else does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// Loading a model into Explore, or a second one to compare with.
    Model,
    /// Writing a checkpoint as safetensors.
    Export,
    /// Evaluating a model.
    Evaluation,
    /// Starting, resuming, stepping or saving a run.
    Training,
    /// The identity judge.
    Judge,
    /// Anything else (a face, a photo, a dialog).
    Other,
}

impl Topic {
    /// What `command` is about.
    fn of(command: &Command) -> Self {
        match command {
            Command::LoadShipped
            | Command::LoadShippedMulti
            | Command::LoadRun { .. }
            | Command::Compare { .. }
            | Command::StopComparing => Topic::Model,
            Command::Export { .. } => Topic::Export,
            Command::Evaluate { .. } => Topic::Evaluation,
            Command::StartTraining { .. }
            | Command::ResumeTraining { .. }
            | Command::Pause
            | Command::Continue
            | Command::StepOnce
            | Command::Stop => Topic::Training,
            _ => Topic::Other,
        }
    }
}

/// A second face and how far the first one's identity moves into its: `(1 − alpha)·f(input)
/// + alpha·f(other)`.
#[derive(Clone)]
pub struct Blend {
    /// The second face, at the model's size.
    pub other: Arc<RgbImage>,
    /// 0: the input's identity; 1: the second face's.
    pub alpha: f32,
}

/// What the model thread tells the window.
pub enum Event {
    /// The device the models run on.
    DeviceReady { name: String, reason: String, software: bool },
    /// A model is ready in Explore.
    ModelLoaded(ModelInfo),
    /// A second model is ready to compare with the first.
    ComparisonLoaded(ModelInfo),
    /// No second model any more.
    ComparisonEnded,
    /// An input ready for the model, read from `source` (aligned by `landmarks` when given).
    Prepared { source: ImageSource, landmarks: Option<Landmarks>, input: Arc<RgbImage> },
    /// The photo `source` for the alignment view: `shown` at most [`SHOWN_PHOTO`] on a side,
    /// of a `full`-size photo.
    Photo { source: ImageSource, shown: Arc<RgbImage>, full: [u32; 2] },
    /// A face redrawn at one pose.
    Rendered(Rendered),
    /// A face redrawn at every pose bin, with G's own cosine at each and the judge's verdicts.
    Strip {
        input: Arc<RgbImage>,
        images: Vec<RgbImage>,
        cosines: Vec<f32>,
        judged: Option<StripVerdict>,
    },
    /// The identity judge for the model in Explore (`None`: none applies to its faces).
    JudgeChosen(Option<JudgeInfo>),
    /// The identity judge's verdict on the face drawn last, once the slider rests.
    Judged(Verdict),
    /// Photos of one person ready for the model (those that could be read).
    GroupPrepared { sources: Vec<ImageSource>, inputs: Arc<Vec<RgbImage>>, unreadable: Vec<String> },
    /// A group of photos fused and drawn.
    Fused(Fused),
    /// A run asked for could not start (a bad face set, a busy folder…); the message says why.
    TrainingNotStarted(String),
    /// A run started or resumed; `history` is its metrics so far.
    TrainingStarted { run: PathBuf, config: Box<RunConfig>, history: Vec<StepMetrics>, evals: Vec<StepEval>, resumed_from: Option<u64>, notes: Vec<String> },
    /// One training step finished.
    Step(StepMetrics),
    /// A quick evaluation during training finished.
    StepEval(StepEval),
    /// A checkpoint (and sample grid) was written.
    Checkpoint { grid: Option<RgbImage> },
    /// How far an evaluation has come.
    EvalProgress { what: String, fraction: f32 },
    /// An evaluation of the model of `run` (`None`: the built-in one) finished.
    Evaluated {
        label: String,
        evaluation: Box<Evaluation>,
        run: Option<PathBuf>,
    },
    /// An evaluation could not be made; the message says why.
    EvalFailed(String),
    /// An evaluation was cancelled (the view's Cancel).
    EvalCancelled,
    /// The run is paused (true) or going (false).
    Paused(bool),
    /// The run ended; the message says how and what was kept.
    TrainingEnded { message: String, failed: bool },
    /// The input for `source` (aligned by `landmarks`, or centre-cropped) could not be made.
    PrepareFailed { source: ImageSource, landmarks: Option<Landmarks> },
    /// The alignment window's photo, or its crop, could not be made; the reason says why.
    AlignFailed { source: ImageSource, reason: String },
    /// A checkpoint was exported; the message says what was written.
    Exported(String),
    /// Something went wrong (`about` what); the message says what to do.
    Error { about: Topic, message: String },
    /// The model thread ended (it panicked): nothing asked of it will be answered.
    ModelThreadStopped,
}

/// The model shown in Explore.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// e.g. "tiny (32×32), 160 identities, 9 pose bins".
    pub summary: String,
    /// Training steps of the run the weights are a checkpoint of.
    pub step: u64,
    /// Training steps behind that run's first step (a run started from another's weights).
    pub steps_before: u64,
    /// Where the weights came from.
    pub origin: String,
    /// Yaw of each pose bin, in degrees.
    pub yaws: Vec<f32>,
    /// Whether the model gives each photo a confidence, so that several photos of one person
    /// can be fused (a multi-image model).
    pub fuses: bool,
    /// The run folder the weights come from (`None`: the built-in model).
    pub run: Option<PathBuf>,
}

impl ModelInfo {
    /// The training behind the weights in words: "800 steps", or "8000 steps (800 on top of
    /// 7200)" for a run started from another's weights.
    pub fn steps_label(&self) -> String {
        match self.steps_before {
            0 => format!("{} steps", self.step),
            before => format!("{} steps ({} on top of {before})", before + self.step, self.step),
        }
    }

    /// What the window shows of `rotator`, a checkpoint of `run` (`None`: the built-in model).
    fn of(rotator: &Rotator, run: Option<&std::path::Path>) -> Self {
        Self {
            summary: rotator.config.summary(),
            step: rotator.step,
            steps_before: rotator.steps_before,
            origin: rotator.origin.clone(),
            yaws: rotator.pose_bins().yaws.clone(),
            fuses: rotator.config.confidence,
            run: run.map(|r| r.canonicalize().unwrap_or_else(|_| r.to_path_buf())),
        }
    }
}

/// The identity judge the window shows figures of.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeInfo {
    /// One line: what it learned from and how well it tells unseen people apart.
    pub summary: String,
    /// Similarities above this call two faces one person (1 % false accepts).
    pub threshold: f32,
    /// Whether its own figures on unseen people are weak.
    pub weak: bool,
    /// What it knows, in a few words ("synthetic faces", or the face set's origin).
    pub knows: String,
}

impl JudgeInfo {
    fn of(judge: &Judge) -> Self {
        let knows = match &judge.card.data {
            Some(DataSource::Folder(path)) => format!("the faces of {}", path.display()),
            _ => "synthetic faces".to_owned(),
        };
        Self {
            summary: judge.summary(),
            threshold: judge.card.threshold,
            weak: judge.is_weak(),
            knows,
        }
    }
}

/// The judge on a face drawn at one pose.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// The input it was drawn from.
    pub input: Arc<RgbImage>,
    /// The pose asked for.
    pub yaw: f32,
    /// The blend weight it was drawn with.
    pub alpha: f32,
    /// The judge's similarity of the input and the output.
    pub similarity: f32,
    /// Of the output and its true rendering (synthetic faces).
    pub truth: Option<f32>,
    /// Of the input and the second model's output (while comparing).
    pub compared: Option<f32>,
    /// Of the output and the second face of a blend.
    pub second: Option<f32>,
    /// The input's familiarity score, and whether the judge flags it as unlike its faces.
    pub familiarity: (f32, bool),
}

/// The judge on a face drawn at every pose bin.
#[derive(Clone, Debug)]
pub struct StripVerdict {
    /// Its similarity of the input and the output at each bin.
    pub similarities: Vec<f32>,
    /// Of each output and its true rendering (synthetic faces).
    pub truth: Option<Vec<f32>>,
    /// The input's familiarity score, and whether the judge flags it.
    pub familiarity: (f32, bool),
}

/// The true rendering of a synthetic `source` at `yaw`, at the model's `size`; `None` for a
/// face of any other kind.
fn true_face(source: &ImageSource, yaw: f32, size: usize) -> anyhow::Result<Option<RgbImage>> {
    match source {
        ImageSource::Synthetic {
            spec,
            person,
            light,
            ..
        } => centred_input(
            &ImageSource::Synthetic {
                spec: spec.clone(),
                person: *person,
                yaw,
                light: *light,
            },
            size,
        )
        .map(Some)
        .map_err(|e| anyhow::anyhow!("rendering the true face: {}", e.reason())),
        _ => Ok(None),
    }
}

/// A render whose verdict the model thread owes, given once no newer command waits.
struct PendingVerdict {
    input: Arc<RgbImage>,
    yaw: f32,
    alpha: f32,
    output: RgbImage,
    truth: Option<RgbImage>,
    compared: Option<RgbImage>,
    second: Option<Arc<RgbImage>>,
}

/// A face redrawn at one pose.
pub struct Rendered {
    /// The input it was drawn from.
    pub input: Arc<RgbImage>,
    /// The pose asked for.
    pub yaw: f32,
    /// How far the identity was blended into a second face's (0 without a blend).
    pub alpha: f32,
    /// The model's output.
    pub image: RgbImage,
    /// Cosine of the model's `f(input)` and `f(output)`, when a comparison needs it.
    pub cosine: Option<f32>,
    /// The same face drawn by the second model, when one is compared.
    pub compared: Option<Compared>,
    /// The true rendering at `yaw` (synthetic faces) and its SSIM against the output.
    pub truth: Option<(RgbImage, f64)>,
    /// When the window asked for it.
    pub sent: Instant,
}

/// A face drawn by the second model of a comparison, with the same input, pose and noise.
pub struct Compared {
    /// Its output.
    pub image: RgbImage,
    /// SSIM against the true rendering (synthetic faces).
    pub ssim: Option<f64>,
    /// Cosine of its own `f(input)` and `f(output)`.
    pub cosine: f32,
}

/// A group of photos of one person, fused by the model's confidences and drawn at one pose.
pub struct Fused {
    /// The photos.
    pub inputs: Arc<Vec<RgbImage>>,
    /// The pose asked for.
    pub yaw: f32,
    /// Each photo's confidence σ(ω).
    pub confidences: Vec<f32>,
    /// The fused face at `yaw`.
    pub fused: RgbImage,
    /// Cosine of the fused feature and f(fused face).
    pub fused_cosine: f32,
    /// Each photo alone at `yaw`, and the cosine of its f(input) and f(output).
    pub singles: Vec<(RgbImage, f32)>,
    /// The identity judge's similarity of the fused face and each photo (their mean), and of
    /// each photo and its own output; `None` without a judge.
    pub judged: Option<(f32, Vec<f32>)>,
}

/// The window's end of the model thread.
pub struct WorkerHandle {
    commands: Sender<Command>,
    events: Receiver<Event>,
    /// Whether [`Event::ModelThreadStopped`] was handed out (it is, once).
    stop_reported: std::cell::Cell<bool>,
}

impl WorkerHandle {
    /// Starts the model thread on `device`; `repaint` is called after every event.
    pub fn spawn(device: ChosenDevice, repaint: impl Fn() + Send + 'static) -> anyhow::Result<Self> {
        let (commands, inbox) = channel();
        let (outbox, events) = channel();
        std::thread::Builder::new()
            .name("model".to_owned())
            .spawn(move || {
                Worker {
                    device,
                    rotator: None,
                    compare: None,
                    encoded: Vec::new(),
                    photo: None,
                    rotator_config: None,
                    model_run: None,
                    judge: None,
                    built_in_judge: None,
                    pending_verdict: None,
                    assessed: None,
                    job: None,
                    outbox,
                    repaint: Box::new(repaint),
                }
                .run(&inbox)
            })
            .context("starting the model thread")?;
        Ok(Self { commands, events, stop_reported: std::cell::Cell::new(false) })
    }

    /// Queues a command (a stopped thread is reported by [`Self::poll`]).
    pub fn send(&self, command: Command) {
        // A closed channel means the thread ended; its last event says why.
        let _ = self.commands.send(command);
    }

    /// Events that arrived since the last call, oldest first.
    pub fn poll(&self) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            match self.events.try_recv() {
                Ok(event) => events.push(event),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if !self.stop_reported.replace(true) {
                        events.push(Event::ModelThreadStopped);
                    }
                    break;
                }
            }
        }
        events
    }

    /// Stops a running run and waits, up to `patience`, for its checkpoint: closing the window
    /// keeps the run's last step, as Ctrl-C does for `train`. Returns the run's last message.
    pub fn stop_and_wait(&self, patience: Duration) -> Option<String> {
        self.send(Command::Stop);
        let deadline = Instant::now() + patience;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.events.recv_timeout(left) {
                Ok(Event::TrainingEnded { message, .. }) => return Some(message),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

/// Encodings the model thread keeps: the face on show and the second face of a blend.
const ENCODINGS_KEPT: usize = 2;
/// How long no command must come before the judge's verdict on the last face is given: a
/// slider drag's renders come faster, so the judge never slows a drag.
const VERDICT_AFTER: Duration = Duration::from_millis(40);

/// A training run in progress.
struct Job {
    trainer: Trainer,
    run: RunDir,
    lock: RunLock,
    paused: bool,
    steps_to_take: u64,
    /// The evaluations during the run, and the pose classifier they share.
    quick: QuickEval,
}

struct Worker {
    device: ChosenDevice,
    rotator: Option<Rotator>,
    /// A second model Explore draws each face with too, for comparison.
    compare: Option<Rotator>,
    /// The last faces Explore drew (the face, and the second face of a blend), encoded: a
    /// slider move redraws without encoding again.
    encoded: Vec<(Arc<RgbImage>, Encoded)>,
    /// The photo last read whole for the alignment window, by its source's description: each
    /// crop the window asks for is cut from it without decoding it again.
    photo: Option<(String, Arc<RgbImage>)>,
    rotator_config: Option<RunConfig>,
    /// The run folder of the model in Explore (`None`: the built-in model).
    model_run: Option<PathBuf>,
    /// The identity judge for the faces of the model in Explore.
    judge: Option<Arc<Judge>>,
    /// The built-in judge, once read.
    built_in_judge: Option<Arc<Judge>>,
    /// The verdict owed on the face drawn last.
    pending_verdict: Option<PendingVerdict>,
    /// The judge's view of the input drawn last (its embedding and familiarity).
    assessed: Option<(Arc<RgbImage>, judge::Assessment)>,
    job: Option<Job>,
    outbox: Sender<Event>,
    repaint: Box<dyn Fn() + Send>,
}

impl Worker {
    fn run(mut self, inbox: &Receiver<Command>) {
        self.send(Event::DeviceReady {
            name: self.device.name.clone(),
            reason: self.device.reason.clone(),
            software: self.device.software_adapter,
        });
        loop {
            let busy = self.job.as_ref().is_some_and(|job| !job.paused || job.steps_to_take > 0);
            let mut commands = Vec::new();
            if !busy {
                // A verdict is owed once the slider rests: a drag's renders come faster than this.
                let next = match self.pending_verdict {
                    Some(_) => inbox.recv_timeout(VERDICT_AFTER),
                    None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match next {
                    Ok(command) => commands.push(command),
                    Err(RecvTimeoutError::Timeout) => {
                        self.give_verdict();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            loop {
                match inbox.try_recv() {
                    Ok(command) => commands.push(command),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        self.stop_training("the window closed");
                        return;
                    }
                }
            }
            self.handle(commands);
            if self.job.is_some() {
                self.train_one_step();
                // While a run trains, the verdict comes between steps; paused, it waits for the
                // slider to rest as it does without a run.
                if busy {
                    self.give_verdict();
                }
            }
        }
        self.stop_training("the window closed");
    }

    fn send(&self, event: Event) {
        let _ = self.outbox.send(event);
        (self.repaint)();
    }

    /// A failed start or resume, told to the Train view (which waits for it) instead of only
    /// the status bar.
    fn not_started(&self, started: anyhow::Result<()>) {
        if let Err(error) = started {
            self.send(Event::TrainingNotStarted(format!("{error:#}")));
        }
    }

    fn error(&self, about: Topic, error: &anyhow::Error) {
        self.send(Event::Error {
            about,
            message: format!("{error:#}"),
        });
    }

    /// Runs a batch of commands: renders and strips only the newest of each, after the rest.
    fn handle(&mut self, commands: Vec<Command>) {
        let mut render = None;
        let mut strip = None;
        for command in commands {
            match command {
                Command::Render { .. } | Command::Fuse { .. } => render = Some(command),
                Command::Strip { .. } => strip = Some(command),
                other => self.handle_one(other),
            }
        }
        for command in [render, strip].into_iter().flatten() {
            self.handle_one(command);
        }
    }

    fn handle_one(&mut self, command: Command) {
        let about = Topic::of(&command);
        let result = match command {
            Command::LoadShipped => self.load(
                shipped::rotator(&self.device.device),
                shipped::config(),
                None,
            ),
            Command::LoadShippedMulti => self.load(
                shipped::multi_rotator(&self.device.device),
                shipped::multi_config(),
                None,
            ),
            Command::LoadRun { run, step } => {
                let dir = RunDir::new(&run);
                self.load(
                    load_generator(&dir, step, &self.device.device).map(|loaded| loaded.value),
                    dir.read_config(),
                    Some(run),
                )
            }
            Command::Evaluate { data, options } => {
                match self.evaluate(&data, &options) {
                    Err(error) if error.is::<crate::eval::evaluate::Cancelled>() => {
                        self.send(Event::EvalCancelled)
                    }
                    Err(error) => self.send(Event::EvalFailed(format!(
                        "the evaluation failed: {error:#}"
                    ))),
                    Ok(()) => {}
                }
                Ok(())
            }
            Command::Prepare { source, landmarks } => {
                let result = self.prepare(source.clone(), landmarks);
                if let Err(error) = &result {
                    self.send(Event::PrepareFailed { source: source.clone(), landmarks });
                    if landmarks.is_some() {
                        self.send(Event::AlignFailed { source, reason: format!("{error:#}") });
                    }
                }
                result
            }
            Command::LoadPhoto { source } => {
                let result = self.load_photo(source.clone());
                if let Err(error) = &result {
                    self.send(Event::AlignFailed { source, reason: format!("{error:#}") });
                }
                result
            }
            Command::Export { run, step, out } => self.export(&run, step, &out),
            Command::Render {
                input,
                blend,
                source,
                yaw,
                seed,
                sent,
            } => self.render(input, blend, source, yaw, seed, sent),
            Command::Strip {
                input,
                blend,
                source,
                seed,
            } => self.strip(input, blend, source, seed),
            Command::PrepareGroup { sources } => self.prepare_group(sources),
            Command::Fuse { inputs, yaw, seed } => self.fuse(inputs, yaw, seed),
            Command::StartTraining { run, config, init_from } => {
                let started = self.start_training(run, *config, init_from);
                self.not_started(started);
                Ok(())
            }
            Command::ResumeTraining { run, steps, device } => {
                let resumed = self.resume_training(run, steps, device);
                self.not_started(resumed);
                Ok(())
            }
            Command::Pause => self.set_paused(true),
            Command::Continue => self.set_paused(false),
            Command::StepOnce => {
                if let Some(job) = &mut self.job {
                    job.steps_to_take += 1;
                }
                Ok(())
            }
            Command::Stop => {
                self.stop_training("stopped");
                Ok(())
            }
            Command::Compare { run, step } => {
                let loaded = self.load_comparison(&RunDir::new(&run), step).with_context(|| format!("comparing with {}", run.display()));
                if loaded.is_err() {
                    self.send(Event::ComparisonEnded);
                }
                loaded
            }
            Command::StopComparing => {
                self.compare = None;
                self.send(Event::ComparisonEnded);
                Ok(())
            }
        };
        if let Err(error) = result {
            self.error(about, &error);
        }
    }

    fn load(
        &mut self,
        rotator: anyhow::Result<Rotator>,
        config: anyhow::Result<RunConfig>,
        run: Option<PathBuf>,
    ) -> anyhow::Result<()> {
        let (rotator, config) = (rotator?, config?);
        // One spelling of the run's folder for everything that names it (kept evaluations, the
        // model picker).
        self.model_run = run.map(|run| run.canonicalize().unwrap_or(run));
        let judge = self.judge_for(&config.data);
        self.rotator_config = Some(config);
        self.send(Event::ModelLoaded(ModelInfo::of(
            &rotator,
            self.model_run.as_deref(),
        )));
        self.judge = judge.as_ref().ok().cloned().flatten();
        self.send(Event::JudgeChosen(self.judge.as_deref().map(JudgeInfo::of)));
        if let Err(error) = judge {
            self.error(Topic::Judge, &error);
        }
        if self.compare.as_ref().is_some_and(|second| {
            second.image_size() != rotator.image_size() || second.pose_bins() != rotator.pose_bins()
        }) {
            self.compare = None;
            self.send(Event::ComparisonEnded);
        }
        self.rotator = Some(rotator);
        self.encoded.clear();
        self.pending_verdict = None;
        self.assessed = None;
        Ok(())
    }

    /// The identity judge for faces of `data`: the model's run's own judge made for that face
    /// set, the built-in one for synthetic faces, none otherwise; an error when the judge that
    /// applies cannot be read (damaged, or of a newer studio).
    fn judge_for(&mut self, data: &DataSource) -> anyhow::Result<Option<Arc<Judge>>> {
        let own = self
            .model_run
            .as_deref()
            .is_some_and(|run| run.join(judge::RUN_FOLDER).exists());
        if matches!(data, DataSource::Synthetic(_)) && !own {
            if self.built_in_judge.is_none() {
                let read = Judge::built_in(&self.device.device)
                    .context("reading the built-in identity judge")?;
                self.built_in_judge = Some(Arc::new(read));
            }
            return Ok(self.built_in_judge.clone());
        }
        let judge = judge::for_data(self.model_run.as_deref(), data, &self.device.device)
            .context("reading the run's identity judge; its figures are left out")?;
        Ok(judge.map(Arc::new))
    }

    /// The judge's view of `input`, from the cache when it is the input assessed last.
    fn assessment(
        &mut self,
        judge: &Judge,
        input: &Arc<RgbImage>,
    ) -> anyhow::Result<judge::Assessment> {
        if let Some((cached, assessment)) = &self.assessed
            && (Arc::ptr_eq(cached, input) || cached.as_ref() == input.as_ref())
        {
            return Ok(assessment.clone());
        }
        let assessment = judge
            .assess(&[input.as_ref()])?
            .pop()
            .context("the judge returned nothing")?;
        self.assessed = Some((input.clone(), assessment.clone()));
        Ok(assessment)
    }

    /// The verdict owed on the face drawn last, if any.
    fn give_verdict(&mut self) {
        let (Some(pending), Some(judge)) = (self.pending_verdict.take(), self.judge.clone()) else {
            return;
        };
        if let Err(error) = self.verdict(&judge, pending) {
            self.error(Topic::Judge, &error.context("the identity judge"));
        }
    }

    fn verdict(&mut self, judge: &Judge, pending: PendingVerdict) -> anyhow::Result<()> {
        let input = self.assessment(judge, &pending.input)?;
        let mut faces: Vec<&RgbImage> = vec![&pending.output];
        faces.extend(pending.truth.iter());
        faces.extend(pending.compared.iter());
        faces.extend(pending.second.as_deref());
        let seen = judge.embeddings(&faces)?;
        let mut rest = seen[1..].iter();
        let truth = pending
            .truth
            .as_ref()
            .and_then(|_| rest.next())
            .map(|t| cosine(&seen[0], t));
        let compared = pending
            .compared
            .as_ref()
            .and_then(|_| rest.next())
            .map(|c| cosine(&input.embedding, c));
        let second = pending
            .second
            .as_ref()
            .and_then(|_| rest.next())
            .map(|s| cosine(&seen[0], s));
        self.send(Event::Judged(Verdict {
            input: pending.input,
            yaw: pending.yaw,
            alpha: pending.alpha,
            similarity: cosine(&input.embedding, &seen[0]),
            truth,
            compared,
            second,
            familiarity: (input.familiarity, judge.unfamiliar(input.familiarity)),
        }));
        Ok(())
    }

    /// `input` encoded by the loaded model, from the cache when it is the face drawn last.
    fn encoded(&mut self, input: &Arc<RgbImage>) -> anyhow::Result<Encoded> {
        if let Some((_, encoded)) = self.encoded.iter().find(|(cached, _)| Arc::ptr_eq(cached, input) || cached.as_ref() == input.as_ref()) {
            return Ok(encoded.clone());
        }
        let encoded = self.rotator()?.encode(input)?;
        self.encoded.insert(0, (input.clone(), encoded.clone()));
        self.encoded.truncate(ENCODINGS_KEPT);
        Ok(encoded)
    }

    fn rotator(&self) -> anyhow::Result<&Rotator> {
        self.rotator.as_ref().context("no model is loaded; load one from the Train view's checkpoint list")
    }

    fn evaluate(&mut self, data: &DataSource, eval_options: &EvalOptions) -> anyhow::Result<()> {
        let judge = self.judge_for(data);
        let judge_problem = judge
            .as_ref()
            .err()
            .map(|error| format!("no identity judge figures: {error:#}"));
        let judge = judge.ok().flatten();
        let (rotator, config) = (
            self.rotator()?,
            self.rotator_config
                .as_ref()
                .context("the loaded model has no run configuration")?,
        );
        let options = crate::data::formats::OpenOptions {
            pose_bins: config.model.pose_bins.clone(),
            cfp_two_bins: config.training.cfp_two_bins,
        };
        let faces = crate::train::run::open_faces(data, &options)?;
        let only = held_out_identities(config, data);
        let (outbox, repaint) = (self.outbox.clone(), &self.repaint);
        let mut progress = |what: &str, fraction: f32| {
            let _ = outbox.send(Event::EvalProgress { what: what.to_owned(), fraction });
            repaint();
        };
        let instruments = Instruments {
            pose: None,
            judge: judge.as_deref(),
        };
        let mut evaluation = evaluate(
            rotator,
            config,
            &faces,
            only.as_ref(),
            eval_options,
            instruments,
            &self.device.device,
            &mut progress,
        )?;
        evaluation.report.run = rotator.origin.clone();
        evaluation.report.notes.extend(judge_problem);
        if let Some(judge) = &judge {
            evaluation.report.notes.extend(judge.caveats(data, &faces, only.as_ref()));
        }
        let label = format!("{} on {}", rotator.origin, faces.origin);
        self.send(Event::Evaluated {
            label,
            evaluation: Box::new(evaluation),
            run: self.model_run.clone(),
        });
        Ok(())
    }

    fn prepare(&mut self, source: ImageSource, landmarks: Option<Landmarks>) -> anyhow::Result<()> {
        let size = self.rotator()?.image_size();
        let input = match (&landmarks, &self.photo) {
            (Some(landmarks), Some((name, photo))) if *name == source.describe() => {
                align(photo, landmarks, size).map_err(|e| e.context(format!("aligning {name}")))?
            }
            (Some(landmarks), _) => aligned_input(&source, landmarks, size)?,
            (None, _) => centred_input(&source, size).map_err(|e| anyhow::anyhow!("{} cannot be used: {}", source.describe(), e.reason()))?,
        };
        self.send(Event::Prepared { source, landmarks, input: Arc::new(input) });
        Ok(())
    }

    fn export(&mut self, run: &std::path::Path, step: u64, out: &std::path::Path) -> anyhow::Result<()> {
        let written = export_checkpoint(&RunDir::new(run), Some(step), out)?;
        self.send(Event::Exported(written));
        Ok(())
    }

    fn load_photo(&mut self, source: ImageSource) -> anyhow::Result<()> {
        let photo = Arc::new(decode(&source).map_err(|e| anyhow::anyhow!("{} cannot be aligned: {}", source.describe(), e.reason()))?.to_rgb8());
        self.photo = Some((source.describe(), photo.clone()));
        let full = [photo.width(), photo.height()];
        let fit = SHOWN_PHOTO as f32 / full[0].max(full[1]) as f32;
        let shown = if fit < 1.0 {
            let [w, h] = full.map(|v| ((v as f32 * fit).round() as u32).max(1));
            Arc::new(image::imageops::resize(photo.as_ref(), w, h, image::imageops::FilterType::Triangle))
        } else {
            photo
        };
        self.send(Event::Photo { source, shown, full });
        Ok(())
    }

    fn prepare_group(&mut self, sources: Vec<ImageSource>) -> anyhow::Result<()> {
        let size = self.rotator()?.image_size();
        let (mut inputs, mut unreadable) = (Vec::new(), Vec::new());
        for source in &sources {
            match centred_input(source, size) {
                Ok(input) => inputs.push(input),
                Err(error) => unreadable.push(format!("{}: {}", source.describe(), error.reason())),
            }
        }
        anyhow::ensure!(inputs.len() >= 2, "fusing needs at least two readable photos ({})", unreadable.join("; "));
        self.send(Event::GroupPrepared { sources, inputs: Arc::new(inputs), unreadable });
        Ok(())
    }

    fn fuse(&mut self, inputs: Arc<Vec<RgbImage>>, yaw: f32, seed: u64) -> anyhow::Result<()> {
        let rotator = self.rotator()?;
        let photos: Vec<&RgbImage> = inputs.iter().collect();
        let (encoded, confidences) = rotator.encode_fused(&photos)?;
        let code = [pose_code(yaw, rotator.pose_bins())];
        let fused = rotator.draw(&encoded, &code, seed)?.pop().context("the model returned no image")?;
        let singles: Vec<RgbImage> = photos.iter().map(|photo| rotator.rotate(photo, &code, seed).map(|mut out| out.pop())).collect::<anyhow::Result<Vec<_>>>()?.into_iter().flatten().collect();
        let mut all = photos.clone();
        all.push(&fused);
        all.extend(singles.iter());
        let features = rotator.features(&all)?;
        let n = photos.len();
        let fused_feature = rotator.feature_of(&encoded)?;
        let fused_cosine = cosine(&fused_feature, &features[n]);
        let judged = match &self.judge {
            Some(judge) => {
                let seen = judge.embeddings(&all)?;
                let to_photos =
                    (0..n).map(|i| cosine(&seen[i], &seen[n])).sum::<f32>() / n.max(1) as f32;
                Some((
                    to_photos,
                    (0..n).map(|i| cosine(&seen[i], &seen[n + 1 + i])).collect(),
                ))
            }
            None => None,
        };
        let singles = singles
            .into_iter()
            .enumerate()
            .map(|(i, image)| (image, cosine(&features[i], &features[n + 1 + i])))
            .collect();
        self.send(Event::Fused(Fused {
            inputs,
            yaw,
            confidences,
            fused,
            fused_cosine,
            singles,
            judged,
        }));
        Ok(())
    }

    /// `input`'s identity feature, blended into a second face's when asked.
    fn identity(&mut self, input: &Arc<RgbImage>, blend: Option<&Blend>) -> anyhow::Result<Encoded> {
        let encoded = self.encoded(input)?;
        match blend {
            Some(blend) => Ok(encoded.blend(&self.encoded(&blend.other)?, blend.alpha)),
            None => Ok(encoded),
        }
    }

    /// Loads the second model of a comparison; it must draw faces of the first one's size at
    /// its poses.
    fn load_comparison(&mut self, run: &RunDir, step: Option<u64>) -> anyhow::Result<()> {
        let second = load_generator(run, step, &self.device.device)?.value;
        let first = self.rotator()?;
        anyhow::ensure!(
            second.image_size() == first.image_size() && second.pose_bins() == first.pose_bins(),
            "{} draws {}×{} faces at {} poses, the model in Explore {}×{} at {}: compare models of one preset and pose bins",
            second.origin,
            second.image_size(),
            second.image_size(),
            second.pose_bins().yaws.len(),
            first.image_size(),
            first.image_size(),
            first.pose_bins().yaws.len()
        );
        self.send(Event::ComparisonLoaded(ModelInfo::of(
            &second,
            Some(run.root()),
        )));
        self.compare = Some(second);
        Ok(())
    }

    /// `input` drawn by the second model at `code`, as the first drew it.
    fn compared(&self, input: &RgbImage, blend: Option<&Blend>, code: Vec<f32>, seed: u64, truth: Option<&RgbImage>) -> anyhow::Result<Option<Compared>> {
        let Some(second) = &self.compare else { return Ok(None) };
        let mut encoded = second.encode(input)?;
        if let Some(blend) = blend {
            encoded = encoded.blend(&second.encode(&blend.other)?, blend.alpha);
        }
        let image = second.draw(&encoded, &[code], seed)?.pop().context("the second model returned no image")?;
        let features = second.features(&[input, &image])?;
        Ok(Some(Compared { ssim: truth.map(|t| ssim(&image, t)), cosine: cosine(&features[0], &features[1]), image }))
    }

    fn render(&mut self, input: Arc<RgbImage>, blend: Option<Blend>, source: Option<ImageSource>, yaw: f32, seed: u64, sent: Instant) -> anyhow::Result<()> {
        let encoded = self.identity(&input, blend.as_ref())?;
        let rotator = self.rotator()?;
        let code = pose_code(yaw, rotator.pose_bins());
        let image = rotator.draw(&encoded, std::slice::from_ref(&code), seed)?.pop().context("the model returned no image")?;
        let own_cosine = match self.compare {
            Some(_) => {
                let features = rotator.features(&[&input, &image])?;
                Some(cosine(&features[0], &features[1]))
            }
            None => None,
        };
        let alpha = blend.as_ref().map_or(0.0, |b| b.alpha);
        // The true renderings stand for the input's person only while no blend moves it.
        let truth = match source.filter(|_| alpha == 0.0) {
            Some(source) => true_face(&source, yaw, rotator.image_size())?.map(|real| {
                let score = ssim(&image, &real);
                (real, score)
            }),
            None => None,
        };
        let compared = self.compared(
            &input,
            blend.as_ref(),
            code,
            seed,
            truth.as_ref().map(|(t, _)| t),
        )?;
        self.pending_verdict = self.judge.is_some().then(|| PendingVerdict {
            input: input.clone(),
            yaw,
            alpha,
            output: image.clone(),
            truth: truth.as_ref().map(|(t, _)| t.clone()),
            compared: compared.as_ref().map(|c| c.image.clone()),
            second: blend.as_ref().map(|b| b.other.clone()),
        });
        self.send(Event::Rendered(Rendered {
            input,
            yaw,
            alpha,
            image,
            cosine: own_cosine,
            compared,
            truth,
            sent,
        }));
        Ok(())
    }

    fn strip(
        &mut self,
        input: Arc<RgbImage>,
        blend: Option<Blend>,
        source: Option<ImageSource>,
        seed: u64,
    ) -> anyhow::Result<()> {
        let encoded = self.identity(&input, blend.as_ref())?;
        let rotator = self.rotator()?;
        let num_poses = rotator.config.num_poses();
        let codes: Vec<Vec<f32>> = (0..num_poses).map(|bin| one_hot(bin, num_poses)).collect();
        let images = rotator.draw(&encoded, &codes, seed)?;
        let mut all: Vec<&RgbImage> = vec![&input];
        all.extend(images.iter());
        let features = rotator.features(&all)?;
        let cosines = features[1..]
            .iter()
            .map(|f| cosine(&features[0], f))
            .collect();
        // The true renderings stand for the input's person only while no blend moves it.
        let truth_of = source.filter(|_| blend.as_ref().is_none_or(|b| b.alpha == 0.0));
        let judged = match self
            .judge
            .clone()
            .map(|judge| self.strip_verdict(&judge, &input, &images, truth_of))
        {
            Some(Ok(verdict)) => Some(verdict),
            Some(Err(error)) => {
                self.error(
                    Topic::Judge,
                    &error.context("the identity judge on the strip"),
                );
                None
            }
            None => None,
        };
        self.send(Event::Strip {
            input,
            images,
            cosines,
            judged,
        });
        Ok(())
    }

    /// The judge on every bin's output: against the input, and against the true rendering
    /// at that bin when `source` is a synthetic face.
    fn strip_verdict(
        &mut self,
        judge: &Judge,
        input: &Arc<RgbImage>,
        images: &[RgbImage],
        source: Option<ImageSource>,
    ) -> anyhow::Result<StripVerdict> {
        let assessed = self.assessment(judge, input)?;
        let outputs = judge.embeddings(&images.iter().collect::<Vec<_>>())?;
        let similarities = outputs
            .iter()
            .map(|o| cosine(&assessed.embedding, o))
            .collect();
        let rotator = self.rotator()?;
        let truths = match &source {
            Some(source) => rotator
                .pose_bins()
                .yaws
                .iter()
                .map(|&yaw| true_face(source, yaw, rotator.image_size()))
                .collect::<anyhow::Result<Option<Vec<_>>>>()?,
            None => None,
        };
        let truth = match truths {
            Some(truths) => {
                let seen = judge.embeddings(&truths.iter().collect::<Vec<_>>())?;
                Some(
                    outputs
                        .iter()
                        .zip(&seen)
                        .map(|(o, t)| cosine(o, t))
                        .collect(),
                )
            }
            None => None,
        };
        Ok(StripVerdict {
            similarities,
            truth,
            familiarity: (assessed.familiarity, judge.unfamiliar(assessed.familiarity)),
        })
    }

    /// The device a run asks for: the window's own GPU device, the CUDA backend, or the CPU one.
    fn training_device(&self, choice: DeviceChoice) -> anyhow::Result<Device> {
        let on_gpu = self.device.name.starts_with("wgpu");
        match choice {
            DeviceChoice::Cpu => Ok(Device::flex()),
            DeviceChoice::Cuda => Ok(crate::device::cuda::start()?.0),
            DeviceChoice::Auto => Ok(if on_gpu { self.device.device.clone() } else { Device::flex() }),
            DeviceChoice::Gpu if on_gpu => Ok(self.device.device.clone()),
            DeviceChoice::Gpu => anyhow::bail!("the run asks for the GPU, but the studio runs on {} ({}); choose Auto or CPU", self.device.name, self.device.reason),
        }
    }

    fn start_training(&mut self, run: PathBuf, config: RunConfig, init_from: Option<PathBuf>) -> anyhow::Result<()> {
        anyhow::ensure!(self.job.is_none(), "a run is already going; stop it first");
        let device = self.training_device(config.training.device)?;
        let dir = RunDir::new(&run);
        let options = crate::data::formats::OpenOptions { pose_bins: config.model.pose_bins.clone(), cfp_two_bins: config.training.cfp_two_bins };
        let faces = crate::train::run::open_faces(&config.data, &options)?;
        let opened = start(&dir, config, &faces, &device, init_from.as_deref().map(RunDir::new).as_ref())?;
        self.begin(run, dir, opened)
    }

    fn resume_training(&mut self, run: PathBuf, steps: u64, device: DeviceChoice) -> anyhow::Result<()> {
        anyhow::ensure!(self.job.is_none(), "a run is already going; stop it first");
        let dir = RunDir::new(&run);
        let opened = resume(&dir, Some(steps), &self.training_device(device)?)?;
        self.begin(run, dir, opened)
    }

    fn begin(&mut self, path: PathBuf, run: RunDir, opened: Opened) -> anyhow::Result<()> {
        let (step, total) = (opened.trainer.step_count(), opened.trainer.config().training.steps);
        anyhow::ensure!(step < total, "{} is already at step {step}; raise the step count to continue it", path.display());
        let history = run.read_metrics()?;
        let evals = run.read_evals()?;
        let mut notes = opened.notes;
        notes.extend(history.note("metrics.jsonl"));
        notes.extend(evals.note("eval.jsonl"));
        let (history, evals) = (history.values, evals.values);
        if opened.skipped.total() > 0 {
            notes.push(opened.skipped.to_string());
        }
        self.send(Event::TrainingStarted {
            run: path,
            config: Box::new(opened.trainer.config().clone()),
            history,
            evals,
            resumed_from: opened.resumed_from,
            notes,
        });
        self.job = Some(Job { trainer: opened.trainer, run, lock: opened.lock, paused: false, steps_to_take: 0, quick: QuickEval::default() });
        Ok(())
    }

    fn set_paused(&mut self, paused: bool) -> anyhow::Result<()> {
        let job = self.job.as_mut().context("no run is going")?;
        job.paused = paused;
        self.send(Event::Paused(paused));
        Ok(())
    }

    fn train_one_step(&mut self) {
        let Some(job) = self.job.as_mut() else { return };
        if job.paused && job.steps_to_take == 0 {
            return;
        }
        job.steps_to_take = job.steps_to_take.saturating_sub(1);
        let settings = &job.trainer.config().training;
        let (total, every) = (settings.steps, settings.checkpoint_every.max(1));
        let result = job.trainer.train_step().and_then(|metrics| {
            if let Some(metrics) = &metrics {
                job.run.append_metrics(&job.lock, metrics)?;
            }
            Ok(metrics)
        });
        let step = job.trainer.step_count();
        match result {
            Ok(metrics) => {
                if let Some(metrics) = metrics {
                    self.send(Event::Step(metrics));
                }
                // The evaluation due at the last step too, as `train` makes it.
                if step >= total {
                    self.quick_eval();
                    self.stop_training("finished");
                } else {
                    if step % every == 0 {
                        self.checkpoint();
                    }
                    self.quick_eval();
                }
            }
            Err(error) => {
                // A diverged or failed step: the last good checkpoint stays the newest.
                self.job = None;
                self.send(Event::TrainingEnded { message: format!("{error:#}"), failed: true });
            }
        }
    }

    /// The quick evaluation during training, when the run asks for one at this step.
    fn quick_eval(&mut self) {
        let Some(job) = &mut self.job else { return };
        match job.quick.if_due(&job.trainer, &job.run, &job.lock) {
            Ok(Some(eval)) => self.send(Event::StepEval(eval)),
            Ok(None) => {}
            Err(error) => self.send(Event::Error {
                about: Topic::Training,
                message: format!("the evaluation during training failed: {error:#}"),
            }),
        }
    }

    fn checkpoint(&mut self) {
        let Some(job) = &mut self.job else { return };
        // The metrics of a step still on the GPU come first, so that the run's metrics reach
        // the checkpoint's step.
        let flushed = job.trainer.flush().and_then(|metrics| {
            if let Some(metrics) = &metrics {
                job.run.append_metrics(&job.lock, metrics)?;
            }
            Ok(metrics)
        });
        let result = flushed.and_then(|metrics| Ok((metrics, save_progress(&mut job.trainer, &job.run, &job.lock)?)));
        let step = job.trainer.step_count();
        match result {
            Ok((metrics, grid)) => {
                if let Some(metrics) = metrics {
                    self.send(Event::Step(metrics));
                }
                self.send(Event::Checkpoint { grid });
            }
            Err(error) => self.send(Event::Error { about: Topic::Training, message: format!("writing the checkpoint of step {step} failed: {error:#}; the previous checkpoint is kept") }),
        }
    }

    /// Writes a checkpoint at the current step and ends the run.
    fn stop_training(&mut self, how: &str) {
        if self.job.as_ref().is_some_and(|job| job.trainer.step_count() > 0) {
            self.checkpoint();
        }
        if let Some(job) = self.job.take() {
            let step = job.trainer.step_count();
            let message = format!("{how} at step {step}; checkpoint kept in {}", job.run.root().display());
            self.send(Event::TrainingEnded { message, failed: false });
        }
    }
}

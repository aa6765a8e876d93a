//! The Train view: every setting of `train` as a form, Start / Pause / Continue / Step / Stop,
//! live curves, progress, the newest sample grid and the run's checkpoints. Runs are ordinary
//! run folders, so the command line can inspect or resume them and the reverse.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use eframe::egui;

use super::{DIALOG_OPEN, button_unless};
use super::dialogs::{FileChooser, Request};
use super::plots::{self, CurveSettings};
use super::status_bar::StatusBar;
use super::worker::{Command, Event, Topic, WorkerHandle};
use crate::data::FaceSet;
use crate::device::DeviceChoice;
use crate::model::{Preset, Upsample};
use crate::train::recipe::MAX_D_BLUR;
use crate::train::recipe_file::RecipeFile;
use crate::train::run::plan;
use crate::train::{Architecture, Balance, DAugment, DHead, DataSource, MultiImage, Recipe, RecipeName, RunConfig, RunDir, StepEval, StepMetrics, TrainSettings};

/// Storage key of the view's settings.
pub const SETTINGS_KEY: &str = "train";
/// Steps over which img/s and the ETA are measured.
const RATE_WINDOW: usize = 20;

/// What a path chosen in the Train view's file dialog is for.
enum Chosen {
    /// A run folder to open.
    Run,
    /// Where to export this checkpoint of the run on show.
    Export { step: u64 },
    /// Where to save this recipe file's text.
    SaveRecipe(String),
    /// A recipe file to fill the form from.
    LoadRecipe,
}

/// What the Train view asks the window to do.
pub enum TrainAction {
    /// Show the generator of this checkpoint in Explore.
    LoadIntoExplore { run: PathBuf, step: u64 },
    /// Draw Explore's faces with this checkpoint's generator too, beside the model on show.
    CompareInExplore { run: PathBuf, step: u64 },
}

/// Where recipe files are saved unless the person picks another folder: the folder new runs
/// go in (`runs/` in the working folder, made when first needed), or the working folder.
fn recipes_folder() -> PathBuf {
    let runs = super::absolute(Path::new("runs"));
    if std::fs::create_dir_all(&runs).is_ok() {
        runs
    } else {
        super::absolute(Path::new("."))
    }
}

/// The form: every setting of `drgan-studio train`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainForm {
    /// Network size.
    pub preset: Preset,
    /// Real images per step.
    pub batch: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Adam β1.
    pub beta1: f32,
    /// Adam β2.
    pub beta2: f32,
    /// The step to train to.
    pub steps: u64,
    /// The G/D balance.
    pub balance: Balance,
    /// Where the model runs.
    pub device: DeviceChoice,
    /// Seed of weights, batches and codes.
    pub seed: u64,
    /// Steps between checkpoints.
    pub checkpoint_every: u64,
    /// Mirror training images half the time.
    pub flip: bool,
    /// Fraction of identities held out.
    pub test_fraction: f32,
    /// The run folder of a new run.
    pub out: PathBuf,
    /// Steps between quick evaluations (0: none).
    #[serde(default)]
    pub eval_every: u64,
    /// The training recipe.
    #[serde(default = "studio_recipe")]
    pub recipe: Recipe,
    /// The recipe's choices of network (part of the recipe on screen).
    #[serde(default = "studio_architecture")]
    pub architecture: Architecture,
    /// Train the multi-image DR-GAN (groups of photos of one person, fused by confidence).
    #[serde(default)]
    pub multi: bool,
    /// Photos per person in a group.
    #[serde(default = "default_images_per_id")]
    pub images_per_id: usize,
    /// Fraction of G's inputs degraded in multi-image training.
    #[serde(default = "default_degrade_fraction")]
    pub degrade_fraction: f32,
    /// Groups per multi-image batch, the rest single photos of other people; 0: the whole
    /// batch in groups.
    #[serde(default)]
    pub groups_per_batch: usize,
    /// Whether D's real faces in multi-image training are drawn independently of the groups.
    #[serde(default)]
    pub d_real_apart: bool,
}

fn default_images_per_id() -> usize {
    6
}

fn default_degrade_fraction() -> f32 {
    0.25
}

fn studio_recipe() -> Recipe {
    RecipeName::Studio.recipe()
}

fn studio_architecture() -> Architecture {
    RecipeName::Studio.architecture()
}

impl Default for TrainForm {
    fn default() -> Self {
        Self {
            preset: Preset::Tiny,
            batch: 16,
            learning_rate: RecipeName::Studio.learning_rate(),
            beta1: 0.5,
            beta2: 0.999,
            steps: 300,
            balance: Balance::default(),
            device: DeviceChoice::Auto,
            seed: 0,
            checkpoint_every: 50,
            flip: false,
            test_fraction: 0.2,
            out: PathBuf::from("runs/studio"),
            eval_every: 0,
            recipe: studio_recipe(),
            architecture: studio_architecture(),
            multi: false,
            images_per_id: default_images_per_id(),
            degrade_fraction: default_degrade_fraction(),
            groups_per_batch: 0,
            d_real_apart: false,
        }
    }
}

impl TrainForm {
    /// Shows `settings` (with `preset` and the network choices `architecture`) on the form.
    pub fn apply(&mut self, preset: Preset, settings: &TrainSettings, architecture: Architecture) {
        self.preset = preset;
        self.batch = settings.batch_size;
        self.learning_rate = settings.learning_rate;
        self.beta1 = settings.beta1;
        self.beta2 = settings.beta2;
        self.steps = settings.steps;
        self.seed = settings.seed;
        self.checkpoint_every = settings.checkpoint_every;
        self.balance = settings.balance.clone();
        self.flip = settings.flip;
        self.test_fraction = settings.test_fraction;
        self.device = settings.device;
        self.eval_every = settings.eval_every;
        self.recipe = settings.recipe.clone();
        self.architecture = architecture;
        self.multi = settings.multi.is_some();
        if let Some(multi) = &settings.multi {
            self.images_per_id = multi.images_per_id;
            self.degrade_fraction = multi.degrade_fraction;
            self.groups_per_batch = multi.groups_per_batch.unwrap_or(0);
            self.d_real_apart = multi.d_real_apart;
        }
    }

    /// The training settings the form describes.
    pub fn settings(&self) -> TrainSettings {
        TrainSettings {
            steps: self.steps,
            batch_size: self.batch.max(1),
            learning_rate: self.learning_rate,
            beta1: self.beta1,
            beta2: self.beta2,
            seed: self.seed,
            checkpoint_every: self.checkpoint_every.max(1),
            balance: self.balance.clone(),
            flip: self.flip,
            test_fraction: self.test_fraction,
            device: self.device,
            cfp_two_bins: false,
            eval_every: self.eval_every,
            recipe: self.recipe.clone(),
            multi: self.multi.then(|| self.multi_image()),
        }
    }

    /// The multi-image settings the form describes (used when its switch is on).
    fn multi_image(&self) -> MultiImage {
        MultiImage {
            images_per_id: self.images_per_id,
            degrade_fraction: self.degrade_fraction,
            groups_per_batch: (self.groups_per_batch > 0).then_some(self.groups_per_batch),
            d_real_apart: self.d_real_apart,
        }
    }
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Settings {
    form: TrainForm,
    curves: CurveSettings,
}

/// A run on show: going, finished, or opened from disk.
pub struct RunView {
    /// Its folder.
    pub path: PathBuf,
    /// Its configuration.
    pub config: RunConfig,
    /// Its metrics so far.
    pub metrics: Vec<StepMetrics>,
    /// Its quick evaluations so far (`eval.jsonl`).
    pub evals: Vec<StepEval>,
    /// Its checkpoints (steps).
    pub checkpoints: Vec<u64>,
    /// Whether the model thread is training it.
    pub going: bool,
    /// Whether it is paused.
    pub paused: bool,
    /// Whether it is the built-in model's run, whose files the repository holds, so that it is
    /// trained further in a new run ("start from") rather than resumed in place.
    pub shipped: bool,
    grid: Option<egui::TextureHandle>,
    message: Option<String>,
    /// When the model thread began training it, until its first step arrives: that step
    /// compiles and tunes every kernel on a GPU (a minute or more on a fresh machine).
    first_step_since: Option<Instant>,
}

/// A run asked of the model thread that has not begun: it reads the face set and loads or
/// trains what the run starts from (a pose teacher, a checkpoint) before its first step.
struct Starting {
    /// The run's folder.
    run: PathBuf,
    /// What the model thread does meanwhile, in words.
    doing: String,
    /// When it was asked for.
    since: Instant,
}

/// The Train view's state.
#[derive(Default)]
pub struct TrainView {
    settings: Settings,
    /// The run on show.
    pub run: Option<RunView>,
    /// The dialog of "Open run…".
    chooser: FileChooser<Chosen>,
    /// Whether a new run starts from the open run's newest checkpoint rather than fresh weights
    /// (not kept between launches, as the open run is not).
    pub start_from_open_run: bool,
    /// The run asked for and not begun yet.
    starting: Option<Starting>,
    /// What the last recipe file saved or loaded did.
    recipe_message: Option<String>,
}

impl TrainView {
    /// The view with settings restored from their JSON (defaults when absent or unreadable).
    pub fn restore(json: Option<&str>) -> Self {
        Self { settings: json.and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default(), ..Self::default() }
    }

    /// The settings to persist.
    pub fn settings_json(&self) -> String {
        serde_json::to_string(&self.settings).unwrap_or_default()
    }

    /// Whether a run is training (or paused) on the model thread.
    pub fn is_training(&self) -> bool {
        self.run.as_ref().is_some_and(|run| run.going)
    }

    /// Whether a run was asked for and has not begun (or failed to) yet.
    pub fn is_starting(&self) -> bool {
        self.starting.is_some()
    }

    /// The model thread ended: no run is starting or going any more (what it wrote stays on
    /// disk, and Resume picks it up after a restart).
    pub fn model_thread_stopped(&mut self) {
        self.starting = None;
        if let Some(run) = &mut self.run {
            (run.going, run.paused, run.first_step_since) = (false, false, None);
        }
    }

    /// The form (tests and scripts fill it in).
    pub fn form_mut(&mut self) -> &mut TrainForm {
        &mut self.settings.form
    }

    /// Takes in a training event from the model thread.
    pub fn on_event(&mut self, event: Event, ctx: &egui::Context, status: &mut StatusBar) {
        match event {
            Event::TrainingStarted { run, config, history, evals, resumed_from, notes } => {
                self.starting = None;
                status.succeeded(Topic::Training);
                let mut message: Vec<String> = resumed_from
                    .map(|s| format!("resumed from step {s}"))
                    .into_iter()
                    .collect();
                message.extend(notes);
                self.run = Some(RunView {
                    checkpoints: RunDir::new(&run).checkpoints(),
                    path: run,
                    config: *config,
                    metrics: history,
                    evals,
                    going: true,
                    paused: false,
                    shipped: false,
                    grid: None,
                    message: (!message.is_empty()).then(|| message.join("\n")),
                    first_step_since: Some(Instant::now()),
                });
            }
            Event::TrainingNotStarted(message) => {
                self.starting = None;
                status.error_about(Topic::Training, format!("the run did not start: {message}"));
            }
            Event::Step(metrics) => {
                if let Some(run) = &mut self.run {
                    run.metrics.push(metrics);
                    run.first_step_since = None;
                }
            }
            Event::StepEval(eval) => {
                if let Some(run) = &mut self.run {
                    run.evals.push(eval);
                }
            }
            Event::Checkpoint { grid } => {
                if let Some(run) = &mut self.run {
                    run.checkpoints = RunDir::new(&run.path).checkpoints();
                    if let Some(grid) = grid {
                        run.grid = Some(super::texture(ctx, "train-grid", &grid, egui::TextureOptions::NEAREST));
                    }
                }
            }
            Event::Paused(paused) => {
                if let Some(run) = &mut self.run {
                    run.paused = paused;
                }
            }
            Event::TrainingEnded { message, failed } => {
                if failed {
                    status.error(format!("training stopped: {message}"));
                }
                if let Some(run) = &mut self.run {
                    run.going = false;
                    run.paused = false;
                    run.checkpoints = RunDir::new(&run.path).checkpoints();
                    run.message = Some(message);
                }
            }
            Event::Exported(message) => {
                status.succeeded(Topic::Export);
                if let Some(run) = &mut self.run {
                    run.message = Some(message);
                }
            }
            _ => {}
        }
    }

    /// Starts a new run on `faces` with the form's settings, in the form's folder (or the
    /// first free folder beside it).
    pub fn start(&mut self, worker: &WorkerHandle, faces: Option<(DataSource, Arc<FaceSet>)>) -> anyhow::Result<PathBuf> {
        let (source, faces) = faces.ok_or_else(|| anyhow::anyhow!("open a face set in the Faces view first"))?;
        let form = &self.settings.form;
        form.recipe.validate()?;
        form.architecture.validate(&form.recipe)?;
        let mut config = plan(form.preset, form.settings(), source, &faces)?;
        form.architecture.apply(&mut config.model);
        config.model.confidence = form.multi;
        let path = free_run_dir(&form.out);
        let init_from = self.start_from().map(Path::to_path_buf);
        let mut doing = vec!["reading the face set"];
        if init_from.is_some() {
            doing.push("loading the open run's weights");
        }
        if config.training.recipe.pose_teacher_weight > 0.0 {
            doing.push("training the pose teacher (a minute or two at small)");
        }
        self.starting = Some(Starting { run: path.clone(), doing: doing.join(", "), since: Instant::now() });
        worker.send(Command::StartTraining { run: path.clone(), config: Box::new(config), init_from });
        Ok(path)
    }

    /// The open run, when a new run is to start from its newest checkpoint.
    fn start_from(&self) -> Option<&Path> {
        let run = self.run.as_ref().filter(|run| self.start_from_open_run && !run.checkpoints.is_empty())?;
        Some(&run.path)
    }

    /// Opens the run folder at `path` to look at its curves, checkpoints and newest grid.
    pub fn open_run(&mut self, path: PathBuf, ctx: &egui::Context) -> anyhow::Result<()> {
        let dir = RunDir::new(&path);
        let config = dir.read_config()?;
        let metrics = dir.read_metrics()?;
        let evals = dir.read_evals()?;
        let notes: Vec<String> = metrics.note("metrics.jsonl").into_iter().chain(evals.note("eval.jsonl")).collect();
        let (metrics, evals) = (metrics.values, evals.values);
        let checkpoints = dir.checkpoints();
        let grid = newest_grid(&dir).map(|image| super::texture(ctx, "train-grid", &image, egui::TextureOptions::NEAREST));
        self.settings.form.steps = self.settings.form.steps.max(metrics.last().map_or(0, |m| m.step));
        let message = (!notes.is_empty()).then(|| notes.join("\n"));
        let shipped = super::shipped::is_shipped_run(&path);
        self.run = Some(RunView { path, config, metrics, evals, checkpoints, going: false, paused: false, shipped, grid, message, first_step_since: None });
        Ok(())
    }

    /// Fills the form from the recipe file at `path` (the settings it leaves out stay); says what
    /// it did, and whether the file names another face set than the `open` one.
    pub fn load_recipe(
        &mut self,
        path: &Path,
        open: Option<&DataSource>,
    ) -> anyhow::Result<String> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file = RecipeFile::parse(&text)?;
        let form = &mut self.settings.form;
        let (preset, settings, architecture) =
            file.over(form.preset, &form.settings(), form.architecture)?;
        form.apply(preset, &settings, architecture);
        let mut said = format!("recipe loaded from {}", path.display());
        if let Some(data) = file.data_source().filter(|data| Some(data) != open) {
            let named = match &data {
                DataSource::Folder(path) => path.display().to_string(),
                DataSource::Synthetic(spec) => format!(
                    "a synthetic set of {} people (seed {}, {} lights)",
                    spec.identities, spec.seed, spec.lights
                ),
            };
            said.push_str(&format!(
                "; it was made on {named}: open that face set in the Faces view to train on it"
            ));
        }
        Ok(said)
    }

    /// Draws the view; returns what the window should do.
    pub fn ui(&mut self, ui: &mut egui::Ui, worker: &WorkerHandle, faces: Option<(DataSource, Arc<FaceSet>)>, status: &mut StatusBar) -> Option<TrainAction> {
        egui::Panel::left("train-form").default_size(290.0).resizable(true).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                if let Err(error) = self.form_ui(ui, worker, faces) {
                    status.error(format!("{error:#}"));
                }
            });
        });
        egui::CentralPanel::default_margins().show(ui, |ui| self.run_ui(ui)).inner
    }

    fn form_ui(&mut self, ui: &mut egui::Ui, worker: &WorkerHandle, faces: Option<(DataSource, Arc<FaceSet>)>) -> anyhow::Result<()> {
        let training = self.run.as_ref().is_some_and(|r| r.going);
        let starting = self.starting.is_some();
        let going = training || starting;
        let open_data = faces.as_ref().map(|(source, _)| source.clone());
        ui.heading("New run");
        match &faces {
            Some((_, set)) => ui.label(format!("on {} ({} images)", set.origin, set.samples.len())),
            None => ui.label("open a face set in the Faces view first"),
        };
        ui.add_enabled_ui(!going, |ui| {
            form_fields_ui(ui, &mut self.settings.form);
            self.start_from_ui(ui);
        });
        ui.horizontal(|ui| {
            let reasons = [(training, "a run is training: stop it first"), (starting, "a run is starting"), (faces.is_none(), "open a face set in the Faces view first")];
            if button_unless(ui, "Start", &reasons).clicked() {
                self.start(worker, faces)?;
            }
            if button_unless(ui, "Open run…", &[(training, "a run is training: stop it first"), (starting, "a run is starting"), (self.chooser.is_busy(), DIALOG_OPEN)]).clicked() {
                self.chooser.open(ui.ctx(), Chosen::Run, Request::Folder { start: Some(PathBuf::from("runs")) });
            }
            Ok::<(), anyhow::Error>(())
        })
        .inner?;
        ui.horizontal(|ui| {
            if button_unless(ui, "Save recipe…", &[(self.chooser.is_busy(), DIALOG_OPEN)]).on_hover_text("Every setting of the form (and the open face set) as a TOML file: `drgan-studio train --config FILE` runs it").clicked() {
                let form = &self.settings.form;
                match RecipeFile::of(form.preset, &form.settings(), form.architecture, open_data.as_ref()).to_toml() {
                    Ok(text) => self.chooser.open(ui.ctx(), Chosen::SaveRecipe(text), Request::Save { name: "recipe.toml".to_owned(), folder: recipes_folder() }),
                    Err(error) => self.recipe_message = Some(format!("{error:#}")),
                }
            }
            if button_unless(ui, "Load recipe…", &[(going, "a run is going"), (self.chooser.is_busy(), DIALOG_OPEN)]).on_hover_text("Fill the form from a recipe file; the settings it leaves out stay as they are").clicked() {
                self.chooser.open(ui.ctx(), Chosen::LoadRecipe, Request::File);
            }
        });
        if let Some(message) = &self.recipe_message {
            ui.label(message);
        }
        match self.chooser.ui(ui) {
            Some((Chosen::Run, mut paths)) if !paths.is_empty() => {
                self.open_run(paths.remove(0), ui.ctx())?
            }
            Some((Chosen::SaveRecipe(text), mut paths)) if !paths.is_empty() => {
                let path = super::save_target(&paths.remove(0));
                self.recipe_message = Some(match std::fs::write(&path, text) {
                    Ok(()) => format!("recipe saved to {}", path.display()),
                    Err(error) => format!("could not save {}: {error}", path.display()),
                });
            }
            Some((Chosen::LoadRecipe, mut paths)) if !paths.is_empty() => {
                let path = super::absolute(&paths.remove(0));
                self.recipe_message = Some(match self.load_recipe(&path, open_data.as_ref()) {
                    Ok(said) => said,
                    Err(error) => format!("{} not loaded: {error:#}", path.display()),
                });
            }
            Some((Chosen::Export { step }, mut paths)) if !paths.is_empty() => {
                if let Some(run) = &self.run {
                    worker.send(Command::Export {
                        run: run.path.clone(),
                        step,
                        out: super::absolute(&paths.remove(0)),
                    });
                }
            }
            _ => {}
        }
        ui.separator();
        let Some(run) = &self.run else { return Ok(()) };
        ui.heading("This run");
        ui.label(run.path.display().to_string());
        if run.shipped {
            ui.label("The built-in model's run: tick \"start from\" above to train it further in a run of your own.");
            return Ok(());
        }
        ui.horizontal(|ui| {
            if run.going {
                if run.paused {
                    if ui.button("Continue").clicked() {
                        worker.send(Command::Continue);
                    }
                    if ui.button("Step").on_hover_text("Train one step").clicked() {
                        worker.send(Command::StepOnce);
                    }
                } else if ui.button("Pause").clicked() {
                    worker.send(Command::Pause);
                }
                if ui.button("Stop").on_hover_text("Write a checkpoint and end the run").clicked() {
                    worker.send(Command::Stop);
                }
            } else if button_unless(ui, "Resume", &[(self.starting.is_some(), "a run is starting")])
                .on_hover_text("Continue from the newest checkpoint to the form's step count, on the form's device")
                .clicked()
            {
                let doing = "reading the face set and the checkpoint".to_owned();
                self.starting = Some(Starting { run: run.path.clone(), doing, since: Instant::now() });
                worker.send(Command::ResumeTraining { run: run.path.clone(), steps: self.settings.form.steps, device: self.settings.form.device });
            }
        });
        Ok(())
    }

    /// "Start from the open run's model": fresh weights or the open run's newest checkpoint.
    fn start_from_ui(&mut self, ui: &mut egui::Ui) {
        let newest = self.run.as_ref().and_then(|run| Some((*run.checkpoints.last()?, run.config.model.preset)));
        match newest {
            Some((step, preset)) => {
                let ticked = ui
                    .checkbox(&mut self.start_from_open_run, format!("start from the open run's step {step}"))
                    .on_hover_text("Begin with every weight of the open run's newest checkpoint whose shape agrees, as train --init-from does (the preset becomes the open run's); otherwise from fresh weights")
                    .changed();
                if ticked && self.start_from_open_run {
                    self.settings.form.preset = preset;
                }
            }
            None => self.start_from_open_run = false,
        }
        let form = &self.settings.form;
        let continues = RecipeName::of(&form.recipe, form.architecture).is_some_and(RecipeName::continues_a_model);
        if continues && self.start_from().is_none() {
            ui.colored_label(ui.visuals().warn_fg_color, "polish continues a trained model: open its run and tick \"start from\"");
        }
    }

    fn run_ui(&mut self, ui: &mut egui::Ui) -> Option<TrainAction> {
        if let Some(starting) = &self.starting {
            starting_ui(ui, starting);
        }
        let Some(run) = &self.run else {
            ui.label("Start a run, or open one from disk to see its curves.");
            return None;
        };
        progress_ui(ui, run);
        if let Some(message) = &run.message {
            ui.label(message);
        }
        plots::controls_ui(ui, &mut self.settings.curves);
        let mut action = None;
        egui::Panel::right("train-grid").default_size(360.0).resizable(true).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                if let Some(grid) = &run.grid {
                    ui.strong("Sample grid: input, then every pose bin");
                    let width = ui.available_width().min(grid.size_vec2().x * 2.0);
                    let size = grid.size_vec2() * (width / grid.size_vec2().x);
                    ui.add(egui::Image::new((grid.id(), size)));
                }
                ui.strong("Checkpoints");
                if run.checkpoints.is_empty() {
                    ui.label("none yet");
                }
                for &step in run.checkpoints.iter().rev() {
                    ui.horizontal(|ui| {
                        ui.label(format!("step {step}"));
                        if ui.button("Load into Explore").clicked() {
                            action = Some(TrainAction::LoadIntoExplore { run: run.path.clone(), step });
                        }
                        if ui.button("Compare").on_hover_text("Draw Explore's faces with this checkpoint too, beside the model on show").clicked() {
                            action = Some(TrainAction::CompareInExplore { run: run.path.clone(), step });
                        }
                        if button_unless(ui, "Export…", &[(self.chooser.is_busy(), DIALOG_OPEN)]).on_hover_text("G and D as safetensors named by the SPEC table, with its configuration (NAME.config.json) beside it, for other tools").clicked() {
                            let name = run.path.file_name().map_or_else(|| "run".to_owned(), |n| n.to_string_lossy().into_owned());
                            // Beside the run folder: an export never goes inside one.
                            let folder = super::absolute(&run.path).parent().map_or_else(|| super::absolute(Path::new(".")), Path::to_path_buf);
                            self.chooser.open(ui.ctx(), Chosen::Export { step }, Request::Save { name: format!("{name}-step{step}.safetensors"), folder });
                        }
                    });
                }
            });
        });
        egui::CentralPanel::default_margins().show(ui, |ui| plots::curves_ui(ui, &run.metrics, &run.evals, &self.settings.curves));
        action
    }
}

fn form_fields_ui(ui: &mut egui::Ui, form: &mut TrainForm) {
    egui::Grid::new("train-form-grid").num_columns(2).show(ui, |ui| {
        let label = ui.label("preset");
        egui::ComboBox::from_id_salt("preset")
            .selected_text(form.preset.name())
            .show_ui(ui, |ui| {
                for preset in [Preset::Tiny, Preset::Small, Preset::Paper] {
                    ui.selectable_value(&mut form.preset, preset, format!("{} ({}×{})", preset.name(), preset.image_size(), preset.image_size()));
                }
            })
            .response
            .labelled_by(label.id);
        ui.end_row();
        form_row_ui(ui, "batch", egui::DragValue::new(&mut form.batch).range(1..=1024));
        form_row_ui(ui, "learning rate", egui::DragValue::new(&mut form.learning_rate).speed(1e-5).range(1e-6..=1e-1).max_decimals(6));
        form_row_ui(ui, "β1", egui::DragValue::new(&mut form.beta1).speed(0.01).range(0.0..=0.999));
        form_row_ui(ui, "β2", egui::DragValue::new(&mut form.beta2).speed(0.001).range(0.0..=0.9999));
        form_row_ui(ui, "steps", egui::DragValue::new(&mut form.steps).range(1..=10_000_000));
        form_row_ui(ui, "G steps per D step", egui::DragValue::new(&mut form.balance.g_steps).range(1..=10));
        form_row_ui(ui, "... while D is strong", egui::DragValue::new(&mut form.balance.g_steps_when_d_strong).range(1..=10));
        form_row_ui(ui, "D strong at accuracy", egui::DragValue::new(&mut form.balance.d_strong_accuracy).speed(0.01).range(0.0..=1.0));
        ui.label("device");
        ui.horizontal(|ui| {
            ui.selectable_value(&mut form.device, DeviceChoice::Auto, "auto");
            ui.selectable_value(&mut form.device, DeviceChoice::Gpu, "gpu");
            if crate::device::cuda::BUILT {
                ui.selectable_value(&mut form.device, DeviceChoice::Cuda, "cuda").on_hover_text("burn's CUDA backend on the first NVIDIA GPU");
            }
            ui.selectable_value(&mut form.device, DeviceChoice::Cpu, "cpu");
        });
        ui.end_row();
        form_row_ui(ui, "seed", egui::DragValue::new(&mut form.seed));
        form_row_ui(ui, "checkpoint every", egui::DragValue::new(&mut form.checkpoint_every).range(1..=1_000_000).suffix(" steps"));
        form_row_ui(ui, "mirror images", egui::Checkbox::without_text(&mut form.flip));
        let eval_every = egui::DragValue::new(&mut form.eval_every)
            .range(0..=1_000_000)
            .custom_formatter(|steps, _| if steps == 0.0 { "off".to_owned() } else { format!("{steps} steps") })
            .custom_parser(|text| if text.trim() == "off" { Some(0.0) } else { text.trim().trim_end_matches("steps").trim().parse().ok() });
        form_row_ui(ui, "evaluate every", eval_every);
        form_row_ui(ui, "test fraction", egui::DragValue::new(&mut form.test_fraction).speed(0.01).range(0.0..=0.9));
        form_row_ui(ui, "multi-image", egui::Checkbox::without_text(&mut form.multi));
        if form.multi {
            form_row_ui(ui, "photos per person", egui::DragValue::new(&mut form.images_per_id).range(2..=16));
            groups_per_batch_ui(ui, form);
            people_per_batch_ui(ui, form.batch, &form.multi_image());
            form_row_ui(ui, "degraded fraction", egui::DragValue::new(&mut form.degrade_fraction).speed(0.01).range(0.0..=1.0));
            let label = ui.label("D's real faces apart");
            ui.add(egui::Checkbox::without_text(&mut form.d_real_apart)).labelled_by(label.id).on_hover_text(
                "D's real faces are a batch of their own, drawn independently, not G's groups of a few people (the paper's \
                 batch). In the tiny runs of docs/MULTI-IMAGE.md this kept one photo's identity and fused groups better; in \
                 its small run, from the built-in model, it cost frontal SSIM and pose control.",
            );
            ui.end_row();
        }
        let mut out = form.out.display().to_string();
        let label = ui.label("run folder");
        if ui.text_edit_singleline(&mut out).labelled_by(label.id).changed() {
            form.out = PathBuf::from(out);
        }
        ui.end_row();
    });
    recipe_ui(ui, form);
}

/// The recipe: a named one, or any of its settings changed (then "custom").
fn recipe_ui(ui: &mut egui::Ui, form: &mut TrainForm) {
    ui.horizontal(|ui| {
        let label = ui.label("recipe");
        egui::ComboBox::from_id_salt("recipe")
            .selected_text(form.recipe.describe(form.architecture))
            .show_ui(ui, |ui| {
                for name in RecipeName::ALL {
                    if ui.selectable_label(RecipeName::of(&form.recipe, form.architecture) == Some(name), name.name()).clicked() {
                        form.recipe = name.recipe();
                        form.architecture = name.architecture();
                        form.learning_rate = name.learning_rate();
                    }
                }
            })
            .response
            .on_hover_text(
                "studio: the default, chosen by measurement (docs/ABLATION.md); paper: the CVPR 2017 recipe exactly; polish: continues a trained studio model with a frozen pose teacher at half the learning rate",
            )
            .labelled_by(label.id);
    });
    egui::CollapsingHeader::new("recipe settings").id_salt("recipe-settings").show(ui, |ui| {
        egui::Grid::new("recipe-grid").num_columns(2).show(ui, |ui| {
            let recipe = &mut form.recipe;
            ui.label("D head");
            ui.horizontal(|ui| {
                ui.selectable_value(&mut recipe.d_head, DHead::Paper, "paper (Nd+1)").on_hover_text("Nd+1 identity classes, the last one \"fake\"");
                ui.selectable_value(&mut recipe.d_head, DHead::Tpami, "tpami").on_hover_text("Nd identity classes and a real/fake logit");
            });
            ui.end_row();
            ui.label("decoder upsampling");
            ui.horizontal(|ui| {
                ui.selectable_value(&mut form.architecture.upsample, Upsample::Transposed, "transposed");
                ui.selectable_value(&mut form.architecture.upsample, Upsample::Resize, "resize + conv");
            });
            ui.end_row();
            form_row_ui(ui, "pose code at every decoder scale", egui::Checkbox::without_text(&mut form.architecture.pose_maps));
            form_row_ui(ui, "D pose head: fake class", egui::Checkbox::without_text(&mut form.architecture.pose_fake_class));
            form_row_ui(ui, "D real/fake: pose projection", egui::Checkbox::without_text(&mut form.architecture.pose_projection));
            form_row_ui(ui, "D real/fake: patch critic", egui::Checkbox::without_text(&mut form.architecture.patch_critic));
            form_row_ui(ui, "D judges real and generated as one batch", egui::Checkbox::without_text(&mut recipe.joint_d_batch));
            form_row_ui(ui, "wrong-pose reals weight", egui::DragValue::new(&mut recipe.pose_mismatch_weight).speed(0.05).range(0.0..=1000.0));
            form_row_ui(ui, "label smoothing", egui::DragValue::new(&mut recipe.label_smoothing).speed(0.01).range(0.0..=0.5));
            form_row_ui(ui, "instance noise", egui::DragValue::new(&mut recipe.instance_noise).speed(0.01).range(0.0..=2.0));
            form_row_ui(ui, "D blur radius", egui::DragValue::new(&mut recipe.d_blur).range(0..=MAX_D_BLUR));
            ui.label("D augmentation (colour, shift, cutout)");
            ui.horizontal(|ui| {
                for choice in DAugment::ALL {
                    ui.selectable_value(&mut recipe.d_augment, choice, choice.name());
                }
            });
            ui.end_row();
            form_row_ui(ui, "pose weight", egui::DragValue::new(&mut recipe.pose_weight).speed(0.05).range(0.0..=1000.0));
            form_row_ui(ui, "pose teacher weight", egui::DragValue::new(&mut recipe.pose_teacher_weight).speed(0.05).range(0.0..=1000.0));
            form_row_ui(ui, "pose teacher from (fraction of the run)", egui::DragValue::new(&mut recipe.pose_teacher_start).speed(0.01).range(0.0..=1.0));
            form_row_ui(ui, "identity weight", egui::DragValue::new(&mut recipe.identity_weight).speed(0.05).range(0.0..=1000.0));
            form_row_ui(ui, "reconstruction weight", egui::DragValue::new(&mut recipe.reconstruction_weight).speed(0.05).range(0.0..=1000.0));
            form_row_ui(ui, "edge weight", egui::DragValue::new(&mut recipe.edge_weight).speed(0.05).range(0.0..=1000.0));
            form_row_ui(ui, "D-perceptual weight", egui::DragValue::new(&mut recipe.perceptual_weight).speed(0.05).range(0.0..=1000.0));
            form_row_ui(ui, "own-pose fraction", egui::DragValue::new(&mut recipe.own_pose_fraction).speed(0.01).range(0.0..=1.0));
            form_row_ui(ui, "lr decay from", egui::DragValue::new(&mut recipe.lr_decay_start).speed(0.01).range(0.0..=1.0));
            form_row_ui(ui, "D warm-up steps (real faces only)", egui::DragValue::new(&mut recipe.d_warmup).range(0..=100_000));
            form_row_ui(ui, "D learning rate ×", egui::DragValue::new(&mut recipe.d_lr_factor).speed(0.05).range(0.01..=100.0));
            form_row_ui(ui, "D pose label width (bins)", egui::DragValue::new(&mut recipe.pose_label_sigma).speed(0.05).range(0.0..=10.0));
        });
    });
}

/// Groups per multi-image batch: "all", or a number with single photos of other people after.
fn groups_per_batch_ui(ui: &mut egui::Ui, form: &mut TrainForm) {
    let most = form.batch / form.images_per_id.max(1);
    let groups = egui::DragValue::new(&mut form.groups_per_batch)
        .range(0..=most.max(1))
        .custom_formatter(|groups, _| if groups == 0.0 { "all".to_owned() } else { format!("{groups}") })
        .custom_parser(|text| if text.trim() == "all" { Some(0.0) } else { text.trim().parse().ok() });
    let label = ui.label("groups per batch");
    ui.add(groups).labelled_by(label.id).on_hover_text(
        "The rest of the batch: single photos of other people. In the tiny runs of docs/MULTI-IMAGE.md, 2 groups of 6 in a batch of 24 \
         kept one photo's identity better than 4 groups did, and fused as well; in its small run, from the built-in \
         model, they did not.",
    );
    ui.end_row();
}

/// How many people a multi-image batch holds; or, when a batch all in groups is not whole
/// groups (which Start refuses), the nearest batch sizes that are. (The groups-per-batch field
/// keeps its own value within the batch.)
fn people_per_batch_ui(ui: &mut egui::Ui, batch: usize, multi: &MultiImage) {
    ui.label("people per batch");
    let group = multi.images_per_id.max(1);
    if multi.groups_per_batch.is_none() && !batch.is_multiple_of(group) {
        let people = batch / group;
        let larger = (people + 1) * group;
        let sizes = if people > 0 { format!("{} or {larger}", people * group) } else { larger.to_string() };
        ui.colored_label(ui.visuals().warn_fg_color, format!("a batch of {batch} is not whole groups of {group}: try {sizes}"));
    } else {
        ui.label(multi.people_per_batch(batch).to_string());
    }
    ui.end_row();
}

/// One labelled row of a form grid (the label names the widget for screen readers and tests).
pub fn form_row_ui(ui: &mut egui::Ui, label: &str, widget: impl egui::Widget) {
    let label = ui.label(label);
    ui.add(widget).labelled_by(label.id);
    ui.end_row();
}

fn progress_ui(ui: &mut egui::Ui, run: &RunView) {
    let total = run.config.training.steps.max(1);
    let step = run.metrics.last().map_or(0, |m| m.step);
    let mut text = format!("step {step} / {total}");
    let recent = &run.metrics[run.metrics.len().saturating_sub(RATE_WINDOW)..];
    if run.going
        && let (Some(first), Some(last)) = (recent.first(), recent.last())
        && last.step > first.step
        && last.wall_secs > first.wall_secs
    {
        let secs_per_step = (last.wall_secs - first.wall_secs) / (last.step - first.step) as f64;
        let images_per_sec = run.config.training.batch_size as f64 / secs_per_step;
        let eta = secs_per_step * total.saturating_sub(step) as f64;
        text.push_str(&format!(" · {images_per_sec:.1} img/s · ETA {}", duration(eta)));
    }
    // Said only when the wait is noticeable: a CPU step takes well under that.
    if let Some(waited) = run.first_step_since.map(|since| since.elapsed()).filter(|waited| run.going && !run.paused && waited.as_secs() >= 2) {
        text.push_str(&format!(" · waiting for the first step: {} (on a GPU it compiles and tunes its kernels first)", duration(waited.as_secs_f64())));
    }
    if run.paused {
        text.push_str(" · paused");
    } else if !run.going {
        text.push_str(" · not running");
    }
    ui.add(egui::ProgressBar::new(step as f32 / total as f32).text(text).animate(run.going && !run.paused));
    let architecture = Architecture::of(&run.config.model);
    let recipe = run.config.training.recipe.describe(architecture);
    let multi = run.config.training.multi.as_ref().map_or_else(String::new, |m| format!(" · multi-image, groups of {}", m.images_per_id));
    let started = run.config.started_from.as_ref().map_or_else(String::new, |s| {
        let recipe = s.recipe.as_ref().map_or_else(String::new, |r| format!("recipe {r}; "));
        format!(" · started from {} step {} ({recipe}{} steps, {} images before this run)", s.run, s.step, s.steps_before, s.images_before)
    });
    ui.small(format!("{} · recipe {recipe} · {}{multi}{started}", run.config.model.summary(), run.config.training.balance.describe()))
        .on_hover_text(run.config.training.recipe.summary(architecture));
}

/// A run on its way: its folder, what the model thread is doing, and for how long.
fn starting_ui(ui: &mut egui::Ui, starting: &Starting) {
    ui.horizontal(|ui| {
        ui.spinner();
        let waited = duration(starting.since.elapsed().as_secs_f64());
        ui.label(format!("Preparing {}: {} · {waited}", starting.run.display(), starting.doing));
    });
}

fn duration(secs: f64) -> String {
    let secs = secs.max(0.0).round() as u64;
    if secs >= 3600 { format!("{}h {:02}m", secs / 3600, secs % 3600 / 60) } else { format!("{}m {:02}s", secs / 60, secs % 60) }
}

/// `wanted`, or `wanted-2`, `wanted-3`, … : the first a new run may start in (new or empty).
fn free_run_dir(wanted: &Path) -> PathBuf {
    if RunDir::new(wanted).is_free() {
        return wanted.to_path_buf();
    }
    (2..)
        .map(|n| PathBuf::from(format!("{}-{n}", wanted.display())))
        .find(|path| RunDir::new(path).is_free())
        .unwrap_or_else(|| wanted.to_path_buf())
}

fn newest_grid(run: &RunDir) -> Option<image::RgbImage> {
    let mut grids: Vec<PathBuf> = std::fs::read_dir(run.samples_dir()).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    grids.sort();
    image::open(grids.last()?).ok().map(|i| i.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_model_thread_leaves_nothing_starting_or_going() {
        let (ctx, mut status) = (egui::Context::default(), StatusBar::new(None));
        let run = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/default-run");
        let config = RunDir::new(&run).read_config().expect("the built-in run's config");
        let mut view = TrainView::default();
        view.on_event(Event::TrainingStarted { run: run.clone(), config: Box::new(config), history: Vec::new(), evals: Vec::new(), resumed_from: None, notes: Vec::new() }, &ctx, &mut status);
        view.starting = Some(Starting { run, doing: "reading the face set".to_owned(), since: Instant::now() });
        assert!(view.is_training() && view.is_starting());

        view.model_thread_stopped();
        assert!(!view.is_starting(), "the 'Preparing …' line goes");
        assert!(!view.is_training(), "the run is no longer shown as going");
    }
}

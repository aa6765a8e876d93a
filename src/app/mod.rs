//! The studio window: Faces, Explore, Train and Evaluate views over one model thread.
//!
//! Each view is a plain struct with a `ui` method; views never touch the model, they send
//! [`worker::Command`]s and read [`worker::Event`]s, so the window stays responsive while the
//! model works.

pub mod align;
pub mod dialogs;
pub mod difference;
pub mod evaluate;
pub mod explore;
pub mod faces;
pub mod heatmap;
pub mod kept;
pub mod models;
pub mod plots;
pub mod shipped;
pub mod status_bar;
pub mod thumbnails;
pub mod train;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;

use burn::prelude::Device;
use burn::tensor::wgpu::{WgpuSetup, wgpu};
use eframe::egui;
use eframe::egui_wgpu;

use crate::device::ChosenDevice;
use evaluate::EvaluateView;
use explore::ExploreView;
use faces::{FacesAction, FacesView};
use status_bar::StatusBar;
use train::{TrainAction, TrainView};
use worker::{Command, Event, Topic, WorkerHandle};

/// The views, in tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
pub enum View {
    /// Face sets: open, browse, filter.
    Faces,
    /// One face redrawn at any pose.
    Explore,
    /// Training runs and their curves.
    Train,
    /// Evaluations of models, compared.
    Evaluate,
}

const VIEW_KEY: &str = "view";
/// The window's application id (its settings and data folders are named after it).
const APP_ID: &str = "drgan-studio";

/// How the window starts (the `window` subcommand's options).
#[derive(Clone, Debug, Default)]
pub struct WindowOptions {
    /// The view to show first (otherwise the one shown when the window last closed).
    pub view: Option<View>,
    /// A run folder to open in the Train view.
    pub run: Option<PathBuf>,
    /// Evaluate the built-in model on the Evaluate view's synthetic set at start.
    pub evaluate: bool,
    /// Save a screenshot here once everything on show has loaded, then close. Stored settings
    /// are not read, so the picture shows the defaults.
    pub screenshot: Option<PathBuf>,
    /// A run whose newest generator Explore shows instead of the built-in model.
    pub explore_run: Option<PathBuf>,
    /// Photos of one person to fuse in Explore (a multi-image model).
    pub fuse: Vec<PathBuf>,
    /// A second face whose identity Explore's face is blended into, half way.
    pub blend: Option<PathBuf>,
    /// A run whose newest generator Explore shows beside the built-in model.
    pub compare: Option<PathBuf>,
    /// The map Explore's difference view shows first.
    pub map: Option<heatmap::MapKind>,
    /// A photo to open in Explore.
    pub image: Option<PathBuf>,
    /// Its eyes and mouth: the alignment window opens with them placed.
    pub landmarks: Option<crate::data::align::Landmarks>,
    /// The window's size in points (otherwise 1280×820, or the size it last had).
    pub size: Option<[f32; 2]>,
}

/// A screenshot to take once the view has settled.
struct PendingScreenshot {
    path: PathBuf,
    settled_frames: u32,
    requested: bool,
    result: Arc<std::sync::Mutex<Option<anyhow::Result<()>>>>,
}

/// Frames drawn after everything has loaded before the screenshot is taken.
const SETTLE_FRAMES: u32 = 10;

/// The whole window.
pub struct StudioApp {
    /// The view on show.
    pub view: View,
    /// The Faces view.
    pub faces: FacesView,
    /// The Explore view.
    pub explore: ExploreView,
    /// The Train view.
    pub train: TrainView,
    /// The Evaluate view.
    pub evaluate: EvaluateView,
    /// The status bar.
    pub status: StatusBar,
    /// The model picker atop Explore and Evaluate.
    pub models: models::ModelPicker,
    /// The Train view's run the picker last heard of.
    remembered_train_run: Option<PathBuf>,
    worker: WorkerHandle,
    screenshot: Option<PendingScreenshot>,
}

impl StudioApp {
    /// The studio on `device`, restoring settings from `storage` where there are some, with the
    /// shipped model loaded and the default synthetic faces opened (or the last face set).
    pub fn new(ctx: &egui::Context, storage: Option<&dyn eframe::Storage>, device: ChosenDevice, window_adapter: Option<String>) -> anyhow::Result<Self> {
        let repaint = ctx.clone();
        let worker = WorkerHandle::spawn(device, move || repaint.request_repaint())?;
        worker.send(Command::LoadShipped);
        let restore = |key: &str| storage.and_then(|s| s.get_string(key));
        let view = restore(VIEW_KEY).and_then(|v| serde_json::from_str(&v).ok()).unwrap_or(View::Explore);
        let mut faces = FacesView::restore(restore(faces::SETTINGS_KEY).as_deref());
        faces.open_current(ctx);
        Ok(Self {
            view,
            faces,
            explore: ExploreView::default(),
            train: TrainView::restore(restore(train::SETTINGS_KEY).as_deref()),
            evaluate: EvaluateView::keeping_in(storage.and_then(|_| eframe::storage_dir(APP_ID))),
            status: StatusBar::new(window_adapter),
            models: models::ModelPicker::restore(restore(models::SETTINGS_KEY).as_deref()),
            remembered_train_run: None,
            worker,
            screenshot: None,
        })
    }

    /// Gives the views what the window's wgpu renderer offers: Explore's difference map is
    /// drawn by a shader of its own in the renderer's pass.
    pub fn attach_renderer(&mut self, render_state: Option<&egui_wgpu::RenderState>) {
        self.explore.difference.unavailable = heatmap::install(render_state).err().map(|e| e.to_string());
    }

    /// Starts a run with the Train form's settings on the open face set (what "Start" does).
    pub fn start_training(&mut self) -> anyhow::Result<PathBuf> {
        self.train.start(&self.worker, self.faces.current())
    }

    /// Whether everything on show has loaded (the model, the face, the thumbnails on screen,
    /// a running evaluation).
    pub fn settled(&self) -> bool {
        self.status.model.is_some()
            && self.explore.settled()
            && self.faces.faces.is_some()
            && (self.view != View::Faces || self.faces.thumbnails_ready())
            && self.evaluate.progress.is_none()
    }

    /// Evaluates the model in Explore on the Evaluate view's synthetic set.
    pub fn start_evaluation(&mut self) {
        self.evaluate.start_synthetic(&self.worker);
    }

    /// Takes the screenshot once settled; the window closes after it is saved.
    fn screenshot_when_settled(&mut self, ctx: &egui::Context) {
        let settled = self.settled();
        let Some(pending) = &mut self.screenshot else { return };
        ctx.request_repaint();
        if !settled || pending.requested {
            return;
        }
        pending.settled_frames += 1;
        if pending.settled_frames < SETTLE_FRAMES {
            return;
        }
        pending.requested = true;
        let (path, result, closer) = (pending.path.clone(), pending.result.clone(), ctx.clone());
        ctx.request_screenshot(move |image| {
            let saved = image::RgbaImage::from_raw(image.size[0] as u32, image.size[1] as u32, image.as_raw().to_vec())
                .ok_or_else(|| anyhow::anyhow!("the screenshot had an unexpected size"))
                .and_then(|rgba| rgba.save(&path).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display())));
            if let Ok(mut slot) = result.lock() {
                *slot = Some(saved);
            }
            closer.send_viewport_cmd(egui::ViewportCommand::Close);
        });
    }

    fn on_event(&mut self, event: Event, ctx: &egui::Context) {
        match event {
            Event::DeviceReady { name, reason, software } => self.status.device_ready(name, reason, software),
            Event::ModelLoaded(info) => {
                self.status.succeeded(Topic::Model);
                if let Some(run) = &info.run {
                    self.models.remember(run);
                }
                self.evaluate.model_loaded(info.run.as_deref(), ctx);
                self.status.model_loaded(&info);
                self.explore.model_loaded(info, &self.worker);
            }
            Event::ComparisonLoaded(info) => {
                self.status.succeeded(Topic::Model);
                self.explore.comparison_loaded(info, &self.worker);
            }
            Event::ComparisonEnded => self.explore.comparison_ended(),
            Event::Prepared { source, landmarks, input } => self.explore.prepared(source, landmarks, input, ctx, &self.worker),
            Event::Photo { source, shown, full } => self.explore.photo_loaded(&source, &shown, full, ctx, &self.worker),
            Event::PrepareFailed { source, landmarks } => self.explore.prepare_failed(&source, landmarks),
            Event::AlignFailed { source, reason } => self.explore.align_failed(&source, reason),
            Event::Rendered(rendered) => self.explore.rendered(rendered, ctx),
            Event::Strip {
                input,
                images,
                cosines,
                judged,
            } => self.explore.strip(&input, images, cosines, judged, ctx),
            Event::JudgeChosen(judge) => {
                // Sent before any error of choosing it, so an older judge error is stale now.
                self.status.succeeded(Topic::Judge);
                self.evaluate.judge_chosen(judge.clone());
                self.explore.judge_chosen(judge);
            }
            Event::Judged(verdict) => {
                self.status.succeeded(Topic::Judge);
                self.explore.judged(verdict);
            }
            Event::GroupPrepared {
                sources,
                inputs,
                unreadable,
            } => self
                .explore
                .group_prepared(sources, inputs, unreadable, ctx, &self.worker),
            Event::Fused(fused) => self.explore.fused(fused, ctx),
            Event::EvalProgress { what, fraction } => self.evaluate.progress(what, fraction),
            Event::Evaluated {
                label,
                evaluation,
                run,
            } => {
                self.status.succeeded(Topic::Evaluation);
                self.evaluate
                    .finished(label, *evaluation, run.as_deref(), ctx);
            }
            Event::EvalCancelled => self.evaluate.cancelled(),
            Event::EvalFailed(message) => {
                self.evaluate.failed();
                self.status.error_about(Topic::Evaluation, message);
            }
            Event::Error { about, message } => self.status.error_about(about, message),
            Event::ModelThreadStopped => {
                self.status.error("the model thread stopped; restart the studio (runs on disk are intact)".to_owned());
                self.train.model_thread_stopped();
                self.evaluate.failed();
            }
            other => self.train.on_event(other, ctx, &mut self.status),
        }
    }

    fn tabs_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("DR-GAN Studio");
            ui.separator();
            for (view, label) in [(View::Faces, "Faces"), (View::Explore, "Explore"), (View::Train, "Train"), (View::Evaluate, "Evaluate")] {
                ui.selectable_value(&mut self.view, view, label);
            }
        });
    }

    /// Loads into Explore checkpoint `step` of `run` (its newest when `None`), or the built-in
    /// model when `run` is `None`: what the model picker and "Load into Explore" do.
    pub fn load_model(&mut self, run: Option<PathBuf>, step: Option<u64>) {
        self.worker.send(match run {
            Some(run) => Command::LoadRun { run, step },
            None => Command::LoadShipped,
        });
    }

    /// Fuses photos of one person in Explore: with the model on show when `model_fuses`,
    /// otherwise with the built-in multi-image model, loaded first.
    pub fn fuse_in_explore(&mut self, sources: Vec<crate::data::ImageSource>, model_fuses: bool) {
        if !model_fuses {
            self.worker.send(Command::LoadShippedMulti);
        }
        self.explore.open_group(sources, &self.worker);
    }

    /// Shows the image file at `path` in Explore.
    pub fn open_image(&mut self, path: PathBuf) {
        self.explore.open(crate::data::ImageSource::File(path), &self.worker);
        self.view = View::Explore;
    }

    /// Draws Explore's faces with a second model too: `run`'s checkpoint `step` (the newest
    /// when `None`), beside the model on show.
    pub fn compare_with(&mut self, run: PathBuf, step: Option<u64>) {
        self.explore.comparison_requested();
        self.worker.send(Command::Compare { run, step });
        self.view = View::Explore;
    }

    /// Blends the identity of the face in Explore into the face in `path` ("Blend with…").
    pub fn blend_with_image(&mut self, path: PathBuf) {
        self.explore.blend_with(crate::data::ImageSource::File(path), &self.worker);
        self.view = View::Explore;
    }

    /// A run opened, started or resumed in the Train view joins the model picker.
    fn remember_train_run(&mut self) {
        let Some(run) = self.train.run.as_ref() else {
            return;
        };
        // Once per run (this runs every frame): the shipped runs are in the picker already.
        if self.remembered_train_run.as_ref() != Some(&run.path) {
            if !run.shipped {
                self.models.remember(&run.path);
            }
            self.remembered_train_run = Some(run.path.clone());
        }
    }

    /// Files dropped on the window: an image opens in Explore, anything else as a face set.
    fn dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect());
        for path in dropped {
            if faces::is_image_file(&path) {
                self.open_image(path);
            } else {
                self.faces.open_path(path, ctx);
                self.view = View::Faces;
            }
        }
    }
}

impl eframe::App for StudioApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let started = std::time::Instant::now();
        let ctx = ui.ctx().clone();
        for event in self.worker.poll() {
            self.on_event(event, &ctx);
        }
        self.faces.poll(&ctx, &mut self.status);
        self.evaluate.poll();
        self.dropped_files(&ctx);

        egui::Panel::top("tabs").show(ui, |ui| self.tabs_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status.ui(ui));
        egui::CentralPanel::default_margins().show(ui, |ui| match self.view {
            View::Faces => match self.faces.ui(ui, self.status.model.as_ref()) {
                Some(FacesAction::Explore(source)) => {
                    self.explore.open(source, &self.worker);
                    self.view = View::Explore;
                }
                Some(FacesAction::Fuse(sources)) => {
                    let fuses = self.status.model.as_ref().is_some_and(|m| m.fuses);
                    self.fuse_in_explore(sources, fuses);
                    self.view = View::Explore;
                }
                Some(FacesAction::Blend(first, second)) => {
                    self.explore.open(first, &self.worker);
                    self.explore.blend_with(second, &self.worker);
                    self.view = View::Explore;
                }
                None => {}
            },
            View::Explore => {
                self.models.ui(ui, &self.worker, self.status.model.as_ref());
                self.explore.ui(ui, &self.worker);
            }
            View::Evaluate => {
                self.models.ui(ui, &self.worker, self.status.model.as_ref());
                let faces = self.faces.current();
                self.evaluate.ui(ui, &self.worker, faces, self.status.model.as_ref());
            }
            View::Train => {
                let faces = self.faces.current();
                match self.train.ui(ui, &self.worker, faces, &mut self.status) {
                    Some(TrainAction::LoadIntoExplore { run, step }) => {
                        self.worker.send(Command::LoadRun { run, step: Some(step) });
                        self.view = View::Explore;
                    }
                    Some(TrainAction::CompareInExplore { run, step }) => {
                        self.worker.send(Command::Compare { run, step: Some(step) });
                        self.view = View::Explore;
                    }
                    None => {}
                }
            }
        });
        self.remember_train_run();
        self.status.frame_finished(started.elapsed());
        self.screenshot_when_settled(&ctx);
    }

    /// A screenshot shows the window, not wherever the display's pointer happens to rest: while
    /// one is pending, pointer events are dropped, so nothing is hovered and no tooltip shows.
    fn raw_input_hook(&mut self, _ctx: &egui::Context, raw_input: &mut egui::RawInput) {
        if self.screenshot.is_some() {
            raw_input.events.retain(|event| !matches!(event, egui::Event::PointerMoved(_) | egui::Event::MouseMoved(_) | egui::Event::PointerButton { .. }));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.screenshot.is_some() {
            return;
        }
        if let Ok(view) = serde_json::to_string(&self.view) {
            storage.set_string(VIEW_KEY, view);
        }
        storage.set_string(faces::SETTINGS_KEY, self.faces.settings_json());
        storage.set_string(train::SETTINGS_KEY, self.train.settings_json());
        storage.set_string(models::SETTINGS_KEY, self.models.settings_json());
    }

    /// A run still training when the window closes finishes its step and writes a checkpoint
    /// before the process ends.
    fn on_exit(&mut self) {
        if self.train.is_training() {
            eprintln!("the window closed while a run was training: finishing its step and writing a checkpoint…");
            match self.worker.stop_and_wait(CHECKPOINT_PATIENCE) {
                Some(message) => eprintln!("{message}"),
                None => eprintln!("no checkpoint within {} s; the run keeps its previous one", CHECKPOINT_PATIENCE.as_secs()),
            }
        }
    }
}

/// How long closing the window waits for a running run's last checkpoint.
const CHECKPOINT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

/// Grid marks every 15° (the pose bins' spacing), thicker every 30° and 60°, for plots whose
/// x axis is yaw.
pub fn yaw_marks(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    egui_plot::uniform_grid_spacer(|_| [15.0, 30.0, 60.0])(input)
}

/// A button greyed out while any of `reasons`' conditions holds; resting the pointer on it then
/// says the first reason that holds, so a greyed button never leaves the user guessing.
pub fn button_unless(ui: &mut egui::Ui, text: &str, reasons: &[(bool, &str)]) -> egui::Response {
    let reason = reasons.iter().find(|(holds, _)| *holds).map(|(_, why)| *why);
    let response = ui.add_enabled(reason.is_none(), egui::Button::new(text));
    match reason {
        Some(why) => response.on_disabled_hover_text(why),
        None => response,
    }
}

/// `path` made absolute (against the working folder), so that a message names where a file went.
pub fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Where a file the person asked to save goes: `path` made absolute, its folder made if it is
/// not there yet (a typed path may name a new one; if it cannot be made, the write says why).
pub fn save_target(path: &std::path::Path) -> PathBuf {
    let path = absolute(path);
    if let Some(folder) = path.parent() {
        let _ = std::fs::create_dir_all(folder);
    }
    path
}

/// The folder saved pictures go to unless the person picks another: the user's pictures folder
/// (its `DR-GAN Studio` folder, made when first needed), or the home folder.
pub fn pictures_folder() -> PathBuf {
    match dirs::picture_dir() {
        Some(pictures) => {
            let ours = pictures.join("DR-GAN Studio");
            if std::fs::create_dir_all(&ours).is_ok() {
                ours
            } else {
                pictures
            }
        }
        None => dirs::home_dir().unwrap_or_else(|| absolute(std::path::Path::new("."))),
    }
}

/// "saved PATH" and a button that opens the folder it is in (the desktop's file manager).
pub fn saved_ui(ui: &mut egui::Ui, path: &std::path::Path) {
    ui.horizontal_wrapped(|ui| {
        ui.label(format!("saved {}", path.display()));
        if let Some(folder) = path.parent()
            && ui
                .small_button("Open folder")
                .on_hover_text(folder.display().to_string())
                .clicked()
            && let Err(error) = open::that_detached(folder)
        {
            ui.label(format!("(no file manager opened: {error})"));
        }
    });
}

/// Why a button that opens a file dialog is greyed out while another one is open.
pub const DIALOG_OPEN: &str = "a file dialog is open: finish with it first";

/// An RGB image as an egui texture named `name`.
pub fn texture(ctx: &egui::Context, name: impl Into<String>, image: &image::RgbImage, options: egui::TextureOptions) -> egui::TextureHandle {
    ctx.load_texture(name, color_image(image), options)
}

/// An RGB image as egui pixels.
pub fn color_image(image: &image::RgbImage) -> egui::ColorImage {
    egui::ColorImage::from_rgb([image.width() as usize, image.height() as usize], image.as_raw())
}

/// Opens the studio window; returns when it closes.
pub fn run_window(options: WindowOptions) -> anyhow::Result<()> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("DR-GAN Studio")
            .with_inner_size(options.size.unwrap_or([1280.0, 820.0]))
            // A restored size is never smaller than this, whatever the settings file says.
            .with_min_inner_size([720.0, 480.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: wgpu_configuration(),
        // A size asked for wins over the size the window last had: eframe restores that size
        // before this hook runs, whatever `persist_window` says.
        persist_window: options.size.is_none(),
        window_builder: options.size.map(|size| -> eframe::WindowBuilderHook {
            Box::new(move |builder| builder.with_inner_size(size))
        }),
        ..Default::default()
    };
    let result = Arc::new(std::sync::Mutex::new(None));
    let screenshot_result = result.clone();
    eframe::run_native(
        APP_ID,
        native,
        Box::new(move |cc| {
            let (device, adapter) = model_device(cc.wgpu_render_state.as_ref());
            let storage = if options.screenshot.is_some() { None } else { cc.storage };
            let mut app = StudioApp::new(&cc.egui_ctx, storage, device, adapter)?;
            app.attach_renderer(cc.wgpu_render_state.as_ref());
            if let Some(view) = options.view {
                app.view = view;
            }
            if options.evaluate {
                app.start_evaluation();
            }
            if let Some(run) = options.run {
                app.train.open_run(run, &cc.egui_ctx)?;
            }
            if let Some(run) = &options.explore_run {
                app.worker.send(Command::LoadRun {
                    run: run.clone(),
                    step: None,
                });
            }
            if let Some(path) = options.image {
                app.open_image(path);
                if let Some(landmarks) = options.landmarks {
                    app.explore.align_at(landmarks, &app.worker);
                }
            }
            // After the image: opening one clears any blend.
            if let Some(path) = options.blend {
                app.blend_with_image(path);
            }
            if let Some(kind) = options.map {
                app.explore.difference.kind = kind;
            }
            if let Some(run) = options.compare {
                app.compare_with(run, None);
            }
            if !options.fuse.is_empty() {
                app.fuse_in_explore(
                    options
                        .fuse
                        .into_iter()
                        .map(crate::data::ImageSource::File)
                        .collect(),
                    options.explore_run.is_some(),
                );
            }
            app.screenshot = options.screenshot.map(|path| PendingScreenshot { path, settled_frames: 0, requested: false, result: screenshot_result });
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not open: {e}"))?;
    let taken = result.lock().map_err(|_| anyhow::anyhow!("the screenshot thread panicked"))?.take();
    taken.unwrap_or(Ok(()))
}

/// The window's wgpu setup, shared with the model (see [`model_device`]).
fn wgpu_configuration() -> egui_wgpu::WgpuConfiguration {
    egui_wgpu::WgpuConfiguration { wgpu_setup: window_wgpu_setup(), ..Default::default() }
}

/// The window's wgpu device, made so that burn can run the model on it too: egui makes it with
/// every feature and limit the adapter has (burn's autotuner needs its timestamp queries). In a
/// build with the `spirv` feature, on a Vulkan hardware adapter, it is instead the device cubecl
/// makes for its SPIR-V kernels (`vulkan_device`).
pub fn window_wgpu_setup() -> egui_wgpu::WgpuSetup {
    let mut create = egui_wgpu::WgpuSetupCreateNew::without_display_handle();
    #[cfg(feature = "spirv")]
    if let Some(existing) = vulkan_device(&create) {
        return egui_wgpu::WgpuSetup::Existing(existing);
    }
    create.device_descriptor = Arc::new(|adapter: &wgpu::Adapter| wgpu::DeviceDescriptor {
        label: Some("drgan-studio"),
        required_features: adapter.features(),
        required_limits: adapter.limits(),
        ..Default::default()
    });
    egui_wgpu::WgpuSetup::CreateNew(create)
}

/// The best Vulkan hardware adapter, with the device cubecl makes for its SPIR-V kernels: every
/// wgpu feature and limit plus the Vulkan extensions those kernels are compiled for (cooperative
/// matrices, the memory model, 64-bit and 16-bit types, where the driver has them), which a
/// device made by egui would lack. `None` (egui makes the device) where the instance may not use
/// Vulkan, on a software adapter (the model runs on the CPU backend there), where the driver
/// lacks what SPIR-V compilation needs, or where making the device fails (said on stderr). The
/// adapter is picked without a window to check against, and cubecl takes the first queue family.
#[cfg(feature = "spirv")]
fn vulkan_device(create: &egui_wgpu::WgpuSetupCreateNew) -> Option<egui_wgpu::WgpuSetupExisting> {
    if !create.instance_descriptor.backends.contains(wgpu::Backends::VULKAN) {
        return None;
    }
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor { backends: wgpu::Backends::VULKAN, ..wgpu::InstanceDescriptor::new_without_display_handle_from_env() });
    let options = wgpu::RequestAdapterOptions { power_preference: create.power_preference, ..Default::default() };
    let adapter = pollster::block_on(instance.request_adapter(&options)).ok()?;
    if adapter.get_info().device_type == wgpu::DeviceType::Cpu {
        return None;
    }
    match pollster::block_on(cubecl::wgpu::vulkan::try_request_vulkan_device(&adapter)) {
        Ok(Some((device, queue))) => Some(egui_wgpu::WgpuSetupExisting { instance, adapter, device, queue }),
        Ok(None) => None,
        Err(error) => {
            eprintln!("note: the Vulkan device for SPIR-V kernels could not be made ({error}); the window makes its own");
            None
        }
    }
}

/// The model's device: the window's own GPU device when it is a real GPU, otherwise burn's CPU
/// backend (a software adapter runs the model slower than the CPU backend does). Also returns
/// the window's adapter, described.
pub fn model_device(render_state: Option<&egui_wgpu::RenderState>) -> (ChosenDevice, Option<String>) {
    let cpu = |reason: String, software_adapter: bool| ChosenDevice { device: Device::flex(), name: "cpu: burn flex".to_owned(), reason, software_adapter };
    let Some(state) = render_state else {
        return (cpu("the window has no wgpu device; the model runs on the CPU backend".to_owned(), false), None);
    };
    let info = state.adapter.get_info();
    let adapter = format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type);
    if info.device_type == wgpu::DeviceType::Cpu {
        let reason = format!("the window's adapter {adapter} is a software renderer; the model runs on the CPU backend instead");
        return (cpu(reason, true), Some(adapter));
    }
    match share_window_device(state) {
        Ok(device) => (
            ChosenDevice { name: crate::device::name_with_kernel_language(format!("wgpu: {adapter}"), &device), device, reason: "the window's own GPU device".to_owned(), software_adapter: false },
            Some(adapter),
        ),
        Err(error) => (cpu(format!("the GPU {adapter} could not run the model ({error}); the model runs on the CPU backend"), false), Some(adapter)),
    }
}

/// The window's wgpu device registered with burn, so the model's tensors live where the window
/// draws them.
fn share_window_device(state: &egui_wgpu::RenderState) -> Result<Device, burn::tensor::wgpu::WgpuInitError> {
    let setup = WgpuSetup {
        instance: state.instance.clone(),
        adapter: state.adapter.clone(),
        device: state.device.clone(),
        queue: state.queue.clone(),
        backend: state.adapter.get_info().backend,
    };
    Device::wgpu_options().setup(setup).init()
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::{NodeT, Queryable};

    use super::button_unless;

    #[test]
    fn a_greyed_button_says_the_first_reason_that_holds() {
        let mut harness = Harness::new_ui(|ui| {
            ui.ctx().global_style_mut(|style| style.interaction.tooltip_delay = 0.0);
            let _ = button_unless(ui, "Save", &[(false, "not this one"), (true, "nothing to save yet"), (true, "nor this one")]);
            let _ = button_unless(ui, "Open", &[(false, "never shown")]);
        });
        harness.run();
        assert!(harness.get_by_label("Save").accesskit_node().is_disabled());
        assert!(!harness.get_by_label("Open").accesskit_node().is_disabled());
        harness.get_by_label("Save").hover();
        harness.run();
        assert!(harness.query_by_label("nothing to save yet").is_some());
        for hidden in ["not this one", "nor this one", "never shown"] {
            assert!(harness.query_by_label(hidden).is_none(), "{hidden:?} is shown");
        }
    }
}

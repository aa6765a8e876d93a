//! The Explore view: one face redrawn at any pose. A slider with a detent at every pose bin
//! (between bins the pose code blends the two neighbours), the strip of all bins, the true
//! rendering and SSIM for synthetic faces, and identity cosine per bin.

use std::sync::Arc;
use std::time::Instant;

use eframe::egui;
use egui_plot::{Bar, BarChart, HLine, Legend, Plot, PlotPoint, PlotPoints, Points, Text};
use image::{GenericImage, RgbImage};

use super::align::{AlignView, Decision};
use super::dialogs::{FileChooser, Request};
use super::difference::{DifferenceView, Faces};
use super::shipped;
use super::worker::{
    Blend, Command, Fused, JudgeInfo, ModelInfo, Rendered, StripVerdict, Verdict, WorkerHandle,
};
use super::{DIALOG_OPEN, button_unless};
use crate::data::ImageSource;
use crate::data::align::Landmarks;

/// How close (degrees) the slider must come to a bin to snap onto it.
const DETENT: f32 = 2.5;
/// Side at which the fused face is drawn.
const SHOWN: f32 = 192.0;
/// The smallest side the input, output and truth are drawn at (a small window scrolls).
const MIN_SHOWN: f32 = 160.0;
/// The largest side they are drawn at (a 64×64 face at six times its size).
const MAX_SHOWN: f32 = 384.0;
/// The height the faces' captions, the strip of every pose and the identity chart take below
/// the faces.
const BELOW_FACES: f32 = 430.0;
/// The height the difference map's legend and controls take below it, more than the other
/// faces' captions.
const BELOW_DIFFERENCE: f32 = 100.0;
/// The smallest and largest side of each face in the strip of every pose.
const STRIP_SIDE: (f32, f32) = (80.0, 192.0);
/// The smallest and largest height of the identity chart.
const CHART_HEIGHT: (f32, f32) = (150.0, 360.0);
/// The height the strip's title, its yaw labels, the chart's two lines of explanation and its
/// axis take besides the faces and the plot.
const STRIP_AND_CHART_TEXT: f32 = 110.0;

/// The Explore view's state.
pub struct ExploreView {
    model: Option<ModelInfo>,
    source: Option<ImageSource>,
    input: Option<Arc<RgbImage>>,
    /// The pose asked for, in degrees.
    pub yaw: f32,
    /// The seed of the noise `z`.
    pub seed: u64,
    /// The newest redrawn face and the pose it was drawn at.
    pub output: Option<(RgbImage, f32)>,
    /// SSIM of the output against the true rendering (synthetic faces only).
    pub ssim: Option<f64>,
    /// G's own identity cosine of the input and its redrawing at each bin.
    pub cosines: Vec<f32>,
    /// The identity judge for the model's faces (`None`: none applies).
    pub judge: Option<JudgeInfo>,
    /// The judge's verdict on the output on show.
    pub verdict: Option<Verdict>,
    /// The judge's verdicts on the strip on show.
    pub strip_verdict: Option<StripVerdict>,
    /// Whether the strip and cosines on show were drawn from the input on show.
    strip_current: bool,
    /// The input for `source` was asked for and has not arrived (nor failed) yet.
    preparing: bool,
    /// Milliseconds from the newest slider move to its image.
    pub latency_ms: Option<f64>,
    /// Whether the latency is shown (snapshot tests hide it: it differs every run).
    pub show_latency: bool,
    strip: Vec<RgbImage>,
    textures: Textures,
    animate: Option<Instant>,
    /// The yaw, seed and blend of the last render request, so a request goes out only on
    /// change.
    requested: Option<(f32, u64, f32)>,
    message: Option<String>,
    /// The file saved last, shown with a button that opens its folder.
    saved: Option<std::path::PathBuf>,
    /// Several photos of one person being fused (multi-image models).
    group: Option<Group>,
    /// The file dialog in use, and what its path is for.
    chooser: FileChooser<Chosen>,
    /// A second face the current one's identity is blended into.
    second: Option<SecondFace>,
    /// The blend weight the output on show was drawn with.
    output_alpha: f32,
    /// A second model drawing the same face beside the first, and what it drew last.
    pub comparison: Option<Comparison>,
    /// Cosine of `f(input)` and `f(output)` for the output on show, while comparing.
    pub output_cosine: Option<f32>,
    /// A second model was asked for and has not arrived (nor failed) yet.
    comparison_pending: bool,
    /// The output on show and its true rendering, for the difference view.
    compared_faces: Option<(Arc<RgbImage>, Option<Arc<RgbImage>>)>,
    /// The heat map of the output against the truth or the input.
    pub difference: DifferenceView,
    /// Whether the difference view is shown.
    pub show_difference: bool,
    /// The alignment window, while open.
    pub aligner: Option<AlignView>,
    /// The landmarks the current face was aligned by (none: centre-cropped).
    pub alignment: Option<Landmarks>,
}

/// A second model of the same preset, drawing every face beside the first.
pub struct Comparison {
    /// Which model.
    pub info: ModelInfo,
    /// Its output for the face and pose on show, with its SSIM and identity cosine.
    pub drawn: Option<(egui::TextureHandle, Option<f64>, f32)>,
}

/// A second face, and how far the identity slider has moved the current face into it.
struct SecondFace {
    source: ImageSource,
    input: Option<Arc<RgbImage>>,
    texture: Option<egui::TextureHandle>,
    /// 0: the current face's identity; 1: the second face's.
    alpha: f32,
}

/// What a path chosen in Explore's file dialog is for.
enum Chosen {
    /// Faces to open.
    Open,
    /// Where to save this image (the output or the strip as it was when asked).
    Save(RgbImage),
    /// A second face to blend the current one into.
    Blend,
    /// A run whose newest generator to compare with the model on show.
    Compare,
}

/// Photos of one person fused by a multi-image model, and what it drew from them.
struct Group {
    sources: Vec<ImageSource>,
    inputs: Option<Arc<Vec<RgbImage>>>,
    fused: Option<Fused>,
    textures: Vec<egui::TextureHandle>,
}

#[derive(Default)]
struct Textures {
    input: Option<egui::TextureHandle>,
    output: Option<egui::TextureHandle>,
    truth: Option<egui::TextureHandle>,
    strip: Vec<egui::TextureHandle>,
}

impl Default for ExploreView {
    fn default() -> Self {
        Self {
            model: None,
            source: None,
            input: None,
            yaw: 0.0,
            seed: 0,
            output: None,
            ssim: None,
            cosines: Vec::new(),
            judge: None,
            verdict: None,
            strip_verdict: None,
            strip_current: false,
            preparing: false,
            latency_ms: None,
            show_latency: true,
            strip: Vec::new(),
            textures: Textures::default(),
            animate: None,
            requested: None,
            message: None,
            saved: None,
            group: None,
            chooser: FileChooser::default(),
            second: None,
            output_alpha: 0.0,
            comparison: None,
            output_cosine: None,
            comparison_pending: false,
            compared_faces: None,
            difference: DifferenceView::default(),
            show_difference: true,
            aligner: None,
            alignment: None,
        }
    }
}

impl ExploreView {
    /// A model was loaded: read the current face again at its size (or the default face).
    pub fn model_loaded(&mut self, info: ModelInfo, worker: &WorkerHandle) {
        self.model = Some(info);
        if let Some(group) = &self.group {
            let sources = group.sources.clone();
            self.open_group(sources, worker);
            return;
        }
        let source = self.source.clone().unwrap_or_else(default_face);
        let second = self.second.take();
        let (alignment, aligner) = (self.alignment, self.aligner.take());
        self.show(source, alignment, worker);
        self.aligner = aligner;
        if let Some(aligner) = &mut self.aligner {
            aligner.refresh(worker);
        }
        if let Some(second) = second {
            self.set_second(second.source, second.alpha, worker);
        }
    }

    /// Whether what the view shows has arrived (the redrawn face and its strip, or the fused
    /// group).
    pub fn settled(&self) -> bool {
        match &self.group {
            Some(group) => group.fused.is_some(),
            None => {
                let blended = self.second.as_ref().is_none_or(|second| second.input.is_some() && second.alpha == self.output_alpha);
                let compared = !self.comparison_pending && self.comparison.as_ref().is_none_or(|c| c.drawn.is_some());
                let aligned = self.aligner.as_ref().is_none_or(AlignView::settled);
                let drawn = !self.preparing
                    && self.output.is_some()
                    && self.strip_current
                    && !self.cosines.is_empty();
                let judged = self.judge.is_none()
                    || (self.verdict.is_some() && self.strip_verdict.is_some());
                drawn && blended && compared && aligned && judged
            }
        }
    }

    /// Shows several photos of one person, fused by the model's confidences.
    pub fn open_group(&mut self, sources: Vec<ImageSource>, worker: &WorkerHandle) {
        self.message = None;
        self.second = None;
        self.requested = None;
        self.group = Some(Group { sources: sources.clone(), inputs: None, fused: None, textures: Vec::new() });
        if self.model.is_some() {
            worker.send(Command::PrepareGroup { sources });
        }
    }

    /// The photos of the group are ready.
    pub fn group_prepared(&mut self, sources: Vec<ImageSource>, inputs: Arc<Vec<RgbImage>>, unreadable: Vec<String>, ctx: &egui::Context, worker: &WorkerHandle) {
        let same = |g: &Group| g.sources.iter().map(ImageSource::describe).eq(sources.iter().map(ImageSource::describe));
        let Some(group) = self.group.as_mut().filter(|g| same(g)) else { return };
        group.textures = inputs.iter().enumerate().map(|(i, image)| texture(ctx, &format!("explore-group-{i}"), image)).collect();
        group.inputs = Some(inputs);
        group.fused = None;
        if !unreadable.is_empty() {
            self.message = Some(format!("left out: {}", unreadable.join("; ")));
        }
        self.requested = None;
        self.request_render(worker);
    }

    /// The group was fused and drawn.
    pub fn fused(&mut self, fused: Fused, ctx: &egui::Context) {
        let Some(group) = self.group.as_mut().filter(|g| g.inputs.as_ref().is_some_and(|i| Arc::ptr_eq(i, &fused.inputs))) else { return };
        self.textures.output = Some(texture(ctx, "explore-fused", &fused.fused));
        self.textures.strip = fused.singles.iter().enumerate().map(|(i, (image, _))| texture(ctx, &format!("explore-single-{i}"), image)).collect();
        group.fused = Some(fused);
    }

    /// Shows `source` (read by the model thread at the model's size).
    pub fn open(&mut self, source: ImageSource, worker: &WorkerHandle) {
        self.show(source, None, worker);
    }

    /// Shows `source`, centre-cropped or aligned by `alignment`.
    fn show(&mut self, source: ImageSource, alignment: Option<Landmarks>, worker: &WorkerHandle) {
        self.group = None;
        self.second = None;
        self.aligner = None;
        self.alignment = alignment;
        self.source = Some(source.clone());
        self.message = None;
        self.preparing = self.model.is_some();
        if self.preparing {
            worker.send(Command::Prepare { source, landmarks: alignment });
        }
    }

    /// The input for `source` could not be made (the status bar says why).
    pub fn prepare_failed(&mut self, source: &ImageSource, landmarks: Option<Landmarks>) {
        if self.source.as_ref().map(ImageSource::describe) == Some(source.describe()) && landmarks == self.alignment {
            self.preparing = false;
        }
    }

    /// The input on show (at the model's size).
    pub fn input_image(&self) -> Option<&RgbImage> {
        self.input.as_deref()
    }

    /// Opens the alignment window for the face on show.
    pub fn align(&mut self, worker: &WorkerHandle) {
        if let Some(source) = &self.source {
            self.aligner = Some(AlignView::open(source.clone(), worker));
        }
    }

    /// The whole photo for the alignment window arrived.
    pub fn photo_loaded(&mut self, source: &ImageSource, shown: &RgbImage, full: [u32; 2], ctx: &egui::Context, worker: &WorkerHandle) {
        if let Some(aligner) = &mut self.aligner {
            aligner.photo_loaded(source, shown, full, ctx, worker);
        }
    }

    /// The alignment window's photo or crop could not be made.
    pub fn align_failed(&mut self, source: &ImageSource, reason: String) {
        if let Some(aligner) = &mut self.aligner {
            aligner.failed(source, reason);
        }
    }

    /// Opens the alignment window for the face on show with the three points placed.
    pub fn align_at(&mut self, landmarks: Landmarks, worker: &WorkerHandle) {
        if let Some(source) = &self.source {
            self.aligner = Some(AlignView::open_with(source.clone(), landmarks, worker));
        }
    }

    /// Blends the current face's identity into `source`'s, with a slider for how far (the
    /// paper's interpolation figure, at any pose).
    pub fn blend_with(&mut self, source: ImageSource, worker: &WorkerHandle) {
        self.set_second(source, 0.5, worker);
    }

    fn set_second(&mut self, source: ImageSource, alpha: f32, worker: &WorkerHandle) {
        self.second = Some(SecondFace { source: source.clone(), input: None, texture: None, alpha });
        if self.model.is_some() {
            worker.send(Command::Prepare { source, landmarks: None });
        }
    }

    /// The input of the current face, or of the second face, is ready.
    /// `landmarks` says how it was aligned (none: centre-cropped); an aligned crop the
    /// alignment window asked for is shown there first.
    pub fn prepared(&mut self, source: ImageSource, landmarks: Option<Landmarks>, input: Arc<RgbImage>, ctx: &egui::Context, worker: &WorkerHandle) {
        if let (Some(aligner), Some(landmarks)) = (&mut self.aligner, landmarks) {
            aligner.aligned(&source, landmarks, input.clone(), ctx);
        }
        let mut changed = false;
        if let Some(second) = self.second.as_mut().filter(|second| second.source.describe() == source.describe() && landmarks.is_none()) {
            second.texture = Some(texture(ctx, "explore-second", &input));
            second.input = Some(input.clone());
            changed = true;
        }
        if self.source.as_ref().map(ImageSource::describe) == Some(source.describe()) && landmarks == self.alignment {
            self.preparing = false;
            self.set_input(input, ctx);
            changed = true;
        }
        if changed {
            self.requested = None;
            self.request_render(worker);
            self.request_strip(worker);
        }
    }

    fn set_input(&mut self, input: Arc<RgbImage>, ctx: &egui::Context) {
        self.textures.input = Some(texture(ctx, "explore-input", &input));
        self.input = Some(input);
        self.verdict = None;
        self.strip_verdict = None;
        self.output = None;
        self.strip_current = false;
        self.compared_faces = None;
    }

    /// The alignment window, while open: a crop the person chose becomes the input.
    fn aligner_ui(&mut self, ctx: &egui::Context, worker: &WorkerHandle) {
        let Some(aligner) = &mut self.aligner else { return };
        match aligner.ui(ctx, worker) {
            Decision::Open => {}
            Decision::Cancel => self.aligner = None,
            Decision::Use(landmarks, crop) => {
                self.aligner = None;
                self.alignment = Some(landmarks);
                self.set_input(crop, ctx);
                self.requested = None;
                self.request_render(worker);
                self.request_strip(worker);
            }
        }
    }

    /// The second face and the identity slider's weight, once the face is ready.
    fn blend(&self) -> Option<Blend> {
        let second = self.second.as_ref()?;
        Some(Blend { other: second.input.clone()?, alpha: second.alpha })
    }

    /// A redrawn face arrived.
    pub fn rendered(&mut self, rendered: Rendered, ctx: &egui::Context) {
        if !self.input.as_ref().is_some_and(|input| Arc::ptr_eq(input, &rendered.input)) {
            return;
        }
        self.latency_ms = Some(rendered.sent.elapsed().as_secs_f64() * 1e3);
        self.verdict = None;
        self.textures.output = Some(texture(ctx, "explore-output", &rendered.image));
        let truth = match rendered.truth {
            Some((truth, ssim)) => {
                self.textures.truth = Some(texture(ctx, "explore-truth", &truth));
                self.ssim = Some(ssim);
                Some(Arc::new(truth))
            }
            None => {
                self.textures.truth = None;
                self.ssim = None;
                None
            }
        };
        self.compared_faces = Some((Arc::new(rendered.image.clone()), truth));
        self.output = Some((rendered.image, rendered.yaw));
        self.output_alpha = rendered.alpha;
        self.output_cosine = rendered.cosine;
        if let (Some(comparison), Some(compared)) = (self.comparison.as_mut(), rendered.compared) {
            comparison.drawn = Some((texture(ctx, "explore-compared", &compared.image), compared.ssim, compared.cosine));
        }
    }

    /// A second model is ready: draw the face on show with it too.
    pub fn comparison_loaded(&mut self, info: ModelInfo, worker: &WorkerHandle) {
        self.comparison_pending = false;
        self.comparison = Some(Comparison { info, drawn: None });
        self.requested = None;
        self.request_render(worker);
    }

    /// A second model was asked for (it arrives as [`Self::comparison_loaded`], or an error).
    pub fn comparison_requested(&mut self) {
        self.comparison_pending = true;
    }

    /// The second model is gone, or could not be loaded.
    pub fn comparison_ended(&mut self) {
        self.comparison_pending = false;
        self.comparison = None;
        self.output_cosine = None;
    }

    /// The strip of all bins arrived.
    pub fn strip(
        &mut self,
        input: &Arc<RgbImage>,
        images: Vec<RgbImage>,
        cosines: Vec<f32>,
        judged: Option<StripVerdict>,
        ctx: &egui::Context,
    ) {
        if !self
            .input
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, input))
        {
            return;
        }
        self.textures.strip = images.iter().enumerate().map(|(i, image)| texture(ctx, &format!("explore-strip-{i}"), image)).collect();
        self.strip = images;
        self.cosines = cosines;
        self.strip_verdict = judged;
        self.strip_current = true;
    }

    /// The identity judge for the model's faces was chosen.
    pub fn judge_chosen(&mut self, judge: Option<JudgeInfo>) {
        self.judge = judge;
        self.verdict = None;
        self.strip_verdict = None;
    }

    /// The judge's verdict on a face drawn at one pose arrived; kept if it is the one on show.
    pub fn judged(&mut self, verdict: Verdict) {
        let current = self
            .input
            .as_ref()
            .is_some_and(|input| Arc::ptr_eq(input, &verdict.input));
        let shown = self
            .output
            .as_ref()
            .is_some_and(|(_, yaw)| *yaw == verdict.yaw)
            && self.output_alpha == verdict.alpha;
        if current && shown {
            self.verdict = Some(verdict);
        }
    }

    /// Whether the judge flags the input as unlike the faces it (and the model) learned from.
    pub fn input_unfamiliar(&self) -> bool {
        self.strip_verdict
            .as_ref()
            .map(|v| v.familiarity.1)
            .or_else(|| self.verdict.as_ref().map(|v| v.familiarity.1))
            .unwrap_or(false)
    }

    fn request_render(&mut self, worker: &WorkerHandle) {
        if let Some(group) = &self.group {
            let Some(inputs) = &group.inputs else { return };
            if self.requested != Some((self.yaw, self.seed, 0.0)) {
                self.requested = Some((self.yaw, self.seed, 0.0));
                worker.send(Command::Fuse { inputs: inputs.clone(), yaw: self.yaw, seed: self.seed });
            }
            return;
        }
        let Some(input) = self.input.clone() else { return };
        let blend = self.blend();
        let key = (self.yaw, self.seed, blend.as_ref().map_or(0.0, |b| b.alpha));
        if self.requested == Some(key) {
            return;
        }
        self.requested = Some(key);
        worker.send(Command::Render { input, blend, source: self.source.clone(), yaw: self.yaw, seed: self.seed, sent: Instant::now() });
    }

    fn request_strip(&self, worker: &WorkerHandle) {
        if let Some(input) = &self.input {
            worker.send(Command::Strip {
                input: input.clone(),
                blend: self.blend(),
                source: self.source.clone(),
                seed: self.seed,
            });
        }
    }

    /// The identity slider, while the face is blended into a second one.
    fn blend_ui(&mut self, ui: &mut egui::Ui, worker: &WorkerHandle) {
        let Some(second) = self.second.as_mut() else { return };
        let mut changed = false;
        let mut stop = false;
        ui.horizontal(|ui| {
            ui.label("identity blend α");
            if let Some(texture) = &self.textures.input {
                ui.add(egui::Image::new((texture.id(), egui::vec2(32.0, 32.0))));
            }
            ui.spacing_mut().slider_width = 300.0;
            changed = ui.add(egui::Slider::new(&mut second.alpha, 0.0..=1.0).fixed_decimals(2)).on_hover_text("0: this face's identity; 1: the second face's").changed();
            match &second.texture {
                Some(texture) => {
                    ui.add(egui::Image::new((texture.id(), egui::vec2(32.0, 32.0))));
                }
                None => {
                    ui.spinner();
                }
            }
            ui.label(clip_label(&short_source(&second.source))).on_hover_text(second.source.describe());
            stop = ui.button("Stop blending").clicked();
        });
        if stop {
            self.second = None;
            changed = true;
        }
        if changed {
            self.request_render(worker);
            self.request_strip(worker);
        }
    }

    fn yaws(&self) -> Vec<f32> {
        self.model.as_ref().map(|m| m.yaws.clone()).unwrap_or_default()
    }

    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui, worker: &WorkerHandle) {
        if self.model.is_none() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("loading the model…");
            });
            return;
        }
        self.controls_ui(ui, worker);
        self.aligner_ui(ui.ctx(), worker);
        ui.separator();
        self.slider_ui(ui, worker);
        if self.group.is_none() {
            self.blend_ui(ui, worker);
        }
        ui.add_space(6.0);
        // A small window scrolls; a large one draws larger faces (see `face_side`).
        egui::ScrollArea::vertical()
            .auto_shrink(false)
            .show(ui, |ui| {
                if self.group.is_some() {
                    self.group_ui(ui);
                } else {
                    self.unfamiliar_ui(ui);
                    self.images_ui(ui);
                    ui.separator();
                    self.strip_ui(ui);
                }
                if let Some(message) = &self.message {
                    ui.label(message);
                }
                if let Some(path) = &self.saved {
                    super::saved_ui(ui, path);
                }
            });
    }

    /// The side at which the faces are drawn: as large as the row of faces lets them be in the
    /// window's width, between [`MIN_SHOWN`] and [`MAX_SHOWN`].
    fn face_side(&self, ui: &egui::Ui) -> f32 {
        let columns = 2
            + usize::from(self.comparison.is_some())
            + usize::from(self.textures.truth.is_some())
            + usize::from(self.show_difference);
        let spacing = ui.spacing().item_spacing.x;
        let across =
            (ui.available_width() - 16.0 - spacing * (columns as f32 - 1.0)) / columns as f32;
        // Room below the faces for their captions, the strip and the identity chart.
        let below = BELOW_FACES
            + if self.show_difference {
                BELOW_DIFFERENCE
            } else {
                0.0
            };
        let down = ui.available_height() - below;
        across.min(down).clamp(MIN_SHOWN, MAX_SHOWN).floor()
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, worker: &WorkerHandle) {
        let busy = self.chooser.is_busy();
        let fused = self.group.is_some();
        const FUSED: &str = "not while several photos are fused: open a single face first";
        ui.horizontal_wrapped(|ui| {
            if button_unless(ui, "Open image…", &[(busy, DIALOG_OPEN)]).on_hover_text("One face to turn, or several photos of one person to fuse (a multi-image model)").clicked() {
                self.chooser.open(ui.ctx(), Chosen::Open, Request::Images);
            }
            if button_unless(ui, "Blend with…", &[(busy, DIALOG_OPEN), (fused, FUSED)]).on_hover_text("Walk this face's identity into another face's (Faces: Ctrl-click two faces, then \"Blend in Explore\")").clicked() {
                self.chooser.open(ui.ctx(), Chosen::Blend, Request::File);
            }
            let reasons = [(fused, FUSED), (self.aligner.is_some(), "the alignment window is open"), (self.source.is_none(), "open a face first")];
            if button_unless(ui, "Align…", &reasons).on_hover_text("Click the eyes and mouth on the photo, so it is placed as the model's training faces are").clicked() {
                self.align(worker);
            }
            if self.comparison.is_some() {
                if ui.button("Stop comparing").clicked() {
                    worker.send(Command::StopComparing);
                }
            } else if button_unless(ui, "Compare with run…", &[(busy, DIALOG_OPEN), (fused, FUSED)]).on_hover_text("Draw each face with a second model too (another run of the same preset; or a checkpoint from the Train view's list)").clicked() {
                self.chooser.open(ui.ctx(), Chosen::Compare, Request::Folder { start: Some(std::path::PathBuf::from("runs")) });
            }
            ui.toggle_value(&mut self.show_difference, "Differences").on_hover_text("A heat map of where the redrawn face differs from the true one (or from the input)");
            if ui.button("Frontalize").on_hover_text("Jump to 0°").clicked() {
                self.yaw = 0.0;
                self.animate = None;
            }
            let mut animating = self.animate.is_some();
            if ui.toggle_value(&mut animating, "Animate").on_hover_text("Sweep the pose back and forth").changed() {
                self.animate = animating.then(Instant::now);
            }
            ui.separator();
            let label = ui.label("noise seed");
            let seed_changed = ui.add(egui::DragValue::new(&mut self.seed)).labelled_by(label.id).changed();
            let reseed = ui.button("Reseed").clicked();
            if reseed {
                self.seed = rand::random::<u32>() as u64;
            }
            if seed_changed || reseed {
                self.request_strip(worker);
            }
            ui.separator();
            // With several photos fused, the output is the face drawn from their fused feature.
            let output = match &self.group {
                Some(group) => group.fused.as_ref().map(|f| (&f.fused, f.yaw, "fused")),
                None => self.output.as_ref().map(|(image, yaw)| (image, *yaw, "redrawn")),
            };
            if button_unless(ui, "Save output…", &[(busy, DIALOG_OPEN), (output.is_none(), "nothing has been drawn yet")]).clicked()
                && let Some((image, yaw, kind)) = output
            {
                self.chooser.open(ui.ctx(), Chosen::Save(image.clone()), Request::Save { name: format!("{kind}_{yaw:+.0}deg.png"), folder: super::pictures_folder() });
            }
            // The strip kept from an earlier face is not this face's: it waits for the new one.
            let no_strip = [
                (busy, DIALOG_OPEN),
                (fused, "several photos fused draw no strip"),
                (self.strip.is_empty() || !self.strip_current, "the strip of this face has not been drawn yet"),
            ];
            if button_unless(ui, "Save strip…", &no_strip).clicked() {
                match self.strip_sheet() {
                    Ok(sheet) => self.chooser.open(ui.ctx(), Chosen::Save(sheet), Request::Save { name: "strip_input_then_all_poses.png".to_owned(), folder: super::pictures_folder() }),
                    Err(e) => self.message = Some(format!("could not assemble the strip: {e}")),
                }
            }
        });
        match self.chooser.ui(ui) {
            Some((Chosen::Blend, mut paths)) if !paths.is_empty() => self.blend_with(ImageSource::File(paths.remove(0)), worker),
            Some((Chosen::Compare, mut paths)) if !paths.is_empty() => {
                self.comparison_requested();
                worker.send(Command::Compare { run: paths.remove(0), step: None });
            }
            Some((Chosen::Open, mut paths)) => match paths.len() {
                0 => {}
                1 => self.open(ImageSource::File(paths.remove(0)), worker),
                _ => self.open_group(paths.into_iter().map(ImageSource::File).collect(), worker),
            },
            Some((Chosen::Save(image), paths)) => {
                if let Some(path) = paths.first().map(|p| super::save_target(p)) {
                    match image.save(&path) {
                        Ok(()) => {
                            self.message = None;
                            self.saved = Some(path);
                        }
                        Err(e) => {
                            self.message = Some(format!("could not save {}: {e}", path.display()))
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn slider_ui(&mut self, ui: &mut egui::Ui, worker: &WorkerHandle) {
        let yaws = self.yaws();
        let (Some(&first), Some(&last)) = (yaws.first(), yaws.last()) else { return };
        if let Some(started) = self.animate {
            // A full sweep first → last → first every six seconds, in whole degrees: the slider
            // shows whole degrees, and a value it would round counts as a move of its own, which
            // stops the sweep.
            let phase = (started.elapsed().as_secs_f32() / 6.0 * std::f32::consts::TAU).sin();
            self.yaw = ((first + last) / 2.0 + phase * (last - first) / 2.0).round();
            ui.ctx().request_repaint();
        }
        ui.horizontal(|ui| {
            ui.label("pose");
            let width = (ui.available_width() - 150.0).max(200.0);
            ui.spacing_mut().slider_width = width;
            let response = ui.add(egui::Slider::new(&mut self.yaw, first..=last).suffix("°").fixed_decimals(0).text("yaw"));
            if response.changed() {
                self.animate = None;
                if let Some(&bin) = yaws.iter().find(|&&y| (y - self.yaw).abs() < DETENT) {
                    self.yaw = bin;
                }
            }
        });
        ui.horizontal(|ui| {
            ui.label("bins");
            for &bin in &yaws {
                if ui.selectable_label((self.yaw - bin).abs() < 0.01, format!("{bin:+.0}°")).clicked() {
                    self.yaw = bin;
                    self.animate = None;
                }
            }
        });
        self.request_render(worker);
    }

    fn images_ui(&mut self, ui: &mut egui::Ui) {
        let side = self.face_side(ui);
        let size = egui::vec2(side, side);
        ui.horizontal(|ui| {
            let column = |ui: &mut egui::Ui, title: &str, texture: Option<&egui::TextureHandle>, caption: String| {
                ui.vertical(|ui| {
                    // As wide as the face: a long title is cut, and shown whole on hover.
                    ui.set_max_width(size.x);
                    ui.add(egui::Label::new(egui::RichText::new(title).strong()).truncate());
                    match texture {
                        Some(texture) => {
                            // Named for screen readers (and tests): "Input face", "True rendering face"…
                            ui.add(egui::Image::new((texture.id(), size)))
                                .widget_info(|| {
                                    egui::WidgetInfo::labeled(
                                        egui::Role::Image,
                                        true,
                                        format!("{title} face"),
                                    )
                                });
                        }
                        None => {
                            ui.allocate_ui(size, |ui| ui.spinner());
                        }
                    }
                    ui.label(caption);
                });
            };
            let source = self.source.as_ref().map_or_else(String::new, ImageSource::describe);
            column(ui, "Input", self.textures.input.as_ref(), source);
            let mut output_caption =
                match (&self.output, self.latency_ms.filter(|_| self.show_latency)) {
                    (Some((_, yaw)), Some(ms)) => format!("at {yaw:+.1}° · {ms:.0} ms"),
                    (Some((_, yaw)), None) => format!("at {yaw:+.1}°"),
                    _ => String::new(),
                };
            let judged = self.verdict.as_ref().zip(self.judge.as_ref());
            if let Some((verdict, judge)) = judged {
                output_caption.push_str(&format!(
                    "\njudge: {}",
                    judge_words(verdict.similarity, judge.threshold, self.input_unfamiliar())
                ));
                if let Some(second) = verdict.second {
                    output_caption.push_str(&format!("\njudge, to the second face: {second:.2}"));
                }
            }
            match &self.comparison {
                Some(comparison) => {
                    let model = self.model.as_ref().map_or_else(String::new, model_label);
                    if let Some(cosine) = self.output_cosine {
                        output_caption.push_str(&format!("\nG's own cosine {cosine:.3}"));
                    }
                    if let Some(ssim) = self.ssim {
                        output_caption.push_str(&format!(" · SSIM {ssim:.3}"));
                    }
                    column(
                        ui,
                        &format!("A: {model}"),
                        self.textures.output.as_ref(),
                        output_caption,
                    );
                    let mut caption =
                        comparison
                            .drawn
                            .as_ref()
                            .map_or_else(String::new, |(_, ssim, cosine)| match ssim {
                                Some(ssim) => format!("SSIM {ssim:.3}\nits own cosine {cosine:.3}"),
                                None => format!("its own cosine {cosine:.3}"),
                            });
                    if let Some((similarity, judge)) = self
                        .verdict
                        .as_ref()
                        .and_then(|v| v.compared)
                        .zip(self.judge.as_ref())
                    {
                        caption = format!(
                            "judge: {}\n{caption}",
                            judge_words(similarity, judge.threshold, self.input_unfamiliar())
                        );
                    }
                    let title = format!("B: {}", model_label(&comparison.info));
                    column(ui, &title, comparison.drawn.as_ref().map(|(texture, _, _)| texture), caption);
                }
                None => column(ui, "Redrawn by G", self.textures.output.as_ref(), output_caption),
            }
            if let Some(truth) = &self.textures.truth {
                let mut caption = self
                    .ssim
                    .map_or_else(String::new, |s| format!("SSIM {s:.3}"));
                if let Some(similarity) = self.verdict.as_ref().and_then(|v| v.truth) {
                    caption.push_str(&format!("\njudge, output vs truth: {similarity:.2}"));
                }
                column(ui, "True rendering", Some(truth), caption);
            }
            if self.show_difference
                && let (Some((output, truth)), Some(input), Some((_, output_yaw))) = (&self.compared_faces, &self.input, &self.output)
            {
                let input_yaw = match &self.source {
                    Some(ImageSource::Synthetic { yaw, .. }) if self.alignment.is_none() => Some(*yaw),
                    _ => None,
                };
                let faces = Faces {
                    output,
                    output_yaw: *output_yaw,
                    truth: truth.as_ref().map(|t| (t, self.ssim)),
                    input,
                    input_yaw,
                };
                if let Some(yaw) = self.difference.ui(ui, faces, side) {
                    self.yaw = yaw;
                    self.animate = None;
                }
            }
        });
    }

    fn strip_ui(&mut self, ui: &mut egui::Ui) {
        let yaws = self.yaws();
        let side = strip_side(ui, yaws.len());
        ui.strong("All pose bins");
        ui.horizontal(|ui| {
            for (texture, yaw) in self.textures.strip.iter().zip(&yaws) {
                ui.vertical(|ui| {
                    let response = ui.add(egui::Image::new((texture.id(), egui::vec2(side, side))).sense(egui::Sense::click()));
                    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, format!("Strip face at {yaw:+.0}°")));
                    ui.label(format!("{yaw:+.0}°"));
                    if response.on_hover_text("Show this pose").clicked() {
                        self.yaw = *yaw;
                        self.animate = None;
                    }
                });
            }
        });
        if self.cosines.is_empty() {
            return;
        }
        let shown = yaws
            .iter()
            .copied()
            .min_by(|a, b| (a - self.yaw).abs().total_cmp(&(b - self.yaw).abs()));
        let judged = self.strip_verdict.as_ref().zip(self.judge.as_ref());
        let blended = if self.second.is_some() {
            ", against the input's own identity, which blending moves away from"
        } else {
            ""
        };
        match judged {
            Some((_, judge)) => {
                ui.label(format!(
                    "Identity kept, by the identity judge (a face recogniser trained apart from G, on {}): its similarity of the input and the output at each pose{blended}. \
                     Above the dashed line ({:.2}) it calls them one person; 1 % of different people's pairs reach it. Dots: G's own encoder's cosine, which cannot judge G (a flat grey face scores 0.99 there).",
                    judge.knows, judge.threshold
                ))
                .on_hover_text(&judge.summary);
            }
            None => {
                ui.label(format!("Identity: G's own encoder's cosine of f(input) and f(output) at each pose{blended}. No identity judge applies to this model's faces, and G's own encoder cannot judge G (a flat grey face scores 0.99)."));
            }
        }
        let bar_values: Vec<f32> = judged.map_or_else(
            || self.cosines.clone(),
            |(verdict, _)| verdict.similarities.clone(),
        );
        let highlight = ui.visuals().selection.bg_fill;
        let text_color = ui.visuals().strong_text_color();
        let bars: Vec<Bar> = bar_values
            .iter()
            .zip(&yaws)
            .map(|(&c, &yaw)| {
                let bar = Bar::new(yaw as f64, c as f64).width(10.0).name(format!("{yaw:+.0}°"));
                if shown == Some(yaw) { bar.fill(highlight) } else { bar }
            })
            .collect();
        let values: Vec<Text> = bar_values
            .iter()
            .zip(&yaws)
            .map(|(&c, &yaw)| {
                // Inside the top of a tall bar, above a short one.
                let anchor = if c > 0.3 {
                    egui::Align2::CENTER_TOP
                } else {
                    egui::Align2::CENTER_BOTTOM
                };
                // Unnamed, so that the legend lists the series and not each figure.
                Text::new(
                    "",
                    PlotPoint::new(yaw as f64, c as f64),
                    egui::RichText::new(format!("{c:.2}")).size(13.0),
                )
                .anchor(anchor)
                .color(text_color)
                .allow_hover(false)
            })
            .collect();
        let own: PlotPoints = self
            .cosines
            .iter()
            .zip(&yaws)
            .map(|(&c, &yaw)| [yaw as f64, c as f64])
            .collect();
        let truth: Option<PlotPoints> =
            judged
                .and_then(|(verdict, _)| verdict.truth.as_ref())
                .map(|t| {
                    t.iter()
                        .zip(&yaws)
                        .map(|(&c, &yaw)| [yaw as f64, c as f64])
                        .collect()
                });
        let bars_name = if judged.is_some() {
            "identity judge: input vs output"
        } else {
            "G's own cosine"
        };
        Plot::new("explore-identity")
            .height(chart_height(ui))
            .include_y(0.0)
            // Headroom above 1 for the legend, clear of G's own cosines near 1.
            .include_y(1.45)
            .allow_zoom(false)
            .allow_drag(false)
            .allow_scroll(false)
            .legend(
                Legend::default()
                    .position(egui_plot::Corner::RightTop)
                    .text_style(egui::TextStyle::Small),
            )
            .x_grid_spacer(super::yaw_marks)
            .x_axis_label("requested yaw (°)")
            .show(ui, |plot| {
                plot.bar_chart(BarChart::new(bars_name, bars));
                for value in values {
                    plot.text(value);
                }
                if let Some((_, judge)) = judged {
                    plot.hline(
                        HLine::new(
                            "judge's threshold (1 % false accepts)",
                            judge.threshold as f64,
                        )
                        .style(egui_plot::LineStyle::dashed_loose()),
                    );
                    plot.points(
                        Points::new("G's own encoder's cosine (not a judge)", own).radius(3.0),
                    );
                    if let Some(truth) = truth {
                        plot.points(
                            Points::new("identity judge: output vs true rendering", truth)
                                .radius(3.0)
                                .shape(egui_plot::MarkerShape::Diamond),
                        );
                    }
                }
            });
    }

    /// A warning over the faces when the judge finds the input unlike every face it (and the
    /// model) learned from: the output is a synthetic head, and identity figures do not apply.
    fn unfamiliar_ui(&self, ui: &mut egui::Ui) {
        let Some(judge) = self.judge.as_ref().filter(|_| self.input_unfamiliar()) else {
            return;
        };
        let score = self
            .strip_verdict
            .as_ref()
            .map(|v| v.familiarity.0)
            .or_else(|| self.verdict.as_ref().map(|v| v.familiarity.0))
            .unwrap_or(f32::NAN);
        egui::Frame::group(ui.style()).fill(ui.visuals().warn_fg_color.gamma_multiply(0.15)).show(ui, |ui| {
            ui.colored_label(ui.visuals().warn_fg_color, format!("{}. The model and its identity judge learned from {}.", capitalised(crate::eval::judge::UNFAMILIAR), judge.knows))
                .on_hover_text(format!("The identity judge's familiarity score of the input is {score:.1}, above its threshold, which it set on faces of the kind it learned from (0.5 % of those are above it)."));
            ui.label(crate::eval::judge::WAY_FORWARD);
        });
    }

    /// The photos with their confidence bars, the fused face, and each photo drawn alone.
    fn group_ui(&mut self, ui: &mut egui::Ui) {
        let Some(group) = &self.group else { return };
        if group.inputs.is_none() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("reading the photos…");
            });
            return;
        }
        let fused = group.fused.as_ref();
        ui.strong("Photos of one person, each with its confidence σ(ω) and its share of the fused feature, and each drawn alone at the pose");
        let total: f32 = fused.map_or(0.0, |f| f.confidences.iter().sum());
        ui.horizontal_wrapped(|ui| {
            for (i, photo) in group.textures.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.add(egui::Image::new((photo.id(), egui::vec2(96.0, 96.0))));
                    let confidence = fused.and_then(|f| f.confidences.get(i)).copied();
                    // The figures above the bar, not on it, so the bar's fill never crosses them.
                    ui.label(confidence.map_or_else(String::new, |c| format!("σ(ω) {c:.2} · {:.0} %", 100.0 * c / total.max(f32::MIN_POSITIVE))))
                        .on_hover_text("The photo's confidence, and its share of the fused feature (σ(ω) over the sum of all the photos')");
                    ui.add(egui::ProgressBar::new(confidence.unwrap_or(0.0)).desired_width(96.0).desired_height(6.0));
                    if let Some(single) = self.textures.strip.get(i) {
                        ui.add(egui::Image::new((single.id(), egui::vec2(96.0, 96.0))));
                        if let Some((_, cosine)) = fused.and_then(|f| f.singles.get(i)) {
                            let judged = fused.and_then(|f| f.judged.as_ref()).and_then(|(_, singles)| singles.get(i));
                            match judged {
                                Some(similarity) => ui.label(format!("alone: judge {similarity:.2}\nG's own cosine {cosine:.3}")),
                                None => ui.label(format!("alone: cosine {cosine:.3}")),
                            };
                        }
                    }
                });
            }
        });
        ui.separator();
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.strong("Fused");
                match (&self.textures.output, fused) {
                    (Some(texture), Some(fused)) => {
                        ui.add(egui::Image::new((texture.id(), egui::vec2(SHOWN, SHOWN))));
                        ui.label(format!("at {:+.1}° · cosine of the fused feature and f(output) {:.3}", fused.yaw, fused.fused_cosine));
                        if let Some((to_photos, _)) = &fused.judged {
                            ui.label(format!("identity judge: the fused face against the photos, {to_photos:.2} on average"));
                        }
                    }
                    _ => {
                        ui.allocate_ui(egui::vec2(SHOWN, SHOWN), |ui| ui.spinner());
                    }
                }
            });
        });
    }

    /// The input, then the strip of every pose, side by side in one image.
    fn strip_sheet(&self) -> image::ImageResult<RgbImage> {
        let (w, h) = self.strip.first().map_or((0, 0), |first| first.dimensions());
        let mut sheet = RgbImage::new(w * (self.strip.len() as u32 + 1), h);
        if let Some(input) = self.input.as_deref() {
            sheet.copy_from(input, 0, 0)?;
        }
        for (i, image) in self.strip.iter().enumerate() {
            sheet.copy_from(image, w * (i as u32 + 1), 0)?;
        }
        Ok(sheet)
    }
}

/// Which model: its origin and the training behind it.
fn model_label(info: &ModelInfo) -> String {
    let origin = info.origin.strip_suffix(&format!(" step {}", info.step)).unwrap_or(&info.origin);
    format!("{origin}, {}", info.steps_label())
}

/// A face's source in few words: a file's folder and name (the rest of its path on hover).
fn short_source(source: &ImageSource) -> String {
    match source {
        ImageSource::File(path) | ImageSource::Aligned { path, .. } => {
            let parts = path.components().filter_map(|part| match part {
                std::path::Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
                _ => None,
            });
            let tail: Vec<String> = parts.rev().take(2).collect();
            let name = tail.into_iter().rev().collect::<Vec<_>>().join("/");
            if matches!(source, ImageSource::Aligned { .. }) { format!("{name} (aligned)") } else { name }
        }
        other => other.describe(),
    }
}

/// The side of each face in the strip of `poses` faces: as wide as the window lets them be,
/// as long as the identity chart below keeps its smallest height in the room left (a large
/// window draws them larger; a small one keeps the smallest and scrolls).
fn strip_side(ui: &egui::Ui, poses: usize) -> f32 {
    let spacing = ui.spacing().item_spacing.x;
    let across = (ui.available_width() - spacing * poses.saturating_sub(1) as f32) / poses.max(1) as f32;
    let down = ui.available_height() - STRIP_AND_CHART_TEXT - CHART_HEIGHT.0;
    across.min(down).clamp(STRIP_SIDE.0, STRIP_SIDE.1).floor()
}

/// The identity chart's height: the room left below it in the window, within [`CHART_HEIGHT`].
fn chart_height(ui: &egui::Ui) -> f32 {
    // The axis label and a margin below the plot.
    (ui.available_height() - 40.0).clamp(CHART_HEIGHT.0, CHART_HEIGHT.1)
}

/// `text` cut to a length a label can show beside the slider.
fn clip_label(text: &str) -> String {
    crate::data::faceset::clip(text, 48)
}

/// The face shown on first launch: a person the shipped model never saw, turned 45° right.
fn default_face() -> ImageSource {
    ImageSource::Synthetic { spec: Arc::new(shipped::default_faces()), person: 0, yaw: 45.0, light: 0 }
}

/// `text` with its first letter a capital.
fn capitalised(text: &str) -> String {
    let mut letters = text.chars();
    letters.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(letters).collect()
    })
}

/// A judge's similarity in words: the number, and whether it calls the faces one person (which
/// it cannot say of an input unlike the faces it learned from).
fn judge_words(similarity: f32, threshold: f32, unfamiliar: bool) -> String {
    if unfamiliar {
        format!("{similarity:.2} (does not apply: an unfamiliar face)")
    } else if similarity > threshold {
        format!("{similarity:.2}, the same person")
    } else {
        format!("{similarity:.2}, not the same person")
    }
}

fn texture(ctx: &egui::Context, name: &str, image: &RgbImage) -> egui::TextureHandle {
    super::texture(ctx, name, image, egui::TextureOptions::LINEAR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_named_by_its_folder_and_name() {
        assert_eq!(short_source(&ImageSource::File("/tmp/tmp.x/id0010/yaw-30_light0.png".into())), "id0010/yaw-30_light0.png");
        assert_eq!(short_source(&ImageSource::File("/face.png".into())), "face.png");
    }
}

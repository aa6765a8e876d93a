//! The Faces view: open a face set (dialog, drop, recent list) or make a synthetic one, browse
//! it as thumbnails with identity and pose filters, and see its per-bin counts and skip report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use eframe::egui;
use egui_plot::{Bar, BarChart, Plot, PlotPoint, Text};

use super::button_unless;
use super::worker::ModelInfo;
use super::shipped;
use super::dialogs::{FileChooser, Request};
use super::status_bar::StatusBar;
use super::thumbnails::{THUMBNAIL_SIZE, Thumbnails};
use super::train::form_row_ui;
use crate::data::formats::OpenOptions;
use crate::data::{FaceSet, ImageSource};
use crate::model::PoseBins;
use crate::synth::SynthSpec;
use crate::train::DataSource;
use crate::train::run::open_faces;

/// Storage key of the view's settings.
pub const SETTINGS_KEY: &str = "faces";
/// Recent face sets remembered.
const RECENT: usize = 8;

/// What the Faces view asks the window to do.
pub enum FacesAction {
    /// Show this face in Explore.
    Explore(ImageSource),
    /// Fuse these photos (of one person) in Explore, with a multi-image model.
    Fuse(Vec<ImageSource>),
    /// Show the first face in Explore, its identity blended into the second's.
    Blend(ImageSource, ImageSource),
}

/// What persists between launches.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Settings {
    source: DataSource,
    recent: Vec<PathBuf>,
    synthetic: SynthSpec,
}

impl Default for Settings {
    fn default() -> Self {
        Self { source: DataSource::Synthetic(shipped::default_faces()), recent: Vec::new(), synthetic: shipped::default_faces() }
    }
}

/// The Faces view's state.
pub struct FacesView {
    settings: Settings,
    /// The open face set.
    pub faces: Option<Arc<FaceSet>>,
    loading: Option<Receiver<anyhow::Result<FaceSet>>>,
    thumbnails: Option<Thumbnails>,
    identity_filter: Option<usize>,
    bin_filter: Option<usize>,
    /// Indices of the faces that pass the filters.
    pub shown: Vec<usize>,
    error: Option<String>,
    /// Faces picked with Ctrl-click to be fused (sample indices, in the order picked).
    picked: Vec<usize>,
    /// The dialog of "Open folder…" and "Open file…".
    chooser: FileChooser<()>,
}

impl FacesView {
    /// The view with settings restored from their JSON (defaults when absent or unreadable).
    pub fn restore(json: Option<&str>) -> Self {
        let settings = json.and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default();
        Self { settings, faces: None, loading: None, thumbnails: None, identity_filter: None, bin_filter: None, shown: Vec::new(), error: None, picked: Vec::new(), chooser: FileChooser::default() }
    }

    /// The settings to persist.
    pub fn settings_json(&self) -> String {
        serde_json::to_string(&self.settings).unwrap_or_default()
    }

    /// The open face set and where it came from (what a new run trains on).
    pub fn current(&self) -> Option<(DataSource, Arc<FaceSet>)> {
        self.faces.clone().map(|faces| (self.settings.source.clone(), faces))
    }

    /// Whether the grid has been drawn and every thumbnail on screen is decoded.
    pub fn thumbnails_ready(&self) -> bool {
        self.thumbnails.as_ref().is_some_and(Thumbnails::ready)
    }

    /// Thumbnails decoded since the face set opened.
    pub fn thumbnails_decoded(&self) -> usize {
        self.thumbnails.as_ref().map_or(0, Thumbnails::decoded)
    }

    /// Opens the face set of the settings (the last one opened, or the default synthetic set).
    pub fn open_current(&mut self, ctx: &egui::Context) {
        self.open(self.settings.source.clone(), ctx);
    }

    /// Opens the face set at `path` (a folder or a manifest, list or NumPy file).
    pub fn open_path(&mut self, path: PathBuf, ctx: &egui::Context) {
        self.settings.recent.retain(|p| p != &path);
        self.settings.recent.insert(0, path.clone());
        self.settings.recent.truncate(RECENT);
        self.open(DataSource::Folder(path), ctx);
    }

    /// Reads `source` on a background thread; [`Self::poll`] takes the result.
    pub fn open(&mut self, source: DataSource, ctx: &egui::Context) {
        self.settings.source = source.clone();
        self.error = None;
        self.picked.clear();
        let (sender, receiver) = channel();
        let repaint = ctx.clone();
        let spawned = std::thread::Builder::new().name("open-faces".to_owned()).spawn(move || {
            let options = OpenOptions { pose_bins: PoseBins::default(), cfp_two_bins: false };
            let _ = sender.send(open_faces(&source, &options));
            repaint.request_repaint();
        });
        match spawned {
            Ok(_) => self.loading = Some(receiver),
            Err(error) => self.error = Some(format!("could not start reading the face set: {error}")),
        }
    }

    /// Takes in a face set that finished reading and decoded thumbnails.
    pub fn poll(&mut self, ctx: &egui::Context, status: &mut StatusBar) {
        if let Some(receiver) = &self.loading {
            match receiver.try_recv() {
                Ok(Ok(faces)) => {
                    self.loading = None;
                    // Faces picked in the old grid while this set was read index the old set.
                    self.picked.clear();
                    self.identity_filter = None;
                    self.bin_filter = None;
                    self.faces = Some(Arc::new(faces));
                    self.thumbnails.get_or_insert_with(|| Thumbnails::new(ctx)).reset();
                    self.refilter();
                }
                Ok(Err(error)) => {
                    self.loading = None;
                    let message = format!("{error:#}");
                    status.error(format!("opening the face set failed: {}", message.lines().next().unwrap_or_default()));
                    self.error = Some(message);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    self.loading = None;
                    self.error = Some("reading the face set stopped unexpectedly".to_owned());
                }
            }
        }
        if let Some(thumbnails) = &mut self.thumbnails {
            thumbnails.poll(ctx);
        }
    }

    fn refilter(&mut self) {
        let Some(faces) = &self.faces else {
            self.shown.clear();
            return;
        };
        self.shown = faces
            .samples
            .iter()
            .enumerate()
            .filter(|(_, s)| self.identity_filter.is_none_or(|id| s.identity == Some(id)))
            .filter(|(_, s)| self.bin_filter.is_none_or(|bin| s.bin == Some(bin)))
            .map(|(index, _)| index)
            .collect();
    }

    /// Draws the view; returns what the window should do. `model` is the model in Explore (it
    /// decides whether photos can be fused).
    pub fn ui(&mut self, ui: &mut egui::Ui, model: Option<&ModelInfo>) -> Option<FacesAction> {
        egui::Panel::left("faces-side").default_size(300.0).resizable(true).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| self.side_ui(ui));
        });
        egui::CentralPanel::default_margins().show(ui, |ui| self.grid_ui(ui, model)).inner
    }

    fn side_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Face set");
        ui.add_enabled_ui(!self.chooser.is_busy(), |ui| {
            ui.horizontal(|ui| {
                if ui.button("Open folder…").clicked() {
                    self.chooser.open(ui.ctx(), (), Request::Folder { start: None });
                }
                if ui.button("Open file…").on_hover_text("manifest.csv, a list file or a NumPy .npy").clicked() {
                    self.chooser.open(ui.ctx(), (), Request::File);
                }
            });
        });
        if let Some(((), mut paths)) = self.chooser.ui(ui)
            && !paths.is_empty()
        {
            self.open_path(paths.remove(0), ui.ctx());
        }
        ui.small("…or drop a folder or file onto the window.");
        if !self.settings.recent.is_empty() {
            ui.collapsing("Recent", |ui| {
                for path in self.settings.recent.clone() {
                    if ui.link(path.display().to_string()).clicked() {
                        self.open_path(path, ui.ctx());
                    }
                }
            });
        }
        ui.separator();
        ui.label("Synthetic set");
        let spec = &mut self.settings.synthetic;
        egui::Grid::new("synthetic-form").num_columns(2).show(ui, |ui| {
            form_row_ui(ui, "identities", egui::DragValue::new(&mut spec.identities).range(2..=20_000));
            form_row_ui(ui, "seed", egui::DragValue::new(&mut spec.seed));
            form_row_ui(ui, "lights", egui::DragValue::new(&mut spec.lights).range(1..=8));
        });
        if ui.button("Make synthetic set").clicked() {
            let spec = self.settings.synthetic.clone();
            self.open(DataSource::Synthetic(spec), ui.ctx());
        }
        ui.separator();
        if self.loading.is_some() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("reading…");
            });
        }
        if let Some(error) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        let Some(faces) = self.faces.clone() else { return };
        ui.label(format!("{} ({} format)", faces.origin, faces.format.name()));
        ui.label(format!("{} images, {} identities", faces.samples.len(), faces.identity_names.len()));
        self.filters_ui(ui, &faces);
        ui.separator();
        ui.label("Images per pose bin");
        histogram_ui(ui, &faces);
        skip_report_ui(ui, &faces);
    }

    fn filters_ui(&mut self, ui: &mut egui::Ui, faces: &FaceSet) {
        let mut changed = false;
        let identity_text = self.identity_filter.and_then(|i| faces.identity_names.get(i)).map_or("all identities", String::as_str);
        egui::ComboBox::from_label("identity").selected_text(identity_text).show_ui(ui, |ui| {
            changed |= ui.selectable_value(&mut self.identity_filter, None, "all identities").changed();
            for (index, name) in faces.identity_names.iter().enumerate() {
                changed |= ui.selectable_value(&mut self.identity_filter, Some(index), name).changed();
            }
        });
        let bin_text = self.bin_filter.map_or_else(|| "all poses".to_owned(), |b| faces.pose_bins.label(b));
        egui::ComboBox::from_label("pose").selected_text(bin_text).show_ui(ui, |ui| {
            changed |= ui.selectable_value(&mut self.bin_filter, None, "all poses").changed();
            for bin in 0..faces.pose_bins.len() {
                changed |= ui.selectable_value(&mut self.bin_filter, Some(bin), faces.pose_bins.label(bin)).changed();
            }
        });
        if changed {
            self.refilter();
        }
        ui.label(format!("showing {} faces", self.shown.len()));
    }

    fn grid_ui(&mut self, ui: &mut egui::Ui, model: Option<&ModelInfo>) -> Option<FacesAction> {
        let (Some(faces), Some(thumbnails)) = (self.faces.clone(), self.thumbnails.as_mut()) else {
            ui.label(if self.loading.is_some() { "reading the face set…" } else { "open a face set or make a synthetic one" });
            return None;
        };
        let mut action = None;
        ui.horizontal_wrapped(|ui| {
            ui.label("Click a face to explore it; Ctrl-click several photos of one person to fuse them, or two people to blend them.");
            if !self.picked.is_empty() {
                ui.separator();
                ui.label(format!("{} picked", self.picked.len()));
                let single_image = model.is_some_and(|m| !m.fuses);
                let reasons = [(self.picked.len() < 2, "Ctrl-click at least two photos of one person")];
                let hint = if single_image {
                    "The model in Explore is a single-image one: Explore switches to the built-in multi-image model, which fuses the photos by their confidences"
                } else {
                    "The photos' features fused by the model's confidences, drawn at any pose"
                };
                if button_unless(ui, "Fuse in Explore", &reasons).on_hover_text(hint).clicked() {
                    action = Some(FacesAction::Fuse(self.picked.iter().filter_map(|&i| faces.samples.get(i)).map(|s| s.image.clone()).collect()));
                }
                if let [first, second] = self.picked[..]
                    && let (Some(first), Some(second)) = (faces.samples.get(first), faces.samples.get(second))
                    && ui.button("Blend in Explore").on_hover_text("The first face's identity walked into the second's, at any pose").clicked()
                {
                    action = Some(FacesAction::Blend(first.image.clone(), second.image.clone()));
                }
                if ui.button("Clear").clicked() {
                    self.picked.clear();
                }
            }
        });
        // Every cell is a button around a thumbnail: the thumbnail, the button's padding on both
        // sides, then the spacing to the next cell.
        let padding = ui.spacing().button_padding;
        let cell = egui::vec2(THUMBNAIL_SIZE as f32, THUMBNAIL_SIZE as f32)
            + 2.0 * padding
            + egui::vec2(2.0, 2.0);
        let spacing = ui.spacing().item_spacing;
        // The scroll bar takes its width off the right.
        let width = ui.available_width()
            - ui.spacing().scroll.bar_width
            - ui.spacing().scroll.bar_outer_margin;
        let columns = (((width + spacing.x) / (cell.x + spacing.x)).floor() as usize).max(1);
        let rows = self.shown.len().div_ceil(columns);
        let mut visible = Vec::new();
        egui::ScrollArea::vertical().auto_shrink(false).show_rows(
            ui,
            cell.y,
            rows,
            |ui, row_range| {
                for row in row_range {
                    ui.horizontal(|ui| {
                        for &index in self.shown.iter().skip(row * columns).take(columns) {
                            let sample = &faces.samples[index];
                            visible.push((index, sample.image.clone()));
                            let size = egui::vec2(THUMBNAIL_SIZE as f32, THUMBNAIL_SIZE as f32);
                            let picked = self.picked.contains(&index);
                            let response = match thumbnails.texture(index) {
                                Some(texture) => ui.add_sized(
                                    cell,
                                    egui::Button::image(egui::Image::new((texture.id(), size)))
                                        .selected(picked),
                                ),
                                None => {
                                    let text = if thumbnails.failure(index).is_some() {
                                        "unreadable"
                                    } else {
                                        "..."
                                    };
                                    ui.add_sized(cell, egui::Button::new(text))
                                }
                            };
                            let name = describe(sample, &faces);
                            response.widget_info(|| {
                                egui::WidgetInfo::labeled(egui::Role::Button, true, &name)
                            });
                            let mut hover = name;
                            if let Some(reason) = thumbnails.failure(index) {
                                hover.push_str(&format!("\ncannot be read: {reason}"));
                            }
                        let response = response.on_hover_text(hover);
                        if response.clicked() {
                            if ui.input(|input| input.modifiers.command || input.modifiers.shift) {
                                match self.picked.iter().position(|&i| i == index) {
                                    Some(at) => {
                                        self.picked.remove(at);
                                    }
                                    None => self.picked.push(index),
                                }
                            } else {
                                action = Some(FacesAction::Explore(sample.image.clone()));
                            }
                        }
                    }
                });
            }
        });
        thumbnails.want(&visible);
        action
    }
}

fn describe(sample: &crate::data::Sample, faces: &FaceSet) -> String {
    let identity = sample.identity.and_then(|i| faces.identity_names.get(i)).map_or("no identity label", String::as_str);
    let pose = match (sample.yaw, sample.bin) {
        (Some(yaw), _) => format!("yaw {yaw:+.0}°"),
        (None, Some(bin)) => faces.pose_bins.label(bin),
        (None, None) => "pose unknown".to_owned(),
    };
    format!("{identity}, {pose}\n{}", sample.image.describe())
}

fn histogram_ui(ui: &mut egui::Ui, faces: &FaceSet) {
    let per_bin = faces.per_bin();
    let bars: Vec<Bar> = per_bin
        .iter()
        .enumerate()
        .map(|(bin, &count)| Bar::new(faces.pose_bins.yaws[bin] as f64, count as f64).width(10.0).name(faces.pose_bins.label(bin)))
        .collect();
    let counts: Vec<Text> = per_bin
        .iter()
        .zip(&faces.pose_bins.yaws)
        .map(|(&count, &yaw)| Text::new(format!("images at {yaw:+.0}°"), PlotPoint::new(yaw as f64, count as f64), egui::RichText::new(count.to_string()).size(12.0)).anchor(egui::Align2::CENTER_BOTTOM).allow_hover(false))
        .collect();
    let highest = per_bin.iter().copied().max().unwrap_or(0) as f64;
    Plot::new("faces-per-bin")
        .height(140.0)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .include_y(0.0)
        // Room above the tallest bar for its count.
        .include_y(highest * 1.25)
        .x_grid_spacer(super::yaw_marks)
        .x_axis_label("yaw (°)")
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("images", bars));
            for count in counts {
                plot.text(count);
            }
        });
    let outside = faces.out_of_range();
    if outside > 0 {
        ui.label(format!("{outside} images have a pose outside the bins"));
    }
}

fn skip_report_ui(ui: &mut egui::Ui, faces: &FaceSet) {
    if faces.skipped.total() == 0 {
        ui.label("Nothing was skipped while reading.");
        return;
    }
    ui.collapsing(format!("Skipped: {}", faces.skipped.total()), |ui| {
        for (reason, count, examples) in faces.skipped.entries() {
            ui.label(format!("{count} × {reason}"));
            for example in examples {
                ui.small(example);
            }
        }
    });
}

/// Whether `path` looks like a single image (opened in Explore rather than as a face set).
pub fn is_image_file(path: &Path) -> bool {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    matches!(extension.as_deref(), Some("png" | "jpg" | "jpeg" | "bmp" | "webp" | "gif" | "tif" | "tiff"))
}

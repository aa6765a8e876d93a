//! The Evaluate view: run `eval` on the model shown in Explore (on the model thread, with
//! progress), and compare evaluations: rank-1 per pose as grouped bars beside the paper's
//! figures, ROC curves, the SSIM table as a heat map, and the worst-kept faces.

use std::sync::{Arc, Mutex};

use eframe::egui;
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoint, PlotPoints, uniform_grid_spacer};
use image::RgbImage;

use super::{DIALOG_OPEN, button_unless};
use super::dialogs::{FileChooser, Request};
use super::kept::{KeptEvaluation, Keeper};
use super::worker::{Command, JudgeInfo, ModelInfo, WorkerHandle};
use crate::data::FaceSet;
use crate::eval::evaluate::{EvalOptions, EvalReport, Evaluation, row_fractions};
use crate::synth::SynthSpec;
use crate::train::DataSource;

/// DR-GAN's single-image rank-1 on Multi-PIE per |yaw| (0, 15, 30, 45, 60°) as SPEC recalls
/// the CVPR'17 paper; drawn as a reference, not measured here.
const PAPER_RANK1: [(f64, f64); 5] = [(0.0, 97.0), (15.0, 94.0), (30.0, 90.0), (45.0, 86.0), (60.0, 83.0)];

/// One finished evaluation on show.
pub struct Entry {
    /// What was evaluated on what.
    pub label: String,
    /// Its numbers.
    pub report: EvalReport,
    worst: Vec<(String, f64, [Option<egui::TextureHandle>; 3])>,
    /// The report's ROC with `log10` of the false accept rate, computed once and lent to the
    /// plot every frame (it has a point per distinct pair score: tens of thousands).
    roc_log: Option<Vec<PlotPoint>>,
    /// When a kept evaluation was made (seconds since 1970); `None`: made since the window opened.
    made_at: Option<u64>,
}

/// The Evaluate view's state.
pub struct EvaluateView {
    /// Finished evaluations, oldest first.
    pub entries: Vec<Entry>,
    /// The running evaluation's step and fraction done.
    pub progress: Option<(String, f32)>,
    /// The synthetic set to evaluate on.
    pub synthetic: SynthSpec,
    /// Seeds and the pose classifier's training size.
    pub options: EvalOptions,
    on_open_set: bool,
    selected: usize,
    figures: Option<egui::Rect>,
    message: Arc<Mutex<Option<String>>>,
    /// The save dialog in use, and what it saves.
    chooser: FileChooser<Save>,
    /// The identity judge for the model in Explore's faces.
    judge: Option<JudgeInfo>,
    /// The studio's data folder, where evaluations of the built-in model are kept (`None`: a
    /// window that keeps nothing, as in tests).
    data_dir: Option<std::path::PathBuf>,
    /// Kept evaluations read from disk in the background, not yet on show.
    arrived: Arc<Mutex<Vec<KeptEvaluation>>>,
}

/// What a path chosen in the Evaluate view's save dialog is for.
enum Save {
    /// This report, as JSON.
    Report(String),
    /// A picture of the figures on show.
    Figures,
}

impl Default for EvaluateView {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            progress: None,
            synthetic: SynthSpec { identities: 50, seed: 7, lights: 1 },
            options: EvalOptions::default(),
            on_open_set: false,
            selected: 0,
            figures: None,
            message: Arc::new(Mutex::new(None)),
            chooser: FileChooser::default(),
            judge: None,
            data_dir: None,
            arrived: Arc::default(),
        }
    }
}

impl EvaluateView {
    /// A view that keeps the built-in model's evaluations in `data_dir` (runs keep their own).
    pub fn keeping_in(data_dir: Option<std::path::PathBuf>) -> Self {
        Self {
            data_dir,
            ..Self::default()
        }
    }

    /// The model thread reports progress.
    pub fn progress(&mut self, what: String, fraction: f32) {
        self.progress = Some((what, fraction));
    }

    /// A model (of `run`; `None`: the built-in one) was loaded into Explore: its kept
    /// evaluations are read in the background and shown again ([`Self::poll`]), after those on
    /// show.
    pub fn model_loaded(&mut self, run: Option<&std::path::Path>, ctx: &egui::Context) {
        let (keeper, arrived, repaint) = (
            Keeper::new(run, self.data_dir.as_deref()),
            self.arrived.clone(),
            ctx.clone(),
        );
        std::thread::spawn(move || {
            let kept = keeper.read();
            if !kept.is_empty()
                && let Ok(mut arrived) = arrived.lock()
            {
                arrived.extend(kept);
                repaint.request_repaint();
            }
        });
    }

    /// Shows the kept evaluations read since the last frame (each once).
    pub fn poll(&mut self) {
        let arrived = match self.arrived.lock() {
            Ok(mut arrived) => std::mem::take(&mut *arrived),
            Err(_) => return,
        };
        for kept in arrived {
            let shown = self
                .entries
                .iter()
                .any(|e| e.label == kept.label && e.made_at == Some(kept.made_at));
            if !shown {
                self.push(kept.label, kept.report, Vec::new(), Some(kept.made_at));
            }
        }
    }

    fn push(
        &mut self,
        label: String,
        report: EvalReport,
        worst: Vec<(String, f64, [Option<egui::TextureHandle>; 3])>,
        made_at: Option<u64>,
    ) {
        let roc_log = report.roc.as_deref().map(roc_on_log_axis);
        self.entries.push(Entry {
            label,
            report,
            worst,
            roc_log,
            made_at,
        });
        self.selected = self.entries.len() - 1;
    }

    /// An evaluation of the model of `run` (`None`: the built-in one) finished: shown, and kept
    /// with its model in the background.
    pub fn finished(
        &mut self,
        label: String,
        evaluation: Evaluation,
        run: Option<&std::path::Path>,
        ctx: &egui::Context,
    ) {
        self.progress = None;
        let made_at = super::kept::now();
        let keeper = Keeper::new(run, self.data_dir.as_deref());
        let (report, kept_label, message, repaint) = (
            evaluation.report.clone(),
            label.clone(),
            self.message.clone(),
            ctx.clone(),
        );
        std::thread::spawn(move || {
            let said = match keeper.keep(&kept_label, &report, made_at) {
                Ok(path) => format!("kept in {}", path.display()),
                Err(error) => format!("not kept: {error:#}"),
            };
            if let Ok(mut slot) = message.lock() {
                *slot = Some(said);
            }
            repaint.request_repaint();
        });
        let n = self.entries.len();
        let texture = |image: &RgbImage, name: String| super::texture(ctx, name, image, egui::TextureOptions::NEAREST);
        let worst = evaluation
            .worst
            .iter()
            .enumerate()
            .map(|(k, e)| {
                let images = [
                    Some(texture(&e.input, format!("eval-{n}-{k}-input"))),
                    Some(texture(&e.frontalized, format!("eval-{n}-{k}-output"))),
                    e.truth.as_ref().map(|t| texture(t, format!("eval-{n}-{k}-truth"))),
                ];
                (e.identity.clone(), e.cosine, images)
            })
            .collect();
        self.push(label, evaluation.report, worst, Some(made_at));
    }

    /// Asks the model thread to evaluate the model in Explore on `data`.
    pub fn start(&mut self, data: DataSource, worker: &WorkerHandle) {
        self.progress = Some(("starting".to_owned(), 0.0));
        self.options.cancel = crate::eval::evaluate::Cancel::default();
        worker.send(Command::Evaluate {
            data,
            options: self.options.clone(),
        });
    }

    /// The running evaluation stopped at the view's Cancel.
    pub fn cancelled(&mut self) {
        self.progress = None;
        self.set_message("the evaluation was cancelled".to_owned());
    }

    /// Evaluates on the view's synthetic set.
    pub fn start_synthetic(&mut self, worker: &WorkerHandle) {
        self.start(DataSource::Synthetic(self.synthetic.clone()), worker);
    }

    /// The identity judge for the model in Explore was chosen.
    pub fn judge_chosen(&mut self, judge: Option<JudgeInfo>) {
        self.judge = judge;
    }

    /// An evaluation failed (the error itself goes to the status bar).
    pub fn failed(&mut self) {
        self.progress = None;
    }

    /// Draws the view.
    pub fn ui(&mut self, ui: &mut egui::Ui, worker: &WorkerHandle, faces: Option<(DataSource, Arc<FaceSet>)>, model: Option<&ModelInfo>) {
        self.controls_ui(ui, worker, faces, model);
        match self.chooser.ui(ui) {
            Some((Save::Report(json), paths)) => {
                if let Some(path) = paths.first().map(|p| super::save_target(p)) {
                    self.set_message(match std::fs::write(&path, json) {
                        Ok(()) => format!("saved {}", path.display()),
                        Err(e) => format!("could not save {}: {e}", path.display()),
                    });
                }
            }
            Some((Save::Figures, paths)) => {
                if let Some(path) = paths.first().map(|p| super::save_target(p)) {
                    self.save_figures(ui.ctx(), path);
                }
            }
            None => {}
        }
        if let Some(message) = self.message.lock().ok().and_then(|m| m.clone()) {
            ui.label(message);
        }
        ui.separator();
        if self.entries.is_empty() {
            ui.label("No evaluation yet. Each one appears here; several compare side by side.");
            return;
        }
        egui::ScrollArea::vertical().show(ui, |ui| {
            let top = ui.cursor().min;
            self.figures_ui(ui);
            self.figures = Some(egui::Rect::from_min_max(top, egui::pos2(ui.max_rect().right(), ui.cursor().min.y)));
        });
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, worker: &WorkerHandle, faces: Option<(DataSource, Arc<FaceSet>)>, model: Option<&ModelInfo>) {
        ui.horizontal_wrapped(|ui| {
            let Some(model) = model else {
                ui.label("load a model first");
                return;
            };
            ui.label(format!("Evaluate {}, {}, on", model.origin, model.steps_label()));
            ui.radio_value(&mut self.on_open_set, false, "a synthetic set");
            let label = ui.label("identities");
            ui.add(egui::DragValue::new(&mut self.synthetic.identities).range(2..=5000)).labelled_by(label.id);
            let label = ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.synthetic.seed)).labelled_by(label.id);
            let open_set = faces.as_ref().map(|(_, set)| set.origin.clone());
            ui.add_enabled_ui(open_set.is_some(), |ui| {
                ui.radio_value(&mut self.on_open_set, true, format!("the open face set{}", open_set.map(|o| format!(" ({o})")).unwrap_or_default()));
            });
            let data = if self.on_open_set { faces.map(|(source, _)| source) } else { Some(DataSource::Synthetic(self.synthetic.clone())) };
            let reasons = [(self.progress.is_some(), "an evaluation is running"), (data.is_none(), "open a face set in the Faces view first, or pick a synthetic set")];
            if button_unless(ui, "Run evaluation", &reasons).clicked()
                && let Some(data) = data
            {
                self.start(data, worker);
            }
        });
        match &self.judge {
            Some(judge) => ui.small(format!("Identity figures by the identity judge for {}: {}", judge.knows, judge.summary)),
            None => ui.small("No identity judge applies to the model's faces: identity is measured by G's own encoder only"),
        };
        if let Some((what, fraction)) = &self.progress {
            let cancelling = self.options.cancel.is_cancelled();
            ui.horizontal(|ui| {
                ui.add(egui::ProgressBar::new(*fraction).text(what.as_str()).animate(true).desired_width((ui.available_width() - 120.0).max(200.0)));
                if button_unless(ui, "Cancel", &[(cancelling, "cancelling: the evaluation stops at its next check (a chunk of faces or an epoch)")]).clicked() {
                    self.options.cancel.cancel();
                }
            });
        }
        if self.entries.is_empty() {
            return;
        }
        ui.horizontal(|ui| {
            let label = ui.label("details of");
            let selected = self.entries.get(self.selected).map_or("", |e| e.label.as_str()).to_owned();
            egui::ComboBox::from_id_salt("eval-selected")
                .selected_text(selected)
                .show_ui(ui, |ui| {
                    for (index, entry) in self.entries.iter().enumerate() {
                        ui.selectable_value(&mut self.selected, index, &entry.label);
                    }
                })
                .response
                .labelled_by(label.id);
            let busy = self.chooser.is_busy();
            if button_unless(ui, "Save report JSON…", &[(busy, DIALOG_OPEN)]).clicked()
                && let Some(entry) = self.entries.get(self.selected)
            {
                match serde_json::to_string_pretty(&entry.report) {
                    Ok(json) => self.chooser.open(
                        ui.ctx(),
                        Save::Report(json),
                        Request::Save {
                            name: "eval.json".to_owned(),
                            folder: super::pictures_folder(),
                        },
                    ),
                    Err(e) => self.set_message(format!("could not write the report: {e}")),
                }
            }
            if button_unless(ui, "Save figures PNG…", &[(busy, DIALOG_OPEN)]).clicked() {
                self.chooser.open(
                    ui.ctx(),
                    Save::Figures,
                    Request::Save {
                        name: "eval-figures.png".to_owned(),
                        folder: super::pictures_folder(),
                    },
                );
            }
            if ui.button("Clear").clicked() {
                self.entries.clear();
                self.selected = 0;
            }
        });
    }

    fn figures_ui(&mut self, ui: &mut egui::Ui) {
        let Some(entry) = self.entries.get(self.selected) else { return };
        let report = &entry.report;
        summary_ui(ui, report);
        judge_summary_ui(ui, report);
        if report.judge.is_some() {
            ui.columns(2, |columns| {
                columns[0].strong(
                    "The identity judge: G(x, c) called x's person, per requested pose (%)",
                );
                judge_kept_ui(&mut columns[0], &self.entries);
                columns[1]
                    .strong("The identity judge: rank-1 per probe pose, raw and frontalized (%)");
                judge_rank1_ui(&mut columns[1], report);
            });
        }
        ui.columns(2, |columns| {
            columns[0].strong("Rank-1 identification per pose, by G's own encoder (%)");
            rank1_ui(&mut columns[0], &self.entries);
            columns[1].strong("Verification ROC, frontal vs non-frontal");
            roc_ui(&mut columns[1], &self.entries);
        });
        ui.columns(2, |columns| {
            columns[0].strong("SSIM of G(x, c) vs truth (rows: input pose, columns: requested)");
            match &report.ssim_table {
                Some(table) => heat_map_ui(&mut columns[0], "eval-ssim", table, &report.pose_yaws, |v| format!("{v:.2}")),
                None => {
                    columns[0].label("no ground truth for this face set");
                }
            }
            columns[1].strong("The pose the independent pose classifier sees in G(x, c) (rows: requested, columns: seen, %)");
            confusion_ui(&mut columns[1], "eval-pose-fake", report.pose_confusion.as_deref(), &report.pose_yaws);
        });
        ui.columns(2, |columns| {
            columns[0].strong(
                "The pose classifier on real test faces (rows: true pose, columns: seen, %)",
            );
            confusion_ui(
                &mut columns[0],
                "eval-pose-real",
                report.pose_classifier_confusion.as_deref(),
                &report.pose_yaws,
            );
            columns[1].strong("Worst-kept identities by G's own cosine: input, frontalized, truth");
            for (name, cosine, images) in &entry.worst {
                columns[1].horizontal(|ui| {
                    for texture in images.iter().flatten() {
                        ui.add(egui::Image::new((texture.id(), egui::vec2(64.0, 64.0))));
                    }
                    ui.label(format!("{name}\ncosine {cosine:.3}"));
                });
            }
        });
    }

    /// Saves the figures area of the next frame as a PNG at `path`.
    fn save_figures(&mut self, ctx: &egui::Context, path: std::path::PathBuf) {
        let Some(rect) = self.figures else { return };
        let (message, scale) = (self.message.clone(), ctx.pixels_per_point());
        ctx.request_screenshot(move |image| {
            let region = image.region(&rect, Some(scale));
            let saved = image::RgbaImage::from_raw(region.size[0] as u32, region.size[1] as u32, region.as_raw().to_vec())
                .ok_or_else(|| "the screenshot had an unexpected size".to_owned())
                .and_then(|png| png.save(&path).map_err(|e| e.to_string()));
            if let Ok(mut slot) = message.lock() {
                *slot = Some(match saved {
                    Ok(()) => format!("saved {}", path.display()),
                    Err(e) => format!("could not save {}: {e}", path.display()),
                });
            }
        });
    }

    fn set_message(&self, text: String) {
        if let Ok(mut slot) = self.message.lock() {
            *slot = Some(text);
        }
    }
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{:.1} %", v * 100.0))
}

fn summary_ui(ui: &mut egui::Ui, report: &EvalReport) {
    ui.horizontal_wrapped(|ui| {
        ui.label(format!("{} identities, {} images, {:.1} s ·", report.identities, report.images, report.seconds));
        ui.label(format!("rank-1 {} (frontalized {}) ·", percent(report.rank1_avg), percent(report.rank1_frontalized_avg)));
        ui.label(format!("EER {} · TAR@FAR 1 % {} ·", percent(report.eer), percent(report.tar_at_far_1pct)));
        let number = |value: Option<f64>| value.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"));
        ui.label(format!("frontal SSIM {} (every pose pair {}) ·", number(report.ssim_frontal_avg), number(report.ssim_mean)));
        let degrees = report.pose_error_degrees.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}°"));
        ui.label(format!(
            "pose control {} (mean error {degrees}, read more than one bin off {}; the pose classifier on real faces {}, on real faces as soft as G's {})",
            percent(report.pose_control_acc),
            percent(report.pose_far_off),
            percent(report.pose_classifier_test_acc),
            percent(report.pose_classifier_softened_acc)
        ))
        .on_hover_text(match report.softness_blur_px {
            Some(sigma) => format!("G's faces have the fine detail of real faces blurred by σ {sigma:.1} px; a perfectly posed face that soft would get the last figure"),
            None => "G's softness was not measured".to_owned(),
        });
    });
    if let Some(group) = report.fused_group {
        let number = |value: Option<f64>| value.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"));
        ui.label(format!(
            "{group} photos fused: rank-1 {} (the same photos singly {}) · frontal SSIM {} (singly {}) · the judge's rank-1 of the fused frontal face {} (of the same photos' singly {})",
            percent(report.rank1_fused_avg),
            percent(report.rank1_single_same_photos),
            number(report.ssim_frontal_fused_avg),
            number(report.ssim_frontal_single_same_photos),
            percent(report.judge_rank1_fused_frontal),
            percent(report.judge_rank1_single_frontal_same_photos)
        ));
    }
    for note in &report.notes {
        ui.small(note);
    }
}

/// The identity judge's figures in a line, and what the judge is.
fn judge_summary_ui(ui: &mut egui::Ui, report: &EvalReport) {
    let Some(judge) = &report.judge else {
        ui.label("No identity judge applies to this face set (its people are not synthetic and the run has no judge of its own: `drgan-studio judge train --run RUN` makes one); the figures below are G's own encoder's, which cannot judge G.");
        return;
    };
    let weak = if report.judge_weak == Some(true) {
        " — a weak judge: read its figures with care"
    } else {
        ""
    };
    ui.horizontal_wrapped(|ui| {
        ui.strong("The identity judge");
        ui.label(format!(
            "(a face recogniser trained apart from every model{weak}): G's faces called the input's person {} · frontalized rank-1 {} (raw {}) · TAR@FAR 1 % frontalized {} (raw {}) · test faces it finds unfamiliar {}",
            percent(report.judge_identity_kept),
            percent(report.judge_rank1_frontalized_avg),
            percent(report.judge_rank1_avg),
            percent(report.judge_tar_at_far_1pct_frontalized),
            percent(report.judge_tar_at_far_1pct),
            percent(report.judge_unfamiliar_share)
        ))
        .on_hover_text(judge.as_str());
    });
}

/// The share of G's faces the judge calls the input's person, per requested pose, one series
/// per evaluation.
fn judge_kept_ui(ui: &mut egui::Ui, entries: &[Entry]) {
    let judged: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.report.judge.is_some())
        .collect();
    let count = judged.len().max(1) as f64;
    let width = 12.0 / count;
    Plot::new("eval-judge-kept")
        .height(200.0)
        .legend(Legend::default())
        .include_y(0.0)
        .include_y(125.0)
        .x_grid_spacer(super::yaw_marks)
        .x_axis_label("requested yaw (°)")
        .show(ui, |plot| {
            for (k, entry) in judged.iter().enumerate() {
                let offset = (k as f64 - (count - 1.0) / 2.0) * width;
                let bars: Vec<Bar> = entry
                    .report
                    .judge_identity_kept_per_bin
                    .iter()
                    .zip(&entry.report.pose_yaws)
                    .filter_map(|(v, &yaw)| {
                        v.map(|v| Bar::new(yaw as f64 + offset, v * 100.0).width(width * 0.9))
                    })
                    .collect();
                plot.bar_chart(BarChart::new(entry.label.clone(), bars));
            }
        });
}

/// The judge's rank-1 per probe pose for the raw and the frontalized probes.
fn judge_rank1_ui(ui: &mut egui::Ui, report: &EvalReport) {
    Plot::new("eval-judge-rank1")
        .height(200.0)
        .legend(Legend::default())
        .include_y(0.0)
        .include_y(125.0)
        .x_grid_spacer(super::yaw_marks)
        .x_axis_label("probe yaw (°); the gallery is the real frontal faces")
        .show(ui, |plot| {
            for (name, values, offset) in [
                ("raw probes", &report.judge_rank1_per_bin, -2.5),
                (
                    "frontalized by G",
                    &report.judge_rank1_frontalized_per_bin,
                    2.5,
                ),
            ] {
                let bars: Vec<Bar> = values
                    .iter()
                    .zip(&report.pose_yaws)
                    .filter_map(|(v, &yaw)| {
                        v.map(|v| Bar::new(yaw as f64 + offset, v * 100.0).width(4.5))
                    })
                    .collect();
                plot.bar_chart(BarChart::new(name, bars));
            }
        });
}

fn rank1_ui(ui: &mut egui::Ui, entries: &[Entry]) {
    let count = entries.len().max(1) as f64;
    let width = 12.0 / count;
    Plot::new("eval-rank1")
        .height(240.0)
        .legend(Legend::default())
        .include_y(0.0)
        .include_y(125.0)
        .x_grid_spacer(super::yaw_marks)
        .x_axis_label("probe yaw (°); the gallery is the frontal faces")
        .show(ui, |plot| {
            for (k, entry) in entries.iter().enumerate() {
                let offset = (k as f64 - (count - 1.0) / 2.0) * width;
                let bars: Vec<Bar> = entry
                    .report
                    .rank1_per_bin
                    .iter()
                    .zip(&entry.report.pose_yaws)
                    .filter_map(|(v, &yaw)| v.map(|v| Bar::new(yaw as f64 + offset, v * 100.0).width(width * 0.9)))
                    .collect();
                plot.bar_chart(BarChart::new(entry.label.clone(), bars));
            }
            let paper: PlotPoints = PAPER_RANK1.iter().rev().map(|&(y, r)| [-y, r]).chain(PAPER_RANK1.iter().skip(1).map(|&(y, r)| [y, r])).collect();
            plot.line(Line::new("DR-GAN on Multi-PIE (the paper)", paper).style(egui_plot::LineStyle::dashed_loose()));
        });
}

/// The lowest false accept rate the ROC's logarithmic axis shows.
const MIN_FAR_LOG10: f64 = -4.0;

/// The ROC on a logarithmic false-accept axis, as face verification is usually read: the
/// rates that matter are the small ones.
fn roc_ui(ui: &mut egui::Ui, entries: &[Entry]) {
    Plot::new("eval-roc")
        .height(240.0)
        .legend(Legend::default().position(egui_plot::Corner::RightBottom))
        .include_x(MIN_FAR_LOG10)
        .include_x(0.0)
        .include_y(0.0)
        .include_y(1.0)
        .x_grid_spacer(uniform_grid_spacer(|_| [1.0, 2.0, 4.0]))
        .x_axis_formatter(|mark, _| far_label(mark.value))
        .x_axis_label("false accept rate (log scale)")
        .y_axis_label("true accept rate")
        .show(ui, |plot| {
            for entry in entries {
                if let Some(points) = &entry.roc_log {
                    // Drawn as a curve, not egui_plot's band of many points per pixel: the ROC's
                    // first points share one false-accept rate on the log axis (all below its
                    // end), and the band filled them as a wedge that looked like data.
                    plot.line(
                        Line::new(entry.label.clone(), PlotPoints::Borrowed(points))
                            .allow_band(false),
                    );
                }
            }
        });
}

/// `[far, tar]` points as `[log10 far, tar]`, rates below the axis's lowest placed on it.
fn roc_on_log_axis(points: &[[f64; 2]]) -> Vec<PlotPoint> {
    let lowest = 10f64.powf(MIN_FAR_LOG10);
    points.iter().map(|&[far, tar]| PlotPoint::new(far.max(lowest).log10(), tar)).collect()
}

/// The false accept rate at `log10` on the ROC's axis: "0.001" at −3, nothing between powers of ten.
fn far_label(log10: f64) -> String {
    let power = log10.round();
    if (log10 - power).abs() > 1e-6 {
        return String::new();
    }
    format!("{:.*}", (-power).max(0.0) as usize, 10f64.powf(power))
}

/// A pose confusion table (counts) as a heat map of each row's percentages.
fn confusion_ui(ui: &mut egui::Ui, id: &str, counts: Option<&[Vec<usize>]>, yaws: &[f32]) {
    match counts {
        Some(counts) => heat_map_ui(ui, id, &row_fractions(counts), yaws, |v| format!("{:.0}", v * 100.0)),
        None => {
            ui.label("pose control was not measured");
        }
    }
}

/// The table as coloured cells, from dark (its lowest value) to bright (its highest), each
/// with its value as `label` writes it.
fn heat_map_ui(ui: &mut egui::Ui, id: &str, table: &[Vec<f64>], yaws: &[f32], label: impl Fn(f64) -> String) {
    let values = table.iter().flatten().copied();
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    let span = (high - low).max(1e-9);
    let cell = egui::vec2(44.0, 20.0);
    egui::Grid::new(id).spacing(egui::vec2(2.0, 2.0)).show(ui, |ui| {
        ui.label("");
        for yaw in yaws {
            ui.label(format!("{yaw:+.0}°"));
        }
        ui.end_row();
        for (yaw, row) in yaws.iter().zip(table) {
            ui.label(format!("{yaw:+.0}°"));
            for &value in row {
                let shade = (((value - low) / span).clamp(0.0, 1.0) * 255.0) as u8;
                let fill = egui::Color32::from_rgb(shade / 3, shade / 2 + 20, shade);
                let text = if shade > 150 { egui::Color32::BLACK } else { egui::Color32::WHITE };
                let (rect, _) = ui.allocate_exact_size(cell, egui::Sense::hover());
                ui.painter().rect_filled(rect, 2.0, fill);
                ui.painter().text(rect.center(), egui::Align2::CENTER_CENTER, label(value), egui::FontId::monospace(11.0), text);
            }
            ui.end_row();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{MIN_FAR_LOG10, far_label, roc_on_log_axis};

    #[test]
    fn the_roc_axis_names_powers_of_ten_only() {
        assert_eq!(far_label(-3.0), "0.001");
        assert_eq!(far_label(-1.0), "0.1");
        assert_eq!(far_label(0.0), "1");
        assert_eq!(far_label(-2.5), "");
    }

    #[test]
    fn the_roc_goes_on_the_log_axis_with_zero_rates_at_its_end() {
        let points: Vec<[f64; 2]> = roc_on_log_axis(&[[0.0, 0.5], [0.01, 0.9], [1.0, 1.0]]).iter().map(|p| [p.x, p.y]).collect();
        assert_eq!(points, vec![[MIN_FAR_LOG10, 0.5], [-2.0, 0.9], [0.0, 1.0]]);
    }
}

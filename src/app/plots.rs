//! Training curves: the losses and the accuracies of `metrics.jsonl`, smoothed by an
//! exponential moving average with the raw series drawn faintly behind, against steps or time.

use eframe::egui;
use egui_plot::{Corner, Legend, Line, Plot, PlotPoints, Points};

use crate::train::{StepEval, StepMetrics};

/// How the curves are drawn (persisted with the Train view's settings).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CurveSettings {
    /// EMA weight of the past, 0 (raw) to 0.99.
    pub smoothing: f64,
    /// X axis in seconds of training rather than steps.
    pub by_time: bool,
    /// Where the plots' legends go.
    #[serde(default)]
    pub legend: LegendPlace,
}

impl Default for CurveSettings {
    fn default() -> Self {
        Self {
            smoothing: 0.9,
            by_time: false,
            legend: LegendPlace::Auto,
        }
    }
}

/// Where a plot's legend goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LegendPlace {
    /// Each plot's own choice: the corner its curves leave free.
    #[default]
    Auto,
    /// A corner, for every plot.
    Corner(LegendCorner),
    /// No legend (hovering a curve still names it).
    Hidden,
}

/// A plot's corner (egui_plot's `Corner`, which cannot be saved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LegendCorner {
    /// Top left.
    LeftTop,
    /// Top right.
    RightTop,
    /// Bottom left.
    LeftBottom,
    /// Bottom right.
    RightBottom,
}

impl LegendPlace {
    /// Every choice, with its name in the menu.
    const CHOICES: [(LegendPlace, &'static str); 6] = [
        (LegendPlace::Auto, "where the curves leave room"),
        (LegendPlace::Corner(LegendCorner::LeftTop), "top left"),
        (LegendPlace::Corner(LegendCorner::RightTop), "top right"),
        (LegendPlace::Corner(LegendCorner::LeftBottom), "bottom left"),
        (
            LegendPlace::Corner(LegendCorner::RightBottom),
            "bottom right",
        ),
        (LegendPlace::Hidden, "hidden"),
    ];

    /// The legend of a plot whose own choice is `auto` (`None`: no legend).
    fn legend(self, auto: Corner) -> Option<Legend> {
        let corner = match self {
            LegendPlace::Auto => auto,
            LegendPlace::Corner(LegendCorner::LeftTop) => Corner::LeftTop,
            LegendPlace::Corner(LegendCorner::RightTop) => Corner::RightTop,
            LegendPlace::Corner(LegendCorner::LeftBottom) => Corner::LeftBottom,
            LegendPlace::Corner(LegendCorner::RightBottom) => Corner::RightBottom,
            LegendPlace::Hidden => return None,
        };
        Some(legend(corner))
    }
}

/// An exponential moving average: `s_t = w·s_{t−1} + (1 − w)·x_t`, started at the first value.
pub fn ema(values: &[f64], weight: f64) -> Vec<f64> {
    let mut smoothed = Vec::with_capacity(values.len());
    let mut state = None;
    for &value in values {
        let next = match state {
            None => value,
            Some(previous) => weight * previous + (1.0 - weight) * value,
        };
        state = Some(next);
        smoothed.push(next);
    }
    smoothed
}

/// A named series of the quick evaluations, in its colour.
type EvalSeries = (&'static str, egui::Color32, fn(&StepEval) -> Option<f64>);

/// A named series in its colour; steps without a value (terms the recipe leaves out) are skipped.
type Series = (&'static str, egui::Color32, fn(&StepMetrics) -> Option<f32>);

/// Every series of the three plots has a colour of its own, so a colour means one thing across
/// the Train view: D's in reds and oranges, G's in blues and purples (its pose terms in blues,
/// its identity terms in purples), the held-out evaluation's in greens, olives and pink, the
/// identity judge's in browns.
mod colors {
    use eframe::egui::Color32;
    pub const D_LOSS: Color32 = Color32::from_rgb(214, 39, 40);
    pub const D_IDENTITY: Color32 = Color32::from_rgb(255, 127, 14);
    pub const D_POSE: Color32 = Color32::from_rgb(255, 187, 120);
    pub const D_FAKE: Color32 = Color32::from_rgb(255, 152, 150);
    pub const G_LOSS: Color32 = Color32::from_rgb(31, 119, 180);
    pub const G_RECONSTRUCTION: Color32 = Color32::from_rgb(174, 199, 232);
    pub const G_POSE_D: Color32 = Color32::from_rgb(23, 190, 207);
    pub const G_POSE_TEACHER: Color32 = Color32::from_rgb(158, 218, 229);
    pub const G_IDENTITY_D: Color32 = Color32::from_rgb(148, 103, 189);
    pub const G_IDENTITY_COSINE: Color32 = Color32::from_rgb(197, 176, 213);
    pub const RANK1: Color32 = Color32::from_rgb(44, 160, 44);
    pub const RANK1_FRONTALIZED: Color32 = Color32::from_rgb(152, 223, 138);
    pub const SSIM_FRONTAL: Color32 = Color32::from_rgb(188, 189, 34);
    pub const SSIM_ALL: Color32 = Color32::from_rgb(219, 219, 141);
    pub const POSE_CONTROL: Color32 = Color32::from_rgb(227, 119, 194);
    pub const JUDGE_KEPT: Color32 = Color32::from_rgb(140, 86, 75);
    pub const JUDGE_RANK1: Color32 = Color32::from_rgb(196, 156, 148);
}

const LOSSES: [Series; 3] = [
    ("D loss", colors::D_LOSS, |m| Some(m.d_loss)),
    ("G loss", colors::G_LOSS, |m| Some(m.g_loss)),
    ("G reconstruction L1", colors::G_RECONSTRUCTION, |m| m.g_reconstruction_l1),
];
const ACCURACIES: [Series; 7] = [
    ("D identity, real", colors::D_IDENTITY, |m| Some(m.d_id_acc_real)),
    ("D pose, real", colors::D_POSE, |m| Some(m.d_pose_acc_real)),
    ("D fake detected", colors::D_FAKE, |m| Some(m.d_fake_acc)),
    ("G pose obeyed (as D reads it)", colors::G_POSE_D, |m| Some(m.g_pose_acc)),
    ("G identity kept (D names the source)", colors::G_IDENTITY_D, |m| Some(m.g_id_acc)),
    ("G identity cosine f(x)·f(G(x))", colors::G_IDENTITY_COSINE, |m| m.g_identity_cos),
    ("G pose obeyed (as the teacher reads it)", colors::G_POSE_TEACHER, |m| m.g_teacher_pose_acc),
];
const EVALUATIONS: [EvalSeries; 7] = [
    (
        "identity judge: G's faces called the input's person",
        colors::JUDGE_KEPT,
        |e| e.judge_identity_kept,
    ),
    (
        "identity judge: rank-1, frontalized",
        colors::JUDGE_RANK1,
        |e| e.judge_rank1_frontalized_avg,
    ),
    ("rank-1 average (G's own encoder)", colors::RANK1, |e| {
        e.rank1_avg
    }),
    (
        "rank-1, frontalized (G's own encoder)",
        colors::RANK1_FRONTALIZED,
        |e| e.rank1_frontalized_avg,
    ),
    ("frontal SSIM", colors::SSIM_FRONTAL, |e| e.ssim_frontal_avg),
    ("SSIM, every pose pair", colors::SSIM_ALL, |e| e.ssim_mean),
    ("pose control (independent classifier)", colors::POSE_CONTROL, |e| e.pose_control_acc),
];

/// The smoothing and axis controls.
pub fn controls_ui(ui: &mut egui::Ui, settings: &mut CurveSettings) {
    ui.horizontal(|ui| {
        ui.add(egui::Slider::new(&mut settings.smoothing, 0.0..=0.99).fixed_decimals(2).text("smoothing"));
        ui.separator();
        ui.label("x axis");
        ui.selectable_value(&mut settings.by_time, false, "step");
        ui.selectable_value(&mut settings.by_time, true, "time");
        ui.separator();
        let label = ui.label("legends");
        let shown = LegendPlace::CHOICES
            .iter()
            .find(|(place, _)| *place == settings.legend)
            .map_or("", |(_, name)| name);
        egui::ComboBox::from_id_salt("curves-legend")
            .selected_text(shown)
            .show_ui(ui, |ui| {
                for (place, name) in LegendPlace::CHOICES {
                    ui.selectable_value(&mut settings.legend, place, name);
                }
            })
            .response
            .labelled_by(label.id);
    });
}

/// The loss plot and the accuracy plot (and, when the run evaluates as it trains, the
/// evaluation plot), with linked x axes and cursors.
pub fn curves_ui(ui: &mut egui::Ui, metrics: &[StepMetrics], evals: &[StepEval], settings: &CurveSettings) {
    let group = ui.scope_id().with("curves");
    let plots = if evals.is_empty() { 2.0 } else { 3.0 };
    let height = ((ui.available_height() - 20.0 * plots) / plots).clamp(110.0, 260.0);
    let x_of = |m: &StepMetrics| if settings.by_time { m.wall_secs } else { m.step as f64 };
    let x_label = if settings.by_time { "seconds of training" } else { "step" };
    // The same x range on every plot, also before egui has linked their axes (the evaluations
    // start at their first step, the curves at the run's start).
    let x_last = metrics.last().map_or(0.0, x_of);
    // Losses fall, so their legend goes top right; accuracies rise, so theirs goes bottom right.
    for (title, series, y_max, corner) in [("loss", &LOSSES[..], None, Corner::RightTop), ("accuracy", &ACCURACIES[..], Some(1.0), Corner::RightBottom)] {
        let mut plot = Plot::new(format!("curves-{title}"))
            .y_axis_label(title)
            .height(height)
            .link_axis(group, [true, false])
            .link_cursor(group, [true, false])
            .x_axis_label(x_label)
            .x_grid_spacer(step_marks)
            .include_x(0.0)
            .include_x(x_last)
            .include_y(0.0);
        if let Some(max) = y_max {
            plot = plot.include_y(max);
        }
        if let Some(legend) = settings.legend.legend(corner) {
            plot = plot.legend(legend);
        }
        plot.show(ui, |plot| {
            for &(name, color, value) in series {
                let (xs, raw): (Vec<f64>, Vec<f64>) = metrics.iter().filter_map(|m| value(m).map(|v| (x_of(m), v as f64))).unzip();
                if raw.is_empty() {
                    continue;
                }
                let smooth = ema(&raw, settings.smoothing);
                if settings.smoothing > 0.0 {
                    let faint: PlotPoints = xs.iter().zip(&raw).map(|(&x, &y)| [x, y]).collect();
                    // Unnamed, so the legend shows only the smoothed series (in its colour).
                    plot.line(Line::new("", faint).color(color.gamma_multiply(0.25)).width(1.0).allow_hover(false));
                }
                let points: PlotPoints = xs.iter().zip(&smooth).map(|(&x, &y)| [x, y]).collect();
                plot.line(Line::new(name, points).color(color).width(1.8));
            }
        });
    }
    if evals.is_empty() {
        return;
    }
    // Evaluations are placed on the time axis at the wall time of their step.
    let time_of = |step: u64| metrics.iter().find(|m| m.step == step).map_or(step as f64, |m| m.wall_secs);
    let x = |step: u64| if settings.by_time { time_of(step) } else { step as f64 };
    let identities = evals.last().map_or(0, |e| e.identities);
    // The evaluations rise from low at the left: the top left corner stays free longest.
    let mut plot = Plot::new("curves-eval");
    if let Some(legend) = settings.legend.legend(Corner::LeftTop) {
        plot = plot.legend(legend);
    }
    plot.height(height)
        .link_axis(group, [true, false])
        .link_cursor(group, [true, false])
        .x_axis_label(format!(
            "{x_label} · evaluated on {identities} held-out identities"
        ))
        .x_grid_spacer(step_marks)
        .y_axis_label("held-out evaluation")
        .include_x(0.0)
        .include_x(x_last)
        .include_y(0.0)
        .include_y(1.0)
        .show(ui, |plot| {
            for (name, color, value) in EVALUATIONS {
                let values: Vec<[f64; 2]> = evals
                    .iter()
                    .filter_map(|e| value(e).map(|v| [x(e.step), v]))
                    .collect();
                if values.is_empty() {
                    continue;
                }
                // Each evaluation is a marker too: a single one is otherwise a dot a pixel wide.
                plot.points(
                    Points::new("", PlotPoints::from(values.clone()))
                        .color(color)
                        .radius(3.5)
                        .allow_hover(false),
                );
                plot.line(
                    Line::new(name, PlotPoints::from(values))
                        .color(color)
                        .width(1.8),
                );
            }
        });
}

/// A small legend in `corner`, listing the series in the order they are drawn (counted from the
/// corner), so that it hides as little of the curves' late (right-hand) end as it can.
fn legend(corner: Corner) -> Legend {
    Legend::default().position(corner).text_style(egui::TextStyle::Small).follow_insertion_order(true)
}

/// Grid lines along a run's steps (or seconds) at 1-2-5 spacings, about five labelled ones
/// across: egui_plot's powers of ten leave only 0 labelled once a narrow plot has no room for a
/// label every 100 steps of 800.
fn step_marks(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let (low, high) = input.bounds;
    let span = (high - low).abs().max(f64::EPSILON);
    let target = (span / 5.0).max(input.base_step_size);
    let power = 10f64.powf(target.log10().floor());
    let major = power
        * [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .find(|&m| m * power >= target)
            .unwrap_or(10.0);
    let mut marks = Vec::new();
    for step in [major, major / 2.0, major / 10.0] {
        if step < input.base_step_size {
            continue;
        }
        // `+ 0.0` turns -0.0 (a bound just below zero) into 0.0, which egui labels "0", not "-0".
        let mut value = (low / step).ceil() * step + 0.0;
        while value <= high {
            // Each value once, with the largest step it lies on (its line's thickness).
            if !marks
                .iter()
                .any(|m: &egui_plot::GridMark| (m.value - value).abs() < step * 1e-6)
            {
                marks.push(egui_plot::GridMark {
                    value,
                    step_size: step,
                });
            }
            value += step;
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::{ACCURACIES, EVALUATIONS, LOSSES, ema};

    #[test]
    fn ema_starts_at_the_first_value_and_follows_the_weight() {
        assert_eq!(ema(&[1.0, 3.0], 0.5), vec![1.0, 2.0]);
        assert_eq!(ema(&[1.0, 3.0], 0.0), vec![1.0, 3.0]);
    }

    #[test]
    fn every_series_of_the_train_view_has_a_colour_of_its_own() {
        let colors: Vec<_> = LOSSES.iter().map(|s| s.1).chain(ACCURACIES.iter().map(|s| s.1)).chain(EVALUATIONS.iter().map(|s| s.1)).collect();
        for (i, a) in colors.iter().enumerate() {
            for b in &colors[i + 1..] {
                assert_ne!(a, b, "two series share a colour");
            }
        }
    }

    #[test]
    fn the_step_axis_is_marked_at_round_numbers_about_five_times_across() {
        let marks = super::step_marks(egui_plot::GridInput {
            bounds: (-20.0, 820.0),
            base_step_size: 8.0,
        });
        let major: Vec<f64> = marks
            .iter()
            .filter(|m| m.step_size == 200.0)
            .map(|m| m.value)
            .collect();
        assert_eq!(major, [0.0, 200.0, 400.0, 600.0, 800.0]);
        assert!(major[0].is_sign_positive(), "the first mark would be labelled -0");
        assert!(
            marks
                .iter()
                .any(|m| m.value == 100.0 && m.step_size == 100.0)
        );
        assert!(marks.iter().all(|m| m.step_size >= 8.0));
    }
}

//! The status bar: the device, the model in Explore, the last error and the frame time.

use std::collections::VecDeque;
use std::time::Duration;

use eframe::egui;

use super::worker::{ModelInfo, Topic};

/// Frames over which the frame time is summarised.
const FRAME_WINDOW: usize = 120;

/// What the status bar shows.
pub struct StatusBar {
    /// The model's device, e.g. `cpu: burn flex`.
    pub device: Option<String>,
    /// Why that device.
    pub device_reason: String,
    /// The window's wgpu adapter, described.
    pub window_adapter: Option<String>,
    /// Whether the window draws on a software adapter.
    pub software: bool,
    /// The model shown in Explore.
    pub model: Option<ModelInfo>,
    /// The last error, until dismissed (or cleared by a later success of its kind).
    pub last_error: Option<String>,
    /// What the last error is about.
    error_about: Topic,
    /// Whether the frame time is shown (snapshot tests hide it: it differs every run).
    pub show_frame_time: bool,
    frame_times: VecDeque<Duration>,
}

impl StatusBar {
    /// A status bar for a window drawing on `window_adapter`.
    pub fn new(window_adapter: Option<String>) -> Self {
        Self {
            device: None,
            device_reason: String::new(),
            software: false,
            window_adapter,
            model: None,
            last_error: None,
            error_about: Topic::Other,
            show_frame_time: true,
            frame_times: VecDeque::new(),
        }
    }

    /// The model thread is up on `name`.
    pub fn device_ready(&mut self, name: String, reason: String, software: bool) {
        self.device = Some(name);
        self.device_reason = reason;
        self.software = software;
    }

    /// A model was loaded into Explore.
    pub fn model_loaded(&mut self, info: &ModelInfo) {
        self.model = Some(info.clone());
    }

    /// Shows `message` until dismissed.
    pub fn error(&mut self, message: String) {
        self.error_about(Topic::Other, message);
    }

    /// Shows `message`, about `topic`, until dismissed or until a later request of that kind
    /// succeeds ([`Self::succeeded`]).
    pub fn error_about(&mut self, topic: Topic, message: String) {
        self.last_error = Some(message);
        self.error_about = topic;
    }

    /// A request about `topic` worked (a model or a comparison loaded, an export written, an
    /// evaluation made, a run started): an older error of that kind no longer describes the
    /// window, and goes; an error about something else stays.
    pub fn succeeded(&mut self, topic: Topic) {
        if self.error_about == topic {
            self.last_error = None;
        }
    }

    /// Records how long the last frame's UI code took.
    pub fn frame_finished(&mut self, took: Duration) {
        if self.frame_times.len() == FRAME_WINDOW {
            self.frame_times.pop_front();
        }
        self.frame_times.push_back(took);
    }

    /// The median and the slowest UI time of the last frames, in milliseconds.
    pub fn frame_ms(&self) -> Option<(f64, f64)> {
        let mut times: Vec<f64> = self.frame_times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
        if times.is_empty() {
            return None;
        }
        times.sort_by(f64::total_cmp);
        Some((times[times.len() / 2], times[times.len() - 1]))
    }

    /// Draws the bar.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            match &self.device {
                Some(device) => {
                    ui.label(format!("Model on {device}")).on_hover_text(&self.device_reason);
                }
                None => {
                    ui.spinner();
                    ui.label("starting the model thread…");
                }
            }
            if self.software {
                ui.colored_label(ui.visuals().warn_fg_color, "no GPU: the window is drawn by a software adapter")
                    .on_hover_text(self.window_adapter.as_deref().unwrap_or("the model's device is emulated on the CPU"));
            } else if let Some(adapter) = &self.window_adapter {
                ui.label(format!("window: {adapter}"));
            }
            ui.separator();
            match &self.model {
                Some(model) => {
                    ui.label(format!("Model: {}, {}", model.summary, model.steps_label())).on_hover_text(&model.origin);
                }
                None => {
                    ui.label("no model loaded");
                }
            }
            if let Some((median, slowest)) = self.frame_ms().filter(|_| self.show_frame_time) {
                ui.separator();
                ui.label(format!("UI {median:.1} ms/frame (slowest {slowest:.1} ms)"));
            }
            if let Some(error) = self.last_error.clone() {
                ui.separator();
                ui.colored_label(ui.visuals().error_fg_color, format!("Error: {error}"));
                if ui.small_button("Dismiss").clicked() {
                    self.last_error = None;
                }
            }
        });
    }
}

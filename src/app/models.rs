//! The model picker shown atop Explore and Evaluate: the built-in model, and the runs opened,
//! trained or loaded in the studio with each of their checkpoints, so that a person can go back
//! and forth between models without a restart.

use std::path::{Path, PathBuf};

use eframe::egui;

use super::worker::{Command, ModelInfo, WorkerHandle};
use crate::train::RunDir;

/// Where the list of recent runs is kept between launches.
pub const SETTINGS_KEY: &str = "recent_runs";
/// Runs the picker remembers.
const REMEMBERED: usize = 8;

/// The runs the studio has seen lately, newest first.
#[derive(Default)]
pub struct ModelPicker {
    runs: Vec<PathBuf>,
    /// Each run's checkpoints, read when the list was last opened.
    listed: Option<Vec<Vec<u64>>>,
}

impl ModelPicker {
    /// The picker as saved by [`Self::settings_json`] (empty when there is nothing to read).
    pub fn restore(json: Option<&str>) -> Self {
        let runs: Vec<PathBuf> = json
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        Self {
            runs: runs.into_iter().take(REMEMBERED).collect(),
            listed: None,
        }
    }

    /// What to save between launches.
    pub fn settings_json(&self) -> String {
        serde_json::to_string(&self.runs).unwrap_or_else(|_| "[]".to_owned())
    }

    /// Remembers `run` as the newest (a run opened, trained or loaded).
    pub fn remember(&mut self, run: &Path) {
        let run = run.canonicalize().unwrap_or_else(|_| run.to_path_buf());
        self.runs.retain(|known| *known != run);
        self.runs.insert(0, run);
        self.runs.truncate(REMEMBERED);
    }

    /// A row "Model: [picker]" for the model on show; choosing another loads it.
    pub fn ui(&mut self, ui: &mut egui::Ui, worker: &WorkerHandle, shown: Option<&ModelInfo>) {
        ui.horizontal(|ui| {
            let label = ui.label("Model");
            let current = shown.map_or_else(|| "loading…".to_owned(), |m| format!("{} · {}", m.origin, m.steps_label()));
            let mut chosen = None;
            let runs = &self.runs;
            let listed = &mut self.listed;
            let shown_list = egui::ComboBox::from_id_salt("model-picker")
                .width(ui.available_width().min(640.0) - 60.0)
                .selected_text(current)
                .show_ui(ui, |ui| {
                    let built_in = |origin: &str| shown.is_some_and(|m| m.run.is_none() && m.origin == origin);
                    if ui.selectable_label(built_in(super::shipped::ORIGIN), super::shipped::ORIGIN).clicked() {
                        chosen = Some(Command::LoadShipped);
                    }
                    if ui.selectable_label(built_in(super::shipped::MULTI_ORIGIN), super::shipped::MULTI_ORIGIN).on_hover_text("Fuses several photos of one person by their confidences").clicked() {
                        chosen = Some(Command::LoadShippedMulti);
                    }
                    // Read once each time the list opens, not every frame it stays open.
                    let checkpoints = listed.get_or_insert_with(|| runs.iter().map(|run| RunDir::new(run).checkpoints()).collect());
                    for (run, checkpoints) in runs.iter().zip(checkpoints.iter()) {
                        ui.separator();
                        ui.label(egui::RichText::new(run.display().to_string()).small());
                        if checkpoints.is_empty() {
                            ui.label("  no checkpoint yet");
                        }
                        for &step in checkpoints.iter().rev() {
                            let on_show = shown.is_some_and(|m| m.run.as_deref() == Some(run.as_path()) && m.step == step);
                            if ui.selectable_label(on_show, format!("  step {step}")).clicked() {
                                chosen = Some(Command::LoadRun { run: run.clone(), step: Some(step) });
                            }
                        }
                    }
                });
            if shown_list.inner.is_none() {
                *listed = None;
            }
            shown_list
                .response
                .labelled_by(label.id)
                .on_hover_text(format!(
                    "{}\nThe built-in models, and every run opened, trained or loaded in the studio, by checkpoint",
                    shown.map_or("", |m| m.summary.as_str())
                ));
            if let Some(command) = chosen {
                worker.send(command);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_run_comes_first_once_and_the_list_survives_a_restart() {
        let mut picker = ModelPicker::default();
        for run in ["/tmp/a", "/tmp/b", "/tmp/a"] {
            picker.remember(Path::new(run));
        }
        assert_eq!(
            picker.runs,
            [PathBuf::from("/tmp/a"), PathBuf::from("/tmp/b")]
        );
        let restored = ModelPicker::restore(Some(&picker.settings_json()));
        assert_eq!(restored.runs, picker.runs);
        assert!(ModelPicker::restore(Some("not json")).runs.is_empty());
    }
}

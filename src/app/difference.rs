//! Explore's difference view: where the redrawn face differs from the true rendering (or from
//! the input), as a heat map drawn by the GPU over the face, with its colour scale, a blend
//! slider between face and map, and the map's mean.

use std::sync::Arc;

use eframe::egui;
use image::RgbImage;

use super::heatmap::{self, Heatmap, MapKind};
use crate::eval::image_quality::{difference_map, ssim_map};

/// What the output is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Against {
    /// The true rendering at the requested pose (synthetic faces).
    Truth,
    /// The input itself: the right reference when the pose asked for is the input's own.
    Input,
}

/// The faces the difference view compares.
pub struct Faces<'a> {
    /// The redrawn face.
    pub output: &'a Arc<RgbImage>,
    /// The pose it was drawn at, in degrees.
    pub output_yaw: f32,
    /// The true rendering at that pose (synthetic faces whose identity is not blended), and the
    /// output's SSIM against it where already measured.
    pub truth: Option<(&'a Arc<RgbImage>, Option<f64>)>,
    /// The input.
    pub input: &'a Arc<RgbImage>,
    /// The input's own pose, where it is known (synthetic faces).
    pub input_yaw: Option<f32>,
}

/// The difference view's state.
pub struct DifferenceView {
    /// Why the window cannot draw the map, if it cannot (see [`heatmap::install`]).
    pub unavailable: Option<String>,
    /// Which map.
    pub kind: MapKind,
    /// 0: the face alone … 1: the map alone.
    pub blend: f32,
    /// The reference asked for (the input when there is no truth).
    pub against: Against,
    /// The map's mean for the faces and map last shown (faces compared by identity).
    mean: Option<(Arc<RgbImage>, Arc<RgbImage>, MapKind, f64)>,
}

impl Default for DifferenceView {
    fn default() -> Self {
        Self { unavailable: Some("the window's renderer is not attached yet".to_owned()), kind: MapKind::Ssim, blend: 0.7, against: Against::Truth, mean: None }
    }
}

impl DifferenceView {
    /// The map's mean for these faces, computed once per pair and kind.
    fn mean(&mut self, output: &Arc<RgbImage>, reference: &Arc<RgbImage>) -> f64 {
        if let Some((o, r, kind, mean)) = &self.mean
            && Arc::ptr_eq(o, output)
            && Arc::ptr_eq(r, reference)
            && *kind == self.kind
        {
            return *mean;
        }
        let mean = match self.kind {
            MapKind::Ssim => ssim_map(output, reference).mean(),
            MapKind::Difference => difference_map(output, reference).mean(),
        };
        self.mean = Some((output.clone(), reference.clone(), self.kind, mean));
        mean
    }

    /// The view's column: the map over `output` (drawn at `output_yaw`) at `side` points,
    /// against `truth` when there is one and the person asked for it, otherwise against `input`
    /// — which means something only at the input's own pose, `input_yaw` where it is known.
    /// Returns a pose to turn to, when the person asks for the input's own.
    pub fn ui(&mut self, ui: &mut egui::Ui, faces: Faces<'_>, side: f32) -> Option<f32> {
        let Faces { output, output_yaw, truth, input, input_yaw } = faces;
        let mut turn_to = None;
        ui.vertical(|ui| {
            ui.strong("Where it differs");
            let against = if truth.is_some() { self.against } else { Against::Input };
            let (reference, known_ssim) = match (against, truth) {
                (Against::Truth, Some((truth, ssim))) => (truth, ssim),
                _ => (input, None),
            };
            if let Some(reason) = &self.unavailable {
                ui.allocate_ui(egui::vec2(side, side), |ui| ui.label(format!("no map: {reason}")));
                return;
            }
            if let Some(own) = input_yaw.filter(|own| against == Against::Input && (own - output_yaw).abs() > 0.01) {
                ui.allocate_ui(egui::vec2(side, side), |ui| {
                    ui.label(format!(
                        "The input shows the face at {own:+.0}°, and the output is drawn at {output_yaw:+.0}°: pixel by pixel, the input can only be compared with the output at the input's own pose."
                    ));
                    if ui.button(format!("Turn to {own:+.0}°")).clicked() {
                        turn_to = Some(own);
                    }
                    if truth.is_some() && ui.button(format!("Compare with the true rendering at {output_yaw:+.0}°")).clicked() {
                        self.against = Against::Truth;
                    }
                });
                return;
            }
            if reference.dimensions() != output.dimensions() {
                ui.allocate_ui(egui::vec2(side, side), |ui| ui.label("the input is not the output's size"));
                return;
            }
            let (rect, _) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
            let map = Heatmap { id: egui::Id::unique("explore-difference-map"), face: output.clone(), reference: reference.clone(), kind: self.kind, blend: self.blend };
            heatmap::paint(ui, rect, map);
            heatmap::legend_ui(ui, self.kind, side);
            let mean = match (self.kind, known_ssim) {
                (MapKind::Ssim, Some(ssim)) => ssim,
                _ => self.mean(output, reference),
            };
            ui.label(match self.kind {
                MapKind::Ssim => format!("mean SSIM {mean:.3}"),
                MapKind::Difference => format!("mean |difference| {mean:.1} of 255"),
            });
            ui.horizontal(|ui| {
                for kind in [MapKind::Ssim, MapKind::Difference] {
                    ui.selectable_value(&mut self.kind, kind, kind.label());
                }
            });
            ui.horizontal(|ui| {
                ui.label("against");
                if truth.is_some() {
                    ui.selectable_value(&mut self.against, Against::Truth, "truth");
                    ui.selectable_value(&mut self.against, Against::Input, "input").on_hover_text("meaningful when the pose asked for is the input's own");
                } else {
                    ui.label("the input").on_hover_text("meaningful when the pose asked for is the input's own; synthetic faces also have a true rendering at every pose");
                }
            });
            ui.horizontal(|ui| {
                ui.spacing_mut().slider_width = side - 90.0;
                ui.add(egui::Slider::new(&mut self.blend, 0.0..=1.0).fixed_decimals(2).text("map opacity")).on_hover_text("0: the face alone; 1: the map alone");
            });
        });
        turn_to
    }
}

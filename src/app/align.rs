//! Explore's alignment step: the person clicks the two eye centres and the mouth centre on the
//! photo, sees the crop the model would get (the photo warped so those points land where the
//! training faces have them, `data::align`), and uses it or not.

use std::sync::Arc;

use eframe::egui;
use image::RgbImage;

use super::button_unless;
use super::worker::{Command, WorkerHandle};
use crate::data::ImageSource;
use crate::data::align::{Landmarks, NAMES, check};

/// Side of the largest photo the view shows; the model thread shrinks bigger ones for showing.
pub const SHOWN_PHOTO: u32 = 1024;
/// Side at which the photo is drawn for clicking, at most.
const CLICK_SIDE: f32 = 420.0;
/// Side at which the aligned crop is drawn.
const CROP_SIDE: f32 = 192.0;
/// The most the photo is enlarged for clicking.
const MAX_ZOOM: f32 = 6.0;

/// The photo as shown: a texture, and its full size (clicks are kept in full-size pixels).
struct Photo {
    texture: egui::TextureHandle,
    full: [u32; 2],
}

/// What the person decided.
pub enum Decision {
    /// Still clicking or looking.
    Open,
    /// Use this crop (aligned by these landmarks) as the input.
    Use(Landmarks, Arc<RgbImage>),
    /// Close without changing the input.
    Cancel,
}

/// The alignment window for one photo.
pub struct AlignView {
    /// The photo being aligned.
    pub source: ImageSource,
    photo: Option<Photo>,
    /// Clicked points so far, in the photo's full-size pixels.
    points: Vec<[f32; 2]>,
    /// The crop for the three points, once the model thread has made it.
    preview: Option<(Landmarks, Arc<RgbImage>, egui::TextureHandle)>,
    problem: Option<String>,
    /// How much the photo is enlarged (1: it fits the square).
    pub zoom: f32,
}

impl AlignView {
    /// Opens the view for `source` and asks the model thread for the photo.
    pub fn open(source: ImageSource, worker: &WorkerHandle) -> Self {
        worker.send(Command::LoadPhoto {
            source: source.clone(),
        });
        Self {
            source,
            photo: None,
            points: Vec::new(),
            preview: None,
            problem: None,
            zoom: 1.0,
        }
    }

    /// Opens the view for `source` with the three points already placed (`window --landmarks`).
    pub fn open_with(source: ImageSource, landmarks: Landmarks, worker: &WorkerHandle) -> Self {
        let mut view = Self::open(source, worker);
        view.points = landmarks.0.to_vec();
        view
    }

    /// Whether what the view shows has arrived (the photo, and the crop once three points are
    /// placed), or why it cannot.
    pub fn settled(&self) -> bool {
        self.problem.is_some() || (self.photo.is_some() && (self.points.len() < 3 || self.preview.is_some()))
    }

    /// The photo arrived: `shown` (at most [`SHOWN_PHOTO`] on a side) of a `full`-size photo.
    pub fn photo_loaded(&mut self, source: &ImageSource, shown: &RgbImage, full: [u32; 2], ctx: &egui::Context, worker: &WorkerHandle) {
        if source.describe() != self.source.describe() {
            return;
        }
        self.photo = Some(Photo { texture: super::texture(ctx, "align-photo", shown, egui::TextureOptions::LINEAR), full });
        self.request_crop(worker);
    }

    /// The photo or the crop could not be made.
    pub fn failed(&mut self, source: &ImageSource, reason: String) {
        if source.describe() == self.source.describe() {
            self.problem = Some(reason);
        }
    }

    /// Asks again for the crop (another model, of another size, is loaded).
    pub fn refresh(&mut self, worker: &WorkerHandle) {
        self.preview = None;
        self.request_crop(worker);
    }

    /// With three points on a loaded photo: checks them and asks the model thread for the crop.
    fn request_crop(&mut self, worker: &WorkerHandle) {
        self.problem = None;
        if let (Some(landmarks), Some(photo)) = (self.landmarks(), &self.photo) {
            match check(&landmarks, photo.full[0], photo.full[1]) {
                Ok(()) => worker.send(Command::Prepare { source: self.source.clone(), landmarks: Some(landmarks) }),
                Err(problem) => self.problem = Some(format!("{problem}; undo and click again")),
            }
        }
    }

    /// The crop for `landmarks` arrived.
    pub fn aligned(&mut self, source: &ImageSource, landmarks: Landmarks, crop: Arc<RgbImage>, ctx: &egui::Context) {
        if source.describe() != self.source.describe() || self.landmarks() != Some(landmarks) {
            return;
        }
        let texture = super::texture(ctx, "align-crop", &crop, egui::TextureOptions::NEAREST);
        self.preview = Some((landmarks, crop, texture));
    }

    /// The three clicked points, once there are three.
    fn landmarks(&self) -> Option<Landmarks> {
        let points: [[f32; 2]; 3] = self.points.as_slice().try_into().ok()?;
        Some(Landmarks(points))
    }

    /// Adds a clicked point (full-size pixels); with the third, asks for the crop.
    pub fn click(&mut self, point: [f32; 2], worker: &WorkerHandle) {
        if self.points.len() >= 3 {
            return;
        }
        self.points.push(point);
        self.request_crop(worker);
    }

    /// Takes back the last `count` points (all of them, for "Start over").
    fn take_back(&mut self, count: usize) {
        self.points.truncate(self.points.len().saturating_sub(count));
        self.preview = None;
        self.problem = None;
    }

    /// The window; returns what the person decided.
    pub fn ui(&mut self, ctx: &egui::Context, worker: &WorkerHandle) -> Decision {
        let mut decision = Decision::Open;
        let mut open = true;
        egui::Window::new("Align the photo").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
            ui.label(format!("{} — the model understands faces placed as in its training set.", self.source.describe()));
            let prompt = match self.points.len() {
                n @ 0..=2 => format!("Click the centre of {} ({} of 3).", NAMES[n], n + 1),
                _ if self.preview.is_some() => "Check the crop on the right (Undo moves the last point back):".to_owned(),
                _ if self.problem.is_some() => String::new(),
                _ => "Aligning…".to_owned(),
            };
            ui.strong(prompt);
            ui.horizontal_top(|ui| {
                self.photo_ui(ui, worker);
                if let Some((_, _, texture)) = &self.preview {
                    ui.vertical(|ui| {
                        ui.label("The crop the model will get");
                        ui.add(egui::Image::new((texture.id(), egui::vec2(CROP_SIDE, CROP_SIDE))));
                    });
                }
            });
            if let Some(problem) = &self.problem {
                ui.colored_label(ui.visuals().warn_fg_color, problem);
            }
            ui.horizontal(|ui| {
                if button_unless(ui, "Undo", &[(self.points.is_empty(), "no point has been placed yet")]).clicked() {
                    self.take_back(1);
                }
                if button_unless(ui, "Start over", &[(self.points.is_empty(), "no point has been placed yet")]).clicked() {
                    self.take_back(3);
                }
                if let Some((landmarks, crop, _)) = &self.preview
                    && ui.button("Use this crop").clicked()
                {
                    decision = Decision::Use(*landmarks, crop.clone());
                }
                if ui.button("Cancel").clicked() {
                    decision = Decision::Cancel;
                }
            });
        });
        if !open {
            decision = Decision::Cancel;
        }
        decision
    }

    /// The photo, taking clicks, with the points so far marked and numbered.
    fn photo_ui(&mut self, ui: &mut egui::Ui, worker: &WorkerHandle) {
        let Some(photo) = &self.photo else {
            if self.problem.is_none() {
                ui.allocate_ui(egui::vec2(CLICK_SIDE, CLICK_SIDE), |ui| {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("reading the photo…");
                    });
                });
            }
            return;
        };
        let [w, h] = photo.full.map(|v| v as f32);
        // The whole photo fits the square at 1×; zoomed in, it scrolls within it, so that an eye
        // a few pixels wide can be clicked on its centre.
        let scale = CLICK_SIDE / w.max(h) * self.zoom;
        let texture = photo.texture.id();
        let points = self.points.clone();
        let clicked = egui::ScrollArea::both()
            .id_salt("align-photo")
            .max_width(CLICK_SIDE)
            .max_height(CLICK_SIDE)
            .show(ui, |ui| {
                let response = ui.add(
                    egui::Image::new((texture, egui::vec2(w * scale, h * scale)))
                        .sense(egui::Sense::click()),
                );
                response.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::Button, true, "photo to align")
                });
                let rect = response.rect;
                let painter = ui.painter_at(rect);
                for (index, point) in points.iter().enumerate() {
                    let at = rect.min + egui::vec2(point[0] * scale, point[1] * scale);
                    painter.circle_stroke(
                        at,
                        6.0,
                        egui::Stroke::new(2.0, egui::Color32::from_rgb(255, 220, 0)),
                    );
                    painter.text(
                        at + egui::vec2(8.0, -8.0),
                        egui::Align2::LEFT_BOTTOM,
                        (index + 1).to_string(),
                        egui::FontId::proportional(14.0),
                        egui::Color32::from_rgb(255, 220, 0),
                    );
                }
                response
                    .clicked()
                    .then(|| response.interact_pointer_pos())
                    .flatten()
                    .map(|pos| [(pos.x - rect.min.x) / scale, (pos.y - rect.min.y) / scale])
            })
            .inner;
        ui.horizontal(|ui| {
            let label = ui.label("zoom");
            ui.add(
                egui::Slider::new(&mut self.zoom, 1.0..=MAX_ZOOM)
                    .fixed_decimals(1)
                    .suffix("×"),
            )
            .labelled_by(label.id)
            .on_hover_text(
                "Zoomed in, the photo scrolls; click the centre of each eye and of the mouth",
            );
        });
        if let Some(point) = clicked {
            self.click(point, worker);
        }
    }
}

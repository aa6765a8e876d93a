//! The GPU's comparison maps against the CPU's: a known pair of faces drawn headless through the
//! heat map shader (`shaders/heatmap.wgsl`, by egui_kittest's wgpu renderer; on a machine
//! without a GPU that is Mesa's lavapipe), every pixel checked against the same map computed on
//! the CPU (`eval::image_quality`) and coloured by the same scale.

use std::sync::Arc;

use drgan_studio::app::heatmap::{self, Heatmap, MapKind, scale_colour};
use drgan_studio::eval::image_quality::{PixelMap, difference_map, ssim, ssim_map};
use drgan_studio::synth::SynthSpec;
use eframe::egui;
use eframe::egui_wgpu::RendererOptions;
use egui_kittest::Harness;
use egui_kittest::wgpu::{WgpuTestRenderer, create_render_state, default_wgpu_setup};
use image::{RgbImage, RgbaImage};

const SIDE: u32 = 64;

/// A redrawn face and its truth stand-in: one synthetic person at two poses and two lights, so
/// the maps run from alike to far apart.
fn pair() -> (RgbImage, RgbImage) {
    let spec = SynthSpec { identities: 4, seed: 5, lights: 2 };
    (spec.render(1, 0.0, 0, SIDE), spec.render(1, 15.0, 1, SIDE))
}

/// `face` under the map of `kind` against `reference`, rendered at one pixel per image pixel.
fn gpu_map(face: &RgbImage, reference: &RgbImage, kind: MapKind, blend: f32) -> RgbaImage {
    let state = create_render_state(default_wgpu_setup(), RendererOptions::PREDICTABLE);
    heatmap::install(Some(&state)).expect("the device takes the map's shader");
    let map = Heatmap { id: egui::Id::unique("test-map"), face: Arc::new(face.clone()), reference: Arc::new(reference.clone()), kind, blend };
    let mut harness = Harness::builder()
        .with_size([SIDE as f32, SIDE as f32])
        .with_pixels_per_point(1.0)
        .renderer(WgpuTestRenderer::from_render_state(state))
        .build_ui(move |ui| heatmap::paint(ui, egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(SIDE as f32, SIDE as f32)), map.clone()));
    harness.run();
    harness.render().expect("the map renders headless")
}

/// What the shader must draw at each pixel: the face, blended with the scale's colour of the
/// CPU map's value where the map has one.
fn expected(face: &RgbImage, map: &PixelMap, kind: MapKind, blend: f64) -> Vec<[f64; 3]> {
    face.pixels()
        .zip(&map.values)
        .map(|(pixel, value)| {
            let shown = pixel.0.map(|c| f64::from(c) / 255.0);
            match value {
                Some(v) => {
                    let colour = scale_colour(kind.position(*v));
                    std::array::from_fn(|c| 255.0 * (shown[c] + (colour[c] - shown[c]) * blend))
                }
                None => shown.map(|c| c * 255.0),
            }
        })
        .collect()
}

/// The largest difference, in 8-bit levels, of any channel of any pixel.
fn worst(gpu: &RgbaImage, cpu: &[[f64; 3]]) -> f64 {
    assert_eq!(gpu.dimensions(), (SIDE, SIDE), "one rendered pixel per image pixel");
    gpu.pixels().zip(cpu).flat_map(|(g, c)| (0..3).map(move |i| (f64::from(g.0[i]) - c[i]).abs())).fold(0.0, f64::max)
}

#[test]
fn the_gpu_ssim_map_is_the_cpus_pixel_for_pixel() {
    let (face, truth) = pair();
    let map = ssim_map(&face, &truth);
    assert_eq!(map.mean(), ssim(&face, &truth), "the map's mean is eval's SSIM");
    let values: Vec<f64> = map.values.iter().flatten().copied().collect();
    let (low, high) = values.iter().fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(high - low > 0.5, "a pair whose map spans the scale ({low:.3}…{high:.3})");

    let gpu = gpu_map(&face, &truth, MapKind::Ssim, 1.0);
    let error = worst(&gpu, &expected(&face, &map, MapKind::Ssim, 1.0));
    println!("SSIM map: worst channel {error:.2} levels from the CPU's (the face alone: {:.0})", worst(&gpu, &expected(&face, &map, MapKind::Ssim, 0.0)));
    assert!(error <= 2.0, "the GPU's SSIM map differs from the CPU's by {error} levels");
}

#[test]
fn the_gpu_difference_map_is_the_cpus_and_blends_over_the_face() {
    let (face, truth) = pair();
    let map = difference_map(&face, &truth);
    for blend in [1.0, 0.5] {
        let gpu = gpu_map(&face, &truth, MapKind::Difference, blend);
        let error = worst(&gpu, &expected(&face, &map, MapKind::Difference, f64::from(blend)));
        assert!(error <= 2.0, "blend {blend}: the GPU's difference map differs from the CPU's by {error} levels");
    }
    let bare = gpu_map(&face, &truth, MapKind::Difference, 0.0);
    assert!(worst(&bare, &expected(&face, &map, MapKind::Difference, 0.0)) <= 1.0, "blend 0 shows the face alone");
}

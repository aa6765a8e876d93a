//! Studio benchmarks, headless (egui_kittest): milliseconds from a pose-slider move to the new
//! image for the shipped model, and the UI thread's time per frame at rest, while scrolling
//! 10,008 faces and while a `small` run trains.
//!
//! `cargo bench --bench studio` runs the model on the CPU backend and paints nothing. With
//! `STUDIO_BENCH_WINDOW_DEVICE=1` the harness paints with wgpu and the model runs where the
//! window puts it: on the window's own GPU device when the adapter is a real GPU (the shared
//! device path), on the CPU backend when it is a software one.

use std::time::{Duration, Instant};

use burn::prelude::Device;
use drgan_studio::app::{StudioApp, View, model_device};
use drgan_studio::device::ChosenDevice;
use drgan_studio::model::Preset;
use drgan_studio::synth::SynthSpec;
use drgan_studio::train::DataSource;
use eframe::egui;
use egui_kittest::Harness;

const MOVES: usize = 60;
const FRAMES: usize = 300;

fn studio() -> Harness<'static, StudioApp> {
    let window_device = std::env::var_os("STUDIO_BENCH_WINDOW_DEVICE").is_some();
    let builder = Harness::builder().with_size([1280.0, 820.0]);
    let builder = if window_device { builder.wgpu() } else { builder };
    builder.build_eframe(move |cc| {
        let (device, adapter) = if window_device {
            model_device(cc.wgpu_render_state.as_ref())
        } else {
            (ChosenDevice { device: Device::flex(), name: "cpu: burn flex".to_owned(), reason: "bench".to_owned(), software_adapter: false }, None)
        };
        println!("model device: {} ({}); window adapter: {}", device.name, device.reason, adapter.as_deref().unwrap_or("none"));
        let mut app = StudioApp::new(&cc.egui_ctx, None, device, adapter).expect("the studio starts");
        app.attach_renderer(cc.wgpu_render_state.as_ref());
        app
    })
}

fn wait_for(harness: &mut Harness<'static, StudioApp>, what: &str, done: impl Fn(&StudioApp) -> bool) {
    let started = Instant::now();
    while !done(harness.state()) {
        assert!(started.elapsed() < Duration::from_secs(300), "timed out waiting for {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn summary(label: &str, mut millis: Vec<f64>) {
    millis.sort_by(f64::total_cmp);
    let at = |q: f64| millis[((millis.len() - 1) as f64 * q).round() as usize];
    println!("{label}: median {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} samples)", at(0.5), at(0.95), at(1.0), millis.len());
}

/// Frame times at ~60 Hz for `FRAMES` frames.
fn frame_times(harness: &mut Harness<'static, StudioApp>) -> Vec<f64> {
    (0..FRAMES)
        .map(|_| {
            let started = Instant::now();
            harness.step();
            let took = started.elapsed();
            std::thread::sleep(Duration::from_millis(16).saturating_sub(took));
            took.as_secs_f64() * 1e3
        })
        .collect()
}

fn main() {
    let mut harness = studio();
    wait_for(&mut harness, "the shipped model's first image", |app| app.explore.output.is_some() && !app.explore.cosines.is_empty());
    println!("model: {}", harness.state().status.model.as_ref().map_or("none".to_owned(), |m| m.summary.clone()));

    // Slider moves: each to a new pose, timed until the face at that pose is on screen.
    let latencies: Vec<f64> = (0..MOVES)
        .map(|i| {
            let yaw = -60.0 + ((i * 37) % 121) as f32;
            let yaw = if harness.state().explore.yaw == yaw { yaw - 1.0 } else { yaw };
            let started = Instant::now();
            harness.state_mut().explore.yaw = yaw;
            while !harness.state().explore.output.as_ref().is_some_and(|(_, shown)| *shown == yaw) {
                harness.step();
            }
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    summary("slider move → new image (shipped model)", latencies);

    harness.state_mut().view = View::Explore;
    summary("UI frame, Explore view, idle", frame_times(&mut harness));

    // The Faces view on 10,008 faces, scrolling a screen's height every frame.
    let ctx = harness.ctx.clone();
    harness.state_mut().faces.open(DataSource::Synthetic(SynthSpec { identities: 1112, seed: 3, lights: 1 }), &ctx);
    harness.state_mut().view = View::Faces;
    wait_for(&mut harness, "10,008 faces", |app| app.faces.faces.as_ref().is_some_and(|f| f.samples.len() == 10_008));
    harness.hover_at(egui::pos2(800.0, 400.0));
    let scrolling: Vec<f64> = (0..FRAMES)
        .map(|_| {
            harness.event(egui::Event::MouseWheel { unit: egui::MouseWheelUnit::Page, delta: egui::vec2(0.0, -1.0), phase: egui::TouchPhase::Move, source: egui::MouseWheelSource::Wheel, modifiers: egui::Modifiers::NONE });
            let started = Instant::now();
            harness.step();
            let took = started.elapsed();
            std::thread::sleep(Duration::from_millis(16).saturating_sub(took));
            took.as_secs_f64() * 1e3
        })
        .collect();
    summary("UI frame, Faces view, 10,008 faces, scrolling a page per frame", scrolling);
    println!("({} thumbnails decoded while scrolling)", harness.state().faces.thumbnails_decoded());

    let run = tempfile::tempdir().expect("a temp dir");
    harness.state_mut().view = View::Train;
    let form = harness.state_mut().train.form_mut();
    form.preset = Preset::Small;
    form.batch = 16;
    form.steps = 100_000;
    form.checkpoint_every = 100_000;
    form.out = run.path().join("small");
    harness.step();
    // The same call the Start button makes.
    harness.state_mut().start_training().expect("the run starts");
    wait_for(&mut harness, "two steps of the small run", |app| app.train.run.as_ref().is_some_and(|r| r.metrics.len() >= 2));
    summary("UI frame, Train view, while a small run trains (batch 16)", frame_times(&mut harness));
    let steps = harness.state().train.run.as_ref().map_or(0, |r| r.metrics.len());
    println!("(the run took {steps} steps meanwhile)");
}

//! The multi-image DR-GAN: after a short `tiny` run with some photos of each group degraded,
//! the confidence ω it learned is lower for degraded photos of people it never saw.

use assert_cmd::Command;
use burn::prelude::Device;
use drgan_studio::data::degrade::Degradation;
use drgan_studio::data::ImageSource;
use drgan_studio::data::prepare::{centred_input, from_chw, to_chw};
use drgan_studio::synth::SynthSpec;
use drgan_studio::train::RunDir;
use drgan_studio::train::run::load_generator;
use rand::SeedableRng;

#[test]
fn degraded_photos_get_lower_confidences_than_clean_ones() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("multi");
    Command::cargo_bin("drgan-studio")
        .unwrap()
        .args(["train", "--synthetic", "12", "--lights", "1", "--preset", "tiny", "--batch", "24", "--device", "cpu", "--seed", "2"])
        // D judging real and generated faces apart learns who is who sooner, and the confidences
        // with it (250 steps; the default one-batch recipe learns them by step 1,000: README).
        .args(["--joint-d-batch", "false", "--d-lr-factor", "1"])
        .args(["--multi", "--images-per-id", "4", "--degrade-fraction", "0.5", "--steps", "250", "--checkpoint-every", "250", "--out"])
        .arg(&run)
        .assert()
        .success();
    let rotator = load_generator(&RunDir::new(&run), None, &Device::flex()).unwrap().value;
    // Unseen people: another seed of the synthetic set.
    let spec = std::sync::Arc::new(SynthSpec { identities: 6, seed: 99, lights: 1 });
    let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
    let (mut clean, mut degraded) = (Vec::new(), Vec::new());
    for person in 0..spec.identities {
        for (k, yaw) in [-45.0f32, -15.0, 15.0, 45.0].into_iter().enumerate() {
            let face = centred_input(&ImageSource::Synthetic { spec: spec.clone(), person, yaw, light: 0 }, 32).unwrap();
            let mut pixels = to_chw(&face);
            Degradation::ALL[(person + k) % 3].apply(&mut pixels, 32, &mut rng);
            let spoiled = from_chw(&pixels, 32);
            let (_, confidences) = rotator.encode_fused(&[&face, &spoiled]).unwrap();
            clean.push(confidences[0]);
            degraded.push(confidences[1]);
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let (clean, degraded) = (mean(&clean), mean(&degraded));
    assert!(degraded < clean, "mean σ(ω): degraded photos {degraded:.3}, clean ones {clean:.3}");
}

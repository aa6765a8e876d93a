//! Training really learns: a short `tiny` run on a synthetic set moves the numbers the right way.

use std::path::Path;

use assert_cmd::Command;
use burn::prelude::Device;
use drgan_studio::data::formats::OpenOptions;
use drgan_studio::model::Preset;
use drgan_studio::synth::SynthSpec;
use drgan_studio::train::run::{open_faces, plan, start};
use drgan_studio::train::{DAugment, DataSource, MultiImage, Recipe, RecipeName, RunDir, TrainSettings};
use serde_json::Value;

mod common;

fn mean(lines: &[Value], key: &str) -> f64 {
    lines.iter().map(|l| l[key].as_f64().unwrap()).sum::<f64>() / lines.len() as f64
}

#[test]
fn a_short_tiny_run_learns_pose_and_identity() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let steps = 500;
    Command::cargo_bin("drgan-studio")
        .unwrap()
        .args(["train", "--synthetic", "10", "--lights", "1", "--preset", "tiny", "--batch", "16", "--device", "cpu", "--seed", "1"])
        .args(["--steps", &steps.to_string(), "--checkpoint-every", "1000", "--out"])
        .arg(&run)
        .assert()
        .success();
    let lines: Vec<Value> = std::fs::read_to_string(Path::new(&run).join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), steps);
    let (first, last) = (&lines[..30], &lines[lines.len() - 30..]);
    let chance = 1.0 / 9.0;
    let d_pose = mean(last, "d_pose_acc_real");
    assert!(d_pose > 3.0 * chance, "D's pose accuracy on real faces {d_pose:.2} should be well above chance {chance:.2}");
    let d_id = mean(last, "d_id_acc_real");
    assert!(d_id > 0.8, "D learns the 8 training identities ({d_id:.2})");
    let (g_pose_before, g_pose_after) = (mean(first, "g_pose_acc"), mean(last, "g_pose_acc"));
    assert!(
        g_pose_after > g_pose_before + 0.1,
        "G's pose accuracy should rise: {g_pose_before:.2} → {g_pose_after:.2}"
    );
}

/// The device's random generator, which seeds new weights, is the process's: the tests below
/// that make models take turns, so that each gets the weights its seed gives.
static ONE_MODEL_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A small synthetic run's configuration with `recipe`, for the library-level tests below.
fn tiny_run(steps: u64, recipe: Recipe) -> (tempfile::TempDir, RunDir, drgan_studio::train::run::Opened) {
    tiny_run_with(TrainSettings { checkpoint_every: 1000, recipe, ..common::settings(steps) })
}

/// A small synthetic run with `settings`, for the library-level tests below.
fn tiny_run_with(settings: TrainSettings) -> (tempfile::TempDir, RunDir, drgan_studio::train::run::Opened) {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("run"));
    let data = DataSource::Synthetic(SynthSpec { identities: 4, seed: 1, lights: 1 });
    let faces = open_faces(&data, &OpenOptions::default()).unwrap();
    let config = plan(Preset::Tiny, settings, data, &faces).unwrap();
    let opened = start(&run, config, &faces, &Device::flex(), None).unwrap();
    (dir, run, opened)
}

#[test]
fn a_d_warm_up_trains_d_alone_and_then_the_game_starts() {
    let _turn = ONE_MODEL_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let recipe = Recipe { d_warmup: 3, ..RecipeName::Studio.recipe() };
    let (_dir, _run, mut opened) = tiny_run(8, recipe);
    let trainer = &mut opened.trainer;
    let grid_before = trainer.sample_grid().unwrap().unwrap();
    let warm: Vec<_> = (0..3).map(|_| trainer.train_step().unwrap().unwrap()).collect();
    assert!(warm.iter().all(|m| m.g_steps == 0 && m.g_loss == 0.0 && m.d_loss > 0.0), "warm-up steps update D only: {warm:?}");
    assert_eq!(trainer.sample_grid().unwrap().unwrap(), grid_before, "G is untouched by the warm-up");
    let game: Vec<_> = (0..5).map(|_| trainer.train_step().unwrap().unwrap()).collect();
    assert!(game.iter().all(|m| m.g_steps >= 1 && m.g_loss > 0.0), "after the warm-up G is trained: {game:?}");
    assert_ne!(trainer.sample_grid().unwrap().unwrap(), grid_before, "G changes once the game starts");
}

#[test]
fn augmenting_d_s_realness_trains_and_repeats_exactly() {
    let _turn = ONE_MODEL_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let recipe = Recipe { d_augment: DAugment::Realness, ..RecipeName::Studio.recipe() };
    let numbers = || {
        let (_dir, _run, mut opened) = tiny_run(2, recipe.clone());
        (0..2).map(|_| opened.trainer.train_step().unwrap().unwrap()).map(|m| (m.d_loss, m.g_loss)).collect::<Vec<_>>()
    };
    let first = numbers();
    assert!(first.iter().all(|(d, g)| d.is_finite() && g.is_finite() && *g > 0.0), "{first:?}");
    assert_eq!(first, numbers(), "the augmentation draws from the run's seeded generator");
}

#[test]
fn the_edge_and_perceptual_terms_train_g() {
    let _turn = ONE_MODEL_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let losses = |recipe: Recipe| {
        let (_dir, _run, mut opened) = tiny_run(3, recipe);
        (0..3).map(|_| opened.trainer.train_step().unwrap().unwrap()).map(|m| (m.d_loss, m.g_loss)).collect::<Vec<_>>()
    };
    let plain = losses(Recipe { own_pose_fraction: 1.0, ..RecipeName::Studio.recipe() });
    let sharpened = losses(Recipe { own_pose_fraction: 1.0, edge_weight: 10.0, perceptual_weight: 1.0, ..RecipeName::Studio.recipe() });
    assert!(sharpened.iter().all(|(d, g)| d.is_finite() && g.is_finite()), "{sharpened:?}");
    assert_eq!(plain[0], sharpened[0], "the first step's losses are read before the new terms change anything");
    assert_ne!(plain[1..], sharpened[1..], "the terms change G, so the next steps' losses differ");
}

#[test]
fn judging_real_and_generated_faces_as_one_batch_trains_and_changes_the_game() {
    let _turn = ONE_MODEL_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let losses = |recipe: Recipe| {
        let (_dir, _run, mut opened) = tiny_run(2, recipe);
        (0..2).map(|_| opened.trainer.train_step().unwrap().unwrap()).map(|m| (m.d_loss, m.g_loss, m.d_fake_acc)).collect::<Vec<_>>()
    };
    let joint = losses(RecipeName::Studio.recipe());
    let apart = losses(Recipe { joint_d_batch: false, ..RecipeName::Studio.recipe() });
    assert!(joint.iter().all(|(d, g, _)| d.is_finite() && g.is_finite()), "{joint:?}");
    assert_ne!(apart[0], joint[0], "the shared BatchNorm statistics change D's judgement from the first step");
}

#[test]
fn a_multi_image_run_judged_as_one_batch_trains() {
    let _turn = ONE_MODEL_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // G draws more faces than there are real ones (one more per group): the split must hold,
    // with the whole batch in groups and with one group and single photos after it.
    for groups_per_batch in [None, Some(1)] {
        let settings = TrainSettings {
            checkpoint_every: 1000,
            recipe: RecipeName::Studio.recipe(),
            multi: Some(MultiImage { images_per_id: 2, degrade_fraction: 0.5, groups_per_batch, d_real_apart: false }),
            ..common::settings(2)
        };
        let (_dir, _run, mut opened) = tiny_run_with(settings);
        let steps: Vec<_> = (0..2).map(|_| opened.trainer.train_step().unwrap().unwrap()).collect();
        assert!(steps.iter().all(|m| m.d_loss.is_finite() && m.g_loss.is_finite() && m.g_loss > 0.0), "{groups_per_batch:?}: {steps:?}");
    }
}

#[test]
fn a_pose_teacher_is_trained_first_then_teaches_g_and_repeats_exactly() {
    let _turn = ONE_MODEL_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let recipe = Recipe { pose_teacher_weight: 1.0, ..RecipeName::Studio.recipe() };
    let run = |recipe: Recipe| {
        let (_dir, _run, mut opened) = tiny_run(3, recipe);
        let steps: Vec<_> = (0..3).map(|_| opened.trainer.train_step().unwrap().unwrap()).collect();
        (opened.notes, steps)
    };
    let (notes, taught) = run(recipe.clone());
    assert!(notes.iter().any(|n| n.starts_with("pose teacher: trained on") && n.contains("held-out people")), "{notes:?}");
    assert!(taught.iter().all(|m| m.d_loss.is_finite() && m.g_loss.is_finite()), "{taught:?}");
    assert!(taught.iter().all(|m| m.g_teacher_pose_acc.is_some_and(|a| (0.0..=1.0).contains(&a))), "each step says how often the teacher agreed: {taught:?}");
    let (plain_notes, plain) = run(RecipeName::Studio.recipe());
    assert!(plain_notes.is_empty() && plain.iter().all(|m| m.g_teacher_pose_acc.is_none()), "no teacher without its weight");
    assert_ne!(plain[1..].iter().map(|m| m.g_loss).collect::<Vec<_>>(), taught[1..].iter().map(|m| m.g_loss).collect::<Vec<_>>(), "the teacher's term changes G");
    // Switched on late, the teacher adds its term (and its figure) only from its start.
    let (late_notes, late) = run(Recipe { pose_teacher_start: 0.5, ..recipe.clone() });
    assert!(late_notes.iter().any(|n| n.starts_with("pose teacher: trained on")), "trained before the first step: {late_notes:?}");
    assert!(late[..2].iter().all(|m| m.g_teacher_pose_acc.is_none()) && late[2].g_teacher_pose_acc.is_some(), "on from step 2 of 3: {late:?}");
    let (_, again) = run(recipe);
    let losses = |steps: &[drgan_studio::train::StepMetrics]| steps.iter().map(|m| (m.d_loss, m.g_loss)).collect::<Vec<_>>();
    assert_eq!(losses(&taught), losses(&again), "the teacher is trained from the run's seed, so a resumed run gets the same one");
}

//! `drgan-studio eval` and `rotate` on the shipped model: every JSON field present, finite where
//! defined and null where a set has no ground truth; rotated images written under plain names.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

const RUN: &str = "assets/default-run";

fn studio() -> Command {
    Command::cargo_bin("drgan-studio").expect("the binary is built")
}

/// `eval` with a small pose classifier (the measures are the same, only cheaper).
fn eval(data: &[&str], json: &Path) -> Value {
    studio()
        .args(["eval", "--run", RUN, "--device", "cpu", "--classifier-images", "300", "--classifier-epochs", "3", "--json"])
        .arg(json)
        .args(data)
        .assert()
        .success();
    serde_json::from_str(&std::fs::read_to_string(json).expect("the report is written")).expect("the report is JSON")
}

fn finite(value: &Value) -> bool {
    value.as_f64().is_some_and(f64::is_finite)
}

#[test]
fn eval_on_unseen_synthetic_people_fills_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let report = eval(&["--synthetic", "4", "--seed", "9"], &dir.path().join("eval.json"));
    assert_eq!(report["identities"], 4);
    let rank1 = report["rank1_per_bin"].as_array().expect("rank1_per_bin");
    assert_eq!(rank1.len(), 9);
    // One light: the frontal bin holds only the gallery, so it has no probes.
    assert!(rank1[4].is_null());
    for (bin, value) in rank1.iter().enumerate().filter(|(b, _)| *b != 4) {
        assert!(finite(value) && (0.0..=1.0).contains(&value.as_f64().unwrap()), "bin {bin}: {value}");
    }
    for field in ["rank1_avg", "rank1_frontalized_avg", "eer", "tar_at_far_1pct", "ssim_frontal_avg", "pose_control_acc", "pose_far_off"] {
        assert!(finite(&report[field]), "{field}: {}", report[field]);
    }
    let table = report["ssim_table"].as_array().expect("ssim_table");
    assert_eq!(table.len(), 9);
    assert!(table.iter().all(|row| row.as_array().is_some_and(|r| r.len() == 9 && r.iter().all(finite))));
    let cosines = report["identity_cosine_per_bin"].as_array().expect("identity_cosine_per_bin");
    assert!(cosines.len() == 9 && cosines.iter().all(finite));
}

#[test]
fn eval_on_a_set_without_ground_truth_leaves_those_fields_null() {
    let dir = tempfile::tempdir().unwrap();
    let faces = dir.path().join("faces");
    studio().args(["synth", "--identities", "4", "--seed", "11", "--size", "64", "--out"]).arg(&faces).assert().success();
    let report = eval(&["--data", faces.to_str().unwrap()], &dir.path().join("eval.json"));
    for field in ["ssim_table", "psnr_table", "ssim_frontal_avg"] {
        assert!(report[field].is_null(), "{field} must be null for files on disk: {}", report[field]);
    }
    for field in ["rank1_avg", "eer", "pose_control_acc"] {
        assert!(finite(&report[field]), "{field}: {}", report[field]);
    }
}

#[test]
fn rotate_writes_each_pose_under_a_plain_name() {
    let dir = tempfile::tempdir().unwrap();
    let faces = dir.path().join("faces");
    studio().args(["synth", "--identities", "2", "--seed", "3", "--size", "64", "--out"]).arg(&faces).assert().success();
    let input = std::fs::read_dir(faces.join("id0000")).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == "png")).unwrap();
    let out = dir.path().join("out");
    let assert = studio()
        .args(["rotate", "--run", RUN, "--device", "cpu", "--pose", "-30", "0", "30", "--out"])
        .arg(&out)
        .arg("--image")
        .arg(&input)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("identity cosine of input and frontal view"), "{stdout}");
    let stem = format!("id0000_{}", input.file_stem().unwrap().to_string_lossy());
    for suffix in ["input", "yaw-30", "yaw+00", "yaw+30"] {
        let path = out.join(format!("{stem}_{suffix}.png"));
        let image = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!((image.width(), image.height()), (64, 64));
    }
}

#[test]
fn rotate_blend_walks_from_one_identity_to_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let faces = dir.path().join("faces");
    studio().args(["synth", "--identities", "2", "--seed", "3", "--size", "64", "--out"]).arg(&faces).assert().success();
    let (a, b) = (faces.join("id0000/yaw+30_light0.png"), faces.join("id0001/yaw-30_light0.png"));
    let out = dir.path().join("out");
    let assert = studio()
        .args(["rotate", "--run", RUN, "--device", "cpu", "--pose", "0", "--alpha", "0", "1", "--out"])
        .arg(&out)
        .arg("--image")
        .arg(&a)
        .arg("--blend")
        .arg(&b)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    // "… α 0.00: frontal view's identity cosine with the input X, with the second face Y"
    let cosines: Vec<(f32, f32)> = stdout
        .lines()
        .filter(|l| l.contains(" α "))
        .map(|l| {
            let numbers: Vec<f32> = l.split([' ', ',']).filter_map(|w| w.parse().ok()).collect();
            (numbers[numbers.len() - 2], numbers[numbers.len() - 1])
        })
        .collect();
    assert_eq!(cosines.len(), 2, "{stdout}");
    assert!(cosines[0].0 > cosines[1].0 && cosines[1].1 > cosines[0].1, "α 0 is the input's identity and α 1 the second face's: {stdout}");
    for alpha in ["0.00", "1.00"] {
        assert!(out.join(format!("id0000_yaw+30_light0_alpha{alpha}_yaw+00.png")).is_file(), "{alpha}");
    }
    studio().args(["rotate", "--run", RUN, "--device", "cpu", "--alpha", "2", "--out"]).arg(&out).arg("--image").arg(&a).arg("--blend").arg(&b).assert().failure();
}

#[test]
fn eval_of_a_folder_that_is_no_run_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let assert = studio().args(["eval", "--device", "cpu", "--run"]).arg(dir.path()).assert().failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("is not a run folder"), "{stderr}");
}

#[test]
fn training_with_eval_every_writes_eval_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let assert = studio()
        .args(["train", "--synthetic", "6", "--preset", "tiny", "--batch", "4", "--steps", "4", "--checkpoint-every", "4", "--eval-every", "2", "--device", "cpu", "--out"])
        .arg(&run)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("eval at step 2") && stdout.contains("pose control"), "{stdout}");
    let lines: Vec<Value> = std::fs::read_to_string(run.join("eval.jsonl"))
        .expect("eval.jsonl is written")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.iter().map(|l| l["step"].as_u64().unwrap()).collect::<Vec<_>>(), vec![2, 4]);
    for line in &lines {
        assert!(finite(&line["rank1_avg"]) && finite(&line["ssim_frontal_avg"]) && finite(&line["pose_control_acc"]), "{line}");
    }
}

#[test]
fn rotate_refuses_missing_and_unreadable_images_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let missing = studio().args(["rotate", "--run", RUN, "--device", "cpu", "--out"]).arg(&out).arg("--image").arg(dir.path().join("nobody.png")).assert().failure();
    let stderr = String::from_utf8_lossy(&missing.get_output().stderr).into_owned();
    assert!(stderr.contains("does not exist"), "{stderr}");

    let corrupt = dir.path().join("corrupt.png");
    std::fs::write(&corrupt, b"this is not a PNG").unwrap();
    let unreadable = studio().args(["rotate", "--run", RUN, "--device", "cpu", "--out"]).arg(&out).arg("--image").arg(&corrupt).assert().failure();
    let stderr = String::from_utf8_lossy(&unreadable.get_output().stderr).into_owned();
    assert!(stderr.contains("skipped") && stderr.contains("no input could be read"), "{stderr}");
}

#[test]
fn rotate_with_landmarks_aligns_the_photo_first() {
    use drgan_studio::data::align::{CANONICAL, Landmarks, align};
    use image::{RgbImage, imageops};
    let dir = tempfile::tempdir().unwrap();
    // A held-out synthetic face, shrunk and placed off-centre on a larger photo.
    let spec = drgan_studio::synth::SynthSpec { identities: 3, seed: 77, lights: 1 };
    let face = imageops::resize(&spec.render(2, 0.0, 0, 240), 120, 120, imageops::FilterType::Triangle);
    let mut photo = RgbImage::from_pixel(320, 200, image::Rgb([30, 120, 60]));
    imageops::replace(&mut photo, &face, 150, 40);
    let path = dir.path().join("holiday.png");
    photo.save(&path).unwrap();
    let points = CANONICAL.map(|[x, y]| [150.0 + x * 120.0, 40.0 + y * 120.0]);
    let text = points.iter().flat_map(|p| p.iter().map(|c| format!("{c}"))).collect::<Vec<_>>().join(",");
    let out = dir.path().join("out");
    studio().args(["rotate", "--run", RUN, "--device", "cpu", "--pose", "0", "--landmarks", &text, "--image"]).arg(&path).arg("--out").arg(&out).assert().success();
    let named = |suffix: &str| {
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).find(|p| p.to_string_lossy().ends_with(suffix)).unwrap_or_else(|| panic!("no …{suffix} written"))
    };
    let written = image::open(named("holiday_input.png")).unwrap().to_rgb8();
    assert_eq!(written, align(&photo, &Landmarks(points), 64).unwrap(), "the aligned crop is what the model was given");
    named("holiday_yaw+00.png");

    let refused = |landmarks: &str, says: &str| {
        studio()
            .args(["rotate", "--run", RUN, "--device", "cpu", "--landmarks", landmarks, "--image"])
            .arg(&path)
            .arg("--out")
            .arg(dir.path().join("refused"))
            .assert()
            .failure()
            .stderr(predicates::str::contains(says));
    };
    refused("10,10,400,10,50,90", "outside");
    refused("1,2,3", "six numbers");
}

#[test]
fn a_set_with_no_group_to_fuse_still_gets_every_other_measure_and_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("multi");
    // Groups of 9: one light gives each person only 8 non-frontal photos, too few to fuse.
    studio()
        .args(["train", "--synthetic", "10", "--lights", "1", "--preset", "tiny", "--batch", "9", "--steps", "2", "--device", "cpu"])
        .args(["--multi", "--images-per-id", "9", "--out"])
        .arg(&run)
        .assert()
        .success();
    let json = dir.path().join("eval.json");
    studio()
        .args(["eval", "--device", "cpu", "--synthetic", "3", "--lights", "1", "--classifier-images", "100", "--classifier-epochs", "1", "--run"])
        .arg(&run)
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["rank1_fused_avg"].is_null() && report["fused_group"].is_null());
    assert!(finite(&report["rank1_frontalized_avg"]) && finite(&report["pose_control_acc"]), "every other measure is there");
    let notes = report["notes"].as_array().expect("notes");
    assert!(notes.iter().any(|note| note.as_str().is_some_and(|n| n.starts_with("fused identification not measured"))), "{notes:?}");
}

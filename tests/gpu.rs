//! The GPU path is real: an opt-in test (`cargo test --release -- --ignored gpu`) that trains a
//! few `tiny` steps with `--device gpu` on whatever adapter wgpu finds — on a software adapter
//! (Mesa's lavapipe) this takes minutes, mostly compiling shaders, so the software adapter runs
//! with cubecl's minimal autotuning — and checks that the losses move the same way as on the
//! CPU backend.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn run(out: &Path, device: &str) -> Vec<Value> {
    let output = Command::cargo_bin("drgan-studio")
        .unwrap()
        .args(["train", "--synthetic", "10", "--lights", "1", "--preset", "tiny", "--batch", "16", "--seed", "1"])
        .args(["--steps", "30", "--checkpoint-every", "1000", "--device", device, "--out"])
        .arg(out)
        .env("CUBECL_AUTOTUNE_LEVEL", std::env::var("CUBECL_AUTOTUNE_LEVEL").unwrap_or_else(|_| "minimal".to_owned()))
        .assert()
        .success();
    println!("{}", String::from_utf8_lossy(&output.get_output().stdout));
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn mean(lines: &[Value], key: &str) -> f64 {
    lines.iter().map(|l| l[key].as_f64().unwrap()).sum::<f64>() / lines.len() as f64
}

#[test]
#[ignore = "needs a wgpu adapter; minutes on a software one"]
fn gpu_training_moves_like_the_cpu_backend() {
    let dir = tempfile::tempdir().unwrap();
    let gpu = run(&dir.path().join("gpu"), "gpu");
    let cpu = run(&dir.path().join("cpu"), "cpu");
    let steps_per_sec = gpu.len() as f64 / gpu.last().unwrap()["wall_secs"].as_f64().unwrap();
    println!("gpu: {steps_per_sec:.2} steps/s ({:.1} img/s at batch 16)", steps_per_sec * 16.0);
    for (name, lines) in [("gpu", &gpu), ("cpu", &cpu)] {
        let (first, last) = (&lines[..10], &lines[lines.len() - 10..]);
        assert!(lines.iter().all(|l| l["d_loss"].as_f64().unwrap().is_finite()), "{name}: finite losses");
        assert!(mean(last, "d_loss") < mean(first, "d_loss"), "{name}: D's loss falls");
        assert!(
            mean(last, "d_pose_acc_real") > mean(first, "d_pose_acc_real"),
            "{name}: D's pose accuracy rises"
        );
    }
}

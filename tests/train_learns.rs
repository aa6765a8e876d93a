//! Training really learns: a short `tiny` run on a synthetic set moves the numbers the right way.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn mean(lines: &[Value], key: &str) -> f64 {
    lines.iter().map(|l| l[key].as_f64().unwrap()).sum::<f64>() / lines.len() as f64
}

#[test]
fn a_short_tiny_run_learns_pose_and_identity() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let steps = 300;
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

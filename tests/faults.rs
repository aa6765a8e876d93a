//! Every fault a hostile tester found (issue 13), as a regression test against the release
//! binary: what used to lose work or crash now leaves the run as it was and says why.
//! The README's table "Nothing lost, whatever happens" names these tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;

fn binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("drgan-studio")
}

const TINY: [&str; 12] = ["--synthetic", "4", "--lights", "1", "--preset", "tiny", "--batch", "4", "--device", "cpu", "--recipe", "paper"];

/// `train` of a tiny synthetic run into `out`.
fn train(out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    Command::new(binary()).arg("train").args(TINY).arg("--out").arg(out).args(extra).assert()
}

/// `train --resume` of `out` to `steps`.
fn resume(out: &Path, steps: &str) -> assert_cmd::assert::Assert {
    Command::new(binary()).args(["train", "--resume", "--device", "cpu", "--steps", steps, "--out"]).arg(out).assert()
}

/// A long training run in the background.
fn background_run(out: &Path) -> Child {
    Process::new(binary())
        .arg("train")
        .args(TINY)
        .args(["--steps", "100000", "--checkpoint-every", "100000", "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

fn metric_lines(run: &Path) -> usize {
    std::fs::read_to_string(run.join("metrics.jsonl")).map_or(0, |t| t.lines().count())
}

/// Waits until the run in `run` has written at least `lines` metric lines.
fn wait_for_steps(run: &Path, lines: usize) {
    let started = Instant::now();
    while metric_lines(run) < lines {
        assert!(started.elapsed() < Duration::from_secs(120), "the background run wrote no metrics");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn steps(run: &Path) -> Vec<u64> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|m| m["step"].as_u64().unwrap())
        .collect()
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: sends a signal to a child process this test started and still owns.
    let sent = unsafe { libc::kill(child.id() as i32, signal) };
    assert_eq!(sent, 0, "sending a signal to the training process");
}

#[test]
fn a_refused_resume_changes_nothing_of_the_live_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("rl");
    let mut live = background_run(&run);
    wait_for_steps(&run, 5);
    let config_before = std::fs::read_to_string(run.join("config.json")).unwrap();
    let lines_before = metric_lines(&run);
    resume(&run, "7").failure().stderr(contains("is being trained by process").and(contains("lock")));
    assert_eq!(std::fs::read_to_string(run.join("config.json")).unwrap(), config_before, "config.json was rewritten");
    assert!(metric_lines(&run) >= lines_before, "metrics.jsonl was truncated");
    live.kill().ok();
    live.wait().ok();
}

#[test]
fn two_runs_started_at_once_into_one_folder_leave_one_whole_run() {
    for round in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("race");
        let start = |seed: &str, batch: &str| {
            Process::new(binary())
                .args(["train", "--synthetic", "4", "--lights", "1", "--preset", "tiny", "--device", "cpu", "--recipe", "paper", "--steps", "2"])
                .args(["--checkpoint-every", "2", "--seed", seed, "--batch", batch, "--out"])
                .arg(&run)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (start("1", "4"), start("2", "6"));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let winners = [&a, &b].iter().filter(|o| o.status.success()).count();
        assert_eq!(winners, 1, "round {round}: exactly one run should start ({:?} / {:?})", String::from_utf8_lossy(&a.stderr), String::from_utf8_lossy(&b.stderr));
        let loser = if a.status.success() { &b } else { &a };
        let message = String::from_utf8_lossy(&loser.stderr);
        assert!(message.contains("being trained by") || message.contains("already holds a run"), "round {round}: {message}");
        // The run that is there is whole: its configuration fits its checkpoint.
        resume(&run, "3").success();
    }
}

#[test]
fn an_unreadable_metrics_line_is_left_out_alone_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--steps", "6", "--checkpoint-every", "3"]).success();
    let text = std::fs::read(run.join("metrics.jsonl")).unwrap();
    let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    lines[1].splice(5..5, [0xff, 0xfe]);
    std::fs::write(run.join("metrics.jsonl"), lines.join(&b'\n')).unwrap();
    resume(&run, "8").success().stdout(contains("1 line of metrics.jsonl could not be read (line 2)"));
    assert_eq!(steps(&run), vec![1, 3, 4, 5, 6, 7, 8], "only the damaged line is gone");
}

#[test]
fn a_synthetic_set_too_large_for_memory_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["train", "--synthetic", "100000000", "--device", "cpu", "--out", "x"],
        vec!["synth", "--identities", "100000000", "--out", "y"],
    ] {
        Command::new(binary())
            .current_dir(dir.path())
            .args(&args)
            .assert()
            .code(1)
            .stderr(contains("a synthetic set has 1 to 100000 identities"));
    }
    Command::new(binary())
        .args(["eval", "--run", "assets/default-run", "--synthetic", "100000000", "--device", "cpu"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .assert()
        .code(1)
        .stderr(contains("a synthetic set has 1 to 100000 identities"));
    assert!(!dir.path().join("x").exists(), "no run folder is left behind");
}

#[test]
fn ctrl_c_or_sigterm_finish_the_step_write_a_checkpoint_and_release_the_lock() {
    for (name, number) in [("SIGINT", libc::SIGINT), ("SIGTERM", libc::SIGTERM)] {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let live = background_run(&run);
        wait_for_steps(&run, 3);
        signal(&live, number);
        let last = stopped_with_a_checkpoint(live, &run, name);
        assert!(!run.join("lock").exists(), "{name}: the lock file stays");
        resume(&run, &(last + 1).to_string()).success().stdout(contains(format!("resuming {} from step {last}", run.display())));
    }
}

#[test]
fn a_signal_sent_twice_at_once_as_gnu_timeout_does_still_writes_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let live = background_run(&run);
    wait_for_steps(&run, 3);
    // `timeout` signals the process, then its process group: two SIGTERMs a moment apart.
    signal(&live, libc::SIGTERM);
    std::thread::sleep(std::time::Duration::from_millis(50));
    signal(&live, libc::SIGTERM);
    stopped_with_a_checkpoint(live, &run, "two SIGTERMs");
}

/// Waits for a run stopped by a signal: it must exit 130, say so, and have written a checkpoint
/// of its last step, which is returned.
fn stopped_with_a_checkpoint(live: Child, run: &Path, what: &str) -> u64 {
    let output = live.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{what}: {stderr}");
    assert!(stderr.contains("a checkpoint of that step is written"), "{what}: {stderr}");
    let last = *steps(run).last().unwrap();
    assert!(run.join(format!("checkpoints/step-{last:08}/state.json")).is_file(), "{what}: no checkpoint of step {last}");
    last
}

#[test]
fn a_lock_file_left_by_a_dead_process_does_not_block_even_if_its_pid_lives_again() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--steps", "2", "--checkpoint-every", "2"]).success();
    // PID 1 is alive, but it holds no lock on the file: the run is free.
    std::fs::write(run.join("lock"), "1\n").unwrap();
    resume(&run, "3").success();
}

#[test]
fn a_state_json_whose_step_is_not_its_folders_is_passed_over() {
    for bad in ["0", "18446744073709551615"] {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        train(&run, &["--steps", "4", "--checkpoint-every", "2"]).success();
        let checkpoint = run.join("checkpoints/step-00000004");
        // Edited as text: the random generator's state holds 128-bit numbers a JSON value cannot.
        let state = std::fs::read_to_string(checkpoint.join("state.json")).unwrap();
        assert!(state.contains("\"step\": 4,"), "{state}");
        std::fs::write(checkpoint.join("state.json"), state.replace("\"step\": 4,", &format!("\"step\": {bad},"))).unwrap();
        // As written before checkpoints carried checksums, so that the step check itself is met.
        std::fs::remove_file(checkpoint.join("checksums.json")).unwrap();
        resume(&run, "5").success().stdout(contains(format!("says step {bad} but its folder is that of step 4")));
        assert_eq!(steps(&run), vec![1, 2, 3, 4, 5]);
    }
}

#[test]
fn a_damaged_checkpoint_file_is_caught_by_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--steps", "4", "--checkpoint-every", "2"]).success();
    let file = run.join("checkpoints/step-00000004/discriminator.bpk");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&file, bytes).unwrap();
    resume(&run, "5").success().stdout(contains("does not match the checksum"));
}

#[test]
fn weights_that_are_not_numbers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--steps", "4", "--checkpoint-every", "2"]).success();
    let checkpoint = run.join("checkpoints/step-00000004");
    let file = checkpoint.join("generator.bpk");
    let mut bytes = std::fs::read(&file).unwrap();
    let end = bytes.len();
    // All-ones bytes read as NaN whatever the alignment of the floats they fall in.
    bytes[end - 64..].fill(0xff);
    std::fs::write(&file, bytes).unwrap();
    std::fs::remove_file(checkpoint.join("checksums.json")).unwrap();
    resume(&run, "5").success().stdout(contains("not numbers"));
}

#[test]
fn optimizer_settings_are_checked_before_a_run_folder_exists() {
    for (flag, value, says) in [
        ("--lr", "-1", "learning rate"),
        ("--lr", "nan", "learning rate"),
        ("--lr", "inf", "learning rate"),
        ("--beta1", "5", "β1"),
        ("--beta2", "-0.5", "β2"),
        ("--label-smoothing", "nan", "label smoothing"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        train(&run, &["--steps", "2", &format!("{flag}={value}")]).code(1).stderr(contains(says));
        assert!(!run.join("config.json").exists(), "{flag} {value}: a run folder was left behind");
    }
}

/// Found in review: `bench --batch 0` was accepted (`train` took 1 to 4096 already).
#[test]
fn a_bench_batch_outside_what_train_takes_is_refused() {
    for batch in ["0", "5000"] {
        Command::new(binary()).args(["bench", "--device", "cpu", "--batch", batch]).assert().code(2).stderr(contains("is not in 1..=4096"));
    }
}

#[test]
fn a_run_that_diverges_before_its_first_checkpoint_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--steps", "30", "--checkpoint-every", "100", "--lr", "1e30"])
        .code(1)
        .stderr(contains("non-finite").and(contains("no checkpoint had been written yet")));
}

#[test]
fn rotate_refuses_poses_the_model_cannot_draw() {
    let dir = tempfile::tempdir().unwrap();
    let face = dir.path().join("face.png");
    image::RgbImage::from_pixel(64, 64, image::Rgb([120, 90, 80])).save(&face).unwrap();
    for pose in ["1000", "-1000", "nan"] {
        Command::new(binary())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["rotate", "--run", "assets/default-run", "--device", "cpu", "--image"])
            .arg(&face)
            .arg(format!("--pose={pose}"))
            .arg("--out")
            .arg(dir.path().join("out"))
            .assert()
            .code(1)
            .stderr(contains("this model draws yaws from"));
    }
}

/// A face set folder with a manifest of `rows` and one real face `a.png`.
fn manifest_set(dir: &Path, header: &str, rows: &[String]) -> PathBuf {
    let set = dir.join("set");
    std::fs::create_dir_all(&set).unwrap();
    image::RgbImage::from_pixel(40, 40, image::Rgb([100, 80, 70])).save(set.join("a.png")).unwrap();
    std::fs::write(set.join("manifest.csv"), format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    set
}

fn inspect_json(path: &Path, extra: &[&str]) -> Value {
    let output = Command::new(binary()).arg("inspect").arg(path).arg("--json").args(extra).assert().success();
    serde_json::from_slice(&output.get_output().stdout).unwrap()
}

fn skip_count(report: &Value, reason: &str) -> u64 {
    report["skipped"].as_array().unwrap().iter().find(|s| s["reason"] == reason).map_or(0, |s| s["count"].as_u64().unwrap())
}

#[cfg(unix)]
#[test]
fn links_that_lead_out_of_the_manifests_folder_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.png");
    image::RgbImage::from_pixel(40, 40, image::Rgb([1, 2, 3])).save(&outside).unwrap();
    let set = manifest_set(dir.path(), "path,identity,yaw", &["a.png,p1,0".to_owned(), "link.png,p2,0".to_owned(), "passwd.png,p3,0".to_owned()]);
    std::os::unix::fs::symlink(&outside, set.join("link.png")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", set.join("passwd.png")).unwrap();
    let report = inspect_json(&set, &[]);
    assert_eq!(skip_count(&report, "path outside the manifest's folder"), 2, "{report}");
    assert_eq!(report["images"], 1, "{report}");
}

#[test]
fn overlong_manifest_content_is_never_echoed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let long = "y".repeat(10 << 20);
    let set = manifest_set(dir.path(), "path,identity,yaw", &[format!("{long}.png,p1,nan")]);
    let output = Command::new(binary()).arg("inspect").arg(&set).arg("--json").assert().success();
    assert!(output.get_output().stdout.len() < 20_000, "inspect --json wrote {} bytes", output.get_output().stdout.len());
    let bad_header = manifest_set(&dir.path().join("h"), &format!("path,{long}"), &[]);
    let output = Command::new(binary()).arg("inspect").arg(&bad_header).assert().failure();
    assert!(output.get_output().stderr.len() < 20_000, "the error is {} bytes", output.get_output().stderr.len());
}

fn write_npy(path: &Path, descr: &str, shape: &str, data: &[u8]) {
    let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn an_npy_shape_that_overflows_is_called_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    write_npy(&dir.path().join("images.npy"), "<f4", "(1, 3, 4294967296, 4294967296)", &[0; 16]);
    write_npy(&dir.path().join("ids.npy"), "<i8", "(1,)", &[0; 8]);
    write_npy(&dir.path().join("yaws.npy"), "<i8", "(1,)", &[0; 8]);
    Command::new(binary())
        .arg("inspect")
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(contains("larger than any file can be").and(contains("too small").not()));
}

#[test]
fn images_over_the_decode_budget_are_skipped_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let set = manifest_set(dir.path(), "path,identity,yaw", &["a.png,p1,0".to_owned()]);
    let report = inspect_json(&set, &["--max-pixels", "1000"]);
    assert_eq!(skip_count(&report, "image too large (over the decode budget; see --max-pixels)"), 1, "{report}");
}

#[test]
fn a_cpu_run_never_starts_the_gpu_driver() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--steps", "2", "--checkpoint-every", "2"]).success();
    Command::new(binary())
        .env("XDG_RUNTIME_DIR", "/nonexistent-for-this-test")
        .args(["train", "--resume", "--device", "cpu", "--steps", "3", "--out"])
        .arg(&run)
        .assert()
        .success()
        .stderr(contains("XDG_RUNTIME_DIR").not());
}

// Issue 38: the faults of the second hostile round (`shared/reports/qa_hostile.md`, B1–B18).

/// A tiny run of `steps` steps with a checkpoint every `every`, in `dir/name`.
fn tiny_run(dir: &Path, name: &str, steps: &str, every: &str) -> PathBuf {
    let run = dir.join(name);
    train(&run, &["--steps", steps, "--checkpoint-every", every]).success();
    run
}

/// `export` of `run`'s newest checkpoint to `dir/w.safetensors`; returns the file and its
/// configuration file.
fn exported(run: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let file = dir.join("w.safetensors");
    Command::new(binary()).args(["export", "--run"]).arg(run).arg("--out").arg(&file).assert().success();
    (file.clone(), dir.join("w.config.json"))
}

/// `import --from file --config config --run run`.
fn import(file: &Path, config: &Path, run: &Path) -> assert_cmd::assert::Assert {
    Command::new(binary()).args(["import", "--from"]).arg(file).arg("--config").arg(config).arg("--run").arg(run).assert()
}

/// A tensor of a safetensors file: name, dtype, shape and bytes.
type Tensor = (String, safetensors::Dtype, Vec<usize>, Vec<u8>);

/// The tensors of a safetensors file and its metadata.
fn read_tensors(path: &Path) -> (Vec<Tensor>, Option<std::collections::HashMap<String, String>>) {
    let bytes = std::fs::read(path).unwrap();
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let read = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = read.tensors().into_iter().map(|(name, view)| (name, view.dtype(), view.shape().to_vec(), view.data().to_vec())).collect();
    (tensors, metadata.metadata().clone())
}

/// Writes `tensors` with `metadata` as a safetensors file.
fn write_tensors(path: &Path, tensors: &[Tensor], metadata: Option<std::collections::HashMap<String, String>>) {
    let views: Vec<(String, safetensors::tensor::TensorView)> =
        tensors.iter().map(|(name, dtype, shape, data)| (name.clone(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap())).collect();
    std::fs::write(path, safetensors::serialize(views, metadata).unwrap()).unwrap();
}

/// Writes `input`'s tensors, each passed through `change` (`None` leaves it out), with its
/// metadata, to `output`.
fn rewrite_safetensors(input: &Path, output: &Path, change: impl Fn(Tensor) -> Option<Tensor>) {
    let (tensors, metadata) = read_tensors(input);
    write_tensors(output, &tensors.into_iter().filter_map(change).collect::<Vec<_>>(), metadata);
}

fn f32s(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Every F32 tensor of a file converted by `convert` into `dtype`.
fn as_dtype(dtype: safetensors::Dtype, convert: fn(f32) -> Vec<u8>) -> impl Fn(Tensor) -> Option<Tensor> {
    move |(name, _, shape, data)| Some((name, dtype, shape, f32s(&data).flat_map(convert).collect()))
}

/// B1: finite weights of 3·10³⁸ made every identity score NaN, and `roc()` then looped until
/// the machine ran out of memory.
#[test]
fn an_identity_score_that_is_not_a_number_stops_eval_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), "run", "2", "2");
    let (file, config) = exported(&run, dir.path());
    let huge = dir.path().join("huge.safetensors");
    rewrite_safetensors(&file, &huge, |(name, dtype, shape, data)| {
        let data = if name == "Genc.Conv11.conv.weight" { data.chunks(4).flat_map(|_| 3e38f32.to_le_bytes()).collect() } else { data };
        Some((name, dtype, shape, data))
    });
    let imported = dir.path().join("huge");
    import(&huge, &config, &imported).success();
    Command::new(binary())
        .args(["eval", "--device", "cpu", "--synthetic", "4", "--classifier-images", "50", "--classifier-epochs", "1", "--run"])
        .arg(&imported)
        .timeout(Duration::from_secs(300))
        .assert()
        .code(1)
        .stderr(contains("identity features are not numbers").and(contains("weights are broken")));
}

/// B2: F16 (PyTorch's `model.half()`), BF16 and F64 files were taken as they were, and every
/// later command panicked on the mixed dtypes.
#[test]
fn import_converts_f16_bf16_and_f64_tensors_to_f32() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), "run", "2", "2");
    let (file, config) = exported(&run, dir.path());
    let face = dir.path().join("face.png");
    image::RgbImage::from_pixel(32, 32, image::Rgb([120, 90, 80])).save(&face).unwrap();
    let kinds: [(&str, safetensors::Dtype, fn(f32) -> Vec<u8>); 3] = [
        ("F16", safetensors::Dtype::F16, |v| half::f16::from_f32(v).to_le_bytes().to_vec()),
        ("BF16", safetensors::Dtype::BF16, |v| half::bf16::from_f32(v).to_le_bytes().to_vec()),
        ("F64", safetensors::Dtype::F64, |v| f64::from(v).to_le_bytes().to_vec()),
    ];
    for (name, dtype, convert) in kinds {
        let converted = dir.path().join(format!("{name}.safetensors"));
        rewrite_safetensors(&file, &converted, as_dtype(dtype, convert));
        let imported = dir.path().join(name);
        import(&converted, &config, &imported).success().stdout(contains(format!("{name} tensors to F32")));
        Command::new(binary())
            .args(["rotate", "--device", "cpu", "--pose", "0", "--run"])
            .arg(&imported)
            .arg("--image")
            .arg(&face)
            .arg("--out")
            .arg(dir.path().join(format!("{name}-out")))
            .assert()
            .success();
        Command::new(binary()).args(["train", "--resume", "--device", "cpu", "--steps", "3", "--out"]).arg(&imported).assert().success();
    }
    // PyTorch's BatchNorm counters (I64) are dropped, not refused.
    let with_counters = dir.path().join("counters.safetensors");
    let (mut tensors, metadata) = read_tensors(&file);
    tensors.push(("Genc.Conv11.bn.num_batches_tracked".to_owned(), safetensors::Dtype::I64, vec![], 7i64.to_le_bytes().to_vec()));
    write_tensors(&with_counters, &tensors, metadata);
    import(&with_counters, &config, &dir.path().join("counters")).success();
}

/// B2, B16: a dtype that cannot be converted, a missing, extra or misshapen tensor, or a file of
/// another preset is refused in one short line, never burn-store's report of every tensor
/// (24–34 KB, or a 15-line box).
#[test]
fn import_refusals_are_one_short_line_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), "run", "2", "2");
    let (file, config) = exported(&run, dir.path());
    let cases: Vec<(&str, Box<dyn Fn(Tensor) -> Option<Tensor>>, &str)> = vec![
        ("i64", Box::new(as_dtype(safetensors::Dtype::I64, |v| (v as i64).to_le_bytes().to_vec())), "I64"),
        ("bool", Box::new(|(n, _, s, d): Tensor| Some((n, safetensors::Dtype::BOOL, s, d.chunks(4).map(|_| 1u8).collect()))), "BOOL"),
        ("missing", Box::new(|t: Tensor| (t.0 != "Gdec.FC.weight").then_some(t)), "Gdec.FC.weight"),
        ("shape", Box::new(|(n, d, s, b): Tensor| Some(if n == "D.FC.weight" { (n, d, vec![s[0] * s[1]], b) } else { (n, d, s, b) })), "D.FC.weight"),
        ("extra", Box::new(|(n, d, s, b): Tensor| Some(if n == "D.FC.bias" { ("Extra.thing".to_owned(), d, s, b) } else { (n, d, s, b) })), "Extra.thing"),
    ];
    for (name, change, says) in cases {
        let bad = dir.path().join(format!("{name}.safetensors"));
        rewrite_safetensors(&file, &bad, change);
        let refused = import(&bad, &config, &dir.path().join(name)).code(1).stderr(contains(says));
        let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
        assert!(stderr.len() < 600 && stderr.trim().lines().count() == 1, "{name}: {} bytes, {} lines: {stderr}", stderr.len(), stderr.lines().count());
        assert!(!dir.path().join(name).exists(), "{name}: a refused file leaves no folder");
    }
    // Another preset's file, its metadata stripped so that only the tensors tell.
    let small = dir.path().join("small");
    Command::new(binary())
        .args(["train", "--synthetic", "4", "--lights", "1", "--preset", "small", "--batch", "2", "--steps", "1", "--device", "cpu", "--recipe", "paper", "--out"])
        .arg(&small)
        .assert()
        .success();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (small_file, _) = exported(&small, &other);
    let stripped = dir.path().join("stripped.safetensors");
    write_tensors(&stripped, &read_tensors(&small_file).0, None);
    let refused = import(&stripped, &config, &dir.path().join("stripped")).code(1);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(stderr.len() < 600 && stderr.trim().lines().count() == 1, "another preset: {} bytes: {stderr}", stderr.len());
}

/// Flips one byte near the end of `file`.
fn damage(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x40;
    std::fs::write(file, bytes).unwrap();
}

/// B3: `rotate` and `eval` read a checkpoint without its checks, where `export` and `--resume`
/// refused it.
#[test]
fn rotate_and_eval_check_a_checkpoint_as_resume_does() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), "run", "4", "2");
    damage(&run.join("checkpoints/step-00000004/generator.bpk"));
    let face = dir.path().join("face.png");
    image::RgbImage::from_pixel(32, 32, image::Rgb([120, 90, 80])).save(&face).unwrap();
    let rotate = |extra: &[&str]| {
        Command::new(binary())
            .args(["rotate", "--device", "cpu", "--pose", "0", "--run"])
            .arg(&run)
            .arg("--image")
            .arg(&face)
            .arg("--out")
            .arg(dir.path().join("out"))
            .args(extra)
            .assert()
    };
    rotate(&[]).success().stderr(contains("passed over").and(contains("does not match the checksum")));
    rotate(&["--checkpoint", "4"]).code(1).stderr(contains("does not match the checksum"));
    Command::new(binary())
        .args(["eval", "--device", "cpu", "--checkpoint", "4", "--run"])
        .arg(&run)
        .assert()
        .code(1)
        .stderr(contains("does not match the checksum"));
    // A changed checksums.json is caught too.
    std::fs::write(run.join("checkpoints/step-00000002/checksums.json"), "garbage{").unwrap();
    rotate(&["--checkpoint", "2"]).code(1).stderr(contains("checksums.json is damaged"));
}

/// B4: a folder with checkpoints but no config.json counted as empty; `import` and `train`
/// then pruned its checkpoints.
#[test]
fn a_folder_that_holds_files_but_no_run_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), "run", "2", "2");
    let (file, config) = exported(&run, dir.path());
    let old = tiny_run(dir.path(), "old", "6", "2");
    std::fs::remove_file(old.join("config.json")).unwrap();
    let checkpoints = || std::fs::read_dir(old.join("checkpoints")).unwrap().count();
    let before = checkpoints();
    import(&file, &config, &old).code(1).stderr(contains("is not empty and holds no run"));
    train(&old, &["--steps", "2"]).code(1).stderr(contains("is not empty and holds no run"));
    assert_eq!(checkpoints(), before, "the checkpoints stay");
    // A lone lock file (left by a killed process) does not count.
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::write(locked.join("lock"), "1\n").unwrap();
    import(&file, &config, &locked).success();
}

/// Runs the binary with `args` with files limited to `bytes` (a disk that fills up: writes past
/// it fail with EFBIG; SIGXFSZ is ignored, as a full disk sends no signal).
#[cfg(unix)]
fn with_file_limit(bytes: u64, args: &[&std::ffi::OsStr]) -> assert_cmd::assert::Assert {
    use std::os::unix::process::CommandExt;
    let mut command = Process::new(binary());
    command.args(args);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Command::from_std(command).assert()
}

/// B5: an `import` that failed writing its checkpoint (a full disk) left config.json without
/// a checkpoint, which `--resume` then trained from random weights.
#[cfg(unix)]
#[test]
fn an_import_that_fails_halfway_leaves_no_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), "run", "2", "2");
    let (file, config) = exported(&run, dir.path());
    let imported = dir.path().join("imported");
    let args = ["import".as_ref(), "--from".as_ref(), file.as_os_str(), "--config".as_ref(), config.as_os_str(), "--run".as_ref(), imported.as_os_str()];
    with_file_limit(100_000, &args).code(1).stderr(contains("File too large"));
    assert!(!imported.exists(), "a failed import leaves nothing");
    import(&file, &config, &imported).success();
}

/// B8: names in checksums.json were joined to the checkpoint folder as they were: `/dev/zero`
/// was read without end, `../../…` outside the run.
#[test]
fn checksums_naming_files_outside_the_checkpoint_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), "run", "2", "2");
    let sums = run.join("checkpoints/step-00000002/checksums.json");
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&sums).unwrap()).unwrap();
    std::fs::write(dir.path().join("outside"), "x").unwrap();
    for name in ["/dev/zero", "../../../outside", ".", ""] {
        let mut changed = original.clone();
        changed[name] = "00".into();
        std::fs::write(&sums, changed.to_string()).unwrap();
        Command::new(binary())
            .args(["export", "--run"])
            .arg(&run)
            .arg("--out")
            .arg(dir.path().join("x.safetensors"))
            .timeout(Duration::from_secs(60))
            .assert()
            .code(1)
            .stderr(contains("not a file of its checkpoint folder"));
    }
}

/// Makes a FIFO (a named pipe) at `path`.
#[cfg(unix)]
fn make_fifo(path: &Path) {
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string, and a mode.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
}

/// B9: `import --from` a FIFO blocked in open() with no output.
#[cfg(unix)]
#[test]
fn import_from_a_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("f.safetensors");
    make_fifo(&fifo);
    Command::new(binary())
        .args(["import", "--from"])
        .arg(&fifo)
        .arg("--config")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/default-run/config.json"))
        .arg("--run")
        .arg(dir.path().join("ff"))
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(contains("is not a regular file"));
}

/// B7, B10, B17: numbers that mean nothing (or that exhaust memory) are refused by the
/// argument parser, where 0 used to become 1 silently.
#[test]
fn nonsense_counts_are_refused_by_the_argument_parser() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--g-steps", "--g-steps-when-d-strong", "--checkpoint-every", "--lights"] {
        let run = dir.path().join("run");
        Command::new(binary())
            .args(["train", "--synthetic", "4", "--preset", "tiny", "--batch", "4", "--device", "cpu", "--steps", "2", flag, "0", "--out"])
            .arg(&run)
            .assert()
            .code(2)
            .stderr(contains("0 is not in"));
        assert!(!run.exists(), "{flag} 0: a folder was left");
    }
    let eval = |flag: &str, value: &str| {
        Command::new(binary()).args(["eval", "--run", "assets/default-run", "--device", "cpu", "--synthetic", "4", flag, value]).current_dir(env!("CARGO_MANIFEST_DIR")).assert()
    };
    eval("--lights", "0").code(2).stderr(contains("0 is not in"));
    eval("--classifier-epochs", "0").code(2).stderr(contains("0 is not in"));
    let bench = |flag: &str, value: &str| Command::new(binary()).args(["bench", "--device", "cpu", "--no-eval", flag, value]).timeout(Duration::from_secs(60)).assert();
    bench("--steps", "0").code(2).stderr(contains("0 is not in"));
    bench("--interactive", "18446744073709551615").code(2).stderr(contains("is not in"));
    bench("--loader", "18446744073709551615").code(2).stderr(contains("is not in"));
}

/// `bench --json` keeps its file up to date as it measures (so that a lent GPU machine's time
/// limit leaves what was measured): here it runs to the end, and the file holds every figure.
#[test]
fn bench_writes_its_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    Command::new(binary())
        .args(["bench", "--device", "cpu", "--presets", "tiny", "--batch", "2", "--steps", "1", "--interactive", "1", "--no-eval", "--json"])
        .arg(&out)
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(report["train_img_per_s"]["tiny"]["2"].as_f64().is_some_and(|rate| rate > 0.0), "{report}");
    assert!(report["sweep_ms"]["tiny"]["p50"].as_f64().is_some(), "{report}");
    assert!(report["loader_img_per_s"].as_f64().is_some_and(|rate| rate > 0.0), "{report}");
}

/// B11: Ctrl-C while the pose teacher trained waited for it, then promised a checkpoint of
/// step 0 that was never written.
#[test]
fn ctrl_c_while_the_pose_teacher_trains_stops_it_and_says_what_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let live = Process::new(binary())
        .args(["train", "--synthetic", "20", "--lights", "2", "--preset", "tiny", "--batch", "4", "--device", "cpu", "--steps", "3", "--pose-teacher-weight", "1", "--out"])
        .arg(&run)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let sent = Instant::now();
    signal(&live, libc::SIGINT);
    let output = live.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(sent.elapsed() < Duration::from_secs(10), "the teacher trained on for {:?} after Ctrl-C", sent.elapsed());
    assert!(!stderr.contains("a checkpoint of that step is written") && stderr.contains("before the first step"), "{stderr}");
    train(&run, &["--steps", "1"]).success();
}

/// B12: `rotate` of two inputs with the same folder and file name wrote both to one set of files.
#[test]
fn rotate_gives_inputs_of_the_same_name_their_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let faces: Vec<PathBuf> = ["a", "b"].iter().map(|top| dir.path().join(top).join("id0000").join("face.png")).collect();
    for face in &faces {
        std::fs::create_dir_all(face.parent().unwrap()).unwrap();
        image::RgbImage::from_pixel(64, 64, image::Rgb([120, 90, 80])).save(face).unwrap();
    }
    let out = dir.path().join("out");
    Command::new(binary())
        .args(["rotate", "--run", "assets/default-run", "--device", "cpu", "--pose", "0", "--image"])
        .args(&faces)
        .arg("--out")
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .assert()
        .success();
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 4, "an input and a pose for each of the two");
}

/// B13: the manifest's duplicate check compared the path's text, so `./a.png` was another image.
#[test]
fn a_manifest_path_spelled_two_ways_is_one_image() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<String> = ["a.png", "./a.png", "././a.png", "sub/../a.png", "missing.png", "./missing.png"].iter().enumerate().map(|(i, p)| format!("{p},p{i},0")).collect();
    let set = manifest_set(dir.path(), "path,identity,yaw", &rows);
    std::fs::create_dir(set.join("sub")).unwrap();
    let report = inspect_json(&set, &[]);
    assert_eq!(skip_count(&report, "duplicate path"), 4, "{report}");
    assert_eq!(report["images"], 1, "{report}");
}

/// B14, and window bug 10: `export --out` replaced whatever was at the path (a run's own files,
/// a device node), and wrote a fixed-name config.json a second export overwrote.
#[test]
fn export_refuses_paths_it_must_not_replace_and_names_its_config_after_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), "run", "2", "2");
    let export = |out: &Path| Command::new(binary()).args(["export", "--run"]).arg(&run).arg("--out").arg(out).assert();
    let metrics = std::fs::read(run.join("metrics.jsonl")).unwrap();
    for inside in ["metrics.jsonl", "checkpoints/step-00000002/generator.bpk", "new.safetensors"] {
        export(&run.join(inside)).code(1).stderr(contains("inside the run folder"));
    }
    assert_eq!(std::fs::read(run.join("metrics.jsonl")).unwrap(), metrics, "the run's metrics are untouched");
    export(&dir.path().join("run/../run/x.safetensors")).code(1).stderr(contains("inside the run folder"));
    #[cfg(unix)]
    {
        let fifo = dir.path().join("node");
        make_fifo(&fifo);
        export(&fifo).code(1).stderr(contains("is not a regular file"));
    }
    // Two runs exported into one folder: each file with its own configuration.
    let other = tiny_run(dir.path(), "other", "2", "2");
    let out = dir.path().join("out");
    export(&out.join("a.safetensors")).success().stdout(contains("a.config.json"));
    Command::new(binary()).args(["export", "--run"]).arg(&other).arg("--out").arg(out.join("b.safetensors")).assert().success();
    assert!(out.join("a.config.json").is_file() && out.join("b.config.json").is_file() && !out.join("config.json").exists());
    // `import` finds the configuration named after the file.
    Command::new(binary()).args(["import", "--from"]).arg(out.join("b.safetensors")).arg("--run").arg(dir.path().join("b")).assert().success();
}

/// B15: a run whose images were all over the decode budget said they "could not be decoded" and
/// left a run folder that blocked a retry.
#[test]
fn a_run_that_fails_before_its_first_step_leaves_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let faces = dir.path().join("faces");
    Command::new(binary()).args(["synth", "--identities", "4", "--lights", "1", "--size", "32", "--out"]).arg(&faces).assert().success();
    let run = dir.path().join("run");
    let start = |extra: &[&str]| {
        Command::new(binary())
            .args(["train", "--preset", "tiny", "--batch", "4", "--steps", "2", "--device", "cpu", "--recipe", "paper", "--data"])
            .arg(&faces)
            .arg("--out")
            .arg(&run)
            .args(extra)
            .assert()
    };
    start(&["--max-pixels", "0"]).code(1).stderr(contains("over the decode budget"));
    assert!(!run.exists(), "a run that never took a step leaves no folder");
    start(&[]).success();
}

/// B18: a refused `--init-from` left an empty run folder.
#[test]
fn a_refused_init_from_leaves_no_folder() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--steps", "1", "--init-from", dir.path().join("missing").to_str().unwrap()]).code(1).stderr(contains("is not a run folder"));
    assert!(!run.exists(), "a refused source leaves no folder");
    let damaged = tiny_run(dir.path(), "damaged", "2", "2");
    damage(&damaged.join("checkpoints/step-00000002/generator.bpk"));
    train(&run, &["--steps", "1", "--init-from", damaged.to_str().unwrap()]).code(1).stderr(contains("does not match the checksum"));
    assert!(!run.exists(), "a damaged source leaves no folder");
}

#[test]
fn a_gpu_tuning_folder_that_cannot_be_made_is_named_and_the_command_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the folder would go: nothing can be made below it.
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, "not a folder").unwrap();
    Command::new(binary())
        .env("DRGAN_STUDIO_CACHE", &blocked)
        .args(["synth", "--out"])
        .arg(dir.path().join("faces"))
        .args(["--identities", "1", "--size", "32"])
        .assert()
        .success()
        .stderr(contains("tuning results cannot be kept").and(contains("a-file")));
}

#[test]
fn gpu_cache_export_without_a_cache_and_import_of_a_file_that_is_no_bundle_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let refused = |action: &str, file: &Path| Command::new(binary()).env("DRGAN_STUDIO_CACHE", &cache).args(["gpu-cache", action]).arg(file).assert().failure();
    refused("export", &dir.path().join("out.bundle")).stderr(contains("there is no GPU cache in").and(contains("run `bench --device gpu`")));
    assert!(!dir.path().join("out.bundle").exists());
    let not_a_bundle = dir.path().join("photo.bundle");
    std::fs::write(&not_a_bundle, b"\x89PNG\r\n\x1a\n not a bundle").unwrap();
    refused("import", &not_a_bundle).stderr(contains("photo.bundle is not a GPU cache bundle"));
    refused("import", &dir.path().join("missing.bundle")).stderr(contains("there is no file").and(contains("missing.bundle")));
}

#[test]
fn device_cuda_without_cuda_is_refused_with_the_reason_and_leaves_no_run() {
    // CI has no NVIDIA driver; a build without the `cuda` feature has no backend.
    if drgan_studio::device::cuda::driver_found() {
        eprintln!("an NVIDIA driver is here: the refusal this test checks cannot happen");
        return;
    }
    let expected = if cfg!(feature = "cuda") { "no NVIDIA driver library (libcuda.so) was found" } else { "this build has no CUDA backend" };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let refused = || contains(expected).and(contains("panicked").not());
    Command::new(binary()).args(["bench", "--device", "cuda", "--steps", "1"]).assert().failure().stderr(refused());
    Command::new(binary()).arg("train").args(&TINY[..8]).args(["--device", "cuda", "--steps", "1", "--out"]).arg(&out).assert().failure().stderr(refused());
    assert!(!out.exists(), "a refused device left {}", out.display());
}

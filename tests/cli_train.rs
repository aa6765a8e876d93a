//! `drgan-studio train`: the run folder, exact resumes, and clear refusals of bad input.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;

fn train(out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("drgan-studio")
        .unwrap()
        .args(["train", "--preset", "tiny", "--batch", "4", "--device", "cpu", "--seed", "3", "--out"])
        .arg(out)
        .args(extra)
        .assert()
}

/// `train --resume [--steps STEPS]` on the CPU.
fn resume(out: &Path, steps: Option<&str>) -> assert_cmd::assert::Assert {
    Command::cargo_bin("drgan-studio")
        .unwrap()
        .args(["train", "--resume", "--device", "cpu", "--out"])
        .arg(out)
        .args(steps.map(|s| ["--steps", s]).iter().flatten())
        .assert()
}

const SMALL_SET: [&str; 4] = ["--synthetic", "6", "--lights", "1"];

fn metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A metrics line without its timing, for comparing runs.
fn without_time(mut line: Value) -> Value {
    line.as_object_mut().unwrap().remove("wall_secs");
    line
}

#[test]
fn a_run_folder_holds_config_metrics_samples_and_checkpoints_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let args = [&SMALL_SET[..], &["--steps", "4", "--checkpoint-every", "2"]].concat();
    train(&whole, &args).success().stdout(contains("device: cpu"));

    let config: Value = serde_json::from_str(&std::fs::read_to_string(whole.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"]["preset"], "tiny");
    assert_eq!(config["model"]["pose_bins"]["yaws"].as_array().unwrap().len(), 9);
    let lines = metrics(&whole);
    assert_eq!(lines.len(), 4);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["step"], i as u64 + 1);
        for key in ["wall_secs", "d_loss", "g_loss", "d_id_acc_real", "d_pose_acc_real", "d_fake_acc", "g_pose_acc", "g_id_acc"] {
            assert!(line[key].as_f64().is_some_and(f64::is_finite), "{key} missing in {line}");
        }
    }
    let grid = image::open(whole.join("samples/step-00000004.png")).unwrap();
    assert_eq!(grid.width(), 32 * 10, "input plus nine poses");
    assert!(grid.height() >= 32);
    for file in ["generator.bpk", "discriminator.bpk", "optim_g.bpk", "optim_d.bpk", "state.json"] {
        assert!(whole.join("checkpoints/step-00000004").join(file).is_file(), "{file}");
    }

    // Killed after the step-2 checkpoint (the step-4 one never written), resumed without
    // `--steps`, so to the run's own 4 steps: the same numbers as the uninterrupted run, step by
    // step (the studio recipe's noise and learning rate follow the total, so a changed total
    // would show).
    let killed = dir.path().join("killed");
    train(&killed, &args).success();
    std::fs::remove_dir_all(killed.join("checkpoints/step-00000004")).unwrap();
    resume(&killed, None).success().stdout(contains("resuming"));
    let resumed: Vec<Value> = metrics(&killed).into_iter().map(without_time).collect();
    let uninterrupted: Vec<Value> = lines.into_iter().map(without_time).collect();
    assert_eq!(resumed, uninterrupted);
}

#[test]
fn a_multi_image_run_can_draw_d_real_faces_apart_records_it_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let config = |run: &Path| -> Value { serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap() };
    let args = [&SMALL_SET[..], &["--multi", "--images-per-id", "2", "--steps", "4", "--checkpoint-every", "2", "--d-real-apart", "true"]].concat();
    let whole = dir.path().join("whole");
    train(&whole, &args).success();
    assert_eq!(config(&whole)["training"]["multi"]["d_real_apart"], true);
    let uninterrupted: Vec<Value> = metrics(&whole).into_iter().map(without_time).collect();

    // D's batch is drawn from the step's own random stream, so a killed run resumes exactly.
    let killed = dir.path().join("killed");
    train(&killed, &args).success();
    std::fs::remove_dir_all(killed.join("checkpoints/step-00000004")).unwrap();
    resume(&killed, None).success();
    assert_eq!(metrics(&killed).into_iter().map(without_time).collect::<Vec<_>>(), uninterrupted);

    // By default, the paper's batch: D judges G's groups; recorded, and D's numbers differ.
    let grouped = dir.path().join("grouped");
    train(&grouped, &args[..args.len() - 2]).success();
    assert_eq!(config(&grouped)["training"]["multi"]["d_real_apart"], false);
    assert_ne!(metrics(&grouped).into_iter().map(without_time).collect::<Vec<_>>(), uninterrupted);
}

/// A copy of the run folder `from` at `to` (a run killed at the same point, say).
fn copy_run(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_run(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn a_run_keeps_its_pose_teacher_so_a_resume_reads_it_back_and_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let args = [&SMALL_SET[..], &["--steps", "4", "--checkpoint-every", "2", "--pose-teacher-weight", "1"]].concat();
    train(&whole, &args).success().stdout(contains("pose teacher: trained on"));
    assert!(whole.join("pose-teacher.bpk").is_file(), "the run keeps its teacher");
    let uninterrupted: Vec<Value> = metrics(&whole).into_iter().map(without_time).collect();

    // Killed after the step-2 checkpoint: the resume reads the teacher back instead of
    // training it again, and the steps after it are the uninterrupted run's.
    let killed = dir.path().join("killed");
    copy_run(&whole, &killed);
    let kill = || std::fs::remove_dir_all(killed.join("checkpoints/step-00000004")).unwrap();
    kill();
    resume(&killed, None)
        .success()
        .stdout(contains("pose teacher: the run's own, read back rather than trained again"))
        .stdout(contains("pose teacher: trained on").not());
    assert_eq!(metrics(&killed).into_iter().map(without_time).collect::<Vec<_>>(), uninterrupted);

    // A damaged teacher file: trained again from the run's seed, said so, and nothing else changes.
    std::fs::write(killed.join("pose-teacher.bpk"), b"not a teacher").unwrap();
    kill();
    resume(&killed, None).success().stdout(contains("the saved pose teacher was not used")).stdout(contains("so it was trained again"));
    assert_eq!(metrics(&killed).into_iter().map(without_time).collect::<Vec<_>>(), uninterrupted);
    // The teacher trained again is kept in its place: the next resume reads it back.
    kill();
    resume(&killed, None).success().stdout(contains("read back rather than trained again"));
    assert_eq!(metrics(&killed).into_iter().map(without_time).collect::<Vec<_>>(), uninterrupted);
}

#[test]
fn a_run_started_from_another_records_the_training_behind_its_weights() {
    let dir = tempfile::tempdir().unwrap();
    let from = |out: &str, steps: &str, source: Option<&str>, recipe: &str| {
        let source = source.map(|s| dir.path().join(s).to_str().unwrap().to_owned());
        let init: Vec<&str> = source.iter().flat_map(|s| ["--init-from", s.as_str()]).collect();
        train(&dir.path().join(out), &[&SMALL_SET[..], &["--steps", steps, "--recipe", recipe], &init].concat())
    };
    let config = |out: &str| -> Value { serde_json::from_str::<Value>(&std::fs::read_to_string(dir.path().join(out).join("config.json")).unwrap()).unwrap() };
    let started = |out: &str| config(out)["started_from"].clone();
    from("first", "3", None, "studio").success();
    from("second", "2", Some("first"), "studio").success().stdout(contains("started from"));
    // The polish recipe continues a model, at its own learning rate.
    from("third", "1", Some("second"), "polish").success().stdout(contains("recipe: polish")).stdout(contains("meant to continue").not());
    assert_eq!(started("first"), Value::Null, "a fresh run says nothing");
    assert_eq!(started("second")["step"], 3);
    assert_eq!((started("second")["steps_before"].clone(), started("second")["images_before"].clone()), (3.into(), 12.into()), "3 steps of 4 images");
    assert_eq!((started("third")["steps_before"].clone(), started("third")["images_before"].clone()), (5.into(), 20.into()), "and 2 more");
    assert_eq!(started("third")["recipe"], "studio", "the source's recipe");
    assert_eq!(config("third")["training"]["learning_rate"], 1e-4);
    let model = drgan_studio::train::run::load_generator(&drgan_studio::train::RunDir::new(dir.path().join("third")), None, &burn::prelude::Device::flex()).unwrap().value;
    assert_eq!((model.step, model.steps_before), (1, 5), "the window counts the steps behind the weights");
    from("fourth", "1", Some("none"), "studio").failure().stderr(contains("is not a run folder"));
    assert!(!dir.path().join("fourth").join("config.json").exists(), "a source that cannot be read leaves no half-made run");
    from("fifth", "1", None, "polish").success().stdout(contains("meant to continue a trained model"));
    let small = dir.path().join("small");
    Command::cargo_bin("drgan-studio")
        .unwrap()
        .args(["train", "--preset", "small", "--batch", "2", "--steps", "1", "--device", "cpu", "--out"])
        .arg(&small)
        .args(SMALL_SET)
        .assert()
        .success();
    from("sixth", "1", Some("small"), "studio").failure().stderr(contains("holds a small model (64×64) and this run is tiny (32×32)"));
    assert!(!dir.path().join("sixth").join("config.json").exists());
}

#[test]
fn train_help_lists_each_named_recipe_with_one_line() {
    let help = Command::cargo_bin("drgan-studio").unwrap().args(["train", "--help"]).assert().success();
    let text = String::from_utf8_lossy(&help.get_output().stdout).into_owned();
    for name in ["paper", "studio", "polish"] {
        assert!(text.lines().any(|line| line.trim_start().starts_with(&format!("- {name}:"))), "{name} is listed: {text}");
    }
}

#[test]
fn extending_a_finished_run_continues_it_exactly_when_nothing_follows_the_total() {
    // The studio recipe's noise and learning-rate schedules follow the run's total steps, so a
    // longer total changes them; the paper recipe has none, so 2 + 2 steps are 4 steps.
    let dir = tempfile::tempdir().unwrap();
    let paper = [&SMALL_SET[..], &["--recipe", "paper", "--checkpoint-every", "2"]].concat();
    let whole = dir.path().join("whole");
    train(&whole, &[&paper[..], &["--steps", "4"]].concat()).success();
    let split = dir.path().join("split");
    train(&split, &[&paper[..], &["--steps", "2"]].concat()).success();
    resume(&split, Some("4")).success().stdout(contains("resuming"));
    let resumed: Vec<Value> = metrics(&split).into_iter().map(without_time).collect();
    let uninterrupted: Vec<Value> = metrics(&whole).into_iter().map(without_time).collect();
    assert_eq!(resumed, uninterrupted);
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(&out, &["--data", "/no/such/folder"]).failure().stderr(contains("does not exist"));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    train(&out, &["--data", empty.to_str().unwrap()]).failure().stderr(contains("holds no images"));
    train(&out, &[]).failure().stderr(contains("--data DIR or --synthetic N"));
    train(&out, &["--synthetic", "4", "--steps", "5", "--d-warmup", "5"]).failure().stderr(contains("G is never trained"));
    train(&out, &["--synthetic", "4", "--multi", "--images-per-id", "3"]).failure().stderr(contains("must hold whole groups of 3"));
    for groups in ["0", "2"] {
        let args = ["--synthetic", "4", "--multi", "--images-per-id", "3", "--groups-per-batch", groups];
        train(&out, &args).failure().stderr(contains("not fit a batch of 4: 1 group does"));
    }
    let args = ["--synthetic", "4", "--multi", "--images-per-id", "6", "--groups-per-batch", "1"];
    train(&out, &args).failure().stderr(contains("1 group of 6 images does not fit a batch of 4: make the batch at least 6"));

    let lonely = dir.path().join("lonely");
    std::fs::create_dir(&lonely).unwrap();
    image::RgbImage::new(40, 40).save(lonely.join("a.png")).unwrap();
    std::fs::write(lonely.join("manifest.csv"), "path,identity,yaw\na.png,alice,0\nb.png,alice,15\n").unwrap();
    train(&out, &["--data", lonely.to_str().unwrap()]).failure().stderr(contains("at least two"));

    let nothing = dir.path().join("nothing");
    std::fs::create_dir(&nothing).unwrap();
    std::fs::write(nothing.join("manifest.csv"), "path,identity,yaw\na.png,alice,90\nb.png,,0\nc.png,bob,abc\n").unwrap();
    train(&out, &["--data", nothing.to_str().unwrap()]).failure().stderr(contains("no usable images"));
}

#[test]
fn resuming_the_built_in_run_in_place_is_refused_and_changes_nothing() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/default-run");
    let config = std::fs::read(shipped.join("config.json")).unwrap();
    let metrics = std::fs::read(shipped.join("metrics.jsonl")).unwrap();
    // `--steps 800` is the run's own last step: even unguarded, this resume would train nothing.
    resume(&shipped, Some("800")).failure().stderr(contains("the built-in model's run").and(contains("--init-from")));
    assert_eq!(std::fs::read(shipped.join("config.json")).unwrap(), config);
    assert_eq!(std::fs::read(shipped.join("metrics.jsonl")).unwrap(), metrics);
    assert!(!shipped.join("lock").exists());
}

#[test]
fn a_copy_of_the_built_in_run_resumes_with_fresh_optimizers_and_says_so() {
    // The built-in run ships G and D without Adam's states (the repository has to stay small).
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    copy_run(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/default-run"), &copy);
    assert!(!copy.join("checkpoints/step-00000800/optim_g.bpk").exists());
    resume(&copy, Some("801")).success().stdout(contains("holds no optimizer state").and(contains("Adam starts fresh")));
    assert!(copy.join("checkpoints/step-00000801/optim_g.bpk").exists(), "the next checkpoint has them again");
}

#[test]
fn a_checkpoint_from_another_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &[&SMALL_SET[..], &["--steps", "1"]].concat()).success();
    train(&run, &[&SMALL_SET[..], &["--steps", "1"]].concat()).failure().stderr(contains("already holds a run"));
    // Claim the run was made with more pose bins: its checkpoint no longer fits.
    let path = run.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["model"]["pose_bins"]["yaws"] = serde_json::json!([-90.0, -60.0, -45.0, -30.0, -15.0, 0.0, 15.0, 30.0, 45.0, 60.0, 90.0]);
    std::fs::write(&path, config.to_string()).unwrap();
    resume(&run, Some("2"))
        .failure()
        .stderr(contains("cannot be loaded into this model"));
}

#[test]
fn a_damaged_newest_checkpoint_is_passed_over_for_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &[&SMALL_SET[..], &["--steps", "4", "--checkpoint-every", "2"]].concat()).success();
    std::fs::write(run.join("checkpoints/step-00000004/generator.bpk"), b"half a file").unwrap();
    resume(&run, Some("5"))
        .success()
        .stdout(contains("passed over"))
        .stdout(contains("resuming"));
    let steps: Vec<u64> = metrics(&run).iter().map(|m| m["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![1, 2, 3, 4, 5], "steps 3 and 4 were trained again from the step-2 checkpoint");
}

#[test]
fn a_diverging_run_stops_naming_the_step_and_keeps_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &[&SMALL_SET[..], &["--steps", "2", "--checkpoint-every", "2"]].concat()).success();
    // Continue with an absurd learning rate: the weights blow up within a few steps.
    let path = run.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["training"]["learning_rate"] = serde_json::json!(1e30);
    config["training"]["checkpoint_every"] = serde_json::json!(100);
    std::fs::write(&path, config.to_string()).unwrap();
    resume(&run, Some("30"))
        .failure()
        .stderr(contains("non-finite at step"));
    assert!(run.join("checkpoints/step-00000002/state.json").is_file(), "the last good checkpoint stays");
}

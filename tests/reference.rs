//! Weights others can read (issue 40): the reference loader (`python/drgan_reference.py`)
//! rebuilds every kind of model from the exported file's metadata alone and draws what
//! `rotate` draws, and a model it saves comes back through `import`.
//!
//! CI checks the forward pass with numpy (`python/check_golden.py`); PyTorch is not installed
//! there. The PyTorch loader's own round trip is opt-in: `TORCH_PY=/path/to/python-with-torch
//! cargo test --release --test reference -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_drgan-studio"))
}

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// Runs the binary; panics with its output when it fails.
fn studio(args: &[&str]) -> String {
    let output = Command::new(binary())
        .args(args)
        .output()
        .expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "drgan-studio {args:?} failed:\n{text}"
    );
    text
}

/// Runs a Python script with `python`; returns its output and whether it succeeded.
fn python(python: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(python)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{python} does not run ({e}); .ci/run installs numpy and Pillow for python3")
        });
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// Runs `python/check_golden.py` on the golden vectors in `folder` with `python_exe` (numpy, or the
/// PyTorch loader with `--torch`): whether the faces agree, and what it printed.
fn check_golden(python_exe: &str, folder: &Path, torch: bool) -> (bool, String) {
    let script = python_dir().join("check_golden.py").display().to_string();
    let folder = folder.display().to_string();
    let mut args = vec![script.as_str(), folder.as_str()];
    if torch {
        args.push("--torch");
    }
    python(python_exe, &args)
}

/// Imports the safetensors file `from` as the run `dir/NAME-run` and exports that run's golden
/// vectors to `dir/golden-NAME`: what `import` said, and the vectors' folder.
fn import_and_export_golden(dir: &Path, from: &Path, name: &str) -> (String, PathBuf) {
    let run = dir.join(format!("{name}-run"));
    let said = studio(&["import", "--from", &from.display().to_string(), "--run", &run.display().to_string()]);
    let golden = dir.join(format!("golden-{name}"));
    studio(&["export", "--run", &run.display().to_string(), "--golden", &golden.display().to_string()]);
    (said, golden)
}

/// A `tiny` model trained two steps with `extra` settings, exported with golden vectors.
fn golden(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let run = dir.join(format!("run-{name}"));
    let mut args = vec![
        "train",
        "--synthetic",
        "4",
        "--lights",
        "1",
        "--preset",
        "tiny",
        "--batch",
        "4",
        "--steps",
        "2",
        "--checkpoint-every",
        "2",
        "--device",
        "cpu",
        "--out",
    ];
    let run_text = run.display().to_string();
    args.push(&run_text);
    args.extend_from_slice(extra);
    studio(&args);
    let golden = dir.join(format!("golden-{name}"));
    studio(&[
        "export",
        "--run",
        &run_text,
        "--golden",
        &golden.display().to_string(),
    ]);
    golden
}

#[test]
fn the_reference_loader_draws_what_rotate_draws_for_every_kind_of_model() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let kinds: [(&str, &[&str]); 4] = [
        ("paper", &["--recipe", "paper"]),
        ("studio", &["--recipe", "studio"]),
        (
            "multi-image",
            &["--recipe", "studio", "--multi", "--images-per-id", "2"],
        ),
        (
            "every-option",
            &[
                "--recipe",
                "studio",
                "--pose-maps",
                "true",
                "--patch-critic",
                "true",
                "--pose-projection",
                "true",
                "--pose-fake-class",
                "true",
            ],
        ),
    ];
    for (name, extra) in kinds {
        let golden = golden(dir.path(), name, extra);
        let (ok, text) = check_golden("python3", &golden, false);
        println!("{name}:\n{text}");
        assert!(
            ok,
            "{name}: the reference forward pass failed or differs from rotate's:\n{text}"
        );
    }
}

#[test]
fn a_model_saved_by_the_reference_writer_imports_and_draws_its_own_faces() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let golden = golden(dir.path(), "source", &["--recipe", "studio"]);
    // The reference module's writer, numpy only: every weight of the output layer moved, the
    // file's metadata (the run's configuration among it) kept.
    let changed = dir.path().join("changed.safetensors");
    let script = format!(
        "import sys; sys.path.insert(0, {python:?}); import drgan_reference as ref\n\
         t, m = ref.read_safetensors({source:?})\n\
         t['Gdec.FConv11.conv.bias'] = t['Gdec.FConv11.conv.bias'] + 0.25\n\
         ref.write_safetensors({target:?}, t, m)\n",
        python = python_dir().display().to_string(),
        source = golden.join("model.safetensors").display().to_string(),
        target = changed.display().to_string()
    );
    let (ok, text) = python("python3", &["-c", &script]);
    assert!(ok, "{text}");
    let (said, again) = import_and_export_golden(dir.path(), &changed, "imported");
    assert!(said.contains("made the run"), "{said}");
    let (ok, text) = check_golden("python3", &again, false);
    assert!(
        ok,
        "the imported model's faces are the reference writer's:\n{text}"
    );
    let read = |folder: &Path| std::fs::read(folder.join("outputs.npy")).expect("outputs");
    assert_ne!(
        read(&golden),
        read(&again),
        "the changed weights draw other faces"
    );
}

#[test]
#[ignore = "needs PyTorch: TORCH_PY=python-with-torch"]
fn a_model_fine_tuned_in_pytorch_comes_back_into_the_studio() {
    let torch = std::env::var("TORCH_PY").expect("TORCH_PY names a Python with torch");
    let dir = tempfile::tempdir().expect("a temp dir");
    let golden = golden(dir.path(), "source", &["--recipe", "studio"]);
    let (ok, text) = check_golden(&torch, &golden, true);
    println!("PyTorch loader:\n{text}");
    assert!(ok, "{text}");
    let tuned = dir.path().join("tuned.safetensors");
    let (ok, text) = python(
        &torch,
        &[
            &python_dir()
                .join("fine_tune_example.py")
                .display()
                .to_string(),
            &golden.join("model.safetensors").display().to_string(),
            &golden.join("input.png").display().to_string(),
            &tuned.display().to_string(),
            "20",
        ],
    );
    println!("{text}");
    assert!(ok, "{text}");
    let (_, again) = import_and_export_golden(dir.path(), &tuned, "tuned");
    let (ok, text) = check_golden(&torch, &again, true);
    println!("the tuned model, back from the studio:\n{text}");
    assert!(ok, "{text}");
}

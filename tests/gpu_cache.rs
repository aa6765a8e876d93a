//! `gpu-cache`: what a GPU measured on one machine reaches an empty cache on another as a bundle.
//! On a wgpu adapter (Mesa's lavapipe in CI); a machine without any Vulkan driver skips it.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::{Device, Tensor};
use drgan_studio::device::{DeviceChoice, choose, keep_gpu_tuning};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_drgan-studio"))
}

/// `gpu-cache ARGS…` with `cache` as the studio's cache folder: its standard output.
fn gpu_cache(cache: &Path, args: &[&str]) -> String {
    let output = Command::new(binary()).env("DRGAN_STUDIO_CACHE", cache).arg("gpu-cache").args(args).output().expect("the binary runs");
    assert!(output.status.success(), "gpu-cache {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_bundle_brings_the_tuning_results_to_an_empty_cache_once() {
    let dir = tempfile::tempdir().unwrap();
    let (here, there) = (dir.path().join("here"), dir.path().join("there"));
    // SAFETY: the only test of this binary, and nothing else runs yet.
    unsafe { std::env::set_var("DRGAN_STUDIO_CACHE", &here) };
    keep_gpu_tuning();
    let Ok(gpu) = choose(DeviceChoice::Gpu) else {
        eprintln!("no wgpu adapter: nothing was tuned, so there is nothing to carry");
        return;
    };
    // burn times its matrix-product kernels on a shape it meets first, and keeps the result.
    let tuned = |device: &Device| Tensor::<2>::ones([48, 40], device).matmul(Tensor::<2>::ones([40, 24], device)).into_data();
    assert_eq!(tuned(&gpu.device).try_to_vec::<f32>().ok(), Some(vec![40.0; 48 * 24]));
    gpu.device.sync().expect("the GPU finishes");

    let bundle = dir.path().join("card.bundle");
    let written = gpu_cache(&here, &["export", bundle.to_str().unwrap(), "--name", "test card"]);
    assert!(written.contains("\"test card\"") && written.contains("matmul"), "{written}");
    let first = gpu_cache(&there, &["import", bundle.to_str().unwrap()]);
    let added: usize = first.split(": ").nth(1).and_then(|rest| rest.split(' ').next()).and_then(|n| n.parse().ok()).expect("a count");
    assert!(added > 0, "{first}");
    let again = gpu_cache(&there, &["import", bundle.to_str().unwrap()]);
    assert!(again.contains(&format!(": 0 entries added to {}, {added} already there", there.join("gpu-tuning").display())), "{again}");

    // A bundle of another cubecl version (its manifest edited with Python's sqlite3): refused.
    let other = dir.path().join("other-version.bundle");
    std::fs::copy(&bundle, &other).unwrap();
    let edit = r#"import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("""update meta set v = replace(v, '"cubecl_version": "0.11.3"', '"cubecl_version": "0.10.0"') where k = 'manifest'"""); c.commit()"#;
    match Command::new("python3").args(["-c", edit]).arg(&other).status() {
        Ok(status) if status.success() => {
            let refused = Command::new(binary()).env("DRGAN_STUDIO_CACHE", dir.path().join("elsewhere")).args(["gpu-cache", "import"]).arg(&other).output().unwrap();
            assert!(!refused.status.success());
            let said = String::from_utf8_lossy(&refused.stderr);
            assert!(said.contains("was made with cubecl 0.10.0") && said.contains("would never read its entries"), "{said}");
        }
        _ => eprintln!("no python3 with sqlite3: the other-version bundle was not checked"),
    }

    // A cache folder that cannot be made (a file where it would go): refused, not kept in memory.
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, "not a folder").unwrap();
    let refused = Command::new(binary()).env("DRGAN_STUDIO_CACHE", &blocked).args(["gpu-cache", "import"]).arg(&bundle).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot be made"), "{}", String::from_utf8_lossy(&refused.stderr));
}

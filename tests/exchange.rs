//! `export` and `import`: the shipped model's G and D as safetensors, read back with the
//! `safetensors` crate (names of the SPEC table, PyTorch layouts, the same values), and a run
//! made from the file that draws exactly the same faces.

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;
use burn::prelude::*;
use burn::store::ModuleSnapshot;
use drgan_studio::model::exchange::{DECODER_LAYERS, ENCODER_LAYERS, Exported, Networks, spec_name};
use drgan_studio::model::rotator::pose_code;
use drgan_studio::model::{ModelConfig, Preset};
use drgan_studio::synth::SynthSpec;
use drgan_studio::train::RunDir;
use drgan_studio::train::run::{load_generator, load_networks};

const RUN: &str = "assets/default-run";

fn studio() -> Command {
    Command::cargo_bin("drgan-studio").expect("the binary is built")
}

fn export(out: &Path) {
    studio().args(["export", "--run", RUN, "--out"]).arg(out).assert().success();
}

/// Every tensor of `networks` by burn's path: shape and values.
fn tensors(networks: &Networks) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    networks
        .collect(None, None, true)
        .into_iter()
        .map(|tensor| {
            let bytes = tensor.to_bytes().expect("a tensor's bytes");
            (tensor.name.clone(), (tensor.shape.to_vec(), floats(&bytes)))
        })
        .collect()
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn transposed(values: &[f32], [rows, columns]: [usize; 2]) -> Vec<f32> {
    (0..columns).flat_map(|c| (0..rows).map(move |r| values[r * columns + c])).collect()
}

#[test]
fn export_names_every_tensor_by_the_spec_table_in_pytorch_layout() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shipped.safetensors");
    export(&file);
    assert!(dir.path().join("shipped.config.json").is_file(), "the configuration is written beside the file, named after it");

    let bytes = std::fs::read(&file).unwrap();
    let read = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors file");
    let device = Device::flex();
    let loaded = load_networks(&RunDir::new(RUN), None, &device).unwrap();
    let (config, networks) = (loaded.config, loaded.value);
    let model = tensors(&networks);
    assert_eq!(read.len(), model.len(), "one tensor in the file for each tensor of G and D");

    for layer in ENCODER_LAYERS {
        for net in ["Genc", "D"] {
            for suffix in ["conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"] {
                read.tensor(&format!("{net}.{layer}.{suffix}")).unwrap_or_else(|_| panic!("{net}.{layer}.{suffix} is missing"));
            }
        }
    }
    for layer in DECODER_LAYERS {
        read.tensor(&format!("Gdec.{layer}.conv.weight")).unwrap_or_else(|_| panic!("Gdec.{layer} is missing"));
    }
    let widths = config.model.encoder_widths();
    assert_eq!(read.tensor("Genc.Conv11.conv.weight").unwrap().shape(), [widths[0], 3, 3, 3]);
    assert_eq!(read.tensor("Gdec.FConv11.conv.weight").unwrap().shape()[..2], [3, *config.model.decoder_widths().last().unwrap()]);
    let d_outputs = config.model.identities + 1 + config.model.num_poses() + usize::from(config.model.pose_fake_class);
    assert_eq!(read.tensor("D.FC.weight").unwrap().shape(), [d_outputs, config.model.feature_dim()], "Linear weights are [out, in]");

    for (path, (shape, values)) in &model {
        let name = spec_name(path).unwrap_or_else(|| panic!("{path} has no SPEC name"));
        let name = name.replace(".bn.gamma", ".bn.weight").replace(".bn.beta", ".bn.bias");
        let tensor = read.tensor(&name).unwrap_or_else(|_| panic!("{name} (from {path}) is missing"));
        let stored = floats(tensor.data());
        let linear = path.ends_with("fc.weight") || path.ends_with("head.weight");
        let (expected_shape, expected) = if linear { (vec![shape[1], shape[0]], transposed(values, [shape[0], shape[1]])) } else { (shape.clone(), values.clone()) };
        assert_eq!(tensor.shape(), expected_shape.as_slice(), "{name}");
        assert_eq!(stored, expected, "{name}: values");
    }
}

#[test]
fn an_imported_run_draws_the_same_faces_and_trains_on() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shipped.safetensors");
    export(&file);
    let imported = dir.path().join("imported");
    studio().args(["import", "--from"]).arg(&file).arg("--run").arg(&imported).assert().success();

    let device = Device::flex();
    let original = load_generator(&RunDir::new(RUN), None, &device).unwrap().value;
    let copy = load_generator(&RunDir::new(&imported), None, &device).unwrap().value;
    assert_eq!(copy.step, original.step, "the step travels in the file's metadata");
    let face = SynthSpec { identities: 3, seed: 41, lights: 1 }.render(2, 30.0, 0, original.image_size() as u32);
    let codes: Vec<Vec<f32>> = original.pose_bins().yaws.iter().map(|&yaw| pose_code(yaw, original.pose_bins())).collect();
    assert_eq!(copy.rotate(&face, &codes, 3).unwrap(), original.rotate(&face, &codes, 3).unwrap(), "the same faces at every pose");
    let networks = load_networks(&RunDir::new(&imported), None, &device).unwrap().value;
    let shipped = load_networks(&RunDir::new(RUN), None, &device).unwrap().value;
    assert_eq!(tensors(&networks), tensors(&shipped), "D (and G) identical, BatchNorm statistics included");

    studio().args(["import", "--from"]).arg(&file).arg("--run").arg(&imported).assert().failure().stderr(predicates::str::contains("already holds a run"));

    let next = (original.step + 1).to_string();
    studio().args(["train", "--resume", "--device", "cpu", "--steps", &next, "--out"]).arg(&imported).assert().success();
    assert_eq!(RunDir::new(&imported).checkpoints().last().copied(), Some(original.step + 1), "the imported run trains on from its step");
}

#[test]
fn a_file_of_another_configuration_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shipped.safetensors");
    export(&file);
    let tiny = ModelConfig::new(Preset::Tiny, 10);
    let error = Exported::read(&file).unwrap().networks(&tiny, &Device::flex()).err().expect("a small model's weights do not fit a tiny one").to_string();
    assert!(error.contains("do not fit"), "{error}");

    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("shipped.config.json")).unwrap()).unwrap();
    config["model"]["preset"] = "tiny".into();
    let other = dir.path().join("other.json");
    std::fs::write(&other, config.to_string()).unwrap();
    studio()
        .args(["import", "--from"])
        .arg(&file)
        .arg("--config")
        .arg(&other)
        .arg("--run")
        .arg(dir.path().join("refused"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("was exported from a"));
    assert!(!dir.path().join("refused").join("config.json").exists(), "nothing is made from a refused file");
}

#[test]
fn export_never_overwrites_another_runs_config() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = "{\"another\": \"run\"}";
    std::fs::write(dir.path().join("shipped.config.json"), theirs).unwrap();
    studio()
        .args(["export", "--run", RUN, "--out"])
        .arg(dir.path().join("shipped.safetensors"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("already holds another run's configuration"));
    assert_eq!(std::fs::read_to_string(dir.path().join("shipped.config.json")).unwrap(), theirs, "their configuration is untouched");
    assert!(!dir.path().join("shipped.safetensors").exists(), "nothing is written beside it");
    // The same run's configuration is no obstacle: the same file can be exported again.
    export(&dir.path().join("again").join("a.safetensors"));
    export(&dir.path().join("again").join("a.safetensors"));
}

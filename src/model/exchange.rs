//! Weights others can read: G and D in one safetensors file, each tensor named by its layer in
//! the SPEC table and laid out as PyTorch lays it out, so a port in another framework can load
//! them without this project's code.
//!
//! ```text
//! Genc.Conv11.conv.weight  [32, 3, 3, 3]     Genc.Conv11.bn.{weight,bias,running_mean,running_var}
//! …                                          Genc.Omega.{weight,bias}   (multi-image models)
//! Gdec.FC.weight           [11520, 379]      Gdec.FC.bn.…
//! Gdec.FConv52.conv.weight [160, 320, 3, 3]  … Gdec.FConv12 …, Gdec.FConv11.conv.weight (tanh)
//! D.Conv11.conv.weight …   D.FC.weight       [Nd + 1 + Np, 320]
//! ```
//!
//! Linear weights are `[out, in]` and BatchNorm's scale and shift are `weight` and `bias`
//! (PyTorch's names), where burn keeps `[in, out]`, `gamma` and `beta`; burn-store's PyTorch
//! adapters convert both ways. A stride-2 decoder layer is a transposed convolution
//! (`[in, out, 3, 3]`) or, in models with resize upsampling, a convolution after a 2× nearest
//! resize (`[out, in, 3, 3]`); the run's `config.json`, written beside the file, says which.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use burn::prelude::*;
use burn::store::{BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};

use super::{Discriminator, Generator, ModelConfig};

/// The SPEC table's names of Conv11 … Conv53, in the encoder's order.
pub const ENCODER_LAYERS: [&str; 14] =
    ["Conv11", "Conv12", "Conv21", "Conv22", "Conv23", "Conv31", "Conv32", "Conv33", "Conv41", "Conv42", "Conv43", "Conv51", "Conv52", "Conv53"];

/// The SPEC table's names of the decoder's BatchNorm + ELU layers, FConv52 … FConv12, in order.
pub const DECODER_LAYERS: [&str; 13] =
    ["FConv52", "FConv51", "FConv43", "FConv42", "FConv41", "FConv33", "FConv32", "FConv31", "FConv23", "FConv22", "FConv21", "FConv13", "FConv12"];

/// Metadata key holding the model's configuration (JSON) inside an exported file.
pub const CONFIG_KEY: &str = "drgan.model";
/// Metadata key holding the training step of the exported weights.
pub const STEP_KEY: &str = "drgan.step";

/// The largest header [`read_metadata`] reads (safetensors' own limit is 100 MB).
const MAX_HEADER: u64 = 100 << 20;

/// G and D together: the two networks of one checkpoint.
#[derive(Module, Debug)]
pub struct Networks {
    /// The generator.
    pub generator: Generator,
    /// The discriminator.
    pub discriminator: Discriminator,
}

/// Pairs of (burn's module path prefix, the SPEC table's name prefix).
fn prefixes() -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut block = |burn: String, spec: String| {
        pairs.push((format!("{burn}.conv."), format!("{spec}.conv.")));
        pairs.push((format!("{burn}.norm."), format!("{spec}.bn.")));
    };
    for (index, name) in ENCODER_LAYERS.iter().enumerate() {
        block(format!("generator.encoder.layers.{index}"), format!("Genc.{name}"));
        block(format!("discriminator.encoder.layers.{index}"), format!("D.{name}"));
    }
    for (index, name) in DECODER_LAYERS.iter().enumerate() {
        block(format!("generator.decoder.layers.{index}"), format!("Gdec.{name}"));
    }
    pairs.extend(
        [
            ("generator.confidence.", "Genc.Omega."),
            ("generator.decoder.fc.", "Gdec.FC."),
            ("generator.decoder.fc_norm.", "Gdec.FC.bn."),
            ("generator.decoder.output.", "Gdec.FConv11.conv."),
            ("discriminator.head.", "D.FC."),
            ("discriminator.projection.", "D.PoseProjection."),
        ]
        .map(|(burn, spec)| (burn.to_owned(), spec.to_owned())),
    );
    pairs
}

/// A remapper that rewrites a name starting with the first prefix of a pair into the second.
/// burn-store tries every pattern on every name in turn, each on the result of the last; the
/// longest prefixes go first (`Gdec.FC.bn.` before `Gdec.FC.`), and a rewritten name starts
/// with none of the first prefixes, so each name is rewritten once, by its longest match.
fn remapper(pairs: impl Iterator<Item = (String, String)>) -> anyhow::Result<KeyRemapper> {
    let mut pairs: Vec<(String, String)> = pairs.collect();
    pairs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    let anchored = pairs.into_iter().map(|(from, to)| (format!("^{}", from.replace('.', r"\.")), to));
    Ok(KeyRemapper::from_patterns(anchored.collect())?)
}

/// The SPEC-table name of the tensor at `path` in a [`Networks`] (as burn names it, without
/// enum variants: `generator.encoder.layers.0.norm.gamma` → `Genc.Conv11.bn.gamma`).
pub fn spec_name(path: &str) -> Option<String> {
    prefixes().into_iter().find_map(|(burn, spec)| path.strip_prefix(&burn).map(|rest| format!("{spec}{rest}")))
}

/// `networks` (a model of `config`, trained `step` steps) as the bytes of a safetensors file,
/// with the configuration and step in its metadata.
pub fn to_safetensors(networks: &Networks, config: &ModelConfig, step: u64) -> anyhow::Result<Vec<u8>> {
    let mut store = SafetensorsStore::from_bytes(None)
        .skip_enum_variants(true)
        .with_to_adapter(BurnToPyTorchAdapter)
        .remap(remapper(prefixes().into_iter())?)
        .metadata(CONFIG_KEY, serde_json::to_string(config)?)
        .metadata(STEP_KEY, step.to_string());
    networks.save_into(&mut store).map_err(|e| anyhow::anyhow!("writing the weights as safetensors: {e}"))?;
    store.get_bytes().map_err(|e| anyhow::anyhow!("writing the weights as safetensors: {e}"))
}

/// The step recorded in an exported file's metadata, and its model configuration.
pub fn read_metadata(path: &Path) -> anyhow::Result<(Option<u64>, Option<ModelConfig>)> {
    let not_safetensors = |why: String| anyhow::anyhow!("{} is not a safetensors file: {why}", path.display());
    let mut file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    // The header only: its length (8 bytes, little-endian), then that much JSON.
    let mut length = [0u8; 8];
    file.read_exact(&mut length).map_err(|e| not_safetensors(e.to_string()))?;
    let length = u64::from_le_bytes(length);
    anyhow::ensure!(length <= MAX_HEADER, not_safetensors(format!("its header claims {length} bytes")));
    let mut header = vec![0u8; length as usize];
    file.read_exact(&mut header).map_err(|e| not_safetensors(e.to_string()))?;
    let header: serde_json::Value = serde_json::from_slice(&header).map_err(|e| not_safetensors(e.to_string()))?;
    let fields: HashMap<String, String> = serde_json::from_value(header["__metadata__"].clone()).unwrap_or_default();
    let step = fields.get(STEP_KEY).and_then(|s| s.parse().ok());
    let config = fields.get(CONFIG_KEY).and_then(|s| serde_json::from_str(s).ok());
    Ok((step, config))
}

/// Reads G and D of a `config` model from an exported file. Every tensor of both networks must
/// be there with its shape; a file of another configuration is refused with what differs.
pub fn read_safetensors(path: &Path, config: &ModelConfig, device: &Device) -> anyhow::Result<Networks> {
    let mut networks = Networks { generator: Generator::new(config, device), discriminator: Discriminator::new(config, device) };
    let inverse = prefixes().into_iter().map(|(burn, spec)| (spec, burn));
    let mut store = SafetensorsStore::from_file(path).skip_enum_variants(true).with_from_adapter(PyTorchToBurnAdapter).remap(remapper(inverse)?);
    let result = networks.load_from(&mut store).map_err(|e| {
        anyhow::anyhow!("the weights in {} do not fit a {} model: {e}", path.display(), config.summary())
    })?;
    anyhow::ensure!(
        result.unused.is_empty(),
        "{} holds tensors a {} model does not have: {}",
        path.display(),
        config.summary(),
        result.unused.join(", ")
    );
    super::finite::check_finite(&networks.generator, &format!("generator in {}", path.display()))?;
    super::finite::check_finite(&networks.discriminator, &format!("discriminator in {}", path.display()))?;
    Ok(networks)
}

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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;
use burn::prelude::*;
use burn::store::{BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::{Discriminator, Generator, ModelConfig};
use crate::data::faceset::clip;

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
/// Metadata key holding what a port needs to rebuild the networks ([`super::architecture`]).
pub const ARCHITECTURE_KEY: &str = "drgan.architecture";
/// Metadata key holding the whole run configuration (`config.json`), so that `import` needs no
/// file beside the weights.
pub const RUN_KEY: &str = "drgan.run";

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
            ("discriminator.patch.", "D.Patch."),
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
/// with the configuration, the step and the `extra` fields in its metadata.
pub fn to_safetensors(
    networks: &Networks,
    config: &ModelConfig,
    step: u64,
    extra: &[(&str, String)],
) -> anyhow::Result<Vec<u8>> {
    let mut store = SafetensorsStore::from_bytes(None)
        .skip_enum_variants(true)
        .with_to_adapter(BurnToPyTorchAdapter)
        .remap(remapper(prefixes().into_iter())?)
        .metadata(CONFIG_KEY, serde_json::to_string(config)?)
        .metadata(STEP_KEY, step.to_string());
    for (key, value) in extra {
        store = store.metadata(*key, value.clone());
    }
    networks
        .save_into(&mut store)
        .map_err(|e| anyhow::anyhow!("writing the weights as safetensors: {e}"))?;
    store
        .get_bytes()
        .map_err(|e| anyhow::anyhow!("writing the weights as safetensors: {e}"))
}

/// The most characters of a reason or a name a refusal of an imported file quotes.
const QUOTED_CHARS: usize = 200;

/// Names a refusal lists before it says "…".
const LISTED_NAMES: usize = 3;

/// The dtypes `import` converts to F32 (others are refused, naming the dtype).
const READABLE: [Dtype; 4] = [Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::F64];

/// A safetensors file read whole (G and D, as `export` writes them or as PyTorch does), for
/// `import`.
pub struct Exported {
    path: PathBuf,
    bytes: Vec<u8>,
}

/// G and D read from an [`Exported`] file, and what was converted on the way (for people).
pub struct Imported {
    /// The networks.
    pub networks: Networks,
    /// E.g. `converted 172 F16 tensors to F32`.
    pub notes: Vec<String>,
}

impl Exported {
    /// Reads the file at `path`, which must be a regular file: a FIFO or a device would block
    /// or never end.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let kind = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        anyhow::ensure!(kind.is_file(), "{} is not a regular file; name a .safetensors file", path.display());
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Ok(Self { path: path.to_owned(), bytes })
    }

    /// The file's tensors, its header checked (offsets, shapes, sizes) by the safetensors crate.
    fn tensors(&self) -> anyhow::Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.bytes).map_err(|e| anyhow::anyhow!("{} is not a safetensors file: {}", self.path.display(), clip(&e.to_string(), QUOTED_CHARS)))
    }

    /// The step recorded in the file's metadata, and its model configuration (each `None` when
    /// absent or unreadable).
    pub fn metadata(&self) -> anyhow::Result<(Option<u64>, Option<ModelConfig>)> {
        let fields = self.fields()?;
        let step = fields.get(STEP_KEY).and_then(|s| s.parse().ok());
        let config = fields
            .get(CONFIG_KEY)
            .and_then(|s| serde_json::from_str(s).ok());
        Ok((step, config))
    }

    /// The metadata field `key`, when the file has it.
    pub fn field(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(self.fields()?.get(key).cloned())
    }

    fn fields(&self) -> anyhow::Result<std::collections::HashMap<String, String>> {
        let (_, header) = SafeTensors::read_metadata(&self.bytes).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a safetensors file: {}",
                self.path.display(),
                clip(&e.to_string(), QUOTED_CHARS)
            )
        })?;
        Ok(header.metadata().clone().unwrap_or_default())
    }

    /// G and D of a `config` model. Every tensor of both networks must be there with its shape
    /// (PyTorch's `*.num_batches_tracked` counters are dropped), as F32, or as F16, BF16 or F64,
    /// converted; a file that does not fit is refused in one line that says what differs.
    pub fn networks(&self, config: &ModelConfig, device: &Device) -> anyhow::Result<Imported> {
        let file = self.tensors()?;
        let mut networks = Networks { generator: Generator::new(config, device), discriminator: Discriminator::new(config, device) };
        // What `export` writes for this configuration: every name and shape an import needs.
        let template = to_safetensors(&networks, config, 0, &[])?;
        let expected = SafeTensors::deserialize(&template)
            .map_err(|e| anyhow::anyhow!("reading back the expected tensors: {e}"))?;
        let given: BTreeMap<String, TensorView> = file
            .tensors()
            .into_iter()
            .filter(|(name, _)| !name.ends_with(".num_batches_tracked"))
            .collect();
        self.check_fit(&expected, &given, config)?;
        let (tensors, notes) = self.as_f32(&given)?;
        let views = tensors.iter().map(|(name, shape, data)| TensorView::new(Dtype::F32, shape.clone(), data).map(|view| (name.as_str(), view)));
        let views: Vec<(&str, TensorView)> = views.collect::<Result<_, _>>().map_err(|e| anyhow::anyhow!("converting the weights of {}: {e}", self.path.display()))?;
        let bytes = safetensors::serialize(views, None).map_err(|e| anyhow::anyhow!("converting the weights of {}: {e}", self.path.display()))?;
        let inverse = prefixes().into_iter().map(|(burn, spec)| (spec, burn));
        let mut store = SafetensorsStore::from_bytes(Some(bytes)).skip_enum_variants(true).with_from_adapter(PyTorchToBurnAdapter).remap(remapper(inverse)?);
        let unfit = |why: String| anyhow::anyhow!("the weights in {} do not fit a {} model: {}", self.path.display(), config.summary(), clip(&why, QUOTED_CHARS));
        let result = networks.load_from(&mut store).map_err(|e| unfit(e.to_string()))?;
        anyhow::ensure!(result.unused.is_empty(), unfit(format!("it holds tensors the model does not have: {}", listed(&result.unused))));
        super::finite::check_finite(&networks.generator, &format!("generator in {}", self.path.display()))?;
        super::finite::check_finite(&networks.discriminator, &format!("discriminator in {}", self.path.display()))?;
        Ok(Imported { networks, notes })
    }

    /// Refuses a file whose tensor names or shapes are not those `expected`, saying what
    /// differs in a few names and counts.
    fn check_fit(&self, expected: &SafeTensors, given: &BTreeMap<String, TensorView>, config: &ModelConfig) -> anyhow::Result<()> {
        let mut missing = Vec::new();
        let mut misshapen = Vec::new();
        for (name, view) in expected.tensors() {
            match given.get(&name) {
                None => missing.push(name),
                Some(theirs) if theirs.shape() != view.shape() => misshapen.push(format!("{name} is {:?}, the model's {:?}", theirs.shape(), view.shape())),
                Some(_) => {}
            }
        }
        let extra: Vec<String> = given.keys().filter(|name| expected.tensor(name).is_err()).cloned().collect();
        let mut differences = Vec::new();
        for (list, what) in [(&missing, "missing"), (&extra, "that the model does not have"), (&misshapen, "of another shape")] {
            if !list.is_empty() {
                differences.push(format!("{} {} {what} ({})", list.len(), if list.len() == 1 { "tensor" } else { "tensors" }, listed(list)));
            }
        }
        anyhow::ensure!(
            differences.is_empty(),
            "the weights in {} do not fit a {} model: {}; export them from a run of that model, or name that run's configuration with --config",
            self.path.display(),
            config.summary(),
            differences.join("; ")
        );
        Ok(())
    }

    /// Each tensor's shape and little-endian F32 bytes, converted from F16, BF16 or F64 where
    /// need be, with a note per converted dtype; any other dtype is refused, naming it.
    #[allow(clippy::type_complexity)]
    fn as_f32(&self, given: &BTreeMap<String, TensorView>) -> anyhow::Result<(Vec<(String, Vec<usize>, Vec<u8>)>, Vec<String>)> {
        let unreadable: Vec<(&String, Dtype)> = given.iter().map(|(name, view)| (name, view.dtype())).filter(|(_, dtype)| !READABLE.contains(dtype)).collect();
        if let Some((name, dtype)) = unreadable.first() {
            bail!(
                "{}: tensor {} is {dtype:?} ({} of {} tensors are of types import cannot read); import reads F32, F16, BF16 and F64",
                self.path.display(),
                clip(name, QUOTED_CHARS),
                unreadable.len(),
                given.len()
            );
        }
        let mut converted: BTreeMap<String, usize> = BTreeMap::new();
        let tensors = given
            .iter()
            .map(|(name, view)| {
                if view.dtype() != Dtype::F32 {
                    *converted.entry(format!("{:?}", view.dtype())).or_default() += 1;
                }
                (name.clone(), view.shape().to_vec(), f32_bytes(view))
            })
            .collect();
        let notes = converted.into_iter().map(|(dtype, count)| format!("converted {count} {dtype} {} to F32", if count == 1 { "tensor" } else { "tensors" })).collect();
        Ok((tensors, notes))
    }
}

/// The values of a F32, F16, BF16 or F64 tensor as little-endian F32 bytes (F64 values beyond
/// F32's range become infinite, which the finiteness check then refuses).
fn f32_bytes(view: &TensorView) -> Vec<u8> {
    let data = view.data();
    let values: Vec<f32> = match view.dtype() {
        Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::F64 => data.chunks_exact(8).map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32).collect(),
        _ => return data.to_vec(),
    };
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The first few of `names`, each clipped, then "…" when there are more.
fn listed(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(LISTED_NAMES).map(|name| clip(name, QUOTED_CHARS)).collect();
    let more = if names.len() > LISTED_NAMES { ", …" } else { "" };
    format!("{}{more}", shown.join(", "))
}

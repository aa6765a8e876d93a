//! What a port needs to rebuild the networks from an exported file alone, written into its
//! metadata (`drgan.architecture`, format [`FORMAT`]): every layer in order with its kind and
//! channels, the decoder's input order and first block, BatchNorm's eps and momentum, the
//! activation, how an input is prepared, how an output becomes pixels, how the noise `z` is
//! drawn and what the pose code is. `python/drgan_reference.py` builds G and D from it.

use serde_json::{Value, json};

use super::config::{DECODER_STRIDES, ENCODER_STRIDES, ModelConfig, Upsample};
use super::discriminator::EARLY_LAYERS;
use super::exchange::{DECODER_LAYERS, ENCODER_LAYERS};
use super::loss::DHead;

/// The version of the description's layout.
pub const FORMAT: u32 = 1;
/// BatchNorm's epsilon (burn's default, as PyTorch's).
pub const BATCHNORM_EPS: f64 = 1e-5;
/// BatchNorm's momentum for the running statistics (burn's default, as PyTorch's).
pub const BATCHNORM_MOMENTUM: f64 = 0.1;

/// The description of a `config` model whose D reads its head as `head`.
pub fn describe(config: &ModelConfig, head: DHead) -> Value {
    let poses = config.num_poses();
    let mut channels = 3;
    let encoder: Vec<Value> = ENCODER_LAYERS
        .iter()
        .zip(config.encoder_widths())
        .zip(ENCODER_STRIDES)
        .map(|((name, out), stride)| {
            let layer = json!({ "name": name, "kind": "conv", "in": channels, "out": out, "stride": stride });
            channels = out;
            layer
        })
        .collect();
    let feature = config.feature_dim();
    let (base, side) = (config.decoder_base_channels(), config.base_size());
    let mut channels = base;
    let decoder: Vec<Value> = DECODER_LAYERS
        .iter()
        .zip(config.decoder_widths())
        .zip(DECODER_STRIDES)
        .map(|((name, out), stride)| {
            let upsamples = stride == 2;
            let kind = match (upsamples, config.upsample) {
                (false, _) => "conv",
                (true, Upsample::Transposed) => "transposed",
                (true, Upsample::Resize) => "resize",
            };
            let pose_maps = upsamples && config.pose_maps;
            let inputs = channels + if pose_maps { poses } else { 0 };
            let layer = json!({ "name": name, "kind": kind, "in": inputs, "out": out, "stride": if upsamples { 1 } else { stride }, "pose_maps": pose_maps });
            channels = out;
            layer
        })
        .collect();
    let d_outputs = config.identities + 1 + poses + usize::from(config.pose_fake_class);
    json!({
        "format": FORMAT,
        "preset": config.preset.name(),
        "image_size": config.image_size(),
        "identities": config.identities,
        "pose_yaws": config.pose_bins.yaws,
        "noise_dim": config.noise_dim,
        "feature_dim": feature,
        "block": {
            "conv": "3×3, padding 1, with bias; stride 2 halves the side",
            "transposed": "3×3 transposed convolution, stride 2, padding 1, output padding 1 (doubles the side); weight [in, out, 3, 3]",
            "resize": "nearest-neighbour ×2, then a 3×3 convolution, padding 1; weight [out, in, 3, 3]",
            "order": "convolution, BatchNorm2d (running statistics at inference), ELU",
            "batchnorm": { "eps": BATCHNORM_EPS, "momentum": BATCHNORM_MOMENTUM },
            "activation": { "kind": "elu", "alpha": 1.0 },
        },
        "encoder": { "prefix": "Genc", "layers": encoder, "pool": "mean over the last map's height and width: f(x), feature_dim numbers" },
        "confidence_head": config.confidence.then(|| json!({
            "name": "Genc.Omega",
            "layer": "3×3 convolution, padding 1, from the last map to one channel, with bias; mean over the map gives ω",
            "fusion": "f = Σ σ(ωᵢ)·fᵢ / Σ σ(ωᵢ), σ the logistic sigmoid",
        })),
        "decoder": {
            "prefix": "Gdec",
            "input_order": ["f", "c", "z"],
            "fc": {
                "name": "Gdec.FC",
                "in": feature + poses + config.noise_dim,
                "out": base * side * side,
                "reshape": [base, side, side],
                "layout": "channel-first: row r of the output is channel r / (s·s), row (r mod s·s) / s, column r mod s",
                "then": ["BatchNorm2d (Gdec.FC.bn)", "ELU"],
            },
            "layers": decoder,
            "pose_maps": "where a layer says pose_maps, the pose code enters it as Np constant maps after its input's channels",
            "output": { "name": "FConv11", "kind": "conv", "in": channels, "out": 3, "activation": "tanh", "batchnorm": false },
        },
        "discriminator": {
            "prefix": "D",
            "encoder": "the encoder's layers (D.Conv11 … D.Conv53), weights of its own, then the mean over the map",
            "fc": { "name": "D.FC", "in": feature, "out": d_outputs },
            "rows": {
                "identities": [0, config.identities],
                "fake": config.identities,
                "poses": [config.identities + 1, config.identities + 1 + poses],
                "fake_pose": config.pose_fake_class.then_some(config.identities + 1 + poses),
            },
            "head": match head {
                DHead::Paper => "paper: softmax over the Nd + 1 identity rows (the last one 'fake'), softmax over the pose rows",
                DHead::Tpami => "tpami: softmax over the Nd identity rows, the 'fake' row a real/fake logit, softmax over the pose rows",
            },
            "pose_projection": config.pose_projection,
            "pose_projection_layer": config.pose_projection.then_some("D.PoseProjection: a bias-free linear layer feature → Np; ⟨φ(x), e_c⟩ is added to the real/fake logit of pose c"),
            "patch_critic": config.patch_critic.then(|| json!({ "name": "D.Patch", "after_layers": EARLY_LAYERS, "layer": "1×1 convolution to one logit per position" })),
        },
        "input": {
            "steps": [
                "an RGB image (grey and RGBA become RGB)",
                "its central square: side min(w, h), from ((w − side) / 2, (h − side) / 2), rounded down",
                "resized to load_size × load_size with the triangle filter as image-rs 0.25's imageops::resize does it: a vertical pass into f32, then a horizontal pass rounded to the nearest integer and clamped to 0..255",
                "its central image_size × image_size crop, from ((load_size − image_size) / 2, same), rounded down",
                "pixels as x / 127.5 − 1, channel-first RGB",
            ],
            "load_size": crate::data::prepare::load_size(config.image_size()),
            "load_size_formula": "floor((image_size · 110 + 48) / 96)",
        },
        "output": { "pixels": "round((y + 1) · 127.5), then clamped to 0..255; channel-first RGB" },
        "noise": {
            "distribution": "uniform on [−1, 1]",
            "dim": config.noise_dim,
            "generator": "rand_pcg::Pcg64 (PCG XSL-RR 128/64) seeded with rand_core's seed_from_u64(seed) (eight PCG32 outputs make the 32-byte seed: state from bytes 0–15, increment from 16–31 with its lowest bit set, then the state advanced past the increment and stepped once)",
            "values": "each value from one next_u64(): m = (its low 32 bits) >> 9, z = m / 2²² − 1",
            "per_pose": "one z for all the poses a face is drawn at",
        },
        "pose_code": "one-hot over pose_yaws (index 0 is the most negative yaw); between two neighbouring bins a linear blend of their one-hots ((1 − t) and t); outside the bins, the end bin's",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Preset;

    #[test]
    fn the_description_follows_the_spec_table() {
        let described = describe(&ModelConfig::new(Preset::Paper, 200), DHead::Paper);
        assert_eq!(described["encoder"]["layers"][2]["name"], "Conv21");
        assert_eq!(described["encoder"]["layers"][2]["stride"], 2);
        assert_eq!(described["decoder"]["fc"]["reshape"], json!([320, 6, 6]));
        assert_eq!(described["decoder"]["fc"]["in"], 320 + 9 + 50);
        assert_eq!(described["decoder"]["layers"][2]["kind"], "transposed");
        assert_eq!(described["decoder"]["output"]["in"], 32);
        assert_eq!(described["discriminator"]["fc"]["out"], 200 + 1 + 9);
        assert_eq!(described["input"]["load_size"], 110);
    }
}

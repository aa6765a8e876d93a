//! `G = Gdec ∘ Genc`: encode a face to its identity feature, redraw it at a requested pose. The
//! multi-image DR-GAN adds a confidence ω per image and fuses several features of one person.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use super::blocks::weight_init;
use super::config::ModelConfig;
use super::decoder::Decoder;
use super::encoder::{Encoder, pool};

/// The DR-GAN generator.
#[derive(Module, Debug)]
pub struct Generator {
    /// `Genc`: image → identity feature `f(x)`.
    pub encoder: Encoder,
    /// `Gdec`: (`f(x)`, pose code, noise) → image.
    pub decoder: Decoder,
    /// The multi-image model's confidence head: a 3×3 convolution from Conv53's feature map to
    /// one channel, averaged over the map, gives ω. The paper adds a 321st channel to Conv53
    /// instead; a head of its own (as in the first author's code) keeps f(x) exactly the SPEC
    /// table's 320 channels, so a single-image model's every weight fits a multi-image one and
    /// can start it (`train --init-from`), with only this head new.
    pub confidence: Option<Conv2d>,
}

impl Generator {
    /// A generator for `config` (with a confidence head when `config.confidence`).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let confidence = config.confidence.then(|| {
            Conv2dConfig::new([config.feature_dim(), 1], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_initializer(weight_init())
                .init(device)
        });
        Self { encoder: Encoder::new(config, device), decoder: Decoder::new(config, device), confidence }
    }

    /// The identity feature `f(x)` of images `[B, 3, S, S]`.
    pub fn encode(&self, images: Tensor<4>) -> Tensor<2> {
        self.encoder.forward(images)
    }

    /// `f(x)` and, with a confidence head, each image's confidence logit ω `[B]`.
    pub fn encode_with_confidence(&self, images: Tensor<4>) -> (Tensor<2>, Option<Tensor<1>>) {
        let maps = self.encoder.feature_map(images);
        let omega = self.confidence.as_ref().map(|head| {
            let [batch, _, _, _] = maps.dims();
            pool(head.forward(maps.clone())).reshape([batch])
        });
        (pool(maps), omega)
    }

    /// Redraws `images` at the one-hot poses `pose [B, Np]` with noise `[B, Nz]`.
    pub fn forward(&self, images: Tensor<4>, pose: Tensor<2>, noise: Tensor<2>) -> Tensor<4> {
        self.decoder.forward(self.encode(images), pose, noise)
    }
}

/// Fuses groups of `group` consecutive features `[G·n, F]` of one person each into one feature
/// per group `[G, F]`, weighted by their confidences: `f = Σ σ(ωᵢ)·fᵢ / Σ σ(ωᵢ)`.
pub fn fuse(features: Tensor<2>, omega: Tensor<1>, group: usize) -> Tensor<2> {
    let [count, dim] = features.dims();
    let groups = count / group.max(1);
    let weights = sigmoid(omega).reshape([groups, group, 1]);
    let weighted = (features.reshape([groups, group, dim]) * weights.clone()).sum_dim(1).reshape([groups, dim]);
    weighted / weights.sum_dim(1).reshape([groups, 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_is_the_confidence_weighted_mean_of_each_group() {
        let device = Device::flex();
        let features = Tensor::<2>::from_data([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0], [7.0, 5.0]], &device);
        // Group 1: equal confidences; group 2: σ(ω) = 0.5 and 0.25 … written as logits.
        let omega = Tensor::<1>::from_data([0.0, 0.0, 0.0, (1.0f32 / 3.0).ln()], &device);
        let fused: Vec<f32> = fuse(features, omega, 2).into_data().try_to_vec().unwrap();
        let expected = [2.0, 1.0, (0.5 * 5.0 + 0.25 * 7.0) / 0.75, 5.0];
        for (a, b) in fused.iter().zip(expected) {
            assert!((a - b).abs() < 1e-5, "{fused:?} vs {expected:?}");
        }
    }
}

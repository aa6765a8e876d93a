//! `G = Gdec ∘ Genc`: encode a face to its identity feature, redraw it at a requested pose.

use burn::prelude::*;

use super::config::ModelConfig;
use super::decoder::Decoder;
use super::encoder::Encoder;

/// The DR-GAN generator.
#[derive(Module, Debug)]
pub struct Generator {
    /// `Genc`: image → identity feature `f(x)`.
    pub encoder: Encoder,
    /// `Gdec`: (`f(x)`, pose code, noise) → image.
    pub decoder: Decoder,
}

impl Generator {
    /// A generator for `config`.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        Self {
            encoder: Encoder::new(config, device),
            decoder: Decoder::new(config, device),
        }
    }

    /// The identity feature `f(x)` of images `[B, 3, S, S]`.
    pub fn encode(&self, images: Tensor<4>) -> Tensor<2> {
        self.encoder.forward(images)
    }

    /// Redraws `images` at the one-hot poses `pose [B, Np]` with noise `[B, Nz]`.
    pub fn forward(&self, images: Tensor<4>, pose: Tensor<2>, noise: Tensor<2>) -> Tensor<4> {
        self.decoder.forward(self.encode(images), pose, noise)
    }
}

//! `D`: the encoder architecture (its own weights) and an FC layer to `Nd + 1` identity logits
//! (the last one means "fake") and `Np` pose logits.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::blocks::weight_init;
use super::config::ModelConfig;
use super::encoder::Encoder;

/// D's two heads for one batch.
#[derive(Clone, Debug)]
pub struct Judgement {
    /// `[B, Nd + 1]` identity logits; index `Nd` is the "fake" class.
    pub identity: Tensor<2>,
    /// `[B, Np]` pose logits (`[B, Np + 1]` with a fake pose class, the last).
    pub pose: Tensor<2>,
}

/// The DR-GAN discriminator.
#[derive(Module, Debug)]
pub struct Discriminator {
    encoder: Encoder,
    head: Linear,
    identities: usize,
}

impl Discriminator {
    /// A discriminator for `config` (`Nd + 1` identity outputs and `Np` pose outputs).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let outputs = config.identities + 1 + config.num_poses() + usize::from(config.pose_fake_class);
        Self {
            encoder: Encoder::new(config, device),
            head: LinearConfig::new(config.feature_dim(), outputs)
                .with_initializer(weight_init())
                .init(device),
            identities: config.identities,
        }
    }

    /// Images `[B, 3, S, S]` → identity and pose logits.
    pub fn forward(&self, images: Tensor<4>) -> Judgement {
        let logits = self.head.forward(self.encoder.forward(images));
        let [batch, outputs] = logits.dims();
        let fake_class_end = self.identities + 1;
        Judgement {
            identity: logits.clone().slice([0..batch, 0..fake_class_end]),
            pose: logits.slice([0..batch, fake_class_end..outputs]),
        }
    }

    /// Index of the "fake" identity class (`Nd`).
    pub fn fake_class(&self) -> usize {
        self.identities
    }
}

//! `D`: the encoder architecture (its own weights) and an FC layer to `Nd + 1` identity logits
//! (the last one means "fake") and `Np` pose logits; optionally a pose projection that makes
//! the real/fake logit depend on the pose a face is claimed to have, and a patch critic that
//! judges realness at every position of an early feature map.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::blocks::weight_init;
use super::config::ModelConfig;
use super::encoder::Encoder;

/// How many of D's convolutions its early feature map (G's perceptual term, the patch
/// critic) passes through: Conv11 … Conv23, at half the input's size.
pub const EARLY_LAYERS: usize = 5;

/// D's heads for one batch.
#[derive(Clone, Debug)]
pub struct Judgement {
    /// `[B, Nd + 1]` identity logits; index `Nd` is the "fake" class.
    pub identity: Tensor<2>,
    /// `[B, Np]` pose logits (`[B, Np + 1]` with a fake pose class, the last).
    pub pose: Tensor<2>,
    /// `[B, Np]`: column `c` is `⟨φ(x), e_c⟩`, what claiming pose `c` adds to the real/fake
    /// logit (the projection discriminator of Miyato & Koyama, 2018), when D has one.
    pub pose_projection: Option<Tensor<2>>,
    /// `[B, P]`: a real/fake logit for each patch of the face, when D has a patch critic.
    pub patch_realness: Option<Tensor<2>>,
}

impl Judgement {
    /// This judgement's identity and pose logits with the real/fake logits (the last identity
    /// output, the pose projection and the patch critic's) of `other`: D's judgement of clean faces for who and
    /// where, and of augmented ones for whether they are real.
    pub fn with_realness_of(self, other: Judgement) -> Judgement {
        let [batch, outputs] = self.identity.dims();
        let identity = Tensor::cat(
            vec![self.identity.slice([0..batch, 0..outputs - 1]), other.identity.slice([0..batch, outputs - 1..outputs])],
            1,
        );
        Judgement { identity, pose: self.pose, pose_projection: other.pose_projection, patch_realness: other.patch_realness }
    }

    /// The judgements of the first `count` faces and of the rest.
    pub fn split(self, count: usize) -> (Judgement, Judgement) {
        let rows = |t: Tensor<2>| {
            let [batch, columns] = t.dims();
            (t.clone().slice([0..count, 0..columns]), t.slice([count..batch, 0..columns]))
        };
        let ((identity, other_identity), (pose, other_pose)) = (rows(self.identity), rows(self.pose));
        let (pose_projection, other_projection) = self.pose_projection.map(rows).unzip();
        let (patch_realness, other_patches) = self.patch_realness.map(rows).unzip();
        (
            Judgement { identity, pose, pose_projection, patch_realness },
            Judgement { identity: other_identity, pose: other_pose, pose_projection: other_projection, patch_realness: other_patches },
        )
    }
}

/// The DR-GAN discriminator.
#[derive(Module, Debug)]
pub struct Discriminator {
    encoder: Encoder,
    head: Linear,
    /// The pose embeddings `e_c` of the projection, as a bias-free `feature → Np` layer.
    projection: Option<Linear>,
    /// The patch critic, a 1×1 convolution of the early feature map to one logit per position.
    patch: Option<Conv2d>,
    identities: usize,
}

impl Discriminator {
    /// A discriminator for `config` (`Nd + 1` identity outputs and `Np` pose outputs).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let outputs = config.identities + 1 + config.num_poses() + usize::from(config.pose_fake_class);
        let layer = |outputs: usize, bias: bool| {
            LinearConfig::new(config.feature_dim(), outputs).with_bias(bias).with_initializer(weight_init()).init(device)
        };
        Self {
            encoder: Encoder::new(config, device),
            head: layer(outputs, true),
            projection: config.pose_projection.then(|| layer(config.num_poses(), false)),
            patch: config.patch_critic.then(|| {
                Conv2dConfig::new([Encoder::channels_after(config, EARLY_LAYERS), 1], [1, 1]).with_initializer(weight_init()).init(device)
            }),
            identities: config.identities,
        }
    }

    /// Images `[B, 3, S, S]` → identity and pose logits.
    pub fn forward(&self, images: Tensor<4>) -> Judgement {
        let (features, patch_realness) = match &self.patch {
            Some(patch) => {
                let early = self.perceptual_features(images);
                let logits = patch.forward(early.clone());
                let [batch, _, height, width] = logits.dims();
                (self.encoder.forward_from(early, EARLY_LAYERS), Some(logits.reshape([batch, height * width])))
            }
            None => (self.encoder.forward(images), None),
        };
        let pose_projection = self.projection.as_ref().map(|projection| projection.forward(features.clone()));
        let logits = self.head.forward(features);
        let [batch, outputs] = logits.dims();
        let fake_class_end = self.identities + 1;
        Judgement {
            identity: logits.clone().slice([0..batch, 0..fake_class_end]),
            pose: logits.slice([0..batch, fake_class_end..outputs]),
            pose_projection,
            patch_realness,
        }
    }

    /// D's feature map after Conv23 (half the input's size): what the perceptual term of G
    /// compares, a distance that D's own training makes about faces (Larsen et al. 2016).
    pub fn perceptual_features(&self, images: Tensor<4>) -> Tensor<4> {
        self.encoder.feature_map_after(images, EARLY_LAYERS)
    }

    /// Index of the "fake" identity class (`Nd`).
    pub fn fake_class(&self) -> usize {
        self.identities
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Preset;

    #[test]
    fn a_split_judgement_keeps_each_face_s_rows() {
        let device = Device::flex();
        let config = ModelConfig { pose_projection: true, patch_critic: true, ..ModelConfig::new(Preset::Tiny, 4) };
        let judgement = Discriminator::new(&config, &device).forward(Tensor::random([5, 3, 32, 32], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device));
        let whole = judgement.clone();
        let (first, rest) = judgement.split(2);
        assert_eq!((first.identity.dims(), rest.identity.dims()), ([2, 5], [3, 5]));
        assert_eq!(rest.patch_realness.as_ref().map(|p| p.dims()), Some([3, 256]));
        let joined = Tensor::cat(vec![first.pose, rest.pose], 0);
        assert_eq!(joined.into_data(), whole.pose.into_data());
        let joined = Tensor::cat(vec![first.pose_projection.unwrap(), rest.pose_projection.unwrap()], 0);
        assert_eq!(joined.into_data(), whole.pose_projection.unwrap().into_data());
    }
}

//! The convolutional encoder shared by `Genc` and `D`: Conv11 … Conv53, then average pooling.

use burn::prelude::*;

use super::blocks::ConvBlock;
use super::config::{ENCODER_STRIDES, ModelConfig};

/// Conv11 … Conv53 of the SPEC table followed by global average pooling.
#[derive(Module, Debug)]
pub struct Encoder {
    layers: Vec<ConvBlock>,
}

impl Encoder {
    /// The encoder for `config`'s preset (3 input channels).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let widths = config.encoder_widths();
        let mut in_channels = 3;
        let layers = widths
            .iter()
            .zip(ENCODER_STRIDES)
            .map(|(&out_channels, stride)| {
                let block = ConvBlock::new(in_channels, out_channels, stride, device);
                in_channels = out_channels;
                block
            })
            .collect();
        Self { layers }
    }

    /// Images `[B, 3, S, S]` in [−1, 1] → features `[B, C]` (C = 320 for the paper).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        pool(self.feature_map(images))
    }

    /// The last feature map (Conv53's output), before pooling.
    pub fn feature_map(&self, images: Tensor<4>) -> Tensor<4> {
        self.feature_map_after(images, self.layers.len())
    }

    /// The feature map after the first `layers` convolutions (all of them at most).
    pub fn feature_map_after(&self, images: Tensor<4>, layers: usize) -> Tensor<4> {
        self.layers.iter().take(layers).fold(images, |x, layer| layer.forward(x))
    }

    /// The features of images whose map after the first `layers` convolutions is `map`.
    pub fn forward_from(&self, map: Tensor<4>, layers: usize) -> Tensor<2> {
        pool(self.layers.iter().skip(layers).fold(map, |x, layer| layer.forward(x)))
    }

    /// Output channels of the first `layers` convolutions.
    pub fn channels_after(config: &ModelConfig, layers: usize) -> usize {
        layers.checked_sub(1).map_or(3, |last| config.encoder_widths()[last])
    }
}

/// Global average pooling: `[B, C, H, W]` → `[B, C]`.
pub fn pool(maps: Tensor<4>) -> Tensor<2> {
    let [batch, channels, _, _] = maps.dims();
    maps.mean_dim(3).mean_dim(2).reshape([batch, channels])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::Preset;

    /// Output sizes (H = W, C) of Conv11 … Conv53 in the SPEC table.
    const PAPER_TABLE: [(usize, usize); 14] = [
        (96, 32),
        (96, 64),
        (48, 64),
        (48, 64),
        (48, 128),
        (24, 128),
        (24, 96),
        (24, 192),
        (12, 192),
        (12, 128),
        (12, 256),
        (6, 256),
        (6, 160),
        (6, 320),
    ];

    #[test]
    fn paper_encoder_layers_match_the_spec_table() {
        let device = Device::flex();
        let config = ModelConfig::new(Preset::Paper, 10);
        let encoder = Encoder::new(&config, &device);
        let mut x = Tensor::<4>::zeros([1, 3, 96, 96], &device);
        for (layer, (size, channels)) in encoder.layers.iter().zip(PAPER_TABLE) {
            x = layer.forward(x);
            assert_eq!(x.dims(), [1, channels, size, size]);
        }
        let features = encoder.forward(Tensor::zeros([2, 3, 96, 96], &device));
        assert_eq!(features.dims(), [2, 320]);
    }
}

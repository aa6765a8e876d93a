//! `Gdec`: [f(x), c, z] → FC → 6×6×320 → FConv52 … FConv11 → tanh.

use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{elu, tanh};

use super::blocks::{ConvBlock, ResizeUpBlock, UpBlock, weight_init};
use super::config::{DECODER_STRIDES, ModelConfig, Upsample};
use crate::kernels::{self, Sampling};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};

/// One decoder layer: stride 1 keeps the size, stride 2 doubles it (by a transposed
/// convolution, or by resizing and a convolution).
#[derive(Module, Debug)]
enum DecoderLayer {
    Same(ConvBlock),
    Up(UpBlock),
    ResizeUp(ResizeUpBlock),
}

impl DecoderLayer {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            DecoderLayer::Same(block) => block.forward(x),
            DecoderLayer::Up(block) => block.forward(x),
            DecoderLayer::ResizeUp(block) => block.forward(x),
        }
    }
}

/// The decoder of the SPEC table.
#[derive(Module, Debug)]
pub struct Decoder {
    fc: Linear,
    fc_norm: BatchNorm,
    layers: Vec<DecoderLayer>,
    output: Conv2d,
    base_channels: usize,
    base_size: usize,
}

impl Decoder {
    /// The decoder for `config`'s preset.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let base_channels = config.decoder_base_channels();
        let base_size = config.base_size();
        let input_dim = config.feature_dim() + config.num_poses() + config.noise_dim;
        let fc = LinearConfig::new(input_dim, base_channels * base_size * base_size)
            .with_initializer(weight_init())
            .init(device);
        let fc_norm = BatchNormConfig::new(base_channels).init(device);
        let mut in_channels = base_channels;
        let layers = config
            .decoder_widths()
            .into_iter()
            .zip(DECODER_STRIDES)
            .map(|(out_channels, stride)| {
                let layer = match (stride, config.upsample) {
                    (2, Upsample::Transposed) => DecoderLayer::Up(UpBlock::new(in_channels, out_channels, device)),
                    (2, Upsample::Resize) => DecoderLayer::ResizeUp(ResizeUpBlock::new(in_channels, out_channels, device)),
                    _ => DecoderLayer::Same(ConvBlock::new(in_channels, out_channels, 1, device)),
                };
                in_channels = out_channels;
                layer
            })
            .collect();
        let output = Conv2dConfig::new([in_channels, 3], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_initializer(weight_init())
            .init(device);
        Self {
            fc,
            fc_norm,
            layers,
            output,
            base_channels,
            base_size,
        }
    }

    /// `features [B, F]`, one-hot `pose [B, Np]`, `noise [B, Nz]` → images `[B, 3, S, S]` in
    /// [−1, 1].
    pub fn forward(&self, features: Tensor<2>, pose: Tensor<2>, noise: Tensor<2>) -> Tensor<4> {
        let maps = self.base_map(Tensor::cat(vec![features, pose, noise], 1));
        let maps = self.layers.iter().fold(maps, |x, layer| layer.forward(x));
        tanh(self.output_layer(maps))
    }

    /// FConv11, without BatchNorm or ELU: on the CPU at inference through the project's own
    /// convolution, which shares the images' work among the threads (burn's runs on one).
    fn output_layer(&self, maps: Tensor<4>) -> Tensor<4> {
        let device = maps.device();
        match &self.output.bias {
            Some(bias) if kernels::fused_available(&device) && !device.is_autodiff() => {
                kernels::conv_infer(maps, self.output.weight.val(), bias.val(), Sampling::Same)
            }
            _ => self.output.forward(maps),
        }
    }

    /// FC → reshape to the 6×6×320 (paper) map → BatchNorm → ELU.
    fn base_map(&self, code: Tensor<2>) -> Tensor<4> {
        let [batch, _] = code.dims();
        let maps = self.fc.forward(code).reshape([
            batch,
            self.base_channels,
            self.base_size,
            self.base_size,
        ]);
        elu(self.fc_norm.forward(maps), 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::Preset;

    /// Output sizes (H = W, C) of FConv52 … FConv12 in the SPEC table.
    const PAPER_TABLE: [(usize, usize); 13] = [
        (6, 160),
        (6, 256),
        (12, 256),
        (12, 128),
        (12, 192),
        (24, 192),
        (24, 96),
        (24, 128),
        (48, 128),
        (48, 64),
        (48, 64),
        (96, 64),
        (96, 32),
    ];

    #[test]
    fn paper_decoder_layers_match_the_spec_table() {
        let device = Device::flex();
        let config = ModelConfig::new(Preset::Paper, 10);
        let decoder = Decoder::new(&config, &device);
        let code = Tensor::<2>::zeros([2, 320 + 9 + 50], &device);
        let mut x = decoder.base_map(code.clone());
        assert_eq!(x.dims(), [2, 320, 6, 6]);
        for (layer, (size, channels)) in decoder.layers.iter().zip(PAPER_TABLE) {
            x = layer.forward(x);
            assert_eq!(x.dims(), [2, channels, size, size]);
        }
        let image = decoder.forward(
            Tensor::zeros([2, 320], &device),
            Tensor::zeros([2, 9], &device),
            Tensor::zeros([2, 50], &device),
        );
        assert_eq!(image.dims(), [2, 3, 96, 96]);
    }
}

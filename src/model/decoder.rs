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

    fn upsamples(&self) -> bool {
        !matches!(self, DecoderLayer::Same(_))
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
    /// Whether each upsampling layer also sees the pose code as constant maps.
    pose_maps: bool,
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
        let pose_channels = if config.pose_maps { config.num_poses() } else { 0 };
        let layers = config
            .decoder_widths()
            .into_iter()
            .zip(DECODER_STRIDES)
            .map(|(out_channels, stride)| {
                let inputs = in_channels + if stride == 2 { pose_channels } else { 0 };
                let layer = match (stride, config.upsample) {
                    (2, Upsample::Transposed) => DecoderLayer::Up(UpBlock::new(inputs, out_channels, device)),
                    (2, Upsample::Resize) => DecoderLayer::ResizeUp(ResizeUpBlock::new(inputs, out_channels, device)),
                    _ => DecoderLayer::Same(ConvBlock::new(inputs, out_channels, 1, device)),
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
            pose_maps: config.pose_maps,
        }
    }

    /// `features [B, F]`, one-hot `pose [B, Np]`, `noise [B, Nz]` → images `[B, 3, S, S]` in
    /// [−1, 1].
    pub fn forward(&self, features: Tensor<2>, pose: Tensor<2>, noise: Tensor<2>) -> Tensor<4> {
        let maps = self.base_map(Tensor::cat(vec![features, pose.clone(), noise], 1));
        let maps = self.layers.iter().fold(maps, |x, layer| {
            let x = if layer.upsamples() { self.with_pose(x, &pose) } else { x };
            layer.forward(x)
        });
        tanh(self.output_layer(maps))
    }

    /// `x` with the pose code beside it as constant maps, when this decoder takes them.
    fn with_pose(&self, x: Tensor<4>, pose: &Tensor<2>) -> Tensor<4> {
        if !self.pose_maps {
            return x;
        }
        let [batch, _, height, width] = x.dims();
        let [_, poses] = pose.dims();
        let maps = pose.clone().reshape([batch, poses, 1, 1]).expand([batch, poses, height, width]);
        Tensor::cat(vec![x, maps], 1)
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

    fn parameters(config: &ModelConfig) -> usize {
        Decoder::new(config, &Device::flex()).num_params()
    }

    #[test]
    fn pose_maps_add_under_three_percent_of_parameters_and_reach_the_last_layer() {
        let device = Device::flex();
        let plain = ModelConfig { upsample: Upsample::Resize, ..ModelConfig::new(Preset::Small, 10) };
        let mapped = ModelConfig { pose_maps: true, ..plain.clone() };
        let (without, with) = (parameters(&plain), parameters(&mapped));
        assert!(with > without && (with - without) * 33 < without, "{without} → {with} parameters");
        // With the FC layer's pose weights zeroed, the pose can only reach the picture through
        // the maps.
        let decoder = Decoder::new(&mapped, &device);
        let [rows, columns] = decoder.fc.weight.val().dims();
        let features = plain.feature_dim();
        let mask = Tensor::<2>::ones([rows, columns], &device).slice_assign([features..features + 9, 0..columns], Tensor::zeros([9, columns], &device));
        let decoder = Decoder { fc: Linear { weight: decoder.fc.weight.clone().map(|w| w * mask), ..decoder.fc.clone() }, ..decoder };
        let draw = |bin: usize| {
            let pose = Tensor::<2>::zeros([1, 9], &device).slice_assign([0..1, bin..bin + 1], Tensor::ones([1, 1], &device));
            decoder.forward(Tensor::ones([1, features], &device), pose, Tensor::zeros([1, plain.noise_dim], &device))
        };
        let difference: f32 = (draw(0) - draw(8)).abs().sum().into_scalar();
        assert!(difference > 1e-3, "the pose maps change the picture ({difference})");
    }
}

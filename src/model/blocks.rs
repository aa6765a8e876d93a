//! The two building blocks of every DR-GAN network: a 3×3 conv (or transposed conv) followed
//! by BatchNorm and ELU, with weights drawn from N(0, 0.02).

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::elu;

/// SPEC: weights start from N(0, 0.02).
pub fn weight_init() -> Initializer {
    Initializer::Normal {
        mean: 0.0,
        std: 0.02,
    }
}

/// A 3×3 convolution (stride 1 or 2, padding 1) followed by BatchNorm and ELU.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ConvBlock {
    /// A block from `in_channels` to `out_channels`; stride 2 halves the size exactly.
    pub fn new(in_channels: usize, out_channels: usize, stride: usize, device: &Device) -> Self {
        let conv = Conv2dConfig::new([in_channels, out_channels], [3, 3])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_initializer(weight_init())
            .init(device);
        let norm = BatchNormConfig::new(out_channels).init(device);
        Self { conv, norm }
    }

    /// Conv, BatchNorm, ELU.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        elu(self.norm.forward(self.conv.forward(x)), 1.0)
    }
}

/// A 3×3 transposed convolution with stride 2, padding 1 and output padding 1 (doubling the size
/// exactly), followed by BatchNorm and ELU.
#[derive(Module, Debug)]
pub struct UpBlock {
    conv: ConvTranspose2d,
    norm: BatchNorm,
}

impl UpBlock {
    /// A block from `in_channels` to `out_channels` that doubles height and width.
    pub fn new(in_channels: usize, out_channels: usize, device: &Device) -> Self {
        let conv = ConvTranspose2dConfig::new([in_channels, out_channels], [3, 3])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .with_padding_out([1, 1])
            .with_initializer(weight_init())
            .init(device);
        let norm = BatchNormConfig::new(out_channels).init(device);
        Self { conv, norm }
    }

    /// Transposed conv, BatchNorm, ELU.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        elu(self.norm.forward(self.conv.forward(x)), 1.0)
    }
}

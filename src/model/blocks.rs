//! The building blocks of every DR-GAN network: a 3×3 conv (or an upsampling one) followed by
//! BatchNorm and ELU, with weights drawn from N(0, 0.02).
//!
//! While training on the CPU a block runs as one fused operation (`crate::kernels`); elsewhere,
//! and for inference, as burn's modules. Both compute the same function (`tests/kernels.rs`).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::elu;

use crate::kernels::{self, Sampling};

/// SPEC: weights start from N(0, 0.02).
pub fn weight_init() -> Initializer {
    Initializer::Normal {
        mean: 0.0,
        std: 0.02,
    }
}

/// A 3×3 convolution with padding 1 and the given stride.
fn conv3x3(in_channels: usize, out_channels: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([in_channels, out_channels], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_initializer(weight_init())
        .init(device)
}

/// How a block runs for an input on a device.
enum Path {
    /// The fused CPU block with the batch's statistics (training).
    FusedTraining,
    /// The fused CPU block with running statistics (inference, no gradients).
    FusedInference,
    /// burn's modules (the GPU, and BatchNorm layers frozen on a training device).
    Modules,
}

/// The path for `norm`'s block on `device`: BatchNorm takes batch statistics exactly when burn's
/// BatchNorm would (a training device and a layer in training).
fn path(norm: &BatchNorm, device: &Device) -> Path {
    match (kernels::fused_available(device), device.is_autodiff(), norm.training.is_enabled()) {
        (true, true, true) => Path::FusedTraining,
        (true, false, _) => Path::FusedInference,
        _ => Path::Modules,
    }
}

/// The fused block at inference: BatchNorm with its running statistics.
fn fused_inference(x: Tensor<4>, conv_weight: &Param<Tensor<4>>, conv_bias: Option<&Param<Tensor<1>>>, norm: &BatchNorm, sampling: Sampling) -> Tensor<4> {
    let params = kernels::Inference {
        weight: conv_weight.val(),
        bias: conv_bias.map_or_else(|| norm.beta.val().zeros_like(), |b| b.val()),
        gamma: norm.gamma.val(),
        beta: norm.beta.val(),
        mean: norm.running_mean.value(),
        variance: norm.running_var.value(),
    };
    kernels::conv_bn_elu_infer(x, params, sampling, norm.epsilon)
}

/// The fused block: conv → BatchNorm → ELU, updating `norm`'s running statistics as burn's
/// BatchNorm does (the batch mean includes the conv's bias, so inference sees the same layer).
fn fused_forward(x: Tensor<4>, conv_weight: &Param<Tensor<4>>, conv_bias: Option<&Param<Tensor<1>>>, norm: &BatchNorm, sampling: Sampling) -> Tensor<4> {
    let device = x.device();
    let bias = conv_bias.map_or_else(|| norm.beta.val().zeros_like().detach(), |b| b.val());
    let result = kernels::conv_bn_elu_train(x, conv_weight.val(), bias, norm.gamma.val(), norm.beta.val(), sampling, norm.epsilon);
    let mean = result.mean;
    let momentum = norm.momentum;
    let running_mean = norm.running_mean.value_sync().to_device(&device);
    let running_var = norm.running_var.value_sync().to_device(&device);
    norm.running_mean.update((running_mean.mul_scalar(1.0 - momentum) + mean.detach().mul_scalar(momentum)).detach());
    norm.running_var.update((running_var.mul_scalar(1.0 - momentum) + result.variance.detach().mul_scalar(momentum)).detach());
    result.output
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
        Self { conv: conv3x3(in_channels, out_channels, stride, device), norm: BatchNormConfig::new(out_channels).init(device) }
    }

    /// Conv, BatchNorm, ELU.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let sampling = if self.conv.stride[0] == 2 { Sampling::Down } else { Sampling::Same };
        match path(&self.norm, &x.device()) {
            Path::FusedTraining => fused_forward(x, &self.conv.weight, self.conv.bias.as_ref(), &self.norm, sampling),
            Path::FusedInference => fused_inference(x, &self.conv.weight, self.conv.bias.as_ref(), &self.norm, sampling),
            Path::Modules => elu(self.norm.forward(self.conv.forward(x)), 1.0),
        }
    }
}

/// A 3×3 transposed convolution with stride 2, padding 1 and output padding 1 (doubling the size
/// exactly), followed by BatchNorm and ELU: the paper's decoder upsampling.
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
        Self { conv, norm: BatchNormConfig::new(out_channels).init(device) }
    }

    /// Transposed conv, BatchNorm, ELU.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let sampling = Sampling::TransposedUp;
        match path(&self.norm, &x.device()) {
            Path::FusedTraining => fused_forward(x, &self.conv.weight, self.conv.bias.as_ref(), &self.norm, sampling),
            Path::FusedInference => fused_inference(x, &self.conv.weight, self.conv.bias.as_ref(), &self.norm, sampling),
            Path::Modules => elu(self.norm.forward(self.conv.forward(x)), 1.0),
        }
    }
}

/// Nearest-neighbour ×2 upsampling, then a 3×3 convolution, BatchNorm and ELU: the decoder
/// upsampling without the transposed convolution's checkerboard, with the same parameters.
#[derive(Module, Debug)]
pub struct ResizeUpBlock {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ResizeUpBlock {
    /// A block from `in_channels` to `out_channels` that doubles height and width.
    pub fn new(in_channels: usize, out_channels: usize, device: &Device) -> Self {
        Self { conv: conv3x3(in_channels, out_channels, 1, device), norm: BatchNormConfig::new(out_channels).init(device) }
    }

    /// Upsample, conv, BatchNorm, ELU.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let sampling = Sampling::ResizeUp;
        match path(&self.norm, &x.device()) {
            Path::FusedTraining => fused_forward(x, &self.conv.weight, self.conv.bias.as_ref(), &self.norm, sampling),
            Path::FusedInference => fused_inference(x, &self.conv.weight, self.conv.bias.as_ref(), &self.norm, sampling),
            Path::Modules => elu(self.norm.forward(self.conv.forward(upsample_nearest(x))), 1.0),
        }
    }
}

/// Nearest-neighbour ×2 upsampling: each pixel becomes a 2×2 square.
pub fn upsample_nearest(x: Tensor<4>) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    x.reshape([batch, channels, height, 1, width, 1])
        .expand([batch, channels, height, 2, width, 2])
        .reshape([batch, channels, 2 * height, 2 * width])
}

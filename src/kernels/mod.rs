//! The DR-GAN block — a 3×3 convolution, BatchNorm with the batch's statistics, ELU — as one
//! operation with its own backward pass, for burn's CPU backend (flex).
//!
//! burn computes a convolution's weight gradient on the CPU as a convolution whose kernel is the
//! whole output gradient, and BatchNorm as about ten passes over memory. Here the convolution
//! and both halves of its backward pass are matrix products (the `gemm` crate that burn itself
//! uses) over shifted copies of the input's rows ([`same`], [`down`], [`resize`]; the transposed
//! convolution is the stride-2 one run backwards), and BatchNorm and ELU are one pass forward and
//! two back. It is a burn backend extension: the flex backend runs [`cpu`], the autodiff
//! backend records one node for the whole block, and other devices (wgpu) never reach it:
//! [`fused_available`] says when to use it, and the model falls back to burn's own modules
//! elsewhere. `tests/kernels.rs` checks outputs and gradients against burn's modules.
//!
//! A convolution bias in front of BatchNorm cancels exactly in training (the batch mean absorbs
//! it), so the fused block leaves the bias out of the arithmetic and gives it its true gradient,
//! zero; the layer adds it to the running mean it keeps, so inference, which uses running
//! statistics, is unchanged.

mod autodiff;
pub mod cpu;
mod down;
mod flex;
mod resize;
mod same;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::prelude::*;

/// How a block's 3×3 convolution samples its input (padding 1 in every case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sampling {
    /// Stride 1: the output has the input's size.
    Same,
    /// Stride 2 over an even side (every side in the model is): half the size.
    Down,
    /// Transposed convolution, stride 2, output padding 1: twice the size.
    TransposedUp,
    /// Nearest-neighbour ×2 upsampling, then a stride-1 convolution: twice the size.
    ResizeUp,
}

impl Sampling {
    /// Output side for an input side of `input`.
    pub fn output_size(self, input: usize) -> usize {
        match self {
            Sampling::Same => input,
            Sampling::Down => input / 2,
            Sampling::TransposedUp | Sampling::ResizeUp => input * 2,
        }
    }

    /// Output channels of a weight of shape `weight` (`[out, in, 3, 3]`, or `[in, out, 3, 3]` for
    /// the transposed convolution, as burn stores them).
    pub fn out_channels(self, weight: [usize; 4]) -> usize {
        match self {
            Sampling::TransposedUp => weight[1],
            _ => weight[0],
        }
    }
}

/// The block as a backend operation: flex computes it, autodiff records its backward pass.
#[backend_extension(Flex, Autodiff)]
pub trait BlockKernels: Backend {
    /// Conv → BatchNorm with the batch's statistics → ELU. Returns the output, the normalised
    /// convolution output x̂, and the per-channel batch mean (of the convolution without its
    /// bias) and biased variance. The bias cancels in BatchNorm; it is an input so that its
    /// gradient, exactly zero, is recorded like every other parameter's.
    fn conv_bn_elu_train(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        sampling: Sampling,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Conv (with bias) → BatchNorm with running statistics → ELU: the block at inference. It
    /// records no gradient, and the model calls it only on devices without autodiff.
    #[allow(clippy::too_many_arguments)]
    fn conv_bn_elu_infer(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        sampling: Sampling,
        epsilon: f64,
    ) -> FloatTensor<Self>;

    /// A 3×3 convolution with its bias and nothing after it (the decoder's output layer) at
    /// inference: it records no gradient, and the model calls it only on devices without
    /// autodiff.
    fn conv_infer(input: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, sampling: Sampling) -> FloatTensor<Self>;
}

/// The block's backward pass, on the backends that compute the block (the autodiff backend calls
/// it; nothing dispatches to it).
pub trait BlockBackward: Backend {
    /// Gradients of the input (when `need_input`), the weight (when `need_weight`), γ and β,
    /// given the output's gradient `grad` and what the forward pass returned.
    #[allow(clippy::too_many_arguments)]
    fn conv_bn_elu_train_backward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        normalized: FloatTensor<Self>,
        output: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        sampling: Sampling,
        epsilon: f64,
        need_input: bool,
        need_weight: bool,
    ) -> BlockGradients<Self>;
}

/// The gradients of a block's input (when asked for), weight (when asked for), γ and β.
pub type BlockGradients<B> = (Option<FloatTensor<B>>, Option<FloatTensor<B>>, FloatTensor<B>, FloatTensor<B>);

/// The fused block's output and the batch statistics its running averages need.
pub struct Normalized {
    /// ELU(BatchNorm(conv(x))).
    pub output: Tensor<4>,
    /// Per-channel batch mean of conv(x), its bias included.
    pub mean: Tensor<1>,
    /// Per-channel biased batch variance of conv(x).
    pub variance: Tensor<1>,
}

/// Whether tensors on `device` can take the fused block (burn's flex CPU backend, with or
/// without autodiff).
pub fn fused_available(device: &Device) -> bool {
    device.clone().without_autodiff() == Device::flex()
}

/// The block's inference parameters (BatchNorm's running statistics among them).
pub struct Inference {
    /// The convolution's weight.
    pub weight: Tensor<4>,
    /// The convolution's bias.
    pub bias: Tensor<1>,
    /// BatchNorm's γ.
    pub gamma: Tensor<1>,
    /// BatchNorm's β.
    pub beta: Tensor<1>,
    /// BatchNorm's running mean.
    pub mean: Tensor<1>,
    /// BatchNorm's running variance.
    pub variance: Tensor<1>,
}

/// Conv → BatchNorm with running statistics → ELU, as one operation, for inference on devices
/// where [`fused_available`] holds and that record no gradients.
pub fn conv_bn_elu_infer(input: Tensor<4>, params: Inference, sampling: Sampling, epsilon: f64) -> Tensor<4> {
    Tensor::from_dispatch(Dispatch::conv_bn_elu_infer(
        input.into_dispatch(),
        params.weight.into_dispatch(),
        params.bias.into_dispatch(),
        params.gamma.into_dispatch(),
        params.beta.into_dispatch(),
        params.mean.into_dispatch(),
        params.variance.into_dispatch(),
        sampling,
        epsilon,
    ))
}

/// A 3×3 convolution with its bias, for inference on devices where [`fused_available`] holds
/// and that record no gradients.
pub fn conv_infer(input: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, sampling: Sampling) -> Tensor<4> {
    Tensor::from_dispatch(Dispatch::conv_infer(input.into_dispatch(), weight.into_dispatch(), bias.into_dispatch(), sampling))
}

/// Conv (`weight`, `bias`) → BatchNorm (batch statistics, `gamma`, `beta`) → ELU, as one
/// operation. Only for devices where [`fused_available`] holds.
#[allow(clippy::too_many_arguments)]
pub fn conv_bn_elu_train(input: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, gamma: Tensor<1>, beta: Tensor<1>, sampling: Sampling, epsilon: f64) -> Normalized {
    let (output, _normalized, mean, variance) = Dispatch::conv_bn_elu_train(
        input.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        sampling,
        epsilon,
    );
    Normalized { output: Tensor::from_dispatch(output), mean: Tensor::from_dispatch(mean), variance: Tensor::from_dispatch(variance) }
}

//! [`BlockKernels`] on burn's cubecl backend (the GPU through wgpu, and any other cubecl
//! runtime): the convolution and its two backward halves are burn's own, autotuned kernels,
//! run without the bias that BatchNorm cancels (in training a 3×3 convolution's forward pass
//! and weight gradient may instead be [`gemm`]'s matrix products, where the autotuner finds
//! them faster); BatchNorm and
//! ELU around them are [`norm`]'s kernels, and the resize block's upsampling is [`upsample`]'s.
//!
//! burn's convolutions work on channels-last (NHWC) memory and turn any other layout into it
//! with a copy first. So every map the block makes is channels-last in memory, presented as the
//! usual `[N, C, H, W]` tensor (a permuted view): a chain of blocks runs with no layout copies
//! between its convolutions.

mod gemm;
mod norm;
mod upsample;

use burn::backend::ops::ModuleOps;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::Shape;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::ops::{permute_nchw_to_nhwc, permute_nhwc_to_nchw};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeBackend;
use cubecl::calculate_cube_count_elemwise;
use cubecl::prelude::{CubeCount, CubeDim};

use super::{BlockBackward, BlockGradients, BlockKernels, Sampling};

/// Launch sizes for one thread per element of `elements`, on `like`'s device.
fn elementwise(like: &CubeTensor, elements: usize) -> (CubeCount, CubeDim) {
    let cube_dim = CubeDim::new(&like.client, elements);
    (calculate_cube_count_elemwise(&like.client, elements, cube_dim), cube_dim)
}

/// `[N, C, H, W]` `map` with its memory channels-last and contiguous: itself when it already
/// is (a convolution's output), a copy otherwise.
fn channels_last(map: CubeTensor) -> CubeTensor {
    nchw_view(into_contiguous(nhwc(map)))
}

/// The `[N, H, W, C]` view of an `[N, C, H, W]` map (no copy): contiguous exactly when the
/// map is channels-last.
fn nhwc(map: CubeTensor) -> CubeTensor {
    permute_nchw_to_nhwc(map)
}

/// The `[N, C, H, W]` view of an `[N, H, W, C]` map (no copy).
fn nchw_view(map: CubeTensor) -> CubeTensor {
    permute_nhwc_to_nchw(map)
}

/// A per-channel vector as a contiguous buffer (a copy only if it is a strided view).
fn vector(values: CubeTensor) -> CubeTensor {
    into_contiguous(values)
}

/// Padding 1, stride 1.
fn same() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], 1)
}

/// Padding 1, stride 2.
fn down() -> ConvOptions<2> {
    ConvOptions::new([2, 2], [1, 1], [1, 1], 1)
}

/// Stride 2, padding 1, output padding 1.
fn transposed() -> ConvTransposeOptions<2> {
    ConvTransposeOptions::new([2, 2], [1, 1], [1, 1], [1, 1], 1)
}

/// The block's convolution of `input`, with `bias` when given (at inference; training runs
/// without it, and its 3×3 convolutions go through [`gemm::conv2d`]).
fn convolve(input: CubeTensor, weight: CubeTensor, bias: Option<CubeTensor>, sampling: Sampling) -> CubeTensor {
    match (sampling, bias) {
        (Sampling::Same, None) => gemm::conv2d(input, weight, 1),
        (Sampling::Down, None) => gemm::conv2d(input, weight, 2),
        (Sampling::ResizeUp, None) => gemm::conv2d(upsample::upsample(input), weight, 1),
        (Sampling::Same, bias) => CubeBackend::conv2d(input, weight, bias, same()),
        (Sampling::Down, bias) => CubeBackend::conv2d(input, weight, bias, down()),
        (Sampling::ResizeUp, bias) => CubeBackend::conv2d(upsample::upsample(input), weight, bias, same()),
        (Sampling::TransposedUp, bias) => CubeBackend::conv_transpose2d(input, weight, bias, transposed()),
    }
}

/// A stand-in for a gradient nobody asked for: one element, never written.
fn unused(like: &CubeTensor) -> CubeTensor {
    empty_device_dtype(like.client.clone(), like.device.clone(), Shape::new([1]), like.dtype)
}

impl BlockKernels for CubeBackend {
    fn conv_bn_elu_train(
        input: CubeTensor,
        weight: CubeTensor,
        bias: CubeTensor,
        gamma: CubeTensor,
        beta: CubeTensor,
        sampling: Sampling,
        epsilon: f64,
    ) -> (CubeTensor, CubeTensor, CubeTensor, CubeTensor) {
        norm::batch_norm_elu(convolve(input, weight, None, sampling), bias, gamma, beta, epsilon)
    }

    fn conv_bn_elu_infer(
        input: CubeTensor,
        weight: CubeTensor,
        bias: CubeTensor,
        gamma: CubeTensor,
        beta: CubeTensor,
        mean: CubeTensor,
        variance: CubeTensor,
        sampling: Sampling,
        epsilon: f64,
    ) -> CubeTensor {
        norm::running_batch_norm_elu(convolve(input, weight, Some(bias), sampling), mean, variance, gamma, beta, epsilon)
    }

    fn conv_infer(input: CubeTensor, weight: CubeTensor, bias: CubeTensor, sampling: Sampling) -> CubeTensor {
        convolve(input, weight, Some(bias), sampling)
    }
}

impl BlockBackward for CubeBackend {
    fn conv_bn_elu_train_backward(
        input: CubeTensor,
        weight: CubeTensor,
        gamma: CubeTensor,
        normalized: CubeTensor,
        output: CubeTensor,
        variance: CubeTensor,
        grad: CubeTensor,
        sampling: Sampling,
        epsilon: f64,
        need_input: bool,
        need_weight: bool,
    ) -> BlockGradients<Self> {
        let saved = norm::Saved { gamma, normalized, output, variance, epsilon };
        let (d_conv, d_gamma, d_beta) = norm::batch_norm_elu_backward(saved, grad);
        let placeholder = unused(&d_gamma);
        let (d_input, d_weight) = match sampling {
            Sampling::Same | Sampling::Down => {
                let (options, stride) = if sampling == Sampling::Same { (same(), 1) } else { (down(), 2) };
                let d_input = need_input.then(|| CubeBackend::conv2d_x_backward(input.clone(), weight.clone(), d_conv.clone(), options));
                let d_weight = need_weight.then(|| gemm::conv2d_weight_backward(input, weight, d_conv, stride));
                (d_input, d_weight)
            }
            Sampling::ResizeUp => {
                let upsampled = upsample::upsample(input);
                let d_input = need_input
                    .then(|| upsample::upsample_backward(CubeBackend::conv2d_x_backward(upsampled.clone(), weight.clone(), d_conv.clone(), same())));
                let d_weight = need_weight.then(|| gemm::conv2d_weight_backward(upsampled, weight, d_conv, 1));
                (d_input, d_weight)
            }
            Sampling::TransposedUp => {
                let d_input = need_input.then(|| CubeBackend::conv_transpose2d_x_backward(weight.clone(), d_conv.clone(), transposed()));
                let d_weight = need_weight.then(|| CubeBackend::conv_transpose2d_weight_backward(input, weight, d_conv, transposed()));
                (d_input, d_weight)
            }
        };
        (d_input.unwrap_or_else(|| placeholder.clone()), d_weight.unwrap_or(placeholder), d_gamma, d_beta)
    }
}

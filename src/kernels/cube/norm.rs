//! BatchNorm and ELU at the edges of a convolution, as cubecl kernels: per-channel statistics in
//! one kernel and normalisation with ELU in one more going forward; the per-channel gradient sums
//! in one kernel and the convolution output's gradient in one more going back. burn composes the
//! same arithmetic out of layout copies, reductions and elementwise passes (about ten kernels
//! each way, see `burn-backend`'s `batch_norm_train`).
//!
//! Tensors are `[N, C, H, W]` and contiguous; the per-channel ones are `[C]`. ELU has α = 1.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Shape;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::elementwise;

/// Threads in each cube of the per-channel reductions (one cube per channel); WebGPU's smallest
/// guaranteed workgroup size.
const REDUCE_THREADS: u32 = 256;

/// The sum of `value` over the cube's threads, returned to every thread.
#[cube]
fn cube_sum<F: Float>(value: F, #[comptime] threads: usize) -> F {
    let mut partial = Shared::<[F]>::new_slice(threads);
    let unit = UNIT_POS_X as usize;
    partial[unit] = value;
    sync_cube();
    let mut stride = (CUBE_DIM_X / 2) as usize;
    while stride > 0 {
        if unit < stride {
            partial[unit] = partial[unit] + partial[unit + stride];
        }
        sync_cube();
        stride /= 2;
    }
    partial[0]
}

/// ELU with α = 1.
#[cube]
fn elu<F: Float>(z: F) -> F {
    let mut out = z;
    if z <= F::new(0.0) {
        out = z.exp() - F::new(1.0);
    }
    out
}

/// The gradient reaching ELU's input, from the gradient `grad` of its output `out` (for α = 1
/// the slope below zero, eᶻ, is `out + 1`).
#[cube]
fn elu_input_grad<F: Float>(grad: F, out: F) -> F {
    let mut slope = F::new(1.0);
    if out <= F::new(0.0) {
        slope = out + F::new(1.0);
    }
    grad * slope
}

/// One cube per channel: the channel's mean (plus `bias`, the convolution's bias left out of
/// `conv`) and biased variance, in two passes for accuracy.
#[cube(launch)]
fn channel_statistics<F: Float>(
    conv: &Tensor<F>,
    bias: &Tensor<F>,
    mean: &mut Tensor<F>,
    variance: &mut Tensor<F>,
    channels: usize,
    plane: usize,
    #[comptime] threads: usize,
    #[define(F)] _dtype: ElemType,
) {
    let channel = CUBE_POS_X as usize;
    let count = conv.len() / channels;
    let step = CUBE_DIM_X as usize;
    let mut sum = F::new(0.0);
    let mut i = UNIT_POS_X as usize;
    while i < count {
        sum += conv[((i / plane) * channels + channel) * plane + i % plane];
        i += step;
    }
    let mu = cube_sum::<F>(sum, threads) / F::cast_from(count as u32);
    let mut squares = F::new(0.0);
    let mut i = UNIT_POS_X as usize;
    while i < count {
        let d = conv[((i / plane) * channels + channel) * plane + i % plane] - mu;
        squares += d * d;
        i += step;
    }
    let var = cube_sum::<F>(squares, threads) / F::cast_from(count as u32);
    if UNIT_POS_X == 0 {
        mean[channel] = mu + bias[channel];
        variance[channel] = var;
    }
}

/// x̂ = (conv − mean) / √(variance + ε) and ELU(γ·x̂ + β), one element per thread. `mean` is the
/// statistics kernel's (bias included) and `bias` is taken off it again.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn normalize_elu<F: Float>(
    conv: &Tensor<F>,
    bias: &Tensor<F>,
    mean: &Tensor<F>,
    variance: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    output: &mut Tensor<F>,
    normalized: &mut Tensor<F>,
    channels: usize,
    plane: usize,
    epsilon: f32,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= conv.len() {
        terminate!();
    }
    let c = (i / plane) % channels;
    let x_hat = (conv[i] + bias[c] - mean[c]) / (variance[c] + F::cast_from(epsilon)).sqrt();
    normalized[i] = x_hat;
    output[i] = elu::<F>(gamma[c] * x_hat + beta[c]);
}

/// ELU(γ·(conv − mean)/√(variance + ε) + β) with running statistics: the block at inference.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn running_normalize_elu<F: Float>(
    conv: &Tensor<F>,
    mean: &Tensor<F>,
    variance: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    output: &mut Tensor<F>,
    channels: usize,
    plane: usize,
    epsilon: f32,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= conv.len() {
        terminate!();
    }
    let c = (i / plane) % channels;
    let x_hat = (conv[i] - mean[c]) / (variance[c] + F::cast_from(epsilon)).sqrt();
    output[i] = elu::<F>(gamma[c] * x_hat + beta[c]);
}

/// One cube per channel: ∂L/∂γ = Σ ∂L/∂z·x̂ and ∂L/∂β = Σ ∂L/∂z, where z = γ·x̂ + β is ELU's input.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn scale_shift_grads<F: Float>(
    grad: &Tensor<F>,
    output: &Tensor<F>,
    normalized: &Tensor<F>,
    d_gamma: &mut Tensor<F>,
    d_beta: &mut Tensor<F>,
    channels: usize,
    plane: usize,
    #[comptime] threads: usize,
    #[define(F)] _dtype: ElemType,
) {
    let channel = CUBE_POS_X as usize;
    let count = grad.len() / channels;
    let step = CUBE_DIM_X as usize;
    let mut shift = F::new(0.0);
    let mut scale = F::new(0.0);
    let mut i = UNIT_POS_X as usize;
    while i < count {
        let at = ((i / plane) * channels + channel) * plane + i % plane;
        let dz = elu_input_grad::<F>(grad[at], output[at]);
        shift += dz;
        scale += dz * normalized[at];
        i += step;
    }
    let shift = cube_sum::<F>(shift, threads);
    let scale = cube_sum::<F>(scale, threads);
    if UNIT_POS_X == 0 {
        d_beta[channel] = shift;
        d_gamma[channel] = scale;
    }
}

/// The gradient of the convolution's output through BatchNorm with batch statistics:
/// γ/√(variance + ε) · (∂L/∂z − ∂L/∂β/M − x̂·∂L/∂γ/M), M elements per channel.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn conv_output_grad<F: Float>(
    grad: &Tensor<F>,
    output: &Tensor<F>,
    normalized: &Tensor<F>,
    variance: &Tensor<F>,
    gamma: &Tensor<F>,
    d_gamma: &Tensor<F>,
    d_beta: &Tensor<F>,
    d_conv: &mut Tensor<F>,
    channels: usize,
    plane: usize,
    epsilon: f32,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= grad.len() {
        terminate!();
    }
    let c = (i / plane) % channels;
    let m = F::cast_from((grad.len() / channels) as u32);
    let dz = elu_input_grad::<F>(grad[i], output[i]);
    let scale = gamma[c] / (variance[c] + F::cast_from(epsilon)).sqrt();
    d_conv[i] = scale * (dz - d_beta[c] / m - normalized[i] * d_gamma[c] / m);
}

/// Channels and pixels per channel of an `[N, C, H, W]` tensor.
fn channels_and_plane(tensor: &CubeTensor) -> (usize, usize) {
    let shape = tensor.meta.shape();
    (shape[1], shape[2] * shape[3])
}

/// An uninitialised tensor on `like`'s device, of its dtype.
fn empty_like(like: &CubeTensor, shape: Shape) -> CubeTensor {
    empty_device_dtype(like.client.clone(), like.device.clone(), shape, like.dtype)
}

/// Launch sizes for one cube per channel of `tensor`.
fn per_channel(tensor: &CubeTensor) -> (CubeCount, CubeDim) {
    (CubeCount::Static(channels_and_plane(tensor).0 as u32, 1, 1), CubeDim::new_1d(REDUCE_THREADS))
}

/// BatchNorm with the batch's statistics and ELU on `conv` (a convolution computed without its
/// `bias`): the output, x̂, and the batch mean (bias included) and biased variance.
pub fn batch_norm_elu(conv: CubeTensor, bias: CubeTensor, gamma: CubeTensor, beta: CubeTensor, epsilon: f64) -> (CubeTensor, CubeTensor, CubeTensor, CubeTensor) {
    let (conv, bias, gamma, beta) = (into_contiguous(conv), into_contiguous(bias), into_contiguous(gamma), into_contiguous(beta));
    let (channels, plane) = channels_and_plane(&conv);
    let dtype = dtype_to_storage_type(conv.dtype);
    let (mean, variance) = (empty_like(&conv, Shape::new([channels])), empty_like(&conv, Shape::new([channels])));
    let (count, dim) = per_channel(&conv);
    channel_statistics::launch(
        &conv.client,
        count,
        dim,
        conv.clone().into_tensor_arg(),
        bias.clone().into_tensor_arg(),
        mean.clone().into_tensor_arg(),
        variance.clone().into_tensor_arg(),
        channels,
        plane,
        REDUCE_THREADS as usize,
        dtype,
    );
    let (output, normalized) = (empty_like(&conv, conv.meta.shape().clone()), empty_like(&conv, conv.meta.shape().clone()));
    let (count, dim) = elementwise(&conv);
    normalize_elu::launch(
        &conv.client,
        count,
        dim,
        conv.clone().into_tensor_arg(),
        bias.into_tensor_arg(),
        mean.clone().into_tensor_arg(),
        variance.clone().into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        output.clone().into_tensor_arg(),
        normalized.clone().into_tensor_arg(),
        channels,
        plane,
        epsilon as f32,
        dtype,
    );
    (output, normalized, mean, variance)
}

/// BatchNorm with running statistics and ELU on `conv` (a convolution with its bias).
pub fn running_batch_norm_elu(conv: CubeTensor, mean: CubeTensor, variance: CubeTensor, gamma: CubeTensor, beta: CubeTensor, epsilon: f64) -> CubeTensor {
    let conv = into_contiguous(conv);
    let (channels, plane) = channels_and_plane(&conv);
    let output = empty_like(&conv, conv.meta.shape().clone());
    let (count, dim) = elementwise(&conv);
    running_normalize_elu::launch(
        &conv.client,
        count,
        dim,
        conv.clone().into_tensor_arg(),
        into_contiguous(mean).into_tensor_arg(),
        into_contiguous(variance).into_tensor_arg(),
        into_contiguous(gamma).into_tensor_arg(),
        into_contiguous(beta).into_tensor_arg(),
        output.clone().into_tensor_arg(),
        channels,
        plane,
        epsilon as f32,
        dtype_to_storage_type(conv.dtype),
    );
    output
}

/// What [`batch_norm_elu`]'s backward pass reads.
pub struct Saved {
    /// γ.
    pub gamma: CubeTensor,
    /// x̂.
    pub normalized: CubeTensor,
    /// The block's output.
    pub output: CubeTensor,
    /// The batch variance.
    pub variance: CubeTensor,
    /// BatchNorm's ε.
    pub epsilon: f64,
}

/// The gradients of the convolution's output, γ and β, given the gradient `grad` of the block's
/// output.
pub fn batch_norm_elu_backward(saved: Saved, grad: CubeTensor) -> (CubeTensor, CubeTensor, CubeTensor) {
    let grad = into_contiguous(grad);
    let (output, normalized) = (into_contiguous(saved.output), into_contiguous(saved.normalized));
    let (channels, plane) = channels_and_plane(&grad);
    let dtype = dtype_to_storage_type(grad.dtype);
    let (d_gamma, d_beta) = (empty_like(&grad, Shape::new([channels])), empty_like(&grad, Shape::new([channels])));
    let (count, dim) = per_channel(&grad);
    scale_shift_grads::launch(
        &grad.client,
        count,
        dim,
        grad.clone().into_tensor_arg(),
        output.clone().into_tensor_arg(),
        normalized.clone().into_tensor_arg(),
        d_gamma.clone().into_tensor_arg(),
        d_beta.clone().into_tensor_arg(),
        channels,
        plane,
        REDUCE_THREADS as usize,
        dtype,
    );
    let d_conv = empty_like(&grad, grad.meta.shape().clone());
    let (count, dim) = elementwise(&grad);
    conv_output_grad::launch(
        &grad.client,
        count,
        dim,
        grad.clone().into_tensor_arg(),
        output.into_tensor_arg(),
        normalized.into_tensor_arg(),
        into_contiguous(saved.variance).into_tensor_arg(),
        into_contiguous(saved.gamma).into_tensor_arg(),
        d_gamma.clone().into_tensor_arg(),
        d_beta.clone().into_tensor_arg(),
        d_conv.clone().into_tensor_arg(),
        channels,
        plane,
        saved.epsilon as f32,
        dtype,
    );
    (d_conv, d_gamma, d_beta)
}

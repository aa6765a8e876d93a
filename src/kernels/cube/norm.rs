//! BatchNorm and ELU at the edges of a convolution, as cubecl kernels: per-channel statistics
//! in two kernels and normalisation with ELU in one more going forward; the per-channel gradient
//! sums in two kernels and the convolution output's gradient in one more going back. burn
//! composes the same arithmetic out of layout copies, reductions and elementwise passes (about
//! ten kernels each way, see `burn-backend`'s `batch_norm_train`).
//!
//! Every map here is channels-last in memory (see [`super::channels_last`]): that is how
//! burn's convolutions read and write them, so no layout copy stands between a convolution and
//! these kernels. A per-channel reduction runs in cubes of 32 channels × 8 pixel lanes over one
//! slice of the pixels each (enough slices to fill a GPU), which write partial results that a
//! second kernel, one thread per channel, merges. Statistics use Welford's update and Chan's
//! merge, so a large mean does not cancel the variance away. ELU has α = 1.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Shape;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::{channels_last, elementwise, nchw_view, nhwc, vector};

/// Channel lanes of a reduction cube (adjacent channels: adjacent addresses).
const CHANNEL_LANES: u32 = 32;
/// Pixel lanes of a reduction cube.
const PIXEL_LANES: u32 = 8;
/// Pixels a reduction cube takes at least, before the pixels are cut into more slices.
const PIXELS_PER_SLICE: usize = 4096;
/// At most this many slices of the pixels.
const MAX_SLICES: usize = 256;

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

/// Pixels in each slice of `pixels` (the cubes along y take one slice each).
#[cube]
fn slice_length(pixels: usize) -> usize {
    let slices = CUBE_COUNT_Y as usize;
    (pixels + slices - 1) / slices
}

/// One past the last pixel of this cube's slice of `pixels`.
#[cube]
fn slice_end(pixels: usize) -> usize {
    let mut end = (CUBE_POS_Y as usize + 1) * slice_length(pixels);
    if end > pixels {
        end = pixels;
    }
    end
}

/// Welford's running (count, mean, M2) of each channel over one slice of the pixels, merged
/// over the cube's pixel lanes: one partial result per slice and channel.
#[cube(launch)]
fn statistics_partials<F: Float>(
    map: &Tensor<F>,
    counts: &mut Tensor<F>,
    means: &mut Tensor<F>,
    squares: &mut Tensor<F>,
    channels: usize,
    #[comptime] lanes: usize,
    #[define(F)] _dtype: ElemType,
) {
    let channel = (CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X) as usize;
    let start = CUBE_POS_Y as usize * slice_length(map.len() / channels);
    let end = slice_end(map.len() / channels);
    let mut count = F::new(0.0);
    let mut mean = F::new(0.0);
    let mut m2 = F::new(0.0);
    if channel < channels {
        let mut pixel = start + UNIT_POS_Y as usize;
        while pixel < end {
            let value = map[pixel * channels + channel];
            count += F::new(1.0);
            let delta = value - mean;
            mean += delta / count;
            m2 += delta * (value - mean);
            pixel += CUBE_DIM_Y as usize;
        }
    }
    let mut shared_count = Shared::<[F]>::new_slice(lanes);
    let mut shared_mean = Shared::<[F]>::new_slice(lanes);
    let mut shared_m2 = Shared::<[F]>::new_slice(lanes);
    let unit = UNIT_POS as usize;
    shared_count[unit] = count;
    shared_mean[unit] = mean;
    shared_m2[unit] = m2;
    sync_cube();
    let mut stride = (CUBE_DIM_Y / 2) as usize;
    while stride > 0 {
        if (UNIT_POS_Y as usize) < stride {
            let other = unit + stride * CUBE_DIM_X as usize;
            let (na, nb) = (shared_count[unit], shared_count[other]);
            let n = na + nb;
            if n > F::new(0.0) {
                let delta = shared_mean[other] - shared_mean[unit];
                shared_mean[unit] = shared_mean[unit] + delta * nb / n;
                shared_m2[unit] = shared_m2[unit] + shared_m2[other] + delta * delta * na * nb / n;
                shared_count[unit] = n;
            }
        }
        sync_cube();
        stride /= 2;
    }
    if UNIT_POS_Y == 0 && channel < channels {
        let at = CUBE_POS_Y as usize * channels + channel;
        counts[at] = shared_count[unit];
        means[at] = shared_mean[unit];
        squares[at] = shared_m2[unit];
    }
}

/// One thread per channel: the slices' partial statistics merged into the channel's mean
/// (`centre`, of the map, and `mean`, plus `bias`: the convolution's bias left out of the map)
/// and biased variance.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn statistics_merge<F: Float>(
    counts: &Tensor<F>,
    means: &Tensor<F>,
    squares: &Tensor<F>,
    bias: &Tensor<F>,
    centre: &mut Tensor<F>,
    mean: &mut Tensor<F>,
    variance: &mut Tensor<F>,
    channels: usize,
    #[define(F)] _dtype: ElemType,
) {
    let channel = ABSOLUTE_POS;
    if channel >= channels {
        terminate!();
    }
    let mut n = F::new(0.0);
    let mut mu = F::new(0.0);
    let mut m2 = F::new(0.0);
    let mut at = channel;
    while at < counts.len() {
        let nb = counts[at];
        let total = n + nb;
        if total > F::new(0.0) {
            let delta = means[at] - mu;
            mu += delta * nb / total;
            m2 += squares[at] + delta * delta * n * nb / total;
            n = total;
        }
        at += channels;
    }
    centre[channel] = mu;
    mean[channel] = mu + bias[channel];
    variance[channel] = m2 / n;
}

/// `value` standardised: (value − centre) / √(variance + ε).
#[cube]
fn standardized<F: Float>(value: F, centre: F, variance: F, epsilon: f32) -> F {
    (value - centre) / (variance + F::cast_from(epsilon)).sqrt()
}

/// x̂ = (map − centre) / √(variance + ε) and ELU(γ·x̂ + β), one element per thread.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn normalize_elu<F: Float>(
    map: &Tensor<F>,
    centre: &Tensor<F>,
    variance: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    output: &mut Tensor<F>,
    normalized: &mut Tensor<F>,
    channels: usize,
    epsilon: f32,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= map.len() {
        terminate!();
    }
    let c = i % channels;
    let x_hat = standardized::<F>(map[i], centre[c], variance[c], epsilon);
    normalized[i] = x_hat;
    output[i] = elu::<F>(gamma[c] * x_hat + beta[c]);
}

/// ELU(γ·(map − mean)/√(variance + ε) + β) with running statistics: the block at inference.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn running_normalize_elu<F: Float>(
    map: &Tensor<F>,
    mean: &Tensor<F>,
    variance: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    output: &mut Tensor<F>,
    channels: usize,
    epsilon: f32,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= map.len() {
        terminate!();
    }
    let c = i % channels;
    output[i] = elu::<F>(gamma[c] * standardized::<F>(map[i], mean[c], variance[c], epsilon) + beta[c]);
}

/// Σ ∂L/∂z and Σ ∂L/∂z·x̂ of each channel over one slice of the pixels (z = γ·x̂ + β is ELU's
/// input), summed over the cube's pixel lanes: one partial result per slice and channel.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn grad_partials<F: Float>(
    grad: &Tensor<F>,
    output: &Tensor<F>,
    normalized: &Tensor<F>,
    shifts: &mut Tensor<F>,
    scales: &mut Tensor<F>,
    channels: usize,
    #[comptime] lanes: usize,
    #[define(F)] _dtype: ElemType,
) {
    let channel = (CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X) as usize;
    let start = CUBE_POS_Y as usize * slice_length(grad.len() / channels);
    let end = slice_end(grad.len() / channels);
    let mut shift = F::new(0.0);
    let mut scale = F::new(0.0);
    if channel < channels {
        let mut pixel = start + UNIT_POS_Y as usize;
        while pixel < end {
            let at = pixel * channels + channel;
            let dz = elu_input_grad::<F>(grad[at], output[at]);
            shift += dz;
            scale += dz * normalized[at];
            pixel += CUBE_DIM_Y as usize;
        }
    }
    let mut shared_shift = Shared::<[F]>::new_slice(lanes);
    let mut shared_scale = Shared::<[F]>::new_slice(lanes);
    let unit = UNIT_POS as usize;
    shared_shift[unit] = shift;
    shared_scale[unit] = scale;
    sync_cube();
    let mut stride = (CUBE_DIM_Y / 2) as usize;
    while stride > 0 {
        if (UNIT_POS_Y as usize) < stride {
            let other = unit + stride * CUBE_DIM_X as usize;
            shared_shift[unit] = shared_shift[unit] + shared_shift[other];
            shared_scale[unit] = shared_scale[unit] + shared_scale[other];
        }
        sync_cube();
        stride /= 2;
    }
    if UNIT_POS_Y == 0 && channel < channels {
        let at = CUBE_POS_Y as usize * channels + channel;
        shifts[at] = shared_shift[unit];
        scales[at] = shared_scale[unit];
    }
}

/// One thread per channel: ∂L/∂β and ∂L/∂γ, the slices' partial sums added up.
#[cube(launch)]
fn grad_merge<F: Float>(shifts: &Tensor<F>, scales: &Tensor<F>, d_gamma: &mut Tensor<F>, d_beta: &mut Tensor<F>, channels: usize, #[define(F)] _dtype: ElemType) {
    let channel = ABSOLUTE_POS;
    if channel >= channels {
        terminate!();
    }
    let mut shift = F::new(0.0);
    let mut scale = F::new(0.0);
    let mut at = channel;
    while at < shifts.len() {
        shift += shifts[at];
        scale += scales[at];
        at += channels;
    }
    d_beta[channel] = shift;
    d_gamma[channel] = scale;
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
    d_map: &mut Tensor<F>,
    channels: usize,
    epsilon: f32,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= grad.len() {
        terminate!();
    }
    let c = i % channels;
    let m = F::cast_from((grad.len() / channels) as u32);
    let dz = elu_input_grad::<F>(grad[i], output[i]);
    let scale = gamma[c] / (variance[c] + F::cast_from(epsilon)).sqrt();
    d_map[i] = scale * (dz - d_beta[c] / m - normalized[i] * d_gamma[c] / m);
}

/// An uninitialised tensor on `like`'s device, of its dtype.
fn empty_like(like: &CubeTensor, shape: Shape) -> CubeTensor {
    empty_device_dtype(like.client.clone(), like.device.clone(), shape, like.dtype)
}

/// How a per-channel reduction over the channels-last `map` is cut: its cube count and size,
/// and the number of pixel slices (each writes one partial result per channel).
fn reduction(map: &CubeTensor) -> (CubeCount, CubeDim, usize) {
    let shape = map.meta.shape();
    let (channels, pixels) = (shape[3], shape[0] * shape[1] * shape[2]);
    let slices = pixels.div_ceil(PIXELS_PER_SLICE).clamp(1, MAX_SLICES);
    let blocks = channels.div_ceil(CHANNEL_LANES as usize);
    (CubeCount::Static(blocks as u32, slices as u32, 1), CubeDim::new_2d(CHANNEL_LANES, PIXEL_LANES), slices)
}


/// BatchNorm with the batch's statistics and ELU on `map` (a convolution's output, computed
/// without its `bias`): the output and x̂ (both channels-last), and the batch mean (bias
/// included) and biased variance.
pub fn batch_norm_elu(map: CubeTensor, bias: CubeTensor, gamma: CubeTensor, beta: CubeTensor, epsilon: f64) -> (CubeTensor, CubeTensor, CubeTensor, CubeTensor) {
    let map = nhwc(channels_last(map));
    let channels = map.meta.shape()[3];
    let dtype = dtype_to_storage_type(map.dtype);
    let lanes = (CHANNEL_LANES * PIXEL_LANES) as usize;
    let (count, dim, slices) = reduction(&map);
    let partial = || empty_like(&map, Shape::new([slices * channels]));
    let (counts, means, squares) = (partial(), partial(), partial());
    statistics_partials::launch(
        &map.client,
        count,
        dim,
        map.clone().into_tensor_arg(),
        counts.clone().into_tensor_arg(),
        means.clone().into_tensor_arg(),
        squares.clone().into_tensor_arg(),
        channels,
        lanes,
        dtype,
    );
    let per_channel = || empty_like(&map, Shape::new([channels]));
    let (centre, mean, variance) = (per_channel(), per_channel(), per_channel());
    let (count, dim) = elementwise(&map, channels);
    statistics_merge::launch(
        &map.client,
        count,
        dim,
        counts.into_tensor_arg(),
        means.into_tensor_arg(),
        squares.into_tensor_arg(),
        vector(bias).into_tensor_arg(),
        centre.clone().into_tensor_arg(),
        mean.clone().into_tensor_arg(),
        variance.clone().into_tensor_arg(),
        channels,
        dtype,
    );
    let (output, normalized) = (empty_like(&map, map.meta.shape().clone()), empty_like(&map, map.meta.shape().clone()));
    let (count, dim) = elementwise(&map, map.meta.shape().num_elements());
    normalize_elu::launch(
        &map.client,
        count,
        dim,
        map.clone().into_tensor_arg(),
        centre.into_tensor_arg(),
        variance.clone().into_tensor_arg(),
        vector(gamma).into_tensor_arg(),
        vector(beta).into_tensor_arg(),
        output.clone().into_tensor_arg(),
        normalized.clone().into_tensor_arg(),
        channels,
        epsilon as f32,
        dtype,
    );
    (nchw_view(output), nchw_view(normalized), mean, variance)
}

/// BatchNorm with running statistics and ELU on `map` (a convolution with its bias); the output
/// is channels-last.
pub fn running_batch_norm_elu(map: CubeTensor, mean: CubeTensor, variance: CubeTensor, gamma: CubeTensor, beta: CubeTensor, epsilon: f64) -> CubeTensor {
    let map = nhwc(channels_last(map));
    let channels = map.meta.shape()[3];
    let output = empty_like(&map, map.meta.shape().clone());
    let (count, dim) = elementwise(&map, map.meta.shape().num_elements());
    running_normalize_elu::launch(
        &map.client,
        count,
        dim,
        map.clone().into_tensor_arg(),
        vector(mean).into_tensor_arg(),
        vector(variance).into_tensor_arg(),
        vector(gamma).into_tensor_arg(),
        vector(beta).into_tensor_arg(),
        output.clone().into_tensor_arg(),
        channels,
        epsilon as f32,
        dtype_to_storage_type(map.dtype),
    );
    nchw_view(output)
}

/// What [`batch_norm_elu`]'s backward pass reads.
pub struct Saved {
    /// γ.
    pub gamma: CubeTensor,
    /// x̂, as [`batch_norm_elu`] returned it.
    pub normalized: CubeTensor,
    /// The block's output, as [`batch_norm_elu`] returned it.
    pub output: CubeTensor,
    /// The batch variance.
    pub variance: CubeTensor,
    /// BatchNorm's ε.
    pub epsilon: f64,
}

/// The gradients of the convolution's output (channels-last), γ and β, given the gradient
/// `grad` of the block's output.
pub fn batch_norm_elu_backward(saved: Saved, grad: CubeTensor) -> (CubeTensor, CubeTensor, CubeTensor) {
    let grad = nhwc(channels_last(grad));
    let (output, normalized) = (nhwc(channels_last(saved.output)), nhwc(channels_last(saved.normalized)));
    let channels = grad.meta.shape()[3];
    let dtype = dtype_to_storage_type(grad.dtype);
    let (count, dim, slices) = reduction(&grad);
    let (shifts, scales) = (empty_like(&grad, Shape::new([slices * channels])), empty_like(&grad, Shape::new([slices * channels])));
    grad_partials::launch(
        &grad.client,
        count,
        dim,
        grad.clone().into_tensor_arg(),
        output.clone().into_tensor_arg(),
        normalized.clone().into_tensor_arg(),
        shifts.clone().into_tensor_arg(),
        scales.clone().into_tensor_arg(),
        channels,
        (CHANNEL_LANES * PIXEL_LANES) as usize,
        dtype,
    );
    let (d_gamma, d_beta) = (empty_like(&grad, Shape::new([channels])), empty_like(&grad, Shape::new([channels])));
    let (count, dim) = elementwise(&grad, channels);
    grad_merge::launch(
        &grad.client,
        count,
        dim,
        shifts.into_tensor_arg(),
        scales.into_tensor_arg(),
        d_gamma.clone().into_tensor_arg(),
        d_beta.clone().into_tensor_arg(),
        channels,
        dtype,
    );
    let d_map = empty_like(&grad, grad.meta.shape().clone());
    let (count, dim) = elementwise(&grad, grad.meta.shape().num_elements());
    conv_output_grad::launch(
        &grad.client,
        count,
        dim,
        grad.clone().into_tensor_arg(),
        output.into_tensor_arg(),
        normalized.into_tensor_arg(),
        vector(saved.variance).into_tensor_arg(),
        vector(saved.gamma).into_tensor_arg(),
        d_gamma.clone().into_tensor_arg(),
        d_beta.clone().into_tensor_arg(),
        d_map.clone().into_tensor_arg(),
        channels,
        saved.epsilon as f32,
        dtype,
    );
    (nchw_view(d_map), d_gamma, d_beta)
}

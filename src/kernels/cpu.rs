//! The block's arithmetic on plain `f32` slices in NCHW order: a 3×3 convolution written as
//! matrix products over shifted copies of its input's rows, in both directions of the backward
//! pass too (stride 1 in [`super::same`]; stride 2 on parity planes in [`super::down`], whose
//! kernels run the other way round for the transposed convolution; resize-up phase by phase in
//! [`super::resize`]); BatchNorm with the batch's own statistics; ELU. No im2col matrix is built.
//!
//! Work is split into a fixed number of image chunks (one per rayon thread), so sums are taken
//! in the same order on every run: a resumed run repeats an uninterrupted one exactly.

use gemm::Parallelism;
use multiversion::multiversion;
use rayon::prelude::*;

use super::Sampling;
use super::resize::{self, Dims};
use super::{down, same};

/// Shape of an NCHW tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nchw {
    /// Images.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Nchw {
    fn plane(&self) -> usize {
        self.h * self.w
    }

    fn image(&self) -> usize {
        self.c * self.plane()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.n * self.image()
    }

    /// Whether the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Floats of one tile of shifted rows (1 MiB).
pub(super) const TILE_FLOATS: usize = 1 << 18;

/// The tiles of `tile` rows (the last one shorter) that cover rows `0..rows`.
pub(super) fn row_tiles(rows: usize, tile: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..rows).step_by(tile.max(1)).map(move |start| start..(start + tile).min(rows))
}

/// A row-major or transposed view of a matrix for [`matmul`].
#[derive(Clone, Copy)]
pub(super) struct Mat<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    /// `data` as a row-major matrix with `cols` columns.
    pub(super) fn rows(data: &'a [f32], cols: usize) -> Self {
        Self { data, row_stride: cols, col_stride: 1 }
    }

    /// `data` read with the given strides between rows and between columns.
    pub(super) fn strided(data: &'a [f32], row_stride: usize, col_stride: usize) -> Self {
        Self { data, row_stride, col_stride }
    }

    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.row_stride + (cols - 1) * self.col_stride < self.data.len()
    }
}

/// `dst (m × n, row-major) = [dst +] a (m × k) · b (k × n)`.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(dst: &mut [f32], m: usize, n: usize, k: usize, accumulate: bool, a: Mat, b: Mat, parallelism: Parallelism) {
    matmul_into(dst, n, m, n, k, accumulate, a, b, parallelism);
}

/// `dst (m × n, rows `dst_row_stride` apart) = [dst +] a (m × k) · b (k × n)`: a block of
/// columns of a wider matrix.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul_into(dst: &mut [f32], dst_row_stride: usize, m: usize, n: usize, k: usize, accumulate: bool, a: Mat, b: Mat, parallelism: Parallelism) {
    assert!(m == 0 || n == 0 || (m - 1) * dst_row_stride + n <= dst.len(), "matrix product out of bounds");
    assert!(a.fits(m, k) && b.fits(k, n), "matrix product out of bounds");
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    // SAFETY: the asserts above keep every index the product reads or writes inside the slices,
    // and `dst` does not overlap `a` or `b` (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// How the images of a batch are shared among threads: a fixed number of chunks, so that the
/// order of every sum is the same from run to run.
pub(super) struct Chunking {
    pub(super) images_per_chunk: usize,
    /// Threads left for each matrix product (more than one only when there are fewer images
    /// than threads, as when the window draws one face).
    pub(super) parallelism: Parallelism,
}

impl Chunking {
    /// One chunk per thread when the images share out evenly (as training batches do);
    /// otherwise (a backward pass through one image, say) one chunk whose matrix products use
    /// every thread, so no thread waits on another's extra image.
    pub(super) fn new(images: usize) -> Self {
        let threads = rayon::current_num_threads().max(1);
        if images >= threads && (images.is_multiple_of(threads) || images >= 4 * threads) {
            Self { images_per_chunk: images.div_ceil(threads), parallelism: Parallelism::None }
        } else {
            Self { images_per_chunk: images.max(1), parallelism: Parallelism::Rayon(threads) }
        }
    }
}

/// What the forward pass keeps for the backward pass, and its output.
pub struct Forward {
    /// ELU(γ·x̂ + β), the block's output.
    pub output: Vec<f32>,
    /// The normalised convolution output x̂.
    pub normalized: Vec<f32>,
    /// Per-channel batch mean of the convolution output.
    pub mean: Vec<f32>,
    /// Per-channel biased batch variance of the convolution output.
    pub variance: Vec<f32>,
    /// Shape of the output.
    pub shape: Nchw,
}

/// Gradients of the block's inputs.
pub struct Gradients {
    /// Of the input, when asked for.
    pub input: Option<Vec<f32>>,
    /// Of the convolution weight, when asked for.
    pub weight: Option<Vec<f32>>,
    /// Of BatchNorm's scale γ.
    pub gamma: Vec<f32>,
    /// Of BatchNorm's shift β.
    pub beta: Vec<f32>,
}

/// A block's convolution: its sampling, its output channels and its weight
/// (`[out, in, 3, 3]`, or `[in, out, 3, 3]` for the transposed convolution).
#[derive(Clone, Copy)]
pub struct Conv<'a> {
    /// How the block samples its input.
    pub sampling: Sampling,
    /// Output channels.
    pub out_channels: usize,
    /// The weight.
    pub weight: &'a [f32],
}

impl Conv<'_> {
    fn output_shape(&self, input: Nchw) -> Nchw {
        Nchw { n: input.n, c: self.out_channels, h: self.sampling.output_size(input.h), w: self.sampling.output_size(input.w) }
    }

    /// The convolution alone, `z = conv(x)`. The output's (image, channel) planes are shared
    /// out among the threads in equal contiguous runs — whole images when they share evenly, as
    /// training batches do, and otherwise (one face encoded, nine poses drawn) an image's output
    /// channels split between neighbouring threads — so no thread waits on another's extra image. Each
    /// run is computed one image and one tile of rows at a time, and `epilogue` applied to each
    /// tile's output while it is still in cache.
    fn forward(&self, x: &[f32], shape: Nchw, epilogue: Epilogue) -> (Vec<f32>, Nchw) {
        let out = self.output_shape(shape);
        let mut z = vec![0.0f32; out.len()];
        let plan = ForwardPlan {
            conv: self,
            weights: match self.sampling {
                Sampling::Same | Sampling::Down => ForwardWeights::Rows(same::row_weights(self.weight, out.c, shape.c)),
                Sampling::ResizeUp => ForwardWeights::Phases(resize::row_weights(self.weight, out.c, shape.c)),
                Sampling::TransposedUp => ForwardWeights::Adjoint(down::adjoint_weights(self.weight, shape.c, out.c)),
            },
            input: shape,
            output: out,
            epilogue,
        };
        let planes = out.n * out.c;
        let threads = rayon::current_num_threads().clamp(1, planes.max(1));
        let mut shares = Vec::with_capacity(threads);
        let mut rest = z.as_mut_slice();
        for t in 0..threads {
            let run = t * planes / threads..(t + 1) * planes / threads;
            let (share, tail) = rest.split_at_mut(run.len() * out.plane());
            shares.push((run, share));
            rest = tail;
        }
        shares.into_par_iter().for_each(|(run, share)| plan.run(x, run, share));
        (z, out)
    }

    /// Gradients of the input and of the weight of `z = conv(x)`, given that of `z`.
    fn backward(&self, x: &[f32], shape: Nchw, dz: &[f32], need_input: bool, need_weight: bool) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        let out = self.output_shape(shape);
        let chunking = Chunking::new(shape.n);
        let (ci, co) = (shape.c, out.c);
        let par = chunking.parallelism;
        let mut dx = need_input.then(|| vec![0.0f32; shape.len()]);
        let weight_len = ci * co * 9;
        let chunk_x = chunking.images_per_chunk * shape.image();
        let chunk_z = chunking.images_per_chunk * out.image();
        let chunks = shape.n.div_ceil(chunking.images_per_chunk);
        let mut dx_chunks: Vec<Option<&mut [f32]>> = match dx.as_mut() {
            Some(dx) => dx.chunks_mut(chunk_x).map(Some).collect(),
            None => (0..chunks).map(|_| None).collect(),
        };
        let resize_adjoint = (self.sampling == Sampling::ResizeUp && need_input).then(|| resize::adjoint_weights(self.weight, co, ci));
        let row_adjoint = match self.sampling {
            _ if !need_input => None,
            Sampling::Same => Some(RowAdjoint::Same(same::adjoint_row_weights(self.weight, co, ci))),
            Sampling::Down => Some(RowAdjoint::Down(down::adjoint_weights(self.weight, co, ci))),
            Sampling::TransposedUp => Some(RowAdjoint::Transposed(same::row_weights(self.weight, ci, co))),
            Sampling::ResizeUp => None,
        };
        let dims = Dims { ci, co, h: shape.h, w: shape.w };
        let partial_weights: Vec<Option<Vec<f32>>> = dx_chunks
            .par_iter_mut()
            .zip(x.par_chunks(chunk_x))
            .zip(dz.par_chunks(chunk_z))
            .map(|((dx_chunk, x_chunk), dz_chunk)| {
                let images = x_chunk.chunks(shape.image()).zip(dz_chunk.chunks(out.image())).enumerate();
                if self.sampling == Sampling::ResizeUp {
                    let mut dweight = need_weight.then(|| vec![0.0f32; weight_len]);
                    let mut scratch = resize::BackwardScratch::default();
                    let mut drows = need_weight.then(|| std::array::from_fn(|_| vec![0.0f32; 2 * co * 2 * ci]));
                    for (i, (x_image, dz_image)) in images {
                        let dx_image = dx_chunk.as_deref_mut().map(|dx| &mut dx[i * shape.image()..(i + 1) * shape.image()]);
                        resize::backward_image(x_image, dims, resize_adjoint.as_ref(), dz_image, dx_image, drows.as_mut(), &mut scratch, par);
                    }
                    if let (Some(dweight), Some(drows)) = (dweight.as_mut(), &drows) {
                        resize::add_row_gradients(drows, co, ci, dweight);
                    }
                    return dweight;
                }
                // The others keep the weight gradient in kernel-row order (`same::row_weights`).
                let (mut buffer, mut scratch) = (Vec::new(), down::InputGradScratch::default());
                let mut drows = need_weight.then(|| vec![0.0f32; weight_len]);
                let (x_dims, z_dims) = ((ci, shape.h, shape.w), (co, out.h, out.w));
                for (i, (x_image, dz_image)) in images {
                    if let (Some(dx_chunk), Some(adjoint)) = (dx_chunk.as_deref_mut(), &row_adjoint) {
                        let dx_image = &mut dx_chunk[i * shape.image()..(i + 1) * shape.image()];
                        match adjoint {
                            RowAdjoint::Same(rows) => same::forward_image(dz_image, z_dims, rows, ci, 0..ci, dx_image, &mut buffer, par, |_, _| {}),
                            RowAdjoint::Down(matrices) => down::input_grad_image(dz_image, x_dims, co, matrices, 0..ci, dx_image, &mut scratch, par, |_, _| {}),
                            RowAdjoint::Transposed(rows) => down::forward_image(dz_image, z_dims, rows, ci, 0..ci, dx_image, &mut buffer, par, |_, _| {}),
                        }
                    }
                    if let Some(drows) = drows.as_mut() {
                        match self.sampling {
                            Sampling::Same => same::weight_grad_image(x_image, x_dims, dz_image, co, drows, &mut buffer, par),
                            Sampling::Down => down::weight_grad_image(x_image, x_dims, dz_image, co, drows, &mut buffer, par),
                            // The transposed convolution (resize returned above): the stride-2
                            // weight gradient with input and output gradient swapped.
                            _ => down::weight_grad_image(dz_image, z_dims, x_image, ci, drows, &mut buffer, par),
                        }
                    }
                }
                drows.map(|rows| match self.sampling {
                    Sampling::TransposedUp => same::weight_from_rows(&rows, ci, co),
                    _ => same::weight_from_rows(&rows, co, ci),
                })
            })
            .collect();
        let dweight = need_weight.then(|| {
            let mut total = vec![0.0f32; weight_len];
            for partial in partial_weights.into_iter().flatten() {
                total.iter_mut().zip(partial).for_each(|(t, p)| *t += p);
            }
            total
        });
        (dx, dweight)
    }
}

/// Working memory a thread reuses from image to image of a forward convolution: a tile of
/// shifted rows and a tile of outputs, or the transposed convolution's buffers. Every use
/// overwrites what it reads, so it is never cleared.
#[derive(Default)]
pub(super) struct Scratch {
    pub(super) col: Vec<f32>,
    pub(super) values: Vec<f32>,
    transposed: down::InputGradScratch,
}

impl Scratch {
    /// The first `len` floats of `buffer`, grown (zeroed) if it is shorter.
    pub(super) fn sized(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
        if buffer.len() < len {
            buffer.resize(len, 0.0);
        }
        &mut buffer[..len]
    }
}

/// What follows a forward convolution on every output value, applied tile by tile.
#[derive(Clone, Copy)]
enum Epilogue<'a> {
    /// Nothing: the raw convolution (BatchNorm with batch statistics needs all of it first).
    None,
    /// The bias, per output channel.
    Bias(&'a [f32]),
    /// `ELU(scale·z + shift)` with `(scale, shift)` per output channel: bias and BatchNorm with
    /// running statistics folded into one affine map.
    AffineElu(&'a [(f32, f32)]),
}

impl Epilogue<'_> {
    /// Applies itself to `values`, outputs of `channel`.
    fn apply(&self, channel: usize, values: &mut [f32]) {
        match *self {
            Epilogue::None => {}
            Epilogue::Bias(bias) => values.iter_mut().for_each(|v| *v += bias[channel]),
            Epilogue::AffineElu(affine) => affine_elu_plane(values, affine[channel].0, affine[channel].1),
        }
    }
}

/// The weight arranged for the input gradient of a convolution that keeps its weight gradient
/// in kernel-row order.
enum RowAdjoint {
    /// Stride 1: `dx = conv(dz, W′)`, W′ the flipped transpose, in kernel rows.
    Same(Vec<f32>),
    /// Stride 2: the parity planes' matrices ([`down::adjoint_weights`]).
    Down(Vec<Vec<f32>>),
    /// The transposed convolution, the adjoint of the stride-2 convolution from its output to
    /// its input with the same weight: `dx` is that convolution of `dz`, in kernel rows.
    Transposed(Vec<f32>),
}

/// The weights of a forward convolution laid out for its sampling's kernel.
enum ForwardWeights {
    /// Kernel-row weights over shifted rows ([`same`], and [`down`] on parity planes).
    Rows(Vec<f32>),
    /// One row-weight matrix per output phase ([`resize`]).
    Phases([Vec<f32>; 4]),
    /// The transposed convolution's weight arranged as the adjoint of a stride-2 convolution
    /// ([`down::adjoint_weights`]).
    Adjoint(Vec<Vec<f32>>),
}

/// What a forward convolution shares among its threads: the convolution, its weights laid out
/// for its kernel and the shapes it maps between.
struct ForwardPlan<'a> {
    conv: &'a Conv<'a>,
    weights: ForwardWeights,
    input: Nchw,
    output: Nchw,
    epilogue: Epilogue<'a>,
}

impl ForwardPlan<'_> {
    /// The output planes `run` (numbered image-major, `image · channels + channel`) into `share`.
    fn run(&self, x: &[f32], run: std::ops::Range<usize>, share: &mut [f32]) {
        let (co, plane) = (self.output.c, self.output.plane());
        let mut rest = share;
        let mut scratch = Scratch::default();
        let mut at = run.start;
        while at < run.end {
            let (image, first) = (at / co, at % co);
            let channels = first..co.min(first + run.end - at);
            let (part, tail) = rest.split_at_mut(channels.len() * plane);
            self.image_channels(&x[image * self.input.image()..][..self.input.image()], channels.clone(), part, &mut scratch);
            rest = tail;
            at += channels.len();
        }
    }

    /// Output channels `channels` of one image (`x` its input) into `z` (those channels' planes).
    fn image_channels(&self, x: &[f32], channels: std::ops::Range<usize>, z: &mut [f32], scratch: &mut Scratch) {
        let (ci, co) = (self.input.c, self.output.c);
        let par = Parallelism::None;
        let epilogue = |j: usize, values: &mut [f32]| self.epilogue.apply(channels.start + j, values);
        let dims = (ci, self.input.h, self.input.w);
        match &self.weights {
            ForwardWeights::Phases(phases) => {
                let dims = Dims { ci, co, h: self.input.h, w: self.input.w };
                resize::forward_image(x, dims, phases, channels.clone(), z, scratch, epilogue);
            }
            ForwardWeights::Rows(weights) if self.conv.sampling == Sampling::Down => {
                down::forward_image(x, dims, weights, co, channels.clone(), z, &mut scratch.col, par, epilogue);
            }
            ForwardWeights::Rows(weights) => same::forward_image(x, dims, weights, co, channels.clone(), z, &mut scratch.col, par, epilogue),
            ForwardWeights::Adjoint(adjoint) => {
                // The stride-2 convolution's input gradient, `x` the output gradient.
                let dims = (co, self.output.h, self.output.w);
                down::input_grad_image(x, dims, ci, adjoint, channels.clone(), z, &mut scratch.transposed, par, epilogue);
            }
        }
    }
}

/// ELU with α = 1, written so that loops over it vectorise.
#[inline(always)]
fn elu(a: f32) -> f32 {
    let negative = exp(a.min(0.0)) - 1.0;
    if a > 0.0 { a } else { negative }
}

/// `e^x` to within a few 1e-7 relative error, branch-free so that loops over it vectorise:
/// `x = k·ln 2 + r` with `|r| ≤ ln 2 / 2`, `e^r` by its Taylor polynomial of degree 7, and
/// `2^k` written into the exponent bits. Inputs are clamped to [−87, 88].
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that k·ln 2 is exact for the k that occur.
    const LN2_HIGH: f32 = 0.693_145_75;
    const LN2_LOW: f32 = 1.428_606_8e-6;
    // Adding 1.5·2²³ rounds a float of magnitude below 2²² to an integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let rounded = x * LOG2_E + ROUND;
    let k = rounded - ROUND;
    let r = x - k * LN2_HIGH - k * LN2_LOW;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // k sits in the low mantissa bits of `rounded`: read it from the bits rather than with a
    // float-to-int cast, which Rust saturates and so keeps the loop from vectorising.
    let k_bits = rounded.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    p * f32::from_bits((k_bits + 127).wrapping_shl(23) as u32)
}


/// Lanes of the sums below: each lane sums a strided share of a plane in `f32`, and the lanes
/// are added in `f64`, always in the same order (so every CPU gets the same result).
const LANES: usize = 16;

/// The lanes' total, in a fixed order.
fn lanes_total(lanes: &[f32; LANES]) -> f64 {
    lanes.iter().map(|&l| l as f64).sum()
}

/// `Σ v` over one plane.
#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn plane_sum(values: &[f32]) -> f64 {
    let mut lanes = [0.0f32; LANES];
    let (whole, tail) = values.as_chunks::<LANES>();
    for chunk in whole {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    lanes_total(&lanes) + tail.iter().map(|&v| v as f64).sum::<f64>()
}

/// `Σ (v − centre)²` over one plane.
#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn plane_squared_deviation(values: &[f32], centre: f32) -> f64 {
    let mut lanes = [0.0f32; LANES];
    let (whole, tail) = values.as_chunks::<LANES>();
    for chunk in whole {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += (v - centre) * (v - centre);
        }
    }
    lanes_total(&lanes) + tail.iter().map(|&v| ((v - centre) * (v - centre)) as f64).sum::<f64>()
}

/// One plane of the forward pass: `z` becomes x̂ = (z − mean)·inv_std and `y` = ELU(γ·x̂ + β).
#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn normalize_plane(z: &mut [f32], y: &mut [f32], mean: f32, inv_std: f32, gamma: f32, beta: f32) {
    for (y, z) in y.iter_mut().zip(z.iter_mut()) {
        let normalized = (*z - mean) * inv_std;
        *z = normalized;
        *y = elu(gamma * normalized + beta);
    }
}

/// One plane of inference: `values` becomes ELU(scale·v + shift).
#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn affine_elu_plane(values: &mut [f32], scale: f32, shift: f32) {
    for v in values.iter_mut() {
        *v = elu(scale * *v + shift);
    }
}

/// dL/da from dL/dy, through ELU, from its output: 1 above zero, ELU(a) + 1 below.
#[inline(always)]
fn activation_grad(dy: f32, y: f32) -> f32 {
    let below = dy * (y + 1.0);
    if y > 0.0 { dy } else { below }
}

/// `(Σ da, Σ da·x̂)` over one plane.
#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn plane_grad_sums(dy: &[f32], y: &[f32], normalized: &[f32]) -> (f64, f64) {
    let (mut beta, mut gamma) = ([0.0f32; LANES], [0.0f32; LANES]);
    // Arrays of `LANES` (no bounds checks), and one sum per pass: a pass that kept both sums
    // compiled to scalar code.
    let ((dy_whole, dy_tail), (y_whole, y_tail), (xhat_whole, xhat_tail)) = (dy.as_chunks::<LANES>(), y.as_chunks::<LANES>(), normalized.as_chunks::<LANES>());
    for (dy, y) in dy_whole.iter().zip(y_whole) {
        for lane in 0..LANES {
            beta[lane] += activation_grad(dy[lane], y[lane]);
        }
    }
    for ((dy, y), xhat) in dy_whole.iter().zip(y_whole).zip(xhat_whole) {
        for lane in 0..LANES {
            gamma[lane] += activation_grad(dy[lane], y[lane]) * xhat[lane];
        }
    }
    let (mut beta_tail, mut gamma_tail) = (0.0f64, 0.0f64);
    for ((&dy, &y), &xhat) in dy_tail.iter().zip(y_tail).zip(xhat_tail) {
        let da = activation_grad(dy, y);
        beta_tail += da as f64;
        gamma_tail += (da * xhat) as f64;
    }
    (lanes_total(&beta) + beta_tail, lanes_total(&gamma) + gamma_tail)
}

/// One plane of dL/dz: `scale·(da − mean(da) − x̂·mean(da·x̂))`.
#[multiversion(targets("x86_64+avx512f+avx512vl+fma", "x86_64+avx2+fma"))]
fn plane_input_grad(dz: &mut [f32], dy: &[f32], y: &[f32], normalized: &[f32], scale: f32, mean_da: f32, mean_da_xhat: f32) {
    for (((dz, &dy), &y), &xhat) in dz.iter_mut().zip(dy).zip(y).zip(normalized) {
        *dz = scale * (activation_grad(dy, y) - mean_da - xhat * mean_da_xhat);
    }
}

/// `f(channel)` for every channel, in parallel, in channel order.
fn per_channel<T: Send>(channels: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    (0..channels).into_par_iter().map(f).collect()
}

/// Conv → BatchNorm (batch statistics) → ELU for a batch `x` of `shape`.
pub fn forward(x: &[f32], shape: Nchw, conv: Conv, gamma: &[f32], beta: &[f32], epsilon: f64) -> Forward {
    let (mut z, out) = conv.forward(x, shape, Epilogue::None);
    let (plane, image) = (out.plane(), out.image());
    let count = (out.n * plane) as f64;
    let stats: Vec<(f32, f32)> = per_channel(out.c, |c| {
        let planes = || (0..out.n).map(|n| &z[n * image + c * plane..][..plane]);
        let mean = planes().map(plane_sum).sum::<f64>() / count;
        let centre = mean as f32;
        let variance = planes().map(|p| plane_squared_deviation(p, centre)).sum::<f64>() / count;
        (mean as f32, variance as f32)
    });
    let inv_std: Vec<f32> = stats.iter().map(|&(_, variance)| 1.0 / (variance + epsilon as f32).sqrt()).collect();
    let mut output = vec![0.0f32; out.len()];
    output.par_chunks_mut(image).zip(z.par_chunks_mut(image)).for_each(|(y_image, z_image)| {
        for (c, (y_plane, z_plane)) in y_image.chunks_mut(plane).zip(z_image.chunks_mut(plane)).enumerate() {
            normalize_plane(z_plane, y_plane, stats[c].0, inv_std[c], gamma[c], beta[c]);
        }
    });
    Forward {
        output,
        normalized: z,
        mean: stats.iter().map(|s| s.0).collect(),
        variance: stats.iter().map(|s| s.1).collect(),
        shape: out,
    }
}

/// BatchNorm's inference-time parameters: running statistics instead of the batch's.
pub struct Running<'a> {
    /// The convolution's bias.
    pub bias: &'a [f32],
    /// BatchNorm's scale γ.
    pub gamma: &'a [f32],
    /// BatchNorm's shift β.
    pub beta: &'a [f32],
    /// Running mean.
    pub mean: &'a [f32],
    /// Running variance.
    pub variance: &'a [f32],
    /// BatchNorm's ε.
    pub epsilon: f64,
}

/// Conv (with bias) → BatchNorm with running statistics → ELU: the block at inference.
pub fn infer(x: &[f32], shape: Nchw, conv: Conv, running: &Running) -> (Vec<f32>, Nchw) {
    let affine: Vec<(f32, f32)> = (0..conv.out_channels)
        .map(|c| {
            let scale = running.gamma[c] / (running.variance[c] + running.epsilon as f32).sqrt();
            (scale, running.beta[c] + scale * (running.bias[c] - running.mean[c]))
        })
        .collect();
    conv.forward(x, shape, Epilogue::AffineElu(&affine))
}

/// A convolution with its bias and nothing after it, at inference.
pub fn conv_with_bias(x: &[f32], shape: Nchw, conv: Conv, bias: &[f32]) -> (Vec<f32>, Nchw) {
    conv.forward(x, shape, Epilogue::Bias(bias))
}

/// What the backward pass needs besides the incoming gradient.
pub struct Saved<'a> {
    /// The block's input.
    pub input: &'a [f32],
    /// Its shape.
    pub shape: Nchw,
    /// The convolution.
    pub conv: Conv<'a>,
    /// BatchNorm's scale γ.
    pub gamma: &'a [f32],
    /// The forward pass's x̂.
    pub normalized: &'a [f32],
    /// The forward pass's output.
    pub output: &'a [f32],
    /// The forward pass's batch variance.
    pub variance: &'a [f32],
    /// BatchNorm's ε.
    pub epsilon: f64,
}

/// The gradients of [`forward`]'s inputs given `grad` of its output.
pub fn backward(saved: &Saved, grad: &[f32], need_input: bool, need_weight: bool) -> Gradients {
    let out = saved.conv.output_shape(saved.shape);
    let (plane, image) = (out.plane(), out.image());
    let count = (out.n * plane) as f32;
    let at = |n: usize, c: usize| n * image + c * plane..n * image + (c + 1) * plane;
    let sums: Vec<(f32, f32)> = per_channel(out.c, |c| {
        let (mut dbeta, mut dgamma) = (0.0f64, 0.0f64);
        for n in 0..out.n {
            let range = at(n, c);
            let (beta, gamma) = plane_grad_sums(&grad[range.clone()], &saved.output[range.clone()], &saved.normalized[range]);
            dbeta += beta;
            dgamma += gamma;
        }
        (dgamma as f32, dbeta as f32)
    });
    let mut dz = vec![0.0f32; out.len()];
    dz.par_chunks_mut(image).enumerate().for_each(|(n, dz_image)| {
        for (c, dz_plane) in dz_image.chunks_mut(plane).enumerate() {
            let (dgamma, dbeta) = sums[c];
            let scale = saved.gamma[c] / (saved.variance[c] + saved.epsilon as f32).sqrt();
            let range = at(n, c);
            plane_input_grad(dz_plane, &grad[range.clone()], &saved.output[range.clone()], &saved.normalized[range], scale, dbeta / count, dgamma / count);
        }
    });
    let (input, weight) = saved.conv.backward(saved.input, saved.shape, &dz, need_input, need_weight);
    Gradients { input, weight, gamma: sums.iter().map(|s| s.0).collect(), beta: sums.iter().map(|s| s.1).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vectorisable_exp_matches_the_standard_one() {
        for i in -8700..=2000 {
            let x = i as f32 * 0.01;
            let (ours, std) = (exp(x), x.exp());
            assert!((ours - std).abs() <= 4e-7 * std, "exp({x}) = {ours}, std {std}");
        }
        assert_eq!(elu(2.5), 2.5);
        assert!((elu(-1.0) - (-1.0f32).exp_m1()).abs() < 1e-7);
        assert!((elu(-100.0) + 1.0).abs() < 1e-7);
    }
}

//! The block's 3×3 convolution (padding 1, stride 1 or 2) and its weight gradient as matrix
//! products: the input's 3×3 windows gathered by one kernel into the rows of a matrix (im2col,
//! channels-last, so each window's channels are contiguous), times the weights as a
//! `[9·C_in, C_out]` matrix (forward), or transposed times the output's gradient (weight
//! gradient), through burn's tiled, autotuned matmul. burn's WGSL backend offers only its direct
//! kernel (one thread per output, no tiling) for such a convolution's forward pass, and builds
//! its weight gradient's window matrix from a slice assignment per tap. Each way is offered to
//! cubecl's autotuner beside burn's own ([`conv2d`], [`conv2d_weight_backward`]), which times
//! both on the card for each shape and keeps the faster, on disk with the rest of the tuning
//! results; [`gpu_conv`] can force one.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::tensor::ops::ConvOptions;
use burn::tensor::Shape;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{CubeBackend, CubeTuneId};
use cubecl::prelude::*;
use cubecl::tune::{LocalTuner, Tunable, TunableSet, local_tuner};

use super::{channels_last, elementwise, nchw_view, nhwc};
use crate::kernels::{GpuConv, gpu_conv};

/// One element of the window matrix per thread: row `(n, y, x)` of the output, column
/// `(ky, kx, c)`; zero where the window reaches into the padding.
#[cube(launch)]
fn im2col_kernel<F: Float>(
    input: &Tensor<F>,
    columns: &mut Tensor<F>,
    channels: usize,
    width: usize,
    height: usize,
    out_width: usize,
    out_height: usize,
    stride: usize,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= columns.len() {
        terminate!();
    }
    let row = i / (9 * channels);
    let column = i % (9 * channels);
    let tap = column / channels;
    let out_x = row % out_width;
    let out_y = (row / out_width) % out_height;
    let image = row / (out_width * out_height);
    // One more than the input's row and column (padding 1), so that none is negative.
    let y = out_y * stride + tap / 3;
    let x = out_x * stride + tap % 3;
    let mut value = F::new(0.0);
    if y >= 1 && y <= height && x >= 1 && x <= width {
        value = input[((image * height + y - 1) * width + x - 1) * channels + column % channels];
    }
    columns[i] = value;
}

/// The largest window matrix the matrix-product way builds (bytes); a larger one would crowd
/// a desktop card's memory, and burn's kernels run instead.
const MAX_WINDOW_BYTES: usize = 1 << 30;

/// The `[N·H_out·W_out, 9·C]` matrix of `input`'s 3×3 windows (`[N, C, H, W]`, padding 1), or
/// why it is not built.
fn im2col(input: CubeTensor, stride: usize) -> Result<CubeTensor, String> {
    let input = nhwc(channels_last(input));
    let [n, h, w, c] = input.meta.shape().dims::<4>();
    let (out_h, out_w) = (out_side(h, stride), out_side(w, stride));
    let shape = Shape::new([n * out_h * out_w, 9 * c]);
    let bytes = shape.num_elements() * input.dtype.size();
    if bytes > MAX_WINDOW_BYTES {
        return Err(format!("the window matrix would take {} MiB", bytes >> 20));
    }
    let columns = empty_device_dtype(input.client.clone(), input.device.clone(), shape, input.dtype);
    let (count, dim) = elementwise(&columns, columns.meta.shape().num_elements());
    let dtype = dtype_to_storage_type(input.dtype);
    im2col_kernel::launch(&columns.client, count, dim, input.into_tensor_arg(), columns.clone().into_tensor_arg(), c, w, h, out_w, out_h, stride, dtype);
    Ok(columns)
}

/// An output side of a 3×3 convolution with padding 1 and stride `stride` over `side` pixels.
fn out_side(side: usize, stride: usize) -> usize {
    (side - 1) / stride + 1
}

/// The options of the block's 3×3 convolutions: padding 1, stride `stride`.
fn options(stride: usize) -> ConvOptions<2> {
    ConvOptions::new([stride, stride], [1, 1], [1, 1], 1)
}

/// The convolution as a matrix product; its output channels-last, as burn's convolutions
/// leave it.
fn conv2d_product(input: CubeTensor, weight: CubeTensor, stride: usize) -> Result<CubeTensor, String> {
    let [n, _, h, w] = input.meta.shape().dims::<4>();
    let [out_channels, in_channels, _, _] = weight.meta.shape().dims::<4>();
    let (out_h, out_w) = (out_side(h, stride), out_side(w, stride));
    let columns = im2col(input, stride)?;
    // `[C_out, C_in, 3, 3]` → `[3, 3, C_in, C_out]`: the window matrix's column order.
    let weight = into_contiguous(CubeBackend::float_permute(weight, &[2, 3, 1, 0]));
    let weight = CubeBackend::float_reshape(weight, Shape::new([9 * in_channels, out_channels]));
    let product = CubeBackend::float_matmul(columns, weight);
    Ok(nchw_view(CubeBackend::float_reshape(product, Shape::new([n, out_h, out_w, out_channels]))))
}

/// burn's own convolution of `input` by `weight` (padding 1, stride `stride`, no bias).
fn conv2d_burn(input: CubeTensor, weight: CubeTensor, stride: usize) -> CubeTensor {
    CubeBackend::conv2d(input, weight, None, options(stride))
}

/// A convolution's input, weight and stride, as the autotuner hands them to each way.
type Convolution = (CubeTensor, CubeTensor, usize);

/// `input` convolved with `weight` (`[C_out, C_in, 3, 3]`, no bias, padding 1, stride
/// `stride`): by burn's convolution or as a matrix product, as [`gpu_conv`] says (by default
/// whichever the autotuner found faster for these shapes on this device).
pub fn conv2d(input: CubeTensor, weight: CubeTensor, stride: usize) -> CubeTensor {
    match gpu_conv() {
        GpuConv::Burn => conv2d_burn(input, weight, stride),
        GpuConv::Product => conv2d_product(input.clone(), weight.clone(), stride).unwrap_or_else(|_| conv2d_burn(input, weight, stride)),
        GpuConv::Tuned => {
            static TUNER: LocalTuner<String, CubeTuneId> = local_tuner!();
            let client = input.client.clone();
            let id = CubeTuneId::new(&input.client, &input.device);
            let tunables = TUNER.init(&id, || {
                TunableSet::<String, Convolution, CubeTensor>::new_cloning_inputs(|(input, weight, stride): &Convolution| key(input, weight, *stride))
                    .with(Tunable::new("burn_conv2d", |(input, weight, stride): Convolution| Ok::<_, String>(conv2d_burn(input, weight, stride))))
                    .with(Tunable::new("im2col_matmul", |(input, weight, stride): Convolution| conv2d_product(input, weight, stride)))
            });
            TUNER.execute(&id, &client, tunables, (input, weight, stride))
        }
    }
}

/// The weight gradient as a matrix product: the window matrix, transposed, times the output's
/// gradient, `[9·C_in, M]·[M, C_out]`, in the weight's `[C_out, C_in, 3, 3]` layout.
fn weight_backward_product(input: CubeTensor, d_output: CubeTensor, stride: usize) -> Result<CubeTensor, String> {
    let in_channels = input.meta.shape()[1];
    let [n, out_channels, out_h, out_w] = d_output.meta.shape().dims::<4>();
    let columns = CubeBackend::float_swap_dims(im2col(input, stride)?, 0, 1);
    let d_output = CubeBackend::float_reshape(nhwc(channels_last(d_output)), Shape::new([n * out_h * out_w, out_channels]));
    let product = CubeBackend::float_matmul(columns, d_output);
    let product = CubeBackend::float_reshape(product, Shape::new([3, 3, in_channels, out_channels]));
    Ok(into_contiguous(CubeBackend::float_permute(product, &[3, 2, 0, 1])))
}

/// burn's own gradient of a convolution's weight (padding 1, stride `stride`).
fn weight_backward_burn(input: CubeTensor, weight: CubeTensor, d_output: CubeTensor, stride: usize) -> CubeTensor {
    CubeBackend::conv2d_weight_backward(input, weight, d_output, options(stride))
}

/// A weight gradient's input, weight, output gradient and stride, as the autotuner hands them
/// to each way.
type WeightGradient = (CubeTensor, CubeTensor, CubeTensor, usize);

/// The gradient of [`conv2d`]'s weight (`weight`'s shape) from its input and the gradient of
/// its output, by burn's kernels or as a matrix product, as [`gpu_conv`] says.
pub fn conv2d_weight_backward(input: CubeTensor, weight: CubeTensor, d_output: CubeTensor, stride: usize) -> CubeTensor {
    match gpu_conv() {
        GpuConv::Burn => weight_backward_burn(input, weight, d_output, stride),
        GpuConv::Product => weight_backward_product(input.clone(), d_output.clone(), stride)
            .unwrap_or_else(|_| weight_backward_burn(input, weight, d_output, stride)),
        GpuConv::Tuned => {
            static TUNER: LocalTuner<String, CubeTuneId> = local_tuner!("weight");
            let client = input.client.clone();
            let id = CubeTuneId::new(&input.client, &input.device);
            let tunables = TUNER.init(&id, || {
                TunableSet::<String, WeightGradient, CubeTensor>::new_cloning_inputs(|(input, weight, _, stride): &WeightGradient| key(input, weight, *stride))
                    .with(Tunable::new("burn_conv2d_weight_backward", |(input, weight, d_output, stride): WeightGradient| {
                        Ok::<_, String>(weight_backward_burn(input, weight, d_output, stride))
                    }))
                    .with(Tunable::new("im2col_matmul", |(input, _, d_output, stride): WeightGradient| weight_backward_product(input, d_output, stride)))
            });
            TUNER.execute(&id, &client, tunables, (input, weight, d_output, stride))
        }
    }
}

/// What a tuning result is kept under: the shapes and the stride.
fn key(input: &CubeTensor, weight: &CubeTensor, stride: usize) -> String {
    let [n, c, h, w] = input.meta.shape().dims::<4>();
    format!("{n}x{c}x{h}x{w} to {} stride {stride}", weight.meta.shape()[0])
}

//! Nearest-neighbour ×2 upsampling and its backward pass (each input pixel's gradient is the
//! sum over the 2×2 square it became), as cubecl kernels on channels-last maps.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Shape;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::{channels_last, elementwise, nchw_view, nhwc};

/// One output element per thread; `width` and `height` are the output's.
#[cube(launch)]
fn upsample_kernel<F: Float>(input: &Tensor<F>, output: &mut Tensor<F>, channels: usize, width: usize, height: usize, #[define(F)] _dtype: ElemType) {
    let i = ABSOLUTE_POS;
    if i >= output.len() {
        terminate!();
    }
    let pixel = i / channels;
    let x = pixel % width;
    let y = (pixel / width) % height;
    let image = pixel / (width * height);
    output[i] = input[((image * (height / 2) + y / 2) * (width / 2) + x / 2) * channels + i % channels];
}

/// One input element per thread; `width` and `height` are the input's.
#[cube(launch)]
fn upsample_backward_kernel<F: Float>(grad: &Tensor<F>, d_input: &mut Tensor<F>, channels: usize, width: usize, height: usize, #[define(F)] _dtype: ElemType) {
    let i = ABSOLUTE_POS;
    if i >= d_input.len() {
        terminate!();
    }
    let pixel = i / channels;
    let x = pixel % width;
    let y = (pixel / width) % height;
    let image = pixel / (width * height);
    let row = 2 * width * channels;
    let first = ((image * 2 * height + 2 * y) * 2 * width + 2 * x) * channels + i % channels;
    d_input[i] = grad[first] + grad[first + channels] + grad[first + row] + grad[first + row + channels];
}

/// `input` (`[N, C, H, W]`) at twice its height and width, each pixel repeated over a 2×2
/// square; channels-last.
pub fn upsample(input: CubeTensor) -> CubeTensor {
    let input = nhwc(channels_last(input));
    let [n, h, w, c] = input.meta.shape().dims::<4>();
    let output = empty_device_dtype(input.client.clone(), input.device.clone(), Shape::new([n, 2 * h, 2 * w, c]), input.dtype);
    let (count, dim) = elementwise(&output, output.meta.shape().num_elements());
    let dtype = dtype_to_storage_type(input.dtype);
    upsample_kernel::launch(&output.client, count, dim, input.into_tensor_arg(), output.clone().into_tensor_arg(), c, 2 * w, 2 * h, dtype);
    nchw_view(output)
}

/// The gradient of [`upsample`]'s input from the gradient `grad` of its output; channels-last.
pub fn upsample_backward(grad: CubeTensor) -> CubeTensor {
    let grad = nhwc(channels_last(grad));
    let [n, h, w, c] = grad.meta.shape().dims::<4>();
    let d_input = empty_device_dtype(grad.client.clone(), grad.device.clone(), Shape::new([n, h / 2, w / 2, c]), grad.dtype);
    let (count, dim) = elementwise(&d_input, d_input.meta.shape().num_elements());
    let dtype = dtype_to_storage_type(grad.dtype);
    upsample_backward_kernel::launch(&d_input.client, count, dim, grad.into_tensor_arg(), d_input.clone().into_tensor_arg(), c, w / 2, h / 2, dtype);
    nchw_view(d_input)
}

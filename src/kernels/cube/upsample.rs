//! Nearest-neighbour ×2 upsampling of `[N, C, H, W]` tensors and its backward pass (each input
//! pixel's gradient is the sum over the 2×2 square it became), as cubecl kernels.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Shape;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::elementwise;

/// One output pixel per thread; `width` is the output's.
#[cube(launch)]
fn upsample_kernel<F: Float>(input: &Tensor<F>, output: &mut Tensor<F>, width: usize, height: usize, #[define(F)] _dtype: ElemType) {
    let i = ABSOLUTE_POS;
    if i >= output.len() {
        terminate!();
    }
    let x = i % width;
    let y = (i / width) % height;
    let map = i / (width * height);
    output[i] = input[(map * (height / 2) + y / 2) * (width / 2) + x / 2];
}

/// One input pixel per thread; `width` is the input's.
#[cube(launch)]
fn upsample_backward_kernel<F: Float>(grad: &Tensor<F>, d_input: &mut Tensor<F>, width: usize, height: usize, #[define(F)] _dtype: ElemType) {
    let i = ABSOLUTE_POS;
    if i >= d_input.len() {
        terminate!();
    }
    let x = i % width;
    let y = (i / width) % height;
    let map = i / (width * height);
    let row = 2 * width;
    let first = (map * 2 * height + 2 * y) * row + 2 * x;
    d_input[i] = grad[first] + grad[first + 1] + grad[first + row] + grad[first + row + 1];
}

/// `input` at twice its height and width, each pixel repeated over a 2×2 square.
pub fn upsample(input: CubeTensor) -> CubeTensor {
    let input = into_contiguous(input);
    let [n, c, h, w] = input.meta.shape().dims::<4>();
    let output = empty_device_dtype(input.client.clone(), input.device.clone(), Shape::new([n, c, 2 * h, 2 * w]), input.dtype);
    let (count, dim) = elementwise(&output);
    let dtype = dtype_to_storage_type(input.dtype);
    upsample_kernel::launch(&output.client, count, dim, input.into_tensor_arg(), output.clone().into_tensor_arg(), 2 * w, 2 * h, dtype);
    output
}

/// The gradient of [`upsample`]'s input from the gradient `grad` of its output.
pub fn upsample_backward(grad: CubeTensor) -> CubeTensor {
    let grad = into_contiguous(grad);
    let [n, c, h, w] = grad.meta.shape().dims::<4>();
    let d_input = empty_device_dtype(grad.client.clone(), grad.device.clone(), Shape::new([n, c, h / 2, w / 2]), grad.dtype);
    let (count, dim) = elementwise(&d_input);
    let dtype = dtype_to_storage_type(grad.dtype);
    upsample_backward_kernel::launch(&d_input.client, count, dim, grad.into_tensor_arg(), d_input.clone().into_tensor_arg(), w / 2, h / 2, dtype);
    d_input
}

//! [`BlockKernels`] on burn's flex CPU backend: tensors in, [`cpu`] arithmetic, tensors out.

use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::tensor::FloatTensor;
use burn::backend::TensorMetadata;
use burn::tensor::{DType, TensorData};

use super::cpu::{self, Conv, Nchw, Running, Saved};
use super::{BlockBackward, BlockGradients, BlockKernels, Sampling};

/// `tensor` as contiguous `f32` storage.
fn contiguous(tensor: FlexTensor) -> FlexTensor {
    let tensor = if tensor.dtype() == DType::F32 { tensor } else { FlexTensor::from_data(tensor.into_data().convert::<f32>()) };
    if tensor.as_slice::<f32>().is_some() { tensor } else { tensor.to_contiguous() }
}

fn values(tensor: &FlexTensor) -> &[f32] {
    // `contiguous` made every tensor this module reads f32 and contiguous.
    tensor.as_slice::<f32>().unwrap_or(&[])
}

fn dims<const D: usize>(tensor: &FlexTensor) -> [usize; D] {
    let shape = tensor.shape();
    std::array::from_fn(|i| shape[i])
}

fn nchw(tensor: &FlexTensor) -> Nchw {
    let [n, c, h, w] = dims(tensor);
    Nchw { n, c, h, w }
}

fn tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl BlockKernels for Flex {
    fn conv_bn_elu_train(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        sampling: Sampling,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (input, weight, gamma, beta) = (contiguous(input), contiguous(weight), contiguous(gamma), contiguous(beta));
        let conv = Conv { sampling, out_channels: sampling.out_channels(dims(&weight)), weight: values(&weight) };
        let forward = cpu::forward(values(&input), nchw(&input), conv, values(&gamma), values(&beta), epsilon);
        let Nchw { n, c, h, w } = forward.shape;
        let bias = contiguous(bias);
        let mean = forward.mean.iter().zip(values(&bias)).map(|(m, b)| m + b).collect();
        (
            tensor(forward.output, vec![n, c, h, w]),
            tensor(forward.normalized, vec![n, c, h, w]),
            tensor(mean, vec![c]),
            tensor(forward.variance, vec![c]),
        )
    }

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
    ) -> FloatTensor<Self> {
        let (input, weight) = (contiguous(input), contiguous(weight));
        let (bias, gamma, beta, mean, variance) = (contiguous(bias), contiguous(gamma), contiguous(beta), contiguous(mean), contiguous(variance));
        let conv = Conv { sampling, out_channels: sampling.out_channels(dims(&weight)), weight: values(&weight) };
        let running = Running { bias: values(&bias), gamma: values(&gamma), beta: values(&beta), mean: values(&mean), variance: values(&variance), epsilon };
        let (output, Nchw { n, c, h, w }) = cpu::infer(values(&input), nchw(&input), conv, &running);
        tensor(output, vec![n, c, h, w])
    }

    fn conv_infer(input: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, sampling: Sampling) -> FloatTensor<Self> {
        let (input, weight, bias) = (contiguous(input), contiguous(weight), contiguous(bias));
        let conv = Conv { sampling, out_channels: sampling.out_channels(dims(&weight)), weight: values(&weight) };
        let (output, Nchw { n, c, h, w }) = cpu::conv_with_bias(values(&input), nchw(&input), conv, values(&bias));
        tensor(output, vec![n, c, h, w])
    }
}

impl BlockBackward for Flex {
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
    ) -> BlockGradients<Self> {
        let (input, weight, gamma) = (contiguous(input), contiguous(weight), contiguous(gamma));
        let (normalized, output, variance, grad) = (contiguous(normalized), contiguous(output), contiguous(variance), contiguous(grad));
        let weight_shape: [usize; 4] = dims(&weight);
        let saved = Saved {
            input: values(&input),
            shape: nchw(&input),
            conv: Conv { sampling, out_channels: sampling.out_channels(weight_shape), weight: values(&weight) },
            gamma: values(&gamma),
            normalized: values(&normalized),
            output: values(&output),
            variance: values(&variance),
            epsilon,
        };
        let grads = cpu::backward(&saved, values(&grad), need_input, need_weight);
        let channels = grads.gamma.len();
        let unused = || tensor(vec![0.0], vec![1]);
        (
            grads.input.map_or_else(unused, |dx| tensor(dx, input.shape().to_vec())),
            grads.weight.map_or_else(unused, |dw| tensor(dw, weight_shape.to_vec())),
            tensor(grads.gamma, vec![channels]),
            tensor(grads.beta, vec![channels]),
        )
    }
}

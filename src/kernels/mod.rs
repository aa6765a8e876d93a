//! The DR-GAN block — a 3×3 convolution, BatchNorm with the batch's statistics, ELU — as one
//! operation with its own backward pass, on burn's CPU backend (flex) and its cubecl backend
//! (the GPU through wgpu).
//!
//! On the CPU, burn computes a convolution's weight gradient as a convolution whose kernel is
//! the whole output gradient, and BatchNorm as about ten passes over memory. Here the
//! convolution and both halves of its backward pass are matrix products (the `gemm` crate that
//! burn itself uses) over shifted copies of the input's rows ([`same`], [`down`], [`resize`]; the
//! transposed convolution is the stride-2 one run backwards), and BatchNorm and ELU are one pass
//! forward and two back ([`cpu`]). On the GPU the convolutions stay burn's autotuned kernels and
//! BatchNorm and ELU become three cubecl kernels each way, on channels-last maps, instead of
//! burn's composition of layout copies, reductions and elementwise passes ([`cube`]). It is a burn backend extension: flex
//! and cubecl compute it, fusion queues it as one opaque operation, and the autodiff backend
//! records one node for the whole block. [`fused_available`] says where it runs; the model falls
//! back to burn's own modules elsewhere. `tests/kernels.rs` checks outputs and gradients against
//! burn's modules, on the CPU and on a wgpu adapter (Mesa's lavapipe in CI).
//!
//! A convolution bias in front of BatchNorm cancels exactly in training (the batch mean absorbs
//! it), so the fused block leaves the bias out of the arithmetic and gives it its true gradient,
//! zero; the layer adds it to the running mean it keeps, so inference, which uses running
//! statistics, is unchanged.

mod autodiff;
pub mod cpu;
mod cube;
mod down;
mod flex;
mod resize;
mod same;

use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, DispatchDevice, backend_extension};
use burn::prelude::*;
use burn::tensor::Shape;

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

/// The shape of a block's output for an input of shape `input` and a weight of shape `weight`.
fn output_shape(input: &Shape, weight: &Shape, sampling: &Sampling) -> Shape {
    let side = |d: usize| sampling.output_size(input[d]);
    Shape::new([input[0], sampling.out_channels([weight[0], weight[1], weight[2], weight[3]]), side(2), side(3)])
}

/// What [`BlockKernels::conv_bn_elu_train`] returns, described before it runs (for fusion).
fn train_outputs(input: &TensorSpec, weight: &TensorSpec, _: &TensorSpec, gamma: &TensorSpec, _: &TensorSpec, sampling: &Sampling, _: &f64) -> (TensorSpec, TensorSpec, TensorSpec, TensorSpec) {
    let output = TensorSpec::new(output_shape(&input.shape, &weight.shape, sampling), input.dtype);
    (output.clone(), output, gamma.clone(), gamma.clone())
}

/// What [`BlockBackward::conv_bn_elu_train_backward`] returns, described before it runs (for
/// fusion): a gradient nobody asked for is a one-element stand-in.
#[allow(clippy::too_many_arguments)]
fn backward_outputs(
    input: &TensorSpec,
    weight: &TensorSpec,
    gamma: &TensorSpec,
    _: &TensorSpec,
    _: &TensorSpec,
    _: &TensorSpec,
    _: &TensorSpec,
    _: &Sampling,
    _: &f64,
    need_input: &bool,
    need_weight: &bool,
) -> (TensorSpec, TensorSpec, TensorSpec, TensorSpec) {
    let asked = |spec: &TensorSpec, asked: bool| if asked { spec.clone() } else { TensorSpec::new(Shape::new([1]), spec.dtype) };
    (asked(input, *need_input), asked(weight, *need_weight), gamma.clone(), gamma.clone())
}

/// The block as a backend operation: flex and cubecl compute it, fusion queues it, autodiff
/// records its backward pass.
#[backend_extension(Flex, Cube, Fusion, Autodiff)]
pub trait BlockKernels: Backend {
    /// Conv → BatchNorm with the batch's statistics → ELU. Returns the output, the normalised
    /// convolution output x̂, and the per-channel batch mean of the convolution (its bias
    /// included) and biased variance. The bias cancels in BatchNorm; it is an input so that its
    /// gradient, exactly zero, is recorded like every other parameter's.
    #[fusion(meta = train_outputs)]
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
    #[fusion(dtype = input, shape = output_shape(input, weight, sampling))]
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
    #[fusion(dtype = input, shape = output_shape(input, weight, sampling))]
    fn conv_infer(input: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, sampling: Sampling) -> FloatTensor<Self>;
}

/// The block's backward pass, on the backends that compute the block (the autodiff backend calls
/// it on the backend under it, fusion's included; nothing calls it through `Dispatch`).
#[backend_extension(Flex, Cube, Fusion)]
pub trait BlockBackward: Backend {
    /// Gradients of the input (when `need_input`), the weight (when `need_weight`), γ and β,
    /// given the output's gradient `grad` and what the forward pass returned.
    #[allow(clippy::too_many_arguments)]
    #[fusion(meta = backward_outputs)]
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
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// What [`BlockBackward::conv_bn_elu_train_backward`] returns: the gradients of a block's
/// input, weight, γ and β; an input or weight gradient that was not asked for is a one-element
/// stand-in, never read.
pub type BlockGradients<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

/// The fused block's output and the batch statistics its running averages need.
pub struct Normalized {
    /// ELU(BatchNorm(conv(x))).
    pub output: Tensor<4>,
    /// Per-channel batch mean of conv(x), its bias included.
    pub mean: Tensor<1>,
    /// Per-channel biased batch variance of conv(x).
    pub variance: Tensor<1>,
}

/// The environment variable that sends the GPU back to burn's own modules for the block
/// (`DRGAN_STUDIO_GPU_BLOCK=burn`; unset or anything else: the fused block), so that `bench`
/// can measure both on one card.
pub const GPU_BLOCK_VARIABLE: &str = "DRGAN_STUDIO_GPU_BLOCK";

/// The block the GPU runs, by name: `fused` or `burn` (see [`GPU_BLOCK_VARIABLE`]). A value
/// that is neither is named once on stderr, and the fused block runs.
pub fn gpu_block() -> &'static str {
    static BLOCK: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    BLOCK.get_or_init(|| {
        let (block, warning) = gpu_block_named(std::env::var(GPU_BLOCK_VARIABLE).ok().as_deref());
        if let Some(warning) = warning {
            eprintln!("{warning}");
        }
        block
    })
}

/// The block a value of [`GPU_BLOCK_VARIABLE`] names (unset or empty: `fused`), and a warning
/// for a value that names neither.
fn gpu_block_named(value: Option<&str>) -> (&'static str, Option<String>) {
    match value.map(str::trim) {
        Some("burn") => ("burn", None),
        None | Some("" | "fused") => ("fused", None),
        Some(other) => ("fused", Some(format!("{GPU_BLOCK_VARIABLE}={other:?} is neither `fused` nor `burn`: the fused block runs"))),
    }
}

/// The environment variable that picks how the fused GPU block's 3×3 convolutions and their
/// weight gradients run in training (see [`GpuConv`]), so that `bench` can measure each way on one card.
pub const GPU_CONV_VARIABLE: &str = "DRGAN_STUDIO_GPU_CONV";

/// How the fused GPU block's 3×3 convolutions (forward, and their weight gradients) run in
/// training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuConv {
    /// burn's convolution (on WGSL its direct kernel) or the matrix product, whichever
    /// cubecl's autotuner times faster for each shape on the card (the default).
    Tuned,
    /// Always burn's convolution.
    Burn,
    /// Always the windows gathered into a matrix (im2col) times the weights, or transposed
    /// times the output's gradient, by burn's matmul.
    Product,
}

impl GpuConv {
    /// Its name, as [`GPU_CONV_VARIABLE`] takes it.
    pub fn name(self) -> &'static str {
        match self {
            GpuConv::Tuned => "tuned",
            GpuConv::Burn => "burn",
            GpuConv::Product => "product",
        }
    }

    /// The way a value of [`GPU_CONV_VARIABLE`] names (unset or empty: `tuned`), and a warning
    /// for a value that names none.
    fn named(value: Option<&str>) -> (Self, Option<String>) {
        match value.map(str::trim) {
            None | Some("" | "tuned") => (GpuConv::Tuned, None),
            Some("burn") => (GpuConv::Burn, None),
            Some("product") => (GpuConv::Product, None),
            Some(other) => (GpuConv::Tuned, Some(format!("{GPU_CONV_VARIABLE}={other:?} is none of `tuned`, `burn`, `product`: the convolutions are tuned"))),
        }
    }
}

/// 0: not yet read from [`GPU_CONV_VARIABLE`]; otherwise one more than the [`GpuConv`] in use.
static GPU_CONV: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// How the fused GPU block's convolutions run: as [`set_gpu_conv`] last said, else as
/// [`GPU_CONV_VARIABLE`] says (a value that names no way is named once on stderr).
pub fn gpu_conv() -> GpuConv {
    match GPU_CONV.load(std::sync::atomic::Ordering::Relaxed) {
        0 => {
            let (conv, warning) = GpuConv::named(std::env::var(GPU_CONV_VARIABLE).ok().as_deref());
            if let Some(warning) = warning {
                eprintln!("{warning}");
            }
            set_gpu_conv(conv);
            conv
        }
        1 => GpuConv::Tuned,
        2 => GpuConv::Burn,
        _ => GpuConv::Product,
    }
}

/// Makes every later fused GPU block of this process convolve `conv`'s way (tests measure each
/// way against burn's modules).
pub fn set_gpu_conv(conv: GpuConv) {
    let n = match conv {
        GpuConv::Tuned => 1,
        GpuConv::Burn => 2,
        GpuConv::Product => 3,
    };
    GPU_CONV.store(n, std::sync::atomic::Ordering::Relaxed);
}

/// Whether tensors on `device` take the fused block (burn's flex CPU backend, and its cubecl
/// GPU backend unless [`gpu_block`] is `burn`; with or without autodiff).
pub fn fused_available(device: &Device) -> bool {
    let device = device.clone().without_autodiff();
    device == Device::flex() || (matches!(device.as_dispatch(), DispatchDevice::Cube(_)) && gpu_block() == "fused")
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

#[cfg(test)]
mod tests {
    use super::{GpuConv, gpu_block_named};

    #[test]
    fn the_gpu_conv_variable_names_a_way_and_anything_else_is_named_back() {
        assert_eq!(GpuConv::named(None), (GpuConv::Tuned, None));
        assert_eq!(GpuConv::named(Some(" product")), (GpuConv::Product, None));
        for way in [GpuConv::Tuned, GpuConv::Burn, GpuConv::Product] {
            assert_eq!(GpuConv::named(Some(way.name())), (way, None));
        }
        let (way, warning) = GpuConv::named(Some("gemm"));
        assert_eq!(way, GpuConv::Tuned);
        let warning = warning.expect("a warning");
        assert!(warning.contains("DRGAN_STUDIO_GPU_CONV=\"gemm\""), "{warning}");
    }

    #[test]
    fn the_gpu_block_variable_names_burn_or_fused_and_anything_else_is_named_back() {
        assert_eq!(gpu_block_named(Some("burn")), ("burn", None));
        assert_eq!(gpu_block_named(Some(" burn ")), ("burn", None));
        assert_eq!(gpu_block_named(None), ("fused", None));
        assert_eq!(gpu_block_named(Some("")), ("fused", None));
        assert_eq!(gpu_block_named(Some("fused")), ("fused", None));
        let (block, warning) = gpu_block_named(Some("Burn!"));
        assert_eq!(block, "fused");
        let warning = warning.expect("a warning");
        assert!(warning.contains("DRGAN_STUDIO_GPU_BLOCK=\"Burn!\"") && warning.contains("fused"), "{warning}");
    }
}

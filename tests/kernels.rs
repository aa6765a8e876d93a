//! The fused block (`src/kernels`) computes what burn's own operations compute: outputs,
//! batch statistics and every gradient, for each of the four samplings, on random inputs — on
//! the CPU backend (flex), and on a wgpu adapter (Mesa's lavapipe in CI: the GPU kernels run on
//! the CPU there) against burn's own GPU operations on the same adapter.

use burn::prelude::*;
use burn::tensor::activation::elu;
use burn::tensor::module::{batch_norm, batch_norm_train, conv2d, conv_transpose2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::Distribution;
use drgan_studio::kernels::{Inference, Sampling, conv_bn_elu_infer, conv_bn_elu_train, conv_infer};

/// Nearest-neighbour ×2 upsampling written out with burn's tensor operations.
fn upsample(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1]).expand([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w])
}

/// The convolution of `sampling` out of burn's operations.
fn convolution(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, sampling: Sampling) -> Tensor<4> {
    let same = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let bias = Some(bias);
    match sampling {
        Sampling::Same => conv2d(x, weight, bias, same),
        Sampling::Down => conv2d(x, weight, bias, ConvOptions::new([2, 2], [1, 1], [1, 1], 1)),
        Sampling::ResizeUp => conv2d(upsample(x), weight, bias, same),
        Sampling::TransposedUp => conv_transpose2d(x, weight, bias, ConvTransposeOptions::new([2, 2], [1, 1], [1, 1], [1, 1], 1)),
    }
}

/// The block out of burn's operations: conv, `batch_norm_train`, ELU.
fn reference(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, gamma: Tensor<1>, beta: Tensor<1>, sampling: Sampling) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let z = convolution(x, weight, bias, sampling);
    let normed = batch_norm_train(z, gamma, beta, 1e-5);
    (elu(normed.output, 1.0), normed.mean, normed.variance)
}

struct Case {
    sampling: Sampling,
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    size: usize,
}

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

fn check(case: Case) {
    check_on(case, &Device::flex());
}

/// [`check`] on `device` (autodiff is added).
fn check_on(case: Case, device: &Device) {
    let device = device.clone().autodiff();
    device.seed(7);
    let Case { sampling, batch, in_channels: ci, out_channels: co, size } = case;
    let weight_shape = match sampling {
        Sampling::TransposedUp => [ci, co, 3, 3],
        _ => [co, ci, 3, 3],
    };
    let x = random([batch, ci, size, size], &device);
    let weight = random(weight_shape, &device).mul_scalar(0.2);
    let bias = random([co], &device);
    let gamma = random([co], &device).add_scalar(1.0);
    let beta = random([co], &device);
    let out = sampling.output_size(size);
    let upstream = random([batch, co, out, out], &device);

    let run = |fused: bool| {
        let tracked = |t: &Tensor<1>| t.clone().require_grad();
        let (x, weight) = (x.clone().require_grad(), weight.clone().require_grad());
        let (bias, gamma, beta) = (tracked(&bias), tracked(&gamma), tracked(&beta));
        let (y, mean, variance) = if fused {
            let r = conv_bn_elu_train(x.clone(), weight.clone(), bias.clone(), gamma.clone(), beta.clone(), sampling, 1e-5);
            (r.output, r.mean, r.variance)
        } else {
            reference(x.clone(), weight.clone(), bias.clone(), gamma.clone(), beta.clone(), sampling)
        };
        let grads = (y.clone() * upstream.clone()).sum().backward();
        let grad = |t: &Tensor<4>| t.grad(&grads).expect("a gradient").into_data();
        let grad1 = |t: &Tensor<1>| t.grad(&grads).expect("a gradient").into_data();
        (y.into_data(), mean.into_data(), variance.into_data(), grad(&x), grad(&weight), grad1(&gamma), grad1(&beta), grad1(&bias))
    };
    let (fused, reference) = (run(true), run(false));
    // BatchNorm's batch mean cancels the conv bias: the fused block gives its gradient as exactly
    // zero, burn's composition as zero up to rounding.
    let (fused_bias, burn_bias) = (fused.7.try_to_vec::<f32>().unwrap(), reference.7.try_to_vec::<f32>().unwrap());
    assert!(fused_bias.iter().all(|&g| g == 0.0), "{sampling:?}: the bias gradient should be zero, got {fused_bias:?}");
    assert!(burn_bias.iter().all(|g| g.abs() < 1e-3), "{sampling:?}: burn's bias gradient {burn_bias:?} should be zero up to rounding");
    let names = ["output", "mean", "variance", "grad of input", "grad of weight", "grad of gamma", "grad of beta"];
    let pairs = [
        (&fused.0, &reference.0),
        (&fused.1, &reference.1),
        (&fused.2, &reference.2),
        (&fused.3, &reference.3),
        (&fused.4, &reference.4),
        (&fused.5, &reference.5),
        (&fused.6, &reference.6),
    ];
    for (name, (a, b)) in names.iter().zip(pairs) {
        assert_eq!(a.shape(), b.shape(), "{sampling:?}: shape of the {name}");
        let (a, b) = (a.try_to_vec::<f32>().unwrap(), b.try_to_vec::<f32>().unwrap());
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1.0);
        let worst = a.iter().zip(&b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst <= 1e-4 * scale, "{sampling:?}: {name} differs from burn's by {worst} (largest value {scale})");
    }
}

#[test]
fn same_convolution_matches_burn() {
    check(Case { sampling: Sampling::Same, batch: 3, in_channels: 5, out_channels: 7, size: 9 });
}

#[test]
fn strided_convolution_matches_burn() {
    check(Case { sampling: Sampling::Down, batch: 3, in_channels: 4, out_channels: 6, size: 10 });
}

#[test]
fn transposed_convolution_matches_burn() {
    check(Case { sampling: Sampling::TransposedUp, batch: 3, in_channels: 6, out_channels: 4, size: 5 });
}

#[test]
fn resize_convolution_matches_burn() {
    check(Case { sampling: Sampling::ResizeUp, batch: 3, in_channels: 6, out_channels: 4, size: 5 });
}

/// The `small` preset's last upsampling layer (32 → 64 pixels, 32 channels), where the training
/// path splits rows among threads and tiles: a wrong row in one output phase would draw
/// horizontal stripes.
#[test]
fn resize_convolution_at_the_small_presets_largest_map_matches_burn() {
    check(Case { sampling: Sampling::ResizeUp, batch: 2, in_channels: 32, out_channels: 32, size: 32 });
}

#[test]
fn one_image_uses_threads_inside_the_products_and_still_matches() {
    check(Case { sampling: Sampling::Same, batch: 1, in_channels: 3, out_channels: 8, size: 16 });
}

/// The block at inference (running statistics, no autodiff), and the bare convolution with its
/// bias, against burn's operations, for one batch shape.
fn check_inference(batch: usize, ci: usize, co: usize, size: usize) {
    check_inference_on(batch, ci, co, size, &Device::flex());
}

/// [`check_inference`] on `device`.
fn check_inference_on(batch: usize, ci: usize, co: usize, size: usize, device: &Device) {
    let device = device.clone();
    device.seed(11);
    for sampling in [Sampling::Same, Sampling::Down, Sampling::TransposedUp, Sampling::ResizeUp] {
        let weight_shape = match sampling {
            Sampling::TransposedUp => [ci, co, 3, 3],
            _ => [co, ci, 3, 3],
        };
        let x = random([batch, ci, size, size], &device);
        let params = Inference {
            weight: random(weight_shape, &device).mul_scalar(0.2),
            bias: random([co], &device),
            gamma: random([co], &device).add_scalar(1.0),
            beta: random([co], &device),
            mean: random([co], &device),
            variance: random([co], &device).abs().add_scalar(0.5),
        };
        let plain = convolution(x.clone(), params.weight.clone(), params.bias.clone(), sampling);
        let expected = elu(batch_norm(plain.clone(), params.gamma.clone(), params.beta.clone(), params.mean.clone(), params.variance.clone(), 1e-5), 1.0);
        let bare = conv_infer(x.clone(), params.weight.clone(), params.bias.clone(), sampling);
        let fused = conv_bn_elu_infer(x, params, sampling, 1e-5);
        for (what, ours, theirs) in [("the block", fused, expected), ("the convolution", bare, plain)] {
            assert_eq!(ours.dims(), theirs.dims(), "{sampling:?}: {what}'s shape");
            let (a, b) = (ours.into_data().try_to_vec::<f32>().unwrap(), theirs.into_data().try_to_vec::<f32>().unwrap());
            let worst = a.iter().zip(&b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(worst < 1e-4 * ci as f32, "{sampling:?}, batch {batch}: {what} at inference differs from burn's by {worst}");
        }
    }
}

#[test]
fn inference_matches_burn_for_every_sampling() {
    check_inference(2, 5, 6, 8);
}

/// At inference a batch that does not share evenly among the threads (one face, or nine poses)
/// has images split between threads by output channel, and large images are cut into tiles
/// that each get BatchNorm and ELU on their own (for the transposed convolution, only the rows
/// every tile has reached): every split still computes burn's numbers.
#[test]
fn inference_split_among_threads_and_tiles_matches_burn() {
    for threads in [2, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            for batch in [1, 3, 4] {
                // 48 channels of 48 × 48: the stride-1 convolution's shifted rows (48 × 3 × 48
                // floats a row) fill 1 MiB at 35 of the 48 rows, the transposed and resize
                // convolutions' tiles at fewer: every sampling but stride 2 takes several tiles.
                check_inference(batch, 48, 40, 48);
            }
        });
    }
}

#[test]
fn large_images_cut_into_several_tiles_match_burn() {
    // 32 channels × 3 shifts × 64 columns: 1 MiB of shifted rows holds 42 of the 64 rows.
    check(Case { sampling: Sampling::Same, batch: 2, in_channels: 32, out_channels: 8, size: 64 });
    check(Case { sampling: Sampling::Down, batch: 2, in_channels: 48, out_channels: 8, size: 96 });
    check(Case { sampling: Sampling::ResizeUp, batch: 2, in_channels: 32, out_channels: 8, size: 32 });
    // The input gradients tile by their output-gradient rows: many output channels, few inputs.
    check(Case { sampling: Sampling::Down, batch: 2, in_channels: 8, out_channels: 64, size: 96 });
    check(Case { sampling: Sampling::ResizeUp, batch: 2, in_channels: 8, out_channels: 64, size: 48 });
    // The transposed convolution runs the stride-2 convolution's kernels the other way round:
    // its forward pass tiles like their input gradient (many inputs), its backward pass like
    // their forward pass (many outputs).
    check(Case { sampling: Sampling::TransposedUp, batch: 2, in_channels: 64, out_channels: 8, size: 64 });
    check(Case { sampling: Sampling::TransposedUp, batch: 2, in_channels: 8, out_channels: 64, size: 32 });
}

/// The GPU kernels (`src/kernels/cube`) against burn's own GPU operations, on whatever adapter
/// wgpu finds: Mesa's lavapipe in CI, which `.ci/run` installs.
mod on_a_gpu_adapter {
    use super::*;
    use drgan_studio::device::{DeviceChoice, choose};

    /// The wgpu device, or `None` (and a line saying so) on a machine without any Vulkan driver.
    fn gpu() -> Option<Device> {
        match choose(DeviceChoice::Gpu) {
            Ok(chosen) => Some(chosen.device),
            Err(error) => {
                eprintln!("{error:#}: the GPU kernels were not checked");
                None
            }
        }
    }

    #[test]
    fn every_sampling_matches_burn_outputs_statistics_and_gradients() {
        let Some(device) = gpu() else { return };
        check_on(Case { sampling: Sampling::Same, batch: 3, in_channels: 5, out_channels: 7, size: 9 }, &device);
        check_on(Case { sampling: Sampling::Down, batch: 3, in_channels: 4, out_channels: 6, size: 10 }, &device);
        check_on(Case { sampling: Sampling::TransposedUp, batch: 3, in_channels: 6, out_channels: 4, size: 5 }, &device);
        check_on(Case { sampling: Sampling::ResizeUp, batch: 3, in_channels: 6, out_channels: 4, size: 5 }, &device);
    }

    /// Per-channel reductions cut into several slices of pixels (2 × 48 × 48 pixels, slices of
    /// 4,096) and several blocks of 32 channels (40, not a multiple of 32), with the input and
    /// the upstream gradient in either memory layout (a fresh tensor is channels-first, the
    /// block's own output channels-last).
    #[test]
    fn reductions_over_several_slices_and_channel_blocks_match_burn() {
        let Some(device) = gpu() else { return };
        check_on(Case { sampling: Sampling::Same, batch: 2, in_channels: 3, out_channels: 40, size: 48 }, &device);
        check_on(Case { sampling: Sampling::ResizeUp, batch: 2, in_channels: 6, out_channels: 36, size: 24 }, &device);
        check_on(Case { sampling: Sampling::TransposedUp, batch: 2, in_channels: 33, out_channels: 5, size: 24 }, &device);
    }

    /// Two blocks in a row, the second reading the first's channels-last output, against the
    /// same two layers of burn's operations.
    #[test]
    fn a_chain_of_blocks_matches_burn() {
        let Some(device) = gpu() else { return };
        let device = device.autodiff();
        device.seed(3);
        let x = random([2, 3, 16, 16], &device);
        let layer = |ci: usize, co: usize| (random([co, ci, 3, 3], &device).mul_scalar(0.2), random([co], &device), random([co], &device).add_scalar(1.0), random([co], &device));
        let (first, second) = (layer(3, 8), layer(8, 12));
        let run = |fused: bool| {
            let x = x.clone().require_grad();
            let block = |input: Tensor<4>, (w, b, g, beta): &(Tensor<4>, Tensor<1>, Tensor<1>, Tensor<1>), sampling| {
                if fused {
                    conv_bn_elu_train(input, w.clone(), b.clone(), g.clone(), beta.clone(), sampling, 1e-5).output
                } else {
                    reference(input, w.clone(), b.clone(), g.clone(), beta.clone(), sampling).0
                }
            };
            let y = block(block(x.clone(), &first, Sampling::Down), &second, Sampling::ResizeUp);
            let grads = (y.clone() * y.clone()).sum().backward();
            (y.into_data().try_to_vec::<f32>().unwrap(), x.grad(&grads).expect("a gradient").into_data().try_to_vec::<f32>().unwrap())
        };
        let (fused, reference) = (run(true), run(false));
        for (name, a, b) in [("output", &fused.0, &reference.0), ("grad of input", &fused.1, &reference.1)] {
            let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1.0);
            let worst = a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(worst <= 1e-4 * scale, "two blocks: {name} differs from burn's by {worst} (largest value {scale})");
        }
    }

    /// The 3×3 convolutions as a matrix product (windows gathered by im2col, then burn's
    /// matmul), whatever the autotuner would pick on this adapter: the other tests here run
    /// the tuned choice, and either way must match burn.
    #[test]
    fn the_convolution_as_a_matrix_product_matches_burn() {
        let Some(device) = gpu() else { return };
        drgan_studio::kernels::set_gpu_conv(drgan_studio::kernels::GpuConv::Product);
        check_on(Case { sampling: Sampling::Same, batch: 2, in_channels: 3, out_channels: 40, size: 48 }, &device);
        check_on(Case { sampling: Sampling::Down, batch: 3, in_channels: 4, out_channels: 6, size: 10 }, &device);
        check_on(Case { sampling: Sampling::Down, batch: 2, in_channels: 5, out_channels: 3, size: 9 }, &device);
        check_on(Case { sampling: Sampling::ResizeUp, batch: 2, in_channels: 6, out_channels: 36, size: 24 }, &device);
        drgan_studio::kernels::set_gpu_conv(drgan_studio::kernels::GpuConv::Tuned);
    }

    #[test]
    fn inference_matches_burn_for_every_sampling() {
        let Some(device) = gpu() else { return };
        check_inference_on(2, 5, 6, 8, &device);
    }
}

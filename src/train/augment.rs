//! Differentiable augmentation of what D sees (DiffAugment, Zhao et al. 2020): the same random
//! colour change, shift and cutout for real and generated faces, in D's update and in G's, so
//! that D cannot learn the training faces' exact pixels and G cannot satisfy D with patterns that
//! a shift of a few pixels or a hidden patch undoes. None of it changes a face's yaw, so D's pose
//! and identity labels stay true.

use burn::prelude::*;
use rand::Rng;

/// The largest shift, as a fraction of the side (DiffAugment's 1/8).
const SHIFT_FRACTION: f32 = 0.125;
/// The side of the cut-out square, as a fraction of the image's side (DiffAugment's 1/2).
const CUTOUT_FRACTION: f32 = 0.5;

/// `images` (pixels in [−1, 1]) with, for each image on its own: brightness shifted by up to
/// ±0.5, saturation scaled by 0..2, contrast by 0.5..1.5, a shift of up to 1/8 of the side in
/// each direction (zero filled), and a square of half the side set to zero. Gradients flow to
/// `images`; the random draws come from `rng`.
pub fn augment(images: Tensor<4>, rng: &mut impl Rng) -> Tensor<4> {
    let [count, _, height, width] = images.dims();
    let device = images.device();
    let per_image = |values: Vec<f32>| Tensor::<4>::from_data(TensorData::new(values, [count, 1, 1, 1]), &device);
    let brightness = per_image((0..count).map(|_| rng.random::<f32>() - 0.5).collect());
    let saturation = per_image((0..count).map(|_| 2.0 * rng.random::<f32>()).collect());
    let contrast = per_image((0..count).map(|_| rng.random::<f32>() + 0.5).collect());
    let images = images + brightness;
    let grey = images.clone().mean_dim(1);
    let images = (images - grey.clone()) * saturation + grey;
    let mean = images.clone().mean_dim(1).mean_dim(2).mean_dim(3);
    let images = (images - mean.clone()) * contrast + mean;

    let shift_rows: Vec<i64> = (0..count).map(|_| random_shift(rng, height)).collect();
    let shift_columns: Vec<i64> = (0..count).map(|_| random_shift(rng, width)).collect();
    let shifted = shift(images, &shift_rows, &shift_columns);

    let side = ((height as f32 * CUTOUT_FRACTION).round() as usize).max(1);
    let mask: Vec<f32> = (0..count)
        .flat_map(|_| {
            let (top, left) = (rng.random_range(0..=height.saturating_sub(side)), rng.random_range(0..=width.saturating_sub(side)));
            (0..height * width).map(move |i| {
                let (row, column) = (i / width, i % width);
                if (top..top + side).contains(&row) && (left..left + side).contains(&column) { 0.0 } else { 1.0 }
            })
        })
        .collect();
    shifted * Tensor::<4>::from_data(TensorData::new(mask, [count, 1, height, width]), &device)
}

/// A shift in `−r..=r` for a side of `side` pixels, `r` being [`SHIFT_FRACTION`] of it.
fn random_shift(rng: &mut impl Rng, side: usize) -> i64 {
    let reach = (side as f32 * SHIFT_FRACTION).round() as i64;
    rng.random_range(-reach..=reach)
}

/// `images` moved down by `rows[i]` and right by `columns[i]` pixels (image `i`), zero filled:
/// two batched products with 0/1 shift matrices, so the gradient is the opposite move.
pub fn shift(images: Tensor<4>, rows: &[i64], columns: &[i64]) -> Tensor<4> {
    let [count, channels, height, width] = images.dims();
    let device = images.device();
    // out[y] = in[y − shift]: the matrix has a one at (y, y − shift).
    let matrices = |shifts: &[i64], side: usize| -> Tensor<3> {
        let values: Vec<f32> = shifts
            .iter()
            .flat_map(|&shift| (0..side * side).map(move |i| if (i / side) as i64 - (i % side) as i64 == shift { 1.0 } else { 0.0 }))
            .collect();
        Tensor::from_data(TensorData::new(values, [shifts.len(), side, side]), &device)
    };
    // Rows: [count, height, channels·width], multiplied from the left.
    let by_rows = images.swap_dims(1, 2).reshape([count, height, channels * width]);
    let moved = matrices(rows, height).matmul(by_rows).reshape([count, height, channels, width]).swap_dims(1, 2);
    // Columns: [count, channels·height, width], multiplied from the right by the transpose.
    let by_columns = moved.reshape([count, channels * height, width]);
    by_columns.matmul(matrices(columns, width).swap_dims(1, 2)).reshape([count, channels, height, width])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    fn ramp(count: usize, side: usize, device: &Device) -> Tensor<4> {
        let values: Vec<f32> = (0..count * 3 * side * side).map(|i| i as f32).collect();
        Tensor::from_data(TensorData::new(values, [count, 3, side, side]), device)
    }

    #[test]
    fn a_shift_moves_each_image_by_its_own_offset_and_fills_zeros() {
        let device = Device::flex();
        let side = 5;
        let images = ramp(2, side, &device);
        let before = images.clone().into_data().try_to_vec::<f32>().unwrap();
        let after = shift(images, &[1, -2], &[0, 1]).into_data().try_to_vec::<f32>().unwrap();
        let at = |v: &[f32], n: usize, c: usize, y: usize, x: usize| v[((n * 3 + c) * side + y) * side + x];
        for c in 0..3 {
            for y in 0..side {
                for x in 0..side {
                    let first = if y >= 1 { at(&before, 0, c, y - 1, x) } else { 0.0 };
                    assert_eq!(at(&after, 0, c, y, x), first, "image 0, ({c}, {y}, {x})");
                    let second = if y + 2 < side && x >= 1 { at(&before, 1, c, y + 2, x - 1) } else { 0.0 };
                    assert_eq!(at(&after, 1, c, y, x), second, "image 1, ({c}, {y}, {x})");
                }
            }
        }
    }

    #[test]
    fn augmentation_keeps_the_shape_passes_gradients_and_is_reproducible() {
        let device = Device::flex().autodiff();
        let images = (ramp(4, 8, &device) / 768.0 - 0.5).require_grad();
        let once = augment(images.clone(), &mut Pcg64::seed_from_u64(3));
        let again = augment(images.clone(), &mut Pcg64::seed_from_u64(3));
        assert_eq!(once.dims(), [4, 3, 8, 8]);
        assert_eq!(once.clone().into_data(), again.into_data(), "the same random stream gives the same augmentation");
        let values = once.clone().into_data().try_to_vec::<f32>().unwrap();
        let zeros = values.iter().filter(|v| **v == 0.0).count();
        assert!(zeros >= 4 * 3 * 16, "each image has a 4×4 cut-out square at least ({zeros} zeros)");
        let grads = once.sum().backward();
        let grad = images.grad(&grads).expect("a gradient reaches the images").into_data().try_to_vec::<f32>().unwrap();
        assert!(grad.iter().all(|g| g.is_finite()) && grad.iter().any(|g| *g != 0.0));
    }
}

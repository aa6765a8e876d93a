//! The generator's extra inputs: one-hot pose codes `c` and uniform noise `z`.

use burn::prelude::*;
use rand::Rng;

/// One-hot codes `[B, Np]` for the bins in `bins`.
pub fn pose_one_hot(bins: &[usize], num_poses: usize, device: &Device) -> Tensor<2> {
    let mut values = vec![0.0f32; bins.len() * num_poses];
    for (row, &bin) in bins.iter().enumerate() {
        values[row * num_poses + bin] = 1.0;
    }
    Tensor::from_data(TensorData::new(values, [bins.len(), num_poses]), device)
}

/// Noise `[B, Nz]` uniform in [−1, 1], drawn from `rng` so that a run can be replayed.
pub fn uniform_noise(
    rng: &mut impl Rng,
    batch: usize,
    noise_dim: usize,
    device: &Device,
) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(uniform_values(rng, batch * noise_dim), [batch, noise_dim]),
        device,
    )
}

/// `count` draws of U[−1, 1] from `rng` (each from one `next_u64`; `model::architecture` says
/// how, for ports).
pub fn uniform_values(rng: &mut impl Rng, count: usize) -> Vec<f32> {
    (0..count)
        .map(|_| rng.random_range(-1.0f32..=1.0))
        .collect()
}

/// Class labels as an integer tensor `[B]`.
pub fn labels(values: &[usize], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = values.iter().map(|&v| v as i64).collect();
    let len = values.len();
    Tensor::from_data(TensorData::new(values, [len]), device)
}

//! What several test files share.

use drgan_studio::device::DeviceChoice;
use drgan_studio::train::{Balance, Recipe, TrainSettings};

/// A tiny run's settings on the CPU: `steps` steps of 4 images, a checkpoint every 3 steps, the
/// paper's recipe.
pub fn settings(steps: u64) -> TrainSettings {
    TrainSettings {
        steps,
        batch_size: 4,
        learning_rate: 2e-4,
        beta1: 0.5,
        beta2: 0.999,
        seed: 5,
        checkpoint_every: 3,
        balance: Balance::default(),
        flip: false,
        test_fraction: 0.25,
        device: DeviceChoice::Cpu,
        cfp_two_bins: false,
        eval_every: 0,
        recipe: Recipe::default(),
        multi: None,
    }
}

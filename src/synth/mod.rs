//! Synthetic face sets: seeded 3D heads whose identity and pose are known exactly, so any
//! identity can be redrawn at any yaw as ground truth.

pub mod head;
pub mod render;

use image::RgbImage;
use rand::SeedableRng;
use rand_pcg::Pcg64;

pub use head::Identity;
pub use render::{Lighting, render};

/// The recipe of a synthetic face set.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SynthSpec {
    /// Number of identities.
    pub identities: usize,
    /// Seed: the same seed gives the same people and pixels.
    pub seed: u64,
    /// Lighting conditions per identity and pose.
    pub lights: usize,
}

/// Most identities a synthetic set may have (900,000 images at nine poses and one light).
pub const MAX_IDENTITIES: usize = 100_000;

/// Most lighting conditions a synthetic set may have.
pub const MAX_LIGHTS: usize = 64;

impl SynthSpec {
    /// Checks the sizes before anything is allocated for them: a hand-edited settings file or
    /// a slip of the keyboard (`--synthetic 100000000`) gets a message, not an abort.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=MAX_IDENTITIES).contains(&self.identities),
            "a synthetic set has 1 to {MAX_IDENTITIES} identities (asked for {})",
            self.identities
        );
        anyhow::ensure!((1..=MAX_LIGHTS).contains(&self.lights), "a synthetic set has 1 to {MAX_LIGHTS} lights (asked for {})", self.lights);
        Ok(())
    }

    /// Person `index` of this set. A person depends only on the seed and the index, so a set
    /// with more identities starts with the same people.
    pub fn identity(&self, index: usize) -> Identity {
        let stream = (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        let mut rng = Pcg64::seed_from_u64(self.seed ^ stream);
        Identity::random(&mut rng)
    }

    /// Renders person `index` at `yaw` degrees under lighting condition `light`.
    pub fn render(&self, index: usize, yaw: f32, light: usize, size: u32) -> RgbImage {
        render(&self.identity(index).head(), yaw, &Lighting::standard(light), size)
    }
}

/// Name of a synthetic identity as written in manifests, e.g. `id0007`.
pub fn identity_name(index: usize) -> String {
    format!("id{index:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_pixels_and_different_people_differ() {
        let spec = SynthSpec { identities: 3, seed: 7, lights: 1 };
        let a = spec.render(0, 30.0, 0, 32);
        assert_eq!(a, spec.render(0, 30.0, 0, 32));
        let b = spec.render(1, 30.0, 0, 32);
        let diff: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y) as u64).sum();
        assert!(diff > 32 * 32 * 3 * 5, "two identities should look different (diff {diff})");
    }

    #[test]
    fn a_turn_mirrors_the_opposite_turn() {
        let spec = SynthSpec { identities: 1, seed: 1, lights: 1 };
        let head = spec.identity(0).head();
        // A light straight from the camera, so that only the head's pose breaks the symmetry.
        let light = Lighting { direction: [0.0, 0.0, 1.0], diffuse: 0.7, ambient: 0.3 };
        let left = render(&head, -45.0, &light, 32);
        let right = render(&head, 45.0, &light, 32);
        let mirrored = image::imageops::flip_horizontal(&right);
        let diff = |a: &RgbImage, b: &RgbImage| -> u64 {
            a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y) as u64).sum()
        };
        let (unmirrored, mirrored) = (diff(&left, &right), diff(&left, &mirrored));
        assert!(unmirrored > 5 * mirrored, "turned heads: {unmirrored} apart, {mirrored} once mirrored");
    }
}

//! Degraded copies of training faces for the multi-image DR-GAN: strong blur, an occluding box
//! or heavy noise. Clean synthetic faces are all equally good, so without them the confidence ω
//! would have nothing to learn; with them, a good ω lets the fused feature lean on the clean
//! photos of a person, as the paper's does on the better photos of a real set.

use rand::Rng;
use rand_distr::StandardNormal;

/// A way of spoiling an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Degradation {
    /// A box blur of a tenth of the image side, twice (close to a Gaussian).
    Blur,
    /// A flat grey box over 40–60 % of the side.
    Occlusion,
    /// Gaussian noise of standard deviation 0.6 (pixels in [−1, 1]).
    Noise,
}

impl Degradation {
    /// Every kind, for drawing one at random.
    pub const ALL: [Degradation; 3] = [Degradation::Blur, Degradation::Occlusion, Degradation::Noise];

    /// Spoils `pixels`, one channel-first image of side `size` in [−1, 1].
    pub fn apply(self, pixels: &mut [f32], size: usize, rng: &mut impl Rng) {
        match self {
            Degradation::Blur => {
                let radius = (size / 10).max(1);
                for plane in pixels.chunks_mut(size * size) {
                    for _ in 0..2 {
                        box_blur(plane, size, radius);
                    }
                }
            }
            Degradation::Occlusion => {
                let side = (size as f32 * rng.random_range(0.4..0.6)) as usize;
                let (x0, y0) = (rng.random_range(0..=size - side), rng.random_range(0..=size - side));
                let value = rng.random_range(-0.6f32..0.6);
                for plane in pixels.chunks_mut(size * size) {
                    for y in y0..y0 + side {
                        plane[y * size + x0..y * size + x0 + side].fill(value);
                    }
                }
            }
            Degradation::Noise => {
                for value in pixels.iter_mut() {
                    let noise: f32 = rng.sample(StandardNormal);
                    *value = (*value + 0.6 * noise).clamp(-1.0, 1.0);
                }
            }
        }
    }
}

/// A box blur of `radius` along rows, then columns, of one `size`×`size` plane (edges clamp).
fn box_blur(plane: &mut [f32], size: usize, radius: usize) {
    let mut line = vec![0.0f32; size];
    let blur = |values: &mut [f32], line: &mut [f32]| {
        for (i, out) in line.iter_mut().enumerate() {
            let (lo, hi) = (i.saturating_sub(radius), (i + radius).min(size - 1));
            *out = values[lo..=hi].iter().sum::<f32>() / (hi - lo + 1) as f32;
        }
        values.copy_from_slice(line);
    };
    for row in plane.chunks_mut(size) {
        blur(row, &mut line);
    }
    let mut column = vec![0.0f32; size];
    for x in 0..size {
        for y in 0..size {
            column[y] = plane[y * size + x];
        }
        blur(&mut column, &mut line);
        for y in 0..size {
            plane[y * size + x] = column[y];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn each_degradation_changes_an_image_and_keeps_it_in_range() {
        let size = 16;
        let clean: Vec<f32> = (0..3 * size * size).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        for kind in Degradation::ALL {
            let mut spoiled = clean.clone();
            kind.apply(&mut spoiled, size, &mut rng);
            let change: f32 = spoiled.iter().zip(&clean).map(|(a, b)| (a - b).abs()).sum::<f32>() / clean.len() as f32;
            assert!(change > 0.05, "{kind:?} changed the image by {change}");
            assert!(spoiled.iter().all(|v| (-1.0..=1.0).contains(v)), "{kind:?} left the range");
        }
    }
}

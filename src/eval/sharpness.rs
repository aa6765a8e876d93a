//! How soft G's faces are, as the Gaussian blur that gives real faces as little fine detail. The
//! pose judge is trained on the renderer's sharp faces, and it misreads blurred real faces the
//! way it misreads soft generated ones (±45° seen as ±60°, 0° as −15°); its accuracy on real
//! faces blurred that much is the pose control a perfectly posed face as soft as G's would get,
//! so that a pose figure can be read as pose or as sharpness.

use image::RgbImage;
use rayon::prelude::*;

/// The largest blur tried (σ, pixels), and the step between blurs.
const MAX_SIGMA: f32 = 4.0;
const SIGMA_STEP: f32 = 0.1;

/// `image` blurred by a Gaussian of standard deviation `sigma` pixels (0: unchanged).
pub fn blurred(image: &RgbImage, sigma: f32) -> RgbImage {
    if sigma > 0.0 { image::imageops::blur(image, sigma) } else { image.clone() }
}

/// Mean absolute difference of neighbouring pixels (right and down, every channel): how much
/// fine detail an image has.
pub fn detail(image: &RgbImage) -> f64 {
    let (width, height) = image.dimensions();
    let mut total = 0u64;
    let mut count = 0u64;
    for y in 0..height {
        for x in 0..width {
            let here = image.get_pixel(x, y).0;
            for (dx, dy) in [(1, 0), (0, 1)] {
                if x + dx < width && y + dy < height {
                    let there = image.get_pixel(x + dx, y + dy).0;
                    total += here.iter().zip(there).map(|(a, b)| u64::from(a.abs_diff(b))).sum::<u64>();
                    count += 3;
                }
            }
        }
    }
    total as f64 / count.max(1) as f64
}

/// The blur (σ in pixels, 0 to 4 in tenths) that leaves the `real` faces with the mean detail
/// the `generated` ones have; `None` when either set is empty. Faces with more detail than the
/// real ones (noise, stripes) give 0.
pub fn equivalent_blur(real: &[&RgbImage], generated: &[&RgbImage]) -> Option<f32> {
    if real.is_empty() || generated.is_empty() {
        return None;
    }
    let mean_detail = |images: Vec<RgbImage>| images.par_iter().map(detail).sum::<f64>() / images.len() as f64;
    let target = generated.par_iter().map(|image| detail(image)).sum::<f64>() / generated.len() as f64;
    let steps = (MAX_SIGMA / SIGMA_STEP).round() as usize;
    (0..=steps)
        .map(|step| step as f32 * SIGMA_STEP)
        .map(|sigma| (sigma, (mean_detail(real.iter().map(|image| blurred(image, sigma)).collect()) - target).abs()))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(sigma, _)| sigma)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 24×24 face-like pattern: a bright disc with dark eyes on a grey ground.
    fn face() -> RgbImage {
        RgbImage::from_fn(24, 24, |x, y| {
            let (dx, dy) = (x as f32 - 12.0, y as f32 - 12.0);
            let eye = (x == 8 || x == 15) && (9..=10).contains(&y);
            let value = if dx * dx + dy * dy < 64.0 { if eye { 20 } else { 220 } } else { 110 };
            image::Rgb([value, value, value])
        })
    }

    #[test]
    fn the_blur_that_softened_a_face_is_the_one_found() {
        let real = face();
        for sigma in [0.0f32, 1.0, 2.0] {
            let soft = blurred(&real, sigma);
            let found = equivalent_blur(&[&real], &[&soft]).unwrap();
            assert!((found - sigma).abs() < 0.15, "a face blurred by σ {sigma} was found at {found}");
        }
        assert_eq!(equivalent_blur(&[], &[&real]), None);
        assert!(detail(&blurred(&real, 1.0)) < detail(&real), "blurring removes detail");
    }
}

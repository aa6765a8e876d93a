//! SSIM and PSNR between a generated face and the true rendering of the same face.

use image::RgbImage;

/// Side of the Gaussian window of SSIM (Wang et al. 2004: 11, σ = 1.5).
const WINDOW: usize = 11;
const SIGMA: f64 = 1.5;

/// Mean structural similarity of two equally sized RGB images, computed on luma with an 11×11
/// Gaussian window (σ 1.5) over every position where the window fits; images smaller than the
/// window use one window the size of the image. 1 means identical.
pub fn ssim(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "SSIM needs images of one size");
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (x, y) = (luma(a), luma(b));
    let side = WINDOW.min(w).min(h);
    let weights = gaussian(side);
    let (c1, c2) = ((0.01 * 255.0f64).powi(2), (0.03 * 255.0f64).powi(2));
    let mut total = 0.0;
    let mut count = 0usize;
    for top in 0..=h - side {
        for left in 0..=w - side {
            let (mut mx, mut my, mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for j in 0..side {
                for i in 0..side {
                    let weight = weights[j] * weights[i];
                    let at = (top + j) * w + left + i;
                    let (p, q) = (x[at], y[at]);
                    mx += weight * p;
                    my += weight * q;
                    xx += weight * p * p;
                    yy += weight * q * q;
                    xy += weight * p * q;
                }
            }
            let (vx, vy, cov) = (xx - mx * mx, yy - my * my, xy - mx * my);
            total += ((2.0 * mx * my + c1) * (2.0 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
            count += 1;
        }
    }
    total / count as f64
}

/// Peak signal-to-noise ratio in dB over all three channels; infinite for identical images.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "PSNR needs images of one size");
    let squared: f64 = a.as_raw().iter().zip(b.as_raw()).map(|(&p, &q)| (p as f64 - q as f64).powi(2)).sum();
    let mse = squared / a.as_raw().len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}

fn luma(image: &RgbImage) -> Vec<f64> {
    image.pixels().map(|p| 0.299 * p.0[0] as f64 + 0.587 * p.0[1] as f64 + 0.114 * p.0[2] as f64).collect()
}

/// A normalised 1-D Gaussian of `side` taps; the 2-D window is its outer product.
fn gaussian(side: usize) -> Vec<f64> {
    let centre = (side as f64 - 1.0) / 2.0;
    let taps: Vec<f64> = (0..side).map(|i| (-((i as f64 - centre).powi(2)) / (2.0 * SIGMA * SIGMA)).exp()).collect();
    let sum: f64 = taps.iter().sum();
    taps.into_iter().map(|t| t / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise_image(seed: u32) -> RgbImage {
        RgbImage::from_fn(32, 32, |x, y| {
            let v = (x.wrapping_mul(73) ^ y.wrapping_mul(151) ^ seed.wrapping_mul(2654435761)) % 256;
            image::Rgb([v as u8, (v * 7 % 256) as u8, (v * 13 % 256) as u8])
        })
    }

    #[test]
    fn an_image_with_itself_has_ssim_one_and_infinite_psnr() {
        let image = noise_image(1);
        assert!((ssim(&image, &image) - 1.0).abs() < 1e-12);
        assert!(psnr(&image, &image).is_infinite());
    }

    #[test]
    fn unrelated_images_score_low_and_psnr_matches_a_known_error() {
        assert!(ssim(&noise_image(1), &noise_image(2)) < 0.3);
        let black = RgbImage::new(8, 8);
        let grey = RgbImage::from_pixel(8, 8, image::Rgb([10, 10, 10]));
        // MSE 100 → 10·log10(65025 / 100) = 28.13 dB.
        assert!((psnr(&black, &grey) - 28.131).abs() < 1e-3);
    }
}

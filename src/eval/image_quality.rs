//! SSIM and PSNR between a generated face and the true rendering of the same face.

use image::RgbImage;

/// Side of the Gaussian window of SSIM (Wang et al. 2004: 11, σ = 1.5).
const WINDOW: usize = 11;
const SIGMA: f64 = 1.5;

/// SSIM's stabilising constants `C1 = (0.01·255)²` and `C2 = (0.03·255)²`, for luma in 0..=255.
pub const SSIM_C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
/// See [`SSIM_C1`].
pub const SSIM_C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// A value per pixel of an image; `None` where the measure has no value (SSIM's border, where
/// the window centred on the pixel would leave the image).
#[derive(Clone, Debug, PartialEq)]
pub struct PixelMap {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row by row, top first.
    pub values: Vec<Option<f64>>,
}

impl PixelMap {
    /// The mean over the pixels that have a value (NaN when none has).
    pub fn mean(&self) -> f64 {
        let (sum, count) = self.values.iter().flatten().fold((0.0, 0usize), |(sum, count), v| (sum + v, count + 1));
        sum / count as f64
    }
}

/// The side of SSIM's window for images of `width` × `height` (11, or less for smaller images).
pub fn ssim_window(width: usize, height: usize) -> usize {
    WINDOW.min(width).min(height)
}

/// Mean structural similarity of two equally sized RGB images, computed on luma with an 11×11
/// Gaussian window (σ 1.5) over every position where the window fits; images smaller than the
/// window use one window the size of the image. 1 means identical. It is the mean of
/// [`ssim_map`].
pub fn ssim(a: &RgbImage, b: &RgbImage) -> f64 {
    ssim_map(a, b).mean()
}

/// The local SSIM of every window position, written at the window's centre pixel (the pixel
/// `(side − 1) / 2` right of and below its top-left corner); pixels no window is centred on
/// have none.
pub fn ssim_map(a: &RgbImage, b: &RgbImage) -> PixelMap {
    assert_eq!(a.dimensions(), b.dimensions(), "SSIM needs images of one size");
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (x, y) = (luma(a), luma(b));
    let side = ssim_window(w, h);
    let mut values = vec![None; w * h];
    if side == 0 {
        return PixelMap { width: w, height: h, values };
    }
    let weights = gaussian(side);
    let offset = (side - 1) / 2;
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
            let local = ((2.0 * mx * my + SSIM_C1) * (2.0 * cov + SSIM_C2)) / ((mx * mx + my * my + SSIM_C1) * (vx + vy + SSIM_C2));
            values[(top + offset) * w + left + offset] = Some(local);
        }
    }
    PixelMap { width: w, height: h, values }
}

/// The mean absolute difference of the three channels at every pixel, in 0..=255.
pub fn difference_map(a: &RgbImage, b: &RgbImage) -> PixelMap {
    assert_eq!(a.dimensions(), b.dimensions(), "a difference needs images of one size");
    let values = a
        .pixels()
        .zip(b.pixels())
        .map(|(p, q)| Some(p.0.iter().zip(q.0).map(|(&u, v)| (u as f64 - v as f64).abs()).sum::<f64>() / 3.0))
        .collect();
    PixelMap { width: a.width() as usize, height: a.height() as usize, values }
}

/// Peak signal-to-noise ratio in dB over all three channels; infinite for identical images.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "PSNR needs images of one size");
    let squared: f64 = a.as_raw().iter().zip(b.as_raw()).map(|(&p, &q)| (p as f64 - q as f64).powi(2)).sum();
    let mse = squared / a.as_raw().len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}

/// The luma (BT.601 weights) of every pixel, in 0..=255.
pub fn luma(image: &RgbImage) -> Vec<f64> {
    image.pixels().map(|p| 0.299 * p.0[0] as f64 + 0.587 * p.0[1] as f64 + 0.114 * p.0[2] as f64).collect()
}

/// SSIM's normalised 1-D Gaussian of `side` taps (σ 1.5); the 2-D window is its outer product.
pub fn gaussian(side: usize) -> Vec<f64> {
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
    fn the_ssim_map_has_a_value_where_a_window_is_centred_and_its_mean_is_ssim() {
        let (a, b) = (noise_image(1), noise_image(3));
        let map = ssim_map(&a, &b);
        assert_eq!(map.values.iter().flatten().count(), 22 * 22);
        assert!(map.values[5 * 32 + 5].is_some() && map.values[4 * 32 + 5].is_none() && map.values[26 * 32 + 26].is_some() && map.values[27 * 32 + 26].is_none());
        assert_eq!(map.mean(), ssim(&a, &b));
        let same = difference_map(&a, &a);
        assert!(same.values.iter().all(|v| *v == Some(0.0)));
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

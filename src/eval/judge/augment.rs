//! What the judge learns from: each training face changed in ways that keep the person (a small
//! shift and scale, a mirror, colour jitter, blur, a coarser resolution, noise, JPEG
//! compression), so that it judges who a face is and not how sharp the renderer draws; and
//! pictures of no one (flat colour, noise, a face blurred past recognition, the average of
//! several people), which it learns to keep apart from every person.

use image::{Rgb, RgbImage, imageops::FilterType};
use rand::Rng;
use rand_distr::StandardNormal;

use super::network::INPUT;
use crate::data::prepare::{load_size, to_chw};

/// Side of the images a pool keeps: the load size of the judge's input (its centre crop is
/// the judge's view of an evaluation face).
pub const POOL_SIDE: usize = (INPUT * 110 + 48) / 96;

/// Training faces at [`POOL_SIDE`], one label each.
pub struct Pool {
    pixels: Vec<u8>,
    /// The class of each face.
    pub labels: Vec<u32>,
    /// Number of classes (people).
    pub classes: usize,
}

impl Pool {
    /// An empty pool of `classes` people.
    pub fn new(classes: usize) -> Self {
        debug_assert_eq!(POOL_SIDE, load_size(INPUT));
        Self {
            pixels: Vec::new(),
            labels: Vec::new(),
            classes,
        }
    }

    /// Adds a face (resized to [`POOL_SIDE`] if it is not).
    pub fn push(&mut self, image: &RgbImage, label: u32) {
        let side = POOL_SIDE as u32;
        if image.dimensions() == (side, side) {
            self.pixels.extend_from_slice(image.as_raw());
        } else {
            self.pixels.extend_from_slice(
                image::imageops::resize(image, side, side, FilterType::Triangle).as_raw(),
            );
        }
        self.labels.push(label);
    }

    /// Number of faces.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the pool holds no face.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Face `index`.
    pub fn image(&self, index: usize) -> RgbImage {
        let bytes = 3 * POOL_SIDE * POOL_SIDE;
        let raw = self.pixels[index * bytes..(index + 1) * bytes].to_vec();
        RgbImage::from_raw(POOL_SIDE as u32, POOL_SIDE as u32, raw).unwrap_or_default()
    }

    /// Face `index` as an evaluation sees it: the centre crop at the judge's side.
    pub fn centre(&self, index: usize) -> RgbImage {
        let offset = ((POOL_SIDE - INPUT) / 2) as u32;
        image::imageops::crop_imm(
            &self.image(index),
            offset,
            offset,
            INPUT as u32,
            INPUT as u32,
        )
        .to_image()
    }
}

/// A randomly changed view of a training face at [`POOL_SIDE`], as the judge's input
/// (channel-first floats in [−1, 1]). The person stays recognisable.
pub fn identity_view(face: &RgbImage, rng: &mut impl Rng) -> Vec<f32> {
    let mut image = crop_and_scale(face, rng);
    if rng.random_bool(0.5) {
        image = image::imageops::flip_horizontal(&image);
    }
    let soften: f32 = rng.random();
    if soften < 0.35 {
        image = image::imageops::blur(&image, rng.random_range(0.3..1.5));
    } else if soften < 0.5 {
        // A coarser picture brought back up, as a `tiny` model's 32×32 faces reach the judge.
        let side = rng.random_range(28..48u32);
        let small = image::imageops::resize(&image, side, side, FilterType::Triangle);
        image = image::imageops::resize(&small, INPUT as u32, INPUT as u32, FilterType::Triangle);
    }
    if rng.random_bool(0.3) {
        image = jpeg(&image, rng.random_range(30..90));
    }
    let mut pixels = to_chw(&image);
    colour_jitter(&mut pixels, rng);
    if rng.random_bool(0.3) {
        let sigma = rng.random_range(0.0..0.08f32);
        for value in &mut pixels {
            let noise: f32 = rng.sample(StandardNormal);
            *value = (*value + sigma * noise).clamp(-1.0, 1.0);
        }
    }
    pixels
}

/// A square of side 58–70 pixels around the centre (moved by up to 4), resized to the judge's
/// side: the small shifts and scales of a face placed by hand or by a detector.
fn crop_and_scale(face: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    let full = face.width() as i32;
    let side = rng.random_range(58..=70).min(full);
    let centre = full / 2;
    let left = (centre - side / 2 + rng.random_range(-4..=4)).clamp(0, full - side);
    let top = (centre - side / 2 + rng.random_range(-4..=4)).clamp(0, full - side);
    let crop = image::imageops::crop_imm(face, left as u32, top as u32, side as u32, side as u32)
        .to_image();
    if side as usize == INPUT {
        crop
    } else {
        image::imageops::resize(&crop, INPUT as u32, INPUT as u32, FilterType::Triangle)
    }
}

/// Brightness ±0.1, contrast and saturation ×0.85–1.15, and each channel ×0.95–1.05 (pixels in
/// [−1, 1], channel-first): other cameras and lights, but not another skin or hair colour.
fn colour_jitter(pixels: &mut [f32], rng: &mut impl Rng) {
    let plane = pixels.len() / 3;
    let brightness = rng.random_range(-0.1..0.1f32);
    let contrast = rng.random_range(0.85..1.15f32);
    let saturation = rng.random_range(0.85..1.15f32);
    let gains: [f32; 3] = [
        rng.random_range(0.95..1.05),
        rng.random_range(0.95..1.05),
        rng.random_range(0.95..1.05),
    ];
    let mean = pixels.iter().sum::<f32>() / pixels.len().max(1) as f32;
    for i in 0..plane {
        let grey = (pixels[i] + pixels[plane + i] + pixels[2 * plane + i]) / 3.0;
        for (c, gain) in gains.iter().enumerate() {
            let value = &mut pixels[c * plane + i];
            let saturated = grey + (*value - grey) * saturation;
            *value = ((mean + (saturated - mean) * contrast) * gain + brightness).clamp(-1.0, 1.0);
        }
    }
}

/// `image` compressed as a JPEG of `quality` and read back (unchanged if that fails).
fn jpeg(image: &RgbImage, quality: u8) -> RgbImage {
    let mut bytes = Vec::new();
    let encoded =
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(image);
    match encoded
        .ok()
        .and_then(|()| image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).ok())
    {
        Some(decoded) => decoded.to_rgb8(),
        None => image.clone(),
    }
}

/// The kinds of pictures of no one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoOne {
    /// One flat colour.
    Flat,
    /// Independent noise in every pixel.
    Noise,
    /// Noise at an eighth of the side, smoothly enlarged.
    Blobs,
    /// A face blurred by a Gaussian of σ 3–6 pixels.
    Blurred,
    /// The average of 4–16 faces of different people (a flat colour in a pool of fewer than
    /// four people).
    Average,
}

impl NoOne {
    /// Every kind.
    pub const ALL: [NoOne; 5] = [
        NoOne::Flat,
        NoOne::Noise,
        NoOne::Blobs,
        NoOne::Blurred,
        NoOne::Average,
    ];

    /// A picture of this kind, drawing faces from `pool` where it needs them.
    pub fn picture(self, pool: &Pool, rng: &mut impl Rng) -> RgbImage {
        let side = INPUT as u32;
        match self {
            NoOne::Flat => {
                let colour = Rgb([rng.random(), rng.random(), rng.random()]);
                RgbImage::from_pixel(side, side, colour)
            }
            NoOne::Noise => RgbImage::from_fn(side, side, |_, _| {
                Rgb([rng.random(), rng.random(), rng.random()])
            }),
            NoOne::Blobs => {
                let small = RgbImage::from_fn(side / 8, side / 8, |_, _| {
                    Rgb([rng.random(), rng.random(), rng.random()])
                });
                image::imageops::resize(&small, side, side, FilterType::Triangle)
            }
            NoOne::Blurred => {
                let face = pool.centre(rng.random_range(0..pool.len()));
                image::imageops::blur(&face, rng.random_range(3.0..6.0))
            }
            NoOne::Average if pool.classes >= 4 => {
                let wanted = rng.random_range(4..=16usize).min(pool.classes);
                let mut people = std::collections::HashSet::new();
                let mut faces = Vec::new();
                // Faces of distinct people, drawn at random (a bounded number of tries).
                for _ in 0..wanted * 20 {
                    let index = rng.random_range(0..pool.len());
                    if people.insert(pool.labels[index]) {
                        faces.push(pool.centre(index));
                        if faces.len() == wanted {
                            break;
                        }
                    }
                }
                average(&faces)
            }
            NoOne::Average => NoOne::Flat.picture(pool, rng),
        }
    }
}

/// The pixel-wise mean of `faces` (all of one size; black when there are none).
pub fn average(faces: &[RgbImage]) -> RgbImage {
    let Some(first) = faces.first() else {
        return RgbImage::new(INPUT as u32, INPUT as u32);
    };
    let mut sums = vec![0u32; first.as_raw().len()];
    for face in faces {
        for (sum, &value) in sums.iter_mut().zip(face.as_raw()) {
            *sum += u32::from(value);
        }
    }
    let count = faces.len() as u32;
    let raw = sums
        .iter()
        .map(|&s| ((s + count / 2) / count) as u8)
        .collect();
    RgbImage::from_raw(first.width(), first.height(), raw).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    #[test]
    fn views_have_the_judges_shape_and_range_and_differ_from_each_other() {
        let face = RgbImage::from_fn(POOL_SIDE as u32, POOL_SIDE as u32, |x, y| {
            Rgb([(x * 3) as u8, (y * 3) as u8, 100])
        });
        let mut rng = Pcg64::seed_from_u64(1);
        let a = identity_view(&face, &mut rng);
        let b = identity_view(&face, &mut rng);
        assert_eq!(a.len(), 3 * INPUT * INPUT);
        assert!(a.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_ne!(a, b, "two views of one face are two draws");
    }

    #[test]
    fn pictures_of_no_one_have_the_judges_side() {
        let mut pool = Pool::new(2);
        for label in 0..2 {
            pool.push(
                &RgbImage::from_pixel(80, 80, Rgb([label as u8 * 200, 50, 50])),
                label,
            );
        }
        assert_eq!(pool.len(), 2);
        assert_eq!(
            pool.image(1).dimensions(),
            (POOL_SIDE as u32, POOL_SIDE as u32)
        );
        let mut rng = Pcg64::seed_from_u64(2);
        for kind in NoOne::ALL {
            assert_eq!(
                kind.picture(&pool, &mut rng).dimensions(),
                (INPUT as u32, INPUT as u32),
                "{kind:?}"
            );
        }
        let mean = average(&[
            RgbImage::from_pixel(2, 2, Rgb([0, 0, 0])),
            RgbImage::from_pixel(2, 2, Rgb([200, 100, 10])),
        ]);
        assert_eq!(mean.get_pixel(0, 0).0, [100, 50, 5]);
    }
}

//! Aligning a photo to the model's crop. A model understands faces cropped and aligned like its
//! training data; a centre crop of a holiday photo is not that. Three landmarks on the photo
//! (the two eye centres, image-left first, and the mouth centre) are mapped by a similarity
//! transform (rotation, one scale, a shift; least squares over the three points) onto where the
//! synthetic renderer puts them in a centred crop, and the photo is resampled through it.

use std::str::FromStr;

use anyhow::{bail, ensure};
use image::{RgbImage, imageops};

use super::prepare::{Crop, load_size};

/// Where the synthetic renderer's people have their landmarks at yaw 0, as fractions of the
/// rendered square (x right, y down): the image-left eye, the image-right eye and the mouth.
/// The mean over 2,000 people of seed 0, measured once; the test
/// `canonical_landmarks_are_the_renderers_mean` measures them again.
pub const CANONICAL: [[f32; 2]; 3] = [[0.3832, 0.4081], [0.6168, 0.4081], [0.5, 0.6705]];

/// The names of the three landmarks, in order.
pub const NAMES: [&str; 3] = ["the image-left eye", "the image-right eye", "the mouth"];

/// Three points on a photo, in its pixels: the image-left eye's centre, the image-right eye's
/// and the mouth's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Landmarks(pub [[f32; 2]; 3]);

impl FromStr for Landmarks {
    type Err = anyhow::Error;

    /// `x1,y1,x2,y2,x3,y3`.
    fn from_str(text: &str) -> anyhow::Result<Self> {
        let numbers: Vec<f32> = text.split(',').map(|n| n.trim().parse::<f32>()).collect::<Result<_, _>>().map_err(|e| anyhow::anyhow!("{text:?}: {e}"))?;
        ensure!(numbers.len() == 6, "{text:?}: six numbers are needed, x,y of the image-left eye, the image-right eye and the mouth");
        ensure!(numbers.iter().all(|n| n.is_finite()), "{text:?}: the coordinates must be finite");
        Ok(Landmarks([[numbers[0], numbers[1]], [numbers[2], numbers[3]], [numbers[4], numbers[5]]]))
    }
}

/// The landmarks' places in the model's `size`×`size` input, in pixels: the renderer's square is
/// loaded at [`load_size`] and centre-cropped, exactly as a synthetic face reaches the model.
pub fn canonical_in_crop(size: usize) -> [[f32; 2]; 3] {
    let load = load_size(size);
    let crop = Crop::centre(load, size);
    CANONICAL.map(|[x, y]| [x * load as f32 - crop.x as f32, y * load as f32 - crop.y as f32])
}

/// `p ↦ (a·x − b·y + tx, b·x + a·y + ty)`: a rotation and one scale (`a`, `b`) and a shift.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    a: f32,
    b: f32,
    tx: f32,
    ty: f32,
}

impl Similarity {
    /// The least-squares similarity taking `from` onto `to` (Umeyama's closed form in 2-D);
    /// `None` when the `from` points coincide.
    pub fn fit(from: &[[f32; 2]; 3], to: &[[f32; 2]; 3]) -> Option<Self> {
        let mean = |points: &[[f32; 2]; 3]| [0, 1].map(|c| points.iter().map(|p| p[c]).sum::<f32>() / 3.0);
        let (mf, mt) = (mean(from), mean(to));
        let (mut spread, mut dot, mut cross) = (0.0, 0.0, 0.0);
        for (p, q) in from.iter().zip(to) {
            let (x, y) = (p[0] - mf[0], p[1] - mf[1]);
            let (u, v) = (q[0] - mt[0], q[1] - mt[1]);
            spread += x * x + y * y;
            dot += x * u + y * v;
            cross += x * v - y * u;
        }
        if spread < 1e-6 {
            return None;
        }
        let (a, b) = (dot / spread, cross / spread);
        Some(Self { a, b, tx: mt[0] - (a * mf[0] - b * mf[1]), ty: mt[1] - (b * mf[0] + a * mf[1]) })
    }

    /// Where `p` goes.
    pub fn apply(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        [self.a * x - self.b * y + self.tx, self.b * x + self.a * y + self.ty]
    }

    /// The scale it applies.
    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// The transform that undoes this one.
    pub fn inverse(&self) -> Self {
        let norm = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / norm, -self.b / norm);
        Self { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) }
    }
}

/// Checks that the landmarks lie on a `width`×`height` photo and make a face-like triangle.
pub fn check(landmarks: &Landmarks, width: u32, height: u32) -> anyhow::Result<()> {
    for (point, name) in landmarks.0.iter().zip(NAMES) {
        ensure!(
            (0.0..=width as f32).contains(&point[0]) && (0.0..=height as f32).contains(&point[1]),
            "{name} ({}, {}) is outside the {width}×{height} photo",
            point[0],
            point[1]
        );
    }
    check_shape(landmarks)
}

/// Checks that the landmarks make a face-like triangle: finite, the eyes apart, the mouth below
/// the line through them (the image-left eye given first).
pub fn check_shape(landmarks: &Landmarks) -> anyhow::Result<()> {
    ensure!(landmarks.0.iter().flatten().all(|v| v.is_finite()), "the landmarks must be finite numbers");
    let [l, r, m] = landmarks.0;
    let eyes = (r[0] - l[0]).hypot(r[1] - l[1]);
    ensure!(eyes >= 2.0, "the two eyes are {eyes:.1} pixels apart; click each eye's centre");
    // Signed: positive when the mouth lies below the line from the image-left eye to the
    // image-right one (y grows downwards), as in CANONICAL. A turn and a scale cannot mirror a
    // face, so eyes given the other way round would align it upside down.
    let off_line = ((r[0] - l[0]) * (m[1] - l[1]) - (r[1] - l[1]) * (m[0] - l[0])) / eyes;
    if off_line.abs() < eyes * 0.2 {
        bail!("the mouth is almost on the line through the eyes; click the mouth's centre, below them");
    }
    if off_line < 0.0 {
        bail!("the eyes are the wrong way round for this mouth: give the eye on the image's left first");
    }
    Ok(())
}

/// `photo` warped so that `landmarks` land on the canonical places of a `size`×`size` model
/// input. Pixels from outside the photo repeat its edge. A photo much larger than the face
/// needs is first shrunk by image's Lanczos filter, so the resampling does not alias.
pub fn align(photo: &RgbImage, landmarks: &Landmarks, size: usize) -> anyhow::Result<RgbImage> {
    warp(photo, landmarks, canonical_in_crop(size), size)
}

/// `photo` warped into a `size`×`size` square with the landmarks where the synthetic renderer
/// puts them in its square: what a crop of the model's input is then taken from, exactly as
/// from a rendering (`prepare::load_rgb`).
pub fn align_square(photo: &RgbImage, landmarks: &Landmarks, size: usize) -> anyhow::Result<RgbImage> {
    warp(photo, landmarks, CANONICAL.map(|[x, y]| [x * size as f32, y * size as f32]), size)
}

/// `photo` warped into a `size`×`size` image with `landmarks` at `target`.
fn warp(photo: &RgbImage, landmarks: &Landmarks, target: [[f32; 2]; 3], size: usize) -> anyhow::Result<RgbImage> {
    check(landmarks, photo.width(), photo.height())?;
    let fit = |points: &[[f32; 2]; 3]| Similarity::fit(points, &target).ok_or_else(|| anyhow::anyhow!("the three landmarks coincide"));
    let mut transform = fit(&landmarks.0)?;
    let scale = transform.scale();
    let shrunk;
    let source = if scale < 0.5 {
        // Shrunk to twice the crop's scale: the bilinear resampling then reads every pixel.
        let (w, h) = (((photo.width() as f32 * scale * 2.0).ceil() as u32).max(1), ((photo.height() as f32 * scale * 2.0).ceil() as u32).max(1));
        shrunk = imageops::resize(photo, w, h, imageops::FilterType::Lanczos3);
        let (sx, sy) = (w as f32 / photo.width() as f32, h as f32 / photo.height() as f32);
        transform = fit(&landmarks.0.map(|[x, y]| [x * sx, y * sy]))?;
        &shrunk
    } else {
        photo
    };
    let back = transform.inverse();
    Ok(RgbImage::from_fn(size as u32, size as u32, |x, y| {
        let [sx, sy] = back.apply([x as f32 + 0.5, y as f32 + 0.5]);
        bilinear(source, sx - 0.5, sy - 0.5)
    }))
}

/// `source` decoded at its own size and aligned by `landmarks` (given in its pixels) into a
/// `size`×`size` model input.
pub fn aligned_input(source: &super::ImageSource, landmarks: &Landmarks, size: usize) -> anyhow::Result<RgbImage> {
    let photo = super::prepare::decode(source).map_err(|e| anyhow::anyhow!("{}: {}", source.describe(), e.reason()))?.to_rgb8();
    align(&photo, landmarks, size).map_err(|e| e.context(format!("aligning {}", source.describe())))
}

/// The photo's colour at `(x, y)` (pixel centres at integers), edges repeated.
fn bilinear(image: &RgbImage, x: f32, y: f32) -> image::Rgb<u8> {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let at = |i: i64, j: i64| image.get_pixel(i.clamp(0, w - 1) as u32, j.clamp(0, h - 1) as u32).0.map(f32::from);
    let (i, j) = (x0 as i64, y0 as i64);
    let (p00, p10, p01, p11) = (at(i, j), at(i + 1, j), at(i, j + 1), at(i + 1, j + 1));
    image::Rgb(std::array::from_fn(|c| {
        let top = p00[c] + (p10[c] - p00[c]) * fx;
        let bottom = p01[c] + (p11[c] - p01[c]) * fx;
        (top + (bottom - top) * fy).round().clamp(0.0, 255.0) as u8
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::SynthSpec;
    use crate::synth::render::project;

    /// The renderer's landmarks of `count` people of seed 0, as fractions of the square.
    fn renderer_mean(count: usize) -> [[f32; 2]; 3] {
        let spec = SynthSpec { identities: count, seed: 0, lights: 1 };
        let mut sum = [[0.0f64; 2]; 3];
        for person in 0..count {
            for (total, point) in sum.iter_mut().zip(spec.identity(person).landmarks()) {
                let [x, y] = project(point, 1);
                total[0] += f64::from(x);
                total[1] += f64::from(y);
            }
        }
        sum.map(|[x, y]| [(x / count as f64) as f32, (y / count as f64) as f32])
    }

    #[test]
    fn canonical_landmarks_are_the_renderers_mean() {
        let mean = renderer_mean(2000);
        for (c, m) in CANONICAL.iter().zip(mean) {
            assert!((c[0] - m[0]).abs() < 5e-4 && (c[1] - m[1]).abs() < 5e-4, "{c:?} against {m:?}");
        }
    }

    /// A synthetic person rendered large at yaw 0, with the true landmarks on that photo.
    fn photo(person: usize, side: u32) -> (RgbImage, Landmarks) {
        let spec = SynthSpec { identities: 8, seed: 3, lights: 1 };
        let image = spec.render(person, 0.0, 0, side);
        (image, Landmarks(spec.identity(person).landmarks().map(|p| project(p, side))))
    }

    #[test]
    fn a_framed_photo_aligned_at_the_canonical_points_is_the_models_crop() {
        let spec = SynthSpec { identities: 8, seed: 3, lights: 1 };
        for person in 0..3 {
            // The rendering shrunk to 150 pixels and placed off-centre on a larger canvas.
            let face = imageops::resize(&spec.render(person, 0.0, 0, 300), 150, 150, imageops::FilterType::Triangle);
            let mut canvas = RgbImage::from_pixel(400, 260, image::Rgb([20, 90, 30]));
            imageops::replace(&mut canvas, &face, 170, 60);
            let landmarks = Landmarks(CANONICAL.map(|[x, y]| [170.0 + x * 150.0, 60.0 + y * 150.0]));
            let aligned = align(&canvas, &landmarks, 64).unwrap();
            let source = crate::data::ImageSource::Synthetic { spec: spec.clone().into(), person, yaw: 0.0, light: 0 };
            let crop = super::super::prepare::centred_input(&source, 64).unwrap();
            let score = crate::eval::image_quality::ssim(&aligned, &crop);
            assert!(score > 0.95, "person {person}: SSIM {score:.3} with the centred crop");
        }
    }

    #[test]
    fn a_turned_photo_aligns_to_the_same_crop() {
        let (image, landmarks) = photo(1, 240);
        let upright = align(&image, &landmarks, 64).unwrap();
        // The photo turned a quarter clockwise: (x, y) → (h − y, x).
        let turned = imageops::rotate90(&image);
        let moved = Landmarks(landmarks.0.map(|[x, y]| [image.height() as f32 - y, x]));
        let again = align(&turned, &moved, 64).unwrap();
        let score = crate::eval::image_quality::ssim(&upright, &again);
        assert!(score > 0.97, "SSIM {score:.3} between the upright and the turned photo, aligned");
    }

    #[test]
    fn the_similarity_fit_recovers_a_known_transform_and_inverts() {
        let known = Similarity { a: 0.6, b: -0.3, tx: 12.0, ty: -4.0 };
        let from = [[10.0, 20.0], [50.0, 22.0], [31.0, 60.0]];
        let fit = Similarity::fit(&from, &from.map(|p| known.apply(p))).unwrap();
        for p in from {
            let (q, r) = (fit.apply(p), known.apply(p));
            assert!((q[0] - r[0]).abs() < 1e-3 && (q[1] - r[1]).abs() < 1e-3);
            let back = fit.inverse().apply(q);
            assert!((back[0] - p[0]).abs() < 1e-3 && (back[1] - p[1]).abs() < 1e-3);
        }
        assert!(Similarity::fit(&[[1.0, 1.0]; 3], &from).is_none());
    }

    #[test]
    fn bad_landmarks_are_refused_with_a_reason() {
        let image = RgbImage::new(100, 100);
        let align_with = |text: &str| align(&image, &text.parse().unwrap(), 32).unwrap_err().to_string();
        assert!(align_with("30,40,30.5,40,50,70").contains("apart"));
        assert!(align_with("30,40,70,40,90,40").contains("line"));
        assert!(align_with("30,40,70,40,50,170").contains("outside"));
        assert!(align_with("70,40,30,40,50,70").contains("wrong way round"));
        assert!("1,2,3".parse::<Landmarks>().unwrap_err().to_string().contains("six numbers"));
        assert!("1,2,3,4,5,nan".parse::<Landmarks>().is_err());
    }
}

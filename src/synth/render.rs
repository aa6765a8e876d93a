//! A small ray-casting rasterizer: perspective camera, a depth test across all parts (so the far
//! eye and cheek really disappear behind the nose at ±60°), Lambert shading and 2×2 supersampling.

use image::{Rgb, RgbImage};

use super::head::{Ellipsoid, Vec3, dot, normalize};

/// Camera distance from the head's centre, in head units.
const CAMERA_DISTANCE: f32 = 6.0;
/// Half the height of the visible window at the head's centre, in head units.
const HALF_VIEW: f32 = 1.75;
/// The point of the head that appears at the image centre (slightly below the eyes).
const LOOK_AT_Y: f32 = -0.12;
/// Samples per pixel along each axis.
const SUPERSAMPLING: usize = 2;

/// A lighting condition: a directional light plus ambient light.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lighting {
    /// Direction towards the light, in camera coordinates (z towards the camera).
    pub direction: Vec3,
    /// Strength of the directional light.
    pub diffuse: f32,
    /// Strength of the ambient light.
    pub ambient: f32,
}

impl Lighting {
    /// The `index`-th of the standard lighting conditions (index 0 is the reference light that
    /// ground-truth renderings use).
    pub fn standard(index: usize) -> Self {
        const DIRECTIONS: [Vec3; 6] = [
            [0.25, 0.45, 1.0],
            [-0.75, 0.35, 0.75],
            [0.80, 0.15, 0.65],
            [0.0, 0.95, 0.45],
            [-0.25, -0.15, 1.0],
            [0.45, 0.60, 0.55],
        ];
        let k = index % DIRECTIONS.len();
        let round = (index / DIRECTIONS.len()) as f32;
        Self {
            direction: normalize(DIRECTIONS[k]),
            diffuse: 0.75 - 0.08 * (k % 3) as f32 - 0.05 * round.min(3.0),
            ambient: 0.33 + 0.04 * (k % 2) as f32,
        }
    }
}

/// Renders `parts` with the head turned by `yaw_degrees` (positive: the nose turns towards the
/// image's right) into a `size`×`size` image.
pub fn render(parts: &[Ellipsoid], yaw_degrees: f32, lighting: &Lighting, size: u32) -> RgbImage {
    let (sin, cos) = yaw_degrees.to_radians().sin_cos();
    // World → head: rotate by −yaw about the vertical axis.
    let to_head = |v: Vec3| [v[0] * cos - v[2] * sin, v[1], v[0] * sin + v[2] * cos];
    let to_world = |v: Vec3| [v[0] * cos + v[2] * sin, v[1], -v[0] * sin + v[2] * cos];
    let origin = to_head([0.0, LOOK_AT_Y, CAMERA_DISTANCE]);
    let focal = CAMERA_DISTANCE / HALF_VIEW;
    let samples = size as usize * SUPERSAMPLING;
    let mut image = RgbImage::new(size, size);
    for (px, py, pixel) in image.enumerate_pixels_mut() {
        let mut sum = [0.0f32; 3];
        for sy in 0..SUPERSAMPLING {
            for sx in 0..SUPERSAMPLING {
                let u = ((px as usize * SUPERSAMPLING + sx) as f32 + 0.5) / samples as f32 * 2.0 - 1.0;
                let v = ((py as usize * SUPERSAMPLING + sy) as f32 + 0.5) / samples as f32 * 2.0 - 1.0;
                let dir = to_head([u / focal, -v / focal, -1.0]);
                let colour = match nearest_hit(parts, origin, dir) {
                    Some((part, normal)) => {
                        let light = dot(to_world(normal), lighting.direction).max(0.0);
                        let brightness = lighting.ambient + lighting.diffuse * light;
                        part.colour.map(|c| c * brightness)
                    }
                    None => background(v),
                };
                for (s, c) in sum.iter_mut().zip(colour) {
                    *s += c;
                }
            }
        }
        let n = (SUPERSAMPLING * SUPERSAMPLING) as f32;
        *pixel = Rgb(sum.map(|s| ((s / n).clamp(0.0, 1.0) * 255.0).round() as u8));
    }
    image
}

/// The part the ray meets first, with the surface normal there (head coordinates).
fn nearest_hit(parts: &[Ellipsoid], origin: Vec3, dir: Vec3) -> Option<(&Ellipsoid, Vec3)> {
    parts
        .iter()
        .filter_map(|part| part.intersect(origin, dir).map(|(t, n)| (t, part, n)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, part, normal)| (part, normal))
}

/// Where a point in head coordinates appears in an image of `size` rendered at yaw 0, in pixels
/// from the top-left corner (the camera of [`render`]).
pub fn project(point: Vec3, size: u32) -> [f32; 2] {
    let focal = CAMERA_DISTANCE / HALF_VIEW;
    let depth = CAMERA_DISTANCE - point[2];
    let u = focal * point[0] / depth;
    let v = -focal * (point[1] - LOOK_AT_Y) / depth;
    [(u + 1.0) / 2.0 * size as f32, (v + 1.0) / 2.0 * size as f32]
}

/// A plain studio backdrop, slightly lighter at the top.
fn background(v: f32) -> [f32; 3] {
    let t = 0.5 - 0.5 * v;
    [0.42 + 0.10 * t, 0.45 + 0.10 * t, 0.50 + 0.10 * t]
}

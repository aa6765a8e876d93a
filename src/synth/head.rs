//! Identity parameters → a 3D head made of clipped ellipsoids.
//!
//! Head coordinates: origin at the centre of the skull, `x` towards the subject's left (image
//! right at yaw 0), `y` up, `z` out of the face towards the camera. The skull's half-width is
//! about one unit.

use rand::Rng;
use rand_pcg::Pcg64;

/// A colour in linear RGB, each channel in [0, 1].
pub type Rgb = [f32; 3];

/// A 3D vector.
pub type Vec3 = [f32; 3];

/// How the hair is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HairStyle {
    /// A close cap over the top and back.
    Short,
    /// A cap plus hair falling behind the head to the shoulders.
    Long,
    /// Volume on top, a high hairline.
    Tall,
    /// A cap and a bun at the back.
    Bun,
    /// Hardly any hair: a thin cap far back.
    Receding,
}

/// Everything that makes one synthetic person look like themselves.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// Skull half-width.
    pub head_width: f32,
    /// Skull half-height.
    pub head_height: f32,
    /// Skull half-depth.
    pub head_depth: f32,
    /// Width of the jaw relative to the skull.
    pub jaw_width: f32,
    /// How far the jaw reaches down.
    pub jaw_length: f32,
    /// Size of the cheek bulges.
    pub cheek_size: f32,
    /// How far the nose sticks out.
    pub nose_length: f32,
    /// Half-width of the nose.
    pub nose_width: f32,
    /// Height of the nose bridge's top above the nose tip.
    pub nose_bridge: f32,
    /// Horizontal distance of each eye from the midline.
    pub eye_spacing: f32,
    /// Eye radius.
    pub eye_size: f32,
    /// Brow thickness.
    pub brow_thickness: f32,
    /// Brow tilt (positive: outer ends raised).
    pub brow_tilt: f32,
    /// Mouth half-width.
    pub mouth_width: f32,
    /// Lip thickness.
    pub lip_thickness: f32,
    /// Ear size.
    pub ear_size: f32,
    /// Skin colour.
    pub skin: Rgb,
    /// Iris colour.
    pub eyes: Rgb,
    /// Lip colour.
    pub lips: Rgb,
    /// Hair (and brow and beard) colour.
    pub hair: Rgb,
    /// Hair style.
    pub hair_style: HairStyle,
    /// Whether the person wears glasses.
    pub glasses: bool,
    /// Whether the person has a beard.
    pub beard: bool,
}

const HAIR_COLOURS: [Rgb; 7] = [
    [0.05, 0.04, 0.04],
    [0.20, 0.12, 0.07],
    [0.40, 0.25, 0.12],
    [0.80, 0.65, 0.35],
    [0.60, 0.22, 0.08],
    [0.62, 0.62, 0.62],
    [0.92, 0.90, 0.85],
];

const EYE_COLOURS: [Rgb; 5] = [
    [0.30, 0.17, 0.08],
    [0.20, 0.40, 0.75],
    [0.25, 0.50, 0.30],
    [0.45, 0.48, 0.50],
    [0.50, 0.38, 0.15],
];

const HAIR_STYLES: [HairStyle; 5] = [
    HairStyle::Short,
    HairStyle::Long,
    HairStyle::Tall,
    HairStyle::Bun,
    HairStyle::Receding,
];

impl Identity {
    /// Draws a random person.
    pub fn random(rng: &mut Pcg64) -> Self {
        let pale: Rgb = [0.97, 0.80, 0.68];
        let dark: Rgb = [0.32, 0.19, 0.12];
        let tone = rng.random_range(0.0f32..1.0);
        let skin = jitter(rng, mix(pale, dark, tone), 0.04);
        let lips = jitter(rng, [skin[0] * 0.85, skin[1] * 0.50, skin[2] * 0.52], 0.05);
        let eyes = EYE_COLOURS[rng.random_range(0..EYE_COLOURS.len())];
        let hair = HAIR_COLOURS[rng.random_range(0..HAIR_COLOURS.len())];
        Self {
            head_width: rng.random_range(0.86..1.04),
            head_height: rng.random_range(1.12..1.34),
            head_depth: rng.random_range(0.95..1.12),
            jaw_width: rng.random_range(0.62..0.92),
            jaw_length: rng.random_range(0.50..0.72),
            cheek_size: rng.random_range(0.22..0.34),
            nose_length: rng.random_range(0.16..0.36),
            nose_width: rng.random_range(0.09..0.17),
            nose_bridge: rng.random_range(0.18..0.40),
            eye_spacing: rng.random_range(0.28..0.40),
            eye_size: rng.random_range(0.085..0.13),
            brow_thickness: rng.random_range(0.025..0.06),
            brow_tilt: rng.random_range(-0.06..0.10),
            mouth_width: rng.random_range(0.16..0.30),
            lip_thickness: rng.random_range(0.035..0.08),
            ear_size: rng.random_range(0.85..1.25),
            skin,
            eyes: jitter(rng, eyes, 0.05),
            lips,
            hair: jitter(rng, hair, 0.04),
            hair_style: HAIR_STYLES[rng.random_range(0..HAIR_STYLES.len())],
            glasses: rng.random_bool(0.25),
            beard: rng.random_bool(0.22),
        }
    }

    /// Builds the 3D head of this person.
    pub fn head(&self) -> Vec<Ellipsoid> {
        let (w, h, d) = (self.head_width, self.head_height, self.head_depth);
        let mut parts = Vec::with_capacity(32);
        let skin = self.skin;
        // Skull, jaw, cheeks, neck.
        parts.push(Ellipsoid::new([0.0, 0.0, 0.0], [w, h, d], skin));
        let jaw_y = -h * 0.45;
        parts.push(Ellipsoid::new(
            [0.0, jaw_y, d * 0.12],
            [w * self.jaw_width, h * self.jaw_length, d * 0.80],
            skin,
        ));
        for side in [-1.0, 1.0] {
            parts.push(Ellipsoid::new(
                [side * w * 0.48, -h * 0.20, self.surface_z(side * w * 0.48, -h * 0.20) - self.cheek_size * 0.85],
                [self.cheek_size, self.cheek_size * 0.8, self.cheek_size],
                skin,
            ));
        }
        parts.push(Ellipsoid::new([0.0, -h * 1.05, -d * 0.15], [w * 0.48, h * 0.55, d * 0.50], shade(skin, 0.92)));
        // Ears.
        for side in [-1.0, 1.0] {
            parts.push(Ellipsoid::new(
                [side * w * 0.97, -h * 0.05, -d * 0.08],
                [0.09, 0.22 * self.ear_size, 0.16 * self.ear_size],
                shade(skin, 0.95),
            ));
        }
        self.add_face(&mut parts);
        self.add_hair(&mut parts);
        if self.beard {
            parts.push(
                Ellipsoid::new([0.0, jaw_y - 0.02, d * 0.16], [w * self.jaw_width + 0.05, h * self.jaw_length + 0.04, d * 0.84], self.hair)
                    .keep_where([0.0, -1.0, 0.0], h * 0.30)
                    .keep_where([0.0, 0.0, 1.0], -d * 0.05),
            );
        }
        if self.glasses {
            self.add_glasses(&mut parts);
        }
        parts
    }

    /// Depth of the skull's surface at `(x, y)`, the front half.
    fn surface_z(&self, x: f32, y: f32) -> f32 {
        let inside = 1.0 - (x / self.head_width).powi(2) - (y / self.head_height).powi(2);
        self.head_depth * inside.max(0.0).sqrt()
    }

    fn eye_y(&self) -> f32 {
        self.head_height * 0.12
    }

    /// The centre of the eye on `side` (−1: the image's left at yaw 0), at the eye's base.
    fn eye_centre(&self, side: f32) -> Vec3 {
        let (x, y) = (side * self.eye_spacing, self.eye_y());
        [x, y, self.surface_z(x, y) - 0.05]
    }

    /// The centre of the mouth, at the lips' base.
    fn mouth_centre(&self) -> Vec3 {
        let y = -self.head_height * 0.50;
        [0.0, y, self.surface_z(0.0, y) + 0.1]
    }

    /// The three points a person clicks to align a photo, in head coordinates: the front of the
    /// image-left pupil, of the image-right pupil (at yaw 0) and of the line between the lips.
    pub fn landmarks(&self) -> [Vec3; 3] {
        let [left, right] = [-1.0, 1.0].map(|side| {
            let [x, y, z] = self.eye_centre(side);
            [x, y, z + 0.10]
        });
        let [x, y, z] = self.mouth_centre();
        [left, right, [x, y, z + 0.03]]
    }

    fn add_face(&self, parts: &mut Vec<Ellipsoid>) {
        let eye_y = self.eye_y();
        let dark: Rgb = [0.03, 0.03, 0.03];
        for side in [-1.0f32, 1.0] {
            let [x, _, z] = self.eye_centre(side);
            let r = self.eye_size;
            // Socket shadow, white, iris, pupil.
            parts.push(Ellipsoid::new([x, eye_y, z - 0.02], [r * 1.7, r * 1.15, 0.08], shade(self.skin, 0.72)));
            parts.push(Ellipsoid::new([x, eye_y, z], [r * 1.35, r * 0.78, 0.08], [0.93, 0.92, 0.90]));
            parts.push(Ellipsoid::new([x, eye_y, z + 0.025], [r * 0.62, r * 0.62, 0.07], self.eyes));
            parts.push(Ellipsoid::new([x, eye_y, z + 0.04], [r * 0.28, r * 0.28, 0.06], dark));
            // Brow.
            let brow_y = eye_y + r * 1.9;
            let brow_z = self.surface_z(x, brow_y) - 0.02;
            parts.push(Ellipsoid::new(
                [x, brow_y + self.brow_tilt * 0.5, brow_z],
                [r * 1.9, self.brow_thickness, 0.05],
                self.hair,
            ));
        }
        // Nose: bridge from between the eyes down to the tip, and nostrils.
        let tip_y = eye_y - 0.36;
        let base_z = self.surface_z(0.0, tip_y);
        parts.push(Ellipsoid::new(
            [0.0, tip_y + self.nose_bridge * 0.5, base_z + self.nose_length * 0.35],
            [self.nose_width * 0.7, self.nose_bridge * 0.75 + 0.05, self.nose_length * 0.55],
            shade(self.skin, 1.02),
        ));
        parts.push(Ellipsoid::new(
            [0.0, tip_y, base_z + self.nose_length * 0.55],
            [self.nose_width, self.nose_width * 0.85, self.nose_length * 0.5],
            shade(self.skin, 1.03),
        ));
        for side in [-1.0, 1.0] {
            parts.push(Ellipsoid::new(
                [side * self.nose_width * 0.9, tip_y - 0.03, base_z + self.nose_length * 0.2],
                [self.nose_width * 0.55, self.nose_width * 0.5, self.nose_length * 0.35],
                shade(self.skin, 0.96),
            ));
        }
        // Mouth: two lips and the dark line between them.
        let [_, mouth_y, mouth_z] = self.mouth_centre();
        parts.push(Ellipsoid::new([0.0, mouth_y, mouth_z - 0.03], [self.mouth_width * 0.95, 0.012, 0.06], [0.15, 0.05, 0.05]));
        parts.push(Ellipsoid::new(
            [0.0, mouth_y + self.lip_thickness * 0.6, mouth_z - 0.04],
            [self.mouth_width, self.lip_thickness * 0.8, 0.07],
            self.lips,
        ));
        parts.push(Ellipsoid::new(
            [0.0, mouth_y - self.lip_thickness * 0.7, mouth_z - 0.04],
            [self.mouth_width * 0.85, self.lip_thickness, 0.07],
            self.lips,
        ));
    }

    fn add_hair(&self, parts: &mut Vec<Ellipsoid>) {
        let (w, h, d) = (self.head_width, self.head_height, self.head_depth);
        let cap = |grow: f32, top: f32| Ellipsoid::new([0.0, top, -0.02], [w + grow, h + grow + top, d + grow], self.hair);
        // The hairline: a plane through the forehead that tilts down towards the back.
        let hairline = |front_y: f32, tilt: f32| {
            let normal = normalize([0.0, 1.0, -tilt]);
            let point = [0.0, front_y, d];
            (normal, dot(normal, point))
        };
        // Hair behind the ears, down to the nape.
        let back = || {
            Ellipsoid::new([0.0, -0.05, -0.04], [w + 0.05, h + 0.02, d + 0.05], self.hair)
                .keep_where([0.0, 0.0, -1.0], d * 0.30)
                .keep_where([0.0, 1.0, 0.0], -h * 0.75)
        };
        match self.hair_style {
            HairStyle::Short => {
                let (n, o) = hairline(h * 0.52, 0.45);
                parts.push(cap(0.06, 0.02).keep_where(n, o));
                parts.push(back());
            }
            HairStyle::Long => {
                let (n, o) = hairline(h * 0.50, 0.45);
                parts.push(cap(0.08, 0.03).keep_where(n, o));
                parts.push(
                    Ellipsoid::new([0.0, -h * 0.45, -d * 0.30], [w + 0.12, h * 1.05, d * 0.80], self.hair)
                        .keep_where([0.0, 0.0, -1.0], d * 0.05),
                );
            }
            HairStyle::Tall => {
                let (n, o) = hairline(h * 0.58, 0.55);
                parts.push(cap(0.07, 0.22).keep_where(n, o));
                parts.push(back());
            }
            HairStyle::Bun => {
                let (n, o) = hairline(h * 0.52, 0.45);
                parts.push(cap(0.05, 0.02).keep_where(n, o));
                parts.push(back());
                parts.push(Ellipsoid::new([0.0, h * 0.55, -d * 0.85], [0.38, 0.34, 0.34], shade(self.hair, 0.9)));
            }
            HairStyle::Receding => {
                let (n, o) = hairline(h * 0.80, 1.1);
                parts.push(cap(0.03, 0.0).keep_where(n, o));
            }
        }
    }

    fn add_glasses(&self, parts: &mut Vec<Ellipsoid>) {
        let frame: Rgb = [0.08, 0.08, 0.10];
        let eye_y = self.eye_y();
        let front = self.surface_z(self.eye_spacing, eye_y) + 0.12;
        let radius = self.eye_size * 2.1;
        for side in [-1.0f32, 1.0] {
            let x = side * self.eye_spacing;
            parts.push(Ellipsoid::new([x, eye_y, front], [radius, radius * 0.8, 0.025], frame).ring(0.78));
            // The arm back to the ear.
            parts.push(Ellipsoid::new(
                [side * (self.head_width + 0.02), eye_y + 0.03, front * 0.3],
                [0.025, 0.025, front * 0.75 + 0.1],
                frame,
            ));
        }
        parts.push(Ellipsoid::new([0.0, eye_y + 0.02, front], [self.eye_spacing - radius + 0.04, 0.02, 0.02], frame));
    }
}

/// An axis-aligned ellipsoid in head coordinates, optionally cut by a plane or hollowed into a
/// ring (seen from the front).
#[derive(Clone, Debug, PartialEq)]
pub struct Ellipsoid {
    /// Centre.
    pub centre: Vec3,
    /// Radii along x, y and z.
    pub radii: Vec3,
    /// Surface colour.
    pub colour: Rgb,
    /// Only points `p` with `normal · p ≥ offset` for every `(normal, offset)` exist.
    pub keep: Vec<(Vec3, f32)>,
    /// Only points whose normalised distance from the centre in the x–y plane is at least this.
    pub ring_inner: Option<f32>,
}

impl Ellipsoid {
    /// A solid ellipsoid.
    pub fn new(centre: Vec3, radii: Vec3, colour: Rgb) -> Self {
        Self {
            centre,
            radii,
            colour,
            keep: Vec::new(),
            ring_inner: None,
        }
    }

    /// Keeps only the part where `normal · p ≥ offset` (and any earlier conditions hold).
    pub fn keep_where(mut self, normal: Vec3, offset: f32) -> Self {
        self.keep.push((normal, offset));
        self
    }

    /// Hollows the ellipsoid into a ring (like a spectacle frame).
    pub fn ring(mut self, inner: f32) -> Self {
        self.ring_inner = Some(inner);
        self
    }

    /// Whether the surface point `p` exists (is not cut away).
    pub fn contains_surface_point(&self, p: Vec3) -> bool {
        if self.keep.iter().any(|&(normal, offset)| dot(normal, p) < offset) {
            return false;
        }
        if let Some(inner) = self.ring_inner {
            let dx = (p[0] - self.centre[0]) / self.radii[0];
            let dy = (p[1] - self.centre[1]) / self.radii[1];
            if (dx * dx + dy * dy).sqrt() < inner {
                return false;
            }
        }
        true
    }

    /// The nearest existing intersection of the ray `origin + t·dir` with `t > 0`, as
    /// `(t, surface normal)`.
    pub fn intersect(&self, origin: Vec3, dir: Vec3) -> Option<(f32, Vec3)> {
        let o = [
            (origin[0] - self.centre[0]) / self.radii[0],
            (origin[1] - self.centre[1]) / self.radii[1],
            (origin[2] - self.centre[2]) / self.radii[2],
        ];
        let v = [dir[0] / self.radii[0], dir[1] / self.radii[1], dir[2] / self.radii[2]];
        let a = dot(v, v);
        let b = 2.0 * dot(o, v);
        let c = dot(o, o) - 1.0;
        let disc = b * b - 4.0 * a * c;
        if disc < 0.0 {
            return None;
        }
        let root = disc.sqrt();
        [(-b - root) / (2.0 * a), (-b + root) / (2.0 * a)]
            .into_iter()
            .filter(|&t| t > 0.0)
            .find_map(|t| {
                let p = add(origin, scale(dir, t));
                self.contains_surface_point(p).then(|| {
                    let n = [
                        (p[0] - self.centre[0]) / (self.radii[0] * self.radii[0]),
                        (p[1] - self.centre[1]) / (self.radii[1] * self.radii[1]),
                        (p[2] - self.centre[2]) / (self.radii[2] * self.radii[2]),
                    ];
                    (t, normalize(n))
                })
            })
    }
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn jitter(rng: &mut Pcg64, c: Rgb, amount: f32) -> Rgb {
    c.map(|v| (v + rng.random_range(-amount..=amount)).clamp(0.0, 1.0))
}

fn shade(c: Rgb, factor: f32) -> Rgb {
    c.map(|v| (v * factor).clamp(0.0, 1.0))
}

/// Dot product.
pub fn dot(a: Vec3, b: Vec3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Sum of two vectors.
pub fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// A vector times a number.
pub fn scale(a: Vec3, s: f32) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

/// The unit vector along `a`.
pub fn normalize(a: Vec3) -> Vec3 {
    let len = dot(a, a).sqrt().max(1e-12);
    scale(a, 1.0 / len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ray_down_the_axis_hits_the_front_of_a_sphere() {
        let sphere = Ellipsoid::new([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0; 3]);
        let (t, normal) = sphere.intersect([0.0, 0.0, 5.0], [0.0, 0.0, -1.0]).unwrap();
        assert!((t - 4.0).abs() < 1e-5);
        assert!((normal[2] - 1.0).abs() < 1e-5);
        let cut = sphere.clone().keep_where([0.0, 0.0, -1.0], 0.0);
        let (t, _) = cut.intersect([0.0, 0.0, 5.0], [0.0, 0.0, -1.0]).unwrap();
        assert!((t - 6.0).abs() < 1e-5, "front half cut away, so the ray meets the back");
        assert!(sphere.intersect([0.0, 2.0, 5.0], [0.0, 0.0, -1.0]).is_none());
    }
}

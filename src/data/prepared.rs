//! A split of a face set decoded into memory at the load size, ready to cut batches from.

use rand::Rng;
use rand::seq::index::sample;
use rayon::prelude::*;

use super::faceset::{FaceSet, SkipReport};
use super::prepare::{Crop, load_rgb, load_size, to_chw};
use crate::model::PoseBins;

/// Decoded images (channel-first, [−1, 1], side [`PreparedSet::load_size`]) with their labels.
pub struct PreparedSet {
    load_size: usize,
    input_size: usize,
    pixels: Vec<Vec<f32>>,
    /// Class label of each image (the index in the list of identities it was prepared with).
    pub identities: Vec<usize>,
    /// Pose bin of each image.
    pub bins: Vec<usize>,
    pose_bins: PoseBins,
}

/// A batch of model inputs, channel-first `[B, 3, S, S]` flattened, with labels.
pub struct Batch {
    /// Pixels in [−1, 1].
    pub pixels: Vec<f32>,
    /// Identity class of each image.
    pub identities: Vec<usize>,
    /// Pose bin of each image (mirrored with the image).
    pub bins: Vec<usize>,
}

impl Batch {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }
}

impl PreparedSet {
    /// Decodes the labelled samples of `set` whose identity `class_of` maps to a class, for a
    /// model with `input_size` inputs. Images that fail to decode are skipped and reported.
    pub fn prepare(set: &FaceSet, input_size: usize, class_of: impl Fn(usize) -> Option<usize> + Sync) -> (Self, SkipReport) {
        let load = load_size(input_size);
        let decoded: Vec<_> = set
            .samples
            .par_iter()
            .filter_map(|s| {
                let class = class_of(s.identity)?;
                let bin = s.bin?;
                Some(load_rgb(&s.image, load).map(|img| (to_chw(&img), class, bin)).map_err(|e| (s.image.describe(), e)))
            })
            .collect();
        let mut skipped = SkipReport::default();
        let mut prepared = Self {
            load_size: load,
            input_size,
            pixels: Vec::new(),
            identities: Vec::new(),
            bins: Vec::new(),
            pose_bins: set.pose_bins.clone(),
        };
        for item in decoded {
            match item {
                Ok((pixels, class, bin)) => {
                    prepared.pixels.push(pixels);
                    prepared.identities.push(class);
                    prepared.bins.push(bin);
                }
                Err((what, error)) => skipped.add("unreadable image", format!("{what} ({})", error.root_cause())),
            }
        }
        (prepared, skipped)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// A training batch of distinct random images with random crops (and mirrors, if `flip`).
    pub fn random_batch(&self, rng: &mut impl Rng, batch_size: usize, flip: bool) -> Batch {
        let indices = sample(rng, self.len(), batch_size.min(self.len())).into_vec();
        let crops: Vec<Crop> = indices
            .iter()
            .map(|_| Crop::random(rng, self.load_size, self.input_size, flip))
            .collect();
        self.batch(&indices, &crops)
    }

    /// The images `indices`, centre-cropped.
    pub fn centred_batch(&self, indices: &[usize]) -> Batch {
        let crop = Crop::centre(self.load_size, self.input_size);
        self.batch(indices, &vec![crop; indices.len()])
    }

    fn batch(&self, indices: &[usize], crops: &[Crop]) -> Batch {
        let mut pixels = Vec::with_capacity(indices.len() * 3 * self.input_size * self.input_size);
        let mut identities = Vec::with_capacity(indices.len());
        let mut bins = Vec::with_capacity(indices.len());
        for (&i, crop) in indices.iter().zip(crops) {
            crop.extend(&self.pixels[i], self.load_size, self.input_size, &mut pixels);
            identities.push(self.identities[i]);
            bins.push(crop.bin(self.bins[i], &self.pose_bins));
        }
        Batch { pixels, identities, bins }
    }
}

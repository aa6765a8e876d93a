//! Training batches decoded in a background thread with a bounded queue, so that a large set
//! starts training at once and never sits in memory whole. The batch of step `s` depends only on
//! the seed and `s`, so a resumed run sees exactly the batches an uninterrupted run would.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use image::RgbImage;

use rand::{Rng, SeedableRng};
use rand::seq::index::sample;
use rand_pcg::Pcg64;
use rayon::prelude::*;

use super::degrade::Degradation;
use super::faceset::{ImageSource, SkipReport};
use super::prepare::{Crop, PrepareError, load_rgb, load_size, to_chw};
use crate::model::PoseBins;

/// Bytes of decoded pixels the loader keeps in memory at most: a set whose images all fit is
/// decoded (or rendered) once and cropped from memory afterwards.
pub const DECODE_CACHE_BYTES: usize = 2 << 30;

/// Decoded training images at load size, kept after their first use when the whole set fits
/// [`DECODE_CACHE_BYTES`]; otherwise every use decodes again.
pub struct DecodeCache {
    slots: Option<Vec<OnceLock<Arc<RgbImage>>>>,
    load: usize,
}

impl DecodeCache {
    /// A cache for `images` images loaded at side `load` (empty if they would not fit).
    pub fn new(images: usize, load: usize) -> Self {
        let fits = images.saturating_mul(load * load * 3) <= DECODE_CACHE_BYTES;
        Self { slots: fits.then(|| (0..images).map(|_| OnceLock::new()).collect()), load }
    }

    /// No cache: every use decodes (what the loader benchmark measures).
    pub fn uncached(load: usize) -> Self {
        Self { slots: None, load }
    }

    /// Image `index` of `images` at load size, from memory when it was decoded before.
    fn get(&self, images: &[LabelledImage], index: usize) -> Result<Arc<RgbImage>, PrepareError> {
        let slot = self.slots.as_ref().and_then(|slots| slots.get(index));
        if let Some(image) = slot.and_then(OnceLock::get) {
            return Ok(image.clone());
        }
        let image = Arc::new(load_rgb(&images[index].source, self.load)?);
        if let Some(slot) = slot {
            let _ = slot.set(image.clone());
        }
        Ok(image)
    }
}

/// Threads that decode batches: a pool of their own, so they never queue behind the model's
/// work on rayon's global pool. One on a small machine; a quarter of the cores on a larger
/// one (a GPU's model needs little of the CPU).
pub fn loader_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 4).max(1))
}

/// Batches decoded ahead of the training step.
pub const QUEUE_DEPTH: usize = 4;

/// An image with the labels training needs.
#[derive(Clone, Debug)]
pub struct LabelledImage {
    /// Where the pixels come from.
    pub source: ImageSource,
    /// Identity class (D's label).
    pub class: usize,
    /// Pose bin.
    pub bin: usize,
}

/// A batch of model inputs, channel-first `[B, 3, S, S]` flattened, with labels.
pub struct Batch {
    /// Pixels in [−1, 1].
    pub pixels: Vec<f32>,
    /// What G encodes, when it differs from `pixels`: the batch with some images degraded
    /// (multi-image training).
    pub inputs: Option<Vec<f32>>,
    /// Which images of `inputs` are degraded.
    pub degraded: Vec<bool>,
    /// Identity class of each image.
    pub identities: Vec<usize>,
    /// Pose bin of each image (mirrored with the image).
    pub bins: Vec<usize>,
    /// D's real faces, when they are not these: images drawn independently (multi-image
    /// training, where this batch is groups of photos of a few people).
    pub d_real: Option<Box<Batch>>,
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

/// How batches are cut.
#[derive(Clone, Debug)]
pub struct BatchPlan {
    /// Model input side.
    pub input_size: usize,
    /// Images per batch.
    pub batch_size: usize,
    /// Mirror images (and pose bins) half the time.
    pub flip: bool,
    /// Seed of the image choice and crops.
    pub seed: u64,
    /// The bins, for mirroring.
    pub pose_bins: PoseBins,
    /// Images of one identity in a row (multi-image training); 1: images drawn independently.
    pub group: usize,
    /// With `group` > 1: the images of the batch in groups, its first rows; the rest are drawn
    /// independently.
    pub grouped: usize,
    /// Fraction of G's inputs degraded (blur, occlusion or noise); multi-image training only.
    pub degrade: f32,
    /// Whether each batch also carries D's real faces drawn independently ([`Batch::d_real`]).
    pub d_real_apart: bool,
}

impl BatchPlan {
    /// A plan of independent images, none degraded.
    pub fn single(input_size: usize, batch_size: usize, flip: bool, seed: u64, pose_bins: PoseBins) -> Self {
        Self { input_size, batch_size, flip, seed, pose_bins, group: 1, grouped: 0, degrade: 0.0, d_real_apart: false }
    }
}

/// Decodes one image into its channel-first pixels at the load size.
fn decode(image: &LabelledImage, input_size: usize) -> Result<Vec<f32>, PrepareError> {
    load_rgb(&image.source, load_size(input_size)).map(|rgb| to_chw(&rgb))
}

/// The batch of `step`: distinct random images with random crops. An image that fails to decode
/// is replaced by the next one that decodes (and recorded in `skipped`).
pub fn batch_for_step(images: &[LabelledImage], plan: &BatchPlan, step: u64, cache: &DecodeCache, skipped: &Mutex<SkipReport>) -> Result<Batch, String> {
    let mut rng = Pcg64::seed_from_u64(plan.seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let indices = if plan.group > 1 { grouped_indices(images, plan, &mut rng) } else { sample(&mut rng, images.len(), plan.batch_size.min(images.len())).into_vec() };
    let mut batch = cut(images, &indices, plan, &mut rng, cache, skipped)?;
    if plan.degrade > 0.0 {
        let mut inputs = batch.pixels.clone();
        let image = 3 * plan.input_size * plan.input_size;
        for pixels in inputs.chunks_mut(image) {
            let spoil = rng.random::<f32>() < plan.degrade;
            if spoil {
                let kind = Degradation::ALL[rng.random_range(0..Degradation::ALL.len())];
                kind.apply(pixels, plan.input_size, &mut rng);
            }
            batch.degraded.push(spoil);
        }
        batch.inputs = Some(inputs);
    }
    if plan.d_real_apart {
        // A stream of its own, so that G's batch is the same with and without it.
        let mut rng = Pcg64::seed_from_u64(plan.seed ^ D_REAL_STREAM ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let indices = sample(&mut rng, images.len(), plan.batch_size.min(images.len())).into_vec();
        batch.d_real = Some(Box::new(cut(images, &indices, plan, &mut rng, cache, skipped)?));
    }
    Ok(batch)
}

/// Mixed into the seed of the random stream that draws D's separate real faces.
const D_REAL_STREAM: u64 = 0xD5EA_1FAC_E5D0_0001;

/// The images at `indices`, randomly cropped (and mirrored, when the plan says), with labels.
fn cut(images: &[LabelledImage], indices: &[usize], plan: &BatchPlan, rng: &mut Pcg64, cache: &DecodeCache, skipped: &Mutex<SkipReport>) -> Result<Batch, String> {
    let load = load_size(plan.input_size);
    let crops: Vec<Crop> = indices.iter().map(|_| Crop::random(rng, load, plan.input_size, plan.flip)).collect();
    let decoded: Vec<Result<(usize, Arc<RgbImage>), String>> = indices
        .par_iter()
        .map(|&first| {
            let mut reasons = std::collections::BTreeSet::new();
            for offset in 0..images.len() {
                let index = (first + offset) % images.len();
                match cache.get(images, index) {
                    Ok(pixels) => return Ok((index, pixels)),
                    Err(error) => {
                        if let Ok(mut report) = skipped.lock() {
                            report.add_once(&error.reason(), images[index].source.describe());
                        }
                        reasons.insert(error.reason());
                    }
                }
            }
            Err(format!("none of the training images can be used: {}", reasons.into_iter().collect::<Vec<_>>().join("; ")))
        })
        .collect();
    let mut batch = Batch { pixels: Vec::new(), inputs: None, degraded: Vec::new(), identities: Vec::new(), bins: Vec::new(), d_real: None };
    for (item, crop) in decoded.into_iter().zip(crops) {
        let (index, image) = item?;
        crop.extend_rgb(&image, plan.input_size, &mut batch.pixels);
        batch.identities.push(images[index].class);
        batch.bins.push(crop.bin(images[index].bin, &plan.pose_bins));
    }
    Ok(batch)
}

/// `grouped / group` identities drawn at random, and `group` images of each (distinct while
/// the identity has enough), then the rest of the batch drawn independently: the batch of
/// multi-image training.
fn grouped_indices(images: &[LabelledImage], plan: &BatchPlan, rng: &mut Pcg64) -> Vec<usize> {
    let mut by_class: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
    for (index, image) in images.iter().enumerate() {
        by_class.entry(image.class).or_default().push(index);
    }
    let classes: Vec<&Vec<usize>> = by_class.values().collect();
    let groups = (plan.grouped.min(plan.batch_size) / plan.group).max(1);
    let mut indices = Vec::with_capacity(plan.batch_size.max(groups * plan.group));
    for _ in 0..groups {
        let members = classes[rng.random_range(0..classes.len())];
        let picked = sample(rng, members.len(), plan.group.min(members.len())).into_vec();
        indices.extend((0..plan.group).map(|i| members[picked[i % picked.len()]]));
    }
    // Drawn only when there are singles, so that an all-groups batch is what it always was.
    let singles = plan.batch_size.saturating_sub(indices.len());
    if singles > 0 {
        indices.extend(sample(rng, images.len(), singles.min(images.len())).into_vec());
    }
    indices
}

/// The images `images`, centre-cropped, in order (for sample grids and evaluation).
pub fn centred_batch(images: &[LabelledImage], input_size: usize) -> Result<Batch, PrepareError> {
    let load = load_size(input_size);
    let crop = Crop::centre(load, input_size);
    let mut batch = Batch { pixels: Vec::new(), inputs: None, degraded: Vec::new(), identities: Vec::new(), bins: Vec::new(), d_real: None };
    for image in images {
        crop.extend(&decode(image, input_size)?, load, input_size, &mut batch.pixels);
        batch.identities.push(image.class);
        batch.bins.push(image.bin);
    }
    Ok(batch)
}

/// The background thread that cuts batches ahead of training.
pub struct BatchLoader {
    receiver: Receiver<Result<Batch, String>>,
    skipped: Arc<Mutex<SkipReport>>,
    _worker: JoinHandle<()>,
}

impl BatchLoader {
    /// Starts cutting the batches of steps `first_step`, `first_step + 1`, … from `images`.
    pub fn spawn(images: Arc<Vec<LabelledImage>>, plan: BatchPlan, first_step: u64) -> anyhow::Result<Self> {
        let (sender, receiver) = sync_channel(QUEUE_DEPTH);
        let skipped = Arc::new(Mutex::new(SkipReport::default()));
        let report = skipped.clone();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(loader_threads()).thread_name(|i| format!("batch-decoder-{i}")).build()?;
        let worker = std::thread::Builder::new()
            .name("batch-loader".to_owned())
            .spawn(move || {
                let cache = DecodeCache::new(images.len(), load_size(plan.input_size));
                pool.install(|| produce(&images, &plan, first_step, &cache, &report, &sender));
            })?;
        Ok(Self { receiver, skipped, _worker: worker })
    }

    /// The next step's batch (waits while the loader is behind).
    pub fn next_batch(&self) -> anyhow::Result<Batch> {
        match self.receiver.recv() {
            Ok(Ok(batch)) => Ok(batch),
            Ok(Err(message)) => Err(anyhow::anyhow!(message)),
            Err(_) => Err(anyhow::anyhow!("the batch loader stopped")),
        }
    }

    /// What the loader skipped so far.
    pub fn skipped(&self) -> SkipReport {
        self.skipped.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn produce(images: &[LabelledImage], plan: &BatchPlan, first_step: u64, cache: &DecodeCache, skipped: &Mutex<SkipReport>, sender: &SyncSender<Result<Batch, String>>) {
    for step in first_step.. {
        let batch = batch_for_step(images, plan, step, cache, skipped);
        let failed = batch.is_err();
        if sender.send(batch).is_err() || failed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 people of 5 images each.
    fn people() -> Vec<LabelledImage> {
        (0..100).map(|i| LabelledImage { source: ImageSource::File(format!("{i}.png").into()), class: i / 5, bin: i % 5 }).collect()
    }

    fn plan(grouped: usize) -> BatchPlan {
        BatchPlan { group: 3, grouped, ..BatchPlan::single(32, 12, false, 7, PoseBins::default()) }
    }

    #[test]
    fn a_mixed_multi_image_batch_is_its_groups_first_then_independent_photos() {
        let images = people();
        let indices = grouped_indices(&images, &plan(6), &mut Pcg64::seed_from_u64(1));
        assert_eq!(indices.len(), 12);
        for group in indices[..6].chunks(3) {
            assert!(group.iter().all(|&i| images[i].class == images[group[0]].class), "{indices:?}");
        }
        let singles: std::collections::BTreeSet<usize> = indices[6..].iter().copied().collect();
        assert_eq!(singles.len(), 6, "the single photos are distinct: {indices:?}");

        // The whole batch in groups: four people, three photos each.
        let all = grouped_indices(&images, &plan(12), &mut Pcg64::seed_from_u64(1));
        assert_eq!(all.len(), 12);
        assert!(all.chunks(3).all(|g| g.iter().all(|&i| images[i].class == images[g[0]].class)), "{all:?}");
        assert_eq!(all[..6], indices[..6], "the groups are drawn first, the same way");
    }

    #[test]
    fn d_real_faces_drawn_apart_leave_g_batch_as_it_was_and_hold_more_people() {
        let spec = Arc::new(crate::synth::SynthSpec { identities: 12, seed: 1, lights: 1 });
        let bins = PoseBins::default();
        let images: Vec<LabelledImage> = (0..spec.identities)
            .flat_map(|person| bins.yaws.iter().enumerate().map(move |(bin, &yaw)| (person, bin, yaw)))
            .map(|(person, bin, yaw)| LabelledImage { source: ImageSource::Synthetic { spec: spec.clone(), person, yaw, light: 0 }, class: person, bin })
            .collect();
        let grouped = BatchPlan { group: 6, grouped: 12, degrade: 0.25, ..BatchPlan::single(32, 12, true, 3, bins) };
        let apart = BatchPlan { d_real_apart: true, ..grouped.clone() };
        let (cache, skipped) = (DecodeCache::new(images.len(), load_size(32)), Mutex::new(SkipReport::default()));
        let before = batch_for_step(&images, &grouped, 5, &cache, &skipped).unwrap();
        let after = batch_for_step(&images, &apart, 5, &cache, &skipped).unwrap();
        assert!(before.d_real.is_none());
        assert_eq!((&after.pixels, &after.inputs, &after.identities, &after.bins), (&before.pixels, &before.inputs, &before.identities, &before.bins), "G's batch is unchanged");
        let d_real = after.d_real.expect("D's faces drawn apart");
        assert_eq!(d_real.len(), 12);
        assert_eq!(d_real.pixels.len(), after.pixels.len());
        let people = |identities: &[usize]| identities.iter().collect::<std::collections::BTreeSet<_>>().len();
        assert_eq!(people(&after.identities), 2, "two groups of six");
        assert!(people(&d_real.identities) > 2, "D's faces are drawn independently: {:?}", d_real.identities);
    }
}

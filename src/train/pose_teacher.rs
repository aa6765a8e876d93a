//! A second pose signal for G: a small CNN trained, before the run's first step, to tell the
//! pose bin of the training people's real faces, then frozen. G's pose term through D asks only
//! that D's pose head, which G learns to satisfy as D changes, accept its faces; this teacher
//! does not change, so G cannot drift its outer poses towards their neighbours and keep it
//! satisfied. Its inputs (while it learns and while it judges G) are lightly augmented (brightness,
//! contrast, a shift of a few pixels), so that it reads a head's turn rather than a few exact
//! pixels G could paint.
//!
//! The run keeps it (`pose-teacher.bpk` in the run folder), so a resume reads it back instead of
//! training it again.
//!
//! It is not the evaluation's judge ([`crate::eval::pose_classifier`]): it has its own
//! architecture (three convolutions, wider), its own seed and its own augmentation.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLoss;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::relu;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::augment::shift;
use super::interrupt::{self, StoppedBeforeFirstStep};
use crate::data::{LabelledImage, loader::centred_batch};
use crate::eval::pose_classifier::predictions;
use crate::model::codes::labels;

/// Channels of the three stride-2 convolutions.
const WIDTHS: [usize; 3] = [32, 64, 128];
/// The last map is pooled to this side before the linear layer (keeps left and right apart).
const POOLED: usize = 4;
/// Images per optimizer step.
const BATCH: usize = 64;
/// Optimizer steps (whatever the number of faces: about 35 passes over a `tiny` synthetic set's
/// 1,440 training faces, 12 over a `small` one's 4,320).
const STEPS: usize = 800;
/// Adam's learning rate.
const LEARNING_RATE: f64 = 2e-3;
/// The largest shift, as a fraction of the side.
const SHIFT_FRACTION: f32 = 1.0 / 16.0;
/// At most this many training faces are decoded (drawn at random when there are more).
const MAX_IMAGES: usize = 6000;

/// The teacher's network: three 3×3 stride-2 convolutions with ReLU, a 4×4 average pool and a
/// linear layer into the pose bins.
#[derive(Module, Debug)]
pub struct PoseTeacher {
    convs: Vec<Conv2d>,
    pool: AdaptiveAvgPool2d,
    output: Linear,
}

impl PoseTeacher {
    fn new(num_poses: usize, device: &Device) -> Self {
        let mut inputs = 3;
        let convs = WIDTHS
            .iter()
            .map(|&width| {
                let conv = Conv2dConfig::new([inputs, width], [3, 3]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device);
                inputs = width;
                conv
            })
            .collect();
        Self {
            convs,
            pool: AdaptiveAvgPool2dConfig::new([POOLED, POOLED]).init(),
            output: LinearConfig::new(inputs * POOLED * POOLED, num_poses).init(device),
        }
    }

    /// Pose logits `[B, Np]` of faces `[B, 3, S, S]` (pixels in [−1, 1]).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let maps = self.convs.iter().fold(images, |x, conv| relu(conv.forward(x)));
        self.output.forward(self.pool.forward(maps).flatten(1, 3))
    }
}

/// A trained, frozen teacher and how well it learned.
pub struct TrainedTeacher {
    /// The network, its weights frozen (gradients still reach its input).
    pub network: PoseTeacher,
    /// One line for the run's notes: how it was made (trained, or read back) and its accuracy
    /// on held-out people.
    pub note: String,
}

/// The weights of `teacher` as bytes [`load`] reads back, the same to the last bit.
pub fn to_bytes(teacher: &PoseTeacher) -> anyhow::Result<Vec<u8>> {
    Ok(teacher.clone().into_record().into_bytes().map_err(|e| anyhow::anyhow!("the pose teacher's weights cannot be written: {e}"))?.to_vec())
}

/// A teacher saved by [`to_bytes`] for a model of `num_poses` bins, frozen, and measured again
/// on the `held_out` people's faces. `device` is the run's autodiff device.
pub fn load(bytes: Vec<u8>, held_out: &[LabelledImage], input_size: usize, num_poses: usize, device: &Device) -> anyhow::Result<TrainedTeacher> {
    let unfit = |e: burn::store::RecordError| anyhow::anyhow!("its weights do not fit a teacher of {num_poses} pose bins: {e}");
    let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes)).map_err(unfit)?;
    let network = PoseTeacher::new(num_poses, device).try_load_record(record).map_err(unfit)?.no_grad();
    crate::model::finite::check_finite(&network, "pose teacher")?;
    let accuracy = held_out_accuracy(&network, held_out, input_size, device)?;
    let note = format!("pose teacher: the run's own, read back rather than trained again; {}", accuracy_words(accuracy));
    Ok(TrainedTeacher { network, note })
}

/// Trains a teacher on the real `train` faces (centre-cropped at `input_size`), seeded, and
/// reports its accuracy on the `held_out` people's faces, unaugmented. Faces that do not decode
/// are left out. `device` is the run's autodiff device. A stop asked for meanwhile
/// ([`interrupt`]) ends it with [`StoppedBeforeFirstStep`].
pub fn train(train: &[LabelledImage], held_out: &[LabelledImage], input_size: usize, num_poses: usize, seed: u64, device: &Device) -> anyhow::Result<TrainedTeacher> {
    let started = std::time::Instant::now();
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x7EAC_4E55);
    let mut chosen: Vec<&LabelledImage> = train.iter().collect();
    chosen.shuffle(&mut rng);
    chosen.truncate(MAX_IMAGES);
    let (pixels, bins) = decoded(&chosen, input_size);
    anyhow::ensure!(!bins.is_empty(), "the pose teacher found no readable training face");
    let side = 3 * input_size * input_size;

    device.seed(seed ^ 0x7EAC_4E55);
    let network = PoseTeacher::new(num_poses, device);
    let mut optimizer = AdamConfig::new().init();
    let loss = CrossEntropyLoss::new(None, device);
    let mut order: Vec<usize> = Vec::new();
    // On a rayon thread, as the trainer's step (see `Trainer::train_step`).
    let network = rayon::scope(|_| {
        let mut network = network;
        for _ in 0..STEPS {
            if interrupt::requested() {
                return Err(StoppedBeforeFirstStep);
            }
            if order.len() < BATCH.min(bins.len()) {
                order = (0..bins.len()).collect();
                order.shuffle(&mut rng);
            }
            let chunk = order.split_off(order.len() - BATCH.min(bins.len()));
            let values: Vec<f32> = chunk.iter().flat_map(|&i| pixels[i * side..(i + 1) * side].iter().copied()).collect();
            let images = Tensor::<4>::from_data(TensorData::new(values, [chunk.len(), 3, input_size, input_size]), device);
            let targets: Vec<usize> = chunk.iter().map(|&i| bins[i]).collect();
            let value = loss.forward(network.forward(jitter(images, &mut rng)), labels(&targets, device));
            let grads = GradientsParams::from_grads(value.backward(), &network);
            network = optimizer.step(LEARNING_RATE, network, grads);
        }
        Ok(network.no_grad())
    })?;
    let accuracy = held_out_accuracy(&network, held_out, input_size, device)?;
    let note = format!(
        "pose teacher: trained on {} real training faces ({STEPS} steps of {BATCH}) in {:.0} s; {}",
        bins.len(),
        started.elapsed().as_secs_f64(),
        accuracy_words(accuracy),
    );
    Ok(TrainedTeacher { network, note })
}

/// A teacher's held-out accuracy in words, for its note.
fn accuracy_words(accuracy: Option<f32>) -> String {
    accuracy.map_or("no held-out face to check it".to_owned(), |a| format!("{:.1} % right on held-out people", a * 100.0))
}

/// `images` (pixels in [−1, 1]) with, for each on its own, brightness moved by up to ±0.2,
/// contrast scaled by 0.8..1.2 and a shift of up to 1/16 of the side (zero filled); none of it
/// turns a head. Gradients flow to `images`.
fn jitter(images: Tensor<4>, rng: &mut impl Rng) -> Tensor<4> {
    let [count, _, height, width] = images.dims();
    let device = images.device();
    let per_image = |values: Vec<f32>| Tensor::<4>::from_data(TensorData::new(values, [count, 1, 1, 1]), &device);
    let brightness = per_image((0..count).map(|_| 0.4 * rng.random::<f32>() - 0.2).collect());
    let contrast = per_image((0..count).map(|_| 0.8 + 0.4 * rng.random::<f32>()).collect());
    let images = images * contrast + brightness;
    let reach = |side: usize| ((side as f32 * SHIFT_FRACTION).round() as i64).max(1);
    let rows: Vec<i64> = (0..count).map(|_| rng.random_range(-reach(height)..=reach(height))).collect();
    let columns: Vec<i64> = (0..count).map(|_| rng.random_range(-reach(width)..=reach(width))).collect();
    shift(images, &rows, &columns)
}

/// The pixels (`[N, 3, S, S]`, flat) and pose bins of the faces that decode.
fn decoded(images: &[&LabelledImage], input_size: usize) -> (Vec<f32>, Vec<usize>) {
    use rayon::prelude::*;
    let batches: Vec<(Vec<f32>, usize)> = images
        .par_iter()
        .filter_map(|&image| centred_batch(std::slice::from_ref(image), input_size).ok().map(|batch| (batch.pixels, image.bin)))
        .collect();
    let bins = batches.iter().map(|(_, bin)| *bin).collect();
    (batches.into_iter().flat_map(|(pixels, _)| pixels).collect(), bins)
}

/// The share of `held_out` faces the teacher puts in their bin (`None` when none decodes).
fn held_out_accuracy(network: &PoseTeacher, held_out: &[LabelledImage], input_size: usize, device: &Device) -> anyhow::Result<Option<f32>> {
    let faces: Vec<&LabelledImage> = held_out.iter().collect();
    let (pixels, bins) = decoded(&faces, input_size);
    if bins.is_empty() {
        return Ok(None);
    }
    let side = 3 * input_size * input_size;
    let mut right = 0usize;
    for (chunk, truth) in pixels.chunks(256 * side).zip(bins.chunks(256)) {
        let images = Tensor::<4>::from_data(TensorData::new(chunk.to_vec(), [truth.len(), 3, input_size, input_size]), device);
        right += predictions(network.forward(images))?.iter().zip(truth).filter(|(p, t)| p == t).count();
    }
    Ok(Some(right as f32 / bins.len() as f32))
}

/// G's teacher term: the teacher's cross-entropy of the `requested` bins on the `generated`
/// faces, jittered with draws from `rng`; and the share it puts in the requested bin.
pub fn teacher_loss(teacher: &PoseTeacher, generated: Tensor<4>, requested: Tensor<1, Int>, rng: &mut impl rand::Rng) -> (Tensor<1>, Tensor<1>) {
    let device = generated.device();
    let logits = teacher.forward(jitter(generated, rng));
    let [rows, _] = logits.dims();
    let hits = logits.clone().detach().argmax(1).reshape([rows]).equal(requested.clone()).float().mean();
    (CrossEntropyLoss::new(None, &device).forward(logits, requested), hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faces_that_do_not_decode_are_refused_with_a_message() {
        let device = Device::flex().autodiff();
        let missing = |bin| LabelledImage { source: crate::data::ImageSource::File("/nonexistent/face.png".into()), class: 0, bin };
        let faces = [missing(0), missing(1)];
        let error = train(&faces, &faces, 16, 2, 1, &device).err().expect("nothing to learn from");
        assert!(error.to_string().contains("no readable training face"), "{error}");
    }

    #[test]
    fn a_saved_teacher_reads_back_bit_for_bit_and_one_of_other_bins_is_refused() {
        let device = Device::flex().autodiff();
        device.seed(5);
        let teacher = PoseTeacher::new(3, &device).no_grad();
        let bytes = to_bytes(&teacher).expect("bytes");
        let back = load(bytes.clone(), &[], 16, 3, &device).expect("reads back");
        assert_eq!(to_bytes(&back.network).expect("bytes"), bytes);
        assert!(back.note.contains("read back") && back.note.contains("no held-out face"), "{}", back.note);
        let images = Tensor::<4>::random([2, 3, 16, 16], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
        let logits = |t: &PoseTeacher| t.forward(images.clone()).into_data().try_to_vec::<f32>().expect("floats");
        assert_eq!(logits(&teacher), logits(&back.network));
        let refused = load(bytes, &[], 16, 5, &device).err().expect("another number of bins");
        assert!(refused.to_string().contains("do not fit a teacher of 5 pose bins"), "{refused}");
    }

    #[test]
    fn gradients_reach_the_input_but_not_the_frozen_weights() {
        let device = Device::flex().autodiff();
        let teacher = PoseTeacher::new(3, &device).no_grad();
        let images = Tensor::<4>::random([4, 3, 16, 16], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device).require_grad();
        let (loss, hits) = teacher_loss(&teacher, images.clone(), labels(&[0, 1, 2, 0], &device), &mut Pcg64::seed_from_u64(3));
        let grads = loss.backward();
        assert!(images.grad(&grads).is_some(), "G's faces get a gradient");
        assert!(teacher.output.weight.grad(&grads).is_none(), "the teacher stays as it is");
        let share = hits.into_data().try_to_vec::<f32>().expect("one number")[0];
        assert!((0.0..=1.0).contains(&share));
    }
}

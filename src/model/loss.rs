//! The single-image DR-GAN losses of `SPEC.md` as cross-entropies with equal weights, read with
//! the paper's D head or the TPAMI one, and the accuracies that show how the game is going.

use burn::nn::loss::CrossEntropyLoss;
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softplus};
use serde::{Deserialize, Serialize};

use super::discriminator::Judgement;

/// How D's identity outputs are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DHead {
    /// `Nd + 1` identity classes, the last one meaning "fake" (CVPR 2017): telling real from
    /// fake competes with identity for every real face.
    #[default]
    Paper,
    /// `Nd` identity classes and a separate real/fake logit (TPAMI 2018): the same outputs, the
    /// last identity output read as the real/fake logit.
    Tpami,
}

impl DHead {
    /// The name used on the command line and in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            DHead::Paper => "paper",
            DHead::Tpami => "tpami",
        }
    }
}

/// D's loss and what it tells about D.
pub struct DiscriminatorLoss {
    /// Identity and pose of real images, "fake" for generated ones.
    pub loss: Tensor<1>,
    /// Fraction of real images given their true identity.
    pub id_acc_real: Tensor<1>,
    /// Fraction of real images given their true pose.
    pub pose_acc_real: Tensor<1>,
    /// Fraction of generated images classed as fake.
    pub fake_acc: Tensor<1>,
}

/// G's adversarial loss and what it tells about G.
pub struct GeneratorLoss {
    /// Source identity and requested pose of generated images (and "real" with the TPAMI head).
    pub loss: Tensor<1>,
    /// Fraction of generated images that D gives the source identity.
    pub id_acc: Tensor<1>,
    /// Fraction of generated images that D puts in the requested pose bin.
    pub pose_acc: Tensor<1>,
}

/// D's outputs for one batch, split as `head` reads them.
struct Read {
    /// Identity logits (`Nd + 1` with the paper's head, `Nd` with the TPAMI one).
    identity: Tensor<2>,
    /// The real/fake logit (TPAMI head only).
    real: Option<Tensor<1>>,
}

/// Splits `judgement` as `head` reads it; with a pose projection, the real/fake logit is the
/// one for faces claimed to be at the bins `claimed`.
fn read(judgement: &Judgement, head: DHead, claimed: &Tensor<1, Int>) -> Read {
    match head {
        DHead::Paper => Read { identity: judgement.identity.clone(), real: None },
        DHead::Tpami => {
            let [batch, outputs] = judgement.identity.dims();
            Read {
                identity: judgement.identity.clone().slice([0..batch, 0..outputs - 1]),
                real: Some(real_logit(judgement, claimed)),
            }
        }
    }
}

/// The TPAMI head's real/fake logit of faces claimed to be at the bins `claimed`: the last
/// identity output, plus the pose projection's column for each claimed bin when D has one.
fn real_logit(judgement: &Judgement, claimed: &Tensor<1, Int>) -> Tensor<1> {
    let [batch, outputs] = judgement.identity.dims();
    let logit = judgement.identity.clone().slice([0..batch, outputs - 1..outputs]).reshape([batch]);
    match &judgement.pose_projection {
        Some(projection) => logit + projection.clone().gather(1, claimed.clone().reshape([batch, 1])).reshape([batch]),
        None => logit,
    }
}

/// Binary cross-entropy of logits against the target probability `target`, averaged.
fn binary_cross_entropy(logits: Tensor<1>, target: f32) -> Tensor<1> {
    // −t·log σ(l) − (1 − t)·log(1 − σ(l)) = softplus(l) − t·l
    (softplus(logits.clone(), 1.0) - logits.mul_scalar(target)).mean()
}

/// `[B, P]` patch logits as one `[B·P]` column.
fn flat(patches: Tensor<2>) -> Tensor<1> {
    let [batch, count] = patches.dims();
    patches.reshape([batch * count])
}

/// What D's loss is computed against.
#[derive(Clone, Debug)]
pub struct DTargets {
    /// The identity class of each real face.
    pub identity: Tensor<1, Int>,
    /// The pose bin of each real face.
    pub pose: Tensor<1, Int>,
    /// Width, in bins, of the Gaussian D's pose target for real faces is spread over (0: the
    /// bin alone).
    pub pose_sigma: f32,
    /// The pose bin each generated face was asked for (what a pose projection reads).
    pub requested: Tensor<1, Int>,
    /// With a pose projection: a wrong bin for each real face, which D should call fake when a
    /// face is claimed to be there, and the weight of that term.
    pub mismatched: Option<(Tensor<1, Int>, f32)>,
}

/// D's loss on a real batch and a generated batch. With `label_smoothing` s, real faces are
/// "real" with probability 1 − s (one-sided smoothing; with the paper's head the remaining s
/// goes to the fake class). When D's pose head has a fake class (one more output than
/// `num_poses`), generated faces' poses are that class.
pub fn discriminator_loss(
    real: Judgement,
    fake: Judgement,
    targets: DTargets,
    fake_class: usize,
    num_poses: usize,
    head: DHead,
    label_smoothing: f32,
) -> DiscriminatorLoss {
    let DTargets { identity, pose, pose_sigma, requested, mismatched } = targets;
    let device = identity.device();
    let ce = CrossEntropyLoss::new(None, &device);
    let [fakes, _] = fake.identity.dims();
    let [reals, _] = real.identity.dims();
    let fake_labels = |count: usize| Tensor::<1, Int>::full([count], fake_class as i64, &device);
    // The terms both heads share: pose, and the patch critic's.
    let mut shared_loss = pose_cross_entropy(real.pose.clone(), pose.clone(), pose_sigma);
    let [_, pose_outputs] = fake.pose.dims();
    if pose_outputs > num_poses {
        shared_loss = shared_loss + ce.forward(fake.pose.clone(), Tensor::<1, Int>::full([fakes], num_poses as i64, &device));
    }
    let pose_acc_real = accuracy(real.pose.clone(), pose.clone());
    let (real_read, fake_read) = (read(&real, head, &pose), read(&fake, head, &requested));
    let smooth = label_smoothing as f64;
    // The patch critic: every patch of a real face is real, every patch of a generated one fake.
    if let (Some(real_patches), Some(fake_patches)) = (&real.patch_realness, &fake.patch_realness) {
        shared_loss = shared_loss + binary_cross_entropy(flat(real_patches.clone()), 1.0 - label_smoothing) + binary_cross_entropy(flat(fake_patches.clone()), 0.0);
    }
    match (real_read.real, fake_read.real) {
        (Some(real_logit_true_pose), Some(fake_logit)) => {
            let mut loss = ce.forward(real_read.identity.clone(), identity.clone())
                + shared_loss
                + binary_cross_entropy(real_logit_true_pose, 1.0 - label_smoothing)
                + binary_cross_entropy(fake_logit.clone(), 0.0);
            if let (Some((wrong, weight)), Some(_)) = (mismatched, &real.pose_projection) {
                loss = loss + binary_cross_entropy(real_logit(&real, &wrong), 0.0).mul_scalar(weight as f64);
            }
            DiscriminatorLoss {
                loss,
                id_acc_real: accuracy(real_read.identity, identity),
                pose_acc_real,
                fake_acc: fake_logit.detach().lower_elem(0.0).float().mean(),
            }
        }
        _ => {
            let mut real_loss = ce.forward(real.identity.clone(), identity.clone()).mul_scalar(1.0 - smooth);
            if label_smoothing > 0.0 {
                real_loss = real_loss + ce.forward(real.identity.clone(), fake_labels(reals)).mul_scalar(smooth);
            }
            DiscriminatorLoss {
                loss: real_loss + shared_loss + ce.forward(fake.identity.clone(), fake_labels(fakes)),
                id_acc_real: accuracy(real.identity, identity),
                pose_acc_real,
                fake_acc: accuracy(fake.identity, fake_labels(fakes)),
            }
        }
    }
}

/// Cross-entropy of pose logits against each face's bin, or with `sigma` > 0 against a
/// Gaussian over the bins centred on it (its width in bins; columns past the last bin, such as a
/// fake pose class, get no target): D then learns how far a face is from each bin, not only which
/// bin is nearest, and a face drawn between two bins is not confidently either.
pub fn pose_cross_entropy(logits: Tensor<2>, bins: Tensor<1, Int>, sigma: f32) -> Tensor<1> {
    let device = logits.device();
    if sigma <= 0.0 {
        return CrossEntropyLoss::new(None, &device).forward(logits, bins);
    }
    let [batch, outputs] = logits.dims();
    let columns = Tensor::<1, Int>::arange(0..outputs as i64, &device).float().reshape([1, outputs]);
    let distance = columns - bins.float().reshape([batch, 1]);
    let weights = distance.powi_scalar(2).div_scalar(-2.0 * (sigma as f64).powi(2)).exp();
    let targets = weights.clone() / weights.sum_dim(1);
    (targets * log_softmax(logits, 1)).sum_dim(1).neg().mean()
}

/// D's loss while it warms up on real faces alone: their identity and pose, nothing about
/// realness (with the paper's head the identity logits include the fake class, which real faces
/// are not). Its fake accuracy is zero: no generated face is judged.
pub fn classification_loss(real: Judgement, identity: Tensor<1, Int>, pose: Tensor<1, Int>, pose_sigma: f32, head: DHead) -> DiscriminatorLoss {
    let device = identity.device();
    let ce = CrossEntropyLoss::new(None, &device);
    let read = read(&real, head, &pose);
    DiscriminatorLoss {
        loss: ce.forward(read.identity.clone(), identity.clone()) + pose_cross_entropy(real.pose.clone(), pose.clone(), pose_sigma),
        id_acc_real: accuracy(read.identity, identity),
        pose_acc_real: accuracy(real.pose, pose),
        fake_acc: Tensor::zeros([1], &device),
    }
}

/// G's adversarial loss: D should see the source identity at the requested pose in the
/// generated batch (and, with the TPAMI head, call it real); the pose term has weight
/// `pose_weight` (the paper: 1).
pub fn generator_loss(fake: Judgement, source_identity: Tensor<1, Int>, requested_pose: Tensor<1, Int>, head: DHead, pose_weight: f32) -> GeneratorLoss {
    let ce = CrossEntropyLoss::new(None, &source_identity.device());
    let read = read(&fake, head, &requested_pose);
    let pose_loss = ce.forward(fake.pose.clone(), requested_pose.clone());
    let pose_loss = if pose_weight == 1.0 { pose_loss } else { pose_loss.mul_scalar(pose_weight as f64) };
    let mut loss = ce.forward(read.identity.clone(), source_identity.clone()) + pose_loss;
    if let Some(real_logit) = read.real {
        loss = loss + binary_cross_entropy(real_logit, 1.0);
    }
    if let Some(patches) = fake.patch_realness {
        loss = loss + binary_cross_entropy(flat(patches), 1.0);
    }
    GeneratorLoss { loss, id_acc: accuracy(read.identity, source_identity), pose_acc: accuracy(fake.pose, requested_pose) }
}

/// Mean of `1 − cos(a_i, b_i)` over the rows of two feature batches.
pub fn cosine_distance(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let dot = (a.clone() * b.clone()).sum_dim(1);
    let norms = (a.powi_scalar(2).sum_dim(1) * b.powi_scalar(2).sum_dim(1)).sqrt().clamp_min(1e-8);
    (dot / norms).neg().add_scalar(1.0).mean()
}

/// Mean absolute difference of the horizontal and vertical neighbour differences (the edges)
/// of `generated` and `target`: the image-gradient term of Mathieu et al. (2016), which plain L1
/// lets a generator pay for with a blur. A direction with a single pixel has no edges and adds
/// nothing (so a 1×1 image costs zero, not NaN).
pub fn edge_l1(generated: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    // Neighbour differences are linear, so the edges of the difference are the difference of
    // the edges.
    let difference = generated - target;
    let [batch, channels, height, width] = difference.dims();
    let mut loss = Tensor::<1>::zeros([1], &difference.device());
    if width > 1 {
        let across = difference.clone().slice([0..batch, 0..channels, 0..height, 1..width]) - difference.clone().slice([0..batch, 0..channels, 0..height, 0..width - 1]);
        loss = loss + across.abs().mean();
    }
    if height > 1 {
        let down = difference.clone().slice([0..batch, 0..channels, 1..height, 0..width]) - difference.slice([0..batch, 0..channels, 0..height - 1, 0..width]);
        loss = loss + down.abs().mean();
    }
    loss
}

/// Fraction of rows whose arg-max equals the label, as a one-element tensor.
pub fn accuracy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [rows, _] = logits.dims();
    let predicted = logits.detach().argmax(1).reshape([rows]);
    predicted.equal(labels).float().mean()
}

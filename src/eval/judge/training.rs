//! Making a judge: its network trained with a margin-based softmax (CosFace: the cosine of a
//! face's embedding and its own person's weight must beat every other person's by a margin), so
//! that its embeddings keep people it never saw apart; then the familiarity model fitted to its
//! training faces, calibrated on other faces, and its own figures measured on people it never
//! saw.

use std::collections::HashSet;
use std::time::Instant;

use burn::module::Param;
use burn::nn::loss::CrossEntropyLoss;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use image::RgbImage;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;

use super::augment::{NoOne, POOL_SIDE, Pool, identity_view};
use super::network::{
    COMPONENTS, EMBEDDING, Familiarity, INPUT, JudgeNet, JudgeWeights, STATISTICS,
};
use super::quality::{self, JudgeQuality, TestFace};
use super::{CARD_FORMAT, Judge, JudgeCard, NoOneGate, seeds};
use crate::data::FaceSet;
use crate::data::prepare::{load_rgb, to_chw};
use crate::model::PoseBins;
use crate::model::codes::labels;
use crate::model::rotator::cosine;
use crate::synth::SynthSpec;
use crate::train::DataSource;

/// CosFace's scale `s`.
const SCALE: f32 = 30.0;
/// CosFace's margin `m`.
const MARGIN: f32 = 0.35;
/// Pictures of no one per batch, as a share of it.
const NO_ONE_SHARE: f32 = 1.0 / 16.0;
/// Steps over which the learning rate rises from zero at the start.
const WARMUP_FRACTION: f64 = 0.03;
/// Views the familiarity model is fitted to.
const FAMILIARITY_VIEWS: usize = 12_000;
/// The share of calibration faces the familiarity threshold lets through unflagged.
const FAMILIAR_SHARE: f64 = 0.995;
/// Faces embedded at once while fitting.
const CHUNK: usize = 128;

/// How long and how hard the network trains.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Optimizer steps.
    pub steps: usize,
    /// Faces per step.
    pub batch: usize,
    /// Adam's peak learning rate (warm-up, then a cosine fall to zero).
    pub learning_rate: f64,
    /// Seed of weights, batches and augmentations.
    pub seed: u64,
}

/// Where training stands, for the command line.
#[derive(Clone, Debug)]
pub struct Progress {
    /// What is being done.
    pub stage: String,
    /// Steps done and to do (0 of 0 outside the network's training).
    pub step: usize,
    /// Steps in all.
    pub steps: usize,
    /// Faces per step.
    pub batch: usize,
    /// The batch's loss.
    pub loss: f32,
    /// The batch's share of faces whose nearest person weight is their own.
    pub accuracy: f32,
    /// Faces per second.
    pub images_per_second: f64,
}

impl Progress {
    fn stage(stage: &str) -> Self {
        Self {
            stage: stage.to_owned(),
            step: 0,
            steps: 0,
            batch: 0,
            loss: 0.0,
            accuracy: 0.0,
            images_per_second: 0.0,
        }
    }
}

/// The recipe of the built-in judge.
#[derive(Clone, Debug)]
pub struct SyntheticRecipe {
    /// People it learns from (seed [`seeds::TRAINING`]).
    pub identities: usize,
    /// Renders of each, at yaws spread over −62°..+62° and random lights.
    pub renders: usize,
    /// People its familiarity threshold is calibrated on (seed [`seeds::CALIBRATION`]).
    pub calibration_identities: usize,
    /// People its figures are measured on (seed [`seeds::TEST`]).
    pub test_identities: usize,
}

/// The network and its CosFace weights, one per person and one for "no one", trained together.
#[derive(Module, Debug)]
struct Learner {
    network: JudgeNet,
    people: Param<Tensor<2>>,
}

/// A network trained before (by an earlier judge, whose command made it), to make a judge
/// around without training it again.
pub struct Trained {
    /// The network.
    pub network: JudgeNet,
    /// The command that trained it.
    pub command: String,
}

/// A judge for synthetic faces, made as `recipe` and `schedule` say (around the network of
/// `trained` when given); `command` is recorded in its card.
pub fn synthetic_judge(
    recipe: &SyntheticRecipe,
    schedule: &Schedule,
    command: &str,
    trained: Option<Trained>,
    device: &Device,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> anyhow::Result<Judge> {
    let started = Instant::now();
    progress(&Progress::stage(&format!(
        "rendering {} people × {} views",
        recipe.identities, recipe.renders
    )));
    let spec = seeds::people(seeds::TRAINING, recipe.identities);
    spec.validate()?;
    let pool = synthetic_pool(&spec, recipe.renders, schedule.seed);
    let (network, network_from) = match trained {
        Some(trained) => (trained.network, Some(trained.command)),
        None => (train_network(&pool, schedule, device, progress)?, None),
    };

    progress(&Progress::stage("fitting the familiarity model"));
    let familiarity = fit_familiarity(&network, &pool, schedule.seed, device)?;
    let weights = JudgeWeights {
        network,
        familiarity,
    };
    let bins = PoseBins::default();
    let mut judge =
        Judge::from_weights(weights, placeholder_card(), "new judge".to_owned(), device);

    progress(&Progress::stage(&format!(
        "calibrating on {} other people",
        recipe.calibration_identities
    )));
    let mut calibration = Vec::new();
    for size in [32, 64, 96] {
        calibration.extend(quality::synthetic_faces(
            seeds::CALIBRATION,
            recipe.calibration_identities,
            &bins,
            size,
        )?);
    }
    judge.card.no_one = Some(fit_no_one_gate(&judge, &pool, &calibration, schedule.seed)?);
    judge.card.familiarity_threshold = familiarity_threshold(&judge, &calibration)?;

    progress(&Progress::stage(&format!(
        "measuring it on {} people it never saw",
        recipe.test_identities
    )));
    let test = quality::synthetic_faces(seeds::TEST, recipe.test_identities, &bins, INPUT)?;
    let described = format!(
        "{} unseen synthetic people (seed {:#x}), 9 poses, lights 0 and 1",
        recipe.test_identities,
        seeds::TEST
    );
    let (threshold, mut measured) = quality::measure(&judge, &test, &bins.yaws, &described)?;
    judge.card.threshold = threshold;
    measured.unfamiliar_share =
        unfamiliar_share_across_sizes(&judge, recipe.test_identities, &bins)?;
    judge.card = JudgeCard {
        format: CARD_FORMAT,
        trained_on: format!(
            "{} synthetic people (seed {:#x}), {} views each at yaws across −62°..+62° under {} lights, identity-keeping augmentations",
            recipe.identities,
            seeds::TRAINING,
            recipe.renders,
            seeds::LIGHTS
        ),
        data: None,
        training_identities: Vec::new(),
        threshold,
        familiarity_threshold: judge.card.familiarity_threshold,
        quality: measured,
        no_one: judge.card.no_one.clone(),
        weights_sha256: crate::train::run_dir::sha256_hex(&judge.weight_bytes()?),
        command: command.to_owned(),
        network_from,
        training_seconds: started.elapsed().as_secs_f64(),
    };
    Ok(judge)
}

/// A judge for the face set `faces` (`data` on disk), trained on the real photos of `train`'s
/// identities only and measured on `test`'s.
pub fn face_set_judge(
    faces: &FaceSet,
    data: &DataSource,
    train: &[String],
    test: &[String],
    schedule: &Schedule,
    command: &str,
    device: &Device,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> anyhow::Result<Judge> {
    let started = Instant::now();
    progress(&Progress::stage(&format!(
        "reading the photos of {} training people",
        train.len()
    )));
    let pool = face_set_pool(faces, train);
    let people = pool.labels.iter().collect::<HashSet<_>>().len();
    anyhow::ensure!(
        people >= 2,
        "{} has readable photos of {people} of its {} training people; a judge needs at least two",
        faces.origin,
        train.len()
    );
    let network = train_network(&pool, schedule, device, progress)?;
    progress(&Progress::stage("fitting the familiarity model"));
    let familiarity = fit_familiarity(&network, &pool, schedule.seed, device)?;
    let mut judge = Judge::from_weights(
        JudgeWeights {
            network,
            familiarity,
        },
        placeholder_card(),
        "new judge".to_owned(),
        device,
    );
    // No people are set aside for calibration in a face set: the training people's own photos,
    // prepared as an evaluation prepares them for each model size, set the familiarity
    // threshold.
    let training_people: HashSet<String> = train.iter().cloned().collect();
    let own: Vec<TestFace> = [32, 64, 96]
        .into_iter()
        .flat_map(|size| quality::face_set_faces(faces, &training_people, size))
        .collect();
    judge.card.no_one = Some(fit_no_one_gate(&judge, &pool, &own, schedule.seed)?);
    judge.card.familiarity_threshold = familiarity_threshold(&judge, &own)?;

    progress(&Progress::stage(&format!(
        "measuring it on {} held-out people",
        test.len()
    )));
    let held_out =
        quality::face_set_faces(faces, &test.iter().cloned().collect::<HashSet<_>>(), INPUT);
    let described = format!(
        "{} held-out people of {} ({} photos)",
        test.len(),
        faces.origin,
        held_out.len()
    );
    let (threshold, measured) =
        match quality::measure(&judge, &held_out, &faces.pose_bins.yaws, &described) {
            Ok(measured) => measured,
            Err(reason) => (
                1.0,
                JudgeQuality {
                    measured_on: format!("{described}: not measured ({reason:#})"),
                    ..JudgeQuality::default()
                },
            ),
        };
    judge.card = JudgeCard {
        format: CARD_FORMAT,
        trained_on: format!(
            "{} photos of {} training people of {}",
            pool.len(),
            pool.classes,
            faces.origin
        ),
        data: Some(data.clone()),
        training_identities: train.to_vec(),
        threshold,
        familiarity_threshold: judge.card.familiarity_threshold,
        quality: measured,
        no_one: judge.card.no_one.clone(),
        weights_sha256: crate::train::run_dir::sha256_hex(&judge.weight_bytes()?),
        command: command.to_owned(),
        network_from: None,
        training_seconds: started.elapsed().as_secs_f64(),
    };
    Ok(judge)
}

fn placeholder_card() -> JudgeCard {
    JudgeCard {
        format: CARD_FORMAT,
        trained_on: String::new(),
        data: None,
        training_identities: Vec::new(),
        threshold: 1.0,
        familiarity_threshold: f32::INFINITY,
        quality: JudgeQuality::default(),
        no_one: None,
        weights_sha256: String::new(),
        command: String::new(),
        network_from: None,
        training_seconds: 0.0,
    }
}

/// Pictures of no one the gate is fitted to, of each kind.
const NO_ONE_PICTURES: usize = 200;

/// The judge's gate for pictures of no one: the mean direction of its embeddings of such
/// pictures made from `pool`, and a threshold halfway between the highest similarity to it of
/// the `faces` (people the judge never saw) and the 5th percentile of the pictures'. `judge`
/// has no gate yet.
fn fit_no_one_gate(
    judge: &Judge,
    pool: &Pool,
    faces: &[TestFace],
    seed: u64,
) -> anyhow::Result<NoOneGate> {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x0D15_C0DE);
    let pictures: Vec<RgbImage> = NoOne::ALL
        .iter()
        .flat_map(|kind| {
            (0..NO_ONE_PICTURES)
                .map(|_| kind.picture(pool, &mut rng))
                .collect::<Vec<_>>()
        })
        .collect();
    let seen = judge.embeddings(&pictures.iter().collect::<Vec<_>>())?;
    let mut direction = vec![0.0f32; EMBEDDING];
    for embedding in &seen {
        for (sum, value) in direction.iter_mut().zip(embedding) {
            *sum += value;
        }
    }
    let norm = direction
        .iter()
        .map(|v| v * v)
        .sum::<f32>()
        .sqrt()
        .max(1e-12);
    direction.iter_mut().for_each(|v| *v /= norm);
    let mut no_one: Vec<f32> = seen.iter().map(|e| cosine(e, &direction)).collect();
    no_one.sort_by(f32::total_cmp);
    let faces_seen = judge.embeddings(&faces.iter().map(|f| &f.image).collect::<Vec<_>>())?;
    let highest_face = faces_seen
        .iter()
        .map(|e| cosine(e, &direction))
        .fold(f32::NEG_INFINITY, f32::max);
    let low_no_one = no_one[no_one.len() / 20];
    anyhow::ensure!(
        highest_face.is_finite() && low_no_one.is_finite(),
        "the gate for pictures of no one could not be fitted"
    );
    Ok(NoOneGate {
        direction,
        threshold: (highest_face + low_no_one) / 2.0,
    })
}

/// `renders` views of each person of `spec` at [`POOL_SIDE`]: yaws spread evenly over
/// −62°..+62° (one at random in each of `renders` equal slices, so between-bin yaws too),
/// lights at random.
pub fn synthetic_pool(spec: &SynthSpec, renders: usize, seed: u64) -> Pool {
    let views: Vec<Vec<RgbImage>> = (0..spec.identities)
        .into_par_iter()
        .map(|person| {
            let mut rng =
                Pcg64::seed_from_u64(seed ^ (person as u64).wrapping_mul(0xA24B_AED4_963E_E407));
            let head = spec.identity(person).head();
            (0..renders)
                .map(|r| {
                    let yaw = -62.0 + 124.0 * (r as f32 + rng.random::<f32>()) / renders as f32;
                    let light = crate::synth::Lighting::standard(rng.random_range(0..spec.lights));
                    crate::synth::render(&head, yaw, &light, POOL_SIDE as u32)
                })
                .collect()
        })
        .collect();
    let mut pool = Pool::new(spec.identities);
    for (person, images) in views.iter().enumerate() {
        for image in images {
            pool.push(image, person as u32);
        }
    }
    pool
}

/// The readable photos of `people` in `faces`, each person a class (in `people`'s order).
pub fn face_set_pool(faces: &FaceSet, people: &[String]) -> Pool {
    let class_of: std::collections::HashMap<&str, u32> = people
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i as u32))
        .collect();
    let read: Vec<(RgbImage, u32)> = faces
        .samples
        .par_iter()
        .filter_map(|sample| {
            let class = *class_of.get(faces.identity_names.get(sample.identity?)?.as_str())?;
            Some((load_rgb(&sample.image, POOL_SIDE).ok()?, class))
        })
        .collect();
    let mut pool = Pool::new(people.len());
    for (image, class) in &read {
        pool.push(image, *class);
    }
    pool
}

/// Trains the network on `pool` (every class a person, plus one for pictures of no one).
pub fn train_network(
    pool: &Pool,
    schedule: &Schedule,
    device: &Device,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> anyhow::Result<JudgeNet> {
    anyhow::ensure!(!pool.is_empty(), "no face to learn from");
    anyhow::ensure!(
        schedule.steps > 0 && schedule.batch >= 2,
        "a judge trains for at least one step of two faces"
    );
    let train_device = device.clone().autodiff();
    train_device.seed(schedule.seed);
    let classes = pool.classes + 1;
    let no_one = pool.classes;
    let people = Tensor::<2>::random(
        [classes, EMBEDDING],
        burn::tensor::Distribution::Normal(0.0, 0.01),
        &train_device,
    );
    let mut learner = Learner {
        network: JudgeNet::new(&train_device),
        people: Param::from_tensor(people),
    };
    let mut optimizer = AdamConfig::new().init();
    let loss = CrossEntropyLoss::new(None, &train_device);
    let mut rng = Pcg64::seed_from_u64(schedule.seed ^ 0x0D6E);
    let no_one_count = ((schedule.batch as f32 * NO_ONE_SHARE).round() as usize)
        .max(1)
        .min(schedule.batch - 1);
    let started = Instant::now();
    let mut order: Vec<usize> = Vec::new();
    learner = rayon::scope(|_| -> anyhow::Result<Learner> {
        for step in 0..schedule.steps {
            let faces = schedule.batch - no_one_count;
            // Passes over the pool in a fresh order each; a pool smaller than a batch is passed
            // over as many times as it takes to fill it.
            while order.len() < faces {
                let mut pass: Vec<usize> = (0..pool.len()).collect();
                pass.shuffle(&mut rng);
                order.extend(pass);
            }
            let chosen = order.split_off(order.len() - faces);
            let step_seed: u64 = rng.random();
            let views: Vec<(Vec<f32>, usize)> = (0..schedule.batch)
                .into_par_iter()
                .map(|k| {
                    let mut rng =
                        Pcg64::seed_from_u64(step_seed ^ (k as u64).wrapping_mul(0x9E37_79B9));
                    match chosen.get(k) {
                        Some(&index) => (
                            identity_view(&pool.image(index), &mut rng),
                            pool.labels[index] as usize,
                        ),
                        None => {
                            let kind = NoOne::ALL[rng.random_range(0..NoOne::ALL.len())];
                            (to_chw(&kind.picture(pool, &mut rng)), no_one)
                        }
                    }
                })
                .collect();
            let count = views.len();
            let targets: Vec<usize> = views.iter().map(|v| v.1).collect();
            let pixels: Vec<f32> = views.into_iter().flat_map(|v| v.0).collect();
            let images = Tensor::<4>::from_data(
                TensorData::new(pixels, [count, 3, INPUT, INPUT]),
                &train_device,
            );
            let cosines = unit_rows(learner.network.forward(images))
                .matmul(unit_rows(learner.people.val()).transpose());
            let mut margins = vec![0.0f32; count * classes];
            for (row, &target) in targets.iter().enumerate() {
                margins[row * classes + target] = MARGIN;
            }
            let logits = (cosines.clone()
                - Tensor::from_data(TensorData::new(margins, [count, classes]), &train_device))
            .mul_scalar(SCALE);
            let value = loss.forward(logits, labels(&targets, &train_device));
            let report = step % 50 == 0 || step + 1 == schedule.steps;
            let (loss_value, accuracy) = if report {
                let predicted = crate::eval::pose_classifier::predictions(cosines.detach())?;
                let right = predicted
                    .iter()
                    .zip(&targets)
                    .filter(|(p, t)| p == t)
                    .count();
                let loss_value = value
                    .clone()
                    .into_data()
                    .try_to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?[0];
                anyhow::ensure!(
                    loss_value.is_finite(),
                    "the judge's loss became {loss_value} at step {step}; try a lower learning rate"
                );
                (loss_value, right as f32 / count as f32)
            } else {
                (0.0, 0.0)
            };
            let grads = GradientsParams::from_grads(value.backward(), &learner);
            learner = optimizer.step(learning_rate(schedule, step), learner, grads);
            if report {
                let seconds = started.elapsed().as_secs_f64().max(1e-9);
                progress(&Progress {
                    stage: "training".to_owned(),
                    step: step + 1,
                    steps: schedule.steps,
                    batch: schedule.batch,
                    loss: loss_value,
                    accuracy,
                    images_per_second: ((step + 1) * schedule.batch) as f64 / seconds,
                });
            }
        }
        Ok(learner)
    })?;
    Ok(learner.network.valid())
}

/// Warm-up over the first steps, then a cosine fall to zero.
fn learning_rate(schedule: &Schedule, step: usize) -> f64 {
    let warmup = ((schedule.steps as f64 * WARMUP_FRACTION) as usize).max(1);
    if step < warmup {
        return schedule.learning_rate * (step + 1) as f64 / warmup as f64;
    }
    let progress = (step - warmup) as f64 / (schedule.steps - warmup).max(1) as f64;
    schedule.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Rows scaled to length one.
fn unit_rows(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).add_scalar(1e-12).sqrt();
    x / norm
}

/// The familiarity model of `pool`'s faces as the trained `network` sees them: augmented views
/// (blur and coarser resolutions among them, as small models' faces reach the judge).
pub fn fit_familiarity(
    network: &JudgeNet,
    pool: &Pool,
    seed: u64,
    device: &Device,
) -> anyhow::Result<Familiarity> {
    let network = network.clone().valid();
    let mut rng = Pcg64::seed_from_u64(seed ^ 0xFA31_11A2);
    let chosen: Vec<(usize, u64)> = (0..FAMILIARITY_VIEWS)
        .map(|_| (rng.random_range(0..pool.len()), rng.random()))
        .collect();
    let mut rows: Vec<f32> = Vec::with_capacity(FAMILIARITY_VIEWS * STATISTICS);
    for chunk in chosen.chunks(CHUNK) {
        let pixels: Vec<f32> = chunk
            .par_iter()
            .flat_map_iter(|&(index, draw)| {
                identity_view(&pool.image(index), &mut Pcg64::seed_from_u64(draw))
            })
            .collect();
        let images = Tensor::<4>::from_data(
            TensorData::new(pixels, [chunk.len(), 3, INPUT, INPUT]),
            device,
        );
        let (_, statistics) = rayon::scope(|_| network.forward_with_statistics(images));
        rows.extend(
            statistics
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        );
    }
    let (mean, directions, variances, residual) =
        principal_components(&rows, STATISTICS, COMPONENTS)?;
    Ok(Familiarity::from_parts(
        mean, directions, variances, residual, device,
    ))
}

/// The mean of `rows` (each `dim` long), its `keep` main directions (row after row) with their
/// variances, and the mean variance of the remaining directions.
fn principal_components(
    rows: &[f32],
    dim: usize,
    keep: usize,
) -> anyhow::Result<(Vec<f32>, Vec<f32>, Vec<f32>, f32)> {
    let count = rows.len() / dim;
    anyhow::ensure!(
        count > dim,
        "{count} views cannot fit a model of {dim} statistics"
    );
    let mut mean = vec![0.0f64; dim];
    for row in rows.chunks(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= count as f64);
    let centred = nalgebra::DMatrix::<f64>::from_fn(count, dim, |r, c| {
        f64::from(rows[r * dim + c]) - mean[c]
    });
    let covariance = (centred.transpose() * &centred) / (count - 1) as f64;
    let eigen = nalgebra::SymmetricEigen::new(covariance);
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let floor = 1e-6
        * eigen
            .eigenvalues
            .iter()
            .copied()
            .fold(0.0, f64::max)
            .max(1e-12);
    let mut directions = Vec::with_capacity(keep * dim);
    let mut variances = Vec::with_capacity(keep);
    for &k in order.iter().take(keep) {
        directions.extend(eigen.eigenvectors.column(k).iter().map(|&v| v as f32));
        variances.push(eigen.eigenvalues[k].max(floor) as f32);
    }
    let rest: Vec<f64> = order
        .iter()
        .skip(keep)
        .map(|&k| eigen.eigenvalues[k].max(floor))
        .collect();
    let residual = rest.iter().sum::<f64>() / rest.len().max(1) as f64;
    Ok((
        mean.iter().map(|&m| m as f32).collect(),
        directions,
        variances,
        residual.max(floor) as f32,
    ))
}

/// The familiarity score that [`FAMILIAR_SHARE`] of `faces` stay under.
fn familiarity_threshold(judge: &Judge, faces: &[TestFace]) -> anyhow::Result<f32> {
    anyhow::ensure!(
        !faces.is_empty(),
        "no face to calibrate the familiarity threshold on"
    );
    let mut scores: Vec<f32> = judge
        .assess(&faces.iter().map(|f| &f.image).collect::<Vec<_>>())?
        .iter()
        .map(|a| a.familiarity)
        .collect();
    anyhow::ensure!(
        scores.iter().all(|s| s.is_finite()),
        "the familiarity model gives scores that are not numbers"
    );
    scores.sort_by(f32::total_cmp);
    let at = ((FAMILIAR_SHARE * scores.len() as f64).ceil() as usize).clamp(1, scores.len()) - 1;
    Ok(scores[at])
}

/// The share of the test people's faces, prepared at each model size, that the judge flags.
pub fn unfamiliar_share_across_sizes(
    judge: &Judge,
    people: usize,
    bins: &PoseBins,
) -> anyhow::Result<Option<f64>> {
    let mut flagged = 0usize;
    let mut total = 0usize;
    for size in [32, 64, 96] {
        let faces = quality::synthetic_faces(seeds::TEST, people, bins, size)?;
        let assessed = judge.assess(&faces.iter().map(|f| &f.image).collect::<Vec<_>>())?;
        flagged += assessed
            .iter()
            .filter(|a| judge.unfamiliar(a.familiarity))
            .count();
        total += assessed.len();
    }
    Ok((total > 0).then(|| flagged as f64 / total as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learning_rate_warms_up_then_falls_to_zero() {
        let schedule = Schedule {
            steps: 100,
            batch: 4,
            learning_rate: 1.0,
            seed: 0,
        };
        assert!(learning_rate(&schedule, 0) < 0.5);
        assert!((learning_rate(&schedule, 3) - 1.0).abs() < 1e-9);
        assert!(learning_rate(&schedule, 99) < 0.01);
    }

    #[test]
    fn principal_components_find_the_main_direction() {
        // Points along (1, 1, 0) with small noise elsewhere.
        let mut rng = Pcg64::seed_from_u64(3);
        let rows: Vec<f32> = (0..400)
            .flat_map(|_| {
                let t: f32 = rng.random_range(-3.0..3.0);
                [
                    t + rng.random_range(-0.01..0.01),
                    t + rng.random_range(-0.01..0.01),
                    rng.random_range(-0.01..0.01),
                ]
            })
            .collect();
        let (mean, directions, variances, residual) =
            principal_components(&rows, 3, 1).expect("fits");
        assert!(mean.iter().all(|m| m.abs() < 0.5));
        let along = (
            directions[0].abs(),
            directions[1].abs(),
            directions[2].abs(),
        );
        assert!(
            (along.0 - 0.7071).abs() < 0.01 && (along.1 - 0.7071).abs() < 0.01 && along.2 < 0.01,
            "{along:?}"
        );
        assert!(
            variances[0] > 1.0 && residual < 1e-3,
            "{variances:?} {residual}"
        );
    }
}

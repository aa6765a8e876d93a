//! The evaluation of one checkpoint on one face set: identification and verification across
//! pose, rotation fidelity against the renderer's ground truth, pose control judged by an
//! independent classifier, and identity preservation. Only test identities are used.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use burn::prelude::Device;
use image::RgbImage;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use super::identification::{Labelled, Roc, genuine_and_impostor, mean_over, nearest, rank1_per_bin, roc};
use super::image_quality::{psnr, ssim};
use super::judge::Judge;
use super::pose_classifier;
use super::sharpness;
use crate::data::formats::OpenOptions;
use crate::data::prepare::centred_input;
use crate::data::{FaceSet, ImageSource};
use crate::model::rotator::{Rotator, cosine, one_hot};
use crate::train::run::open_faces;
use crate::train::{DataSource, RunConfig};

/// Images the model sees at once.
const CHUNK: usize = 128;

/// Asks a running evaluation to stop: it is checked between stages, between chunks of faces and
/// between the pose classifier's epochs.
#[derive(Clone, Debug, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// Asks the evaluation to stop.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether it was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once asked to stop.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.is_cancelled() {
            Err(Cancelled.into())
        } else {
            Ok(())
        }
    }
}

/// The error of an evaluation stopped by its [`Cancel`].
#[derive(Debug, thiserror::Error)]
#[error("the evaluation was cancelled")]
pub struct Cancelled;

/// Knobs of an evaluation.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Seed of the noise `z` of every generated face (and of the classifier's training).
    pub seed: u64,
    /// Real training images the pose classifier learns from (a seeded sample); 0 skips pose
    /// control.
    pub classifier_images: usize,
    /// Passes over them.
    pub classifier_epochs: usize,
    /// Stops the evaluation when asked.
    pub cancel: Cancel,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            classifier_images: 6000,
            classifier_epochs: 15,
            cancel: Cancel::default(),
        }
    }
}

/// What `eval --json` writes. Fields that need ground truth are `null` for sets without it;
/// fields with no data (a bin without probes) are `null` too, never a made-up number.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalReport {
    /// The run folder (or "built-in").
    pub run: String,
    /// The checkpoint step.
    pub checkpoint: u64,
    /// The face set evaluated on.
    pub data: String,
    /// Test identities used (those with a frontal gallery image).
    pub identities: usize,
    /// Test images used.
    pub images: usize,
    /// Yaw of each bin, −60° first.
    pub pose_yaws: Vec<f32>,
    /// Rank-1 identification rate per probe bin (gallery: one frontal image per identity).
    pub rank1_per_bin: Vec<Option<f64>>,
    /// Rank-1 averaged over the non-frontal bins.
    pub rank1_avg: Option<f64>,
    /// Rank-1 per bin when each probe is first frontalized, `f(G(x, 0°))`.
    pub rank1_frontalized_per_bin: Vec<Option<f64>>,
    /// That, averaged over the non-frontal bins.
    pub rank1_frontalized_avg: Option<f64>,
    /// Equal error rate of frontal-vs-non-frontal verification.
    pub eer: Option<f64>,
    /// True-accept rate at 1 % false accepts.
    pub tar_at_far_1pct: Option<f64>,
    /// The ROC, `[far, tar]` points.
    pub roc: Option<Vec<[f64; 2]>>,
    /// Mean SSIM of `G(x, c)` against the true rendering at `c`: rows = input bin, columns =
    /// requested bin (synthetic sets only).
    pub ssim_table: Option<Vec<Vec<f64>>>,
    /// The same with PSNR in dB.
    pub psnr_table: Option<Vec<Vec<f64>>>,
    /// Mean SSIM of frontalization (the frontal column) over non-frontal inputs.
    pub ssim_frontal_avg: Option<f64>,
    /// Mean SSIM over the whole table (every input bin × every requested bin).
    #[serde(default)]
    pub ssim_mean: Option<f64>,
    /// Multi-image models: rank-1 of probes that are groups of non-frontal photos of one
    /// person, fused by their confidences (gallery as for `rank1_avg`).
    #[serde(default)]
    pub rank1_fused_avg: Option<f64>,
    /// Rank-1 of the same photos one at a time, for comparison.
    #[serde(default)]
    pub rank1_single_same_photos: Option<f64>,
    /// Multi-image models on synthetic sets: SSIM of each group's fused face drawn frontal
    /// against the true frontal face.
    #[serde(default)]
    pub ssim_frontal_fused_avg: Option<f64>,
    /// The same photos one at a time, frontalized, for comparison.
    #[serde(default)]
    pub ssim_frontal_single_same_photos: Option<f64>,
    /// Photos per fused group.
    #[serde(default)]
    pub fused_group: Option<usize>,
    /// Multi-image models, by the identity judge: rank-1 of each group's fused face drawn
    /// frontal against the real frontal gallery (the judge's embeddings).
    #[serde(default)]
    pub judge_rank1_fused_frontal: Option<f64>,
    /// The same photos one at a time, each frontalized, by the judge, for comparison.
    #[serde(default)]
    pub judge_rank1_single_frontal_same_photos: Option<f64>,
    /// Fraction of `G(x, c)` the independent pose classifier puts in bin `c`, per `c`.
    pub pose_control_per_bin: Vec<Option<f64>>,
    /// That, over all requested bins.
    pub pose_control_acc: Option<f64>,
    /// The classifier's accuracy on real test images (how far to trust pose control).
    pub pose_classifier_test_acc: Option<f64>,
    /// How many `G(x, c)` the classifier puts in each bin: rows = requested `c`, columns =
    /// the bin it sees.
    #[serde(default)]
    pub pose_confusion: Option<Vec<Vec<usize>>>,
    /// Of the outputs asked for a pose other than their input's, the fraction the classifier
    /// puts at the *input's* bin: G copying the pose it was given instead of obeying the code.
    #[serde(default)]
    pub pose_kept_from_input: Option<f64>,
    /// The classifier on the real test images: rows = their true bin, columns = the bin it
    /// sees (how far to trust `pose_confusion`).
    #[serde(default)]
    pub pose_classifier_confusion: Option<Vec<Vec<usize>>>,
    /// Mean distance, in degrees, between the requested pose and the one the classifier sees.
    #[serde(default)]
    pub pose_error_degrees: Option<f64>,
    /// Of all outputs, the fraction the classifier puts more than one bin from the requested
    /// pose: jumps no slightly-off turn makes, the mark of a G that paints what a pose
    /// classifier likes rather than turning the head.
    #[serde(default)]
    pub pose_far_off: Option<f64>,
    /// How soft G's faces are: the Gaussian blur (σ, pixels) that leaves the real test faces with
    /// as little fine detail as G's outputs have (0: as much as the real ones, or more).
    #[serde(default)]
    pub softness_blur_px: Option<f64>,
    /// The classifier's accuracy on the real test images blurred by `softness_blur_px`: the
    /// pose control a perfectly posed face as soft as G's would get.
    #[serde(default)]
    pub pose_classifier_softened_acc: Option<f64>,
    /// Mean cosine of `f(x)` and `f(G(x, c))` per requested bin `c`.
    pub identity_cosine_per_bin: Vec<Option<f64>>,
    /// Worst-preserved identities: (identity name, mean identity cosine), lowest first.
    pub worst_identities: Vec<(String, f64)>,
    /// The identity judge that measured the `judge_…` figures, in one line (what it learned
    /// from and how well it tells unseen people apart); `None` when no judge applies to the
    /// face set, and then every `judge_…` figure is `null`.
    #[serde(default)]
    pub judge: Option<String>,
    /// Whether that judge's own figures on unseen people are weak (read its figures with care).
    #[serde(default)]
    pub judge_weak: Option<bool>,
    /// The judge's threshold: the similarity 1 % of different-person pairs exceed, on its own
    /// test people.
    #[serde(default)]
    pub judge_threshold: Option<f64>,
    /// Rank-1 per probe bin by the judge's embeddings, the raw probes against the real
    /// frontal gallery (how well the judge knows the people unturned).
    #[serde(default)]
    pub judge_rank1_per_bin: Vec<Option<f64>>,
    /// That, averaged over the non-frontal bins.
    #[serde(default)]
    pub judge_rank1_avg: Option<f64>,
    /// Rank-1 per probe bin by the judge of the frontalized probes `G(x, 0°)` against the real
    /// frontal gallery: does frontalizing keep the person, as someone else sees it.
    #[serde(default)]
    pub judge_rank1_frontalized_per_bin: Vec<Option<f64>>,
    /// That, averaged over the non-frontal bins.
    #[serde(default)]
    pub judge_rank1_frontalized_avg: Option<f64>,
    /// Verification by the judge of the raw non-frontal probes against the frontal gallery:
    /// the true-accept rate at 1 % false accepts.
    #[serde(default)]
    pub judge_tar_at_far_1pct: Option<f64>,
    /// The same with the probes frontalized.
    #[serde(default)]
    pub judge_tar_at_far_1pct_frontalized: Option<f64>,
    /// The judge's mean similarity of `x` and `G(x, c)` per requested bin `c`.
    #[serde(default)]
    pub judge_identity_per_bin: Vec<Option<f64>>,
    /// The share of `G(x, c)` the judge calls the same person as `x` (above its threshold), per
    /// requested bin `c`.
    #[serde(default)]
    pub judge_identity_kept_per_bin: Vec<Option<f64>>,
    /// That share over every requested bin.
    #[serde(default)]
    pub judge_identity_kept: Option<f64>,
    /// The share of the test faces the judge finds unlike the faces it learned from.
    #[serde(default)]
    pub judge_unfamiliar_share: Option<f64>,
    /// Things the reader should know (skipped images, a classifier that could not be trained).
    pub notes: Vec<String>,
    /// Wall-clock seconds of the evaluation.
    pub seconds: f64,
}

/// A face the model kept least well: the input, its frontalization and (synthetic sets) the
/// true frontal rendering.
#[derive(Clone, Debug)]
pub struct Example {
    /// The identity's name.
    pub identity: String,
    /// Mean identity cosine of this identity's rotations.
    pub cosine: f64,
    /// A non-frontal input.
    pub input: RgbImage,
    /// `G(input, 0°)`.
    pub frontalized: RgbImage,
    /// The true frontal rendering, when known.
    pub truth: Option<RgbImage>,
}

/// A report and the worst-kept faces to show beside it.
pub struct Evaluation {
    /// The numbers.
    pub report: EvalReport,
    /// The worst-kept identities, worst first.
    pub worst: Vec<Example>,
}

/// One test image at the model's size.
struct TestImage {
    identity: usize,
    bin: usize,
    light: u32,
    source: ImageSource,
    pixels: RgbImage,
}

/// The identities a run never trained on within `faces`: its test split when `faces` is the
/// run's own data, every identity of any other set (`None`).
pub fn held_out_identities(config: &RunConfig, source: &DataSource) -> Option<HashSet<String>> {
    (source == &config.data).then(|| config.split.test.iter().cloned().collect())
}

/// The instruments an evaluation measures with besides the model, each trained apart from it.
#[derive(Clone, Copy, Default)]
pub struct Instruments<'a> {
    /// A pose classifier trained before ([`pose_judge`]); `None`: one is trained for this
    /// evaluation (the evaluations during a run train it once and share it).
    pub pose: Option<&'a pose_classifier::TrainedPoseClassifier>,
    /// The identity judge for this face set; `None`: no `judge_…` figures.
    pub judge: Option<&'a Judge>,
}

/// Evaluates `rotator` on the identities of `faces` allowed by `only` (all when `None`), with
/// `instruments`; `progress` hears what is being done and the fraction done.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    rotator: &Rotator,
    config: &RunConfig,
    faces: &FaceSet,
    only: Option<&HashSet<String>>,
    options: &EvalOptions,
    instruments: Instruments,
    device: &Device,
    progress: &mut dyn FnMut(&str, f32),
) -> anyhow::Result<Evaluation> {
    let started = Instant::now();
    let cancel = options.cancel.clone();
    let mut step = |what: &str, fraction: f32| -> anyhow::Result<()> {
        progress(what, fraction);
        cancel.check()
    };
    let size = rotator.image_size();
    let num_poses = rotator.config.num_poses();
    let yaws = rotator.pose_bins().yaws.clone();
    anyhow::ensure!(faces.pose_bins == *rotator.pose_bins(), "the face set's pose bins ({:?}) differ from the model's ({:?})", faces.pose_bins.yaws, yaws);
    let frontal = frontal_bin(&yaws);
    let mut notes = Vec::new();

    step("reading test images", 0.0)?;
    let (images, unreadable) = test_images(faces, only, size);
    if unreadable > 0 {
        notes.push(format!("{unreadable} test images could not be read and were left out"));
    }
    anyhow::ensure!(!images.is_empty(), "{} holds no labelled test images (identities the run never trained on)", faces.origin);

    step("encoding", 0.1)?;
    let features = features_of(
        rotator,
        &images.iter().map(|i| &i.pixels).collect::<Vec<_>>(),
    )?;
    let protocol = Protocol::of(&images, &features, frontal);
    if protocol.without_frontal > 0 {
        notes.push(format!("{} test identities have no frontal image and are not in the identification protocol", protocol.without_frontal));
    }
    let non_frontal = || (0..num_poses).filter(move |&b| b != frontal);
    let rank1 = rank1_per_bin(&protocol.gallery, &protocol.probes, num_poses);

    step("rotating to every pose", 0.25)?;
    let rotations = Rotations::of(rotator, &images, num_poses, options.seed, &mut |done| {
        step(
            &format!("rotating to every pose: {:.0} %", 100.0 * done),
            0.25 + 0.25 * done,
        )
    })?;

    step("frontalizing probes", 0.5)?;
    let frontalized = frontalized_probes(
        rotator,
        &images,
        &protocol,
        &rotations,
        frontal,
        options.seed,
    )?;
    let frontalized_probes: Vec<Labelled> = frontalized
        .iter()
        .map(|f| labelled(&images[f.probe], &f.feature))
        .collect();
    let rank1_frontalized = rank1_per_bin(&protocol.gallery, &frontalized_probes, num_poses);
    let curve = verification(&protocol, frontal);

    step("identity of the rotated faces", 0.6)?;
    let kept = IdentityKept::of(faces, &images, &features, &rotations, frontal, &yaws, size);
    let judged = match instruments.judge {
        Some(judge) => {
            step("the identity judge", 0.62)?;
            Some(JudgeFigures::of(
                judge,
                &images,
                &protocol,
                &rotations,
                &frontalized,
                num_poses,
                frontal,
            )?)
        }
        None => None,
    };

    let fused = if rotator.fuses() {
        step("fusing groups of photos", 0.65)?;
        let group = config
            .training
            .multi
            .as_ref()
            .map_or(DEFAULT_GROUP, |m| m.images_per_id);
        match fused_measures(
            rotator,
            instruments.judge,
            &images,
            &features,
            &protocol.gallery_of,
            frontal,
            group,
            options.seed,
        ) {
            Ok(fused) => Some(fused),
            // A set too small to fuse still gets every other measure.
            Err(reason) => {
                notes.push(format!("fused identification not measured: {reason:#}"));
                None
            }
        }
    } else {
        None
    };

    step("rotation fidelity against the renderer", 0.7)?;
    let truth_tables = truth_tables(&rotations.pairs, &images, &rotations.rotated, &yaws, size)?;
    let ssim_frontal_avg = truth_tables.as_ref().and_then(|(ssim_table, _)| {
        let column: Vec<Option<f64>> = ssim_table.iter().map(|row| row.get(frontal).copied()).collect();
        mean_over(&column, non_frontal())
    });
    let ssim_mean = truth_tables.as_ref().map(|(ssim_table, _)| {
        let cells: Vec<f64> = ssim_table.iter().flatten().copied().collect();
        cells.iter().sum::<f64>() / cells.len().max(1) as f64
    });

    step("training the independent pose classifier", 0.8)?;
    let softness = sharpness::equivalent_blur(
        &images.iter().map(|image| &image.pixels).collect::<Vec<_>>(),
        &rotations.rotated.iter().collect::<Vec<_>>(),
    );
    let epochs = options.classifier_epochs;
    let mut on_epoch = |epoch: usize| {
        step(
            &format!(
                "training the independent pose classifier: epoch {} of {epochs}",
                epoch + 1
            ),
            0.8 + 0.18 * (epoch + 1) as f32 / epochs.max(1) as f32,
        )
    };
    let trained = (instruments.pose.is_none() && options.classifier_images > 0)
        .then(|| pose_judge(config, size, options, device, &mut on_epoch));
    if let Some(Err(error)) = &trained
        && error.is::<Cancelled>()
    {
        return Err(Cancelled.into());
    }
    let classifier = match (instruments.pose, &trained) {
        (Some(judge), _) => Ok(judge),
        (None, Some(Ok(trained))) => Ok(trained),
        (None, Some(Err(error))) => Err(format!("{error:#}")),
        (None, None) => Err("skipped (no classifier images asked for)".to_owned()),
    };
    let pose = match classifier {
        Ok(classifier) => PoseControl::of(classifier, &images, &rotations, &yaws, softness)?,
        Err(reason) => {
            notes.push(format!("pose control not measured: {reason}"));
            PoseControl::unmeasured(num_poses)
        }
    };
    let pose_control_acc = mean_over(&pose.per_bin, 0..num_poses);
    step("done", 1.0)?;

    let report = EvalReport {
        run: String::new(),
        checkpoint: rotator.step,
        data: faces.origin.clone(),
        identities: protocol.gallery.len(),
        images: images.len(),
        pose_yaws: yaws,
        rank1_avg: mean_over(&rank1, non_frontal()),
        rank1_per_bin: rank1,
        rank1_frontalized_avg: mean_over(&rank1_frontalized, non_frontal()),
        rank1_frontalized_per_bin: rank1_frontalized,
        eer: curve.as_ref().map(|c| c.eer),
        tar_at_far_1pct: curve.as_ref().map(|c| c.tar_at_far_1pct),
        roc: curve.map(|c| c.points),
        ssim_frontal_avg,
        ssim_mean,
        rank1_fused_avg: fused.as_ref().map(|f| f.rank1),
        rank1_single_same_photos: fused.as_ref().map(|f| f.rank1_single),
        ssim_frontal_fused_avg: fused.as_ref().and_then(|f| f.ssim),
        ssim_frontal_single_same_photos: fused.as_ref().and_then(|f| f.ssim_single),
        fused_group: fused.as_ref().map(|f| f.group),
        judge_rank1_fused_frontal: fused.as_ref().and_then(|f| f.judge_rank1),
        judge_rank1_single_frontal_same_photos: fused.as_ref().and_then(|f| f.judge_rank1_single),
        ssim_table: truth_tables.as_ref().map(|t| t.0.clone()),
        psnr_table: truth_tables.map(|t| t.1),
        pose_control_per_bin: pose.per_bin,
        pose_control_acc,
        pose_classifier_test_acc: pose.classifier_test_acc,
        pose_confusion: pose.confusion,
        pose_kept_from_input: pose.kept_from_input,
        pose_classifier_confusion: pose.classifier_confusion,
        softness_blur_px: softness.map(f64::from),
        pose_classifier_softened_acc: pose.classifier_softened_acc,
        pose_error_degrees: pose.error_degrees,
        pose_far_off: pose.far_off,
        identity_cosine_per_bin: kept.cosine_per_bin,
        worst_identities: kept.worst,
        judge: instruments.judge.map(Judge::summary),
        judge_weak: instruments.judge.map(Judge::is_weak),
        judge_threshold: instruments.judge.map(|j| f64::from(j.card.threshold)),
        judge_rank1_avg: judged
            .as_ref()
            .and_then(|j| mean_over(&j.rank1_per_bin, non_frontal())),
        judge_rank1_per_bin: judged
            .as_ref()
            .map_or_else(Vec::new, |j| j.rank1_per_bin.clone()),
        judge_rank1_frontalized_avg: judged
            .as_ref()
            .and_then(|j| mean_over(&j.rank1_frontalized_per_bin, non_frontal())),
        judge_rank1_frontalized_per_bin: judged
            .as_ref()
            .map_or_else(Vec::new, |j| j.rank1_frontalized_per_bin.clone()),
        judge_tar_at_far_1pct: judged.as_ref().and_then(|j| j.tar_raw),
        judge_tar_at_far_1pct_frontalized: judged.as_ref().and_then(|j| j.tar_frontalized),
        judge_identity_kept: judged.as_ref().and_then(|j| j.kept),
        judge_identity_per_bin: judged
            .as_ref()
            .map_or_else(Vec::new, |j| j.similarity_per_bin.clone()),
        judge_identity_kept_per_bin: judged
            .as_ref()
            .map_or_else(Vec::new, |j| j.kept_per_bin.clone()),
        judge_unfamiliar_share: judged.as_ref().and_then(|j| j.unfamiliar_share),
        notes,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Evaluation { report, worst: kept.examples })
}

/// The identification protocol: one frontal gallery image per identity (light 0 first), and
/// every other image of those identities as a probe.
struct Protocol {
    /// The gallery image of each identity that has one.
    gallery_of: HashMap<usize, usize>,
    gallery: Vec<Labelled>,
    /// The probes' indices into the test images, and the probes.
    probe_indices: Vec<usize>,
    probes: Vec<Labelled>,
    /// Test identities with no frontal image, left out.
    without_frontal: usize,
}

impl Protocol {
    fn of(images: &[TestImage], features: &[Vec<f32>], frontal: usize) -> Self {
        let mut gallery_of: HashMap<usize, usize> = HashMap::new();
        for (index, image) in images.iter().enumerate().filter(|(_, i)| i.bin == frontal) {
            let better = gallery_of.get(&image.identity).is_none_or(|&g| image.light < images[g].light);
            if better {
                gallery_of.insert(image.identity, index);
            }
        }
        let without_frontal = images.iter().map(|i| i.identity).collect::<HashSet<_>>().len() - gallery_of.len();
        let gallery_indices: HashSet<usize> = gallery_of.values().copied().collect();
        let gallery: Vec<Labelled> = gallery_of.values().map(|&i| labelled(&images[i], &features[i])).collect();
        let probe_indices: Vec<usize> = (0..images.len()).filter(|i| !gallery_indices.contains(i) && gallery_of.contains_key(&images[*i].identity)).collect();
        let probes: Vec<Labelled> = probe_indices.iter().map(|&i| labelled(&images[i], &features[i])).collect();
        Self { gallery_of, gallery, probe_indices, probes, without_frontal }
    }
}

/// One input per identity and bin (light 0 first), redrawn at every bin.
struct Rotations {
    /// `(input index, requested bin)` of each redrawn face.
    pairs: Vec<(usize, usize)>,
    /// `G(x, c)` of each pair.
    rotated: Vec<RgbImage>,
    /// `f(G(x, c))` of each pair.
    features: Vec<Vec<f32>>,
}

impl Rotations {
    fn of(
        rotator: &Rotator,
        images: &[TestImage],
        num_poses: usize,
        seed: u64,
        done: &mut dyn FnMut(f32) -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        let mut input_of: HashMap<(usize, usize), usize> = HashMap::new();
        for (index, image) in images.iter().enumerate() {
            let better = input_of.get(&(image.identity, image.bin)).is_none_or(|&g| image.light < images[g].light);
            if better {
                input_of.insert((image.identity, image.bin), index);
            }
        }
        let mut inputs: Vec<usize> = input_of.values().copied().collect();
        inputs.sort_unstable();
        let pairs: Vec<(usize, usize)> = inputs.iter().flat_map(|&i| (0..num_poses).map(move |c| (i, c))).collect();
        let pair_pixels: Vec<&RgbImage> = pairs.iter().map(|&(i, _)| &images[i].pixels).collect();
        let codes: Vec<Vec<f32>> = pairs.iter().map(|&(_, c)| one_hot(c, num_poses)).collect();
        let rotated = generate(rotator, &pair_pixels, &codes, seed, done)?;
        let features = features_of(rotator, &rotated.iter().collect::<Vec<_>>())?;
        Ok(Self { pairs, rotated, features })
    }
}

/// A probe frontalized: `G(x, 0°)` and its feature `f(G(x, 0°))`.
struct FrontalizedProbe {
    /// The probe's index into the test images.
    probe: usize,
    /// `G(x, 0°)`.
    image: RgbImage,
    /// `f(G(x, 0°))`.
    feature: Vec<f32>,
}

/// Every probe frontalized. A probe that is also a rotation input was frontalized there (same
/// code, same noise); only the others are generated here.
fn frontalized_probes(
    rotator: &Rotator,
    images: &[TestImage],
    protocol: &Protocol,
    rotations: &Rotations,
    frontal: usize,
    seed: u64,
) -> anyhow::Result<Vec<FrontalizedProbe>> {
    let num_poses = rotator.config.num_poses();
    let at_frontal: HashMap<usize, usize> = rotations.pairs.iter().enumerate().filter(|(_, (_, c))| *c == frontal).map(|(k, &(i, _))| (i, k)).collect();
    let missing: Vec<usize> = protocol.probe_indices.iter().copied().filter(|i| !at_frontal.contains_key(i)).collect();
    let missing_pixels: Vec<&RgbImage> = missing.iter().map(|&i| &images[i].pixels).collect();
    let extra = generate(
        rotator,
        &missing_pixels,
        &vec![one_hot(frontal, num_poses); missing.len()],
        seed,
        &mut |_| Ok(()),
    )?;
    let extra_features = features_of(rotator, &extra.iter().collect::<Vec<_>>())?;
    let extra_of: HashMap<usize, usize> =
        missing.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    Ok(protocol
        .probe_indices
        .iter()
        .filter_map(|&i| {
            let (image, feature) = match at_frontal.get(&i) {
                Some(&k) => (&rotations.rotated[k], &rotations.features[k]),
                None => extra_of.get(&i).map(|&k| (&extra[k], &extra_features[k]))?,
            };
            Some(FrontalizedProbe {
                probe: i,
                image: image.clone(),
                feature: feature.clone(),
            })
        })
        .collect())
}

/// The identity judge's figures: the same protocol as G's own, with the judge's embeddings of
/// the real faces and of G's.
struct JudgeFigures {
    rank1_per_bin: Vec<Option<f64>>,
    rank1_frontalized_per_bin: Vec<Option<f64>>,
    tar_raw: Option<f64>,
    tar_frontalized: Option<f64>,
    similarity_per_bin: Vec<Option<f64>>,
    kept_per_bin: Vec<Option<f64>>,
    kept: Option<f64>,
    unfamiliar_share: Option<f64>,
}

impl JudgeFigures {
    fn of(
        judge: &Judge,
        images: &[TestImage],
        protocol: &Protocol,
        rotations: &Rotations,
        frontalized: &[FrontalizedProbe],
        num_poses: usize,
        frontal: usize,
    ) -> anyhow::Result<Self> {
        let real = judge.assess(&images.iter().map(|i| &i.pixels).collect::<Vec<_>>())?;
        let as_labelled = |index: usize, embedding: &[f32]| labelled(&images[index], embedding);
        let gallery: Vec<Labelled> = protocol
            .gallery_of
            .values()
            .map(|&i| as_labelled(i, &real[i].embedding))
            .collect();
        let probes: Vec<Labelled> = protocol
            .probe_indices
            .iter()
            .map(|&i| as_labelled(i, &real[i].embedding))
            .collect();
        let turned = judge.embeddings(&frontalized.iter().map(|f| &f.image).collect::<Vec<_>>())?;
        let frontalized: Vec<Labelled> = frontalized
            .iter()
            .zip(&turned)
            .map(|(f, embedding)| as_labelled(f.probe, embedding))
            .collect();
        let drawn = judge.embeddings(&rotations.rotated.iter().collect::<Vec<_>>())?;
        let threshold = judge.card.threshold;
        let (mut sums, mut kept, mut counts) = (
            vec![0.0f64; num_poses],
            vec![0usize; num_poses],
            vec![0usize; num_poses],
        );
        for (&(i, c), embedding) in rotations.pairs.iter().zip(&drawn) {
            let similarity = cosine(&real[i].embedding, embedding);
            anyhow::ensure!(
                similarity.is_finite(),
                "the identity judge gives similarities that are not numbers for this model's faces"
            );
            sums[c] += f64::from(similarity);
            kept[c] += usize::from(similarity > threshold);
            counts[c] += 1;
        }
        let per_bin = |values: &[f64]| -> Vec<Option<f64>> {
            values
                .iter()
                .zip(&counts)
                .map(|(&v, &n)| (n > 0).then(|| v / n as f64))
                .collect()
        };
        let kept_share: Vec<f64> = kept.iter().map(|&k| k as f64).collect();
        let total: usize = counts.iter().sum();
        let unfamiliar = real
            .iter()
            .filter(|a| judge.unfamiliar(a.familiarity))
            .count();
        Ok(Self {
            rank1_per_bin: rank1_per_bin(&gallery, &probes, num_poses),
            rank1_frontalized_per_bin: rank1_per_bin(&gallery, &frontalized, num_poses),
            tar_raw: verification_of(&gallery, &probes, frontal).map(|c| c.tar_at_far_1pct),
            tar_frontalized: verification_of(&gallery, &frontalized, frontal)
                .map(|c| c.tar_at_far_1pct),
            similarity_per_bin: per_bin(&sums),
            kept_per_bin: per_bin(&kept_share),
            kept: (total > 0).then(|| kept.iter().sum::<usize>() as f64 / total as f64),
            unfamiliar_share: (!real.is_empty()).then(|| unfamiliar as f64 / real.len() as f64),
        })
    }
}

/// Verification: every gallery image against every non-frontal probe.
fn verification(protocol: &Protocol, frontal: usize) -> Option<Roc> {
    verification_of(&protocol.gallery, &protocol.probes, frontal)
}

/// Verification of `probes` (the non-frontal ones) against every `gallery` face.
fn verification_of(gallery: &[Labelled], probes: &[Labelled], frontal: usize) -> Option<Roc> {
    let turned: Vec<Labelled> = probes
        .iter()
        .filter(|p| p.bin != frontal)
        .cloned()
        .collect();
    let (genuine, impostor) = genuine_and_impostor(gallery, &turned);
    roc(&genuine, &impostor)
}

/// How well the rotated faces keep their person: `cos(f(x), f(G(x, c)))`.
struct IdentityKept {
    /// The mean cosine per requested bin.
    cosine_per_bin: Vec<Option<f64>>,
    /// The identities kept least well (name, mean cosine), worst first.
    worst: Vec<(String, f64)>,
    /// Their faces: the most turned input, its frontal redrawing and the truth when known.
    examples: Vec<Example>,
}

impl IdentityKept {
    /// The identities listed as worst.
    const WORST: usize = 8;

    fn of(faces: &FaceSet, images: &[TestImage], features: &[Vec<f32>], rotations: &Rotations, frontal: usize, yaws: &[f32], size: usize) -> Self {
        let num_poses = yaws.len();
        let mut cosine_sum = vec![0.0f64; num_poses];
        let mut cosine_count = vec![0usize; num_poses];
        let mut per_identity: HashMap<usize, (f64, usize)> = HashMap::new();
        for (&(i, c), feature) in rotations.pairs.iter().zip(&rotations.features) {
            let score = cosine(&features[i], feature) as f64;
            cosine_sum[c] += score;
            cosine_count[c] += 1;
            let entry = per_identity.entry(images[i].identity).or_default();
            entry.0 += score;
            entry.1 += 1;
        }
        let cosine_per_bin: Vec<Option<f64>> = cosine_sum.iter().zip(&cosine_count).map(|(&s, &n)| (n > 0).then(|| s / n as f64)).collect();
        let mut ranked: Vec<(usize, f64)> = per_identity.iter().map(|(&id, &(sum, n))| (id, sum / n as f64)).collect();
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        ranked.truncate(Self::WORST);
        let name = |id: usize| faces.identity_names.get(id).cloned().unwrap_or_default();
        let worst: Vec<(String, f64)> = ranked.iter().map(|&(id, c)| (name(id), c)).collect();
        let examples: Vec<Example> = ranked
            .iter()
            .filter_map(|&(id, c)| {
                // The identity's most turned input, and its frontal redrawing.
                let at = rotations
                    .pairs
                    .iter()
                    .enumerate()
                    .filter(|(_, (i, code))| images[*i].identity == id && *code == frontal)
                    .max_by(|(_, (a, _)), (_, (b, _))| yaws[images[*a].bin].abs().total_cmp(&yaws[images[*b].bin].abs()))?
                    .0;
                let input = &images[rotations.pairs[at].0];
                let truth = match &input.source {
                    ImageSource::Synthetic { spec, person, light, .. } => {
                        centred_input(&ImageSource::Synthetic { spec: spec.clone(), person: *person, yaw: yaws[frontal], light: *light }, size).ok()
                    }
                    _ => None,
                };
                Some(Example { identity: name(id), cosine: c, input: input.pixels.clone(), frontalized: rotations.rotated[at].clone(), truth })
            })
            .collect();
        Self { cosine_per_bin, worst, examples }
    }
}

/// Pose control: the rotated faces' poses as an independent classifier reads them.
struct PoseControl {
    /// The share of each requested bin read as that bin.
    per_bin: Vec<Option<f64>>,
    /// Requested bin (rows) against the bin read (columns).
    confusion: Option<Vec<Vec<usize>>>,
    /// Of the faces moved off their input's bin, the share still read at the input's bin.
    kept_from_input: Option<f64>,
    /// The mean distance in degrees between the requested and the read yaw.
    error_degrees: Option<f64>,
    /// The share read more than one bin off.
    far_off: Option<f64>,
    /// The classifier on the real test faces: its accuracy and its confusion table.
    classifier_test_acc: Option<f64>,
    classifier_confusion: Option<Vec<Vec<usize>>>,
    /// Its accuracy on the real test faces blurred to G's softness.
    classifier_softened_acc: Option<f64>,
}

impl PoseControl {
    /// Nothing measured: no classifier.
    fn unmeasured(num_poses: usize) -> Self {
        Self {
            per_bin: vec![None; num_poses],
            confusion: None,
            kept_from_input: None,
            error_degrees: None,
            far_off: None,
            classifier_test_acc: None,
            classifier_confusion: None,
            classifier_softened_acc: None,
        }
    }

    fn of(classifier: &pose_classifier::TrainedPoseClassifier, images: &[TestImage], rotations: &Rotations, yaws: &[f32], softness: Option<f32>) -> anyhow::Result<Self> {
        let num_poses = yaws.len();
        let pairs = &rotations.pairs;
        let predicted = classifier.predict(&rotations.rotated.iter().collect::<Vec<_>>())?;
        let confusion = confusion_of(num_poses, pairs.iter().zip(&predicted).map(|(&(_, c), &p)| (c, p)));
        let per_bin = confusion.iter().enumerate().map(|(c, row)| share(row[c], row.iter().sum())).collect();
        let (mut kept, mut moved) = (0usize, 0usize);
        let mut degrees = 0.0f64;
        for (&(i, c), &p) in pairs.iter().zip(&predicted) {
            degrees += f64::from((yaws[p] - yaws[c]).abs());
            if images[i].bin != c {
                moved += 1;
                kept += usize::from(p == images[i].bin);
            }
        }
        let real = classifier.predict(&images.iter().map(|i| &i.pixels).collect::<Vec<_>>())?;
        let classifier_confusion = confusion_of(num_poses, images.iter().zip(&real).map(|(image, &p)| (image.bin, p)));
        let classifier_softened_acc = match softness {
            Some(sigma) => {
                let softened: Vec<RgbImage> = images.iter().map(|image| sharpness::blurred(&image.pixels, sigma)).collect();
                let seen = classifier.predict(&softened.iter().collect::<Vec<_>>())?;
                share(images.iter().zip(&seen).filter(|(image, seen)| image.bin == **seen).count(), images.len())
            }
            None => None,
        };
        Ok(Self {
            per_bin,
            kept_from_input: share(kept, moved),
            error_degrees: (!pairs.is_empty()).then(|| degrees / pairs.len() as f64),
            far_off: far_off(&confusion),
            confusion: Some(confusion),
            classifier_test_acc: share((0..num_poses).map(|b| classifier_confusion[b][b]).sum(), images.len()),
            classifier_confusion: Some(classifier_confusion),
            classifier_softened_acc,
        })
    }
}

/// The fraction of a confusion table's entries more than one bin from their row's bin.
fn far_off(confusion: &[Vec<usize>]) -> Option<f64> {
    let far = confusion.iter().enumerate().flat_map(|(truth, row)| row.iter().enumerate().filter(move |(seen, _)| truth.abs_diff(*seen) > 1).map(|(_, &count)| count)).sum();
    share(far, confusion.iter().flatten().sum())
}

/// A confusion table of `(truth, seen)` bin pairs: rows = truth, columns = seen.
fn confusion_of(num_poses: usize, pairs: impl Iterator<Item = (usize, usize)>) -> Vec<Vec<usize>> {
    let mut table = vec![vec![0usize; num_poses]; num_poses];
    for (truth, seen) in pairs {
        table[truth][seen] += 1;
    }
    table
}

/// `part / whole`, or `None` when there is nothing to divide.
fn share(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Each row of a confusion table (counts) as fractions of the row's total.
pub fn row_fractions(counts: &[Vec<usize>]) -> Vec<Vec<f64>> {
    counts
        .iter()
        .map(|row| {
            let total = row.iter().sum::<usize>().max(1) as f64;
            row.iter().map(|&n| n as f64 / total).collect()
        })
        .collect()
}

/// The bin nearest 0°.
fn frontal_bin(yaws: &[f32]) -> usize {
    yaws.iter().enumerate().min_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).map_or(0, |(i, _)| i)
}

fn labelled(image: &TestImage, feature: &[f32]) -> Labelled {
    Labelled { identity: image.identity, bin: image.bin, feature: feature.to_vec() }
}

fn test_images(faces: &FaceSet, only: Option<&HashSet<String>>, size: usize) -> (Vec<TestImage>, usize) {
    use rayon::prelude::*;
    let wanted: Vec<(usize, usize, u32, &ImageSource)> = faces
        .samples
        .iter()
        .filter_map(|s| {
            let (identity, bin) = (s.identity?, s.bin?);
            let name = faces.identity_names.get(identity)?;
            only.is_none_or(|set| set.contains(name)).then_some((identity, bin, s.light.unwrap_or(0), &s.image))
        })
        .collect();
    let read: Vec<Option<TestImage>> = wanted
        .par_iter()
        .map(|&(identity, bin, light, source)| {
            centred_input(source, size).ok().map(|pixels| TestImage { identity, bin, light, source: source.clone(), pixels })
        })
        .collect();
    let unreadable = read.iter().filter(|r| r.is_none()).count();
    (read.into_iter().flatten().collect(), unreadable)
}

/// The identity features of `images`; an error when one is not a number, or so large that its
/// length is not (then no score between features would be a number either).
fn features_of(rotator: &Rotator, images: &[&RgbImage]) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(CHUNK) {
        out.extend(rotator.features(chunk)?);
    }
    anyhow::ensure!(
        out.iter().all(|feature| feature.iter().map(|x| x * x).sum::<f32>().is_finite()),
        "the model's identity features are not numbers (NaN, infinite, or too large to compare) for {}: its weights are broken; evaluate another checkpoint",
        rotator.origin
    );
    Ok(out)
}

/// `images[i]` drawn at `codes[i]`, a chunk at a time; `done` hears the fraction drawn after each
/// chunk (and may stop the work by failing).
fn generate(
    rotator: &Rotator,
    images: &[&RgbImage],
    codes: &[Vec<f32>],
    seed: u64,
    done: &mut dyn FnMut(f32) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<RgbImage>> {
    let mut out = Vec::with_capacity(images.len());
    for (chunk, chunk_codes) in images.chunks(CHUNK).zip(codes.chunks(CHUNK)) {
        out.extend(rotator.rotate_each(chunk, chunk_codes, seed)?);
        done(out.len() as f32 / images.len().max(1) as f32)?;
    }
    Ok(out)
}

/// Photos per fused group when a run's configuration does not say (the paper's n).
const DEFAULT_GROUP: usize = 6;

/// The multi-image measures: groups of non-frontal photos of one person, fused.
struct Fused {
    group: usize,
    rank1: f64,
    rank1_single: f64,
    ssim: Option<f64>,
    ssim_single: Option<f64>,
    /// By the judge: the fused frontal faces' rank-1, and the same photos' frontalized singly.
    judge_rank1: Option<f64>,
    judge_rank1_single: Option<f64>,
}

/// Each identity's non-frontal test photos (one light at a time, gallery photos left out) cut
/// into groups of `group`; each group fused, identified against the gallery and, on synthetic
/// sets, drawn frontal and compared with the truth; with a judge, the fused face drawn frontal
/// identified by it against the real frontal gallery; the same photos one at a time beside it.
#[allow(clippy::too_many_arguments)]
fn fused_measures(
    rotator: &Rotator,
    judge: Option<&Judge>,
    images: &[TestImage],
    features: &[Vec<f32>],
    gallery_of: &HashMap<usize, usize>,
    frontal: usize,
    group: usize,
    seed: u64,
) -> anyhow::Result<Fused> {
    let num_poses = rotator.config.num_poses();
    let mut members: std::collections::BTreeMap<(usize, u32), Vec<usize>> = std::collections::BTreeMap::new();
    for (index, image) in images.iter().enumerate() {
        if image.bin != frontal && gallery_of.contains_key(&image.identity) {
            members.entry((image.identity, image.light)).or_default().push(index);
        }
    }
    let groups: Vec<&[usize]> = members.values().flat_map(|m| m.chunks_exact(group)).collect();
    anyhow::ensure!(!groups.is_empty(), "no test identity has {group} non-frontal photos under one light to fuse");
    let gallery: Vec<(usize, &[f32])> = gallery_of.iter().map(|(&id, &i)| (id, features[i].as_slice())).collect();
    let identify = |feature: &[f32]| nearest(gallery.iter().copied(), feature);
    let frontal_code = one_hot(frontal, num_poses);
    let truth_of = |index: usize| match &images[index].source {
        ImageSource::Synthetic { spec, person, light, .. } => {
            centred_input(&ImageSource::Synthetic { spec: spec.clone(), person: *person, yaw: rotator.pose_bins().yaws[frontal], light: *light }, rotator.image_size()).ok()
        }
        _ => None,
    };
    let (mut hits, mut single_hits, mut singles) = (0usize, 0usize, 0usize);
    let (mut ssims, mut single_ssims) = (Vec::new(), Vec::new());
    // The judge's reading: each group's fused frontal face, and its photos' own frontal faces.
    let (mut fused_frontal, mut single_frontal) = (Vec::new(), Vec::new());
    for members in &groups {
        let photos: Vec<&RgbImage> = members.iter().map(|&i| &images[i].pixels).collect();
        let (encoded, _) = rotator.encode_fused(&photos)?;
        let identity = images[members[0]].identity;
        if identify(&rotator.feature_of(&encoded)?) == Some(identity) {
            hits += 1;
        }
        for &i in members.iter() {
            singles += 1;
            if identify(&features[i]) == Some(identity) {
                single_hits += 1;
            }
        }
        let truth = truth_of(members[0]);
        if truth.is_none() && judge.is_none() {
            continue;
        }
        let mut drawn = rotator.draw(&encoded, std::slice::from_ref(&frontal_code), seed)?;
        let frontalized = generate(
            rotator,
            &photos,
            &vec![frontal_code.clone(); photos.len()],
            seed,
            &mut |_| Ok(()),
        )?;
        if let Some(truth) = truth {
            ssims.push(ssim(&drawn[0], &truth));
            single_ssims.extend(frontalized.iter().map(|f| ssim(f, &truth)));
        }
        if judge.is_some() {
            fused_frontal.push((identity, drawn.swap_remove(0)));
            single_frontal.extend(frontalized.into_iter().map(|f| (identity, f)));
        }
    }
    let (judge_rank1, judge_rank1_single) = match judge {
        Some(judge) => {
            let real: Vec<(usize, &RgbImage)> = gallery_of
                .iter()
                .map(|(&id, &i)| (id, &images[i].pixels))
                .collect();
            let gallery = judge.embeddings(&real.iter().map(|r| r.1).collect::<Vec<_>>())?;
            let gallery: Vec<(usize, Vec<f32>)> = real.iter().map(|r| r.0).zip(gallery).collect();
            let rank1 = |faces: &[(usize, RgbImage)]| -> anyhow::Result<Option<f64>> {
                let embedded = judge.embeddings(&faces.iter().map(|f| &f.1).collect::<Vec<_>>())?;
                let hits = faces
                    .iter()
                    .zip(&embedded)
                    .filter(|((identity, _), e)| nearest(gallery.iter().map(|g| (g.0, g.1.as_slice())), e) == Some(*identity))
                    .count();
                Ok((!faces.is_empty()).then(|| hits as f64 / faces.len() as f64))
            };
            (rank1(&fused_frontal)?, rank1(&single_frontal)?)
        }
        None => (None, None),
    };
    let mean = |values: &[f64]| {
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    Ok(Fused {
        group,
        rank1: hits as f64 / groups.len() as f64,
        rank1_single: single_hits as f64 / singles.max(1) as f64,
        ssim: mean(&ssims),
        ssim_single: mean(&single_ssims),
        judge_rank1,
        judge_rank1_single,
    })
}

type Tables = (Vec<Vec<f64>>, Vec<Vec<f64>>);

/// Mean SSIM and PSNR tables (input bin × requested bin) against the true renderings, when
/// every input is synthetic; `None` otherwise.
fn truth_tables(pairs: &[(usize, usize)], images: &[TestImage], rotated: &[RgbImage], yaws: &[f32], size: usize) -> anyhow::Result<Option<Tables>> {
    use rayon::prelude::*;
    if !pairs.iter().all(|&(i, _)| matches!(images[i].source, ImageSource::Synthetic { .. })) {
        return Ok(None);
    }
    let scores: Vec<anyhow::Result<(usize, usize, f64, f64)>> = pairs
        .par_iter()
        .zip(rotated.par_iter())
        .map(|(&(i, c), generated)| {
            let ImageSource::Synthetic { spec, person, light, .. } = &images[i].source else {
                anyhow::bail!("not synthetic");
            };
            let truth = centred_input(&ImageSource::Synthetic { spec: spec.clone(), person: *person, yaw: yaws[c], light: *light }, size)
                .map_err(|e| anyhow::anyhow!("rendering the true face: {}", e.reason()))?;
            Ok((images[i].bin, c, ssim(generated, &truth), psnr(generated, &truth)))
        })
        .collect();
    let n = yaws.len();
    let (mut ssim_sum, mut psnr_sum, mut count) = (vec![vec![0.0; n]; n], vec![vec![0.0; n]; n], vec![vec![0usize; n]; n]);
    for score in scores {
        let (row, column, s, p) = score?;
        ssim_sum[row][column] += s;
        // Identical images have infinite PSNR; cap at 100 dB so averages stay finite.
        psnr_sum[row][column] += p.min(100.0);
        count[row][column] += 1;
    }
    let mean = |sums: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        sums.iter().zip(&count).map(|(row, counts)| row.iter().zip(counts).map(|(&s, &k)| if k > 0 { s / k as f64 } else { f64::NAN }).collect()).collect()
    };
    let (ssim_table, psnr_table) = (mean(ssim_sum), mean(psnr_sum));
    anyhow::ensure!(ssim_table.iter().flatten().all(|v| v.is_finite()), "some input bins have no synthetic test image");
    Ok(Some((ssim_table, psnr_table)))
}

/// The pose classifier, trained on a seeded sample of real images of the run's training
/// identities (never generated images, never test identities).
pub fn pose_judge(
    config: &RunConfig,
    size: usize,
    options: &EvalOptions,
    device: &Device,
    on_epoch: &mut dyn FnMut(usize) -> anyhow::Result<()>,
) -> anyhow::Result<pose_classifier::TrainedPoseClassifier> {
    use rayon::prelude::*;
    let opened = OpenOptions { pose_bins: config.model.pose_bins.clone(), cfp_two_bins: config.training.cfp_two_bins };
    let faces = open_faces(&config.data, &opened)?;
    let train: HashSet<&str> = config.split.train.iter().map(String::as_str).collect();
    let mut candidates: Vec<(&ImageSource, usize)> = faces
        .samples
        .iter()
        .filter_map(|s| {
            let name = faces.identity_names.get(s.identity?)?;
            train.contains(name.as_str()).then_some((&s.image, s.bin?))
        })
        .collect();
    candidates.shuffle(&mut Pcg64::seed_from_u64(options.seed ^ 0xC1A55));
    candidates.truncate(options.classifier_images);
    let read: Vec<(RgbImage, usize)> = candidates.par_iter().filter_map(|&(source, bin)| centred_input(source, size).ok().map(|i| (i, bin))).collect();
    anyhow::ensure!(!read.is_empty(), "no training image of the run could be read");
    let (images, bins): (Vec<RgbImage>, Vec<usize>) = read.into_iter().unzip();
    pose_classifier::train(
        &images,
        &bins,
        config.model.num_poses(),
        options.classifier_epochs,
        options.seed,
        device,
        on_epoch,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_more_than_one_bin_off_count_as_far() {
        // Bin 0 read as 0, 1, 1 and 2; bin 2 read as 2: one far read of five.
        let table = confusion_of(3, [(0, 0), (0, 1), (0, 1), (0, 2), (2, 2)].into_iter());
        assert_eq!(far_off(&table), Some(0.2));
        assert_eq!(far_off(&confusion_of(3, std::iter::empty())), None);
    }

    #[test]
    fn a_confusion_table_counts_each_pair_in_its_truth_row_and_shares_sum_to_one() {
        let table = confusion_of(3, [(0, 0), (0, 1), (0, 1), (2, 2)].into_iter());
        assert_eq!(table, vec![vec![1, 2, 0], vec![0, 0, 0], vec![0, 0, 1]]);
        let shares = row_fractions(&table);
        assert_eq!(shares[0], vec![1.0 / 3.0, 2.0 / 3.0, 0.0]);
        assert_eq!(shares[1], vec![0.0; 3], "an empty row stays zero, not NaN");
        assert_eq!(share(1, 4), Some(0.25));
        assert_eq!(share(0, 0), None);
    }
}

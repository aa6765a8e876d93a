//! How good a judge is, measured on people it never saw: verification of every pose (and of
//! the most turned one) against a frontal face, identification across every pair of poses, the
//! same under blur, and negative controls (pictures of no one, and another person blurred) that
//! must stay below its threshold.

use std::collections::HashMap;
use std::sync::Arc;

use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Judge;
use super::augment::average;
use super::network::INPUT;
use crate::data::{FaceSet, ImageSource, prepare::centred_input};
use crate::eval::identification::{Labelled, genuine_and_impostor, nearest, roc};
use crate::eval::sharpness::blurred;
use crate::model::PoseBins;
use crate::model::rotator::cosine;
use crate::synth::SynthSpec;

/// The false-accept rate the judge's threshold is set at.
pub const FALSE_ACCEPTS: f64 = 0.01;
/// The blur (σ, pixels at the judge's 64×64) a face must survive.
pub const SOFT_SIGMA: f32 = 1.0;
/// The blur past which another person's face must no longer pass as anyone.
pub const HEAVY_SIGMA: f32 = 3.0;

/// A labelled face at the judge's side.
#[derive(Clone, Debug)]
pub struct TestFace {
    /// Identity index.
    pub identity: usize,
    /// Pose bin.
    pub bin: usize,
    /// Lighting condition (0 when unknown).
    pub light: u32,
    /// The face, [`INPUT`]×[`INPUT`].
    pub image: RgbImage,
}

/// One negative control: pictures that show no one the gallery holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Control {
    /// What the pictures are.
    pub name: String,
    /// Comparisons made (pictures × gallery faces).
    pub comparisons: usize,
    /// The share of comparisons below the threshold (≥ 0.99 is asked).
    pub below_threshold: f64,
    /// The highest similarity seen.
    pub highest: f64,
    /// The mean similarity.
    pub mean: f64,
}

/// A judge's own figures (`judge.json`, `judge report`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JudgeQuality {
    /// What it was measured on, in words.
    pub measured_on: String,
    /// People measured on.
    pub people: usize,
    /// Faces measured on.
    pub faces: usize,
    /// Of same-person pairs (every non-frontal face against the person's frontal one), the
    /// share above the threshold; the threshold lets through [`FALSE_ACCEPTS`] of the
    /// different-person pairs.
    pub tar_all_poses: Option<f64>,
    /// The most turned pose on either side (±60° for the standard bins).
    pub profile_yaw: Option<f32>,
    /// Verification of faces at ±`profile_yaw` against frontal ones: the true-accept rate at a
    /// false-accept rate of 1 % of that ROC.
    pub tar_profile: Option<f64>,
    /// Rank-1 identification averaged over every pair of two different poses: the gallery one
    /// face per person at one pose, the probes their faces at the other.
    pub rank1_pose_pairs: Option<f64>,
    /// The worst pair: gallery yaw, probe yaw and its rank-1.
    pub rank1_worst_pair: Option<(f32, f32, f64)>,
    /// Verification of every non-frontal face blurred by [`SOFT_SIGMA`] against the frontal
    /// ones: the true-accept rate at a false-accept rate of 1 % of that ROC.
    pub tar_blurred: Option<f64>,
    /// The same for the profiles (±`profile_yaw`) blurred.
    pub tar_profile_blurred: Option<f64>,
    /// Negative controls.
    pub controls: Vec<Control>,
    /// Share of these (unseen) faces the familiarity model flags.
    pub unfamiliar_share: Option<f64>,
    /// Share of these faces in which the judge sees no one (its gate for pictures of no one).
    #[serde(default)]
    pub no_one_share: Option<f64>,
}

/// The faces a judge of synthetic people is measured on: `people` persons of `seed` at every
/// bin under lights 0 and 1, as an evaluation prepares a model's input at `size` (then brought
/// to the judge's side).
pub fn synthetic_faces(
    seed: u64,
    people: usize,
    bins: &PoseBins,
    size: usize,
) -> anyhow::Result<Vec<TestFace>> {
    let spec = Arc::new(SynthSpec {
        identities: people,
        seed,
        lights: 2,
    });
    let wanted: Vec<(usize, usize, u32)> = (0..people)
        .flat_map(|p| (0..bins.len()).flat_map(move |b| (0..2u32).map(move |l| (p, b, l))))
        .collect();
    wanted
        .par_iter()
        .map(|&(person, bin, light)| {
            let source = ImageSource::Synthetic {
                spec: spec.clone(),
                person,
                yaw: bins.yaws[bin],
                light: light as usize,
            };
            let image = centred_input(&source, size)
                .map_err(|e| anyhow::anyhow!("rendering a test face: {}", e.reason()))?;
            Ok(TestFace {
                identity: person,
                bin,
                light,
                image: super::at_judge_size(&image).into_owned(),
            })
        })
        .collect()
}

/// The faces of `faces` whose identity is among `people` and whose pose bin is known, as an
/// evaluation prepares them for a model of `size`, at the judge's side; faces that cannot be
/// read are left out.
pub fn face_set_faces(
    faces: &FaceSet,
    people: &std::collections::HashSet<String>,
    size: usize,
) -> Vec<TestFace> {
    faces
        .samples
        .par_iter()
        .filter_map(|sample| {
            let (identity, bin) = (sample.identity?, sample.bin?);
            people
                .contains(faces.identity_names.get(identity)?)
                .then_some(())?;
            let image = centred_input(&sample.image, size).ok()?;
            Some(TestFace {
                identity,
                bin,
                light: sample.light.unwrap_or(0),
                image: super::at_judge_size(&image).into_owned(),
            })
        })
        .collect()
}

/// The judge's threshold and figures on `faces` (people it never saw). `yaws` are the bins'
/// yaws. Fails when no person has a frontal face and another one.
pub fn measure(
    judge: &Judge,
    faces: &[TestFace],
    yaws: &[f32],
    described: &str,
) -> anyhow::Result<(f32, JudgeQuality)> {
    anyhow::ensure!(!faces.is_empty(), "no face to measure the judge on");
    let frontal = yaws
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map_or(0, |(i, _)| i);
    let assessed = judge.assess(&faces.iter().map(|f| &f.image).collect::<Vec<_>>())?;
    let labelled = |index: usize, embedding: &[f32]| Labelled {
        identity: faces[index].identity,
        bin: faces[index].bin,
        feature: embedding.to_vec(),
    };

    // The gallery: each person's frontal face under the lowest light; the probes: their other
    // faces at the other poses.
    let gallery_of = first_of_each(faces, |face| face.bin == frontal);
    anyhow::ensure!(
        !gallery_of.is_empty(),
        "no person has a frontal face to compare with"
    );
    let gallery: Vec<Labelled> = gallery_of
        .values()
        .map(|&i| labelled(i, &assessed[i].embedding))
        .collect();
    let probe_indices: Vec<usize> = (0..faces.len())
        .filter(|&i| faces[i].bin != frontal && gallery_of.contains_key(&faces[i].identity))
        .collect();
    anyhow::ensure!(
        !probe_indices.is_empty(),
        "no person has a turned face beside the frontal one"
    );
    let probes: Vec<Labelled> = probe_indices
        .iter()
        .map(|&i| labelled(i, &assessed[i].embedding))
        .collect();
    let (genuine, impostor) = genuine_and_impostor(&gallery, &probes);
    anyhow::ensure!(
        !impostor.is_empty(),
        "one person alone cannot measure false accepts"
    );
    anyhow::ensure!(
        genuine.iter().chain(&impostor).all(|s| s.is_finite()),
        "the judge gives similarities that are not numbers: its weights are broken"
    );
    let threshold = threshold_at(&impostor, FALSE_ACCEPTS);

    // The most turned pose, on both sides.
    let profile_yaw = yaws.iter().map(|y| y.abs()).fold(0.0f32, f32::max);
    let at_profile = |probes: &[Labelled]| -> Vec<Labelled> {
        probes
            .iter()
            .filter(|p| profile_yaw > 0.0 && (yaws[p.bin].abs() - profile_yaw).abs() < 1e-3)
            .cloned()
            .collect()
    };
    let tar = |probes: &[Labelled]| {
        let (genuine, impostor) = genuine_and_impostor(&gallery, probes);
        roc(&genuine, &impostor).map(|curve| curve.tar_at_far_1pct)
    };

    // The same probes blurred, judged as the clean ones are: their own ROC's TAR at 1 % FAR.
    let blurred_faces: Vec<RgbImage> = probe_indices
        .par_iter()
        .map(|&i| blurred(&faces[i].image, SOFT_SIGMA))
        .collect();
    let blurred_embeddings = judge.embeddings(&blurred_faces.iter().collect::<Vec<_>>())?;
    let blurred_probes: Vec<Labelled> = probe_indices
        .iter()
        .zip(&blurred_embeddings)
        .map(|(&i, embedding)| labelled(i, embedding))
        .collect();

    let embeddings: Vec<&[f32]> = assessed.iter().map(|a| a.embedding.as_slice()).collect();
    let (rank1_pose_pairs, rank1_worst_pair) = rank1_across_poses(faces, &embeddings, yaws);
    let controls = controls(judge, faces, &gallery_of, &embeddings, threshold)?;
    let unfamiliar = assessed
        .iter()
        .filter(|a| judge.unfamiliar(a.familiarity))
        .count();
    let quality = JudgeQuality {
        measured_on: described.to_owned(),
        people: gallery.len(),
        faces: faces.len(),
        tar_all_poses: share(
            genuine.iter().filter(|&&s| s > threshold).count(),
            genuine.len(),
        ),
        profile_yaw: (!at_profile(&probes).is_empty()).then_some(profile_yaw),
        tar_profile: tar(&at_profile(&probes)),
        rank1_pose_pairs,
        rank1_worst_pair,
        tar_blurred: tar(&blurred_probes),
        tar_profile_blurred: tar(&at_profile(&blurred_probes)),
        controls,
        unfamiliar_share: share(unfamiliar, faces.len()),
        no_one_share: share(assessed.iter().filter(|a| !a.person).count(), faces.len()),
    };
    Ok((threshold, quality))
}

/// The similarity that a share `rate` of the `impostor` scores exceed: accepting only scores
/// above it lets through at most that share.
pub fn threshold_at(impostor: &[f32], rate: f64) -> f32 {
    let mut sorted: Vec<f32> = impostor.iter().copied().filter(|s| s.is_finite()).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let allowed = (rate * sorted.len() as f64).floor() as usize;
    sorted.get(allowed).copied().unwrap_or(1.0)
}

/// For each identity, the index of its first face (lowest light) among those `keep` accepts.
fn first_of_each(faces: &[TestFace], keep: impl Fn(&TestFace) -> bool) -> HashMap<usize, usize> {
    let mut first: HashMap<usize, usize> = HashMap::new();
    for (index, face) in faces.iter().enumerate().filter(|(_, f)| keep(f)) {
        if first
            .get(&face.identity)
            .is_none_or(|&g| face.light < faces[g].light)
        {
            first.insert(face.identity, index);
        }
    }
    first
}

/// Rank-1 for every pair of two different poses (gallery at one, probes at the other),
/// averaged, and the worst pair.
fn rank1_across_poses(
    faces: &[TestFace],
    embeddings: &[&[f32]],
    yaws: &[f32],
) -> (Option<f64>, Option<(f32, f32, f64)>) {
    let mut rates = Vec::new();
    for (gallery_bin, &gallery_yaw) in yaws.iter().enumerate() {
        let gallery = first_of_each(faces, |f| f.bin == gallery_bin);
        if gallery.len() < 2 {
            continue;
        }
        let in_gallery: std::collections::HashSet<usize> = gallery.values().copied().collect();
        for (probe_bin, &probe_yaw) in yaws
            .iter()
            .enumerate()
            .filter(|(bin, _)| *bin != gallery_bin)
        {
            let probes: Vec<usize> = (0..faces.len())
                .filter(|&i| {
                    faces[i].bin == probe_bin
                        && !in_gallery.contains(&i)
                        && gallery.contains_key(&faces[i].identity)
                })
                .collect();
            if probes.is_empty() {
                continue;
            }
            let hits = probes
                .iter()
                .filter(|&&p| nearest(gallery.iter().map(|(&id, &i)| (id, embeddings[i])), embeddings[p]) == Some(faces[p].identity))
                .count();
            rates.push((gallery_yaw, probe_yaw, hits as f64 / probes.len() as f64));
        }
    }
    let mean =
        (!rates.is_empty()).then(|| rates.iter().map(|r| r.2).sum::<f64>() / rates.len() as f64);
    let worst = rates.iter().copied().min_by(|a, b| a.2.total_cmp(&b.2));
    (mean, worst)
}

/// The negative controls against every gallery face: a flat grey picture, the mean face of
/// the set, random noise, and each person's frontal face blurred by [`HEAVY_SIGMA`] against
/// every other person.
fn controls(
    judge: &Judge,
    faces: &[TestFace],
    gallery: &HashMap<usize, usize>,
    embeddings: &[&[f32]],
    threshold: f32,
) -> anyhow::Result<Vec<Control>> {
    let side = INPUT as u32;
    let grey = RgbImage::from_pixel(side, side, Rgb([128, 128, 128]));
    let mean_face = average(&faces.iter().map(|f| f.image.clone()).collect::<Vec<_>>());
    let mut rng = Pcg64::seed_from_u64(0x4E01_5E);
    let noise: Vec<RgbImage> = (0..10)
        .map(|_| {
            RgbImage::from_fn(side, side, |_, _| {
                Rgb([rng.random(), rng.random(), rng.random()])
            })
        })
        .collect();
    let people: Vec<(usize, usize)> = gallery
        .iter()
        .map(|(&identity, &index)| (identity, index))
        .collect();
    let others_blurred: Vec<RgbImage> = people
        .par_iter()
        .map(|&(_, index)| blurred(&faces[index].image, HEAVY_SIGMA))
        .collect();

    let against_everyone = |name: &str,
                            pictures: &[RgbImage],
                            owner: &dyn Fn(usize) -> Option<usize>|
     -> anyhow::Result<Control> {
        let seen = judge.embeddings(&pictures.iter().collect::<Vec<_>>())?;
        let mut scores = Vec::new();
        for (k, embedding) in seen.iter().enumerate() {
            for &(identity, index) in &people {
                if owner(k) != Some(identity) {
                    scores.push(cosine(embeddings[index], embedding));
                }
            }
        }
        let below = scores.iter().filter(|&&s| s <= threshold).count();
        Ok(Control {
            name: name.to_owned(),
            comparisons: scores.len(),
            below_threshold: below as f64 / scores.len().max(1) as f64,
            highest: scores.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64,
            mean: scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len().max(1) as f64,
        })
    };
    Ok(vec![
        against_everyone("a flat grey picture", std::slice::from_ref(&grey), &|_| {
            None
        })?,
        against_everyone(
            "the mean face of the set",
            std::slice::from_ref(&mean_face),
            &|_| None,
        )?,
        against_everyone("random noise (10 pictures)", &noise, &|_| None)?,
        against_everyone(
            &format!("another person's face blurred by σ = {HEAVY_SIGMA} px"),
            &others_blurred,
            &|k| Some(people[k].0),
        )?,
    ])
}

/// `part / whole`, or `None` when there is nothing to divide.
fn share(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_lets_through_the_asked_share_of_impostors() {
        let impostor: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let threshold = threshold_at(&impostor, 0.01);
        let passed = impostor.iter().filter(|&&s| s > threshold).count();
        assert_eq!(passed, 10, "threshold {threshold}");
        assert_eq!(threshold_at(&[], 0.01), 1.0);
        assert_eq!(threshold_at(&[f32::NAN, 0.5], 0.0), 0.5, "NaN is no score");
    }
}

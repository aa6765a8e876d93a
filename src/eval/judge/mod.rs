//! The identity judge: a face recogniser of its own, trained apart from every DR-GAN and never
//! part of a training loss, that says how alike two faces are and how familiar a face looks.
//!
//! G's own encoder cannot judge G: a model that draws a flat grey square at every pose reads
//! "identity kept" at cosine 0.99 through its own (untrained) encoder. Frontalization papers
//! after DR-GAN judge identity with a separate, pre-trained recogniser that the generator never
//! trained against; this is that recogniser. The built-in one (`assets/judge/`, embedded in the
//! binary) learned from synthetic people of seeds no face set of the project uses
//! ([`seeds`]); `judge train --run RUN` makes one for a face set of real photos, kept in the run
//! folder and used by the run.
//!
//! Its verdicts: the cosine of two faces' embeddings, with the threshold at which 1 % of
//! different people's pairs pass (its own FAR 1 %, measured on people it never saw), and a
//! familiarity score, flagging faces unlike any it learned from (a photo of a real person to
//! the built-in judge), for which its identity figures do not apply.

pub mod augment;
pub mod network;
pub mod quality;
pub mod seeds;
pub mod training;

use std::path::Path;

use anyhow::Context;
use burn::prelude::*;
use burn::store::ModuleRecord;
use image::{RgbImage, imageops::FilterType};
use serde::{Deserialize, Serialize};

use crate::assets::asset_bytes;
use crate::data::prepare::to_chw;
use crate::model::rotator::cosine;
use crate::train::DataSource;
use crate::train::run_dir::sha256_hex;
use network::{INPUT, JudgeWeights};
pub use quality::JudgeQuality;

/// The file holding a judge's weights and familiarity model.
pub const WEIGHTS_FILE: &str = "judge.bpk";
/// The file holding what a judge is and how good it is.
pub const CARD_FILE: &str = "judge.json";
/// The version of [`JudgeCard`]'s layout.
pub const CARD_FORMAT: u32 = 1;
/// A judge whose true-accept rate at its own 1 % false accepts (every pose against frontal, on
/// people it never saw) is below this is called weak wherever its figures are shown.
pub const WEAK_BELOW: f64 = 0.90;

/// What the studio says of a face the judge flags: the model is as unfamiliar with it as the
/// judge (both learned from the same kind of faces).
pub const UNFAMILIAR: &str = "this face is unlike the faces the model learned from: its output is a synthetic head, and identity figures do not apply";
/// The way forward for such a face.
pub const WAY_FORWARD: &str = "To turn photos of real people, train a model on a face set of real photos (in the Faces view, Open folder… reads manifest.csv, Multi-PIE names, CFP folders, list files and .npy sets; `drgan-studio train --data DIR`), then make an identity judge for it: `drgan-studio judge train --run RUN`.";

/// Faces embedded at once.
const CHUNK: usize = 128;

/// Judges read in this process so far (a test checks that training reads none).
static READ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many judges this process has read (built-in or from a folder).
pub fn times_read() -> usize {
    READ.load(std::sync::atomic::Ordering::Relaxed)
}

const BUILT_IN_CARD: &str = include_str!("../../../assets/judge/judge.json");

/// What a judge is, what it learned from and how good it is (`judge.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JudgeCard {
    /// [`CARD_FORMAT`] when written.
    pub format: u32,
    /// What it learned from, in words.
    pub trained_on: String,
    /// The face set of a judge made for one (`None`: synthetic people, the built-in judge's
    /// kind).
    pub data: Option<DataSource>,
    /// The identities of that face set it learned from (an evaluation of them by this judge
    /// would flatter a model; `eval` says so when it happens).
    #[serde(default)]
    pub training_identities: Vec<String>,
    /// Two faces whose similarity is above this are called one person: the similarity that 1 %
    /// of pairs of different people exceed (every pose against frontal, on its test people).
    pub threshold: f32,
    /// Faces whose familiarity score is above this are flagged as unlike its training faces.
    pub familiarity_threshold: f32,
    /// Its own figures on people it never saw.
    pub quality: JudgeQuality,
    /// Whether a picture shows anyone at all (`None`: a judge made before this existed).
    #[serde(default)]
    pub no_one: Option<NoOneGate>,
    /// SHA-256 of `judge.bpk`, checked whenever it is read.
    pub weights_sha256: String,
    /// The command that made it.
    pub command: String,
    /// When its network was taken from an earlier judge (`judge train --network-from`), the
    /// command that trained that network.
    #[serde(default)]
    pub network_from: Option<String>,
    /// Seconds its training took.
    pub training_seconds: f64,
}

/// How the judge tells pictures of no one (a flat colour, noise, a face blurred past
/// recognition, an average of several people) from faces: the direction its embeddings of such
/// pictures share, and the similarity to it above which a picture shows no one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NoOneGate {
    /// The mean direction of its embeddings of pictures of no one, of length one.
    pub direction: Vec<f32>,
    /// Pictures whose embedding's cosine with `direction` is above this show no one: halfway
    /// between the highest of unseen faces' and the 5th percentile of pictures of no one.
    pub threshold: f32,
}

/// One face as the judge sees it.
#[derive(Clone, Debug)]
pub struct Assessment {
    /// The identity embedding, of length one; all zeros for a picture that shows no one, so
    /// that it is like no face (similarity 0 with every one).
    pub embedding: Vec<f32>,
    /// Whether the judge sees a person in the picture at all.
    pub person: bool,
    /// How unlike the judge's training faces the face is (about 1 for a typical one); above
    /// the judge's familiarity threshold it is flagged.
    pub familiarity: f32,
}

/// A trained judge, ready to compare faces.
pub struct Judge {
    weights: JudgeWeights,
    device: Device,
    /// What it is and how good it is.
    pub card: JudgeCard,
    /// Where it was read from, for people to read.
    pub origin: String,
}

impl Judge {
    /// The judge embedded in the binary, for synthetic faces.
    pub fn built_in(device: &Device) -> anyhow::Result<Self> {
        let card: JudgeCard = serde_json::from_str(BUILT_IN_CARD)
            .context("the built-in judge's judge.json does not parse")?;
        Self::from_parts(
            card,
            asset_bytes!("judge/judge.bpk")?,
            "built-in judge (assets/judge)".to_owned(),
            device,
        )
    }

    /// The judge kept in folder `dir` (`judge.json` and `judge.bpk`), its weights checked
    /// against the card's checksum.
    pub fn read(dir: &Path, device: &Device) -> anyhow::Result<Self> {
        let card_path = dir.join(CARD_FILE);
        let text = std::fs::read_to_string(&card_path)
            .with_context(|| format!("reading {}", card_path.display()))?;
        let card: JudgeCard = serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged", card_path.display()))?;
        anyhow::ensure!(
            card.format <= CARD_FORMAT,
            "{} is of format {}, newer than this studio reads ({CARD_FORMAT})",
            card_path.display(),
            card.format
        );
        let weights_path = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&weights_path)
            .with_context(|| format!("reading {}", weights_path.display()))?;
        anyhow::ensure!(
            sha256_hex(&bytes) == card.weights_sha256,
            "{} does not match the checksum in {}: it is damaged; make the judge again with `drgan-studio judge train`",
            weights_path.display(),
            card_path.display()
        );
        Self::from_parts(card, bytes, format!("judge in {}", dir.display()), device)
    }

    /// A judge from its card and weight bytes.
    pub fn from_parts(
        card: JudgeCard,
        bytes: Vec<u8>,
        origin: String,
        device: &Device,
    ) -> anyhow::Result<Self> {
        let unfit = |e: burn::store::RecordError| {
            anyhow::anyhow!("the weights of the {origin} do not fit the judge's network: {e}")
        };
        let record =
            ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes)).map_err(unfit)?;
        let weights = JudgeWeights::empty(device)
            .try_load_record(record)
            .map_err(unfit)?
            .valid();
        crate::model::finite::check_finite(&weights, &origin)?;
        READ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Self {
            weights,
            device: device.clone(),
            card,
            origin,
        })
    }

    /// Wraps freshly trained weights.
    pub fn from_weights(
        weights: JudgeWeights,
        card: JudgeCard,
        origin: String,
        device: &Device,
    ) -> Self {
        Self {
            weights: weights.valid(),
            device: device.clone(),
            card,
            origin,
        }
    }

    /// Its recognition network (to make another judge around, `judge train --network-from`).
    pub fn network(&self) -> network::JudgeNet {
        self.weights.network.clone()
    }

    /// The weights as the bytes of `judge.bpk`.
    pub fn weight_bytes(&self) -> anyhow::Result<Vec<u8>> {
        Ok(self
            .weights
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| anyhow::anyhow!("the judge's weights cannot be written: {e}"))?
            .to_vec())
    }

    /// Each face's embedding, whether it shows a person, and its familiarity. Faces of any size
    /// are resized to the judge's.
    pub fn assess(&self, faces: &[&RgbImage]) -> anyhow::Result<Vec<Assessment>> {
        let mut out = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(CHUNK) {
            let mut pixels = Vec::with_capacity(chunk.len() * 3 * INPUT * INPUT);
            for face in chunk {
                pixels.extend(to_chw(&at_judge_size(face)));
            }
            let images = Tensor::<4>::from_data(
                TensorData::new(pixels, [chunk.len(), 3, INPUT, INPUT]),
                &self.device,
            );
            let (embeddings, statistics) =
                rayon::scope(|_| self.weights.network.forward_with_statistics(images));
            let familiarity = read_back(self.weights.familiarity.score(statistics))?;
            let embeddings = read_back(embeddings)?;
            for (embedding, familiarity) in embeddings.chunks(network::EMBEDDING).zip(familiarity) {
                let embedding = normalised(embedding);
                let person = self
                    .card
                    .no_one
                    .as_ref()
                    .is_none_or(|gate| cosine(&embedding, &gate.direction) <= gate.threshold);
                let embedding = if person {
                    embedding
                } else {
                    vec![0.0; embedding.len()]
                };
                out.push(Assessment {
                    embedding,
                    person,
                    familiarity,
                });
            }
        }
        Ok(out)
    }

    /// Each face's embedding (of length one).
    pub fn embeddings(&self, faces: &[&RgbImage]) -> anyhow::Result<Vec<Vec<f32>>> {
        Ok(self
            .assess(faces)?
            .into_iter()
            .map(|a| a.embedding)
            .collect())
    }

    /// Whether a face with this familiarity score is unlike the judge's training faces.
    pub fn unfamiliar(&self, familiarity: f32) -> bool {
        !familiarity.is_finite() || familiarity > self.card.familiarity_threshold
    }

    /// Whether its own figures on unseen people are too low to trust it far.
    pub fn is_weak(&self) -> bool {
        self.card
            .quality
            .tar_all_poses
            .is_none_or(|tar| tar < WEAK_BELOW)
    }

    /// What makes this judge's figures on an evaluation of `faces` (from `source`, the
    /// identities in `only`, all when `None`) less than independent: a judge made for another
    /// face set, or one that learned from people evaluated there.
    pub fn caveats(
        &self,
        source: &DataSource,
        faces: &crate::data::FaceSet,
        only: Option<&std::collections::HashSet<String>>,
    ) -> Vec<String> {
        let mut caveats = Vec::new();
        if let Some(made_for) = self.card.data.as_ref().filter(|data| *data != source) {
            caveats.push(format!("the identity judge was made for another face set ({made_for:?}); its figures may not hold here"));
        }
        let evaluated: std::collections::HashSet<&str> = match only {
            Some(only) => only.iter().map(String::as_str).collect(),
            None => faces.identity_names.iter().map(String::as_str).collect(),
        };
        let known = self
            .card
            .training_identities
            .iter()
            .filter(|name| evaluated.contains(name.as_str()))
            .count();
        if known > 0 {
            caveats.push(format!("the identity judge learned from {known} of the people evaluated here, so its figures flatter the model"));
        }
        caveats
    }

    /// One line on what the judge is and how far to trust it.
    pub fn summary(&self) -> String {
        let quality = &self.card.quality;
        let tar = quality
            .tar_all_poses
            .map_or("not measured".to_owned(), |t| format!("{:.1} %", 100.0 * t));
        let weak = if self.is_weak() {
            " — a weak judge: read its figures with care"
        } else {
            ""
        };
        format!(
            "{}: learned from {}; on {} people it never saw, {tar} of same-person pairs pass at its 1 % false-accept threshold ({:.3}){weak}",
            self.origin, self.card.trained_on, quality.people, self.card.threshold
        )
    }
}

/// Which judge applies to faces of `data`: the run's own (`RUN/judge`) when it has one made for
/// that face set, the built-in one for synthetic faces; `Ok(None)` when none applies (a face set
/// of real photos without a judge of its own), `Err` when the run's own judge is damaged.
pub fn for_data(
    run_dir: Option<&Path>,
    data: &DataSource,
    device: &Device,
) -> anyhow::Result<Option<Judge>> {
    if let Some(dir) = run_dir
        .map(|run| run.join(RUN_FOLDER))
        .filter(|dir| dir.join(CARD_FILE).exists())
    {
        let judge = Judge::read(&dir, device)?;
        if judge.card.data.as_ref() == Some(data) {
            return Ok(Some(judge));
        }
    }
    match data {
        DataSource::Synthetic(_) => Ok(Some(Judge::built_in(device)?)),
        DataSource::Folder(_) => Ok(None),
    }
}

/// The folder inside a run where the run's own judge is kept.
pub const RUN_FOLDER: &str = "judge";

/// `face` at the judge's side (resized with a triangle filter when it is not).
pub fn at_judge_size(face: &RgbImage) -> std::borrow::Cow<'_, RgbImage> {
    let side = INPUT as u32;
    if face.dimensions() == (side, side) {
        std::borrow::Cow::Borrowed(face)
    } else {
        std::borrow::Cow::Owned(image::imageops::resize(
            face,
            side,
            side,
            FilterType::Triangle,
        ))
    }
}

fn normalised(values: &[f32]) -> Vec<f32> {
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        values.iter().map(|v| v / norm).collect()
    } else {
        values.to_vec()
    }
}

fn read_back<const D: usize>(tensor: Tensor<D>) -> anyhow::Result<Vec<f32>> {
    tensor
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading the judge's output back: {e:?}"))
}

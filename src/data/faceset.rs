//! `FaceSet`: the images of a face set with identity and pose labels, wherever they came from.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::model::PoseBins;
use crate::synth::SynthSpec;

/// Where the pixels of one sample come from.
#[derive(Clone, Debug)]
pub enum ImageSource {
    /// An image file on disk.
    File(PathBuf),
    /// A synthetic person rendered on demand.
    Synthetic {
        /// The set's recipe.
        spec: Arc<SynthSpec>,
        /// Person index within the set.
        person: usize,
        /// Yaw in degrees.
        yaw: f32,
        /// Lighting condition.
        light: usize,
    },
}

impl ImageSource {
    /// A short name for messages and reports.
    pub fn describe(&self) -> String {
        match self {
            ImageSource::File(path) => path.display().to_string(),
            ImageSource::Synthetic { person, yaw, light, .. } => {
                format!("synthetic id{person:04} yaw {yaw:+}° light {light}")
            }
        }
    }
}

/// One face: its pixels' source and its labels.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Where to read the pixels.
    pub image: ImageSource,
    /// Index into [`FaceSet::identity_names`].
    pub identity: usize,
    /// Yaw in degrees, when known.
    pub yaw: Option<f32>,
    /// Pose bin, when the yaw falls in one.
    pub bin: Option<usize>,
}

/// A labelled face set plus what was left out while reading it.
#[derive(Clone, Debug)]
pub struct FaceSet {
    /// What the set was read from (a folder, a file, or a synthetic recipe).
    pub origin: String,
    /// The usable samples.
    pub samples: Vec<Sample>,
    /// Identity names, indexed by [`Sample::identity`].
    pub identity_names: Vec<String>,
    /// The pose bins that [`Sample::bin`] refers to.
    pub pose_bins: PoseBins,
    /// What was skipped and why.
    pub skipped: SkipReport,
}

impl FaceSet {
    /// Number of images per pose bin, most negative bin first.
    pub fn per_bin(&self) -> Vec<usize> {
        let mut counts = vec![0; self.pose_bins.len()];
        for bin in self.samples.iter().filter_map(|s| s.bin) {
            counts[bin] += 1;
        }
        counts
    }

    /// Builds the synthetic set of `spec`: every identity at every bin centre under every light.
    pub fn synthetic(spec: SynthSpec, pose_bins: PoseBins) -> Self {
        let spec = Arc::new(spec);
        let mut samples = Vec::with_capacity(spec.identities * pose_bins.len() * spec.lights);
        for person in 0..spec.identities {
            for (bin, &yaw) in pose_bins.yaws.iter().enumerate() {
                for light in 0..spec.lights {
                    samples.push(Sample {
                        image: ImageSource::Synthetic { spec: spec.clone(), person, yaw, light },
                        identity: person,
                        yaw: Some(yaw),
                        bin: Some(bin),
                    });
                }
            }
        }
        Self {
            origin: format!(
                "synthetic ({} identities, seed {}, {} light{})",
                spec.identities,
                spec.seed,
                spec.lights,
                if spec.lights == 1 { "" } else { "s" }
            ),
            samples,
            identity_names: (0..spec.identities).map(crate::synth::identity_name).collect(),
            pose_bins,
            skipped: SkipReport::default(),
        }
    }
}

/// Counts and example paths of everything left out, by reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SkipReport {
    reasons: BTreeMap<String, (usize, Vec<String>)>,
}

impl SkipReport {
    /// How many examples are kept per reason.
    pub const EXAMPLES: usize = 5;

    /// Records that `what` was skipped for `reason`.
    pub fn add(&mut self, reason: &str, what: impl Into<String>) {
        let entry = self.reasons.entry(reason.to_owned()).or_default();
        entry.0 += 1;
        if entry.1.len() < Self::EXAMPLES {
            entry.1.push(what.into());
        }
    }

    /// `(reason, count, examples)` for every reason, alphabetically.
    pub fn entries(&self) -> impl Iterator<Item = (&str, usize, &[String])> {
        self.reasons
            .iter()
            .map(|(reason, (count, examples))| (reason.as_str(), *count, examples.as_slice()))
    }

    /// Adds everything `other` skipped.
    pub fn merge(&mut self, other: SkipReport) {
        for (reason, (count, examples)) in other.reasons {
            let entry = self.reasons.entry(reason).or_default();
            entry.0 += count;
            let room = Self::EXAMPLES.saturating_sub(entry.1.len());
            entry.1.extend(examples.into_iter().take(room));
        }
    }

    /// Total number of skipped items.
    pub fn total(&self) -> usize {
        self.reasons.values().map(|(count, _)| count).sum()
    }
}

impl std::fmt::Display for SkipReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (reason, count, examples) in self.entries() {
            writeln!(f, "  skipped {count} × {reason}, e.g. {}", examples.join(", "))?;
        }
        Ok(())
    }
}

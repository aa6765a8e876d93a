//! `FaceSet`: the images of a face set with identity and pose labels, wherever they came from.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::align::Landmarks;
use crate::model::PoseBins;
use crate::synth::SynthSpec;

/// The face-set layouts the studio reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The project's own `manifest.csv`.
    Manifest,
    /// Multi-PIE file names (`SSS_SS_EE_CCC_LL.png`).
    MultiPie,
    /// The CFP layout (`<id>/frontal/*.jpg`, `<id>/profile/*.jpg`).
    Cfp,
    /// A list file (`path;identity` or `path identity pose`).
    List,
    /// `images.npy`, `ids.npy` and `yaws.npy`.
    Numpy,
    /// A folder of images without labels.
    Folder,
    /// A synthetic set made on the fly.
    Synthetic,
}

impl Format {
    /// The name `inspect` prints.
    pub fn name(self) -> &'static str {
        match self {
            Format::Manifest => "manifest",
            Format::MultiPie => "multipie",
            Format::Cfp => "cfp",
            Format::List => "list",
            Format::Numpy => "numpy",
            Format::Folder => "folder",
            Format::Synthetic => "synthetic",
        }
    }
}

/// One image inside an `images.npy` array (channel-first, BGR, values in [−1, 1]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyImage {
    /// The `.npy` file.
    pub path: Arc<PathBuf>,
    /// Index of the image in the array.
    pub index: usize,
    /// Byte offset of the array's first value in the file.
    pub data_start: u64,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Bytes per value: 4 (float32) or 8 (float64).
    pub value_bytes: usize,
}

impl NpyImage {
    /// Byte offset of this image's first value.
    pub fn offset(&self) -> u64 {
        self.data_start + (self.index * 3 * self.height * self.width * self.value_bytes) as u64
    }
}

/// Where the pixels of one sample come from.
#[derive(Clone, Debug)]
pub enum ImageSource {
    /// An image file on disk.
    File(PathBuf),
    /// An image file whose face is placed by its landmarks (a manifest's landmark columns):
    /// read, it is warped so they land where the model's training faces have them
    /// (`data::align`), instead of being squashed to a square.
    Aligned {
        /// The photo.
        path: PathBuf,
        /// Its eyes and mouth, in its pixels.
        landmarks: Landmarks,
    },
    /// One image of a NumPy array.
    Npy(NpyImage),
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
            ImageSource::Aligned { path, .. } => format!("{} (aligned)", path.display()),
            ImageSource::Npy(image) => format!("{}[{}]", image.path.display(), image.index),
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
    /// Index into [`FaceSet::identity_names`], when the set has identity labels.
    pub identity: Option<usize>,
    /// Yaw in degrees, when known.
    pub yaw: Option<f32>,
    /// Pose bin, when the pose is known and falls in one.
    pub bin: Option<usize>,
    /// Lighting condition, where the format names one (Multi-PIE, synthetic).
    pub light: Option<u32>,
}

/// A labelled face set plus what was left out while reading it.
#[derive(Clone, Debug)]
pub struct FaceSet {
    /// The layout it was read from.
    pub format: Format,
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
    /// Columns of a manifest that were not used.
    pub ignored_columns: Vec<String>,
}

/// The skip reason of images whose pose lies outside every bin (counted as `out_of_range`).
pub const OUT_OF_RANGE: &str = "pose outside the bins";

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
    pub fn synthetic(spec: SynthSpec, pose_bins: PoseBins) -> anyhow::Result<Self> {
        spec.validate()?;
        let spec = Arc::new(spec);
        let mut samples = Vec::with_capacity(spec.identities * pose_bins.len() * spec.lights);
        for person in 0..spec.identities {
            for (bin, &yaw) in pose_bins.yaws.iter().enumerate() {
                for light in 0..spec.lights {
                    samples.push(Sample {
                        image: ImageSource::Synthetic { spec: spec.clone(), person, yaw, light },
                        identity: Some(person),
                        yaw: Some(yaw),
                        bin: Some(bin),
                        light: Some(light as u32),
                    });
                }
            }
        }
        Ok(Self {
            format: Format::Synthetic,
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
            ignored_columns: Vec::new(),
        })
    }

    /// Images whose pose fell outside the bins.
    pub fn out_of_range(&self) -> usize {
        self.skipped.count(OUT_OF_RANGE)
    }

    /// Whether some sample has both an identity and a pose bin, so the set can train a model
    /// (samples that lack either are left out of training).
    pub fn trainable(&self) -> bool {
        self.samples.iter().any(|s| s.identity.is_some() && s.bin.is_some())
    }
}

/// Counts and example paths of everything left out, by reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SkipReport {
    reasons: BTreeMap<String, (usize, Vec<String>)>,
    /// Items recorded through [`SkipReport::add_once`].
    seen: HashSet<String>,
}

/// Longest example (in characters) a skip report keeps.
pub const EXAMPLE_CHARS: usize = 200;

/// `text` cut to at most `max` characters, with `…` and the full length when cut.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}… ({} characters in all)", &text[..end], text.chars().count()),
    }
}

impl SkipReport {
    /// How many examples are kept per reason.
    pub const EXAMPLES: usize = 5;

    /// Records that `what` was skipped for `reason` (an example is kept to at most
    /// [`EXAMPLE_CHARS`] characters: a manifest line of megabytes is not echoed whole).
    pub fn add(&mut self, reason: &str, what: impl Into<String>) {
        let entry = self.reasons.entry(reason.to_owned()).or_default();
        entry.0 += 1;
        if entry.1.len() < Self::EXAMPLES {
            entry.1.push(clip(&what.into(), EXAMPLE_CHARS));
        }
    }

    /// `(reason, count, examples)` for every reason, alphabetically.
    pub fn entries(&self) -> impl Iterator<Item = (&str, usize, &[String])> {
        self.reasons
            .iter()
            .map(|(reason, (count, examples))| (reason.as_str(), *count, examples.as_slice()))
    }

    /// Records `what` unless it was recorded through this method before (for items met again
    /// and again, like a broken image drawn into many batches). At most 100,000 distinct items
    /// are remembered, so memory stays bounded; past that, new ones are not recorded.
    pub fn add_once(&mut self, reason: &str, what: String) {
        if self.seen.len() < 100_000 && self.seen.insert(what.clone()) {
            self.add(reason, what);
        }
    }

    /// How many items were skipped for `reason`.
    pub fn count(&self, reason: &str) -> usize {
        self.reasons.get(reason).map_or(0, |(count, _)| *count)
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

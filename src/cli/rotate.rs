//! `drgan-studio rotate`: the Explore view on the command line. Each input face is redrawn at
//! the requested poses and written as PNG; the identity cosine of input and frontal view is
//! printed.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::data::ImageSource;
use crate::data::align::{Landmarks, aligned_input};
use crate::data::formats::{self, OpenOptions};
use crate::data::prepare::centred_input;
use crate::device::{self, DeviceChoice};
use crate::eval::judge::{self, Judge};
use crate::model::rotator::{cosine, pose_code};
use crate::train::RunDir;
use crate::train::run::load_generator;

/// Arguments of `rotate`.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// The checkpoint step (default: the newest).
    #[arg(long)]
    pub checkpoint: Option<u64>,
    /// Image files, or face-set folders (every image in them).
    #[arg(long, num_args = 1.., required = true)]
    pub image: Vec<PathBuf>,
    /// Poses in degrees (default: every bin of the model); between bins the code blends.
    #[arg(long, num_args = 1.., allow_negative_numbers = true)]
    pub pose: Vec<f32>,
    /// Seed of the noise `z`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The noise `z` itself instead of `--seed`'s: `zero`, or a `.npy` file of `Nz` float32 or
    /// float64 values (what another implementation drew), so that outputs can be compared.
    #[arg(long)]
    pub noise: Option<NoiseChoice>,
    /// Also write the identity feature `f(x)` of every input as one `.npy` array (one row per
    /// input that could be read, in order).
    #[arg(long, conflicts_with_all = ["fuse", "blend"])]
    pub features: Option<PathBuf>,
    /// Folder for the PNGs.
    #[arg(long)]
    pub out: PathBuf,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Treat the inputs as photos of one person: fuse them by the model's confidences (a
    /// multi-image run) and draw the fused face at every pose (`fused_yaw+30.png`, …).
    #[arg(long, conflicts_with = "blend")]
    pub fuse: bool,
    /// A second face: each input's identity feature is blended into this face's, `(1 − α)·f(x)
    /// + α·f(blend)`, and drawn at every pose for every `--alpha` (`…_alpha0.50_yaw+30.png`).
    #[arg(long)]
    pub blend: Option<PathBuf>,
    /// Align the photo first: `x1,y1,x2,y2,x3,y3`, its pixels at the centre of the image-left
    /// eye, of the image-right eye and of the mouth. The photo is warped by a similarity
    /// transform so they land where the model's training faces have them (one input only; the
    /// aligned crop is written as `…_input.png`).
    #[arg(long, allow_hyphen_values = true, conflicts_with = "fuse")]
    pub landmarks: Option<Landmarks>,
    /// The blend weights α (with --blend): 0 is the input's identity, 1 the second face's.
    #[arg(long, num_args = 1.., default_values_t = [0.0, 0.25, 0.5, 0.75, 1.0], requires = "blend")]
    pub alpha: Vec<f32>,
}

/// The noise `z` a `rotate` draws with, when not `--seed`'s.
#[derive(Clone, Debug)]
pub enum NoiseChoice {
    /// All zeros.
    Zero,
    /// The values of a `.npy` file.
    File(PathBuf),
}

impl std::str::FromStr for NoiseChoice {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(if text == "zero" {
            NoiseChoice::Zero
        } else {
            NoiseChoice::File(PathBuf::from(text))
        })
    }
}

impl NoiseChoice {
    /// The `dim` values of `z`.
    fn values(&self, dim: usize) -> anyhow::Result<Vec<f32>> {
        match self {
            NoiseChoice::Zero => Ok(vec![0.0; dim]),
            NoiseChoice::File(path) => {
                let (shape, values) = formats::numpy::read_floats(path)?;
                anyhow::ensure!(
                    values.len() == dim,
                    "{} holds {} values (shape {shape:?}); this model's z has {dim}",
                    path.display(),
                    values.len()
                );
                anyhow::ensure!(
                    values.iter().all(|v| v.is_finite()),
                    "{} holds values that are not numbers",
                    path.display()
                );
                Ok(values)
            }
        }
    }
}

/// Redraws every input at every requested pose.
pub fn run(args: &RotateArgs) -> anyhow::Result<()> {
    let chosen = device::choose(args.device)?;
    eprintln!("device: {} — {}", chosen.name, chosen.reason);
    let loaded = load_generator(&RunDir::new(&args.run), args.checkpoint, &chosen.device)?;
    for note in &loaded.passed_over {
        eprintln!("{note}");
    }
    let judge = judge::for_data(Some(&args.run), &loaded.config.data, &chosen.device)
        .unwrap_or_else(|error| {
            eprintln!("note: no identity judge figures: {error:#}");
            None
        });
    let rotator = loaded.value;
    let z = match &args.noise {
        Some(choice) => choice.values(rotator.config.noise_dim)?,
        None => rotator.noise(args.seed),
    };
    let poses = if args.pose.is_empty() {
        rotator.pose_bins().yaws.clone()
    } else {
        args.pose.clone()
    };
    let yaws = &rotator.pose_bins().yaws;
    let (first, last) = (yaws.first().copied().unwrap_or(0.0), yaws.last().copied().unwrap_or(0.0));
    if let Some(bad) = poses.iter().find(|yaw| !(first..=last).contains(*yaw)) {
        anyhow::bail!("--pose {bad}: this model draws yaws from {first}° to {last}°");
    }
    let inputs = inputs(&args.image, rotator.pose_bins())?;
    anyhow::ensure!(args.landmarks.is_none() || inputs.len() == 1, "--landmarks belong to one photo, and {} inputs were given", inputs.len());
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let frontal = pose_code(0.0, rotator.pose_bins());
    let codes: Vec<Vec<f32>> = poses.iter().map(|&yaw| pose_code(yaw, rotator.pose_bins())).collect();
    if args.fuse {
        return fused(args, &rotator, &inputs, &poses, &codes, &z);
    }
    if let Some(other) = &args.blend {
        return blended(args, &rotator, &inputs, other, &poses, &codes, &z);
    }
    let mut failed = 0;
    let mut features = Vec::new();
    for (name, source) in &inputs {
        let input = match face(source, rotator.image_size(), args.landmarks.as_ref()) {
            Ok(input) => input,
            Err(reason) => {
                eprintln!("{}: skipped ({reason})", source.describe());
                failed += 1;
                continue;
            }
        };
        let written = |file: String, image: &image::RgbImage| -> anyhow::Result<()> {
            let path = args.out.join(file);
            image.save(&path).with_context(|| format!("writing {}", path.display()))
        };
        written(format!("{name}_input.png"), &input)?;
        let encoded = rotator.encode(&input)?;
        let drawn = rotator.draw_with(&encoded, &codes, &z)?;
        for (yaw, image) in poses.iter().zip(&drawn) {
            written(format!("{name}_yaw{yaw:+03.0}.png"), image)?;
        }
        let front = rotator.draw_with(&encoded, std::slice::from_ref(&frontal), &z)?;
        let input_feature = rotator.feature_of(&encoded)?;
        let front_feature = rotator.features(&[&front[0]])?;
        println!(
            "{name}: G's own identity cosine of input and frontal view {:.3}",
            cosine(&input_feature, &front_feature[0])
        );
        features.extend(input_feature);
        if let Some(judge) = &judge {
            println!("{name}: {}", judged(judge, &input, &poses, &drawn)?);
        }
    }
    let written_inputs = inputs.len() - failed;
    println!(
        "{written_inputs} inputs × {} poses written to {}",
        poses.len(),
        args.out.display()
    );
    anyhow::ensure!(written_inputs > 0, "no input could be read");
    if let Some(path) = &args.features {
        formats::numpy::write_floats(
            path,
            &[written_inputs, features.len() / written_inputs],
            &features,
        )?;
        println!(
            "f(x) of the {written_inputs} inputs written to {}",
            path.display()
        );
    }
    Ok(())
}

/// The identity judge's word on one input and its outputs: how alike it finds them, pose by
/// pose, or that the input is unlike the faces it (and the model) learned from.
fn judged(
    judge: &Judge,
    input: &image::RgbImage,
    poses: &[f32],
    drawn: &[image::RgbImage],
) -> anyhow::Result<String> {
    let mut faces: Vec<&image::RgbImage> = vec![input];
    faces.extend(drawn.iter());
    let seen = judge.assess(&faces)?;
    if judge.unfamiliar(seen[0].familiarity) {
        return Ok(format!(
            "{} (the identity judge's familiarity score {:.1}, above {:.1}). {}",
            judge::UNFAMILIAR,
            seen[0].familiarity,
            judge.card.familiarity_threshold,
            judge::WAY_FORWARD
        ));
    }
    let kept: Vec<String> = poses
        .iter()
        .zip(&seen[1..])
        .map(|(yaw, output)| {
            format!(
                "{yaw:+.0}° {:.2}",
                cosine(&seen[0].embedding, &output.embedding)
            )
        })
        .collect();
    let weak = if judge.is_weak() {
        "; a weak judge, read with care"
    } else {
        ""
    };
    Ok(format!(
        "identity judge, input against each output (above {:.2}: the same person{weak}): {}",
        judge.card.threshold,
        kept.join(", ")
    ))
}

/// `rotate --fuse`: every input encoded, fused by confidence, drawn at every pose.
fn fused(
    args: &RotateArgs,
    rotator: &crate::model::rotator::Rotator,
    inputs: &[(String, ImageSource)],
    poses: &[f32],
    codes: &[Vec<f32>],
    z: &[f32],
) -> anyhow::Result<()> {
    let mut faces = Vec::new();
    for (name, source) in inputs {
        match centred_input(source, rotator.image_size()) {
            Ok(face) => faces.push((name, face)),
            Err(error) => eprintln!("{}: skipped ({})", source.describe(), error.reason()),
        }
    }
    anyhow::ensure!(!faces.is_empty(), "no input could be read");
    let images: Vec<&image::RgbImage> = faces.iter().map(|(_, face)| face).collect();
    let (encoded, confidences) = rotator.encode_fused(&images)?;
    for ((name, _), confidence) in faces.iter().zip(&confidences) {
        println!("{name}: confidence σ(ω) {confidence:.3}");
    }
    for (yaw, image) in poses.iter().zip(rotator.draw_with(&encoded, codes, z)?) {
        let path = args.out.join(format!("fused_yaw{yaw:+03.0}.png"));
        image.save(&path).with_context(|| format!("writing {}", path.display()))?;
    }
    let fused = rotator.feature_of(&encoded)?;
    let singles = rotator.features(&images)?;
    for ((name, _), single) in faces.iter().zip(&singles) {
        println!("{name}: identity cosine with the fused feature {:.3}", cosine(single, &fused));
    }
    println!("{} inputs fused; {} poses written to {}", faces.len(), poses.len(), args.out.display());
    Ok(())
}

/// `rotate --blend`: every input's identity walked into the second face's, drawn at every pose.
fn blended(
    args: &RotateArgs,
    rotator: &crate::model::rotator::Rotator,
    inputs: &[(String, ImageSource)],
    other: &Path,
    poses: &[f32],
    codes: &[Vec<f32>],
    z: &[f32],
) -> anyhow::Result<()> {
    if let Some(bad) = args.alpha.iter().find(|a| !(0.0..=1.0).contains(*a)) {
        anyhow::bail!("--alpha {bad}: a blend weight lies between 0 and 1");
    }
    let second = centred_input(&ImageSource::File(other.to_path_buf()), rotator.image_size())
        .map_err(|e| anyhow::anyhow!("{}: {}", other.display(), e.reason()))?;
    let second_encoded = rotator.encode(&second)?;
    let second_feature = rotator.feature_of(&second_encoded)?;
    let mut written = 0;
    for (name, source) in inputs {
        let input = match face(source, rotator.image_size(), args.landmarks.as_ref()) {
            Ok(input) => input,
            Err(reason) => {
                eprintln!("{}: skipped ({reason})", source.describe());
                continue;
            }
        };
        let encoded = rotator.encode(&input)?;
        let own = rotator.feature_of(&encoded)?;
        for &alpha in &args.alpha {
            let blend = encoded.blend(&second_encoded, alpha);
            for (yaw, image) in poses.iter().zip(rotator.draw_with(&blend, codes, z)?) {
                let path = args
                    .out
                    .join(format!("{name}_alpha{alpha:.2}_yaw{yaw:+03.0}.png"));
                image
                    .save(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            let front = rotator.draw_with(&blend, &[pose_code(0.0, rotator.pose_bins())], z)?;
            let drawn = rotator.features(&[&front[0]])?;
            println!(
                "{name} α {alpha:.2}: frontal view's identity cosine with the input {:.3}, with the second face {:.3}",
                cosine(&drawn[0], &own),
                cosine(&drawn[0], &second_feature)
            );
        }
        written += 1;
    }
    anyhow::ensure!(written > 0, "no input could be read");
    println!("{written} inputs × {} blends × {} poses written to {}", args.alpha.len(), poses.len(), args.out.display());
    Ok(())
}

/// `source` as the model's input: aligned by `landmarks` when given, otherwise centre-cropped
/// as training does; or why it cannot be read.
fn face(source: &ImageSource, size: usize, landmarks: Option<&Landmarks>) -> Result<image::RgbImage, String> {
    match landmarks {
        Some(landmarks) => aligned_input(source, landmarks, size).map_err(|e| format!("{e:#}")),
        None => centred_input(source, size).map_err(|e| e.reason()),
    }
}

/// Every input image with a file-name stem that says which it is, unique among them.
fn inputs(paths: &[PathBuf], bins: &crate::model::PoseBins) -> anyhow::Result<Vec<(String, ImageSource)>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let faces = formats::open(path, &OpenOptions { pose_bins: bins.clone(), cfp_two_bins: false })?;
            for (index, sample) in faces.samples.iter().enumerate() {
                let stem = match &sample.image {
                    ImageSource::File(file) | ImageSource::Aligned { path: file, .. } => stem(file),
                    _ => format!("face{index:05}"),
                };
                out.push((stem, sample.image.clone()));
            }
        } else {
            anyhow::ensure!(path.exists(), "{} does not exist", path.display());
            out.push((stem(path), ImageSource::File(path.clone())));
        }
    }
    make_unique(&mut out);
    Ok(out)
}

/// Gives each name met before a number (`…_2`, `…_3`), so that no input's files overwrite
/// another's (`a/id0/x.png` and `b/id0/x.png` both stem as `id0_x`).
fn make_unique(inputs: &mut [(String, ImageSource)]) {
    let mut taken = std::collections::HashSet::new();
    for (name, _) in inputs {
        let mut candidate = name.clone();
        for number in 2.. {
            if taken.insert(candidate.clone()) {
                break;
            }
            candidate = format!("{name}_{number}");
        }
        *name = candidate;
    }
}

fn stem(path: &Path) -> String {
    let parent = path.parent().and_then(|p| p.file_name()).map(|p| p.to_string_lossy().into_owned());
    let file = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".to_owned());
    match parent {
        Some(parent) if !parent.is_empty() => format!("{parent}_{file}"),
        _ => file,
    }
}

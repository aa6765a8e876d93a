//! A trained generator used for looking, not learning: redraw one face at any pose and read
//! identity features. Shared by the studio's Explore view and the command line.

use anyhow::Context;
use burn::prelude::*;
use burn::store::ModuleRecord;
use image::RgbImage;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use super::{Generator, ModelConfig, PoseBins};
use crate::data::prepare::{from_chw, to_chw};

/// A face encoded by a [`Rotator`]: its identity feature, kept on the model's device.
#[derive(Clone, Debug)]
pub struct Encoded {
    features: Tensor<2>,
}

impl Encoded {
    /// `(1 − alpha)·self + alpha·other`: a step on the way from one identity to another.
    pub fn blend(&self, other: &Encoded, alpha: f32) -> Encoded {
        Encoded { features: self.features.clone().mul_scalar(1.0 - alpha).add(other.features.clone().mul_scalar(alpha)) }
    }
}

/// A generator in inference mode and what it is.
pub struct Rotator {
    /// The model's shape (preset, identities, pose bins).
    pub config: ModelConfig,
    /// Training steps of the run these weights are a checkpoint of.
    pub step: u64,
    /// Training steps behind that run's first step (`train --init-from`; 0 otherwise).
    pub steps_before: u64,
    /// Where the weights came from, for people to read.
    pub origin: String,
    generator: Generator,
    device: Device,
}

impl Rotator {
    /// Loads generator weights saved by `train` (`generator.bpk` bytes) into a model of `config`.
    pub fn from_record(config: ModelConfig, record: Vec<u8>, step: u64, origin: String, device: &Device) -> anyhow::Result<Self> {
        let incompatible = |e: burn::store::RecordError| {
            anyhow::anyhow!("the weights in {origin} do not fit a {} model ({e}); they are damaged or were made with another preset, pose bins or identity count", config.summary())
        };
        let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(record)).map_err(incompatible)?;
        let generator = Generator::new(&config, device).try_load_record(record).map_err(incompatible)?.valid();
        super::finite::check_finite(&generator, &format!("generator of {origin}"))?;
        Ok(Self { config, step, steps_before: 0, origin, generator, device: device.clone() })
    }

    /// Wraps a generator already in memory (a trainer's, say) for inference on `device`.
    pub fn from_generator(config: ModelConfig, generator: Generator, step: u64, origin: String, device: &Device) -> Self {
        Self { config, step, steps_before: 0, origin, generator: generator.valid(), device: device.clone() }
    }

    /// This model, said to have `steps` of training behind the first step of its run (a run
    /// started from another's weights).
    pub fn with_steps_before(self, steps: u64) -> Self {
        Self { steps_before: steps, ..self }
    }

    /// Side of the square images the model reads and writes.
    pub fn image_size(&self) -> usize {
        self.config.image_size()
    }

    /// The pose bins of the model.
    pub fn pose_bins(&self) -> &PoseBins {
        &self.config.pose_bins
    }

    fn tensor(&self, images: &[&RgbImage]) -> anyhow::Result<Tensor<4>> {
        let size = self.image_size();
        let mut pixels = Vec::with_capacity(images.len() * 3 * size * size);
        for image in images {
            anyhow::ensure!(
                image.width() as usize == size && image.height() as usize == size,
                "an input of {}×{} was given to a {size}×{size} model",
                image.width(),
                image.height()
            );
            pixels.extend(to_chw(image));
        }
        Ok(Tensor::from_data(TensorData::new(pixels, [images.len(), 3, size, size]), &self.device))
    }

    /// The identity feature of an encoded (or fused) face.
    pub fn feature_of(&self, encoded: &Encoded) -> anyhow::Result<Vec<f32>> {
        read_back(encoded.features.clone())
    }

    /// The identity features `f(x)` of `images`, one vector each.
    pub fn features(&self, images: &[&RgbImage]) -> anyhow::Result<Vec<Vec<f32>>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let features = self.generator.encode(self.tensor(images)?);
        let dim = features.dims()[1];
        let values = read_back(features)?;
        Ok(values.chunks(dim).map(<[f32]>::to_vec).collect())
    }

    /// `input` redrawn once for each pose code in `codes` (each a weight per pose bin, e.g. a
    /// one-hot row from [`pose_code`]), all with the noise of `seed`.
    pub fn rotate(&self, input: &RgbImage, codes: &[Vec<f32>], seed: u64) -> anyhow::Result<Vec<RgbImage>> {
        self.draw(&self.encode(input)?, codes, seed)
    }

    /// `input` encoded once, to be drawn at many poses with [`Rotator::draw`].
    pub fn encode(&self, input: &RgbImage) -> anyhow::Result<Encoded> {
        // On a rayon thread, as the training step (see `Trainer::train_step`).
        rayon::scope(|_| Ok(Encoded { features: self.generator.encode(self.tensor(&[input])?) }))
    }

    /// Whether this is a multi-image model (its encoder gives each image a confidence).
    pub fn fuses(&self) -> bool {
        self.generator.confidence.is_some()
    }

    /// Several faces of one person encoded and fused into one feature by their confidences
    /// (multi-image models), and each face's confidence σ(ω) in (0, 1).
    pub fn encode_fused(&self, inputs: &[&RgbImage]) -> anyhow::Result<(Encoded, Vec<f32>)> {
        anyhow::ensure!(!inputs.is_empty(), "no face to fuse");
        let (features, omega) = self.generator.encode_with_confidence(self.tensor(inputs)?);
        let omega = omega.context("this model is a single-image one: it gives no confidences to fuse by (train with --multi)")?;
        let confidences = read_back(burn::tensor::activation::sigmoid(omega.clone()))?;
        let features = super::fuse(features, omega, inputs.len());
        Ok((Encoded { features }, confidences))
    }

    /// The encoded face redrawn once for each pose code in `codes`, all with the noise of `seed`.
    pub fn draw(
        &self,
        encoded: &Encoded,
        codes: &[Vec<f32>],
        seed: u64,
    ) -> anyhow::Result<Vec<RgbImage>> {
        self.draw_with(encoded, codes, &self.noise(seed))
    }

    /// The encoded face redrawn once for each pose code in `codes`, all with the noise `z`.
    pub fn draw_with(
        &self,
        encoded: &Encoded,
        codes: &[Vec<f32>],
        z: &[f32],
    ) -> anyhow::Result<Vec<RgbImage>> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let features = encoded.features.clone().repeat_dim(0, codes.len());
        // On a rayon thread, as the training step (see `Trainer::train_step`).
        rayon::scope(|_| self.decode(features, codes, z))
    }

    /// The noise `z` of `seed`: `Nz` draws of U[−1, 1] from PCG64 seeded with `seed` (what a
    /// port reproduces; see `model::architecture`).
    pub fn noise(&self, seed: u64) -> Vec<f32> {
        super::codes::uniform_values(&mut Pcg64::seed_from_u64(seed), self.config.noise_dim)
    }

    /// `inputs[i]` redrawn at `codes[i]`, each with the same noise of `seed`.
    pub fn rotate_each(&self, inputs: &[&RgbImage], codes: &[Vec<f32>], seed: u64) -> anyhow::Result<Vec<RgbImage>> {
        anyhow::ensure!(inputs.len() == codes.len(), "{} inputs but {} pose codes", inputs.len(), codes.len());
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let features = self.generator.encode(self.tensor(inputs)?);
        self.decode(features, codes, &self.noise(seed))
    }

    /// `features[i]` drawn at `codes[i]`, each with the noise `z`.
    fn decode(
        &self,
        features: Tensor<2>,
        codes: &[Vec<f32>],
        z: &[f32],
    ) -> anyhow::Result<Vec<RgbImage>> {
        anyhow::ensure!(
            z.len() == self.config.noise_dim,
            "a noise z of {} values for a model of Nz = {}",
            z.len(),
            self.config.noise_dim
        );
        let num_poses = self.config.num_poses();
        let mut values = Vec::with_capacity(codes.len() * num_poses);
        for code in codes {
            anyhow::ensure!(code.len() == num_poses, "a pose code of {} values for a model of {num_poses} poses", code.len());
            values.extend_from_slice(code);
        }
        let pose = Tensor::from_data(
            TensorData::new(values, [codes.len(), num_poses]),
            &self.device,
        );
        let noise = Tensor::<2>::from_data(TensorData::new(z.to_vec(), [1, z.len()]), &self.device)
            .repeat_dim(0, codes.len());
        let images = self.generator.decoder.forward(features, pose, noise);
        let size = self.image_size();
        let pixels = read_back(images)?;
        Ok(pixels.chunks(3 * size * size).map(|chw| from_chw(chw, size)).collect())
    }
}

fn read_back<const D: usize>(tensor: Tensor<D>) -> anyhow::Result<Vec<f32>> {
    tensor.into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("reading the model's output back: {e:?}")).context("inference")
}

/// The pose code for `yaw`: one-hot at a bin centre, and between two neighbouring bins a linear
/// blend of their one-hots (DR-GAN's decoder accepts any mix). Yaws outside the bins clamp.
pub fn pose_code(yaw: f32, bins: &PoseBins) -> Vec<f32> {
    let yaws = &bins.yaws;
    let mut code = vec![0.0; yaws.len()];
    if yaws.is_empty() {
        return code;
    }
    let last = yaws.len() - 1;
    if yaw <= yaws[0] {
        code[0] = 1.0;
    } else if yaw >= yaws[last] {
        code[last] = 1.0;
    } else {
        let upper = yaws.iter().position(|&y| y >= yaw).unwrap_or(last);
        let lower = upper.saturating_sub(1);
        let span = yaws[upper] - yaws[lower];
        let t = if span > 0.0 { (yaw - yaws[lower]) / span } else { 1.0 };
        code[lower] += 1.0 - t;
        code[upper] += t;
    }
    code
}

/// The one-hot code of bin `bin` among `num_poses`.
pub fn one_hot(bin: usize, num_poses: usize) -> Vec<f32> {
    let mut code = vec![0.0; num_poses];
    if let Some(slot) = code.get_mut(bin) {
        *slot = 1.0;
    }
    code
}

/// Cosine similarity of two feature vectors (0 when either is all zeros).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator > 0.0 { dot / denominator } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pose_code_is_one_hot_at_bins_and_blends_between() {
        let bins = PoseBins::default();
        assert_eq!(pose_code(0.0, &bins), one_hot(4, 9));
        assert_eq!(pose_code(-90.0, &bins), one_hot(0, 9));
        let code = pose_code(7.5, &bins);
        assert!((code[4] - 0.5).abs() < 1e-6 && (code[5] - 0.5).abs() < 1e-6);
        assert!((code.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn weights_of_another_preset_are_refused_with_a_message() {
        use crate::model::{Generator, ModelConfig, Preset};
        let device = Device::flex();
        let tiny = ModelConfig::new(Preset::Tiny, 5);
        let bytes = Generator::new(&tiny, &device).into_record().into_bytes().expect("a record").to_vec();
        assert!(Rotator::from_record(tiny.clone(), bytes.clone(), 0, "tiny".into(), &device).is_ok());
        let Err(error) = Rotator::from_record(ModelConfig::new(Preset::Small, 5), bytes, 0, "tiny".into(), &device) else {
            panic!("small accepted tiny weights");
        };
        assert!(error.to_string().contains("do not fit a small"), "{error}");
    }

    #[test]
    fn cosine_of_a_vector_with_itself_is_one() {
        assert!((cosine(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
    }
}

//! An independent pose classifier: a small CNN trained on real images only (never on generated
//! ones, and not D), used to check that `G(x, c)` really shows pose `c`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLoss;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::relu;
use image::RgbImage;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

use crate::data::prepare::to_chw;
use crate::model::codes::labels;

/// Images per optimizer step while training the classifier.
const BATCH: usize = 64;
/// Adam's learning rate (at 1e-3 the classifier underfit: 86 % on its own training images and
/// 84 % on held-out people after 12 epochs, against 98 % and 97 % at this rate).
const LEARNING_RATE: f64 = 3e-3;
/// Channels of the two conv layers.
const WIDTHS: [usize; 2] = [16, 32];
/// The feature map is pooled to this side before the linear layer (keeps left/right apart).
const POOLED: usize = 4;

/// Conv (stride 2) → ReLU → conv (stride 2) → ReLU → 4×4 average pool → linear.
#[derive(Module, Debug)]
pub struct PoseClassifier {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: AdaptiveAvgPool2d,
    output: Linear,
}

impl PoseClassifier {
    /// An untrained classifier into `num_poses` bins.
    pub fn new(num_poses: usize, device: &Device) -> Self {
        let conv = |i: usize, o: usize| {
            Conv2dConfig::new([i, o], [3, 3]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device)
        };
        Self {
            conv1: conv(3, WIDTHS[0]),
            conv2: conv(WIDTHS[0], WIDTHS[1]),
            pool: AdaptiveAvgPool2dConfig::new([POOLED, POOLED]).init(),
            output: LinearConfig::new(WIDTHS[1] * POOLED * POOLED, num_poses).init(device),
        }
    }

    /// Pose logits `[B, Np]` of images `[B, 3, S, S]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = relu(self.conv2.forward(relu(self.conv1.forward(images))));
        self.output.forward(self.pool.forward(x).flatten(1, 3))
    }
}

/// A trained classifier, ready to label images.
pub struct TrainedPoseClassifier {
    model: PoseClassifier,
    device: Device,
    /// Its accuracy on its own training images after the last epoch.
    pub train_accuracy: f32,
}

fn tensor(images: &[&RgbImage], device: &Device) -> anyhow::Result<Tensor<4>> {
    let first = images.first().ok_or_else(|| anyhow::anyhow!("no images"))?;
    let (w, h) = (first.width() as usize, first.height() as usize);
    let mut pixels = Vec::with_capacity(images.len() * 3 * w * h);
    for image in images {
        anyhow::ensure!(image.width() as usize == w && image.height() as usize == h, "images of different sizes");
        pixels.extend(to_chw(image));
    }
    Ok(Tensor::from_data(TensorData::new(pixels, [images.len(), 3, h, w]), device))
}

/// Trains a classifier on `images` labelled with pose `bins` for `epochs` passes, seeded;
/// `on_epoch` hears each finished epoch (and stops the training by failing).
pub fn train(
    images: &[RgbImage],
    bins: &[usize],
    num_poses: usize,
    epochs: usize,
    seed: u64,
    device: &Device,
    on_epoch: &mut dyn FnMut(usize) -> anyhow::Result<()>,
) -> anyhow::Result<TrainedPoseClassifier> {
    anyhow::ensure!(
        !images.is_empty() && images.len() == bins.len(),
        "the pose classifier needs labelled images ({} images, {} labels)",
        images.len(),
        bins.len()
    );
    let train_device = device.clone().autodiff();
    train_device.seed(seed);
    let mut model = PoseClassifier::new(num_poses, &train_device);
    let mut optimizer = AdamConfig::new().init();
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..images.len()).collect();
    let loss = CrossEntropyLoss::new(None, &train_device);
    let mut correct = 0usize;
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let last = epoch + 1 == epochs;
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&RgbImage> = chunk.iter().map(|&i| &images[i]).collect();
            let targets: Vec<usize> = chunk.iter().map(|&i| bins[i]).collect();
            let logits = model.forward(tensor(&batch, &train_device)?);
            if last {
                correct += predictions(logits.clone().detach())?.iter().zip(&targets).filter(|(p, t)| p == t).count();
            }
            let value = loss.forward(logits, labels(&targets, &train_device));
            let grads = GradientsParams::from_grads(value.backward(), &model);
            model = optimizer.step(LEARNING_RATE, model, grads);
        }
        on_epoch(epoch)?;
    }
    Ok(TrainedPoseClassifier { model: model.valid(), device: device.clone(), train_accuracy: correct as f32 / images.len() as f32 })
}

/// The highest-scoring class of each row of `logits`.
pub(crate) fn predictions(logits: Tensor<2>) -> anyhow::Result<Vec<usize>> {
    let [rows, _] = logits.dims();
    let values = logits.argmax(1).reshape([rows]).into_data().convert::<i64>().try_to_vec::<i64>().map_err(|e| anyhow::anyhow!("reading predictions: {e:?}"))?;
    Ok(values.into_iter().map(|v| v as usize).collect())
}

impl TrainedPoseClassifier {
    /// The predicted bin of each image.
    pub fn predict(&self, images: &[&RgbImage]) -> anyhow::Result<Vec<usize>> {
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(256) {
            out.extend(predictions(self.model.forward(tensor(chunk, &self.device)?))?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy set any pose classifier must learn: a bright bar at the image's left, centre or right.
    fn bar(position: usize, shade: u8) -> RgbImage {
        RgbImage::from_fn(16, 16, |x, _| {
            let lit = (x as usize / 6) == position;
            image::Rgb(if lit { [255, 255, shade] } else { [shade / 4, 0, 0] })
        })
    }

    #[test]
    fn learns_a_trivially_separable_toy_set() {
        let device = Device::flex();
        let mut images = Vec::new();
        let mut bins = Vec::new();
        for shade in 0..30u8 {
            for position in 0..3 {
                images.push(bar(position, shade * 8));
                bins.push(position);
            }
        }
        let classifier =
            train(&images, &bins, 3, 30, 1, &device, &mut |_| Ok(())).expect("training runs");
        let held_out = [bar(0, 3), bar(1, 101), bar(2, 203)];
        let predicted = classifier.predict(&held_out.iter().collect::<Vec<_>>()).expect("prediction runs");
        assert_eq!(predicted, vec![0, 1, 2]);
        assert!(classifier.train_accuracy > 0.95, "training accuracy {}", classifier.train_accuracy);
    }
}

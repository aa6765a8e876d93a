//! The identity judge's network: a face-recognition CNN of its own (not G's or D's
//! architecture or weights), and the statistics of its feature maps that say how familiar an
//! input looks.
//!
//! Seven conv + BatchNorm + ELU blocks (the project's fused block on the CPU), four of them
//! halving the side, 64×64 → 4×4×256, then a linear layer to a 128-number embedding. Face
//! recognisers keep the last map's layout instead of averaging it away (where the eyes are
//! matters), hence the flatten before the linear layer.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::model::blocks::ConvBlock;

/// Side of the square images the judge reads; other sizes are resized to it.
pub const INPUT: usize = 64;
/// Length of the identity embedding.
pub const EMBEDDING: usize = 128;
/// `(output channels, stride)` of each block.
const BLOCKS: [(usize, usize); 7] = [
    (32, 2),
    (32, 1),
    (64, 2),
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
];
/// The blocks whose maps feed the familiarity statistics (one per resolution).
const STATISTIC_BLOCKS: [usize; 4] = [1, 3, 5, 6];
/// Side of the last map.
const LAST_SIDE: usize = INPUT / 16;
/// Numbers of the familiarity statistics: each channel's spatial mean and standard deviation
/// in the maps of [`STATISTIC_BLOCKS`].
pub const STATISTICS: usize = 2 * (32 + 64 + 128 + 256);
/// Principal directions of the statistics the familiarity model keeps apart.
pub const COMPONENTS: usize = 64;

/// The recognition network.
#[derive(Module, Debug)]
pub struct JudgeNet {
    blocks: Vec<ConvBlock>,
    embed: Linear,
}

impl JudgeNet {
    /// An untrained network.
    pub fn new(device: &Device) -> Self {
        let mut channels = 3;
        let blocks = BLOCKS
            .iter()
            .map(|&(out, stride)| {
                let block = ConvBlock::new(channels, out, stride, device);
                channels = out;
                block
            })
            .collect();
        Self {
            blocks,
            embed: LinearConfig::new(channels * LAST_SIDE * LAST_SIDE, EMBEDDING).init(device),
        }
    }

    /// Embeddings `[B, EMBEDDING]` (not yet normalised) of images `[B, 3, 64, 64]` in [−1, 1].
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let map = self.blocks.iter().fold(images, |x, block| block.forward(x));
        self.embed.forward(map.flatten(1, 3))
    }

    /// The embeddings and the familiarity statistics `[B, STATISTICS]` of the same images.
    pub fn forward_with_statistics(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let mut statistics = Vec::with_capacity(2 * STATISTIC_BLOCKS.len());
        let mut x = images;
        for (index, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if STATISTIC_BLOCKS.contains(&index) {
                let [batch, channels, height, width] = x.dims();
                let flat = x.clone().reshape([batch, channels, height * width]);
                let mean = flat.clone().mean_dim(2);
                let spread = (flat - mean.clone())
                    .powi_scalar(2)
                    .mean_dim(2)
                    .add_scalar(1e-6)
                    .sqrt();
                statistics.push(mean.reshape([batch, channels]));
                statistics.push(spread.reshape([batch, channels]));
            }
        }
        (
            self.embed.forward(x.flatten(1, 3)),
            Tensor::cat(statistics, 1),
        )
    }
}

/// How unlike the judge's training faces an input is: a Gaussian over the feature-map
/// statistics of those faces, kept as its mean, its [`COMPONENTS`] main directions with their
/// variances, and one variance for everything off them (probabilistic PCA). The score is the
/// Mahalanobis distance squared, divided by the number of statistics (about 1 for a typical
/// training face).
#[derive(Module, Debug)]
pub struct Familiarity {
    mean: Param<Tensor<1>>,
    /// `[COMPONENTS, STATISTICS]`, orthonormal rows.
    directions: Param<Tensor<2>>,
    /// `1 / variance` along each direction.
    inverse_variances: Param<Tensor<1>>,
    /// `1 / variance` off the directions (one value).
    inverse_residual: Param<Tensor<1>>,
}

impl Familiarity {
    /// A model that knows nothing yet (to load weights into).
    pub fn empty(device: &Device) -> Self {
        Self::from_parts(
            vec![0.0; STATISTICS],
            vec![0.0; COMPONENTS * STATISTICS],
            vec![1.0; COMPONENTS],
            1.0,
            device,
        )
    }

    /// A model from its mean, directions (row after row), their variances and the variance off
    /// them.
    pub fn from_parts(
        mean: Vec<f32>,
        directions: Vec<f32>,
        variances: Vec<f32>,
        residual: f32,
        device: &Device,
    ) -> Self {
        let inverse: Vec<f32> = variances.iter().map(|v| 1.0 / v.max(1e-8)).collect();
        let count = inverse.len();
        Self {
            mean: Param::from_tensor(Tensor::from_data(
                TensorData::new(mean, [STATISTICS]),
                device,
            )),
            directions: Param::from_tensor(Tensor::from_data(
                TensorData::new(directions, [count, STATISTICS]),
                device,
            )),
            inverse_variances: Param::from_tensor(Tensor::from_data(
                TensorData::new(inverse, [count]),
                device,
            )),
            inverse_residual: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![1.0 / residual.max(1e-8)], [1]),
                device,
            )),
        }
    }

    /// The score of each row of `statistics` `[B, STATISTICS]`.
    pub fn score(&self, statistics: Tensor<2>) -> Tensor<1> {
        let [batch, _] = statistics.dims();
        let centred = statistics - self.mean.val().unsqueeze_dim(0);
        let along = centred.clone().matmul(self.directions.val().transpose());
        let off = centred - along.clone().matmul(self.directions.val());
        let inside =
            (along.powi_scalar(2) * self.inverse_variances.val().unsqueeze_dim(0)).sum_dim(1);
        let outside = off.powi_scalar(2).sum_dim(1) * self.inverse_residual.val().unsqueeze_dim(0);
        (inside + outside)
            .div_scalar(STATISTICS as f32)
            .reshape([batch])
    }
}

/// Everything the judge keeps: the network and the familiarity model.
#[derive(Module, Debug)]
pub struct JudgeWeights {
    /// The recognition network.
    pub network: JudgeNet,
    /// The familiarity model of its training faces.
    pub familiarity: Familiarity,
}

impl JudgeWeights {
    /// Untrained weights (to load a record into).
    pub fn empty(device: &Device) -> Self {
        Self {
            network: JudgeNet::new(device),
            familiarity: Familiarity::empty(device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_the_table() {
        let device = Device::flex();
        let network = JudgeNet::new(&device);
        let images = Tensor::<4>::zeros([2, 3, INPUT, INPUT], &device);
        let (embedding, statistics) = network.forward_with_statistics(images.clone());
        assert_eq!(embedding.dims(), [2, EMBEDDING]);
        assert_eq!(statistics.dims(), [2, STATISTICS]);
        assert_eq!(network.forward(images).dims(), [2, EMBEDDING]);
    }

    #[test]
    fn the_familiarity_score_is_the_mahalanobis_distance() {
        let device = Device::flex();
        // Mean 0; one direction (the first statistic) of variance 4; variance 1 elsewhere.
        let mut directions = vec![0.0; COMPONENTS * STATISTICS];
        for k in 0..COMPONENTS {
            directions[k * STATISTICS + k] = 1.0;
        }
        let mut variances = vec![1.0; COMPONENTS];
        variances[0] = 4.0;
        let model =
            Familiarity::from_parts(vec![0.0; STATISTICS], directions, variances, 1.0, &device);
        let mut row = vec![0.0; STATISTICS];
        row[0] = 2.0; // (2²/4) = 1
        row[STATISTICS - 1] = 3.0; // off the directions: 3² = 9
        let score = model.score(Tensor::from_data(
            TensorData::new(row, [1, STATISTICS]),
            &device,
        ));
        let value = score.into_data().try_to_vec::<f32>().expect("floats")[0];
        assert!((value - 10.0 / STATISTICS as f32).abs() < 1e-6, "{value}");
    }
}

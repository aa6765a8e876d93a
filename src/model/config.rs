//! Model configuration: presets (input size and channel widths) and the pose bins.

use serde::{Deserialize, Serialize};

/// Length of the noise vector `z` (SPEC: `Nz = 50`).
pub const DEFAULT_NOISE_DIM: usize = 50;

/// Channel widths of the paper's encoder (and discriminator), layer by layer, from the SPEC table:
/// Conv11, Conv12, Conv21, Conv22, Conv23, Conv31, Conv32, Conv33, Conv41, Conv42, Conv43, Conv51,
/// Conv52, Conv53.
pub const PAPER_ENCODER_WIDTHS: [usize; 14] = [
    32, 64, 64, 64, 128, 128, 96, 192, 192, 128, 256, 256, 160, 320,
];

/// Strides of the encoder layers, aligned with [`PAPER_ENCODER_WIDTHS`].
pub const ENCODER_STRIDES: [usize; 14] = [1, 1, 2, 1, 1, 2, 1, 1, 2, 1, 1, 2, 1, 1];

/// Channel widths of the paper's decoder after its FC layer (which outputs 6×6×320):
/// FConv52, FConv51, FConv43, FConv42, FConv41, FConv33, FConv32, FConv31, FConv23, FConv22,
/// FConv21, FConv13, FConv12 (FConv11, the 3-channel tanh output, comes after these).
pub const PAPER_DECODER_WIDTHS: [usize; 13] =
    [160, 256, 256, 128, 192, 192, 96, 128, 128, 64, 64, 64, 32];

/// Strides of the decoder layers, aligned with [`PAPER_DECODER_WIDTHS`].
pub const DECODER_STRIDES: [usize; 13] = [1, 1, 2, 1, 1, 2, 1, 1, 2, 1, 1, 2, 1];

/// Number of stride-2 layers in the encoder (and decoder): the input is `2^4` times the
/// feature map the decoder starts from.
pub const DOWNSAMPLINGS: u32 = 4;

/// Named scales of the one architecture. Only input size and channel widths change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// 96×96, the SPEC table exactly.
    Paper,
    /// 64×64, half the paper's channel widths.
    Small,
    /// 32×32, a quarter of the paper's channel widths (for tests and quick looks).
    Tiny,
}

impl Preset {
    /// Input (and output) image side in pixels.
    pub fn image_size(self) -> usize {
        match self {
            Preset::Paper => 96,
            Preset::Small => 64,
            Preset::Tiny => 32,
        }
    }

    /// Divisor applied to every paper channel width.
    pub fn width_divisor(self) -> usize {
        match self {
            Preset::Paper => 1,
            Preset::Small => 2,
            Preset::Tiny => 4,
        }
    }

    /// The preset's lowercase name, as written in `config.json` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Paper => "paper",
            Preset::Small => "small",
            Preset::Tiny => "tiny",
        }
    }
}

/// How the decoder doubles its feature maps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Upsample {
    /// A 3×3 transposed convolution with stride 2 (the paper's FConv layers).
    #[default]
    Transposed,
    /// Nearest-neighbour ×2 then a 3×3 convolution: the same parameters, no checkerboard.
    Resize,
}

impl Upsample {
    /// The name used on the command line and in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            Upsample::Transposed => "transposed",
            Upsample::Resize => "resize",
        }
    }
}

/// The yaw bins of the pose code: bin `i` is centred on `yaws[i]` degrees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoseBins {
    /// Bin centres in degrees, most negative first.
    pub yaws: Vec<f32>,
}

impl Default for PoseBins {
    /// Nine bins, −60°..+60° in 15° steps.
    fn default() -> Self {
        Self::evenly_spaced(-60.0, 15.0, 9)
    }
}

impl PoseBins {
    /// `count` bins starting at `first` degrees, `step` degrees apart.
    pub fn evenly_spaced(first: f32, step: f32, count: usize) -> Self {
        Self {
            yaws: (0..count).map(|i| first + step * i as f32).collect(),
        }
    }

    /// Number of bins (`Np`).
    pub fn len(&self) -> usize {
        self.yaws.len()
    }

    /// Whether there are no bins (never true for a usable model).
    pub fn is_empty(&self) -> bool {
        self.yaws.is_empty()
    }

    /// The bin whose centre is nearest to `yaw`, if within half the distance to its neighbour;
    /// `None` when the yaw lies outside every bin.
    pub fn bin_of(&self, yaw: f32) -> Option<usize> {
        let (index, centre) = self
            .yaws
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - yaw).abs().total_cmp(&(b.1 - yaw).abs()))?;
        let half_width = self.half_width(index);
        ((centre - yaw).abs() <= half_width + 1e-3).then_some(index)
    }

    /// Half the width of bin `index`: half the gap to its nearest neighbour.
    fn half_width(&self, index: usize) -> f32 {
        let gap_before = index
            .checked_sub(1)
            .map(|prev| self.yaws[index] - self.yaws[prev]);
        let gap_after = self.yaws.get(index + 1).map(|next| next - self.yaws[index]);
        match (gap_before, gap_after) {
            (Some(a), Some(b)) => a.min(b) / 2.0,
            (Some(gap), None) | (None, Some(gap)) => gap / 2.0,
            (None, None) => 180.0,
        }
    }

    /// The bin a horizontally mirrored image falls in.
    pub fn mirrored(&self, bin: usize) -> usize {
        self.len() - 1 - bin
    }

    /// Label such as `-60°` for bin `index`.
    pub fn label(&self, index: usize) -> String {
        format!("{:+}°", self.yaws[index]).replace("+0°", "0°")
    }
}

/// Everything needed to rebuild a DR-GAN: written into a run's `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Scale of the network.
    pub preset: Preset,
    /// Number of training identities (`Nd`); D has `Nd + 1` identity outputs.
    pub identities: usize,
    /// The pose bins (`Np = pose_bins.len()`).
    pub pose_bins: PoseBins,
    /// Length of the noise vector `z`.
    pub noise_dim: usize,
    /// How the decoder upsamples (runs written before this setting existed used transposed
    /// convolutions).
    #[serde(default)]
    pub upsample: Upsample,
    /// Whether G's encoder also gives each image a confidence ω (the multi-image DR-GAN).
    #[serde(default)]
    pub confidence: bool,
    /// Whether D's pose head has an extra "fake" class (`Np + 1` pose outputs).
    #[serde(default)]
    pub pose_fake_class: bool,
    /// Whether D's real/fake logit gets a pose projection `⟨φ(x), e_c⟩` for the pose `c` a face
    /// is claimed to have (needs the TPAMI head's real/fake logit).
    #[serde(default)]
    pub pose_projection: bool,
    /// Whether the pose code also enters every upsampling layer of the decoder (once per scale),
    /// as `Np` constant maps beside its input, instead of only the FC layer at the start.
    #[serde(default)]
    pub pose_maps: bool,
    /// Whether D also judges realness patch by patch: a real/fake logit at every position of
    /// its early (Conv23) feature map (a PatchGAN, Isola et al. 2017), beside its logit for the
    /// whole face.
    #[serde(default)]
    pub patch_critic: bool,
}

impl ModelConfig {
    /// A configuration with the default nine bins and `Nz = 50`.
    pub fn new(preset: Preset, identities: usize) -> Self {
        Self {
            preset,
            identities,
            pose_bins: PoseBins::default(),
            noise_dim: DEFAULT_NOISE_DIM,
            upsample: Upsample::default(),
            confidence: false,
            pose_fake_class: false,
            pose_projection: false,
            pose_maps: false,
            patch_critic: false,
        }
    }

    /// Image side in pixels.
    pub fn image_size(&self) -> usize {
        self.preset.image_size()
    }

    /// Number of pose bins (`Np`).
    pub fn num_poses(&self) -> usize {
        self.pose_bins.len()
    }

    /// Side of the smallest feature map (6 for the paper's 96×96 input).
    pub fn base_size(&self) -> usize {
        self.image_size() >> DOWNSAMPLINGS
    }

    /// Encoder layer widths for this preset.
    pub fn encoder_widths(&self) -> Vec<usize> {
        scaled(&PAPER_ENCODER_WIDTHS, self.preset.width_divisor())
    }

    /// Decoder layer widths for this preset (excluding the 3-channel output layer).
    pub fn decoder_widths(&self) -> Vec<usize> {
        scaled(&PAPER_DECODER_WIDTHS, self.preset.width_divisor())
    }

    /// Length of the identity feature `f(x)` (320 for the paper).
    pub fn feature_dim(&self) -> usize {
        PAPER_ENCODER_WIDTHS[13] / self.preset.width_divisor()
    }

    /// Channels of the decoder's first (FC) feature map (320 for the paper).
    pub fn decoder_base_channels(&self) -> usize {
        self.feature_dim()
    }

    /// Multiply-accumulates of one image through the encoder (or D's convolutions) and through
    /// the decoder, counted from the layer table.
    pub fn forward_macs(&self) -> (u64, u64) {
        let conv = |size: usize, cin: usize, cout: usize| (size * size * cin * cout * 9) as u64;
        let mut size = self.image_size();
        let mut cin = 3;
        let mut encoder = 0;
        for (&cout, &stride) in self.encoder_widths().iter().zip(&ENCODER_STRIDES) {
            size /= stride;
            encoder += conv(size, cin, cout);
            cin = cout;
        }
        let base = self.base_size();
        let code = self.feature_dim() + self.num_poses() + self.noise_dim;
        let mut decoder = (code * self.decoder_base_channels() * base * base) as u64;
        let (mut size, mut cin) = (base, self.decoder_base_channels());
        let pose_maps = if self.pose_maps { self.num_poses() } else { 0 };
        for (&cout, &stride) in self.decoder_widths().iter().zip(&DECODER_STRIDES) {
            let inputs = cin + if stride == 2 { pose_maps } else { 0 };
            decoder += match (stride, self.upsample) {
                // A transposed convolution spreads each input pixel over a 3×3 footprint.
                (2, Upsample::Transposed) => conv(size, inputs, cout),
                (2, Upsample::Resize) => conv(2 * size, inputs, cout),
                _ => conv(size, inputs, cout),
            };
            size *= stride;
            cin = cout;
        }
        decoder += conv(size, cin, 3);
        (encoder, decoder)
    }

    /// Floating-point operations per image of one training step as the PyTorch reference
    /// (`../shared/bench/torch_drgan_ref.py`) takes it: G forward and backward, and D forward
    /// and backward on the real, the fake and (for G) the fake again. A backward costs twice
    /// its forward.
    pub fn train_step_flops(&self) -> u64 {
        let (encoder, decoder) = self.forward_macs();
        2 * (3 * (encoder + decoder) + 9 * encoder)
    }

    /// A short human description, e.g. `small (64×64), 40 identities, 9 pose bins`.
    pub fn summary(&self) -> String {
        format!(
            "{} ({}×{}), {} identities, {} pose bins",
            self.preset.name(),
            self.image_size(),
            self.image_size(),
            self.identities,
            self.num_poses()
        )
    }
}

fn scaled(widths: &[usize], divisor: usize) -> Vec<usize> {
    widths.iter().map(|w| w / divisor).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_preset_costs_what_the_spec_says() {
        let (encoder, decoder) = ModelConfig::new(Preset::Paper, 200).forward_macs();
        // SPEC: ≈ 0.93 and ≈ 0.94 GMAC per image.
        assert!((0.9e9..0.96e9).contains(&(encoder as f64)), "encoder {encoder}");
        assert!((0.9e9..0.98e9).contains(&(decoder as f64)), "decoder {decoder}");
    }

    #[test]
    fn nine_default_bins_map_yaws_to_nearest_centre() {
        let bins = PoseBins::default();
        assert_eq!(bins.len(), 9);
        assert_eq!(bins.bin_of(-60.0), Some(0));
        assert_eq!(bins.bin_of(0.0), Some(4));
        assert_eq!(bins.bin_of(7.0), Some(4));
        assert_eq!(bins.bin_of(8.0), Some(5));
        assert_eq!(bins.bin_of(67.5), Some(8));
        assert_eq!(bins.bin_of(70.0), None);
        assert_eq!(bins.bin_of(-90.0), None);
        assert_eq!(bins.mirrored(0), 8);
        assert_eq!(bins.label(0), "-60°");
        assert_eq!(bins.label(4), "0°");
        assert_eq!(bins.label(8), "+60°");
    }
}

//! The training recipe: the paper's losses and schedule (`paper`), and the additions the DR-GAN
//! follow-ups and the GAN literature use against blur, lost identities and ignored pose codes,
//! each a named setting that is off in `paper`.

use serde::{Deserialize, Serialize};

pub use crate::model::loss::DHead;
use crate::model::{ModelConfig, Upsample};

/// The recipe's choices that shape the networks themselves (so they live in the model's
/// configuration, which a checkpoint must fit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    /// How the decoder doubles its maps.
    pub upsample: Upsample,
    /// Whether D's pose head has an extra "fake" class, so that D also calls generated faces'
    /// poses fake and G cannot satisfy it with faces that are not real-looking turned heads.
    pub pose_fake_class: bool,
    /// Whether D's real/fake logit depends on the pose a face is claimed to have (a projection
    /// discriminator), so that a face that looks real but not at its requested pose is fake.
    #[serde(default)]
    pub pose_projection: bool,
    /// Whether the pose code also enters every upsampling layer of the decoder as constant maps.
    #[serde(default)]
    pub pose_maps: bool,
    /// Whether D also judges realness patch by patch (a PatchGAN critic on its early feature
    /// map), so that G is paid for faces that look real in every part, not only as a whole.
    #[serde(default)]
    pub patch_critic: bool,
}

impl Architecture {
    /// The architecture of `model`.
    pub fn of(model: &ModelConfig) -> Self {
        Self {
            upsample: model.upsample,
            pose_fake_class: model.pose_fake_class,
            pose_projection: model.pose_projection,
            pose_maps: model.pose_maps,
            patch_critic: model.patch_critic,
        }
    }

    /// Writes this architecture into `model`.
    pub fn apply(self, model: &mut ModelConfig) {
        model.upsample = self.upsample;
        model.pose_fake_class = self.pose_fake_class;
        model.pose_projection = self.pose_projection;
        model.pose_maps = self.pose_maps;
        model.patch_critic = self.patch_critic;
    }

    /// Checks that `recipe` can train these networks.
    pub fn validate(&self, recipe: &Recipe) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.pose_projection || recipe.d_head == DHead::Tpami,
            "D's pose projection adds to the real/fake logit, which only the TPAMI head has: choose the tpami D head or turn the projection off"
        );
        Ok(())
    }
}

/// The largest radius of D's blur (a 7×7 kernel).
pub const MAX_D_BLUR: u32 = 3;

/// The training recipe (`config.json`'s `training.recipe`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Recipe {
    /// How D's identity outputs are read.
    pub d_head: DHead,
    /// One-sided label smoothing: D's target for real faces is "real" with 1 − this.
    pub label_smoothing: f32,
    /// Standard deviation of Gaussian noise added to every image D sees (pixels in [−1, 1]),
    /// falling linearly to zero at the run's last step.
    pub instance_noise: f32,
    /// Weight of G's pose term, D's cross-entropy of the requested pose on generated faces
    /// (the paper: 1, equal to the identity term).
    pub pose_weight: f32,
    /// Weight of `1 − cos(f(x), f(G(x, c)))`, through G's own encoder.
    pub identity_weight: f32,
    /// Weight of `‖G(x, c_x) − x‖₁` on the images whose requested pose is their own.
    pub reconstruction_weight: f32,
    /// Fraction of images whose requested pose is their own (otherwise drawn uniformly, so
    /// `1/Np` of them are by chance).
    pub own_pose_fraction: f32,
    /// Fraction of the run after which the learning rate falls linearly to zero at the last
    /// step (1: constant).
    pub lr_decay_start: f32,
    /// With a pose projection: weight of D's term that calls real faces fake when they are
    /// claimed to be at a wrong pose (0: off).
    pub pose_mismatch_weight: f32,
    /// Radius of a binomial blur applied to every image D sees (0: off; 1: 3×3, 2: 5×5), so
    /// that D judges realness, identity and pose from what survives a low-pass and G cannot
    /// satisfy it with faint stripes.
    pub d_blur: u32,
    /// Which of D's judgements are made on augmented faces (a random colour change, shift and
    /// cutout, real and generated alike and differentiably: DiffAugment), so that D cannot
    /// memorise the training faces and G cannot satisfy D with patterns a shift undoes.
    pub d_augment: DAugment,
    /// Steps at the start of the run in which only D learns, and only who and at which pose
    /// the real faces are (no generated faces, no G update), so that G's pose and identity
    /// terms start against a D that already knows them.
    pub d_warmup: u64,
    /// D's learning rate as a multiple of the run's (G's): two time-scale updates (Heusel et
    /// al. 2017), so that D's identity and pose heads keep up with G.
    pub d_lr_factor: f32,
    /// Width, in bins, of the Gaussian that D's pose target for a real face is spread over (0:
    /// its bin alone), so that D's pose head says how far a face is from each bin and G's pose
    /// term pulls a face to the middle of its bin rather than just across a boundary.
    pub pose_label_sigma: f32,
    /// Weight of the L1 distance of the edges (neighbour differences) of `G(x, c_x)` and `x`
    /// on the images whose requested pose is their own, so that G is paid for the eyes, mouth
    /// and hairline that plain L1 lets it blur away.
    pub edge_weight: f32,
    /// Weight of the L1 distance of D's early feature maps (after Conv23) of `G(x, c_x)` and
    /// `x` on the images whose requested pose is their own: a reconstruction measured the way D
    /// sees faces rather than pixel by pixel (Larsen et al. 2016), which a blur does not satisfy.
    pub perceptual_weight: f32,
    /// Whether D judges the real and the generated faces as one batch (G's step too), so that
    /// its BatchNorm layers normalise both with the same statistics. Judged apart (the paper
    /// and its PyTorch ports), a batch of generated faces is normalised by its own statistics,
    /// which pins the batch mean of the pooled features D reads realness from: D can then hardly
    /// tell a batch of fakes from a batch of real faces, and G is not paid for looking real.
    pub joint_d_batch: bool,
    /// Weight of G's second pose term: the cross-entropy of the requested pose by a frozen
    /// pose teacher, a small CNN trained on the training people's real faces before the first
    /// step (0: off, and no teacher is trained). D's pose head moves with G and G learns to
    /// satisfy it; the teacher does not move.
    pub pose_teacher_weight: f32,
    /// Fraction of the run after which the pose teacher's term is on (0: from the first step),
    /// so that one run can do what a studio run followed by a `polish` run does.
    pub pose_teacher_start: f32,
}

impl Default for Recipe {
    /// The paper's recipe.
    fn default() -> Self {
        Self {
            d_head: DHead::Paper,
            label_smoothing: 0.0,
            instance_noise: 0.0,
            pose_weight: 1.0,
            identity_weight: 0.0,
            reconstruction_weight: 0.0,
            own_pose_fraction: 0.0,
            lr_decay_start: 1.0,
            pose_mismatch_weight: 0.0,
            d_blur: 0,
            d_augment: DAugment::Off,
            d_warmup: 0,
            d_lr_factor: 1.0,
            pose_label_sigma: 0.0,
            edge_weight: 0.0,
            perceptual_weight: 0.0,
            joint_d_batch: false,
            pose_teacher_weight: 0.0,
            pose_teacher_start: 0.0,
        }
    }
}

/// Which of D's judgements are made on augmented faces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DAugment {
    /// None: D sees the faces as they are.
    #[default]
    Off,
    /// Every judgement: realness, identity and pose.
    All,
    /// Only real-or-fake (the TPAMI head's separate logit); identity and pose are judged on the
    /// clean faces, at the cost of a second pass through D.
    Realness,
}

impl DAugment {
    /// Every choice, for the Train view.
    pub const ALL: [DAugment; 3] = [DAugment::Off, DAugment::All, DAugment::Realness];

    /// The name used on the command line and in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            DAugment::Off => "off",
            DAugment::All => "all",
            DAugment::Realness => "realness",
        }
    }
}

/// The named recipes `train --recipe` and the Train view offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RecipeName {
    /// The CVPR 2017 paper exactly: Nd+1-way D, transposed convolutions, adversarial losses only.
    Paper,
    /// The studio's default, chosen by the ablation (docs/ABLATION.md).
    Studio,
    /// Continues a trained studio model (with --init-from): studio plus a frozen pose teacher, at half the learning rate
    ///
    /// G's second pose term from the teacher lifted pose control on top of a studio model (the
    /// shipped model is 7,200 studio steps and then 800 polish steps); from fresh weights the
    /// teacher cost the picture (docs/ABLATION.md, row 10).
    Polish,
}

impl RecipeName {
    /// Every named recipe.
    pub const ALL: [RecipeName; 3] = [RecipeName::Paper, RecipeName::Studio, RecipeName::Polish];

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            RecipeName::Paper => "paper",
            RecipeName::Studio => "studio",
            RecipeName::Polish => "polish",
        }
    }

    /// Whether the recipe is meant to continue a trained model rather than start from fresh weights.
    pub fn continues_a_model(self) -> bool {
        self == RecipeName::Polish
    }

    /// Adam's learning rate the recipe was measured with (G's; D's is `d_lr_factor` times it).
    pub fn learning_rate(self) -> f64 {
        match self {
            RecipeName::Paper | RecipeName::Studio => 2e-4,
            RecipeName::Polish => 1e-4,
        }
    }

    /// The recipe's training settings.
    pub fn recipe(self) -> Recipe {
        match self {
            RecipeName::Paper => Recipe::default(),
            RecipeName::Studio => Recipe {
                d_head: DHead::Tpami,
                label_smoothing: 0.1,
                instance_noise: 0.1,
                identity_weight: 1.0,
                reconstruction_weight: 10.0,
                own_pose_fraction: 0.25,
                lr_decay_start: 0.5,
                d_lr_factor: 0.5,
                joint_d_batch: true,
                ..Recipe::default()
            },
            RecipeName::Polish => Recipe { pose_teacher_weight: 1.0, ..RecipeName::Studio.recipe() },
        }
    }

    /// The networks the recipe uses.
    pub fn architecture(self) -> Architecture {
        match self {
            RecipeName::Paper => Architecture { upsample: Upsample::Transposed, pose_fake_class: false, pose_projection: false, pose_maps: false, patch_critic: false },
            RecipeName::Studio | RecipeName::Polish => Architecture { upsample: Upsample::Resize, pose_fake_class: false, pose_projection: false, pose_maps: false, patch_critic: false },
        }
    }

    /// The named recipe `recipe` and `architecture` are, if any.
    pub fn of(recipe: &Recipe, architecture: Architecture) -> Option<RecipeName> {
        Self::ALL.into_iter().find(|name| name.recipe() == *recipe && name.architecture() == architecture)
    }
}

impl Recipe {
    /// `paper`, `studio`, `polish` or `custom`.
    pub fn describe(&self, architecture: Architecture) -> &'static str {
        RecipeName::of(self, architecture).map_or("custom", RecipeName::name)
    }

    /// Checks that every weight is finite and in its range.
    pub fn validate(&self) -> anyhow::Result<()> {
        let ranges = [
            ("label smoothing", self.label_smoothing, 0.0, 0.5),
            ("instance noise", self.instance_noise, 0.0, 2.0),
            ("pose weight", self.pose_weight, 0.0, 1000.0),
            ("identity weight", self.identity_weight, 0.0, 1000.0),
            ("reconstruction weight", self.reconstruction_weight, 0.0, 1000.0),
            ("own-pose fraction", self.own_pose_fraction, 0.0, 1.0),
            ("learning-rate decay start", self.lr_decay_start, 0.0, 1.0),
            ("pose mismatch weight", self.pose_mismatch_weight, 0.0, 1000.0),
            ("D learning-rate factor", self.d_lr_factor, 0.01, 100.0),
            ("pose label width", self.pose_label_sigma, 0.0, 10.0),
            ("edge weight", self.edge_weight, 0.0, 1000.0),
            ("perceptual weight", self.perceptual_weight, 0.0, 1000.0),
            ("pose teacher weight", self.pose_teacher_weight, 0.0, 1000.0),
            ("pose teacher start", self.pose_teacher_start, 0.0, 1.0),
        ];
        for (what, value, low, high) in ranges {
            if !(low..=high).contains(&value) {
                anyhow::bail!("the {what} must be between {low} and {high} (got {value})");
            }
        }
        anyhow::ensure!(self.d_blur <= MAX_D_BLUR, "D's blur radius must be at most {MAX_D_BLUR} (got {})", self.d_blur);
        anyhow::ensure!(
            self.d_augment != DAugment::Realness || self.d_head == DHead::Tpami,
            "augmenting only D's real-or-fake judgement needs the tpami D head, whose real/fake logit is separate"
        );
        Ok(())
    }

    /// The learning rate at `step` (from 0) of a run of `steps`.
    pub fn learning_rate(&self, base: f64, step: u64, steps: u64) -> f64 {
        let progress = step as f64 / steps.max(1) as f64;
        let start = self.lr_decay_start as f64;
        if progress <= start || start >= 1.0 {
            base
        } else {
            base * ((1.0 - progress) / (1.0 - start)).max(0.0)
        }
    }

    /// Whether G's pose-teacher term counts at `step` (from 0) of a run of `steps`.
    pub fn pose_teacher_on(&self, step: u64, steps: u64) -> bool {
        self.pose_teacher_weight > 0.0 && step as f64 >= self.pose_teacher_start as f64 * steps as f64
    }

    /// The instance noise's standard deviation at `step` (from 0) of a run of `steps`.
    pub fn noise_at(&self, step: u64, steps: u64) -> f32 {
        self.instance_noise * (1.0 - step as f32 / steps.max(1) as f32).max(0.0)
    }

    /// One line for logs and the Train view, e.g. `studio (tpami head, smoothing 0.1, …)`.
    pub fn summary(&self, architecture: Architecture) -> String {
        format!(
            "{} (D head {}{}{}{}{}, {} upsampling{}, label smoothing {}, instance noise {}{}{}{}{}{}, pose {}{}, identity {}, reconstruction {}{}{} on {:.0} % own-pose requests, lr decay from {:.0} %)",
            self.describe(architecture),
            self.d_head.name(),
            if architecture.pose_fake_class { " with a fake pose class" } else { "" },
            match (architecture.pose_projection, self.pose_mismatch_weight) {
                (false, _) => String::new(),
                (true, weight) if weight > 0.0 => format!(" with a pose projection, wrong-pose reals {weight}"),
                (true, _) => " with a pose projection".to_owned(),
            },
            if architecture.patch_critic { " and a patch critic" } else { "" },
            if self.joint_d_batch { ", real and generated faces judged as one batch" } else { "" },
            architecture.upsample.name(),
            if architecture.pose_maps { ", the pose code at every decoder scale" } else { "" },
            self.label_smoothing,
            self.instance_noise,
            if self.d_blur > 0 { format!(", D blur radius {}", self.d_blur) } else { String::new() },
            match self.d_augment {
                DAugment::Off => "",
                DAugment::All => ", D augmentation",
                DAugment::Realness => ", D augmentation for realness",
            },
            if self.d_warmup > 0 { format!(", D warms up for {} steps", self.d_warmup) } else { String::new() },
            if self.d_lr_factor != 1.0 { format!(", D's learning rate ×{}", self.d_lr_factor) } else { String::new() },
            if self.pose_label_sigma > 0.0 { format!(", D's pose labels spread over {} bins", self.pose_label_sigma) } else { String::new() },
            self.pose_weight,
            match (self.pose_teacher_weight, self.pose_teacher_start) {
                (weight, _) if weight <= 0.0 => String::new(),
                (weight, start) if start > 0.0 => format!(", pose teacher {weight} from {:.0} %", start * 100.0),
                (weight, _) => format!(", pose teacher {weight}"),
            },
            self.identity_weight,
            self.reconstruction_weight,
            if self.edge_weight > 0.0 { format!(", edges {}", self.edge_weight) } else { String::new() },
            if self.perceptual_weight > 0.0 { format!(", D-perceptual {}", self.perceptual_weight) } else { String::new() },
            self.own_pose_fraction * 100.0,
            self.lr_decay_start * 100.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_recipe_is_the_default_and_named_recipes_are_recognised() {
        assert_eq!(Recipe::default(), RecipeName::Paper.recipe());
        let (paper, studio) = (RecipeName::Paper.architecture(), RecipeName::Studio.architecture());
        assert_eq!(Recipe::default().describe(paper), "paper");
        assert_eq!(RecipeName::Studio.recipe().describe(studio), "studio");
        let mut custom = RecipeName::Studio.recipe();
        custom.identity_weight = 3.0;
        assert_eq!(custom.describe(studio), "custom");
        assert_eq!(Recipe::default().describe(Architecture { upsample: Upsample::Resize, ..paper }), "custom");
        assert_eq!(RecipeName::Studio.recipe().describe(Architecture { pose_projection: true, ..studio }), "custom");
        assert_eq!(RecipeName::Studio.recipe().describe(Architecture { pose_maps: !studio.pose_maps, ..studio }), "custom");
        assert_eq!(RecipeName::Studio.recipe().describe(Architecture { patch_critic: !studio.patch_critic, ..studio }), "custom");
        let polish = RecipeName::Polish.recipe();
        assert_eq!(polish.describe(RecipeName::Polish.architecture()), "polish");
        assert_eq!(Recipe { pose_teacher_weight: 0.0, ..polish }, RecipeName::Studio.recipe(), "polish is studio plus the pose teacher");
    }

    #[test]
    fn a_pose_projection_needs_the_tpami_head() {
        let projected = Architecture { pose_projection: true, ..RecipeName::Paper.architecture() };
        assert!(projected.validate(&RecipeName::Paper.recipe()).is_err());
        assert!(projected.validate(&RecipeName::Studio.recipe()).is_ok());
    }

    #[test]
    fn learning_rate_decays_linearly_after_its_start() {
        let recipe = Recipe { lr_decay_start: 0.5, ..Recipe::default() };
        assert_eq!(recipe.learning_rate(1.0, 0, 100), 1.0);
        assert_eq!(recipe.learning_rate(1.0, 50, 100), 1.0);
        assert!((recipe.learning_rate(1.0, 75, 100) - 0.5).abs() < 1e-9);
        assert_eq!(Recipe::default().learning_rate(1.0, 99, 100), 1.0);
    }

    #[test]
    fn the_pose_teacher_counts_from_its_start() {
        let late = Recipe { pose_teacher_weight: 1.0, pose_teacher_start: 0.75, ..Recipe::default() };
        assert!(!late.pose_teacher_on(1499, 2000));
        assert!(late.pose_teacher_on(1500, 2000));
        assert!(Recipe { pose_teacher_start: 0.0, ..late.clone() }.pose_teacher_on(0, 2000));
        assert!(!Recipe { pose_teacher_weight: 0.0, ..late.clone() }.pose_teacher_on(1999, 2000));
        assert!(late.summary(RecipeName::Studio.architecture()).contains("pose teacher 1 from 75 %"));
        assert!(Recipe { pose_teacher_start: 1.5, ..late }.validate().is_err_and(|e| e.to_string().contains("pose teacher start")));
    }

    #[test]
    fn out_of_range_weights_are_refused() {
        let bad = Recipe { label_smoothing: f32::NAN, ..Recipe::default() };
        assert!(bad.validate().is_err());
        let bad = Recipe { identity_weight: -1.0, ..Recipe::default() };
        assert!(bad.validate().is_err());
        let bad = Recipe { d_blur: MAX_D_BLUR + 1, ..Recipe::default() };
        assert!(bad.validate().is_err_and(|e| e.to_string().contains("blur radius")));
        assert!(Recipe { d_blur: MAX_D_BLUR, ..Recipe::default() }.validate().is_ok());
        assert!(RecipeName::Studio.recipe().validate().is_ok());
        let realness = Recipe { d_augment: DAugment::Realness, ..Recipe::default() };
        assert!(realness.validate().is_err_and(|e| e.to_string().contains("tpami")));
        assert!(Recipe { d_head: DHead::Tpami, ..realness }.validate().is_ok());
    }
}

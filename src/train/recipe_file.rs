//! Recipe files: a run's settings kept as TOML, each key named as `train`'s flag without its
//! dashes (`batch = 64`, `pose-teacher-weight = 1.0`, `multi = true`), so that researchers keep
//! experiments as files. A file may hold any of the settings: `train --config FILE` takes the
//! rest from its own defaults (and any flag typed as well overrides the file), the Train form
//! keeps the rest as they are on the form.

use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use super::{
    Architecture, Balance, DAugment, DHead, DataSource, MultiImage, RecipeName, TrainSettings,
};
use crate::device::DeviceChoice;
use crate::model::{Preset, Upsample};
use crate::synth::SynthSpec;

/// The name of the copy of its recipe file a run keeps.
pub const RUN_FILE: &str = "recipe.toml";

/// Every setting a recipe file may hold; names and values as `train`'s flags take them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RecipeFile {
    pub preset: Option<String>,
    pub data: Option<PathBuf>,
    pub synthetic: Option<usize>,
    pub synthetic_seed: Option<u64>,
    pub lights: Option<u64>,
    pub recipe: Option<String>,
    pub steps: Option<u64>,
    pub batch: Option<u64>,
    pub lr: Option<f64>,
    pub beta1: Option<f32>,
    pub beta2: Option<f32>,
    pub seed: Option<u64>,
    pub checkpoint_every: Option<u64>,
    pub g_steps: Option<u64>,
    pub g_steps_when_d_strong: Option<u64>,
    pub d_strong_accuracy: Option<f32>,
    pub flip: Option<bool>,
    pub test_fraction: Option<f32>,
    pub cfp_two_bins: Option<bool>,
    pub eval_every: Option<u64>,
    pub device: Option<String>,
    pub d_head: Option<String>,
    pub label_smoothing: Option<f32>,
    pub instance_noise: Option<f32>,
    pub pose_weight: Option<f32>,
    pub identity_weight: Option<f32>,
    pub reconstruction_weight: Option<f32>,
    pub own_pose_fraction: Option<f32>,
    pub lr_decay_start: Option<f32>,
    pub pose_mismatch_weight: Option<f32>,
    pub d_blur: Option<u32>,
    pub d_augment: Option<String>,
    pub d_warmup: Option<u64>,
    pub d_lr_factor: Option<f32>,
    pub pose_label_sigma: Option<f32>,
    pub edge_weight: Option<f32>,
    pub perceptual_weight: Option<f32>,
    pub pose_teacher_weight: Option<f32>,
    pub pose_teacher_start: Option<f32>,
    pub joint_d_batch: Option<bool>,
    pub upsample: Option<String>,
    pub pose_fake_class: Option<bool>,
    pub pose_projection: Option<bool>,
    pub pose_maps: Option<bool>,
    pub patch_critic: Option<bool>,
    pub multi: Option<bool>,
    pub images_per_id: Option<usize>,
    pub groups_per_batch: Option<usize>,
    pub degrade_fraction: Option<f32>,
    pub d_real_apart: Option<bool>,
}

/// A value's name as its flag takes it (`small`, `tpami`, `resize`…).
fn name(value: impl ValueEnum) -> Option<String> {
    value.to_possible_value().map(|v| v.get_name().to_owned())
}

/// The value of a flag's `name` (`None` when absent), refused when no such value exists.
fn parse<T: ValueEnum>(key: &str, name: &Option<String>) -> anyhow::Result<Option<T>> {
    name.as_deref()
        .map(|text| {
            T::from_str(text, false).map_err(|_| {
                anyhow::anyhow!(
                    "`{key} = \"{text}\"` is not one of its values (see drgan-studio train --help)"
                )
            })
        })
        .transpose()
}

impl RecipeFile {
    /// Reads a recipe file's text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim()))
    }

    /// The recipe file of every setting: the network, the data (when given) and the training
    /// settings; of the recipe, its name, and only the weights and choices that differ from
    /// that named recipe's (so that `--recipe` typed as well brings its own), except the
    /// learning rate, which is always written.
    pub fn of(
        preset: Preset,
        settings: &TrainSettings,
        architecture: Architecture,
        data: Option<&DataSource>,
    ) -> Self {
        let named = RecipeName::of(&settings.recipe, architecture).unwrap_or(RecipeName::Studio);
        let mut file = Self::every_setting(preset, settings, architecture, data);
        let base = Self::every_setting(
            preset,
            &TrainSettings {
                recipe: named.recipe(),
                ..settings.clone()
            },
            named.architecture(),
            data,
        );
        file.keep_what_differs_from(&base);
        file
    }

    /// The file of every setting, each weight written out.
    fn every_setting(
        preset: Preset,
        settings: &TrainSettings,
        architecture: Architecture,
        data: Option<&DataSource>,
    ) -> Self {
        let recipe = &settings.recipe;
        let (folder, synthetic) = match data {
            Some(DataSource::Folder(path)) => (Some(path.clone()), None),
            Some(DataSource::Synthetic(spec)) => (None, Some(spec)),
            None => (None, None),
        };
        let multi = settings.multi.as_ref();
        Self {
            preset: name(preset),
            data: folder,
            synthetic: synthetic.map(|s| s.identities),
            synthetic_seed: synthetic.map(|s| s.seed),
            lights: synthetic.map(|s| s.lights as u64),
            recipe: name(RecipeName::of(recipe, architecture).unwrap_or(RecipeName::Studio)),
            steps: Some(settings.steps),
            batch: Some(settings.batch_size as u64),
            lr: Some(settings.learning_rate),
            beta1: Some(settings.beta1),
            beta2: Some(settings.beta2),
            seed: Some(settings.seed),
            checkpoint_every: Some(settings.checkpoint_every),
            g_steps: Some(settings.balance.g_steps as u64),
            g_steps_when_d_strong: Some(settings.balance.g_steps_when_d_strong as u64),
            d_strong_accuracy: Some(settings.balance.d_strong_accuracy),
            flip: Some(settings.flip),
            test_fraction: Some(settings.test_fraction),
            cfp_two_bins: Some(settings.cfp_two_bins),
            eval_every: Some(settings.eval_every),
            device: name(settings.device),
            d_head: name(recipe.d_head),
            label_smoothing: Some(recipe.label_smoothing),
            instance_noise: Some(recipe.instance_noise),
            pose_weight: Some(recipe.pose_weight),
            identity_weight: Some(recipe.identity_weight),
            reconstruction_weight: Some(recipe.reconstruction_weight),
            own_pose_fraction: Some(recipe.own_pose_fraction),
            lr_decay_start: Some(recipe.lr_decay_start),
            pose_mismatch_weight: Some(recipe.pose_mismatch_weight),
            d_blur: Some(recipe.d_blur),
            d_augment: name(recipe.d_augment),
            d_warmup: Some(recipe.d_warmup),
            d_lr_factor: Some(recipe.d_lr_factor),
            pose_label_sigma: Some(recipe.pose_label_sigma),
            edge_weight: Some(recipe.edge_weight),
            perceptual_weight: Some(recipe.perceptual_weight),
            pose_teacher_weight: Some(recipe.pose_teacher_weight),
            pose_teacher_start: Some(recipe.pose_teacher_start),
            joint_d_batch: Some(recipe.joint_d_batch),
            upsample: name(architecture.upsample),
            pose_fake_class: Some(architecture.pose_fake_class),
            pose_projection: Some(architecture.pose_projection),
            pose_maps: Some(architecture.pose_maps),
            patch_critic: Some(architecture.patch_critic),
            multi: Some(multi.is_some()),
            images_per_id: multi.map(|m| m.images_per_id),
            groups_per_batch: multi.and_then(|m| m.groups_per_batch),
            degrade_fraction: multi.map(|m| m.degrade_fraction),
            d_real_apart: multi.map(|m| m.d_real_apart),
        }
    }

    /// Leaves out the recipe's weights and network choices equal to `base`'s.
    fn keep_what_differs_from(&mut self, base: &Self) {
        macro_rules! same_as_base {
            ($($field:ident),*) => {
                $(if self.$field == base.$field { self.$field = None; })*
            };
        }
        same_as_base!(
            d_head,
            label_smoothing,
            instance_noise,
            pose_weight,
            identity_weight,
            reconstruction_weight,
            own_pose_fraction,
            lr_decay_start,
            pose_mismatch_weight,
            d_blur,
            d_augment,
            d_warmup,
            d_lr_factor,
            pose_label_sigma,
            edge_weight,
            perceptual_weight,
            pose_teacher_weight,
            pose_teacher_start,
            joint_d_batch,
            upsample,
            pose_fake_class,
            pose_projection,
            pose_maps,
            patch_critic
        );
    }

    /// The file's text, with a header saying how to use it.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        let body = toml::to_string(self).context("writing the recipe file")?;
        Ok(format!(
            "# A DR-GAN Studio recipe: `drgan-studio train --config THIS_FILE --out RUN`, or Load recipe… in the\n\
             # Train view. Each key is a `train` flag without its dashes; a flag typed as well overrides it.\n{body}"
        ))
    }

    /// The file's settings as `(key, value)` pairs, in the file's order of fields, values as
    /// their flags take them (`true`/`false` for switches).
    pub fn pairs(&self) -> anyhow::Result<Vec<(String, String)>> {
        let table: toml::Table =
            toml::Table::try_from(self).context("reading the recipe's settings")?;
        Ok(table
            .into_iter()
            .map(|(key, value)| {
                let text = match value {
                    toml::Value::String(text) => text,
                    other => other.to_string(),
                };
                (key, text)
            })
            .collect())
    }

    /// The data source the file names, if any.
    pub fn data_source(&self) -> Option<DataSource> {
        match (&self.data, self.synthetic) {
            (Some(path), _) => Some(DataSource::Folder(path.clone())),
            (None, Some(identities)) => Some(DataSource::Synthetic(SynthSpec {
                identities,
                seed: self.synthetic_seed.unwrap_or(1),
                lights: self.lights.unwrap_or(2) as usize,
            })),
            (None, None) => None,
        }
    }

    /// The settings of `base` (and its preset and network choices) with the file's own laid
    /// over them: what the Train form shows after Load recipe….
    pub fn over(
        &self,
        preset: Preset,
        base: &TrainSettings,
        architecture: Architecture,
    ) -> anyhow::Result<(Preset, TrainSettings, Architecture)> {
        let mut settings = base.clone();
        let mut architecture = architecture;
        let named: Option<RecipeName> = parse("recipe", &self.recipe)?;
        if let Some(named) = named {
            settings.recipe = named.recipe();
            architecture = named.architecture();
            settings.learning_rate = named.learning_rate();
        }
        let set = |target: &mut f32, value: Option<f32>| {
            if let Some(value) = value {
                *target = value;
            }
        };
        let recipe = &mut settings.recipe;
        if let Some(head) = parse::<DHead>("d-head", &self.d_head)? {
            recipe.d_head = head;
        }
        set(&mut recipe.label_smoothing, self.label_smoothing);
        set(&mut recipe.instance_noise, self.instance_noise);
        set(&mut recipe.pose_weight, self.pose_weight);
        set(&mut recipe.identity_weight, self.identity_weight);
        set(
            &mut recipe.reconstruction_weight,
            self.reconstruction_weight,
        );
        set(&mut recipe.own_pose_fraction, self.own_pose_fraction);
        set(&mut recipe.lr_decay_start, self.lr_decay_start);
        set(&mut recipe.pose_mismatch_weight, self.pose_mismatch_weight);
        set(&mut recipe.d_lr_factor, self.d_lr_factor);
        set(&mut recipe.pose_label_sigma, self.pose_label_sigma);
        set(&mut recipe.edge_weight, self.edge_weight);
        set(&mut recipe.perceptual_weight, self.perceptual_weight);
        set(&mut recipe.pose_teacher_weight, self.pose_teacher_weight);
        set(&mut recipe.pose_teacher_start, self.pose_teacher_start);
        recipe.d_blur = self.d_blur.unwrap_or(recipe.d_blur);
        if let Some(augment) = parse::<DAugment>("d-augment", &self.d_augment)? {
            recipe.d_augment = augment;
        }
        recipe.d_warmup = self.d_warmup.unwrap_or(recipe.d_warmup);
        recipe.joint_d_batch = self.joint_d_batch.unwrap_or(recipe.joint_d_batch);
        recipe.validate()?;
        if let Some(upsample) = parse::<Upsample>("upsample", &self.upsample)? {
            architecture.upsample = upsample;
        }
        architecture.pose_fake_class = self.pose_fake_class.unwrap_or(architecture.pose_fake_class);
        architecture.pose_projection = self.pose_projection.unwrap_or(architecture.pose_projection);
        architecture.pose_maps = self.pose_maps.unwrap_or(architecture.pose_maps);
        architecture.patch_critic = self.patch_critic.unwrap_or(architecture.patch_critic);
        architecture.validate(&settings.recipe)?;
        settings.steps = self.steps.unwrap_or(settings.steps);
        settings.batch_size = self.batch.map_or(settings.batch_size, |b| b as usize);
        settings.learning_rate = self.lr.unwrap_or(settings.learning_rate);
        settings.beta1 = self.beta1.unwrap_or(settings.beta1);
        settings.beta2 = self.beta2.unwrap_or(settings.beta2);
        settings.seed = self.seed.unwrap_or(settings.seed);
        settings.checkpoint_every = self.checkpoint_every.unwrap_or(settings.checkpoint_every);
        settings.balance = Balance {
            g_steps: self
                .g_steps
                .map_or(settings.balance.g_steps, |g| g as usize),
            g_steps_when_d_strong: self
                .g_steps_when_d_strong
                .map_or(settings.balance.g_steps_when_d_strong, |g| g as usize),
            d_strong_accuracy: self
                .d_strong_accuracy
                .unwrap_or(settings.balance.d_strong_accuracy),
        };
        settings.flip = self.flip.unwrap_or(settings.flip);
        settings.test_fraction = self.test_fraction.unwrap_or(settings.test_fraction);
        settings.cfp_two_bins = self.cfp_two_bins.unwrap_or(settings.cfp_two_bins);
        settings.eval_every = self.eval_every.unwrap_or(settings.eval_every);
        if let Some(device) = parse::<DeviceChoice>("device", &self.device)? {
            settings.device = device;
        }
        let multi = self.multi.unwrap_or(settings.multi.is_some());
        let was = settings.multi.clone().unwrap_or(MultiImage {
            images_per_id: 6,
            degrade_fraction: 0.25,
            groups_per_batch: None,
            d_real_apart: false,
        });
        settings.multi = multi.then(|| MultiImage {
            images_per_id: self.images_per_id.unwrap_or(was.images_per_id),
            degrade_fraction: self.degrade_fraction.unwrap_or(was.degrade_fraction),
            groups_per_batch: self.groups_per_batch.or(was.groups_per_batch),
            d_real_apart: self.d_real_apart.unwrap_or(was.d_real_apart),
        });
        let preset = parse::<Preset>("preset", &self.preset)?.unwrap_or(preset);
        Ok((preset, settings, architecture))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_written_file_with_an_unknown_key_or_value_is_refused_by_name() {
        let error = RecipeFile::parse("batchsize = 3").unwrap_err().to_string();
        assert!(error.contains("batchsize"), "{error}");
        let file = RecipeFile::parse("preset = \"huge\"").expect("parses");
        let error = file
            .over(Preset::Tiny, &base(), RecipeName::Studio.architecture())
            .unwrap_err()
            .to_string();
        assert!(error.contains("preset = \"huge\""), "{error}");
    }

    fn base() -> TrainSettings {
        TrainSettings {
            steps: 10,
            batch_size: 4,
            learning_rate: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            seed: 0,
            checkpoint_every: 5,
            balance: Balance::default(),
            flip: false,
            test_fraction: 0.2,
            device: DeviceChoice::Cpu,
            cfp_two_bins: false,
            eval_every: 0,
            recipe: RecipeName::Studio.recipe(),
            multi: None,
        }
    }

    #[test]
    fn a_file_of_every_setting_reads_back_as_those_settings() {
        let mut settings = base();
        settings.recipe.pose_teacher_weight = 0.5;
        settings.multi = Some(MultiImage {
            images_per_id: 3,
            degrade_fraction: 0.1,
            groups_per_batch: Some(2),
            d_real_apart: true,
        });
        let architecture = Architecture {
            pose_maps: true,
            ..RecipeName::Studio.architecture()
        };
        let file = RecipeFile::of(Preset::Small, &settings, architecture, None);
        let back = RecipeFile::parse(&file.to_toml().expect("text")).expect("parses");
        assert_eq!(back, file);
        let (preset, read, read_architecture) = back
            .over(Preset::Tiny, &base(), RecipeName::Paper.architecture())
            .expect("applies");
        assert_eq!(
            (preset, read, read_architecture),
            (Preset::Small, settings, architecture)
        );
    }
}

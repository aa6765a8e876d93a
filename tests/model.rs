//! The networks: parameter counts of the paper preset, and gradients reaching every parameter.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use drgan_studio::model::codes::{labels, pose_one_hot, uniform_noise};
use drgan_studio::model::loss::{DHead, DTargets, discriminator_loss, edge_l1, generator_loss, pose_cross_entropy};
use drgan_studio::model::{Discriminator, Generator, ModelConfig, Preset};
use rand::SeedableRng;

#[test]
fn paper_preset_has_the_spec_parameter_counts() {
    let device = Device::flex();
    let config = ModelConfig::new(Preset::Paper, 200);
    let generator = Generator::new(&config, &device);
    let encoder = generator.encoder.num_params() as f64 / 1e6;
    let decoder = generator.decoder.num_params() as f64 / 1e6;
    // SPEC: encoder ≈ 2.9 M, decoder ≈ 7.3 M (FC alone ≈ 4.3 M) for Np = 9, Nz = 50.
    assert!((2.85..2.95).contains(&encoder), "encoder has {encoder:.3} M parameters");
    assert!((7.2..7.4).contains(&decoder), "decoder has {decoder:.3} M parameters");
    let discriminator = Discriminator::new(&config, &device).num_params() as f64 / 1e6;
    let head = 320.0 * (200.0 + 9.0 + 1.0) / 1e6;
    assert!((discriminator - encoder - head).abs() < 0.01, "D has {discriminator:.3} M parameters");
}

/// Collects the trainable parameters (BatchNorm running statistics excluded) that have no
/// gradient.
struct MissingGradients<'a> {
    grads: &'a GradientsParams,
    path: Vec<String>,
    missing: Vec<String>,
    checked: usize,
}

impl ModuleVisitor for MissingGradients<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_owned());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let name = self.path.join(".");
        if name.contains("running_") {
            return;
        }
        self.checked += 1;
        if self.grads.get::<D>(param.id).is_none() {
            self.missing.push(name);
        }
    }
}

fn assert_every_parameter_has_a_gradient(module: &impl Module, grads: &GradientsParams) {
    let mut check = MissingGradients { grads, path: Vec::new(), missing: Vec::new(), checked: 0 };
    module.visit(&mut check);
    assert!(check.checked > 40, "only {} parameters visited", check.checked);
    assert!(check.missing.is_empty(), "no gradient for {:?}", check.missing);
}

#[test]
fn backward_reaches_every_parameter_of_g_and_d() {
    let device = Device::flex().autodiff();
    let config = ModelConfig::new(Preset::Tiny, 4);
    let generator = Generator::new(&config, &device);
    let discriminator = Discriminator::new(&config, &device);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
    let real = Tensor::<4>::random([4, 3, 32, 32], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
    let identity = labels(&[0, 1, 2, 3], &device);
    let pose = labels(&[0, 4, 8, 2], &device);
    let requested = [3, 1, 7, 5];
    let fake = generator.forward(real.clone(), pose_one_hot(&requested, 9, &device), uniform_noise(&mut rng, 4, 50, &device));

    let targets = DTargets { identity: identity.clone(), pose, pose_sigma: 0.0, requested: labels(&requested, &device), mismatched: None };
    let d = discriminator_loss(
        discriminator.forward(real),
        discriminator.forward(fake.clone().detach()),
        targets,
        discriminator.fake_class(),
        9,
        DHead::Paper,
        0.0,
    );
    let d_grads = GradientsParams::from_grads(d.loss.backward(), &discriminator);
    assert_every_parameter_has_a_gradient(&discriminator, &d_grads);

    let g = generator_loss(discriminator.forward(fake), identity, labels(&requested, &device), DHead::Paper, 1.0);
    let g_grads = GradientsParams::from_grads(g.loss.backward(), &generator);
    assert_every_parameter_has_a_gradient(&generator, &g_grads);
}

#[test]
fn a_pose_projection_and_wrong_pose_reals_reach_every_parameter_of_d_and_g() {
    let device = Device::flex().autodiff();
    let config = ModelConfig { pose_projection: true, ..ModelConfig::new(Preset::Tiny, 4) };
    let generator = Generator::new(&config, &device);
    let discriminator = Discriminator::new(&config, &device);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    let real = Tensor::<4>::random([4, 3, 32, 32], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
    let identity = labels(&[0, 1, 2, 3], &device);
    let requested = [3, 1, 7, 5];
    let fake = generator.forward(real.clone(), pose_one_hot(&requested, 9, &device), uniform_noise(&mut rng, 4, 50, &device));
    let judged = discriminator.forward(real.clone());
    assert_eq!(judged.pose_projection.as_ref().map(|p| p.dims()), Some([4, 9]), "one projection column per pose bin");

    let targets = DTargets {
        identity: identity.clone(),
        pose: labels(&[0, 4, 8, 2], &device),
        pose_sigma: 0.0,
        requested: labels(&requested, &device),
        mismatched: Some((labels(&[1, 5, 0, 3], &device), 1.0)),
    };
    let without_mismatch = DTargets { mismatched: None, ..targets.clone() };
    let fake_judged = discriminator.forward(fake.clone().detach());
    let d = discriminator_loss(judged.clone(), fake_judged.clone(), targets, discriminator.fake_class(), 9, DHead::Tpami, 0.0);
    let d_without = discriminator_loss(judged, fake_judged, without_mismatch, discriminator.fake_class(), 9, DHead::Tpami, 0.0);
    let (with, without): (f32, f32) = (d.loss.clone().into_scalar(), d_without.loss.into_scalar());
    assert!(with > without, "calling wrong-pose reals fake adds a positive term ({with} against {without})");
    let d_grads = GradientsParams::from_grads(d.loss.backward(), &discriminator);
    assert_every_parameter_has_a_gradient(&discriminator, &d_grads);

    let g = generator_loss(discriminator.forward(fake), identity, labels(&requested, &device), DHead::Tpami, 1.0);
    let g_grads = GradientsParams::from_grads(g.loss.backward(), &generator);
    assert_every_parameter_has_a_gradient(&generator, &g_grads);
}

#[test]
fn a_patch_critic_judges_every_patch_and_reaches_every_parameter_of_d_and_g() {
    let device = Device::flex().autodiff();
    let config = ModelConfig { patch_critic: true, ..ModelConfig::new(Preset::Tiny, 4) };
    let generator = Generator::new(&config, &device);
    let discriminator = Discriminator::new(&config, &device);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(2);
    let real = Tensor::<4>::random([4, 3, 32, 32], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
    let identity = labels(&[0, 1, 2, 3], &device);
    let requested = [3, 1, 7, 5];
    let judged = discriminator.forward(real.clone().detach());
    assert_eq!(judged.patch_realness.map(|p| p.dims()), Some([4, 16 * 16]), "one logit per position of the 16×16 Conv23 map");

    // Each head's losses on a graph of their own (a backward pass consumes its graph).
    for head in [DHead::Paper, DHead::Tpami] {
        let fake = generator.forward(real.clone(), pose_one_hot(&requested, 9, &device), uniform_noise(&mut rng, 4, 50, &device));
        let judged = discriminator.forward(real.clone());
        let targets = DTargets { identity: identity.clone(), pose: labels(&[0, 4, 8, 2], &device), pose_sigma: 0.0, requested: labels(&requested, &device), mismatched: None };
        let d = discriminator_loss(judged.clone(), discriminator.forward(fake.clone().detach()), targets, discriminator.fake_class(), 9, head, 0.0);
        let d_grads = GradientsParams::from_grads(d.loss.backward(), &discriminator);
        assert_every_parameter_has_a_gradient(&discriminator, &d_grads);
        let g = generator_loss(discriminator.forward(fake.clone()), identity.clone(), labels(&requested, &device), head, 1.0);
        let g_grads = GradientsParams::from_grads(g.loss.backward(), &generator);
        assert_every_parameter_has_a_gradient(&generator, &g_grads);
    }
}

#[test]
fn spread_pose_labels_reward_a_prediction_that_knows_the_neighbouring_bins() {
    let device = Device::flex();
    let bins = labels(&[0, 4, 8], &device);
    let logits = random_logits([3, 10], &device);
    let hard: f32 = pose_cross_entropy(logits.clone(), bins.clone(), 0.0).into_scalar();
    let reference: f32 = burn::nn::loss::CrossEntropyLoss::new(None, &device).forward(logits, bins.clone()).into_scalar();
    assert!((hard - reference).abs() < 1e-6, "width 0 is the plain cross-entropy: {hard} against {reference}");
    // A Gaussian of width 1 over nine bins (and no target on a tenth, fake class): the loss is
    // lowest where the logits are the target's own log-probabilities, and a confident one-hot
    // prediction of the right bin costs more than that.
    let sigma = 1.0f32;
    let target = |bin: usize| -> Vec<f32> {
        let weights: Vec<f32> = (0..10).map(|k| if k < 9 { (-((k as f32 - bin as f32).powi(2)) / (2.0 * sigma * sigma)).exp() } else { 0.0 }).collect();
        let total: f32 = weights.iter().sum();
        weights.iter().map(|w| (w / total).max(1e-12).ln()).collect()
    };
    let matched: Vec<f32> = [0, 4, 8].iter().flat_map(|&bin| target(bin)).collect();
    let matched = Tensor::<2>::from_data(TensorData::new(matched, [3, 10]), &device);
    let one_hot: Vec<f32> = [0, 4, 8].iter().flat_map(|&bin| (0..10).map(move |k| if k == bin { 20.0 } else { 0.0 })).collect();
    let one_hot = Tensor::<2>::from_data(TensorData::new(one_hot, [3, 10]), &device);
    let (at_target, confident): (f32, f32) = (
        pose_cross_entropy(matched, bins.clone(), sigma).into_scalar(),
        pose_cross_entropy(one_hot, bins, sigma).into_scalar(),
    );
    assert!(at_target < confident, "the spread target's own distribution ({at_target}) beats a one-hot guess ({confident})");
}

#[test]
fn the_edge_term_sees_edges_only() {
    let device = Device::flex();
    let faces = Tensor::<4>::random([2, 3, 16, 16], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
    let edges = |other: Tensor<4>| -> f32 { edge_l1(other, faces.clone()).into_scalar() };
    assert_eq!(edges(faces.clone()), 0.0);
    assert!(edges(faces.clone().add_scalar(0.3)).abs() < 1e-6, "a change of brightness leaves the edges as they were");
    let blurred = drgan_studio::train::trainer::binomial_blur(faces.clone(), 1);
    let (blur, l1): (f32, f32) = (edges(blurred.clone()), (blurred - faces.clone()).abs().mean().into_scalar());
    assert!(blur > l1, "a blur costs more in edges ({blur}) than in pixels ({l1})");
}

#[test]
fn the_edge_term_of_a_single_pixel_is_zero_not_nan() {
    let device = Device::flex();
    let pixel = |value: f32| Tensor::<4>::full([2, 3, 1, 1], value, &device);
    assert_eq!(edge_l1(pixel(0.5), pixel(-0.5)).into_scalar::<f32>(), 0.0);
    // A one-pixel-wide column still has vertical edges.
    let column = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0], [1, 1, 2, 1]), &device);
    let flat = Tensor::<4>::zeros([1, 1, 2, 1], &device);
    assert_eq!(edge_l1(column, flat).into_scalar::<f32>(), 1.0);
}

fn random_logits(shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::random(shape, burn::tensor::Distribution::Normal(0.0, 1.0), device)
}

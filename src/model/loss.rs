//! The single-image DR-GAN losses of `SPEC.md`, as cross-entropy with equal weights, and the
//! accuracies that show how the game is going.

use burn::nn::loss::CrossEntropyLoss;
use burn::prelude::*;

use super::discriminator::Judgement;

/// D's loss and what it tells about D.
pub struct DiscriminatorLoss {
    /// CE(true identity, real) + CE(true pose, real) + CE("fake", generated).
    pub loss: Tensor<1>,
    /// Fraction of real images given their true identity.
    pub id_acc_real: Tensor<1>,
    /// Fraction of real images given their true pose.
    pub pose_acc_real: Tensor<1>,
    /// Fraction of generated images classed as fake.
    pub fake_acc: Tensor<1>,
}

/// G's loss and what it tells about G.
pub struct GeneratorLoss {
    /// CE(source identity, generated) + CE(requested pose, generated).
    pub loss: Tensor<1>,
    /// Fraction of generated images that D gives the source identity.
    pub id_acc: Tensor<1>,
    /// Fraction of generated images that D puts in the requested pose bin.
    pub pose_acc: Tensor<1>,
}

/// D's loss on a real batch (`identity`, `pose` labels) and a generated batch.
pub fn discriminator_loss(
    real: Judgement,
    fake: Judgement,
    identity: Tensor<1, Int>,
    pose: Tensor<1, Int>,
    fake_class: usize,
) -> DiscriminatorLoss {
    let device = identity.device();
    let ce = CrossEntropyLoss::new(None, &device);
    let [fakes, _] = fake.identity.dims();
    let fake_labels = Tensor::<1, Int>::full([fakes], fake_class as i64, &device);
    let loss = ce.forward(real.identity.clone(), identity.clone())
        + ce.forward(real.pose.clone(), pose.clone())
        + ce.forward(fake.identity.clone(), fake_labels.clone());
    DiscriminatorLoss {
        loss,
        id_acc_real: accuracy(real.identity, identity),
        pose_acc_real: accuracy(real.pose, pose),
        fake_acc: accuracy(fake.identity, fake_labels),
    }
}

/// G's loss: D should see the source identity and the requested pose in the generated batch.
pub fn generator_loss(
    fake: Judgement,
    source_identity: Tensor<1, Int>,
    requested_pose: Tensor<1, Int>,
) -> GeneratorLoss {
    let ce = CrossEntropyLoss::new(None, &source_identity.device());
    let loss = ce.forward(fake.identity.clone(), source_identity.clone())
        + ce.forward(fake.pose.clone(), requested_pose.clone());
    GeneratorLoss {
        loss,
        id_acc: accuracy(fake.identity, source_identity),
        pose_acc: accuracy(fake.pose, requested_pose),
    }
}

/// Fraction of rows whose arg-max equals the label, as a one-element tensor.
pub fn accuracy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [rows, _] = logits.dims();
    let predicted = logits.detach().argmax(1).reshape([rows]);
    predicted.equal(labels).float().mean()
}

//! The identity judge measures G and never teaches it: training steps (the losses, the pose
//! teacher, checkpoints) read no judge. Alone in its file, so that no other test of the same
//! process reads one meanwhile.

use burn::prelude::Device;
use drgan_studio::app::train::TrainForm;
use drgan_studio::data::FaceSet;
use drgan_studio::eval::judge;
use drgan_studio::model::Preset;
use drgan_studio::synth::SynthSpec;
use drgan_studio::train::run::plan;
use drgan_studio::train::{DataSource, Trainer};

#[test]
fn training_steps_never_read_the_identity_judge() {
    let spec = SynthSpec {
        identities: 6,
        seed: 3,
        lights: 1,
    };
    let faces = FaceSet::synthetic(spec.clone(), Default::default()).expect("faces");
    let mut settings = TrainForm::default().settings();
    settings.steps = 3;
    settings.batch_size = 4;
    settings.recipe.pose_teacher_weight = 1.0;
    let config = plan(Preset::Tiny, settings, DataSource::Synthetic(spec), &faces).expect("a plan");
    let before = judge::times_read();
    let mut trainer = Trainer::new(config, &faces, &Device::flex(), None).expect("a trainer");
    for _ in 0..3 {
        trainer.train_step().expect("a step");
    }
    trainer.flush().expect("flushed");
    assert_eq!(
        judge::times_read(),
        before,
        "a training step read the identity judge"
    );
}

//! On a GPU a step's numbers are read after the next step is queued. The bookkeeping around
//! that (every step's metrics written once, checkpoints at their steps with the metrics up to
//! them, a resume that continues) is checked here on the CPU, where the same code path can be
//! asked for.

use burn::prelude::Device;
use drgan_studio::data::formats::OpenOptions;
use drgan_studio::model::Preset;
use drgan_studio::synth::SynthSpec;
use drgan_studio::train::run::{Ended, open_faces, plan, resume, start, train_to_end};
use drgan_studio::train::{DataSource, RunDir};

mod common;

use common::settings;

#[test]
fn pipelined_steps_write_every_metric_once_and_checkpoint_at_their_steps() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("run"));
    let data = DataSource::Synthetic(SynthSpec { identities: 4, seed: 1, lights: 1 });
    let faces = open_faces(&data, &OpenOptions::default()).unwrap();
    let config = plan(Preset::Tiny, settings(7), data, &faces).unwrap();
    let mut opened = start(&run, config, &faces, &Device::flex(), None).unwrap();
    opened.trainer.set_pipelined(true).unwrap();
    let ended = train_to_end(&mut opened.trainer, &run, &opened.lock, || false, |_| {}, |_| {}).unwrap();
    assert_eq!(ended, Ended::Finished);
    let steps: Vec<u64> = run.read_metrics().unwrap().values.iter().map(|m| m.step).collect();
    assert_eq!(steps, (1..=7).collect::<Vec<_>>());
    assert_eq!(run.checkpoints(), vec![3, 6, 7]);
    for step in [3, 6, 7] {
        assert_eq!(run.read_state(step).unwrap().step, step);
    }
    drop(opened);

    let mut reopened = resume(&run, Some(9), &Device::flex()).unwrap();
    assert_eq!(reopened.resumed_from, Some(7));
    reopened.trainer.set_pipelined(true).unwrap();
    train_to_end(&mut reopened.trainer, &run, &reopened.lock, || false, |_| {}, |_| {}).unwrap();
    let steps: Vec<u64> = run.read_metrics().unwrap().values.iter().map(|m| m.step).collect();
    assert_eq!(steps, (1..=9).collect::<Vec<_>>());
}

#[test]
fn a_pipelined_run_asked_to_stop_checkpoints_the_step_it_reached() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("run"));
    let data = DataSource::Synthetic(SynthSpec { identities: 4, seed: 1, lights: 1 });
    let faces = open_faces(&data, &OpenOptions::default()).unwrap();
    let config = plan(Preset::Tiny, settings(50), data, &faces).unwrap();
    let mut opened = start(&run, config, &faces, &Device::flex(), None).unwrap();
    opened.trainer.set_pipelined(true).unwrap();
    let taken = std::cell::Cell::new(0);
    let ended = train_to_end(&mut opened.trainer, &run, &opened.lock, || taken.get() >= 5, |_| taken.set(taken.get() + 1), |_| {}).unwrap();
    let Ended::Stopped(step) = ended else { panic!("the run should stop early") };
    let steps: Vec<u64> = run.read_metrics().unwrap().values.iter().map(|m| m.step).collect();
    assert_eq!(steps, (1..=step).collect::<Vec<_>>(), "metrics up to the stopping step");
    assert_eq!(run.checkpoints().last(), Some(&step));
}

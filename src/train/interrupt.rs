//! A request to stop training early (Ctrl-C or SIGTERM on the command line), seen by the step
//! loop and by the work before a run's first step (the pose teacher's training), so that a
//! stop never waits for a minute of work whose result would not be kept.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the training in this process to stop.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// The error of work that ended because a stop was asked for before the run's first step.
#[derive(Debug, thiserror::Error)]
#[error("stopped by a signal before the first step")]
pub struct StoppedBeforeFirstStep;

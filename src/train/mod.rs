//! Training: the step loop, the G/D balance, sample grids and the run folder on disk.

pub mod augment;
pub mod interrupt;
pub mod pose_teacher;
pub mod recipe;
pub mod recipe_file;
pub mod run;
pub mod run_dir;
pub mod samples;
pub mod schedule;
pub mod trainer;

pub use run_dir::{DataSource, MultiImage, RunConfig, RunDir, StartedFrom, StepEval, StepMetrics, TrainSettings};
pub use recipe::{Architecture, DAugment, DHead, Recipe, RecipeName};
pub use schedule::Balance;
pub use trainer::{Diverged, Trainer};

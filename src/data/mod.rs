//! Face sets: reading every layout people have, preparing pixels for the model in the
//! background, splitting by identity.

pub mod align;
pub mod degrade;
pub mod faceset;
pub mod formats;
pub mod loader;
pub mod prepare;
pub mod split;

pub use faceset::{FaceSet, Format, ImageSource, Sample, SkipReport};
pub use loader::{Batch, BatchLoader, BatchPlan, LabelledImage};
pub use split::Split;

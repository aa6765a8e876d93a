//! Face sets: reading them from disk, preparing pixels for the model, splitting by identity.

pub mod faceset;
pub mod formats;
pub mod prepared;
pub mod prepare;
pub mod split;

pub use faceset::{FaceSet, ImageSource, Sample, SkipReport};
pub use prepared::{Batch, PreparedSet};
pub use split::Split;

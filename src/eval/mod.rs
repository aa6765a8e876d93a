//! Measures of how well a model keeps identity and obeys the pose code, and the evaluation of a
//! run that puts them together.

pub mod evaluate;
pub mod identification;
pub mod image_quality;
pub mod judge;
pub mod pose_classifier;
pub mod sharpness;

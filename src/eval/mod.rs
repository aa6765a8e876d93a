//! Measures of how well a model keeps identity and obeys the pose code.

pub mod image_quality;

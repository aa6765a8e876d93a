//! DR-GAN Studio: train and explore DR-GAN, a GAN that learns a pose-free identity feature and
//! redraws a face at any head pose.

pub mod app;
pub mod assets;
pub mod cli;
pub mod data;
pub mod device;
pub mod eval;
pub mod kernels;
pub mod model;
pub mod synth;
pub mod train;

//! The DR-GAN networks and losses of `SPEC.md`, on burn tensors only (no files, no threads).

pub mod architecture;
pub mod blocks;
pub mod codes;
pub mod config;
pub mod decoder;
pub mod discriminator;
pub mod encoder;
pub mod exchange;
pub mod finite;
pub mod generator;
pub mod loss;
pub mod rotator;
pub mod transfer;

pub use config::{ModelConfig, PoseBins, Preset, Upsample};
pub use discriminator::{Discriminator, Judgement};
pub use generator::{Generator, fuse};

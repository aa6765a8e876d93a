//! Sample grids: rows are test faces, columns the input and then the face redrawn at every pose
//! bin, most negative first. The same faces and noise every time, so grids of one run compare.

use burn::prelude::*;
use image::{GenericImage, RgbImage};
use rand::SeedableRng;
use rand_pcg::Pcg64;

use crate::data::LabelledImage;
use crate::data::loader::centred_batch;
use crate::data::prepare::from_chw;
use crate::model::codes::{pose_one_hot, uniform_noise};
use crate::model::{Generator, ModelConfig};

/// Rows in a sample grid (fewer when the test set has fewer identities).
pub const GRID_ROWS: usize = 6;

/// Picks one test image per identity (up to [`GRID_ROWS`]), cycling through non-frontal poses
/// so the grid shows rotation from several starting angles. Images that do not decode are
/// passed over.
pub fn grid_rows(test: &[LabelledImage], num_poses: usize, input_size: usize) -> Vec<LabelledImage> {
    let mut identities: Vec<usize> = test.iter().map(|image| image.class).collect();
    identities.sort_unstable();
    identities.dedup();
    identities
        .iter()
        .take(GRID_ROWS)
        .enumerate()
        .filter_map(|(row, &identity)| {
            let wanted = (row * 2 + 1) % num_poses;
            let mut candidates: Vec<&LabelledImage> = test.iter().filter(|image| image.class == identity).collect();
            candidates.sort_by_key(|image| image.bin != wanted);
            candidates
                .into_iter()
                .find(|image| centred_batch(std::slice::from_ref(*image), input_size).is_ok())
                .cloned()
        })
        .collect()
}

/// The sample grid of `generator` (an inference-mode model) on `test`; `None` when none of the
/// test images decodes.
pub fn grid(generator: &Generator, test: &[LabelledImage], config: &ModelConfig, seed: u64, device: &Device) -> anyhow::Result<Option<RgbImage>> {
    let size = config.image_size();
    let num_poses = config.num_poses();
    let rows = grid_rows(test, num_poses, size);
    if rows.is_empty() {
        return Ok(None);
    }
    let batch = centred_batch(&rows, size)?;
    let inputs = Tensor::<4>::from_data(TensorData::new(batch.pixels.clone(), [rows.len(), 3, size, size]), device);
    let features = generator.encode(inputs);
    let noise = uniform_noise(&mut Pcg64::seed_from_u64(seed ^ 0x6121D), rows.len(), config.noise_dim, device);
    let mut grid = RgbImage::new(((num_poses + 1) * size) as u32, (rows.len() * size) as u32);
    let plane = 3 * size * size;
    for (row, input) in batch.pixels.chunks(plane).enumerate() {
        grid.copy_from(&from_chw(input, size), 0, (row * size) as u32)?;
    }
    for bin in 0..num_poses {
        let code = pose_one_hot(&vec![bin; rows.len()], num_poses, device);
        let images = generator.decoder.forward(features.clone(), code, noise.clone());
        let pixels: Vec<f32> = images
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading generated images back: {e:?}"))?;
        for (row, image) in pixels.chunks(plane).enumerate() {
            grid.copy_from(&from_chw(image, size), ((bin + 1) * size) as u32, (row * size) as u32)?;
        }
    }
    Ok(Some(grid))
}

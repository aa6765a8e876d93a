//! Nearest-neighbour ×2 upsampling followed by a 3×3 convolution, computed without the
//! upsampled image. Output pixel `(2a + p, 2b + q)` reads only source rows `a + p − 1` and
//! `a + p`, and columns `b + q − 1` and `b + q`: each of the four output phases `(p, q)` is a
//! 2×2 convolution of the source, whose kernel sums the 3×3 taps that land on the same source
//! pixel. That is 4 multiply-adds per output pixel and channel pair instead of 9, with the same
//! result up to rounding (`tests/kernels.rs` compares it with burn's upsample + conv).

use gemm::Parallelism;

use super::cpu::{Geometry, Map, Mat, Scratch, Taps, matmul};

/// For output phase `p` along one axis, the 3×3 taps each of the two 2×2 taps sums: for even
/// outputs tap 0 reads the row above and taps 1 and 2 the same row; for odd outputs taps 0 and 1
/// read the same row and tap 2 the row below.
const COLLAPSE: [[&[usize]; 2]; 2] = [[&[0], &[1, 2]], [&[0, 1], &[2]]];

/// The 2×2 taps `(t, u)` of phase `(p, q)` and the 3×3 taps `(kh, kw)` each one sums.
fn collapsed(p: usize, q: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..2).flat_map(move |t| (0..2).flat_map(move |u| {
        COLLAPSE[p][t].iter().flat_map(move |&kh| COLLAPSE[q][u].iter().map(move |&kw| (t * 2 + u, kh * 3 + kw)))
    }))
}

/// The four phases' 2×2 kernels (`[co, ci, 2, 2]` each, phase `2p + q`) of the 3×3 kernel
/// `weight` (`[co, ci, 3, 3]`, `pairs = co·ci`).
pub(super) fn phase_weights(weight: &[f32], pairs: usize) -> [Vec<f32>; 4] {
    std::array::from_fn(|phase| {
        let mut out = vec![0.0f32; pairs * 4];
        for (small, large) in collapsed(phase / 2, phase % 2) {
            for pair in 0..pairs {
                out[pair * 4 + small] += weight[pair * 9 + large];
            }
        }
        out
    })
}

/// Adds the gradients of the four phase kernels onto the 3×3 kernel's `weight` gradient: the
/// adjoint of [`phase_weights`].
pub(super) fn add_phase_gradients(phases: &[Vec<f32>; 4], pairs: usize, weight: &mut [f32]) {
    for (phase, gradient) in phases.iter().enumerate() {
        for (small, large) in collapsed(phase / 2, phase % 2) {
            for pair in 0..pairs {
                weight[pair * 9 + large] += gradient[pair * 4 + small];
            }
        }
    }
}

/// One image's source size and the block's channels.
#[derive(Clone, Copy)]
pub(super) struct Dims {
    /// Source channels.
    pub ci: usize,
    /// Output channels.
    pub co: usize,
    /// Source height.
    pub h: usize,
    /// Source width.
    pub w: usize,
}

/// The im2col view of phase `2p + q`: a 2×2 convolution over the source, one kernel position
/// per source pixel.
fn phase_geometry(phase: usize, dims: Dims) -> Geometry {
    Geometry { rows: Taps::new(Map::Phase(phase / 2), dims.h, dims.h), cols: Taps::new(Map::Phase(phase % 2), dims.w, dims.w) }
}

/// For a tile of source rows `rows` of phase `phase`: each value's place in the tile
/// (`co × rows·w`, channel-major) and in the output image (`co × 2h × 2w`).
fn phase_places(phase: usize, dims: Dims, rows: std::ops::Range<usize>) -> impl Iterator<Item = (usize, usize)> {
    let (width, w2) = (rows.len() * dims.w, 2 * dims.w);
    (0..dims.co).flat_map(move |c| {
        rows.clone().enumerate().flat_map(move |(i, a)| {
            let (tile, out) = (c * width + i * dims.w, (c * 2 * dims.h + 2 * a + phase / 2) * w2 + phase % 2);
            (0..dims.w).map(move |b| (tile + b, out + 2 * b))
        })
    })
}

/// `z = conv3×3(upsample×2(x))` for one image: `x` is `ci × h × w`, `z` is `co × 2h × 2w`,
/// `phases` from [`phase_weights`] (or the rows of some of their output channels, `co` of them).
/// `epilogue(channel, values)` is applied to each tile's outputs of each channel.
pub(super) fn forward_image(x: &[f32], dims: Dims, phases: [&[f32]; 4], z: &mut [f32], scratch: &mut Scratch, epilogue: impl Fn(usize, &mut [f32])) {
    let Dims { ci, co, w, .. } = dims;
    for (phase, kernel) in phases.iter().enumerate() {
        let geometry = phase_geometry(phase, dims);
        let tile = geometry.tile_rows(ci) * w;
        let col = Scratch::sized(&mut scratch.col, ci * 4 * tile);
        let values = Scratch::sized(&mut scratch.values, co * tile);
        for rows in geometry.tiles(ci) {
            let width = rows.len() * w;
            geometry.im2col(x, ci, rows.clone(), col);
            matmul(values, co, width, ci * 4, false, Mat::rows(kernel, ci * 4), Mat::rows(col, width), Parallelism::None);
            for (c, channel) in values.chunks_mut(width).take(co).enumerate() {
                epilogue(c, channel);
            }
            for (tile, out) in phase_places(phase, dims, rows) {
                z[out] = values[tile];
            }
        }
    }
}

/// The gradients of one image's `x` (added onto `dx`) and of the phase kernels (added onto
/// `dphases`), given `dz`, the gradient of [`forward_image`]'s output.
pub(super) fn backward_image(
    x: &[f32],
    dims: Dims,
    phases: &[Vec<f32>; 4],
    dz: &[f32],
    mut dx: Option<&mut [f32]>,
    mut dphases: Option<&mut [Vec<f32>; 4]>,
    par: Parallelism,
) {
    let Dims { ci, co, w, .. } = dims;
    for (phase, kernel) in phases.iter().enumerate() {
        let geometry = phase_geometry(phase, dims);
        let tile = geometry.tile_rows(ci) * w;
        let (mut col, mut dz_phase) = (vec![0.0f32; ci * 4 * tile], vec![0.0f32; co * tile]);
        for rows in geometry.tiles(ci) {
            let width = rows.len() * w;
            for (tile, out) in phase_places(phase, dims, rows.clone()) {
                dz_phase[tile] = dz[out];
            }
            let dz_tile = Mat::rows(&dz_phase, width);
            if let Some(dphases) = dphases.as_deref_mut() {
                geometry.im2col(x, ci, rows.clone(), &mut col);
                matmul(&mut dphases[phase], co, ci * 4, width, true, dz_tile, Mat::transposed(&col, width), par);
            }
            if let Some(dx) = dx.as_deref_mut() {
                matmul(&mut col, ci * 4, width, co, false, Mat::transposed(kernel, ci * 4), dz_tile, par);
                geometry.col2im(&col, ci, rows, dx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_kernels_sum_every_3x3_tap_once_per_phase() {
        let weight: Vec<f32> = (0..9).map(|i| (1 << i) as f32).collect();
        let phases = phase_weights(&weight, 1);
        for phase in &phases {
            assert_eq!(phase.iter().sum::<f32>(), 511.0, "each phase reads all nine taps once");
        }
        // Even rows and columns: the top-left tap alone, and the other eight shared out.
        assert_eq!(phases[0], vec![1.0, 2.0 + 4.0, 8.0 + 64.0, 16.0 + 32.0 + 128.0 + 256.0]);
        let mut gradient = vec![0.0f32; 9];
        add_phase_gradients(&[vec![1.0; 4], vec![1.0; 4], vec![1.0; 4], vec![1.0; 4]], 1, &mut gradient);
        assert_eq!(gradient, vec![4.0; 9], "the adjoint reaches every tap from every phase");
    }
}

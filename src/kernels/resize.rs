//! Nearest-neighbour ×2 upsampling followed by a 3×3 convolution, computed without the
//! upsampled image. Output pixel `(2a + p, 2b + q)` reads only source rows `a + p − 1` and
//! `a + p`, and columns `b + q − 1` and `b + q`: each of the four output phases `(p, q)` is a
//! 2×2 convolution of the source, whose kernel sums the 3×3 taps that land on the same source
//! pixel. That is 4 multiply-adds per output pixel and channel pair instead of 9, with the same
//! result up to rounding (`tests/kernels.rs` compares it with burn's upsample + conv).
//!
//! No im2col: the source's shifted rows ([`super::same`]: each row copied at column offsets −1,
//! 0 and +1, one row of margin above and below) are written once per tile and read by all four
//! phases, since phase `(p, q)`'s kernel row `t` is shifts `q` and `q + 1` read from row `p + t`
//! on — a matrix with a fixed row stride. Each source value is copied 3 times instead of 16, and
//! each phase's outputs are then written into their places in the output. The backward pass
//! reads the same rows for the kernels' gradient, and for the input gradient takes each phase
//! of the output gradient, shifted the other way, through the transposed kernels straight into
//! the input gradient (no col2im).

use gemm::Parallelism;

use super::cpu::{Mat, Scratch, TILE_FLOATS, matmul, matmul_into, row_tiles};
use super::same;

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
fn phase_weights(weight: &[f32], pairs: usize) -> [Vec<f32>; 4] {
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
fn add_phase_gradients(phases: &[Vec<f32>; 4], pairs: usize, weight: &mut [f32]) {
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

/// The phase kernels of the 3×3 kernel `weight` (`[co, ci, 3, 3]`) arranged for products with
/// [`super::same`]'s shifted rows: for phase `2p + q` and each 2×2 kernel row `t`, a
/// `co × 2·ci` matrix with columns (kernel column `u`, input channel).
pub(super) fn row_weights(weight: &[f32], co: usize, ci: usize) -> [Vec<f32>; 4] {
    let phases = phase_weights(weight, co * ci);
    std::array::from_fn(|phase| {
        let mut out = vec![0.0f32; 2 * co * 2 * ci];
        for_each_row_entry(co, ci, |row, kernel| out[row] = phases[phase][kernel]);
        out
    })
}

/// Adds the gradients of [`row_weights`]' matrices onto the 3×3 kernel's `weight` gradient.
pub(super) fn add_row_gradients(rows: &[Vec<f32>; 4], co: usize, ci: usize, weight: &mut [f32]) {
    let phases = std::array::from_fn(|phase| {
        let mut out = vec![0.0f32; co * ci * 4];
        for_each_row_entry(co, ci, |row, kernel| out[kernel] = rows[phase][row]);
        out
    });
    add_phase_gradients(&phases, co * ci, weight);
}

/// Calls `f(row, kernel)` for each entry of one phase's [`row_weights`] matrices: `row` its
/// index there, `kernel` its index in the phase kernel `[co, ci, 2, 2]`.
fn for_each_row_entry(co: usize, ci: usize, mut f: impl FnMut(usize, usize)) {
    for t in 0..2 {
        for o in 0..co {
            for u in 0..2 {
                for c in 0..ci {
                    f(((t * co + o) * 2 + u) * ci + c, (o * ci + c) * 4 + t * 2 + u);
                }
            }
        }
    }
}

/// The phase kernels arranged for the input gradient: for phase `2p + q` and each kernel row
/// `t`, a `ci × 2·co` matrix with columns (kernel column `u`, output channel).
pub(super) fn adjoint_weights(weight: &[f32], co: usize, ci: usize) -> [Vec<f32>; 4] {
    let phases = phase_weights(weight, co * ci);
    std::array::from_fn(|phase| {
        let mut out = vec![0.0f32; 2 * ci * 2 * co];
        for t in 0..2 {
            for c in 0..ci {
                for u in 0..2 {
                    for o in 0..co {
                        out[((t * ci + c) * 2 + u) * co + o] = phases[phase][(o * ci + c) * 4 + t * 2 + u];
                    }
                }
            }
        }
        out
    })
}

/// The shifted rows phase `(p, q)`'s kernel row `t` reads: output `(2a + p, 2b + q)` reads
/// source row `a + p + t − 1` (the shifted rows' row `a + p + t`, counting their margin row)
/// and columns `b + q − 1` and `b + q` (shifts `q` and `q + 1`, `2·ci` planes in a row).
fn phase_rows(shifted: &[f32], phase: usize, t: usize, (ci, w, span): (usize, usize, usize)) -> &[f32] {
    let (p, q) = (phase / 2, phase % 2);
    &shifted[q * ci * span + (p + t) * w..]
}

/// Writes one phase's values of source rows `rows` (`co` planes of `rows.len() × w`) into
/// their places in the output image `z` (`co × 2h × 2w`).
fn interleave(values: &[f32], co: usize, (h, w): (usize, usize), rows: std::ops::Range<usize>, phase: usize, z: &mut [f32]) {
    let (p, q) = (phase / 2, phase % 2);
    let width = rows.len() * w;
    for o in 0..co {
        for (i, line) in values[o * width..][..width].chunks_exact(w).enumerate() {
            let row = &mut z[(o * 2 * h + 2 * (rows.start + i) + p) * 2 * w..][..2 * w];
            let (pairs, _) = row.as_chunks_mut::<2>();
            pairs.iter_mut().zip(line).for_each(|(pair, &v)| pair[q] = v);
        }
    }
}

/// `z = conv3×3(upsample×2(x))` for one image's output channels `channels`: `x` is
/// `ci × h × w`, `z` those channels' planes of `2h × 2w`, `weights` from [`row_weights`] (`co`
/// output channels in all). `epilogue(j, values)` is applied to each tile's outputs of channel
/// `channels.start + j`.
pub(super) fn forward_image(x: &[f32], dims: Dims, weights: &[Vec<f32>; 4], channels: std::ops::Range<usize>, z: &mut [f32], scratch: &mut Scratch, epilogue: impl Fn(usize, &mut [f32])) {
    let Dims { ci, co, h, w } = dims;
    let count = channels.len();
    let Scratch { col, values, .. } = scratch;
    same::for_each_tile(x, (ci, h, w), col, |rows, shifted, span| {
        let width = rows.len() * w;
        let values = Scratch::sized(values, count * width);
        for (phase, kernel) in weights.iter().enumerate() {
            for t in 0..2 {
                let a = Mat::rows(&kernel[(t * co + channels.start) * 2 * ci..(t * co + channels.end) * 2 * ci], 2 * ci);
                let b = Mat::strided(phase_rows(shifted, phase, t, (ci, w, span)), span, 1);
                matmul(values, count, width, 2 * ci, t > 0, a, b, Parallelism::None);
            }
            for (j, channel) in values.chunks_mut(width).enumerate() {
                epilogue(j, channel);
            }
            interleave(values, count, (h, w), rows.clone(), phase, z);
        }
    });
}

/// Writes phase `(p, q)` of the output gradient `dz` (`co × 2h × 2w`) for source rows `rows`,
/// as the input gradient's products read it, into `buffer`: `2·co` planes (`u`, channel `o`) of
/// `rows.len() + 2` rows of `w`; row `i` is the phase's row `rows.start + i − 1` (zero outside)
/// moved by the column shift `q + u − 1` (column `b` holds the phase's column `b − q − u + 1`).
fn gradient_rows(dz: &[f32], (co, h, w): (usize, usize, usize), rows: std::ops::Range<usize>, phase: usize, buffer: &mut [f32]) {
    let (p, q) = (phase / 2, phase % 2);
    let span = (rows.len() + 2) * w;
    for (index, plane) in buffer.chunks_exact_mut(span).take(2 * co).enumerate() {
        let (u, o) = (index / co, index % co);
        for (i, out) in plane.chunks_exact_mut(w).enumerate() {
            let Some(a) = (rows.start + i).checked_sub(1).filter(|&a| a < h) else {
                out.fill(0.0);
                continue;
            };
            let (pairs, _) = dz[(o * 2 * h + 2 * a + p) * 2 * w..][..2 * w].as_chunks::<2>();
            match q + u {
                0 => {
                    out[..w - 1].iter_mut().zip(&pairs[1..]).for_each(|(v, pair)| *v = pair[q]);
                    out[w - 1] = 0.0;
                }
                1 => out.iter_mut().zip(pairs).for_each(|(v, pair)| *v = pair[q]),
                _ => {
                    out[0] = 0.0;
                    out[1..].iter_mut().zip(pairs).for_each(|(v, pair)| *v = pair[q]);
                }
            }
        }
    }
}

/// Buffers [`backward_image`] reuses from image to image.
#[derive(Default)]
pub(super) struct BackwardScratch {
    shifted: Vec<f32>,
    gradient: Vec<f32>,
}

/// The gradients of one image's `x` (written into `dx`, which must start zeroed) and of the
/// matrices of [`row_weights`] (added onto `dweights`), given `dz`, the gradient of
/// [`forward_image`]'s output, and (for `dx`) the weights of [`adjoint_weights`].
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_image(
    x: &[f32],
    dims: Dims,
    adjoint: Option<&[Vec<f32>; 4]>,
    dz: &[f32],
    mut dx: Option<&mut [f32]>,
    mut dweights: Option<&mut [Vec<f32>; 4]>,
    scratch: &mut BackwardScratch,
    par: Parallelism,
) {
    let Dims { ci, co, h, w } = dims;
    let tile = (TILE_FLOATS / ((3 * ci + 2 * co) * w).max(1)).saturating_sub(2).clamp(1, h.max(1));
    for rows in row_tiles(h, tile) {
        let (span, width) = ((rows.len() + 2) * w, rows.len() * w);
        let shifted = Scratch::sized(&mut scratch.shifted, 3 * ci * span);
        if dweights.is_some() {
            same::shifted_rows(x, ci, h, w, rows.clone(), shifted);
        }
        let gradient = Scratch::sized(&mut scratch.gradient, 2 * co * span);
        for phase in 0..4 {
            let (p, q) = (phase / 2, phase % 2);
            gradient_rows(dz, (co, h, w), rows.clone(), phase, gradient);
            if let Some(dweights) = dweights.as_deref_mut() {
                // The phase's own output gradient: the unshifted planes (u = 1 − q), from row 1.
                let dz_phase = Mat::strided(&gradient[(1 - q) * co * span + w..], span, 1);
                for t in 0..2 {
                    let b = Mat::strided(phase_rows(shifted, phase, t, (ci, w, span)), 1, span);
                    matmul_into(&mut dweights[phase][t * co * 2 * ci..], 2 * ci, co, 2 * ci, width, true, dz_phase, b, par);
                }
            }
            if let (Some(dx), Some(adjoint)) = (dx.as_deref_mut(), adjoint) {
                // Source row a′ receives from the phase's row a′ − p − t + 1.
                for t in 0..2 {
                    let a = Mat::rows(&adjoint[phase][t * ci * 2 * co..(t + 1) * ci * 2 * co], 2 * co);
                    let b = Mat::strided(&gradient[(2 - p - t) * w..], span, 1);
                    matmul_into(&mut dx[rows.start * w..], h * w, ci, width, 2 * co, phase > 0 || t > 0, a, b, par);
                }
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

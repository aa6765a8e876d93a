//! The stride-1 3×3 convolution forward with a third of im2col's copying. im2col writes every
//! input value nine times, once per tap. Here each input row is written three times instead,
//! shifted by one column left, not at all and one column right (`kw`), into a buffer that
//! keeps one row of margin above and below the tile: the rows a tap `kh` reads are then the same
//! buffer one row further down, a matrix with a fixed row stride that the matrix product reads
//! in place. The convolution becomes three products, one per `kh`, each over `3·ci` values.
//!
//! The backward pass reads the same shifted rows: the input gradient is the stride-1
//! convolution of the output gradient with the flipped, transposed kernel
//! ([`adjoint_row_weights`]), and the weight gradient is three products of the output gradient
//! with the input's shifted rows ([`weight_grad_image`]). Neither builds an im2col matrix nor
//! scatters one back (col2im).

use gemm::Parallelism;

use super::cpu::{Mat, Scratch, matmul_into, row_tiles};

/// The weight `[co, ci, 3, 3]` regrouped as three `co × 3·ci` matrices, one per kernel row
/// `kh`, columns ordered (`kw`, input channel) as the shifted rows' planes are.
pub(super) fn row_weights(weight: &[f32], co: usize, ci: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; 3 * co * ci * 3];
    for kh in 0..3 {
        for o in 0..co {
            for c in 0..ci {
                for kw in 0..3 {
                    out[((kh * co + o) * 3 + kw) * ci + c] = weight[((o * ci + c) * 3 + kh) * 3 + kw];
                }
            }
        }
    }
    out
}

/// The inverse of [`row_weights`]: a gradient in kernel-row order back in `[co, ci, 3, 3]`.
pub(super) fn weight_from_rows(rows: &[f32], co: usize, ci: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; co * ci * 9];
    for kh in 0..3 {
        for o in 0..co {
            for c in 0..ci {
                for kw in 0..3 {
                    out[((o * ci + c) * 3 + kh) * 3 + kw] = rows[((kh * co + o) * 3 + kw) * ci + c];
                }
            }
        }
    }
    out
}

/// The row weights ([`row_weights`]) of the convolution that maps an output gradient to the
/// input gradient: `W'[c, o, kh, kw] = W[o, c, 2 − kh, 2 − kw]`, `ci` outputs from `co` inputs.
pub(super) fn adjoint_row_weights(weight: &[f32], co: usize, ci: usize) -> Vec<f32> {
    let mut flipped = vec![0.0f32; co * ci * 9];
    for o in 0..co {
        for c in 0..ci {
            for k in 0..9 {
                flipped[(c * co + o) * 9 + 8 - k] = weight[(o * ci + c) * 9 + k];
            }
        }
    }
    row_weights(&flipped, ci, co)
}

/// Output rows per tile, so that a tile's shifted rows (`3·ci` planes of the tile's rows plus
/// two) stay about [`super::cpu::TILE_FLOATS`].
pub(super) fn tile_rows(ci: usize, h: usize, w: usize) -> usize {
    (super::cpu::TILE_FLOATS / (3 * ci * w).max(1)).saturating_sub(2).clamp(1, h.max(1))
}

/// Writes output rows `rows` of every input channel's three shifted copies into `buffer`
/// (`3·ci` planes of `rows.len() + 2` rows of `w`): plane `kw·ci + c`, row `i` holds input row
/// `rows.start + i − 1` of channel `c` read at column offset `kw − 1`, zero outside the image.
/// The planes of one shift are consecutive, so any run of them is a matrix with a fixed row
/// stride ([`super::resize`] reads two shifts at a time).
pub(super) fn shifted_rows(x: &[f32], ci: usize, h: usize, w: usize, rows: std::ops::Range<usize>, buffer: &mut [f32]) {
    let span = rows.len() + 2;
    for (plane, out) in buffer.chunks_exact_mut(span * w).take(ci * 3).enumerate() {
        let (kw, c) = (plane / ci, plane % ci);
        for (i, out) in out.chunks_exact_mut(w).enumerate() {
            let source = (rows.start + i).checked_sub(1).filter(|&r| r < h);
            let Some(r) = source else {
                out.fill(0.0);
                continue;
            };
            let line = &x[(c * h + r) * w..][..w];
            match kw {
                0 => {
                    out[0] = 0.0;
                    out[1..].copy_from_slice(&line[..w - 1]);
                }
                1 => out.copy_from_slice(line),
                _ => {
                    out[..w - 1].copy_from_slice(&line[1..]);
                    out[w - 1] = 0.0;
                }
            }
        }
    }
}

/// One image's output channels `channels` (`z`: those channels' `h × w` planes) of the stride-1
/// convolution of `x` (`ci × h × w`), with `weights` from [`row_weights`] (`co` output channels
/// in all); `epilogue(j, values)` is applied to each tile's outputs of channel `channels.start + j`.
/// Each matrix product uses `parallelism`.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_image(
    x: &[f32],
    (ci, h, w): (usize, usize, usize),
    weights: &[f32],
    co: usize,
    channels: std::ops::Range<usize>,
    z: &mut [f32],
    buffer: &mut Vec<f32>,
    parallelism: Parallelism,
    epilogue: impl Fn(usize, &mut [f32]),
) {
    let count = channels.len();
    for_each_tile(x, (ci, h, w), buffer, |rows, shifted, span| {
        let (start, width) = (rows.start * w, rows.len() * w);
        for kh in 0..3 {
            let a = Mat::rows(&weights[(kh * co + channels.start) * ci * 3..(kh * co + channels.end) * ci * 3], ci * 3);
            let b = Mat::strided(&shifted[kh * w..], span, 1);
            matmul_into(&mut z[start..], h * w, count, width, ci * 3, kh > 0, a, b, parallelism);
        }
        for j in 0..count {
            epilogue(j, &mut z[j * h * w + start..][..width]);
        }
    });
}

/// Adds one image's weight gradient, in kernel-row order (`3 × co × 3·ci`, as
/// [`row_weights`]), onto `grad`: for each `kh`, the output gradient `dz` (`co × h × w`) times
/// the transpose of the input's shifted rows that tap row reads. Each product uses `parallelism`.
pub(super) fn weight_grad_image(x: &[f32], (ci, h, w): (usize, usize, usize), dz: &[f32], co: usize, grad: &mut [f32], buffer: &mut Vec<f32>, parallelism: Parallelism) {
    for_each_tile(x, (ci, h, w), buffer, |rows, shifted, span| {
        let (start, width) = (rows.start * w, rows.len() * w);
        let a = Mat::strided(&dz[start..], h * w, 1);
        for kh in 0..3 {
            let b = Mat::strided(&shifted[kh * w..], 1, span);
            matmul_into(&mut grad[kh * co * ci * 3..], ci * 3, co, ci * 3, width, true, a, b, parallelism);
        }
    });
}

/// Calls `f(rows, shifted, span)` for each tile of output rows, with the tile's shifted rows
/// of `x` ([`shifted_rows`]: `3·ci` planes `span` floats apart) in `buffer`.
pub(super) fn for_each_tile(x: &[f32], (ci, h, w): (usize, usize, usize), buffer: &mut Vec<f32>, mut f: impl FnMut(std::ops::Range<usize>, &[f32], usize)) {
    for rows in row_tiles(h, tile_rows(ci, h, w)) {
        let span = (rows.len() + 2) * w;
        let shifted = Scratch::sized(buffer, ci * 3 * span);
        shifted_rows(x, ci, h, w, rows.clone(), shifted);
        f(rows, shifted, span);
    }
}

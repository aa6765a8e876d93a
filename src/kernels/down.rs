//! The stride-2 3×3 convolution (padding 1) on the input's parity planes, without im2col.
//!
//! Output `(oh, ow)` reads input rows `2·oh − 1`, `2·oh` and `2·oh + 1` and the same columns.
//! Split by parity, row `2·oh` is row `oh` of the even rows, and rows `2·oh ± 1` are rows
//! `oh − 1` and `oh` of the odd rows; the same holds for columns. So each input row is written
//! out as three rows of half width — its odd columns shifted one place right (tap `kw` 0), its
//! even columns (tap 1), its odd columns (tap 2) — into two buffers, one for the even input rows
//! and one for the odd ones, each with a row of margin above. The rows tap `kh` reads are then one
//! buffer read from a fixed row on, a matrix with a fixed row stride, as in [`super::same`]:
//! three products, one per `kh`, over `3·ci` values each. Each input value is copied 1.5 times
//! instead of im2col's 2.25, with no strided scalar gather.
//!
//! The weight gradient is the three products of the output gradient with the same buffers
//! transposed. The input gradient is computed per parity of the input position: an even row
//! receives from tap row 1 only, an odd row from tap rows 0 (one output row down) and 2;
//! likewise for columns. Each of the four parity planes is therefore one or two products of the
//! weight with the output gradient and its copy shifted one column left, read from a fixed row
//! on, and the planes are interleaved into the input gradient. No col2im.
//!
//! Output sizes are `h / 2` and `w / 2` (the model's sizes are even): an odd last row or column
//! of the input is never read and gets no gradient.

use gemm::Parallelism;

use super::cpu::{Mat, Scratch, TILE_FLOATS, matmul_into, row_tiles};

/// For tap row `kh`: the buffer (row parity) it reads and the buffer row its first output row
/// reads (each buffer has one row of margin above).
const TAP_ROWS: [(usize, usize); 3] = [(1, 0), (0, 1), (1, 1)];

/// One image's input channels, height and width.
pub(super) type Dims = (usize, usize, usize);

/// Output rows per tile, so that the tile's two buffers (`6·ci` rows of half width per output
/// row) stay about [`TILE_FLOATS`].
fn tile_rows(ci: usize, out_h: usize, out_w: usize) -> usize {
    (TILE_FLOATS / (6 * ci * out_w).max(1)).saturating_sub(1).clamp(1, out_h.max(1))
}

/// Writes the parity rows of `x` (`ci × h × w`) for output rows `rows` into `buffer`: two
/// buffers (input row parity 0 and 1) of `3·ci` planes of `rows.len() + 1` rows of `w / 2`, one
/// after another. Buffer `ρ`, plane `kw·ci + c`, row `i` holds input row
/// `2·(rows.start + i − 1) + ρ` of channel `c` at columns `2·ow + kw − 1`, zero outside.
fn parity_rows(x: &[f32], (ci, h, w): Dims, rows: std::ops::Range<usize>, buffer: &mut [f32]) {
    let out_w = w / 2;
    let span = (rows.len() + 1) * out_w;
    for (index, plane) in buffer.chunks_exact_mut(span).take(2 * ci * 3).enumerate() {
        let (parity, kw, c) = (index / (3 * ci), index / ci % 3, index % ci);
        for (i, out) in plane.chunks_exact_mut(out_w).enumerate() {
            let source = (2 * (rows.start + i) + parity).checked_sub(2).filter(|&r| r < h);
            let Some(r) = source else {
                out.fill(0.0);
                continue;
            };
            let line = &x[(c * h + r) * w..][..2 * out_w];
            let (pairs, _) = line.as_chunks::<2>();
            match kw {
                0 => {
                    out[0] = 0.0;
                    out[1..].iter_mut().zip(pairs).for_each(|(o, pair)| *o = pair[1]);
                }
                1 => out.iter_mut().zip(pairs).for_each(|(o, pair)| *o = pair[0]),
                _ => out.iter_mut().zip(pairs).for_each(|(o, pair)| *o = pair[1]),
            }
        }
    }
}

/// Calls `f(rows, buffers, span)` for each tile of output rows, with the tile's parity rows of
/// `x` ([`parity_rows`]; planes `span` floats apart, the odd rows' buffer `3·ci·span` after the
/// even rows') in `buffer`.
fn for_each_tile(x: &[f32], dims: Dims, buffer: &mut Vec<f32>, mut f: impl FnMut(std::ops::Range<usize>, &[f32], usize)) {
    let (ci, h, w) = dims;
    let (out_h, out_w) = (h / 2, w / 2);
    for rows in row_tiles(out_h, tile_rows(ci, out_h, out_w)) {
        let span = (rows.len() + 1) * out_w;
        let buffers = Scratch::sized(buffer, 2 * ci * 3 * span);
        parity_rows(x, dims, rows.clone(), buffers);
        f(rows, buffers, span);
    }
}

/// The matrix of shifted parity rows tap row `kh` reads, `3·ci` rows (or columns, transposed).
fn tap_rows(buffers: &[f32], kh: usize, ci: usize, span: usize, out_w: usize) -> &[f32] {
    let (parity, first) = TAP_ROWS[kh];
    &buffers[parity * 3 * ci * span + first * out_w..]
}

/// One image's output channels `channels` (`z`: those channels' `h/2 × w/2` planes) of the
/// stride-2 convolution of `x` (`ci × h × w`), with `weights` from [`super::same::row_weights`]
/// (`co` output channels in all); `epilogue(j, values)` is applied to each tile's outputs of
/// channel `channels.start + j`. Each product uses `parallelism`.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_image(
    x: &[f32],
    dims: Dims,
    weights: &[f32],
    co: usize,
    channels: std::ops::Range<usize>,
    z: &mut [f32],
    buffer: &mut Vec<f32>,
    parallelism: Parallelism,
    epilogue: impl Fn(usize, &mut [f32]),
) {
    let (ci, h, w) = dims;
    let (out_h, out_w) = (h / 2, w / 2);
    let count = channels.len();
    for_each_tile(x, dims, buffer, |rows, buffers, span| {
        let (start, width) = (rows.start * out_w, rows.len() * out_w);
        for kh in 0..3 {
            let a = Mat::rows(&weights[(kh * co + channels.start) * ci * 3..(kh * co + channels.end) * ci * 3], ci * 3);
            let b = Mat::strided(tap_rows(buffers, kh, ci, span, out_w), span, 1);
            matmul_into(&mut z[start..], out_h * out_w, count, width, ci * 3, kh > 0, a, b, parallelism);
        }
        for j in 0..count {
            epilogue(j, &mut z[j * out_h * out_w + start..][..width]);
        }
    });
}

/// Adds one image's weight gradient, in kernel-row order (`3 × co × 3·ci`, as
/// [`super::same::row_weights`]), onto `grad`: for each `kh`, the output gradient `dz`
/// (`co × h/2 × w/2`) times the transpose of the parity rows that tap row reads.
pub(super) fn weight_grad_image(x: &[f32], dims: Dims, dz: &[f32], co: usize, grad: &mut [f32], buffer: &mut Vec<f32>, parallelism: Parallelism) {
    let (ci, h, w) = dims;
    let (out_h, out_w) = (h / 2, w / 2);
    for_each_tile(x, dims, buffer, |rows, buffers, span| {
        let (start, width) = (rows.start * out_w, rows.len() * out_w);
        let a = Mat::strided(&dz[start..], out_h * out_w, 1);
        for kh in 0..3 {
            let b = Mat::strided(tap_rows(buffers, kh, ci, span, out_w), 1, span);
            matmul_into(&mut grad[kh * co * ci * 3..], ci * 3, co, ci * 3, width, true, a, b, parallelism);
        }
    });
}

/// The weight `[co, ci, 3, 3]` arranged for the input gradient: for each tap row `kh`, a
/// `ci × 2·co` matrix whose columns `(o, 0)` and `(o, 1)` hold taps `kw` 2 and 0 (the odd input
/// columns read at the output column and one to its left), and a `ci × co` matrix of tap `kw` 1
/// (the even input columns). Six matrices, in the order (kh, odd), (kh, even).
pub(super) fn adjoint_weights(weight: &[f32], co: usize, ci: usize) -> Vec<Vec<f32>> {
    let mut matrices: Vec<Vec<f32>> = (0..3).flat_map(|_| [vec![0.0f32; ci * 2 * co], vec![0.0f32; ci * co]]).collect();
    for (oc, taps) in weight.chunks_exact(9).enumerate() {
        let (o, c) = (oc / ci, oc % ci);
        for kh in 0..3 {
            let row = &taps[kh * 3..kh * 3 + 3];
            matrices[2 * kh][(c * co + o) * 2..][..2].copy_from_slice(&[row[2], row[0]]);
            matrices[2 * kh + 1][c * co + o] = row[1];
        }
    }
    matrices
}

/// Writes the output gradient's rows `rows.start ..= rows.end` (zero past the last) into
/// `buffer` as `co·2` planes of `rows.len() + 1` rows of `out_w`: plane `2o` holds channel `o`,
/// plane `2o + 1` the same shifted one column left (column `j` holds column `j + 1`).
fn shifted_gradient(dz: &[f32], (co, out_h, out_w): Dims, rows: std::ops::Range<usize>, buffer: &mut [f32]) {
    let span = (rows.len() + 1) * out_w;
    for (index, plane) in buffer.chunks_exact_mut(span).take(2 * co).enumerate() {
        let (o, shift) = (index / 2, index % 2);
        for (i, out) in plane.chunks_exact_mut(out_w).enumerate() {
            let r = rows.start + i;
            if r >= out_h {
                out.fill(0.0);
                continue;
            }
            let line = &dz[(o * out_h + r) * out_w..][..out_w];
            if shift == 0 {
                out.copy_from_slice(line);
            } else {
                out[..out_w - 1].copy_from_slice(&line[1..]);
                out[out_w - 1] = 0.0;
            }
        }
    }
}

/// Scratch for [`input_grad_image`], reused from image to image.
#[derive(Default)]
pub(super) struct InputGradScratch {
    shifted: Vec<f32>,
    plane: Vec<f32>,
}

/// Channels `channels` of one image's input gradient (`dx`: those channels' `h × w` planes,
/// overwritten) of the stride-2 convolution, given the output gradient `dz` (`co × h/2 × w/2`)
/// and the weight arranged by [`adjoint_weights`] (`ci` input channels in all);
/// `epilogue(j, values)` is applied to each tile's rows of channel `channels.start + j`. This is
/// also the transposed convolution's forward pass, `dz` its input.
#[allow(clippy::too_many_arguments)]
pub(super) fn input_grad_image(
    dz: &[f32],
    (ci, h, w): Dims,
    co: usize,
    adjoint: &[Vec<f32>],
    channels: std::ops::Range<usize>,
    dx: &mut [f32],
    scratch: &mut InputGradScratch,
    parallelism: Parallelism,
    epilogue: impl Fn(usize, &mut [f32]),
) {
    let (out_h, out_w) = (h / 2, w / 2);
    let count = channels.len();
    let tile = (TILE_FLOATS / ((2 * co + ci) * out_w).max(1)).saturating_sub(1).clamp(1, out_h.max(1));
    for rows in row_tiles(out_h, tile) {
        let (span, width) = ((rows.len() + 1) * out_w, rows.len() * out_w);
        let shifted = Scratch::sized(&mut scratch.shifted, 2 * co * span);
        shifted_gradient(dz, (co, out_h, out_w), rows.clone(), shifted);
        for row_parity in 0..2 {
            // An even input row gets tap row 1 at its own output row; an odd one tap row 2 at
            // its own and tap row 0 at the next (one buffer row down).
            let row_taps: &[(usize, usize)] = if row_parity == 0 { &[(1, 0)] } else { &[(2, 0), (0, 1)] };
            for column_parity in 0..2 {
                let plane = Scratch::sized(&mut scratch.plane, count * width);
                for (t, &(kh, down)) in row_taps.iter().enumerate() {
                    let first = &shifted[down * out_w..];
                    let (matrix, b, k) = if column_parity == 1 {
                        (&adjoint[2 * kh], Mat::strided(first, span, 1), 2 * co)
                    } else {
                        (&adjoint[2 * kh + 1], Mat::strided(first, 2 * span, 1), co)
                    };
                    let a = Mat::rows(&matrix[channels.start * k..channels.end * k], k);
                    matmul_into(plane, width, count, width, k, t > 0, a, b, parallelism);
                }
                for c in 0..count {
                    for (i, values) in plane[c * width..][..width].chunks_exact(out_w).enumerate() {
                        let row = &mut dx[(c * h + 2 * (rows.start + i) + row_parity) * w..][..2 * out_w];
                        let (pairs, _) = row.as_chunks_mut::<2>();
                        pairs.iter_mut().zip(values).for_each(|(pair, &v)| pair[column_parity] = v);
                    }
                }
            }
        }
        for j in 0..count {
            epilogue(j, &mut dx[(j * h + 2 * rows.start) * w..(j * h + 2 * rows.end) * w]);
        }
    }
}

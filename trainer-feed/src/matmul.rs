//! The matrix products of the CPU reference: a linear layer's forward (`out = inp · Wᵀ + b`, the layout of
//! PyTorch's `nn.Linear` and llm.c) and backward, over one blocked, rayon-parallel kernel.
//!
//! The kernel follows the GotoBLAS/BLIS structure (Goto & van de Geijn 2008, "Anatomy of high-performance
//! matrix multiplication"): `B` is packed once into column panels of [`NR`] columns, each task packs its rows
//! of `A` into tiles of [`MR`] rows, block by block of [`KC`] of the shared dimension, and an `MR × NR`
//! register tile runs down each block.
//! Every output element is summed by one task in the order of the shared dimension, so results do not
//! depend on the number of threads (a resumed run must reproduce an uninterrupted one bit for bit).
//! Multiplies and adds stay separate (no FMA), so the SIMD paths give the same bits as the portable one.

use rayon::prelude::*;

use crate::float::Float;

/// Rows of a register tile.
const MR: usize = 4;
/// Columns of a register tile and of a packed panel of `B`.
const NR: usize = 16;
/// Depth of a block of the shared dimension.
const KC: usize = 256;

/// A read-only strided matrix: element `(r, c)` is `data[r · row_stride + c · col_stride]`.
#[derive(Clone, Copy)]
struct View<'a, F> {
    data: &'a [F],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<F: Float> View<'_, F> {
    fn at(&self, r: usize, c: usize) -> F {
        self.data[r * self.row_stride + c * self.col_stride]
    }
}

/// `out[n, oc] = inp[n, c] · weight[oc, c]ᵀ + bias[oc]` (no bias: `+ 0`), all row-major.
///
/// # Panics
/// If a slice is shorter than its shape says.
pub fn matmul_forward<F: Float>(
    out: &mut [F],
    inp: &[F],
    weight: &[F],
    bias: Option<&[F]>,
    n: usize,
    c: usize,
    oc: usize,
) {
    let out = &mut out[..n * oc];
    match bias {
        Some(bias) => out
            .chunks_exact_mut(oc)
            .for_each(|row| row.copy_from_slice(&bias[..oc])),
        None => out.fill(F::ZERO),
    }
    let a = View {
        data: inp,
        rows: n,
        cols: c,
        row_stride: c,
        col_stride: 1,
    };
    let b = View {
        data: weight,
        rows: c,
        cols: oc,
        row_stride: 1,
        col_stride: c,
    };
    gemm_acc(out, a, b);
}

/// The backward pass of [`matmul_forward`]: adds `dout · weight` to `dinp`, `doutᵀ · inp` to `dweight` and
/// the column sums of `dout` to `dbias` (accumulating, so gradient accumulation and the tied embedding
/// just keep adding).
///
/// # Panics
/// If a slice is shorter than its shape says.
#[allow(clippy::too_many_arguments)]
pub fn matmul_backward<F: Float>(
    dinp: &mut [F],
    dweight: &mut [F],
    dbias: Option<&mut [F]>,
    dout: &[F],
    inp: &[F],
    weight: &[F],
    n: usize,
    c: usize,
    oc: usize,
) {
    let dout_rows = View {
        data: dout,
        rows: n,
        cols: oc,
        row_stride: oc,
        col_stride: 1,
    };
    let weight_rows = View {
        data: weight,
        rows: oc,
        cols: c,
        row_stride: c,
        col_stride: 1,
    };
    gemm_acc(&mut dinp[..n * c], dout_rows, weight_rows);
    let dout_t = View {
        data: dout,
        rows: oc,
        cols: n,
        row_stride: 1,
        col_stride: oc,
    };
    let inp_rows = View {
        data: inp,
        rows: n,
        cols: c,
        row_stride: c,
        col_stride: 1,
    };
    gemm_acc(&mut dweight[..oc * c], dout_t, inp_rows);
    if let Some(dbias) = dbias {
        for row in dout[..n * oc].chunks_exact(oc) {
            for (d, &g) in dbias.iter_mut().zip(row) {
                *d += g;
            }
        }
    }
}

/// `out += a · b`, `out` row-major `a.rows × b.cols`.
fn gemm_acc<F: Float>(out: &mut [F], a: View<'_, F>, b: View<'_, F>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    debug_assert_eq!(k, b.rows);
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let panels = pack_panels(b);
    // A few tasks per thread, in whole tiles; the task size changes only which task sums an element,
    // never the order of its sum.
    let tasks = 4 * rayon::current_num_threads();
    let task_rows = m.div_ceil(tasks).next_multiple_of(MR).clamp(MR, 256);
    out.par_chunks_mut(task_rows * n)
        .enumerate()
        .for_each(|(task, out)| {
            let row0 = task * task_rows;
            let rows = out.len() / n;
            // Blocks of the shared dimension keep a panel's block and the task's tiles in cache; the
            // accumulators go through `out` between blocks, which leaves every sum's order unchanged.
            for k0 in (0..k).step_by(KC) {
                let depth = KC.min(k - k0);
                let tiles = pack_tiles(a, row0, rows, k0, depth);
                for (p, panel) in panels.chunks_exact(k).enumerate() {
                    let panel = &panel[k0..k0 + depth];
                    let col0 = p * NR;
                    let cols = NR.min(n - col0);
                    for (t, tile) in tiles.chunks_exact(depth).enumerate() {
                        let r0 = t * MR;
                        let valid = MR.min(rows - r0);
                        let mut acc = [[F::ZERO; NR]; MR];
                        for (i, acc_row) in acc.iter_mut().enumerate().take(valid) {
                            let start = (r0 + i) * n + col0;
                            acc_row[..cols].copy_from_slice(&out[start..start + cols]);
                        }
                        kernel(tile, panel, &mut acc);
                        for (i, acc_row) in acc.iter().enumerate().take(valid) {
                            let start = (r0 + i) * n + col0;
                            out[start..start + cols].copy_from_slice(&acc_row[..cols]);
                        }
                    }
                }
            }
        });
}

/// `b` as `⌈cols / NR⌉` panels of `rows` rows of `NR` columns, the last one padded with zeros.
fn pack_panels<F: Float>(b: View<'_, F>) -> Vec<[F; NR]> {
    let panels = b.cols.div_ceil(NR);
    let mut packed = vec![[F::ZERO; NR]; panels * b.rows];
    packed
        .par_chunks_mut(b.rows)
        .enumerate()
        .for_each(|(p, panel)| {
            let col0 = p * NR;
            let cols = NR.min(b.cols - col0);
            for (r, row) in panel.iter_mut().enumerate() {
                for (j, value) in row.iter_mut().enumerate().take(cols) {
                    *value = b.at(r, col0 + j);
                }
            }
        });
    packed
}

/// Rows `row0..row0 + rows`, columns `col0..col0 + depth` of `a` as `⌈rows / MR⌉` tiles of `depth`
/// columns of `MR` rows, the last one padded with zero rows.
fn pack_tiles<F: Float>(
    a: View<'_, F>,
    row0: usize,
    rows: usize,
    col0: usize,
    depth: usize,
) -> Vec<[F; MR]> {
    let mut packed = vec![[F::ZERO; MR]; rows.div_ceil(MR) * depth];
    for (t, tile) in packed.chunks_exact_mut(depth).enumerate() {
        let valid = MR.min(rows - t * MR);
        for (col, column) in tile.iter_mut().enumerate() {
            for (i, value) in column.iter_mut().enumerate().take(valid) {
                *value = a.at(row0 + t * MR + i, col0 + col);
            }
        }
    }
    packed
}

/// `acc += tile · panel` with the widest vector instructions this CPU has.
fn kernel<F: Float>(tile: &[[F; MR]], panel: &[[F; NR]], acc: &mut [[F; NR]; MR]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { kernel_avx512(tile, panel, acc) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { kernel_avx2(tile, panel, acc) };
        }
    }
    kernel_portable(tile, panel, acc);
}

/// [`kernel_portable`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn kernel_avx512<F: Float>(tile: &[[F; MR]], panel: &[[F; NR]], acc: &mut [[F; NR]; MR]) {
    kernel_portable(tile, panel, acc);
}

/// [`kernel_portable`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn kernel_avx2<F: Float>(tile: &[[F; MR]], panel: &[[F; NR]], acc: &mut [[F; NR]; MR]) {
    kernel_portable(tile, panel, acc);
}

/// The register tile: the accumulators live in a local array the compiler keeps in vector registers, one
/// broadcast of `A` times one row of the panel per row of the tile and step of the shared dimension.
#[inline(always)]
fn kernel_portable<F: Float>(tile: &[[F; MR]], panel: &[[F; NR]], acc: &mut [[F; NR]; MR]) {
    let mut c = *acc;
    for (a, b) in tile.iter().zip(panel) {
        for i in 0..MR {
            for j in 0..NR {
                c[i][j] += a[i] * b[j];
            }
        }
    }
    *acc = c;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The textbook triple loop, in `f64`.
    fn naive(inp: &[f64], weight: &[f64], bias: &[f64], n: usize, c: usize, oc: usize) -> Vec<f64> {
        let mut out = vec![0.0; n * oc];
        for i in 0..n {
            for o in 0..oc {
                out[i * oc + o] = bias[o]
                    + (0..c)
                        .map(|j| inp[i * c + j] * weight[o * c + j])
                        .sum::<f64>();
            }
        }
        out
    }

    fn values(len: usize, seed: u64) -> Vec<f64> {
        let mut rng = crate::rng::SplitMix64::for_stream(seed, 0);
        (0..len).map(|_| rng.uniform() - 0.5).collect()
    }

    #[test]
    fn forward_matches_the_triple_loop_on_ragged_shapes() {
        for (n, c, oc) in [
            (1, 1, 1),
            (5, 3, 17),
            (13, 33, 40),
            (300, 7, 5),
            (4, 64, 16),
        ] {
            let (inp, weight, bias) = (values(n * c, 1), values(oc * c, 2), values(oc, 3));
            let mut out = vec![f64::NAN; n * oc];
            matmul_forward(&mut out, &inp, &weight, Some(&bias), n, c, oc);
            let expected = naive(&inp, &weight, &bias, n, c, oc);
            for (got, want) in out.iter().zip(&expected) {
                assert!((got - want).abs() < 1e-12, "{n}x{c}x{oc}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (n, c, oc) = (97, 45, 130);
        let (inp, weight) = (values(n * c, 4), values(oc * c, 5));
        let inp: Vec<f32> = inp.iter().map(|&v| v as f32).collect();
        let weight: Vec<f32> = weight.iter().map(|&v| v as f32).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut out = vec![0.0f32; n * oc];
                matmul_forward(&mut out, &inp, &weight, None, n, c, oc);
                let (mut dinp, mut dweight) = (vec![0.0f32; n * c], vec![0.0f32; oc * c]);
                matmul_backward(&mut dinp, &mut dweight, None, &out, &inp, &weight, n, c, oc);
                (out, dinp, dweight)
            })
        };
        assert_eq!(run(1), run(3));
    }
}

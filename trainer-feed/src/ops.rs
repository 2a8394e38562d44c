//! The operations of the GPT decoder, forward and backward, on the CPU: the reference the GPU kernels are
//! checked against (docs/ARCHITECTURE.md §7, in the manner of llm.c's `train_gpt2.c`). Tensors are row-major slices;
//! `b` is the batch, `t` the sequence length, `c` the channels. Backward functions add into their
//! gradient outputs, so gradient accumulation and weight tying need no extra buffers. Reductions over
//! rows run in fixed chunks summed in order, so results do not depend on the number of threads.
//!
//! The matrix products live in [`crate::matmul`].

use rayon::prelude::*;

use crate::float::Float;

/// Rows per chunk of a parallel reduction (parameter gradients of layernorm).
const REDUCE_ROWS: usize = 64;

/// LayerNorm's ε (GPT-2's, PyTorch's default).
const LAYERNORM_EPS: f64 = 1e-5;

/// Token and position embedding: `out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :]`.
///
/// # Panics
/// If a token is not a row of `wte` or a slice is shorter than its shape says.
pub fn encoder_forward<F: Float>(
    out: &mut [F],
    tokens: &[u32],
    wte: &[F],
    wpe: &[F],
    t: usize,
    c: usize,
) {
    out.par_chunks_exact_mut(c)
        .zip(tokens.par_iter())
        .enumerate()
        .for_each(|(row, (out, &token))| {
            let token = &wte[token as usize * c..][..c];
            let position = &wpe[(row % t) * c..][..c];
            for ((o, &a), &b) in out.iter_mut().zip(token).zip(position) {
                *o = a + b;
            }
        });
}

/// The backward pass of [`encoder_forward`]: adds each row of `dout` to its token's row of `dwte` and its
/// position's row of `dwpe`.
pub fn encoder_backward<F: Float>(
    dwte: &mut [F],
    dwpe: &mut [F],
    dout: &[F],
    tokens: &[u32],
    t: usize,
    c: usize,
) {
    for (row, (d, &token)) in dout.chunks_exact(c).zip(tokens).enumerate() {
        let token = &mut dwte[token as usize * c..][..c];
        for (w, &g) in token.iter_mut().zip(d) {
            *w += g;
        }
        let position = &mut dwpe[(row % t) * c..][..c];
        for (w, &g) in position.iter_mut().zip(d) {
            *w += g;
        }
    }
}

/// LayerNorm (Ba et al. 2016) over the last dimension: `out = (inp − mean) · rstd · weight + bias` per row
/// of `c`, keeping each row's mean and reciprocal standard deviation for the backward pass.
pub fn layernorm_forward<F: Float>(
    out: &mut [F],
    mean: &mut [F],
    rstd: &mut [F],
    inp: &[F],
    weight: &[F],
    bias: &[F],
    c: usize,
) {
    let eps = F::from_f64(LAYERNORM_EPS);
    let inv_c = F::from_f64(1.0 / c as f64);
    out.par_chunks_exact_mut(c)
        .zip(inp.par_chunks_exact(c))
        .zip(mean.par_iter_mut().zip(rstd.par_iter_mut()))
        .for_each(|((out, x), (mean, rstd))| {
            let m = x.iter().copied().sum::<F>() * inv_c;
            let var = x.iter().map(|&v| (v - m) * (v - m)).sum::<F>() * inv_c;
            let s = F::ONE / (var + eps).sqrt();
            for (((o, &v), &w), &b) in out.iter_mut().zip(x).zip(weight).zip(bias) {
                *o = (v - m) * s * w + b;
            }
            *mean = m;
            *rstd = s;
        });
}

/// The backward pass of [`layernorm_forward`]: adds to `dinp`, `dweight` and `dbias`.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward<F: Float>(
    dinp: &mut [F],
    dweight: &mut [F],
    dbias: &mut [F],
    dout: &[F],
    inp: &[F],
    weight: &[F],
    mean: &[F],
    rstd: &[F],
    c: usize,
) {
    let inv_c = F::from_f64(1.0 / c as f64);
    let chunk = REDUCE_ROWS * c;
    let partials: Vec<(Vec<F>, Vec<F>)> = dinp
        .par_chunks_mut(chunk)
        .zip(dout.par_chunks(chunk))
        .zip(inp.par_chunks(chunk))
        .zip(
            mean.par_chunks(REDUCE_ROWS)
                .zip(rstd.par_chunks(REDUCE_ROWS)),
        )
        .map(|(((dinp, dout), inp), (mean, rstd))| {
            let (mut dw, mut db) = (vec![F::ZERO; c], vec![F::ZERO; c]);
            for ((((dx, dy), x), &m), &s) in dinp
                .chunks_exact_mut(c)
                .zip(dout.chunks_exact(c))
                .zip(inp.chunks_exact(c))
                .zip(mean)
                .zip(rstd)
            {
                // dnorm = weight · dy; dx = (dnorm − mean(dnorm) − norm · mean(dnorm · norm)) · rstd.
                let (mut dnorm_mean, mut dnorm_norm_mean) = (F::ZERO, F::ZERO);
                for ((&y, &v), &w) in dy.iter().zip(x).zip(weight) {
                    let norm = (v - m) * s;
                    dnorm_mean += w * y;
                    dnorm_norm_mean += w * y * norm;
                }
                dnorm_mean *= inv_c;
                dnorm_norm_mean *= inv_c;
                for (j, ((d, &y), &v)) in dx.iter_mut().zip(dy).zip(x).enumerate() {
                    let norm = (v - m) * s;
                    db[j] += y;
                    dw[j] += norm * y;
                    *d += (weight[j] * y - dnorm_mean - norm * dnorm_norm_mean) * s;
                }
            }
            (dw, db)
        })
        .collect();
    for (dw, db) in partials {
        for (acc, v) in dweight.iter_mut().zip(dw) {
            *acc += v;
        }
        for (acc, v) in dbias.iter_mut().zip(db) {
            *acc += v;
        }
    }
}

/// Causal multi-head self-attention (Vaswani et al. 2017, §3.2) of `qkv` (`b × t × 3c`: queries, keys,
/// values, each `nh` heads of `c / nh` channels) into `out` (`b × t × c`). `att` (`b × t × nh × t`) keeps
/// the softmax probabilities for the backward pass, zero above the diagonal.
pub fn attention_forward<F: Float>(
    out: &mut [F],
    att: &mut [F],
    qkv: &[F],
    t: usize,
    c: usize,
    nh: usize,
) {
    let hs = c / nh;
    let scale = F::from_f64(1.0 / (hs as f64).sqrt());
    out.par_chunks_exact_mut(c)
        .zip(att.par_chunks_exact_mut(nh * t))
        .enumerate()
        .for_each(|(row, (out, att))| {
            let (seq, ti) = (row / t, row % t);
            let at = |t2: usize, part: usize, h: usize| {
                &qkv[(seq * t + t2) * 3 * c + part * c + h * hs..][..hs]
            };
            for (h, (out, att)) in out
                .chunks_exact_mut(hs)
                .zip(att.chunks_exact_mut(t))
                .enumerate()
            {
                let q = at(ti, 0, h);
                let mut max = F::from_f64(f64::NEG_INFINITY);
                for (t2, a) in att.iter_mut().enumerate().take(ti + 1) {
                    let k = at(t2, 1, h);
                    *a = q.iter().zip(k).map(|(&x, &y)| x * y).sum::<F>() * scale;
                    max = max.max(*a);
                }
                let mut sum = F::ZERO;
                for a in att.iter_mut().take(ti + 1) {
                    *a = (*a - max).exp();
                    sum += *a;
                }
                let inv = F::ONE / sum;
                att[..=ti].iter_mut().for_each(|a| *a *= inv);
                att[ti + 1..].fill(F::ZERO);
                out.fill(F::ZERO);
                for (t2, &a) in att.iter().enumerate().take(ti + 1) {
                    for (o, &v) in out.iter_mut().zip(at(t2, 2, h)) {
                        *o += a * v;
                    }
                }
            }
        });
}

/// The backward pass of [`attention_forward`]: adds the gradient of `qkv` to `dqkv`. Heads of sequences run
/// in parallel, each into its own buffer, added to `dqkv` in order.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward<F: Float>(
    dqkv: &mut [F],
    dout: &[F],
    qkv: &[F],
    att: &[F],
    b: usize,
    t: usize,
    c: usize,
    nh: usize,
) {
    let hs = c / nh;
    let scale = F::from_f64(1.0 / (hs as f64).sqrt());
    let at =
        |seq: usize, t2: usize, part: usize, h: usize| (seq * t + t2) * 3 * c + part * c + h * hs;
    // Per head of a sequence: dq, dk and dv, `t × hs` each.
    let heads: Vec<[Vec<F>; 3]> = (0..b * nh)
        .into_par_iter()
        .map(|bh| {
            let (seq, h) = (bh / nh, bh % nh);
            let (mut dq, mut dk, mut dv) = (
                vec![F::ZERO; t * hs],
                vec![F::ZERO; t * hs],
                vec![F::ZERO; t * hs],
            );
            let mut datt = vec![F::ZERO; t];
            for ti in 0..t {
                let probs = &att[((seq * t + ti) * nh + h) * t..][..=ti];
                let dy = &dout[(seq * t + ti) * c + h * hs..][..hs];
                for (t2, (da, &p)) in datt.iter_mut().zip(probs).enumerate() {
                    let v = &qkv[at(seq, t2, 2, h)..][..hs];
                    *da = dy.iter().zip(v).map(|(&x, &y)| x * y).sum();
                    for (d, &y) in dv[t2 * hs..][..hs].iter_mut().zip(dy) {
                        *d += p * y;
                    }
                }
                // Softmax backward: dpre = p · (datt − Σ p · datt).
                let dot: F = probs.iter().zip(&datt).map(|(&p, &d)| p * d).sum();
                let q = &qkv[at(seq, ti, 0, h)..][..hs];
                let dq_row = &mut dq[ti * hs..][..hs];
                for (t2, (&p, &da)) in probs.iter().zip(&datt).enumerate() {
                    let dpre = p * (da - dot) * scale;
                    let k = &qkv[at(seq, t2, 1, h)..][..hs];
                    for (d, &kv) in dq_row.iter_mut().zip(k) {
                        *d += dpre * kv;
                    }
                    for (d, &qv) in dk[t2 * hs..][..hs].iter_mut().zip(q) {
                        *d += dpre * qv;
                    }
                }
            }
            [dq, dk, dv]
        })
        .collect();
    for (bh, grads) in heads.iter().enumerate() {
        let (seq, h) = (bh / nh, bh % nh);
        for (part, grad) in grads.iter().enumerate() {
            for (ti, g) in grad.chunks_exact(hs).enumerate() {
                for (d, &v) in dqkv[at(seq, ti, part, h)..][..hs].iter_mut().zip(g) {
                    *d += v;
                }
            }
        }
    }
}

/// √(2/π), of GELU's tanh approximation.
const GELU_SCALE: f64 = 0.797_884_560_802_865_4;

/// GELU, tanh approximation (Hendrycks & Gimpel 2016, as in GPT-2):
/// `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`.
pub fn gelu_forward<F: Float>(out: &mut [F], inp: &[F]) {
    let (s, k, half) = (
        F::from_f64(GELU_SCALE),
        F::from_f64(0.044715),
        F::from_f64(0.5),
    );
    out.par_iter_mut().zip(inp.par_iter()).for_each(|(o, &x)| {
        *o = half * x * (F::ONE + (s * (x + k * x * x * x)).tanh());
    });
}

/// The backward pass of [`gelu_forward`]: adds `gelu'(inp) · dout` to `dinp`.
pub fn gelu_backward<F: Float>(dinp: &mut [F], inp: &[F], dout: &[F]) {
    let (s, k, half) = (
        F::from_f64(GELU_SCALE),
        F::from_f64(0.044715),
        F::from_f64(0.5),
    );
    let three = F::from_f64(3.0);
    dinp.par_iter_mut()
        .zip(inp.par_iter().zip(dout.par_iter()))
        .for_each(|(d, (&x, &g))| {
            let th = (s * (x + k * x * x * x)).tanh();
            let sech2 = F::ONE - th * th;
            let grad = half * (F::ONE + th) + half * x * sech2 * s * (F::ONE + three * k * x * x);
            *d += grad * g;
        });
}

/// The residual connection: `out = a + b`.
pub fn residual_forward<F: Float>(out: &mut [F], a: &[F], b: &[F]) {
    out.par_iter_mut()
        .zip(a.par_iter().zip(b.par_iter()))
        .for_each(|(o, (&x, &y))| *o = x + y);
}

/// The backward pass of [`residual_forward`]: adds `dout` to both `da` and `db`.
pub fn residual_backward<F: Float>(da: &mut [F], db: &mut [F], dout: &[F]) {
    da.par_iter_mut()
        .zip(db.par_iter_mut().zip(dout.par_iter()))
        .for_each(|(a, (b, &g))| {
            *a += g;
            *b += g;
        });
}

/// Softmax and cross-entropy fused, per row of `padded` logits of which the first `vocab` are real: turns
/// the logits into probabilities in place (the padding's probability is 0, as if its logits were −∞) and
/// writes each row's loss `−ln p[target]`, computed as `logsumexp − logit[target]` so it stays finite.
///
/// # Panics
/// If a target is not below `vocab`.
pub fn softmax_cross_entropy_forward<F: Float>(
    logits: &mut [F],
    losses: &mut [F],
    targets: &[u32],
    vocab: usize,
    padded: usize,
) {
    logits
        .par_chunks_exact_mut(padded)
        .zip(losses.par_iter_mut().zip(targets.par_iter()))
        .for_each(|(row, (loss, &target))| {
            let (real, padding) = row.split_at_mut(vocab);
            let max = real
                .iter()
                .fold(F::from_f64(f64::NEG_INFINITY), |m, &v| m.max(v));
            let target_logit = real[target as usize];
            let mut sum = F::ZERO;
            for v in real.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            let inv = F::ONE / sum;
            real.iter_mut().for_each(|v| *v *= inv);
            padding.fill(F::ZERO);
            *loss = sum.ln() + max - target_logit;
        });
}

/// The backward pass of [`softmax_cross_entropy_forward`] for a loss weighting every row by `dloss`
/// (`1 / rows` for the mean): turns the probabilities into the logits' gradient in place,
/// `(p − onehot(target)) · dloss`; the padding's gradient stays 0.
pub fn softmax_cross_entropy_backward<F: Float>(
    probs: &mut [F],
    targets: &[u32],
    dloss: F,
    padded: usize,
) {
    probs
        .par_chunks_exact_mut(padded)
        .zip(targets.par_iter())
        .for_each(|(row, &target)| {
            row[target as usize] -= F::ONE;
            row.iter_mut().for_each(|v| *v *= dloss);
        });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! Gradient checks: each backward against central finite differences in `f64`, of the scalar
    //! `L = Σ out ⊙ w` for a fixed random `w` (so `dout = w`).

    use super::*;
    use crate::matmul::{matmul_backward, matmul_forward};
    use crate::rng::SplitMix64;

    const H: f64 = 1e-6;

    fn values(len: usize, stream: u64) -> Vec<f64> {
        let mut rng = SplitMix64::for_stream(99, stream);
        (0..len).map(|_| rng.uniform() * 2.0 - 1.0).collect()
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Compares `analytic[i]` with the finite difference of `loss` in `inputs[which][i]`, for every `i`.
    fn check(
        name: &str,
        inputs: &mut [Vec<f64>],
        which: usize,
        analytic: &[f64],
        loss: &dyn Fn(&[Vec<f64>]) -> f64,
    ) {
        assert_eq!(inputs[which].len(), analytic.len(), "{name}");
        for i in 0..analytic.len() {
            let orig = inputs[which][i];
            inputs[which][i] = orig + H;
            let plus = loss(inputs);
            inputs[which][i] = orig - H;
            let minus = loss(inputs);
            inputs[which][i] = orig;
            let numeric = (plus - minus) / (2.0 * H);
            let err = (numeric - analytic[i]).abs() / numeric.abs().max(analytic[i].abs()).max(1.0);
            assert!(
                err < 1e-7,
                "{name}[{i}]: numeric {numeric} vs analytic {}",
                analytic[i]
            );
        }
    }

    #[test]
    fn encoder_gradient() {
        let (t, c, v) = (3, 4, 5);
        let tokens = [1u32, 4, 1, 0, 2, 1];
        let mut inputs = vec![values(v * c, 1), values(t * c, 2)];
        let w = values(tokens.len() * c, 3);
        let loss = |x: &[Vec<f64>]| {
            let mut out = vec![0.0; tokens.len() * c];
            encoder_forward(&mut out, &tokens, &x[0], &x[1], t, c);
            dot(&out, &w)
        };
        let (mut dwte, mut dwpe) = (vec![0.0; v * c], vec![0.0; t * c]);
        encoder_backward(&mut dwte, &mut dwpe, &w, &tokens, t, c);
        check("dwte", &mut inputs, 0, &dwte, &loss);
        check("dwpe", &mut inputs, 1, &dwpe, &loss);
    }

    #[test]
    fn layernorm_gradient() {
        // More rows than one reduction chunk, so the chunked parameter sums are checked too.
        let (rows, c) = (REDUCE_ROWS + 3, 5);
        let mut inputs = vec![values(rows * c, 1), values(c, 2), values(c, 3)];
        let w = values(rows * c, 4);
        let forward = |x: &[Vec<f64>]| {
            let (mut out, mut mean, mut rstd) =
                (vec![0.0; rows * c], vec![0.0; rows], vec![0.0; rows]);
            layernorm_forward(&mut out, &mut mean, &mut rstd, &x[0], &x[1], &x[2], c);
            (out, mean, rstd)
        };
        let loss = |x: &[Vec<f64>]| dot(&forward(x).0, &w);
        let (_, mean, rstd) = forward(&inputs);
        let (mut dinp, mut dw, mut db) = (vec![0.0; rows * c], vec![0.0; c], vec![0.0; c]);
        layernorm_backward(
            &mut dinp, &mut dw, &mut db, &w, &inputs[0], &inputs[1], &mean, &rstd, c,
        );
        check("dinp", &mut inputs, 0, &dinp, &loss);
        check("dweight", &mut inputs, 1, &dw, &loss);
        check("dbias", &mut inputs, 2, &db, &loss);
    }

    #[test]
    fn matmul_gradient() {
        let (n, c, oc) = (6, 5, 19);
        let mut inputs = vec![values(n * c, 1), values(oc * c, 2), values(oc, 3)];
        let w = values(n * oc, 4);
        let loss = |x: &[Vec<f64>]| {
            let mut out = vec![0.0; n * oc];
            matmul_forward(&mut out, &x[0], &x[1], Some(&x[2]), n, c, oc);
            dot(&out, &w)
        };
        let (mut dinp, mut dweight, mut dbias) =
            (vec![0.0; n * c], vec![0.0; oc * c], vec![0.0; oc]);
        matmul_backward(
            &mut dinp,
            &mut dweight,
            Some(&mut dbias),
            &w,
            &inputs[0],
            &inputs[1],
            n,
            c,
            oc,
        );
        check("dinp", &mut inputs, 0, &dinp, &loss);
        check("dweight", &mut inputs, 1, &dweight, &loss);
        check("dbias", &mut inputs, 2, &dbias, &loss);
    }

    #[test]
    fn attention_gradient() {
        let (b, t, c, nh) = (2, 4, 6, 2);
        let mut inputs = vec![values(b * t * 3 * c, 1)];
        let w = values(b * t * c, 2);
        let forward = |x: &[Vec<f64>]| {
            let (mut out, mut att) = (vec![0.0; b * t * c], vec![0.0; b * t * nh * t]);
            attention_forward(&mut out, &mut att, &x[0], t, c, nh);
            (out, att)
        };
        let loss = |x: &[Vec<f64>]| dot(&forward(x).0, &w);
        let (_, att) = forward(&inputs);
        for (i, row) in att.chunks_exact(t).enumerate() {
            let ti = (i / nh) % t;
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(row[ti + 1..].iter().all(|&p| p == 0.0), "causal mask");
        }
        let mut dqkv = vec![0.0; b * t * 3 * c];
        attention_backward(&mut dqkv, &w, &inputs[0], &att, b, t, c, nh);
        check("dqkv", &mut inputs, 0, &dqkv, &loss);
    }

    #[test]
    fn gelu_gradient() {
        let mut inputs: Vec<Vec<f64>> = vec![values(40, 1).iter().map(|v| v * 4.0).collect()];
        let w = values(40, 2);
        let loss = |x: &[Vec<f64>]| {
            let mut out = vec![0.0; 40];
            gelu_forward(&mut out, &x[0]);
            dot(&out, &w)
        };
        let mut dinp = vec![0.0; 40];
        gelu_backward(&mut dinp, &inputs[0], &w);
        check("dinp", &mut inputs, 0, &dinp, &loss);
    }

    #[test]
    fn residual_gradient() {
        let mut inputs = vec![values(12, 1), values(12, 2)];
        let w = values(12, 3);
        let loss = |x: &[Vec<f64>]| {
            let mut out = vec![0.0; 12];
            residual_forward(&mut out, &x[0], &x[1]);
            dot(&out, &w)
        };
        let (mut da, mut db) = (vec![0.0; 12], vec![0.0; 12]);
        residual_backward(&mut da, &mut db, &w);
        check("da", &mut inputs, 0, &da, &loss);
        check("db", &mut inputs, 1, &db, &loss);
    }

    #[test]
    fn softmax_cross_entropy_gradient_ignores_the_padding() {
        let (rows, vocab, padded) = (3, 5, 8);
        let targets = [4u32, 0, 2];
        let mut inputs: Vec<Vec<f64>> =
            vec![values(rows * padded, 1).iter().map(|v| v * 3.0).collect()];
        let dloss = 1.0 / rows as f64;
        let loss = |x: &[Vec<f64>]| {
            let (mut probs, mut losses) = (x[0].clone(), vec![0.0; rows]);
            softmax_cross_entropy_forward(&mut probs, &mut losses, &targets, vocab, padded);
            losses.iter().sum::<f64>() * dloss
        };
        let (mut probs, mut losses) = (inputs[0].clone(), vec![0.0; rows]);
        softmax_cross_entropy_forward(&mut probs, &mut losses, &targets, vocab, padded);
        for row in probs.chunks_exact(padded) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        softmax_cross_entropy_backward(&mut probs, &targets, dloss, padded);
        for row in probs.chunks_exact(padded) {
            assert!(row[vocab..].iter().all(|&g| g == 0.0));
        }
        check("dlogits", &mut inputs, 0, &probs, &loss);

        // The loss stays finite where the probability underflows.
        let mut logits = vec![0.0f32, 200.0, 0.0, 0.0];
        let mut losses = [0.0f32];
        softmax_cross_entropy_forward(&mut logits, &mut losses, &[0], 4, 4);
        assert!((losses[0] - 200.0).abs() < 1e-3, "{}", losses[0]);
    }
}

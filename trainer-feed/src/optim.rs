//! The optimiser side of a training step: AdamW (Loshchilov & Hutter 2019) with GPT-3's settings
//! (Brown et al. 2020, App. B: β = (0.9, 0.95), weight decay on matrices only), a linear warmup followed by
//! a cosine decay of the learning rate, and clipping of the global gradient norm.

use rayon::prelude::*;

use crate::float::Float;
use crate::model::TensorSpec;

/// Elements per chunk of the parallel gradient-norm sum: fixed, so the norm does not depend on the number
/// of threads.
const NORM_CHUNK: usize = 1 << 16;

/// Learning rate per step: linear warmup from `max_lr / warmup` to `max_lr` over the first `warmup` steps,
/// then a cosine decay to `min_lr` at step `steps` (llm.c's and nanoGPT's schedule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    /// Peak learning rate.
    pub max_lr: f64,
    /// Learning rate at the end of the decay.
    pub min_lr: f64,
    /// Steps of linear warmup.
    pub warmup: u64,
    /// Steps of the whole run.
    pub steps: u64,
}

impl LrSchedule {
    /// The learning rate of step `step` (0-based).
    pub fn at(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.max_lr * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.steps.saturating_sub(self.warmup).max(1) as f64;
        let ratio = ((step - self.warmup) as f64 / span).min(1.0);
        let coeff = 0.5 * (1.0 + (std::f64::consts::PI * ratio).cos());
        self.min_lr + coeff * (self.max_lr - self.min_lr)
    }
}

/// Scales `grads` so that their global L2 norm is at most `max_norm`, as PyTorch's `clip_grad_norm_`
/// does (factor `max_norm / (norm + 1e-6)` when below 1); returns the norm before clipping.
pub fn clip_grad_norm<F: Float>(grads: &mut [F], max_norm: f64) -> f64 {
    let partials: Vec<f64> = grads
        .par_chunks(NORM_CHUNK)
        .map(|chunk| chunk.iter().map(|&g| g.to_f64() * g.to_f64()).sum())
        .collect();
    let norm = partials.iter().sum::<f64>().sqrt();
    let coeff = max_norm / (norm + 1e-6);
    if coeff < 1.0 {
        let coeff = F::from_f64(coeff);
        grads.par_iter_mut().for_each(|g| *g *= coeff);
    }
    norm
}

/// AdamW's state: first and second moments per parameter and the number of updates made.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamW<F> {
    /// Decay rate of the first moment.
    pub beta1: f64,
    /// Decay rate of the second moment.
    pub beta2: f64,
    /// Added to the second moment's square root.
    pub eps: f64,
    /// Decoupled weight decay, applied to the tensors whose spec says `decayed`.
    pub weight_decay: f64,
    m: Vec<F>,
    v: Vec<F>,
    updates: u64,
}

impl<F: Float> AdamW<F> {
    /// A fresh optimiser for `params` parameters with GPT-3's β = (0.9, 0.95) and ε = 1e-8.
    pub fn new(params: usize, weight_decay: f64) -> Self {
        AdamW {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay,
            m: vec![F::ZERO; params],
            v: vec![F::ZERO; params],
            updates: 0,
        }
    }

    /// The optimiser with saved moments and update count (from [`AdamW::m`], [`AdamW::v`],
    /// [`AdamW::updates`]).
    pub fn restore(mut self, m: Vec<F>, v: Vec<F>, updates: u64) -> Self {
        self.m = m;
        self.v = v;
        self.updates = updates;
        self
    }

    /// First moments, laid out like the parameters.
    pub fn m(&self) -> &[F] {
        &self.m
    }

    /// Second moments, laid out like the parameters.
    pub fn v(&self) -> &[F] {
        &self.v
    }

    /// Updates made so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// One update of `params` with `grads` at learning rate `lr`, in PyTorch's `AdamW` arithmetic:
    /// `p ← p·(1 − lr·wd) − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)`.
    pub fn update(&mut self, params: &mut [F], grads: &[F], specs: &[TensorSpec], lr: f64) {
        self.updates += 1;
        let t = self.updates as i32;
        let bias1 = 1.0 - self.beta1.powi(t);
        let bias2 = 1.0 - self.beta2.powi(t);
        let (b1, b2) = (F::from_f64(self.beta1), F::from_f64(self.beta2));
        let (one_b1, one_b2) = (F::from_f64(1.0 - self.beta1), F::from_f64(1.0 - self.beta2));
        let step = F::from_f64(lr / bias1);
        let sqrt_bias2 = F::from_f64(bias2.sqrt());
        let eps = F::from_f64(self.eps);
        for spec in specs {
            let decay = if spec.decayed {
                F::from_f64(1.0 - lr * self.weight_decay)
            } else {
                F::ONE
            };
            let range = spec.range.clone();
            params[range.clone()]
                .par_iter_mut()
                .zip(grads[range.clone()].par_iter())
                .zip(self.m[range.clone()].par_iter_mut())
                .zip(self.v[range].par_iter_mut())
                .for_each(|(((p, &g), m), v)| {
                    *m = b1 * *m + one_b1 * g;
                    *v = b2 * *v + one_b2 * g * g;
                    *p = *p * decay - step * *m / (v.sqrt() / sqrt_bias2 + eps);
                });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_the_minimum() {
        let s = LrSchedule {
            max_lr: 1.0,
            min_lr: 0.1,
            warmup: 4,
            steps: 14,
        };
        assert_eq!(s.at(0), 0.25);
        assert_eq!(s.at(3), 1.0);
        assert_eq!(s.at(4), 1.0);
        assert!((s.at(9) - 0.55).abs() < 1e-12);
        assert!((s.at(14) - 0.1).abs() < 1e-12);
        assert!((s.at(100) - 0.1).abs() < 1e-12);
        let values: Vec<f64> = (4..15).map(|i| s.at(i)).collect();
        assert!(values.windows(2).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn clipping_scales_to_the_maximum_norm() {
        let mut grads = vec![3.0f64, 4.0];
        assert_eq!(clip_grad_norm(&mut grads, 1.0), 5.0);
        let norm: f64 = grads.iter().map(|g| g * g).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
        let mut small = vec![0.3f64, 0.4];
        clip_grad_norm(&mut small, 1.0);
        assert_eq!(small, [0.3, 0.4]);
    }
}

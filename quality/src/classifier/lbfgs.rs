//! Limited-memory BFGS for smooth unconstrained minimisation (Nocedal & Wright, *Numerical Optimization*,
//! 2nd ed.: the two-loop recursion, Alg. 7.4, with the `sᵀy / yᵀy` initial scaling, eq. 7.20), with a line
//! search for the strong Wolfe conditions (Alg. 3.5 and its `zoom`, Alg. 3.6, cubic interpolation with
//! safeguards).
//!
//! Stopping follows Breeze, which Spark's `LogisticRegression` runs on: converged when the gradient norm
//! is at most `tolerance · max(1, |f|)`, or when `f` improved by at most `tolerance · |f|` over the last
//! [`FUNCTION_WINDOW`] iterations. Everything is sequential and in a fixed order, so the result is a pure
//! function of the objective's values.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Why the optimiser stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The gradient norm reached `tolerance · max(1, |loss|)` (converged).
    GradientTolerance,
    /// The loss improved by at most `tolerance · |loss|` over the last ten iterations (converged).
    FunctionTolerance,
    /// `max_iter` iterations ran without meeting either tolerance.
    MaxIterations,
    /// No step along the search direction, nor along the steepest descent, decreased the loss enough;
    /// usually the loss is already as small as floating point can resolve.
    LineSearchFailed,
    /// The loss or its gradient was not a finite number.
    NonFiniteLoss,
}

impl StopReason {
    /// Whether the stop met a convergence tolerance.
    pub fn converged(self) -> bool {
        matches!(self, Self::GradientTolerance | Self::FunctionTolerance)
    }
}

/// Settings of one minimisation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LbfgsOptions {
    /// Most iterations to run; one whose line search fails and restarts from the steepest descent counts.
    pub(crate) max_iter: usize,
    /// Relative tolerance of both convergence tests.
    pub(crate) tolerance: f64,
    /// Number of curvature pairs kept (Spark uses 10).
    pub(crate) memory: usize,
}

/// Where a minimisation ended.
#[derive(Debug, Clone)]
pub(crate) struct Minimum {
    /// The last accepted point.
    pub(crate) x: Vec<f64>,
    /// The objective there.
    pub(crate) value: f64,
    /// Accepted iterations.
    pub(crate) iterations: usize,
    /// Why it stopped.
    pub(crate) stop: StopReason,
}

/// Iterations over which the relative improvement of the objective is measured.
const FUNCTION_WINDOW: usize = 10;
/// Sufficient decrease constant of the Armijo condition.
const ARMIJO: f64 = 1e-4;
/// Curvature constant of the strong Wolfe condition (the usual choice for quasi-Newton methods).
const CURVATURE: f64 = 0.9;
/// Relative change of `f` below which values are treated as equal up to rounding (the approximate Wolfe
/// condition's ε).
const ROUNDING: f64 = 1e-10;
/// Most objective evaluations one line search may spend.
const MAX_EVALUATIONS_PER_SEARCH: usize = 40;
/// Largest step the extrapolation phase tries.
const MAX_STEP: f64 = 1e10;

/// Minimises `objective` from `x0`. `objective(x, gradient)` returns `f(x)` and writes `∇f(x)`.
pub(crate) fn minimize<F>(mut objective: F, x0: Vec<f64>, options: &LbfgsOptions) -> Minimum
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    let n = x0.len();
    let mut x = x0;
    let mut gradient = vec![0.0; n];
    let mut value = objective(&x, &mut gradient);
    let finish = |x, value, iterations, stop| Minimum {
        x,
        value,
        iterations,
        stop,
    };
    if !value.is_finite() || !gradient.iter().all(|g| g.is_finite()) {
        return finish(x, value, 0, StopReason::NonFiniteLoss);
    }
    if gradient_converged(&gradient, value, options.tolerance) {
        return finish(x, value, 0, StopReason::GradientTolerance);
    }

    let mut pairs = CurvatureMemory::new(options.memory.max(1));
    let mut history: VecDeque<f64> = VecDeque::with_capacity(FUNCTION_WINDOW + 1);
    history.push_back(value);
    let mut direction = vec![0.0; n];
    let mut trial = Trial {
        x: vec![0.0; n],
        gradient: vec![0.0; n],
        evaluated_step: f64::NAN,
    };
    let mut accepted = 0;
    for _ in 0..options.max_iter {
        pairs.apply_inverse_hessian(&gradient, &mut direction);
        negate(&mut direction);
        let mut slope = dot(&direction, &gradient);
        if !(slope < 0.0 && slope.is_finite()) {
            // Rounding made the quasi-Newton direction useless: start again from steepest descent.
            pairs.clear();
            steepest_descent(&gradient, &mut direction);
            slope = -dot(&gradient, &gradient);
        }
        let initial_step = if pairs.is_empty() {
            (1.0 / norm(&gradient)).min(1.0)
        } else {
            1.0
        };
        let search = LineSearch {
            x: &x,
            value,
            direction: &direction,
            slope,
        };
        let Some(new_value) = search.run(&mut objective, initial_step, &mut trial) else {
            if pairs.is_empty() {
                return finish(x, value, accepted, StopReason::LineSearchFailed);
            }
            // The memory may hold stale curvature; retry once from the steepest descent.
            pairs.clear();
            continue;
        };
        if !new_value.is_finite() || !trial.gradient.iter().all(|g| g.is_finite()) {
            return finish(x, value, accepted, StopReason::NonFiniteLoss);
        }
        pairs.push(&x, &trial.x, &gradient, &trial.gradient);
        std::mem::swap(&mut x, &mut trial.x);
        std::mem::swap(&mut gradient, &mut trial.gradient);
        value = new_value;
        accepted += 1;

        if gradient_converged(&gradient, value, options.tolerance) {
            return finish(x, value, accepted, StopReason::GradientTolerance);
        }
        let window_start = history.front().copied().unwrap_or(value);
        if window_start - value <= options.tolerance * value.abs() {
            return finish(x, value, accepted, StopReason::FunctionTolerance);
        }
        if history.len() == FUNCTION_WINDOW {
            history.pop_front();
        }
        history.push_back(value);
    }
    finish(x, value, accepted, StopReason::MaxIterations)
}

fn gradient_converged(gradient: &[f64], value: f64, tolerance: f64) -> bool {
    norm(gradient) <= tolerance * value.abs().max(1.0)
}

/// The last `capacity` steps `s = x' - x` and gradient changes `y = g' - g`.
struct CurvatureMemory {
    capacity: usize,
    /// `(s, y, 1 / sᵀy)`, oldest first.
    pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)>,
    /// Scratch for the first loop's coefficients.
    alphas: Vec<f64>,
}

impl CurvatureMemory {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            pairs: VecDeque::with_capacity(capacity),
            alphas: vec![0.0; capacity],
        }
    }

    fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    fn clear(&mut self) {
        self.pairs.clear();
    }

    /// Stores the pair unless its curvature `sᵀy` is not safely positive (then BFGS would lose positive
    /// definiteness; the strong Wolfe conditions rule that out except after a fallback step).
    fn push(&mut self, x: &[f64], x_new: &[f64], g: &[f64], g_new: &[f64]) {
        let recycled = if self.pairs.len() == self.capacity {
            self.pairs.pop_front()
        } else {
            None
        };
        let (mut s, mut y, _) = recycled.unwrap_or_default();
        s.clear();
        s.extend(x_new.iter().zip(x).map(|(a, b)| a - b));
        y.clear();
        y.extend(g_new.iter().zip(g).map(|(a, b)| a - b));
        let sy = dot(&s, &y);
        if sy > f64::EPSILON * norm(&s) * norm(&y) && sy.is_finite() {
            self.pairs.push_back((s, y, 1.0 / sy));
        }
    }

    /// Writes `H·g` into `out`, `H` the L-BFGS inverse Hessian approximation (two-loop recursion).
    fn apply_inverse_hessian(&mut self, g: &[f64], out: &mut [f64]) {
        out.copy_from_slice(g);
        for ((s, y, rho), alpha) in self.pairs.iter().rev().zip(self.alphas.iter_mut()) {
            *alpha = rho * dot(s, out);
            axpy(-*alpha, y, out);
        }
        if let Some((s, y, _)) = self.pairs.back() {
            let gamma = dot(s, y) / dot(y, y);
            out.iter_mut().for_each(|v| *v *= gamma);
        }
        let count = self.pairs.len();
        for (index, (s, y, rho)) in self.pairs.iter().enumerate() {
            let beta = rho * dot(y, out);
            axpy(self.alphas[count - 1 - index] - beta, s, out);
        }
    }
}

/// The point, gradient and step of the line search's latest evaluation.
struct Trial {
    x: Vec<f64>,
    gradient: Vec<f64>,
    evaluated_step: f64,
}

/// `φ(α) = f(x + α·d)` and `φ'(α)` at one step.
#[derive(Debug, Clone, Copy)]
struct Probe {
    step: f64,
    value: f64,
    slope: f64,
}

/// One strong-Wolfe line search along `direction` from `x`.
struct LineSearch<'a> {
    x: &'a [f64],
    value: f64,
    direction: &'a [f64],
    slope: f64,
}

impl LineSearch<'_> {
    /// Finds a step meeting the strong Wolfe conditions, or failing that within the evaluation budget
    /// one meeting the Armijo condition; leaves that point in `trial` and returns its value. `None` when
    /// no step decreased the objective enough.
    fn run<F>(&self, objective: &mut F, initial_step: f64, trial: &mut Trial) -> Option<f64>
    where
        F: FnMut(&[f64], &mut [f64]) -> f64,
    {
        trial.evaluated_step = f64::NAN;
        let mut evaluations = 0;
        let mut previous = Probe {
            step: 0.0,
            value: self.value,
            slope: self.slope,
        };
        let mut step = initial_step;
        loop {
            if evaluations == MAX_EVALUATIONS_PER_SEARCH {
                return self.settle(objective, previous, trial);
            }
            let current = self.evaluate(objective, step, trial);
            evaluations += 1;
            if !self.sufficient_decrease(&current)
                || (evaluations > 1 && current.value >= previous.value)
            {
                return self.zoom(objective, previous, current, evaluations, trial);
            }
            if current.slope.abs() <= -CURVATURE * self.slope {
                return Some(current.value);
            }
            if current.slope >= 0.0 {
                return self.zoom(objective, current, previous, evaluations, trial);
            }
            if step >= MAX_STEP {
                return self.settle(objective, current, trial);
            }
            previous = current;
            step = (2.0 * step).min(MAX_STEP);
        }
    }

    /// Alg. 3.6: `low` meets the Armijo condition and has the lower value, the step that meets the
    /// Wolfe conditions lies between `low` and `high`.
    fn zoom<F>(
        &self,
        objective: &mut F,
        mut low: Probe,
        mut high: Probe,
        mut evaluations: usize,
        trial: &mut Trial,
    ) -> Option<f64>
    where
        F: FnMut(&[f64], &mut [f64]) -> f64,
    {
        loop {
            let width = (high.step - low.step).abs();
            if evaluations >= MAX_EVALUATIONS_PER_SEARCH
                || width <= f64::EPSILON * high.step.abs().max(low.step.abs())
            {
                return self.settle(objective, low, trial);
            }
            let (left, right) = (low.step.min(high.step), low.step.max(high.step));
            let safe_left = left + 0.1 * width;
            let safe_right = right - 0.1 * width;
            let step = match cubic_minimizer(&low, &high) {
                Some(step) => step.clamp(safe_left, safe_right),
                None => 0.5 * (left + right),
            };
            let current = self.evaluate(objective, step, trial);
            evaluations += 1;
            if !self.sufficient_decrease(&current) || current.value >= low.value {
                high = current;
            } else {
                if current.slope.abs() <= -CURVATURE * self.slope {
                    return Some(current.value);
                }
                if current.slope * (high.step - low.step) >= 0.0 {
                    high = low;
                }
                low = current;
            }
        }
    }

    /// Accepts `probe` if it is a real step (it meets the Armijo condition by construction), evaluating it
    /// again when `trial` has since moved on.
    fn settle<F>(&self, objective: &mut F, probe: Probe, trial: &mut Trial) -> Option<f64>
    where
        F: FnMut(&[f64], &mut [f64]) -> f64,
    {
        if probe.step <= 0.0 {
            return None;
        }
        if trial.evaluated_step == probe.step {
            return Some(probe.value);
        }
        Some(self.evaluate(objective, probe.step, trial).value)
    }

    /// The Armijo condition, or where the change in `f` is lost in rounding, its derivative form (Hager &
    /// Zhang's approximate Wolfe condition `φ'(α) ≤ (2·c₁ − 1)·φ'(0)`, exact for quadratics), so that
    /// steps near the minimum are still judged by the slope, which stays accurate there.
    fn sufficient_decrease(&self, probe: &Probe) -> bool {
        if !probe.value.is_finite() {
            return false;
        }
        let armijo = probe.value <= self.value + ARMIJO * probe.step * self.slope;
        let within_rounding = probe.value <= self.value + ROUNDING * self.value.abs();
        armijo || (within_rounding && probe.slope <= (2.0 * ARMIJO - 1.0) * self.slope)
    }

    fn evaluate<F>(&self, objective: &mut F, step: f64, trial: &mut Trial) -> Probe
    where
        F: FnMut(&[f64], &mut [f64]) -> f64,
    {
        for ((t, x), d) in trial.x.iter_mut().zip(self.x).zip(self.direction) {
            *t = x + step * d;
        }
        let value = objective(&trial.x, &mut trial.gradient);
        trial.evaluated_step = step;
        Probe {
            step,
            value,
            slope: dot(&trial.gradient, self.direction),
        }
    }
}

/// Minimiser of the cubic through two probes' values and slopes (N&W eq. 3.59); `None` when it does not
/// exist or a probe is not finite.
fn cubic_minimizer(a: &Probe, b: &Probe) -> Option<f64> {
    let d1 = a.slope + b.slope - 3.0 * (a.value - b.value) / (a.step - b.step);
    let discriminant = d1 * d1 - a.slope * b.slope;
    if discriminant.is_nan() || discriminant < 0.0 {
        return None;
    }
    let d2 = (b.step - a.step).signum() * discriminant.sqrt();
    let step = b.step - (b.step - a.step) * (b.slope + d2 - d1) / (b.slope - a.slope + 2.0 * d2);
    step.is_finite().then_some(step)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

fn negate(a: &mut [f64]) {
    a.iter_mut().for_each(|v| *v = -*v);
}

fn steepest_descent(gradient: &[f64], direction: &mut [f64]) {
    for (d, g) in direction.iter_mut().zip(gradient) {
        *d = -g;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn options(tolerance: f64) -> LbfgsOptions {
        LbfgsOptions {
            max_iter: 500,
            tolerance,
            memory: 10,
        }
    }

    /// Solves `a·x = b` by Gaussian elimination with partial pivoting.
    pub(crate) fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
        let n = b.len();
        for col in 0..n {
            let pivot = (col..n)
                .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
                .expect("non-empty range");
            a.swap(col, pivot);
            b.swap(col, pivot);
            let (above, below) = a.split_at_mut(col + 1);
            let pivot_row = &above[col];
            for (offset, row) in below.iter_mut().enumerate() {
                let factor = row[col] / pivot_row[col];
                for (target, source) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *target -= factor * source;
                }
                b[col + 1 + offset] -= factor * b[col];
            }
        }
        let mut x = vec![0.0; n];
        for row in (0..n).rev() {
            let tail: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
            x[row] = (b[row] - tail) / a[row][row];
        }
        x
    }

    #[test]
    fn minimises_an_ill_conditioned_quadratic_to_its_closed_form() {
        // f(x) = ½ xᵀAx − bᵀx with A = MᵀM + diag, condition number ~1e4; minimum at A⁻¹b.
        let n = 12;
        let m: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.4)
                    .collect()
            })
            .collect();
        let a: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        let mtm: f64 = (0..n).map(|k| m[k][i] * m[k][j]).sum();
                        let diagonal = if i == j { 1e-3 * (i + 1) as f64 } else { 0.0 };
                        mtm + diagonal
                    })
                    .collect()
            })
            .collect();
        let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let expected = solve(a.clone(), b.clone());
        let objective = |x: &[f64], g: &mut [f64]| {
            let mut value = 0.0;
            for i in 0..n {
                let ax: f64 = (0..n).map(|j| a[i][j] * x[j]).sum();
                g[i] = ax - b[i];
                value += 0.5 * x[i] * ax - b[i] * x[i];
            }
            value
        };
        let minimum = minimize(objective, vec![0.0; n], &options(1e-12));
        assert!(minimum.stop.converged(), "{:?}", minimum.stop);
        for (got, want) in minimum.x.iter().zip(&expected) {
            assert!(
                (got - want).abs() < 1e-6 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn minimises_rosenbrock() {
        let objective = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let minimum = minimize(objective, vec![-1.2, 1.0], &options(1e-10));
        assert_eq!(minimum.stop, StopReason::GradientTolerance);
        assert!((minimum.x[0] - 1.0).abs() < 1e-6, "{:?}", minimum.x);
        assert!((minimum.x[1] - 1.0).abs() < 1e-6, "{:?}", minimum.x);
        assert!(minimum.iterations < 100, "{}", minimum.iterations);
    }

    #[test]
    fn stops_at_max_iterations_and_reports_a_non_finite_start() {
        let objective = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let short = LbfgsOptions {
            max_iter: 3,
            ..options(1e-12)
        };
        let minimum = minimize(objective, vec![-1.2, 1.0], &short);
        assert_eq!(minimum.stop, StopReason::MaxIterations);
        assert_eq!(minimum.iterations, 3);
        assert!(minimum.value < 24.2, "the value at the start is 24.2");

        let minimum = minimize(|_, _| f64::NAN, vec![0.0], &options(1e-6));
        assert_eq!(minimum.stop, StopReason::NonFiniteLoss);
        assert!(!minimum.stop.converged());
    }

    #[test]
    fn backs_off_from_steps_where_the_objective_is_infinite() {
        // f(x) = −10x − ln(1 − x) on x < 1, +∞ beyond; minimum at x = 0.9. From x = 0.5 the gradient is
        // −8, so the first trial step (length 1) lands past the pole at 1.
        let objective = |x: &[f64], g: &mut [f64]| {
            if x[0] >= 1.0 {
                g[0] = f64::NAN;
                return f64::INFINITY;
            }
            g[0] = -10.0 + 1.0 / (1.0 - x[0]);
            -10.0 * x[0] - (1.0 - x[0]).ln()
        };
        let minimum = minimize(objective, vec![0.5], &options(1e-12));
        assert!(minimum.stop.converged(), "{:?}", minimum.stop);
        assert!((minimum.x[0] - 0.9).abs() < 1e-6, "{:?}", minimum.x);
    }
}

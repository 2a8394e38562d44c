//! The classifier's training objective: the mean log-loss of a binary logistic regression over sparse
//! features plus `l2/2 · |β|²` on the optimised feature weights `β` (never the intercept), as Spark's
//! `LogisticRegression` sets it up with elasticNetParam = 0.
//!
//! With `standardize` (Spark's default `standardization = true`), each feature is divided by its standard
//! deviation over the training documents (unbiased; no centring, which would densify sparse counts), so
//! the penalty treats every feature on the same scale and L-BFGS sees a well-conditioned problem although
//! raw term counts of long and short documents differ by orders of magnitude. Without it, the optimiser
//! works on the raw values and penalises the raw weights (unlike Spark, which still optimises scaled
//! features there and so penalises rare features very hard: far slower to converge for the same optimum).
//! Either way the weights come back in the original space (`w = β / std`), so scoring reads raw features.
//! A column with zero variance is constant: it gets weight zero and the intercept absorbs it, as in Spark.
//!
//! Only features that occur in a training document get a column, so memory follows the data, not
//! `num_features`. The data is kept twice, by rows and by columns: margins are computed in parallel over
//! documents and the gradient `Xᵀr` in parallel over columns, each entry a sequential sum in a fixed
//! order, so the loss and gradient are bit-for-bit the same on any number of threads.

use rayon::prelude::*;

/// Marks a feature without a column.
const NO_COLUMN: u32 = u32::MAX;

/// Training data (standardised when asked) with its labels and penalty, ready for [`super::lbfgs::minimize`]. The
/// parameter vector is the column weights followed by the intercept.
pub(crate) struct LogisticProblem {
    rows: usize,
    row_start: Vec<usize>,
    row_columns: Vec<u32>,
    row_values: Vec<f64>,
    column_start: Vec<usize>,
    column_rows: Vec<u32>,
    column_values: Vec<f64>,
    /// 1.0 for a positive document, 0.0 for a negative one.
    labels: Vec<f64>,
    /// Feature index of each column, increasing.
    feature_index: Vec<u32>,
    /// `1 / std` of each column when standardising, else 1: the factor from an optimised weight to the
    /// original-space weight.
    scale: Vec<f64>,
    /// L2 coefficient of the optimised weights.
    l2: f64,
    positives: usize,
}

impl LogisticProblem {
    /// Builds the problem from each document's sorted sparse features and label. `docs` must hold at
    /// least one positive and one negative document, every index below `num_features`.
    pub(crate) fn new(
        docs: &[Vec<(u32, f64)>],
        labels: &[bool],
        num_features: u32,
        l2: f64,
        standardize: bool,
    ) -> Self {
        let rows = docs.len();
        let mut column_of = vec![NO_COLUMN; num_features as usize];
        for &(index, _) in docs.iter().flatten() {
            column_of[index as usize] = 0;
        }
        let mut seen = Vec::new();
        for (index, column) in column_of.iter_mut().enumerate() {
            if *column != NO_COLUMN {
                *column = seen.len() as u32;
                seen.push(index as u32);
            }
        }

        // Unbiased variance, summing squared deviations of the stored values and adding the zeros'
        // share, which avoids the cancellation of E[x²] − E[x]².
        let mut sums = vec![0.0; seen.len()];
        let mut nonzeros = vec![0usize; seen.len()];
        for &(index, value) in docs.iter().flatten() {
            let column = column_of[index as usize] as usize;
            sums[column] += value;
            nonzeros[column] += 1;
        }
        let means: Vec<f64> = sums.iter().map(|sum| sum / rows as f64).collect();
        let mut squares = vec![0.0; seen.len()];
        for &(index, value) in docs.iter().flatten() {
            let column = column_of[index as usize] as usize;
            squares[column] += (value - means[column]).powi(2);
        }
        let denominator = rows.saturating_sub(1).max(1) as f64;
        let mut feature_index = Vec::new();
        let mut scale = Vec::new();
        for (seen_column, &index) in seen.iter().enumerate() {
            let zeros = (rows - nonzeros[seen_column]) as f64;
            let variance =
                (squares[seen_column] + zeros * means[seen_column].powi(2)) / denominator;
            let std = variance.sqrt();
            if std > 0.0 && std.is_finite() {
                column_of[index as usize] = feature_index.len() as u32;
                feature_index.push(index);
                scale.push(if standardize { 1.0 / std } else { 1.0 });
            } else {
                column_of[index as usize] = NO_COLUMN;
            }
        }

        let mut row_start = Vec::with_capacity(rows + 1);
        let mut row_columns = Vec::new();
        let mut row_values = Vec::new();
        row_start.push(0);
        for doc in docs {
            for &(index, value) in doc {
                let column = column_of[index as usize];
                if column != NO_COLUMN {
                    row_columns.push(column);
                    row_values.push(value * scale[column as usize]);
                }
            }
            row_start.push(row_columns.len());
        }

        let columns = feature_index.len();
        let mut column_start = vec![0usize; columns + 1];
        for &column in &row_columns {
            column_start[column as usize + 1] += 1;
        }
        for column in 0..columns {
            column_start[column + 1] += column_start[column];
        }
        let mut next = column_start.clone();
        let mut column_rows = vec![0u32; row_columns.len()];
        let mut column_values = vec![0.0; row_columns.len()];
        for row in 0..rows {
            for at in row_start[row]..row_start[row + 1] {
                let column = row_columns[at] as usize;
                column_rows[next[column]] = row as u32;
                column_values[next[column]] = row_values[at];
                next[column] += 1;
            }
        }

        Self {
            rows,
            row_start,
            row_columns,
            row_values,
            column_start,
            column_rows,
            column_values,
            labels: labels
                .iter()
                .map(|&positive| f64::from(u8::from(positive)))
                .collect(),
            feature_index,
            l2,
            scale,
            positives: labels.iter().filter(|&&positive| positive).count(),
        }
    }

    /// Number of feature columns (features seen in training with nonzero variance).
    pub(crate) fn columns(&self) -> usize {
        self.feature_index.len()
    }

    /// The starting point: zero weights and the intercept at the training set's log-odds, where the
    /// intercept's gradient is zero (Spark starts there too).
    pub(crate) fn initial_point(&self) -> Vec<f64> {
        let mut params = vec![0.0; self.columns() + 1];
        let negatives = self.rows - self.positives;
        params[self.columns()] = (self.positives as f64 / negatives as f64).ln();
        params
    }

    /// Mean log-loss plus penalty at `params`; writes its gradient into `gradient`.
    pub(crate) fn loss_and_gradient(&self, params: &[f64], gradient: &mut [f64]) -> f64 {
        let columns = self.columns();
        let (weights, intercept) = params.split_at(columns);
        let intercept = intercept[0];
        let per_row: Vec<(f64, f64)> = (0..self.rows)
            .into_par_iter()
            .with_min_len(64)
            .map(|row| {
                let span = self.row_start[row]..self.row_start[row + 1];
                let margin = intercept
                    + self.row_columns[span.clone()]
                        .iter()
                        .zip(&self.row_values[span])
                        .map(|(&column, &value)| weights[column as usize] * value)
                        .sum::<f64>();
                let label = self.labels[row];
                // −log σ(z) for a positive, −log(1 − σ(z)) for a negative, both as softplus.
                let loss = if label > 0.5 {
                    softplus(-margin)
                } else {
                    softplus(margin)
                };
                (loss, sigmoid(margin) - label)
            })
            .collect();

        let inverse_rows = 1.0 / self.rows as f64;
        let (weight_gradient, intercept_gradient) = gradient.split_at_mut(columns);
        weight_gradient
            .par_iter_mut()
            .enumerate()
            .with_min_len(256)
            .for_each(|(column, slot)| {
                let span = self.column_start[column]..self.column_start[column + 1];
                let dot: f64 = self.column_rows[span.clone()]
                    .iter()
                    .zip(&self.column_values[span])
                    .map(|(&row, &value)| value * per_row[row as usize].1)
                    .sum();
                *slot = dot * inverse_rows + self.l2 * weights[column];
            });
        intercept_gradient[0] =
            per_row.iter().map(|&(_, residual)| residual).sum::<f64>() * inverse_rows;

        let data_loss = per_row.iter().map(|&(loss, _)| loss).sum::<f64>() * inverse_rows;
        let penalty: f64 = weights.iter().map(|w| w * w).sum::<f64>() * 0.5 * self.l2;
        data_loss + penalty
    }

    /// The model in the original feature space: `(feature index, weight)` of every column with a nonzero
    /// weight, increasing, and the intercept.
    pub(crate) fn original_weights(&self, params: &[f64]) -> (Vec<(u32, f64)>, f64) {
        let weights = self
            .feature_index
            .iter()
            .zip(&self.scale)
            .zip(params)
            .map(|((&index, &scale), &beta)| (index, beta * scale))
            .filter(|&(_, weight)| weight != 0.0)
            .collect();
        (weights, params[self.columns()])
    }
}

/// `ln(1 + eᶻ)` without overflow.
pub(crate) fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// The logistic function `1 / (1 + e⁻ᶻ)`, accurate in both tails; 0.5 for NaN.
pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else if z < 0.0 {
        let e = z.exp();
        e / (1.0 + e)
    } else {
        0.5
    }
}

#[cfg(test)]
mod tests {
    use super::super::lbfgs::tests::solve;
    use super::super::lbfgs::{LbfgsOptions, minimize};
    use super::*;

    /// 80 documents over 5 features with small integer counts; the labels follow a noisy linear rule so
    /// the classes overlap and the optimum is interior.
    fn sample() -> (Vec<Vec<(u32, f64)>>, Vec<bool>) {
        let mut docs = Vec::new();
        let mut labels = Vec::new();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..80 {
            let mut doc = Vec::new();
            let mut margin = -0.3;
            for (feature, coefficient) in [(1u32, 0.8), (3, -0.6), (4, 0.3), (7, 0.0), (9, 0.5)] {
                let count = next() % 4;
                if count > 0 {
                    doc.push((feature, count as f64));
                    margin += coefficient * count as f64;
                }
            }
            let noise = (next() % 1000) as f64 / 1000.0 * 3.0 - 1.5;
            labels.push(margin + noise > 0.0);
            docs.push(doc);
        }
        (docs, labels)
    }

    fn dense(docs: &[Vec<(u32, f64)>], features: &[u32]) -> Vec<Vec<f64>> {
        docs.iter()
            .map(|doc| {
                features
                    .iter()
                    .map(|f| doc.iter().find(|(i, _)| i == f).map_or(0.0, |&(_, v)| v))
                    .collect()
            })
            .collect()
    }

    /// Newton's method on the same objective in the original space: mean log-loss plus
    /// `½ Σ penalty_j w_j²`, parameters `[w..., b]`.
    fn newton(x: &[Vec<f64>], labels: &[bool], penalty: &[f64]) -> Vec<f64> {
        let d = penalty.len();
        let n = x.len() as f64;
        let mut params = vec![0.0; d + 1];
        for _ in 0..50 {
            let mut gradient = vec![0.0; d + 1];
            let mut hessian = vec![vec![0.0; d + 1]; d + 1];
            for (row, &label) in x.iter().zip(labels) {
                let features: Vec<f64> = row.iter().copied().chain([1.0]).collect();
                let margin: f64 = features.iter().zip(&params).map(|(a, b)| a * b).sum();
                let p = sigmoid(margin);
                let residual = p - f64::from(u8::from(label));
                for i in 0..=d {
                    gradient[i] += residual * features[i] / n;
                    for j in 0..=d {
                        hessian[i][j] += p * (1.0 - p) * features[i] * features[j] / n;
                    }
                }
            }
            for j in 0..d {
                gradient[j] += penalty[j] * params[j];
                hessian[j][j] += penalty[j];
            }
            let step = solve(hessian, gradient);
            for (p, s) in params.iter_mut().zip(step) {
                *p -= s;
            }
        }
        params
    }

    fn sample_std(x: &[Vec<f64>], column: usize) -> f64 {
        let n = x.len() as f64;
        let mean = x.iter().map(|row| row[column]).sum::<f64>() / n;
        (x.iter()
            .map(|row| (row[column] - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0))
            .sqrt()
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (docs, labels) = sample();
        for standardize in [true, false] {
            let problem = LogisticProblem::new(&docs, &labels, 16, 0.05, standardize);
            let params: Vec<f64> = (0..=problem.columns())
                .map(|i| 0.3 * (i as f64 + 1.0).sin())
                .collect();
            let mut gradient = vec![0.0; params.len()];
            problem.loss_and_gradient(&params, &mut gradient);
            let mut scratch = vec![0.0; params.len()];
            for i in 0..params.len() {
                let h = 1e-6;
                let mut plus = params.clone();
                plus[i] += h;
                let mut minus = params.clone();
                minus[i] -= h;
                let numeric = (problem.loss_and_gradient(&plus, &mut scratch)
                    - problem.loss_and_gradient(&minus, &mut scratch))
                    / (2.0 * h);
                assert!(
                    (numeric - gradient[i]).abs() < 1e-7,
                    "standardize={standardize} ∂{i}: {numeric} vs {}",
                    gradient[i]
                );
            }
        }
    }

    #[test]
    fn lbfgs_reaches_the_newton_optimum_with_and_without_standardization() {
        let (docs, labels) = sample();
        let l2 = 0.02;
        let problem_features = [1u32, 3, 4, 7, 9];
        let x = dense(&docs, &problem_features);
        for standardize in [true, false] {
            let problem = LogisticProblem::new(&docs, &labels, 16, l2, standardize);
            assert_eq!(problem.columns(), problem_features.len());
            let options = LbfgsOptions {
                max_iter: 200,
                tolerance: 1e-12,
                memory: 10,
            };
            let minimum = minimize(
                |params, gradient| problem.loss_and_gradient(params, gradient),
                problem.initial_point(),
                &options,
            );
            assert!(minimum.stop.converged(), "{:?}", minimum.stop);
            let (weights, intercept) = problem.original_weights(&minimum.x);

            // Penalising scaled weights β = w·std is penalising w with coefficient l2·std².
            let penalty: Vec<f64> = (0..problem_features.len())
                .map(|column| {
                    if standardize {
                        l2 * sample_std(&x, column).powi(2)
                    } else {
                        l2
                    }
                })
                .collect();
            let expected = newton(&x, &labels, &penalty);
            for (column, &(index, weight)) in weights.iter().enumerate() {
                assert_eq!(index, problem_features[column]);
                assert!(
                    (weight - expected[column]).abs() < 1e-6,
                    "standardize={standardize} w{index}: {weight} vs {}",
                    expected[column]
                );
            }
            assert!((intercept - expected[problem_features.len()]).abs() < 1e-6);
        }
    }

    #[test]
    fn constant_and_unseen_features_get_no_column() {
        // Feature 2 has the same count in every document, feature 5 never occurs.
        let docs = vec![
            vec![(1, 1.0), (2, 3.0)],
            vec![(2, 3.0), (4, 2.0)],
            vec![(1, 2.0), (2, 3.0)],
        ];
        let problem = LogisticProblem::new(&docs, &[true, false, true], 8, 0.1, true);
        assert_eq!(problem.feature_index, vec![1, 4]);
        // Feature 1: values 1, 0, 2 → mean 1, unbiased variance 1; feature 4: 0, 2, 0 → variance 4/3.
        assert!((problem.scale[0] - 1.0).abs() < 1e-15);
        assert!((problem.scale[1] - (3.0f64 / 4.0).sqrt()).abs() < 1e-15);
        assert_eq!(problem.row_columns, vec![0, 1, 0]);
        assert_eq!(problem.column_rows, vec![0, 2, 1]);
    }

    #[test]
    fn sigmoid_and_softplus_are_stable_in_the_tails() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(800.0), 1.0);
        assert_eq!(sigmoid(-800.0), 0.0);
        assert!(sigmoid(-40.0) > 0.0);
        assert_eq!(sigmoid(f64::NAN), 0.5);
        assert_eq!(softplus(800.0), 800.0);
        assert_eq!(softplus(-800.0), 0.0);
        assert!((softplus(0.0) - 2f64.ln()).abs() < 1e-16);
        assert!((softplus(-40.0) - (-40f64).exp()).abs() < 1e-30);
    }
}

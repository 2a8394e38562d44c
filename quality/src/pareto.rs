//! Pareto resampling of classifier scores (Brown et al. 2020, App. A): a document is kept iff
//! `np.random.pareto(α) > 1 − score`, with α = 9, so mostly high-scoring documents survive while some
//! low-scoring ones still do ("to take mostly high quality documents while still keeping some out of
//! distribution ones").
//!
//! `np.random.pareto(α)` draws from the Lomax (Pareto II) distribution, `P(X > t) = (1 + t)^−α` for
//! `t ≥ 0`, so a document with score `s ∈ [0, 1]` is kept with probability `(2 − s)^−α`. Here the draw is
//! not taken from a random stream but derived from the run seed and the document's id, so whether a
//! document is kept is a pure function of `(seed, id, score, α)`: the same however the corpus is split
//! into tasks and in whatever order they run.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The paper's shape parameter α.
pub const DEFAULT_ALPHA: f64 = 9.0;

/// Mixed into the run seed so the draw never correlates with other seeded hashes of the id.
const DRAW_DOMAIN: u64 = 0x7061_7265_746f_2d31; // "pareto-1"

/// The Lomax(α) draw of document `id` in the run with `seed`: a uniform `u ∈ [0, 1)` from the top 53 bits
/// of `xxh3_64_with_seed(id, seed ^ DRAW_DOMAIN)`, through the inverse CDF `(1 − u)^(−1/α) − 1`. Always
/// finite and ≥ 0 (0 exactly when `u = 0`) for `alpha > 0`; NaN when `alpha` is not a positive number.
pub fn lomax_draw(seed: u64, id: &str, alpha: f64) -> f64 {
    let hash = xxh3_64_with_seed(id.as_bytes(), seed ^ DRAW_DOMAIN);
    lomax_inverse_cdf(unit_interval(hash), alpha)
}

/// A 64-bit hash as a uniform number in `[0, 1)`: its top 53 bits, every value exactly representable.
pub(crate) fn unit_interval(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether document `id` with classifier score `score` survives Pareto resampling in the run with
/// `seed`: `lomax_draw(seed, id, alpha) > 1 − score`, which holds with probability
/// [`keep_probability`]`(score, alpha)`. Never keeps a NaN score, nor anything when `alpha` is not a
/// positive number.
pub fn pareto_keep(seed: u64, id: &str, score: f64, alpha: f64) -> bool {
    lomax_draw(seed, id, alpha) > 1.0 - score
}

/// Probability that [`pareto_keep`] keeps a document with `score`: `(2 − score)^−α` for scores up to 1,
/// and 1 above (a draw is never negative). Use it to predict how much of a corpus a threshold keeps.
pub fn keep_probability(score: f64, alpha: f64) -> f64 {
    if score > 1.0 {
        1.0
    } else {
        (2.0 - score).powf(-alpha)
    }
}

/// `(1 − u)^(−1/α) − 1` as `expm1(−ln(1 − u) / α)`, exact near `u = 0` where the plain form cancels.
fn lomax_inverse_cdf(uniform: f64, alpha: f64) -> f64 {
    if alpha.is_nan() || alpha <= 0.0 {
        return f64::NAN;
    }
    (-(-uniform).ln_1p() / alpha).exp_m1()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const SEED: u64 = 20_200_528;

    fn id(i: usize) -> String {
        format!("cc-2019-30/shard-{:03}/doc-{i}", i % 97)
    }

    /// Score of synthetic document `i` of `n`: evenly spread over [0, 1].
    fn score(i: usize, n: usize) -> f64 {
        (i as f64 + 0.5) / n as f64
    }

    #[test]
    fn keep_rate_per_score_bucket_matches_two_minus_s_to_the_minus_alpha() {
        let n = 100_000;
        let buckets = 20;
        let mut kept = vec![0usize; buckets];
        let mut expected = vec![0.0; buckets];
        let mut variance = vec![0.0; buckets];
        for i in 0..n {
            let s = score(i, n);
            let bucket = ((s * buckets as f64) as usize).min(buckets - 1);
            let p = keep_probability(s, DEFAULT_ALPHA);
            expected[bucket] += p;
            variance[bucket] += p * (1.0 - p);
            kept[bucket] += usize::from(pareto_keep(SEED, &id(i), s, DEFAULT_ALPHA));
        }
        // Each bucket's count is a sum of independent Bernoulli(p_i) draws: within 5 standard deviations
        // of its mean with probability 1 − 6e-7.
        for bucket in 0..buckets {
            let deviation = (kept[bucket] as f64 - expected[bucket]).abs();
            let bound = 5.0 * variance[bucket].sqrt();
            assert!(
                deviation <= bound,
                "bucket {bucket}: kept {} expected {:.1} ± {bound:.1}",
                kept[bucket],
                expected[bucket]
            );
        }
        // The buckets really differ: (2 − s)^−9 runs from about 0.002 to about 0.9.
        assert!(kept[0] < 30 && kept[buckets - 1] > 4000, "{kept:?}");
    }

    #[test]
    fn draws_follow_the_lomax_distribution() {
        // Kolmogorov–Smirnov against F(t) = 1 − (1 + t)^−α; 1.95/√n is the 0.1% critical value.
        let n = 100_000;
        let mut draws: Vec<f64> = (0..n)
            .map(|i| lomax_draw(SEED, &id(i), DEFAULT_ALPHA))
            .collect();
        draws.sort_by(f64::total_cmp);
        let mut statistic: f64 = 0.0;
        for (rank, &draw) in draws.iter().enumerate() {
            let cdf = 1.0 - (1.0 + draw).powf(-DEFAULT_ALPHA);
            let below = rank as f64 / n as f64;
            let at_or_below = (rank + 1) as f64 / n as f64;
            statistic = statistic
                .max((cdf - below).abs())
                .max((at_or_below - cdf).abs());
        }
        assert!(
            statistic < 1.95 / (n as f64).sqrt(),
            "KS statistic {statistic}"
        );
        assert!(draws.iter().all(|d| d.is_finite() && *d >= 0.0));
    }

    #[test]
    fn decisions_do_not_depend_on_the_task_split_or_order() {
        let n = 30_000;
        let docs: Vec<(String, f64)> = (0..n).map(|i| (id(i), score(i, n))).collect();
        let mut kept_by_split = Vec::new();
        for tasks in [1usize, 3, 8] {
            // Task t takes every tasks-th document, and the tasks run last to first, each walking its
            // documents backwards, as a scheduler might.
            let mut kept = BTreeSet::new();
            for task in (0..tasks).rev() {
                let mine: Vec<&(String, f64)> = docs.iter().skip(task).step_by(tasks).collect();
                for (id, score) in mine.into_iter().rev() {
                    if pareto_keep(SEED, id, *score, DEFAULT_ALPHA) {
                        kept.insert(id.clone());
                    }
                }
            }
            kept_by_split.push(kept);
        }
        assert!(kept_by_split[0].len() > 1000);
        assert_eq!(kept_by_split[0], kept_by_split[1]);
        assert_eq!(kept_by_split[0], kept_by_split[2]);
    }

    #[test]
    fn different_seeds_give_different_decisions() {
        // At s = 2 − 2^(1/9) the keep probability is 1/2, so two independent seeds disagree on each
        // document with probability 1/2: 10,000 documents give 5,000 ± 250 (5σ) disagreements.
        let s = 2.0 - 2f64.powf(1.0 / DEFAULT_ALPHA);
        assert!((keep_probability(s, DEFAULT_ALPHA) - 0.5).abs() < 1e-12);
        let n = 10_000;
        let disagreements = (0..n)
            .filter(|&i| {
                pareto_keep(1, &id(i), s, DEFAULT_ALPHA) != pareto_keep(2, &id(i), s, DEFAULT_ALPHA)
            })
            .count();
        assert!(
            (4750..=5250).contains(&disagreements),
            "{disagreements} disagreements"
        );
    }

    #[test]
    fn inverse_cdf_edges() {
        assert_eq!(lomax_inverse_cdf(0.0, DEFAULT_ALPHA), 0.0);
        let top = 1.0 - f64::EPSILON / 2.0;
        let largest = lomax_inverse_cdf(top, DEFAULT_ALPHA);
        // (2^-53)^(-1/9) - 1 = 2^(53/9) - 1.
        assert!((largest - (2f64.powf(53.0 / 9.0) - 1.0)).abs() < 1e-9);
        // Small u: (1 − u)^(−1/α) − 1 ≈ u/α, which the expm1/ln1p form keeps to full precision.
        let tiny = lomax_inverse_cdf(1e-17, DEFAULT_ALPHA);
        assert!((tiny - 1e-17 / 9.0).abs() < 1e-30, "{tiny}");
        let mut previous = -1.0;
        for k in 0..=1000 {
            let draw = lomax_inverse_cdf(f64::from(k) / 1001.0, DEFAULT_ALPHA);
            assert!(draw > previous);
            previous = draw;
        }
    }

    #[test]
    fn bad_alpha_and_scores_never_keep_and_never_panic() {
        for alpha in [0.0, -1.0, f64::NAN] {
            assert!(lomax_draw(SEED, "doc", alpha).is_nan());
            assert!(!pareto_keep(SEED, "doc", 0.99, alpha));
        }
        assert!(!pareto_keep(SEED, "doc", f64::NAN, DEFAULT_ALPHA));
        // A score above 1 is always kept; a draw is never negative.
        assert!(pareto_keep(SEED, "doc", 1.5, DEFAULT_ALPHA));
        assert_eq!(keep_probability(1.5, DEFAULT_ALPHA), 1.0);
        assert_eq!(keep_probability(1.0, DEFAULT_ALPHA), 1.0);
        assert!((keep_probability(0.0, DEFAULT_ALPHA) - 2f64.powi(-9)).abs() < 1e-18);
    }
}

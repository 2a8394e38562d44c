//! Evaluation of a scorer on labelled documents: ROC AUC and accuracy.

/// Area under the ROC curve of `(score, is_positive)` pairs: the probability that a random positive
/// scores above a random negative, ties counting one half (the Mann–Whitney U statistic over average
/// ranks). `None` when either class is missing or a score is NaN.
pub fn auc(scores_labels: &[(f64, bool)]) -> Option<f64> {
    if scores_labels.iter().any(|(score, _)| score.is_nan()) {
        return None;
    }
    let positives = scores_labels.iter().filter(|(_, label)| *label).count();
    let negatives = scores_labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut sorted = scores_labels.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the 1-based ranks of the positives, a tie group sharing its average rank.
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < sorted.len() {
        let score = sorted[start].0;
        let end = start
            + sorted[start..]
                .iter()
                .take_while(|(s, _)| *s == score)
                .count();
        let average_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = sorted[start..end]
            .iter()
            .filter(|(_, label)| *label)
            .count();
        positive_rank_sum += average_rank * tied_positives as f64;
        start = end;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Share of `(score, is_positive)` pairs on the right side of 0.5 (a score of exactly 0.5 counts as
/// positive); `None` for no pairs.
pub(crate) fn accuracy(scores_labels: &[(f64, bool)]) -> Option<f64> {
    if scores_labels.is_empty() {
        return None;
    }
    let correct = scores_labels
        .iter()
        .filter(|&&(score, label)| (score >= 0.5) == label)
        .count();
    Some(correct as f64 / scores_labels.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_reversed_and_tied_scorers() {
        let perfect = [(0.9, true), (0.8, true), (0.2, false), (0.1, false)];
        assert_eq!(auc(&perfect), Some(1.0));
        let reversed = [(0.1, true), (0.2, true), (0.8, false), (0.9, false)];
        assert_eq!(auc(&reversed), Some(0.0));
        let tied = [(0.5, true), (0.5, false), (0.5, true), (0.5, false)];
        assert_eq!(auc(&tied), Some(0.5));
    }

    #[test]
    fn auc_counts_cross_class_ties_as_one_half() {
        // Positives 0.9, 0.5; negatives 0.5, 0.1. Pairs: (0.9>0.5) 1, (0.9>0.1) 1, (0.5=0.5) ½,
        // (0.5>0.1) 1 → 3.5 / 4.
        let pairs = [(0.5, false), (0.9, true), (0.1, false), (0.5, true)];
        assert_eq!(auc(&pairs), Some(0.875));
        // Brute force over all positive/negative pairs on a larger example with many ties.
        let pairs: Vec<(f64, bool)> = (0..200)
            .map(|i| (f64::from((i * 37 % 11) as u8) / 10.0, i % 3 == 0))
            .collect();
        let mut wins = 0.0;
        let mut total = 0.0;
        for &(p, _) in pairs.iter().filter(|(_, label)| *label) {
            for &(n, _) in pairs.iter().filter(|(_, label)| !*label) {
                total += 1.0;
                wins += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let got = auc(&pairs).expect("both classes present");
        assert!(
            (got - wins / total).abs() < 1e-12,
            "{got} vs {}",
            wins / total
        );
    }

    #[test]
    fn auc_needs_both_classes_and_no_nan() {
        assert_eq!(auc(&[]), None);
        assert_eq!(auc(&[(0.3, true), (0.4, true)]), None);
        assert_eq!(auc(&[(0.3, false)]), None);
        assert_eq!(auc(&[(f64::NAN, true), (0.4, false)]), None);
    }

    #[test]
    fn accuracy_thresholds_at_one_half() {
        let pairs = [(0.5, true), (0.49, false), (0.7, false), (0.2, true)];
        assert_eq!(accuracy(&pairs), Some(0.5));
        assert_eq!(accuracy(&[]), None);
    }
}

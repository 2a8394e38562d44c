//! Exact Jaccard similarity of two sets held as sorted slices, the check that follows LSH candidate
//! generation: MinHash banding only says two documents probably overlap, verification measures
//! `|A ∩ B| / |A ∪ B|` on the stored shingle (or feature) sets themselves.

use std::cmp::Ordering;

/// Jaccard similarity `|A ∩ B| / |A ∪ B|` of two sets given as strictly increasing slices, as
/// [`crate::shingle_set`] and [`crate::SparkMinHash::features`] return them, in one merge pass.
///
/// Two empty sets are equal and get 1.0. Slices that are not sorted and deduplicated give a meaningless
/// value, not an error: the callers build them sorted.
///
/// ```
/// assert_eq!(corpus_dedup::jaccard(&[1u64, 2, 3], &[2, 3, 4]), 0.5);
/// ```
pub fn jaccard<T: Ord>(left: &[T], right: &[T]) -> f64 {
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while let (Some(l), Some(r)) = (left.get(i), right.get(j)) {
        match l.cmp(r) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = left.len() + right.len() - common;
    if union == 0 {
        1.0
    } else {
        common as f64 / union as f64
    }
}

#[cfg(test)]
mod tests {
    use super::jaccard;
    use std::collections::BTreeSet;

    #[test]
    fn counts_the_intersection_over_the_union() {
        assert_eq!(jaccard::<u64>(&[], &[]), 1.0);
        assert_eq!(jaccard(&[1u64], &[]), 0.0);
        assert_eq!(jaccard(&[1u64, 2], &[1, 2]), 1.0);
        assert_eq!(jaccard(&[1u32, 5, 9], &[2, 5, 7, 9]), 0.4);
        assert_eq!(jaccard(&[u64::MAX], &[0, u64::MAX]), 0.5);
    }

    #[test]
    fn equals_set_arithmetic_on_random_sets() {
        let mut state = 7u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % 64
        };
        for _ in 0..500 {
            let left: BTreeSet<u64> = (0..next()).map(|_| next()).collect();
            let right: BTreeSet<u64> = (0..next()).map(|_| next()).collect();
            let union = left.union(&right).count();
            let expected = if union == 0 {
                1.0
            } else {
                left.intersection(&right).count() as f64 / union as f64
            };
            let (l, r): (Vec<u64>, Vec<u64>) =
                (left.into_iter().collect(), right.into_iter().collect());
            assert_eq!(jaccard(&l, &r), expected);
        }
    }
}

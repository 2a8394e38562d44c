//! Document features for the two model kinds, as sparse `(index, value)` vectors and as a one-pass dot
//! product with a dense weight vector (the scoring path).
//!
//! - [`ModelKind::Gpt3HashingLr`]: the GPT-3 paper's Spark pipeline (Brown et al. 2020, App. A, "Spark's
//!   standard tokenizer and HashingTF"). Spark's `Tokenizer` is `text.toLowerCase.split("\\s")` and
//!   `HashingTF` (binary = false) counts `nonNegativeMod(murmur3_x86_32(utf8(token), 42), numFeatures)`.
//!   Java's `String.split` with a one-character pattern keeps the empty strings between consecutive
//!   separators and a leading one, drops the trailing ones, and returns `[""]` for an empty string; `\s`
//!   is the six ASCII characters ` \t\n\x0B\f\r` only. All of that is reproduced
//!   (`corpus_text::tokens`), empty tokens included (they hash like any other term).
//! - [`ModelKind::BigramHashingLr`]: lowercase words (maximal runs of alphanumeric characters), their
//!   unigrams and adjacent-word bigrams hashed with xxh3 into `num_features` buckets, each bucket's count
//!   `c` turned into `1 + ln c`, and the vector scaled to unit L2 norm, so document length stops
//!   dominating the margin.
//!
//! Both scan the text's bytes once, through the tokenizers of `corpus_text::tokens`.

use corpus_text::spark::{SPARK_HASH_SEED, spark_term_index};
use corpus_text::tokens::{for_each_lowercase_word, for_each_spark_token};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::ModelKind;

/// xxh3 seed for bigram-model unigrams; bigrams use the next seed so a two-word pair never shares a hash
/// domain with a single word.
const BIGRAM_MODEL_SEED: u64 = SPARK_HASH_SEED as u64;

/// The feature map of one model: which tokens it reads and how they become `(index, value)` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FeatureHasher {
    kind: ModelKind,
    num_features: u32,
}

impl FeatureHasher {
    /// A feature map of `num_features` buckets; callers guarantee `num_features > 0`.
    pub(crate) fn new(kind: ModelKind, num_features: u32) -> Self {
        debug_assert!(num_features > 0);
        Self { kind, num_features }
    }

    /// The model kind this map belongs to.
    pub(crate) fn kind(&self) -> ModelKind {
        self.kind
    }

    /// Number of buckets (the length of the weight vector).
    pub(crate) fn num_features(&self) -> u32 {
        self.num_features
    }

    /// The document's feature vector: distinct indices in increasing order with their values (raw term
    /// counts for GPT-3, normalised log counts for the bigram model).
    pub(crate) fn features(&self, text: &str) -> Vec<(u32, f64)> {
        let mut indices = Vec::new();
        self.collect_indices(text, &mut indices);
        indices.sort_unstable();
        let mut features: Vec<(u32, f64)> = Vec::new();
        for_each_run(&indices, |index, count| {
            features.push((index, count as f64));
        });
        if self.kind == ModelKind::BigramHashingLr {
            let mut norm_sq = 0.0;
            for (_, value) in &mut features {
                *value = 1.0 + value.ln();
                norm_sq += *value * *value;
            }
            let norm = norm_sq.sqrt();
            for (_, value) in &mut features {
                *value /= norm;
            }
        }
        features
    }

    /// `weights · features(text)` without building the vector: one pass over the text for GPT-3 (each
    /// token adds its bucket's weight), one pass plus a sort of the hashed n-grams for the bigram model.
    /// `weights` has `num_features` entries.
    pub(crate) fn dot(&self, text: &str, weights: &[f64]) -> f64 {
        debug_assert_eq!(weights.len(), self.num_features as usize);
        match self.kind {
            ModelKind::Gpt3HashingLr => {
                let mut lower = Vec::new();
                let mut sum = 0.0;
                for_each_spark_token(text, &mut lower, |token| {
                    sum += weights[spark_term_index(token, self.num_features) as usize];
                });
                sum
            }
            ModelKind::BigramHashingLr => {
                let mut indices = Vec::new();
                bigram_model_indices(text, self.num_features, &mut indices);
                indices.sort_unstable();
                let (mut dot, mut norm_sq) = (0.0, 0.0);
                for_each_run(&indices, |index, count| {
                    let value = 1.0 + (count as f64).ln();
                    dot += weights[index as usize] * value;
                    norm_sq += value * value;
                });
                if norm_sq > 0.0 {
                    dot / norm_sq.sqrt()
                } else {
                    0.0
                }
            }
        }
    }

    fn collect_indices(&self, text: &str, indices: &mut Vec<u32>) {
        match self.kind {
            ModelKind::Gpt3HashingLr => {
                let mut lower = Vec::new();
                for_each_spark_token(text, &mut lower, |token| {
                    indices.push(spark_term_index(token, self.num_features));
                });
            }
            ModelKind::BigramHashingLr => bigram_model_indices(text, self.num_features, indices),
        }
    }
}

/// Calls `visit(value, run_length)` for each run of equal values in sorted `values`.
fn for_each_run(values: &[u32], mut visit: impl FnMut(u32, usize)) {
    let mut rest = values;
    while let Some(&first) = rest.first() {
        let run = rest.iter().take_while(|&&value| value == first).count();
        visit(first, run);
        rest = &rest[run..];
    }
}

/// Pushes the bucket of every unigram and adjacent-word bigram of `text` for the bigram model.
fn bigram_model_indices(text: &str, num_features: u32, indices: &mut Vec<u32>) {
    let bucket = |hash: u64| (hash % u64::from(num_features)) as u32;
    let mut lower = Vec::new();
    let mut previous: Option<u64> = None;
    for_each_lowercase_word(text, &mut lower, |word| {
        let hash = xxh3_64_with_seed(word, BIGRAM_MODEL_SEED);
        indices.push(bucket(hash));
        if let Some(previous) = previous {
            let mut pair = [0u8; 16];
            pair[..8].copy_from_slice(&previous.to_le_bytes());
            pair[8..].copy_from_slice(&hash.to_le_bytes());
            indices.push(bucket(xxh3_64_with_seed(&pair, BIGRAM_MODEL_SEED + 1)));
        }
        previous = Some(hash);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_tf_matches_pyspark_doctest() {
        // pyspark.ml.feature.HashingTF doctest (Spark 3.x): ["a", "b", "c"] with numFeatures = 10 is
        // SparseVector(10, {5: 1.0, 7: 1.0, 8: 1.0}), indexOf("b") == 5, and numFeatures = 5 gives
        // {0, 2, 3}.
        let hasher = FeatureHasher::new(ModelKind::Gpt3HashingLr, 10);
        assert_eq!(hasher.features("a b c"), vec![(5, 1.0), (7, 1.0), (8, 1.0)]);
        assert_eq!(spark_term_index(b"b", 10), 5);
        let hasher = FeatureHasher::new(ModelKind::Gpt3HashingLr, 5);
        assert_eq!(hasher.features("A B C"), vec![(0, 1.0), (2, 1.0), (3, 1.0)]);
    }

    #[test]
    fn gpt3_features_are_raw_counts_including_empty_tokens() {
        let num_features = 1 << 18;
        let hasher = FeatureHasher::new(ModelKind::Gpt3HashingLr, num_features);
        let features = hasher.features("The cat  the CAT\tthe end ");
        let index = |token: &str| spark_term_index(token.as_bytes(), num_features);
        let mut expected = vec![
            (index("the"), 3.0),
            (index("cat"), 2.0),
            (index(""), 1.0),
            (index("end"), 1.0),
        ];
        expected.sort_by_key(|&(index, _)| index);
        assert_eq!(features, expected);
        assert_eq!(hasher.features(""), vec![(index(""), 1.0)]);
        assert_eq!(hasher.features("  \n"), vec![]);
    }

    #[test]
    fn bigram_features_are_unit_norm_log_counts_of_unigrams_and_bigrams() {
        let num_features = 1 << 20;
        let hasher = FeatureHasher::new(ModelKind::BigramHashingLr, num_features);
        let features = hasher.features("a b a b a");
        // Unigrams a×3, b×2; bigrams (a,b)×2, (b,a)×2.
        let mut values: Vec<f64> = features.iter().map(|&(_, value)| value).collect();
        values.sort_by(f64::total_cmp);
        let two = 1.0 + 2f64.ln();
        let three = 1.0 + 3f64.ln();
        let norm = (3.0 * two * two + three * three).sqrt();
        let expected = [two / norm, two / norm, two / norm, three / norm];
        assert_eq!(values.len(), 4);
        for (value, expected) in values.iter().zip(expected) {
            assert!((value - expected).abs() < 1e-15, "{value} vs {expected}");
        }
        let norm_sq: f64 = values.iter().map(|value| value * value).sum();
        assert!((norm_sq - 1.0).abs() < 1e-12);
        // Case and punctuation do not change the features.
        assert_eq!(hasher.features("A, b. A b; a!"), features);
        assert_eq!(hasher.features(""), vec![]);
    }

    #[test]
    fn dot_equals_features_times_weights() {
        let texts = [
            "",
            " ",
            "a  b ",
            "The quick brown fox\r\njumps over THE lazy dog.\n\n",
            "ÀB Ça ΟΔΟΣ İstanbul \u{212A} naïve café CAFÉ",
            "tab\tseparated\x0Bvertical\x0Cfeed",
            "one two one two one two three",
        ];
        for kind in [ModelKind::Gpt3HashingLr, ModelKind::BigramHashingLr] {
            let num_features = 1021;
            let hasher = FeatureHasher::new(kind, num_features);
            let weights: Vec<f64> = (0..num_features)
                .map(|i| f64::from(i % 17) * 0.125 - 1.0)
                .collect();
            for text in texts {
                let reference: f64 = hasher
                    .features(text)
                    .iter()
                    .map(|&(index, value)| weights[index as usize] * value)
                    .sum();
                let fast = hasher.dot(text, &weights);
                assert!(
                    (fast - reference).abs() <= 1e-12 * reference.abs().max(1.0),
                    "{kind:?} {text:?}: {fast} vs {reference}"
                );
            }
        }
    }
}

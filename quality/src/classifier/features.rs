//! Document features for the two model kinds, as sparse `(index, value)` vectors and as a one-pass dot
//! product with a dense weight vector (the scoring path).
//!
//! - [`ModelKind::Gpt3HashingLr`]: the GPT-3 paper's Spark pipeline (Brown et al. 2020, App. A, "Spark's
//!   standard tokenizer and HashingTF"). Spark's `Tokenizer` is `text.toLowerCase.split("\\s")` and
//!   `HashingTF` (binary = false) counts `nonNegativeMod(murmur3_x86_32(utf8(token), 42), numFeatures)`.
//!   Java's `String.split` with a one-character pattern keeps the empty strings between consecutive
//!   separators and a leading one, drops the trailing ones, and returns `[""]` for an empty string; `\s`
//!   is the six ASCII characters ` \t\n\x0B\f\r` only. All of that is reproduced here, empty tokens
//!   included (they hash like any other term).
//! - [`ModelKind::BigramHashingLr`]: lowercase words (maximal runs of alphanumeric characters), their
//!   unigrams and adjacent-word bigrams hashed with xxh3 into `num_features` buckets, each bucket's count
//!   `c` turned into `1 + ln c`, and the vector scaled to unit L2 norm, so document length stops
//!   dominating the margin.
//!
//! Both scan the text's bytes once. ASCII whitespace and ASCII letters are classified from a table, and a
//! token is lowercased into a reused buffer: bytewise when it is ASCII, by Unicode case mapping when not.
//! That equals `str::to_lowercase`, which, like Java's `toLowerCase`, turns a word-final capital sigma into
//! `ς`; a token lowercases the same alone as inside the whole text because the mapping's context never
//! crosses whitespace. Spark lowercases with the JVM's default locale: this matches any locale but
//! Turkish and Azeri (dotted and dotless i), and Rust's and the JVM's Unicode versions may differ for
//! characters added recently.

use std::num::NonZeroU32;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::ModelKind;
use super::murmur3::{SPARK_HASH_SEED, murmur3_x86_32, non_negative_mod};

/// xxh3 seed for bigram-model unigrams; bigrams use the next seed so a two-word pair never shares a hash
/// domain with a single word.
const BIGRAM_MODEL_SEED: u64 = SPARK_HASH_SEED as u64;

/// A byte is one of Java's `\s` characters.
const SPACE: u8 = 1;
/// A byte is an ASCII capital letter.
const UPPER: u8 = 2;
/// A byte belongs to a multi-byte UTF-8 sequence.
const NON_ASCII: u8 = 4;
/// A byte is an ASCII letter or digit (a word byte for the bigram model).
const ALNUM: u8 = 8;

/// Class bits of every byte value, so the scanning loops do one table load per byte.
static BYTE_CLASS: [u8; 256] = byte_classes();

const fn byte_classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut value = 0;
    while value < 256 {
        let byte = value as u8;
        let mut class = 0;
        if matches!(byte, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r') {
            class |= SPACE;
        }
        if byte.is_ascii_uppercase() {
            class |= UPPER;
        }
        if byte >= 0x80 {
            class |= NON_ASCII;
        }
        if byte.is_ascii_alphanumeric() {
            class |= ALNUM;
        }
        table[value] = class;
        value += 1;
    }
    table
}

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

/// Calls `emit` with the Spark `HashingTF` index (in `0..num_features`) of each token of Spark's `Tokenizer`
/// over `text`, in token order, repeats included: the GPT-3 classifier's features before counting. The set
/// of these indices is also what Spark's `MinHashLSH` hashes when it runs on those features, as GPT-3's
/// fuzzy deduplication did (`corpus-dedup`'s `gpt3` mode).
pub fn for_each_spark_term_index(text: &str, num_features: NonZeroU32, mut emit: impl FnMut(u32)) {
    let mut lower = Vec::new();
    for_each_spark_token(text, &mut lower, |token| {
        emit(spark_term_index(token, num_features.get()));
    });
}

/// Spark `HashingTF.indexOf` for a lowercased token.
pub(crate) fn spark_term_index(token: &[u8], num_features: u32) -> u32 {
    non_negative_mod(murmur3_x86_32(token, SPARK_HASH_SEED), num_features)
}

/// Calls `emit` with the UTF-8 bytes of each token of Spark's `Tokenizer` (`text.toLowerCase.split("\\s")`),
/// in order. `lower` is scratch space for lowercasing ASCII tokens.
pub(crate) fn for_each_spark_token(text: &str, lower: &mut Vec<u8>, mut emit: impl FnMut(&[u8])) {
    if text.is_empty() {
        // Java: "".split(regex) is [""], the one case where a lone empty string survives.
        emit(b"");
        return;
    }
    let bytes = text.as_bytes();
    // Empty pieces are only tokens if a non-empty piece follows (Java drops trailing empty strings).
    let mut pending_empty = 0usize;
    let mut start = 0;
    let mut flags = 0u8;
    for (at, &byte) in bytes.iter().enumerate() {
        let class = BYTE_CLASS[usize::from(byte)];
        if class & SPACE == 0 {
            flags |= class;
            continue;
        }
        if at == start {
            pending_empty += 1;
        } else {
            for _ in 0..pending_empty {
                emit(b"");
            }
            pending_empty = 0;
            // Separators are ASCII bytes, hence char boundaries of `text`.
            emit_lowercase(&text[start..at], flags, lower, &mut emit);
        }
        start = at + 1;
        flags = 0;
    }
    if start < bytes.len() {
        for _ in 0..pending_empty {
            emit(b"");
        }
        emit_lowercase(&text[start..], flags, lower, &mut emit);
    }
}

/// Emits `piece` lowercased: as is when it has no capitals, through `lower` otherwise. A non-ASCII piece
/// is lowercased character by character, which is exactly `str::to_lowercase` except for the capital
/// sigma, whose final form depends on its neighbours; a piece holding one goes through
/// `str::to_lowercase` itself (the only allocation on this path).
fn emit_lowercase(piece: &str, flags: u8, lower: &mut Vec<u8>, emit: &mut impl FnMut(&[u8])) {
    if flags & NON_ASCII != 0 {
        if piece.contains(CAPITAL_SIGMA) {
            emit(piece.to_lowercase().as_bytes());
            return;
        }
        lower.clear();
        let mut utf8 = [0u8; 4];
        for ch in piece.chars() {
            if ch.is_ascii() {
                lower.push(ch.to_ascii_lowercase() as u8);
            } else {
                for lowered in ch.to_lowercase() {
                    lower.extend_from_slice(lowered.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
        emit(lower);
    } else if flags & UPPER != 0 {
        lower.clear();
        lower.extend(piece.bytes().map(|byte| byte.to_ascii_lowercase()));
        emit(lower);
    } else {
        emit(piece.as_bytes());
    }
}

/// Greek capital sigma, the one character whose lowercase depends on context (final `ς` or `σ`).
const CAPITAL_SIGMA: char = '\u{3a3}';

/// Calls `emit` with each lowercased word of `text`: a maximal run of alphanumeric characters (ASCII
/// letters and digits, and non-ASCII characters for which `char::is_alphanumeric` holds).
fn for_each_word(text: &str, lower: &mut Vec<u8>, mut emit: impl FnMut(&[u8])) {
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut word_start = None;
    let mut flags = 0u8;
    while let Some(&byte) = bytes.get(at) {
        let class = BYTE_CLASS[usize::from(byte)];
        let (is_word, width) = if class & NON_ASCII == 0 {
            (class & ALNUM != 0, 1)
        } else {
            // `at` only ever advances by whole characters, so it is a char boundary.
            match text[at..].chars().next() {
                Some(ch) => (ch.is_alphanumeric(), ch.len_utf8()),
                None => break,
            }
        };
        if is_word {
            if word_start.is_none() {
                word_start = Some(at);
                flags = 0;
            }
            flags |= class;
        } else if let Some(start) = word_start.take() {
            emit_lowercase(&text[start..at], flags, lower, &mut emit);
        }
        at += width;
    }
    if let Some(start) = word_start {
        emit_lowercase(&text[start..], flags, lower, &mut emit);
    }
}

/// Pushes the bucket of every unigram and adjacent-word bigram of `text` for the bigram model.
fn bigram_model_indices(text: &str, num_features: u32, indices: &mut Vec<u32>) {
    let bucket = |hash: u64| (hash % u64::from(num_features)) as u32;
    let mut lower = Vec::new();
    let mut previous: Option<u64> = None;
    for_each_word(text, &mut lower, |word| {
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

    fn spark_tokens(text: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        let mut lower = Vec::new();
        for_each_spark_token(text, &mut lower, |token| {
            tokens.push(String::from_utf8(token.to_vec()).expect("tokens are UTF-8"));
        });
        tokens
    }

    fn words(text: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut lower = Vec::new();
        for_each_word(text, &mut lower, |word| {
            words.push(String::from_utf8(word.to_vec()).expect("words are UTF-8"));
        });
        words
    }

    #[test]
    fn spark_tokenizer_reproduces_java_split_on_backslash_s() {
        let cases: &[(&str, &[&str])] = &[
            // Java "".split("\\s") is [""]; an all-separator string is [].
            ("", &[""]),
            (" ", &[]),
            ("\t\n \r", &[]),
            ("a", &["a"]),
            ("a b", &["a", "b"]),
            // Empty strings between consecutive separators and at the start are kept...
            ("a  b", &["a", "", "b"]),
            (" a", &["", "a"]),
            ("  a", &["", "", "a"]),
            ("a \t b", &["a", "", "", "b"]),
            // ...trailing ones are dropped.
            ("a ", &["a"]),
            ("a \t\r\n", &["a"]),
            (" a  ", &["", "a"]),
            // CRLF is two separators, so it leaves an empty token when a word follows.
            ("one\r\ntwo", &["one", "", "two"]),
            // Every one of Java's \s characters separates: space \t \n \x0B \f \r.
            (
                "a\tb\nc\x0Bd\x0Ce\rf g",
                &["a", "b", "c", "d", "e", "f", "g"],
            ),
            // Other whitespace does not: U+001C (Java isWhitespace, not \s), NBSP, em space, NEL.
            (
                "a\x1Cb c\u{a0}d e\u{2003}f g\u{85}h",
                &["a\x1cb", "c\u{a0}d", "e\u{2003}f", "g\u{85}h"],
            ),
            ("Hello, World!", &["hello,", "world!"]),
        ];
        for &(text, expected) in cases {
            assert_eq!(spark_tokens(text), expected, "tokens of {text:?}");
        }
    }

    #[test]
    fn spark_tokenizer_lowercases_unicode_like_java() {
        let cases: &[(&str, &[&str])] = &[
            ("ÀB Ça", &["àb", "ça"]),
            ("ÉCOLE\tNaïve", &["école", "naïve"]),
            // Word-final capital sigma becomes final sigma, as Java's String.toLowerCase does.
            ("ΟΔΟΣ ΣΑ", &["οδος", "σα"]),
            // Capital I with dot above lowercases to i + combining dot (Java, root locale).
            ("İstanbul", &["i\u{307}stanbul"]),
            // The Kelvin sign lowercases to an ASCII k.
            ("\u{212A}elvin", &["kelvin"]),
            ("ДОМ дом", &["дом", "дом"]),
        ];
        for &(text, expected) in cases {
            assert_eq!(spark_tokens(text), expected, "tokens of {text:?}");
        }
    }

    #[test]
    fn piecewise_lowercasing_equals_str_to_lowercase() {
        let pieces = [
            "ÀB",
            "Straße",
            "ΟΔΟΣ",
            "ΣΑΣ",
            "Σ",
            "ὈΔΥΣΣΕΎΣ",
            "İI",
            "\u{212A}\u{2126}",
            "ǅǄǆ",
            "ДОМ",
            "ΑΣ-ΒΣ.",
            "日本",
            "ⓐⒶ",
            "𐐀𐐨",
        ];
        let mut lower = Vec::new();
        for piece in pieces {
            let mut got = Vec::new();
            emit_lowercase(
                piece,
                NON_ASCII | UPPER,
                &mut lower,
                &mut |bytes: &[u8]| {
                    got = bytes.to_vec();
                },
            );
            assert_eq!(
                String::from_utf8(got).expect("UTF-8"),
                piece.to_lowercase(),
                "{piece}"
            );
        }
    }

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
    fn spark_index_of_a_negative_hash_is_non_negative() {
        let token = b"the";
        let hash = murmur3_x86_32(token, SPARK_HASH_SEED) as i32;
        let negative = (0..1000)
            .map(|i| format!("token{i}"))
            .find(|token| (murmur3_x86_32(token.as_bytes(), SPARK_HASH_SEED) as i32) < 0)
            .expect("about half of all hashes are negative");
        let negative_hash = murmur3_x86_32(negative.as_bytes(), SPARK_HASH_SEED) as i32;
        for num_features in [1 << 18, 1000, 7] {
            let index = spark_term_index(negative.as_bytes(), num_features);
            let java = negative_hash % num_features as i32;
            assert!(java < 0);
            assert_eq!(index as i32, java + num_features as i32);
            assert_eq!(
                spark_term_index(token, num_features) as i32,
                hash.rem_euclid(num_features as i32)
            );
        }
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
    fn bigram_words_split_on_non_alphanumerics() {
        assert_eq!(
            words("Hello, World! It's 2024—ÉTÉ “quoted” x"),
            ["hello", "world", "it", "s", "2024", "été", "quoted", "x"]
        );
        assert_eq!(words(""), Vec::<String>::new());
        assert_eq!(words(" ... "), Vec::<String>::new());
        assert_eq!(words("日本語のテキスト"), ["日本語のテキスト"]);
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

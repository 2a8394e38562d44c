//! Word n-gram hashing and the index of benchmark n-grams.
//!
//! GPT-3 (Brown et al. 2020, App. C) calls a training document contaminated where it shares a 13-gram of
//! normalised words ([`crate::gpt3_words`]) with any benchmark example, and removes the n-gram plus 200
//! characters on each side. [`NgramIndex`] holds the hashed n-grams of the benchmark examples and reports
//! each shared n-gram of a training document with its exact byte range in the original text, so the
//! excision step can cut there.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use xxhash_rust::xxh3::xxh3_64;

use crate::normalize::gpt3_words;

/// N-gram length GPT-3 used for decontamination (Brown et al. 2020, App. C).
pub const GPT3_NGRAM_WORDS: usize = 13;

/// Why an [`NgramIndex`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NgramError {
    /// `n` is 0: an n-gram has at least one word.
    #[error("an n-gram has at least one word, got n = 0")]
    ZeroLength,
}

/// Hashes every run of `n` consecutive `words` with xxh3-64, words joined by a single space. Yields
/// nothing when there are fewer than `n` words, and nothing for `n = 0` (there are no empty n-grams to
/// match).
pub fn ngram_hashes<S: AsRef<str>>(words: &[S], n: usize) -> impl Iterator<Item = u64> + '_ {
    // `windows(0)` panics; an empty slice's windows of 1 are the same empty iterator type.
    let ngrams = if n == 0 {
        words[..0].windows(1)
    } else {
        words.windows(n)
    };
    let mut joined = String::new();
    ngrams.map(move |ngram| {
        joined.clear();
        for (i, word) in ngram.iter().enumerate() {
            if i > 0 {
                joined.push(' ');
            }
            joined.push_str(word.as_ref());
        }
        xxh3_64(joined.as_bytes())
    })
}

/// One benchmark n-gram found in a training document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NgramMatch {
    /// Indices of the n-gram's words among the document's [`crate::gpt3_words`].
    pub words: Range<usize>,
    /// Byte range in the original document from the start of the first word's token to the end of the
    /// last word's token; `&text[bytes]` is the matched passage.
    pub bytes: Range<usize>,
    /// The n-gram's hash, as [`ngram_hashes`] computes it.
    pub hash: u64,
}

/// The set of hashed word n-grams of a benchmark's examples, normalised with [`crate::gpt3_words`].
#[derive(Debug, Clone)]
pub struct NgramIndex {
    n: usize,
    hashes: HashSet<u64, BuildHasherDefault<PrehashedU64>>,
}

impl NgramIndex {
    /// Creates an empty index of `n`-word n-grams ([`GPT3_NGRAM_WORDS`] in the paper); fails with
    /// [`NgramError::ZeroLength`] for `n = 0`.
    pub fn new(n: usize) -> Result<Self, NgramError> {
        if n == 0 {
            return Err(NgramError::ZeroLength);
        }
        Ok(Self {
            n,
            hashes: HashSet::default(),
        })
    }

    /// The n-gram length in words.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Adds the n-grams of one benchmark example and returns how many it had, repeats included. An
    /// example of fewer than `n` words has none and can never match; GPT-3 handled such benchmarks by
    /// choosing a smaller `n` for them (App. C), which is the caller's choice here.
    pub fn insert_example(&mut self, text: &str) -> usize {
        let words: Vec<String> = gpt3_words(text).map(|word| word.text).collect();
        let mut count = 0;
        for hash in ngram_hashes(&words, self.n) {
            self.hashes.insert(hash);
            count += 1;
        }
        count
    }

    /// Whether an n-gram hash (from [`ngram_hashes`]) is in the index.
    pub fn contains(&self, hash: u64) -> bool {
        self.hashes.contains(&hash)
    }

    /// Number of distinct n-grams in the index.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the index has no n-grams.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Finds every n-gram of the training document `text` that is in the index, in document order.
    /// Overlapping matches are all reported (a shared 14-gram gives two 13-gram matches).
    pub fn find_matches(&self, text: &str) -> Vec<NgramMatch> {
        let words: Vec<_> = gpt3_words(text).collect();
        let texts: Vec<&str> = words.iter().map(|word| word.text.as_str()).collect();
        ngram_hashes(&texts, self.n)
            .enumerate()
            .filter(|&(_, hash)| self.contains(hash))
            .map(|(start, hash)| {
                let end = start + self.n;
                NgramMatch {
                    words: start..end,
                    bytes: words[start].bytes.start..words[end - 1].bytes.end,
                    hash,
                }
            })
            .collect()
    }
}

/// Hasher for keys that are already uniform 64-bit hashes (xxh3): hashing them again with SipHash would
/// only cost time.
#[derive(Debug, Clone, Copy, Default)]
struct PrehashedU64(u64);

impl Hasher for PrehashedU64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed (through `write_u64`); fold anything else in rather than drop it.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{GPT3_NGRAM_WORDS, NgramError, NgramIndex, ngram_hashes};
    use xxhash_rust::xxh3::xxh3_64;

    const BENCHMARK: &str = "Which of the following best describes the primary function of the mitochondria \
                             in a eukaryotic cell?";

    #[test]
    fn ngram_hashes_join_words_with_one_space() {
        let hashes: Vec<u64> = ngram_hashes(&["a", "b", "c"], 2).collect();
        assert_eq!(hashes, vec![xxh3_64(b"a b"), xxh3_64(b"b c")]);
        assert_eq!(ngram_hashes(&["a", "b"], 3).count(), 0);
    }

    #[test]
    fn zero_word_ngrams_are_none() {
        assert_eq!(ngram_hashes(&["a", "b"], 0).count(), 0);
        assert_eq!(ngram_hashes::<&str>(&[], 0).count(), 0);
        assert_eq!(NgramIndex::new(0).unwrap_err(), NgramError::ZeroLength);
    }

    #[test]
    fn index_counts_the_ngrams_of_each_example() {
        let mut index = NgramIndex::new(GPT3_NGRAM_WORDS).unwrap();
        // 16 words give 4 13-grams.
        assert_eq!(index.insert_example(BENCHMARK), 4);
        assert_eq!(index.len(), 4);
        assert_eq!(index.insert_example(BENCHMARK), 4);
        assert_eq!(index.len(), 4);
        assert_eq!(index.insert_example("Too short to index."), 0);
        assert_eq!(index.len(), 4);
    }

    #[test]
    fn finds_the_ngram_at_its_exact_byte_range() {
        let mut index = NgramIndex::new(GPT3_NGRAM_WORDS).unwrap();
        // 13 words, one 13-gram.
        index.insert_example(
            "the primary function of the mitochondria in a eukaryotic cell is to produce",
        );
        let document = "Biology notes.\n\nAs every textbook says, THE primary function of the «mitochondria» — \
                        in a eukaryotic cell — is to produce energy; that's all, folks.";
        let matches = index.find_matches(document);
        assert_eq!(matches.len(), 1);
        let found = &matches[0];
        assert_eq!(
            &document[found.bytes.clone()],
            "THE primary function of the «mitochondria» — \
             in a eukaryotic cell — is to produce"
        );
        assert_eq!(found.words, 6..19);
        assert!(index.contains(found.hash));
    }

    #[test]
    fn overlapping_matches_are_all_reported() {
        let mut index = NgramIndex::new(GPT3_NGRAM_WORDS).unwrap();
        index.insert_example(BENCHMARK);
        let document = format!("Quiz time. {BENCHMARK} Answer below.");
        let starts: Vec<usize> = index
            .find_matches(&document)
            .iter()
            .map(|m| m.words.start)
            .collect();
        assert_eq!(starts, [2, 3, 4, 5]);
    }

    #[test]
    fn one_different_word_is_no_match() {
        let mut index = NgramIndex::new(GPT3_NGRAM_WORDS).unwrap();
        let sentence = "one two three four five six seven eight nine ten eleven twelve thirteen";
        index.insert_example(sentence);
        assert_eq!(index.find_matches(sentence).len(), 1);
        let document = "one two three four five six seven EIGHTY nine ten eleven twelve thirteen";
        assert!(index.find_matches(document).is_empty());
    }
}

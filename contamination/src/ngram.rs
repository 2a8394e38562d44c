//! The n-grams of the registered benchmarks, and finding them in training documents.
//!
//! GPT-3 (Brown et al. 2020, App. C) calls a training document contaminated where it shares an N-gram of
//! normalised words with a benchmark example, N chosen per benchmark ([`choose_n`]). [`BenchmarkSet`]
//! holds the n-grams of every benchmark, each with the examples it occurs in, and [`BenchmarkSet::find`]
//! reports every occurrence in a training document with its exact byte range in the original text.
//!
//! Matching is exact and takes one pass over the document's words for all N at once, with one hash per
//! word and O(1) work per window; the hash tables are only consulted where a match is likely:
//!
//! - every word is hashed once, by the tokenizer, most straight from the text (`word_hash`). Every
//!   distinct benchmark word has a dense id (the vocabulary, keyed by that hash), and the vocabulary's
//!   hashes are also kept as a bitmap (`HashFilter`) small enough to stay in cache: a document word
//!   missing from the bitmap cannot be part of a match, so it only resets the run of matchable words;
//! - the key of an n-gram is a polynomial over its words' hashes, mod 2^64, computed for any window in
//!   O(1) from prefix values (`P[k] = P[k-1]·B + h(word k)`, key = `P[end] - P[start]·B^N`);
//! - a window's key is first probed in a second bitmap of every registered key, and only on a hit in the
//!   key table; a key found there is confirmed by mapping the window's words to ids and comparing them
//!   with the n-gram's, then comparing the words' text with the benchmark's, so neither a bitmap false
//!   positive nor a 64-bit collision can produce a false match; n-grams whose keys collide at
//!   registration are chained.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use crate::normalize::{Mode, Words, word_count, word_hash};

/// N-gram length GPT-3 used for decontamination (Brown et al. 2020, App. C), and the upper clamp of
/// [`choose_n`].
pub const GPT3_NGRAM_WORDS: usize = 13;

/// The lower clamp of [`choose_n`] (Brown et al. 2020, App. C).
pub const MIN_CHOSEN_NGRAM_WORDS: usize = 8;

/// The longest n-gram a [`BenchmarkSet`] accepts.
pub const MAX_NGRAM_WORDS: usize = 64;

/// Why a benchmark could not be registered in a [`BenchmarkSet`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NgramError {
    /// `n` is outside `1..=MAX_NGRAM_WORDS`.
    #[error("n-grams have 1 to {MAX_NGRAM_WORDS} words, got n = {n}")]
    Length {
        /// The length asked for.
        n: usize,
    },
    /// Two distinct benchmark words have the same 64-bit hash (about 2^-64 per pair of words: with a
    /// million distinct words, odds of 1 in 3·10^7 over the whole set, never seen in practice).
    #[error("benchmark words `{first}` and `{second}` have the same 64-bit hash")]
    WordHashCollision {
        /// The word registered first.
        first: String,
        /// The word that collided with it.
        second: String,
    },
    /// The set outgrew its 32-bit ids (benchmarks, examples, words or n-grams).
    #[error("too many {what} for 32-bit ids")]
    TooMany {
        /// What overflowed.
        what: &'static str,
    },
}

/// The N for a benchmark by GPT-3's rule (App. C): the 5th percentile of its examples' lengths in words
/// (words as `mode` splits them), clamped to `[MIN_CHOSEN_NGRAM_WORDS, GPT3_NGRAM_WORDS]` = `[8, 13]`;
/// 13 for no examples. The percentile is the nearest-rank one: the `ceil(0.05·len)`-th shortest length.
pub fn choose_n(examples: &[String], mode: Mode) -> usize {
    if examples.is_empty() {
        return GPT3_NGRAM_WORDS;
    }
    let mut lengths: Vec<usize> = examples.iter().map(|text| word_count(text, mode)).collect();
    let rank = lengths.len().div_ceil(20).max(1);
    let (_, &mut fifth, _) = lengths.select_nth_unstable(rank - 1);
    fifth.clamp(MIN_CHOSEN_NGRAM_WORDS, GPT3_NGRAM_WORDS)
}

/// One occurrence of a benchmark n-gram in a training document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hit {
    /// Byte offset in the document of the first byte of the n-gram's first word (its whole token).
    pub start: usize,
    /// Byte offset just past the n-gram's last word (its whole token, trailing punctuation included).
    pub end: usize,
    /// The n-gram's id in the [`BenchmarkSet`].
    pub ngram: u32,
}

impl Hit {
    /// The hit's byte range in the document.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// One registered benchmark.
#[derive(Debug, Clone)]
struct Benchmark {
    name: String,
    n: usize,
    examples: usize,
}

/// Marks "no id" in the chains and for out-of-vocabulary words.
const NONE: u32 = u32::MAX;

/// The polynomial base of n-gram keys; odd, so multiplying by its powers is a bijection mod 2^64.
const BASE: u64 = 0x9E37_79B9_7F4A_7C15;

/// Bits of a [`HashFilter`] per member, at least: a false positive rate of at most 1/16.
const FILTER_BITS_PER_HASH: usize = 16;

/// The most bits a [`HashFilter`] takes (512 MiB); past that many members the false positive rate
/// grows instead of the memory.
const FILTER_MAX_BITS: usize = 1 << 32;

/// A set of uniformly distributed 64-bit hashes as one bit each in a bitmap of a power of two bits,
/// indexed by the hash's top bits: no false negatives, a false positive rate of at most
/// 1/[`FILTER_BITS_PER_HASH`], and one probe that stays in cache where the exact table would not.
#[derive(Debug, Clone)]
struct HashFilter {
    bits: Vec<u64>,
    /// 64 minus log2 of the number of bits.
    shift: u32,
}

impl HashFilter {
    /// The filter of `hashes`, sized for their number.
    fn new(hashes: impl ExactSizeIterator<Item = u64>) -> Self {
        let bits = hashes
            .len()
            .saturating_mul(FILTER_BITS_PER_HASH)
            .clamp(64, FILTER_MAX_BITS)
            .next_power_of_two();
        let mut filter = Self {
            bits: vec![0; bits / 64],
            shift: 64 - bits.trailing_zeros(),
        };
        for hash in hashes {
            let bit = filter.bit(hash);
            if let Some(word) = filter.bits.get_mut(bit / 64) {
                *word |= 1 << (bit % 64);
            }
        }
        filter
    }

    /// The bit of `hash`.
    fn bit(&self, hash: u64) -> usize {
        (hash >> self.shift) as usize
    }

    /// Whether `hash` may be in the set; `false` means it is not.
    #[inline]
    fn may_contain(&self, hash: u64) -> bool {
        self.word_contains(self.word_of(hash), hash)
    }

    /// The 64-bit word of the bitmap that holds the bit of `hash`, for [`HashFilter::word_contains`]:
    /// loading it ahead of the test hides the cache miss behind other work.
    #[inline]
    fn word_of(&self, hash: u64) -> u64 {
        self.bits.get(self.bit(hash) / 64).copied().unwrap_or(0)
    }

    /// [`HashFilter::may_contain`] for `hash`, given its bitmap word `word` ([`HashFilter::word_of`]).
    #[inline]
    fn word_contains(&self, word: u64, hash: u64) -> bool {
        (word >> (self.bit(hash) % 64)) & 1 == 1
    }
}

/// The n-grams of every registered benchmark, for matching training documents.
///
/// N-gram ids are dense (`0..ngrams()`) and deterministic: in order of first appearance over benchmarks
/// in registration order, then examples in file order, then positions. An n-gram shared by several
/// benchmarks of the same N has one id and lists all their examples.
#[derive(Debug, Clone)]
pub struct BenchmarkSet {
    mode: Mode,
    benchmarks: Vec<Benchmark>,
    /// Distinct N over the benchmarks, ascending.
    lengths: Vec<usize>,
    /// `powers[k] = BASE^k`.
    powers: [u64; MAX_NGRAM_WORDS + 1],
    /// [`word_hash`] of a word to its id.
    vocabulary: HashMap<u64, u32, BuildHasherDefault<PrehashedU64>>,
    /// The hashes of `vocabulary`, as a bitmap.
    word_filter: HashFilter,
    /// Words by id.
    words: Vec<Box<str>>,
    /// Word ids of every example of every benchmark, concatenated; n-grams are windows of it.
    example_words: Vec<u32>,
    /// Per n-gram: offset of its first word in `example_words`.
    ngram_start: Vec<u32>,
    /// Per n-gram: its length in words.
    ngram_len: Vec<u8>,
    /// Per n-gram: the next n-gram with the same key, or [`NONE`].
    same_key: Vec<u32>,
    /// Key of an n-gram to the first n-gram with that key.
    keys: HashMap<u64, u32, BuildHasherDefault<PrehashedU64>>,
    /// The keys of `keys`, as a bitmap.
    key_filter: HashFilter,
    /// Per n-gram (plus one): where its examples start in `postings`.
    posting_start: Vec<u32>,
    /// (benchmark, example) pairs, grouped by n-gram, sorted within each group.
    postings: Vec<(u32, u32)>,
}

impl BenchmarkSet {
    /// An empty set whose words are normalised with `mode`.
    pub fn new(mode: Mode) -> Self {
        let mut powers = [1u64; MAX_NGRAM_WORDS + 1];
        for k in 1..powers.len() {
            powers[k] = powers[k - 1].wrapping_mul(BASE);
        }
        Self {
            mode,
            benchmarks: Vec::new(),
            lengths: Vec::new(),
            powers,
            vocabulary: HashMap::default(),
            word_filter: HashFilter::new(std::iter::empty()),
            words: Vec::new(),
            example_words: Vec::new(),
            ngram_start: Vec::new(),
            ngram_len: Vec::new(),
            same_key: Vec::new(),
            keys: HashMap::default(),
            key_filter: HashFilter::new(std::iter::empty()),
            posting_start: vec![0],
            postings: Vec::new(),
        }
    }

    /// The normalisation the set was built with.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Registers a benchmark's examples (in file order) with its n-gram length `n` (`1..=64`) and returns
    /// the benchmark's index. Examples shorter than `n` words have no n-grams and never match; that is
    /// why GPT-3 lowers N for benchmarks of short examples ([`choose_n`]).
    pub fn add(&mut self, name: &str, examples: &[String], n: usize) -> Result<usize, NgramError> {
        let added = self.add_ngrams(name, examples, n);
        // Even after an error: the filters must hold every word and key the tables hold.
        self.word_filter = HashFilter::new(self.vocabulary.keys().copied());
        self.key_filter = HashFilter::new(self.keys.keys().copied());
        added
    }

    /// [`BenchmarkSet::add`] without the filters.
    fn add_ngrams(
        &mut self,
        name: &str,
        examples: &[String],
        n: usize,
    ) -> Result<usize, NgramError> {
        if n == 0 || n > MAX_NGRAM_WORDS {
            return Err(NgramError::Length { n });
        }
        let benchmark = self.benchmarks.len();
        let bench_id =
            u32::try_from(benchmark).map_err(|_| NgramError::TooMany { what: "benchmarks" })?;
        // (n-gram, example) pairs of this benchmark, in example order, one per n-gram and example.
        let mut new_postings: Vec<(u32, u32)> = Vec::new();
        let mut last_example: Vec<u32> = Vec::new();
        let mut word = String::new();
        // Prefix values of the current example's word hashes (see the module documentation).
        let mut prefix: Vec<u64> = Vec::new();
        for (example, text) in examples.iter().enumerate() {
            let example =
                u32::try_from(example).map_err(|_| NgramError::TooMany { what: "examples" })?;
            let base = self.example_words.len();
            prefix.clear();
            prefix.push(0);
            let mut words = Words::new(text, self.mode);
            while words.next_into(&mut word).is_some() {
                if !word.is_empty() {
                    let hash = word_hash(&word);
                    let id = self.intern(&word, hash)?;
                    self.example_words.push(id);
                    let last = prefix.last().copied().unwrap_or(0);
                    prefix.push(last.wrapping_mul(BASE).wrapping_add(hash));
                }
            }
            let count = self.example_words.len() - base;
            if count < n {
                continue;
            }
            for start in 0..=count - n {
                let key =
                    prefix[start + n].wrapping_sub(prefix[start].wrapping_mul(self.powers[n]));
                let window = base + start;
                let ngram = match self.lookup(key, n, |k| self.example_words[window + k]) {
                    Some(ngram) => ngram,
                    None => self.insert_ngram(key, window, n)?,
                };
                let index = ngram as usize;
                if last_example.len() <= index {
                    last_example.resize(index + 1, NONE);
                }
                if last_example[index] != example {
                    last_example[index] = example;
                    new_postings.push((ngram, example));
                }
            }
        }
        self.merge_postings(bench_id, &new_postings)?;
        self.benchmarks.push(Benchmark {
            name: name.to_string(),
            n,
            examples: examples.len(),
        });
        if let Err(at) = self.lengths.binary_search(&n) {
            self.lengths.insert(at, n);
        }
        Ok(benchmark)
    }

    /// Number of registered benchmarks.
    pub fn benchmarks(&self) -> usize {
        self.benchmarks.len()
    }

    /// Name of benchmark `b` as registered; empty for an unknown index.
    pub fn name(&self, b: usize) -> &str {
        self.benchmarks
            .get(b)
            .map_or("", |benchmark| &benchmark.name)
    }

    /// N of benchmark `b`; 0 for an unknown index.
    pub fn n(&self, b: usize) -> usize {
        self.benchmarks.get(b).map_or(0, |benchmark| benchmark.n)
    }

    /// Number of examples of benchmark `b`, short ones included; 0 for an unknown index.
    pub fn examples(&self, b: usize) -> usize {
        self.benchmarks
            .get(b)
            .map_or(0, |benchmark| benchmark.examples)
    }

    /// Number of distinct n-grams over all benchmarks; ids are `0..ngrams()`.
    pub fn ngrams(&self) -> usize {
        self.ngram_len.len()
    }

    /// The examples containing n-gram `id` as (benchmark index, example index) pairs, sorted and
    /// deduplicated; empty for an unknown id.
    pub fn examples_of(&self, id: u32) -> &[(u32, u32)] {
        let id = id as usize;
        match (self.posting_start.get(id), self.posting_start.get(id + 1)) {
            (Some(&start), Some(&end)) => self
                .postings
                .get(start as usize..end as usize)
                .unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The n-gram's normalised words joined by single spaces, for logs and reports; empty for an
    /// unknown id.
    pub fn ngram_text(&self, id: u32) -> String {
        let words = self.ngram_words(id);
        let mut text = String::new();
        for &word in words {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(self.words.get(word as usize).map_or("", |w| w));
        }
        text
    }

    /// Every occurrence of a registered n-gram in the training document `text`, sorted by start (then
    /// end, then id). Overlapping occurrences are all reported (a shared 14-gram gives two 13-grams).
    ///
    /// The range runs from the first byte of the n-gram's first word to the end of its last word in the
    /// original text, whole whitespace tokens, punctuation included. In [`Mode::Gpt3`] a token with no
    /// letter or number is no word and an n-gram spans over it; in [`Mode::Janitor`] such a token breaks
    /// n-grams, so ranges are exactly the `word_ngrams_indices` spans the Janitor's `clean_python` matches.
    pub fn find(&self, text: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        self.find_into(text, &mut hits);
        hits
    }

    /// [`BenchmarkSet::find`] into a caller's buffer (cleared first), to reuse its allocation across
    /// documents.
    pub fn find_into(&self, text: &str, hits: &mut Vec<Hit>) {
        hits.clear();
        let Some(&longest) = self.lengths.last() else {
            return;
        };
        let mut ring = [WindowWord::default(); RING];
        // Words seen (slot `k % RING` holds word k, 1-based; slot 0 starts as the empty prefix).
        let mut k = 0usize;
        // Consecutive possibly matchable words ending at word k.
        let mut run = 0usize;
        // Windows whose keys are yet to be probed in the key filter, and the first word of the
        // earliest one: they are probed together, so that their cache misses overlap.
        let mut pending = [PendingWindow::default(); PENDING_WINDOWS];
        let mut pending_len = 0;
        let mut pending_first = usize::MAX;
        let mut words = Words::new(text, self.mode);
        let mut word = String::new();
        let mut check = String::new();
        while let Some((token, hash)) = words.next_hashed(&mut word) {
            let (hash, matchable) = match hash {
                Some(hash) => (hash, self.word_filter.may_contain(hash)),
                None if self.mode == Mode::Gpt3 => continue,
                None => (0, false),
            };
            // Half the words of web text are outside the vocabulary, at random: what follows is
            // computed without branching on it, a word that cannot match resetting the run and the
            // prefix values.
            let previous = ring[k % RING].prefix;
            k += 1;
            // Slot `k % RING` is about to drop word `k - RING`.
            if pending_first.saturating_add(RING) <= k {
                self.probe_windows(text, &ring, &pending[..pending_len], &mut check, hits);
                pending_len = 0;
                pending_first = usize::MAX;
            }
            let prefix = previous.wrapping_mul(BASE).wrapping_add(hash) * u64::from(matchable);
            ring[k % RING] = WindowWord {
                start: token.start,
                end: token.end,
                hash,
                prefix,
            };
            run = (run + 1).min(longest) * usize::from(matchable);
            for &n in &self.lengths {
                if n > run {
                    break;
                }
                if pending_len == PENDING_WINDOWS {
                    self.probe_windows(text, &ring, &pending, &mut check, hits);
                    pending_len = 0;
                    pending_first = usize::MAX;
                }
                let first = k + 1 - n;
                pending[pending_len] = PendingWindow {
                    key: prefix
                        .wrapping_sub(ring[(first - 1) % RING].prefix.wrapping_mul(self.powers[n])),
                    first,
                    n,
                };
                pending_len += 1;
                pending_first = pending_first.min(first);
            }
        }
        self.probe_windows(text, &ring, &pending[..pending_len], &mut check, hits);
        hits.sort_unstable();
    }

    /// Adds to `hits` the registered n-grams among the `pending` windows of the document `text`, whose
    /// words are in `ring` (see [`BenchmarkSet::find_into`]).
    fn probe_windows(
        &self,
        text: &str,
        ring: &[WindowWord; RING],
        pending: &[PendingWindow],
        check: &mut String,
        hits: &mut Vec<Hit>,
    ) {
        // All the filter's words first, in a loop without branches, so that their loads overlap.
        let mut filter_words = [0u64; PENDING_WINDOWS];
        for (word, window) in filter_words.iter_mut().zip(pending) {
            *word = self.key_filter.word_of(window.key);
        }
        for (window, &word) in pending.iter().zip(&filter_words) {
            if !self.key_filter.word_contains(word, window.key) {
                continue;
            }
            let at = |j: usize| ring[(window.first + j) % RING];
            if let Some(ngram) = self.match_window(text, window.key, window.n, at, check) {
                hits.push(Hit {
                    start: at(0).start,
                    end: at(window.n - 1).end,
                    ngram,
                });
            }
        }
    }

    /// The registered n-gram with `key` whose `n` words are the document's words `window(0..n)` of
    /// `text`, if any. The words are mapped to ids by their hashes, and the ids of a found n-gram are
    /// confirmed by comparing the words' text (normalised again into `check`).
    fn match_window(
        &self,
        text: &str,
        key: u64,
        n: usize,
        window: impl Fn(usize) -> WindowWord,
        check: &mut String,
    ) -> Option<u32> {
        let mut ids = [NONE; MAX_NGRAM_WORDS];
        for (j, id) in ids.iter_mut().enumerate().take(n) {
            *id = *self.vocabulary.get(&window(j).hash)?;
        }
        let ngram = self.lookup(key, n, |j| ids.get(j).copied().unwrap_or(NONE))?;
        let same_words = ids.iter().take(n).enumerate().all(|(j, &id)| {
            let token = window(j);
            let mut words = Words::new(text.get(token.start..token.end).unwrap_or(""), self.mode);
            words.next_into(check).is_some()
                && self
                    .words
                    .get(id as usize)
                    .is_some_and(|known| **known == **check)
        });
        same_words.then_some(ngram)
    }

    /// The id of the word `word` (whose [`word_hash`] is `hash`), added to the vocabulary if new.
    fn intern(&mut self, word: &str, hash: u64) -> Result<u32, NgramError> {
        if let Some(&id) = self.vocabulary.get(&hash) {
            return match self.words.get(id as usize) {
                Some(known) if **known == *word => Ok(id),
                known => Err(NgramError::WordHashCollision {
                    first: known.map_or_else(String::new, |known| known.to_string()),
                    second: word.to_string(),
                }),
            };
        }
        let id = u32::try_from(self.words.len())
            .ok()
            .filter(|&id| id != NONE)
            .ok_or(NgramError::TooMany { what: "words" })?;
        self.words.push(word.into());
        self.vocabulary.insert(hash, id);
        Ok(id)
    }

    /// The registered n-gram with `key` whose `n` words are `word(0..n)`, if any.
    fn lookup(&self, key: u64, n: usize, word: impl Fn(usize) -> u32) -> Option<u32> {
        let mut candidate = *self.keys.get(&key)?;
        while candidate != NONE {
            let words = self.ngram_words(candidate);
            if words.len() == n && words.iter().enumerate().all(|(j, &id)| id == word(j)) {
                return Some(candidate);
            }
            candidate = self
                .same_key
                .get(candidate as usize)
                .copied()
                .unwrap_or(NONE);
        }
        None
    }

    /// Registers the n-gram of `n` words at `window` in `example_words` under `key`; returns its id.
    fn insert_ngram(&mut self, key: u64, window: usize, n: usize) -> Result<u32, NgramError> {
        let too_many = NgramError::TooMany { what: "n-grams" };
        let id = u32::try_from(self.ngram_len.len())
            .ok()
            .filter(|&id| id != NONE)
            .ok_or(too_many.clone())?;
        let start = u32::try_from(window).map_err(|_| NgramError::TooMany { what: "words" })?;
        let len = u8::try_from(n).map_err(|_| NgramError::Length { n })?;
        self.ngram_start.push(start);
        self.ngram_len.push(len);
        // A colliding key is chained behind the n-gram already holding it.
        let next = self.keys.insert(key, id).unwrap_or(NONE);
        self.same_key.push(next);
        Ok(id)
    }

    /// The word ids of n-gram `id`; empty for an unknown id.
    fn ngram_words(&self, id: u32) -> &[u32] {
        let id = id as usize;
        match (self.ngram_start.get(id), self.ngram_len.get(id)) {
            (Some(&start), Some(&len)) => {
                let start = start as usize;
                self.example_words
                    .get(start..start + usize::from(len))
                    .unwrap_or(&[])
            }
            _ => &[],
        }
    }

    /// Appends benchmark `bench`'s (n-gram, example) pairs to the postings. The pairs come in example
    /// order and `bench` is above every registered benchmark, so appending them after each n-gram's
    /// existing pairs keeps every group sorted.
    fn merge_postings(&mut self, bench: u32, added: &[(u32, u32)]) -> Result<(), NgramError> {
        let ngrams = self.ngram_len.len();
        let mut extra = vec![0usize; ngrams];
        for &(ngram, _) in added {
            extra[ngram as usize] += 1;
        }
        let old = |id: usize| -> Range<usize> {
            match (self.posting_start.get(id), self.posting_start.get(id + 1)) {
                (Some(&start), Some(&end)) => start as usize..end as usize,
                _ => 0..0,
            }
        };
        let mut starts = Vec::with_capacity(ngrams + 1);
        let mut postings = Vec::with_capacity(self.postings.len() + added.len());
        let mut cursor = Vec::with_capacity(ngrams);
        starts.push(0u32);
        for (id, &extra) in extra.iter().enumerate() {
            postings.extend_from_slice(&self.postings[old(id)]);
            cursor.push(postings.len());
            postings.resize(postings.len() + extra, (bench, 0));
            starts.push(
                u32::try_from(postings.len())
                    .map_err(|_| NgramError::TooMany { what: "postings" })?,
            );
        }
        for &(ngram, example) in added {
            let at = &mut cursor[ngram as usize];
            postings[*at] = (bench, example);
            *at += 1;
        }
        self.posting_start = starts;
        self.postings = postings;
        Ok(())
    }
}

/// Size of [`BenchmarkSet::find_into`]'s ring of recent words, a power of two: it holds the words of
/// the windows waiting to be probed, and more than `MAX_NGRAM_WORDS + 1` prefix values.
const RING: usize = 256;

/// How many windows [`BenchmarkSet::find_into`] probes in the key filter at once, at most.
const PENDING_WINDOWS: usize = 64;

/// A window of [`BenchmarkSet::find_into`] whose key is yet to be probed in the key filter.
#[derive(Debug, Clone, Copy, Default)]
struct PendingWindow {
    /// The window's n-gram key.
    key: u64,
    /// Its first word (1-based, as counted in `find_into`).
    first: usize,
    /// Its length in words.
    n: usize,
}

/// One word of the document in [`BenchmarkSet::find_into`]'s ring of recent words.
#[derive(Debug, Clone, Copy, Default)]
struct WindowWord {
    /// Byte range of the word's token in the document.
    start: usize,
    end: usize,
    /// [`word_hash`] of the word.
    hash: u64,
    /// The prefix value of the n-gram keys up to and including this word.
    prefix: u64,
}

/// Hasher for keys that are already uniform 64-bit values (word hashes, n-gram keys): hashing them
/// again would only cost time.
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
    use super::{BenchmarkSet, FILTER_BITS_PER_HASH, HashFilter, Hit, NgramError, choose_n};
    use crate::normalize::Mode;

    fn words(count: usize) -> String {
        (0..count)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn texts(found: &[Hit], text: &str) -> Vec<String> {
        found
            .iter()
            .map(|hit| text[hit.range()].to_string())
            .collect()
    }

    #[test]
    fn choose_n_is_the_clamped_fifth_percentile() {
        assert_eq!(choose_n(&[], Mode::Gpt3), 13);
        // 20 examples: the 5th percentile is the shortest (rank ceil(20 / 20) = 1).
        let mut examples: Vec<String> = (0..19).map(|_| words(30)).collect();
        examples.push(words(10));
        assert_eq!(choose_n(&examples, Mode::Gpt3), 10);
        // 21 examples: rank 2, the second shortest.
        examples.push(words(9));
        assert_eq!(choose_n(&examples, Mode::Gpt3), 10);
        assert_eq!(choose_n(&[words(3)], Mode::Gpt3), 8);
        assert_eq!(choose_n(&[words(40)], Mode::Gpt3), 13);
        // Words as the mode counts them: "— — —" are Janitor words, not GPT-3 words.
        let dashes = format!("{} — — —", words(8));
        assert_eq!(choose_n(std::slice::from_ref(&dashes), Mode::Gpt3), 8);
        assert_eq!(choose_n(&[dashes], Mode::Janitor), 11);
    }

    #[test]
    fn n_outside_one_to_sixty_four_is_refused() {
        let mut set = BenchmarkSet::new(Mode::Gpt3);
        assert_eq!(set.add("b", &[], 0), Err(NgramError::Length { n: 0 }));
        assert_eq!(set.add("b", &[], 65), Err(NgramError::Length { n: 65 }));
        assert_eq!(set.add("b", &[words(64)], 64), Ok(0));
        assert_eq!(set.ngrams(), 1);
        assert_eq!(set.benchmarks(), 1);
    }

    #[test]
    fn ids_follow_first_appearance_and_list_their_examples() {
        let mut set = BenchmarkSet::new(Mode::Gpt3);
        let first = [
            "A b c d".to_string(),
            "x y".to_string(),
            "b c d e, a b c".to_string(),
        ];
        assert_eq!(set.add("first", &first, 3), Ok(0));
        let second = ["a B c!".to_string(), "c d e f".to_string()];
        assert_eq!(set.add("second", &second, 3), Ok(1));
        let third = ["a b c d".to_string()];
        assert_eq!(set.add("third", &third, 2), Ok(2));
        let ngrams: Vec<String> = (0..set.ngrams() as u32)
            .map(|id| set.ngram_text(id))
            .collect();
        assert_eq!(
            ngrams,
            [
                "a b c", "b c d", "c d e", "d e a", "e a b", "d e f", "a b", "b c", "c d"
            ]
        );
        assert_eq!(set.examples_of(0), [(0, 0), (0, 2), (1, 0)]);
        assert_eq!(set.examples_of(1), [(0, 0), (0, 2)]);
        assert_eq!(set.examples_of(2), [(0, 2), (1, 1)]);
        assert_eq!(set.examples_of(5), [(1, 1)]);
        assert_eq!(set.examples_of(8), [(2, 0)]);
        assert!(set.examples_of(9).is_empty());
        assert_eq!(set.ngram_text(9), "");
        assert_eq!((set.name(1), set.n(1), set.examples(1)), ("second", 3, 2));
        assert_eq!((set.name(5), set.n(5), set.examples(5)), ("", 0, 0));
        assert_eq!(set.examples(0), 3);
    }

    #[test]
    fn an_ngram_repeated_in_an_example_lists_it_once() {
        let mut set = BenchmarkSet::new(Mode::Gpt3);
        set.add("b", &["a b a b a b".to_string(), "a b".to_string()], 2)
            .unwrap();
        assert_eq!(set.ngrams(), 2);
        assert_eq!(set.examples_of(0), [(0, 0), (0, 1)]);
        assert_eq!(set.examples_of(1), [(0, 0)]);
        assert_eq!(set.find("A B A").len(), 2);
    }

    #[test]
    fn finds_planted_ngrams_at_exact_byte_ranges() {
        let mut set = BenchmarkSet::new(Mode::Gpt3);
        set.add(
            "bio",
            &[
                "the primary function of the mitochondria in a eukaryotic cell is to produce"
                    .to_string(),
            ],
            13,
        )
        .unwrap();
        let document = "Biology notes.\n\nAs every textbook says, THE primary function of the «mitochondria» — \
                        in a eukaryotic cell — is to produce energy; that's all, folks.";
        let found = set.find(document);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].ngram, 0);
        assert_eq!(
            &document[found[0].range()],
            "THE primary function of the «mitochondria» — in a eukaryotic cell — is to produce"
        );
        assert_eq!(found[0].start, document.find("THE").unwrap());
        // One different word is no match.
        assert!(
            set.find(&document.replace("eukaryotic", "prokaryotic"))
                .is_empty()
        );
    }

    #[test]
    fn finds_every_n_in_one_pass_sorted_by_start() {
        let mut set = BenchmarkSet::new(Mode::Gpt3);
        set.add(
            "long",
            &["Это пример текста на русском языке".to_string()],
            4,
        )
        .unwrap();
        set.add(
            "short",
            &["東京 大学 の 研究".to_string(), "текста на".to_string()],
            2,
        )
        .unwrap();
        let document = "Вот: «Это ПРИМЕР текста на русском» и 東京 大学, текста на.";
        let found = set.find(document);
        assert_eq!(
            texts(&found, document),
            [
                "«Это ПРИМЕР текста на",
                "ПРИМЕР текста на русском»",
                "текста на",
                "東京 大学,",
                "текста на."
            ]
        );
        let starts: Vec<usize> = found.iter().map(|hit| hit.start).collect();
        assert!(starts.is_sorted());
        assert_eq!(set.examples_of(found[2].ngram), [(1, 1)]);
        assert_eq!(set.ngram_text(found[3].ngram), "東京 大学");
    }

    #[test]
    fn overlapping_occurrences_are_all_reported() {
        let mut set = BenchmarkSet::new(Mode::Gpt3);
        set.add("b", &[words(16)], 13).unwrap();
        let document = format!("Quiz time. {} Answer below.", words(16));
        let found = set.find(&document);
        assert_eq!(found.len(), 4);
        let expected: Vec<String> = (0..4)
            .map(|first| {
                (first..first + 13)
                    .map(|i| format!("w{i}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert_eq!(texts(&found, &document), expected);
        let mut buffer = vec![found[0]];
        set.find_into("nothing here", &mut buffer);
        assert!(buffer.is_empty());
        assert!(BenchmarkSet::new(Mode::Gpt3).find(&document).is_empty());
    }

    #[test]
    fn hash_filters_hold_every_member_and_few_others() {
        // SplitMix64-style sequence: uniform hashes, as the filter expects.
        let hash = |i: u32| {
            let z = u64::from(i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z ^ (z >> 31)
        };
        let filter = HashFilter::new((0..10_000).map(hash));
        assert!((0..10_000).map(hash).all(|h| filter.may_contain(h)));
        let false_positives = (10_000..110_000)
            .map(hash)
            .filter(|&h| filter.may_contain(h))
            .count();
        assert!(
            false_positives <= 100_000 / FILTER_BITS_PER_HASH,
            "{false_positives}"
        );
        let empty = HashFilter::new(std::iter::empty());
        assert!(!(0..1000).map(hash).any(|h| empty.may_contain(h)));
    }

    #[test]
    fn short_examples_and_out_of_vocabulary_words_never_match() {
        let mut set = BenchmarkSet::new(Mode::Gpt3);
        set.add(
            "b",
            &["too short".to_string(), "one two three".to_string()],
            3,
        )
        .unwrap();
        assert_eq!(set.ngrams(), 1);
        assert!(set.find("too short").is_empty());
        assert!(set.find("one two unknown three").is_empty());
        assert_eq!(set.find("one two three").len(), 1);
        // A document longer than the ring of recent words keeps exact offsets.
        let long = format!("{} one two three", words(1000));
        let found = set.find(&long);
        assert_eq!(texts(&found, &long), ["one two three"]);
    }
}

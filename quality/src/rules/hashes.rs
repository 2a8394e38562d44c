//! Hashing for the repetition counts: a polynomial (Rabin-Karp) hash modulo the Mersenne prime 2^61 - 1 that
//! hashes a run of words as the concatenation of their bytes in O(1) from per-word prefixes, tables that
//! count or collect those hashes, and a hasher for std sets and maps keyed by hashes computed beforehand
//! (xxh3 of a line or a token). Two different texts collide with probability about 2^-61 per pair (2^-64
//! for xxh3); the counts treat a collision as a repeat.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

/// A set of pre-computed 64-bit hashes.
pub(super) type HashedSet = HashSet<u64, Prehashed>;

/// Hashes `u64` keys that are already hashes: one multiply-xorshift round, cheaper than hashing them again,
/// keeps both the low bits (the bucket) and the high bits (the table's tag byte) well spread.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Prehashed;

impl BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;

    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

/// The hasher of [`Prehashed`].
#[derive(Debug)]
pub(super) struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed through this type; other keys still hash correctly, just slower.
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_u64(&mut self, value: u64) {
        let x = (value ^ (value >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.0 = x ^ (x >> 32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The number of slots (a power of two, at least 16) of an open-addressing table for up to `keys` keys at
/// load factor <= 1/2, and the shift that turns a 64-bit product into a slot index.
fn table_size(keys: usize) -> (usize, u32) {
    let slots = (2 * keys).next_power_of_two().max(16);
    (slots, 64 - slots.trailing_zeros())
}

/// The home slot of `key` in a table of `64 - shift` index bits. Fibonacci hashing: the top bits of the
/// product mix every bit of the key.
#[inline]
fn home_slot(key: u64, shift: u32) -> usize {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize
}

/// An open-addressing table of n-gram hashes with a `u32` count and a `u32` tag each: linear probing at
/// load factor <= 1/2, no deletion. Faster than a general hash map here, where every word adds one key per
/// n and the number of keys is known beforehand (it grows if that was too few). Kept between documents, so
/// that its memory is allocated once per thread.
pub(super) struct NgramTable {
    /// `(key, count, tag)`; count 0 marks an empty slot.
    slots: Vec<(u64, u32, u32)>,
    shift: u32,
    len: usize,
}

impl NgramTable {
    /// A table for up to `capacity` keys before it grows.
    pub(super) fn new(capacity: usize) -> NgramTable {
        let mut table = NgramTable {
            slots: Vec::new(),
            shift: 0,
            len: 0,
        };
        table.reset(capacity);
        table
    }

    /// Empties the table and sizes it for `capacity` keys, so that adding that many moves no slot.
    pub(super) fn reset(&mut self, capacity: usize) {
        let (slots, shift) = table_size(capacity);
        self.slots.clear();
        self.slots.resize(slots, (0, 0, 0));
        self.shift = shift;
        self.len = 0;
    }

    /// Counts one more occurrence of `key`, first seen with `tag`; returns its slot, whose count and first
    /// tag [`Self::entry`] reads (now or after more adds, as long as the table has not grown).
    #[inline]
    pub(super) fn add(&mut self, key: u64, tag: u32) -> usize {
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        let i = self.find(key);
        let slot = &mut self.slots[i];
        if slot.1 == 0 {
            *slot = (key, 1, tag);
            self.len += 1;
        } else {
            slot.1 += 1;
        }
        i
    }

    /// The count and the first tag of the key in `slot` (from [`Self::add`]).
    #[inline]
    pub(super) fn entry(&self, slot: usize) -> (u32, u32) {
        self.slots.get(slot).map_or((0, 0), |s| (s.1, s.2))
    }

    /// The slot holding `key`, or the empty slot where it belongs.
    #[inline]
    fn find(&self, key: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = home_slot(key, self.shift);
        while self.slots[i].1 != 0 && self.slots[i].0 != key {
            i = (i + 1) & mask;
        }
        i
    }

    fn grow(&mut self) {
        let doubled = vec![(0, 0, 0); 2 * self.slots.len()];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.shift -= 1;
        for slot in old.into_iter().filter(|slot| slot.1 != 0) {
            let i = self.find(slot.0);
            self.slots[i] = slot;
        }
    }
}

/// A set of n-gram hashes below 2^63 (the polynomial hashes are below 2^61): linear probing at load factor
/// <= 1/2 over bare `u64` slots, half the memory of [`NgramTable`], for the scans that only ask whether an
/// n-gram was seen. A key is stored with its top bit set, so that 0 marks an empty slot.
pub(super) struct KeySet {
    slots: Vec<u64>,
    shift: u32,
    len: usize,
}

impl KeySet {
    /// An empty set (it allocates on the first [`Self::reset`] or insert).
    pub(super) fn new() -> KeySet {
        KeySet {
            slots: Vec::new(),
            shift: 64,
            len: 0,
        }
    }

    /// Empties the set and sizes it for `capacity` keys.
    pub(super) fn reset(&mut self, capacity: usize) {
        let (slots, shift) = table_size(capacity);
        self.slots.clear();
        self.slots.resize(slots, 0);
        self.shift = shift;
        self.len = 0;
    }

    /// Adds `key` (below 2^63); whether it was new.
    #[inline]
    pub(super) fn insert(&mut self, key: u64) -> bool {
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        let stored = key | (1 << 63);
        let mask = self.slots.len() - 1;
        let mut i = home_slot(stored, self.shift);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                self.slots[i] = stored;
                self.len += 1;
                return true;
            }
            if slot == stored {
                return false;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        self.reset(old.len().max(8));
        for key in old.into_iter().filter(|&key| key != 0) {
            self.insert(key);
        }
    }
}

/// The bytes of the joined words that [`UniqueStarts`] compares at each word.
pub(super) const START_KEY_LEN: usize = 16;

/// The words at which the joined words (`"".join(words)`) open with [`START_KEY_LEN`] bytes that they open
/// with at no other word. Two n-grams that are equal when joined open with the same bytes, so an n-gram
/// that starts at such a word and whose joined words are at least that long equals no other n-gram, for any
/// n: the repeated n-gram scans skip it without hashing it ([`Self::skips`]). Found with one saturating
/// counter per bucket of the opening bytes' hash; two keys sharing a bucket only make a word look shared,
/// never unique. Refilled for each document, so that its memory is allocated once per thread.
#[derive(Default)]
pub(super) struct UniqueStarts {
    /// The bucket of each word's opening bytes.
    buckets: Vec<u32>,
    /// How many words fall in each bucket, saturating at 2.
    counts: Vec<u8>,
    /// Whether each word is alone in its bucket.
    unique: Vec<bool>,
}

impl UniqueStarts {
    /// Finds the words of `words` (slices of `text`, which is read past them, or not) at which the joined
    /// words open with bytes that they open with at no other word.
    pub(super) fn fill(&mut self, text: &str, words: &[&str]) {
        let text_range = text.as_bytes().as_ptr_range();
        let starts = words.len();
        // About 8 buckets per word, so that few unique words share a bucket.
        let size = (8 * starts).next_power_of_two().max(64);
        let shift = 64 - size.trailing_zeros();
        self.counts.clear();
        self.counts.resize(size, 0);
        self.buckets.clear();
        self.buckets.resize(starts, 0);
        // The opening bytes at each word, from the last word back: the word's own first bytes, then those at
        // the next word (zeros past the last one).
        let mut key = 0u128;
        for (word, bucket) in words.iter().zip(self.buckets.iter_mut()).rev() {
            let len = word.len();
            key = if len >= START_KEY_LEN {
                head(word.as_bytes(), text, &text_range)
            } else {
                head(word.as_bytes(), text, &text_range) & ((1 << (8 * len)) - 1) | key << (8 * len)
            };
            let mixed = (key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (key >> 64) as u64;
            *bucket = ((mixed ^ (mixed >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) >> shift) as u32;
            if let Some(count) = self.counts.get_mut(*bucket as usize) {
                *count = (*count + 1).min(2);
            }
        }
        self.unique.clear();
        let counts = &self.counts;
        self.unique.extend(
            self.buckets
                .iter()
                .map(|&bucket| counts.get(bucket as usize) == Some(&1)),
        );
    }

    /// Whether the n-gram of words `start..end` of `hashes` (those [`Self::fill`] saw) is certainly not
    /// equal to another n-gram when joined.
    #[inline]
    pub(super) fn skips(&self, hashes: &WordHashes, start: usize, end: usize) -> bool {
        self.unique.get(start).copied().unwrap_or(false)
            && hashes.byte_len(start, end) >= START_KEY_LEN
    }
}

/// The first [`START_KEY_LEN`] bytes from the start of `word` on, little-endian: one load from `text` (whose
/// bytes span `text_range`) when `word` is a slice of it with that many bytes after its start, else
/// `word`'s bytes alone (so bytes past a shorter word are zeros or the text's next bytes, which the caller
/// masks).
#[inline]
fn head(word: &[u8], text: &str, text_range: &std::ops::Range<*const u8>) -> u128 {
    let at = word.as_ptr();
    if text_range.contains(&at) {
        let offset = at as usize - text_range.start as usize;
        if let Some(bytes) = text
            .as_bytes()
            .get(offset..offset + START_KEY_LEN)
            .and_then(|bytes| <[u8; START_KEY_LEN]>::try_from(bytes).ok())
        {
            return u128::from_le_bytes(bytes);
        }
    }
    word.iter()
        .take(START_KEY_LEN)
        .rev()
        .fold(0, |head, &b| head << 8 | u128::from(b))
}

/// The modulus, 2^61 - 1.
const P: u64 = (1 << 61) - 1;

/// The base of the byte hash (any number in (256, P) works; this one is random).
const BASE: u64 = 0x1a2b_3c4d_5e6f_7183 % P;

/// `BASE^len` for words and runs of words up to this many bytes comes from a table.
const POW_TABLE_LEN: usize = 256;

static POW: [u64; POW_TABLE_LEN] = pow_table(BASE);

/// `a * b mod P`.
#[inline]
const fn mul_mod(a: u64, b: u64) -> u64 {
    let product = a as u128 * b as u128;
    let folded = (product as u64 & P) + (product >> 61) as u64;
    if folded >= P { folded - P } else { folded }
}

/// `a + b mod P` for `a, b < P`.
#[inline]
fn add_mod(a: u64, b: u64) -> u64 {
    let sum = a + b;
    if sum >= P { sum - P } else { sum }
}

/// `a - b mod P` for `a, b < P`.
#[inline]
fn sub_mod(a: u64, b: u64) -> u64 {
    if a >= b { a - b } else { a + P - b }
}

const fn pow_mod(mut base: u64, mut exp: u64) -> u64 {
    let mut result = 1;
    while exp > 0 {
        if exp & 1 == 1 {
            result = mul_mod(result, base);
        }
        base = mul_mod(base, base);
        exp >>= 1;
    }
    result
}

const fn pow_table(base: u64) -> [u64; POW_TABLE_LEN] {
    let mut table = [1; POW_TABLE_LEN];
    let mut i = 1;
    while i < POW_TABLE_LEN {
        table[i] = mul_mod(table[i - 1], base);
        i += 1;
    }
    table
}

fn base_pow(len: usize) -> u64 {
    POW.get(len)
        .copied()
        .unwrap_or_else(|| pow_mod(BASE, len as u64))
}

/// `x mod P` for any `x`.
fn reduce(x: u128) -> u64 {
    let folded = (x & P as u128) + (x >> 61);
    let folded = (folded & P as u128) as u64 + (folded >> 61) as u64;
    if folded >= P { folded - P } else { folded }
}

/// The polynomial hash of `bytes`: `sum((b_i + 1) * BASE^(n-1-i)) mod P` (shifted by one so that zero bytes
/// count). Each block of up to 255 bytes is summed with independent multiplies by table powers, which is
/// several times faster than Horner's rule, whose multiplies wait on each other.
#[inline]
fn hash_bytes(bytes: &[u8]) -> u64 {
    if bytes.len() < POW_TABLE_LEN {
        return reduce(block_sum(bytes));
    }
    let mut h = 0;
    for block in bytes.chunks(POW_TABLE_LEN - 1) {
        h = add_mod(mul_mod(h, POW[block.len()]), reduce(block_sum(block)));
    }
    h
}

/// `sum((b_i + 1) * BASE^(n-1-i))` over a block of `n < POW_TABLE_LEN` bytes, not reduced (below 2^78).
#[inline]
fn block_sum(block: &[u8]) -> u128 {
    let mut sum = 0u128;
    for (&b, &pow) in block.iter().rev().zip(&POW) {
        sum += u128::from(u64::from(b) + 1) * u128::from(pow);
    }
    sum
}

/// Per-word prefixes of the polynomial hash over a list of words, so that the hash of words `i..j` joined
/// with no separator (`"".join(words[i:j])`) and the hash of the word sequence `i..j` (equal exactly when
/// `" ".join(words[i:j])` is, as words hold no spaces) each cost O(1). Refilled for each document
/// ([`Self::fill`]), so that its memory is allocated once per thread.
#[derive(Default)]
pub(super) struct WordHashes {
    /// `concat[i]`: hash of words `0..i` concatenated.
    concat: Vec<u64>,
    /// Bytes in words `0..i`.
    bytes: Vec<usize>,
    /// `seq[i]`: hash of the sequence of word hashes `0..i`, base [`SEQ_BASE`].
    seq: Vec<u64>,
    /// Characters in words `0..i`.
    chars: Vec<usize>,
}

/// The base of the word-sequence hash.
const SEQ_BASE: u64 = 0x0f1e_2d3c_4b5a_6978 % P;

impl WordHashes {
    /// Hashes `words` (with `char_len` giving each word's length in characters).
    #[cfg(test)]
    pub(super) fn new(words: &[&str], char_len: impl Fn(&str) -> usize) -> WordHashes {
        let mut hashes = WordHashes::default();
        hashes.fill(words, char_len);
        hashes
    }

    /// Hashes `words` in place of the words hashed before.
    pub(super) fn fill(&mut self, words: &[&str], char_len: impl Fn(&str) -> usize) {
        for prefix in [&mut self.concat, &mut self.seq] {
            prefix.clear();
            prefix.reserve(words.len() + 1);
        }
        for prefix in [&mut self.bytes, &mut self.chars] {
            prefix.clear();
            prefix.reserve(words.len() + 1);
        }
        let (mut concat, mut seq, mut bytes, mut chars) = (0, 0, 0, 0);
        for word in words {
            self.concat.push(concat);
            self.seq.push(seq);
            self.bytes.push(bytes);
            self.chars.push(chars);
            let h = hash_bytes(word.as_bytes());
            concat = add_mod(mul_mod(concat, base_pow(word.len())), h);
            seq = add_mod(mul_mod(seq, SEQ_BASE), h);
            bytes += word.len();
            chars += char_len(word);
        }
        self.concat.push(concat);
        self.seq.push(seq);
        self.bytes.push(bytes);
        self.chars.push(chars);
    }

    /// The number of words.
    pub(super) fn len(&self) -> usize {
        self.chars.len().saturating_sub(1)
    }

    /// The hash of words `start..end` concatenated: `concat[end] - concat[start] * BASE^bytes(start..end)`.
    #[inline]
    pub(super) fn concat(&self, start: usize, end: usize) -> u64 {
        let span_pow = base_pow(self.bytes[end] - self.bytes[start]);
        sub_mod(self.concat[end], mul_mod(self.concat[start], span_pow))
    }

    /// The hash of the word sequence `start..start + n`, given `seq_pow = SEQ_BASE^n` from [`Self::seq_pow`].
    #[inline]
    pub(super) fn sequence(&self, start: usize, n: usize, seq_pow: u64) -> u64 {
        sub_mod(self.seq[start + n], mul_mod(self.seq[start], seq_pow))
    }

    /// `SEQ_BASE^n`, for [`Self::sequence`].
    pub(super) fn seq_pow(n: usize) -> u64 {
        pow_mod(SEQ_BASE, n as u64)
    }

    /// The bytes in words `start..end`.
    #[inline]
    pub(super) fn byte_len(&self, start: usize, end: usize) -> usize {
        self.bytes[end] - self.bytes[start]
    }

    /// The characters in words `start..end`.
    #[inline]
    pub(super) fn chars(&self, start: usize, end: usize) -> usize {
        self.chars[end] - self.chars[start]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ngram_table_counts_and_keeps_the_first_tag() {
        let mut table = NgramTable::new(4);
        let add = |table: &mut NgramTable, key, tag| {
            let slot = table.add(key, tag);
            table.entry(slot)
        };
        assert_eq!(add(&mut table, 7, 0), (1, 0));
        assert_eq!(add(&mut table, 0, 1), (1, 1));
        assert_eq!(add(&mut table, 7, 2), (2, 0));
        assert_eq!(add(&mut table, u64::MAX, 3), (1, 3));
        assert_eq!(add(&mut table, 0, 4), (2, 1));
        // A slot keeps counting while the table does not grow.
        let slot = table.add(7, 9);
        table.add(7, 9);
        assert_eq!(table.entry(slot), (4, 0));
        table.reset(4);
        assert_eq!(add(&mut table, 7, 5), (1, 5));
        // Past its capacity it grows and keeps every count.
        let mut small = NgramTable::new(1);
        for key in 0..100 {
            assert_eq!(
                add(&mut small, key * 0x1234_5678_9abc, key as u32),
                (1, key as u32)
            );
        }
        for key in 0..100 {
            assert_eq!(add(&mut small, key * 0x1234_5678_9abc, 0), (2, key as u32));
        }
    }

    #[test]
    fn key_set_finds_every_key_again() {
        let mut set = KeySet::new();
        for key in 0..1000u64 {
            assert!(set.insert(key * 0x1234_5678_9abc % P));
        }
        for key in 0..1000u64 {
            assert!(!set.insert(key * 0x1234_5678_9abc % P));
        }
        set.reset(2);
        assert!(set.insert(0) && !set.insert(0) && set.insert(P - 1));
    }

    #[test]
    fn block_hash_equals_horner() {
        let horner = |bytes: &[u8]| {
            bytes
                .iter()
                .fold(0, |h, &b| add_mod(mul_mod(h, BASE), b as u64 + 1))
        };
        for len in [0, 1, 7, 62, 63, 64, 127, 200, 255, 256, 600] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            assert_eq!(hash_bytes(&bytes), horner(&bytes), "{len}");
        }
        assert_eq!(reduce(u128::MAX), (u128::MAX % P as u128) as u64);
    }

    #[test]
    fn power_table_matches_pow_mod() {
        assert_eq!(base_pow(100), pow_mod(BASE, 100));
        assert_eq!(base_pow(POW_TABLE_LEN - 1), pow_mod(BASE, 255));
        assert_eq!(base_pow(1000), pow_mod(BASE, 1000));
    }

    #[test]
    fn concat_hash_depends_only_on_the_joined_bytes() {
        let words = ["ab", "c", "x", "a", "bc", "x", "abc"];
        let h = WordHashes::new(&words, |w| w.chars().count());
        // "ab"+"c" == "a"+"bc" == "abc"
        assert_eq!(h.concat(0, 2), h.concat(3, 5));
        assert_eq!(h.concat(0, 2), h.concat(6, 7));
        assert_eq!(h.concat(0, 2), hash_bytes(b"abc"));
        assert_ne!(h.concat(0, 3), h.concat(1, 4));
        assert_eq!(h.chars(0, 3), 4);
    }

    #[test]
    fn sequence_hash_respects_word_boundaries() {
        let words = ["ab", "c", "a", "bc", "ab", "c"];
        let h = WordHashes::new(&words, |w| w.len());
        let p2 = WordHashes::seq_pow(2);
        assert_ne!(h.sequence(0, 2, p2), h.sequence(2, 2, p2));
        assert_eq!(h.sequence(0, 2, p2), h.sequence(4, 2, p2));
    }

    #[test]
    fn long_words_hash_like_short_ones() {
        let long = "x".repeat(200);
        let words = [long.as_str(), "y", long.as_str(), "y"];
        let h = WordHashes::new(&words, |w| w.len());
        assert_eq!(h.concat(0, 2), h.concat(2, 4));
        assert_eq!(h.len(), 4);
    }
}

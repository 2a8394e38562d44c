//! Exact copies inside one task: a Bloom filter (`fastbloom`) sized from the task's document count
//! answers "never seen" for almost every document in one cache line, and only its hits are confirmed
//! against the exact set of hashes, so a reported copy is never a false positive.
//!
//! The pipeline uses this to skip the MinHash work of a document whose normalised text an earlier document
//! of the same task already had: its band keys would be the same. Whether it is dropped is still decided by
//! the sorted 128-bit hash shuffle over all tasks, so no decision depends on how documents fall into tasks.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use fastbloom::BloomFilter;

/// False-positive rate of the pre-filter at the expected document count.
const FALSE_POSITIVE_RATE: f64 = 0.001;

/// Memory one remembered hash takes in the exact set (key, control byte, load-factor slack), for sizing
/// `max_exact` from a memory budget; the Bloom filter adds about 1.8 bytes per expected document.
pub const BYTES_PER_SEEN_HASH: usize = 20;

/// Hashes already seen in one task (see the module docs).
pub struct SeenHashes {
    bloom: BloomFilter,
    exact: HashSet<u128, BuildHasherDefault<HashHasher>>,
    max_exact: usize,
    bloom_hits: u64,
}

impl SeenHashes {
    /// A filter sized for `expected` documents, its Bloom hashing seeded by `seed`, whose exact set holds
    /// at most `max_exact` hashes ([`BYTES_PER_SEEN_HASH`] each): past that, new hashes are no longer remembered,
    /// so their later copies are simply not reported (memory stays bounded; nothing is decided wrongly).
    pub fn new(expected: usize, max_exact: usize, seed: u64) -> SeenHashes {
        let max_exact = max_exact.max(1);
        SeenHashes {
            bloom: BloomFilter::with_false_pos(FALSE_POSITIVE_RATE)
                .seed(&u128::from(seed))
                .expected_items(expected.max(1)),
            exact: HashSet::with_capacity_and_hasher(
                expected.min(max_exact),
                BuildHasherDefault::default(),
            ),
            max_exact,
            bloom_hits: 0,
        }
    }

    /// Records `hash`; true iff an earlier call recorded the same hash (exactly, not probably).
    pub fn insert(&mut self, hash: u128) -> bool {
        if self.bloom.insert(&hash) {
            self.bloom_hits += 1;
            if self.exact.contains(&hash) {
                return true;
            }
        }
        if self.exact.len() < self.max_exact {
            self.exact.insert(hash);
        }
        false
    }

    /// How many hashes the Bloom filter reported as possibly seen (confirmed copies plus false positives).
    pub fn bloom_hits(&self) -> u64 {
        self.bloom_hits
    }
}

/// The set's keys are already uniform 128-bit hashes: fold them instead of hashing again.
#[derive(Default)]
struct HashHasher(u64);

impl Hasher for HashHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(23) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = (n as u64) ^ ((n >> 64) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_exactly_the_repeats() {
        let mut seen = SeenHashes::new(1000, 1000, 7);
        let hashes: Vec<u128> = (0..3000u128)
            .map(|i| (i % 1000).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
            .collect();
        let repeats = hashes.iter().filter(|&&h| seen.insert(h)).count();
        assert_eq!(repeats, 2000);
        assert!(seen.bloom_hits() >= 2000);
    }

    #[test]
    fn bloom_false_positives_are_never_reported() {
        // A filter far too small for its load says "maybe" to almost everything; none of it may leak.
        let mut seen = SeenHashes::new(1, 10_000, 3);
        let fresh = (1..=5000u128)
            .map(|i| i << 64 | i.wrapping_mul(0x2545_f491_4f6c_dd1d))
            .filter(|&h| seen.insert(h))
            .count();
        assert_eq!(fresh, 0);
        assert!(seen.bloom_hits() > 100, "{}", seen.bloom_hits());
        assert!(seen.insert(5u128 << 64 | 5u128.wrapping_mul(0x2545_f491_4f6c_dd1d)));
    }

    #[test]
    fn a_full_exact_set_stops_remembering_but_never_lies() {
        let mut seen = SeenHashes::new(100, 10, 1);
        let first: Vec<bool> = (0..20u128).map(|h| seen.insert(h << 70 | h)).collect();
        assert!(first.iter().all(|&copy| !copy));
        let again: Vec<bool> = (0..20u128).map(|h| seen.insert(h << 70 | h)).collect();
        assert_eq!(again, (0..20).map(|h| h < 10).collect::<Vec<_>>());
    }
}

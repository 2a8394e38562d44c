//! Exact copies inside one task, found in two passes over the task's hashes so that memory goes to the
//! repeats only. Pass one offers every hash to a Bloom filter (`fastbloom`, about 1.8 bytes per expected
//! document at 0.1% false positives); a hash the filter has possibly seen before becomes a *suspect*. Pass
//! two confirms: only suspects are looked up in an exact map, whose first sighting of a hash is the original
//! and every later one a copy. A unique hash is never stored, and a reported copy is never a false positive.
//!
//! The pipeline uses this to skip the MinHash work of a document whose text an earlier document of the
//! same task already had: its band keys would be the same. Whether it is dropped is still decided by
//! the sorted 128-bit hash shuffle over all tasks, so no decision depends on how documents fall into tasks.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};

use fastbloom::BloomFilter;

/// False-positive rate of the pre-filter at the expected document count.
const FALSE_POSITIVE_RATE: f64 = 0.001;

/// Memory one suspect takes in the exact map (key, flag, control byte, load-factor slack), for sizing
/// `max_suspects` from a memory budget. The Bloom filter adds about 1.8 bytes per expected document.
pub const BYTES_PER_SUSPECT: usize = 40;

/// Bytes of Bloom filter per expected document at [`FALSE_POSITIVE_RATE`], for sizing a budget.
pub const BLOOM_BYTES_PER_DOCUMENT: f64 = 1.8;

/// The repeated hashes of one task (see the module docs): [`RepeatedHashes::offer`] every hash in pass
/// one, then [`RepeatedHashes::is_repeat`] every hash again, in the same order, in pass two.
pub struct RepeatedHashes {
    bloom: BloomFilter,
    /// Suspects, each with whether pass two has met it yet.
    suspects: HashMap<u128, bool, BuildHasherDefault<HashHasher>>,
    max_suspects: usize,
    bloom_hits: u64,
    dropped_suspects: u64,
}

impl RepeatedHashes {
    /// A filter sized for `expected` documents, its Bloom hashing seeded by `seed`, that keeps at most
    /// `max_suspects` suspects ([`BYTES_PER_SUSPECT`] each): past that, new suspects are not kept, so their
    /// copies are simply not reported (memory stays bounded; nothing is decided wrongly).
    pub fn new(expected: usize, max_suspects: usize, seed: u64) -> RepeatedHashes {
        RepeatedHashes {
            bloom: BloomFilter::with_false_pos(FALSE_POSITIVE_RATE)
                .seed(&u128::from(seed))
                .expected_items(expected.max(1)),
            suspects: HashMap::default(),
            max_suspects: max_suspects.max(1),
            bloom_hits: 0,
            dropped_suspects: 0,
        }
    }

    /// Pass one: records `hash`; if the Bloom filter may have seen it before, it becomes a suspect.
    pub fn offer(&mut self, hash: u128) {
        if !self.bloom.insert(&hash) {
            return;
        }
        self.bloom_hits += 1;
        if self.suspects.len() < self.max_suspects {
            self.suspects.entry(hash).or_insert(false);
        } else if !self.suspects.contains_key(&hash) {
            self.dropped_suspects += 1;
        }
    }

    /// Pass two: true iff an earlier call of this pass had the same hash (exactly, not probably).
    pub fn is_repeat(&mut self, hash: u128) -> bool {
        match self.suspects.entry(hash) {
            Entry::Occupied(mut met) => std::mem::replace(met.get_mut(), true),
            Entry::Vacant(_) => false,
        }
    }

    /// How many hashes the Bloom filter reported as possibly seen in pass one (repeats plus false
    /// positives).
    pub fn bloom_hits(&self) -> u64 {
        self.bloom_hits
    }

    /// How many distinct hashes the exact map holds: the memory pass two needs.
    pub fn suspects(&self) -> usize {
        self.suspects.len()
    }

    /// Bloom hits that found the exact map full: their copies, if any, are not reported.
    pub fn dropped_suspects(&self) -> u64 {
        self.dropped_suspects
    }
}

/// The map's keys are already uniform 128-bit hashes: fold them instead of hashing again.
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

    fn both_passes(repeated: &mut RepeatedHashes, hashes: &[u128]) -> Vec<bool> {
        hashes.iter().for_each(|&h| repeated.offer(h));
        hashes.iter().map(|&h| repeated.is_repeat(h)).collect()
    }

    fn spread(i: u128) -> u128 {
        i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    }

    #[test]
    fn reports_exactly_the_repeats_and_stores_only_suspects() {
        let mut repeated = RepeatedHashes::new(100_000, 1_000_000, 7);
        // 100,000 documents: 99,000 unique, then 1,000 copies of the first 500 (each twice).
        let hashes: Vec<u128> = (0..99_000u128)
            .map(spread)
            .chain((0..1000u128).map(|i| spread(i % 500)))
            .collect();
        let copies = both_passes(&mut repeated, &hashes);
        let expected: Vec<bool> = (0..100_000).map(|i| i >= 99_000).collect();
        assert_eq!(copies, expected);
        // The 500 repeated hashes plus about 0.1% false positives, not the 99,500 distinct ones.
        assert!(
            (500..=800).contains(&repeated.suspects()),
            "{}",
            repeated.suspects()
        );
        assert!(repeated.bloom_hits() >= 1000);
    }

    #[test]
    fn bloom_false_positives_are_never_reported() {
        // A filter far too small for its load says "maybe" to almost everything; none of it may leak.
        let mut repeated = RepeatedHashes::new(1, 10_000, 3);
        let fresh: Vec<u128> = (1..=5000u128)
            .map(|i| i << 64 | i.wrapping_mul(0x2545_f491_4f6c_dd1d))
            .collect();
        let copies = both_passes(&mut repeated, &fresh);
        assert!(copies.iter().all(|&c| !c));
        assert!(repeated.bloom_hits() > 100, "{}", repeated.bloom_hits());
    }

    #[test]
    fn a_full_map_stops_remembering_but_never_lies() {
        let mut repeated = RepeatedHashes::new(100, 10, 1);
        let hashes: Vec<u128> = (0..20u128).chain(0..20).map(|h| h << 70 | h).collect();
        let copies = both_passes(&mut repeated, &hashes);
        assert!(copies[..20].iter().all(|&c| !c));
        assert_eq!(copies[20..].iter().filter(|&&c| c).count(), 10);
        assert_eq!(repeated.suspects(), 10);
        assert_eq!(repeated.dropped_suspects(), 10);
    }

    #[test]
    fn the_first_sighting_is_the_original_even_after_a_false_positive() {
        // Offered once, a hash can still be a suspect (a false positive); pass two must not call it a copy.
        let mut repeated = RepeatedHashes::new(1, 100, 5);
        let hashes: Vec<u128> = (0..50u128).map(spread).collect();
        let copies = both_passes(&mut repeated, &hashes);
        assert!(copies.iter().all(|&c| !c));
        assert!(repeated.suspects() > 0);
    }
}

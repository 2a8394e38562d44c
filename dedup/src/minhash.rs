//! MinHash signatures and LSH band keys.
//!
//! MinHash (Broder 1997) estimates the Jaccard similarity of two shingle sets as the fraction of
//! random permutations under which both sets have the same minimum. The permutations are the universal
//! hash family `h ↦ (a·h + b) mod p` with `p = 2^61 − 1` (Carter & Wegman 1979), as in datasketch and
//! datatrove, but computed exactly rather than with wrapping 64-bit products. Locality-sensitive hashing
//! then cuts the signature into `bands` bands of `rows` values (Leskovec, Rajaraman & Ullman, *Mining of
//! Massive Datasets*, §3.4): documents that agree on a whole band become candidate duplicates. FineWeb
//! uses 14 bands of 8 rows (Penedo et al. 2024, §3.3), which flags pairs at Jaccard 0.75 with
//! probability ~0.77 and pairs at 0.8 with ~0.92.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::permutations::{LANES, PermutationBlock, SplitShingle, min_permuted};

/// The Mersenne prime `2^61 − 1`, modulus of the permutation family.
pub const MERSENNE_61: u64 = (1 << 61) - 1;

/// Number of LSH bands in FineWeb's MinHash deduplication (Penedo et al. 2024, §3.3).
pub const DEFAULT_BANDS: usize = 14;

/// Number of MinHash values per band in FineWeb's MinHash deduplication (Penedo et al. 2024, §3.3).
pub const DEFAULT_ROWS: usize = 8;

/// Why a [`MinHasher`] could not be built or could not band a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinHashError {
    /// `bands` or `rows` is 0: LSH needs at least one band of one row.
    #[error("MinHash LSH needs at least one band of one row, got {bands} bands of {rows} rows")]
    EmptyBanding {
        /// Bands asked for.
        bands: usize,
        /// Rows per band asked for.
        rows: usize,
    },
    /// `bands × rows` does not fit a `usize`.
    #[error("{bands} bands of {rows} rows is more permutations than fit in memory")]
    TooManyPermutations {
        /// Bands asked for.
        bands: usize,
        /// Rows per band asked for.
        rows: usize,
    },
    /// A signature handed to [`MinHasher::band_hashes`] was not made by a hasher of this shape, e.g. one
    /// read back from a run with other `bands`/`rows`.
    #[error("signature has {actual} values, this hasher makes {expected} (bands × rows)")]
    SignatureLength {
        /// `bands × rows` of this hasher.
        expected: usize,
        /// Length of the signature given.
        actual: usize,
    },
}

/// Computes MinHash signatures and LSH band keys with `bands × rows` seeded permutations.
///
/// The permutation coefficients are a pure function of `(bands, rows, seed)`, so signatures computed
/// by different tasks, threads or runs with the same seed are comparable (docs/ARCHITECTURE.md §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinHasher {
    bands: usize,
    rows: usize,
    /// Multipliers, uniform in `[1, p)`.
    a: Vec<u64>,
    /// Offsets, uniform in `[0, p)`.
    b: Vec<u64>,
    /// The same coefficients laid out for [`min_permuted`], the last block padded.
    blocks: Vec<PermutationBlock>,
}

impl MinHasher {
    /// Creates a hasher with `bands × rows` permutations whose coefficients are drawn from a SplitMix64
    /// stream started at `seed` (Steele, Lea & Flood 2014), rejecting draws outside `[1, p)` for
    /// multipliers and `[0, p)` for offsets so both are exactly uniform.
    ///
    /// Fails with [`MinHashError::EmptyBanding`] if `bands` or `rows` is 0, and with
    /// [`MinHashError::TooManyPermutations`] if `bands × rows` overflows.
    pub fn new(bands: usize, rows: usize, seed: u64) -> Result<Self, MinHashError> {
        if bands == 0 || rows == 0 {
            return Err(MinHashError::EmptyBanding { bands, rows });
        }
        let permutations = bands
            .checked_mul(rows)
            .ok_or(MinHashError::TooManyPermutations { bands, rows })?;
        let mut stream = SplitMix64(seed);
        let mut a = Vec::with_capacity(permutations);
        let mut b = Vec::with_capacity(permutations);
        for _ in 0..permutations {
            a.push(stream.below_mersenne_61(1));
            b.push(stream.below_mersenne_61(0));
        }
        let blocks = a
            .chunks(LANES)
            .zip(b.chunks(LANES))
            .map(|(a, b)| PermutationBlock::new(a, b))
            .collect();
        Ok(Self {
            bands,
            rows,
            a,
            b,
            blocks,
        })
    }

    /// Number of LSH bands.
    pub fn bands(&self) -> usize {
        self.bands
    }

    /// Number of MinHash values per band.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Returns the MinHash signature of a shingle set: for each of the `bands × rows` permutations,
    /// the minimum permuted shingle hash. Every value is below [`MERSENNE_61`]; a document with no
    /// shingles gets `u64::MAX` everywhere, a value no shingle can produce. Repeated shingles change
    /// nothing, so the shingles need not be deduplicated first.
    ///
    /// The permutations run in blocks of eight, each block's minima held in registers while every
    /// shingle passes through it, with AVX-512 or AVX2 where the CPU has them (detected at run time) and
    /// portable code elsewhere; all paths compute the same exact values (`permutations.rs`).
    pub fn signature(&self, shingles: impl IntoIterator<Item = u64>) -> Vec<u64> {
        let shingles: Vec<SplitShingle> = shingles.into_iter().map(SplitShingle::new).collect();
        if shingles.is_empty() {
            return vec![u64::MAX; self.a.len()];
        }
        let mut signature = vec![0; self.blocks.len() * LANES];
        min_permuted(&self.blocks, &shingles, &mut signature);
        signature.truncate(self.a.len());
        signature
    }

    /// Returns one key per LSH band: the xxh3-64 of the band's `rows` values (little-endian), seeded with
    /// the band index so that equal rows in different bands give different keys.
    ///
    /// Fails with [`MinHashError::SignatureLength`] unless `signature` has exactly `bands × rows` values,
    /// as [`MinHasher::signature`] returns: a signature of another shape would silently band against keys
    /// it can never share, so it is refused rather than truncated.
    pub fn band_hashes(&self, signature: &[u64]) -> Result<Vec<u64>, MinHashError> {
        if signature.len() != self.a.len() {
            return Err(MinHashError::SignatureLength {
                expected: self.a.len(),
                actual: signature.len(),
            });
        }
        let mut bytes = Vec::with_capacity(self.rows * 8);
        let keys = signature
            .chunks_exact(self.rows)
            .zip(0u64..)
            .map(|(band, index)| {
                bytes.clear();
                bytes.extend(band.iter().flat_map(|value| value.to_le_bytes()));
                xxh3_64_with_seed(&bytes, index)
            })
            .collect();
        Ok(keys)
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators"): a tiny,
/// well-mixed generator, so coefficients never depend on a `rand` version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Draws uniformly from `[low, 2^61 − 1)` by rejection on the top 61 bits of each output.
    fn below_mersenne_61(&mut self, low: u64) -> u64 {
        loop {
            let candidate = self.next_u64() >> 3;
            if (low..MERSENNE_61).contains(&candidate) {
                return candidate;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{normalize_for_shingles, word_shingles};
    use std::collections::HashSet;

    fn shingles(text: &str) -> Vec<u64> {
        word_shingles(&normalize_for_shingles(text), 5).collect()
    }

    fn estimated_jaccard(left: &[u64], right: &[u64]) -> f64 {
        let equal = left.iter().zip(right).filter(|(l, r)| l == r).count();
        equal as f64 / left.len() as f64
    }

    #[test]
    fn signatures_of_real_documents_equal_the_u128_formula() {
        let hasher = MinHasher::new(DEFAULT_BANDS, DEFAULT_ROWS, 1).unwrap();
        for text in crate::samples::web_texts().iter().step_by(7) {
            let set = crate::shingle_set(text, 5);
            let expected: Vec<u64> = hasher
                .a
                .iter()
                .zip(&hasher.b)
                .map(|(&a, &b)| {
                    set.iter()
                        .map(|&h| {
                            ((u128::from(a) * u128::from(h) + u128::from(b))
                                % u128::from(MERSENNE_61)) as u64
                        })
                        .min()
                        .unwrap_or(u64::MAX)
                })
                .collect();
            assert_eq!(hasher.signature(shingles(text)), expected);
        }
    }

    #[test]
    fn coefficients_are_in_range_and_depend_on_the_seed() {
        let first = MinHasher::new(DEFAULT_BANDS, DEFAULT_ROWS, 1).unwrap();
        assert_eq!(first.a.len(), 112);
        assert!(first.a.iter().all(|&a| (1..MERSENNE_61).contains(&a)));
        assert!(first.b.iter().all(|&b| b < MERSENNE_61));
        assert_eq!(
            first,
            MinHasher::new(DEFAULT_BANDS, DEFAULT_ROWS, 1).unwrap()
        );
        let second = MinHasher::new(DEFAULT_BANDS, DEFAULT_ROWS, 2).unwrap();
        assert!(first.a.iter().zip(&second.a).all(|(x, y)| x != y));
        assert!(first.b.iter().zip(&second.b).all(|(x, y)| x != y));
    }

    const PARAGRAPH: &str = "The lighthouse stood on a narrow spit of rock at the mouth of the harbour, and \
        for more than a century its keepers had climbed the spiral stair each evening to light the lamp. \
        In the winter storms the waves broke over the gallery and the glass rattled in its frames, yet the \
        light never failed. The last keeper, a quiet man who kept bees in the lee of the boathouse, wrote \
        in his log every night the direction of the wind, the state of the sea and the names of the ships \
        that passed. When the light was automated he gave the logbooks to the town library.";

    #[test]
    fn identical_documents_have_identical_signatures() {
        let hasher = MinHasher::new(DEFAULT_BANDS, DEFAULT_ROWS, 7).unwrap();
        let signature = hasher.signature(shingles(PARAGRAPH));
        assert_eq!(signature, hasher.signature(shingles(PARAGRAPH)));
        assert_eq!(signature.len(), 112);
        assert!(signature.iter().all(|&v| v < MERSENNE_61));
        let other = hasher.signature(shingles(
            "An entirely different short text about compilers.",
        ));
        assert_ne!(signature, other);
    }

    #[test]
    fn estimated_jaccard_is_close_to_the_true_jaccard() {
        let edited = PARAGRAPH
            .replace("spiral", "wooden")
            .replace("bees", "goats");
        let left: HashSet<u64> = shingles(PARAGRAPH).into_iter().collect();
        let right: HashSet<u64> = shingles(&edited).into_iter().collect();
        let truth = left.intersection(&right).count() as f64 / left.union(&right).count() as f64;
        assert!(
            (0.75..0.85).contains(&truth),
            "test texts have Jaccard {truth}, not ~0.8"
        );

        let hasher = MinHasher::new(DEFAULT_BANDS, DEFAULT_ROWS, 7).unwrap();
        let estimate = estimated_jaccard(
            &hasher.signature(left.iter().copied()),
            &hasher.signature(right.iter().copied()),
        );
        assert!(
            (estimate - truth).abs() < 0.1,
            "estimate {estimate}, truth {truth}"
        );
    }

    #[test]
    fn empty_document_signature_is_the_sentinel() {
        let hasher = MinHasher::new(2, 3, 0).unwrap();
        assert_eq!(hasher.signature([]), vec![u64::MAX; 6]);
    }

    #[test]
    fn band_hashes_hash_each_band_with_its_index() {
        let hasher = MinHasher::new(2, 2, 0).unwrap();
        let bands = hasher.band_hashes(&[5, 6, 5, 6]).unwrap();
        let band_bytes: Vec<u8> = [5u64, 6].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            bands,
            vec![
                xxh3_64_with_seed(&band_bytes, 0),
                xxh3_64_with_seed(&band_bytes, 1)
            ]
        );
        assert_ne!(bands[0], bands[1]);
    }

    #[test]
    fn documents_sharing_a_band_share_its_key() {
        let hasher = MinHasher::new(2, 2, 0).unwrap();
        let left = hasher.band_hashes(&[1, 2, 3, 4]).unwrap();
        let right = hasher.band_hashes(&[1, 2, 9, 4]).unwrap();
        assert_eq!(left[0], right[0]);
        assert_ne!(left[1], right[1]);
    }

    #[test]
    fn band_hashes_refuse_a_signature_of_the_wrong_length() {
        let hasher = MinHasher::new(2, 2, 0).unwrap();
        assert_eq!(
            hasher.band_hashes(&[1, 2, 3]),
            Err(MinHashError::SignatureLength {
                expected: 4,
                actual: 3
            })
        );
        assert_eq!(
            hasher.band_hashes(&[1, 2, 3, 4, 5]),
            Err(MinHashError::SignatureLength {
                expected: 4,
                actual: 5
            })
        );
    }

    #[test]
    fn zero_bands_or_rows_are_refused() {
        assert_eq!(
            MinHasher::new(0, 8, 0),
            Err(MinHashError::EmptyBanding { bands: 0, rows: 8 })
        );
        assert_eq!(
            MinHasher::new(14, 0, 0),
            Err(MinHashError::EmptyBanding { bands: 14, rows: 0 })
        );
        assert_eq!(
            MinHasher::new(usize::MAX, 2, 0),
            Err(MinHashError::TooManyPermutations {
                bands: usize::MAX,
                rows: 2
            })
        );
    }
}

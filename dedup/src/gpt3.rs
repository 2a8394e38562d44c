//! The `gpt3` mode: fuzzy deduplication as GPT-3 did it (Brown et al. 2020, App. A: "we fuzzily
//! deduplicated documents within each dataset using Spark's MinHashLSH implementation with 10 hashes,
//! using the same features as were used for classification above").
//!
//! The features are the quality classifier's: Spark's `Tokenizer` (lowercase, split on each ASCII
//! whitespace character) and `HashingTF` (murmur3_x86_32, seed 42, non-negative modulo 2^18), of which
//! MinHash sees the set of indices ([`corpus_text::spark::for_each_spark_term_index`]). Spark's
//! `MinHashLSH` (`mllib/.../ml/feature/MinHashLSH.scala`) then draws, for each of `numHashTables` tables,
//! `a = 1 + rand.nextInt(HASH_PRIME − 1)` and `b = rand.nextInt(HASH_PRIME − 1)` from a
//! `java.util.Random(seed)`, in that order, and hashes a set to `min over indices i of ((1 + i)·a + b) mod
//! HASH_PRIME`. Its similarity join makes two documents a candidate pair when they agree on at least one
//! table (OR-amplification; in band terms, `tables` bands of one row) and keeps the pairs whose exact
//! Jaccard distance is below the threshold: here [`crate::jaccard`] of the two feature sets.

use std::num::NonZeroU32;

use corpus_text::spark::for_each_spark_term_index;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::MinHashError;

/// Spark `MinHashLSH.HASH_PRIME`: "a large prime smaller than sqrt(2^63 − 1)", the modulus of its hashes.
pub const SPARK_HASH_PRIME: u64 = 2_038_074_743;

/// Number of hash tables GPT-3 used ("MinHashLSH implementation with 10 hashes").
pub const GPT3_HASH_TABLES: usize = 10;

/// Spark `HashingTF`'s default number of features, which GPT-3's classifier features used.
pub const SPARK_NUM_FEATURES: u32 = 1 << 18;

/// [`SPARK_NUM_FEATURES`] as the hashing function takes it; checked when compiling.
const SPARK_FEATURES: NonZeroU32 = NonZeroU32::new(SPARK_NUM_FEATURES).expect("2^18 is not zero");

/// The seed a Spark `MinHashLSH` gets when none is set: `HasSeed`'s default,
/// `this.getClass.getName.hashCode.toLong` for `org.apache.spark.ml.feature.MinHashLSH`. GPT-3 does not
/// say which seed it used; this is the one its pipeline had if it set none.
pub const SPARK_DEFAULT_SEED: i64 =
    java_string_hash("org.apache.spark.ml.feature.MinHashLSH") as i64;

/// Java's `String.hashCode` of an ASCII string: `s[0]·31^(n−1) + … + s[n−1]` in wrapping 32-bit
/// arithmetic (for ASCII, bytes are the UTF-16 code units Java sums).
const fn java_string_hash(ascii: &str) -> i32 {
    let bytes = ascii.as_bytes();
    let mut hash = 0i32;
    let mut at = 0;
    while at < bytes.len() {
        hash = hash.wrapping_mul(31).wrapping_add(bytes[at] as i32);
        at += 1;
    }
    hash
}

/// Spark `MinHashLSH` over the GPT-3 classifier's features: feature sets, signatures (one MinHash per
/// table) and one LSH key per table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparkMinHash {
    /// `(a, b)` of each table, as Spark's `randCoefficients`.
    coefficients: Vec<(u64, u64)>,
    num_features: NonZeroU32,
}

impl SparkMinHash {
    /// The model Spark's `new MinHashLSH().setNumHashTables(tables).setSeed(seed)` fits on 2^18 hashed
    /// features: the same coefficients, drawn from `java.util.Random(seed)`. GPT-3's setting is
    /// `new(GPT3_HASH_TABLES, SPARK_DEFAULT_SEED)`.
    ///
    /// Fails with [`MinHashError::EmptyBanding`] if `tables` is 0.
    pub fn new(tables: usize, seed: i64) -> Result<Self, MinHashError> {
        if tables == 0 {
            return Err(MinHashError::EmptyBanding { bands: 0, rows: 1 });
        }
        let mut random = JavaRandom::new(seed);
        // Both bounds are HASH_PRIME − 1, which fits a Java int.
        let bound = (SPARK_HASH_PRIME - 1) as i32;
        let coefficients = (0..tables)
            .map(|_| {
                // Scala evaluates the tuple left to right: a is drawn before b.
                let a = 1 + u64::from(random.next_int(bound).unsigned_abs());
                let b = u64::from(random.next_int(bound).unsigned_abs());
                (a, b)
            })
            .collect();
        Ok(Self {
            coefficients,
            num_features: SPARK_FEATURES,
        })
    }

    /// Number of hash tables (LSH bands of one row).
    pub fn tables(&self) -> usize {
        self.coefficients.len()
    }

    /// The document's feature set: the distinct `HashingTF` indices of its Spark tokens, increasing. Never
    /// empty: Spark's tokenizer gives even an empty text one (empty) token.
    pub fn features(&self, text: &str) -> Vec<u32> {
        let mut indices = Vec::new();
        for_each_spark_term_index(text, self.num_features, |index| indices.push(index));
        indices.sort_unstable();
        indices.dedup();
        indices
    }

    /// Spark's `hashFunction`: for each table, the minimum of `((1 + i)·a + b) mod HASH_PRIME` over the
    /// feature indices `i`. Each value is below [`SPARK_HASH_PRIME`]; an empty set (which Spark refuses)
    /// gets `u64::MAX` everywhere.
    pub fn signature(&self, features: &[u32]) -> Vec<u64> {
        self.coefficients
            .iter()
            .map(|&(a, b)| {
                // (1 + i) ≤ 2^32 and a < 2^31: the product and sum fit a u64, as they fit Spark's Long.
                features
                    .iter()
                    .map(|&i| ((1 + u64::from(i)) * a + b) % SPARK_HASH_PRIME)
                    .min()
                    .unwrap_or(u64::MAX)
            })
            .collect()
    }

    /// One LSH key per table: the xxh3-64 of the table's value (little-endian), seeded with the table
    /// index, exactly as [`crate::MinHasher::band_hashes`] keys a band of one row. Two documents are
    /// candidates when they share any key.
    ///
    /// Fails with [`MinHashError::SignatureLength`] unless `signature` has one value per table.
    pub fn band_hashes(&self, signature: &[u64]) -> Result<Vec<u64>, MinHashError> {
        if signature.len() != self.coefficients.len() {
            return Err(MinHashError::SignatureLength {
                expected: self.coefficients.len(),
                actual: signature.len(),
            });
        }
        Ok(signature
            .iter()
            .zip(0u64..)
            .map(|(value, table)| xxh3_64_with_seed(&value.to_le_bytes(), table))
            .collect())
    }
}

/// `java.util.Random`: the 48-bit linear congruential generator of Knuth, TAOCP vol. 2 §3.2.1, as the
/// Java SE API specification defines it, for the draws Spark makes.
#[derive(Debug, Clone)]
struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const ADDEND: u64 = 0xB;
    const MASK: u64 = (1 << 48) - 1;

    /// `new Random(seed)`: the seed scrambled with the multiplier.
    fn new(seed: i64) -> Self {
        Self {
            seed: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    /// `next(bits)`: advance, then the top `bits` of the 48-bit state as a Java int.
    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self
            .seed
            .wrapping_mul(Self::MULTIPLIER)
            .wrapping_add(Self::ADDEND))
            & Self::MASK;
        (self.seed >> (48 - bits)) as i32
    }

    /// `nextInt()`: 32 random bits.
    #[cfg(test)]
    fn next_int_any(&mut self) -> i32 {
        self.next(32)
    }

    /// `nextInt(bound)` for `bound > 0`: a power of two takes the high bits, anything else `r % bound`,
    /// rejecting the draws of the last incomplete multiple of `bound` (where `u − r + (bound − 1)`
    /// overflows a Java int), so every value in `[0, bound)` is equally likely. Returns a value in
    /// `[0, bound)`.
    fn next_int(&mut self, bound: i32) -> i32 {
        debug_assert!(bound > 0);
        let mut r = self.next(31);
        let m = bound.wrapping_sub(1);
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jaccard;

    /// JDK 21 outputs of `new Random(seed)`: 8 × `nextInt()`, then 6 × `nextInt(bound)` from a fresh
    /// generator for each bound (as recorded in public JDK conformance tables).
    const JAVA_NEXT_INT: [(i64, [i32; 8]); 3] = [
        (
            0,
            [
                -1155484576,
                -723955400,
                1033096058,
                -1690734402,
                -1557280266,
                1327362106,
                -1930858313,
                502539523,
            ],
        ),
        (
            42,
            [
                -1170105035,
                234785527,
                -1360544799,
                205897768,
                1325939940,
                -248792245,
                1190043011,
                -1255373459,
            ],
        ),
        (
            -1,
            [
                1155099827,
                1887904451,
                52699159,
                -1941176418,
                -1451336087,
                -1714570420,
                1788588954,
                1714930956,
            ],
        ),
    ];

    const JAVA_NEXT_INT_BOUND: [(i64, i32, [i32; 6]); 10] = [
        (42, 10, [0, 3, 8, 4, 0, 5]),
        (42, 100, [30, 63, 48, 84, 70, 25]),
        (42, 7, [1, 5, 6, 3, 5, 4]),
        (
            42,
            1 << 30,
            [
                781215565, 58696381, 733605624, 51474442, 331484985, 1011543762,
            ],
        ),
        (
            42,
            (1 << 30) + 1,
            [
                117392763, 102948884, 662969970, 595021505, 196118093, 969067502,
            ],
        ),
        (
            42,
            i32::MAX,
            [
                1562431130, 117392763, 1467211248, 102948884, 662969970, 2023087525,
            ],
        ),
        (0, 100, [60, 48, 29, 47, 15, 53]),
        (
            0,
            (1 << 30) + 1,
            [
                516548029, 663681053, 251269761, 715581077, 542832677, 827187473,
            ],
        ),
        (
            -1,
            i32::MAX,
            [
                577549913, 943952225, 26349579, 1176895439, 1421815604, 1290198438,
            ],
        ),
        (
            i64::MIN,
            i32::MAX,
            [
                1569741360, 1785505948, 516548029, 1302116447, 1368843515, 663681053,
            ],
        ),
    ];

    #[test]
    fn java_random_reproduces_the_jdk() {
        for (seed, expected) in JAVA_NEXT_INT {
            let mut random = JavaRandom::new(seed);
            let got: Vec<i32> = (0..8).map(|_| random.next_int_any()).collect();
            assert_eq!(got, expected, "seed {seed}");
        }
        for (seed, bound, expected) in JAVA_NEXT_INT_BOUND {
            let mut random = JavaRandom::new(seed);
            let got: Vec<i32> = (0..6).map(|_| random.next_int(bound)).collect();
            assert_eq!(got, expected, "seed {seed} bound {bound}");
        }
    }

    #[test]
    fn next_int_rejects_the_last_incomplete_multiple() {
        // With a bound just above 2^30, the draws of next(31) at or above the bound (about half) fall in
        // the incomplete last multiple and are redrawn. Seed 42's first draw is one of them.
        let mut raw = JavaRandom::new(42);
        let draws: Vec<i32> = (0..4).map(|_| raw.next(31)).collect();
        let bound = (1 << 30) + 1;
        let mut random = JavaRandom::new(42);
        let first = random.next_int(bound);
        let expected = draws
            .iter()
            .find(|&&u| {
                i64::from(u) - i64::from(u % bound) + i64::from(bound - 1) <= i64::from(i32::MAX)
            })
            .map(|&u| u % bound)
            .unwrap();
        assert_eq!(first, expected);
        assert_ne!(
            draws[0] % bound,
            first,
            "the first draw of seed 42 is rejected"
        );
    }

    #[test]
    fn spark_default_seed_is_the_class_name_hash() {
        // "org.apache.spark.ml.feature.MinHashLSH".hashCode, sign-extended to a long.
        assert_eq!(
            SPARK_DEFAULT_SEED,
            i64::from(java_string_hash("org.apache.spark.ml.feature.MinHashLSH"))
        );
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash(""), 0);
    }

    #[test]
    fn coefficients_are_spark_draws_in_order() {
        let model = SparkMinHash::new(3, 42).unwrap();
        let mut random = JavaRandom::new(42);
        let bound = (SPARK_HASH_PRIME - 1) as i32;
        for &(a, b) in &model.coefficients {
            assert_eq!(a, 1 + random.next_int(bound) as u64);
            assert_eq!(b, random.next_int(bound) as u64);
            assert!((1..SPARK_HASH_PRIME).contains(&a) && b < SPARK_HASH_PRIME - 1);
        }
        assert_eq!(model.tables(), 3);
        assert_eq!(
            SparkMinHash::new(0, 42),
            Err(MinHashError::EmptyBanding { bands: 0, rows: 1 })
        );
    }

    #[test]
    fn features_are_the_distinct_hashing_tf_indices() {
        let model = SparkMinHash::new(GPT3_HASH_TABLES, SPARK_DEFAULT_SEED).unwrap();
        let features = model.features("The cat the CAT\tdog");
        let index = |token: &str| {
            let mut found = Vec::new();
            for_each_spark_term_index(token, model.num_features, |i| found.push(i));
            found[0]
        };
        let mut expected = vec![index("the"), index("cat"), index("dog")];
        expected.sort_unstable();
        assert_eq!(features, expected);
        assert!(features.iter().all(|&i| i < SPARK_NUM_FEATURES));
        // Spark's tokenizer gives an empty text one empty token.
        assert_eq!(model.features(""), vec![index("")]);
    }

    #[test]
    fn signature_is_the_minimum_of_sparks_hash() {
        let model = SparkMinHash::new(GPT3_HASH_TABLES, 7).unwrap();
        let features = [0, 5, 262_143];
        let signature = model.signature(&features);
        assert_eq!(signature.len(), GPT3_HASH_TABLES);
        for (&(a, b), &value) in model.coefficients.iter().zip(&signature) {
            // Spark's Long arithmetic, checked in i128.
            let spark = features
                .iter()
                .map(|&i| ((1 + i128::from(i)) * i128::from(a) + i128::from(b)) % 2_038_074_743)
                .min()
                .unwrap();
            assert_eq!(i128::from(value), spark);
        }
        assert_eq!(model.signature(&[]), vec![u64::MAX; GPT3_HASH_TABLES]);
    }

    #[test]
    fn near_duplicates_share_a_table_and_pass_the_jaccard_check() {
        let model = SparkMinHash::new(GPT3_HASH_TABLES, SPARK_DEFAULT_SEED).unwrap();
        let texts = crate::samples::web_texts();
        let original = texts.iter().max_by_key(|t| t.len()).unwrap();
        let edited = original.replacen("the ", "a ", 3);
        let other = texts
            .iter()
            .find(|t| t.len() > 2000 && *t != original)
            .unwrap();
        let keys = |text: &str| {
            let signature = model.signature(&model.features(text));
            model.band_hashes(&signature).unwrap()
        };
        let (k1, k2) = (keys(original), keys(&edited));
        assert!(k1.iter().zip(&k2).any(|(x, y)| x == y));
        let similarity = jaccard(&model.features(original), &model.features(&edited));
        assert!(similarity > 0.95, "{similarity}");
        assert!(jaccard(&model.features(original), &model.features(other)) < 0.5);
        assert_eq!(
            model.band_hashes(&[1, 2]),
            Err(MinHashError::SignatureLength {
                expected: GPT3_HASH_TABLES,
                actual: 2
            })
        );
    }
}

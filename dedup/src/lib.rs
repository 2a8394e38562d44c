//! Fuzzy deduplication of documents (docs/ARCHITECTURE.md §1, stage `dedup`).
//!
//! GPT-3 (Brown et al. 2020, App. A) removes near-duplicate documents with MinHash LSH. This crate holds
//! the algorithms, over plain text and hashes, that the pipeline composes into that stage:
//!
//! 1. [`normalize_for_shingles`] folds away differences that do not make two documents different
//!    (case, accents, punctuation, digits, whitespace);
//! 2. [`word_shingles`] hashes the word n-grams of the normalised text;
//! 3. [`MinHasher::signature`] turns a shingle set into a MinHash signature and
//!    [`MinHasher::band_hashes`] cuts it into LSH band keys: two documents that share any band key are
//!    candidate duplicates. Sizes of 0 and mismatched signatures are refused with a [`MinHashError`].
//!    [`shingle_set`] keeps a document's sorted shingle set and [`jaccard`] checks a candidate pair
//!    exactly. [`SparkMinHash`] is the `gpt3` mode: Spark's MinHashLSH over the quality classifier's
//!    hashed tokens, as GPT-3 deduplicated (10 tables, OR-amplified, then the exact Jaccard check).
//! 4. [`Spiller`] cuts keyed records (band keys with document ids, graph edges) into sorted run files in
//!    bounded memory, [`RunWriter`] and [`RunReader`] write and verify those files, and [`merge`] reads
//!    a partition's runs back as one sorted stream: the shuffle between the stage's phases.
//! 5. [`RepeatedHashes`] spots exact copies inside one task in two passes (a Bloom filter over every hash,
//!    then an exact map of only its hits), so a copy skips the MinHash work; exact duplicates across tasks
//!    meet in the sorted hash shuffle.
//! 6. Candidate pairs form a graph whose connected components are the duplicate clusters: rounds of
//!    [`star_step`] (large-star / small-star, Kiveris et al. 2014) over partitioned edge runs shrink every
//!    component to a star around its minimum node, and [`centres`] reads each node's cluster off it.

mod components;
mod exact;
mod gpt3;
mod jaccard;
mod minhash;
mod normalize;
mod permutations;
#[cfg(test)]
mod samples;
mod shingle;

pub use components::{Centres, Step, StepStats, centres, star_step};
pub use exact::{BLOOM_BYTES_PER_DOCUMENT, BYTES_PER_SUSPECT, RepeatedHashes};
pub use gpt3::{
    GPT3_HASH_TABLES, SPARK_DEFAULT_SEED, SPARK_HASH_PRIME, SPARK_NUM_FEATURES, SparkMinHash,
};
pub use jaccard::jaccard;
pub use minhash::{DEFAULT_BANDS, DEFAULT_ROWS, MERSENNE_61, MinHashError, MinHasher};
pub use normalize::normalize_for_shingles;
pub use permutations::permutation_kernel;
pub use shingle::{DEFAULT_SHINGLE_WORDS, shingle_set, word_shingles};

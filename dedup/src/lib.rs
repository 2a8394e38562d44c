//! Fuzzy deduplication of documents (DESIGN.md §1, stage `dedup`).
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

mod minhash;
mod normalize;
mod shingle;

pub use minhash::{DEFAULT_BANDS, DEFAULT_ROWS, MERSENNE_61, MinHashError, MinHasher};
pub use normalize::normalize_for_shingles;
pub use shingle::{DEFAULT_SHINGLE_WORDS, word_shingles};

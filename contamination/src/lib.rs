//! Benchmark decontamination (DESIGN.md §1, stage `decontam`).
//!
//! GPT-3 (Brown et al. 2020, App. C) removes from the training data every 13-gram that also occurs in
//! a benchmark, together with 200 characters on each side. This crate holds the pieces the pipeline
//! composes into that stage:
//!
//! - [`gpt3_words`] splits text into the paper's normalised words, keeping each word's byte range in the
//!   original text; [`janitor_normalize`] reproduces EleutherAI lm-evaluation-harness's Janitor for
//!   parity with its contamination reports;
//! - [`ngram_hashes`] hashes word n-grams, and [`NgramIndex`] holds the n-grams of benchmark examples and
//!   finds them in a training document as exact byte ranges ([`NgramMatch`]) that a later step excises;
//!   an index of 0-word n-grams is refused with [`NgramError`].

mod ngram;
mod normalize;

pub use ngram::{GPT3_NGRAM_WORDS, NgramError, NgramIndex, NgramMatch, ngram_hashes};
pub use normalize::{Gpt3Word, gpt3_words, janitor_normalize};

//! Benchmark decontamination (docs/ARCHITECTURE.md §1, stage `decontam`).
//!
//! GPT-3 (Brown et al. 2020, App. C) removes from the training data every N-gram that also occurs in
//! a benchmark, together with 200 characters on each side. This crate holds the pieces the pipeline
//! composes into that stage:
//!
//! - [`load_examples`] reads a benchmark file ([`BenchmarkFormat`]) into example texts;
//! - [`Mode`] picks the word normalisation: GPT-3's ([`gpt3_words`]) or EleutherAI lm-evaluation-harness's
//!   Janitor ([`janitor_normalize`]), for parity with its contamination reports;
//! - [`choose_n`] picks a benchmark's N by the paper's rule, [`BenchmarkSet`] holds the n-grams of every
//!   benchmark and finds them in a training document as exact byte ranges ([`Hit`]);
//! - [`excise`] cuts the hits out with their context and splits the document into pieces ([`Excision`]).

mod benchmark;
mod excise;
mod ngram;
mod normalize;

pub use benchmark::{BenchmarkError, BenchmarkFormat, UnknownChoice, load_examples};
pub use excise::{Excision, excise};
pub use ngram::{
    BenchmarkSet, GPT3_NGRAM_WORDS, Hit, MAX_NGRAM_WORDS, MIN_CHOSEN_NGRAM_WORDS, NgramError,
    choose_n,
};
pub use normalize::{Gpt3Word, Mode, gpt3_words, janitor_normalize};

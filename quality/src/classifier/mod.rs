//! The GPT-3 quality classifier (Brown et al. 2020, Appendix A): a logistic regression on hashed term
//! counts that separates curated text (WebText, Wikipedia, books: the positive class) from unfiltered
//! Common Crawl (the negative class). Its score, the probability of "curated", drives [`crate::pareto`]
//! resampling.
//!
//! Use [`train`] with the two classes' texts and [`TrainOptions`], keep the [`Model`] with
//! [`Model::save_json`] / [`Model::to_writer`], load it with [`Model::from_json`] / [`Model::from_reader`],
//! and call [`Model::score`] (or [`Model::score_all`] for a batch) on each document. This module reads no
//! files itself: the pipeline hands it texts.
//!
//! Two [`ModelKind`]s share that interface:
//!
//! - [`ModelKind::Gpt3HashingLr`] (`"gpt3"`): the paper's features exactly as its Spark pipeline computes
//!   them — Spark's `Tokenizer` (lowercase, split on each ASCII whitespace character, empty tokens
//!   included) and `HashingTF` (MurmurHash3_x86_32 with seed 42, `nonNegativeMod` into 2¹⁸ buckets, raw
//!   counts);
//! - [`ModelKind::BigramHashingLr`] (`"bigram"`): a modern variant — lowercase alphanumeric words, their
//!   unigrams and bigrams hashed with xxh3 into 2²⁰ buckets, `1 + ln(count)` scaled to unit length.
//!
//! Training minimises the mean log-loss plus `l2/2 · |β|²` with L-BFGS (see the `lbfgs` and `logistic`
//! modules). The GPT-3 kind optimises over features divided by their standard deviation, like Spark's
//! `LogisticRegression` with its default `standardization = true`: raw counts of long documents are large
//! and would otherwise leave the problem badly conditioned. The bigram kind's features are already
//! unit-length and it optimises them as they are ([`TrainOptions::standardize`] switches either). The
//! result is deterministic: the held-out split hashes each text with the seed, and every sum runs in a
//! fixed order whatever the number of threads, so the same inputs and options give the same
//! model file byte for byte.
//!
//! The model file is one JSON object:
//!
//! ```json
//! {"format": "corpus-quality-model", "version": 1, "kind": "gpt3", "num_features": 262144,
//!  "hash_seed": 42, "intercept": -0.31, "weights": [[17, 0.021], [503, -1.7]],
//!  "training": {"options": {...}, "report": {...}}}
//! ```
//!
//! `weights` lists the nonzero weights of the original (unscaled) features by increasing index, so
//! `score = σ(intercept + Σ weights[i] · feature_i)`.

mod features;
mod lbfgs;
mod logistic;
mod metrics;
mod model;
mod training;

use serde::{Deserialize, Serialize};

pub use lbfgs::StopReason;
pub use metrics::auc;
pub use model::{
    MAX_NUM_FEATURES, MIN_TRAINING_DOCS_PER_CLASS, MODEL_FORMAT, MODEL_VERSION, Model,
};
pub use training::{TrainOptions, TrainReport, TrainingRecord, train};

/// Which features and hash the classifier uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelKind {
    /// The GPT-3 paper's Spark `Tokenizer` + `HashingTF` features (raw counts, 2¹⁸ buckets by default).
    #[default]
    #[serde(rename = "gpt3")]
    Gpt3HashingLr,
    /// xxh3-hashed word unigrams and bigrams, log-scaled and L2-normalised (2²⁰ buckets by default).
    #[serde(rename = "bigram")]
    BigramHashingLr,
}

impl ModelKind {
    /// The name used in model files and configs: `gpt3` or `bigram`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gpt3HashingLr => "gpt3",
            Self::BigramHashingLr => "bigram",
        }
    }

    /// Default number of hash buckets: 2¹⁸ for GPT-3 (Spark `HashingTF`'s default), 2²⁰ for bigrams.
    pub fn default_num_features(self) -> usize {
        match self {
            Self::Gpt3HashingLr => 1 << 18,
            Self::BigramHashingLr => 1 << 20,
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the classifier could not be trained, saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// One of the two classes has no documents.
    #[error(
        "no {class} documents were given: the classifier needs both curated (positive) and raw Common Crawl \
         (negative) text"
    )]
    EmptyClass {
        /// `positive` or `negative`.
        class: &'static str,
    },
    /// The held-out split took every document of a class.
    #[error(
        "all {count} {class} documents fell in the held-out split, so none is left to train on: lower \
         holdout_fraction or add documents"
    )]
    NoTrainingDocuments {
        /// `positive` or `negative`.
        class: &'static str,
        /// How many documents the class has.
        count: usize,
    },
    /// A training option is out of range.
    #[error("invalid classifier training option `{option}`: {reason}")]
    InvalidOption {
        /// The option's field name in [`TrainOptions`].
        option: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The optimiser produced a loss or weights that are not finite numbers.
    #[error(
        "classifier training diverged (the loss or a weight is not a finite number): raise l2 or check the \
         input texts"
    )]
    Diverged,
    /// The file is JSON but not a model file of this project.
    #[error(
        "not a quality classifier model file: expected \"format\": \"{MODEL_FORMAT}\", found {found}"
    )]
    NotAModelFile {
        /// What the file has instead.
        found: String,
    },
    /// The model file has a version this build cannot read.
    #[error(
        "quality classifier model file version {found} is not supported: this build reads version \
         {MODEL_VERSION}; retrain the model with this build"
    )]
    UnsupportedVersion {
        /// The file's version.
        found: u64,
    },
    /// The model file is not valid JSON, misses a field, or holds an inconsistent value.
    #[error("malformed quality classifier model file: {reason}")]
    MalformedModel {
        /// What is wrong, with the JSON position where there is one.
        reason: String,
    },
    /// Reading or writing the model failed.
    #[error("could not read or write the quality classifier model: {0}")]
    Io(#[from] std::io::Error),
}

//! `[decontamination]`: benchmark test sets and how their n-grams are cut out (GPT-3 App. C).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[decontamination]`: benchmark test sets whose n-grams are cut out of the training data (GPT-3 App. C)
/// and reported per example.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecontaminationConfig {
    /// `gpt3`: lowercase words without punctuation (the paper); `janitor`: lm-evaluation-harness's Janitor.
    #[serde(default = "default_decontam_mode")]
    pub mode: String,
    /// N-grams found in more documents than this are ignored when cutting (common phrases, boilerplate).
    #[serde(default = "default_max_documents")]
    pub max_documents: u64,
    /// Characters removed on each side of a matching n-gram.
    #[serde(default = "default_context_chars")]
    pub context: usize,
    /// Pieces shorter than this many characters are dropped.
    #[serde(default = "default_context_chars")]
    pub min_piece: usize,
    /// A document split into more pieces than this is dropped whole.
    #[serde(default = "default_max_pieces")]
    pub max_pieces: usize,
    /// The benchmark test sets; none: the stages pass every document through.
    #[serde(default)]
    pub benchmarks: Vec<BenchmarkConfig>,
}

/// `[[decontamination.benchmarks]]`: one test set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkConfig {
    /// Name in reports (`lambada`, `squad`, ...).
    pub name: String,
    /// Globs of its files, local or `s3://`, read in sorted order.
    pub paths: Vec<String>,
    /// `jsonl`, `json`, `tsv`, `csv`, `parquet` or `text` (one example per line).
    pub format: String,
    /// Fields whose values, joined by spaces, form an example (`[]` walks a list: `qas[].question`).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Path that enumerates the examples inside each record, e.g. SQuAD's `data[].paragraphs[]`.
    #[serde(default)]
    pub records: Option<String>,
    /// N for this benchmark; default: the 5th percentile of example length in words, clamped to [8, 13].
    #[serde(default)]
    pub ngram: Option<usize>,
}

fn default_decontam_mode() -> String {
    "gpt3".to_string()
}

fn default_max_documents() -> u64 {
    10
}

fn default_context_chars() -> usize {
    200
}

fn default_max_pieces() -> usize {
    10
}

impl Default for DecontaminationConfig {
    fn default() -> Self {
        DecontaminationConfig {
            mode: default_decontam_mode(),
            max_documents: default_max_documents(),
            context: default_context_chars(),
            min_piece: default_context_chars(),
            max_pieces: default_max_pieces(),
            benchmarks: Vec::new(),
        }
    }
}

impl DecontaminationConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.mode
            .parse::<corpus_contamination::Mode>()
            .map_err(|e| ConfigError::invalid("decontamination.mode", e.to_string()))?;
        if self.max_pieces == 0 {
            return Err(ConfigError::invalid(
                "decontamination.max_pieces",
                "must be at least 1",
            ));
        }
        let mut names = BTreeSet::new();
        for (i, b) in self.benchmarks.iter().enumerate() {
            let field = |f: &str| format!("decontamination.benchmarks[{i}].{f}");
            if b.name.is_empty() || !names.insert(b.name.as_str()) {
                return Err(ConfigError::invalid(
                    field("name"),
                    format!("'{}' must be non-empty and unique", b.name),
                ));
            }
            if b.paths.is_empty() {
                return Err(ConfigError::invalid(
                    field("paths"),
                    "at least one path or glob is needed",
                ));
            }
            let format = b
                .format
                .parse::<corpus_contamination::BenchmarkFormat>()
                .map_err(|e| ConfigError::invalid(field("format"), e.to_string()))?;
            if b.fields.is_empty() && format != corpus_contamination::BenchmarkFormat::Text {
                return Err(ConfigError::invalid(
                    field("fields"),
                    "name the fields that form an example",
                ));
            }
            if let Some(n) = b.ngram
                && !(1..=64).contains(&n)
            {
                return Err(ConfigError::invalid(
                    field("ngram"),
                    format!("{n} is out of range 1..=64"),
                ));
            }
        }
        Ok(())
    }
}

//! The run configuration (`configs/*.toml`): parsed with unknown keys refused, then validated as a whole
//! before any work starts, so a typo never costs a half-finished run. Errors name the field
//! (`sources[1].format`) and, where the value comes from a fixed set, the allowed values.

use std::collections::BTreeSet;
use std::path::Path;

use corpus_tokenizer::Encoding;
use serde::{Deserialize, Serialize};

use crate::sources::Format;

/// A configuration that cannot be run; the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The config path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The config path.
        path: String,
        /// The parser's message (names the key and shows the line).
        message: String,
    },
    /// A value that parses but cannot be used.
    #[error("invalid config: {field}: {message}")]
    Invalid {
        /// Dotted path of the field, e.g. `sources[0].weight`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

impl ConfigError {
    /// An error about one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where and how the run executes.
    pub run: RunConfig,
    /// The input sources, in the order their documents enter the corpus.
    pub sources: Vec<SourceConfig>,
    /// The BPE encoding for shards.
    #[serde(default)]
    pub tokenizer: TokenizerConfig,
    /// Shard size and the validation split.
    #[serde(default)]
    pub shards: ShardsConfig,
    /// Quality filtering: classifier with Pareto resampling, rule filters, language identification.
    #[serde(default)]
    pub quality: QualityConfig,
    /// Exact and MinHash-LSH near-duplicate removal.
    #[serde(default)]
    pub dedup: DedupConfig,
    /// Benchmark n-gram decontamination and contamination reports (GPT-3 App. C).
    #[serde(default)]
    pub decontamination: DecontaminationConfig,
    /// Source weights, token budget and the global shuffle (GPT-3 Table 2.2).
    #[serde(default)]
    pub mix: MixConfig,
}

/// `[run]`: work directory, seed and task count.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Work directory: a local path or `s3://bucket/prefix`.
    pub work: String,
    /// Seed of every random choice of the run.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Tasks per stage when run locally (and the `n` of `part-i-of-n` files).
    #[serde(default = "default_tasks")]
    pub tasks: usize,
}

fn default_seed() -> u64 {
    42
}

fn default_tasks() -> usize {
    4
}

/// `[[sources]]`: one named source and its files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Source name; becomes the `source` column (`common_crawl`, `webtext2`, `books1`, ...).
    pub name: String,
    /// Reader format (see [`Format::ALLOWED`]).
    pub format: String,
    /// Globs of input files, local or `s3://`.
    pub paths: Vec<String>,
    /// Mixing weight (GPT-3 Table 2.2).
    pub weight: f64,
    /// JSONL: dotted path of the text field.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// JSONL: dotted path of the record's own id, kept in `meta.orig_id`.
    #[serde(default)]
    pub id_field: Option<String>,
    /// JSONL: dotted path of the URL field.
    #[serde(default)]
    pub url_field: Option<String>,
    /// JSONL: dotted path of the title field.
    #[serde(default)]
    pub title_field: Option<String>,
    /// Largest document (text bytes) a reader accepts; larger records become `too_large` rejects.
    #[serde(default = "default_max_doc_bytes")]
    pub max_doc_bytes: u64,
}

impl SourceConfig {
    /// A source with every optional field at its default (`text_field = "text"`, no id/url/title fields,
    /// the default `max_doc_bytes`), for programmatic use: benches, tests, tools.
    pub fn with_defaults(name: &str, format: &str) -> Self {
        SourceConfig {
            name: name.to_string(),
            format: format.to_string(),
            paths: Vec::new(),
            weight: 1.0,
            text_field: default_text_field(),
            id_field: None,
            url_field: None,
            title_field: None,
            max_doc_bytes: default_max_doc_bytes(),
        }
    }
}

fn default_max_doc_bytes() -> u64 {
    32 << 20
}

fn default_text_field() -> String {
    "text".to_string()
}

/// `[quality]`: which filters run on which sources. Each part names the sources it applies to (default:
/// `common_crawl`, the only source GPT-3 filtered).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityConfig {
    /// `[quality.classifier]`: the GPT-3 quality classifier with Pareto resampling (off when absent).
    #[serde(default)]
    pub classifier: Option<ClassifierConfig>,
    /// `[quality.rules]`: Gopher, C4 and FineWeb rule filters.
    #[serde(default)]
    pub rules: RulesSection,
    /// `[quality.language]`: language identification.
    #[serde(default)]
    pub language: LanguageSection,
}

/// `[quality.classifier]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Model file written by `corpus quality train` (local path or s3:// URL).
    pub model: String,
    /// Sources whose documents are scored and resampled (default: `common_crawl`).
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// Pareto shape: a document with score `s` is kept with probability `(2 - s)^-alpha` (GPT-3: 9).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
}

fn default_alpha() -> f64 {
    9.0
}

/// The source a quality filter applies to when its `sources` is not given, if the config has it.
pub const DEFAULT_QUALITY_SOURCE: &str = "common_crawl";

/// The sources a quality filter named `field` applies to: the listed ones, each of which must be a
/// configured source, or [`DEFAULT_QUALITY_SOURCE`] when the list is absent and that source exists.
pub fn quality_sources(
    listed: &Option<Vec<String>>,
    sources: &[SourceConfig],
    field: &str,
) -> Result<Vec<usize>, ConfigError> {
    let index = |name: &str| sources.iter().position(|s| s.name == name);
    match listed {
        None => Ok(index(DEFAULT_QUALITY_SOURCE).into_iter().collect()),
        Some(names) => names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                index(name).ok_or_else(|| {
                    ConfigError::invalid(
                        format!("{field}[{i}]"),
                        format!(
                            "'{name}' is not a configured source (configured: {})",
                            sources
                                .iter()
                                .map(|s| s.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })
            })
            .collect(),
    }
}

/// `[quality.rules]`: the settings of each rule filter (`[quality.rules.gopher_quality]`, ...; every field
/// defaults to the published threshold, `enabled = false` turns a filter off) and per-source overrides
/// (`[quality.rules.overrides.books1.gopher_repetition]`), merged field by field over the shared settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSection {
    /// Sources the rule filters run on (default: `common_crawl`).
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// Gopher quality settings.
    #[serde(default)]
    pub gopher_quality: toml::Table,
    /// Gopher repetition settings.
    #[serde(default)]
    pub gopher_repetition: toml::Table,
    /// C4 settings.
    #[serde(default)]
    pub c4: toml::Table,
    /// FineWeb settings.
    #[serde(default)]
    pub fineweb: toml::Table,
    /// C4 bad-words list, one word or phrase per line (local path or s3:// URL); none by default.
    #[serde(default)]
    pub bad_words_file: Option<String>,
    /// Per-source settings, by source name, merged over the ones above.
    #[serde(default)]
    pub overrides: std::collections::BTreeMap<String, toml::Table>,
}

impl Default for RulesSection {
    fn default() -> Self {
        RulesSection {
            sources: None,
            gopher_quality: toml::Table::new(),
            gopher_repetition: toml::Table::new(),
            c4: toml::Table::new(),
            fineweb: toml::Table::new(),
            bad_words_file: None,
            overrides: Default::default(),
        }
    }
}

/// The rule filter names, as `[quality.rules.NAME]` tables.
pub const RULE_FILTERS: [&str; 4] = ["gopher_quality", "gopher_repetition", "c4", "fineweb"];

impl RulesSection {
    /// The settings of `source` as one table (`{filter: {field: value}}`): the shared settings with the
    /// source's overrides merged field by field.
    pub fn merged_for(&self, source: &str) -> Result<toml::Table, ConfigError> {
        let mut merged = toml::Table::new();
        for (name, shared) in RULE_FILTERS.into_iter().zip([
            &self.gopher_quality,
            &self.gopher_repetition,
            &self.c4,
            &self.fineweb,
        ]) {
            merged.insert(name.to_string(), toml::Value::Table(shared.clone()));
        }
        if let Some(over) = self.overrides.get(source) {
            for (name, value) in over {
                let field = format!("quality.rules.overrides.{source}.{name}");
                let (Some(toml::Value::Table(base)), toml::Value::Table(fields)) =
                    (merged.get_mut(name), value)
                else {
                    return Err(ConfigError::invalid(
                        field,
                        format!("must be a table of one of {}", RULE_FILTERS.join(", ")),
                    ));
                };
                base.extend(fields.clone());
            }
        }
        Ok(merged)
    }
}

/// `[quality.language]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageSection {
    /// Off by default (GPT-3 kept every language).
    #[serde(default)]
    pub enabled: bool,
    /// Sources it runs on (default: `common_crawl`).
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// ISO 639-3 codes to keep (`eng`, `deu`, ...); empty keeps every language but still labels documents.
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// Smallest detection confidence kept.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f64,
}

fn default_languages() -> Vec<String> {
    vec!["eng".to_string()]
}

fn default_min_confidence() -> f64 {
    0.5
}

impl Default for LanguageSection {
    fn default() -> Self {
        LanguageSection {
            enabled: false,
            sources: None,
            languages: default_languages(),
            min_confidence: default_min_confidence(),
        }
    }
}

/// `[dedup]`: exact and near-duplicate removal (MinHash-LSH), its scope and which copy is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// Off passes every document through (the stage still runs, so the accounting stays whole).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// `words`: MinHash over word n-gram shingles of the normalised text; `gpt3`: Spark MinHashLSH over the
    /// quality classifier's hashed tokens, as GPT-3 did, always followed by an exact Jaccard check.
    #[serde(default = "default_dedup_mode")]
    pub mode: String,
    /// Words per shingle (`words` mode).
    #[serde(default = "default_ngram")]
    pub ngram: usize,
    /// LSH bands (`gpt3` mode: hash tables); default 14 (`words`, FineWeb) or 10 (`gpt3`).
    #[serde(default)]
    pub bands: Option<usize>,
    /// MinHash values per band; default 8 (`words`); `gpt3` mode has one per table.
    #[serde(default)]
    pub rows: Option<usize>,
    /// Check every candidate pair's exact Jaccard similarity before joining it (always on in `gpt3` mode).
    #[serde(default)]
    pub verify: bool,
    /// Smallest exact Jaccard similarity of a verified pair.
    #[serde(default = "default_dedup_threshold")]
    pub threshold: f64,
    /// Remove documents whose normalised text is identical first (xxh3-128).
    #[serde(default = "default_true")]
    pub exact: bool,
    /// `global`: every source against every other; `source`: within each source, plus the `groups`.
    #[serde(default = "default_dedup_scope")]
    pub scope: String,
    /// With `scope = "source"`: sources deduplicated together (GPT-3: `[["common_crawl", "webtext2"]]`).
    #[serde(default)]
    pub groups: Vec<Vec<String>>,
    /// Which copy a cluster keeps: the first source in this list, then the higher quality score, then the
    /// earliest document; sources not listed come after, in config order.
    #[serde(default = "default_priority")]
    pub priority: Vec<String>,
    /// Memory for the records a task buffers before it sorts and writes them (MiB).
    #[serde(default = "default_memory_mb")]
    pub memory_mb: usize,
    /// Connected-component rounds after which the run stops with an error instead of looping on.
    #[serde(default = "default_max_rounds")]
    pub max_rounds: usize,
}

fn default_true() -> bool {
    true
}

fn default_dedup_mode() -> String {
    "words".to_string()
}

fn default_ngram() -> usize {
    5
}

fn default_dedup_threshold() -> f64 {
    0.8
}

fn default_dedup_scope() -> String {
    "global".to_string()
}

fn default_priority() -> Vec<String> {
    ["wikipedia", "books1", "books2", "webtext2", "common_crawl"]
        .map(String::from)
        .to_vec()
}

fn default_memory_mb() -> usize {
    256
}

fn default_max_rounds() -> usize {
    100
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            enabled: true,
            mode: default_dedup_mode(),
            ngram: default_ngram(),
            bands: None,
            rows: None,
            verify: false,
            threshold: default_dedup_threshold(),
            exact: true,
            scope: default_dedup_scope(),
            groups: Vec::new(),
            priority: default_priority(),
            memory_mb: default_memory_mb(),
            max_rounds: default_max_rounds(),
        }
    }
}

/// The dedup modes.
pub const DEDUP_MODES: [&str; 2] = ["words", "gpt3"];

impl DedupConfig {
    /// Bands and rows after mode defaults.
    pub fn banding(&self) -> (usize, usize) {
        match self.mode.as_str() {
            "gpt3" => (self.bands.unwrap_or(10), 1),
            _ => (self.bands.unwrap_or(14), self.rows.unwrap_or(8)),
        }
    }

    /// Whether candidate pairs are checked by exact Jaccard similarity.
    pub fn verifies(&self) -> bool {
        self.verify || self.mode == "gpt3"
    }

    /// The dedup group of every source (config order): sources in one group are compared with each other.
    pub fn group_of_sources(&self, sources: &[SourceConfig]) -> Vec<usize> {
        if self.scope == "global" {
            return vec![0; sources.len()];
        }
        sources
            .iter()
            .enumerate()
            .map(|(i, s)| {
                self.groups
                    .iter()
                    .position(|g| g.contains(&s.name))
                    .map_or(self.groups.len() + i, |g| g)
            })
            .collect()
    }

    /// The keeper priority of every source (config order), 0 first.
    pub fn priority_of_sources(&self, sources: &[SourceConfig]) -> Vec<usize> {
        sources
            .iter()
            .enumerate()
            .map(|(i, s)| {
                self.priority
                    .iter()
                    .position(|p| p == &s.name)
                    .unwrap_or(self.priority.len() + i)
            })
            .collect()
    }

    fn validate(&self, sources: &[SourceConfig]) -> Result<(), ConfigError> {
        if !DEDUP_MODES.contains(&self.mode.as_str()) {
            return Err(ConfigError::invalid(
                "dedup.mode",
                format!(
                    "'{}' is not a mode (allowed: {})",
                    self.mode,
                    DEDUP_MODES.join(", ")
                ),
            ));
        }
        if !(1..=64).contains(&self.ngram) {
            return Err(ConfigError::invalid(
                "dedup.ngram",
                format!("{} is out of range 1..=64", self.ngram),
            ));
        }
        if let Some(bands) = self.bands
            && !(1..=1024).contains(&bands)
        {
            return Err(ConfigError::invalid(
                "dedup.bands",
                format!("{bands} is out of range 1..=1024"),
            ));
        }
        match (self.mode.as_str(), self.rows) {
            ("gpt3", Some(rows)) if rows != 1 => {
                return Err(ConfigError::invalid(
                    "dedup.rows",
                    format!("gpt3 mode has one MinHash per table (bands); got {rows}"),
                ));
            }
            (_, Some(rows)) if !(1..=64).contains(&rows) => {
                return Err(ConfigError::invalid(
                    "dedup.rows",
                    format!("{rows} is out of range 1..=64"),
                ));
            }
            _ => {}
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(ConfigError::invalid(
                "dedup.threshold",
                format!("{} must be in (0, 1]", self.threshold),
            ));
        }
        if self.scope != "global" && self.scope != "source" {
            return Err(ConfigError::invalid(
                "dedup.scope",
                format!("'{}' is not a scope (allowed: global, source)", self.scope),
            ));
        }
        if self.scope == "global" && !self.groups.is_empty() {
            return Err(ConfigError::invalid(
                "dedup.groups",
                "groups only apply with scope = \"source\" (global already compares every source)",
            ));
        }
        let known = |name: &str| sources.iter().any(|s| s.name == name);
        let mut grouped = BTreeSet::new();
        for (g, group) in self.groups.iter().enumerate() {
            for (i, name) in group.iter().enumerate() {
                let field = format!("dedup.groups[{g}][{i}]");
                if !known(name) {
                    return Err(ConfigError::invalid(
                        field,
                        format!("'{name}' is not a configured source"),
                    ));
                }
                if !grouped.insert(name.as_str()) {
                    return Err(ConfigError::invalid(
                        field,
                        format!("'{name}' is in two groups"),
                    ));
                }
            }
        }
        let mut listed = BTreeSet::new();
        for (i, name) in self.priority.iter().enumerate() {
            if !listed.insert(name.as_str()) {
                return Err(ConfigError::invalid(
                    format!("dedup.priority[{i}]"),
                    format!("'{name}' is listed twice"),
                ));
            }
        }
        if sources.len() > 255 {
            return Err(ConfigError::invalid(
                "sources",
                "dedup ranks at most 255 sources",
            ));
        }
        if !(16..=1 << 20).contains(&self.memory_mb) {
            return Err(ConfigError::invalid(
                "dedup.memory_mb",
                format!("{} is out of range 16..=1048576", self.memory_mb),
            ));
        }
        if !(1..=10_000).contains(&self.max_rounds) {
            return Err(ConfigError::invalid(
                "dedup.max_rounds",
                format!("{} is out of range 1..=10000", self.max_rounds),
            ));
        }
        Ok(())
    }
}

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
    fn validate(&self) -> Result<(), ConfigError> {
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

/// `[tokenizer]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// Encoding name (see [`Encoding::ALLOWED`]).
    pub encoding: String,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            encoding: "r50k_base".to_string(),
        }
    }
}

/// `[mix]`: how many tokens each source contributes to the train split (DESIGN.md §6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixConfig {
    /// Train tokens to draw in all (GPT-3: 300e9). Default: the tokens available after every filter, so
    /// the weights reshape the corpus without changing its size.
    #[serde(default)]
    pub total_tokens: Option<u64>,
    /// Draw sources by their `weight`; `false` keeps every document exactly once (the natural mix).
    #[serde(default = "default_true")]
    pub reweight: bool,
    /// The most epochs any source may be drawn; a plan past it is refused (a tiny source with a large
    /// weight would otherwise be copied without bound).
    #[serde(default = "default_max_epochs")]
    pub max_epochs: f64,
    /// Memory for a mix task's shuffle buffers before they spill sorted runs to storage.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: usize,
}

impl Default for MixConfig {
    fn default() -> Self {
        MixConfig {
            total_tokens: None,
            reweight: true,
            max_epochs: default_max_epochs(),
            memory_mb: default_memory_mb(),
        }
    }
}

fn default_max_epochs() -> f64 {
    100.0
}

impl MixConfig {
    fn validate(&self, sources: &[SourceConfig]) -> Result<(), ConfigError> {
        if self.total_tokens == Some(0) {
            return Err(ConfigError::invalid(
                "mix.total_tokens",
                "must be > 0 when given",
            ));
        }
        if !self.max_epochs.is_finite() || self.max_epochs < 1.0 {
            return Err(ConfigError::invalid(
                "mix.max_epochs",
                format!("{} must be a finite number >= 1", self.max_epochs),
            ));
        }
        if self.memory_mb < 16 {
            return Err(ConfigError::invalid(
                "mix.memory_mb",
                format!("{} is too small (at least 16)", self.memory_mb),
            ));
        }
        if self.reweight && sources.iter().all(|s| s.weight == 0.0) {
            return Err(ConfigError::invalid(
                "sources[].weight",
                "every weight is 0: give some source a weight > 0, or set mix.reweight = false",
            ));
        }
        Ok(())
    }
}

/// `[shards]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardsConfig {
    /// Tokens per shard file (every shard but the last of each split has exactly this many).
    #[serde(default = "default_tokens_per_shard")]
    pub tokens_per_shard: u64,
    /// Fraction of documents (by id hash) that go to the validation split.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
}

impl Default for ShardsConfig {
    fn default() -> Self {
        ShardsConfig {
            tokens_per_shard: default_tokens_per_shard(),
            val_fraction: default_val_fraction(),
        }
    }
}

fn default_tokens_per_shard() -> u64 {
    100_000_000
}

fn default_val_fraction() -> f64 {
    0.0005
}

impl Config {
    /// Reads and parses a config file (no validation yet: see [`Config::validate`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// Checks every field that can be checked without touching storage.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.run.work.trim().is_empty() {
            return Err(ConfigError::invalid(
                "run.work",
                "must be a local path or s3://bucket/prefix",
            ));
        }
        if self.run.tasks == 0 || self.run.tasks > 99_999 {
            return Err(ConfigError::invalid(
                "run.tasks",
                format!("{} is out of range 1..=99999", self.run.tasks),
            ));
        }
        if self.sources.is_empty() {
            return Err(ConfigError::invalid(
                "sources",
                "at least one [[sources]] entry is needed",
            ));
        }
        let mut names = BTreeSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let field = |f: &str| format!("sources[{i}].{f}");
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(ConfigError::invalid(
                    field("name"),
                    format!(
                        "'{}' must be non-empty ASCII letters, digits, '_' or '-'",
                        s.name
                    ),
                ));
            }
            if !names.insert(s.name.as_str()) {
                return Err(ConfigError::invalid(
                    field("name"),
                    format!("'{}' is used by two sources", s.name),
                ));
            }
            s.format
                .parse::<Format>()
                .map_err(|e| ConfigError::invalid(field("format"), e))?;
            if s.paths.is_empty() {
                return Err(ConfigError::invalid(
                    field("paths"),
                    "at least one path or glob is needed",
                ));
            }
            if !s.weight.is_finite() || s.weight < 0.0 {
                return Err(ConfigError::invalid(
                    field("weight"),
                    format!("{} must be a finite number >= 0", s.weight),
                ));
            }
            if s.max_doc_bytes == 0 {
                return Err(ConfigError::invalid(
                    field("max_doc_bytes"),
                    "must be at least 1",
                ));
            }
            if s.text_field.is_empty() {
                return Err(ConfigError::invalid(
                    field("text_field"),
                    "must not be empty",
                ));
            }
        }
        self.encoding()?;
        self.validate_quality()?;
        self.dedup.validate(&self.sources)?;
        self.decontamination.validate()?;
        self.mix.validate(&self.sources)?;
        if self.shards.tokens_per_shard == 0
            || self.shards.tokens_per_shard > corpus_sharder::ShardHeader::MAX_TOKENS
        {
            return Err(ConfigError::invalid(
                "shards.tokens_per_shard",
                format!(
                    "{} is out of range 1..={}",
                    self.shards.tokens_per_shard,
                    corpus_sharder::ShardHeader::MAX_TOKENS
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.shards.val_fraction) {
            return Err(ConfigError::invalid(
                "shards.val_fraction",
                format!("{} must be in [0, 1)", self.shards.val_fraction),
            ));
        }
        Ok(())
    }

    fn validate_quality(&self) -> Result<(), ConfigError> {
        let q = &self.quality;
        if let Some(c) = &q.classifier {
            quality_sources(&c.sources, &self.sources, "quality.classifier.sources")?;
            if c.model.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "quality.classifier.model",
                    "must name a model file written by `corpus quality train`",
                ));
            }
            if !c.alpha.is_finite() || c.alpha <= 0.0 {
                return Err(ConfigError::invalid(
                    "quality.classifier.alpha",
                    format!("{} must be a finite number > 0", c.alpha),
                ));
            }
        }
        for name in q.rules.overrides.keys() {
            if !self.sources.iter().any(|s| &s.name == name) {
                return Err(ConfigError::invalid(
                    format!("quality.rules.overrides.{name}"),
                    format!("'{name}' is not a configured source"),
                ));
            }
            // Checked even when the rules do not run on that source, so a typo never waits.
            self.rules_for(name)?;
        }
        for i in quality_sources(&q.rules.sources, &self.sources, "quality.rules.sources")? {
            self.rules_for(&self.sources[i].name)?;
        }
        if q.language.enabled {
            quality_sources(
                &q.language.sources,
                &self.sources,
                "quality.language.sources",
            )?;
            if !(0.0..=1.0).contains(&q.language.min_confidence) {
                return Err(ConfigError::invalid(
                    "quality.language.min_confidence",
                    format!("{} must be in [0, 1]", q.language.min_confidence),
                ));
            }
            for (i, code) in q.language.languages.iter().enumerate() {
                corpus_quality::langid::LanguageFilter::new(
                    std::slice::from_ref(code),
                    0.0,
                    corpus_quality::langid::DEFAULT_MAX_BYTES,
                )
                .map_err(|e| ConfigError::invalid(format!("quality.language.languages[{i}]"), e))?;
            }
        }
        Ok(())
    }

    /// The rule filter settings of one source: defaults, then `[quality.rules.*]`, then the source's
    /// overrides; errors name the table that holds the bad field.
    pub fn rules_for(
        &self,
        source: &str,
    ) -> Result<corpus_quality::rules::RulesConfig, ConfigError> {
        let rules = &self.quality.rules;
        let merged = rules.merged_for(source)?;
        let table_of = |name: &str| match rules.overrides.get(source).and_then(|o| o.get(name)) {
            Some(_) => format!("quality.rules.overrides.{source}.{name} or quality.rules.{name}"),
            None => format!("quality.rules.{name}"),
        };
        // One filter at a time first, so an error names its table.
        for name in RULE_FILTERS {
            let mut one = toml::Table::new();
            if let Some(v) = merged.get(name) {
                one.insert(name.to_string(), v.clone());
            }
            let parsed: corpus_quality::rules::RulesConfig = toml::Value::Table(one)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    ConfigError::invalid(table_of(name), e.message().to_string())
                })?;
            parsed
                .validate()
                .map_err(|e| ConfigError::invalid(table_of(name), e))?;
        }
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| {
                ConfigError::invalid("quality.rules", e.message().to_string())
            })
    }

    /// The tokenizer encoding, or an error naming `tokenizer.encoding` and the allowed values.
    pub fn encoding(&self) -> Result<Encoding, ConfigError> {
        self.tokenizer
            .encoding
            .parse::<Encoding>()
            .map_err(|e| ConfigError::invalid("tokenizer.encoding", e.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [run]
        work = "out/x"
        [[sources]]
        name = "webtext2"
        format = "jsonl"
        paths = ["a/*.jsonl.zst"]
        weight = 0.22
    "#;

    fn invalid_field(text: &str) -> String {
        match Config::parse(text, "t.toml").and_then(|c| c.validate()) {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_optional_tables() {
        let c = Config::parse(GOOD, "t.toml").unwrap();
        c.validate().unwrap();
        assert_eq!(c.run.seed, 42);
        assert_eq!(c.tokenizer.encoding, "r50k_base");
        assert_eq!(c.shards.tokens_per_shard, 100_000_000);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = Config::parse(
            &GOOD.replace("weight = 0.22", "weight = 0.22\nwieght = 1"),
            "t.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("wieght"), "{err}");
    }

    #[test]
    fn bad_values_name_their_field() {
        assert_eq!(
            invalid_field(&GOOD.replace("0.22", "-1.0")),
            "sources[0].weight"
        );
        assert_eq!(
            invalid_field(&GOOD.replace("\"jsonl\"", "\"xml\"")),
            "sources[0].format"
        );
        assert_eq!(
            invalid_field(&format!("{GOOD}\n[tokenizer]\nencoding = \"gpt5\"")),
            "tokenizer.encoding"
        );
        assert_eq!(
            invalid_field(&format!("{GOOD}\n[shards]\nval_fraction = 1.5")),
            "shards.val_fraction"
        );
        assert_eq!(
            invalid_field(&GOOD.replace("paths = [\"a/*.jsonl.zst\"]", "paths = []")),
            "sources[0].paths"
        );
    }

    #[test]
    fn bad_dedup_settings_name_their_field() {
        let dedup = |body: &str| invalid_field(&format!("{GOOD}\n[dedup]\n{body}"));
        assert_eq!(dedup("mode = \"simhash\""), "dedup.mode");
        assert_eq!(dedup("ngram = 0"), "dedup.ngram");
        assert_eq!(dedup("bands = 0"), "dedup.bands");
        assert_eq!(dedup("rows = 100"), "dedup.rows");
        assert_eq!(dedup("mode = \"gpt3\"\nrows = 2"), "dedup.rows");
        assert_eq!(dedup("threshold = 0.0"), "dedup.threshold");
        assert_eq!(dedup("threshold = 1.5"), "dedup.threshold");
        assert_eq!(dedup("scope = \"world\""), "dedup.scope");
        assert_eq!(dedup("groups = [[\"webtext2\"]]"), "dedup.groups");
        assert_eq!(
            dedup("scope = \"source\"\ngroups = [[\"webtext2\", \"cc\"]]"),
            "dedup.groups[0][1]"
        );
        assert_eq!(
            dedup("scope = \"source\"\ngroups = [[\"webtext2\"], [\"webtext2\"]]"),
            "dedup.groups[1][0]"
        );
        assert_eq!(dedup("priority = [\"a\", \"a\"]"), "dedup.priority[1]");
        assert_eq!(dedup("memory_mb = 1"), "dedup.memory_mb");
        assert_eq!(dedup("max_rounds = 0"), "dedup.max_rounds");
    }

    #[test]
    fn dedup_groups_and_priorities_follow_the_config() {
        let mut c = Config::parse(GOOD, "t.toml").unwrap();
        let mut cc = c.sources[0].clone();
        cc.name = "common_crawl".to_string();
        let mut wiki = c.sources[0].clone();
        wiki.name = "wikipedia".to_string();
        let mut other = c.sources[0].clone();
        other.name = "forum".to_string();
        c.sources = vec![cc, c.sources[0].clone(), wiki, other];
        c.validate().unwrap();
        assert_eq!(c.dedup.group_of_sources(&c.sources), vec![0, 0, 0, 0]);
        assert_eq!(c.dedup.priority_of_sources(&c.sources), vec![4, 3, 0, 8]);
        c.dedup.scope = "source".to_string();
        c.dedup.groups = vec![vec!["webtext2".to_string(), "common_crawl".to_string()]];
        c.validate().unwrap();
        assert_eq!(c.dedup.group_of_sources(&c.sources), vec![0, 0, 3, 4]);
        assert_eq!(c.dedup.banding(), (14, 8));
        c.dedup.mode = "gpt3".to_string();
        assert_eq!(c.dedup.banding(), (10, 1));
        assert!(c.dedup.verifies());
    }

    #[test]
    fn shipped_configs_validate() {
        for name in ["quickstart.toml", "gpt3.toml"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../configs")
                .join(name);
            let c = Config::load(&path).unwrap();
            c.validate().unwrap();
            assert_eq!(c.encoding().unwrap(), Encoding::R50kBase, "{name}");
        }
        let gpt3 = Config::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/gpt3.toml"),
        )
        .unwrap();
        let weights: Vec<(String, f64)> = gpt3
            .sources
            .iter()
            .map(|s| (s.name.clone(), s.weight))
            .collect();
        let table_2_2 = [
            ("common_crawl", 0.60),
            ("webtext2", 0.22),
            ("books1", 0.08),
            ("books2", 0.08),
            ("wikipedia", 0.03),
        ];
        assert_eq!(weights.len(), table_2_2.len());
        for ((name, w), (want, ww)) in weights.iter().zip(table_2_2) {
            assert_eq!((name.as_str(), *w), (want, ww));
        }
    }
}

//! The run configuration (`configs/*.toml`): parsed with unknown keys refused, then validated as a whole
//! before any work starts, so a typo never costs a half-finished run. Errors name the field
//! (`sources[1].format`) and, where the value comes from a fixed set, the allowed values.

mod decontamination;
mod dedup;
mod mix;
mod quality;
mod shards;
mod tokenizer;

use std::collections::BTreeSet;
use std::path::Path;

use corpus_tokenizer::Encoding;
use serde::{Deserialize, Serialize};

use corpus_readers::Format;
pub use corpus_readers::SourceConfig;

pub use decontamination::{BenchmarkConfig, DecontaminationConfig};
pub use dedup::{DEDUP_MODES, DedupConfig};
pub use mix::MixConfig;
pub use quality::{
    ClassifierConfig, DEFAULT_QUALITY_SOURCE, LanguageSection, QualityConfig, RULE_FILTERS,
    RulesSection, quality_sources,
};
pub use shards::ShardsConfig;
pub use tokenizer::TokenizerConfig;

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

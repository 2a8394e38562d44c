//! `[dedup]`: exact and MinHash-LSH near-duplicate removal.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{ConfigError, SourceConfig};

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

pub(super) fn default_true() -> bool {
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

pub(super) fn default_memory_mb() -> usize {
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

    pub(super) fn validate(&self, sources: &[SourceConfig]) -> Result<(), ConfigError> {
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

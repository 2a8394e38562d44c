//! `[quality]`: the GPT-3 classifier, the rule filters and language identification, and the sources each
//! applies to.

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, SourceConfig};

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

impl Config {
    pub(super) fn validate_quality(&self) -> Result<(), ConfigError> {
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
}

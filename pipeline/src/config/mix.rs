//! `[mix]`: source weights, the token budget and epochs (GPT-3 Table 2.2).

use serde::{Deserialize, Serialize};

use super::dedup::{default_memory_mb, default_true};
use super::{ConfigError, SourceConfig};

/// `[mix]`: how many tokens each source contributes to the train split (docs/ARCHITECTURE.md §6).
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
    pub(super) fn validate(&self, sources: &[SourceConfig]) -> Result<(), ConfigError> {
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

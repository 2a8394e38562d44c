//! `[shards]`: shard size and the validation split.

use serde::{Deserialize, Serialize};

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

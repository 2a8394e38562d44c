//! `[tokenizer]`: the BPE encoding of the shards.

use serde::{Deserialize, Serialize};

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

//! The shape of a GPT-2/GPT-3 decoder (docs/ARCHITECTURE.md §7) and its named presets.

use std::fmt;
use std::str::FromStr;

/// GPT-2's BPE vocabulary (`r50k_base`): 50,000 merges, 256 bytes and `<|endoftext|>`.
pub const GPT2_VOCAB: usize = 50_257;

/// The vocabulary is padded to a multiple of this for the GPU kernels (llm.c does the same); the logits
/// of the padding are masked out of the softmax.
pub const VOCAB_PAD_MULTIPLE: usize = 128;

/// A decoder's shape: learned positions, pre-LayerNorm blocks, GELU MLP of width `4 · width`, tied
/// input and output embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GptConfig {
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads per block; divides `width`.
    pub heads: usize,
    /// Channels of the residual stream (`d_model`).
    pub width: usize,
    /// Longest sequence the position embedding covers.
    pub context: usize,
    /// Tokens of the vocabulary; ids `0..vocab` are valid.
    pub vocab: usize,
}

/// Why a [`GptConfig`] is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A preset name that does not exist.
    #[error("unknown model preset '{0}' (known: {known})", known = PRESETS.join(", "))]
    UnknownPreset(String),
    /// A dimension is 0, or `heads` does not divide `width`.
    #[error(
        "model shape {0:?} is not valid: every dimension must be positive and heads must divide width"
    )]
    BadShape(GptConfig),
}

/// The names [`GptConfig::preset`] knows.
pub const PRESETS: [&str; 4] = ["tiny", "gpt2-124m", "gpt2-350m", "gpt3-125m"];

impl GptConfig {
    /// A named shape: `gpt2-124m` (12 layers, 12 heads, width 768, context 1024), `gpt2-350m` (24/16/1024,
    /// context 1024), `gpt3-125m` (GPT-3 Small, Brown et al. 2020 Table 2.1: 12/12/768, context 2048) and
    /// `tiny` (2/2/64, context 128) for tests and CPU runs; all with GPT-2's vocabulary.
    pub fn preset(name: &str) -> Result<GptConfig, ConfigError> {
        let (layers, heads, width, context) = match name {
            "tiny" => (2, 2, 64, 128),
            "gpt2-124m" => (12, 12, 768, 1024),
            "gpt2-350m" => (24, 16, 1024, 1024),
            "gpt3-125m" => (12, 12, 768, 2048),
            _ => return Err(ConfigError::UnknownPreset(name.to_string())),
        };
        Ok(GptConfig {
            layers,
            heads,
            width,
            context,
            vocab: GPT2_VOCAB,
        })
    }

    /// Checks that every dimension is positive and `heads` divides `width`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            self.layers,
            self.heads,
            self.width,
            self.context,
            self.vocab,
        ]
        .iter()
        .all(|&d| d > 0);
        if positive && self.width.is_multiple_of(self.heads) {
            Ok(())
        } else {
            Err(ConfigError::BadShape(*self))
        }
    }

    /// The vocabulary rounded up to a multiple of [`VOCAB_PAD_MULTIPLE`]: rows of the embedding matrix.
    pub fn padded_vocab(&self) -> usize {
        self.vocab.div_ceil(VOCAB_PAD_MULTIPLE) * VOCAB_PAD_MULTIPLE
    }

    /// Channels per attention head.
    pub fn head_size(&self) -> usize {
        self.width / self.heads
    }
}

impl FromStr for GptConfig {
    type Err = ConfigError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        GptConfig::preset(name)
    }
}

impl fmt::Display for GptConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} layers, {} heads, width {}, context {}, vocab {} (padded {})",
            self.layers,
            self.heads,
            self.width,
            self.context,
            self.vocab,
            self.padded_vocab()
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_published_shapes() {
        let small = GptConfig::preset("gpt2-124m").unwrap();
        assert_eq!(
            (small.layers, small.heads, small.width, small.context),
            (12, 12, 768, 1024)
        );
        assert_eq!(small.padded_vocab(), 50_304);
        let medium = GptConfig::preset("gpt2-350m").unwrap();
        assert_eq!((medium.layers, medium.heads, medium.width), (24, 16, 1024));
        assert_eq!(GptConfig::preset("gpt3-125m").unwrap().context, 2048);
        for name in PRESETS {
            GptConfig::preset(name).unwrap().validate().unwrap();
        }
        assert_eq!(
            GptConfig::preset("gpt5"),
            Err(ConfigError::UnknownPreset("gpt5".into()))
        );
    }

    #[test]
    fn bad_shapes_are_refused() {
        let mut config = GptConfig::preset("tiny").unwrap();
        config.heads = 3;
        assert!(config.validate().is_err());
        config.heads = 2;
        config.layers = 0;
        assert!(config.validate().is_err());
    }
}

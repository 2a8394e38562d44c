//! BPE encoding for the corpus (DESIGN.md §5): GPT-2/GPT-3's `r50k_base` by default, `cl100k_base` and
//! `o200k_base` for newer models, all through `tiktoken-rs`, whose rank files are compiled in (works offline).
//!
//! Documents are encoded as ordinary text: a literal `<|endoftext|>` inside a document becomes ordinary
//! tokens, so the only end-of-text tokens in a shard are the separators the sharder writes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;

use rayon::prelude::*;
use tiktoken_rs::CoreBPE;

/// Longest run of characters of one class (letters, digits, whitespace, other) encoded in one piece.
///
/// tiktoken's pre-tokenizer turns such a run into a single piece whose byte-pair merge is quadratic, and
/// its regex engine gives up (tiktoken-rs then panics) on some very long runs. Real text never has runs
/// this long, so for it the output is exactly tiktoken's; a pathological run is cut every `MAX_RUN` chars.
pub const MAX_RUN: usize = 8192;

/// A tokenizer's failure on one document.
#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    /// The name is not a supported encoding.
    #[error("unknown encoding '{0}' (allowed: {allowed})", allowed = Encoding::ALLOWED.join(", "))]
    UnknownEncoding(String),
    /// An id that is not in the vocabulary.
    #[error("token id {0} is not in the vocabulary")]
    UnknownToken(u32),
    /// The encoder failed on this text.
    #[error("encoder failed on a document of {0} bytes")]
    EncoderFailed(usize),
}

/// The supported BPE encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GPT-2 / GPT-3 (50257 ids, `<|endoftext|>` = 50256).
    R50kBase,
    /// GPT-3.5 / GPT-4 (100277 ids).
    Cl100kBase,
    /// GPT-4o (200019 ids).
    O200kBase,
}

impl Encoding {
    /// Names accepted in configs, in the order they are listed in error messages.
    pub const ALLOWED: [&'static str; 3] = ["r50k_base", "cl100k_base", "o200k_base"];

    /// The config name of this encoding.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::R50kBase => "r50k_base",
            Encoding::Cl100kBase => "cl100k_base",
            Encoding::O200kBase => "o200k_base",
        }
    }

    /// Number of token ids, special tokens included.
    pub fn vocab_size(self) -> usize {
        match self {
            Encoding::R50kBase => 50257,
            Encoding::Cl100kBase => 100277,
            Encoding::O200kBase => 200019,
        }
    }

    /// The `<|endoftext|>` id that separates documents in shards.
    pub fn eot(self) -> u32 {
        match self {
            Encoding::R50kBase => 50256,
            Encoding::Cl100kBase => 100257,
            Encoding::O200kBase => 199999,
        }
    }
}

impl FromStr for Encoding {
    type Err = TokenizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "r50k_base" | "gpt2" => Ok(Encoding::R50kBase),
            "cl100k_base" => Ok(Encoding::Cl100kBase),
            "o200k_base" => Ok(Encoding::O200kBase),
            other => Err(TokenizeError::UnknownEncoding(other.to_string())),
        }
    }
}

/// An encoder for one encoding; cheap to share between threads.
pub struct Tokenizer {
    encoding: Encoding,
    bpe: &'static CoreBPE,
}

impl Tokenizer {
    /// Loads the encoding's ranks (compiled into the binary; the first call per encoding takes ~100 ms).
    pub fn new(encoding: Encoding) -> Self {
        let bpe = match encoding {
            Encoding::R50kBase => tiktoken_rs::r50k_base_singleton(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
            Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
        };
        Tokenizer { encoding, bpe }
    }

    /// The encoding this tokenizer implements.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Encodes a document as ordinary text (no special tokens).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        for piece in RunSplitter::new(text, MAX_RUN) {
            let ids = catch_unwind(AssertUnwindSafe(|| self.bpe.encode_ordinary(piece)))
                .map_err(|_| TokenizeError::EncoderFailed(text.len()))?;
            out.extend(ids);
        }
        Ok(out)
    }

    /// Encodes many documents on the current rayon pool, keeping their order.
    pub fn encode_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
    ) -> Vec<Result<Vec<u32>, TokenizeError>> {
        texts.par_iter().map(|t| self.encode(t.as_ref())).collect()
    }

    /// Decodes ids back to text; bytes that are not UTF-8 (a document cut mid-character) become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizeError> {
        let bytes = self
            .bpe
            .decode_bytes(ids)
            .map_err(|e| TokenizeError::UnknownToken(e.token))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Splits text so that no piece holds a run longer than `max_run` characters of one class.
struct RunSplitter<'a> {
    rest: &'a str,
    max_run: usize,
}

impl<'a> RunSplitter<'a> {
    fn new(text: &'a str, max_run: usize) -> Self {
        RunSplitter {
            rest: text,
            max_run,
        }
    }
}

fn char_class(c: char) -> u8 {
    if c.is_alphabetic() {
        0
    } else if c.is_numeric() {
        1
    } else if c.is_whitespace() {
        2
    } else {
        3
    }
}

impl<'a> Iterator for RunSplitter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let mut class = u8::MAX;
        let mut run = 0usize;
        let mut cut = self.rest.len();
        for (i, c) in self.rest.char_indices() {
            let k = char_class(c);
            if k == class {
                run += 1;
                if run > self.max_run {
                    cut = i;
                    break;
                }
            } else {
                class = k;
                run = 1;
            }
        }
        let (piece, rest) = self.rest.split_at(cut);
        self.rest = rest;
        Some(piece)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn r50k_matches_known_ids() {
        let t = Tokenizer::new(Encoding::R50kBase);
        // Ids from OpenAI's tiktoken for r50k_base.
        assert_eq!(t.encode("Hello world").unwrap(), vec![15496, 995]);
        assert!(!t.encode(" <|endoftext|>").unwrap().contains(&50256));
        assert_eq!(
            t.decode(&t.encode("Café — naïve 東京").unwrap()).unwrap(),
            "Café — naïve 東京"
        );
    }

    #[test]
    fn names_parse_and_unknown_names_list_allowed_values() {
        assert_eq!("r50k_base".parse::<Encoding>().unwrap(), Encoding::R50kBase);
        let err = "r51k".parse::<Encoding>().unwrap_err().to_string();
        assert!(err.contains("r50k_base, cl100k_base, o200k_base"), "{err}");
        assert_eq!(Encoding::R50kBase.eot(), 50256);
    }

    #[test]
    fn pathological_runs_do_not_panic_and_round_trip() {
        let t = Tokenizer::new(Encoding::R50kBase);
        for text in [
            "a".repeat(1_000_000),
            " ".repeat(1_000_000),
            "1".repeat(200_000),
            "\n".repeat(300_000),
        ] {
            let ids = t.encode(&text).unwrap();
            assert_eq!(t.decode(&ids).unwrap(), text);
        }
    }

    #[test]
    fn splitter_only_cuts_long_runs() {
        let text = format!("ab {} cd", "x".repeat(25));
        let pieces: Vec<&str> = RunSplitter::new(&text, 10).collect();
        assert_eq!(pieces.concat(), text);
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| !p.contains(&"x".repeat(11))));
        assert_eq!(RunSplitter::new("plain text", 10).count(), 1);
    }

    #[test]
    fn batch_keeps_order() {
        let t = Tokenizer::new(Encoding::R50kBase);
        let texts = vec!["one", "two three", "four"];
        let batch: Vec<Vec<u32>> = t
            .encode_batch(&texts)
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        let single: Vec<Vec<u32>> = texts.iter().map(|s| t.encode(s).unwrap()).collect();
        assert_eq!(batch, single);
    }
}

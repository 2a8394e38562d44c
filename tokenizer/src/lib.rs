//! BPE encoding for the corpus (docs/ARCHITECTURE.md §5): GPT-2/GPT-3's `r50k_base` by default, `cl100k_base` and
//! `o200k_base` for newer models. The rank files come compiled into `tiktoken-rs` (works offline).
//!
//! Two engines give the same ids. [`Engine::Native`] (r50k_base) is this crate's own: a hand-written
//! matcher for the GPT-2 pre-tokenizer pattern (`pretokenize`, linear time, no backtracking), then
//! tiktoken's byte-pair merge over the same ranks, asked of token-id pairs instead of byte strings
//! (`bpe`). [`Engine::TiktokenRs`] is tiktoken-rs's `CoreBPE`, used for the other encodings and
//! as the reference the equivalence tests compare the native engine with, document by document.
//!
//! Documents are encoded as ordinary text: a literal `<|endoftext|>` inside a document becomes ordinary
//! tokens, so the only end-of-text tokens in a shard are the separators the sharder writes.

mod bpe;
mod classes;
mod pretokenize;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use rayon::prelude::*;
use tiktoken_rs::CoreBPE;

use crate::bpe::Ranks;
use crate::classes::CharClasses;
use crate::pretokenize::Gpt2Pieces;

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
    /// The engine does not implement the encoding.
    #[error("the {engine} engine does not implement {encoding} (it implements: {supported})")]
    EngineUnavailable {
        /// The engine asked for.
        engine: Engine,
        /// The encoding asked for.
        encoding: &'static str,
        /// The encodings it implements.
        supported: String,
    },
    /// The engine's tables could not be built.
    #[error("cannot build the {engine} tables for {encoding}: {reason}")]
    EngineSetup {
        /// The engine.
        engine: Engine,
        /// The encoding.
        encoding: &'static str,
        /// What failed.
        reason: String,
    },
    /// The name is not an engine.
    #[error("unknown engine '{0}' (allowed: native, tiktoken-rs)")]
    UnknownEngine(String),
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

    /// Every supported encoding, in the order of [`Encoding::ALLOWED`].
    pub const ALL: [Encoding; 3] = [
        Encoding::R50kBase,
        Encoding::Cl100kBase,
        Encoding::O200kBase,
    ];

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

    /// The mergeable ranks in tiktoken's rank-file format (`BASE64(token bytes) RANK` per line, by rank),
    /// read from the tables compiled into this binary. The file is byte-identical to the one OpenAI
    /// publishes, so Python's tiktoken loads it offline (its cache checks the file's SHA-256).
    pub fn tiktoken_rank_file(self) -> Result<String, TokenizeError> {
        let bpe = Tokenizer::tiktoken_rs(self).bpe;
        let special: Vec<u32> = bpe
            .special_tokens()
            .into_iter()
            .flat_map(|s| bpe.encode_with_special_tokens(s))
            .collect();
        let mut out = String::with_capacity(self.vocab_size() * 12);
        let top = u32::try_from(self.vocab_size()).map_err(|e| TokenizeError::EngineSetup {
            engine: Engine::TiktokenRs,
            encoding: self.name(),
            reason: e.to_string(),
        })?;
        for id in (0..top).filter(|id| !special.contains(id)) {
            // cl100k_base and o200k_base leave a few ids unassigned below their special tokens.
            if let Ok(bytes) = bpe.decode_bytes(&[id]) {
                out.push_str(&BASE64_STANDARD.encode(bytes));
                out.push(' ');
                out.push_str(&id.to_string());
                out.push('\n');
            }
        }
        Ok(out)
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

/// Which implementation encodes; both give the same ids for every text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// This crate's GPT-2 pre-tokenizer and byte-pair merge (r50k_base only).
    Native,
    /// tiktoken-rs's `CoreBPE` (every encoding).
    TiktokenRs,
}

impl Engine {
    /// The engine's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Native => "native",
            Engine::TiktokenRs => "tiktoken-rs",
        }
    }

    /// The encodings the engine implements.
    pub fn supports(self, encoding: Encoding) -> bool {
        match self {
            Engine::Native => encoding == Encoding::R50kBase,
            Engine::TiktokenRs => true,
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = TokenizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "native" => Ok(Engine::Native),
            "tiktoken-rs" | "tiktoken" => Ok(Engine::TiktokenRs),
            other => Err(TokenizeError::UnknownEngine(other.to_string())),
        }
    }
}

/// The native engine's tables for one encoding.
struct NativeBpe {
    classes: &'static CharClasses,
    ranks: Ranks,
}

impl NativeBpe {
    /// Built once per process, on first use.
    fn r50k_base() -> Result<&'static NativeBpe, TokenizeError> {
        static CLASSES: OnceLock<Result<CharClasses, String>> = OnceLock::new();
        static R50K: OnceLock<Result<NativeBpe, String>> = OnceLock::new();
        let encoding = Encoding::R50kBase;
        let setup = |reason: &String| TokenizeError::EngineSetup {
            engine: Engine::Native,
            encoding: encoding.name(),
            reason: reason.clone(),
        };
        R50K.get_or_init(|| {
            let classes = CLASSES
                .get_or_init(CharClasses::from_regex_syntax)
                .as_ref()
                .map_err(Clone::clone)?;
            let ranks =
                Ranks::from_core_bpe(tiktoken_rs::r50k_base_singleton(), encoding.vocab_size())?;
            Ok(NativeBpe { classes, ranks })
        })
        .as_ref()
        .map_err(setup)
    }

    /// Appends the ids of `text` to `out`.
    fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        for piece in Gpt2Pieces::new(text, self.classes) {
            self.ranks.encode_piece(piece.as_bytes(), out);
        }
    }
}

/// An encoder for one encoding; cheap to share between threads.
pub struct Tokenizer {
    encoding: Encoding,
    bpe: &'static CoreBPE,
    native: Option<&'static NativeBpe>,
}

impl Tokenizer {
    /// The fastest engine for the encoding: native for r50k_base, tiktoken-rs for the others. The tables
    /// are built on the first call per encoding (~100 ms) and shared by every later tokenizer. If the
    /// native tables cannot be built (they always can: they come from data compiled into the binary), the
    /// tokenizer falls back to tiktoken-rs, which gives the same ids.
    pub fn new(encoding: Encoding) -> Self {
        Self::with_engine(encoding, Engine::Native).unwrap_or_else(|_| Self::tiktoken_rs(encoding))
    }

    /// A tokenizer on the given engine; an error when the engine does not implement the encoding.
    pub fn with_engine(encoding: Encoding, engine: Engine) -> Result<Self, TokenizeError> {
        match engine {
            Engine::TiktokenRs => Ok(Self::tiktoken_rs(encoding)),
            Engine::Native if encoding == Encoding::R50kBase => Ok(Tokenizer {
                native: Some(NativeBpe::r50k_base()?),
                ..Self::tiktoken_rs(encoding)
            }),
            Engine::Native => Err(TokenizeError::EngineUnavailable {
                engine,
                encoding: encoding.name(),
                supported: Encoding::ALL
                    .iter()
                    .filter(|e| engine.supports(**e))
                    .map(|e| e.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    fn tiktoken_rs(encoding: Encoding) -> Self {
        let bpe = match encoding {
            Encoding::R50kBase => tiktoken_rs::r50k_base_singleton(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
            Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
        };
        Tokenizer {
            encoding,
            bpe,
            native: None,
        }
    }

    /// The encoding this tokenizer implements.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The engine that encodes.
    pub fn engine(&self) -> Engine {
        match self.native {
            Some(_) => Engine::Native,
            None => Engine::TiktokenRs,
        }
    }

    /// Encodes a document as ordinary text (no special tokens).
    ///
    /// Runs of more than [`MAX_RUN`] characters of one class are cut first (the same way for both
    /// engines), so no input makes the encoder quadratic; the engines run under `catch_unwind`, so a
    /// failure inside tiktoken-rs (its regex engine gives up on some inputs) is an error, not a panic.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        for chunk in RunSplitter::new(text, MAX_RUN) {
            catch_unwind(AssertUnwindSafe(|| match self.native {
                Some(native) => native.encode_into(chunk, &mut out),
                None => out.extend(self.bpe.encode_ordinary(chunk)),
            }))
            .map_err(|_| TokenizeError::EncoderFailed(text.len()))?;
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

/// [`char_class`] of an ASCII byte, without the Unicode table walk.
#[inline]
fn ascii_class(b: u8) -> u8 {
    if b.is_ascii_alphabetic() {
        0
    } else if b.is_ascii_digit() {
        1
    } else if matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ') {
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
        // A run of more than `max_run` characters needs more than `max_run` bytes.
        if self.rest.len() <= self.max_run {
            return Some(std::mem::take(&mut self.rest));
        }
        let bytes = self.rest.as_bytes();
        let (mut class, mut run, mut cut) = (u8::MAX, 0usize, bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            let (k, len) = if b.is_ascii() {
                (ascii_class(b), 1)
            } else {
                match self.rest.get(i..).and_then(|s| s.chars().next()) {
                    Some(c) => (char_class(c), c.len_utf8()),
                    None => break,
                }
            };
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
            i += len;
        }
        let (piece, rest) = self.rest.split_at_checked(cut).unwrap_or((self.rest, ""));
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
    fn ascii_classes_match_the_unicode_ones() {
        for b in 0..=127u8 {
            assert_eq!(ascii_class(b), char_class(char::from(b)), "{b:#04x}");
        }
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

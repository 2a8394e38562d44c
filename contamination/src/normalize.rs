//! Word normalisation for n-gram overlap between benchmarks and training text.
//!
//! Two rules live here, chosen with [`Mode`]:
//!
//! - [`Mode::Gpt3`], GPT-3's (Brown et al. 2020, App. C): "lowercase, whitespace-delimited words with no
//!   punctuation". A word is a whitespace-delimited token, lowercased with Unicode case mapping, with
//!   every character deleted that is neither a letter nor a number (Unicode `Alphabetic` or `Numeric`),
//!   so "Don't" becomes "dont", "U.S." becomes "us" and a token of punctuation only ("—") is no word.
//!   Symbols go with the punctuation ("$5" becomes "5"): the paper names no finer rule, and deleting
//!   every non-alphanumeric character is the one that does not depend on a punctuation list.
//! - [`Mode::Janitor`], EleutherAI lm-evaluation-harness 0.4.13 `Janitor.normalize_string` with its
//!   defaults (`lm_eval/decontamination/janitor.py`): ASCII `A`–`Z` lowercased, the 32 ASCII punctuation
//!   characters of Python's `string.punctuation` deleted, every other character kept.
//!
//! Both split on whitespace as Python's `str.split()` and `re`'s `\S+` do (Unicode `White_Space` plus
//! U+001C–U+001F). The tokenizer and the per-token rules here are the only ones in the crate: the
//! benchmark side and the training side both go through [`normalize_token`].

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::benchmark::UnknownChoice;

/// How text becomes the words that n-grams are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// GPT-3 App. C: Unicode-lowercased whitespace tokens with every non-alphanumeric character deleted;
    /// a token with nothing left is no word, so n-grams span over it.
    #[default]
    Gpt3,
    /// lm-evaluation-harness's Janitor: ASCII-lowercased whitespace tokens with ASCII punctuation
    /// deleted. A token with nothing left breaks n-grams when cleaning, as in the Janitor, whose
    /// `clean_python` joins raw tokens and so never matches across a punctuation-only token.
    Janitor,
}

impl Mode {
    /// The names [`Mode::from_str`] accepts, in declaration order.
    pub const ALLOWED: &'static [&'static str] = &["gpt3", "janitor"];

    /// The mode's config name, as [`Mode::from_str`] accepts it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gpt3 => "gpt3",
            Self::Janitor => "janitor",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = UnknownChoice;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "gpt3" => Ok(Self::Gpt3),
            "janitor" => Ok(Self::Janitor),
            _ => Err(UnknownChoice::new(
                "normalisation mode",
                name,
                Self::ALLOWED,
            )),
        }
    }
}

/// One GPT-3 word: its normalised text and where its token lies in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt3Word {
    /// The token lowercased, with every character that is not a letter or a number deleted; never empty.
    pub text: String,
    /// Byte range in the original text of the whole whitespace-delimited token, punctuation included.
    pub bytes: Range<usize>,
}

/// Splits `text` into GPT-3 App. C words (see the module documentation), in order, with the byte range of
/// each word's token in `text`. Tokens with no letter or number yield no word.
///
/// ```
/// let words: Vec<String> = corpus_contamination::gpt3_words("Don't STOP — now!")
///     .map(|word| word.text)
///     .collect();
/// assert_eq!(words, ["dont", "stop", "now"]);
/// ```
pub fn gpt3_words(text: &str) -> impl Iterator<Item = Gpt3Word> + '_ {
    Tokens::new(text).filter_map(|bytes| {
        let mut word = String::new();
        normalize_token(Mode::Gpt3, &text[bytes.clone()], &mut word);
        (!word.is_empty()).then_some(Gpt3Word { text: word, bytes })
    })
}

/// Normalises `text` as EleutherAI lm-evaluation-harness's `Janitor.normalize_string` does by default,
/// then splits on whitespace and joins with single spaces, as its n-gram step (`word_ngrams`) sees it.
///
/// ```
/// assert_eq!(corpus_contamination::janitor_normalize("Hello, World! ÀB"), "hello world Àb");
/// ```
pub fn janitor_normalize(text: &str) -> String {
    let mut joined = String::with_capacity(text.len());
    let mut word = String::new();
    for token in Tokens::new(text) {
        word.clear();
        normalize_token(Mode::Janitor, &text[token], &mut word);
        if !word.is_empty() {
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(&word);
        }
    }
    joined
}

/// Number of words in `text` under `mode`: the tokens that keep at least one character.
pub(crate) fn word_count(text: &str, mode: Mode) -> usize {
    let mut word = String::new();
    Tokens::new(text)
        .filter(|token| {
            word.clear();
            normalize_token(mode, &text[token.clone()], &mut word);
            !word.is_empty()
        })
        .count()
}

/// Appends the normalised form of one whitespace-free `token` to `out` (see [`Mode`]); appends nothing
/// when no character survives.
pub(crate) fn normalize_token(mode: Mode, token: &str, out: &mut String) {
    // Most tokens of English text are ASCII: byte at a time, without decoding characters.
    if token.is_ascii() {
        let bytes = token.bytes();
        match mode {
            Mode::Gpt3 => out.extend(
                bytes
                    .filter(u8::is_ascii_alphanumeric)
                    .map(|b| char::from(b.to_ascii_lowercase())),
            ),
            Mode::Janitor => out.extend(
                bytes
                    .filter(|b| !b.is_ascii_punctuation())
                    .map(|b| char::from(b.to_ascii_lowercase())),
            ),
        }
        return;
    }
    match mode {
        Mode::Gpt3 => {
            for c in token.chars() {
                if c.is_ascii() {
                    if c.is_ascii_alphanumeric() {
                        out.push(c.to_ascii_lowercase());
                    }
                } else {
                    out.extend(c.to_lowercase().filter(|c| c.is_alphanumeric()));
                }
            }
        }
        Mode::Janitor => out.extend(
            token
                .chars()
                .filter(|c| !c.is_ascii_punctuation())
                .map(|c| c.to_ascii_lowercase()),
        ),
    }
}

/// Whether Python's `str.isspace()` holds for `c`: Unicode `White_Space` plus the ASCII information
/// separators U+001C–U+001F, which Python also splits on.
fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// [`is_python_whitespace`] for one ASCII byte: tab, line feed, vertical tab, form feed, carriage
/// return, U+001C–U+001F and space.
fn is_ascii_python_whitespace(byte: u8) -> bool {
    matches!(byte, b'\t'..=b'\r' | 0x1c..=0x1f | b' ')
}

/// Byte ranges of the maximal runs of non-whitespace characters in a text, as Python's `re.finditer(r"\S+")`
/// finds them. ASCII bytes are classified without decoding, which keeps the hot loop byte-at-a-time on
/// English text.
pub(crate) struct Tokens<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Tokens<'a> {
    /// Tokens of `text`, from its start.
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }

    /// Whether the character at `at` is whitespace, and its length in bytes (1 past the end).
    fn classify(&self, at: usize) -> (bool, usize) {
        match self.text.as_bytes().get(at) {
            Some(&byte) if byte.is_ascii() => (is_ascii_python_whitespace(byte), 1),
            _ => self
                .text
                .get(at..)
                .and_then(|rest| rest.chars().next())
                .map_or((false, 1), |c| (is_python_whitespace(c), c.len_utf8())),
        }
    }
}

impl Iterator for Tokens<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let bytes = self.text.as_bytes();
        let mut at = self.at;
        let mut start = None;
        while let Some(&byte) = bytes.get(at) {
            let (space, width) = if byte.is_ascii() {
                (is_ascii_python_whitespace(byte), 1)
            } else {
                self.classify(at)
            };
            match (space, start) {
                (true, Some(start)) => {
                    self.at = at;
                    return Some(start..at);
                }
                (false, None) => start = Some(at),
                _ => {}
            }
            at += width;
        }
        self.at = at;
        start.map(|start| start..at)
    }
}

#[cfg(test)]
mod tests {
    use super::{Mode, Tokens, gpt3_words, janitor_normalize, word_count};

    fn words(text: &str) -> Vec<String> {
        gpt3_words(text).map(|word| word.text).collect()
    }

    #[test]
    fn gpt3_words_are_lowercase_tokens_without_punctuation() {
        assert_eq!(words("Don't STOP — now!"), ["dont", "stop", "now"]);
        assert_eq!(
            words("The U.S. costs $5.99, e-mail us"),
            ["the", "us", "costs", "599", "email", "us"]
        );
        assert_eq!(words("ÉCOLE Straße İ"), ["école", "straße", "i"]);
        assert_eq!(
            words("Привет,\u{a0}МИР\u{3000}東京"),
            ["привет", "мир", "東京"]
        );
        assert!(words("  ... -- !! ").is_empty());
        assert!(words("").is_empty());
    }

    #[test]
    fn gpt3_word_ranges_cover_the_original_tokens() {
        let text = "  «Café», he said.\n";
        let ranges: Vec<&str> = gpt3_words(text).map(|word| &text[word.bytes]).collect();
        assert_eq!(ranges, ["«Café»,", "he", "said."]);
    }

    #[test]
    fn tokens_split_on_python_whitespace_only() {
        let text = "a\u{1c}b\u{85}c\u{200b}d\u{2028}e\x0bf \u{3000} g";
        let tokens: Vec<&str> = Tokens::new(text).map(|range| &text[range]).collect();
        // U+200B ZERO WIDTH SPACE is not whitespace for Python (or Unicode).
        assert_eq!(tokens, ["a", "b", "c\u{200b}d", "e", "f", "g"]);
        assert_eq!(Tokens::new("  \t\n").count(), 0);
        assert_eq!(Tokens::new("").count(), 0);
    }

    #[test]
    fn janitor_matches_lm_evaluation_harness() {
        assert_eq!(janitor_normalize("Hello, World! ÀB"), "hello world Àb");
        assert_eq!(janitor_normalize("  Don't\t\tstop—now!  "), "dont stop—now");
        assert_eq!(
            janitor_normalize("a\u{1c}b\u{a0}c \"q\" (x) [y] {z} ~_^`|"),
            "a b c q x y z"
        );
        assert_eq!(janitor_normalize("ÉCOLE 3.14"), "École 314");
        assert_eq!(janitor_normalize(" !!! "), "");
    }

    #[test]
    fn word_counts_follow_the_mode() {
        // "—" is a Janitor word (not ASCII punctuation) but no GPT-3 word.
        assert_eq!(word_count("Yes — it's 5 p.m. !!", Mode::Gpt3), 4);
        assert_eq!(word_count("Yes — it's 5 p.m. !!", Mode::Janitor), 5);
        assert_eq!(word_count("", Mode::Gpt3), 0);
    }

    #[test]
    fn modes_parse_from_their_names() {
        for &name in Mode::ALLOWED {
            assert_eq!(name.parse::<Mode>().map(Mode::name), Ok(name));
        }
        let error = "gpt4".parse::<Mode>().map(Mode::name);
        assert_eq!(
            error.map_err(|e| e.to_string()),
            Err("unknown normalisation mode `gpt4`; expected one of gpt3, janitor".to_string())
        );
    }
}

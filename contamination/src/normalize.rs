//! Word normalisation for n-gram overlap between benchmarks and training text.
//!
//! Two rules live here:
//!
//! - [`gpt3_words`], GPT-3's (Brown et al. 2020, App. C): "lowercase, whitespace-delimited words with no
//!   punctuation". A word is a whitespace-delimited token, lowercased with Unicode case mapping, with
//!   every character deleted that is neither a letter nor a number (Unicode `Alphabetic` or `Numeric`),
//!   so "Don't" becomes "dont", "U.S." becomes "us" and a token of punctuation only ("—") is no word.
//!   Symbols go with the punctuation ("$5" becomes "5"): the paper names no finer rule, and deleting
//!   every non-alphanumeric character is the one that does not depend on a punctuation list.
//! - [`janitor_normalize`], EleutherAI lm-evaluation-harness `Janitor.normalize_string` with its defaults
//!   followed by `str.split()`, for parity with that tool's contamination reports.
//!
//! Both split on whitespace as Python's `str.split()` does.

use std::iter;
use std::ops::Range;

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
    whitespace_tokens(text).filter_map(|bytes| {
        let word: String = text[bytes.clone()]
            .chars()
            .flat_map(char::to_lowercase)
            .filter(|c| c.is_alphanumeric())
            .collect();
        (!word.is_empty()).then_some(Gpt3Word { text: word, bytes })
    })
}

/// Normalises `text` as EleutherAI lm-evaluation-harness's `Janitor.normalize_string` does by default,
/// then splits on whitespace and joins with single spaces, as its n-gram step (`word_ngrams`) sees it.
///
/// Only ASCII `A`–`Z` are lowercased (other characters are left as they are), the 32 ASCII punctuation
/// characters of Python's `string.punctuation` are deleted, and words are separated as by Python's
/// `str.split()`.
///
/// ```
/// assert_eq!(corpus_contamination::janitor_normalize("Hello, World! ÀB"), "hello world Àb");
/// ```
pub fn janitor_normalize(text: &str) -> String {
    let translated: String = text
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    translated
        .split(is_python_whitespace)
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether Python's `str.isspace()` holds for `c`: Unicode `White_Space` plus the ASCII information
/// separators U+001C–U+001F, which Python also splits on.
fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Byte ranges of the maximal runs of non-whitespace characters in `text`.
fn whitespace_tokens(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut token_start = None;
    // A whitespace sentinel at the end closes a token that runs to the end of the text.
    text.char_indices()
        .chain(iter::once((text.len(), ' ')))
        .filter_map(move |(at, c)| {
            if is_python_whitespace(c) {
                token_start.take().map(|start| start..at)
            } else {
                token_start.get_or_insert(at);
                None
            }
        })
}

#[cfg(test)]
mod tests {
    use super::{gpt3_words, janitor_normalize};

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
}

//! The Gopher quality filter (Rae et al. 2021, "Scaling Language Models", App. A.1.1, Table A1), as
//! datatrove 0.10.1's `GopherQualityFilter` implements it: document length in words, mean word length,
//! symbol-to-word ratios, bullet and ellipsis lines, the share of words with a letter, and stop words.
//!
//! datatrove differs from the paper in what it counts, and this follows datatrove:
//! - words are spaCy tokens ([`super::words`]), so punctuation marks are words of their own;
//! - the word count and the mean word length leave out words made only of punctuation, while the `#` and
//!   ellipsis ratios and the alphabetic share divide by every word, punctuation included;
//! - bullet lines are those starting with `•` or `-` after leading spaces, ellipsis lines those ending in
//!   `...` or `…` before trailing spaces;
//! - a stop word counts only when it appears exactly as listed (case-sensitive), and the rule wants at least
//!   `min_stop_words` *different* ones;
//! - a threshold of 0 turns its rule off (datatrove skips a rule whose threshold is falsy).

use serde::{Deserialize, Serialize};

use super::text::{
    char_len, is_ascii_datatrove_punctuation, is_datatrove_punctuation, is_py_alpha, py_lstrip,
    py_rstrip, py_splitlines,
};
use super::words::split_into_words;
use super::{check_ratio, reject};
use crate::Rejection;

/// The filter's name in [`Rejection::filter`].
const NAME: &str = "gopher_quality";

/// Settings of [`GopherQualityFilter`]. Field names are datatrove's constructor arguments; the defaults are
/// the paper's thresholds. A threshold of 0 turns its rule off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GopherQualityConfig {
    /// Run this filter (default true).
    pub enabled: bool,
    /// Fewest words (not counting punctuation-only words) a document may have (50).
    pub min_doc_words: usize,
    /// Most words a document may have (100,000).
    pub max_doc_words: usize,
    /// Smallest mean word length, in characters (3).
    pub min_avg_word_length: f64,
    /// Largest mean word length, in characters (10).
    pub max_avg_word_length: f64,
    /// Largest ratio of `#` characters, and of ellipses (`...` or `…`), to words (0.1).
    pub max_symbol_word_ratio: f64,
    /// Largest share of lines starting with a bullet (0.9).
    pub max_bullet_lines_ratio: f64,
    /// Largest share of lines ending with an ellipsis (0.3).
    pub max_ellipsis_lines_ratio: f64,
    /// Smallest share of words with at least one letter (0.8). The name is datatrove's, although the rule
    /// is a minimum of alphabetic words.
    pub max_non_alpha_words_ratio: f64,
    /// Fewest different stop words a document must contain (2).
    pub min_stop_words: usize,
    /// The stop words (`the`, `be`, `to`, `of`, `and`, `that`, `have`, `with`).
    pub stop_words: Vec<String>,
}

impl Default for GopherQualityConfig {
    fn default() -> Self {
        GopherQualityConfig {
            enabled: true,
            min_doc_words: 50,
            max_doc_words: 100_000,
            min_avg_word_length: 3.0,
            max_avg_word_length: 10.0,
            max_symbol_word_ratio: 0.1,
            max_bullet_lines_ratio: 0.9,
            max_ellipsis_lines_ratio: 0.3,
            max_non_alpha_words_ratio: 0.8,
            min_stop_words: 2,
            stop_words: ["the", "be", "to", "of", "and", "that", "have", "with"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl GopherQualityConfig {
    /// Checks the settings; the error names the first bad field.
    pub fn validate(&self) -> Result<(), String> {
        for (field, value) in [
            ("max_symbol_word_ratio", self.max_symbol_word_ratio),
            ("max_bullet_lines_ratio", self.max_bullet_lines_ratio),
            ("max_ellipsis_lines_ratio", self.max_ellipsis_lines_ratio),
            ("max_non_alpha_words_ratio", self.max_non_alpha_words_ratio),
        ] {
            check_ratio(field, value)?;
        }
        for (field, value) in [
            ("min_avg_word_length", self.min_avg_word_length),
            ("max_avg_word_length", self.max_avg_word_length),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(format!(
                    "{field} must be a number >= 0 (0 turns the rule off), not {value}"
                ));
            }
        }
        if self.max_doc_words > 0 && self.min_doc_words > self.max_doc_words {
            return Err(format!(
                "min_doc_words ({}) must be <= max_doc_words ({})",
                self.min_doc_words, self.max_doc_words
            ));
        }
        if self.max_avg_word_length > 0.0 && self.min_avg_word_length > self.max_avg_word_length {
            return Err(format!(
                "min_avg_word_length ({}) must be <= max_avg_word_length ({})",
                self.min_avg_word_length, self.max_avg_word_length
            ));
        }
        if let Some(bad) = self
            .stop_words
            .iter()
            .find(|w| w.is_empty() || w.chars().any(char::is_whitespace))
        {
            return Err(format!(
                "stop_words: {bad:?} can never match a word (words have no spaces)"
            ));
        }
        let distinct = distinct_stop_words(&self.stop_words).len();
        if self.min_stop_words > distinct {
            return Err(format!(
                "min_stop_words ({}) is more than the {distinct} different stop_words, so every document would fail",
                self.min_stop_words
            ));
        }
        Ok(())
    }
}

fn distinct_stop_words(words: &[String]) -> Vec<Box<str>> {
    let mut distinct: Vec<Box<str>> = words.iter().map(|w| w.as_str().into()).collect();
    distinct.sort();
    distinct.dedup();
    distinct
}

/// The Gopher quality filter: keeps a document only if every rule of [`GopherQualityConfig`] holds.
#[derive(Debug, Clone)]
pub struct GopherQualityFilter {
    config: GopherQualityConfig,
    stop_words: Vec<Box<str>>,
    /// Whether some stop word starts with each byte, so that most words are ruled out without comparing.
    stop_word_starts: [bool; 256],
}

impl GopherQualityFilter {
    /// The filter with `config` (checked with [`GopherQualityConfig::validate`] by the caller; an invalid
    /// config gives odd decisions, not a panic).
    pub fn new(config: &GopherQualityConfig) -> GopherQualityFilter {
        let stop_words = distinct_stop_words(&config.stop_words);
        let mut stop_word_starts = [false; 256];
        for word in &stop_words {
            if let Some(&b) = word.as_bytes().first() {
                stop_word_starts[usize::from(b)] = true;
            }
        }
        GopherQualityFilter {
            config: config.clone(),
            stop_words,
            stop_word_starts,
        }
    }

    /// Keeps `text` (`Ok`) or says which rule removes it, checking the rules in datatrove's order and
    /// stopping at the first that fails.
    pub fn check(&self, text: &str) -> Result<(), Rejection> {
        self.check_words(text, &split_into_words(text))
    }

    /// [`Self::check`] with the words of `text` already split.
    pub(super) fn check_words(&self, text: &str, words: &[&str]) -> Result<(), Rejection> {
        let c = &self.config;
        let counts = self.count_words(words, text.is_ascii());
        let n_words = words.len() as f64;

        let kept = counts.non_symbol_words;
        if c.min_doc_words > 0 && kept < c.min_doc_words {
            return Err(reject(
                NAME,
                "gopher_short_doc",
                kept as f64,
                c.min_doc_words as f64,
            ));
        }
        if c.max_doc_words > 0 && kept > c.max_doc_words {
            return Err(reject(
                NAME,
                "gopher_long_doc",
                kept as f64,
                c.max_doc_words as f64,
            ));
        }
        // With no words the mean is NaN in datatrove (numpy), and NaN fails neither comparison.
        if kept > 0 {
            let avg = counts.non_symbol_chars as f64 / kept as f64;
            if c.min_avg_word_length > 0.0 && avg < c.min_avg_word_length {
                return Err(reject(
                    NAME,
                    "gopher_below_avg_threshold",
                    avg,
                    c.min_avg_word_length,
                ));
            }
            if c.max_avg_word_length > 0.0 && avg > c.max_avg_word_length {
                return Err(reject(
                    NAME,
                    "gopher_above_avg_threshold",
                    avg,
                    c.max_avg_word_length,
                ));
            }
        }
        // datatrove divides by the word count unguarded; with no words these rules are skipped here.
        if c.max_symbol_word_ratio > 0.0 && !words.is_empty() {
            let symbols = count_symbols(text);
            let hashes = symbols.hashes as f64 / n_words;
            if hashes > c.max_symbol_word_ratio {
                return Err(reject(
                    NAME,
                    "gopher_too_many_hashes",
                    hashes,
                    c.max_symbol_word_ratio,
                ));
            }
            let ellipses = symbols.ellipses as f64 / n_words;
            if ellipses > c.max_symbol_word_ratio {
                return Err(reject(
                    NAME,
                    "gopher_too_many_ellipsis",
                    ellipses,
                    c.max_symbol_word_ratio,
                ));
            }
        }
        if c.max_bullet_lines_ratio > 0.0 || c.max_ellipsis_lines_ratio > 0.0 {
            let (mut lines, mut bullets, mut ellipses) = (0usize, 0usize, 0usize);
            for line in py_splitlines(text) {
                lines += 1;
                bullets += usize::from(py_lstrip(line).starts_with(['•', '-']));
                let end = py_rstrip(line);
                ellipses += usize::from(end.ends_with("...") || end.ends_with('…'));
            }
            if lines > 0 {
                let bullet_ratio = bullets as f64 / lines as f64;
                if c.max_bullet_lines_ratio > 0.0 && bullet_ratio > c.max_bullet_lines_ratio {
                    return Err(reject(
                        NAME,
                        "gopher_too_many_bullets",
                        bullet_ratio,
                        c.max_bullet_lines_ratio,
                    ));
                }
                let ellipsis_ratio = ellipses as f64 / lines as f64;
                if c.max_ellipsis_lines_ratio > 0.0 && ellipsis_ratio > c.max_ellipsis_lines_ratio {
                    return Err(reject(
                        NAME,
                        "gopher_too_many_end_ellipsis",
                        ellipsis_ratio,
                        c.max_ellipsis_lines_ratio,
                    ));
                }
            }
        }
        if c.max_non_alpha_words_ratio > 0.0 && !words.is_empty() {
            let alpha = counts.alpha_words as f64 / n_words;
            if alpha < c.max_non_alpha_words_ratio {
                return Err(reject(
                    NAME,
                    "gopher_below_alpha_threshold",
                    alpha,
                    c.max_non_alpha_words_ratio,
                ));
            }
        }
        if c.min_stop_words > 0 && counts.stop_words < c.min_stop_words {
            return Err(reject(
                NAME,
                "gopher_enough_stop_words",
                counts.stop_words as f64,
                c.min_stop_words as f64,
            ));
        }
        Ok(())
    }

    /// One pass over the words for every per-word count.
    fn count_words(&self, words: &[&str], ascii: bool) -> WordCounts {
        let mut counts = WordCounts::default();
        let mut found = vec![false; self.stop_words.len()];
        let wanted = self.config.min_stop_words;
        for word in words {
            let class = word
                .bytes()
                .fold(0, |class, b| class | BYTE_CLASS[usize::from(b)]);
            let (non_symbol, alpha) = if class & NON_ASCII == 0 {
                (class & NON_SYMBOL != 0, class & ALPHA != 0)
            } else {
                (
                    word.chars().any(|ch| !is_datatrove_punctuation(ch)),
                    word.chars().any(is_py_alpha),
                )
            };
            if non_symbol {
                counts.non_symbol_words += 1;
                counts.non_symbol_chars += if ascii { word.len() } else { char_len(word) };
            }
            counts.alpha_words += usize::from(alpha);
            if counts.stop_words < wanted
                && word
                    .as_bytes()
                    .first()
                    .is_some_and(|&b| self.stop_word_starts[usize::from(b)])
                && let Some(i) = self.stop_words.iter().position(|s| **s == **word)
                && !found[i]
            {
                found[i] = true;
                counts.stop_words += 1;
            }
        }
        counts
    }
}

/// [`BYTE_CLASS`] bit: the character is not in datatrove's punctuation set.
const NON_SYMBOL: u8 = 1;
/// [`BYTE_CLASS`] bit: the character is a letter.
const ALPHA: u8 = 2;
/// [`BYTE_CLASS`] bit: a byte of a character outside ASCII, which the table does not classify.
const NON_ASCII: u8 = 4;

/// [`NON_SYMBOL`] and [`ALPHA`] of each ASCII character, [`NON_ASCII`] for the other bytes, so that one
/// pass over a word classifies it when it is ASCII.
static BYTE_CLASS: [u8; 256] = {
    let mut table = [NON_ASCII; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8 as char;
        table[b] = 0;
        if !is_ascii_datatrove_punctuation(c) {
            table[b] |= NON_SYMBOL;
        }
        if c.is_ascii_alphabetic() {
            table[b] |= ALPHA;
        }
        b += 1;
    }
    table
};

#[derive(Default)]
struct WordCounts {
    non_symbol_words: usize,
    non_symbol_chars: usize,
    alpha_words: usize,
    /// Different stop words seen, counted up to `min_stop_words`.
    stop_words: usize,
}

struct SymbolCounts {
    hashes: usize,
    ellipses: usize,
}

/// `text.count("#")` and `text.count("...") + text.count("…")`, where `count` finds non-overlapping
/// occurrences, so a run of `k` dots holds `k / 3` ellipses.
fn count_symbols(text: &str) -> SymbolCounts {
    let bytes = text.as_bytes();
    let mut counts = SymbolCounts {
        hashes: 0,
        ellipses: 0,
    };
    // The end of the last run of dots counted: its later dots come up again and are skipped.
    let mut dots_end = 0;
    // U+2026 is E2 80 A6.
    for i in memchr::memchr3_iter(b'#', b'.', 0xe2, bytes) {
        match bytes[i] {
            b'#' => counts.hashes += 1,
            b'.' if i >= dots_end => {
                let run = bytes[i..].iter().take_while(|&&b| b == b'.').count();
                counts.ellipses += run / 3;
                dots_end = i + run;
            }
            0xe2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xa6) => {
                counts.ellipses += 1
            }
            _ => {}
        }
    }
    counts
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn filter() -> GopherQualityFilter {
        GopherQualityFilter::new(&GopherQualityConfig::default())
    }

    fn reason(config: &GopherQualityConfig, text: &str) -> Option<&'static str> {
        GopherQualityFilter::new(config)
            .check(text)
            .err()
            .map(|r| r.reason)
    }

    /// `n` words: `the` and `of` once each, then `filler` repeated, one sentence per 10 words.
    fn doc(n: usize, filler: &str) -> String {
        let mut words = vec!["the", "of"];
        words.extend(std::iter::repeat_n(filler, n.saturating_sub(2)));
        words
            .chunks(10)
            .map(|c| c.join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn default_thresholds_are_the_papers() {
        let c = GopherQualityConfig::default();
        assert_eq!(
            (c.min_doc_words, c.max_doc_words, c.min_stop_words),
            (50, 100_000, 2)
        );
        assert_eq!((c.min_avg_word_length, c.max_avg_word_length), (3.0, 10.0));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn word_count_boundaries() {
        let f = filter();
        let short = f.check(&doc(49, "house")).unwrap_err();
        assert_eq!(
            (short.reason, short.value, short.threshold),
            ("gopher_short_doc", 49.0, 50.0)
        );
        assert!(f.check(&doc(50, "house")).is_ok());
        assert!(f.check(&doc(51, "house")).is_ok());
        let config = GopherQualityConfig {
            max_doc_words: 60,
            ..Default::default()
        };
        assert_eq!(reason(&config, &doc(59, "house")), None);
        assert_eq!(reason(&config, &doc(60, "house")), None);
        assert_eq!(reason(&config, &doc(61, "house")), Some("gopher_long_doc"));
    }

    #[test]
    fn punctuation_words_do_not_count_as_words() {
        // 49 words plus 20 periods is still short.
        let text = format!("{} {}", doc(49, "house"), ". ".repeat(20));
        assert_eq!(
            filter().check(&text).unwrap_err().reason,
            "gopher_short_doc"
        );
    }

    #[test]
    fn mean_word_length_boundaries() {
        let f = filter();
        // 100 words: "the" (3), "of" (2) and 98 words of length L: mean = (5 + 98 L) / 100.
        let mean = |text: &str| f.check(text).err().map(|r| (r.reason, r.value));
        // L = 3 -> 2.99 (below 3)
        assert_eq!(
            mean(&doc(100, "abc")),
            Some(("gopher_below_avg_threshold", 2.99))
        );
        // 50 words "the", "of", 48 x "abcd" -> (5 + 192) / 50 = 3.94; exact 3.0 with "of" + 49 x "abc" + 1 padding:
        let exactly_three = format!("of {} abcd the", vec!["abc"; 47].join(" "));
        assert_eq!(mean(&exactly_three), None);
        assert_eq!(mean(&doc(100, "abcd")), None);
        let ten = format!("the of {}", vec!["abcdefghij"; 98].join(" ")); // (5 + 980) / 100 = 9.85
        assert_eq!(mean(&ten), None);
        let over = format!("the of {}", vec!["abcdefghijk"; 98].join(" ")); // (5 + 1078) / 100 = 10.83
        assert_eq!(mean(&over), Some(("gopher_above_avg_threshold", 10.83)));
        let config = GopherQualityConfig {
            max_avg_word_length: 9.85,
            ..Default::default()
        };
        assert_eq!(reason(&config, &ten), None);
        let config = GopherQualityConfig {
            max_avg_word_length: 9.84,
            ..Default::default()
        };
        assert_eq!(reason(&config, &ten), Some("gopher_above_avg_threshold"));
    }

    /// 100 words: `the`, `of` and 98 times `house`, the first `k` of those written `ho#se` (one word each).
    fn with_hashes(k: usize) -> String {
        let fillers: Vec<&str> = (0..98)
            .map(|i| if i < k { "ho#se" } else { "house" })
            .collect();
        format!("the of {}", fillers.join(" "))
    }

    #[test]
    fn hash_ratio_boundaries() {
        assert_eq!(filter().check(&with_hashes(9)), Ok(()));
        // Exactly 0.1 is kept (the rule is `>`).
        assert_eq!(filter().check(&with_hashes(10)), Ok(()));
        let r = filter().check(&with_hashes(11)).unwrap_err();
        assert_eq!(
            (r.reason, r.value, r.threshold),
            ("gopher_too_many_hashes", 0.11, 0.1)
        );
    }

    #[test]
    fn ellipsis_ratio_counts_non_overlapping_dots() {
        assert_eq!(count_symbols("a.... b…c ...... #").ellipses, 4);
        assert_eq!(count_symbols("##.").hashes, 2);
        // Python's `count`, on runs at the edges, `…` next to dots, and other characters starting with E2.
        for (text, hashes, ellipses) in [
            ("...", 0, 1),
            ("..", 0, 0),
            (".....", 0, 1),
            ("......#.........", 1, 5),
            ("…...…", 0, 3),
            ("\u{2025}\u{2027}—…", 0, 1),
            ("#…#", 2, 1),
            ("", 0, 0),
        ] {
            let counts = count_symbols(text);
            assert_eq!(
                (counts.hashes, counts.ellipses),
                (hashes, ellipses),
                "{text}"
            );
        }
        // `house...` is two words, `house` and `...`: 100 words and k ellipses give k / (100 + k).
        let text = |k: usize| {
            let fillers: Vec<&str> = (0..98)
                .map(|i| if i < k { "house..." } else { "house" })
                .collect();
            format!("the of {}", fillers.join(" "))
        };
        assert_eq!(filter().check(&text(10)), Ok(()));
        assert_eq!(filter().check(&text(11)), Ok(()));
        let r = filter().check(&text(12)).unwrap_err();
        assert_eq!(
            (r.reason, r.value),
            ("gopher_too_many_ellipsis", 12.0 / 112.0)
        );
    }

    #[test]
    fn bullet_and_ellipsis_line_boundaries() {
        let line = "the house of the people is on the hill";
        let lines = |bullets: usize, total: usize, mark: &str| {
            (0..total)
                .map(|i| {
                    if i < bullets {
                        format!("{mark}{line}")
                    } else {
                        line.to_string()
                    }
                })
                .collect::<Vec<_>>()
        };
        // 9 of 10 bullet lines is exactly 0.9: kept; 10 of 10 is removed.
        assert_eq!(filter().check(&lines(9, 10, "  • ").join("\n")), Ok(()));
        let r = filter().check(&lines(10, 10, "- ").join("\n")).unwrap_err();
        assert_eq!((r.reason, r.value), ("gopher_too_many_bullets", 1.0));
        // Ellipsis lines: 3 of 10 is exactly 0.3: kept; 4 of 10 removed.
        let ending = |k: usize| {
            (0..10)
                .map(|i| {
                    if i < k {
                        format!("{line} …  ")
                    } else {
                        line.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(filter().check(&ending(3)), Ok(()));
        assert_eq!(
            filter().check(&ending(4)).unwrap_err().reason,
            "gopher_too_many_end_ellipsis"
        );
    }

    #[test]
    fn alphabetic_word_boundaries() {
        // 80 alphabetic words and 20 numbers: exactly 0.8, kept; 79 and 21: removed.
        let text = |alpha: usize, numbers: usize| {
            format!(
                "the of {} {}",
                vec!["house"; alpha - 2].join(" "),
                vec!["12345"; numbers].join(" ")
            )
        };
        assert_eq!(filter().check(&text(80, 20)), Ok(()));
        let r = filter().check(&text(79, 21)).unwrap_err();
        assert_eq!(
            (r.reason, r.value, r.threshold),
            ("gopher_below_alpha_threshold", 0.79, 0.8)
        );
        assert_eq!(filter().check(&text(81, 19)), Ok(()));
    }

    #[test]
    fn stop_word_boundaries() {
        let words = |stops: &[&str]| format!("{} {}", stops.join(" "), vec!["house"; 60].join(" "));
        let r = filter().check(&words(&["the", "the", "The"])).unwrap_err();
        assert_eq!(
            (r.reason, r.value, r.threshold),
            ("gopher_enough_stop_words", 1.0, 2.0)
        );
        assert_eq!(filter().check(&words(&["the", "of"])), Ok(()));
        assert_eq!(filter().check(&words(&["the", "of", "and"])), Ok(()));
    }

    #[test]
    fn zero_turns_a_rule_off() {
        let config = GopherQualityConfig {
            min_doc_words: 0,
            min_stop_words: 0,
            ..Default::default()
        };
        assert_eq!(reason(&config, "house house"), None);
        assert_eq!(reason(&config, ""), None);
        assert_eq!(reason(&config, " \n "), None);
    }

    #[test]
    fn validate_names_the_field() {
        let bad = GopherQualityConfig {
            max_bullet_lines_ratio: 1.5,
            ..Default::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("max_bullet_lines_ratio")
        );
        let bad = GopherQualityConfig {
            min_avg_word_length: 12.0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("min_avg_word_length"));
        let bad = GopherQualityConfig {
            min_doc_words: 200_000,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("min_doc_words"));
        let bad = GopherQualityConfig {
            min_stop_words: 9,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("min_stop_words"));
        let bad = GopherQualityConfig {
            stop_words: vec!["of course".into()],
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("stop_words"));
    }

    #[test]
    fn keeps_real_prose() {
        let text = "The committee met on Tuesday to discuss the new budget. Members agreed that the \
                    proposal, which had been revised twice, was ready for a vote. Several of them noted \
                    that funding for schools and roads would rise, while spending on administration would \
                    fall. The chair thanked everyone for their work and said the final vote would take \
                    place next month, after a public hearing with residents.";
        assert_eq!(filter().check(text), Ok(()));
    }
}

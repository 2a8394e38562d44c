//! The FineWeb quality filter (Penedo et al. 2024, "The FineWeb Datasets", §3.3), as datatrove 0.10.1's
//! `FineWebQualityFilter` implements it: too few lines ending in punctuation, too many short lines, too
//! many characters in duplicated lines, too many newlines per word.
//!
//! What datatrove counts, followed here: lines are the text split at `\n` with blank lines (only spaces)
//! left out, and are *not* stripped, so a line ending in `". "` or `"\r"` does not end in punctuation and
//! its spaces count toward its length; duplicated characters are divided by the text's characters other
//! than `\n`; words are spaCy tokens ([`super::words`]), punctuation included. A text with no non-blank line
//! is removed with reason `empty`.

use serde::{Deserialize, Serialize};

use super::hashes::{HashedSet, Prehashed};
use super::text::{char_len, is_terminal_punctuation, py_strip};
use super::words::split_into_words;
use super::{check_ratio, reject};
use crate::Rejection;

/// The filter's name in [`Rejection::filter`].
const NAME: &str = "fineweb";

/// Settings of [`FineWebQualityFilter`]. Field names are datatrove's constructor arguments; the defaults
/// are FineWeb's thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FineWebQualityConfig {
    /// Run this filter (default true).
    pub enabled: bool,
    /// Smallest share of lines ending in one of `stop_chars` (0.12).
    pub line_punct_thr: f64,
    /// Keep documents where no line ends in punctuation (false).
    pub line_punct_exclude_zero: bool,
    /// The line endings that count as punctuation; absent: datatrove's `TERMINAL_PUNCTUATION` (`.`, `!`,
    /// `?` and their equivalents in other scripts).
    pub stop_chars: Option<Vec<String>>,
    /// Largest share of short lines (0.67).
    pub short_line_thr: f64,
    /// A line of at most this many characters is short (30).
    pub short_line_length: usize,
    /// Largest share of characters in lines that repeat an earlier line (0.01).
    pub char_duplicates_ratio: f64,
    /// Largest number of newlines per word (0.3).
    pub new_line_ratio: f64,
}

impl Default for FineWebQualityConfig {
    fn default() -> Self {
        FineWebQualityConfig {
            enabled: true,
            line_punct_thr: 0.12,
            line_punct_exclude_zero: false,
            stop_chars: None,
            short_line_thr: 0.67,
            short_line_length: 30,
            char_duplicates_ratio: 0.01,
            new_line_ratio: 0.3,
        }
    }
}

impl FineWebQualityConfig {
    /// Checks the settings; the error names the first bad field.
    pub fn validate(&self) -> Result<(), String> {
        for (field, value) in [
            ("line_punct_thr", self.line_punct_thr),
            ("short_line_thr", self.short_line_thr),
            ("char_duplicates_ratio", self.char_duplicates_ratio),
        ] {
            check_ratio(field, value)?;
        }
        if !(self.new_line_ratio.is_finite() && self.new_line_ratio >= 0.0) {
            return Err(format!(
                "new_line_ratio must be a number >= 0, not {}",
                self.new_line_ratio
            ));
        }
        if let Some(i) = self.stop_chars.iter().flatten().position(String::is_empty) {
            return Err(format!(
                "stop_chars[{i}] is empty, so every line would end in it"
            ));
        }
        Ok(())
    }
}

/// The FineWeb quality filter: keeps a document only if every rule of [`FineWebQualityConfig`] holds.
#[derive(Debug, Clone)]
pub struct FineWebQualityFilter {
    config: FineWebQualityConfig,
}

impl FineWebQualityFilter {
    /// The filter with `config` (checked with [`FineWebQualityConfig::validate`] by the caller).
    pub fn new(config: &FineWebQualityConfig) -> FineWebQualityFilter {
        FineWebQualityFilter {
            config: config.clone(),
        }
    }

    /// Keeps `text` (`Ok`) or says which rule removes it, checking the rules in datatrove's order and
    /// stopping at the first that fails.
    pub fn check(&self, text: &str) -> Result<(), Rejection> {
        self.check_counted(text, None)
    }

    /// [`Self::check`], with the number of words of `text` if it is already known.
    pub(super) fn check_counted(&self, text: &str, words: Option<usize>) -> Result<(), Rejection> {
        let c = &self.config;
        let lines: Vec<&str> = text
            .split('\n')
            .filter(|line| !py_strip(line).is_empty())
            .collect();
        if lines.is_empty() {
            return Err(reject(NAME, "empty", 0.0, 0.0));
        }
        let n_lines = lines.len() as f64;

        let punct_lines = lines
            .iter()
            .filter(|line| self.ends_in_stop_char(line))
            .count();
        let punct_ratio = punct_lines as f64 / n_lines;
        if punct_ratio < c.line_punct_thr && !(punct_lines == 0 && c.line_punct_exclude_zero) {
            return Err(reject(
                NAME,
                "line_punct_ratio",
                punct_ratio,
                c.line_punct_thr,
            ));
        }

        let short_lines = lines
            .iter()
            .filter(|line| char_len(line) <= c.short_line_length)
            .count();
        let short_ratio = short_lines as f64 / n_lines;
        if short_ratio > c.short_line_thr {
            return Err(reject(
                NAME,
                "short_line_ratio",
                short_ratio,
                c.short_line_thr,
            ));
        }

        let mut seen = HashedSet::with_capacity_and_hasher(lines.len(), Prehashed);
        let mut duplicate_chars = 0;
        for line in &lines {
            if !seen.insert(xxhash_rust::xxh3::xxh3_64(line.as_bytes())) {
                duplicate_chars += char_len(line);
            }
        }
        let newlines = text.bytes().filter(|&b| b == b'\n').count();
        // Not zero: there is a non-blank line.
        let chars_without_newlines = (char_len(text) - newlines).max(1);
        let dup_ratio = duplicate_chars as f64 / chars_without_newlines as f64;
        if dup_ratio > c.char_duplicates_ratio {
            return Err(reject(
                NAME,
                "char_dup_ratio",
                dup_ratio,
                c.char_duplicates_ratio,
            ));
        }

        let n_words = words.unwrap_or_else(|| split_into_words(text).len());
        // datatrove divides by the word count unguarded; a non-blank line always has a word.
        let newline_ratio = newlines as f64 / n_words.max(1) as f64;
        if newline_ratio > c.new_line_ratio {
            return Err(reject(NAME, "list_ratio", newline_ratio, c.new_line_ratio));
        }
        Ok(())
    }

    fn ends_in_stop_char(&self, line: &str) -> bool {
        match &self.config.stop_chars {
            None => line
                .chars()
                .next_back()
                .is_some_and(is_terminal_punctuation),
            Some(stops) => stops.iter().any(|stop| line.ends_with(stop.as_str())),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn filter() -> FineWebQualityFilter {
        FineWebQualityFilter::new(&FineWebQualityConfig::default())
    }

    /// A distinct line of 40 characters with 8 words, ending in `end`.
    fn line(i: usize, end: &str) -> String {
        let body = format!("line {i:04} has some words in it here");
        format!("{body}{}{end}", "x".repeat(39 - body.len()))
    }

    #[test]
    fn punctuated_line_boundaries() {
        // 25 lines, k ending in '.': 3/25 = 0.12 is kept, 2/25 = 0.08 is removed.
        let text = |k: usize| {
            (0..25)
                .map(|i| line(i, if i < k { "." } else { "x" }))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let r = filter().check(&text(2)).unwrap_err();
        assert_eq!(
            (r.filter, r.reason, r.value, r.threshold),
            ("fineweb", "line_punct_ratio", 0.08, 0.12)
        );
        assert_eq!(filter().check(&text(3)), Ok(()));
        assert_eq!(filter().check(&text(4)), Ok(()));
        // No punctuated line at all is kept when line_punct_exclude_zero is set.
        let config = FineWebQualityConfig {
            line_punct_exclude_zero: true,
            ..Default::default()
        };
        assert_eq!(FineWebQualityFilter::new(&config).check(&text(0)), Ok(()));
        assert_eq!(
            FineWebQualityFilter::new(&config)
                .check(&text(2))
                .unwrap_err()
                .reason,
            "line_punct_ratio"
        );
    }

    #[test]
    fn lines_are_not_stripped() {
        let text = (0..10)
            .map(|i| line(i, ". "))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            filter().check(&text).unwrap_err().reason,
            "line_punct_ratio"
        );
        let text = (0..10)
            .map(|i| line(i, ".\r"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            filter().check(&text).unwrap_err().reason,
            "line_punct_ratio"
        );
        assert!(
            filter()
                .check(
                    &(0..10)
                        .map(|i| line(i, "。"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
                .is_ok()
        );
    }

    #[test]
    fn short_line_boundaries() {
        // 100 lines, k of them 30 characters (short) and the rest 40: 67 short is 0.67, kept.
        let short = |i: usize| {
            let base = format!("short line {i:03} words");
            format!("{base}{}.", "z".repeat(29 - base.len()))
        };
        assert_eq!(char_len(&short(1)), 30);
        let text = |k: usize| {
            (0..100)
                .map(|i| if i < k { short(i) } else { line(i, ".") })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(filter().check(&text(66)), Ok(()));
        assert_eq!(filter().check(&text(67)), Ok(()));
        let r = filter().check(&text(68)).unwrap_err();
        assert_eq!(
            (r.reason, r.value, r.threshold),
            ("short_line_ratio", 0.68, 0.67)
        );
    }

    #[test]
    fn duplicate_char_boundaries() {
        // 10 lines of 40 characters, the last repeating the first: 40 / 400 = 0.1.
        let lines: Vec<String> = (0..10).map(|i| line(i, ".")).collect();
        let mut repeated = lines.clone();
        repeated[9] = lines[0].clone();
        let r = filter().check(&repeated.join("\n")).unwrap_err();
        assert_eq!((r.reason, r.value), ("char_dup_ratio", 0.1));
        // A short line of `len` characters written twice after the 10 lines.
        let f = filter();
        let with_tiny_repeat = |len: usize| {
            let mut text: Vec<String> = (0..10).map(|i| line(i, ".")).collect();
            let tiny = "y".repeat(len - 1) + ".";
            text.push(tiny.clone());
            text.push(tiny);
            text.join("\n")
        };
        let text = with_tiny_repeat(4); // 4 / 408 < 0.01
        assert_eq!(f.check(&text), Ok(()));
        let text = with_tiny_repeat(5); // 5 / 410 > 0.01
        let r = f.check(&text).unwrap_err();
        assert_eq!((r.reason, r.value), ("char_dup_ratio", 5.0 / 410.0));
        // Exactly 0.01: 4 of 400 characters.
        let mut exact: Vec<String> = (0..9).map(|i| line(i, ".")).collect();
        exact.push("abc.".into());
        exact.push("abc.".into());
        exact.push("z".repeat(31) + ".");
        let text = exact.join("\n");
        assert_eq!(char_len(&text) - 11, 400);
        assert_eq!(f.check(&text), Ok(()));
    }

    #[test]
    fn newline_ratio_boundaries() {
        // Lines of 8 words + "." (9 words) and empty lines between: newlines / words.
        let f = filter();
        let text = |blank: usize| {
            let body: Vec<String> = (0..10).map(|i| line(i, ".")).collect();
            format!("{}{}", body.join("\n"), "\n".repeat(blank))
        };
        // 10 lines of 9 words = 90 words; 27 newlines = 0.3 kept, 28 removed.
        assert_eq!(split_into_words(&text(0)).len(), 90);
        assert_eq!(f.check(&text(27 - 9)), Ok(()));
        let r = f.check(&text(28 - 9)).unwrap_err();
        assert_eq!((r.reason, r.value), ("list_ratio", 28.0 / 90.0));
    }

    #[test]
    fn empty_and_blank_texts() {
        assert_eq!(filter().check("").unwrap_err().reason, "empty");
        assert_eq!(filter().check(" \n\t\n").unwrap_err().reason, "empty");
    }

    #[test]
    fn custom_stop_chars() {
        let config = FineWebQualityConfig {
            stop_chars: Some(vec!["x".into()]),
            ..Default::default()
        };
        let text = (0..10).map(|i| line(i, "x")).collect::<Vec<_>>().join("\n");
        assert_eq!(FineWebQualityFilter::new(&config).check(&text), Ok(()));
        let bad = FineWebQualityConfig {
            stop_chars: Some(vec!["".into()]),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("stop_chars[0]"));
        let bad = FineWebQualityConfig {
            short_line_thr: 2.0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("short_line_thr"));
    }

    #[test]
    fn keeps_real_prose() {
        let text = "The committee met on Tuesday to discuss the new budget for the coming year.\n\
                    Members agreed that the proposal, which had been revised twice, was ready for a vote.\n\
                    The chair thanked everyone and said the final vote would take place next month.";
        assert_eq!(filter().check(text), Ok(()));
    }
}

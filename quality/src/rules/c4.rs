//! The C4 filter (Raffel et al. 2020, "Exploring the Limits of Transfer Learning", §2.2; reference code
//! `tensorflow_datasets/text/c4_utils.py`), as datatrove 0.10.1's `C4QualityFilter` implements it, plus
//! TFDS's bad-words rule (datatrove's `C4BadWordsFilter`) when given a word list. Unlike the other rule
//! filters it rewrites the text: it drops lines and returns what is left.
//!
//! Per line (Python's `splitlines`, each line stripped): drop it if a word is longer than
//! `max_word_length`; remove citation markers (`[1]`, `[]`, `[edit]`, `[citation needed]`); drop it if it
//! does not end in `.`, `?`, `!`, `"` or `'` or ends in `...`; drop it if it has fewer than
//! `min_words_per_line` words; remove the whole document if it contains `lorem ipsum` or `{`; drop it if it
//! contains `javascript` or a cookie/terms/privacy policy phrase. Then remove the document if the kept lines
//! hold fewer than `min_num_sentences` sentences; the text is the kept lines joined with `\n`, stripped.
//! The document-wide rules (`lorem_ipsum`, `curly_bracket`, `document_removed_with_badwords`) report value
//! 1 (found) and threshold 0; `too_few_sentences` reports the sentence count.
//!
//! Where datatrove differs from the paper or TFDS, this follows datatrove:
//! - the defaults are TFDS's (`_MIN_WORDS_PER_LINE = 5`, `_MIN_NUM_SENTENCES = 3`); datatrove has them the
//!   other way round (3 words, 5 sentences: [`C4QualityConfig::datatrove`]). Sentences are counted by spaCy's sentencizer on each kept
//!   line ([`super::words`]);
//! - `'` also counts as terminal punctuation (TFDS: `.`, `?`, `!`, `"`);
//! - words are counted (`line.split()`) before the citation markers are removed, and the end punctuation is
//!   tested after, without stripping again (so `Text. [1]` ends in a space and is dropped);
//! - `lorem ipsum`, `{` and the policy phrases are only looked for in lines that passed the earlier tests;
//! - the bad-words list is matched case-insensitively against the cleaned text, each entry bounded by
//!   non-word characters (datatrove's `(?:\W|^)(words)(?:\W|$)` on the lower-cased text); empty entries are
//!   ignored;
//! - datatrove's `split_paragraph=False` (filtering sentences instead of lines) is not supported.

use aho_corasick::{AhoCorasick, MatchKind};
use serde::{Deserialize, Serialize};

use super::reject;
use super::text::{
    char_len, is_py_decimal, is_py_word_char, lowercase_into, py_split_whitespace, py_splitlines,
    py_strip,
};
use super::words::{Token, count_sentences_and_words, count_sentences_and_words_of};
use crate::Rejection;

/// The filter's name in [`Rejection::filter`].
const NAME: &str = "c4";

/// Line endings that count as terminal punctuation (datatrove's `END_PUNCTUATION`).
const END_PUNCTUATION: [char; 5] = ['.', '?', '!', '"', '\''];

/// Phrases that mark a line as policy boilerplate (datatrove's `POLICY_SUBSTRINGS`).
const POLICY_SUBSTRINGS: [&str; 6] = [
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
];

/// Settings of [`C4QualityFilter`]. Field names are datatrove's constructor arguments and the defaults are
/// datatrove's, which swap the paper's words-per-line and sentences-per-page numbers (see the module notes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct C4QualityConfig {
    /// Run this filter (default true).
    pub enabled: bool,
    /// Remove Wikipedia-style citation markers from each line (true).
    pub remove_citations: bool,
    /// Drop lines that do not end in terminal punctuation (true; FineWeb runs C4 with this off).
    pub filter_no_terminal_punct: bool,
    /// Fewest sentences the kept lines must hold (3, the TFDS reference code's; datatrove's is 5; 0 turns
    /// the rule off, where datatrove uses -1).
    pub min_num_sentences: usize,
    /// Fewest words a line must have to be kept (5, the TFDS reference code's; datatrove's is 3; 0 turns the
    /// rule off).
    pub min_words_per_line: usize,
    /// Drop lines with a word longer than this many characters (1000; 0 turns the rule off).
    pub max_word_length: usize,
    /// Remove documents containing "lorem ipsum" (true).
    pub filter_lorem_ipsum: bool,
    /// Drop lines mentioning "javascript" (true).
    pub filter_javascript: bool,
    /// Remove documents containing `{` (true).
    pub filter_curly_bracket: bool,
    /// Drop lines with cookie, privacy-policy or terms-of-use phrases (true).
    pub filter_policy: bool,
}

impl C4QualityConfig {
    /// datatrove's `C4QualityFilter` defaults: 5 sentences per page, 3 words per line.
    pub fn datatrove() -> Self {
        C4QualityConfig {
            min_num_sentences: 5,
            min_words_per_line: 3,
            ..C4QualityConfig::default()
        }
    }
}

impl Default for C4QualityConfig {
    fn default() -> Self {
        C4QualityConfig {
            enabled: true,
            remove_citations: true,
            filter_no_terminal_punct: true,
            min_num_sentences: 3,
            min_words_per_line: 5,
            max_word_length: 1000,
            filter_lorem_ipsum: true,
            filter_javascript: true,
            filter_curly_bracket: true,
            filter_policy: true,
        }
    }
}

impl C4QualityConfig {
    /// Checks the settings. Every combination of these fields is valid, so this always succeeds; it is here
    /// so that every filter's config is checked the same way.
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The C4 filter: cleans a document line by line, or removes it.
#[derive(Debug, Clone)]
pub struct C4QualityFilter {
    config: C4QualityConfig,
    bad_words: Option<AhoCorasick>,
}

impl C4QualityFilter {
    /// The filter with `config` and no bad-words list.
    pub fn new(config: &C4QualityConfig) -> C4QualityFilter {
        C4QualityFilter {
            config: config.clone(),
            bad_words: None,
        }
    }

    /// Adds TFDS's bad-words rule: a document whose cleaned text contains one of `words` (one word or phrase
    /// each, as in the LDNOOBW lists; surrounding spaces trimmed, empty entries skipped) between non-word
    /// characters is removed with reason `document_removed_with_badwords`. Reading the list from a file is
    /// the caller's job.
    pub fn with_bad_words<I, S>(mut self, words: I) -> Result<C4QualityFilter, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let words: Vec<String> = words
            .into_iter()
            .map(|w| w.as_ref().trim().to_lowercase())
            .filter(|w| !w.is_empty())
            .collect();
        self.bad_words = if words.is_empty() {
            None
        } else {
            let automaton = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&words)
                .map_err(|e| format!("bad words: cannot build the matcher: {e}"))?;
            Some(automaton)
        };
        Ok(self)
    }

    /// The cleaned text of a kept document, or the rule that removes it.
    pub fn clean(&self, text: &str) -> Result<String, Rejection> {
        self.clean_counting_words(text, None)
            .map(|(cleaned, _)| cleaned)
    }

    /// [`Self::clean`] and the number of words of the cleaned text. Given the tokens of `text`
    /// ([`super::words::tokenize`]), each kept line's sentences and words are counted from them instead of
    /// tokenizing the line again: lines are tokenized apart, as each line break is a token of its own.
    pub(super) fn clean_counting_words(
        &self,
        text: &str,
        tokens: Option<&[Token]>,
    ) -> Result<(String, usize), Rejection> {
        let c = &self.config;
        let mut kept = String::with_capacity(text.len());
        let mut any_kept = false;
        let mut citations_removed = String::new();
        let mut lower = String::new();
        let (mut sentences, mut words) = (0, 0);
        let mut line_tokens = LineTokens {
            tokens: tokens.unwrap_or_default(),
            next: 0,
        };
        for line in py_splitlines(text) {
            let line = py_strip(line);
            let max_len = c.max_word_length;
            // A word of at most `max_len` bytes has at most `max_len` characters, and a word is no longer
            // than its line.
            if max_len > 0
                && line.len() > max_len
                && py_split_whitespace(line).any(|w| w.len() > max_len && char_len(w) > max_len)
            {
                continue;
            }
            let original = line;
            let line = if c.remove_citations && line.contains('[') {
                citations_removed.clear();
                remove_citations(line, &mut citations_removed);
                citations_removed.as_str()
            } else {
                line
            };
            if c.filter_no_terminal_punct
                && (!line.ends_with(END_PUNCTUATION) || line.ends_with("..."))
            {
                continue;
            }
            // datatrove counts the words before removing the citations.
            if c.min_words_per_line > 0
                && py_split_whitespace(original)
                    .nth(c.min_words_per_line - 1)
                    .is_none()
            {
                continue;
            }
            if c.filter_lorem_ipsum || c.filter_javascript || c.filter_policy {
                lowercase_into(line, &mut lower);
            }
            if c.filter_lorem_ipsum && lower.contains("lorem ipsum") {
                return Err(reject(NAME, "lorem_ipsum", 1.0, 0.0));
            }
            if c.filter_javascript && lower.contains("javascript") {
                continue;
            }
            if c.filter_curly_bracket && line.contains('{') {
                return Err(reject(NAME, "curly_bracket", 1.0, 0.0));
            }
            if c.filter_policy && POLICY_SUBSTRINGS.iter().any(|p| lower.contains(p)) {
                continue;
            }
            let (line_sentences, line_words) = match tokens {
                // The tokens are those of the original line, not of one with citations removed.
                Some(_) if std::ptr::eq(line, original) => {
                    count_sentences_and_words_of(line_tokens.within(text, line))
                }
                _ => count_sentences_and_words(line),
            };
            sentences += line_sentences;
            words += line_words;
            if any_kept {
                kept.push('\n');
            }
            kept.push_str(line);
            any_kept = true;
        }
        if sentences < c.min_num_sentences {
            return Err(reject(
                NAME,
                "too_few_sentences",
                sentences as f64,
                c.min_num_sentences as f64,
            ));
        }
        let stripped = py_strip(&kept);
        let cleaned = if stripped.len() == kept.len() {
            kept
        } else {
            stripped.to_string()
        };
        if let Some(bad_words) = &self.bad_words
            && contains_bad_word(bad_words, &cleaned)
        {
            return Err(reject(NAME, "document_removed_with_badwords", 1.0, 0.0));
        }
        Ok((cleaned, words))
    }
}

/// A cursor over the tokens of a text, handing out those of each line in turn.
struct LineTokens<'a, 't> {
    tokens: &'a [Token<'t>],
    next: usize,
}

impl<'a, 't> LineTokens<'a, 't> {
    /// The tokens inside `line` (a slice of `text` after the lines asked for before). A whitespace token
    /// that reaches past the line's edge (a line break with the spaces around it) is left out, as the
    /// stripped line has no whitespace at its edges.
    fn within(&mut self, text: &str, line: &str) -> &'a [Token<'t>] {
        let offset = |s: &str| s.as_ptr() as usize - text.as_ptr() as usize;
        let (start, end) = (offset(line), offset(line) + line.len());
        while self.next < self.tokens.len() && offset(self.tokens[self.next].text) < start {
            self.next += 1;
        }
        let first = self.next;
        while self.next < self.tokens.len() {
            let token = self.tokens[self.next].text;
            if offset(token) + token.len() > end {
                break;
            }
            self.next += 1;
        }
        &self.tokens[first..self.next]
    }
}

/// Appends `line` without its citation markers to `out`: datatrove's `CITATION_REGEX.sub("", line)` with
/// `\[\d*]|\[edit]|\[citation needed]`.
fn remove_citations(line: &str, out: &mut String) {
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let digits = after
            .find(|c: char| !is_py_decimal(c))
            .unwrap_or(after.len());
        let marker_len = if after[digits..].starts_with(']') {
            Some(digits + 1)
        } else if after.starts_with("edit]") {
            Some("edit]".len())
        } else if after.starts_with("citation needed]") {
            Some("citation needed]".len())
        } else {
            None
        };
        match marker_len {
            Some(len) => rest = &after[len..],
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// Whether `text`, lower-cased, contains a bad word with a non-word character (or the text's edge) on both
/// sides.
fn contains_bad_word(bad_words: &AhoCorasick, text: &str) -> bool {
    let lower;
    let hay = if text.is_ascii() {
        text
    } else {
        lower = text.to_lowercase();
        lower.as_str()
    };
    bad_words.find_overlapping_iter(hay).any(|m| {
        let before_ok = hay
            .get(..m.start())
            .is_some_and(|b| b.chars().next_back().is_none_or(|c| !is_py_word_char(c)));
        let after_ok = hay
            .get(m.end()..)
            .is_some_and(|a| a.chars().next().is_none_or(|c| !is_py_word_char(c)));
        before_ok && after_ok
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::words::{split_into_words, tokenize};
    use super::*;

    #[test]
    fn defaults_are_the_tfds_reference_code() {
        let c = C4QualityConfig::default();
        assert_eq!((c.min_words_per_line, c.min_num_sentences), (5, 3));
        let d = C4QualityConfig::datatrove();
        assert_eq!((d.min_words_per_line, d.min_num_sentences), (3, 5));
    }

    fn filter() -> C4QualityFilter {
        C4QualityFilter::new(&C4QualityConfig::datatrove())
    }

    /// `n` lines of one sentence each.
    fn sentences(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("This is sentence number {i} here."))
            .collect()
    }

    fn doc(lines: &[String]) -> String {
        lines.join("\n")
    }

    #[test]
    fn sentence_count_boundaries() {
        let r = filter().clean(&doc(&sentences(4))).unwrap_err();
        assert_eq!(
            (r.filter, r.reason, r.value, r.threshold),
            ("c4", "too_few_sentences", 4.0, 5.0)
        );
        assert_eq!(filter().clean(&doc(&sentences(5))), Ok(doc(&sentences(5))));
        assert_eq!(filter().clean(&doc(&sentences(6))), Ok(doc(&sentences(6))));
        // Two sentences on one line count twice.
        let two_per_line: Vec<String> = (0..3)
            .map(|i| format!("One sentence {i}. Another one {i}!"))
            .collect();
        assert!(filter().clean(&doc(&two_per_line)).is_ok());
    }

    #[test]
    fn words_per_line_boundaries() {
        let mut lines = sentences(5);
        lines.extend(["Too short.", "Just three words.", "Four words are here."].map(String::from));
        let cleaned = filter().clean(&doc(&lines)).unwrap();
        assert!(!cleaned.contains("Too short."));
        assert!(cleaned.contains("Just three words.") && cleaned.contains("Four words are here."));
    }

    #[test]
    fn terminal_punctuation() {
        let mut lines = sentences(5);
        lines.extend(
            [
                "No end mark here",
                "He said \"quote.\"",
                "It is 'quoted'",
                "Trailing dots here...",
                "Is it a question?",
            ]
            .map(String::from),
        );
        let cleaned = filter().clean(&doc(&lines)).unwrap();
        assert!(!cleaned.contains("No end mark") && !cleaned.contains("Trailing dots"));
        assert!(
            cleaned.contains("\"quote.\"")
                && cleaned.contains("'quoted'")
                && cleaned.contains("question?")
        );
        // FineWeb's setting keeps them.
        let config = C4QualityConfig {
            filter_no_terminal_punct: false,
            ..C4QualityConfig::datatrove()
        };
        let cleaned = C4QualityFilter::new(&config).clean(&doc(&lines)).unwrap();
        assert!(cleaned.contains("No end mark here") && cleaned.contains("Trailing dots here..."));
    }

    #[test]
    fn max_word_length_boundaries() {
        let config = C4QualityConfig {
            max_word_length: 10,
            ..C4QualityConfig::datatrove()
        };
        let f = C4QualityFilter::new(&config);
        let mut lines = sentences(5);
        lines.extend(
            [
                "A word of ten: abcdefghij.",
                "Eleven long: abcdefghijk here.",
            ]
            .map(String::from),
        );
        let cleaned = f.clean(&doc(&lines)).unwrap();
        // "abcdefghij." is 11 characters with its period, so that line goes too; the limit counts
        // whitespace-separated words.
        assert!(!cleaned.contains("abcdefghij.") && !cleaned.contains("abcdefghijk"));
        lines.push("Exactly ten: abcdefghij here.".to_string());
        assert!(f.clean(&doc(&lines)).unwrap().contains("abcdefghij here."));
        // Characters, not bytes: ten "é" (20 bytes) are kept.
        lines.push(format!("Accents: {} ok.", "é".repeat(10)));
        assert!(f.clean(&doc(&lines)).unwrap().contains(&"é".repeat(10)));
    }

    #[test]
    fn citations_are_removed() {
        let mut out = String::new();
        remove_citations(
            "A[1] b[23][edit] c[citation needed] d[] e[x] f[٣].",
            &mut out,
        );
        assert_eq!(out, "A b c d e[x] f.");
        let mut lines = sentences(5);
        lines.push("Cited fact here [12].".to_string());
        lines.push("Cited at the end. [3]".to_string());
        let cleaned = filter().clean(&doc(&lines)).unwrap();
        assert!(cleaned.contains("Cited fact here ."));
        // The marker leaves a trailing space, so the line no longer ends in punctuation.
        assert!(!cleaned.contains("Cited at the end"));
    }

    #[test]
    fn document_and_line_removals() {
        let with = |extra: &str| {
            let mut lines = sentences(5);
            lines.push(extra.to_string());
            filter().clean(&doc(&lines))
        };
        assert_eq!(
            with("Lorem Ipsum dolor sit amet.").unwrap_err().reason,
            "lorem_ipsum"
        );
        assert_eq!(
            with("Use a map {like this}.").unwrap_err().reason,
            "curly_bracket"
        );
        assert!(
            !with("Please enable JavaScript to continue.")
                .unwrap()
                .contains("enable")
        );
        assert!(
            !with("This site uses cookies to work.")
                .unwrap()
                .contains("cookies")
        );
        assert!(
            !with("Read our Privacy Policy today.")
                .unwrap()
                .contains("Privacy")
        );
        // A dropped line is never searched for lorem ipsum or brackets.
        assert!(with("lorem ipsum without end").is_ok());
        assert!(with("{ short }").is_ok());
    }

    #[test]
    fn output_is_the_kept_lines_stripped() {
        let text = "  \n  First sentence is here.  \nno\n\nSecond one is here. Third one now.\r\nFourth is here \
                    too. Fifth and last one!\n";
        assert_eq!(
            filter().clean(text).unwrap(),
            "First sentence is here.\nSecond one is here. Third one now.\nFourth is here too. Fifth and last one!"
        );
        assert_eq!(filter().clean("").unwrap_err().reason, "too_few_sentences");
    }

    #[test]
    fn bad_words_need_word_boundaries() {
        let f = filter().with_bad_words(["Ass", " two words ", ""]).unwrap();
        let with = |extra: &str| {
            let mut lines = sentences(5);
            lines.push(extra.to_string());
            f.clean(&doc(&lines))
        };
        assert!(with("The class was assessed today.").is_ok());
        let r = with("You are an ASS, really.").unwrap_err();
        assert_eq!((r.reason, r.value), ("document_removed_with_badwords", 1.0));
        assert!(with("These are two words here.").is_err());
        assert!(with("These are two wordsmiths.").is_ok());
        assert!(with("Ünïcode text: ass.").is_err());
        // Only the cleaned text is searched: a dropped line does not count.
        assert!(with("an ass without end").is_ok());
        assert!(
            filter()
                .with_bad_words(Vec::<String>::new())
                .unwrap()
                .bad_words
                .is_none()
        );
    }

    #[test]
    fn counted_words_are_the_cleaned_texts_words() {
        let config = C4QualityConfig {
            filter_no_terminal_punct: false,
            ..C4QualityConfig::datatrove()
        };
        let f = C4QualityFilter::new(&config);
        let mut lines = sentences(5);
        lines.extend(
            [
                "[1] [2] [3]",
                "  Mr. Smith's car [citation needed] (see below):  ",
                "He said ''hello'' to a.",
                "Tabs\tand\u{a0}spaces  inside, e.g. here",
            ]
            .map(String::from),
        );
        let text = doc(&lines);
        let tokens = tokenize(&text);
        let (cleaned, words) = f.clean_counting_words(&text, Some(&tokens)).unwrap();
        assert!(cleaned.contains("Mr. Smith"));
        assert_eq!(words, split_into_words(&cleaned).len());
        assert_eq!(
            f.clean_counting_words(&text, None).unwrap(),
            (cleaned, words)
        );
    }

    #[test]
    fn no_panics_on_odd_input() {
        for text in [
            "",
            "\n\n",
            "[",
            "[١",
            "a\u{2028}b.",
            "{",
            "...",
            "x [citation needed",
        ] {
            let _ = filter().clean(text);
        }
    }

    #[test]
    fn keeps_real_prose() {
        let text = "The committee met on Tuesday to discuss the new budget.\nMembers agreed that the proposal \
                    was ready for a vote.\nSeveral of them noted that funding for schools would rise.\nThe \
                    chair thanked everyone for their work.\nThe final vote will take place next month.\nShare \
                    this page";
        let cleaned = filter().clean(text).unwrap();
        assert_eq!(cleaned.lines().count(), 5);
        assert!(!cleaned.contains("Share"));
    }
}

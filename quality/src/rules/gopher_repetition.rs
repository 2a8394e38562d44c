//! The Gopher repetition filter (Rae et al. 2021, App. A.1.1, Table A1), as datatrove 0.10.1's
//! `GopherRepetitionFilter` implements it: duplicate paragraphs and lines (by count and by characters),
//! the most frequent 2- to 4-gram's share of the characters, and the share of characters in repeated 5- to
//! 10-grams.
//!
//! What datatrove counts, followed here:
//! - every character fraction is over the whole text's characters (`len(text)`);
//! - paragraphs are the stripped text split at runs of two or more `\n`, lines the unstripped text split at
//!   runs of `\n` (so a leading or trailing `\n` makes an empty line, which counts as a duplicate the second
//!   time);
//! - the top n-gram's characters are those of its words joined with single spaces, times its count; among
//!   n-grams with the highest count the first one seen wins (`Counter.most_common`);
//! - repeated n-grams are compared as their words joined with *no* separator, and the scan jumps past a
//!   repeated n-gram, so the characters of overlapping repeats are not counted twice;
//! - the paragraph and line fractions are skipped at 0 (datatrove's falsy check); the n-gram rules are not;
//! - an empty text is removed with reason `empty`.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use super::hashes::{HashedSet, KeySet, NgramTable, Prehashed, UniqueStarts, WordHashes};
use super::text::{char_len, py_strip};
use super::words::split_into_words;
use super::{check_ratio, reject};
use crate::Rejection;

/// The filter's name in [`Rejection::filter`].
const NAME: &str = "gopher_repetition";

/// The largest n accepted in `top_n_grams` and `dup_n_grams`.
pub const MAX_N: usize = 20;

/// `top_{n}_gram` for n = 0..=MAX_N (datatrove's reason for the top n-gram rule).
const TOP_REASONS: [&str; MAX_N + 1] = [
    "top_0_gram",
    "top_1_gram",
    "top_2_gram",
    "top_3_gram",
    "top_4_gram",
    "top_5_gram",
    "top_6_gram",
    "top_7_gram",
    "top_8_gram",
    "top_9_gram",
    "top_10_gram",
    "top_11_gram",
    "top_12_gram",
    "top_13_gram",
    "top_14_gram",
    "top_15_gram",
    "top_16_gram",
    "top_17_gram",
    "top_18_gram",
    "top_19_gram",
    "top_20_gram",
];

/// `duplicated_{n}_n_grams` for n = 0..=MAX_N (datatrove's reason for the repeated n-gram rule).
const DUP_REASONS: [&str; MAX_N + 1] = [
    "duplicated_0_n_grams",
    "duplicated_1_n_grams",
    "duplicated_2_n_grams",
    "duplicated_3_n_grams",
    "duplicated_4_n_grams",
    "duplicated_5_n_grams",
    "duplicated_6_n_grams",
    "duplicated_7_n_grams",
    "duplicated_8_n_grams",
    "duplicated_9_n_grams",
    "duplicated_10_n_grams",
    "duplicated_11_n_grams",
    "duplicated_12_n_grams",
    "duplicated_13_n_grams",
    "duplicated_14_n_grams",
    "duplicated_15_n_grams",
    "duplicated_16_n_grams",
    "duplicated_17_n_grams",
    "duplicated_18_n_grams",
    "duplicated_19_n_grams",
    "duplicated_20_n_grams",
];

/// Settings of [`GopherRepetitionFilter`]. Field names are datatrove's constructor arguments; the defaults
/// are the paper's thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GopherRepetitionConfig {
    /// Run this filter (default true).
    pub enabled: bool,
    /// Largest share of lines that repeat an earlier line (0.3; 0 turns the rule off).
    pub dup_line_frac: f64,
    /// Largest share of paragraphs that repeat an earlier paragraph (0.3; 0 turns the rule off).
    pub dup_para_frac: f64,
    /// Largest share of the characters in repeated lines (0.2; 0 turns the rule off).
    pub dup_line_char_frac: f64,
    /// Largest share of the characters in repeated paragraphs (0.2; 0 turns the rule off).
    pub dup_para_char_frac: f64,
    /// `[n, fraction]` pairs: the most frequent n-gram may cover at most this share of the characters
    /// (`[[2, 0.2], [3, 0.18], [4, 0.16]]`).
    pub top_n_grams: Vec<(usize, f64)>,
    /// `[n, fraction]` pairs: repeated n-grams may cover at most this share of the characters
    /// (`[[5, 0.15], [6, 0.14], [7, 0.13], [8, 0.12], [9, 0.11], [10, 0.1]]`).
    pub dup_n_grams: Vec<(usize, f64)>,
}

impl Default for GopherRepetitionConfig {
    fn default() -> Self {
        GopherRepetitionConfig {
            enabled: true,
            dup_line_frac: 0.3,
            dup_para_frac: 0.3,
            dup_line_char_frac: 0.2,
            dup_para_char_frac: 0.2,
            top_n_grams: vec![(2, 0.2), (3, 0.18), (4, 0.16)],
            dup_n_grams: vec![
                (5, 0.15),
                (6, 0.14),
                (7, 0.13),
                (8, 0.12),
                (9, 0.11),
                (10, 0.1),
            ],
        }
    }
}

impl GopherRepetitionConfig {
    /// Checks the settings; the error names the first bad field.
    pub fn validate(&self) -> Result<(), String> {
        for (field, value) in [
            ("dup_line_frac", self.dup_line_frac),
            ("dup_para_frac", self.dup_para_frac),
            ("dup_line_char_frac", self.dup_line_char_frac),
            ("dup_para_char_frac", self.dup_para_char_frac),
        ] {
            check_ratio(field, value)?;
        }
        for (field, pairs) in [
            ("top_n_grams", &self.top_n_grams),
            ("dup_n_grams", &self.dup_n_grams),
        ] {
            for (i, &(n, frac)) in pairs.iter().enumerate() {
                if !(1..=MAX_N).contains(&n) {
                    return Err(format!("{field}[{i}]: n must be in 1..={MAX_N}, not {n}"));
                }
                check_ratio(&format!("{field}[{i}]"), frac)?;
            }
        }
        Ok(())
    }
}

/// The Gopher repetition filter: keeps a document only if every rule of [`GopherRepetitionConfig`] holds.
#[derive(Debug, Clone)]
pub struct GopherRepetitionFilter {
    config: GopherRepetitionConfig,
}

impl GopherRepetitionFilter {
    /// The filter with `config` (checked with [`GopherRepetitionConfig::validate`] by the caller; an n
    /// outside 1..=[`MAX_N`] is skipped).
    pub fn new(config: &GopherRepetitionConfig) -> GopherRepetitionFilter {
        GopherRepetitionFilter {
            config: config.clone(),
        }
    }

    /// Keeps `text` (`Ok`) or says which rule removes it, checking the rules in datatrove's order and
    /// stopping at the first that fails.
    pub fn check(&self, text: &str) -> Result<(), Rejection> {
        self.check_lines(text)?;
        self.check_words(text, &split_into_words(text))
    }

    /// The paragraph and line rules, which come first and need no words.
    pub(super) fn check_lines(&self, text: &str) -> Result<(), Rejection> {
        if text.is_empty() {
            return Err(reject(NAME, "empty", 0.0, 0.0));
        }
        let c = &self.config;
        let text_chars = char_len(text) as f64;
        let mut seen = HashedSet::with_capacity_and_hasher(text.len() / 64, Prehashed);

        let paragraphs = duplicates(split_paragraphs(py_strip(text)), &mut seen);
        let para_frac = paragraphs.elements as f64 / paragraphs.total as f64;
        if c.dup_para_frac > 0.0 && para_frac > c.dup_para_frac {
            return Err(reject(NAME, "dup_para_frac", para_frac, c.dup_para_frac));
        }
        let para_char_frac = paragraphs.chars as f64 / text_chars;
        if c.dup_para_char_frac > 0.0 && para_char_frac > c.dup_para_char_frac {
            return Err(reject(
                NAME,
                "dup_para_char_frac",
                para_char_frac,
                c.dup_para_char_frac,
            ));
        }

        seen.clear();
        let lines = duplicates(split_line_runs(text), &mut seen);
        let line_frac = lines.elements as f64 / lines.total as f64;
        if c.dup_line_frac > 0.0 && line_frac > c.dup_line_frac {
            return Err(reject(NAME, "dup_line_frac", line_frac, c.dup_line_frac));
        }
        let line_char_frac = lines.chars as f64 / text_chars;
        if c.dup_line_char_frac > 0.0 && line_char_frac > c.dup_line_char_frac {
            return Err(reject(
                NAME,
                "dup_line_char_frac",
                line_char_frac,
                c.dup_line_char_frac,
            ));
        }
        Ok(())
    }

    /// The n-gram rules over the words of `text` (not empty: [`Self::check_lines`] runs first).
    pub(super) fn check_words(&self, text: &str, words: &[&str]) -> Result<(), Rejection> {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                let result = self.check_words_with(text, words, &mut scratch);
                if words.len() > KEEP_SCRATCH_WORDS {
                    *scratch = NgramScratch::new();
                }
                result
            }
            Err(_) => self.check_words_with(text, words, &mut NgramScratch::new()),
        })
    }

    fn check_words_with(
        &self,
        text: &str,
        words: &[&str],
        scratch: &mut NgramScratch,
    ) -> Result<(), Rejection> {
        let c = &self.config;
        let ascii = text.is_ascii();
        let text_chars = (if ascii { text.len() } else { char_len(text) }).max(1) as f64;
        let NgramScratch {
            hashes,
            counts,
            window_counts,
            unique_starts,
            seen,
        } = scratch;
        hashes.fill(words, |w| if ascii { w.len() } else { char_len(w) });
        let n_words = hashes.len();

        // An n-gram occurs at most as often as each m-gram inside it (m < n), so the counts of the m-grams
        // at each position bound the top n-gram's characters, which mostly shows that it cannot reach its
        // threshold. `counted` is the m whose counts `window_counts` holds.
        let mut counted = None;
        for (i, &(n, frac)) in c.top_n_grams.iter().enumerate() {
            if n == 0 || n > MAX_N || n > n_words {
                continue;
            }
            if let Some(m) = counted.filter(|&m| m < n)
                && top_ngram_bound(hashes, n, m, window_counts) as f64 / text_chars <= frac
            {
                continue;
            }
            let keep_counts = c.top_n_grams[i + 1..].iter().any(|&(later, _)| later > n);
            let (top_chars, _) = top_ngram(
                hashes,
                n,
                counts,
                keep_counts.then_some(&mut *window_counts),
            );
            if keep_counts {
                counted = Some(n);
            }
            let value = top_chars as f64 / text_chars;
            if value > frac {
                return Err(reject(NAME, TOP_REASONS[n], value, frac));
            }
        }

        // No such shortcut for the repeated n-grams: they are compared joined without spaces, so a 2-gram
        // can repeat ("ab cd", then "a bcd") where no word does. What they share is the bytes each n-gram
        // opens with, which rule most n-grams out for every n at once.
        if c.dup_n_grams.iter().any(|&(n, _)| (1..=MAX_N).contains(&n)) {
            unique_starts.fill(text, words);
        }
        for &(n, frac) in &c.dup_n_grams {
            if n == 0 || n > MAX_N {
                continue;
            }
            let repeated = repeated_ngram_chars(hashes, n, unique_starts, seen);
            let value = repeated as f64 / text_chars;
            if value > frac {
                return Err(reject(NAME, DUP_REASONS[n], value, frac));
            }
        }
        Ok(())
    }
}

/// Above this many words, a document's n-gram buffers are freed after use rather than kept for the next.
const KEEP_SCRATCH_WORDS: usize = 1 << 20;

thread_local! {
    /// Each thread's n-gram buffers, reused from one document to the next.
    static SCRATCH: RefCell<NgramScratch> = RefCell::new(NgramScratch::new());
}

/// The buffers of the n-gram rules.
struct NgramScratch {
    hashes: WordHashes,
    counts: NgramTable,
    /// The count of the n-gram at each position, for the last n counted.
    window_counts: Vec<u32>,
    unique_starts: UniqueStarts,
    seen: KeySet,
}

impl NgramScratch {
    fn new() -> NgramScratch {
        NgramScratch {
            hashes: WordHashes::default(),
            counts: NgramTable::new(0),
            window_counts: Vec::new(),
            unique_starts: UniqueStarts::default(),
            seen: KeySet::new(),
        }
    }
}

/// datatrove's `find_duplicates`: how many elements repeat an earlier one, and their characters.
struct Duplicates {
    total: usize,
    elements: usize,
    chars: usize,
}

fn duplicates<'t>(parts: impl Iterator<Item = &'t str>, seen: &mut HashedSet) -> Duplicates {
    let mut dups = Duplicates {
        total: 0,
        elements: 0,
        chars: 0,
    };
    for part in parts {
        dups.total += 1;
        if !seen.insert(xxhash_rust::xxh3::xxh3_64(part.as_bytes())) {
            dups.elements += 1;
            dups.chars += char_len(part);
        }
    }
    dups
}

/// `re.split(r"\n{2,}", s)`: datatrove's paragraphs.
fn split_paragraphs(s: &str) -> impl Iterator<Item = &str> {
    split_at_newline_runs(s, 2)
}

/// `re.split(r"\n+", s)`: datatrove's lines for the repetition counts.
fn split_line_runs(s: &str) -> impl Iterator<Item = &str> {
    split_at_newline_runs(s, 1)
}

/// `s` split at every run of at least `min_run` `\n`; a shorter run stays inside its part.
fn split_at_newline_runs(s: &str, min_run: usize) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let text = rest?;
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(offset) = memchr::memchr(b'\n', &bytes[i..]) {
            let start = i + offset;
            let run = bytes[start..].iter().take_while(|&&b| b == b'\n').count();
            if run >= min_run {
                rest = Some(&text[start + run..]);
                return Some(&text[..start]);
            }
            i = start + run;
        }
        rest = None;
        Some(text)
    })
}

/// datatrove's `find_top_duplicate(get_n_grams(words, n))`: characters of the most frequent n-gram (words
/// joined by spaces) times its count, and that count; the first-seen n-gram wins a tie. With
/// `window_counts`, also the count of the n-gram at each position, for [`top_ngram_bound`].
fn top_ngram(
    hashes: &WordHashes,
    n: usize,
    counts: &mut NgramTable,
    mut window_counts: Option<&mut Vec<u32>>,
) -> (usize, usize) {
    let seq_pow = WordHashes::seq_pow(n);
    let windows = hashes.len() + 1 - n;
    // Sized for every window, so the table does not grow and each window's slot stays valid.
    counts.reset(windows);
    if let Some(slots) = window_counts.as_deref_mut() {
        slots.clear();
        slots.reserve(windows);
    }
    let (mut best_count, mut best_first) = (0, 0);
    for start in 0..windows {
        let slot = counts.add(hashes.sequence(start, n, seq_pow), start as u32);
        let (count, first) = counts.entry(slot);
        if count > best_count || (count == best_count && first < best_first) {
            (best_count, best_first) = (count, first);
        }
        if let Some(slots) = window_counts.as_deref_mut() {
            slots.push(slot as u32);
        }
    }
    if let Some(slots) = window_counts {
        for slot in slots.iter_mut() {
            *slot = counts.entry(*slot as usize).0;
        }
    }
    let (count, first) = (best_count as usize, best_first as usize);
    ((hashes.chars(first, first + n) + n - 1) * count, count)
}

/// An upper bound of [`top_ngram`]'s characters for `n`, from `window_counts`, the count of the m-gram at
/// each position (m < n): the n-gram at `start` occurs at most as often as any of the m-grams inside it.
fn top_ngram_bound(hashes: &WordHashes, n: usize, m: usize, window_counts: &[u32]) -> usize {
    // Each n-gram holds n - m + 1 m-grams; there are as many runs of that many m-grams as n-grams.
    window_counts
        .windows(n - m + 1)
        .enumerate()
        .map(|(start, counts)| {
            let count = counts.iter().min().map_or(0, |&count| count as usize);
            count * (hashes.chars(start, start + n) + n - 1)
        })
        .max()
        .unwrap_or(0)
}

/// datatrove's `find_all_duplicate(words, n)`: scanning left to right, the characters of every n-gram (words
/// joined with no separator) seen before, jumping past each one. The n-grams `unique` skips equal no other,
/// so they are neither repeats nor repeated later, and are passed over without hashing.
fn repeated_ngram_chars(
    hashes: &WordHashes,
    n: usize,
    unique: &UniqueStarts,
    seen: &mut KeySet,
) -> usize {
    let n_words = hashes.len();
    seen.reset((n_words + 1).saturating_sub(n));
    let mut repeated = 0;
    let mut start = 0;
    while start + n <= n_words {
        if unique.skips(hashes, start, start + n) || seen.insert(hashes.concat(start, start + n)) {
            start += 1;
        } else {
            repeated += hashes.chars(start, start + n);
            start += n;
        }
    }
    repeated
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn filter() -> GopherRepetitionFilter {
        GopherRepetitionFilter::new(&GopherRepetitionConfig::default())
    }

    /// Only the rule under test switched on.
    fn only(config: GopherRepetitionConfig) -> GopherRepetitionFilter {
        GopherRepetitionFilter::new(&config)
    }

    fn off() -> GopherRepetitionConfig {
        GopherRepetitionConfig {
            enabled: true,
            dup_line_frac: 0.0,
            dup_para_frac: 0.0,
            dup_line_char_frac: 0.0,
            dup_para_char_frac: 0.0,
            top_n_grams: vec![],
            dup_n_grams: vec![],
        }
    }

    /// A distinct line of 10 characters for each `i` ("line 00001").
    fn line(i: usize) -> String {
        format!("line {i:05}")
    }

    #[test]
    fn splits_like_the_regexes() {
        let parts: Vec<&str> = split_paragraphs("a\nb\n\nc\n\n\n\nd").collect();
        assert_eq!(parts, ["a\nb", "c", "d"]);
        let lines: Vec<&str> = split_line_runs("\na\n\nb\n").collect();
        assert_eq!(lines, ["", "a", "b", ""]);
        assert_eq!(split_line_runs("").collect::<Vec<_>>(), [""]);
    }

    #[test]
    fn duplicate_line_fraction_boundaries() {
        let f = only(GopherRepetitionConfig {
            dup_line_frac: 0.3,
            ..off()
        });
        // 10 lines, k of them repeating line 0.
        let text = |k: usize| {
            (0..10)
                .map(|i| if i < k { line(0) } else { line(i) })
                .collect::<Vec<_>>()
                .join("\n")
        };
        // k copies of line 0 make k - 1 duplicates.
        assert_eq!(f.check(&text(3)), Ok(()));
        assert_eq!(f.check(&text(4)), Ok(())); // exactly 0.3
        let r = f.check(&text(5)).unwrap_err();
        assert_eq!(
            (r.reason, r.value, r.threshold),
            ("dup_line_frac", 0.4, 0.3)
        );
    }

    #[test]
    fn duplicate_line_char_fraction_boundaries() {
        let f = only(GopherRepetitionConfig {
            dup_line_char_frac: 0.2,
            ..off()
        });
        // 10 lines of 10 chars + 9 newlines = 109 chars; one repeated line is 10 / 109.
        let text = |k: usize| {
            (0..10)
                .map(|i| if i < k { line(0) } else { line(i) })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(f.check(&text(3)), Ok(())); // 20 / 109 = 0.183
        let r = f.check(&text(4)).unwrap_err(); // 30 / 109 = 0.275
        assert_eq!((r.reason, r.value), ("dup_line_char_frac", 30.0 / 109.0));
        // Exactly 0.2: 20 repeated chars in 100.
        let exact = format!("{0}\n{0}\n{0}\n{1}", line(0), "x".repeat(67));
        assert_eq!(char_len(&exact), 100);
        assert_eq!(f.check(&exact), Ok(()));
    }

    #[test]
    fn duplicate_paragraph_boundaries() {
        let f = only(GopherRepetitionConfig {
            dup_para_frac: 0.3,
            ..off()
        });
        let text = |k: usize| {
            (0..10)
                .map(|i| if i < k { line(0) } else { line(i) })
                .collect::<Vec<_>>()
                .join("\n\n")
        };
        assert_eq!(f.check(&text(4)), Ok(()));
        assert_eq!(f.check(&text(5)).unwrap_err().reason, "dup_para_frac");
        let f = only(GopherRepetitionConfig {
            dup_para_char_frac: 0.2,
            ..off()
        });
        // 10 paragraphs of 10 chars + 9 x 2 newlines = 118 chars.
        assert_eq!(f.check(&text(3)), Ok(())); // 20 / 118
        let r = f.check(&text(4)).unwrap_err(); // 30 / 118
        assert_eq!((r.reason, r.value), ("dup_para_char_frac", 30.0 / 118.0));
    }

    #[test]
    fn empty_text_is_removed_and_blank_lines_count() {
        assert_eq!(filter().check("").unwrap_err().reason, "empty");
        // Leading and trailing newlines make two empty lines: one duplicate of 3 lines.
        let f = only(GopherRepetitionConfig {
            dup_line_frac: 0.3,
            ..off()
        });
        assert_eq!(f.check("\nabc\n").unwrap_err().reason, "dup_line_frac");
        assert_eq!(filter().check("\n \n").unwrap_err().reason, "dup_line_frac");
    }

    #[test]
    fn top_ngram_boundaries() {
        let f = only(GopherRepetitionConfig {
            top_n_grams: vec![(2, 0.2)],
            ..off()
        });
        // "ab cd" (5 chars) k times among distinct words; text = 100 chars.
        let text = |k: usize| {
            let mut words: Vec<String> = (0..k).map(|_| "ab cd".to_string()).collect();
            let used: usize = words.iter().map(|w| w.len() + 1).sum();
            // Pad with distinct 4-char words ("w000") to exactly 100 chars.
            let mut i = 0;
            while used + 5 * (i + 1) <= 100 {
                words.push(format!("w{i:03}"));
                i += 1;
            }
            let mut t = words.join(" ");
            while t.len() < 100 {
                t.push('.');
            }
            t
        };
        for k in [3, 4, 5] {
            assert_eq!(text(k).len(), 100);
        }
        assert_eq!(f.check(&text(3)), Ok(())); // 15 / 100
        assert_eq!(f.check(&text(4)), Ok(())); // 20 / 100, exactly the threshold
        let r = f.check(&text(5)).unwrap_err();
        assert_eq!((r.reason, r.value, r.threshold), ("top_2_gram", 0.25, 0.2));
    }

    #[test]
    fn top_ngram_tie_goes_to_the_first_seen() {
        let words = ["a", "b", "xxxx", "yyyy", "a", "b", "xxxx", "yyyy"];
        let hashes = WordHashes::new(&words, str::len);
        let mut counts = NgramTable::new(8);
        // "a b" and "xxxx yyyy" both appear twice; "a b" came first: 3 chars x 2.
        assert_eq!(top_ngram(&hashes, 2, &mut counts, None), (6, 2));
        let words = ["xxxx", "yyyy", "a", "b", "xxxx", "yyyy", "a", "b"];
        let hashes = WordHashes::new(&words, str::len);
        assert_eq!(top_ngram(&hashes, 2, &mut counts, None), (18, 2));
    }

    #[test]
    fn window_counts_bound_the_longer_top_ngram() {
        let words = ["a", "b", "a", "b", "a", "cc"];
        let hashes = WordHashes::new(&words, str::len);
        let mut counts = NgramTable::new(8);
        let mut window_counts = Vec::new();
        // 2-grams "a b" x2, "b a" x2, "a cc" x1.
        assert_eq!(
            top_ngram(&hashes, 2, &mut counts, Some(&mut window_counts)),
            (6, 2)
        );
        assert_eq!(window_counts, [2, 2, 2, 2, 1]);
        // Each 3-gram but the last holds two 2-grams seen twice: the bound is 2 x 5 chars, which the true
        // top 3-gram ("a b a", twice) reaches.
        assert_eq!(top_ngram_bound(&hashes, 3, 2, &window_counts), 10);
        assert_eq!(top_ngram(&hashes, 3, &mut counts, None), (10, 2));
    }

    /// [`repeated_ngram_chars`] of `words` (slices of `text`, or not), with its [`UniqueStarts`] filled as
    /// the filter fills them.
    fn repeated_in(text: &str, words: &[&str], n: usize, seen: &mut KeySet) -> usize {
        let hashes = WordHashes::new(words, str::len);
        let mut unique = UniqueStarts::default();
        unique.fill(text, words);
        repeated_ngram_chars(&hashes, n, &unique, seen)
    }

    fn repeated(words: &[&str], n: usize, seen: &mut KeySet) -> usize {
        repeated_in("", words, n, seen)
    }

    #[test]
    fn repeated_ngrams_jump_past_each_repeat() {
        let mut seen = KeySet::new();
        // "a b c d e" twice: the second occurrence (5 chars joined) is repeated.
        let words = ["a", "b", "c", "d", "e", "a", "b", "c", "d", "e"];
        assert_eq!(repeated(&words, 5, &mut seen), 5);
        let words = ["aa"; 6];
        // n = 2: 0 new; 1 repeat (+4, to 3); 3 repeat (+4, to 5); stop.
        assert_eq!(repeated(&words, 2, &mut seen), 8);
        // Joined without separator, "ab"+"c" repeats "a"+"bc".
        let words = ["a", "bc", "ab", "c"];
        assert_eq!(repeated(&words, 2, &mut seen), 3);
        // So a 2-gram can repeat where no word does.
        let words = ["ab", "cd", "a", "bcd"];
        assert_eq!(repeated(&words, 1, &mut seen), 0);
        assert_eq!(repeated(&words, 2, &mut seen), 4);
        // Also when the n-grams are longer than the bytes `UniqueStarts` compares.
        let words = ["abcdefgh", "ijklmnopq", "x", "abcdefghijkl", "mnopq", "y"];
        assert_eq!(repeated(&words, 2, &mut seen), 17);
    }

    /// datatrove's `find_all_duplicate`, on strings.
    fn find_all_duplicate(words: &[&str], n: usize) -> usize {
        let mut unique = std::collections::HashSet::new();
        let (mut repeated, mut idx) = (0, 0);
        while idx + n <= words.len() {
            let ngram = words[idx..idx + n].concat();
            if unique.contains(&ngram) {
                repeated += ngram.len();
                idx += n;
            } else {
                unique.insert(ngram);
                idx += 1;
            }
        }
        repeated
    }

    #[test]
    fn repeated_ngrams_equal_datatrove_on_random_words() {
        // Words cut from a few phrases at random places, so that n-grams repeat with and without the same
        // word boundaries, shorter and longer than the bytes `UniqueStarts` compares.
        let phrases = [
            "abcdefghijklmnopqrstuvwxyz",
            "abcabcabc",
            "the cat sat",
            "zz",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        let mut seen = KeySet::new();
        for _ in 0..300 {
            let mut words: Vec<&str> = Vec::new();
            while words.len() < 60 {
                let phrase = phrases[next(phrases.len())];
                let mut at = 0;
                while at < phrase.len() {
                    let len = 1 + next(6.min(phrase.len() - at));
                    words.push(&phrase[at..at + len]);
                    at += len;
                }
            }
            // The same words as slices of a text, which `UniqueStarts` reads 16 bytes at a time.
            let text = words.join(" ");
            let mut rest = text.as_str();
            let sliced: Vec<&str> = words
                .iter()
                .map(|word| {
                    let (slice, after) = rest.split_at(word.len());
                    rest = after.strip_prefix(' ').unwrap_or(after);
                    slice
                })
                .collect();
            for n in 1..=10 {
                let expected = find_all_duplicate(&words, n);
                assert_eq!(repeated(&words, n, &mut seen), expected, "{words:?} {n}");
                assert_eq!(
                    repeated_in(&text, &sliced, n, &mut seen),
                    expected,
                    "{words:?} {n}"
                );
            }
        }
    }

    #[test]
    fn repeated_ngram_boundaries() {
        let f = only(GopherRepetitionConfig {
            dup_n_grams: vec![(5, 0.15)],
            ..off()
        });
        // `copies` times "a b c d e" (5 characters joined), padded with distinct words to `total` chars:
        // each copy after the first is a repeated 5-gram.
        let text = |copies: usize, total: usize| {
            let mut t = vec!["a b c d e"; copies].join(" ");
            let mut i = 0;
            while t.len() + 5 <= total {
                t.push_str(&format!(" w{i:03}"));
                i += 1;
            }
            while t.len() < total {
                t.push('.');
            }
            t
        };
        // 3 copies: 10 repeated chars / 100 = 0.1 kept; 4 copies: 15 / 100 exactly 0.15 kept; 5: 0.2.
        assert_eq!(f.check(&text(3, 100)), Ok(()));
        assert_eq!(f.check(&text(4, 100)), Ok(()));
        let r = f.check(&text(5, 100)).unwrap_err();
        assert_eq!((r.reason, r.value), ("duplicated_5_n_grams", 0.2));
    }

    #[test]
    fn validate_names_the_field() {
        let bad = GopherRepetitionConfig {
            dup_line_frac: -0.1,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("dup_line_frac"));
        let bad = GopherRepetitionConfig {
            top_n_grams: vec![(0, 0.2)],
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("top_n_grams[0]"));
        let bad = GopherRepetitionConfig {
            dup_n_grams: vec![(5, 0.1), (6, 2.0)],
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("dup_n_grams[1]"));
        assert!(GopherRepetitionConfig::default().validate().is_ok());
    }

    #[test]
    fn keeps_real_prose() {
        let text = "The committee met on Tuesday to discuss the new budget.\n\nMembers agreed that the \
                    proposal, which had been revised twice, was ready for a vote. Several of them noted \
                    that funding for schools and roads would rise, while spending on administration would \
                    fall.\n\nThe chair thanked everyone for their work and said the final vote would take \
                    place next month, after a public hearing with residents.";
        assert_eq!(filter().check(text), Ok(()));
    }

    #[test]
    fn removes_boilerplate_repeats() {
        let text = "Click here to subscribe to our newsletter today.\n".repeat(5);
        let r = filter().check(&text).unwrap_err();
        assert_eq!(r.reason, "dup_line_frac");
    }
}

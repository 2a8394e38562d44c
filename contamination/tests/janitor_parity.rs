//! Parity of [`Mode::Janitor`] with EleutherAI lm-evaluation-harness 0.4.13's Janitor in Python mode
//! (`lm_eval/decontamination/janitor.py`).
//!
//! The expected values were produced by that file itself: for each case, `Janitor(ngram_n=n)`,
//! `register_contaminant_python(contaminant)`, then `sorted(janitor.dirt_ngrams)` and the `(start, end)`
//! pairs of `word_ngrams_indices(text, n)` whose normalised n-gram is in `dirt_ngrams` (what
//! `clean_python` hands to `_split_chunks`): character offsets, `end` inclusive.
#![allow(clippy::unwrap_used)]

use corpus_contamination::{BenchmarkSet, Mode};

struct Case {
    text: &'static str,
    contaminant: &'static str,
    n: usize,
    ngrams: &'static [&'static str],
    hits: &'static [(usize, usize)],
}

const CASES: &[Case] = &[
    // The Janitor's own test string, twice.
    Case {
        text: "   ,, I'm a very !dirty,, ,,  dirty boy. Clean me daddy. \n\nhe he he hehe heh.  lastword     ,, \
               I'm a very !dirty,, ,,  dirty boy. Clean me daddy. \n\nhe he he hehe heh.  lastword  ",
        contaminant: "dirty boy. Clean he he",
        n: 3,
        ngrams: &["boy clean he", "clean he he", "dirty boy clean"],
        hits: &[(30, 45), (119, 134)],
    },
    // Only ASCII is lowercased: "NAÏVE" is not "naïve", "CAFÉ" becomes "cafÉ".
    Case {
        text: "Intro. ÀB café, NAÏVE Résumé — «quoted» end.",
        contaminant: "àb CAFÉ naïve résumé — «QUOTED»",
        n: 4,
        ngrams: &[
            "cafÉ naïve résumé —",
            "naïve résumé — «quoted»",
            "àb cafÉ naïve résumé",
        ],
        hits: &[],
    },
    // Non-ASCII words and "—" (not ASCII punctuation) are words; offsets are characters, not bytes.
    Case {
        text: "Intro. ÀB café, naïve Résumé — «quoted» end.",
        contaminant: "Àb CAFé naïve Résumé — «QUOTED»",
        n: 4,
        ngrams: &[
            "café naïve résumé —",
            "naïve résumé — «quoted»",
            "Àb café naïve résumé",
        ],
        hits: &[(7, 27), (10, 29), (16, 38)],
    },
    // A punctuation-only token ("--") breaks n-grams in cleaning, though not in registration.
    Case {
        text: "alpha beta -- gamma delta. Alpha, BETA gamma!",
        contaminant: "alpha beta gamma delta",
        n: 3,
        ngrams: &["alpha beta gamma", "beta gamma delta"],
        hits: &[(27, 44)],
    },
    // Punctuation inside tokens is deleted; NBSP and U+001C split words.
    Case {
        text: "See the U.S.A. (don't) go\u{a0}now\u{1c}please x",
        contaminant: "usa dont go now please",
        n: 3,
        ngrams: &["dont go now", "go now please", "usa dont go"],
        hits: &[(8, 24), (15, 28), (23, 35)],
    },
    // Ideographic space and LINE SEPARATOR split; ZERO WIDTH SPACE does not.
    Case {
        text: "tab\tsep\u{3000}ideo\u{2028}line end\u{200b}joined",
        contaminant: "TAB SEP IDEO LINE",
        n: 2,
        ngrams: &["ideo line", "sep ideo", "tab sep"],
        hits: &[(0, 6), (4, 11), (8, 16)],
    },
];

/// Byte offset of character `index` in `text` (the text's length past the end).
fn byte_of_char(text: &str, index: usize) -> usize {
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(at, _)| at)
}

#[test]
fn janitor_mode_registers_and_finds_what_the_janitor_does() {
    for case in CASES {
        let mut set = BenchmarkSet::new(Mode::Janitor);
        set.add("case", &[case.contaminant.to_string()], case.n)
            .unwrap();
        let mut ngrams: Vec<String> = (0..set.ngrams() as u32)
            .map(|id| set.ngram_text(id))
            .collect();
        ngrams.sort();
        assert_eq!(ngrams, case.ngrams, "{:?}", case.text);

        let found: Vec<(usize, usize)> = set
            .find(case.text)
            .iter()
            .map(|hit| (hit.start, hit.end))
            .collect();
        let expected: Vec<(usize, usize)> = case
            .hits
            .iter()
            .map(|&(start, end)| {
                (
                    byte_of_char(case.text, start),
                    byte_of_char(case.text, end + 1),
                )
            })
            .collect();
        assert_eq!(found, expected, "{:?}", case.text);
    }
}

#[test]
fn gpt3_mode_spans_punctuation_only_tokens_where_the_janitor_does_not() {
    let case = &CASES[3];
    let mut set = BenchmarkSet::new(Mode::Gpt3);
    set.add("case", &[case.contaminant.to_string()], case.n)
        .unwrap();
    let found: Vec<&str> = set
        .find(case.text)
        .iter()
        .map(|hit| &case.text[hit.range()])
        .collect();
    assert_eq!(
        found,
        [
            "alpha beta -- gamma",
            "beta -- gamma delta.",
            "Alpha, BETA gamma!"
        ]
    );
}

//! The published heuristic rule filters: Gopher quality and Gopher repetition (Rae et al. 2021, App. A.1.1),
//! C4 (Raffel et al. 2020, §2.2) and FineWeb (Penedo et al. 2024, §3.3), each a pure function of a
//! document's text, and [`RuleChain`], which runs the enabled ones in order.
//!
//! Each filter follows datatrove 0.10.1's implementation (the reference our decisions are compared with:
//! `bench/peers/filters_compare.py`) rather than the papers where the two differ; each file lists the
//! differences. Words are counted as datatrove counts them for English, with a port of the spaCy tokenizer
//! it uses (`words.rs`), and every length is in characters, as Python's `len`.
//!
//! Every filter takes a serde config whose defaults are the published thresholds and whose field names are
//! datatrove's constructor arguments, with `enabled` to turn it off; [`RulesConfig`] gathers the four.

mod c4;
mod fineweb;
mod gopher_quality;
mod gopher_repetition;
mod hashes;
mod tables;
mod text;
mod words;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

pub use c4::{C4QualityConfig, C4QualityFilter};
pub use fineweb::{FineWebQualityConfig, FineWebQualityFilter};
pub use gopher_quality::{GopherQualityConfig, GopherQualityFilter};
pub use gopher_repetition::{GopherRepetitionConfig, GopherRepetitionFilter, MAX_N};
pub use words::{count_sentences, split_into_words};

use crate::Rejection;

/// The settings of the four rule filters (`[quality.rules.*]` in a pipeline config). Every field defaults
/// to the published thresholds with the filter on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Gopher quality.
    pub gopher_quality: GopherQualityConfig,
    /// Gopher repetition.
    pub gopher_repetition: GopherRepetitionConfig,
    /// C4.
    pub c4: C4QualityConfig,
    /// FineWeb.
    pub fineweb: FineWebQualityConfig,
}

impl RulesConfig {
    /// Checks every filter's settings; the error names the bad field as `filter.field`.
    pub fn validate(&self) -> Result<(), String> {
        let named =
            |filter: &str, result: Result<(), String>| result.map_err(|e| format!("{filter}.{e}"));
        named("gopher_quality", self.gopher_quality.validate())?;
        named("gopher_repetition", self.gopher_repetition.validate())?;
        named("c4", self.c4.validate())?;
        named("fineweb", self.fineweb.validate())
    }
}

/// The enabled rule filters, run in the order GopherRepetition, GopherQuality, C4, FineWeb (datatrove's
/// order in FineWeb's pipeline). C4 rewrites the text, and FineWeb sees C4's output.
#[derive(Debug, Clone)]
pub struct RuleChain {
    gopher_repetition: Option<GopherRepetitionFilter>,
    gopher_quality: Option<GopherQualityFilter>,
    c4: Option<C4QualityFilter>,
    fineweb: Option<FineWebQualityFilter>,
}

impl RuleChain {
    /// The chain of the filters `config` enables, after checking `config` (the error names the bad field),
    /// with C4's bad-words rule when `bad_words` is not empty (see [`C4QualityFilter::with_bad_words`];
    /// reading the list from a file is the caller's job).
    pub fn new(config: &RulesConfig, bad_words: &[String]) -> Result<RuleChain, String> {
        config.validate()?;
        let c4 = if config.c4.enabled {
            Some(C4QualityFilter::new(&config.c4).with_bad_words(bad_words)?)
        } else {
            None
        };
        Ok(RuleChain {
            gopher_repetition: config
                .gopher_repetition
                .enabled
                .then(|| GopherRepetitionFilter::new(&config.gopher_repetition)),
            gopher_quality: config
                .gopher_quality
                .enabled
                .then(|| GopherQualityFilter::new(&config.gopher_quality)),
            c4,
            fineweb: config
                .fineweb
                .enabled
                .then(|| FineWebQualityFilter::new(&config.fineweb)),
        })
    }

    /// The names of the enabled filters, in the order they run.
    pub fn filters(&self) -> Vec<&'static str> {
        let mut names = Vec::with_capacity(4);
        if self.gopher_repetition.is_some() {
            names.push("gopher_repetition");
        }
        if self.gopher_quality.is_some() {
            names.push("gopher_quality");
        }
        if self.c4.is_some() {
            names.push("c4");
        }
        if self.fineweb.is_some() {
            names.push("fineweb");
        }
        names
    }

    /// The text to keep (C4's cleaned text when C4 is on, else `text` itself), or the first rule that
    /// removes the document. `text` is tokenized once: both Gopher filters use its words, C4 counts each
    /// kept line's sentences from its tokens, and FineWeb gets the word count of C4's output from C4.
    pub fn apply<'t>(&self, text: &'t str) -> Result<Cow<'t, str>, Rejection> {
        let mut split = None;
        if let Some(filter) = &self.gopher_repetition {
            filter.check_lines(text)?;
            filter.check_words(text, split_once(&mut split, text).1)?;
        }
        if let Some(filter) = &self.gopher_quality {
            filter.check_words(text, split_once(&mut split, text).1)?;
        }
        let (kept, n_words) = match &self.c4 {
            Some(filter) => {
                // FineWeb needs the words of every kept line, and tokenizing the whole text once costs
                // no more than tokenizing those lines.
                let tokens = if split.is_some() || self.fineweb.is_some() {
                    Some(split_once(&mut split, text).0)
                } else {
                    None
                };
                let (cleaned, n_words) = filter.clean_counting_words(text, tokens)?;
                (Cow::Owned(cleaned), Some(n_words))
            }
            None => (
                Cow::Borrowed(text),
                split.as_ref().map(|(_, words)| words.len()),
            ),
        };
        if let Some(filter) = &self.fineweb {
            filter.check_counted(&kept, n_words)?;
        }
        Ok(kept)
    }

    /// Each enabled filter's decision on `text` alone (not on another filter's output), in chain order:
    /// `None` keeps, `Some` says why the filter removes it. For comparing decisions filter by filter.
    pub fn explain(&self, text: &str) -> Vec<(&'static str, Option<Rejection>)> {
        let mut split = None;
        let (tokens, words) = split_once(&mut split, text);
        let mut decisions = Vec::with_capacity(4);
        if let Some(filter) = &self.gopher_repetition {
            let decision = filter
                .check_lines(text)
                .and_then(|()| filter.check_words(text, words));
            decisions.push(("gopher_repetition", decision.err()));
        }
        if let Some(filter) = &self.gopher_quality {
            decisions.push(("gopher_quality", filter.check_words(text, words).err()));
        }
        if let Some(filter) = &self.c4 {
            decisions.push(("c4", filter.clean_counting_words(text, Some(tokens)).err()));
        }
        if let Some(filter) = &self.fineweb {
            decisions.push((
                "fineweb",
                filter.check_counted(text, Some(words.len())).err(),
            ));
        }
        decisions
    }
}

/// The tokens and the words of `text`, split on first use and kept in `split` for the next filter.
fn split_once<'s, 't>(
    split: &'s mut Option<(Vec<words::Token<'t>>, Vec<&'t str>)>,
    text: &'t str,
) -> (&'s [words::Token<'t>], &'s [&'t str]) {
    let (tokens, words) = split.get_or_insert_with(|| {
        let tokens = words::tokenize(text);
        let words = tokens
            .iter()
            .filter(|t| !t.is_space)
            .map(|t| t.text)
            .collect();
        (tokens, words)
    });
    (tokens, words)
}

/// A [`Rejection`] by `filter`.
fn reject(filter: &'static str, reason: &'static str, value: f64, threshold: f64) -> Rejection {
    Rejection {
        filter,
        reason,
        value,
        threshold,
    }
}

/// Checks that a ratio setting named `field` is in [0, 1].
fn check_ratio(field: &str, value: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("{field} must be a ratio in [0, 1], not {value}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chain(config: &RulesConfig) -> RuleChain {
        RuleChain::new(config, &[]).unwrap()
    }

    /// A page of real-looking prose: kept by every filter.
    const PROSE: &str = "The committee met on Tuesday to discuss the new budget for the coming year.\n\
        Members agreed that the proposal, which had been revised twice, was ready for a vote.\n\
        Several of them noted that funding for schools and roads would rise next spring.\n\
        Spending on administration would fall, and the reserve fund would stay the same.\n\
        The chair thanked everyone for their work and said the final vote would take place next month.\n\
        A public hearing with residents is planned before that vote, at the town hall.\n\
        Accept cookies";

    #[test]
    fn keeps_prose_and_returns_c4s_text() {
        let kept = chain(&RulesConfig::default()).apply(PROSE).unwrap();
        assert!(matches!(kept, Cow::Owned(_)));
        assert_eq!(kept, PROSE.rsplit_once('\n').unwrap().0);
        let no_c4 = RulesConfig {
            c4: C4QualityConfig {
                enabled: false,
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(matches!(chain(&no_c4).apply(PROSE).unwrap(), Cow::Borrowed(t) if t == PROSE));
    }

    #[test]
    fn first_failing_filter_in_order_wins() {
        // Repeated lines fail both Gopher repetition and FineWeb; repetition runs first.
        let text = "The same line of text repeats here and there.\n".repeat(20);
        let r = chain(&RulesConfig::default()).apply(&text).unwrap_err();
        assert_eq!(r.filter, "gopher_repetition");
        let decisions = chain(&RulesConfig::default()).explain(&text);
        let names: Vec<&str> = decisions.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            ["gopher_repetition", "gopher_quality", "c4", "fineweb"]
        );
        assert_eq!(decisions[0].1.as_ref().unwrap().reason, "dup_line_frac");
        assert_eq!(decisions[3].1.as_ref().unwrap().reason, "char_dup_ratio");
    }

    #[test]
    fn explain_runs_each_filter_on_the_raw_text() {
        // C4 would drop the last line, which is the one FineWeb needs; explain ignores C4's output.
        let decisions = chain(&RulesConfig::default()).explain(PROSE);
        assert!(decisions.iter().all(|(_, d)| d.is_none()), "{decisions:?}");
    }

    #[test]
    fn disabled_filters_do_not_run() {
        let mut config = RulesConfig::default();
        config.gopher_repetition.enabled = false;
        config.fineweb.enabled = false;
        let c = chain(&config);
        assert_eq!(c.filters(), ["gopher_quality", "c4"]);
        assert_eq!(c.explain("").len(), 2);
        let mut none = config.clone();
        none.gopher_quality.enabled = false;
        none.c4.enabled = false;
        assert!(matches!(chain(&none).apply(""), Ok(Cow::Borrowed(""))));
    }

    #[test]
    fn fineweb_sees_c4s_output() {
        // Without C4, the short unpunctuated menu lines fail FineWeb; C4 removes them first.
        let menu = [
            "Home", "About", "Contact", "Shop", "Login", "Cart", "Help", "Blog", "News", "Jobs",
            "Press", "FAQ", "Terms", "Map", "Search", "Events",
        ]
        .map(|item| format!("{item}\n"))
        .concat();
        let text = format!("{menu}{}", PROSE);
        let mut config = RulesConfig::default();
        config.gopher_repetition.enabled = false;
        config.gopher_quality.enabled = false;
        assert_eq!(chain(&config).apply(&text).map(|_| ()), Ok(()));
        config.c4.enabled = false;
        assert_eq!(chain(&config).apply(&text).unwrap_err().filter, "fineweb");
    }

    #[test]
    fn bad_words_reach_c4() {
        let c = RuleChain::new(&RulesConfig::default(), &["budget".to_string()]).unwrap();
        assert_eq!(
            c.apply(PROSE).unwrap_err().reason,
            "document_removed_with_badwords"
        );
    }

    #[test]
    fn config_reads_partial_tables_and_rejects_unknown_fields() {
        let config: RulesConfig = serde_json::from_str(
            r#"{"gopher_quality": {"min_doc_words": 10}, "c4": {"enabled": false}}"#,
        )
        .unwrap();
        assert_eq!(config.gopher_quality.min_doc_words, 10);
        assert_eq!(config.gopher_quality.max_doc_words, 100_000);
        assert!(!config.c4.enabled && config.fineweb.enabled);
        let typo =
            serde_json::from_str::<RulesConfig>(r#"{"fineweb": {"line_punct_threshold": 0.1}}"#);
        assert!(
            typo.unwrap_err()
                .to_string()
                .contains("line_punct_threshold")
        );
        let pairs: RulesConfig =
            serde_json::from_str(r#"{"gopher_repetition": {"top_n_grams": [[2, 0.5]]}}"#).unwrap();
        assert_eq!(pairs.gopher_repetition.top_n_grams, [(2, 0.5)]);
    }

    #[test]
    fn validation_names_filter_and_field() {
        let mut config = RulesConfig::default();
        config.fineweb.char_duplicates_ratio = 1.5;
        assert!(
            RuleChain::new(&config, &[])
                .unwrap_err()
                .starts_with("fineweb.char_duplicates_ratio")
        );
        let mut config = RulesConfig::default();
        config.gopher_repetition.dup_n_grams.push((0, 0.1));
        assert!(
            config
                .validate()
                .unwrap_err()
                .starts_with("gopher_repetition.dup_n_grams[6]")
        );
    }

    /// The `text` of every record of a gzipped JSONL sample in `tests/data/webtext`.
    fn sample_texts(name: &str) -> Vec<String> {
        use std::io::BufRead;
        let path = format!(
            "{}/../tests/data/webtext/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let file = std::fs::File::open(&path).unwrap();
        std::io::BufReader::new(flate2::read::GzDecoder::new(file))
            .lines()
            .map(|line| {
                let record: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
                record["text"].as_str().unwrap().to_string()
            })
            .collect()
    }

    /// Reasons per document, in chain order, as [`RuleChain::explain`] gives them.
    fn reasons(chain: &RuleChain, text: &str) -> Vec<Option<&'static str>> {
        chain
            .explain(text)
            .into_iter()
            .map(|(_, r)| r.map(|r| r.reason))
            .collect()
    }

    /// datatrove 0.10.1's decisions on the C4 and CCNet samples (GopherRepetitionFilter(),
    /// GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter(), each on the raw text), recorded
    /// with `bench/peers/filters_compare.py --datatrove-only --c4-terminal-punct`.
    /// Every filter at datatrove's defaults (ours differ for C4, which follows the TFDS code).
    fn datatrove_defaults() -> RulesConfig {
        RulesConfig {
            c4: c4::C4QualityConfig::datatrove(),
            ..RulesConfig::default()
        }
    }

    #[test]
    fn matches_datatrove_on_c4_and_ccnet_samples() {
        let chain = chain(&datatrove_defaults());
        let keep = [None, None, None, None];
        /// A removed document: its index and each filter's reason.
        type Removed = (usize, [Option<&'static str>; 4]);
        let expected: [(&str, Vec<Removed>); 3] = [
            (
                "c4-en-sample.01.json.gz",
                vec![(
                    7,
                    [
                        None,
                        Some("gopher_short_doc"),
                        Some("too_few_sentences"),
                        None,
                    ],
                )],
            ),
            (
                "c4-en-sample.02.json.gz",
                vec![
                    (3, [None, None, Some("too_few_sentences"), None]),
                    (4, [None, None, Some("too_few_sentences"), None]),
                    (5, [None, Some("gopher_below_alpha_threshold"), None, None]),
                ],
            ),
            (
                "ccnet-cc_en_head-0091.jsonl.gz",
                vec![
                    (0, [None, None, Some("too_few_sentences"), None]),
                    (2, [None, None, Some("too_few_sentences"), None]),
                    (4, [None, Some("gopher_below_alpha_threshold"), None, None]),
                ],
            ),
        ];
        for (name, removed) in expected {
            let texts = sample_texts(name);
            assert_eq!(texts.len(), 10, "{name}");
            for (i, text) in texts.iter().enumerate() {
                let want = removed
                    .iter()
                    .find(|(j, _)| *j == i)
                    .map_or(keep, |(_, r)| *r);
                assert_eq!(reasons(&chain, text), want, "{name} document {i}");
            }
        }
    }

    /// The same on the 697 Dolma Common Crawl pages, as counts of each filter's reasons.
    #[test]
    fn matches_datatrove_on_dolma_sample() {
        let chain = chain(&datatrove_defaults());
        let texts =
            sample_texts("dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz");
        let mut counts: Vec<std::collections::BTreeMap<&str, usize>> = vec![Default::default(); 4];
        for text in &texts {
            for (count, reason) in counts.iter_mut().zip(reasons(&chain, text)) {
                *count.entry(reason.unwrap_or("kept")).or_default() += 1;
            }
        }
        let expected: [&[(&str, usize)]; 4] = [
            &[
                ("dup_line_char_frac", 7),
                ("dup_line_frac", 21),
                ("dup_para_char_frac", 1),
                ("dup_para_frac", 18),
                ("duplicated_10_n_grams", 3),
                ("duplicated_5_n_grams", 25),
                ("duplicated_6_n_grams", 3),
                ("duplicated_8_n_grams", 2),
                ("empty", 27),
                ("kept", 505),
                ("top_2_gram", 38),
                ("top_3_gram", 23),
                ("top_4_gram", 24),
            ],
            &[
                ("gopher_above_avg_threshold", 7),
                ("gopher_below_alpha_threshold", 234),
                ("gopher_below_avg_threshold", 1),
                ("gopher_enough_stop_words", 136),
                ("gopher_short_doc", 165),
                ("kept", 154),
            ],
            &[
                ("curly_bracket", 11),
                ("kept", 361),
                ("too_few_sentences", 325),
            ],
            &[
                ("char_dup_ratio", 84),
                ("empty", 27),
                ("kept", 328),
                ("line_punct_ratio", 213),
                ("list_ratio", 17),
                ("short_line_ratio", 28),
            ],
        ];
        for (got, want) in counts.iter().zip(expected) {
            assert_eq!(got.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(), want);
        }
    }

    /// The chain's shortcuts (one word split for both Gopher filters, C4 counting FineWeb's words) give
    /// the same result as running each filter on its own, in order, on the real pages.
    #[test]
    fn chain_equals_filters_run_one_after_another() {
        let config = RulesConfig::default();
        let chain = chain(&config);
        let repetition = GopherRepetitionFilter::new(&config.gopher_repetition);
        let quality = GopherQualityFilter::new(&config.gopher_quality);
        let c4 = C4QualityFilter::new(&config.c4);
        let fineweb = FineWebQualityFilter::new(&config.fineweb);
        let mut kept = 0;
        let texts =
            sample_texts("dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz");
        for text in &texts {
            let one_by_one = repetition
                .check(text)
                .and_then(|()| quality.check(text))
                .and_then(|()| c4.clean(text))
                .and_then(|cleaned| fineweb.check(&cleaned).map(|()| cleaned));
            let chained = chain.apply(text).map(Cow::into_owned);
            kept += usize::from(chained.is_ok());
            assert_eq!(chained, one_by_one);
        }
        assert!(kept > 50, "{kept}");
    }

    #[test]
    fn no_panics_on_odd_input() {
        let c = chain(&RulesConfig::default());
        let huge_line = "x".repeat(100_000);
        let inputs = [
            "",
            " ",
            "\n\n\n",
            "\u{0}\u{1}",
            "…",
            "日本語のテキストです。これは文です。",
            "🙂 🙂 🙂",
            "\r\n\r\n",
            huge_line.as_str(),
            "[[[[",
            "a\u{2028}b\u{85}c",
        ];
        for text in inputs {
            let _ = c.apply(text);
            assert_eq!(c.explain(text).len(), 4);
        }
    }
}

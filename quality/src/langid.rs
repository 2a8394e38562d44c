//! Language identification with `whatlang` (trigram profiles over 69 languages, no model files).
//!
//! A document is kept when its most likely language is one of the configured ones with at least the
//! configured confidence. Only the first [`DEFAULT_MAX_BYTES`] bytes are looked at by default: the language of
//! a web page or a book is settled long before its end, and detection cost then stays flat per document.

use whatlang::{Detector, Lang};

use crate::Rejection;

/// Bytes of text (cut at a character boundary) that detection reads by default.
pub const DEFAULT_MAX_BYTES: usize = 4096;

/// Keeps documents in a set of languages.
#[derive(Debug)]
pub struct LanguageFilter {
    detector: Detector,
    allowed: Vec<Lang>,
    min_confidence: f64,
    max_bytes: usize,
}

/// The language of a document as detected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detected {
    /// ISO 639-3 code (`eng`, `deu`, ...).
    pub code: &'static str,
    /// whatlang's confidence in [0, 1].
    pub confidence: f64,
}

impl LanguageFilter {
    /// A filter keeping `languages` (ISO 639-3 codes such as `eng`; an empty list keeps every language but
    /// still labels documents) detected with confidence `>= min_confidence`, reading at most `max_bytes`.
    pub fn new(
        languages: &[String],
        min_confidence: f64,
        max_bytes: usize,
    ) -> Result<Self, String> {
        let allowed = languages
            .iter()
            .map(|code| {
                Lang::from_code(code).ok_or_else(|| {
                    format!(
                        "'{code}' is not an ISO 639-3 code whatlang knows (e.g. eng, deu, fra, cmn)"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !(0.0..=1.0).contains(&min_confidence) {
            return Err(format!("min_confidence {min_confidence} must be in [0, 1]"));
        }
        if max_bytes == 0 {
            return Err("max_bytes must be at least 1".to_string());
        }
        Ok(LanguageFilter {
            detector: Detector::new(),
            allowed,
            min_confidence,
            max_bytes,
        })
    }

    /// The most likely language of the start of `text`, or `None` when there is nothing to go on.
    pub fn detect(&self, text: &str) -> Option<Detected> {
        let mut end = text.len().min(self.max_bytes);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.detector.detect(&text[..end]).map(|info| Detected {
            code: info.lang().code(),
            confidence: info.confidence(),
        })
    }

    /// The detected language when the document is kept, a [`Rejection`] otherwise.
    pub fn check(&self, text: &str) -> Result<Option<Detected>, Rejection> {
        let detected = self.detect(text);
        if self.allowed.is_empty() {
            return Ok(detected);
        }
        let reject = |reason, value| Rejection {
            filter: "language",
            reason,
            value,
            threshold: self.min_confidence,
        };
        match detected {
            None => Err(reject("language_undetected", 0.0)),
            Some(d) if !self.allowed.iter().any(|l| l.code() == d.code) => {
                Err(reject("language_not_allowed", d.confidence))
            }
            Some(d) if d.confidence < self.min_confidence => {
                Err(reject("language_low_confidence", d.confidence))
            }
            Some(d) => Ok(Some(d)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ENGLISH: &str = "The committee met on Tuesday to discuss the new budget for the library, \
        and most members agreed that the reading room should stay open later during the exam weeks.";
    const GERMAN: &str = "Der Ausschuss traf sich am Dienstag, um den neuen Haushalt der Bibliothek zu \
        besprechen, und die meisten Mitglieder waren sich einig, dass der Lesesaal länger geöffnet bleiben soll.";

    fn english_only() -> LanguageFilter {
        LanguageFilter::new(&["eng".to_string()], 0.5, DEFAULT_MAX_BYTES).unwrap()
    }

    #[test]
    fn keeps_the_configured_language_and_labels_it() {
        let kept = english_only().check(ENGLISH).unwrap().unwrap();
        assert_eq!(kept.code, "eng");
        assert!(kept.confidence >= 0.5);
    }

    #[test]
    fn refuses_other_languages_and_empty_text() {
        let r = english_only().check(GERMAN).unwrap_err();
        assert_eq!((r.filter, r.reason), ("language", "language_not_allowed"));
        let r = english_only().check("  \n ").unwrap_err();
        assert_eq!(r.reason, "language_undetected");
    }

    #[test]
    fn confidence_threshold_is_inclusive() {
        let d = english_only().detect(ENGLISH).unwrap();
        let at =
            LanguageFilter::new(&["eng".to_string()], d.confidence, DEFAULT_MAX_BYTES).unwrap();
        assert!(at.check(ENGLISH).is_ok());
        if d.confidence < 1.0 {
            let above = LanguageFilter::new(
                &["eng".to_string()],
                (d.confidence + 1e-9).min(1.0),
                DEFAULT_MAX_BYTES,
            )
            .unwrap();
            assert_eq!(
                above.check(ENGLISH).unwrap_err().reason,
                "language_low_confidence"
            );
        }
    }

    #[test]
    fn an_empty_list_labels_without_filtering() {
        let any = LanguageFilter::new(&[], 0.9, DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(any.check(GERMAN).unwrap().unwrap().code, "deu");
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(LanguageFilter::new(&["english".to_string()], 0.5, 10).is_err());
        assert!(LanguageFilter::new(&[], 1.5, 10).is_err());
        assert!(LanguageFilter::new(&[], 0.5, 0).is_err());
    }

    #[test]
    fn the_prefix_cut_respects_character_boundaries() {
        let f = LanguageFilter::new(&[], 0.0, 3).unwrap();
        let _ = f.detect("ééééé");
        let _ = f.detect("");
    }
}

//! Text normalisation applied before shingling.
//!
//! Two pages that differ only in case, accents, punctuation, the digits of a date or counter, or
//! whitespace are the same document for deduplication. This follows the normalisation that datatrove
//! applies before MinHash in the FineWeb recipe (Penedo et al. 2024, §3.3; datatrove `simplify_text`):
//! lowercase, digits folded to `0`, punctuation to spaces, whitespace collapsed, and diacritics removed by
//! canonical decomposition (NFD) followed by dropping nonspacing marks (General_Category `Mn`).
//! Digits are folded one for one ("2024" becomes "0000"), so the number of digits still counts.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Normalises `text` for shingling: lowercase, accents removed, every decimal digit replaced by `0`,
/// every other character that is not a letter or a number replaced by a space, and runs of spaces
/// collapsed to one, with none at either end.
///
/// The result is a sequence of words separated by single spaces, the form [`crate::word_shingles`]
/// expects. Decimal digits of every script (General_Category `Nd`, as Python's `\d`) become ASCII `0`.
///
/// ```
/// assert_eq!(corpus_dedup::normalize_for_shingles("Café 2024!"), "cafe 0000");
/// ```
pub fn normalize_for_shingles(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // A separator is written lazily, before the next word character, so none leads, trails or repeats.
    let mut wrote_any = false;
    let mut separator_pending = false;
    // Lowercasing first lets NFD split the accents that lowercasing can produce ("İ" lowercases to "i" +
    // U+0307), so they are dropped with the others.
    for c in text.chars().flat_map(char::to_lowercase).nfd() {
        let category = c.general_category();
        let mapped = match category {
            GeneralCategory::NonspacingMark => continue,
            GeneralCategory::DecimalNumber => '0',
            _ if c.is_alphanumeric() => c,
            _ => {
                separator_pending = wrote_any;
                continue;
            }
        };
        if separator_pending {
            out.push(' ');
            separator_pending = false;
        }
        out.push(mapped);
        wrote_any = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_for_shingles;

    #[test]
    fn folds_case_accents_digits_and_punctuation() {
        assert_eq!(normalize_for_shingles("Café 2024!"), "cafe 0000");
        assert_eq!(
            normalize_for_shingles("  Hello,\tWORLD...\n\n"),
            "hello world"
        );
        assert_eq!(
            normalize_for_shingles("Ünïcödé naïve résumé"),
            "unicode naive resume"
        );
        assert_eq!(normalize_for_shingles("İstanbul"), "istanbul");
        assert_eq!(normalize_for_shingles("e\u{301}te\u{301}"), "ete");
    }

    #[test]
    fn folds_digits_of_every_script() {
        assert_eq!(normalize_for_shingles("٢٠٢٤ and ２０２４"), "0000 and 0000");
    }

    #[test]
    fn separators_never_lead_trail_or_repeat() {
        assert_eq!(normalize_for_shingles(""), "");
        assert_eq!(normalize_for_shingles("!!! ---"), "");
        assert_eq!(normalize_for_shingles("a--b  ,, c"), "a b c");
        assert_eq!(normalize_for_shingles("don't"), "don t");
    }

    #[test]
    fn keeps_letters_of_other_scripts() {
        assert_eq!(normalize_for_shingles("Привет, МИР"), "привет мир");
        assert_eq!(normalize_for_shingles("東京タワー"), "東京タワー");
    }
}

//! The text semantics datatrove's filters are written in: Python's string methods (from `corpus-text`),
//! datatrove's punctuation sets, spaCy's `is_punct` and Python's `lower()` for ASCII phrase matching.

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

use super::tables::{DATATROVE_PUNCTUATION, DATATROVE_TERMINAL_PUNCTUATION};

pub(super) use corpus_text::python::{
    char_len, is_py_alpha, is_py_decimal, is_py_space, is_py_word_char, py_lstrip, py_rstrip,
    py_split_whitespace, py_splitlines, py_strip,
};

/// Whether `c` is in datatrove's `PUNCTUATION_SET` (ASCII punctuation, control characters and the terminal
/// punctuation of many scripts): Gopher counts a word made only of these as a symbol.
pub(super) fn is_datatrove_punctuation(c: char) -> bool {
    if c.is_ascii() {
        is_ascii_datatrove_punctuation(c)
    } else {
        DATATROVE_PUNCTUATION.binary_search(&c).is_ok()
    }
}

/// [`is_datatrove_punctuation`] for an ASCII `c`: ASCII punctuation and the control characters but `\t` and
/// `\n`.
pub(super) const fn is_ascii_datatrove_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (c.is_ascii_control() && c != '\t' && c != '\n')
}

/// Whether `c` is in datatrove's `TERMINAL_PUNCTUATION`, FineWeb's default line ends.
pub(super) fn is_terminal_punctuation(c: char) -> bool {
    match c {
        '.' | '!' | '?' => true,
        _ if c.is_ascii() => false,
        _ => DATATROVE_TERMINAL_PUNCTUATION.binary_search(&c).is_ok(),
    }
}

/// Whether `c` is Unicode punctuation (general category `P*`), spaCy's `is_punct` for one character.
pub(super) fn is_unicode_punct(c: char) -> bool {
    if c.is_ascii() {
        matches!(
            c,
            '!' | '"'
                | '#'
                | '%'
                | '&'
                | '\''
                | '('
                | ')'
                | '*'
                | ','
                | '-'
                | '.'
                | '/'
                | ':'
                | ';'
                | '?'
                | '@'
                | '['
                | '\\'
                | ']'
                | '_'
                | '{'
                | '}'
        )
    } else {
        c.general_category_group() == GeneralCategoryGroup::Punctuation
    }
}

/// Writes `line` lower-cased into `out` (replacing its contents), for finding ASCII phrases the way Python
/// finds them in `line.lower()`: each character is lower-cased on its own, which differs from `str.lower()`
/// only in the Greek final sigma, never in ASCII. A few non-ASCII characters lower-case to ASCII ones (the
/// Kelvin sign to `k`). The other non-ASCII characters are left as they are: they lower-case to non-ASCII
/// characters, which an ASCII phrase cannot match either way.
pub(super) fn lowercase_into(line: &str, out: &mut String) {
    out.clear();
    if !line.is_ascii() && LOWER_TO_ASCII.iter().any(|&c| line.contains(c)) {
        out.extend(line.chars().flat_map(char::to_lowercase));
    } else {
        out.push_str(line);
        out.make_ascii_lowercase();
    }
}

/// The characters outside ASCII whose lower case holds an ASCII character (see [`lowercase_into`]).
const LOWER_TO_ASCII: [char; 2] = ['\u{130}', '\u{212a}'];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_sets_match_datatrove() {
        for c in ['.', '#', '\'', '\r', '\u{0}', '«', '…', '“', '؟', '。'] {
            assert!(is_datatrove_punctuation(c), "{c:?}");
        }
        for c in ['a', '1', ' ', '\t', '\n', 'é'] {
            assert!(!is_datatrove_punctuation(c), "{c:?}");
        }
        assert!(
            is_terminal_punctuation('!')
                && is_terminal_punctuation('。')
                && is_terminal_punctuation('؟')
        );
        assert!(!is_terminal_punctuation('"') && !is_terminal_punctuation(','));
    }

    #[test]
    fn unicode_punctuation_is_category_p() {
        assert!(
            is_unicode_punct('«')
                && is_unicode_punct('-')
                && !is_unicode_punct('$')
                && !is_unicode_punct('+')
        );
    }

    #[test]
    fn lowercase_follows_python_lower() {
        let mut out = String::from("left over");
        lowercase_into("Enable JavaScript now", &mut out);
        assert_eq!(out, "enable javascript now");
        // The Kelvin sign lower-cases to an ASCII k; İ to i and a combining dot.
        lowercase_into("Coo\u{212a}ies İ Ünï", &mut out);
        assert_eq!(out, "cookies i\u{307} ünï");
        // Other characters outside ASCII stay as they are, and ASCII is lowered around them.
        lowercase_into("Ünï JavaScript", &mut out);
        assert_eq!(out, "Ünï javascript");
        let lower_to_ascii: Vec<char> = ('\u{80}'..=char::MAX)
            .filter(|c| c.to_lowercase().any(|l| l.is_ascii()))
            .collect();
        assert_eq!(lower_to_ascii, LOWER_TO_ASCII);
    }
}

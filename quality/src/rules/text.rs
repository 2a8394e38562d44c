//! Python's string semantics, the ones datatrove's filters are written in: what `str.isspace`, `str.strip`,
//! `str.split()`, `str.splitlines` and `len` do, and datatrove's punctuation sets. Every ratio the filters
//! compute counts characters (code points) the way Python's `len` does, not bytes.

use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use super::tables::{DATATROVE_PUNCTUATION, DATATROVE_TERMINAL_PUNCTUATION, PY_WHITESPACE};

/// The number of characters (code points) in `s`: Python's `len(s)`.
pub(super) fn char_len(s: &str) -> usize {
    // Every byte that is not a UTF-8 continuation byte (0b10xx_xxxx) starts a character.
    s.len() - s.bytes().filter(|&b| (b as i8) < -0x40).count()
}

/// Python's `str.isspace()` for one character.
pub(super) fn is_py_space(c: char) -> bool {
    if c.is_ascii() {
        matches!(
            c,
            '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | '\u{1c}'..='\u{1f}' | ' '
        )
    } else {
        PY_WHITESPACE.binary_search(&c).is_ok()
    }
}

/// Python's `s.strip()`.
pub(super) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `s.lstrip()`.
pub(super) fn py_lstrip(s: &str) -> &str {
    s.trim_start_matches(is_py_space)
}

/// Python's `s.rstrip()`.
pub(super) fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(is_py_space)
}

/// Python's `s.split()`: the runs of non-space characters.
pub(super) fn py_split_whitespace(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_py_space).filter(|part| !part.is_empty())
}

/// Python's `s.splitlines()`: lines cut at `\n`, `\r\n`, `\r`, `\v`, `\f`, `\x1c`-`\x1e`, `\x85`, U+2028 and
/// U+2029, without the line breaks and without an empty last line when `s` ends with a break.
pub(super) fn py_splitlines(s: &str) -> PyLines<'_> {
    PyLines { rest: s }
}

/// The iterator of [`py_splitlines`].
pub(super) struct PyLines<'t> {
    rest: &'t str,
}

impl<'t> Iterator for PyLines<'t> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        if self.rest.is_empty() {
            return None;
        }
        let bytes = self.rest.as_bytes();
        let mut i = 0;
        while let Some(offset) = bytes[i..]
            .iter()
            .position(|&b| LINE_BREAK_START[usize::from(b)])
        {
            i += offset;
            let (brk, skip) = match bytes[i] {
                b'\n' | 0x0b | 0x0c | 0x1c..=0x1e => (true, 1),
                b'\r' => (
                    true,
                    if bytes.get(i + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    },
                ),
                // U+0085 is C2 85; U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
                0xc2 if bytes.get(i + 1) == Some(&0x85) => (true, 2),
                0xe2 if bytes.get(i + 1) == Some(&0x80)
                    && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
                {
                    (true, 3)
                }
                _ => (false, 1),
            };
            if brk {
                let line = &self.rest[..i];
                self.rest = &self.rest[i + skip..];
                return Some(line);
            }
            i += skip;
        }
        let line = self.rest;
        self.rest = "";
        Some(line)
    }
}

/// The bytes that may start a line break of [`py_splitlines`].
static LINE_BREAK_START: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b, 0x0a..=0x0d | 0x1c..=0x1e | 0xc2 | 0xe2);
        b += 1;
    }
    table
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

/// Python's `c.isalpha()`: general category `L*`.
pub(super) fn is_py_alpha(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        c.general_category_group() == GeneralCategoryGroup::Letter
    }
}

/// Whether `c` matches Python's `\w` in a `str` pattern: a letter, a number or `_`.
pub(super) fn is_py_word_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
        )
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

/// Whether `c` matches Python's `\d` in a `str` pattern: a decimal digit of any script (category `Nd`).
pub(super) fn is_py_decimal(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        c.general_category() == GeneralCategory::DecimalNumber
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
    fn char_len_counts_code_points() {
        assert_eq!(char_len(""), 0);
        assert_eq!(char_len("abc"), 3);
        assert_eq!(char_len("héllo…"), 6);
        assert_eq!(char_len("日本語🙂"), 4);
    }

    #[test]
    fn strip_uses_python_whitespace() {
        assert_eq!(py_strip("\u{1c} a b\u{3000}\u{a0}"), "a b");
        assert_eq!(py_lstrip("\t- x "), "- x ");
        assert_eq!(py_rstrip(" x...\r\n"), " x...");
        // U+200B (zero width space) is not whitespace in Python.
        assert_eq!(py_strip("\u{200b}a"), "\u{200b}a");
    }

    #[test]
    fn split_whitespace_matches_python() {
        let parts: Vec<&str> = py_split_whitespace("  a\u{85}b\u{1f}c  d ").collect();
        assert_eq!(parts, ["a", "b", "c", "d"]);
        assert_eq!(py_split_whitespace(" \n ").count(), 0);
    }

    #[test]
    fn splitlines_matches_python() {
        let lines: Vec<&str> =
            py_splitlines("a\r\nb\rc\nd\u{2028}e\u{85}f\u{b}g\u{c}h\u{1e}i\n").collect();
        assert_eq!(lines, ["a", "b", "c", "d", "e", "f", "g", "h", "i"]);
        assert_eq!(py_splitlines("").count(), 0);
        assert_eq!(py_splitlines("\n").collect::<Vec<_>>(), [""]);
        assert_eq!(py_splitlines("\n\nx").collect::<Vec<_>>(), ["", "", "x"]);
        // U+2026 shares the E2 80 lead bytes with U+2028 but is no line break.
        assert_eq!(py_splitlines("a…b").collect::<Vec<_>>(), ["a…b"]);
    }

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
    fn categories_match_python() {
        assert!(is_py_alpha('é') && is_py_alpha('語') && !is_py_alpha('1') && !is_py_alpha('_'));
        assert!(is_py_word_char('_') && is_py_word_char('٣') && !is_py_word_char('-'));
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

    #[test]
    fn decimal_digits_of_any_script() {
        assert!(
            is_py_decimal('7') && is_py_decimal('٣') && !is_py_decimal('²') && !is_py_decimal('x')
        );
    }
}

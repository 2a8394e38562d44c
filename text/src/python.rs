//! Python's string semantics, the ones datatrove's filters and the lm-eval Janitor are written in: what
//! `str.isspace`, `str.strip`, `str.split()`, `str.splitlines`, `str.isalpha`, `\\w`, `\\d` and `len` do.
//! Every length here counts characters (code points) the way Python's `len` does, not bytes.

use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// The number of characters (code points) in `s`: Python's `len(s)`.
pub fn char_len(s: &str) -> usize {
    // Every byte that is not a UTF-8 continuation byte (0b10xx_xxxx) starts a character.
    s.len() - s.bytes().filter(|&b| (b as i8) < -0x40).count()
}

/// Python's `str.isspace()` for one character: Unicode `White_Space` plus the ASCII information
/// separators U+001C–U+001F (the same 29 characters; the test checks every code point).
pub fn is_py_space(c: char) -> bool {
    match u8::try_from(c) {
        Ok(byte) if byte.is_ascii() => is_ascii_py_space(byte),
        _ => c.is_whitespace(),
    }
}

/// [`is_py_space`] for one ASCII byte: tab, line feed, vertical tab, form feed, carriage return,
/// U+001C–U+001F and space.
pub const fn is_ascii_py_space(byte: u8) -> bool {
    matches!(byte, b'\t'..=b'\r' | 0x1c..=0x1f | b' ')
}

/// Python's `s.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `s.lstrip()`.
pub fn py_lstrip(s: &str) -> &str {
    s.trim_start_matches(is_py_space)
}

/// Python's `s.rstrip()`.
pub fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(is_py_space)
}

/// Python's `s.split()`: the runs of non-space characters.
pub fn py_split_whitespace(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_py_space).filter(|part| !part.is_empty())
}

/// Python's `s.splitlines()`: lines cut at `\n`, `\r\n`, `\r`, `\v`, `\f`, `\x1c`-`\x1e`, `\x85`, U+2028 and
/// U+2029, without the line breaks and without an empty last line when `s` ends with a break.
pub fn py_splitlines(s: &str) -> PyLines<'_> {
    PyLines { rest: s }
}

/// The iterator of [`py_splitlines`].
pub struct PyLines<'t> {
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

/// Python's `c.isalpha()`: general category `L*`.
pub fn is_py_alpha(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        c.general_category_group() == GeneralCategoryGroup::Letter
    }
}

/// Whether `c` matches Python's `\w` in a `str` pattern: a letter, a number or `_`.
pub fn is_py_word_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
        )
    }
}

/// Whether `c` matches Python's `\d` in a `str` pattern: a decimal digit of any script (category `Nd`).
pub fn is_py_decimal(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        c.general_category() == GeneralCategory::DecimalNumber
    }
}

#[cfg(test)]
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
    fn decimal_digits_of_any_script() {
        assert!(
            is_py_decimal('7') && is_py_decimal('٣') && !is_py_decimal('²') && !is_py_decimal('x')
        );
    }

    #[test]
    fn categories_match_python() {
        assert!(is_py_alpha('é') && is_py_alpha('語') && !is_py_alpha('1') && !is_py_alpha('_'));
        assert!(is_py_word_char('_') && is_py_word_char('٣') && !is_py_word_char('-'));
    }

    /// Python 3.11's `[c for c in map(chr, range(0x110000)) if c.isspace()]`.
    const PYTHON_ISSPACE: [u32; 29] = [
        0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001,
        0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029,
        0x202f, 0x205f, 0x3000,
    ];

    #[test]
    fn isspace_matches_python_on_every_code_point() {
        let spaces: Vec<u32> = (0..=u32::from(char::MAX))
            .filter_map(char::from_u32)
            .filter(|&c| is_py_space(c))
            .map(u32::from)
            .collect();
        assert_eq!(spaces, PYTHON_ISSPACE);
        for byte in 0..=127u8 {
            assert_eq!(
                is_ascii_py_space(byte),
                is_py_space(char::from(byte)),
                "{byte:#x}"
            );
        }
    }
}

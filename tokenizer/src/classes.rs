//! The character classes of the GPT-2 pre-tokenizer pattern: `\p{L}`, `\p{N}`, `\s` and everything else.
//!
//! The tables come from `regex-syntax`, the crate that compiles tiktoken-rs's pattern (through
//! fancy-regex and regex), so both sides classify every code point the same way, whatever Unicode version
//! that crate ships.

use regex_syntax::hir::{Class, HirKind};

/// One class per code point, as the pattern sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CharClass {
    /// `\p{L}`: general category Letter.
    Letter = 0,
    /// `\p{N}`: general category Number.
    Number = 1,
    /// `\s`: Unicode White_Space.
    Space = 2,
    /// `[^\s\p{L}\p{N}]`: punctuation, symbols, marks, controls, unassigned code points.
    Other = 3,
}

/// Number of code points (U+0000..=U+10FFFF).
const CODE_POINTS: usize = 0x11_0000;

/// A class for every code point: one byte each (1.1 MB), so a lookup is one load.
pub(crate) struct CharClasses {
    table: Box<[CharClass]>,
}

impl CharClasses {
    /// Builds the table from `regex-syntax`'s Unicode tables.
    pub(crate) fn from_regex_syntax() -> Result<Self, String> {
        let mut table = vec![CharClass::Other; CODE_POINTS].into_boxed_slice();
        for (pattern, class) in [
            (r"\p{L}", CharClass::Letter),
            (r"\p{N}", CharClass::Number),
            (r"\s", CharClass::Space),
        ] {
            let hir = regex_syntax::Parser::new()
                .parse(pattern)
                .map_err(|e| format!("{pattern}: {e}"))?;
            let HirKind::Class(Class::Unicode(ranges)) = hir.kind() else {
                return Err(format!("{pattern} is not a Unicode class"));
            };
            for range in ranges.iter() {
                let (start, end) = (range.start() as usize, range.end() as usize);
                if let Some(slots) = table.get_mut(start..=end) {
                    slots.fill(class);
                }
            }
        }
        Ok(CharClasses { table })
    }

    /// The class of one character.
    #[inline]
    pub(crate) fn of(&self, c: char) -> CharClass {
        self.table
            .get(c as usize)
            .copied()
            .unwrap_or(CharClass::Other)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_unicode_categories() {
        let classes = CharClasses::from_regex_syntax().unwrap();
        for (c, class) in [
            ('a', CharClass::Letter),
            ('é', CharClass::Letter),
            ('東', CharClass::Letter),
            ('ʼ', CharClass::Letter), // U+02BC modifier letter apostrophe is Lm
            ('7', CharClass::Number),
            ('½', CharClass::Number),
            ('Ⅻ', CharClass::Number),
            (' ', CharClass::Space),
            ('\u{a0}', CharClass::Space),
            ('\u{2028}', CharClass::Space),
            ('\u{85}', CharClass::Space),
            ('\u{301}', CharClass::Other), // combining acute accent is Mn
            ('\'', CharClass::Other),
            ('\u{2019}', CharClass::Other),
            ('\u{1f600}', CharClass::Other),
            ('\u{1c}', CharClass::Other),
            ('\u{fffd}', CharClass::Other),
        ] {
            assert_eq!(classes.of(c), class, "{c:?}");
        }
    }
}

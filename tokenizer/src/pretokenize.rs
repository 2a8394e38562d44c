//! A hand-written matcher for the GPT-2 pre-tokenizer pattern that r50k_base (GPT-2, GPT-3) uses, as
//! tiktoken-rs spells it:
//!
//! ```text
//! '(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s
//! ```
//!
//! The regex engine tries the alternatives left to right at each position; the matcher below decides the
//! same alternative from the first one or two characters and then scans one run, so it needs no
//! backtracking and runs in time linear in the text. Every character is in exactly one of the four classes
//! of [`CharClasses`], which is what makes the decision that simple:
//!
//! - `'` followed by `s`, `t`, `m`, `d`, `ll`, `ve` or `re` (ASCII, lower case only): the contraction.
//! - a space followed by a letter, digit or other character: the space and the run of that class after it.
//! - a letter, digit or other character: the run of its class.
//! - white space: the whole run if it reaches the end of the text; else the run less its last character
//!   (`\s+(?!\S)` backtracks one character so that the last one, before a non-space, starts the next
//!   piece), or the single character when the run is one character long.

use crate::classes::{CharClass, CharClasses};

/// The pieces of a text under the GPT-2 pattern, in order; their concatenation is the text.
pub(crate) struct Gpt2Pieces<'a> {
    rest: &'a str,
    classes: &'a CharClasses,
}

impl<'a> Gpt2Pieces<'a> {
    /// Splits `text`.
    pub(crate) fn new(text: &'a str, classes: &'a CharClasses) -> Self {
        Gpt2Pieces {
            rest: text,
            classes,
        }
    }

    /// The character at byte `at` of the rest and its length in bytes.
    #[inline]
    fn char_at(&self, at: usize) -> Option<(char, usize)> {
        let byte = *self.rest.as_bytes().get(at)?;
        if byte.is_ascii() {
            return Some((char::from(byte), 1));
        }
        let c = self.rest.get(at..)?.chars().next()?;
        Some((c, c.len_utf8()))
    }

    /// End (in bytes) of the run of characters of `class` that starts at byte `at`.
    #[inline]
    fn run_end(&self, mut at: usize, class: CharClass) -> usize {
        while let Some((c, len)) = self.char_at(at) {
            if self.classes.of(c) != class {
                break;
            }
            at += len;
        }
        at
    }

    /// Length in bytes of the piece at the start of the rest (which is not empty).
    fn piece_len(&self) -> usize {
        let bytes = self.rest.as_bytes();
        if bytes.first() == Some(&b'\'') {
            match (bytes.get(1), bytes.get(2)) {
                (Some(b's' | b't' | b'm' | b'd'), _) => return 2,
                (Some(b'l'), Some(b'l')) | (Some(b'v' | b'r'), Some(b'e')) => return 3,
                _ => {}
            }
        }
        let Some((first, first_len)) = self.char_at(0) else {
            return bytes.len();
        };
        let class = self.classes.of(first);
        if first == ' '
            && let Some((next, _)) = self.char_at(1)
        {
            let next_class = self.classes.of(next);
            if next_class != CharClass::Space {
                return self.run_end(1, next_class);
            }
        }
        if class != CharClass::Space {
            return self.run_end(0, class);
        }
        // White space: find the run and the start of its last character.
        let (mut end, mut last_start, mut count) = (first_len, 0, 1usize);
        while let Some((c, len)) = self.char_at(end) {
            if self.classes.of(c) != CharClass::Space {
                break;
            }
            last_start = end;
            end += len;
            count += 1;
        }
        if end == bytes.len() || count == 1 {
            end
        } else {
            last_start
        }
    }
}

impl<'a> Iterator for Gpt2Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let len = self.piece_len().max(1);
        // Every length above ends on a character boundary; if one did not, the rest goes out as one
        // piece, which still encodes every byte.
        let (piece, rest) = self.rest.split_at_checked(len).unwrap_or((self.rest, ""));
        self.rest = rest;
        Some(piece)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<String> {
        let classes = CharClasses::from_regex_syntax().unwrap();
        Gpt2Pieces::new(text, &classes)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn splits_like_the_gpt2_pattern() {
        assert_eq!(
            pieces("Hello world's 123 end."),
            ["Hello", " world", "'s", " 123", " end", "."]
        );
        assert_eq!(pieces("a  b"), ["a", " ", " b"]);
        assert_eq!(pieces("a\n\n  b"), ["a", "\n\n ", " b"]);
        assert_eq!(pieces("a \t b"), ["a", " \t", " b"]);
        assert_eq!(pieces("a\nb"), ["a", "\n", "b"]);
        assert_eq!(pieces("a\tb"), ["a", "\t", "b"]);
        assert_eq!(pieces("end  "), ["end", "  "]);
        assert_eq!(pieces("'S 'sam \"'s"), ["'", "S", " '", "sam", " \"'", "s"]);
        assert_eq!(
            pieces("we'll they're I'd"),
            ["we", "'ll", " they", "'re", " I", "'d"]
        );
        assert_eq!(pieces("'"), ["'"]);
        assert_eq!(pieces(""), Vec::<&str>::new());
    }
}

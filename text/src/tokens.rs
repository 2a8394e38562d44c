//! Lowercased tokens of a text, found in one scan of its bytes: Spark ML's `Tokenizer`
//! (`text.toLowerCase.split("\\s")`, the GPT-3 quality classifier's and GPT-3 fuzzy dedup's tokens) and
//! maximal alphanumeric words (the bigram classifier's).
//!
//! Java's `String.split` with a one-character pattern keeps the empty strings between consecutive
//! separators and a leading one, drops the trailing ones, and returns `[""]` for an empty string; `\s` is
//! the six ASCII characters ` \t\n\x0B\f\r` only. All of that is reproduced, empty tokens included.
//!
//! ASCII whitespace and ASCII letters are classified from a table, and a token is lowercased into a
//! reused buffer: bytewise when it is ASCII, by Unicode case mapping when not. That equals
//! `str::to_lowercase`, which, like Java's `toLowerCase`, turns a word-final capital sigma into `ς`; a
//! token lowercases the same alone as inside the whole text because the mapping's context never crosses
//! whitespace. Spark lowercases with the JVM's default locale: this matches any locale but Turkish and
//! Azeri (dotted and dotless i), and Rust's and the JVM's Unicode versions may differ for characters
//! added recently.

/// A byte is one of Java's `\s` characters.
const SPACE: u8 = 1;
/// A byte is an ASCII capital letter.
const UPPER: u8 = 2;
/// A byte belongs to a multi-byte UTF-8 sequence.
const NON_ASCII: u8 = 4;
/// A byte is an ASCII letter or digit (a word byte for the bigram model).
const ALNUM: u8 = 8;

/// Class bits of every byte value, so the scanning loops do one table load per byte.
static BYTE_CLASS: [u8; 256] = byte_classes();

const fn byte_classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut value = 0;
    while value < 256 {
        let byte = value as u8;
        let mut class = 0;
        if matches!(byte, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r') {
            class |= SPACE;
        }
        if byte.is_ascii_uppercase() {
            class |= UPPER;
        }
        if byte >= 0x80 {
            class |= NON_ASCII;
        }
        if byte.is_ascii_alphanumeric() {
            class |= ALNUM;
        }
        table[value] = class;
        value += 1;
    }
    table
}

/// Calls `emit` with the UTF-8 bytes of each token of Spark's `Tokenizer` (`text.toLowerCase.split("\\s")`),
/// in order. `lower` is scratch space for lowercasing ASCII tokens.
pub fn for_each_spark_token(text: &str, lower: &mut Vec<u8>, mut emit: impl FnMut(&[u8])) {
    if text.is_empty() {
        // Java: "".split(regex) is [""], the one case where a lone empty string survives.
        emit(b"");
        return;
    }
    let bytes = text.as_bytes();
    // Empty pieces are only tokens if a non-empty piece follows (Java drops trailing empty strings).
    let mut pending_empty = 0usize;
    let mut start = 0;
    let mut flags = 0u8;
    for (at, &byte) in bytes.iter().enumerate() {
        let class = BYTE_CLASS[usize::from(byte)];
        if class & SPACE == 0 {
            flags |= class;
            continue;
        }
        if at == start {
            pending_empty += 1;
        } else {
            for _ in 0..pending_empty {
                emit(b"");
            }
            pending_empty = 0;
            // Separators are ASCII bytes, hence char boundaries of `text`.
            emit_lowercase(&text[start..at], flags, lower, &mut emit);
        }
        start = at + 1;
        flags = 0;
    }
    if start < bytes.len() {
        for _ in 0..pending_empty {
            emit(b"");
        }
        emit_lowercase(&text[start..], flags, lower, &mut emit);
    }
}

/// Emits `piece` lowercased: as is when it has no capitals, through `lower` otherwise. A non-ASCII piece
/// is lowercased character by character, which is exactly `str::to_lowercase` except for the capital
/// sigma, whose final form depends on its neighbours; a piece holding one goes through
/// `str::to_lowercase` itself (the only allocation on this path).
fn emit_lowercase(piece: &str, flags: u8, lower: &mut Vec<u8>, emit: &mut impl FnMut(&[u8])) {
    if flags & NON_ASCII != 0 {
        if piece.contains(CAPITAL_SIGMA) {
            emit(piece.to_lowercase().as_bytes());
            return;
        }
        lower.clear();
        let mut utf8 = [0u8; 4];
        for ch in piece.chars() {
            if ch.is_ascii() {
                lower.push(ch.to_ascii_lowercase() as u8);
            } else {
                for lowered in ch.to_lowercase() {
                    lower.extend_from_slice(lowered.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
        emit(lower);
    } else if flags & UPPER != 0 {
        lower.clear();
        lower.extend(piece.bytes().map(|byte| byte.to_ascii_lowercase()));
        emit(lower);
    } else {
        emit(piece.as_bytes());
    }
}

/// Greek capital sigma, the one character whose lowercase depends on context (final `ς` or `σ`).
const CAPITAL_SIGMA: char = '\u{3a3}';

/// Calls `emit` with each lowercased word of `text`: a maximal run of alphanumeric characters (ASCII
/// letters and digits, and non-ASCII characters for which `char::is_alphanumeric` holds).
pub fn for_each_lowercase_word(text: &str, lower: &mut Vec<u8>, mut emit: impl FnMut(&[u8])) {
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut word_start = None;
    let mut flags = 0u8;
    while let Some(&byte) = bytes.get(at) {
        let class = BYTE_CLASS[usize::from(byte)];
        let (is_word, width) = if class & NON_ASCII == 0 {
            (class & ALNUM != 0, 1)
        } else {
            // `at` only ever advances by whole characters, so it is a char boundary.
            match text[at..].chars().next() {
                Some(ch) => (ch.is_alphanumeric(), ch.len_utf8()),
                None => break,
            }
        };
        if is_word {
            if word_start.is_none() {
                word_start = Some(at);
                flags = 0;
            }
            flags |= class;
        } else if let Some(start) = word_start.take() {
            emit_lowercase(&text[start..at], flags, lower, &mut emit);
        }
        at += width;
    }
    if let Some(start) = word_start {
        emit_lowercase(&text[start..], flags, lower, &mut emit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spark_tokens(text: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        let mut lower = Vec::new();
        for_each_spark_token(text, &mut lower, |token| {
            tokens.push(String::from_utf8(token.to_vec()).expect("tokens are UTF-8"));
        });
        tokens
    }

    fn words(text: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut lower = Vec::new();
        for_each_lowercase_word(text, &mut lower, |word| {
            words.push(String::from_utf8(word.to_vec()).expect("words are UTF-8"));
        });
        words
    }

    #[test]
    fn spark_tokenizer_reproduces_java_split_on_backslash_s() {
        let cases: &[(&str, &[&str])] = &[
            // Java "".split("\\s") is [""]; an all-separator string is [].
            ("", &[""]),
            (" ", &[]),
            ("\t\n \r", &[]),
            ("a", &["a"]),
            ("a b", &["a", "b"]),
            // Empty strings between consecutive separators and at the start are kept...
            ("a  b", &["a", "", "b"]),
            (" a", &["", "a"]),
            ("  a", &["", "", "a"]),
            ("a \t b", &["a", "", "", "b"]),
            // ...trailing ones are dropped.
            ("a ", &["a"]),
            ("a \t\r\n", &["a"]),
            (" a  ", &["", "a"]),
            // CRLF is two separators, so it leaves an empty token when a word follows.
            ("one\r\ntwo", &["one", "", "two"]),
            // Every one of Java's \s characters separates: space \t \n \x0B \f \r.
            (
                "a\tb\nc\x0Bd\x0Ce\rf g",
                &["a", "b", "c", "d", "e", "f", "g"],
            ),
            // Other whitespace does not: U+001C (Java isWhitespace, not \s), NBSP, em space, NEL.
            (
                "a\x1Cb c\u{a0}d e\u{2003}f g\u{85}h",
                &["a\x1cb", "c\u{a0}d", "e\u{2003}f", "g\u{85}h"],
            ),
            ("Hello, World!", &["hello,", "world!"]),
        ];
        for &(text, expected) in cases {
            assert_eq!(spark_tokens(text), expected, "tokens of {text:?}");
        }
    }

    #[test]
    fn spark_tokenizer_lowercases_unicode_like_java() {
        let cases: &[(&str, &[&str])] = &[
            ("ÀB Ça", &["àb", "ça"]),
            ("ÉCOLE\tNaïve", &["école", "naïve"]),
            // Word-final capital sigma becomes final sigma, as Java's String.toLowerCase does.
            ("ΟΔΟΣ ΣΑ", &["οδος", "σα"]),
            // Capital I with dot above lowercases to i + combining dot (Java, root locale).
            ("İstanbul", &["i\u{307}stanbul"]),
            // The Kelvin sign lowercases to an ASCII k.
            ("\u{212A}elvin", &["kelvin"]),
            ("ДОМ дом", &["дом", "дом"]),
        ];
        for &(text, expected) in cases {
            assert_eq!(spark_tokens(text), expected, "tokens of {text:?}");
        }
    }

    #[test]
    fn piecewise_lowercasing_equals_str_to_lowercase() {
        let pieces = [
            "ÀB",
            "Straße",
            "ΟΔΟΣ",
            "ΣΑΣ",
            "Σ",
            "ὈΔΥΣΣΕΎΣ",
            "İI",
            "\u{212A}\u{2126}",
            "ǅǄǆ",
            "ДОМ",
            "ΑΣ-ΒΣ.",
            "日本",
            "ⓐⒶ",
            "𐐀𐐨",
        ];
        let mut lower = Vec::new();
        for piece in pieces {
            let mut got = Vec::new();
            emit_lowercase(
                piece,
                NON_ASCII | UPPER,
                &mut lower,
                &mut |bytes: &[u8]| {
                    got = bytes.to_vec();
                },
            );
            assert_eq!(
                String::from_utf8(got).expect("UTF-8"),
                piece.to_lowercase(),
                "{piece}"
            );
        }
    }

    #[test]
    fn words_split_on_non_alphanumerics() {
        assert_eq!(
            words("Hello, World! It's 2024—ÉTÉ “quoted” x"),
            ["hello", "world", "it", "s", "2024", "été", "quoted", "x"]
        );
        assert_eq!(words(""), Vec::<String>::new());
        assert_eq!(words(" ... "), Vec::<String>::new());
        assert_eq!(words("日本語のテキスト"), ["日本語のテキスト"]);
    }
}

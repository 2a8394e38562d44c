//! Word normalisation for n-gram overlap between benchmarks and training text.
//!
//! Two rules live here, chosen with [`Mode`]:
//!
//! - [`Mode::Gpt3`], GPT-3's (Brown et al. 2020, App. C): "lowercase, whitespace-delimited words with no
//!   punctuation". A word is a whitespace-delimited token, lowercased with Unicode case mapping, with
//!   every character deleted that is neither a letter nor a number (Unicode `Alphabetic` or `Numeric`),
//!   so "Don't" becomes "dont", "U.S." becomes "us" and a token of punctuation only ("—") is no word.
//!   Symbols go with the punctuation ("$5" becomes "5"): the paper names no finer rule, and deleting
//!   every non-alphanumeric character is the one that does not depend on a punctuation list.
//! - [`Mode::Janitor`], EleutherAI lm-evaluation-harness 0.4.13 `Janitor.normalize_string` with its
//!   defaults (`lm_eval/decontamination/janitor.py`): ASCII `A`–`Z` lowercased, the 32 ASCII punctuation
//!   characters of Python's `string.punctuation` deleted, every other character kept.
//!
//! Both split on whitespace as Python's `str.split()` and `re`'s `\S+` do (Unicode `White_Space` plus
//! U+001C–U+001F). The tokenizer and the per-token rules here are the only ones in the crate: the
//! benchmark side and the training side both go through [`Words`], which tokenizes and normalises in one
//! pass, ASCII bytes through a per-mode table.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use xxhash_rust::xxh3::xxh3_64;

use crate::benchmark::UnknownChoice;

/// How text becomes the words that n-grams are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// GPT-3 App. C: Unicode-lowercased whitespace tokens with every non-alphanumeric character deleted;
    /// a token with nothing left is no word, so n-grams span over it.
    #[default]
    Gpt3,
    /// lm-evaluation-harness's Janitor: ASCII-lowercased whitespace tokens with ASCII punctuation
    /// deleted. A token with nothing left breaks n-grams when cleaning, as in the Janitor, whose
    /// `clean_python` joins raw tokens and so never matches across a punctuation-only token.
    Janitor,
}

impl Mode {
    /// The names [`Mode::from_str`] accepts, in declaration order.
    pub const ALLOWED: &'static [&'static str] = &["gpt3", "janitor"];

    /// The mode's config name, as [`Mode::from_str`] accepts it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gpt3 => "gpt3",
            Self::Janitor => "janitor",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = UnknownChoice;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "gpt3" => Ok(Self::Gpt3),
            "janitor" => Ok(Self::Janitor),
            _ => Err(UnknownChoice::new(
                "normalisation mode",
                name,
                Self::ALLOWED,
            )),
        }
    }
}

/// One GPT-3 word: its normalised text and where its token lies in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt3Word {
    /// The token lowercased, with every character that is not a letter or a number deleted; never empty.
    pub text: String,
    /// Byte range in the original text of the whole whitespace-delimited token, punctuation included.
    pub bytes: Range<usize>,
}

/// Splits `text` into GPT-3 App. C words (see the module documentation), in order, with the byte range of
/// each word's token in `text`. Tokens with no letter or number yield no word.
///
/// ```
/// let words: Vec<String> = corpus_contamination::gpt3_words("Don't STOP — now!")
///     .map(|word| word.text)
///     .collect();
/// assert_eq!(words, ["dont", "stop", "now"]);
/// ```
pub fn gpt3_words(text: &str) -> impl Iterator<Item = Gpt3Word> + '_ {
    let mut words = Words::new(text, Mode::Gpt3);
    std::iter::from_fn(move || {
        loop {
            let mut word = String::new();
            let bytes = words.next_into(&mut word)?;
            if !word.is_empty() {
                return Some(Gpt3Word { text: word, bytes });
            }
        }
    })
}

/// Normalises `text` as EleutherAI lm-evaluation-harness's `Janitor.normalize_string` does by default,
/// then splits on whitespace and joins with single spaces, as its n-gram step (`word_ngrams`) sees it.
///
/// ```
/// assert_eq!(corpus_contamination::janitor_normalize("Hello, World! ÀB"), "hello world Àb");
/// ```
pub fn janitor_normalize(text: &str) -> String {
    let mut joined = String::with_capacity(text.len());
    let mut word = String::new();
    let mut words = Words::new(text, Mode::Janitor);
    while words.next_into(&mut word).is_some() {
        if !word.is_empty() {
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(&word);
        }
    }
    joined
}

/// Number of words in `text` under `mode`: the tokens that keep at least one character.
pub(crate) fn word_count(text: &str, mode: Mode) -> usize {
    let mut word = String::new();
    let mut words = Words::new(text, mode);
    let mut count = 0;
    while words.next_into(&mut word).is_some() {
        count += usize::from(!word.is_empty());
    }
    count
}

/// What an ASCII byte is to [`Words`] under one [`Mode`]; every byte of 0x80 and above is
/// [`ByteClass::NonAscii`], the first byte of a character decoded and classified whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteClass {
    /// Part of the word (`A`–`Z` lowercased).
    Keep,
    /// Part of the token, deleted from the word.
    Delete,
    /// Whitespace: ends a token.
    Space,
    /// The first byte of a non-ASCII character.
    NonAscii,
}

/// The class of every byte under `mode` (see [`Mode`] and [`is_ascii_python_whitespace`]).
const fn byte_classes(mode: Mode) -> [ByteClass; 256] {
    let mut classes = [ByteClass::NonAscii; 256];
    let mut byte = 0u8;
    while byte.is_ascii() {
        let kept = match mode {
            Mode::Gpt3 => byte.is_ascii_alphanumeric(),
            Mode::Janitor => !byte.is_ascii_punctuation(),
        };
        classes[byte as usize] = if is_ascii_python_whitespace(byte) {
            ByteClass::Space
        } else if kept {
            ByteClass::Keep
        } else {
            ByteClass::Delete
        };
        byte += 1;
    }
    classes
}

/// [`byte_classes`] of [`Mode::Gpt3`].
static GPT3_BYTES: [ByteClass; 256] = byte_classes(Mode::Gpt3);

/// [`byte_classes`] of [`Mode::Janitor`].
static JANITOR_BYTES: [ByteClass; 256] = byte_classes(Mode::Janitor);

/// Whether Python's `str.isspace()` holds for `c`: Unicode `White_Space` plus the ASCII information
/// separators U+001C–U+001F, which Python also splits on.
fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// [`is_python_whitespace`] for one ASCII byte: tab, line feed, vertical tab, form feed, carriage
/// return, U+001C–U+001F and space.
const fn is_ascii_python_whitespace(byte: u8) -> bool {
    matches!(byte, b'\t'..=b'\r' | 0x1c..=0x1f | b' ')
}

/// The hash of a normalised word, by which both sides of the matcher look words up. A word of up to 16
/// bytes (nearly every word) is hashed from its bytes as two little-endian 64-bit lanes, zero-padded
/// ([`short_word_hash`]), which lets [`Words::next_hashed`] hash a plain token straight from the text; a
/// longer one with xxh3-64.
pub(crate) fn word_hash(word: &str) -> u64 {
    let bytes = word.as_bytes();
    let mut lanes = [0u8; 16];
    match lanes.get_mut(..bytes.len()) {
        Some(prefix) => prefix.copy_from_slice(bytes),
        None => return xxh3_64(bytes),
    }
    let (low, high) = lanes.split_at(8);
    let lane = |lane: &[u8]| <[u8; 8]>::try_from(lane).map_or(0, u64::from_le_bytes);
    short_word_hash(lane(low), lane(high), bytes.len())
}

/// [`word_hash`] of a word of `len` (at most 16) bytes held in two little-endian lanes, zero-padded: the
/// 128-bit product of the lanes folded to 64 bits (wyhash's mixing step), then MurmurHash3's `fmix64`
/// so that every bit of the result depends on every input bit.
fn short_word_hash(low: u64, high: u64, len: usize) -> u64 {
    // The top byte of each seed is 0xff, which UTF-8 text never holds, so neither factor is zero (the
    // length only touches the low byte).
    const SEED_LOW: u64 = 0xff51_afd7_ed55_8ccd;
    const SEED_HIGH: u64 = 0xffc4_ceb9_fe1a_85ec;
    let product = u128::from(low ^ SEED_LOW) * u128::from(high ^ SEED_HIGH ^ len as u64);
    let mut hash = (product as u64) ^ ((product >> 64) as u64);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// Eight byte lanes in one 64-bit word (SWAR): the low seven bits of every lane set.
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
/// The high bit of every lane.
const HIGH: u64 = 0x8080_8080_8080_8080;
/// One in every lane.
const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of every lane of `lanes` whose low seven bits lie in `lo..=hi` (both below 0x80):
/// adding `0x80 - lo` sets it from `lo` up, adding `0x7f - hi` sets it above `hi`, and no lane carries
/// into the next.
fn lanes_in_range(lanes: u64, lo: u8, hi: u8) -> u64 {
    let low = lanes & LOW7;
    let from = low + ONES * u64::from(0x80 - lo);
    let above = low + ONES * u64::from(0x7f - hi);
    from & !above & HIGH
}

/// The high bit of every lane of `chunk` (eight bytes, little-endian) that is not an ASCII letter or
/// digit, the other bits zero.
fn not_alphanumeric(chunk: u64) -> u64 {
    // `| 0x20` maps `A`–`Z` onto `a`–`z` and nothing else into that range.
    let alphanumeric =
        lanes_in_range(chunk | (ONES * 0x20), b'a', b'z') | lanes_in_range(chunk, b'0', b'9');
    // A lane with its high bit set is not ASCII.
    !(alphanumeric & !chunk) & HIGH
}

/// The high bit of every lane of `chunk` equal to `byte`.
fn lanes_equal(chunk: u64, byte: u8) -> u64 {
    let zero_where_equal = chunk ^ (ONES * u64::from(byte));
    // A lane's high bit ends up set iff neither its low seven bits (which `+ LOW7` carries out of) nor
    // its high bit are set; nothing carries between lanes.
    !(((zero_where_equal & LOW7) + LOW7) | zero_where_equal | LOW7)
}

/// `chunk` with the ASCII letters of its lanes lowercased, other lanes as they are.
fn ascii_lowercase(chunk: u64) -> u64 {
    chunk | ((lanes_in_range(chunk, b'A', b'Z') & !chunk) >> 2)
}

/// The whitespace-delimited tokens of a text (the maximal runs of non-whitespace characters, as Python's
/// `re.finditer(r"\S+")` finds them), each normalised into its word in the same pass.
///
/// This is the crate's one tokenizer: the benchmark side and the training side both read words through
/// it. ASCII bytes cost one lookup in a per-mode table each; only non-ASCII characters are decoded.
pub(crate) struct Words<'a> {
    text: &'a str,
    at: usize,
    mode: Mode,
    classes: &'static [ByteClass; 256],
}

impl<'a> Words<'a> {
    /// The words of `text` under `mode`, from its start.
    pub(crate) fn new(text: &'a str, mode: Mode) -> Self {
        let classes = match mode {
            Mode::Gpt3 => &GPT3_BYTES,
            Mode::Janitor => &JANITOR_BYTES,
        };
        Self {
            text,
            at: 0,
            mode,
            classes,
        }
    }

    /// The byte range of the next token, with its word written to `word` (cleared first); `None` after
    /// the last token. The word is empty when no character of the token survives normalisation.
    #[inline]
    pub(crate) fn next_into(&mut self, word: &mut String) -> Option<Range<usize>> {
        word.clear();
        let start = self.skip_whitespace()?;
        let bytes = self.text.as_bytes();
        let mut at = start;
        // The word is built from runs of the token copied whole (`kept..at`), lowercased at the end:
        // only deleted bytes and characters the mode changes interrupt a run.
        let mut kept = at;
        loop {
            // Letters and digits are the common case, and kept in both modes: eight bytes at a time.
            while let Some(chunk) = bytes
                .get(at..at + 8)
                .and_then(|c| <[u8; 8]>::try_from(c).ok())
            {
                let others = not_alphanumeric(u64::from_le_bytes(chunk));
                if others != 0 {
                    at += (others.trailing_zeros() / 8) as usize;
                    break;
                }
                at += 8;
            }
            // Other kept bytes, and the last few of the text: one table lookup each.
            while let Some(&byte) = bytes.get(at)
                && self.classes[usize::from(byte)] == ByteClass::Keep
            {
                at += 1;
            }
            let Some(&byte) = bytes.get(at) else {
                break;
            };
            match self.classes[usize::from(byte)] {
                ByteClass::Keep => at += 1,
                ByteClass::Delete => {
                    word.push_str(self.text.get(kept..at).unwrap_or_default());
                    at += 1;
                    kept = at;
                }
                ByteClass::Space => break,
                ByteClass::NonAscii => {
                    // `at` is always on a character boundary; past the end is the only other case.
                    let Some(c) = self.char_at(at) else {
                        at = bytes.len();
                        break;
                    };
                    if is_python_whitespace(c) {
                        break;
                    }
                    if self.mode == Mode::Gpt3 {
                        word.push_str(self.text.get(kept..at).unwrap_or_default());
                        word.extend(c.to_lowercase().filter(|c| c.is_alphanumeric()));
                        at += c.len_utf8();
                        kept = at;
                    } else {
                        // The Janitor keeps every non-ASCII character as it is.
                        at += c.len_utf8();
                    }
                }
            }
        }
        word.push_str(self.text.get(kept..at).unwrap_or_default());
        // Lowercasing ASCII is all the copied runs need, and it leaves the characters the mode
        // already normalised as they are (their lowercase forms are lowercase).
        word.make_ascii_lowercase();
        self.at = at;
        Some(start..at)
    }

    /// The byte range of the next token and the [`word_hash`] of its word (`None` when the word is
    /// empty); `None` after the last token. A plain token, up to 15 bytes that the mode keeps or only
    /// lowercases ([`Words::not_plain`]) followed by nothing but deleted bytes (a word and its trailing
    /// punctuation), is hashed straight from the text; any other is normalised into `word` by
    /// [`Words::next_into`] and hashed from there.
    #[inline]
    pub(crate) fn next_hashed(&mut self, word: &mut String) -> Option<(Range<usize>, Option<u64>)> {
        let start = self.skip_whitespace()?;
        if let Some(plain) = self.plain_token(start) {
            return Some(plain);
        }
        let range = self.next_into(word)?;
        Some((range, (!word.is_empty()).then(|| word_hash(word))))
    }

    /// [`Words::next_hashed`] for a plain token at `start`, read as two 8-byte lanes; `None`, reading
    /// nothing, when the token is not plain or fewer than 16 bytes are left.
    #[inline]
    fn plain_token(&mut self, start: usize) -> Option<(Range<usize>, Option<u64>)> {
        let bytes = self.text.as_bytes();
        let lane = |from: usize| {
            bytes
                .get(from..from + 8)
                .and_then(|lane| <[u8; 8]>::try_from(lane).ok())
                .map(u64::from_le_bytes)
        };
        let (low, high) = (lane(start)?, lane(start + 8)?);
        let others = u128::from(self.not_plain(low)) | u128::from(self.not_plain(high)) << 64;
        let len = (others.trailing_zeros() / 8) as usize;
        if len == 0 || len >= 16 {
            return None;
        }
        let mut end = start + len;
        while let Some(&byte) = bytes.get(end) {
            match self.classes[usize::from(byte)] {
                ByteClass::Delete => end += 1,
                ByteClass::Space => break,
                ByteClass::Keep | ByteClass::NonAscii => return None,
            }
        }
        // The word's bytes, lowercased, with the lanes past its end zeroed.
        let first = |lane: u64, n: usize| match n {
            0 => 0,
            1..8 => lane & ((1 << (8 * n)) - 1),
            _ => lane,
        };
        let low = ascii_lowercase(first(low, len));
        let high = ascii_lowercase(first(high, len.saturating_sub(8)));
        self.at = end;
        Some((start..end, Some(short_word_hash(low, high, len))))
    }

    /// The high bit of every lane of `chunk` (eight bytes, little-endian) that cannot be part of a plain
    /// token's word, the other bits zero. ASCII letters and digits can in both modes; in
    /// [`Mode::Janitor`], which keeps non-ASCII characters as they are, so can the bytes of non-ASCII
    /// characters, except the lead bytes of the non-ASCII whitespace characters (0xc2: U+0085, U+00A0;
    /// 0xe1: U+1680; 0xe2: U+2000–U+205F; 0xe3: U+3000), which [`Words::next_into`] decodes instead.
    #[inline]
    fn not_plain(&self, chunk: u64) -> u64 {
        let mut plain = !not_alphanumeric(chunk) & HIGH;
        if self.mode == Mode::Janitor {
            let maybe_space = [0xc2, 0xe1, 0xe2, 0xe3]
                .into_iter()
                .fold(0, |found, lead| found | lanes_equal(chunk, lead));
            plain |= chunk & HIGH & !maybe_space;
        }
        !plain & HIGH
    }

    /// Moves past whitespace to the next token and returns its start; `None` at the end of the text.
    #[inline]
    fn skip_whitespace(&mut self) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let mut at = self.at;
        loop {
            let Some(&byte) = bytes.get(at) else {
                self.at = at;
                return None;
            };
            match self.classes[usize::from(byte)] {
                ByteClass::Space => at += 1,
                ByteClass::NonAscii => match self.char_at(at) {
                    Some(c) if is_python_whitespace(c) => at += c.len_utf8(),
                    _ => break,
                },
                ByteClass::Keep | ByteClass::Delete => break,
            }
        }
        self.at = at;
        Some(at)
    }

    /// The character starting at byte `at`, if `at` is a character boundary before the end.
    fn char_at(&self, at: usize) -> Option<char> {
        self.text.get(at..).and_then(|rest| rest.chars().next())
    }
}

#[cfg(test)]
mod tests {
    use super::{Mode, Words, gpt3_words, janitor_normalize, word_count, word_hash};

    fn words(text: &str) -> Vec<String> {
        gpt3_words(text).map(|word| word.text).collect()
    }

    #[test]
    fn gpt3_words_are_lowercase_tokens_without_punctuation() {
        assert_eq!(words("Don't STOP — now!"), ["dont", "stop", "now"]);
        assert_eq!(
            words("The U.S. costs $5.99, e-mail us"),
            ["the", "us", "costs", "599", "email", "us"]
        );
        assert_eq!(words("ÉCOLE Straße İ"), ["école", "straße", "i"]);
        assert_eq!(
            words("Привет,\u{a0}МИР\u{3000}東京"),
            ["привет", "мир", "東京"]
        );
        assert!(words("  ... -- !! ").is_empty());
        assert!(words("").is_empty());
    }

    #[test]
    fn gpt3_word_ranges_cover_the_original_tokens() {
        let text = "  «Café», he said.\n";
        let ranges: Vec<&str> = gpt3_words(text).map(|word| &text[word.bytes]).collect();
        assert_eq!(ranges, ["«Café»,", "he", "said."]);
    }

    /// The token ranges and words of `text` under `mode`.
    fn scan(text: &str, mode: Mode) -> Vec<(&str, String)> {
        let mut words = Words::new(text, mode);
        let mut word = String::new();
        std::iter::from_fn(|| {
            let range = words.next_into(&mut word)?;
            Some((&text[range], word.clone()))
        })
        .collect()
    }

    #[test]
    fn tokens_split_on_python_whitespace_only() {
        let text = "a\u{1c}b\u{85}c\u{200b}d\u{2028}e\x0bf \u{3000} g";
        let tokens: Vec<&str> = scan(text, Mode::Janitor)
            .into_iter()
            .map(|(token, _)| token)
            .collect();
        // U+200B ZERO WIDTH SPACE is not whitespace for Python (or Unicode).
        assert_eq!(tokens, ["a", "b", "c\u{200b}d", "e", "f", "g"]);
        assert!(scan("  \t\n", Mode::Gpt3).is_empty());
        assert!(scan("", Mode::Janitor).is_empty());
    }

    /// The rules of the module documentation, one character at a time with no byte tables.
    fn reference(text: &str, mode: Mode) -> Vec<(&str, String)> {
        text.split(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
            .filter(|token| !token.is_empty())
            .map(|token| {
                let word = match mode {
                    Mode::Gpt3 => token
                        .chars()
                        .flat_map(char::to_lowercase)
                        .filter(|c| c.is_alphanumeric())
                        .collect(),
                    Mode::Janitor => token
                        .chars()
                        .filter(|c| !c.is_ascii_punctuation())
                        .map(|c| c.to_ascii_lowercase())
                        .collect(),
                };
                (token, word)
            })
            .collect()
    }

    #[test]
    fn byte_tables_agree_with_the_character_rules() {
        let ascii: String = (0u8..128).map(char::from).collect();
        let texts = [
            ascii.clone(),
            ascii.chars().rev().collect(),
            ascii.replace(' ', "\u{a0}é"),
            "Ǆ İstanbul ΣΑΣ «x» \u{85}ß\u{2029}Ⅻ ½ 東京 x\u{300}y — $5.99 \u{0}\u{1}".to_string(),
        ];
        for text in &texts {
            for mode in [Mode::Gpt3, Mode::Janitor] {
                assert_eq!(scan(text, mode), reference(text, mode), "{mode} {text:?}");
            }
        }
    }

    #[test]
    fn hashed_tokens_match_the_hashes_of_their_words() {
        let texts = [
            "Plain words, digits 2024 and UPPER case. (Quoted) don't e-mail — end".to_string(),
            "abcdefghijklmno abcdefghijklmnop abcdefghijklmnopq ABCDEFGHIJKLMNO, x!!! y?\t".to_string(),
            "word,\u{a0}next word:\u{1}more Straße; Ünïcödé... 1234567890123456789 a\u{7f}b c".to_string(),
            "Příliš žluťoučký kůň, ÚPĚL: Привет\u{2003}мир\u{3000}東京 don’t “quoted” a\u{85}b\u{1680}c x\u{2029}".to_string(),
            "ĀĂĄĆĈĊČĎĐĒĔĖ Ā\u{a0}Ă, MYANMAR မြန်မာ ÀÁÂÃÄÅ ÀÁÂÃÄÅÆ. ÀÁÂÃÄÅÆÇ! end".to_string(),
            (0..40).map(|i| format!("W{i}ord{i}.,")).collect::<Vec<_>>().join(" "),
        ];
        for text in &texts {
            for mode in [Mode::Gpt3, Mode::Janitor] {
                let mut hashed = Words::new(text, mode);
                let mut words = Words::new(text, mode);
                let (mut buffer, mut word) = (String::new(), String::new());
                while let Some(range) = words.next_into(&mut word) {
                    let expected = (!word.is_empty()).then(|| word_hash(&word));
                    assert_eq!(
                        hashed.next_hashed(&mut buffer),
                        Some((range, expected)),
                        "{mode} {word:?}"
                    );
                }
                assert_eq!(hashed.next_hashed(&mut buffer), None);
            }
        }
        // Words of up to 16 bytes and longer ones hash differently from their neighbours.
        let hashes: Vec<u64> = [
            "a",
            "b",
            "ab",
            "ba",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnopq",
        ]
        .iter()
        .map(|word| word_hash(word))
        .collect();
        let mut distinct = hashes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), hashes.len());
    }

    #[test]
    fn janitor_matches_lm_evaluation_harness() {
        assert_eq!(janitor_normalize("Hello, World! ÀB"), "hello world Àb");
        assert_eq!(janitor_normalize("  Don't\t\tstop—now!  "), "dont stop—now");
        assert_eq!(
            janitor_normalize("a\u{1c}b\u{a0}c \"q\" (x) [y] {z} ~_^`|"),
            "a b c q x y z"
        );
        assert_eq!(janitor_normalize("ÉCOLE 3.14"), "École 314");
        assert_eq!(janitor_normalize(" !!! "), "");
    }

    #[test]
    fn word_counts_follow_the_mode() {
        // "—" is a Janitor word (not ASCII punctuation) but no GPT-3 word.
        assert_eq!(word_count("Yes — it's 5 p.m. !!", Mode::Gpt3), 4);
        assert_eq!(word_count("Yes — it's 5 p.m. !!", Mode::Janitor), 5);
        assert_eq!(word_count("", Mode::Gpt3), 0);
    }

    #[test]
    fn modes_parse_from_their_names() {
        for &name in Mode::ALLOWED {
            assert_eq!(name.parse::<Mode>().map(Mode::name), Ok(name));
        }
        let error = "gpt4".parse::<Mode>().map(Mode::name);
        assert_eq!(
            error.map_err(|e| e.to_string()),
            Err("unknown normalisation mode `gpt4`; expected one of gpt3, janitor".to_string())
        );
    }
}

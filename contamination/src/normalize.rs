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
//! pass, ASCII bytes through a per-mode table; the matcher's pass over training text
//! ([`Words::next_hashed`]) finds most tokens and their word hashes from bitmaps of 64-byte blocks
//! instead, leaving the rest to the same per-token rules.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::LazyLock;

use corpus_text::python::{is_ascii_py_space, is_py_space};
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

/// The class of every byte under `mode` (see [`Mode`] and [`is_ascii_py_space`]).
const fn byte_classes(mode: Mode) -> [ByteClass; 256] {
    let mut classes = [ByteClass::NonAscii; 256];
    let mut byte = 0u8;
    while byte.is_ascii() {
        let kept = match mode {
            Mode::Gpt3 => byte.is_ascii_alphanumeric(),
            Mode::Janitor => !byte.is_ascii_punctuation(),
        };
        classes[byte as usize] = if is_ascii_py_space(byte) {
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

/// Appends GPT-3 mode's normalisation of the non-whitespace character `c` to `word`: its lowercase
/// form less every character that is not a letter or a number.
fn push_gpt3_normalized(word: &mut String, c: char) {
    match BMP_GPT3.get((c as usize).wrapping_sub(0x80)) {
        Some(&Gpt3Char::Keep(lower)) => word.push(lower),
        Some(Gpt3Char::Delete) => {}
        Some(Gpt3Char::Other) | None => {
            word.extend(c.to_lowercase().filter(|c| c.is_alphanumeric()));
        }
    }
}

/// GPT-3 mode's normalisation of one character, as [`BMP_GPT3`] holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gpt3Char {
    /// Lowercases to this one character, a letter or a number.
    Keep(char),
    /// Lowercases to characters none of which is a letter or a number.
    Delete,
    /// Lowercases to several characters (U+0130 `İ`: `i` and U+0307), decided case by case.
    Other,
}

/// [`Gpt3Char`] of every non-ASCII character of the Basic Multilingual Plane (U+0080–U+FFFF, indexed
/// by code point − 0x80; the surrogate code points, which are not characters, hold `Delete`), computed
/// once (256 KiB) from the same Unicode case mapping and properties that [`push_gpt3_normalized`] applies
/// to the characters beyond it. Those lookups were most of GPT-3 mode's time on non-ASCII text: two-byte
/// scripts (Latin, Greek, Cyrillic, Hebrew, Arabic...), and in English books and web text the curly
/// quotes and dashes of General Punctuation (U+2000–U+206F), whose `is_alphanumeric` takes Unicode's
/// slow path.
static BMP_GPT3: LazyLock<Vec<Gpt3Char>> = LazyLock::new(|| {
    (0x80..=0xffff_u32)
        .map(|code| match char::from_u32(code) {
            Some(c) => {
                let mut lower = c.to_lowercase();
                match (lower.next(), lower.next()) {
                    (Some(one), None) if one.is_alphanumeric() => Gpt3Char::Keep(one),
                    (Some(_), None) => Gpt3Char::Delete,
                    _ => Gpt3Char::Other,
                }
            }
            None => Gpt3Char::Delete,
        })
        .collect()
});

/// The hash of a normalised word, by which both sides of the matcher look words up. A word of up to 16
/// bytes (nearly every word) is hashed from its bytes as two little-endian 64-bit lanes, zero-padded
/// ([`short_word_hash`]), which lets [`Words::next_hashed`] hash most tokens straight from the text; a
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

/// `chunk` with the ASCII letters of its lanes lowercased, other lanes as they are.
fn ascii_lowercase(chunk: u64) -> u64 {
    chunk | ((lanes_in_range(chunk, b'A', b'Z') & !chunk) >> 2)
}

/// Bytes of the text that [`Words::next_hashed`] classifies at once, one bit per byte of a `u64`.
const BLOCK: usize = 64;

/// [`BlockClasses::base`] before the first block is classified: no multiple of [`BLOCK`].
const NO_BLOCK: usize = usize::MAX;

/// The classes of two consecutive blocks of the text, one bit per byte (bit `i` for byte `base + i`),
/// as [`Words::block_classes`] computes them.
#[derive(Debug, Clone, Copy)]
struct BlockClasses {
    /// Where the first block starts in the text: a multiple of [`BLOCK`], or [`NO_BLOCK`].
    base: usize,
    /// ASCII whitespace, and every byte past the end of the text (the end of the text ends a token).
    space: u128,
    /// Bytes of a token that the mode deletes from its word, all ASCII.
    deleted: u128,
    /// Bytes whose character must be decoded to be classified: in [`Mode::Gpt3`] every non-ASCII
    /// byte, in [`Mode::Janitor`] the lead bytes of the non-ASCII characters that may be whitespace.
    special: u128,
}

/// The 64 bits of `bits` from bit `from` (below 64) on.
fn bits_from(bits: u128, from: usize) -> u64 {
    (bits >> (from % 64)) as u64
}

/// The eight bytes of `bytes` from `at` as a little-endian lane, zero past the end.
fn lane_at(bytes: &[u8], at: usize) -> u64 {
    let mut lane = [0u8; 8];
    match bytes.get(at..at + 8) {
        Some(whole) => lane.copy_from_slice(whole),
        None => {
            let rest = bytes.get(at..).unwrap_or_default();
            lane.iter_mut().zip(rest).for_each(|(to, &from)| *to = from);
        }
    }
    u64::from_le_bytes(lane)
}

/// Whether `byte` is special to [`Words::next_hashed`] under `mode` (see [`BlockClasses::special`]):
/// in [`Mode::Gpt3`] any non-ASCII byte, in [`Mode::Janitor`] the lead bytes of the non-ASCII
/// whitespace characters (0xc2: U+0085, U+00A0; 0xe1: U+1680; 0xe2: U+2000–U+205F; 0xe3: U+3000).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn is_special(byte: u8, mode: Mode) -> bool {
    match mode {
        Mode::Gpt3 => !byte.is_ascii(),
        Mode::Janitor => matches!(byte, 0xc2 | 0xe1..=0xe3),
    }
}

/// The bitmaps of [`BlockClasses`] for one block, bit `i` for `block[i]`: whitespace
/// ([`ByteClass::Space`]), deleted bytes ([`ByteClass::Delete`]) and special bytes ([`is_special`])
/// under `mode`.
fn block_bits(block: &[u8; BLOCK], mode: Mode) -> [u64; 3] {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of every x86-64 target.
        unsafe { block_bits_sse2(block, mode) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        block_bits_bytewise(block, mode)
    }
}

/// [`block_bits`] one byte at a time through the mode's byte table: the definition, which the SSE2
/// version is tested against, and the version for other targets.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn block_bits_bytewise(block: &[u8; BLOCK], mode: Mode) -> [u64; 3] {
    let classes = match mode {
        Mode::Gpt3 => &GPT3_BYTES,
        Mode::Janitor => &JANITOR_BYTES,
    };
    let mut bits = [0u64; 3];
    for (i, &byte) in block.iter().enumerate() {
        let class = classes[usize::from(byte)];
        bits[0] |= u64::from(class == ByteClass::Space) << i;
        bits[1] |= u64::from(class == ByteClass::Delete) << i;
        bits[2] |= u64::from(is_special(byte, mode)) << i;
    }
    bits
}

/// [`block_bits`] with SSE2, 16 bytes at a time: each class is a few byte ranges, each range one
/// unsigned comparison (`byte - low <= len - 1`, as `min(byte - low, len - 1) == byte - low`).
/// Whitespace is `\t`–`\r` and U+001C–U+0020 ([`is_ascii_py_space`]); deleted bytes are in
/// Janitor mode `!`–`~` less letters and digits (Python's `string.punctuation`), in GPT-3 mode every
/// ASCII byte that is neither a letter, a digit nor whitespace; special bytes are as [`is_special`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn block_bits_sse2(block: &[u8; BLOCK], mode: Mode) -> [u64; 3] {
    use std::arch::x86_64::{
        _mm_andnot_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let mut bits = [0u64; 3];
    for (i, chunk) in block.chunks_exact(16).enumerate() {
        // SAFETY: `chunk` holds 16 bytes, which `_mm_loadu_si128` reads without alignment.
        let bytes = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
        let space = _mm_or_si128(in_range(bytes, b'\t', 5), in_range(bytes, 0x1c, 5));
        let lower = _mm_or_si128(bytes, _mm_set1_epi8(0x20));
        let alphanumeric = _mm_or_si128(in_range(bytes, b'0', 10), in_range(lower, b'a', 26));
        let mask = |lanes| u64::from(_mm_movemask_epi8(lanes) as u16);
        let non_ascii = mask(bytes);
        let (deleted, special) = match mode {
            Mode::Gpt3 => (
                !(mask(alphanumeric) | mask(space) | non_ascii) & 0xffff,
                non_ascii,
            ),
            Mode::Janitor => {
                let leads = _mm_or_si128(
                    _mm_cmpeq_epi8(bytes, _mm_set1_epi8(0xc2_u8 as i8)),
                    in_range(bytes, 0xe1, 3),
                );
                let printable = in_range(bytes, b'!', 94);
                (mask(_mm_andnot_si128(alphanumeric, printable)), mask(leads))
            }
        };
        for (class, lanes) in bits.iter_mut().zip([mask(space), deleted, special]) {
            *class |= lanes << (16 * i);
        }
    }
    bits
}

/// All ones in the lanes of `bytes` in `low..low + len` (unsigned, `len` at least 1), zero in the
/// others.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn in_range(bytes: std::arch::x86_64::__m128i, low: u8, len: u8) -> std::arch::x86_64::__m128i {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_min_epu8, _mm_set1_epi8, _mm_sub_epi8};
    let offset = _mm_sub_epi8(bytes, _mm_set1_epi8(low as i8));
    _mm_cmpeq_epi8(_mm_min_epu8(offset, _mm_set1_epi8((len - 1) as i8)), offset)
}

/// The whitespace-delimited tokens of a text (the maximal runs of non-whitespace characters, as Python's
/// `re.finditer(r"\S+")` finds them), each normalised into its word in the same pass.
///
/// This is the crate's one tokenizer: the benchmark side and the training side both read words through
/// it. ASCII bytes cost one lookup in a per-mode table each; only non-ASCII characters are decoded.
/// [`Words::next_hashed`] classifies the text 64 bytes at a time instead (SSE2 on x86-64).
pub(crate) struct Words<'a> {
    text: &'a str,
    at: usize,
    mode: Mode,
    classes: &'static [ByteClass; 256],
    /// The classified blocks around `at`, for [`Words::next_hashed`].
    blocks: BlockClasses,
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
            blocks: BlockClasses {
                base: NO_BLOCK,
                space: 0,
                deleted: 0,
                special: 0,
            },
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
                    if is_py_space(c) {
                        break;
                    }
                    if self.mode == Mode::Gpt3 {
                        word.push_str(self.text.get(kept..at).unwrap_or_default());
                        push_gpt3_normalized(word, c);
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
    /// empty); `None` after the last token. Tokens are found and hashed from bitmaps of the text's
    /// byte classes ([`Words::classified_token`]); a token those cannot settle is normalised into
    /// `word` by [`Words::next_into`] and hashed from there.
    ///
    /// Inlined into the matcher's loop with [`Words::classified_token`]: as calls, returning the
    /// token through memory cost a fifth of the matcher's time.
    #[inline(always)]
    pub(crate) fn next_hashed(&mut self, word: &mut String) -> Option<(Range<usize>, Option<u64>)> {
        if let Some(token) = self.classified_token() {
            return Some(token);
        }
        let range = self.next_into(word)?;
        Some((range, (!word.is_empty()).then(|| word_hash(word))))
    }

    /// [`Words::next_hashed`] from the bitmaps of [`Words::block_classes`]; `None`, with `at` at or
    /// before the next token, where [`Words::next_into`] must decide: a token of GPT-3 mode with a
    /// non-ASCII character, a token running past the two classified blocks, and the end of the text.
    ///
    /// Exact because a token is a maximal run of characters that are not whitespace, as
    /// [`Words::next_into`] splits it: it ends at the first ASCII whitespace byte or the first
    /// special byte that starts a whitespace character (each special byte is decoded), and its
    /// word is its bytes that the mode does not delete, in order, ASCII-lowercased: both modes keep
    /// ASCII letters and digits and lowercase only `A`–`Z`, and Janitor mode keeps every non-ASCII
    /// byte as it is. The next token's start and end are two bit scans, so finding them does not
    /// wait on the bytes of the token before. The word is read straight from the text when it is a
    /// prefix of the token of up to 16 bytes (a word and its trailing punctuation: most tokens),
    /// gathered otherwise ("don't", "e.g.", "(word)", long words).
    ///
    /// The word of a settled token fits [`BLOCK`] bytes: its token ends within 64 bytes of `from`.
    #[inline(always)]
    fn classified_token(&mut self) -> Option<(Range<usize>, Option<u64>)> {
        let start = loop {
            let Some(rel) = self
                .at
                .checked_sub(self.blocks.base)
                .filter(|&rel| rel < BLOCK)
            else {
                if self.at >= self.text.len() {
                    return None;
                }
                self.load_blocks();
                continue;
            };
            let start = rel + (!bits_from(self.blocks.space, rel)).trailing_zeros() as usize;
            if start >= BLOCK {
                // Whitespace up to the second block, or through it: classify from there.
                self.at = self.blocks.base + start;
                continue;
            }
            // A non-ASCII whitespace character before the token (as U+00A0 in web text).
            if bits_from(self.blocks.special, start) & 1 == 0 {
                break start;
            }
            let at = self.blocks.base + start;
            match self.char_at(at) {
                Some(c) if is_py_space(c) => self.at = at + c.len_utf8(),
                _ => break start,
            }
        };
        let base = self.blocks.base;
        let from = base + start;
        // From here on, bit `i` is byte `from + i`.
        let space = bits_from(self.blocks.space, start);
        if space == 0 {
            self.at = from;
            return None;
        }
        // The bytes before the first ASCII whitespace byte, then before the first whitespace
        // character.
        let mut token = (space & space.wrapping_neg()) - 1;
        let mut special = bits_from(self.blocks.special, start) & token;
        while special != 0 {
            let bit = special.trailing_zeros();
            match self.char_at(from + bit as usize) {
                Some(c) if is_py_space(c) => {
                    token &= (1 << bit) - 1;
                    break;
                }
                // GPT-3 mode lowercases and filters non-ASCII characters by their Unicode
                // properties.
                Some(_) if self.mode == Mode::Janitor => special &= special - 1,
                _ => {
                    self.at = from;
                    return None;
                }
            }
        }
        // `token` is below 2^63: `token + 1` is the bit of its end.
        let end = from + (token + 1).trailing_zeros() as usize;
        self.at = end;
        let bytes = self.text.as_bytes();
        let word = token & !bits_from(self.blocks.deleted, start);
        // `word` is below 2^63 (the token ends by bit 63), so `word + 1` does not overflow: it
        // carries through the word's trailing ones, its lowest set bit counts them, and
        // `word & (word + 1)` is zero exactly when the word's bytes are the token's first
        // `prefix_len` (at least one, as `word` is not zero).
        let prefix_len = (word + 1).trailing_zeros() as usize;
        let hash = if word == 0 {
            None
        } else if word & (word + 1) == 0 && prefix_len <= 16 {
            let lanes =
                u128::from(lane_at(bytes, from)) | u128::from(lane_at(bytes, from + 8)) << 64;
            let kept = lanes & (u128::MAX >> (128 - 8 * prefix_len));
            let (low, high) = (kept as u64, (kept >> 64) as u64);
            Some(short_word_hash(
                ascii_lowercase(low),
                ascii_lowercase(high),
                prefix_len,
            ))
        } else {
            let mut gathered = [0u8; BLOCK];
            let mut len = 0;
            let mut rest = word;
            while rest != 0 {
                if let Some(byte) = gathered.get_mut(len) {
                    *byte = bytes
                        .get(from + rest.trailing_zeros() as usize)
                        .copied()
                        .unwrap_or_default();
                }
                len += 1;
                rest &= rest - 1;
            }
            Some(match gathered.get_mut(..len) {
                Some(word) if len > 16 => {
                    word.make_ascii_lowercase();
                    xxh3_64(word)
                }
                // Up to 16 bytes, zero-padded: the lanes of `short_word_hash`.
                _ => {
                    let lane = |at: usize| lane_at(&gathered, at);
                    short_word_hash(ascii_lowercase(lane(0)), ascii_lowercase(lane(8)), len)
                }
            })
        };
        Some((from..end, hash))
    }

    /// Classifies the two blocks from the block holding `at` into [`Words::blocks`], reusing the
    /// second block of the last two where the window moves on by one.
    fn load_blocks(&mut self) {
        let base = self.at - self.at % BLOCK;
        let [space, deleted, special] = self.block_classes(base + BLOCK);
        let high = |bits: u64| u128::from(bits) << BLOCK;
        if self.blocks.base.wrapping_add(BLOCK) == base {
            let blocks = &mut self.blocks;
            blocks.space = (blocks.space >> BLOCK) | high(space);
            blocks.deleted = (blocks.deleted >> BLOCK) | high(deleted);
            blocks.special = (blocks.special >> BLOCK) | high(special);
        } else {
            let [low_space, low_deleted, low_special] = self.block_classes(base);
            self.blocks.space = u128::from(low_space) | high(space);
            self.blocks.deleted = u128::from(low_deleted) | high(deleted);
            self.blocks.special = u128::from(low_special) | high(special);
        }
        self.blocks.base = base;
    }

    /// The [`BlockClasses`] bitmaps (whitespace, deleted, special) of the [`BLOCK`] bytes from
    /// `from` ([`block_bits`]), bytes past the end of the text counted as whitespace only.
    fn block_classes(&self, from: usize) -> [u64; 3] {
        let bytes = self.text.as_bytes();
        let whole = bytes
            .get(from..from + BLOCK)
            .and_then(|block| <&[u8; BLOCK]>::try_from(block).ok());
        let mut classes = match whole {
            Some(block) => block_bits(block, self.mode),
            None => {
                let mut block = [0u8; BLOCK];
                let rest = bytes.get(from..).unwrap_or_default();
                block
                    .iter_mut()
                    .zip(rest)
                    .for_each(|(to, &byte)| *to = byte);
                block_bits(&block, self.mode)
            }
        };
        let left = self.text.len().saturating_sub(from);
        if left < BLOCK {
            let past_end = u64::MAX << left;
            classes[0] |= past_end;
            classes[1] &= !past_end;
            classes[2] &= !past_end;
        }
        classes
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
                    Some(c) if is_py_space(c) => at += c.len_utf8(),
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
    use super::{
        BLOCK, Mode, Words, block_bits, block_bits_bytewise, gpt3_words, janitor_normalize,
        push_gpt3_normalized, word_count, word_hash,
    };

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

    /// A SplitMix64 sequence: `next(n)` is uniform in `0..n`.
    fn random(seed: u64) -> impl FnMut(usize) -> usize {
        let mut state = seed;
        move |n| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) % n as u64) as usize
        }
    }

    /// Random texts of random tokens: ASCII letters, digits and punctuation (apostrophes, dots,
    /// dashes) in any order, non-ASCII letters, punctuation and whitespace, control characters,
    /// words of up to 80 bytes, runs of whitespace.
    fn random_texts(count: usize, seed: u64) -> Vec<String> {
        const PIECES: &[&str] = &[
            "a", "Z", "q", "M", "0", "7", "'", ".", ",", "-", "!", "(", ")", "\"", "$", "_", "~",
            "é", "É", "ß", "İ", "Σ", "東", "ǅ", "Ⅻ", "½", "’", "“", "—", "…", "«", "\u{300}",
            "\u{200b}", "\u{a0}", "\u{85}", "\u{1680}", "\u{2003}", "\u{2028}", "\u{202f}",
            "\u{205f}", "\u{3000}", "\u{1c}", "\u{1}", "\u{7f}", "\u{0}", " ", " ", "\n", "\t",
            "\r",
        ];
        const WORDS: &[&str] = &["don't", "e.g.", "U.S.", "(word)", "Hello,", "it’s", "naïve"];
        let mut next = random(seed);
        (0..count)
            .map(|_| {
                let mut text = String::new();
                for _ in 0..next(60) {
                    match next(4) {
                        0 => text.push_str(PIECES[next(PIECES.len())]),
                        1 => text.push_str(WORDS[next(WORDS.len())]),
                        2 => {
                            for _ in 0..next(80) {
                                text.push(char::from(b"abcXYZ019'.-"[next(12)]));
                            }
                        }
                        _ => {
                            for _ in 0..1 + next(12) {
                                text.push_str(PIECES[next(PIECES.len())]);
                            }
                        }
                    }
                    text.push_str([" ", " ", "  ", "\n\n", "\u{a0}", ""][next(6)]);
                }
                text
            })
            .collect()
    }

    #[test]
    fn classified_tokens_match_the_general_path() {
        for mode in [Mode::Gpt3, Mode::Janitor] {
            let (mut settled, mut tokens) = (0, 0);
            for text in random_texts(2000, 7) {
                let mut classified = Words::new(&text, mode);
                let mut general = Words::new(&text, mode);
                let (mut buffer, mut word) = (String::new(), String::new());
                loop {
                    let expected = general
                        .next_into(&mut word)
                        .map(|range| (range, (!word.is_empty()).then(|| word_hash(&word))));
                    // What `next_hashed` does, counting the tokens the bitmaps settle.
                    let found = match classified.classified_token() {
                        Some(token) => {
                            settled += 1;
                            Some(token)
                        }
                        None => classified.next_hashed(&mut buffer),
                    };
                    assert_eq!(found, expected, "{mode} {text:?}");
                    if expected.is_none() {
                        break;
                    }
                    tokens += 1;
                }
            }
            // Enough of them go each way for the comparison to test both.
            assert!(
                settled * 5 > tokens && settled < tokens,
                "{mode}: {settled} of {tokens}"
            );
        }
    }

    #[test]
    fn bitmaps_settle_punctuated_long_and_non_ascii_tokens() {
        let settled = |text: &str, mode: Mode| Words::new(text, mode).classified_token();
        for (mode, token, word) in [
            (Mode::Janitor, "don't", "dont"),
            (Mode::Gpt3, "E.g.", "eg"),
            (Mode::Janitor, "(U.S.)", "us"),
            (Mode::Gpt3, "--", ""),
            (
                Mode::Janitor,
                "Internationalization,",
                "internationalization",
            ),
            (
                Mode::Gpt3,
                "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q",
                "abcdefghijklmnopq",
            ),
            (Mode::Janitor, "“Ünïcödé”—l’été", "“Ünïcödé”—l’été"),
            (Mode::Janitor, "a\u{1}B\u{7f}", "a\u{1}b\u{7f}"),
        ] {
            let text = format!("{token} next");
            let hash = (!word.is_empty()).then(|| word_hash(word));
            assert_eq!(
                settled(&text, mode),
                Some((0..token.len(), hash)),
                "{mode} {token:?}"
            );
        }
        // Non-ASCII whitespace ends a token and is skipped before the next one.
        for mode in [Mode::Gpt3, Mode::Janitor] {
            let mut words = Words::new("a\u{a0}b\u{3000} c", mode);
            let mut next = |range, word| {
                assert_eq!(
                    words.classified_token(),
                    Some((range, Some(word_hash(word))))
                );
            };
            next(0..1, "a");
            next(3..4, "b");
            next(8..9, "c");
        }
        assert_eq!(
            settled("a—b c", Mode::Janitor),
            Some((0..5, Some(word_hash("a—b"))))
        );
        // Left to `next_into`: a non-ASCII GPT-3 word, a token longer than the bitmaps look ahead.
        assert_eq!(settled("école c", Mode::Gpt3), None);
        assert_eq!(settled(&"x".repeat(2 * BLOCK), Mode::Janitor), None);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn sse2_block_bits_match_the_byte_tables() {
        let mut next = random(11);
        let blocks = (0..=255u8)
            .map(|shift| std::array::from_fn(|i| (i as u8).wrapping_add(shift)))
            .chain((0..5000).map(|_| std::array::from_fn(|_| next(256) as u8)));
        for block in blocks {
            for mode in [Mode::Gpt3, Mode::Janitor] {
                assert_eq!(
                    block_bits(&block, mode),
                    block_bits_bytewise(&block, mode),
                    "{mode} {block:?}"
                );
            }
        }
    }

    #[test]
    fn gpt3_normalization_table_matches_unicode() {
        // Every character the table holds, and some beyond it.
        for c in ('\u{0}'..='\u{10000}').chain(['😀', '𝐀', '𐐀', '\u{10ffff}']) {
            let mut word = String::new();
            push_gpt3_normalized(&mut word, c);
            let expected: String = c.to_lowercase().filter(|c| c.is_alphanumeric()).collect();
            assert_eq!(word, expected, "{c:?}");
        }
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

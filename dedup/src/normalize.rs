//! Text normalisation applied before shingling.
//!
//! Two pages that differ only in case, accents, punctuation, the digits of a date or counter, or
//! whitespace are the same document for deduplication. This follows the normalisation that datatrove
//! applies before MinHash in the FineWeb recipe (Penedo et al. 2024, §3.3; datatrove `simplify_text`):
//! lowercase, digits folded to `0`, punctuation to spaces, whitespace collapsed, and diacritics removed by
//! canonical decomposition (NFD) followed by dropping nonspacing marks (General_Category `Mn`).
//! Digits are folded one for one ("2024" becomes "0000"), so the number of digits still counts.

use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Normalises `text` for shingling: lowercase, accents removed, every decimal digit replaced by `0`,
/// every other character that is not a letter or a number replaced by a space, and runs of spaces
/// collapsed to one, with none at either end.
///
/// The result is a sequence of words separated by single spaces, the form [`crate::word_shingles`]
/// expects. Decimal digits of every script (General_Category `Nd`, as Python's `\d`) become ASCII `0`.
///
/// The definition is over the whole text (lowercase, then NFD, then fold each character), but the work
/// is per character: ASCII bytes from a table, other characters from a table of what each one folds to
/// (built once per process). That is exact because lowercasing and decomposition are per character and
/// canonical reordering only permutes runs of combining characters, all of which are dropped but a few
/// spacing ones (General_Category `Mc` with a nonzero combining class, such as U+1D165); a run of
/// non-ASCII characters that holds one of those goes through the whole-text definition instead.
///
/// ```
/// assert_eq!(corpus_dedup::normalize_for_shingles("Café 2024!"), "cafe 0000");
/// ```
pub fn normalize_for_shingles(text: &str) -> String {
    let mut words = WordWriter::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte.is_ascii() {
            if ASCII_FOLD[usize::from(byte)] == SEPARATOR {
                words.separate();
                at += 1;
                continue;
            }
            // A run of ASCII letters and digits: one separator check, then one table-mapped copy.
            let end = bytes[at..]
                .iter()
                .position(|&byte| !is_ascii_word_byte(byte))
                .map_or(bytes.len(), |offset| at + offset);
            words.start_word().extend(
                bytes[at..end]
                    .iter()
                    .map(|&byte| ASCII_FOLD[usize::from(byte)]),
            );
            at = end;
        } else {
            // ASCII bytes are char boundaries and NFD starters, so a non-ASCII run is a `str` of whole
            // characters that no reordering crosses.
            let end = bytes[at..]
                .iter()
                .position(u8::is_ascii)
                .map_or(bytes.len(), |offset| at + offset);
            fold_non_ascii_run(&text[at..end], &mut words);
            at = end;
        }
    }
    words.finish()
}

/// An ASCII letter or digit: a byte that [`ASCII_FOLD`] keeps in a word.
#[inline]
fn is_ascii_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
}

/// Marks an ASCII byte that becomes a word separator in [`ASCII_FOLD`].
const SEPARATOR: u8 = 0;

/// What each ASCII byte becomes: letters lowercased, digits `0`, everything else [`SEPARATOR`]. This is
/// [`fold_whole`] restricted to ASCII, where lowercasing maps only the capitals, NFD is the identity and
/// no character is a mark.
static ASCII_FOLD: [u8; 128] = ascii_fold();

const fn ascii_fold() -> [u8; 128] {
    let mut table = [SEPARATOR; 128];
    let mut byte = 0u8;
    while byte < 128 {
        table[byte as usize] = if byte.is_ascii_digit() {
            b'0'
        } else if byte.is_ascii_alphabetic() {
            byte.to_ascii_lowercase()
        } else {
            SEPARATOR
        };
        byte += 1;
    }
    table
}

/// What one character folds to, as a `u32`: a `char` to write, or one of the codes above `char::MAX`.
type Fold = u32;
/// The character becomes a word separator.
const FOLD_SEPARATOR: Fold = 0x11_0000;
/// The character vanishes (a nonspacing mark, or a decomposition of nothing but marks).
const FOLD_NOTHING: Fold = 0x11_0001;
/// The character's decomposition keeps a combining character that canonical reordering can move past
/// its neighbours' marks: its whole run must be folded with [`fold_whole`].
const FOLD_REORDERS: Fold = 0x11_0002;
/// `FOLD_SEVERAL + i`: the character becomes several outputs, [`FoldTable::several`]`[i]` (a Hangul
/// syllable its two or three jamo, for instance).
const FOLD_SEVERAL: Fold = 0x11_0003;

/// What every character from U+0080 to U+FFFF folds to, with [`fold_of`]. Characters beyond the BMP are
/// rare (emoji, historic scripts) and are folded as they come.
struct FoldTable {
    /// Indexed by code point − 0x80; surrogates, which are not characters, fold to nothing.
    bmp: Box<[Fold]>,
    /// The outputs of the characters that fold to more than one.
    several: Vec<Vec<Fold>>,
}

/// Built on first use: about 65,000 characters, a few milliseconds, once per process.
static FOLD_TABLE: OnceLock<FoldTable> = OnceLock::new();

fn fold_table() -> &'static FoldTable {
    FOLD_TABLE.get_or_init(|| {
        let mut several = Vec::new();
        let bmp = (0x80..=0xFFFF)
            .map(|code| {
                let Some(c) = char::from_u32(code) else {
                    return FOLD_NOTHING;
                };
                match fold_of(c) {
                    Folded::Reorders => FOLD_REORDERS,
                    Folded::To(outputs) => match outputs.as_slice() {
                        [] => FOLD_NOTHING,
                        [one] => *one,
                        _ => {
                            several.push(outputs);
                            // At most 65,536 entries, far below the 2^32 − FOLD_SEVERAL codes left.
                            FOLD_SEVERAL + (several.len() - 1) as u32
                        }
                    },
                }
            })
            .collect();
        FoldTable { bmp, several }
    })
}

/// What a character folds to on its own.
enum Folded {
    /// These outputs, each a `char` or [`FOLD_SEPARATOR`].
    To(Vec<Fold>),
    /// Its decomposition keeps a combining character that canonical reordering can move.
    Reorders,
}

/// Folds `c` alone: lowercase, NFD, then each resulting character dropped (nonspacing mark), turned into
/// `0` (decimal digit), kept (other letter or number) or made a separator.
fn fold_of(c: char) -> Folded {
    let mut outputs = Vec::new();
    for d in c.to_lowercase().nfd() {
        let category = d.general_category();
        if category != GeneralCategory::NonspacingMark && canonical_combining_class(d) != 0 {
            return Folded::Reorders;
        }
        outputs.push(match category {
            GeneralCategory::NonspacingMark => continue,
            GeneralCategory::DecimalNumber => Fold::from('0'),
            _ if d.is_alphanumeric() => Fold::from(d),
            _ => FOLD_SEPARATOR,
        });
    }
    Folded::To(outputs)
}

/// Folds a run of non-ASCII characters into `words`, character by character from the fold table, or
/// with [`fold_whole`] if some character of the run can be reordered.
fn fold_non_ascii_run(run: &str, words: &mut WordWriter) {
    let table = fold_table();
    let checkpoint = words.checkpoint();
    for c in run.chars() {
        // Non-ASCII, so at least 0x80.
        let index = (u32::from(c) - 0x80) as usize;
        let fold = match table.bmp.get(index) {
            Some(&fold) => fold,
            None => match fold_of(c) {
                Folded::To(outputs) => {
                    outputs.into_iter().for_each(|fold| words.write(fold));
                    continue;
                }
                Folded::Reorders => FOLD_REORDERS,
            },
        };
        match fold {
            FOLD_REORDERS => {
                words.restore(checkpoint);
                fold_whole(run, words);
                return;
            }
            FOLD_SEVERAL.. => {
                let outputs = table.several.get((fold - FOLD_SEVERAL) as usize);
                outputs
                    .into_iter()
                    .flatten()
                    .for_each(|&fold| words.write(fold));
            }
            _ => words.write(fold),
        }
    }
}

/// The definition, over a whole string: lowercase, NFD, then fold each character as [`fold_of`] does.
fn fold_whole(text: &str, words: &mut WordWriter) {
    // Lowercasing first lets NFD split the accents that lowercasing can produce ("İ" lowercases to "i" +
    // U+0307), so they are dropped with the others.
    for c in text.chars().flat_map(char::to_lowercase).nfd() {
        match c.general_category() {
            GeneralCategory::NonspacingMark => {}
            GeneralCategory::DecimalNumber => words.push('0'),
            _ if c.is_alphanumeric() => words.push(c),
            _ => words.separate(),
        }
    }
}

/// The definition applied to a whole text at once: what [`normalize_for_shingles`] must equal.
#[cfg(test)]
fn normalize_reference(text: &str) -> String {
    let mut words = WordWriter::with_capacity(text.len());
    fold_whole(text, &mut words);
    words.finish()
}

/// Builds the normalised text. A separator is written lazily, before the next word character, so none
/// leads, trails or repeats.
struct WordWriter {
    /// UTF-8: only ASCII bytes and encoded `char`s are ever written.
    out: Vec<u8>,
    separator_pending: bool,
}

impl WordWriter {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
            separator_pending: false,
        }
    }

    /// Writes the pending separator, if any, and returns the buffer to append word bytes to.
    #[inline]
    fn start_word(&mut self) -> &mut Vec<u8> {
        if self.separator_pending {
            self.out.push(b' ');
            self.separator_pending = false;
        }
        &mut self.out
    }

    #[inline]
    fn push(&mut self, c: char) {
        let mut utf8 = [0; 4];
        self.start_word()
            .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
    }

    fn finish(self) -> String {
        // Valid by construction; the lossy conversion is never taken and keeps this path panic-free.
        String::from_utf8(self.out)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
    }

    #[inline]
    fn separate(&mut self) {
        self.separator_pending = !self.out.is_empty();
    }

    /// Writes a character, a separator or nothing, as a [`Fold`] says.
    #[inline]
    fn write(&mut self, fold: Fold) {
        match fold {
            FOLD_SEPARATOR => self.separate(),
            FOLD_NOTHING => {}
            // The table holds no other code here; a `char` is what remains.
            _ => {
                if let Some(c) = char::from_u32(fold) {
                    self.push(c);
                }
            }
        }
    }

    /// The state to go back to if a run must be folded again.
    fn checkpoint(&self) -> (usize, bool) {
        (self.out.len(), self.separator_pending)
    }

    fn restore(&mut self, (len, separator_pending): (usize, bool)) {
        self.out.truncate(len);
        self.separator_pending = separator_pending;
    }
}

#[cfg(test)]
mod tests {
    use super::{normalize_for_shingles, normalize_reference};

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

    #[test]
    fn fast_path_equals_the_definition_on_real_text() {
        let texts = crate::samples::web_texts();
        assert!(texts.len() > 700);
        assert!(texts.iter().any(|t| !t.is_ascii()));
        for text in texts.iter().chain([&crate::samples::book_text()]) {
            assert_eq!(normalize_for_shingles(text), normalize_reference(text));
        }
    }

    #[test]
    fn fast_path_equals_the_definition_on_random_text() {
        // Characters that exercise every fold: ASCII of each class, accented and dotted capitals,
        // final sigma, Hangul syllables (several outputs), digits of other scripts, non-ASCII spaces,
        // nonspacing marks, spacing marks that canonical reordering moves (U+1D165, U+1D16D, U+0F39's
        // neighbours), a combining mark after ASCII, and characters beyond the BMP.
        let palette: Vec<char> = "aZ09 ,.-\t\n_'İıßΣσςÉéÅǅǄ가힣각٣２\u{a0}\u{3000}\u{2028}\u{301}\u{327}\u{334}\u{5b0}\u{1d165}\u{1d16d}\u{1d167}\u{f39}\u{f71}\u{f72}\u{1f600}\u{10400}\u{1d7ce}ﬁ℃Ⅻ①"
            .chars()
            .collect();
        let mut state = 11u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let len = (state >> 59) as usize;
            for _ in 0..len {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                text.push(palette[(state >> 33) as usize % palette.len()]);
            }
            assert_eq!(
                normalize_for_shingles(&text),
                normalize_reference(&text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn reorderable_marks_fold_as_in_the_whole_text() {
        // U+1D165 (Mc, class 216) after U+0334 (Mn, class 1) and before U+1D167 (Mn, class 1): NFD
        // reorders the run; the spacing mark is kept, the nonspacing ones dropped.
        let text = "x\u{1d165}\u{334}\u{1d16d}y";
        assert_eq!(normalize_for_shingles(text), normalize_reference(text));
    }
}

//! Words and sentences as datatrove 0.10.1 counts them for English: `split_into_words` runs a blank spaCy 3.8
//! `en` tokenizer and drops the whitespace tokens; `split_into_sentences` adds spaCy's rule-based
//! `Sentencizer`. This is a port of that tokenizer's algorithm (`spacy/tokenizer.pyx`: `_tokenize_affixes`,
//! `_split_affixes`, `_attach_tokens`, `_apply_special_cases`) with its English prefix, suffix and infix
//! rules and exception table ([`super::tables`]), over slices of the text with no allocation per word.
//! Chunks of letters only or digits only (see [`plain_chars`]), and such a word followed by one punctuation
//! mark, skip the general affix loop, with the same result.
//!
//! It reproduces spaCy token for token on the sample data (1.26 million tokens of web pages, books and
//! wikitext, and random strings of punctuation, URLs and exceptions). Where it can differ:
//! - the URL matcher is a hand-written equivalent of spaCy's `URL_PATTERN` regex that takes `\d` as ASCII
//!   digits;
//! - character categories come from Unicode 16 (Rust) where Python 3.11 has Unicode 14;
//! - spaCy's exception pass is applied within runs of chunks separated by single spaces, which is where
//!   spaCy's token matcher can find them.

use std::collections::HashMap;
use std::sync::OnceLock;

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use super::hashes::Prehashed;
use super::tables::{
    ALPHA, ALPHA_LOWER, ALPHA_UPPER, CURRENCIES, DOT_SUFFIX_AFTER, ICONS, PREFIX_CHARS, QUOTES,
    SENTENCE_PUNCT, SPECIAL_CASES, SUFFIX_CHARS, UNITS,
};
use super::text::{is_py_space, is_unicode_punct};

/// The words of `text` as datatrove's `split_into_words(text, "en")` returns them: spaCy's English tokens
/// (punctuation marks split off as words of their own, `don't` as `do` + `n't`, URLs kept whole) without
/// the whitespace ones. Each word is a slice of `text`.
pub fn split_into_words(text: &str) -> Vec<&str> {
    let mut words = Vec::with_capacity(text.len() / 5 + 1);
    for_each_token(text, |token, is_space| {
        if !is_space {
            words.push(token);
        }
    });
    words
}

/// One token of spaCy's tokenization: a slice of the text, and whether it is a run of whitespace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Token<'t> {
    pub(super) text: &'t str,
    pub(super) is_space: bool,
}

/// All of `text`'s tokens, whitespace ones included, for filters that need more than the words.
pub(super) fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::with_capacity(text.len() / 4 + 1);
    for_each_token(text, |text, is_space| tokens.push(Token { text, is_space }));
    tokens
}

/// The number of sentences spaCy's `Sentencizer` finds in `text`, as datatrove's
/// `len(split_into_sentences(text, "en"))` (which is 1 for a text with no tokens).
///
/// A sentence ends at a token that is one of the sentence punctuation marks; the next one starts at the
/// first following token that is not punctuation.
pub fn count_sentences(text: &str) -> usize {
    count_sentences_and_words(text).0
}

/// [`count_sentences`] and the number of words ([`split_into_words`]) of `text`, from one tokenization.
pub(super) fn count_sentences_and_words(text: &str) -> (usize, usize) {
    let mut counter = SentenceCounter::default();
    for_each_token(text, |token, is_space| counter.add(token, is_space));
    (counter.sentences, counter.words)
}

/// [`count_sentences_and_words`] of the text that `tokens` (a run of [`tokenize`]'s tokens) spell.
pub(super) fn count_sentences_and_words_of(tokens: &[Token]) -> (usize, usize) {
    let mut counter = SentenceCounter::default();
    for token in tokens {
        counter.add(token.text, token.is_space);
    }
    (counter.sentences, counter.words)
}

/// spaCy's `Sentencizer.predict` over a stream of tokens, counting words on the way.
struct SentenceCounter {
    sentences: usize,
    words: usize,
    seen_period: bool,
}

impl Default for SentenceCounter {
    fn default() -> Self {
        // A text with no tokens still makes one (empty) sentence in datatrove.
        SentenceCounter {
            sentences: 1,
            words: 0,
            seen_period: false,
        }
    }
}

impl SentenceCounter {
    fn add(&mut self, token: &str, is_space: bool) {
        self.words += usize::from(!is_space);
        let mut chars = token.chars();
        let is_sentence_punct = match (chars.next(), chars.next()) {
            (Some(c), None) => SENTENCE_PUNCT.binary_search(&c).is_ok(),
            _ => false,
        };
        if self.seen_period && !is_sentence_punct && !token.chars().all(is_unicode_punct) {
            self.sentences += 1;
            self.seen_period = false;
        } else if is_sentence_punct {
            self.seen_period = true;
        }
    }
}

/// Calls `emit(token, is_space)` for each token of spaCy's tokenization of `text`, in order. As in spaCy,
/// the text is cut into runs of space and non-space characters ("chunks"); a single `' '` after a chunk
/// belongs to it, other runs of spaces are tokens of their own.
pub(super) fn for_each_token<'t>(text: &'t str, mut emit: impl FnMut(&'t str, bool)) {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return;
    }
    let plain = plain_chars();
    let mut tokenizer = Tokenizer::new(text);
    let (first_class, _) = char_class(text, 0, plain);
    let mut in_space = first_class == SPACE;
    // The classes of the current chunk's characters, OR-ed, and the same without its last character.
    let (mut classes, mut classes_before_last) = (0, 0);
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (class, len) = char_class(text, i, plain);
        if (class == SPACE) == in_space {
            classes_before_last = classes;
            classes |= class;
            i += len;
            continue;
        }
        if start < i {
            let span = &text[start..i];
            if in_space {
                tokenizer.flush(&mut emit);
                emit(span, true);
            } else {
                tokenizer.tokenize_chunk(span, classes, classes_before_last);
            }
        }
        start = if bytes[i] == b' ' { i + 1 } else { i };
        in_space = !in_space;
        (classes, classes_before_last) = (class, 0);
        i += len;
    }
    if start < text.len() {
        let span = &text[start..];
        if in_space {
            tokenizer.flush(&mut emit);
            emit(span, true);
        } else {
            tokenizer.tokenize_chunk(span, classes, classes_before_last);
        }
    }
    tokenizer.flush(&mut emit);
}

/// [`char_class`]: a space (Python's `str.isspace`).
const SPACE: u8 = 1;
/// [`char_class`]: an ASCII letter, or a character outside ASCII that no prefix, suffix or infix rule of
/// spaCy's English tokenizer looks at (see [`plain_chars`]).
const LETTER: u8 = 2;
/// [`char_class`]: an ASCII digit.
const DIGIT: u8 = 4;
/// [`char_class`]: any other character.
const OTHER: u8 = 8;

/// [`char_class`] of each ASCII character.
static ASCII_CLASS: [u8; 128] = {
    let mut table = [OTHER; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphabetic() {
            LETTER
        } else if c.is_ascii_digit() {
            DIGIT
        } else if matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ') {
            SPACE
        } else {
            OTHER
        };
        b += 1;
    }
    table
};

/// The class (one of [`SPACE`], [`LETTER`], [`DIGIT`], [`OTHER`]) and the length in bytes of the character
/// at byte `i` of `text` (a char boundary), with `plain` from [`plain_chars`].
#[inline(always)]
fn char_class(text: &str, i: usize, plain: &[u64]) -> (u8, usize) {
    match text.as_bytes()[i] {
        b if b < 0x80 => (ASCII_CLASS[usize::from(b)], 1),
        _ => non_ascii_class(text, i, plain),
    }
}

/// [`char_class`] of a character outside ASCII.
#[inline(never)]
fn non_ascii_class(text: &str, i: usize, plain: &[u64]) -> (u8, usize) {
    let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
        return (OTHER, 1);
    };
    let code = c as usize;
    let class = if plain
        .get(code >> 6)
        .is_some_and(|bits| bits & (1 << (code & 63)) != 0)
    {
        LETTER
    } else if is_py_space(c) {
        SPACE
    } else {
        OTHER
    };
    (class, c.len_utf8())
}

/// A bit per code point of the Basic Multilingual Plane beyond ASCII: set for the characters that are no
/// space and that spaCy's English prefix, suffix and infix rules never match or look at, except for the
/// units after a digit (a chunk with an ASCII digit is never taken as plain). A chunk of such characters and
/// ASCII letters is a single token unless it is an exception, as each rule needs some other character:
/// prefixes and suffixes start or end with [`PREFIX_CHARS`], [`SUFFIX_CHARS`], an icon, `.`, `+`, `$`, a
/// quote before `s`, or a unit after a digit; infixes start with an ASCII symbol, `…`, `–`, `—` or an icon.
fn plain_chars() -> &'static [u64] {
    static PLAIN: OnceLock<Vec<u64>> = OnceLock::new();
    PLAIN.get_or_init(|| {
        let mut bits = vec![u64::MAX; 0x10000 / 64];
        let mut clear = |c: u32| {
            if let Some(word) = bits.get_mut(c as usize >> 6) {
                *word &= !(1 << (c & 63));
            }
        };
        (0..0x80).for_each(&mut clear);
        (0x80..0x10000)
            .filter(|&c| char::from_u32(c).is_some_and(is_py_space))
            .for_each(&mut clear);
        for &c in PREFIX_CHARS
            .iter()
            .chain(SUFFIX_CHARS)
            .chain(QUOTES)
            .chain(&['…', '–', '—', '°'])
        {
            clear(c as u32);
        }
        for &(lo, hi) in ICONS {
            (lo as u32..=(hi as u32).min(0xffff)).for_each(&mut clear);
        }
        bits
    })
}

/// spaCy's tokenizer over one text. Tokens are collected for a run of chunks separated by single spaces
/// (no whitespace token between them), since spaCy's exception pass matches token sequences across such
/// spaces; a whitespace token ends the run.
struct Tokenizer<'t> {
    text: &'t str,
    prefixes: Vec<&'t str>,
    suffixes: Vec<&'t str>,
    run: Vec<&'t str>,
    merges: Vec<SpecialSpan>,
    seen: Vec<bool>,
}

/// Tokens `start..end` of a run that spell out exception `special`.
#[derive(Clone, Copy)]
struct SpecialSpan {
    start: usize,
    end: usize,
    special: usize,
}

impl<'t> Tokenizer<'t> {
    fn new(text: &'t str) -> Tokenizer<'t> {
        Tokenizer {
            text,
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            run: Vec::new(),
            merges: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// Appends the tokens of `chunk` to the run (spaCy's `_tokenize`), given the [`char_class`]es of its
    /// characters OR-ed together, with and without its last character.
    fn tokenize_chunk(&mut self, chunk: &'t str, classes: u8, classes_before_last: u8) {
        if let Some(special) = special_case(chunk) {
            self.run.extend(special_pieces(chunk, special));
            return;
        }
        // Plain words and numbers have no affix, infix or URL to find (see [`plain_chars`]).
        if classes == LETTER || classes == DIGIT {
            self.run.push(chunk);
            return;
        }
        if classes_before_last == LETTER && self.tokenize_word_and_suffix(chunk) {
            return;
        }
        self.tokenize_affixes(chunk, true);
    }

    /// [`Self::tokenize_affixes`] for the commonest chunk with an affix, a plain word (see [`plain_chars`])
    /// and one ASCII punctuation mark (`word,`, `word.`), if `chunk` is one; whether it was. Such a chunk has
    /// no prefix and no infix, and the word has no suffix, so the mark is the one suffix to strip (or, for a
    /// `.` that spaCy does not split off, part of a single token); the word alone may be an exception.
    fn tokenize_word_and_suffix(&mut self, chunk: &'t str) -> bool {
        let Some((&mark, _)) = chunk.as_bytes().split_last() else {
            return false;
        };
        if !(mark == b'.' || in_ascii_set(ASCII_SUFFIX_CHARS, char::from(mark))) {
            return false;
        }
        let (word, suffix) = chunk.split_at(chunk.len() - 1);
        // A mark but `.` is a suffix char, and no longer suffix can end in it after a plain word, which holds
        // no digit for a unit to follow.
        let suffix_len = if mark == b'.' { suffix_len(chunk) } else { 1 };
        match suffix_len {
            1 => {
                match special_case(word) {
                    Some(special) => self.run.extend(special_pieces(word, special)),
                    None => self.run.push(word),
                }
                self.run.push(suffix);
            }
            // Only a `.` can stay: with no affix, no infix and no URL, the chunk is one token.
            0 if mark == b'.' => self.run.push(chunk),
            _ => return false,
        }
        true
    }

    /// Emits the run's tokens after spaCy's exception pass, and empties it.
    fn flush(&mut self, emit: &mut impl FnMut(&'t str, bool)) {
        if self.run.len() >= 2 {
            self.find_special_spans();
        }
        let mut merges = self.merges.iter().peekable();
        let mut i = 0;
        while i < self.run.len() {
            match merges.next_if(|span| span.start == i) {
                Some(span) => {
                    let (first, last) = (self.run[span.start], self.run[span.end - 1]);
                    let start = offset_in(self.text, first);
                    let spelled = &self.text[start..offset_in(self.text, last) + last.len()];
                    for piece in special_pieces(spelled, span.special) {
                        emit(piece, false);
                    }
                    i = span.end;
                }
                None => {
                    emit(self.run[i], false);
                    i += 1;
                }
            }
        }
        self.run.clear();
        self.merges.clear();
    }

    /// spaCy's `_split_affixes` and `_attach_tokens`: appends the tokens of `chunk` to the run. Without
    /// `with_specials` the exceptions are ignored (how spaCy tokenizes the exceptions themselves to build
    /// the patterns of its exception pass).
    fn tokenize_affixes(&mut self, chunk: &'t str, with_specials: bool) {
        let is_special = |s: &str| with_specials && special_case(s).is_some();
        self.prefixes.clear();
        self.suffixes.clear();
        let mut s = chunk;
        let mut last_len = 0;
        while !s.is_empty() && s.len() != last_len {
            if is_special(s) {
                break;
            }
            last_len = s.len();
            let pre = prefix_len(s);
            if pre > 0 {
                let minus_pre = &s[pre..];
                if !minus_pre.is_empty() && is_special(minus_pre) {
                    self.prefixes.push(&s[..pre]);
                    s = minus_pre;
                    break;
                }
            }
            let suf = suffix_len(&s[pre..]);
            let cut = s.len() - suf;
            if suf > 0 {
                let minus_suf = &s[..cut];
                if !minus_suf.is_empty() && is_special(minus_suf) {
                    self.suffixes.push(&s[cut..]);
                    s = minus_suf;
                    break;
                }
            }
            if pre > 0 && suf > 0 {
                self.prefixes.push(&s[..pre]);
                self.suffixes.push(&s[cut..]);
                s = &s[pre..cut];
            } else if pre > 0 {
                self.prefixes.push(&s[..pre]);
                s = &s[pre..];
            } else if suf > 0 {
                self.suffixes.push(&s[cut..]);
                s = &s[..cut];
            }
        }
        self.run.extend_from_slice(&self.prefixes);
        if !s.is_empty() {
            match special_case(s).filter(|_| with_specials) {
                Some(special) => self.run.extend(special_pieces(s, special)),
                // Letters and digits alone hold no infix and no URL.
                None if s.bytes().all(|b| b.is_ascii_alphanumeric()) || is_url(s) => {
                    self.run.push(s)
                }
                None => split_infixes(s, &mut self.run),
            }
        }
        self.run.extend(self.suffixes.iter().rev());
    }

    /// spaCy's exception pass (`_apply_special_cases`): runs of two or more tokens that are exactly how an
    /// exception containing an affix tokenizes without exceptions (`Mr` `.` for `Mr.`, `'` `'` for `''`,
    /// `)` `:` for `):`) become that exception's tokens. Overlapping runs are resolved longest first, then
    /// leftmost. Tokens separated by a space match too but change nothing, as their text (with the space)
    /// is no exception; they still block the runs they overlap.
    fn find_special_spans(&mut self) {
        let matcher = special_matcher();
        for start in 0..self.run.len() - 1 {
            if !matcher.may_start(self.run[start], self.run[start + 1]) {
                continue;
            }
            let mut node = 0;
            for end in start + 1..=self.run.len().min(start + matcher.max_tokens) {
                let Some(next) = matcher.next(node, self.run[end - 1]) else {
                    break;
                };
                node = next;
                if let Some(special) = matcher.special_at(node, &self.run[start..end]) {
                    self.merges.push(SpecialSpan {
                        start,
                        end,
                        special,
                    });
                }
            }
        }
        if self.merges.is_empty() {
            return;
        }
        // spaCy's `_filter_special_spans`: longest first, then leftmost; a span is kept if its first and last
        // tokens are in no span looked at before (kept or not).
        self.merges
            .sort_by_key(|span| (std::cmp::Reverse(span.end - span.start), span.start));
        self.seen.clear();
        self.seen.resize(self.run.len(), false);
        let (seen, run) = (&mut self.seen, &self.run);
        self.merges.retain(|span| {
            let keep = !seen[span.start] && !seen[span.end - 1];
            seen[span.start..span.end].fill(true);
            keep && run[span.start..span.end]
                .windows(2)
                .all(|pair| pair[0].as_ptr() as usize + pair[0].len() == pair[1].as_ptr() as usize)
        });
        self.merges.sort_by_key(|span| span.start);
    }
}

/// The byte offset of `part` (a slice of `whole`) in `whole`.
fn offset_in(whole: &str, part: &str) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

/// `s`, which spells exception `special`, cut into that exception's tokens.
fn special_pieces(s: &str, special: usize) -> impl Iterator<Item = &str> {
    let cuts = SPECIAL_CASES[special].1;
    let bounds = std::iter::once(0)
        .chain(cuts.iter().map(|&c| usize::from(c)))
        .chain(std::iter::once(s.len()));
    let ends = bounds.clone().skip(1);
    bounds
        .zip(ends)
        .filter_map(move |(from, to)| s.get(from..to))
}

/// The exception table, keyed by the xxh3 hash of the exception string.
struct SpecialCases {
    by_hash: HashMap<u64, usize, Prehashed>,
    max_len: usize,
    /// A bit per (length, first byte, last byte) bucket holding an exception, to skip the hash of most
    /// strings.
    buckets: Vec<u64>,
}

/// `s`'s bucket in [`SpecialCases::buckets`] (a non-empty `s`).
fn special_bucket(s: &[u8]) -> usize {
    let (first, last) = (usize::from(s[0]), usize::from(s[s.len() - 1]));
    ((s.len() * 0x9e37) ^ (first * 0x85eb) ^ (last * 0x2c1b)) & 0xffff
}

fn special_cases() -> &'static SpecialCases {
    static TABLE: OnceLock<SpecialCases> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut by_hash = HashMap::with_capacity_and_hasher(SPECIAL_CASES.len(), Prehashed);
        for (i, (key, _)) in SPECIAL_CASES.iter().enumerate() {
            by_hash.insert(xxh3_64(key.as_bytes()), i);
        }
        let max_len = SPECIAL_CASES
            .iter()
            .map(|(key, _)| key.len())
            .max()
            .unwrap_or(0);
        let mut buckets = vec![0u64; 1 << 10];
        for (key, _) in SPECIAL_CASES {
            let bucket = special_bucket(key.as_bytes());
            buckets[bucket >> 6] |= 1 << (bucket & 63);
        }
        SpecialCases {
            by_hash,
            max_len,
            buckets,
        }
    })
}

/// The index in [`SPECIAL_CASES`] of `s` if it is one of spaCy's exceptions.
#[inline]
fn special_case(s: &str) -> Option<usize> {
    let table = special_cases();
    if s.is_empty() || s.len() > table.max_len {
        return None;
    }
    let bucket = special_bucket(s.as_bytes());
    if table.buckets[bucket >> 6] & (1 << (bucket & 63)) == 0 {
        return None;
    }
    special_case_in_bucket(table, s)
}

/// [`special_case`] for an `s` whose bucket holds an exception.
#[inline(never)]
fn special_case_in_bucket(table: &SpecialCases, s: &str) -> Option<usize> {
    let i = *table.by_hash.get(&xxh3_64(s.as_bytes()))?;
    (SPECIAL_CASES[i].0 == s).then_some(i)
}

/// The patterns of spaCy's exception pass, as a trie over tokens: the exceptions in which a prefix, suffix
/// or infix is found (spaCy's `faster_heuristics`), each as the tokens it splits into when exceptions are
/// ignored.
struct SpecialMatcher {
    /// `(node, token)` (hashed together) to the child node; node 0 is the root.
    edges: HashMap<u64, usize, Prehashed>,
    /// The exception ending at each node, if any.
    ends: Vec<Option<usize>>,
    /// A bit per [`pair_bucket`] holding the first two tokens of a pattern, to rule out most pairs of
    /// tokens without hashing them.
    pair_buckets: Vec<u64>,
    max_tokens: usize,
}

impl SpecialMatcher {
    fn edge(node: usize, token: &str) -> u64 {
        xxh3_64_with_seed(token.as_bytes(), node as u64)
    }

    /// A cheap test that rules out most pairs of tokens as the start of a pattern.
    #[inline]
    fn may_start(&self, first: &str, second: &str) -> bool {
        let bucket = pair_bucket(first.as_bytes(), second.as_bytes());
        self.pair_buckets[bucket >> 6] & (1 << (bucket & 63)) != 0
    }

    fn next(&self, node: usize, token: &str) -> Option<usize> {
        self.edges.get(&Self::edge(node, token)).copied()
    }

    /// The exception that `tokens`, which led to `node`, spell, if they are two or more and do spell it
    /// (checked, so that a hash collision cannot merge the wrong tokens).
    fn special_at(&self, node: usize, tokens: &[&str]) -> Option<usize> {
        let special = self.ends[node]?;
        let mut key = SPECIAL_CASES[special].0;
        for token in tokens {
            key = key.strip_prefix(token)?;
        }
        (tokens.len() >= 2 && key.is_empty()).then_some(special)
    }
}

/// The number of buckets of [`SpecialMatcher::may_start`] (a power of two).
const PAIR_BUCKETS: usize = 1 << 16;

/// The bucket of a pair of tokens in [`SpecialMatcher::may_start`], from the length, first byte and last
/// byte of each (tokens are never empty).
#[inline]
fn pair_bucket(first: &[u8], second: &[u8]) -> usize {
    let ends = |token: &[u8]| {
        let (head, tail) = (token.first().copied(), token.last().copied());
        (token.len() as u64) << 16
            | u64::from(head.unwrap_or(0)) << 8
            | u64::from(tail.unwrap_or(0))
    };
    let key = ends(first) << 32 | ends(second) & 0xffff_ffff;
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 48) as usize & (PAIR_BUCKETS - 1)
}

fn special_matcher() -> &'static SpecialMatcher {
    static MATCHER: OnceLock<SpecialMatcher> = OnceLock::new();
    MATCHER.get_or_init(|| {
        let mut matcher = SpecialMatcher {
            edges: HashMap::default(),
            ends: vec![None],
            pair_buckets: vec![0; PAIR_BUCKETS / 64],
            max_tokens: 0,
        };
        let mut pieces: Vec<&str> = Vec::new();
        for (i, (key, _)) in SPECIAL_CASES.iter().enumerate() {
            pieces.clear();
            split_infixes(key, &mut pieces);
            let has_infix = pieces.len() > 1 || first_infix_at_start(key);
            if prefix_len(key) == 0 && suffix_len(key) == 0 && !has_infix {
                continue;
            }
            let mut tokenizer = Tokenizer::new(key);
            tokenizer.tokenize_affixes(key, false);
            // A one-token pattern changes nothing and, being the shortest, blocks no other.
            let [first, second, ..] = tokenizer.run[..] else {
                continue;
            };
            let bucket = pair_bucket(first.as_bytes(), second.as_bytes());
            matcher.pair_buckets[bucket >> 6] |= 1 << (bucket & 63);
            matcher.max_tokens = matcher.max_tokens.max(tokenizer.run.len());
            let mut node = 0;
            for token in &tokenizer.run {
                let next_id = matcher.ends.len();
                let child = *matcher
                    .edges
                    .entry(SpecialMatcher::edge(node, token))
                    .or_insert(next_id);
                if child == next_id {
                    matcher.ends.push(None);
                }
                node = child;
            }
            matcher.ends[node] = Some(i);
        }
        matcher
    })
}

/// Whether an infix matches at the very start of `s` (which [`split_infixes`] does not split off).
fn first_infix_at_start(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| infix_len(s, None, c, chars.next()).is_some())
}

fn in_ranges(c: char, ranges: &[(char, char)]) -> bool {
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// spaCy's `ALPHA`: Latin, Cyrillic, Greek and a list of uncased scripts.
fn is_alpha(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        in_ranges(c, ALPHA)
    }
}

/// spaCy's `ALPHA_LOWER`.
fn is_lower(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_lowercase()
    } else {
        in_ranges(c, ALPHA_LOWER)
    }
}

/// spaCy's `ALPHA_UPPER`.
fn is_upper(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_uppercase()
    } else {
        in_ranges(c, ALPHA_UPPER)
    }
}

/// spaCy's `LIST_ICONS` (no ASCII character is one).
fn is_icon(c: char) -> bool {
    !c.is_ascii() && in_ranges(c, ICONS)
}

/// A set of ASCII characters as a 128-bit mask.
const fn ascii_set(chars: &[u8]) -> u128 {
    let mut set = 0u128;
    let mut i = 0;
    while i < chars.len() {
        set |= 1 << chars[i];
        i += 1;
    }
    set
}

fn in_ascii_set(set: u128, c: char) -> bool {
    (c as u32) < 128 && set & (1 << (c as u32)) != 0
}

/// The ASCII part of [`PREFIX_CHARS`].
const ASCII_PREFIX_CHARS: u128 = ascii_set(b"!\"#$%&'()*,:;<=>?[]_`{}");
/// The ASCII part of [`SUFFIX_CHARS`].
const ASCII_SUFFIX_CHARS: u128 = ascii_set(b"!\"#&'()*,:;<>?[]_`{}");

/// A one-character prefix: [`PREFIX_CHARS`] or an icon.
fn is_prefix_char(c: char) -> bool {
    if c.is_ascii() {
        in_ascii_set(ASCII_PREFIX_CHARS, c)
    } else {
        PREFIX_CHARS.binary_search(&c).is_ok() || is_icon(c)
    }
}

/// A one-character suffix: [`SUFFIX_CHARS`] or an icon.
fn is_suffix_char(c: char) -> bool {
    if c.is_ascii() {
        in_ascii_set(ASCII_SUFFIX_CHARS, c)
    } else {
        SUFFIX_CHARS.binary_search(&c).is_ok() || is_icon(c)
    }
}

/// The longest of [`CURRENCIES`] and [`UNITS`], in bytes.
const MAX_UNIT_LEN: usize = 16;

/// The first characters of spaCy's English infixes (besides the icons).
const ASCII_INFIX_STARTS: u128 = ascii_set(b".+-*^,~:<>=/");

fn is_quote(c: char) -> bool {
    QUOTES.binary_search(&c).is_ok()
}

/// The length in bytes of spaCy's prefix at the start of `s` (0 if none): the first alternative of
/// `TOKENIZER_PREFIXES` that matches.
fn prefix_len(s: &str) -> usize {
    let mut chars = s.chars();
    let Some(c) = chars.next() else {
        return 0;
    };
    match c {
        '.' => {
            // `\.\.+`
            let dots = s.bytes().take_while(|&b| b == b'.').count();
            if dots >= 2 { dots } else { 0 }
        }
        // `\+(?![0-9])`
        '+' => usize::from(!chars.next().is_some_and(|d| d.is_ascii_digit())),
        _ if is_prefix_char(c) => c.len_utf8(),
        'U' if s.starts_with("US$") => 3,
        'C' | 'A' if s[1..].starts_with('$') => 2,
        _ => 0,
    }
}

/// The length in bytes of spaCy's suffix at the end of `s` (0 if none). The suffix regex is searched, so it
/// matches at the leftmost position where some alternative reaches the end: the longest match wins.
fn suffix_len(s: &str) -> usize {
    let Some(last) = s.chars().next_back() else {
        return 0;
    };
    // The two characters before the last, decoded only for the rules that look at them.
    let before_last = || {
        let mut rev = s[..s.len() - last.len_utf8()].chars().rev();
        (rev.next(), rev.next())
    };
    let mut best = 0;
    if is_suffix_char(last) {
        best = last.len_utf8();
    }
    match last {
        '…' if before_last().0 == Some('…') => best = best.max("……".len()),
        '.' => {
            let dots = s.bytes().rev().take_while(|&b| b == b'.').count();
            if dots >= 2 {
                best = best.max(dots);
            }
            let (before, before2) = before_last();
            let after_dot_class = before.is_some_and(|b| in_ranges(b, DOT_SUFFIX_AFTER));
            let after_two_upper = before.is_some_and(is_upper) && before2.is_some_and(is_upper);
            let after_degrees =
                before.is_some_and(|b| "FfCcKk".contains(b)) && before2 == Some('°');
            if after_dot_class || after_two_upper || after_degrees {
                best = best.max(1);
            }
        }
        // `'s`, `'S`, `’s`, `’S`
        's' | 'S' => {
            if let (Some(before @ ('\'' | '’')), _) = before_last() {
                best = best.max(1 + before.len_utf8());
            }
        }
        '+' if before_last().0.is_some_and(|b| b.is_ascii_digit()) => best = best.max(1),
        _ => {}
    }
    // Currencies and units after a digit (`10km`, `5%`, `3$`).
    // Only the digit right before a unit counts, so only the last few bytes are looked at (a long run of
    // suffixes would otherwise make stripping them quadratic).
    let last_byte = s.as_bytes()[s.len() - 1];
    let tail = &s.as_bytes()[s.len().saturating_sub(MAX_UNIT_LEN + 1)..];
    if tail.iter().any(u8::is_ascii_digit) {
        for unit in CURRENCIES.iter().chain(UNITS) {
            if unit.as_bytes().last() == Some(&last_byte)
                && s.len() > unit.len()
                && s.ends_with(unit)
                && s.as_bytes()[s.len() - unit.len() - 1].is_ascii_digit()
            {
                best = best.max(unit.len());
            }
        }
    }
    best
}

/// Splits `s` at spaCy's infixes (`TOKENIZER_INFIXES` for English, found left to right without overlap,
/// the first alternative that matches at a position winning) and appends the pieces and the infixes to
/// `out`. An infix at the very start is not split off.
fn split_infixes<'t>(s: &'t str, out: &mut Vec<&'t str>) {
    let mut start = 0;
    let mut prev: Option<char> = None;
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let mut chars = rest.chars();
        let Some(c) = chars.next() else {
            break;
        };
        let next = chars.next();
        match infix_len(rest, prev, c, next) {
            Some(len) => {
                if i > 0 {
                    if i != start {
                        out.push(&s[start..i]);
                    }
                    out.push(&s[i..i + len]);
                    start = i + len;
                }
                // The char before the next position is the last one of the infix.
                prev = s[..i + len].chars().next_back();
                i += len;
            }
            None => {
                prev = Some(c);
                i += c.len_utf8();
            }
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
}

/// The length of the infix starting at `rest` (whose first char is `c`, followed by `next`, preceded by
/// `prev`), if one does.
fn infix_len(rest: &str, prev: Option<char>, c: char, next: Option<char>) -> Option<usize> {
    if c.is_ascii() && !in_ascii_set(ASCII_INFIX_STARTS, c) {
        return None;
    }
    // `\.\.+`, `…` and the icons.
    if c == '.' && next == Some('.') {
        return Some(rest.bytes().take_while(|&b| b == b'.').count());
    }
    if c == '…' || is_icon(c) {
        return Some(c.len_utf8());
    }
    let prev_digit = prev.is_some_and(|p| p.is_ascii_digit());
    // `(?<=[0-9])[+\-\*^](?=[0-9-])`
    if prev_digit && "+-*^".contains(c) && next.is_some_and(|n| n.is_ascii_digit() || n == '-') {
        return Some(1);
    }
    // `(?<=[{al}{q}])\.(?=[{au}{q}])`
    if c == '.'
        && prev.is_some_and(|p| is_lower(p) || is_quote(p))
        && next.is_some_and(|n| is_upper(n) || is_quote(n))
    {
        return Some(1);
    }
    let prev_alpha = prev.is_some_and(is_alpha);
    // `(?<=[{a}]),(?=[{a}])`
    if c == ',' && prev_alpha && next.is_some_and(is_alpha) {
        return Some(1);
    }
    if prev_alpha || prev_digit {
        // `(?<=[{a}0-9])(?:-|–|—|--|---|——|~)(?=[{a}])`, alternatives in order.
        for hyphen in ["-", "–", "—", "--", "---", "——", "~"] {
            if rest.starts_with(hyphen) && rest[hyphen.len()..].chars().next().is_some_and(is_alpha)
            {
                return Some(hyphen.len());
            }
        }
        // `(?<=[{a}0-9])[:<>=/](?=[{a}])`
        if ":<>=/".contains(c) && next.is_some_and(is_alpha) {
            return Some(1);
        }
    }
    None
}

/// spaCy's `URL_MATCH` (`lang/tokenizer_exceptions.py`): an optional `scheme://`, optional `user@`, a host
/// (an IPv4 address outside the private ranges, or dot-separated labels ending in a lower-case top-level
/// domain of 2 to 63 letters), an optional `:port` and an optional path starting with `/`, `?` or `#`.
fn is_url(s: &str) -> bool {
    // Both host forms (labels and a top-level domain, or an IPv4 address) hold a dot.
    if !s.contains('.') {
        return false;
    }
    if host_and_rest(s) {
        return true;
    }
    if let Some(p) = s.find("://") {
        let scheme = &s[..p];
        if scheme.chars().count() >= 2
            && scheme
                .chars()
                .all(|c| c.is_alphanumeric() || "_+-.".contains(c))
            && host_and_rest(&s[p + 3..])
        {
            return true;
        }
    }
    // `\S+(?::\S*)?@`: anything up to some `@` (the chunk has no spaces).
    s.match_indices('@')
        .any(|(i, _)| i > 0 && host_and_rest(&s[i + 1..]))
}

/// The host, port and path part of [`is_url`], up to the end of `s`.
fn host_and_rest(s: &str) -> bool {
    let host_end = s
        .char_indices()
        .find(|&(_, c)| !(is_label_char(c) || c == '_' || c == '-' || c == '.'))
        .map_or(s.len(), |(i, _)| i);
    let (host, rest) = s.split_at(host_end);
    (is_ip_host(host) || is_domain_host(host)) && is_port_and_path(rest)
}

/// `[A-Za-z0-9\u00a1-\uffff]`
fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ('\u{a1}'..='\u{ffff}').contains(&c)
}

fn is_domain_host(host: &str) -> bool {
    let Some((labels, tld)) = host.rsplit_once('.') else {
        return false;
    };
    let tld_len = tld.chars().count();
    if !(2..=63).contains(&tld_len) || !tld.chars().all(is_lower) {
        return false;
    }
    labels.split('.').all(|label| {
        let len = label.chars().count();
        (1..=64).contains(&len)
            && label.chars().next().is_some_and(is_label_char)
            && label.chars().next_back().is_some_and(is_label_char)
    })
}

fn is_ip_host(host: &str) -> bool {
    let mut octets = [0u32; 4];
    let mut parts = host.split('.');
    for (i, octet) in octets.iter_mut().enumerate() {
        let Some(part) = parts.next() else {
            return false;
        };
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        // The first and last octets may not start with 0; the middle ones may, up to two digits.
        if part.starts_with('0') && (i == 0 || i == 3 || part.len() == 3) {
            return false;
        }
        *octet = part.bytes().fold(0, |v, b| v * 10 + u32::from(b - b'0'));
    }
    if parts.next().is_some() {
        return false;
    }
    let [a, b, c, d] = octets;
    let private = a == 10
        || a == 127
        || (a == 169 && b == 254)
        || (a == 192 && b == 168)
        || (a == 172 && (16..=31).contains(&b));
    (1..=223).contains(&a) && b <= 255 && c <= 255 && (1..=254).contains(&d) && !private
}

fn is_port_and_path(rest: &str) -> bool {
    let path = match rest.strip_prefix(':') {
        Some(port) => {
            let digits = port.bytes().take_while(u8::is_ascii_digit).count();
            if !(2..=5).contains(&digits) {
                return false;
            }
            &port[digits..]
        }
        None => rest,
    };
    path.is_empty() || path.starts_with(['/', '?', '#'])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<&str> {
        split_into_words(text)
    }

    /// Each case was tokenized by `spacy.blank("en")` (spaCy 3.8.18) as datatrove does.
    #[test]
    fn matches_spacy_on_ordinary_english() {
        let cases: &[(&str, &[&str])] = &[
            ("Hello, world.", &["Hello", ",", "world", "."]),
            (
                "I don't know. She can't!",
                &["I", "do", "n't", "know", ".", "She", "ca", "n't", "!"],
            ),
            (
                "John's car (the red one).",
                &["John", "'s", "car", "(", "the", "red", "one", ")", "."],
            ),
            (
                "Mr. Smith lives in the U.S. now.",
                &["Mr.", "Smith", "lives", "in", "the", "U.S.", "now", "."],
            ),
            (
                "A well-known fact, e.g. this one...",
                &[
                    "A", "well", "-", "known", "fact", ",", "e.g.", "this", "one", "...",
                ],
            ),
            (
                "It costs $100 or 10km/h and 5%.",
                &[
                    "It", "costs", "$", "100", "or", "10", "km/h", "and", "5", "%", ".",
                ],
            ),
            (
                "Visit https://example.com/a-b?x=1, or www.test.org.",
                &[
                    "Visit",
                    "https://example.com/a-b?x=1",
                    ",",
                    "or",
                    "www.test.org",
                    ".",
                ],
            ),
            (
                "\"Quoted\" text -- and more",
                &["\"", "Quoted", "\"", "text", "--", "and", "more"],
            ),
            ("end.Next word", &["end", ".", "Next", "word"]),
            (
                "dont gonna 1-2 3.5 a/b",
                &["do", "nt", "gon", "na", "1", "-", "2", "3.5", "a", "/", "b"],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(&tokens(text), expected, "{text}");
        }
    }

    /// spaCy's exception pass, also from `spacy.blank("en")`.
    #[test]
    fn exceptions_split_by_affixes_are_merged_back() {
        let cases: &[(&str, &[&str])] = &[
            ("(see below):", &["(", "see", "below", "):"]),
            ("''Iliad'',", &["''", "Iliad", "''", ","]),
            ("plan a.", &["plan", "a."]),
            ("Smith & Co.)", &["Smith", "&", "Co.", ")"]),
            // A match across the space blocks the one inside the second chunk.
            ("' ''A", &["'", "'", "'", "A"]),
            ("x]' ''A", &["x", "]", "'", "'", "'", "A"]),
            ("''A", &["''", "A"]),
        ];
        for (text, expected) in cases {
            assert_eq!(&tokens(text), expected, "{text}");
        }
    }

    /// The tokens of `chunk` (no spaces) by spaCy's affix rules alone, with no fast path.
    fn by_affix_rules(chunk: &str) -> Vec<&str> {
        let mut tokenizer = Tokenizer::new(chunk);
        tokenizer.tokenize_affixes(chunk, true);
        let mut tokens = Vec::new();
        tokenizer.flush(&mut |token, _| tokens.push(token));
        tokens
    }

    #[test]
    fn fast_paths_equal_the_affix_rules() {
        let marks: Vec<char> = ('!'..='~').filter(|c| !c.is_ascii_alphanumeric()).collect();
        let plain = plain_chars();
        let plain_chars = (0x80..0x10000u32).filter_map(|code| {
            let is_plain = plain[code as usize >> 6] & (1 << (code & 63)) != 0;
            char::from_u32(code).filter(|_| is_plain)
        });
        let mut words: Vec<String> = ["Ab", "US", "C", "A", "dont", "Mr", "etc", "s", "km", "vs"]
            .map(String::from)
            .to_vec();
        for (i, c) in plain_chars.enumerate() {
            for word in [format!("{c}"), format!("ab{c}"), format!("{c}C")] {
                assert_eq!(tokens(&word), by_affix_rules(&word), "{word:?}");
                for mark in ['.', ','] {
                    let chunk = format!("{word}{mark}");
                    assert_eq!(tokens(&chunk), by_affix_rules(&chunk), "{chunk:?}");
                }
                if i % 97 == 0 {
                    words.push(word);
                }
            }
        }
        for word in &words {
            for mark in &marks {
                let chunk = format!("{word}{mark}");
                assert_eq!(tokens(&chunk), by_affix_rules(&chunk), "{chunk:?}");
            }
        }
    }

    #[test]
    fn whitespace_runs_are_tokens_but_not_words() {
        let mut all = Vec::new();
        for_each_token("a  b\n\nc ", |t, space| all.push((t, space)));
        assert_eq!(
            all,
            [
                ("a", false),
                (" ", true),
                ("b", false),
                ("\n\n", true),
                ("c", false)
            ]
        );
        assert!(tokens("").is_empty());
        assert!(tokens(" \n\t ").is_empty());
    }

    #[test]
    fn long_runs_of_affixes_take_linear_time() {
        // Each would take minutes if stripping one affix cost time in the chunk's length.
        let cases = [
            format!("1{}", ")".repeat(200_000)),
            format!("{}x", "(".repeat(200_000)),
            "'".repeat(200_000),
            "a@".repeat(100_000),
            "a.".repeat(100_000),
            "-".repeat(200_000),
            format!("x{}", "…".repeat(100_000)),
        ];
        for text in &cases {
            let words = tokens(text);
            assert_eq!(words.concat(), *text);
        }
        assert!(
            CURRENCIES
                .iter()
                .chain(UNITS)
                .all(|unit| unit.len() <= MAX_UNIT_LEN)
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "\u{0}",
            "….…",
            "°C.",
            "US$",
            "+",
            "'s",
            "@",
            "::",
            "a@b@",
            "1.2.3.4:99999/",
            "x\u{2028}y",
            "🙂🙂",
        ] {
            let words = tokens(text);
            assert_eq!(
                words.concat(),
                text.split_whitespace().collect::<String>(),
                "{text}"
            );
            count_sentences(text);
        }
    }

    #[test]
    fn sentences_follow_the_sentencizer() {
        assert_eq!(count_sentences("One. Two! Three?"), 3);
        assert_eq!(count_sentences("He said \"stop.\" Then left."), 2);
        assert_eq!(count_sentences("Mr. Smith went to Washington."), 1);
        assert_eq!(count_sentences("Wait... what"), 1);
        assert_eq!(count_sentences(""), 1);
    }

    #[test]
    fn urls() {
        for url in [
            "example.com",
            "https://x.org/a",
            "user@mail.example.co",
            "8.8.8.8",
            "node.js",
            "a.bc:8080/x",
        ] {
            assert!(is_url(url), "{url}");
        }
        for not in [
            "e.g", "U.S.", "10.0.0.1", "a.B", "hello", "x.com!", "a..com",
        ] {
            assert!(!is_url(not), "{not}");
        }
    }
}

//! Word shingles: the hashed word n-grams whose set MinHash compares.
//!
//! A document is represented by the set of its overlapping word n-grams (Broder 1997, "On the
//! resemblance and containment of documents"); FineWeb uses 5-word shingles (Penedo et al. 2024, §3.3).
//! Each shingle is the xxh3-64 of its words joined by single spaces.

use xxhash_rust::xxh3::xxh3_64;

/// Shingle length in words used by FineWeb's MinHash deduplication (Penedo et al. 2024, §3.3).
pub const DEFAULT_SHINGLE_WORDS: usize = 5;

/// Hashes every run of `n` consecutive words of `normalized` with xxh3-64, words joined by one space.
///
/// Words are separated by whitespace; pass the output of [`crate::normalize_for_shingles`]. A text
/// with at least one but fewer than `n` words yields a single shingle of all its words, so short
/// documents can still be compared; a text without words yields nothing. Repeated n-grams are yielded
/// each time they occur: MinHash only looks at the set, so repeats change nothing. `n = 0` asks for
/// shingles of no words and yields nothing, like a text without words.
///
/// When the words are already separated by single spaces, as normalised text is, each shingle is the
/// hash of a slice of `normalized` itself; otherwise the words are joined into a buffer first. Both give
/// the same hashes.
pub fn word_shingles(normalized: &str, n: usize) -> impl Iterator<Item = u64> + '_ {
    let bytes = normalized.as_bytes();
    // Byte range of each word. split_whitespace yields subslices of `normalized`, so a word's offset is
    // its distance from the text's start.
    let spans: Vec<(usize, usize)> = normalized
        .split_whitespace()
        .map(|word| {
            let start = word.as_ptr() as usize - normalized.as_ptr() as usize;
            (start, start + word.len())
        })
        .collect();
    let single_spaced = spans
        .windows(2)
        .all(|pair| pair[1].0 == pair[0].1 + 1 && bytes[pair[0].1] == b' ');
    let window = n.min(spans.len());
    let count = if window == 0 {
        0
    } else {
        spans.len() + 1 - window
    };
    let mut joined = Vec::new();
    (0..count).map(move |first| {
        let words = &spans[first..first + window];
        if single_spaced {
            return xxh3_64(&bytes[words[0].0..words[window - 1].1]);
        }
        joined.clear();
        for (i, &(start, end)) in words.iter().enumerate() {
            if i > 0 {
                joined.push(b' ');
            }
            joined.extend_from_slice(&bytes[start..end]);
        }
        xxh3_64(&joined)
    })
}

/// The set of a document's shingles: [`crate::normalize_for_shingles`], then [`word_shingles`] of `n`
/// words, sorted and deduplicated. This is the form the exact Jaccard check ([`crate::jaccard`]) takes,
/// and what a pipeline stores to verify candidate pairs; its MinHash signature equals that of the
/// unsorted shingles with repeats.
pub fn shingle_set(text: &str, n: usize) -> Vec<u64> {
    let mut shingles: Vec<u64> = word_shingles(&crate::normalize_for_shingles(text), n).collect();
    shingles.sort_unstable();
    shingles.dedup();
    shingles
}

#[cfg(test)]
mod tests {
    use super::{shingle_set, word_shingles};
    use crate::normalize_for_shingles;
    use xxhash_rust::xxh3::xxh3_64;

    /// The definition: each window of words joined by one space into a new string, then hashed.
    fn shingles_reference(text: &str, n: usize) -> Vec<u64> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let window = n.min(words.len());
        if window == 0 {
            return Vec::new();
        }
        words
            .windows(window)
            .map(|w| xxh3_64(w.join(" ").as_bytes()))
            .collect()
    }

    #[test]
    fn slices_of_normalised_text_hash_like_joined_words_on_real_text() {
        for text in crate::samples::web_texts() {
            let normalized = normalize_for_shingles(&text);
            for n in [1, 5, 13] {
                let fast: Vec<u64> = word_shingles(&normalized, n).collect();
                assert_eq!(fast, shingles_reference(&normalized, n));
            }
        }
    }

    #[test]
    fn any_spacing_hashes_like_joined_words_on_random_text() {
        let pieces = [
            "a",
            "bc",
            "Déf",
            " ",
            "  ",
            "\t",
            "\n",
            "\u{a0}",
            "\u{3000}",
            "x\u{2028}y",
            "0",
        ];
        let mut state = 5u64;
        for _ in 0..5_000 {
            let mut text = String::new();
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            for _ in 0..(state >> 60) {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                text.push_str(pieces[(state >> 33) as usize % pieces.len()]);
            }
            for n in [1, 2, 5] {
                let fast: Vec<u64> = word_shingles(&text, n).collect();
                assert_eq!(fast, shingles_reference(&text, n), "{text:?}");
            }
        }
    }

    #[test]
    fn shingle_set_is_sorted_and_deduplicated() {
        let set = shingle_set("the cat sat. The cat sat!", 3);
        let expected = {
            let mut all = shingles_reference("the cat sat the cat sat", 3);
            all.sort_unstable();
            all.dedup();
            all
        };
        assert_eq!(set, expected);
        // "the cat sat", "cat sat the", "sat the cat" (and "the cat sat" again).
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn hashes_each_word_ngram_joined_by_one_space() {
        let shingles: Vec<u64> = word_shingles("a b c d", 3).collect();
        assert_eq!(shingles, vec![xxh3_64(b"a b c"), xxh3_64(b"b c d")]);
    }

    #[test]
    fn extra_whitespace_does_not_change_shingles() {
        let tidy: Vec<u64> = word_shingles("a b c d", 2).collect();
        let messy: Vec<u64> = word_shingles("  a\tb   c\nd ", 2).collect();
        assert_eq!(tidy, messy);
    }

    #[test]
    fn short_document_is_one_shingle_of_all_its_words() {
        let shingles: Vec<u64> = word_shingles("a b", 5).collect();
        assert_eq!(shingles, vec![xxh3_64(b"a b")]);
        let exact: Vec<u64> = word_shingles("a b c d e", 5).collect();
        assert_eq!(exact, vec![xxh3_64(b"a b c d e")]);
    }

    #[test]
    fn empty_document_has_no_shingles() {
        assert_eq!(word_shingles("", 5).count(), 0);
        assert_eq!(word_shingles("   ", 1).count(), 0);
    }

    #[test]
    fn zero_word_shingles_are_none() {
        assert_eq!(word_shingles("a b c", 0).count(), 0);
        assert_eq!(word_shingles("", 0).count(), 0);
    }
}

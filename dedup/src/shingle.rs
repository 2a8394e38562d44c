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
pub fn word_shingles(normalized: &str, n: usize) -> impl Iterator<Item = u64> + '_ {
    let words: Vec<&str> = normalized.split_whitespace().collect();
    let window = n.min(words.len());
    let count = if window == 0 {
        0
    } else {
        words.len() + 1 - window
    };
    let mut joined = String::new();
    (0..count).map(move |start| {
        joined.clear();
        for (i, word) in words[start..start + window].iter().enumerate() {
            if i > 0 {
                joined.push(' ');
            }
            joined.push_str(word);
        }
        xxh3_64(joined.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::word_shingles;
    use xxhash_rust::xxh3::xxh3_64;

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

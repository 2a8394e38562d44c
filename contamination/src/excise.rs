//! Cutting benchmark overlaps out of a training document (GPT-3, Brown et al. 2020, App. C).
//!
//! "We remove the N-gram and a 200 character window around it, splitting the original document into
//! pieces. [...] we remove pieces less than 200 characters long [and] if the document is split into more
//! than 10 pieces it is considered contaminated and removed entirely." [`excise`] does exactly that on
//! byte ranges, so the caller can log what went where.

// Lists of byte ranges with one element (one piece, one cut) are meant here, not ranges of indices.
#![allow(clippy::single_range_in_vec_init)]

use std::ops::Range;

/// What [`excise`] did to one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excision {
    /// The kept pieces as byte ranges into the document, in order. The whole document when there was no
    /// hit; empty when the document was dropped or every piece was too short.
    pub pieces: Vec<Range<usize>>,
    /// The cut-out ranges (hits widened by the context and merged), in order, as byte ranges. Short
    /// pieces dropped afterwards are in neither list.
    pub removed: Vec<Range<usize>>,
    /// Whether the whole document was dropped for being split into more than `max_pieces` pieces.
    pub dropped: bool,
    /// Number of non-empty pieces the cuts left, before short pieces were dropped; 1 without hits.
    pub split_into: usize,
}

/// Removes every hit from `text` with `context` characters on each side, GPT-3 App. C style.
///
/// Each hit (a byte range, as [`crate::Hit::range`] gives it; hits may overlap and come in any order) is
/// widened by `context` characters (not bytes) on each side, clamped to the text and kept on character
/// boundaries; overlapping or touching widened ranges merge into one removed range. The text between
/// removed ranges forms the pieces; empty ones do not count. Then:
///
/// - if the document was split into more than `max_pieces` pieces, it is dropped entirely. Pieces are
///   counted *before* short ones are dropped: the paper's "split into more than 10 pieces" describes the
///   cut itself, and counting only the surviving pieces would let a document riddled with nearby
///   overlaps survive precisely because its fragments are short. (The Janitor instead drops a document
///   with more than 10 matched n-grams.)
/// - otherwise, pieces shorter than `min_piece` characters are dropped.
///
/// A document without hits (hits empty once clamped to the text are ignored) is returned whole, whatever its length: the rules
/// above apply to documents that were cut.
pub fn excise(
    text: &str,
    hits: &[Range<usize>],
    context: usize,
    min_piece: usize,
    max_pieces: usize,
) -> Excision {
    let mut widened: Vec<Range<usize>> = hits
        .iter()
        .map(|hit| {
            let start = text.floor_char_boundary(hit.start.min(text.len()));
            let end = text.ceil_char_boundary(hit.end.min(text.len()));
            start..end
        })
        .filter(|hit| hit.start < hit.end)
        .map(|hit| widen_back(text, hit.start, context)..widen_forward(text, hit.end, context))
        .collect();
    if widened.is_empty() {
        return Excision {
            pieces: vec![0..text.len()],
            removed: Vec::new(),
            dropped: false,
            split_into: 1,
        };
    }
    widened.sort_unstable_by_key(|range| range.start);
    let mut removed: Vec<Range<usize>> = Vec::with_capacity(widened.len());
    for range in widened {
        match removed.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => removed.push(range),
        }
    }
    let mut gaps = Vec::with_capacity(removed.len() + 1);
    let mut at = 0;
    for range in &removed {
        if range.start > at {
            gaps.push(at..range.start);
        }
        at = range.end;
    }
    if at < text.len() {
        gaps.push(at..text.len());
    }
    let split_into = gaps.len();
    let dropped = split_into > max_pieces;
    let pieces = if dropped {
        Vec::new()
    } else {
        gaps.into_iter()
            .filter(|piece| !is_shorter(&text[piece.clone()], min_piece))
            .collect()
    };
    Excision {
        pieces,
        removed,
        dropped,
        split_into,
    }
}

/// The byte offset `chars` characters before `at` (a character boundary), or 0.
fn widen_back(text: &str, at: usize, chars: usize) -> usize {
    if chars == 0 {
        return at;
    }
    text[..at]
        .char_indices()
        .rev()
        .nth(chars - 1)
        .map_or(0, |(i, _)| i)
}

/// The byte offset `chars` characters after `at` (a character boundary), or the text's end.
fn widen_forward(text: &str, at: usize, chars: usize) -> usize {
    text[at..]
        .char_indices()
        .nth(chars)
        .map_or(text.len(), |(i, _)| at + i)
}

/// Whether `piece` has fewer than `chars` characters, counting no further than needed.
fn is_shorter(piece: &str, chars: usize) -> bool {
    piece.len() < chars || piece.chars().take(chars).count() < chars
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use super::{Excision, excise};

    /// Excises with GPT-3's parameters: 200 characters of context, pieces of 200 characters, 10 pieces.
    fn gpt3(text: &str, hits: &[Range<usize>]) -> Excision {
        excise(text, hits, 200, 200, 10)
    }

    #[test]
    fn no_hits_keeps_the_document_whole() {
        let short = "tiny";
        assert_eq!(
            gpt3(short, &[]),
            Excision {
                pieces: vec![0..4],
                removed: vec![],
                dropped: false,
                split_into: 1
            }
        );
        assert_eq!(gpt3(short, &[2..2]).pieces, [0..4]);
    }

    #[test]
    fn removes_the_hit_and_its_context_and_keeps_pieces_of_at_least_min_piece() {
        // 400 chars, hit of 10, 400 chars: context eats 200 each side, leaving exactly 200 on each side.
        let text = format!("{}{}{}", "a".repeat(400), "HIT-HIT-HI", "b".repeat(400));
        let cut = gpt3(&text, &[400..410]);
        assert_eq!(cut.removed, [200..610]);
        assert_eq!(cut.pieces, [0..200, 610..810]);
        assert_eq!((cut.dropped, cut.split_into), (false, 2));
        // One character less on each side: both pieces are 199 characters and go.
        let text = format!("{}{}{}", "a".repeat(399), "HIT-HIT-HI", "b".repeat(399));
        let cut = gpt3(&text, &[399..409]);
        assert_eq!(cut.removed, [199..609]);
        assert!(cut.pieces.is_empty());
        assert_eq!((cut.dropped, cut.split_into), (false, 2));
    }

    #[test]
    fn hits_at_the_edges_leave_no_empty_piece() {
        let text = format!("START{}END", "x".repeat(700));
        let cut = gpt3(&text, &[0..5, text.len() - 3..text.len()]);
        assert_eq!(cut.removed, [0..205, text.len() - 203..text.len()]);
        assert_eq!(cut.pieces, [205..text.len() - 203]);
        assert_eq!(cut.split_into, 1);
    }

    #[test]
    fn overlapping_and_touching_windows_merge() {
        let text = "x".repeat(2000);
        // Overlapping hits, in reverse order, and a window that touches the next one.
        let cut = excise(
            &text,
            &[1010..1030, 1000..1020, 500..510, 100..110],
            10,
            1,
            10,
        );
        assert_eq!(cut.removed, [90..120, 490..520, 990..1040]);
        assert_eq!(cut.pieces, [0..90, 120..490, 520..990, 1040..2000]);
        let touching = excise(&text, &[100..110, 130..140], 10, 1, 10);
        assert_eq!(touching.removed, [90..150]);
        assert_eq!(touching.split_into, 2);
    }

    #[test]
    fn more_than_max_pieces_drops_the_document() {
        // Hits 1000 characters apart: k hits in the middle split the text into k + 1 pieces.
        let text = "y".repeat(12_000);
        let hits = |k: usize| (1..=k).map(|i| i * 1000..i * 1000 + 13).collect::<Vec<_>>();
        let ten = gpt3(&text, &hits(9));
        assert_eq!(
            (ten.dropped, ten.split_into, ten.pieces.len()),
            (false, 10, 10)
        );
        let eleven = gpt3(&text, &hits(10));
        assert_eq!((eleven.dropped, eleven.split_into), (true, 11));
        assert!(eleven.pieces.is_empty());
        assert_eq!(eleven.removed.len(), 10);
        // Counted before short pieces are dropped: 11 pieces of which only 2 are long still drop.
        let mut hits: Vec<Range<usize>> =
            (0..10).map(|i| 1000 + i * 30..1000 + i * 30 + 5).collect();
        hits.iter_mut().for_each(|hit| hit.end = hit.start + 1);
        let crowded = excise(&text, &hits, 10, 200, 10);
        assert_eq!((crowded.dropped, crowded.split_into), (true, 11));
    }

    #[test]
    fn context_counts_characters_and_cuts_on_boundaries() {
        // 3-byte and 4-byte characters around the hit.
        let text = format!("{}HIT{}", "€".repeat(300), "𝄞".repeat(300));
        let start = 300 * 3;
        let cut = excise(&text, &[start..start + 3], 200, 100, 10);
        assert_eq!(cut.removed, [100 * 3..start + 3 + 200 * 4]);
        assert_eq!(cut.pieces, [0..300, start + 3 + 800..text.len()]);
        assert_eq!(text[cut.pieces[0].clone()].chars().count(), 100);
        // 100 characters survive on each side: below 101, both go despite being 300 and 400 bytes.
        assert_eq!(
            excise(&text, &[start..start + 3], 200, 101, 10)
                .pieces
                .len(),
            0
        );
        // A hit not on character boundaries is widened to them; one past the end is clamped.
        let cut = excise(
            &text,
            &[start - 2..start + 1, text.len() + 5..text.len() + 9],
            0,
            1,
            10,
        );
        assert_eq!(cut.removed, [start - 3..start + 1]);
        assert_eq!(cut.pieces, [0..start - 3, start + 1..text.len()]);
    }
}

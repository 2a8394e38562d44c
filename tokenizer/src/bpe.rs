//! Byte-pair merging of one pre-tokenized piece, exactly as tiktoken does it, over token-id pairs.
//!
//! tiktoken merges a piece by repeatedly joining the adjacent pair of parts whose concatenated bytes form
//! the token of lowest rank (the leftmost on ties) until no adjacent pair forms a token; in these encodings
//! a token's rank is its id. It looks the concatenated bytes up in a map each time. Here every part is a
//! token from the start (a byte's token) to the end (a merge only makes tokens), so the same question is
//! asked of the pair of ids: `pairs[(a, b)]` is the token whose bytes are `bytes(a) ++ bytes(b)`, built
//! once from every split of every token into two tokens. Integer keys hash and compare in a few
//! instructions, where the byte-string lookups dominated. tiktoken's two loops are kept with their
//! tie-breaking: a scan of the parts for pieces under 100 bytes, a heap above, so the ids are the same.
//! The ranks are read back from tiktoken-rs's own `CoreBPE` (each ordinary id decoded to its bytes), so
//! there is one copy of the rank files in the binary.
//!
//! There is no cache of piece → ids: on the web-text benchmark (`corpus bench tokenize`, documents not
//! seen before) a per-thread hash map of merged pieces made a pass slower, its allocations on a miss
//! costing more than the merges it saved; the merge over id pairs is cheap enough on its own.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;
use tiktoken_rs::CoreBPE;

/// Pieces at least this long merge with a heap, as in tiktoken (`_byte_pair_merge_large`).
const HEAP_MERGE_FROM: usize = 100;

/// No merge: the pair of parts is not a token.
const NO_MERGE: u32 = u32::MAX;

/// The mergeable ranks of one encoding.
pub(crate) struct Ranks {
    /// Token bytes → id (= rank).
    ids: FxHashMap<Box<[u8]>, u32>,
    /// The same for tokens of up to [`SHORT_MAX`] bytes, keyed by [`short_key`]: most pieces are short,
    /// and an integer key needs no byte-string hashing or comparison.
    short_ids: FxHashMap<u64, u32>,
    /// The token of each single byte.
    byte_ids: [u32; 256],
    /// `(a << 32) | b` → the token whose bytes are `bytes(a) ++ bytes(b)`.
    pairs: FxHashMap<u64, u32>,
}

impl Ranks {
    /// Reads every ordinary token of `bpe` (ids `0..vocab_size` that decode and are not special tokens).
    pub(crate) fn from_core_bpe(bpe: &CoreBPE, vocab_size: usize) -> Result<Self, String> {
        let special: Vec<u32> = bpe
            .special_tokens()
            .into_iter()
            .flat_map(|s| bpe.encode_with_special_tokens(s))
            .collect();
        let mut ids: FxHashMap<Box<[u8]>, u32> = FxHashMap::default();
        let top = u32::try_from(vocab_size).map_err(|e| e.to_string())?;
        for id in (0..top).filter(|id| !special.contains(id)) {
            if let Ok(bytes) = bpe.decode_bytes(&[id]) {
                ids.insert(bytes.into_boxed_slice(), id);
            }
        }
        let mut byte_ids = [0u32; 256];
        for (byte, slot) in (0..=255u8).zip(byte_ids.iter_mut()) {
            *slot = *ids
                .get(&[byte][..])
                .ok_or_else(|| format!("byte {byte:#04x} has no token"))?;
        }
        let short_ids = ids
            .iter()
            .filter_map(|(bytes, &id)| Some((short_key(bytes)?, id)))
            .collect();
        let mut pairs = FxHashMap::default();
        for (bytes, &id) in &ids {
            for split in 1..bytes.len() {
                let (left, right) = bytes.split_at(split);
                if let (Some(&a), Some(&b)) = (ids.get(left), ids.get(right)) {
                    pairs.insert(pair_key(a, b), id);
                }
            }
        }
        Ok(Ranks {
            ids,
            short_ids,
            byte_ids,
            pairs,
        })
    }

    /// The token that the two adjacent parts form, or [`NO_MERGE`].
    #[inline]
    fn merged(&self, a: u32, b: u32) -> u32 {
        self.pairs.get(&pair_key(a, b)).copied().unwrap_or(NO_MERGE)
    }

    /// Appends the ids of one piece to `out`.
    #[inline]
    pub(crate) fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        let whole = match short_key(piece) {
            Some(key) => self.short_ids.get(&key),
            None => self.ids.get(piece),
        };
        if let Some(&id) = whole {
            out.push(id);
            return;
        }
        self.merge_into(piece, out);
    }

    /// Merges a piece that is not one token and appends the ids of its parts.
    fn merge_into(&self, piece: &[u8], out: &mut Vec<u32>) {
        if piece.len() < HEAP_MERGE_FROM {
            self.merge_by_scan(piece, out);
        } else {
            self.merge_by_heap(piece, out);
        }
    }

    /// tiktoken's `_byte_pair_merge`: each round scans the parts for the pair of lowest rank (`O(n·m)`,
    /// fastest for short pieces).
    fn merge_by_scan(&self, piece: &[u8], out: &mut Vec<u32>) {
        // (token of the part, token it forms with the next part), on the stack: no allocation.
        let mut slots = [(0u32, NO_MERGE); HEAP_MERGE_FROM];
        let Some(parts) = slots.get_mut(..piece.len()) else {
            return self.merge_by_heap(piece, out);
        };
        for (part, &b) in parts.iter_mut().zip(piece) {
            part.0 = self.byte_ids[usize::from(b)];
        }
        for i in 1..parts.len() {
            parts[i - 1].1 = self.merged(parts[i - 1].0, parts[i].0);
        }
        let mut len = parts.len();
        loop {
            let mut best = (NO_MERGE, 0);
            for (i, &(_, merged)) in parts[..len].iter().enumerate() {
                if merged < best.0 {
                    best = (merged, i);
                }
            }
            let (token, i) = best;
            if token == NO_MERGE {
                break;
            }
            parts[i].0 = token;
            parts.copy_within(i + 2..len, i + 1);
            len -= 1;
            parts[i].1 = match parts[..len].get(i + 1) {
                Some(&(next, _)) => self.merged(token, next),
                None => NO_MERGE,
            };
            if i > 0 {
                parts[i - 1].1 = self.merged(parts[i - 1].0, token);
            }
        }
        out.extend(parts[..len].iter().map(|&(token, _)| token));
    }

    /// tiktoken's `_byte_pair_merge_large`: the same merges, with a heap of candidate pairs ordered by
    /// (rank, start) and a linked list of parts (`O(n log n)`, for long pieces).
    fn merge_by_heap(&self, piece: &[u8], out: &mut Vec<u32>) {
        /// A part, indexed by its first byte; only the entries at part starts are live.
        struct Part {
            token: u32,
            /// Start of the previous part (`usize::MAX` for the first).
            prev: usize,
            /// End of this part (= start of the next).
            end: usize,
            /// The token this part forms with the next, or [`NO_MERGE`].
            merged: u32,
        }
        let n = piece.len();
        let mut parts: Vec<Part> = piece
            .iter()
            .enumerate()
            .map(|(i, &b)| Part {
                token: self.byte_ids[usize::from(b)],
                prev: i.wrapping_sub(1),
                end: i + 1,
                merged: NO_MERGE,
            })
            .collect();
        let mut heap = BinaryHeap::with_capacity(n);
        for i in 1..n {
            let merged = self.merged(parts[i - 1].token, parts[i].token);
            if merged != NO_MERGE {
                parts[i - 1].merged = merged;
                heap.push(Reverse((merged, i - 1)));
            }
        }
        // Recomputes the pair that starts at `start` and queues it when it forms a token.
        let refresh =
            |parts: &mut Vec<Part>, heap: &mut BinaryHeap<Reverse<(u32, usize)>>, start: usize| {
                let Some(left) = parts.get(start) else {
                    return;
                };
                let merged = match parts.get(left.end) {
                    Some(right) => self.merged(left.token, right.token),
                    None => NO_MERGE,
                };
                parts[start].merged = merged;
                if merged != NO_MERGE {
                    heap.push(Reverse((merged, start)));
                }
            };
        while let Some(Reverse((token, left))) = heap.pop() {
            let Some(part) = parts.get(left) else {
                continue;
            };
            if part.merged != token {
                continue; // superseded by a later merge
            }
            let right = part.end;
            let Some(right_end) = parts.get(right).map(|r| r.end) else {
                continue;
            };
            parts[left].token = token;
            parts[left].end = right_end;
            parts[right].merged = NO_MERGE;
            if let Some(after) = parts.get_mut(right_end) {
                after.prev = left;
            }
            refresh(&mut parts, &mut heap, left);
            if left > 0 {
                let prev = parts[left].prev;
                refresh(&mut parts, &mut heap, prev);
            }
        }
        let mut i = 0;
        while let Some(part) = parts.get(i) {
            out.push(part.token);
            i = part.end;
        }
    }
}

/// Tokens and pieces up to this many bytes have a [`short_key`].
const SHORT_MAX: usize = 7;

/// The bytes of a short string and its length packed into one integer (distinct for distinct strings).
#[inline]
fn short_key(bytes: &[u8]) -> Option<u64> {
    let mut packed = [0u8; 8];
    packed.get_mut(..bytes.len())?.copy_from_slice(bytes);
    packed[SHORT_MAX] = u8::try_from(bytes.len()).ok()?;
    // A string of 8 bytes would overwrite the length byte.
    (bytes.len() <= SHORT_MAX).then(|| u64::from_le_bytes(packed))
}

#[inline]
fn pair_key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Pieces over a small alphabet so that long merges happen, at lengths around the scan/heap switch;
    /// both loops must give the ids of tiktoken-rs's own merge (`byte_pair_split` over the same ranks).
    #[test]
    fn scan_and_heap_merges_agree_with_tiktoken() {
        let bpe = tiktoken_rs::r50k_base_singleton();
        let ranks = Ranks::from_core_bpe(bpe, 50257).unwrap();
        let reference: FxHashMap<Vec<u8>, u32> = ranks
            .ids
            .iter()
            .map(|(bytes, &id)| (bytes.to_vec(), id))
            .collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"aaabbnnrst eio.,'\xc3\xa9\x80 \n";
        for len in [2, 3, 7, 31, 99, 100, 101, 250, 1000] {
            for _ in 0..20 {
                let piece: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        alphabet[(seed % alphabet.len() as u64) as usize]
                    })
                    .collect();
                let expected: Vec<u32> = tiktoken_rs::byte_pair_split(&piece, &reference)
                    .iter()
                    .map(|part| reference[*part])
                    .collect();
                let (mut scan, mut heap) = (Vec::new(), Vec::new());
                ranks.merge_by_scan(&piece, &mut scan);
                ranks.merge_by_heap(&piece, &mut heap);
                assert_eq!(scan, expected, "{piece:?}");
                assert_eq!(heap, expected, "{piece:?}");
            }
        }
    }
}

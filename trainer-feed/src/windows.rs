//! Seeded, resumable, data-parallel sampling of `(T + 1)`-token training windows from shards (docs/ARCHITECTURE.md §7).
//!
//! Windows are cut as llm.c's dataloader cuts them: a shard of `L` tokens gives the windows that start at
//! `0, T, 2T, …` while `T + 1` tokens remain, so consecutive windows share one token (the last target of one
//! is the first input of the next) and no window crosses a shard end. Every document starts with
//! `<|endoftext|>` (docs/ARCHITECTURE.md §5), so a window may start anywhere.
//!
//! Each epoch visits the windows of all shards in its own order: a Fisher–Yates shuffle (Knuth, TAOCP
//! vol. 2, §3.4.2, Algorithm P) driven by SplitMix64 (Steele, Lea & Flood 2014) seeded from
//! `(seed, epoch)`. Every rank computes the same order, and rank `r` of `world_size` takes its positions
//! `r, r + world_size, r + 2·world_size, …`, so ranks never share a window within an epoch without having
//! to talk to each other. Each rank takes `⌊windows / world_size⌋` windows per epoch (the few left at the
//! end of an epoch's order are skipped, different ones each epoch, like PyTorch's `DistributedSampler`
//! with `drop_last`): all ranks then take the same number of steps per epoch and stand at the same
//! [`SamplerPosition`] after the same number of batches.

use corpus_sharder::{ShardError, ShardReader};

use crate::rng::SplitMix64;

/// Why a [`WindowSampler`] could not be built, positioned or read.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// A shard is not a valid llm.c token shard, or could not be read back.
    #[error("shard {index} of the sampler's list: {source}")]
    BadShard {
        /// Position of the shard in the list given to [`WindowSampler::new`].
        index: usize,
        /// What is wrong with it.
        #[source]
        source: ShardError,
    },
    /// `seq_len` is 0: a window needs at least one input and one target.
    #[error("seq_len must be at least 1")]
    ZeroSeqLen,
    /// `rank` is not below `world_size` (or `world_size` is 0).
    #[error("rank {rank} is not a rank of a world of {world_size}: need 0 <= rank < world_size")]
    BadRank {
        /// The rank asked for.
        rank: usize,
        /// The world size asked for.
        world_size: usize,
    },
    /// Every shard is shorter than `seq_len + 1` tokens, so no window fits.
    #[error(
        "no window of {seq_len} + 1 tokens fits: the longest shard has {longest} tokens; \
         use a shorter seq_len or larger shards"
    )]
    NoWindows {
        /// The sequence length asked for.
        seq_len: usize,
        /// Tokens in the longest shard (0 when no shard was given).
        longest: usize,
    },
    /// Fewer windows than ranks: some rank would get nothing.
    #[error(
        "{windows} windows cannot be split among {world_size} ranks; use more data or fewer ranks"
    )]
    TooFewWindows {
        /// Windows in all shards together.
        windows: usize,
        /// The world size asked for.
        world_size: usize,
    },
    /// A position to [`WindowSampler::seek`] to lies past the end of an epoch; it was saved by a sampler
    /// over other shards, another `seq_len` or another `world_size`.
    #[error(
        "position index {index} is past the end of an epoch of {windows_per_epoch} windows per rank; \
         was it saved with other shards, seq_len or world_size?"
    )]
    SeekOutOfRange {
        /// The index asked for.
        index: u64,
        /// Windows per epoch of this rank.
        windows_per_epoch: usize,
    },
}

/// The parameters of a [`WindowSampler`]; a resumed run must use the same ones (and the same shards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplerConfig {
    /// `T`: tokens of input (and of target) per window.
    pub seq_len: usize,
    /// Seed of the per-epoch window orders; the same on every rank.
    pub seed: u64,
    /// This process's data-parallel rank, below `world_size`.
    pub rank: usize,
    /// Number of data-parallel ranks.
    pub world_size: usize,
}

/// Where a [`WindowSampler`] stands: the part of a training checkpoint that makes a resumed run see
/// exactly the batches it would have seen. Plain integers, so the checkpoint can store it in any format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplerPosition {
    /// Epoch being visited, from 0.
    pub epoch: u64,
    /// Windows of this rank's share of the epoch already handed out, below
    /// [`WindowSampler::windows_per_epoch`].
    pub index: u64,
}

/// Hands out batches of `(T + 1)`-token windows of in-memory shards in a seeded, resumable order, each
/// data-parallel rank its own windows (see the module documentation for the order and the split).
///
/// `S` is anything that holds a shard's bytes: `Vec<u8>`, `Arc<[u8]>`, a memory map. The sampler keeps the
/// current epoch's order of all windows, one `usize` per window.
#[derive(Debug)]
pub struct WindowSampler<S> {
    shards: Vec<S>,
    /// `window_ends[s]`: windows in shards `0..=s`, so shard `s` holds the global windows
    /// `window_ends[s - 1]..window_ends[s]`.
    window_ends: Vec<usize>,
    seq_len: usize,
    seed: u64,
    rank: usize,
    world_size: usize,
    windows_per_epoch: usize,
    epoch: u64,
    /// Windows of this rank's share of `epoch` already handed out; always below `windows_per_epoch`.
    index: usize,
    /// Global window ids of all ranks in `epoch`'s order.
    order: Vec<usize>,
    /// One window, `seq_len + 1` tokens.
    window: Vec<u32>,
}

impl<S: AsRef<[u8]>> WindowSampler<S> {
    /// Validates every shard (llm.c header and size, as [`ShardReader::new`] checks them), cuts them into
    /// windows and stands at the start of epoch 0.
    ///
    /// Fails with [`WindowError::BadShard`] naming the first invalid shard, [`WindowError::ZeroSeqLen`],
    /// [`WindowError::BadRank`], [`WindowError::NoWindows`] when every shard is shorter than
    /// `seq_len + 1` tokens, or [`WindowError::TooFewWindows`] when there are fewer windows than ranks.
    pub fn new(shards: Vec<S>, config: SamplerConfig) -> Result<Self, WindowError> {
        let SamplerConfig {
            seq_len,
            seed,
            rank,
            world_size,
        } = config;
        if seq_len == 0 {
            return Err(WindowError::ZeroSeqLen);
        }
        if rank >= world_size {
            return Err(WindowError::BadRank { rank, world_size });
        }
        let mut window_ends = Vec::with_capacity(shards.len());
        let mut windows = 0;
        let mut longest = 0;
        for (index, shard) in shards.iter().enumerate() {
            let reader = ShardReader::new(shard.as_ref())
                .map_err(|source| WindowError::BadShard { index, source })?;
            longest = longest.max(reader.len());
            windows += windows_in_shard(reader.len(), seq_len);
            window_ends.push(windows);
        }
        if windows == 0 {
            return Err(WindowError::NoWindows { seq_len, longest });
        }
        let windows_per_epoch = windows / world_size;
        if windows_per_epoch == 0 {
            return Err(WindowError::TooFewWindows {
                windows,
                world_size,
            });
        }
        let mut order = Vec::with_capacity(windows);
        shuffle_epoch(&mut order, windows, seed, 0);
        Ok(WindowSampler {
            shards,
            window_ends,
            seq_len,
            seed,
            rank,
            world_size,
            windows_per_epoch,
            epoch: 0,
            index: 0,
            order,
            window: vec![0; seq_len + 1],
        })
    }

    /// `T`, the tokens of input (and of target) per window.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Windows cut from all shards together: one epoch of all ranks.
    pub fn total_windows(&self) -> usize {
        self.order.len()
    }

    /// Windows this rank is handed per epoch, `⌊total_windows / world_size⌋`; the same on every rank.
    pub fn windows_per_epoch(&self) -> usize {
        self.windows_per_epoch
    }

    /// Where the sampler stands; [`WindowSampler::seek`] to it later to hand out the same batches again.
    pub fn position(&self) -> SamplerPosition {
        SamplerPosition {
            epoch: self.epoch,
            index: self.index as u64,
        }
    }

    /// Moves to a position saved by [`WindowSampler::position`] of a sampler with the same shards and
    /// [`SamplerConfig`]; the batches that follow are then the ones that sampler handed out after saving.
    ///
    /// Fails with [`WindowError::SeekOutOfRange`], leaving the sampler where it was, when `position.index`
    /// is not below [`WindowSampler::windows_per_epoch`].
    pub fn seek(&mut self, position: SamplerPosition) -> Result<(), WindowError> {
        let index = usize::try_from(position.index)
            .ok()
            .filter(|&index| index < self.windows_per_epoch)
            .ok_or(WindowError::SeekOutOfRange {
                index: position.index,
                windows_per_epoch: self.windows_per_epoch,
            })?;
        if position.epoch != self.epoch {
            let windows = self.order.len();
            shuffle_epoch(&mut self.order, windows, self.seed, position.epoch);
            self.epoch = position.epoch;
        }
        self.index = index;
        Ok(())
    }

    /// Replaces the contents of `inputs` and `targets` with the next `batch` windows of this rank, row-major
    /// `batch × T` each: row `b` of `targets` is row `b` of `inputs` shifted left by one token, ending with
    /// the token that follows the window's inputs in its shard. Moves on to the next epoch, in its own
    /// order, when the current one runs out, also in the middle of a batch.
    ///
    /// Fails with [`WindowError::BadShard`] only if a shard's bytes no longer read as they did when the
    /// sampler validated them; the buffers and position are then partly advanced.
    pub fn next_batch(
        &mut self,
        batch: usize,
        inputs: &mut Vec<u32>,
        targets: &mut Vec<u32>,
    ) -> Result<(), WindowError> {
        inputs.clear();
        targets.clear();
        for _ in 0..batch {
            let global = self.order[self.rank + self.world_size * self.index];
            self.read_window(global)?;
            inputs.extend_from_slice(&self.window[..self.seq_len]);
            targets.extend_from_slice(&self.window[1..]);
            self.advance();
        }
        Ok(())
    }

    /// Reads global window `global` into `self.window`.
    fn read_window(&mut self, global: usize) -> Result<(), WindowError> {
        let shard = self.window_ends.partition_point(|&end| end <= global);
        let first = self.window_ends[..shard].last().copied().unwrap_or(0);
        let start = (global - first) * self.seq_len;
        ShardReader::new(self.shards[shard].as_ref())
            .and_then(|reader| reader.read_into(start, &mut self.window))
            .map_err(|source| WindowError::BadShard {
                index: shard,
                source,
            })
    }

    /// Steps past the window just handed out, into the next epoch after the last one of this epoch.
    fn advance(&mut self) {
        self.index += 1;
        if self.index == self.windows_per_epoch {
            self.index = 0;
            self.epoch = self.epoch.wrapping_add(1);
            let windows = self.order.len();
            shuffle_epoch(&mut self.order, windows, self.seed, self.epoch);
        }
    }
}

/// Windows of `seq_len + 1` tokens starting at multiples of `seq_len` in a shard of `tokens` tokens.
fn windows_in_shard(tokens: usize, seq_len: usize) -> usize {
    if tokens > seq_len {
        (tokens - 1) / seq_len
    } else {
        0
    }
}

/// Fills `order` with the window ids `0..windows` in `epoch`'s order: a Fisher–Yates shuffle, each
/// permutation equally likely given a uniform generator.
fn shuffle_epoch(order: &mut Vec<usize>, windows: usize, seed: u64, epoch: u64) {
    order.clear();
    order.extend(0..windows);
    let mut rng = SplitMix64::for_stream(seed, epoch);
    for i in (1..windows).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use corpus_sharder::{ShardWriter, TokenWidth};
    use std::collections::HashSet;
    use std::sync::Arc;

    const T: usize = 4;
    /// Shard lengths: 5, 3, 0 and 2 windows of 4 + 1 tokens, 10 in all.
    const LENGTHS: [u32; 4] = [21, 13, 3, 9];

    /// Tokens of shard `s`: `1000·s + i`, so a window's first token names its shard and offset.
    fn tokens(s: usize) -> Vec<u32> {
        (0..LENGTHS[s]).map(|i| 1000 * s as u32 + i).collect()
    }

    fn write_shard(tokens: &[u32], width: TokenWidth) -> Vec<u8> {
        let mut writer = ShardWriter::new(Vec::new(), width, tokens.len() as u64).unwrap();
        writer.push(tokens).unwrap();
        writer.finish().unwrap().0
    }

    /// The four test shards, the last one with `u32` tokens.
    fn shards() -> Vec<Arc<[u8]>> {
        (0..LENGTHS.len())
            .map(|s| {
                let width = if s == 3 {
                    TokenWidth::U32
                } else {
                    TokenWidth::U16
                };
                Arc::from(write_shard(&tokens(s), width))
            })
            .collect()
    }

    fn config(seed: u64, rank: usize, world_size: usize) -> SamplerConfig {
        SamplerConfig {
            seq_len: T,
            seed,
            rank,
            world_size,
        }
    }

    fn sampler(seed: u64, rank: usize, world_size: usize) -> WindowSampler<Arc<[u8]>> {
        WindowSampler::new(shards(), config(seed, rank, world_size)).unwrap()
    }

    /// First tokens of every window of the test shards.
    fn all_windows() -> HashSet<u32> {
        (0..LENGTHS.len())
            .flat_map(|s| {
                let len = LENGTHS[s] as usize;
                (0..)
                    .map(|k| k * T)
                    .take_while(move |&start| start + T < len)
                    .map(move |start| tokens(s)[start])
            })
            .collect()
    }

    /// First tokens of the next `batches` batches of `batch` windows.
    fn starts(sampler: &mut WindowSampler<Arc<[u8]>>, batches: usize, batch: usize) -> Vec<u32> {
        let (mut inputs, mut targets) = (Vec::new(), Vec::new());
        let mut starts = Vec::new();
        for _ in 0..batches {
            sampler
                .next_batch(batch, &mut inputs, &mut targets)
                .unwrap();
            starts.extend(inputs.chunks_exact(T).map(|row| row[0]));
        }
        starts
    }

    #[test]
    fn test_shards_have_the_expected_windows() {
        assert_eq!(all_windows().len(), 10);
        let sampler = sampler(0, 0, 1);
        assert_eq!(sampler.total_windows(), 10);
        assert_eq!(sampler.windows_per_epoch(), 10);
        assert_eq!(sampler.seq_len(), T);
    }

    #[test]
    fn targets_are_inputs_shifted_by_one_within_a_shard() {
        let mut sampler = sampler(3, 0, 1);
        let (mut inputs, mut targets) = (vec![7; 3], Vec::new());
        sampler.next_batch(10, &mut inputs, &mut targets).unwrap();
        assert_eq!(inputs.len(), 10 * T);
        assert_eq!(targets.len(), 10 * T);
        for (input, target) in inputs.chunks_exact(T).zip(targets.chunks_exact(T)) {
            let (shard, start) = ((input[0] / 1000) as usize, (input[0] % 1000) as usize);
            assert_eq!(start % T, 0, "window starts at a multiple of T");
            let window = &tokens(shard)[start..start + T + 1];
            assert_eq!(input, &window[..T]);
            assert_eq!(target, &window[1..]);
        }
    }

    #[test]
    fn one_epoch_visits_every_window_exactly_once() {
        let mut sampler = sampler(5, 0, 1);
        let epoch = starts(&mut sampler, 10, 1);
        assert_eq!(epoch.iter().copied().collect::<HashSet<_>>(), all_windows());
        assert_eq!(epoch.len(), 10);
        assert_eq!(sampler.position(), SamplerPosition { epoch: 1, index: 0 });

        // Batches of 4 run across the epoch boundary; the next epoch again has every window once, in
        // another order.
        let mut sampler = self::sampler(5, 0, 1);
        let two_epochs = starts(&mut sampler, 5, 4);
        assert_eq!(sampler.position(), SamplerPosition { epoch: 2, index: 0 });
        assert_eq!(two_epochs[..10], epoch[..]);
        assert_eq!(
            two_epochs[10..].iter().copied().collect::<HashSet<_>>(),
            all_windows()
        );
        assert_ne!(two_epochs[10..], epoch[..]);
    }

    #[test]
    fn two_ranks_are_disjoint_and_cover_the_epoch() {
        let mut rank0 = sampler(9, 0, 2);
        let mut rank1 = sampler(9, 1, 2);
        assert_eq!(rank0.windows_per_epoch(), 5);
        let first: HashSet<u32> = starts(&mut rank0, 1, 5).into_iter().collect();
        let second: HashSet<u32> = starts(&mut rank1, 1, 5).into_iter().collect();
        assert_eq!(first.len(), 5);
        assert_eq!(second.len(), 5);
        assert!(first.is_disjoint(&second));
        assert_eq!(&first | &second, all_windows());
        assert_eq!(rank0.position(), rank1.position());
    }

    #[test]
    fn ranks_that_do_not_divide_the_epoch_get_equal_disjoint_shares() {
        let mut seen = HashSet::new();
        for rank in 0..3 {
            let mut sampler = sampler(9, rank, 3);
            assert_eq!(sampler.windows_per_epoch(), 3);
            for start in starts(&mut sampler, 3, 1) {
                assert!(seen.insert(start), "window {start} handed to two ranks");
            }
            assert_eq!(sampler.position(), SamplerPosition { epoch: 1, index: 0 });
        }
        assert_eq!(seen.len(), 9);
        assert!(seen.is_subset(&all_windows()));
    }

    #[test]
    fn seek_to_a_saved_position_reproduces_the_next_batches() {
        let mut uninterrupted = sampler(11, 1, 2);
        starts(&mut uninterrupted, 4, 3);
        let saved = uninterrupted.position();
        assert_eq!(saved, SamplerPosition { epoch: 2, index: 2 });

        let mut resumed = sampler(11, 1, 2);
        resumed.seek(saved).unwrap();
        let (mut inputs, mut targets, mut resumed_inputs, mut resumed_targets) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..6 {
            uninterrupted
                .next_batch(3, &mut inputs, &mut targets)
                .unwrap();
            resumed
                .next_batch(3, &mut resumed_inputs, &mut resumed_targets)
                .unwrap();
            assert_eq!(resumed_inputs, inputs);
            assert_eq!(resumed_targets, targets);
        }
        assert_eq!(resumed.position(), uninterrupted.position());

        // Seeking back into an earlier epoch replays it.
        let fresh = starts(&mut sampler(11, 1, 2), 4, 3);
        uninterrupted
            .seek(SamplerPosition { epoch: 0, index: 0 })
            .unwrap();
        assert_eq!(starts(&mut uninterrupted, 4, 3), fresh);
    }

    #[test]
    fn seek_past_the_epoch_is_refused_and_changes_nothing() {
        let mut sampler = sampler(1, 0, 2);
        starts(&mut sampler, 1, 2);
        let before = sampler.position();
        let err = sampler
            .seek(SamplerPosition { epoch: 3, index: 5 })
            .unwrap_err();
        assert!(matches!(
            err,
            WindowError::SeekOutOfRange {
                index: 5,
                windows_per_epoch: 5
            }
        ));
        assert_eq!(sampler.position(), before);
    }

    #[test]
    fn different_seeds_give_different_orders() {
        let first = starts(&mut sampler(1, 0, 1), 1, 10);
        assert_eq!(starts(&mut sampler(1, 0, 1), 1, 10), first);
        assert_ne!(starts(&mut sampler(2, 0, 1), 1, 10), first);
    }

    #[test]
    fn shuffle_puts_every_window_everywhere_equally_often() {
        // 4 windows, 24000 epochs: each window should land at each place 6000 times (σ ≈ 67). A biased
        // draw, such as Sattolo's `below(i)` that never leaves a window in place, lands far outside.
        let mut counts = [[0u32; 4]; 4];
        let mut order = Vec::new();
        for epoch in 0..24_000 {
            shuffle_epoch(&mut order, 4, 42, epoch);
            for (place, &window) in order.iter().enumerate() {
                counts[window][place] += 1;
            }
        }
        for row in counts {
            for count in row {
                assert!((5700..6300).contains(&count), "{counts:?}");
            }
        }
    }

    #[test]
    fn a_bad_shard_is_refused() {
        let mut shards: Vec<Vec<u8>> = (0..2)
            .map(|s| write_shard(&tokens(s), TokenWidth::U16))
            .collect();
        shards[1].pop();
        let err = WindowSampler::new(shards.clone(), config(0, 0, 1)).unwrap_err();
        assert!(matches!(
            err,
            WindowError::BadShard {
                index: 1,
                source: ShardError::SizeMismatch { .. }
            }
        ));

        shards[0][0] ^= 0xFF;
        let err = WindowSampler::new(shards, config(0, 0, 1)).unwrap_err();
        assert!(matches!(
            err,
            WindowError::BadShard {
                index: 0,
                source: ShardError::BadHeader(_)
            }
        ));
    }

    #[test]
    fn no_window_fitting_is_an_error() {
        let short = vec![
            write_shard(&[1, 2, 3, 4], TokenWidth::U16),
            write_shard(&[5, 6], TokenWidth::U16),
        ];
        let err = WindowSampler::new(short, config(0, 0, 1)).unwrap_err();
        assert!(matches!(
            err,
            WindowError::NoWindows {
                seq_len: T,
                longest: 4
            }
        ));

        let err = WindowSampler::<Vec<u8>>::new(Vec::new(), config(0, 0, 1)).unwrap_err();
        assert!(matches!(
            err,
            WindowError::NoWindows {
                seq_len: T,
                longest: 0
            }
        ));

        // Exactly T + 1 tokens is one window.
        let exact = vec![write_shard(&[1, 2, 3, 4, 5], TokenWidth::U16)];
        let mut sampler = WindowSampler::new(exact, config(0, 0, 1)).unwrap();
        let (mut inputs, mut targets) = (Vec::new(), Vec::new());
        sampler.next_batch(2, &mut inputs, &mut targets).unwrap();
        assert_eq!(inputs, [1, 2, 3, 4, 1, 2, 3, 4]);
        assert_eq!(targets, [2, 3, 4, 5, 2, 3, 4, 5]);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let zero_t = SamplerConfig {
            seq_len: 0,
            ..config(0, 0, 1)
        };
        assert!(matches!(
            WindowSampler::new(shards(), zero_t),
            Err(WindowError::ZeroSeqLen)
        ));
        assert!(matches!(
            WindowSampler::new(shards(), config(0, 2, 2)),
            Err(WindowError::BadRank {
                rank: 2,
                world_size: 2
            })
        ));
        assert!(matches!(
            WindowSampler::new(shards(), config(0, 0, 0)),
            Err(WindowError::BadRank {
                rank: 0,
                world_size: 0
            })
        ));
        assert!(matches!(
            WindowSampler::new(shards(), config(0, 0, 11)),
            Err(WindowError::TooFewWindows {
                windows: 10,
                world_size: 11
            })
        ));
    }
}

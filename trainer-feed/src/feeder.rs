//! The host side of the feeder (docs/ARCHITECTURE.md §7): a background thread cuts the next batches out of the
//! shards while the training step runs, a bounded queue ahead, so the step never waits for data.

use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use crate::windows::{SamplerPosition, WindowError, WindowSampler};

/// One batch of `B × T` input and target tokens, and where the sampler stood after cutting it (what a
/// checkpoint taken after training on it must record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Input tokens, row-major `B × T`.
    pub inputs: Vec<u32>,
    /// Next-token targets, row-major `B × T`.
    pub targets: Vec<u32>,
    /// The sampler's position after this batch.
    pub position: SamplerPosition,
}

/// Batches from a [`WindowSampler`] on a background thread, at most `depth` of them prepared ahead. As an
/// iterator it yields batches in the sampler's order forever, an `Err` if a shard stops reading as it did,
/// and then ends.
#[derive(Debug)]
pub struct Feeder {
    receiver: Option<Receiver<Result<Batch, WindowError>>>,
    worker: Option<JoinHandle<()>>,
}

impl Feeder {
    /// Starts the thread: it hands out `batch` windows at a time from wherever `sampler` stands, keeping at
    /// most `depth` (at least 1) batches ready.
    pub fn spawn<S>(mut sampler: WindowSampler<S>, batch: usize, depth: usize) -> Feeder
    where
        S: AsRef<[u8]> + Send + 'static,
    {
        let (sender, receiver) = sync_channel(depth.max(1));
        let worker = std::thread::Builder::new()
            .name("corpus-feeder".to_string())
            .spawn(move || {
                loop {
                    let (mut inputs, mut targets) = (Vec::new(), Vec::new());
                    let next = sampler
                        .next_batch(batch, &mut inputs, &mut targets)
                        .map(|()| Batch {
                            inputs,
                            targets,
                            position: sampler.position(),
                        });
                    let failed = next.is_err();
                    // A closed queue means the trainer is done with us.
                    if sender.send(next).is_err() || failed {
                        break;
                    }
                }
            });
        match worker {
            Ok(worker) => Feeder {
                receiver: Some(receiver),
                worker: Some(worker),
            },
            // No thread: the iterator ends at once and the trainer reports that the feed ended.
            Err(_) => Feeder {
                receiver: None,
                worker: None,
            },
        }
    }
}

impl Iterator for Feeder {
    type Item = Result<Batch, WindowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.receiver.as_ref()?.recv().ok()
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        // Closing the queue first wakes a worker blocked on a full queue, so the join returns.
        self.receiver = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::windows::SamplerConfig;
    use corpus_sharder::{ShardWriter, TokenWidth};

    fn sampler() -> WindowSampler<Vec<u8>> {
        let tokens: Vec<u32> = (0..200).collect();
        let mut writer = ShardWriter::new(Vec::new(), TokenWidth::U16, 200).unwrap();
        writer.push(&tokens).unwrap();
        let shard = writer.finish().unwrap().0;
        let config = SamplerConfig {
            seq_len: 8,
            seed: 3,
            rank: 0,
            world_size: 1,
        };
        WindowSampler::new(vec![shard], config).unwrap()
    }

    #[test]
    fn feeds_the_samplers_batches_in_order_and_stops_when_dropped() {
        let mut direct = sampler();
        let feeder = Feeder::spawn(sampler(), 3, 2);
        for batch in feeder.take(40) {
            let batch = batch.unwrap();
            let (mut inputs, mut targets) = (Vec::new(), Vec::new());
            direct.next_batch(3, &mut inputs, &mut targets).unwrap();
            assert_eq!(batch.inputs, inputs);
            assert_eq!(batch.targets, targets);
            assert_eq!(batch.position, direct.position());
        }
    }
}

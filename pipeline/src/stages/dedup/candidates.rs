//! `dedup-candidates`: per key partition, merges the sorted `buckets` and `exact` runs of every signatures
//! task and joins the documents that share a key to the first (smallest node) of them: a star per key, so
//! a key shared by `k` documents costs `k - 1` edges. With verification on, a band edge is kept only when
//! the two documents' stored shingle sets have exact Jaccard similarity at least `dedup.threshold`.
//! Edges are written in both directions, partitioned by node, for `dedup-components`.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Result, bail};
use corpus_shuffle::{EqualRecords, Spiller, merge};
use serde_json::json;

use super::{
    DedupSignatures, Offsets, StoreSink, budget, fingerprint, global_of, io_context,
    node_partition, open_runs, partition_runs,
};
use crate::plan::RunContext;
use crate::runner::{Counts, Stage, TaskContext, TaskResult};
use crate::stages::Quality;
use corpus_store::Location;

/// The candidates phase.
pub struct DedupCandidates;

/// Writes an undirected edge as its two directed records.
pub(super) fn push_edge<S: corpus_shuffle::RunSink>(
    edges: &mut Spiller<[u64; 2], S>,
    parts: usize,
    a: u64,
    b: u64,
) -> Result<()> {
    edges
        .push(node_partition(a, parts), [a, b])
        .and_then(|()| edges.push(node_partition(b, parts), [b, a]))
        .map_err(|e| io_context(e, "writing edges"))
}

impl Stage for DedupCandidates {
    fn name(&self) -> &'static str {
        "dedup-candidates"
    }

    fn dir(&self) -> &'static str {
        "dedup/candidates"
    }

    fn fingerprint(&self, run: &RunContext) -> serde_json::Value {
        fingerprint(run)
    }

    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult> {
        let run = ctx.run;
        let parts = run.tasks;
        let signatures = ctx.upstream(&DedupSignatures)?;
        let mut edges = Spiller::<[u64; 2], _>::new(
            parts,
            budget(run, 2),
            EqualRecords::DropWithinRun,
            StoreSink { ctx, kind: "edges" },
        );
        let mut verifier = match run.config.dedup.verifies() {
            true => Some(Verifier::new(ctx, budget(run, 2))?),
            false => None,
        };
        let (mut band_pairs, mut exact_pairs, mut rejected) = (0u64, 0u64, 0u64);

        let buckets = open_runs::<[u64; 2]>(run, partition_runs(&signatures, "buckets", ctx.task))?;
        let mut centre: Option<[u64; 2]> = None;
        for record in merge(buckets) {
            let [key, node] = record.map_err(|e| io_context(e, "reading buckets"))?;
            match centre {
                Some([k, c]) if k == key => {
                    if c == node {
                        continue;
                    }
                    band_pairs += 1;
                    match &mut verifier {
                        Some(v) => {
                            for (a, b) in v.check(c, node)? {
                                push_edge(&mut edges, parts, a, b)?;
                            }
                        }
                        None => push_edge(&mut edges, parts, c, node)?,
                    }
                }
                _ => centre = Some([key, node]),
            }
        }
        if let Some(v) = &mut verifier {
            for (a, b) in v.flush()? {
                push_edge(&mut edges, parts, a, b)?;
            }
            rejected = v.rejected;
        }

        let exact = open_runs::<[u64; 3]>(run, partition_runs(&signatures, "exact", ctx.task))?;
        let mut first: Option<[u64; 3]> = None;
        for record in merge(exact) {
            let [hi, lo, node] = record.map_err(|e| io_context(e, "reading exact keys"))?;
            match first {
                Some([h, l, c]) if h == hi && l == lo => {
                    if c != node {
                        exact_pairs += 1;
                        push_edge(&mut edges, parts, c, node)?;
                    }
                }
                _ => first = Some([hi, lo, node]),
            }
        }
        edges.finish().map_err(|e| io_context(e, "writing edges"))?;
        Ok(TaskResult {
            inputs: Vec::new(),
            counts: Counts::default(),
            extra: json!({
                "band_pairs": band_pairs,
                "exact_pairs": exact_pairs,
                "rejected_by_verification": rejected,
            }),
        })
    }
}

/// Checks candidate pairs by the exact Jaccard similarity of their stored shingle sets, a chunk at a
/// time: pairs are buffered up to the budget, then each document's set is read once per chunk.
///
/// Memory: the queued pairs (16 bytes each) take at most a quarter of the budget, and the shingle sets loaded
/// for a chunk are cached up to the rest of it. Pairs are checked in sorted order, so the first document's set
/// is reused across its run of pairs; when the cache would pass its share, it is emptied before the next set
/// is loaded, so the peak is the budget plus the two sets of the pair being compared.
struct Verifier<'a, 'c> {
    ctx: &'a TaskContext<'c>,
    offsets: Offsets,
    threshold: f64,
    pending: Vec<(u64, u64)>,
    capacity: usize,
    cache_bytes: usize,
    rejected: u64,
}

/// Shingle sets loaded for one chunk of pairs, at most `limit` bytes of them.
struct SetCache {
    sets: HashMap<u64, Arc<Vec<u64>>>,
    bytes: usize,
    limit: usize,
}

impl SetCache {
    fn new(limit: usize) -> Self {
        SetCache {
            sets: HashMap::new(),
            bytes: 0,
            limit,
        }
    }

    /// Bytes one cached set holds: its values and the map entry.
    fn cost(set: &[u64]) -> usize {
        set.len() * 8 + 64
    }

    /// The set of `node`, from the cache or from `load` into it. The cache is emptied first when the new set
    /// would take it past its limit (a set a caller still holds stays alive through its `Arc`), and a set
    /// larger than the whole limit is returned without being cached.
    fn get_or_load(
        &mut self,
        node: u64,
        load: impl FnOnce() -> Result<Vec<u64>>,
    ) -> Result<Arc<Vec<u64>>> {
        if let Some(set) = self.sets.get(&node) {
            return Ok(set.clone());
        }
        let set = Arc::new(load()?);
        let cost = Self::cost(&set);
        if self.bytes + cost > self.limit {
            self.sets.clear();
            self.bytes = 0;
        }
        if cost <= self.limit {
            self.sets.insert(node, set.clone());
            self.bytes += cost;
        }
        Ok(set)
    }
}

impl<'a, 'c> Verifier<'a, 'c> {
    fn new(ctx: &'a TaskContext<'c>, budget_bytes: usize) -> Result<Self> {
        Ok(Verifier {
            ctx,
            offsets: Offsets::from_markers(&ctx.upstream(&Quality)?)?,
            threshold: ctx.run.config.dedup.threshold,
            pending: Vec::new(),
            capacity: (budget_bytes / 4 / std::mem::size_of::<(u64, u64)>()).max(64),
            cache_bytes: budget_bytes - budget_bytes / 4,
            rejected: 0,
        })
    }

    /// Queues a pair; returns the pairs of a full chunk that passed.
    fn check(&mut self, a: u64, b: u64) -> Result<Vec<(u64, u64)>> {
        self.pending.push((a, b));
        if self.pending.len() < self.capacity {
            return Ok(Vec::new());
        }
        self.flush()
    }

    /// Checks every queued pair.
    fn flush(&mut self) -> Result<Vec<(u64, u64)>> {
        let mut pairs = std::mem::take(&mut self.pending);
        // Documents that share several bands are queued once per band.
        pairs.sort_unstable();
        pairs.dedup();
        let mut cache = SetCache::new(self.cache_bytes);
        let mut kept = Vec::with_capacity(pairs.len());
        for (a, b) in pairs {
            let sa = self.set(&mut cache, a)?;
            let sb = self.set(&mut cache, b)?;
            if corpus_dedup::jaccard(&sa, &sb) >= self.threshold {
                kept.push((a, b));
            } else {
                self.rejected += 1;
            }
        }
        Ok(kept)
    }

    fn set(&self, cache: &mut SetCache, node: u64) -> Result<Arc<Vec<u64>>> {
        cache.get_or_load(node, || self.load(node))
    }

    /// Reads one document's shingle set: its end offset and the one before it from the index, then the
    /// values between them from the data file.
    fn load(&self, node: u64) -> Result<Vec<u64>> {
        let run = self.ctx.run;
        let global = global_of(node);
        let task = self.offsets.task_of(global)?;
        let row = global - self.offsets.start(task);
        let (data, index) = super::signatures::shingle_paths(task, run.tasks);
        let (data, index): (Location, Location) = (run.work.child(&data), run.work.child(&index));
        let (from, to) = if row == 0 {
            let end = run.storage.get_range(&index, 0..8)?;
            (0, le_u64(&end, 0)?)
        } else {
            let ends = run
                .storage
                .get_range(&index, (row - 1) * 8..(row + 1) * 8)?;
            (le_u64(&ends, 0)?, le_u64(&ends, 8)?)
        };
        if to < from {
            bail!("corrupt shingle index {index} at row {row}");
        }
        if to == from {
            return Ok(Vec::new());
        }
        let bytes = run.storage.get_range(&data, from * 8..to * 8)?;
        (0..(to - from) as usize)
            .map(|i| le_u64(&bytes, i * 8))
            .collect()
    }
}

fn le_u64(bytes: &[u8], at: usize) -> Result<u64> {
    match bytes
        .get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
    {
        Some(b) => Ok(u64::from_le_bytes(b)),
        None => bail!("shingle file shorter than its index says"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_set_cache_stays_within_its_limit_and_loads_each_set_once_while_it_fits() {
        // Room for three sets of 100 values (864 bytes each).
        let mut cache = SetCache::new(3 * SetCache::cost(&[0; 100]));
        let mut loads = 0;
        let mut get = |cache: &mut SetCache, node: u64, len: usize| {
            cache
                .get_or_load(node, || {
                    loads += 1;
                    Ok(vec![node; len])
                })
                .unwrap()
        };
        for node in [1, 2, 3, 1, 2, 3] {
            assert_eq!(*get(&mut cache, node, 100), vec![node; 100]);
        }
        assert_eq!(cache.sets.len(), 3);
        // A fourth set empties the cache first; the bytes never pass the limit.
        let held = get(&mut cache, 4, 100);
        assert_eq!((cache.sets.len(), cache.bytes), (1, SetCache::cost(&held)));
        assert!(cache.bytes <= cache.limit);
        // A set larger than the limit is returned, not cached.
        let huge = get(&mut cache, 5, 1000);
        assert_eq!(huge.len(), 1000);
        assert!(!cache.sets.contains_key(&5) && cache.bytes <= cache.limit);
        // Sets 1, 2 and 3 were loaded once each while they fitted.
        assert_eq!(loads, 5);
    }
}

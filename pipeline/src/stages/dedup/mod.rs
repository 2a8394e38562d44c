//! `dedup`: exact and MinHash-LSH near-duplicate removal as five stages that exchange sorted run files
//! through storage (docs/ARCHITECTURE.md §4), so no task needs more memory than `dedup.memory_mb` plus one Parquet
//! batch, whatever the corpus size:
//!
//! 1. `dedup-signatures` (one task per upstream part): the normalised text's xxh3-128 and the MinHash LSH
//!    band keys of every document, written to `dedup/buckets/` and `dedup/exact/` partitioned by key,
//!    plus each document's id and hash to `dedup/meta/` partitioned by node;
//! 2. `dedup-candidates` (one task per key partition): documents sharing a key are joined to the first of
//!    them (a star, not all pairs), optionally only when their exact Jaccard similarity passes the
//!    threshold;
//! 3. `dedup-components`: connected components by alternating large-star and small-star rounds (Kiveris
//!    et al. 2014) until every component is a star around its smallest node;
//! 4. `dedup-clusters`: each component's centre learns its id and sends every member the keeper, the
//!    cluster size and the keeper's text hash, partitioned by the member's original task;
//! 5. `dedup-filter` (one task per upstream part): drops every member that is not its cluster's keeper,
//!    with reason `exact-duplicate` (same normalised text as the keeper) or `near-duplicate`, and writes
//!    `dedup/clusters/`.
//!
//! A node id orders documents by how much a cluster wants to keep them: source priority (8 bits), then
//! quality score (16 bits, higher first, absent last), then position in the corpus (40 bits: the order of
//! sources, input files and records, which does not depend on the task count). The smallest node of a
//! component is therefore its keeper, and every decision is the same for any number of tasks.

mod candidates;
mod clusters;
mod components;
mod filter;
mod signatures;

pub use candidates::DedupCandidates;
pub use clusters::DedupClusters;
pub use components::DedupComponents;
pub use filter::DedupFilter;
pub use signatures::DedupSignatures;

use anyhow::{Result, anyhow, bail};
use serde_json::json;

use super::runs::{StoreSink, io_context, open_runs, partition_runs};
use crate::plan::RunContext;
use crate::runner::Marker;

/// Bits of a node id that hold the document's position in the corpus.
const GLOBAL_BITS: u32 = 40;
const GLOBAL_MASK: u64 = (1 << GLOBAL_BITS) - 1;
/// The score field of a document without a quality score: after every scored one.
const NO_SCORE: u64 = 0xFFFF;

/// The fingerprint every dedup stage shares: its whole config and the seed.
fn fingerprint(run: &RunContext) -> serde_json::Value {
    json!({ "dedup": run.config.dedup, "seed": run.config.run.seed })
}

/// The node id of a document (see the module documentation).
fn node_id(priority: usize, score: Option<f64>, global: u64) -> Result<u64> {
    if global > GLOBAL_MASK {
        bail!("dedup numbers at most 2^40 documents; this corpus has more");
    }
    let score = match score {
        Some(s) if s.is_finite() => {
            ((1.0 - s.clamp(0.0, 1.0)) * (NO_SCORE - 1) as f64).round() as u64
        }
        _ => NO_SCORE,
    };
    Ok(((priority.min(255) as u64) << 56) | (score << GLOBAL_BITS) | global)
}

/// A document's position in the corpus, from its node id.
fn global_of(node: u64) -> u64 {
    node & GLOBAL_MASK
}

/// The partition of a node: a mixed hash, so partitions get similar shares whatever the ids.
fn node_partition(node: u64, partitions: usize) -> usize {
    (mix64(node) % partitions as u64) as usize
}

/// The partition of a key that is already a uniform hash.
fn key_partition(key: u64, partitions: usize) -> usize {
    (key % partitions as u64) as usize
}

/// SplitMix64's finaliser.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Position in the corpus of the first document of every upstream part, from its markers.
pub(crate) struct Offsets(Vec<u64>);

impl Offsets {
    pub(crate) fn from_markers(markers: &[Marker]) -> Result<Offsets> {
        let mut offsets = Vec::with_capacity(markers.len() + 1);
        let mut total = 0u64;
        for m in markers {
            offsets.push(total);
            let docs = m
                .outputs
                .iter()
                .find(|o| o.kind == "documents")
                .ok_or_else(|| anyhow!("{} task {} recorded no documents", m.stage, m.task))?;
            total += docs.rows;
        }
        offsets.push(total);
        Ok(Offsets(offsets))
    }

    /// First global position of a part.
    pub(crate) fn start(&self, task: usize) -> u64 {
        self.0[task]
    }

    /// The part holding a global position.
    fn task_of(&self, global: u64) -> Result<usize> {
        let total = self.0.last().copied().unwrap_or(0);
        if global >= total {
            bail!("document {global} is past the corpus end ({total})");
        }
        Ok(self.0.partition_point(|&start| start <= global) - 1)
    }
}

/// The spill budget of one of `sharing` spillers of a task.
fn budget(run: &RunContext, sharing: usize) -> usize {
    (run.config.dedup.memory_mb << 20) / 2 / sharing.max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_order_by_priority_then_score_then_position() {
        let a = node_id(0, Some(0.2), 900).unwrap();
        let b = node_id(1, Some(0.99), 1).unwrap();
        assert!(a < b, "priority first");
        let c = node_id(1, Some(0.5), 0).unwrap();
        assert!(b < c, "higher score first");
        let d = node_id(1, None, 0).unwrap();
        assert!(c < d, "unscored last");
        let e = node_id(1, None, 5).unwrap();
        assert!(d < e, "then position");
        assert_eq!(global_of(e), 5);
        assert!(node_id(0, None, 1 << 40).is_err());
    }

    #[test]
    fn offsets_find_the_part_of_a_position() {
        let offsets = Offsets(vec![0, 3, 3, 10]);
        assert_eq!(offsets.task_of(0).unwrap(), 0);
        assert_eq!(offsets.task_of(2).unwrap(), 0);
        assert_eq!(offsets.task_of(3).unwrap(), 2);
        assert_eq!(offsets.task_of(9).unwrap(), 2);
        assert!(offsets.task_of(10).is_err());
        assert_eq!(offsets.start(2), 3);
    }
}

//! `dedup-clusters`: per node partition of the converged component graph, every centre (a node whose
//! neighbours are all larger) is its cluster's keeper. The task joins the centres with their ids and text
//! hashes (`meta` runs of the same partition, sorted by node) and sends every member of the cluster one
//! `assign` record, partitioned by the member's original part and keyed by its position in the corpus:
//! whether it is the keeper, the cluster size, the keeper's text hash and id. Cluster sizes come from a
//! first pass over the partition, written to a temporary run, so memory stays bounded however large a
//! cluster is.

use std::io::BufReader;

use anyhow::{Result, anyhow, bail};
use corpus_shuffle::{EqualRecords, Keyed, RunReader, RunWriter, Spiller, merge};
use serde_json::json;

use super::{
    DedupComponents, DedupSignatures, Offsets, StoreSink, budget, fingerprint, global_of,
    io_context, open_runs, partition_runs,
};
use crate::plan::RunContext;
use crate::runner::{Counts, Stage, TaskContext, TaskResult};
use crate::stages::Quality;

/// The clusters phase.
pub struct DedupClusters;

/// What a member learns about its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Assignment {
    pub kept: bool,
    pub size: u64,
    pub keeper_hash: u128,
    pub keeper_id: String,
}

impl Assignment {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(25 + self.keeper_id.len());
        out.push(u8::from(self.kept));
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.keeper_hash.to_le_bytes());
        out.extend_from_slice(self.keeper_id.as_bytes());
        out
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Assignment> {
        let fixed = |range: std::ops::Range<usize>| {
            bytes
                .get(range)
                .ok_or_else(|| anyhow!("truncated cluster assignment"))
        };
        let kept = match fixed(0..1)? {
            [0] => false,
            [1] => true,
            other => bail!("bad kept flag {other:?} in a cluster assignment"),
        };
        let size = u64::from_le_bytes(fixed(1..9)?.try_into()?);
        let keeper_hash = u128::from_le_bytes(fixed(9..25)?.try_into()?);
        let keeper_id = String::from_utf8(fixed(25..bytes.len())?.to_vec())
            .map_err(|_| anyhow!("keeper id is not UTF-8"))?;
        Ok(Assignment {
            kept,
            size,
            keeper_hash,
            keeper_id,
        })
    }
}

/// Splits a `meta` payload into the text hash and the id.
fn decode_meta(payload: &[u8]) -> Result<(u128, String)> {
    let hash = payload
        .get(..16)
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .map(u128::from_le_bytes)
        .ok_or_else(|| anyhow!("truncated document meta record"))?;
    let id = String::from_utf8(payload[16..].to_vec())
        .map_err(|_| anyhow!("document id is not UTF-8"))?;
    Ok((hash, id))
}

impl Stage for DedupClusters {
    fn name(&self) -> &'static str {
        "dedup-clusters"
    }

    fn dir(&self) -> &'static str {
        "dedup/assign"
    }

    fn fingerprint(&self, run: &RunContext) -> serde_json::Value {
        fingerprint(run)
    }

    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult> {
        let run = ctx.run;
        let components = ctx.upstream(&DedupComponents)?;
        let signatures = ctx.upstream(&DedupSignatures)?;
        let offsets = Offsets::from_markers(&ctx.upstream(&Quality)?)?;
        let edges = || open_runs::<[u64; 2]>(run, partition_runs(&components, "edges", ctx.task));

        // Pass 1: the size of every cluster centred in this partition.
        let sizes_loc = ctx.temp_output(&ctx.stage_file(&format!("_sizes-{:05}.run", ctx.task)));
        let mut sizes =
            RunWriter::<_, [u64; 2]>::new(std::io::BufWriter::new(run.storage.writer(&sizes_loc)));
        for_each_group(merge(edges()?), |node, first, count| {
            if first > node {
                sizes.push(&[node, count + 1])?;
            } else if count != 1 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("node {node} has a smaller neighbour and {count} neighbours: components did not converge"),
                ));
            }
            Ok(())
        })
        .map_err(|e| io_context(e, "sizing clusters"))?;
        let (writer, _) = sizes
            .finish()
            .map_err(|e| io_context(e, "sizing clusters"))?;
        writer.into_inner().map_err(|e| e.into_error())?.finish()?;

        // Pass 2: one assignment per member, from its centre's neighbour list.
        let mut sizes =
            RunReader::<_, [u64; 2]>::new(BufReader::new(run.storage.reader(&sizes_loc)?));
        let mut meta = merge(open_runs::<Keyed<1>>(
            run,
            partition_runs(&signatures, "meta", ctx.task),
        )?);
        let mut assign = Spiller::<Keyed<1>, _>::new(
            run.tasks,
            budget(run, 1),
            EqualRecords::Keep,
            StoreSink {
                ctx,
                kind: "assign",
            },
        );
        let (mut clusters, mut members) = (0u64, 0u64);
        let mut current: Option<(u64, Assignment)> = None;
        let mut last = None;
        for record in merge(edges()?) {
            let record = record.map_err(|e| io_context(e, "reading components"))?;
            let [node, neighbour] = record;
            // Runs of different producers may repeat an edge; leaves point down to their centre.
            if last == Some(record) || neighbour < node {
                continue;
            }
            last = Some(record);
            if current.as_ref().is_none_or(|(c, _)| *c != node) {
                let [centre, size] = sizes
                    .next()
                    .ok_or_else(|| anyhow!("cluster sizes ended before node {node}"))?
                    .map_err(|e| io_context(e, "reading cluster sizes"))?;
                if centre != node {
                    bail!("cluster sizes out of step: {centre} where {node} was expected");
                }
                let (keeper_hash, keeper_id) = loop {
                    let m = meta
                        .next()
                        .ok_or_else(|| anyhow!("no document record for node {node}"))?
                        .map_err(|e| io_context(e, "reading document ids"))?;
                    if m.key[0] == node {
                        break decode_meta(&m.payload)?;
                    }
                    if m.key[0] > node {
                        bail!("no document record for node {node}");
                    }
                };
                let keeper = Assignment {
                    kept: true,
                    size,
                    keeper_hash,
                    keeper_id,
                };
                push_assignment(&mut assign, &offsets, node, &keeper)?;
                clusters += 1;
                members += 1;
                current = Some((
                    node,
                    Assignment {
                        kept: false,
                        ..keeper
                    },
                ));
            }
            if let Some((_, leaf)) = &current {
                push_assignment(&mut assign, &offsets, neighbour, leaf)?;
                members += 1;
            }
        }
        assign
            .finish()
            .map_err(|e| io_context(e, "writing assignments"))?;
        Ok(TaskResult {
            inputs: Vec::new(),
            counts: Counts::default(),
            extra: json!({ "clusters": clusters, "members": members }),
        })
    }
}

fn push_assignment<S: corpus_shuffle::RunSink>(
    assign: &mut Spiller<Keyed<1>, S>,
    offsets: &Offsets,
    node: u64,
    assignment: &Assignment,
) -> Result<()> {
    let global = global_of(node);
    assign
        .push(
            offsets.task_of(global)?,
            Keyed {
                key: [global],
                payload: assignment.encode(),
            },
        )
        .map_err(|e| io_context(e, "writing assignments"))
}

/// Calls `f(node, first neighbour, neighbour count)` for every node of a sorted edge stream, skipping
/// repeated records.
fn for_each_group(
    edges: impl Iterator<Item = std::io::Result<[u64; 2]>>,
    mut f: impl FnMut(u64, u64, u64) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut group: Option<(u64, u64, u64)> = None;
    let mut last: Option<[u64; 2]> = None;
    for record in edges {
        let record = record?;
        if last == Some(record) {
            continue;
        }
        last = Some(record);
        let [node, neighbour] = record;
        match &mut group {
            Some((n, _, count)) if *n == node => *count += 1,
            _ => {
                if let Some((n, first, count)) = group.take() {
                    f(n, first, count)?;
                }
                group = Some((node, neighbour, 1));
            }
        }
    }
    if let Some((n, first, count)) = group {
        f(n, first, count)?;
    }
    Ok(())
}

//! `dedup-components`: connected components of the candidate graph, in rounds over storage. Even rounds
//! are large-star steps, odd rounds small-star steps (Kiveris et al. 2014); each task streams its node
//! partition's sorted edges once and writes the next round's edges, so memory stays within the spill
//! budget. The stage has converged when a large-star round finds every node settled: every component is
//! then a star around its smallest node, which is its keeper.

use anyhow::Result;
use corpus_dedup::{Step, StepStats, star_step};
use corpus_shuffle::{EqualRecords, Spiller, merge};
use serde_json::json;

use super::candidates::push_edge;
use super::{
    DedupCandidates, StoreSink, budget, fingerprint, io_context, open_runs, partition_runs,
};
use crate::plan::RunContext;
use crate::runner::{Counts, Marker, Stage, TaskContext, TaskResult};

/// The connected-components phase.
pub struct DedupComponents;

impl Stage for DedupComponents {
    fn name(&self) -> &'static str {
        "dedup-components"
    }

    fn dir(&self) -> &'static str {
        "dedup/components"
    }

    fn fingerprint(&self, run: &RunContext) -> serde_json::Value {
        fingerprint(run)
    }

    fn max_rounds(&self, run: &RunContext) -> Option<usize> {
        Some(run.config.dedup.max_rounds)
    }

    fn converged(&self, round: &[Marker]) -> bool {
        round.iter().all(|m| m.extra["step"] == "large")
            && round
                .iter()
                .all(|m| m.extra["unsettled"].as_u64() == Some(0))
    }

    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult> {
        let run = ctx.run;
        let parts = run.tasks;
        let inputs = match ctx.round {
            0 => ctx.upstream(&DedupCandidates)?,
            round => ctx.round_markers(self, round - 1)?,
        };
        let step = match ctx.round % 2 {
            0 => Step::Large,
            _ => Step::Small,
        };
        let runs = open_runs::<[u64; 2]>(run, partition_runs(&inputs, "edges", ctx.task))?;
        let mut edges = Spiller::<[u64; 2], _>::new(
            parts,
            budget(run, 1),
            EqualRecords::DropWithinRun,
            StoreSink { ctx, kind: "edges" },
        );
        let mut failed = None;
        let stats: StepStats = star_step(step, merge(runs), |a, b| {
            push_edge(&mut edges, parts, a, b).map_err(|e| {
                let io = std::io::Error::other(format!("{e:#}"));
                failed = Some(e);
                io
            })
        })
        .map_err(|e| match failed.take() {
            Some(original) => original,
            None => io_context(e, "reading edges"),
        })?;
        edges.finish().map_err(|e| io_context(e, "writing edges"))?;
        Ok(TaskResult {
            inputs: Vec::new(),
            counts: Counts::default(),
            extra: json!({
                "step": match step { Step::Large => "large", Step::Small => "small" },
                "nodes": stats.nodes,
                "edges_in": stats.edges_in,
                "edges_out": stats.edges_out,
                "unsettled": stats.unsettled,
            }),
        })
    }
}

//! `dedup-filter`: per upstream part, walks the documents in order next to their sorted cluster
//! assignments and drops every member that is not its cluster's keeper: `exact-duplicate` when its
//! normalised text equals the keeper's, `near-duplicate` otherwise, the keeper's id in the detail and the
//! full text kept. Kept documents are the stage output (`dedup/part-*.parquet`, the upstream schema);
//! `dedup/clusters/part-*.parquet` lists every document that has a duplicate: `id`, `cluster` (the
//! keeper's id), `cluster_size`, `kept`. `reports/dedup.parquet` sums documents in and out per source,
//! exact and near duplicates, and the cluster size histogram.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{
    ArrayRef, BooleanArray, RecordBatch, StringArray, StringBuilder, UInt64Builder,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use corpus_shuffle::{Keyed, merge};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::clusters::Assignment;
use super::signatures::text_hash;
use super::{DedupClusters, Offsets, fingerprint, io_context, open_runs, partition_runs};
use crate::plan::RunContext;
use crate::runner::{Dropped, Marker, PartTask, Stage, TaskContext, TaskResult};
use crate::stages::Quality;
use corpus_store::{ParquetSink, count_map_array, count_map_field, source_values, string_column};

/// The filter phase: the stage whose output later stages read.
pub struct DedupFilter;

/// Per-source accounting of one task, in its marker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct SourceTally {
    docs_in: u64,
    docs_out: u64,
    exact_duplicates: u64,
    near_duplicates: u64,
    /// Clusters whose keeper is from this source, by size.
    cluster_sizes: BTreeMap<String, u64>,
}

/// Schema of `dedup/clusters/part-*.parquet`.
pub fn clusters_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("cluster", DataType::Utf8, false),
        Field::new("cluster_size", DataType::UInt64, false),
        Field::new("kept", DataType::Boolean, false),
    ]))
}

impl Stage for DedupFilter {
    fn name(&self) -> &'static str {
        "dedup-filter"
    }

    fn dir(&self) -> &'static str {
        "dedup"
    }

    fn fingerprint(&self, run: &RunContext) -> serde_json::Value {
        fingerprint(run)
    }

    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult> {
        let run = ctx.run;
        let mut task = PartTask::open(ctx, &Quality)?;
        let start = Offsets::from_markers(&ctx.upstream(&Quality)?)?.start(ctx.task);
        let assigned = ctx.upstream(&DedupClusters)?;
        let mut assignments = merge(open_runs::<Keyed<1>>(
            run,
            partition_runs(&assigned, "assign", ctx.task),
        )?)
        .peekable();

        let out = task.output(
            task.part_file(),
            "documents",
            crate::stages::quality_output_schema(),
        );
        let clusters = task.output(
            ctx.stage_file(&format!("clusters/{}.parquet", ctx.part_name())),
            "clusters",
            clusters_schema(),
        );
        let mut tally: BTreeMap<String, SourceTally> = BTreeMap::new();
        for batch in task.batches()? {
            let batch = batch?;
            let ids = string_column(&batch, "id")?;
            let texts = string_column(&batch, "text")?;
            let sources = source_values(&batch, "source")?;
            let mut keep = Vec::with_capacity(batch.num_rows());
            let (mut c_id, mut c_cluster, mut c_size, mut c_kept) = (
                StringBuilder::new(),
                StringBuilder::new(),
                UInt64Builder::new(),
                Vec::new(),
            );
            for (i, source_name) in sources.iter().enumerate() {
                let global = start + task.offset(i);
                let source = tally.entry(source_name.clone()).or_default();
                source.docs_in += 1;
                let assignment = match assignments.peek() {
                    Some(Ok(next)) if next.key[0] < global => {
                        anyhow::bail!("assignment for document {} is out of order", next.key[0])
                    }
                    Some(Ok(next)) if next.key[0] == global => match assignments.next() {
                        Some(Ok(next)) => Some(Assignment::decode(&next.payload)?),
                        _ => None,
                    },
                    Some(Err(_)) => match assignments.next() {
                        Some(Err(e)) => return Err(io_context(e, "reading assignments")),
                        _ => None,
                    },
                    _ => None,
                };
                let Some(a) = assignment else {
                    task.counts.pass();
                    source.docs_out += 1;
                    keep.push(true);
                    continue;
                };
                c_id.append_value(ids.value(i));
                c_cluster.append_value(&a.keeper_id);
                c_size.append_value(a.size);
                c_kept.push(a.kept);
                if a.kept {
                    task.counts.pass();
                    source.docs_out += 1;
                    *source.cluster_sizes.entry(a.size.to_string()).or_default() += 1;
                    keep.push(true);
                    continue;
                }
                let exact = text_hash(texts.value(i)) == a.keeper_hash;
                let (reason, rule) = match exact {
                    true => ("exact-duplicate", "dedup.exact"),
                    false => ("near-duplicate", "dedup.minhash"),
                };
                match exact {
                    true => source.exact_duplicates += 1,
                    false => source.near_duplicates += 1,
                }
                keep.push(false);
                let why = Dropped {
                    reason,
                    rule,
                    detail: format!("duplicate of {} (cluster of {})", a.keeper_id, a.size),
                    text: Some(texts.value(i).to_string()),
                    value: None,
                };
                task.drop_row(i, ids.value(i), source_name, why);
            }
            task.next_batch(batch.num_rows())?;
            let kept = filter_record_batch(&batch, &BooleanArray::from(keep))
                .context("selecting kept documents")?;
            task.write(out, &kept)?;
            if !c_kept.is_empty() {
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(c_id.finish()),
                    Arc::new(c_cluster.finish()),
                    Arc::new(c_size.finish()),
                    Arc::new(BooleanArray::from(c_kept)),
                ];
                task.write(clusters, &RecordBatch::try_new(clusters_schema(), columns)?)?;
            }
        }
        if let Some(Ok(extra)) = assignments.next() {
            anyhow::bail!(
                "assignment for document {} past the end of part {}",
                extra.key[0],
                task.input_path()
            );
        }
        task.finish(json!({ "sources": tally }))
    }

    fn finish(&self, run: &RunContext, markers: &[Marker]) -> Result<()> {
        let mut total: BTreeMap<String, SourceTally> = BTreeMap::new();
        for m in markers {
            let tallies: BTreeMap<String, SourceTally> =
                serde_json::from_value(m.extra["sources"].clone())
                    .with_context(|| format!("dedup-filter task {} marker", m.task))?;
            for (source, t) in tallies {
                let sum = total.entry(source).or_default();
                sum.docs_in += t.docs_in;
                sum.docs_out += t.docs_out;
                sum.exact_duplicates += t.exact_duplicates;
                sum.near_duplicates += t.near_duplicates;
                for (size, n) in t.cluster_sizes {
                    *sum.cluster_sizes.entry(size).or_default() += n;
                }
            }
        }
        write_dedup_report(run, &total)
    }
}

/// `reports/dedup.parquet`: one row per source.
fn write_dedup_report(run: &RunContext, total: &BTreeMap<String, SourceTally>) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("docs_in", DataType::UInt64, false),
        Field::new("docs_out", DataType::UInt64, false),
        Field::new("exact_duplicates", DataType::UInt64, false),
        Field::new("near_duplicates", DataType::UInt64, false),
        count_map_field("cluster_sizes", "size", "clusters"),
    ]));
    let u64s = |f: fn(&SourceTally) -> u64| -> ArrayRef {
        Arc::new(total.values().map(f).collect::<arrow::array::UInt64Array>())
    };
    let sizes: Vec<BTreeMap<String, u64>> =
        total.values().map(|t| t.cluster_sizes.clone()).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(total.keys())),
        u64s(|t| t.docs_in),
        u64s(|t| t.docs_out),
        u64s(|t| t.exact_duplicates),
        u64s(|t| t.near_duplicates),
        count_map_array("size", "clusters", sizes.iter())?,
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let loc = run.work.child("reports/dedup.parquet");
    let mut sink = ParquetSink::create(&run.storage, &loc, schema)?;
    sink.write(&batch)?;
    sink.finish()?;
    Ok(())
}

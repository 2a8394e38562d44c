//! `ingest`: reads the source files assigned to the task and writes them as one Parquet file of documents
//! (docs/ARCHITECTURE.md §3) plus one of rejects. Files are assigned in contiguous ranges of the sorted input list, so
//! reading parts 0..n in order gives the same document sequence whatever the task count.

use anyhow::Result;
use serde_json::json;

use crate::plan::RunContext;
use crate::runner::{Counts, MarkerInput, Stage, TaskContext, TaskResult, assigned};
use corpus_readers::{Record, open_reader};
use corpus_store::{
    DocBatchBuilder, ParquetSink, RejectBatchBuilder, document_schema, reject_schema,
};

/// Rejects buffered before they are written out.
const REJECT_BATCH: usize = 4096;

/// The ingest stage.
pub struct Ingest;

impl Stage for Ingest {
    fn name(&self) -> &'static str {
        "ingest"
    }

    fn fingerprint(&self, run: &RunContext) -> serde_json::Value {
        let files: Vec<_> = run
            .inputs
            .iter()
            .map(|f| json!([f.source_index, f.location.url(), f.size, f.title]))
            .collect();
        json!({ "sources": run.config.sources, "files": files })
    }

    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult> {
        let run = ctx.run;
        let mine = &run.inputs[assigned(run.inputs.len(), ctx.task, ctx.tasks)];
        let docs_rel = ctx.stage_file(&format!("{}.parquet", ctx.part_name()));
        let rejects_rel = ctx.stage_file(&format!("rejects/{}.parquet", ctx.part_name()));
        let mut docs =
            ParquetSink::create(&run.storage, &ctx.temp_output(&docs_rel), document_schema())?;
        let mut rejects = ParquetSink::create(
            &run.storage,
            &ctx.temp_output(&rejects_rel),
            reject_schema(),
        )?;
        let mut batch = DocBatchBuilder::default();
        let mut reject_batch = RejectBatchBuilder::default();
        let mut counts = Counts::default();
        let mut inputs = Vec::with_capacity(mine.len());
        for input in mine {
            let source = &run.config.sources[input.source_index];
            for record in open_reader(&run.storage, source, input)? {
                match record {
                    Record::Doc(doc) => {
                        counts.pass();
                        if let Some(reason) = corpus_readers::recovered_from(&doc) {
                            counts.recover(&reason);
                        }
                        batch.push(&doc);
                        if batch.is_full() {
                            ctx.progress(batch.len() as u64);
                            docs.write(&batch.finish()?)?;
                        }
                    }
                    Record::Skip(kind) => counts.skip(kind),
                    Record::Reject(reject) => {
                        counts.reject(&reject.reason);
                        reject_batch.push(reject);
                        if reject_batch.len() >= REJECT_BATCH {
                            rejects.write(&reject_batch.finish()?)?;
                        }
                    }
                }
            }
            counts.bytes_in += input.size;
            inputs.push(MarkerInput {
                path: input.location.url().to_string(),
                bytes: input.size,
            });
        }
        if !batch.is_empty() {
            ctx.progress(batch.len() as u64);
            docs.write(&batch.finish()?)?;
        }
        if !reject_batch.is_empty() {
            rejects.write(&reject_batch.finish()?)?;
        }
        let (doc_rows, reject_rows) = (docs.rows(), rejects.rows());
        ctx.add_output(&docs_rel, "documents", docs.finish()?, doc_rows)?;
        ctx.add_output(&rejects_rel, "rejects", rejects.finish()?, reject_rows)?;
        Ok(TaskResult {
            inputs,
            counts,
            extra: json!({}),
        })
    }
}

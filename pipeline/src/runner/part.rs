//! The plumbing of a per-part stage: one upstream part in, the stage's Parquet outputs and `rejects/`
//! out. [`PartTask`] opens the input, creates each output under its temporary name, keeps the row offset
//! that rejects point at, reports progress, and on [`PartTask::finish`] records every output and the
//! task's input for the marker. The stage's own loop decides what each document becomes.

use anyhow::Result;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::{Counts, MarkerInput, MarkerOutput, Stage, TaskContext, TaskResult};
use corpus_store::Location;
use corpus_store::{
    ParquetBatches, ParquetSink, Reject, RejectBatchBuilder, read_parquet, reject_schema,
};

/// One per-part task in progress (see the module docs).
pub struct PartTask<'a> {
    ctx: &'a TaskContext<'a>,
    part: MarkerOutput,
    input: Location,
    outputs: Vec<Output>,
    rejects: Output,
    /// The current batch's reject rows, written when the batch ends.
    pending: RejectBatchBuilder,
    /// Documents passed and rejected so far.
    pub counts: Counts,
    row: u64,
}

/// Why a stage drops a document: the reject row's reason, rule, detail, kept text and measured value.
pub struct Dropped<'r> {
    /// Machine-readable reason, also the key of the marker's `rejected_by_reason`.
    pub reason: &'r str,
    /// The config rule that decided (`quality.gopher_quality`, `dedup.minhash`, ...).
    pub rule: &'r str,
    /// Human-readable explanation.
    pub detail: String,
    /// The document's text, where the stage keeps it (nothing is lost).
    pub text: Option<String>,
    /// The measured value that decided, if any.
    pub value: Option<f64>,
}

/// One Parquet output: created on its first batch, with that batch's schema (an upstream part's schema
/// may carry metadata the stage does not know), or on finish with the declared one if it got none.
struct Output {
    rel: String,
    kind: &'static str,
    schema: SchemaRef,
    sink: Option<ParquetSink>,
}

/// An output of a [`PartTask`], as returned by [`PartTask::output`].
#[derive(Debug, Clone, Copy)]
pub struct OutputId(usize);

impl<'a> PartTask<'a> {
    /// Starts the task on the same-numbered `documents` part of `upstream`.
    pub fn open(ctx: &'a TaskContext<'a>, upstream: &dyn Stage) -> Result<PartTask<'a>> {
        let (part, input) = ctx.upstream_documents(upstream)?;
        Ok(PartTask::new(ctx, part, input))
    }

    /// Starts the task on the upstream output `part`, stored at `input`, with a `rejects/` output.
    pub fn new(ctx: &'a TaskContext<'a>, part: MarkerOutput, input: Location) -> PartTask<'a> {
        let rejects = Output {
            rel: ctx.stage_file(&format!("rejects/{}.parquet", ctx.part_name())),
            kind: "rejects",
            schema: reject_schema(),
            sink: None,
        };
        PartTask {
            ctx,
            part,
            input,
            outputs: Vec::new(),
            rejects,
            pending: RejectBatchBuilder::default(),
            counts: Counts::default(),
            row: 0,
        }
    }

    /// Declares an output at `rel` (relative to the work directory) holding `kind`.
    pub fn output(&mut self, rel: String, kind: &'static str, schema: SchemaRef) -> OutputId {
        self.outputs.push(Output {
            rel,
            kind,
            schema,
            sink: None,
        });
        OutputId(self.outputs.len() - 1)
    }

    /// The stage's own file for this part, `{stage dir}/{part}.parquet`.
    pub fn part_file(&self) -> String {
        self.ctx
            .stage_file(&format!("{}.parquet", self.ctx.part_name()))
    }

    /// The input part's batches, in order.
    pub fn batches(&self) -> Result<ParquetBatches> {
        read_parquet(&self.ctx.run.storage, &self.input)
    }

    /// The input part's location.
    pub fn input(&self) -> &Location {
        &self.input
    }

    /// The input part's path relative to the work directory, which rejects name as their input.
    pub fn input_path(&self) -> &str {
        &self.part.path
    }

    /// The input row of row `i` of the current batch.
    pub fn offset(&self, i: usize) -> u64 {
        self.row + i as u64
    }

    /// Appends `batch` to `output`; an empty batch writes nothing.
    pub fn write(&mut self, output: OutputId, batch: &RecordBatch) -> Result<()> {
        let out = self
            .outputs
            .get_mut(output.0)
            .ok_or_else(|| anyhow::anyhow!("no output {}", output.0))?;
        write_to(self.ctx, out, batch)
    }

    /// Drops row `i` of the current batch: counts it under `why.reason` and queues its reject row, which
    /// names the input part and the row's offset in it (the "no document disappears" rule).
    pub fn drop_row(&mut self, i: usize, id: &str, source: &str, why: Dropped<'_>) {
        self.counts.reject(why.reason);
        self.pending.push(Reject {
            id: id.to_string(),
            source: source.to_string(),
            input: self.input_path().to_string(),
            offset: self.offset(i),
            reason: why.reason.to_string(),
            rule: why.rule.to_string(),
            detail: why.detail,
            text: why.text,
            value: why.value,
        });
    }

    /// Ends the current batch of `rows` input rows: its reject rows are written, later offsets count
    /// past it, and progress moves.
    pub fn next_batch(&mut self, rows: usize) -> Result<()> {
        if !self.pending.is_empty() {
            let rejects = self.pending.finish()?;
            write_to(self.ctx, &mut self.rejects, &rejects)?;
        }
        self.row += rows as u64;
        self.ctx.progress(rows as u64);
        Ok(())
    }

    /// Closes every output (an output that got no batch is written empty, with its declared schema) and
    /// returns the task's result, with `extra` for the marker.
    pub fn finish(mut self, extra: serde_json::Value) -> Result<TaskResult> {
        self.outputs.push(self.rejects);
        for out in self.outputs {
            let sink = match out.sink {
                Some(sink) => sink,
                None => ParquetSink::create(
                    &self.ctx.run.storage,
                    &self.ctx.temp_output(&out.rel),
                    out.schema,
                )?,
            };
            let rows = sink.rows();
            self.ctx
                .add_output(&out.rel, out.kind, sink.finish()?, rows)?;
        }
        self.counts.bytes_in = self.part.bytes;
        Ok(TaskResult {
            inputs: vec![MarkerInput {
                path: self.input.url().to_string(),
                bytes: self.part.bytes,
            }],
            counts: self.counts,
            extra,
        })
    }
}

fn write_to(ctx: &TaskContext, out: &mut Output, batch: &RecordBatch) -> Result<()> {
    if batch.num_rows() == 0 {
        return Ok(());
    }
    let sink = match &mut out.sink {
        Some(sink) => sink,
        None => out.sink.insert(ParquetSink::create(
            &ctx.run.storage,
            &ctx.temp_output(&out.rel),
            batch.schema(),
        )?),
    };
    sink.write(batch)
}

//! `decontaminate`: cuts the benchmark n-grams found in at most `max_documents` documents out of the
//! training text (GPT-3 App. C). A document without such n-grams passes unchanged; a cut one becomes its
//! pieces, `{id}#0`, `{id}#1`, ... (the other columns copied), pieces shorter than `min_piece` characters
//! dropped; a document cut into more than `max_pieces` pieces, or with no piece left, becomes a reject
//! row with its full text. `contamination/excisions/` logs every cut n-gram: document, benchmark, n-gram
//! and its byte range in the document as `decontam-count` saw it.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use arrow::array::{ArrayRef, RecordBatch, StringBuilder, UInt32Array, UInt64Builder};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use corpus_contamination::excise;
use rayon::prelude::*;
use serde_json::json;

use super::{DecontamCount, fingerprint, merged_counts};
use crate::plan::RunContext;
use crate::runner::{Dropped, PartTask, Stage, TaskContext, TaskResult};
use crate::stages::DedupFilter;
use corpus_store::{source_values, string_column};

/// The cutting pass.
pub struct Decontaminate;

/// Schema of `contamination/excisions/part-*.parquet`.
pub fn excisions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("benchmark", DataType::Utf8, false),
        Field::new("ngram", DataType::Utf8, false),
        Field::new("start", DataType::UInt64, false),
        Field::new("end", DataType::UInt64, false),
    ]))
}

/// What happens to one document.
enum Outcome {
    Keep,
    Pieces {
        pieces: Vec<Range<usize>>,
        hits: Vec<(u32, Range<usize>)>,
    },
    Drop {
        reason: &'static str,
        detail: String,
        hits: Vec<(u32, Range<usize>)>,
    },
}

impl Stage for Decontaminate {
    fn name(&self) -> &'static str {
        "decontaminate"
    }

    fn fingerprint(&self, run: &RunContext) -> serde_json::Value {
        fingerprint(run)
    }

    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult> {
        let run = ctx.run;
        let d = &run.config.decontamination;
        let set = &run.decontam.set;
        let mut task = PartTask::open(ctx, &DedupFilter)?;
        // N-grams common enough to be phrases or boilerplate are left alone.
        let cut: HashSet<u32> = merged_counts(run, &ctx.upstream(&DecontamCount)?)?
            .into_iter()
            .filter(|(_, c)| c.documents <= d.max_documents)
            .map(|(ngram, _)| ngram)
            .collect();

        let out = task.output(
            task.part_file(),
            "documents",
            crate::stages::quality_output_schema(),
        );
        let excisions = task.output(
            format!("contamination/excisions/{}.parquet", ctx.part_name()),
            "excisions",
            excisions_schema(),
        );
        let (mut pieces_out, mut docs_cut) = (0u64, 0u64);
        for batch in task.batches()? {
            let batch = batch?;
            let ids = string_column(&batch, "id")?;
            let texts = string_column(&batch, "text")?;
            let sources = source_values(&batch, "source")?;
            let outcomes: Vec<Outcome> = (0..batch.num_rows())
                .into_par_iter()
                .map(|i| {
                    if cut.is_empty() {
                        return Outcome::Keep;
                    }
                    let text = texts.value(i);
                    let hits: Vec<(u32, Range<usize>)> = set
                        .find(text)
                        .into_iter()
                        .filter(|h| cut.contains(&h.ngram))
                        .map(|h| (h.ngram, h.start..h.end))
                        .collect();
                    if hits.is_empty() {
                        return Outcome::Keep;
                    }
                    let ranges: Vec<Range<usize>> = hits.iter().map(|(_, r)| r.clone()).collect();
                    let e = excise(text, &ranges, d.context, d.min_piece, d.max_pieces);
                    if e.dropped {
                        Outcome::Drop {
                            reason: "too_many_pieces",
                            detail: format!(
                                "{} benchmark n-grams split it into {} pieces (more than {})",
                                hits.len(),
                                e.split_into,
                                d.max_pieces
                            ),
                            hits,
                        }
                    } else if e.pieces.is_empty() {
                        Outcome::Drop {
                            reason: "no_piece_left",
                            detail: format!(
                                "{} benchmark n-grams left no piece of {} characters",
                                hits.len(),
                                d.min_piece
                            ),
                            hits,
                        }
                    } else {
                        Outcome::Pieces {
                            pieces: e.pieces,
                            hits,
                        }
                    }
                })
                .collect();

            let mut take = Vec::with_capacity(batch.num_rows());
            let (mut new_ids, mut new_texts) = (StringBuilder::new(), StringBuilder::new());
            let (mut x_id, mut x_source, mut x_bench, mut x_ngram, mut x_start, mut x_end) = (
                StringBuilder::new(),
                StringBuilder::new(),
                StringBuilder::new(),
                StringBuilder::new(),
                UInt64Builder::new(),
                UInt64Builder::new(),
            );
            for (i, outcome) in outcomes.iter().enumerate() {
                let (id, text) = (ids.value(i), texts.value(i));
                let hits = match outcome {
                    Outcome::Keep => {
                        task.counts.pass();
                        take.push(i as u32);
                        new_ids.append_value(id);
                        new_texts.append_value(text);
                        continue;
                    }
                    Outcome::Pieces { pieces, hits } => {
                        task.counts.pass();
                        docs_cut += 1;
                        for (k, piece) in pieces.iter().enumerate() {
                            take.push(i as u32);
                            new_ids.append_value(format!("{id}#{k}"));
                            new_texts.append_value(text.get(piece.clone()).ok_or_else(|| {
                                anyhow!("piece {piece:?} of {id} is not on character boundaries")
                            })?);
                        }
                        hits
                    }
                    Outcome::Drop {
                        reason,
                        detail,
                        hits,
                    } => {
                        let why = Dropped {
                            reason,
                            rule: "decontaminate.pieces",
                            detail: detail.clone(),
                            text: Some(text.to_string()),
                            value: Some(hits.len() as f64),
                        };
                        task.drop_row(i, id, &sources[i], why);
                        hits
                    }
                };
                for (ngram, range) in hits {
                    let mut benchmarks: Vec<u32> =
                        set.examples_of(*ngram).iter().map(|&(b, _)| b).collect();
                    benchmarks.dedup();
                    for b in benchmarks {
                        x_id.append_value(id);
                        x_source.append_value(&sources[i]);
                        x_bench.append_value(set.name(b as usize));
                        x_ngram.append_value(set.ngram_text(*ngram));
                        x_start.append_value(range.start as u64);
                        x_end.append_value(range.end as u64);
                    }
                }
            }
            task.next_batch(batch.num_rows())?;
            pieces_out += take.len() as u64;
            let taken = take_record_batch(&batch, &UInt32Array::from(take))
                .context("selecting kept documents")?;
            let schema = taken.schema();
            let mut columns: Vec<ArrayRef> = taken.columns().to_vec();
            let (new_ids, new_texts): (ArrayRef, ArrayRef) =
                (Arc::new(new_ids.finish()), Arc::new(new_texts.finish()));
            for (field, column) in schema.fields().iter().zip(columns.iter_mut()) {
                match field.name().as_str() {
                    "id" => *column = new_ids.clone(),
                    "text" => *column = new_texts.clone(),
                    _ => {}
                }
            }
            let kept = RecordBatch::try_new(schema, columns).context("building pieces")?;
            task.write(out, &kept)?;
            let logged: Vec<ArrayRef> = vec![
                Arc::new(x_id.finish()),
                Arc::new(x_source.finish()),
                Arc::new(x_bench.finish()),
                Arc::new(x_ngram.finish()),
                Arc::new(x_start.finish()),
                Arc::new(x_end.finish()),
            ];
            task.write(
                excisions,
                &RecordBatch::try_new(excisions_schema(), logged)?,
            )?;
        }
        task.finish(json!({ "pieces": pieces_out, "documents_cut": docs_cut }))
    }
}

//! `quality`: the GPT-3 quality classifier with Pareto resampling, the Gopher/C4/FineWeb rule filters and
//! language identification, each on the sources the config names. A removed document becomes a reject row
//! naming the filter, the rule and the measured value (its text kept, so nothing is lost); a kept document
//! carries `quality_score` (null where the classifier does not apply) and `lang` (null where language
//! identification does not run). C4 rewrites the text it keeps (boilerplate lines and citation markers
//! removed); the rewritten text is what later stages see.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;
use serde_json::json;

use super::Ingest;
use crate::plan::{Decision, RunContext};
use crate::runner::{Dropped, PartTask, Stage, TaskContext, TaskResult};
use corpus_store::{document_schema, source_values, string_column};

/// The quality stage.
pub struct Quality;

/// The schema of the stage's output parts: the document schema plus `quality_score` and `lang`.
pub fn quality_output_schema() -> SchemaRef {
    output_schema(&document_schema())
}

/// The output schema: the input columns plus `quality_score` and `lang`.
fn output_schema(input: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = input
        .fields()
        .iter()
        .filter(|f| f.name() != "quality_score" && f.name() != "lang")
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("quality_score", DataType::Float64, true));
    fields.push(Field::new("lang", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

impl Stage for Quality {
    fn name(&self) -> &'static str {
        "quality"
    }

    fn fingerprint(&self, run: &RunContext) -> serde_json::Value {
        json!({
            "quality": run.config.quality,
            "files": run.quality.file_hashes,
            "seed": run.config.run.seed,
        })
    }

    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult> {
        let run = ctx.run;
        let mut task = PartTask::open(ctx, &Ingest)?;
        let seed = run.config.run.seed;
        let plan = &run.quality;

        // Ingest writes the document schema; the output adds the two quality columns.
        let schema = output_schema(&document_schema());
        let out = task.output(task.part_file(), "documents", schema.clone());
        for batch in task.batches()? {
            let batch = batch?;
            let ids = string_column(&batch, "id")?;
            let texts = string_column(&batch, "text")?;
            let sources = source_values(&batch, "source")?;
            let decisions: Vec<Decision> = (0..batch.num_rows())
                .into_par_iter()
                .map(|i| plan.decide(seed, &sources[i], ids.value(i), texts.value(i)))
                .collect();

            let mut keep = Vec::with_capacity(decisions.len());
            let mut new_text = Vec::with_capacity(decisions.len());
            let mut scores = Vec::with_capacity(decisions.len());
            let mut langs = Vec::with_capacity(decisions.len());
            for (i, decision) in decisions.iter().enumerate() {
                match decision {
                    Decision::Keep { text, score, lang } => {
                        task.counts.pass();
                        keep.push(true);
                        new_text.push(text.as_ref());
                        scores.push(*score);
                        langs.push(*lang);
                    }
                    Decision::Drop(r) => {
                        keep.push(false);
                        new_text.push("");
                        scores.push(None);
                        langs.push(None);
                        let rule = format!("quality.{}", r.filter);
                        let why = Dropped {
                            reason: r.reason,
                            rule: &rule,
                            detail: r.to_string(),
                            text: Some(texts.value(i).to_string()),
                            value: Some(r.value),
                        };
                        task.drop_row(i, ids.value(i), &sources[i], why);
                    }
                }
            }
            task.next_batch(batch.num_rows())?;

            let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
            for field in schema.fields() {
                let column: ArrayRef = match field.name().as_str() {
                    "text" => Arc::new(StringArray::from(std::mem::take(&mut new_text))),
                    "quality_score" => Arc::new(Float64Array::from(std::mem::take(&mut scores))),
                    "lang" => Arc::new(StringArray::from(std::mem::take(&mut langs))),
                    name => batch
                        .column_by_name(name)
                        .ok_or_else(|| anyhow!("column {name} vanished"))?
                        .clone(),
                };
                columns.push(column);
            }
            let full = RecordBatch::try_new(schema.clone(), columns)
                .context("building a quality batch")?;
            let kept = filter_record_batch(&full, &BooleanArray::from(keep))
                .context("selecting kept documents")?;
            task.write(out, &kept)?;
        }
        task.finish(json!({}))
    }
}

//! `decontam-count`: per part of the deduplicated corpus, the benchmark n-grams its documents contain,
//! each with the number of distinct documents and the earliest of them (`contamination/counts/`). Every
//! document passes through unchanged; `finish` writes the contamination reports.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;
use serde_json::json;

use super::{NgramCount, fingerprint, merged_counts};
use crate::plan::RunContext;
use crate::runner::{Counts, Marker, MarkerInput, Stage, TaskContext, TaskResult};
use crate::stages::DedupFilter;
use crate::stages::dedup::Offsets;
use corpus_store::{ParquetSink, read_parquet, source_values, string_column};

/// The counting pass.
pub struct DecontamCount;

fn counts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ngram", DataType::UInt32, false),
        Field::new("documents", DataType::UInt64, false),
        Field::new("first_position", DataType::UInt64, false),
        Field::new("first_doc", DataType::Utf8, false),
        Field::new("first_source", DataType::Utf8, false),
    ]))
}

/// Schema of `reports/contamination_examples.parquet`.
pub fn examples_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("benchmark", DataType::Utf8, false),
        Field::new("example", DataType::UInt64, false),
        Field::new("n", DataType::UInt32, false),
        Field::new("dirty", DataType::Boolean, false),
        Field::new("matches", DataType::UInt64, false),
        Field::new("first_doc", DataType::Utf8, true),
        Field::new("first_source", DataType::Utf8, true),
    ]))
}

/// Schema of `reports/contamination_summary.parquet`.
pub fn summary_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("benchmark", DataType::Utf8, false),
        Field::new("n", DataType::UInt32, false),
        Field::new("total", DataType::UInt64, false),
        Field::new("dirty", DataType::UInt64, false),
        Field::new("clean", DataType::UInt64, false),
        Field::new("clean_percent", DataType::Float64, false),
    ]))
}

impl Stage for DecontamCount {
    fn name(&self) -> &'static str {
        "decontam-count"
    }

    fn dir(&self) -> &'static str {
        "contamination"
    }

    fn fingerprint(&self, run: &RunContext) -> serde_json::Value {
        fingerprint(run)
    }

    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult> {
        let run = ctx.run;
        let set = &run.decontam.set;
        let (part, input) = ctx.upstream_documents(&DedupFilter)?;
        let start = Offsets::from_markers(&ctx.upstream(&DedupFilter)?)?.start(ctx.task);
        let mut found: BTreeMap<u32, NgramCount> = BTreeMap::new();
        let mut counts = Counts::default();
        let mut row = 0u64;
        for batch in read_parquet(&run.storage, &input)? {
            let batch = batch?;
            let ids = string_column(&batch, "id")?;
            let texts = string_column(&batch, "text")?;
            let sources = source_values(&batch, "source")?;
            let per_doc: Vec<Vec<u32>> = match run.decontam.is_empty() {
                true => Vec::new(),
                false => (0..batch.num_rows())
                    .into_par_iter()
                    .map(|i| {
                        let mut ngrams: Vec<u32> =
                            set.find(texts.value(i)).iter().map(|h| h.ngram).collect();
                        ngrams.sort_unstable();
                        ngrams.dedup();
                        ngrams
                    })
                    .collect(),
            };
            for (i, ngrams) in per_doc.into_iter().enumerate() {
                let position = start + row + i as u64;
                for ngram in ngrams {
                    found
                        .entry(ngram)
                        .and_modify(|c| c.documents += 1)
                        .or_insert_with(|| NgramCount {
                            documents: 1,
                            first_position: position,
                            first_doc: ids.value(i).to_string(),
                            first_source: sources[i].clone(),
                        });
                }
            }
            for _ in 0..batch.num_rows() {
                counts.pass();
            }
            row += batch.num_rows() as u64;
            ctx.progress(batch.num_rows() as u64);
        }
        let rel = ctx.stage_file(&format!("counts/{}.parquet", ctx.part_name()));
        let mut sink = ParquetSink::create(&run.storage, &ctx.temp_output(&rel), counts_schema())?;
        if !found.is_empty() {
            let columns: Vec<ArrayRef> = vec![
                Arc::new(found.keys().copied().collect::<UInt32Array>()),
                Arc::new(found.values().map(|c| c.documents).collect::<UInt64Array>()),
                Arc::new(
                    found
                        .values()
                        .map(|c| c.first_position)
                        .collect::<UInt64Array>(),
                ),
                Arc::new(StringArray::from_iter_values(
                    found.values().map(|c| &c.first_doc),
                )),
                Arc::new(StringArray::from_iter_values(
                    found.values().map(|c| &c.first_source),
                )),
            ];
            sink.write(&RecordBatch::try_new(counts_schema(), columns)?)?;
        }
        let rows = sink.rows();
        ctx.add_output(&rel, "counts", sink.finish()?, rows)?;
        counts.bytes_in = part.bytes;
        Ok(TaskResult {
            inputs: vec![MarkerInput {
                path: input.url().to_string(),
                bytes: part.bytes,
            }],
            counts,
            extra: json!({ "ngrams_found": found.len() }),
        })
    }

    fn finish(&self, run: &RunContext, markers: &[Marker]) -> Result<()> {
        let set = &run.decontam.set;
        let merged = merged_counts(run, markers)?;
        // Per example: matching n-grams and the earliest matching document.
        let mut matches: HashMap<(u32, u32), (u64, u64, String, String)> = HashMap::new();
        for (ngram, count) in &merged {
            for &(b, e) in set.examples_of(*ngram) {
                let entry = matches
                    .entry((b, e))
                    .or_insert_with(|| (0, u64::MAX, String::new(), String::new()));
                entry.0 += 1;
                if count.first_position < entry.1 {
                    entry.1 = count.first_position;
                    entry.2 = count.first_doc.clone();
                    entry.3 = count.first_source.clone();
                }
            }
        }
        let mut examples = ParquetSink::create(
            &run.storage,
            &run.work.child("reports/contamination_examples.parquet"),
            examples_schema(),
        )?;
        let (mut s_name, mut s_n, mut s_total, mut s_dirty) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for b in 0..set.benchmarks() {
            let total = set.examples(b);
            let n = set.n(b) as u32;
            let rows: Vec<Option<&(u64, u64, String, String)>> = (0..total)
                .map(|e| matches.get(&(b as u32, e as u32)))
                .collect();
            let dirty = rows.iter().filter(|r| r.is_some()).count() as u64;
            if total > 0 {
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                        set.name(b),
                        total,
                    ))),
                    Arc::new((0..total as u64).collect::<UInt64Array>()),
                    Arc::new(std::iter::repeat_n(n, total).collect::<UInt32Array>()),
                    Arc::new(
                        rows.iter()
                            .map(|r| Some(r.is_some()))
                            .collect::<BooleanArray>(),
                    ),
                    Arc::new(
                        rows.iter()
                            .map(|r| r.map_or(0, |m| m.0))
                            .collect::<UInt64Array>(),
                    ),
                    Arc::new(
                        rows.iter()
                            .map(|r| r.map(|m| m.2.as_str()))
                            .collect::<StringArray>(),
                    ),
                    Arc::new(
                        rows.iter()
                            .map(|r| r.map(|m| m.3.as_str()))
                            .collect::<StringArray>(),
                    ),
                ];
                examples.write(&RecordBatch::try_new(examples_schema(), columns)?)?;
            }
            s_name.push(set.name(b).to_string());
            s_n.push(n);
            s_total.push(total as u64);
            s_dirty.push(dirty);
        }
        examples.finish()?;
        let clean: Vec<u64> = s_total.iter().zip(&s_dirty).map(|(t, d)| t - d).collect();
        let percent: Vec<f64> = s_total
            .iter()
            .zip(&clean)
            .map(|(&t, &c)| {
                if t == 0 {
                    100.0
                } else {
                    100.0 * c as f64 / t as f64
                }
            })
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(s_name)),
            Arc::new(UInt32Array::from(s_n)),
            Arc::new(UInt64Array::from(s_total)),
            Arc::new(UInt64Array::from(s_dirty)),
            Arc::new(UInt64Array::from(clean)),
            Arc::new(Float64Array::from(percent)),
        ];
        let mut summary = ParquetSink::create(
            &run.storage,
            &run.work.child("reports/contamination_summary.parquet"),
            summary_schema(),
        )?;
        summary.write(&RecordBatch::try_new(summary_schema(), columns)?)?;
        summary.finish()?;
        Ok(())
    }
}

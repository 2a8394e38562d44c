//! `tokenize`: encodes the documents of one upstream part with the configured BPE (tiktoken's ids), assigns each
//! document to the train or val split by a seeded hash of its id, and writes `id, source, split, tokens`.
//! Token totals per split go into the marker, so the shard stage can lay out shards without reading data.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{
    ArrayRef, ListBuilder, RecordBatch, StringArray, StringDictionaryBuilder, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use corpus_tokenizer::Tokenizer;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Decontaminate;
use crate::plan::RunContext;
use crate::runner::{Dropped, PartTask, Stage, TaskContext, TaskResult};
use corpus_store::{source_values, string_column};

/// The tokenize stage.
pub struct Tokenize;

/// The two splits, in the order shards are laid out.
pub const SPLITS: [&str; 2] = ["train", "val"];

/// Documents and tokens (each document's `<|endoftext|>` included) of one split of one part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitTotals {
    /// Documents.
    pub documents: u64,
    /// Tokens, one separator per document included.
    pub tokens: u64,
}

/// The marker `extra` of a tokenize task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizeExtra {
    /// Train split totals.
    pub train: SplitTotals,
    /// Val split totals.
    pub val: SplitTotals,
    /// Train tokens (separators included) per source: what the mix stage can draw from.
    #[serde(default)]
    pub train_tokens_per_source: BTreeMap<String, u64>,
}

/// Schema of the tokenized parts.
pub fn tokens_schema() -> SchemaRef {
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("source", dict.clone(), false),
        Field::new("split", dict, false),
        Field::new(
            "tokens",
            DataType::List(Arc::new(Field::new("item", DataType::UInt32, false))),
            false,
        ),
    ]))
}

/// True when the document goes to the validation split: a seeded hash of its id, so the decision is the
/// same on every machine, for every task count, and in every later stage.
pub fn is_val(seed: u64, id: &str, val_fraction: f64) -> bool {
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(id.as_bytes(), seed ^ 0x7661_6c5f_7370_6c74);
    ((h >> 11) as f64 / (1u64 << 53) as f64) < val_fraction
}

impl Stage for Tokenize {
    fn name(&self) -> &'static str {
        "tokenize"
    }

    fn fingerprint(&self, run: &RunContext) -> serde_json::Value {
        json!({
            "encoding": run.config.tokenizer.encoding,
            "val_fraction": run.config.shards.val_fraction,
            "seed": run.config.run.seed,
        })
    }

    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult> {
        let run = ctx.run;
        let mut task = PartTask::open(ctx, &Decontaminate)?;
        let tokenizer = Tokenizer::new(run.config.encoding()?);
        let (seed, val_fraction) = (run.config.run.seed, run.config.shards.val_fraction);

        let out = task.output(task.part_file(), "tokens", tokens_schema());
        let mut extra = TokenizeExtra::default();
        for batch in task.batches()? {
            let batch = batch?;
            let ids = string_column(&batch, "id")?;
            let texts = string_column(&batch, "text")?;
            let sources = source_values(&batch, "source")?;
            let encoded: Vec<_> = (0..batch.num_rows())
                .into_par_iter()
                .map(|i| tokenizer.encode(texts.value(i)))
                .collect();

            let mut id_col = Vec::with_capacity(batch.num_rows());
            let mut source_col = StringDictionaryBuilder::<Int32Type>::new();
            let mut split_col = StringDictionaryBuilder::<Int32Type>::new();
            let mut token_col = ListBuilder::new(UInt32Builder::new()).with_field(Field::new(
                "item",
                DataType::UInt32,
                false,
            ));
            for (i, result) in encoded.into_iter().enumerate() {
                let id = ids.value(i);
                match result {
                    Ok(tokens) if !tokens.is_empty() => {
                        task.counts.pass();
                        let val = is_val(seed, id, val_fraction);
                        let totals = if val {
                            &mut extra.val
                        } else {
                            &mut extra.train
                        };
                        totals.documents += 1;
                        totals.tokens += 1 + tokens.len() as u64;
                        if !val {
                            *extra
                                .train_tokens_per_source
                                .entry(sources[i].clone())
                                .or_default() += 1 + tokens.len() as u64;
                        }
                        id_col.push(id);
                        source_col.append_value(&sources[i]);
                        split_col.append_value(if val { "val" } else { "train" });
                        token_col.values().append_slice(&tokens);
                        token_col.append(true);
                    }
                    other => {
                        let (reason, detail) = match other {
                            Err(e) => ("tokenizer_failed", e.to_string()),
                            Ok(_) => ("no_tokens", "the text encodes to no tokens".to_string()),
                        };
                        let why = Dropped {
                            reason,
                            rule: "tokenize",
                            detail,
                            text: None,
                            value: None,
                        };
                        task.drop_row(i, id, &sources[i], why);
                    }
                }
            }
            task.next_batch(batch.num_rows())?;
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(id_col)),
                Arc::new(source_col.finish()),
                Arc::new(split_col.finish()),
                Arc::new(token_col.finish()),
            ];
            let tokens =
                RecordBatch::try_new(tokens_schema(), columns).context("building a token batch")?;
            task.write(out, &tokens)?;
        }
        task.finish(serde_json::to_value(&extra)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn val_split_is_seeded_and_close_to_the_fraction() {
        let ids: Vec<String> = (0..20_000).map(|i| format!("web/f/{i}")).collect();
        let val = ids.iter().filter(|id| is_val(42, id, 0.05)).count();
        assert!((800..1200).contains(&val), "{val}");
        let other_seed = ids
            .iter()
            .filter(|id| is_val(43, id, 0.05) != is_val(42, id, 0.05))
            .count();
        assert!(other_seed > 0);
        assert!(ids.iter().all(|id| !is_val(42, id, 0.0)));
    }
}

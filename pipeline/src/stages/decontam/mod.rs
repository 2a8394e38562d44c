//! Benchmark decontamination (GPT-3 App. C) as two stages after dedup:
//!
//! 1. `decontam-count`: per part, how many distinct documents contain each benchmark n-gram, and the first
//!    of them; its `finish` merges the parts into `reports/contamination_examples.parquet` (one row per
//!    benchmark example: dirty or clean, measured on the deduplicated corpus before anything is cut) and
//!    `reports/contamination_summary.parquet` (per benchmark, like the paper's Table C.1);
//! 2. `decontaminate`: cuts every n-gram found in at most `max_documents` documents out of the training
//!    text, with `context` characters on each side; the rest splits into pieces (`{id}#0`, `{id}#1`, ...),
//!    short pieces go, and a document cut into more than `max_pieces` pieces is dropped whole. Every cut
//!    is logged in `contamination/excisions/`.
//!
//! The benchmarks are loaded once per process, when the run is planned ([`crate::plan::DecontamPlan`]),
//! so a missing file or field is a config error before any work starts.

mod count;
mod cut;

pub use count::DecontamCount;
pub use cut::Decontaminate;

use std::collections::HashMap;

use anyhow::{Context, Result};
use arrow::array::{Array, StringArray, UInt32Array, UInt64Array};
use serde_json::json;

use crate::plan::RunContext;
use crate::runner::Marker;
use corpus_store::read_parquet;

/// The fingerprint both stages share: the settings, the benchmark files' hashes and each benchmark's N.
fn fingerprint(run: &RunContext) -> serde_json::Value {
    let set = &run.decontam.set;
    let ns: Vec<(String, usize)> = (0..set.benchmarks())
        .map(|b| (set.name(b).to_string(), set.n(b)))
        .collect();
    json!({
        "decontamination": run.config.decontamination,
        "files": run.decontam.files,
        "n": ns,
    })
}

/// What the count stage learnt about one n-gram, merged over parts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NgramCount {
    /// Distinct documents containing it.
    documents: u64,
    /// Corpus position, id and source of the earliest of them.
    first_position: u64,
    first_doc: String,
    first_source: String,
}

/// Reads and merges every part's counts (`contamination/counts/`), by n-gram id.
fn merged_counts(run: &RunContext, markers: &[Marker]) -> Result<HashMap<u32, NgramCount>> {
    let mut merged: HashMap<u32, NgramCount> = HashMap::new();
    for output in markers
        .iter()
        .flat_map(|m| &m.outputs)
        .filter(|o| o.kind == "counts")
    {
        let loc = run.work.child(&output.path);
        for batch in read_parquet(&run.storage, &loc)? {
            let batch = batch?;
            let column = |name: &str| {
                batch
                    .column_by_name(name)
                    .with_context(|| format!("{loc} has no column {name}"))
            };
            let ngrams = column("ngram")?
                .as_any()
                .downcast_ref::<UInt32Array>()
                .context("ngram column type")?;
            let docs = column("documents")?
                .as_any()
                .downcast_ref::<UInt64Array>()
                .context("documents column type")?;
            let positions = column("first_position")?
                .as_any()
                .downcast_ref::<UInt64Array>()
                .context("first_position column type")?;
            let first_docs = column("first_doc")?
                .as_any()
                .downcast_ref::<StringArray>()
                .context("first_doc column type")?;
            let first_sources = column("first_source")?
                .as_any()
                .downcast_ref::<StringArray>()
                .context("first_source column type")?;
            for i in 0..batch.num_rows() {
                let count = NgramCount {
                    documents: docs.value(i),
                    first_position: positions.value(i),
                    first_doc: first_docs.value(i).to_string(),
                    first_source: first_sources.value(i).to_string(),
                };
                merged
                    .entry(ngrams.value(i))
                    .and_modify(|m| {
                        m.documents += count.documents;
                        if count.first_position < m.first_position {
                            m.first_position = count.first_position;
                            m.first_doc = count.first_doc.clone();
                            m.first_source = count.first_source.clone();
                        }
                    })
                    .or_insert(count);
            }
            if ngrams.null_count() > 0 {
                anyhow::bail!("{loc}: null n-gram ids");
            }
        }
    }
    Ok(merged)
}

//! The shard manifest, `shards/manifest.parquet`: one row per shard (file, split, index, tokens,
//! documents, tokens per source, payload checksum, token width), written by the last task of the
//! `shard` stage and read by `corpus inspect shards` and `corpus train`.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use corpus_store::{
    Location, ParquetSink, Storage, count_map_array, count_map_field, count_map_values,
    read_parquet, string_column, u64_column,
};
use serde::{Deserialize, Serialize};

/// The manifest's path below the work directory.
pub const MANIFEST: &str = "shards/manifest.parquet";

/// One shard as recorded in markers and the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// File name inside `shards/`.
    pub file: String,
    /// `train` or `val`.
    pub split: String,
    /// Index within the split.
    pub shard: u32,
    /// Tokens in the payload.
    pub tokens: u64,
    /// Documents that start in this shard.
    pub documents: u64,
    /// Tokens per source (each document's separator counted with its source).
    pub tokens_per_source: BTreeMap<String, u64>,
    /// xxh3-64 of the payload.
    pub payload_xxh3: u64,
    /// `uint16` or `uint32`.
    pub dtype: String,
}

/// Schema of `shards/manifest.parquet`.
pub fn manifest_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("shard", DataType::UInt32, false),
        Field::new("tokens", DataType::UInt64, false),
        Field::new("documents", DataType::UInt64, false),
        count_map_field("tokens_per_source", "source", "tokens"),
        Field::new("payload_xxh3", DataType::UInt64, false),
        Field::new("dtype", DataType::Utf8, false),
    ]))
}

/// Writes the manifest of `entries` to `loc`.
pub fn write_manifest(
    storage: &Arc<Storage>,
    loc: &Location,
    entries: &[ShardEntry],
) -> Result<()> {
    let strings = |f: &dyn Fn(&ShardEntry) -> &str| -> ArrayRef {
        Arc::new(entries.iter().map(|e| Some(f(e))).collect::<StringArray>())
    };
    let u64s = |f: &dyn Fn(&ShardEntry) -> u64| -> ArrayRef {
        Arc::new(entries.iter().map(f).collect::<UInt64Array>())
    };
    let columns: Vec<ArrayRef> = vec![
        strings(&|e| &e.file),
        strings(&|e| &e.split),
        Arc::new(entries.iter().map(|e| e.shard).collect::<UInt32Array>()),
        u64s(&|e| e.tokens),
        u64s(&|e| e.documents),
        count_map_array(
            "source",
            "tokens",
            entries.iter().map(|e| &e.tokens_per_source),
        )?,
        u64s(&|e| e.payload_xxh3),
        strings(&|e| &e.dtype),
    ];
    let batch =
        RecordBatch::try_new(manifest_schema(), columns).context("building the manifest")?;
    let mut sink = ParquetSink::create(storage, loc, manifest_schema())?;
    sink.write(&batch)?;
    sink.finish()?;
    tracing::info!(
        "wrote {} ({} shards, checksums {})",
        loc,
        entries.len(),
        entries
            .first()
            .map(|e| format!("{:016x}", e.payload_xxh3))
            .unwrap_or_default()
    );
    Ok(())
}

/// Reads `shards/manifest.parquet` back.
pub fn read_manifest(storage: &Arc<Storage>, loc: &Location) -> Result<Vec<ShardEntry>> {
    let mut out = Vec::new();
    for batch in read_parquet(storage, loc)? {
        let batch = batch.with_context(|| format!("reading manifest {loc}"))?;
        let s = |n: &str| string_column(&batch, n);
        let u = |n: &str| u64_column(&batch, n);
        let (file, split, dtype) = (s("file")?, s("split")?, s("dtype")?);
        let (tokens, documents, xxh) = (u("tokens")?, u("documents")?, u("payload_xxh3")?);
        let shard = batch
            .column_by_name("shard")
            .and_then(|c| c.as_any().downcast_ref::<UInt32Array>())
            .context("manifest column shard")?;
        for i in 0..batch.num_rows() {
            out.push(ShardEntry {
                file: file.value(i).to_string(),
                split: split.value(i).to_string(),
                shard: shard.value(i),
                tokens: tokens.value(i),
                documents: documents.value(i),
                tokens_per_source: count_map_values(&batch, "tokens_per_source", i)?,
                payload_xxh3: xxh.value(i),
                dtype: dtype.value(i).to_string(),
            });
        }
    }
    Ok(out)
}

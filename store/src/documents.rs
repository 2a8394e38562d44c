//! Document batches (docs/ARCHITECTURE.md §3): the Arrow schema every stage reads and writes, the id
//! format, a builder that sizes batches by bytes, and reject rows. [`crate::table`] writes and reads them.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, StringBuilder, StringDictionaryBuilder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};

/// Uncompressed bytes after which a Parquet row group is closed (docs/ARCHITECTURE.md §3: 64-128 MiB).
pub const ROW_GROUP_BYTES: usize = 96 << 20;
/// Text bytes after which an in-memory batch is handed on.
pub const BATCH_BYTES: usize = 16 << 20;

fn source_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The document schema: `id, source, url, title, text, meta`.
pub fn document_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("source", source_type(), false),
        Field::new("url", DataType::Utf8, true),
        Field::new("title", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, false),
        Field::new("meta", DataType::Utf8, true),
    ]))
}

/// The reject schema: what was dropped, where it came from, and why.
pub fn reject_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("source", source_type(), false),
        Field::new("input", DataType::Utf8, false),
        Field::new("offset", DataType::UInt64, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]))
}

/// A document's id: `{source}/{input-stem}/{record-index}`, stable across runs and task counts (the
/// record index counts every record of the input file, whatever became of it).
pub fn document_id(source: &str, stem: &str, index: impl std::fmt::Display) -> String {
    format!("{source}/{stem}/{index}")
}

/// One document as a reader produces it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `{source}/{input-stem}/{record-index}`.
    pub id: String,
    /// Source name.
    pub source: String,
    /// Original URL, when known.
    pub url: Option<String>,
    /// Title, when known.
    pub title: Option<String>,
    /// UTF-8 text, NFC, `\n` line ends.
    pub text: String,
    /// JSON object of reader-specific fields.
    pub meta: Option<String>,
}

/// A record that could not become a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// The id the document would have had.
    pub id: String,
    /// Source name.
    pub source: String,
    /// Input file URL.
    pub input: String,
    /// Byte offset of the record in the (decompressed) input.
    pub offset: u64,
    /// Short machine-readable reason (`malformed_json`, `empty_text`, ...).
    pub reason: String,
    /// The stage rule that fired (`ingest.jsonl`, ...).
    pub rule: String,
    /// Human-readable detail.
    pub detail: String,
    /// The raw record (truncated), when it is worth keeping.
    pub text: Option<String>,
    /// The measured value that crossed the rule's threshold (quality filters).
    pub value: Option<f64>,
}

/// Builds document batches, closing one when its text reaches [`BATCH_BYTES`].
pub struct DocBatchBuilder {
    id: StringBuilder,
    source: StringDictionaryBuilder<Int32Type>,
    url: StringBuilder,
    title: StringBuilder,
    text: StringBuilder,
    meta: StringBuilder,
    rows: usize,
    bytes: usize,
}

impl Default for DocBatchBuilder {
    fn default() -> Self {
        DocBatchBuilder {
            id: StringBuilder::new(),
            source: StringDictionaryBuilder::new(),
            url: StringBuilder::new(),
            title: StringBuilder::new(),
            text: StringBuilder::new(),
            meta: StringBuilder::new(),
            rows: 0,
            bytes: 0,
        }
    }
}

impl DocBatchBuilder {
    /// Appends one document.
    pub fn push(&mut self, doc: &Document) {
        self.id.append_value(&doc.id);
        self.source.append_value(&doc.source);
        self.url.append_option(doc.url.as_deref());
        self.title.append_option(doc.title.as_deref());
        self.text.append_value(&doc.text);
        self.meta.append_option(doc.meta.as_deref());
        self.rows += 1;
        self.bytes += doc.text.len() + doc.id.len();
    }

    /// True when the batch is big enough to hand on.
    pub fn is_full(&self) -> bool {
        self.bytes >= BATCH_BYTES
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row was pushed since the last batch.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Takes the rows pushed so far as a batch.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.url.finish()),
            Arc::new(self.title.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.meta.finish()),
        ];
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(document_schema(), columns).context("building a document batch")
    }
}

/// Builds the reject batch of one task.
#[derive(Default)]
pub struct RejectBatchBuilder {
    rows: Vec<Reject>,
}

impl RejectBatchBuilder {
    /// Appends one reject.
    pub fn push(&mut self, reject: Reject) {
        self.rows.push(reject);
    }

    /// Rejects so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when nothing was rejected.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Takes the rejects as one batch.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let rows = std::mem::take(&mut self.rows);
        let strings = |f: &dyn Fn(&Reject) -> &str| -> ArrayRef {
            Arc::new(rows.iter().map(|r| Some(f(r))).collect::<StringArray>())
        };
        let mut source = StringDictionaryBuilder::<Int32Type>::new();
        let mut offset = UInt64Builder::new();
        for r in &rows {
            source.append_value(&r.source);
            offset.append_value(r.offset);
        }
        let columns: Vec<ArrayRef> = vec![
            strings(&|r| &r.id),
            Arc::new(source.finish()),
            strings(&|r| &r.input),
            Arc::new(offset.finish()),
            strings(&|r| &r.reason),
            strings(&|r| &r.rule),
            strings(&|r| &r.detail),
            Arc::new(
                rows.iter()
                    .map(|r| r.text.as_deref())
                    .collect::<StringArray>(),
            ),
            Arc::new(rows.iter().map(|r| r.value).collect::<Float64Array>()),
        ];
        RecordBatch::try_new(reject_schema(), columns).context("building a reject batch")
    }
}

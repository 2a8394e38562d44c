//! Parquet reader: any Parquet file with a text column (Hugging Face datasets, RedPajama, FineWeb, our own
//! stage outputs), streamed row group by row group. `text_field`, `id_field`, `url_field` and `title_field`
//! name top-level columns; Utf8, LargeUtf8 and Utf8View columns are accepted. Each row is one record.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::DataType;

use crate::{InputFile, Origin, Record, SourceConfig, normalize_text};
use corpus_store::Storage;
use corpus_store::{Document, ParquetBatches, read_foreign_parquet};

/// Streams the rows of one Parquet file as records.
pub struct ParquetReader {
    batches: Option<ParquetBatches>,
    columns: Columns,
    origin: Origin,
    max_doc_bytes: u64,
    pending: std::vec::IntoIter<Record>,
    row: u64,
}

#[derive(Clone)]
struct Columns {
    text: String,
    id: Option<String>,
    url: Option<String>,
    title: Option<String>,
}

impl ParquetReader {
    /// Opens the file's footer; the rows are read lazily, one batch at a time.
    pub fn open(storage: &Arc<Storage>, source: &SourceConfig, input: &InputFile) -> Self {
        let mut reader = ParquetReader {
            batches: None,
            columns: Columns {
                text: source.text_field.clone(),
                id: source.id_field.clone(),
                url: source.url_field.clone(),
                title: source.title_field.clone(),
            },
            origin: Origin::new(source, input, "ingest.parquet"),
            max_doc_bytes: source.max_doc_bytes,
            pending: Vec::new().into_iter(),
            row: 0,
        };
        // The parquet crate may still panic on some corrupt files; that is data, not a crash.
        let opened = catch_unwind(AssertUnwindSafe(|| {
            read_foreign_parquet(storage, &input.location)
        }))
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the Parquet decoder panicked on this file")));
        match opened {
            Ok(b) => reader.batches = Some(b),
            Err(e) => {
                reader.pending =
                    vec![reader.reject(0, "malformed_parquet", format!("{e:#}"))].into_iter()
            }
        }
        reader
    }

    fn reject(&self, row: u64, reason: &str, detail: String) -> Record {
        self.origin.reject(row, row, reason, detail, None)
    }

    /// Turns one batch into records; a batch without a usable text column is one reject per row.
    fn records(&mut self, batch: &RecordBatch) -> Vec<Record> {
        let first = self.row;
        self.row += batch.num_rows() as u64;
        let text = match string_values(batch, &self.columns.text) {
            Ok(t) => t,
            Err(detail) => {
                return (first..self.row)
                    .map(|r| self.reject(r, "missing_field", detail.clone()))
                    .collect();
            }
        };
        let optional =
            |name: &Option<String>| name.as_deref().and_then(|n| string_values(batch, n).ok());
        let (ids, urls, titles) = (
            optional(&self.columns.id),
            optional(&self.columns.url),
            optional(&self.columns.title),
        );
        let value = |col: &Option<StringArray>, i: usize| {
            col.as_ref()
                .filter(|c| c.is_valid(i))
                .map(|c| c.value(i).to_string())
                .filter(|s| !s.is_empty())
        };
        (0..batch.num_rows())
            .map(|i| {
                let row = first + i as u64;
                if text.is_null(i) || text.value(i).trim().is_empty() {
                    return self.reject(
                        row,
                        "empty_text",
                        "text is null, empty or whitespace".into(),
                    );
                }
                let t = text.value(i);
                if t.len() as u64 > self.max_doc_bytes {
                    let detail = format!(
                        "text of {} bytes is over max_doc_bytes = {}",
                        t.len(),
                        self.max_doc_bytes
                    );
                    return self.reject(row, "too_large", detail);
                }
                Record::Doc(Document {
                    id: self.origin.id(row),
                    source: self.origin.source.clone(),
                    url: value(&urls, i),
                    title: value(&titles, i),
                    text: normalize_text(t),
                    meta: value(&ids, i)
                        .map(|orig| serde_json::json!({ "orig_id": orig }).to_string()),
                })
            })
            .collect()
    }
}

/// A string-typed column as Utf8; an error message when it is missing or not text.
fn string_values(batch: &RecordBatch, name: &str) -> Result<StringArray, String> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column '{name}'"))?;
    match col.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {}
        other => return Err(format!("column '{name}' is {other}, not text")),
    }
    let cast =
        arrow::compute::cast(col, &DataType::Utf8).map_err(|e| format!("column '{name}': {e}"))?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| format!("column '{name}' is not text"))
}

impl Iterator for ParquetReader {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(r) = self.pending.next() {
                return Some(r);
            }
            let batches = self.batches.as_mut()?;
            let next = catch_unwind(AssertUnwindSafe(|| batches.next())).unwrap_or_else(|_| {
                Some(Err(anyhow::anyhow!(
                    "the Parquet decoder panicked on this row group"
                )))
            });
            match next {
                None => {
                    self.batches = None;
                    return None;
                }
                Some(Ok(batch)) => self.pending = self.records(&batch).into_iter(),
                Some(Err(e)) => {
                    // A corrupt row group ends the file: its position cannot be trusted to resynchronise.
                    self.batches = None;
                    return Some(self.reject(self.row, "malformed_parquet", format!("{e:#}")));
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, LargeStringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;
    use corpus_store::ParquetSink;

    fn source(text_field: &str) -> SourceConfig {
        SourceConfig {
            name: "hf".into(),
            format: "parquet".into(),
            paths: vec![],
            weight: 1.0,
            text_field: text_field.into(),
            id_field: Some("id".into()),
            url_field: Some("url".into()),
            title_field: None,
            max_doc_bytes: 100,
        }
    }

    fn summary(records: Vec<Record>) -> Vec<String> {
        records
            .into_iter()
            .map(|r| match r {
                Record::Doc(d) => format!("doc {} {:?} {:?} {:?}", d.id, d.text, d.url, d.meta),
                Record::Reject(j) => format!("reject {} {}", j.id, j.reason),
                Record::Skip(k) => format!("skip {k}"),
            })
            .collect()
    }

    #[test]
    fn reads_hugging_face_style_rows_and_rejects_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new().unwrap();
        let loc = storage
            .resolve(dir.path().to_str().unwrap())
            .unwrap()
            .child("train-00000-of-00001.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("content", arrow::datatypes::DataType::LargeUtf8, true),
            Field::new("id", arrow::datatypes::DataType::Utf8, true),
            Field::new("url", arrow::datatypes::DataType::Utf8, true),
            Field::new("n", arrow::datatypes::DataType::Int64, false),
        ]));
        let long = "x".repeat(200);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(LargeStringArray::from(vec![
                Some("first\r\ndoc"),
                None,
                Some(" "),
                Some(long.as_str()),
                Some("last"),
            ])),
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some("b"),
                Some("c"),
                Some("d"),
                None,
            ])),
            Arc::new(StringArray::from(vec![
                Some("http://a"),
                None,
                None,
                None,
                Some(""),
            ])),
            Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
        ];
        let mut sink = ParquetSink::create(&storage, &loc, schema.clone()).unwrap();
        sink.write(&RecordBatch::try_new(schema, columns).unwrap())
            .unwrap();
        sink.finish().unwrap();
        let input = InputFile {
            source_index: 0,
            location: loc,
            size: 0,
            stem: "train-00000-of-00001".into(),
            title: None,
        };

        let got = summary(ParquetReader::open(&storage, &source("content"), &input).collect());
        assert_eq!(
            got,
            vec![
                "doc hf/train-00000-of-00001/0 \"first\\ndoc\" Some(\"http://a\") Some(\"{\\\"orig_id\\\":\\\"a\\\"}\")",
                "reject hf/train-00000-of-00001/1 empty_text",
                "reject hf/train-00000-of-00001/2 empty_text",
                "reject hf/train-00000-of-00001/3 too_large",
                "doc hf/train-00000-of-00001/4 \"last\" None None",
            ]
        );
        let wrong = summary(ParquetReader::open(&storage, &source("n"), &input).collect());
        assert_eq!(wrong.len(), 5);
        assert!(
            wrong.iter().all(|r| r.ends_with("missing_field")),
            "{wrong:?}"
        );
    }

    #[test]
    fn a_file_that_is_not_parquet_is_one_reject() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new().unwrap();
        let loc = storage
            .resolve(dir.path().to_str().unwrap())
            .unwrap()
            .child("bad.parquet");
        storage
            .put(
                &loc,
                bytes::Bytes::from_static(b"PAR1 this is not a parquet file PAR1"),
            )
            .unwrap();
        let input = InputFile {
            source_index: 0,
            location: loc,
            size: 0,
            stem: "bad".into(),
            title: None,
        };
        let got = summary(ParquetReader::open(&storage, &source("text"), &input).collect());
        assert_eq!(got, vec!["reject hf/bad/0 malformed_parquet"]);
    }
}

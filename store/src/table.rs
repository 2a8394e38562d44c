//! Parquet files on storage: a zstd writer that closes row groups by size, a reader that streams record
//! batches (ranged reads on S3), and the typed column accessors and count maps the reports share.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{
    Array, ArrayRef, Float64Array, ListArray, ListBuilder, RecordBatch, StringArray, StringBuilder,
    StructArray, StructBuilder, UInt64Array, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Fields, SchemaRef};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{
    AsyncFileReader, ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;

use crate::documents::ROW_GROUP_BYTES;
use crate::storage::{Location, ObjectWriter, Storage, Written};

/// A Parquet file being written to storage, zstd-compressed, row groups closed by size.
pub struct ParquetSink {
    writer: ArrowWriter<ObjectWriter>,
    rows: u64,
    group_bytes: usize,
    url: String,
}

impl ParquetSink {
    /// Starts a file with the given schema.
    pub fn create(storage: &Arc<Storage>, loc: &Location, schema: SchemaRef) -> Result<Self> {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_max_row_group_row_count(Some(1 << 20))
            .build();
        let writer = ArrowWriter::try_new(storage.writer(loc), schema, Some(props))
            .with_context(|| format!("cannot start Parquet file {loc}"))?;
        Ok(ParquetSink {
            writer,
            rows: 0,
            group_bytes: 0,
            url: loc.url().to_string(),
        })
    }

    /// Appends a batch, closing the row group once it holds [`ROW_GROUP_BYTES`].
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .with_context(|| format!("cannot write to {}", self.url))?;
        self.rows += batch.num_rows() as u64;
        self.group_bytes += batch.get_array_memory_size();
        if self.group_bytes >= ROW_GROUP_BYTES {
            self.writer
                .flush()
                .with_context(|| format!("cannot write to {}", self.url))?;
            self.group_bytes = 0;
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the footer and completes the upload.
    pub fn finish(self) -> Result<Written> {
        let url = self.url;
        let out = self
            .writer
            .into_inner()
            .with_context(|| format!("cannot finish {url}"))?;
        out.finish()
    }
}

/// Async access to one Parquet object for the Parquet stream reader: ranged GETs, footer first.
struct ObjectFile {
    location: Location,
    size: u64,
}

impl AsyncFileReader for ObjectFile {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        let (store, path) = (
            self.location.store().clone(),
            self.location.object_path().clone(),
        );
        async move {
            use object_store::ObjectStoreExt;
            store
                .get_range(&path, range)
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            Ok(Arc::new(
                ParquetMetaDataReader::new()
                    .load_and_finish(self, size)
                    .await?,
            ))
        }
        .boxed()
    }
}

/// Streams the record batches of a Parquet object, row group by row group.
pub fn read_parquet(storage: &Arc<Storage>, loc: &Location) -> Result<ParquetBatches> {
    open_parquet(storage, loc, ArrowReaderOptions::new())
}

/// Like [`read_parquet`], for files written by others: the embedded Arrow schema (an IPC flatbuffer that
/// arrow-ipc decodes with panics on some corrupt inputs) is ignored and types come from the Parquet schema.
pub fn read_foreign_parquet(storage: &Arc<Storage>, loc: &Location) -> Result<ParquetBatches> {
    open_parquet(
        storage,
        loc,
        ArrowReaderOptions::new().with_skip_arrow_metadata(true),
    )
}

fn open_parquet(
    storage: &Arc<Storage>,
    loc: &Location,
    options: ArrowReaderOptions,
) -> Result<ParquetBatches> {
    let size = storage
        .head(loc)?
        .with_context(|| format!("{loc} does not exist"))?;
    let reader = ObjectFile {
        location: loc.clone(),
        size,
    };
    let stream = storage
        .block_on(async {
            ParquetRecordBatchStreamBuilder::new_with_options(reader, options)
                .await?
                .with_batch_size(8192)
                .build()
        })
        .with_context(|| format!("cannot open Parquet file {loc}"))?;
    Ok(ParquetBatches {
        storage: storage.clone(),
        stream,
        url: loc.url().to_string(),
    })
}

/// Blocking iterator over a Parquet object's batches.
pub struct ParquetBatches {
    storage: Arc<Storage>,
    stream: ParquetRecordBatchStream<ObjectFile>,
    url: String,
}

impl Iterator for ParquetBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.storage.block_on(self.stream.next())?;
        Some(next.with_context(|| format!("cannot read {}", self.url)))
    }
}

/// The field of a `list<struct<{key}: utf8, {value}: uint64>>` column: a small map of counts per row
/// (rejects by reason, tokens per source), readable as is by pyarrow and pandas.
pub fn count_map_field(name: &str, key: &str, value: &str) -> Field {
    Field::new(name, count_map_type(key, value), false)
}

fn count_map_type(key: &str, value: &str) -> DataType {
    let fields = Fields::from(vec![
        Field::new(key, DataType::Utf8, false),
        Field::new(value, DataType::UInt64, false),
    ]);
    DataType::List(Arc::new(Field::new("item", DataType::Struct(fields), true)))
}

/// Builds a count-map column (see [`count_map_field`]) from one map per row.
pub fn count_map_array<'a>(
    key: &str,
    value: &str,
    rows: impl IntoIterator<Item = &'a BTreeMap<String, u64>>,
) -> Result<ArrayRef> {
    let DataType::List(item) = count_map_type(key, value) else {
        bail!("count map type is a list")
    };
    let DataType::Struct(fields) = item.data_type().clone() else {
        bail!("count map items are structs")
    };
    let mut list = ListBuilder::new(StructBuilder::from_fields(fields, 0)).with_field(item);
    for row in rows {
        let entries = list.values();
        for (k, n) in row {
            entries
                .field_builder::<StringBuilder>(0)
                .context("count map key column")?
                .append_value(k);
            entries
                .field_builder::<UInt64Builder>(1)
                .context("count map value column")?
                .append_value(*n);
            entries.append(true);
        }
        list.append(true);
    }
    Ok(Arc::new(list.finish()))
}

/// Reads row `row` of a count-map column back into a map.
pub fn count_map_values(
    batch: &RecordBatch,
    name: &str,
    row: usize,
) -> Result<BTreeMap<String, u64>> {
    let list = batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<ListArray>())
        .with_context(|| format!("batch has no list column '{name}'"))?;
    let entries = list.value(row);
    let entries = entries
        .as_any()
        .downcast_ref::<StructArray>()
        .with_context(|| format!("'{name}' items are not structs"))?;
    let keys = entries
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .with_context(|| format!("'{name}' keys"))?;
    let values = entries
        .column(1)
        .as_any()
        .downcast_ref::<UInt64Array>()
        .with_context(|| format!("'{name}' values"))?;
    Ok((0..entries.len())
        .map(|j| (keys.value(j).to_string(), values.value(j)))
        .collect())
}

/// A `UInt64` column of a batch by name.
pub fn u64_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a UInt64Array> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
        .with_context(|| format!("batch has no UInt64 column '{name}'"))
}

/// A `Float64` column of a batch by name.
pub fn f64_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Float64Array> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
        .with_context(|| format!("batch has no Float64 column '{name}'"))
}

/// A string column of a batch by name.
pub fn string_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .with_context(|| format!("batch has no Utf8 column '{name}'"))
}

/// The values of a dictionary- or plain-encoded string column, one `String` per row.
pub fn source_values(batch: &RecordBatch, name: &str) -> Result<Vec<String>> {
    let col = batch
        .column_by_name(name)
        .with_context(|| format!("batch has no column '{name}'"))?;
    let plain = arrow::compute::cast(col, &DataType::Utf8)
        .with_context(|| format!("column '{name}' is not text"))?;
    let strings = plain
        .as_any()
        .downcast_ref::<StringArray>()
        .with_context(|| format!("column '{name}' is not text"))?;
    Ok((0..strings.len())
        .map(|i| strings.value(i).to_string())
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::documents::{DocBatchBuilder, Document, document_schema};

    #[test]
    fn documents_round_trip_through_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new().unwrap();
        let loc = storage
            .resolve(dir.path().to_str().unwrap())
            .unwrap()
            .child("d/part.parquet");
        let mut b = DocBatchBuilder::default();
        for i in 0..3 {
            b.push(&Document {
                id: format!("s/f/{i}"),
                source: "s".into(),
                url: (i == 1).then(|| "http://x".to_string()),
                title: None,
                text: format!("text {i}"),
                meta: None,
            });
        }
        let mut sink = ParquetSink::create(&storage, &loc, document_schema()).unwrap();
        sink.write(&b.finish().unwrap()).unwrap();
        let written = sink.finish().unwrap();
        assert_eq!(Some(written.bytes), storage.head(&loc).unwrap());
        let batches: Vec<RecordBatch> = read_parquet(&storage, &loc)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
        let text = string_column(&batches[0], "text").unwrap();
        assert_eq!(text.value(2), "text 2");
        assert_eq!(
            source_values(&batches[0], "source").unwrap(),
            vec!["s", "s", "s"]
        );
        assert!(string_column(&batches[0], "url").unwrap().is_null(0));
    }
}

//! The storage layer of corpus (docs/ARCHITECTURE.md §2-§4): every read and write goes through
//! [`Storage`] (local paths and `s3://` URLs), documents and reject rows travel between stages as the
//! Arrow tables of [`documents`], written and read as Parquet by [`table`].

pub mod documents;
pub mod storage;
pub mod table;

pub use documents::{
    BATCH_BYTES, DocBatchBuilder, Document, ROW_GROUP_BYTES, Reject, RejectBatchBuilder,
    document_id, document_schema, reject_schema,
};
pub use storage::{Listed, Location, ObjectReader, ObjectWriter, Storage, Written, is_not_found};
pub use table::{
    ParquetBatches, ParquetSink, count_map_array, count_map_field, count_map_values, f64_column,
    read_foreign_parquet, read_parquet, source_values, string_column, u64_column,
};

//! `corpus report`: SQL over the Parquet reports of a run, with DataFusion (docs/ARCHITECTURE.md §10).
//!
//! Every `reports/*.parquet` of a work directory becomes a table named after its file stem, with `-` turned
//! into `_` so that it is a plain SQL identifier (`reports/dedup-signatures.parquet` is `dedup_signatures`).
//! The files are read through the same `object_store` client as the rest of the pipeline: for an `s3://`
//! work directory the bucket's store from [`Storage`] is registered with DataFusion's runtime, so one set
//! of credentials and one endpoint serve both. Queries are read-only: DDL, DML (`COPY`, `INSERT`) and
//! statements (`SET`) are refused.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::writer::{LineDelimited, WriterBuilder};
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::common::TableReference;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::config::ConfigError;
use corpus_store::{Storage, is_not_found};

/// `corpus report` targets.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Benchmark contamination like GPT-3 Table C.1: per benchmark N, total, dirty, clean, clean %.
    /// Tables: contamination_summary (one row per benchmark), contamination_examples (one row per
    /// benchmark example) and every other report of the run.
    Contamination {
        /// Work directory of the run (local path or s3://bucket/prefix).
        #[arg(long)]
        work: String,
        /// Run this read-only SQL query instead of the summary, e.g. "SELECT benchmark, example,
        /// first_doc FROM contamination_examples WHERE dirty ORDER BY matches DESC LIMIT 10".
        #[arg(long)]
        sql: Option<String>,
        /// Print one JSON object per row instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `corpus report`.
pub fn run(command: ReportCommand) -> Result<()> {
    match command {
        ReportCommand::Contamination { work, sql, json } => {
            let storage = Storage::new()?;
            print!("{}", contamination(&storage, &work, sql.as_deref(), json)?);
            Ok(())
        }
    }
}

/// The default query of `corpus report contamination`: GPT-3 Table C.1, one row per benchmark with its
/// n-gram size, examples, dirty and clean counts and the clean share in percent (two decimals).
pub const CONTAMINATION_SUMMARY_SQL: &str = "SELECT benchmark, n, total, dirty, clean, \
     round(clean_percent, 2) AS clean_percent FROM contamination_summary ORDER BY benchmark";

/// The stage that writes the contamination reports, named in errors when they are missing.
const CONTAMINATION_STAGE: &str = "decontam-count";

/// One registered report: its SQL table name and the object it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTable {
    /// Table name in SQL (the file stem, `-` replaced by `_`).
    pub name: String,
    /// The Parquet object, as a local path or `s3://` URL.
    pub url: String,
}

/// A DataFusion session over one work directory, with each of its reports registered as a table.
pub struct Reports {
    storage: Arc<Storage>,
    ctx: SessionContext,
    work: String,
    tables: Vec<ReportTable>,
}

/// The result of a query: its schema (so an empty result still prints its header) and its rows.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Columns of the result.
    pub schema: SchemaRef,
    /// Rows, in the order the query produced them.
    pub batches: Vec<RecordBatch>,
}

impl Reports {
    /// Lists `{work}/reports/*.parquet` and registers each file as a table. A work directory without
    /// reports gives a session with no tables (queries then fail naming the missing table).
    pub fn open(storage: &Arc<Storage>, work: &str) -> Result<Reports> {
        let work_loc = storage.resolve(work)?;
        let reports = work_loc.child("reports");
        let listed = match storage.list(&reports) {
            Ok(listed) => listed,
            Err(e) if is_not_found(&e) => Vec::new(),
            Err(e) => return Err(e),
        };
        let ctx = SessionContext::new();
        let mut tables = Vec::new();
        for file in listed {
            let Some(rel) = reports.relative(&file.location) else {
                continue;
            };
            // Only direct children: a report is one file, not a directory of parts.
            let Some(stem) = rel.strip_suffix(".parquet").filter(|s| !s.contains('/')) else {
                continue;
            };
            let url = file.location.url().to_string();
            if url.starts_with("s3://") {
                let parsed =
                    url::Url::parse(&url).with_context(|| format!("'{url}' is not a URL"))?;
                let bucket =
                    url::Url::parse(&format!("s3://{}", parsed.host_str().unwrap_or_default()))
                        .with_context(|| format!("'{url}' has no bucket"))?;
                ctx.register_object_store(&bucket, file.location.store().clone());
            }
            let name = stem.replace('-', "_");
            storage
                .block_on(ctx.register_parquet(
                    TableReference::bare(name.as_str()),
                    &url,
                    ParquetReadOptions::default(),
                ))
                .with_context(|| format!("cannot read the Parquet report {url}"))?;
            tables.push(ReportTable { name, url });
        }
        Ok(Reports {
            storage: storage.clone(),
            ctx,
            work: work_loc.url().to_string(),
            tables,
        })
    }

    /// Fails, naming the work directory and the stage that writes it, unless `table` is registered.
    pub fn require(&self, table: &str, stage: &str) -> Result<()> {
        if self.tables.iter().any(|t| t.name == table) {
            return Ok(());
        }
        bail!(
            "{}/reports/{table}.parquet does not exist: it is written by the {stage} stage \
             (run `corpus build` with a config that has [[decontamination.benchmarks]]); {}",
            self.work,
            self.available()
        )
    }

    /// Runs one read-only SQL query. Errors of parsing and planning (syntax, an unknown table or
    /// column, DDL/DML) are usage errors ([`ConfigError`], exit code 2); errors while reading are not.
    pub fn query(&self, sql: &str) -> Result<QueryResult> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = self
            .storage
            .block_on(self.ctx.sql_with_options(sql, options))
            .map_err(|e| ConfigError::invalid("--sql", format!("{e}; {}", self.available())))?;
        let schema: SchemaRef = frame.schema().inner().clone();
        let batches = self
            .storage
            .block_on(frame.collect())
            .with_context(|| format!("query over the reports of {} failed", self.work))?;
        Ok(QueryResult { schema, batches })
    }

    fn available(&self) -> String {
        if self.tables.is_empty() {
            return format!("{}/reports holds no Parquet reports", self.work);
        }
        let names: Vec<&str> = self.tables.iter().map(|t| t.name.as_str()).collect();
        format!("tables: {}", names.join(", "))
    }
}

impl QueryResult {
    /// An aligned text table with a header, ending in a newline.
    pub fn to_table(&self) -> Result<String> {
        let table = pretty_format_batches_with_schema(self.schema.clone(), &self.batches)
            .context("cannot format the query result")?;
        Ok(format!("{table}\n"))
    }

    /// One JSON object per row, one per line; nulls are written as `null`.
    pub fn to_json_lines(&self) -> Result<String> {
        let mut writer = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, LineDelimited>(Vec::new());
        for batch in &self.batches {
            writer
                .write(batch)
                .context("cannot write the query result as JSON")?;
        }
        writer
            .finish()
            .context("cannot write the query result as JSON")?;
        String::from_utf8(writer.into_inner()).context("query result is not UTF-8")
    }
}

/// `corpus report contamination`: `sql` (default [`CONTAMINATION_SUMMARY_SQL`]) over the reports of
/// `work`, rendered as a text table or JSON lines.
pub fn contamination(
    storage: &Arc<Storage>,
    work: &str,
    sql: Option<&str>,
    json: bool,
) -> Result<String> {
    let reports = Reports::open(storage, work)?;
    if sql.is_none() {
        reports.require("contamination_summary", CONTAMINATION_STAGE)?;
    }
    let result = reports.query(sql.unwrap_or(CONTAMINATION_SUMMARY_SQL))?;
    if json {
        result.to_json_lines()
    } else {
        result.to_table()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        ArrayRef, BooleanArray, Float64Array, StringArray, UInt32Array, UInt64Array,
    };
    use arrow::datatypes::{DataType, Field, Schema};
    use corpus_store::ParquetSink;

    fn write(storage: &Arc<Storage>, work: &str, name: &str, columns: Vec<(Field, ArrayRef)>) {
        let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays).expect("batch");
        let loc = storage
            .resolve(work)
            .expect("work")
            .child(&format!("reports/{name}.parquet"));
        let mut sink = ParquetSink::create(storage, &loc, schema).expect("sink");
        sink.write(&batch).expect("write");
        sink.finish().expect("finish");
    }

    fn column(name: &str, data_type: DataType, array: ArrayRef) -> (Field, ArrayRef) {
        let nullable = array.null_count() > 0;
        (Field::new(name, data_type, nullable), array)
    }

    /// Summary rows deliberately out of benchmark order, so the default query's ORDER BY shows.
    fn write_contamination(storage: &Arc<Storage>, work: &str) {
        write(
            storage,
            work,
            "contamination_summary",
            vec![
                column(
                    "benchmark",
                    DataType::Utf8,
                    Arc::new(StringArray::from(vec!["piqa", "lambada"])),
                ),
                column(
                    "n",
                    DataType::UInt32,
                    Arc::new(UInt32Array::from(vec![8, 13])),
                ),
                column(
                    "total",
                    DataType::UInt64,
                    Arc::new(UInt64Array::from(vec![1838, 5153])),
                ),
                column(
                    "dirty",
                    DataType::UInt64,
                    Arc::new(UInt64Array::from(vec![3, 10])),
                ),
                column(
                    "clean",
                    DataType::UInt64,
                    Arc::new(UInt64Array::from(vec![1835, 5143])),
                ),
                column(
                    "clean_percent",
                    DataType::Float64,
                    Arc::new(Float64Array::from(vec![
                        100.0 * 1835.0 / 1838.0,
                        100.0 * 5143.0 / 5153.0,
                    ])),
                ),
            ],
        );
        write(
            storage,
            work,
            "contamination_examples",
            vec![
                column(
                    "benchmark",
                    DataType::Utf8,
                    Arc::new(StringArray::from(vec!["lambada", "piqa", "piqa", "piqa"])),
                ),
                column(
                    "example",
                    DataType::UInt64,
                    Arc::new(UInt64Array::from(vec![0, 0, 1, 2])),
                ),
                column(
                    "n",
                    DataType::UInt32,
                    Arc::new(UInt32Array::from(vec![13, 8, 8, 8])),
                ),
                column(
                    "dirty",
                    DataType::Boolean,
                    Arc::new(BooleanArray::from(vec![true, true, false, true])),
                ),
                column(
                    "matches",
                    DataType::UInt64,
                    Arc::new(UInt64Array::from(vec![4, 1, 0, 2])),
                ),
                column(
                    "first_doc",
                    DataType::Utf8,
                    Arc::new(StringArray::from(vec![
                        Some("web-7"),
                        Some("web-1"),
                        None,
                        Some("wiki-3"),
                    ])),
                ),
                column(
                    "first_source",
                    DataType::Utf8,
                    Arc::new(StringArray::from(vec![
                        Some("cc"),
                        Some("cc"),
                        None,
                        Some("wiki"),
                    ])),
                ),
            ],
        );
    }

    fn write_ingest(storage: &Arc<Storage>, work: &str, name: &str) {
        write(
            storage,
            work,
            name,
            vec![
                column(
                    "task",
                    DataType::UInt64,
                    Arc::new(UInt64Array::from(vec![0, 1])),
                ),
                column(
                    "docs_out",
                    DataType::UInt64,
                    Arc::new(UInt64Array::from(vec![5, 7])),
                ),
            ],
        );
    }

    #[test]
    fn default_query_prints_the_summary_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().to_string_lossy().to_string();
        let storage = Storage::new().expect("storage");
        write_contamination(&storage, &work);
        let table = contamination(&storage, &work, None, false).expect("report");
        assert_eq!(
            table,
            "+-----------+----+-------+-------+-------+---------------+\n\
             | benchmark | n  | total | dirty | clean | clean_percent |\n\
             +-----------+----+-------+-------+-------+---------------+\n\
             | lambada   | 13 | 5153  | 10    | 5143  | 99.81         |\n\
             | piqa      | 8  | 1838  | 3     | 1835  | 99.84         |\n\
             +-----------+----+-------+-------+-------+---------------+\n"
        );
        let json = contamination(&storage, &work, None, true).expect("report");
        assert_eq!(
            json,
            "{\"benchmark\":\"lambada\",\"n\":13,\"total\":5153,\"dirty\":10,\"clean\":5143,\"clean_percent\":99.81}\n\
             {\"benchmark\":\"piqa\",\"n\":8,\"total\":1838,\"dirty\":3,\"clean\":1835,\"clean_percent\":99.84}\n"
        );
    }

    #[test]
    fn sql_queries_every_report_of_the_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().to_string_lossy().to_string();
        let storage = Storage::new().expect("storage");
        write_contamination(&storage, &work);
        write_ingest(&storage, &work, "dedup-filter");
        let reports = Reports::open(&storage, &work).expect("open");
        let names: Vec<&str> = reports.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "contamination_examples",
                "contamination_summary",
                "dedup_filter"
            ]
        );

        let sql = "SELECT e.benchmark, e.example, e.first_doc, s.n FROM contamination_examples e \
                   JOIN contamination_summary s ON e.benchmark = s.benchmark \
                   WHERE e.benchmark = 'piqa' ORDER BY e.example";
        let json = contamination(&storage, &work, Some(sql), true).expect("query");
        assert_eq!(
            json,
            "{\"benchmark\":\"piqa\",\"example\":0,\"first_doc\":\"web-1\",\"n\":8}\n\
             {\"benchmark\":\"piqa\",\"example\":1,\"first_doc\":null,\"n\":8}\n\
             {\"benchmark\":\"piqa\",\"example\":2,\"first_doc\":\"wiki-3\",\"n\":8}\n"
        );
        let sql = "SELECT count(*) AS dirty, sum(docs_out) AS docs FROM contamination_examples, dedup_filter \
                   WHERE dirty";
        let table = contamination(&storage, &work, Some(sql), false).expect("query");
        assert_eq!(
            table,
            "+-------+------+\n\
             | dirty | docs |\n\
             +-------+------+\n\
             | 6     | 36   |\n\
             +-------+------+\n"
        );
        let empty = contamination(
            &storage,
            &work,
            Some("SELECT benchmark FROM contamination_examples WHERE matches > 100"),
            false,
        )
        .expect("query");
        assert_eq!(
            empty,
            "+-----------+\n| benchmark |\n+-----------+\n+-----------+\n"
        );
    }

    #[test]
    fn missing_summary_names_the_work_dir_and_the_stage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().to_string_lossy().to_string();
        let storage = Storage::new().expect("storage");
        write_ingest(&storage, &work, "ingest");
        let err = contamination(&storage, &work, None, false)
            .expect_err("no summary")
            .to_string();
        let expected = format!("{work}/reports/contamination_summary.parquet does not exist");
        assert!(err.starts_with(&expected), "{err}");
        assert!(err.contains("decontam-count stage"), "{err}");
        assert!(err.ends_with("tables: ingest"), "{err}");

        let empty = tempfile::tempdir().expect("tempdir");
        let err = contamination(&storage, &empty.path().to_string_lossy(), None, false)
            .expect_err("no reports")
            .to_string();
        assert!(err.ends_with("/reports holds no Parquet reports"), "{err}");
    }

    #[test]
    fn bad_sql_is_a_usage_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().to_string_lossy().to_string();
        let storage = Storage::new().expect("storage");
        write_ingest(&storage, &work, "ingest");
        for sql in [
            "SELEC 1",
            "SELECT nope FROM ingest",
            "SELECT * FROM contamination_summary",
            "COPY ingest TO '/tmp/x.parquet'",
        ] {
            let err = contamination(&storage, &work, Some(sql), false).expect_err(sql);
            assert!(
                err.downcast_ref::<ConfigError>().is_some(),
                "{sql}: {err:#}"
            );
        }
        let err = contamination(
            &storage,
            &work,
            Some("SELECT * FROM contamination_summary"),
            false,
        )
        .expect_err("unknown table")
        .to_string();
        assert!(
            err.contains("contamination_summary") && err.ends_with("tables: ingest"),
            "{err}"
        );
    }
}

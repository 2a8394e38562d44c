//! Per-stage accounting (`reports/{stage}.parquet`): one row per task with documents in/out/rejected, the
//! rejects by reason, records skipped by kind, documents recovered from malformed records by defect, bytes and
//! seconds, built from the completion markers so it is
//! the same whichever process writes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};

use super::{Counts, Marker, RunContext};
use corpus_store::{Location, Storage};
use corpus_store::{
    ParquetSink, count_map_array, count_map_field, count_map_values, read_parquet, u64_column,
};

fn report_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("stage", DataType::Utf8, false),
        Field::new("task", DataType::UInt32, false),
        Field::new("tasks", DataType::UInt32, false),
        Field::new("docs_in", DataType::UInt64, false),
        Field::new("docs_out", DataType::UInt64, false),
        Field::new("docs_rejected", DataType::UInt64, false),
        count_map_field("rejected_by_reason", "reason", "documents"),
        count_map_field("skipped_by_kind", "kind", "records"),
        count_map_field("recovered_by_reason", "reason", "documents"),
        Field::new("bytes_in", DataType::UInt64, false),
        Field::new("bytes_out", DataType::UInt64, false),
        Field::new("seconds", DataType::Float64, false),
    ]))
}

/// Writes the stage's accounting report (`path` below the work directory, see `Stage::report`) from its
/// markers.
pub fn write_report(run: &RunContext, stage: &str, path: &str, markers: &[Marker]) -> Result<()> {
    let u64s = |f: &dyn Fn(&Marker) -> u64| -> ArrayRef {
        Arc::new(markers.iter().map(f).collect::<UInt64Array>())
    };
    let u32s = |f: &dyn Fn(&Marker) -> usize| -> ArrayRef {
        Arc::new(markers.iter().map(|m| f(m) as u32).collect::<UInt32Array>())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(markers.iter().map(|_| Some(stage)).collect::<StringArray>()),
        u32s(&|m| m.task),
        u32s(&|m| m.tasks),
        u64s(&|m| m.counts.docs_in),
        u64s(&|m| m.counts.docs_out),
        u64s(&|m| m.counts.docs_rejected),
        count_map_array(
            "reason",
            "documents",
            markers.iter().map(|m| &m.counts.rejected_by_reason),
        )?,
        count_map_array(
            "kind",
            "records",
            markers.iter().map(|m| &m.counts.skipped_by_kind),
        )?,
        count_map_array(
            "reason",
            "documents",
            markers.iter().map(|m| &m.counts.recovered_by_reason),
        )?,
        u64s(&|m| m.counts.bytes_in),
        u64s(&|m| m.counts.bytes_out),
        Arc::new(markers.iter().map(|m| m.seconds).collect::<Float64Array>()),
    ];
    let batch =
        RecordBatch::try_new(report_schema(), columns).context("building the stage report")?;
    let loc = run.work.child(path);
    let mut sink = ParquetSink::create(&run.storage, &loc, report_schema())?;
    sink.write(&batch)?;
    sink.finish()?;
    Ok(())
}

/// Reads a stage report back as per-task counts (task index → counts).
pub fn read_report(storage: &Arc<Storage>, loc: &Location) -> Result<BTreeMap<u32, Counts>> {
    let mut out = BTreeMap::new();
    for batch in read_parquet(storage, loc)? {
        let batch = batch.with_context(|| format!("reading report {loc}"))?;
        let tasks = batch
            .column_by_name("task")
            .and_then(|c| c.as_any().downcast_ref::<UInt32Array>())
            .with_context(|| format!("report {loc} has no task column"))?;
        let col = |name: &str| u64_column(&batch, name).with_context(|| format!("report {loc}"));
        let (din, dout, drej, bin, bout) = (
            col("docs_in")?,
            col("docs_out")?,
            col("docs_rejected")?,
            col("bytes_in")?,
            col("bytes_out")?,
        );
        for i in 0..batch.num_rows() {
            let counts = Counts {
                docs_in: din.value(i),
                docs_out: dout.value(i),
                docs_rejected: drej.value(i),
                rejected_by_reason: count_map_values(&batch, "rejected_by_reason", i)?,
                skipped_by_kind: count_map_values(&batch, "skipped_by_kind", i)?,
                // Reports written before recovery was counted have no such column.
                recovered_by_reason: match batch.column_by_name("recovered_by_reason") {
                    Some(_) => count_map_values(&batch, "recovered_by_reason", i)?,
                    None => BTreeMap::new(),
                },
                bytes_in: bin.value(i),
                bytes_out: bout.value(i),
            };
            out.insert(tasks.value(i), counts);
        }
    }
    Ok(out)
}

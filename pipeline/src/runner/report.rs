//! Per-stage accounting (`reports/{stage}.parquet`): one row per task with documents in/out/rejected, the
//! rejects by reason, bytes and seconds, built from the completion markers so it is the same whichever
//! process writes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{
    Array, ArrayRef, Float64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    StructBuilder, UInt32Array, UInt64Array, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema};

use super::{Counts, Marker, RunContext};
use crate::docs::{ParquetSink, read_parquet};
use crate::storage::{Location, Storage};

fn reason_fields() -> Fields {
    Fields::from(vec![
        Field::new("reason", DataType::Utf8, false),
        Field::new("documents", DataType::UInt64, false),
    ])
}

fn report_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("stage", DataType::Utf8, false),
        Field::new("task", DataType::UInt32, false),
        Field::new("tasks", DataType::UInt32, false),
        Field::new("docs_in", DataType::UInt64, false),
        Field::new("docs_out", DataType::UInt64, false),
        Field::new("docs_rejected", DataType::UInt64, false),
        Field::new(
            "rejected_by_reason",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(reason_fields()),
                true,
            ))),
            false,
        ),
        Field::new("bytes_in", DataType::UInt64, false),
        Field::new("bytes_out", DataType::UInt64, false),
        Field::new("seconds", DataType::Float64, false),
    ]))
}

/// Writes `reports/{stage}.parquet` from the stage's markers.
pub fn write_report(run: &RunContext, stage: &str, markers: &[Marker]) -> Result<()> {
    let u64s = |f: &dyn Fn(&Marker) -> u64| -> ArrayRef {
        Arc::new(markers.iter().map(f).collect::<UInt64Array>())
    };
    let mut reasons = ListBuilder::new(StructBuilder::from_fields(reason_fields(), markers.len()));
    for m in markers {
        let list = reasons.values();
        for (reason, n) in &m.counts.rejected_by_reason {
            list.field_builder::<StringBuilder>(0)
                .context("reason column")?
                .append_value(reason);
            list.field_builder::<UInt64Builder>(1)
                .context("documents column")?
                .append_value(*n);
            list.append(true);
        }
        reasons.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(markers.iter().map(|_| Some(stage)).collect::<StringArray>()),
        Arc::new(
            markers
                .iter()
                .map(|m| m.task as u32)
                .collect::<UInt32Array>(),
        ),
        Arc::new(
            markers
                .iter()
                .map(|m| m.tasks as u32)
                .collect::<UInt32Array>(),
        ),
        u64s(&|m| m.counts.docs_in),
        u64s(&|m| m.counts.docs_out),
        u64s(&|m| m.counts.docs_rejected),
        Arc::new(reasons.finish()),
        u64s(&|m| m.counts.bytes_in),
        u64s(&|m| m.counts.bytes_out),
        Arc::new(markers.iter().map(|m| m.seconds).collect::<Float64Array>()),
    ];
    let batch =
        RecordBatch::try_new(report_schema(), columns).context("building the stage report")?;
    let loc = run.work.child(&format!("reports/{stage}.parquet"));
    let mut sink = ParquetSink::create(&run.storage, &loc, report_schema())?;
    sink.write(&batch)?;
    sink.finish()?;
    Ok(())
}

/// Reads a stage report back as per-task counts (task index → counts).
pub fn read_report(storage: &Arc<Storage>, loc: &Location) -> Result<BTreeMap<u32, Counts>> {
    let mut out = BTreeMap::new();
    for batch in read_parquet(storage, loc)? {
        let batch = batch?;
        let col = |name: &str| -> Result<&UInt64Array> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
                .with_context(|| format!("report {loc} has no UInt64 column {name}"))
        };
        let tasks = batch
            .column_by_name("task")
            .and_then(|c| c.as_any().downcast_ref::<UInt32Array>())
            .with_context(|| format!("report {loc} has no task column"))?;
        let reasons = batch
            .column_by_name("rejected_by_reason")
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::ListArray>())
            .with_context(|| format!("report {loc} has no rejected_by_reason column"))?;
        let (din, dout, drej, bin, bout) = (
            col("docs_in")?,
            col("docs_out")?,
            col("docs_rejected")?,
            col("bytes_in")?,
            col("bytes_out")?,
        );
        for i in 0..batch.num_rows() {
            let mut by_reason = BTreeMap::new();
            let entries = reasons.value(i);
            let entries = entries
                .as_any()
                .downcast_ref::<arrow::array::StructArray>()
                .with_context(|| format!("report {loc}: bad rejected_by_reason"))?;
            let names = entries
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .context("reason names")?;
            let counts = entries
                .column(1)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .context("reason counts")?;
            for j in 0..entries.len() {
                by_reason.insert(names.value(j).to_string(), counts.value(j));
            }
            out.insert(
                tasks.value(i),
                Counts {
                    docs_in: din.value(i),
                    docs_out: dout.value(i),
                    docs_rejected: drej.value(i),
                    rejected_by_reason: by_reason,
                    bytes_in: bin.value(i),
                    bytes_out: bout.value(i),
                },
            );
        }
    }
    Ok(out)
}

//! Sorted run files exchanged between a stage's tasks through storage (the `corpus-dedup` run format):
//! where a task writes them, how a later task finds and opens them. Dedup's phases and the mix shuffle
//! use these.

use std::io::{BufReader, BufWriter};

use anyhow::{Context, Result};
use corpus_shuffle::{Record, RunReader, RunSink, RunStats};

use crate::plan::RunContext;
use crate::runner::{Marker, MarkerOutput, TaskContext};
use corpus_store::{ObjectReader, ObjectWriter, Storage};

/// Writes the runs of one record kind of a task to `{stage dir}/{kind}/p{partition}/t{task}-{run}.run`
/// and records each as an output of the task.
pub(crate) struct StoreSink<'a, 'c> {
    pub(crate) ctx: &'a TaskContext<'c>,
    pub(crate) kind: &'static str,
}

impl StoreSink<'_, '_> {
    fn rel(&self, partition: usize, run: usize) -> String {
        self.ctx.stage_file(&format!(
            "{}/p{partition:05}/t{:05}-{run:04}.run",
            self.kind, self.ctx.task
        ))
    }
}

impl RunSink for StoreSink<'_, '_> {
    type Writer = BufWriter<ObjectWriter>;

    fn create(&mut self, partition: usize, run: usize) -> std::io::Result<Self::Writer> {
        let loc = self.ctx.temp_output(&self.rel(partition, run));
        Ok(BufWriter::with_capacity(
            1 << 16,
            self.ctx.run.storage.writer(&loc),
        ))
    }

    fn finished(
        &mut self,
        partition: usize,
        run: usize,
        writer: Self::Writer,
        stats: RunStats,
    ) -> std::io::Result<()> {
        let written = writer
            .into_inner()
            .map_err(|e| e.into_error())?
            .finish()
            .map_err(std::io::Error::other)?;
        self.ctx
            .add_output(&self.rel(partition, run), self.kind, written, stats.records)
            .map_err(std::io::Error::other)
    }
}

/// The runs of `kind` for `partition` among some markers' outputs.
pub(crate) fn partition_runs<'m>(
    markers: &'m [Marker],
    kind: &str,
    partition: usize,
) -> impl Iterator<Item = &'m MarkerOutput> {
    let dir = format!("/{kind}/p{partition:05}/");
    markers
        .iter()
        .flat_map(|m| m.outputs.iter())
        .filter(move |o| o.kind == kind && o.path.contains(&dir))
}

/// Opens runs as readers of `T`, in the given order.
pub(crate) fn open_runs<'m, T: Record>(
    run: &RunContext,
    outputs: impl Iterator<Item = &'m MarkerOutput>,
) -> Result<Vec<RunReader<BufReader<ObjectReader>, T>>> {
    outputs
        .map(|o| {
            let loc = run.work.child(&o.path);
            let reader = Storage::reader(&run.storage, &loc)
                .with_context(|| format!("opening run {loc}"))?;
            Ok(RunReader::new(BufReader::with_capacity(1 << 16, reader)))
        })
        .collect()
}

/// An I/O error from a run, as an error that names the stage.
pub(crate) fn io_context(e: std::io::Error, what: &str) -> anyhow::Error {
    anyhow::Error::new(e).context(what.to_string())
}

//! Progress bars (one per stage, on stderr when it is a terminal) and a log writer that draws log lines
//! above them instead of through them.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(MultiProgress::new)
}

/// Progress of one stage: tasks finished and documents processed.
pub struct StageProgress {
    bar: ProgressBar,
    docs: AtomicU64,
}

impl StageProgress {
    /// A bar for `tasks` tasks of the named stage.
    pub fn new(stage: &str, tasks: usize) -> Self {
        let bar = multi().add(ProgressBar::new(tasks as u64));
        let style = ProgressStyle::with_template(
            "{prefix:>9} [{bar:30}] {pos}/{len} tasks  {msg}  {elapsed_precise}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(stage.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        StageProgress {
            bar,
            docs: AtomicU64::new(0),
        }
    }

    /// A progress sink that draws nothing (single tasks run by a scheduler).
    pub fn hidden() -> Self {
        StageProgress {
            bar: ProgressBar::hidden(),
            docs: AtomicU64::new(0),
        }
    }

    /// `n` more documents processed.
    pub fn add_docs(&self, n: u64) {
        let total = self.docs.fetch_add(n, Ordering::Relaxed) + n;
        self.bar.set_message(format!("{total} docs"));
    }

    /// One task finished (its `docs` are added when it was skipped rather than run).
    pub fn task_done(&self, docs: u64) {
        if docs > 0 {
            self.add_docs(docs);
        }
        self.bar.inc(1);
    }

    /// Closes the bar, leaving its last state on screen.
    pub fn finish(&self) {
        self.bar.finish();
    }
}

/// `tracing` writer that prints each log line above the progress bars.
#[derive(Clone, Copy, Default)]
pub struct LogWriter;

/// One buffered log line.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let line = std::mem::take(&mut self.0);
        multi().suspend(|| {
            let _ = std::io::stderr().write_all(&line);
        });
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine(Vec::new())
    }
}

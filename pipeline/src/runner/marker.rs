//! Completion markers (`{stage}/_done/{task:05}.json`): written last, after every output of the task was
//! committed, so "marker present" means "task finished". They carry what a rerun and the reports need.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Document and byte counts of one task; `docs_in = docs_out + docs_rejected` always holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Documents (records) read.
    pub docs_in: u64,
    /// Documents written on.
    pub docs_out: u64,
    /// Documents rejected, each with a reject row.
    pub docs_rejected: u64,
    /// Rejected documents per reason.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Records that are not documents by design (WARC request/metadata records, redirects...), per kind.
    /// They are neither documents in nor rejects.
    #[serde(default)]
    pub skipped_by_kind: BTreeMap<String, u64>,
    /// Documents passed on although their record was malformed, per defect (a WET record whose
    /// Content-Length is wrong, its text recovered up to the next record header). Each is also in `docs_out`.
    #[serde(default)]
    pub recovered_by_reason: BTreeMap<String, u64>,
    /// Input bytes read (as stored, e.g. compressed).
    pub bytes_in: u64,
    /// Output bytes written.
    pub bytes_out: u64,
}

impl Counts {
    /// Counts one rejected document.
    pub fn reject(&mut self, reason: &str) {
        self.docs_in += 1;
        self.docs_rejected += 1;
        *self
            .rejected_by_reason
            .entry(reason.to_string())
            .or_default() += 1;
    }

    /// Counts one record that is not a document by design.
    pub fn skip(&mut self, kind: &str) {
        *self.skipped_by_kind.entry(kind.to_string()).or_default() += 1;
    }

    /// Notes that a document already counted by [`Counts::pass`] was recovered from a malformed record.
    pub fn recover(&mut self, reason: &str) {
        *self
            .recovered_by_reason
            .entry(reason.to_string())
            .or_default() += 1;
    }

    /// Counts one document passed on.
    pub fn pass(&mut self) {
        self.docs_in += 1;
        self.docs_out += 1;
    }
}

/// One input a task read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkerInput {
    /// URL or path.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// One output a task committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkerOutput {
    /// Path relative to the work directory.
    pub path: String,
    /// What it holds (`documents`, `rejects`, `tokens`, `shard`).
    pub kind: String,
    /// Size in bytes.
    pub bytes: u64,
    /// xxh3-64 of the file, 16 hex digits.
    pub xxh3: String,
    /// Rows (documents) or tokens it holds.
    pub rows: u64,
}

/// The completion marker of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Stage name.
    pub stage: String,
    /// Task index.
    pub task: usize,
    /// Number of tasks of the stage.
    pub tasks: usize,
    /// Hash of the stage's configuration and of its upstream stages.
    pub config_hash: String,
    /// `corpus` version that wrote it.
    pub corpus_version: String,
    /// Inputs read.
    pub inputs: Vec<MarkerInput>,
    /// Outputs committed.
    pub outputs: Vec<MarkerOutput>,
    /// Accounting.
    pub counts: Counts,
    /// Wall-clock seconds the task took.
    pub seconds: f64,
    /// Stage-specific facts later stages need (token totals, shard list).
    pub extra: serde_json::Value,
}

/// Formats a checksum the way markers store it.
pub fn hex64(v: u64) -> String {
    format!("{v:016x}")
}

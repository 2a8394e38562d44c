//! `corpus status`: per stage, tasks done / total, documents in / out / rejected by reason, and whether
//! each stage's results match the current configuration.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Result;
use serde_json::{Value, json};

use super::inspect::run_json;
use super::print_report;
use crate::runner::read_markers_at;
use corpus_store::Storage;

/// The flags of `corpus status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Work directory of the run.
    #[arg(long)]
    work: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `corpus status`.
pub fn run(args: &StatusArgs) -> Result<()> {
    let storage = Storage::new()?;
    let report = status(&storage, &args.work)?;
    print_report(&report, args.json, render_status)
}

/// Per stage: tasks done / total, documents in / out / rejected (by reason), and whether the hashes match.
pub fn status(storage: &Arc<Storage>, work: &str) -> Result<Value> {
    let (root, run) = run_json(storage, work)?;
    let mut stages = Vec::new();
    for stage in &run.stages {
        let markers = read_markers_at(storage, &root, &stage.dir)?;
        let current: Vec<_> = markers
            .iter()
            .filter(|m| m.config_hash == stage.hash)
            .collect();
        let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
        let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
        let mut recovered: BTreeMap<String, u64> = BTreeMap::new();
        for m in &current {
            for (r, n) in &m.counts.recovered_by_reason {
                *recovered.entry(r.clone()).or_default() += n;
            }
            for (r, n) in &m.counts.rejected_by_reason {
                *reasons.entry(r.clone()).or_default() += n;
            }
            for (k, n) in &m.counts.skipped_by_kind {
                *skipped.entry(k.clone()).or_default() += n;
            }
        }
        stages.push(json!({
            "stage": stage.name,
            "tasks_done": current.len(),
            "tasks": run.tasks,
            "stale_tasks": markers.len() - current.len(),
            "docs_in": current.iter().map(|m| m.counts.docs_in).sum::<u64>(),
            "docs_out": current.iter().map(|m| m.counts.docs_out).sum::<u64>(),
            "docs_rejected": current.iter().map(|m| m.counts.docs_rejected).sum::<u64>(),
            "rejected_by_reason": reasons,
            "skipped_by_kind": skipped,
            "recovered_by_reason": recovered,
            "seconds": current.iter().map(|m| m.seconds).sum::<f64>(),
        }));
    }
    Ok(json!({ "work": root.url(), "corpus_version": run.corpus_version, "stages": stages }))
}

/// Text form of [`status`].
pub fn render_status(v: &Value) -> String {
    let pairs = |m: &Value| -> String {
        let items: Vec<String> = m
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        items.join(" ")
    };
    let mut out = String::new();
    let _ = writeln!(out, "work: {}", v["work"].as_str().unwrap_or(""));
    let _ = writeln!(
        out,
        "{:<16} {:>7} {:>12} {:>12} {:>12}  rejected by reason / skipped records by kind / recovered documents",
        "stage", "tasks", "docs in", "docs out", "rejected"
    );
    for s in v["stages"].as_array().into_iter().flatten() {
        let tasks = format!("{}/{}", s["tasks_done"], s["tasks"]);
        let mut notes = pairs(&s["rejected_by_reason"]);
        let skipped = pairs(&s["skipped_by_kind"]);
        if !skipped.is_empty() {
            notes = format!("{notes} / skipped: {skipped}");
        }
        let recovered = pairs(&s["recovered_by_reason"]);
        if !recovered.is_empty() {
            notes = format!("{notes} / recovered: {recovered}");
        }
        let _ = writeln!(
            out,
            "{:<16} {:>7} {:>12} {:>12} {:>12}  {}",
            s["stage"].as_str().unwrap_or(""),
            tasks,
            s["docs_in"].as_u64().unwrap_or(0),
            s["docs_out"].as_u64().unwrap_or(0),
            s["docs_rejected"].as_u64().unwrap_or(0),
            notes.trim()
        );
    }
    out
}

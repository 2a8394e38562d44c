//! The stage/task contract (docs/ARCHITECTURE.md §4). A stage is one type implementing [`Stage`]; the runner gives
//! each task its temporary output area, commits outputs then the `_done` marker, skips finished tasks,
//! refuses to mix results of different configurations, and writes `reports/{stage}.parquet` once every
//! task of a stage is done.

pub mod executor;
mod marker;
mod part;
mod report;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use marker::{Counts, Marker, MarkerInput, MarkerOutput, hex64};
pub use part::{Dropped, OutputId, PartTask};
pub use report::{read_report, write_report};

use crate::plan::RunContext;
use crate::progress::StageProgress;
use corpus_store::{Location, Storage, Written};

/// Version of the on-disk layout; part of every stage hash so incompatible results are never mixed.
pub const LAYOUT_VERSION: u32 = 1;

/// One stage of the pipeline: a name, the config it depends on, and what one task does.
pub trait Stage: Send + Sync {
    /// The stage name (CLI `corpus stage NAME`, reports, markers).
    fn name(&self) -> &'static str;

    /// Directory below the work directory that holds its outputs and markers (default: its name).
    fn dir(&self) -> &'static str {
        self.name()
    }

    /// The per-task accounting report below the work directory (default `reports/{name}.parquet`); a
    /// stage whose own report takes that name puts its accounting elsewhere.
    fn report(&self) -> String {
        format!("reports/{}.parquet", self.name())
    }

    /// The configuration this stage's output depends on; any change reruns it and every later stage.
    fn fingerprint(&self, run: &RunContext) -> serde_json::Value;

    /// Runs task `ctx.task` of `ctx.tasks`; outputs go through [`TaskContext::temp_output`].
    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult>;

    /// Runs once all tasks are done (e.g. a manifest); must be idempotent and deterministic.
    fn finish(&self, _run: &RunContext, _markers: &[Marker]) -> Result<()> {
        Ok(())
    }

    /// For a stage that repeats rounds of tasks until it converges (connected components), the most rounds
    /// it may take; `None` (the default) for a stage that runs its tasks once. Round `r`'s outputs and
    /// markers live under `{dir}/round-{r:03}/`; when a complete round is [`Stage::converged`], its markers
    /// are copied to `{dir}/_done/`, which is what later stages and `corpus status` see.
    fn max_rounds(&self, _run: &RunContext) -> Option<usize> {
        None
    }

    /// Whether the markers of one complete round say the stage is done.
    fn converged(&self, _round: &[Marker]) -> bool {
        true
    }
}

/// Directory of round `round` of an iterative stage, relative to the work directory.
pub fn round_dir(stage_dir: &str, round: usize) -> String {
    format!("{stage_dir}/round-{round:03}")
}

/// What a task reports besides its outputs.
#[derive(Debug, Default)]
pub struct TaskResult {
    /// Inputs it read.
    pub inputs: Vec<MarkerInput>,
    /// Accounting.
    pub counts: Counts,
    /// Stage-specific facts for later stages.
    pub extra: serde_json::Value,
}

/// The slice `[len*task/tasks, len*(task+1)/tasks)`: contiguous, so concatenating the tasks' outputs in
/// task order gives the same sequence whatever the task count.
pub fn assigned(len: usize, task: usize, tasks: usize) -> Range<usize> {
    let start = (len as u128 * task as u128 / tasks as u128) as usize;
    let end = (len as u128 * (task as u128 + 1) / tasks as u128) as usize;
    start..end
}

/// The view of the run a single task gets.
pub struct TaskContext<'a> {
    /// The run.
    pub run: &'a RunContext,
    /// This task's index.
    pub task: usize,
    /// Number of tasks of the stage.
    pub tasks: usize,
    /// The round of an iterative stage (0 for other stages).
    pub round: usize,
    stage_dir: String,
    tmp: Location,
    outputs: Mutex<Vec<PendingOutput>>,
    progress: &'a StageProgress,
}

struct PendingOutput {
    rel: String,
    kind: String,
    written: Written,
    rows: u64,
}

impl TaskContext<'_> {
    /// The `part-{task:05}-of-{tasks:05}` stem of this task's files.
    pub fn part_name(&self) -> String {
        format!("part-{:05}-of-{:05}", self.task, self.tasks)
    }

    /// Temporary location for an output that will be committed to `{work}/{rel}`.
    pub fn temp_output(&self, rel: &str) -> Location {
        self.tmp.child(rel)
    }

    /// Path of a file in this stage's directory, relative to the work directory.
    pub fn stage_file(&self, name: &str) -> String {
        format!("{}/{name}", self.stage_dir)
    }

    /// Records a finished temporary output (see [`TaskContext::temp_output`]) for commit.
    pub fn add_output(&self, rel: &str, kind: &str, written: Written, rows: u64) -> Result<()> {
        self.outputs
            .lock()
            .map_err(|_| anyhow!("output list poisoned"))?
            .push(PendingOutput {
                rel: rel.to_string(),
                kind: kind.to_string(),
                written,
                rows,
            });
        Ok(())
    }

    /// Reports progress: `docs` more documents processed.
    pub fn progress(&self, docs: u64) {
        self.progress.add_docs(docs);
    }

    /// The `documents` output of the same-numbered task of an upstream stage: its marker entry and location.
    pub fn upstream_documents(&self, stage: &dyn Stage) -> Result<(MarkerOutput, Location)> {
        let markers = self.upstream(stage)?;
        let part = markers[self.task]
            .outputs
            .iter()
            .find(|o| o.kind == "documents")
            .cloned()
            .ok_or_else(|| {
                anyhow!(
                    "{} task {} recorded no documents output",
                    stage.name(),
                    self.task
                )
            })?;
        let location = self.run.work.child(&part.path);
        Ok((part, location))
    }

    /// Markers of every task of an upstream stage, in task order; fails if that stage is not complete.
    pub fn upstream(&self, stage: &dyn Stage) -> Result<Vec<Marker>> {
        complete_markers(self.run, stage, stage.dir(), "stage")
    }

    /// Markers of every task of round `round` of an iterative stage (usually this one, `round` the
    /// previous round); fails if that round is not complete.
    pub fn round_markers(&self, stage: &dyn Stage, round: usize) -> Result<Vec<Marker>> {
        complete_markers(
            self.run,
            stage,
            &round_dir(stage.dir(), round),
            &format!("round {round} of stage"),
        )
    }
}

/// The markers under `{dir}/_done/` when there is one per task, all of the current configuration.
fn complete_markers(
    run: &RunContext,
    stage: &dyn Stage,
    dir: &str,
    what: &str,
) -> Result<Vec<Marker>> {
    let hash = run.hash_of(stage.name())?;
    let markers = read_markers(run, dir)?;
    if let Some(stale) = markers.iter().find(|m| m.config_hash != hash) {
        bail!(
            "{what} '{}' task {} was run with a different configuration (hash {}, now {hash}): rerun it",
            stage.name(),
            stale.task,
            stale.config_hash
        );
    }
    if markers.len() != run.tasks || markers.iter().enumerate().any(|(i, m)| m.task != i) {
        bail!(
            "{what} '{}' is not complete ({}/{} tasks done): run it first",
            stage.name(),
            markers.len(),
            run.tasks
        );
    }
    Ok(markers)
}

/// Computes every stage's hash into `run.hashes` and returns them in stage order.
pub fn compute_hashes(run: &mut RunContext, stages: &[Box<dyn Stage>]) -> Vec<String> {
    let hashes = stage_hashes(run, stages);
    run.hashes = stages
        .iter()
        .zip(&hashes)
        .map(|(s, h)| (s.name().to_string(), h.clone()))
        .collect();
    hashes
}

/// The hash of every stage, chained so a change upstream changes everything downstream.
pub fn stage_hashes(run: &RunContext, stages: &[Box<dyn Stage>]) -> Vec<String> {
    let mut upstream = String::new();
    stages
        .iter()
        .map(|s| {
            let doc = json!({
                "stage": s.name(),
                "layout": LAYOUT_VERSION,
                "tasks": run.tasks,
                "fingerprint": s.fingerprint(run),
                "upstream": upstream,
            });
            upstream = hex64(xxhash_rust::xxh3::xxh3_64(doc.to_string().as_bytes()));
            upstream.clone()
        })
        .collect()
}

fn marker_location(run: &RunContext, dir: &str, task: usize) -> Location {
    run.work.child(&format!("{dir}/_done/{task:05}.json"))
}

/// Every marker of a stage directory, sorted by task.
pub fn read_markers(run: &RunContext, dir: &str) -> Result<Vec<Marker>> {
    read_markers_at(&run.storage, &run.work, dir)
}

/// Every marker under `{work}/{dir}/_done/`, sorted by task.
pub fn read_markers_at(storage: &Storage, work: &Location, dir: &str) -> Result<Vec<Marker>> {
    let listed = match storage.list(&work.child(&format!("{dir}/_done"))) {
        Ok(l) => l,
        Err(e) if corpus_store::is_not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut markers = Vec::new();
    for l in listed
        .iter()
        .filter(|l| l.location.file_name().ends_with(".json"))
    {
        let bytes = storage.get(&l.location)?;
        let m: Marker = serde_json::from_slice(&bytes)
            .with_context(|| format!("corrupt completion marker {}", l.location))?;
        markers.push(m);
    }
    markers.sort_by_key(|m| m.task);
    Ok(markers)
}

/// Why a work directory cannot be reused as is.
#[derive(Debug, thiserror::Error)]
#[error(
    "{work} holds results of stage '{stage}' from a different configuration (hash {found}, now {expected}); \
     rerun with --force to discard them, or choose another --work"
)]
pub struct ConfigChanged {
    /// The work directory.
    pub work: String,
    /// The stage.
    pub stage: String,
    /// Hash in the existing markers.
    pub found: String,
    /// Hash of the current configuration.
    pub expected: String,
}

/// Checks existing markers against the current hashes. With `force`, stale stages are deleted;
/// without it, the first stale stage is an error. Returns the names of the stages that were reset.
pub fn check_or_reset(
    run: &RunContext,
    stages: &[Box<dyn Stage>],
    hashes: &[String],
    force: bool,
) -> Result<Vec<String>> {
    let mut reset = Vec::new();
    for (stage, hash) in stages.iter().zip(hashes) {
        let mut markers = read_markers(run, stage.dir())?;
        if stage.max_rounds(run).is_some() {
            markers.extend(read_markers(run, &round_dir(stage.dir(), 0))?);
        }
        if let Some(stale) = markers.iter().find(|m| &m.config_hash != hash) {
            if !force {
                return Err(ConfigChanged {
                    work: run.work.url().to_string(),
                    stage: stage.name().to_string(),
                    found: stale.config_hash.clone(),
                    expected: hash.clone(),
                }
                .into());
            }
            run.storage.delete_prefix(&run.work.child(stage.dir()))?;
            run.storage.delete(&run.work.child(&stage.report()))?;
            reset.push(stage.name().to_string());
        }
    }
    Ok(reset)
}

/// Writes `run.json`: the resolved config, its hash, the stage hashes and the corpus version.
pub fn write_run_json(
    run: &RunContext,
    stages: &[Box<dyn Stage>],
    hashes: &[String],
) -> Result<()> {
    let config = serde_json::to_value(&run.config)?;
    let doc = RunJson {
        corpus_version: env!("CARGO_PKG_VERSION").to_string(),
        config_hash: hex64(xxhash_rust::xxh3::xxh3_64(config.to_string().as_bytes())),
        config,
        tasks: run.tasks,
        stages: stages
            .iter()
            .zip(hashes)
            .map(|(s, h)| RunStage {
                name: s.name().to_string(),
                dir: s.dir().to_string(),
                hash: h.clone(),
            })
            .collect(),
    };
    run.storage.put(
        &run.work.child("run.json"),
        serde_json::to_vec_pretty(&doc)?,
    )
}

/// The contents of `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunJson {
    /// Version of corpus that wrote it.
    pub corpus_version: String,
    /// Hash of the resolved config.
    pub config_hash: String,
    /// The resolved config.
    pub config: serde_json::Value,
    /// Tasks per stage.
    pub tasks: usize,
    /// Stages in order.
    pub stages: Vec<RunStage>,
}

/// One stage entry of `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStage {
    /// Stage name.
    pub name: String,
    /// Its directory.
    pub dir: String,
    /// Its configuration hash.
    pub hash: String,
}

/// What happened to one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    /// It ran and committed.
    Ran,
    /// A marker with the same hash existed.
    Skipped,
}

/// Runs one task unless it is already done: outputs are written under `{dir}/_tmp/{task}`, moved to their
/// final names, and the marker is written last. With `force`, a marker of another configuration is replaced.
/// `round` is the round of an iterative stage (ignored for other stages).
pub fn run_one_task(
    run: &RunContext,
    stage: &dyn Stage,
    hash: &str,
    (task, round): (usize, usize),
    progress: &StageProgress,
    force: bool,
) -> Result<TaskOutcome> {
    let dir = match stage.max_rounds(run) {
        Some(_) => round_dir(stage.dir(), round),
        None => stage.dir().to_string(),
    };
    let marker_loc = marker_location(run, &dir, task);
    if let Some(bytes) = run.storage.get_opt(&marker_loc)? {
        let existing: Marker = serde_json::from_slice(&bytes)
            .with_context(|| format!("corrupt marker {marker_loc}"))?;
        if existing.config_hash == hash {
            tracing::info!(
                "{}: task {}/{} already done, skipping",
                stage.name(),
                task + 1,
                run.tasks
            );
            progress.task_done(existing.counts.docs_in);
            return Ok(TaskOutcome::Skipped);
        }
        if !force {
            return Err(ConfigChanged {
                work: run.work.url().to_string(),
                stage: stage.name().to_string(),
                found: existing.config_hash,
                expected: hash.to_string(),
            }
            .into());
        }
    }
    let started = Instant::now();
    let tmp = run.work.child(&format!("{dir}/_tmp/{task:05}"));
    // Leftovers of a killed attempt: never committed, safe to drop.
    run.storage.delete_prefix(&tmp)?;
    let ctx = TaskContext {
        run,
        task,
        tasks: run.tasks,
        round,
        stage_dir: dir,
        tmp: tmp.clone(),
        outputs: Mutex::new(Vec::new()),
        progress,
    };
    let result = stage.run_task(&ctx).with_context(|| {
        format!(
            "stage {} task {}/{} failed",
            stage.name(),
            task + 1,
            run.tasks
        )
    })?;
    let counts = &result.counts;
    if counts.docs_in != counts.docs_out + counts.docs_rejected {
        bail!(
            "stage {} task {}: accounting broken: {} in != {} out + {} rejected",
            stage.name(),
            task,
            counts.docs_in,
            counts.docs_out,
            counts.docs_rejected
        );
    }
    let pending = ctx
        .outputs
        .into_inner()
        .map_err(|_| anyhow!("output list poisoned"))?;
    let mut outputs = Vec::with_capacity(pending.len());
    for p in pending {
        run.storage
            .rename(&tmp.child(&p.rel), &run.work.child(&p.rel))?;
        outputs.push(MarkerOutput {
            path: p.rel,
            kind: p.kind,
            bytes: p.written.bytes,
            xxh3: hex64(p.written.xxh3),
            rows: p.rows,
        });
    }
    let mut counts = result.counts;
    counts.bytes_out = outputs.iter().map(|o| o.bytes).sum();
    let marker = Marker {
        stage: stage.name().to_string(),
        task,
        tasks: run.tasks,
        config_hash: hash.to_string(),
        corpus_version: env!("CARGO_PKG_VERSION").to_string(),
        inputs: result.inputs,
        outputs,
        counts,
        seconds: started.elapsed().as_secs_f64(),
        extra: result.extra,
    };
    run.storage
        .put(&marker_loc, serde_json::to_vec_pretty(&marker)?)?;
    run.storage.delete_prefix(&tmp)?;
    tracing::info!(
        "{}: task {}/{} done: {} docs in, {} out, {} rejected, {:.1}s",
        stage.name(),
        task + 1,
        run.tasks,
        marker.counts.docs_in,
        marker.counts.docs_out,
        marker.counts.docs_rejected,
        marker.seconds
    );
    progress.task_done(0);
    Ok(TaskOutcome::Ran)
}

/// When every task of a stage has its marker, writes the stage report and runs [`Stage::finish`].
/// Deterministic and idempotent, so whichever task finishes last (on any machine) may do it.
pub fn finish_if_complete(run: &RunContext, stage: &dyn Stage) -> Result<bool> {
    let hash = run.hash_of(stage.name())?;
    let markers = read_markers(run, stage.dir())?;
    if markers.len() != run.tasks || markers.iter().any(|m| m.config_hash != hash) {
        return Ok(false);
    }
    write_report(run, stage.name(), &stage.report(), &markers)?;
    stage
        .finish(run, &markers)
        .with_context(|| format!("finishing stage {}", stage.name()))?;
    Ok(true)
}

/// Where an iterative stage stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundState {
    /// Converged: its final markers exist.
    Done,
    /// The next round to run (every earlier round is complete and not converged).
    Next(usize),
}

/// Finds the first round of an iterative stage that is not complete; when the last complete round
/// converged, writes the stage's final markers (idempotent: any process may do it) and says so. Fails when
/// the stage used up its rounds without converging.
pub fn round_state(run: &RunContext, stage: &dyn Stage) -> Result<RoundState> {
    let hash = run.hash_of(stage.name())?;
    let max_rounds = stage.max_rounds(run).unwrap_or(1);
    let finals = read_markers(run, stage.dir())?;
    if finals.len() == run.tasks && finals.iter().all(|m| m.config_hash == hash) {
        return Ok(RoundState::Done);
    }
    for round in 0..max_rounds {
        let markers = read_markers(run, &round_dir(stage.dir(), round))?;
        if markers.len() != run.tasks || markers.iter().any(|m| m.config_hash != hash) {
            return Ok(RoundState::Next(round));
        }
        if stage.converged(&markers) {
            for m in &markers {
                run.storage.put(
                    &marker_location(run, stage.dir(), m.task),
                    serde_json::to_vec_pretty(m)?,
                )?;
            }
            tracing::info!("{}: converged after {} rounds", stage.name(), round + 1);
            return Ok(RoundState::Done);
        }
    }
    bail!(
        "stage {} did not converge in {max_rounds} rounds: raise the limit in the config",
        stage.name()
    )
}

/// Runs every task of one stage on the current rayon pool (every round of an iterative stage); returns how
/// many tasks ran and how many were skipped.
pub fn run_stage(
    run: &RunContext,
    stage: &dyn Stage,
    hash: &str,
    progress: &StageProgress,
) -> Result<(usize, usize)> {
    if stage.max_rounds(run).is_none() {
        return run_round(run, stage, hash, 0, progress);
    }
    let (mut ran, mut skipped) = (0, 0);
    while let RoundState::Next(round) = round_state(run, stage)? {
        let (r, s) = run_round(run, stage, hash, round, progress)?;
        ran += r;
        skipped += s;
    }
    finish_if_complete(run, stage)?;
    Ok((ran, skipped))
}

fn run_round(
    run: &RunContext,
    stage: &dyn Stage,
    hash: &str,
    round: usize,
    progress: &StageProgress,
) -> Result<(usize, usize)> {
    let ran = AtomicU64::new(0);
    let skipped = AtomicU64::new(0);
    let errors: Mutex<BTreeMap<usize, anyhow::Error>> = Mutex::new(BTreeMap::new());
    (0..run.tasks).into_par_iter().for_each(|task| {
        match run_one_task(run, stage, hash, (task, round), progress, false) {
            Ok(TaskOutcome::Ran) => {
                ran.fetch_add(1, Ordering::Relaxed);
            }
            Ok(TaskOutcome::Skipped) => {
                skipped.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                if let Ok(mut errs) = errors.lock() {
                    errs.insert(task, e);
                }
            }
        }
    });
    let mut errors = errors
        .into_inner()
        .map_err(|_| anyhow!("error list poisoned"))?;
    let failed = errors.len();
    if let Some((_, first)) = errors.pop_first() {
        return Err(first.context(format!("{failed} task(s) of stage {} failed", stage.name())));
    }
    if stage.max_rounds(run).is_none() {
        finish_if_complete(run, stage)?;
    }
    Ok((
        ran.load(Ordering::Relaxed) as usize,
        skipped.load(Ordering::Relaxed) as usize,
    ))
}

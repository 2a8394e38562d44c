//! The two executors: [`build`] runs every stage locally (`corpus build`), [`one_task`] runs one task of
//! one stage (`corpus stage`, a cluster array element). Both go through the same task contract.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};

use super::{
    RoundState, check_or_reset, compute_hashes, finish_if_complete, read_markers, round_dir,
    round_state, run_one_task, run_stage, write_run_json,
};
use crate::config::ConfigError;
use crate::plan::{Overrides, plan};
use crate::progress::StageProgress;
use crate::stages;
use corpus_store::{Location, Storage};

/// Runs every stage of the config locally, stage after stage, each stage's tasks in parallel on `pool`;
/// finished tasks are skipped, so a killed build resumes. Returns the work directory.
pub fn build(
    storage: &Arc<Storage>,
    config: &Path,
    overrides: &Overrides,
    pool: &rayon::ThreadPool,
    force: bool,
) -> Result<Location> {
    let mut run = plan(storage, config, overrides)?;
    let stages = stages::all();
    let hashes = compute_hashes(&mut run, &stages);
    let reset = check_or_reset(&run, &stages, &hashes, force)?;
    if !reset.is_empty() {
        tracing::warn!(
            "--force: discarded results of stages {} from a different configuration",
            reset.join(", ")
        );
    }
    write_run_json(&run, &stages, &hashes)?;
    tracing::info!(
        "building {} from {} input files of {} sources: {} tasks per stage, {} threads",
        run.work,
        run.inputs.len(),
        run.config.sources.len(),
        run.tasks,
        pool.current_num_threads()
    );
    for (stage, hash) in stages.iter().zip(&hashes) {
        let progress = StageProgress::new(stage.name(), run.tasks);
        let (ran, skipped) = pool.install(|| run_stage(&run, stage.as_ref(), hash, &progress))?;
        progress.finish();
        tracing::info!("{}: {ran} tasks ran, {skipped} skipped", stage.name());
    }
    Ok(run.work)
}

/// Runs exactly one task of one stage (what a cluster scheduler calls); an iterative stage runs this
/// task's next round. The last task of a stage to finish writes its report.
pub fn one_task(
    storage: &Arc<Storage>,
    name: &str,
    config: &Path,
    task: usize,
    overrides: &Overrides,
    pool: &rayon::ThreadPool,
    force: bool,
) -> Result<()> {
    let mut run = plan(storage, config, overrides)?;
    let stages = stages::all();
    let Some(index) = stages.iter().position(|s| s.name() == name) else {
        return Err(ConfigError::invalid(
            "stage",
            format!(
                "unknown stage '{name}' (allowed: {})",
                stages::names().join(", ")
            ),
        )
        .into());
    };
    if task >= run.tasks {
        return Err(ConfigError::invalid(
            "--task",
            format!(
                "{task} is out of range for {} tasks (0..{})",
                run.tasks, run.tasks
            ),
        )
        .into());
    }
    let hashes = compute_hashes(&mut run, &stages);
    write_run_json(&run, &stages, &hashes)?;
    let stage = stages[index].as_ref();
    let progress = StageProgress::hidden();
    if stage.max_rounds(&run).is_some() {
        // One round's task per call: a scheduler submits rounds as dependent job arrays; calls after
        // convergence do nothing.
        match round_state(&run, stage)? {
            RoundState::Done => {
                tracing::info!("{}: converged, nothing to do", stage.name());
                finish_if_complete(&run, stage)?;
                return Ok(());
            }
            RoundState::Next(round) => {
                // Every earlier round is complete; if this task already did this one, its next round
                // needs the others to finish it first.
                let done = read_markers(&run, &round_dir(stage.dir(), round))?;
                if done.iter().any(|m| m.task == task) {
                    bail!(
                        "{}: task {task} finished round {round}, but round {round} is not complete \
                         ({}/{} tasks): run those first",
                        stage.name(),
                        done.len(),
                        run.tasks
                    );
                }
                tracing::info!("{}: round {round}, task {task}", stage.name());
                pool.install(|| {
                    run_one_task(&run, stage, &hashes[index], (task, round), &progress, force)
                })?;
                if round_state(&run, stage)? == RoundState::Done && finish_if_complete(&run, stage)?
                {
                    tracing::info!("{}: converged, report written", stage.name());
                }
                return Ok(());
            }
        }
    }
    pool.install(|| run_one_task(&run, stage, &hashes[index], (task, 0), &progress, force))?;
    if finish_if_complete(&run, stage)? {
        tracing::info!(
            "{}: all {} tasks done, report written",
            stage.name(),
            run.tasks
        );
    }
    Ok(())
}

//! `corpus stage NAME --task I`: one task of one stage, for a cluster scheduler's array element.

use std::path::PathBuf;

use anyhow::Result;

use super::thread_pool;
use crate::plan::Overrides;
use crate::runner::executor;
use corpus_store::Storage;

/// The flags of `corpus stage`.
#[derive(Debug, clap::Args)]
pub struct StageArgs {
    /// Stage name: ingest, quality, dedup-signatures, dedup-candidates, dedup-components (one round per
    /// call, until it converges), dedup-clusters, dedup-filter, decontam-count, decontaminate,
    /// tokenize, mix or shard.
    name: String,
    /// The run configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Task index, 0-based.
    #[arg(long)]
    task: usize,
    /// Number of tasks of the stage; overrides run.tasks.
    #[arg(long)]
    tasks: Option<usize>,
    /// Work directory (local path or s3://bucket/prefix); overrides run.work.
    #[arg(long)]
    work: Option<String>,
    /// Worker threads for this task (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Replace this task's result if it came from a different configuration.
    #[arg(long)]
    force: bool,
}

/// Runs `corpus stage`.
pub fn run(args: &StageArgs) -> Result<()> {
    let pool = thread_pool(args.threads)?;
    let storage = Storage::new()?;
    let overrides = Overrides {
        work: args.work.clone(),
        tasks: args.tasks,
    };
    executor::one_task(
        &storage,
        &args.name,
        &args.config,
        args.task,
        &overrides,
        &pool,
        args.force,
    )
}

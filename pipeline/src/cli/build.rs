//! `corpus build`: every stage of a config on this machine, then a summary of the shards.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::{inspect, thread_pool};
use crate::plan::Overrides;
use crate::runner::executor;
use corpus_store::Storage;

/// The flags of `corpus build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The run configuration (TOML), e.g. configs/quickstart.toml.
    #[arg(long)]
    config: PathBuf,
    /// Work directory (local path or s3://bucket/prefix); overrides run.work.
    #[arg(long)]
    work: Option<String>,
    /// Tasks per stage; overrides run.tasks. Output bytes do not depend on it.
    #[arg(long)]
    tasks: Option<usize>,
    /// Worker threads (default: all cores). Output bytes do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Discard results of a different configuration found in the work directory instead of refusing.
    #[arg(long)]
    force: bool,
}

/// Runs `corpus build`.
pub fn run(args: &BuildArgs) -> Result<()> {
    let started = Instant::now();
    let pool = thread_pool(args.threads)?;
    let storage: Arc<Storage> = Storage::new()?;
    let overrides = Overrides {
        work: args.work.clone(),
        tasks: args.tasks,
    };
    let work = executor::build(&storage, &args.config, &overrides, &pool, args.force)?;
    // The shard stage has just written and hashed every shard: the summary needs only the manifest.
    let summary = inspect::shards(&storage, work.url(), false)?;
    tracing::info!(
        "done in {:.1}s: {} shards, {} tokens, {} documents in {}",
        started.elapsed().as_secs_f64(),
        summary["shards"].as_u64().unwrap_or(0),
        summary["tokens"].as_u64().unwrap_or(0),
        summary["documents"].as_u64().unwrap_or(0),
        work.child("shards")
    );
    Ok(())
}

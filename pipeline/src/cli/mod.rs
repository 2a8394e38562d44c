//! The `corpus` command line, one file per command: `build` runs every stage locally, `stage` runs one
//! task (what a cluster scheduler calls), `status` and `inspect` read a work directory, `report` queries
//! its reports with SQL, `bench` measures one component, `quality` trains and checks the quality
//! filters, `train` trains the bundled GPT on the shards. Exit codes: 0 success, 1 failure while
//! working, 2 a configuration (or usage) that was refused before any work started.

mod bench;
mod build;
mod inspect;
mod quality;
mod report;
mod stage;
mod status;
mod train;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::ConfigError;
use crate::progress::LogWriter;
use crate::runner::ConfigChanged;

/// Builds GPT-3-style pre-training corpora: raw sources in, llm.c token shards and Parquet reports out.
#[derive(Debug, Parser)]
#[command(name = "corpus", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every stage of a config locally, stage after stage, tasks in parallel; finished tasks are skipped.
    Build(build::BuildArgs),
    /// Run exactly one task of one stage (for a cluster scheduler: Slurm array index, indexed Job...).
    Stage(stage::StageArgs),
    /// Show, per stage, tasks done / total and documents in / out / rejected.
    Status(status::StatusArgs),
    /// Measure a component on one core; prints one JSON line (see BENCHMARKS.md).
    Bench {
        /// What to measure.
        #[command(subcommand)]
        what: bench::BenchCommand,
    },
    /// Train the quality classifier, or see what the rule filters decide on some files.
    Quality {
        /// What to do.
        #[command(subcommand)]
        what: quality::QualityCommand,
    },
    /// Look at the outputs of a run.
    Inspect {
        /// What to inspect.
        #[command(subcommand)]
        what: inspect::InspectCommand,
    },
    /// Query the Parquet reports of a run with SQL (each `reports/*.parquet` is a table named after its
    /// file stem, `-` as `_`).
    Report {
        /// Which report.
        #[command(subcommand)]
        what: report::ReportCommand,
    },
    /// Train the bundled GPT on the shards of a work directory (CPU reference trainer): a progress line or
    /// JSON object per step, validation loss, checkpoints, --resume.
    Train(train::TrainArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("CORPUS_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<ConfigError>().is_some()
                || e.downcast_ref::<ConfigChanged>().is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

pub(crate) fn thread_pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    let n = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if n == 0 {
        return Err(ConfigError::invalid("--threads", "must be at least 1").into());
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("corpus-worker-{i}"))
        .build()
        .context("cannot start worker threads")
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Build(args) => build::run(&args),
        Command::Stage(args) => stage::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Bench { what } => bench::run(what),
        Command::Quality { what } => quality::run(what),
        Command::Inspect { what } => inspect::run(what),
        Command::Report { what } => report::run(what),
        Command::Train(args) => train::run(&args),
    }
}

fn print_report(
    report: &serde_json::Value,
    json: bool,
    render: fn(&serde_json::Value) -> String,
) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", render(report));
    }
    Ok(())
}

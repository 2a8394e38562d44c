//! The `corpus` command line: `build` runs every stage locally, `stage` runs one task (what a cluster
//! scheduler calls), `status` and `inspect` read a work directory. Exit codes: 0 success, 1 failure while
//! working, 2 a configuration (or usage) that was refused before any work started.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::ConfigError;
use crate::plan::{Overrides, plan};
use crate::progress::{LogWriter, StageProgress};
use crate::runner::{
    ConfigChanged, RoundState, check_or_reset, compute_hashes, finish_if_complete, read_markers,
    round_dir, round_state, run_one_task, run_stage, write_run_json,
};
use crate::storage::Storage;
use crate::{bench, inspect, quality_tool, stages};

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
    Build {
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
    },
    /// Run exactly one task of one stage (for a cluster scheduler: Slurm array index, indexed Job...).
    Stage {
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
    },
    /// Show, per stage, tasks done / total and documents in / out / rejected.
    Status {
        /// Work directory of the run.
        #[arg(long)]
        work: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Measure a component on one core; prints one JSON line (see BENCHMARKS.md).
    Bench {
        /// What to measure.
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Train the quality classifier, or see what the rule filters decide on some files.
    Quality {
        /// What to do.
        #[command(subcommand)]
        what: QualityCommand,
    },
    /// Look at the outputs of a run.
    Inspect {
        /// What to inspect.
        #[command(subcommand)]
        what: InspectCommand,
    },
    /// Query the Parquet reports of a run with SQL (each `reports/*.parquet` is a table named after its
    /// file stem, `-` as `_`).
    Report {
        /// Which report.
        #[command(subcommand)]
        what: ReportCommand,
    },
    /// Train the bundled GPT on the shards of a work directory (CPU reference trainer): a progress line or
    /// JSON object per step, validation loss, checkpoints, --resume.
    Train(crate::train::TrainArgs),
}

/// `corpus report` targets.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Benchmark contamination like GPT-3 Table C.1: per benchmark N, total, dirty, clean, clean %.
    /// Tables: contamination_summary (one row per benchmark), contamination_examples (one row per
    /// benchmark example) and every other report of the run.
    Contamination {
        /// Work directory of the run (local path or s3://bucket/prefix).
        #[arg(long)]
        work: String,
        /// Run this read-only SQL query instead of the summary, e.g. "SELECT benchmark, example,
        /// first_doc FROM contamination_examples WHERE dirty ORDER BY matches DESC LIMIT 10".
        #[arg(long)]
        sql: Option<String>,
        /// Print one JSON object per row instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `corpus bench` targets.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Read one input file with a source reader: input MB/s, text MB/s, documents/s, counts.
    Read {
        /// Reader format: jsonl, text, wikipedia-xml, parquet, ...
        #[arg(long)]
        format: String,
        /// The input file (local path or s3:// URL).
        #[arg(long)]
        input: String,
        /// Text field (jsonl, parquet).
        #[arg(long, default_value = "text")]
        text_field: String,
        /// Read the file this many times (small files give steadier figures).
        #[arg(long, default_value_t = 1)]
        repeat: u32,
    },
    /// The full quality rule chain (Gopher repetition, Gopher quality, C4, FineWeb) over a JSONL file held
    /// in memory: MB/s and documents/s.
    Filters {
        /// The input JSONL file (optionally .gz/.zst).
        #[arg(long)]
        input: String,
        /// Text field.
        #[arg(long, default_value = "text")]
        text_field: String,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Run the chain over the documents this many times.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Use the rule settings a config gives `--source` instead of the published defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The source of `--config` whose settings apply.
        #[arg(long)]
        source: Option<String>,
    },
    /// The dedup stage's per-document signature work (normalise, shingle, MinHash, band keys) over a
    /// JSONL file held in memory: MB/s and documents/s.
    Minhash {
        /// The input JSONL file (optionally .gz/.zst).
        #[arg(long)]
        input: String,
        /// Text field.
        #[arg(long, default_value = "text")]
        text_field: String,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Timed passes over the documents (after one untimed warm-up pass).
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// `words` (word n-gram shingles, bands × rows permutations) or `gpt3` (Spark MinHashLSH over
        /// the classifier's hashed tokens, 10 tables).
        #[arg(long, default_value = "words")]
        mode: String,
        /// LSH bands (words mode).
        #[arg(long, default_value_t = corpus_dedup::DEFAULT_BANDS)]
        bands: usize,
        /// MinHash values per band (words mode).
        #[arg(long, default_value_t = corpus_dedup::DEFAULT_ROWS)]
        rows: usize,
        /// Words per shingle (words mode).
        #[arg(long, default_value_t = corpus_dedup::DEFAULT_SHINGLE_WORDS)]
        ngram: usize,
    },
    /// The decontaminate stage's per-document work (find benchmark n-grams, excise them with 200
    /// characters on each side) over a JSONL file held in memory: MB/s and documents/s.
    Decontam {
        /// The input JSONL file (optionally .gz/.zst).
        #[arg(long)]
        input: String,
        /// Text field.
        #[arg(long, default_value = "text")]
        text_field: String,
        /// Benchmark files (format from the extension: .jsonl, .json, .tsv, .csv, .parquet, .txt).
        #[arg(long, num_args = 1.., required = true)]
        benchmarks: Vec<String>,
        /// Per benchmark, in the same order, the comma-separated fields that form an example (default:
        /// every top-level string field of a JSONL file's first record).
        #[arg(long, num_args = 1..)]
        fields: Vec<String>,
        /// Normalisation: `gpt3` or `janitor` (lm-evaluation-harness).
        #[arg(long, default_value = "gpt3")]
        mode: String,
        /// Words per n-gram for every benchmark (default: chosen per benchmark, GPT-3 App. C).
        #[arg(long)]
        ngram: Option<usize>,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Timed passes over the documents (after one untimed warm-up pass).
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Write each document's cleaned pieces here as JSON lines (not timed), to compare with a peer.
        #[arg(long)]
        pieces: Option<String>,
    },
    /// The tokenize stage's encoding (`Tokenizer::encode_batch`) over a JSONL file held in memory:
    /// MB/s, tokens/s and documents/s, and a checksum of the ids.
    Tokenize {
        /// The input JSONL file (optionally .gz/.zst; a glob reads several).
        #[arg(long)]
        input: String,
        /// Text field.
        #[arg(long, default_value = "text")]
        text_field: String,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Timed passes over the documents (after one untimed warm-up pass).
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// r50k_base, cl100k_base or o200k_base.
        #[arg(long, default_value = "r50k_base")]
        encoding: String,
        /// `native` or `tiktoken-rs` (default: the one the tokenize stage uses for the encoding).
        #[arg(long)]
        engine: Option<String>,
        /// Also encode every document with tiktoken-rs (not timed) and report the documents whose ids
        /// differ.
        #[arg(long)]
        check: bool,
        /// Write the ids here (not timed): per document, a little-endian u32 count, then the ids as
        /// little-endian u32, to compare with a peer.
        #[arg(long)]
        ids_out: Option<String>,
    },
}

/// `corpus quality` subcommands.
#[derive(Debug, Subcommand)]
pub enum QualityCommand {
    /// Train the quality classifier: curated text against unfiltered web text; prints held-out accuracy
    /// and AUC as JSON and writes a versioned model file for `[quality.classifier] model = ...`.
    Train {
        /// Globs of curated documents (WebText2, Wikipedia, books); format from the file names.
        #[arg(long, num_args = 1.., required = true)]
        positive: Vec<String>,
        /// Globs of unfiltered Common Crawl documents.
        #[arg(long, num_args = 1.., required = true)]
        negative: Vec<String>,
        /// Where the model goes (local path or s3:// URL).
        #[arg(long)]
        out: String,
        /// Model: `gpt3` (the paper's hashed unigram counts) or `bigram` (hashed, log-scaled bigrams).
        #[arg(long, default_value = "gpt3")]
        kind: String,
        /// L2 regularisation strength (default: the model kind's, 0.1 for gpt3, 1e-4 for bigram).
        #[arg(long)]
        l2: Option<f64>,
        /// Fraction of documents held out to measure accuracy and AUC.
        #[arg(long, default_value_t = 0.2)]
        holdout: f64,
        /// Seed of the held-out split.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Reader format of every input, when the file names do not tell.
        #[arg(long)]
        format: Option<String>,
    },
    /// Run every rule filter independently on each document of some files; writes one JSON line per
    /// document with each filter's decision (reason, measured value, threshold) and prints the counts.
    Check {
        /// Globs of input files; format from the file names.
        #[arg(long, num_args = 1.., required = true)]
        input: Vec<String>,
        /// Output JSON Lines file, `-` for standard output.
        #[arg(long, default_value = "-")]
        out: String,
        /// Reader format of every input, when the file names do not tell.
        #[arg(long)]
        format: Option<String>,
        /// Text field (jsonl, parquet).
        #[arg(long, default_value = "text")]
        text_field: String,
        /// Use the rule settings a config gives `--source` instead of the published defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The source of `--config` whose settings apply.
        #[arg(long)]
        source: Option<String>,
    },
}

/// `corpus inspect` targets.
#[derive(Debug, Subcommand)]
pub enum InspectCommand {
    /// Shard count, tokens, documents, tokens per source, file checks and a decoded sample.
    Shards {
        /// Work directory of the run.
        #[arg(long)]
        work: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Check each shard's size only, without reading every payload to verify its checksum.
        #[arg(long)]
        no_checksums: bool,
    },
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
        Command::Build {
            config,
            work,
            tasks,
            threads,
            force,
        } => {
            let pool = thread_pool(threads)?;
            build(&config, &Overrides { work, tasks }, &pool, force)
        }
        Command::Stage {
            name,
            config,
            task,
            tasks,
            work,
            threads,
            force,
        } => {
            let pool = thread_pool(threads)?;
            one_task(
                &name,
                &config,
                task,
                &Overrides { work, tasks },
                &pool,
                force,
            )
        }
        Command::Status { work, json } => {
            let storage = Storage::new()?;
            let report = inspect::status(&storage, &work)?;
            print_report(&report, json, inspect::render_status)
        }
        Command::Bench {
            what:
                BenchCommand::Read {
                    format,
                    input,
                    text_field,
                    repeat,
                },
        } => {
            let storage = Storage::new()?;
            println!(
                "{}",
                bench::read(&storage, &format, &input, &text_field, repeat)?
            );
            Ok(())
        }
        Command::Bench {
            what:
                BenchCommand::Filters {
                    input,
                    text_field,
                    threads,
                    repeat,
                    config,
                    source,
                },
        } => {
            if threads == 0 {
                return Err(ConfigError::invalid("--threads", "must be at least 1").into());
            }
            let rules = quality_tool::rules_from(config.as_deref(), source.as_deref())?;
            let storage = Storage::new()?;
            let result = quality_tool::bench_filters(
                &storage,
                &input,
                &text_field,
                threads,
                repeat,
                &rules,
            )?;
            println!("{result}");
            Ok(())
        }
        Command::Bench {
            what:
                BenchCommand::Minhash {
                    input,
                    text_field,
                    threads,
                    repeat,
                    mode,
                    bands,
                    rows,
                    ngram,
                },
        } => {
            let storage = Storage::new()?;
            let settings = bench::MinhashBench {
                input: &input,
                text_field: &text_field,
                threads,
                repeat,
                mode: mode.parse()?,
                bands,
                rows,
                ngram,
            };
            println!("{}", bench::minhash(&storage, &settings)?);
            Ok(())
        }
        Command::Bench {
            what:
                BenchCommand::Decontam {
                    input,
                    text_field,
                    benchmarks,
                    fields,
                    mode,
                    ngram,
                    threads,
                    repeat,
                    pieces,
                },
        } => {
            let storage = Storage::new()?;
            let settings = bench::DecontamBench {
                input: &input,
                text_field: &text_field,
                benchmarks: &benchmarks,
                fields: &fields,
                mode: &mode,
                ngram,
                threads,
                repeat,
                pieces_out: pieces.as_deref(),
            };
            println!("{}", bench::decontam(&storage, &settings)?);
            Ok(())
        }
        Command::Bench {
            what:
                BenchCommand::Tokenize {
                    input,
                    text_field,
                    threads,
                    repeat,
                    encoding,
                    engine,
                    check,
                    ids_out,
                },
        } => {
            let storage = Storage::new()?;
            let settings = bench::TokenizeBench {
                input: &input,
                text_field: &text_field,
                threads,
                repeat,
                encoding: encoding
                    .parse()
                    .map_err(|e| ConfigError::invalid("--encoding", format!("{e}")))?,
                engine: engine
                    .map(|e| e.parse())
                    .transpose()
                    .map_err(|e| ConfigError::invalid("--engine", format!("{e}")))?,
                check,
                ids_out: ids_out.as_deref(),
            };
            println!("{}", bench::tokenize(&storage, &settings)?);
            Ok(())
        }
        Command::Quality {
            what:
                QualityCommand::Train {
                    positive,
                    negative,
                    out,
                    kind,
                    l2,
                    holdout,
                    seed,
                    format,
                },
        } => {
            let storage = Storage::new()?;
            let args = quality_tool::TrainArgs {
                positive: &positive,
                negative: &negative,
                out: &out,
                kind: &kind,
                l2,
                holdout,
                seed,
                format: format.as_deref(),
            };
            let report = quality_tool::train_model(&storage, &args)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Quality {
            what:
                QualityCommand::Check {
                    input,
                    out,
                    format,
                    text_field,
                    config,
                    source,
                },
        } => {
            let rules = quality_tool::rules_from(config.as_deref(), source.as_deref())?;
            let storage = Storage::new()?;
            let mut sink: Box<dyn std::io::Write> = if out == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(std::io::BufWriter::new(
                    std::fs::File::create(&out).with_context(|| format!("cannot create {out}"))?,
                ))
            };
            let counts = quality_tool::check(
                &storage,
                &input,
                format.as_deref(),
                &text_field,
                &rules,
                &mut sink,
            )?;
            eprintln!("{counts}");
            Ok(())
        }
        Command::Inspect {
            what:
                InspectCommand::Shards {
                    work,
                    json,
                    no_checksums,
                },
        } => {
            let storage = Storage::new()?;
            let report = inspect::shards(&storage, &work, !no_checksums)?;
            print_report(&report, json, inspect::render_shards)
        }
        Command::Train(args) => crate::train::run(&args),
        Command::Report {
            what: ReportCommand::Contamination { work, sql, json },
        } => {
            let storage = Storage::new()?;
            print!(
                "{}",
                crate::report_sql::contamination(&storage, &work, sql.as_deref(), json)?
            );
            Ok(())
        }
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

fn build(
    config: &std::path::Path,
    overrides: &Overrides,
    pool: &rayon::ThreadPool,
    force: bool,
) -> Result<()> {
    let started = Instant::now();
    let storage: Arc<Storage> = Storage::new()?;
    let mut run = plan(&storage, config, overrides)?;
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
    // The shard stage has just written and hashed every shard: the summary needs only the manifest.
    let summary = inspect::shards(&storage, run.work.url(), false)?;
    tracing::info!(
        "done in {:.1}s: {} shards, {} tokens, {} documents in {}",
        started.elapsed().as_secs_f64(),
        summary["shards"].as_u64().unwrap_or(0),
        summary["tokens"].as_u64().unwrap_or(0),
        summary["documents"].as_u64().unwrap_or(0),
        run.work.child("shards")
    );
    Ok(())
}

fn one_task(
    name: &str,
    config: &std::path::Path,
    task: usize,
    overrides: &Overrides,
    pool: &rayon::ThreadPool,
    force: bool,
) -> Result<()> {
    let storage: Arc<Storage> = Storage::new()?;
    let mut run = plan(&storage, config, overrides)?;
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

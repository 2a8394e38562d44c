//! `corpus train`: trains the bundled GPT (docs/ARCHITECTURE.md §7) on the shards of a work directory with the CPU
//! trainer of `corpus-trainer-feed`. Shards come through [`Storage`] (local files or S3, whole-shard
//! reads), listed by `shards/manifest.parquet`; the train split feeds the training steps in a seeded order,
//! the val split the validation loss. Prints one progress line (or JSON object) per step and writes a
//! checkpoint every K steps; `--resume` continues from it with exactly the losses of an uninterrupted run.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use bytes::Bytes;
use corpus_trainer_feed::{
    Feeder, GptConfig, SamplerConfig, TrainConfig, TrainError, Trainer, WindowError, WindowSampler,
};
use serde_json::json;

use crate::config::ConfigError;
use corpus_sharder::{ShardEntry, read_manifest};
use corpus_store::{Location, Storage};

/// The checkpoint's file name inside the checkpoint directory.
const CHECKPOINT_FILE: &str = "latest.safetensors";

/// The flags of `corpus train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The shards directory of a work directory (`W/shards`, local or s3://), with its manifest.parquet.
    #[arg(long)]
    pub data: String,
    /// Model preset: tiny, gpt2-124m, gpt2-350m or gpt3-125m.
    #[arg(long, default_value = "gpt2-124m")]
    pub model: String,
    /// `cpu`, or `cuda` (not in this build: the GPU trainer comes with a later release).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Sequences per micro-batch (B).
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Tokens per sequence (T), at most the model's context.
    #[arg(long, default_value_t = 64)]
    pub seq: usize,
    /// Optimisation steps of the run (the horizon of the cosine decay).
    #[arg(long)]
    pub steps: u64,
    /// Tokens per step over all ranks; a multiple of batch × seq × world-size, reached by gradient
    /// accumulation (default: one micro-batch per step).
    #[arg(long)]
    pub total_batch_tokens: Option<usize>,
    /// Peak learning rate (GPT-3 Small's 6e-4).
    #[arg(long, default_value_t = 6e-4)]
    pub lr: f64,
    /// Learning rate at the end of the cosine decay (default: lr / 10).
    #[arg(long)]
    pub min_lr: Option<f64>,
    /// Steps of linear warmup (default: steps / 10).
    #[arg(long)]
    pub warmup: Option<u64>,
    /// AdamW weight decay of the matrices.
    #[arg(long, default_value_t = 0.1)]
    pub weight_decay: f64,
    /// Maximum global gradient norm.
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,
    /// Seed of the initial weights and of the window order.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Compute the validation loss every this many steps (and after the last); 0 never.
    #[arg(long, default_value_t = 50)]
    pub val_every: u64,
    /// Batches of the val split per validation loss.
    #[arg(long, default_value_t = 8)]
    pub val_batches: usize,
    /// Write a checkpoint every this many steps (and after the last); 0 only after the last.
    #[arg(long, default_value_t = 250)]
    pub checkpoint_every: u64,
    /// Where checkpoints go (default: `checkpoints` beside the shards directory).
    #[arg(long)]
    pub checkpoint_dir: Option<String>,
    /// Continue from the checkpoint in the checkpoint directory (same flags as the run that wrote it).
    #[arg(long)]
    pub resume: bool,
    /// This process's data-parallel rank: it trains on its own disjoint share of the windows.
    #[arg(long, default_value_t = 0)]
    pub rank: usize,
    /// Number of data-parallel ranks.
    #[arg(long, default_value_t = 1)]
    pub world_size: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// `text` (a progress line per step) or `json` (one JSON object per step: step, loss, lr,
    /// tokens_per_s, time_ms, and val_loss when computed).
    #[arg(long, default_value = "text")]
    pub log_format: String,
}

/// A refused flag: exit code 2, the message naming the flag.
fn refuse(flag: &str, message: impl Into<String>) -> anyhow::Error {
    ConfigError::invalid(flag, message).into()
}

/// Runs `corpus train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    match args.device.as_str() {
        "cpu" => {}
        "cuda" => {
            return Err(refuse(
                "--device",
                "cuda: this build of corpus has no GPU trainer (it comes with a later release); \
                 use --device cpu",
            ));
        }
        other => return Err(refuse("--device", format!("'{other}' is not cpu or cuda"))),
    }
    let json_log = match args.log_format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            return Err(refuse(
                "--log-format",
                format!("'{other}' is not text or json"),
            ));
        }
    };
    let config = train_config(args)?;
    let pool = super::thread_pool(args.threads)?;
    let storage = Storage::new()?;
    let data = storage.resolve(&args.data)?;
    let (train_entries, val_entries) = manifest(&storage, &data)?;
    let sampler_config = SamplerConfig {
        seq_len: config.seq_len,
        seed: config.seed,
        rank: config.rank,
        world_size: config.world_size,
    };
    let mut train = WindowSampler::new(
        read_shards(&storage, &data, &train_entries)?,
        sampler_config,
    )
    .map_err(|e| window_error(e, &data, &train_entries))?;
    let val_config = SamplerConfig {
        seed: 0,
        ..sampler_config
    };
    let mut val = if val_entries.is_empty() {
        tracing::warn!("{data} has no val shards: no validation loss");
        None
    } else {
        match WindowSampler::new(read_shards(&storage, &data, &val_entries)?, val_config) {
            Ok(sampler) => Some(sampler),
            Err(e @ (WindowError::NoWindows { .. } | WindowError::TooFewWindows { .. })) => {
                tracing::warn!("no validation loss: the val split is too small: {e}");
                None
            }
            Err(e) => return Err(window_error(e, &data, &val_entries)),
        }
    };

    let checkpoint_dir = match &args.checkpoint_dir {
        Some(dir) => storage.resolve(dir)?,
        None => data
            .parent()
            .unwrap_or_else(|| data.clone())
            .child("checkpoints"),
    };
    let checkpoint = checkpoint_dir.child(CHECKPOINT_FILE);
    let mut trainer = if args.resume {
        let bytes = storage.get_opt(&checkpoint)?.ok_or_else(|| {
            refuse(
                "--resume",
                format!("there is no checkpoint at {checkpoint}"),
            )
        })?;
        Trainer::resume(&bytes, config.clone()).map_err(|e| match e {
            TrainError::Mismatch { .. } => refuse("--resume", format!("{checkpoint}: {e}")),
            TrainError::Invalid { .. } => flag_error(e),
            other => anyhow::Error::new(other).context(format!("cannot resume from {checkpoint}")),
        })?
    } else {
        if storage.head(&checkpoint)?.is_some() {
            tracing::warn!(
                "starting at step 0: {checkpoint} will be replaced (--resume continues it)"
            );
        }
        Trainer::new(config.clone()).map_err(flag_error)?
    };
    train.seek(trainer.data_position()).map_err(|e| {
        refuse(
            "--resume",
            format!("{checkpoint} was written over other shards: {e}"),
        )
    })?;
    tracing::info!(
        "training {} ({} parameters) on {} train windows of {} tokens ({} per rank and epoch), {} tokens \
         per step, steps {}..{}",
        config.model,
        trainer.model().params().len(),
        train.total_windows(),
        config.seq_len + 1,
        train.windows_per_epoch(),
        config.tokens_per_step() * config.world_size,
        trainer.step(),
        config.steps
    );
    let depth = 2 * config.accum_steps.max(2);
    let mut feeder = Feeder::spawn(train, config.batch, depth);
    pool.install(|| {
        while trainer.step() < config.steps {
            let started = Instant::now();
            let stats = trainer.train_step(&mut feeder).map_err(flag_error)?;
            let elapsed = started.elapsed().as_secs_f64();
            let val_loss = match &mut val {
                Some(val) if due(stats.step, args.val_every, config.steps) => {
                    Some(trainer.evaluate(val, args.val_batches.max(1)).map_err(flag_error)?)
                }
                _ => None,
            };
            if due(stats.step, args.checkpoint_every, config.steps) {
                // One put: atomic on every store, so a killed run leaves the previous checkpoint.
                storage.put(&checkpoint, Bytes::from(trainer.checkpoint()))?;
            }
            let tokens_per_s = config.tokens_per_step() as f64 / elapsed;
            if json_log {
                let mut line = json!({
                    "step": stats.step,
                    "loss": stats.loss,
                    "lr": stats.lr,
                    "tokens_per_s": tokens_per_s,
                    "time_ms": elapsed * 1e3,
                    "grad_norm": stats.grad_norm,
                });
                if let Some(v) = val_loss {
                    line["val_loss"] = json!(v);
                }
                println!("{line}");
            } else {
                let val = val_loss.map(|v| format!(" | val {v:.4}")).unwrap_or_default();
                println!(
                    "step {:>5}/{} | loss {:.4} | lr {:.2e} | norm {:.3} | {:.0} tok/s | {:.1} ms{val}",
                    stats.step,
                    config.steps,
                    stats.loss,
                    stats.lr,
                    stats.grad_norm,
                    tokens_per_s,
                    elapsed * 1e3
                );
            }
        }
        anyhow::Ok(())
    })?;
    tracing::info!("done: step {}, checkpoint {checkpoint}", trainer.step());
    Ok(())
}

/// True when step `step` is a multiple of `every` (> 0) or the last one.
fn due(step: u64, every: u64, steps: u64) -> bool {
    (every > 0 && step.is_multiple_of(every)) || step == steps
}

/// The run's [`TrainConfig`] from the flags, refusing the ones out of range.
fn train_config(args: &TrainArgs) -> Result<TrainConfig> {
    let model = GptConfig::preset(&args.model).map_err(|e| refuse("--model", e.to_string()))?;
    if args.batch == 0 {
        return Err(refuse("--batch", "must be at least 1"));
    }
    if args.seq == 0 || args.seq > model.context {
        return Err(refuse(
            "--seq",
            format!(
                "{} is not in 1..={}, the context of {}",
                args.seq, model.context, args.model
            ),
        ));
    }
    if args.world_size == 0 || args.rank >= args.world_size {
        return Err(refuse(
            "--rank",
            format!(
                "{} is not a rank of a world of {}",
                args.rank, args.world_size
            ),
        ));
    }
    let micro = args.batch * args.seq * args.world_size;
    let total = args.total_batch_tokens.unwrap_or(micro);
    if total == 0 || !total.is_multiple_of(micro) {
        return Err(refuse(
            "--total-batch-tokens",
            format!("{total} is not a positive multiple of batch × seq × world-size = {micro}"),
        ));
    }
    let config = TrainConfig {
        model,
        batch: args.batch,
        seq_len: args.seq,
        accum_steps: total / micro,
        steps: args.steps,
        max_lr: args.lr,
        min_lr: args.min_lr.unwrap_or(args.lr / 10.0),
        warmup: args.warmup.unwrap_or(args.steps / 10),
        weight_decay: args.weight_decay,
        grad_clip: args.grad_clip,
        seed: args.seed,
        rank: args.rank,
        world_size: args.world_size,
    };
    Ok(config)
}

/// A trainer error as the flag it is about (exit code 2), or as a failure while training.
fn flag_error(e: TrainError) -> anyhow::Error {
    match e {
        TrainError::Invalid { field, message } => {
            let flag = match field {
                "accum_steps" => "--total-batch-tokens".to_string(),
                "lr" => "--lr".to_string(),
                other => format!("--{other}"),
            };
            refuse(&flag, message)
        }
        other => anyhow::Error::new(other),
    }
}

/// The train and val entries of the manifest in `data`, each in shard order.
fn manifest(storage: &Arc<Storage>, data: &Location) -> Result<(Vec<ShardEntry>, Vec<ShardEntry>)> {
    let manifest = data.child("manifest.parquet");
    if storage.head(&manifest)?.is_none() {
        return Err(refuse(
            "--data",
            format!(
                "{manifest} does not exist: give the shards directory of a finished `corpus build`"
            ),
        ));
    }
    let entries = read_manifest(storage, &manifest)?;
    let split = |name: &str| {
        let mut entries: Vec<ShardEntry> = entries
            .iter()
            .filter(|e| e.split == name)
            .cloned()
            .collect();
        entries.sort_by_key(|e| e.shard);
        entries
    };
    let (train, val) = (split("train"), split("val"));
    if train.is_empty() {
        return Err(refuse(
            "--data",
            format!("{manifest} lists no train shards"),
        ));
    }
    Ok((train, val))
}

/// The bytes of the shards of `entries`, each read whole.
fn read_shards(
    storage: &Arc<Storage>,
    data: &Location,
    entries: &[ShardEntry],
) -> Result<Vec<Bytes>> {
    let mut shards = Vec::with_capacity(entries.len());
    for entry in entries {
        let location = data.child(&entry.file);
        let bytes = storage.get_opt(&location)?.ok_or_else(|| {
            refuse(
                "--data",
                format!("{location} is listed in the manifest but missing"),
            )
        })?;
        shards.push(bytes);
    }
    Ok(shards)
}

/// A sampler's refusal as the flag it is about: a bad shard is `--data`'s, no window `--seq`'s, fewer
/// windows than ranks `--world-size`'s.
fn window_error(e: WindowError, data: &Location, entries: &[ShardEntry]) -> anyhow::Error {
    match e {
        WindowError::BadShard { index, source } => refuse(
            "--data",
            format!(
                "{} is not a valid token shard: {source}",
                data.child(&entries[index].file)
            ),
        ),
        WindowError::NoWindows { .. } => refuse("--seq", e.to_string()),
        WindowError::TooFewWindows { .. } | WindowError::BadRank { .. } => {
            refuse("--world-size", e.to_string())
        }
        other => anyhow::Error::new(other).context("cannot cut training windows"),
    }
}

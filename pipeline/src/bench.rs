//! `corpus bench ...`: measurements that BENCHMARKS.md quotes, printed as one JSON line so a script can put
//! them next to a peer tool's figure from the same run.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::config::{ConfigError, SourceConfig};
use crate::sources::{Format, InputFile, Record, open_reader};
use crate::storage::Storage;

/// Runs one reader over one file, `repeat` times, on the calling thread; returns throughput and counts.
pub fn read(
    storage: &Arc<Storage>,
    format: &str,
    input: &str,
    text_field: &str,
    repeat: u32,
) -> Result<Value> {
    format
        .parse::<Format>()
        .map_err(|e| ConfigError::invalid("--format", e))?;
    let found = storage.glob(input)?;
    let Some(file) = found.first() else {
        bail!("{input} matches no file")
    };
    let source = SourceConfig {
        paths: vec![input.into()],
        text_field: text_field.into(),
        ..SourceConfig::with_defaults("bench", format)
    };
    let input_file = InputFile {
        source_index: 0,
        location: file.location.clone(),
        size: file.size,
        stem: "bench".into(),
        title: None,
    };
    let (mut docs, mut rejects, mut skips, mut text_bytes) = (0u64, 0u64, 0u64, 0u64);
    let started = Instant::now();
    for _ in 0..repeat.max(1) {
        for record in open_reader(storage, &source, &input_file)? {
            match record {
                Record::Doc(d) => {
                    docs += 1;
                    text_bytes += d.text.len() as u64;
                }
                Record::Reject(_) => rejects += 1,
                Record::Skip(_) => skips += 1,
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let input_bytes = file.size * u64::from(repeat.max(1));
    Ok(json!({
        "format": format,
        "input": file.location.url(),
        "threads": 1,
        "seconds": seconds,
        "input_MB_per_s": input_bytes as f64 / 1e6 / seconds,
        "text_MB_per_s": text_bytes as f64 / 1e6 / seconds,
        "docs_per_s": docs as f64 / seconds,
        "documents": docs,
        "rejects": rejects,
        "skips": skips,
    }))
}

/// What `corpus bench minhash` computes per document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinhashMode {
    /// Normalised word n-gram shingles, `bands × rows` MinHash permutations, band keys.
    Words,
    /// GPT-3's Spark MinHashLSH: hashed-token feature set, 10 tables, one key per table.
    Gpt3,
}

impl std::str::FromStr for MinhashMode {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "words" => Ok(Self::Words),
            "gpt3" => Ok(Self::Gpt3),
            other => Err(ConfigError::invalid(
                "--mode",
                format!("'{other}' is not a MinHash mode: words or gpt3"),
            )),
        }
    }
}

/// Settings of `corpus bench minhash`.
#[derive(Debug, Clone)]
pub struct MinhashBench<'a> {
    /// The JSONL input.
    pub input: &'a str,
    /// Its text field.
    pub text_field: &'a str,
    /// Worker threads.
    pub threads: usize,
    /// Passes over the documents that are timed.
    pub repeat: u32,
    /// Signature kind.
    pub mode: MinhashMode,
    /// LSH bands (words mode).
    pub bands: usize,
    /// Rows per band (words mode).
    pub rows: usize,
    /// Words per shingle (words mode).
    pub ngram: usize,
}

/// Times the per-document signature work of the dedup stage over the documents of one JSONL file held in
/// memory: for `words`, normalise → shingle → MinHash signature → band keys; for `gpt3`, Spark features →
/// signature → table keys. One untimed pass first (it builds the normaliser's character table and warms
/// caches), then `repeat` timed passes on `threads` threads. The XOR of all band keys is printed as a
/// checksum: equal for any thread count.
pub fn minhash(storage: &Arc<Storage>, settings: &MinhashBench<'_>) -> Result<Value> {
    use corpus_dedup::{
        GPT3_HASH_TABLES, MinHasher, SPARK_DEFAULT_SEED, SparkMinHash, normalize_for_shingles,
        permutation_kernel, word_shingles,
    };
    use rayon::prelude::*;

    let docs = crate::quality_tool::read_documents(
        storage,
        &[settings.input.to_string()],
        Some("jsonl"),
        settings.text_field,
        "--input",
    )?;
    if docs.is_empty() {
        bail!("{} holds no documents", settings.input);
    }
    if settings.threads == 0 {
        return Err(ConfigError::invalid("--threads", "must be at least 1").into());
    }
    if settings.ngram == 0 {
        return Err(ConfigError::invalid("--ngram", "must be at least 1").into());
    }
    let words = MinHasher::new(settings.bands, settings.rows, 1)
        .map_err(|e| ConfigError::invalid("--bands/--rows", e.to_string()))?;
    let spark = SparkMinHash::new(GPT3_HASH_TABLES, SPARK_DEFAULT_SEED)
        .map_err(|e| ConfigError::invalid("gpt3 tables", e.to_string()))?;
    let band_keys = |text: &str| -> Result<Vec<u64>, corpus_dedup::MinHashError> {
        match settings.mode {
            MinhashMode::Words => {
                let normalized = normalize_for_shingles(text);
                words.band_hashes(&words.signature(word_shingles(&normalized, settings.ngram)))
            }
            MinhashMode::Gpt3 => spark.band_hashes(&spark.signature(&spark.features(text))),
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.threads)
        .build()
        .context("cannot start worker threads")?;
    let pass = || -> Result<u64> {
        pool.install(|| {
            docs.par_iter()
                .map(|(_, text)| Ok(band_keys(text)?.into_iter().fold(0, |x, key| x ^ key)))
                .try_reduce(|| 0, |x, y| Ok(x ^ y))
        })
    };
    let checksum = pass()?;
    let repeat = settings.repeat.max(1);
    let started = Instant::now();
    for _ in 0..repeat {
        pass()?;
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let bytes: u64 = docs.iter().map(|(_, t)| t.len() as u64).sum();
    let total = bytes * u64::from(repeat);
    let (mode, bands, rows, ngram) = match settings.mode {
        MinhashMode::Words => ("words", settings.bands, settings.rows, Some(settings.ngram)),
        MinhashMode::Gpt3 => ("gpt3", GPT3_HASH_TABLES, 1, None),
    };
    Ok(json!({
        "bench": "minhash",
        "input": settings.input,
        "mode": mode,
        "threads": settings.threads,
        "bands": bands,
        "rows": rows,
        "ngram": ngram,
        "kernel": permutation_kernel(),
        "docs": docs.len(),
        "bytes": bytes,
        "repeat": repeat,
        "seconds": seconds,
        "MB_per_s": total as f64 / 1e6 / seconds,
        "docs_per_s": (docs.len() as u64 * u64::from(repeat)) as f64 / seconds,
        "checksum": format!("{checksum:016x}"),
    }))
}

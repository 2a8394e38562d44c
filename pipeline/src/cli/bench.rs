//! `corpus bench ...`: measurements that BENCHMARKS.md quotes, printed as one JSON line so a script can put
//! them next to a peer tool's figure from the same run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use clap::Subcommand;

use corpus_quality::rules::{RuleChain, RulesConfig};
use rayon::prelude::*;

use super::quality::{read_documents, rules_from};
use crate::config::{ConfigError, SourceConfig};
use corpus_readers::{Format, InputFile, Record, open_reader};
use corpus_store::Storage;

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
    Filters(FiltersArgs),
    /// The dedup stage's per-document signature work (normalise, shingle, MinHash, band keys) over a
    /// JSONL file held in memory: MB/s and documents/s.
    Minhash(MinhashArgs),
    /// The decontaminate stage's per-document work (find benchmark n-grams, excise them with 200
    /// characters on each side) over a JSONL file held in memory: MB/s and documents/s.
    Decontam(DecontamArgs),
    /// The tokenize stage's encoding (`Tokenizer::encode_batch`) over a JSONL file held in memory:
    /// MB/s, tokens/s and documents/s, and a checksum of the ids.
    Tokenize(TokenizeArgs),
}

/// The documents a bench measures, and how.
#[derive(Debug, clap::Args)]
pub struct BenchInput {
    /// The input JSONL file (optionally .gz/.zst; a glob reads several).
    #[arg(long)]
    pub input: String,
    /// Text field.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Timed passes over the documents (after one untimed warm-up pass).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
}

impl BenchInput {
    /// Reads every document of `--input` into memory, as `(id, text)`; an input without documents is an
    /// error.
    pub fn documents(&self, storage: &Arc<Storage>) -> Result<Vec<(String, String)>> {
        let docs = read_documents(
            storage,
            std::slice::from_ref(&self.input),
            Some("jsonl"),
            &self.text_field,
            "--input",
        )?;
        if docs.is_empty() {
            bail!("{} holds no documents", self.input);
        }
        Ok(docs)
    }
}

/// The flags of `corpus bench filters`.
#[derive(Debug, clap::Args)]
pub struct FiltersArgs {
    /// The documents and the passes over them.
    #[command(flatten)]
    pub common: BenchInput,
    /// Use the rule settings a config gives `--source` instead of the published defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The source of `--config` whose settings apply.
    #[arg(long)]
    pub source: Option<String>,
}

/// The flags of `corpus bench minhash`.
#[derive(Debug, clap::Args)]
pub struct MinhashArgs {
    /// The documents and the passes over them.
    #[command(flatten)]
    pub common: BenchInput,
    /// `words` (word n-gram shingles, bands × rows permutations) or `gpt3` (Spark MinHashLSH over
    /// the classifier's hashed tokens, 10 tables).
    #[arg(long, default_value = "words")]
    pub mode: String,
    /// LSH bands (words mode).
    #[arg(long, default_value_t = corpus_dedup::DEFAULT_BANDS)]
    pub bands: usize,
    /// MinHash values per band (words mode).
    #[arg(long, default_value_t = corpus_dedup::DEFAULT_ROWS)]
    pub rows: usize,
    /// Words per shingle (words mode).
    #[arg(long, default_value_t = corpus_dedup::DEFAULT_SHINGLE_WORDS)]
    pub ngram: usize,
}

/// The flags of `corpus bench decontam`.
#[derive(Debug, clap::Args)]
pub struct DecontamArgs {
    /// The documents (the training side) and the passes over them.
    #[command(flatten)]
    pub common: BenchInput,
    /// Benchmark files (format from the extension: .jsonl, .json, .tsv, .csv, .parquet, .txt).
    #[arg(long, num_args = 1.., required = true)]
    pub benchmarks: Vec<String>,
    /// Per benchmark, in the same order, the comma-separated fields that form an example (default:
    /// every top-level string field of a JSONL file's first record).
    #[arg(long, num_args = 1..)]
    pub fields: Vec<String>,
    /// Normalisation: `gpt3` or `janitor` (lm-evaluation-harness).
    #[arg(long, default_value = "gpt3")]
    pub mode: String,
    /// Words per n-gram for every benchmark (default: chosen per benchmark, GPT-3 App. C).
    #[arg(long)]
    pub ngram: Option<usize>,
    /// Write each document's cleaned pieces here as JSON lines (`{"hits": ..., "pieces": [...]}`), in
    /// input order, not timed, to compare with a peer.
    #[arg(long)]
    pub pieces: Option<String>,
}

/// The flags of `corpus bench tokenize`.
#[derive(Debug, clap::Args)]
pub struct TokenizeArgs {
    /// The documents and the passes over them.
    #[command(flatten)]
    pub common: BenchInput,
    /// r50k_base, cl100k_base or o200k_base.
    #[arg(long, default_value = "r50k_base")]
    pub encoding: String,
    /// `native` or `tiktoken-rs` (default: the one the tokenize stage uses for the encoding).
    #[arg(long)]
    pub engine: Option<String>,
    /// Also encode every document with tiktoken-rs (not timed) and report the documents whose ids
    /// differ.
    #[arg(long)]
    pub check: bool,
    /// Write the ids here (not timed): per document, a little-endian u32 count, then the ids as
    /// little-endian u32, to compare with a peer.
    #[arg(long)]
    pub ids_out: Option<String>,
}

/// Runs `corpus bench`: prints the measurement as one JSON line.
pub fn run(command: BenchCommand) -> Result<()> {
    let storage = Storage::new()?;
    let result = match command {
        BenchCommand::Read {
            format,
            input,
            text_field,
            repeat,
        } => read(&storage, &format, &input, &text_field, repeat)?,
        BenchCommand::Filters(args) => {
            let rules = rules_from(args.config.as_deref(), args.source.as_deref())?;
            bench_filters(&storage, &args.common, &rules)?
        }
        BenchCommand::Minhash(args) => minhash(&storage, &args)?,
        BenchCommand::Decontam(args) => decontam(&storage, &args)?,
        BenchCommand::Tokenize(args) => tokenize(&storage, &args)?,
    };
    println!("{result}");
    Ok(())
}

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

/// Times the full rule chain over the documents of one JSONL file on `threads` threads.
pub fn bench_filters(
    storage: &Arc<Storage>,
    common: &BenchInput,
    rules: &RulesConfig,
) -> Result<Value> {
    let (input, threads) = (&common.input, common.threads);
    if threads == 0 {
        return Err(ConfigError::invalid("--threads", "must be at least 1").into());
    }
    let docs = common.documents(storage)?;
    let chain = RuleChain::new(rules, &[]).map_err(|e| ConfigError::invalid("quality.rules", e))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start worker threads")?;
    let bytes: u64 = docs.iter().map(|(_, t)| t.len() as u64).sum();
    let repeat = common.repeat.max(1);
    let started = Instant::now();
    let mut kept = 0;
    for _ in 0..repeat {
        kept = pool.install(|| {
            docs.par_iter()
                .filter(|(_, t)| chain.apply(t).is_ok())
                .count()
        });
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let total = bytes * u64::from(repeat);
    Ok(json!({
        "bench": "filters",
        "input": input,
        "threads": threads,
        "documents": docs.len(),
        "kept": kept,
        "bytes": bytes,
        "repeat": repeat,
        "seconds": seconds,
        "MB_per_s": total as f64 / 1e6 / seconds,
        "docs_per_s": (docs.len() as u64 * u64::from(repeat)) as f64 / seconds,
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

/// Times the per-document signature work of the dedup stage over the documents of one JSONL file held in
/// memory: for `words`, normalise → shingle → MinHash signature → band keys; for `gpt3`, Spark features →
/// signature → table keys. One untimed pass first (it builds the normaliser's character table and warms
/// caches), then `repeat` timed passes on `threads` threads. The XOR of all band keys is printed as a
/// checksum: equal for any thread count.
pub fn minhash(storage: &Arc<Storage>, args: &MinhashArgs) -> Result<Value> {
    let mode: MinhashMode = args.mode.parse()?;
    use corpus_dedup::{
        GPT3_HASH_TABLES, MinHasher, SPARK_DEFAULT_SEED, SparkMinHash, normalize_for_shingles,
        permutation_kernel, word_shingles,
    };

    let docs = args.common.documents(storage)?;
    if args.common.threads == 0 {
        return Err(ConfigError::invalid("--threads", "must be at least 1").into());
    }
    if args.ngram == 0 {
        return Err(ConfigError::invalid("--ngram", "must be at least 1").into());
    }
    let words = MinHasher::new(args.bands, args.rows, 1)
        .map_err(|e| ConfigError::invalid("--bands/--rows", e.to_string()))?;
    let spark = SparkMinHash::new(GPT3_HASH_TABLES, SPARK_DEFAULT_SEED)
        .map_err(|e| ConfigError::invalid("gpt3 tables", e.to_string()))?;
    let band_keys = |text: &str| -> Result<Vec<u64>, corpus_dedup::MinHashError> {
        match mode {
            MinhashMode::Words => {
                let normalized = normalize_for_shingles(text);
                words.band_hashes(&words.signature(word_shingles(&normalized, args.ngram)))
            }
            MinhashMode::Gpt3 => spark.band_hashes(&spark.signature(&spark.features(text))),
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.common.threads)
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
    let repeat = args.common.repeat.max(1);
    let started = Instant::now();
    for _ in 0..repeat {
        pass()?;
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let bytes: u64 = docs.iter().map(|(_, t)| t.len() as u64).sum();
    let total = bytes * u64::from(repeat);
    let (mode, bands, rows, ngram) = match mode {
        MinhashMode::Words => ("words", args.bands, args.rows, Some(args.ngram)),
        MinhashMode::Gpt3 => ("gpt3", GPT3_HASH_TABLES, 1, None),
    };
    Ok(json!({
        "bench": "minhash",
        "input": args.common.input,
        "mode": mode,
        "threads": args.common.threads,
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

/// Times the decontaminate stage's per-document work over the documents of one JSONL file held in memory:
/// find every benchmark n-gram in the text, then excise the matches with the `[decontamination]` defaults
/// (200 characters of context, pieces under 200 characters dropped, a document split into more than 10
/// pieces dropped). The benchmarks are loaded and registered before the clock starts; one untimed pass
/// warms caches, then `repeat` timed passes run on `threads` threads.
pub fn decontam(storage: &Arc<Storage>, args: &DecontamArgs) -> Result<Value> {
    use corpus_contamination::{BenchmarkSet, Mode, excise};

    if args.common.threads == 0 {
        return Err(ConfigError::invalid("--threads", "must be at least 1").into());
    }
    if args.benchmarks.is_empty() {
        return Err(
            ConfigError::invalid("--benchmarks", "give at least one benchmark file").into(),
        );
    }
    if !args.fields.is_empty() && args.fields.len() != args.benchmarks.len() {
        return Err(ConfigError::invalid(
            "--fields",
            format!(
                "{} field lists for {} benchmarks: give one per benchmark, in the same order",
                args.fields.len(),
                args.benchmarks.len()
            ),
        )
        .into());
    }
    let mode: Mode = args
        .mode
        .parse()
        .map_err(|e| ConfigError::invalid("--mode", format!("{e}")))?;
    let mut set = BenchmarkSet::new(mode);
    let mut registered = Vec::new();
    for (i, path) in args.benchmarks.iter().enumerate() {
        let fields = args.fields.get(i).map(String::as_str);
        let (name, examples) = load_benchmark(storage, path, fields)?;
        let n = args
            .ngram
            .unwrap_or_else(|| corpus_contamination::choose_n(&examples, mode));
        let before = set.ngrams();
        set.add(&name, &examples, n)
            .map_err(|e| ConfigError::invalid("--benchmarks", format!("{path}: {e}")))?;
        // N-grams an earlier benchmark already registered are not counted again.
        let new_ngrams = set.ngrams() - before;
        registered.push(
            json!({"name": name, "examples": examples.len(), "n": n, "new_ngrams": new_ngrams}),
        );
    }

    let docs = args.common.documents(storage)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.common.threads)
        .build()
        .context("cannot start worker threads")?;
    let cut = crate::config::DecontaminationConfig::default();
    let clean = |text: &str| {
        let hits = set.find(text);
        let ranges: Vec<std::ops::Range<usize>> = hits.iter().map(|h| h.range()).collect();
        (
            hits.len(),
            excise(text, &ranges, cut.context, cut.min_piece, cut.max_pieces),
        )
    };
    // Per pass: matches, documents dropped, bytes removed, pieces kept.
    let pass = || -> [u64; 4] {
        pool.install(|| {
            docs.par_iter()
                .map(|(_, text)| {
                    let (hits, excision) = clean(text);
                    [
                        hits as u64,
                        u64::from(excision.dropped),
                        excision.removed.iter().map(|r| r.len() as u64).sum(),
                        excision.pieces.len() as u64,
                    ]
                })
                .reduce(|| [0; 4], |a, b| std::array::from_fn(|i| a[i] + b[i]))
        })
    };
    let [hits, dropped, removed, pieces] = pass();
    let repeat = args.common.repeat.max(1);
    let started = Instant::now();
    for _ in 0..repeat {
        std::hint::black_box(pass());
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    if let Some(out) = args.pieces.as_deref() {
        write_pieces(out, &docs, &clean)?;
    }
    let bytes: u64 = docs.iter().map(|(_, t)| t.len() as u64).sum();
    let total = bytes * u64::from(repeat);
    Ok(json!({
        "bench": "decontam",
        "input": args.common.input,
        "mode": args.mode,
        "threads": args.common.threads,
        "benchmarks": registered,
        "ngrams": set.ngrams(),
        "docs": docs.len(),
        "bytes": bytes,
        "repeat": repeat,
        "seconds": seconds,
        "MB_per_s": total as f64 / 1e6 / seconds,
        "docs_per_s": (docs.len() as u64 * u64::from(repeat)) as f64 / seconds,
        "hits": hits,
        "dropped_docs": dropped,
        "removed_bytes": removed,
        "pieces": pieces,
    }))
}

/// Times the tokenize stage's per-document work (`Tokenizer::encode_batch`) over the documents of one
/// JSONL file held in memory, on `threads` threads: one untimed pass (it also builds the encoder's tables),
/// then `repeat` timed passes. The encoder keeps no state between documents, so later passes do not gain
/// from having seen the input. `checksum` is the xxh3-64 of the `ids_out` layout, equal for any thread
/// count and engine.
pub fn tokenize(storage: &Arc<Storage>, args: &TokenizeArgs) -> Result<Value> {
    let encoding: corpus_tokenizer::Encoding = args
        .encoding
        .parse()
        .map_err(|e| ConfigError::invalid("--encoding", format!("{e}")))?;
    let engine: Option<corpus_tokenizer::Engine> = args
        .engine
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| ConfigError::invalid("--engine", format!("{e}")))?;
    use corpus_tokenizer::{Engine, Tokenizer};

    if args.common.threads == 0 {
        return Err(ConfigError::invalid("--threads", "must be at least 1").into());
    }
    let tokenizer = match engine {
        Some(engine) => Tokenizer::with_engine(encoding, engine)
            .map_err(|e| ConfigError::invalid("--engine", e.to_string()))?,
        None => Tokenizer::new(encoding),
    };
    let docs = args.common.documents(storage)?;
    let texts: Vec<&str> = docs.iter().map(|(_, t)| t.as_str()).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.common.threads)
        .build()
        .context("cannot start worker threads")?;
    let encode_all = |tokenizer: &Tokenizer| -> Result<Vec<Vec<u32>>> {
        pool.install(|| tokenizer.encode_batch(&texts))
            .into_iter()
            .zip(&docs)
            .map(|(ids, (id, _))| ids.with_context(|| format!("document {id}")))
            .collect()
    };
    let ids = encode_all(&tokenizer)?;
    let repeat = args.common.repeat.max(1);
    let started = Instant::now();
    for _ in 0..repeat {
        std::hint::black_box(pool.install(|| tokenizer.encode_batch(&texts)));
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let mut dump = Vec::new();
    for doc in &ids {
        dump.extend_from_slice(&u32::try_from(doc.len()).unwrap_or(u32::MAX).to_le_bytes());
        for id in doc {
            dump.extend_from_slice(&id.to_le_bytes());
        }
    }
    if let Some(out) = args.ids_out.as_deref() {
        std::fs::write(out, &dump).with_context(|| format!("cannot write {out}"))?;
    }
    let check = if args.check {
        let reference = Tokenizer::with_engine(encoding, Engine::TiktokenRs)?;
        let expected = encode_all(&reference)?;
        let differing: Vec<&str> = docs
            .iter()
            .zip(ids.iter().zip(&expected))
            .filter(|(_, (ours, theirs))| ours != theirs)
            .map(|((id, _), _)| id.as_str())
            .collect();
        Some(json!({
            "reference": Engine::TiktokenRs.name(),
            "differing_docs": differing.len(),
            "first_differing": differing.iter().take(5).collect::<Vec<_>>(),
        }))
    } else {
        None
    };
    let bytes: u64 = texts.iter().map(|t| t.len() as u64).sum();
    let tokens: u64 = ids.iter().map(|d| d.len() as u64).sum();
    let passes = f64::from(repeat);
    Ok(json!({
        "bench": "tokenize",
        "input": args.common.input,
        "encoding": encoding.name(),
        "engine": tokenizer.engine().name(),
        "threads": args.common.threads,
        "docs": docs.len(),
        "bytes": bytes,
        "tokens": tokens,
        "repeat": repeat,
        "seconds": seconds,
        "MB_per_s": bytes as f64 * passes / 1e6 / seconds,
        "tokens_per_s": tokens as f64 * passes / seconds,
        "docs_per_s": docs.len() as f64 * passes / seconds,
        "checksum": format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&dump)),
        "check": check,
    }))
}

/// Reads one benchmark file: its name (the file name up to the first `.`) and its examples. The format
/// comes from the extension (`.txt` is one example per line); `fields` is a comma-separated list, by
/// default every top-level string field of the first JSONL record.
fn load_benchmark(
    storage: &Arc<Storage>,
    path: &str,
    fields: Option<&str>,
) -> Result<(String, Vec<String>)> {
    use corpus_contamination::{BenchmarkFormat, load_examples};

    let loc = storage.resolve(path)?;
    let file_name = loc.file_name().to_string();
    let name = file_name
        .split('.')
        .next()
        .unwrap_or(&file_name)
        .to_string();
    let extension = file_name.rsplit('.').next().unwrap_or_default();
    let format: BenchmarkFormat = match extension {
        "txt" => "text",
        other => other,
    }
    .parse()
    .map_err(|e| ConfigError::invalid("--benchmarks", format!("{path}: {e}")))?;
    let bytes = storage.get(&loc)?;
    let fields: Vec<String> = match fields {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect(),
        None if format == BenchmarkFormat::Jsonl => first_record_string_fields(&bytes, path)?,
        None => Vec::new(),
    };
    let examples = load_examples(format, &bytes, &fields, None)
        .map_err(|e| ConfigError::invalid("--benchmarks", format!("{path}: {e}")))?;
    if examples.is_empty() {
        return Err(
            ConfigError::invalid("--benchmarks", format!("{path} holds no examples")).into(),
        );
    }
    Ok((name, examples))
}

/// The top-level string fields of the first record of a JSONL file, in the record's order.
fn first_record_string_fields(bytes: &[u8], path: &str) -> Result<Vec<String>> {
    let first = bytes
        .split(|&b| b == b'\n')
        .find(|line| !line.iter().all(u8::is_ascii_whitespace))
        .unwrap_or_default();
    let record: Value = serde_json::from_slice(first)
        .map_err(|e| ConfigError::invalid("--benchmarks", format!("{path}: first record: {e}")))?;
    let fields: Vec<String> = record
        .as_object()
        .map(|object| {
            object
                .iter()
                .filter(|(_, value)| value.is_string())
                .map(|(key, _)| key.clone())
                .collect()
        })
        .unwrap_or_default();
    if fields.is_empty() {
        return Err(ConfigError::invalid(
            "--fields",
            format!("{path}: the first record has no string field: name the fields"),
        )
        .into());
    }
    Ok(fields)
}

/// Writes, per document in input order, `{"id", "hits", "dropped", "pieces": [text, ...]}` as one JSON line.
fn write_pieces(
    out: &str,
    docs: &[(String, String)],
    clean: &(dyn Fn(&str) -> (usize, corpus_contamination::Excision) + Sync),
) -> Result<()> {
    use std::io::Write;

    let file = std::fs::File::create(out).with_context(|| format!("cannot create {out}"))?;
    let mut writer = std::io::BufWriter::new(file);
    for (id, text) in docs {
        let (hits, excision) = clean(text);
        let pieces: Vec<&str> = excision
            .pieces
            .iter()
            .map(|r| text.get(r.clone()).unwrap_or_default())
            .collect();
        let line = json!({"id": id, "hits": hits, "dropped": excision.dropped, "pieces": pieces});
        writeln!(writer, "{line}").with_context(|| format!("cannot write {out}"))?;
    }
    writer
        .flush()
        .with_context(|| format!("cannot write {out}"))
}

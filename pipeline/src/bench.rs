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

/// Settings of `corpus bench decontam`.
#[derive(Debug, Clone)]
pub struct DecontamBench<'a> {
    /// The JSONL input (the training side).
    pub input: &'a str,
    /// Its text field.
    pub text_field: &'a str,
    /// Benchmark files; the format comes from each file's extension.
    pub benchmarks: &'a [String],
    /// Per benchmark (same order), the comma-separated fields whose values form an example; empty: every
    /// top-level string field of the first record.
    pub fields: &'a [String],
    /// Normalisation: `gpt3` or `janitor`.
    pub mode: &'a str,
    /// Words per n-gram for every benchmark; `None`: the crate's choice per benchmark (GPT-3 App. C).
    pub ngram: Option<usize>,
    /// Worker threads.
    pub threads: usize,
    /// Timed passes over the documents (after one untimed warm-up pass).
    pub repeat: u32,
    /// Where to write each document's cleaned pieces as JSON lines (`{"hits": ..., "pieces": [...]}`), in
    /// input order, for comparison with a peer; not timed.
    pub pieces_out: Option<&'a str>,
}

/// Times the decontaminate stage's per-document work over the documents of one JSONL file held in memory:
/// find every benchmark n-gram in the text, then excise the matches with the `[decontamination]` defaults
/// (200 characters of context, pieces under 200 characters dropped, a document split into more than 10
/// pieces dropped). The benchmarks are loaded and registered before the clock starts; one untimed pass
/// warms caches, then `repeat` timed passes run on `threads` threads.
pub fn decontam(storage: &Arc<Storage>, settings: &DecontamBench<'_>) -> Result<Value> {
    use corpus_contamination::{BenchmarkSet, Mode, excise};
    use rayon::prelude::*;

    if settings.threads == 0 {
        return Err(ConfigError::invalid("--threads", "must be at least 1").into());
    }
    if settings.benchmarks.is_empty() {
        return Err(
            ConfigError::invalid("--benchmarks", "give at least one benchmark file").into(),
        );
    }
    if !settings.fields.is_empty() && settings.fields.len() != settings.benchmarks.len() {
        return Err(ConfigError::invalid(
            "--fields",
            format!(
                "{} field lists for {} benchmarks: give one per benchmark, in the same order",
                settings.fields.len(),
                settings.benchmarks.len()
            ),
        )
        .into());
    }
    let mode: Mode = settings
        .mode
        .parse()
        .map_err(|e| ConfigError::invalid("--mode", format!("{e}")))?;
    let mut set = BenchmarkSet::new(mode);
    let mut registered = Vec::new();
    for (i, path) in settings.benchmarks.iter().enumerate() {
        let fields = settings.fields.get(i).map(String::as_str);
        let (name, examples) = load_benchmark(storage, path, fields)?;
        let n = settings
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
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.threads)
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
    let repeat = settings.repeat.max(1);
    let started = Instant::now();
    for _ in 0..repeat {
        std::hint::black_box(pass());
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    if let Some(out) = settings.pieces_out {
        write_pieces(out, &docs, &clean)?;
    }
    let bytes: u64 = docs.iter().map(|(_, t)| t.len() as u64).sum();
    let total = bytes * u64::from(repeat);
    Ok(json!({
        "bench": "decontam",
        "input": settings.input,
        "mode": settings.mode,
        "threads": settings.threads,
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

/// Settings of `corpus bench tokenize`.
#[derive(Debug, Clone)]
pub struct TokenizeBench<'a> {
    /// The JSONL input.
    pub input: &'a str,
    /// Its text field.
    pub text_field: &'a str,
    /// Worker threads.
    pub threads: usize,
    /// Timed passes over the documents (after one untimed warm-up pass).
    pub repeat: u32,
    /// The encoding.
    pub encoding: corpus_tokenizer::Encoding,
    /// The engine; `None`: the one the tokenize stage uses.
    pub engine: Option<corpus_tokenizer::Engine>,
    /// Also encode every document with tiktoken-rs (not timed) and count the documents whose ids differ.
    pub check: bool,
    /// Where to write the ids (not timed): per document in input order, a little-endian u32 count, then
    /// the ids as little-endian u32.
    pub ids_out: Option<&'a str>,
}

/// Times the tokenize stage's per-document work (`Tokenizer::encode_batch`) over the documents of one
/// JSONL file held in memory, on `threads` threads: one untimed pass (it also builds the encoder's tables),
/// then `repeat` timed passes. The encoder keeps no state between documents, so later passes do not gain
/// from having seen the input. `checksum` is the xxh3-64 of the `ids_out` layout, equal for any thread
/// count and engine.
pub fn tokenize(storage: &Arc<Storage>, settings: &TokenizeBench<'_>) -> Result<Value> {
    use corpus_tokenizer::{Engine, Tokenizer};

    if settings.threads == 0 {
        return Err(ConfigError::invalid("--threads", "must be at least 1").into());
    }
    let tokenizer = match settings.engine {
        Some(engine) => Tokenizer::with_engine(settings.encoding, engine)
            .map_err(|e| ConfigError::invalid("--engine", e.to_string()))?,
        None => Tokenizer::new(settings.encoding),
    };
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
    let texts: Vec<&str> = docs.iter().map(|(_, t)| t.as_str()).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.threads)
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
    let repeat = settings.repeat.max(1);
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
    if let Some(out) = settings.ids_out {
        std::fs::write(out, &dump).with_context(|| format!("cannot write {out}"))?;
    }
    let check = if settings.check {
        let reference = Tokenizer::with_engine(settings.encoding, Engine::TiktokenRs)?;
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
        "input": settings.input,
        "encoding": settings.encoding.name(),
        "engine": tokenizer.engine().name(),
        "threads": settings.threads,
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

//! `corpus inspect shards`: manifest totals, file and checksum checks, the mix, a decoded sample. It
//! builds a JSON value that is printed as is with `--json` or rendered as text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use corpus_sharder::{HEADER_BYTES, ShardHeader};
use corpus_tokenizer::{Encoding, Tokenizer};
use rayon::prelude::*;
use serde_json::{Value, json};

use xxhash_rust::xxh3::Xxh3;

use crate::runner::RunJson;
use crate::stages::mix::MIX_REPORT;
use corpus_sharder::{MANIFEST, ShardEntry, read_manifest};
use corpus_store::Storage;
use corpus_store::{f64_column, read_parquet, string_column, u64_column};

use super::print_report;

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

/// Runs `corpus inspect`.
pub fn run(command: InspectCommand) -> Result<()> {
    match command {
        InspectCommand::Shards {
            work,
            json,
            no_checksums,
        } => {
            let storage = Storage::new()?;
            let report = shards(&storage, &work, !no_checksums)?;
            print_report(&report, json, render_shards)
        }
    }
}

/// Tokens of the first document shown by `inspect shards`.
const SAMPLE_TOKENS: usize = 256;

pub(super) fn run_json(
    storage: &Arc<Storage>,
    work: &str,
) -> Result<(corpus_store::Location, RunJson)> {
    let root = storage.resolve(work)?;
    let Some(bytes) = storage.get_opt(&root.child("run.json"))? else {
        bail!(
            "{work} holds no run (no run.json): run `corpus build` or `corpus stage` there first"
        );
    };
    let run: RunJson = serde_json::from_slice(&bytes)
        .with_context(|| format!("corrupt {}", root.child("run.json")))?;
    Ok((root, run))
}

/// Totals from the manifest, a size check of every shard and, with `checksums`, a payload-checksum check
/// (shards read in parallel), the mix report's weights and epochs, and a decoded sample of the first
/// document.
pub fn shards(storage: &Arc<Storage>, work: &str, checksums: bool) -> Result<Value> {
    let (root, run) = run_json(storage, work)?;
    let manifest_loc = root.child(MANIFEST);
    if storage.head(&manifest_loc)?.is_none() {
        bail!("{manifest_loc} does not exist: the shard stage has not finished");
    }
    let entries = read_manifest(storage, &manifest_loc)?;
    let encoding: Encoding = run.config["tokenizer"]["encoding"]
        .as_str()
        .context("run.json has no tokenizer.encoding")?
        .parse()?;
    let mut per_split: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let mut per_source: BTreeMap<String, u64> = BTreeMap::new();
    for e in &entries {
        let t = per_split.entry(e.split.clone()).or_default();
        t.0 += 1;
        t.1 += e.tokens;
        t.2 += e.documents;
        for (s, n) in &e.tokens_per_source {
            *per_source.entry(s.clone()).or_default() += n;
        }
    }
    let checked: Vec<Option<String>> = entries
        .par_iter()
        .map(|e| check_shard(storage, &root, e, checksums))
        .collect::<Result<_>>()?;
    let problems: Vec<String> = checked.into_iter().flatten().collect();
    let verified = match checksums {
        true => json!(entries.len() - problems.len()),
        false => Value::Null,
    };
    let mix = mix_rows(storage, &root)?;
    let sample = match entries.first() {
        Some(first) => {
            let loc = root.child(&format!("shards/{}", first.file));
            let width = if first.dtype == "uint16" { 2 } else { 4 };
            let end = (HEADER_BYTES as u64 + width * first.tokens)
                .min((HEADER_BYTES + (SAMPLE_TOKENS + 1) * width as usize) as u64);
            let bytes = storage.get_range(&loc, 0..end)?;
            let header = ShardHeader::decode(&bytes)?;
            let reader_len = ((bytes.len() - HEADER_BYTES) as u64 / width) as usize;
            let mut tokens = Vec::with_capacity(reader_len);
            for c in bytes[HEADER_BYTES..].chunks_exact(width as usize) {
                tokens.push(if width == 2 {
                    u16::from_le_bytes([c[0], c[1]]) as u32
                } else {
                    u32::from_le_bytes([c[0], c[1], c[2], c[3]])
                });
            }
            let body: Vec<u32> = tokens
                .iter()
                .skip(1)
                .take_while(|&&t| t != encoding.eot())
                .copied()
                .collect();
            let text = Tokenizer::new(encoding).decode(&body)?;
            json!({ "file": first.file, "header_tokens": header.tokens, "tokens": body.len(), "text": text })
        }
        None => Value::Null,
    };
    let splits: BTreeMap<String, Value> = per_split
        .into_iter()
        .map(|(k, (n, t, d))| (k, json!({ "shards": n, "tokens": t, "documents": d })))
        .collect();
    Ok(json!({
        "work": root.url(),
        "encoding": encoding.name(),
        "shards": entries.len(),
        "tokens": entries.iter().map(|e| e.tokens).sum::<u64>(),
        "documents": entries.iter().map(|e| e.documents).sum::<u64>(),
        "splits": splits,
        "tokens_per_source": per_source,
        "mix": mix,
        "checksums_verified": verified,
        "problems": problems,
        "sample": sample,
    }))
}

/// What is wrong with one shard, if anything: missing, a size its manifest row does not imply, or (with
/// `checksum`) a payload whose xxh3 differs from the manifest's.
fn check_shard(
    storage: &Arc<Storage>,
    root: &corpus_store::Location,
    e: &ShardEntry,
    checksum: bool,
) -> Result<Option<String>> {
    let loc = root.child(&format!("shards/{}", e.file));
    let width = if e.dtype == "uint16" { 2 } else { 4 };
    let expected = HEADER_BYTES as u64 + width * e.tokens;
    Ok(match storage.head(&loc)? {
        None => Some(format!("{} is missing", e.file)),
        Some(size) if size != expected => {
            Some(format!("{} has {size} bytes, expected {expected}", e.file))
        }
        Some(size) if checksum => {
            let actual = payload_xxh3(storage, &loc, size)?;
            (actual != e.payload_xxh3).then(|| {
                format!(
                    "{}: payload xxh3 {actual:016x}, manifest says {:016x}",
                    e.file, e.payload_xxh3
                )
            })
        }
        Some(_) => None,
    })
}

/// xxh3-64 of a shard's payload, read in bounded ranges.
fn payload_xxh3(storage: &Arc<Storage>, loc: &corpus_store::Location, size: u64) -> Result<u64> {
    const CHUNK: u64 = 32 << 20;
    let mut hasher = Xxh3::new();
    let mut at = HEADER_BYTES as u64;
    while at < size {
        let end = (at + CHUNK).min(size);
        hasher.update(&storage.get_range(loc, at..end)?);
        at = end;
    }
    Ok(hasher.digest())
}

/// The rows of `reports/mix.parquet` (requested and realised weights, epochs), if the run has one.
fn mix_rows(storage: &Arc<Storage>, root: &corpus_store::Location) -> Result<Value> {
    let loc = root.child(MIX_REPORT);
    if storage.head(&loc)?.is_none() {
        return Ok(Value::Null);
    }
    let mut rows = serde_json::Map::new();
    for batch in read_parquet(storage, &loc)? {
        let batch = batch?;
        let sources = string_column(&batch, "source")?;
        let f = |name: &str| f64_column(&batch, name);
        let (requested, realised, epochs) =
            (f("requested_weight")?, f("realised_weight")?, f("epochs")?);
        let drawn = u64_column(&batch, "tokens_drawn")?;
        for i in 0..batch.num_rows() {
            rows.insert(
                sources.value(i).to_string(),
                json!({
                    "requested_weight": requested.value(i),
                    "realised_weight": realised.value(i),
                    "epochs": epochs.value(i),
                    "tokens_drawn": drawn.value(i),
                }),
            );
        }
    }
    Ok(Value::Object(rows))
}

/// Text form of [`shards`].
pub fn render_shards(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "work:      {}", v["work"].as_str().unwrap_or(""));
    let _ = writeln!(out, "encoding:  {}", v["encoding"].as_str().unwrap_or(""));
    let _ = writeln!(
        out,
        "shards:    {}  tokens: {}  documents: {}",
        v["shards"], v["tokens"], v["documents"]
    );
    for (split, s) in v["splits"].as_object().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {split:<6} {} shards, {} tokens, {} documents",
            s["shards"], s["tokens"], s["documents"]
        );
    }
    let _ = writeln!(
        out,
        "tokens per source (both splits; weights and epochs of the train mix):"
    );
    let total = v["tokens"].as_u64().unwrap_or(0).max(1) as f64;
    for (source, n) in v["tokens_per_source"].as_object().into_iter().flatten() {
        let n = n.as_u64().unwrap_or(0);
        let mix = &v["mix"][source];
        let planned = match mix["requested_weight"].as_f64() {
            Some(w) => format!(
                "  requested {:5.1}%  realised {:5.1}%  epochs {:.3}",
                100.0 * w,
                100.0 * mix["realised_weight"].as_f64().unwrap_or(0.0),
                mix["epochs"].as_f64().unwrap_or(0.0)
            ),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "  {source:<16} {n:>12}  {:5.1}%{planned}",
            100.0 * n as f64 / total
        );
    }
    let problems = v["problems"].as_array().map(Vec::len).unwrap_or(0);
    if problems == 0 {
        let checksums = match v["checksums_verified"].as_u64() {
            Some(n) => format!("{n} payload checksums match the manifest"),
            None => "payload checksums not read (--no-checksums)".to_string(),
        };
        let _ = writeln!(
            out,
            "files:     every shard present with the size its manifest row implies; {checksums}"
        );
    } else {
        for p in v["problems"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "PROBLEM:   {}", p.as_str().unwrap_or(""));
        }
    }
    if let Some(text) = v["sample"]["text"].as_str() {
        let shown: String = text.chars().take(600).collect();
        let _ = writeln!(
            out,
            "sample ({}, first {} tokens of the first document):\n{shown}",
            v["sample"]["file"].as_str().unwrap_or(""),
            v["sample"]["tokens"]
        );
    }
    out
}

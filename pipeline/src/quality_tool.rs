//! `corpus quality train|check` and `corpus bench filters`: the quality filters outside a run. Training reads
//! documents with the same readers as `ingest` (format from the file name, or `--format`), so a model is
//! trained on exactly the text the `quality` stage will score.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use corpus_quality::classifier::{ModelKind, TrainOptions, train};
use corpus_quality::rules::{RuleChain, RulesConfig};
use rayon::prelude::*;
use serde_json::{Value, json};

use crate::config::{Config, ConfigError, SourceConfig};
use crate::sources::{Format, InputFile, Record, open_reader};
use crate::storage::Storage;

/// The reader format a file name implies, compression suffixes (`.gz`, `.zst`, `.bz2`) ignored.
pub fn infer_format(name: &str) -> Option<Format> {
    let mut stem = name.to_ascii_lowercase();
    for ext in [".gz", ".zst", ".zstd", ".bz2"] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s.to_string();
        }
    }
    let ext = stem.rsplit('.').next().unwrap_or_default();
    match ext {
        "jsonl" | "json" | "ndjson" => Some(Format::Jsonl),
        "txt" | "text" => Some(Format::Text),
        "parquet" => Some(Format::Parquet),
        "xml" => Some(Format::WikipediaXml),
        "wet" => Some(Format::Wet),
        "warc" | "arc" => Some(Format::Warc),
        _ if stem.contains("pages-articles") => Some(Format::WikipediaXml),
        _ => None,
    }
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Jsonl => "jsonl",
        Format::Text => "text",
        Format::Parquet => "parquet",
        Format::WikipediaXml => "wikipedia-xml",
        Format::Warc => "warc",
        Format::Wet => "wet",
    }
}

/// Documents `(id, text)` of every file matching the globs, files in sorted order; `flag` names the
/// option in errors.
pub fn read_documents(
    storage: &Arc<Storage>,
    globs: &[String],
    format: Option<&str>,
    text_field: &str,
    flag: &str,
) -> Result<Vec<(String, String)>> {
    let forced = format
        .map(|f| {
            f.parse::<Format>()
                .map_err(|e| ConfigError::invalid("--format", e))
        })
        .transpose()?;
    let mut docs = Vec::new();
    for pattern in globs {
        let found = storage
            .glob(pattern)
            .map_err(|e| ConfigError::invalid(flag, format!("{e:#}")))?;
        if found.is_empty() {
            return Err(ConfigError::invalid(flag, format!("'{pattern}' matches no file")).into());
        }
        for file in found {
            let name = file.location.file_name().to_string();
            let Some(format) = forced.or_else(|| infer_format(&name)) else {
                return Err(ConfigError::invalid(
                    "--format",
                    format!(
                        "cannot tell the format of {name} from its name: give --format (one of {})",
                        Format::ALLOWED.join(", ")
                    ),
                )
                .into());
            };
            let source = SourceConfig {
                text_field: text_field.to_string(),
                ..SourceConfig::with_defaults("input", format_name(format))
            };
            let input = InputFile {
                source_index: 0,
                stem: name.clone(),
                size: file.size,
                location: file.location,
                title: None,
            };
            for record in open_reader(storage, &source, &input)? {
                if let Record::Doc(doc) = record {
                    docs.push((doc.id, doc.text));
                }
            }
        }
    }
    Ok(docs)
}

/// Options of `corpus quality train`.
pub struct TrainArgs<'a> {
    /// Globs of curated text.
    pub positive: &'a [String],
    /// Globs of unfiltered web text.
    pub negative: &'a [String],
    /// Where the model goes (local path or s3:// URL).
    pub out: &'a str,
    /// `gpt3` or `bigram`.
    pub kind: &'a str,
    /// L2 regularisation strength (default: the kind's).
    pub l2: Option<f64>,
    /// Fraction of documents held out for evaluation.
    pub holdout: f64,
    /// Seed of the held-out split.
    pub seed: u64,
    /// Reader format for every input (default: from the file names).
    pub format: Option<&'a str>,
}

/// Trains a quality classifier and writes it; returns the training report printed by the CLI.
pub fn train_model(storage: &Arc<Storage>, args: &TrainArgs) -> Result<Value> {
    let kind: ModelKind = serde_json::from_value(json!(args.kind)).map_err(|_| {
        ConfigError::invalid("--kind", format!("'{}' (allowed: gpt3, bigram)", args.kind))
    })?;
    if !(0.0..1.0).contains(&args.holdout) {
        return Err(ConfigError::invalid(
            "--holdout",
            format!("{} must be in [0, 1)", args.holdout),
        )
        .into());
    }
    if let Some(l2) = args.l2.filter(|l2| !l2.is_finite() || *l2 < 0.0) {
        return Err(
            ConfigError::invalid("--l2", format!("{l2} must be a finite number >= 0")).into(),
        );
    }
    let out = storage
        .resolve(args.out)
        .map_err(|e| ConfigError::invalid("--out", format!("{e:#}")))?;
    let started = Instant::now();
    let positive = read_documents(storage, args.positive, args.format, "text", "--positive")?;
    let negative = read_documents(storage, args.negative, args.format, "text", "--negative")?;
    tracing::info!(
        "training a {} classifier on {} positive and {} negative documents",
        args.kind,
        positive.len(),
        negative.len()
    );
    let pos: Vec<&str> = positive.iter().map(|(_, t)| t.as_str()).collect();
    let neg: Vec<&str> = negative.iter().map(|(_, t)| t.as_str()).collect();
    let defaults = TrainOptions::for_kind(kind);
    let options = TrainOptions {
        l2: args.l2.unwrap_or(defaults.l2),
        holdout_fraction: args.holdout,
        seed: args.seed,
        ..defaults
    };
    let (model, report) = train(&pos, &neg, &options).context("training failed")?;
    storage.put(&out, model.save_json().into_bytes())?;
    Ok(json!({
        "model": out.url(),
        "kind": args.kind,
        "positive_documents": pos.len(),
        "negative_documents": neg.len(),
        "seconds": started.elapsed().as_secs_f64(),
        "report": serde_json::to_value(&report)?,
    }))
}

/// The rule settings `corpus quality check` and `corpus bench filters` use: the published defaults, or
/// those a config gives one of its sources.
pub fn rules_from(config: Option<&std::path::Path>, source: Option<&str>) -> Result<RulesConfig> {
    match (config, source) {
        (None, None) => Ok(RulesConfig::default()),
        (Some(path), Some(source)) => {
            let config = Config::load(path)?;
            config.validate()?;
            if !config.sources.iter().any(|s| s.name == source) {
                return Err(ConfigError::invalid(
                    "--source",
                    format!("'{source}' is not a source of {}", path.display()),
                )
                .into());
            }
            Ok(config.rules_for(source)?)
        }
        _ => Err(ConfigError::invalid("--config", "--config and --source go together").into()),
    }
}

/// Runs every rule filter independently on each document and writes one JSON line per document:
/// `{"id", "decisions": {filter: null | {"reason", "value", "threshold"}}}`. Returns the counts.
pub fn check(
    storage: &Arc<Storage>,
    inputs: &[String],
    format: Option<&str>,
    text_field: &str,
    rules: &RulesConfig,
    out: &mut dyn Write,
) -> Result<Value> {
    let chain = RuleChain::new(rules, &[]).map_err(|e| ConfigError::invalid("quality.rules", e))?;
    let docs = read_documents(storage, inputs, format, text_field, "--input")?;
    let lines: Vec<(String, Vec<(&'static str, bool)>)> = docs
        .par_iter()
        .map(|(id, text)| {
            let decisions = chain.explain(text);
            let fired: Vec<_> = decisions.iter().map(|(f, r)| (*f, r.is_some())).collect();
            let object: serde_json::Map<String, Value> = decisions
                .into_iter()
                .map(|(filter, r)| {
                    let v = match r {
                        None => Value::Null,
                        Some(r) => {
                            json!({"reason": r.reason, "value": r.value, "threshold": r.threshold})
                        }
                    };
                    (filter.to_string(), v)
                })
                .collect();
            (json!({"id": id, "decisions": object}).to_string(), fired)
        })
        .collect();
    let mut dropped: std::collections::BTreeMap<&str, u64> = Default::default();
    for (line, fired) in &lines {
        writeln!(out, "{line}")?;
        for (filter, drop) in fired {
            *dropped.entry(filter).or_default() += u64::from(*drop);
        }
    }
    out.flush()?;
    Ok(json!({"documents": lines.len(), "dropped_by_filter": dropped}))
}

/// Times the full rule chain over the documents of one JSONL file on `threads` threads.
pub fn bench_filters(
    storage: &Arc<Storage>,
    input: &str,
    text_field: &str,
    threads: usize,
    repeat: u32,
    rules: &RulesConfig,
) -> Result<Value> {
    let docs = read_documents(
        storage,
        &[input.to_string()],
        Some("jsonl"),
        text_field,
        "--input",
    )?;
    if docs.is_empty() {
        bail!("{input} holds no documents");
    }
    let chain = RuleChain::new(rules, &[]).map_err(|e| ConfigError::invalid("quality.rules", e))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start worker threads")?;
    let bytes: u64 = docs.iter().map(|(_, t)| t.len() as u64).sum();
    let repeat = repeat.max(1);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_file_names() {
        let f = |n| infer_format(n).map(format_name);
        assert_eq!(f("CC-MAIN-x.warc.gz"), Some("warc"));
        assert_eq!(f("CC-MAIN-x.warc.wet.gz"), Some("wet"));
        assert_eq!(f("c4-en.json.gz"), Some("jsonl"));
        assert_eq!(f("owt2.jsonl.zst"), Some("jsonl"));
        assert_eq!(f("pg1342.txt"), Some("text"));
        assert_eq!(
            f("enwiki-20240101-pages-articles1.xml-p1p41242.bz2"),
            Some("wikipedia-xml")
        );
        assert_eq!(f("x.parquet"), Some("parquet"));
        assert_eq!(f("notes.docx"), None);
    }
}

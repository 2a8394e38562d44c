//! `corpus quality train|check`: the quality filters outside a run. Training reads
//! documents with the same readers as `ingest` (format from the file name, or `--format`), so a model is
//! trained on exactly the text the `quality` stage will score.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;
use corpus_quality::classifier::{ModelKind, TrainOptions, train};
use corpus_quality::rules::{RuleChain, RulesConfig};
use rayon::prelude::*;
use serde_json::{Value, json};

use crate::config::{Config, ConfigError, SourceConfig};
use corpus_readers::{Format, InputFile, Record, open_reader};
use corpus_store::Storage;

/// `corpus quality` subcommands.
#[derive(Debug, Subcommand)]
pub enum QualityCommand {
    /// Train the quality classifier: curated text against unfiltered web text; prints held-out accuracy
    /// and AUC as JSON and writes a versioned model file for `[quality.classifier] model = ...`.
    Train(TrainModelArgs),
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

/// The flags of `corpus quality train`.
#[derive(Debug, clap::Args)]
pub struct TrainModelArgs {
    /// Globs of curated documents (WebText2, Wikipedia, books); format from the file names.
    #[arg(long, num_args = 1.., required = true)]
    pub positive: Vec<String>,
    /// Globs of unfiltered Common Crawl documents.
    #[arg(long, num_args = 1.., required = true)]
    pub negative: Vec<String>,
    /// Where the model goes (local path or s3:// URL).
    #[arg(long)]
    pub out: String,
    /// Model: `gpt3` (the paper's hashed unigram counts) or `bigram` (hashed, log-scaled bigrams).
    #[arg(long, default_value = "gpt3")]
    pub kind: String,
    /// L2 regularisation strength (default: the model kind's, 0.1 for gpt3, 1e-4 for bigram).
    #[arg(long)]
    pub l2: Option<f64>,
    /// Fraction of documents held out to measure accuracy and AUC.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// Seed of the held-out split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Reader format of every input, when the file names do not tell.
    #[arg(long)]
    pub format: Option<String>,
}

/// Runs `corpus quality`.
pub fn run(command: QualityCommand) -> Result<()> {
    let storage = Storage::new()?;
    match command {
        QualityCommand::Train(args) => {
            let report = train_model(&storage, &args)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        QualityCommand::Check {
            input,
            out,
            format,
            text_field,
            config,
            source,
        } => {
            let rules = rules_from(config.as_deref(), source.as_deref())?;
            let mut sink: Box<dyn Write> = if out == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(std::io::BufWriter::new(
                    std::fs::File::create(&out).with_context(|| format!("cannot create {out}"))?,
                ))
            };
            let counts = check(
                &storage,
                &input,
                format.as_deref(),
                &text_field,
                &rules,
                &mut sink,
            )?;
            eprintln!("{counts}");
        }
    }
    Ok(())
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
            let Some(format) = forced.or_else(|| Format::from_file_name(&name)) else {
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
                ..SourceConfig::with_defaults("input", format.name())
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

/// Trains a quality classifier and writes it; returns the training report printed by the CLI.
pub fn train_model(storage: &Arc<Storage>, args: &TrainModelArgs) -> Result<Value> {
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
        .resolve(&args.out)
        .map_err(|e| ConfigError::invalid("--out", format!("{e:#}")))?;
    let started = Instant::now();
    let positive = read_documents(
        storage,
        &args.positive,
        args.format.as_deref(),
        "text",
        "--positive",
    )?;
    let negative = read_documents(
        storage,
        &args.negative,
        args.format.as_deref(),
        "text",
        "--negative",
    )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_file_names() {
        let f = |n| Format::from_file_name(n).map(Format::name);
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

//! `corpus bench ...`: measurements that BENCHMARKS.md quotes, printed as one JSON line so a script can put
//! them next to a peer tool's figure from the same run.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
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

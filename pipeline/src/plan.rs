//! Turns a config plus command-line overrides into a [`RunContext`]: validates every field, resolves the
//! work directory and expands every source glob, all before anything is written.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;

use crate::config::{Config, ConfigError};
use crate::runner::RunContext;
use crate::sources::{InputFile, stems};
use crate::storage::Storage;

/// Overrides given on the command line.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--work`.
    pub work: Option<String>,
    /// `--tasks`.
    pub tasks: Option<usize>,
}

/// Loads, overrides, validates and resolves a config. Every error here is a [`ConfigError`].
pub fn plan(
    storage: &Arc<Storage>,
    config_path: &Path,
    overrides: &Overrides,
) -> Result<RunContext, ConfigError> {
    let mut config = Config::load(config_path)?;
    if let Some(work) = &overrides.work {
        config.run.work = work.clone();
    }
    if let Some(tasks) = overrides.tasks {
        config.run.tasks = tasks;
    }
    config.validate()?;
    let work = storage
        .resolve(&config.run.work)
        .map_err(|e| ConfigError::invalid("run.work", format!("{e:#}")))?;
    let mut inputs = Vec::new();
    for (i, source) in config.sources.iter().enumerate() {
        let mut files = Vec::new();
        for (j, pattern) in source.paths.iter().enumerate() {
            let field = format!("sources[{i}].paths[{j}]");
            let found = storage
                .glob(pattern)
                .map_err(|e| ConfigError::invalid(&field, format!("{e:#}")))?;
            if found.is_empty() {
                return Err(ConfigError::invalid(
                    field,
                    format!("'{pattern}' matches no file"),
                ));
            }
            files.extend(found);
        }
        files.sort_by(|a, b| a.location.url().cmp(b.location.url()));
        files.dedup_by(|a, b| a.location.url() == b.location.url());
        let relative: Vec<String> = files
            .iter()
            .map(|f| f.location.url().trim_start_matches("s3://").to_string())
            .collect();
        for (file, stem) in files.into_iter().zip(stems(&relative)) {
            inputs.push(InputFile {
                source_index: i,
                location: file.location,
                size: file.size,
                stem,
            });
        }
    }
    // Config fields now name what was resolved, so run.json and hashes say exactly what ran.
    config.run.work = work.url().to_string();
    let tasks = config.run.tasks;
    Ok(RunContext {
        storage: storage.clone(),
        work,
        config,
        inputs,
        tasks,
        hashes: Default::default(),
    })
}

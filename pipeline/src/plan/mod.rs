//! Turns a config plus command-line overrides into a [`RunContext`]: validates every field, resolves the
//! work directory and expands every source glob, all before anything is written.

mod decontam;
mod quality;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};

use crate::config::{Config, ConfigError};
use corpus_readers::{Format, InputFile, stems};
use corpus_store::{Listed, Location, Storage};

pub use decontam::DecontamPlan;
pub(crate) use quality::Decision;
pub use quality::QualityPlan;

/// The PG-19 book id of a file name: `10.txt` → `10`.
fn book_id(name: &str) -> Option<&str> {
    name.split('.').next().filter(|s| !s.is_empty())
}

/// Titles from PG-19 style `metadata.csv` files (`_id, short_book_title, publication_date, url`, with or
/// without a header row) found beside the books or one directory up, as in PG-19's `train/`, `test/` split.
fn pg19_titles(
    storage: &Arc<Storage>,
    files: &[Listed],
) -> anyhow::Result<HashMap<String, String>> {
    let mut candidates = BTreeSet::new();
    for f in files {
        let dir = f.location.parent();
        for d in [dir.clone(), dir.and_then(|d| d.parent())]
            .into_iter()
            .flatten()
        {
            candidates.insert(d.child("metadata.csv").url().to_string());
        }
    }
    let mut titles = HashMap::new();
    for url in candidates {
        let loc = storage.resolve(&url)?;
        let Some(bytes) = storage.get_opt(&loc)? else {
            continue;
        };
        titles.extend(parse_pg19_metadata(&bytes).with_context(|| format!("reading {url}"))?);
    }
    Ok(titles)
}

/// Parses PG-19's metadata CSV into book id → title.
pub fn parse_pg19_metadata(bytes: &[u8]) -> anyhow::Result<HashMap<String, String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut titles = HashMap::new();
    for row in reader.records() {
        let row = row?;
        let (Some(id), Some(title)) = (row.get(0), row.get(1)) else {
            continue;
        };
        let (id, title) = (id.trim(), title.trim());
        if id == "_id" || id.is_empty() || title.is_empty() {
            continue;
        }
        titles.insert(id.to_string(), title.to_string());
    }
    Ok(titles)
}

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
        let titles = match source.format.parse() {
            Ok(Format::Text) => pg19_titles(storage, &files).map_err(|e| {
                ConfigError::invalid(format!("sources[{i}].paths"), format!("{e:#}"))
            })?,
            _ => HashMap::new(),
        };
        for (file, stem) in files.into_iter().zip(stems(&relative)) {
            let title = book_id(file.location.file_name())
                .and_then(|id| titles.get(id))
                .cloned();
            inputs.push(InputFile {
                source_index: i,
                location: file.location,
                size: file.size,
                stem,
                title,
            });
        }
    }
    // Config fields now name what was resolved, so run.json and hashes say exactly what ran.
    config.run.work = work.url().to_string();
    let tasks = config.run.tasks;
    let quality = Arc::new(QualityPlan::build(&config, storage)?);
    let decontam = Arc::new(DecontamPlan::build(&config, storage)?);
    Ok(RunContext {
        storage: storage.clone(),
        work,
        config,
        inputs,
        tasks,
        hashes: Default::default(),
        quality,
        decontam,
    })
}

/// Everything a run shares: storage, work directory, validated config and resolved inputs.
pub struct RunContext {
    /// Storage layer.
    pub storage: Arc<Storage>,
    /// The work directory.
    pub work: Location,
    /// The validated configuration.
    pub config: Config,
    /// Input files per source, in config order, each list sorted.
    pub inputs: Vec<InputFile>,
    /// Tasks per stage.
    pub tasks: usize,
    /// Configuration hash of every stage by name (see [`stage_hashes`]).
    pub hashes: BTreeMap<String, String>,
    /// The quality filters of every source, built from the config.
    pub quality: Arc<QualityPlan>,
    /// The registered benchmarks, loaded from the config.
    pub decontam: Arc<DecontamPlan>,
}

impl RunContext {
    /// The current configuration hash of a stage.
    pub fn hash_of(&self, stage: &str) -> Result<&str> {
        self.hashes
            .get(stage)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("no hash computed for stage '{stage}'"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pg19_metadata_gives_titles_to_text_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("pg19/train")).unwrap();
        std::fs::write(root.join("pg19/train/10.txt"), "In the beginning.").unwrap();
        std::fs::write(root.join("pg19/train/11.txt"), "No metadata row.").unwrap();
        std::fs::write(
            root.join("pg19/metadata.csv"),
            "_id,short_book_title,publication_date,url\n10,\"The Bible, King James\",1611,http://www.gutenberg.org/ebooks/10\n",
        )
        .unwrap();
        let config = format!(
            "[run]\nwork = \"{w}\"\n[[sources]]\nname = \"books3\"\nformat = \"text\"\npaths = [\"{d}/pg19/train/*.txt\"]\nweight = 1.0\n",
            w = root.join("work").display(),
            d = root.display()
        );
        let path = root.join("c.toml");
        std::fs::write(&path, config).unwrap();
        let storage = Storage::new().unwrap();
        let run = plan(&storage, &path, &Overrides::default()).unwrap();
        let titles: Vec<Option<&str>> = run.inputs.iter().map(|f| f.title.as_deref()).collect();
        assert_eq!(titles, vec![Some("The Bible, King James"), None]);
        assert!(!root.join("work").exists(), "planning writes nothing");
    }
}

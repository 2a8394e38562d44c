//! The benchmarks of a run (GPT-3 App. C decontamination), loaded and registered when the run is
//! planned, so a missing file or field is a config error before any work starts.

use std::sync::Arc;

use corpus_contamination::{BenchmarkSet, Mode, choose_n, load_examples};
use corpus_store::Storage;

use crate::config::{Config, ConfigError};

/// The registered benchmarks of a run and the hashes of their files.
pub struct DecontamPlan {
    /// Every benchmark's n-grams.
    pub set: BenchmarkSet,
    /// `(url, xxh3)` of every benchmark file.
    pub(crate) files: Vec<(String, String)>,
}

impl DecontamPlan {
    /// Loads every benchmark of the config; errors name the benchmark's field.
    pub fn build(config: &Config, storage: &Arc<Storage>) -> Result<DecontamPlan, ConfigError> {
        let d = &config.decontamination;
        let mode: Mode = d
            .mode
            .parse()
            .map_err(|e: <Mode as std::str::FromStr>::Err| {
                ConfigError::invalid("decontamination.mode", e.to_string())
            })?;
        let mut set = BenchmarkSet::new(mode);
        let mut files = Vec::new();
        for (i, b) in d.benchmarks.iter().enumerate() {
            let field = |f: &str| format!("decontamination.benchmarks[{i}].{f}");
            let format = b.format.parse().map_err(
                |e: <corpus_contamination::BenchmarkFormat as std::str::FromStr>::Err| {
                    ConfigError::invalid(field("format"), e.to_string())
                },
            )?;
            let mut found = Vec::new();
            for (j, pattern) in b.paths.iter().enumerate() {
                let listed = storage.glob(pattern).map_err(|e| {
                    ConfigError::invalid(format!("{}[{j}]", field("paths")), format!("{e:#}"))
                })?;
                if listed.is_empty() {
                    return Err(ConfigError::invalid(
                        format!("{}[{j}]", field("paths")),
                        format!("'{pattern}' matches no file"),
                    ));
                }
                found.extend(listed);
            }
            found.sort_by(|a, b| a.location.url().cmp(b.location.url()));
            found.dedup_by(|a, b| a.location.url() == b.location.url());
            let mut examples = Vec::new();
            for file in &found {
                let bytes = storage
                    .get(&file.location)
                    .map_err(|e| ConfigError::invalid(field("paths"), format!("{e:#}")))?;
                files.push((
                    file.location.url().to_string(),
                    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)),
                ));
                let loaded = load_examples(format, &bytes, &b.fields, b.records.as_deref())
                    .map_err(|e| {
                        ConfigError::invalid(field("fields"), format!("{}: {e}", file.location))
                    })?;
                examples.extend(loaded);
            }
            let n = b.ngram.unwrap_or_else(|| choose_n(&examples, mode));
            set.add(&b.name, &examples, n)
                .map_err(|e| ConfigError::invalid(field("ngram"), e.to_string()))?;
        }
        Ok(DecontamPlan { set, files })
    }

    /// Whether any benchmark is registered (otherwise both stages pass documents through).
    pub fn is_empty(&self) -> bool {
        self.set.benchmarks() == 0
    }
}

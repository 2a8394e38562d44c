//! The quality filters of every source, built from the config and its model and word-list files when
//! the run is planned, so a missing or broken file is a config error before any work starts.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use corpus_quality::Rejection;
use corpus_quality::classifier::Model;
use corpus_quality::langid::{DEFAULT_MAX_BYTES, LanguageFilter};
use corpus_quality::pareto::lomax_draw;
use corpus_quality::rules::RuleChain;
use corpus_store::Storage;

use crate::config::{Config, ConfigError, quality_sources};

/// The filters of one source, resolved from the config before any work starts.
#[derive(Default)]
struct SourceFilters {
    language: Option<LanguageFilter>,
    rules: Option<RuleChain>,
    classifier: Option<(Arc<Model>, f64)>,
}

/// Every source's filters plus the hashes of the files they were built from (model, bad words), which the
/// stage fingerprint includes so a retrained model reruns the stage.
#[derive(Default)]
pub struct QualityPlan {
    by_source: HashMap<String, SourceFilters>,
    /// `(url, xxh3)` of the model and word-list files.
    pub(crate) file_hashes: Vec<(String, String)>,
}

/// What happens to one document.
pub(crate) enum Decision<'t> {
    /// Kept, with the text later stages see, the classifier score and the language.
    Keep {
        text: Cow<'t, str>,
        score: Option<f64>,
        lang: Option<&'static str>,
    },
    /// Removed, and why.
    Drop(Rejection),
}

fn read_text(
    storage: &Arc<Storage>,
    url: &str,
    field: &str,
) -> Result<(String, String), ConfigError> {
    let loc = storage
        .resolve(url)
        .map_err(|e| ConfigError::invalid(field, format!("{e:#}")))?;
    let bytes = storage
        .get(&loc)
        .map_err(|e| ConfigError::invalid(field, format!("cannot read {loc}: {e:#}")))?;
    let hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| ConfigError::invalid(field, format!("{loc} is not UTF-8 text")))?;
    Ok((text, hash))
}

impl QualityPlan {
    /// Builds the filters of every source from a validated config, reading the model and word-list files.
    pub fn build(config: &Config, storage: &Arc<Storage>) -> Result<QualityPlan, ConfigError> {
        let q = &config.quality;
        let mut plan = QualityPlan::default();
        let name = |i: usize| config.sources[i].name.clone();
        let bad_words = match &q.rules.bad_words_file {
            Some(url) => {
                let (text, hash) = read_text(storage, url, "quality.rules.bad_words_file")?;
                plan.file_hashes.push((url.clone(), hash));
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_lowercase)
                    .collect()
            }
            None => Vec::new(),
        };
        for i in quality_sources(&q.rules.sources, &config.sources, "quality.rules.sources")? {
            let rules = config.rules_for(&config.sources[i].name)?;
            let chain = RuleChain::new(&rules, &bad_words)
                .map_err(|e| ConfigError::invalid("quality.rules", e))?;
            plan.by_source.entry(name(i)).or_default().rules = Some(chain);
        }
        if q.language.enabled {
            for i in quality_sources(
                &q.language.sources,
                &config.sources,
                "quality.language.sources",
            )? {
                let filter = LanguageFilter::new(
                    &q.language.languages,
                    q.language.min_confidence,
                    DEFAULT_MAX_BYTES,
                )
                .map_err(|e| ConfigError::invalid("quality.language", e))?;
                plan.by_source.entry(name(i)).or_default().language = Some(filter);
            }
        }
        if let Some(c) = &q.classifier {
            let (text, hash) = read_text(storage, &c.model, "quality.classifier.model")?;
            let model = Model::from_json(&text).map_err(|e| {
                ConfigError::invalid("quality.classifier.model", format!("{}: {e}", c.model))
            })?;
            if let Some(why) = model.undersized() {
                tracing::warn!(
                    "quality.classifier.model {}: {why}. Its scores are a demonstration, not a quality filter; \
                     train one on your own curated and raw Common Crawl text (README, \"The GPT-3 recipe\")",
                    c.model
                );
            }
            let model = Arc::new(model);
            plan.file_hashes.push((c.model.clone(), hash));
            for i in quality_sources(&c.sources, &config.sources, "quality.classifier.sources")? {
                plan.by_source.entry(name(i)).or_default().classifier =
                    Some((model.clone(), c.alpha));
            }
        }
        Ok(plan)
    }

    /// Language, then rules, then the classifier: the first filter that removes a document names the
    /// reason; Pareto decisions depend only on (seed, id, score), so the order never changes what is kept.
    pub(crate) fn decide<'t>(
        &self,
        seed: u64,
        source: &str,
        id: &str,
        text: &'t str,
    ) -> Decision<'t> {
        let Some(f) = self.by_source.get(source) else {
            return Decision::Keep {
                text: Cow::Borrowed(text),
                score: None,
                lang: None,
            };
        };
        let mut lang = None;
        if let Some(filter) = &f.language {
            match filter.check(text) {
                Ok(detected) => lang = detected.map(|d| d.code),
                Err(r) => return Decision::Drop(r),
            }
        }
        let text = match &f.rules {
            Some(chain) => match chain.apply(text) {
                Ok(kept) => kept,
                Err(r) => return Decision::Drop(r),
            },
            None => Cow::Borrowed(text),
        };
        let mut score = None;
        if let Some((model, alpha)) = &f.classifier {
            let s = model.score(&text);
            let draw = lomax_draw(seed, id, *alpha);
            if draw <= 1.0 - s {
                return Decision::Drop(Rejection {
                    filter: "classifier",
                    reason: "pareto_resample",
                    value: s,
                    threshold: 1.0 - draw,
                });
            }
            score = Some(s);
        }
        Decision::Keep { text, score, lang }
    }
}

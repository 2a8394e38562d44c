//! `quality`: the GPT-3 quality classifier with Pareto resampling, the Gopher/C4/FineWeb rule filters and
//! language identification, each on the sources the config names. A removed document becomes a reject row
//! naming the filter, the rule and the measured value (its text kept, so nothing is lost); a kept document
//! carries `quality_score` (null where the classifier does not apply) and `lang` (null where language
//! identification does not run). C4 rewrites the text it keeps (boilerplate lines and citation markers
//! removed); the rewritten text is what later stages see.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use corpus_quality::Rejection;
use corpus_quality::classifier::Model;
use corpus_quality::langid::{DEFAULT_MAX_BYTES, LanguageFilter};
use corpus_quality::pareto::lomax_draw;
use corpus_quality::rules::RuleChain;
use rayon::prelude::*;
use serde_json::json;

use super::Ingest;
use crate::config::{Config, ConfigError, quality_sources};
use crate::docs::{Reject, RejectBatchBuilder, document_schema, source_values, string_column};
use crate::runner::{PartTask, RunContext, Stage, TaskContext, TaskResult};
use crate::storage::Storage;

/// The quality stage.
pub struct Quality;

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
    file_hashes: Vec<(String, String)>,
}

/// What happens to one document.
enum Decision<'t> {
    Keep {
        text: Cow<'t, str>,
        score: Option<f64>,
        lang: Option<&'static str>,
    },
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
    fn decide<'t>(&self, seed: u64, source: &str, id: &str, text: &'t str) -> Decision<'t> {
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

/// The schema of the stage's output parts: the document schema plus `quality_score` and `lang`.
pub fn quality_output_schema() -> SchemaRef {
    output_schema(&document_schema())
}

/// The output schema: the input columns plus `quality_score` and `lang`.
fn output_schema(input: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = input
        .fields()
        .iter()
        .filter(|f| f.name() != "quality_score" && f.name() != "lang")
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("quality_score", DataType::Float64, true));
    fields.push(Field::new("lang", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

impl Stage for Quality {
    fn name(&self) -> &'static str {
        "quality"
    }

    fn fingerprint(&self, run: &RunContext) -> serde_json::Value {
        json!({
            "quality": run.config.quality,
            "files": run.quality.file_hashes,
            "seed": run.config.run.seed,
        })
    }

    fn run_task(&self, ctx: &TaskContext) -> Result<TaskResult> {
        let run = ctx.run;
        let mut task = PartTask::open(ctx, &Ingest)?;
        let seed = run.config.run.seed;
        let plan = &run.quality;

        // Ingest writes the document schema; the output adds the two quality columns.
        let schema = output_schema(&document_schema());
        let out = task.output(task.part_file(), "documents", schema.clone());
        for batch in task.batches()? {
            let batch = batch?;
            let ids = string_column(&batch, "id")?;
            let texts = string_column(&batch, "text")?;
            let sources = source_values(&batch, "source")?;
            let decisions: Vec<Decision> = (0..batch.num_rows())
                .into_par_iter()
                .map(|i| plan.decide(seed, &sources[i], ids.value(i), texts.value(i)))
                .collect();

            let mut keep = Vec::with_capacity(decisions.len());
            let mut new_text = Vec::with_capacity(decisions.len());
            let mut scores = Vec::with_capacity(decisions.len());
            let mut langs = Vec::with_capacity(decisions.len());
            let mut reject_batch = RejectBatchBuilder::default();
            for (i, decision) in decisions.iter().enumerate() {
                match decision {
                    Decision::Keep { text, score, lang } => {
                        task.counts.pass();
                        keep.push(true);
                        new_text.push(text.as_ref());
                        scores.push(*score);
                        langs.push(*lang);
                    }
                    Decision::Drop(r) => {
                        task.counts.reject(r.reason);
                        keep.push(false);
                        new_text.push("");
                        scores.push(None);
                        langs.push(None);
                        reject_batch.push(Reject {
                            id: ids.value(i).to_string(),
                            source: sources[i].clone(),
                            input: task.input_path().to_string(),
                            offset: task.offset(i),
                            reason: r.reason.to_string(),
                            rule: format!("quality.{}", r.filter),
                            detail: r.to_string(),
                            text: Some(texts.value(i).to_string()),
                            value: Some(r.value),
                        });
                    }
                }
            }
            task.next_batch(batch.num_rows());

            let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
            for field in schema.fields() {
                let column: ArrayRef = match field.name().as_str() {
                    "text" => Arc::new(StringArray::from(std::mem::take(&mut new_text))),
                    "quality_score" => Arc::new(Float64Array::from(std::mem::take(&mut scores))),
                    "lang" => Arc::new(StringArray::from(std::mem::take(&mut langs))),
                    name => batch
                        .column_by_name(name)
                        .ok_or_else(|| anyhow!("column {name} vanished"))?
                        .clone(),
                };
                columns.push(column);
            }
            let full = RecordBatch::try_new(schema.clone(), columns)
                .context("building a quality batch")?;
            let kept = filter_record_batch(&full, &BooleanArray::from(keep))
                .context("selecting kept documents")?;
            task.write(out, &kept)?;
            task.reject(reject_batch)?;
        }
        task.finish(json!({}))
    }
}

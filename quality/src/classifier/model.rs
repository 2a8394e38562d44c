//! A trained classifier: scoring documents, and the versioned JSON model file (layout in the
//! [module docs](super)).

use std::io::{Read, Write};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::features::FeatureHasher;
use super::logistic::sigmoid;
use super::{ClassifierError, ModelKind, TrainingRecord};
use corpus_text::spark::SPARK_HASH_SEED;

/// The `format` field of every model file.
pub const MODEL_FORMAT: &str = "corpus-quality-model";

/// The model file version this build writes and reads.
pub const MODEL_VERSION: u64 = 1;

/// Documents per class below which a model is a demonstration, not a quality filter: the pipeline warns when
/// it runs one. GPT-3's classifier learned from millions of documents per class (App. A); with fewer than
/// ten thousand, the hashed word weights mostly record which sites the few raw pages came from.
pub const MIN_TRAINING_DOCS_PER_CLASS: usize = 10_000;

/// Largest `num_features` accepted (2²⁶): scoring keeps a dense `f64` weight per bucket, so this bounds a
/// model's memory at 512 MiB and keeps a hostile file from asking for more.
pub const MAX_NUM_FEATURES: usize = 1 << 26;

/// The linear model proper: feature map, intercept and one weight per bucket.
#[derive(Clone, PartialEq)]
pub(crate) struct Scorer {
    hasher: FeatureHasher,
    intercept: f64,
    weights: Vec<f64>,
}

impl Scorer {
    /// A scorer from sparse `(index, weight)` pairs, each index below `hasher.num_features()`.
    pub(crate) fn new(hasher: FeatureHasher, intercept: f64, sparse: &[(u32, f64)]) -> Self {
        let mut weights = vec![0.0; hasher.num_features() as usize];
        for &(index, weight) in sparse {
            weights[index as usize] = weight;
        }
        Self {
            hasher,
            intercept,
            weights,
        }
    }

    /// Probability that `text` is curated text.
    pub(crate) fn score(&self, text: &str) -> f64 {
        sigmoid(self.intercept + self.hasher.dot(text, &self.weights))
    }
}

/// A trained quality classifier. Scoring is a pure function of the text; a model loaded from its own
/// saved file scores every text exactly as the original.
#[derive(Clone, PartialEq)]
pub struct Model {
    scorer: Scorer,
    training: TrainingRecord,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("kind", &self.kind())
            .field("num_features", &self.num_features())
            .field("intercept", &self.scorer.intercept)
            .field(
                "nonzero_weights",
                &self.scorer.weights.iter().filter(|w| **w != 0.0).count(),
            )
            .field("training", &self.training)
            .finish()
    }
}

/// The file as written: borrows the model.
#[derive(Serialize)]
struct ModelFileOut<'a> {
    format: &'static str,
    version: u64,
    kind: ModelKind,
    num_features: u32,
    hash_seed: u32,
    intercept: f64,
    weights: Vec<(u32, f64)>,
    training: &'a TrainingRecord,
}

/// The first two fields, read before anything else so that a wrong file gets a plain answer.
#[derive(Deserialize)]
struct ModelFileHeader {
    format: Option<String>,
    version: Option<u64>,
}

/// The file as read, every value still to be checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFileIn {
    #[serde(rename = "format")]
    _format: String,
    #[serde(rename = "version")]
    _version: u64,
    kind: ModelKind,
    num_features: u64,
    hash_seed: u64,
    intercept: f64,
    weights: Vec<(u64, f64)>,
    training: TrainingRecord,
}

impl Model {
    pub(crate) fn new(scorer: Scorer, training: TrainingRecord) -> Self {
        Self { scorer, training }
    }

    /// Probability, in `[0, 1]`, that `text` is curated rather than raw web text. Any string is valid
    /// input, the empty one included. One pass over the text for [`ModelKind::Gpt3HashingLr`].
    pub fn score(&self, text: &str) -> f64 {
        self.scorer.score(text)
    }

    /// [`Model::score`] of each text, in order, computed in parallel.
    pub fn score_all(&self, texts: &[&str]) -> Vec<f64> {
        texts.par_iter().map(|text| self.score(text)).collect()
    }

    /// The feature family.
    pub fn kind(&self) -> ModelKind {
        self.scorer.hasher.kind()
    }

    /// Number of hash buckets.
    pub fn num_features(&self) -> usize {
        self.scorer.hasher.num_features() as usize
    }

    /// The intercept (bias) of the logistic regression.
    pub fn intercept(&self) -> f64 {
        self.scorer.intercept
    }

    /// The options the model was trained with and how training went.
    pub fn training(&self) -> &TrainingRecord {
        &self.training
    }

    /// Why this model is too small to be a quality filter: its smaller class has fewer than
    /// [`MIN_TRAINING_DOCS_PER_CLASS`] documents, or the file does not record its class sizes. `None` for a
    /// model of real size.
    pub fn undersized(&self) -> Option<String> {
        let report = &self.training.report;
        match (report.positive_docs, report.negative_docs) {
            (Some(positive), Some(negative))
                if positive.min(negative) >= MIN_TRAINING_DOCS_PER_CLASS =>
            {
                None
            }
            (Some(positive), Some(negative)) => Some(format!(
                "trained on {positive} curated and {negative} raw documents, fewer than \
                 {MIN_TRAINING_DOCS_PER_CLASS} per class"
            )),
            _ => Some(format!(
                "its file does not record how many documents of each class it was trained on ({} in all)",
                report.train_docs + report.heldout_docs
            )),
        }
    }

    /// The model file as a JSON string.
    pub fn save_json(&self) -> String {
        serde_json::to_string(&self.file()).expect(
            "a model file holds only strings, integers, finite floats and string-keyed objects",
        )
    }

    /// Writes the model file to `writer` (unbuffered writes: wrap a file in a `BufWriter`).
    pub fn to_writer<W: Write>(&self, writer: W) -> Result<(), ClassifierError> {
        serde_json::to_writer(writer, &self.file())
            .map_err(|error| ClassifierError::Io(std::io::Error::from(error)))
    }

    /// Reads a model file, refusing (never panicking on) anything that is not a well-formed version-1
    /// model: wrong `format`, other `version`, unknown `kind` or fields, `num_features` outside
    /// `1..=MAX_NUM_FEATURES`, a `hash_seed` other than 42, weight indices that are not strictly
    /// increasing and below `num_features`, or non-finite numbers.
    pub fn from_json(json: &str) -> Result<Model, ClassifierError> {
        let malformed = |reason: String| ClassifierError::MalformedModel { reason };
        let header: ModelFileHeader =
            serde_json::from_str(json).map_err(|error| malformed(error.to_string()))?;
        match header.format.as_deref() {
            Some(MODEL_FORMAT) => {}
            Some(other) => {
                return Err(ClassifierError::NotAModelFile {
                    found: format!("{other:?}"),
                });
            }
            None => {
                return Err(ClassifierError::NotAModelFile {
                    found: "no \"format\" field".to_owned(),
                });
            }
        }
        match header.version {
            Some(MODEL_VERSION) => {}
            Some(found) => return Err(ClassifierError::UnsupportedVersion { found }),
            None => return Err(malformed("missing field `version`".to_owned())),
        }
        let file: ModelFileIn =
            serde_json::from_str(json).map_err(|error| malformed(error.to_string()))?;

        let num_features = match u32::try_from(file.num_features) {
            Ok(n) if n > 0 && n as usize <= MAX_NUM_FEATURES => n,
            _ => {
                return Err(malformed(format!(
                    "num_features {} is outside 1..={MAX_NUM_FEATURES}",
                    file.num_features
                )));
            }
        };
        if file.hash_seed != u64::from(SPARK_HASH_SEED) {
            return Err(malformed(format!(
                "hash_seed {} is not supported; {} models hash with seed {SPARK_HASH_SEED}",
                file.hash_seed, file.kind
            )));
        }
        if !file.intercept.is_finite() {
            return Err(malformed("the intercept is not a finite number".to_owned()));
        }
        let options = &file.training.options;
        if options.kind != file.kind {
            return Err(malformed(format!(
                "kind is {} but training.options.kind is {}",
                file.kind, options.kind
            )));
        }
        if options.num_features as u64 != file.num_features {
            return Err(malformed(format!(
                "num_features is {} but training.options.num_features is {}",
                file.num_features, options.num_features
            )));
        }
        let mut sparse = Vec::with_capacity(file.weights.len());
        let mut previous: Option<u64> = None;
        for (position, &(index, weight)) in file.weights.iter().enumerate() {
            if index >= u64::from(num_features) {
                return Err(malformed(format!(
                    "weights[{position}] has index {index}, not below num_features {num_features}"
                )));
            }
            if previous.is_some_and(|previous| index <= previous) {
                return Err(malformed(format!(
                    "weights[{position}] has index {index}, not above the previous index; indices must be \
                     strictly increasing"
                )));
            }
            if !weight.is_finite() {
                return Err(malformed(format!(
                    "weights[{position}] is not a finite number"
                )));
            }
            previous = Some(index);
            sparse.push((index as u32, weight));
        }
        let hasher = FeatureHasher::new(file.kind, num_features);
        Ok(Model::new(
            Scorer::new(hasher, file.intercept, &sparse),
            file.training,
        ))
    }

    /// [`Model::from_json`] on everything `reader` yields.
    pub fn from_reader<R: Read>(mut reader: R) -> Result<Model, ClassifierError> {
        let mut json = String::new();
        reader.read_to_string(&mut json)?;
        Model::from_json(&json)
    }

    fn file(&self) -> ModelFileOut<'_> {
        let weights = self
            .scorer
            .weights
            .iter()
            .enumerate()
            .filter(|(_, weight)| **weight != 0.0)
            .map(|(index, &weight)| (index as u32, weight))
            .collect();
        ModelFileOut {
            format: MODEL_FORMAT,
            version: MODEL_VERSION,
            kind: self.kind(),
            num_features: self.scorer.hasher.num_features(),
            hash_seed: SPARK_HASH_SEED,
            intercept: self.scorer.intercept,
            weights,
            training: &self.training,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::training::tests::synthetic_corpus;
    use super::super::{TrainOptions, train};
    use super::*;

    fn small_model(kind: ModelKind) -> Model {
        let (positive, negative) = synthetic_corpus(60);
        let positive: Vec<&str> = positive.iter().map(String::as_str).collect();
        let negative: Vec<&str> = negative.iter().map(String::as_str).collect();
        let options = TrainOptions {
            num_features: 4096,
            ..TrainOptions::for_kind(kind)
        };
        train(&positive, &negative, &options).expect("trains").0
    }

    const PROBES: [&str; 8] = [
        "",
        "   ",
        "alpha1 alpha2 common3",
        "beta4  beta5\tcommon6",
        "ÀB Ça ΟΔΟΣ İstanbul \u{212A}",
        "alpha1\r\nbeta2\x0Bcommon9\x0C",
        "\0\u{feff}\u{10ffff}",
        "the the the the the the the the the the the the the the the the the",
    ];

    #[test]
    fn undersized_models_say_so_and_real_sized_ones_do_not() {
        let mut model = small_model(ModelKind::Gpt3HashingLr);
        let report = &model.training().report;
        let (positive, negative) = (report.positive_docs, report.negative_docs);
        assert_eq!((positive, negative), (Some(60), Some(60)));
        let why = model
            .undersized()
            .expect("60 documents per class is a demonstration");
        assert!(why.contains("60 curated and 60 raw"), "{why}");

        model.training.report.negative_docs = Some(MIN_TRAINING_DOCS_PER_CLASS);
        assert!(model.undersized().is_some(), "the smaller class decides");
        model.training.report.positive_docs = Some(MIN_TRAINING_DOCS_PER_CLASS);
        assert_eq!(model.undersized(), None);

        // A file written before the class sizes were recorded still loads, and is reported as unknown.
        let mut file: Value = serde_json::from_str(&model.save_json()).expect("json");
        let report = file["training"]["report"].as_object_mut().expect("report");
        report.remove("positive_docs");
        report.remove("negative_docs");
        let old = Model::from_json(&file.to_string()).expect("an older file loads");
        let why = old.undersized().expect("unknown size");
        assert!(why.contains("does not record"), "{why}");
    }

    #[test]
    fn saved_and_loaded_models_score_identically() {
        for kind in [ModelKind::Gpt3HashingLr, ModelKind::BigramHashingLr] {
            let model = small_model(kind);
            let json = model.save_json();
            let loaded = Model::from_json(&json).expect("own file loads");
            assert_eq!(loaded, model);
            assert_eq!(loaded.save_json(), json);
            for text in PROBES {
                assert_eq!(
                    loaded.score(text).to_bits(),
                    model.score(text).to_bits(),
                    "{text:?}"
                );
            }
            let mut written = Vec::new();
            model.to_writer(&mut written).expect("writes to memory");
            assert_eq!(written, json.as_bytes());
            let read = Model::from_reader(written.as_slice()).expect("reads back");
            assert_eq!(read, model);
            assert_eq!(model.score_all(&PROBES), loaded.score_all(&PROBES));
        }
    }

    #[test]
    fn model_file_has_the_documented_layout() {
        let model = small_model(ModelKind::Gpt3HashingLr);
        let file: Value = serde_json::from_str(&model.save_json()).expect("JSON");
        assert_eq!(file["format"], "corpus-quality-model");
        assert_eq!(file["version"], 1);
        assert_eq!(file["kind"], "gpt3");
        assert_eq!(file["num_features"], 4096);
        assert_eq!(file["hash_seed"], 42);
        assert!(file["intercept"].is_f64());
        let weights = file["weights"].as_array().expect("weights array");
        assert!(!weights.is_empty());
        let mut previous = -1;
        for pair in weights {
            let index = pair[0].as_i64().expect("integer index");
            assert!(index > previous && index < 4096);
            assert_ne!(pair[1].as_f64().expect("float weight"), 0.0);
            previous = index;
        }
        assert_eq!(file["training"]["options"]["kind"], "gpt3");
        assert!(matches!(
            file["training"]["report"]["stop_reason"].as_str(),
            Some("gradient_tolerance" | "function_tolerance")
        ));
        let keys: Vec<&String> = file.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 8);
    }

    #[test]
    fn scores_are_probabilities_for_any_text() {
        for kind in [ModelKind::Gpt3HashingLr, ModelKind::BigramHashingLr] {
            let model = small_model(kind);
            let long = "alpha7 ".repeat(100_000);
            for text in PROBES.iter().copied().chain([long.as_str()]) {
                let score = model.score(text);
                assert!((0.0..=1.0).contains(&score), "{kind} {text:.20}: {score}");
            }
        }
    }

    /// The saved small model with one edit applied to its JSON.
    fn edited(edit: impl FnOnce(&mut Value)) -> String {
        let mut file: Value =
            serde_json::from_str(&small_model(ModelKind::Gpt3HashingLr).save_json()).expect("JSON");
        edit(&mut file);
        file.to_string()
    }

    #[test]
    fn refuses_malformed_model_files() {
        let not_json = [
            "",
            "{",
            "[]",
            "null",
            "42",
            "\"model\"",
            "{\"format\": ",
            "[[[[[[",
        ];
        for text in not_json {
            assert!(
                matches!(
                    Model::from_json(text),
                    Err(ClassifierError::MalformedModel { .. })
                        | Err(ClassifierError::NotAModelFile { .. })
                ),
                "{text:?}"
            );
        }
        assert!(matches!(
            Model::from_json(&edited(|f| f["format"] = json!("spark-ml"))),
            Err(ClassifierError::NotAModelFile { found }) if found == "\"spark-ml\""
        ));
        assert!(matches!(
            Model::from_json(&edited(|f| {
                f.as_object_mut().expect("object").remove("format");
            })),
            Err(ClassifierError::NotAModelFile { .. })
        ));
        assert!(matches!(
            Model::from_json(&edited(|f| f["version"] = json!(2))),
            Err(ClassifierError::UnsupportedVersion { found: 2 })
        ));

        let truncated = small_model(ModelKind::Gpt3HashingLr).save_json();
        let malformed: Vec<(&str, String)> = vec![
            ("truncated", truncated[..truncated.len() / 2].to_owned()),
            (
                "version missing",
                edited(|f| {
                    f.as_object_mut().expect("object").remove("version");
                }),
            ),
            ("unknown kind", edited(|f| f["kind"] = json!("trigram"))),
            (
                "kind differs from training",
                edited(|f| f["kind"] = json!("bigram")),
            ),
            ("unknown field", edited(|f| f["bias"] = json!(0.0))),
            (
                "weights missing",
                edited(|f| {
                    f.as_object_mut().expect("object").remove("weights");
                }),
            ),
            (
                "num_features zero",
                edited(|f| f["num_features"] = json!(0)),
            ),
            (
                "num_features huge",
                edited(|f| f["num_features"] = json!(1u64 << 40)),
            ),
            (
                "num_features negative",
                edited(|f| f["num_features"] = json!(-1)),
            ),
            (
                "num_features differs",
                edited(|f| f["num_features"] = json!(8192)),
            ),
            ("hash seed", edited(|f| f["hash_seed"] = json!(0))),
            (
                "intercept string",
                edited(|f| f["intercept"] = json!("0.5")),
            ),
            (
                "intercept overflow",
                edited(|f| f["intercept"] = json!(1))
                    .replace("\"intercept\":1", "\"intercept\":1e999"),
            ),
            (
                "index too large",
                edited(|f| f["weights"][0][0] = json!(4096)),
            ),
            ("index negative", edited(|f| f["weights"][0][0] = json!(-3))),
            ("index float", edited(|f| f["weights"][0][0] = json!(1.5))),
            (
                "duplicate index",
                edited(|f| {
                    let first = f["weights"][0].clone();
                    f["weights"].as_array_mut().expect("array").insert(0, first);
                }),
            ),
            (
                "unsorted",
                edited(|f| {
                    f["weights"].as_array_mut().expect("array").reverse();
                }),
            ),
            (
                "weight pair too short",
                edited(|f| f["weights"][0] = json!([3])),
            ),
            ("weight null", edited(|f| f["weights"][0][1] = Value::Null)),
            (
                "training missing",
                edited(|f| {
                    f.as_object_mut().expect("object").remove("training");
                }),
            ),
        ];
        for (case, text) in malformed {
            match Model::from_json(&text) {
                Err(ClassifierError::MalformedModel { reason }) => {
                    assert!(!reason.is_empty(), "{case}");
                }
                other => panic!("{case}: {other:?}"),
            }
        }
    }
}

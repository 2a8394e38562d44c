//! Training a classifier from the two classes' texts: the deterministic held-out split, featurisation,
//! L-BFGS on the standardised objective, and the report of how well the result separates the classes.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::features::FeatureHasher;
use super::lbfgs::{LbfgsOptions, StopReason, minimize};
use super::logistic::LogisticProblem;
use super::metrics::{accuracy, auc};
use super::model::{MAX_NUM_FEATURES, Model, Scorer};
use super::{ClassifierError, ModelKind};
use crate::pareto::unit_interval;

/// Mixed into the seed of the held-out hash so that it never correlates with other seeded hashes of the
/// same text (the Pareto draw, dedup).
const HOLDOUT_DOMAIN: u64 = 0x686f_6c64_6f75_7431; // "holdout1"

/// Curvature pairs L-BFGS keeps (Spark's and Breeze's default).
const LBFGS_MEMORY: usize = 10;

/// How to train a classifier. Start from [`TrainOptions::for_kind`], which fills in the kind's defaults:
///
/// | kind | `num_features` | `standardize` | `l2` |
/// |---|---|---|---|
/// | `gpt3` | 2¹⁸ (Spark `HashingTF`) | true (Spark's default) | 0.1 |
/// | `bigram` | 2²⁰ | false (features are already unit-length; standardising scales rare bigrams up until they dominate) | 1e-4 |
///
/// and for both `max_iter` 100 and `tolerance` 1e-6 (Spark's defaults), `holdout_fraction` 0.1, `seed` 0.
/// The penalties were picked on the bundled books-versus-web samples, where held-out AUC is flat over a
/// wide range; some penalty is needed because text is nearly separable in these dimensions, so Spark's
/// default of none drives weights towards infinity. Deserialising fills missing fields the same way,
/// from the `kind` given (default `gpt3`), and refuses unknown fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "TrainOptionsFields")]
pub struct TrainOptions {
    /// Feature family.
    pub kind: ModelKind,
    /// Number of hash buckets, at most [`MAX_NUM_FEATURES`].
    pub num_features: usize,
    /// L2 penalty coefficient (Spark's `regParam`): the objective is the mean log-loss plus
    /// `l2 / 2 · Σ β²` over the optimised feature weights `β`; never the intercept.
    pub l2: f64,
    /// Optimise over features divided by their standard deviation and penalise those weights (Spark's
    /// `standardization = true`: every feature penalised on the same scale, and raw counts become well
    /// conditioned); otherwise optimise and penalise the raw weights. The model stores raw-feature
    /// weights either way.
    pub standardize: bool,
    /// Most L-BFGS iterations (Spark's `maxIter`).
    pub max_iter: usize,
    /// Relative convergence tolerance of L-BFGS (Spark's `tol`).
    pub tolerance: f64,
    /// Share of documents held out to measure accuracy and AUC, in `[0, 1)`.
    pub holdout_fraction: f64,
    /// Seed of the held-out split.
    pub seed: u64,
}

impl Default for TrainOptions {
    /// The GPT-3 model's defaults.
    fn default() -> Self {
        Self::for_kind(ModelKind::Gpt3HashingLr)
    }
}

impl TrainOptions {
    /// The default options for `kind` (see the table above).
    pub fn for_kind(kind: ModelKind) -> Self {
        let (standardize, l2) = match kind {
            ModelKind::Gpt3HashingLr => (true, 0.1),
            ModelKind::BigramHashingLr => (false, 1e-4),
        };
        Self {
            kind,
            num_features: kind.default_num_features(),
            l2,
            standardize,
            max_iter: 100,
            tolerance: 1e-6,
            holdout_fraction: 0.1,
            seed: 0,
        }
    }

    /// Checks every option; returns the number of buckets.
    fn validate(&self) -> Result<u32, ClassifierError> {
        let invalid =
            |option, reason: String| Err(ClassifierError::InvalidOption { option, reason });
        if self.num_features == 0 || self.num_features > MAX_NUM_FEATURES {
            return invalid(
                "num_features",
                format!("{} is outside 1..={MAX_NUM_FEATURES}", self.num_features),
            );
        }
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return invalid("l2", format!("{} must be a finite number ≥ 0", self.l2));
        }
        if self.max_iter == 0 {
            return invalid("max_iter", "must be at least 1".to_owned());
        }
        if !(self.tolerance >= 0.0 && self.tolerance.is_finite()) {
            return invalid(
                "tolerance",
                format!("{} must be a finite number ≥ 0", self.tolerance),
            );
        }
        if !(0.0..1.0).contains(&self.holdout_fraction) {
            return invalid(
                "holdout_fraction",
                format!("{} must be in [0, 1)", self.holdout_fraction),
            );
        }
        Ok(self.num_features as u32)
    }
}

/// [`TrainOptions`] as written in a config or model file, any field but `kind` optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainOptionsFields {
    #[serde(default)]
    kind: ModelKind,
    num_features: Option<usize>,
    l2: Option<f64>,
    standardize: Option<bool>,
    max_iter: Option<usize>,
    tolerance: Option<f64>,
    holdout_fraction: Option<f64>,
    seed: Option<u64>,
}

impl From<TrainOptionsFields> for TrainOptions {
    fn from(fields: TrainOptionsFields) -> Self {
        let defaults = TrainOptions::for_kind(fields.kind);
        Self {
            kind: fields.kind,
            num_features: fields.num_features.unwrap_or(defaults.num_features),
            l2: fields.l2.unwrap_or(defaults.l2),
            standardize: fields.standardize.unwrap_or(defaults.standardize),
            max_iter: fields.max_iter.unwrap_or(defaults.max_iter),
            tolerance: fields.tolerance.unwrap_or(defaults.tolerance),
            holdout_fraction: fields.holdout_fraction.unwrap_or(defaults.holdout_fraction),
            seed: fields.seed.unwrap_or(defaults.seed),
        }
    }
}

/// How training went, measured with the final model (a document counts as predicted curated when its
/// score is at least 0.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Curated documents given, held out ones included. `None` in a file written before the count was
    /// recorded.
    #[serde(default)]
    pub positive_docs: Option<usize>,
    /// Raw Common Crawl documents given, held out ones included (`None` as for `positive_docs`).
    #[serde(default)]
    pub negative_docs: Option<usize>,
    /// Documents trained on (both classes).
    pub train_docs: usize,
    /// Documents held out (both classes).
    pub heldout_docs: usize,
    /// Features that occur in the training documents with nonzero variance (the optimised weights).
    pub active_features: usize,
    /// Accuracy on the training documents.
    pub train_accuracy: f64,
    /// Accuracy on the held-out documents; `None` when none were held out.
    pub heldout_accuracy: Option<f64>,
    /// ROC AUC on the held-out documents; `None` unless both classes were held out.
    pub heldout_auc: Option<f64>,
    /// L-BFGS iterations.
    pub iterations: usize,
    /// Final objective: mean training log-loss plus the L2 penalty.
    pub final_loss: f64,
    /// Whether L-BFGS met its tolerance.
    pub converged: bool,
    /// Why L-BFGS stopped.
    pub stop_reason: StopReason,
}

/// What a model file records about its training: the options and the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The options used.
    pub options: TrainOptions,
    /// How training went.
    pub report: TrainReport,
}

/// Trains a classifier that scores `positive` (curated) texts high and `negative` (raw Common Crawl)
/// texts low.
///
/// A document is held out when the seeded hash of its text falls below `holdout_fraction`, so the split
/// depends on neither order nor thread count, and identical texts land on the same side. Fails with a
/// typed error when a class is empty or entirely held out, an option is out of range, or the optimiser
/// diverges.
pub fn train(
    positive: &[&str],
    negative: &[&str],
    options: &TrainOptions,
) -> Result<(Model, TrainReport), ClassifierError> {
    let num_features = options.validate()?;
    for (class, texts) in [("positive", positive), ("negative", negative)] {
        if texts.is_empty() {
            return Err(ClassifierError::EmptyClass { class });
        }
    }
    let labelled = positive
        .iter()
        .map(|&text| (text, true))
        .chain(negative.iter().map(|&text| (text, false)));
    let (heldout, trained): (Vec<_>, Vec<_>) =
        labelled.partition(|(text, _)| is_held_out(text, options));
    for (class, label, count) in [
        ("positive", true, positive.len()),
        ("negative", false, negative.len()),
    ] {
        if !trained.iter().any(|&(_, l)| l == label) {
            return Err(ClassifierError::NoTrainingDocuments { class, count });
        }
    }

    let hasher = FeatureHasher::new(options.kind, num_features);
    let labels: Vec<bool> = trained.iter().map(|&(_, label)| label).collect();
    let problem = {
        let features: Vec<Vec<(u32, f64)>> = trained
            .par_iter()
            .map(|(text, _)| hasher.features(text))
            .collect();
        LogisticProblem::new(
            &features,
            &labels,
            num_features,
            options.l2,
            options.standardize,
        )
    };
    let minimum = minimize(
        |params, gradient| problem.loss_and_gradient(params, gradient),
        problem.initial_point(),
        &LbfgsOptions {
            max_iter: options.max_iter,
            tolerance: options.tolerance,
            memory: LBFGS_MEMORY,
        },
    );
    let (weights, intercept) = problem.original_weights(&minimum.x);
    if minimum.stop == StopReason::NonFiniteLoss
        || !minimum.value.is_finite()
        || !intercept.is_finite()
        || weights.iter().any(|(_, weight)| !weight.is_finite())
    {
        return Err(ClassifierError::Diverged);
    }
    let scorer = Scorer::new(hasher, intercept, &weights);

    let score = |docs: &[(&str, bool)]| -> Vec<(f64, bool)> {
        docs.par_iter()
            .map(|&(text, label)| (scorer.score(text), label))
            .collect()
    };
    let trained_scores = score(&trained);
    let heldout_scores = score(&heldout);
    let report = TrainReport {
        positive_docs: Some(positive.len()),
        negative_docs: Some(negative.len()),
        train_docs: trained.len(),
        heldout_docs: heldout.len(),
        active_features: problem.columns(),
        train_accuracy: accuracy(&trained_scores).unwrap_or(0.0),
        heldout_accuracy: accuracy(&heldout_scores),
        heldout_auc: auc(&heldout_scores),
        iterations: minimum.iterations,
        final_loss: minimum.value,
        converged: minimum.stop.converged(),
        stop_reason: minimum.stop,
    };
    let record = TrainingRecord {
        options: options.clone(),
        report: report.clone(),
    };
    Ok((Model::new(scorer, record), report))
}

/// Whether `text` is in the held-out split: its seeded xxh3 read as a uniform number in `[0, 1)`.
fn is_held_out(text: &str, options: &TrainOptions) -> bool {
    let hash = xxh3_64_with_seed(text.as_bytes(), options.seed ^ HOLDOUT_DOMAIN);
    unit_interval(hash) < options.holdout_fraction
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::{BufRead, BufReader, Read};

    use super::*;

    /// `per_class` documents per class over a made-up vocabulary: each document has 30 words, most of
    /// them shared by both classes, the rest from its own class's 50 words (a few from the other's).
    pub(crate) fn synthetic_corpus(per_class: usize) -> (Vec<String>, Vec<String>) {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        let mut document = |own: &str, other: &str| {
            (0..30)
                .map(|_| match next(10) {
                    0..=5 => format!("Common{}", next(200)),
                    6..=8 => format!("{own}{}", next(50)),
                    _ => format!("{other}{}", next(50)),
                })
                .collect::<Vec<_>>()
                .join(if next(2) == 0 { " " } else { "  " })
        };
        let positive = (0..per_class).map(|_| document("alpha", "beta")).collect();
        let negative = (0..per_class).map(|_| document("beta", "alpha")).collect();
        (positive, negative)
    }

    fn strs(texts: &[String]) -> Vec<&str> {
        texts.iter().map(String::as_str).collect()
    }

    #[test]
    fn separates_synthetic_classes_with_both_kinds() {
        let (positive, negative) = synthetic_corpus(400);
        for kind in [ModelKind::Gpt3HashingLr, ModelKind::BigramHashingLr] {
            let options = TrainOptions {
                holdout_fraction: 0.25,
                ..TrainOptions::for_kind(kind)
            };
            let (model, report) =
                train(&strs(&positive), &strs(&negative), &options).expect("trains");
            assert_eq!(report.train_docs + report.heldout_docs, 800);
            assert!((150..=250).contains(&report.heldout_docs), "{report:?}");
            assert!(report.converged, "{kind}: {report:?}");
            assert!(report.train_accuracy > 0.97, "{kind}: {report:?}");
            let auc = report.heldout_auc.expect("both classes held out");
            assert!(auc > 0.99, "{kind}: {report:?}");
            assert_eq!(model.kind(), kind);
            assert_eq!(model.num_features(), kind.default_num_features());
            assert_eq!(model.training().report, report);
            assert!(model.score("alpha1 alpha2 alpha3 common4") > 0.5);
            assert!(model.score("beta1 beta2 beta3 common4") < 0.5);
        }
    }

    #[test]
    fn training_is_deterministic_across_runs_and_thread_counts() {
        let (positive, negative) = synthetic_corpus(150);
        let (positive, negative) = (strs(&positive), strs(&negative));
        for kind in [ModelKind::Gpt3HashingLr, ModelKind::BigramHashingLr] {
            let options = TrainOptions::for_kind(kind);
            let run = |threads: usize| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("thread pool")
                    .install(|| train(&positive, &negative, &options))
                    .expect("trains")
                    .0
                    .save_json()
            };
            let first = run(1);
            assert_eq!(first, run(1));
            assert_eq!(first, run(2));
            assert_eq!(first, run(5));
        }
    }

    #[test]
    fn held_out_split_follows_the_text_and_seed() {
        let options = TrainOptions {
            holdout_fraction: 0.3,
            ..TrainOptions::default()
        };
        let texts: Vec<String> = (0..10_000).map(|i| format!("document {i}")).collect();
        let held: Vec<bool> = texts.iter().map(|t| is_held_out(t, &options)).collect();
        // Binomial(10 000, 0.3): 3000 ± 229 (5σ).
        let count = held.iter().filter(|&&h| h).count();
        assert!((2771..=3229).contains(&count), "{count}");
        let reseeded = TrainOptions {
            seed: 1,
            ..options.clone()
        };
        let moved = texts
            .iter()
            .zip(&held)
            .filter(|&(t, &h)| is_held_out(t, &reseeded) != h)
            .count();
        assert!(moved > 3000, "{moved}");
        let none = TrainOptions {
            holdout_fraction: 0.0,
            ..options
        };
        assert!(texts.iter().all(|t| !is_held_out(t, &none)));
    }

    #[test]
    fn refuses_empty_classes_and_bad_options() {
        let options = TrainOptions::default();
        assert!(matches!(
            train(&[], &["raw"], &options),
            Err(ClassifierError::EmptyClass { class: "positive" })
        ));
        assert!(matches!(
            train(&["curated"], &[], &options),
            Err(ClassifierError::EmptyClass { class: "negative" })
        ));
        let nearly_all_held_out = TrainOptions {
            holdout_fraction: 0.999_999,
            ..TrainOptions::default()
        };
        assert!(matches!(
            train(&["curated"], &["raw"], &nearly_all_held_out),
            Err(ClassifierError::NoTrainingDocuments {
                class: "positive",
                count: 1
            })
        ));
        let bad: [(&str, TrainOptions); 9] = [
            (
                "l2",
                TrainOptions {
                    l2: -1.0,
                    ..TrainOptions::default()
                },
            ),
            (
                "l2",
                TrainOptions {
                    l2: f64::NAN,
                    ..TrainOptions::default()
                },
            ),
            (
                "l2",
                TrainOptions {
                    l2: f64::INFINITY,
                    ..TrainOptions::default()
                },
            ),
            (
                "max_iter",
                TrainOptions {
                    max_iter: 0,
                    ..TrainOptions::default()
                },
            ),
            (
                "tolerance",
                TrainOptions {
                    tolerance: -1e-6,
                    ..TrainOptions::default()
                },
            ),
            (
                "holdout_fraction",
                TrainOptions {
                    holdout_fraction: 1.0,
                    ..TrainOptions::default()
                },
            ),
            (
                "holdout_fraction",
                TrainOptions {
                    holdout_fraction: f64::NAN,
                    ..TrainOptions::default()
                },
            ),
            (
                "num_features",
                TrainOptions {
                    num_features: 0,
                    ..TrainOptions::default()
                },
            ),
            (
                "num_features",
                TrainOptions {
                    num_features: MAX_NUM_FEATURES + 1,
                    ..TrainOptions::default()
                },
            ),
        ];
        for (option, options) in bad {
            match train(&["curated"], &["raw"], &options) {
                Err(ClassifierError::InvalidOption { option: got, .. }) => assert_eq!(got, option),
                other => panic!("{option}: {other:?}"),
            }
        }
    }

    #[test]
    fn options_read_from_partial_json_with_kind_defaults() {
        let options: TrainOptions =
            serde_json::from_str(r#"{"kind": "bigram", "l2": 0.01}"#).expect("valid options");
        assert_eq!(
            options,
            TrainOptions {
                l2: 0.01,
                ..TrainOptions::for_kind(ModelKind::BigramHashingLr)
            }
        );
        let options: TrainOptions = serde_json::from_str("{}").expect("valid options");
        assert_eq!(options, TrainOptions::default());
        assert_eq!(options.num_features, 1 << 18);
        assert!(serde_json::from_str::<TrainOptions>(r#"{"kind": "trigram"}"#).is_err());
        assert!(serde_json::from_str::<TrainOptions>(r#"{"l2_penalty": 1}"#).is_err());
    }

    fn sample_path(relative: &str) -> String {
        format!("{}/../tests/data/{relative}", env!("CARGO_MANIFEST_DIR"))
    }

    /// The `text` field of each line of a gzipped JSON-lines sample.
    fn jsonl_gz_texts(relative: &str) -> Vec<String> {
        let file = std::fs::File::open(sample_path(relative)).expect("sample file exists");
        BufReader::new(flate2::read::MultiGzDecoder::new(file))
            .lines()
            .map(|line| {
                let line = line.expect("readable gzip");
                let value: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
                value["text"].as_str().expect("text field").to_owned()
            })
            .collect()
    }

    /// A Project Gutenberg book without its licence header and footer, with LF line ends, cut into
    /// documents of about `size` bytes at paragraph breaks.
    fn book_documents(relative: &str, size: usize) -> Vec<String> {
        let mut raw = String::new();
        std::fs::File::open(sample_path(relative))
            .expect("sample book exists")
            .read_to_string(&mut raw)
            .expect("UTF-8 book");
        let text = raw.replace("\r\n", "\n");
        let start = text
            .find("*** START")
            .and_then(|at| text[at..].find('\n').map(|nl| at + nl));
        let end = text
            .find("*** END")
            .or_else(|| text.find("End of the Project Gutenberg"));
        let body = &text[start.unwrap_or(0)..end.unwrap_or(text.len())];
        let mut documents = Vec::new();
        let mut current = String::new();
        for paragraph in body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            current.push_str(paragraph);
            current.push_str("\n\n");
            if current.len() >= size {
                documents.push(std::mem::take(&mut current));
            }
        }
        documents
    }

    #[test]
    fn separates_books_from_web_text_on_the_bundled_samples() {
        let mut positive = Vec::new();
        for book in [
            "books/pg972-the-devils-dictionary.txt",
            "books/pg1342-pride-and-prejudice.txt",
            "books/pg2701-moby-dick.txt",
        ] {
            positive.extend(book_documents(book, 3000));
        }
        let mut negative = Vec::new();
        for sample in [
            "webtext/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz",
            "webtext/c4-en-sample.01.json.gz",
            "webtext/c4-en-sample.02.json.gz",
            "webtext/ccnet-cc_en_head-0091.jsonl.gz",
        ] {
            negative.extend(jsonl_gz_texts(sample));
        }
        assert!(positive.len() > 500 && negative.len() > 700);
        // Every other document of each class keeps the test quick in a debug build.
        let positive: Vec<&str> = positive.iter().step_by(2).map(String::as_str).collect();
        let negative: Vec<&str> = negative.iter().step_by(2).map(String::as_str).collect();
        for kind in [ModelKind::Gpt3HashingLr, ModelKind::BigramHashingLr] {
            let options = TrainOptions {
                holdout_fraction: 0.2,
                // Looser than the default: the same held-out AUC in fewer iterations.
                tolerance: 1e-4,
                ..TrainOptions::for_kind(kind)
            };
            let (_, report) = train(&positive, &negative, &options).expect("trains");
            let auc = report.heldout_auc.expect("both classes held out");
            assert!(auc > 0.9, "{kind}: {report:?}");
        }
    }
}

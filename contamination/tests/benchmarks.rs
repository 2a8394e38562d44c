//! Loading the real benchmark files: slices of each kept in this crate's `tests/data`, and the full files
//! the repository bundles in `tests/data/benchmarks` (both always run).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use corpus_contamination::{BenchmarkFormat, BenchmarkSet, Mode, choose_n, load_examples};

/// A benchmark as the configs in `configs/` name it: file, format, fields, records, examples in the full
/// file.
struct Spec {
    file: &'static str,
    format: BenchmarkFormat,
    fields: &'static [&'static str],
    records: Option<&'static str>,
    full_examples: usize,
}

const SPECS: &[Spec] = &[
    Spec {
        file: "arc-challenge-test.mosaic.jsonl",
        format: BenchmarkFormat::Jsonl,
        fields: &["query", "choices"],
        records: None,
        full_examples: 1172,
    },
    Spec {
        file: "boolq-superglue-val.jsonl",
        format: BenchmarkFormat::Jsonl,
        fields: &["passage", "question"],
        records: None,
        full_examples: 3270,
    },
    Spec {
        file: "copa-superglue-val.jsonl",
        format: BenchmarkFormat::Jsonl,
        fields: &["premise", "choice1", "choice2"],
        records: None,
        full_examples: 100,
    },
    Spec {
        file: "hellaswag-val-olmes-subset1000.jsonl",
        format: BenchmarkFormat::Jsonl,
        fields: &["query", "choices"],
        records: None,
        full_examples: 1000,
    },
    Spec {
        file: "lambada-openai-test.jsonl",
        format: BenchmarkFormat::Jsonl,
        fields: &["text"],
        records: None,
        full_examples: 5153,
    },
    Spec {
        file: "piqa-valid.jsonl",
        format: BenchmarkFormat::Jsonl,
        fields: &["goal", "sol1", "sol2"],
        records: None,
        full_examples: 1838,
    },
    Spec {
        file: "squad-v1.1-dev.json",
        format: BenchmarkFormat::Json,
        fields: &["context", "qas[].question", "qas[].answers[].text"],
        records: Some("data[].paragraphs[]"),
        full_examples: 2067,
    },
    Spec {
        file: "winogrande-xl-dev.jsonl",
        format: BenchmarkFormat::Jsonl,
        fields: &["sentence", "option1", "option2"],
        records: None,
        full_examples: 1267,
    },
];

fn load(spec: &Spec, path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let fields: Vec<String> = spec.fields.iter().map(|f| f.to_string()).collect();
    load_examples(spec.format, &bytes, &fields, spec.records).unwrap()
}

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file)
}

#[test]
fn every_benchmark_slice_loads() {
    let expected_first: &[(&str, &str, &str)] = &[
        (
            "arc-challenge-test.mosaic.jsonl",
            "Question: An astronomer observes",
            "Planetary gravity will become stronger.",
        ),
        (
            "boolq-superglue-val.jsonl",
            "Ethanol fuel -- All biomass",
            "does ethanol take more energy make that produces",
        ),
        (
            "copa-superglue-val.jsonl",
            "The man turned on the faucet.",
            "The man turned on the faucet. The toilet filled with water. Water flowed from the spout.",
        ),
        (
            "hellaswag-val-olmes-subset1000.jsonl",
            "Finance and Business: How to apply",
            "",
        ),
        (
            "lambada-openai-test.jsonl",
            "In my palm is a clear stone",
            "I don't care about signs",
        ),
        (
            "piqa-valid.jsonl",
            "How do I ready a guinea pig cage",
            "supply it with a water bottle and a food dish.",
        ),
        (
            "squad-v1.1-dev.json",
            "Super Bowl 50 was an American football game",
            "Which NFL team represented the NFC at Super Bowl 50? Denver Broncos Denver Broncos Denver Broncos \
             Carolina Panthers Carolina Panthers Carolina Panthers",
        ),
        (
            "winogrande-xl-dev.jsonl",
            "Sarah was a much better surgeon than Maria so _ always got the easier cases. Sarah Maria",
            "Sarah Maria",
        ),
    ];
    for spec in SPECS {
        let examples = load(spec, &data(spec.file));
        let expected = if spec.records.is_some() { 2 } else { 3 };
        assert_eq!(examples.len(), expected, "{}", spec.file);
        let &(_, start, end) = expected_first
            .iter()
            .find(|(file, _, _)| *file == spec.file)
            .unwrap();
        assert!(
            examples[0].starts_with(start),
            "{}: {}",
            spec.file,
            examples[0]
        );
        assert!(examples[0].ends_with(end), "{}: {}", spec.file, examples[0]);
    }
}

#[test]
fn squad_slice_joins_context_questions_and_answers_per_paragraph() {
    let spec = SPECS.iter().find(|s| s.file.starts_with("squad")).unwrap();
    let examples = load(spec, &data(spec.file));
    let bytes = std::fs::read(data(spec.file)).unwrap();
    let document: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    for (i, example) in examples.iter().enumerate() {
        let paragraph = &document["data"][0]["paragraphs"][i];
        let mut expected = vec![paragraph["context"].as_str().unwrap().to_string()];
        for qa in paragraph["qas"].as_array().unwrap() {
            expected.push(qa["question"].as_str().unwrap().to_string());
        }
        for qa in paragraph["qas"].as_array().unwrap() {
            for answer in qa["answers"].as_array().unwrap() {
                expected.push(answer["text"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(example, &expected.join(" "));
    }
}

#[test]
fn full_benchmarks_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/benchmarks");
    let mut set = BenchmarkSet::new(Mode::Gpt3);
    for spec in SPECS {
        let examples = load(spec, &root.join(spec.file));
        assert_eq!(examples.len(), spec.full_examples, "{}", spec.file);
        let n = choose_n(&examples, Mode::Gpt3);
        assert!((8..=13).contains(&n), "{}: {n}", spec.file);
        let b = set.add(spec.file, &examples, n).unwrap();
        assert_eq!(set.examples(b), spec.full_examples);
    }
    assert!(set.ngrams() > 100_000, "{}", set.ngrams());
}

//! The quality stage on the sample data: every removed document has a reject row naming the filter, the rule
//! and the measured value; kept Common Crawl documents carry their classifier score; the CLI trains the
//! shipped model again from the bundled samples and explains the rule filters' decisions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, Float64Array, StringArray};
use corpus_store::Storage;
use corpus_store::read_parquet;
use corpus_tests::{TestConfig, data_dir, repo_root, run, write_config};

pub(crate) fn batches(dir: &std::path::Path) -> Vec<arrow::array::RecordBatch> {
    let storage: Arc<Storage> = Storage::new().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|p| {
            let loc = storage.resolve(p.to_str().unwrap()).unwrap();
            read_parquet(&storage, &loc)
                .unwrap()
                .map(|b| b.unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

pub(crate) fn strings<'a>(b: &'a arrow::array::RecordBatch, name: &str) -> &'a StringArray {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
}

fn sources(b: &arrow::array::RecordBatch) -> Vec<String> {
    corpus_store::source_values(b, "source").unwrap()
}

#[test]
fn removed_documents_name_rule_and_value_and_kept_ones_carry_scores() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let config = write_config(dir.path(), &work, &TestConfig::default());
    run(&[
        "build",
        "--config",
        config.to_str().unwrap(),
        "--tasks",
        "2",
    ])
    .ok()
    // The sample model is a demonstration, and the build says so.
    .logged("trained on 780 curated and 41 raw documents, fewer than 10000 per class");

    let mut reasons = BTreeMap::<String, u64>::new();
    for b in batches(&work.join("quality/rejects")) {
        let value = b
            .column_by_name("value")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        for (i, source) in sources(&b).iter().enumerate() {
            assert_eq!(source, "common_crawl", "only common_crawl is filtered");
            assert!(strings(&b, "rule").value(i).starts_with("quality."));
            assert!(!value.is_null(i), "a quality reject without its value");
            assert!(!strings(&b, "text").is_null(i), "the removed text is kept");
            *reasons
                .entry(strings(&b, "reason").value(i).to_string())
                .or_default() += 1;
        }
    }
    assert!(reasons.contains_key("pareto_resample"), "{reasons:?}");
    assert!(
        reasons.keys().any(|r| r != "pareto_resample"),
        "no rule filter fired on the Common Crawl samples: {reasons:?}"
    );

    let mut scored = 0;
    for b in batches(&work.join("quality")) {
        let score = b
            .column_by_name("quality_score")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        for (i, source) in sources(&b).iter().enumerate() {
            if source == "common_crawl" {
                let s = score.value(i);
                assert!(!score.is_null(i) && (0.0..=1.0).contains(&s), "{s}");
                scored += 1;
            } else {
                assert!(score.is_null(i), "{source} is not scored");
            }
        }
    }
    assert!(
        scored > 0,
        "Pareto resampling kept no Common Crawl document"
    );
}

#[test]
fn the_shipped_model_is_retrained_identically_and_check_explains_rules() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.json");
    let d = data_dir();
    let glob = |p: &str| d.join(p).display().to_string();
    let out = run(&[
        "quality",
        "train",
        "--positive",
        &glob("webtext/*.jsonl.zst"),
        &glob("webtext/dolma-*.jsonl.gz"),
        &glob("books/*.txt"),
        &glob("wiki/enwiki-*.bz2"),
        "--negative",
        &glob("warc/*.warc.gz"),
        &glob("warc/*.wet.gz"),
        "--out",
        model.to_str().unwrap(),
    ])
    .ok();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let auc = report["report"]["heldout_auc"].as_f64().unwrap();
    assert!(auc > 0.5, "{report}");
    let shipped =
        std::fs::read_to_string(repo_root().join("configs/models/quality-sample.json")).unwrap();
    assert!(
        std::fs::read_to_string(&model).unwrap() == shipped,
        "configs/models/quality-sample.json is not what the documented command trains (see README)"
    );

    let decisions = dir.path().join("decisions.jsonl");
    let input = glob("webtext/ccnet-*.jsonl.gz");
    run(&[
        "quality",
        "check",
        "--input",
        &input,
        "--out",
        decisions.to_str().unwrap(),
    ])
    .ok();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&decisions)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10, "one line per document");
    let mut filters = BTreeSet::new();
    for line in &lines {
        for (filter, decision) in line["decisions"].as_object().unwrap() {
            filters.insert(filter.clone());
            if !decision.is_null() {
                assert!(decision["reason"].is_string() && decision["value"].is_number());
            }
        }
    }
    assert_eq!(
        filters.into_iter().collect::<Vec<_>>(),
        ["c4", "fineweb", "gopher_quality", "gopher_repetition"]
    );
}

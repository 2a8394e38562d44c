//! Bad configuration is refused before any work: exit code 2, a message naming the field, and nothing
//! written to the work directory.

use corpus_tests::{TestConfig, build, run, write_config};

fn refused(edit: impl Fn(&str) -> String, field: &str) -> corpus_tests::Run {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let good = write_config(dir.path(), &work, &TestConfig::default());
    let text = edit(&std::fs::read_to_string(&good).unwrap());
    std::fs::write(&good, text).unwrap();
    let r = run(&["build", "--config", good.to_str().unwrap()]);
    assert_eq!(
        r.code,
        Some(2),
        "expected exit 2 for {field}:\n{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(field),
        "message does not name {field}:\n{}",
        r.stderr
    );
    assert!(!work.exists(), "{field}: the work directory was written to");
    r
}

#[test]
fn unknown_key() {
    refused(
        |t| t.replace("seed = 7", "seed = 7\nthreads_per_task = 3"),
        "threads_per_task",
    );
}

#[test]
fn missing_source_path() {
    refused(
        |t| {
            t.replace(
                "books/pg972-the-devils-dictionary.txt",
                "books/no-such-*.txt",
            )
        },
        "sources[2].paths[0]",
    );
}

#[test]
fn negative_weight() {
    refused(
        |t| t.replace("weight = 0.22", "weight = -0.22"),
        "sources[1].weight",
    );
}

#[test]
fn unknown_format() {
    let r = refused(
        |t| t.replacen("format = \"text\"", "format = \"epub\"", 1),
        "sources[2].format",
    );
    assert!(r.stderr.contains("allowed: jsonl, text"), "{}", r.stderr);
}

#[test]
fn unknown_encoding() {
    refused(
        |t| t.replace("r50k_base", "gpt9_base"),
        "tokenizer.encoding",
    );
}

#[test]
fn zero_tasks_and_bad_val_fraction() {
    refused(|t| t.replace("tasks = 4", "tasks = 0"), "run.tasks");
    refused(
        |t| t.replace("val_fraction = 0.02", "val_fraction = 1.5"),
        "shards.val_fraction",
    );
}

#[test]
fn bad_quality_settings_name_their_field() {
    refused(
        |t| format!("{t}\n[quality.rules.gopher_quality]\nmin_doc_wrods = 10\n"),
        "quality.rules.gopher_quality",
    );
    refused(
        |t| format!("{t}\n[quality.rules.overrides.books1.fineweb]\nshort_line_length = -3\n"),
        "quality.rules.overrides.books1.fineweb",
    );
    refused(
        |t| {
            t.replace(
                "sources = [\"common_crawl\"]",
                "sources = [\"common_crawl\", \"comon_crawl\"]",
            )
        },
        "quality.classifier.sources[1]",
    );
    refused(
        |t| t.replace("quality-sample.json", "no-such-model.json"),
        "quality.classifier.model",
    );
    refused(
        |t| format!("{t}\n[quality.language]\nenabled = true\nlanguages = [\"english\"]\n"),
        "quality.language.languages[0]",
    );
}

#[test]
fn changed_config_is_refused_until_forced() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let cfg = write_config(dir.path(), &work, &TestConfig::default());
    build(&cfg, &[]);
    let changed = write_config(
        dir.path(),
        &work,
        &TestConfig {
            tokens_per_shard: 300_000,
            ..TestConfig::default()
        },
    );
    let r = run(&["build", "--config", changed.to_str().unwrap()]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("stage 'shard'") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    // Upstream stages, whose configuration did not change, are kept.
    build(&changed, &["--force"])
        .logged("ingest: 0 tasks ran, 4 skipped")
        .logged("shard: 4 tasks ran");
    corpus_tests::python_check(&work);
}

//! For every stage, documents in = documents out + documents rejected, read back from `reports/`, and every
//! rejected document has a row in `rejects/` with its reason.

use std::sync::Arc;

use corpus_pipeline::runner::read_report;
use corpus_store::Storage;
use corpus_tests::{TestConfig, run, write_config};

#[test]
fn reports_balance_and_rejects_have_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("broken.jsonl"),
        "{\"text\": \"a fine document\"}\n{\"text\": \nnot json at all\n{\"body\": \"no text field\"}\n{\"text\": 42}\n{\"text\": \"   \"}\n\n{\"text\": \"another good one\"}\n",
    )
    .unwrap();
    // A gzip file cut in the middle: the stream error becomes a reject, the task goes on.
    let gz =
        std::fs::read(corpus_tests::data_dir().join("webtext/c4-en-sample.02.json.gz")).unwrap();
    std::fs::write(bad.join("truncated.jsonl.gz"), &gz[..gz.len() / 2]).unwrap();
    // A WET file whose first record declares 12 bytes of its 60: its text is recovered up to the next header.
    let wet = dir.path().join("wet");
    std::fs::create_dir_all(&wet).unwrap();
    let record = |uri: &str, text: &str, length: usize| {
        format!(
            "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: {uri}\r\n\
             WARC-Date: 2019-07-17T12:15:59Z\r\nContent-Type: text/plain\r\n\
             Content-Length: {length}\r\n\r\n{text}\r\n\r\n"
        )
    };
    let first = "A page whose length was written wrong by a hand-made tool.";
    let second = "A page whose length is right.";
    std::fs::write(
        wet.join("hand-made.warc.wet"),
        record("http://example.com/a", first, 12)
            + &record("http://example.com/b", second, second.len()),
    )
    .unwrap();
    let opts = TestConfig {
        extra_sources: format!(
            "\n[[sources]]\nname = \"broken\"\nformat = \"jsonl\"\npaths = [\"{}/*\"]\nweight = 0.0\n\
             \n[[sources]]\nname = \"hand_made_wet\"\nformat = \"wet\"\npaths = [\"{}/*\"]\nweight = 0.0\n",
            bad.display(),
            wet.display()
        ),
        ..TestConfig::default()
    };
    let work = dir.path().join("work");
    let config = write_config(dir.path(), &work, &opts);
    run(&[
        "build",
        "--config",
        config.to_str().unwrap(),
        "--tasks",
        "3",
    ])
    .ok();

    let status = run(&["status", "--work", work.to_str().unwrap(), "--json"]).ok();
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        status["stages"][0]["recovered_by_reason"],
        serde_json::json!({"bad_content_length": 1}),
        "{status}"
    );

    let storage: Arc<Storage> = Storage::new().unwrap();
    let root = storage.resolve(work.to_str().unwrap()).unwrap();
    let mut outs = Vec::new();
    for stage in [
        "ingest",
        "quality",
        "dedup-signatures",
        "dedup-filter",
        "decontam-count",
        "decontaminate",
        "tokenize",
        "mix",
        "shard",
    ] {
        let name = if stage == "mix" { "mix_tasks" } else { stage };
        let report =
            read_report(&storage, &root.child(&format!("reports/{name}.parquet"))).unwrap();
        assert_eq!(report.len(), 3, "{stage}: one row per task");
        let (mut din, mut dout, mut drej) = (0, 0, 0);
        for counts in report.values() {
            assert_eq!(
                counts.docs_in,
                counts.docs_out + counts.docs_rejected,
                "{stage}: {counts:?}"
            );
            assert_eq!(
                counts.rejected_by_reason.values().sum::<u64>(),
                counts.docs_rejected
            );
            din += counts.docs_in;
            dout += counts.docs_out;
            drej += counts.docs_rejected;
        }
        assert_eq!(din, dout + drej);
        if stage == "ingest" {
            let mut reasons = std::collections::BTreeMap::<String, u64>::new();
            for c in report.values() {
                for (r, n) in &c.rejected_by_reason {
                    *reasons.entry(r.clone()).or_default() += n;
                }
            }
            for reason in [
                "malformed_json",
                "missing_field",
                "wrong_type",
                "empty_text",
                "truncated_input",
            ] {
                assert!(
                    reasons.contains_key(reason),
                    "no {reason} reject: {reasons:?}"
                );
            }
            let mut recovered = std::collections::BTreeMap::<String, u64>::new();
            for c in report.values() {
                for (r, n) in &c.recovered_by_reason {
                    *recovered.entry(r.clone()).or_default() += n;
                }
            }
            assert_eq!(
                recovered,
                [("bad_content_length".to_string(), 1)].into(),
                "the WET record with the wrong length is recovered and counted"
            );
            let reject_rows: u64 = std::fs::read_dir(work.join("ingest/rejects"))
                .unwrap()
                .map(|e| parquet_rows(&e.unwrap().path()))
                .sum();
            assert_eq!(
                reject_rows, drej,
                "every rejected document has a reject row"
            );
        } else if stage == "shard" {
            // The shards hold every drawn copy: a document drawn for several epochs is there that often.
            assert_eq!(
                din,
                *outs.last().unwrap() + repeats(&work),
                "shard holds every copy mix drew"
            );
        } else {
            assert_eq!(
                din,
                *outs.last().unwrap(),
                "{stage} reads what the previous stage wrote"
            );
        }
        outs.push(dout);
    }
}

/// Copies beyond the first of every drawn document, from `reports/mix.parquet`.
fn repeats(work: &std::path::Path) -> u64 {
    let storage: Arc<Storage> = Storage::new().unwrap();
    let loc = storage
        .resolve(work.join("reports/mix.parquet").to_str().unwrap())
        .unwrap();
    let mut extra = 0;
    for batch in corpus_store::read_parquet(&storage, &loc).unwrap() {
        let batch = batch.unwrap();
        let copies = corpus_store::u64_column(&batch, "copies").unwrap();
        let drawn = corpus_store::u64_column(&batch, "documents_drawn").unwrap();
        for i in 0..batch.num_rows() {
            extra += copies.value(i) - drawn.value(i);
        }
    }
    extra
}

fn parquet_rows(path: &std::path::Path) -> u64 {
    let storage: Arc<Storage> = Storage::new().unwrap();
    let loc = storage.resolve(path.to_str().unwrap()).unwrap();
    corpus_store::read_parquet(&storage, &loc)
        .unwrap()
        .map(|b| b.unwrap().num_rows() as u64)
        .sum()
}

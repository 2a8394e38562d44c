//! Inputs and work directory on S3, against a real S3-compatible server (`.ci/run` starts one and sets
//! `CORPUS_TEST_S3_BUCKET` plus the standard AWS variables). The shards are byte-identical to a local build.

use std::sync::Arc;

use bytes::Bytes;
use corpus_store::Storage;
use corpus_tests::{TestConfig, build_sample, data_dir, run, shard_files, write_config_at};

const INPUTS: [&str; 7] = [
    "webtext/c4-en-sample.01.json.gz",
    "webtext/c4-en-sample.02.json.gz",
    "webtext/ccnet-cc_en_head-0091.jsonl.gz",
    "webtext/pile-val-openwebtext2-doc.jsonl.zst",
    "webtext/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz",
    "books/pg972-the-devils-dictionary.txt",
    "books/pg1342-pride-and-prejudice.txt",
];

#[test]
fn build_reads_inputs_from_and_writes_its_work_directory_to_s3() {
    let Ok(bucket) = std::env::var("CORPUS_TEST_S3_BUCKET") else {
        corpus_tests::missing_outside_ci(
            "the S3 test",
            "CORPUS_TEST_S3_BUCKET is not set (.ci/run starts an S3 server and sets it)",
        );
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("s3://{bucket}/e2e-{}-{nanos}", std::process::id());
    let storage: Arc<Storage> = Storage::new().unwrap();
    let root = storage.resolve(&prefix).unwrap();
    for rel in INPUTS {
        let bytes = std::fs::read(data_dir().join(rel)).unwrap();
        storage
            .put(&root.child(&format!("data/{rel}")), Bytes::from(bytes))
            .unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let s3_work = format!("{prefix}/work");
    let opts = TestConfig {
        data_root: Some(format!("{prefix}/data")),
        ..TestConfig::default()
    };
    let cfg = write_config_at(dir.path(), &s3_work, &opts);
    run(&["build", "--config", cfg.to_str().unwrap(), "--tasks", "3"]).ok();
    let again = run(&["build", "--config", cfg.to_str().unwrap(), "--tasks", "3"]).ok();
    assert!(
        again.stderr.contains("shard: 0 tasks ran, 3 skipped"),
        "{}",
        again.stderr
    );

    let inspect = run(&["inspect", "shards", "--work", &s3_work, "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(v["problems"], serde_json::json!([]), "{v}");

    let (_local_dir, local_work) = build_sample(&["--tasks", "2"]);
    let local: Vec<(String, Vec<u8>)> = shard_files(&local_work)
        .into_iter()
        .filter(|(n, _)| n.ends_with(".bin"))
        .collect();
    assert!(local.len() >= 5);
    let work_loc = storage.resolve(&s3_work).unwrap();
    for (name, bytes) in &local {
        let remote = storage
            .get(&work_loc.child(&format!("shards/{name}")))
            .unwrap();
        assert!(
            remote.as_ref() == bytes.as_slice(),
            "{name} differs between S3 and local builds"
        );
    }
    storage.delete_prefix(&root).unwrap();
}

//! `corpus stage NAME --task i --tasks n` runs single tasks, as a cluster scheduler would; running every
//! task of every stage that way gives the shards of `corpus build`.

use corpus_tests::{TestConfig, build_sample, run, shard_files, write_config};

#[test]
fn single_tasks_compose_into_the_build_result() {
    let (dir, built) = build_sample(&["--tasks", "2"]);

    let staged = dir.path().join("staged");
    let sub = dir.path().join("s");
    std::fs::create_dir_all(&sub).unwrap();
    let cfg = write_config(&sub, &staged, &TestConfig::default());
    let cfg = cfg.to_str().unwrap();

    let early = run(&[
        "stage", "tokenize", "--config", cfg, "--task", "0", "--tasks", "2",
    ]);
    assert_eq!(early.code, Some(1));
    assert!(
        early
            .stderr
            .contains("stage 'decontaminate' is not complete"),
        "{}",
        early.stderr
    );

    for stage in corpus_tests::STAGES {
        // Rounds of an iterative stage are submitted until it converges; later calls do nothing.
        let rounds = if stage == "dedup-components" { 30 } else { 1 };
        for _ in 0..rounds {
            // Out of order on purpose: a scheduler may start array tasks in any order.
            for task in ["1", "0"] {
                run(&[
                    "stage", stage, "--config", cfg, "--task", task, "--tasks", "2",
                ])
                .ok();
            }
        }
        assert!(staged.join(format!("reports/{stage}.parquet")).exists());
    }
    let bad = run(&[
        "stage", "dedupe", "--config", cfg, "--task", "0", "--tasks", "2",
    ]);
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr
            .contains("allowed: ingest, quality, dedup-signatures, dedup-candidates"),
        "{}",
        bad.stderr
    );

    assert_eq!(shard_files(&built), shard_files(&staged));
    let status = run(&["status", "--work", staged.to_str().unwrap(), "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    for s in v["stages"].as_array().unwrap() {
        assert_eq!(s["tasks_done"], 2, "{v}");
    }
}

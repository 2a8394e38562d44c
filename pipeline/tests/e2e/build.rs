//! `corpus build` on the sample data writes shards that numpy, llm.c's layout check, tiktoken and pyarrow
//! all accept, and `status` / `inspect` describe them.

use corpus_tests::{TestConfig, python_check, repo_root, run, write_config};

#[test]
fn quickstart_config_builds_from_the_repository_root() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let out = corpus_tests::corpus()
        .current_dir(repo_root())
        .args([
            "build",
            "--config",
            "configs/quickstart.toml",
            "--work",
            work.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let r: corpus_tests::Run = out.into();
    let r = r.ok();
    assert!(
        work.join("shards/manifest.parquet").exists(),
        "{}",
        r.stderr
    );
    assert!(work.join("shards/train_000000.bin").exists());
    assert!(work.join("run.json").exists());
    let summary = python_check(&work);
    assert!(
        summary["splits"]["train"]["documents"].as_u64().unwrap() > 500,
        "{summary}"
    );
}

#[test]
fn shards_decode_to_the_documents_and_inspect_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let config = write_config(dir.path(), &work, &TestConfig::default());
    run(&["build", "--config", config.to_str().unwrap()]).ok();

    let summary = python_check(&work);
    let train = &summary["splits"]["train"];
    assert!(train["shards"].as_u64().unwrap() >= 5, "{summary}");
    assert!(
        summary["splits"]["val"]["documents"].as_u64().unwrap() >= 1,
        "{summary}"
    );

    let inspect = run(&[
        "inspect",
        "shards",
        "--work",
        work.to_str().unwrap(),
        "--json",
    ])
    .ok();
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(v["problems"], serde_json::json!([]));
    let tokens = v["tokens"].as_u64().unwrap();
    assert_eq!(
        tokens,
        train["tokens"].as_u64().unwrap() + summary["splits"]["val"]["tokens"].as_u64().unwrap()
    );
    let per_source: u64 = v["tokens_per_source"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(per_source, tokens);
    for source in ["common_crawl", "webtext2", "books1"] {
        assert!(
            v["tokens_per_source"][source].as_u64().unwrap() > 0,
            "{source} missing: {v}"
        );
    }
    assert!(!v["sample"]["text"].as_str().unwrap().is_empty());

    let text = run(&["inspect", "shards", "--work", work.to_str().unwrap()]).ok();
    assert!(text.stdout.contains("tokens per source"), "{}", text.stdout);
    let status = run(&["status", "--work", work.to_str().unwrap()]).ok();
    for stage in corpus_tests::STAGES {
        assert!(
            status
                .stdout
                .lines()
                .any(|l| l.starts_with(stage) && l.contains("4/4")),
            "{}",
            status.stdout
        );
    }

    // A flipped payload byte is found by the checksum, which --no-checksums skips; a truncated shard is
    // found by its size either way.
    let inspect_json = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "inspect",
            "shards",
            "--work",
            work.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_str(&run(&args).ok().stdout).unwrap()
    };
    let shard = work.join("shards/train_000000.bin");
    let mut bytes = std::fs::read(&shard).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x5a;
    std::fs::write(&shard, &bytes).unwrap();
    let v = inspect_json(&[]);
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{v}");
    assert!(
        problems[0].as_str().unwrap().contains("payload xxh3"),
        "{v}"
    );
    let v = inspect_json(&["--no-checksums"]);
    assert_eq!(v["problems"], serde_json::json!([]));
    assert!(v["checksums_verified"].is_null(), "{v}");
    std::fs::write(&shard, &bytes[..last]).unwrap();
    let v = inspect_json(&["--no-checksums"]);
    assert!(
        v["problems"][0]
            .as_str()
            .unwrap()
            .contains("bytes, expected"),
        "{v}"
    );
}

#[test]
fn help_covers_every_command() {
    let top = run(&["--help"]).ok();
    for cmd in ["build", "stage", "status", "inspect"] {
        assert!(top.stdout.contains(cmd), "{}", top.stdout);
        let sub = run(&[cmd, "--help"]).ok();
        assert!(sub.stdout.contains("Usage: corpus"), "{}", sub.stdout);
    }
    let build = run(&["build", "--help"]).ok().stdout;
    for flag in ["--config", "--work", "--tasks", "--threads", "--force"] {
        assert!(build.contains(flag), "{build}");
    }
}

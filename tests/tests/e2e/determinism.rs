//! The same config and inputs give byte-identical shards whatever the task and thread counts.

use corpus_tests::{TestConfig, files_under, run, write_config};

fn shards_with(tasks: &str, threads: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let config = write_config(dir.path(), &work, &TestConfig::default());
    run(&[
        "build",
        "--config",
        config.to_str().unwrap(),
        "--tasks",
        tasks,
        "--threads",
        threads,
    ])
    .ok();
    files_under(&work.join("shards"))
        .into_iter()
        .filter(|(name, _)| !name.starts_with("_done"))
        .collect()
}

#[test]
fn shards_do_not_depend_on_tasks_or_threads() {
    let one = shards_with("1", "1");
    assert!(
        one.keys().filter(|k| k.ends_with(".bin")).count() >= 5,
        "{:?}",
        one.keys()
    );
    assert!(one.contains_key("manifest.parquet"));
    for (tasks, threads) in [("3", "2"), ("7", "1")] {
        let other = shards_with(tasks, threads);
        assert_eq!(
            one.keys().collect::<Vec<_>>(),
            other.keys().collect::<Vec<_>>()
        );
        for (name, bytes) in &one {
            assert!(
                other[name] == *bytes,
                "{name} differs between --tasks 1 and --tasks {tasks}"
            );
        }
    }
}

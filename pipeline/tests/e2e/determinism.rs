//! The same config and inputs give byte-identical shards whatever the task and thread counts.

use corpus_tests::{build_sample, shard_files};

fn shards_with(tasks: &str, threads: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let (_dir, work) = build_sample(&["--tasks", tasks, "--threads", threads]);
    shard_files(&work)
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

//! A build killed with SIGKILL at any point and run again gives the bytes of a clean run, skipping the
//! tasks that had finished.

use std::path::Path;
use std::time::{Duration, Instant};

use corpus_tests::{TestConfig, build, corpus, files_under, write_config};

/// Six tasks run one at a time: many commit points to kill the build between.
const ARGS: [&str; 4] = ["--tasks", "6", "--threads", "1"];

fn wait_for(path: &Path, child: &mut std::process::Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return path.exists();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

fn outputs(work: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    files_under(work)
        .into_iter()
        .filter(|(name, _)| {
            !name.contains("_done/")
                && !name.starts_with("reports/")
                && !name.contains("_tmp/")
                && name != "run.json"
        })
        .collect()
}

#[test]
fn sigkill_then_rerun_is_byte_identical_and_skips_finished_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let clean_work = dir.path().join("clean");
    let clean_cfg_dir = dir.path().join("clean-cfg");
    std::fs::create_dir_all(&clean_cfg_dir).unwrap();
    let opts = TestConfig::default();
    let clean_cfg = write_config(&clean_cfg_dir, &clean_work, &opts);
    build(&clean_cfg, &ARGS);

    let work = dir.path().join("killed");
    let cfg = write_config(dir.path(), &work, &opts);
    // Kill points across all four stages: the moment a given task's marker appears.
    for marker in [
        "ingest/_done/00001.json",
        "quality/_done/00003.json",
        "dedup/candidates/_done/00004.json",
        "dedup/assign/_done/00001.json",
        "tokenize/_done/00002.json",
        "shards/_done/00000.json",
    ] {
        let mut child = corpus()
            .args(["build", "--config", cfg.to_str().unwrap()])
            .args(ARGS)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let seen = wait_for(&work.join(marker), &mut child);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(seen, "{marker} never appeared");
        assert!(
            !work.join("shards/manifest.parquet").exists(),
            "the build finished before it could be killed at {marker}; the kill point proves nothing"
        );
    }
    build(&cfg, &ARGS)
        .logged("already done, skipping")
        .logged("ingest: 0 tasks ran, 6 skipped");

    let (clean, resumed) = (outputs(&clean_work), outputs(&work));
    assert_eq!(
        clean.keys().collect::<Vec<_>>(),
        resumed.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &clean {
        assert!(resumed[name] == *bytes, "{name} differs after kill + rerun");
    }

    let again = build(&cfg, &ARGS);
    for stage in corpus_tests::STAGES {
        match stage {
            "dedup-components" => again.logged("dedup-components: 0 tasks ran, 0 skipped"),
            _ => again.logged(&format!("{stage}: 0 tasks ran, 6 skipped")),
        };
    }
}

//! The mix stage on a generated three-source corpus: sources drawn by weight for a token budget (whole
//! epochs repeated, the fraction sampled), reported in `reports/mix.parquet` and `corpus inspect shards`,
//! the same bytes for any task count, and plans that cannot work refused with the field named.

use std::path::{Path, PathBuf};

use corpus_tests::{build, corpus, run};

/// Documents per source.
const DOCS: [(&str, usize); 3] = [("web", 900), ("books", 300), ("wiki", 120)];

/// A tiny deterministic generator (SplitMix64), so the corpus is the same on every machine.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes one JSONL file per source of distinct documents of 20-120 made-up words.
fn write_corpus(dir: &Path) {
    let mut state = 5u64;
    for (source, n) in DOCS {
        let mut lines = String::new();
        for i in 0..n {
            let words = 20 + (splitmix(&mut state) % 100) as usize;
            let text: Vec<String> = (0..words)
                .map(|_| format!("w{}", splitmix(&mut state) % 5000))
                .collect();
            let doc = serde_json::json!({ "id": format!("{source}-{i}"), "text": text.join(" ") });
            lines.push_str(&doc.to_string());
            lines.push('\n');
        }
        std::fs::write(dir.join(format!("{source}.jsonl")), lines).unwrap();
    }
}

/// A config over the generated corpus: weights 0.5 / 0.3 / 0.2 of `mix` settings.
fn config(dir: &Path, work: &Path, tasks: usize, mix: &str) -> PathBuf {
    let sources: String = DOCS
        .iter()
        .zip([0.5, 0.3, 0.2])
        .map(|((s, _), w)| {
            format!(
                "[[sources]]\nname = \"{s}\"\nformat = \"jsonl\"\npaths = [\"{}\"]\nid_field = \"id\"\nweight = {w}\n\n",
                dir.join(format!("{s}.jsonl")).display()
            )
        })
        .collect();
    let text = format!(
        "[run]\nwork = \"{}\"\nseed = 3\ntasks = {tasks}\n\n{sources}[dedup]\nenabled = false\n\n[mix]\n{mix}\n\n\
         [shards]\ntokens_per_shard = 20000\nval_fraction = 0.0\n",
        work.display()
    );
    let path = dir.join(format!("config-{tasks}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn inspect(work: &Path) -> serde_json::Value {
    let out = run(&[
        "inspect",
        "shards",
        "--work",
        &work.display().to_string(),
        "--json",
    ])
    .ok();
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn sources_are_drawn_by_weight_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_corpus(dir.path());
    let work = dir.path().join("work");
    // 200k tokens of ~230k available: web (the largest source) is sampled below one epoch, books and
    // wiki repeated.
    build(&config(dir.path(), &work, 3, "total_tokens = 200000"), &[]);
    // Python recomputes every document's copies and every copy's place from the seed and the ids alone,
    // and decodes the shards with OpenAI's tiktoken to check each copy is where the mix put it.
    let summary = corpus_tests::python_check(&work);
    let train = &summary["splits"]["train"];
    assert!(
        train["copies"].as_u64().unwrap() > train["documents"].as_u64().unwrap(),
        "{summary}"
    );
    let v = inspect(&work);
    assert_eq!(v["problems"], serde_json::json!([]));
    let mix = &v["mix"];
    let drawn_total: u64 = ["web", "books", "wiki"]
        .iter()
        .map(|s| mix[s]["tokens_drawn"].as_u64().unwrap())
        .sum();
    assert_eq!(v["tokens"].as_u64().unwrap(), drawn_total);
    for (source, weight) in [("web", 0.5), ("books", 0.3), ("wiki", 0.2)] {
        let m = &mix[source];
        assert!((m["requested_weight"].as_f64().unwrap() - weight).abs() < 1e-12);
        let realised = m["realised_weight"].as_f64().unwrap();
        // A few hundred documents per source: sampling error of a few percent.
        assert!(
            (realised / weight - 1.0).abs() < 0.08,
            "{source}: realised {realised}, requested {weight}"
        );
        // The shards hold exactly what the mix drew.
        assert_eq!(
            v["tokens_per_source"][source], m["tokens_drawn"],
            "{source}"
        );
    }
    assert!(mix["web"]["epochs"].as_f64().unwrap() < 1.0);
    assert!(mix["wiki"]["epochs"].as_f64().unwrap() > 1.5);

    // Every document that was not drawn has a reject row; the accounting holds.
    let status = run(&["status", "--work", &work.display().to_string(), "--json"]).ok();
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let stage = status["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "mix")
        .unwrap();
    let (docs_in, out, rejected) = (
        stage["docs_in"].as_u64().unwrap(),
        stage["docs_out"].as_u64().unwrap(),
        stage["docs_rejected"].as_u64().unwrap(),
    );
    assert_eq!(docs_in, 1320);
    assert_eq!(docs_in, out + rejected);
    assert!(rejected > 0 && out > 0);
}

#[test]
fn mixed_shards_do_not_depend_on_the_task_count() {
    let dir = tempfile::tempdir().unwrap();
    write_corpus(dir.path());
    let mut shards = Vec::new();
    for tasks in [1, 4] {
        let work = dir.path().join(format!("work-{tasks}"));
        build(
            &config(dir.path(), &work, tasks, "total_tokens = 50000"),
            &["--threads", "2"],
        );
        shards.push(corpus_tests::shard_files(&work));
    }
    assert!(shards[0].len() >= 3, "{} shards", shards[0].len());
    assert_eq!(shards[0], shards[1]);
}

#[test]
fn plans_that_cannot_work_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    write_corpus(dir.path());
    let work = dir.path().join("work");
    let out = corpus()
        .args(["build", "--config"])
        .arg(config(dir.path(), &work, 2, "total_tokens = 0"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("mix.total_tokens"));
    assert!(
        !work.join("ingest").exists(),
        "work started despite a bad config"
    );

    // wiki would need ~80 epochs of its few tokens for 20% of 2M tokens.
    let out = corpus()
        .args(["build", "--config"])
        .arg(config(
            dir.path(),
            &work,
            2,
            "total_tokens = 2000000\nmax_epochs = 10",
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'wiki'") && err.contains("mix.max_epochs"),
        "{err}"
    );
}

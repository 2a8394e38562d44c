//! The dedup stages on a corpus with planted near-duplicates: chunks of a real book, each copied with a
//! known fraction of its words replaced, next to the untouched chunks. The clusters are compared with
//! brute-force all-pairs Jaccard similarity; they must not depend on the task count, and a rerun task
//! writes the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use arrow::array::{Array, BooleanArray, UInt64Array};
use corpus_tests::{build, data_dir, files_under, run};

use crate::quality::{batches, strings};

/// Words per planted document.
const WORDS: usize = 220;

/// A tiny deterministic generator (SplitMix64), so the corpus is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The planted corpus: 60 chunks of Moby-Dick; the first 40 each get copies with 0% (exact), 1%, 2%, 4%,
/// 8% and 20% of their words replaced by words from elsewhere in the book.
fn planted_texts() -> Vec<String> {
    let book = std::fs::read_to_string(data_dir().join("books/pg2701-moby-dick.txt")).unwrap();
    let words: Vec<&str> = book.split_whitespace().collect();
    let mut rng = Rng(11);
    let mut texts = Vec::new();
    let chunks: Vec<Vec<&str>> = (0..60)
        .map(|i| words[5_000 + i * 3_000..5_000 + i * 3_000 + WORDS].to_vec())
        .collect();
    for (i, chunk) in chunks.iter().enumerate() {
        texts.push(chunk.join(" "));
        if i >= 40 {
            continue;
        }
        for fraction in [0.0, 0.01, 0.02, 0.04, 0.08, 0.20] {
            let mut copy = chunk.clone();
            let changes = (fraction * WORDS as f64).round() as usize;
            for _ in 0..changes {
                let at = rng.below(WORDS);
                copy[at] = words[rng.below(words.len())];
            }
            texts.push(copy.join(" "));
        }
    }
    texts
}

/// Writes the planted corpus as JSONL and a config that deduplicates it with verification on.
fn planted_config(dir: &Path, work: &Path, tasks: usize, dedup: &str) -> PathBuf {
    let data = dir.join("planted.jsonl");
    let lines: Vec<String> = planted_texts()
        .iter()
        .map(|t| serde_json::json!({ "text": t }).to_string())
        .collect();
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    let config = dir.join("planted.toml");
    std::fs::write(
        &config,
        format!(
            "[run]\nwork = \"{}\"\nseed = 3\ntasks = {tasks}\n\n[[sources]]\nname = \"webtext2\"\n\
             format = \"jsonl\"\npaths = [\"{}\"]\nweight = 1.0\n\n[dedup]\n{dedup}\n\n[shards]\n\
             tokens_per_shard = 20000\nval_fraction = 0.05\n",
            work.display(),
            data.display()
        ),
    )
    .unwrap();
    config
}

/// `(id, cluster, cluster_size, kept)` rows of `dedup/clusters/`.
fn clusters(work: &Path) -> BTreeSet<(String, String, u64, bool)> {
    let mut rows = BTreeSet::new();
    for b in batches(&work.join("dedup/clusters")) {
        let sizes = b
            .column_by_name("cluster_size")
            .unwrap()
            .as_any()
            .downcast_ref::<UInt64Array>()
            .unwrap();
        let kept = b
            .column_by_name("kept")
            .unwrap()
            .as_any()
            .downcast_ref::<BooleanArray>()
            .unwrap();
        for i in 0..b.num_rows() {
            rows.insert((
                strings(&b, "id").value(i).to_string(),
                strings(&b, "cluster").value(i).to_string(),
                sizes.value(i),
                kept.value(i),
            ));
        }
    }
    rows
}

/// Ids of the documents dedup kept, in output order.
fn kept_ids(work: &Path) -> Vec<String> {
    batches(&work.join("dedup"))
        .iter()
        .flat_map(|b| {
            let ids = strings(b, "id");
            (0..b.num_rows()).map(move |i| ids.value(i).to_string())
        })
        .collect()
}

/// The planted document ids in input order (`webtext2/planted/{line}`).
fn doc_id(i: usize) -> String {
    format!("webtext2/planted/{i}")
}

#[test]
fn clusters_match_brute_force_jaccard() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let config = planted_config(dir.path(), &work, 3, "verify = true\nthreshold = 0.8");
    build(&config, &[]);

    let texts = planted_texts();
    let sets: Vec<Vec<u64>> = texts
        .iter()
        .map(|t| corpus_dedup::shingle_set(t, 5))
        .collect();
    let rows = clusters(&work);
    let cluster_of: BTreeMap<&str, &str> = rows
        .iter()
        .map(|(id, c, _, _)| (id.as_str(), c.as_str()))
        .collect();
    let same = |a: usize, b: usize| {
        matches!((cluster_of.get(doc_id(a).as_str()), cluster_of.get(doc_id(b).as_str())),
            (Some(x), Some(y)) if x == y)
    };
    let (mut high, mut found, mut joined_low) = (0, 0, Vec::new());
    for a in 0..texts.len() {
        for b in a + 1..texts.len() {
            let j = corpus_dedup::jaccard(&sets[a], &sets[b]);
            if j >= 0.85 {
                high += 1;
                found += usize::from(same(a, b));
            }
            if j < 0.5 && same(a, b) {
                joined_low.push((a, b, j));
            }
        }
    }
    assert!(high >= 100, "only {high} planted pairs with J >= 0.85");
    let recall = found as f64 / high as f64;
    eprintln!(
        "planted corpus: {found}/{high} pairs with J >= 0.85 in one cluster (recall {recall:.3})"
    );
    assert!(
        recall >= 0.95,
        "recall {recall} ({found}/{high}) for pairs with J >= 0.85"
    );
    assert!(
        joined_low.is_empty(),
        "clusters join pairs with J < 0.5: {joined_low:?}"
    );

    // Every cluster keeps exactly one document, the first of the planted group, and every other member
    // is a reject naming it.
    let mut keepers: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, cluster, size, kept) in &rows {
        *keepers.entry(cluster.as_str()).or_default() += usize::from(*kept);
        assert!(*size >= 2);
    }
    assert!(keepers.values().all(|&k| k == 1), "{keepers:?}");
    let kept = kept_ids(&work);
    assert_eq!(
        kept.len() + rows.iter().filter(|r| !r.3).count(),
        texts.len()
    );
    let mut reasons = BTreeMap::new();
    for b in batches(&work.join("dedup/rejects")) {
        for i in 0..b.num_rows() {
            let id = strings(&b, "id").value(i);
            let reason = strings(&b, "reason").value(i);
            let keeper = cluster_of[id];
            assert!(strings(&b, "detail").value(i).contains(keeper));
            let (doc, keep): (usize, usize) = (
                id.rsplit('/').next().unwrap().parse().unwrap(),
                keeper.rsplit('/').next().unwrap().parse().unwrap(),
            );
            let expected = if texts[doc] == texts[keep] {
                "exact-duplicate"
            } else {
                "near-duplicate"
            };
            assert_eq!(reason, expected, "{id}");
            *reasons.entry(reason.to_string()).or_insert(0) += 1;
        }
    }
    eprintln!(
        "rejects by reason: {reasons:?}, clusters: {}",
        keepers.len()
    );
    assert!(reasons["exact-duplicate"] >= 40, "{reasons:?}");
    assert!(reasons["near-duplicate"] >= 80, "{reasons:?}");

    // Exact copies next to their original in the input (so in the same task) skipped the MinHash work:
    // the Bloom pre-filter's hits were confirmed, and they are all rejected as exact duplicates above.
    // Only the hits were kept for confirmation, not every document's hash.
    let (mut copies, mut hits, mut suspects, mut documents) = (0, 0, 0, 0);
    for task in 0..3 {
        let path = work.join(format!("dedup/signatures/_done/{task:05}.json"));
        let marker: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        copies += marker["extra"]["in_task_copies"].as_u64().unwrap();
        hits += marker["extra"]["bloom_hits"].as_u64().unwrap();
        suspects += marker["extra"]["repeat_suspects"].as_u64().unwrap();
        documents += marker["extra"]["documents"].as_u64().unwrap();
    }
    eprintln!("{documents} documents, {hits} Bloom hits, {suspects} suspects, {copies} copies");
    assert!(
        suspects <= hits && suspects < documents / 2,
        "{suspects} suspects"
    );
    assert!(
        copies >= 35 && copies <= reasons["exact-duplicate"],
        "{copies} in-task copies"
    );
    assert!(hits >= copies, "{hits} Bloom hits for {copies} copies");
}

#[test]
fn clusters_and_kept_documents_do_not_depend_on_the_task_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for tasks in [1, 3, 8] {
        let sub = dir.path().join(format!("t{tasks}"));
        std::fs::create_dir_all(&sub).unwrap();
        let work = sub.join("work");
        let config = planted_config(&sub, &work, tasks, "verify = false");
        build(&config, &["--threads", "2"]);
        results.push((tasks, clusters(&work), kept_ids(&work), work));
    }
    let (_, first_clusters, first_kept, first_work) = &results[0];
    assert!(first_clusters.len() > 100);
    for (tasks, c, k, work) in &results[1..] {
        assert_eq!(c, first_clusters, "clusters differ with {tasks} tasks");
        assert_eq!(k, first_kept, "kept documents differ with {tasks} tasks");
        assert_eq!(
            corpus_tests::shard_files(work),
            corpus_tests::shard_files(first_work),
            "shards differ with {tasks} tasks"
        );
    }
}

#[test]
fn a_rerun_dedup_task_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let config = planted_config(dir.path(), &work, 3, "verify = true");
    build(&config, &[]);
    let outputs = |work: &Path| -> BTreeMap<String, Vec<u8>> {
        files_under(&work.join("dedup"))
            .into_iter()
            .filter(|(name, _)| !name.contains("_done"))
            .collect()
    };
    let before = outputs(&work);
    assert!(
        before
            .keys()
            .any(|k| k.starts_with("buckets/") || k.contains("/buckets/"))
    );
    // Forget one task of every phase (and one round), as if each had been killed before its marker.
    for marker in [
        "dedup/signatures/_done/00001.json",
        "dedup/candidates/_done/00000.json",
        "dedup/components/round-000/_done/00002.json",
        "dedup/components/_done/00000.json",
        "dedup/components/_done/00001.json",
        "dedup/components/_done/00002.json",
        "dedup/assign/_done/00001.json",
        "dedup/_done/00002.json",
    ] {
        std::fs::remove_file(work.join(marker)).unwrap();
    }
    build(&config, &[]).logged("dedup-candidates: 1 tasks ran, 2 skipped");
    assert_eq!(outputs(&work), before);
}

#[test]
fn dedup_stages_run_one_task_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let config = planted_config(dir.path(), &work, 2, "verify = true");
    let cfg = config.to_str().unwrap();
    let task = |stage: &str, task: &str| {
        run(&["stage", stage, "--config", cfg, "--task", task]).ok();
    };
    for stage in ["ingest", "quality", "dedup-signatures", "dedup-candidates"] {
        task(stage, "1");
        task(stage, "0");
    }
    // A round needs the previous round: task 0 of round 1 refuses while round 0 is half done.
    task("dedup-components", "0");
    let early = run(&["stage", "dedup-components", "--config", cfg, "--task", "0"]);
    assert_eq!(early.code, Some(1), "{}", early.stderr);
    assert!(
        early.stderr.contains("round 0 is not complete"),
        "{}",
        early.stderr
    );
    let mut rounds = 0;
    while !work.join("dedup/components/_done/00001.json").exists() {
        task("dedup-components", "1");
        task("dedup-components", "0");
        rounds += 1;
        assert!(rounds < 50, "components never converged");
    }
    for stage in ["dedup-clusters", "dedup-filter"] {
        task(stage, "0");
        task(stage, "1");
    }
    let built = dir.path().join("built");
    let sub = dir.path().join("b");
    std::fs::create_dir_all(&sub).unwrap();
    let config = planted_config(&sub, &built, 2, "verify = true");
    build(&config, &[]);
    assert_eq!(clusters(&work), clusters(&built));
    assert_eq!(kept_ids(&work), kept_ids(&built));
    assert!(work.join("reports/dedup.parquet").exists());
}

#[test]
fn gpt3_mode_joins_copies_by_classifier_features() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let config = planted_config(dir.path(), &work, 2, "mode = \"gpt3\"\nthreshold = 0.8");
    build(&config, &[]);
    let spark = corpus_dedup::SparkMinHash::new(
        corpus_dedup::GPT3_HASH_TABLES,
        corpus_dedup::SPARK_DEFAULT_SEED,
    )
    .unwrap();
    let texts = planted_texts();
    let features: Vec<Vec<u32>> = texts.iter().map(|t| spark.features(t)).collect();
    let rows = clusters(&work);
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (id, cluster, _, _) in &rows {
        let doc: usize = id.rsplit('/').next().unwrap().parse().unwrap();
        members.entry(cluster.as_str()).or_default().push(doc);
    }
    // The first 40 chunks and their exact copies (the next line of the file) are always joined.
    for base in 0..40 {
        let original = base * 7;
        let copy = original + 1;
        assert!(
            members
                .values()
                .any(|m| m.contains(&original) && m.contains(&copy)),
            "chunk {base} and its exact copy are not in one cluster"
        );
    }
    for m in members.values() {
        for (i, &a) in m.iter().enumerate() {
            for &b in &m[i + 1..] {
                let j = corpus_dedup::jaccard(&features[a], &features[b]);
                assert!(
                    j >= 0.5,
                    "cluster joins {a} and {b} with feature Jaccard {j}"
                );
            }
        }
    }
}

/// Builds two sources: `webtext2` (the first 20 planted chunks) and `common_crawl` (copies of its first 10
/// chunks, one with 1% of the words changed, plus one document twice); returns the cluster rows.
fn two_sources(dedup: &str) -> BTreeSet<(String, String, u64, bool)> {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let texts = planted_texts();
    let originals: Vec<&String> = (0..20).map(|i| &texts[i * 7]).collect();
    let write = |name: &str, docs: &[&String]| {
        let lines: Vec<String> = docs
            .iter()
            .map(|t| serde_json::json!({ "text": t }).to_string())
            .collect();
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    let web = write("web.jsonl", &originals);
    let mut crawl: Vec<&String> = (0..10).map(|i| &texts[i * 7 + 2]).collect();
    crawl.push(&texts[299]);
    crawl.push(&texts[299]);
    let crawl = write("crawl.jsonl", &crawl);
    let config = dir.path().join("two.toml");
    std::fs::write(
        &config,
        format!(
            "[run]\nwork = \"{}\"\ntasks = 2\n\n[[sources]]\nname = \"common_crawl\"\nformat = \"jsonl\"\n\
             paths = [\"{}\"]\nweight = 0.6\n\n[[sources]]\nname = \"webtext2\"\nformat = \"jsonl\"\n\
             paths = [\"{}\"]\nweight = 0.4\n\n[quality.rules]\nsources = []\n\n[dedup]\n{dedup}\n",
            work.display(),
            crawl.display(),
            web.display()
        ),
    )
    .unwrap();
    build(&config, &[]);
    clusters(&work)
}

#[test]
fn scope_and_priority_decide_which_copy_goes() {
    // Global: the Common Crawl copies of WebText2 documents go, whatever their position; the crawl's own
    // repeated document keeps its first copy.
    let global = two_sources("scope = \"global\"");
    let dropped: BTreeSet<&str> = global
        .iter()
        .filter(|r| !r.3)
        .map(|r| r.0.as_str())
        .collect();
    let expected: BTreeSet<String> = (0..10)
        .map(|i| format!("common_crawl/crawl/{i}"))
        .chain(["common_crawl/crawl/11".to_string()])
        .collect();
    assert_eq!(
        dropped,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    assert!(
        global
            .iter()
            .filter(|r| r.3)
            .all(|r| r.0.starts_with("webtext2/") || r.0 == "common_crawl/crawl/10"),
        "{global:?}"
    );
    // Within each source only: nothing crosses sources.
    let within = two_sources("scope = \"source\"");
    assert_eq!(
        within.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["common_crawl/crawl/10", "common_crawl/crawl/11"]
    );
    // GPT-3's scope: within each source, plus Common Crawl against WebText2.
    let gpt3 = two_sources("scope = \"source\"\ngroups = [[\"common_crawl\", \"webtext2\"]]");
    assert_eq!(gpt3, global);
    // Off: every document passes.
    assert!(two_sources("enabled = false").is_empty());
}

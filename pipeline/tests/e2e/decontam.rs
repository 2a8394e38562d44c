//! Benchmark decontamination (GPT-3 App. C) end to end: PIQA passages planted into chunks of a real book at
//! known places are cut out with 200 characters on each side and nothing else is; a document with 11
//! overlaps is dropped, short pieces go, an n-gram found in 11 documents is left alone; the real overlaps
//! of SQuAD and BoolQ with the Wikipedia sample are reported dirty; outputs do not depend on the task count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, BooleanArray, UInt64Array};
use corpus_tests::{build, data_dir};

use crate::quality::{batches, strings};

/// The PIQA examples as the benchmark config joins them: goal, sol1, sol2.
fn piqa() -> Vec<String> {
    std::fs::read_to_string(data_dir().join("benchmarks/piqa-valid.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {} {}",
                v["goal"].as_str().unwrap(),
                v["sol1"].as_str().unwrap(),
                v["sol2"].as_str().unwrap()
            )
        })
        .collect()
}

/// `k` chunks of Moby-Dick of `words` words each (about 5.7 characters a word), from different places.
fn book_chunks(k: usize, words: usize) -> Vec<String> {
    let book = std::fs::read_to_string(data_dir().join("books/pg2701-moby-dick.txt")).unwrap();
    let all: Vec<&str> = book.split_whitespace().collect();
    (0..k)
        .map(|i| all[20_000 + i * 2_000..20_000 + i * 2_000 + words].join(" "))
        .collect()
}

/// A planted document: book text with passages inserted after the given words.
fn plant(chunk: &str, inserts: &[(usize, &str)]) -> (String, Vec<std::ops::Range<usize>>) {
    let words: Vec<&str> = chunk.split(' ').collect();
    let mut text = String::new();
    let mut ranges = Vec::new();
    let mut at = 0;
    for &(after, passage) in inserts {
        text.push_str(&words[at..after].join(" "));
        text.push(' ');
        let start = text.len();
        text.push_str(passage);
        // A match runs from the first to the last word: punctuation around the passage is not part of it.
        let inner = passage.trim_start_matches(|c: char| !c.is_alphanumeric());
        let skipped = passage.len() - inner.len();
        let word_end =
            start + skipped + inner.trim_end_matches(|c: char| !c.is_alphanumeric()).len();
        ranges.push(start + skipped..word_end);
        text.push(' ');
        at = after;
    }
    text.push_str(&words[at..].join(" "));
    (text, ranges)
}

struct Planted {
    texts: Vec<String>,
    /// Per document: the byte ranges of its planted passages.
    planted: Vec<Vec<std::ops::Range<usize>>>,
}

/// Document 0: one passage in the middle; 1: eleven passages far apart; 2: one passage near the start
/// (its leading piece is too short); 3..=13: the same passage in eleven documents; 14..=19: untouched book text.
fn planted_corpus() -> Planted {
    let piqa = piqa();
    let chunks = book_chunks(20, 350);
    let long = &book_chunks(21, 1_700)[20];
    let mut texts = Vec::new();
    let mut planted = Vec::new();
    let (t, r) = plant(&chunks[0], &[(170, &piqa[0])]);
    texts.push(t);
    planted.push(r);
    // 150 words (~800 characters) apart: the cuts do not merge, the pieces between them are kept.
    let eleven: Vec<(usize, &str)> = (0..11)
        .map(|k| (10 + k * 150, piqa[10 + k].as_str()))
        .collect();
    let (t, r) = plant(long, &eleven);
    texts.push(t);
    planted.push(r);
    // ~330 characters before the passage: 130 are left after the cut, under 200.
    let (t, r) = plant(&chunks[2], &[(60, &piqa[1])]);
    texts.push(t);
    planted.push(r);
    for chunk in &chunks[3..14] {
        let (t, r) = plant(chunk, &[(150, &piqa[2])]);
        texts.push(t);
        planted.push(r);
    }
    for chunk in &chunks[14..20] {
        texts.push(chunk.clone());
        planted.push(Vec::new());
    }
    Planted { texts, planted }
}

fn write_config(dir: &Path, work: &Path, tasks: usize, sources: &str, benchmarks: &str) -> PathBuf {
    let config = dir.join("decontam.toml");
    std::fs::write(
        &config,
        format!(
            "[run]\nwork = \"{}\"\nseed = 5\ntasks = {tasks}\n\n{sources}\n[quality.rules]\nsources = []\n\n\
             [dedup]\nenabled = false\n\n[decontamination]\nmode = \"gpt3\"\n{benchmarks}\n\n[shards]\n\
             tokens_per_shard = 50000\nval_fraction = 0.0\n",
            work.display()
        ),
    )
    .unwrap();
    config
}

fn planted_run(dir: &Path, tasks: usize) -> PathBuf {
    let p = planted_corpus();
    let data = dir.join("planted.jsonl");
    let lines: Vec<String> = p
        .texts
        .iter()
        .map(|t| serde_json::json!({ "text": t }).to_string())
        .collect();
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    let work = dir.join("work");
    let sources = format!(
        "[[sources]]\nname = \"webtext2\"\nformat = \"jsonl\"\npaths = [\"{}\"]\nweight = 1.0\n",
        data.display()
    );
    let benchmarks = format!(
        "[[decontamination.benchmarks]]\nname = \"piqa\"\nformat = \"jsonl\"\npaths = [\"{}\"]\n\
         fields = [\"goal\", \"sol1\", \"sol2\"]\n",
        data_dir().join("benchmarks/piqa-valid.jsonl").display()
    );
    let config = write_config(dir, &work, tasks, &sources, &benchmarks);
    build(&config, &[]);
    work
}

/// Output documents by id.
fn outputs(work: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for b in batches(&work.join("decontaminate")) {
        for i in 0..b.num_rows() {
            out.insert(
                strings(&b, "id").value(i).to_string(),
                strings(&b, "text").value(i).to_string(),
            );
        }
    }
    out
}

/// The text before `range.start - 200` characters and after `range.end + 200` characters.
fn around(text: &str, range: &std::ops::Range<usize>) -> (String, String) {
    let before: Vec<char> = text[..range.start].chars().collect();
    let after: Vec<char> = text[range.end..].chars().collect();
    (
        before[..before.len().saturating_sub(200)].iter().collect(),
        after[after.len().min(200)..].iter().collect(),
    )
}

#[test]
fn planted_overlaps_are_cut_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let work = planted_run(dir.path(), 3);
    let p = planted_corpus();
    let out = outputs(&work);
    let id = |i: usize| format!("webtext2/planted/{i}");

    // The excision log: every cut n-gram lies inside a planted passage.
    let mut cuts: BTreeMap<usize, Vec<std::ops::Range<usize>>> = BTreeMap::new();
    for b in batches(&work.join("contamination/excisions")) {
        let column = |name: &str| {
            b.column_by_name(name)
                .unwrap()
                .as_any()
                .downcast_ref::<UInt64Array>()
                .unwrap()
                .clone()
        };
        let (starts, ends) = (column("start"), column("end"));
        for i in 0..b.num_rows() {
            let doc: usize = strings(&b, "id")
                .value(i)
                .rsplit('/')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(strings(&b, "benchmark").value(i), "piqa");
            let range = starts.value(i) as usize..ends.value(i) as usize;
            assert!(
                p.planted[doc]
                    .iter()
                    .any(|r| r.start <= range.start && range.end <= r.end + 1),
                "cut {range:?} of document {doc} is outside its planted passages {:?}",
                p.planted[doc]
            );
            cuts.entry(doc).or_default().push(range);
        }
    }
    assert_eq!(cuts.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2]);
    // The matched span of a passage: from its first to its last word.
    let span = |doc: usize| {
        let c = &cuts[&doc];
        let span = c.iter().map(|r| r.start).min().unwrap()..c.iter().map(|r| r.end).max().unwrap();
        let planted = &p.planted[doc][0];
        assert!(span.start.abs_diff(planted.start) <= 2 && span.end.abs_diff(planted.end) <= 2);
        span
    };

    // One passage in the middle: two pieces, exactly the text around the cut.
    let (before, after) = around(&p.texts[0], &span(0));
    assert_eq!(out[&format!("{}#0", id(0))].trim(), before.trim());
    assert_eq!(out[&format!("{}#1", id(0))].trim(), after.trim());
    assert!(!out.contains_key(&id(0)));
    // Eleven overlaps: dropped whole, with a reject row.
    assert!(!out.keys().any(|k| k.starts_with(&format!("{}#", id(1)))));
    let mut rejected = BTreeMap::new();
    for b in batches(&work.join("decontaminate/rejects")) {
        for i in 0..b.num_rows() {
            rejected.insert(
                strings(&b, "id").value(i).to_string(),
                strings(&b, "reason").value(i).to_string(),
            );
        }
    }
    assert_eq!(
        rejected.get(&id(1)).map(String::as_str),
        Some("too_many_pieces")
    );
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    // A passage near the start: the short leading piece goes, the rest stays.
    let (_, after) = around(&p.texts[2], &span(2));
    assert_eq!(out[&format!("{}#0", id(2))].trim(), after.trim());
    assert!(!out.contains_key(&format!("{}#1", id(2))));
    // A passage in eleven documents is a common phrase: left alone.
    for i in 3..=13 {
        assert_eq!(out[&id(i)], p.texts[i], "document {i} was changed");
    }
    for i in 14..20 {
        assert_eq!(out[&id(i)], p.texts[i]);
    }
    assert_eq!(out.len(), 2 + 1 + 11 + 6);

    // Every planted PIQA example is dirty, with a matching document; the rest of PIQA is clean.
    let mut dirty = Vec::new();
    for b in batches(&work.join("reports")) {
        if b.column_by_name("example").is_none() {
            continue;
        }
        let flags = b
            .column_by_name("dirty")
            .unwrap()
            .as_any()
            .downcast_ref::<BooleanArray>()
            .unwrap();
        let example = b
            .column_by_name("example")
            .unwrap()
            .as_any()
            .downcast_ref::<UInt64Array>()
            .unwrap();
        for i in 0..b.num_rows() {
            if flags.value(i) {
                dirty.push(example.value(i));
                assert!(!strings(&b, "first_doc").is_null(i));
            }
        }
    }
    dirty.sort_unstable();
    let mut expected: Vec<u64> = vec![0, 1, 2];
    expected.extend(10..21);
    assert_eq!(dirty, expected);
}

#[test]
fn outputs_do_not_depend_on_the_task_count() {
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<PathBuf> = [1, 4]
        .iter()
        .map(|&tasks| {
            let sub = dir.path().join(format!("t{tasks}"));
            std::fs::create_dir_all(&sub).unwrap();
            planted_run(&sub, tasks)
        })
        .collect();
    assert_eq!(outputs(&runs[0]), outputs(&runs[1]));
    for report in [
        "contamination_examples.parquet",
        "contamination_summary.parquet",
    ] {
        assert_eq!(
            std::fs::read(runs[0].join("reports").join(report)).unwrap(),
            std::fs::read(runs[1].join("reports").join(report)).unwrap(),
            "{report} differs"
        );
    }
}

#[test]
fn real_overlaps_with_wikipedia_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let d = data_dir();
    let sources = format!(
        "[[sources]]\nname = \"wikipedia\"\nformat = \"wikipedia-xml\"\npaths = [\"{}\"]\nweight = 1.0\n",
        d.join("wiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
            .display()
    );
    let benchmarks = format!(
        "[[decontamination.benchmarks]]\nname = \"squad\"\nformat = \"json\"\npaths = [\"{}\"]\n\
         records = \"data[].paragraphs[]\"\nfields = [\"context\", \"qas[].question\"]\n\n\
         [[decontamination.benchmarks]]\nname = \"boolq\"\nformat = \"jsonl\"\npaths = [\"{}\"]\n\
         fields = [\"passage\", \"question\"]\n",
        d.join("benchmarks/squad-v1.1-dev-excerpt.json").display(),
        d.join("benchmarks/boolq-superglue-val-excerpt.jsonl")
            .display()
    );
    let config = write_config(dir.path(), &work, 2, &sources, &benchmarks);
    build(&config, &[]);
    let mut dirty: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for b in batches(&work.join("reports")) {
        if b.column_by_name("example").is_none() {
            continue;
        }
        let flags = b
            .column_by_name("dirty")
            .unwrap()
            .as_any()
            .downcast_ref::<BooleanArray>()
            .unwrap();
        let example = b
            .column_by_name("example")
            .unwrap()
            .as_any()
            .downcast_ref::<UInt64Array>()
            .unwrap();
        for i in 0..b.num_rows() {
            if flags.value(i) {
                assert_eq!(strings(&b, "first_source").value(i), "wikipedia");
                dirty
                    .entry(strings(&b, "benchmark").value(i).to_string())
                    .or_default()
                    .push(example.value(i));
            }
        }
    }
    // SQuAD paragraphs: Apollo_program 0 and 54, Black_Death 0, Kenya 14 (after Super_Bowl_50's 54).
    assert_eq!(
        dirty.get("squad"),
        Some(&vec![54, 108, 111, 148]),
        "{dirty:?}"
    );
    assert_eq!(dirty.get("boolq"), Some(&vec![5, 12, 18]), "{dirty:?}");
}

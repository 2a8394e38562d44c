//! Arbitrary-bytes harness for every reader (runs on stable, inside `cargo test`): the bundled samples,
//! decompressed and as stored, are truncated, bit-flipped, spliced and padded with random bytes by a seeded
//! generator, and every reader must turn each variant into documents and reject rows without panicking.
//! `CORPUS_FUZZ_ITERATIONS` raises the number of variants per sample for a longer run (BENCHMARKS.md).

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{InputFile, Record, open_reader};
use crate::SourceConfig;
use corpus_store::Storage;

/// One sample per format (and per compression), relative to `tests/data`. Every format in
/// `Format::ALLOWED` must appear, so a new reader cannot skip the harness.
const SAMPLES: &[(&str, &str)] = &[
    ("jsonl", "webtext/c4-en-sample.01.json.gz"),
    ("jsonl", "webtext/pile-val-openwebtext2-doc.jsonl.zst"),
    ("jsonl", "webtext/ccnet-cc_en_head-0091.jsonl.gz"),
    ("text", "books/pg972-the-devils-dictionary.txt"),
    ("parquet", "generated:parquet"),
    ("wikipedia-xml", "wiki/mwxml-multi-revision-dump.xml"),
    ("warc", "warc/whirlwind.warc.gz"),
    ("warc", "warc/warcio-example.warc.gz"),
    ("wet", "warc/whirlwind.warc.wet.gz"),
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    match rng.below(5) {
        0 => out.truncate(rng.below(out.len() + 1)),
        1 => {
            for _ in 0..=rng.below(16) {
                if !out.is_empty() {
                    let i = rng.below(out.len());
                    out[i] ^= 1 << rng.below(8);
                }
            }
        }
        2 => {
            let at = rng.below(out.len() + 1);
            let junk: Vec<u8> = (0..rng.below(512)).map(|_| rng.next() as u8).collect();
            out.splice(at..at, junk);
        }
        3 => {
            let a = rng.below(out.len() + 1);
            let b = (a + rng.below(4096)).min(out.len());
            out.drain(a..b);
        }
        _ => {
            let a = rng.below(out.len() + 1);
            let b = (a + rng.below(4096)).min(out.len());
            let copy = out[a..b].to_vec();
            let at = rng.below(out.len() + 1);
            out.splice(at..at, copy);
        }
    }
    out
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

fn source(format: &str) -> SourceConfig {
    SourceConfig {
        id_field: Some("id".into()),
        url_field: Some("url".into()),
        title_field: Some("title".into()),
        max_doc_bytes: 1 << 20,
        ..SourceConfig::with_defaults("fuzz", format)
    }
}

/// The sample's bytes as stored, and decompressed (with the file name each variant is written under).
fn variants_of(storage: &Arc<Storage>, dir: &Path, sample: &str) -> Vec<(String, Vec<u8>)> {
    if sample == "generated:parquet" {
        let loc = storage
            .resolve(dir.to_str().unwrap_or("/tmp"))
            .map(|r| r.child("sample.parquet"));
        let Ok(loc) = loc else { return Vec::new() };
        let schema = corpus_store::document_schema();
        let mut b = corpus_store::DocBatchBuilder::default();
        for i in 0..50 {
            b.push(&corpus_store::Document {
                id: format!("s/f/{i}"),
                source: "s".into(),
                url: Some(format!("http://example.org/{i}")),
                title: None,
                text: format!("document number {i} with some words"),
                meta: None,
            });
        }
        let written = corpus_store::ParquetSink::create(storage, &loc, schema)
            .and_then(|mut s| b.finish().and_then(|batch| s.write(&batch)).map(|_| s))
            .and_then(|s| s.finish());
        let bytes = written
            .ok()
            .and_then(|_| std::fs::read(dir.join("sample.parquet")).ok());
        return bytes
            .map(|b| vec![("x.parquet".to_string(), b)])
            .unwrap_or_default();
    }
    let path = data_dir().join(sample);
    let Ok(stored) = std::fs::read(&path) else {
        return Vec::new();
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("x")
        .to_string();
    let plain_name = ["gz", "zst", "bz2"]
        .iter()
        .find_map(|ext| name.strip_suffix(&format!(".{ext}")))
        .map(str::to_string);
    let mut out = vec![(name.clone(), stored.clone())];
    if let Some(plain_name) = plain_name {
        let mut plain = Vec::new();
        let ok = if name.ends_with(".gz") {
            flate2::read::MultiGzDecoder::new(&stored[..])
                .read_to_end(&mut plain)
                .is_ok()
        } else if name.ends_with(".zst") {
            zstd::stream::read::Decoder::new(&stored[..])
                .and_then(|mut d| d.read_to_end(&mut plain))
                .is_ok()
        } else {
            false
        };
        if ok {
            out.push((plain_name, plain));
        }
    }
    out
}

/// Runs one reader over bytes; panics (with the seed) if the reader panics or yields a malformed record.
fn read_all(
    storage: &Arc<Storage>,
    dir: &Path,
    format: &str,
    name: &str,
    bytes: &[u8],
    seed: u64,
) -> (usize, usize) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_default();
    let location = match storage.resolve(path.to_str().unwrap_or("/")) {
        Ok(l) => l,
        Err(e) => panic!("cannot resolve {}: {e}", path.display()),
    };
    let input = InputFile {
        source_index: 0,
        location,
        size: bytes.len() as u64,
        stem: "f".into(),
        title: None,
    };
    let src = source(format);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let (mut docs, mut rejects) = (0, 0);
        let reader = match open_reader(storage, &src, &input) {
            Ok(r) => r,
            // Opening an object can fail only for storage reasons, never for content.
            Err(e) => panic!("open_reader failed on content: {e:#}"),
        };
        for record in reader.take(1_000_000) {
            match record {
                Record::Doc(d) => {
                    assert!(!d.text.trim().is_empty(), "empty document text");
                    assert!(d.id.starts_with("fuzz/f/"), "bad id {}", d.id);
                    docs += 1;
                }
                Record::Reject(r) => {
                    assert!(
                        !r.reason.is_empty() && !r.detail.is_empty(),
                        "reject without reason"
                    );
                    rejects += 1;
                }
                Record::Skip(kind) => assert!(!kind.is_empty()),
            }
        }
        (docs, rejects)
    }));
    match result {
        Ok(counts) => counts,
        Err(_) => {
            let keep = std::env::temp_dir().join(format!("corpus-fuzz-crash-{seed}-{name}"));
            let _ = std::fs::write(&keep, bytes);
            panic!(
                "{format} reader panicked on a variant of {name} (seed {seed}), saved to {}",
                keep.display()
            );
        }
    }
}

#[test]
fn every_format_has_a_fuzz_sample() {
    for format in super::Format::ALLOWED {
        assert!(
            SAMPLES.iter().any(|(f, _)| *f == format),
            "no fuzz sample for format {format}"
        );
    }
}

#[test]
fn readers_survive_arbitrary_bytes() {
    let iterations: u64 = std::env::var("CORPUS_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let Ok(storage) = Storage::new() else {
        panic!("storage")
    };
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let mut total = 0usize;
    let mut originals = 0usize;
    for (i, (format, sample)) in SAMPLES.iter().enumerate() {
        let variants = variants_of(&storage, dir.path(), sample);
        originals += variants.len();
        assert!(!variants.is_empty(), "sample {sample} is missing");
        for (name, bytes) in &variants {
            let (docs, _) = read_all(&storage, dir.path(), format, name, bytes, 0);
            assert!(
                docs > 0,
                "{format}: the unmodified {name} gives no document"
            );
            for k in 0..iterations {
                let seed = (i as u64) << 32 | k;
                let mut rng = Rng(seed);
                let mutated = mutate(&mut rng, bytes);
                read_all(&storage, dir.path(), format, name, &mutated, seed);
                total += 1;
            }
        }
    }
    assert!(total > 0);
    println!(
        "readers survived {total} mutated inputs: {iterations} of each of {originals} sample variants"
    );
}

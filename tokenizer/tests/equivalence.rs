//! The tokenizer gives exactly tiktoken-rs's ids: on every document of the repository's sample data (web
//! text JSONL, Gutenberg books, a Wikipedia XML dump, WARC records read as lossy UTF-8, benchmark JSONL),
//! on hand-picked strings at the edges of the GPT-2 pattern, and on seeded random Unicode strings. The
//! reference is tiktoken-rs's `CoreBPE::encode_ordinary` itself, not our wrapper around it.

#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::{Path, PathBuf};

use corpus_tokenizer::{Encoding, Engine, MAX_RUN, Tokenizer};
use rayon::prelude::*;
use tiktoken_rs::CoreBPE;

fn reference(encoding: Encoding) -> &'static CoreBPE {
    match encoding {
        Encoding::R50kBase => tiktoken_rs::r50k_base_singleton(),
        Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
    }
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

fn read_decompressed(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    let name = path.to_string_lossy();
    let mut out = Vec::new();
    if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
    } else if name.ends_with(".zst") {
        out = zstd::decode_all(&raw[..]).unwrap();
    } else if name.ends_with(".bz2") {
        bzip2::read::MultiBzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
    } else {
        out = raw;
    }
    out
}

/// Every string value of every JSON record (the text and the metadata strings alike).
fn json_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| json_strings(v, out)),
        _ => {}
    }
}

/// The documents of one sample file, named `file#index`.
fn documents(path: &Path) -> Vec<(String, String)> {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let text = String::from_utf8_lossy(&read_decompressed(path)).into_owned();
    let texts: Vec<String> = if name.contains(".json") {
        let mut strings = Vec::new();
        if name.ends_with(".json") {
            json_strings(&serde_json::from_str(&text).unwrap(), &mut strings);
        } else {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                json_strings(&serde_json::from_str(line).unwrap(), &mut strings);
            }
        }
        strings
    } else if name.contains(".xml") {
        text.split_inclusive("</page>")
            .map(str::to_string)
            .collect()
    } else if name.contains(".warc") {
        text.split_inclusive("WARC/1.0\r\n")
            .map(str::to_string)
            .collect()
    } else {
        vec![text]
    };
    texts
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("{name}#{i}"), t))
        .collect()
}

fn sample_documents() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for folder in ["webtext", "books", "wiki", "warc", "benchmarks"] {
        for entry in std::fs::read_dir(data_dir().join(folder)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    files.sort();
    files.iter().flat_map(|f| documents(f)).collect()
}

fn assert_same_ids(encoding: Encoding, docs: &[(String, String)]) {
    let ours = Tokenizer::new(encoding);
    let bpe = reference(encoding);
    let mismatches: Vec<&str> = docs
        .par_iter()
        .filter(|(_, text)| ours.encode(text).unwrap() != bpe.encode_ordinary(text))
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(
        mismatches.is_empty(),
        "{}: {} of {} documents differ from tiktoken-rs, first: {:?}",
        encoding.name(),
        mismatches.len(),
        docs.len(),
        &mismatches[..mismatches.len().min(5)]
    );
}

#[test]
fn sample_data_encodes_exactly_like_tiktoken() {
    let docs = sample_documents();
    let bytes: usize = docs.iter().map(|(_, t)| t.len()).sum();
    assert!(
        docs.len() > 1_000 && bytes > 10_000_000,
        "{} docs, {bytes} bytes",
        docs.len()
    );
    for encoding in Encoding::ALL {
        assert_same_ids(encoding, &docs);
    }
}

/// Strings at the edges of the GPT-2 pattern: contractions (upper case, Unicode apostrophes, inside
/// punctuation runs), white-space runs before words (`\s+(?!\S)`), line ends, NBSP and U+2028, marks,
/// emoji, mixed scripts, digit runs, trailing white space.
const EDGE_CASES: &[&str] = &[
    "",
    " ",
    "'",
    "'s",
    "it's",
    "IT'S",
    "'S 'T 'RE 'VE 'M 'LL 'D",
    "we'll've they're I'd you'm",
    "don\u{2019}t can\u{2bc}t it\u{2018}s",
    "\"'s '''s ''ll 'l 'v 'r",
    "a  b   c    d",
    "a\n\n  b",
    "a \t b",
    "line\r\nline\r\n\r\n",
    "tab\tsep\t\tend\t",
    "x\u{a0}y \u{a0}z\u{a0}\u{a0}w",
    "para\u{2028}graph\u{2029}end \u{2028} x",
    "\u{85}next \u{3000}ideographic",
    "trailing   ",
    "trailing\n",
    "   leading",
    "\n\n\n",
    "e\u{301}te\u{301} cafe\u{301} \u{301}\u{301}a",
    "😀😀 👍🏽 🏳️‍🌈 family👨‍👩‍👧",
    "日本語のテキスト、中文文本。한국어 텍스트",
    "Привет, мир! Ελληνικά עִברִית العربية हिन्दी",
    "12345678901234567890 3.14159 1,000,000 ½ Ⅻ ٣٤٥ ๓",
    " 123 abc 456def ghi789",
    "<|endoftext|> <|fim_prefix|>",
    "\u{fffd}\u{fffd} broken \u{fffd}",
    "\u{0}\u{1}\u{1c}\u{1f}\u{7f}",
    "mixed: Hello世界123!? ?! ...",
    "    def f(x):\n        return x  # comment\n",
    "http://example.com/path?q=1&r=2#frag",
];

#[test]
fn edge_cases_encode_exactly_like_tiktoken() {
    let docs: Vec<(String, String)> = EDGE_CASES
        .iter()
        .map(|s| (format!("{s:?}"), s.to_string()))
        .collect();
    for encoding in Encoding::ALL {
        assert_same_ids(encoding, &docs);
    }
}

/// A seeded xorshift generator: the same strings on every run.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random string over characters chosen to hit every branch of the pattern: ASCII, contraction letters,
/// apostrophes, many kinds of white space, marks, digits of several scripts, and any code point at all.
fn random_text(rng: &mut Xorshift) -> String {
    const POOL: &[char] = &[
        'a', 'b', 's', 't', 'l', 'v', 'e', 'r', 'm', 'd', 'S', 'L', 'D', '\'', '\'', '\'', ' ',
        ' ', ' ', ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{a0}', '\u{2028}', '\u{85}',
        '\u{3000}', '0', '7', '٣', '½', '.', ',', '!', '"', '-', '\u{2019}', '\u{301}', '\u{65f}',
        'é', 'ß', '東', 'ア', 'Ж', '😀', '\u{200d}', '\u{fe0f}', '\u{fffd}', '\u{0}',
    ];
    let len = rng.below(40);
    (0..len)
        .map(|_| {
            if rng.below(8) == 0 {
                // Any scalar value, BMP-heavy.
                let limit = if rng.below(4) == 0 {
                    0x11_0000
                } else {
                    0x1_0000
                };
                char::from_u32(rng.below(limit) as u32).unwrap_or('\u{fffd}')
            } else {
                POOL[rng.below(POOL.len())]
            }
        })
        .collect()
}

#[test]
fn random_unicode_strings_encode_exactly_like_tiktoken() {
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    let docs: Vec<(String, String)> = (0..20_000)
        .map(|_| random_text(&mut rng))
        .map(|s| (format!("{s:?}"), s))
        .collect();
    assert_same_ids(Encoding::R50kBase, &docs);
}

#[test]
fn arbitrary_bytes_read_as_lossy_utf8_encode_like_tiktoken() {
    let mut rng = Xorshift(0x1234_5678_9abc_def1);
    let docs: Vec<(String, String)> = (0..2_000)
        .map(|_| {
            let bytes: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .map(|s| (format!("{s:?}"), s))
        .collect();
    assert_same_ids(Encoding::R50kBase, &docs);
}

/// Runs longer than [`MAX_RUN`] are cut the same way for both engines, so the ids still agree.
#[test]
fn long_runs_are_cut_the_same_way_by_both_engines() {
    let native = Tokenizer::new(Encoding::R50kBase);
    assert_eq!(native.engine(), Engine::Native);
    let tiktoken = Tokenizer::with_engine(Encoding::R50kBase, Engine::TiktokenRs).unwrap();
    for text in [
        "a".repeat(MAX_RUN * 2 + 5),
        format!(" {}", "ab".repeat(MAX_RUN)),
        format!("x{}y", " ".repeat(MAX_RUN + 3)),
        format!("{}z", "\n".repeat(MAX_RUN * 2)),
        "7".repeat(MAX_RUN + 1),
        "!?".repeat(MAX_RUN),
        "é".repeat(MAX_RUN + 100),
    ] {
        let ids = native.encode(&text).unwrap();
        assert_eq!(ids, tiktoken.encode(&text).unwrap(), "{}", &text[..20]);
        assert_eq!(native.decode(&ids).unwrap(), text);
    }
}

#[test]
fn pathological_inputs_do_not_panic() {
    let tokenizer = Tokenizer::new(Encoding::R50kBase);
    let mut rng = Xorshift(7);
    let random_bytes: Vec<u8> = (0..1_000_000).map(|_| rng.next() as u8).collect();
    for text in [
        "a".repeat(1_000_000),
        " ".repeat(1_000_000),
        "'".repeat(1_000_000),
        "\u{fffd}".repeat(300_000),
        "e\u{301}".repeat(300_000),
        "😀".repeat(250_000),
        String::from_utf8_lossy(&random_bytes).into_owned(),
    ] {
        let ids = tokenizer.encode(&text).unwrap();
        assert_eq!(tokenizer.decode(&ids).unwrap(), text);
    }
}

/// A 50 MB document of one repeated word, and one of sample text; run with `--release -- --ignored`.
#[test]
#[ignore = "50 MB inputs: slow without optimisations"]
fn fifty_megabyte_documents_encode() {
    let tokenizer = Tokenizer::new(Encoding::R50kBase);
    let book = String::from_utf8_lossy(&read_decompressed(
        &data_dir().join("books/pg2701-moby-dick.txt"),
    ))
    .into_owned();
    for text in [
        "abc".repeat(50_000_000 / 3),
        book.repeat(50_000_000 / book.len() + 1),
    ] {
        let ids = tokenizer.encode(&text).unwrap();
        assert_eq!(tokenizer.decode(&ids).unwrap(), text);
    }
}

#[test]
fn native_engine_is_only_offered_for_r50k() {
    assert_eq!(Tokenizer::new(Encoding::R50kBase).engine(), Engine::Native);
    for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
        assert_eq!(Tokenizer::new(encoding).engine(), Engine::TiktokenRs);
        let err = Tokenizer::with_engine(encoding, Engine::Native)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("it implements: r50k_base"), "{err}");
    }
}

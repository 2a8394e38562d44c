//! Source readers: each turns one input file into a stream of documents or reject rows (docs/ARCHITECTURE.md §3, §8).
//! A malformed record never stops a file; a broken stream (truncated gzip, unreadable object) ends the file
//! with one reject row that says where it broke.

mod config;
#[cfg(test)]
mod fuzz;
mod html;
mod jsonl;
mod parquet;
#[cfg(test)]
mod samples;
mod text;
mod warc;
mod wikipedia;
mod wikitext;

use std::io::{BufRead, BufReader, Read};
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Result;
use unicode_normalization::{UnicodeNormalization, is_nfc_quick};

use corpus_store::{Document, Location, Reject, Storage, document_id};

pub use config::SourceConfig;
pub use jsonl::JsonlReader;
pub use parquet::ParquetReader;
pub use text::TextReader;
pub use warc::WarcReader;
pub use wikipedia::WikipediaReader;

/// Bytes of a broken record kept as the text of its reject row.
pub(crate) const RAW_KEEP: usize = 4096;

/// The `meta` key that marks a document recovered from a record a strict reader would reject; its value
/// is the reason it would have been rejected for. Today: WET records whose `Content-Length` does not match
/// where the next record starts (`bad_content_length`), read up to that record instead (see `warc/`).
pub const RECOVERED_META_KEY: &str = "recovered";

/// The reason a document was recovered instead of rejected ([`RECOVERED_META_KEY`] in its `meta`), or
/// `None` for a record read as it declared itself. Ingest counts these per part beside its documents,
/// rejects and skips: a recovered document is also a document out.
pub fn recovered_from(doc: &Document) -> Option<String> {
    let meta = doc.meta.as_deref()?;
    if !meta.contains(RECOVERED_META_KEY) {
        return None;
    }
    let meta: serde_json::Value = serde_json::from_str(meta).ok()?;
    meta.get(RECOVERED_META_KEY)?.as_str().map(str::to_string)
}

/// Where a reader's records come from: every record's id and every reject row of every reader is made
/// here, so the id format (`{source}/{input-stem}/{record-index}`) and the reject row are written once.
pub(crate) struct Origin {
    /// The source's name (the `source` column).
    pub(crate) source: String,
    /// The input file's URL, which reject rows name.
    input: String,
    /// The input file's stem, the middle of every id.
    stem: String,
    /// The reject rows' rule, `ingest.{format}`.
    rule: &'static str,
}

impl Origin {
    /// The origin of the records of `input`, a file of `source`, read by the reader `rule` names.
    pub(crate) fn new(source: &SourceConfig, input: &InputFile, rule: &'static str) -> Self {
        Origin {
            source: source.name.clone(),
            input: input.location.url().to_string(),
            stem: input.stem.clone(),
            rule,
        }
    }

    /// The id of the file's record number `index`.
    pub(crate) fn id(&self, index: u64) -> String {
        document_id(&self.source, &self.stem, index)
    }

    /// The reject row of record `index`, found at `offset`, with `text` kept (see [`raw_text`]).
    pub(crate) fn reject(
        &self,
        index: u64,
        offset: u64,
        reason: &str,
        detail: String,
        text: Option<String>,
    ) -> Record {
        Record::Reject(Reject {
            id: self.id(index),
            source: self.source.clone(),
            input: self.input.clone(),
            offset,
            reason: reason.to_string(),
            rule: self.rule.to_string(),
            detail,
            text,
            value: None,
        })
    }
}

/// The first [`RAW_KEEP`] bytes of a broken record as text (invalid UTF-8 replaced), for its reject row.
pub(crate) fn raw_text(raw: &[u8]) -> String {
    String::from_utf8_lossy(&raw[..raw.len().min(RAW_KEEP)]).into_owned()
}

/// The reader formats a source can name in `format = ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON Lines (`.jsonl`, `.json`, optionally `.gz`/`.zst`): OpenWebText2, C4, CCNet, Dolma.
    Jsonl,
    /// Plain text, one document per file (books).
    Text,
    /// Parquet with a text column (Hugging Face datasets), streamed by row group.
    Parquet,
    /// MediaWiki XML export (Wikipedia `pages-articles`, plain or `.bz2`): one document per article.
    WikipediaXml,
    /// WARC (Common Crawl `.warc.gz`, plain or gzip): HTML and text `response` records, main text extracted.
    Warc,
    /// WET (Common Crawl `.warc.wet.gz`): `conversion` records, text as is.
    Wet,
}

impl Format {
    /// Every format, in the order of [`Format::ALLOWED`].
    pub const ALL: [Format; 6] = [
        Format::Jsonl,
        Format::Text,
        Format::Parquet,
        Format::WikipediaXml,
        Format::Warc,
        Format::Wet,
    ];

    /// Names accepted in configs.
    pub const ALLOWED: [&'static str; 6] =
        ["jsonl", "text", "parquet", "wikipedia-xml", "warc", "wet"];

    /// The name configs use for this format.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Text => "text",
            Format::Parquet => "parquet",
            Format::WikipediaXml => "wikipedia-xml",
            Format::Warc => "warc",
            Format::Wet => "wet",
        }
    }

    /// The format a file name implies, compression suffixes (`.gz`, `.zst`, `.bz2`) ignored, for tools
    /// that read files without a config (`corpus quality train|check`).
    pub fn from_file_name(name: &str) -> Option<Format> {
        let mut stem = name.to_ascii_lowercase();
        for ext in [".gz", ".zst", ".zstd", ".bz2"] {
            if let Some(s) = stem.strip_suffix(ext) {
                stem = s.to_string();
            }
        }
        let ext = stem.rsplit('.').next().unwrap_or_default();
        match ext {
            "jsonl" | "json" | "ndjson" => Some(Format::Jsonl),
            "txt" | "text" => Some(Format::Text),
            "parquet" => Some(Format::Parquet),
            "xml" => Some(Format::WikipediaXml),
            "wet" => Some(Format::Wet),
            "warc" | "arc" => Some(Format::Warc),
            _ if stem.contains("pages-articles") => Some(Format::WikipediaXml),
            _ => None,
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown format '{s}' (allowed: {})",
                    Format::ALLOWED.join(", ")
                )
            })
    }
}

/// What a reader yields for each record.
#[derive(Debug)]
pub enum Record {
    /// A document.
    Doc(Document),
    /// A record that could not become one.
    Reject(Reject),
    /// A record that is not a document by design (e.g. a WARC `request`); counted by kind, not rejected.
    Skip(&'static str),
}

/// One input file of a source, with the stem its document ids use.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// Index of the source in the config.
    pub source_index: usize,
    /// Where the file is.
    pub location: Location,
    /// Its size in bytes.
    pub size: u64,
    /// Path relative to the source's common directory, without compression/format extensions.
    pub stem: String,
    /// Title from a PG-19 style `metadata.csv` beside the file or one directory up (text sources).
    pub title: Option<String>,
}

/// Opens the right reader for a source's format.
pub fn open_reader(
    storage: &Arc<Storage>,
    source: &SourceConfig,
    input: &InputFile,
) -> Result<Box<dyn Iterator<Item = Record> + Send>> {
    let format: Format = source.format.parse().map_err(anyhow::Error::msg)?;
    Ok(match format {
        Format::Jsonl => Box::new(JsonlReader::new(
            decompressed(storage, input)?,
            source,
            input,
        )),
        Format::Text => Box::new(TextReader::new(
            decompressed(storage, input)?,
            source,
            input,
        )),
        Format::Parquet => Box::new(ParquetReader::open(storage, source, input)),
        Format::WikipediaXml => Box::new(WikipediaReader::new(
            decompressed(storage, input)?,
            source,
            input,
        )),
        // WARC readers undo gzip member by member themselves, to resynchronise after a corrupt member.
        Format::Warc | Format::Wet => Box::new(WarcReader::new(
            Box::new(BufReader::with_capacity(
                1 << 20,
                storage.reader(&input.location)?,
            )),
            source,
            input,
            format == Format::Wet,
        )),
    })
}

/// Largest expansion accepted from a compressed input: `MAX_EXPANSION` times its size plus this floor.
pub const EXPANSION_FLOOR_BYTES: u64 = 256 << 20;
/// Largest decompressed/compressed size ratio accepted (real text compresses 3-15x).
pub const MAX_EXPANSION: u64 = 200;

/// A buffered reader that undoes the file's compression, chosen by extension (`.gz`, `.zst`, `.bz2`).
/// The output of a compressed file is capped (see [`MAX_EXPANSION`]): a decompression bomb becomes a read
/// error, which readers turn into a reject, instead of filling memory or disk.
pub fn decompressed(storage: &Arc<Storage>, input: &InputFile) -> Result<Box<dyn BufRead + Send>> {
    let loc = &input.location;
    let raw = BufReader::with_capacity(1 << 20, storage.reader(loc)?);
    let name = loc.file_name();
    let cap = input
        .size
        .saturating_mul(MAX_EXPANSION)
        .saturating_add(EXPANSION_FLOOR_BYTES);
    let capped = |r: Box<dyn Read + Send>| -> Box<dyn BufRead + Send> {
        Box::new(BufReader::with_capacity(
            1 << 20,
            ExpansionCap {
                inner: r,
                left: cap,
                cap,
            },
        ))
    };
    Ok(if name.ends_with(".gz") {
        // Common Crawl and many JSONL dumps are concatenated gzip members.
        capped(Box::new(flate2::bufread::MultiGzDecoder::new(raw)))
    } else if name.ends_with(".zst") || name.ends_with(".zstd") {
        let mut dec = zstd::stream::read::Decoder::with_buffer(raw)?;
        // OpenWebText2 was compressed with long windows.
        dec.window_log_max(31)?;
        capped(Box::new(dec))
    } else if name.ends_with(".bz2") {
        // Wikipedia's multistream dumps are concatenated bzip2 streams.
        capped(Box::new(bzip2::bufread::MultiBzDecoder::new(raw)))
    } else {
        Box::new(raw)
    })
}

/// Fails reads once more than `cap` bytes came out of a decompressor.
struct ExpansionCap {
    inner: Box<dyn Read + Send>,
    left: u64,
    cap: u64,
}

impl Read for ExpansionCap {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            return Err(std::io::Error::other(format!(
                "decompressed output exceeds {} bytes ({MAX_EXPANSION}x the compressed size + {EXPANSION_FLOOR_BYTES}): \
                 likely a decompression bomb",
                self.cap
            )));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

const COMPRESSION_EXTENSIONS: [&str; 4] = [".gz", ".zst", ".zstd", ".bz2"];
const FORMAT_EXTENSIONS: [&str; 10] = [
    ".jsonl", ".json", ".ndjson", ".txt", ".text", ".parquet", ".warc", ".wet", ".wat", ".xml",
];

/// Stems for a source's files: the path below their common directory, minus known extensions.
/// Unique for distinct files, so document ids are unique.
pub fn stems(relative_paths: &[String]) -> Vec<String> {
    let dirs: Vec<Vec<&str>> = relative_paths
        .iter()
        .map(|p| {
            let mut parts: Vec<&str> = p.split('/').collect();
            parts.pop();
            parts
        })
        .collect();
    let common = match dirs.first() {
        Some(first) => (0..first.len())
            .take_while(|&i| dirs.iter().all(|d| d.get(i) == first.get(i)))
            .count(),
        None => 0,
    };
    relative_paths
        .iter()
        .map(|p| {
            let rel: Vec<&str> = p.split('/').skip(common).collect();
            let mut stem = rel.join("/");
            for ext in COMPRESSION_EXTENSIONS {
                if let Some(s) = stem.strip_suffix(ext) {
                    stem = s.to_string();
                    break;
                }
            }
            for ext in FORMAT_EXTENSIONS {
                if let Some(s) = stem.strip_suffix(ext) {
                    stem = s.to_string();
                    break;
                }
            }
            stem
        })
        .collect()
}

/// Normalises text to the document form: `\n` line ends (CRLF and lone CR converted) and Unicode NFC.
pub fn normalize_text(text: &str) -> String {
    let lf = if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.to_string()
    };
    if is_nfc_quick(lf.chars()) == unicode_normalization::IsNormalized::Yes {
        lf
    } else {
        lf.nfc().collect()
    }
}

/// Reads the rest of a stream, at most `limit` bytes; `Ok(None)` when it is longer.
pub(crate) fn read_capped(reader: &mut dyn Read, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    reader.take(limit + 1).read_to_end(&mut buf)?;
    Ok(if buf.len() as u64 > limit {
        None
    } else {
        Some(buf)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_drop_common_dirs_and_extensions() {
        let paths = vec![
            "data/a/x.jsonl.gz".to_string(),
            "data/b/x.jsonl.gz".to_string(),
        ];
        assert_eq!(stems(&paths), vec!["a/x", "b/x"]);
        let one = vec![
            "books/pg972.txt".to_string(),
            "books/c4.01.json.gz".to_string(),
        ];
        assert_eq!(stems(&one), vec!["pg972", "c4.01"]);
    }

    #[test]
    fn expansion_cap_stops_a_decompression_bomb() {
        let bomb = vec![0u8; 10_000];
        let mut capped = ExpansionCap {
            inner: Box::new(std::io::Cursor::new(bomb)),
            left: 4096,
            cap: 4096,
        };
        let mut out = Vec::new();
        let err = capped
            .read_to_end(&mut out)
            .map(|_| ())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("decompression bomb"), "{err}");
        assert_eq!(out.len(), 4096);
        let mut exact = ExpansionCap {
            inner: Box::new(std::io::Cursor::new(vec![1u8; 4096])),
            left: 4096,
            cap: 4096,
        };
        assert_eq!(exact.read_to_end(&mut Vec::new()).ok(), Some(4096));
    }

    #[test]
    fn text_is_normalised_to_lf_and_nfc() {
        assert_eq!(normalize_text("a\r\nb\rc\n"), "a\nb\nc\n");
        assert_eq!(normalize_text("Cafe\u{301}"), "Caf\u{e9}");
    }
}

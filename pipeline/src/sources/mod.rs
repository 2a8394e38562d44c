//! Source readers: each turns one input file into a stream of documents or reject rows (DESIGN.md §3, §8).
//! A malformed record never stops a file; a broken stream (truncated gzip, unreadable object) ends the file
//! with one reject row that says where it broke.

mod jsonl;
mod text;

use std::io::{BufRead, BufReader, Read};
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Result;
use unicode_normalization::{UnicodeNormalization, is_nfc_quick};

use crate::config::SourceConfig;
use crate::docs::{Document, Reject};
use crate::storage::{Location, Storage};

pub use jsonl::JsonlReader;
pub use text::TextReader;

/// The reader formats a source can name in `format = ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON Lines (`.jsonl`, `.json`, optionally `.gz`/`.zst`): OpenWebText2, C4, CCNet, Dolma.
    Jsonl,
    /// Plain text, one document per file (books).
    Text,
}

impl Format {
    /// Names accepted in configs.
    pub const ALLOWED: [&'static str; 2] = ["jsonl", "text"];
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jsonl" => Ok(Format::Jsonl),
            "text" => Ok(Format::Text),
            other => Err(format!(
                "unknown format '{other}' (allowed: {})",
                Format::ALLOWED.join(", ")
            )),
        }
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
}

/// Opens the right reader for a source's format.
pub fn open_reader(
    storage: &Arc<Storage>,
    source: &SourceConfig,
    input: &InputFile,
) -> Result<Box<dyn Iterator<Item = Record> + Send>> {
    let format: Format = source.format.parse().map_err(anyhow::Error::msg)?;
    let stream = decompressed(storage, &input.location)?;
    Ok(match format {
        Format::Jsonl => Box::new(JsonlReader::new(stream, source, input)),
        Format::Text => Box::new(TextReader::new(stream, source, input)),
    })
}

/// A buffered reader that undoes the file's compression, chosen by extension (`.gz`, `.zst`).
pub fn decompressed(storage: &Arc<Storage>, loc: &Location) -> Result<Box<dyn BufRead + Send>> {
    let raw = BufReader::with_capacity(1 << 20, storage.reader(loc)?);
    let name = loc.file_name();
    Ok(if name.ends_with(".gz") {
        // Common Crawl and many JSONL dumps are concatenated gzip members.
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(raw),
        ))
    } else if name.ends_with(".zst") || name.ends_with(".zstd") {
        let mut dec = zstd::stream::read::Decoder::with_buffer(raw)?;
        // OpenWebText2 was compressed with long windows.
        dec.window_log_max(31)?;
        Box::new(BufReader::with_capacity(1 << 20, dec))
    } else {
        Box::new(raw)
    })
}

const COMPRESSION_EXTENSIONS: [&str; 4] = [".gz", ".zst", ".zstd", ".bz2"];
const FORMAT_EXTENSIONS: [&str; 5] = [".jsonl", ".json", ".ndjson", ".txt", ".text"];

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
    fn text_is_normalised_to_lf_and_nfc() {
        assert_eq!(normalize_text("a\r\nb\rc\n"), "a\nb\nc\n");
        assert_eq!(normalize_text("Cafe\u{301}"), "Caf\u{e9}");
    }
}

//! Plain-text reader: one document per file (books). UTF-8 with or without BOM; files that are not valid
//! UTF-8 are read as Latin-1 (every byte is a character), the usual encoding of old Gutenberg texts.

use std::io::BufRead;

use super::{InputFile, Record, normalize_text, read_capped};
use crate::config::SourceConfig;
use crate::docs::{Document, Reject};

/// Largest file read as one document.
pub const MAX_DOCUMENT_BYTES: u64 = 1 << 30;

/// Yields the single record of one text file.
pub struct TextReader {
    reader: Option<Box<dyn BufRead + Send>>,
    source: String,
    input: String,
    stem: String,
}

impl TextReader {
    /// A reader over an already decompressed stream.
    pub fn new(reader: Box<dyn BufRead + Send>, source: &SourceConfig, input: &InputFile) -> Self {
        TextReader {
            reader: Some(reader),
            source: source.name.clone(),
            input: input.location.url().to_string(),
            stem: input.stem.clone(),
        }
    }

    fn reject(&self, reason: &str, detail: String) -> Record {
        Record::Reject(Reject {
            id: format!("{}/{}/0", self.source, self.stem),
            source: self.source.clone(),
            input: self.input.clone(),
            offset: 0,
            reason: reason.to_string(),
            rule: "ingest.text".to_string(),
            detail,
            text: None,
        })
    }
}

/// Decodes a text file's bytes: BOM dropped, UTF-8 if valid, else Latin-1.
pub fn decode_text(bytes: &[u8]) -> (String, &'static str) {
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(body) {
        Ok(s) => (s.to_string(), "utf-8"),
        Err(_) => (body.iter().map(|&b| b as char).collect(), "latin-1"),
    }
}

impl Iterator for TextReader {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let mut reader = self.reader.take()?;
        let bytes = match read_capped(&mut reader, MAX_DOCUMENT_BYTES) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Some(self.reject(
                    "too_large",
                    format!("file is over {MAX_DOCUMENT_BYTES} bytes"),
                ));
            }
            Err(e) => {
                return Some(self.reject("truncated_input", format!("input stream broken: {e}")));
            }
        };
        let (text, encoding) = decode_text(&bytes);
        let text = normalize_text(&text);
        if text.trim().is_empty() {
            return Some(self.reject("empty_text", "file is empty or whitespace".into()));
        }
        Some(Record::Doc(Document {
            id: format!("{}/{}/0", self.source, self.stem),
            source: self.source.clone(),
            url: None,
            title: None,
            text,
            meta: Some(serde_json::json!({ "encoding": encoding }).to_string()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_and_latin1() {
        assert_eq!(decode_text(b"\xef\xbb\xbfhi"), ("hi".to_string(), "utf-8"));
        assert_eq!(
            decode_text(b"caf\xe9"),
            ("caf\u{e9}".to_string(), "latin-1")
        );
    }
}

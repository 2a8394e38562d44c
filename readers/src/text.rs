//! Plain-text reader: one document per file (books). UTF-8 with or without BOM; files that are not valid
//! UTF-8 are read as Latin-1 (every byte is a character), the usual encoding of old Gutenberg texts.
//! Project Gutenberg's license header and footer are removed when their markers are present
//! (`*** START OF THE/THIS PROJECT GUTENBERG EBOOK ... ***`, `*** END OF ...`, `End of the Project Gutenberg
//! EBook of ...`), and the header's `Title:` line becomes the document title.

use std::io::BufRead;

use crate::{InputFile, Origin, Record, SourceConfig, normalize_text, read_capped};
use corpus_store::Document;

/// Yields the single record of one text file.
pub struct TextReader {
    reader: Option<Box<dyn BufRead + Send>>,
    origin: Origin,
    title: Option<String>,
    max_doc_bytes: u64,
}

impl TextReader {
    /// A reader over an already decompressed stream.
    pub fn new(reader: Box<dyn BufRead + Send>, source: &SourceConfig, input: &InputFile) -> Self {
        TextReader {
            reader: Some(reader),
            origin: Origin::new(source, input, "ingest.text"),
            title: input.title.clone(),
            max_doc_bytes: source.max_doc_bytes,
        }
    }

    fn reject(&self, reason: &str, detail: String) -> Record {
        self.origin.reject(0, 0, reason, detail, None)
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
        let bytes = match read_capped(&mut reader, self.max_doc_bytes) {
            Ok(Some(b)) => b,
            Ok(None) => {
                let detail = format!("file is over max_doc_bytes = {}", self.max_doc_bytes);
                return Some(self.reject("too_large", detail));
            }
            Err(e) => {
                return Some(self.reject("truncated_input", format!("input stream broken: {e}")));
            }
        };
        let (text, encoding) = decode_text(&bytes);
        let text = normalize_text(&text);
        let gutenberg =
            strip_gutenberg(&text).map(|b| (b.body.to_string(), b.title.map(str::to_string)));
        let is_gutenberg = gutenberg.is_some();
        let (text, title) = gutenberg.unwrap_or((text, None));
        if text.trim().is_empty() {
            return Some(self.reject("empty_text", "file is empty or whitespace".into()));
        }
        Some(Record::Doc(Document {
            id: self.origin.id(0),
            source: self.origin.source.clone(),
            url: None,
            title: self.title.clone().or(title),
            text,
            meta: Some(
                serde_json::json!({ "encoding": encoding, "gutenberg": is_gutenberg }).to_string(),
            ),
        }))
    }
}

/// A Project Gutenberg text with its license header and footer cut off.
#[derive(Debug, PartialEq, Eq)]
pub struct GutenbergBook<'a> {
    /// The text between the start and end markers, blank lines trimmed.
    pub body: &'a str,
    /// The header's `Title:` value.
    pub title: Option<&'a str>,
}

fn is_start_marker(line: &str) -> bool {
    let upper = line.trim().to_ascii_uppercase();
    upper.starts_with("***") && upper.contains("START OF") && upper.contains("PROJECT GUTENBERG")
}

fn is_end_marker(line: &str) -> bool {
    let upper = line.trim().to_ascii_uppercase();
    (upper.starts_with("***") && upper.contains("END OF") && upper.contains("PROJECT GUTENBERG"))
        || (upper.starts_with("END OF") && upper.contains("PROJECT GUTENBERG"))
}

/// Finds Project Gutenberg's start and end markers; `None` when the text has no start marker.
pub fn strip_gutenberg(text: &str) -> Option<GutenbergBook<'_>> {
    let mut offset = 0;
    let mut title = None;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let next = offset + line.len();
        if start.is_none() {
            if let Some(t) = line.trim().strip_prefix("Title:") {
                title = Some(t.trim()).filter(|t| !t.is_empty());
            }
            if is_start_marker(line) {
                start = Some(next);
            }
        } else if is_end_marker(line) {
            return Some(GutenbergBook {
                body: book_body(&text[start?..offset]),
                title,
            });
        }
        offset = next;
    }
    Some(GutenbergBook {
        body: book_body(&text[start?..]),
        title,
    })
}

/// Trims blank lines and the volunteers' credit paragraph ("Produced by ...") that opens most PG texts.
fn book_body(text: &str) -> &str {
    let blank = |c: char| c == '\n' || c == ' ' || c == '\t';
    let body = text.trim_matches(blank);
    let lower = body.get(..16).unwrap_or(body).to_ascii_lowercase();
    let credits = ["produced by", "prepared by", "transcribed by"];
    match body.find("\n\n") {
        Some(end) if credits.iter().any(|p| lower.starts_with(p)) => {
            body[end..].trim_matches(blank)
        }
        _ => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gutenberg_header_and_footer_are_removed() {
        let book = "The Project Gutenberg EBook of X\n\nTitle: X, a Tale\n\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\n\n\nChapter 1\nIt begins.\n\nEnd of the Project Gutenberg EBook of X\n\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nlicense text\n";
        let b = strip_gutenberg(book);
        assert_eq!(
            b,
            Some(GutenbergBook {
                body: "Chapter 1\nIt begins.",
                title: Some("X, a Tale")
            })
        );
        assert_eq!(strip_gutenberg("no markers here\n"), None);
    }

    #[test]
    fn bundled_books_lose_their_license_blocks() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/books");
        for (file, title, first, last) in [
            (
                "pg972-the-devils-dictionary.txt",
                "The Devil's Dictionary",
                "THE DEVIL'S DICTIONARY",
                "every two years.",
            ),
            (
                "pg1342-pride-and-prejudice.txt",
                "Pride and Prejudice",
                "PRIDE AND PREJUDICE",
                "uniting them.",
            ),
        ] {
            let bytes = std::fs::read(dir.join(file)).unwrap_or_default();
            let text = normalize_text(&decode_text(&bytes).0);
            let book = strip_gutenberg(&text).unwrap_or(GutenbergBook {
                body: "",
                title: None,
            });
            assert_eq!(book.title, Some(title), "{file}");
            assert!(
                book.body.starts_with(first),
                "{file}: {:?}",
                &book.body[..book.body.len().min(80)]
            );
            assert!(
                book.body.trim_end().ends_with(last),
                "{file}: {:?}",
                &book.body[book.body.len().saturating_sub(80)..]
            );
            assert!(
                !book.body.to_ascii_uppercase().contains("PROJECT GUTENBERG"),
                "{file}"
            );
        }
    }

    #[test]
    fn bom_and_latin1() {
        assert_eq!(decode_text(b"\xef\xbb\xbfhi"), ("hi".to_string(), "utf-8"));
        assert_eq!(
            decode_text(b"caf\xe9"),
            ("caf\u{e9}".to_string(), "latin-1")
        );
    }
}

//! JSON Lines reader: OpenWebText2 (`{"text", "meta"}` in `.jsonl.zst`), C4 (`{"text", "url", "timestamp"}`),
//! CCNet and Dolma (`{"id", "text", "metadata": {...}}`) in `.jsonl.gz`, or plain `.jsonl`. Fields are
//! dotted paths (`metadata.url`). Each non-blank line is one record.

use std::io::{BufRead, Read};

use serde_json::Value;

use crate::{InputFile, Origin, Record, SourceConfig, normalize_text, raw_text};
use corpus_store::Document;

/// JSON syntax and other fields allowed on a line beyond the text itself.
const LINE_OVERHEAD_BYTES: u64 = 1 << 20;

/// Streams one JSONL file as records.
pub struct JsonlReader {
    reader: Box<dyn BufRead + Send>,
    origin: Origin,
    text_field: String,
    id_field: Option<String>,
    url_field: Option<String>,
    title_field: Option<String>,
    max_doc_bytes: u64,
    offset: u64,
    index: u64,
    line: Vec<u8>,
    done: bool,
}

impl JsonlReader {
    /// A reader over an already decompressed stream.
    pub fn new(reader: Box<dyn BufRead + Send>, source: &SourceConfig, input: &InputFile) -> Self {
        JsonlReader {
            reader,
            origin: Origin::new(source, input, "ingest.jsonl"),
            text_field: source.text_field.clone(),
            id_field: source.id_field.clone(),
            url_field: source.url_field.clone(),
            title_field: source.title_field.clone(),
            max_doc_bytes: source.max_doc_bytes,
            offset: 0,
            index: 0,
            line: Vec::new(),
            done: false,
        }
    }

    fn reject(&self, index: u64, offset: u64, reason: &str, detail: String, raw: &[u8]) -> Record {
        self.origin
            .reject(index, offset, reason, detail, Some(raw_text(raw)))
    }

    fn parse(&self, index: u64, offset: u64, line: &[u8]) -> Record {
        let Ok(s) = std::str::from_utf8(line) else {
            return self.reject(
                index,
                offset,
                "invalid_utf8",
                "line is not valid UTF-8".into(),
                line,
            );
        };
        let value: Value = match serde_json::from_str(s) {
            Ok(v) => v,
            Err(e) => {
                return self.reject(
                    index,
                    offset,
                    "malformed_json",
                    format!("JSON error: {e}"),
                    line,
                );
            }
        };
        if !value.is_object() {
            return self.reject(
                index,
                offset,
                "malformed_json",
                "line is not a JSON object".into(),
                line,
            );
        }
        let text = match field(&value, &self.text_field) {
            Some(Value::String(t)) => t,
            Some(other) => {
                let detail = format!(
                    "field '{}' is {}, not a string",
                    self.text_field,
                    kind(other)
                );
                return self.reject(index, offset, "wrong_type", detail, line);
            }
            None => {
                let detail = format!("field '{}' is missing", self.text_field);
                return self.reject(index, offset, "missing_field", detail, line);
            }
        };
        if text.trim().is_empty() {
            return self.reject(
                index,
                offset,
                "empty_text",
                "text is empty or whitespace".into(),
                line,
            );
        }
        if text.len() as u64 > self.max_doc_bytes {
            let detail = format!(
                "text of {} bytes is over max_doc_bytes = {}",
                text.len(),
                self.max_doc_bytes
            );
            return self.reject(index, offset, "too_large", detail, line);
        }
        let string_at = |path: &Option<String>| -> Option<String> {
            match field(&value, path.as_deref()?)? {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let meta = string_at(&self.id_field)
            .map(|orig| serde_json::json!({ "orig_id": orig }).to_string());
        Record::Doc(Document {
            id: self.origin.id(index),
            source: self.origin.source.clone(),
            url: string_at(&self.url_field),
            title: string_at(&self.title_field),
            text: normalize_text(text),
            meta,
        })
    }
}

fn field<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Iterator for JsonlReader {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        while !self.done {
            let start = self.offset;
            let mut line = std::mem::take(&mut self.line);
            line.clear();
            let max_line = self.max_doc_bytes.saturating_add(LINE_OVERHEAD_BYTES);
            let read = (&mut self.reader)
                .take(max_line + 1)
                .read_until(b'\n', &mut line);
            let n = match read {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    let index = self.index;
                    self.index += 1;
                    let detail = format!("input stream broken at byte {start}: {e}");
                    return Some(self.reject(index, start, "truncated_input", detail, &[]));
                }
            };
            if n == 0 {
                self.done = true;
                return None;
            }
            self.offset += n as u64;
            if n as u64 > max_line && line.last() != Some(&b'\n') {
                let index = self.index;
                self.index += 1;
                let skipped = skip_line(&mut *self.reader);
                self.offset += skipped.unwrap_or(0);
                let detail =
                    format!("line longer than {max_line} bytes (max_doc_bytes + 1 MiB of JSON)");
                let rec = self.reject(index, start, "too_large", detail, &line);
                self.line = line;
                return Some(rec);
            }
            let body = trim_ascii_ws(&line);
            if body.is_empty() {
                self.line = line;
                continue;
            }
            let index = self.index;
            self.index += 1;
            let rec = self.parse(index, start, body);
            self.line = line;
            return Some(rec);
        }
        None
    }
}

fn skip_line(reader: &mut dyn BufRead) -> std::io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(skipped);
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(skipped + i as u64 + 1);
            }
            None => {
                let n = buf.len();
                reader.consume(n);
                skipped += n as u64;
            }
        }
    }
}

fn trim_ascii_ws(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map(|i| i + 1)
        .unwrap_or(start);
    &b[start..end.max(start)]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use corpus_store::Storage;

    fn records(data: &'static [u8], cfg: SourceConfig) -> Vec<Record> {
        let storage = Storage::new().unwrap();
        let input = InputFile {
            source_index: 0,
            location: storage.resolve("/tmp/x.jsonl").unwrap(),
            size: data.len() as u64,
            stem: "x".into(),
            title: None,
        };
        JsonlReader::new(Box::new(data), &cfg, &input).collect()
    }

    fn cfg() -> SourceConfig {
        SourceConfig {
            name: "web".into(),
            format: "jsonl".into(),
            paths: vec![],
            weight: 1.0,
            text_field: "text".into(),
            id_field: Some("id".into()),
            url_field: Some("metadata.url".into()),
            title_field: None,
            max_doc_bytes: 64,
        }
    }

    #[test]
    fn good_and_bad_lines() {
        let data: &'static [u8] = b"{\"id\": 7, \"text\": \"a\\r\\nb\", \"metadata\": {\"url\": \"http://u\"}}\n\n{not json}\n{\"text\": 3}\n{\"txt\": \"x\"}\n{\"text\": \"  \"}\n\xff\xfe\n{\"text\": \"last\"}\n{\"text\": \"this text is longer than the sixty-four bytes that this test allows\"}";
        let recs = records(data, cfg());
        let summary: Vec<String> = recs
            .iter()
            .map(|r| match r {
                Record::Doc(d) => format!("doc {} {:?} {:?} {:?}", d.id, d.text, d.url, d.meta),
                Record::Reject(j) => format!("reject {} {} @{}", j.id, j.reason, j.offset),
                Record::Skip(kind) => format!("skip {kind}"),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                "doc web/x/0 \"a\\nb\" Some(\"http://u\") Some(\"{\\\"orig_id\\\":\\\"7\\\"}\")",
                "reject web/x/1 malformed_json @62",
                "reject web/x/2 wrong_type @73",
                "reject web/x/3 missing_field @85",
                "reject web/x/4 empty_text @98",
                "reject web/x/5 invalid_utf8 @113",
                "doc web/x/6 \"last\" None None",
                "reject web/x/7 too_large @133",
            ]
        );
    }
}

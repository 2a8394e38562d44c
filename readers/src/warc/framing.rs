//! WARC record framing (ISO 28500:2017 §4-§6): version lines, named header fields, the block of
//! `Content-Length` bytes and what follows it, and where the next record starts after damage.

use serde_json::{Map, Value};

/// What follows a record's body.
pub(super) enum RecordEnd {
    /// The next record, the end of the data, or a gzip break.
    Next,
    /// A proper CRLF CRLF, then bytes that are not a record.
    Junk,
    /// No CRLF CRLF and no record: the `Content-Length` is wrong.
    Missing,
}

/// Why a header line could not be read.
pub(super) enum LineEnd {
    /// No newline within [`super::MAX_HEADER_LINE`] bytes.
    TooLong,
    /// The data ended (end of file or gzip break) before the newline.
    Cut,
}

/// Why a header block could not be read; each carries the raw bytes read so far.
pub(super) enum HeaderError {
    Cut(Vec<u8>),
    NextRecord(Vec<u8>),
    Malformed(String, Vec<u8>),
}

/// A WARC record header.
pub(super) struct WarcHeader {
    pub(super) fields: Vec<(String, String)>,
    pub(super) raw: Vec<u8>,
}

impl WarcHeader {
    /// A field's value (names are case-insensitive; the first occurrence wins).
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `WARC-Target-URI` without the `<...>` some writers (wget) wrap it in.
    pub(super) fn url(&self) -> Option<String> {
        let uri = self.get("WARC-Target-URI")?.trim();
        let uri = uri
            .strip_prefix('<')
            .and_then(|u| u.strip_suffix('>'))
            .unwrap_or(uri)
            .trim();
        (!uri.is_empty()).then(|| uri.to_string())
    }

    /// The `meta` fields every document of a record gets.
    pub(super) fn meta(&self) -> Map<String, Value> {
        let mut meta = Map::new();
        put(&mut meta, "warc_date", self.get("WARC-Date"));
        put(&mut meta, "warc_record_id", self.get("WARC-Record-ID"));
        put(&mut meta, "warc_truncated", self.get("WARC-Truncated"));
        meta
    }
}

pub(super) fn put(meta: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
        meta.insert(key.to_string(), Value::from(v));
    }
}

/// The `&'static` name a record type is counted under.
pub(super) fn record_kind(warc_type: &str) -> &'static str {
    const KINDS: [&str; 8] = [
        "warcinfo",
        "response",
        "resource",
        "request",
        "metadata",
        "revisit",
        "conversion",
        "continuation",
    ];
    let t = warc_type.trim();
    KINDS
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(t))
        .unwrap_or("unknown_type")
}

/// `WARC/` + digits `.` digits + end of line: the first line of a record.
pub(super) fn is_version_line(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"WARC/") else {
        return false;
    };
    let major = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if major == 0 || major > 3 || rest.get(major) != Some(&b'.') {
        return false;
    }
    let rest = &rest[major + 1..];
    let minor = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if minor == 0 || minor > 3 {
        return false;
    }
    let rest = &rest[minor..];
    let spaces = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    matches!(&rest[spaces..], [b'\n', ..] | [b'\r', b'\n', ..])
}

/// Where a record starts inside a body that overran (a version line at the start of a line).
pub(super) fn find_record_start(body: &[u8]) -> Option<usize> {
    if is_version_line(body) {
        return Some(0);
    }
    find_all(body, b"\nWARC/")
        .map(|i| i + 1)
        .find(|&i| is_version_line(&body[i..]))
}

/// Offsets of `needle` in `hay`.
pub(super) fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    hay.windows(needle.len())
        .enumerate()
        .filter(move |(_, w)| *w == needle)
        .map(|(i, _)| i)
}

pub(super) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// An RFC 7230 token (a field name).
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

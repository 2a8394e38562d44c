//! WARC and WET reader: Common Crawl WARC 1.0/1.1 files (and the older 0.18 layout, which has the
//! same named-field header) and WET files, uncompressed or gzip, one member per record as Common Crawl ships
//! them or one member for the whole file.
//!
//! - `warc`: `response` records whose HTTP payload is HTML or plain text become documents. The HTTP header
//!   is parsed leniently; chunked transfer coding and gzip/deflate content coding are undone; the charset
//!   comes from a BOM, the HTTP `Content-Type`, a `<meta charset>` in the page, or `chardetng` detection (in
//!   that order, a declaration that does not decode being overruled by detection); HTML goes through
//!   [`crate::html`] for its main text and `<title>`.
//! - `wet`: `conversion` records are the text, as is.
//!
//! Other record types (`warcinfo`, `request`, `metadata`, `revisit`, `resource`, ...) and responses that are
//! not text (`not_http`, `http_not_ok` for redirects and errors, `not_text` for images, PDFs, ...) are
//! [`Record::Skip`]s counted by kind. Every record of the file, whatever becomes of it, takes the next
//! record index, so ids are stable.
//!
//! `url` is `WARC-Target-URI` (without the `<...>` wget writes), `title` the page's `<title>`. `meta` has
//! `warc_date`, `warc_record_id`, `warc_truncated` (when set), and for WARC `content_type`, `charset`,
//! `http_status` and `extractor` (`readability`, `body` or `plain`); for WET `content_type`,
//! `warc_refers_to`, `languages` (`WARC-Identified-Content-Language`) and, for a recovered record,
//! `recovered` (see below).
//!
//! Reject reasons: `corrupt_gzip`, `truncated_gzip`, `decompression_bomb`, `read_error` (the stream);
//! `not_a_record`, `malformed_header`, `bad_content_length`, `truncated_record` (the framing);
//! `malformed_http`, `unsupported_content_encoding`, `bad_content_encoding`, `undecodable_text`,
//! `invalid_utf8`, `too_deep`, `extraction_failed`, `empty_text`, `too_large` (the content).
//!
//! Bad data never stops a file (docs/ARCHITECTURE.md §9). Gzip is decoded member by member: a corrupt or truncated
//! member is one reject, and reading resumes at the next gzip member header (`1f 8b 08`). A record with a
//! broken header, a wrong `Content-Length` or a body cut short is one reject, and the parser resynchronises
//! at the next `WARC/x.y` version line, also when a too-long `Content-Length` swallowed the start of the next
//! record.
//!
//! A wrong `Content-Length` is a reject in WARC files only. A WARC payload is HTTP bytes (gzip, chunked,
//! binary), whose end cannot be told from its content, so a record whose length is wrong is not trusted.
//! A WET block is plain text, and hand-made and older cc_net WET files carry lengths that disagree with
//! where the next record begins; cc_net's own WET parser ignores the length and ends each record at the
//! next line starting with `WARC/1.0`. So in a WET file, a record whose length does not frame it (too short:
//! text follows the declared end; too long: the next record starts inside the declared body, or the file
//! ends first) is read up to the next line that starts a record, the blank lines that separate records
//! trimmed off. It becomes a document as usual, with `"recovered": "bad_content_length"` in `meta`
//! ([`crate::RECOVERED_META_KEY`], read with [`crate::recovered_from`]) so that it can be counted. What cannot be
//! delimited stays a reject: a last record cut short of its length by the end of the file without a
//! record end (a blank line) is `truncated_record`, a block with no record start within the record cap is
//! `too_large`, and a length over the record cap is read as declared. Memory is bounded: header lines, header blocks and bodies have caps (`max_doc_bytes` plus 1 MiB
//! for a body), a record over the cap is skipped without being held, and a gzip member that expands more
//! than 100:1 past 16 MiB is treated as a decompression bomb.
//!
//! Reject offsets are byte offsets in the decompressed stream (as for the other readers); for gzip problems
//! the detail also names the compressed offset of the member, where `tail -c +N | zcat` starts.
//!
//! Why hand-written rather than the `warc` crate (0.4): its reader reads header lines and bodies with
//! unbounded `read_until`, has no byte offsets, decodes gzip as one stream (libflate's `MultiDecoder`, so a
//! corrupt member ends the file), and after a parse error leaves the stream at an undefined position with
//! no way to resynchronise. Record framing (ISO 28500:2017 §4-§6: version line, named fields, CRLF, block
//! of `Content-Length` bytes, CRLF CRLF) is small; the recovery around it is what this module is for.
//!
//! The module is split by job: [`framing`] (records and their headers), [`http`] (payload decoding) and
//! [`gzip`] (the decompressed stream and its recovery).

mod framing;
mod gzip;
mod http;

use std::io::BufRead;

use corpus_store::Document;
use serde_json::{Map, Value};

use crate::{InputFile, Origin, RAW_KEEP, Record, SourceConfig, html, normalize_text, raw_text};
use framing::{
    HeaderError, LineEnd, RecordEnd, WarcHeader, find_all, find_record_start, is_token,
    is_version_line, put, record_kind, trim_eol,
};
use gzip::{Break, Decoded, GzSource, RawInput, Source, is_gzip_member};
use http::{
    HttpResponse, charset_param, dechunk, decode_content, decode_text, mime_type, sniff_html,
};

/// Body bytes allowed on top of `max_doc_bytes` for the WARC and HTTP headers around a document.
const RECORD_OVERHEAD_BYTES: u64 = 1 << 20;
/// Longest WARC header line.
const MAX_HEADER_LINE: usize = 64 << 10;
/// Largest WARC header block.
const MAX_HEADER_BYTES: usize = 1 << 20;
/// Raw bytes kept in a reject row.
/// Raw input buffer.
const RAW_BUFFER: usize = 1 << 20;
/// Bytes decompressed at a time.
const DECODE_CHUNK: usize = 64 << 10;
/// A gzip member is a bomb when it has produced more than this...
const BOMB_FLOOR: u64 = 16 << 20;
/// ...and more than this many bytes per compressed byte.
const BOMB_RATIO: u64 = 100;
/// Bytes of a page fed to charset detection.
const DETECT_BYTES: usize = 256 << 10;
/// Bytes of a page searched for `<meta charset>` (the HTML standard's prescan looks at 1024; real pages put
/// it later).
const META_SCAN_BYTES: usize = 8 << 10;

/// Streams one WARC or WET file as records.
pub struct WarcReader {
    data: Decoded,
    wet: bool,
    origin: Origin,
    max_doc_bytes: u64,
    max_record_bytes: u64,
    index: u64,
    body: Vec<u8>,
    /// Offset and length of junk found after a complete record, reported as the next record.
    junk: Option<(u64, u64)>,
    done: bool,
}

impl WarcReader {
    /// A reader over the file's raw bytes (not decompressed: gzip is undone here, member by member, and
    /// recognised by a `.gz` name or the gzip magic). `wet` reads WET `conversion` records instead of WARC
    /// `response` records.
    pub fn new(
        reader: Box<dyn BufRead + Send>,
        source: &SourceConfig,
        input: &InputFile,
        wet: bool,
    ) -> Self {
        let mut raw = RawInput::new(reader);
        let gzip = input.location.url().ends_with(".gz") || is_gzip_member(raw.fill_at_least(4));
        let source_bytes = if gzip {
            Source::Gzip(GzSource::new(raw))
        } else {
            Source::Plain(raw)
        };
        WarcReader {
            data: Decoded::new(source_bytes),
            wet,
            origin: Origin::new(
                source,
                input,
                if wet { "ingest.wet" } else { "ingest.warc" },
            ),
            max_doc_bytes: source.max_doc_bytes,
            max_record_bytes: source.max_doc_bytes.saturating_add(RECORD_OVERHEAD_BYTES),
            index: 0,
            body: Vec::new(),
            junk: None,
            done: false,
        }
    }

    fn take_index(&mut self) -> u64 {
        let index = self.index;
        self.index += 1;
        index
    }

    fn reject(&mut self, offset: u64, reason: &str, detail: String, raw: Option<&[u8]>) -> Record {
        let index = self.take_index();
        self.origin
            .reject(index, offset, reason, detail, raw.map(raw_text))
    }

    fn break_reject(&mut self, offset: u64, what: &str, b: Break) -> Record {
        if b.fatal {
            self.done = true;
        }
        let detail = format!("{what}: {}", b.detail);
        self.reject(offset, b.reason, detail, None)
    }

    /// Consumes the blank lines between records.
    fn skip_blank_lines(&mut self) {
        loop {
            let buf = self.data.fill(1);
            let n = buf
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if n == 0 {
                return;
            }
            self.data.consume(n);
        }
    }

    /// Skips to the next line that starts with a WARC version line (or to the end of the readable data);
    /// returns the bytes skipped.
    fn skip_to_record(&mut self) -> u64 {
        self.scan_to_record(&mut |_| {})
    }

    /// Consumes the bytes up to the next line that starts with a WARC version line (or to the end of the
    /// readable data), handing them to `sink` in order; returns how many there were.
    fn scan_to_record(&mut self, sink: &mut dyn FnMut(&[u8])) -> u64 {
        const MARK: &[u8] = b"\nWARC/";
        if is_version_line(self.data.fill(16)) {
            return 0;
        }
        let mut skipped = 0u64;
        loop {
            let buf = self.data.fill(MARK.len() + 16);
            if buf.len() < MARK.len() + 16 {
                // The end of the data (or a gzip break) is near: search what is left, then stop there.
                let found = find_all(buf, MARK).find(|&i| is_version_line(&buf[i + 1..]));
                let n = found.map_or(buf.len(), |i| i + 1);
                sink(&buf[..n]);
                self.data.consume(n);
                return skipped + n as u64;
            }
            let limit = buf.len() - (MARK.len() + 16);
            let found = find_all(buf, MARK).find(|&i| i <= limit && is_version_line(&buf[i + 1..]));
            match found {
                Some(i) => {
                    sink(&buf[..i + 1]);
                    self.data.consume(i + 1);
                    return skipped + i as u64 + 1;
                }
                None => {
                    // Keep the tail: a marker may straddle the end of the buffer.
                    let n = limit + 1;
                    sink(&buf[..n]);
                    self.data.consume(n);
                    skipped += n as u64;
                }
            }
        }
    }

    /// The length of the next line (with its `\n`), or why there is none.
    fn peek_line(&mut self) -> Result<usize, LineEnd> {
        let buf = self.data.fill(MAX_HEADER_LINE + 1);
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => Ok(i + 1),
            None if buf.len() > MAX_HEADER_LINE => Err(LineEnd::TooLong),
            None => Err(LineEnd::Cut),
        }
    }

    /// Reads a WARC header block after its version line has been checked.
    fn read_header(&mut self) -> Result<WarcHeader, HeaderError> {
        let mut raw = Vec::new();
        let line = self.peek_line().map_err(|_| HeaderError::Cut(Vec::new()))?;
        raw.extend_from_slice(self.data.peek(line));
        self.data.consume(line);
        let mut fields: Vec<(String, String)> = Vec::new();
        loop {
            let len = match self.peek_line() {
                Ok(len) => len,
                Err(LineEnd::Cut) => return Err(HeaderError::Cut(raw)),
                Err(LineEnd::TooLong) => {
                    return Err(HeaderError::Malformed(
                        format!("header line longer than {MAX_HEADER_LINE} bytes"),
                        raw,
                    ));
                }
            };
            let line = self.data.peek(len);
            let text = trim_eol(line);
            if text.is_empty() {
                raw.extend_from_slice(line);
                self.data.consume(len);
                return Ok(WarcHeader { fields, raw });
            }
            if is_version_line(line) {
                // The header was cut and the next record begins here: leave it for the next call.
                return Err(HeaderError::NextRecord(raw));
            }
            raw.extend_from_slice(line);
            if raw.len() > MAX_HEADER_BYTES {
                return Err(HeaderError::Malformed(
                    format!("header block longer than {MAX_HEADER_BYTES} bytes"),
                    raw,
                ));
            }
            let text = String::from_utf8_lossy(text).into_owned();
            self.data.consume(len);
            if text.starts_with([' ', '\t']) {
                // A folded continuation line (WARC 1.0 §4, as in RFC 2616).
                match fields.last_mut() {
                    Some((_, value)) => {
                        value.push(' ');
                        value.push_str(text.trim());
                    }
                    None => {
                        return Err(HeaderError::Malformed(
                            "continuation line before any field".into(),
                            raw,
                        ));
                    }
                }
                continue;
            }
            match text.split_once(':') {
                Some((name, value)) if is_token(name.trim_end()) => {
                    fields.push((name.trim_end().to_string(), value.trim().to_string()));
                }
                _ => {
                    let shown: String = text.chars().take(60).collect();
                    return Err(HeaderError::Malformed(
                        format!("header line is not 'Name: value': {shown:?}"),
                        raw,
                    ));
                }
            }
        }
    }

    /// Reads up to `len` body bytes, keeping them in `self.body` when `keep`; returns the bytes read.
    fn read_body(&mut self, len: u64, keep: bool) -> u64 {
        self.body.clear();
        let mut left = len;
        while left > 0 {
            let buf = self.data.fill(1);
            if buf.is_empty() {
                break;
            }
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if keep {
                self.body.extend_from_slice(&buf[..n]);
            }
            self.data.consume(n);
            left -= n as u64;
        }
        len - left
    }

    /// Consumes the CRLF CRLF after a body and says what follows.
    fn end_of_record(&mut self, trailer: &mut Vec<u8>) -> RecordEnd {
        loop {
            let buf = self.data.fill(1);
            let n = buf
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if n == 0 {
                break;
            }
            if trailer.len() < RAW_KEEP {
                trailer.extend_from_slice(&buf[..n]);
            }
            self.data.consume(n);
        }
        // Looking ahead also finishes the record's gzip member, so a bad checksum is seen with its record.
        let next = self.data.fill(16);
        if next.is_empty() || is_version_line(next) {
            RecordEnd::Next
        } else if trailer.starts_with(b"\r\n\r\n") || trailer.starts_with(b"\n\n") {
            RecordEnd::Junk
        } else {
            RecordEnd::Missing
        }
    }

    /// Reads the next record of the file.
    fn next_record(&mut self) -> Option<Record> {
        if let Some((offset, skipped)) = self.junk.take() {
            let detail =
                format!("{skipped} bytes after a complete record that are not a WARC record");
            return Some(self.reject(offset, "not_a_record", detail, None));
        }
        if self.done {
            return None;
        }
        self.skip_blank_lines();
        let start = self.data.offset;
        let head = self.data.fill(16);
        if head.is_empty() {
            return match self.data.take_break() {
                Some(b) => Some(self.break_reject(start, "no record could be read", b)),
                None => {
                    self.done = true;
                    None
                }
            };
        }
        if !is_version_line(head) {
            let detail = "bytes that are not a WARC record".to_string();
            return Some(self.resync(start, "not_a_record", detail, None));
        }
        let header = match self.read_header() {
            Ok(h) => h,
            Err(HeaderError::Cut(raw)) => return Some(self.cut_record(start, "header", &raw)),
            Err(HeaderError::NextRecord(raw)) => {
                let detail = "header cut short by the next record".to_string();
                return Some(self.reject(start, "malformed_header", detail, Some(&raw)));
            }
            Err(HeaderError::Malformed(why, raw)) => {
                return Some(self.resync(start, "malformed_header", why, Some(&raw)));
            }
        };
        let Some(length) = header
            .get("Content-Length")
            .and_then(|v| v.parse::<u64>().ok())
        else {
            let detail = "missing or invalid Content-Length".to_string();
            return Some(self.resync(start, "malformed_header", detail, Some(&header.raw)));
        };
        let keep = length <= self.max_record_bytes;
        let read = self.read_body(length, keep);
        // WET blocks are plain text, so one that its length does not frame can be delimited by the next
        // record header instead; WARC payloads cannot (see `recover_wet_block`).
        let mut recovered = false;
        let mut trailer = Vec::new();
        let end = (read == length).then(|| self.end_of_record(&mut trailer));
        match end {
            Some(RecordEnd::Next) => {}
            _ if self.wet && keep => {
                if let Some(reject) = self.recover_wet_block(start, &header, length, &trailer) {
                    return Some(reject);
                }
                recovered = true;
            }
            None => return Some(self.cut_body(start, &header, length, read)),
            Some(RecordEnd::Missing) => {
                return Some(self.bad_length(start, &header, length, keep, &trailer));
            }
            Some(RecordEnd::Junk) => {
                // Skip the junk now: when it ends at a gzip member that broke under this record, the
                // record's bytes are suspect too; otherwise the junk is the next call's reject.
                let junk_start = self.data.offset;
                let skipped = self.skip_to_record();
                match self.data.take_break_before(self.data.offset) {
                    Some(b) => return Some(self.break_reject(start, "record damaged", b)),
                    None => self.junk = Some((junk_start, skipped)),
                }
            }
        }
        if let Some(b) = self.data.take_break_before(self.data.offset) {
            return Some(self.break_reject(start, "record damaged", b));
        }
        let kind = match header.get("WARC-Type") {
            Some(t) => record_kind(t),
            None => {
                let detail = "no WARC-Type field".to_string();
                return Some(self.reject(start, "malformed_header", detail, Some(&header.raw)));
            }
        };
        let wanted = if self.wet {
            kind == "conversion"
        } else {
            kind == "response"
        };
        if !wanted {
            self.take_index();
            return Some(Record::Skip(kind));
        }
        if !keep {
            let detail = format!(
                "{}: record body of {length} bytes is over the {}-byte limit",
                header.url().unwrap_or_default(),
                self.max_record_bytes
            );
            return Some(self.reject(start, "too_large", detail, Some(&header.raw)));
        }
        let body = std::mem::take(&mut self.body);
        let record = if self.wet {
            self.wet_document(start, &header, &body, recovered)
        } else {
            self.response_document(start, &header, &body)
        };
        self.body = body;
        Some(record)
    }

    /// The reject for a record whose bytes ended early: a gzip break, or the end of the file.
    fn cut_record(&mut self, start: u64, part: &str, raw: &[u8]) -> Record {
        // The partial line before the cut belongs to this record.
        let rest = self.data.fill(0).len();
        self.data.consume(rest);
        match self.data.take_break() {
            Some(b) => self.break_reject(start, &format!("record {part} cut"), b),
            None => {
                let detail = format!("file ends inside the record {part}");
                self.reject(start, "truncated_record", detail, Some(raw))
            }
        }
    }

    /// A body shorter than its `Content-Length`: cut by a gzip break or the end of the file, or the length
    /// was too long and the body ran into the records after it.
    fn cut_body(&mut self, start: u64, header: &WarcHeader, length: u64, read: u64) -> Record {
        if self.data.pending().is_some() {
            return self.cut_record(start, "body", &header.raw);
        }
        if let Some(p) = find_record_start(&self.body) {
            let detail = format!(
                "Content-Length {length} runs past the next record at body byte {p}; the file ends after {read}"
            );
            let tail = self.body.split_off(p);
            self.data.unread(&tail);
            return self.reject(start, "bad_content_length", detail, Some(&header.raw));
        }
        let detail = format!("file ends after {read} of {length} body bytes");
        self.reject(start, "truncated_record", detail, Some(&header.raw))
    }

    /// A body not followed by the end of the record: the `Content-Length` is wrong.
    fn bad_length(
        &mut self,
        start: u64,
        header: &WarcHeader,
        length: u64,
        kept: bool,
        trailer: &[u8],
    ) -> Record {
        if kept && let Some(p) = find_record_start(&self.body) {
            let tail = self.body.split_off(p);
            self.data.unread(trailer);
            self.data.unread(&tail);
            let detail =
                format!("Content-Length {length} runs past the next record at body byte {p}");
            return self.reject(start, "bad_content_length", detail, Some(&header.raw));
        }
        let detail = format!("no record end after {length} body bytes");
        self.resync(start, "bad_content_length", detail, Some(&header.raw))
    }

    /// The reject for a record that lost its framing, after skipping to the next record. When the skip
    /// ends at a gzip member that broke under these bytes, the broken member is the cause and the reason.
    fn resync(&mut self, start: u64, reason: &str, detail: String, raw: Option<&[u8]>) -> Record {
        let skipped = self.skip_to_record();
        if let Some(b) = self.data.take_break_before(self.data.offset) {
            return self.break_reject(start, &format!("{detail}, in a broken gzip member"), b);
        }
        let detail = format!("{detail} (skipped {skipped} bytes to the next record)");
        self.reject(start, reason, detail, raw)
    }

    /// WET only: the block of a record whose `Content-Length` does not frame it (the body runs short of the
    /// file, or is not followed by the record end and the next record), delimited as cc_net's WET parser
    /// delimits every record: by the next line that starts a record (`WARC/1.0`, `WARC/1.1`). The bytes
    /// read and the trailer are put back, read again up to that line into `self.body`, and the blank lines
    /// that separate records are trimmed off the end. Without a next record, the text runs to the end of
    /// the data, unless the end cut the declared length short and the bytes do not end with a record end
    /// (a blank line): that is a truncated file, rejected `truncated_record`. A block with no record
    /// start within the record cap is `too_large`, and one that a broken gzip member ends is that
    /// member's reject. Returns that reject, or `None` when `self.body` holds the recovered block.
    fn recover_wet_block(
        &mut self,
        start: u64,
        header: &WarcHeader,
        length: u64,
        trailer: &[u8],
    ) -> Option<Record> {
        let read = self.body.len() as u64;
        let mut block = std::mem::take(&mut self.body);
        self.data.unread(trailer);
        self.data.unread(&block);
        block.clear();
        let limit = self.max_record_bytes;
        let total = self.scan_to_record(&mut |bytes| {
            if block.len() as u64 <= limit {
                block.extend_from_slice(bytes);
            }
        });
        let at_record = is_version_line(self.data.fill(16));
        if !at_record && let Some(b) = self.data.take_break_before(self.data.offset) {
            return Some(self.break_reject(start, "record damaged", b));
        }
        let url = header.url().unwrap_or_default();
        if total > limit {
            let detail = format!(
                "{url}: Content-Length {length} is wrong and the block runs over the {limit}-byte limit"
            );
            return Some(self.reject(start, "too_large", detail, Some(&header.raw)));
        }
        let ends_as_record = block.ends_with(b"\r\n\r\n") || block.ends_with(b"\n\n");
        if !at_record && read < length && !ends_as_record {
            let detail = format!("{url}: file ends after {read} of {length} body bytes");
            return Some(self.reject(start, "truncated_record", detail, Some(&header.raw)));
        }
        let text_end = block
            .iter()
            .rposition(|&b| b != b'\r' && b != b'\n')
            .map_or(0, |i| i + 1);
        block.truncate(text_end);
        self.body = block;
        None
    }

    /// A WET `conversion` record: the block is the text. A block recovered by [`Self::recover_wet_block`]
    /// is marked in `meta` ([`crate::RECOVERED_META_KEY`]).
    fn wet_document(
        &mut self,
        start: u64,
        header: &WarcHeader,
        block: &[u8],
        recovered: bool,
    ) -> Record {
        let url = header.url();
        let Ok(text) = std::str::from_utf8(block) else {
            let detail = format!("{}: conversion block is not UTF-8", url.unwrap_or_default());
            return self.reject(start, "invalid_utf8", detail, Some(&header.raw));
        };
        let mut meta = header.meta();
        put(&mut meta, "content_type", header.get("Content-Type"));
        put(&mut meta, "warc_refers_to", header.get("WARC-Refers-To"));
        put(
            &mut meta,
            "languages",
            header.get("WARC-Identified-Content-Language"),
        );
        if recovered {
            put(
                &mut meta,
                crate::RECOVERED_META_KEY,
                Some("bad_content_length"),
            );
        }
        self.document(start, header, url, None, text, meta)
    }

    /// A WARC `response` record: HTTP header, payload decoding, charset, HTML extraction.
    fn response_document(&mut self, start: u64, header: &WarcHeader, block: &[u8]) -> Record {
        let url = header.url();
        let at = url.clone().unwrap_or_default();
        let is_http = header
            .get("Content-Type")
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/http"))
            || block.starts_with(b"HTTP/");
        if !is_http {
            self.take_index();
            return Record::Skip("not_http");
        }
        let Some(http) = HttpResponse::parse(block) else {
            let detail = format!("{at}: no HTTP status line and header");
            return self.reject(
                start,
                "malformed_http",
                detail,
                Some(&block[..block.len().min(RAW_KEEP)]),
            );
        };
        if http.status.is_some_and(|s| !(200..300).contains(&s)) {
            self.take_index();
            return Record::Skip("http_not_ok");
        }
        let mut payload = std::borrow::Cow::Borrowed(http.payload);
        if http
            .get("Transfer-Encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
            && let Some(joined) = dechunk(&payload)
        {
            payload = std::borrow::Cow::Owned(joined);
        }
        if let Some(coding) = http.get("Content-Encoding") {
            match decode_content(coding, &payload, self.max_record_bytes) {
                Ok(Some(decoded)) => payload = std::borrow::Cow::Owned(decoded),
                Ok(None) => {}
                Err((reason, why)) => {
                    let detail = format!("{at}: {why}");
                    return self.reject(start, reason, detail, Some(&header.raw));
                }
            }
        }
        let declared = http.get("Content-Type");
        let mime = header
            .get("WARC-Identified-Payload-Type")
            .or(declared)
            .map(mime_type)
            .filter(|m| !m.is_empty())
            .or_else(|| sniff_html(&payload).then(|| "text/html".to_string()));
        let is_html = match mime.as_deref() {
            Some("text/html" | "application/xhtml+xml") => true,
            Some("text/plain") => false,
            _ => {
                self.take_index();
                return Record::Skip("not_text");
            }
        };
        let charset = declared.and_then(charset_param);
        let decoded = decode_text(&payload, charset.as_deref(), is_html, url.as_deref());
        if decoded.replaced > 8 && decoded.replaced * 50 > decoded.text.chars().count() {
            let detail = format!(
                "{at}: {} characters undecodable as {}",
                decoded.replaced,
                decoded.encoding.name()
            );
            return self.reject(start, "undecodable_text", detail, Some(&header.raw));
        }
        let mut meta = header.meta();
        put(&mut meta, "content_type", mime.as_deref());
        put(&mut meta, "charset", Some(decoded.encoding.name()));
        if let Some(status) = http.status {
            meta.insert("http_status".into(), Value::from(status));
        }
        if !is_html {
            put(&mut meta, "extractor", Some("plain"));
            return self.document(start, header, url, None, &decoded.text, meta);
        }
        match html::extract(&decoded.text) {
            Ok(page) => {
                put(&mut meta, "extractor", Some(page.method));
                self.document(start, header, url, page.title, &page.text, meta)
            }
            Err((reason, why)) => {
                let detail = format!("{at}: {why}");
                self.reject(start, reason, detail, Some(&header.raw))
            }
        }
    }

    /// The document for a record's text, or the reject when there is no text or too much.
    fn document(
        &mut self,
        start: u64,
        header: &WarcHeader,
        url: Option<String>,
        title: Option<String>,
        text: &str,
        meta: Map<String, Value>,
    ) -> Record {
        let at = url.clone().unwrap_or_default();
        if text.len() as u64 > self.max_doc_bytes {
            let detail = format!(
                "{at}: text of {} bytes is over max_doc_bytes = {}",
                text.len(),
                self.max_doc_bytes
            );
            return self.reject(start, "too_large", detail, Some(&header.raw));
        }
        let text = normalize_text(text);
        if text.trim().is_empty() {
            let detail = format!("{at}: no text left after extraction");
            return self.reject(start, "empty_text", detail, Some(&header.raw));
        }
        let index = self.take_index();
        Record::Doc(Document {
            id: self.origin.id(index),
            source: self.origin.source.clone(),
            url,
            title: title.map(|t| normalize_text(&t)),
            text,
            meta: Some(Value::Object(meta).to_string()),
        })
    }
}

impl Iterator for WarcReader {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        self.next_record()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::{Read, Write};

    use corpus_store::{Reject, Storage};
    use flate2::bufread::MultiGzDecoder;

    use super::http::{meta_charset, tld};
    use super::*;

    fn cfg(max_doc_bytes: u64) -> SourceConfig {
        SourceConfig {
            max_doc_bytes,
            ..SourceConfig::with_defaults("cc", "warc")
        }
    }

    fn input(name: &str) -> InputFile {
        let storage = Storage::new().unwrap();
        InputFile {
            source_index: 0,
            location: storage.resolve(&format!("/data/{name}")).unwrap(),
            size: 0,
            stem: "x".into(),
            title: None,
        }
    }

    fn read_with(data: Vec<u8>, name: &str, wet: bool, max_doc_bytes: u64) -> Vec<Record> {
        let reader = Box::new(std::io::Cursor::new(data));
        WarcReader::new(reader, &cfg(max_doc_bytes), &input(name), wet).collect()
    }

    fn read(data: Vec<u8>, name: &str) -> Vec<Record> {
        read_with(data, name, name.contains(".wet"), 32 << 20)
    }

    fn sample(name: &str) -> Vec<u8> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/warc");
        std::fs::read(dir.join(name)).unwrap()
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        MultiGzDecoder::new(data).read_to_end(&mut out).unwrap();
        out
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// One line per record: `doc ID`, `skip KIND` or `reject ID REASON`.
    fn summary(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| match r {
                Record::Doc(d) => format!("doc {}", d.id),
                Record::Skip(kind) => format!("skip {kind}"),
                Record::Reject(j) => format!("reject {} {}", j.id, j.reason),
            })
            .collect()
    }

    fn counts(records: &[Record]) -> (usize, BTreeMap<&'static str, usize>, Vec<String>) {
        let mut skips = BTreeMap::new();
        let mut docs = 0;
        let mut rejects = Vec::new();
        for r in records {
            match r {
                Record::Doc(_) => docs += 1,
                Record::Skip(kind) => *skips.entry(*kind).or_insert(0) += 1,
                Record::Reject(j) => rejects.push(j.reason.clone()),
            }
        }
        (docs, skips, rejects)
    }

    fn docs(records: &[Record]) -> Vec<&Document> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Doc(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    fn rejects(records: &[Record]) -> Vec<&Reject> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Reject(j) => Some(j),
                _ => None,
            })
            .collect()
    }

    fn doc_with_url<'a>(records: &'a [Record], url: &str) -> &'a Document {
        let found = docs(records)
            .into_iter()
            .find(|d| d.url.as_deref() == Some(url));
        found.unwrap_or_else(|| panic!("no document for {url}"))
    }

    fn meta(doc: &Document) -> Value {
        serde_json::from_str(doc.meta.as_deref().unwrap_or("{}")).unwrap()
    }

    /// A WARC 1.0 record around `block`.
    fn record(kind: &str, extra: &str, block: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: http://example.test/{kind}\r\n\
             WARC-Date: 2024-05-18T01:58:10Z\r\nWARC-Record-ID: <urn:uuid:1>\r\n{extra}\
             Content-Length: {}\r\n\r\n",
            block.len()
        )
        .into_bytes();
        r.extend_from_slice(block);
        r.extend_from_slice(b"\r\n\r\n");
        r
    }

    /// A `response` record for an HTTP response with `headers` and `payload`.
    fn response(status: &str, headers: &str, payload: &[u8]) -> Vec<u8> {
        let mut block = format!("HTTP/1.1 {status}\r\n{headers}\r\n").into_bytes();
        block.extend_from_slice(payload);
        record(
            "response",
            "Content-Type: application/http; msgtype=response\r\n",
            &block,
        )
    }

    /// Byte offsets of the gzip members of a Common Crawl style file.
    fn members(data: &[u8]) -> Vec<usize> {
        (0..data.len().saturating_sub(3))
            .filter(|&i| is_gzip_member(&data[i..]))
            .collect()
    }

    #[test]
    fn bundled_files_give_the_expected_records() {
        type Expected<'a> = (&'a str, usize, &'a [(&'a str, usize)]);
        let cases: [Expected; 5] = [
            (
                "whirlwind.warc.gz",
                1,
                &[("metadata", 1), ("request", 1), ("warcinfo", 1)],
            ),
            ("whirlwind.warc.wet.gz", 1, &[("warcinfo", 1)]),
            (
                "resiliparse-CC-MAIN-2020-34-excerpt.warc.gz",
                16,
                &[("metadata", 16), ("request", 17), ("warcinfo", 1)],
            ),
            (
                "dolma-wget-sample-0000.warc.gz",
                22,
                &[
                    ("metadata", 1),
                    ("request", 22),
                    ("resource", 2),
                    ("warcinfo", 1),
                ],
            ),
            (
                "warcio-example.warc.gz",
                1,
                &[("request", 2), ("revisit", 1), ("warcinfo", 2)],
            ),
        ];
        for (file, want_docs, want_skips) in cases {
            let records = read(sample(file), file);
            let (n, skips, rejected) = counts(&records);
            assert_eq!(n, want_docs, "{file}");
            assert_eq!(skips, want_skips.iter().copied().collect(), "{file}");
            assert_eq!(rejected, Vec::<String>::new(), "{file}");
            // Ids count every record of the file, so the same file always gives the same ids.
            for (i, r) in records.iter().enumerate() {
                if let Record::Doc(d) = r {
                    assert_eq!(d.id, format!("cc/x/{i}"), "{file}");
                }
            }
            for d in docs(&records) {
                assert!(
                    d.url.as_deref().is_some_and(|u| u.starts_with("http")),
                    "{file}"
                );
                assert!(!d.text.contains('\r'), "{file} {:?}", d.url);
                assert_eq!(d.text, normalize_text(&d.text), "{file} {:?}", d.url);
                for markup in ["<script", "</", "<div", "<p>", "<br", "<!--", "<a href"] {
                    assert!(!d.text.contains(markup), "{file} {:?} has {markup}", d.url);
                }
                let m = meta(d);
                assert!(
                    m["warc_date"].is_string() && m["warc_record_id"].is_string(),
                    "{m}"
                );
            }
        }
    }

    #[test]
    fn pages_read_as_a_person_sees_them() {
        let records = read(sample("whirlwind.warc.gz"), "whirlwind.warc.gz");
        let page = doc_with_url(&records, "https://an.wikipedia.org/wiki/Escopete");
        assert_eq!(
            page.title.as_deref(),
            Some("Escopete - Biquipedia, a enciclopedia libre")
        );
        assert!(
            page.text.starts_with(
                "Escopete ye un municipio d'a provincia de Guadalachara, en a comunidat autonoma de \
                 Castiella-La Mancha, Espanya"
            ),
            "{}",
            page.text
        );
        assert!(
            page.text
                .contains("\n\nHistoria[editar | modificar o codigo]\n\n")
        );
        // The page's inline scripts (MediaWiki's RLQ loader) are in the HTML but not in the text, and
        // neither is the sidebar menu.
        assert!(
            gunzip(&sample("whirlwind.warc.gz"))
                .windows(3)
                .any(|w| w == b"RLQ")
        );
        assert!(!page.text.contains("RLQ") && !page.text.contains("mw.config"));
        assert!(!page.text.contains("Menú principal"));
        let m = meta(page);
        assert_eq!(m["charset"], "UTF-8");
        assert_eq!(m["content_type"], "text/html");
        assert_eq!(m["http_status"], 200);
        assert_eq!(m["warc_date"], "2024-05-18T01:58:10Z");
        assert_eq!(
            m["warc_record_id"],
            "<urn:uuid:2aabeff2-67f5-4608-8466-e87c6296e2b6>"
        );

        let records = read(sample("whirlwind.warc.wet.gz"), "whirlwind.warc.wet.gz");
        let page = doc_with_url(&records, "https://an.wikipedia.org/wiki/Escopete");
        assert!(page.text.starts_with(
            "Escopete - Biquipedia, a enciclopedia libre\nIr al contenido\nMenú principal\n"
        ));
        assert!(
            page.text
                .contains("Escopete ye un municipio d'a provincia de Guadalachara")
        );
        assert_eq!(page.title, None);
        let m = meta(page);
        assert_eq!(m["languages"], "spa");
        assert_eq!(m["warc_date"], "2024-05-18T01:58:10Z");
        assert_eq!(
            m["warc_refers_to"],
            "<urn:uuid:2aabeff2-67f5-4608-8466-e87c6296e2b6>"
        );

        // Served with Content-Encoding: gzip.
        let records = read(sample("warcio-example.warc.gz"), "warcio-example.warc.gz");
        let page = doc_with_url(&records, "http://example.com/");
        assert_eq!(page.title.as_deref(), Some("Example Domain"));
        assert!(page.text.starts_with(
            "This domain is established to be used for illustrative examples in documents."
        ));

        // wget writes `<...>` around WARC-Target-URI and keeps chunked transfer coding.
        let file = "dolma-wget-sample-0000.warc.gz";
        let records = read(sample(file), file);
        let weld = doc_with_url(
            &records,
            "https://www.cs.washington.edu/people/faculty/weld",
        );
        assert!(weld.text.contains(
            "Daniel S. Weld is Professor Emeritus at the Paul G. Allen School of Computer Science"
        ));
        assert!(!weld.text.contains("\r\n6a43"));
        let facts = doc_with_url(&records, "https://soldaini.net/facts/");
        assert_eq!(facts.title.as_deref(), Some("Facts"));
        assert!(
            facts
                .text
                .starts_with("In no particular order, here are some facts about me:\n\n")
        );
        // A home page with no single article keeps its visible text, without its analytics script.
        let bragg = doc_with_url(&records, "https://www.jonathanbragg.com/");
        assert_eq!(meta(bragg)["extractor"], "body");
        assert!(
            bragg
                .text
                .starts_with("Jonathan Bragg\n\nSenior Research Scientist\n")
        );
        assert!(
            bragg
                .text
                .contains("I am a Senior Research Scientist at the Allen Institute for AI (AI2).")
        );
        assert!(!bragg.text.contains("gtag(") && !bragg.text.contains("dataLayer"));

        // Common Crawl pages in windows-1251 and GBK.
        let file = "resiliparse-CC-MAIN-2020-34-excerpt.warc.gz";
        let records = read(sample(file), file);
        let ru = doc_with_url(&records, "http://01spb.ru/company/");
        assert_eq!(
            ru.title.as_deref(),
            Some("О компании - Стратегия пожарной безопасности")
        );
        assert!(ru.text.starts_with(
            "Стратегия пожарной безопасности\n\nООО «СПБ» - узкоспециализированное предприятие"
        ));
        assert_eq!(meta(ru)["charset"], "windows-1251");
        let zh = doc_with_url(&records, "http://0760.jxtdw.com/area/sanxiang/");
        assert_eq!(
            zh.title.as_deref(),
            Some("三乡招聘|三乡人才市场|中山英才网(0760.jxtdw.com)")
        );
        assert_eq!(meta(zh)["charset"], "GBK");
        let nl = doc_with_url(&records, "http://0900-hovenier.nl/gelderland/oosterbeek/");
        assert!(
            nl.text
                .starts_with("Bent u verhuisd en is uw nieuwe tuin slecht onderhouden?")
        );
    }

    #[test]
    fn single_member_uncompressed_and_unnamed_gzip_read_the_same() {
        for file in [
            "whirlwind.warc.gz",
            "resiliparse-CC-MAIN-2020-34-excerpt.warc.gz",
        ] {
            let members = sample(file);
            let plain = gunzip(&members);
            let expected: Vec<Document> = docs(&read(members.clone(), file))
                .into_iter()
                .cloned()
                .collect();
            let expected_summary = summary(&read(members.clone(), file));
            for (data, name) in [
                (gzip(&plain), "one-member.warc.gz"),
                (plain.clone(), "plain.warc"),
                (members.clone(), "gzip-without-extension.warc"),
            ] {
                let records = read(data, name);
                assert_eq!(summary(&records), expected_summary, "{file} as {name}");
                let got: Vec<Document> = docs(&records).into_iter().cloned().collect();
                assert_eq!(got, expected, "{file} as {name}");
            }
        }
    }

    #[test]
    fn a_corrupt_gzip_member_is_one_reject_and_reading_resumes_at_the_next() {
        let file = "resiliparse-CC-MAIN-2020-34-excerpt.warc.gz";
        let data = sample(file);
        let clean = summary(&read(data.clone(), file));
        let starts = members(&data);
        assert_eq!(starts.len(), 50);
        for k in (0..50).step_by(3) {
            let end = starts.get(k + 1).copied().unwrap_or(data.len());
            for at in [starts[k] + 3, (starts[k] + end) / 2] {
                let mut broken = data.clone();
                broken[at] ^= 0x55;
                let records = read(broken, file);
                let got = summary(&records);
                // Record k becomes one reject with the same id; every other record is as before.
                let mut expected = clean.clone();
                expected[k] = format!("reject cc/x/{k} corrupt_gzip");
                assert_eq!(got, expected, "byte {at} of member {k}");
                let reject = rejects(&records)[0];
                assert!(
                    reject.detail.contains(&format!("at byte {}", starts[k])),
                    "{}",
                    reject.detail
                );
            }
        }
    }

    #[test]
    fn a_truncated_file_ends_with_one_reject() {
        let file = "resiliparse-CC-MAIN-2020-34-excerpt.warc.gz";
        let data = sample(file);
        let clean = summary(&read(data.clone(), file));
        let starts = members(&data);
        for k in [1, 2, 25, 49] {
            let cut = starts[k] + 100;
            let records = read(data[..cut].to_vec(), file);
            let mut expected = clean[..k].to_vec();
            expected.push(format!("reject cc/x/{k} truncated_gzip"));
            assert_eq!(summary(&records), expected, "cut at {cut}");
        }
        // The same cut in an uncompressed file: the record is cut short.
        let plain = gunzip(&data);
        let records = read(plain[..plain.len() - 50].to_vec(), "x.warc");
        let mut expected = clean[..49].to_vec();
        expected.push("reject cc/x/49 truncated_record".to_string());
        assert_eq!(summary(&records), expected);
        assert!(read(Vec::new(), "x.warc.gz").is_empty());
        assert!(read(Vec::new(), "x.warc").is_empty());
    }

    #[test]
    fn broken_records_are_rejected_and_the_parser_resynchronises() {
        let plain = gunzip(&sample("whirlwind.warc.gz"));
        let clean = summary(&read(plain.clone(), "x.warc"));
        assert_eq!(
            clean,
            [
                "skip warcinfo",
                "skip request",
                "doc cc/x/2",
                "skip metadata"
            ]
        );
        let text = String::from_utf8_lossy(&plain).into_owned();
        let response = text.find("WARC-Type: response").unwrap();
        let length_at = response + text[response..].find("Content-Length: ").unwrap() + 16;
        let length_end = length_at + text[length_at..].find('\r').unwrap();
        let length: usize = text[length_at..length_end].parse().unwrap();
        let body_at = length_end + 4;
        let with_length = |value: &str| {
            let mut d = plain[..length_at].to_vec();
            d.extend_from_slice(value.as_bytes());
            d.extend_from_slice(&plain[length_end..]);
            d
        };
        let mut cut = plain.clone();
        cut.drain(body_at + 5000..body_at + 5300);
        let mut junk = plain[..body_at - 4].to_vec();
        junk.extend_from_slice(b"\r\nthis is not a header line");
        junk.extend_from_slice(&plain[body_at - 4..]);
        let metadata = text.find("WARC/1.0\r\nWARC-Type: metadata").unwrap();
        let mut between = plain[..metadata].to_vec();
        between.extend_from_slice(b"garbage between records\r\n\r\n");
        between.extend_from_slice(&plain[metadata..]);
        let mut no_version = plain.clone();
        no_version[metadata..metadata + 4].copy_from_slice(b"WORC");

        let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
            (
                "cut body",
                cut,
                vec!["reject cc/x/2 bad_content_length", "skip metadata"],
            ),
            (
                "length too long",
                with_length(&(length + 40).to_string()),
                vec!["reject cc/x/2 bad_content_length", "skip metadata"],
            ),
            (
                "length too short",
                with_length(&(length - 40).to_string()),
                vec!["reject cc/x/2 bad_content_length", "skip metadata"],
            ),
            (
                "length not a number",
                with_length("12x"),
                vec!["reject cc/x/2 malformed_header", "skip metadata"],
            ),
            (
                "header junk",
                junk,
                vec!["reject cc/x/2 malformed_header", "skip metadata"],
            ),
            (
                "junk between records",
                between,
                vec!["doc cc/x/2", "reject cc/x/3 not_a_record", "skip metadata"],
            ),
            (
                "version line damaged",
                no_version,
                vec!["doc cc/x/2", "reject cc/x/3 not_a_record"],
            ),
        ];
        for (what, data, tail) in cases {
            let records = read(data, "x.warc");
            let mut expected = vec!["skip warcinfo", "skip request"];
            expected.extend(tail);
            assert_eq!(summary(&records), expected, "{what}");
            if let Some(r) = rejects(&records).first() {
                assert_eq!(r.rule, "ingest.warc");
                assert_eq!(r.input, "/data/x.warc");
                if r.id == "cc/x/2" {
                    assert_eq!(r.offset as usize, response - "WARC/1.0\r\n".len(), "{what}");
                    assert!(
                        r.text
                            .as_deref()
                            .unwrap_or_default()
                            .starts_with("WARC/1.0")
                    );
                }
            }
        }
    }

    #[test]
    fn http_payloads_are_decoded_or_skipped() {
        let page = |body: &str| {
            format!("<html><head><title>T</title></head><body><p>{body}</p></body></html>")
        };
        let latin1: Vec<u8> = page("Un café très épicé, déjà servi à Noël.")
            .chars()
            .map(|c| c as u32 as u8)
            .collect();
        let cp1251 = encoding_rs::WINDOWS_1251
            .encode("<html><head><meta charset=\"windows-1251\"></head><body><p>Привет, мир!</p></body></html>")
            .0
            .into_owned();
        let chunked = b"7\r\nchunked\r\n5\r\n text\r\n0\r\n\r\n";
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(page("deflated text").as_bytes()).unwrap();
        let zlib = zlib.finish().unwrap();
        let mut file = Vec::new();
        for r in [
            response("200 OK", "Content-Type: text/html\r\n", &latin1),
            response("200 OK", "Content-Type: text/html\r\n", &cp1251),
            response(
                "200 OK",
                "Content-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n",
                chunked,
            ),
            response(
                "200 OK",
                "Content-Type: text/html\r\nContent-Encoding: deflate\r\n",
                &zlib,
            ),
            response(
                "200 OK",
                "Content-Type: text/html\r\nContent-Encoding: br\r\n",
                b"\x0b\x02\x80",
            ),
            response(
                "404 Not Found",
                "Content-Type: text/html\r\n",
                page("missing").as_bytes(),
            ),
            response("200 OK", "Content-Type: image/png\r\n", b"\x89PNG\r\n"),
            response(
                "200 OK",
                "Content-Type: text/html\r\n",
                b"<html><script>only()</script></html>",
            ),
            record(
                "response",
                "Content-Type: text/dns\r\n",
                b"20240518 example.test A 1.2.3.4",
            ),
            record(
                "response",
                "Content-Type: application/http; msgtype=response\r\n",
                b"garbage",
            ),
            response(
                "200",
                "",
                page("no reason phrase, no content type").as_bytes(),
            ),
            record("conversion", "", b"a WET record in a WARC file"),
            record("frobnicate", "", b""),
        ] {
            file.extend_from_slice(&r);
        }
        let records = read(file, "x.warc");
        assert_eq!(
            summary(&records),
            [
                "doc cc/x/0",
                "doc cc/x/1",
                "doc cc/x/2",
                "doc cc/x/3",
                "reject cc/x/4 unsupported_content_encoding",
                "skip http_not_ok",
                "skip not_text",
                "reject cc/x/7 empty_text",
                "skip not_http",
                "reject cc/x/9 malformed_http",
                "doc cc/x/10",
                "skip conversion",
                "skip unknown_type",
            ]
        );
        let d = docs(&records);
        assert_eq!(d[0].text, "Un café très épicé, déjà servi à Noël.");
        assert_eq!(meta(d[0])["charset"], "windows-1252");
        assert_eq!(d[0].title.as_deref(), Some("T"));
        assert_eq!(d[1].text, "Привет, мир!");
        assert_eq!(meta(d[1])["charset"], "windows-1251");
        assert_eq!(d[2].text, "chunked text");
        assert_eq!(meta(d[2])["extractor"], "plain");
        assert_eq!(d[3].text, "deflated text");
        assert_eq!(d[4].text, "no reason phrase, no content type");
        assert_eq!(d[4].url.as_deref(), Some("http://example.test/response"));
    }

    #[test]
    fn wet_text_is_kept_as_is_and_invalid_utf8_is_rejected() {
        let mut file = record("warcinfo", "", b"software: test\r\n");
        file.extend(record(
            "conversion",
            "WARC-Identified-Content-Language: eng,fra\r\n",
            "Title line\r\nCaf\u{65}\u{301} text\r\n".as_bytes(),
        ));
        file.extend(record("conversion", "", b"bad \xff bytes"));
        file.extend(record("conversion", "", b"  \r\n "));
        file.extend(record(
            "response",
            "",
            b"HTTP/1.1 200 OK\r\n\r\nnot in WET mode",
        ));
        let records = read_with(file, "x.warc.wet", true, 1 << 20);
        assert_eq!(
            summary(&records),
            [
                "skip warcinfo",
                "doc cc/x/1",
                "reject cc/x/2 invalid_utf8",
                "reject cc/x/3 empty_text",
                "skip response",
            ]
        );
        let d = docs(&records)[0];
        assert_eq!(d.text, "Title line\nCaf\u{e9} text\n");
        assert_eq!(meta(d)["languages"], "eng,fra");
        assert_eq!(rejects(&records)[0].rule, "ingest.wet");
    }

    /// A record around `block` whose `Content-Length` is off by `error` bytes.
    fn record_with_length_error(kind: &str, extra: &str, block: &[u8], error: i64) -> Vec<u8> {
        let right = format!("Content-Length: {}\r\n", block.len());
        let wrong = format!("Content-Length: {}\r\n", block.len() as i64 + error);
        let r = String::from_utf8(record(kind, extra, block)).unwrap();
        r.replacen(&right, &wrong, 1).into_bytes()
    }

    #[test]
    fn wet_records_with_a_wrong_content_length_are_recovered() {
        // (text, Content-Length error, recovered): too short before a blank line, too long into the next
        // record's header, too short inside a line, too long past the end of the file.
        let second = "\n\nSecond paragraph, after the declared end.";
        let records: [(&str, i64, bool); 6] = [
            ("Right length.\nTwo lines.", 0, false),
            (
                "First line\n\nSecond paragraph, after the declared end.",
                -(second.len() as i64),
                true,
            ),
            ("Declared 30 bytes too long.", 30, true),
            ("Right length again.", 0, false),
            ("Declared 3 bytes short, inside a line.", -3, true),
            (
                "Last record, declared 50 bytes too long.\nThe file ends here.",
                50,
                true,
            ),
        ];
        let mut plain = Vec::new();
        let mut gzipped = Vec::new();
        for (text, error, _) in records {
            let r = record_with_length_error(
                "conversion",
                "Content-Type: text/plain\r\n",
                text.as_bytes(),
                error,
            );
            gzipped.extend(gzip(&r));
            plain.extend(r);
        }
        for (name, data) in [("x.warc.wet", plain.clone()), ("x.warc.wet.gz", gzipped)] {
            let read_back = read(data, name);
            assert_eq!(
                summary(&read_back),
                (0..6).map(|i| format!("doc cc/x/{i}")).collect::<Vec<_>>(),
                "{name}"
            );
            for (doc, (text, error, recovered)) in docs(&read_back).into_iter().zip(records) {
                assert_eq!(doc.text, text, "{name}, error {error}");
                assert_eq!(
                    crate::recovered_from(doc).as_deref(),
                    recovered.then_some("bad_content_length"),
                    "{name}, error {error}"
                );
                assert_eq!(meta(doc)["content_type"], "text/plain");
            }
        }

        // Cut inside the last record, short of its length and of a record end: a truncated file.
        let cut = read(plain[..plain.len() - 10].to_vec(), "x.warc.wet");
        assert_eq!(summary(&cut)[5], "reject cc/x/5 truncated_record");
        assert_eq!(rejects(&cut)[0].rule, "ingest.wet");
        // No next record within the cap: too large, and reading goes on at the next record.
        let mut long = record_with_length_error("conversion", "", &[b'a'; 3000], -2000);
        long.extend(record("conversion", "", b"after"));
        let read_back = read_with(long, "x.warc.wet", true, 1000);
        assert_eq!(
            summary(&read_back),
            ["reject cc/x/0 too_large", "doc cc/x/1"]
        );
    }

    #[test]
    fn warc_records_with_a_wrong_content_length_are_still_rejected() {
        let payload = |text: &str| {
            format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n{text}").into_bytes()
        };
        let extra = "Content-Type: application/http; msgtype=response\r\n";
        let mut file = Vec::new();
        for (text, error) in [
            ("Right length.", 0),
            ("Declared 5 bytes short.", -5),
            ("Declared 30 bytes too long.", 30),
            ("Right length again.", 0),
            ("Last record, declared 50 bytes too long.", 50),
        ] {
            file.extend(record_with_length_error(
                "response",
                extra,
                &payload(text),
                error,
            ));
        }
        for (name, data) in [("x.warc", file.clone()), ("x.warc.gz", gzip(&file))] {
            let read_back = read(data, name);
            assert_eq!(
                summary(&read_back),
                [
                    "doc cc/x/0",
                    "reject cc/x/1 bad_content_length",
                    "reject cc/x/2 bad_content_length",
                    "doc cc/x/3",
                    "reject cc/x/4 truncated_record",
                ],
                "{name}"
            );
            assert!(
                docs(&read_back)
                    .iter()
                    .all(|d| crate::recovered_from(d).is_none())
            );
        }
    }

    #[test]
    fn oversized_records_and_texts_are_rejected_without_being_held() {
        let big = vec![b'a'; (1 << 20) + 2000];
        let mut file = response("200 OK", "Content-Type: text/plain\r\n", &big);
        file.extend(record("request", "", &big));
        file.extend(response(
            "200 OK",
            "Content-Type: text/plain\r\n",
            &[b'b'; 1500],
        ));
        file.extend(response(
            "200 OK",
            "Content-Type: text/plain\r\n",
            b"small enough",
        ));
        let records = read_with(gzip(&file), "x.warc.gz", false, 1000);
        assert_eq!(
            summary(&records),
            [
                "reject cc/x/0 too_large",
                "skip request",
                "reject cc/x/2 too_large",
                "doc cc/x/3"
            ]
        );
        assert!(
            rejects(&records)[0]
                .detail
                .contains("over the 1049576-byte limit")
        );
        assert!(
            rejects(&records)[1]
                .detail
                .contains("over max_doc_bytes = 1000")
        );
    }

    #[test]
    fn decompression_bombs_and_junk_between_members_are_rejected() {
        let zeros = vec![0u8; 20 << 20];
        let mut file = gzip(&record("resource", "", &zeros));
        assert!(file.len() < 100 << 10);
        file.extend(gzip(&response(
            "200 OK",
            "Content-Type: text/plain\r\n",
            b"after",
        )));
        file.extend_from_slice(b"junk that is not gzip");
        file.extend(gzip(&response(
            "200 OK",
            "Content-Type: text/plain\r\n",
            b"last",
        )));
        let records = read(file, "x.warc.gz");
        assert_eq!(
            summary(&records),
            [
                "reject cc/x/0 decompression_bomb",
                "doc cc/x/1",
                "reject cc/x/2 corrupt_gzip",
                "doc cc/x/3"
            ]
        );
        assert_eq!(docs(&records)[0].text, "after");
        assert!(rejects(&records)[1].detail.contains("21 bytes at byte"));
    }

    /// A stream that fails after its first bytes, like a dropped connection.
    struct Failing(std::io::Cursor<Vec<u8>>);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(std::io::Error::other("connection reset")),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn a_failing_read_ends_the_file_with_one_reject() {
        let data = sample("whirlwind.warc.gz");
        let starts = members(&data);
        let reader =
            std::io::BufReader::new(Failing(std::io::Cursor::new(data[..starts[2]].to_vec())));
        let records: Vec<Record> =
            WarcReader::new(Box::new(reader), &cfg(1 << 20), &input("x.warc.gz"), false).collect();
        assert_eq!(
            summary(&records),
            ["skip warcinfo", "skip request", "reject cc/x/2 read_error"]
        );
        assert!(rejects(&records)[0].detail.contains("connection reset"));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let file = "resiliparse-CC-MAIN-2020-34-excerpt.warc.gz";
        let data = sample(file);
        let plain = gunzip(&data);
        for round in 0..40 {
            let mut noise: Vec<u8> = (0..4096).map(|_| next() as u8).collect();
            if round % 4 == 0 {
                noise.splice(
                    0..0,
                    b"WARC/1.0\r\nContent-Length: 99999999999\r\n\r\n"
                        .iter()
                        .copied(),
                );
            }
            let records = read(noise.clone(), "x.warc");
            assert!(
                !records.iter().any(|r| matches!(r, Record::Doc(_))),
                "round {round}"
            );
            read(noise, "x.warc.gz");
            let (mut gz, mut warc) = (data.clone(), plain.clone());
            for _ in 0..8 {
                let i = (next() as usize) % gz.len();
                gz[i] = next() as u8;
                let j = (next() as usize) % warc.len();
                warc[j] = next() as u8;
            }
            let records = read(gz, file);
            assert!(records.len() <= 60, "round {round}: {}", records.len());
            let records = read(warc, "x.warc");
            assert!(records.len() <= 60, "round {round}: {}", records.len());
        }
    }

    #[test]
    fn helpers_parse_what_they_claim() {
        assert!(is_version_line(b"WARC/1.0\r\n"));
        assert!(is_version_line(b"WARC/0.18\n"));
        assert!(is_version_line(b"WARC/1.1 \r\nWARC-Type"));
        assert!(!is_version_line(b"WARC/1.0"));
        assert!(!is_version_line(b"WARC/x.0\r\n"));
        assert!(!is_version_line(b"WARC-Type: x\r\n"));
        assert_eq!(tld("https://Example.CO.uk:8080/a?b"), Some("uk".into()));
        assert_eq!(tld("http://user@xn--p1ai/"), Some("xn--p1ai".into()));
        assert_eq!(tld("not a url"), None);
        assert_eq!(
            charset_param("text/html; Charset=\"UTF-8\""),
            Some("UTF-8".into())
        );
        assert_eq!(charset_param("text/html"), None);
        assert_eq!(
            meta_charset(
                b"<head><META http-equiv='Content-Type' content='text/html; charset=gb2312'>"
            ),
            Some(encoding_rs::GBK)
        );
        assert_eq!(dechunk(b"3\r\nabc\r\n0\r\n\r\n"), Some(b"abc".to_vec()));
        assert_eq!(
            dechunk(b"5;x=y\r\nabcde\r\n2\r\nfg"),
            Some(b"abcdefg".to_vec())
        );
        assert_eq!(dechunk(b"<html>"), None);
        assert_eq!(find_record_start(b"abc\r\nWARC/1.0\r\nWARC-Type"), Some(5));
        assert_eq!(find_record_start(b"abc WARC/1.0\r\n"), None);
    }
}

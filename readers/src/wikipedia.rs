//! MediaWiki XML export reader (`format = "wikipedia-xml"`): Wikipedia `pages-articles` dumps, plain or
//! `.bz2` (multistream too; [`super::decompressed`] undoes it), export schema 0.3 to 0.11, in UTF-8 or in
//! UTF-16 (told by its byte-order mark or by the first bytes of `<?xml`, XML 1.0 appendix F) or another
//! encoding named in the XML declaration, which are transcoded to UTF-8 first. One `<page>` is one record:
//! a document (namespace 0, not a redirect, the latest revision's wikitext converted by
//! [`WikitextConverter`]), a skip (`non_article_namespace`, `redirect`) or a reject.
//!
//! The stream is cut into pages at the byte level before any XML parsing: `<page>`, `</page>` and
//! `</mediawiki>` cannot occur inside a page's content (`<` is always escaped in text and attributes, and
//! MediaWiki writes no CDATA), so each page's bytes are found with a `memchr` scan and then parsed alone
//! with quick-xml. That keeps memory to one page, gives every reject the exact byte offset of its `<page>`,
//! and confines broken markup to its page: a page whose XML does not parse is rejected and reading goes
//! on at the next `<page>`, a page cut short by the next `<page>` is rejected, and a stream that breaks
//! (truncated `.bz2`, I/O error) or ends early ends the file with one reject row. Offsets count bytes of
//! the decompressed stream (after transcoding, for non-UTF-8 exports).

use std::io::{BufRead, BufReader, ErrorKind};

use encoding_rs::Encoding;
use quick_xml::events::Event;

use crate::wikitext::WikitextConverter;
use crate::{InputFile, Origin, Record, SourceConfig, normalize_text, raw_text};
use corpus_store::Document;

/// XML allowed in a page beyond its text: the revision's metadata and the escaping of `<`, `&` and `"`
/// (`&lt;` is four bytes for one). A page's XML longer than `2 * max_doc_bytes + PAGE_OVERHEAD_BYTES` is
/// rejected as `too_large` without being held in memory.
const PAGE_OVERHEAD_BYTES: u64 = 1 << 20;
/// Longest header (`<?xml?>`, `<mediawiki>`, `<siteinfo>`) read for the site's name, base URL and
/// namespaces; a real one is a few KiB.
const HEADER_LIMIT_BYTES: usize = 1 << 20;
/// Raw bytes of a rejected page kept in its reject row.
/// Main (article) namespace.
const ARTICLE_NAMESPACE: i64 = 0;
/// Namespace numbers of files and categories (fixed by MediaWiki in every language).
const FILE_NAMESPACE: i64 = 6;
const CATEGORY_NAMESPACE: i64 = 14;

/// Streams the pages of one MediaWiki XML export as records.
pub struct WikipediaReader {
    splitter: PageSplitter,
    state: State,
    origin: Origin,
    max_doc_bytes: u64,
    site: SiteInfo,
    /// Configured from `<siteinfo>` once the header is read.
    converter: WikitextConverter,
    /// Index of the next `<page>` (every page counts, so ids do not shift when skips change).
    next_index: u64,
    /// Index and stream offset of the page being read.
    page: (u64, u64),
    /// `</mediawiki>` was seen: the stream was not cut short.
    closed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing read yet: the encoding is still to be sniffed.
    Start,
    /// Before the first `<page>`: the bytes are the header with `<siteinfo>`.
    Header,
    /// Between pages.
    Gap,
    /// Inside a page whose bytes are being kept.
    Page,
    /// Inside a page already rejected as too large.
    SkipPage,
    /// The stream ended or broke.
    Done,
}

impl WikipediaReader {
    /// A reader over an already decompressed stream.
    pub fn new(reader: Box<dyn BufRead + Send>, source: &SourceConfig, input: &InputFile) -> Self {
        WikipediaReader {
            splitter: PageSplitter::new(reader),
            state: State::Start,
            origin: Origin::new(source, input, "ingest.wikipedia"),
            max_doc_bytes: source.max_doc_bytes,
            site: SiteInfo::default(),
            converter: SiteInfo::default().converter(),
            next_index: 0,
            page: (0, 0),
            closed: false,
        }
    }

    fn page_limit(&self) -> usize {
        let limit = self
            .max_doc_bytes
            .saturating_mul(2)
            .saturating_add(PAGE_OVERHEAD_BYTES);
        usize::try_from(limit).unwrap_or(usize::MAX)
    }

    fn reject(&self, index: u64, offset: u64, reason: &str, detail: String, raw: &[u8]) -> Record {
        let text = (!raw.is_empty()).then(|| raw_text(raw));
        self.origin.reject(index, offset, reason, detail, text)
    }

    /// A reject for the stream itself (not a page): it takes the next page index, as the page it cut.
    fn stream_reject(&mut self, reason: &str, detail: String) -> Record {
        let index = self.next_index;
        self.next_index += 1;
        self.state = State::Done;
        let offset = self.splitter.position();
        self.reject(index, offset, reason, detail, &[])
    }

    fn begin_page(&mut self, at: usize) {
        self.splitter.drop_before(at);
        self.page = (self.next_index, self.splitter.base);
        self.next_index += 1;
        self.splitter.keep = true;
        self.state = State::Page;
    }

    fn begin_gap(&mut self) {
        self.splitter.drop_before(self.splitter.buf.len());
        self.splitter.keep = false;
        self.state = State::Gap;
    }

    /// Reads the header before the first page: site name, base URL, namespaces.
    fn read_header(&mut self, end: usize) {
        self.site = SiteInfo::parse(&self.splitter.buf[..end]);
        self.converter = self.site.converter();
    }

    /// Turns one page's complete XML into a record.
    fn page_record(&self, index: u64, offset: u64, xml: &[u8]) -> Record {
        let page = match PageXml::parse(xml) {
            Ok(page) => page,
            Err(PageError::Utf8(at)) => {
                let detail = format!("page is not valid UTF-8 near byte {}", offset + at);
                return self.reject(index, offset, "invalid_utf8", detail, xml);
            }
            Err(PageError::Xml(at, e)) => {
                let detail = format!("XML error at byte {}: {e}", offset + at);
                return self.reject(index, offset, "malformed_xml", detail, xml);
            }
        };
        let ns = page
            .ns
            .unwrap_or_else(|| self.site.namespace_of(&page.title));
        if ns != ARTICLE_NAMESPACE {
            return Record::Skip("non_article_namespace");
        }
        let Some(revision) = page.revision else {
            let detail = "page has no <revision>".to_string();
            return self.reject(index, offset, "missing_field", detail, xml);
        };
        if page.redirect || is_redirect(&revision.text) {
            return Record::Skip("redirect");
        }
        if revision.text.len() as u64 > self.max_doc_bytes {
            let detail = format!(
                "wikitext of {} bytes is over max_doc_bytes = {}",
                revision.text.len(),
                self.max_doc_bytes
            );
            return self.reject(index, offset, "too_large", detail, xml);
        }
        let text = match self.converter.to_text(&revision.text) {
            Ok(text) => normalize_text(&text),
            Err(detail) => {
                return self.reject(index, offset, "wikitext_parse_failed", detail, xml);
            }
        };
        if text.trim().is_empty() {
            let detail = "no text left after removing markup".to_string();
            return self.reject(
                index,
                offset,
                "empty_text",
                detail,
                revision.text.as_bytes(),
            );
        }
        let mut meta = serde_json::Map::new();
        meta.insert("page_id".into(), number_or_string(page.id.as_deref()));
        meta.insert(
            "revision_id".into(),
            number_or_string(revision.id.as_deref()),
        );
        meta.insert("timestamp".into(), revision.timestamp.clone().into());
        meta.insert("ns".into(), ns.into());
        if let Some(wiki) = &self.site.dbname {
            meta.insert("wiki".into(), wiki.clone().into());
        }
        Record::Doc(Document {
            id: self.origin.id(index),
            source: self.origin.source.clone(),
            url: self.site.page_url(&page.title),
            title: Some(page.title),
            text,
            meta: Some(serde_json::Value::Object(meta).to_string()),
        })
    }
}

impl Iterator for WikipediaReader {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            match self.state {
                State::Done => return None,
                State::Start => {
                    if let Err(e) = self.splitter.transcode_if_needed() {
                        let detail = format!("cannot read the input stream: {e}");
                        return Some(self.stream_reject("truncated_input", detail));
                    }
                    self.splitter.keep = true;
                    self.state = State::Header;
                }
                State::Header | State::Gap | State::SkipPage => {
                    let limit = if self.state == State::Header {
                        HEADER_LIMIT_BYTES
                    } else {
                        usize::MAX
                    };
                    match self.splitter.next_mark(limit) {
                        Ok(Scan::Mark(Mark::PageStart, at)) => {
                            if self.state == State::Header {
                                self.read_header(at);
                            }
                            self.begin_page(at);
                        }
                        Ok(Scan::Mark(Mark::PageEnd, _)) => {
                            if self.state != State::Header {
                                self.begin_gap();
                            }
                        }
                        Ok(Scan::Mark(Mark::DumpEnd, _)) => {
                            self.closed = true;
                            if self.state != State::Header {
                                self.begin_gap();
                            }
                        }
                        Ok(Scan::Overflow) => {
                            // No `<page>` in the first MiB: not a pages dump, or a header we do not need.
                            self.read_header(self.splitter.buf.len());
                            self.begin_gap();
                        }
                        Ok(Scan::Eof) => {
                            if self.closed {
                                self.state = State::Done;
                                return None;
                            }
                            let detail = "stream ended before </mediawiki>".to_string();
                            return Some(self.stream_reject("truncated_input", detail));
                        }
                        Err(e) => {
                            let at = self.splitter.position();
                            let detail = format!("input stream broken at byte {at}: {e}");
                            return Some(self.stream_reject("truncated_input", detail));
                        }
                    }
                }
                State::Page => {
                    let (index, offset) = self.page;
                    let scan = self.splitter.next_mark(self.page_limit());
                    let broken = scan.as_ref().err().map(|e| e.to_string());
                    match scan {
                        Ok(Scan::Mark(Mark::PageEnd, _)) => {
                            let record = self.page_record(index, offset, &self.splitter.buf);
                            self.begin_gap();
                            return Some(record);
                        }
                        Ok(Scan::Mark(Mark::PageStart, at)) => {
                            let detail = "page not closed before the next <page>".to_string();
                            let record = self.reject(
                                index,
                                offset,
                                "malformed_xml",
                                detail,
                                &self.splitter.buf[..at],
                            );
                            self.begin_page(at);
                            return Some(record);
                        }
                        Ok(Scan::Mark(Mark::DumpEnd, at)) => {
                            self.closed = true;
                            let detail = "page not closed before </mediawiki>".to_string();
                            let record = self.reject(
                                index,
                                offset,
                                "malformed_xml",
                                detail,
                                &self.splitter.buf[..at],
                            );
                            self.begin_gap();
                            return Some(record);
                        }
                        Ok(Scan::Overflow) => {
                            let detail = format!(
                                "page XML longer than {} bytes (2 x max_doc_bytes + 1 MiB)",
                                self.page_limit()
                            );
                            let record =
                                self.reject(index, offset, "too_large", detail, &self.splitter.buf);
                            self.splitter.keep = false;
                            self.splitter.drop_before(self.splitter.buf.len());
                            self.state = State::SkipPage;
                            return Some(record);
                        }
                        Ok(Scan::Eof) | Err(_) => {
                            self.state = State::Done;
                            let cause = match &broken {
                                Some(e) => format!("input stream broken ({e})"),
                                None => "stream ended".to_string(),
                            };
                            let detail = format!(
                                "{cause} inside the page, at byte {}",
                                self.splitter.position()
                            );
                            let raw = &self.splitter.buf;
                            return Some(self.reject(
                                index,
                                offset,
                                "truncated_input",
                                detail,
                                raw,
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// `#REDIRECT [[Target]]` at the start of the text (older exports have no `<redirect>` element).
fn is_redirect(wikitext: &str) -> bool {
    let start = wikitext.trim_start().as_bytes();
    start.len() >= 9 && start[..9].eq_ignore_ascii_case(b"#redirect")
}

fn number_or_string(value: Option<&str>) -> serde_json::Value {
    match value {
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map_or_else(|_| v.into(), serde_json::Value::from),
        None => serde_json::Value::Null,
    }
}

/// What the splitter looks for, by the bytes from a `<`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    PageStart,
    PageEnd,
    DumpEnd,
}

const MARKS: [(&[u8], Mark); 3] = [
    (b"<page>", Mark::PageStart),
    (b"</page>", Mark::PageEnd),
    (b"</mediawiki>", Mark::DumpEnd),
];
const LONGEST_MARK: usize = 12;

enum Probe {
    Is(Mark, usize),
    /// Too few bytes to tell: they are the start of a mark.
    Maybe,
    Not,
}

fn probe(bytes: &[u8]) -> Probe {
    let mut maybe = false;
    for (tag, mark) in MARKS {
        if bytes.starts_with(tag) {
            return Probe::Is(mark, tag.len());
        }
        maybe |= tag.starts_with(bytes);
    }
    if maybe { Probe::Maybe } else { Probe::Not }
}

enum Scan {
    /// A mark, starting at this index of the buffer; the buffer ends with it.
    Mark(Mark, usize),
    /// The kept bytes passed the limit.
    Overflow,
    Eof,
}

/// Finds page boundaries in the byte stream, keeping the bytes of the current page (or header) only.
struct PageSplitter {
    reader: Box<dyn BufRead + Send>,
    /// Bytes read since `base` that are still needed.
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Index in `buf` of a `<` near the end of the last chunk that may start a mark.
    pending: Option<usize>,
    /// Keep scanned bytes (header, page) or drop them (between pages, a page too large).
    keep: bool,
}

impl PageSplitter {
    fn new(reader: Box<dyn BufRead + Send>) -> Self {
        PageSplitter {
            reader,
            buf: Vec::new(),
            base: 0,
            pending: None,
            keep: true,
        }
    }

    /// Stream offset of the next byte to read.
    fn position(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// Puts a UTF-8 transcoder in front of the stream when it is in another encoding.
    fn transcode_if_needed(&mut self) -> std::io::Result<()> {
        let head = loop {
            match self.reader.fill_buf() {
                Ok(head) => break head,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if let Some(encoding) = sniff_encoding(head) {
            let raw = std::mem::replace(&mut self.reader, Box::new(std::io::empty()));
            let decoder = encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding))
                .build(raw);
            self.reader = Box::new(BufReader::with_capacity(1 << 20, decoder));
        }
        Ok(())
    }

    /// Forgets the bytes before `at` (they were handled).
    fn drop_before(&mut self, at: usize) {
        self.buf.drain(..at);
        self.base += at as u64;
        self.pending = self.pending.and_then(|p| p.checked_sub(at));
    }

    /// Reads until the next mark. With `keep`, every byte read stays in `buf` (at most `limit`);
    /// otherwise only a possible partial mark at the end does.
    fn next_mark(&mut self, limit: usize) -> std::io::Result<Scan> {
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(Scan::Eof);
            }
            if let Some(p) = self.pending {
                // A `<` at the end of the previous chunk: decide with the first bytes of this one.
                let have = self.buf.len() - p;
                let take = (LONGEST_MARK - have).min(chunk.len());
                let mut head = [0u8; LONGEST_MARK];
                head[..have].copy_from_slice(&self.buf[p..]);
                head[have..have + take].copy_from_slice(&chunk[..take]);
                match probe(&head[..have + take]) {
                    Probe::Is(mark, len) => {
                        let n = len - have;
                        self.buf.extend_from_slice(&chunk[..n]);
                        self.reader.consume(n);
                        self.pending = None;
                        return Ok(Scan::Mark(mark, p));
                    }
                    Probe::Maybe => {
                        let n = chunk.len();
                        self.buf.extend_from_slice(chunk);
                        self.reader.consume(n);
                        continue;
                    }
                    Probe::Not => self.pending = None,
                }
            }
            let mut from = 0;
            let mut found = None;
            while let Some(i) = memchr::memchr(b'<', &chunk[from..]) {
                let p = from + i;
                match probe(&chunk[p..]) {
                    Probe::Is(mark, len) => {
                        found = Some((mark, p, len));
                        break;
                    }
                    Probe::Maybe => {
                        self.pending = Some(self.buf.len() + p);
                        break;
                    }
                    Probe::Not => from = p + 1,
                }
            }
            if let Some((mark, p, len)) = found {
                let at = self.buf.len() + p;
                self.buf.extend_from_slice(&chunk[..p + len]);
                self.reader.consume(p + len);
                return Ok(Scan::Mark(mark, at));
            }
            let n = chunk.len();
            self.buf.extend_from_slice(chunk);
            self.reader.consume(n);
            if !self.keep {
                self.drop_before(self.pending.unwrap_or(self.buf.len()));
            } else if self.buf.len() > limit {
                return Ok(Scan::Overflow);
            }
        }
    }
}

/// The encoding to transcode from, or `None` for UTF-8 (with or without BOM). Follows XML 1.0 appendix F:
/// a UTF-16 BOM, `<` as UTF-16 without BOM, or an `encoding="..."` in an ASCII XML declaration.
fn sniff_encoding(head: &[u8]) -> Option<&'static Encoding> {
    match head {
        [0xEF, 0xBB, 0xBF, ..] => None,
        [0xFF, 0xFE, ..] | [b'<', 0, ..] => Some(encoding_rs::UTF_16LE),
        [0xFE, 0xFF, ..] | [0, b'<', ..] => Some(encoding_rs::UTF_16BE),
        _ => {
            let declaration = head.strip_prefix(b"<?xml")?;
            let end = memchr::memmem::find(declaration, b"?>")?;
            let declaration = &declaration[..end];
            let at = memchr::memmem::find(declaration, b"encoding")?;
            let value = declaration[at + 8..]
                .split(|&b| b == b'"' || b == b'\'')
                .nth(1)?;
            let encoding = Encoding::for_label(value)?;
            // A UTF-16 label on ASCII-compatible bytes is wrong; the bytes win.
            (encoding != encoding_rs::UTF_8
                && encoding != encoding_rs::UTF_16LE
                && encoding != encoding_rs::UTF_16BE)
                .then_some(encoding)
        }
    }
}

/// What the header says about the wiki.
#[derive(Debug, Default)]
struct SiteInfo {
    dbname: Option<String>,
    /// `<base>` up to its last `/`, with `https`: page URLs are this plus the title.
    url_prefix: Option<String>,
    /// `(key, name)` of every namespace but the main one.
    namespaces: Vec<(i64, String)>,
}

impl SiteInfo {
    /// Reads `<siteinfo>` from the header bytes; whatever does not parse is left out.
    fn parse(header: &[u8]) -> SiteInfo {
        let mut site = SiteInfo::default();
        let mut reader = quick_xml::Reader::from_reader(header);
        reader.config_mut().check_end_names = false;
        let mut path: Vec<Vec<u8>> = Vec::new();
        let mut key: Option<i64> = None;
        let mut value = String::new();
        loop {
            match reader.read_event() {
                Ok(Event::Start(e)) => {
                    if e.local_name().as_ref() == b"namespace" {
                        key = e
                            .try_get_attribute("key")
                            .ok()
                            .flatten()
                            .and_then(|a| std::str::from_utf8(&a.value).ok()?.parse().ok());
                    }
                    path.push(e.local_name().as_ref().to_vec());
                    value.clear();
                }
                Ok(Event::Text(t)) => value.push_str(&t.xml10_content().unwrap_or_default()),
                Ok(Event::GeneralRef(r)) => {
                    if let Some(c) = resolve_reference(&r) {
                        value.push_str(&c);
                    }
                }
                Ok(Event::End(_)) => {
                    let name = path.pop().unwrap_or_default();
                    let in_siteinfo = path.last().is_some_and(|p| p == b"siteinfo");
                    match name.as_slice() {
                        b"dbname" if in_siteinfo => site.dbname = Some(value.trim().to_string()),
                        b"base" if in_siteinfo => site.url_prefix = url_prefix(value.trim()),
                        b"namespace" => {
                            if let Some(k) = key.take()
                                && k != ARTICLE_NAMESPACE
                                && !value.trim().is_empty()
                            {
                                site.namespaces.push((k, value.trim().to_string()));
                            }
                        }
                        _ => {}
                    }
                    value.clear();
                }
                Ok(Event::Eof) | Err(_) => break,
                Ok(_) => {}
            }
        }
        site
    }

    fn names_of(&self, key: i64) -> Vec<String> {
        self.namespaces
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, n)| n.clone())
            .collect()
    }

    fn converter(&self) -> WikitextConverter {
        WikitextConverter::new(
            &self.names_of(FILE_NAMESPACE),
            &self.names_of(CATEGORY_NAMESPACE),
        )
    }

    /// The namespace of a title by its prefix, for exports older than `<ns>` (schema 0.6).
    fn namespace_of(&self, title: &str) -> i64 {
        let Some((prefix, _)) = title.split_once(':') else {
            return ARTICLE_NAMESPACE;
        };
        self.namespaces
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(prefix))
            .map_or(ARTICLE_NAMESPACE, |(k, _)| *k)
    }

    fn page_url(&self, title: &str) -> Option<String> {
        let prefix = self.url_prefix.as_ref()?;
        Some(format!("{prefix}{}", encode_title(title)))
    }
}

/// `https://en.wikipedia.org/wiki/` from `<base>https://en.wikipedia.org/wiki/Main_Page</base>`; old
/// dumps say `http`, and every Wikimedia site has been served over HTTPS since 2015.
fn url_prefix(base: &str) -> Option<String> {
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))?;
    let (dir, _) = rest.rsplit_once('/')?;
    Some(format!("https://{dir}/"))
}

/// A title as MediaWiki writes it in URLs (`wfUrlencode`): spaces as `_`, bytes other than letters,
/// digits and `-_.~;@$!*(),/:` percent-encoded.
fn encode_title(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    for b in title.trim().bytes() {
        match b {
            b' ' => out.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => out.push(b as char),
            b'-' | b'_' | b'.' | b'~' | b';' | b'@' | b'$' | b'!' | b'*' | b'(' | b')' | b','
            | b'/' | b':' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An entity or character reference in text; `None` when it is neither predefined nor a valid number.
fn resolve_reference(r: &quick_xml::events::BytesRef) -> Option<String> {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return Some(c.to_string());
    }
    let name = r.decode().ok()?;
    quick_xml::escape::resolve_predefined_entity(&name).map(str::to_string)
}

/// The fields of one page that the reader uses.
#[derive(Debug, Default)]
struct PageXml {
    title: String,
    ns: Option<i64>,
    id: Option<String>,
    redirect: bool,
    /// The latest revision: greatest timestamp, the later one in file order on a tie.
    revision: Option<Revision>,
}

#[derive(Debug, Default)]
struct Revision {
    id: Option<String>,
    timestamp: Option<String>,
    text: String,
}

enum PageError {
    /// Not UTF-8, near this byte of the page.
    Utf8(u64),
    /// Not well-formed XML, at this byte of the page.
    Xml(u64, String),
}

/// Elements of a page the reader reads, by their place in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    Page,
    Title,
    Ns,
    PageId,
    Revision,
    RevisionId,
    Timestamp,
    Text,
    Other,
}

impl PageXml {
    fn parse(xml: &[u8]) -> Result<PageXml, PageError> {
        let mut reader = quick_xml::Reader::from_reader(xml);
        let mut page = PageXml::default();
        let mut stack: Vec<Element> = Vec::new();
        let mut current = Revision::default();
        let mut value = String::new();
        let error = |reader: &quick_xml::Reader<&[u8]>, e: quick_xml::Error| match e {
            quick_xml::Error::Encoding(_) => PageError::Utf8(reader.error_position()),
            e => PageError::Xml(reader.error_position(), e.to_string()),
        };
        loop {
            let event = reader.read_event().map_err(|e| error(&reader, e))?;
            match event {
                Event::Start(e) => {
                    let element = element(stack.last().copied(), e.local_name().as_ref());
                    if element == Element::Revision {
                        current = Revision::default();
                    }
                    stack.push(element);
                    value.clear();
                }
                Event::Empty(e) => match (stack.last(), e.local_name().as_ref()) {
                    (Some(Element::Page), b"redirect") => page.redirect = true,
                    (Some(Element::Page), b"revision") => page.keep_latest(Revision::default()),
                    _ => {}
                },
                Event::Text(t) => {
                    if stack.last().is_some_and(|e| *e != Element::Other) {
                        let text = t.xml10_content().map_err(|e| error(&reader, e.into()))?;
                        value.push_str(&text);
                    }
                }
                Event::CData(t) => {
                    if stack.last().is_some_and(|e| *e != Element::Other) {
                        let text = t.xml10_content().map_err(|e| error(&reader, e.into()))?;
                        value.push_str(&text);
                    }
                }
                Event::GeneralRef(r) => {
                    if stack.last().is_some_and(|e| *e != Element::Other) {
                        let Some(resolved) = resolve_reference(&r) else {
                            let name = String::from_utf8_lossy(&r).into_owned();
                            let at = reader.buffer_position();
                            return Err(PageError::Xml(at, format!("unknown entity &{name};")));
                        };
                        value.push_str(&resolved);
                    }
                }
                Event::End(_) => {
                    let field = std::mem::take(&mut value);
                    match stack.pop() {
                        Some(Element::Title) => page.title = field,
                        Some(Element::Ns) => page.ns = field.trim().parse().ok(),
                        Some(Element::PageId) => page.id = Some(field),
                        Some(Element::RevisionId) => current.id = Some(field),
                        Some(Element::Timestamp) => current.timestamp = Some(field),
                        Some(Element::Text) => current.text = field,
                        Some(Element::Revision) => page.keep_latest(std::mem::take(&mut current)),
                        Some(Element::Page | Element::Other) | None => {}
                    }
                }
                Event::Eof => {
                    if !stack.is_empty() {
                        let at = reader.buffer_position();
                        return Err(PageError::Xml(at, "page ends inside an element".into()));
                    }
                    return Ok(page);
                }
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }

    fn keep_latest(&mut self, revision: Revision) {
        let newer = match &self.revision {
            Some(latest) => revision.timestamp >= latest.timestamp,
            None => true,
        };
        if newer {
            self.revision = Some(revision);
        }
    }
}

fn element(parent: Option<Element>, name: &[u8]) -> Element {
    match (parent, name) {
        (None, b"page") => Element::Page,
        (Some(Element::Page), b"title") => Element::Title,
        (Some(Element::Page), b"ns") => Element::Ns,
        (Some(Element::Page), b"id") => Element::PageId,
        (Some(Element::Page), b"revision") => Element::Revision,
        (Some(Element::Revision), b"id") => Element::RevisionId,
        (Some(Element::Revision), b"timestamp") => Element::Timestamp,
        (Some(Element::Revision), b"text") => Element::Text,
        _ => Element::Other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::{Cursor, Read, Write};

    use super::*;
    use corpus_store::{Reject, Storage};

    const ENWIKI: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/wiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    );
    const MULTI_REVISION: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/wiki/mwxml-multi-revision-dump.xml"
    );
    const MAX_DOC_BYTES: u64 = 64 << 20;

    fn source(max_doc_bytes: u64) -> SourceConfig {
        SourceConfig {
            max_doc_bytes,
            ..SourceConfig::with_defaults("wikipedia", "wikipedia-xml")
        }
    }

    fn input(path: &str, stem: &str) -> InputFile {
        let storage = Storage::new().unwrap();
        // Storage paths may not contain `..`.
        let path = std::fs::canonicalize(path)
            .map_or(path.to_string(), |p| p.to_string_lossy().into_owned());
        let path = path.as_str();
        InputFile {
            source_index: 0,
            location: storage.resolve(path).unwrap(),
            size: std::fs::metadata(path).map_or(0, |m| m.len()),
            stem: stem.into(),
            title: None,
        }
    }

    /// Reads a file the way the ingest stage does: through [`crate::decompressed`].
    fn read_file(path: &str) -> Vec<Record> {
        let storage = Storage::new().unwrap();
        let input = input(path, "f");
        let stream = crate::decompressed(&storage, &input).unwrap();
        WikipediaReader::new(stream, &source(MAX_DOC_BYTES), &input).collect()
    }

    /// Reads bytes handed over `chunk` bytes at a time (page marks then straddle reads).
    fn read_bytes(bytes: Vec<u8>, chunk: usize, max_doc_bytes: u64) -> Vec<Record> {
        let stream = Box::new(BufReader::with_capacity(chunk, Cursor::new(bytes)));
        WikipediaReader::new(stream, &source(max_doc_bytes), &input("/tmp/x.xml", "f")).collect()
    }

    fn enwiki_xml() -> Vec<u8> {
        let mut xml = Vec::new();
        let file = std::fs::File::open(ENWIKI).unwrap();
        bzip2::read::MultiBzDecoder::new(file)
            .read_to_end(&mut xml)
            .unwrap();
        xml
    }

    /// Byte offsets of every `<page>` in a dump.
    fn page_offsets(xml: &[u8]) -> Vec<usize> {
        memchr::memmem::find_iter(xml, b"<page>").collect()
    }

    struct Summary<'r> {
        docs: Vec<&'r Document>,
        skips: BTreeMap<&'static str, usize>,
        rejects: Vec<&'r Reject>,
    }

    fn summary(records: &[Record]) -> Summary<'_> {
        let mut s = Summary {
            docs: Vec::new(),
            skips: BTreeMap::new(),
            rejects: Vec::new(),
        };
        for r in records {
            match r {
                Record::Doc(d) => s.docs.push(d),
                Record::Skip(kind) => *s.skips.entry(kind).or_default() += 1,
                Record::Reject(j) => s.rejects.push(j),
            }
        }
        s
    }

    fn doc<'r>(s: &Summary<'r>, title: &str) -> &'r Document {
        s.docs
            .iter()
            .find(|d| d.title.as_deref() == Some(title))
            .unwrap()
    }

    fn reasons(s: &Summary) -> Vec<(String, u64)> {
        s.rejects
            .iter()
            .map(|j| (j.reason.clone(), j.offset))
            .collect()
    }

    #[test]
    fn enwiki_sample_counts_and_articles() {
        let records = read_file(ENWIKI);
        let s = summary(&records);
        assert_eq!(s.docs.len(), 106);
        assert_eq!(
            s.skips,
            BTreeMap::from([("non_article_namespace", 1), ("redirect", 99)])
        );
        assert!(s.rejects.is_empty(), "{:?}", reasons(&s));
        assert_eq!(records.len(), 206);

        let anarchism = doc(&s, "Anarchism");
        assert_eq!(anarchism.id, "wikipedia/f/1");
        assert_eq!(anarchism.source, "wikipedia");
        assert_eq!(
            anarchism.url.as_deref(),
            Some("https://en.wikipedia.org/wiki/Anarchism")
        );
        let meta: serde_json::Value =
            serde_json::from_str(anarchism.meta.as_deref().unwrap()).unwrap();
        assert_eq!(meta["page_id"], 12);
        assert_eq!(meta["revision_id"], 716551092);
        assert_eq!(meta["timestamp"], "2016-04-22T10:19:33Z");
        assert_eq!(meta["ns"], 0);
        assert_eq!(meta["wiki"], "enwiki");
        assert!(anarchism.text.starts_with(
            "Anarchism is a political philosophy that advocates self-governed societies based on \
             voluntary institutions. These are often described as stateless societies, although"
        ));
        let lines: Vec<&str> = anarchism.text.lines().collect();
        for heading in [
            "Etymology and terminology",
            "History",
            "Origins",
            "Criticisms",
            "External links",
        ] {
            assert!(lines.contains(&heading), "no heading line {heading}");
        }
        // The References section holds only `{{Reflist}}`: its heading goes too.
        assert!(!lines.contains(&"References"));

        // Templates that render their arguments are kept: `{{convert|1300|mi|km}}`, `{{lang|grc|...}}`.
        let alabama = doc(&s, "Alabama");
        assert!(alabama.text.contains(
            "At 1,300 mi, Alabama has one of the longest navigable inland waterways in the nation."
        ));
        assert!(
            anarchism
                .text
                .contains("from the Greek ἀναρχία, i.e. anarchy")
        );
        assert!(
            doc(&s, "Abraham Lincoln")
                .text
                .starts_with("Abraham Lincoln (February 12, 1809 – April 15, 1865) was the 16th")
        );
        assert!(doc(&s, "Albedo").text.starts_with(
            "Albedo or reflection coefficient, derived from Latin albedo \"whiteness\""
        ));
        // Text next to a formula survives, and the formula stays as its TeX source.
        assert!(doc(&s, "Albedo").text.contains(
            "where A is the astronomical albedo, D is the diameter in kilometers, and H is the absolute \
             magnitude."
        ));
        // A disambiguation page keeps its lists, one item a line.
        let austin = doc(&s, "Austin (disambiguation)");
        assert!(
            austin
                .text
                .contains("Canada\n\nAustin, Manitoba\nAustin, Ontario\nAustin, Quebec\n")
        );

        // Interlanguage links of a 2016 page are not text.
        assert!(
            doc(&s, "Agricultural science")
                .text
                .ends_with("\nNMSU Department of Entomology Plant Pathology and Weed Science")
        );

        let mut ids = std::collections::HashSet::new();
        for d in &s.docs {
            assert!(ids.insert(d.id.clone()), "duplicate id {}", d.id);
            for line in d.text.lines() {
                for markup in ["[[", "]]", "<ref", "{|", "|}", "thumb|", "__NOTOC__"] {
                    assert!(!line.contains(markup), "{markup} left in {:?}", d.title);
                }
                // Formulas stay as TeX (`\frac{a}{b}}`), which may hold braces and primes.
                if !line.contains('\\') {
                    for markup in ["{{", "}}", "''"] {
                        assert!(!line.contains(markup), "{markup} left in {:?}", d.title);
                    }
                }
            }
            assert!(!d.text.contains("\n\n\n") && d.text == d.text.trim());
        }
    }

    #[test]
    fn multistream_bz2_reads_like_plain_xml() {
        // Wikipedia's multistream dumps are bz2 streams of 100 pages each, concatenated.
        let xml = enwiki_xml();
        let pages = page_offsets(&xml);
        let mut head = xml[..pages[30]].to_vec();
        head.extend_from_slice(b"</mediawiki>\n");
        let mut bz2 = Vec::new();
        for part in [
            &head[..pages[1]],
            &head[pages[1]..pages[20]],
            &head[pages[20]..],
        ] {
            let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            encoder.write_all(part).unwrap();
            bz2.extend(encoder.finish().unwrap());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("multistream.xml.bz2");
        std::fs::write(&path, bz2).unwrap();
        let records = read_file(path.to_str().unwrap());
        assert_eq!(records.len(), 30);
        assert_eq!(
            docs_of(&records),
            docs_of(&read_bytes(head, 1 << 16, MAX_DOC_BYTES))
        );
    }

    #[test]
    fn latest_revision_of_article_pages_only() {
        let records = read_file(MULTI_REVISION);
        let s = summary(&records);
        assert_eq!(s.skips, BTreeMap::from([("non_article_namespace", 1)]));
        assert!(s.rejects.is_empty());
        assert_eq!(s.docs.len(), 1);
        let foo = s.docs[0];
        assert_eq!(foo.id, "wikipedia/f/0");
        assert_eq!(foo.title.as_deref(), Some("Foo"));
        assert_eq!(foo.text, "Revision 2 text");
        assert_eq!(
            foo.url.as_deref(),
            Some("https://en.wikipedia.org/wiki/Foo")
        );
        let meta: serde_json::Value = serde_json::from_str(foo.meta.as_deref().unwrap()).unwrap();
        assert_eq!(meta["page_id"], 1);
        assert_eq!(meta["revision_id"], 2);
        assert_eq!(meta["timestamp"], "2004-08-10T09:04:08Z");
    }

    /// A small dump with non-ASCII text, a redirect and an entity, for the encoding tests.
    fn small_dump() -> String {
        let mut xml = std::fs::read_to_string(MULTI_REVISION).unwrap();
        let extra = "  <page>\n    <title>Ἀχιλλεύς &amp; Café</title>\n    <ns>0</ns>\n    <id>3</id>\n    \
            <revision>\n      <id>4</id>\n      <timestamp>2020-01-01T00:00:00Z</timestamp>\n      \
            <text xml:space=\"preserve\">'''Café''' [[Ἀχιλλεύς|Achilles]] &lt;ref&gt;x&lt;/ref&gt; \
            naïve&amp;nbsp;text.\n\n== Ιστορία ==\n* ένα\n* δύο</text>\n    </revision>\n  </page>\n  \
            <page>\n    <title>Old</title>\n    <ns>0</ns>\n    <id>5</id>\n    <revision>\n      \
            <text>#REDIRECT [[Café]]</text>\n    </revision>\n  </page>\n</mediawiki>";
        xml = xml.replace("</mediawiki>", extra);
        xml
    }

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let units = bom.then_some(0xFEFF).into_iter().chain(text.encode_utf16());
        for unit in units {
            out.extend(if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        out
    }

    fn docs_of(records: &[Record]) -> Vec<(String, Option<String>, String, Option<String>)> {
        summary(records)
            .docs
            .iter()
            .map(|d| {
                (
                    d.id.clone(),
                    d.title.clone(),
                    d.text.clone(),
                    d.meta.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn utf16_and_declared_encodings_read_the_same() {
        let xml = small_dump();
        let utf8 = read_bytes(xml.clone().into_bytes(), 1 << 16, MAX_DOC_BYTES);
        let expected = docs_of(&utf8);
        assert_eq!(expected.len(), 2);
        assert_eq!(
            expected[1].1.as_deref(),
            Some("Ἀχιλλεύς & Café"),
            "title entities decoded"
        );
        assert_eq!(
            expected[1].2,
            "Café Achilles naïve text.\n\nΙστορία\n\nένα\nδύο"
        );
        assert_eq!(summary(&utf8).skips.get("redirect"), Some(&1));

        let declared = format!("<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n{xml}");
        for (big_endian, bom) in [(false, true), (true, true), (false, false), (true, false)] {
            let records = read_bytes(utf16(&declared, big_endian, bom), 1 << 16, MAX_DOC_BYTES);
            assert_eq!(
                docs_of(&records),
                expected,
                "big_endian {big_endian} bom {bom}"
            );
        }

        // Latin-1, named in the declaration.
        let latin1 = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<mediawiki>\n<page><title>Caf\u{e9}</title>\
            <ns>0</ns><id>1</id><revision><id>2</id><text>Caf\u{e9} cr\u{e8}me</text></revision></page>\n</mediawiki>\n";
        let bytes: Vec<u8> = latin1.chars().map(|c| c as u8).collect();
        let records = read_bytes(bytes, 1 << 16, MAX_DOC_BYTES);
        let s = summary(&records);
        assert_eq!(s.docs.len(), 1);
        assert_eq!(s.docs[0].title.as_deref(), Some("Café"));
        assert_eq!(s.docs[0].text, "Café crème");
    }

    #[test]
    fn pages_split_alike_whatever_the_read_sizes() {
        // The first 12 pages of the sample, closed again.
        let xml = enwiki_xml();
        let mut head = xml[..page_offsets(&xml)[12]].to_vec();
        head.extend_from_slice(b"</mediawiki>\n");
        let whole = read_bytes(head.clone(), 1 << 20, MAX_DOC_BYTES);
        assert_eq!(whole.len(), 12);
        assert!(summary(&whole).rejects.is_empty());
        for chunk in [1, 2, 5, 7, 11, 4096] {
            let records = read_bytes(head.clone(), chunk, MAX_DOC_BYTES);
            assert_eq!(docs_of(&records), docs_of(&whole), "chunk {chunk}");
            assert_eq!(records.len(), 12);
        }
    }

    #[test]
    fn a_cut_or_broken_page_is_rejected_and_reading_goes_on() {
        let xml = enwiki_xml();
        let pages = page_offsets(&xml);
        // Anarchism (page 1) loses its second half, so page 2 starts inside it.
        let mut cut = xml[..pages[1] + 5000].to_vec();
        cut.extend_from_slice(&xml[pages[2]..]);
        let records = read_bytes(cut, 1 << 16, MAX_DOC_BYTES);
        let s = summary(&records);
        assert_eq!(s.docs.len(), 105);
        assert_eq!(
            reasons(&s),
            vec![("malformed_xml".to_string(), pages[1] as u64)]
        );
        assert_eq!(s.rejects[0].id, "wikipedia/f/1");
        assert_eq!(s.rejects[0].rule, "ingest.wikipedia");
        assert!(s.rejects[0].text.as_deref().unwrap().starts_with("<page>"));
        assert_eq!(records.len(), 206);

        // Broken markup inside page 1, an invalid UTF-8 byte in page 11 (Autism).
        let mut broken = xml.clone();
        let title_end = pages[1] + memchr::memmem::find(&xml[pages[1]..], b"</title>").unwrap();
        broken[title_end..title_end + 8].copy_from_slice(b"</titel>");
        let text_at = pages[11] + memchr::memmem::find(&xml[pages[11]..], b"Autism is").unwrap();
        broken[text_at] = 0xFF;
        let records = read_bytes(broken, 1 << 16, MAX_DOC_BYTES);
        let s = summary(&records);
        assert_eq!(s.docs.len(), 104);
        assert_eq!(
            reasons(&s),
            vec![
                ("malformed_xml".to_string(), pages[1] as u64),
                ("invalid_utf8".to_string(), pages[11] as u64)
            ]
        );
        assert_eq!(records.len(), 206);
    }

    #[test]
    fn truncated_streams_end_with_one_reject() {
        let xml = enwiki_xml();
        let pages = page_offsets(&xml);
        // Plain XML cut inside page 12.
        let records = read_bytes(xml[..pages[12] + 100].to_vec(), 1 << 16, MAX_DOC_BYTES);
        let s = summary(&records);
        assert_eq!(records.len(), 13);
        assert_eq!(
            reasons(&s),
            vec![("truncated_input".to_string(), pages[12] as u64)]
        );
        // Cut between pages: the missing `</mediawiki>` is the evidence.
        let records = read_bytes(xml[..pages[12]].to_vec(), 1 << 16, MAX_DOC_BYTES);
        let s = summary(&records);
        assert_eq!(records.len(), 13);
        assert_eq!(
            reasons(&s),
            vec![("truncated_input".to_string(), pages[12] as u64)]
        );
        // Nothing at all.
        let records = read_bytes(Vec::new(), 1 << 16, MAX_DOC_BYTES);
        assert_eq!(
            reasons(&summary(&records)),
            vec![("truncated_input".to_string(), 0)]
        );

        // The bz2 file cut in half: the decoder fails inside a page.
        let bz2 = std::fs::read(ENWIKI).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.xml.bz2");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&bz2[..bz2.len() / 2])
            .unwrap();
        let records = read_file(path.to_str().unwrap());
        let s = summary(&records);
        assert!(s.docs.len() > 20 && s.docs.len() < 106, "{}", s.docs.len());
        assert_eq!(s.rejects.len(), 1);
        assert_eq!(s.rejects[0].reason, "truncated_input");
        assert!(matches!(records.last(), Some(Record::Reject(_))));
    }

    #[test]
    fn oversized_pages_are_rejected_without_being_held() {
        let xml = enwiki_xml();
        let pages = page_offsets(&xml);
        // Wikitext over max_doc_bytes: every article of 20 kB or more.
        let records = read_bytes(xml.clone(), 1 << 16, 20_000);
        let s = summary(&records);
        assert_eq!(records.len(), 206);
        assert!(s.rejects.iter().all(|j| j.reason == "too_large"));
        assert_eq!(s.docs.len() + s.rejects.len(), 106);
        assert!(s.docs.len() > 10 && s.rejects.len() > 10);

        // Page XML over 2 x max_doc_bytes + 1 MiB: skipped to its end, the next page is read.
        let mut huge = xml[..pages[2]].to_vec();
        huge.extend_from_slice(b"<page><title>Big</title><ns>0</ns><revision><text>");
        huge.extend(std::iter::repeat_n(b'a', 3 << 20));
        huge.extend_from_slice(b"</text></revision></page>\n");
        huge.extend_from_slice(&xml[pages[2]..]);
        let records = read_bytes(huge, 1 << 16, 1 << 19);
        let s = summary(&records);
        assert_eq!(records.len(), 207);
        assert_eq!(s.rejects[0].reason, "too_large");
        assert_eq!(s.rejects[0].offset, pages[2] as u64);
        assert_eq!(s.rejects[0].id, "wikipedia/f/2");
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let xml = enwiki_xml();
        let mut state = 0x2545_f491_u64;
        for _ in 0..20 {
            let mut bad = xml[..400_000].to_vec();
            for _ in 0..50 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % bad.len() as u64) as usize;
                bad[at] = (state >> 32) as u8;
            }
            let records = read_bytes(bad, 1 << 12, MAX_DOC_BYTES);
            assert!(!records.is_empty());
        }
        let mut bz2 = std::fs::read(ENWIKI).unwrap();
        bz2[100_000] ^= 0x55;
        let records = read_bytes(bz2, 1 << 16, MAX_DOC_BYTES);
        assert!(!records.is_empty());
    }

    /// Wiki syntax that must never reach a document: tables, templates, links and references.
    const MARKUP: [&str; 8] = ["{|", "|-", "|}", "{{", "}}", "[[", "]]", "<ref"];

    /// Every markup token of `text` with the text around it, except tokens inside the content of a
    /// `<math>` or `<nowiki>` element of the page (`verbatim`): the page shows that content as written,
    /// and TeX keeps its braces (`{{SS} \over {I-1}}`). Whitespace is ignored when locating that content,
    /// since the converter joins lines and collapses spaces.
    fn markup_hits(text: &str, verbatim: &[String]) -> Vec<String> {
        let kept: Vec<(usize, char)> = text
            .char_indices()
            .filter(|(_, c)| !c.is_whitespace())
            .collect();
        let squeezed: String = kept.iter().map(|(_, c)| *c).collect();
        let char_at: BTreeMap<usize, usize> = squeezed
            .char_indices()
            .enumerate()
            .map(|(k, (byte, _))| (byte, k))
            .collect();
        let mut covered = vec![false; text.len()];
        for content in verbatim {
            let needle: String = content.chars().filter(|c| !c.is_whitespace()).collect();
            if needle.is_empty() {
                continue;
            }
            for (at, _) in squeezed.match_indices(&needle) {
                let first = char_at[&at];
                for &(byte, c) in &kept[first..first + needle.chars().count()] {
                    covered[byte..byte + c.len_utf8()].fill(true);
                }
            }
        }
        let mut hits = Vec::new();
        for token in MARKUP {
            for (at, _) in text.match_indices(token) {
                if covered[at..at + token.len()].iter().all(|&c| c) {
                    continue;
                }
                let from = text.floor_char_boundary(at.saturating_sub(40));
                let to = text.ceil_char_boundary((at + token.len() + 40).min(text.len()));
                hits.push(format!("{token} in {:?}", &text[from..to]));
            }
        }
        hits
    }

    /// The contents of the `<name>` elements of a page's wikitext (self-closing ones have none).
    fn element_contents(wikitext: &str, name: &str) -> Vec<String> {
        let lower = wikitext.to_ascii_lowercase();
        let (open, close) = (format!("<{name}"), format!("</{name}"));
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(at) = lower[from..].find(&open).map(|i| from + i) {
            from = at + open.len();
            let Some(gt) = lower[from..].find('>').map(|i| from + i) else {
                break;
            };
            if !lower[from..].starts_with([' ', '\t', '\n', '>', '/']) || lower[..gt].ends_with('/')
            {
                continue;
            }
            let Some(end) = lower[gt..].find(&close).map(|i| gt + i) else {
                break;
            };
            out.push(wikitext[gt + 1..end].to_string());
            from = end;
        }
        out
    }

    /// Each page of a dump by title: its wikitext (every revision, joined) and the `<math>` and
    /// `<nowiki>` contents it shows as written.
    fn page_sources(xml: &[u8]) -> BTreeMap<String, (String, Vec<String>)> {
        let xml = String::from_utf8_lossy(xml);
        let mut pages = BTreeMap::new();
        for page in xml.split("<page>").skip(1) {
            let between = |open: &str, close: &str| -> Option<String> {
                let start = page.find(open)? + open.len();
                let end = start + page[start..].find(close)?;
                Some(
                    quick_xml::escape::unescape(&page[start..end])
                        .ok()?
                        .into_owned(),
                )
            };
            let Some(title) = between("<title>", "</title>") else {
                continue;
            };
            let mut wikitext = String::new();
            for revision in page.split("<text").skip(1) {
                let Some(gt) = revision.find('>') else {
                    continue;
                };
                if revision[..gt].ends_with('/') {
                    continue;
                }
                let body = &revision[gt + 1..];
                let end = body.find("</text>").unwrap_or(body.len());
                wikitext.push_str(&quick_xml::escape::unescape(&body[..end]).unwrap());
                wikitext.push('\n');
            }
            let mut verbatim = element_contents(&wikitext, "math");
            verbatim.extend(element_contents(&wikitext, "nowiki"));
            pages.insert(normalize_text(&title), (wikitext, verbatim));
        }
        pages
    }

    /// Runs the detector over the documents of one dump. Returns one line per hit, naming the dump,
    /// the page and the snippet, and the number of documents whose wikitext has markup for it to find.
    fn leaks(name: &str, xml: &[u8], records: &[Record]) -> (Vec<String>, usize, usize) {
        let sources = page_sources(xml);
        let (mut found, mut docs, mut raw_with_markup) = (Vec::new(), 0, 0);
        for doc in summary(records).docs {
            docs += 1;
            let title = doc.title.clone().unwrap_or_default();
            let Some((wikitext, verbatim)) = sources.get(&title) else {
                found.push(format!("{name}: no wikitext found for page {title:?}"));
                continue;
            };
            if !markup_hits(wikitext, &[]).is_empty() {
                raw_with_markup += 1;
            }
            for hit in markup_hits(&doc.text, verbatim) {
                found.push(format!("{name}: page {title:?}: {hit}"));
            }
        }
        (found, docs, raw_with_markup)
    }

    /// Pages whose tables parse-wiki-text does not take as tables, or whose markup it leaves as text.
    fn markup_the_parser_misses() -> String {
        let pages: [(&str, &str); 9] = [
            (
                "Bang header row",
                "The cast was announced in May.\n\
                 :{| class=\"wikitable\" style=\"text-align:center\"\n\
                 |+ Cast\n\
                 |-\n\
                 ! colspan=\"2\" ! colspan=\"1\" rowspan=\"2\"|Actor !! Character !! Notes\n\
                 |-\n\
                 ! Film !! TV\n\
                 |-\n\
                 | rowspan=\"2\" | [[Tom Hanks]] || colspan=\"2\" | Woody || ''lead''\n\
                 |}\n\
                 Filming began in June.",
            ),
            (
                "Nested tables",
                "Results by round.\n\
                 ::{| class=\"wikitable\"\n\
                 |-\n\
                 ! Round !! Detail\n\
                 |-\n\
                 | 1 ||\n\
                 {| class=\"wikitable\"\n\
                 |-\n\
                 | inner [[cell]] || {{flag|FRA}}\n\
                 |}\n\
                 |-\n\
                 | 2 || x\n\
                 |}\n\
                 The final was in Paris.",
            ),
            (
                "Unclosed table",
                "The list is incomplete.\n\
                 {| class=\"wikitable\"\n\
                 ! Year !! Title\n\
                 |-\n\
                 | 1999 || [[Film|A film]]\n\
                 |-\n\
                 | 2001 || Another",
            ),
            (
                "Unclosed table before a section",
                "Intro text.\n\
                 {| class=\"wikitable\"\n\
                 ! Year !! Title\n\
                 |-\n\
                 | 1999 || A film\n\
                 \n\
                 == Later life ==\n\
                 He retired in 2005.",
            ),
            (
                "Table in template leftovers",
                "{{Infobox film\n\
                 | name = X\n\
                 | cast =\n\
                 {| class=\"wikitable\"\n\
                 ! A !! B\n\
                 |-\n\
                 | x || y\n\
                 |}}}\n\
                 {{Infobox person\n\
                 | name = [[Y]]\n\
                 X is a 1999 film.\n\
                 |}\n\
                 |-\n\
                 It was a success.",
            ),
            (
                "Unclosed reference and link",
                "It sold well.<ref>{{cite web |url=http://x.test |title=T}} Sales figures\n\n\
                 See [[Sales figures for more.\n\n\
                 Another ]] stray and }} stray and <references />.",
            ),
            (
                "Filmografie",
                "Sie spielte in mehreren Filmen.\n\
                 : {| class=\"wikitable sortable\"\n\
                 |+ Filmografie (Auswahl)\n\
                 |- class=\"hintergrundfarbe5\"\n\
                 ! Jahr !! Titel !! Rolle\n\
                 |-\n\
                 | 1999 || [[Der Film]] || Hauptrolle [[Datei:Bild.jpg|mini|Ein Bild]]\n\
                 |}\n\
                 [[Kategorie:Schauspieler]]\n\
                 Sie lebt in Berlin.",
            ),
            (
                "Filmographie",
                "Elle a tourné plusieurs films.\n\
                 {| class=\"wikitable centré\"\n\
                 |+ Légende\n\
                 |-\n\
                 ! Année !! Titre\n\
                 |-\n\
                 | 1999 || ''Film'' [[Paris|ville]]\n\
                 |}\n\
                 |}\n\
                 Elle vit à Paris.",
            ),
            (
                "Фильмография",
                "Снималась в кино.\n\
                 ::{| class=\"wikitable\"\n\
                 ! Год !! Название\n\
                 |-\n\
                 | 1999 || [[Фильм]]\n\
                 |}\n\
                 Живёт в Москве.",
            ),
        ];
        let mut xml = String::from(
            "<mediawiki xml:lang=\"de\">\n<siteinfo><dbname>dewiki</dbname>\
             <base>https://de.wikipedia.org/wiki/Wikipedia:Hauptseite</base><namespaces>\
             <namespace key=\"0\" /><namespace key=\"6\">Datei</namespace>\
             <namespace key=\"14\">Kategorie</namespace></namespaces></siteinfo>\n",
        );
        for (id, (title, wikitext)) in pages.iter().enumerate() {
            xml.push_str(&format!(
                "<page><title>{}</title><ns>0</ns><id>{id}</id><revision><id>{id}</id>\
                 <text xml:space=\"preserve\">{}</text></revision></page>\n",
                quick_xml::escape::escape(*title),
                quick_xml::escape::escape(*wikitext)
            ));
        }
        xml.push_str("</mediawiki>\n");
        xml
    }

    #[test]
    fn no_page_leaks_wiki_markup() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/wiki");
        let mut dumps: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dumps.sort();
        let mut found = Vec::new();
        for path in &dumps {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let mut xml = Vec::new();
            let file = std::fs::File::open(path).unwrap();
            if name.ends_with(".bz2") {
                bzip2::read::MultiBzDecoder::new(file).read_to_end(&mut xml)
            } else if name.ends_with(".gz") {
                flate2::read::MultiGzDecoder::new(file).read_to_end(&mut xml)
            } else {
                std::io::BufReader::new(file).read_to_end(&mut xml)
            }
            .unwrap();
            let records = read_file(path.to_str().unwrap());
            let (leaks, docs, raw_with_markup) = leaks(&name, &xml, &records);
            assert!(docs > 0, "{name}: no documents");
            // The dumps hold markup for the detector to find (the enwiki sample on nearly every page).
            if name.starts_with("enwiki") {
                assert!(raw_with_markup * 10 > docs * 9, "{name}: {raw_with_markup}");
            }
            found.extend(leaks);
        }
        assert!(dumps.len() >= 2, "{dumps:?}");

        let xml = markup_the_parser_misses();
        let records = read_bytes(xml.clone().into_bytes(), 1 << 16, MAX_DOC_BYTES);
        let (leaks, docs, raw_with_markup) = leaks("generated", xml.as_bytes(), &records);
        assert_eq!(
            (docs, raw_with_markup),
            (9, 9),
            "every generated page has markup to find"
        );
        found.extend(leaks);
        assert!(
            found.is_empty(),
            "{} hits:\n{}",
            found.len(),
            found.join("\n")
        );
    }
}

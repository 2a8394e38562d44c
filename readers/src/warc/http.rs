//! The HTTP payload of a WARC `response` record: status line and headers, chunked transfer coding,
//! gzip/deflate content coding, and the charset (BOM, `Content-Type`, `<meta charset>`, detection).

use std::io::Read;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::Encoding;
use flate2::bufread::{MultiGzDecoder, ZlibDecoder};

use super::framing::find_all;
use super::{DETECT_BYTES, META_SCAN_BYTES};

/// The HTTP response inside a `response` record's block.
pub(super) struct HttpResponse<'a> {
    pub(super) status: Option<u16>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) payload: &'a [u8],
}

impl<'a> HttpResponse<'a> {
    /// Parses a status line and header; tolerant of bare LF line ends, junk lines and a missing reason.
    pub(super) fn parse(block: &'a [u8]) -> Option<Self> {
        let block = block.trim_ascii_start();
        if !block.starts_with(b"HTTP/") {
            return None;
        }
        let mut end = None;
        let mut at = 0;
        while let Some(i) = block[at..].iter().position(|&b| b == b'\n') {
            let nl = at + i;
            match &block[nl + 1..] {
                [b'\n', ..] => {
                    end = Some((nl, nl + 2));
                    break;
                }
                [b'\r', b'\n', ..] => {
                    end = Some((nl, nl + 3));
                    break;
                }
                _ => at = nl + 1,
            }
        }
        // A header without the blank line after it is a response with no payload (e.g. cut by truncation).
        let (head_end, body_start) = end.unwrap_or((block.len(), block.len()));
        let head = String::from_utf8_lossy(&block[..head_end]);
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u16>().ok());
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Some(HttpResponse {
            status,
            headers,
            payload: &block[body_start..],
        })
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Joins a chunked payload (RFC 9112 §7.1); `None` when it is not chunked after all. A payload cut inside a
/// chunk (Common Crawl truncates long records) keeps what is there.
pub(super) fn dechunk(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        let nl = rest.iter().position(|&b| b == b'\n')?;
        let line = String::from_utf8_lossy(&rest[..nl]);
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        rest = &rest[nl + 1..];
        if size == 0 {
            return Some(out);
        }
        if size >= rest.len() {
            out.extend_from_slice(rest);
            return Some(out);
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        rest = rest.strip_prefix(b"\r").unwrap_or(rest);
        rest = rest.strip_prefix(b"\n").unwrap_or(rest);
        if rest.is_empty() {
            return Some(out);
        }
    }
}

/// Undoes an HTTP content coding: `Ok(None)` when there is nothing to undo (identity, or a payload the
/// crawler already decoded), `Err((reason, detail))` when it cannot be undone.
pub(super) fn decode_content(
    coding: &str,
    payload: &[u8],
    limit: u64,
) -> Result<Option<Vec<u8>>, (&'static str, String)> {
    let coding = coding.trim().to_ascii_lowercase();
    let reader: Box<dyn Read + '_> = match coding.as_str() {
        "" | "identity" | "none" => return Ok(None),
        "gzip" | "x-gzip" if payload.starts_with(&[0x1f, 0x8b]) => {
            Box::new(MultiGzDecoder::new(payload))
        }
        "gzip" | "x-gzip" => return Ok(None),
        // A zlib wrapper (RFC 1950 header check), which most servers send; raw deflate otherwise.
        "deflate"
            if payload.len() >= 2
                && payload[0] & 0x0f == 8
                && u16::from_be_bytes([payload[0], payload[1]]).is_multiple_of(31) =>
        {
            Box::new(ZlibDecoder::new(payload))
        }
        "deflate" => Box::new(flate2::bufread::DeflateDecoder::new(payload)),
        other => {
            let shown: String = other.chars().take(40).collect();
            return Err((
                "unsupported_content_encoding",
                format!("Content-Encoding '{shown}' is not supported"),
            ));
        }
    };
    let mut out = Vec::new();
    let read = reader.take(limit + 1).read_to_end(&mut out);
    if out.len() as u64 > limit {
        return Err((
            "too_large",
            format!("{coding} payload expands beyond {limit} bytes"),
        ));
    }
    match read {
        Ok(_) => Ok(Some(out)),
        // A payload cut by crawl truncation still gives the text before the cut.
        Err(_) if !out.is_empty() => Ok(Some(out)),
        Err(e) => Err((
            "bad_content_encoding",
            format!("{coding} payload does not decode: {e}"),
        )),
    }
}

/// The media type of a `Content-Type` value, lower case, without parameters.
pub(super) fn mime_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The `charset` parameter of a `Content-Type` value.
pub(super) fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']).to_string())
    })
}

/// Whether an untyped payload looks like HTML.
pub(super) fn sniff_html(payload: &[u8]) -> bool {
    let start = payload
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(payload.len());
    let head = payload[start..payload.len().min(start + 64)].to_ascii_lowercase();
    [&b"<!doctype html"[..], b"<html", b"<head", b"<body"]
        .iter()
        .any(|p| head.starts_with(p))
}

/// A payload decoded to UTF-8.
pub(super) struct DecodedText {
    pub(super) text: String,
    pub(super) encoding: &'static Encoding,
    /// U+FFFD characters the decoder put in for bytes that did not decode.
    pub(super) replaced: usize,
}

/// Decodes a payload: BOM, then the declared charset (HTTP, then `<meta>`), then detection. A declared
/// charset under which more than 0.1% of the text does not decode is overruled by detection when that does
/// better (servers often declare UTF-8 for Latin-1 pages).
pub(super) fn decode_text(
    payload: &[u8],
    http_charset: Option<&str>,
    is_html: bool,
    url: Option<&str>,
) -> DecodedText {
    if let Some((encoding, bom)) = Encoding::for_bom(payload) {
        return decode_with(encoding, &payload[bom..]);
    }
    let declared = http_charset
        .and_then(|l| Encoding::for_label(l.as_bytes()))
        .or_else(|| is_html.then(|| meta_charset(payload)).flatten());
    let first = match declared.map(|e| decode_with(e.output_encoding(), payload)) {
        Some(d) if d.replaced * 1000 <= d.text.len() => return d,
        other => other,
    };
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(&payload[..payload.len().min(DETECT_BYTES)], true);
    let guessed = detector.guess(
        url.and_then(tld).as_deref().map(str::as_bytes),
        Utf8Detection::Allow,
    );
    let second = decode_with(guessed, payload);
    match first {
        Some(d) if d.replaced <= second.replaced => d,
        _ => second,
    }
}

pub(super) fn decode_with(encoding: &'static Encoding, bytes: &[u8]) -> DecodedText {
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    let replaced = if had_errors {
        text.chars()
            .filter(|&c| c == char::REPLACEMENT_CHARACTER)
            .count()
    } else {
        0
    };
    DecodedText {
        text: text.into_owned(),
        encoding,
        replaced,
    }
}

/// The charset a page declares in `<meta charset=...>` or `<meta http-equiv content="...; charset=...">`.
pub(super) fn meta_charset(html: &[u8]) -> Option<&'static Encoding> {
    let head = html[..html.len().min(META_SCAN_BYTES)].to_ascii_lowercase();
    for at in find_all(&head, b"<meta") {
        let tag = &head[at..];
        let tag = &tag[..tag.iter().position(|&b| b == b'>').unwrap_or(tag.len())];
        let Some(c) = find_all(tag, b"charset").next() else {
            continue;
        };
        let rest = &tag[c + b"charset".len()..];
        let rest = rest.trim_ascii_start();
        let Some(rest) = rest.strip_prefix(b"=") else {
            continue;
        };
        let rest = rest.trim_ascii_start();
        let rest = rest
            .strip_prefix(b"\"")
            .or_else(|| rest.strip_prefix(b"'"))
            .unwrap_or(rest);
        let end = rest
            .iter()
            .position(|&b| {
                matches!(b, b'"' | b'\'' | b';' | b'/' | b'>') || b.is_ascii_whitespace()
            })
            .unwrap_or(rest.len());
        if let Some(encoding) = Encoding::for_label(&rest[..end]) {
            return Some(encoding);
        }
    }
    None
}

/// The top-level domain of a URL in the form `chardetng` wants (lower-case ASCII, no dot), when it has one.
pub(super) fn tld(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next()?;
    let label = host
        .trim_end_matches('.')
        .rsplit('.')
        .next()?
        .to_ascii_lowercase();
    (!label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    .then_some(label)
}

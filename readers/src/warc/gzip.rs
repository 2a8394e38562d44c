//! The decompressed byte stream of a WARC or WET file: gzip decoded member by member, a corrupt or
//! truncated member reported as a [`Break`] and skipped to the next member header, decompression bombs
//! stopped, plain files passed through.

use std::io::{BufRead, Read};

use flate2::bufread::GzDecoder;

use super::{BOMB_FLOOR, BOMB_RATIO, DECODE_CHUNK, MAX_HEADER_LINE, RAW_BUFFER};

/// Why the decompressed stream has a seam: a gzip member that did not decode, or a read that failed.
#[derive(Debug)]
pub(super) struct Break {
    /// Reject reason: `corrupt_gzip`, `truncated_gzip`, `decompression_bomb` or `read_error`.
    pub(super) reason: &'static str,
    pub(super) detail: String,
    /// Decompressed offset where the broken member began: a record that started before it and ends after
    /// it is damaged.
    pub(super) member_start: u64,
    /// The file cannot be read further.
    pub(super) fatal: bool,
}

/// What one read of the underlying bytes gave.
pub(super) enum Step {
    Data(usize),
    End,
    Break(Break),
}

/// The raw file bytes, buffered, with their offset.
pub(super) struct RawInput {
    pub(super) inner: Box<dyn BufRead + Send>,
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    /// File offset of `buf[start]`.
    pub(super) offset: u64,
    pub(super) eof: bool,
    pub(super) error: Option<String>,
    /// Buffer index and file offset of the gzip member being decoded, kept while it fits in the buffer so
    /// that a member found broken can be rescanned from its start for the next header.
    pub(super) mark: Option<(usize, u64)>,
}

impl RawInput {
    pub(super) fn new(inner: Box<dyn BufRead + Send>) -> Self {
        RawInput {
            inner,
            buf: vec![0; RAW_BUFFER],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            error: None,
            mark: None,
        }
    }

    /// At least `n` buffered bytes (`n` <= [`RAW_BUFFER`]) unless the file ends first.
    pub(super) fn fill_at_least(&mut self, n: usize) -> &[u8] {
        while self.end - self.start < n && !self.eof {
            if self.end == self.buf.len() {
                let from = match self.mark {
                    Some((m, _)) if m > 0 => m,
                    _ => {
                        // No mark, or the marked member fills the whole buffer: it can no longer be rescanned.
                        self.mark = None;
                        self.start
                    }
                };
                if from == 0 {
                    break;
                }
                self.buf.copy_within(from..self.end, 0);
                self.end -= from;
                self.start -= from;
                self.mark = self.mark.map(|(m, o)| (m - from, o));
            }
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e.to_string());
                    self.eof = true;
                }
            }
        }
        &self.buf[self.start..self.end]
    }

    pub(super) fn advance(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }

    /// Remembers the current position as the start of a gzip member.
    pub(super) fn set_mark(&mut self) {
        self.mark = Some((self.start, self.offset));
    }

    /// Goes back to the marked member start when it is still buffered (and forgets the mark).
    pub(super) fn rewind(&mut self) -> bool {
        match self.mark.take() {
            Some((m, offset)) => {
                self.start = m;
                self.offset = offset;
                true
            }
            None => false,
        }
    }

    /// Skips to the next gzip member header (or the end); returns the bytes skipped.
    pub(super) fn skip_to_member(&mut self) -> u64 {
        let mut skipped = 0u64;
        loop {
            let buf = self.fill_at_least(4);
            if buf.len() < 4 {
                let n = buf.len();
                self.advance(n);
                return skipped + n as u64;
            }
            // Search all but the last 3 bytes, which may begin a header that continues past the buffer.
            let found = (1..buf.len() - 3).find(|&i| is_gzip_member(&buf[i..]));
            let n = found.unwrap_or(buf.len() - 3);
            self.advance(n);
            skipped += n as u64;
            if found.is_some() {
                return skipped;
            }
        }
    }

    pub(super) fn failure(&mut self) -> Option<Break> {
        self.error.take().map(|e| Break {
            reason: "read_error",
            detail: format!("reading the file failed at byte {}: {e}", self.offset),
            member_start: 0,
            fatal: true,
        })
    }
}

impl Read for RawInput {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.fill_buf()?.len().min(out.len());
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.advance(n);
        Ok(n)
    }
}

impl BufRead for RawInput {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.fill_at_least(1).is_empty()
            && let Some(e) = &self.error
        {
            return Err(std::io::Error::other(e.clone()));
        }
        Ok(&self.buf[self.start..self.end])
    }

    fn consume(&mut self, amt: usize) {
        self.advance(amt);
    }
}

/// A gzip member header: magic, deflate, no reserved flag bits (RFC 1952 §2.3).
pub(super) fn is_gzip_member(b: &[u8]) -> bool {
    matches!(b, [0x1f, 0x8b, 0x08, flags, ..] if flags & 0xe0 == 0)
}

/// Gzip members decoded one at a time, so a broken one is reported and skipped.
pub(super) struct GzSource {
    pub(super) state: GzState,
    /// Decompressed bytes produced so far.
    pub(super) produced: u64,
    /// Compressed and decompressed offsets where the current member began, and its output so far.
    pub(super) member_raw: u64,
    pub(super) member_start: u64,
    pub(super) member_out: u64,
    /// A break was reported and no member has produced data since: further breaks join it.
    pub(super) quiet: bool,
}

pub(super) enum GzState {
    Between(RawInput),
    Inside(Box<GzDecoder<RawInput>>),
    Gone,
}

impl GzSource {
    pub(super) fn new(raw: RawInput) -> Self {
        GzSource {
            state: GzState::Between(raw),
            produced: 0,
            member_raw: 0,
            member_start: 0,
            member_out: 0,
            quiet: false,
        }
    }

    pub(super) fn broken(
        &mut self,
        reason: &'static str,
        detail: String,
        member_start: u64,
    ) -> Option<Step> {
        if self.quiet {
            return None;
        }
        self.quiet = true;
        Some(Step::Break(Break {
            reason,
            detail,
            member_start,
            fatal: false,
        }))
    }

    pub(super) fn read(&mut self, out: &mut [u8]) -> Step {
        loop {
            match std::mem::replace(&mut self.state, GzState::Gone) {
                GzState::Gone => return Step::End,
                GzState::Between(mut raw) => {
                    let head = raw.fill_at_least(4);
                    if head.is_empty() {
                        if let Some(b) = raw.failure() {
                            return Step::Break(b);
                        }
                        self.state = GzState::Between(raw);
                        return Step::End;
                    }
                    if is_gzip_member(head) {
                        raw.set_mark();
                        self.member_raw = raw.offset;
                        self.member_start = self.produced;
                        self.member_out = 0;
                        self.state = GzState::Inside(Box::new(GzDecoder::new(raw)));
                        continue;
                    }
                    let at = raw.offset;
                    let skipped = raw.skip_to_member();
                    self.state = GzState::Between(raw);
                    let detail = format!("{skipped} bytes at byte {at} are not a gzip member");
                    if let Some(step) = self.broken("corrupt_gzip", detail, self.produced) {
                        return step;
                    }
                }
                GzState::Inside(mut dec) => match dec.read(out) {
                    Ok(0) => {
                        let mut raw = dec.into_inner();
                        raw.mark = None;
                        self.state = GzState::Between(raw);
                    }
                    Ok(n) => {
                        self.produced += n as u64;
                        self.member_out += n as u64;
                        self.quiet = false;
                        let used = dec.get_ref().offset - self.member_raw;
                        if self.member_out > BOMB_FLOOR
                            && self.member_out > used.saturating_mul(BOMB_RATIO)
                        {
                            let mut raw = dec.into_inner();
                            raw.mark = None;
                            raw.skip_to_member();
                            self.state = GzState::Between(raw);
                            let detail = format!(
                                "gzip member at byte {} expanded {} bytes to over {}",
                                self.member_raw, used, self.member_out
                            );
                            // Not quiet: the bomb's output was handed on, so the break must be reported.
                            return Step::Break(Break {
                                reason: "decompression_bomb",
                                detail,
                                member_start: self.member_start,
                                fatal: false,
                            });
                        }
                        self.state = GzState::Inside(dec);
                        return Step::Data(n);
                    }
                    Err(e) => {
                        let mut raw = dec.into_inner();
                        if let Some(b) = raw.failure() {
                            return Step::Break(b);
                        }
                        let reason = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                            "truncated_gzip"
                        } else {
                            "corrupt_gzip"
                        };
                        let detail = format!("gzip member at byte {}: {e}", self.member_raw);
                        // A corrupt header can make the decoder run far past the member's real end: look
                        // for the next member from just after this one's start when it is still buffered.
                        if raw.rewind() {
                            raw.advance(1);
                        }
                        raw.skip_to_member();
                        self.state = GzState::Between(raw);
                        if let Some(step) = self.broken(reason, detail, self.member_start) {
                            return step;
                        }
                    }
                },
            }
        }
    }
}

/// Where the decompressed bytes come from.
pub(super) enum Source {
    Plain(RawInput),
    Gzip(GzSource),
}

impl Source {
    pub(super) fn read(&mut self, out: &mut [u8]) -> Step {
        match self {
            Source::Gzip(gz) => gz.read(out),
            Source::Plain(raw) => {
                let n = raw.fill_at_least(1).len().min(out.len());
                if n == 0 {
                    return match raw.failure() {
                        Some(b) => Step::Break(b),
                        None => Step::End,
                    };
                }
                out[..n].copy_from_slice(&raw.buf[raw.start..raw.start + n]);
                raw.advance(n);
                Step::Data(n)
            }
        }
    }
}

/// The decompressed stream, buffered for look-ahead. It never hands out bytes past a [`Break`]: the parser
/// sees the data end there, takes the break (a reject), and reading goes on after it.
pub(super) struct Decoded {
    pub(super) source: Source,
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    /// Decompressed offset of `buf[start]`.
    pub(super) offset: u64,
    pub(super) pending: Option<Break>,
    pub(super) eof: bool,
}

impl Decoded {
    pub(super) fn new(source: Source) -> Self {
        Decoded {
            source,
            buf: vec![0; 2 * DECODE_CHUNK],
            start: 0,
            end: 0,
            offset: 0,
            pending: None,
            eof: false,
        }
    }

    /// At least `want` buffered bytes, unless the data ends (or breaks) first.
    pub(super) fn fill(&mut self, want: usize) -> &[u8] {
        while self.end - self.start < want && self.pending.is_none() && !self.eof {
            if self.buf.len() - self.end < DECODE_CHUNK {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                let size = (self.end + DECODE_CHUNK).max(want + DECODE_CHUNK);
                if self.buf.len() < size {
                    self.buf.resize(size, 0);
                }
            }
            match self.source.read(&mut self.buf[self.end..]) {
                Step::Data(n) => self.end += n,
                Step::End => self.eof = true,
                Step::Break(b) => self.pending = Some(b),
            }
        }
        &self.buf[self.start..self.end]
    }

    /// The first `n` buffered bytes (after a `fill` that made them available).
    pub(super) fn peek(&self, n: usize) -> &[u8] {
        &self.buf[self.start..(self.start + n).min(self.end)]
    }

    pub(super) fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
        if self.start == self.end && self.buf.len() > 4 * DECODE_CHUNK + MAX_HEADER_LINE {
            // A pushed-back body made the buffer large: give the memory back.
            self.buf = vec![0; 2 * DECODE_CHUNK];
            self.start = 0;
            self.end = 0;
        }
    }

    pub(super) fn pending(&self) -> Option<&Break> {
        self.pending.as_ref()
    }

    /// Takes the break the data stops at, once the bytes before it are consumed.
    pub(super) fn take_break(&mut self) -> Option<Break> {
        if self.start < self.end {
            return None;
        }
        let b = self.pending.take();
        if b.as_ref().is_some_and(|b| b.fatal) {
            self.eof = true;
        }
        b
    }

    /// Takes a pending break whose member began before `offset` (so it damaged the bytes before `offset`).
    pub(super) fn take_break_before(&mut self, offset: u64) -> Option<Break> {
        let at_break = self.start == self.end;
        if at_break
            && self
                .pending
                .as_ref()
                .is_some_and(|b| b.member_start < offset && !b.fatal)
        {
            self.pending.take()
        } else {
            None
        }
    }

    /// Puts bytes back in front of the stream (a record start found inside an overrunning body).
    pub(super) fn unread(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n <= self.start {
            self.start -= n;
            self.buf[self.start..self.start + n].copy_from_slice(bytes);
        } else {
            let mut buf = Vec::with_capacity(n + (self.end - self.start) + DECODE_CHUNK);
            buf.extend_from_slice(bytes);
            buf.extend_from_slice(&self.buf[self.start..self.end]);
            self.end = buf.len();
            self.start = 0;
            buf.resize(self.end + DECODE_CHUNK, 0);
            self.buf = buf;
        }
        self.offset -= n as u64;
    }
}

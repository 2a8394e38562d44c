//! Streaming shard writer: header first (the token count is known up front), then the payload.
//!
//! Writing the count first keeps the writer append-only, which is what object storage multipart uploads
//! need; [`ShardWriter::finish`] refuses to close a shard whose payload does not match its header.

use std::io::Write;

use xxhash_rust::xxh3::Xxh3;

use crate::{HEADER_BYTES, ShardError, ShardHeader, TokenWidth};

/// Checksums and size of a finished shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSummary {
    /// Tokens in the payload.
    pub tokens: u64,
    /// Total bytes written, header included.
    pub bytes: u64,
    /// xxh3-64 of the payload (tokens only), as recorded in the manifest.
    pub payload_xxh3: u64,
    /// xxh3-64 of the whole file, as recorded in completion markers.
    pub file_xxh3: u64,
}

/// Writes one shard of a known token count to any `Write` sink.
pub struct ShardWriter<W: Write> {
    out: W,
    header: ShardHeader,
    written: u64,
    buf: Vec<u8>,
    payload_hash: Xxh3,
    file_hash: Xxh3,
}

const FLUSH_BYTES: usize = 1 << 20;

impl<W: Write> ShardWriter<W> {
    /// Starts a shard that will hold exactly `tokens` tokens of the given width.
    pub fn new(mut out: W, width: TokenWidth, tokens: u64) -> Result<Self, ShardError> {
        let header = ShardHeader { width, tokens };
        let head = header.encode()?;
        out.write_all(&head)?;
        let mut file_hash = Xxh3::new();
        file_hash.update(&head);
        Ok(ShardWriter {
            out,
            header,
            written: 0,
            buf: Vec::with_capacity(FLUSH_BYTES + 4 * 1024),
            payload_hash: Xxh3::new(),
            file_hash,
        })
    }

    /// Appends tokens; fails if one does not fit the width or the shard would overflow its header count.
    pub fn push(&mut self, tokens: &[u32]) -> Result<(), ShardError> {
        let after = self.written + tokens.len() as u64;
        if after > self.header.tokens {
            return Err(ShardError::SizeMismatch {
                tokens: self.header.tokens,
                expected: self.header.file_bytes(),
                actual: HEADER_BYTES as u64 + after * self.header.width.bytes() as u64,
            });
        }
        let width = self.header.width;
        for &t in tokens {
            match width {
                TokenWidth::U16 => {
                    let t16 = u16::try_from(t)
                        .map_err(|_| ShardError::TokenTooWide { token: t, width })?;
                    self.buf.extend_from_slice(&t16.to_le_bytes());
                }
                TokenWidth::U32 => self.buf.extend_from_slice(&t.to_le_bytes()),
            }
            if self.buf.len() >= FLUSH_BYTES {
                self.flush_buf()?;
            }
        }
        self.written = after;
        Ok(())
    }

    fn flush_buf(&mut self) -> Result<(), ShardError> {
        self.payload_hash.update(&self.buf);
        self.file_hash.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Tokens pushed so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes the payload and returns the sink with the shard's checksums.
    pub fn finish(mut self) -> Result<(W, ShardSummary), ShardError> {
        if self.written != self.header.tokens {
            return Err(ShardError::SizeMismatch {
                tokens: self.header.tokens,
                expected: self.header.file_bytes(),
                actual: HEADER_BYTES as u64 + self.written * self.header.width.bytes() as u64,
            });
        }
        self.flush_buf()?;
        self.out.flush()?;
        let summary = ShardSummary {
            tokens: self.written,
            bytes: self.header.file_bytes(),
            payload_xxh3: self.payload_hash.digest(),
            file_xxh3: self.file_hash.digest(),
        };
        Ok((self.out, summary))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::read_shard;

    #[test]
    fn writes_llmc_layout_and_reads_back() {
        let tokens: Vec<u32> = (0..5000u32).map(|i| (i * 7919) % 50257).collect();
        let mut w = ShardWriter::new(Vec::new(), TokenWidth::U16, tokens.len() as u64).unwrap();
        w.push(&tokens[..1234]).unwrap();
        w.push(&tokens[1234..]).unwrap();
        let (bytes, summary) = w.finish().unwrap();
        assert_eq!(bytes.len() as u64, 1024 + 2 * 5000);
        assert_eq!(summary.bytes, bytes.len() as u64);
        assert_eq!(summary.file_xxh3, xxhash_rust::xxh3::xxh3_64(&bytes));
        assert_eq!(
            summary.payload_xxh3,
            xxhash_rust::xxh3::xxh3_64(&bytes[1024..])
        );
        assert_eq!(
            u16::from_le_bytes([bytes[1024 + 2], bytes[1024 + 3]]) as u32,
            tokens[1]
        );
        let (header, back) = read_shard(&bytes).unwrap();
        assert_eq!(header.tokens, 5000);
        assert_eq!(back, tokens);
    }

    #[test]
    fn refuses_wrong_counts_and_wide_tokens() {
        let mut w = ShardWriter::new(Vec::new(), TokenWidth::U16, 3).unwrap();
        assert!(matches!(
            w.push(&[70000]),
            Err(ShardError::TokenTooWide { .. })
        ));
        w.push(&[1, 2]).unwrap();
        assert!(w.push(&[3, 4]).is_err());
        assert!(w.finish().is_err());

        let mut w = ShardWriter::new(Vec::new(), TokenWidth::U32, 1).unwrap();
        w.push(&[100_000]).unwrap();
        let (bytes, _) = w.finish().unwrap();
        assert_eq!(read_shard(&bytes).unwrap().1, vec![100_000]);
    }
}

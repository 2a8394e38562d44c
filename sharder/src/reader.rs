//! Validating shard reader over bytes already in memory (a fetched object or a memory map).

use crate::{HEADER_BYTES, ShardError, ShardHeader, TokenWidth};

/// A validated view of one shard's bytes.
#[derive(Debug, Clone, Copy)]
pub struct ShardReader<'a> {
    header: ShardHeader,
    payload: &'a [u8],
}

impl<'a> ShardReader<'a> {
    /// Checks the header and that the size is exactly header + tokens x width, as llm.c's loader does.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ShardError> {
        let header = ShardHeader::decode(bytes)?;
        if bytes.len() as u64 != header.file_bytes() {
            return Err(ShardError::SizeMismatch {
                tokens: header.tokens,
                expected: header.file_bytes(),
                actual: bytes.len() as u64,
            });
        }
        Ok(ShardReader {
            header,
            payload: &bytes[HEADER_BYTES..],
        })
    }

    /// The shard's header.
    pub fn header(&self) -> ShardHeader {
        self.header
    }

    /// Number of tokens in the payload.
    pub fn len(&self) -> usize {
        self.header.tokens as usize
    }

    /// True when the payload holds no tokens.
    pub fn is_empty(&self) -> bool {
        self.header.tokens == 0
    }

    /// The raw payload bytes (little-endian tokens).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Token `i`; `None` past the end.
    pub fn get(&self, i: usize) -> Option<u32> {
        let w = self.header.width.bytes();
        let b = self.payload.get(i * w..(i + 1) * w)?;
        Some(match self.header.width {
            TokenWidth::U16 => u16::from_le_bytes([b[0], b[1]]) as u32,
            TokenWidth::U32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        })
    }

    /// Copies tokens `[start, start + out.len())` into `out`; fails past the end.
    pub fn read_into(&self, start: usize, out: &mut [u32]) -> Result<(), ShardError> {
        let end = start + out.len();
        if end > self.len() {
            return Err(ShardError::SizeMismatch {
                tokens: self.header.tokens,
                expected: self.header.file_bytes(),
                actual: (HEADER_BYTES + end * self.header.width.bytes()) as u64,
            });
        }
        let w = self.header.width.bytes();
        let bytes = &self.payload[start * w..end * w];
        match self.header.width {
            TokenWidth::U16 => {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = u16::from_le_bytes([c[0], c[1]]) as u32;
                }
            }
            TokenWidth::U32 => {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
        }
        Ok(())
    }
}

/// Validates a whole shard and returns its header and tokens widened to `u32`.
pub fn read_shard(bytes: &[u8]) -> Result<(ShardHeader, Vec<u32>), ShardError> {
    let reader = ShardReader::new(bytes)?;
    let mut tokens = vec![0u32; reader.len()];
    reader.read_into(0, &mut tokens)?;
    Ok((reader.header(), tokens))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ShardWriter;

    #[test]
    fn truncated_shard_is_refused() {
        let mut w = ShardWriter::new(Vec::new(), TokenWidth::U16, 4).unwrap();
        w.push(&[1, 2, 3, 4]).unwrap();
        let (bytes, _) = w.finish().unwrap();
        assert!(matches!(
            ShardReader::new(&bytes[..bytes.len() - 1]),
            Err(ShardError::SizeMismatch { .. })
        ));
        let r = ShardReader::new(&bytes).unwrap();
        assert_eq!(r.get(3), Some(4));
        assert_eq!(r.get(4), None);
        let mut two = [0u32; 2];
        r.read_into(2, &mut two).unwrap();
        assert_eq!(two, [3, 4]);
        assert!(r.read_into(3, &mut two).is_err());
    }
}

//! The 1024-byte shard header: 256 little-endian `i32`, of which words 0..3 are magic, version, token count.

use crate::ShardError;

/// Size of the header in bytes; the token payload starts here.
pub const HEADER_BYTES: usize = 1024;

const MAGIC_U16: i32 = 20240520;
const VERSION_U16: i32 = 1;
const MAGIC_U32: i32 = 20240801;
const VERSION_U32: i32 = 7;

/// How many bytes one token takes in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenWidth {
    /// `u16` tokens: vocabularies of at most 65536 ids (r50k_base).
    U16,
    /// `u32` tokens: larger vocabularies (cl100k_base, o200k_base).
    U32,
}

impl TokenWidth {
    /// The narrowest width that holds every id of a vocabulary of `vocab_size` ids.
    pub fn for_vocab(vocab_size: usize) -> Self {
        if vocab_size <= 1 << 16 {
            TokenWidth::U16
        } else {
            TokenWidth::U32
        }
    }

    /// Bytes per token.
    pub fn bytes(self) -> usize {
        match self {
            TokenWidth::U16 => 2,
            TokenWidth::U32 => 4,
        }
    }

    /// The largest token id this width can store.
    pub fn max_token(self) -> u32 {
        match self {
            TokenWidth::U16 => u16::MAX as u32,
            TokenWidth::U32 => u32::MAX,
        }
    }
}

/// The decoded header of one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardHeader {
    /// Token width, given by the magic/version pair.
    pub width: TokenWidth,
    /// Number of tokens in the payload.
    pub tokens: u64,
}

impl ShardHeader {
    /// The largest token count the `i32` header word can state.
    pub const MAX_TOKENS: u64 = i32::MAX as u64;

    /// Encodes the header as the 1024 bytes that start a shard file.
    pub fn encode(&self) -> Result<[u8; HEADER_BYTES], ShardError> {
        let tokens = i32::try_from(self.tokens).map_err(|_| ShardError::TooManyTokens {
            max: Self::MAX_TOKENS,
        })?;
        let (magic, version) = match self.width {
            TokenWidth::U16 => (MAGIC_U16, VERSION_U16),
            TokenWidth::U32 => (MAGIC_U32, VERSION_U32),
        };
        let mut out = [0u8; HEADER_BYTES];
        out[0..4].copy_from_slice(&magic.to_le_bytes());
        out[4..8].copy_from_slice(&version.to_le_bytes());
        out[8..12].copy_from_slice(&tokens.to_le_bytes());
        Ok(out)
    }

    /// Decodes and validates a header; `bytes` must hold at least [`HEADER_BYTES`] bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, ShardError> {
        if bytes.len() < HEADER_BYTES {
            return Err(ShardError::BadHeader(format!(
                "{} bytes, a header needs {HEADER_BYTES}",
                bytes.len()
            )));
        }
        let word = |i: usize| {
            i32::from_le_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ])
        };
        let width = match (word(0), word(1)) {
            (MAGIC_U16, VERSION_U16) => TokenWidth::U16,
            (MAGIC_U32, VERSION_U32) => TokenWidth::U32,
            (magic, version) => {
                return Err(ShardError::BadHeader(format!(
                    "magic {magic}, version {version}"
                )));
            }
        };
        let tokens = u64::try_from(word(2))
            .map_err(|_| ShardError::BadHeader(format!("negative token count {}", word(2))))?;
        Ok(ShardHeader { width, tokens })
    }

    /// Total file size of a shard with this header.
    pub fn file_bytes(&self) -> u64 {
        HEADER_BYTES as u64 + self.tokens * self.width.bytes() as u64
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_matches_llmc_words() {
        let h = ShardHeader {
            width: TokenWidth::U16,
            tokens: 12345,
        };
        let bytes = h.encode().unwrap();
        assert_eq!(&bytes[0..4], &20240520i32.to_le_bytes());
        assert_eq!(&bytes[4..8], &1i32.to_le_bytes());
        assert_eq!(&bytes[8..12], &12345i32.to_le_bytes());
        assert!(bytes[12..].iter().all(|&b| b == 0));
        assert_eq!(ShardHeader::decode(&bytes).unwrap(), h);
        assert_eq!(h.file_bytes(), 1024 + 2 * 12345);

        let wide = ShardHeader {
            width: TokenWidth::U32,
            tokens: 7,
        };
        let bytes = wide.encode().unwrap();
        assert_eq!(&bytes[0..4], &20240801i32.to_le_bytes());
        assert_eq!(&bytes[4..8], &7i32.to_le_bytes());
        assert_eq!(ShardHeader::decode(&bytes).unwrap(), wide);
    }

    #[test]
    fn rejects_foreign_headers() {
        let mut bytes = [0u8; HEADER_BYTES];
        bytes[0..4].copy_from_slice(&20240520i32.to_le_bytes());
        bytes[4..8].copy_from_slice(&7i32.to_le_bytes());
        assert!(matches!(
            ShardHeader::decode(&bytes),
            Err(ShardError::BadHeader(_))
        ));
        assert!(ShardHeader::decode(&bytes[..100]).is_err());
        let too_many = ShardHeader {
            width: TokenWidth::U16,
            tokens: 1 << 31,
        };
        assert!(too_many.encode().is_err());
    }

    #[test]
    fn width_follows_vocab_size() {
        assert_eq!(TokenWidth::for_vocab(50257), TokenWidth::U16);
        assert_eq!(TokenWidth::for_vocab(65536), TokenWidth::U16);
        assert_eq!(TokenWidth::for_vocab(100277), TokenWidth::U32);
    }
}

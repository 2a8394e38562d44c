//! Token shards in llm.c's layout (docs/ARCHITECTURE.md §5).
//!
//! A shard is a 1024-byte header of 256 little-endian `i32` followed by the token payload: `u16` tokens for
//! vocabularies up to 65536 (magic 20240520, version 1, as llm.c's `dev/data/data_common.py` writes them) or
//! `u32` tokens for larger ones (magic 20240801, version 7). llm.c's dataloader and
//! `numpy.memmap(path, dtype=uint16, offset=1024)` read such a file unchanged.

mod header;
mod manifest;
mod reader;
mod writer;

pub use header::{HEADER_BYTES, ShardHeader, TokenWidth};
pub use manifest::{MANIFEST, ShardEntry, manifest_schema, read_manifest, write_manifest};
pub use reader::{ShardReader, read_shard};
pub use writer::{ShardSummary, ShardWriter};

/// Errors from writing or reading shards.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The header is not one of the two llm.c layouts.
    #[error("not an llm.c token shard: {0}")]
    BadHeader(String),
    /// The file size does not match the token count in the header.
    #[error(
        "shard size mismatch: header says {tokens} tokens ({expected} bytes), file has {actual} bytes"
    )]
    SizeMismatch {
        /// Tokens announced by the header.
        tokens: u64,
        /// File size those tokens imply.
        expected: u64,
        /// Actual file size.
        actual: u64,
    },
    /// A token does not fit the shard's token width.
    #[error("token {token} does not fit a {width:?} shard")]
    TokenTooWide {
        /// The offending token id.
        token: u32,
        /// The shard's width.
        width: TokenWidth,
    },
    /// More tokens than the header's `i32` count can hold.
    #[error("shard holds more than {max} tokens")]
    TooManyTokens {
        /// The largest token count a header can state.
        max: u64,
    },
    /// I/O failure on the underlying file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

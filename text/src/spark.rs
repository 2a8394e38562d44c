//! Spark ML's `HashingTF.indexOf`: MurmurHash3_x86_32 (Austin Appleby, `MurmurHash3.cpp`) and Spark's
//! index reduction, and the term indices of Spark's `Tokenizer` over a text.
//!
//! Spark 3 hashes a term with `Murmur3_x86_32.hashUnsafeBytes2` over its UTF-8 bytes, which is the
//! reference algorithm (Spark 2's `hashUnsafeBytes` mixed the tail bytes one at a time and differs), then
//! maps the signed 32-bit hash to a column with `Utils.nonNegativeMod`.

use std::num::NonZeroU32;

use crate::tokens::for_each_spark_token;

/// Seed Spark's `HashingTF` passes to MurmurHash3 (`FeatureHasher.seed`, `HashingTF.seed`).
pub const SPARK_HASH_SEED: u32 = 42;

/// The standard MurmurHash3_x86_32 of `bytes`: little-endian 4-byte blocks, then the tail, then `fmix32`.
pub fn murmur3_x86_32(bytes: &[u8], seed: u32) -> u32 {
    let mut h1 = seed;
    let mut blocks = bytes.chunks_exact(4);
    for block in &mut blocks {
        let k1 = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        h1 ^= mix_k1(k1);
        h1 = h1.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let mut k1 = 0u32;
    for (shift, &byte) in blocks.remainder().iter().enumerate() {
        k1 ^= u32::from(byte) << (8 * shift);
    }
    h1 ^= mix_k1(k1);
    // The reference takes the length as a 32-bit int; a term over 4 GiB wraps exactly as it does there.
    fmix32(h1 ^ bytes.len() as u32)
}

fn mix_k1(k1: u32) -> u32 {
    k1.wrapping_mul(0xcc9e_2d51)
        .rotate_left(15)
        .wrapping_mul(0x1b87_3593)
}

fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Spark's `Utils.nonNegativeMod(hash, numFeatures)`: the hash read as a signed Java `int`, Java's `%`
/// (which keeps the dividend's sign), then `+ numFeatures` when the remainder is negative. `num_features`
/// must be positive.
pub fn non_negative_mod(hash: u32, num_features: u32) -> u32 {
    // Two's-complement reinterpretation, as Java sees the int; `rem_euclid` by a positive modulus is
    // exactly `nonNegativeMod`.
    let signed = i64::from(hash as i32);
    signed.rem_euclid(i64::from(num_features)) as u32
}

/// Calls `emit` with the Spark `HashingTF` index (in `0..num_features`) of each token of Spark's `Tokenizer`
/// over `text`, in token order, repeats included: the GPT-3 classifier's features before counting. The set
/// of these indices is also what Spark's `MinHashLSH` hashes when it runs on those features, as GPT-3's
/// fuzzy deduplication did (`corpus-dedup`'s `gpt3` mode).
pub fn for_each_spark_term_index(text: &str, num_features: NonZeroU32, mut emit: impl FnMut(u32)) {
    let mut lower = Vec::new();
    for_each_spark_token(text, &mut lower, |token| {
        emit(spark_term_index(token, num_features.get()));
    });
}

/// Spark `HashingTF.indexOf` for a lowercased token.
pub fn spark_term_index(token: &[u8], num_features: u32) -> u32 {
    non_negative_mod(murmur3_x86_32(token, SPARK_HASH_SEED), num_features)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_published_vectors() {
        // Reference outputs of MurmurHash3_x86_32 from SMHasher's implementation, as tabulated in the
        // widely used test list (Ian Boyd, "MurmurHash3 test vectors").
        let cases: &[(&[u8], u32, u32)] = &[
            (b"", 0, 0),
            (b"", 1, 0x514E_28B7),
            (b"", 0xffff_ffff, 0x81F1_6F39),
            (&[0xff, 0xff, 0xff, 0xff], 0, 0x7629_3B50),
            (&[0x21, 0x43, 0x65, 0x87], 0, 0xF55B_516B),
            (&[0x21, 0x43, 0x65, 0x87], 0x5082_EDEE, 0x2362_F9DE),
            (&[0x21, 0x43, 0x65], 0, 0x7E4A_8634),
            (&[0x21, 0x43], 0, 0xA0F7_B07A),
            (&[0x21], 0, 0x7266_1CF4),
            (&[0, 0, 0, 0], 0, 0x2362_F9DE),
            (&[0, 0, 0], 0, 0x85F0_B427),
            (&[0, 0], 0, 0x30F4_C306),
            (&[0], 0, 0x514E_28B7),
            (b"aaaa", 0x9747_b28c, 0x5A97_808A),
            (b"aaa", 0x9747_b28c, 0x283E_0130),
            (b"aa", 0x9747_b28c, 0x5D21_1726),
            (b"a", 0x9747_b28c, 0x7FA0_9EA6),
            (b"abcd", 0x9747_b28c, 0xF047_8627),
            (b"abc", 0x9747_b28c, 0xC84A_62DD),
            (b"ab", 0x9747_b28c, 0x7487_5592),
            (b"Hello, world!", 0x9747_b28c, 0x2488_4CBA),
            (
                b"The quick brown fox jumps over the lazy dog",
                0x9747_b28c,
                0x2FA8_26CD,
            ),
        ];
        for &(input, seed, expected) in cases {
            assert_eq!(
                murmur3_x86_32(input, seed),
                expected,
                "murmur3({input:?}, {seed:#x})"
            );
        }
    }

    #[test]
    fn non_negative_mod_is_javas_remainder_shifted_up() {
        // Java: -7 % 10 == -7, so nonNegativeMod gives 3; Integer.MIN_VALUE % 10 == -8 gives 2.
        assert_eq!(non_negative_mod(7, 10), 7);
        assert_eq!(non_negative_mod((-7i32) as u32, 10), 3);
        assert_eq!(non_negative_mod(i32::MIN as u32, 10), 2);
        assert_eq!(non_negative_mod(u32::MAX, 10), 9);
        // For a power-of-two modulus it keeps the low bits of the two's-complement hash.
        for hash in [0u32, 1, 0x7fff_ffff, 0x8000_0000, 0xdead_beef, u32::MAX] {
            assert_eq!(non_negative_mod(hash, 1 << 18), hash & ((1 << 18) - 1));
        }
        // For a modulus that is not a power of two a negative hash is not its unsigned value mod n.
        let hash = 0xdead_beef_u32;
        assert!((hash as i32) < 0);
        assert_eq!(
            i64::from(non_negative_mod(hash, 1000)),
            i64::from(hash as i32) % 1000 + 1000
        );
        assert_ne!(non_negative_mod(hash, 1000), hash % 1000);
    }

    #[test]
    fn spark_index_of_a_negative_hash_is_non_negative() {
        let token = b"the";
        let hash = murmur3_x86_32(token, SPARK_HASH_SEED) as i32;
        let negative = (0..1000)
            .map(|i| format!("token{i}"))
            .find(|token| (murmur3_x86_32(token.as_bytes(), SPARK_HASH_SEED) as i32) < 0)
            .expect("about half of all hashes are negative");
        let negative_hash = murmur3_x86_32(negative.as_bytes(), SPARK_HASH_SEED) as i32;
        for num_features in [1 << 18, 1000, 7] {
            let index = spark_term_index(negative.as_bytes(), num_features);
            let java = negative_hash % num_features as i32;
            assert!(java < 0);
            assert_eq!(index as i32, java + num_features as i32);
            assert_eq!(
                spark_term_index(token, num_features) as i32,
                hash.rem_euclid(num_features as i32)
            );
        }
    }
}

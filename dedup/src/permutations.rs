//! The MinHash kernel: the minimum of each permutation `h ↦ (a·h + b) mod (2^61 − 1)` over a document's
//! shingle hashes, exact, in blocks of eight permutations.
//!
//! SIMD has 32×32 → 64-bit multiplies (`vpmuludq`) but no 64×64 → 128, so every coefficient and every
//! reduced shingle is split into 32-bit halves and the product is rebuilt with `2^61 ≡ 1 (mod p)`
//! ([`permute`]). For each block of eight permutations, every shingle passes through all eight lanes while
//! their minima stay in registers: coefficients and minima are loaded once per block, not once per
//! shingle. [`min_permuted`] picks the widest path the CPU has at run time: AVX-512F (one register per
//! block, native unsigned 64-bit minimum), AVX2 (two registers, signed compares, valid because every
//! value is below 2^62), or the portable loop, which is also the reference the SIMD paths are tested
//! against (with a `u128` computation of the formula itself beside it).

use crate::MERSENNE_61;

/// Number of permutations evaluated together: eight `u64` lanes, one AVX-512 register or two AVX2 ones.
pub(crate) const LANES: usize = 8;

const LOW_32: u64 = 0xFFFF_FFFF;

/// The coefficients of [`LANES`] permutations, split so that every product in [`permute`] is
/// 32×32 → 64 bits. Each field holds the 32-bit value in a `u64` lane, as the SIMD multiply reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PermutationBlock {
    /// Low 32 bits of each multiplier.
    a_lo: [u64; LANES],
    /// High bits of each multiplier (below 2^29).
    a_hi: [u64; LANES],
    /// `8 · a_hi` (below 2^32): the coefficient of `x_hi`'s `2^64` term, since `2^64 ≡ 8 (mod p)`.
    a_hi8: [u64; LANES],
    /// Offsets, below `p`.
    b: [u64; LANES],
}

impl PermutationBlock {
    /// Packs up to [`LANES`] coefficients (`a` in `[1, p)`, `b` in `[0, p)`); missing lanes get `a = 1,
    /// b = 0`, are computed like the others, and are dropped by the caller.
    pub(crate) fn new(a: &[u64], b: &[u64]) -> Self {
        let mut block = Self {
            a_lo: [1; LANES],
            a_hi: [0; LANES],
            a_hi8: [0; LANES],
            b: [0; LANES],
        };
        for (lane, (&a, &b)) in a.iter().zip(b).enumerate().take(LANES) {
            block.a_lo[lane] = a & LOW_32;
            block.a_hi[lane] = a >> 32;
            block.a_hi8[lane] = (a >> 32) << 3;
            block.b[lane] = b;
        }
        block
    }
}

/// A shingle hash reduced modulo `p` and split into its high (below 2^29) and low 32-bit halves, each in
/// a `u64` so that SIMD broadcasts it straight from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SplitShingle {
    hi: u64,
    lo: u64,
}

impl SplitShingle {
    /// Splits any 64-bit shingle hash; `a·h ≡ a·(h mod p)`, so the permutation is unchanged.
    pub(crate) fn new(hash: u64) -> Self {
        let x = reduce_mersenne_61(hash);
        Self {
            hi: x >> 32,
            lo: x & LOW_32,
        }
    }
}

/// Reduces any 64-bit value modulo `2^61 − 1`, using `2^61 ≡ 1 (mod p)`.
pub(crate) fn reduce_mersenne_61(x: u64) -> u64 {
    let folded = (x & MERSENNE_61) + (x >> 61);
    if folded >= MERSENNE_61 {
        folded - MERSENNE_61
    } else {
        folded
    }
}

/// Computes `(a·x + b) mod (2^61 − 1)` exactly for `a, b, x < 2^61` from their 32-bit halves, using
/// `2^61 ≡ 1` and `2^64 ≡ 8`: `a·x = a_hi·x_hi·2^64 + (a_hi·x_lo + a_lo·x_hi)·2^32 + a_lo·x_lo`.
/// Branch-free; the SIMD kernels compute the same steps.
#[inline(always)]
fn permute(block: &PermutationBlock, lane: usize, x: SplitShingle) -> u64 {
    // a_hi·x_hi·2^64 ≡ 8·a_hi·x_hi < 2^61.
    let high = block.a_hi8[lane] * x.hi;
    // < 2 · 2^29 · 2^32 = 2^62. With mid = mid_hi·2^29 + mid_lo, mid·2^32 ≡ mid_hi + mid_lo·2^32, and
    // mid_lo·2^32 is the part of mid << 32 below 2^61.
    let mid = block.a_hi[lane] * x.lo + block.a_lo[lane] * x.hi;
    // < 2^64: its bits from 2^61 up count once each, since 2^61 ≡ 1.
    let low = block.a_lo[lane] * x.lo;
    // < 2^61 + 2^33 + 2^61 + 2^61 + 8 + 2^61 < 2^64: no overflow.
    let sum = high
        + (mid >> 29)
        + ((mid << 32) & MERSENNE_61)
        + (low & MERSENNE_61)
        + (low >> 61)
        + block.b[lane];
    // < 2^61 + 8, so at most one p is left to subtract: when folded < p, folded − p wraps above it.
    let folded = (sum & MERSENNE_61) + (sum >> 61);
    folded.min(folded.wrapping_sub(MERSENNE_61))
}

/// Names the kernel [`crate::MinHasher::signature`] runs on this CPU: `avx512`, `avx2` or `portable`
/// (for benchmark records: the same figures need the same kernel).
pub fn permutation_kernel() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "portable"
}

/// Fills `mins` (`blocks.len() × LANES` values) with the minimum of each permutation over `shingles`,
/// with the widest vector instructions this CPU has. `shingles` must not be empty (the minimum of
/// nothing is the caller's sentinel).
pub(crate) fn min_permuted(
    blocks: &[PermutationBlock],
    shingles: &[SplitShingle],
    mins: &mut [u64],
) {
    debug_assert!(!shingles.is_empty());
    debug_assert_eq!(mins.len(), blocks.len() * LANES);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { x86::min_permuted_avx512(blocks, shingles, mins) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { x86::min_permuted_avx2(blocks, shingles, mins) };
        }
    }
    min_permuted_portable(blocks, shingles, mins);
}

/// The portable kernel and the reference for the SIMD ones: per block, every shingle through every
/// lane, the minima in a local array.
fn min_permuted_portable(blocks: &[PermutationBlock], shingles: &[SplitShingle], mins: &mut [u64]) {
    for (block, out) in blocks.iter().zip(mins.chunks_exact_mut(LANES)) {
        let mut acc = [u64::MAX; LANES];
        for &shingle in shingles {
            for (lane, min) in acc.iter_mut().enumerate() {
                *min = (*min).min(permute(block, lane, shingle));
            }
        }
        out.copy_from_slice(&acc);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! [`super::permute`] over eight lanes at once, with AVX-512F and with AVX2 intrinsics.

    use std::arch::x86_64::*;

    use super::{LANES, PermutationBlock, SplitShingle};
    use crate::MERSENNE_61;

    /// Loads eight `u64` lanes as one AVX-512 vector.
    #[target_feature(enable = "avx512f")]
    fn load512(values: &[u64; LANES]) -> __m512i {
        // SAFETY: `values` is 64 readable bytes; the load has no alignment requirement.
        unsafe { _mm512_loadu_si512(values.as_ptr().cast()) }
    }

    /// The AVX-512F kernel: one register of minima per block.
    #[target_feature(enable = "avx512f")]
    pub(super) fn min_permuted_avx512(
        blocks: &[PermutationBlock],
        shingles: &[SplitShingle],
        mins: &mut [u64],
    ) {
        let p = _mm512_set1_epi64(MERSENNE_61 as i64);
        for (block, out) in blocks.iter().zip(mins.chunks_exact_mut(LANES)) {
            let (a_lo, a_hi, a_hi8, b) = (
                load512(&block.a_lo),
                load512(&block.a_hi),
                load512(&block.a_hi8),
                load512(&block.b),
            );
            let mut acc = _mm512_set1_epi64(-1);
            for shingle in shingles {
                let x_hi = _mm512_set1_epi64(shingle.hi as i64);
                let x_lo = _mm512_set1_epi64(shingle.lo as i64);
                let high = _mm512_mul_epu32(a_hi8, x_hi);
                let mid =
                    _mm512_add_epi64(_mm512_mul_epu32(a_hi, x_lo), _mm512_mul_epu32(a_lo, x_hi));
                let low = _mm512_mul_epu32(a_lo, x_lo);
                let mid_folded = _mm512_add_epi64(
                    _mm512_srli_epi64::<29>(mid),
                    _mm512_and_si512(_mm512_slli_epi64::<32>(mid), p),
                );
                let low_folded =
                    _mm512_add_epi64(_mm512_and_si512(low, p), _mm512_srli_epi64::<61>(low));
                let sum = _mm512_add_epi64(
                    _mm512_add_epi64(high, b),
                    _mm512_add_epi64(mid_folded, low_folded),
                );
                let folded =
                    _mm512_add_epi64(_mm512_and_si512(sum, p), _mm512_srli_epi64::<61>(sum));
                let value = _mm512_min_epu64(folded, _mm512_sub_epi64(folded, p));
                acc = _mm512_min_epu64(acc, value);
            }
            // SAFETY: `out` is LANES = 8 writable u64, 64 bytes; the store has no alignment requirement.
            unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), acc) };
        }
    }

    /// Loads four `u64` lanes as one AVX2 vector.
    #[target_feature(enable = "avx2")]
    fn load256(values: &[u64]) -> __m256i {
        debug_assert!(values.len() >= 4);
        // SAFETY: callers pass halves of LANES = 8 values, 32 readable bytes; no alignment requirement.
        unsafe { _mm256_loadu_si256(values.as_ptr().cast()) }
    }

    /// The AVX2 kernel: two registers of minima per block. AVX2 has no unsigned 64-bit minimum, but
    /// every value compared is below 2^62, where the signed compare agrees with the unsigned one.
    #[target_feature(enable = "avx2")]
    pub(super) fn min_permuted_avx2(
        blocks: &[PermutationBlock],
        shingles: &[SplitShingle],
        mins: &mut [u64],
    ) {
        let p = _mm256_set1_epi64x(MERSENNE_61 as i64);
        for (block, out) in blocks.iter().zip(mins.chunks_exact_mut(LANES)) {
            for half in [0, LANES / 2] {
                let lanes = half..half + LANES / 2;
                let (a_lo, a_hi, a_hi8, b) = (
                    load256(&block.a_lo[lanes.clone()]),
                    load256(&block.a_hi[lanes.clone()]),
                    load256(&block.a_hi8[lanes.clone()]),
                    load256(&block.b[lanes.clone()]),
                );
                // Above every value, below 2^63: a valid start for the signed minimum.
                let mut acc = p;
                for shingle in shingles {
                    let x_hi = _mm256_set1_epi64x(shingle.hi as i64);
                    let x_lo = _mm256_set1_epi64x(shingle.lo as i64);
                    let high = _mm256_mul_epu32(a_hi8, x_hi);
                    let mid = _mm256_add_epi64(
                        _mm256_mul_epu32(a_hi, x_lo),
                        _mm256_mul_epu32(a_lo, x_hi),
                    );
                    let low = _mm256_mul_epu32(a_lo, x_lo);
                    let mid_folded = _mm256_add_epi64(
                        _mm256_srli_epi64::<29>(mid),
                        _mm256_and_si256(_mm256_slli_epi64::<32>(mid), p),
                    );
                    let low_folded =
                        _mm256_add_epi64(_mm256_and_si256(low, p), _mm256_srli_epi64::<61>(low));
                    let sum = _mm256_add_epi64(
                        _mm256_add_epi64(high, b),
                        _mm256_add_epi64(mid_folded, low_folded),
                    );
                    // < 2^61 + 8: subtract p where folded ≥ p, i.e. where not p > folded.
                    let folded =
                        _mm256_add_epi64(_mm256_and_si256(sum, p), _mm256_srli_epi64::<61>(sum));
                    let below_p = _mm256_cmpgt_epi64(p, folded);
                    let value = _mm256_blendv_epi8(_mm256_sub_epi64(folded, p), folded, below_p);
                    let smaller = _mm256_cmpgt_epi64(acc, value);
                    acc = _mm256_blendv_epi8(acc, value, smaller);
                }
                // SAFETY: `out[half..half + 4]` is 32 writable bytes; no alignment requirement.
                unsafe { _mm256_storeu_si256(out[lanes].as_mut_ptr().cast(), acc) };
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// SplitMix64, for random test inputs.
    fn stream(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    pub(crate) fn permute_reference(a: u64, b: u64, h: u64) -> u64 {
        ((u128::from(a) * u128::from(h) + u128::from(b)) % u128::from(MERSENNE_61)) as u64
    }

    fn permute_one(a: u64, b: u64, h: u64) -> u64 {
        permute(&PermutationBlock::new(&[a], &[b]), 0, SplitShingle::new(h))
    }

    #[test]
    fn permutation_matches_u128_reference_on_edge_values() {
        let p = MERSENNE_61;
        let hs = [
            0,
            1,
            2,
            7,
            8,
            p - 1,
            p,
            p + 1,
            1 << 61,
            (1 << 32) - 1,
            1 << 32,
            u64::MAX - 1,
            u64::MAX,
        ];
        let coefficients = [
            0,
            1,
            2,
            (1 << 32) - 1,
            1 << 32,
            (1 << 29) - 1,
            1 << 60,
            p - 2,
            p - 1,
        ];
        for &h in &hs {
            for &a in &coefficients[1..] {
                for &b in &coefficients {
                    assert_eq!(
                        permute_one(a, b, h),
                        permute_reference(a, b, h),
                        "a={a} b={b} h={h}"
                    );
                }
            }
        }
    }

    #[test]
    fn permutation_matches_u128_reference_on_random_values() {
        let mut next = stream(42);
        for _ in 0..100_000 {
            let (a, b, h) = (next() % (MERSENNE_61 - 1) + 1, next() % MERSENNE_61, next());
            assert_eq!(
                permute_one(a, b, h),
                permute_reference(a, b, h),
                "a={a} b={b} h={h}"
            );
        }
    }

    /// A kernel's signature.
    type Kernel = fn(&[PermutationBlock], &[SplitShingle], &mut [u64]);

    /// Every kernel this CPU can run, by name.
    fn kernels() -> Vec<(&'static str, Kernel)> {
        let mut kernels: Vec<(&'static str, Kernel)> = vec![
            ("portable", min_permuted_portable),
            ("dispatched", min_permuted),
        ];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                kernels.push(("avx512", |blocks, shingles, mins| {
                    // SAFETY: AVX-512F is present, checked above.
                    unsafe { x86::min_permuted_avx512(blocks, shingles, mins) }
                }));
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                kernels.push(("avx2", |blocks, shingles, mins| {
                    // SAFETY: AVX2 is present, checked above.
                    unsafe { x86::min_permuted_avx2(blocks, shingles, mins) }
                }));
            }
        }
        kernels
    }

    /// The minima straight from the formula, in `u128`.
    fn min_reference(a: &[u64], b: &[u64], hashes: &[u64]) -> Vec<u64> {
        a.iter()
            .zip(b)
            .map(|(&a, &b)| {
                hashes
                    .iter()
                    .map(|&h| permute_reference(a, b, h))
                    .min()
                    .unwrap()
            })
            .collect()
    }

    fn check_kernels(a: &[u64], b: &[u64], hashes: &[u64]) {
        let blocks: Vec<PermutationBlock> = a
            .chunks(LANES)
            .zip(b.chunks(LANES))
            .map(|(a, b)| PermutationBlock::new(a, b))
            .collect();
        let shingles: Vec<SplitShingle> = hashes.iter().map(|&h| SplitShingle::new(h)).collect();
        let expected = min_reference(a, b, hashes);
        for (name, kernel) in kernels() {
            let mut mins = vec![0; blocks.len() * LANES];
            kernel(&blocks, &shingles, &mut mins);
            assert_eq!(&mins[..a.len()], expected, "{name} kernel");
        }
    }

    #[test]
    fn every_kernel_matches_the_u128_reference_on_random_inputs() {
        let mut next = stream(3);
        for permutations in [1, 7, 8, 9, 16, 112, 117] {
            for shingles in [1, 2, 5, 64, 333] {
                let a: Vec<u64> = (0..permutations)
                    .map(|_| next() % (MERSENNE_61 - 1) + 1)
                    .collect();
                let b: Vec<u64> = (0..permutations).map(|_| next() % MERSENNE_61).collect();
                let hashes: Vec<u64> = (0..shingles).map(|_| next()).collect();
                check_kernels(&a, &b, &hashes);
            }
        }
    }

    #[test]
    fn every_kernel_matches_the_u128_reference_on_extreme_values() {
        let p = MERSENNE_61;
        // Values that make the permuted value 0, p − 1 and everything near the folds.
        let a = [1, 2, p - 1, p - 2, (1 << 32) - 1, 1 << 32, (1 << 61) - 2, 3];
        let b = [0, p - 1, 0, p - 1, 1, p - 2, 7, p - 8];
        let hashes = [
            0,
            1,
            p - 1,
            p,
            p + 1,
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
            (1 << 32) - 1,
        ];
        for count in 1..=hashes.len() {
            check_kernels(&a, &b, &hashes[..count]);
        }
    }
}

//! The crate's one pseudo-random generator: SplitMix64 (Steele, Lea & Flood 2014, "Fast splittable
//! pseudorandom number generators"). Window orders and weight initialisation both draw from it, so neither
//! depends on a `rand` version, and `tests/data/gpt_reference.py` reproduces its streams bit for bit.

/// SplitMix64: small and well mixed; one `u64` of state.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    /// The generator of stream `stream` of `seed` (an epoch's window order, a model's initial weights).
    /// Streams started `GOLDEN_GAMMA · k` apart are shifted copies of each other, so the seed and stream go
    /// through the output mix before becoming the state rather than being added to it.
    pub(crate) fn for_stream(seed: u64, stream: u64) -> Self {
        SplitMix64(mix64(mix64(seed) ^ stream))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        mix64(self.0)
    }

    /// Draws uniformly from `[0, bound)`, `bound > 0`, by Lemire's multiply-and-reject (Lemire 2019, "Fast
    /// random integer generation in an interval"): without the rejection small results would be favoured.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(bound);
            if product as u64 >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// Uniform on `[0, 1)` with 53 random bits: exact in `f64`, so other languages reproduce it exactly.
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by the Box–Muller transform (Box & Muller 1958), one draw per call.
    pub(crate) fn normal(&mut self) -> f64 {
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let radius = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        radius * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

/// SplitMix64's output function, a bijection of `u64` (Stafford's "Mix13").
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normal_draws_have_unit_variance() {
        let mut rng = SplitMix64::for_stream(7, 0);
        let draws: Vec<f64> = (0..100_000).map(|_| rng.normal()).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }

    #[test]
    fn uniform_stays_in_the_unit_interval() {
        let mut rng = SplitMix64::for_stream(1, 2);
        assert!(
            (0..10_000)
                .map(|_| rng.uniform())
                .all(|u| (0.0..1.0).contains(&u))
        );
    }
}

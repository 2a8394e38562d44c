//! The LSH S-curve, measured: pairs of documents with known Jaccard similarity of their 5-word shingle
//! sets, and the fraction that 14 bands × 8 rows flags as candidates (at least one shared band key),
//! against the theory `1 − (1 − J^r)^b` (Leskovec, Rajaraman & Ullman, *Mining of Massive Datasets*,
//! §3.4.2). Run with `-- --nocapture` for the table; `CORPUS_SCURVE_PAIRS` sets the number of pairs
//! (BENCHMARKS.md quotes a run with 40,000, `--release`).

use corpus_dedup::{
    DEFAULT_BANDS, DEFAULT_ROWS, DEFAULT_SHINGLE_WORDS, MinHasher, jaccard, shingle_set,
};

/// A small deterministic generator (PCG-style LCG), so the test needs no `rand`.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 31) as f64
    }
}

/// A random lowercase word of 3 to 9 letters: words repeat rarely, so shingles almost never do.
fn word(rng: &mut Lcg) -> String {
    let len = 3 + rng.below(7);
    (0..len)
        .map(|_| char::from(b'a' + rng.below(26) as u8))
        .collect()
}

/// Probability that LSH with `bands` bands of `rows` rows flags a pair of Jaccard similarity `j`.
fn detection_probability(j: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - j.powi(rows as i32)).powi(bands as i32)
}

#[test]
fn banding_detects_pairs_as_the_s_curve_predicts() {
    let pairs: usize = std::env::var("CORPUS_SCURVE_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    const WORDS: usize = 200;
    const BUCKET: f64 = 0.05;
    let (bands, rows) = (DEFAULT_BANDS, DEFAULT_ROWS);
    let hasher = MinHasher::new(bands, rows, 2024).expect("valid banding");
    let mut rng = Lcg(17);
    // Per bucket of true Jaccard: pairs, pairs detected, Σ p and Σ p(1 − p) of the theory.
    let buckets = (1.0 / BUCKET).round() as usize;
    let mut table = vec![(0usize, 0usize, 0.0f64, 0.0f64); buckets];
    for _ in 0..pairs {
        let original: Vec<String> = (0..WORDS).map(|_| word(&mut rng)).collect();
        // Aim at a similarity between 0.2 and 1: replacing k of n words leaves about (1 − k/n)^5 of the
        // shingles, so J ≈ q / (2 − q) with q that fraction.
        let target = 0.2 + 0.8 * rng.unit();
        let kept = 2.0 * target / (1.0 + target);
        let replaced =
            (WORDS as f64 * (1.0 - kept.powf(1.0 / DEFAULT_SHINGLE_WORDS as f64))) as usize;
        let mut edited = original.clone();
        for _ in 0..replaced {
            let at = rng.below(WORDS);
            edited[at] = word(&mut rng);
        }
        let (left, right) = (
            shingle_set(&original.join(" "), DEFAULT_SHINGLE_WORDS),
            shingle_set(&edited.join(" "), DEFAULT_SHINGLE_WORDS),
        );
        let j = jaccard(&left, &right);
        let keys = |set: &[u64]| {
            hasher
                .band_hashes(&hasher.signature(set.iter().copied()))
                .expect("signature of this hasher")
        };
        let detected = keys(&left).iter().zip(keys(&right)).any(|(l, r)| *l == r);
        let p = detection_probability(j, bands, rows);
        let bucket = ((j / BUCKET) as usize).min(buckets - 1);
        let entry = &mut table[bucket];
        entry.0 += 1;
        entry.1 += usize::from(detected);
        entry.2 += p;
        entry.3 += p * (1.0 - p);
    }

    println!("J bucket      pairs  detected  measured  theory(mean J)  theory(mid)  z");
    let mut failures = Vec::new();
    for (index, &(n, hits, expected, variance)) in table.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let (low, high) = (index as f64 * BUCKET, (index + 1) as f64 * BUCKET);
        let sigma = variance.sqrt();
        let z = if sigma > 0.0 {
            (hits as f64 - expected) / sigma
        } else {
            0.0
        };
        println!(
            "{low:.2}-{high:.2}  {n:>8}  {hits:>8}  {:>8.3}  {:>14.3}  {:>11.3}  {z:>5.2}",
            hits as f64 / n as f64,
            expected / n as f64,
            detection_probability((low + high) / 2.0, bands, rows),
        );
        // Five standard deviations of the sum of Bernoulli trials, and one pair of slack where the
        // theory is certain either way.
        if (hits as f64 - expected).abs() > 5.0 * sigma + 1.0 {
            failures.push(format!(
                "J {low:.2}-{high:.2}: {hits} of {n} detected, theory {expected:.1} ± {sigma:.1}"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let covered = table.iter().filter(|(n, ..)| *n >= 50).count();
    assert!(
        covered >= 12,
        "similarities not spread over 0.2..1: {table:?}"
    );
}

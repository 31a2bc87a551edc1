//! A small, fast, deterministic PRNG (SplitMix64) and the few helpers the generator needs.
//!
//! The same seed gives the same bytes on every platform: only integer arithmetic here.

/// SplitMix64: one add and a finalizer per draw; plenty for synthetic data.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// An independent stream `stream` of the run seeded with `seed`.
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        Rng(mix64(seed ^ mix64(stream ^ 0x6a09_e667_f3bc_c908)))
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in `0..n` (`n` > 0), by multiply-shift (Lemire, without the rejection step).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    #[inline]
    pub(crate) fn chance(&mut self, p: Prob) -> bool {
        self.next_u64() < p.0
    }
}

/// The SplitMix64 finalizer: a bijection on `u64` that scatters nearby inputs.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A bijection on `0..2^63`: distinct inputs give distinct, random-looking positive `i64`s.
#[inline]
pub(crate) fn mix63(mut x: u64) -> u64 {
    const MASK: u64 = (1 << 63) - 1;
    x &= MASK;
    x ^= x >> 31;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15) & MASK;
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9) & MASK;
    x ^ (x >> 32)
}

/// A probability as a threshold on a uniform `u64`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prob(u64);

impl Prob {
    pub(crate) fn new(p: f64) -> Self {
        if p.is_nan() || p <= 0.0 {
            Prob(0)
        } else if p >= 1.0 {
            Prob(u64::MAX)
        } else {
            Prob((p * 18_446_744_073_709_551_616.0) as u64)
        }
    }

    pub(crate) fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// A weighted choice among a small, fixed table.
#[derive(Debug, Clone)]
pub(crate) struct Weighted {
    cumulative: Vec<u32>,
}

impl Weighted {
    pub(crate) fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let mut total = 0u32;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect::<Vec<_>>();
        assert!(total > 0, "a weighted table needs a positive weight");
        Weighted { cumulative }
    }

    #[inline]
    pub(crate) fn pick(&self, rng: &mut Rng) -> usize {
        let total = *self.cumulative.last().unwrap_or(&1);
        let r = rng.below(u64::from(total)) as u32;
        self.cumulative.partition_point(|&c| c <= r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(11, 1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut x = Rng::new(11, 1);
        let mut y = Rng::new(11, 2);
        assert_ne!(x.next_u64(), y.next_u64());
    }

    #[test]
    fn mix63_stays_positive_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u64 {
            let v = mix63(i + (5 << 40));
            assert!(v < 1 << 63);
            assert!(seen.insert(v));
        }
    }

    #[test]
    fn weighted_picks_follow_weights() {
        let w = Weighted::new([1, 0, 3]);
        let mut rng = Rng::new(1, 1);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[w.pick(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_000..11_000).contains(&counts[0]), "{counts:?}");
    }
}

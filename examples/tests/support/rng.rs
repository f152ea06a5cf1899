//! A seeded random number generator (SplitMix64), so that every kill delay and fault
//! position of a run can be replayed from the printed seed.

use std::time::Duration;

/// SplitMix64: small, fast, and the same sequence on every platform.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// The generator of stream `stream` under `seed` (each scenario draws from its own
    /// stream, so replaying one does not depend on what the others drew).
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Self(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        rng.next_u64();
        rng
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw from `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform draw from `[lo, hi)`.
    pub(crate) fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// A uniform duration from `[lo, hi)`.
    pub(crate) fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        Duration::from_secs_f64(self.between(lo.as_secs_f64(), hi.as_secs_f64()))
    }
}

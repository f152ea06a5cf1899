//! Exponential backoff with decorrelated jitter.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// How long to wait between retries: exponential growth from `init` by `base`, capped at
/// `max`, with decorrelated jitter.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use mailmigrate_core::layer::BackoffConfig;
///
/// let cfg = BackoffConfig::default().with_max(Duration::from_secs(5));
/// assert_eq!(cfg.init, Duration::from_millis(100));
/// assert_eq!(cfg.base, 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// The first delay (default 100 ms).
    pub init: Duration,
    /// The longest delay (default 15 s).
    pub max: Duration,
    /// The growth factor (default 2.0); values below 1.0 act as 1.0.
    pub base: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            init: Duration::from_millis(100),
            max: Duration::from_secs(15),
            base: 2.0,
        }
    }
}

impl BackoffConfig {
    /// Sets the first delay.
    #[must_use]
    pub fn with_init(mut self, init: Duration) -> Self {
        self.init = init;
        self
    }

    /// Sets the longest delay.
    #[must_use]
    pub fn with_max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Sets the growth factor.
    #[must_use]
    pub fn with_base(mut self, base: f64) -> Self {
        self.base = base;
        self
    }
}

/// One sequence of backoff delays, computed with decorrelated jitter: each delay is drawn
/// uniformly between `init` and `base` times the previous delay, then capped at `max`.
///
/// The first delay is `init`; jitter spreads later retries of many clients apart so they
/// do not hit a recovering server in lockstep.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use mailmigrate_core::layer::{Backoff, BackoffConfig};
///
/// let mut backoff = Backoff::with_seed(&BackoffConfig::default(), 7);
/// assert_eq!(backoff.next_delay(), Duration::from_millis(100));
/// for _ in 0..50 {
///     let d = backoff.next_delay();
///     assert!(d >= Duration::from_millis(100) && d <= Duration::from_secs(15));
/// }
/// ```
#[derive(Debug)]
pub struct Backoff {
    init: f64,
    max: f64,
    base: f64,
    next: f64,
    rng: SmallRng,
}

impl Backoff {
    /// Starts a sequence with a randomly seeded jitter source.
    pub fn new(config: &BackoffConfig) -> Self {
        Self::from_rng(config, SmallRng::from_rng(&mut rand::rng()))
    }

    /// Starts a sequence whose jitter is reproducible from `seed`.
    pub fn with_seed(config: &BackoffConfig, seed: u64) -> Self {
        Self::from_rng(config, SmallRng::seed_from_u64(seed))
    }

    fn from_rng(config: &BackoffConfig, rng: SmallRng) -> Self {
        let init = config.init.as_secs_f64();
        let max = config.max.as_secs_f64().max(init);
        Self {
            init,
            max,
            base: if config.base.is_finite() {
                config.base.max(1.0)
            } else {
                1.0
            },
            next: init,
            rng,
        }
    }

    /// Returns the next delay and advances the sequence.
    pub fn next_delay(&mut self) -> Duration {
        let hi = self.next * self.base;
        let drawn = if hi > self.init {
            self.rng.random_range(self.init..hi)
        } else {
            self.init
        };
        let following = drawn.min(self.max);
        Duration::from_secs_f64(std::mem::replace(&mut self.next, following))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_at_init_and_stay_within_bounds() {
        let cfg = BackoffConfig::default()
            .with_init(Duration::from_millis(10))
            .with_max(Duration::from_secs(1));
        let mut b = Backoff::with_seed(&cfg, 1);
        assert_eq!(b.next_delay(), Duration::from_millis(10));
        let mut reached_max_region = false;
        for _ in 0..200 {
            let d = b.next_delay();
            assert!(d >= Duration::from_millis(10), "{d:?}");
            assert!(d <= Duration::from_secs(1), "{d:?}");
            reached_max_region |= d > Duration::from_millis(40);
        }
        assert!(reached_max_region, "the sequence never grew");
    }

    #[test]
    fn same_seed_gives_same_sequence() {
        let cfg = BackoffConfig::default();
        let mut a = Backoff::with_seed(&cfg, 42);
        let mut b = Backoff::with_seed(&cfg, 42);
        let xs: Vec<_> = (0..20).map(|_| a.next_delay()).collect();
        let ys: Vec<_> = (0..20).map(|_| b.next_delay()).collect();
        assert_eq!(xs, ys);
    }

    #[test]
    fn base_one_is_constant() {
        let cfg = BackoffConfig::default().with_base(1.0);
        let mut b = Backoff::with_seed(&cfg, 3);
        for _ in 0..10 {
            assert_eq!(b.next_delay(), Duration::from_millis(100));
        }
        let nan = BackoffConfig::default().with_base(f64::NAN);
        assert_eq!(
            Backoff::with_seed(&nan, 3).next_delay(),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn max_below_init_is_raised_to_init() {
        let cfg = BackoffConfig::default()
            .with_init(Duration::from_secs(2))
            .with_max(Duration::from_secs(1));
        let mut b = Backoff::with_seed(&cfg, 9);
        for _ in 0..10 {
            assert_eq!(b.next_delay(), Duration::from_secs(2));
        }
    }
}

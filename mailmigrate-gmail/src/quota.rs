//! [`GmailLimits`] and the per-user token bucket that keeps the client inside them
//! \[GM-QUOTA\].

use std::time::{Duration, Instant};

/// What the client keeps within per user, and how it waits out refusals
/// \[GM-QUOTA\]\[GM-ERR\]\[I-G429\].
///
/// ```
/// use mailmigrate_gmail::GmailLimits;
/// use std::time::Duration;
///
/// let limits = GmailLimits::default();
/// assert_eq!((limits.units, limits.window), (6_000, Duration::from_secs(60)));
/// let old_project = GmailLimits::default().with_units(15_000, Duration::from_secs(60));
/// assert_eq!(old_project.units, 15_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct GmailLimits {
    /// Quota units per [`window`](Self::window) and user: 6,000 a minute for projects
    /// created since 2026-05-01, 15,000 for older ones \[GM-QUOTA\].
    pub units: u64,
    /// The window of [`units`](Self::units).
    pub window: Duration,
    /// Units that may be spent at once after an idle spell (the bucket's size; default a
    /// tenth of a minute's budget, 600). Whatever the burst, no window holds more than
    /// [`units`](Self::units): the client keeps a log of the last window's spending, as
    /// Gmail counts it \[GM-QUOTA\].
    pub burst: u64,
    /// Requests in flight at once (default 8: Gmail refuses an unpublished number of
    /// concurrent requests per user, shared with every client of the mailbox \[I-G429\]).
    pub concurrency: usize,
    /// How many times one request is sent again after a rate limit before the limit is
    /// reported as its error (default 10, as GYB \[GYB\]).
    pub rate_limit_retries: u32,
    /// How many times a request that is safe to repeat (a read, a label change) is sent
    /// again after a server failure or a cut connection (default 3).
    pub server_retries: u32,
    /// The first pause of the exponential backoff (default 1 s, \[GM-ERR\]).
    pub backoff_init: Duration,
    /// The longest pause (default 64 s, \[GM-ERR\] "truncated").
    pub backoff_max: Duration,
    /// Calls sent together in one batch request (default 25, at most 100): Google caps a
    /// batch at 100 and advises against more than 50; per-user concurrency makes large
    /// batches answer many parts 429, and tools use 10–25 \[GM-BATCH\]\[I-G429\].
    pub batch_size: usize,
}

impl Default for GmailLimits {
    fn default() -> Self {
        Self {
            units: 6_000,
            window: Duration::from_secs(60),
            burst: 600,
            concurrency: 8,
            rate_limit_retries: 10,
            server_retries: 3,
            backoff_init: Duration::from_secs(1),
            backoff_max: Duration::from_secs(64),
            batch_size: 25,
        }
    }
}

impl GmailLimits {
    /// Sets [`units`](Self::units) per [`window`](Self::window), and a burst of a tenth
    /// of it (at least 25 units, one import).
    ///
    /// ```
    /// use mailmigrate_gmail::GmailLimits;
    /// use std::time::Duration;
    /// let l = GmailLimits::default().with_units(15_000, Duration::from_secs(60));
    /// assert_eq!(l.burst, 1_500);
    /// ```
    #[must_use]
    pub fn with_units(mut self, units: u64, window: Duration) -> Self {
        self.units = units.max(1);
        self.window = window;
        self.burst = (units / 10).max(25);
        self
    }
    /// Sets [`burst`](Self::burst).
    #[must_use]
    pub fn with_burst(mut self, units: u64) -> Self {
        self.burst = units.max(1);
        self
    }
    /// Sets [`concurrency`](Self::concurrency).
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// Sets [`backoff_init`](Self::backoff_init) and [`backoff_max`](Self::backoff_max).
    #[must_use]
    pub fn with_backoff(mut self, init: Duration, max: Duration) -> Self {
        self.backoff_init = init;
        self.backoff_max = max.max(init);
        self
    }
    /// Sets [`batch_size`](Self::batch_size), kept within 1..=100 \[GM-BATCH\].
    ///
    /// ```
    /// use mailmigrate_gmail::GmailLimits;
    /// assert_eq!(GmailLimits::default().batch_size, 25);
    /// assert_eq!(GmailLimits::default().with_batch_size(500).batch_size, 100);
    /// ```
    #[must_use]
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.clamp(1, 100);
        self
    }
    /// Sets [`rate_limit_retries`](Self::rate_limit_retries).
    #[must_use]
    pub fn with_rate_limit_retries(mut self, n: u32) -> Self {
        self.rate_limit_retries = n;
        self
    }

    /// The pause before the `n`-th resend (from 1): `init · 2ⁿ⁻¹`, at most `max`, plus up
    /// to `init` of jitter \[GM-ERR\]\[GYB\].
    pub(crate) fn backoff(&self, n: u32) -> Duration {
        let base = self
            .backoff_init
            .saturating_mul(1 << n.saturating_sub(1).min(16))
            .min(self.backoff_max);
        let jitter = self.backoff_init.mul_f64(rand::random::<f64>());
        base + jitter
    }
}

/// What a method costs in quota units \[GM-QUOTA\].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cost {
    Import,
    Read,
    Modify,
    History,
    LabelWrite,
    Small,
    /// The chunks of a resumable upload: the initiating request paid for the import.
    Free,
    /// A batch: the sum of its parts' costs (n calls in a batch count as n, \[GM-BATCH\]).
    Units(u64),
}

impl Cost {
    pub(crate) fn units(self) -> u64 {
        match self {
            Self::Import => 25,
            Self::Read | Self::Modify | Self::LabelWrite => 5,
            Self::History => 2,
            Self::Small => 1,
            Self::Free => 0,
            Self::Units(n) => n,
        }
    }
}

/// What the log keeps a window within: `units`, less a margin for the time a request takes
/// to arrive after its units are counted (1 %, and at least 50 ms of the budget: a short
/// window under load loses more to it).
fn limit(limits: &GmailLimits) -> u64 {
    let units = limits.units.max(1);
    let window_ms = limits.window.as_millis().max(1) as u64;
    let margin = (units / 100).max(units.saturating_mul(50) / window_ms);
    units.saturating_sub(margin).max(1)
}

/// A token bucket holding at most `burst`, refilled at `units / window`, under a log of
/// the units spent in the last `window`, kept within `units` (less a margin for the time a
/// request takes to arrive): Gmail counts units over a sliding window and refuses the
/// excess \[GM-QUOTA\], each refusal waited out for a second or more \[GM-ERR\].
///
/// The bucket alone let a window hold `units + burst` after an idle spell, and the engine's
/// pauses between batches (its ledger writes) are such spells: refusals held the pace to
/// 0.43 of the budget's in `benches/gmail_throughput`; refilled at `(units - burst) /
/// window` instead, refusals stopped but every pause was lost for good (0.84–0.88). With
/// the log, a pause's units are spent after it, as long as the window has them.
#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    last: Instant,
    /// What was spent when, within the last window.
    log: std::collections::VecDeque<(Instant, u64)>,
    in_window: u64,
    window: Duration,
    limit: u64,
}

impl Bucket {
    pub(crate) fn new(limits: &GmailLimits) -> Self {
        let capacity = limits.burst.max(25) as f64;
        Self {
            tokens: capacity,
            capacity,
            per_sec: limits.units as f64 / limits.window.as_secs_f64().max(0.001),
            last: Instant::now(),
            log: std::collections::VecDeque::new(),
            in_window: 0,
            window: limits.window,
            limit: limit(limits),
        }
    }

    /// Takes `cost` units now, or says how long to wait for them.
    pub(crate) fn take(&mut self, cost: u64, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.last = now;
        while let Some(&(at, units)) = self.log.front() {
            if now.saturating_duration_since(at) < self.window {
                break;
            }
            self.in_window -= units;
            self.log.pop_front();
        }
        // A batch may cost more than the bucket (or the window) holds: it waits for a full
        // bucket (an empty window) then.
        let units = cost.min(self.limit);
        let bucket_cost = (cost as f64).min(self.capacity);
        let bucket_wait = (self.tokens < bucket_cost)
            .then(|| Duration::from_secs_f64((bucket_cost - self.tokens) / self.per_sec));
        let window_wait = (self.in_window + units > self.limit).then(|| {
            // The instant enough of the oldest spends leave the window.
            let mut freed = 0;
            let mut until = now;
            for &(at, u) in &self.log {
                freed += u;
                until = at + self.window;
                if self.in_window - freed + units <= self.limit {
                    break;
                }
            }
            until.saturating_duration_since(now) + Duration::from_millis(1)
        });
        match (bucket_wait, window_wait) {
            (None, None) => {
                self.tokens -= bucket_cost;
                self.in_window += units;
                self.log.push_back((now, units));
                None
            }
            (a, b) => a.max(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_paces_after_its_burst() {
        // 600 units a minute (10 a second), 50 at once.
        let limits = GmailLimits::default()
            .with_units(600, Duration::from_secs(60))
            .with_burst(50);
        let mut b = Bucket::new(&limits);
        let t0 = Instant::now();
        assert_eq!(b.take(25, t0), None);
        assert_eq!(b.take(25, t0), None);
        let wait = b.take(25, t0).unwrap();
        assert!(
            wait > Duration::from_secs(2) && wait <= Duration::from_millis(2500),
            "{wait:?}"
        );
        assert_eq!(b.take(25, t0 + Duration::from_millis(2500)), None);
    }

    #[test]
    fn no_window_holds_more_than_the_budget() {
        // Spending as fast as the bucket allows, any window of a second holds at most the
        // budget, burst included.
        let limits = GmailLimits::default().with_units(1_000, Duration::from_secs(1));
        let mut b = Bucket::new(&limits);
        let t0 = Instant::now();
        let mut now = t0;
        let mut spends = Vec::new();
        while now < t0 + Duration::from_secs(5) {
            match b.take(25, now) {
                None => spends.push(now),
                Some(wait) => now += wait,
            }
        }
        for (i, start) in spends.iter().enumerate() {
            let n = spends[i..]
                .iter()
                .take_while(|t| t.duration_since(*start) < Duration::from_secs(1))
                .count();
            assert!(n * 25 <= 1_000, "{n} imports in a second");
        }
        // And it keeps close to the budget: ≥ 95 % of it over the five seconds.
        assert!(spends.len() * 25 >= 4_750, "{}", spends.len());
    }

    #[test]
    fn backoff_grows_and_is_truncated() {
        let l =
            GmailLimits::default().with_backoff(Duration::from_millis(100), Duration::from_secs(1));
        assert!(l.backoff(1) < Duration::from_millis(201));
        assert!(l.backoff(3) >= Duration::from_millis(400));
        assert!(l.backoff(20) <= Duration::from_millis(1100));
    }
}

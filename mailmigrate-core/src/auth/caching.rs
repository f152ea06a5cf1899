//! [`CachingTokenProvider`]: a cache with single-flight refresh around a [`TokenSource`].

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::token::now;
use super::{AccessToken, TokenProvider, TokenSource};
use crate::{Error, Result};

/// The default refresh margin: tokens are renewed this long before they expire.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Turns a [`TokenSource`] into a [`TokenProvider`]: caches the token and fetches a new
/// one a margin before the old one expires.
///
/// - **Refresh margin**: a cached token is handed out until `margin` before its expiry
///   ([`DEFAULT_REFRESH_MARGIN`], 5 minutes, unless set with
///   [`with_refresh_margin`](Self::with_refresh_margin)); for a token whose whole lifetime
///   is shorter than twice the margin, until half its lifetime. A token without an expiry
///   is kept until [`invalidate`](TokenProvider::invalidate)d.
/// - **Single flight**: however many tasks ask at once, one fetch runs; the others wait for
///   it and share its token, or its error.
/// - **Errors are not cached**: a failed fetch is reported to the callers that waited for
///   it; the next call fetches again. Backing off between failures is the retry layer's
///   job, not the cache's.
/// - **Invalidate** drops the cached token if it is the rejected one, so the next call
///   fetches; a token another task already replaced is left alone.
///
/// # Examples
/// ```
/// use async_trait::async_trait;
/// use mailmigrate_core::auth::{AccessToken, CachingTokenProvider, TokenProvider, TokenSource};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
///
/// #[derive(Debug, Default)]
/// struct Counting(AtomicU32);
///
/// #[async_trait]
/// impl TokenSource for Counting {
///     async fn fetch(&self) -> mailmigrate_core::Result<AccessToken> {
///         let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
///         Ok(AccessToken::new(format!("token-{n}")).with_expires_in(Duration::from_secs(3600)))
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let p = CachingTokenProvider::new(Counting::default())
///     .with_refresh_margin(Duration::from_secs(60));
/// let first = p.token().await.unwrap();
/// assert_eq!(p.token().await.unwrap().secret(), first.secret()); // cached
/// p.invalidate(&first); // a server refused it
/// assert_eq!(p.token().await.unwrap().secret().expose_secret(), "token-2");
/// # });
/// ```
pub struct CachingTokenProvider<S> {
    source: S,
    margin: Duration,
    state: Mutex<State>,
    /// Held while a fetch runs: the single flight.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// How many fetches have finished, successfully or not.
    fetches: u64,
    /// The error of the last fetch, while it is the last one.
    failure: Option<Error>,
}

struct Cached {
    token: AccessToken,
    /// When to stop handing it out.
    refresh_at: Option<Instant>,
}

impl Cached {
    fn is_fresh(&self) -> bool {
        self.refresh_at.is_none_or(|at| now() < at)
    }
}

impl<S: TokenSource> CachingTokenProvider<S> {
    /// Caches tokens from `source`, renewing them [`DEFAULT_REFRESH_MARGIN`] before expiry.
    pub fn new(source: S) -> Self {
        Self {
            source,
            margin: DEFAULT_REFRESH_MARGIN,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Renews tokens `margin` before they expire (see the type docs for short-lived tokens).
    #[must_use]
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The refresh margin.
    pub fn refresh_margin(&self) -> Duration {
        self.margin
    }

    /// The source tokens are fetched from.
    pub fn source(&self) -> &S {
        &self.source
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves nothing half-written worth refusing.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached token if it is still fresh.
    fn fresh(state: &State) -> Option<AccessToken> {
        state
            .cached
            .as_ref()
            .filter(|c| c.is_fresh())
            .map(|c| c.token.clone())
    }

    /// When to stop handing `token` out: `margin` before expiry, or half its lifetime.
    fn refresh_at(&self, token: &AccessToken) -> Option<Instant> {
        let at = token.expires_at()?;
        let lifetime = at.saturating_duration_since(now());
        Some(at - self.margin.min(lifetime / 2))
    }
}

impl<S> fmt::Debug for CachingTokenProvider<S>
where
    S: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self
            .state
            .try_lock()
            .map(|s| s.cached.as_ref().map(|c| c.token.clone()))
            .ok()
            .flatten();
        f.debug_struct("CachingTokenProvider")
            .field("source", &self.source)
            .field("margin", &self.margin)
            .field("cached", &cached)
            .finish()
    }
}

#[async_trait]
impl<S: TokenSource> TokenProvider for CachingTokenProvider<S> {
    async fn token(&self) -> Result<AccessToken> {
        let seen = {
            let state = self.state();
            if let Some(t) = Self::fresh(&state) {
                return Ok(t);
            }
            state.fetches
        };
        let _flight = self.fetching.lock().await;
        {
            let state = self.state();
            if let Some(t) = Self::fresh(&state) {
                return Ok(t);
            }
            // A fetch finished while this call waited for it and failed: share its error
            // rather than asking the endpoint again at once.
            if state.fetches != seen {
                if let Some(e) = &state.failure {
                    return Err(e.detached());
                }
            }
        }
        let fetched = self.source.fetch().await;
        let mut state = self.state();
        state.fetches += 1;
        match fetched {
            Ok(token) => {
                state.failure = None;
                state.cached = Some(Cached {
                    refresh_at: self.refresh_at(&token),
                    token: token.clone(),
                });
                Ok(token)
            }
            Err(e) => {
                state.failure = Some(e.detached());
                Err(e)
            }
        }
    }

    fn invalidate(&self, rejected: &AccessToken) {
        let mut state = self.state();
        if state
            .cached
            .as_ref()
            .is_some_and(|c| c.token.secret() == rejected.secret())
        {
            state.cached = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::ErrorKind;

    /// Hands out `token-1`, `token-2`, … valid for `lifetime`, or fails while `failing`.
    #[derive(Debug)]
    struct Counter {
        fetches: AtomicU32,
        lifetime: Option<Duration>,
        failing: std::sync::atomic::AtomicBool,
    }

    impl Counter {
        fn new(lifetime: Option<Duration>) -> Self {
            Self {
                fetches: AtomicU32::new(0),
                lifetime,
                failing: false.into(),
            }
        }
        fn count(&self) -> u32 {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl TokenSource for Counter {
        async fn fetch(&self) -> Result<AccessToken> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            // Long enough for every concurrent caller to queue up behind this fetch.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if self.failing.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Unavailable, "endpoint down").temporary());
            }
            let t = AccessToken::new(format!("token-{n}"));
            Ok(match self.lifetime {
                Some(l) => t.with_expires_in(l),
                None => t,
            })
        }
    }

    fn secret(t: &AccessToken) -> &str {
        t.secret().expose_secret()
    }

    #[tokio::test(start_paused = true)]
    async fn renews_a_margin_before_expiry() {
        let p = CachingTokenProvider::new(Counter::new(Some(Duration::from_secs(3600))));
        assert_eq!(secret(&p.token().await.unwrap()), "token-1");
        tokio::time::advance(Duration::from_secs(3600 - 301)).await;
        assert_eq!(secret(&p.token().await.unwrap()), "token-1");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(secret(&p.token().await.unwrap()), "token-2");
        assert_eq!(p.source().count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_lived_token_is_kept_for_half_its_lifetime() {
        let p = CachingTokenProvider::new(Counter::new(Some(Duration::from_secs(60))));
        p.token().await.unwrap();
        tokio::time::advance(Duration::from_secs(29)).await;
        p.token().await.unwrap();
        assert_eq!(p.source().count(), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        p.token().await.unwrap();
        assert_eq!(p.source().count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_fetch() {
        let p = Arc::new(CachingTokenProvider::new(Counter::new(None)));
        let calls = (0..50).map(|_| {
            let p = Arc::clone(&p);
            tokio::spawn(async move { p.token().await.unwrap() })
        });
        for t in futures::future::join_all(calls).await {
            assert_eq!(secret(&t.unwrap()), "token-1");
        }
        assert_eq!(p.source().count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_is_shared_by_its_waiters_but_not_cached() {
        let p = Arc::new(CachingTokenProvider::new(Counter::new(None)));
        p.source().failing.store(true, Ordering::SeqCst);
        let calls = (0..20).map(|_| {
            let p = Arc::clone(&p);
            tokio::spawn(async move { p.token().await.unwrap_err() })
        });
        for e in futures::future::join_all(calls).await {
            let e = e.unwrap();
            assert_eq!(e.kind(), ErrorKind::Unavailable);
            assert!(e.is_temporary());
        }
        assert_eq!(p.source().count(), 1);
        p.source().failing.store(false, Ordering::SeqCst);
        assert_eq!(secret(&p.token().await.unwrap()), "token-2");
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_drops_only_the_rejected_token() {
        let p = CachingTokenProvider::new(Counter::new(None));
        let first = p.token().await.unwrap();
        p.invalidate(&first);
        let second = p.token().await.unwrap();
        assert_eq!(secret(&second), "token-2");
        // A stale rejection (another connection still held token-1) keeps token-2.
        p.invalidate(&first);
        assert_eq!(secret(&p.token().await.unwrap()), "token-2");
        assert_eq!(p.source().count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn debug_shows_no_token() {
        let p = CachingTokenProvider::new(Counter::new(None));
        p.token().await.unwrap();
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("token-1"), "{dbg}");
        assert!(dbg.contains("***"), "{dbg}");
    }
}

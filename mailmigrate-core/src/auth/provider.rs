//! The two traits: [`TokenProvider`] (what a backend asks) and [`TokenSource`] (what a
//! cache fetches from).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::AccessToken;
use crate::Result;

/// Hands out valid access tokens to a backend (IMAP XOAUTH2/OAUTHBEARER, Graph, Gmail).
///
/// This is the trait backends take, as `Arc<dyn TokenProvider>`. Most implementations are
/// a [`CachingTokenProvider`](super::CachingTokenProvider) around a [`TokenSource`]; a
/// fixed token is a [`StaticToken`](super::StaticToken).
///
/// # Contract
/// - [`token`](Self::token) returns a token the server will accept: one that stays valid
///   for at least the provider's refresh margin (5 minutes for
///   [`CachingTokenProvider`](super::CachingTokenProvider) by default, or half the token's
///   lifetime if that is shorter), so a request started with it does not expire halfway.
///   It is called often (on every new connection, before requests): cache, and let
///   concurrent callers share one fetch.
/// - [`invalidate`](Self::invalidate) is called after a server refused `rejected` (an IMAP
///   `NO [AUTHENTICATIONFAILED]`, an HTTP 401). The next `token` call must not return that
///   token again: it fetches a fresh one. A caller invalidates at most once per failure and
///   then retries once, so a provider never sees a loop. Invalidating a token the provider
///   no longer holds (another task already replaced it) changes nothing.
/// - Secrets never appear in `Debug` output, errors or logs: keep them in
///   [`SecretString`](super::SecretString)s.
///
/// # Errors
/// [`token`](Self::token) fails with [`ErrorKind::Unauthenticated`](crate::ErrorKind::Unauthenticated),
/// *not* temporary, when no retry can help: a revoked or expired refresh token
/// (`invalid_grant`), a wrong client id or secret (`invalid_client`). It fails with a
/// temporary error when a later call may succeed: [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable)
/// for network failures and 5xx answers, [`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited)
/// for a 429, with the endpoint's `Retry-After` as [`Error::temporary_after`](crate::Error::temporary_after).
///
/// # Implementing
/// ```
/// use async_trait::async_trait;
/// use mailmigrate_core::auth::{AccessToken, TokenProvider};
///
/// /// Reads a token another program keeps fresh in an environment variable.
/// #[derive(Debug)]
/// struct FromEnv;
///
/// #[async_trait]
/// impl TokenProvider for FromEnv {
///     async fn token(&self) -> mailmigrate_core::Result<AccessToken> {
///         let t = std::env::var("MY_ACCESS_TOKEN").map_err(|_| {
///             mailmigrate_core::Error::new(
///                 mailmigrate_core::ErrorKind::Unauthenticated,
///                 "MY_ACCESS_TOKEN is not set",
///             )
///         })?;
///         Ok(AccessToken::new(t))
///     }
///
///     fn invalidate(&self, _rejected: &AccessToken) {
///         // Nothing cached: the next call reads the variable again.
///     }
/// }
///
/// let provider: std::sync::Arc<dyn TokenProvider> = std::sync::Arc::new(FromEnv);
/// # let _ = provider;
/// ```
#[async_trait]
pub trait TokenProvider: fmt::Debug + Send + Sync + 'static {
    /// Returns a token valid for at least the refresh margin.
    ///
    /// # Errors
    /// See the trait docs: `Unauthenticated` (permanent) when the credentials are refused
    /// for good, temporary `Unavailable`/`RateLimited` when the token endpoint is failing.
    async fn token(&self) -> Result<AccessToken>;

    /// Forgets `rejected`, which a server refused, so the next [`token`](Self::token) call
    /// fetches a fresh one.
    fn invalidate(&self, rejected: &AccessToken);
}

#[async_trait]
impl<T: TokenProvider + ?Sized> TokenProvider for Arc<T> {
    async fn token(&self) -> Result<AccessToken> {
        (**self).token().await
    }

    fn invalidate(&self, rejected: &AccessToken) {
        (**self).invalidate(rejected);
    }
}

#[async_trait]
impl<T: TokenProvider + ?Sized> TokenProvider for Box<T> {
    async fn token(&self) -> Result<AccessToken> {
        (**self).token().await
    }

    fn invalidate(&self, rejected: &AccessToken) {
        (**self).invalidate(rejected);
    }
}

/// Fetches a brand-new access token each time it is called: one request to a token
/// endpoint, one run of a helper program.
///
/// A source does not cache; wrap it in a [`CachingTokenProvider`](super::CachingTokenProvider)
/// to get a [`TokenProvider`]. [`OAuth2Client`](super::OAuth2Client) (feature `oauth2`)
/// is the source for OAuth2 token endpoints; other flows (device code, a service account's
/// signed JWT) are further sources.
///
/// # Errors
/// As for [`TokenProvider::token`]: permanent `Unauthenticated` when the credentials are
/// refused for good, temporary errors when a later fetch may succeed.
///
/// # Examples
/// ```
/// use async_trait::async_trait;
/// use mailmigrate_core::auth::{AccessToken, CachingTokenProvider, TokenProvider, TokenSource};
/// use std::time::Duration;
///
/// #[derive(Debug)]
/// struct Minted;
///
/// #[async_trait]
/// impl TokenSource for Minted {
///     async fn fetch(&self) -> mailmigrate_core::Result<AccessToken> {
///         Ok(AccessToken::new("fresh").with_expires_in(Duration::from_secs(3600)))
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let provider = CachingTokenProvider::new(Minted);
/// assert_eq!(provider.token().await.unwrap().secret().expose_secret(), "fresh");
/// # });
/// ```
#[async_trait]
pub trait TokenSource: fmt::Debug + Send + Sync + 'static {
    /// Fetches a new token.
    ///
    /// # Errors
    /// See the trait docs.
    async fn fetch(&self) -> Result<AccessToken>;
}

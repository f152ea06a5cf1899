//! [`AccessToken`]: a bearer token and how long it lasts.

use std::fmt;
use std::time::{Duration, Instant};

use super::SecretString;

/// A bearer access token, when it expires, and the scopes it was granted for.
///
/// `Debug` shows the expiry and scopes, never the token. Expiry is a monotonic
/// [`Instant`] (read from tokio's clock, so tests with a paused clock see it move): a token
/// endpoint says `expires_in`, not a wall-clock time, and a cache must not be fooled by the
/// system clock jumping.
///
/// # Examples
/// ```
/// use mailmigrate_core::auth::AccessToken;
/// use std::time::Duration;
///
/// let t = AccessToken::new("ya29.a0Af")
///     .with_expires_in(Duration::from_secs(3600))
///     .with_scopes(["https://mail.google.com/"]);
/// assert_eq!(t.secret().expose_secret(), "ya29.a0Af");
/// assert!(t.is_valid_for(Duration::from_secs(300)));
/// assert!(!format!("{t:?}").contains("ya29"));
/// ```
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    expires_at: Option<Instant>,
    scopes: Vec<String>,
}

impl AccessToken {
    /// A token with no known expiry and no scopes.
    pub fn new(secret: impl Into<SecretString>) -> Self {
        Self {
            secret: secret.into(),
            expires_at: None,
            scopes: Vec::new(),
        }
    }

    /// Sets the instant the token stops being valid.
    #[must_use]
    pub fn with_expires_at(mut self, at: Instant) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Sets the expiry to `lifetime` from now (a token endpoint's `expires_in`).
    #[must_use]
    pub fn with_expires_in(self, lifetime: Duration) -> Self {
        let at = now() + lifetime;
        self.with_expires_at(at)
    }

    /// Sets the scopes the token was granted for.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The token itself.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// When the token expires, if known.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }

    /// The scopes the token was granted for (empty when the endpoint did not say).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether the token is still valid `margin` from now. A token without an expiry is
    /// always valid (until a server refuses it).
    pub fn is_valid_for(&self, margin: Duration) -> bool {
        self.expires_at.is_none_or(|at| now() + margin < at)
    }
}

/// Now, on tokio's clock (which a test may pause and advance).
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AccessToken");
        d.field("secret", &self.secret);
        match self.expires_at {
            Some(at) => d.field(
                "expires_in",
                &at.checked_duration_since(now()).unwrap_or_default(),
            ),
            None => d.field("expires_in", &None::<Duration>),
        };
        d.field("scopes", &self.scopes).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_expiry_and_scopes_but_not_the_token() {
        let t = AccessToken::new("tok-123")
            .with_expires_in(Duration::from_secs(60))
            .with_scopes(["a", "b"]);
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("tok-123"), "{dbg}");
        assert!(dbg.contains("***") && dbg.contains("\"a\""), "{dbg}");
    }

    #[test]
    fn validity_counts_the_margin() {
        let t = AccessToken::new("x").with_expires_in(Duration::from_secs(60));
        assert!(t.is_valid_for(Duration::from_secs(30)));
        assert!(!t.is_valid_for(Duration::from_secs(90)));
        assert!(AccessToken::new("x").is_valid_for(Duration::MAX / 2));
    }
}

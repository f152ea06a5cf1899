//! [`StaticToken`]: one fixed token.

use async_trait::async_trait;

use super::{AccessToken, SecretString, TokenProvider};
use crate::Result;

/// A [`TokenProvider`] that always returns the same token, with no expiry.
///
/// For tests, and for users who obtain a token elsewhere for a single short run. A server
/// that refuses it refuses it again: `invalidate` cannot help.
///
/// # Examples
/// ```
/// use mailmigrate_core::auth::{StaticToken, TokenProvider};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let p = StaticToken::new("ya29.a0Af");
/// assert_eq!(p.token().await.unwrap().secret().expose_secret(), "ya29.a0Af");
/// assert_eq!(format!("{p:?}"), "StaticToken(***)");
/// # });
/// ```
#[derive(Clone)]
pub struct StaticToken(SecretString);

impl StaticToken {
    /// A provider handing out `token`.
    pub fn new(token: impl Into<SecretString>) -> Self {
        Self(token.into())
    }
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken(***)")
    }
}

#[async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self) -> Result<AccessToken> {
        Ok(AccessToken::new(self.0.clone()))
    }

    fn invalidate(&self, _rejected: &AccessToken) {}
}

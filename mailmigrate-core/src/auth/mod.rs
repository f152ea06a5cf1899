//! Access tokens for providers that sign in with OAuth2: one abstraction shared by the
//! IMAP backend (XOAUTH2, OAUTHBEARER) and the HTTP APIs.
//!
//! - [`TokenProvider`] is what a backend asks for a token, and tells when a server refused
//!   one. Backends take it as `Arc<dyn TokenProvider>`.
//! - [`TokenSource`] fetches a new token each time; [`CachingTokenProvider`] turns one into
//!   a provider that caches, renews a margin before expiry, and runs one fetch however many
//!   tasks ask at once.
//! - [`StaticToken`] is a fixed token, for tests and short runs.
//! - With the `oauth2` feature, [`OAuth2Client`] is a source for OAuth2 token endpoints
//!   (the refresh-token and client-credentials grants), and [`DeviceCodeFlow`] signs a
//!   person in by device code (RFC 8628) for a refresh token.
//!
//! Secrets live in [`SecretString`]s, which print as `***`: no type here shows a token or
//! a client secret in `Debug` output or in an error.
//!
//! # Examples
//! ```
//! use mailmigrate_core::auth::{StaticToken, TokenProvider};
//! use std::sync::Arc;
//!
//! let provider: Arc<dyn TokenProvider> = Arc::new(StaticToken::new("ya29.a0Af"));
//! # let _ = provider;
//! ```
//!
//! With the `oauth2` feature, a refresh token for Microsoft 365 IMAP:
//! ```no_run
//! # #[cfg(feature = "oauth2")]
//! # fn main() -> mailmigrate_core::Result<()> {
//! use mailmigrate_core::auth::{CachingTokenProvider, OAuth2Client, OAuth2Grant, TokenProvider};
//! use std::sync::Arc;
//!
//! let source = OAuth2Client::builder(
//!     "https://login.microsoftonline.com/common/oauth2/v2.0/token",
//!     "my-client-id",
//! )
//! .with_scopes(["https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"])
//! .with_grant(OAuth2Grant::refresh_token("0.AX8A…"))
//! .build()?;
//! let provider: Arc<dyn TokenProvider> = Arc::new(CachingTokenProvider::new(source));
//! # let _ = provider;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "oauth2"))]
//! # fn main() {}
//! ```

mod caching;
#[cfg(feature = "oauth2")]
mod oauth2;
mod provider;
mod secret;
mod static_token;
mod token;

pub use caching::{CachingTokenProvider, DEFAULT_REFRESH_MARGIN};
#[cfg(feature = "oauth2")]
pub use oauth2::{
    DeviceCodeFlow, DeviceCodeFlowBuilder, DeviceSignIn, OAuth2Client, OAuth2ClientBuilder,
    OAuth2Grant, SignedIn,
};
pub use provider::{TokenProvider, TokenSource};
pub use secret::SecretString;
pub use static_token::StaticToken;
pub use token::AccessToken;

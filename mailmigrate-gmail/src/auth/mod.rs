//! Google sign-in beyond a refresh token: service accounts with domain-wide delegation
//! ([`ServiceAccount`], \[GO-SA\]) and the installed-app flow for one user
//! ([`InstalledApp`], \[GO-IA\]). Both end in core's token traits: a service account is a
//! [`TokenSource`](mailmigrate_core::auth::TokenSource) (wrap it in a
//! [`CachingTokenProvider`](mailmigrate_core::auth::CachingTokenProvider), or let
//! [`ServiceAccountKey::provider_for`] do it), the installed-app flow yields a refresh token
//! for [`GmailBuilder::with_refresh_token`](crate::GmailBuilder::with_refresh_token).

mod installed_app;
mod service_account;
mod token_endpoint;

pub use installed_app::{InstalledApp, SignedIn, GOOGLE_AUTH_URL};
pub use service_account::{ServiceAccount, ServiceAccountKey, MAX_ASSERTION_LIFETIME};

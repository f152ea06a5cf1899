//! [`OAuth2Client`]: a [`TokenSource`] for OAuth2 token endpoints (feature `oauth2`).
//!
//! The oauth2 crate builds the requests and parses the answers; reqwest with rustls sends
//! them, without following redirects. Flows that need a person end with a refresh token
//! that feeds [`OAuth2Grant::RefreshToken`]: the device code flow ([`DeviceCodeFlow`],
//! RFC 8628) is here; an authorization-code flow with its redirect belongs to the provider
//! crates. A new non-interactive grant is a new [`OAuth2Grant`] variant and one arm in
//! [`OAuth2Client::request`].

mod device;
mod error;
mod http;

pub use device::{DeviceCodeFlow, DeviceCodeFlowBuilder, DeviceSignIn, SignedIn};

use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, RefreshToken, Scope, TokenResponse, TokenUrl};

use super::token::now;
use super::{AccessToken, SecretString, TokenSource};
use crate::{Error, ErrorKind, Result};

/// How [`OAuth2Client`] obtains tokens.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum OAuth2Grant {
    /// The refresh-token grant (RFC 6749 §6): a user signed in once; the refresh token
    /// renews access. A rotated refresh token from the endpoint replaces this one (see
    /// [`OAuth2Client::refresh_token`]).
    RefreshToken(SecretString),
    /// The client-credentials grant (RFC 6749 §4.4): the application acts as itself
    /// (application permissions in Microsoft Entra).
    ClientCredentials,
}

impl OAuth2Grant {
    /// The refresh-token grant with `token`.
    pub fn refresh_token(token: impl Into<SecretString>) -> Self {
        Self::RefreshToken(token.into())
    }
}

/// Fetches access tokens from an OAuth2 token endpoint; wrap it in a
/// [`CachingTokenProvider`](super::CachingTokenProvider).
///
/// Only `https` token URLs are accepted (TLS verified against the webpki roots), unless
/// [`allow_http_loopback`](OAuth2ClientBuilder::allow_http_loopback) admits `http` to a
/// loopback address for tests. Redirects are not followed.
///
/// # Errors
/// [`fetch`](TokenSource::fetch) maps the endpoint's answers: `invalid_grant`,
/// `invalid_client` and `unauthorized_client` → [`ErrorKind::Unauthenticated`],
/// permanent; `invalid_scope` → `PermissionDenied`; `invalid_request`,
/// `unsupported_grant_type` → `ConfigInvalid`; HTTP 429 → temporary `RateLimited` with the
/// `Retry-After` hint; 5xx, timeouts and connection failures → temporary `Unavailable`. No
/// error carries anything the endpoint sent beyond a standard error code.
///
/// # Examples
/// ```no_run
/// use mailmigrate_core::auth::{CachingTokenProvider, OAuth2Client, OAuth2Grant, TokenProvider};
///
/// # async fn run() -> mailmigrate_core::Result<()> {
/// let source = OAuth2Client::builder("https://oauth2.googleapis.com/token", "1234.apps.googleusercontent.com")
///     .with_client_secret("GOCSPX-…")
///     .with_grant(OAuth2Grant::refresh_token("1//0g…"))
///     .build()?;
/// let provider = CachingTokenProvider::new(source);
/// let token = provider.token().await?;
/// # let _ = token;
/// # Ok(())
/// # }
/// # let _ = run;
/// ```
pub struct OAuth2Client {
    token_url: TokenUrl,
    client_id: String,
    client_secret: Option<SecretString>,
    scopes: Vec<String>,
    grant: OAuth2Grant,
    /// The refresh token in use: the grant's, or the last one the endpoint rotated to.
    refresh: Mutex<Option<SecretString>>,
    credentials_in_body: bool,
    http: reqwest::Client,
}

impl OAuth2Client {
    /// Starts a client for the token endpoint at `token_url`, as `client_id`.
    pub fn builder(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
    ) -> OAuth2ClientBuilder {
        OAuth2ClientBuilder {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: None,
            scopes: Vec::new(),
            grant: None,
            allow_http_loopback: false,
            credentials_in_body: false,
            timeout: Duration::from_secs(30),
        }
    }

    /// The refresh token in use: the one given, or the newer one the endpoint returned.
    /// Store it when it changes, or the next run may sign in with a revoked one. `None`
    /// for the client-credentials grant.
    pub fn refresh_token(&self) -> Option<SecretString> {
        self.refresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sends one token request for the grant.
    async fn request(&self) -> Result<oauth2::basic::BasicTokenResponse> {
        let mut client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_token_uri(self.token_url.clone());
        if let Some(secret) = &self.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        if self.credentials_in_body {
            client = client.set_auth_type(AuthType::RequestBody);
        }
        let http = http::Http(&self.http);
        let scopes = self.scopes.iter().cloned().map(Scope::new);
        let answer = match &self.grant {
            OAuth2Grant::RefreshToken(_) => {
                let refresh = self.refresh_token().unwrap_or_default();
                let refresh = RefreshToken::new(refresh.expose_secret().to_owned());
                client
                    .exchange_refresh_token(&refresh)
                    .add_scopes(scopes)
                    .request_async(&http)
                    .await
            }
            OAuth2Grant::ClientCredentials => {
                client
                    .exchange_client_credentials()
                    .add_scopes(scopes)
                    .request_async(&http)
                    .await
            }
        };
        answer.map_err(error::map)
    }
}

#[async_trait]
impl TokenSource for OAuth2Client {
    async fn fetch(&self) -> Result<AccessToken> {
        // The lifetime counts from before the request, so the token expires no later than
        // the endpoint meant.
        let asked = now();
        let answer = self.request().await?;
        if let Some(rotated) = answer.refresh_token() {
            *self
                .refresh
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(SecretString::new(rotated.secret().clone()));
        }
        let mut token = AccessToken::new(answer.access_token().secret().clone());
        if let Some(lifetime) = answer.expires_in() {
            token = token.with_expires_at(asked + lifetime);
        }
        let granted = match answer.scopes() {
            Some(s) => s.iter().map(|s| s.to_string()).collect(),
            None => self.scopes.clone(),
        };
        Ok(token.with_scopes(granted))
    }
}

impl fmt::Debug for OAuth2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Client")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scopes", &self.scopes)
            .field("grant", &self.grant)
            .finish_non_exhaustive()
    }
}

/// Builds an [`OAuth2Client`]; see [`OAuth2Client::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct OAuth2ClientBuilder {
    token_url: String,
    client_id: String,
    client_secret: Option<SecretString>,
    scopes: Vec<String>,
    grant: Option<OAuth2Grant>,
    allow_http_loopback: bool,
    credentials_in_body: bool,
    timeout: Duration,
}

impl OAuth2ClientBuilder {
    /// Sets the client secret (confidential clients; public clients have none).
    pub fn with_client_secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// Sets the scopes to ask for.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the grant (required).
    pub fn with_grant(mut self, grant: OAuth2Grant) -> Self {
        self.grant = Some(grant);
        self
    }

    /// Sends the client id and secret as form fields instead of HTTP Basic authentication
    /// (for endpoints that accept only that).
    pub fn with_credentials_in_body(mut self) -> Self {
        self.credentials_in_body = true;
        self
    }

    /// Admits an `http` token URL whose host is a loopback address (`127.0.0.1`, `::1`,
    /// `localhost`), for tests against a local endpoint. Never use it for a real endpoint.
    pub fn allow_http_loopback(mut self, allow: bool) -> Self {
        self.allow_http_loopback = allow;
        self
    }

    /// Sets the time one token request may take (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates the settings and builds the client.
    ///
    /// # Errors
    /// [`ErrorKind::ConfigInvalid`] for a missing grant or client id, a token URL that does
    /// not parse, or one that is not `https` (nor loopback `http` when allowed).
    pub fn build(self) -> Result<OAuth2Client> {
        let invalid = |m: &str| Error::new(ErrorKind::ConfigInvalid, m);
        let grant = self
            .grant
            .ok_or_else(|| invalid("no OAuth2 grant: use with_grant"))?;
        if self.client_id.is_empty() {
            return Err(invalid("the OAuth2 client id is empty"));
        }
        let token_url = TokenUrl::from_url(endpoint_url(
            "token",
            &self.token_url,
            self.allow_http_loopback,
        )?);
        let http = http_client(self.allow_http_loopback, self.timeout)?;
        let refresh = match &grant {
            OAuth2Grant::RefreshToken(t) => Some(t.clone()),
            OAuth2Grant::ClientCredentials => None,
        };
        Ok(OAuth2Client {
            token_url,
            client_id: self.client_id,
            client_secret: self.client_secret,
            scopes: self.scopes,
            grant,
            refresh: Mutex::new(refresh),
            credentials_in_body: self.credentials_in_body,
            http,
        })
    }
}

/// Parses an endpoint URL (`what`: "token", "device authorization"): `https`, or `http` to
/// a loopback host when `allow_http_loopback`.
fn endpoint_url(what: &str, url: &str, allow_http_loopback: bool) -> Result<oauth2::url::Url> {
    let invalid = |m: String| Error::new(ErrorKind::ConfigInvalid, m);
    let url = oauth2::url::Url::parse(url)
        .map_err(|_| invalid(format!("the OAuth2 {what} URL does not parse")))?;
    let loopback = match url.host() {
        Some(oauth2::url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(oauth2::url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(oauth2::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_http_loopback && loopback => Ok(url),
        "http" if allow_http_loopback => Err(invalid(format!(
            "an http OAuth2 {what} URL is allowed only for a loopback host"
        ))),
        _ => Err(invalid(format!("the OAuth2 {what} URL must use https"))),
    }
}

/// The HTTPS client of token requests: rustls, no redirects, `timeout` per request.
fn http_client(allow_http_loopback: bool, timeout: Duration) -> Result<reqwest::Client> {
    let mut http = reqwest::Client::builder()
        .use_rustls_tls()
        .https_only(!allow_http_loopback)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout);
    if allow_http_loopback {
        // A loopback endpoint is never reached through a proxy.
        http = http.no_proxy();
    }
    http.build().map_err(|e| {
        Error::new(ErrorKind::ConfigInvalid, "cannot set up the HTTPS client").with_source(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(url: &str) -> OAuth2ClientBuilder {
        OAuth2Client::builder(url, "client").with_grant(OAuth2Grant::ClientCredentials)
    }

    #[test]
    fn only_https_unless_loopback_http_is_allowed() {
        assert!(builder("https://login.example.com/token").build().is_ok());
        let e = builder("http://login.example.com/token")
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(builder("http://127.0.0.1:8080/token").build().is_err());
        let b = |u| builder(u).allow_http_loopback(true).build();
        assert!(b("http://127.0.0.1:8080/token").is_ok());
        assert!(b("http://[::1]:8080/token").is_ok());
        assert!(b("http://localhost/token").is_ok());
        assert!(b("http://10.0.0.1/token").is_err());
        assert!(b("ftp://127.0.0.1/token").is_err());
    }

    #[test]
    fn a_grant_is_required() {
        let e = OAuth2Client::builder("https://x.example/token", "c")
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    }

    #[test]
    fn debug_hides_secrets() {
        let c = OAuth2Client::builder("https://x.example/token", "c")
            .with_client_secret("client-secret-1")
            .with_grant(OAuth2Grant::refresh_token("refresh-secret-2"))
            .build()
            .unwrap();
        let dbg = format!("{c:?} {:?}", c.refresh_token());
        assert!(
            !dbg.contains("secret-1") && !dbg.contains("secret-2"),
            "{dbg}"
        );
    }
}

//! Posting a grant to Google's token endpoint and mapping its answer: the one place the
//! service-account and installed-app flows share \[GO-SA\]\[RFC6749\].
//!
//! Nothing the endpoint sends is copied into an error beyond its standard error code:
//! `error_description` may echo request fields.

use std::net::IpAddr;
use std::time::Duration;

use mailmigrate_core::auth::{AccessToken, SecretString};
use mailmigrate_core::{Error, ErrorKind, Result};
use serde::Deserialize;

use crate::PROVIDER;

/// A successful token answer.
#[derive(Debug)]
pub(crate) struct Granted {
    pub(crate) token: AccessToken,
    pub(crate) refresh: Option<SecretString>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

/// `url` parsed: `https`, or `http` to a loopback host when `allow_http_loopback`.
pub(crate) fn checked_url(url: &str, allow_http_loopback: bool) -> Result<reqwest::Url> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| config(format!("the token URL {url:?} does not parse")))?;
    let loopback = match parsed.host() {
        Some(oauth2::url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(oauth2::url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(oauth2::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_http_loopback && loopback => Ok(parsed),
        _ => Err(config(format!(
            "the token URL {url:?} is not https:// (http:// is admitted for a loopback host in tests only)"
        ))),
    }
}

/// Posts `form` to `url` for `who` (named in errors) and reads the token.
pub(crate) async fn exchange(
    http: &reqwest::Client,
    url: reqwest::Url,
    form: &[(&str, &str)],
    who: &str,
) -> Result<Granted> {
    // The lifetime counts from before the request.
    let asked = tokio::time::Instant::now().into_std();
    let resp = http.post(url).form(form).send().await.map_err(|e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("{who}: cannot reach the token endpoint ({})", kind_of(&e)),
        )
        .with_provider(PROVIDER)
        .with_source(e.without_url())
        .temporary()
    })?;
    let status = resp.status();
    let retry_after = crate::error::retry_after(resp.headers());
    let body = resp.bytes().await.map_err(|e| {
        Error::new(
            ErrorKind::Unavailable,
            format!("{who}: the token endpoint's answer broke off"),
        )
        .with_provider(PROVIDER)
        .with_source(e.without_url())
        .temporary()
    })?;
    if status.as_u16() == 429 {
        let e = Error::new(
            ErrorKind::RateLimited,
            format!("{who}: the token endpoint answered HTTP 429"),
        )
        .with_provider(PROVIDER);
        return Err(match retry_after {
            Some(after) => e.temporary_after(after),
            None => e.temporary(),
        });
    }
    if status.is_server_error() {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "{who}: the token endpoint answered HTTP {}",
                status.as_u16()
            ),
        )
        .with_provider(PROVIDER)
        .temporary());
    }
    if !status.is_success() {
        let code = serde_json::from_slice::<ErrorAnswer>(&body)
            .map(|a| a.error)
            .unwrap_or_default();
        return Err(from_code(&code, status.as_u16(), who));
    }
    let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
        Error::new(
            ErrorKind::Unexpected,
            format!("{who}: the token endpoint's answer is not a token"),
        )
        .with_provider(PROVIDER)
    })?;
    let mut token = AccessToken::new(answer.access_token);
    if let Some(secs) = answer.expires_in {
        token = token.with_expires_at(asked + Duration::from_secs(secs));
    }
    if let Some(scope) = answer.scope {
        token = token.with_scopes(scope.split_whitespace().map(str::to_owned));
    }
    Ok(Granted {
        token,
        refresh: answer.refresh_token.map(SecretString::new),
    })
}

/// Maps an OAuth error code \[RFC6749\] §5.2, with what it means for Google's flows
/// \[GO-SA\]\[I-GSA\].
fn from_code(code: &str, status: u16, who: &str) -> Error {
    let (kind, hint) = match code {
        "invalid_grant" => (
            ErrorKind::Unauthenticated,
            "invalid_grant: the assertion or code was refused (a bad signature or revoked key, \
             a clock off by minutes, an unknown user, a used or expired code)",
        ),
        "unauthorized_client" => (
            ErrorKind::Unauthenticated,
            "unauthorized_client: the client may not get tokens this way; for a service \
             account, its client id is not authorised for these scopes under domain-wide \
             delegation in the Admin console",
        ),
        "invalid_client" => (
            ErrorKind::Unauthenticated,
            "invalid_client: check the client id and secret",
        ),
        "invalid_scope" => (
            ErrorKind::PermissionDenied,
            "invalid_scope: a scope asked for does not exist",
        ),
        "invalid_request" | "unsupported_grant_type" => (
            ErrorKind::ConfigInvalid,
            "the token endpoint refused the request as malformed",
        ),
        "access_denied" => (
            ErrorKind::PermissionDenied,
            "access_denied: the user or the domain refused",
        ),
        _ => (
            ErrorKind::Unauthenticated,
            "the token endpoint refused the request",
        ),
    };
    Error::new(kind, format!("{who}: HTTP {status} {hint}")).with_provider(PROVIDER)
}

fn kind_of(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

fn config(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ConfigInvalid, msg).with_provider(PROVIDER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(checked_url("https://oauth2.googleapis.com/token", false).is_ok());
        assert!(checked_url("http://127.0.0.1:9/token", false).is_err());
        assert!(checked_url("http://127.0.0.1:9/token", true).is_ok());
        assert!(checked_url("http://evil.example/token", true).is_err());
    }

    #[test]
    fn codes_map_to_kinds() {
        let e = from_code("invalid_grant", 400, "x");
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert!(!e.is_temporary());
        assert_eq!(
            from_code("invalid_scope", 400, "x").kind(),
            ErrorKind::PermissionDenied
        );
    }
}

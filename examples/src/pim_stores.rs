//! Opening contact and calendar stores from URLs.
//!
//! - `vdir:///srv/backup/alice-pim` (or a relative `vdir://backup/pim`): a backup directory
//!   of `.vcf` and `.ics` files ([`VdirStore`]).
//! - `dav://[user@]host[:port]/path`: a CalDAV/CardDAV account over HTTPS, certificate
//!   verified ([`DavStore`]); `path` is where discovery starts (the server root, a
//!   principal). Query parameters: `password_env=VAR` (the variable holding the password;
//!   default `MAILMIGRATE_DAV_PASSWORD`), `bearer_env=VAR` (a variable holding an OAuth2
//!   access token instead), `ca_file=PATH` (a private CA), `tls=plaintext` (plain HTTP, an
//!   explicit opt-in for a server on the local machine). Secrets never go in the URL.
//! - `graph://mailbox@tenant?client_id=…`: a Microsoft 365 mailbox's contact folders and
//!   calendars, the same URL as its mail
//!   ([`GraphTarget`](crate::graph_target::GraphTarget)).
//! - `gmail://user@domain?key_file=…`: a Google Workspace user's Google Calendar and
//!   Google Contacts, the same URL as their mail
//!   ([`GmailTarget`](crate::gmail_target::GmailTarget)).

use std::path::PathBuf;
use std::sync::Arc;

use mailmigrate_core::auth::StaticToken;
use mailmigrate_core::pim::{PimStore, VdirStore};
use mailmigrate_core::{Error, ErrorKind, Operation, Result};
use mailmigrate_dav::{DavBuilder, DavStore};

/// The URL as errors show it: no query, and no user information that holds a `:`.
fn shown(url: &str) -> String {
    let base = url.split('?').next().unwrap_or_default();
    match (base.find("//"), base.rfind('@')) {
        (Some(start), Some(at)) if at > start && base[start + 2..at].contains(':') => {
            format!("{}***{}", &base[..start + 2], &base[at..])
        }
        _ => base.to_owned(),
    }
}

fn invalid(url: &str, msg: impl Into<String>) -> Error {
    let shown = shown(url);
    Error::new(ErrorKind::ConfigInvalid, msg)
        .with_operation(Operation::Build)
        .with_context("url", shown)
}

/// Where a `dav://` URL points and how to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DavTarget {
    /// `https://host[:port]/path` (or `http://` with `tls=plaintext`).
    pub url: String,
    /// The user for Basic credentials, when the URL names one.
    pub user: Option<String>,
    /// The variable holding the password.
    pub password_env: String,
    /// The variable holding a bearer token, instead of a password.
    pub bearer_env: Option<String>,
    /// A private CA certificate file.
    pub ca_file: Option<PathBuf>,
    /// Plain HTTP.
    pub plaintext: bool,
}

impl DavTarget {
    /// Parses a `dav://` URL.
    ///
    /// ```
    /// use mailmigrate_examples::pim_stores::DavTarget;
    /// let t = DavTarget::parse_url("dav://ann@dav.example.com:8443/dav/").unwrap();
    /// assert_eq!(t.url, "https://dav.example.com:8443/dav/");
    /// assert_eq!(t.user.as_deref(), Some("ann"));
    /// assert!(DavTarget::parse_url("dav://ann:pw@h/").is_err(), "no passwords in URLs");
    /// ```
    ///
    /// # Errors
    /// `ConfigInvalid` for a malformed URL, a password in it or an unknown parameter.
    pub fn parse_url(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("dav://")
            .ok_or_else(|| invalid(url, "a DAV URL looks like dav://user@host/path"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if user.is_some_and(|u| u.contains(':')) {
            return Err(invalid(
                url,
                "the DAV URL holds a password; put it in the environment (password_env)",
            ));
        }
        if host.is_empty() {
            return Err(invalid(url, "the DAV URL names no host"));
        }
        let mut t = Self {
            url: String::new(),
            user: user.map(|u| u.replace("%40", "@")),
            password_env: "MAILMIGRATE_DAV_PASSWORD".to_owned(),
            bearer_env: None,
            ca_file: None,
            plaintext: false,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("password_env", v) => t.password_env = v.to_owned(),
                ("bearer_env", v) => t.bearer_env = Some(v.to_owned()),
                ("ca_file", v) => t.ca_file = Some(PathBuf::from(v)),
                ("tls", "plaintext") => t.plaintext = true,
                _ => {
                    return Err(invalid(
                        url,
                        "unknown DAV URL parameter (known: password_env, bearer_env, ca_file, \
                         tls=plaintext)",
                    ))
                }
            }
        }
        let scheme = if t.plaintext { "http" } else { "https" };
        t.url = format!("{scheme}://{host}/{path}");
        Ok(t)
    }

    /// Connects, reading the secret from the environment.
    ///
    /// # Errors
    /// `ConfigInvalid` when the variable is not set or the CA file is unreadable;
    /// connection and discovery errors.
    pub async fn connect(&self) -> Result<DavStore> {
        let secret = |var: &str| {
            std::env::var(var).map_err(|_| {
                Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("set the DAV secret in the environment variable {var}"),
                )
                .with_operation(Operation::Build)
            })
        };
        let mut b = DavBuilder::new(&self.url).allow_plaintext(self.plaintext);
        if let Some(var) = &self.bearer_env {
            b = b.with_bearer(Arc::new(StaticToken::new(secret(var)?)));
        } else if let Some(user) = &self.user {
            b = b.with_basic(user, secret(&self.password_env)?);
        }
        if let Some(ca) = &self.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("cannot read {}: {e}", ca.display()),
                )
            })?;
            b = b.with_root_certificate_pem(pem);
        }
        b.connect().await
    }
}

/// Opens the contact and calendar store a URL names (`vdir://`, `dav://`, `graph://` or
/// `gmail://`).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let url = format!("vdir://{}", dir.path().join("pim").display());
/// let store = mailmigrate_examples::pim_stores::open_pim_store(&url).await.unwrap();
/// assert_eq!(store.info().scheme, "vdir");
/// # });
/// ```
///
/// # Errors
/// `ConfigInvalid` for an unknown scheme or a bad URL; the store's own errors.
pub async fn open_pim_store(url: &str) -> Result<Arc<dyn PimStore>> {
    if let Some(path) = url.strip_prefix("vdir://") {
        return Ok(Arc::new(VdirStore::open(path)?));
    }
    if url.starts_with("dav://") {
        return Ok(Arc::new(DavTarget::parse_url(url)?.connect().await?));
    }
    if url.starts_with("graph://") {
        let target = crate::graph_target::GraphTarget::parse_url(url)?;
        return Ok(Arc::new(target.connect().await?));
    }
    if url.starts_with("gmail://") {
        let target = crate::gmail_target::GmailTarget::parse_url(url)?;
        return Ok(Arc::new(target.connect_pim()?));
    }
    Err(invalid(
        url,
        "contacts and calendars open from vdir:///path, dav://user@host/path, \
         graph://mailbox@tenant?client_id=… or gmail://user@domain?key_file=…",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dav_urls_parse_and_refuse_secrets_and_typos() {
        let t = DavTarget::parse_url("dav://127.0.0.1:5232/?tls=plaintext&password_env=P").unwrap();
        assert_eq!(t.url, "http://127.0.0.1:5232/");
        assert_eq!(t.password_env, "P");
        assert!(t.user.is_none());
        let e = DavTarget::parse_url("dav://a:secret@h/").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(DavTarget::parse_url("dav://h/?tsl=plaintext").is_err());
        assert!(DavTarget::parse_url("dav:///x").is_err());
    }
}

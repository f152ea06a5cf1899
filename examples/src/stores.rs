//! Opening stores and state from URLs and paths.
//!
//! Store URLs name a scheme and a path: `maildir:///srv/mail/alice`, `mbox://backup/alice`
//! (relative), `imaps://user@host` (any IMAP server, see [`ImapTarget`]), `memory:` (an
//! empty in-process store, for trials). Providers not linked into this example yet
//! (`graph`, `gmail`) give an error naming the crate to use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailmigrate_core::state::{SqliteState, StateStore};
use mailmigrate_core::store::{MaildirStore, MboxStore, MemoryStore};
use mailmigrate_core::{Error, ErrorKind, Operation, Result, Store};
use mailmigrate_imap::{Imap, ImapBuilder, Tls};

use crate::pass_check::Counter;

/// The kind of local store a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// A Maildir++ tree.
    Maildir,
    /// A directory of mbox files.
    Mbox,
    /// An in-process store (empty at start, gone at exit).
    Memory,
    /// An IMAP account (see [`ImapTarget`]).
    Imap,
}

/// Where an `imap://` or `imaps://` URL points.
///
/// `imaps://user@host[:port]` uses implicit TLS, `imap://user@host[:port]` STARTTLS; both
/// verify the server's certificate. Query parameters: `tls=plaintext` (an explicit opt-in
/// to an unencrypted connection, for local test servers), `password_env=VAR` (the
/// environment variable holding the password; default `MAILMIGRATE_IMAP_PASSWORD`),
/// `ca_file=PATH` (a private CA). The password never appears in the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImapTarget {
    /// The server's host name.
    pub host: String,
    /// The port, when not the TLS mode's default.
    pub port: Option<u16>,
    /// The login name (percent-decoded, so `alice%40example.com` is `alice@example.com`).
    pub user: String,
    /// How the connection is protected.
    pub tls: Tls,
    /// The environment variable holding the password.
    pub password_env: String,
    /// A private CA certificate file.
    pub ca_file: Option<PathBuf>,
}

impl ImapTarget {
    fn parse(scheme: &str, rest: &str, url: &str) -> Result<Self> {
        let shown = redact(url);
        let invalid = |msg: &str| {
            Error::new(ErrorKind::ConfigInvalid, msg.to_owned())
                .with_operation(Operation::Build)
                .with_context("url", &shown)
        };
        let rest = rest
            .strip_prefix("//")
            .ok_or_else(|| invalid("an IMAP URL looks like imaps://user@host[:port]"))?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let (user, hostport) = authority
            .rsplit_once('@')
            .ok_or_else(|| invalid("the IMAP URL names no user (imaps://user@host)"))?;
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| invalid("the IMAP port is not a number"))?,
                ),
            ),
            None => (hostport, None),
        };
        if host.is_empty() || user.is_empty() {
            return Err(invalid("the IMAP URL needs a user and a host"));
        }
        let mut target = Self {
            host: host.to_owned(),
            port,
            user: percent_decode(user),
            tls: if scheme.eq_ignore_ascii_case("imaps") {
                Tls::Implicit
            } else {
                Tls::StartTls
            },
            password_env: "MAILMIGRATE_IMAP_PASSWORD".to_owned(),
            ca_file: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "tls" => {
                    target.tls = v
                        .parse()
                        .map_err(|_| invalid("tls is one of implicit, starttls, plaintext"))?;
                }
                "password_env" => target.password_env = v.to_owned(),
                "ca_file" => target.ca_file = Some(PathBuf::from(percent_decode(v))),
                _ => {
                    return Err(invalid(
                        "unknown IMAP URL parameter (known: tls, password_env, ca_file; \
                         passwords go in the environment, never in the URL)",
                    ))
                }
            }
        }
        Ok(target)
    }

    /// Connects, reading the password from the environment.
    async fn connect(&self) -> Result<Imap> {
        let password = std::env::var(&self.password_env).map_err(|_| {
            Error::new(
                ErrorKind::ConfigInvalid,
                format!(
                    "set the IMAP password in the environment variable {}",
                    self.password_env
                ),
            )
            .with_operation(Operation::Build)
            .with_context("account", format!("{}@{}", self.user, self.host))
        })?;
        let mut b = ImapBuilder::new()
            .with_host(&self.host)
            .with_user(&self.user)
            .with_password(password)
            .with_tls(self.tls)
            .allow_plaintext(self.tls == Tls::Plaintext);
        if let Some(port) = self.port {
            b = b.with_port(port);
        }
        if let Some(ca) = &self.ca_file {
            b = b.with_ca_file(ca);
        }
        b.build().await
    }
}

/// The URL without its query and without any password in its user part, for messages.
fn redact(url: &str) -> String {
    let base = url.split('?').next().unwrap_or_default();
    match (base.find("//"), base.rfind('@')) {
        (Some(start), Some(at)) if base[start + 2..at].contains(':') => {
            let colon = start + 2 + base[start + 2..at].find(':').unwrap_or(0);
            format!("{}:***{}", &base[..colon], &base[at..])
        }
        _ => base.to_owned(),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || {
            std::str::from_utf8(bytes.get(i + 1..i + 3)?)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        };
        match (bytes[i], hex()) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreUrl {
    /// Which store.
    pub kind: StoreKind,
    /// Its directory (empty for memory and IMAP).
    pub path: PathBuf,
    /// The account, for IMAP.
    pub imap: Option<ImapTarget>,
}

impl StoreUrl {
    /// Parses `scheme://path` (or `memory:`).
    ///
    /// ```
    /// use mailmigrate_examples::stores::{StoreKind, StoreUrl};
    /// let u = StoreUrl::parse("maildir:///srv/mail/alice").unwrap();
    /// assert_eq!(u.kind, StoreKind::Maildir);
    /// assert_eq!(u.path.to_str(), Some("/srv/mail/alice"));
    /// let imap = StoreUrl::parse("imaps://alice%40example.com@mail.example.com:993").unwrap();
    /// assert_eq!(imap.imap.unwrap().user, "alice@example.com");
    /// let err = StoreUrl::parse("gmail://alice").unwrap_err();
    /// assert!(err.to_string().contains("mailmigrate-gmail"));
    /// ```
    ///
    /// # Errors
    /// `ConfigInvalid` for a malformed URL or an empty path; `Unsupported` for a scheme
    /// this program does not link, naming the crate that provides it.
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |msg: &str| {
            Error::new(ErrorKind::ConfigInvalid, msg.to_owned())
                .with_operation(Operation::Build)
                .with_context("url", url)
        };
        let (scheme, rest) = url
            .split_once(':')
            .ok_or_else(|| invalid("a store URL looks like maildir:///path or mbox:///path"))?;
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "maildir" => StoreKind::Maildir,
            "mbox" => StoreKind::Mbox,
            "memory" => StoreKind::Memory,
            "imap" | "imaps" => {
                return Ok(Self {
                    kind: StoreKind::Imap,
                    path: PathBuf::new(),
                    imap: Some(ImapTarget::parse(scheme, rest, url)?),
                });
            }
            "graph" | "m365" | "exchange" => {
                return Err(elsewhere(scheme, "mailmigrate-graph", "GraphBuilder"));
            }
            "gmail" | "google" => {
                return Err(elsewhere(scheme, "mailmigrate-gmail", "GmailBuilder"));
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("unknown store scheme {scheme:?}; this program knows maildir, mbox, imap, imaps and memory"),
                )
                .with_operation(Operation::Build));
            }
        };
        if kind == StoreKind::Memory {
            return Ok(Self {
                kind,
                path: PathBuf::new(),
                imap: None,
            });
        }
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(invalid("the store URL has no path"));
        }
        Ok(Self {
            kind,
            path: PathBuf::from(path),
            imap: None,
        })
    }
}

fn elsewhere(scheme: &str, krate: &str, builder: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "the {scheme:?} scheme is provided by the {krate} crate ({builder}); \
             this example program links only the local stores (maildir, mbox, memory)"
        ),
    )
    .with_operation(Operation::Build)
}

/// Opens (creating if needed) the store a URL names.
///
/// # Errors
/// As [`StoreUrl::parse`], and the store's own errors opening its directory.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    open_store_counted(url).await.map(|(store, _)| store)
}

/// [`open_store`], with the cheapest way the end-of-pass check can count its folders: one
/// `STATUS` per folder for IMAP, a listing for the local stores (their listing reads no
/// bodies either).
///
/// # Errors
/// As [`open_store`].
pub async fn open_store_counted(url: &str) -> Result<(Arc<dyn Store>, Counter)> {
    let url = StoreUrl::parse(url)?;
    match url.kind {
        StoreKind::Imap => match &url.imap {
            Some(target) => {
                let imap = target.connect().await?;
                Ok((Arc::new(imap.clone()), Counter::Imap(imap)))
            }
            None => Err(Error::new(ErrorKind::ConfigInvalid, "no IMAP account")),
        },
        StoreKind::Maildir => Ok((Arc::new(MaildirStore::open(&url.path)?), Counter::Listing)),
        StoreKind::Mbox => Ok((Arc::new(MboxStore::open(&url.path)?), Counter::Listing)),
        StoreKind::Memory => Ok((Arc::new(MemoryStore::new("memory")), Counter::Listing)),
    }
}

/// Opens (creating if needed) the state store at `path`.
///
/// # Errors
/// `StateCorrupt` or I/O errors from the state store.
pub fn open_state(path: &Path) -> Result<Arc<dyn StateStore>> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::new(ErrorKind::Unavailable, "cannot create the state directory")
                .with_operation(Operation::State)
                .with_context("path", parent.display())
                .with_source(e)
        })?;
    }
    Ok(Arc::new(SqliteState::open(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_schemes() {
        let m = StoreUrl::parse("mbox://backup/alice").unwrap();
        assert_eq!(m.kind, StoreKind::Mbox);
        assert_eq!(m.path, PathBuf::from("backup/alice"));
        assert_eq!(StoreUrl::parse("memory:").unwrap().kind, StoreKind::Memory);
        assert_eq!(
            StoreUrl::parse("MAILDIR:///x").unwrap().path,
            PathBuf::from("/x")
        );
    }

    #[test]
    fn remote_schemes_name_their_crate() {
        for (url, krate) in [
            ("graph://tenant/user", "mailmigrate-graph"),
            ("gmail://me@example.com", "mailmigrate-gmail"),
        ] {
            let e = StoreUrl::parse(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported);
            assert!(e.to_string().contains(krate), "{e}");
        }
    }

    #[test]
    fn imap_urls_parse_with_safe_defaults() {
        let u = StoreUrl::parse("imaps://bob@mail.example.org").unwrap();
        let t = u.imap.unwrap();
        assert_eq!(
            (u.kind, t.tls, t.port),
            (StoreKind::Imap, Tls::Implicit, None)
        );
        assert_eq!(t.password_env, "MAILMIGRATE_IMAP_PASSWORD");
        let t = StoreUrl::parse("imap://a%40b.c@127.0.0.1:1143/?tls=plaintext&password_env=PW")
            .unwrap()
            .imap
            .unwrap();
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port),
            ("a@b.c", "127.0.0.1", Some(1143))
        );
        assert_eq!((t.tls, t.password_env.as_str()), (Tls::Plaintext, "PW"));
        // STARTTLS unless told otherwise; no user, a bad port or an unknown parameter is an error.
        let t = StoreUrl::parse("imap://u@h").unwrap().imap.unwrap();
        assert_eq!(t.tls, Tls::StartTls);
        for bad in [
            "imap://host",
            "imap://u@h:x",
            "imap://u@h/?password=secret",
            "imap://u:secret@h:x",
        ] {
            let e = StoreUrl::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{bad}");
            assert!(!e.to_string().contains("secret"));
        }
    }

    #[tokio::test]
    async fn a_missing_imap_password_names_the_variable() {
        let e = open_store("imaps://u@127.0.0.1:1/?password_env=MAILMIGRATE_TEST_NO_SUCH_VAR")
            .await
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(
            e.to_string().contains("MAILMIGRATE_TEST_NO_SUCH_VAR"),
            "{e}"
        );
    }

    #[test]
    fn malformed_urls_are_config_errors() {
        assert_eq!(
            StoreUrl::parse("/just/a/path").unwrap_err().kind(),
            ErrorKind::ConfigInvalid
        );
        assert_eq!(
            StoreUrl::parse("maildir://").unwrap_err().kind(),
            ErrorKind::ConfigInvalid
        );
        assert_eq!(
            StoreUrl::parse("ftp://x").unwrap_err().kind(),
            ErrorKind::Unsupported
        );
    }
}

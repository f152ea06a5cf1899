//! Opening stores and state from URLs and paths.
//!
//! Store URLs name a scheme and a path: `maildir:///srv/mail/alice`, `mbox://backup/alice`
//! (relative), `imaps://user@host` (any IMAP server, see [`ImapTarget`]),
//! `graph://mailbox@tenant?client_id=…` (Microsoft 365, see
//! [`GraphTarget`](crate::graph_target::GraphTarget)), `gmail://user@domain?key_file=…`
//! (Google Workspace, see [`GmailTarget`](crate::gmail_target::GmailTarget)), `memory:`
//! (an empty in-process store, for trials). They are opened through a [`Registry`] of
//! schemes ([`registry`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailmigrate_core::registry::Registry;
use mailmigrate_core::state::{SqliteState, StateStore};
use mailmigrate_core::{Error, ErrorKind, Operation, Result, Store};
use mailmigrate_imap::{Imap, ImapBuilder, Tls};

/// Where an `imap://` or `imaps://` URL points.
///
/// `imaps://user@host[:port]` uses implicit TLS, `imap://user@host[:port]` STARTTLS; both
/// verify the server's certificate. Query parameters: `tls=plaintext` (an explicit opt-in
/// to an unencrypted connection, for local test servers), `password_env=VAR` (the
/// environment variable holding the password; default `MAILMIGRATE_IMAP_PASSWORD`),
/// `ca_file=PATH` (a private CA), `probe=on|off` (the
/// [fidelity probe](mailmigrate_imap::ImapBuilder::with_fidelity_probe); on by default for a
/// destination opened with [`open_destination`], off for a source). The password never
/// appears in the URL.
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
    /// Whether to run the fidelity probe; `None`: as the role wants (destinations do).
    pub probe: Option<bool>,
}

impl ImapTarget {
    /// Parses an `imap://` or `imaps://` URL.
    ///
    /// ```
    /// use mailmigrate_examples::stores::ImapTarget;
    /// let t = ImapTarget::parse_url("imaps://alice%40example.com@mail.example.com:993").unwrap();
    /// assert_eq!((t.user.as_str(), t.port), ("alice@example.com", Some(993)));
    /// ```
    ///
    /// # Errors
    /// `ConfigInvalid` for a malformed URL, one with a password, or an unknown parameter
    /// (the error never shows a secret).
    pub fn parse_url(url: &str) -> Result<Self> {
        let (scheme, rest) = url.split_once(':').unwrap_or(("", url));
        Self::parse(scheme, rest, url)
    }

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
            probe: None,
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
                "probe" => {
                    target.probe = Some(match v {
                        "on" | "true" | "1" => true,
                        "off" | "false" | "0" => false,
                        _ => return Err(invalid("probe is on or off")),
                    });
                }
                _ => {
                    return Err(invalid(
                        "unknown IMAP URL parameter (known: tls, password_env, ca_file, probe; \
                         passwords go in the environment, never in the URL)",
                    ))
                }
            }
        }
        Ok(target)
    }

    /// Connects, reading the password from the environment; runs the fidelity probe when
    /// the URL asks for it, otherwise when `probe_by_default`.
    async fn connect(&self, probe_by_default: bool) -> Result<Imap> {
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
            .allow_plaintext(self.tls == Tls::Plaintext)
            .with_fidelity_probe(self.probe.unwrap_or(probe_by_default));
        if let Some(port) = self.port {
            b = b.with_port(port);
        }
        if let Some(ca) = &self.ca_file {
            b = b.with_ca_file(ca);
        }
        b.build().await
    }
}

/// What an operator should know about how a destination stores messages, one line each
/// (empty for one that stores them as given), from its capabilities as the fidelity probe
/// left them.
///
/// ```
/// use mailmigrate_core::Capabilities;
/// use mailmigrate_examples::stores::storage_notes;
/// let caps = Capabilities { byte_exact: true, replaces_8bit_header_bytes: true,
///     ..Capabilities::default() };
/// assert!(storage_notes(&caps)[0].contains("munge8bit"));
/// assert!(storage_notes(&Capabilities { byte_exact: true, ..Capabilities::default() }).is_empty());
/// ```
pub fn storage_notes(caps: &mailmigrate_core::Capabilities) -> Vec<String> {
    let mut notes = Vec::new();
    if caps.replaces_8bit_header_bytes {
        notes.push(
            "The destination stores 8-bit bytes in header fields as X (Cyrus: munge8bit; \
             set `munge8bit: no` to keep them). Affected messages are counted in the report."
                .to_owned(),
        );
    }
    if !caps.byte_exact {
        notes.push(
            "The destination stores messages rewritten: a copy is not byte-identical to its \
             source, so after a lost state file copies may not be recognised, and the full \
             verification reports such messages as changed."
                .to_owned(),
        );
    }
    notes
}

/// The URL without its query and without any password in its user part, for messages.
pub(crate) fn redact(url: &str) -> String {
    let base = url.split('?').next().unwrap_or_default();
    match (base.find("//"), base.rfind('@')) {
        (Some(start), Some(at)) if base[start + 2..at].contains(':') => {
            let colon = start + 2 + base[start + 2..at].find(':').unwrap_or(0);
            format!("{}:***{}", &base[..colon], &base[at..])
        }
        _ => base.to_owned(),
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
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

/// The stores this program opens, by URL scheme: the local stores (`maildir://PATH`,
/// `mbox://PATH`, `memory:`), IMAP (`imap://`, `imaps://`, see [`ImapTarget`]) and
/// Microsoft 365 (`graph://`, see [`GraphTarget`](crate::graph_target::GraphTarget)) and
/// Google Workspace (`gmail://`, see [`GmailTarget`](crate::gmail_target::GmailTarget)). A
/// provider linked into the program reaches it with one more `register` call here.
///
/// ```
/// let registry = mailmigrate_examples::stores::registry();
/// let schemes: Vec<&str> = registry.schemes().collect();
/// assert_eq!(schemes, ["gmail", "graph", "imap", "imaps", "maildir", "mbox", "memory"]);
/// ```
pub fn registry() -> Registry {
    registry_probing(false)
}

/// The same stores as [`registry`], opened as a migration's destination: an IMAP server's
/// [fidelity probe](mailmigrate_imap::ImapBuilder::with_fidelity_probe) runs unless the URL
/// says `probe=off`, so a server that rewrites what it stores is known before anything is
/// written.
///
/// ```
/// let registry = mailmigrate_examples::stores::destination_registry();
/// assert!(registry.schemes().any(|s| s == "imaps"));
/// ```
pub fn destination_registry() -> Registry {
    registry_probing(true)
}

fn registry_probing(probe: bool) -> Registry {
    let mut r = Registry::with_local_stores();
    r.register(["imap", "imaps"], move |url| async move {
        ImapTarget::parse_url(&url)?.connect(probe).await
    });
    r.register(["graph"], |url| async move {
        crate::graph_target::GraphTarget::parse_url(&url)?
            .connect()
            .await
    });
    r.register(["gmail"], |url| async move {
        crate::gmail_target::GmailTarget::parse_url(&url)?.connect()
    });
    r
}

/// Opens (creating if needed) the store a URL names, through [`registry`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use mailmigrate_examples::stores::open_store;
/// let e = open_store("gmail://ada@example.com").await.unwrap_err();
/// assert!(e.to_string().contains("key_file"), "no sign-in given: {e}");
/// # });
/// ```
///
/// # Errors
/// `ConfigInvalid` for a malformed URL; `Unsupported` for a scheme this program does not
/// link (naming the schemes it does); the store's own errors opening or connecting.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    open_in(registry(), url).await
}

/// Opens the store a URL names as a migration's destination, through
/// [`destination_registry`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = mailmigrate_examples::stores::open_destination("memory:").await.unwrap();
/// assert_eq!(store.info().scheme, "memory");
/// # });
/// ```
///
/// # Errors
/// As [`open_store`].
pub async fn open_destination(url: &str) -> Result<Arc<dyn Store>> {
    open_in(destination_registry(), url).await
}

async fn open_in(registry: Registry, url: &str) -> Result<Arc<dyn Store>> {
    registry.open(url).await
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

    #[tokio::test]
    async fn local_schemes_open_through_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("MAILDIR://{}", dir.path().join("m").display());
        let store = open_store(&url).await.unwrap();
        assert_eq!(store.info().scheme, "maildir");
        assert_eq!(open_store("memory:").await.unwrap().info().scheme, "memory");
        let e = open_store("gopher://x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("imaps, maildir"), "{e}");
    }

    #[tokio::test]
    async fn gmail_urls_open_through_the_registry() {
        let e = open_store("gmail://me@example.com").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(e.to_string().contains("key_file"), "{e}");
        let e = open_destination("gmail://ada@example.com?key_env=MAILMIGRATE_TEST_NO_SUCH_KEY")
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("MAILMIGRATE_TEST_NO_SUCH_KEY"),
            "{e}"
        );
    }

    #[test]
    fn imap_urls_parse_with_safe_defaults() {
        let t = ImapTarget::parse_url("imaps://bob@mail.example.org").unwrap();
        assert_eq!((t.tls, t.port), (Tls::Implicit, None));
        assert_eq!(t.password_env, "MAILMIGRATE_IMAP_PASSWORD");
        let t =
            ImapTarget::parse_url("imap://a%40b.c@127.0.0.1:1143/?tls=plaintext&password_env=PW")
                .unwrap();
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port),
            ("a@b.c", "127.0.0.1", Some(1143))
        );
        assert_eq!((t.tls, t.password_env.as_str()), (Tls::Plaintext, "PW"));
        // STARTTLS unless told otherwise; no user, a bad port or an unknown parameter is an error.
        let t = ImapTarget::parse_url("imap://u@h").unwrap();
        assert_eq!(t.tls, Tls::StartTls);
        for bad in [
            "imap://host",
            "imap://u@h:x",
            "imap://u@h/?password=secret",
            "imap://u:secret@h:x",
        ] {
            let e = ImapTarget::parse_url(bad).unwrap_err();
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

    #[tokio::test]
    async fn malformed_urls_are_config_errors() {
        for (url, kind) in [
            ("/just/a/path", ErrorKind::ConfigInvalid),
            ("maildir://", ErrorKind::ConfigInvalid),
            ("ftp://x", ErrorKind::Unsupported),
        ] {
            let e = open_store(url).await.unwrap_err();
            assert_eq!(e.kind(), kind, "{url}: {e}");
        }
    }
}

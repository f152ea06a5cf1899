//! `graph://` URLs: a Microsoft 365 mailbox through Microsoft Graph.

use std::path::PathBuf;

use mailmigrate_core::{Error, ErrorKind, Operation, Result};
use mailmigrate_graph::{Graph, GraphBuilder, GraphDirectory};

use crate::stores::{percent_decode, redact};

/// Where a `graph://` URL points: one mailbox of a tenant, reached with an app
/// registration's client credentials (app-only access, `Mail.ReadWrite`).
///
/// `graph://MAILBOX@TENANT?client_id=APP_ID` — the mailbox's user principal name
/// (percent-encoded: `ada%40contoso.com`) and the tenant's id or domain. Query parameters:
/// `client_id` (required), `secret_env=VAR` (the environment variable holding the client
/// secret; default `MAILMIGRATE_GRAPH_CLIENT_SECRET`), `graph_url` and `authority_url`
/// (percent-encoded roots, for a national cloud or the emulator; default Graph's global
/// service), `ca_file=PATH` (a TLS-inspecting proxy's root), `import_mime=on` (create
/// messages with the beta `importMime` action where the tenant offers it, see
/// [`GraphBuilder::with_import_mime`]), `tls=plaintext` (admits `http://` roots: the
/// emulator on 127.0.0.1 only). The secret never appears in the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphTarget {
    /// The mailbox: a user principal name or object id.
    pub mailbox: String,
    /// The tenant id or domain.
    pub tenant: String,
    /// The app registration's client id.
    pub client_id: String,
    /// The environment variable holding the client secret.
    pub secret_env: String,
    /// The Graph root, when not the global service's.
    pub graph_url: Option<String>,
    /// The identity platform root, when not the global service's.
    pub authority_url: Option<String>,
    /// A root certificate file to trust besides the public roots.
    pub ca_file: Option<PathBuf>,
    /// Whether `http://` roots are admitted.
    pub plaintext: bool,
    /// Whether messages are created with `importMime` where offered.
    pub import_mime: bool,
}

impl GraphTarget {
    /// Parses a `graph://` URL.
    ///
    /// ```
    /// use mailmigrate_examples::graph_target::GraphTarget;
    /// let t = GraphTarget::parse_url("graph://ada%40contoso.com@contoso.onmicrosoft.com?client_id=app-1")
    ///     .unwrap();
    /// assert_eq!((t.mailbox.as_str(), t.tenant.as_str()), ("ada@contoso.com", "contoso.onmicrosoft.com"));
    /// assert_eq!(t.secret_env, "MAILMIGRATE_GRAPH_CLIENT_SECRET");
    /// ```
    ///
    /// # Errors
    /// `ConfigInvalid` for a malformed URL, a missing `client_id`, a secret in the URL or
    /// an unknown parameter (the error never shows a secret).
    pub fn parse_url(url: &str) -> Result<Self> {
        let shown = redact(url);
        let invalid = |msg: &str| {
            Error::new(ErrorKind::ConfigInvalid, msg.to_owned())
                .with_operation(Operation::Build)
                .with_context("url", &shown)
        };
        let rest = url
            .split_once("://")
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("graph"))
            .map(|(_, rest)| rest)
            .ok_or_else(|| invalid("a Graph URL looks like graph://mailbox@tenant?client_id=…"))?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (mailbox, tenant) = authority
            .trim_end_matches('/')
            .rsplit_once('@')
            .ok_or_else(|| invalid("the Graph URL names no mailbox (graph://mailbox@tenant)"))?;
        if mailbox.is_empty() || tenant.is_empty() || mailbox.contains(':') {
            return Err(invalid(
                "the Graph URL needs a mailbox and a tenant, and no secret in it",
            ));
        }
        let mut target = Self {
            mailbox: percent_decode(mailbox),
            tenant: percent_decode(tenant),
            client_id: String::new(),
            secret_env: "MAILMIGRATE_GRAPH_CLIENT_SECRET".to_owned(),
            graph_url: None,
            authority_url: None,
            ca_file: None,
            plaintext: false,
            import_mime: false,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k {
                "client_id" => target.client_id = v,
                "secret_env" => target.secret_env = v,
                "graph_url" => target.graph_url = Some(v),
                "authority_url" => target.authority_url = Some(v),
                "ca_file" => target.ca_file = Some(PathBuf::from(v)),
                "tls" if v == "plaintext" => target.plaintext = true,
                "import_mime" => {
                    target.import_mime = match v.as_str() {
                        "on" | "true" | "1" => true,
                        "off" | "false" | "0" => false,
                        _ => return Err(invalid("import_mime is on or off")),
                    }
                }
                "tls" => return Err(invalid("tls takes only plaintext (for the emulator)")),
                _ => {
                    return Err(invalid(
                        "unknown Graph URL parameter (known: client_id, secret_env, graph_url, \
                         authority_url, ca_file, import_mime, tls; secrets go in the \
                         environment, never in the URL)",
                    ))
                }
            }
        }
        if target.client_id.is_empty() {
            return Err(invalid("the Graph URL needs client_id=APP_ID"));
        }
        Ok(target)
    }

    /// Builds the mailbox, reading the client secret from the environment. No request is
    /// made yet.
    ///
    /// # Errors
    /// `ConfigInvalid` when the secret's variable is unset, a root is not `https://`
    /// without `tls=plaintext`, or the certificate file cannot be read.
    pub async fn connect(&self) -> Result<Graph> {
        self.builder()?.connect().await
    }

    /// The tenant's directory (users, shared mailboxes, aliases, groups) with the same
    /// sign-in; the URL's mailbox is only the directory's label. No request is made yet.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_directory(&self) -> Result<GraphDirectory> {
        self.builder()?.connect_directory().await
    }

    /// The builder both connections start from.
    fn builder(&self) -> Result<GraphBuilder> {
        let secret = std::env::var(&self.secret_env).map_err(|_| {
            Error::new(
                ErrorKind::ConfigInvalid,
                format!(
                    "set the app's client secret in the environment variable {}",
                    self.secret_env
                ),
            )
            .with_operation(Operation::Build)
            .with_context("account", &self.mailbox)
        })?;
        let mut b = GraphBuilder::new(&self.mailbox)
            .with_client_credentials(&self.tenant, &self.client_id, secret)
            .allow_plaintext(self.plaintext)
            .with_import_mime(self.import_mime);
        if let Some(url) = &self.graph_url {
            b = b.with_graph_url(url);
        }
        if let Some(url) = &self.authority_url {
            b = b.with_authority_url(url);
        }
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Error::new(ErrorKind::ConfigInvalid, "cannot read the CA file")
                    .with_operation(Operation::Build)
                    .with_context("path", path.display())
                    .with_source(e)
            })?;
            b = b.with_root_certificate(pem);
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_urls_parse_and_refuse_secrets() {
        let t = GraphTarget::parse_url(
            "graph://ada%40x.com@tenant-1?client_id=app&secret_env=S&tls=plaintext\
             &graph_url=http%3A%2F%2F127.0.0.1%3A9%2Fv1.0&authority_url=http%3A%2F%2F127.0.0.1%3A9\
             &import_mime=on",
        )
        .unwrap();
        assert_eq!(t.graph_url.as_deref(), Some("http://127.0.0.1:9/v1.0"));
        assert_eq!(t.authority_url.as_deref(), Some("http://127.0.0.1:9"));
        assert!(t.plaintext && t.import_mime);
        assert_eq!((t.secret_env.as_str(), t.client_id.as_str()), ("S", "app"));
        for bad in [
            "graph://tenant?client_id=a",
            "graph://ada@t",
            "graph://ada:secret@t?client_id=a",
            "graph://ada@t?client_id=a&client_secret=secret",
            "graph://ada@t?client_id=a&tls=none",
            "graph://ada@t?client_id=a&import_mime=maybe",
        ] {
            let e = GraphTarget::parse_url(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{bad}");
            assert!(!e.to_string().contains("secret@"), "{e}");
        }
    }

    #[tokio::test]
    async fn a_missing_secret_names_its_variable() {
        let t = GraphTarget::parse_url(
            "graph://ada@t?client_id=a&secret_env=MAILMIGRATE_TEST_NO_SUCH_SECRET",
        )
        .unwrap();
        let e = t.connect().await.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(
            e.to_string().contains("MAILMIGRATE_TEST_NO_SUCH_SECRET"),
            "{e}"
        );
    }
}

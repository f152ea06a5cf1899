//! Opening a connection: TCP, TLS (implicit or STARTTLS), greeting, pre-login
//! capabilities, authentication, and what the server says about itself at login.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_imap::imap_proto::{Response, ResponseCode, Status as ProtoStatus};
use async_imap::{Client, Session};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::quoting::status_error;
use super::raw::raw_exchange;
use super::stream::Stream;
use super::{Connection, Res};
use crate::config::{AuthMechanism, Credentials, ImapConfig, Tls};
use crate::error::{ImapError, Status};
use crate::model::Namespace;
use mailmigrate_core::auth::{AccessToken, TokenProvider};

/// What the server said about itself at login.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerFacts {
    /// Capability atoms, upper-case.
    pub(crate) capabilities: HashSet<String>,
    /// The personal namespace (prefix and separator).
    pub(crate) namespace: Namespace,
}

impl ServerFacts {
    pub(crate) fn has(&self, cap: &str) -> bool {
        self.capabilities.contains(cap)
    }
}

impl Connection {
    /// Connects, secures and authenticates one connection, and learns the server's facts.
    ///
    /// With a token provider, a token the server refuses is invalidated and the connection
    /// opened once more with a fresh one: a token can be revoked or expire before the
    /// provider knew. A second refusal is the answer.
    pub(crate) async fn open(cfg: &ImapConfig) -> Res<(Self, ServerFacts)> {
        let Credentials::Token(provider) = &cfg.credentials else {
            return Self::open_with(cfg, None).await;
        };
        let token = fetch_token(provider.as_ref()).await?;
        match Self::open_with(cfg, Some(&token)).await {
            Err(e) if e.is_refused_credentials() => {
                tracing::debug!("the server refused the access token; fetching a fresh one");
                provider.invalidate(&token);
                let fresh = fetch_token(provider.as_ref()).await?;
                Self::open_with(cfg, Some(&fresh)).await
            }
            other => other,
        }
    }

    /// [`open`](Self::open) with one given token (for token credentials).
    async fn open_with(cfg: &ImapConfig, token: Option<&AccessToken>) -> Res<(Self, ServerFacts)> {
        let timeout = cfg.timeout;
        let tcp = tokio::time::timeout(timeout, TcpStream::connect((cfg.host.as_str(), cfg.port)))
            .await
            .map_err(|_| ImapError::Timeout(timeout))?
            .map_err(|e| ImapError::io(&e))?;
        let _ = tcp.set_nodelay(true);
        let stream = match cfg.tls {
            Tls::Implicit => Stream::tls(tls_wrap(cfg, tcp).await?),
            Tls::Plaintext => Stream::plain(tcp),
            Tls::StartTls => {
                let mut client = Client::new(Stream::plain(tcp));
                read_greeting(&mut client, timeout).await?;
                tokio::time::timeout(timeout, client.run_command_and_check_ok("STARTTLS", None))
                    .await
                    .map_err(|_| ImapError::Timeout(timeout))?
                    .map_err(|e| ImapError::Tls(format!("STARTTLS refused: {e}")))?;
                let Stream::Plain(buffered) = client.into_inner() else {
                    return Err(ImapError::Protocol("STARTTLS on a TLS stream".into()));
                };
                // The STARTTLS command was flushed: nothing is left in the buffer.
                Stream::tls(tls_wrap(cfg, buffered.into_inner()).await?)
            }
        };
        let mut client = Client::new(stream);
        // After STARTTLS the pre-TLS capabilities are void (RFC 3501 §6.2.1): ask again.
        let greeting = if cfg.tls == Tls::StartTls {
            None
        } else {
            read_greeting(&mut client, timeout).await?
        };
        let (client, pre_auth) = pre_auth_capabilities(client, greeting, timeout).await?;
        let session = authenticate(cfg, client, &pre_auth, token).await?;
        let mut conn = Self {
            session,
            selected: None,
            timeout,
            broken: false,
            pending: 0,
            condstore: false,
            qresync: false,
            gmail: false,
        };
        let namespace = conn.raw_namespace().await?;
        let capabilities = conn.capability().await?;
        conn.condstore = capabilities.contains("CONDSTORE") || capabilities.contains("QRESYNC");
        conn.gmail = capabilities.contains("X-GM-EXT-1");
        if capabilities.contains("QRESYNC") {
            // RFC 7162: QRESYNC must be enabled before FETCH … (VANISHED) may be used.
            conn.run("ENABLE QRESYNC", |_| {}).await?;
            conn.qresync = true;
        }
        let mut facts = ServerFacts {
            capabilities,
            namespace: namespace.unwrap_or_default(),
        };
        if facts.namespace.delimiter.is_none() {
            facts.namespace.delimiter = conn.root_delimiter().await?;
        }
        Ok((conn, facts))
    }

    /// `CAPABILITY`.
    pub(crate) async fn capability(&mut self) -> Res<HashSet<String>> {
        let mut caps = HashSet::new();
        self.run("CAPABILITY", |r| {
            if let Response::Capabilities(list) = r {
                for c in list {
                    caps.insert(match c {
                        async_imap::imap_proto::Capability::Imap4rev1 => "IMAP4REV1".to_owned(),
                        async_imap::imap_proto::Capability::Auth(m) => {
                            format!("AUTH={}", m.to_ascii_uppercase())
                        }
                        async_imap::imap_proto::Capability::Atom(a) => a.to_ascii_uppercase(),
                    });
                }
            }
        })
        .await?;
        Ok(caps)
    }
}

/// Capability atoms from a `CAPABILITY` line body or code, upper-case.
fn capability_set<'a>(atoms: impl Iterator<Item = &'a str>) -> HashSet<String> {
    atoms.map(str::to_ascii_uppercase).collect()
}

/// Learns the capabilities before login: from the greeting if it listed them, else with a
/// raw `CAPABILITY` (async-imap's unauthenticated client cannot return untagged data).
async fn pre_auth_capabilities(
    client: Client<Stream>,
    greeting: Option<HashSet<String>>,
    timeout: Duration,
) -> Res<(Client<Stream>, HashSet<String>)> {
    if let Some(caps) = greeting {
        return Ok((client, caps));
    }
    let mut stream = client.into_inner();
    let (ok, text) = raw_exchange(&mut stream, "mmc0", "CAPABILITY", 64 * 1024, timeout).await?;
    let caps = if ok {
        text.lines()
            .find_map(|l| l.trim_end().strip_prefix("* CAPABILITY "))
            .map(|l| capability_set(l.split_whitespace()))
            .unwrap_or_default()
    } else {
        HashSet::new()
    };
    Ok((Client::new(stream), caps))
}

async fn read_greeting(
    client: &mut Client<Stream>,
    timeout: Duration,
) -> Res<Option<HashSet<String>>> {
    match tokio::time::timeout(timeout, client.read_response()).await {
        Err(_) => Err(ImapError::Timeout(timeout)),
        Ok(Err(e)) => Err(ImapError::io(&e)),
        Ok(Ok(None)) => Err(ImapError::Closed),
        Ok(Ok(Some(r))) => match r.parsed() {
            Response::Data {
                status: ProtoStatus::Ok | ProtoStatus::PreAuth,
                outcome,
            } => Ok(match &outcome.code {
                Some(ResponseCode::Capabilities(list)) => Some(
                    list.iter()
                        .map(|c| match c {
                            async_imap::imap_proto::Capability::Imap4rev1 => "IMAP4REV1".to_owned(),
                            async_imap::imap_proto::Capability::Auth(m) => {
                                format!("AUTH={}", m.to_ascii_uppercase())
                            }
                            async_imap::imap_proto::Capability::Atom(a) => a.to_ascii_uppercase(),
                        })
                        .collect(),
                ),
                _ => None,
            }),
            Response::Data { status, outcome } => Err(status_error(status, outcome)),
            _ => Err(ImapError::Protocol("no greeting".into())),
        },
    }
}

async fn tls_wrap(cfg: &ImapConfig, tcp: TcpStream) -> Res<TlsStream<TcpStream>> {
    tls_connect(&cfg.host, cfg.ca_file.as_deref(), cfg.timeout, tcp).await
}

/// Wraps `tcp` in TLS for `host`, trusting the public web roots and the PEM file
/// `ca_file`, within `timeout` (the IMAP connection and SMTP submission share it).
pub(crate) async fn tls_connect(
    host: &str,
    ca_file: Option<&std::path::Path>,
    timeout: Duration,
    tcp: TcpStream,
) -> Res<TlsStream<TcpStream>> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        use rustls_pki_types::pem::PemObject as _;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|_| ImapError::Config("cannot read the CA file".into()))?;
        for cert in certs {
            let cert =
                cert.map_err(|_| ImapError::Config("the CA file is not valid PEM".into()))?;
            roots
                .add(cert)
                .map_err(|e| ImapError::Config(format!("unusable CA certificate: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| ImapError::Config("host is not a valid TLS server name".into()))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    tokio::time::timeout(timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| ImapError::Timeout(timeout))?
        .map_err(|e| ImapError::Tls(e.to_string()))
}

/// SASL responder for `AUTHENTICATE`: the first challenge gets the initial response, any
/// later one (an error report from XOAUTH2) gets an empty answer so the server can finish.
struct Sasl {
    initial: Option<Vec<u8>>,
}

impl async_imap::Authenticator for Sasl {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        self.initial.take().unwrap_or_default()
    }
}

/// Asks the provider for a token, keeping its error's kind and retry status.
async fn fetch_token(provider: &dyn TokenProvider) -> Res<AccessToken> {
    provider.token().await.map_err(|e| ImapError::Credentials {
        kind: e.kind(),
        temporary: e.is_temporary(),
        message: e.message().to_owned(),
    })
}

async fn authenticate(
    cfg: &ImapConfig,
    client: Client<Stream>,
    caps: &HashSet<String>,
    token: Option<&AccessToken>,
) -> Res<Session<Stream>> {
    let (mechanism, initial) = match &cfg.credentials {
        Credentials::Password(p) => {
            // PLAIN when offered (or when the server lists nothing), else the LOGIN command.
            let mech = cfg
                .mechanism
                .unwrap_or(if caps.is_empty() || caps.contains("AUTH=PLAIN") {
                    AuthMechanism::Plain
                } else {
                    AuthMechanism::Login
                });
            if mech == AuthMechanism::Login && caps.contains("LOGINDISABLED") {
                return Err(ImapError::Config(
                    "the server disables LOGIN on this connection (use TLS)".into(),
                ));
            }
            if mech == AuthMechanism::Login {
                return map_auth(
                    tokio::time::timeout(cfg.timeout, client.login(&cfg.user, p)).await,
                    cfg.timeout,
                );
            }
            (mech, format!("\0{}\0{}", cfg.user, p).into_bytes())
        }
        Credentials::Token(_) => {
            let token = token
                .ok_or_else(|| ImapError::Config("token credentials without a token".into()))?
                .secret()
                .expose_secret();
            match cfg.mechanism.unwrap_or(AuthMechanism::XOAuth2) {
                AuthMechanism::OAuthBearer => (
                    AuthMechanism::OAuthBearer,
                    format!(
                        "n,a={},\x01host={}\x01port={}\x01auth=Bearer {token}\x01\x01",
                        cfg.user, cfg.host, cfg.port
                    )
                    .into_bytes(),
                ),
                _ => (
                    AuthMechanism::XOAuth2,
                    format!("user={}\x01auth=Bearer {token}\x01\x01", cfg.user).into_bytes(),
                ),
            }
        }
    };
    let name = match mechanism {
        AuthMechanism::OAuthBearer => "OAUTHBEARER",
        AuthMechanism::XOAuth2 => "XOAUTH2",
        _ => "PLAIN",
    };
    let sasl = Sasl {
        initial: Some(initial),
    };
    map_auth(
        tokio::time::timeout(cfg.timeout, client.authenticate(name, sasl)).await,
        cfg.timeout,
    )
}

type AuthOutcome = std::result::Result<Session<Stream>, (async_imap::error::Error, Client<Stream>)>;

fn map_auth(
    r: std::result::Result<AuthOutcome, tokio::time::error::Elapsed>,
    timeout: Duration,
) -> Res<Session<Stream>> {
    match r {
        Err(_) => Err(ImapError::Timeout(timeout)),
        Ok(Ok(s)) => Ok(s),
        Ok(Err((e, _))) => Err(match e {
            async_imap::error::Error::Io(io) => ImapError::io(&io),
            async_imap::error::Error::ConnectionLost => ImapError::Closed,
            // The server's text is in async-imap's message; keep only the fact.
            _ => ImapError::status(
                Status::No,
                Some("AUTHENTICATIONFAILED".into()),
                Some("the server refused the credentials"),
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_answers_once_then_empty() {
        let mut s = Sasl {
            initial: Some(b"\0user\0pass".to_vec()),
        };
        use async_imap::Authenticator as _;
        assert_eq!(s.process(b""), b"\0user\0pass".to_vec());
        assert!(s.process(b"{\"status\":\"400\"}").is_empty());
    }
}

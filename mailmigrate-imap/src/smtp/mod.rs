//! Message submission over SMTP (RFC 5321, RFC 6409) or LMTP (RFC 2033): the path new
//! mail takes into an IMAP destination, for the campaign's send-and-receive probe.

mod wire;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use mailmigrate_core::campaign::probe::{Envelope, Submission};
use mailmigrate_core::{ErrorKind, Operation, Result};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::Tls;
use wire::{base64, error, Conn};

/// Which protocol the server speaks.
///
/// ```
/// use mailmigrate_imap::SmtpProtocol;
/// assert_eq!(SmtpProtocol::default(), SmtpProtocol::Smtp);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SmtpProtocol {
    /// SMTP submission (`EHLO`; ports 587 with STARTTLS, 465 with implicit TLS).
    #[default]
    Smtp,
    /// LMTP, local delivery straight into the mailbox store (`LHLO`, one reply per
    /// recipient after the data): Dovecot's and Cyrus's delivery agents.
    Lmtp,
}

/// Submits messages to an SMTP submission server (or an LMTP delivery agent): the
/// [`Submission`] of an IMAP destination.
///
/// One connection per message: greeting, `EHLO` (`LHLO`), `STARTTLS` when asked for,
/// `AUTH PLAIN` when credentials are set, `MAIL FROM`, `RCPT TO` for each recipient,
/// `DATA` with the message dot-stuffed, `QUIT`. Every read and write is bounded by the
/// [timeout](Self::with_timeout). TLS is rustls with the public web roots and an optional
/// private CA, as for IMAP; plaintext needs [`allow_plaintext`](Self::allow_plaintext),
/// as for IMAP.
///
/// ```no_run
/// use mailmigrate_core::campaign::probe::{probe_mailbox, ProbeMessage, ProbeOptions};
/// use mailmigrate_imap::{ImapBuilder, SmtpSubmission, Tls};
///
/// # #[allow(dead_code)]
/// # async fn run() -> mailmigrate_core::Result<()> {
/// let submission = SmtpSubmission::new("smtp.new.example", 587)
///     .with_tls(Tls::StartTls)
///     .with_credentials("probe@new.example", "secret");
/// let mailbox = ImapBuilder::new()
///     .with_host("imap.new.example")
///     .with_user("ann@new.example")
///     .with_password("secret")
///     .build()
///     .await?;
/// let message = ProbeMessage::new("acme", "probe@new.example", "ann@new.example");
/// let result = probe_mailbox(&submission, &mailbox, &message, &ProbeOptions::default()).await;
/// println!("{result:?}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SmtpSubmission {
    host: String,
    port: u16,
    tls: Tls,
    allow_plaintext: bool,
    protocol: SmtpProtocol,
    credentials: Option<(String, String)>,
    helo: String,
    timeout: Duration,
    ca_file: Option<PathBuf>,
}

impl fmt::Debug for SmtpSubmission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSubmission")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("protocol", &self.protocol)
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .field("helo", &self.helo)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpSubmission {
    /// SMTP submission to `host:port` with STARTTLS, no credentials, a 30 s timeout.
    ///
    /// ```
    /// use mailmigrate_imap::SmtpSubmission;
    /// let s = SmtpSubmission::new("smtp.example.com", 587).with_credentials("ann", "pw");
    /// assert!(!format!("{s:?}").contains("pw"));
    /// ```
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            tls: Tls::StartTls,
            allow_plaintext: false,
            protocol: SmtpProtocol::Smtp,
            credentials: None,
            helo: "mailmigrate.invalid".to_owned(),
            timeout: Duration::from_secs(30),
            ca_file: None,
        }
    }

    /// LMTP delivery to `host:port`, plaintext (LMTP listens on a local address or a
    /// socket; [`with_tls`](Self::with_tls) to change).
    ///
    /// ```
    /// use mailmigrate_imap::SmtpSubmission;
    /// let s = SmtpSubmission::lmtp("127.0.0.1", 24);
    /// assert!(format!("{s:?}").contains("Lmtp"));
    /// ```
    pub fn lmtp(host: impl Into<String>, port: u16) -> Self {
        Self {
            protocol: SmtpProtocol::Lmtp,
            tls: Tls::Plaintext,
            allow_plaintext: true,
            ..Self::new(host, port)
        }
    }

    /// Sets the TLS mode ([`Tls::Implicit`] for port 465).
    #[must_use]
    pub fn with_tls(mut self, tls: Tls) -> Self {
        self.tls = tls;
        self
    }

    /// Allows [`Tls::Plaintext`] (tests, a local relay).
    #[must_use]
    pub fn allow_plaintext(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }

    /// Sets the protocol.
    #[must_use]
    pub fn with_protocol(mut self, protocol: SmtpProtocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Authenticates with `AUTH PLAIN` as `user`.
    #[must_use]
    pub fn with_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// The name sent in `EHLO`/`LHLO` (default `mailmigrate.invalid`).
    #[must_use]
    pub fn with_helo(mut self, name: impl Into<String>) -> Self {
        self.helo = name.into();
        self
    }

    /// Bounds the connection and each read and write (default 30 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Trusts the root certificates in a PEM file as well as the public web roots.
    #[must_use]
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    fn hello(&self) -> String {
        let verb = match self.protocol {
            SmtpProtocol::Smtp => "EHLO",
            SmtpProtocol::Lmtp => "LHLO",
        };
        format!("{verb} {}", self.helo)
    }

    async fn connect(&self) -> Result<TcpStream> {
        let addr = (self.host.as_str(), self.port);
        match tokio::time::timeout(self.timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(error(
                ErrorKind::Unavailable,
                format!("cannot connect to {}:{}: {e}", self.host, self.port),
            )
            .with_operation(Operation::Connect)
            .temporary()),
            Err(_) => Err(error(
                ErrorKind::Unavailable,
                format!(
                    "no connection to {}:{} within {:?}",
                    self.host, self.port, self.timeout
                ),
            )
            .with_operation(Operation::Connect)
            .temporary()),
        }
    }

    async fn tls(&self, tcp: TcpStream) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
        crate::client::tls_connect(&self.host, self.ca_file.as_deref(), self.timeout, tcp)
            .await
            .map_err(|e| {
                e.into_error(Operation::Connect)
                    .with_provider(wire::PROVIDER)
            })
    }

    /// After the greeting and hello (on TLS where asked for): authenticate, send.
    async fn transaction<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        conn: &mut Conn<S>,
        extensions: &[String],
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<()> {
        if let Some((user, password)) = &self.credentials {
            let plain = extensions
                .iter()
                .any(|e| e.starts_with("AUTH") && e.split_whitespace().any(|m| m == "PLAIN"));
            if !plain {
                return Err(error(
                    ErrorKind::Unsupported,
                    "the server offers no AUTH PLAIN (over this connection)",
                ));
            }
            let token = base64(format!("\0{user}\0{password}").as_bytes());
            conn.command("AUTH", &format!("AUTH PLAIN {token}")).await?;
        }
        conn.command("MAIL", &format!("MAIL FROM:<{}>", path(&envelope.from)?))
            .await?;
        for to in &envelope.to {
            conn.command("RCPT", &format!("RCPT TO:<{}>", path(to)?))
                .await
                .map_err(|e| e.with_context("recipient", to))?;
        }
        let replies = match self.protocol {
            SmtpProtocol::Smtp => 1,
            SmtpProtocol::Lmtp => envelope.to.len(),
        };
        conn.data(message, replies).await?;
        let _ = conn.command("QUIT", "QUIT").await;
        Ok(())
    }

    async fn hello_on<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        conn: &mut Conn<S>,
    ) -> Result<Vec<String>> {
        Ok(conn.command("HELO", &self.hello()).await?.extensions())
    }
}

/// An envelope address, refused if it could break the command line.
fn path(address: &str) -> Result<&str> {
    let a = address.trim();
    if a.chars().any(|c| c.is_control() || c == '<' || c == '>') {
        return Err(error(
            ErrorKind::ConfigInvalid,
            format!("not an envelope address: {a:?}"),
        ));
    }
    Ok(a)
}

#[async_trait]
impl Submission for SmtpSubmission {
    async fn submit(&self, envelope: &Envelope, message: &[u8]) -> Result<()> {
        if envelope.to.is_empty() {
            return Err(error(ErrorKind::ConfigInvalid, "no recipient"));
        }
        if self.tls == Tls::Plaintext && !self.allow_plaintext {
            return Err(error(
                ErrorKind::ConfigInvalid,
                "plaintext SMTP needs allow_plaintext(true)",
            ));
        }
        let tcp = self.connect().await?;
        match self.tls {
            Tls::Implicit => {
                let mut conn = Conn::new(self.tls(tcp).await?, self.timeout);
                conn.greeting().await?;
                let ext = self.hello_on(&mut conn).await?;
                self.transaction(&mut conn, &ext, envelope, message).await
            }
            Tls::StartTls => {
                let mut conn = Conn::new(tcp, self.timeout);
                conn.greeting().await?;
                let ext = self.hello_on(&mut conn).await?;
                if !ext.iter().any(|e| e == "STARTTLS") {
                    return Err(error(
                        ErrorKind::Unsupported,
                        "the server offers no STARTTLS",
                    ));
                }
                conn.command("STARTTLS", "STARTTLS").await?;
                let mut conn = Conn::new(self.tls(conn.into_inner()).await?, self.timeout);
                let ext = self.hello_on(&mut conn).await?;
                self.transaction(&mut conn, &ext, envelope, message).await
            }
            Tls::Plaintext => {
                let mut conn = Conn::new(tcp, self.timeout);
                conn.greeting().await?;
                let ext = self.hello_on(&mut conn).await?;
                self.transaction(&mut conn, &ext, envelope, message).await
            }
        }
    }
}

//! Connections, the pool, and every IMAP command this crate sends.
//!
//! Commands go through async-imap's low-level `run_command` / `read_response` and are
//! interpreted from imap-proto's parsed responses, so response codes (`APPENDUID`,
//! `TRYCREATE`, `HIGHESTMODSEQ`…) are never lost. Only this module builds command strings.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::imap_proto::{
    MailboxDatum, RequestId, Response, ResponseCode, Status as ProtoStatus,
};
use async_imap::{Client, Session};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::client::TlsStream;

use crate::config::{AuthMechanism, Credentials, ImapConfig, Tls};
use crate::error::{ImapError, Status};
use crate::model::{FetchedMessage, ListedMailbox, Namespace, SelectInfo};

type Res<T> = std::result::Result<T, ImapError>;

/// The byte stream under a session: plain TCP or rustls over TCP, with writes buffered.
///
/// async-imap writes a command as tag, space, text and CRLF in four writes, then flushes;
/// unbuffered, each became its own `send` (and TLS record). Every write path here and in
/// async-imap flushes before it waits for the server, so buffering only coalesces.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(BufWriter<TcpStream>),
    Tls(Box<BufWriter<TlsStream<TcpStream>>>),
}

/// Bytes gathered before a write reaches the socket (larger literals bypass the buffer).
const WRITE_BUFFER: usize = 64 * 1024;

impl Stream {
    fn plain(tcp: TcpStream) -> Self {
        Self::Plain(BufWriter::with_capacity(WRITE_BUFFER, tcp))
    }

    fn tls(tls: TlsStream<TcpStream>) -> Self {
        Self::Tls(Box::new(BufWriter::with_capacity(WRITE_BUFFER, tls)))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

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

/// The mailbox a connection has selected.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Selected {
    mailbox: String,
    writable: bool,
    uidvalidity: u32,
}

/// One authenticated connection.
pub(crate) struct Connection {
    session: Session<Stream>,
    selected: Option<Selected>,
    timeout: Duration,
    broken: bool,
    /// Commands sent whose tagged completion has not been read yet. A connection given back
    /// with commands pending (its caller was cancelled mid-command) would feed their late
    /// responses to the next caller, so it is dropped instead.
    pending: usize,
    condstore: bool,
    qresync: bool,
    gmail: bool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("selected", &self.selected)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// Quotes a string as an IMAP quoted string; `None` if it cannot be quoted (CR, LF, NUL or
/// non-ASCII, which would need a literal).
pub(crate) fn quote(s: &str) -> Option<String> {
    if s.bytes()
        .any(|b| b == b'\r' || b == b'\n' || b == 0 || !b.is_ascii())
    {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

fn quote_mailbox(name: &str) -> Res<String> {
    quote(name).ok_or_else(|| ImapError::Config("mailbox name cannot be sent".into()))
}

fn code_name(code: &ResponseCode<'_>) -> String {
    match code {
        ResponseCode::TryCreate => "TRYCREATE".into(),
        ResponseCode::Parse => "PARSE".into(),
        ResponseCode::Alert => "ALERT".into(),
        ResponseCode::ReadOnly => "READ-ONLY".into(),
        ResponseCode::ReadWrite => "READ-WRITE".into(),
        ResponseCode::BadCharset(_) => "BADCHARSET".into(),
        ResponseCode::UidNotSticky => "UIDNOTSTICKY".into(),
        other => format!("{other:?}").to_ascii_uppercase(),
    }
}

fn status_error(
    status: &ProtoStatus,
    code: Option<&ResponseCode<'_>>,
    text: Option<&str>,
) -> ImapError {
    let status = match status {
        ProtoStatus::Bad => Status::Bad,
        ProtoStatus::Bye => Status::Bye,
        _ => Status::No,
    };
    ImapError::status(status, code.map(code_name), text)
}

/// The completion of a command: its response code, if any.
#[derive(Debug, Default)]
pub(crate) struct Done {
    /// `APPENDUID` (uidvalidity, uid) when the server sent one for a single message.
    pub(crate) append_uid: Option<(u32, u32)>,
    /// Every UID of an `APPENDUID` (MULTIAPPEND answers with a set), in order.
    pub(crate) append_uids: Option<(u32, Vec<u32>)>,
    /// The server asked for the literal (`+`); the command is still running.
    continued: bool,
}

impl Done {
    fn continued() -> Self {
        Self {
            append_uid: None,
            append_uids: None,
            continued: true,
        }
    }
}

/// One message for [`Connection::append_pipelined`].
#[derive(Debug)]
pub(crate) struct AppendItem<'a> {
    pub(crate) flags: String,
    pub(crate) date: Option<String>,
    pub(crate) bytes: &'a Bytes,
}

/// What became of one pipelined APPEND.
#[derive(Debug)]
pub(crate) enum AppendOutcome {
    /// Stored, with the APPENDUID (uidvalidity, uid) if the server sent one.
    Stored(Option<(u32, u32)>),
    /// The server refused it; the connection is still usable.
    Failed(ImapError),
    /// Sent, but the connection failed before the answer: it may be stored.
    Unknown(ImapError),
    /// Never sent because the connection failed first.
    NotSent,
}

/// What became of one MULTIAPPEND command (all or nothing, RFC 3502).
#[derive(Debug)]
pub(crate) enum MultiOutcome {
    /// Stored, with every APPENDUID (uidvalidity, uids in order) when the server sent
    /// exactly one per message.
    Stored(Option<(u32, Vec<u32>)>),
    /// The server refused the group; nothing was stored and the connection is usable.
    Refused(ImapError),
    /// The connection failed before the command was complete: nothing can be stored.
    NotSent(ImapError),
    /// The command was complete but its answer was lost: all stored, or none.
    Unknown(ImapError),
}

/// What one response means for the command in flight.
enum Step {
    Done(Done),
    Fail(ImapError),
    Bye(ImapError),
    Continue,
    More,
}

impl Connection {
    /// Connects, secures and authenticates one connection, and learns the server's facts.
    pub(crate) async fn open(cfg: &ImapConfig) -> Res<(Self, ServerFacts)> {
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
        let session = authenticate(cfg, client, &pre_auth).await?;
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

    /// Whether the connection can be reused.
    pub(crate) fn is_usable(&self) -> bool {
        !self.broken && self.pending == 0
    }

    /// Reads the next response and hands its parsed form to `f`.
    async fn read_with<T>(&mut self, f: impl FnOnce(&Response<'_>) -> T) -> Res<T> {
        match tokio::time::timeout(self.timeout, self.session.read_response()).await {
            Err(_) => {
                self.broken = true;
                Err(ImapError::Timeout(self.timeout))
            }
            Ok(Err(e)) => {
                self.broken = true;
                Err(ImapError::io(&e))
            }
            Ok(Ok(None)) => {
                self.broken = true;
                Err(ImapError::Closed)
            }
            Ok(Ok(Some(r))) => Ok(f(r.parsed())),
        }
    }

    async fn send(&mut self, command: &str) -> Res<RequestId> {
        match tokio::time::timeout(self.timeout, self.session.run_command(command)).await {
            Err(_) => {
                self.broken = true;
                Err(ImapError::Timeout(self.timeout))
            }
            Ok(Err(e)) => {
                self.broken = true;
                Err(match e {
                    async_imap::error::Error::Io(io) => ImapError::io(&io),
                    _ => ImapError::Closed,
                })
            }
            Ok(Ok(id)) => {
                self.pending += 1;
                Ok(id)
            }
        }
    }

    /// Runs `command`, passing each untagged response to `untagged`, until its tagged
    /// completion; `NO`/`BAD`/`BYE` become errors.
    pub(crate) async fn run<F>(&mut self, command: &str, mut untagged: F) -> Res<Done>
    where
        F: FnMut(&Response<'_>),
    {
        let tag = self.send(command).await?;
        self.finish(&tag, &mut untagged, false).await
    }

    async fn finish<F>(
        &mut self,
        tag: &RequestId,
        untagged: &mut F,
        stop_at_continue: bool,
    ) -> Res<Done>
    where
        F: FnMut(&Response<'_>),
    {
        loop {
            let step = self
                .read_with(|r| match r {
                    Response::Done {
                        tag: t,
                        status,
                        outcome,
                    } if t == tag => {
                        if *status != ProtoStatus::Ok {
                            return Step::Fail(status_error(
                                status,
                                outcome.code.as_ref(),
                                outcome.information.as_deref(),
                            ));
                        }
                        let mut done = Done::default();
                        if let Some(ResponseCode::AppendUid(validity, uids)) = &outcome.code {
                            if let [async_imap::imap_proto::rfc4315::UidSetMember::Uid(uid)] =
                                uids.as_slice()
                            {
                                done.append_uid = Some((*validity, *uid));
                            }
                            done.append_uids = Some((*validity, expand_uid_set(uids)));
                        }
                        Step::Done(done)
                    }
                    Response::Data {
                        status: ProtoStatus::Bye,
                        outcome,
                    } => Step::Bye(status_error(
                        &ProtoStatus::Bye,
                        outcome.code.as_ref(),
                        outcome.information.as_deref(),
                    )),
                    Response::Continue(_) => Step::Continue,
                    other => {
                        untagged(other);
                        Step::More
                    }
                })
                .await?;
            match step {
                Step::Done(d) => {
                    self.pending = self.pending.saturating_sub(1);
                    return Ok(d);
                }
                Step::Fail(e) => {
                    self.pending = self.pending.saturating_sub(1);
                    return Err(e);
                }
                Step::Bye(e) => {
                    self.broken = true;
                    return Err(e);
                }
                Step::Continue if stop_at_continue => return Ok(Done::continued()),
                Step::Continue | Step::More => {}
            }
        }
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

    /// Sends `command` with `tag` straight onto the stream and reads the raw answer up to
    /// the tagged completion, bypassing async-imap's parser. For responses imap-proto 0.17
    /// cannot parse (an unparsable line would close the async-imap stream). Only safe when
    /// async-imap's read buffer is empty: right after login, or on a connection retired
    /// afterwards.
    async fn raw_command(&mut self, tag: &str, command: &str, limit: usize) -> Res<(bool, String)> {
        let timeout = self.timeout;
        let r = raw_exchange(self.session.get_mut(), tag, command, limit, timeout).await;
        if r.is_err() {
            self.broken = true;
        }
        r
    }

    /// `NAMESPACE`, read raw (imap-proto 0.17 has no parser for it). Called right after login.
    async fn raw_namespace(&mut self) -> Res<Option<Namespace>> {
        let (ok, text) = self.raw_command("mmns", "NAMESPACE", 64 * 1024).await?;
        if !ok {
            return Ok(None);
        }
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("* NAMESPACE "))
            .and_then(Namespace::parse_personal))
    }

    /// `XLIST`, read raw (imap-proto 0.17 cannot parse `* XLIST`), for servers that have it
    /// but not SPECIAL-USE. The connection is retired afterwards.
    pub(crate) async fn xlist(&mut self) -> Res<Vec<ListedMailbox>> {
        let result = self
            .raw_command("mmxl", "XLIST \"\" \"*\"", 16 * 1024 * 1024)
            .await;
        self.broken = true;
        let (ok, text) = result?;
        if !ok {
            return Err(ImapError::status(Status::No, None, Some("XLIST failed")));
        }
        Ok(text
            .lines()
            .filter_map(|l| l.strip_prefix("* XLIST "))
            .filter_map(ListedMailbox::parse_raw)
            .collect())
    }

    /// The hierarchy delimiter from `LIST "" ""`.
    async fn root_delimiter(&mut self) -> Res<Option<char>> {
        let mut delim = None;
        self.run("LIST \"\" \"\"", |r| {
            if let Response::MailboxData(MailboxDatum::List(l)) = r {
                delim = l.delimiter.as_ref().and_then(|d| d.chars().next());
            }
        })
        .await?;
        Ok(delim)
    }

    /// Lists mailboxes (`LIST "" "*"`, with `RETURN (SPECIAL-USE)` when `special_use`).
    pub(crate) async fn list(
        &mut self,
        special_use: bool,
        pattern: &str,
    ) -> Res<Vec<ListedMailbox>> {
        let cmd = if special_use {
            format!("LIST \"\" {} RETURN (SPECIAL-USE)", quote_mailbox(pattern)?)
        } else {
            format!("LIST \"\" {}", quote_mailbox(pattern)?)
        };
        let mut out = Vec::new();
        self.run(&cmd, |r| {
            if let Response::MailboxData(MailboxDatum::List(l)) = r {
                out.push(ListedMailbox::from_proto(l));
            }
        })
        .await?;
        Ok(out)
    }

    /// Names of subscribed mailboxes (`LSUB "" "*"`).
    pub(crate) async fn lsub(&mut self) -> Res<HashSet<String>> {
        let mut out = HashSet::new();
        self.run("LSUB \"\" \"*\"", |r| {
            if let Response::MailboxData(MailboxDatum::List(l)) = r {
                out.insert(l.name.to_string());
            }
        })
        .await?;
        Ok(out)
    }

    /// Selects (`writable`) or examines a mailbox, asking for CONDSTORE when the server has it.
    pub(crate) async fn select(&mut self, mailbox: &str, writable: bool) -> Res<SelectInfo> {
        let verb = if writable { "SELECT" } else { "EXAMINE" };
        let suffix = if self.condstore { " (CONDSTORE)" } else { "" };
        let cmd = format!("{verb} {}{suffix}", quote_mailbox(mailbox)?);
        self.selected = None;
        let mut info = SelectInfo::default();
        self.run(&cmd, |r| match r {
            Response::Data { outcome, .. } => match &outcome.code {
                Some(ResponseCode::UidValidity(v)) => info.uidvalidity = *v,
                Some(ResponseCode::UidNext(n)) => info.uidnext = Some(*n),
                Some(ResponseCode::HighestModSeq(m)) => info.highestmodseq = Some(*m),
                _ => {}
            },
            Response::MailboxData(MailboxDatum::Exists(n)) => info.exists = *n,
            _ => {}
        })
        .await?;
        self.selected = Some(Selected {
            mailbox: mailbox.to_owned(),
            writable,
            uidvalidity: info.uidvalidity,
        });
        Ok(info)
    }

    /// `STATUS mailbox (MESSAGES)` for every mailbox, pipelined: all commands are sent at
    /// once and the answers read in order, so any number of folders costs one round trip.
    /// One result per mailbox, in order; the selected mailbox, if any, stays selected.
    /// A refusal (`NO` for a missing folder) fails only its own entry; a broken connection
    /// fails the entries not answered yet.
    pub(crate) async fn status_messages(&mut self, mailboxes: &[&str]) -> Vec<Res<u32>> {
        let mut tags = Vec::with_capacity(mailboxes.len());
        for name in mailboxes {
            let sent = match quote_mailbox(name) {
                Ok(q) => self.send(&format!("STATUS {q} (MESSAGES)")).await,
                Err(e) => Err(e),
            };
            let broken = sent.is_err() && self.broken;
            tags.push(sent);
            if broken {
                break;
            }
        }
        // Answers are matched by mailbox name, whichever command's completion they came
        // before; the answer read during a command's own completion is the fallback.
        let mut by_name: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(mailboxes.len());
        for (tag, name) in tags.into_iter().zip(mailboxes) {
            let tag = match tag {
                Ok(t) => t,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            if self.broken {
                out.push(Err(ImapError::Closed));
                continue;
            }
            let mut own = None;
            let done = self
                .finish(
                    &tag,
                    &mut |r: &Response<'_>| {
                        if let Response::MailboxData(MailboxDatum::Status { mailbox, status }) = r {
                            for a in status {
                                if let async_imap::imap_proto::StatusAttribute::Messages(n) = a {
                                    by_name.insert(mailbox.to_string(), *n);
                                    own = Some(*n);
                                }
                            }
                        }
                    },
                    false,
                )
                .await;
            out.push(done.and_then(|_| {
                by_name
                    .get(*name)
                    .copied()
                    .or(own)
                    .ok_or_else(|| ImapError::Protocol("STATUS answered without MESSAGES".into()))
            }));
        }
        while out.len() < mailboxes.len() {
            out.push(Err(ImapError::Closed));
        }
        out
    }

    /// Selects the mailbox unless it is already selected in a suitable mode; returns its
    /// UIDVALIDITY.
    pub(crate) async fn ensure_selected(&mut self, mailbox: &str, writable: bool) -> Res<u32> {
        if let Some(s) = &self.selected {
            if s.mailbox == mailbox && (s.writable || !writable) {
                return Ok(s.uidvalidity);
            }
        }
        self.select(mailbox, writable).await.map(|i| i.uidvalidity)
    }

    /// Selects the mailbox, or, when it is selected already, sends `NOOP` so that messages
    /// other connections appended since are visible (Dovecot shows them to a selected
    /// connection only at a NOOP or a new selection). Returns its UIDVALIDITY.
    pub(crate) async fn refresh_selected(&mut self, mailbox: &str, writable: bool) -> Res<u32> {
        match &self.selected {
            Some(s) if s.mailbox == mailbox && (s.writable || !writable) => {
                let uidvalidity = s.uidvalidity;
                self.run("NOOP", |_| {}).await?;
                Ok(uidvalidity)
            }
            _ => self.select(mailbox, writable).await.map(|i| i.uidvalidity),
        }
    }

    /// `UID FETCH from:* (UID RFC822.SIZE)`: (UID, size) of every message from `from` up.
    /// A server answers `n:*` with the highest message even when its UID is below `n`.
    pub(crate) async fn uid_sizes(&mut self, from: u32) -> Res<Vec<(u32, u64)>> {
        let mut out = Vec::new();
        self.run(&format!("UID FETCH {from}:* (UID RFC822.SIZE)"), |r| {
            if let Response::Fetch(_, attrs) = r {
                if let Some(FetchedMessage {
                    uid,
                    size: Some(size),
                    ..
                }) = FetchedMessage::from_attrs(attrs)
                {
                    out.push((uid, u64::from(size)));
                }
            }
        })
        .await?;
        Ok(out)
    }

    /// `UID FETCH set attrs` on the selected mailbox, with or without the body.
    pub(crate) async fn uid_fetch(
        &mut self,
        set: &str,
        with_body: bool,
    ) -> Res<Vec<FetchedMessage>> {
        let gm = if self.gmail { " X-GM-LABELS" } else { "" };
        let attrs = if with_body {
            format!("(UID FLAGS INTERNALDATE{gm} BODY.PEEK[])")
        } else {
            format!("(UID FLAGS INTERNALDATE RFC822.SIZE{gm})")
        };
        let mut out = Vec::new();
        self.run(&format!("UID FETCH {set} {attrs}"), |r| {
            if let Response::Fetch(_, attrs) = r {
                if let Some(m) = FetchedMessage::from_attrs(attrs) {
                    out.push(m);
                }
            }
        })
        .await?;
        Ok(out)
    }

    /// Starts `UID FETCH set (… BODY.PEEK[])`; read its messages one at a time with
    /// [`next_fetched`](Self::next_fetched), so memory holds one message, not a batch.
    pub(crate) async fn start_body_fetch(&mut self, set: &str) -> Res<RequestId> {
        let gm = if self.gmail { " X-GM-LABELS" } else { "" };
        self.send(&format!(
            "UID FETCH {set} (UID FLAGS INTERNALDATE{gm} BODY.PEEK[])"
        ))
        .await
    }

    /// The next message of a fetch started with `start_body_fetch`; `None` once the command
    /// completed.
    pub(crate) async fn next_fetched(&mut self, tag: &RequestId) -> Res<Option<FetchedMessage>> {
        loop {
            let step = self
                .read_with(|r| match r {
                    Response::Fetch(_, attrs) => Some(Ok(FetchedMessage::from_attrs(attrs))),
                    Response::Done {
                        tag: t,
                        status,
                        outcome,
                    } if t == tag => Some(Err(if *status == ProtoStatus::Ok {
                        None
                    } else {
                        Some(status_error(
                            status,
                            outcome.code.as_ref(),
                            outcome.information.as_deref(),
                        ))
                    })),
                    Response::Data {
                        status: ProtoStatus::Bye,
                        outcome,
                    } => Some(Err(Some(status_error(
                        &ProtoStatus::Bye,
                        outcome.code.as_ref(),
                        outcome.information.as_deref(),
                    )))),
                    _ => None,
                })
                .await?;
            match step {
                None | Some(Ok(None)) => {}
                Some(Ok(Some(m))) => return Ok(Some(m)),
                Some(Err(None)) => {
                    self.pending = self.pending.saturating_sub(1);
                    return Ok(None);
                }
                Some(Err(Some(e))) => {
                    if matches!(
                        e,
                        ImapError::Status {
                            status: Status::Bye,
                            ..
                        }
                    ) {
                        self.broken = true;
                    } else {
                        self.pending = self.pending.saturating_sub(1);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// `UID FETCH set (UID FLAGS INTERNALDATE RFC822.SIZE) (CHANGEDSINCE m [VANISHED])`:
    /// the messages changed since `modseq` and, with QRESYNC, the UIDs expunged since then.
    pub(crate) async fn uid_fetch_changes(
        &mut self,
        set: &str,
        modseq: u64,
    ) -> Res<(Vec<FetchedMessage>, Vec<std::ops::RangeInclusive<u32>>)> {
        let vanished_opt = if self.qresync { " VANISHED" } else { "" };
        let gm = if self.gmail { " X-GM-LABELS" } else { "" };
        let cmd = format!(
            "UID FETCH {set} (UID FLAGS INTERNALDATE RFC822.SIZE{gm}) (CHANGEDSINCE {modseq}{vanished_opt})"
        );
        let mut found = Vec::new();
        let mut vanished = Vec::new();
        self.run(&cmd, |r| match r {
            Response::Fetch(_, attrs) => {
                if let Some(m) = FetchedMessage::from_attrs(attrs) {
                    found.push(m);
                }
            }
            Response::Vanished {
                earlier: true,
                uids,
            } => vanished.extend(uids.iter().cloned()),
            _ => {}
        })
        .await?;
        Ok((found, vanished))
    }

    /// `UID SEARCH criteria` on the selected mailbox.
    pub(crate) async fn uid_search(&mut self, criteria: &str) -> Res<Vec<u32>> {
        let mut out = Vec::new();
        self.run(&format!("UID SEARCH {criteria}"), |r| {
            if let Response::MailboxData(MailboxDatum::Search(ids)) = r {
                out.extend_from_slice(ids);
            }
        })
        .await?;
        Ok(out)
    }

    /// Whether `uid` exists in the selected mailbox, and the `UID STORE uid ±FLAGS.SILENT`
    /// of each `(sign, flags)` in `stores`, pipelined behind the `UID SEARCH UID uid` that
    /// answers it: one round trip instead of one per command. A STORE of a UID that does not
    /// exist changes nothing (the server answers OK), so sending it before the answer is
    /// harmless. Returns whether the UID exists; a STORE refused fails the call.
    ///
    /// The existence check is needed because a server answers `OK` whether or not the UID
    /// exists, and sends no untagged `FETCH` for a silent store (nor, like Dovecot, for a
    /// store that changed nothing).
    pub(crate) async fn uid_store_if_exists(
        &mut self,
        uid: u32,
        stores: &[(char, &str)],
    ) -> Res<bool> {
        let search = self.send(&format!("UID SEARCH UID {uid}")).await?;
        let mut tags = Vec::with_capacity(stores.len());
        for (sign, flags) in stores {
            match self
                .send(&format!("UID STORE {uid} {sign}FLAGS.SILENT ({flags})"))
                .await
            {
                Ok(t) => tags.push(t),
                Err(e) => {
                    // Read what was sent, so the connection stays in step, then fail.
                    let _ = self
                        .finish(&search, &mut |_: &Response<'_>| {}, false)
                        .await;
                    for t in &tags {
                        let _ = self.finish(t, &mut |_: &Response<'_>| {}, false).await;
                    }
                    return Err(e);
                }
            }
        }
        let mut found = Vec::new();
        let searched = self
            .finish(
                &search,
                &mut |r: &Response<'_>| {
                    if let Response::MailboxData(MailboxDatum::Search(ids)) = r {
                        found.extend_from_slice(ids);
                    }
                },
                false,
            )
            .await;
        let mut stored = Ok(());
        for t in &tags {
            if self.broken {
                stored = Err(ImapError::Closed);
                break;
            }
            if let Err(e) = self.finish(t, &mut |_: &Response<'_>| {}, false).await {
                if stored.is_ok() {
                    stored = Err(e);
                }
            }
        }
        searched?;
        let exists = found.contains(&uid);
        if exists {
            stored?;
        }
        Ok(exists)
    }

    /// Adds Gmail labels to a message (`UID STORE uid +X-GM-LABELS (…)`).
    pub(crate) async fn uid_add_labels(&mut self, uid: u32, labels: &str) -> Res<()> {
        self.run(
            &format!("UID STORE {uid} +X-GM-LABELS.SILENT ({labels})"),
            |_| {},
        )
        .await
        .map(|_| ())
    }

    /// `GETACL`: (identifier, rights) pairs.
    pub(crate) async fn get_acl(&mut self, mailbox: &str) -> Res<Vec<crate::AclEntry>> {
        let mut out = Vec::new();
        self.run(&format!("GETACL {}", quote_mailbox(mailbox)?), |r| {
            if let Response::Acl(acl) = r {
                for e in &acl.acls {
                    let rights: String = e.rights.iter().map(|r| char::from(*r)).collect();
                    out.push(crate::AclEntry::new(e.identifier.to_string(), rights));
                }
            }
        })
        .await?;
        Ok(out)
    }

    /// `MYRIGHTS`: the rights letters of the logged-in user.
    pub(crate) async fn my_rights(&mut self, mailbox: &str) -> Res<String> {
        let mut out = String::new();
        self.run(&format!("MYRIGHTS {}", quote_mailbox(mailbox)?), |r| {
            if let Response::MyRights(m) = r {
                out = m.rights.iter().map(|r| char::from(*r)).collect();
            }
        })
        .await?;
        Ok(out)
    }

    /// `SETACL`, or `DELETEACL` for empty rights.
    pub(crate) async fn set_acl(
        &mut self,
        mailbox: &str,
        identifier: &str,
        rights: &str,
    ) -> Res<()> {
        let who = quote(identifier)
            .ok_or_else(|| ImapError::Config("ACL identifier cannot be sent".into()))?;
        let cmd = if rights.is_empty() {
            format!("DELETEACL {} {who}", quote_mailbox(mailbox)?)
        } else {
            format!(
                "SETACL {} {who} {}",
                quote_mailbox(mailbox)?,
                quote(rights).unwrap_or_default()
            )
        };
        self.run(&cmd, |_| {}).await.map(|_| ())
    }

    /// Marks `set` deleted and expunges exactly those (UIDPLUS `UID EXPUNGE`).
    pub(crate) async fn uid_delete(&mut self, set: &str) -> Res<()> {
        self.run(
            &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
            |_| {},
        )
        .await?;
        self.run(&format!("UID EXPUNGE {set}"), |_| {}).await?;
        Ok(())
    }

    /// `CREATE`, optionally with a special-use attribute (RFC 6154 CREATE-SPECIAL-USE).
    pub(crate) async fn create(&mut self, mailbox: &str, special_use: Option<&str>) -> Res<()> {
        let cmd = match special_use {
            Some(u) => format!("CREATE {} (USE ({u}))", quote_mailbox(mailbox)?),
            None => format!("CREATE {}", quote_mailbox(mailbox)?),
        };
        self.run(&cmd, |_| {}).await.map(|_| ())
    }

    /// `SUBSCRIBE`.
    pub(crate) async fn subscribe(&mut self, mailbox: &str) -> Res<()> {
        self.run(&format!("SUBSCRIBE {}", quote_mailbox(mailbox)?), |_| {})
            .await
            .map(|_| ())
    }

    /// Appends several messages in one MULTIAPPEND command (RFC 3502) with LITERAL+ literals:
    /// one server transaction for the lot, all or nothing.
    ///
    /// The command ends with the CRLF after the last literal; a connection that fails
    /// before that was never a complete command, so nothing was stored
    /// ([`MultiOutcome::NotSent`]). After it, a lost answer leaves the whole group
    /// [`MultiOutcome::Unknown`].
    pub(crate) async fn multiappend(
        &mut self,
        mailbox: &str,
        items: &[AppendItem<'_>],
    ) -> MultiOutcome {
        let quoted = match quote_mailbox(mailbox) {
            Ok(q) => q,
            Err(e) => return MultiOutcome::Refused(e),
        };
        let Some(first) = items.first() else {
            return MultiOutcome::Stored(None);
        };
        let tag = match self
            .send(&format!("APPEND {quoted} {}", append_args(first, true)))
            .await
        {
            Ok(t) => t,
            Err(e) => return MultiOutcome::NotSent(e),
        };
        for (k, item) in items.iter().enumerate() {
            let next = items
                .get(k + 1)
                .map(|n| format!(" {}\r\n", append_args(n, true)));
            let end = next.as_deref().unwrap_or("\r\n");
            if let Err(e) = self.write_parts(item.bytes, end.as_bytes()).await {
                return if next.is_some() {
                    MultiOutcome::NotSent(e)
                } else {
                    MultiOutcome::Unknown(e)
                };
            }
        }
        match self.finish(&tag, &mut |_| {}, false).await {
            Ok(done) => MultiOutcome::Stored(
                done.append_uids
                    .filter(|(_, uids)| uids.len() == items.len()),
            ),
            Err(e) if self.is_usable() => MultiOutcome::Refused(e),
            Err(e) => MultiOutcome::Unknown(e),
        }
    }

    /// Appends several messages with LITERAL+ non-synchronizing literals, keeping up to
    /// `window` commands in flight so the server never waits for the client.
    ///
    /// Returns one outcome per message, in order. When the connection fails, every message
    /// in flight gets [`AppendOutcome::Unknown`] (it may have been stored) and the ones not
    /// yet sent get [`AppendOutcome::NotSent`], so the caller can send those elsewhere.
    pub(crate) async fn append_pipelined(
        &mut self,
        mailbox: &str,
        items: &[AppendItem<'_>],
        window: usize,
    ) -> Vec<AppendOutcome> {
        let mut out: Vec<Option<AppendOutcome>> = (0..items.len()).map(|_| None).collect();
        let mut in_flight: std::collections::VecDeque<(usize, RequestId)> =
            std::collections::VecDeque::new();
        let quoted = match quote_mailbox(mailbox) {
            Ok(q) => q,
            Err(e) => {
                let msg = e.to_string();
                return items
                    .iter()
                    .map(|_| AppendOutcome::Failed(ImapError::Config(msg.clone())))
                    .collect();
            }
        };
        let mut failure: Option<ImapError> = None;
        'send: for (i, item) in items.iter().enumerate() {
            while in_flight.len() >= window.max(1) {
                if let Err(e) = self.complete_one(&mut in_flight, &mut out).await {
                    failure = Some(e);
                    break 'send;
                }
            }
            let tag = match self
                .send(&format!("APPEND {quoted} {}", append_args(item, true)))
                .await
            {
                Ok(t) => t,
                Err(e) => {
                    // Not even the command line went out whole, and its literal not at
                    // all: this one was not sent.
                    failure = Some(e);
                    break;
                }
            };
            in_flight.push_back((i, tag));
            if let Err(e) = self.write_literal(item.bytes).await {
                failure = Some(e);
                break;
            }
        }
        while failure.is_none() && !in_flight.is_empty() {
            if let Err(e) = self.complete_one(&mut in_flight, &mut out).await {
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            for (i, _) in in_flight {
                out[i] = Some(AppendOutcome::Unknown(e.clone()));
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or(AppendOutcome::NotSent))
            .collect()
    }

    async fn write_literal(&mut self, bytes: &Bytes) -> Res<()> {
        self.write_parts(bytes, b"\r\n").await
    }

    /// Writes a literal and what follows it, then flushes; a failure breaks the connection.
    async fn write_parts(&mut self, bytes: &[u8], then: &[u8]) -> Res<()> {
        let timeout = self.timeout;
        let stream = self.session.get_mut();
        let write = async {
            stream.write_all(bytes).await?;
            stream.write_all(then).await?;
            stream.flush().await
        };
        match tokio::time::timeout(timeout.max(Duration::from_secs(1)) * 4, write).await {
            Err(_) => {
                self.broken = true;
                Err(ImapError::Timeout(timeout))
            }
            Ok(Err(e)) => {
                self.broken = true;
                Err(ImapError::io(&e))
            }
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Reads until one in-flight APPEND completes and records its outcome.
    async fn complete_one(
        &mut self,
        in_flight: &mut std::collections::VecDeque<(usize, RequestId)>,
        out: &mut [Option<AppendOutcome>],
    ) -> Res<()> {
        loop {
            let step = self
                .read_with(|r| match r {
                    Response::Done {
                        tag,
                        status,
                        outcome,
                    } => {
                        let res = if *status == ProtoStatus::Ok {
                            let mut uid = None;
                            if let Some(ResponseCode::AppendUid(v, uids)) = &outcome.code {
                                if let [async_imap::imap_proto::rfc4315::UidSetMember::Uid(u)] =
                                    uids.as_slice()
                                {
                                    uid = Some((*v, *u));
                                }
                            }
                            Ok(uid)
                        } else {
                            Err(status_error(
                                status,
                                outcome.code.as_ref(),
                                outcome.information.as_deref(),
                            ))
                        };
                        Some(Ok((tag.clone(), res)))
                    }
                    Response::Data {
                        status: ProtoStatus::Bye,
                        outcome,
                    } => Some(Err(status_error(
                        &ProtoStatus::Bye,
                        outcome.code.as_ref(),
                        outcome.information.as_deref(),
                    ))),
                    _ => None,
                })
                .await?;
            match step {
                None => {}
                Some(Err(bye)) => {
                    self.broken = true;
                    return Err(bye);
                }
                Some(Ok((tag, res))) => {
                    let Some(pos) = in_flight.iter().position(|(_, t)| *t == tag) else {
                        continue;
                    };
                    let (i, _) = in_flight.remove(pos).expect("position is valid");
                    self.pending = self.pending.saturating_sub(1);
                    out[i] = Some(match res {
                        Ok(uid) => AppendOutcome::Stored(uid),
                        Err(e) => AppendOutcome::Failed(e),
                    });
                    return Ok(());
                }
            }
        }
    }

    /// `APPEND` one message with a synchronizing literal.
    ///
    /// Until the server asks for the literal nothing can be stored: a failure then is
    /// [`AppendOutcome::NotSent`] (a tagged refusal is [`AppendOutcome::Failed`]). Once the
    /// literal is on its way, a lost connection is [`AppendOutcome::Unknown`].
    pub(crate) async fn append(&mut self, mailbox: &str, item: &AppendItem<'_>) -> AppendOutcome {
        let quoted = match quote_mailbox(mailbox) {
            Ok(q) => q,
            Err(e) => return AppendOutcome::Failed(e),
        };
        let cmd = format!("APPEND {quoted} {}", append_args(item, false));
        let Ok(tag) = self.send(&cmd).await else {
            return AppendOutcome::NotSent;
        };
        // Wait for the continuation; a tagged NO/BAD here means the server refused up front.
        match self.finish(&tag, &mut |_| {}, true).await {
            Ok(first) if first.continued => {}
            Ok(_) => {
                // A tagged OK without the message: this server cannot be trusted with it.
                self.broken = true;
                return AppendOutcome::Failed(ImapError::Protocol(
                    "APPEND completed before the message was sent".into(),
                ));
            }
            Err(e) if self.is_usable() => return AppendOutcome::Failed(e),
            Err(_) => return AppendOutcome::NotSent,
        }
        if let Err(e) = self.write_literal(item.bytes).await {
            return AppendOutcome::Unknown(e);
        }
        match self.finish(&tag, &mut |_| {}, false).await {
            Ok(done) => AppendOutcome::Stored(done.append_uid),
            Err(e) if self.is_usable() => AppendOutcome::Failed(e),
            Err(e) => AppendOutcome::Unknown(e),
        }
    }
}

/// The APPEND arguments after the mailbox for one message: flags, date and the literal
/// head, non-synchronizing with `literal_plus` (`(\Seen) "date" {123+}`).
fn append_args(item: &AppendItem<'_>, literal_plus: bool) -> String {
    let mut args = format!("({})", item.flags);
    if let Some(d) = &item.date {
        args.push_str(" \"");
        args.push_str(d);
        args.push('"');
    }
    let plus = if literal_plus { "+" } else { "" };
    args.push_str(&format!(" {{{}{plus}}}", item.bytes.len()));
    args
}

/// Expands an APPENDUID uid-set into its UIDs, in order (bounded by the batch size the
/// caller sent, so a lying range is cut short by the length check there).
fn expand_uid_set(set: &[async_imap::imap_proto::rfc4315::UidSetMember]) -> Vec<u32> {
    let mut out = Vec::new();
    for m in set {
        match m {
            async_imap::imap_proto::rfc4315::UidSetMember::Uid(u) => out.push(*u),
            async_imap::imap_proto::rfc4315::UidSetMember::UidRange(r) => {
                out.extend(r.clone().take(MULTIAPPEND_MAX + 1));
            }
        }
        if out.len() > MULTIAPPEND_MAX {
            break;
        }
    }
    out
}

/// The most messages one MULTIAPPEND carries.
pub(crate) const MULTIAPPEND_MAX: usize = 64;

/// Writes `tag command` on the raw stream and reads up to the tagged completion.
async fn raw_exchange(
    stream: &mut Stream,
    tag: &str,
    command: &str,
    limit: usize,
    timeout: Duration,
) -> Res<(bool, String)> {
    let io = async {
        stream
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await?;
        stream.flush().await?;
        let mut buf = Vec::with_capacity(256);
        let mut chunk = [0u8; 4096];
        let done = format!("{tag} ");
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > limit {
                return Err(io::Error::other("response too long"));
            }
            if !buf.ends_with(b"\n") {
                continue;
            }
            if let Some(line) = buf
                .split(|&b| b == b'\n')
                .find(|l| l.starts_with(done.as_bytes()))
            {
                let ok = line[done.len()..].starts_with(b"OK");
                return Ok((ok, String::from_utf8_lossy(&buf).into_owned()));
            }
        }
    };
    match tokio::time::timeout(timeout, io).await {
        Err(_) => Err(ImapError::Timeout(timeout)),
        Ok(Err(e)) => Err(ImapError::io(&e)),
        Ok(Ok(v)) => Ok(v),
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
            Response::Data { status, outcome } => Err(status_error(
                status,
                outcome.code.as_ref(),
                outcome.information.as_deref(),
            )),
            _ => Err(ImapError::Protocol("no greeting".into())),
        },
    }
}

async fn tls_wrap(cfg: &ImapConfig, tcp: TcpStream) -> Res<TlsStream<TcpStream>> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &cfg.ca_file {
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
    let name = rustls::pki_types::ServerName::try_from(cfg.host.clone())
        .map_err(|_| ImapError::Config("host is not a valid TLS server name".into()))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    tokio::time::timeout(cfg.timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| ImapError::Timeout(cfg.timeout))?
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

async fn authenticate(
    cfg: &ImapConfig,
    client: Client<Stream>,
    caps: &HashSet<String>,
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
        Credentials::Token(provider) => {
            let token = provider.token().await.map_err(|e| {
                ImapError::status(
                    Status::No,
                    Some("AUTHENTICATIONFAILED".into()),
                    Some(&format!("token provider failed: {}", e.message())),
                )
            })?;
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

/// A small pool of authenticated connections, opened lazily and dropped when broken.
#[derive(Debug)]
pub(crate) struct Pool {
    cfg: ImapConfig,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

/// A connection borrowed from the [`Pool`]; it goes back on drop unless broken.
#[derive(Debug)]
pub(crate) struct Pooled {
    conn: Option<Connection>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    /// A pool around a first, already open connection.
    pub(crate) fn new(cfg: ImapConfig, first: Connection) -> Arc<Self> {
        let size = cfg.pool_size.max(1);
        Arc::new(Self {
            cfg,
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(size)),
        })
    }

    /// Borrows a connection, opening one if none is idle.
    pub(crate) async fn get(self: &Arc<Self>) -> Res<Pooled> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| ImapError::Closed)?;
        let idle = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        let conn = match idle {
            Some(c) => c,
            None => Connection::open(&self.cfg).await?.0,
        };
        Ok(Pooled {
            conn: Some(conn),
            pool: Arc::clone(self),
            _permit: permit,
        })
    }
}

impl std::ops::Deref for Pooled {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until drop")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            if c.is_usable() {
                if let Ok(mut idle) = self.pool.idle.lock() {
                    idle.push(c);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_and_refuses_what_needs_a_literal() {
        assert_eq!(quote("INBOX").as_deref(), Some("\"INBOX\""));
        assert_eq!(quote("a\"b\\c").as_deref(), Some("\"a\\\"b\\\\c\""));
        assert_eq!(quote("a\r\nb"), None);
        assert_eq!(quote("caf\u{e9}"), None);
    }

    #[test]
    fn sasl_answers_once_then_empty() {
        let mut s = Sasl {
            initial: Some(b"\0user\0pass".to_vec()),
        };
        use async_imap::Authenticator as _;
        assert_eq!(s.process(b""), b"\0user\0pass".to_vec());
        assert!(s.process(b"{\"status\":\"400\"}").is_empty());
    }

    #[test]
    fn code_names_are_upper_case_atoms() {
        assert_eq!(code_name(&ResponseCode::TryCreate), "TRYCREATE");
        let e = status_error(&ProtoStatus::No, Some(&ResponseCode::TryCreate), Some("x"));
        assert_eq!(
            e.into_error(mailmigrate_core::Operation::Append).kind(),
            mailmigrate_core::ErrorKind::NotFound
        );
    }
}

//! Connections, the pool, and every IMAP command this crate sends.
//!
//! Commands go through async-imap's low-level `run_command` / `read_response` and are
//! interpreted from imap-proto's parsed responses, so response codes (`APPENDUID`,
//! `TRYCREATE`, `HIGHESTMODSEQ`…) are never lost. Only this module builds command strings.
//!
//! The `client` directory splits it by seam: [`stream`] is the byte stream, [`connect`]
//! opens and authenticates a connection, [`quoting`] turns names into IMAP strings and
//! refusals into errors, [`raw`] holds the commands read past async-imap's parser,
//! [`mailbox`], [`select`], [`fetch`], [`store`], [`acl`] and [`append`] hold the
//! commands of their area, and [`pool`] lends connections out. This file keeps the
//! connection itself and the send / read core every command goes through.

mod acl;
mod append;
mod connect;
pub(crate) use connect::tls_connect;
mod fetch;
mod mailbox;
mod pool;
mod quoting;
mod raw;
mod select;
mod store;
mod stream;

use std::fmt;
use std::time::Duration;

use async_imap::imap_proto::{RequestId, Response, ResponseCode, Status as ProtoStatus};
use async_imap::Session;

use crate::error::ImapError;

pub(crate) use append::{AppendItem, AppendOutcome, MultiOutcome, MULTIAPPEND_MAX};
pub(crate) use connect::ServerFacts;
pub(crate) use pool::{Pool, Pooled};
pub(crate) use quoting::quote;

use append::expand_uid_set;
use quoting::status_error;
use stream::Stream;

type Res<T> = std::result::Result<T, ImapError>;

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

/// What one response means for the command in flight.
enum Step {
    Done(Done),
    Fail(ImapError),
    Bye(ImapError),
    Continue,
    More,
}

impl Connection {
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
                            return Step::Fail(status_error(status, outcome));
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
                    } => Step::Bye(status_error(&ProtoStatus::Bye, outcome)),
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
}

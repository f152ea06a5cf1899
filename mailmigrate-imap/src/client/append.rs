//! Storing messages: `APPEND` with a synchronizing literal, pipelined LITERAL+ appends,
//! MULTIAPPEND, and their outcomes.

use std::time::Duration;

use async_imap::imap_proto::{RequestId, Response, ResponseCode, Status as ProtoStatus};
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::quoting::{quote_mailbox, status_error};
use super::{Connection, Res};
use crate::error::ImapError;

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

impl Connection {
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
                            Err(status_error(status, outcome))
                        };
                        Some(Ok((tag.clone(), res)))
                    }
                    Response::Data {
                        status: ProtoStatus::Bye,
                        outcome,
                    } => Some(Err(status_error(&ProtoStatus::Bye, outcome))),
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
pub(super) fn expand_uid_set(set: &[async_imap::imap_proto::rfc4315::UidSetMember]) -> Vec<u32> {
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

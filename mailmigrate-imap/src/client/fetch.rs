//! Reading the selected mailbox: `UID FETCH` (sizes, flags and dates, bodies one at a time,
//! changes since a mod-sequence) and `UID SEARCH`.

use async_imap::imap_proto::{MailboxDatum, RequestId, Response, Status as ProtoStatus};

use super::quoting::status_error;
use super::{Connection, Res};
use crate::error::{ImapError, Status};
use crate::model::{FetchedMessage, IndexedMessage};

impl Connection {
    /// `UID FETCH from:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])`: the UID,
    /// size and `Message-ID` (read as [`mailmigrate_core::headers::message_id`] reads it) of every message
    /// from `from` up. A server answers `n:*` with the highest message even when its UID is
    /// below `n`.
    pub(crate) async fn uid_index(&mut self, from: u32) -> Res<Vec<IndexedMessage>> {
        let mut out = Vec::new();
        let cmd =
            format!("UID FETCH {from}:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])");
        self.run(&cmd, |r| {
            if let Response::Fetch(_, attrs) = r {
                out.extend(IndexedMessage::from_attrs(attrs));
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
                        Some(status_error(status, outcome))
                    })),
                    Response::Data {
                        status: ProtoStatus::Bye,
                        outcome,
                    } => Some(Err(Some(status_error(&ProtoStatus::Bye, outcome)))),
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
}

//! [`Source`] for [`Imap`]: change listing by UID windows and batched `BODY.PEEK[]` fetches.

use std::collections::{HashMap, VecDeque};

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use mailmigrate_core::{
    Change, Checkpoint, Error, ErrorKind, Folder, FolderId, ItemResult, MessageId, MessageMeta,
    Operation, Provider, ProviderInfo, RawMessage, Result, Source,
};

use async_imap::imap_proto::RequestId;

use crate::backend::{map, Imap};
use crate::client::Pooled;
use crate::error::PROVIDER;
use crate::model::{message_id, parse_message_id, uid_set, FetchedMessage, Position};

/// Messages listed per FETCH when the UID space is dense.
const LIST_BATCH: u32 = 1000;

#[async_trait]
impl Provider for Imap {
    fn info(&self) -> &ProviderInfo {
        &self.inner.info
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        self.list_folders_impl().await
    }

    async fn message_counts(&self, folders: &[FolderId]) -> Option<Vec<Result<u64>>> {
        Some(match self.status_counts(folders).await {
            Ok(counts) => counts,
            // No connection: every folder fails with the reason.
            Err(e) => folders
                .iter()
                .map(|f| {
                    Err(Error::new(e.kind(), e.message())
                        .with_provider(crate::SCHEME)
                        .with_operation(e.operation())
                        .with_context("folder", f))
                })
                .collect(),
        })
    }
}

#[async_trait]
impl Source for Imap {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let lister = Lister {
            imap: self.clone(),
            folder: folder.clone(),
            since,
            state: ListState::Start,
            buf: VecDeque::new(),
        };
        stream::unfold(lister, |mut l| async move {
            let item = l.next().await?;
            Some((item, l))
        })
        .boxed()
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let fetcher = Fetcher {
            imap: self.clone(),
            folder: folder.clone(),
            pending: ids.into(),
            buf: VecDeque::new(),
            active: None,
        };
        stream::unfold(fetcher, |mut f| async move {
            let item = f.next().await?;
            Some((item, f))
        })
        .boxed()
    }
}

enum ListState {
    Start,
    Windows {
        next: u32,
        end: u32,
        width: u32,
        changed_since: Option<u64>,
        position: Position,
    },
    Final(Position),
    Done,
}

/// Walks a folder in UID windows whose width adapts so each FETCH returns about
/// [`LIST_BATCH`] messages: memory stays bounded and sparse UID spaces take few round trips.
struct Lister {
    imap: Imap,
    folder: FolderId,
    since: Option<Checkpoint>,
    state: ListState,
    buf: VecDeque<Result<Change>>,
}

impl Lister {
    async fn next(&mut self) -> Option<Result<Change>> {
        loop {
            if let Some(item) = self.buf.pop_front() {
                return Some(item);
            }
            match std::mem::replace(&mut self.state, ListState::Done) {
                ListState::Done => return None,
                ListState::Final(p) => return Some(Ok(Change::Checkpoint(p.to_checkpoint()))),
                ListState::Start => {
                    if let Err(e) = self.start().await {
                        return Some(Err(e.with_context("folder", &self.folder)));
                    }
                }
                ListState::Windows {
                    next,
                    end,
                    width,
                    changed_since,
                    position,
                } => {
                    if let Err(e) = self.window(next, end, width, changed_since, position).await {
                        return Some(Err(e.with_context("folder", &self.folder)));
                    }
                }
            }
        }
    }

    async fn start(&mut self) -> Result<()> {
        let op = Operation::ListChanges;
        let mut c = self.imap.conn(op).await?;
        let info = c
            .select(self.folder.as_str(), false)
            .await
            .map_err(|e| e.into_select_error(op))?;
        drop(c);
        let position = Position {
            uidvalidity: info.uidvalidity,
            uidnext: info.uidnext.unwrap_or(u32::MAX),
            modseq: info.highestmodseq.unwrap_or(0),
        };
        let old = self.since.as_ref().map(Position::from_checkpoint);
        let mut changed_since = None;
        match old {
            None => {}
            Some(None) => self.buf.push_back(Ok(Change::Reset)),
            Some(Some(old)) if old.uidvalidity != position.uidvalidity => {
                self.buf.push_back(Ok(Change::Reset));
            }
            Some(Some(old)) if old.modseq > 0 && position.modseq > 0 => {
                if old.modseq == position.modseq && old.uidnext == position.uidnext {
                    self.state = ListState::Final(position);
                    return Ok(());
                }
                changed_since = Some(old.modseq);
            }
            // Without CONDSTORE flag changes are invisible: list everything again.
            Some(Some(_)) => {}
        }
        self.state = if position.uidnext <= 1 || info.exists == 0 {
            ListState::Final(position)
        } else {
            ListState::Windows {
                next: 1,
                end: position.uidnext,
                width: if changed_since.is_some() {
                    LIST_BATCH * 16
                } else {
                    LIST_BATCH
                },
                changed_since,
                position,
            }
        };
        Ok(())
    }

    async fn window(
        &mut self,
        next: u32,
        end: u32,
        width: u32,
        changed_since: Option<u64>,
        position: Position,
    ) -> Result<()> {
        let op = Operation::ListChanges;
        let last = next.saturating_add(width - 1).min(end - 1);
        let set = if end == u32::MAX {
            format!("{next}:*")
        } else {
            format!("{next}:{last}")
        };
        let mut c = self.imap.conn(op).await?;
        let uv = c
            .ensure_selected(self.folder.as_str(), false)
            .await
            .map_err(|e| e.into_select_error(op))?;
        if uv != position.uidvalidity {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "UIDVALIDITY changed during the listing",
            )
            .with_provider(PROVIDER)
            .with_operation(op)
            .temporary());
        }
        let (found, vanished) = match changed_since {
            Some(m) => c.uid_fetch_changes(&set, m).await.map_err(map(op))?,
            None => (c.uid_fetch(&set, false).await.map_err(map(op))?, Vec::new()),
        };
        drop(c);
        let mut n = found.len() as u32;
        for range in vanished {
            let lo = (*range.start()).max(next);
            let hi = if end == u32::MAX {
                *range.end()
            } else {
                (*range.end()).min(last)
            };
            for uid in lo..=hi {
                n = n.saturating_add(1);
                self.buf
                    .push_back(Ok(Change::Removed(message_id(position.uidvalidity, uid))));
            }
        }
        for m in found {
            if m.uid < next || (end != u32::MAX && m.uid > last) {
                continue;
            }
            self.buf
                .push_back(Ok(Change::Upsert(self.meta(&m, position.uidvalidity))));
        }
        let new_width = if n < LIST_BATCH / 4 {
            width.saturating_mul(2)
        } else if n > LIST_BATCH * 2 {
            (width / 2).max(LIST_BATCH)
        } else {
            width
        };
        self.state = if end == u32::MAX || last >= end - 1 {
            ListState::Final(position)
        } else {
            ListState::Windows {
                next: last + 1,
                end,
                width: new_width,
                changed_since,
                position,
            }
        };
        Ok(())
    }

    fn meta(&self, m: &FetchedMessage, uidvalidity: u32) -> MessageMeta {
        let mut meta = MessageMeta::new(message_id(uidvalidity, m.uid), self.folder.clone())
            .with_flags(m.flags.clone())
            .with_internal_date(m.internal_date);
        if let Some(s) = m.size {
            meta = meta.with_size(u64::from(s));
        }
        if let Some(l) = &m.labels {
            meta = meta.with_labels(l.clone());
        }
        meta
    }
}

/// Fetches bodies in batches of the configured size. Each batch is one `UID FETCH` whose
/// messages are handed out as they arrive, so memory holds one message at a time; the
/// connection goes back to the pool when the batch completes.
struct Fetcher {
    imap: Imap,
    folder: FolderId,
    pending: VecDeque<MessageId>,
    buf: VecDeque<ItemResult<RawMessage>>,
    active: Option<ActiveFetch>,
}

/// A `UID FETCH` in flight.
struct ActiveFetch {
    conn: Pooled,
    tag: RequestId,
    uidvalidity: u32,
    wanted: HashMap<u32, MessageId>,
}

fn item_error(kind: ErrorKind, msg: &str, folder: &FolderId, id: &MessageId) -> Error {
    Error::new(kind, msg)
        .with_provider(PROVIDER)
        .with_operation(Operation::Fetch)
        .with_item(folder, id)
}

/// A copy of `e` for another item of the same failed batch.
fn replicate(e: &Error, folder: &FolderId, id: &MessageId) -> Error {
    let copy = item_error(e.kind(), e.message(), folder, id);
    if e.is_temporary() {
        copy.temporary()
    } else {
        copy
    }
}

impl Fetcher {
    async fn next(&mut self) -> Option<ItemResult<RawMessage>> {
        loop {
            if self.active.is_none() || !self.imap.inner.single_connection {
                if let Some(item) = self.buf.pop_front() {
                    return Some(item);
                }
            }
            if let Some(active) = self.active.as_mut() {
                match active.conn.next_fetched(&active.tag).await {
                    Ok(Some(m)) if self.imap.inner.single_connection => {
                        // Buffer the batch: the only connection must be free again before
                        // the caller, who may be writing through this backend, gets an item.
                        if let (Some(body), Some(id)) =
                            (m.body.clone(), active.wanted.remove(&m.uid))
                        {
                            let meta = MessageMeta::new(
                                message_id(active.uidvalidity, m.uid),
                                self.folder.clone(),
                            )
                            .with_flags(m.flags)
                            .with_labels(m.labels.unwrap_or_default())
                            .with_internal_date(m.internal_date);
                            self.buf.push_back((id, Ok(RawMessage::new(meta, body))));
                        }
                        continue;
                    }
                    Ok(Some(m)) => {
                        // A FETCH without a body is an unsolicited flag update: not ours.
                        let Some(body) = m.body.clone() else {
                            continue;
                        };
                        let Some(id) = active.wanted.remove(&m.uid) else {
                            continue;
                        };
                        let meta = MessageMeta::new(
                            message_id(active.uidvalidity, m.uid),
                            self.folder.clone(),
                        )
                        .with_flags(m.flags)
                        .with_labels(m.labels.unwrap_or_default())
                        .with_internal_date(m.internal_date);
                        return Some((id, Ok(RawMessage::new(meta, body))));
                    }
                    Ok(None) => {
                        let done = self.active.take().expect("active fetch");
                        for (_, id) in done.wanted {
                            let e = item_error(
                                ErrorKind::NotFound,
                                "no such message (expunged, or UIDVALIDITY changed)",
                                &self.folder,
                                &id,
                            );
                            self.buf.push_back((id, Err(e)));
                        }
                    }
                    Err(e) => {
                        let done = self.active.take().expect("active fetch");
                        let e = e
                            .into_error(Operation::Fetch)
                            .with_context("folder", &self.folder);
                        for (_, id) in done.wanted {
                            let err = replicate(&e, &self.folder, &id);
                            self.buf.push_back((id, Err(err)));
                        }
                    }
                }
                continue;
            }
            if self.pending.is_empty() {
                return None;
            }
            let n = self.imap.inner.fetch_batch.min(self.pending.len());
            let batch: Vec<MessageId> = self.pending.drain(..n).collect();
            self.start_batch(batch).await;
        }
    }

    async fn start_batch(&mut self, batch: Vec<MessageId>) {
        let op = Operation::Fetch;
        let mut wanted: HashMap<u32, (u32, MessageId)> = HashMap::new();
        for id in batch {
            match parse_message_id(&id) {
                Some((uv, uid)) => {
                    wanted.insert(uid, (uv, id));
                }
                None => {
                    let e = item_error(
                        ErrorKind::NotFound,
                        "not an IMAP message id",
                        &self.folder,
                        &id,
                    );
                    self.buf.push_back((id, Err(e)));
                }
            }
        }
        if wanted.is_empty() {
            return;
        }
        let started: Result<Option<ActiveFetch>> = async {
            let mut c = self.imap.conn(op).await?;
            let uv = c
                .ensure_selected(self.folder.as_str(), false)
                .await
                .map_err(|e| e.into_select_error(op))?;
            let mut current = HashMap::new();
            for (uid, (v, id)) in wanted.drain() {
                if v == uv {
                    current.insert(uid, id);
                } else {
                    let e = item_error(
                        ErrorKind::NotFound,
                        "UIDVALIDITY changed: the id is void",
                        &self.folder,
                        &id,
                    );
                    self.buf.push_back((id, Err(e)));
                }
            }
            if current.is_empty() {
                return Ok(None);
            }
            let uids: Vec<u32> = current.keys().copied().collect();
            let tag = c.start_body_fetch(&uid_set(&uids)).await.map_err(map(op));
            match tag {
                Ok(tag) => Ok(Some(ActiveFetch {
                    conn: c,
                    tag,
                    uidvalidity: uv,
                    wanted: current,
                })),
                Err(e) => {
                    for (_, id) in current {
                        let err = replicate(&e, &self.folder, &id);
                        self.buf.push_back((id, Err(err)));
                    }
                    Ok(None)
                }
            }
        }
        .await;
        match started {
            Ok(active) => self.active = active,
            Err(e) => {
                let e = e.with_context("folder", &self.folder);
                for (_, (_, id)) in wanted {
                    let err = replicate(&e, &self.folder, &id);
                    self.buf.push_back((id, Err(err)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicated_errors_keep_kind_and_retry_and_name_the_item() {
        let f = FolderId::new("INBOX");
        let e = Error::new(ErrorKind::Unavailable, "connection closed").temporary();
        let c = replicate(&e, &f, &MessageId::new("1:2"));
        assert_eq!(c.kind(), ErrorKind::Unavailable);
        assert!(c.is_temporary());
        assert_eq!(c.context("message"), Some("1:2"));
        assert_eq!(c.context("folder"), Some("INBOX"));
    }
}

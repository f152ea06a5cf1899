//! [`Destination`] for [`Imap`]: CREATE/SUBSCRIBE, APPEND with APPENDUID, STORE, dedupe
//! lookups and UID EXPUNGE.

use std::collections::VecDeque;

use async_trait::async_trait;
use mailmigrate_core::{
    Appended, DedupeKey, Destination, EnsuredFolder, Error, ErrorKind, ExistingCopy, FlagChange,
    FolderId, FolderPath, MessageId, Operation, RawMessage, Result, SpecialUse,
};

use crate::backend::{map, Imap};
use crate::client::{AppendItem, AppendOutcome, Connection, MultiOutcome, Pooled, MULTIAPPEND_MAX};
use crate::error::ImapError;
use crate::error::PROVIDER;
use crate::lookup;
use crate::model::{
    flags_to_wire, format_internal_date, labels_to_wire, message_id, parse_message_id, uid_set,
};

fn error(kind: ErrorKind, op: Operation, msg: &str) -> Error {
    Error::new(kind, msg)
        .with_provider(PROVIDER)
        .with_operation(op)
}

#[async_trait]
impl Destination for Imap {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        let op = Operation::EnsureFolder;
        let id = self.mailbox_name(path)?;
        let mut c = self.conn(op).await?;
        if path.is_inbox() || exists(&mut c, id.as_str()).await.map_err(map(op))? {
            // EXAMINE tells whether it holds mail: an empty folder needs no look-ups before
            // each write.
            let info = c
                .select(id.as_str(), false)
                .await
                .map_err(|e| e.into_select_error(op).with_context("folder", path))?;
            return Ok(EnsuredFolder::new(id, false).with_empty(info.exists == 0));
        }
        // Parents first, so every level is a real, subscribed folder.
        let segs = path.segments();
        for n in 1..segs.len() {
            let parent = FolderPath::new(segs[..n].iter().cloned())?;
            if parent.is_inbox() {
                continue;
            }
            let pid = self.mailbox_name(&parent)?;
            if !exists(&mut c, pid.as_str()).await.map_err(map(op))? {
                match c.create(pid.as_str(), None).await {
                    Ok(()) => {
                        let _ = c.subscribe(pid.as_str()).await;
                    }
                    Err(e) => {
                        let e = e.into_error(op);
                        if e.kind() != ErrorKind::AlreadyExists
                            && !exists_after_refusal(&mut c, pid.as_str()).await
                        {
                            return Err(e.with_context("folder", &parent));
                        }
                    }
                }
            }
        }
        let attr = role
            .and_then(SpecialUse::attribute)
            .filter(|_| self.inner.facts.has("CREATE-SPECIAL-USE"));
        let mut created = c.create(id.as_str(), attr).await;
        if created.is_err() && attr.is_some() && c.is_usable() {
            // The role may be taken already; the folder itself still matters.
            created = c.create(id.as_str(), None).await;
        }
        let created = match created {
            Ok(()) => true,
            Err(e) => {
                let e = e.into_error(op);
                if e.kind() != ErrorKind::AlreadyExists
                    && !exists_after_refusal(&mut c, id.as_str()).await
                {
                    return Err(e.with_context("folder", path));
                }
                false
            }
        };
        c.subscribe(id.as_str())
            .await
            .map_err(|e| e.into_error(op).with_context("folder", path))?;
        Ok(EnsuredFolder::new(id, created))
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let op = Operation::Append;
        // IMAP requires CRLF line endings; the capabilities say so, and the engine hashes
        // the same canonical form.
        let messages: Vec<RawMessage> = messages
            .into_iter()
            .map(|mut m| {
                m.bytes = mailmigrate_core::headers::canonical_crlf(&m.bytes);
                m
            })
            .collect();
        let mut c = self.conn(op).await?;
        // Appending into the selected folder is much cheaper for the server.
        c.ensure_selected(folder.as_str(), true)
            .await
            .map_err(|e| e.into_select_error(op).with_context("folder", folder))?;
        let max = self.inner.info.capabilities.append_max_size;
        let mut out: Vec<Option<Result<Appended>>> = messages.iter().map(|_| None).collect();
        let mut todo = Vec::with_capacity(messages.len());
        for (i, msg) in messages.iter().enumerate() {
            // memchr: the vectorised search (the slice's own `contains` was 2.5 % of the
            // client's CPU on the benchmark corpus).
            if memchr::memchr(0, &msg.bytes).is_some() {
                // RFC 3501 §4.3: a literal carries no NUL. Servers refuse it (Cyrus) or
                // replace the byte silently (Dovecot); refusing here keeps bytes sacred.
                out[i] = Some(Err(error(
                    ErrorKind::InvalidMessage,
                    op,
                    "contains a NUL byte, which IMAP cannot carry",
                )
                .with_item(folder, &msg.meta.id)));
            } else if max.is_some_and(|m| msg.bytes.len() as u64 > m) {
                out[i] = Some(Err(error(
                    ErrorKind::MessageTooLarge,
                    op,
                    "larger than the server's APPENDLIMIT",
                )
                .with_item(folder, &msg.meta.id)));
            } else {
                todo.push(i);
            }
        }
        if self.inner.facts.has("LITERAL+") && self.inner.facts.has("MULTIAPPEND") {
            self.append_multi(folder, &messages, todo, c, &mut out)
                .await;
        } else if self.inner.facts.has("LITERAL+") {
            self.append_pipelined(folder, &messages, todo, c, &mut out)
                .await;
        } else {
            self.append_one_by_one(folder, &messages, todo, c, &mut out)
                .await;
        }
        Ok(out
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| Err(error(ErrorKind::Unexpected, op, "no outcome recorded")))
            })
            .collect())
    }

    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        let op = Operation::UpdateFlags;
        let not_found = || error(ErrorKind::NotFound, op, "no such message").with_item(folder, id);
        let (uv, uid) = parse_message_id(id).ok_or_else(not_found)?;
        let mut c = self.conn(op).await?;
        let current = c
            .ensure_selected(folder.as_str(), true)
            .await
            .map_err(|e| e.into_select_error(op).with_item(folder, id))?;
        if current != uv {
            return Err(not_found());
        }
        let failed = |e: ImapError| e.into_error(op).with_item(folder, id);
        let wires: Vec<(char, String)> = [('+', &change.add), ('-', &change.remove)]
            .into_iter()
            .map(|(sign, flags)| (sign, flags_to_wire(flags)))
            .filter(|(_, wire)| !wire.is_empty())
            .collect();
        let stores: Vec<(char, &str)> = wires.iter().map(|(s, w)| (*s, w.as_str())).collect();
        // The existence check and the STOREs in one round trip.
        if !c.uid_store_if_exists(uid, &stores).await.map_err(failed)? {
            return Err(not_found());
        }
        Ok(())
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        // One way to look up: a single key is a batch of one.
        let mut found = self
            .find_existing_many(folder, std::slice::from_ref(key))
            .await?;
        Ok(found.pop().unwrap_or_default())
    }

    async fn find_existing_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        let (mut c, uidvalidity) = self.lookup_connection(folder).await?;
        let index = &self.inner.lookup_index;
        lookup::find_many(
            &mut c,
            index,
            folder,
            uidvalidity,
            keys,
            self.inner.fetch_batch,
        )
        .await
        .map_err(|e| {
            e.into_error(Operation::FindExisting)
                .with_context("folder", folder)
        })
    }

    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        let op = Operation::Delete;
        if !self.inner.facts.has("UIDPLUS") {
            return Err(error(
                ErrorKind::Unsupported,
                op,
                "deleting single messages needs UIDPLUS (UID EXPUNGE)",
            ));
        }
        let mut c = self.conn(op).await?;
        let uv = c
            .ensure_selected(folder.as_str(), true)
            .await
            .map_err(|e| e.into_select_error(op).with_context("folder", folder))?;
        let uids: Vec<u32> = ids
            .iter()
            .filter_map(parse_message_id)
            .filter(|(v, _)| *v == uv)
            .map(|(_, u)| u)
            .collect();
        if uids.is_empty() {
            return Ok(());
        }
        self.inner.lookup_index.remove(folder.as_str(), &uids);
        c.uid_delete(&uid_set(&uids))
            .await
            .map_err(|e| e.into_error(op).with_context("folder", folder))
    }
}

impl Imap {
    /// A connection with `folder` selected for a look-up, and its UIDVALIDITY. A look-up
    /// must see what other connections appended: refreshed, not just selected.
    async fn lookup_connection(&self, folder: &FolderId) -> Result<(Pooled, u32)> {
        let op = Operation::FindExisting;
        let mut c = self.conn(op).await?;
        let uidvalidity = c
            .refresh_selected(folder.as_str(), false)
            .await
            .map_err(|e| e.into_select_error(op).with_context("folder", folder))?;
        Ok((c, uidvalidity))
    }
}

/// Whether a mailbox whose CREATE was refused exists after all: another connection (a
/// concurrent folder pass creating the same parent) won the race, and not every server
/// says so with `[ALREADYEXISTS]` (Cyrus answers a bare `NO Mailbox already exists`).
/// Cyrus reserves the name while the winner's CREATE runs, so the loser may be refused
/// before `LIST` shows the mailbox: it looks a few times, a little later each time.
async fn exists_after_refusal(c: &mut Connection, name: &str) -> bool {
    for wait_ms in [0, 50, 150, 400] {
        if wait_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
        }
        if !c.is_usable() {
            return false;
        }
        if exists(c, name).await.unwrap_or(false) {
            return true;
        }
    }
    false
}

/// Whether `name` exists as a selectable mailbox.
async fn exists(c: &mut Connection, name: &str) -> std::result::Result<bool, ImapError> {
    let found = c.list(false, name).await?;
    Ok(found.iter().any(|l| l.name == name && !l.is_noselect()))
}

fn not_sent(folder: &FolderId, id: &MessageId) -> Error {
    error(
        ErrorKind::Unavailable,
        Operation::Append,
        "not sent: the connection failed earlier in the batch",
    )
    .with_item(folder, id)
    .temporary()
}

/// Messages APPENDed per connection before waiting for the first answer.
const PIPELINE_WINDOW: usize = 8;

impl Imap {
    /// Opens one fresh connection with `folder` selected, for the rest of a batch.
    async fn reopen(&self, folder: &FolderId) -> Option<Pooled> {
        let mut fresh = self.conn(Operation::Append).await.ok()?;
        fresh
            .ensure_selected(folder.as_str(), true)
            .await
            .ok()
            .map(|_| fresh)
    }

    /// LITERAL+ path: pipelined APPENDs, one retry of the unsent rest on a fresh connection.
    async fn append_pipelined(
        &self,
        folder: &FolderId,
        messages: &[RawMessage],
        mut pending: Vec<usize>,
        first: Pooled,
        out: &mut [Option<Result<Appended>>],
    ) {
        let mut conn = Some(first);
        let mut reopened = false;
        while !pending.is_empty() {
            let Some(c) = conn.as_mut() else {
                for i in pending {
                    out[i] = Some(Err(not_sent(folder, &messages[i].meta.id)));
                }
                return;
            };
            let items = append_items(messages, &pending);
            let outcomes = c
                .append_pipelined(folder.as_str(), &items, PIPELINE_WINDOW)
                .await;
            pending = self
                .record(c, folder, messages, &pending, outcomes, out)
                .await;
            if !pending.is_empty() {
                conn = None;
                if !reopened {
                    reopened = true;
                    conn = self.reopen(folder).await;
                }
            }
        }
    }

    /// Records pipelined outcomes for `group`, sets labels, and returns the unsent indexes.
    async fn record(
        &self,
        c: &mut Connection,
        folder: &FolderId,
        messages: &[RawMessage],
        group: &[usize],
        outcomes: Vec<AppendOutcome>,
        out: &mut [Option<Result<Appended>>],
    ) -> Vec<usize> {
        let op = Operation::Append;
        let mut unsent = Vec::new();
        let mut to_label = Vec::new();
        for (k, o) in outcomes.into_iter().enumerate() {
            let i = group[k];
            let id = &messages[i].meta.id;
            out[i] = Some(match o {
                AppendOutcome::Stored(uid) => {
                    if let Some((_, u)) = uid {
                        to_label.push((i, u));
                    }
                    Ok(Appended::new(uid.map(|(uv, uid)| message_id(uv, uid))))
                }
                AppendOutcome::Failed(e) => Err(e.into_error(op).with_item(folder, id)),
                AppendOutcome::Unknown(e) => Err(e.into_lost_error(op).with_item(folder, id)),
                AppendOutcome::NotSent => {
                    unsent.push(i);
                    continue;
                }
            });
        }
        if c.is_usable() {
            for (i, uid) in to_label {
                self.apply_labels(c, folder, &messages[i], uid).await;
            }
        }
        unsent
    }

    /// MULTIAPPEND path (with LITERAL+): each group of messages is one command and one server
    /// transaction. A group the server refuses is re-sent as single pipelined APPENDs, so
    /// the one bad message fails alone; a group cut off before it was complete is re-sent
    /// once over a fresh connection; a group whose answer was lost is unknown as a whole.
    async fn append_multi(
        &self,
        folder: &FolderId,
        messages: &[RawMessage],
        pending: Vec<usize>,
        first: Pooled,
        out: &mut [Option<Result<Appended>>],
    ) {
        let mut conn = Some(first);
        let mut reopened = false;
        let mut groups: VecDeque<Vec<usize>> = multiappend_groups(messages, &pending).into();
        while let Some(group) = groups.pop_front() {
            let Some(c) = conn.as_mut() else {
                for i in group {
                    out[i] = Some(Err(not_sent(folder, &messages[i].meta.id)));
                }
                continue;
            };
            let items = append_items(messages, &group);
            match c.multiappend(folder.as_str(), &items).await {
                MultiOutcome::Stored(uids) => {
                    self.record_group(c, folder, messages, &group, uids, out)
                        .await;
                }
                MultiOutcome::Refused(e) => {
                    // Nothing stored: isolate the culprit.
                    tracing::debug!(folder = %folder, error = %e, "MULTIAPPEND refused; appending one by one");
                    let outcomes = c
                        .append_pipelined(folder.as_str(), &items, PIPELINE_WINDOW)
                        .await;
                    for i in self
                        .record(c, folder, messages, &group, outcomes, out)
                        .await
                    {
                        out[i] = Some(Err(not_sent(folder, &messages[i].meta.id)));
                    }
                }
                MultiOutcome::NotSent(e) => {
                    tracing::debug!(folder = %folder, error = %e, "MULTIAPPEND cut off before its end; sending it again");
                    groups.push_front(group);
                }
                MultiOutcome::Unknown(e) => {
                    // Atomic, but the answer was lost: stored all or nothing, unknown which.
                    for &i in &group {
                        let id = &messages[i].meta.id;
                        out[i] = Some(Err(e
                            .clone()
                            .into_lost_error(Operation::Append)
                            .with_item(folder, id)));
                    }
                }
            }
            if !c.is_usable() {
                conn = None;
                if !reopened {
                    reopened = true;
                    conn = self.reopen(folder).await;
                }
            }
        }
    }

    /// Records a stored MULTIAPPEND group, with its UIDs when the server sent them.
    async fn record_group(
        &self,
        c: &mut Connection,
        folder: &FolderId,
        messages: &[RawMessage],
        group: &[usize],
        uids: Option<(u32, Vec<u32>)>,
        out: &mut [Option<Result<Appended>>],
    ) {
        for (k, &i) in group.iter().enumerate() {
            let uid = uids.as_ref().map(|(uv, u)| (*uv, u[k]));
            if let Some((_, u)) = uid {
                self.apply_labels(c, folder, &messages[i], u).await;
            }
            out[i] = Some(Ok(Appended::new(uid.map(|(uv, uid)| message_id(uv, uid)))));
        }
    }

    /// Gives a stored message its Gmail labels (X-GM-EXT-1). The message is stored either
    /// way, so a failure here is logged, not reported as a failed append (which would make
    /// the engine send it again).
    async fn apply_labels(
        &self,
        c: &mut Connection,
        folder: &FolderId,
        msg: &RawMessage,
        uid: u32,
    ) {
        if msg.meta.labels.is_empty() || !self.inner.facts.has("X-GM-EXT-1") {
            return;
        }
        let wire = labels_to_wire(&msg.meta.labels);
        if wire.is_empty() {
            return;
        }
        if let Err(e) = c.uid_add_labels(uid, &wire).await {
            tracing::warn!(folder = %folder, uid, error = %e, "could not set Gmail labels");
        }
    }

    /// Synchronizing-literal path for servers without LITERAL+: one APPEND at a time. A
    /// message the connection failed to send goes again, with the rest, over one fresh
    /// connection.
    async fn append_one_by_one(
        &self,
        folder: &FolderId,
        messages: &[RawMessage],
        todo: Vec<usize>,
        first: Pooled,
        out: &mut [Option<Result<Appended>>],
    ) {
        let mut conn = Some(first);
        let mut reopened = false;
        let mut queue: VecDeque<usize> = todo.into();
        while let Some(i) = queue.pop_front() {
            let Some(c) = conn.as_mut() else {
                out[i] = Some(Err(not_sent(folder, &messages[i].meta.id)));
                continue;
            };
            let items = append_items(messages, &[i]);
            let outcome = c.append(folder.as_str(), &items[0]).await;
            let unsent = self
                .record(c, folder, messages, &[i], vec![outcome], out)
                .await;
            for u in unsent.into_iter().rev() {
                queue.push_front(u);
            }
            if !c.is_usable() {
                // One fresh connection for the rest of the batch; no retry loop.
                conn = None;
                if !reopened {
                    reopened = true;
                    conn = self.reopen(folder).await;
                }
            }
        }
    }
}

/// The wire form of the messages at `indexes`.
fn append_items<'a>(messages: &'a [RawMessage], indexes: &[usize]) -> Vec<AppendItem<'a>> {
    indexes
        .iter()
        .map(|&i| AppendItem {
            flags: flags_to_wire(&messages[i].meta.flags),
            date: messages[i]
                .meta
                .internal_date
                .and_then(format_internal_date),
            bytes: &messages[i].bytes,
        })
        .collect()
}

/// The most bytes one MULTIAPPEND carries (a single larger message goes alone).
const MULTIAPPEND_MAX_BYTES: usize = 16 * 1024 * 1024;

/// Splits `pending` into MULTIAPPEND groups bounded by count and bytes, in order.
fn multiappend_groups(messages: &[RawMessage], pending: &[usize]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0;
    for &i in pending {
        let size = messages[i].bytes.len();
        let full = groups
            .last()
            .is_none_or(|g| g.len() >= MULTIAPPEND_MAX || bytes + size > MULTIAPPEND_MAX_BYTES);
        if full {
            groups.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        if let Some(g) = groups.last_mut() {
            g.push(i);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use mailmigrate_core::MessageMeta;

    fn msg(len: usize) -> RawMessage {
        RawMessage::new(
            MessageMeta::new(MessageId::new("x"), FolderId::new("f")),
            Bytes::from(vec![b'a'; len]),
        )
    }

    #[test]
    fn multiappend_groups_respect_count_and_bytes() {
        let mut messages: Vec<RawMessage> = (0..MULTIAPPEND_MAX + 3).map(|_| msg(10)).collect();
        messages.push(msg(MULTIAPPEND_MAX_BYTES));
        messages.push(msg(5));
        let pending: Vec<usize> = (0..messages.len()).collect();
        let groups = multiappend_groups(&messages, &pending);
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, [MULTIAPPEND_MAX, 3, 1, 1]);
        assert_eq!(groups.concat(), pending, "order is kept");
    }
}

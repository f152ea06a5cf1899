//! An in-memory mailbox implementing both [`Source`] and [`Destination`], with full
//! incremental listing. For tests, examples and benchmarks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

use crate::{
    Appended, Capabilities, Change, Checkpoint, ContentHash, DedupeKey, Destination, EnsuredFolder,
    Error, ErrorKind, ExistingCopy, Flag, FlagChange, Flags, Folder, FolderId, FolderPath,
    ItemResult, MessageId, Operation, Provider, ProviderInfo, RawMessage, Result, Source,
    SpecialUse,
};

/// The scheme of [`MemoryStore`].
pub(crate) const SCHEME: &str = "memory";

#[derive(Debug, Clone)]
struct Stored {
    msg: RawMessage,
    hash: ContentHash,
    modseq: u64,
}

#[derive(Debug, Default)]
struct MemFolder {
    folder: Option<Folder>,
    messages: BTreeMap<u64, Stored>,
    /// uid → modseq at which it was removed.
    removed: BTreeMap<u64, u64>,
}

#[derive(Debug, Default)]
struct Inner {
    folders: BTreeMap<FolderId, MemFolder>,
    next_uid: u64,
    modseq: u64,
}

/// A mailbox held in memory. Cloning shares the same mailbox.
///
/// Message ids are decimal UIDs, unique across the store; checkpoints are modification
/// sequence numbers, so a no-change pass lists nothing.
///
/// ```
/// use mailmigrate_core::store::MemoryStore;
/// use mailmigrate_core::{Destination, FolderPath, MessageId, MessageMeta, RawMessage};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new("demo");
/// let inbox = store.ensure_folder(&FolderPath::inbox(), None).await.unwrap().id;
/// let msg = RawMessage::new(
///     MessageMeta::new(MessageId::new("x"), inbox.clone()),
///     bytes::Bytes::from_static(b"Subject: hi\r\n\r\nbody"),
/// );
/// let out = store.append(&inbox, vec![msg]).await.unwrap();
/// assert!(out[0].as_ref().unwrap().id.is_some());
/// assert_eq!(store.message_count(), 1);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    info: Arc<ProviderInfo>,
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStore {
    /// An empty mailbox labelled `account`.
    pub fn new(account: impl Into<String>) -> Self {
        Self::with_capabilities(account, Self::capabilities())
    }

    /// An empty mailbox that declares other capabilities (to test how the engine adapts).
    ///
    /// The store behaves as declared: without `list_since` every listing is a full one,
    /// without `append_with_flags`/`append_with_keywords`/`append_with_internal_date`/
    /// `append_with_labels` that metadata is dropped at append, without `append_returns_id`
    /// append reports no id, and a switched-off operation returns `Unsupported`.
    pub fn with_capabilities(account: impl Into<String>, capabilities: Capabilities) -> Self {
        Self {
            info: Arc::new(ProviderInfo::new(SCHEME, account, capabilities)),
            inner: Arc::new(Mutex::new(Inner {
                next_uid: 1,
                ..Inner::default()
            })),
        }
    }

    /// The capabilities a memory store has: all of them.
    pub fn capabilities() -> Capabilities {
        Capabilities {
            list_folders: true,
            list_since: true,
            list_labels: false,
            list_removals: true,
            fetch: true,
            fetch_flags: true,
            append: true,
            append_with_flags: true,
            append_with_keywords: true,
            append_with_internal_date: true,
            append_with_labels: true,
            append_returns_id: true,
            update_flags: true,
            delete: true,
            find_existing: true,
            byte_exact: true,
            requires_crlf: false,
            replaces_8bit_header_bytes: false,
            append_max_size: None,
            append_batch_max: 256,
            fetch_batch_max: 256,
            max_concurrency: 0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The number of messages in all folders.
    pub fn message_count(&self) -> usize {
        self.lock().folders.values().map(|f| f.messages.len()).sum()
    }

    /// Sets the flags of a message directly, as a mail client would (bumps its modseq).
    ///
    /// # Errors
    /// `NotFound` if the folder or message does not exist.
    pub fn set_flags(&self, folder: &FolderId, id: &MessageId, flags: Flags) -> Result<()> {
        let mut g = self.lock();
        g.modseq += 1;
        let modseq = g.modseq;
        let stored = find_mut(&mut g, folder, id)?;
        stored.msg.meta.flags = flags;
        stored.modseq = modseq;
        Ok(())
    }

    /// The current flags of a message.
    ///
    /// # Errors
    /// `NotFound` if the folder or message does not exist.
    pub fn flags(&self, folder: &FolderId, id: &MessageId) -> Result<Flags> {
        let mut g = self.lock();
        Ok(find_mut(&mut g, folder, id)?.msg.meta.flags.clone())
    }

    /// Removes a message directly, as a mail client would.
    ///
    /// # Errors
    /// `NotFound` if the folder does not exist.
    pub fn expunge(&self, folder: &FolderId, id: &MessageId) -> Result<()> {
        let mut g = self.lock();
        g.modseq += 1;
        let modseq = g.modseq;
        let f = folder_mut(&mut g, folder)?;
        if let Some(uid) = parse_uid(id) {
            if f.messages.remove(&uid).is_some() {
                f.removed.insert(uid, modseq);
            }
        }
        Ok(())
    }

    /// Deletes a folder and its messages directly, as a user of the mailbox would. Its id
    /// is not reused: `ensure_folder` creates it anew.
    ///
    /// # Errors
    /// `NotFound` if the folder does not exist.
    pub fn remove_folder(&self, folder: &FolderId) -> Result<()> {
        let mut g = self.lock();
        folder_mut(&mut g, folder)?;
        g.folders.remove(folder);
        Ok(())
    }

    /// Every message in a folder, in arrival order (for assertions).
    ///
    /// # Errors
    /// `NotFound` if the folder does not exist.
    pub fn messages(&self, folder: &FolderId) -> Result<Vec<RawMessage>> {
        let mut g = self.lock();
        Ok(folder_mut(&mut g, folder)?
            .messages
            .values()
            .map(|s| s.msg.clone())
            .collect())
    }
}

fn unsupported(capability: &str, operation: Operation, folder: &FolderId) -> Error {
    Error::unsupported(format!("this store declares no {capability}"))
        .with_provider(SCHEME)
        .with_operation(operation)
        .with_context("folder", folder)
}

fn not_found(what: &str, folder: &FolderId) -> Error {
    Error::new(ErrorKind::NotFound, format!("no such {what}"))
        .with_provider(SCHEME)
        .with_context("folder", folder)
}

fn folder_mut<'a>(g: &'a mut Inner, folder: &FolderId) -> Result<&'a mut MemFolder> {
    g.folders
        .get_mut(folder)
        .filter(|f| f.folder.is_some())
        .ok_or_else(|| not_found("folder", folder))
}

fn parse_uid(id: &MessageId) -> Option<u64> {
    id.as_str().parse().ok()
}

fn find_mut<'a>(g: &'a mut Inner, folder: &FolderId, id: &MessageId) -> Result<&'a mut Stored> {
    let f = folder_mut(g, folder)?;
    parse_uid(id)
        .and_then(|uid| f.messages.get_mut(&uid))
        .ok_or_else(|| not_found("message", folder).with_context("message", id))
}

#[async_trait]
impl Provider for MemoryStore {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        if !self.info.capabilities.list_folders {
            return Err(Error::unsupported("this store declares no list_folders")
                .with_provider(SCHEME)
                .with_operation(Operation::ListFolders));
        }
        Ok(self
            .lock()
            .folders
            .values()
            .filter_map(|f| f.folder.clone())
            .collect())
    }
}

#[async_trait]
impl Source for MemoryStore {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let caps = self.info.capabilities;
        let since = since.filter(|_| caps.list_since);
        let result = (|| {
            let since = match &since {
                Some(cp) => Some(cp.as_str().parse::<u64>().map_err(|_| {
                    Error::new(ErrorKind::StateCorrupt, "checkpoint is not a modseq")
                        .with_provider(SCHEME)
                        .with_operation(Operation::ListChanges)
                        .with_context("folder", folder)
                })?),
                None => None,
            };
            let mut g = self.lock();
            let modseq = g.modseq;
            let f = folder_mut(&mut g, folder)?;
            let mut out: Vec<Result<Change>> = f
                .messages
                .values()
                .filter(|s| since.is_none_or(|m| s.modseq > m))
                .map(|s| Ok(Change::Upsert(s.msg.meta.clone())))
                .collect();
            if let Some(m) = since.filter(|_| caps.list_removals) {
                out.extend(
                    f.removed
                        .iter()
                        .filter(|(_, &at)| at > m)
                        .map(|(uid, _)| Ok(Change::Removed(MessageId::new(uid.to_string())))),
                );
            }
            out.push(Ok(Change::Checkpoint(Checkpoint::new(modseq.to_string()))));
            Ok(out)
        })();
        match result {
            Ok(items) => stream::iter(items).boxed(),
            Err(e) => stream::once(async move { Err(e) }).boxed(),
        }
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let fetch = self.info.capabilities.fetch;
        let mut g = self.lock();
        let out: Vec<ItemResult<RawMessage>> = ids
            .into_iter()
            .map(|id| {
                if !fetch {
                    let e =
                        unsupported("fetch", Operation::Fetch, folder).with_context("message", &id);
                    return (id, Err(e));
                }
                let r = find_mut(&mut g, folder, &id)
                    .map(|s| s.msg.clone())
                    .map_err(|e| e.with_operation(Operation::Fetch));
                (id, r)
            })
            .collect();
        stream::iter(out).boxed()
    }
}

#[async_trait]
impl Destination for MemoryStore {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        let id = FolderId::new(path.join("/"));
        let mut g = self.lock();
        if let Some(f) = g.folders.get(&id).filter(|f| f.folder.is_some()) {
            let empty = f.messages.is_empty();
            return Ok(EnsuredFolder::new(id, false).with_empty(empty));
        }
        // Parents first, as the contract asks; they get no role.
        let mut parent = path.parent();
        while let Some(p) = parent {
            let pid = FolderId::new(p.join("/"));
            let entry = g.folders.entry(pid.clone()).or_default();
            if entry.folder.is_none() {
                entry.folder = Some(Folder::new(pid, p.clone()));
            }
            parent = p.parent();
        }
        let role = role.or_else(|| path.is_inbox().then_some(SpecialUse::Inbox));
        g.folders.entry(id.clone()).or_default().folder =
            Some(Folder::new(id.clone(), path.clone()).with_role(role));
        Ok(EnsuredFolder::new(id, true))
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let caps = self.info.capabilities;
        let max = caps.append_max_size;
        let mut g = self.lock();
        folder_mut(&mut g, folder)?;
        let mut out = Vec::with_capacity(messages.len());
        for msg in messages {
            if let Some(max) = max.filter(|&m| msg.bytes.len() as u64 > m) {
                out.push(Err(Error::new(
                    ErrorKind::MessageTooLarge,
                    format!("{} bytes exceeds the limit of {max}", msg.bytes.len()),
                )
                .with_provider(SCHEME)
                .with_operation(Operation::Append)
                .with_context("folder", folder)
                .with_context("message", &msg.meta.id)));
                continue;
            }
            // Like IMAP servers, it stores anything but a zero-byte message.
            if msg.bytes.is_empty() {
                out.push(Err(Error::new(ErrorKind::InvalidMessage, "empty message")
                    .with_provider(SCHEME)
                    .with_operation(Operation::Append)
                    .with_item(folder, &msg.meta.id)));
                continue;
            }
            let uid = g.next_uid;
            g.next_uid += 1;
            g.modseq += 1;
            let modseq = g.modseq;
            let id = MessageId::new(uid.to_string());
            let mut meta = msg.meta.clone();
            meta.id = id.clone();
            meta.folder = folder.clone();
            if !caps.append_with_flags {
                meta.flags.retain(Flag::is_keyword);
            }
            if !caps.append_with_keywords {
                meta.flags.retain(|f| !f.is_keyword());
            }
            if !caps.append_with_internal_date {
                meta.internal_date = None;
            }
            if !caps.append_with_labels {
                meta.labels.clear();
            }
            let bytes: Bytes = msg.bytes;
            let hash = ContentHash::of(&bytes);
            let stored = Stored {
                msg: RawMessage::new(meta, bytes),
                hash,
                modseq,
            };
            if let Ok(f) = folder_mut(&mut g, folder) {
                f.messages.insert(uid, stored);
            }
            out.push(Ok(Appended::new(caps.append_returns_id.then_some(id))));
        }
        Ok(out)
    }

    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        if !self.info.capabilities.update_flags {
            return Err(unsupported("update_flags", Operation::UpdateFlags, folder));
        }
        let current = self
            .flags(folder, id)
            .map_err(|e| e.with_operation(Operation::UpdateFlags))?;
        self.set_flags(folder, id, change.apply(&current))
            .map_err(|e| e.with_operation(Operation::UpdateFlags))
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        if !self.info.capabilities.find_existing {
            return Err(unsupported(
                "find_existing",
                Operation::FindExisting,
                folder,
            ));
        }
        let mut g = self.lock();
        let f = folder_mut(&mut g, folder)?;
        Ok(f.messages
            .iter()
            .filter(|(_, s)| s.hash == key.hash)
            .map(|(uid, s)| {
                ExistingCopy::new(MessageId::new(uid.to_string()))
                    .with_flags(s.msg.meta.flags.clone())
                    .with_internal_date(s.msg.meta.internal_date)
            })
            .collect())
    }

    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        if !self.info.capabilities.delete {
            return Err(unsupported("delete", Operation::Delete, folder));
        }
        for id in ids {
            self.expunge(folder, id)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use time::macros::datetime;

    use super::*;

    fn msg(folder: &FolderId, name: &str, bytes: &'static [u8]) -> RawMessage {
        RawMessage::new(
            crate::MessageMeta::new(MessageId::new(name), folder.clone()),
            Bytes::from_static(bytes),
        )
    }

    async fn listed(store: &MemoryStore, folder: &FolderId, since: Option<Checkpoint>) -> usize {
        store
            .list_changes(folder, since)
            .filter(|c| std::future::ready(matches!(c, Ok(Change::Upsert(_)))))
            .count()
            .await
    }

    #[tokio::test]
    async fn ensure_folder_creates_parents() {
        let store = MemoryStore::new("t");
        let path = FolderPath::new(["a", "b", "c"]).unwrap();
        assert!(store.ensure_folder(&path, None).await.unwrap().created);
        let listed: Vec<String> = Provider::list_folders(&store)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.path.to_string())
            .collect();
        assert_eq!(listed, ["a", "a/b", "a/b/c"]);
        let parent = FolderPath::new(["a", "b"]).unwrap();
        assert!(!store.ensure_folder(&parent, None).await.unwrap().created);
    }

    #[tokio::test]
    async fn empty_message_fails_alone_and_is_named() {
        let store = MemoryStore::new("t");
        let f = store
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap()
            .id;
        let out = store
            .append(
                &f,
                vec![
                    msg(&f, "good", b"Subject: a\r\n\r\nx"),
                    msg(&f, "empty", b""),
                    msg(&f, "good2", b"Subject: b\r\n\r\ny"),
                ],
            )
            .await
            .unwrap();
        assert!(out[0].is_ok() && out[2].is_ok());
        let e = out[1].as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidMessage);
        assert_eq!(e.context("message"), Some("empty"));
        assert_eq!(e.operation(), Operation::Append);
        assert_eq!(store.message_count(), 2);
    }

    #[tokio::test]
    async fn reduced_store_behaves_as_declared() {
        let caps = Capabilities {
            list_since: false,
            append_with_keywords: false,
            append_with_internal_date: false,
            append_returns_id: false,
            update_flags: false,
            delete: false,
            find_existing: false,
            ..MemoryStore::capabilities()
        };
        let store = MemoryStore::with_capabilities("t", caps);
        let f = store
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap()
            .id;
        let mut m = msg(&f, "m", b"Subject: a\r\n\r\nx");
        m.meta.flags = [Flag::Seen, Flag::Keyword("$x".into())]
            .into_iter()
            .collect();
        m.meta.internal_date = Some(datetime!(2020-01-01 0:00 UTC));
        let out = store.append(&f, vec![m.clone()]).await.unwrap();
        assert_eq!(out[0].as_ref().unwrap().id, None);
        let stored = &store.messages(&f).unwrap()[0];
        assert_eq!(stored.meta.flags, [Flag::Seen].into_iter().collect());
        assert_eq!(stored.meta.internal_date, None);

        // Without list_since a checkpoint is ignored: every listing is full.
        let cp = match store.list_changes(&f, None).collect::<Vec<_>>().await.pop() {
            Some(Ok(Change::Checkpoint(cp))) => cp,
            other => panic!("no checkpoint: {other:?}"),
        };
        assert_eq!(listed(&store, &f, Some(cp)).await, 1);

        let id = stored.meta.id.clone();
        let unsupported = |r: Result<()>| r.unwrap_err().kind();
        assert_eq!(
            unsupported(store.update_flags(&f, &id, &FlagChange::default()).await),
            ErrorKind::Unsupported
        );
        assert_eq!(
            unsupported(store.delete(&f, std::slice::from_ref(&id)).await),
            ErrorKind::Unsupported
        );
        let e = store
            .find_existing(&f, &DedupeKey::of(&m))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert_eq!(store.message_count(), 1);
    }

    #[tokio::test]
    async fn full_store_lists_only_changes_since_checkpoint() {
        let store = MemoryStore::new("t");
        let f = store
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap()
            .id;
        store
            .append(&f, vec![msg(&f, "a", b"Subject: a\r\n\r\nx")])
            .await
            .unwrap();
        let cp = match store.list_changes(&f, None).collect::<Vec<_>>().await.pop() {
            Some(Ok(Change::Checkpoint(cp))) => cp,
            other => panic!("no checkpoint: {other:?}"),
        };
        assert_eq!(listed(&store, &f, Some(cp.clone())).await, 0);
        store
            .append(&f, vec![msg(&f, "b", b"Subject: b\r\n\r\ny")])
            .await
            .unwrap();
        assert_eq!(listed(&store, &f, Some(cp)).await, 1);
    }
}

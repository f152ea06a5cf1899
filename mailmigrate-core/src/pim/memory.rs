//! The reference contact and calendar store: everything in memory, sync tokens included.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};

use super::{
    Collection, CollectionId, FoundItem, ItemChange, ItemId, ItemMeta, ItemWrite, Notifications,
    PimCapabilities, PimDestination, PimItem, PimKind, PimProvider, PimResult, PimSource,
    WriteOptions, WriteTarget, Written,
};
use crate::{Capabilities, Checkpoint, Error, ErrorKind, ProviderInfo, Result};

const SCHEME: &str = "memory";

#[derive(Debug)]
struct Stored {
    item: PimItem,
    version: u64,
}

#[derive(Debug)]
struct Coll {
    meta: Collection,
    items: BTreeMap<ItemId, Stored>,
    /// Every change as (sequence, id, removed), oldest first: the sync-token log.
    log: Vec<(u64, ItemId, bool)>,
    /// The ids holding each `UID`.
    by_uid: BTreeMap<String, std::collections::BTreeSet<ItemId>>,
}

impl Coll {
    fn insert(&mut self, id: ItemId, stored: Stored) {
        self.unindex(&id);
        if let Some(uid) = stored.item.uid() {
            self.by_uid
                .entry(uid.to_owned())
                .or_default()
                .insert(id.clone());
        }
        self.items.insert(id, stored);
    }

    fn remove(&mut self, id: &ItemId) -> bool {
        self.unindex(id);
        self.items.remove(id).is_some()
    }

    fn unindex(&mut self, id: &ItemId) {
        let uid = self
            .items
            .get(id)
            .and_then(|s| s.item.uid())
            .map(str::to_owned);
        if let Some(uid) = uid {
            if let Some(ids) = self.by_uid.get_mut(&uid) {
                ids.remove(id);
                if ids.is_empty() {
                    self.by_uid.remove(&uid);
                }
            }
        }
    }

    fn holding(&self, uid: &str) -> impl Iterator<Item = (&ItemId, &Stored)> {
        self.by_uid
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|id| self.items.get(id).map(|s| (id, s)))
    }
}

#[derive(Debug, Default)]
struct Inner {
    collections: BTreeMap<CollectionId, Coll>,
    seq: u64,
    next_id: u64,
    lose_replies: usize,
    drop_writes: usize,
    lose_batch_replies: usize,
    drop_batches: usize,
    fail_listing_after: Option<usize>,
    refuse_writes: Option<ErrorKind>,
    refused_writes: usize,
    notifications: usize,
}

/// Address books and calendars in memory: the reference [`PimSource`] and
/// [`PimDestination`], with sync tokens, conditional writes and `UID` look-ups, and hooks
/// for tests — lost replies ([`lose_next_replies`](Self::lose_next_replies)), lost requests
/// ([`drop_next_writes`](Self::drop_next_writes)) and a count of the invitations a write
/// would have sent ([`notifications_sent`](Self::notifications_sent)).
///
/// A store given capabilities without
/// [`conditional_writes`](PimCapabilities::conditional_writes) behaves like a server
/// without `If-None-Match`: a create of a `UID` it holds makes a second item.
///
/// Clones share the same data.
///
/// ```
/// use mailmigrate_core::pim::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryPim::new("doc");
/// let book = store
///     .ensure_collection(&Collection::new(CollectionId::new("x"), PimKind::Contacts, "Friends"))
///     .await?;
/// let mut ann = Contact::new("Ann");
/// ann.uid = Some("ann-1".into());
/// let item = PimItem::new(ItemMeta::new(ItemId::new("src-1")), Payload::Contact(Box::new(ann)));
/// let written = store
///     .write_items(&book.id, vec![ItemWrite::create(item.clone())], &WriteOptions::default())
///     .await?;
/// assert!(written[0].is_ok());
/// // A second create of the same UID is refused: exactly-once by construction.
/// let again = store
///     .write_items(&book.id, vec![ItemWrite::create(item)], &WriteOptions::default())
///     .await?;
/// assert_eq!(again[0].as_ref().unwrap_err().kind(), mailmigrate_core::ErrorKind::AlreadyExists);
/// assert_eq!(store.find_by_uid(&book.id, &["ann-1".into()]).await?[0].len(), 1);
/// # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct MemoryPim {
    info: Arc<ProviderInfo>,
    caps: PimCapabilities,
    inner: Arc<Mutex<Inner>>,
}

impl MemoryPim {
    /// An empty store labelled `account`.
    pub fn new(account: impl Into<String>) -> Self {
        Self {
            info: Arc::new(ProviderInfo::new(SCHEME, account, Capabilities::default())),
            inner: Arc::default(),
            caps: Self::capabilities(),
        }
    }

    /// The store declaring other capabilities, sharing this one's data: a destination
    /// that keeps three e-mail addresses per contact, or mails attendees, for tests.
    /// It behaves as before — only what the engine reads changes — except that without
    /// [`conditional_writes`](PimCapabilities::conditional_writes) a create never refuses
    /// a `UID` the collection holds.
    #[must_use]
    pub fn with_capabilities(&self, caps: PimCapabilities) -> Self {
        Self {
            caps,
            ..self.clone()
        }
    }

    /// What the memory store declares: everything, with invitations suppressible.
    pub fn capabilities() -> PimCapabilities {
        PimCapabilities {
            contacts: true,
            events: true,
            list_since: true,
            list_removals: true,
            create_collections: true,
            write: true,
            update: true,
            delete: true,
            keeps_uid: true,
            find_by_uid: true,
            conditional_writes: true,
            keeps_unknown_properties: true,
            keeps_attachment_references: true,
            keeps_alarms: true,
            keeps_timezone_definitions: true,
            notifications: Notifications::Suppressible,
            ..PimCapabilities::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next `n` writes take effect but answer with a lost reply
    /// ([`outcome_unknown`](crate::Error::outcome_unknown)), as a connection dropped after
    /// the request was sent would.
    pub fn lose_next_replies(&self, n: usize) {
        self.lock().lose_replies = n;
    }

    /// The next `n` writes never reach the store but answer with a lost reply, as a
    /// connection dropped while the request was being sent would: the caller cannot tell
    /// them from [`lose_next_replies`](Self::lose_next_replies).
    pub fn drop_next_writes(&self, n: usize) {
        self.lock().drop_writes = n;
    }

    /// The next `n` calls of [`write_items`](PimDestination::write_items) make every
    /// write and then fail as a whole with a lost reply: a connection dropped before a
    /// batch's answer, as a server answering one multistatus for the batch would.
    pub fn lose_next_batch_replies(&self, n: usize) {
        self.lock().lose_batch_replies = n;
    }

    /// The next `n` calls of [`write_items`](PimDestination::write_items) make no write
    /// and fail as a whole with a lost reply (the batch never reached the server).
    pub fn drop_next_batches(&self, n: usize) {
        self.lock().drop_batches = n;
    }

    /// Every write answers an error of `kind` (`Unauthenticated`: credentials revoked)
    /// until called with `None`.
    pub fn refuse_writes(&self, kind: Option<ErrorKind>) {
        self.lock().refuse_writes = kind;
    }

    /// How many writes [`refuse_writes`](Self::refuse_writes) refused.
    pub fn refused_writes(&self) -> usize {
        self.lock().refused_writes
    }

    /// The next listing yields `n` changes, then a temporary error instead of the rest and
    /// its checkpoint (a connection closed mid-listing).
    pub fn fail_next_listing_after(&self, n: usize) {
        self.lock().fail_listing_after = Some(n);
    }

    /// How many writes of events with attendees were made with
    /// [`WriteOptions::notify_attendees`] on: the invitations a server would have sent.
    pub fn notifications_sent(&self) -> usize {
        self.lock().notifications
    }

    /// Every item of a collection, by id (for tests and verification).
    pub fn items(&self, collection: &CollectionId) -> Vec<PimItem> {
        self.lock()
            .collections
            .get(collection)
            .map(|c| c.items.values().map(|s| s.item.clone()).collect())
            .unwrap_or_default()
    }

    /// Removes an item as a user of the store would (logged for sync tokens).
    pub fn remove(&self, collection: &CollectionId, id: &ItemId) {
        let mut inner = self.lock();
        inner.seq += 1;
        let seq = inner.seq;
        if let Some(c) = inner.collections.get_mut(collection) {
            if c.remove(id) {
                c.log.push((seq, id.clone(), true));
            }
        }
    }

    /// Puts an item under its id as a user of the store would (logged for sync tokens),
    /// creating or replacing it.
    pub fn put(&self, collection: &CollectionId, mut item: PimItem) {
        let mut inner = self.lock();
        inner.seq += 1;
        let seq = inner.seq;
        if let Some(c) = inner.collections.get_mut(collection) {
            item.meta.version = Some(seq.to_string());
            let id = item.meta.id.clone();
            c.insert(id.clone(), Stored { item, version: seq });
            c.log.push((seq, id, false));
        }
    }
}

fn lost_reply() -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "connection closed before the answer",
    )
    .with_provider(SCHEME)
    .outcome_unknown()
}

fn not_found(collection: &CollectionId) -> Error {
    Error::new(ErrorKind::NotFound, "no such collection")
        .with_provider(SCHEME)
        .with_context("collection", collection.as_str())
}

#[async_trait]
impl PimProvider for MemoryPim {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    fn pim_capabilities(&self) -> PimCapabilities {
        self.caps
    }

    async fn list_collections(&self, kind: PimKind) -> Result<Vec<Collection>> {
        Ok(self
            .lock()
            .collections
            .values()
            .filter(|c| c.meta.kind == kind)
            .map(|c| c.meta.clone())
            .collect())
    }
}

#[async_trait]
impl PimSource for MemoryPim {
    fn list_items(
        &self,
        collection: &CollectionId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<ItemChange>> {
        let mut inner = self.lock();
        let fail_after = inner.fail_listing_after.take();
        let Some(c) = inner.collections.get(collection) else {
            return stream::iter([Err(not_found(collection))]).boxed();
        };
        let now = Checkpoint::new(inner.seq.to_string());
        let since = since.and_then(|s| s.as_str().parse::<u64>().ok());
        let meta = |id: &ItemId, s: &Stored| {
            ItemMeta::new(id.clone())
                .with_uid(s.item.uid().map(str::to_owned))
                .with_version(Some(s.version.to_string()))
        };
        let mut out: Vec<Result<ItemChange>> = Vec::new();
        match since {
            // Every change after the token, the latest per id.
            Some(since) if since <= inner.seq => {
                let mut latest: BTreeMap<&ItemId, bool> = BTreeMap::new();
                for (_, id, removed) in c.log.iter().filter(|(s, _, _)| *s > since) {
                    latest.insert(id, *removed);
                }
                for (id, removed) in latest {
                    match c.items.get(id) {
                        Some(s) if !removed => out.push(Ok(ItemChange::Upsert(meta(id, s)))),
                        _ => out.push(Ok(ItemChange::Removed(id.clone()))),
                    }
                }
            }
            other => {
                if other.is_some() {
                    out.push(Ok(ItemChange::Reset));
                }
                out.extend(
                    c.items
                        .iter()
                        .map(|(id, s)| Ok(ItemChange::Upsert(meta(id, s)))),
                );
            }
        }
        out.push(Ok(ItemChange::Checkpoint(now)));
        if let Some(n) = fail_after {
            out.truncate(n);
            out.push(Err(Error::new(
                ErrorKind::Unavailable,
                "connection closed in the middle of the listing",
            )
            .with_provider(SCHEME)
            .temporary()));
        }
        stream::iter(out).boxed()
    }

    fn fetch_items(
        &self,
        collection: &CollectionId,
        ids: Vec<ItemId>,
    ) -> BoxStream<'static, PimResult<PimItem>> {
        let inner = self.lock();
        let c = inner.collections.get(collection);
        let out: Vec<_> = ids
            .into_iter()
            .map(|id| {
                let r = match c.and_then(|c| c.items.get(&id)) {
                    Some(s) => {
                        let mut item = s.item.clone();
                        item.meta.id = id.clone();
                        item.meta.version = Some(s.version.to_string());
                        Ok(item)
                    }
                    None => Err(Error::new(ErrorKind::NotFound, "no such item")
                        .with_provider(SCHEME)
                        .with_context("item", id.as_str())),
                };
                (id, r)
            })
            .collect();
        stream::iter(out).boxed()
    }
}

#[async_trait]
impl PimDestination for MemoryPim {
    async fn ensure_collection(&self, like: &Collection) -> Result<Collection> {
        let mut inner = self.lock();
        if let Some(c) = inner
            .collections
            .values()
            .find(|c| c.meta.kind == like.kind && c.meta.name == like.name)
        {
            return Ok(c.meta.clone());
        }
        inner.next_id += 1;
        let id = CollectionId::new(format!("{}-{}", like.kind, inner.next_id));
        let mut meta = like.clone();
        meta.id = id.clone();
        inner.collections.insert(
            id,
            Coll {
                meta: meta.clone(),
                items: BTreeMap::new(),
                by_uid: BTreeMap::new(),
                log: Vec::new(),
            },
        );
        Ok(meta)
    }

    async fn write_items(
        &self,
        collection: &CollectionId,
        writes: Vec<ItemWrite>,
        options: &WriteOptions,
    ) -> Result<Vec<Result<Written>>> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(c) = inner.collections.get_mut(collection) else {
            return Err(not_found(collection));
        };
        if writes.iter().any(|w| w.item.kind() != c.meta.kind) {
            return Err(
                Error::new(ErrorKind::InvalidMessage, "item of the wrong kind")
                    .with_provider(SCHEME)
                    .with_context("collection", collection.as_str()),
            );
        }
        if inner.drop_batches > 0 {
            inner.drop_batches -= 1;
            return Err(lost_reply());
        }
        let mut out = Vec::with_capacity(writes.len());
        for w in writes {
            if let Some(kind) = inner.refuse_writes {
                inner.refused_writes += 1;
                out.push(Err(
                    Error::new(kind, "refused by the test").with_provider(SCHEME)
                ));
                continue;
            }
            if inner.drop_writes > 0 {
                inner.drop_writes -= 1;
                out.push(Err(lost_reply()));
                continue;
            }
            let uid = w.item.uid().map(str::to_owned);
            let id = match &w.target {
                WriteTarget::Create => {
                    let taken = self.caps.conditional_writes
                        && uid
                            .as_deref()
                            .is_some_and(|u| c.holding(u).next().is_some());
                    if taken {
                        out.push(Err(Error::new(
                            ErrorKind::AlreadyExists,
                            "the collection holds this UID already",
                        )
                        .with_provider(SCHEME)
                        .with_context("uid", uid.as_deref().unwrap_or_default())));
                        continue;
                    }
                    inner.next_id += 1;
                    ItemId::new(format!("item-{}", inner.next_id))
                }
                WriteTarget::Replace { id, version } => {
                    let current = c.items.get(id).map(|s| s.version.to_string());
                    if version.is_some() && current.is_some() && &current != version {
                        out.push(Err(Error::new(
                            ErrorKind::Conflict,
                            "the item changed since the given version",
                        )
                        .with_provider(SCHEME)
                        .with_context("item", id.as_str())));
                        continue;
                    }
                    id.clone()
                }
            };
            let invites = matches!(&w.item.payload, super::Payload::Event(o)
                if o.events().iter().any(|e| !e.attendees.is_empty()));
            if invites && options.notify_attendees {
                inner.notifications += 1;
            }
            inner.seq += 1;
            let version = inner.seq;
            let mut item = w.item;
            item.meta = ItemMeta::new(id.clone())
                .with_uid(uid)
                .with_version(Some(version.to_string()));
            c.insert(id.clone(), Stored { item, version });
            c.log.push((version, id.clone(), false));
            if inner.lose_replies > 0 {
                inner.lose_replies -= 1;
                out.push(Err(lost_reply()));
            } else {
                out.push(Ok(Written::new(id, Some(version.to_string()))));
            }
        }
        if inner.lose_batch_replies > 0 {
            inner.lose_batch_replies -= 1;
            return Err(lost_reply());
        }
        Ok(out)
    }

    async fn find_by_uid(
        &self,
        collection: &CollectionId,
        uids: &[String],
    ) -> Result<Vec<Vec<FoundItem>>> {
        let inner = self.lock();
        let c = inner
            .collections
            .get(collection)
            .ok_or_else(|| not_found(collection))?;
        Ok(uids
            .iter()
            .map(|uid| {
                c.holding(uid)
                    .map(|(id, s)| {
                        FoundItem::new(
                            id.clone(),
                            Some(s.version.to_string()),
                            Some(s.item.content_hash()),
                        )
                    })
                    .collect()
            })
            .collect())
    }

    async fn delete_items(
        &self,
        collection: &CollectionId,
        ids: &[ItemId],
    ) -> Result<Vec<Result<()>>> {
        if !self.lock().collections.contains_key(collection) {
            return Err(not_found(collection));
        }
        for id in ids {
            self.remove(collection, id);
        }
        Ok(ids.iter().map(|_| Ok(())).collect())
    }
}

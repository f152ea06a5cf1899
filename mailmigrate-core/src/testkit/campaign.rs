//! Checking a campaign's concurrency limits: a [`StoreFactory`] wrapper,
//! [`ProbedFactory`], that counts the mailboxes open at once (from the factory's `open`
//! until the runner drops the last of that mailbox's stores) and, per mailbox, the
//! destination appends in flight at once, into a shared [`ConcurrencyProbe`].
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use mailmigrate_core::campaign::*;
//! use mailmigrate_core::directory::{Account, Inventory};
//! use mailmigrate_core::state::MemoryState;
//! use mailmigrate_core::store::MemoryStore;
//! use mailmigrate_core::testkit::campaign::{ConcurrencyProbe, ProbedFactory};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let users: Vec<String> = (0..6).map(|i| format!("u{i}@old.example")).collect();
//! let inventory = Inventory::new(users.iter().map(Account::new).collect());
//! let plan = CampaignPlan::new("acme", Strategy::Cutover)
//!     .with_mailboxes_in_parallel(2)
//!     .with_batch(Batch::new("all", users.clone()))
//!     .validate(&inventory)?;
//! let stores = |_: &MailboxPair| {
//!     Ok(MailboxStores::new(Arc::new(MemoryStore::new("old")), Arc::new(MemoryStore::new("new"))))
//! };
//! let probe = ConcurrencyProbe::new();
//! let factory = ProbedFactory::new(stores, probe.clone()).with_open_delay(Duration::from_millis(2));
//! let runner = CampaignRunner::open(plan, Arc::new(MemoryState::new()), Arc::new(factory)).await?;
//! runner.run().await?;
//! assert_eq!(probe.max_open(), 2);
//! assert_eq!((probe.open(), probe.opened()), (0, 6));
//! # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::campaign::{MailboxPair, MailboxStores, StoreFactory};
use crate::{
    Appended, Capabilities, Change, Checkpoint, DedupeKey, Destination, EnsuredFolder,
    ExistingCopy, FlagChange, Folder, FolderId, FolderPath, ItemResult, MessageId, Provider,
    ProviderInfo, RawMessage, Result, Source, SpecialUse, Store,
};

#[derive(Debug, Default)]
struct Counts {
    open: AtomicUsize,
    max_open: AtomicUsize,
    opened: AtomicU64,
    max_appends: AtomicUsize,
    appends_now: AtomicUsize,
    max_appends_total: AtomicUsize,
}

/// The maxima a [`ProbedFactory`] saw; clones share them.
///
/// ```
/// use mailmigrate_core::testkit::campaign::ConcurrencyProbe;
/// let p = ConcurrencyProbe::new();
/// assert_eq!((p.max_open(), p.max_appends_per_mailbox(), p.opened()), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConcurrencyProbe(Arc<Counts>);

impl ConcurrencyProbe {
    /// A probe that saw nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mailboxes open now.
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::SeqCst)
    }

    /// The most mailboxes open at once.
    pub fn max_open(&self) -> usize {
        self.0.max_open.load(Ordering::SeqCst)
    }

    /// Mailboxes opened in all (one per factory `open`).
    pub fn opened(&self) -> u64 {
        self.0.opened.load(Ordering::SeqCst)
    }

    /// The most destination appends one mailbox had in flight at once.
    pub fn max_appends_per_mailbox(&self) -> usize {
        self.0.max_appends.load(Ordering::SeqCst)
    }

    /// The most destination appends in flight at once over every mailbox.
    pub fn max_appends_total(&self) -> usize {
        self.0.max_appends_total.load(Ordering::SeqCst)
    }

    fn enter(&self) -> Arc<OpenMailbox> {
        let now = self.0.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max_open.fetch_max(now, Ordering::SeqCst);
        self.0.opened.fetch_add(1, Ordering::SeqCst);
        Arc::new(OpenMailbox {
            probe: self.clone(),
            appends: AtomicUsize::new(0),
        })
    }
}

/// One open mailbox: dropped with the last of its stores.
#[derive(Debug)]
struct OpenMailbox {
    probe: ConcurrencyProbe,
    appends: AtomicUsize,
}

impl Drop for OpenMailbox {
    fn drop(&mut self) {
        self.probe.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts an append in flight until dropped.
struct AppendGuard<'a>(&'a OpenMailbox);

impl<'a> AppendGuard<'a> {
    fn new(m: &'a OpenMailbox) -> Self {
        let c = &m.probe.0;
        let mine = m.appends.fetch_add(1, Ordering::SeqCst) + 1;
        c.max_appends.fetch_max(mine, Ordering::SeqCst);
        let all = c.appends_now.fetch_add(1, Ordering::SeqCst) + 1;
        c.max_appends_total.fetch_max(all, Ordering::SeqCst);
        Self(m)
    }
}

impl Drop for AppendGuard<'_> {
    fn drop(&mut self) {
        self.0.appends.fetch_sub(1, Ordering::SeqCst);
        self.0.probe.0.appends_now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A mailbox's store, holding the mailbox open while it lives and counting its appends.
pub struct Probed<S: ?Sized> {
    mailbox: Arc<OpenMailbox>,
    inner: Arc<S>,
}

impl<S: ?Sized> fmt::Debug for Probed<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probed").finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: Provider + ?Sized> Provider for Probed<S> {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn list_folders(&self) -> Result<Vec<Folder>> {
        self.inner.list_folders().await
    }
    async fn message_counts(&self, folders: &[FolderId]) -> Option<Vec<Result<u64>>> {
        self.inner.message_counts(folders).await
    }
}

#[async_trait]
impl<S: Source + ?Sized> Source for Probed<S> {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        self.inner.list_changes(folder, since)
    }
    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        self.inner.fetch(folder, ids)
    }
}

#[async_trait]
impl<S: Destination + ?Sized> Destination for Probed<S> {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        self.inner.ensure_folder(path, role).await
    }
    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let _in_flight = AppendGuard::new(&self.mailbox);
        tokio::task::yield_now().await;
        self.inner.append(folder, messages).await
    }
    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        self.inner.update_flags(folder, id, change).await
    }
    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        self.inner.find_existing(folder, key).await
    }
    async fn find_existing_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        self.inner.find_existing_many(folder, keys).await
    }
    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        self.inner.delete(folder, ids).await
    }
}

/// A [`StoreFactory`] that wraps each mailbox's source and destination in [`Probed`]
/// stores reporting to a [`ConcurrencyProbe`] (the backup and contacts are passed
/// through). See the [module example](self).
pub struct ProbedFactory<F> {
    inner: F,
    probe: ConcurrencyProbe,
    delay: Duration,
}

impl<F> fmt::Debug for ProbedFactory<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbedFactory")
            .field("probe", &self.probe)
            .finish_non_exhaustive()
    }
}

impl<F: StoreFactory> ProbedFactory<F> {
    /// Wraps `inner`, reporting to `probe`.
    pub fn new(inner: F, probe: ConcurrencyProbe) -> Self {
        Self {
            inner,
            probe,
            delay: Duration::ZERO,
        }
    }

    /// Waits `delay` in each `open` after the mailbox counts as open, so in-memory
    /// mailboxes (which finish without ever waiting) overlap as real ones would and the
    /// runner's limit is actually reached.
    #[must_use]
    pub fn with_open_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[async_trait]
impl<F: StoreFactory> StoreFactory for ProbedFactory<F> {
    async fn open(&self, pair: &MailboxPair) -> Result<MailboxStores> {
        let mut stores = self.inner.open(pair).await?;
        let mailbox = self.probe.enter();
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        stores.source = Arc::new(Probed {
            mailbox: Arc::clone(&mailbox),
            inner: Arc::clone(&stores.source),
        });
        let dest: Arc<dyn Store> = Arc::new(Probed {
            mailbox,
            inner: Arc::clone(&stores.destination),
        });
        stores.destination = dest;
        Ok(stores)
    }
}

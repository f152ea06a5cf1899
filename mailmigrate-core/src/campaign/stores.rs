//! The stores a campaign opens for each mailbox: [`MailboxStores`], [`PimStores`], and
//! the [`StoreFactory`] that opens them (a closure, or [`RegistryStores`] by URL).

use std::sync::Arc;

use async_trait::async_trait;

use super::plan::{expand, MailboxPair};
use crate::pim::{PimDestination, PimSource, PimStore};
use crate::registry::Registry;
use crate::{Destination, Result, Source, Store};

/// The contact and calendar side of one mailbox.
///
/// ```
/// use std::sync::Arc;
/// use mailmigrate_core::campaign::PimStores;
/// use mailmigrate_core::pim::MemoryPim;
/// let pim = PimStores::new(Arc::new(MemoryPim::new("old")), Arc::new(MemoryPim::new("new")))
///     .with_backup(Arc::new(MemoryPim::new("backup")));
/// assert!(pim.backup.is_some() && pim.backup_source.is_none());
/// // A backup that can be read back, for a restore:
/// let pim = pim.with_backup_store(Arc::new(MemoryPim::new("backup")));
/// assert!(pim.backup_source.is_some());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PimStores {
    /// Where contacts and calendars are read.
    pub source: Arc<dyn PimSource>,
    /// Where they are written.
    pub destination: Arc<dyn PimDestination>,
    /// Where they are backed up (a [`VdirStore`](crate::pim::VdirStore)), if anywhere.
    pub backup: Option<Arc<dyn PimDestination>>,
    /// The same backup read back (set by [`with_backup_store`](Self::with_backup_store)):
    /// what a [`Restore`](super::Restore) reads contacts and calendars from.
    pub backup_source: Option<Arc<dyn PimSource>>,
}

impl PimStores {
    /// Contacts and calendars from `source` to `destination`, without a backup.
    pub fn new(source: Arc<dyn PimSource>, destination: Arc<dyn PimDestination>) -> Self {
        Self {
            source,
            destination,
            backup: None,
            backup_source: None,
        }
    }

    /// Backs them up to `backup` before the first copy (write-only: nothing to restore
    /// from; see [`with_backup_store`](Self::with_backup_store)).
    #[must_use]
    pub fn with_backup(mut self, backup: Arc<dyn PimDestination>) -> Self {
        self.backup = Some(backup);
        self.backup_source = None;
        self
    }

    /// Backs them up to `backup` before the first copy, and reads it back for a restore.
    #[must_use]
    pub fn with_backup_store(mut self, backup: Arc<dyn PimStore>) -> Self {
        self.backup = Some(Arc::clone(&backup) as Arc<dyn PimDestination>);
        self.backup_source = Some(backup as Arc<dyn PimSource>);
        self
    }
}

/// The stores of one mailbox: its source, its destination, its backup, and optionally
/// its contacts and calendars.
///
/// ```
/// use std::sync::Arc;
/// use mailmigrate_core::campaign::MailboxStores;
/// use mailmigrate_core::store::MemoryStore;
/// let s = MailboxStores::new(Arc::new(MemoryStore::new("old")), Arc::new(MemoryStore::new("new")))
///     .with_backup(Arc::new(MemoryStore::new("backup")));
/// assert!(s.backup.is_some() && s.backup_source.is_none() && s.pim.is_none());
/// // A backup the runner reads back for its manifest (and a restore reads from):
/// let s = s.with_backup_store(Arc::new(MemoryStore::new("backup")));
/// assert!(s.backup.is_some() && s.backup_source.is_some());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MailboxStores {
    /// Where mail is read.
    pub source: Arc<dyn Source>,
    /// Where it is written (read back for the final comparison).
    pub destination: Arc<dyn Store>,
    /// The local store the source is backed up to before the first copy.
    pub backup: Option<Arc<dyn Destination>>,
    /// The same backup store read back (set by
    /// [`with_backup_store`](Self::with_backup_store)): after the backup pass the runner
    /// reads it to build the mailbox's [`BackupManifest`](super::BackupManifest), and a
    /// [`Restore`](super::Restore) reads from it. Without it no manifest is made.
    pub backup_source: Option<Arc<dyn Source>>,
    /// Contacts and calendars.
    pub pim: Option<PimStores>,
}

impl MailboxStores {
    /// Mail from `source` to `destination`, no backup, no contacts or calendars.
    pub fn new(source: Arc<dyn Source>, destination: Arc<dyn Store>) -> Self {
        Self {
            source,
            destination,
            backup: None,
            backup_source: None,
            pim: None,
        }
    }

    /// Backs the source up to `backup` before the first copy (write-only: no manifest is
    /// made; prefer [`with_backup_store`](Self::with_backup_store)).
    #[must_use]
    pub fn with_backup(mut self, backup: Arc<dyn Destination>) -> Self {
        self.backup = Some(backup);
        self.backup_source = None;
        self
    }

    /// Backs the source up to `backup` before the first copy and reads it back for the
    /// backup's manifest.
    #[must_use]
    pub fn with_backup_store(mut self, backup: Arc<dyn Store>) -> Self {
        self.backup = Some(Arc::clone(&backup) as Arc<dyn Destination>);
        self.backup_source = Some(backup as Arc<dyn Source>);
        self
    }

    /// Moves contacts and calendars too.
    #[must_use]
    pub fn with_pim(mut self, pim: PimStores) -> Self {
        self.pim = Some(pim);
        self
    }
}

/// Opens the stores of a mailbox when the runner gets to it.
///
/// A closure `Fn(&MailboxPair) -> Result<MailboxStores>` is one; [`RegistryStores`] opens
/// them by URL. A failure to open fails that mailbox alone, with the error as its reason.
#[async_trait]
pub trait StoreFactory: Send + Sync + 'static {
    /// The stores of `pair`.
    ///
    /// # Errors
    /// Whatever opening them returns (`Unauthenticated`, `ConfigInvalid`…).
    async fn open(&self, pair: &MailboxPair) -> Result<MailboxStores>;
}

#[async_trait]
impl<F> StoreFactory for F
where
    F: Fn(&MailboxPair) -> Result<MailboxStores> + Send + Sync + 'static,
{
    async fn open(&self, pair: &MailboxPair) -> Result<MailboxStores> {
        self(pair)
    }
}

/// Opens each mailbox's stores through a [`Registry`] from URL templates: `{source}`
/// (the source address), `{mailbox}` (its lower-case key), `{destination}` (the
/// destination address).
///
/// ```
/// use mailmigrate_core::campaign::{MailboxPair, RegistryStores, StoreFactory};
/// use mailmigrate_core::directory::Account;
/// use mailmigrate_core::registry::Registry;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let stores = RegistryStores::new(Registry::with_local_stores(), "memory:", "memory:")
///     .with_backup(format!("maildir://{}/{{mailbox}}", dir.path().display()));
/// let pair = MailboxPair::new(Account::new("Ann@old.example"), "ann@new.example", "pilot");
/// let opened = stores.open(&pair).await.unwrap();
/// assert!(opened.backup.is_some() && opened.backup_source.is_some());
/// assert!(dir.path().join("ann@old.example").exists());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct RegistryStores {
    registry: Registry,
    source: String,
    destination: String,
    backup: Option<String>,
}

impl RegistryStores {
    /// Sources at `source`, destinations at `destination` (templates).
    pub fn new(
        registry: Registry,
        source: impl Into<String>,
        destination: impl Into<String>,
    ) -> Self {
        Self {
            registry,
            source: source.into(),
            destination: destination.into(),
            backup: None,
        }
    }

    /// Backups at `backup` (a template; [`BackupPlan::url`](super::BackupPlan::url)).
    #[must_use]
    pub fn with_backup(mut self, backup: impl Into<String>) -> Self {
        self.backup = Some(backup.into());
        self
    }
}

#[async_trait]
impl StoreFactory for RegistryStores {
    async fn open(&self, pair: &MailboxPair) -> Result<MailboxStores> {
        let (src, dst) = (&pair.source.address, &pair.destination);
        let source = self.registry.open(&expand(&self.source, src, dst)).await?;
        let destination = self
            .registry
            .open(&expand(&self.destination, src, dst))
            .await?;
        let mut stores = MailboxStores::new(source, destination);
        if let Some(b) = &self.backup {
            stores = stores.with_backup_store(self.registry.open(&expand(b, src, dst)).await?);
        }
        Ok(stores)
    }
}

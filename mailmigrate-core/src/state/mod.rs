//! Durable migration state: a checkpoint per source folder and a ledger row for every item
//! written, so a run killed at any instant resumes without losing or duplicating anything.
//!
//! The protocol the engine follows for each batch:
//! 1. [`StateStore::record`] the items as [`LedgerState::Pending`] (intent to write);
//! 2. append them to the destination;
//! 3. [`StateStore::record`] them as [`LedgerState::Done`] with the destination ids.
//!
//! On resume, pending rows are settled by asking the destination for an existing copy
//! before writing again. A checkpoint is stored only after every item it covers is done.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(any(test, feature = "testkit"))]
pub mod suite;

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{
    Checkpoint, ContentHash, DedupeKey, Disposition, Error, ErrorKind, Flags, FolderId, MessageId,
    Result,
};

pub use memory::MemoryState;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresState};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteState;

/// Whether a ledger row's write is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LedgerState {
    /// The write was started; its outcome is unknown until settled.
    Pending,
    /// The destination confirmed the write.
    Done,
}

/// One item's record: where it came from, where it went, and what it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LedgerEntry {
    /// The source folder.
    pub src_folder: FolderId,
    /// The source item id.
    pub src_id: MessageId,
    /// The destination folder.
    pub dest_folder: FolderId,
    /// The destination item id, when known.
    pub dest_id: Option<MessageId>,
    /// The content hash of the bytes written.
    pub hash: ContentHash,
    /// The `Message-ID` header, for dedupe lookups.
    pub message_id: Option<String>,
    /// The flags last written to the destination.
    pub flags: Flags,
    /// Pending or done.
    pub state: LedgerState,
    /// The size of the bytes written, when recorded: with [`hash`](Self::hash) and
    /// [`message_id`](Self::message_id) it makes a complete [`DedupeKey`], so a pending
    /// write can be settled even when the source item is gone.
    pub size: Option<u64>,
    /// The internal date written with the copy, when the destination keeps dates: it tells
    /// the copies of byte-identical messages apart when a write is settled by a look-up.
    pub internal_date: Option<time::OffsetDateTime>,
    /// The item's version at the source when it was written (a contact's or event's ETag):
    /// an unchanged version means nothing to write.
    pub src_version: Option<String>,
    /// The copy's version at the destination after the write, which a later replace is
    /// conditional on so an edit made at the destination is not overwritten.
    pub dest_version: Option<String>,
}

impl LedgerEntry {
    /// Builds a row.
    #[allow(clippy::too_many_arguments, reason = "a plain record constructor")]
    pub fn new(
        src_folder: FolderId,
        src_id: MessageId,
        dest_folder: FolderId,
        dest_id: Option<MessageId>,
        hash: ContentHash,
        message_id: Option<String>,
        flags: Flags,
        state: LedgerState,
    ) -> Self {
        Self {
            src_folder,
            src_id,
            dest_folder,
            dest_id,
            hash,
            message_id,
            flags,
            state,
            size: None,
            internal_date: None,
            src_version: None,
            dest_version: None,
        }
    }

    /// Records the source and destination versions of a contact or calendar item.
    #[must_use]
    pub fn with_versions(mut self, src: Option<String>, dest: Option<String>) -> Self {
        self.src_version = src;
        self.dest_version = dest;
        self
    }

    /// Records the internal date written with the copy.
    #[must_use]
    pub fn with_internal_date(mut self, date: Option<time::OffsetDateTime>) -> Self {
        self.internal_date = date;
        self
    }

    /// Records the size of the bytes written.
    #[must_use]
    pub fn with_size(mut self, size: Option<u64>) -> Self {
        self.size = size;
        self
    }

    /// The key that finds this row's copy at the destination.
    pub fn dedupe_key(&self) -> DedupeKey {
        DedupeKey::new(self.message_id.clone(), self.hash, self.size)
    }
}

/// An item that could not be migrated, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ItemFailure {
    /// The source folder.
    pub src_folder: FolderId,
    /// The source item id.
    pub src_id: MessageId,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The error's display form (names the item, never its content).
    pub message: String,
    /// Whether the item cannot travel as it is ([`Disposition::Final`](crate::Disposition)):
    /// later passes skip it (unless asked to retry failures) and the folder's checkpoint
    /// passes it. Otherwise the item is written again on the next pass.
    pub final_for_item: bool,
}

impl ItemFailure {
    /// Builds a failure record, final when the kind is final for a written item (see
    /// [`ErrorKind::is_final_for_item`]).
    pub fn new(src_folder: FolderId, src_id: MessageId, kind: ErrorKind, message: String) -> Self {
        Self {
            src_folder,
            src_id,
            kind,
            message,
            final_for_item: kind.is_final_for_item(false),
        }
    }

    /// The failure record of `err`, final as its [`Error::disposition`] says.
    pub fn of(src_folder: FolderId, src_id: MessageId, err: &Error) -> Self {
        Self {
            src_folder,
            src_id,
            kind: err.kind(),
            message: err.to_string(),
            final_for_item: err.disposition() == Disposition::Final,
        }
    }

    /// Sets whether the failure is final for the item.
    #[must_use]
    pub fn with_final(mut self, final_for_item: bool) -> Self {
        self.final_for_item = final_for_item;
        self
    }
}

/// Where a migration keeps its checkpoints, ledger and failures.
///
/// Every method is scoped by a job name, so one store can hold several migrations (one per
/// mailbox pair). Implementations must make each call atomic: a call that returned `Ok` is
/// durable, and a crash mid-call leaves either all of it or none of it.
///
/// # Implementing
/// [`MemoryState`] is the reference implementation.
#[async_trait]
pub trait StateStore: fmt::Debug + Send + Sync + 'static {
    /// The stored checkpoint of a source folder.
    ///
    /// # Errors
    /// `StateCorrupt` if the store is unreadable.
    async fn checkpoint(&self, job: &str, src_folder: &FolderId) -> Result<Option<Checkpoint>>;

    /// Stores a source folder's checkpoint.
    ///
    /// # Errors
    /// As the backing store reports.
    async fn set_checkpoint(&self, job: &str, src_folder: &FolderId, cp: &Checkpoint)
        -> Result<()>;

    /// The source folders of `job` that have a stored checkpoint (each completed a pass),
    /// in any order. The engine names those the source no longer lists (renamed or deleted
    /// there) in its report.
    ///
    /// # Errors
    /// `StateCorrupt` if the store is unreadable.
    async fn checkpointed_folders(&self, job: &str) -> Result<Vec<FolderId>>;

    /// Looks up ledger rows for source ids in one folder; ids without a row are absent.
    ///
    /// # Errors
    /// As the backing store reports.
    async fn lookup(
        &self,
        job: &str,
        src_folder: &FolderId,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, LedgerEntry>>;

    /// Inserts or replaces rows (keyed by source folder and id) atomically, and clears any
    /// failure recorded for them.
    ///
    /// # Errors
    /// As the backing store reports.
    async fn record(&self, job: &str, entries: &[LedgerEntry]) -> Result<()>;

    /// Rows of a source folder still pending.
    ///
    /// # Errors
    /// As the backing store reports.
    async fn pending(&self, job: &str, src_folder: &FolderId) -> Result<Vec<LedgerEntry>>;

    /// Whether a destination id is already claimed by some row of the job (so a dedupe
    /// lookup does not match two sources to one copy).
    ///
    /// # Errors
    /// As the backing store reports.
    async fn is_claimed(
        &self,
        job: &str,
        dest_folder: &FolderId,
        dest_id: &MessageId,
    ) -> Result<bool>;

    /// Removes rows (after a deletion or a reset of ids).
    ///
    /// # Errors
    /// As the backing store reports.
    async fn remove(&self, job: &str, src_folder: &FolderId, ids: &[MessageId]) -> Result<()>;

    /// Forgets a source folder's checkpoint, rows and failures (its ids became void).
    ///
    /// # Errors
    /// As the backing store reports.
    async fn reset_folder(&self, job: &str, src_folder: &FolderId) -> Result<()>;

    /// Streams every row of a source folder in pages of at most `limit` after `after`
    /// (ordered by source id), for verification and deletion diffs in bounded memory.
    ///
    /// # Errors
    /// As the backing store reports.
    async fn page(
        &self,
        job: &str,
        src_folder: &FolderId,
        after: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>>;

    /// Records a failed item (replacing an earlier failure of the same item).
    ///
    /// # Errors
    /// As the backing store reports.
    async fn record_failure(&self, job: &str, failure: &ItemFailure) -> Result<()>;

    /// Every failure recorded for the job.
    ///
    /// # Errors
    /// As the backing store reports.
    async fn failures(&self, job: &str) -> Result<Vec<ItemFailure>>;
}

#[async_trait]
impl<T: StateStore + ?Sized> StateStore for std::sync::Arc<T> {
    async fn checkpoint(&self, job: &str, f: &FolderId) -> Result<Option<Checkpoint>> {
        (**self).checkpoint(job, f).await
    }
    async fn set_checkpoint(&self, job: &str, f: &FolderId, cp: &Checkpoint) -> Result<()> {
        (**self).set_checkpoint(job, f, cp).await
    }
    async fn checkpointed_folders(&self, job: &str) -> Result<Vec<FolderId>> {
        (**self).checkpointed_folders(job).await
    }
    async fn lookup(
        &self,
        job: &str,
        f: &FolderId,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, LedgerEntry>> {
        (**self).lookup(job, f, ids).await
    }
    async fn record(&self, job: &str, entries: &[LedgerEntry]) -> Result<()> {
        (**self).record(job, entries).await
    }
    async fn pending(&self, job: &str, f: &FolderId) -> Result<Vec<LedgerEntry>> {
        (**self).pending(job, f).await
    }
    async fn is_claimed(&self, job: &str, d: &FolderId, id: &MessageId) -> Result<bool> {
        (**self).is_claimed(job, d, id).await
    }
    async fn remove(&self, job: &str, f: &FolderId, ids: &[MessageId]) -> Result<()> {
        (**self).remove(job, f, ids).await
    }
    async fn reset_folder(&self, job: &str, f: &FolderId) -> Result<()> {
        (**self).reset_folder(job, f).await
    }
    async fn page(
        &self,
        job: &str,
        f: &FolderId,
        after: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>> {
        (**self).page(job, f, after, limit).await
    }
    async fn record_failure(&self, job: &str, failure: &ItemFailure) -> Result<()> {
        (**self).record_failure(job, failure).await
    }
    async fn failures(&self, job: &str) -> Result<Vec<ItemFailure>> {
        (**self).failures(job).await
    }
}

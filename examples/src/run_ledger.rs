//! A state store that remembers which ledger rows this run wrote, so the pass can check
//! exactly those at the destination afterwards (its cost follows what changed).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use mailmigrate_core::state::{ItemFailure, LedgerEntry, StateStore};
use mailmigrate_core::{Checkpoint, FolderId, MessageId, Result};

/// Forwards every call to the state store it wraps, and keeps the keys (source folder,
/// source id) of the rows recorded during this run. Rows removed or reset during the run
/// are forgotten again. Only keys are kept: the rows themselves are read back from the
/// store when the pass is checked.
///
/// ```
/// use std::sync::Arc;
/// use mailmigrate_core::state::MemoryState;
/// use mailmigrate_examples::run_ledger::RunLedger;
/// let ledger = RunLedger::new(Arc::new(MemoryState::new()));
/// assert!(ledger.written().is_empty());
/// ```
#[derive(Debug)]
pub struct RunLedger {
    inner: Arc<dyn StateStore>,
    written: Mutex<BTreeMap<FolderId, BTreeSet<MessageId>>>,
}

impl RunLedger {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn StateStore>) -> Self {
        Self {
            inner,
            written: Mutex::new(BTreeMap::new()),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn StateStore> {
        &self.inner
    }

    /// The keys of the rows recorded during this run, by source folder.
    pub fn written(&self) -> BTreeMap<FolderId, BTreeSet<MessageId>> {
        self.keys().clone()
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, BTreeMap<FolderId, BTreeSet<MessageId>>> {
        // The map stays consistent whatever panicked while holding it: keys are only added
        // or removed whole.
        self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl StateStore for RunLedger {
    async fn checkpoint(&self, job: &str, f: &FolderId) -> Result<Option<Checkpoint>> {
        self.inner.checkpoint(job, f).await
    }

    async fn set_checkpoint(&self, job: &str, f: &FolderId, cp: &Checkpoint) -> Result<()> {
        self.inner.set_checkpoint(job, f, cp).await
    }

    async fn checkpointed_folders(&self, job: &str) -> Result<Vec<FolderId>> {
        self.inner.checkpointed_folders(job).await
    }

    async fn lookup(
        &self,
        job: &str,
        f: &FolderId,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, LedgerEntry>> {
        self.inner.lookup(job, f, ids).await
    }

    async fn record(&self, job: &str, entries: &[LedgerEntry]) -> Result<()> {
        self.inner.record(job, entries).await?;
        let mut keys = self.keys();
        for e in entries {
            keys.entry(e.src_folder.clone())
                .or_default()
                .insert(e.src_id.clone());
        }
        Ok(())
    }

    async fn pending(&self, job: &str, f: &FolderId) -> Result<Vec<LedgerEntry>> {
        self.inner.pending(job, f).await
    }

    async fn is_claimed(&self, job: &str, d: &FolderId, id: &MessageId) -> Result<bool> {
        self.inner.is_claimed(job, d, id).await
    }

    async fn remove(&self, job: &str, f: &FolderId, ids: &[MessageId]) -> Result<()> {
        self.inner.remove(job, f, ids).await?;
        if let Some(set) = self.keys().get_mut(f) {
            for id in ids {
                set.remove(id);
            }
        }
        Ok(())
    }

    async fn reset_folder(&self, job: &str, f: &FolderId) -> Result<()> {
        self.inner.reset_folder(job, f).await?;
        self.keys().remove(f);
        Ok(())
    }

    async fn page(
        &self,
        job: &str,
        f: &FolderId,
        after: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>> {
        self.inner.page(job, f, after, limit).await
    }

    async fn record_failure(&self, job: &str, failure: &ItemFailure) -> Result<()> {
        self.inner.record_failure(job, failure).await
    }

    async fn failures(&self, job: &str) -> Result<Vec<ItemFailure>> {
        self.inner.failures(job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::state::{LedgerState, MemoryState};
    use mailmigrate_core::{ContentHash, Flags};

    fn row(folder: &str, id: &str) -> LedgerEntry {
        LedgerEntry::new(
            FolderId::new(folder),
            MessageId::new(id),
            FolderId::new("d"),
            None,
            ContentHash::of(id.as_bytes()),
            None,
            Flags::default(),
            LedgerState::Pending,
        )
    }

    #[tokio::test]
    async fn keeps_the_keys_recorded_and_not_removed_in_this_run() {
        let ledger = RunLedger::new(Arc::new(MemoryState::new()));
        ledger
            .record("j", &[row("a", "1"), row("a", "2"), row("b", "3")])
            .await
            .unwrap();
        ledger
            .remove("j", &FolderId::new("a"), &[MessageId::new("1")])
            .await
            .unwrap();
        ledger.reset_folder("j", &FolderId::new("b")).await.unwrap();
        let written = ledger.written();
        assert_eq!(written.len(), 1);
        assert_eq!(
            written[&FolderId::new("a")].iter().collect::<Vec<_>>(),
            [&MessageId::new("2")]
        );
        let stored = ledger
            .lookup("j", &FolderId::new("a"), &[MessageId::new("2")])
            .await
            .unwrap();
        assert_eq!(stored.len(), 1, "calls reach the wrapped store");
    }
}

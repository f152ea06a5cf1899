//! An in-process [`StateStore`]: the reference implementation, for tests and dry runs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{ItemFailure, LedgerEntry, LedgerState, StateStore};
use crate::campaign::{
    check_apply, CampaignRecord, CampaignStore, HeldNames, MailboxStatus, Transition, WorkerHold,
};
use crate::{Checkpoint, FolderId, MessageId, Result};

type Key = (String, FolderId);

#[derive(Debug, Default)]
struct Inner {
    checkpoints: HashMap<Key, Checkpoint>,
    ledger: HashMap<Key, BTreeMap<MessageId, LedgerEntry>>,
    claimed: HashMap<(String, FolderId, MessageId), usize>,
    failures: BTreeMap<(String, FolderId, MessageId), ItemFailure>,
    campaigns: BTreeMap<String, CampaignRecord>,
    /// (campaign, mailbox) → status and transitions.
    mailboxes: BTreeMap<(String, String), (MailboxStatus, Vec<Transition>)>,
    /// (campaign, mailbox) → the worker holding its lease, and until when.
    leases: HashMap<(String, String), (String, Instant)>,
}

impl Inner {
    fn unclaim(&mut self, job: &str, e: &LedgerEntry) {
        if let Some(d) = &e.dest_id {
            let k = (job.to_owned(), e.dest_folder.clone(), d.clone());
            if let Some(n) = self.claimed.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    self.claimed.remove(&k);
                }
            }
        }
    }
}

/// Keeps all state in memory; lost when the process ends.
///
/// ```
/// use mailmigrate_core::state::{MemoryState, StateStore};
/// use mailmigrate_core::{Checkpoint, FolderId};
/// # tokio_test(async {
/// let state = MemoryState::new();
/// state.set_checkpoint("job", &FolderId::new("INBOX"), &Checkpoint::new("7")).await.unwrap();
/// assert!(state.checkpoint("job", &FolderId::new("INBOX")).await.unwrap().is_some());
/// # });
/// # fn tokio_test(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Default)]
pub struct MemoryState {
    inner: Mutex<Inner>,
    /// Worker names held ([`CampaignStore::hold_worker`]).
    names: HeldNames,
}

impl MemoryState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl StateStore for MemoryState {
    async fn checkpoint(&self, job: &str, f: &FolderId) -> Result<Option<Checkpoint>> {
        Ok(self
            .lock()
            .checkpoints
            .get(&(job.to_owned(), f.clone()))
            .cloned())
    }

    async fn checkpointed_folders(&self, job: &str) -> Result<Vec<FolderId>> {
        Ok(self
            .lock()
            .checkpoints
            .keys()
            .filter(|(j, _)| j == job)
            .map(|(_, f)| f.clone())
            .collect())
    }

    async fn set_checkpoint(&self, job: &str, f: &FolderId, cp: &Checkpoint) -> Result<()> {
        self.lock()
            .checkpoints
            .insert((job.to_owned(), f.clone()), cp.clone());
        Ok(())
    }

    async fn lookup(
        &self,
        job: &str,
        f: &FolderId,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, LedgerEntry>> {
        let g = self.lock();
        let Some(rows) = g.ledger.get(&(job.to_owned(), f.clone())) else {
            return Ok(HashMap::new());
        };
        Ok(ids
            .iter()
            .filter_map(|id| rows.get(id).map(|e| (id.clone(), e.clone())))
            .collect())
    }

    async fn record(&self, job: &str, entries: &[LedgerEntry]) -> Result<()> {
        let mut g = self.lock();
        for e in entries {
            let old = g
                .ledger
                .entry((job.to_owned(), e.src_folder.clone()))
                .or_default()
                .insert(e.src_id.clone(), e.clone());
            if let Some(old) = old {
                g.unclaim(job, &old);
            }
            if let Some(d) = &e.dest_id {
                *g.claimed
                    .entry((job.to_owned(), e.dest_folder.clone(), d.clone()))
                    .or_default() += 1;
            }
            g.failures
                .remove(&(job.to_owned(), e.src_folder.clone(), e.src_id.clone()));
        }
        Ok(())
    }

    async fn pending(&self, job: &str, f: &FolderId) -> Result<Vec<LedgerEntry>> {
        let g = self.lock();
        Ok(g.ledger
            .get(&(job.to_owned(), f.clone()))
            .map(|rows| {
                rows.values()
                    .filter(|e| e.state == LedgerState::Pending)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn is_claimed(&self, job: &str, d: &FolderId, id: &MessageId) -> Result<bool> {
        Ok(self
            .lock()
            .claimed
            .contains_key(&(job.to_owned(), d.clone(), id.clone())))
    }

    async fn remove(&self, job: &str, f: &FolderId, ids: &[MessageId]) -> Result<()> {
        let mut g = self.lock();
        let removed: Vec<LedgerEntry> = match g.ledger.get_mut(&(job.to_owned(), f.clone())) {
            Some(rows) => ids.iter().filter_map(|id| rows.remove(id)).collect(),
            None => Vec::new(),
        };
        for e in &removed {
            g.unclaim(job, e);
        }
        Ok(())
    }

    async fn reset_folder(&self, job: &str, f: &FolderId) -> Result<()> {
        let mut g = self.lock();
        let key = (job.to_owned(), f.clone());
        g.checkpoints.remove(&key);
        if let Some(rows) = g.ledger.remove(&key) {
            for e in rows.values() {
                g.unclaim(job, e);
            }
        }
        g.failures
            .retain(|(j, folder, _), _| !(j == job && *folder == key.1));
        Ok(())
    }

    async fn page(
        &self,
        job: &str,
        f: &FolderId,
        after: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>> {
        let g = self.lock();
        let Some(rows) = g.ledger.get(&(job.to_owned(), f.clone())) else {
            return Ok(Vec::new());
        };
        let iter: Box<dyn Iterator<Item = &LedgerEntry>> = match after {
            Some(a) => Box::new(
                rows.range::<MessageId, _>((
                    std::ops::Bound::Excluded(a),
                    std::ops::Bound::Unbounded,
                ))
                .map(|(_, v)| v),
            ),
            None => Box::new(rows.values()),
        };
        Ok(iter.take(limit).cloned().collect())
    }

    async fn record_failure(&self, job: &str, failure: &ItemFailure) -> Result<()> {
        self.lock().failures.insert(
            (
                job.to_owned(),
                failure.src_folder.clone(),
                failure.src_id.clone(),
            ),
            failure.clone(),
        );
        Ok(())
    }

    async fn failures(&self, job: &str) -> Result<Vec<ItemFailure>> {
        Ok(self
            .lock()
            .failures
            .iter()
            .filter(|((j, _, _), _)| j == job)
            .map(|(_, v)| v.clone())
            .collect())
    }
}

#[async_trait]
impl CampaignStore for MemoryState {
    async fn campaign(&self, name: &str) -> Result<Option<CampaignRecord>> {
        Ok(self.lock().campaigns.get(name).cloned())
    }

    async fn put_campaign(&self, record: &CampaignRecord) -> Result<()> {
        self.lock()
            .campaigns
            .insert(record.name.clone(), record.clone());
        Ok(())
    }

    async fn apply(
        &self,
        campaign: &str,
        status: &MailboxStatus,
        transition: Option<&Transition>,
    ) -> Result<()> {
        let mut g = self.lock();
        let key = (campaign.to_owned(), status.mailbox.clone());
        let stored = g.mailboxes.get(&key).map(|(s, _)| s.stage);
        check_apply(campaign, stored, status, transition)?;
        let entry = g
            .mailboxes
            .entry(key)
            .or_insert_with(|| (status.clone(), Vec::new()));
        entry.0 = status.clone();
        entry.1.extend(transition.cloned());
        Ok(())
    }

    async fn mailbox(&self, campaign: &str, mailbox: &str) -> Result<Option<MailboxStatus>> {
        Ok(self
            .lock()
            .mailboxes
            .get(&(campaign.to_owned(), mailbox.to_owned()))
            .map(|(s, _)| s.clone()))
    }

    async fn mailboxes(&self, campaign: &str) -> Result<Vec<MailboxStatus>> {
        Ok(self
            .lock()
            .mailboxes
            .iter()
            .filter(|((c, _), _)| c == campaign)
            .map(|(_, (s, _))| s.clone())
            .collect())
    }

    async fn history(&self, campaign: &str, mailbox: &str) -> Result<Vec<Transition>> {
        Ok(self
            .lock()
            .mailboxes
            .get(&(campaign.to_owned(), mailbox.to_owned()))
            .map(|(_, h)| h.clone())
            .unwrap_or_default())
    }

    async fn claim(
        &self,
        campaign: &str,
        mailbox: &str,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let now = Instant::now();
        let mut g = self.lock();
        let key = (campaign.to_owned(), mailbox.to_owned());
        if let Some((holder, until)) = g.leases.get(&key) {
            if holder != worker && *until > now {
                return Ok(false);
            }
        }
        // A time-to-live too long to add is capped at a century.
        let until = now + ttl.min(Duration::from_secs(100 * 365 * 86_400));
        g.leases.insert(key, (worker.to_owned(), until));
        Ok(true)
    }

    async fn release(&self, campaign: &str, mailbox: &str, worker: &str) -> Result<()> {
        let mut g = self.lock();
        let key = (campaign.to_owned(), mailbox.to_owned());
        if g.leases
            .get(&key)
            .is_some_and(|(holder, _)| holder == worker)
        {
            g.leases.remove(&key);
        }
        Ok(())
    }

    async fn hold_worker(&self, campaign: &str, worker: &str) -> Result<WorkerHold> {
        self.names.hold(campaign, worker)
    }
}

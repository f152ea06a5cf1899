//! Durable campaign state, kept in the same store as the sync engine's ledger.
//!
//! [`CampaignStore`] is a sibling of [`StateStore`] (it extends it), implemented by
//! [`MemoryState`](crate::state::MemoryState) and [`SqliteState`](crate::state::SqliteState):
//! one state file resumes both the campaign and every mailbox's copy. Why a sibling trait
//! and not new `StateStore` methods is in `docs/decisions/0013-campaign-state.md`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::status::{MailboxStatus, Stage, Transition};
use crate::state::StateStore;
use crate::{Error, ErrorKind, Operation, Result};

/// A campaign's own record: which plan it runs and whether it is paused.
///
/// ```
/// use mailmigrate_core::campaign::CampaignRecord;
/// use time::macros::datetime;
/// let r = CampaignRecord::new("acme", "9f3c…", datetime!(2025-01-01 0:00 UTC));
/// assert!(!r.paused);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CampaignRecord {
    /// The campaign's name.
    pub name: String,
    /// The digest of the plan it was started with ([`CampaignPlan::hash`]).
    ///
    /// [`CampaignPlan::hash`]: super::CampaignPlan::hash
    pub plan_hash: String,
    /// Whether `pause` is in force.
    #[serde(default)]
    pub paused: bool,
    /// When it was first started.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When the record last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
}

impl CampaignRecord {
    /// A new, running campaign.
    pub fn new(name: impl Into<String>, plan_hash: impl Into<String>, at: OffsetDateTime) -> Self {
        Self {
            name: name.into(),
            plan_hash: plan_hash.into(),
            paused: false,
            created: at,
            updated: at,
        }
    }
}

/// Where a campaign keeps its record, each mailbox's status and the history of its moves.
///
/// It extends [`StateStore`], so one object (one SQLite file) holds the campaign and the
/// ledgers of its mailboxes' copies, and a campaign resumed after a restart finds both.
///
/// # Contract
/// - Every call is atomic and durable once it returns `Ok`, as for [`StateStore`].
/// - [`apply`](Self::apply) is a compare-and-set on the mailbox's stage: it stores the
///   status and appends the transition only if the stored stage is the transition's
///   `from` (no row for `None`); otherwise it changes nothing and returns `Conflict`. Two
///   runners (or a runner and an operator's `pause`) can therefore never both move a
///   mailbox from the same stage. Without a transition it updates the counts of a mailbox
///   whose stored stage is the status's.
/// - [`history`](Self::history) returns a mailbox's transitions in the order applied.
/// - Campaigns are isolated by name; nothing here touches the ledger's jobs.
/// - [`claim`](Self::claim) is a lease on one mailbox: while a worker holds it (until its
///   time-to-live runs out, or it is [released](Self::release)) no other worker's claim
///   succeeds, so runners sharing the store never drive one mailbox at once. The
///   compare-and-set alone cannot ensure that: a mailbox left mid-step is resumed by a move
///   from a stage to itself (`syncing → syncing`), which two runners can both make.
/// - [`hold_worker`](Self::hold_worker) makes a worker name one process's: while the hold
///   lives, no other process using the store gets a hold on that name. A lease is its
///   holder's to renew, so two live processes under one name (two machines with one host
///   name, two copies of a campaign file) would both pass every claim; the hold is what
///   keeps them apart, and it ends with its process (a killed one's hold ends with it), so
///   a restarted runner takes its name and its leases back at once.
///
/// The cases in [`state::suite`](crate::state::suite) (`campaign_*`) check each rule.
///
/// # Implementing
/// `MemoryState` is the reference implementation; [`check_apply`] holds the
/// compare-and-set rule so every store decides it the same way.
#[async_trait]
pub trait CampaignStore: StateStore {
    /// The campaign's record, if it was ever started.
    ///
    /// # Errors
    /// `StateCorrupt` if the store is unreadable.
    async fn campaign(&self, name: &str) -> Result<Option<CampaignRecord>>;

    /// Creates or replaces the campaign's record.
    ///
    /// # Errors
    /// As the backing store reports.
    async fn put_campaign(&self, record: &CampaignRecord) -> Result<()>;

    /// Stores a mailbox's status and its transition, atomically (see the contract).
    ///
    /// # Errors
    /// `Conflict` naming the mailbox when the stored stage is not the transition's `from`;
    /// otherwise as the backing store reports.
    async fn apply(
        &self,
        campaign: &str,
        status: &MailboxStatus,
        transition: Option<&Transition>,
    ) -> Result<()>;

    /// One mailbox's status.
    ///
    /// # Errors
    /// `StateCorrupt` if the store is unreadable.
    async fn mailbox(&self, campaign: &str, mailbox: &str) -> Result<Option<MailboxStatus>>;

    /// Every mailbox's status, ordered by key.
    ///
    /// # Errors
    /// `StateCorrupt` if the store is unreadable.
    async fn mailboxes(&self, campaign: &str) -> Result<Vec<MailboxStatus>>;

    /// A mailbox's transitions, oldest first.
    ///
    /// # Errors
    /// `StateCorrupt` if the store is unreadable.
    async fn history(&self, campaign: &str, mailbox: &str) -> Result<Vec<Transition>>;

    /// Claims `mailbox` for `worker` for `ttl`: `true` if no other worker holds it (none
    /// ever did, its holder released it, or its lease ran out), and the lease is now
    /// `worker`'s until `ttl` from now. A holder renews its lease by claiming again.
    ///
    /// [`CampaignRunner`](super::CampaignRunner) claims each mailbox before it drives it,
    /// renews the lease while it does, and releases it after, so runners on several
    /// machines sharing one store never drive the same mailbox at once. A runner that is
    /// killed leaves its lease to run out.
    ///
    /// The provided implementation grants every claim: right for a store only one runner
    /// uses at a time, wrong for a shared one. [`MemoryState`](crate::state::MemoryState),
    /// [`SqliteState`](crate::state::SqliteState) and `PostgresState` (feature `postgres`)
    /// keep real leases; the case `campaign_leases_exclude_other_workers` of
    /// [`state::suite`](crate::state::suite) checks them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mailmigrate_core::campaign::CampaignStore;
    /// use mailmigrate_core::state::MemoryState;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> mailmigrate_core::Result<()> {
    /// let state = MemoryState::new();
    /// let ttl = Duration::from_secs(60);
    /// assert!(state.claim("acme", "ann@old.example", "host-a", ttl).await?);
    /// assert!(!state.claim("acme", "ann@old.example", "host-b", ttl).await?);
    /// state.release("acme", "ann@old.example", "host-a").await?;
    /// assert!(state.claim("acme", "ann@old.example", "host-b", ttl).await?);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As the backing store reports.
    async fn claim(
        &self,
        campaign: &str,
        mailbox: &str,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let _ = (campaign, mailbox, worker, ttl);
        Ok(true)
    }

    /// Gives up `worker`'s lease on `mailbox`; nothing happens if another worker holds it
    /// (or nobody does). The provided implementation does nothing.
    ///
    /// # Errors
    /// As the backing store reports.
    async fn release(&self, campaign: &str, mailbox: &str, worker: &str) -> Result<()> {
        let _ = (campaign, mailbox, worker);
        Ok(())
    }

    /// Holds the worker name `worker` in `campaign` for this process, for as long as the
    /// returned [`WorkerHold`] lives (see the contract). [`CampaignRunner`] takes its
    /// name's hold before its first claim and keeps it while it lives.
    ///
    /// How each store holds a name: [`MemoryState`](crate::state::MemoryState) in the
    /// object itself; [`SqliteState`](crate::state::SqliteState) by an exclusive lock on a
    /// file beside the database (`<file>-worker-<name>.lock`); `PostgresState` by a
    /// session advisory lock on a connection of its own, which the server drops with the
    /// connection when the process dies. The provided implementation holds nothing (every
    /// hold is granted): right only for a store one process uses.
    ///
    /// [`CampaignRunner`]: super::CampaignRunner
    ///
    /// ```
    /// use mailmigrate_core::campaign::CampaignStore;
    /// use mailmigrate_core::state::MemoryState;
    /// use mailmigrate_core::ErrorKind;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> mailmigrate_core::Result<()> {
    /// let state = MemoryState::new();
    /// let hold = state.hold_worker("acme", "host-a").await?;
    /// let twin = state.hold_worker("acme", "host-a").await.unwrap_err();
    /// assert_eq!(twin.kind(), ErrorKind::Conflict);
    /// drop(hold);
    /// assert!(state.hold_worker("acme", "host-a").await?.is_held());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// `Conflict` when another holder has the name; otherwise as the backing store
    /// reports.
    async fn hold_worker(&self, campaign: &str, worker: &str) -> Result<WorkerHold> {
        let _ = (campaign, worker);
        Ok(WorkerHold::unguarded())
    }
}

/// What keeps a [`WorkerHold`] in force: a lock, a connection, an entry in a table. The
/// hold ends when it is dropped.
///
/// A store implementing [`CampaignStore::hold_worker`] returns one inside a
/// [`WorkerHold`].
pub trait NameGuard: Send + Sync + 'static {
    /// Whether the hold is still in force. A guard whose hold can end on its own (a
    /// database session that dropped) says so here; the runner then takes the name anew
    /// before it claims again, and stops driving when another process has it.
    fn is_held(&self) -> bool {
        true
    }
}

/// A process's hold on a worker name, from [`CampaignStore::hold_worker`]; dropped, the
/// name is free again.
///
/// ```
/// use mailmigrate_core::campaign::{NameGuard, WorkerHold};
/// struct Always;
/// impl NameGuard for Always {}
/// assert!(WorkerHold::new(Always).is_held());
/// assert!(WorkerHold::unguarded().is_held());
/// ```
pub struct WorkerHold(Option<Box<dyn NameGuard>>);

impl WorkerHold {
    /// A hold kept in force by `guard`.
    pub fn new(guard: impl NameGuard) -> Self {
        Self(Some(Box::new(guard)))
    }

    /// A hold that guards nothing: what a store used by one process alone returns.
    pub fn unguarded() -> Self {
        Self(None)
    }

    /// Whether the hold is still in force ([`NameGuard::is_held`]).
    pub fn is_held(&self) -> bool {
        self.0.as_ref().is_none_or(|g| g.is_held())
    }
}

impl std::fmt::Debug for WorkerHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerHold")
            .field("guarded", &self.0.is_some())
            .field("held", &self.is_held())
            .finish()
    }
}

/// Worker names held in this process: [`CampaignStore::hold_worker`] for a store that
/// lives in one process (the in-memory state).
#[derive(Debug, Default, Clone)]
pub(crate) struct HeldNames(Arc<Mutex<HashSet<(String, String)>>>);

impl HeldNames {
    /// Holds `worker` in `campaign` until the hold drops.
    pub(crate) fn hold(&self, campaign: &str, worker: &str) -> Result<WorkerHold> {
        let key = (campaign.to_owned(), worker.to_owned());
        if !self.names().insert(key.clone()) {
            return Err(worker_taken(campaign, worker));
        }
        Ok(WorkerHold::new(HeldName {
            names: self.clone(),
            key,
        }))
    }

    fn names(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One entry of [`HeldNames`], removed when dropped.
struct HeldName {
    names: HeldNames,
    key: (String, String),
}

impl NameGuard for HeldName {}

impl Drop for HeldName {
    fn drop(&mut self) {
        self.names.names().remove(&self.key);
    }
}

/// The `Conflict` of [`CampaignStore::hold_worker`] when another holder has `worker`.
pub(crate) fn worker_taken(campaign: &str, worker: &str) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "another process drives this campaign as worker {worker:?}: wait for it, or run \
             this one under another worker name"
        ),
    )
    .with_operation(Operation::State)
    .with_context("campaign", campaign)
    .with_context("worker", worker)
}

/// The compare-and-set rule of [`CampaignStore::apply`]: `stored` is the stage the store
/// holds for the mailbox (`None` = no row).
///
/// ```
/// use mailmigrate_core::campaign::{check_apply, MailboxStatus, Stage};
/// use time::macros::datetime;
/// let t = datetime!(2025-01-01 0:00 UTC);
/// let mut s = MailboxStatus::new("a@x.example", "a@y.example", "b", t);
/// assert!(check_apply("c", None, &s, Some(&s.entered())).is_ok());
/// let moved = s.advance(Stage::Syncing, t).unwrap();
/// assert!(check_apply("c", Some(Stage::Queued), &s, Some(&moved)).is_ok());
/// assert!(check_apply("c", Some(Stage::Synced), &s, Some(&moved)).is_err());
/// ```
///
/// # Errors
/// `Conflict` naming the campaign and mailbox when the move does not start from `stored`,
/// or the transition is about another mailbox or stage than the status.
pub fn check_apply(
    campaign: &str,
    stored: Option<Stage>,
    status: &MailboxStatus,
    transition: Option<&Transition>,
) -> Result<()> {
    let conflict = |what: String| {
        Err(Error::new(ErrorKind::Conflict, what)
            .with_operation(Operation::State)
            .with_context("campaign", campaign)
            .with_context("mailbox", &status.mailbox))
    };
    match transition {
        Some(t) if t.mailbox != status.mailbox || t.to != status.stage => conflict(format!(
            "the transition ({t}) does not lead to the status stored with it ({})",
            status.stage
        )),
        Some(t) if t.from != stored => conflict(format!(
            "mailbox {} moved meanwhile: stored as {}, the transition starts from {}",
            status.mailbox,
            stored.map_or_else(|| "absent".to_owned(), |s| s.to_string()),
            t.from
                .map_or_else(|| "absent".to_owned(), |s| s.to_string()),
        )),
        None if stored != Some(status.stage) => conflict(format!(
            "mailbox {} is stored as {}, not {}: its counts cannot be updated without a \
             transition",
            status.mailbox,
            stored.map_or_else(|| "absent".to_owned(), |s| s.to_string()),
            status.stage
        )),
        _ => Ok(()),
    }
}

#[async_trait]
impl<T: CampaignStore + ?Sized> CampaignStore for std::sync::Arc<T> {
    async fn campaign(&self, name: &str) -> Result<Option<CampaignRecord>> {
        (**self).campaign(name).await
    }
    async fn put_campaign(&self, record: &CampaignRecord) -> Result<()> {
        (**self).put_campaign(record).await
    }
    async fn apply(
        &self,
        campaign: &str,
        status: &MailboxStatus,
        transition: Option<&Transition>,
    ) -> Result<()> {
        (**self).apply(campaign, status, transition).await
    }
    async fn mailbox(&self, campaign: &str, mailbox: &str) -> Result<Option<MailboxStatus>> {
        (**self).mailbox(campaign, mailbox).await
    }
    async fn mailboxes(&self, campaign: &str) -> Result<Vec<MailboxStatus>> {
        (**self).mailboxes(campaign).await
    }
    async fn history(&self, campaign: &str, mailbox: &str) -> Result<Vec<Transition>> {
        (**self).history(campaign, mailbox).await
    }
    async fn claim(
        &self,
        campaign: &str,
        mailbox: &str,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool> {
        (**self).claim(campaign, mailbox, worker, ttl).await
    }
    async fn release(&self, campaign: &str, mailbox: &str, worker: &str) -> Result<()> {
        (**self).release(campaign, mailbox, worker).await
    }
    async fn hold_worker(&self, campaign: &str, worker: &str) -> Result<WorkerHold> {
        (**self).hold_worker(campaign, worker).await
    }
}

//! Durable campaign state, kept in the same store as the sync engine's ledger.
//!
//! [`CampaignStore`] is a sibling of [`StateStore`] (it extends it), implemented by
//! [`MemoryState`](crate::state::MemoryState) and [`SqliteState`](crate::state::SqliteState):
//! one state file resumes both the campaign and every mailbox's copy. Why a sibling trait
//! and not new `StateStore` methods is in `docs/decisions/0013-campaign-state.md`.

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
}

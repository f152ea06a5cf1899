//! Migration campaigns: many mailboxes moved by a plan, in batches, with a pilot, a
//! backup before the first copy, a strategy, a grace period after the switch, and a
//! status for every mailbox that survives restarts.
//!
//! - [`plan`](CampaignPlan): mailbox pairs, batches, strategy, rules, limits, and
//!   [`validate`](CampaignPlan::validate) listing every mistake at once;
//! - [`status`](MailboxStatus): each mailbox's [`Stage`] and the moves allowed between
//!   stages;
//! - [`state`](CampaignStore): the campaign's record, statuses and history, in the same
//!   store as the engine's ledger;
//! - [`stores`](MailboxStores): what each mailbox is read from, written to and backed up
//!   to, opened by a [`StoreFactory`] when the runner gets to it;
//! - [`survey`](survey_campaign): the inventory of each mailbox (folders, volumes, a
//!   size histogram, contacts and events) and the preflight against the destination's
//!   limits, before any data moves;
//! - [`runner`](CampaignRunner): drives the plan — backup, then sync, the pilot first,
//!   at most N mailboxes at once, one mailbox's failure recorded on it alone;
//! - [`backup`](BackupManifest): what each mailbox's backup holds (counts and digests,
//!   read back from the backup store), and [`verify_backup`];
//! - [`restore`](Restore): a mailbox back from its backup, the same engine in reverse;
//! - [`report`]: the final report, one self-contained HTML page and its JSON
//!   ([`CampaignReport`](report::CampaignReport)).
//! - [`permissions`]: the permissions review after the move — delegations and folder
//!   ACLs, source against destination, grantees mapped through the plan;
//! - [`probe`]: the send-and-receive probe — a test message sent through the
//!   destination's submission path and looked for in the mailbox;
//! - `dns` (feature `dns`): whether each domain's MX, SPF, autodiscover and autoconfig
//!   records are ready for the switch, and after it whether mail goes to the destination.
//!
//! # Example
//! A staged campaign of two mailboxes on in-memory stores: the pilot, then the rest, then
//! the switch and the grace period.
//! ```
//! use std::sync::Arc;
//! use mailmigrate_core::campaign::*;
//! use mailmigrate_core::directory::{Account, Inventory};
//! use mailmigrate_core::state::MemoryState;
//! use mailmigrate_core::store::MemoryStore;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let inventory = Inventory::new(vec![Account::new("ann@old.example"), Account::new("bo@old.example")]);
//! let plan = CampaignPlan::new("acme", Strategy::Staged)
//!     .with_rewrite(DomainRewrite::new("old.example", "new.example"))
//!     .with_grace_period(std::time::Duration::ZERO)
//!     .with_batch(Batch::new("pilot", ["ann@old.example"]).with_pilot(true))
//!     .with_batch(Batch::new("rest", ["bo@old.example"]))
//!     .validate(&inventory)?;
//! let stores = |_: &MailboxPair| {
//!     Ok(MailboxStores::new(Arc::new(MemoryStore::new("old")), Arc::new(MemoryStore::new("new"))))
//! };
//! let runner = CampaignRunner::open(plan, Arc::new(MemoryState::new()), Arc::new(stores)).await?;
//! let report = runner.run().await?;
//! assert_eq!(report.synced.len(), 2);
//! for batch in ["pilot", "rest"] {
//!     runner.finalise(batch).await?;
//! }
//! assert!(runner.status().await?.counts().is_done());
//! # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
//! ```

mod backup;
#[cfg(feature = "dns")]
pub mod dns;
mod duration;
pub mod permissions;
mod plan;
pub mod probe;
pub mod report;
mod restore;
mod runner;
mod state;
mod status;
mod stores;
mod survey;

pub use backup::{verify_backup, BackupManifest, Difference, FolderManifest, FETCH_BATCH};
pub use plan::{
    AddressMapping, BackupPlan, Batch, CampaignPlan, DomainRewrite, Limits, MailboxPair,
    PairOverride, PlanError, Problem, Strategy, ValidPlan, Window,
};
pub use restore::{restore, restore_job, Restore, RestoreReport};
pub use runner::{CampaignRunner, PassReport, RunnerOptions};
pub use state::{check_apply, CampaignRecord, CampaignStore, NameGuard, WorkerHold};
pub(crate) use state::{worker_taken, HeldNames};
pub use status::{
    BatchStatus, CampaignStatus, Failure, MailboxCounts, MailboxStatus, Stage, StageCounts,
    Transition, TransitionError,
};
pub use stores::{MailboxStores, PimStores, RegistryStores, StoreFactory};
pub use survey::{
    survey_campaign, survey_mailbox, CampaignSurvey, CollectionSurvey, Finding, FolderSurvey,
    MailboxSurvey, PreflightItem, SizeBucket, SizeHistogram, SurveyOptions,
};

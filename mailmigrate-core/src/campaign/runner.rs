//! Driving a campaign: for each mailbox of a batch, the backup, then the copy, at most N
//! mailboxes at once, the pilot first; every move recorded in the [`CampaignStore`].
//!
//! The runner holds no state of its own that matters: drop it at any point (a killed
//! process), open a new one over the same store, and it continues where the store says
//! each mailbox was. A step interrupted mid-way is run again, which the engine's ledger
//! makes safe (nothing already written is written twice).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use time::OffsetDateTime;
use tracing::Instrument;

use super::backup::BackupManifest;
use super::plan::{MailboxPair, Strategy, ValidPlan};
use super::state::{CampaignRecord, CampaignStore, WorkerHold};
use super::status::{
    BatchStatus, CampaignStatus, Failure, MailboxStatus, Stage, StageCounts, Transition,
};
use super::stores::{MailboxStores, StoreFactory};
use crate::engine::{Engine, SyncOptions, SyncReport};
use crate::layer::RetryConfig;
use crate::pim::sync::{PimReport, PimSync};
use crate::state::{ItemFailure, StateStore};
use crate::verify::{verify, FolderPair, FolderRef, VerifyOptions};
use crate::{Destination, Error, ErrorKind, Operation, Result, Source};

/// The clock a runner reads (tests move it; the default is the system's).
type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// How a runner runs each mailbox's passes.
///
/// ```
/// use mailmigrate_core::campaign::RunnerOptions;
/// use mailmigrate_core::engine::SyncOptions;
/// let o = RunnerOptions::default().with_sync(SyncOptions::default().with_batch_size(64));
/// assert!(o.verify);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunnerOptions {
    /// The engine options every pass starts from; the runner sets the job name, folder
    /// mapping and filter per mailbox from the plan.
    pub sync: SyncOptions,
    /// The retry policy around each store (`None`: no retries).
    pub retry: Option<RetryConfig>,
    /// Whether `finalise` compares source and destination at the end of the grace period
    /// (default true). Batches with a message filter are not compared: what the filter
    /// leaves out would be reported missing.
    pub verify: bool,
    /// How long a mailbox's lease ([`CampaignStore::claim`]) lasts without renewal
    /// (default 2 minutes). The runner renews it every third of that while it drives the
    /// mailbox; a killed runner's mailboxes wait this long before another runner takes
    /// them.
    pub lease_ttl: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            sync: SyncOptions::default(),
            retry: Some(RetryConfig::default()),
            verify: true,
            lease_ttl: Duration::from_secs(120),
        }
    }
}

impl RunnerOptions {
    /// Sets the engine options every pass starts from.
    #[must_use]
    pub fn with_sync(mut self, sync: SyncOptions) -> Self {
        self.sync = sync;
        self
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: Option<RetryConfig>) -> Self {
        self.retry = retry;
        self
    }

    /// Sets whether `finalise` compares source and destination.
    #[must_use]
    pub fn with_verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// Sets how long a mailbox's lease lasts without renewal (at least 30 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mailmigrate_core::campaign::RunnerOptions;
    /// let o = RunnerOptions::default().with_lease_ttl(Duration::from_secs(30));
    /// assert_eq!(o.lease_ttl, Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(30));
        self
    }
}

/// What one call of the runner did.
///
/// ```
/// use mailmigrate_core::campaign::PassReport;
/// let r = PassReport::default();
/// assert!(r.is_clean());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PassReport {
    /// Mailboxes that reached [`Stage::Synced`] (or stayed there after a delta pass).
    pub synced: Vec<String>,
    /// Mailboxes finalising: switched, grace period not over.
    pub finalising: Vec<String>,
    /// Mailboxes validated.
    pub validated: Vec<String>,
    /// Mailboxes that failed, with why.
    pub failed: Vec<(String, Failure)>,
    /// Batches that did not start because the pilot failed and the plan says it blocks.
    pub blocked: Vec<String>,
    /// Batches that did not start because the pilot is not done yet, their window is not
    /// open, or (staged) an earlier batch has not finished.
    pub waiting: Vec<String>,
    /// Mailboxes left alone because they are paused (or the campaign is).
    pub paused: Vec<String>,
    /// Mailboxes left alone because another runner holds their lease (drives them now).
    pub busy: Vec<String>,
    /// Messages written to destinations.
    pub copied: u64,
}

impl PassReport {
    /// Whether nothing failed, was blocked, is waiting or was busy with another runner.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty()
            && self.blocked.is_empty()
            && self.waiting.is_empty()
            && self.busy.is_empty()
    }

    fn absorb(&mut self, o: Outcome) {
        match o {
            Outcome::Synced { key, copied } => {
                self.copied += copied;
                self.synced.push(key);
            }
            Outcome::Finalising { key, copied } => {
                self.copied += copied;
                self.finalising.push(key);
            }
            Outcome::Validated { key, copied } => {
                self.copied += copied;
                self.validated.push(key);
            }
            Outcome::Failed(key, f) => self.failed.push((key, f)),
            Outcome::Paused(key) => self.paused.push(key),
            Outcome::Busy(key) => self.busy.push(key),
            Outcome::Skipped => {}
        }
    }
}

/// What driving one mailbox came to.
enum Outcome {
    Synced {
        key: String,
        copied: u64,
    },
    Finalising {
        key: String,
        copied: u64,
    },
    Validated {
        key: String,
        copied: u64,
    },
    Failed(String, Failure),
    Paused(String),
    /// Another runner holds the mailbox's lease.
    Busy(String),
    Skipped,
}

/// Drives a validated campaign plan over the stores a [`StoreFactory`] opens, recording
/// every mailbox's moves in a [`CampaignStore`].
///
/// - [`run`](Self::run) takes every mailbox whose batch may start to
///   [`Stage::Synced`]: the backup first (once), then the copy; the pilot batch first, the
///   others only once it is done (and, when the plan says a failed pilot blocks, only if
///   none of it failed); `staged` runs the batches one after another, `cutover` and
///   `coexistence` all the others together after the pilot. Batch windows are honoured.
/// - [`delta_pass`](Self::delta_pass) runs one more pass on every synced mailbox (what
///   `coexistence` repeats every [`interval`](Strategy::Coexistence)).
/// - [`finalise`](Self::finalise) runs the grace-period passes of a batch after its
///   switch, and validates each mailbox once the grace period is over.
/// - [`pause`](Self::pause), [`resume`](Self::resume) and
///   [`retry_failed`](Self::retry_failed) are the operator's controls.
///
/// A mailbox whose step fails (credentials refused, destination full) is recorded
/// [`Stage::Failed`] with its reason; the others go on.
///
/// Several runners (on several machines) may drive one campaign over a shared store
/// (`PostgresState`): each claims a mailbox's lease ([`CampaignStore::claim`]) before it
/// drives it and renews it meanwhile, so no mailbox is driven by two at once; a mailbox
/// another runner holds is reported [`busy`](PassReport::busy). Give each runner its own
/// [`worker`](Self::with_worker) name. Errors returned by the runner's
/// own calls are about the campaign (its state store), never about one mailbox.
///
/// See the [module example](super) for a whole campaign.
pub struct CampaignRunner {
    plan: Arc<ValidPlan>,
    state: Arc<dyn CampaignStore>,
    stores: Arc<dyn StoreFactory>,
    options: RunnerOptions,
    clock: Clock,
    /// The name this runner claims mailboxes under.
    worker: String,
    /// This process's hold on that name ([`CampaignStore::hold_worker`]), taken before the
    /// first claim.
    hold: tokio::sync::Mutex<Option<WorkerHold>>,
}

impl fmt::Debug for CampaignRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CampaignRunner")
            .field("campaign", &self.plan.name())
            .field("state", &self.state)
            .field("options", &self.options)
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl CampaignRunner {
    /// Opens the campaign in `state`: starts it if it is new (every mailbox queued), or
    /// picks it up where it was.
    ///
    /// # Errors
    /// `ConfigInvalid` when the stored campaign was started with another plan (its
    /// [`hash`](ValidPlan::hash) differs: mailboxes may have moved between batches);
    /// errors of the state store.
    pub async fn open(
        plan: ValidPlan,
        state: Arc<dyn CampaignStore>,
        stores: Arc<dyn StoreFactory>,
    ) -> Result<Self> {
        let runner = Self {
            plan: Arc::new(plan),
            state,
            stores,
            options: RunnerOptions::default(),
            clock: Arc::new(OffsetDateTime::now_utc),
            worker: format!("runner-{:016x}", rand::random::<u64>()),
            hold: tokio::sync::Mutex::new(None),
        };
        runner.start().await?;
        Ok(runner)
    }

    /// Sets how passes run.
    #[must_use]
    pub fn with_options(mut self, options: RunnerOptions) -> Self {
        self.options = options;
        self
    }

    /// Reads time from `clock` instead of the system clock (windows and the grace period
    /// are judged by it, and transitions are stamped with it).
    #[must_use]
    pub fn with_clock(
        mut self,
        clock: impl Fn() -> OffsetDateTime + Send + Sync + 'static,
    ) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sets the name this runner claims mailbox leases under (default: `runner-` and a
    /// random number, new for each runner). A runner restarted under the name its killed
    /// predecessor had takes that one's mailboxes back at once, not when their leases run
    /// out. Two live runners cannot share a name: the runner holds its name
    /// ([`CampaignStore::hold_worker`]) from its first claim for as long as it lives, and
    /// a second runner under the name gets `Conflict` from the pass it starts.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use mailmigrate_core::campaign::*;
    /// # use mailmigrate_core::directory::{Account, Inventory};
    /// # use mailmigrate_core::state::MemoryState;
    /// # use mailmigrate_core::store::MemoryStore;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let inventory = Inventory::new(vec![Account::new("ann@old.example")]);
    /// # let plan = CampaignPlan::new("acme", Strategy::Cutover)
    /// #     .with_batch(Batch::new("all", ["ann@old.example"])).validate(&inventory)?;
    /// # let stores = |_: &MailboxPair| {
    /// #     Ok(MailboxStores::new(Arc::new(MemoryStore::new("old")), Arc::new(MemoryStore::new("new"))))
    /// # };
    /// let runner = CampaignRunner::open(plan, Arc::new(MemoryState::new()), Arc::new(stores))
    ///     .await?
    ///     .with_worker("host-a");
    /// assert_eq!(runner.worker(), "host-a");
    /// # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
    /// ```
    #[must_use]
    pub fn with_worker(mut self, worker: impl Into<String>) -> Self {
        self.worker = worker.into();
        self
    }

    /// The name this runner claims mailbox leases under.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// The plan it runs.
    pub fn plan(&self) -> &ValidPlan {
        &self.plan
    }

    /// The job name of a mailbox's copy in the state store (`"<campaign>/<mailbox>"`); its
    /// backup's is the same with `#backup`.
    ///
    /// ```
    /// use mailmigrate_core::campaign::CampaignRunner;
    /// assert_eq!(CampaignRunner::job_of("acme", "ann@old.example"), "acme/ann@old.example");
    /// ```
    pub fn job_of(campaign: &str, mailbox: &str) -> String {
        format!("{campaign}/{mailbox}")
    }

    fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    fn name(&self) -> &str {
        self.plan.name()
    }

    async fn start(&self) -> Result<()> {
        let now = self.now();
        match self.state.campaign(self.name()).await? {
            Some(r) if r.plan_hash != self.plan.hash() => {
                return Err(Error::new(
                    ErrorKind::ConfigInvalid,
                    format!(
                        "campaign `{}` was started with another plan (digest {}; this plan's \
                         is {}): a campaign keeps its plan; start a new campaign under \
                         another name to change it",
                        self.name(),
                        r.plan_hash,
                        self.plan.hash()
                    ),
                )
                .with_operation(Operation::Plan)
                .with_context("campaign", self.name()));
            }
            Some(_) => {}
            None => {
                self.state
                    .put_campaign(&CampaignRecord::new(self.name(), self.plan.hash(), now))
                    .await?;
            }
        }
        for pair in self.plan.pairs() {
            if self
                .state
                .mailbox(self.name(), &pair.key())
                .await?
                .is_none()
            {
                let st = MailboxStatus::new(pair.key(), &pair.destination, &pair.batch, now);
                // A runner opening the campaign at the same time entered it first.
                self.save_racy(&st, &st.entered()).await?;
            }
        }
        Ok(())
    }

    /// Where the campaign stands: every batch and mailbox.
    ///
    /// # Errors
    /// Errors of the state store.
    pub async fn status(&self) -> Result<CampaignStatus> {
        let record = self.record().await?;
        let stored = self.state.mailboxes(self.name()).await?;
        let mut mailboxes = Vec::with_capacity(stored.len());
        for pair in self.plan.pairs() {
            if let Some(s) = stored.iter().find(|s| s.mailbox == pair.key()) {
                mailboxes.push(s.clone());
            }
        }
        let blocked = self.pilot_blocks(&mailboxes);
        let batches = self
            .plan
            .batches_in_order()
            .map(|b| {
                let mut counts = StageCounts::default();
                for m in mailboxes.iter().filter(|m| m.batch == b.name) {
                    counts.add(m.stage);
                }
                BatchStatus {
                    name: b.name.clone(),
                    pilot: b.pilot,
                    counts,
                    blocked: blocked && !b.pilot,
                }
            })
            .collect();
        Ok(CampaignStatus {
            name: self.name().to_owned(),
            paused: record.paused,
            batches,
            mailboxes,
        })
    }

    /// A mailbox's moves, oldest first.
    ///
    /// # Errors
    /// Errors of the state store.
    pub async fn history(&self, mailbox: &str) -> Result<Vec<Transition>> {
        self.state
            .history(self.name(), &crate::directory::address_key(mailbox))
            .await
    }

    /// The items of a mailbox's copy that the engine recorded as not migrated, with their
    /// reasons: refused for good ([`final_for_item`](ItemFailure::final_for_item), skipped by
    /// later passes) or to be tried again on the next pass.
    ///
    /// # Errors
    /// Errors of the state store.
    pub async fn item_failures(&self, mailbox: &str) -> Result<Vec<ItemFailure>> {
        let key = crate::directory::address_key(mailbox);
        self.state.failures(&Self::job_of(self.name(), &key)).await
    }

    async fn record(&self) -> Result<CampaignRecord> {
        self.state.campaign(self.name()).await?.ok_or_else(|| {
            Error::new(ErrorKind::StateCorrupt, "the campaign's record is gone")
                .with_operation(Operation::State)
                .with_context("campaign", self.name())
        })
    }

    /// Whether a failed pilot keeps the other batches from starting.
    fn pilot_blocks(&self, mailboxes: &[MailboxStatus]) -> bool {
        let Some(pilot) = self.plan.pilot() else {
            return false;
        };
        pilot.pilot_blocks
            && mailboxes
                .iter()
                .any(|m| m.batch == pilot.name && m.stage == Stage::Failed)
    }

    /// Whether every pilot mailbox is past its first copy (failed ones count as done when
    /// the pilot does not block).
    fn pilot_done(&self, mailboxes: &[MailboxStatus]) -> bool {
        let Some(pilot) = self.plan.pilot() else {
            return true;
        };
        mailboxes.iter().filter(|m| m.batch == pilot.name).all(|m| {
            matches!(
                m.stage,
                Stage::Synced | Stage::Finalising | Stage::Validated
            ) || (m.stage == Stage::Failed && !pilot.pilot_blocks)
        })
    }

    /// Takes every mailbox whose batch may start to [`Stage::Synced`] (see the type's
    /// docs for the order). Mailboxes already synced, failed or paused are left alone;
    /// mailboxes a killed run left mid-step continue that step.
    ///
    /// # Errors
    /// Errors of the state store (a mailbox's own failure is in the report).
    pub async fn run(&self) -> Result<PassReport> {
        let mut report = PassReport::default();
        if self.record().await?.paused {
            report.paused = self.plan.pairs().iter().map(MailboxPair::key).collect();
            return Ok(report);
        }
        let batches: Vec<&super::Batch> = self.plan.batches_in_order().collect();
        let staged = self.plan.plan().strategy == Strategy::Staged;
        let mut earlier_done = true;
        let mut group: Vec<&str> = Vec::new();
        for batch in &batches {
            let now = self.now();
            if batch.window.is_some_and(|w| !w.contains(now)) || (staged && !earlier_done) {
                report.waiting.push(batch.name.clone());
                earlier_done = false;
                continue;
            }
            if !batch.pilot {
                let statuses = self.state.mailboxes(self.name()).await?;
                if self.pilot_blocks(&statuses) {
                    report.blocked.push(batch.name.clone());
                    continue;
                }
                if !self.pilot_done(&statuses) {
                    report.waiting.push(batch.name.clone());
                    continue;
                }
            }
            group.push(&batch.name);
            // Staged: one batch at a time; otherwise the pilot alone, then the rest at once.
            if staged || batch.pilot {
                earlier_done = self.drive_batches(&group, &mut report).await?;
                group.clear();
            }
        }
        if !group.is_empty() {
            self.drive_batches(&group, &mut report).await?;
        }
        Ok(report)
    }

    /// First copies of every mailbox of `batches`; whether each of them is then past its
    /// first copy (synced or failed).
    async fn drive_batches(&self, batches: &[&str], report: &mut PassReport) -> Result<bool> {
        let pairs: Vec<&MailboxPair> = batches
            .iter()
            .flat_map(|name| self.plan.members(name))
            .collect();
        self.drive_all(&pairs, Goal::Sync, report).await?;
        let statuses = self.state.mailboxes(self.name()).await?;
        Ok(statuses
            .iter()
            .filter(|m| batches.contains(&m.batch.as_str()))
            .all(|m| !matches!(m.stage, Stage::Queued | Stage::Paused) && !m.stage.is_active()))
    }

    /// Runs the first copy of one batch now (its window and the pilot rule still apply).
    ///
    /// # Errors
    /// `NotFound` for a batch the plan does not have; `ConfigInvalid` when the batch's
    /// window is not open or the pilot blocks or has not finished; errors of the state
    /// store.
    pub async fn run_batch(&self, batch: &str) -> Result<PassReport> {
        let b = self.batch(batch)?;
        let mut report = PassReport::default();
        if self.record().await?.paused {
            report.paused = self.plan.members(batch).map(MailboxPair::key).collect();
            return Ok(report);
        }
        if let Some(w) = b.window {
            let now = self.now();
            if !w.contains(now) {
                return Err(self.refuse(
                    batch,
                    format!("its window is {} to {}, not now ({now})", w.start, w.end),
                ));
            }
        }
        if !b.pilot {
            let statuses = self.state.mailboxes(self.name()).await?;
            if self.pilot_blocks(&statuses) {
                return Err(self.refuse(
                    batch,
                    "the pilot failed, and the plan says a failed pilot blocks the rest".to_owned(),
                ));
            }
            if !self.pilot_done(&statuses) {
                return Err(self.refuse(batch, "the pilot has not finished".to_owned()));
            }
        }
        let pairs: Vec<&MailboxPair> = self.plan.members(batch).collect();
        self.drive_all(&pairs, Goal::Sync, &mut report).await?;
        Ok(report)
    }

    /// Runs one more pass on every synced mailbox: the delta that `coexistence` repeats on
    /// its interval, or a presync's catch-up before a cutover.
    ///
    /// # Errors
    /// Errors of the state store.
    pub async fn delta_pass(&self) -> Result<PassReport> {
        let mut report = PassReport::default();
        if self.record().await?.paused {
            return Ok(report);
        }
        let pairs: Vec<&MailboxPair> = self.plan.pairs().iter().collect();
        self.drive_all(&pairs, Goal::Delta, &mut report).await?;
        Ok(report)
    }

    /// After batch `batch` was switched to the destination: runs a grace-period pass on
    /// each of its synced or finalising mailboxes, and validates those whose grace period
    /// ([`CampaignPlan::grace_period`](super::CampaignPlan::grace_period), counted from the
    /// first call) is over. Call it repeatedly during the grace period.
    ///
    /// # Errors
    /// `NotFound` for a batch the plan does not have; errors of the state store.
    pub async fn finalise(&self, batch: &str) -> Result<PassReport> {
        self.batch(batch)?;
        let mut report = PassReport::default();
        if self.record().await?.paused {
            return Ok(report);
        }
        let pairs: Vec<&MailboxPair> = self.plan.members(batch).collect();
        self.drive_all(&pairs, Goal::Finalise, &mut report).await?;
        Ok(report)
    }

    /// Pauses the campaign: no mailbox starts a step until [`resume`](Self::resume);
    /// mailboxes between steps are marked paused now, those mid-step when they finish it.
    ///
    /// # Errors
    /// Errors of the state store.
    pub async fn pause(&self) -> Result<()> {
        let mut record = self.record().await?;
        record.paused = true;
        record.updated = self.now();
        self.state.put_campaign(&record).await?;
        for mut st in self.state.mailboxes(self.name()).await? {
            if matches!(st.stage, Stage::Queued | Stage::Synced) {
                let t = st.pause(self.now())?;
                self.save_racy(&st, &t).await?;
            }
        }
        Ok(())
    }

    /// Resumes a paused campaign: each paused mailbox returns to the stage it was paused
    /// in, and the next [`run`](Self::run) carries on.
    ///
    /// # Errors
    /// Errors of the state store.
    pub async fn resume(&self) -> Result<()> {
        let mut record = self.record().await?;
        record.paused = false;
        record.updated = self.now();
        self.state.put_campaign(&record).await?;
        for mut st in self.state.mailboxes(self.name()).await? {
            if st.stage == Stage::Paused {
                let t = st.resume(self.now())?;
                self.save_racy(&st, &t).await?;
            }
        }
        Ok(())
    }

    /// Queues every failed mailbox again and runs it to [`Stage::Synced`] (its backup is
    /// not repeated once done). A mailbox that failed while finalising is then finalised
    /// by the next [`finalise`](Self::finalise).
    ///
    /// # Errors
    /// Errors of the state store.
    pub async fn retry_failed(&self) -> Result<PassReport> {
        let mut report = PassReport::default();
        if self.record().await?.paused {
            return Ok(report);
        }
        let mut retried = Vec::new();
        for mut st in self.state.mailboxes(self.name()).await? {
            if st.stage == Stage::Failed {
                let t = st.retry(self.now())?;
                // Another runner retrying it too: it is queued either way.
                self.save_racy(&st, &t).await?;
                retried.push(st.mailbox);
            }
        }
        let pairs: Vec<&MailboxPair> = self
            .plan
            .pairs()
            .iter()
            .filter(|p| retried.contains(&p.key()))
            .collect();
        self.drive_all(&pairs, Goal::Sync, &mut report).await?;
        Ok(report)
    }

    fn batch(&self, name: &str) -> Result<&super::Batch> {
        self.plan.batch(name).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("the plan has no batch `{name}`"),
            )
            .with_operation(Operation::Plan)
            .with_context("campaign", self.name())
            .with_context("batch", name)
        })
    }

    fn refuse(&self, batch: &str, why: String) -> Error {
        Error::new(
            ErrorKind::ConfigInvalid,
            format!("batch `{batch}` cannot start: {why}"),
        )
        .with_operation(Operation::Plan)
        .with_context("campaign", self.name())
        .with_context("batch", batch)
    }

    /// Drives `pairs` towards `goal`, at most `mailboxes_in_parallel` at once.
    async fn drive_all(
        &self,
        pairs: &[&MailboxPair],
        goal: Goal,
        report: &mut PassReport,
    ) -> Result<()> {
        let limit = self.plan.plan().limits.mailboxes_in_parallel.max(1);
        let outcomes: Vec<Result<Outcome>> = stream::iter(pairs.iter().copied())
            .map(|pair| {
                let span =
                    tracing::info_span!("mailbox", campaign = %self.name(), mailbox = %pair.key());
                self.drive(pair, goal).instrument(span)
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        let mut first_err = None;
        for o in outcomes {
            match o {
                Ok(o) => report.absorb(o),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let order = |key: &String| self.plan.pairs().iter().position(|p| &p.key() == key);
        report.synced.sort_by_key(order);
        report.finalising.sort_by_key(order);
        report.validated.sort_by_key(order);
        report.failed.sort_by_key(|(k, _)| order(k));
        first_err.map_or(Ok(()), Err)
    }

    async fn save(&self, st: &MailboxStatus, t: Option<&Transition>) -> Result<()> {
        self.state.apply(self.name(), st, t).await
    }

    /// Saves a move made by an operator's control; a mailbox that moved meanwhile (a run
    /// took it on) keeps its new stage.
    async fn save_racy(&self, st: &MailboxStatus, t: &Transition) -> Result<()> {
        match self.save(st, Some(t)).await {
            Err(e) if e.kind() == ErrorKind::Conflict => Ok(()),
            other => other,
        }
    }

    async fn step(&self, st: &mut MailboxStatus, to: Stage, note: Option<&str>) -> Result<()> {
        let t = st.advance(to, self.now())?;
        let t = match note {
            Some(n) => t.with_reason(n),
            None => t,
        };
        self.save(st, Some(&t)).await
    }

    async fn fail(&self, st: &mut MailboxStatus, failure: Failure) -> Result<Outcome> {
        tracing::warn!(campaign = %self.name(), mailbox = %st.mailbox, %failure, "mailbox failed");
        let t = st.fail(failure.clone(), self.now())?;
        self.save(st, Some(&t)).await?;
        Ok(Outcome::Failed(st.mailbox.clone(), failure))
    }

    /// Drives one mailbox as far as `goal` asks, holding its lease meanwhile. `Err` only
    /// for the state store.
    async fn drive(&self, pair: &MailboxPair, goal: Goal) -> Result<Outcome> {
        let key = pair.key();
        // Nothing to do needs no lease (the common case of a pass over settled mailboxes).
        if let Some(st) = self.state.mailbox(self.name(), &key).await? {
            if !goal.runs(st.stage) {
                return Ok(match st.stage {
                    Stage::Paused => Outcome::Paused(key),
                    _ => Outcome::Skipped,
                });
            }
        }
        let ttl = self.options.lease_ttl;
        self.hold_worker().await?;
        if !self
            .state
            .claim(self.name(), &key, &self.worker, ttl)
            .await?
        {
            return Ok(Outcome::Busy(key));
        }
        // Renewed every third of its time-to-live; a lease lost meanwhile (this runner
        // stalled past it and another took the mailbox) stops the drive where it is, as a
        // kill would, and the other runner carries on.
        let renew = async {
            loop {
                tokio::time::sleep(ttl / 3).await;
                // A name whose hold ended (its database session dropped) may have been
                // taken by another process meanwhile: the drive stops unless it is had
                // again, for the lease alone cannot tell two holders of a name apart.
                let held = match self.hold_worker().await {
                    Ok(()) => true,
                    Err(e) if e.kind() == ErrorKind::Conflict => false,
                    Err(e) => return Err(e),
                };
                if !held
                    || !self
                        .state
                        .claim(self.name(), &key, &self.worker, ttl)
                        .await?
                {
                    tracing::warn!(campaign = %self.name(), mailbox = %key, "lease lost");
                    return Ok(Outcome::Busy(key.clone()));
                }
            }
        };
        let outcome = tokio::select! {
            o = self.drive_held(pair, goal) => o,
            o = renew => o,
        };
        let released = self.state.release(self.name(), &key, &self.worker).await;
        let outcome = outcome?;
        released?;
        Ok(outcome)
    }

    /// Takes this runner's [worker](Self::with_worker) name for this process now
    /// ([`CampaignStore::hold_worker`]), or again if its hold ended; a pass takes it
    /// anyway before its first claim, so call this only to find out early (a tool that
    /// starts with "another process drives this campaign as …" rather than at its first
    /// mailbox). The name stays held until the runner drops.
    ///
    /// # Errors
    /// `Conflict` when another process (or another runner of this one) holds the name;
    /// errors of the state store.
    pub async fn hold_worker(&self) -> Result<()> {
        let mut hold = self.hold.lock().await;
        if hold.as_ref().is_some_and(WorkerHold::is_held) {
            return Ok(());
        }
        *hold = None;
        *hold = Some(self.state.hold_worker(self.name(), &self.worker).await?);
        Ok(())
    }

    /// [`drive`](Self::drive) with the mailbox's lease held: reads its status anew (another
    /// runner may have moved it before the lease was had).
    async fn drive_held(&self, pair: &MailboxPair, goal: Goal) -> Result<Outcome> {
        let key = pair.key();
        let Some(mut st) = self.state.mailbox(self.name(), &key).await? else {
            return Err(
                Error::new(ErrorKind::StateCorrupt, "the mailbox's status is gone")
                    .with_operation(Operation::State)
                    .with_context("campaign", self.name())
                    .with_context("mailbox", &key),
            );
        };
        if !goal.runs(st.stage) {
            return Ok(match st.stage {
                Stage::Paused => Outcome::Paused(key),
                _ => Outcome::Skipped,
            });
        }
        if self.record().await?.paused {
            if matches!(st.stage, Stage::Queued | Stage::Synced) {
                let t = st.pause(self.now())?;
                self.save_racy(&st, &t).await?;
            }
            return Ok(Outcome::Paused(key));
        }
        let stores = match self.stores.open(pair).await {
            Ok(s) => s,
            Err(e) => {
                let at = if st.stage == Stage::Synced {
                    Stage::Syncing
                } else {
                    st.stage
                };
                return self.fail(&mut st, Failure::of(at, &e)).await;
            }
        };
        match goal {
            Goal::Sync => self.first_copy(pair, &mut st, &stores).await,
            Goal::Delta => self.delta(pair, &mut st, &stores).await,
            Goal::Finalise => self.grace(pair, &mut st, &stores).await,
        }
    }

    /// Queued (or interrupted) → backed up → synced.
    async fn first_copy(
        &self,
        pair: &MailboxPair,
        st: &mut MailboxStatus,
        stores: &MailboxStores,
    ) -> Result<Outcome> {
        const RESUMED: &str = "resumed after an interruption";
        if self.plan.plan().backup.is_some() && stores.backup.is_none() && !st.counts.backed_up {
            let e = Error::new(
                ErrorKind::ConfigInvalid,
                "the plan asks for a backup, but no backup store was opened for this mailbox",
            );
            return self.fail(st, Failure::of(st.stage, &e)).await;
        }
        let wants_backup = !st.counts.backed_up
            && (stores.backup.is_some() || stores.pim.as_ref().is_some_and(|p| p.backup.is_some()));
        match st.stage {
            Stage::Queued if wants_backup => self.step(st, Stage::BackingUp, None).await?,
            Stage::Queued => self.step(st, Stage::Syncing, None).await?,
            stage => self.step(st, stage, Some(RESUMED)).await?,
        }
        if st.stage == Stage::BackingUp {
            match self.backup(pair, stores).await {
                Ok((messages, _, manifest)) => {
                    st.counts.backed_up = true;
                    st.counts.backup_messages += messages;
                    st.backup = manifest;
                    self.step(st, Stage::Syncing, None).await?;
                }
                Err(e) => return self.fail(st, Failure::of(Stage::BackingUp, &e)).await,
            }
        }
        let first = match self.plan.plan().prestage_older_than {
            Some(age) if !st.counts.prestaged => self.prestage(pair, stores, st, age).await,
            _ => self.pass(pair, stores, st).await,
        };
        let copied = match first {
            Ok(copied) => copied,
            Err(e) => return self.fail(st, Failure::of(Stage::Syncing, &e)).await,
        };
        self.step(st, Stage::Synced, None).await?;
        self.pause_if_asked(st).await?;
        Ok(Outcome::Synced {
            key: st.mailbox.clone(),
            copied,
        })
    }

    /// The first copy of a pre-staged campaign: mail older than `age` only, under a job of
    /// its own (`…#prestage`). Once that copy is complete, its ledger rows are adopted by
    /// the mailbox's own job ([`adopt_ledger`](Self::adopt_ledger)), whose first pass then
    /// lists everything from scratch and knows each pre-staged copy from its own ledger:
    /// nothing is written twice, and no look-up at the destination is needed (a search
    /// index that lags fresh imports, as Gmail's may, cannot make a duplicate).
    async fn prestage(
        &self,
        pair: &MailboxPair,
        stores: &MailboxStores,
        st: &mut MailboxStatus,
        age: std::time::Duration,
    ) -> Result<u64> {
        let cutoff = self.now() - age;
        let own = Self::job_of(self.name(), &pair.key());
        let job = format!("{own}#prestage");
        let dest: Arc<dyn Destination> = Arc::clone(&stores.destination) as Arc<dyn Destination>;
        let filter = self.plan.filter_of(&pair.batch).clone();
        let before = filter.before.map_or(cutoff, |b| b.min(cutoff));
        let engine = self.engine(
            pair,
            Arc::clone(&stores.source),
            dest,
            job.clone(),
            filter.with_before(before),
        );
        let report = engine.run().await?;
        count_mail(st, &report);
        judge(&report)?;
        self.adopt_ledger(&job, &own).await?;
        // Contacts and calendars are not dated: all of them go with the first copy, so a
        // pre-staged mailbox is synced in full but for its recent mail.
        self.pim_pass(stores, st, &own).await?;
        st.counts.prestaged = true;
        st.counts.passes += 1;
        Ok(report.totals.copied)
    }

    /// Copies every ledger row of job `from` into job `into`, folder by folder in pages
    /// (memory bounded by a page, not the mailbox). Rows are written as they stand, so a
    /// write whose outcome is still unknown stays pending and is settled under `into` as
    /// it would have been under `from`. Copying again replaces the same rows: a runner
    /// killed midway adopts again when it resumes.
    async fn adopt_ledger(&self, from: &str, into: &str) -> Result<()> {
        const PAGE: usize = 500;
        for folder in self.state.checkpointed_folders(from).await? {
            let mut after: Option<crate::MessageId> = None;
            loop {
                let rows = self.state.page(from, &folder, after.as_ref(), PAGE).await?;
                let Some(last) = rows.last() else { break };
                after = Some(last.src_id.clone());
                self.state.record(into, &rows).await?;
                if rows.len() < PAGE {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Synced → syncing → synced.
    async fn delta(
        &self,
        pair: &MailboxPair,
        st: &mut MailboxStatus,
        stores: &MailboxStores,
    ) -> Result<Outcome> {
        let note = (st.stage == Stage::Syncing).then_some("resumed after an interruption");
        self.step(st, Stage::Syncing, note).await?;
        let copied = match self.pass(pair, stores, st).await {
            Ok(copied) => copied,
            Err(e) => return self.fail(st, Failure::of(Stage::Syncing, &e)).await,
        };
        self.step(st, Stage::Synced, None).await?;
        self.pause_if_asked(st).await?;
        Ok(Outcome::Synced {
            key: st.mailbox.clone(),
            copied,
        })
    }

    /// Synced → finalising, a grace pass, and validated once the grace period is over.
    async fn grace(
        &self,
        pair: &MailboxPair,
        st: &mut MailboxStatus,
        stores: &MailboxStores,
    ) -> Result<Outcome> {
        if st.stage == Stage::Synced {
            self.step(st, Stage::Finalising, Some("switched; grace period begins"))
                .await?;
        }
        let copied = match self.pass(pair, stores, st).await {
            Ok(copied) => copied,
            Err(e) => return self.fail(st, Failure::of(Stage::Finalising, &e)).await,
        };
        self.save(st, None).await?;
        let switched = st.switched.unwrap_or(st.since);
        if self.now() < switched + self.plan.plan().grace_period {
            return Ok(Outcome::Finalising {
                key: st.mailbox.clone(),
                copied,
            });
        }
        if let Err(e) = self.compare(pair, stores).await {
            return self.fail(st, Failure::of(Stage::Finalising, &e)).await;
        }
        self.step(st, Stage::Validated, None).await?;
        Ok(Outcome::Validated {
            key: st.mailbox.clone(),
            copied,
        })
    }

    async fn pause_if_asked(&self, st: &mut MailboxStatus) -> Result<()> {
        if self.record().await?.paused {
            let t = st.pause(self.now())?;
            self.save_racy(st, &t).await?;
        }
        Ok(())
    }

    /// The engine of one pass of `pair` under `job`, with the batch's folder mapping and
    /// `filter`.
    fn engine(
        &self,
        pair: &MailboxPair,
        source: Arc<dyn Source>,
        dest: Arc<dyn Destination>,
        job: String,
        filter: crate::engine::Filter,
    ) -> Engine {
        let mut options = self.options.sync.clone();
        options.job = job;
        options.mapping = self.plan.mapping_of(&pair.batch).clone();
        options.filter = filter;
        let state: Arc<dyn StateStore> = Arc::clone(&self.state) as Arc<dyn StateStore>;
        Engine::new(source, dest, state)
            .with_options(options)
            .with_retry(self.options.retry)
    }

    /// The backup: the source into the backup store, under its own job. Returns messages
    /// and contacts/events written, and the backup's manifest when it can be read back.
    async fn backup(
        &self,
        pair: &MailboxPair,
        stores: &MailboxStores,
    ) -> Result<(u64, u64, Option<BackupManifest>)> {
        let job = format!("{}#backup", Self::job_of(self.name(), &pair.key()));
        let mut messages = 0;
        if let Some(backup) = &stores.backup {
            // A backup keeps every folder as it is: no mapping, no filter.
            let mut options = self.options.sync.clone();
            options.job.clone_from(&job);
            let state: Arc<dyn StateStore> = Arc::clone(&self.state) as Arc<dyn StateStore>;
            let engine = Engine::new(Arc::clone(&stores.source), Arc::clone(backup), state)
                .with_options(options)
                .with_retry(self.options.retry);
            let report = engine.run().await?;
            judge(&report)?;
            messages = report.totals.copied + report.totals.deduplicated;
        }
        let manifest = match &stores.backup_source {
            Some(b) => {
                Some(BackupManifest::read_back_at(&**b, &pair.key(), &job, self.now()).await?)
            }
            None => None,
        };
        let mut items = 0;
        if let Some(pim) = &stores.pim {
            if let Some(backup) = &pim.backup {
                let report = PimSync::new(&*pim.source, &**backup, &*self.state, &job)
                    .run()
                    .await?;
                judge_pim(&report)?;
                items = report.totals().written;
            }
        }
        Ok((messages, items, manifest))
    }

    /// One pass of mail (and contacts and calendars) to the destination; updates the
    /// counts and returns the messages written.
    async fn pass(
        &self,
        pair: &MailboxPair,
        stores: &MailboxStores,
        st: &mut MailboxStatus,
    ) -> Result<u64> {
        let job = Self::job_of(self.name(), &pair.key());
        let dest: Arc<dyn Destination> = Arc::clone(&stores.destination) as Arc<dyn Destination>;
        let filter = self.plan.filter_of(&pair.batch).clone();
        let engine = self.engine(pair, Arc::clone(&stores.source), dest, job.clone(), filter);
        let report = engine.run().await?;
        count_mail(st, &report);
        judge(&report)?;
        self.pim_pass(stores, st, &job).await?;
        st.counts.passes += 1;
        Ok(report.totals.copied)
    }

    /// Copies the mailbox's contacts and calendars (if it has PIM stores) under `job`.
    async fn pim_pass(
        &self,
        stores: &MailboxStores,
        st: &mut MailboxStatus,
        job: &str,
    ) -> Result<()> {
        if let Some(pim) = &stores.pim {
            let r = PimSync::new(&*pim.source, &*pim.destination, &*self.state, job)
                .run()
                .await?;
            st.counts.pim_written += r.totals().written;
            judge_pim(&r)?;
        }
        Ok(())
    }

    /// The final comparison of source and destination, folder by folder as the plan maps
    /// them.
    async fn compare(&self, pair: &MailboxPair, stores: &MailboxStores) -> Result<()> {
        if !self.options.verify
            || *self.plan.filter_of(&pair.batch) != crate::engine::Filter::default()
        {
            return Ok(());
        }
        let job = Self::job_of(self.name(), &pair.key());
        let dest: Arc<dyn Destination> = Arc::clone(&stores.destination) as Arc<dyn Destination>;
        let filter = self.plan.filter_of(&pair.batch).clone();
        let engine = self.engine(pair, Arc::clone(&stores.source), dest, job.clone(), filter);
        let plan = engine.plan().await?;
        let dest_folders = stores.destination.list_folders().await?;
        let failures = self.state.failures(&job).await?;
        let pairs: Vec<FolderPair> = plan
            .copies()
            .map(|e| {
                let found = dest_folders
                    .iter()
                    .find(|d| d.path == e.target || (d.path.is_inbox() && e.target.is_inbox()));
                FolderPair::new(FolderRef::from(&e.source), found.map(FolderRef::from)).with_failed(
                    failures
                        .iter()
                        .filter(|f| f.final_for_item && f.src_folder == e.source.id)
                        .map(|f| f.src_id.clone()),
                )
            })
            .collect();
        let opts = VerifyOptions::for_destination(&stores.destination.capabilities());
        let report = verify(&*stores.source, &*stores.destination, &pairs, &opts).await?;
        if report.is_clean() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "the final comparison found {} differences between source and destination",
                    report.differences()
                ),
            )
            .with_operation(Operation::Plan))
        }
    }
}

/// What a driver call asks of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// The first copy (backup, then sync).
    Sync,
    /// Another pass of a synced mailbox.
    Delta,
    /// A grace-period pass after the switch, validation once it is over.
    Finalise,
}

impl Goal {
    /// Whether a mailbox in `stage` has something to do for this goal.
    fn runs(self, stage: Stage) -> bool {
        match self {
            Goal::Sync => matches!(stage, Stage::Queued | Stage::BackingUp | Stage::Syncing),
            Goal::Delta => matches!(stage, Stage::Synced | Stage::Syncing),
            Goal::Finalise => matches!(stage, Stage::Synced | Stage::Finalising),
        }
    }
}

/// Adds what a mail pass to the destination wrote to the mailbox's counts (refusals as of
/// this pass).
fn count_mail(st: &mut MailboxStatus, report: &SyncReport) {
    st.counts.copied += report.totals.copied;
    st.counts.bytes += report.totals.bytes;
    st.counts.deduplicated += report.totals.deduplicated;
    let refused = report.failures.iter().filter(|f| f.final_for_item).count();
    st.counts.refused = u64::try_from(refused).unwrap_or(u64::MAX);
}

/// Whether a mail pass left the mailbox synced: every folder complete, no write of
/// unknown outcome, nothing that a later pass must still copy. Items refused for good
/// (malformed, too large) are counted, not failures of the mailbox: no pass would move
/// them.
pub(super) fn judge(report: &SyncReport) -> Result<()> {
    if let Some(f) = report.folders.iter().find(|f| !f.complete) {
        return Err(Error::new(
            f.error_kind.unwrap_or(ErrorKind::Unexpected),
            format!(
                "folder {} did not complete: {}",
                f.source,
                f.error.as_deref().unwrap_or("stopped early")
            ),
        )
        .with_context("folder", &f.source));
    }
    let open: Vec<_> = report
        .failures
        .iter()
        .filter(|f| !f.final_for_item)
        .collect();
    if let Some(first) = open.first() {
        return Err(Error::new(
            first.kind,
            format!(
                "{} messages not copied yet; first: {}",
                open.len(),
                first.message
            ),
        ));
    }
    let t = &report.totals;
    if t.unsettled + t.uncheckable > 0 {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "{} writes of unknown outcome are not settled yet",
                t.unsettled + t.uncheckable
            ),
        ));
    }
    Ok(())
}

/// The same for a contact and calendar pass: items refused for good are counted, every
/// other failure, an incomplete collection or an unsettled write fails the mailbox.
pub(super) fn judge_pim(report: &PimReport) -> Result<()> {
    let open = report
        .collections
        .iter()
        .flat_map(|c| &c.failures)
        .find(|f| !f.final_for_item);
    if let Some(f) = open {
        return Err(Error::new(
            f.kind,
            format!("contacts and calendars: {}", f.message),
        ));
    }
    if let Some(c) = report.collections.iter().find(|c| !c.complete) {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "contacts and calendars: collection {:?} did not complete",
                c.name
            ),
        ));
    }
    if report.totals().pending > 0 {
        return Err(Error::new(
            ErrorKind::Unavailable,
            "contacts and calendars: writes of unknown outcome are not settled yet",
        ));
    }
    Ok(())
}

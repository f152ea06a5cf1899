//! Restoring a mailbox from its backup: the same [`Engine`] run in reverse, from the
//! backup store into the chosen destination (the original source, or a new store), under
//! its own job, so a restore interrupted and run again writes nothing twice and a second
//! restore writes nothing at all. Contacts and calendars come back from their vdir backup
//! through [`PimSync`].

use std::sync::Arc;

use super::runner::{judge, judge_pim};
use crate::engine::{Engine, SyncOptions, SyncReport};
use crate::layer::RetryConfig;
use crate::pim::sync::{PimReport, PimSync};
use crate::pim::{PimDestination, PimSource};
use crate::state::StateStore;
use crate::{Destination, Result, Source};

/// The job name of a mailbox's restore: `"<campaign>/<mailbox>#restore"` (its contacts
/// and calendars add `#pim`).
///
/// ```
/// use mailmigrate_core::campaign::restore_job;
/// assert_eq!(restore_job("acme", "ann@old.example"), "acme/ann@old.example#restore");
/// ```
pub fn restore_job(campaign: &str, mailbox: &str) -> String {
    format!(
        "{}#restore",
        super::CampaignRunner::job_of(campaign, mailbox)
    )
}

/// What a restore wrote: the engine's report and, with contacts and calendars, the
/// [`PimSync`] report. See [`Restore`] for an example.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RestoreReport {
    /// The mail pass.
    pub mail: SyncReport,
    /// The contacts and calendars pass, when one was asked for.
    pub pim: Option<PimReport>,
}

impl RestoreReport {
    /// Messages, contacts and events written.
    pub fn written(&self) -> u64 {
        self.mail.totals.copied + self.pim.as_ref().map_or(0, |p| p.totals().written)
    }

    /// Whether everything came back: every folder and collection complete, nothing left
    /// to copy, no write of unknown outcome. Items the target refused for good are counted
    /// in the reports, not failures.
    ///
    /// # Errors
    /// The first thing that did not come back, with its error kind.
    pub fn check(&self) -> Result<()> {
        judge(&self.mail)?;
        if let Some(p) = &self.pim {
            judge_pim(p)?;
        }
        Ok(())
    }
}

/// A restore of one mailbox from its backup.
///
/// ```
/// use std::sync::Arc;
/// use mailmigrate_core::campaign::{restore_job, Restore};
/// use mailmigrate_core::state::MemoryState;
/// use mailmigrate_core::store::MemoryStore;
/// use mailmigrate_core::{Destination, FolderPath, MessageId, MessageMeta, RawMessage};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let backup = MemoryStore::new("backup");
/// let inbox = backup.ensure_folder(&FolderPath::inbox(), None).await?.id;
/// let msg = RawMessage::new(
///     MessageMeta::new(MessageId::new("1"), inbox.clone()),
///     bytes::Bytes::from_static(b"Message-ID: <1@x>\r\n\r\nhello"),
/// );
/// backup.append(&inbox, vec![msg]).await?;
/// let target = MemoryStore::new("old");
/// let restore = Restore::new(
///     Arc::new(backup),
///     Arc::new(target.clone()),
///     Arc::new(MemoryState::new()),
///     restore_job("acme", "ann@old.example"),
/// );
/// let report = restore.run().await?;
/// report.check()?;
/// assert_eq!((report.written(), target.message_count()), (1, 1));
/// assert_eq!(restore.run().await?.written(), 0); // a second restore writes nothing
/// # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
/// ```
pub struct Restore {
    backup: Arc<dyn Source>,
    target: Arc<dyn Destination>,
    state: Arc<dyn StateStore>,
    options: SyncOptions,
    retry: Option<RetryConfig>,
    pim: Option<(Arc<dyn PimSource>, Arc<dyn PimDestination>)>,
}

impl std::fmt::Debug for Restore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restore")
            .field("job", &self.options.job)
            .field("pim", &self.pim.is_some())
            .finish_non_exhaustive()
    }
}

impl Restore {
    /// A restore of `backup` into `target` under `job` (see [`restore_job`]), its ledger
    /// in `state`, with default engine options and retries.
    pub fn new(
        backup: Arc<dyn Source>,
        target: Arc<dyn Destination>,
        state: Arc<dyn StateStore>,
        job: impl Into<String>,
    ) -> Self {
        Self {
            backup,
            target,
            state,
            options: SyncOptions::new(job),
            retry: Some(RetryConfig::default()),
            pim: None,
        }
    }

    /// Sets the engine options (the job name given to [`new`](Self::new) is kept; no
    /// folder mapping or filter is applied unless these set one).
    #[must_use]
    pub fn with_options(mut self, options: SyncOptions) -> Self {
        let job = std::mem::take(&mut self.options.job);
        self.options = options;
        self.options.job = job;
        self
    }

    /// Sets the retry policy around both stores (`None`: no retries).
    #[must_use]
    pub fn with_retry(mut self, retry: Option<RetryConfig>) -> Self {
        self.retry = retry;
        self
    }

    /// Restores contacts and calendars too, from `backup` (the
    /// [`VdirStore`](crate::pim::VdirStore) they were backed up to) into `target`.
    #[must_use]
    pub fn with_pim(mut self, backup: Arc<dyn PimSource>, target: Arc<dyn PimDestination>) -> Self {
        self.pim = Some((backup, target));
        self
    }

    /// Runs the restore once: mail, then contacts and calendars.
    ///
    /// # Errors
    /// Errors the engine or [`PimSync`] return for the whole run (the state store, a
    /// listing of folders); per-message failures are in the report
    /// ([`check`](RestoreReport::check) turns them into an error).
    pub async fn run(&self) -> Result<RestoreReport> {
        let engine = Engine::new(
            Arc::clone(&self.backup),
            Arc::clone(&self.target),
            Arc::clone(&self.state),
        )
        .with_options(self.options.clone())
        .with_retry(self.retry);
        let mail = engine.run().await?;
        let pim = match &self.pim {
            Some((from, to)) => Some(
                PimSync::new(&**from, &**to, &*self.state, &self.options.job)
                    .run()
                    .await?,
            ),
            None => None,
        };
        Ok(RestoreReport { mail, pim })
    }
}

/// Restores `backup` into `target` under `job` with default options: a shorthand for
/// [`Restore::new`]`(…).run()`. See [`Restore`] for an example.
///
/// # Errors
/// As [`Restore::run`].
pub async fn restore(
    backup: Arc<dyn Source>,
    target: Arc<dyn Destination>,
    state: Arc<dyn StateStore>,
    job: &str,
) -> Result<RestoreReport> {
    Restore::new(backup, target, state, job).run().await
}

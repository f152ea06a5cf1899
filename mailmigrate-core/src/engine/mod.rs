//! The sync engine: plans folders, then moves what changed since the last pass, recording
//! every write so a run killed at any instant resumes without loss or duplicates.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use mailmigrate_core::engine::{Engine, SyncOptions};
//! use mailmigrate_core::state::MemoryState;
//! use mailmigrate_core::store::MemoryStore;
//! use mailmigrate_core::{Destination, FolderPath, MessageId, MessageMeta, RawMessage};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let source = MemoryStore::new("old");
//! let inbox = source.ensure_folder(&FolderPath::inbox(), None).await.unwrap().id;
//! let msg = RawMessage::new(
//!     MessageMeta::new(MessageId::new("1"), inbox.clone()),
//!     bytes::Bytes::from_static(b"Message-ID: <1@x>\r\nSubject: hi\r\n\r\nbody\r\n"),
//! );
//! source.append(&inbox, vec![msg]).await.unwrap();
//!
//! let dest = MemoryStore::new("new");
//! let engine = Engine::new(Arc::new(source), Arc::new(dest.clone()), Arc::new(MemoryState::new()))
//!     .with_options(SyncOptions::new("old-to-new"));
//! let report = engine.run().await.unwrap();
//! assert_eq!(report.totals.copied, 1);
//! assert_eq!(dest.message_count(), 1);
//! // A second pass finds nothing to do.
//! assert!(engine.run().await.unwrap().totals.moved_nothing());
//! # });
//! ```

mod event;
mod folder;
mod options;
mod plan;
mod report;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use tracing::Instrument;

pub use event::{Event, EventSink};
pub use options::{Filter, SyncOptions};
pub use plan::{
    FolderPlan, LabelFolders, LabelPolicy, MappingRules, PlanAction, PlanEntry, Rename,
};
pub use report::{FolderReport, Stats, SyncReport};

use crate::layer::{AttributeLayer, RetryConfig, RetryLayer, Stack};
use crate::state::StateStore;
use crate::{Destination, Error, FolderId, Operation, Result, Source};
use event::Events;

/// Moves mail from a [`Source`] to a [`Destination`], recording progress in a
/// [`StateStore`].
///
/// The engine adapts to both sides' [`Capabilities`](crate::Capabilities): it lists
/// incrementally where the source can, settles unknown writes through
/// [`Destination::find_existing`], and fails with `Unsupported` before any I/O when asked
/// for something a side cannot do.
#[derive(Clone)]
pub struct Engine {
    /// The source as given, and as used (wrapped in retry unless disabled).
    raw_source: Arc<dyn Source>,
    raw_dest: Arc<dyn Destination>,
    source: Arc<dyn Source>,
    dest: Arc<dyn Destination>,
    state: Arc<dyn StateStore>,
    options: SyncOptions,
    events: Events,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("source", &self.source.info().scheme)
            .field("dest", &self.dest.info().scheme)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with default options (job name `"default"`).
    ///
    /// Both sides are wrapped in a [`RetryLayer`] with the default [`RetryConfig`], so
    /// temporary failures (rate limits, busy servers) are retried with exponential backoff
    /// and jitter, honouring the server's retry-after hint. Use [`Engine::with_retry`] to
    /// change or disable it (for example when the caller composed its own layers).
    pub fn new(
        source: Arc<dyn Source>,
        dest: Arc<dyn Destination>,
        state: Arc<dyn StateStore>,
    ) -> Self {
        Self {
            raw_source: Arc::clone(&source),
            raw_dest: Arc::clone(&dest),
            source,
            dest,
            state,
            options: SyncOptions::default(),
            events: Events::new(None),
        }
        .with_retry(Some(RetryConfig::default()))
    }

    /// Sets the retry policy applied around both sides; `None` disables retries.
    ///
    /// Either way both sides are wrapped in an [`AttributeLayer`], so every error the
    /// engine reports names its provider and operation.
    #[must_use]
    pub fn with_retry(mut self, config: Option<RetryConfig>) -> Self {
        let source = Stack::new(Arc::clone(&self.raw_source)).layer(AttributeLayer);
        let dest = Stack::new(Arc::clone(&self.raw_dest)).layer(AttributeLayer);
        match config {
            Some(cfg) => {
                let layer = RetryLayer::new(cfg);
                self.source = source.layer(&layer).into_source();
                self.dest = dest.layer(&layer).into_destination();
            }
            None => {
                self.source = source.into_source();
                self.dest = dest.into_destination();
            }
        }
        self
    }

    /// Sets the options.
    #[must_use]
    pub fn with_options(mut self, options: SyncOptions) -> Self {
        self.options = options;
        self
    }

    /// Sends progress events to `sink` (a closure or an unbounded channel sender).
    #[must_use]
    pub fn with_events(mut self, sink: impl EventSink) -> Self {
        self.events = Events::new(Some(Arc::new(sink)));
        self
    }

    /// The options in force.
    pub fn options(&self) -> &SyncOptions {
        &self.options
    }

    /// Checks that both sides can do what the options ask, without any I/O.
    ///
    /// # Errors
    /// `Unsupported` naming the missing capability.
    pub fn check_capabilities(&self) -> Result<()> {
        let s = &self.source.capabilities();
        let d = &self.dest.capabilities();
        let need = |ok: bool, what: &str| -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(Error::unsupported(what.to_owned()).with_operation(Operation::Plan))
            }
        };
        need(s.list_folders, "the source cannot list folders")?;
        need(s.fetch, "the source cannot fetch messages")?;
        need(d.append, "the destination cannot append messages")?;
        if self.options.propagate_deletions {
            need(
                d.delete,
                "deletions were asked for, but the destination cannot delete",
            )?;
            // An incremental listing without removals would never show a deletion, and the
            // ledger diff needs a full listing: the request would silently do nothing.
            need(
                !s.list_since || s.list_removals,
                "deletions were asked for, but the source's incremental listing does not \
                 report removals (an IMAP server without QRESYNC)",
            )?;
        }
        Ok(())
    }

    /// Builds the folder plan (lists folders on both sides; writes nothing).
    ///
    /// # Errors
    /// `ConfigInvalid` for bad rules, `Unsupported` for impossible options, provider errors.
    pub async fn plan(&self) -> Result<FolderPlan> {
        self.check_capabilities()?;
        let rules = self.options.mapping.compile()?;
        let src = self.source.list_folders().await?;
        let dst = self.dest.list_folders().await?;
        plan::build_plan(&src, &dst, &rules, self.source.capabilities().list_labels)
    }

    /// Runs one pass: everything new or changed since the last pass moves.
    ///
    /// Per-item failures are recorded and reported, never fatal. A folder whose pass stops
    /// early (the source or destination became unreachable) is reported incomplete and
    /// resumes from its last checkpoint next time. Credentials refused
    /// (`Unauthenticated`) or a quota spent (`QuotaExceeded`: a full destination, a
    /// provider's daily limit) stop every folder of the pass: each would be refused the
    /// same way, one request per message. Those folders report the kind in
    /// [`FolderReport::error_kind`](crate::engine::FolderReport::error_kind), so a caller
    /// can park the mailbox and run the next pass later; nothing is written twice.
    ///
    /// # Errors
    /// Only for failures before any folder starts: bad options, unsupported capabilities,
    /// folder listing failures, an unreadable state store.
    pub async fn run(&self) -> Result<SyncReport> {
        let plan = self.plan().await?;
        self.run_plan(&plan).await
    }

    /// Runs one pass over a plan built (and perhaps edited) by the caller.
    ///
    /// # Errors
    /// As [`Engine::run`].
    pub async fn run_plan(&self, plan: &FolderPlan) -> Result<SyncReport> {
        self.check_capabilities()?;
        let copies: Vec<&PlanEntry> = plan.copies().collect();
        self.events.emit(|| Event::Planned {
            folders: copies.len(),
        });
        let concurrency = self.folder_concurrency();
        let refused = std::sync::OnceLock::new();
        let refused = &refused;
        // Source folders that land in one destination folder run one after another: their
        // look-ups and claims must see each other's copies (two at once could both take
        // one copy of a message filed in both).
        let mut folders: Vec<(usize, FolderReport)> = stream::iter(by_target(copies))
            .map(|group| async move {
                let mut reports = Vec::with_capacity(group.len());
                for (i, entry) in group {
                    let span = tracing::info_span!(
                        "folder",
                        job = %self.options.job,
                        account = %self.source.info().account,
                        source = %entry.source.path,
                        target = %entry.target,
                    );
                    let report = folder::sync_folder(self, entry, refused)
                        .instrument(span)
                        .await;
                    reports.push((i, report));
                }
                reports
            })
            .buffer_unordered(concurrency)
            .flat_map(stream::iter)
            .collect()
            .await;
        folders.sort_by_key(|(i, _)| *i);
        let folders: Vec<FolderReport> = folders.into_iter().map(|(_, r)| r).collect();
        let mut totals = Stats::default();
        for f in &folders {
            totals += f.stats;
        }
        let failures = self.state.failures(&self.options.job).await?;
        let listed: HashSet<&FolderId> = plan.entries.iter().map(|e| &e.source.id).collect();
        let mut vanished_sources: Vec<FolderId> = self
            .state
            .checkpointed_folders(&self.options.job)
            .await?
            .into_iter()
            .filter(|f| !listed.contains(f))
            .collect();
        vanished_sources.sort();
        if !vanished_sources.is_empty() {
            tracing::warn!(
                folders = ?vanished_sources,
                "source folders of earlier passes are gone (deleted or renamed at the source)"
            );
        }
        Ok(SyncReport {
            job: self.options.job.clone(),
            dry_run: self.options.dry_run,
            folders,
            totals,
            failures,
            vanished_sources,
        })
    }

    fn folder_concurrency(&self) -> usize {
        let caps = [
            self.source.capabilities().max_concurrency,
            self.dest.capabilities().max_concurrency,
        ];
        caps.into_iter()
            .filter(|&c| c > 0)
            .fold(self.options.folder_concurrency.max(1), usize::min)
    }
}

/// The plan's copies, numbered in plan order and grouped by destination folder (groups in
/// the order of their first entry).
///
/// Paths that differ only in letter case share a group: a destination may take them for one
/// folder (IMAP's `INBOX` is case-insensitive, and so are Graph's folder names and Gmail's
/// labels). Where it does not, the two only run one after another.
fn by_target(copies: Vec<&PlanEntry>) -> Vec<Vec<(usize, &PlanEntry)>> {
    let mut groups: Vec<Vec<(usize, &PlanEntry)>> = Vec::new();
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    for (i, entry) in copies.into_iter().enumerate() {
        let key: Vec<String> = entry
            .target
            .segments()
            .iter()
            .map(|s| s.to_lowercase())
            .collect();
        match index.get(&key) {
            Some(&g) => groups[g].push((i, entry)),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![(i, entry)]);
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Folder, FolderPath};

    fn entry(source: &str, target: &[&str]) -> PlanEntry {
        PlanEntry {
            source: Folder::new(
                FolderId::new(source),
                FolderPath::new([source]).expect("a path"),
            ),
            target: FolderPath::new(target.iter().copied()).expect("a path"),
            role: None,
            action: plan::PlanAction::Copy,
        }
    }

    #[test]
    fn targets_that_differ_in_case_only_share_a_group() {
        let entries = [
            entry("a", &["INBOX"]),
            entry("b", &["Archive", "2020"]),
            entry("c", &["inbox"]),
            entry("d", &["archive", "2020"]),
            entry("e", &["Archive", "2021"]),
        ];
        let groups: Vec<Vec<usize>> = by_target(entries.iter().collect())
            .into_iter()
            .map(|g| g.into_iter().map(|(i, _)| i).collect())
            .collect();
        assert_eq!(groups, [vec![0, 2], vec![1, 3], vec![4]]);
    }
}

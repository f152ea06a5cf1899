//! The engine for contacts and calendars: every address book and calendar of a source
//! copied into a destination, incrementally, with the same ledger protocol as mail.
//!
//! Per collection:
//! 1. the destination collection of the same kind and name is found or created;
//! 2. writes left pending by an earlier run (a lost answer, a killed process) are settled
//!    by looking their `UID` up at the destination — found with the content written, the
//!    row is done; otherwise the item is written again, and a create of a `UID` the
//!    destination holds is refused there ([`conditional_writes`](super::PimCapabilities)),
//!    so a copy is never made twice;
//! 3. the source lists what changed since the stored checkpoint (everything the first
//!    time); an item whose version the ledger holds is skipped without a fetch, a changed
//!    one is fetched, fitted to the destination ([`adapt`]) and written — a replace of the
//!    copy, conditional on the version the engine wrote, so an edit made at the
//!    destination meanwhile is reported, never overwritten;
//! 4. each batch is recorded pending before it is written and done after, with the
//!    destination's ids and versions; the checkpoint is stored only when every item it
//!    covers is done or failed for good;
//! 5. removals at the source delete the copy only when
//!    [`PimSyncOptions::propagate_deletions`] is on.
//!
//! Creating or updating an event never notifies anyone unless
//! [`PimSyncOptions::notify_attendees`] is on; a destination that cannot write attendees
//! without mailing them ([`Notifications::Always`]) gets no such events without that
//! opt-in, and each is reported.
//!
//! ```
//! use mailmigrate_core::pim::{sync::*, *};
//! use mailmigrate_core::state::MemoryState;
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let (src, dest, state) = (MemoryPim::new("old"), MemoryPim::new("new"), MemoryState::new());
//! let book = src
//!     .ensure_collection(&Collection::new(CollectionId::new("b"), PimKind::Contacts, "Friends"))
//!     .await?;
//! let mut ann = Contact::new("Ann");
//! ann.uid = Some("ann-1".into());
//! src.put(&book.id, PimItem::new(ItemMeta::new(ItemId::new("ann.vcf")), Payload::Contact(Box::new(ann))));
//!
//! let sync = PimSync::new(&src, &dest, &state, "job");
//! let first = sync.run().await?;
//! assert_eq!(first.totals().written, 1);
//! let second = sync.run().await?; // nothing changed: nothing moves
//! assert_eq!((second.totals().written, second.totals().unchanged), (0, 0));
//! # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
//! ```

mod adapt;
mod pass;

pub(crate) use pass::{assigned_uid, ledger_folder};

use serde::{Deserialize, Serialize};

pub use adapt::{adapt, Fate, Transformation};

use super::{Notifications, PimDestination, PimKind, PimSource};
use crate::state::{ItemFailure, StateStore};
use crate::Result;

/// What a contact and calendar migration does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PimSyncOptions {
    /// The kinds of collections to move (both by default).
    pub kinds: Vec<PimKind>,
    /// Delete a copy when its item is removed at the source (off by default: the source is
    /// the truth only for what it holds).
    pub propagate_deletions: bool,
    /// Let the destination send invitations and updates to attendees (off by default).
    pub notify_attendees: bool,
    /// Items per fetch and write call.
    pub batch_size: usize,
}

impl Default for PimSyncOptions {
    fn default() -> Self {
        Self {
            kinds: PimKind::ALL.to_vec(),
            propagate_deletions: false,
            notify_attendees: false,
            batch_size: 100,
        }
    }
}

impl PimSyncOptions {
    /// Sets the kinds to move.
    #[must_use]
    pub fn with_kinds(mut self, kinds: impl IntoIterator<Item = PimKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Sets whether removals travel.
    #[must_use]
    pub fn with_propagate_deletions(mut self, on: bool) -> Self {
        self.propagate_deletions = on;
        self
    }

    /// Sets whether attendees may be notified.
    #[must_use]
    pub fn with_notify_attendees(mut self, on: bool) -> Self {
        self.notify_attendees = on;
        self
    }

    /// Sets the batch size (at least 1).
    #[must_use]
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }
}

/// What happened to one collection's items in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PimCounts {
    /// Items listed by the source.
    pub listed: u64,
    /// Items written (created or replaced).
    pub written: u64,
    /// Of those, replaces of an earlier copy (the item changed at the source).
    pub updated: u64,
    /// Listed as changed but equal to what the destination holds (nothing written).
    pub unchanged: u64,
    /// Found at the destination already (a lost answer, a lost state file) and taken as
    /// the copy.
    pub adopted: u64,
    /// Copies deleted because the item was removed at the source.
    pub deleted: u64,
    /// Items removed at the source whose copy was kept (deletions not asked for).
    pub removed_kept: u64,
    /// Writes whose outcome is still unknown (settled by the next run).
    pub pending: u64,
    /// Items that failed (see the failures).
    pub failed: u64,
}

impl PimCounts {
    fn add(&mut self, o: &PimCounts) {
        self.listed += o.listed;
        self.written += o.written;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.adopted += o.adopted;
        self.deleted += o.deleted;
        self.removed_kept += o.removed_kept;
        self.pending += o.pending;
        self.failed += o.failed;
    }
}

/// One collection's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CollectionReport {
    /// What it holds.
    pub kind: PimKind,
    /// Its name at the source.
    pub name: String,
    /// Its id at the source.
    pub source_id: String,
    /// Its id at the destination.
    pub dest_id: String,
    /// What happened to its items.
    pub counts: PimCounts,
    /// What the destination could not keep as it was, per item.
    pub transformations: Vec<Transformation>,
    /// The items that failed, with their reasons.
    pub failures: Vec<ItemFailure>,
    /// Whether the checkpoint advanced (everything listed is done or failed for good).
    pub complete: bool,
}

impl CollectionReport {
    /// The report of a collection whose pass stopped on `err` (listing, the destination
    /// collection, the state store): incomplete, with the error as its one failure.
    fn failed(c: &super::Collection, err: &crate::Error) -> Self {
        let failure =
            ItemFailure::of(ledger_folder(c), crate::MessageId::new(""), err).with_final(false);
        Self {
            kind: c.kind,
            name: c.name.clone(),
            source_id: c.id.to_string(),
            dest_id: String::new(),
            counts: PimCounts {
                failed: 1,
                ..PimCounts::default()
            },
            transformations: Vec::new(),
            failures: vec![failure],
            complete: false,
        }
    }
}

/// The outcome of a contact and calendar pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PimReport {
    /// One entry per source collection.
    pub collections: Vec<CollectionReport>,
}

impl PimReport {
    /// The counts of every collection added up.
    pub fn totals(&self) -> PimCounts {
        let mut t = PimCounts::default();
        for c in &self.collections {
            t.add(&c.counts);
        }
        t
    }

    /// Whether every collection is complete and nothing failed or waits.
    pub fn is_clean(&self) -> bool {
        let t = self.totals();
        t.failed == 0 && t.pending == 0 && self.collections.iter().all(|c| c.complete)
    }
}

/// A contact and calendar migration between one source and one destination.
///
/// Its state lives in the [`StateStore`] under `"<job>#pim"`, beside the mail ledger of the
/// same job, so one state file resumes both.
#[derive(Debug)]
pub struct PimSync<'a> {
    source: &'a dyn PimSource,
    dest: &'a dyn PimDestination,
    state: &'a dyn StateStore,
    job: String,
    options: PimSyncOptions,
}

impl<'a> PimSync<'a> {
    /// A migration with default options.
    pub fn new(
        source: &'a dyn PimSource,
        dest: &'a dyn PimDestination,
        state: &'a dyn StateStore,
        job: &str,
    ) -> Self {
        Self {
            source,
            dest,
            state,
            job: format!("{job}#pim"),
            options: PimSyncOptions::default(),
        }
    }

    /// Sets the options.
    #[must_use]
    pub fn with_options(mut self, options: PimSyncOptions) -> Self {
        self.options = options;
        self
    }

    /// Runs one pass over every collection of the chosen kinds.
    ///
    /// # Errors
    /// `Unsupported` before any I/O when the destination cannot write the kinds asked for
    /// (or cannot delete when deletions are asked); errors listing collections or of the
    /// state store. Item errors do not fail the run: they are in the report. Credentials
    /// refused (`Unauthenticated`) end the pass at the collection where they were: its
    /// report is incomplete, the collections after it are not visited.
    pub async fn run(&self) -> Result<PimReport> {
        let src_caps = self.source.pim_capabilities();
        let caps = self.dest.pim_capabilities();
        let mut report = PimReport::default();
        for &kind in &self.options.kinds {
            if !src_caps.holds(kind) {
                continue;
            }
            if !caps.holds(kind) || !caps.write {
                return Err(crate::Error::new(
                    crate::ErrorKind::Unsupported,
                    format!("the destination cannot store {kind}"),
                ));
            }
            if self.options.propagate_deletions && !caps.delete {
                return Err(crate::Error::new(
                    crate::ErrorKind::Unsupported,
                    "the destination cannot delete items; run without deletions",
                ));
            }
            for collection in self.source.list_collections(kind).await? {
                // One collection that cannot be read or written stops only itself.
                let r = match pass::run(self, &caps, &collection).await {
                    Ok(r) => r,
                    Err(e) => CollectionReport::failed(&collection, &e),
                };
                // Credentials refused: every other collection would be refused too, so
                // the pass ends here (incomplete: what is left moves on the next one).
                let refused = r
                    .failures
                    .iter()
                    .any(|f| f.kind == crate::ErrorKind::Unauthenticated);
                report.collections.push(r);
                if refused {
                    return Ok(report);
                }
            }
        }
        Ok(report)
    }

    fn blocks_invitations(&self, caps: &super::PimCapabilities) -> bool {
        caps.notifications == Notifications::Always && !self.options.notify_attendees
    }
}

//! What a run did, per folder and in total.

use std::fmt;
use std::ops::AddAssign;

use serde::Serialize;

use crate::state::ItemFailure;
use crate::FolderPath;

/// Counters for one folder or a whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Messages the source listed as new or changed.
    pub listed: u64,
    /// Messages written to the destination.
    pub copied: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Messages found already at the destination and not written again.
    pub deduplicated: u64,
    /// Messages whose flags were updated.
    pub flags_updated: u64,
    /// Messages already migrated and unchanged.
    pub unchanged: u64,
    /// Messages left out by a filter (date range, size).
    pub filtered: u64,
    /// Messages that failed (see the failures list).
    pub failed: u64,
    /// Messages deleted at the destination because they left the source.
    pub deleted: u64,
    /// Messages not tried again because an earlier pass found them unmigratable (malformed,
    /// too large); they stay in the failures list. See [`SyncOptions::retry_failed`].
    ///
    /// [`SyncOptions::retry_failed`]: super::SyncOptions::retry_failed
    pub previously_failed: u64,
    /// Writes whose outcome is still unknown at the end of the pass (the destination could
    /// not be asked): they stay pending, hold the checkpoint, and are looked up on the next
    /// run, never written blindly.
    pub unsettled: u64,
    /// Writes of unknown outcome that this destination cannot look up (it has no
    /// [`find_existing`](crate::Capabilities::find_existing)): a rerun cannot settle them.
    /// They stay pending and hold their folder's checkpoint until the destination is
    /// checked by hand and the run is told to write them again
    /// ([`SyncOptions::rewrite_uncheckable`](super::SyncOptions::rewrite_uncheckable)).
    pub uncheckable: u64,
    /// Copies that were deleted or moved away at the destination since they were written,
    /// so a flag change could not be carried; they are not copied again.
    pub gone_at_destination: u64,
    /// Messages written to a destination that stores 8-bit header bytes as `X`
    /// ([`Capabilities::replaces_8bit_header_bytes`](crate::Capabilities::replaces_8bit_header_bytes)),
    /// whose copies therefore differ from the source in their header fields.
    pub header_bytes_replaced: u64,
}

impl Stats {
    /// Whether nothing was written, updated or deleted.
    pub fn moved_nothing(&self) -> bool {
        self.copied == 0 && self.flags_updated == 0 && self.deleted == 0 && self.deduplicated == 0
    }
}

impl AddAssign for Stats {
    fn add_assign(&mut self, o: Self) {
        self.listed += o.listed;
        self.copied += o.copied;
        self.bytes += o.bytes;
        self.deduplicated += o.deduplicated;
        self.flags_updated += o.flags_updated;
        self.unchanged += o.unchanged;
        self.filtered += o.filtered;
        self.failed += o.failed;
        self.deleted += o.deleted;
        self.previously_failed += o.previously_failed;
        self.unsettled += o.unsettled;
        self.uncheckable += o.uncheckable;
        self.gone_at_destination += o.gone_at_destination;
        self.header_bytes_replaced += o.header_bytes_replaced;
    }
}

/// One folder's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FolderReport {
    /// The source folder.
    pub source: FolderPath,
    /// Its destination.
    pub target: FolderPath,
    /// Counters.
    pub stats: Stats,
    /// Whether the pass completed and stored its checkpoint.
    pub complete: bool,
    /// Why the pass stopped early, if it did.
    pub error: Option<String>,
    /// The kind of that error (what to do next depends on it: a rerun helps after
    /// `Unavailable`, not after `PermissionDenied`).
    pub error_kind: Option<crate::ErrorKind>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SyncReport {
    /// The job name.
    pub job: String,
    /// True when nothing was written.
    pub dry_run: bool,
    /// Per-folder outcomes, in plan order.
    pub folders: Vec<FolderReport>,
    /// Sums over all folders.
    pub totals: Stats,
    /// Items that could not be migrated, with reasons (from this and earlier runs that
    /// have not been fixed since).
    pub failures: Vec<ItemFailure>,
    /// Source folders that completed an earlier pass and are no longer listed by the
    /// source: deleted or renamed there. Their copies stay at the destination; a renamed
    /// folder's messages are copied again under its new name.
    pub vanished_sources: Vec<crate::FolderId>,
}

impl SyncReport {
    /// Whether every folder completed.
    pub fn is_complete(&self) -> bool {
        self.folders.iter().all(|f| f.complete)
    }
}

/// One line per folder, the totals, and the failures split into those refused for good and
/// those tried again on the next pass. It states facts only; whether they amount to success
/// is the caller's to say (see [`SyncReport::is_complete`] and the failures' finality).
impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        let verb = if self.dry_run { "would copy" } else { "copied" };
        for r in &self.folders {
            let s = &r.stats;
            write!(
                f,
                "{:<40} {verb} {:>6}  flags {:>5}  dedup {:>5}  failed {:>4}",
                r.source.to_string(),
                s.copied,
                s.flags_updated,
                s.deduplicated,
                s.failed
            )?;
            match &r.error {
                Some(e) => write!(f, "  stopped early: {e}")?,
                None if !r.complete => write!(f, "  stopped early")?,
                None => {}
            }
            writeln!(f)?;
        }
        if t.moved_nothing() && t.failed == 0 && t.unsettled == 0 && self.is_complete() {
            write!(
                f,
                "Nothing to do: nothing changed at the source since the last pass ({} messages unchanged",
                t.unchanged
            )?;
            if t.previously_failed > 0 {
                write!(f, ", {} known failures not retried", t.previously_failed)?;
            }
            writeln!(f, ").")?;
        } else {
            writeln!(
                f,
                "Total: {verb} {} messages ({} bytes), {} flag updates, {} deduplicated, {} deleted, {} filtered, {} failed, {} unchanged.",
                t.copied, t.bytes, t.flags_updated, t.deduplicated, t.deleted, t.filtered, t.failed, t.unchanged
            )?;
        }
        if !self.vanished_sources.is_empty() {
            let names: Vec<&str> = self.vanished_sources.iter().map(|f| f.as_str()).collect();
            writeln!(
                f,
                "Source folders gone since the last pass (deleted or renamed at the source): {}. \
                 Their copies stay at the destination; a renamed folder was copied again under \
                 its new name.",
                names.join(", ")
            )?;
        }
        if t.gone_at_destination > 0 {
            writeln!(
                f,
                "{} copies were deleted or moved away at the destination since they were written; \
                 their flag changes could not be carried.",
                t.gone_at_destination
            )?;
        }
        if t.uncheckable > 0 {
            writeln!(
                f,
                "{} writes of unknown outcome cannot be checked: the destination cannot look \
                 copies up. See whether they arrived, then run again with the option to write \
                 them again (it duplicates those that did arrive).",
                t.uncheckable
            )?;
        }
        if t.header_bytes_replaced > 0 {
            writeln!(
                f,
                "{} messages had 8-bit bytes in their header fields, which the destination stores \
                 as X (Cyrus: munge8bit); their copies differ from the source there.",
                t.header_bytes_replaced
            )?;
        }
        let (finals, retried): (Vec<_>, Vec<_>) =
            self.failures.iter().partition(|x| x.final_for_item);
        for (title, list) in [
            ("Refused for good (not retried):", finals),
            ("Failed this time, tried again on the next pass:", retried),
        ] {
            if !list.is_empty() {
                writeln!(f, "{title}")?;
                for x in list {
                    writeln!(f, "  failed: {}", x.message)?;
                }
            }
        }
        Ok(())
    }
}

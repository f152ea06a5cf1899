//! The verification report: per-folder counts and the differences, naming ids on both sides.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{ContentHash, ErrorKind, Flag, FolderId, FolderPath, MessageId};

/// A folder on one side of a comparison: its provider id and its path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FolderRef {
    /// The provider's handle.
    pub id: FolderId,
    /// The folder's location.
    pub path: FolderPath,
}

impl FolderRef {
    /// Pairs a provider id with a path.
    pub fn new(id: FolderId, path: FolderPath) -> Self {
        Self { id, path }
    }
}

impl From<&crate::Folder> for FolderRef {
    fn from(f: &crate::Folder) -> Self {
        Self::new(f.id.clone(), f.path.clone())
    }
}

/// Which side of the comparison an item or error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Side {
    /// The mailbox migrated from.
    Source,
    /// The mailbox migrated to.
    Dest,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Source => "source",
            Self::Dest => "dest",
        })
    }
}

/// A message present in the source folder but not in the destination folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MissingItem {
    /// The source id.
    pub source_id: MessageId,
    /// The `Message-ID` header, if the message has one.
    pub message_id: Option<String>,
    /// The content hash of the source bytes.
    pub hash: ContentHash,
}

/// A message present in the destination folder but not in the source folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExtraItem {
    /// The destination id.
    pub dest_id: MessageId,
    /// The `Message-ID` header, if the message has one.
    pub message_id: Option<String>,
    /// The content hash of the destination bytes.
    pub hash: ContentHash,
}

/// A message whose `Message-ID` is on both sides but whose bytes differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChangedItem {
    /// The source id.
    pub source_id: MessageId,
    /// The destination id.
    pub dest_id: MessageId,
    /// The shared `Message-ID` header.
    pub message_id: String,
    /// The content hash of the source bytes.
    pub source_hash: ContentHash,
    /// The content hash of the destination bytes.
    pub dest_hash: ContentHash,
}

/// A matched message whose flags differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FlagDifference {
    /// The source id.
    pub source_id: MessageId,
    /// The destination id.
    pub dest_id: MessageId,
    /// Flags the source has and the destination lacks.
    pub only_in_source: Vec<Flag>,
    /// Flags the destination has and the source lacks.
    pub only_in_dest: Vec<Flag>,
}

/// A matched message whose internal date differs (compared to the second, as instants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DateDifference {
    /// The source id.
    pub source_id: MessageId,
    /// The destination id.
    pub dest_id: MessageId,
    /// The source's internal date.
    #[serde(with = "time::serde::rfc3339::option")]
    pub source_date: Option<OffsetDateTime>,
    /// The destination's internal date (`None` when the destination reports none).
    #[serde(with = "time::serde::rfc3339::option")]
    pub dest_date: Option<OffsetDateTime>,
}

/// A message that was listed but could not be fetched; it takes no part in the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UnreadableItem {
    /// The side it was listed on.
    pub side: Side,
    /// Its id on that side.
    pub id: MessageId,
    /// What went wrong.
    pub kind: ErrorKind,
    /// The error, naming folder and item (never content).
    pub error: String,
}

/// A folder that could not be compared at all (its listing failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FolderError {
    /// The side whose listing failed.
    pub side: Side,
    /// What went wrong.
    pub kind: ErrorKind,
    /// The error, naming the folder.
    pub error: String,
}

/// Exact counts for one folder (or, summed, for the whole report).
///
/// The lists in [`FolderReport`] may be capped by
/// [`VerifyOptions::with_max_listed`](super::VerifyOptions::with_max_listed); the counts
/// never are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counts {
    /// Messages listed in the source folder.
    pub source: u64,
    /// Messages listed in the destination folder.
    pub dest: u64,
    /// Source messages with an identical copy in the destination.
    pub matched: u64,
    /// Source messages with no copy in the destination.
    pub missing: u64,
    /// Destination messages with no original in the source.
    pub extra: u64,
    /// Messages with the same `Message-ID` on both sides but different bytes.
    pub changed: u64,
    /// Matched messages whose flags differ.
    pub flag_differences: u64,
    /// Matched messages whose internal dates differ.
    pub date_differences: u64,
    /// Messages (either side) that could not be fetched.
    pub unreadable: u64,
    /// Source messages not at the destination that the migration recorded as failed for
    /// good ([`FolderPair::with_failed`](super::FolderPair::with_failed)): explained, so
    /// not a difference.
    #[serde(default)]
    pub failed: u64,
}

impl Counts {
    /// Whether these counts show no difference and nothing unreadable.
    pub fn is_clean(&self) -> bool {
        self.differences() == 0
    }

    pub(crate) fn add(&mut self, o: &Counts) {
        self.source += o.source;
        self.dest += o.dest;
        self.matched += o.matched;
        self.missing += o.missing;
        self.extra += o.extra;
        self.changed += o.changed;
        self.flag_differences += o.flag_differences;
        self.date_differences += o.date_differences;
        self.unreadable += o.unreadable;
        self.failed += o.failed;
    }

    /// The number of differences: missing, extra, changed (content, flags, date) and
    /// unreadable messages. Recorded failures are not differences.
    pub fn differences(&self) -> u64 {
        self.missing
            + self.extra
            + self.changed
            + self.flag_differences
            + self.date_differences
            + self.unreadable
    }
}

/// The comparison of one source folder with its destination folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FolderReport {
    /// The source folder.
    pub source: FolderRef,
    /// The destination folder; `None` when it does not exist (every message is missing).
    pub dest: Option<FolderRef>,
    /// Exact counts.
    pub counts: Counts,
    /// Source messages with no copy in the destination.
    pub missing: Vec<MissingItem>,
    /// Destination messages with no original in the source.
    pub extra: Vec<ExtraItem>,
    /// Same `Message-ID`, different bytes.
    pub changed: Vec<ChangedItem>,
    /// Matched messages whose flags differ.
    pub flag_differences: Vec<FlagDifference>,
    /// Matched messages whose internal dates differ.
    pub date_differences: Vec<DateDifference>,
    /// Messages that could not be fetched.
    pub unreadable: Vec<UnreadableItem>,
    /// Source messages recorded as failed for good by the migration (not differences).
    #[serde(default)]
    pub failed: Vec<MissingItem>,
    /// Set when a listing failed and the folder could not be compared.
    pub error: Option<FolderError>,
    /// True when some lists were capped (the counts are still exact).
    pub truncated: bool,
}

impl FolderReport {
    /// An empty report for a pair of folders.
    pub fn new(source: FolderRef, dest: Option<FolderRef>) -> Self {
        Self {
            source,
            dest,
            counts: Counts::default(),
            missing: Vec::new(),
            extra: Vec::new(),
            changed: Vec::new(),
            flag_differences: Vec::new(),
            date_differences: Vec::new(),
            unreadable: Vec::new(),
            failed: Vec::new(),
            error: None,
            truncated: false,
        }
    }

    /// Whether both sides hold the same messages with the same flags and dates, everything
    /// was readable and the destination folder exists.
    pub fn is_clean(&self) -> bool {
        self.error.is_none() && self.dest.is_some() && self.counts.is_clean()
    }
}

/// Sums over every folder of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Totals {
    /// Folders compared.
    pub folders: u64,
    /// Folders with no difference.
    pub clean_folders: u64,
    /// Folders whose destination does not exist.
    pub missing_folders: u64,
    /// Folders that could not be compared because a listing failed.
    pub failed_folders: u64,
    /// The per-folder counts, summed.
    pub counts: Counts,
}

/// The result of [`verify`](super::verify): one report per folder pair, plus totals.
///
/// Serialises to JSON with serde; [`Display`](std::fmt::Display) (or
/// [`to_text`](VerifyReport::to_text)) renders the readable form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// One entry per folder pair, in the order given.
    pub folders: Vec<FolderReport>,
    /// Sums over every folder.
    pub totals: Totals,
}

impl VerifyReport {
    /// Builds a report from folder reports, computing the totals.
    pub fn from_folders(folders: Vec<FolderReport>) -> Self {
        let mut totals = Totals::default();
        for f in &folders {
            totals.folders += 1;
            totals.clean_folders += u64::from(f.is_clean());
            totals.missing_folders += u64::from(f.dest.is_none());
            totals.failed_folders += u64::from(f.error.is_some());
            totals.counts.add(&f.counts);
        }
        Self { folders, totals }
    }

    /// Whether every folder is clean: nothing missing, extra, changed, unreadable, no flag
    /// or date difference, no failed listing and no missing folder. Recorded failures
    /// ([`Counts::failed`]) do not make a report unclean.
    pub fn is_clean(&self) -> bool {
        self.folders.iter().all(FolderReport::is_clean)
    }

    /// The number of differences over all folders, plus one per folder that could not be
    /// compared or has no destination folder (0 exactly when [`is_clean`](Self::is_clean)).
    pub fn differences(&self) -> u64 {
        self.folders
            .iter()
            .map(|f| {
                f.counts.differences()
                    + u64::from(f.error.is_some())
                    + u64::from(f.error.is_none() && f.dest.is_none())
            })
            .sum()
    }

    /// Serialises the report as pretty-printed JSON.
    ///
    /// # Errors
    /// [`ErrorKind::Unexpected`] if serialisation fails (it does not for these types).
    pub fn to_json(&self) -> crate::Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| {
            crate::Error::new(ErrorKind::Unexpected, "cannot serialise the report").with_source(e)
        })
    }

    /// Reads a report back from JSON.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidMessage`] if the text is not a report.
    pub fn from_json(json: &str) -> crate::Result<Self> {
        serde_json::from_str(json).map_err(|e| {
            crate::Error::new(ErrorKind::InvalidMessage, "not a verification report").with_source(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(p: &str) -> FolderRef {
        FolderRef::new(FolderId::new(p), FolderPath::parse(p, '/').unwrap())
    }

    #[test]
    fn totals_sum_folders_and_classify() {
        let clean = FolderReport::new(folder("INBOX"), Some(folder("INBOX")));
        let mut missing_dest = FolderReport::new(folder("Old"), None);
        missing_dest.counts.source = 3;
        missing_dest.counts.missing = 3;
        let mut failed = FolderReport::new(folder("Bad"), Some(folder("Bad")));
        failed.error = Some(FolderError {
            side: Side::Dest,
            kind: ErrorKind::Unavailable,
            error: "down".into(),
        });
        let r = VerifyReport::from_folders(vec![clean, missing_dest, failed]);
        assert_eq!(r.totals.folders, 3);
        assert_eq!(r.totals.clean_folders, 1);
        assert_eq!(r.totals.missing_folders, 1);
        assert_eq!(r.totals.failed_folders, 1);
        assert_eq!(r.totals.counts.missing, 3);
        assert!(!r.is_clean());
    }

    #[test]
    fn json_round_trip_keeps_everything() {
        let mut f = FolderReport::new(folder("A/B"), Some(folder("A.B")));
        f.counts.date_differences = 1;
        f.date_differences.push(DateDifference {
            source_id: MessageId::new("1"),
            dest_id: MessageId::new("2"),
            source_date: Some(time::macros::datetime!(2020-01-02 03:04:05 +01:00)),
            dest_date: None,
        });
        let r = VerifyReport::from_folders(vec![f]);
        let back = VerifyReport::from_json(&r.to_json().unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            VerifyReport::from_json("{").unwrap_err().kind(),
            ErrorKind::InvalidMessage
        );
    }
}

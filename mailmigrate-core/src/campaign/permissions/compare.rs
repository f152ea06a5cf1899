//! The review's result: every grant that differs, and how many were compared.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::campaign::report::{PermissionDifference, PermissionReview};

/// How a grant differs between source and destination.
///
/// ```
/// use mailmigrate_core::campaign::permissions::DifferenceKind;
/// assert_eq!(DifferenceKind::Missing.to_string(), "missing at the destination");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DifferenceKind {
    /// The source grants it; the destination does not.
    Missing,
    /// Only the destination grants it.
    Extra,
    /// Both sides grant the grantee something on the folder, but not the same.
    Changed,
    /// Not compared: one side's directory could not list permissions.
    Unchecked,
}

impl DifferenceKind {
    /// The words the report shows.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Missing => "missing at the destination",
            Self::Extra => "extra at the destination",
            Self::Changed => "changed at the destination",
            Self::Unchecked => "not checked",
        }
    }
}

impl fmt::Display for DifferenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One grant that differs: on which mailbox (its campaign key, the source address), for
/// which grantee (as the destination should name it), which right, on which folder.
///
/// ```
/// use mailmigrate_core::campaign::permissions::{DifferenceKind, RightDifference};
/// let d = RightDifference::new("ann@old.example", "bo@new.example", "send_as", DifferenceKind::Missing);
/// assert_eq!(d.issue(), "missing at the destination");
/// let c = RightDifference::new("ann@old.example", "bo", "lrs", DifferenceKind::Changed)
///     .with_folder("Projects")
///     .with_rights(Some("lrs"), Some("lr"));
/// assert_eq!(c.issue(), "changed at the destination: source lrs, destination lr");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RightDifference {
    /// The mailbox's campaign key (its source address, lower-case).
    pub mailbox: String,
    /// The grantee, as the destination names it (mapped from the source's name).
    pub grantee: String,
    /// The right: a [`Right`](crate::directory::Right)'s name (`"send_as"`) or IMAP
    /// rights letters (`"lrs"`).
    pub right: String,
    /// The folder, for a folder-level grant.
    pub folder: Option<String>,
    /// How it differs.
    pub kind: DifferenceKind,
    /// What the source grants, for a changed grant.
    pub source: Option<String>,
    /// What the destination grants, for a changed grant.
    pub destination: Option<String>,
    /// Why it was not checked, for an unchecked grant.
    pub note: Option<String>,
}

impl RightDifference {
    /// A difference of `right` held by `grantee` on `mailbox`.
    pub fn new(
        mailbox: impl Into<String>,
        grantee: impl Into<String>,
        right: impl Into<String>,
        kind: DifferenceKind,
    ) -> Self {
        Self {
            mailbox: mailbox.into(),
            grantee: grantee.into(),
            right: right.into(),
            folder: None,
            kind,
            source: None,
            destination: None,
            note: None,
        }
    }

    /// Sets the folder.
    #[must_use]
    pub fn with_folder(mut self, folder: impl Into<String>) -> Self {
        self.folder = Some(folder.into());
        self
    }

    /// Sets what each side grants (for a changed grant).
    #[must_use]
    pub fn with_rights(mut self, source: Option<&str>, destination: Option<&str>) -> Self {
        self.source = source.map(str::to_owned);
        self.destination = destination.map(str::to_owned);
        self
    }

    /// Sets why the grant was not checked.
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// The one line the report shows: the kind, then what each side grants or why it was
    /// not checked.
    pub fn issue(&self) -> String {
        let mut s = self.kind.describe().to_owned();
        if let (Some(src), Some(dst)) = (&self.source, &self.destination) {
            s.push_str(&format!(": source {src}, destination {dst}"));
        }
        if let Some(note) = &self.note {
            s.push_str(&format!(": {note}"));
        }
        s
    }

    /// This difference as the report's [`PermissionDifference`].
    pub fn to_report(&self) -> PermissionDifference {
        let d = PermissionDifference::new(&self.mailbox, &self.grantee, &self.right, self.issue());
        match &self.folder {
            Some(f) => d.with_folder(f),
            None => d,
        }
    }
}

impl From<&RightDifference> for PermissionDifference {
    fn from(d: &RightDifference) -> Self {
        d.to_report()
    }
}

/// What a permissions review compared and what it found.
///
/// ```
/// use mailmigrate_core::campaign::permissions::{DifferenceKind, PermissionComparison, RightDifference};
/// use mailmigrate_core::campaign::report::PermissionReview;
/// let mut c = PermissionComparison::default();
/// c.pairs = 2;
/// c.grants = 5;
/// c.differences.push(RightDifference::new("ann@old.example", "bo@new.example", "full_access", DifferenceKind::Extra));
/// let review = PermissionReview::from(&c);
/// assert_eq!((review.checked, review.differences.len()), (5, 1));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PermissionComparison {
    /// Mailbox pairs compared.
    pub pairs: u64,
    /// Distinct grants compared, both sides together (a grant on both sides counts once).
    pub grants: u64,
    /// Every grant that differs, mailbox by mailbox in plan order.
    pub differences: Vec<RightDifference>,
}

impl PermissionComparison {
    /// Whether nothing differs.
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }

    /// Adds another comparison's counts and differences (delegations and folder ACLs in
    /// one review).
    pub fn merge(&mut self, other: PermissionComparison) {
        self.pairs = self.pairs.max(other.pairs);
        self.grants += other.grants;
        self.differences.extend(other.differences);
    }

    /// The report's section: `checked` is the number of grants compared
    /// ([`grants`](Self::grants)), as the report's page says ("N grants compared").
    pub fn to_review(&self) -> PermissionReview {
        PermissionReview::new(
            self.grants,
            self.differences
                .iter()
                .map(RightDifference::to_report)
                .collect(),
        )
    }
}

impl From<&PermissionComparison> for PermissionReview {
    fn from(c: &PermissionComparison) -> Self {
        c.to_review()
    }
}

impl From<PermissionComparison> for PermissionReview {
    fn from(c: PermissionComparison) -> Self {
        c.to_review()
    }
}

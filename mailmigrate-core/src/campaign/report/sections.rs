//! The report's optional sections, filled by the caller: verification, permission review,
//! send-and-receive probes and DNS. They hold plain strings and numbers, so other modules'
//! results convert into them without the report depending on their types.

use serde::{Deserialize, Serialize};

use crate::verify::VerifyReport;

/// The final comparison of one mailbox's source and destination.
///
/// ```
/// use mailmigrate_core::campaign::report::VerificationResult;
/// use mailmigrate_core::verify::VerifyReport;
/// let v = VerificationResult::from_verify("ann@old.example", &VerifyReport::default());
/// assert!(v.clean);
/// assert_eq!(v.differences, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerificationResult {
    /// The mailbox's key.
    pub mailbox: String,
    /// Whether nothing differs.
    pub clean: bool,
    /// Folders compared.
    pub folders: u64,
    /// Messages with an identical copy at the destination.
    pub matched: u64,
    /// The number of differences.
    pub differences: u64,
    /// What differs, one line each (capped by the caller).
    pub details: Vec<String>,
}

impl VerificationResult {
    /// A result for `mailbox` with `differences` and their `details`.
    pub fn new(mailbox: impl Into<String>, differences: u64, details: Vec<String>) -> Self {
        Self {
            mailbox: crate::directory::address_key(&mailbox.into()),
            clean: differences == 0,
            folders: 0,
            matched: 0,
            differences,
            details,
        }
    }

    /// The summary of a [`VerifyReport`]: its totals, and one line per folder that differs.
    pub fn from_verify(mailbox: &str, report: &VerifyReport) -> Self {
        let details = report
            .folders
            .iter()
            .filter(|f| !f.is_clean())
            .map(|f| {
                let c = &f.counts;
                let mut parts = Vec::new();
                if let Some(e) = &f.error {
                    parts.push(format!("{} listing failed: {}", e.side, e.error));
                } else if f.dest.is_none() {
                    parts.push("no destination folder".to_owned());
                }
                for (n, what) in [
                    (c.missing, "missing"),
                    (c.extra, "extra"),
                    (c.changed, "changed"),
                    (c.flag_differences, "flags differ"),
                    (c.date_differences, "dates differ"),
                    (c.unreadable, "unreadable"),
                ] {
                    if n > 0 {
                        parts.push(format!("{n} {what}"));
                    }
                }
                format!("{}: {}", f.source.path, parts.join(", "))
            })
            .collect();
        Self {
            folders: report.totals.folders,
            matched: report.totals.counts.matched,
            clean: report.is_clean(),
            ..Self::new(mailbox, report.differences(), details)
        }
    }
}

/// The review of permissions and delegations after the move.
///
/// ```
/// use mailmigrate_core::campaign::report::{PermissionDifference, PermissionReview};
/// let r = PermissionReview::new(12, vec![PermissionDifference::new(
///     "ann@old.example", "bo@new.example", "full_access", "missing at the destination",
/// )]);
/// assert_eq!(r.differences.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PermissionReview {
    /// Grants compared.
    pub checked: u64,
    /// Grants that differ between source and destination.
    pub differences: Vec<PermissionDifference>,
}

impl PermissionReview {
    /// A review of `checked` grants that found `differences`.
    pub fn new(checked: u64, differences: Vec<PermissionDifference>) -> Self {
        Self {
            checked,
            differences,
        }
    }
}

/// One grant that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PermissionDifference {
    /// The mailbox the grant is on.
    pub mailbox: String,
    /// Who holds it.
    pub grantee: String,
    /// The right (`"full_access"`, `"send_as"`, a folder right).
    pub right: String,
    /// The folder, for a folder-level grant.
    pub folder: Option<String>,
    /// What differs (`"missing at the destination"`).
    pub issue: String,
}

impl PermissionDifference {
    /// A difference of `right` held by `grantee` on `mailbox`.
    pub fn new(
        mailbox: impl Into<String>,
        grantee: impl Into<String>,
        right: impl Into<String>,
        issue: impl Into<String>,
    ) -> Self {
        Self {
            mailbox: mailbox.into(),
            grantee: grantee.into(),
            right: right.into(),
            folder: None,
            issue: issue.into(),
        }
    }

    /// Sets the folder.
    #[must_use]
    pub fn with_folder(mut self, folder: impl Into<String>) -> Self {
        self.folder = Some(folder.into());
        self
    }
}

/// One send-and-receive probe: a test message sent to a mailbox through the destination's
/// submission path, and whether (and how soon) it arrived.
///
/// ```
/// use mailmigrate_core::campaign::report::ProbeCheck;
/// let p = ProbeCheck::new("ann@new.example", "probe-1@mailmigrate", "2026-01-01T00:00:00Z")
///     .with_found_after(1.5);
/// assert!(p.ok);
/// let lost = ProbeCheck::new("bo@new.example", "probe-2@mailmigrate", "2026-01-01T00:00:00Z")
///     .with_error("not found in INBOX within 120s");
/// assert!(!lost.ok);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProbeCheck {
    /// The mailbox the probe was sent to.
    pub mailbox: String,
    /// The probe's Message-ID.
    pub message_id: String,
    /// When it was submitted (RFC 3339).
    pub sent_at: String,
    /// Seconds from the submission until it was found; `None` when it was not.
    pub found_after_secs: Option<f64>,
    /// Whether it was deleted once found.
    pub deleted: bool,
    /// Whether it arrived and nothing went wrong.
    pub ok: bool,
    /// What went wrong.
    pub error: Option<String>,
}

impl ProbeCheck {
    /// A probe to `mailbox` sent at `sent_at`, not (yet) found.
    pub fn new(
        mailbox: impl Into<String>,
        message_id: impl Into<String>,
        sent_at: impl Into<String>,
    ) -> Self {
        Self {
            mailbox: mailbox.into(),
            message_id: message_id.into(),
            sent_at: sent_at.into(),
            found_after_secs: None,
            deleted: false,
            ok: false,
            error: None,
        }
    }

    /// Records that it was found `secs` seconds after the submission.
    #[must_use]
    pub fn with_found_after(mut self, secs: f64) -> Self {
        self.found_after_secs = Some(secs);
        self.ok = self.error.is_none();
        self
    }

    /// Records that it was deleted once found.
    #[must_use]
    pub fn with_deleted(mut self, deleted: bool) -> Self {
        self.deleted = deleted;
        self
    }

    /// Records what went wrong; the probe is then not ok.
    #[must_use]
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self.ok = false;
        self
    }
}

/// One mail domain's DNS as checked for the switch.
///
/// ```
/// use mailmigrate_core::campaign::report::{DnsDomainState, DnsRecordState};
/// let d = DnsDomainState::new("new.example")
///     .with_record(DnsRecordState::new("MX", "new.example", "10 mx.new.example").with_ttl(300))
///     .with_warning("SPF does not include the new provider");
/// assert_eq!(d.records[0].ttl, Some(300));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DnsDomainState {
    /// The domain.
    pub domain: String,
    /// Its records as found.
    pub records: Vec<DnsRecordState>,
    /// What needs attention.
    pub warnings: Vec<String>,
}

impl DnsDomainState {
    /// A domain with no records or warnings yet.
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            records: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Adds a record.
    #[must_use]
    pub fn with_record(mut self, record: DnsRecordState) -> Self {
        self.records.push(record);
        self
    }

    /// Adds a warning.
    #[must_use]
    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }
}

/// One DNS record: its type, name, value, TTL and, if known, what it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DnsRecordState {
    /// The record type (`"MX"`, `"TXT"`, `"CNAME"`).
    pub kind: String,
    /// The owner name.
    pub name: String,
    /// The value found.
    pub value: String,
    /// Its TTL in seconds.
    pub ttl: Option<u32>,
    /// The value the switch needs, if it differs from or is not yet `value`.
    pub expected: Option<String>,
    /// Whether it is as the switch needs it.
    pub ok: bool,
}

impl DnsRecordState {
    /// A record found as it should be.
    pub fn new(kind: impl Into<String>, name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            name: name.into(),
            value: value.into(),
            ttl: None,
            expected: None,
            ok: true,
        }
    }

    /// Sets the TTL.
    #[must_use]
    pub fn with_ttl(mut self, ttl: u32) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Records the value the switch needs; the record is then not ok unless it matches.
    #[must_use]
    pub fn with_expected(mut self, expected: impl Into<String>) -> Self {
        let expected = expected.into();
        self.ok = expected == self.value;
        self.expected = Some(expected);
        self
    }
}

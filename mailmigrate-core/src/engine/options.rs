//! Options for a sync run.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::MappingRules;

/// Which messages a run considers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct Filter {
    /// Only messages that arrived at or after this instant.
    #[serde(with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// Only messages that arrived before this instant.
    #[serde(with = "time::serde::rfc3339::option")]
    pub before: Option<OffsetDateTime>,
    /// Only messages of at most this many bytes.
    pub max_size: Option<u64>,
}

impl Filter {
    /// Keeps only messages that arrived at or after `since`.
    #[must_use]
    pub fn with_since(mut self, since: OffsetDateTime) -> Self {
        self.since = Some(since);
        self
    }

    /// Keeps only messages that arrived before `before`.
    #[must_use]
    pub fn with_before(mut self, before: OffsetDateTime) -> Self {
        self.before = Some(before);
        self
    }

    /// Keeps only messages of at most `bytes`.
    #[must_use]
    pub fn with_max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// Whether a message with this date and size passes. Unknown values pass.
    pub fn accepts(&self, date: Option<OffsetDateTime>, size: Option<u64>) -> bool {
        if let Some(d) = date {
            if self.since.is_some_and(|s| d < s) || self.before.is_some_and(|b| d >= b) {
                return false;
            }
        }
        !matches!((size, self.max_size), (Some(s), Some(m)) if s > m)
    }
}

/// How a run behaves.
///
/// ```
/// use mailmigrate_core::engine::SyncOptions;
/// let opts = SyncOptions::new("alice").with_dry_run(true).with_batch_size(128);
/// assert_eq!(opts.job, "alice");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct SyncOptions {
    /// The job's name in the state store (one per mailbox pair).
    pub job: String,
    /// List and plan, but write nothing and store no checkpoint.
    pub dry_run: bool,
    /// Delete at the destination what left the source (never at the source).
    pub propagate_deletions: bool,
    /// Carry flag changes of already copied messages.
    pub sync_flags: bool,
    /// Try again items an earlier pass found unmigratable (malformed, too large). Off by
    /// default: such items stay in the failures list and later passes skip them.
    pub retry_failed: bool,
    /// Folders copied at once.
    pub folder_concurrency: usize,
    /// Messages per append batch (capped by the destination's preference).
    pub batch_size: usize,
    /// Bytes per append batch: bounds memory together with `batch_size`.
    pub batch_bytes: usize,
    /// Which messages to consider.
    pub filter: Filter,
    /// How folders map.
    pub mapping: MappingRules,
    /// How long after a write of unknown outcome (a lost answer, an interrupted run) the
    /// engine waits before its last look-up decides that the write did not happen and sends
    /// it again. A server may still be committing a killed connection's upload for a moment
    /// after the look-up that first missed it; default 5 seconds.
    #[serde(with = "millis")]
    pub settle_grace: std::time::Duration,
    /// Write again the writes of unknown outcome that the destination cannot look up (it
    /// has no [`find_existing`](crate::Capabilities::find_existing)). Off by default: such
    /// writes stay pending, hold their folder's checkpoint, and are reported as
    /// [`Stats::uncheckable`](super::Stats::uncheckable), because nothing can tell whether
    /// they arrived. Turn it on once the destination has been checked by hand: each is then
    /// written again, which duplicates those that did arrive.
    pub rewrite_uncheckable: bool,
}

/// `Duration` as whole milliseconds in job files.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            job: "default".to_owned(),
            dry_run: false,
            propagate_deletions: false,
            sync_flags: true,
            retry_failed: false,
            folder_concurrency: 4,
            batch_size: 256,
            batch_bytes: 32 << 20,
            filter: Filter::default(),
            mapping: MappingRules::default(),
            settle_grace: std::time::Duration::from_secs(5),
            rewrite_uncheckable: false,
        }
    }
}

impl SyncOptions {
    /// Default options for the named job.
    pub fn new(job: impl Into<String>) -> Self {
        Self {
            job: job.into(),
            ..Self::default()
        }
    }

    /// Sets how long the engine waits before deciding that a write of unknown outcome did
    /// not happen (see [`SyncOptions::settle_grace`]).
    #[must_use]
    pub fn with_settle_grace(mut self, grace: std::time::Duration) -> Self {
        self.settle_grace = grace;
        self
    }

    /// Sets dry-run mode.
    #[must_use]
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Sets whether deletions propagate to the destination.
    #[must_use]
    pub fn with_propagate_deletions(mut self, yes: bool) -> Self {
        self.propagate_deletions = yes;
        self
    }

    /// Sets whether flag changes travel on later passes.
    #[must_use]
    pub fn with_sync_flags(mut self, yes: bool) -> Self {
        self.sync_flags = yes;
        self
    }

    /// Sets [`rewrite_uncheckable`](Self::rewrite_uncheckable).
    ///
    /// ```
    /// use mailmigrate_core::engine::SyncOptions;
    /// assert!(!SyncOptions::new("a").rewrite_uncheckable);
    /// assert!(SyncOptions::new("a").with_rewrite_uncheckable(true).rewrite_uncheckable);
    /// ```
    #[must_use]
    pub fn with_rewrite_uncheckable(mut self, yes: bool) -> Self {
        self.rewrite_uncheckable = yes;
        self
    }

    /// Sets whether items that failed for good on an earlier pass are tried again.
    #[must_use]
    pub fn with_retry_failed(mut self, yes: bool) -> Self {
        self.retry_failed = yes;
        self
    }

    /// Sets how many folders are copied at once.
    #[must_use]
    pub fn with_folder_concurrency(mut self, n: usize) -> Self {
        self.folder_concurrency = n.max(1);
        self
    }

    /// Sets the messages per append batch.
    #[must_use]
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Sets the message filter.
    #[must_use]
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Sets the folder mapping rules.
    #[must_use]
    pub fn with_mapping(mut self, mapping: MappingRules) -> Self {
        self.mapping = mapping;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn filter_bounds() {
        let f = Filter {
            since: Some(datetime!(2020-01-01 0:00 UTC)),
            before: Some(datetime!(2021-01-01 0:00 UTC)),
            max_size: Some(100),
        };
        assert!(f.accepts(Some(datetime!(2020-06-01 0:00 UTC)), Some(100)));
        assert!(!f.accepts(Some(datetime!(2019-06-01 0:00 UTC)), None));
        assert!(!f.accepts(Some(datetime!(2021-01-01 0:00 UTC)), None));
        assert!(!f.accepts(None, Some(101)));
        assert!(f.accepts(None, None));
    }
}

//! The report's data: plain, serialisable records of what a campaign did.
//!
//! Every field here is in the JSON file; the HTML page shows the same values and marks each
//! figure with its JSON pointer (`data-field="/totals/items_copied"`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::campaign::{Failure, MailboxCounts, Stage, StageCounts};
use crate::ErrorKind;

/// What the plan said: strategy, batches and their members, pilot, grace period, digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlanSummary {
    /// The strategy's name (`"cutover"`, `"staged"`, `"coexistence"`).
    pub strategy: String,
    /// For coexistence, the seconds between two delta passes.
    pub coexistence_interval_secs: Option<u64>,
    /// The grace period after the switch, in seconds.
    pub grace_period_secs: u64,
    /// The plan's digest, as the campaign's record keeps it.
    pub plan_hash: String,
    /// The pilot batch's name, if the plan has one.
    pub pilot: Option<String>,
    /// Whether a failed pilot keeps the other batches from starting.
    pub pilot_blocks: bool,
    /// How many mailboxes run at once.
    pub mailboxes_in_parallel: usize,
    /// Whether the plan backs every source up before the first copy.
    pub backup: bool,
    /// The batches in the order they run.
    pub batches: Vec<PlannedBatch>,
}

/// One batch as planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlannedBatch {
    /// Its name.
    pub name: String,
    /// Whether it is the pilot.
    pub pilot: bool,
    /// Its mailboxes' keys, in plan order.
    pub members: Vec<String>,
    /// The start of its window, if it has one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub window_start: Option<OffsetDateTime>,
    /// The end of its window, if it has one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub window_end: Option<OffsetDateTime>,
}

/// What the inventory said about the campaign's accounts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InventorySummary {
    /// Accounts in the directory's inventory (the campaign's mailboxes when no inventory
    /// was attached with [`with_inventory`](super::CampaignReport::with_inventory)).
    pub accounts: usize,
    /// Mailboxes the campaign moves.
    pub in_campaign: usize,
    /// Messages the inventory counted over the campaign's mailboxes (those that say).
    pub messages: Option<u64>,
    /// Bytes the inventory counted over the campaign's mailboxes (those that say).
    pub bytes: Option<u64>,
    /// Each campaign mailbox as the inventory describes it.
    pub mailboxes: Vec<InventoryMailbox>,
}

/// One mailbox as the inventory described it before the campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InventoryMailbox {
    /// The mailbox's key.
    pub mailbox: String,
    /// The account's display name, if the directory has one.
    pub name: Option<String>,
    /// Messages, if the directory counted them.
    pub messages: Option<u64>,
    /// Bytes of mail, if the directory counted them.
    pub bytes: Option<u64>,
    /// Contacts, if counted.
    pub contacts: Option<u64>,
    /// Calendar events, if counted.
    pub events: Option<u64>,
}

/// Sums over the whole campaign.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReportTotals {
    /// Mailboxes in the campaign.
    pub mailboxes: usize,
    /// Mailboxes per stage.
    pub stages: StageCounts,
    /// Messages written to destinations.
    pub items_copied: u64,
    /// Bytes written to destinations.
    pub bytes_copied: u64,
    /// Messages found at the destination already and not written again.
    pub deduplicated: u64,
    /// Contacts and events written.
    pub pim_written: u64,
    /// Items refused for good and left behind (listed in [`items`](super::CampaignReport::items)).
    pub items_skipped: u64,
    /// Items that failed and are tried again on the next pass (listed likewise).
    pub items_failed: u64,
    /// Seconds from the first mailbox's start to the last first copy's end.
    pub duration_secs: Option<f64>,
    /// [`Throughput`] over that span.
    pub throughput: Option<Throughput>,
}

/// Items and bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Throughput {
    /// Messages written per second.
    pub items_per_sec: f64,
    /// Bytes written per second.
    pub bytes_per_sec: f64,
}

impl Throughput {
    /// `items` and `bytes` over `secs` seconds; `None` for a span of no length.
    pub fn over(items: u64, bytes: u64, secs: f64) -> Option<Self> {
        #[allow(clippy::cast_precision_loss)] // volumes far below 2^52 per second
        (secs > 0.0).then(|| Self {
            items_per_sec: round3(items as f64 / secs),
            bytes_per_sec: round3(bytes as f64 / secs),
        })
    }
}

/// Rounds to three decimals, so the JSON and the page print the same short figure.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One batch's standing and what it moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchReport {
    /// Its name.
    pub name: String,
    /// Whether it is the pilot.
    pub pilot: bool,
    /// Whether a failed pilot keeps it from starting.
    pub blocked: bool,
    /// Its mailboxes per stage.
    pub stages: StageCounts,
    /// Its mailboxes.
    pub mailboxes: usize,
    /// Messages written.
    pub items_copied: u64,
    /// Bytes written.
    pub bytes_copied: u64,
    /// Items refused for good.
    pub items_skipped: u64,
    /// Items to be tried again.
    pub items_failed: u64,
    /// When its first mailbox started.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When its last mailbox finished its first copy (all of them did).
    #[serde(with = "time::serde::rfc3339::option")]
    pub synced_at: Option<OffsetDateTime>,
    /// Seconds between the two.
    pub duration_secs: Option<f64>,
}

/// What one mailbox moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Volume {
    /// Messages written to the destination, over all passes.
    pub items_copied: u64,
    /// Bytes written to the destination, over all passes.
    pub bytes_copied: u64,
    /// Messages found at the destination already.
    pub deduplicated: u64,
    /// Contacts and events written.
    pub pim_written: u64,
    /// Items refused for good and left behind.
    pub items_skipped: u64,
    /// Items to be tried again on the next pass.
    pub items_failed: u64,
}

/// One mailbox's standing, volumes, durations and throughput.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailboxReport {
    /// The mailbox's key (source address, lower-case).
    pub mailbox: String,
    /// Its destination address.
    pub destination: String,
    /// Its batch.
    pub batch: String,
    /// Its stage.
    pub stage: Stage,
    /// Why it failed, while it is failed.
    pub failure: Option<Failure>,
    /// Its counts as the campaign's state keeps them.
    pub counts: MailboxCounts,
    /// What it moved.
    pub volume: Volume,
    /// Its first move out of the queue.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// Its first arrival at [`Stage::Synced`].
    #[serde(with = "time::serde::rfc3339::option")]
    pub synced_at: Option<OffsetDateTime>,
    /// Its arrival at [`Stage::Validated`].
    #[serde(with = "time::serde::rfc3339::option")]
    pub validated_at: Option<OffsetDateTime>,
    /// Seconds from its start to its first copy's end (the backup included).
    pub duration_secs: Option<f64>,
    /// Seconds from its start to its validation.
    pub total_secs: Option<f64>,
    /// Seconds spent syncing over all passes (what the throughput is measured over).
    pub syncing_secs: f64,
    /// Messages and bytes written per second of syncing.
    pub throughput: Option<Throughput>,
    /// Moves recorded in its history.
    pub transitions: usize,
}

/// Whether an item was left behind for good or will be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ItemOutcome {
    /// Refused for good (malformed, too large): later passes skip it.
    Skipped,
    /// Failed this time; the next pass writes it again.
    Failed,
}

impl ItemOutcome {
    /// `"skipped"` or `"failed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

/// One item that was not migrated, with why.
///
/// ```
/// use mailmigrate_core::campaign::report::{ItemIssue, ItemOutcome};
/// use mailmigrate_core::ErrorKind;
/// let i = ItemIssue::new("ann@old.example", "INBOX", "42", ErrorKind::MessageTooLarge, "too big");
/// assert_eq!(i.outcome, ItemOutcome::Skipped);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ItemIssue {
    /// The mailbox's key.
    pub mailbox: String,
    /// The folder (or contact book, calendar) it is in.
    pub folder: String,
    /// Its id at the source.
    pub item: String,
    /// Skipped for good or to be tried again.
    pub outcome: ItemOutcome,
    /// What kind of error.
    pub kind: ErrorKind,
    /// Why, as the error says it.
    pub reason: String,
}

impl ItemIssue {
    /// An item of `mailbox` not migrated for `reason`; skipped when `kind` is final for an
    /// item ([`ErrorKind::is_final_for_item`]), else failed.
    pub fn new(
        mailbox: impl Into<String>,
        folder: impl Into<String>,
        item: impl Into<String>,
        kind: ErrorKind,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            mailbox: crate::directory::address_key(&mailbox.into()),
            folder: folder.into(),
            item: item.into(),
            outcome: if kind.is_final_for_item(false) {
                ItemOutcome::Skipped
            } else {
                ItemOutcome::Failed
            },
            kind,
            reason: reason.into(),
        }
    }

    /// Sets the outcome.
    #[must_use]
    pub fn with_outcome(mut self, outcome: ItemOutcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// The issue of an engine's failure record for `mailbox`.
    pub fn of(mailbox: &str, f: &crate::state::ItemFailure) -> Self {
        let outcome = if f.final_for_item {
            ItemOutcome::Skipped
        } else {
            ItemOutcome::Failed
        };
        Self::new(
            mailbox,
            f.src_folder.to_string(),
            f.src_id.to_string(),
            f.kind,
            &f.message,
        )
        .with_outcome(outcome)
    }
}

/// One point of the progress timeline: how many mailboxes were where at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProgressPoint {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Mailboxes that had finished their first copy (reached synced at least once).
    pub synced: usize,
    /// Mailboxes validated.
    pub validated: usize,
    /// Mailboxes failed at that moment.
    pub failed: usize,
}

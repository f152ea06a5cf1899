//! Where each mailbox of a campaign stands, and the moves between stages it may make.
//!
//! A mailbox goes `queued → backing up → syncing → synced`, then, after the switch,
//! `finalising → validated`. Coexistence passes take it `synced → syncing → synced` again.
//! A failure takes it to `failed` with its reason; `retry` brings it back to `queued`.
//! `pause` parks a mailbox that is between steps, and `resume` returns it where it was.
//! Any other move is refused with a [`TransitionError`]: a status record is a fact about a
//! mailbox that users entrusted with their only copy of years of mail, so it cannot jump.
//!
//! ```
//! use mailmigrate_core::campaign::{MailboxStatus, Stage};
//! use time::macros::datetime;
//! let t = datetime!(2025-03-01 20:00 UTC);
//! let mut s = MailboxStatus::new("alice@old.example", "alice@new.example", "pilot", t);
//! s.advance(Stage::BackingUp, t)?;
//! s.advance(Stage::Syncing, t)?;
//! assert!(s.advance(Stage::Validated, t).is_err()); // not synced yet
//! s.advance(Stage::Synced, t)?;
//! assert_eq!(s.stage, Stage::Synced);
//! # Ok::<(), mailmigrate_core::campaign::TransitionError>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ErrorKind;

/// A mailbox's stage in a campaign.
///
/// ```
/// use mailmigrate_core::campaign::Stage;
/// assert!(Stage::Queued.can_become(Stage::BackingUp));
/// assert!(!Stage::Queued.can_become(Stage::Validated));
/// assert_eq!(Stage::BackingUp.to_string(), "backing up");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stage {
    /// Waiting for its batch.
    Queued,
    /// Its source is being copied to the local backup.
    BackingUp,
    /// Its source is being copied to the destination.
    Syncing,
    /// The destination holds everything the source held at the last pass.
    Synced,
    /// After the switch: grace-period passes collect mail still arriving at the source.
    Finalising,
    /// The grace period is over and the final comparison found no difference.
    Validated,
    /// A step failed; [`MailboxStatus::failure`] says why.
    Failed,
    /// Parked by `pause`; `resume` returns it to the stage it left.
    Paused,
}

impl Stage {
    /// Every stage, in lifecycle order.
    pub const ALL: [Stage; 8] = [
        Stage::Queued,
        Stage::BackingUp,
        Stage::Syncing,
        Stage::Synced,
        Stage::Finalising,
        Stage::Validated,
        Stage::Failed,
        Stage::Paused,
    ];

    /// Whether a mailbox in this stage may move to `to`.
    ///
    /// An active stage may follow itself: a run interrupted mid-step (a killed process)
    /// resumes the same step, which the engine's ledger makes safe to repeat.
    pub fn can_become(self, to: Stage) -> bool {
        use Stage::*;
        matches!(
            (self, to),
            (Queued, BackingUp | Syncing | Paused | Failed)
                | (BackingUp, BackingUp | Syncing | Failed)
                | (Syncing, Syncing | Synced | Failed)
                | (Synced, Syncing | Finalising | Paused | Failed)
                | (Finalising, Finalising | Validated | Failed)
                | (Failed, Queued)
                | (Paused, Queued | Synced)
        )
    }

    /// Whether work is under way in this stage (a runner that stopped here was
    /// interrupted).
    pub fn is_active(self) -> bool {
        matches!(self, Self::BackingUp | Self::Syncing | Self::Finalising)
    }

    /// The stage's name in files and JSON (`"backing_up"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::BackingUp => "backing_up",
            Self::Syncing => "syncing",
            Self::Synced => "synced",
            Self::Finalising => "finalising",
            Self::Validated => "validated",
            Self::Failed => "failed",
            Self::Paused => "paused",
        }
    }

    /// The stage named `name` (as [`as_str`](Self::as_str) writes it).
    ///
    /// ```
    /// use mailmigrate_core::campaign::Stage;
    /// assert_eq!(Stage::parse("backing_up"), Some(Stage::BackingUp));
    /// assert_eq!(Stage::parse("lost"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().replace('_', " "))
    }
}

/// Why a mailbox failed: the error kind, its message, and the stage it failed in.
///
/// ```
/// use mailmigrate_core::campaign::{Failure, Stage};
/// use mailmigrate_core::ErrorKind;
/// let f = Failure::new(Stage::Syncing, ErrorKind::QuotaExceeded, "destination full");
/// assert_eq!(f.to_string(), "QuotaExceeded while syncing: destination full");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Failure {
    /// The stage the mailbox was in.
    pub stage: Stage,
    /// What kind of error.
    pub kind: ErrorKind,
    /// The error's text (names folders and items, never content or credentials).
    pub message: String,
}

impl Failure {
    /// A failure in `stage`.
    pub fn new(stage: Stage, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            stage,
            kind,
            message: message.into(),
        }
    }

    /// The failure of `err` in `stage`.
    pub fn of(stage: Stage, err: &crate::Error) -> Self {
        Self::new(stage, err.kind(), err.to_string())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} while {}: {}", self.kind, self.stage, self.message)
    }
}

/// What a mailbox's passes moved so far.
///
/// ```
/// use mailmigrate_core::campaign::MailboxCounts;
/// let c = MailboxCounts::default();
/// assert!(!c.backed_up && c.passes == 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct MailboxCounts {
    /// Whether the backup completed (it runs once, before the first copy).
    pub backed_up: bool,
    /// Messages written to the backup.
    pub backup_messages: u64,
    /// Sync passes completed (the first copy, delta and grace passes).
    pub passes: u64,
    /// Messages written to the destination, over all passes.
    pub copied: u64,
    /// Bytes written to the destination, over all passes.
    pub bytes: u64,
    /// Messages found at the destination already and not written again.
    pub deduplicated: u64,
    /// Messages the destination refused for good (malformed, too large), as of the last
    /// pass.
    pub refused: u64,
    /// Contacts and events written.
    pub pim_written: u64,
    /// Whether the pre-staged first copy (mail older than the plan's cutoff) is done.
    pub prestaged: bool,
}

/// One move of a mailbox, kept in its history.
///
/// ```
/// use mailmigrate_core::campaign::{Stage, Transition};
/// use time::macros::datetime;
/// let t = Transition::new("alice@old.example", Some(Stage::Queued), Stage::BackingUp, datetime!(2025-01-01 0:00 UTC));
/// assert_eq!(t.to_string(), "alice@old.example: queued → backing up");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Transition {
    /// The mailbox's key.
    pub mailbox: String,
    /// The stage it left; `None` when it entered the campaign.
    pub from: Option<Stage>,
    /// The stage it entered.
    pub to: Stage,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why, for a failure (its [`Failure`] text) or a note (`"resumed after restart"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Transition {
    /// A move of `mailbox` from `from` to `to` at `at`.
    pub fn new(
        mailbox: impl Into<String>,
        from: Option<Stage>,
        to: Stage,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            mailbox: mailbox.into(),
            from,
            to,
            at,
            reason: None,
        }
    }

    /// Adds the reason.
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.from {
            Some(from) => write!(f, "{}: {from} → {}", self.mailbox, self.to)?,
            None => write!(f, "{}: entered as {}", self.mailbox, self.to)?,
        }
        if let Some(r) = &self.reason {
            write!(f, " ({r})")?;
        }
        Ok(())
    }
}

/// A move the state machine does not allow.
///
/// ```
/// use mailmigrate_core::campaign::{MailboxStatus, Stage};
/// use time::macros::datetime;
/// let t = datetime!(2025-01-01 0:00 UTC);
/// let mut s = MailboxStatus::new("a@x.example", "a@y.example", "b", t);
/// let e = s.advance(Stage::Synced, t).unwrap_err();
/// assert_eq!(e.to_string(), "mailbox a@x.example cannot go from queued to synced");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mailbox {mailbox} cannot go from {from} to {to}")]
#[non_exhaustive]
pub struct TransitionError {
    /// The mailbox's key.
    pub mailbox: String,
    /// Its stage.
    pub from: Stage,
    /// The stage asked for.
    pub to: Stage,
}

impl From<TransitionError> for crate::Error {
    fn from(e: TransitionError) -> Self {
        crate::Error::new(ErrorKind::Conflict, e.to_string())
            .with_operation(crate::Operation::State)
            .with_context("mailbox", &e.mailbox)
    }
}

/// Where one mailbox stands: its stage, why it failed, since when, and its counts.
///
/// Its methods change it only along allowed moves and return the [`Transition`] to
/// record; the runner stores both in one [`CampaignStore::apply`] call.
///
/// [`CampaignStore::apply`]: super::CampaignStore::apply
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailboxStatus {
    /// The mailbox's key (source address, lower-case).
    pub mailbox: String,
    /// Its destination address.
    pub destination: String,
    /// Its batch.
    pub batch: String,
    /// Its stage.
    pub stage: Stage,
    /// Why it failed, while [`stage`](Self::stage) is [`Stage::Failed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The stage `resume` returns it to, while it is [`Stage::Paused`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_from: Option<Stage>,
    /// When it entered the campaign.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it entered its stage.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// When its batch was switched (it first entered [`Stage::Finalising`]): the grace
    /// period runs from here.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub switched: Option<OffsetDateTime>,
    /// What its passes moved.
    #[serde(default)]
    pub counts: MailboxCounts,
    /// What its backup holds, read back after the backup pass (when the backup store can
    /// be read: [`MailboxStores::backup_source`](super::MailboxStores::backup_source)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<super::BackupManifest>,
}

impl MailboxStatus {
    /// A mailbox entering the campaign, queued.
    pub fn new(
        mailbox: impl Into<String>,
        destination: impl Into<String>,
        batch: impl Into<String>,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            mailbox: mailbox.into(),
            destination: destination.into(),
            batch: batch.into(),
            stage: Stage::Queued,
            failure: None,
            paused_from: None,
            created: at,
            since: at,
            switched: None,
            counts: MailboxCounts::default(),
            backup: None,
        }
    }

    /// The transition that entered it into the campaign.
    pub fn entered(&self) -> Transition {
        Transition::new(&self.mailbox, None, self.stage, self.created)
    }

    /// Moves it to `to` (not [`Stage::Failed`]: use [`fail`](Self::fail)).
    ///
    /// # Errors
    /// [`TransitionError`] when the move is not allowed; the status is left unchanged.
    pub fn advance(
        &mut self,
        to: Stage,
        at: OffsetDateTime,
    ) -> Result<Transition, TransitionError> {
        if to == Stage::Failed || to == Stage::Paused {
            return Err(self.refused(to));
        }
        if self.stage == Stage::Paused && Some(to) != self.paused_from {
            return Err(self.refused(to));
        }
        self.go(to, at)
    }

    /// Records a failure.
    ///
    /// # Errors
    /// [`TransitionError`] when the mailbox cannot fail from its stage (it is validated,
    /// failed or paused).
    pub fn fail(
        &mut self,
        failure: Failure,
        at: OffsetDateTime,
    ) -> Result<Transition, TransitionError> {
        let reason = failure.to_string();
        let t = self.go(Stage::Failed, at)?;
        self.failure = Some(failure);
        Ok(t.with_reason(reason))
    }

    /// Parks it until [`resume`](Self::resume).
    ///
    /// # Errors
    /// [`TransitionError`] unless it is queued or synced (between steps).
    pub fn pause(&mut self, at: OffsetDateTime) -> Result<Transition, TransitionError> {
        let from = self.stage;
        let t = self.go(Stage::Paused, at)?;
        self.paused_from = Some(from);
        Ok(t)
    }

    /// Returns a paused mailbox to the stage it was paused in.
    ///
    /// # Errors
    /// [`TransitionError`] unless it is paused.
    pub fn resume(&mut self, at: OffsetDateTime) -> Result<Transition, TransitionError> {
        match (self.stage, self.paused_from) {
            (Stage::Paused, Some(back)) => self.go(back, at),
            _ => Err(self.refused(Stage::Queued)),
        }
    }

    /// Queues a failed mailbox again.
    ///
    /// # Errors
    /// [`TransitionError`] unless it failed.
    pub fn retry(&mut self, at: OffsetDateTime) -> Result<Transition, TransitionError> {
        if self.stage != Stage::Failed {
            return Err(self.refused(Stage::Queued));
        }
        let reason = self.failure.as_ref().map(|f| format!("retry after: {f}"));
        let t = self.go(Stage::Queued, at)?;
        Ok(match reason {
            Some(r) => t.with_reason(r),
            None => t,
        })
    }

    fn go(&mut self, to: Stage, at: OffsetDateTime) -> Result<Transition, TransitionError> {
        if !self.stage.can_become(to) {
            return Err(self.refused(to));
        }
        let from = self.stage;
        self.stage = to;
        self.since = at;
        if to != Stage::Failed {
            self.failure = None;
        }
        if to != Stage::Paused {
            self.paused_from = None;
        }
        if to == Stage::Finalising && self.switched.is_none() {
            self.switched = Some(at);
        }
        Ok(Transition::new(&self.mailbox, Some(from), to, at))
    }

    fn refused(&self, to: Stage) -> TransitionError {
        TransitionError {
            mailbox: self.mailbox.clone(),
            from: self.stage,
            to,
        }
    }
}

/// How many mailboxes are in each stage.
///
/// ```
/// use mailmigrate_core::campaign::{StageCounts, Stage};
/// let mut c = StageCounts::default();
/// c.add(Stage::Synced);
/// c.add(Stage::Failed);
/// assert_eq!((c.synced, c.failed, c.total()), (1, 1, 2));
/// assert!(!c.is_done());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StageCounts {
    /// Queued.
    pub queued: usize,
    /// Backing up.
    pub backing_up: usize,
    /// Syncing.
    pub syncing: usize,
    /// Synced.
    pub synced: usize,
    /// Finalising.
    pub finalising: usize,
    /// Validated.
    pub validated: usize,
    /// Failed.
    pub failed: usize,
    /// Paused.
    pub paused: usize,
}

impl StageCounts {
    /// Counts one mailbox in `stage`.
    pub fn add(&mut self, stage: Stage) {
        match stage {
            Stage::Queued => self.queued += 1,
            Stage::BackingUp => self.backing_up += 1,
            Stage::Syncing => self.syncing += 1,
            Stage::Synced => self.synced += 1,
            Stage::Finalising => self.finalising += 1,
            Stage::Validated => self.validated += 1,
            Stage::Failed => self.failed += 1,
            Stage::Paused => self.paused += 1,
        }
    }

    /// Every mailbox counted.
    pub fn total(&self) -> usize {
        self.queued
            + self.backing_up
            + self.syncing
            + self.synced
            + self.finalising
            + self.validated
            + self.failed
            + self.paused
    }

    /// Whether every mailbox is validated.
    pub fn is_done(&self) -> bool {
        self.validated == self.total()
    }
}

/// One batch's standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BatchStatus {
    /// Its name.
    pub name: String,
    /// Whether it is the pilot.
    pub pilot: bool,
    /// Its mailboxes per stage.
    pub counts: StageCounts,
    /// Whether it may not start because the pilot failed and the plan says a failed pilot
    /// blocks.
    pub blocked: bool,
}

/// A campaign's standing: its batches and every mailbox.
///
/// ```
/// use mailmigrate_core::campaign::CampaignStatus;
/// let s = CampaignStatus::default();
/// assert_eq!(s.counts().total(), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CampaignStatus {
    /// The campaign's name.
    pub name: String,
    /// Whether it is paused.
    pub paused: bool,
    /// Its batches, in the order they run.
    pub batches: Vec<BatchStatus>,
    /// Every mailbox, in plan order.
    pub mailboxes: Vec<MailboxStatus>,
}

impl CampaignStatus {
    /// Mailboxes per stage over the whole campaign.
    pub fn counts(&self) -> StageCounts {
        let mut c = StageCounts::default();
        for m in &self.mailboxes {
            c.add(m.stage);
        }
        c
    }

    /// The mailbox with key (or source address) `mailbox`.
    pub fn mailbox(&self, mailbox: &str) -> Option<&MailboxStatus> {
        let key = crate::directory::address_key(mailbox);
        self.mailboxes.iter().find(|m| m.mailbox == key)
    }

    /// The batch named `name`.
    pub fn batch(&self, name: &str) -> Option<&BatchStatus> {
        self.batches.iter().find(|b| b.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T: OffsetDateTime = datetime!(2025-01-01 0:00 UTC);

    fn status() -> MailboxStatus {
        MailboxStatus::new("a@x.example", "a@y.example", "b", T)
    }

    #[test]
    fn the_table_allows_exactly_the_documented_moves() {
        let allowed: usize = Stage::ALL
            .iter()
            .map(|a| Stage::ALL.iter().filter(|b| a.can_become(**b)).count())
            .sum();
        assert_eq!(allowed, 4 + 3 + 3 + 4 + 3 + 1 + 2);
        assert!(Stage::ALL.iter().all(|s| !Stage::Validated.can_become(*s)));
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn pause_resume_returns_where_it_was_and_nowhere_else() {
        let mut s = status();
        s.advance(Stage::Syncing, T).unwrap();
        assert!(s.pause(T).is_err(), "not between steps");
        s.advance(Stage::Synced, T).unwrap();
        s.pause(T).unwrap();
        assert_eq!(s.paused_from, Some(Stage::Synced));
        assert!(
            s.advance(Stage::Queued, T).is_err(),
            "only back where it was"
        );
        let t = s.resume(T).unwrap();
        assert_eq!((t.from, t.to), (Some(Stage::Paused), Stage::Synced));
        assert_eq!(s.paused_from, None);
        assert!(s.resume(T).is_err());
    }

    #[test]
    fn failure_carries_its_reason_until_retry() {
        let mut s = status();
        s.advance(Stage::BackingUp, T).unwrap();
        let t = s
            .fail(
                Failure::new(Stage::BackingUp, ErrorKind::Unauthenticated, "refused"),
                T,
            )
            .unwrap();
        assert!(t.reason.unwrap().contains("refused"));
        assert_eq!(s.failure.as_ref().unwrap().kind, ErrorKind::Unauthenticated);
        assert!(s.advance(Stage::Syncing, T).is_err());
        assert!(s
            .fail(Failure::new(Stage::Failed, ErrorKind::Unexpected, "x"), T)
            .is_err());
        s.retry(T).unwrap();
        assert_eq!((s.stage, s.failure.as_ref()), (Stage::Queued, None));
        assert!(s.retry(T).is_err(), "only a failed mailbox is retried");
    }

    #[test]
    fn the_switch_time_is_the_first_entry_into_finalising() {
        let mut s = status();
        let later = datetime!(2025-01-02 0:00 UTC);
        for stage in [Stage::Syncing, Stage::Synced] {
            s.advance(stage, T).unwrap();
        }
        s.advance(Stage::Finalising, T).unwrap();
        s.advance(Stage::Finalising, later).unwrap();
        assert_eq!(s.switched, Some(T));
        assert_eq!(s.since, later);
    }
}

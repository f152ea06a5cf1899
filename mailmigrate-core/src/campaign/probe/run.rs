//! Sending the probe and waiting for it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ProbeMessage, Submission};
use crate::campaign::report::ProbeCheck;
use crate::directory::address_key;
use crate::{Change, Checkpoint, Destination, FolderId, FolderPath, MessageId, Source};

/// How long to wait, how often to look, where, and whether to keep the probe.
///
/// ```
/// use std::time::Duration;
/// use mailmigrate_core::campaign::probe::ProbeOptions;
/// let o = ProbeOptions::default().with_timeout(Duration::from_secs(30)).with_keep(true);
/// assert_eq!(o.poll_interval, Duration::from_secs(2));
/// assert!(o.folder.is_inbox());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeOptions {
    /// How long after the submission to wait for the message (default 2 minutes). Each of
    /// the steps before (finding the folder, the first listing, the submission itself) is
    /// bounded by it too.
    pub timeout: Duration,
    /// The pause between two listings (default 2 s).
    pub poll_interval: Duration,
    /// The folder the message should arrive in (default the inbox).
    pub folder: FolderPath,
    /// Keeps the probe in the mailbox once found (default: it is deleted).
    pub keep: bool,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            poll_interval: Duration::from_secs(2),
            folder: FolderPath::inbox(),
            keep: false,
        }
    }
}

impl ProbeOptions {
    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the pause between listings.
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets the folder to look in.
    #[must_use]
    pub fn with_folder(mut self, folder: FolderPath) -> Self {
        self.folder = folder;
        self
    }

    /// Keeps the probe once found.
    #[must_use]
    pub fn with_keep(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }
}

/// What became of one probe.
///
/// ```
/// use mailmigrate_core::campaign::probe::ProbeResult;
/// let json = r#"{"mailbox":"ann@new.example","message_id":"probe-1@mailmigrate",
///   "sent_at":"2026-01-01T00:00:00Z","found_after":{"secs":3,"nanos":0},"deleted":true,"error":null}"#;
/// let r: ProbeResult = serde_json::from_str(json).unwrap();
/// assert!(r.is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProbeResult {
    /// The mailbox it was sent to (lower-case).
    pub mailbox: String,
    /// The probe's Message-ID, without angle brackets.
    pub message_id: String,
    /// When it was submitted (or when submitting was given up).
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    /// How long after the submission it was found; `None` when it was not.
    pub found_after: Option<Duration>,
    /// Whether it was deleted after it was found.
    pub deleted: bool,
    /// What went wrong: the submission refused, a listing failed, not found in time, found
    /// but not deleted.
    pub error: Option<String>,
}

impl ProbeResult {
    /// A probe that was never sent, because of `error` (the mailbox could not be opened,
    /// say).
    ///
    /// ```
    /// use mailmigrate_core::campaign::probe::{ProbeMessage, ProbeResult};
    /// let m = ProbeMessage::new("acme", "probe@new.example", "ann@new.example");
    /// let r = ProbeResult::not_sent(&m, "the destination is unreachable");
    /// assert!(!r.is_ok() && r.found_after.is_none());
    /// ```
    pub fn not_sent(message: &ProbeMessage, error: impl Into<String>) -> Self {
        Self {
            mailbox: address_key(&message.to),
            message_id: message.message_id.clone(),
            sent_at: OffsetDateTime::now_utc(),
            found_after: None,
            deleted: false,
            error: Some(error.into()),
        }
    }

    /// Whether the probe arrived and nothing went wrong.
    pub fn is_ok(&self) -> bool {
        self.found_after.is_some() && self.error.is_none()
    }
}

/// Sends `message` through `submission` and waits for it in `mailbox`'s
/// [folder](ProbeOptions::folder), listing the folder every
/// [`poll_interval`](ProbeOptions::poll_interval) until it is there or
/// [`timeout`](ProbeOptions::timeout) has passed. A probe found is deleted unless
/// [`keep`](ProbeOptions::keep) is set (or the mailbox cannot delete: the result says so).
///
/// The message is recognised by its Message-ID, as the listing gives it or, for messages
/// the listing gives none for, as their fetched headers say. Delivery adds headers
/// (`Received`, `Return-Path`), so the message's content is not compared. Where the
/// mailbox lists incrementally ([`Capabilities::list_since`](crate::Capabilities)), the
/// folder is listed once before the submission and then only what changed since.
///
/// Never fails and never waits past the timeout: every problem is in
/// [`ProbeResult::error`]. See the [module](super) for an example.
pub async fn probe_mailbox<D>(
    submission: &dyn Submission,
    mailbox: &D,
    message: &ProbeMessage,
    options: &ProbeOptions,
) -> ProbeResult
where
    D: Source + Destination + ?Sized,
{
    let mut result = ProbeResult {
        mailbox: address_key(&message.to),
        message_id: message.message_id.clone(),
        sent_at: OffsetDateTime::now_utc(),
        found_after: None,
        deleted: false,
        error: None,
    };
    let fail = |mut r: ProbeResult, e: String| {
        r.error = Some(e);
        r
    };
    let folder = match bounded(options.timeout, find_folder(mailbox, &options.folder)).await {
        Ok(f) => f,
        Err(e) => return fail(result, e),
    };
    let mut since = None;
    if mailbox.capabilities().list_since {
        let mut seen = HashSet::new();
        match bounded(
            options.timeout,
            scan(mailbox, &folder, None, "", &mut seen, false),
        )
        .await
        {
            Ok((_, cp)) => since = cp,
            Err(e) => return fail(result, format!("listing {} failed: {e}", options.folder)),
        }
    }
    result.sent_at = OffsetDateTime::now_utc();
    let start = Instant::now();
    let bytes = message.to_bytes();
    if let Err(e) = bounded(options.timeout, async {
        submission
            .submit(&message.envelope(), &bytes)
            .await
            .map_err(|e| e.to_string())
    })
    .await
    {
        return fail(result, format!("submission failed: {e}"));
    }
    let deadline = start + options.timeout;
    let mut seen = HashSet::new();
    let mut last_error = None;
    let found = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break None;
        }
        match bounded(
            remaining,
            scan(
                mailbox,
                &folder,
                since.clone(),
                &message.message_id,
                &mut seen,
                true,
            ),
        )
        .await
        {
            Ok((Some(id), _)) => break Some(id),
            Ok((None, cp)) => {
                since = cp.or(since);
                last_error = None;
            }
            Err(e) => last_error = Some(e),
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(options.poll_interval.min(remaining)).await;
    };
    let Some(id) = found else {
        let mut e = format!(
            "not found in {} within {:?} after the submission",
            options.folder, options.timeout
        );
        if let Some(last) = last_error {
            e.push_str(&format!(" (last listing: {last})"));
        }
        return fail(result, e);
    };
    result.found_after = Some(start.elapsed());
    if !options.keep {
        if !mailbox.capabilities().delete {
            return fail(result, "found, but the mailbox cannot delete it".into());
        }
        let ids = [id];
        match bounded(options.timeout, async {
            mailbox
                .delete(&folder, &ids)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        {
            Ok(()) => result.deleted = true,
            Err(e) => return fail(result, format!("found, but deleting it failed: {e}")),
        }
    }
    result
}

/// Runs `f` for at most `limit`.
async fn bounded<T>(
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {limit:?}")))
}

async fn find_folder<D: Source + ?Sized>(
    mailbox: &D,
    path: &FolderPath,
) -> Result<FolderId, String> {
    let folders = mailbox.list_folders().await.map_err(|e| e.to_string())?;
    folders
        .iter()
        .find(|f| &f.path == path || (path.is_inbox() && f.path.is_inbox()))
        .map(|f| f.id.clone())
        .ok_or_else(|| format!("the mailbox has no folder {path}"))
}

/// Lists `folder` since `since`; returns the id of the message whose Message-ID is
/// `want` (when `look`), and the new checkpoint. Messages the listing names no
/// Message-ID for are fetched once (`seen` remembers them).
async fn scan<D: Source + ?Sized>(
    mailbox: &D,
    folder: &FolderId,
    since: Option<Checkpoint>,
    want: &str,
    seen: &mut HashSet<MessageId>,
    look: bool,
) -> Result<(Option<MessageId>, Option<Checkpoint>), String> {
    let mut stream = mailbox.list_changes(folder, since);
    let mut checkpoint = None;
    let mut unknown = Vec::new();
    while let Some(change) = stream.next().await {
        match change.map_err(|e| e.to_string())? {
            Change::Upsert(meta) if look => match &meta.message_id {
                Some(mid) if same_id(mid, want) => return Ok((Some(meta.id), None)),
                Some(_) => {}
                None => {
                    if seen.insert(meta.id.clone()) {
                        unknown.push(meta.id);
                    }
                }
            },
            Change::Checkpoint(cp) => checkpoint = Some(cp),
            _ => {}
        }
    }
    if !unknown.is_empty() {
        let mut fetched = mailbox.fetch(folder, unknown);
        while let Some((id, raw)) = fetched.next().await {
            let Ok(raw) = raw else { continue };
            if crate::headers::message_id(&raw.bytes).is_some_and(|m| same_id(&m, want)) {
                return Ok((Some(id), checkpoint));
            }
        }
    }
    Ok((None, checkpoint))
}

fn same_id(have: &str, want: &str) -> bool {
    let strip = |s: &str| {
        s.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned()
    };
    strip(have).eq_ignore_ascii_case(&strip(want))
}

impl ProbeResult {
    /// The report's row for this probe.
    ///
    /// ```
    /// use mailmigrate_core::campaign::probe::ProbeResult;
    /// use mailmigrate_core::campaign::report::ProbeCheck;
    /// let json = r#"{"mailbox":"ann@new.example","message_id":"probe-1@mailmigrate",
    ///   "sent_at":"2026-01-01T00:00:00Z","found_after":{"secs":1,"nanos":500000000},"deleted":true,"error":null}"#;
    /// let r: ProbeResult = serde_json::from_str(json).unwrap();
    /// let row = ProbeCheck::from(&r);
    /// assert_eq!(row.found_after_secs, Some(1.5));
    /// assert!(row.ok && row.deleted);
    /// assert_eq!(row.sent_at, "2026-01-01T00:00:00Z");
    /// ```
    pub fn to_check(&self) -> ProbeCheck {
        let sent_at = self
            .sent_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut c = ProbeCheck::new(&self.mailbox, &self.message_id, sent_at);
        if let Some(d) = self.found_after {
            c = c.with_found_after((d.as_secs_f64() * 1000.0).round() / 1000.0);
        }
        c = c.with_deleted(self.deleted);
        match &self.error {
            Some(e) => c.with_error(e),
            None => c,
        }
    }
}

impl From<&ProbeResult> for ProbeCheck {
    fn from(r: &ProbeResult) -> Self {
        r.to_check()
    }
}

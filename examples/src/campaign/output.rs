//! What a campaign step prints: a human text, the same facts as JSON for scripts, and the
//! exit code (the table in [`verdict`](crate::verdict)).

use mailmigrate_core::campaign::{CampaignStatus, Failure, StageCounts};
use mailmigrate_core::ErrorKind;

use crate::verdict;

/// One step's outcome.
///
/// ```
/// use mailmigrate_examples::campaign::StepOutput;
/// let out = StepOutput::new("2 mailboxes synced", serde_json::json!({"synced": 2}), 0);
/// assert_eq!(out.render(true), "{\n  \"synced\": 2\n}");
/// assert_eq!(out.render(false), "2 mailboxes synced");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    /// For people.
    pub text: String,
    /// For scripts (`--json`).
    pub json: serde_json::Value,
    /// The exit code.
    pub code: u8,
}

impl StepOutput {
    /// An outcome.
    pub fn new(text: impl Into<String>, json: serde_json::Value, code: u8) -> Self {
        Self {
            text: text.into(),
            json,
            code,
        }
    }

    /// Writes the text into the run's log, line by line (the log holds what was printed).
    pub fn log(&self, step: &str) {
        for line in self.text.lines().filter(|l| !l.trim().is_empty()) {
            tracing::info!(target: "migrate", step, "{line}");
        }
        tracing::info!(target: "migrate", step, exit = self.code, "step finished");
    }

    /// The text or, with `json`, the JSON (pretty).
    pub fn render(&self, json: bool) -> String {
        if json {
            serde_json::to_string_pretty(&self.json).unwrap_or_default()
        } else {
            self.text.trim_end().to_owned()
        }
    }
}

/// The exit code a mailbox failure calls for: 2 when a rerun (`retry-failed`) can fix it,
/// 5 when something must be fixed first (credentials, quota, permissions).
pub fn failure_code(f: &Failure) -> u8 {
    if verdict::rerun_can_fix(f.kind) || f.kind == ErrorKind::Unexpected {
        2
    } else {
        5
    }
}

/// The exit code of a campaign's status: the worst of its mailboxes' failures, 0 without.
pub fn status_code(status: &CampaignStatus) -> u8 {
    status
        .mailboxes
        .iter()
        .filter_map(|m| m.failure.as_ref())
        .map(failure_code)
        .max()
        .unwrap_or(0)
}

/// A text progress bar of `done` out of `total`, `width` cells wide.
///
/// ```
/// assert_eq!(mailmigrate_examples::campaign::bar(1, 4, 8), "[##------]   1/4");
/// ```
pub fn bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done * width).checked_div(total).unwrap_or(width);
    format!(
        "[{}{}] {done:>3}/{total}",
        "#".repeat(filled),
        "-".repeat(width.saturating_sub(filled))
    )
}

/// Mailboxes past their first copy (synced, finalising, validated).
pub fn settled(c: &StageCounts) -> usize {
    c.synced + c.finalising + c.validated
}

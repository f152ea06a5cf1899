//! The one place that decides what a run's outcome means and which exit code it gets.
//!
//! A run's [`Findings`] (from the sync report and the check of the pass, or from a full
//! verification) decide one [`Verdict`]; the verdict gives the exit code, the `Result:`
//! line and what to do next. Nothing else prints a verdict, so the output cannot contradict
//! itself: "passed" is said only when no difference was found, and differences always end
//! in [`Verdict::Differences`].
//!
//! | code | verdict | what to do next |
//! |---|---|---|
//! | 0 | [`Complete`](Verdict::Complete) | nothing: every message is at the destination and the check passed |
//! | 1 | (no verdict) | the job could not run: bad config or usage, unreachable store, unreadable state; fix and run again |
//! | 2 | [`RunAgain`](Verdict::RunAgain) | run again: a folder stopped on a temporary error, writes of unknown outcome are unsettled, items failed temporarily, or the check could not reach everything it checks; the next run resumes |
//! | 3 | [`Refused`](Verdict::Refused) | everything else is done; the items listed were refused for good (malformed, too large, unsupported) and a rerun will not change them |
//! | 4 | [`Differences`](Verdict::Differences) | verification found differences (listed); `migrate verify` compares every message |
//! | 5 | [`Blocked`](Verdict::Blocked) | a folder stopped on an error a rerun alone cannot fix (permission, quota, authentication, a name the destination refuses), or writes of unknown outcome went to a destination that cannot look copies up: fix it (or check them and pass `--rewrite-uncheckable`), then run again |
//!
//! When several apply, the first of Differences, Blocked, RunAgain, Refused wins.

use std::fmt;

use mailmigrate_core::engine::SyncReport;
use mailmigrate_core::ErrorKind;

/// Exit code: the job could not run (configuration, usage, store or state unreachable).
pub const EXIT_ERROR: u8 = 1;

/// What a run's outcome tells the operator to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// Every message is at the destination and the check passed.
    Complete,
    /// Some work is unfinished for a reason a rerun can fix.
    RunAgain,
    /// Done, except items refused for good.
    Refused,
    /// Verification found differences.
    Differences,
    /// A folder stopped on an error that needs fixing before a rerun can help.
    Blocked,
}

/// One row of the exit-code table: code, name, what it tells the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExitCodeDoc {
    /// The process exit code.
    pub code: u8,
    /// What it means and what to do next.
    pub meaning: &'static str,
}

/// Every exit code `migrate` returns, in order (the `--help` text is built from it).
pub const EXIT_CODES: [ExitCodeDoc; 6] = [
    ExitCodeDoc {
        code: 0,
        meaning: "complete: every message is at the destination and the check passed",
    },
    ExitCodeDoc {
        code: EXIT_ERROR,
        meaning: "the job could not run (bad config or usage, unreachable store, unreadable \
                  state): fix it and run again",
    },
    ExitCodeDoc {
        code: 2,
        meaning: "incomplete, run again: a folder stopped on a temporary error, writes of \
                  unknown outcome are unsettled, items failed temporarily, or the check could \
                  not reach everything it checks",
    },
    ExitCodeDoc {
        code: 3,
        meaning: "done except items refused for good (listed with reasons: malformed, too \
                  large, unsupported); rerunning does not change them",
    },
    ExitCodeDoc {
        code: 4,
        meaning: "verification found differences (listed); `migrate verify` compares every \
                  message",
    },
    ExitCodeDoc {
        code: 5,
        meaning: "a folder stopped on an error a rerun alone cannot fix (permission, quota, \
                  authentication, a name the destination refuses), or writes of unknown \
                  outcome went to a destination that cannot look copies up: fix it (or check \
                  them and pass --rewrite-uncheckable), then run again",
    },
];

/// The exit-code table as `--help` prints it.
///
/// ```
/// let help = mailmigrate_examples::verdict::exit_code_help();
/// assert!(help.starts_with("Exit codes:\n  0  complete"));
/// ```
pub fn exit_code_help() -> String {
    let mut s = String::from("Exit codes:\n");
    for d in EXIT_CODES {
        s.push_str(&format!("  {}  {}\n", d.code, d.meaning));
    }
    s
}

impl Verdict {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Complete => 0,
            Self::RunAgain => 2,
            Self::Refused => 3,
            Self::Differences => 4,
            Self::Blocked => 5,
        }
    }

    fn headline(self) -> &'static str {
        match self {
            Self::Complete => "COMPLETE: the check passed",
            Self::RunAgain => "INCOMPLETE: run again to resume",
            Self::Refused => {
                "DONE, SOME ITEMS REFUSED FOR GOOD: the check of everything else passed"
            }
            Self::Differences => "DIFFERENCES FOUND",
            Self::Blocked => "STOPPED: fix the error below, then run again",
        }
    }
}

/// Whether a folder pass that stopped with this error can succeed by simply running again.
pub fn rerun_can_fix(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Unavailable
            | ErrorKind::RateLimited
            | ErrorKind::NotFound
            | ErrorKind::AlreadyExists
    )
}

/// Everything a verdict is decided from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Findings {
    /// Differences verification found (0 when it found none).
    pub differences: u64,
    /// Folders that stopped early where a rerun can help, with the reason.
    pub stopped_temporarily: Vec<String>,
    /// Folders that stopped on an error a rerun alone cannot fix, with the reason.
    pub stopped_blocked: Vec<String>,
    /// Writes whose outcome is still unknown.
    pub unsettled: u64,
    /// Writes of unknown outcome the destination cannot look up: a rerun alone cannot
    /// settle them.
    pub uncheckable: u64,
    /// Copies or folders the end-of-pass check could not look at (the destination did not
    /// answer).
    pub unchecked: u64,
    /// Items that failed for a reason a later pass may not meet again.
    pub failed_temporarily: u64,
    /// Items refused for good (after any tolerated ones).
    pub refused: u64,
    /// Refused items the caller expected and tolerates (the demo's planted ones).
    pub tolerated: u64,
}

impl Findings {
    /// Findings of a pass from its report: stopped folders, unsettled writes and failures.
    /// `tolerated` final failures of kind `InvalidMessage` are expected (the demo's planted
    /// ones) when exactly that many are recorded. Add the check's differences to
    /// [`differences`](Self::differences).
    pub fn of_report(report: &SyncReport, tolerated: usize) -> Self {
        let mut f = Self {
            unsettled: report.totals.unsettled,
            uncheckable: report.totals.uncheckable,
            ..Self::default()
        };
        for folder in report.folders.iter().filter(|r| !r.complete) {
            let why = folder
                .error
                .clone()
                .unwrap_or_else(|| "items are left for the next pass".to_owned());
            let line = format!("{}: {why}", folder.source);
            match folder.error_kind {
                Some(kind) if !rerun_can_fix(kind) => f.stopped_blocked.push(line),
                _ => f.stopped_temporarily.push(line),
            }
        }
        f.add_failures(&report.failures, tolerated);
        f
    }

    /// Counts recorded item failures: final ones refused, the others temporary.
    pub fn add_failures(
        &mut self,
        failures: &[mailmigrate_core::state::ItemFailure],
        tolerated: usize,
    ) {
        let finals: Vec<_> = failures.iter().filter(|f| f.final_for_item).collect();
        self.failed_temporarily += (failures.len() - finals.len()) as u64;
        let expected = tolerated > 0
            && finals.len() == tolerated
            && finals.iter().all(|f| f.kind == ErrorKind::InvalidMessage);
        if expected {
            self.tolerated += finals.len() as u64;
        } else {
            self.refused += finals.len() as u64;
        }
    }

    /// The verdict: the first of Differences, Blocked, RunAgain, Refused that applies, else
    /// Complete.
    pub fn verdict(&self) -> Verdict {
        if self.differences > 0 {
            Verdict::Differences
        } else if !self.stopped_blocked.is_empty() || self.uncheckable > 0 {
            Verdict::Blocked
        } else if !self.stopped_temporarily.is_empty()
            || self.unsettled > 0
            || self.unchecked > 0
            || self.failed_temporarily > 0
        {
            Verdict::RunAgain
        } else if self.refused > 0 {
            Verdict::Refused
        } else {
            Verdict::Complete
        }
    }

    /// The exit code of [`verdict`](Self::verdict).
    pub fn exit_code(&self) -> u8 {
        self.verdict().exit_code()
    }
}

/// The closing lines: `Result: …`, the reasons, and what to do next.
impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.verdict();
        writeln!(f, "Result: {} (exit {})", v.headline(), v.exit_code())?;
        if self.differences > 0 {
            writeln!(f, "  {} differences (listed above)", self.differences)?;
        }
        for line in &self.stopped_blocked {
            writeln!(f, "  stopped, needs a fix: {line}")?;
        }
        for line in &self.stopped_temporarily {
            writeln!(f, "  stopped early, a rerun resumes: {line}")?;
        }
        if self.unsettled > 0 {
            writeln!(
                f,
                "  {} writes of unknown outcome: the next run looks them up, never writes blindly",
                self.unsettled
            )?;
        }
        if self.uncheckable > 0 {
            writeln!(
                f,
                "  {} writes of unknown outcome cannot be checked (the destination cannot look \
                 copies up): see whether they arrived, then run with --rewrite-uncheckable to \
                 write them again (it duplicates those that did arrive)",
                self.uncheckable
            )?;
        }
        if self.unchecked > 0 {
            writeln!(
                f,
                "  {} copies or folders could not be checked (the destination did not answer); \
                 the next run checks again, `migrate verify` compares everything",
                self.unchecked
            )?;
        }
        if self.failed_temporarily > 0 {
            writeln!(
                f,
                "  {} items failed temporarily and are tried again on the next run",
                self.failed_temporarily
            )?;
        }
        if self.refused > 0 {
            writeln!(
                f,
                "  {} items refused for good (reasons listed above); a rerun does not retry them",
                self.refused
            )?;
        }
        if self.tolerated > 0 {
            writeln!(
                f,
                "  {} expected failures: the demo's deliberately malformed messages",
                self.tolerated
            )?;
        }
        let next = match v {
            Verdict::Complete => "nothing to do",
            Verdict::RunAgain => "run the same command again",
            Verdict::Refused => {
                "fix or accept the refused items; `migrate verify` compares every message"
            }
            Verdict::Differences => "inspect the differences; `migrate verify` lists every one",
            Verdict::Blocked => "fix the cause named above, then run again",
        };
        writeln!(f, "Next: {next}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_finding_decides() {
        let mut f = Findings {
            refused: 1,
            ..Findings::default()
        };
        assert_eq!(f.verdict(), Verdict::Refused);
        f.unsettled = 1;
        assert_eq!(f.verdict(), Verdict::RunAgain);
        f.stopped_blocked.push("INBOX: quota".into());
        assert_eq!(f.verdict(), Verdict::Blocked);
        f.differences = 1;
        assert_eq!(f.verdict(), Verdict::Differences);
        assert_eq!(f.exit_code(), 4);
        assert_eq!(Findings::default().exit_code(), 0);
        let unchecked = Findings {
            unchecked: 2,
            ..Findings::default()
        };
        assert_eq!(unchecked.verdict(), Verdict::RunAgain, "{unchecked}");
        assert!(!unchecked.to_string().contains("passed"), "{unchecked}");
        // A rerun cannot settle what the destination cannot look up: the operator decides.
        let uncheckable = Findings {
            uncheckable: 1,
            unsettled: 1,
            ..Findings::default()
        };
        assert_eq!(uncheckable.verdict(), Verdict::Blocked, "{uncheckable}");
        assert!(uncheckable.to_string().contains("--rewrite-uncheckable"));
    }

    #[test]
    fn passed_is_said_only_without_differences() {
        let clean = Findings::default().to_string();
        assert!(
            clean.contains("passed") && !clean.contains("DIFFERENCES"),
            "{clean}"
        );
        let diff = Findings {
            differences: 2,
            ..Findings::default()
        }
        .to_string();
        assert!(
            diff.contains("DIFFERENCES") && !diff.contains("passed"),
            "{diff}"
        );
    }

    #[test]
    fn every_verdict_has_a_documented_code() {
        for v in [
            Verdict::Complete,
            Verdict::RunAgain,
            Verdict::Refused,
            Verdict::Differences,
            Verdict::Blocked,
        ] {
            assert!(EXIT_CODES.iter().any(|d| d.code == v.exit_code()), "{v:?}");
        }
        assert!(EXIT_CODES.iter().any(|d| d.code == EXIT_ERROR));
    }
}

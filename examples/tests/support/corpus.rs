//! The corpus and the final check, both done by `imap_corpus.py` over Python's `imaplib`,
//! so that the verdict owes nothing to the library under test.

use std::path::Path;
use std::process::{Command, Output};

use super::server::Server;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/imap_corpus.py");

/// What seeding wrote into the source account.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seeded {
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
}

/// The script, pointed at one server.
#[derive(Debug)]
pub(crate) struct Corpus<'a> {
    server: &'a Server,
}

impl<'a> Corpus<'a> {
    pub(crate) fn new(server: &'a Server) -> Self {
        Self { server }
    }

    fn script(&self, args: &[&str]) -> Result<Output, String> {
        Command::new("python3")
            .arg(SCRIPT)
            .args([self.server.host.as_str(), &self.server.port.to_string()])
            .args(args)
            .env("IMAP_CORPUS_PASSWORD", &self.server.password)
            .output()
            .map_err(|e| format!("cannot run python3 {SCRIPT}: {e}"))
    }

    /// Runs the script; its stdout when it exits 0.
    fn ok(&self, args: &[&str]) -> Result<String, String> {
        let out = self.script(args)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "imap_corpus.py {} failed ({}):\n{stdout}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Empties both accounts: INBOX and the special-use folders emptied, the rest deleted.
    pub(crate) fn wipe_both(&self) -> Result<(), String> {
        self.ok(&["wipe", &self.server.source_user, &self.server.dest_user])
            .map(drop)
    }

    /// Empties the destination account.
    pub(crate) fn wipe_destination(&self) -> Result<(), String> {
        self.ok(&["wipe", &self.server.dest_user]).map(drop)
    }

    /// Writes the corpus of `seed` (about `total` messages) into the source account.
    pub(crate) fn seed(&self, seed: u64, total: u32) -> Result<Seeded, String> {
        let out = self.ok(&[
            "seed",
            &self.server.source_user,
            &seed.to_string(),
            &total.to_string(),
        ])?;
        // "seeded N messages, B bytes"
        let numbers: Vec<u64> = out
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        match numbers[..] {
            [messages, bytes] => Ok(Seeded { messages, bytes }),
            _ => Err(format!("unexpected seed output: {out}")),
        }
    }

    /// How many messages the destination holds.
    pub(crate) fn destination_count(&self) -> Result<u64, String> {
        let out = self.ok(&["count", &self.server.dest_user])?;
        out.trim()
            .parse()
            .map_err(|_| format!("unexpected count output: {out}"))
    }

    /// Toggles `\Flagged` at the source on the `round`-th copy of every twin group and on a
    /// few other messages chosen by `round`.
    pub(crate) fn touch(&self, round: u64) -> Result<String, String> {
        self.ok(&["touch", &self.server.source_user, &round.to_string()])
            .map(|out| out.trim().to_owned())
    }

    /// Compares every folder of the two accounts: `Ok` with a one-line summary when they
    /// are equal, `Err` with the differences (and the rows of the job's `state` file for
    /// each differing message) otherwise.
    pub(crate) fn compare(&self, state: &Path) -> Result<String, String> {
        let state = state.display().to_string();
        let args = [
            "compare",
            self.server.source_user.as_str(),
            &self.server.dest_user,
            &state,
        ];
        let out = self.script(&args)?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        match out.status.code() {
            Some(0) => Ok(stdout),
            Some(1) => Err(stdout),
            _ => Err(format!(
                "the check could not run ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }
}

//! One migration job run by the real `migrate` binary: its job files, its state, and runs
//! that end on their own, are killed, or are repeated until the job is complete.

use std::cell::Cell;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::server::Server;

const PASSWORD_VAR: &str = "MAILMIGRATE_KILL_TEST_PASSWORD";
/// A run that takes longer than this is stuck (a liveness guard, far above any real run).
const STUCK_AFTER: Duration = Duration::from_secs(150);
/// How long a lost write's look-up waits before writing again: short, so that the many runs
/// after kills do not each wait the default 5 s.
const SETTLE_GRACE_MS: u64 = 300;
/// Exit codes (`mailmigrate_examples::verdict`): complete, and incomplete (run again).
pub(crate) const EXIT_COMPLETE: i32 = 0;
pub(crate) const EXIT_RUN_AGAIN: i32 = 2;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run {
    /// It exited with this code.
    Exited(i32),
    /// It was still running and got SIGKILL.
    Killed,
}

/// A job between a server's two accounts, with its own directory for job files, state and
/// run logs.
#[derive(Debug)]
pub(crate) struct Job {
    dir: TempDir,
    server: Server,
    config: PathBuf,
    runs: Cell<u32>,
}

impl Job {
    /// A job writing straight to the destination server, with no state yet.
    pub(crate) fn new(server: &Server, label: &str) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("mm-kill-{}-{label}-", server.name.to_lowercase()))
            .tempdir()
            .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
        let job = Self {
            config: dir.path().join("job.toml"),
            dir,
            server: server.clone(),
            runs: Cell::new(0),
        };
        job.write_config(&job.config, server.port)?;
        Ok(job)
    }

    /// The state file.
    pub(crate) fn state(&self) -> PathBuf {
        self.dir.path().join("state.sqlite")
    }

    /// Writes a job file whose destination is reached on `dest_port` (the server's, or a
    /// proxy's). Every job file names the same job and state.
    fn write_config(&self, path: &Path, dest_port: u16) -> Result<(), String> {
        let s = &self.server;
        let url = |user: &str, port: u16| {
            format!(
                "imap://{}@{}:{port}?tls=plaintext&password_env={PASSWORD_VAR}",
                user.replace('%', "%25").replace('@', "%40"),
                s.host
            )
        };
        let text = format!(
            "name = \"kill-test\"\nsource = \"{}\"\ndestination = \"{}\"\nstate = '{}'\n\
             settle_grace_ms = {SETTLE_GRACE_MS}\n",
            url(&s.source_user, s.port),
            url(&s.dest_user, dest_port),
            self.state().display(),
        );
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// A job file for the same job whose destination is reached through `port`.
    pub(crate) fn config_via(&self, port: u16) -> Result<PathBuf, String> {
        let path = self.dir.path().join(format!("job-via-{port}.toml"));
        self.write_config(&path, port)?;
        Ok(path)
    }

    /// Deletes the state file (with its WAL and shared-memory files).
    pub(crate) fn delete_state(&self) -> Result<(), String> {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.state().into_os_string();
            path.push(suffix);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot delete {path:?}: {e}")),
            }
        }
        Ok(())
    }

    /// Keeps the directory (state and logs) for inspection; returns its path.
    pub(crate) fn keep(self) -> PathBuf {
        self.dir.keep()
    }

    fn log(&self, n: u32) -> PathBuf {
        self.dir.path().join(format!("run-{n:03}.log"))
    }

    /// Starts `migrate --config <config>`, its output going to the next run log.
    fn spawn(&self, config: &Path) -> Result<(Child, u32), String> {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        let log = File::create(self.log(n)).map_err(|e| format!("cannot create a log: {e}"))?;
        let err = log
            .try_clone()
            .map_err(|e| format!("cannot clone a log: {e}"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_migrate"))
            .arg("--config")
            .arg(config)
            .env(PASSWORD_VAR, &self.server.password)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start migrate: {e}"))?;
        Ok((child, n))
    }

    /// Runs with `config`, polling `kill` every millisecond with the time since the start:
    /// when it says so, the run gets SIGKILL.
    pub(crate) fn run_until(
        &self,
        config: &Path,
        kill: impl Fn(Duration) -> bool,
    ) -> Result<Run, String> {
        let (mut child, n) = self.spawn(config)?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                return match status.code() {
                    Some(code) => Ok(Run::Exited(code)),
                    None => Err(format!(
                        "run {n} died of a signal: {status}\n{}",
                        self.tail(n)
                    )),
                };
            }
            let elapsed = started.elapsed();
            let stuck = elapsed >= STUCK_AFTER;
            if stuck || kill(elapsed) {
                child
                    .kill()
                    .map_err(|e| format!("cannot kill run {n}: {e}"))?;
                child.wait().map_err(|e| e.to_string())?;
                if stuck {
                    return Err(format!(
                        "run {n} was stuck for {STUCK_AFTER:?}\n{}",
                        self.tail(n)
                    ));
                }
                return Ok(Run::Killed);
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Runs with `config` until it exits.
    pub(crate) fn run_with(&self, config: &Path) -> Result<Run, String> {
        self.run_until(config, |_| false)
    }

    /// Runs the direct job until it exits 0, at most `max_runs` times; each run must exit 0
    /// or 2 (run again). Returns how many runs it took.
    pub(crate) fn run_to_completion(&self, max_runs: u32) -> Result<u32, String> {
        for i in 1..=max_runs {
            match self.run_with(&self.config)? {
                Run::Exited(EXIT_COMPLETE) => return Ok(i),
                Run::Exited(EXIT_RUN_AGAIN) => {}
                other => return Err(self.unexpected(other)),
            }
        }
        Err(format!(
            "{max_runs} uninterrupted runs did not complete the job\n{}",
            self.last_tail()
        ))
    }

    /// A failure message for a run that ended as it should not have.
    pub(crate) fn unexpected(&self, run: Run) -> String {
        format!(
            "run {} ended {run:?}\n{}",
            self.runs.get(),
            self.last_tail()
        )
    }

    /// The end of the last run's log.
    pub(crate) fn last_tail(&self) -> String {
        self.tail(self.runs.get())
    }

    fn tail(&self, n: u32) -> String {
        let text = std::fs::read_to_string(self.log(n)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(40);
        format!("--- run {n}, last lines ---\n{}", lines[start..].join("\n"))
    }
}

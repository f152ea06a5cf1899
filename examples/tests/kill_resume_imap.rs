//! The kill test: the real `migrate` process, IMAP → IMAP, on real Dovecot and Cyrus.
//!
//! The library promises that a migration killed at any instant, or run again without its
//! state file, ends equal to the source with no duplicates. This test checks the promise
//! from outside the process. It runs the `migrate` binary (`migrate --config job.toml`)
//! between two accounts of one server (the source is `MAILMIGRATE_TEST_IMAP_<SERVER>_USER`,
//! the destination `mmtest2`). It SIGKILLs runs, deletes the state, and cuts the
//! destination connection in the middle of a MULTIAPPEND. Then it compares the two accounts
//! with a checker that does not use the library (`support/imap_corpus.py`, Python's
//! `imaplib`). For every folder, the multiset of (sha256 of the RFC822 bytes, sorted flags
//! and keywords without `\Recent`, INTERNALDATE) must be the same on both sides. So nothing
//! is lost, nothing is duplicated, and no copy carries another copy's flags or date.
//!
//! The corpus (seeded once per server): about 600 messages in nested folders and folders
//! with non-ASCII names (modified UTF-7 on the wire). Many messages have flags (`\Seen`,
//! `\Flagged`, `\Answered`, `\Draft`) and keywords (`$Label1`, a custom one), every message
//! has an explicit INTERNALDATE, some have no Message-ID, a few are ~200 KB (so kills land
//! mid-upload), some are filed in two folders, and there are byte-identical twins in INBOX,
//! each twin with its own flags and date (only flags and date tell twins apart).
//!
//! Scenarios, each on a freshly wiped destination with a new state file:
//! 1. `complete-then-state-lost`: a clean run is exact; run again after the state file is
//!    deleted, it finds every copy and writes none twice. It also measures a run with
//!    nothing to do, within which some kills below are timed.
//! 2. `killed-repeatedly`: at least 20 SIGKILLs, each followed by a restart, then at most
//!    3 uninterrupted runs must exit 0. Every fourth kill comes at a random moment of
//!    start-up (connecting, listing, looking up the killed run's writes). The others come
//!    once the run has sent a random number of bytes to the destination (counted by a
//!    proxy that only forwards), drawn from what is left so that the kills spread over the
//!    whole copy and land mid-MULTIAPPEND.
//! 3. `killed-then-state-lost`: twice, a run killed mid-copy (after a random 10-40% of
//!    the corpus' bytes) and its state deleted; then the job is resumed to completion.
//! 4. `cut-mid-append`: a proxy closes the destination connection after a random number
//!    of client bytes (mid-MULTIAPPEND) and refuses the destination for the rest of the
//!    run; then runs without the proxy.
//! 5. `reply-lost`: the proxy goes deaf at that point (the server gets the whole command,
//!    the client never hears the answer), closes, and refuses; then runs without it.
//! 6. `reply-lost-recovered-in-run`: as 5, but later connections pass, so the same run
//!    has to settle the lost write itself.
//! 7. `twin-write-lost-then-state-lost`: the proxy swallows the rest of the first twin's
//!    upload (the client finishes sending, the server never gets the end) and lets later
//!    connections pass, so the run writes that twin again after its partner (the
//!    destination holds them in the other order); then the state file is deleted and the
//!    job runs again: every look-up must pair each twin with its own copy, not with the
//!    first same-bytes copy it finds.
//!
//! After each scenario, `\Flagged` is toggled at the source on one copy of every twin
//! group and on a few other messages, and one more run must carry the changes to the right
//! copies. A look-up that matched a copy to the wrong twin shows then, even if the flags
//! and dates the copies ended up with looked right.
//!
//! Replay: every random choice comes from one seed, printed first (`seed = …`). Set
//! `MAILMIGRATE_KILL_SEED` to run the same corpus, kill points and fault positions again,
//! and `MAILMIGRATE_KILL_SCENARIOS` (labels, comma-separated) to run only some scenarios.
//! A failed scenario keeps its directory (job files, state, one log per run);
//! `MAILMIGRATE_KILL_KEEP=1` keeps those of passed scenarios too.
//! Kill points are byte counts or wall-clock delays, and scenario 2 draws them from the
//! progress it sees, so where a kill lands also depends on the machine's speed; every kill
//! point is printed.
//! Servers come from `.ci/imap-servers.sh start`. Without them the test is skipped, unless
//! `MAILMIGRATE_TEST_REQUIRE` names `imap`: then it fails.

mod support;

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use mailmigrate_core::testkit::proxy::{Afterwards, Cut, Fault, Proxy, Trigger};
use support::corpus::{Corpus, Seeded};
use support::job::{Job, Run, EXIT_COMPLETE, EXIT_RUN_AGAIN};
use support::rng::Rng;
use support::server::Server;

/// About how many messages the corpus holds.
const MESSAGES: u32 = 600;
/// SIGKILLs of scenario 2 that must hit a running process.
const KILLS: u32 = 20;
/// A guess at a run's start-up, used only when scenario 1 could not measure it.
const DEFAULT_STARTUP: Duration = Duration::from_millis(500);
/// Uninterrupted runs allowed to finish a job after its faults.
const MAX_CLEAN_RUNS: u32 = 3;

#[test]
fn dovecot_migration_survives_kills_lost_state_and_cut_connections() {
    run_all("DOVECOT");
}

#[test]
fn cyrus_migration_survives_kills_lost_state_and_cut_connections() {
    run_all("CYRUS");
}

/// One scenario: it gets a fresh job (empty destination, no state) and its own random
/// stream; the comparison, the flag changes and the comparison after them follow it.
struct Scenario {
    label: &'static str,
    run: fn(&mut Ctx<'_>, &Job, &mut Rng) -> Result<(), String>,
}

const SCENARIOS: [Scenario; 7] = [
    Scenario {
        label: "complete-then-state-lost",
        run: complete_then_state_lost,
    },
    Scenario {
        label: "killed-repeatedly",
        run: killed_repeatedly,
    },
    Scenario {
        label: "killed-then-state-lost",
        run: killed_then_state_lost,
    },
    Scenario {
        label: "cut-mid-append",
        run: cut_mid_append,
    },
    Scenario {
        label: "reply-lost",
        run: reply_lost,
    },
    Scenario {
        label: "reply-lost-recovered-in-run",
        run: reply_lost_recovered_in_run,
    },
    Scenario {
        label: "twin-write-lost-then-state-lost",
        run: twin_write_lost_then_state_lost,
    },
];

/// The seed: `MAILMIGRATE_KILL_SEED`, else the clock (the same for both servers).
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| match std::env::var("MAILMIGRATE_KILL_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("MAILMIGRATE_KILL_SEED={s:?} is not a number")),
        Err(_) => SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 % 1_000_000_000)
            .unwrap_or(1),
    })
}

/// Whether `MAILMIGRATE_KILL_SCENARIOS` (if set) names the scenario.
fn selected(label: &str) -> bool {
    std::env::var("MAILMIGRATE_KILL_SCENARIOS")
        .map(|v| v.split(',').any(|s| s.trim() == label))
        .unwrap_or(true)
}

/// Seeds the server's source account once, then runs every scenario; fails listing every
/// scenario that failed. Both accounts are emptied first, and again after a clean pass.
fn run_all(name: &'static str) {
    let Some(server) = Server::from_env(name) else {
        return;
    };
    let seed = seed();
    let suite = Instant::now();
    eprintln!("[{name}] seed = {seed} (MAILMIGRATE_KILL_SEED={seed} replays it)");
    let corpus = Corpus::new(&server);
    let seeded = corpus
        .wipe_both()
        .and_then(|()| corpus.seed(seed, MESSAGES))
        .unwrap_or_else(|e| panic!("[{name}] cannot seed the source: {e}"));
    eprintln!(
        "[{name}] source: {} messages, {} bytes",
        seeded.messages, seeded.bytes
    );
    let mut ctx = Ctx {
        server: &server,
        corpus,
        seed,
        seeded,
        startup: DEFAULT_STARTUP,
        label: "",
    };
    let failures: Vec<String> = (0u64..)
        .zip(&SCENARIOS)
        .filter(|(_, scenario)| selected(scenario.label))
        .filter_map(|(stream, scenario)| ctx.run(stream, scenario).err())
        .collect();
    eprintln!("[{name}] all scenarios took {:.1?}", suite.elapsed());
    if failures.is_empty() {
        // Leave the accounts as empty as found; after a failure they stay for inspection.
        if let Err(e) = ctx.corpus.wipe_both() {
            eprintln!("[{name}] could not empty the accounts: {e}");
        }
    }
    assert!(
        failures.is_empty(),
        "[{name}] {} of {} scenarios failed (seed {seed}, MAILMIGRATE_KILL_SEED={seed} \
         replays it):\n\n{}",
        failures.len(),
        SCENARIOS.len(),
        failures.join("\n\n")
    );
}

/// Where a kill lands: at a moment of the run, or once the run has sent so many bytes to
/// the destination (counted by a proxy that only forwards).
#[derive(Debug, Clone, Copy)]
enum KillAt {
    Delay(Duration),
    Bytes(u64),
}

impl KillAt {
    /// Scenario 2's `kill`-th kill (from 0), with the `left` share of the corpus not yet at
    /// the destination. Every fourth lands at a random moment of start-up (connecting,
    /// listing, looking up the killed run's writes), as do all once everything is copied.
    /// The others land after a random number of uploaded bytes that averages the share of
    /// the rest of the corpus each remaining one should see, so they spread over the whole
    /// copy and land mid-MULTIAPPEND.
    fn next(ctx: &Ctx<'_>, rng: &mut Rng, kill: u32, left: f64) -> Self {
        if kill % 4 == 3 || left <= 0.0 {
            return Self::Delay(rng.duration(Duration::ZERO, ctx.startup * 3 / 2));
        }
        let byte_kills_left = (KILLS - kill) * 3 / 4 + 1;
        let share = 0.8 * left * ctx.seeded.bytes as f64 / f64::from(byte_kills_left);
        Self::Bytes(rng.between(0.0, 2.0 * share) as u64)
    }
}

/// Runs `job` with `config` (its destination behind `proxy`) until it exits or reaches
/// `at`; returns how it ended, when, and how many bytes it sent to the destination.
fn run_killed(
    job: &Job,
    config: &Path,
    proxy: &Proxy,
    at: KillAt,
) -> Result<(Run, Duration, u64), String> {
    let (started, sent) = (Instant::now(), proxy.bytes_sent());
    let run = job.run_until(config, |elapsed| match at {
        KillAt::Delay(delay) => elapsed >= delay,
        KillAt::Bytes(bytes) => proxy.bytes_sent() - sent >= bytes,
    })?;
    Ok((run, started.elapsed(), proxy.bytes_sent() - sent))
}

/// What the scenarios share on one server.
struct Ctx<'a> {
    server: &'a Server,
    corpus: Corpus<'a>,
    seed: u64,
    seeded: Seeded,
    /// How long a run with nothing to do takes (connecting, listing, checking), measured
    /// by scenario 1; some kills are timed within it.
    startup: Duration,
    /// The scenario running.
    label: &'static str,
}

impl Ctx<'_> {
    /// Runs one scenario on a wiped destination and compares the accounts after it.
    fn run(&mut self, stream: u64, scenario: &Scenario) -> Result<(), String> {
        self.label = scenario.label;
        let started = Instant::now();
        self.corpus
            .wipe_destination()
            .map_err(|e| format!("{}: {e}", scenario.label))?;
        let job = Job::new(self.server, scenario.label)?;
        let mut rng = Rng::new(self.seed, stream);
        let outcome = (scenario.run)(self, &job, &mut rng)
            .and_then(|()| self.check(&job))
            .and_then(|()| self.carry_flag_changes(&job, stream));
        match outcome {
            Ok(()) => {
                self.say(&format!("passed in {:.1?}", started.elapsed()));
                if std::env::var_os("MAILMIGRATE_KILL_KEEP").is_some() {
                    self.say(&format!("kept {}", job.keep().display()));
                }
                Ok(())
            }
            Err(e) => {
                let dir = job.keep();
                self.say("FAILED");
                Err(format!(
                    "{}: {e}\n(state and run logs kept in {})",
                    scenario.label,
                    dir.display()
                ))
            }
        }
    }

    /// Changes flags at the source (one copy of every twin group among them) and checks
    /// that the next run carries them to the right copies. A copy that a look-up matched
    /// to the wrong source message shows here, even when the flags and dates it ended up
    /// with looked right.
    fn carry_flag_changes(&self, job: &Job, round: u64) -> Result<(), String> {
        let touched = self.corpus.touch(round)?;
        let runs = job.run_to_completion(MAX_CLEAN_RUNS)?;
        self.say(&format!(
            "{touched} at the source, carried in {runs} run(s)"
        ));
        self.check(job)
    }

    fn say(&self, what: &str) {
        eprintln!("[{} {}] {what}", self.server.name, self.label);
    }

    /// The independent comparison of the two accounts.
    fn check(&self, job: &Job) -> Result<(), String> {
        let summary = self.corpus.compare(&job.state())?;
        self.say(&summary);
        Ok(())
    }

    /// The share of the corpus not yet at the destination (by message count), and how
    /// the log says it.
    fn left(&self) -> (f64, String) {
        let total = self.seeded.messages;
        match self.corpus.destination_count() {
            Ok(n) => (
                1.0 - n as f64 / total as f64,
                format!("{n}/{total} at the destination"),
            ),
            Err(e) => (1.0, format!("destination count failed: {e}")),
        }
    }

    fn progress(&self) -> String {
        self.left().1
    }
}

/// Scenario 1: a clean run, then the state is deleted and the job runs again.
fn complete_then_state_lost(ctx: &mut Ctx<'_>, job: &Job, _: &mut Rng) -> Result<(), String> {
    let started = Instant::now();
    let runs = job.run_to_completion(MAX_CLEAN_RUNS)?;
    ctx.say(&format!(
        "clean migration: {runs} run(s), {:.1?}",
        started.elapsed()
    ));
    ctx.check(job)?;
    job.delete_state()?;
    let runs = job.run_to_completion(MAX_CLEAN_RUNS)?;
    ctx.say(&format!(
        "state deleted, complete again after {runs} run(s)"
    ));
    let started = Instant::now();
    job.run_to_completion(1)?;
    ctx.startup = started.elapsed();
    ctx.say(&format!("a run with nothing to do: {:.1?}", ctx.startup));
    Ok(())
}

/// Scenario 2: at least [`KILLS`] SIGKILLs of running runs, then uninterrupted runs.
fn killed_repeatedly(ctx: &mut Ctx<'_>, job: &Job, rng: &mut Rng) -> Result<(), String> {
    let proxy = counting_proxy(ctx)?;
    let config = job.config_via(proxy.port())?;
    let (mut kills, mut runs, mut left) = (0, 0, 1.0);
    while kills < KILLS {
        runs += 1;
        if runs > 3 * KILLS {
            return Err(format!(
                "only {kills} of {runs} runs were still running when their kill came"
            ));
        }
        let at = KillAt::next(ctx, rng, kills, left);
        let (run, elapsed, sent) = run_killed(job, &config, &proxy, at)?;
        let when = format!("{at:?}: {} ms, {sent} bytes sent", elapsed.as_millis());
        match run {
            Run::Killed => {
                kills += 1;
                let (now_left, progress) = ctx.left();
                left = now_left;
                ctx.say(&format!("kill {kills} at {when}; {progress}"));
            }
            Run::Exited(code @ (EXIT_COMPLETE | EXIT_RUN_AGAIN)) => {
                left = if code == EXIT_COMPLETE { 0.0 } else { left };
                ctx.say(&format!("exit {code} before the kill at {when}"));
            }
            other => return Err(job.unexpected(other)),
        }
    }
    finish(ctx, job)
}

/// Scenario 3: twice a run killed mid-copy and its state deleted, then resumed.
fn killed_then_state_lost(ctx: &mut Ctx<'_>, job: &Job, rng: &mut Rng) -> Result<(), String> {
    let proxy = counting_proxy(ctx)?;
    let config = job.config_via(proxy.port())?;
    for round in 1..=2 {
        let at = KillAt::Bytes((ctx.seeded.bytes as f64 * rng.between(0.1, 0.4)) as u64);
        let (run, elapsed, sent) = run_killed(job, &config, &proxy, at)?;
        if !matches!(
            run,
            Run::Killed | Run::Exited(EXIT_COMPLETE | EXIT_RUN_AGAIN)
        ) {
            return Err(job.unexpected(run));
        }
        job.delete_state()?;
        ctx.say(&format!(
            "round {round}: {run:?} at {at:?} ({} ms, {sent} bytes sent; {}), state deleted",
            elapsed.as_millis(),
            ctx.progress()
        ));
    }
    finish(ctx, job)
}

/// A proxy to the destination that only forwards and counts bytes.
fn counting_proxy(ctx: &Ctx<'_>) -> Result<Proxy, String> {
    Proxy::counting(ctx.server.addr()).map_err(|e| format!("cannot start a proxy: {e}"))
}

/// Scenario 4: the connection is closed mid-MULTIAPPEND, the destination stays away.
fn cut_mid_append(ctx: &mut Ctx<'_>, job: &Job, rng: &mut Rng) -> Result<(), String> {
    let at = random_byte(ctx, rng);
    through_faulty_proxy(ctx, job, Cut::Close, at, Afterwards::Refuse)?;
    finish(ctx, job)
}

/// Scenario 5: a reply is lost, the destination stays away.
fn reply_lost(ctx: &mut Ctx<'_>, job: &Job, rng: &mut Rng) -> Result<(), String> {
    let at = random_byte(ctx, rng);
    through_faulty_proxy(ctx, job, Cut::Deaf, at, Afterwards::Refuse)?;
    finish(ctx, job)
}

/// Scenario 6: a reply is lost, the destination stays reachable for the same run.
fn reply_lost_recovered_in_run(ctx: &mut Ctx<'_>, job: &Job, rng: &mut Rng) -> Result<(), String> {
    let at = random_byte(ctx, rng);
    through_faulty_proxy(ctx, job, Cut::Deaf, at, Afterwards::Pass)?;
    finish(ctx, job)
}

/// Scenario 7: the first twin's upload is lost mid-literal (the client finishes sending, the
/// server never gets the end), so the run writes that twin again after its partner (the
/// destination holds them in the other order); then the state is lost and every copy must
/// be matched again, each twin to its own copy.
fn twin_write_lost_then_state_lost(
    ctx: &mut Ctx<'_>,
    job: &Job,
    _: &mut Rng,
) -> Result<(), String> {
    let at = Trigger::AfterMarker(bytes::Bytes::from_static(b"Subject: twin-"));
    through_faulty_proxy(ctx, job, Cut::Swallow, at, Afterwards::Pass)?;
    job.delete_state()?;
    ctx.say("state deleted");
    finish(ctx, job)
}

/// A random byte of the upload, from 5% to 90% of the corpus.
fn random_byte(ctx: &Ctx<'_>, rng: &mut Rng) -> Trigger {
    Trigger::AfterBytes((ctx.seeded.bytes as f64 * rng.between(0.05, 0.9)) as u64)
}

/// One run through a proxy that injects `cut` `at` a point of the upload.
fn through_faulty_proxy(
    ctx: &mut Ctx<'_>,
    job: &Job,
    cut: Cut,
    at: Trigger,
    afterwards: Afterwards,
) -> Result<(), String> {
    let fault = Fault {
        cut,
        at,
        afterwards,
    };
    let proxy = Proxy::start(ctx.server.addr(), fault.clone())
        .map_err(|e| format!("cannot start the proxy: {e}"))?;
    let run = job.run_with(&job.config_via(proxy.port())?)?;
    ctx.say(&format!(
        "through the proxy ({fault}; the upload is {} bytes): {run:?}, {}",
        ctx.seeded.bytes,
        ctx.progress()
    ));
    if !proxy.tripped() {
        return Err(format!(
            "the fault never happened: the run sent {} bytes\n{}",
            proxy.bytes_sent(),
            job.last_tail()
        ));
    }
    drop(proxy);
    match run {
        // A run whose destination went away cannot check what it wrote: that is "run
        // again", never "differences".
        Run::Exited(EXIT_COMPLETE | EXIT_RUN_AGAIN) => Ok(()),
        other => Err(job.unexpected(other)),
    }
}

/// Uninterrupted runs until the job is complete.
fn finish(ctx: &Ctx<'_>, job: &Job) -> Result<(), String> {
    let runs = job.run_to_completion(MAX_CLEAN_RUNS)?;
    ctx.say(&format!("complete after {runs} uninterrupted run(s)"));
    Ok(())
}

//! Messages per second into Gmail, against the Gmail emulator with the per-user quota
//! budget as the limit \[GM-QUOTA\]: `messages.import` costs 25 units, so a budget of `U`
//! units a second allows `U / 25` imports a second per user — the ceiling, computed from
//! the same budget the emulator enforces in this run. The engine (memory → Gmail: ledger
//! rows pending then done, each message imported with its labels) runs against it for one
//! user, then for ten users in parallel (one engine per user, each with its own budget,
//! as at Google). The ratio engine ÷ ceiling is printed per user; every item must copy,
//! none fail, and the emulator must refuse nothing over the quota.
//!
//! `MAILMIGRATE_BENCH_GMAIL_MESSAGES` sets the messages per user (default 400),
//! `MAILMIGRATE_BENCH_GMAIL_UNITS` the units a second per user (default 500: 20 imports a
//! second, 200 for the ten users, so that on two cores the quota, not the CPU, is the
//! limit), `MAILMIGRATE_BENCH_GMAIL_LATENCY_MS` the latency per call (default 20). The
//! window is a second (Google's is a minute: the same pacing, in a shorter run).
//!
//! ```sh
//! cargo bench -p mailmigrate-benches --bench gmail_throughput
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mailmigrate_core::engine::{Engine, SyncOptions};
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{Destination, Flag, FolderPath, MessageId, MessageMeta, RawMessage};
use mailmigrate_gmail::emulator::{Emulator, EmulatorHandle, Quota};
use mailmigrate_gmail::GmailLimits;

/// The units `messages.import` costs \[GM-QUOTA\].
const IMPORT_UNITS: f64 = 25.0;
const USERS: usize = 10;

fn mime(u: usize, i: usize) -> String {
    format!(
        "From: Sender {i} <s{i}@example.org>\r\nTo: user{u}@example.com\r\nSubject: Report {i}\r\n\
         Message-ID: <bench-{u}-{i}@example.org>\r\nDate: Tue, 3 Mar 2020 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello {i},\r\n\r\n{}\r\n",
        "The quarterly figures look fine. ".repeat(40)
    )
}

fn env(k: &str, default: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn user(u: usize) -> String {
    format!("user{u}@example.com")
}

/// One engine pass of `n` messages into `user`: (seconds, copied, failed).
async fn migrate(
    emu: &EmulatorHandle,
    user: &str,
    u: usize,
    n: usize,
    limits: GmailLimits,
) -> (f64, u64, u64) {
    let source = MemoryStore::new("bench");
    let inbox = source
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .expect("source inbox")
        .id;
    let msgs: Vec<RawMessage> = (0..n)
        .map(|i| {
            RawMessage::new(
                MessageMeta::new(MessageId::new(i.to_string()), inbox.clone())
                    .with_flags([Flag::Seen].into_iter().collect()),
                Bytes::from(mime(u, i)),
            )
        })
        .collect();
    for r in source.append(&inbox, msgs).await.expect("seed") {
        r.expect("seeded");
    }
    let gmail = emu
        .gmail_builder(user)
        .with_limits(limits)
        .build()
        .expect("the mailbox builds");
    let start = Instant::now();
    let report = Engine::new(
        Arc::new(source),
        Arc::new(gmail),
        Arc::new(MemoryState::new()),
    )
    .with_options(SyncOptions::new("bench"))
    .run()
    .await
    .expect("engine pass");
    (
        start.elapsed().as_secs_f64(),
        report.totals.copied,
        report.totals.failed,
    )
}

fn main() {
    let n = env("MAILMIGRATE_BENCH_GMAIL_MESSAGES", 400) as usize;
    let units = env("MAILMIGRATE_BENCH_GMAIL_UNITS", 500);
    let latency = Duration::from_millis(env("MAILMIGRATE_BENCH_GMAIL_LATENCY_MS", 20));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let window = Duration::from_secs(1);
        let mut b = Emulator::builder()
            .quota(Quota::default().with_units_per_window(units, window))
            .latency(latency);
        for u in 0..=USERS {
            b = b.user(&user(u));
        }
        let emu = b.start().await.expect("the emulator starts");
        // The client is told the budget the project has (as `quota_units=` in the CLI).
        let limits = GmailLimits::default().with_units(units, window);
        let ceiling = units as f64 / IMPORT_UNITS;

        let (secs, copied, failed) = migrate(&emu, &user(USERS), USERS, n, limits).await;
        assert_eq!((copied, failed), (n as u64, 0), "every item copies, none fails");
        let one = n as f64 / secs;

        let start = Instant::now();
        let runs = futures::future::join_all(
            (0..USERS).map(|u| {
                let emu = emu.clone();
                async move { migrate(&emu, &user(u), u, n, limits).await }
            }),
        )
        .await;
        let all_secs = start.elapsed().as_secs_f64();
        for (copied, failed) in runs.iter().map(|r| (r.1, r.2)) {
            assert_eq!((copied, failed), (n as u64, 0), "every item copies, none fails");
        }
        let slowest = runs.iter().map(|r| r.0).fold(0.0, f64::max);
        let per_user = runs.iter().map(|r| n as f64 / r.0).fold(f64::MAX, f64::min);
        let stats = emu.stats();

        println!(
            "gmail_throughput: {n} messages per user, {units} units/s per user, {} ms per call",
            latency.as_millis()
        );
        println!("  quota ceiling:               {ceiling:>8.1} imports/s per user");
        println!(
            "  engine, 1 user:              {one:>8.1} messages/s  ({:.2} of the ceiling)",
            one / ceiling
        );
        println!(
            "  engine, {USERS} users at once:    {:>8.1} messages/s in all, slowest user {per_user:.1}/s ({:.2} of the ceiling), {all_secs:.1} s (slowest {slowest:.1} s)",
            (USERS * n) as f64 / all_secs,
            per_user / ceiling
        );
        let charged = stats.units.get(&user(USERS)).copied().unwrap_or(0);
        println!(
            "  units charged per message (1 user): {:.2} (import: {IMPORT_UNITS})",
            charged as f64 / n as f64
        );
        println!(
            "  refused by the emulator: {} over the quota, {} over the concurrency cap; failed items 0",
            stats.rate_limited, stats.concurrency_refused
        );
        emu.shutdown().await;
    });
}

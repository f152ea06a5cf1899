//! Messages per second into Microsoft 365 under Outlook's real per-mailbox limits, one
//! mailbox alone and ten mailboxes at once against one Graph emulator.
//!
//! The emulator enforces the limits of [G-THR] as they are (`Limits::default()`: 4
//! requests in flight per (app, mailbox), 10,000 requests per 10 minutes, 150 MB uploaded
//! per 5 minutes) and holds every request for a fixed latency standing in for the
//! service's, so the concurrency limit is what bounds a short run. In the same run, for
//! the same message count and size:
//!
//! - **raw**: the ceiling those limits allow — plain `POST`s of JSON messages, four in
//!   flight per mailbox (the most the limit lets through), one token, no ledger;
//! - **engine**: `Engine` from memory into each mailbox (ledger rows pending then done,
//!   each message parsed and created as received mail with its properties and hash
//!   stamp), one engine per mailbox, all running at once.
//!
//! It prints messages per second of both, their ratio (the target is ≥ 0.90), the failed
//! items (must be 0), the 429s the emulator answered, the requests the engine sent per
//! message and, from that, the share of the 10,000-requests-per-10-minutes window a long
//! run would turn into messages (1.00 = one request per message, what raw spends).
//! The run exits non-zero when an item failed or a message is missing.
//!
//! `MAILMIGRATE_BENCH_GRAPH_MESSAGES` sets the messages per mailbox (default 300),
//! `MAILMIGRATE_BENCH_GRAPH_MAILBOXES` the mailboxes run at once (default 10),
//! `MAILMIGRATE_BENCH_GRAPH_LATENCY_MS` the latency (default 100, below what a create
//! takes at Graph; at 20 to 50 ms, forty requests in flight make a shared 2-core machine
//! the bound instead of the limits, and the ratio says more about the machine's load).
//! The whole run takes about 40 s at the defaults.
//!
//! ```sh
//! cargo bench -p mailmigrate-benches --bench graph_parallel
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use mailmigrate_core::engine::{Engine, MappingRules, SyncOptions};
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{Destination, Flag, FolderPath, MessageId, MessageMeta, RawMessage};
use mailmigrate_graph::emulator::{Emulator, EmulatorHandle, Limits};
use serde_json::json;

/// Requests in flight per mailbox that Outlook allows [G-THR].
const CONCURRENCY: usize = 4;
/// Requests per mailbox per 10 minutes [G-THR].
const WINDOW_REQUESTS: f64 = 10_000.0;
const WINDOW_SECS: f64 = 600.0;

fn body(i: usize) -> String {
    format!(
        "Hello {i},\r\n\r\n{}\r\n",
        "The quarterly figures look fine. ".repeat(40)
    )
}

fn mime(upn: &str, i: usize) -> String {
    format!(
        "From: Sender {i} <s{i}@example.org>\r\nTo: {upn}\r\nSubject: Report {i}\r\n\
         Message-ID: <bench-{i}@example.org>\r\nDate: Tue, 3 Mar 2020 10:00:00 +0000\r\n\
         X-Mailer: bench\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}",
        body(i)
    )
}

fn env(k: &str, default: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The ceiling: `n` plain creates per mailbox, [`CONCURRENCY`] in flight per mailbox, all
/// mailboxes at once. Returns the seconds taken and the requests that failed.
async fn raw(emu: &EmulatorHandle, mailboxes: &[String], n: usize) -> (f64, usize) {
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(emu.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &emu.client_id()),
            ("client_secret", &emu.client_secret()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap_or(""));
    let start = Instant::now();
    let per_mailbox = mailboxes.iter().map(|upn| {
        let url = format!("{}/users/{upn}/mailFolders/inbox/messages", emu.graph_url());
        let (http, bearer) = (http.clone(), bearer.clone());
        async move {
            futures::stream::iter(0..n)
                .map(|i| {
                    http.post(&url)
                        .header("authorization", &bearer)
                        .json(&json!({
                            "subject": format!("Report {i}"),
                            "body": {"contentType": "text", "content": body(i)},
                            "from": {"emailAddress": {"address": format!("s{i}@example.org")}},
                            "internetMessageId": format!("<raw-{i}@example.org>"),
                            "singleValueExtendedProperties": [
                                {"id": "Integer 0x0E07", "value": "1"},
                                {"id": "SystemTime 0x0E06", "value": "2020-03-03T10:00:00Z"}
                            ]
                        }))
                        .send()
                })
                .buffer_unordered(CONCURRENCY)
                .filter(|r| {
                    futures::future::ready(!r.as_ref().is_ok_and(|r| r.status().is_success()))
                })
                .count()
                .await
        }
    });
    let failed: usize = futures::future::join_all(per_mailbox)
        .await
        .into_iter()
        .sum();
    (start.elapsed().as_secs_f64(), failed)
}

/// What the engine runs did.
struct EngineRun {
    secs: f64,
    copied: u64,
    failed: u64,
    requests: u64,
}

/// One engine per mailbox, memory → Graph, all at once, each with `n` messages.
async fn engine(emu: &EmulatorHandle, mailboxes: &[String], n: usize) -> EngineRun {
    let requests = |emu: &EmulatorHandle| -> u64 {
        let stats = emu.stats();
        mailboxes
            .iter()
            .map(|m| stats.requests.get(m.as_str()).copied().unwrap_or(0))
            .sum()
    };
    let mut engines = Vec::new();
    for upn in mailboxes {
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
                    Bytes::from(mime(upn, i)),
                )
            })
            .collect();
        for r in source.append(&inbox, msgs).await.expect("seed") {
            r.expect("seeded");
        }
        let graph = emu
            .graph_builder(upn)
            .connect()
            .await
            .expect("the mailbox builds");
        let rules = MappingRules::default()
            .with_dest_prefix(FolderPath::parse("Engine", '/').expect("a folder path"));
        engines.push(
            Engine::new(
                Arc::new(source),
                Arc::new(graph),
                Arc::new(MemoryState::new()),
            )
            .with_options(SyncOptions::new(upn.as_str()).with_mapping(rules)),
        );
    }
    let before = requests(emu);
    let start = Instant::now();
    let reports = futures::future::join_all(engines.iter().map(Engine::run)).await;
    let secs = start.elapsed().as_secs_f64();
    let (mut copied, mut failed) = (0, 0);
    for r in reports {
        let r = r.expect("engine pass");
        copied += r.totals.copied;
        failed += r.totals.failed;
    }
    EngineRun {
        secs,
        copied,
        failed,
        requests: requests(emu) - before,
    }
}

/// Runs both over `mailboxes`; prints the figures; returns whether nothing failed.
async fn compare(emu: &EmulatorHandle, label: &str, mailboxes: &[String], n: usize) -> bool {
    let throttled_before = emu.stats().throttled;
    let (raw_secs, raw_failed) = raw(emu, mailboxes, n).await;
    let run = engine(emu, mailboxes, n).await;
    let throttled = emu.stats().throttled - throttled_before;
    let total = (n * mailboxes.len()) as f64;
    let (raw_rate, engine_rate) = (total / raw_secs, run.copied as f64 / run.secs);
    let per_message = run.requests as f64 / run.copied.max(1) as f64;
    let window = WINDOW_REQUESTS / WINDOW_SECS * mailboxes.len() as f64;
    println!("  {label}:");
    println!(
        "    raw ceiling (4 in flight per mailbox): {raw_rate:>8.0} messages/s  ({raw_failed} failed)"
    );
    println!(
        "    engine:                                {engine_rate:>8.0} messages/s  ({} copied, {} failed)",
        run.copied, run.failed
    );
    println!(
        "    ratio engine / raw:                    {:>8.2}",
        engine_rate / raw_rate
    );
    println!("    429s answered by the emulator:         {throttled:>8}");
    println!(
        "    requests per message (engine):         {per_message:>8.3}  \
         (window-bound: {:.1} of {window:.1} messages/s, ratio {:.2})",
        window / per_message,
        1.0 / per_message
    );
    let ok = run.failed == 0 && raw_failed == 0 && run.copied == total as u64;
    if !ok {
        println!("    FAILED ITEMS OR MISSING MESSAGES");
    }
    ok
}

fn main() {
    let n = env("MAILMIGRATE_BENCH_GRAPH_MESSAGES", 300) as usize;
    let count = env("MAILMIGRATE_BENCH_GRAPH_MAILBOXES", 10) as usize;
    let latency = Duration::from_millis(env("MAILMIGRATE_BENCH_GRAPH_LATENCY_MS", 100));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ok = rt.block_on(async {
        let solo = vec!["solo@example.com".to_owned()];
        let many: Vec<String> = (0..count).map(|k| format!("m{k}@example.com")).collect();
        let mut builder = Emulator::builder()
            .limits(Limits::default())
            .latency(latency);
        for upn in solo.iter().chain(&many) {
            builder = builder.mailbox(upn);
        }
        let emu = builder.start().await.expect("the emulator starts");
        println!(
            "graph_parallel: {n} messages per mailbox, {} ms per request, real limits \
             (4 in flight, 10,000 / 10 min, 150 MB / 5 min per mailbox)",
            latency.as_millis()
        );
        let one = compare(&emu, "one mailbox", &solo, n).await;
        let all = compare(&emu, &format!("{count} mailboxes at once"), &many, n).await;
        let peak = emu
            .stats()
            .max_concurrent
            .values()
            .copied()
            .max()
            .unwrap_or(0);
        println!("  most requests in flight at one mailbox: {peak} (limit {CONCURRENCY})");
        emu.shutdown().await;
        one && all
    });
    if !ok {
        std::process::exit(1);
    }
}

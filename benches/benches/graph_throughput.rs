//! Messages per second into and out of Microsoft 365, against the Graph emulator with a
//! fixed latency per request standing in for the service's: the engine (`Engine` from
//! memory: ledger rows pending then done, each message created as received mail with its
//! properties and content-hash stamp) against a raw baseline of plain `POST`s of JSON
//! messages of the same size with the same concurrency (4, Graph's per-mailbox limit),
//! measured in the same run. Then the mailbox read back by the engine as a source (delta
//! listing and `$value` of each message). Only the ratios mean anything; the absolute
//! rates follow the chosen latency.
//!
//! `MAILMIGRATE_BENCH_GRAPH_MESSAGES` sets the count (default 400),
//! `MAILMIGRATE_BENCH_GRAPH_LATENCY_MS` the latency (default 20).
//!
//! ```sh
//! cargo bench -p mailmigrate-benches --bench graph_throughput
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use mailmigrate_core::engine::{Engine, SyncOptions};
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{Destination, Flag, FolderPath, MessageId, MessageMeta, RawMessage};
use mailmigrate_graph::emulator::Emulator;
use serde_json::json;

const CONCURRENCY: usize = 4;
const UPN: &str = "bench@example.com";
const OUT: &str = "out@example.com";

fn body(i: usize) -> String {
    format!(
        "Hello {i},\r\n\r\n{}\r\n",
        "The quarterly figures look fine. ".repeat(40)
    )
}

fn mime(i: usize) -> String {
    format!(
        "From: Sender {i} <s{i}@example.org>\r\nTo: {UPN}\r\nSubject: Report {i}\r\n\
         Message-ID: <bench-{i}@example.org>\r\nDate: Tue, 3 Mar 2020 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}",
        body(i)
    )
}

fn env(k: &str, default: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env("MAILMIGRATE_BENCH_GRAPH_MESSAGES", 400) as usize;
    let latency = Duration::from_millis(env("MAILMIGRATE_BENCH_GRAPH_LATENCY_MS", 20));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let emu = Emulator::builder()
            .mailbox(UPN)
            .mailbox(OUT)
            .latency(latency)
            .start()
            .await
            .expect("the emulator starts");

        // Raw: plain POSTs of JSON messages, CONCURRENCY at a time, one token.
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
        let url = format!("{}/users/{UPN}/mailFolders/inbox/messages", emu.graph_url());
        let start = Instant::now();
        let answers = futures::stream::iter(0..n)
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
            .collect::<Vec<_>>()
            .await;
        let raw_secs = start.elapsed().as_secs_f64();
        assert!(answers
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.status().is_success())));

        let requests = |emu: &mailmigrate_graph::emulator::EmulatorHandle| {
            emu.stats().requests.get(UPN).copied().unwrap_or(0)
        };
        let before_engine = requests(&emu);
        // The engine: memory → Graph, into a folder of its own.
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
                    Bytes::from(mime(i)),
                )
            })
            .collect();
        for r in source.append(&inbox, msgs).await.expect("seed") {
            r.expect("seeded");
        }
        let graph = emu
            .graph_builder(UPN)
            .connect()
            .await
            .expect("the mailbox builds");
        let rules = mailmigrate_core::engine::MappingRules::default()
            .with_dest_prefix(FolderPath::parse("Engine", '/').expect("a folder path"));
        let start = Instant::now();
        let report = Engine::new(
            Arc::new(source),
            Arc::new(graph),
            Arc::new(MemoryState::new()),
        )
        .with_options(SyncOptions::new("bench").with_mapping(rules))
        .run()
        .await
        .expect("engine pass");
        let engine_secs = start.elapsed().as_secs_f64();
        let engine_requests = requests(&emu) - before_engine;
        assert_eq!(report.totals.copied, n as u64, "{report}");

        // Read back: Graph as the source, into memory.
        let graph = emu
            .graph_builder(UPN)
            .connect()
            .await
            .expect("the mailbox builds");
        let sink = MemoryStore::new("sink");
        let start = Instant::now();
        let back = Engine::new(
            Arc::new(graph),
            Arc::new(sink.clone()),
            Arc::new(MemoryState::new()),
        )
        .with_options(SyncOptions::new("back"))
        .run()
        .await
        .expect("read-back pass");
        let read_secs = start.elapsed().as_secs_f64();
        assert!(back.totals.copied >= 2 * n as u64, "{back}");
        let stats = emu.stats();
        let peak = stats.max_concurrent.get(UPN).copied().unwrap_or(0);

        let rate = |count: usize, secs: f64| count as f64 / secs;
        println!(
            "graph_throughput: {n} messages, {} ms per request, {CONCURRENCY} in flight",
            latency.as_millis()
        );
        println!(
            "  raw POSTs:                       {:>8.0} messages/s",
            rate(n, raw_secs)
        );
        println!(
            "  engine (memory -> Graph):        {:>8.0} messages/s  ({:.2}x raw)",
            rate(n, engine_secs),
            raw_secs / engine_secs
        );
        println!(
            "  engine (Graph -> memory, delta + $value): {:>8.0} messages/s",
            rate(back.totals.copied as usize, read_secs)
        );
        println!(
            "  requests per message written by the engine: {:.2}",
            engine_requests as f64 / n as f64
        );
        println!("  most requests in flight at the mailbox: {peak} (limit 4)");
        emu.shutdown().await;
    });
}

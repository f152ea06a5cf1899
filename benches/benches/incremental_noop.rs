//! A no-change incremental pass over 100,000 messages, after a first full pass.
//! Target: under one second.
//!
//! Measured twice: with a source that lists incrementally (`list_since`, one cheap call
//! per folder) and with one that cannot ([`FullListing`]: no `list_since`, checkpoints
//! ignored), so the engine lists everything and diffs it against its ledger; each with the
//! in-memory and the SQLite state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use mailmigrate_benches::{corpus, fill, FullListing, Timings};
use mailmigrate_core::engine::{Engine, SyncOptions};
use mailmigrate_core::state::{MemoryState, SqliteState, StateStore};
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::Source;

const N: usize = 100_000;
const FOLDERS: usize = 8;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let timings = Timings::default();
    let mut c = Criterion::default().configure_from_args();
    let shared = corpus(N);
    let variants = [
        ("with_list_since", "memory"),
        ("ledger_diff", "memory"),
        ("with_list_since", "sqlite"),
        ("ledger_diff", "sqlite"),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("incremental_noop");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N as u64));
    for (listing, state_kind) in variants {
        let label = format!("{listing}_{state_kind}");
        // Both sources share the same message bytes.
        let store = MemoryStore::new("source");
        rt.block_on(fill(&store, &shared, FOLDERS))
            .expect("fill the source");
        // The ledger-diff source declares no `list_since` and ignores checkpoints, so every
        // pass lists all messages and the engine diffs them against its ledger.
        let source: Arc<dyn Source> = match listing {
            "with_list_since" => Arc::new(store),
            _ => Arc::new(FullListing::new(store)),
        };
        let dest = MemoryStore::new("dest");
        let state: Arc<dyn StateStore> = match state_kind {
            "sqlite" => Arc::new(
                SqliteState::open(dir.path().join(format!("{label}.sqlite"))).expect("state"),
            ),
            _ => Arc::new(MemoryState::new()),
        };
        let engine =
            Engine::new(source, Arc::new(dest), state).with_options(SyncOptions::new("bench"));
        let first = rt.block_on(engine.run()).expect("first pass");
        assert_eq!(first.totals.copied as usize, N);
        let name = format!("{label}/{N}");
        group.bench_function(BenchmarkId::new(&label, N), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let engine = engine.clone();
                let timings = timings.clone();
                let name = name.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let report = engine.run().await.expect("pass");
                        let took = start.elapsed();
                        assert!(report.totals.moved_nothing());
                        total += took;
                        timings.record(&name, took);
                    }
                    total
                }
            });
        });
    }
    group.finish();
    c.final_summary();
    println!("\nincremental_noop summary ({N} messages, no change; median of every timed pass)");
    println!("{:<28} {:>12} {:>8}", "variant", "median", "< 1 s");
    for name in timings.names() {
        if let Some(d) = timings.median(&name) {
            println!(
                "{name:<28} {:>10.1}ms {:>8}",
                d.as_secs_f64() * 1e3,
                if d < Duration::from_secs(1) {
                    "met"
                } else {
                    "MISSED"
                }
            );
        }
    }
}

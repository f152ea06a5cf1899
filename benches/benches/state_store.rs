//! Ledger writes: `record` of batches of 256 rows, in rows per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use mailmigrate_benches::Timings;
use mailmigrate_core::state::{LedgerEntry, LedgerState, MemoryState, SqliteState, StateStore};
use mailmigrate_core::{ContentHash, Flag, Flags, FolderId, MessageId};

const BATCH: usize = 256;

/// The state stores measured.
fn states() -> Vec<(&'static str, Arc<dyn StateStore>)> {
    let path = std::env::temp_dir().join("mailmigrate-bench-state.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    vec![
        ("memory", Arc::new(MemoryState::new())),
        (
            "sqlite",
            Arc::new(SqliteState::open(&path).expect("open the bench state")),
        ),
    ]
}

fn batch(start: u64) -> Vec<LedgerEntry> {
    let src = FolderId::new("INBOX");
    let dst = FolderId::new("Imported/INBOX");
    let flags: Flags = [Flag::Seen].into();
    (start..start + BATCH as u64)
        .map(|i| {
            LedgerEntry::new(
                src.clone(),
                MessageId::new(format!("1700000000:{i}")),
                dst.clone(),
                Some(MessageId::new(i.to_string())),
                ContentHash::of(&i.to_le_bytes()),
                Some(format!("bench-{i}@mailmigrate.example")),
                flags.clone(),
                LedgerState::Done,
            )
        })
        .collect()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let timings = Timings::default();
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("state_store");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (label, state) in states() {
        let name = format!("record_{BATCH}/{label}");
        let mut next = 0u64;
        group.bench_function(BenchmarkId::new(format!("record_{BATCH}"), label), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                // Rows are built outside the timed section; ids keep growing, so the
                // ledger grows as it does in a real run.
                let batches: Vec<_> = (0..iters).map(|k| batch(next + k * BATCH as u64)).collect();
                next += iters * BATCH as u64;
                let state = Arc::clone(&state);
                let timings = timings.clone();
                let name = name.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for rows in batches {
                        let start = Instant::now();
                        state.record("bench", &rows).await.expect("record");
                        let took = start.elapsed();
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
    println!("\nstate_store summary (median per batch of {BATCH} rows)");
    println!("{:<24} {:>12} {:>14}", "store", "median", "rows/s");
    for name in timings.names() {
        if let Some(d) = timings.median(&name) {
            println!(
                "{name:<24} {:>10.1}µs {:>14.0}",
                d.as_secs_f64() * 1e6,
                BATCH as f64 / d.as_secs_f64()
            );
        }
    }
}

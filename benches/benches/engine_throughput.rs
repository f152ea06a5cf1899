//! Engine throughput, memory to memory: 10,000 and 100,000 messages of 4 KB.
//!
//! The corpus is generated once, outside the timed loop; each iteration migrates it into a
//! fresh destination with a fresh `MemoryState`. Target: at least 50,000 messages/s on two
//! cores.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use mailmigrate_benches::{corpus, fill, Timings};
use mailmigrate_core::engine::{Engine, SyncOptions};
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;

const SIZES: [usize; 2] = [10_000, 100_000];
const FOLDERS: usize = 8;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn bench(c: &mut Criterion, timings: &Timings) {
    let rt = runtime();
    let mut group = c.benchmark_group("engine_throughput");
    group.sample_size(10);
    for n in SIZES {
        let source = MemoryStore::new("source");
        rt.block_on(fill(&source, &corpus(n), FOLDERS))
            .expect("fill the source");
        let source = Arc::new(source);
        let name = format!("memory_to_memory/{n}");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("memory_to_memory", n), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let source = Arc::clone(&source);
                let name = name.clone();
                let timings = timings.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let dest = MemoryStore::new("dest");
                        let engine = Engine::new(
                            Arc::<MemoryStore>::clone(&source),
                            Arc::new(dest.clone()),
                            Arc::new(MemoryState::new()),
                        )
                        .with_options(SyncOptions::new("bench"));
                        let start = Instant::now();
                        let report = engine.run().await.expect("run");
                        let took = start.elapsed();
                        assert_eq!(report.totals.copied as usize, n);
                        total += took;
                        timings.record(&name, took);
                        // Dropping the filled destination and ledger happens untimed.
                        drop((engine, dest));
                    }
                    total
                }
            });
        });
    }
    group.finish();
}

fn main() {
    let timings = Timings::default();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &timings);
    c.final_summary();
    println!("\nengine_throughput summary (median of every timed iteration)");
    println!(
        "{:<28} {:>12} {:>14} {:>8}",
        "benchmark", "median", "messages/s", "target"
    );
    for n in SIZES {
        let name = format!("memory_to_memory/{n}");
        if let Some(d) = timings.median(&name) {
            let rate = n as f64 / d.as_secs_f64();
            println!(
                "{name:<28} {:>10.1}ms {rate:>14.0} {:>8}",
                d.as_secs_f64() * 1e3,
                if rate >= 50_000.0 { "met" } else { "MISSED" }
            );
        }
    }
}

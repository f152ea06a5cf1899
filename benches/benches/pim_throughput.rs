//! Contacts per second, memory to memory: the engine (`PimSync`: ledger rows pending then
//! done, adaptation, versions) against a raw baseline of the same items written straight
//! into a fresh store in batches of the same size, both measured in the same run.
//!
//! Compare the two lines' throughput: the engine's cost per contact is the ratio.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use mailmigrate_core::pim::sync::PimSync;
use mailmigrate_core::pim::{
    Collection, CollectionId, ItemId, ItemMeta, ItemWrite, MemoryPim, PimDestination, PimItem,
    PimKind, WriteOptions,
};
use mailmigrate_core::state::MemoryState;

const SIZES: [usize; 2] = [1_000, 10_000];
const BATCH: usize = 100;

fn contacts(n: usize) -> Vec<PimItem> {
    (0..n)
        .map(|i| {
            let text = format!(
                "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:bench-{i}\r\nFN:Person {i}\r\n\
                 N:{i};Person;;;\r\nEMAIL;TYPE=work:p{i}@example.com\r\n\
                 TEL;TYPE=cell:+1 555 {i:07}\r\nORG:Example\r\nX-SEQ:{i}\r\nEND:VCARD\r\n"
            );
            PimItem::parse(
                PimKind::Contacts,
                ItemMeta::new(ItemId::new(format!("{i}"))),
                text.into(),
            )
            .expect("a bench contact parses")
        })
        .collect()
}

fn book() -> Collection {
    Collection::new(CollectionId::new("b"), PimKind::Contacts, "Bench")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("pim_throughput");
    group.sample_size(10);
    for n in SIZES {
        let items = contacts(n);
        let source = MemoryPim::new("source");
        rt.block_on(async {
            let id = source
                .ensure_collection(&book())
                .await
                .expect("collection")
                .id;
            for item in &items {
                source.put(&id, item.clone());
            }
        });
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("raw_writes", n), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let items = items.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let dest = MemoryPim::new("dest");
                        let id = dest
                            .ensure_collection(&book())
                            .await
                            .expect("collection")
                            .id;
                        let start = Instant::now();
                        for chunk in items.chunks(BATCH) {
                            let writes = chunk.iter().cloned().map(ItemWrite::create).collect();
                            dest.write_items(&id, writes, &WriteOptions::default())
                                .await
                                .expect("write");
                        }
                        total += start.elapsed();
                    }
                    total
                }
            });
        });
        group.bench_function(BenchmarkId::new("engine", n), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let source = source.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let dest = MemoryPim::new("dest");
                        let state = MemoryState::new();
                        let start = Instant::now();
                        let report = PimSync::new(&source, &dest, &state, "bench")
                            .run()
                            .await
                            .expect("run");
                        total += start.elapsed();
                        assert_eq!(report.totals().written as usize, n);
                    }
                    total
                }
            });
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}

//! Contacts per second into a real CardDAV server (Radicale, as `.ci/dav-servers.sh`
//! starts it): the engine (`PimSync` from memory: ledger rows pending then done,
//! conditional `PUT`s named by `UID`, versions recorded) against a raw baseline of plain
//! `PUT`s of the same vCards with the same concurrency, measured in the same run. Then a
//! full read back (`sync-collection` listing and multiget) for the source side.
//!
//! Needs `MAILMIGRATE_TEST_RADICALE_URL`, `_USER`, `_PASSWORD` (source the env file
//! `.ci/dav-servers.sh start DIR` writes); without them it says so and exits 0.
//! `MAILMIGRATE_BENCH_DAV_ITEMS` sets the count (default 1,000).
//!
//! ```sh
//! cargo bench -p mailmigrate-benches --bench dav_throughput
//! ```

use std::time::Instant;

use futures::StreamExt;
use mailmigrate_core::pim::sync::PimSync;
use mailmigrate_core::pim::{
    Collection, CollectionId, ItemChange, ItemId, ItemMeta, ItemWrite, MemoryPim, PimDestination,
    PimItem, PimKind, PimProvider, PimSource, WriteOptions,
};
use mailmigrate_core::state::MemoryState;
use mailmigrate_dav::DavBuilder;

const CONCURRENCY: usize = 4;

fn vcard(i: usize, run: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:bench-{run}-{i}\r\nFN:Person {i}\r\n\
         N:{i};Person;;;\r\nEMAIL;TYPE=work:p{i}@example.com\r\n\
         TEL;TYPE=cell:+1 555 {i:07}\r\nORG:Example\r\nX-SEQ:{i}\r\nEND:VCARD\r\n"
    )
}

fn main() {
    let var = |k: &str| std::env::var(format!("MAILMIGRATE_TEST_RADICALE_{k}")).ok();
    let (Some(url), Some(user)) = (var("URL"), var("USER")) else {
        println!("dav_throughput: MAILMIGRATE_TEST_RADICALE_URL is not set; run .ci/dav-servers.sh start DIR and source DIR/env");
        return;
    };
    let password = var("PASSWORD").unwrap_or_default();
    let n: usize = std::env::var("MAILMIGRATE_BENCH_DAV_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let store = DavBuilder::new(&url)
            .with_basic(&user, password.as_str())
            .allow_plaintext(true)
            .with_concurrency(CONCURRENCY)
            .connect()
            .await
            .expect("connect to Radicale");
        let collection = |name: &str| {
            Collection::new(
                CollectionId::new(name),
                PimKind::Contacts,
                format!("bench-{run}-{name}"),
            )
        };

        // Raw: plain PUTs of the same text, CONCURRENCY at a time.
        let raw_book = store
            .ensure_collection(&collection("raw"))
            .await
            .expect("raw book");
        let http = reqwest::Client::new();
        let base = reqwest::Url::parse(&url).expect("url");
        let start = Instant::now();
        let puts = futures::stream::iter(0..n)
            .map(|i| {
                let url = base
                    .join(&format!("{}raw-{i}.vcf", raw_book.id.as_str()))
                    .expect("item url");
                http.put(url)
                    .basic_auth(&user, Some(&password))
                    .header("content-type", "text/vcard; charset=utf-8")
                    .body(vcard(i, &format!("{run}-raw")))
                    .send()
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let raw_secs = start.elapsed().as_secs_f64();
        assert!(puts
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.status().is_success())));

        // The engine: memory → Radicale.
        let source = MemoryPim::new("bench");
        let src_book = source
            .ensure_collection(&collection("engine"))
            .await
            .expect("source book");
        let items: Vec<ItemWrite> = (0..n)
            .map(|i| {
                let item = PimItem::parse(
                    PimKind::Contacts,
                    ItemMeta::new(ItemId::new(format!("{i}"))),
                    vcard(i, &run).into(),
                )
                .expect("a bench contact parses");
                ItemWrite::create(item)
            })
            .collect();
        source
            .write_items(&src_book.id, items, &WriteOptions::default())
            .await
            .expect("seed");
        let state = MemoryState::new();
        let start = Instant::now();
        let report = PimSync::new(&source, &store, &state, &format!("bench-{run}"))
            .run()
            .await
            .expect("engine pass");
        let engine_secs = start.elapsed().as_secs_f64();
        assert_eq!(report.totals().written, n as u64, "{report:?}");

        // Reading back: one listing and multigets of the engine's copy.
        let dest_book = store
            .list_collections(PimKind::Contacts)
            .await
            .expect("collections")
            .into_iter()
            .find(|c| c.name == format!("bench-{run}-engine"))
            .expect("the engine's book");
        let start = Instant::now();
        let mut ids = Vec::new();
        let mut listing = store.list_items(&dest_book.id, None);
        while let Some(change) = listing.next().await {
            if let ItemChange::Upsert(m) = change.expect("listing") {
                ids.push(m.id);
            }
        }
        let mut read = 0;
        let mut items = store.fetch_items(&dest_book.id, ids);
        while let Some((_, item)) = items.next().await {
            item.expect("read back");
            read += 1;
        }
        let read_secs = start.elapsed().as_secs_f64();
        assert_eq!(read, n);

        let rate = |secs: f64| n as f64 / secs;
        println!(
            "dav_throughput: {n} contacts into {} ({})",
            store.info().account,
            url
        );
        println!(
            "  raw PUTs ({CONCURRENCY} at a time): {:>8.0} contacts/s",
            rate(raw_secs)
        );
        println!(
            "  engine (PimSync memory -> DAV):  {:>8.0} contacts/s  ({:.2}x raw)",
            rate(engine_secs),
            raw_secs / engine_secs
        );
        println!(
            "  read back (sync-collection + multiget): {:>8.0} contacts/s",
            rate(read_secs)
        );
    });
}

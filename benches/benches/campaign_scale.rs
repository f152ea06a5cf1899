//! A campaign of 1,000 small mailboxes on in-memory stores, run to validated, and the
//! same at 100: wall time, mailboxes/s, peak RSS, and whether the campaign keeps its
//! concurrency limits.
//!
//! Each mailbox: 20 synthetic messages of 1 KB in two folders, read from a
//! [`SyntheticSource`] (generated on demand, nothing held), backed up to an in-memory
//! store (its manifest read back), copied to an in-memory destination; 3 contacts backed
//! up and copied between in-memory PIM stores. `mailboxes_in_parallel = 8`, grace 0:
//! `run` (backup + first copy) then `finalise` (a grace pass and the final comparison).
//!
//! The destination and backup stores must hold every mailbox's mail (the final
//! comparison reads them), so peak RSS grows with the number of mailboxes by design. To
//! see the campaign's own memory, each size also runs a child that only builds those
//! stores with the same contents (`data`), and the report subtracts it: the overhead
//! should not grow with the number of mailboxes beyond the campaign's per-mailbox status
//! records (and, with the in-memory state, the engine's ledger, one row per message — the
//! SQLite state keeps those on disk).
//!
//! Concurrency: a [`ProbedFactory`] counts the mailboxes open at once and the appends in
//! flight per mailbox. The bench fails (exit 1) if mailboxes at once exceeded the limit or
//! a mailbox had more appends in flight than the engine's `folder_concurrency`.
//!
//! Each size and kind runs in its own child process (this binary re-executed with
//! `--child`), which reports its peak RSS (`VmHWM` from `/proc/self/status`).
//! `cargo bench -p mailmigrate-benches --bench campaign_scale`; add `-- sqlite` or
//! `-- memory` after the bench name to choose the state (default both).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailmigrate_benches::{bench_folders, proc_status_kb, synthetic_message, SyntheticSource};
use mailmigrate_core::campaign::*;
use mailmigrate_core::directory::{Account, Inventory};
use mailmigrate_core::engine::SyncOptions;
use mailmigrate_core::pim::{
    Collection, CollectionId, Contact, ItemId, ItemMeta, MemoryPim, Payload, PimDestination,
    PimItem, PimKind,
};
use mailmigrate_core::state::{MemoryState, SqliteState};
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::testkit::campaign::{ConcurrencyProbe, ProbedFactory};
use mailmigrate_core::{Destination, MessageId, MessageMeta, RawMessage, Result};

const SIZES: [usize; 2] = [100, 1_000];
const FOLDERS: usize = 2;
const PER_FOLDER: u64 = 10;
const SIZE: usize = 1024;
const CONTACTS: usize = 3;
const LIMIT: usize = 8;

/// One mailbox's stores that hold data (the source is generated).
#[derive(Clone)]
struct Held {
    dst: MemoryStore,
    backup: MemoryStore,
    pim_src: MemoryPim,
    pim_dst: MemoryPim,
    pim_backup: MemoryPim,
}

fn user(i: usize) -> String {
    format!("user{i:04}@old.example")
}

async fn contacts(i: usize) -> MemoryPim {
    let pim = MemoryPim::new(user(i));
    let book = pim
        .ensure_collection(&Collection::new(
            CollectionId::new("b"),
            PimKind::Contacts,
            "Contacts",
        ))
        .await
        .expect("collection");
    for k in 0..CONTACTS {
        let mut c = Contact::new(format!("Contact {k} of {i}"));
        c.uid = Some(format!("c-{i}-{k}"));
        pim.put(
            &book.id,
            PimItem::new(
                ItemMeta::new(ItemId::new(format!("c{k}.vcf"))),
                Payload::Contact(Box::new(c)),
            ),
        );
    }
    pim
}

fn held(i: usize, pim_src: MemoryPim) -> Held {
    Held {
        dst: MemoryStore::new(format!("new-{i}")),
        backup: MemoryStore::new(format!("backup-{i}")),
        pim_src,
        pim_dst: MemoryPim::new(format!("new-{i}")),
        pim_backup: MemoryPim::new(format!("backup-{i}")),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The campaign of `n` mailboxes, to validated.
fn campaign(n: usize, state_kind: &str) {
    let rt = runtime();
    let baseline = proc_status_kb("VmRSS").unwrap_or(0);
    let world: Arc<Mutex<HashMap<usize, Held>>> = Arc::default();
    // Contact sources exist before the campaign, like the mail it reads.
    let sources: Vec<MemoryPim> = rt.block_on(async {
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            v.push(contacts(i).await);
        }
        v
    });
    let w = Arc::clone(&world);
    let stores = move |pair: &MailboxPair| -> Result<MailboxStores> {
        let key = pair.key();
        let i: usize = key["user".len()..key.len() - "@old.example".len()]
            .parse()
            .expect("user number");
        let h = w
            .lock()
            .expect("world")
            .entry(i)
            .or_insert_with(|| held(i, sources[i].clone()))
            .clone();
        let src = SyntheticSource::new(FOLDERS, PER_FOLDER, SIZE);
        let pim = PimStores::new(Arc::new(h.pim_src), Arc::new(h.pim_dst))
            .with_backup_store(Arc::new(h.pim_backup));
        Ok(MailboxStores::new(Arc::new(src), Arc::new(h.dst))
            .with_backup_store(Arc::new(h.backup))
            .with_pim(pim))
    };
    let probe = ConcurrencyProbe::new();
    let factory = ProbedFactory::new(stores, probe.clone());
    let users: Vec<String> = (0..n).map(user).collect();
    let inventory = Inventory::new(users.iter().map(Account::new).collect());
    let plan = CampaignPlan::new("scale", Strategy::Cutover)
        .with_rewrite(DomainRewrite::new("old.example", "new.example"))
        .with_grace_period(Duration::ZERO)
        .with_mailboxes_in_parallel(LIMIT)
        .with_backup(BackupPlan::new("memory:{mailbox}"))
        .with_batch(Batch::new("all", users))
        .validate(&inventory)
        .expect("plan");
    let dir = tempfile::tempdir().expect("temp dir");
    let state: Arc<dyn CampaignStore> = match state_kind {
        "sqlite" => Arc::new(SqliteState::open(dir.path().join("state.sqlite")).expect("state")),
        _ => Arc::new(MemoryState::new()),
    };
    let sync = SyncOptions::default().with_settle_grace(Duration::ZERO);
    let folder_concurrency = sync.folder_concurrency;
    let start = Instant::now();
    let (synced, validated) = rt.block_on(async {
        let runner = CampaignRunner::open(plan, state, Arc::new(factory))
            .await
            .expect("open")
            .with_options(RunnerOptions::default().with_sync(sync));
        let synced = runner.run().await.expect("run");
        let validated = runner.finalise("all").await.expect("finalise");
        let status = runner.status().await.expect("status");
        assert!(status.counts().is_done(), "every mailbox validated");
        let manifests = status
            .mailboxes
            .iter()
            .filter(|m| m.backup.as_ref().is_some_and(|b| b.messages > 0))
            .count();
        (synced, (validated, manifests))
    });
    let secs = start.elapsed().as_secs_f64();
    let (validated, manifests) = validated;
    assert_eq!(synced.synced.len(), n, "failed: {:?}", synced.failed);
    assert_eq!(
        validated.validated.len(),
        n,
        "failed: {:?}",
        validated.failed
    );
    assert_eq!(synced.copied, n as u64 * FOLDERS as u64 * PER_FOLDER);
    assert_eq!(manifests, n, "every mailbox has a backup manifest");
    let hwm = proc_status_kb("VmHWM").unwrap_or(0);
    println!(
        "RESULT {n} {hwm} {baseline} {secs:.3} {} {} {} {folder_concurrency}",
        probe.max_open(),
        probe.max_appends_per_mailbox(),
        probe.max_appends_total()
    );
}

/// Only the stores the campaign leaves holding data, filled directly.
fn data(n: usize) {
    let rt = runtime();
    let baseline = proc_status_kb("VmRSS").unwrap_or(0);
    let world: Vec<Held> = rt.block_on(async {
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            let h = held(i, contacts(i).await);
            for store in [&h.dst, &h.backup] {
                for (k, path) in bench_folders(FOLDERS).iter().enumerate() {
                    let f = store.ensure_folder(path, None).await.expect("folder").id;
                    let base = k as u64 * PER_FOLDER;
                    let msgs = (base..base + PER_FOLDER)
                        .map(|m| {
                            RawMessage::new(
                                MessageMeta::new(MessageId::new(m.to_string()), f.clone()),
                                synthetic_message(m, SIZE),
                            )
                        })
                        .collect();
                    store.append(&f, msgs).await.expect("append");
                }
            }
            for pim in [&h.pim_dst, &h.pim_backup] {
                let book = pim
                    .ensure_collection(&Collection::new(
                        CollectionId::new("b"),
                        PimKind::Contacts,
                        "Contacts",
                    ))
                    .await
                    .expect("collection");
                for item in h.pim_src.items(&CollectionId::new("b")) {
                    pim.put(&book.id, item);
                }
            }
            v.push(h);
        }
        v
    });
    let hwm = proc_status_kb("VmHWM").unwrap_or(0);
    assert_eq!(world.len(), n);
    println!("RESULT {n} {hwm} {baseline}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let what = args.get(pos + 1).map_or("campaign", String::as_str);
        let n = args
            .get(pos + 2)
            .and_then(|s| s.parse().ok())
            .expect("--child takes a kind and a mailbox count");
        match what {
            "data" => data(n),
            kind => campaign(n, kind),
        }
        return;
    }
    if !mailmigrate_benches::selected_by_args("campaign_scale", &args[1..]) {
        return;
    }
    let kinds: Vec<&str> = ["memory", "sqlite"]
        .into_iter()
        .filter(|k| {
            !args.iter().any(|a| a == "memory" || a == "sqlite") || args.iter().any(|a| a == k)
        })
        .collect();
    let run = |a: &[&str]| {
        mailmigrate_benches::child_result(a).unwrap_or_else(|e| {
            eprintln!("campaign_scale child {a:?} failed: {e}");
            std::process::exit(1);
        })
    };
    let data_rows: Vec<Vec<f64>> = SIZES
        .iter()
        .map(|n| run(&["--child", "data", &n.to_string()]))
        .collect();
    let mut failed = false;
    for kind in kinds {
        let rows: Vec<Vec<f64>> = SIZES
            .iter()
            .map(|n| run(&["--child", kind, &n.to_string()]))
            .collect();
        failed |= report(kind, &rows, &data_rows);
    }
    if failed {
        std::process::exit(1);
    }
}

/// Prints the table; whether a limit was broken.
fn report(kind: &str, rows: &[Vec<f64>], data: &[Vec<f64>]) -> bool {
    let mb = |kb: f64| kb / 1024.0;
    println!(
        "\ncampaign_scale: {FOLDERS}x{PER_FOLDER} messages of {SIZE} B + {CONTACTS} contacts per mailbox, \
         in-memory stores, {kind} state, mailboxes_in_parallel = {LIMIT}, run to validated (grace 0)"
    );
    println!(
        "{:>9} {:>9} {:>11} {:>10} {:>12} {:>10} {:>12} {:>9} {:>13}",
        "mailboxes",
        "seconds",
        "mailboxes/s",
        "peak RSS",
        "stores only",
        "overhead",
        "per mailbox",
        "at once",
        "appends/mbox"
    );
    let mut broken = false;
    let mut overheads = Vec::new();
    for (r, d) in rows.iter().zip(data) {
        let (n, hwm, secs) = (r[0], r[1], r[3]);
        let (at_once, per_mbox, fc) = (r[4] as usize, r[5] as usize, r[7] as usize);
        let overhead = hwm - d[1];
        overheads.push(overhead);
        println!(
            "{n:>9} {secs:>9.2} {:>11.0} {:>7.1} MB {:>9.1} MB {:>7.1} MB {:>9.1} KB {at_once:>9} {per_mbox:>13}",
            n / secs,
            mb(hwm),
            mb(d[1]),
            mb(overhead),
            overhead / n,
        );
        if at_once > LIMIT {
            eprintln!("LIMIT BROKEN: {at_once} mailboxes at once, limit {LIMIT}");
            broken = true;
        }
        if per_mbox > fc {
            eprintln!("LIMIT BROKEN: {per_mbox} appends in flight in one mailbox, folder_concurrency {fc}");
            broken = true;
        }
        println!(
            "          appends in flight over all mailboxes at most {}",
            r[6] as usize
        );
    }
    let (small, large) = (&rows[0], &rows[1]);
    println!(
        "ratio 1000/100 peak RSS ({kind} state): {:.2}; stores only: {:.2}; overhead (peak − stores only): {:.2} \
         ({:.1} KB per extra mailbox)",
        large[1] / small[1],
        data[1][1] / data[0][1],
        overheads[1] / overheads[0],
        (overheads[1] - overheads[0]) / (large[0] - small[0]),
    );
    println!(
        "limits ({kind} state): at most {} of {LIMIT} mailboxes at once; at most {} appends in flight per mailbox \
         (folder_concurrency {}): {}",
        rows.iter().map(|r| r[4] as usize).max().unwrap_or(0),
        rows.iter().map(|r| r[5] as usize).max().unwrap_or(0),
        large[7] as usize,
        if broken { "BROKEN" } else { "kept" }
    );
    broken
}

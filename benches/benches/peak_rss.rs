//! Peak memory of a migration as the mailbox grows: 10,000 and 100,000 synthetic 4 KB
//! messages from a streaming [`SyntheticSource`] into a [`CountingSink`], with
//! SQLite state (the default) and then `MemoryState`. Each size runs in its own child process (this binary re-executed with
//! `--child N`), which reports its peak RSS (`VmHWM` from `/proc/self/status`).
//!
//! Target: peak RSS at 100,000 within 20 % of that at 10,000. The source and sink hold
//! nothing per message, so any growth is the engine's or the state store's: the
//! `MemoryState` ledger keeps one row per migrated message by design (a durable store
//! keeps those rows on disk instead).

use std::sync::Arc;
use std::time::Instant;

use mailmigrate_benches::{
    child_result, proc_status_kb, selected_by_args, CountingSink, SyntheticSource, MESSAGE_SIZE,
};
use mailmigrate_core::engine::{Engine, SyncOptions};
use mailmigrate_core::state::{MemoryState, SqliteState, StateStore};

const SIZES: [u64; 3] = [10_000, 100_000, 300_000];
const FOLDERS: usize = 8;

fn child(n: u64, state_kind: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let baseline = proc_status_kb("VmRSS").unwrap_or(0);
    let source = SyntheticSource::new(FOLDERS, n / FOLDERS as u64, MESSAGE_SIZE);
    let sink = CountingSink::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let state: Arc<dyn StateStore> = match state_kind {
        "sqlite" => Arc::new(SqliteState::open(dir.path().join("state.sqlite")).expect("state")),
        _ => Arc::new(MemoryState::new()),
    };
    let engine = Engine::new(Arc::new(source), Arc::new(sink.clone()), state)
        .with_options(SyncOptions::new("peak-rss"));
    let start = Instant::now();
    let report = rt.block_on(engine.run()).expect("run");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(report.totals.copied, n);
    assert_eq!(sink.messages(), n);
    let hwm = proc_status_kb("VmHWM").unwrap_or(0);
    println!("RESULT {n} {hwm} {baseline} {secs:.3}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let n = args
            .get(pos + 1)
            .and_then(|s| s.parse().ok())
            .expect("--child takes a message count");
        let kind = args.get(pos + 2).map_or("memory", String::as_str);
        child(n, kind);
        return;
    }
    if !selected_by_args("peak_rss", &args[1..]) {
        return;
    }
    // SQLite first: the default state keeps the ledger on disk, so RSS must stay flat.
    for kind in ["sqlite", "memory"] {
        let mut rows = Vec::new();
        for n in SIZES {
            let f = child_result(&["--child", &n.to_string(), kind]).unwrap_or_else(|e| {
                eprintln!("peak_rss child for {n} ({kind}) failed: {e}");
                std::process::exit(1);
            });
            rows.push((n, f[1], f[2], f[3]));
        }
        report(kind, &rows);
    }
}

fn report(kind: &str, rows: &[(u64, f64, f64, f64)]) {
    println!("\npeak_rss: synthetic streaming source -> counting sink, {kind} state, {MESSAGE_SIZE}-byte messages");
    println!(
        "{:>10} {:>14} {:>14} {:>10} {:>12}",
        "messages", "peak RSS", "start RSS", "seconds", "messages/s"
    );
    for (n, hwm, base, secs) in rows {
        println!(
            "{n:>10} {:>11.1} MB {:>11.1} MB {secs:>10.2} {:>12.0}",
            hwm / 1024.0,
            base / 1024.0,
            *n as f64 / secs
        );
    }
    let (small, large, largest) = (rows[0].1, rows[1].1, rows[2].1);
    let ratio = large / small;
    println!(
        "ratio 300k/100k peak RSS ({kind} state): {:.2} (flat means memory does not grow with the mailbox)",
        largest / large
    );
    println!(
        "ratio 100k/10k peak RSS ({kind} state): {ratio:.2} (target <= 1.20: {}); growth {:.1} MB = {:.0} bytes per extra message",
        if ratio <= 1.2 { "met" } else { "MISSED" },
        (large - small) / 1024.0,
        (large - small) * 1024.0 / (rows[1].0 - rows[0].0) as f64
    );
    if kind == "memory" {
        println!(
            "The source and sink keep nothing per message; growth with the in-memory state is its \
             ledger (one row per migrated message), which the SQLite state keeps on disk."
        );
    }
}

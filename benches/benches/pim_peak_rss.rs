//! Peak memory of a contacts migration as the address book grows: 10,000 and 100,000
//! contacts, each size in its own child process (this binary re-executed with
//! `--child MODE N`), which reports its peak RSS (`VmHWM` from `/proc/self/status`).
//!
//! - `engine`: a streaming synthetic address book into a destination that only counts,
//!   with SQLite state (the default): any growth is the engine's or the state store's.
//! - `dav`: the same contacts read from a real Radicale (started here on 127.0.0.1 with
//!   its storage filled on disk beforehand) through `mailmigrate-dav`'s `sync-collection`
//!   listing and multigets, into the counting destination. Skipped when `radicale` is not
//!   installed (`apt-get install radicale`, or `.ci/dav-servers.sh start DIR` installs it).
//!
//! Target: peak RSS at 100,000 within 20 % of that at 10,000 ("a 100,000-contact address
//! book stays flat").
//!
//! ```sh
//! cargo bench -p mailmigrate-benches --bench pim_peak_rss
//! ```

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailmigrate_benches::pim::{synthetic_vcard, CountingPim, SyntheticContacts};
use mailmigrate_benches::{child_result, proc_status_kb, selected_by_args};
use mailmigrate_core::pim::sync::{PimSync, PimSyncOptions};
use mailmigrate_core::pim::{PimKind, PimSource};
use mailmigrate_core::state::SqliteState;
use mailmigrate_dav::DavBuilder;

const SIZES: [u64; 2] = [10_000, 100_000];
const USER: &str = "bench";

fn child(mode: &str, n: u64, url: Option<&str>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let baseline = proc_status_kb("VmRSS").unwrap_or(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let state = SqliteState::open(dir.path().join("state.sqlite")).expect("state");
    let dest = CountingPim::new();
    let start = Instant::now();
    rt.block_on(async {
        let source: Box<dyn PimSource> = match mode {
            "dav" => Box::new(
                DavBuilder::new(url.expect("--child dav N URL"))
                    .with_basic(USER, "unused")
                    .allow_plaintext(true)
                    // Radicale reads every file of a large collection before its first
                    // answer about it (ETags, sync token): minutes at 100,000.
                    .with_timeout(Duration::from_secs(1800))
                    .connect()
                    .await
                    .expect("connect to Radicale"),
            ),
            _ => Box::new(SyntheticContacts::new(n)),
        };
        let options = PimSyncOptions::default().with_kinds([PimKind::Contacts]);
        let report = PimSync::new(source.as_ref(), &dest, &state, "pim-peak-rss")
            .with_options(options)
            .run()
            .await
            .expect("run");
        assert_eq!(report.totals().written, n, "{report:?}");
    });
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(dest.written(), n);
    let hwm = proc_status_kb("VmHWM").unwrap_or(0);
    println!("RESULT {n} {hwm} {baseline} {secs:.3}");
}

/// A private Radicale whose one address book already holds `n` contacts, written to its
/// filesystem storage directly (writing them over HTTP would take the server an hour).
struct Radicale {
    process: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Radicale {
    fn start(n: u64) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let book = dir
            .path()
            .join("collections/collection-root")
            .join(USER)
            .join("book");
        std::fs::create_dir_all(&book).expect("address book folder");
        std::fs::write(
            book.join(".Radicale.props"),
            r#"{"D:displayname": "Bench", "tag": "VADDRESSBOOK"}"#,
        )
        .expect("props");
        for i in 0..n {
            std::fs::write(book.join(format!("bench-{i}.vcf")), synthetic_vcard(i))
                .expect("a contact file");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = dir.path().join("config");
        std::fs::write(&config, config_text(port, &dir.path().join("collections")))
            .expect("config");
        let process = Command::new("radicale")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let url = format!("http://127.0.0.1:{port}/");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "Radicale did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Self {
            process,
            url,
            _dir: dir,
        })
    }
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn config_text(port: u16, storage: &Path) -> String {
    format!(
        "[server]\nhosts = 127.0.0.1:{port}\n\n[auth]\ntype = none\n\n[rights]\n\
         type = owner_only\n\n[storage]\nfilesystem_folder = {}\n\n[logging]\nlevel = warning\n",
        storage.display()
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let mode = args.get(pos + 1).expect("--child takes a mode");
        let n = args
            .get(pos + 2)
            .and_then(|s| s.parse().ok())
            .expect("--child MODE takes a contact count");
        child(mode, n, args.get(pos + 3).map(String::as_str));
        return;
    }
    if !selected_by_args("pim_peak_rss", &args[1..]) {
        return;
    }
    for mode in ["engine", "dav"] {
        let mut rows = Vec::new();
        for n in SIZES {
            let server = if mode == "dav" {
                match Radicale::start(n) {
                    Some(s) => Some(s),
                    None => {
                        println!("\npim_peak_rss dav: `radicale` is not installed; skipped");
                        break;
                    }
                }
            } else {
                None
            };
            let count = n.to_string();
            let mut child_args = vec!["--child", mode, count.as_str()];
            if let Some(s) = &server {
                child_args.push(s.url.as_str());
            }
            let result = child_result(&child_args);
            // Stopped before any exit, so a failed child leaves no server behind.
            drop(server);
            let f = result.unwrap_or_else(|e| {
                eprintln!("pim_peak_rss child for {n} ({mode}) failed: {e}");
                std::process::exit(1);
            });
            rows.push((n, f[1], f[2], f[3]));
        }
        if rows.len() == SIZES.len() {
            report(mode, &rows);
        }
    }
}

fn report(mode: &str, rows: &[(u64, f64, f64, f64)]) {
    let what = match mode {
        "dav" => "Radicale (sync-collection + multiget) -> counting destination",
        _ => "synthetic streaming address book -> counting destination",
    };
    println!("\npim_peak_rss {mode}: {what}, SQLite state");
    println!(
        "{:>10} {:>14} {:>14} {:>10} {:>12}",
        "contacts", "peak RSS", "start RSS", "seconds", "contacts/s"
    );
    for (n, hwm, base, secs) in rows {
        println!(
            "{n:>10} {:>11.1} MB {:>11.1} MB {secs:>10.2} {:>12.0}",
            hwm / 1024.0,
            base / 1024.0,
            *n as f64 / secs
        );
    }
    let (small, large) = (rows[0].1, rows[1].1);
    let ratio = large / small;
    println!(
        "ratio 100k/10k peak RSS ({mode}): {ratio:.2} (target <= 1.20: {}); growth {:.1} MB = {:.0} bytes per extra contact",
        if ratio <= 1.2 { "met" } else { "MISSED" },
        (large - small) / 1024.0,
        (large - small) * 1024.0 / (rows[1].0 - rows[0].0) as f64
    );
}

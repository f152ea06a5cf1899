//! The `StateStore` conformance suite on every store in core, plus what only a durable store
//! can show: persistence across reopening, and refusing damaged files.

use std::sync::Arc;

use mailmigrate_core::state::{suite, MemoryState, StateStore};

#[tokio::test]
async fn memory_state_passes_the_suite() {
    suite::run_all(&MemoryState::new()).await;
}

#[tokio::test]
async fn campaign_suite_passes_on_memory_state_and_behind_an_arc() {
    use mailmigrate_core::campaign::CampaignStore;
    suite::run_all_campaign(&MemoryState::new()).await;
    let store: Arc<dyn CampaignStore> = Arc::new(MemoryState::new());
    suite::run_all_campaign(&store).await;
}

#[tokio::test]
async fn arc_dyn_store_passes_the_suite() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    suite::run_all(&store).await;
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::path::Path;
    use std::sync::Arc;

    use mailmigrate_core::state::{suite, ItemFailure, LedgerState, SqliteState, StateStore};
    use mailmigrate_core::{Checkpoint, ErrorKind, FolderId, MessageId};

    fn assert_corrupt_naming(err: &mailmigrate_core::Error, path: &Path) {
        assert_eq!(err.kind(), ErrorKind::StateCorrupt, "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.contains(&path.display().to_string()),
            "the error must name the file: {shown}"
        );
    }

    #[tokio::test]
    async fn file_store_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteState::open(dir.path().join("state.sqlite")).unwrap();
        suite::run_all(&store).await;
        // A second run over the same file, next to the first run's rows.
        suite::run_all(&store).await;
        store.verify_integrity().await.unwrap();
    }

    #[tokio::test]
    async fn file_store_passes_the_campaign_suite_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteState::open(dir.path().join("state.sqlite")).unwrap();
        suite::run_all_campaign(&store).await;
        suite::run_all_campaign(&store).await;
        store.verify_integrity().await.unwrap();
    }

    #[tokio::test]
    async fn in_memory_store_passes_the_suite() {
        suite::run_all(&SqliteState::open_in_memory().unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn suite_passes_on_a_multi_thread_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> =
            Arc::new(SqliteState::open(dir.path().join("state.sqlite")).unwrap());
        suite::run_all(&store).await;
    }

    #[tokio::test]
    async fn everything_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let inbox = FolderId::new("INBOX");
        let rows = vec![
            suite::entry("INBOX", "1:1", "Inbox", Some("a"), LedgerState::Done),
            suite::entry("INBOX", "1:2", "Inbox", None, LedgerState::Pending),
        ];
        let failure = ItemFailure::new(
            inbox.clone(),
            MessageId::new("1:3"),
            ErrorKind::MessageTooLarge,
            "too large".to_owned(),
        );
        {
            let store = SqliteState::open(&path).unwrap();
            store
                .set_checkpoint("job", &inbox, &Checkpoint::new("7:4"))
                .await
                .unwrap();
            store.record("job", &rows).await.unwrap();
            store.record_failure("job", &failure).await.unwrap();
        }
        let store = SqliteState::open(&path).unwrap();
        assert_eq!(
            store.checkpoint("job", &inbox).await.unwrap(),
            Some(Checkpoint::new("7:4"))
        );
        assert_eq!(store.page("job", &inbox, None, 10).await.unwrap(), rows);
        assert_eq!(
            store.pending("job", &inbox).await.unwrap(),
            vec![rows[1].clone()]
        );
        assert!(store
            .is_claimed("job", &FolderId::new("Inbox"), &MessageId::new("a"))
            .await
            .unwrap());
        assert_eq!(store.failures("job").await.unwrap(), vec![failure]);
    }

    #[tokio::test]
    async fn concurrent_calls_from_many_tasks_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteState::open(dir.path().join("state.sqlite")).unwrap());
        let mut tasks = Vec::new();
        for t in 0..8 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                let folder = format!("F{t}");
                for batch in 0..10 {
                    let rows: Vec<_> = (0..50)
                        .map(|i| {
                            let id = format!("{batch:02}:{i:02}");
                            suite::entry(&folder, &id, "Dest", None, LedgerState::Done)
                        })
                        .collect();
                    store.record("job", &rows).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for t in 0..8 {
            let rows = store
                .page("job", &FolderId::new(format!("F{t}")), None, usize::MAX)
                .await
                .unwrap();
            assert_eq!(rows.len(), 500, "folder F{t}");
        }
    }

    #[test]
    fn garbage_file_is_state_corrupt_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-database.sqlite");
        let garbage: Vec<u8> = (0..20_000u32).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, garbage).unwrap();
        let err = SqliteState::open(&path).unwrap_err();
        assert_corrupt_naming(&err, &path);
    }

    #[test]
    fn text_file_is_state_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "just some notes, not a database\n").unwrap();
        let err = SqliteState::open(&path).unwrap_err();
        assert_corrupt_naming(&err, &path);
    }

    #[tokio::test]
    async fn truncated_file_is_state_corrupt_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        {
            let store = SqliteState::open(&path).unwrap();
            let rows: Vec<_> = (0..3_000)
                .map(|i| {
                    let id = format!("1:{i:05}");
                    suite::entry("INBOX", &id, "Inbox", Some(&id), LedgerState::Done)
                })
                .collect();
            store.record("job", &rows).await.unwrap();
        }
        // Closing the last connection checkpoints the log into the main file.
        assert!(!dir.path().join("state.sqlite-wal").exists());
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len > 64 * 1024, "the file spans many pages ({len} bytes)");
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len / 2).unwrap();
        drop(file);

        // Opening or the first read finds it; either way the kind is StateCorrupt and the
        // path is named, and nothing panics.
        let err = match SqliteState::open(&path) {
            Err(e) => e,
            Ok(store) => store
                .page("job", &FolderId::new("INBOX"), None, usize::MAX)
                .await
                .unwrap_err(),
        };
        assert_corrupt_naming(&err, &path);
    }

    #[tokio::test]
    async fn damaged_page_is_found_by_verify_integrity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        {
            let store = SqliteState::open(&path).unwrap();
            let rows: Vec<_> = (0..3_000)
                .map(|i| {
                    let id = format!("1:{i:05}");
                    suite::entry("INBOX", &id, "Inbox", Some(&id), LedgerState::Done)
                })
                .collect();
            store.record("job", &rows).await.unwrap();
        }
        // Scribble over the middle of the file, leaving the header and schema page intact.
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 8192] {
            *b = 0xA5;
        }
        std::fs::write(&path, bytes).unwrap();
        let err = match SqliteState::open(&path) {
            Err(e) => e,
            Ok(store) => store.verify_integrity().await.unwrap_err(),
        };
        assert_corrupt_naming(&err, &path);
    }

    #[test]
    fn empty_file_becomes_a_fresh_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        std::fs::write(&path, b"").unwrap();
        let store = SqliteState::open(&path).unwrap();
        assert_eq!(store.path(), Some(path.as_path()));
    }

    /// Where the child half of the kill test writes; set only for that child.
    const CHILD_ENV: &str = "MAILMIGRATE_TEST_STATE_KILL_CHILD";
    const KILL_BATCH: usize = 100;

    /// Runs the writer below in a child process, kills it (SIGKILL on Unix) while it writes,
    /// and checks that every acknowledged batch is there, whole, and nothing half-written.
    #[test]
    fn acknowledged_writes_survive_a_killed_process() {
        use std::io::BufRead;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sqlite::kill_child_writer",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_ENV, &path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut acked = None;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("acked ") {
                let n: usize = n.trim().parse().unwrap();
                acked = Some(n);
                if n >= 30 {
                    break;
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let acked = acked.expect("the child acknowledged no batch");

        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = SqliteState::open(&path).unwrap();
            store.verify_integrity().await.unwrap();
            let rows = store
                .page("job", &FolderId::new("INBOX"), None, usize::MAX)
                .await
                .unwrap();
            assert_eq!(rows.len() % KILL_BATCH, 0, "a batch was half-written");
            let batches = rows.len() / KILL_BATCH;
            assert!(
                batches > acked,
                "acknowledged batch {acked} lost ({batches} batches)"
            );
            for (i, row) in rows.iter().enumerate() {
                let expected = format!("{:06}:{:03}", i / KILL_BATCH, i % KILL_BATCH);
                assert_eq!(row.src_id.as_str(), expected);
            }
        });
    }

    /// The child half of `acknowledged_writes_survive_a_killed_process`: records batches
    /// and acknowledges each on stdout once `record` returned.
    #[test]
    #[ignore = "runs only as the child of acknowledged_writes_survive_a_killed_process"]
    #[expect(
        clippy::print_stdout,
        reason = "the acknowledgements are the child's protocol"
    )]
    fn kill_child_writer() {
        use std::io::Write;

        let Some(path) = std::env::var_os(CHILD_ENV) else {
            return;
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = SqliteState::open(Path::new(&path)).unwrap();
            // Bounded, in case the parent never kills it.
            for batch in 0..100_000 {
                let rows: Vec<_> = (0..KILL_BATCH)
                    .map(|i| {
                        let id = format!("{batch:06}:{i:03}");
                        suite::entry("INBOX", &id, "Inbox", Some(&id), LedgerState::Done)
                    })
                    .collect();
                store.record("job", &rows).await.unwrap();
                println!("acked {batch}");
                std::io::stdout().flush().unwrap();
            }
        });
    }

    /// Measures `record` throughput: `cargo test --release -p mailmigrate-core --test
    /// state_store -- --ignored --nocapture record_throughput`.
    #[tokio::test]
    #[ignore = "a measurement, not a test; run it in release mode"]
    async fn record_throughput() {
        const BATCH: usize = 5_000;
        const BATCHES: usize = 40;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteState::open(dir.path().join("state.sqlite")).unwrap();
        let batches: Vec<Vec<_>> = (0..BATCHES)
            .map(|b| {
                (0..BATCH)
                    .map(|i| {
                        let id = format!("1713:{:08}", b * BATCH + i);
                        suite::entry("INBOX", &id, "Inbox", Some(&id), LedgerState::Done)
                    })
                    .collect()
            })
            .collect();
        let cpu_before = process_cpu_seconds();
        let start = std::time::Instant::now();
        for batch in &batches {
            store.record("job", batch).await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        let rows = (BATCH * BATCHES) as f64;
        eprintln!(
            "record: {rows} rows in {secs:.3} s wall = {:.0} rows/s (batches of {BATCH})",
            rows / secs
        );
        // On a busy machine wall time undercounts; CPU time shows the store's own cost.
        if let (Some(a), Some(b)) = (cpu_before, process_cpu_seconds()) {
            eprintln!(
                "record: {:.3} s CPU = {:.0} rows per CPU second",
                b - a,
                rows / (b - a)
            );
        }
    }

    /// User + system CPU time of this process (Linux `/proc`), in seconds.
    fn process_cpu_seconds() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        // USER_HZ is 100 on every Linux architecture we build for.
        Some(ticks / 100.0)
    }
}

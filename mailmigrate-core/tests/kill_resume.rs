//! Exactly-once effect under SIGKILL: a real child process migrating Maildir → Maildir with
//! SQLite state is killed at several points mid-copy and restarted; the destination must
//! end equal to the source, with nothing lost and nothing duplicated.
//!
//! The child is this same test binary, re-executed to run the ignored `kill_child` test
//! with `MAILMIGRATE_KILL_CHILD_DIR` set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use mailmigrate_core::engine::{Engine, SyncOptions};
use mailmigrate_core::state::{SqliteState, StateStore};
use mailmigrate_core::store::MaildirStore;
use mailmigrate_core::{
    Change, ContentHash, Destination, Flag, FolderPath, MessageId, MessageMeta, Provider,
    RawMessage, Source,
};

const ENV_DIR: &str = "MAILMIGRATE_KILL_CHILD_DIR";
const FOLDERS: [&str; 4] = ["INBOX", "Archive/2019", "Projekte/Ünïcode", "日本語"];
const PER_FOLDER: usize = 400;

fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join("src"), dir.join("dst"), dir.join("state.sqlite"))
}

fn message(folder: &str, n: usize) -> Bytes {
    let body_lines = 20 + (n * 7919) % 200;
    let mut s = format!(
        "Message-ID: <{n}.{}@kill.test>\r\nFrom: a@example.com\r\nSubject: {folder} #{n}\r\nDate: Tue, 2 Mar 2021 10:00:00 +0100\r\n\r\n",
        folder.len()
    );
    for i in 0..body_lines {
        s.push_str(&format!("line {i} of message {n} in {folder}\r\n"));
    }
    Bytes::from(s)
}

async fn make_source(dir: &Path, range: std::ops::Range<usize>) {
    let store = MaildirStore::open(dir).unwrap();
    for folder in FOLDERS {
        let path = FolderPath::parse(folder, '/').unwrap();
        let id = store.ensure_folder(&path, None).await.unwrap().id;
        for chunk in range.clone().collect::<Vec<_>>().chunks(100) {
            let batch: Vec<RawMessage> = chunk
                .iter()
                .map(|&n| {
                    let flags = if n % 3 == 0 { vec![Flag::Seen] } else { vec![] };
                    RawMessage::new(
                        MessageMeta::new(MessageId::new(n.to_string()), id.clone())
                            .with_flags(flags.into_iter().collect()),
                        message(folder, n),
                    )
                })
                .collect();
            for r in store.append(&id, batch).await.unwrap() {
                r.unwrap();
            }
        }
    }
}

/// Content hashes per folder path, as a sorted multiset.
async fn contents(store: &MaildirStore) -> BTreeMap<String, Vec<ContentHash>> {
    let mut out = BTreeMap::new();
    for folder in Provider::list_folders(store).await.unwrap() {
        let mut ids = Vec::new();
        let mut listing = store.list_changes(&folder.id, None);
        while let Some(c) = listing.next().await {
            if let Change::Upsert(m) = c.unwrap() {
                ids.push(m.id);
            }
        }
        let mut hashes = Vec::new();
        let mut fetched = store.fetch(&folder.id, ids);
        while let Some((_, r)) = fetched.next().await {
            hashes.push(r.unwrap().content_hash());
        }
        hashes.sort();
        if !hashes.is_empty() {
            out.insert(folder.path.to_string(), hashes);
        }
    }
    out
}

fn spawn_child(dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_DIR, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn count_dest_files(dst: &Path) -> usize {
    fn walk(p: &Path, n: &mut usize) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, n);
            } else if path
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|f| f == "cur" || f == "new")
            {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(dst, &mut n);
    n
}

/// The child: one migration run, killed from outside at an arbitrary instant.
#[tokio::test]
#[ignore = "run by kill_at_any_point_then_resume as a child process"]
async fn kill_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let (src, dst, state) = paths(Path::new(&dir));
    let engine = Engine::new(
        Arc::new(MaildirStore::open(src).unwrap()),
        Arc::new(MaildirStore::open(dst).unwrap()),
        Arc::new(SqliteState::open(state).unwrap()) as Arc<dyn StateStore>,
    )
    .with_options(
        SyncOptions::new("kill")
            .with_batch_size(16)
            .with_folder_concurrency(2)
            // A Maildir write is finished when the killed process is gone: no server is
            // still committing it, so the final look-up need not wait long.
            .with_settle_grace(Duration::from_millis(100)),
    );
    let report = engine.run().await.unwrap();
    assert!(report.is_complete(), "{report}");
}

/// Kills runs after growing delays until one finishes on its own; returns the number of
/// kills and how many landed mid-copy (some but not all of `total` messages written).
async fn kill_until_complete(
    dir: &Path,
    dst: &Path,
    before: usize,
    total: usize,
) -> (usize, usize) {
    let mut delay = Duration::from_millis(30);
    let mut mid_copy_kills = 0;
    let mut kills = 0;
    let started = Instant::now();
    loop {
        let mut child = spawn_child(dir);
        tokio::time::sleep(delay).await;
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "child failed on its own: {status}");
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                let n = count_dest_files(dst);
                if n > before && n < total {
                    mid_copy_kills += 1;
                }
            }
        }
        delay = delay.mul_f32(1.5);
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "runs never completed"
        );
    }
    (kills, mid_copy_kills)
}

async fn assert_equal(src: &Path, dst: &Path) {
    let want = contents(&MaildirStore::open(src).unwrap()).await;
    let got = contents(&MaildirStore::open(dst).unwrap()).await;
    assert_eq!(want.len(), FOLDERS.len());
    for (folder, hashes) in &want {
        let g = got
            .get(folder)
            .unwrap_or_else(|| panic!("folder {folder} missing"));
        assert_eq!(
            g.len(),
            hashes.len(),
            "{folder}: count differs (lost or duplicated)"
        );
        assert_eq!(g, hashes, "{folder}: contents differ");
    }
    assert_eq!(got.len(), want.len(), "extra folders at the destination");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_at_any_point_then_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst, _) = paths(tmp.path());
    make_source(&src, 0..PER_FOLDER).await;
    let total = FOLDERS.len() * PER_FOLDER;

    // First pass: destination folders are new; killed runs leave pending rows and folders
    // without checkpoints.
    let (kills, mid) = kill_until_complete(tmp.path(), &dst, 0, total).await;
    eprintln!("first pass: {kills} kills, {mid} of them mid-copy");
    assert!(kills >= 3, "only {kills} kills happened");
    assert!(mid >= 2, "only {mid} kills landed mid-copy");
    assert!(spawn_child(tmp.path()).wait().unwrap().success());
    assert_equal(&src, &dst).await;

    // Incremental pass: every folder has a checkpoint, so only the ledger's pending rows
    // (settled by lookup) stand between a killed append and a duplicate.
    make_source(&src, PER_FOLDER..2 * PER_FOLDER).await;
    let (kills, mid) = kill_until_complete(tmp.path(), &dst, total, 2 * total).await;
    eprintln!("incremental pass: {kills} kills, {mid} of them mid-copy");
    assert!(kills >= 3, "only {kills} kills happened");
    assert!(mid >= 2, "only {mid} kills landed mid-copy");
    assert!(spawn_child(tmp.path()).wait().unwrap().success());
    assert_equal(&src, &dst).await;
}

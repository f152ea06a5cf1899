//! The kill test for Microsoft 365: the real `migrate` process copying a Maildir into a
//! mailbox of the Graph emulator (`mailmigrate_graph::emulator`, in this test's process, so
//! it outlives every run), SIGKILLed again and again mid-copy — twice while a message over
//! 3 MiB is half-written (created stamped partial, its attachment in an upload session) —
//! then run to the end, then run
//! again with its state file deleted; then new mail copied while the emulator loses
//! requests before they are handled, loses replies to creates it made, and answers 503s.
//!
//! The destination is read from the emulator's store, not through the library: every
//! folder must hold, once each, the content hashes of the source folder's messages (the
//! `mailmigrate-hash` property each copy carries), none as a draft unless it was one, read
//! exactly when the source says `\Seen`, no copy left stamped partial — nothing lost,
//! nothing twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use mailmigrate_core::store::MaildirStore;
use mailmigrate_core::{
    Change, Destination, Flag, FolderPath, MessageId, MessageMeta, Provider, RawMessage, Source,
    Store,
};
use mailmigrate_graph::emulator::{Emulator, EmulatorHandle};

const MAILBOX: &str = "ada@example.com";
const SECRET_VAR: &str = "MAILMIGRATE_KILL_GRAPH_SECRET";
const HASH_PROPERTY: &str = "String {00020329-0000-0000-C000-000000000046} Name mailmigrate-hash";
/// Messages of the first copy.
const FIRST: usize = 360;
/// Messages added before the fault run.
const LATER: usize = 60;
/// Sizes of the large attachments of the first copy: each message over 3 MiB is written in
/// stages (create, upload sessions, stamp), so kills land in the middle of those too.
const LARGE: [usize; 4] = [3_400_000, 5_000_000, 7_300_000, 9_100_000];

/// A message with a text attachment of `size` bytes (7bit lines, distinct per `n`).
fn large_message(n: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Big Sender <big@example.org>\r\nTo: ada@example.com\r\n\
         Subject: Large attachment {n}\r\nMessage-ID: <large-{n}@example.org>\r\n\
         Date: Tue, 3 Mar 2020 10:0{n}:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=part\r\n\r\n--part\r\n\
         Content-Type: text/plain\r\n\r\nThe log is attached.\r\n--part\r\n\
         Content-Type: text/plain; name=log-{n}.txt\r\n\
         Content-Disposition: attachment; filename=log-{n}.txt\r\n\r\n"
    )
    .into_bytes();
    let mut x = n as u64 + 1;
    let mut line = 0;
    while m.len() < size {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        m.push(b'a' + (x >> 59) as u8);
        line += 1;
        if line == 76 {
            m.extend_from_slice(b"\r\n");
            line = 0;
        }
    }
    m.extend_from_slice(b"\r\n--part--\r\n");
    m
}

fn url_encoded(s: &str) -> String {
    s.replace('%', "%25")
        .replace(':', "%3A")
        .replace('/', "%2F")
        .replace('?', "%3F")
        .replace('&', "%26")
}

/// The `graph://` URL of `mailbox` at the emulator.
fn graph_url(emu: &EmulatorHandle, mailbox: &str) -> String {
    format!(
        "graph://{}@{}?client_id={}&secret_env={SECRET_VAR}&tls=plaintext&graph_url={}&authority_url={}",
        url_encoded(mailbox).replace('@', "%40"),
        emu.tenant(),
        emu.client_id(),
        url_encoded(&emu.graph_url()),
        url_encoded(&emu.base_url()),
    )
}

/// A job file in `dir` from `source` to `destination`, with `extra` lines.
fn write_job(dir: &Path, source: &str, destination: &str, extra: &str) -> String {
    let cfg = dir.join("job.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"kill-graph\"\nsource = \"{source}\"\ndestination = \"{destination}\"\n\
             state = \"state.sqlite\"\nsettle_grace_ms = 300\n{extra}"
        ),
    )
    .unwrap();
    cfg.to_str().unwrap().to_owned()
}

fn migrate(cfg: &str, dir: &Path, emu: &EmulatorHandle) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_migrate"));
    c.args(["--config", cfg])
        .current_dir(dir)
        .env(SECRET_VAR, emu.client_secret());
    c
}

/// Runs the job until it exits 0, at most three times: the exit codes and the last
/// run's output.
fn run_to_end(cfg: &str, dir: &Path, emu: &EmulatorHandle) -> (Vec<Option<i32>>, String) {
    let mut codes = Vec::new();
    let mut last = (None, String::new());
    for _ in 0..3 {
        let out = migrate(cfg, dir, emu).output().expect("run migrate");
        last = (
            out.status.code(),
            format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        );
        codes.push(last.0);
        if last.0 == Some(0) {
            break;
        }
        eprintln!("run ended {:?}:\n{}", last.0, last.1);
    }
    (codes, last.1)
}

/// The destination folder a source folder lands in: roles go to the mailbox's well-known
/// folders, the rest by path.
fn dest_path(src: &str) -> String {
    match src {
        "INBOX" => "Inbox".to_owned(),
        "Sent" => "Sent Items".to_owned(),
        other => other.to_owned(),
    }
}

/// Per destination folder path: each message's (hash, read, draft), sorted.
type Census = BTreeMap<String, Vec<(String, bool, bool)>>;

/// Every message of a Maildir: its folder's path, its content hash, its flags.
async fn maildir_messages(root: &Path) -> Vec<(String, String, mailmigrate_core::Flags)> {
    let store = MaildirStore::open(root).unwrap();
    let mut out = Vec::new();
    for folder in Provider::list_folders(&store).await.unwrap() {
        let mut metas = Vec::new();
        let mut listing = store.list_changes(&folder.id, None);
        while let Some(change) = listing.next().await {
            if let Change::Upsert(meta) = change.unwrap() {
                metas.push(meta);
            }
        }
        drop(listing);
        let ids: Vec<_> = metas.iter().map(|m| m.id.clone()).collect();
        let mut fetched: BTreeMap<_, _> = store
            .fetch(&folder.id, ids)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect();
        for meta in metas {
            let msg = fetched.remove(&meta.id).unwrap().unwrap();
            out.push((
                folder.path.to_string(),
                msg.content_hash().to_hex(),
                meta.flags,
            ));
        }
    }
    out
}

async fn source_census(root: &Path) -> Census {
    let mut out = Census::new();
    for (path, hash, flags) in maildir_messages(root).await {
        out.entry(dest_path(&path)).or_default().push((
            hash,
            flags.contains(&Flag::Seen),
            flags.contains(&Flag::Draft),
        ));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

fn dest_census(emu: &EmulatorHandle) -> Census {
    let mut out = Census::new();
    for m in emu.messages(MAILBOX) {
        let hash = m
            .extended
            .iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(HASH_PROPERTY))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| format!("no hash on {}", m.id));
        out.entry(m.folder_path.clone())
            .or_default()
            .push((hash, m.is_read, m.is_draft));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

fn assert_exact(src: &Census, emu: &EmulatorHandle, when: &str) {
    let dest = dest_census(emu);
    for (path, want) in src {
        let got = dest.get(path).cloned().unwrap_or_default();
        assert_eq!(
            got.len(),
            want.len(),
            "{when}: {path}: {} copies of {} messages",
            got.len(),
            want.len()
        );
        assert_eq!(&got, want, "{when}: {path}: hashes, read and draft states");
    }
    let extra: Vec<_> = dest.keys().filter(|k| !src.contains_key(*k)).collect();
    assert!(
        extra.is_empty(),
        "{when}: mail in unexpected folders {extra:?}"
    );
}

async fn add_source_mail(root: &Path, seed: u64, n: usize) {
    let store: Arc<dyn Store> = Arc::new(MaildirStore::open(root).unwrap());
    let mut by_folder: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for (path, role, msg) in mailmigrate_examples::demo::demo_messages(seed, n) {
        by_folder.entry((path, role)).or_default().push(msg);
    }
    for ((path, role), msgs) in by_folder {
        let f = store.ensure_folder(&path, role).await.unwrap();
        for r in store.append(&f.id, msgs).await.unwrap() {
            r.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_into_graph_survives_kills_lost_state_and_lost_requests() {
    // Latency stretches the copy over seconds, so kills land in the middle of it.
    let emu = Emulator::builder()
        .mailbox(MAILBOX)
        .latency(Duration::from_millis(4))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("src");
    add_source_mail(&root, 0x4b11, FIRST).await;
    {
        let store = MaildirStore::open(&root).unwrap();
        let inbox = store
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap();
        let msgs = LARGE
            .iter()
            .enumerate()
            .map(|(n, size)| {
                let meta = MessageMeta::new(MessageId::new(format!("large-{n}")), inbox.id.clone());
                RawMessage::new(meta, large_message(n, *size).into())
            })
            .collect();
        for r in store.append(&inbox.id, msgs).await.unwrap() {
            r.unwrap();
        }
    }
    let src = source_census(&root).await;
    let total: usize = src.values().map(Vec::len).sum();
    assert_eq!(total, FIRST + LARGE.len());
    let cfg = write_job(
        dir.path(),
        &format!("maildir://{}", root.display()),
        &graph_url(&emu, MAILBOX),
        "",
    );

    // Kills while a large message is half-written: its copy stamped partial is there.
    let mut mid_upload = 0;
    for n in 0..2 {
        let mut child = migrate(&cfg, dir.path(), &emu)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start migrate");
        let partial = || {
            emu.messages(MAILBOX).iter().any(|m| {
                m.extended.iter().any(|(id, v)| {
                    id.eq_ignore_ascii_case(HASH_PROPERTY) && v.starts_with("partial:")
                })
            })
        };
        while !partial() && child.try_wait().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let caught = child.try_wait().unwrap().is_none() && partial();
        child.kill().ok();
        child.wait().unwrap();
        mid_upload += usize::from(caught);
        eprintln!("upload kill {n}: a partial copy was there: {caught}");
    }
    assert!(
        mid_upload >= 1,
        "no kill landed in the middle of a staged write"
    );

    // Kills: most when the mailbox has grown by a share of what is left (so they land
    // mid-copy, among creates in flight), every third at a moment of start-up (token,
    // folders, look-ups of the killed run's writes).
    let mut mid_copy = 0;
    for n in 0..10_u64 {
        let mut child = migrate(&cfg, dir.path(), &emu)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start migrate");
        let before = emu.messages(MAILBOX).len();
        let how = if n % 3 == 2 {
            let ms = 40 + (n * 97) % 260;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            format!("{ms} ms into start-up")
        } else {
            let share = 0.15 + 0.05 * (n % 4) as f64;
            let target = before + ((total.saturating_sub(before) as f64) * share).ceil() as usize;
            while emu.messages(MAILBOX).len() < target && child.try_wait().unwrap().is_none() {
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            format!("at {target} copies")
        };
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        let at_server = emu.messages(MAILBOX).len();
        if !finished && at_server > 0 && at_server < total {
            mid_copy += 1;
        }
        eprintln!(
            "kill {n} {how}: {at_server} of {total} in the mailbox{}",
            if finished { " (it had finished)" } else { "" }
        );
    }
    assert!(mid_copy >= 5, "kills landed mid-copy only {mid_copy} times");
    // One run settles what the killed runs left pending and completes.
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu);
    assert_eq!(
        codes,
        [Some(0)],
        "the job completes after the kills:\n{out}"
    );
    assert_exact(&src, &emu, "after the kills");

    // The state lost: every copy is found where it is, none written again.
    std::fs::remove_file(dir.path().join("state.sqlite")).unwrap();
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu);
    assert_eq!(codes, [Some(0)], "{out}");
    assert!(out.contains("Total: copied 0 messages"), "{out}");
    assert_exact(&src, &emu, "after the state was lost");

    // New mail, copied while requests are lost in both forms and the service fails.
    add_source_mail(&root, 0x1a7e, LATER).await;
    let src = source_census(&root).await;
    let faults = emu.faults();
    faults.drop_matching("POST", "/messages", 3);
    faults.lose_reply_matching("POST", "/messages", 4);
    faults.fail_matching("POST", "/messages", 2, 503, "ServiceUnavailable");
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu);
    eprintln!("runs with faults: {codes:?}");
    assert_eq!(faults.remaining(), 0, "every fault fired");
    assert_eq!(
        codes.last(),
        Some(&Some(0)),
        "the job completes despite the faults:\n{out}"
    );
    assert_exact(&src, &emu, "after the lost requests and replies");

    // One more pass: still exact, nothing moves.
    let before = emu.messages(MAILBOX).len();
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu);
    assert_eq!(codes, [Some(0)], "{out}");
    assert!(out.contains("Nothing to do"), "{out}");
    assert_eq!(
        emu.messages(MAILBOX).len(),
        before,
        "an idle pass writes nothing"
    );
    // The full comparison, through the library's verification (parsed messages: Graph
    // stores them rewritten), agrees.
    let out = migrate(&cfg, dir.path(), &emu)
        .arg("verify")
        .output()
        .expect("run migrate verify");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let stats = emu.stats();
    let peak = stats.max_concurrent.get(MAILBOX).copied().unwrap_or(0);
    assert!(
        peak <= 4,
        "at most 4 requests in flight per mailbox, saw {peak}"
    );
    emu.shutdown().await;
}

/// The mailbox read back from a Maildir: per folder path, each message's (hash, read).
async fn maildir_census(root: &Path) -> BTreeMap<String, Vec<(String, bool)>> {
    let mut out: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for (path, hash, flags) in maildir_messages(root).await {
        out.entry(path)
            .or_default()
            .push((hash, flags.contains(&Flag::Seen)));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// The emulated mailbox: per folder path (as the Maildir names it), each message's
/// (hash of its MIME, read).
fn graph_census(emu: &EmulatorHandle, upn: &str) -> BTreeMap<String, Vec<(String, bool)>> {
    let mut out: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for m in emu.messages(upn) {
        let path = match m.folder_path.as_str() {
            "Inbox" => "INBOX".to_owned(),
            other => other.to_owned(),
        };
        let mime = m.mime.clone().expect("seeded messages keep their MIME");
        out.entry(path)
            .or_default()
            .push((mailmigrate_core::ContentHash::of(&mime).to_hex(), m.is_read));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// Graph as the source: the real `migrate` process copying an emulated mailbox into a
/// Maildir by delta passes, SIGKILLed mid-copy, while the user reads, moves, deletes and
/// receives mail between runs and the delta tokens expire once (a full listing after
/// `Reset`). The Maildir must end as the mailbox is: every message once, byte-identical to
/// the MIME Graph serves, read exactly where it is read, deletions carried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_out_of_graph_survives_kills_changes_and_expired_delta_tokens() {
    const SOURCE: &str = "src@example.com";
    let emu = Emulator::builder()
        .mailbox(SOURCE)
        .latency(Duration::from_millis(3))
        .start()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (path, role, msg) in mailmigrate_examples::demo::demo_messages(0x0d17, 300) {
        let folder = match role {
            Some(mailmigrate_core::SpecialUse::Inbox) => "Inbox".to_owned(),
            _ => path.to_string(),
        };
        let seed = mailmigrate_graph::emulator::Seed {
            is_read: msg.meta.flags.contains(&Flag::Seen),
            flagged: msg.meta.flags.contains(&Flag::Flagged),
            ..Default::default()
        };
        ids.push(emu.seed_message(SOURCE, &folder, &msg.bytes, seed));
    }
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("backup");
    let cfg = write_job(
        dir.path(),
        &graph_url(&emu, SOURCE),
        &format!("maildir://{}", dest.display()),
        "propagate_deletions = true\n",
    );
    let copied = || walk_files(&dest);
    let mut mid_copy = 0;
    for n in 0..6_u64 {
        let mut child = migrate(&cfg, dir.path(), &emu)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start migrate");
        let before = copied();
        let target = before + (300_usize.saturating_sub(before)) / 3 + 1;
        while copied() < target && child.try_wait().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        let now = copied();
        mid_copy += usize::from(!finished && now < 300);
        eprintln!(
            "source kill {n} at {target} files: {now} copied{}",
            if finished { " (finished)" } else { "" }
        );
        // The user goes on using the mailbox between runs.
        let k = n as usize;
        emu.set_read(SOURCE, &ids[k * 7], true);
        emu.move_message(SOURCE, &ids[k * 7 + 1], "Archive/2020");
        emu.delete_message(SOURCE, &ids[k * 7 + 2]);
    }
    assert!(mid_copy >= 3, "kills landed mid-copy only {mid_copy} times");
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu);
    assert_eq!(codes.last(), Some(&Some(0)), "{out}");
    assert_eq!(
        maildir_census(&dest).await,
        graph_census(&emu, SOURCE),
        "after the kills"
    );

    // New mail and more changes, then every delta token expires: the next pass lists in
    // full (Reset) and must not copy anything twice.
    for (path, _, msg) in mailmigrate_examples::demo::demo_messages(0x0d18, 20) {
        emu.seed_message(SOURCE, &path.to_string(), &msg.bytes, Default::default());
    }
    emu.set_read(SOURCE, &ids[100], true);
    emu.faults().expire_delta_tokens();
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu);
    assert_eq!(codes.last(), Some(&Some(0)), "{out}");
    assert_eq!(
        maildir_census(&dest).await,
        graph_census(&emu, SOURCE),
        "after the reset"
    );
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu);
    assert_eq!(codes, [Some(0)], "{out}");
    assert!(out.contains("Nothing to do"), "{out}");
    emu.shutdown().await;
}

/// Files under a Maildir's `cur/` and `new/` directories.
fn walk_files(root: &Path) -> usize {
    let mut n = 0;
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        match p.file_name().and_then(|f| f.to_str()) {
            Some("cur" | "new") => n += std::fs::read_dir(&p).map_or(0, |d| d.count()),
            _ => n += walk_files(&p),
        }
    }
    n
}

/// Contacts and calendars into Microsoft 365: the real `migrate` process moving the demo
/// address book and calendar (recurring meetings with exceptions in several time zones)
/// from a backup directory into the emulated mailbox, SIGKILLed mid-copy again and again,
/// then run to the end, then run again with its state file deleted. The emulator's store
/// must hold exactly one contact or event per source item — nothing lost, nothing twice —
/// nobody may have been invited, and `migrate verify` must find every item
/// property-equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_and_calendars_into_graph_survive_kills_and_lost_state() {
    const PIM: &str = "pim@example.com";
    let emu = Emulator::builder()
        .mailbox(PIM)
        .latency(Duration::from_millis(4))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_, items) = mailmigrate_examples::pim_demo::ensure_demo_pim(
        &dir.path().join("pim-src"),
        &dir.path().join("pim-src.complete"),
    )
    .await
    .unwrap();
    let cfg = write_job(
        dir.path(),
        "memory:",
        "memory:",
        &format!(
            "[pim]\nsource = \"vdir://{}\"\ndestination = \"{}\"\n",
            dir.path().join("pim-src").display(),
            graph_url(&emu, PIM)
        ),
    );
    let held = || emu.contacts(PIM).len() + emu.events(PIM).len();
    let mut mid_copy = 0;
    for n in 0..8_usize {
        let mut child = migrate(&cfg, dir.path(), &emu)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start migrate");
        let before = held();
        let target = before + items.saturating_sub(before) / 4 + 1;
        while held() < target && child.try_wait().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        let now = held();
        mid_copy += usize::from(!finished && now < items);
        eprintln!(
            "pim kill {n} at {target}: {now} of {items} in the mailbox{}",
            if finished { " (finished)" } else { "" }
        );
    }
    assert!(mid_copy >= 4, "kills landed mid-copy only {mid_copy} times");
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu);
    assert_eq!(codes.last(), Some(&Some(0)), "{out}");
    assert_eq!(
        held(),
        items,
        "one contact or event per source item:\n{out}"
    );

    // The state lost: every item is found by its UID where it is, none written again.
    std::fs::remove_file(dir.path().join("state.sqlite")).unwrap();
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu);
    assert_eq!(codes, [Some(0)], "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(" listed, ")).collect();
    assert!(!rows.is_empty(), "{out}");
    assert!(rows.iter().all(|l| l.contains(" 0 written")), "{out}");
    assert_eq!(held(), items);
    assert_eq!(emu.invitations_sent(PIM), 0, "nobody was invited");
    let verify = migrate(&cfg, dir.path(), &emu)
        .arg("verify")
        .output()
        .expect("run migrate verify");
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    emu.shutdown().await;
}

/// Tenant to tenant (here two mailboxes of one emulated tenant): a Graph mailbox into
/// another by delta passes, with the emulator's throttling on as configured by default;
/// `migrate verify` finds zero differences and a second pass has nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_mailbox_into_another_verifies_with_zero_differences() {
    const FROM: &str = "from@example.com";
    const TO: &str = "to@example.com";
    let emu = Emulator::builder()
        .mailbox(FROM)
        .mailbox(TO)
        .start()
        .await
        .unwrap();
    for (path, role, msg) in mailmigrate_examples::demo::demo_messages(0x6767, 150) {
        let folder = match role {
            Some(mailmigrate_core::SpecialUse::Inbox) => "Inbox".to_owned(),
            _ => path.to_string(),
        };
        let seed = mailmigrate_graph::emulator::Seed {
            is_read: msg.meta.flags.contains(&Flag::Seen),
            flagged: msg.meta.flags.contains(&Flag::Flagged),
            ..Default::default()
        };
        emu.seed_message(FROM, &folder, &msg.bytes, seed);
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_job(dir.path(), &graph_url(&emu, FROM), &graph_url(&emu, TO), "");
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu);
    assert_eq!(codes, [Some(0)], "{out}");
    assert_eq!(emu.messages(TO).len(), 150, "{out}");
    let verify = migrate(&cfg, dir.path(), &emu)
        .arg("verify")
        .output()
        .expect("run migrate verify");
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu);
    assert_eq!(codes, [Some(0)], "{out}");
    assert!(out.contains("Nothing to do"), "{out}");
    emu.shutdown().await;
}

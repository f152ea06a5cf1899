//! The kill test for Google Workspace: the real `migrate` process copying a Maildir into a
//! user of the Gmail emulator (`mailmigrate_gmail::emulator`, in this test's process, so it
//! outlives every run), SIGKILLed again and again mid-copy — at least once while a message
//! over 5 MB is half-uploaded (a resumable upload session open, \[GM-UPL\]) — then run to the
//! end, then run again with its state file deleted, then new mail copied while the emulator
//! loses import answers and answers 503s; and the other way, a Gmail user copied into a
//! Maildir, SIGKILLed mid-copy while the user relabels and receives mail, and once with
//! every `historyId` out of date (a full relisting, \[GM-HIST\]).
//!
//! The Gmail side is read from the emulator's own store, not through the library: every
//! source message must be there exactly once (byte-identical: Gmail keeps the imported
//! bytes), carrying its folder's label, `UNREAD` exactly when the source says not `\Seen`,
//! and its keywords as `Keywords/…` labels — a message with several labels is ONE Gmail
//! message. The Maildir side must hold each Gmail message once, in `All Mail`, with its
//! labels as keywords. `migrate verify` exits 0 at the end of both.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use mailmigrate_core::store::MaildirStore;
use mailmigrate_core::{
    Change, ContentHash, Destination, Flag, FolderPath, MessageId, MessageMeta, Provider,
    RawMessage, Source, Store,
};
use mailmigrate_gmail::emulator::{Emulator, EmulatorHandle, Quota};

const USER: &str = "ada@example.com";
const KEY_VAR: &str = "MAILMIGRATE_KILL_GMAIL_KEY";
const SECRET_VAR: &str = "MAILMIGRATE_KILL_GMAIL_SECRET";
const REFRESH_VAR: &str = "MAILMIGRATE_KILL_GMAIL_REFRESH";
/// Messages of the first copy.
const FIRST: usize = 300;
/// Messages added before the fault run.
const LATER: usize = 40;
/// Sizes of the large messages: over 5 MB, each is imported by resumable upload in 8 MiB
/// chunks \[GM-UPL\], so kills land in the middle of an upload session.
const LARGE: [usize; 3] = [6_000_000, 11_000_000, 17_500_000];
/// A quota so large that the test's pace is set by the emulator's latency, not by the
/// budget (the client is told the same figure, `quota_units=`).
const UNITS: u64 = 10_000_000;

/// A message with a text attachment of `size` bytes (7bit lines, distinct per `n`).
fn large_message(n: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Big Sender <big@example.org>\r\nTo: ada@example.com\r\n\
         Subject: Large attachment {n}\r\nMessage-ID: <gmail-large-{n}@example.org>\r\n\
         Date: Tue, 3 Mar 2020 10:0{n}:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=part\r\n\r\n--part\r\n\
         Content-Type: text/plain\r\n\r\nThe log is attached.\r\n--part\r\n\
         Content-Type: text/plain; name=log-{n}.txt\r\n\
         Content-Disposition: attachment; filename=log-{n}.txt\r\n\r\n"
    )
    .into_bytes();
    let mut x = n as u64 + 7;
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

/// The `gmail://` URL of `user` at the emulator, signed in by the service account (its
/// JSON key in [`KEY_VAR`]) or by the user's refresh token.
fn gmail_url(emu: &EmulatorHandle, user: &str, service_account: bool) -> String {
    let sign_in = if service_account {
        format!("key_env={KEY_VAR}")
    } else {
        format!(
            "client_id={}&secret_env={SECRET_VAR}&refresh_env={REFRESH_VAR}&token_url={}",
            emu.client_id(),
            url_encoded(&emu.token_url())
        )
    };
    format!(
        "gmail://{}?{sign_in}&api_url={}&quota_units={UNITS}&tls=plaintext",
        user.replace('@', "%40"),
        url_encoded(&emu.base_url()),
    )
}

/// A job file in `dir` from `source` to `destination`, with `extra` lines.
fn write_job(dir: &Path, source: &str, destination: &str, extra: &str) -> String {
    let cfg = dir.join("job.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"kill-gmail\"\nsource = \"{source}\"\ndestination = \"{destination}\"\n\
             state = \"state.sqlite\"\nsettle_grace_ms = 300\n{extra}"
        ),
    )
    .unwrap();
    cfg.to_str().unwrap().to_owned()
}

fn migrate(cfg: &str, dir: &Path, emu: &EmulatorHandle, user: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_migrate"));
    c.args(["--config", cfg])
        .current_dir(dir)
        .env(KEY_VAR, emu.service_account_json())
        .env(SECRET_VAR, emu.client_secret())
        .env(REFRESH_VAR, emu.refresh_token(user));
    c
}

/// Runs the job until it exits 0, at most three times: the exit codes and the last
/// run's output.
fn run_to_end(
    cfg: &str,
    dir: &Path,
    emu: &EmulatorHandle,
    user: &str,
) -> (Vec<Option<i32>>, String) {
    let mut codes = Vec::new();
    let mut last = (None, String::new());
    for _ in 0..3 {
        let out = migrate(cfg, dir, emu, user).output().expect("run migrate");
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

/// `migrate verify` of the job: its exit code and output.
fn verify(cfg: &str, dir: &Path, emu: &EmulatorHandle, user: &str) -> (Option<i32>, String) {
    let out = migrate(cfg, dir, emu, user)
        .arg("verify")
        .output()
        .expect("run migrate verify");
    (
        out.status.code(),
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

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

/// A message as the test expects it at Gmail: (hash, its folder's label name, unread,
/// its keyword labels).
type Expected = (String, String, bool, BTreeSet<String>);

/// The Gmail label a Maildir folder becomes: roles as system labels \[GM-LBL\], the rest by
/// path, a name Gmail reserves (`Archive`, \[GYB\]) with a `_` prefix.
fn label_of(folder: &str) -> String {
    match folder {
        "INBOX" => "INBOX".to_owned(),
        "Sent" => "SENT".to_owned(),
        "Drafts" => "DRAFT".to_owned(),
        other if other.starts_with("Archive/") => format!("_{other}"),
        other => other.to_owned(),
    }
}

async fn source_census(root: &Path) -> Vec<Expected> {
    let mut out: Vec<Expected> = maildir_messages(root)
        .await
        .into_iter()
        .map(|(path, hash, flags)| {
            let keywords = flags
                .iter()
                .filter_map(|f| match f {
                    Flag::Keyword(k) => Some(format!("Keywords/{k}")),
                    Flag::Answered => Some("Keywords/$Answered".to_owned()),
                    _ => None,
                })
                .collect();
            (
                hash,
                label_of(&path),
                !flags.contains(&Flag::Seen),
                keywords,
            )
        })
        .collect();
    out.sort();
    out
}

/// Every message in the emulator's store, as [`Expected`] (the folder label: the one user
/// or system label that is neither a flag's nor a keyword's), and the label names of each.
fn gmail_census(emu: &EmulatorHandle, user: &str) -> (Vec<Expected>, Vec<BTreeSet<String>>) {
    let names: HashMap<String, String> = emu
        .labels(user)
        .into_iter()
        .map(|l| (l.id, l.name))
        .collect();
    let mut out = Vec::new();
    let mut all = Vec::new();
    for m in emu.messages(user) {
        let labels: BTreeSet<String> = m
            .label_ids
            .iter()
            .map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()))
            .collect();
        let keywords: BTreeSet<String> = labels
            .iter()
            .filter(|l| l.starts_with("Keywords/"))
            .cloned()
            .collect();
        let homes: Vec<&String> = labels
            .iter()
            .filter(|l| {
                !l.starts_with("Keywords")
                    && !matches!(l.as_str(), "UNREAD" | "STARRED" | "IMPORTANT")
                    && !l.starts_with("CATEGORY_")
            })
            .collect();
        let home = match homes.as_slice() {
            [one] => (*one).clone(),
            more => format!("{} homes: {more:?}", more.len()),
        };
        out.push((
            ContentHash::of(&m.raw).to_hex(),
            home,
            labels.contains("UNREAD"),
            keywords,
        ));
        all.push(labels);
    }
    out.sort();
    (out, all)
}

fn assert_exact(src: &[Expected], emu: &EmulatorHandle, when: &str) {
    let (got, labels) = gmail_census(emu, USER);
    assert_eq!(
        got.len(),
        src.len(),
        "{when}: {} Gmail messages for {} source messages",
        got.len(),
        src.len()
    );
    for (want, have) in src.iter().zip(&got) {
        assert_eq!(want, have, "{when}: hash, folder label, unread, keywords");
    }
    let several = labels.iter().filter(|l| l.len() >= 2).count();
    assert!(
        several > src.len() / 3,
        "{when}: messages with several labels are single messages ({several} of them)"
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

fn quota() -> Quota {
    Quota::default().with_units_per_window(UNITS, Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_into_gmail_survives_kills_lost_state_and_lost_answers() {
    // Latency stretches the copy over seconds, so kills land in the middle of it.
    let emu = Emulator::builder()
        .user(USER)
        .quota(quota())
        .latency(Duration::from_millis(6))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("src");
    // The large messages first, so the first runs reach them at once.
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
    add_source_mail(&root, 0x6a11, FIRST).await;
    let src = source_census(&root).await;
    let total = src.len();
    assert_eq!(total, FIRST + LARGE.len());
    let cfg = write_job(
        dir.path(),
        &format!("maildir://{}", root.display()),
        &gmail_url(&emu, USER, true),
        "",
    );

    // Kills while a large message is half-uploaded: a session more is open than before
    // (a killed run's session stays open, never completed, as at Google until it expires).
    let mut mid_upload = 0;
    for n in 0..3 {
        let mut child = migrate(&cfg, dir.path(), &emu, USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start migrate");
        let open = emu.open_upload_sessions();
        while emu.open_upload_sessions() <= open && child.try_wait().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let caught = child.try_wait().unwrap().is_none() && emu.open_upload_sessions() > open;
        child.kill().ok();
        child.wait().unwrap();
        mid_upload += usize::from(caught);
        eprintln!(
            "upload kill {n}: a session was open: {caught} ({} copies)",
            emu.messages(USER).len()
        );
    }
    assert!(mid_upload >= 1, "no kill landed in the middle of an upload");

    // Kills: most when the mailbox has grown by a share of what is left (so they land
    // mid-copy, among imports in flight), every third at a moment of start-up (token,
    // labels, look-ups of the killed run's writes).
    let mut mid_copy = 0;
    for n in 0..9_u64 {
        let mut child = migrate(&cfg, dir.path(), &emu, USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start migrate");
        let before = emu.messages(USER).len();
        let how = if n % 3 == 2 {
            let ms = 40 + (n * 97) % 260;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            format!("{ms} ms into start-up")
        } else {
            let share = 0.15 + 0.05 * (n % 4) as f64;
            let target = before + ((total.saturating_sub(before) as f64) * share).ceil() as usize;
            while emu.messages(USER).len() < target && child.try_wait().unwrap().is_none() {
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            format!("at {target} copies")
        };
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        let at_server = emu.messages(USER).len();
        if !finished && at_server > 0 && at_server < total {
            mid_copy += 1;
        }
        eprintln!(
            "kill {n} {how}: {at_server} of {total} at Gmail{}",
            if finished { " (it had finished)" } else { "" }
        );
    }
    assert!(mid_copy >= 4, "kills landed mid-copy only {mid_copy} times");
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu, USER);
    assert_eq!(
        codes,
        [Some(0)],
        "the job completes after the kills:\n{out}"
    );
    assert_exact(&src, &emu, "after the kills");

    // The state lost: every copy is found where it is (rfc822msgid: and bytes), none
    // imported again.
    std::fs::remove_file(dir.path().join("state.sqlite")).unwrap();
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu, USER);
    assert_eq!(codes, [Some(0)], "{out}");
    assert!(out.contains("Total: copied 0 messages"), "{out}");
    assert_exact(&src, &emu, "after the state was lost");

    // New mail, copied while imports are stored and their answers lost, and the service
    // fails \[GM-ERR\].
    add_source_mail(&root, 0x6a12, LATER).await;
    let src = source_census(&root).await;
    let faults = emu.faults();
    faults.lose_import_replies(3);
    faults.fail_next(2, 503, "backendError");
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu, USER);
    eprintln!("runs with faults: {codes:?}");
    assert_eq!(faults.remaining(), 0, "every fault fired");
    assert_eq!(
        codes.last(),
        Some(&Some(0)),
        "the job completes despite the faults:\n{out}"
    );
    assert_exact(&src, &emu, "after the lost answers");

    // One more pass: still exact, nothing moves; the full comparison agrees.
    let before = emu.messages(USER).len();
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu, USER);
    assert_eq!(codes, [Some(0)], "{out}");
    assert!(out.contains("Nothing to do"), "{out}");
    assert_eq!(
        emu.messages(USER).len(),
        before,
        "an idle pass writes nothing"
    );
    let (code, text) = verify(&cfg, dir.path(), &emu, USER);
    assert_eq!(code, Some(0), "{text}");
    // A killed run's requests hold their slots for a while: the next run may be refused
    // over the concurrency cap (429, waited out), never over the quota.
    let stats = emu.stats();
    assert_eq!(stats.daily_refused, 0);
    emu.shutdown().await;
}

/// The Maildir read back: per folder path, each message's (hash, keywords), sorted.
async fn maildir_census(root: &Path) -> BTreeMap<String, Vec<(String, BTreeSet<String>)>> {
    let mut out: BTreeMap<String, Vec<(String, BTreeSet<String>)>> = BTreeMap::new();
    for (path, hash, flags) in maildir_messages(root).await {
        let keywords = flags
            .iter()
            .filter_map(|f| match f {
                Flag::Keyword(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        out.entry(path).or_default().push((hash, keywords));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// The Gmail user as the Maildir must hold it: every message once in `All Mail` (none is
/// in Spam or Trash here), its user labels among its keywords.
fn expected_backup(emu: &EmulatorHandle, user: &str) -> Vec<(String, BTreeSet<String>)> {
    let names: HashMap<String, String> = emu
        .labels(user)
        .into_iter()
        .filter(|l| !l.system)
        .map(|l| (l.id, l.name))
        .collect();
    let mut out: Vec<_> = emu
        .messages(user)
        .into_iter()
        .map(|m| {
            let labels = m
                .label_ids
                .iter()
                .filter_map(|id| names.get(id).cloned())
                .collect();
            (ContentHash::of(&m.raw).to_hex(), labels)
        })
        .collect();
    out.sort();
    out
}

fn assert_backup(
    got: &BTreeMap<String, Vec<(String, BTreeSet<String>)>>,
    emu: &EmulatorHandle,
    user: &str,
    when: &str,
) {
    let want = expected_backup(emu, user);
    let folders: Vec<&String> = got.keys().collect();
    assert_eq!(
        folders,
        ["All Mail"],
        "{when}: one copy of each message, in All Mail"
    );
    let have = &got["All Mail"];
    assert_eq!(
        have.len(),
        want.len(),
        "{when}: copies of {} messages",
        want.len()
    );
    for ((h, kw), (wh, labels)) in have.iter().zip(&want) {
        assert_eq!(h, wh, "{when}: byte-identical, once each");
        assert!(
            labels.iter().all(|l| kw.iter().any(|k| k == l)),
            "{when}: labels {labels:?} kept as keywords {kw:?}"
        );
    }
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

/// Gmail as the source: the real `migrate` process copying an emulated user (messages
/// with one to four labels, nested user labels) into a Maildir, SIGKILLed mid-copy while
/// the user relabels and receives mail between runs, then every `historyId` made out of
/// date: the next pass lists in full (\[GM-HIST\]: 404 on a stale `startHistoryId`) and must
/// copy nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_out_of_gmail_survives_kills_relabels_and_a_stale_history_id() {
    const SOURCE: &str = "src@example.com";
    const N: usize = 300;
    let emu = Emulator::builder()
        .user(SOURCE)
        .quota(quota())
        .latency(Duration::from_millis(3))
        .start()
        .await
        .unwrap();
    let work = emu.create_label(SOURCE, "Work");
    let nested = emu.create_label(SOURCE, "Work/2026");
    let family = emu.create_label(SOURCE, "Family");
    let receipts = emu.create_label(SOURCE, "Receipts");
    let pools: [&[&str]; 5] = [
        &["INBOX", "UNREAD"],
        &["INBOX", &work],
        &[&work, &nested, "STARRED"],
        &[&family, &receipts, "INBOX", "IMPORTANT"],
        &["SENT"],
    ];
    let mut ids = Vec::new();
    for (i, (_, _, msg)) in mailmigrate_examples::demo::demo_messages(0x6d17, N).enumerate() {
        if msg.bytes.is_empty() {
            continue;
        }
        let labels = pools[i % pools.len()];
        ids.push(emu.seed_message(SOURCE, &msg.bytes, labels, 1_600_000_000_000 + i as i64));
    }
    let total = ids.len();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("backup");
    let cfg = write_job(
        dir.path(),
        &gmail_url(&emu, SOURCE, false),
        &format!("maildir://{}", dest.display()),
        "",
    );
    let mut mid_copy = 0;
    for n in 0..6_usize {
        let mut child = migrate(&cfg, dir.path(), &emu, SOURCE)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start migrate");
        let before = walk_files(&dest);
        let target = before + total.saturating_sub(before) / 3 + 1;
        while walk_files(&dest) < target && child.try_wait().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        let now = walk_files(&dest);
        mid_copy += usize::from(!finished && now < total);
        eprintln!(
            "source kill {n} at {target} files: {now} copied{}",
            if finished { " (finished)" } else { "" }
        );
        // The user goes on using the mailbox between runs: labels added and taken off.
        emu.relabel(SOURCE, &ids[n * 7], &[&family], &[]);
        emu.relabel(SOURCE, &ids[n * 7 + 1], &[], &["UNREAD"]);
    }
    assert!(mid_copy >= 3, "kills landed mid-copy only {mid_copy} times");
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu, SOURCE);
    assert_eq!(codes.last(), Some(&Some(0)), "{out}");
    assert_backup(
        &maildir_census(&dest).await,
        &emu,
        SOURCE,
        "after the kills",
    );

    // New mail, a relabel, then every history id goes out of date: a full relisting.
    for (i, (_, _, msg)) in mailmigrate_examples::demo::demo_messages(0x6d18, 20).enumerate() {
        if !msg.bytes.is_empty() {
            emu.seed_message(
                SOURCE,
                &msg.bytes,
                &["INBOX", &receipts],
                1_700_000_000_000 + i as i64,
            );
        }
    }
    emu.relabel(SOURCE, &ids[100], &[&receipts], &[]);
    emu.expire_history(SOURCE);
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu, SOURCE);
    assert_eq!(codes.last(), Some(&Some(0)), "{out}");
    assert_backup(
        &maildir_census(&dest).await,
        &emu,
        SOURCE,
        "after the stale historyId",
    );
    let (codes, out) = run_to_end(&cfg, dir.path(), &emu, SOURCE);
    assert_eq!(codes, [Some(0)], "{out}");
    assert!(out.contains("Nothing to do"), "{out}");
    let (code, text) = verify(&cfg, dir.path(), &emu, SOURCE);
    assert_eq!(code, Some(0), "{text}");
    emu.shutdown().await;
}

//! A staged campaign of 21 mailboxes between two real IMAP servers (Dovecot → Cyrus),
//! driven through the CLI's campaign layer from a campaign file: the pilot, then two
//! batches (each backed up first), a coexistence period in which new mail keeps arriving at
//! the source and flags change there (and one mailbox's credentials stop working: it fails
//! alone with its reason and is retried once fixed), the switch, a grace period during which a straggler
//! still lands on the old system, and validation — every mailbox validated by the runner
//! and compared in full afterwards, counted at the destination by Message-ID: nothing
//! missing, nothing twice.
//!
//! Needs the servers `.ci/imap-servers.sh` starts (its env file names them and the 22
//! campaign users); without them it skips unless `MAILMIGRATE_TEST_REQUIRE` names `imap`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mailmigrate_core::campaign::Stage;
use mailmigrate_core::headers::Headers;
use mailmigrate_core::{
    Change, Flag, FlagChange, Flags, FolderPath, MessageId, MessageMeta, RawMessage, Store,
};
use mailmigrate_examples::campaign::{self, Campaign};
use mailmigrate_examples::stores;

const MAILBOXES: usize = 21;
/// The kill test's mailboxes: campaign users after the first test's.
const KILLED: std::ops::Range<usize> = 21..28;

struct Servers {
    source: String,
    destination: String,
    users: Vec<String>,
}

fn required() -> bool {
    std::env::var("MAILMIGRATE_TEST_REQUIRE")
        .map(|v| v.split(',').any(|s| s.trim().eq_ignore_ascii_case("imap")))
        .unwrap_or(false)
}

fn servers() -> Option<Servers> {
    let var = |k: &str| std::env::var(k).ok();
    let (Some(dport), Some(cport), Some(users)) = (
        var("MAILMIGRATE_TEST_IMAP_DOVECOT_PORT"),
        var("MAILMIGRATE_TEST_IMAP_CYRUS_PORT"),
        var("MAILMIGRATE_TEST_IMAP_CAMPAIGN_USERS"),
    ) else {
        assert!(
            !required(),
            "the IMAP servers or MAILMIGRATE_TEST_IMAP_CAMPAIGN_USERS are not set but \
             MAILMIGRATE_TEST_REQUIRE asks for imap"
        );
        eprintln!("skipping: run .ci/imap-servers.sh start and source its env");
        return None;
    };
    let dhost = var("MAILMIGRATE_TEST_IMAP_DOVECOT_HOST").unwrap_or_else(|| "127.0.0.1".into());
    let chost = var("MAILMIGRATE_TEST_IMAP_CYRUS_HOST").unwrap_or_else(|| "127.0.0.1".into());
    let users: Vec<String> = users.split_whitespace().map(str::to_owned).collect();
    assert!(users.len() >= KILLED.end, "{} campaign users", users.len());
    // Each source mailbox's password in a variable of its own, so one can stop working.
    let password = var("MAILMIGRATE_TEST_IMAP_DOVECOT_PASSWORD").expect("the Dovecot password");
    for u in &users {
        set_password(u, &password);
    }
    Some(Servers {
        source: format!(
            "imap://{{source_login}}@{dhost}:{dport}?tls=plaintext&password_env=MM_CAMPAIGN_PW_{{source_login}}&probe=off"
        ),
        destination: format!(
            "imap://{{destination_login}}@{chost}:{cport}?tls=plaintext&password_env=MAILMIGRATE_TEST_IMAP_CYRUS_PASSWORD&probe=off"
        ),
        users,
    })
}

fn set_password(user: &str, password: &str) {
    std::env::set_var(format!("MM_CAMPAIGN_PW_{user}"), password);
}

fn url(template: &str, user: &str) -> String {
    template
        .replace("{source_login}", user)
        .replace("{destination_login}", user)
}

async fn open(template: &str, user: &str) -> Arc<dyn Store> {
    stores::open_destination(&url(template, user))
        .await
        .unwrap()
}

/// Deletes every message of the account (left by an earlier run of this test).
async fn empty(store: &Arc<dyn Store>) {
    for f in store.list_folders().await.unwrap() {
        if !f.selectable {
            continue;
        }
        let ids: Vec<MessageId> = listing(store, &f.id)
            .await
            .into_iter()
            .map(|m| m.id)
            .collect();
        if !ids.is_empty() {
            store.delete(&f.id, &ids).await.unwrap();
        }
    }
}

async fn listing(store: &Arc<dyn Store>, folder: &mailmigrate_core::FolderId) -> Vec<MessageMeta> {
    let mut out = Vec::new();
    let mut changes = store.list_changes(folder, None);
    while let Some(c) = changes.next().await {
        match c.unwrap() {
            Change::Upsert(m) => out.push(m),
            Change::Reset => out.clear(),
            _ => {}
        }
    }
    out
}

async fn put(store: &Arc<dyn Store>, folder: &str, user: &str, tag: &str, n: u32, flags: Flags) {
    let f = store
        .ensure_folder(&FolderPath::parse(folder, '/').unwrap(), None)
        .await
        .unwrap()
        .id;
    let batch = (0..n)
        .map(|i| {
            RawMessage::new(
                MessageMeta::new(MessageId::new(format!("{i}")), f.clone())
                    .with_flags(flags.clone()),
                bytes::Bytes::from(format!(
                    "Message-ID: <{user}.{tag}.{i}@campaign.test>\r\nFrom: {user}@old.example\r\n\
                     To: {user}@old.example\r\nDate: Tue, 3 Jun 2025 10:0{}:00 +0000\r\n\
                     Subject: {tag} {i}\r\n\r\n{tag} body {i} for {user}\r\n",
                    i % 10
                )),
            )
        })
        .collect();
    for r in store.append(&f, batch).await.unwrap() {
        r.unwrap();
    }
}

/// Every message at the destination account, by Message-ID: (count, flags of the first).
async fn census(store: &Arc<dyn Store>) -> BTreeMap<String, (usize, Flags)> {
    let mut out: BTreeMap<String, (usize, Flags)> = BTreeMap::new();
    for f in store.list_folders().await.unwrap() {
        if !f.selectable {
            continue;
        }
        let metas = listing(store, &f.id).await;
        let flags: BTreeMap<MessageId, Flags> = metas
            .iter()
            .map(|m| (m.id.clone(), m.flags.clone()))
            .collect();
        let mut fetched = store.fetch(&f.id, metas.into_iter().map(|m| m.id).collect());
        while let Some((id, raw)) = fetched.next().await {
            let raw = raw.unwrap();
            let mid = Headers::parse(&raw.bytes)
                .message_id
                .expect("every test message has a Message-ID");
            out.entry(format!("{}/{mid}", f.path))
                .and_modify(|e| e.0 += 1)
                .or_insert((1, flags[&id].clone()));
        }
    }
    out
}

fn write_campaign(dir: &Path, s: &Servers, users: &[String], grace: &str) -> std::path::PathBuf {
    let mut csv = String::from("address,source_login,destination_login\n");
    for u in users {
        csv.push_str(&format!("{u}@old.example,{u},{u}\n"));
    }
    std::fs::write(dir.join("accounts.csv"), csv).unwrap();
    let members = |r: std::ops::Range<usize>| {
        users[r]
            .iter()
            .map(|u| format!("\"{u}@old.example\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let file = dir.join("imap.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[inventory]
accounts = "accounts.csv"
[stores]
source = "{source}"
destination = "{destination}"
[plan]
name = "imap-campaign"
strategy = {{ kind = "staged" }}
grace_period = "{grace}"
addresses = {{ rewrites = [{{ from = "old.example", to = "new.example" }}] }}
limits = {{ mailboxes_in_parallel = 4 }}
backup = {{ url = "maildir://{{dir}}/backup/{{mailbox}}" }}
[[plan.batches]]
name = "pilot"
pilot = true
members = [{pilot}]
[[plan.batches]]
name = "first"
members = [{first}]
[[plan.batches]]
name = "second"
members = [{second}]
"#,
            source = s.source,
            destination = s.destination,
            pilot = members(0..1),
            first = members(1..users.len() / 2),
            second = members(users.len() / 2..users.len()),
        ),
    )
    .unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_staged_campaign_of_21_mailboxes_between_dovecot_and_cyrus() {
    let Some(mut s) = servers() else { return };
    s.users.truncate(MAILBOXES);
    let dir = tempfile::tempdir().unwrap();
    let seen: Flags = [Flag::Seen].into_iter().collect();
    let flagged: Flags = [Flag::Flagged].into_iter().collect();

    // Fresh accounts on both sides, then each source mailbox: 6 in INBOX (half read), 3 in
    // Projects (flagged).
    for u in &s.users {
        let (src, dst) = tokio::join!(open(&s.source, u), open(&s.destination, u));
        tokio::join!(empty(&src), empty(&dst));
        put(&src, "INBOX", u, "inbox-read", 3, seen.clone()).await;
        put(&src, "INBOX", u, "inbox-new", 3, Flags::new()).await;
        put(&src, "Projects", u, "project", 3, flagged.clone()).await;
    }

    let file = write_campaign(dir.path(), &s, &s.users, "3s");
    let c = Campaign::open(&file).await.unwrap();
    let runner = c.runner().await.unwrap();

    // The pilot, then each batch in turn, every mailbox backed up first.
    let first = runner.run().await.unwrap();
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    assert_eq!(first.synced.len(), MAILBOXES, "{first:?}");
    assert_eq!(first.copied, 9 * MAILBOXES as u64);
    let st = runner.status().await.unwrap();
    assert!(st
        .mailboxes
        .iter()
        .all(|m| m.counts.backed_up && m.stage == Stage::Synced));

    // Coexistence: new mail at the source for some, flags changed for others; two delta
    // passes (the second finds nothing new).
    let (a, b, f) = (&s.users[2], &s.users[14], &s.users[5]);
    put(
        &open(&s.source, a).await,
        "INBOX",
        a,
        "late",
        2,
        Flags::new(),
    )
    .await;
    put(
        &open(&s.source, b).await,
        "Projects",
        b,
        "late",
        1,
        Flags::new(),
    )
    .await;
    let src_f = open(&s.source, f).await;
    let inbox = src_f
        .list_folders()
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.path.to_string() == "INBOX")
        .unwrap();
    for m in listing(&src_f, &inbox.id).await {
        let change = if m.flags.contains(&Flag::Seen) {
            FlagChange::between(&m.flags, &Flags::new())
        } else {
            FlagChange::between(&m.flags, &seen)
        };
        src_f.update_flags(&inbox.id, &m.id, &change).await.unwrap();
    }
    // Meanwhile one mailbox's credentials stop working: it fails alone, with the reason.
    let locked = &s.users[7];
    set_password(locked, "no-longer-valid");
    let delta = runner.delta_pass().await.unwrap();
    assert_eq!(delta.failed.len(), 1, "{:?}", delta.failed);
    assert_eq!(&delta.failed[0].0, &format!("{locked}@old.example"));
    assert_eq!(
        delta.failed[0].1.kind,
        mailmigrate_core::ErrorKind::Unauthenticated
    );
    assert_eq!(delta.copied, 3, "the others went on");
    assert_eq!(delta.synced.len(), MAILBOXES - 1);
    // Fixed, and retried: it carries on where it was.
    set_password(
        locked,
        &std::env::var("MAILMIGRATE_TEST_IMAP_DOVECOT_PASSWORD").unwrap(),
    );
    let retried = runner.retry_failed().await.unwrap();
    assert_eq!(
        retried.synced,
        [format!("{locked}@old.example")],
        "{retried:?}"
    );
    assert_eq!(
        retried.copied, 0,
        "nothing was missing, nothing copied twice"
    );
    let again = runner.delta_pass().await.unwrap();
    assert_eq!(
        again.copied, 0,
        "a delta pass with nothing new writes nothing"
    );

    // The switch: every batch finalising, the grace period running.
    for batch in ["pilot", "first", "second"] {
        let r = runner.finalise(batch).await.unwrap();
        assert!(r.failed.is_empty(), "{batch}: {:?}", r.failed);
        assert!(
            r.validated.is_empty(),
            "{batch}: the grace period is not over"
        );
    }
    // A straggler still lands on the old system during the grace period.
    let late = &s.users[19];
    put(
        &open(&s.source, late).await,
        "INBOX",
        late,
        "straggler",
        1,
        Flags::new(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    let mut validated = 0;
    let mut collected = 0;
    for batch in ["pilot", "first", "second"] {
        let r = runner.finalise(batch).await.unwrap();
        assert!(r.failed.is_empty(), "{batch}: {:?}", r.failed);
        validated += r.validated.len();
        collected += r.copied;
    }
    assert_eq!(validated, MAILBOXES);
    assert_eq!(
        collected, 1,
        "the straggler was collected in the grace period"
    );
    assert!(runner.status().await.unwrap().counts().is_done());

    // Validation afterwards, and an independent census at Cyrus.
    let v = campaign::validate(&c).await.unwrap();
    assert_eq!(v.code, 0, "{}", v.text);
    for (i, u) in s.users.iter().enumerate() {
        let dst = open(&s.destination, u).await;
        let got = census(&dst).await;
        let extra = match i {
            2 => 2,
            14 | 19 => 1,
            _ => 0,
        };
        assert_eq!(got.len(), 9 + extra, "{u}: {got:?}");
        for (id, (n, flags)) in &got {
            assert_eq!(*n, 1, "{u}: {id} held {n} times");
            if u == f && id.starts_with("INBOX/") {
                let was_read = id.contains("inbox-read");
                assert_eq!(
                    flags.contains(&Flag::Seen),
                    !was_read,
                    "{u}: {id} flags {flags:?}"
                );
            }
            if id.starts_with("Projects/") && id.contains(".project.") {
                assert!(flags.contains(&Flag::Flagged), "{u}: {id} flags {flags:?}");
            }
        }
    }
}

/// Runs `migrate ARGS` on the campaign, killed with SIGKILL after `kill_after` if it has
/// not finished by then; whether it was killed.
fn migrate_killed(
    cwd: &Path,
    args: &[&str],
    kill_after: Option<Duration>,
) -> (bool, std::process::Output) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start migrate");
    let mut killed = false;
    if let Some(after) = kill_after {
        let started = std::time::Instant::now();
        while started.elapsed() < after {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed = true;
        }
    }
    (killed, child.wait_with_output().unwrap())
}

/// A seeded stream of kill delays (printed, so a failing run can be repeated with
/// `MAILMIGRATE_KILL_SEED`).
struct Delays(u64);

impl Delays {
    fn from_env() -> Self {
        let seed = std::env::var("MAILMIGRATE_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("campaign kill test: MAILMIGRATE_KILL_SEED={seed}");
        Self(seed)
    }

    /// 50 ms to 1.2 s.
    fn next(&mut self) -> Duration {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        Duration::from_millis(50 + (self.0 >> 33) % 1_150)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_campaign_killed_at_random_moments_ends_with_every_message_once() {
    let Some(mut s) = servers() else { return };
    s.users = s.users[KILLED].to_vec();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().to_path_buf();
    let mut delays = Delays::from_env();
    // Seven mailboxes of 70 messages, ten of 300 KB, so that kills land mid-batch.
    for u in &s.users {
        let (src, dst) = tokio::join!(open(&s.source, u), open(&s.destination, u));
        tokio::join!(empty(&src), empty(&dst));
        put(&src, "INBOX", u, "small", 60, Flags::new()).await;
        let f = src
            .ensure_folder(&FolderPath::parse("Archive", '/').unwrap(), None)
            .await
            .unwrap()
            .id;
        let big = (0..10)
            .map(|i| {
                let body = "x".repeat(76) + "\r\n";
                RawMessage::new(
                    MessageMeta::new(MessageId::new(i.to_string()), f.clone()),
                    bytes::Bytes::from(format!(
                        "Message-ID: <{u}.big.{i}@campaign.test>\r\nFrom: {u}@old.example\r\n\
                         Subject: big {i}\r\n\r\n{}",
                        body.repeat(4_000)
                    )),
                )
            })
            .collect();
        for r in src.append(&f, big).await.unwrap() {
            r.unwrap();
        }
    }
    let file = write_campaign(&cwd, &s, &s.users, "0s");
    let f = file.to_str().unwrap().to_owned();

    // `run`, killed again and again, then left to finish.
    let mut kills = 0;
    for attempt in 0..12 {
        let delay = (attempt < 8).then(|| delays.next());
        let (killed, out) = {
            let (cwd, f) = (cwd.clone(), f.clone());
            tokio::task::spawn_blocking(move || {
                migrate_killed(&cwd, &["run", "--campaign", &f], delay)
            })
            .await
            .unwrap()
        };
        kills += usize::from(killed);
        if !killed && out.status.code() == Some(0) {
            break;
        }
        assert!(
            killed || attempt < 11,
            "run did not finish: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!("run killed {kills} times");
    assert!(
        kills >= 2,
        "the kills must land while the campaign runs ({kills})"
    );
    // The switch, killed once too.
    for delay in [Some(delays.next()), None, None] {
        let (cwd, f) = (cwd.clone(), f.clone());
        let (killed, out) = tokio::task::spawn_blocking(move || {
            migrate_killed(&cwd, &["switch", "--campaign", &f], delay)
        })
        .await
        .unwrap();
        if !killed && out.status.code() == Some(0) {
            break;
        }
    }
    let c = Campaign::open(&file).await.unwrap();
    let st = c.runner().await.unwrap().status().await.unwrap();
    assert!(st.counts().is_done(), "{}", campaign::status_text(&st));
    let v = campaign::validate(&c).await.unwrap();
    assert_eq!(v.code, 0, "{}", v.text);
    for u in &s.users {
        let got = census(&open(&s.destination, u).await).await;
        assert_eq!(got.len(), 70, "{u}: every message");
        for (id, (n, _)) in &got {
            assert_eq!(*n, 1, "{u}: {id} held {n} times after kills");
        }
        let backup = stores::open_store(&format!(
            "maildir://{}/backup/{u}@old.example",
            cwd.display()
        ))
        .await
        .unwrap();
        assert_eq!(census(&backup).await.len(), 70, "{u}: backed up in full");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_probes_each_destination_through_its_submission_path() {
    let Some(s) = servers() else { return };
    let Ok(lmtp) = std::env::var("MAILMIGRATE_TEST_IMAP_DOVECOT_LMTP_PORT") else {
        assert!(
            !required(),
            "MAILMIGRATE_TEST_IMAP_DOVECOT_LMTP_PORT is not set"
        );
        return;
    };
    // Two mailboxes from Maildir into Dovecot, probed by LMTP into Dovecot.
    let users: Vec<String> = s.users[29..30]
        .iter()
        .chain(&s.users[28..29])
        .cloned()
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().to_path_buf();
    let dovecot = s.source.replace("{source_login}", "{destination_login}");
    let mut csv = String::from("address,destination_login\n");
    for u in &users {
        let dst = open(&dovecot, u).await;
        empty(&dst).await;
        let src = stores::open_store(&format!("maildir://{}/old/{u}@old.example", cwd.display()))
            .await
            .unwrap();
        put(&src, "INBOX", u, "mail", 3, Flags::new()).await;
        csv.push_str(&format!("{u}@old.example,{u}\n"));
    }
    std::fs::write(cwd.join("accounts.csv"), csv).unwrap();
    std::fs::write(
        cwd.join("probe.toml"),
        format!(
            r#"
[inventory]
accounts = "accounts.csv"
[stores]
source = "maildir://{{dir}}/old/{{mailbox}}"
destination = "{dovecot}"
[probe]
submission = "lmtp://127.0.0.1:{lmtp}"
from = "probe@new.example"
timeout = 20
[plan]
name = "probe"
strategy = {{ kind = "cutover" }}
grace_period = "0s"
addresses = {{ rewrites = [{{ from = "old.example", to = "new.example" }}] }}
[[plan.batches]]
name = "all"
members = ["{}@old.example", "{}@old.example"]
"#,
            users[0], users[1]
        ),
    )
    .unwrap();
    let c = Campaign::open(&cwd.join("probe.toml")).await.unwrap();
    let r = c.runner().await.unwrap();
    assert_eq!(r.run().await.unwrap().synced.len(), 2);
    assert_eq!(r.finalise("all").await.unwrap().validated.len(), 2);
    let v = campaign::validate(&c).await.unwrap();
    assert_eq!(v.code, 0, "{}", v.text);
    assert!(
        v.text.contains("Send-and-receive probes: 2 of 2 arrived"),
        "{}",
        v.text
    );
    // The probes were removed: the destinations hold their three messages each.
    for u in &users {
        let got = census(
            &open(
                &s.source.replace("{source_login}", "{destination_login}"),
                u,
            )
            .await,
        )
        .await;
        assert_eq!(got.len(), 3, "{u}: {got:?}");
    }
    let report = campaign::report(&c, None, true).await.unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.json["json"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(json["probes"].as_array().unwrap().len(), 2, "{json}");
}

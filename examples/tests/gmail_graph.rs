//! Google Workspace to Microsoft 365, both emulated in this test's process: the real
//! `migrate` process copies a Gmail user (messages with one to four labels, nested user
//! labels, read and unread, starred) into a Graph mailbox, and `migrate verify` finds zero
//! differences.
//!
//! Gmail keeps labels, Graph folders and categories. The documented policy
//! (`mailmigrate_gmail::Gmail`, "Labels as folders"; the engine's default
//! `LabelFolders::AllMailOnce` with `LabelPolicy::LabelsOrKeywords`): the user's `All Mail`
//! is copied once, each message with its labels; Graph keeps no labels, so they travel as
//! keywords, which Graph stores as categories. So a message with several labels arrives as
//! ONE Graph message, in the folder the plan gives `All Mail` (Graph has no folder of that
//! role: `All Mail` by name), its user labels among its categories — counted in the Graph
//! emulator's own store.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mailmigrate_core::ContentHash;
use mailmigrate_gmail::emulator::{Emulator as Gmail, EmulatorHandle as GmailHandle, Quota};
use mailmigrate_graph::emulator::{Emulator as Graph, EmulatorHandle as GraphHandle};

const FROM: &str = "ada@example.com";
const TO: &str = "ada@contoso.com";
const KEY_VAR: &str = "MAILMIGRATE_GMAIL_GRAPH_KEY";
const SECRET_VAR: &str = "MAILMIGRATE_GMAIL_GRAPH_SECRET";
const UNITS: u64 = 10_000_000;
const HASH_PROPERTY: &str = "String {00020329-0000-0000-C000-000000000046} Name mailmigrate-hash";

fn url_encoded(s: &str) -> String {
    s.replace('%', "%25")
        .replace(':', "%3A")
        .replace('/', "%2F")
        .replace('@', "%40")
}

fn gmail_url(emu: &GmailHandle) -> String {
    format!(
        "gmail://{}?key_env={KEY_VAR}&api_url={}&quota_units={UNITS}&tls=plaintext",
        url_encoded(FROM),
        url_encoded(&emu.base_url()),
    )
}

fn graph_url(emu: &GraphHandle) -> String {
    format!(
        "graph://{}@{}?client_id={}&secret_env={SECRET_VAR}&tls=plaintext&graph_url={}&authority_url={}",
        url_encoded(TO),
        emu.tenant(),
        emu.client_id(),
        url_encoded(&emu.graph_url()),
        url_encoded(&emu.base_url()),
    )
}

fn run(
    dir: &Path,
    args: &[&str],
    gmail: &GmailHandle,
    graph: &GraphHandle,
) -> (Option<i32>, String) {
    let cfg = dir.join("job.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"gmail-graph\"\nsource = \"{}\"\ndestination = \"{}\"\n\
             state = \"state.sqlite\"\nsettle_grace_ms = 300\n",
            gmail_url(gmail),
            graph_url(graph)
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(["--config", cfg.to_str().unwrap()])
        .args(args)
        .current_dir(dir)
        .env(KEY_VAR, gmail.service_account_json())
        .env(SECRET_VAR, graph.client_secret())
        .output()
        .expect("run migrate");
    (
        out.status.code(),
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gmail_user_into_graph_verifies_with_one_message_per_gmail_message() {
    let gmail = Gmail::builder()
        .user(FROM)
        .quota(Quota::default().with_units_per_window(UNITS, Duration::from_secs(60)))
        .start()
        .await
        .unwrap();
    let graph = Graph::builder().mailbox(TO).start().await.unwrap();
    let work = gmail.create_label(FROM, "Work");
    let nested = gmail.create_label(FROM, "Work/2026");
    let family = gmail.create_label(FROM, "Family");
    let pools: [&[&str]; 4] = [
        &["INBOX", "UNREAD"],
        &["INBOX", &work, &family],
        &[&work, &nested, "STARRED"],
        &["SENT", &family],
    ];
    // Per content hash: the user labels the message carries.
    let mut want: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (i, (_, _, msg)) in mailmigrate_examples::demo::demo_messages(0x6767, 120).enumerate() {
        if msg.bytes.is_empty() {
            continue;
        }
        let labels = pools[i % pools.len()];
        gmail.seed_message(FROM, &msg.bytes, labels, 1_600_000_000_000 + i as i64);
        let names = labels
            .iter()
            .filter_map(|l| match *l {
                l if l == work => Some("Work"),
                l if l == nested => Some("Work/2026"),
                l if l == family => Some("Family"),
                _ => None,
            })
            .collect();
        want.insert(ContentHash::of(&msg.bytes).to_hex(), names);
    }
    let seeded = gmail.messages(FROM).len();
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(dir.path(), &[], &gmail, &graph);
    assert_eq!(code, Some(0), "Gmail -> Graph:\n{out}");

    // The Graph emulator's own store: one message per Gmail message, each in All Mail,
    // its labels among its categories.
    let stored = graph.messages(TO);
    assert_eq!(
        stored.len(),
        seeded,
        "one Graph message per Gmail message:\n{out}"
    );
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for m in &stored {
        assert_eq!(m.folder_path, "All Mail", "{:?}", m.id);
        // The source's content hash, which each copy carries \[graph: mailmigrate-hash\].
        let hash = m
            .extended
            .iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(HASH_PROPERTY))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| format!("no hash on {}", m.id));
        *seen.entry(hash.clone()).or_default() += 1;
        let labels = want
            .get(&hash)
            .unwrap_or_else(|| panic!("{hash} is a Gmail message's"));
        {
            for l in labels {
                assert!(
                    m.categories.iter().any(|c| c == l),
                    "label {l} as a category of {}: {:?}",
                    m.id,
                    m.categories
                );
            }
        }
    }
    assert!(seen.values().all(|n| *n == 1), "nothing twice: {seen:?}");
    let (code, out) = run(dir.path(), &["verify"], &gmail, &graph);
    assert_eq!(code, Some(0), "verify Gmail -> Graph:\n{out}");
    let (code, out) = run(dir.path(), &[], &gmail, &graph);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Nothing to do"), "{out}");
    gmail.shutdown().await;
    graph.shutdown().await;
}

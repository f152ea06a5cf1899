//! The fidelity probe against real servers: Dovecot and Cyrus store messages byte for byte,
//! the same Cyrus with its default `munge8bit` stores 8-bit header bytes as `X`; and a
//! migration to that server survives a lost state file without duplicates, because the
//! engine writes and records what the server stores.
//!
//! Targets: `MAILMIGRATE_TEST_IMAP_{DOVECOT,CYRUS}_*` and
//! `MAILMIGRATE_TEST_IMAP_CYRUS_MUNGE8BIT_PORT` (the same Cyrus, its second imapd), as written
//! by `.ci/imap-servers.sh start`. Skipped when missing, unless `MAILMIGRATE_TEST_REQUIRE`
//! contains `imap`.

use std::sync::Arc;

use bytes::Bytes;
use mailmigrate_core::engine::{Engine, MappingRules, SyncOptions};
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::verify::{verify, FolderPair, FolderRef, VerifyOptions};
use mailmigrate_core::{
    Destination, Flag, FolderPath, MessageId, MessageMeta, Provider, RawMessage,
};
use mailmigrate_imap::{Fidelity, Imap, ImapBuilder, ImapConfigKey};
use time::OffsetDateTime;

/// The second account `.ci/imap-servers.sh` creates on each server.
const SECOND_USER: &str = "mmtest2";

fn required() -> bool {
    std::env::var("MAILMIGRATE_TEST_REQUIRE")
        .is_ok_and(|v| v.split(',').any(|s| s.trim().eq_ignore_ascii_case("imap")))
}

/// Connects with the probe to server `name`, on `port` instead of its own when given.
async fn probed(name: &str, port: Option<String>) -> Option<Imap> {
    probed_as(name, port, None).await
}

/// [`probed`], logged in as `user` instead of the configured one when given.
async fn probed_as(name: &str, port: Option<String>, user: Option<&str>) -> Option<Imap> {
    let prefix = format!("MAILMIGRATE_TEST_IMAP_{name}_");
    if std::env::var(format!("{prefix}HOST")).is_err() {
        assert!(!required(), "{prefix}HOST is not set but imap is required");
        eprintln!("SKIPPED: {prefix}HOST is not set (run .ci/imap-servers.sh start)");
        return None;
    }
    let mut b = ImapBuilder::from_env_prefix(&prefix)
        .allow_plaintext(true)
        .with_fidelity_probe(true);
    if let Some(p) = port {
        b = b.with_config(ImapConfigKey::Port, p);
    }
    if let Some(u) = user {
        b = b.with_user(u);
    }
    Some(b.build().await.expect("connect"))
}

async fn munging_cyrus() -> Option<Imap> {
    let Ok(port) = std::env::var("MAILMIGRATE_TEST_IMAP_CYRUS_MUNGE8BIT_PORT") else {
        assert!(
            !required(),
            "MAILMIGRATE_TEST_IMAP_CYRUS_MUNGE8BIT_PORT is not set but imap is required"
        );
        eprintln!("SKIPPED: no munge8bit Cyrus (run .ci/imap-servers.sh start)");
        return None;
    };
    probed("CYRUS", Some(port)).await
}

async fn probe_mailboxes(imap: &Imap) -> Vec<String> {
    Provider::list_folders(imap)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path.to_string())
        .filter(|p| p.contains("mailmigrate-probe"))
        .collect()
}

#[tokio::test]
async fn the_probe_finds_what_each_server_stores_and_leaves_nothing_behind() {
    for name in ["DOVECOT", "CYRUS"] {
        let Some(imap) = probed(name, None).await else {
            continue;
        };
        assert_eq!(imap.fidelity(), Some(&Fidelity::Exact), "{name}");
        let caps = Provider::info(&imap).capabilities;
        assert!(
            caps.byte_exact && !caps.replaces_8bit_header_bytes,
            "{name}"
        );
        assert!(probe_mailboxes(&imap).await.is_empty(), "{name}");
    }
    let Some(imap) = munging_cyrus().await else {
        return;
    };
    assert_eq!(imap.fidelity(), Some(&Fidelity::HeaderEightBitReplaced));
    let caps = Provider::info(&imap).capabilities;
    assert!(caps.byte_exact && caps.replaces_8bit_header_bytes);
    assert!(probe_mailboxes(&imap).await.is_empty());
    // Without the probe the backend knows nothing of it.
    let port = std::env::var("MAILMIGRATE_TEST_IMAP_CYRUS_MUNGE8BIT_PORT").unwrap();
    let plain = ImapBuilder::from_env_prefix("MAILMIGRATE_TEST_IMAP_CYRUS_")
        .allow_plaintext(true)
        .with_config(ImapConfigKey::Port, port)
        .build()
        .await
        .unwrap();
    assert_eq!(plain.fidelity(), None);
    assert!(
        !Provider::info(&plain)
            .capabilities
            .replaces_8bit_header_bytes
    );
}

/// Messages with 8-bit header bytes (with and without Message-ID, byte-identical twins) and
/// 7-bit ones.
fn messages(folder: &mailmigrate_core::FolderId) -> Vec<RawMessage> {
    let bodies: [&[u8]; 5] = [
        "From: Zoë <z@example.org>\r\nSubject: Grüße\r\nMessage-ID: <m1@example.org>\r\n\r\nä\r\n"
            .as_bytes(),
        "From: Zoë <z@example.org>\r\nSubject: ohne Kennung, ünïcödé\r\n\r\nbody\r\n".as_bytes(),
        "From: Zoë <z@example.org>\r\nSubject: ohne Kennung, ünïcödé\r\n\r\nbody\r\n".as_bytes(),
        b"From: a@example.org\r\nSubject: ascii\r\n\r\n\xc3\xa4 in the body only\r\n",
        b"From: a@example.org\r\nSubject: ascii, no id\r\n\r\nplain\r\n",
    ];
    bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let flags = if i == 2 {
                [Flag::Seen].into_iter().collect()
            } else {
                Default::default()
            };
            RawMessage::new(
                MessageMeta::new(MessageId::new(format!("m{i}")), folder.clone())
                    .with_flags(flags)
                    .with_internal_date(OffsetDateTime::from_unix_timestamp(1_600_000_000).ok()),
                Bytes::from_static(b),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_lost_state_file_on_a_munging_server_duplicates_nothing() {
    let Some(dst) = munging_cyrus().await else {
        return;
    };
    let src = MemoryStore::new("src");
    let stamp = OffsetDateTime::now_utc().unix_timestamp_nanos();
    let root = FolderPath::new([format!("mm-munge-{}-{stamp}", std::process::id())]).unwrap();
    let folder = src.ensure_folder(&root, None).await.unwrap().id;
    let sent = messages(&folder);
    let n = sent.len() as u64;
    for r in src.append(&folder, sent).await.unwrap() {
        r.unwrap();
    }
    let mapping = MappingRules::default().with_include([root.to_string()]);
    let engine = |state: MemoryState| {
        Engine::new(
            Arc::new(src.clone()),
            Arc::new(dst.clone()),
            Arc::new(state),
        )
        .with_options(SyncOptions::new("munge").with_mapping(mapping.clone()))
    };
    let first = engine(MemoryState::new()).run().await.unwrap();
    assert!(first.is_complete(), "{first}");
    assert_eq!(first.totals.copied, n, "{first}");
    assert_eq!(first.totals.header_bytes_replaced, 3, "{first}");
    assert!(first.to_string().contains("stores as X"), "{first}");

    // The state is lost: every copy is found by its stored form, none is written again.
    let again = engine(MemoryState::new()).run().await.unwrap();
    assert!(again.is_complete(), "{again}");
    assert_eq!(
        (again.totals.copied, again.totals.deduplicated),
        (0, n),
        "{again}"
    );
    let target = Provider::list_folders(&dst)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.path == root)
        .unwrap();
    assert_eq!(dst.message_count(&target.id).await.unwrap(), n);

    // Verification compares the source in the destination's stored form: clean.
    let source = Provider::list_folders(&src)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.path == root)
        .unwrap();
    let pair = FolderPair::new(FolderRef::from(&source), Some(FolderRef::from(&target)));
    let opts = VerifyOptions::for_destination(&Provider::info(&dst).capabilities);
    assert!(opts.header_8bit_as_x);
    let report = verify(&src, &dst, &[pair], &opts).await.unwrap();
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn a_probe_mailbox_left_by_a_killed_process_is_removed_a_young_one_kept() {
    // The second test account: the other tests check that the first has no probe mailboxes.
    let Some(imap) = probed_as("DOVECOT", None, Some(SECOND_USER)).await else {
        return;
    };
    let now = OffsetDateTime::now_utc().unix_timestamp_nanos();
    let hour = 3_600 * 1_000_000_000_i128;
    let stale = format!("mailmigrate-probe-{:x}-1", now - hour);
    let young = format!("mailmigrate-probe-{:x}-2", now - 1_000);
    for name in [&stale, &young] {
        let path = FolderPath::new([name.as_str()]).unwrap();
        Destination::ensure_folder(&imap, &path, None)
            .await
            .unwrap();
    }
    let again = probed_as("DOVECOT", None, Some(SECOND_USER)).await.unwrap();
    assert_eq!(again.fidelity(), Some(&Fidelity::Exact));
    assert_eq!(probe_mailboxes(&again).await, std::slice::from_ref(&young));
    // Another process's probe under way is left alone; tidy up by hand.
    remove_by_hand(&young).await;
}

/// Deletes a mailbox on the Dovecot test account over a plain socket (the backend has no
/// folder deletion: the engine never deletes folders).
async fn remove_by_hand(name: &str) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let host = std::env::var("MAILMIGRATE_TEST_IMAP_DOVECOT_HOST").unwrap();
    let port = std::env::var("MAILMIGRATE_TEST_IMAP_DOVECOT_PORT").unwrap();
    let user = SECOND_USER;
    let pass = std::env::var("MAILMIGRATE_TEST_IMAP_DOVECOT_PASSWORD").unwrap();
    let stream = tokio::net::TcpStream::connect(format!("{host}:{port}"))
        .await
        .unwrap();
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    lines.next_line().await.unwrap();
    for (tag, cmd) in [
        ("a", format!("LOGIN \"{user}\" \"{pass}\"")),
        ("b", format!("DELETE \"{name}\"")),
    ] {
        w.write_all(format!("{tag} {cmd}\r\n").as_bytes())
            .await
            .unwrap();
        loop {
            let line = lines.next_line().await.unwrap().unwrap();
            if line.starts_with(&format!("{tag} ")) {
                assert!(line.starts_with(&format!("{tag} OK")), "{cmd}: {line}");
                break;
            }
        }
    }
}

//! Moves a generated mailbox between the real servers with the sync engine, Dovecot →
//! Cyrus and Cyrus → Dovecot, with SQLite state: the verification report shows no
//! difference, a second pass moves nothing, and a pass after adding a message and changing
//! flags moves exactly those.
//!
//! Uses the same targets as `servers.rs`; skipped unless both servers are configured (and
//! failing when `MAILMIGRATE_TEST_REQUIRE` contains `imap`).

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use mailmigrate_core::engine::{Engine, MappingRules, SyncOptions, SyncReport};
use mailmigrate_core::state::SqliteState;
use mailmigrate_core::verify::{verify, FolderPair, FolderRef, VerifyOptions};
use mailmigrate_core::{
    Change, Destination, Flag, FlagChange, Flags, FolderPath, MessageId, MessageMeta, Provider,
    RawMessage, Source,
};
use mailmigrate_imap::{Imap, ImapBuilder};
use time::{Duration, OffsetDateTime};

async fn connect(name: &str) -> Option<Imap> {
    let prefix = format!("MAILMIGRATE_TEST_IMAP_{name}_");
    if std::env::var(format!("{prefix}HOST")).is_err() {
        let required = std::env::var("MAILMIGRATE_TEST_REQUIRE")
            .is_ok_and(|v| v.split(',').any(|s| s.trim().eq_ignore_ascii_case("imap")));
        assert!(!required, "{prefix}HOST is not set but imap is required");
        eprintln!("skipping: {prefix}HOST is not set (run .ci/imap-servers.sh start)");
        return None;
    }
    Some(
        ImapBuilder::from_env_prefix(&prefix)
            .allow_plaintext(true)
            .build()
            .await
            .expect("connect"),
    )
}

/// Builds the source mailbox: nested and non-ASCII folders, flags, keywords, dates over
/// years, an attachment, a 20 MB message, a message with bare LF line ends (stored as CRLF)
/// and a truncated multipart message.
async fn seed(src: &Imap, root: &FolderPath) -> usize {
    let folders = [
        root.child("Projekte").unwrap(),
        root.child("Projekte").unwrap().child("2019").unwrap(),
        root.child("Entwürfe").unwrap(),
        root.child("日本語").unwrap(),
    ];
    let mut count = 0;
    for (fi, path) in folders.iter().enumerate() {
        let id = src.ensure_folder(path, None).await.unwrap().id;
        let mut batch = Vec::new();
        for i in 0..6 {
            let mut flags = Flags::new();
            if i % 2 == 0 {
                flags.insert(Flag::Seen);
            }
            if i % 3 == 0 {
                flags.insert(Flag::Keyword(format!("$label{i}")));
            }
            if i == 5 {
                flags.insert(Flag::Answered);
                flags.insert(Flag::Flagged);
            }
            let date = OffsetDateTime::from_unix_timestamp(1_000_000_000).unwrap()
                + Duration::days(400 * i64::from(i) + 7 * fi as i64);
            let body = format!(
                "From: Zoë <zoe@example.org>\r\nTo: team@example.org\r\nSubject: \
                 =?utf-8?q?Stra=C3=9Fe_{fi}_{i}?=\r\nMessage-ID: <seed-{fi}-{i}@example.org>\r\n\
                 MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n\
                 --xx\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo {i} – ünïcödé\r\n\
                 --xx\r\nContent-Type: application/pdf; name=a.pdf\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\n--xx--\r\n"
            );
            batch.push(RawMessage::new(
                MessageMeta::new(MessageId::new(format!("seed{i}")), id.clone())
                    .with_flags(flags)
                    .with_internal_date(Some(date)),
                Bytes::from(body),
            ));
        }
        if fi == 0 {
            let mut big = b"From: big@example.org\r\nSubject: large\r\n\r\n".to_vec();
            let line =
                b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/0123456789\r\n";
            while big.len() < 20 * 1024 * 1024 {
                big.extend_from_slice(line);
            }
            batch.push(RawMessage::new(
                MessageMeta::new(MessageId::new("big"), id.clone()),
                Bytes::from(big),
            ));
            batch.push(RawMessage::new(
                MessageMeta::new(MessageId::new("bare-lf"), id.clone()),
                Bytes::from_static(b"From: lf@example.org\nSubject: bare LF\n\nbody\n"),
            ));
            // Malformed MIME: a multipart cut off mid-part, with no closing boundary.
            batch.push(RawMessage::new(
                MessageMeta::new(MessageId::new("truncated"), id.clone()),
                Bytes::from_static(
                    b"From: cut@example.org\r\nSubject: cut\r\nMIME-Version: 1.0\r\n\
                      Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
                      Content-Type: text/plain\r\n\r\npart one, and then noth",
                ),
            ));
        }
        let names: Vec<MessageId> = batch.iter().map(|m| m.meta.id.clone()).collect();
        for (name, r) in names.iter().zip(src.append(&id, batch).await.unwrap()) {
            r.unwrap_or_else(|e| panic!("seeding {name}: {e:?}"));
            count += 1;
        }
    }
    count
}

/// Verifies every folder of the engine's plan and asserts a clean report.
async fn assert_verified(engine: &Engine, src: &Imap, dst: &Imap, label: &str) {
    let plan = engine.plan().await.unwrap();
    let dest_folders = Provider::list_folders(dst).await.unwrap();
    let pairs: Vec<FolderPair> = plan
        .copies()
        .map(|e| {
            let d = dest_folders.iter().find(|d| d.path == e.target);
            FolderPair::new(FolderRef::from(&e.source), d.map(FolderRef::from))
        })
        .collect();
    assert!(pairs.len() >= 4, "{label}: {pairs:?}");
    let opts = VerifyOptions::for_destination(&Provider::info(dst).capabilities);
    let report = verify(src, dst, &pairs, &opts).await.unwrap();
    assert!(report.is_clean(), "{label}:\n{report}");
}

fn assert_complete(r: &SyncReport, label: &str) {
    assert!(r.is_complete(), "{label}:\n{r}");
    assert_eq!(r.totals.failed, 0, "{label}:\n{r}");
}

async fn round(from: &str, to: &str) {
    let (Some(src), Some(dst)) = (connect(from).await, connect(to).await) else {
        return;
    };
    let label = format!("{from}→{to}");
    let stamp = OffsetDateTime::now_utc().unix_timestamp_nanos();
    let root = FolderPath::new([format!("mm-interop-{from}-{to}-{stamp}")]).unwrap();
    let seeded = seed(&src, &root).await as u64;

    let dir = tempfile::tempdir().unwrap();
    let state = SqliteState::open(dir.path().join("state.sqlite")).unwrap();
    let mapping = MappingRules::default().with_include([root.to_string(), format!("{root}/**")]);
    let engine = Engine::new(
        Arc::new(src.clone()),
        Arc::new(dst.clone()),
        Arc::new(state),
    )
    .with_options(SyncOptions::new(label.clone()).with_mapping(mapping));

    let first = engine.run().await.unwrap();
    assert_complete(&first, &label);
    assert_eq!(first.totals.copied, seeded, "{label}:\n{first}");
    assert_verified(&engine, &src, &dst, &label).await;

    // Nothing changed: the second pass moves nothing.
    let second = engine.run().await.unwrap();
    assert_complete(&second, &label);
    assert!(second.totals.moved_nothing(), "{label}:\n{second}");

    // Add one message and change the flags of another: exactly those move.
    let folders = Provider::list_folders(&src).await.unwrap();
    let f = folders
        .iter()
        .find(|f| f.path == root.child("Entwürfe").unwrap())
        .unwrap();
    let added = RawMessage::new(
        MessageMeta::new(MessageId::new("late"), f.id.clone()),
        Bytes::from_static(b"From: late@example.org\r\nSubject: late\r\n\r\nlate\r\n"),
    );
    src.append(&f.id, vec![added]).await.unwrap()[0]
        .as_ref()
        .unwrap();
    let mut listing = src.list_changes(&f.id, None);
    let first_id = loop {
        if let Change::Upsert(m) = listing.next().await.unwrap().unwrap() {
            break m.id;
        }
    };
    drop(listing);
    let new_flags: Flags = [Flag::Seen, Flag::Flagged, Flag::Keyword("$Later".into())]
        .into_iter()
        .collect();
    src.update_flags(&f.id, &first_id, &FlagChange::add(new_flags))
        .await
        .unwrap();
    let third = engine.run().await.unwrap();
    assert_complete(&third, &label);
    assert_eq!(
        (third.totals.copied, third.totals.flags_updated),
        (1, 1),
        "{label}:\n{third}"
    );
    assert_verified(&engine, &src, &dst, &label).await;
}

#[tokio::test]
async fn dovecot_to_cyrus_and_back() {
    round("DOVECOT", "CYRUS").await;
    round("CYRUS", "DOVECOT").await;
}

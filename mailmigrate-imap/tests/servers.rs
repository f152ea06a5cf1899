//! Integration tests against real IMAP servers (Dovecot and Cyrus).
//!
//! Targets come from `MAILMIGRATE_TEST_IMAP_{DOVECOT,CYRUS}_{HOST,PORT,USER,PASSWORD,TLS}`, as
//! written by `.ci/imap-servers.sh start` into its `env` file. A missing target is skipped
//! with a message, unless `MAILMIGRATE_TEST_REQUIRE` contains `imap`, which makes it fail.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use mailmigrate_core::{
    Change, Checkpoint, DedupeKey, Destination, Disposition, ErrorKind, Flag, FlagChange, Flags,
    FolderId, FolderPath, MessageId, MessageMeta, Provider, RawMessage, Source, SpecialUse,
};
use mailmigrate_imap::{Imap, ImapBuilder, Tls};
use time::macros::datetime;
use time::OffsetDateTime;

const SERVERS: [&str; 2] = ["DOVECOT", "CYRUS"];

/// Connects to every configured server.
async fn servers() -> Vec<(&'static str, Imap)> {
    let required = std::env::var("MAILMIGRATE_TEST_REQUIRE")
        .map(|v| v.split(',').any(|s| s.trim().eq_ignore_ascii_case("imap")))
        .unwrap_or(false);
    let mut out = Vec::new();
    for name in SERVERS {
        let prefix = format!("MAILMIGRATE_TEST_IMAP_{name}_");
        if std::env::var(format!("{prefix}HOST")).is_err() {
            assert!(
                !required,
                "{prefix}HOST is not set but MAILMIGRATE_TEST_REQUIRE asks for imap"
            );
            eprintln!("skipping {name}: {prefix}HOST is not set (run .ci/imap-servers.sh start)");
            continue;
        }
        let imap = ImapBuilder::from_env_prefix(&prefix)
            .allow_plaintext(true)
            .with_pool_size(3)
            .build()
            .await
            .unwrap_or_else(|e| panic!("{name}: cannot connect: {e:?}"));
        out.push((name, imap));
    }
    out
}

/// A folder path unique to this test run.
fn unique(test: &str) -> FolderPath {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    let n = N.fetch_add(1, Ordering::Relaxed);
    FolderPath::new([format!("mm-test-{}-{nanos}-{n}-{test}", std::process::id())]).unwrap()
}

fn flags(list: &[Flag]) -> Flags {
    list.iter().cloned().collect()
}

fn message(subject: &str, extra: &str) -> Bytes {
    Bytes::from(format!(
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}.{}@example.org>\r\nDate: Mon, 4 Mar 2019 05:06:07 +0200\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln – {extra}\r\n",
        std::process::id()
    ))
}

fn raw(folder: &FolderId, bytes: Bytes, f: Flags, date: Option<OffsetDateTime>) -> RawMessage {
    RawMessage::new(
        MessageMeta::new(MessageId::new("src"), folder.clone())
            .with_flags(f)
            .with_internal_date(date),
        bytes,
    )
}

async fn list(
    imap: &Imap,
    folder: &FolderId,
    since: Option<Checkpoint>,
) -> (Vec<Change>, Checkpoint) {
    let changes: Vec<Change> = imap
        .list_changes(folder, since)
        .map(|c| c.expect("listing failed"))
        .collect()
        .await;
    let Some(Change::Checkpoint(cp)) = changes.last().cloned() else {
        panic!("listing did not end with a checkpoint: {changes:?}");
    };
    (changes[..changes.len() - 1].to_vec(), cp)
}

fn upserts(changes: &[Change]) -> Vec<MessageMeta> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Upsert(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// The ids of the copies `find_existing` finds for `key`, lowest UID first.
async fn copy_ids(imap: &Imap, folder: &FolderId, key: &DedupeKey) -> Vec<MessageId> {
    let found = imap.find_existing(folder, key).await.unwrap();
    found.into_iter().map(|c| c.id).collect()
}

#[tokio::test]
async fn nested_and_non_ascii_folders_are_created_listed_and_subscribed() {
    for (name, imap) in servers().await {
        let root = unique("folders");
        let leaf = root
            .child("Entwürfe")
            .unwrap()
            .child("日本語 & more")
            .unwrap();
        let made = imap.ensure_folder(&leaf, None).await.unwrap();
        assert!(made.created, "{name}: first ensure creates");
        let again = imap.ensure_folder(&leaf, None).await.unwrap();
        assert!(!again.created, "{name}: second ensure finds it");
        assert_eq!(again.id, made.id);
        assert!(
            made.id.as_str().is_ascii(),
            "{name}: wire name is modified UTF-7"
        );

        let inbox = imap
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap();
        assert!(!inbox.created);

        let folders = Provider::list_folders(&imap).await.unwrap();
        let found = folders
            .iter()
            .find(|f| f.path == leaf)
            .unwrap_or_else(|| panic!("{name}: {leaf} not listed"));
        assert_eq!(found.id, made.id);
        assert!(found.selectable && found.subscribed, "{name}: {found:?}");
        assert!(
            folders.iter().any(|f| f.path == root),
            "{name}: parent listed"
        );
        assert!(folders
            .iter()
            .any(|f| f.path.is_inbox() && f.role == Some(SpecialUse::Inbox)));
        // The private test servers mark Sent with its special use.
        assert!(
            folders.iter().any(|f| f.role == Some(SpecialUse::Sent)),
            "{name}: SPECIAL-USE roles are read"
        );

        // A segment holding the server's separator cannot be stored.
        let sep = imap.separator().unwrap_or('/');
        let bad = FolderPath::new([format!("a{sep}b")]).unwrap();
        let err = imap.ensure_folder(&bad, None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{name}");
    }
}

#[tokio::test]
async fn ensure_folder_with_role_uses_create_special_use_where_offered() {
    for (name, imap) in servers().await {
        let path = unique("archive-role");
        let made = imap
            .ensure_folder(&path, Some(SpecialUse::Archive))
            .await
            .unwrap();
        assert!(made.created);
        let has_csu = imap
            .server_capabilities()
            .any(|c| c == "CREATE-SPECIAL-USE");
        let folders = Provider::list_folders(&imap).await.unwrap();
        let f = folders.iter().find(|f| f.id == made.id).unwrap();
        if has_csu {
            // The role goes to the new folder unless an earlier run's folder holds it already
            // (a server may allow one folder per role); the folder is created either way.
            let holders = folders
                .iter()
                .filter(|f| f.role == Some(SpecialUse::Archive))
                .count();
            assert!(holders >= 1, "{name}: no folder has the Archive role");
            assert!(
                f.role == Some(SpecialUse::Archive) || holders == 1,
                "{name}"
            );
        } else {
            assert_eq!(f.role, None, "{name}");
        }
    }
}

#[tokio::test]
async fn append_then_fetch_is_byte_exact_with_flags_keywords_and_dates() {
    for (name, imap) in servers().await {
        let folder = imap
            .ensure_folder(&unique("roundtrip"), None)
            .await
            .unwrap()
            .id;
        let attachment = "A".repeat(76);
        let multipart = Bytes::from(format!(
            "From: a@example.org\r\nSubject: =?utf-8?q?R=C3=A9sum=C3=A9?=\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
             Content-Type: text/plain\r\n\r\nsee attached\r\n--b1\r\n\
             Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             {attachment}\r\n{attachment}\r\n--b1--\r\n"
        ));
        let cases = [
            (
                message("seen-flagged", "one"),
                flags(&[
                    Flag::Seen,
                    Flag::Flagged,
                    Flag::Keyword("$Forwarded".into()),
                    Flag::Keyword("project_x".into()),
                ]),
                Some(datetime!(2011-05-06 07:08:09 +01:30)),
            ),
            (
                message("unread", "two"),
                Flags::new(),
                Some(datetime!(1999-12-31 23:59:59 -08:00)),
            ),
            (
                multipart,
                flags(&[Flag::Answered, Flag::Draft]),
                Some(datetime!(2024-02-29 12:00:00 +00:00)),
            ),
        ];
        let msgs: Vec<RawMessage> = cases
            .iter()
            .map(|(b, f, d)| raw(&folder, b.clone(), f.clone(), *d))
            .collect();
        let results = imap.append(&folder, msgs).await.unwrap();
        assert_eq!(results.len(), cases.len());
        let ids: Vec<MessageId> = results
            .into_iter()
            .map(|r| r.unwrap().id.expect("UIDPLUS gives APPENDUID"))
            .collect();

        let fetched: Vec<_> = imap.fetch(&folder, ids.clone()).collect().await;
        assert_eq!(fetched.len(), ids.len(), "{name}");
        for (id, res) in fetched {
            let i = ids.iter().position(|x| *x == id).unwrap();
            let msg = res.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let (bytes, f, d) = &cases[i];
            assert_eq!(&msg.bytes, bytes, "{name}: bytes of {id}");
            assert_eq!(&msg.meta.flags, f, "{name}: flags of {id}");
            assert_eq!(msg.meta.internal_date, *d, "{name}: date of {id}");
            assert_eq!(msg.meta.id, id);
        }

        // BODY.PEEK never sets \Seen.
        let (changes, _) = list(&imap, &folder, None).await;
        let listed = upserts(&changes);
        assert_eq!(listed.len(), 3);
        let unread = listed.iter().find(|m| m.id == ids[1]).unwrap();
        assert!(
            !unread.flags.contains(&Flag::Seen),
            "{name}: fetch marked it read"
        );
        assert_eq!(unread.size, Some(cases[1].0.len() as u64));

        // An unknown or malformed id is one failed item, not a failed batch.
        let (uv, _) = ids[0].as_str().split_once(':').unwrap();
        let missing = MessageId::new(format!("{uv}:999999"));
        let out: Vec<_> = imap
            .fetch(
                &folder,
                vec![missing.clone(), MessageId::new("junk"), ids[0].clone()],
            )
            .collect()
            .await;
        assert_eq!(out.len(), 3);
        for (id, r) in out {
            if id == ids[0] {
                assert!(r.is_ok());
            } else {
                let e = r.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::NotFound, "{name}: {e}");
                assert_eq!(e.context("message"), Some(id.as_str()));
            }
        }
    }
}

#[tokio::test]
async fn incremental_listing_returns_only_what_changed() {
    for (name, imap) in servers().await {
        let folder = imap
            .ensure_folder(&unique("incremental"), None)
            .await
            .unwrap()
            .id;
        let first: Vec<RawMessage> = (0..5)
            .map(|i| {
                raw(
                    &folder,
                    message(&format!("inc{i}"), "x"),
                    Flags::new(),
                    None,
                )
            })
            .collect();
        let ids: Vec<MessageId> = imap
            .append(&folder, first)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap().id.unwrap())
            .collect();

        let (changes, cp1) = list(&imap, &folder, None).await;
        assert_eq!(upserts(&changes).len(), 5, "{name}");
        assert!(!changes.contains(&Change::Reset));
        assert_eq!(imap.message_count(&folder).await.unwrap(), 5, "{name}");

        // No change: nothing but the checkpoint.
        let (changes, cp2) = list(&imap, &folder, Some(cp1.clone())).await;
        assert!(changes.is_empty(), "{name}: {changes:?}");
        assert_eq!(cp2, cp1);

        // One new message and one flag change: exactly those two.
        let new = imap
            .append(
                &folder,
                vec![raw(&folder, message("inc-new", "y"), Flags::new(), None)],
            )
            .await
            .unwrap()
            .remove(0)
            .unwrap()
            .id
            .unwrap();
        imap.update_flags(
            &folder,
            &ids[2],
            &FlagChange::add(flags(&[Flag::Seen, Flag::Keyword("$Label1".into())])),
        )
        .await
        .unwrap();
        let (changes, cp3) = list(&imap, &folder, Some(cp1)).await;
        let got: BTreeSet<MessageId> = upserts(&changes).into_iter().map(|m| m.id).collect();
        let want: BTreeSet<MessageId> = [new, ids[2].clone()].into_iter().collect();
        assert_eq!(got, want, "{name}");
        let changed = upserts(&changes)
            .into_iter()
            .find(|m| m.id == ids[2])
            .unwrap();
        assert!(changed.flags.contains(&Flag::Keyword("$Label1".into())));
        let (changes, _) = list(&imap, &folder, Some(cp3.clone())).await;
        assert!(changes.is_empty(), "{name}");

        // An expunge shows up as Removed where the server can report it (QRESYNC).
        imap.delete(&folder, &ids[4..5]).await.unwrap();
        assert_eq!(
            imap.message_count(&folder).await.unwrap(),
            5,
            "{name}: 6 less 1"
        );
        let missing = imap.mailbox_name(&unique("no-such-folder")).unwrap();
        assert_eq!(
            imap.message_count(&missing).await.unwrap_err().kind(),
            ErrorKind::NotFound,
            "{name}"
        );
        // Pipelined: a missing folder fails its own entry only.
        let counts = imap
            .status_counts(&[
                folder.clone(),
                missing,
                FolderId::new("INBOX"),
                folder.clone(),
            ])
            .await
            .unwrap();
        assert_eq!(counts.len(), 4, "{name}");
        assert_eq!(counts[0].as_ref().ok(), Some(&5), "{name}");
        assert_eq!(counts[1].as_ref().unwrap_err().kind(), ErrorKind::NotFound);
        assert!(counts[2].is_ok(), "{name}: {:?}", counts[2]);
        assert_eq!(counts[3].as_ref().ok(), Some(&5), "{name}");
        let (changes, _) = list(&imap, &folder, Some(cp3)).await;
        if Provider::info(&imap).capabilities.list_removals {
            assert_eq!(changes, [Change::Removed(ids[4].clone())], "{name}");
        } else {
            assert!(upserts(&changes).is_empty(), "{name}: {changes:?}");
        }

        // A checkpoint from another UIDVALIDITY resets and lists everything.
        let stale = Checkpoint::new("imap1:1:1:1");
        let (changes, _) = list(&imap, &folder, Some(stale)).await;
        assert_eq!(changes.first(), Some(&Change::Reset), "{name}");
        assert_eq!(upserts(&changes).len(), 5);
    }
}

#[tokio::test]
async fn find_existing_matches_by_message_id_or_size_then_hash() {
    for (name, imap) in servers().await {
        let folder = imap
            .ensure_folder(&unique("dedupe"), None)
            .await
            .unwrap()
            .id;
        let with_id = raw(&folder, message("dedupe", "a"), Flags::new(), None);
        let no_id = raw(
            &folder,
            Bytes::from_static(b"From: x@example.org\r\nSubject: no id\r\n\r\nbody\r\n"),
            Flags::new(),
            None,
        );
        let out = imap
            .append(&folder, vec![with_id.clone(), no_id.clone()])
            .await
            .unwrap();
        let a = out[0].as_ref().unwrap().id.clone().unwrap();
        let b = out[1].as_ref().unwrap().id.clone().unwrap();

        assert_eq!(
            copy_ids(&imap, &folder, &DedupeKey::of(&with_id)).await,
            vec![a]
        );
        assert_eq!(
            copy_ids(&imap, &folder, &DedupeKey::of(&no_id)).await,
            vec![b]
        );
        // Same Message-ID, different bytes: not a copy.
        let other = raw(
            &folder,
            message("dedupe", "changed body"),
            Flags::new(),
            None,
        );
        assert!(
            copy_ids(&imap, &folder, &DedupeKey::of(&other))
                .await
                .is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn update_flags_and_delete() {
    for (name, imap) in servers().await {
        let folder = imap.ensure_folder(&unique("flags"), None).await.unwrap().id;
        let ids: Vec<MessageId> = imap
            .append(
                &folder,
                (0..3)
                    .map(|i| {
                        raw(
                            &folder,
                            message(&format!("fl{i}"), "z"),
                            flags(&[Flag::Seen]),
                            None,
                        )
                    })
                    .collect(),
            )
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap().id.unwrap())
            .collect();
        let want = flags(&[Flag::Flagged, Flag::Keyword("todo".into())]);
        let change = FlagChange::add(want.clone());
        imap.update_flags(&folder, &ids[0], &change).await.unwrap();
        // The same change again changes nothing; Dovecot then answers without an untagged
        // FETCH, which is not a missing message.
        imap.update_flags(&folder, &ids[0], &change).await.unwrap();
        let (_, got) = imap
            .fetch(&folder, vec![ids[0].clone()])
            .next()
            .await
            .unwrap();
        // Added: the flag the message had stays.
        let mut with_seen = want.clone();
        with_seen.insert(Flag::Seen);
        assert_eq!(got.unwrap().meta.flags, with_seen, "{name}");
        // Removed: only what the change names goes.
        let unseen = FlagChange::between(&with_seen, &want);
        imap.update_flags(&folder, &ids[0], &unseen).await.unwrap();
        let (_, got) = imap
            .fetch(&folder, vec![ids[0].clone()])
            .next()
            .await
            .unwrap();
        assert_eq!(got.unwrap().meta.flags, want, "{name}");

        let (uv, _) = ids[0].as_str().split_once(':').unwrap();
        let gone = MessageId::new(format!("{uv}:999999"));
        let e = imap
            .update_flags(&folder, &gone, &change)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{name}");

        imap.delete(&folder, &ids[1..2]).await.unwrap();
        let (changes, _) = list(&imap, &folder, None).await;
        let left: BTreeSet<MessageId> = upserts(&changes).into_iter().map(|m| m.id).collect();
        assert_eq!(
            left,
            [ids[0].clone(), ids[2].clone()].into_iter().collect(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_rejected_message_fails_alone() {
    for (name, imap) in servers().await {
        let folder = imap
            .ensure_folder(&unique("rejected"), None)
            .await
            .unwrap()
            .id;
        let good1 = raw(&folder, message("ok1", "1"), Flags::new(), None);
        let empty = RawMessage::new(
            MessageMeta::new(MessageId::new("empty"), folder.clone()),
            Bytes::new(),
        );
        let nul = RawMessage::new(
            MessageMeta::new(MessageId::new("nul"), folder.clone()),
            Bytes::from_static(b"Subject: nul\r\n\r\nbad \0 byte\r\n"),
        );
        let good2 = raw(&folder, message("ok2", "2"), Flags::new(), None);
        let out = imap
            .append(&folder, vec![good1, empty, nul, good2])
            .await
            .unwrap();
        assert_eq!(out.len(), 4);
        assert!(out[0].is_ok(), "{name}: {:?}", out[0]);
        assert!(
            out[3].is_ok(),
            "{name}: the batch goes on after a rejection: {:?}",
            out[3]
        );
        let e = out[1].as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidMessage, "{name}: {e:?}");
        assert_eq!(e.context("message"), Some("empty"));
        assert!(!e.is_temporary());
        // A NUL byte is refused by some servers and stored by others; never a batch failure.
        if let Err(e) = &out[2] {
            assert_eq!(e.context("message"), Some("nul"), "{name}");
        }

        // Appending into a folder that does not exist fails the batch with NotFound.
        let missing = FolderId::new(format!("{}-missing", folder.as_str()));
        let e = imap
            .append(
                &missing,
                vec![raw(&missing, message("x", "y"), Flags::new(), None)],
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{name}: {e:?}");
    }
}

#[tokio::test]
async fn wrong_password_is_unauthenticated_and_plaintext_needs_opt_in() {
    let e = ImapBuilder::new()
        .with_host("127.0.0.1")
        .with_user("u")
        .with_password("p")
        .with_tls(Tls::Plaintext)
        .build()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);

    // Cyrus runs with sasl_pwcheck_method alwaystrue, so only Dovecot can refuse a password.
    if let Ok(host) = std::env::var("MAILMIGRATE_TEST_IMAP_DOVECOT_HOST") {
        let port: u16 = std::env::var("MAILMIGRATE_TEST_IMAP_DOVECOT_PORT")
            .unwrap()
            .parse()
            .unwrap();
        let e = ImapBuilder::new()
            .with_host(host)
            .with_port(port)
            .with_user("mmtest1")
            .with_password("definitely-wrong-password")
            .with_tls(Tls::Plaintext)
            .allow_plaintext(true)
            .build()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e:?}");
        assert!(!format!("{e:?}").contains("definitely-wrong-password"));

        // The LOGIN command works as well as AUTHENTICATE PLAIN.
        let imap = dovecot_user()
            .with_host(std::env::var("MAILMIGRATE_TEST_IMAP_DOVECOT_HOST").unwrap())
            .with_port(port)
            .with_tls(Tls::Plaintext)
            .allow_plaintext(true)
            .with_auth_mechanism(mailmigrate_imap::AuthMechanism::Login)
            .build()
            .await
            .unwrap();
        assert!(Provider::list_folders(&imap)
            .await
            .unwrap()
            .iter()
            .any(|f| f.path.is_inbox()));
    }
}

/// The Dovecot TLS target: (host, plain port, implicit-TLS port, CA file).
fn dovecot_tls() -> Option<(String, u16, u16, String)> {
    let get = |k: &str| std::env::var(format!("MAILMIGRATE_TEST_IMAP_{k}")).ok();
    let required = std::env::var("MAILMIGRATE_TEST_REQUIRE")
        .map(|v| v.split(',').any(|s| s.trim().eq_ignore_ascii_case("imap")))
        .unwrap_or(false);
    let found = (|| {
        Some((
            get("DOVECOT_HOST")?,
            get("DOVECOT_PORT")?.parse().ok()?,
            get("DOVECOT_TLS_PORT")?.parse().ok()?,
            get("CA_FILE")?,
        ))
    })();
    if found.is_none() {
        assert!(!required, "the Dovecot TLS target is not configured");
        eprintln!("skipping TLS tests: MAILMIGRATE_TEST_IMAP_DOVECOT_TLS_PORT / _CA_FILE not set");
    }
    found
}

fn dovecot_user() -> ImapBuilder {
    ImapBuilder::new()
        .with_user(std::env::var("MAILMIGRATE_TEST_IMAP_DOVECOT_USER").unwrap())
        .with_password(std::env::var("MAILMIGRATE_TEST_IMAP_DOVECOT_PASSWORD").unwrap())
}

#[tokio::test]
async fn certificate_verification_is_on_by_default() {
    let Some((host, port, tls_port, _)) = dovecot_tls() else {
        return;
    };
    // The test CA is not a public root: both TLS modes must refuse the certificate.
    for (tls, p) in [(Tls::Implicit, tls_port), (Tls::StartTls, port)] {
        let e = dovecot_user()
            .with_host(&host)
            .with_port(p)
            .with_tls(tls)
            .build()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{tls:?}: {e:?}");
        assert!(
            !e.is_temporary(),
            "{tls:?}: a bad certificate does not fix itself"
        );
        assert!(e.message().contains("TLS"), "{tls:?}: {e}");
    }
}

#[tokio::test]
async fn implicit_tls_and_starttls_work_with_a_trusted_ca() {
    let Some((host, port, tls_port, ca)) = dovecot_tls() else {
        return;
    };
    for (tls, p) in [(Tls::Implicit, tls_port), (Tls::StartTls, port)] {
        let imap = dovecot_user()
            .with_host(&host)
            .with_port(p)
            .with_tls(tls)
            .with_ca_file(&ca)
            .build()
            .await
            .unwrap_or_else(|e| panic!("{tls:?}: {e:?}"));
        let folders = Provider::list_folders(&imap).await.unwrap();
        assert!(folders.iter().any(|f| f.path.is_inbox()), "{tls:?}");
    }
}

#[tokio::test]
async fn acls_are_read_and_written_where_the_server_has_them() {
    for (name, imap) in servers().await {
        let folder = imap.ensure_folder(&unique("acl"), None).await.unwrap().id;
        let has_acl = imap.server_capabilities().any(|c| c == "ACL");
        if !has_acl {
            let e = imap.acl(&folder).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{name}");
            continue;
        }
        let mine = imap.my_rights(&folder).await.unwrap();
        assert!(
            mine.contains('a') && mine.contains('l'),
            "{name}: owner rights {mine}"
        );
        imap.set_acl(&folder, &mailmigrate_imap::AclEntry::new("mmtest2", "lrs"))
            .await
            .unwrap();
        let acl = imap.acl(&folder).await.unwrap();
        let entry = acl
            .iter()
            .find(|e| e.identifier == "mmtest2")
            .unwrap_or_else(|| panic!("{name}: {acl:?}"));
        assert_eq!(entry.rights, "lrs", "{name}");
        imap.set_acl(&folder, &mailmigrate_imap::AclEntry::new("mmtest2", ""))
            .await
            .unwrap();
        let acl = imap.acl(&folder).await.unwrap();
        assert!(
            acl.iter().all(|e| e.identifier != "mmtest2"),
            "{name}: {acl:?}"
        );
        let e = imap
            .set_acl(&folder, &mailmigrate_imap::AclEntry::new("x", "l r"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    }
}

#[tokio::test]
async fn one_connection_is_enough_to_read_and_write_at_once() {
    for name in SERVERS {
        let prefix = format!("MAILMIGRATE_TEST_IMAP_{name}_");
        if std::env::var(format!("{prefix}HOST")).is_err() {
            continue;
        }
        let imap = ImapBuilder::from_env_prefix(&prefix)
            .allow_plaintext(true)
            .with_pool_size(1)
            .build()
            .await
            .unwrap();
        let from = imap
            .ensure_folder(&unique("one-conn-src"), None)
            .await
            .unwrap()
            .id;
        let to = imap
            .ensure_folder(&unique("one-conn-dst"), None)
            .await
            .unwrap()
            .id;
        let ids: Vec<MessageId> = imap
            .append(
                &from,
                (0..3)
                    .map(|i| raw(&from, message(&format!("one{i}"), "x"), Flags::new(), None))
                    .collect(),
            )
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap().id.unwrap())
            .collect();
        // Copy while iterating the fetch stream, through the same single connection.
        let copy = async {
            let mut stream = imap.fetch(&from, ids.clone());
            let mut n = 0;
            while let Some((_, msg)) = stream.next().await {
                let out = imap.append(&to, vec![msg.unwrap()]).await.unwrap();
                assert!(out[0].is_ok());
                n += 1;
            }
            n
        };
        let n = tokio::time::timeout(std::time::Duration::from_secs(60), copy)
            .await
            .unwrap_or_else(|_| panic!("{name}: the fetch held the only connection"));
        assert_eq!(n, 3, "{name}");
    }
}

/// Appends `messages` one batch at a time and returns their ids, in order.
async fn append_all(imap: &Imap, folder: &FolderId, messages: Vec<RawMessage>) -> Vec<MessageId> {
    let mut ids = Vec::with_capacity(messages.len());
    for chunk in messages.chunks(16) {
        for r in imap.append(folder, chunk.to_vec()).await.unwrap() {
            ids.push(r.unwrap().id.expect("UIDPLUS gives the id"));
        }
    }
    ids
}

fn bare(folder: &FolderId, text: String) -> RawMessage {
    raw(folder, Bytes::from(text), Flags::new(), None)
}

#[tokio::test]
async fn find_existing_compares_every_look_alike_and_returns_twins() {
    for (name, imap) in servers().await {
        let folder = imap
            .ensure_folder(&unique("lookalikes"), None)
            .await
            .unwrap()
            .id;
        // Message-IDs that contain each other, more than one fetch batch of them, and
        // messages without a Message-ID that all have the same size.
        let mut messages = Vec::new();
        for n in 1..=40 {
            let body = format!("body {n:02}\r\n");
            messages.push(bare(&folder, format!("Message-ID: <a{n}@x>\r\n\r\n{body}")));
            messages.push(bare(&folder, format!("Message-ID: <{n}a@x>\r\n\r\n{body}")));
            messages.push(bare(
                &folder,
                format!("Subject: s{n:02}\r\n\r\nsame size\r\n"),
            ));
        }
        let twin = bare(&folder, "Message-ID: <a@x>\r\n\r\ntwin\r\n".to_owned());
        let last = bare(&folder, "Subject: s41\r\n\r\nsame size\r\n".to_owned());
        messages.extend([twin.clone(), twin.clone(), last.clone()]);
        let ids = append_all(&imap, &folder, messages.clone()).await;
        let n = ids.len();

        let found = copy_ids(&imap, &folder, &DedupeKey::of(&twin)).await;
        assert_eq!(found, ids[n - 3..n - 1], "{name}: both twins, in UID order");
        let found = copy_ids(&imap, &folder, &DedupeKey::of(&last)).await;
        assert_eq!(found, [ids[n - 1].clone()], "{name}: among 41 of one size");
        // `<a1@x>` is a substring of `<a10@x>`…: only the exact one is a copy.
        let found = copy_ids(&imap, &folder, &DedupeKey::of(&messages[0])).await;
        assert_eq!(found, [ids[0].clone()], "{name}");
        // A key without a size (rebuilt from the ledger) still finds its copy.
        for i in [2, n - 1] {
            let mut key = DedupeKey::of(&messages[i]);
            key.size = None;
            let found = copy_ids(&imap, &folder, &key).await;
            assert_eq!(found, [ids[i].clone()], "{name}: message {i} without size");
        }
    }
}

#[tokio::test]
async fn find_existing_sees_what_another_connection_appended() {
    let readers = servers().await;
    let writers = servers().await;
    for ((name, reader), (_, writer)) in readers.into_iter().zip(writers) {
        let folder = writer
            .ensure_folder(&unique("fresh"), None)
            .await
            .unwrap()
            .id;
        let first = raw(&folder, message("fresh-first", "1"), Flags::new(), None);
        append_all(&writer, &folder, vec![first.clone()]).await;
        let with_id = raw(&folder, message("fresh", "2"), Flags::new(), None);
        let no_id = bare(&folder, "Subject: fresh, no id\r\n\r\nbody\r\n".to_owned());
        // The reader selects the folder and reads its sizes before the copies exist.
        for m in [&with_id, &no_id] {
            let found = copy_ids(&reader, &folder, &DedupeKey::of(m)).await;
            assert!(found.is_empty(), "{name}: {found:?}");
        }
        let ids = append_all(&writer, &folder, vec![with_id.clone(), no_id.clone()]).await;
        for (m, id) in [&with_id, &no_id].into_iter().zip(ids) {
            let found = copy_ids(&reader, &folder, &DedupeKey::of(m)).await;
            assert_eq!(found, [id], "{name}: appended by another connection");
        }
    }
}

#[tokio::test]
async fn refusals_for_the_message_s_sake_are_final() {
    for (name, imap) in servers().await {
        let folder = imap
            .ensure_folder(&unique("refusals"), None)
            .await
            .unwrap()
            .id;
        let no_header = bare(&folder, "just text, no header\r\n".to_owned());
        let bad_header = bare(
            &folder,
            "Subject: x\r\nnot a header\r\n\r\nbody\r\n".to_owned(),
        );
        let out = imap
            .append(&folder, vec![no_header, bad_header])
            .await
            .unwrap();
        for r in out {
            match r {
                // Dovecot stores what it is given.
                Ok(a) => assert_eq!(name, "DOVECOT", "{a:?}"),
                // Cyrus: "NO Message contains invalid header".
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::InvalidMessage, "{name}: {e:?}");
                    assert_eq!(e.disposition(), Disposition::Final, "{name}");
                }
            }
        }
    }
}

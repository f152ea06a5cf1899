//! Behaviour of the Maildir and mbox stores through the `Source` and `Destination` traits:
//! byte-exact round trips, flags, folder names, dedupe, crash recovery and foreign files.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use mailmigrate_core::store::{MaildirStore, MboxStore};
use mailmigrate_core::{
    Change, DedupeKey, Destination, ErrorKind, Flag, FlagChange, Flags, FolderId, FolderPath,
    MessageId, MessageMeta, Provider, RawMessage, Source, SpecialUse, Store,
};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Maildir,
    Mbox,
}

const KINDS: [Kind; 2] = [Kind::Maildir, Kind::Mbox];

impl Kind {
    fn open(self, root: &Path) -> Arc<dyn Store> {
        match self {
            Kind::Maildir => Arc::new(MaildirStore::open(root).unwrap()),
            Kind::Mbox => Arc::new(MboxStore::open(root).unwrap()),
        }
    }
}

fn path(s: &[&str]) -> FolderPath {
    FolderPath::new(s.iter().copied()).unwrap()
}

fn raw(bytes: impl Into<Bytes>) -> RawMessage {
    RawMessage::new(
        MessageMeta::new(MessageId::new("src"), FolderId::new("src")),
        bytes.into(),
    )
}

async fn ensure(store: &Arc<dyn Store>, p: &FolderPath) -> FolderId {
    store.ensure_folder(p, None).await.unwrap().id
}

async fn append_ok(
    store: &Arc<dyn Store>,
    folder: &FolderId,
    msgs: Vec<RawMessage>,
) -> Vec<MessageId> {
    store
        .append(folder, msgs)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap().id.expect("the store returns ids"))
        .collect()
}

/// Lists a folder, checking that the listing ends with exactly one checkpoint.
async fn list(store: &Arc<dyn Store>, folder: &FolderId) -> Vec<MessageMeta> {
    let changes: Vec<Change> = store
        .list_changes(folder, None)
        .map(|c| c.unwrap())
        .collect()
        .await;
    let (last, rest) = changes.split_last().expect("a checkpoint");
    assert!(matches!(last, Change::Checkpoint(_)), "{last:?}");
    rest.iter()
        .map(|c| match c {
            Change::Upsert(m) => m.clone(),
            other => panic!("unexpected change {other:?}"),
        })
        .collect()
}

async fn fetch_one(store: &Arc<dyn Store>, folder: &FolderId, id: &MessageId) -> RawMessage {
    let mut s = store.fetch(folder, vec![id.clone()]);
    let (got, r) = s.next().await.expect("one result");
    assert_eq!(&got, id);
    assert!(s.next().await.is_none());
    r.unwrap()
}

fn tricky_messages() -> Vec<Vec<u8>> {
    vec![
        b"Subject: crlf\r\nMessage-ID: <crlf@x>\r\n\r\nline one\r\nline two\r\n".to_vec(),
        b"Subject: bare lf\n\nbody\n".to_vec(),
        b"Subject: from lines\n\nFrom the start\n>From quoted\n>>From twice\nFromage\n From x\n"
            .to_vec(),
        b"From nobody Mon Jan  1 00:00:00 2001\nSubject: starts like an mbox\n\nx\n".to_vec(),
        b"Subject: nul\n\na\x00b\x00\n".to_vec(),
        b"Subject: 8bit \xe9t\xe9 \xff\n\n\xc3\xa9\xe9\n".to_vec(),
        b"Subject: no trailing newline\n\nlast line".to_vec(),
        b"Subject: ends with from\n\nx\nFrom ".to_vec(),
        b"Subject: trailing blank lines\n\nbody\n\n\n".to_vec(),
        b"Subject: cr only\r\rbody\r".to_vec(),
        b"Subject: crlf from\r\n\r\nFrom me\r\n\r\nFrom you\r\n".to_vec(),
        b"x".to_vec(),
        b"\n".to_vec(),
    ]
}

#[tokio::test]
async fn tricky_messages_round_trip_byte_exact() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let store = kind.open(dir.path());
        assert!(Provider::info(&*store).capabilities.byte_exact);
        let inbox = ensure(&store, &FolderPath::inbox()).await;
        let bodies = tricky_messages();
        let ids = append_ok(&store, &inbox, bodies.iter().cloned().map(raw).collect()).await;
        assert_eq!(ids.len(), bodies.len());
        let unique: BTreeSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{kind:?}: ids are unique");

        // Read back through this instance and through a fresh one (no cached state).
        let reopened = kind.open(dir.path());
        for s in [&store, &reopened] {
            let fetched: Vec<_> = s.fetch(&inbox, ids.clone()).collect().await;
            assert_eq!(fetched.len(), ids.len());
            for (id, r) in fetched {
                let i = ids.iter().position(|x| *x == id).unwrap();
                let m = r.unwrap();
                assert_eq!(&m.bytes[..], &bodies[i][..], "{kind:?}: message {i}");
                assert_eq!(m.meta.size, Some(bodies[i].len() as u64));
            }
            let listed = list(s, &inbox).await;
            assert_eq!(listed.len(), bodies.len(), "{kind:?}");
            for meta in listed {
                let i = ids.iter().position(|x| *x == meta.id).unwrap();
                assert_eq!(
                    meta.size,
                    Some(bodies[i].len() as u64),
                    "{kind:?}: size of {i}"
                );
            }
        }
    }
}

#[tokio::test]
async fn flags_keywords_and_dates_round_trip() {
    let date = time::macros::datetime!(2019-03-04 05:06:07 UTC);
    let flags: Flags = [
        Flag::Seen,
        Flag::Answered,
        Flag::Flagged,
        Flag::Draft,
        Flag::Deleted,
        Flag::Keyword("$Forwarded".into()),
        Flag::Keyword("work".into()),
    ]
    .into_iter()
    .collect();
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let store = kind.open(dir.path());
        let folder = ensure(&store, &path(&["Archive"])).await;
        let mut m = raw(&b"Subject: flags\n\nbody\n"[..]);
        m.meta = m
            .meta
            .with_flags(flags.clone())
            .with_internal_date(Some(date));
        let plain = raw(&b"Subject: plain\n\nbody\n"[..]);
        let ids = append_ok(&store, &folder, vec![m, plain]).await;

        let listed = list(&kind.open(dir.path()), &folder).await;
        let flagged = listed.iter().find(|x| x.id == ids[0]).unwrap();
        assert_eq!(flagged.flags, flags, "{kind:?}");
        assert_eq!(flagged.internal_date, Some(date), "{kind:?}");
        let plain = listed.iter().find(|x| x.id == ids[1]).unwrap();
        assert!(plain.flags.is_empty(), "{kind:?}");
        assert!(
            plain.internal_date.is_some(),
            "{kind:?}: a date is always known"
        );
        let fetched = fetch_one(&store, &folder, &ids[0]).await;
        assert_eq!(fetched.meta.flags, flags);
        assert_eq!(fetched.meta.internal_date, Some(date));
    }
}

#[tokio::test]
async fn maildir_flags_are_dovecot_compatible_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Kind::Maildir.open(dir.path());
    let inbox = ensure(&store, &FolderPath::inbox()).await;
    let mut m = raw(&b"Subject: x\n\n"[..]);
    let flags: Flags = [Flag::Seen, Flag::Deleted, Flag::Keyword("$Label1".into())]
        .into_iter()
        .collect();
    let date = time::macros::datetime!(2020-01-02 03:04:05 UTC);
    m.meta = m.meta.with_flags(flags).with_internal_date(Some(date));
    let id = append_ok(&store, &inbox, vec![m]).await.remove(0);
    let file = dir.path().join("cur").join(format!("{id}:2,STa"));
    assert!(file.is_file(), "{}", file.display());
    assert_eq!(
        fs::read_to_string(dir.path().join("dovecot-keywords")).unwrap(),
        "0 $Label1\n"
    );
    let mtime = fs::metadata(&file).unwrap().modified().unwrap();
    assert_eq!(mtime, SystemTime::from(date));
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}

#[tokio::test]
async fn folder_names_nest_and_escape_reversibly() {
    let names: Vec<FolderPath> = vec![
        path(&["Archive", "2020"]),
        path(&["Früh/Spät"]),
        path(&["a.b", "c%d", "e\\f"]),
        path(&["INBOX", "child"]),
        path(&["Sent"]),
        path(&["..", "."]),
    ];
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let store = kind.open(dir.path());
        let inbox = store
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap();
        let mut ids = Vec::new();
        for p in &names {
            let e = store.ensure_folder(p, None).await.unwrap();
            assert!(e.created, "{kind:?}: {p}");
            let again = store.ensure_folder(p, None).await.unwrap();
            assert!(!again.created, "{kind:?}: {p}");
            assert_eq!(again.id, e.id);
            ids.push(e.id);
        }
        // Every folder stays inside the root.
        for entry in walk(dir.path()) {
            assert!(entry.starts_with(dir.path()));
        }
        let listed = Provider::list_folders(&*kind.open(dir.path()))
            .await
            .unwrap();
        let paths: BTreeSet<String> = listed.iter().map(|f| f.path.to_string()).collect();
        for p in &names {
            assert!(
                paths.contains(&p.to_string()),
                "{kind:?}: {p} not in {paths:?}"
            );
        }
        // Parents were created too.
        assert!(
            paths.contains("Archive") && paths.contains("a.b/c%d"),
            "{paths:?}"
        );
        let role = |p: &str| {
            listed
                .iter()
                .find(|f| f.path.to_string() == p)
                .unwrap()
                .role
        };
        assert_eq!(role("Sent"), Some(SpecialUse::Sent));
        assert_eq!(role("INBOX"), Some(SpecialUse::Inbox));
        assert_eq!(role("Archive/2020"), None);
        for f in &listed {
            let want = names.iter().position(|p| *p == f.path).map(|i| &ids[i]);
            if let Some(want) = want {
                assert_eq!(&f.id, want, "{kind:?}");
            }
        }
        // Messages land in the right folder.
        let id = append_ok(&store, &ids[2], vec![raw(&b"Subject: deep\n\n"[..])]).await;
        assert_eq!(list(&store, &ids[2]).await.len(), 1);
        assert_eq!(list(&store, &ids[0]).await.len(), 0);
        assert_eq!(list(&store, &inbox.id).await.len(), 0);
        assert_eq!(
            &fetch_one(&store, &ids[2], &id[0]).await.bytes[..],
            b"Subject: deep\n\n"
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[tokio::test]
async fn update_flags_keeps_the_id() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let store = kind.open(dir.path());
        let inbox = ensure(&store, &FolderPath::inbox()).await;
        let ids = append_ok(
            &store,
            &inbox,
            vec![raw(&b"Subject: a\n\n"[..]), raw(&b"Subject: b\n\n"[..])],
        )
        .await;
        let new_flags: Flags = [Flag::Seen, Flag::Keyword("todo".into())]
            .into_iter()
            .collect();
        let set = FlagChange::add(new_flags.clone());
        store.update_flags(&inbox, &ids[1], &set).await.unwrap();
        store.update_flags(&inbox, &ids[1], &set).await.unwrap();
        for s in [&store, &kind.open(dir.path())] {
            let listed = list(s, &inbox).await;
            let b = listed.iter().find(|m| m.id == ids[1]).unwrap();
            assert_eq!(b.flags, new_flags, "{kind:?}");
            let a = listed.iter().find(|m| m.id == ids[0]).unwrap();
            assert!(a.flags.is_empty(), "{kind:?}");
            assert_eq!(
                &fetch_one(s, &inbox, &ids[1]).await.bytes[..],
                b"Subject: b\n\n"
            );
        }
        let clear = FlagChange::between(&new_flags, &Flags::new());
        store.update_flags(&inbox, &ids[1], &clear).await.unwrap();
        let listed = list(&kind.open(dir.path()), &inbox).await;
        assert!(listed.iter().all(|m| m.flags.is_empty()), "{kind:?}");

        let missing = store
            .update_flags(&inbox, &MessageId::new("999999"), &set)
            .await
            .unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound, "{kind:?}");
        assert_eq!(missing.context("message"), Some("999999"));
        assert_eq!(missing.context("folder"), Some(inbox.as_str()));
    }
}

#[tokio::test]
async fn find_existing_after_a_lost_append_result() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let store = kind.open(dir.path());
        let inbox = ensure(&store, &FolderPath::inbox()).await;
        let msg = raw(&b"Message-ID: <lost@x>\nSubject: lost\n\nbody 1\n"[..]);
        let same_size_other = raw(&b"Message-ID: <lost@x>\nSubject: lost\n\nbody 2\n"[..]);
        let noise = raw(&b"Subject: other\n\nsomething else entirely\n"[..]);
        let _ = store
            .append(&inbox, vec![noise, msg.clone()])
            .await
            .unwrap();

        let found = kind
            .open(dir.path())
            .find_existing(&inbox, &DedupeKey::of(&msg))
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{kind:?}");
        assert_eq!(
            fetch_one(&store, &inbox, &found[0].id).await.bytes,
            msg.bytes
        );
        let none = store
            .find_existing(&inbox, &DedupeKey::of(&same_size_other))
            .await
            .unwrap();
        assert!(none.is_empty(), "{kind:?}");
        // A second copy is found too.
        let _ = store.append(&inbox, vec![msg.clone()]).await.unwrap();
        let two = store
            .find_existing(&inbox, &DedupeKey::of(&msg))
            .await
            .unwrap();
        assert_eq!(two.len(), 2, "{kind:?}");
    }
}

#[tokio::test]
async fn a_25_mb_message_round_trips() {
    let mut big = b"Subject: big\r\nMessage-ID: <big@x>\r\n\r\n".to_vec();
    let mut i = 0u32;
    while big.len() < 25 * 1024 * 1024 {
        if i.is_multiple_of(1000) {
            big.extend_from_slice(b"From a line that needs quoting\r\n");
        }
        big.extend_from_slice(
            format!("line {i:08} of a large attachment body .......\r\n").as_bytes(),
        );
        i += 1;
    }
    big.extend_from_slice(b"\x00\xff tail without newline");
    let big = Bytes::from(big);
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let store = kind.open(dir.path());
        let inbox = ensure(&store, &FolderPath::inbox()).await;
        let ids = append_ok(
            &store,
            &inbox,
            vec![raw(big.clone()), raw(&b"Subject: small\n\n"[..])],
        )
        .await;
        let fetched = fetch_one(&kind.open(dir.path()), &inbox, &ids[0]).await;
        assert_eq!(fetched.bytes.len(), big.len(), "{kind:?}");
        assert!(fetched.bytes == big, "{kind:?}: bytes differ");
        let small = fetch_one(&store, &inbox, &ids[1]).await;
        assert_eq!(&small.bytes[..], b"Subject: small\n\n");
        let found = store
            .find_existing(&inbox, &DedupeKey::of(&raw(big.clone())))
            .await
            .unwrap();
        assert_eq!(found.iter().map(|c| &c.id).collect::<Vec<_>>(), [&ids[0]]);
    }
}

#[tokio::test]
async fn empty_messages_fail_alone() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let store = kind.open(dir.path());
        let inbox = ensure(&store, &FolderPath::inbox()).await;
        let mut empty = raw(Bytes::new());
        empty.meta.id = MessageId::new("empty-1");
        let out = store
            .append(
                &inbox,
                vec![
                    raw(&b"Subject: 1\n\n"[..]),
                    empty,
                    raw(&b"Subject: 2\n\n"[..]),
                ],
            )
            .await
            .unwrap();
        assert_eq!(out.len(), 3);
        assert!(out[0].is_ok() && out[2].is_ok(), "{kind:?}");
        let e = out[1].as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidMessage, "{kind:?}");
        assert_eq!(e.context("message"), Some("empty-1"));
        assert_eq!(e.context("folder"), Some(inbox.as_str()));
        assert_eq!(
            list(&kind.open(dir.path()), &inbox).await.len(),
            2,
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn unknown_folders_and_messages_are_not_found() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let store = kind.open(dir.path());
        let inbox = ensure(&store, &FolderPath::inbox()).await;
        let ghost = FolderId::new("../elsewhere");
        let e = store
            .append(&ghost, vec![raw(&b"S: x\n\n"[..])])
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{kind:?}");
        let first = store.list_changes(&ghost, None).next().await.unwrap();
        assert_eq!(first.unwrap_err().kind(), ErrorKind::NotFound);
        let (_, r) = store
            .fetch(&inbox, vec![MessageId::new("12345")])
            .next()
            .await
            .unwrap();
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{kind:?}");
        assert_eq!(e.context("message"), Some("12345"));
        assert_eq!(e.context("folder"), Some(inbox.as_str()));
    }
}

#[tokio::test]
async fn maildir_delete_removes_files_and_ignores_missing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Kind::Maildir.open(dir.path());
    let inbox = ensure(&store, &FolderPath::inbox()).await;
    let ids = append_ok(
        &store,
        &inbox,
        vec![raw(&b"S: 1\n\n"[..]), raw(&b"S: 2\n\n"[..])],
    )
    .await;
    store
        .delete(&inbox, &[ids[0].clone(), MessageId::new("gone")])
        .await
        .unwrap();
    let left = list(&store, &inbox).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, ids[1]);
}

#[tokio::test]
async fn mbox_delete_is_unsupported_as_declared() {
    let dir = tempfile::tempdir().unwrap();
    let store = Kind::Mbox.open(dir.path());
    assert!(!Provider::info(&*store).capabilities.delete);
    let inbox = ensure(&store, &FolderPath::inbox()).await;
    let ids = append_ok(&store, &inbox, vec![raw(&b"S: 1\n\n"[..])]).await;
    let e = store.delete(&inbox, &ids).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(list(&store, &inbox).await.len(), 1);
}

#[tokio::test]
async fn maildir_ignores_leftovers_in_tmp() {
    let dir = tempfile::tempdir().unwrap();
    let store = Kind::Maildir.open(dir.path());
    let inbox = ensure(&store, &FolderPath::inbox()).await;
    append_ok(&store, &inbox, vec![raw(&b"S: 1\n\n"[..])]).await;
    // What a process killed mid-append leaves behind.
    fs::write(
        dir.path().join("tmp/1700000000.M1P9.host"),
        b"Subject: half",
    )
    .unwrap();
    assert_eq!(list(&store, &inbox).await.len(), 1);
}

/// Appends three messages to a fresh mbox INBOX and returns the store, folder, ids, bodies.
async fn mbox_with_three(dir: &Path) -> (Arc<dyn Store>, FolderId, Vec<MessageId>, Vec<Vec<u8>>) {
    let store = Kind::Mbox.open(dir);
    let inbox = ensure(&store, &FolderPath::inbox()).await;
    let bodies: Vec<Vec<u8>> = (0..3)
        .map(|i| format!("Subject: {i}\n\nFrom body {i}\nmore text {i}\n").into_bytes())
        .collect();
    let ids = append_ok(&store, &inbox, bodies.iter().cloned().map(raw).collect()).await;
    (store, inbox, ids, bodies)
}

#[tokio::test]
async fn mbox_recovers_from_a_truncated_last_message() {
    let dir = tempfile::tempdir().unwrap();
    let (_, inbox, ids, bodies) = mbox_with_three(dir.path()).await;
    let file = dir.path().join("INBOX");
    let len = fs::metadata(&file).unwrap().len();
    let third: u64 = ids[2].as_str().parse().unwrap();
    let cut = third + (len - third) / 2;
    fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(cut)
        .unwrap();

    let store = Kind::Mbox.open(dir.path());
    let listed = list(&store, &inbox).await;
    let listed_ids: Vec<_> = listed.iter().map(|m| m.id.clone()).collect();
    assert_eq!(listed_ids, ids[..2].to_vec());
    for (i, id) in ids[..2].iter().enumerate() {
        assert_eq!(fetch_one(&store, &inbox, id).await.bytes, bodies[i]);
    }
    let (_, r) = store
        .fetch(&inbox, vec![ids[2].clone()])
        .next()
        .await
        .unwrap();
    assert_eq!(r.unwrap_err().kind(), ErrorKind::NotFound);
    // Reading leaves the file alone.
    assert_eq!(fs::metadata(&file).unwrap().len(), cut);
    // The next append keeps the cut tail aside and continues where the last whole
    // message ends.
    let new = append_ok(&store, &inbox, vec![raw(&b"Subject: after\n\n"[..])]).await;
    assert_eq!(new[0], ids[2], "the next message takes the freed offset");
    let tail = fs::read(dir.path().join(format!("INBOX.mmtail-{third}"))).unwrap();
    assert_eq!(tail.len() as u64, cut - third);
    let reopened = Kind::Mbox.open(dir.path());
    assert_eq!(list(&reopened, &inbox).await.len(), 3);
    assert_eq!(
        &fetch_one(&reopened, &inbox, &new[0]).await.bytes[..],
        b"Subject: after\n\n"
    );
    let folders = Provider::list_folders(&*reopened).await.unwrap();
    assert_eq!(
        folders.len(),
        1,
        "recovery files are not folders: {folders:?}"
    );
}

#[tokio::test]
async fn mbox_recovers_from_garbage_after_the_last_message() {
    let dir = tempfile::tempdir().unwrap();
    let (_, inbox, ids, bodies) = mbox_with_three(dir.path()).await;
    let file = dir.path().join("INBOX");
    let len = fs::metadata(&file).unwrap().len();
    let mut f = fs::OpenOptions::new().append(true).open(&file).unwrap();
    std::io::Write::write_all(&mut f, b"From half Mon Jan  1 00:00:00 2001\nSubject: hal").unwrap();
    drop(f);

    let store = Kind::Mbox.open(dir.path());
    let listed = list(&store, &inbox).await;
    assert_eq!(listed.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), ids);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(fetch_one(&store, &inbox, id).await.bytes, bodies[i]);
    }
    // An append moves the garbage aside first: the new message starts where it was.
    let new = append_ok(&store, &inbox, vec![raw(&b"Subject: next\n\n"[..])]).await;
    assert_eq!(new[0].as_str(), len.to_string());
    let reopened = Kind::Mbox.open(dir.path());
    let listed = list(&reopened, &inbox).await;
    assert_eq!(listed.len(), 4);
    assert_eq!(
        &fetch_one(&reopened, &inbox, &new[0]).await.bytes[..],
        b"Subject: next\n\n"
    );
}

#[tokio::test]
async fn mbox_drops_a_torn_index_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_, inbox, ids, _) = mbox_with_three(dir.path()).await;
    let idx = dir.path().join("INBOX.mmidx");
    let text = fs::read(&idx).unwrap();
    // Cut the last index line in half: the third message was never confirmed.
    let last_start = text[..text.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    fs::write(&idx, &text[..last_start + 10]).unwrap();
    let store = Kind::Mbox.open(dir.path());
    let listed = list(&store, &inbox).await;
    assert_eq!(
        listed.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        ids[..2].to_vec()
    );
}

#[tokio::test]
async fn mbox_reports_an_index_that_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let (_, inbox, _, _) = mbox_with_three(dir.path()).await;
    let idx = dir.path().join("INBOX.mmidx");
    fs::write(&idx, b"{not json}\n").unwrap();
    let store = Kind::Mbox.open(dir.path());
    let e = store
        .list_changes(&inbox, None)
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StateCorrupt);
    assert_eq!(e.context("folder"), Some("INBOX"));
}

#[tokio::test]
async fn foreign_mbox_with_status_headers_is_read_without_changes() {
    let dir = tempfile::tempdir().unwrap();
    let text: &[u8] = b"From alice@example.com Mon Jan  7 10:11:12 2019\n\
Status: RO\n\
X-Status: AF\n\
X-Keywords: $Label1 work\n\
Message-ID: <one@example.com>\n\
Subject: one\n\
\n\
>From the body\n\
\n\
From bob@example.com Tue Feb  5 01:02:03 2019\n\
Status: O\n\
X-Gmail-Labels: Important,\"Work, misc\",Opened\n\
Subject: two\n\
\n\
second\n\
\n\
From carol@example.com Wed Mar  6 00:00:00 2019\n\
Subject: three\n\
\n\
no trailing newline";
    let archive = dir.path().join("Archive.sbd");
    fs::create_dir_all(&archive).unwrap();
    fs::write(dir.path().join("Archive"), b"").unwrap();
    fs::write(archive.join("2019"), text).unwrap();
    fs::write(archive.join("2019.msf"), b"thunderbird summary").unwrap();

    let store = Kind::Mbox.open(dir.path());
    let folders = Provider::list_folders(&*store).await.unwrap();
    let paths: Vec<String> = folders.iter().map(|f| f.path.to_string()).collect();
    assert_eq!(paths, ["Archive", "Archive/2019"]);
    let folder = folders[1].id.clone();
    let listed = list(&store, &folder).await;
    assert_eq!(listed.len(), 3);

    let want_flags: Flags = [
        Flag::Seen,
        Flag::Answered,
        Flag::Flagged,
        Flag::Keyword("$Label1".into()),
        Flag::Keyword("work".into()),
    ]
    .into_iter()
    .collect();
    assert_eq!(listed[0].flags, want_flags);
    assert_eq!(listed[0].message_id.as_deref(), Some("one@example.com"));
    assert_eq!(
        listed[0].internal_date,
        Some(time::macros::datetime!(2019-01-07 10:11:12 UTC))
    );
    assert_eq!(listed[1].flags, [Flag::Seen].into_iter().collect::<Flags>());
    let labels: BTreeSet<String> = ["Important", "Work, misc", "Opened"]
        .map(String::from)
        .into();
    assert_eq!(listed[1].labels, labels);
    assert!(listed[2].flags.is_empty());

    let ids: Vec<MessageId> = listed.iter().map(|m| m.id.clone()).collect();
    let first = fetch_one(&store, &folder, &ids[0]).await;
    assert_eq!(
        &first.bytes[..],
        &b"Status: RO\nX-Status: AF\nX-Keywords: $Label1 work\nMessage-ID: <one@example.com>\nSubject: one\n\nFrom the body\n"[..]
    );
    let third = fetch_one(&store, &folder, &ids[2]).await;
    assert_eq!(&third.bytes[..], b"Subject: three\n\nno trailing newline");
    // The mbox itself is untouched; a sidecar index now sits next to it.
    assert_eq!(fs::read(archive.join("2019")).unwrap(), text);
    assert!(archive.join("2019.mmidx").is_file());
    // Flags changed later live in the index only.
    store
        .update_flags(
            &folder,
            &ids[2],
            &FlagChange::add([Flag::Seen].into_iter().collect()),
        )
        .await
        .unwrap();
    assert_eq!(fs::read(archive.join("2019")).unwrap(), text);
    let again = list(&Kind::Mbox.open(dir.path()), &folder).await;
    assert!(again[2].flags.contains(&Flag::Seen));
    assert_eq!(again[0].flags, want_flags);
}

#[tokio::test]
async fn maildir_reads_a_folder_made_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let folder_dir = dir.path().join(".Work.Projects%2E2020");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(folder_dir.join(sub)).unwrap();
    }
    fs::write(folder_dir.join("dovecot-keywords"), "0 $Label1\n1 urgent\n").unwrap();
    let a = folder_dir.join("cur/1500000000.M100P200.mail.example.com,S=20,W=21:2,FSb");
    fs::write(&a, b"Subject: a\r\n\r\nbody\r\n").unwrap();
    let b = folder_dir.join("new/1500000001.M5P6.mail.example.com");
    fs::write(&b, b"Subject: b\n\nnew mail\n").unwrap();
    let c = folder_dir.join("cur/1500000002.M7P8.host:2,PRT");
    fs::write(&c, b"Subject: c\n\n").unwrap();
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(when)
        .unwrap();

    let store = Kind::Maildir.open(dir.path());
    let folders = Provider::list_folders(&*store).await.unwrap();
    let f = folders
        .iter()
        .find(|f| f.path == path(&["Work", "Projects.2020"]))
        .unwrap_or_else(|| panic!("{folders:?}"));
    let listed = list(&store, &f.id).await;
    assert_eq!(listed.len(), 3);
    let get = |prefix: &str| {
        listed
            .iter()
            .find(|m| m.id.as_str().starts_with(prefix))
            .unwrap()
    };
    let ma = get("1500000000");
    assert_eq!(
        ma.id.as_str(),
        "1500000000.M100P200.mail.example.com,S=20,W=21"
    );
    assert_eq!(
        ma.flags,
        [Flag::Flagged, Flag::Seen, Flag::Keyword("urgent".into())]
            .into_iter()
            .collect::<Flags>()
    );
    assert_eq!(
        ma.internal_date,
        OffsetDateTime::from_unix_timestamp(1_500_000_000).ok()
    );
    assert!(get("1500000001").flags.is_empty());
    assert_eq!(
        get("1500000002").flags,
        [
            Flag::Keyword("$Forwarded".into()),
            Flag::Answered,
            Flag::Deleted
        ]
        .into_iter()
        .collect::<Flags>()
    );
    let fetched = fetch_one(&store, &f.id, &ma.id).await;
    assert_eq!(&fetched.bytes[..], b"Subject: a\r\n\r\nbody\r\n");
    // Changing flags of the message in new/ moves it to cur/ under the same id.
    let nb = get("1500000001").id.clone();
    store
        .update_flags(
            &f.id,
            &nb,
            &FlagChange::add([Flag::Seen].into_iter().collect()),
        )
        .await
        .unwrap();
    assert!(!b.exists());
    assert!(folder_dir.join(format!("cur/{nb}:2,S")).is_file());
    assert_eq!(
        &fetch_one(&store, &f.id, &nb).await.bytes[..],
        b"Subject: b\n\nnew mail\n"
    );
}

#[tokio::test]
async fn clones_share_state() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let a: Arc<dyn Store> = match kind {
            Kind::Maildir => Arc::new(MaildirStore::open(dir.path()).unwrap()),
            Kind::Mbox => Arc::new(MboxStore::open(dir.path()).unwrap()),
        };
        let b = Arc::clone(&a);
        let inbox = ensure(&a, &FolderPath::inbox()).await;
        let id = append_ok(&a, &inbox, vec![raw(&b"S: 1\n\n"[..])])
            .await
            .remove(0);
        assert_eq!(&fetch_one(&b, &inbox, &id).await.bytes[..], b"S: 1\n\n");
    }
}

#[tokio::test]
async fn mbox_files_read_back_the_same_without_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Kind::Mbox.open(dir.path());
    let inbox = ensure(&store, &FolderPath::inbox()).await;
    let bodies = tricky_messages();
    let ids = append_ok(&store, &inbox, bodies.iter().cloned().map(raw).collect()).await;
    drop(store);
    // Another mboxrd reader sees the same messages at the same offsets; only a newline the
    // writer had to add to a message without one remains (the index normally removes it).
    fs::remove_file(dir.path().join("INBOX.mmidx")).unwrap();
    let store = Kind::Mbox.open(dir.path());
    let listed = list(&store, &inbox).await;
    assert_eq!(listed.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), ids);
    for (i, id) in ids.iter().enumerate() {
        let mut want = bodies[i].clone();
        if !want.ends_with(b"\n") {
            want.push(b'\n');
        }
        assert_eq!(
            fetch_one(&store, &inbox, id).await.bytes,
            want,
            "message {i}"
        );
    }
}

#[tokio::test]
async fn appending_to_a_foreign_mbox_without_final_newline() {
    let dir = tempfile::tempdir().unwrap();
    let foreign: &[u8] =
        b"From a@b Mon Jan  1 00:00:00 2001\nSubject: old\n\nno newline at the end";
    fs::write(dir.path().join("Saved"), foreign).unwrap();
    let store = Kind::Mbox.open(dir.path());
    let folder = FolderId::new("Saved");
    let old = list(&store, &folder).await;
    assert_eq!(old.len(), 1);
    let new = append_ok(&store, &folder, vec![raw(&b"Subject: new\n\nbody\n"[..])]).await;
    for s in [&store, &Kind::Mbox.open(dir.path())] {
        let listed = list(s, &folder).await;
        assert_eq!(listed.len(), 2);
        assert_eq!(
            &fetch_one(s, &folder, &old[0].id).await.bytes[..],
            b"Subject: old\n\nno newline at the end"
        );
        assert_eq!(
            &fetch_one(s, &folder, &new[0]).await.bytes[..],
            b"Subject: new\n\nbody\n"
        );
    }
    // The file still splits into the same two messages for any mbox reader.
    fs::remove_file(dir.path().join("Saved.mmidx")).unwrap();
    let rescanned = Kind::Mbox.open(dir.path());
    let listed = list(&rescanned, &folder).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(
        &fetch_one(&rescanned, &folder, &old[0].id).await.bytes[..],
        b"Subject: old\n\nno newline at the end"
    );
    assert_eq!(
        &fetch_one(&rescanned, &folder, &new[0]).await.bytes[..],
        b"Subject: new\n\nbody\n"
    );
}

#[tokio::test]
async fn mbox_keeps_every_cut_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (_, inbox, ids, _) = mbox_with_three(dir.path()).await;
    let file = dir.path().join("INBOX");
    let mut count = ids.len();
    for garbage in [&b"first junk"[..], &b"second junk"[..]] {
        let len = fs::metadata(&file).unwrap().len();
        let mut f = fs::OpenOptions::new().append(true).open(&file).unwrap();
        std::io::Write::write_all(&mut f, garbage).unwrap();
        drop(f);
        let store = Kind::Mbox.open(dir.path());
        assert_eq!(list(&store, &inbox).await.len(), count);
        append_ok(&store, &inbox, vec![raw(&b"Subject: more\n\n"[..])]).await;
        count += 1;
        assert_eq!(list(&store, &inbox).await.len(), count);
        let tail = fs::read(dir.path().join(format!("INBOX.mmtail-{len}"))).unwrap();
        assert_eq!(tail, garbage);
    }
}

#[tokio::test]
async fn maildir_rejects_a_27th_keyword_for_that_message_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Kind::Maildir.open(dir.path());
    let inbox = ensure(&store, &FolderPath::inbox()).await;
    let many: Flags = (0..26).map(|i| Flag::Keyword(format!("k{i}"))).collect();
    let mut full = raw(&b"Subject: 26 keywords\n\n"[..]);
    full.meta = full.meta.with_flags(many.clone());
    let mut extra = raw(&b"Subject: one more\n\n"[..]);
    extra.meta.id = MessageId::new("src-27");
    extra.meta = extra
        .meta
        .with_flags([Flag::Keyword("k26".into())].into_iter().collect());
    let fine = raw(&b"Subject: fine\n\n"[..]);
    let out = store.append(&inbox, vec![full, extra, fine]).await.unwrap();
    assert!(out[0].is_ok() && out[2].is_ok());
    let e = out[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(e.context("message"), Some("src-27"));
    let listed = list(&store, &inbox).await;
    assert_eq!(listed.len(), 2);
    let id = out[0].as_ref().unwrap().id.clone().unwrap();
    assert_eq!(listed.iter().find(|m| m.id == id).unwrap().flags, many);
}

#[tokio::test]
async fn mbox_batch_of_only_empty_messages_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let foreign: &[u8] = b"From a@b Mon Jan  1 00:00:00 2001\nSubject: old\n\nno newline";
    fs::write(dir.path().join("Saved"), foreign).unwrap();
    let store = Kind::Mbox.open(dir.path());
    let folder = FolderId::new("Saved");
    let out = store
        .append(&folder, vec![raw(Bytes::new())])
        .await
        .unwrap();
    assert_eq!(
        out[0].as_ref().unwrap_err().kind(),
        ErrorKind::InvalidMessage
    );
    assert_eq!(fs::read(dir.path().join("Saved")).unwrap(), foreign);
    assert_eq!(list(&store, &folder).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_through_clones_all_land() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let store = kind.open(dir.path());
        let inbox = ensure(&store, &FolderPath::inbox()).await;
        let mut tasks = Vec::new();
        for t in 0..4 {
            let store = Arc::clone(&store);
            let inbox = inbox.clone();
            tasks.push(tokio::spawn(async move {
                let mut sent = Vec::new();
                for b in 0..5 {
                    let batch: Vec<RawMessage> = (0..20)
                        .map(|i| {
                            raw(format!("Subject: t{t} b{b} m{i}\n\nFrom task {t}\n").into_bytes())
                        })
                        .collect();
                    sent.extend(batch.iter().map(|m| m.bytes.clone()));
                    let ids = append_ok(&store, &inbox, batch).await;
                    assert_eq!(ids.len(), 20);
                }
                sent
            }));
        }
        let mut sent = BTreeSet::new();
        for t in tasks {
            sent.extend(t.await.unwrap());
        }
        // 400 messages: more than one listing chunk.
        let listed = list(&kind.open(dir.path()), &inbox).await;
        assert_eq!(listed.len(), 400, "{kind:?}");
        let ids: Vec<MessageId> = listed.iter().map(|m| m.id.clone()).collect();
        let unique: BTreeSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), 400, "{kind:?}");
        let got: BTreeSet<Bytes> = store
            .fetch(&inbox, ids)
            .map(|(_, r)| r.unwrap().bytes)
            .collect()
            .await;
        assert_eq!(got, sent, "{kind:?}");
    }
}

#[tokio::test]
async fn names_too_long_for_the_file_system_are_config_errors() {
    let long = "x".repeat(300);
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let store = kind.open(dir.path());
        let e = store
            .ensure_folder(&path(&[&long]), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{kind:?}");
        assert!(e.context("folder").is_some());
        // A long name that fits still works.
        let ok = "y".repeat(200);
        store.ensure_folder(&path(&[&ok]), None).await.unwrap();
    }
}

#[tokio::test]
async fn maildir_drops_recent_and_rejects_invalid_keywords() {
    let dir = tempfile::tempdir().unwrap();
    let store = Kind::Maildir.open(dir.path());
    let inbox = ensure(&store, &FolderPath::inbox()).await;
    let mut recent = raw(&b"Subject: r\n\n"[..]);
    recent.meta = recent
        .meta
        .with_flags([Flag::parse("\\Recent"), Flag::Seen].into_iter().collect());
    let mut bad = raw(&b"Subject: b\n\n"[..]);
    bad.meta = bad
        .meta
        .with_flags([Flag::Keyword("two words".into())].into_iter().collect());
    let out = store.append(&inbox, vec![recent, bad]).await.unwrap();
    let id = out[0].as_ref().unwrap().id.clone().unwrap();
    assert_eq!(
        out[1].as_ref().unwrap_err().kind(),
        ErrorKind::InvalidMessage
    );
    let listed = list(&store, &inbox).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].flags, [Flag::Seen].into_iter().collect::<Flags>());
}

#[tokio::test]
async fn mbox_finds_any_message_in_a_large_folder() {
    let dir = tempfile::tempdir().unwrap();
    let store = Kind::Mbox.open(dir.path());
    let inbox = ensure(&store, &FolderPath::inbox()).await;
    let bodies: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("Subject: {i}\n\n{}\n", "x".repeat(i % 17)).into_bytes())
        .collect();
    let mut ids = Vec::new();
    for chunk in bodies.chunks(100) {
        ids.extend(append_ok(&store, &inbox, chunk.iter().cloned().map(raw).collect()).await);
    }
    let seen: Flags = [Flag::Seen].into_iter().collect();
    for i in [0, 3, 63, 64, 65, 130, 299] {
        store
            .update_flags(&inbox, &ids[i], &FlagChange::add(seen.clone()))
            .await
            .unwrap();
    }
    for s in [&store, &Kind::Mbox.open(dir.path())] {
        for i in [0, 1, 63, 64, 65, 128, 255, 256, 299] {
            let m = fetch_one(s, &inbox, &ids[i]).await;
            assert_eq!(m.bytes, bodies[i], "message {i}");
            assert_eq!(
                m.meta.flags.contains(&Flag::Seen),
                [0, 3, 63, 64, 65, 130, 299].contains(&i)
            );
        }
        let listed = list(s, &inbox).await;
        assert_eq!(listed.len(), 300);
        let flagged: Vec<usize> = listed
            .iter()
            .filter(|m| m.flags.contains(&Flag::Seen))
            .map(|m| ids.iter().position(|x| *x == m.id).unwrap())
            .collect();
        assert_eq!(flagged, [0, 3, 63, 64, 65, 130, 299]);
        // An offset inside a message is no message.
        let inside = MessageId::new((ids[100].as_str().parse::<u64>().unwrap() + 1).to_string());
        let (_, r) = s.fetch(&inbox, vec![inside]).next().await.unwrap();
        assert_eq!(r.unwrap_err().kind(), ErrorKind::NotFound);
    }
    // Reopening folded the flag changes into the index entries.
    let text = fs::read_to_string(dir.path().join("INBOX.mmidx")).unwrap();
    assert_eq!(text.lines().count(), 300);
}

#[tokio::test]
async fn foreign_mbox_in_a_directory_that_takes_no_index_is_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let text: &[u8] = b"From a@b Mon Jan  1 00:00:00 2001\nSubject: 1\n\none\n\nFrom a@b Mon Jan  1 00:00:00 2001\nSubject: 2\n\ntwo\n";
    fs::write(dir.path().join("Old"), text).unwrap();
    // Something in the way of the sidecar index (as a read-only directory would be).
    fs::create_dir(dir.path().join("Old.mmidx")).unwrap();
    fs::write(dir.path().join("Old.mmidx/blocker"), b"").unwrap();
    let store = Kind::Mbox.open(dir.path());
    let folder = FolderId::new("Old");
    let listed = list(&store, &folder).await;
    assert_eq!(listed.len(), 2);
    // The last newline of the file is the separator after the last message.
    assert_eq!(
        &fetch_one(&store, &folder, &listed[1].id).await.bytes[..],
        b"Subject: 2\n\ntwo"
    );
    store
        .update_flags(
            &folder,
            &listed[0].id,
            &FlagChange::add([Flag::Flagged].into_iter().collect()),
        )
        .await
        .unwrap();
    assert!(list(&store, &folder).await[0]
        .flags
        .contains(&Flag::Flagged));
    assert_eq!(fs::read(dir.path().join("Old")).unwrap(), text);
    assert!(!dir.path().join("Old.mmidx.tmp").exists());
    // The index went to the temp directory, named after the mbox path.
    let key = blake3::hash(dir.path().join("Old").as_os_str().as_encoded_bytes()).to_hex();
    let idx = std::env::temp_dir().join(format!("mailmigrate-{}.mmidx", &key[..32]));
    assert!(idx.is_file());
    fs::remove_file(idx).unwrap();
}

#[tokio::test]
async fn mbox_index_with_impossible_numbers_is_state_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (_, inbox, _, _) = mbox_with_three(dir.path()).await;
    let idx = dir.path().join("INBOX.mmidx");
    let text = fs::read_to_string(&idx).unwrap();
    let first = text.lines().next().unwrap();
    let mut rec: serde_json::Value = serde_json::from_str(first).unwrap();
    rec["q"] = serde_json::json!(u64::MAX);
    fs::write(&idx, format!("{rec}\n")).unwrap();
    let store = Kind::Mbox.open(dir.path());
    let e = store
        .list_changes(&inbox, None)
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StateCorrupt);
}

#[tokio::test]
async fn roles_given_at_creation_are_remembered() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let store = kind.open(dir.path());
        let sent = store
            .ensure_folder(&path(&["Gesendet"]), Some(SpecialUse::Sent))
            .await
            .unwrap()
            .id;
        let junk = store
            .ensure_folder(&path(&["Mail", "Unerwünscht"]), Some(SpecialUse::Junk))
            .await
            .unwrap()
            .id;
        // A role the name implies needs no record; asking again changes nothing.
        store
            .ensure_folder(&path(&["Trash"]), Some(SpecialUse::Trash))
            .await
            .unwrap();
        store
            .ensure_folder(&path(&["Gesendet"]), None)
            .await
            .unwrap();
        let folders = Provider::list_folders(&*kind.open(dir.path()))
            .await
            .unwrap();
        let role = |id: &FolderId| folders.iter().find(|f| f.id == *id).unwrap().role;
        assert_eq!(role(&sent), Some(SpecialUse::Sent), "{kind:?}");
        assert_eq!(role(&junk), Some(SpecialUse::Junk), "{kind:?}");
        let trash = folders.iter().find(|f| f.path == path(&["Trash"])).unwrap();
        assert_eq!(trash.role, Some(SpecialUse::Trash));
        let mail = folders.iter().find(|f| f.path == path(&["Mail"])).unwrap();
        assert_eq!(mail.role, None);
        // The roles file is no folder.
        assert_eq!(
            folders
                .iter()
                .filter(|f| f.path.to_string().contains("roles"))
                .count(),
            0
        );
    }
}

#[tokio::test]
async fn reading_an_mbox_never_modifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, inbox, ids, _) = mbox_with_three(dir.path()).await;
    let file = dir.path().join("INBOX");
    // Another program appends while the store is in use.
    let store = Kind::Mbox.open(dir.path());
    assert_eq!(list(&store, &inbox).await.len(), 3);
    let mut f = fs::OpenOptions::new().append(true).open(&file).unwrap();
    std::io::Write::write_all(
        &mut f,
        b"From other Mon Jan  1 00:00:00 2001\nSubject: x\n\ny\n",
    )
    .unwrap();
    drop(f);
    let before = fs::read(&file).unwrap();
    assert_eq!(list(&store, &inbox).await.len(), 3);
    let found = store
        .find_existing(
            &inbox,
            &DedupeKey::of(&raw(&b"Subject: 0\n\nFrom body 0\nmore text 0\n"[..])),
        )
        .await
        .unwrap();
    assert_eq!(found.iter().map(|c| &c.id).collect::<Vec<_>>(), [&ids[0]]);
    store
        .fetch(&inbox, ids.clone())
        .for_each(|_| async {})
        .await;
    assert_eq!(fs::read(&file).unwrap(), before);
}

#[tokio::test]
async fn maildir_reads_folder_names_as_dovecot_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    // Directory names as Dovecot's Maildir++ layout writes them (modified UTF-7).
    for name in [
        ".Entw&APw-rfe &- Notizen",
        ".Fr&APw-h.Sp&AOQ-t",
        ".&2D3cwQ- Files",
        ".INBOX.child",
        ".100%",
    ] {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.path().join(name).join(sub)).unwrap();
        }
    }
    let store = Kind::Maildir.open(dir.path());
    let listed = Provider::list_folders(&*store).await.unwrap();
    let paths: BTreeSet<String> = listed.iter().map(|f| f.path.to_string()).collect();
    let want: BTreeSet<String> = [
        "INBOX",
        "Entwürfe & Notizen",
        "Früh/Spät",
        "📁 Files",
        "INBOX/child",
        "100%",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(paths, want);
    // Ensuring one of them finds Dovecot's directory instead of making another.
    let e = store
        .ensure_folder(&path(&["Entwürfe & Notizen"]), None)
        .await
        .unwrap();
    assert!(!e.created);
    assert_eq!(e.id.as_str(), ".Entw&APw-rfe &- Notizen");
    let made = store
        .ensure_folder(&path(&["Gelöschte Elemente"]), None)
        .await
        .unwrap();
    assert!(made.created);
    assert!(dir.path().join(".Gel&APY-schte Elemente/cur").is_dir());
}

#[tokio::test]
async fn maildir_keeps_reading_and_reusing_its_older_utf8_names() {
    let dir = tempfile::tempdir().unwrap();
    // Directory names as this store wrote them before it followed Dovecot: raw UTF-8 and
    // `%` escapes of `%`, `.`, `/` and `\`.
    let older = [
        (".Früh%2FSpät", path(&["Früh/Spät"])),
        (".Tom & Jerry", path(&["Tom & Jerry"])),
        (".a%2Eb", path(&["a.b"])),
        (".a%2Eb.c%25d%5Ce", path(&["a.b", "c%d\\e"])),
    ];
    for (name, _) in &older {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.path().join(name).join(sub)).unwrap();
        }
    }
    fs::write(
        dir.path().join(".Früh%2FSpät/cur/1.M1P1.host:2,S"),
        b"Subject: old\n\n",
    )
    .unwrap();
    let store = Kind::Maildir.open(dir.path());
    let listed = Provider::list_folders(&*store).await.unwrap();
    for (name, want) in &older {
        let f = listed
            .iter()
            .find(|f| f.id.as_str() == *name)
            .unwrap_or_else(|| panic!("{name} not in {listed:?}"));
        assert_eq!(&f.path, want, "{name}");
    }
    // Ensuring the same folders reuses the older directories: no second copy of a folder.
    let before = fs::read_dir(dir.path()).unwrap().count();
    for (name, want) in &older {
        let e = store.ensure_folder(want, None).await.unwrap();
        assert_eq!((e.id.as_str(), e.created), (*name, false), "{want}");
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), before);
    let old = FolderId::new(older[0].0);
    assert_eq!(list(&store, &old).await.len(), 1);
}

/// `doveadm` run on a Maildir++ tree without a running Dovecot: a configuration of its own,
/// and the current user, or `nobody` when that is root (Dovecot refuses mail access as root).
struct Doveadm {
    work: tempfile::TempDir,
    uid: u32,
    gid: u32,
}

impl Doveadm {
    /// Finds `doveadm`; `None` (skip) when it is missing, a failure when
    /// `MAILMIGRATE_TEST_REQUIRE` names `imap` (CI installs Dovecot).
    fn find() -> Option<Self> {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain(["/usr/bin".into(), "/usr/sbin".into()])
            .any(|d| d.join("doveadm").is_file());
        if !found {
            assert!(
                !mailmigrate_core::testkit::is_required("imap"),
                "doveadm is not installed but MAILMIGRATE_TEST_REQUIRE asks for imap"
            );
            eprintln!("skipping the Dovecot Maildir test: doveadm is not installed");
            return None;
        }
        let work = tempfile::tempdir().unwrap();
        let (uid, gid) = mail_user(work.path());
        let config = format!(
            "base_dir = {0}/run\nstate_dir = {0}/state\nlog_path = /dev/stderr\n\
             first_valid_uid = 1\nfirst_valid_gid = 1\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n  prefix =\n}}\n",
            work.path().display()
        );
        fs::write(work.path().join("dovecot.conf"), config).unwrap();
        Some(Self { work, uid, gid })
    }

    /// A new empty directory for a Maildir tree that Dovecot can write.
    fn maildir(&self, name: &str) -> std::path::PathBuf {
        let dir = self.work.path().join(name);
        fs::create_dir(&dir).unwrap();
        self.hand_over(&dir);
        dir
    }

    /// Gives the tree at `dir` to the user Dovecot runs as.
    fn hand_over(&self, dir: &Path) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(self.work.path(), fs::Permissions::from_mode(0o755)).unwrap();
        for p in walk(dir).into_iter().chain([dir.to_path_buf()]) {
            std::os::unix::fs::chown(&p, Some(self.uid), Some(self.gid)).unwrap();
        }
    }

    /// Runs `doveadm <args>` on the tree at `maildir`, feeding it `input`; returns stdout.
    fn run(&self, maildir: &Path, args: &[&str], input: &[u8]) -> String {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("doveadm")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("USER", "mailmigrate-test")
            .env("HOME", self.work.path())
            .arg("-c")
            .arg(self.work.path().join("dovecot.conf"))
            .arg("-o")
            .arg(format!("mail_location=maildir:{}", maildir.display()))
            .args(["-o", &format!("mail_uid={}", self.uid)])
            .args(["-o", &format!("mail_gid={}", self.gid)])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("doveadm runs");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "doveadm {args:?}: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

/// The user and group Dovecot may run as: ours, unless we are root.
fn mail_user(probe: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let md = fs::metadata(probe).unwrap();
    if md.uid() == 0 {
        (65534, 65534)
    } else {
        (md.uid(), md.gid())
    }
}

/// Folder names that Dovecot stores encoded, nested, or with characters special to it.
const DOVECOT_NAMES: [&str; 7] = [
    "Entwürfe & Notizen",
    "Früh/Spät",
    "📁 Files",
    "INBOX/child",
    "100%",
    "Tom & Jerry/R&D",
    "日本語",
];

#[tokio::test]
async fn maildir_folder_names_interoperate_with_dovecot() {
    let Some(dovecot) = Doveadm::find() else {
        return;
    };
    let message = b"Subject: interop\n\nbody\n";

    // Dovecot writes, we read.
    let theirs = dovecot.maildir("theirs");
    let mut create = vec!["mailbox", "create"];
    create.extend(DOVECOT_NAMES);
    dovecot.run(&theirs, &create, b"");
    dovecot.run(&theirs, &["save", "-m", DOVECOT_NAMES[0]], message);
    assert!(theirs
        .join(".Entw&APw-rfe &- Notizen/maildirfolder")
        .is_file());
    let store = Kind::Maildir.open(&theirs);
    let listed = Provider::list_folders(&*store).await.unwrap();
    let paths: BTreeSet<String> = listed.iter().map(|f| f.path.to_string()).collect();
    for name in DOVECOT_NAMES {
        assert!(paths.contains(name), "{name} not in {paths:?}");
    }
    let drafts = &listed
        .iter()
        .find(|f| f.path.to_string() == DOVECOT_NAMES[0])
        .unwrap()
        .id;
    let metas = list(&store, drafts).await;
    assert_eq!(metas.len(), 1);
    assert_eq!(
        &fetch_one(&store, drafts, &metas[0].id).await.bytes[..],
        message
    );

    // We write, Dovecot reads.
    let ours = dovecot.maildir("ours");
    let store = Kind::Maildir.open(&ours);
    let mut first = None;
    for name in DOVECOT_NAMES {
        let id = ensure(&store, &FolderPath::parse(name, '/').unwrap()).await;
        first.get_or_insert(id);
    }
    let mut msg = raw(&message[..]);
    msg.meta = msg.meta.with_flags([Flag::Seen].into_iter().collect());
    append_ok(&store, &first.unwrap(), vec![msg]).await;
    dovecot.hand_over(&ours);
    let listed = dovecot.run(&ours, &["mailbox", "list"], b"");
    let names: BTreeSet<&str> = listed.lines().collect();
    for name in DOVECOT_NAMES {
        assert!(names.contains(name), "{name} not in {names:?}");
    }
    let fetched = dovecot.run(
        &ours,
        &[
            "-f",
            "pager",
            "fetch",
            "flags text",
            "mailbox",
            DOVECOT_NAMES[0],
            "all",
        ],
        b"",
    );
    assert!(fetched.contains("\\Seen"), "{fetched}");
    assert!(fetched.contains("Subject: interop"), "{fetched}");
}

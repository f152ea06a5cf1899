//! Moves a generated mailbox between the real servers, Dovecot → Cyrus and Cyrus → Dovecot,
//! then proves the copy identical and the next pass empty.
//!
//! Uses the same targets as `servers.rs`; skipped unless both servers are configured (and
//! failing when `MAILMIGRATE_TEST_REQUIRE` contains `imap`).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use futures::StreamExt;
use mailmigrate_core::{
    Change, Checkpoint, ContentHash, Destination, ErrorKind, Flag, Flags, FolderId, FolderPath,
    MessageId, MessageMeta, RawMessage, Source,
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

/// What one pass did.
#[derive(Debug, Default)]
struct Report {
    moved: usize,
    skipped: Vec<(MessageId, ErrorKind)>,
}

/// A minimal migration loop over the traits: folders, changes since the checkpoint,
/// batched fetch, batched append, checkpoint saved only after the folder is done.
async fn migrate(
    src: &Imap,
    dst: &Imap,
    root: &FolderPath,
    state: &mut HashMap<FolderId, Checkpoint>,
    ids: &mut HashMap<(FolderId, MessageId), MessageId>,
) -> Report {
    let mut report = Report::default();
    let folders = Source::list_folders(src).await.unwrap();
    for f in folders
        .into_iter()
        .filter(|f| f.path.segments().starts_with(root.segments()) && f.selectable)
    {
        let target = dst.ensure_folder(&f.path, f.role).await.unwrap().id;
        let mut changes = src.list_changes(&f.id, state.get(&f.id).cloned());
        let mut upserts: Vec<MessageMeta> = Vec::new();
        let mut checkpoint = None;
        while let Some(c) = changes.next().await {
            match c.unwrap() {
                Change::Upsert(m) => upserts.push(m),
                Change::Reset => upserts.clear(),
                Change::Checkpoint(cp) => checkpoint = Some(cp),
                _ => {}
            }
        }
        let mut new_ids = Vec::new();
        for m in upserts {
            match ids.get(&(f.id.clone(), m.id.clone())) {
                Some(dst_id) => dst.update_flags(&target, dst_id, &m.flags).await.unwrap(),
                None => new_ids.push(m.id),
            }
        }
        for chunk in new_ids.chunks(20) {
            let fetched: Vec<_> = src.fetch(&f.id, chunk.to_vec()).collect().await;
            let mut batch = Vec::new();
            for (id, r) in fetched {
                let mut msg = r.unwrap();
                msg.meta.id = id;
                batch.push(msg);
            }
            let sent: Vec<MessageId> = batch.iter().map(|m| m.meta.id.clone()).collect();
            for (id, r) in sent
                .into_iter()
                .zip(dst.append(&target, batch).await.unwrap())
            {
                match r {
                    Ok(a) => {
                        report.moved += 1;
                        ids.insert((f.id.clone(), id), a.id.expect("APPENDUID"));
                    }
                    Err(e) => report.skipped.push((id, e.kind())),
                }
            }
        }
        state.insert(
            f.id.clone(),
            checkpoint.expect("listing ends with a checkpoint"),
        );
    }
    report
}

/// Every message under `root`: (folder path, content hash) → (flags, internal date).
async fn snapshot(
    imap: &Imap,
    root: &FolderPath,
) -> BTreeMap<(String, ContentHash), (Flags, Option<OffsetDateTime>)> {
    let mut out = BTreeMap::new();
    for f in Source::list_folders(imap).await.unwrap() {
        if !f.path.segments().starts_with(root.segments()) || !f.selectable {
            continue;
        }
        let ids: Vec<MessageId> = imap
            .list_changes(&f.id, None)
            .filter_map(|c| async move {
                match c.unwrap() {
                    Change::Upsert(m) => Some(m.id),
                    _ => None,
                }
            })
            .collect()
            .await;
        let fetched: Vec<_> = imap.fetch(&f.id, ids).collect().await;
        for (_, r) in fetched {
            let m = r.unwrap();
            out.insert(
                (f.path.to_string(), m.content_hash()),
                (m.meta.flags.clone(), m.meta.internal_date),
            );
        }
    }
    out
}

/// Builds the source mailbox: nested and non-ASCII folders, flags, keywords, dates over
/// years, an attachment, a 20 MB message, and a message with bare LF line ends.
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
        }
        let names: Vec<MessageId> = batch.iter().map(|m| m.meta.id.clone()).collect();
        for (name, r) in names.iter().zip(src.append(&id, batch).await.unwrap()) {
            match r {
                Ok(_) => count += 1,
                // Cyrus refuses bare LF line ends ("Message contains bare newlines").
                Err(e) if name.as_str() == "bare-lf" => {
                    assert_eq!(e.kind(), ErrorKind::InvalidMessage, "{e:?}");
                }
                Err(e) => panic!("seeding {name}: {e:?}"),
            }
        }
    }
    count
}

async fn round(from: &str, to: &str) {
    let (Some(src), Some(dst)) = (connect(from).await, connect(to).await) else {
        return;
    };
    let stamp = OffsetDateTime::now_utc().unix_timestamp_nanos();
    let root = FolderPath::new([format!("mm-interop-{from}-{to}-{stamp}")]).unwrap();
    let seeded = seed(&src, &root).await;

    let mut state = HashMap::new();
    let mut ids = HashMap::new();
    let first = migrate(&src, &dst, &root, &mut state, &mut ids).await;
    assert_eq!(
        first.moved + first.skipped.len(),
        seeded,
        "{from}→{to}: {first:?}"
    );
    // The only message a server may refuse is the one with bare LF line ends (Cyrus does).
    for (id, kind) in &first.skipped {
        assert_eq!(kind, &ErrorKind::InvalidMessage, "{from}→{to}: {id}");
    }
    assert!(first.skipped.len() <= 1, "{from}→{to}: {first:?}");

    let skipped_bare_lf = !first.skipped.is_empty();
    let expected = |mut m: BTreeMap<_, _>| {
        if skipped_bare_lf {
            m.retain(|(_, h): &(String, ContentHash), _| !is_bare_lf(h));
        }
        m
    };
    let want = expected(snapshot(&src, &root).await);
    let got = snapshot(&dst, &root).await;
    assert_eq!(got.len(), seeded - first.skipped.len(), "{from}→{to}");
    assert_eq!(got, want, "{from}→{to}: the copy differs");

    // Nothing changed: the second pass moves nothing.
    let second = migrate(&src, &dst, &root, &mut state, &mut ids).await;
    assert_eq!((second.moved, second.skipped.len()), (0, 0), "{from}→{to}");

    // Add one message and change one flag: exactly that moves.
    let folders = Source::list_folders(&src).await.unwrap();
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
    let flagged = src
        .list_changes(&f.id, None)
        .filter_map(|c| async move {
            match c.unwrap() {
                Change::Upsert(m) => Some(m.id),
                _ => None,
            }
        })
        .collect::<Vec<_>>()
        .await;
    src.update_flags(
        &f.id,
        &flagged[0],
        &[Flag::Seen, Flag::Flagged].into_iter().collect(),
    )
    .await
    .unwrap();
    let third = migrate(&src, &dst, &root, &mut state, &mut ids).await;
    assert_eq!(third.moved, 1, "{from}→{to}: {third:?}");
    let want = expected(snapshot(&src, &root).await);
    let got = snapshot(&dst, &root).await;
    assert_eq!(
        got, want,
        "{from}→{to}: the new message and the flag change arrived"
    );
}

fn is_bare_lf(h: &ContentHash) -> bool {
    *h == ContentHash::of(b"From: lf@example.org\nSubject: bare LF\n\nbody\n")
}

#[tokio::test]
async fn dovecot_to_cyrus_and_back() {
    round("DOVECOT", "CYRUS").await;
    round("CYRUS", "DOVECOT").await;
}

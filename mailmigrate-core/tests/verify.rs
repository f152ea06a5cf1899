//! Verification across two memory stores filled by direct appends.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::verify::{
    pair_by_path, verify, FolderPair, Side, VerifyOptions, VerifyReport,
};
use mailmigrate_core::{
    Change, Checkpoint, Destination, Error, ErrorKind, Flag, Flags, Folder, FolderId, FolderPath,
    ItemResult, MessageId, MessageMeta, Provider, ProviderInfo, RawMessage, Result, Source,
    SpecialUse,
};
use time::macros::datetime;
use time::OffsetDateTime;

fn body(mid: &str, text: &str) -> Bytes {
    Bytes::from(format!(
        "Message-ID: <{mid}>\r\nSubject: test {mid}\r\nFrom: a@example.com\r\n\r\n{text}\r\n"
    ))
}

async fn folder(store: &MemoryStore, path: &str) -> FolderId {
    store
        .ensure_folder(&FolderPath::parse(path, '/').unwrap(), None)
        .await
        .unwrap()
        .id
}

async fn put(
    store: &MemoryStore,
    folder: &FolderId,
    bytes: Bytes,
    flags: &[Flag],
    date: Option<OffsetDateTime>,
) -> MessageId {
    let meta = MessageMeta::new(MessageId::new("new"), folder.clone())
        .with_flags(flags.iter().cloned().collect::<Flags>())
        .with_internal_date(date);
    let out = store
        .append(folder, vec![RawMessage::new(meta, bytes)])
        .await
        .unwrap();
    out.into_iter().next().unwrap().unwrap().id.unwrap()
}

const D1: OffsetDateTime = datetime!(2021-03-04 05:06:07 UTC);

/// Two stores with the same three messages in INBOX and one in Archive/2020.
async fn identical() -> (MemoryStore, MemoryStore) {
    let (a, b) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    for s in [&a, &b] {
        let inbox = folder(s, "INBOX").await;
        let arch = folder(s, "Archive/2020").await;
        put(s, &inbox, body("1@x", "one"), &[Flag::Seen], Some(D1)).await;
        put(s, &inbox, body("2@x", "two"), &[], Some(D1)).await;
        put(
            s,
            &inbox,
            body("3@x", "three"),
            &[Flag::Flagged, Flag::Keyword("$Work".into())],
            Some(D1),
        )
        .await;
        put(s, &arch, body("4@x", "four"), &[Flag::Seen], Some(D1)).await;
    }
    (a, b)
}

async fn run(a: &MemoryStore, b: &MemoryStore, opts: &VerifyOptions) -> VerifyReport {
    let pairs = pair_by_path(a, b).await.unwrap();
    verify(a, b, &pairs, opts).await.unwrap()
}

fn inbox_report(r: &VerifyReport) -> &mailmigrate_core::verify::FolderReport {
    r.folders
        .iter()
        .find(|f| f.source.path.is_inbox())
        .expect("inbox compared")
}

#[tokio::test]
async fn identical_copies_are_clean() {
    let (a, b) = identical().await;
    let r = run(&a, &b, &VerifyOptions::default()).await;
    assert!(r.is_clean(), "{r}");
    // INBOX, Archive/2020 and its parent Archive (created with it).
    assert_eq!(r.totals.folders, 3);
    assert_eq!(r.totals.counts.matched, 4);
    assert_eq!(r.totals.counts.source, 4);
    assert_eq!(r.totals.counts.dest, 4);
}

#[tokio::test]
async fn a_missing_message_is_named_by_source_id() {
    let (a, b) = identical().await;
    let inbox = FolderId::new("INBOX");
    let lost = put(&a, &inbox, body("5@x", "five"), &[], Some(D1)).await;
    let r = run(&a, &b, &VerifyOptions::default()).await;
    assert!(!r.is_clean());
    let f = inbox_report(&r);
    assert_eq!(f.counts.missing, 1);
    assert_eq!(f.missing[0].source_id, lost);
    assert_eq!(f.missing[0].message_id.as_deref(), Some("5@x"));
    assert_eq!(f.counts.extra + f.counts.changed, 0);
}

#[tokio::test]
async fn an_extra_message_is_named_by_dest_id() {
    let (a, b) = identical().await;
    let arch = FolderId::new("Archive/2020");
    let extra = put(&b, &arch, body("9@x", "nine"), &[], None).await;
    let r = run(&a, &b, &VerifyOptions::default()).await;
    let f = r
        .folders
        .iter()
        .find(|f| f.source.id == arch)
        .expect("archive compared");
    assert_eq!(f.counts.extra, 1);
    assert_eq!(f.extra[0].dest_id, extra);
    assert_eq!(f.counts.missing, 0);
    assert!(inbox_report(&r).is_clean());
}

#[tokio::test]
async fn a_changed_body_with_the_same_message_id_is_changed_not_missing() {
    let (a, b) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    let (ia, ib) = (folder(&a, "INBOX").await, folder(&b, "INBOX").await);
    let sid = put(&a, &ia, body("c@x", "original"), &[], Some(D1)).await;
    let did = put(&b, &ib, body("c@x", "altered"), &[], Some(D1)).await;
    let r = run(&a, &b, &VerifyOptions::default()).await;
    let f = inbox_report(&r);
    assert_eq!(f.counts.changed, 1);
    assert_eq!(f.counts.missing + f.counts.extra, 0);
    let c = &f.changed[0];
    assert_eq!((&c.source_id, &c.dest_id), (&sid, &did));
    assert_eq!(c.message_id, "c@x");
    assert_ne!(c.source_hash, c.dest_hash);
}

#[tokio::test]
async fn a_flag_difference_names_both_ids_and_flags() {
    let (a, b) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    let (ia, ib) = (folder(&a, "INBOX").await, folder(&b, "INBOX").await);
    let sid = put(
        &a,
        &ia,
        body("f@x", "f"),
        &[Flag::Seen, Flag::Answered],
        None,
    )
    .await;
    let did = put(&b, &ib, body("f@x", "f"), &[Flag::Seen, Flag::Draft], None).await;
    let r = run(&a, &b, &VerifyOptions::default()).await;
    let f = inbox_report(&r);
    assert_eq!(f.counts.matched, 1);
    assert_eq!(f.counts.flag_differences, 1);
    let d = &f.flag_differences[0];
    assert_eq!((&d.source_id, &d.dest_id), (&sid, &did));
    assert_eq!(d.only_in_source, vec![Flag::Answered]);
    assert_eq!(d.only_in_dest, vec![Flag::Draft]);
    // Turning flag comparison off makes the same pair clean.
    let r = run(&a, &b, &VerifyOptions::default().with_compare_flags(false)).await;
    assert!(r.is_clean(), "{r}");
}

#[tokio::test]
async fn keywords_can_be_ignored_for_a_destination_without_them() {
    let (a, b) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    let (ia, ib) = (folder(&a, "INBOX").await, folder(&b, "INBOX").await);
    put(
        &a,
        &ia,
        body("k@x", "k"),
        &[Flag::Seen, Flag::Keyword("$Label1".into())],
        None,
    )
    .await;
    put(&b, &ib, body("k@x", "k"), &[Flag::Seen], None).await;
    assert!(!run(&a, &b, &VerifyOptions::default()).await.is_clean());
    let caps = mailmigrate_core::Capabilities {
        append_with_flags: true,
        append_with_internal_date: true,
        ..mailmigrate_core::Capabilities::default()
    };
    let r = run(&a, &b, &VerifyOptions::for_destination(&caps)).await;
    assert!(r.is_clean(), "{r}");
}

#[tokio::test]
async fn a_date_difference_is_detected_and_can_be_ignored() {
    let (a, b) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    let (ia, ib) = (folder(&a, "INBOX").await, folder(&b, "INBOX").await);
    let d2 = datetime!(2021-03-04 05:06:08 UTC);
    let sid = put(&a, &ia, body("d@x", "d"), &[], Some(D1)).await;
    let did = put(&b, &ib, body("d@x", "d"), &[], Some(d2)).await;
    let r = run(&a, &b, &VerifyOptions::default()).await;
    let f = inbox_report(&r);
    assert_eq!(f.counts.date_differences, 1);
    let d = &f.date_differences[0];
    assert_eq!((&d.source_id, &d.dest_id), (&sid, &did));
    assert_eq!((d.source_date, d.dest_date), (Some(D1), Some(d2)));
    let r = run(&a, &b, &VerifyOptions::default().with_compare_dates(false)).await;
    assert!(r.is_clean(), "{r}");
}

#[tokio::test]
async fn the_same_instant_in_another_offset_is_equal() {
    let (a, b) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    let (ia, ib) = (folder(&a, "INBOX").await, folder(&b, "INBOX").await);
    put(&a, &ia, body("o@x", "o"), &[], Some(D1)).await;
    let shifted = D1.to_offset(time::macros::offset!(+05:30));
    put(&b, &ib, body("o@x", "o"), &[], Some(shifted)).await;
    assert!(run(&a, &b, &VerifyOptions::default()).await.is_clean());
}

#[tokio::test]
async fn duplicates_count_as_a_multiset() {
    let (a, b) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    let (ia, ib) = (folder(&a, "INBOX").await, folder(&b, "INBOX").await);
    let s1 = put(&a, &ia, body("dup@x", "same"), &[], None).await;
    let s2 = put(&a, &ia, body("dup@x", "same"), &[], None).await;
    put(&b, &ib, body("dup@x", "same"), &[], None).await;
    let r = run(&a, &b, &VerifyOptions::default()).await;
    let f = inbox_report(&r);
    assert_eq!(f.counts.matched, 1);
    assert_eq!(f.counts.missing, 1);
    assert_eq!(f.counts.changed, 0, "identical bytes are never 'changed'");
    assert!([&s1, &s2].contains(&&f.missing[0].source_id));
    // And the other way round: one in the source, two in the destination → one extra.
    let r = run(&b, &a, &VerifyOptions::default()).await;
    let f = inbox_report(&r);
    assert_eq!((f.counts.matched, f.counts.extra), (1, 1));
}

#[tokio::test]
async fn batches_smaller_than_the_folder_still_see_everything() {
    let (a, b) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    let (ia, ib) = (folder(&a, "INBOX").await, folder(&b, "INBOX").await);
    for i in 0..10 {
        let m = body(&format!("{i}@x"), &format!("body {i}"));
        put(&a, &ia, m.clone(), &[], None).await;
        if i != 7 {
            put(&b, &ib, m, &[], None).await;
        }
    }
    let r = run(&a, &b, &VerifyOptions::default().with_batch_size(3)).await;
    let f = inbox_report(&r);
    assert_eq!(
        (f.counts.source, f.counts.matched, f.counts.missing),
        (10, 9, 1)
    );
    assert_eq!(f.missing[0].message_id.as_deref(), Some("7@x"));
    assert_eq!(
        verify(&a, &b, &[], &VerifyOptions::default().with_batch_size(0))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::ConfigInvalid
    );
}

#[tokio::test]
async fn pairs_by_role_then_path_and_reports_missing_folders() {
    let (a, b) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    let sent_a = a
        .ensure_folder(
            &FolderPath::parse("Sent Items", '/').unwrap(),
            Some(SpecialUse::Sent),
        )
        .await
        .unwrap()
        .id;
    let sent_b = b
        .ensure_folder(
            &FolderPath::parse("Sent", '/').unwrap(),
            Some(SpecialUse::Sent),
        )
        .await
        .unwrap()
        .id;
    a.ensure_folder(
        &FolderPath::parse("All Mail", '/').unwrap(),
        Some(SpecialUse::All),
    )
    .await
    .unwrap();
    let inbox_a = folder(&a, "INBOX").await;
    folder(&b, "Inbox").await;
    let only = folder(&a, "Projects/Old").await;
    put(&a, &only, body("p@x", "p"), &[], None).await;
    put(&a, &sent_a, body("s@x", "s"), &[], None).await;
    put(&b, &sent_b, body("s@x", "s"), &[], None).await;

    let pairs = pair_by_path(&a, &b).await.unwrap();
    assert_eq!(
        pairs.len(),
        4,
        "the virtual All Mail folder is skipped; Projects is created with Projects/Old: {pairs:?}"
    );
    let dest_of = |id: &FolderId| -> Option<String> {
        pairs
            .iter()
            .find(|p: &&FolderPair| &p.source.id == id)
            .and_then(|p| p.dest.as_ref().map(|d| d.path.to_string()))
    };
    assert_eq!(dest_of(&sent_a).as_deref(), Some("Sent"));
    assert_eq!(dest_of(&inbox_a).as_deref(), Some("Inbox"));
    assert_eq!(dest_of(&only), None);

    let r = verify(&a, &b, &pairs, &VerifyOptions::default())
        .await
        .unwrap();
    assert_eq!(r.totals.missing_folders, 2, "Projects and Projects/Old");
    assert_eq!(r.totals.counts.missing, 1);
    let text = r.to_text();
    assert!(
        text.contains("OK    Sent Items -> Sent  source 1, dest 1, matched 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "DIFF  Projects/Old -> (no such folder)  source 1, dest 0, matched 0, missing 1"
        ),
        "{text}"
    );
}

/// A source that cannot read one message and cannot list one folder.
#[derive(Debug)]
struct Flaky {
    inner: MemoryStore,
    broken_id: MessageId,
    broken_folder: FolderId,
}

#[async_trait]
impl Provider for Flaky {
    fn info(&self) -> &ProviderInfo {
        Provider::info(&self.inner)
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        Provider::list_folders(&self.inner).await
    }
}

#[async_trait]
impl Source for Flaky {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        if folder == &self.broken_folder {
            let e = Error::new(ErrorKind::Unavailable, "connection lost").temporary();
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        self.inner.list_changes(folder, since)
    }
    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let broken = self.broken_id.clone();
        let folder = folder.clone();
        self.inner
            .fetch(&folder, ids)
            .map(move |(id, r)| {
                if id == broken {
                    let e = Error::new(ErrorKind::InvalidMessage, "unparseable on the server")
                        .with_item(&folder, &id);
                    (id, Err(e))
                } else {
                    (id, r)
                }
            })
            .boxed()
    }
}

#[tokio::test]
async fn unreadable_items_and_failed_listings_are_reported_not_fatal() {
    let (a, b) = identical().await;
    let inbox = FolderId::new("INBOX");
    let ids: Vec<MessageId> = a
        .messages(&inbox)
        .unwrap()
        .into_iter()
        .map(|m| m.meta.id)
        .collect();
    let flaky = Flaky {
        inner: a.clone(),
        broken_id: ids[1].clone(),
        broken_folder: FolderId::new("Archive/2020"),
    };
    let pairs = pair_by_path(&flaky, &b).await.unwrap();
    let r = verify(&flaky, &b, &pairs, &VerifyOptions::default())
        .await
        .unwrap();
    assert!(!r.is_clean());
    let f = inbox_report(&r);
    assert_eq!(f.counts.unreadable, 1);
    assert_eq!(f.unreadable[0].side, Side::Source);
    assert_eq!(f.unreadable[0].id, ids[1]);
    assert_eq!(f.unreadable[0].kind, ErrorKind::InvalidMessage);
    assert!(f.unreadable[0].error.contains("INBOX"));
    assert_eq!(f.counts.matched, 2);
    let arch = r
        .folders
        .iter()
        .find(|f| f.source.id.as_str() == "Archive/2020")
        .unwrap();
    let err = arch.error.as_ref().expect("listing failure recorded");
    assert_eq!((err.side, err.kind), (Side::Source, ErrorKind::Unavailable));
    assert_eq!(r.totals.failed_folders, 1);
    let text = r.to_text();
    assert!(
        text.contains("FAIL  Archive/2020 -> Archive/2020  source listing failed"),
        "{text}"
    );
    assert!(
        text.contains(&format!("  unreadable  source {}  ", ids[1])),
        "{text}"
    );
}

#[tokio::test]
async fn report_survives_a_json_round_trip_and_renders_text() {
    let (a, b) = identical().await;
    let inbox = FolderId::new("INBOX");
    put(&a, &inbox, body("m@x", "lost"), &[], Some(D1)).await;
    let extra = put(&b, &inbox, body("e@x", "extra"), &[Flag::Seen], None).await;
    let r = run(&a, &b, &VerifyOptions::default()).await;
    let json = r.to_json().unwrap();
    let back = VerifyReport::from_json(&json).unwrap();
    assert_eq!(back, r);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["totals"]["counts"]["missing"], 1);
    let inbox_json = v["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["source"]["id"] == "INBOX")
        .unwrap();
    assert_eq!(inbox_json["extra"][0]["dest_id"], extra.as_str());
    assert_eq!(inbox_json["missing"][0]["message_id"], "m@x");

    let text = back.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.contains(&"OK    Archive/2020 -> Archive/2020  source 1, dest 1, matched 1"),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l
            .starts_with("DIFF  INBOX -> INBOX  source 4, dest 4, matched 3, missing 1, extra 1")),
        "{text}"
    );
    assert!(lines.contains(&"Differences in INBOX -> INBOX:"), "{text}");
    assert!(
        lines.contains(&format!("  extra       dest {extra}  <e@x>").as_str()),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Totals: 3 folders, 2 OK, 1 DIFF")),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&"Result: DIFFERENCES FOUND"));
}

/// A source that records the largest fetch call it served.
#[derive(Debug)]
struct Counting {
    inner: MemoryStore,
    largest: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait]
impl Provider for Counting {
    fn info(&self) -> &ProviderInfo {
        Provider::info(&self.inner)
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        Provider::list_folders(&self.inner).await
    }
}

#[async_trait]
impl Source for Counting {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        self.inner.list_changes(folder, since)
    }
    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        use std::sync::atomic::Ordering;
        self.largest.fetch_max(ids.len(), Ordering::SeqCst);
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch(folder, ids)
    }
}

#[tokio::test]
async fn fetch_calls_never_exceed_the_batch_size() {
    use std::sync::atomic::Ordering;
    let (a, b) = (MemoryStore::new("src"), MemoryStore::new("dst"));
    let (ia, ib) = (folder(&a, "INBOX").await, folder(&b, "INBOX").await);
    for i in 0..150 {
        let m = body(&format!("{i}@x"), &format!("body {i}"));
        put(&a, &ia, m.clone(), &[], None).await;
        put(&b, &ib, m, &[], None).await;
    }
    let counting = Counting {
        inner: a,
        largest: Default::default(),
        calls: Default::default(),
    };
    let pairs = pair_by_path(&counting, &b).await.unwrap();
    let r = verify(&counting, &b, &pairs, &VerifyOptions::default())
        .await
        .unwrap();
    assert!(r.is_clean(), "{r}");
    assert_eq!(r.totals.counts.matched, 150);
    assert_eq!(counting.largest.load(Ordering::SeqCst), 64);
    assert_eq!(
        counting.calls.load(Ordering::SeqCst),
        3,
        "150 ids in batches of 64"
    );
}

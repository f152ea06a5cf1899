//! Engine behaviour on in-memory stores: incremental passes, flags, deletions, dedupe,
//! settling interrupted writes, per-item isolation, dry runs, capability checks.

use std::sync::Arc;

use bytes::Bytes;
use mailmigrate_core::engine::{Engine, Event, Filter, LabelPolicy, MappingRules, SyncOptions};
use mailmigrate_core::state::{LedgerEntry, LedgerState, MemoryState, StateStore};
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{
    Capabilities, ContentHash, Destination, ErrorKind, Flag, Flags, FolderId, FolderPath,
    MessageId, MessageMeta, Provider, RawMessage, Source, SpecialUse,
};

fn msg(folder: &FolderId, n: u32, flags: &[Flag]) -> RawMessage {
    let bytes = format!(
        "Message-ID: <{n}@test>\r\nSubject: message {n}\r\nDate: Mon, 1 Jan 2018 10:00:00 +0000\r\n\r\nbody {n}\r\n"
    );
    RawMessage::new(
        MessageMeta::new(MessageId::new(n.to_string()), folder.clone())
            .with_flags(flags.iter().cloned().collect())
            .with_internal_date(Some(time::macros::datetime!(2018-01-01 10:00 UTC))),
        Bytes::from(bytes),
    )
}

async fn folder(store: &MemoryStore, path: &str, role: Option<SpecialUse>) -> FolderId {
    store
        .ensure_folder(&FolderPath::parse(path, '/').unwrap(), role)
        .await
        .unwrap()
        .id
}

async fn fill(store: &MemoryStore, path: &str, range: std::ops::Range<u32>) -> FolderId {
    let f = folder(store, path, None).await;
    let batch: Vec<RawMessage> = range.map(|n| msg(&f, n, &[Flag::Seen])).collect();
    for r in store.append(&f, batch).await.unwrap() {
        r.unwrap();
    }
    f
}

fn engine(src: &MemoryStore, dst: &MemoryStore, state: &Arc<MemoryState>) -> Engine {
    Engine::new(
        Arc::new(src.clone()),
        Arc::new(dst.clone()),
        Arc::clone(state) as Arc<dyn StateStore>,
    )
    .with_options(SyncOptions::new("t"))
}

async fn dest_hashes(dst: &MemoryStore, path: &str) -> Vec<ContentHash> {
    let mut v: Vec<_> = dst
        .messages(&FolderId::new(path))
        .unwrap()
        .iter()
        .map(RawMessage::content_hash)
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn copies_then_second_pass_moves_nothing() {
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..50).await;
    fill(&src, "Archive/2019/Ünïcode", 50..80).await;
    let dst = MemoryStore::new("dst");
    let state = Arc::new(MemoryState::new());
    let e = engine(&src, &dst, &state);
    let r = e.run().await.unwrap();
    assert_eq!(r.totals.copied, 80);
    assert!(r.is_complete());
    assert_eq!(dst.message_count(), 80);
    let again = e.run().await.unwrap();
    assert!(again.totals.moved_nothing(), "{again}");
    assert_eq!(again.totals.listed, 0, "incremental source lists nothing");
    assert!(again.to_string().contains("Nothing to do"));
    assert_eq!(dest_hashes(&dst, "Archive/2019/Ünïcode").await.len(), 30);
}

#[tokio::test]
async fn new_messages_and_flag_changes_travel_on_later_passes() {
    let src = MemoryStore::new("src");
    let inbox = fill(&src, "INBOX", 0..10).await;
    let dst = MemoryStore::new("dst");
    let state = Arc::new(MemoryState::new());
    let e = engine(&src, &dst, &state);
    e.run().await.unwrap();
    // A client flags one message and two arrive.
    let first = src.messages(&inbox).unwrap()[0].meta.id.clone();
    let flagged: Flags = [Flag::Seen, Flag::Flagged, Flag::Keyword("$Work".into())]
        .into_iter()
        .collect();
    src.set_flags(&inbox, &first, flagged.clone()).unwrap();
    src.append(&inbox, vec![msg(&inbox, 100, &[]), msg(&inbox, 101, &[])])
        .await
        .unwrap();
    let r = e.run().await.unwrap();
    assert_eq!(r.totals.copied, 2);
    assert_eq!(r.totals.flags_updated, 1);
    assert_eq!(r.totals.listed, 3, "only what changed is listed");
    let dmsgs = dst.messages(&FolderId::new("INBOX")).unwrap();
    assert_eq!(dmsgs.len(), 12);
    assert!(dmsgs.iter().any(|m| m.meta.flags == flagged));
}

#[tokio::test]
async fn full_listing_source_diffs_against_the_ledger() {
    let caps = Capabilities {
        list_since: false,
        list_removals: false,
        ..MemoryStore::capabilities()
    };
    let src = MemoryStore::with_capabilities("src", caps);
    let inbox = fill(&src, "INBOX", 0..20).await;
    let dst = MemoryStore::new("dst");
    let state = Arc::new(MemoryState::new());
    let e = engine(&src, &dst, &state);
    assert_eq!(e.run().await.unwrap().totals.copied, 20);
    let r = e.run().await.unwrap();
    assert_eq!(r.totals.listed, 20);
    assert_eq!(r.totals.unchanged, 20);
    assert!(r.totals.moved_nothing());
    let id = src.messages(&inbox).unwrap()[3].meta.id.clone();
    src.set_flags(&inbox, &id, Flags::new()).unwrap();
    assert_eq!(e.run().await.unwrap().totals.flags_updated, 1);
}

#[tokio::test]
async fn deletions_travel_only_when_asked() {
    for incremental in [true, false] {
        let caps = Capabilities {
            list_since: incremental,
            list_removals: incremental,
            ..MemoryStore::capabilities()
        };
        let src = MemoryStore::with_capabilities("src", caps);
        let inbox = fill(&src, "INBOX", 0..5).await;
        let dst = MemoryStore::new("dst");
        let state = Arc::new(MemoryState::new());
        engine(&src, &dst, &state).run().await.unwrap();
        let gone = src.messages(&inbox).unwrap()[1].meta.id.clone();
        src.expunge(&inbox, &gone).unwrap();
        let r = engine(&src, &dst, &state).run().await.unwrap();
        assert_eq!(r.totals.deleted, 0);
        assert_eq!(dst.message_count(), 5, "no deletion unless asked");
        // Asking now: a full-listing source still finds it through the ledger; an
        // incremental source reported the removal on the pass that consumed it, so ask
        // again after another removal.
        let gone2 = src.messages(&inbox).unwrap()[1].meta.id.clone();
        src.expunge(&inbox, &gone2).unwrap();
        let e = engine(&src, &dst, &state)
            .with_options(SyncOptions::new("t").with_propagate_deletions(true));
        let r = e.run().await.unwrap();
        let expected = if incremental { 1 } else { 2 };
        assert_eq!(r.totals.deleted, expected, "incremental={incremental}");
        assert_eq!(dst.message_count(), 5 - expected as usize);
        // The source is never modified.
        assert_eq!(src.message_count(), 3);
    }
}

#[tokio::test]
async fn lost_state_causes_no_duplicates() {
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..30).await;
    let dst = MemoryStore::new("dst");
    engine(&src, &dst, &Arc::new(MemoryState::new()))
        .run()
        .await
        .unwrap();
    // The state file is gone: a new, empty state.
    let r = engine(&src, &dst, &Arc::new(MemoryState::new()))
        .run()
        .await
        .unwrap();
    assert_eq!(r.totals.copied, 0);
    assert_eq!(r.totals.deduplicated, 30);
    assert_eq!(dst.message_count(), 30);
}

#[tokio::test]
async fn identical_source_duplicates_are_both_kept_after_lost_state() {
    // Two byte-identical messages in the source are two items: dedupe must not fold them.
    let src = MemoryStore::new("src");
    let inbox = folder(&src, "INBOX", None).await;
    src.append(&inbox, vec![msg(&inbox, 1, &[]), msg(&inbox, 1, &[])])
        .await
        .unwrap();
    let dst = MemoryStore::new("dst");
    engine(&src, &dst, &Arc::new(MemoryState::new()))
        .run()
        .await
        .unwrap();
    assert_eq!(dst.message_count(), 2);
    let r = engine(&src, &dst, &Arc::new(MemoryState::new()))
        .run()
        .await
        .unwrap();
    assert_eq!(r.totals.deduplicated, 2);
    assert_eq!(dst.message_count(), 2);
}

#[tokio::test]
async fn pending_writes_are_settled_not_repeated() {
    let src = MemoryStore::new("src");
    let inbox = fill(&src, "INBOX", 0..4).await;
    let dst = MemoryStore::new("dst");
    let state = Arc::new(MemoryState::new());
    // Simulate a run killed after appending message 0 but before confirming it, and
    // before appending message 1: both rows are pending.
    let dinbox = folder(&dst, "INBOX", Some(SpecialUse::Inbox)).await;
    let smsgs = src.messages(&inbox).unwrap();
    dst.append(&dinbox, vec![smsgs[0].clone()]).await.unwrap();
    let rows: Vec<LedgerEntry> = smsgs[..2]
        .iter()
        .map(|m| {
            LedgerEntry::new(
                inbox.clone(),
                m.meta.id.clone(),
                dinbox.clone(),
                None,
                m.content_hash(),
                None,
                m.meta.flags.clone(),
                LedgerState::Pending,
            )
        })
        .collect();
    state.record("t", &rows).await.unwrap();
    let r = engine(&src, &dst, &state).run().await.unwrap();
    assert_eq!(r.totals.deduplicated, 1, "{r}");
    assert_eq!(r.totals.copied, 3);
    assert_eq!(dst.message_count(), 4);
    assert!(state.pending("t", &inbox).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_item_is_isolated_and_named() {
    use mailmigrate_core::layer::{Fault, FaultLayer, Stack, Trigger};
    use mailmigrate_core::Operation;
    let src = MemoryStore::new("src");
    let inbox = fill(&src, "INBOX", 0..9).await;
    let mut big = msg(&inbox, 99, &[]);
    big.bytes = Bytes::from(format!(
        "{}X-Pad: {}\r\n\r\nbig\r\n",
        "Subject: big\r\n",
        "p".repeat(400)
    ));
    src.append(&inbox, vec![big]).await.unwrap();
    // Every third message cannot be read at the source (a permanent, item-level failure).
    let unreadable = Stack::new(src.clone())
        .layer(FaultLayer::new().fail_items(
            Operation::Fetch,
            Trigger::every(3),
            Fault::permanent(ErrorKind::InvalidMessage),
        ))
        .into_source();
    let caps = Capabilities {
        append_max_size: Some(300),
        ..MemoryStore::capabilities()
    };
    let dst = MemoryStore::with_capabilities("dst", caps);
    let r = Engine::new(
        unreadable,
        Arc::new(dst.clone()),
        Arc::new(MemoryState::new()),
    )
    .with_options(SyncOptions::new("t"))
    .run()
    .await
    .unwrap();
    assert_eq!(r.totals.failed, 4, "{r}"); // three unreadable, one too large
    assert_eq!(r.totals.copied, 6);
    assert_eq!(dst.message_count(), 6);
    let kinds: Vec<ErrorKind> = r.failures.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == ErrorKind::InvalidMessage)
            .count(),
        3
    );
    assert!(kinds.contains(&ErrorKind::MessageTooLarge));
    assert!(
        r.failures.iter().all(|f| f.message.contains("message: ")),
        "failures name the item"
    );
    // Item-level failures are final: the folder completes and the checkpoint moves on.
    assert!(r.is_complete());
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..7).await;
    fill(&src, "Work", 7..9).await;
    let dst = MemoryStore::new("dst");
    let state = Arc::new(MemoryState::new());
    let e = engine(&src, &dst, &state).with_options(SyncOptions::new("t").with_dry_run(true));
    let r = e.run().await.unwrap();
    assert!(r.dry_run);
    assert_eq!(r.totals.copied, 9);
    assert_eq!(dst.message_count(), 0);
    assert!(Provider::list_folders(&dst).await.unwrap().is_empty());
    assert!(state
        .checkpoint("t", &FolderId::new("INBOX"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn unsupported_options_fail_before_any_io() {
    let caps = Capabilities {
        delete: false,
        ..MemoryStore::capabilities()
    };
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..3).await;
    let dst = MemoryStore::with_capabilities("dst", caps);
    let e = engine(&src, &dst, &Arc::new(MemoryState::new()))
        .with_options(SyncOptions::new("t").with_propagate_deletions(true));
    let err = e.run().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(dst.message_count(), 0);
    assert!(Provider::list_folders(&dst).await.unwrap().is_empty());
}

#[tokio::test]
async fn filters_and_mapping_apply() {
    let src = MemoryStore::new("src");
    let inbox = folder(&src, "INBOX", None).await;
    let mut old = msg(&inbox, 1, &[]);
    old.meta.internal_date = Some(time::macros::datetime!(2001-01-01 0:00 UTC));
    src.append(&inbox, vec![old, msg(&inbox, 2, &[])])
        .await
        .unwrap();
    fill(&src, "Spam", 10..12).await;
    let sent = folder(&src, "Gesendete Objekte", Some(SpecialUse::Sent)).await;
    src.append(&sent, vec![msg(&sent, 20, &[])]).await.unwrap();
    let dst = MemoryStore::new("dst");
    folder(&dst, "Sent Mail", Some(SpecialUse::Sent)).await;
    let opts = SyncOptions::new("t")
        .with_filter(Filter::default().with_since(time::macros::datetime!(2010-01-01 0:00 UTC)))
        .with_mapping(MappingRules::default().with_exclude(["Spam"]));
    let r = engine(&src, &dst, &Arc::new(MemoryState::new()))
        .with_options(opts)
        .run()
        .await
        .unwrap();
    assert_eq!(r.totals.filtered, 1);
    assert_eq!(r.totals.copied, 2);
    assert_eq!(dst.messages(&FolderId::new("Sent Mail")).unwrap().len(), 1);
    assert!(dst.messages(&FolderId::new("Spam")).is_err());
}

#[tokio::test]
async fn labels_become_keywords_where_the_destination_has_no_labels() {
    let src = MemoryStore::new("src");
    let inbox = folder(&src, "INBOX", None).await;
    let mut m = msg(&inbox, 1, &[]);
    m.meta.labels = ["Projects/Alpha".to_owned()].into_iter().collect();
    src.append(&inbox, vec![m]).await.unwrap();
    let caps = Capabilities {
        append_with_labels: false,
        ..MemoryStore::capabilities()
    };
    let dst = MemoryStore::with_capabilities("dst", caps);
    let mapping = MappingRules::default().with_labels(LabelPolicy::LabelsOrKeywords);
    engine(&src, &dst, &Arc::new(MemoryState::new()))
        .with_options(SyncOptions::new("t").with_mapping(mapping))
        .run()
        .await
        .unwrap();
    let d = &dst.messages(&FolderId::new("INBOX")).unwrap()[0];
    assert!(d
        .meta
        .flags
        .contains(&Flag::Keyword("Projects/Alpha".into())));
    assert!(d.meta.labels.is_empty());
}

#[tokio::test]
async fn events_report_progress() {
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..600).await;
    let dst = MemoryStore::new("dst");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let r = engine(&src, &dst, &Arc::new(MemoryState::new()))
        .with_events(tx)
        .run()
        .await
        .unwrap();
    let mut copied = 0;
    let mut saw_done = false;
    while let Ok(ev) = rx.try_recv() {
        match ev {
            Event::Copied { messages, .. } => copied += messages,
            Event::FolderDone { complete, .. } => saw_done = complete,
            _ => {}
        }
    }
    assert_eq!(copied, r.totals.copied);
    assert_eq!(copied, 600);
    assert!(saw_done);
}

#[tokio::test]
async fn byte_exact_copy() {
    let src = MemoryStore::new("src");
    let inbox = folder(&src, "INBOX", None).await;
    let odd = RawMessage::new(
        MessageMeta::new(MessageId::new("x"), inbox.clone()),
        Bytes::from_static(b"Subject: =?iso-8859-1?q?Gr=FC=DFe?=\nX-8bit: \xe4\xf6\xfc\n\nbare LF body\x00with NUL\nFrom the start\n"),
    );
    src.append(&inbox, vec![odd.clone()]).await.unwrap();
    let dst = MemoryStore::new("dst");
    engine(&src, &dst, &Arc::new(MemoryState::new()))
        .run()
        .await
        .unwrap();
    assert_eq!(
        dst.messages(&FolderId::new("INBOX")).unwrap()[0].bytes,
        odd.bytes
    );
}

#[tokio::test(start_paused = true)]
async fn transient_faults_are_retried_to_completion() {
    use mailmigrate_core::layer::{Fault, FaultLayer, Stack, Trigger};
    use mailmigrate_core::Operation;
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..300).await;
    let dst = MemoryStore::new("dst");
    let faulty_src = Stack::new(src.clone())
        .layer(FaultLayer::new().with_seed(7).fail_items(
            Operation::Fetch,
            Trigger::every(5),
            Fault::temporary(ErrorKind::Unavailable),
        ))
        .into_source();
    let faulty_dst = Stack::new(dst.clone())
        .layer(
            FaultLayer::new()
                .with_seed(7)
                .fail_calls(
                    Operation::Append,
                    Trigger::every(2),
                    Fault::temporary(ErrorKind::RateLimited)
                        .with_retry_after(std::time::Duration::from_secs(2)),
                )
                .fail_items(
                    Operation::Append,
                    Trigger::every(7),
                    Fault::temporary(ErrorKind::Unavailable),
                ),
        )
        .into_destination();
    let r = Engine::new(faulty_src, faulty_dst, Arc::new(MemoryState::new()))
        .with_options(SyncOptions::new("t").with_batch_size(32))
        .run()
        .await
        .unwrap();
    assert_eq!(r.totals.failed, 0, "{r}");
    assert_eq!(r.totals.copied, 300);
    assert_eq!(dst.message_count(), 300, "nothing duplicated by retries");
}

#[tokio::test(start_paused = true)]
async fn unknown_outcome_write_is_settled_on_the_next_run() {
    use mailmigrate_core::layer::{Fault, FaultLayer, Stack, Trigger};
    use mailmigrate_core::Operation;
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..100).await;
    let dst = MemoryStore::new("dst");
    let state = Arc::new(MemoryState::new());
    // The first append reaches the server, but its reply is lost (connection dropped).
    let lossy = Stack::new(dst.clone())
        .layer(FaultLayer::new().fail_calls(
            Operation::Append,
            Trigger::first(3),
            Fault::permanent(ErrorKind::Unavailable).after_call(),
        ))
        .into_destination();
    let src_dyn: Arc<dyn Source> = Arc::new(src.clone());
    let r = Engine::new(
        Arc::clone(&src_dyn),
        lossy,
        Arc::clone(&state) as Arc<dyn StateStore>,
    )
    .with_options(SyncOptions::new("t").with_batch_size(10))
    .run()
    .await
    .unwrap();
    assert!(
        !r.is_complete(),
        "the folder stops at an unknown outcome: {r}"
    );
    let written = dst.message_count();
    assert!(written >= 10, "the lost-reply batch was written");
    assert!(!state
        .pending("t", &FolderId::new("INBOX"))
        .await
        .unwrap()
        .is_empty());
    // Next run, healthy destination: pending rows are settled by lookup, not rewritten.
    let r = Engine::new(
        src_dyn,
        Arc::new(dst.clone()),
        Arc::clone(&state) as Arc<dyn StateStore>,
    )
    .with_options(SyncOptions::new("t").with_batch_size(10))
    .run()
    .await
    .unwrap();
    assert!(r.is_complete(), "{r}");
    assert_eq!(r.totals.deduplicated as usize, written);
    assert_eq!(dst.message_count(), 100, "nothing lost, nothing duplicated");
}

#[tokio::test]
async fn items_failed_for_good_are_not_retried_unless_asked() {
    use mailmigrate_core::layer::{Fault, FaultLayer, Stack, Trigger};
    use mailmigrate_core::Operation;
    let caps = Capabilities {
        list_since: false,
        ..MemoryStore::capabilities()
    };
    let src = MemoryStore::with_capabilities("src", caps);
    fill(&src, "INBOX", 0..5).await;
    let dst = MemoryStore::new("dst");
    let state = Arc::new(MemoryState::new());
    let faulty = || {
        Stack::new(src.clone())
            .layer(FaultLayer::new().fail_items(
                Operation::Fetch,
                Trigger::first(1),
                Fault::permanent(ErrorKind::InvalidMessage),
            ))
            .into_source()
    };
    let run = |opts: SyncOptions| {
        Engine::new(
            faulty(),
            Arc::new(dst.clone()),
            Arc::clone(&state) as Arc<dyn StateStore>,
        )
        .with_options(opts)
    };
    let r = run(SyncOptions::new("t")).run().await.unwrap();
    assert_eq!((r.totals.copied, r.totals.failed), (4, 1));
    let r = run(SyncOptions::new("t")).run().await.unwrap();
    assert!(r.totals.moved_nothing() && r.totals.failed == 0, "{r}");
    assert_eq!(r.totals.previously_failed, 1);
    assert_eq!(r.failures.len(), 1, "the failure stays listed");
    assert!(r.to_string().contains("Nothing to do"), "{r}");
    // Asked to retry, the (now readable) item moves and its failure clears.
    let r = Engine::new(
        Arc::new(src.clone()),
        Arc::new(dst.clone()),
        Arc::clone(&state) as Arc<dyn StateStore>,
    )
    .with_options(SyncOptions::new("t").with_retry_failed(true))
    .run()
    .await
    .unwrap();
    assert_eq!(r.totals.copied, 1);
    assert!(r.failures.is_empty());
    assert_eq!(dst.message_count(), 5);
}

#[tokio::test]
async fn a_labelling_source_becomes_one_copy_per_message() {
    let caps = Capabilities {
        list_labels: true,
        ..MemoryStore::capabilities()
    };
    let src = MemoryStore::with_capabilities("gmail", caps);
    let all = folder(&src, "[Gmail]/All Mail", Some(SpecialUse::All)).await;
    let work = folder(&src, "Work", None).await;
    let inbox = folder(&src, "INBOX", None).await;
    let labelled = |f: &FolderId, n: u32, labels: &[&str]| {
        let mut m = msg(f, n, &[]);
        m.meta.labels = labels.iter().map(|l| (*l).to_owned()).collect();
        m
    };
    // Gmail shows each message in All Mail and again in each label's folder.
    src.append(
        &all,
        vec![
            labelled(&all, 1, &["\\Inbox", "Work"]),
            labelled(&all, 2, &["\\Starred"]),
        ],
    )
    .await
    .unwrap();
    src.append(&work, vec![labelled(&work, 1, &["\\Inbox", "Work"])])
        .await
        .unwrap();
    src.append(&inbox, vec![labelled(&inbox, 1, &["\\Inbox", "Work"])])
        .await
        .unwrap();
    let caps = Capabilities {
        append_with_labels: false,
        ..MemoryStore::capabilities()
    };
    let dst = MemoryStore::with_capabilities("dovecot", caps);
    let r = engine(&src, &dst, &Arc::new(MemoryState::new()))
        .run()
        .await
        .unwrap();
    assert_eq!(r.totals.copied, 2, "each message once: {r}");
    assert_eq!(dst.message_count(), 2);
    let copies = dst.messages(&FolderId::new("All Mail")).unwrap();
    let first = copies
        .iter()
        .find(|m| m.bytes == msg(&all, 1, &[]).bytes)
        .unwrap();
    assert!(first.meta.flags.contains(&Flag::Keyword("Work".into())));
    assert!(first.meta.flags.contains(&Flag::Keyword("$Inbox".into())));
    let second = copies
        .iter()
        .find(|m| m.bytes == msg(&all, 2, &[]).bytes)
        .unwrap();
    assert!(
        second.meta.flags.contains(&Flag::Flagged),
        "\\Starred is \\Flagged"
    );
}

/// A source whose ids all change at once, as IMAP's do when UIDVALIDITY changes: a stored
/// checkpoint yields `Change::Reset`, then everything under new ids.
#[derive(Debug)]
struct Renumbered {
    inner: MemoryStore,
    epoch: std::sync::atomic::AtomicU32,
}

impl Renumbered {
    fn id(&self, id: &MessageId) -> MessageId {
        let e = self.epoch.load(std::sync::atomic::Ordering::SeqCst);
        MessageId::new(format!("{e}:{id}"))
    }
    fn inner_id(id: &MessageId) -> MessageId {
        MessageId::new(id.as_str().split_once(':').map_or(id.as_str(), |(_, i)| i))
    }
}

#[async_trait::async_trait]
#[async_trait::async_trait]
impl Provider for Renumbered {
    fn info(&self) -> &mailmigrate_core::ProviderInfo {
        Provider::info(&self.inner)
    }

    async fn list_folders(&self) -> mailmigrate_core::Result<Vec<mailmigrate_core::Folder>> {
        Provider::list_folders(&self.inner).await
    }
}

impl Source for Renumbered {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<mailmigrate_core::Checkpoint>,
    ) -> futures::stream::BoxStream<'static, mailmigrate_core::Result<mailmigrate_core::Change>>
    {
        use futures::StreamExt;
        use mailmigrate_core::{Change, Checkpoint};
        let epoch = self
            .epoch
            .load(std::sync::atomic::Ordering::SeqCst)
            .to_string();
        let stale = since
            .as_ref()
            .is_some_and(|c| !c.as_str().starts_with(&format!("{epoch}/")));
        let since = since
            .filter(|_| !stale)
            .map(|c| Checkpoint::new(c.as_str().split_once('/').unwrap().1));
        let epoch1 = epoch.clone();
        let prefix = move |id: &MessageId| MessageId::new(format!("{epoch1}:{id}"));
        let head = futures::stream::iter(stale.then_some(Ok(Change::Reset)));
        let epoch2 = epoch;
        let body = self.inner.list_changes(folder, since).map(move |c| {
            c.map(|c| match c {
                Change::Upsert(mut m) => {
                    m.id = prefix(&m.id);
                    Change::Upsert(m)
                }
                Change::Checkpoint(cp) => {
                    Change::Checkpoint(Checkpoint::new(format!("{epoch2}/{}", cp.as_str())))
                }
                other => other,
            })
        });
        head.chain(body).boxed()
    }
    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> futures::stream::BoxStream<'static, mailmigrate_core::ItemResult<RawMessage>> {
        use futures::StreamExt;
        let inner_ids: Vec<MessageId> = ids.iter().map(Self::inner_id).collect();
        let outer: std::collections::HashMap<MessageId, MessageId> = inner_ids
            .iter()
            .cloned()
            .zip(ids.iter().map(|i| self.id(&Self::inner_id(i))))
            .collect();
        self.inner
            .fetch(folder, inner_ids)
            .map(move |(id, r)| {
                let out = outer[&id].clone();
                (
                    out.clone(),
                    r.map(|mut m| {
                        m.meta.id = out;
                        m
                    }),
                )
            })
            .boxed()
    }
}

#[tokio::test]
async fn a_uidvalidity_change_causes_no_duplicates() {
    let src = MemoryStore::new("src");
    let inbox = fill(&src, "INBOX", 0..40).await;
    let source = Arc::new(Renumbered {
        inner: src.clone(),
        epoch: std::sync::atomic::AtomicU32::new(1),
    });
    let dst = MemoryStore::new("dst");
    let e = Engine::new(
        Arc::clone(&source) as Arc<dyn Source>,
        Arc::new(dst.clone()),
        Arc::new(MemoryState::new()),
    )
    .with_options(SyncOptions::new("t"));
    assert_eq!(e.run().await.unwrap().totals.copied, 40);
    // The server renumbers every message, and two new ones arrive.
    source.epoch.store(2, std::sync::atomic::Ordering::SeqCst);
    src.append(&inbox, vec![msg(&inbox, 100, &[]), msg(&inbox, 101, &[])])
        .await
        .unwrap();
    let r = e.run().await.unwrap();
    assert!(r.is_complete(), "{r}");
    assert_eq!(r.totals.copied, 2, "only the new ones: {r}");
    assert_eq!(
        r.totals.deduplicated, 40,
        "the rest are recognised at the destination"
    );
    assert_eq!(dst.message_count(), 42);
    // And the pass after that is quiet again under the new ids.
    assert!(e.run().await.unwrap().totals.moved_nothing());
}

/// Credentials revoked in the middle of a pass: the first refused append stops every
/// folder (not one refused request per remaining message), the pass is incomplete, and the
/// next pass with working credentials copies everything once.
#[tokio::test]
async fn refused_credentials_stop_every_folder_of_the_pass() {
    use mailmigrate_core::layer::{Fault, FaultLayer, Stack, Trigger};
    use mailmigrate_core::Operation;
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..300).await;
    fill(&src, "Work", 300..600).await;
    fill(&src, "Archive", 600..900).await;
    let dst = MemoryStore::new("dst");
    let state = Arc::new(MemoryState::new());
    let refused = Stack::new(dst.clone())
        .layer(FaultLayer::new().fail_items(
            Operation::Append,
            Trigger::always(),
            Fault::permanent(ErrorKind::Unauthenticated),
        ))
        .into_destination();
    let r = Engine::new(
        Arc::new(src.clone()),
        refused,
        Arc::clone(&state) as Arc<dyn StateStore>,
    )
    .with_options(SyncOptions::new("t").with_batch_size(50))
    .run()
    .await
    .unwrap();
    assert!(!r.is_complete(), "{r}");
    assert_eq!(dst.message_count(), 0);
    assert!(
        r.totals.failed <= 50 * 3,
        "at most one batch per folder was refused, not every message: {}",
        r.totals.failed
    );
    assert!(
        r.folders
            .iter()
            .all(|f| !f.complete && f.error_kind == Some(ErrorKind::Unauthenticated)),
        "{r}"
    );
    let again = Engine::new(Arc::new(src.clone()), Arc::new(dst.clone()), state)
        .with_options(SyncOptions::new("t").with_batch_size(50))
        .run()
        .await
        .unwrap();
    assert!(again.is_complete(), "{again}");
    assert_eq!(dst.message_count(), 900);
}

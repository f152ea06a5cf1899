//! The engine with Gmail on either side: a copy into Gmail that a second pass leaves
//! alone, lost import replies settled without duplicates, quota exhaustion waited out, a
//! history id gone stale, and labels carried once from All Mail.
#![cfg(feature = "emulator")]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mailmigrate_core::engine::{Engine, SyncOptions};
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{
    Destination, Flag, FolderPath, MessageId, MessageMeta, Provider, RawMessage, Source,
};
use mailmigrate_gmail::emulator::{Emulator, EmulatorHandle, Quota};
use mailmigrate_gmail::{Gmail, GmailLimits};

const USER: &str = "ada@example.com";

fn mime(i: usize) -> Bytes {
    Bytes::from(format!(
        "From: bob@example.org\r\nTo: ada@example.com\r\nSubject: message {i}\r\n\
         Message-ID: <m{i}@example.org>\r\nDate: Mon, 02 Nov 2026 10:00:{:02} +0000\r\n\r\nbody {i}\r\n",
        i % 60
    ))
}

/// A memory mailbox: `n` messages in INBOX (every third read and flagged) and two in
/// `Projects/2026`, one of them without Message-ID.
async fn source(n: usize) -> MemoryStore {
    let store = MemoryStore::new("old");
    let inbox = store
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id;
    let projects = store
        .ensure_folder(&FolderPath::parse("Projects/2026", '/').unwrap(), None)
        .await
        .unwrap()
        .id;
    let batch: Vec<RawMessage> = (0..n)
        .map(|i| {
            let mut meta = MessageMeta::new(MessageId::new(format!("s{i}")), inbox.clone());
            if i % 3 == 0 {
                meta.flags = [Flag::Seen, Flag::Flagged].into_iter().collect();
            }
            RawMessage::new(meta, mime(i))
        })
        .collect();
    for r in store.append(&inbox, batch).await.unwrap() {
        r.unwrap();
    }
    let more = vec![
        RawMessage::new(
            MessageMeta::new(MessageId::new("p1"), projects.clone()),
            mime(1000),
        ),
        RawMessage::new(
            MessageMeta::new(MessageId::new("p2"), projects.clone()),
            Bytes::from_static(b"From: x@example.org\r\nSubject: no id\r\n\r\nanonymous\r\n"),
        ),
    ];
    for r in store.append(&projects, more).await.unwrap() {
        r.unwrap();
    }
    store
}

fn fast(limits: GmailLimits) -> GmailLimits {
    limits.with_backoff(Duration::from_millis(10), Duration::from_millis(200))
}

async fn gmail(emu: &EmulatorHandle, limits: GmailLimits) -> Arc<Gmail> {
    Arc::new(
        emu.gmail_builder(USER)
            .with_limits(fast(limits))
            .build()
            .unwrap(),
    )
}

fn engine(
    src: Arc<dyn mailmigrate_core::Source>,
    dst: Arc<dyn Destination>,
    state: Arc<MemoryState>,
) -> Engine {
    Engine::new(src, dst, state)
        .with_options(SyncOptions::new("gmail-test").with_settle_grace(Duration::from_millis(100)))
}

/// Each source message once in the emulator, byte for byte.
fn assert_exactly(emu: &EmulatorHandle, want: usize) {
    let stored = emu.messages(USER);
    let distinct: BTreeSet<&Bytes> = stored.iter().map(|m| &m.raw).collect();
    assert_eq!(stored.len(), want, "messages in the mailbox");
    assert_eq!(distinct.len(), want, "distinct messages in the mailbox");
}

#[tokio::test]
async fn a_mailbox_is_copied_once_and_a_second_pass_is_idle() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let dest = gmail(&emu, GmailLimits::default()).await;
    let src = source(12).await;
    let state = Arc::new(MemoryState::new());
    let e = engine(Arc::new(src.clone()), dest, Arc::clone(&state));
    let first = e.run().await.unwrap();
    assert!(first.is_complete(), "{first}");
    assert_eq!(first.totals.copied, 14);
    assert_exactly(&emu, 14);
    let second = e.run().await.unwrap();
    assert_eq!(second.totals.copied, 0, "{second}");
    assert_exactly(&emu, 14);
    // Labels: INBOX for the inbox, the nested user label for the other folder; read and
    // flagged as the source had them.
    let labels = emu.labels(USER);
    let projects = labels
        .iter()
        .find(|l| l.name == "Projects/2026")
        .expect("label made");
    assert!(projects.nested, "the parent label exists");
    let stored = emu.messages(USER);
    let in_inbox = stored
        .iter()
        .filter(|m| m.label_ids.contains("INBOX"))
        .count();
    assert_eq!(in_inbox, 12);
    let read_starred = stored
        .iter()
        .filter(|m| !m.label_ids.contains("UNREAD") && m.label_ids.contains("STARRED"))
        .count();
    assert_eq!(read_starred, 4);
    assert_eq!(
        stored
            .iter()
            .filter(|m| m.label_ids.contains(&projects.id))
            .count(),
        2
    );
    // Imports never went through calendar processing.
    assert_eq!(emu.stats().calendar_processed, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn lost_import_replies_are_settled_without_duplicates() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    // Every third import is stored and its answer lost, five times.
    emu.faults().arm(
        "POST",
        "/messages/import",
        2,
        1,
        mailmigrate_gmail::emulator::Fault::LoseReply,
    );
    emu.faults().arm(
        "POST",
        "/messages/import",
        5,
        4,
        mailmigrate_gmail::emulator::Fault::LoseReply,
    );
    let dest = gmail(&emu, GmailLimits::default()).await;
    let src = source(10).await;
    let state = Arc::new(MemoryState::new());
    let report = engine(
        Arc::new(src.clone()),
        Arc::clone(&dest) as Arc<dyn Destination>,
        Arc::clone(&state),
    )
    .run()
    .await
    .unwrap();
    assert_eq!(emu.faults().remaining(), 0, "every fault fired");
    if !report.is_complete() {
        // Items whose outcome stayed unknown are settled by the next run.
        engine(Arc::new(src.clone()), dest, state)
            .run()
            .await
            .unwrap();
    }
    assert_exactly(&emu, 12);
    emu.shutdown().await;
}

#[tokio::test]
async fn quota_exhaustion_is_waited_out() {
    // Gmail grants 200 units a second here; the client believes in ten times more, so it
    // runs into userRateLimitExceeded and must wait, not fail.
    let emu = Emulator::builder()
        .user(USER)
        .quota(Quota::default().with_units_per_window(200, Duration::from_millis(1000)))
        .start()
        .await
        .unwrap();
    let dest = gmail(
        &emu,
        GmailLimits::default()
            .with_units(2_000, Duration::from_secs(1))
            .with_rate_limit_retries(40),
    )
    .await;
    let src = source(16).await;
    let report = engine(Arc::new(src), dest, Arc::new(MemoryState::new()))
        .run()
        .await
        .unwrap();
    assert!(
        report.is_complete() && report.failures.is_empty(),
        "{report}"
    );
    assert_exactly(&emu, 18);
    assert!(
        emu.stats().rate_limited > 0,
        "the budget was exhausted at least once"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn the_client_keeps_within_its_own_budget() {
    // With its budget set to Gmail's, the client paces itself and is never refused.
    let emu = Emulator::builder()
        .user(USER)
        .quota(
            Quota::default()
                .with_units_per_window(400, Duration::from_millis(1000))
                .with_concurrency(3),
        )
        .latency(Duration::from_millis(5))
        .start()
        .await
        .unwrap();
    let limits = GmailLimits::default()
        .with_units(300, Duration::from_millis(1000))
        .with_burst(100)
        .with_concurrency(3);
    let dest = gmail(&emu, limits).await;
    let report = engine(
        Arc::new(source(8).await),
        dest,
        Arc::new(MemoryState::new()),
    )
    .run()
    .await
    .unwrap();
    assert!(report.is_complete(), "{report}");
    let stats = emu.stats();
    assert_eq!(
        (stats.rate_limited, stats.concurrency_refused),
        (0, 0),
        "{stats:?}"
    );
    assert!(stats.max_in_flight[USER] <= 3);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_stale_history_id_lists_everything_again_without_duplicates() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let work = emu.create_label(USER, "Work");
    for i in 0..6 {
        let labels: &[&str] = if i % 2 == 0 {
            &["INBOX", &work]
        } else {
            &["INBOX", "UNREAD"]
        };
        emu.seed_message(USER, &mime(i), labels, 1_700_000_000_000 + i as i64);
    }
    let src = gmail(&emu, GmailLimits::default()).await;
    let copy = MemoryStore::new("copy");
    let state = Arc::new(MemoryState::new());
    let e = engine(src, Arc::new(copy.clone()), Arc::clone(&state));
    let first = e.run().await.unwrap();
    assert!(first.is_complete(), "{first}");
    assert_eq!(
        first.totals.copied, 6,
        "All Mail once, not once per label: {first}"
    );
    // Incremental: one new message, listed from history.
    emu.seed_message(USER, &mime(100), &["INBOX"], 1_700_000_100_000);
    let second = e.run().await.unwrap();
    assert_eq!(second.totals.copied, 1, "{second}");
    // Gmail drops its history: the next pass lists everything again, copies the new
    // message only, and duplicates nothing.
    emu.seed_message(USER, &mime(101), &["INBOX"], 1_700_000_200_000);
    emu.expire_history(USER);
    let third = e.run().await.unwrap();
    assert!(third.is_complete(), "{third}");
    assert_eq!(third.totals.copied, 1, "{third}");
    let mut stored = 0;
    for f in mailmigrate_core::Provider::list_folders(&copy)
        .await
        .unwrap()
    {
        let listing: Vec<_> =
            futures::StreamExt::collect(mailmigrate_core::Source::list_changes(&copy, &f.id, None))
                .await;
        stored += listing
            .iter()
            .filter(|c| matches!(c, Ok(mailmigrate_core::Change::Upsert(_))))
            .count();
    }
    assert_eq!(stored, 8);
    emu.shutdown().await;
}

#[tokio::test]
async fn labels_travel_with_each_message_from_gmail_to_gmail() {
    let old = Emulator::builder().user(USER).start().await.unwrap();
    let new = Emulator::builder().user(USER).start().await.unwrap();
    let work = old.create_label(USER, "Work");
    let nested = old.create_label(USER, "Work/2026");
    old.seed_message(
        USER,
        &mime(1),
        &["INBOX", &work, &nested, "STARRED"],
        1_700_000_000_000,
    );
    old.seed_message(
        USER,
        &mime(2),
        &[&work, "UNREAD", "IMPORTANT"],
        1_700_000_000_001,
    );
    old.seed_message(USER, &mime(3), &["SPAM"], 1_700_000_000_002);
    let src = gmail(&old, GmailLimits::default()).await;
    let dst = gmail(&new, GmailLimits::default()).await;
    let report = engine(src, dst, Arc::new(MemoryState::new()))
        .run()
        .await
        .unwrap();
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.totals.copied, 3, "{report}");
    let labels = new.labels(USER);
    let id_of = |name: &str| {
        labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.id.clone())
            .unwrap()
    };
    let by_subject = |n: usize| {
        new.messages(USER)
            .into_iter()
            .find(|m| m.raw == mime(n))
            .unwrap()
            .label_ids
    };
    let first = by_subject(1);
    for l in ["INBOX", "STARRED", &id_of("Work"), &id_of("Work/2026")] {
        assert!(first.contains(l), "{l} missing from {first:?}");
    }
    assert!(!first.contains("UNREAD"));
    let second = by_subject(2);
    assert!(
        second.contains("UNREAD") && second.contains("IMPORTANT") && !second.contains("INBOX"),
        "{second:?}"
    );
    assert!(by_subject(3).contains("SPAM"));
    old.shutdown().await;
    new.shutdown().await;
}

#[tokio::test]
async fn a_draft_outside_drafts_stays_in_its_folder_and_keeps_its_flag() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let src = MemoryStore::new("old");
    let mut ids = Vec::new();
    let mut inbox_draft = None;
    for (path, role) in [
        ("INBOX", None),
        ("Drafts", Some(mailmigrate_core::SpecialUse::Drafts)),
    ] {
        let f = src
            .ensure_folder(&FolderPath::parse(path, '/').unwrap(), role)
            .await
            .unwrap()
            .id;
        let n = ids.len();
        let mut meta = MessageMeta::new(MessageId::new(format!("d{n}")), f.clone());
        meta.flags = [Flag::Draft, Flag::Seen].into_iter().collect();
        for r in src
            .append(&f, vec![RawMessage::new(meta, mime(500 + n))])
            .await
            .unwrap()
        {
            let id = r.unwrap();
            if n == 0 {
                inbox_draft = Some((f.clone(), id.id.unwrap()));
            }
        }
        ids.push(500 + n);
    }
    let dst = gmail(&emu, GmailLimits::default()).await;
    let state = Arc::new(MemoryState::new());
    let report = engine(
        Arc::new(src.clone()),
        Arc::clone(&dst) as Arc<dyn Destination>,
        Arc::clone(&state) as _,
    )
    .run()
    .await
    .unwrap();
    assert!(report.is_complete(), "{report}");
    let labels_of = |n: usize| {
        emu.messages(USER)
            .into_iter()
            .find(|m| m.raw == mime(n))
            .unwrap()
            .label_ids
    };
    // The draft in INBOX: not filed in Gmail's Drafts, its flag kept as a keyword label.
    let inbox = labels_of(ids[0]);
    assert!(
        inbox.contains("INBOX") && !inbox.contains("DRAFT"),
        "{inbox:?}"
    );
    let keyword = emu
        .labels(USER)
        .into_iter()
        .find(|l| l.name.ends_with("/$Draft"))
        .expect("a keyword label for \\Draft");
    assert!(inbox.contains(&keyword.id), "{inbox:?}");
    // The draft in Drafts is Gmail's draft.
    assert!(labels_of(ids[1]).contains("DRAFT"));
    // Read back, both carry \Draft, each in its own folder only.
    let folders = dst.list_folders().await.unwrap();
    for (path, n) in [("INBOX", 1), ("Drafts", 1)] {
        let f = folders.iter().find(|f| f.path.to_string() == path).unwrap();
        let mut listing = dst.list_changes(&f.id, None);
        let mut drafts = 0;
        while let Some(c) = futures::StreamExt::next(&mut listing).await {
            if let mailmigrate_core::Change::Upsert(m) = c.unwrap() {
                assert!(m.flags.contains(&Flag::Draft), "{path}: {:?}", m.flags);
                drafts += 1;
            }
        }
        assert_eq!(drafts, n, "{path}");
    }
    // The flag cleared at the source: the keyword label goes, and \Draft with it.
    let (f, id) = inbox_draft.unwrap();
    src.set_flags(&f, &id, [Flag::Seen].into_iter().collect())
        .unwrap();
    let again = engine(
        Arc::new(src),
        Arc::clone(&dst) as Arc<dyn Destination>,
        state as _,
    )
    .run()
    .await
    .unwrap();
    assert!(again.is_complete(), "{again}");
    assert!(
        !labels_of(ids[0]).contains(&keyword.id),
        "{:?}",
        labels_of(ids[0])
    );
    assert!(labels_of(ids[1]).contains("DRAFT"), "the real draft stays");
    emu.shutdown().await;
}

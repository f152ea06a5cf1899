//! Graph → Graph through the mailbox import/export API: two emulated tenants, the core
//! engine in between, and a [`GraphTenantCopy`] as its destination.
#![cfg(feature = "emulator")]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mailmigrate_core::engine::{Engine, SyncOptions, SyncReport};
use mailmigrate_core::state::{MemoryState, SqliteState, StateStore};
use mailmigrate_graph::emulator::{
    CreatedBy, Emulator, EmulatorBuilder, EmulatorHandle, Seed, StoredMessage,
};
use mailmigrate_graph::{CopyPath, GraphTenantCopy};
use time::macros::datetime;

const A: &str = "ada@a.example";
const B: &str = "ada@b.example";

fn mime(n: u32) -> Vec<u8> {
    format!(
        "Message-ID: <m{n}@a.example>\r\nFrom: Bob <bob@example.com>\r\nTo: ada@a.example\r\n\
         Subject: message {n}\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\nbody {n}\r\n"
    )
    .into_bytes()
}

/// Tenant A with five messages in two folders (one read, flagged, with categories and a
/// received date of its own), and tenant B as built by `b`.
async fn tenants(b: EmulatorBuilder) -> (EmulatorHandle, EmulatorHandle) {
    let a = Emulator::builder().mailbox(A).start().await.unwrap();
    let b = b.mailbox(B).start().await.unwrap();
    let special = Seed {
        is_read: true,
        flagged: true,
        categories: vec!["Red".into(), "Project X".into()],
        received: Some(datetime!(2025-12-24 08:30:00 UTC)),
    };
    a.seed_message(A, "Inbox", &mime(0), special);
    for n in 1..3 {
        a.seed_message(A, "Inbox", &mime(n), Seed::default());
    }
    for n in 3..5 {
        a.seed_message(A, "Projects/2026", &mime(n), Seed::default());
    }
    (a, b)
}

async fn copy(a: &EmulatorHandle, b: &EmulatorHandle) -> Arc<GraphTenantCopy> {
    let source = Arc::new(a.graph_builder(A).connect().await.unwrap());
    let dest = Arc::new(b.graph_builder(B).connect().await.unwrap());
    Arc::new(source.export_import_to(dest))
}

async fn run(copy: &Arc<GraphTenantCopy>, state: Arc<dyn StateStore>) -> SyncReport {
    let options = SyncOptions::default().with_settle_grace(Duration::from_millis(50));
    Engine::new(Arc::clone(copy.source()) as _, Arc::clone(copy) as _, state)
        .with_options(options)
        .run()
        .await
        .unwrap()
}

/// Copies per `Message-ID` in `b`'s mailbox.
fn per_message_id(b: &EmulatorHandle) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for m in b.messages(B) {
        *n.entry(m.internet_message_id.unwrap_or_default())
            .or_default() += 1;
    }
    n
}

/// Whether a copy carries the content-hash stamp look-ups find it by.
fn stamped(m: &StoredMessage) -> bool {
    m.extended
        .iter()
        .any(|(k, _)| k.contains("mailmigrate-hash"))
}

fn exactly_once(b: &EmulatorHandle) {
    let copies = per_message_id(b);
    assert_eq!(copies.len(), 5, "{copies:?}");
    assert!(copies.values().all(|&n| n == 1), "{copies:?}");
}

#[tokio::test]
async fn every_item_arrives_once_with_its_flags_dates_and_categories() {
    let (a, b) = tenants(Emulator::builder()).await;
    let copy = copy(&a, &b).await;
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let report = run(&copy, Arc::clone(&state)).await;
    assert_eq!(report.totals.copied, 5, "{:?}", report.totals);
    exactly_once(&b);
    let originals = a.messages(A);
    for m in b.messages(B) {
        assert_eq!(m.created_by, CreatedBy::ImportItem, "{m:?}");
        assert!(!m.is_draft);
        let o = originals
            .iter()
            .find(|o| o.internet_message_id == m.internet_message_id)
            .unwrap();
        assert_eq!(
            (
                m.is_read,
                &m.flag_status,
                &m.categories,
                m.received,
                &m.mime
            ),
            (
                o.is_read,
                &o.flag_status,
                &o.categories,
                o.received,
                &o.mime
            )
        );
        assert_eq!(
            b.folders(B)
                .iter()
                .find(|f| f.path == m.folder_path)
                .map(|f| f.path.clone()),
            Some(o.folder_path.clone())
        );
    }
    let special = b
        .messages(B)
        .into_iter()
        .find(|m| m.internet_message_id.as_deref() == Some("<m0@a.example>"))
        .unwrap();
    assert!(special.is_read && special.flag_status == "flagged");
    assert_eq!(special.received, Some(datetime!(2025-12-24 08:30:00 UTC)));
    let paths = copy.paths();
    let written: Vec<_> = paths.iter().filter(|p| p.exported + p.json > 0).collect();
    assert_eq!(written.len(), 2, "{paths:?}");
    assert!(written
        .iter()
        .all(|p| p.path_taken() == CopyPath::ExportImport && p.path.is_some()));
    // A second pass finds everything in place.
    let again = run(&copy, state).await;
    assert_eq!(again.totals.copied, 0, "{:?}", again.totals);
    exactly_once(&b);
    a.shutdown().await;
    b.shutdown().await;
}

/// The import happened, its answer did not arrive: the engine settles the write by
/// looking, finds the unstamped import by its `Message-ID` and bytes, and writes nothing
/// again.
#[tokio::test]
async fn a_lost_import_reply_leaves_exactly_one_copy() {
    let (a, b) = tenants(Emulator::builder()).await;
    b.faults().lose_reply_matching("POST", "importItem", 2);
    let copy = copy(&a, &b).await;
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let report = run(&copy, Arc::clone(&state)).await;
    assert_eq!(b.faults().remaining(), 0, "both replies were lost");
    assert_eq!(b.messages(B).len(), 5, "{:?}", report.totals);
    exactly_once(&b);
    let again = run(&copy, state).await;
    assert_eq!(again.totals.copied, 0, "{:?}", again.totals);
    assert_eq!(b.messages(B).len(), 5);
    exactly_once(&b);
    a.shutdown().await;
    b.shutdown().await;
}

/// An import session's URL expires (\[G-IMP\]): the next import answers 401, and the copy
/// creates a new session and goes on on the same path.
#[tokio::test]
async fn an_expired_import_session_is_renewed() {
    let (a, b) = tenants(Emulator::builder()).await;
    let copy = copy(&a, &b).await;
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    run(&copy, Arc::clone(&state)).await;
    assert_eq!(
        b.stats().import_sessions,
        1,
        "one session for the whole run"
    );
    b.faults().expire_import_sessions();
    a.seed_message(A, "Inbox", &mime(5), Seed::default());
    let report = run(&copy, state).await;
    assert_eq!(report.totals.copied, 1, "{:?}", report.totals);
    let new = b
        .messages(B)
        .into_iter()
        .find(|m| m.internet_message_id.as_deref() == Some("<m5@a.example>"))
        .unwrap();
    assert_eq!(new.created_by, CreatedBy::ImportItem);
    assert_eq!(b.stats().import_sessions, 2, "renewed once");
    assert!(
        copy.paths().iter().all(|p| p.json == 0),
        "{:?}",
        copy.paths()
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// A tenant without the API (or an app without `MailboxItem.ImportExport.All`): 403, 404
/// or 501 from discovery. Every folder falls back to the JSON path, and says so.
#[tokio::test]
async fn without_the_api_each_folder_takes_the_json_path_and_says_so() {
    for status in [403, 404, 501] {
        let (a, b) = tenants(Emulator::builder().mailbox_import_export_refusal(status)).await;
        let copy = copy(&a, &b).await;
        let report = run(&copy, Arc::new(MemoryState::new())).await;
        assert_eq!(report.totals.copied, 5, "{status}: {:?}", report.totals);
        exactly_once(&b);
        assert!(b
            .messages(B)
            .iter()
            .all(|m| m.created_by == CreatedBy::JsonCreate && !m.is_draft));
        let written: Vec<_> = copy
            .paths()
            .into_iter()
            .filter(|p| p.exported + p.json > 0)
            .collect();
        assert_eq!(written.len(), 2, "{status}");
        for p in written {
            assert_eq!(p.path_taken(), CopyPath::Json, "{status}: {p:?}");
            let reason = p.reason.unwrap_or_default();
            assert!(reason.contains(&status.to_string()), "{status}: {reason}");
        }
        a.shutdown().await;
        b.shutdown().await;
    }
}

/// The source tenant refusing is enough to take the JSON path.
#[tokio::test]
async fn a_source_without_the_api_takes_the_json_path() {
    let a = Emulator::builder()
        .mailbox(A)
        .mailbox_import_export(false)
        .start()
        .await
        .unwrap();
    let b = Emulator::builder().mailbox(B).start().await.unwrap();
    a.seed_message(A, "Inbox", &mime(1), Seed::default());
    let copy = copy(&a, &b).await;
    let report = run(&copy, Arc::new(MemoryState::new())).await;
    assert_eq!(report.totals.copied, 1);
    assert_eq!(b.messages(B)[0].created_by, CreatedBy::JsonCreate);
    assert!(copy
        .paths()
        .iter()
        .filter(|p| p.json > 0)
        .all(|p| p.path_taken() == CopyPath::Json));
    a.shutdown().await;
    b.shutdown().await;
}

/// A run whose lost import could not be settled (the destination's look-ups failing)
/// ends with the row pending; a new process with the same ledger settles it by looking,
/// and copies nothing twice.
#[tokio::test]
async fn a_resumed_run_from_the_same_ledger_copies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("state.sqlite");
    let (a, b) = tenants(Emulator::builder()).await;
    b.faults().lose_reply_matching("POST", "importItem", 1);
    b.faults()
        .fail_matching("GET", "/messages", 1000, 503, "serviceNotAvailable");
    {
        let copy = copy(&a, &b).await;
        let state: Arc<dyn StateStore> = Arc::new(SqliteState::open(&ledger).unwrap());
        let options = SyncOptions::default().with_settle_grace(Duration::from_millis(50));
        let first = Engine::new(
            Arc::clone(copy.source()) as _,
            Arc::clone(&copy) as _,
            state,
        )
        .with_retry(None)
        .with_options(options)
        .run()
        .await;
        // The run cannot settle the lost import: it ends incomplete, or in error.
        if let Ok(r) = &first {
            assert!(!r.is_complete(), "{:?}", r.totals);
        }
    }
    let before = b.messages(B);
    assert!(
        before.iter().all(|m| m.created_by == CreatedBy::ImportItem),
        "{before:?}"
    );
    assert_eq!(
        before.iter().filter(|m| !stamped(m)).count(),
        1,
        "the lost import is there, unstamped"
    );
    b.faults().clear();
    // A new process: new clients, a new copy, the ledger reopened.
    let copy = copy(&a, &b).await;
    let state: Arc<dyn StateStore> = Arc::new(SqliteState::open(&ledger).unwrap());
    let second = run(&copy, Arc::clone(&state)).await;
    // What run 1 did not reach is copied; the pending import is found, not written again.
    let missing = 5 - before.len() as u64;
    assert_eq!(second.totals.copied, missing, "{:?}", second.totals);
    exactly_once(&b);
    assert!(b.messages(B).iter().all(stamped), "settled by the look-up");
    let third = run(&copy, state).await;
    assert_eq!(third.totals.copied, 0, "{:?}", third.totals);
    exactly_once(&b);
    a.shutdown().await;
    b.shutdown().await;
}

/// The import was answered, the stamping `PATCH` was not: of unknown outcome, settled by
/// the look-up, which stamps the copy. One copy each.
#[tokio::test]
async fn a_lost_stamp_is_settled_by_the_look_up() {
    let (a, b) = tenants(Emulator::builder()).await;
    b.faults().lose_reply_matching("PATCH", "/messages/", 1);
    let copy = copy(&a, &b).await;
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    run(&copy, Arc::clone(&state)).await;
    exactly_once(&b);
    assert!(b.messages(B).iter().all(stamped));
    assert_eq!(run(&copy, state).await.totals.copied, 0);
    exactly_once(&b);
    a.shutdown().await;
    b.shutdown().await;
}

/// A message without `Message-ID` could not be found after a lost import, so it takes
/// the JSON path; its folder reports both paths. Neither mailbox sees more than four
/// requests at once \[G-THR\].
#[tokio::test]
async fn a_message_without_message_id_takes_the_json_path_and_the_folder_is_mixed() {
    let (a, b) = tenants(Emulator::builder()).await;
    a.seed_message(
        A,
        "Inbox",
        b"Subject: no id\r\n\r\nbody\r\n",
        Seed::default(),
    );
    let copy = copy(&a, &b).await;
    let report = run(&copy, Arc::new(MemoryState::new())).await;
    assert_eq!(report.totals.copied, 6, "{:?}", report.totals);
    let stored = b.messages(B);
    let plain: Vec<_> = stored
        .iter()
        .filter(|m| m.created_by == CreatedBy::JsonCreate)
        .collect();
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].internet_message_id, None);
    let inbox = copy
        .paths()
        .into_iter()
        .find(|p| p.path.as_ref().is_some_and(|p| p.join("/") == "INBOX"))
        .unwrap();
    assert_eq!(inbox.path_taken(), CopyPath::Mixed, "{inbox:?}");
    assert_eq!((inbox.exported, inbox.json), (3, 1));
    assert!(inbox.reason.unwrap().contains("Message-ID"));
    for (emu, upn) in [(&a, A), (&b, B)] {
        let most = emu
            .stats()
            .max_concurrent
            .get(upn)
            .copied()
            .expect("requests seen");
        assert!(most <= 4, "{upn}: {most} at once");
    }
    a.shutdown().await;
    b.shutdown().await;
}

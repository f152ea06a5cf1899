//! The send-and-receive probe against in-memory mailboxes.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use mailmigrate_core::campaign::probe::*;
use mailmigrate_core::campaign::report::ProbeCheck;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{
    Change, Destination, Error, ErrorKind, FolderPath, MessageId, MessageMeta, Provider,
    RawMessage, Source,
};

/// Delivers into a store after a delay, adding a `Received` header as a server would, and
/// without a Message-ID in the listing (so the probe must read the headers).
#[derive(Debug)]
struct Deliver {
    store: MemoryStore,
    delay: Duration,
}

#[async_trait]
impl Submission for Deliver {
    async fn submit(&self, envelope: &Envelope, message: &[u8]) -> mailmigrate_core::Result<()> {
        assert_eq!(envelope.to.len(), 1);
        assert!(envelope.to[0].eq_ignore_ascii_case("ann@new.example"));
        let store = self.store.clone();
        let delay = self.delay;
        let mut bytes = b"Received: from test by test\r\n".to_vec();
        bytes.extend_from_slice(message);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let inbox = store
                .ensure_folder(&FolderPath::inbox(), None)
                .await
                .unwrap()
                .id;
            let meta = MessageMeta::new(MessageId::new("x"), inbox.clone());
            store
                .append(&inbox, vec![RawMessage::new(meta, bytes.into())])
                .await
                .unwrap();
        });
        Ok(())
    }
}

/// Accepts everything and delivers nothing.
#[derive(Debug)]
struct Void;

#[async_trait]
impl Submission for Void {
    async fn submit(&self, _: &Envelope, _: &[u8]) -> mailmigrate_core::Result<()> {
        Ok(())
    }
}

/// Refuses everything.
#[derive(Debug)]
struct Refuse;

#[async_trait]
impl Submission for Refuse {
    async fn submit(&self, _: &Envelope, _: &[u8]) -> mailmigrate_core::Result<()> {
        Err(Error::new(
            ErrorKind::PermissionDenied,
            "550 5.7.1 relaying denied",
        ))
    }
}

async fn mailbox() -> MemoryStore {
    let store = MemoryStore::new("ann");
    let inbox = store
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id;
    let other = RawMessage::new(
        MessageMeta::new(MessageId::new("o"), inbox.clone()),
        b"Message-ID: <other@x>\r\nSubject: old\r\n\r\nold\r\n"
            .to_vec()
            .into(),
    );
    store.append(&inbox, vec![other]).await.unwrap();
    store
}

async fn inbox_count(store: &MemoryStore) -> usize {
    let inbox = store
        .list_folders()
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.path.is_inbox())
        .unwrap()
        .id;
    let changes: Vec<_> = store.list_changes(&inbox, None).collect().await;
    changes
        .iter()
        .filter(|c| matches!(c, Ok(Change::Upsert(_))))
        .count()
}

fn options() -> ProbeOptions {
    ProbeOptions::default()
        .with_timeout(Duration::from_secs(3))
        .with_poll_interval(Duration::from_millis(50))
}

#[tokio::test]
async fn a_delivered_probe_is_found_and_deleted() {
    let store = mailbox().await;
    let sub = Deliver {
        store: store.clone(),
        delay: Duration::from_millis(200),
    };
    let msg = ProbeMessage::new("acme", "probe@new.example", "Ann@new.example");
    let r = probe_mailbox(&sub, &store, &msg, &options()).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(r.mailbox, "ann@new.example");
    assert!(r.found_after.unwrap() >= Duration::from_millis(200));
    assert!(r.deleted);
    assert_eq!(inbox_count(&store).await, 1, "only the old message is left");
    let row = ProbeCheck::from(&r);
    assert!(row.ok && row.deleted && row.found_after_secs.is_some());
}

#[tokio::test]
async fn a_kept_probe_stays() {
    let store = mailbox().await;
    let sub = Deliver {
        store: store.clone(),
        delay: Duration::ZERO,
    };
    let msg = ProbeMessage::new("acme", "probe@new.example", "ann@new.example");
    let r = probe_mailbox(&sub, &store, &msg, &options().with_keep(true)).await;
    assert!(r.is_ok(), "{r:?}");
    assert!(!r.deleted);
    assert_eq!(inbox_count(&store).await, 2);
}

#[tokio::test]
async fn a_probe_that_never_arrives_times_out_with_a_clear_result() {
    let store = mailbox().await;
    let msg = ProbeMessage::new("acme", "probe@new.example", "ann@new.example");
    let started = Instant::now();
    let r = probe_mailbox(
        &Void,
        &store,
        &msg,
        &options().with_timeout(Duration::from_millis(500)),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!r.is_ok());
    assert_eq!(r.found_after, None);
    let e = r.error.unwrap();
    assert!(e.starts_with("not found in INBOX within 500ms"), "{e}");
    let row = ProbeCheck::from(
        &probe_mailbox(
            &Void,
            &store,
            &msg,
            &options().with_timeout(Duration::from_millis(100)),
        )
        .await,
    );
    assert!(!row.ok && row.found_after_secs.is_none() && row.error.is_some());
}

#[tokio::test]
async fn a_refused_submission_is_reported() {
    let store = mailbox().await;
    let msg = ProbeMessage::new("acme", "probe@new.example", "ann@new.example");
    let r = probe_mailbox(&Refuse, &store, &msg, &options()).await;
    let e = r.error.unwrap();
    assert!(
        e.starts_with("submission failed:") && e.contains("relaying denied"),
        "{e}"
    );
}

#[tokio::test]
async fn a_missing_folder_is_reported() {
    let store = mailbox().await;
    let msg = ProbeMessage::new("acme", "probe@new.example", "ann@new.example");
    let opts = options().with_folder(FolderPath::new(["Nowhere"]).unwrap());
    let r = probe_mailbox(&Void, &store, &msg, &opts).await;
    assert_eq!(
        r.error.as_deref(),
        Some("the mailbox has no folder Nowhere")
    );
}

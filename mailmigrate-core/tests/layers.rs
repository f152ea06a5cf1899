//! Layer behaviour around the memory store, on tokio's paused clock so backoff and pacing
//! sleeps take no real time.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use futures::FutureExt;
use mailmigrate_core::layer::{
    ConcurrencyLimitLayer, CountingObserver, Fault, FaultLayer, Layer, MetricsLayer, Rate,
    RetryConfig, RetryEvent, RetryLayer, Stack, ThrottleLayer, Trigger,
};
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{
    Capabilities, Change, Checkpoint, Destination, ErrorKind, Folder, FolderId, FolderPath,
    ItemResult, MessageId, MessageMeta, Operation, Provider, ProviderInfo, RawMessage, Result,
    RetryStatus, Source,
};
use tokio::time::Instant;

fn message(folder: &FolderId, i: usize) -> RawMessage {
    RawMessage::new(
        MessageMeta::new(MessageId::new(format!("src-{i}")), folder.clone()),
        Bytes::from(format!(
            "Message-ID: <{i}@example.test>\r\nSubject: message {i}\r\n\r\nbody {i}\r\n"
        )),
    )
}

fn messages(folder: &FolderId, n: usize) -> Vec<RawMessage> {
    (0..n).map(|i| message(folder, i)).collect()
}

async fn inbox(store: &MemoryStore) -> FolderId {
    store
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id
}

/// A store holding `n` messages in its inbox, with their ids in arrival order.
async fn seeded(n: usize) -> (MemoryStore, FolderId, Vec<MessageId>) {
    let store = MemoryStore::new("seeded");
    let folder = inbox(&store).await;
    let ids = store
        .append(&folder, messages(&folder, n))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap().id.unwrap())
        .collect();
    (store, folder, ids)
}

fn retry_layer(config: RetryConfig) -> (RetryLayer, Arc<Mutex<Vec<RetryEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&events);
    let layer = RetryLayer::new(config)
        .with_observer(move |e: &RetryEvent| log.lock().unwrap().push(e.clone()));
    (layer, events)
}

fn taken(events: &Mutex<Vec<RetryEvent>>) -> Vec<RetryEvent> {
    std::mem::take(&mut *events.lock().unwrap())
}

#[tokio::test(start_paused = true)]
async fn retry_recovers_from_temporary_failures_and_reports_events() {
    let (retry, events) = retry_layer(RetryConfig::default());
    let store = MemoryStore::new("dest");
    let dest = Stack::new(store.clone())
        .layer(FaultLayer::new().fail_calls(
            Operation::EnsureFolder,
            Trigger::first(3),
            Fault::temporary(ErrorKind::Unavailable),
        ))
        .layer(retry)
        .into_inner();

    let ensured = dest
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap();
    assert!(ensured.created);
    assert_eq!(dest.inner().injected(), 3);

    let events = taken(&events);
    assert_eq!(events.len(), 3);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.attempt, i + 1);
        assert_eq!(e.operation, Operation::EnsureFolder);
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert_eq!(e.provider, "memory");
        assert!(e.delay >= Duration::from_millis(100), "{:?}", e.delay);
    }
    assert_eq!(events[0].delay, Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn retry_waits_at_least_the_retry_after_hint() {
    let (retry, events) = retry_layer(RetryConfig::default());
    let hint = Duration::from_secs(30);
    let source = Stack::new(MemoryStore::new("src"))
        .layer(FaultLayer::new().fail_calls(
            Operation::ListFolders,
            Trigger::first(2),
            Fault::temporary(ErrorKind::RateLimited).with_retry_after(hint),
        ))
        .layer(retry)
        .into_source();

    let started = Instant::now();
    source.list_folders().await.unwrap();
    assert!(started.elapsed() >= hint * 2, "{:?}", started.elapsed());
    let events = taken(&events);
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e.delay >= hint && e.kind == ErrorKind::RateLimited));
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried() {
    let (retry, events) = retry_layer(RetryConfig::default());
    let dest = Stack::new(MemoryStore::new("dest"))
        .layer(FaultLayer::new().fail_calls(
            Operation::EnsureFolder,
            Trigger::first(1),
            Fault::permanent(ErrorKind::PermissionDenied),
        ))
        .layer(retry)
        .into_inner();

    let started = Instant::now();
    let err = dest
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert_eq!(err.retry_status(), RetryStatus::Permanent);
    assert_eq!(err.context("folder"), Some("INBOX"));
    assert_eq!(dest.inner().injected(), 1);
    assert!(taken(&events).is_empty());
    assert_eq!(started.elapsed(), Duration::ZERO);

    // A real permanent error from the store passes through the same way.
    let err = Destination::delete(&dest, &FolderId::new("Nowhere"), &[MessageId::new("1")])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(taken(&events).is_empty());
}

#[tokio::test(start_paused = true)]
async fn exhaustion_marks_the_error_and_stops_after_max_retries() {
    let (retry, events) = retry_layer(RetryConfig::default().with_max_retries(4));
    let counts = Arc::new(CountingObserver::default());
    let source = Stack::new(MemoryStore::new("src"))
        .layer(MetricsLayer::new(Arc::clone(&counts)))
        .layer(FaultLayer::new().fail_calls(
            Operation::ListFolders,
            Trigger::always(),
            Fault::temporary(ErrorKind::Unavailable),
        ))
        .layer(retry)
        .into_inner();

    let err = Provider::list_folders(&source).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.retry_status(), RetryStatus::Exhausted);
    assert!(!err.is_temporary());
    // One call plus four retries, none of which reached the store.
    assert_eq!(source.inner().injected(), 5);
    assert_eq!(counts.calls(Operation::ListFolders), 0);
    assert_eq!(taken(&events).len(), 4);
}

#[tokio::test(start_paused = true)]
async fn retry_timeout_bounds_the_total_wait() {
    let (retry, events) = retry_layer(
        RetryConfig::default()
            .with_max_retries(100)
            .with_retry_timeout(Duration::from_secs(180)),
    );
    let source = Stack::new(MemoryStore::new("src"))
        .layer(FaultLayer::new().fail_calls(
            Operation::ListFolders,
            Trigger::always(),
            Fault::temporary(ErrorKind::RateLimited).with_retry_after(Duration::from_secs(70)),
        ))
        .layer(retry)
        .into_inner();

    let started = Instant::now();
    let err = Provider::list_folders(&source).await.unwrap_err();
    assert_eq!(err.retry_status(), RetryStatus::Exhausted);
    // Waits of 70 s fit twice into 180 s; a third would end at 210 s.
    assert_eq!(taken(&events).len(), 2);
    assert_eq!(source.inner().injected(), 3);
    assert!(started.elapsed() >= Duration::from_secs(140));
    assert!(started.elapsed() <= Duration::from_secs(180));
}

#[tokio::test(start_paused = true)]
async fn append_retries_only_failed_items_and_keeps_input_order() {
    let store = MemoryStore::with_capabilities(
        "dest",
        Capabilities {
            append_max_size: Some(200),
            ..MemoryStore::capabilities()
        },
    );
    let folder = inbox(&store).await;
    let reached = Arc::new(CountingObserver::default());
    let (retry, events) = retry_layer(RetryConfig::default());
    let dest = Stack::new(store.clone())
        .layer(MetricsLayer::new(Arc::clone(&reached)))
        .layer(FaultLayer::new().fail_items(
            Operation::Append,
            Trigger::every(3),
            Fault::temporary(ErrorKind::Unavailable),
        ))
        .layer(retry)
        .into_destination();

    let mut batch = messages(&folder, 10);
    // One message the store refuses for good: it must stay in place and not be retried.
    batch[5] = RawMessage::new(
        MessageMeta::new(MessageId::new("src-big"), folder.clone()),
        Bytes::from(vec![b'x'; 500]),
    );
    let results = dest.append(&folder, batch.clone()).await.unwrap();

    assert_eq!(results.len(), 10);
    let stored = store.messages(&folder).unwrap();
    assert_eq!(stored.len(), 9, "every message but the oversized one, once");
    for (i, (result, sent)) in results.iter().zip(&batch).enumerate() {
        if i == 5 {
            let e = result.as_ref().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::MessageTooLarge);
            assert_eq!(e.retry_status(), RetryStatus::Permanent);
            continue;
        }
        let id = result.as_ref().unwrap().id.clone().unwrap();
        let copy = stored.iter().find(|m| m.meta.id == id).unwrap();
        assert_eq!(
            copy.bytes, sent.bytes,
            "result {i} points at another message"
        );
    }
    // The store saw each deliverable message exactly once, in more than one call.
    assert_eq!(reached.items(Operation::Append), 9);
    assert_eq!(reached.failed_items(Operation::Append), 1);
    assert!(reached.calls(Operation::Append) > 1);
    let events = taken(&events);
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e.operation == Operation::Append));
}

#[tokio::test(start_paused = true)]
async fn append_outer_temporary_error_resends_the_whole_batch() {
    let store = MemoryStore::new("dest");
    let folder = inbox(&store).await;
    let (retry, events) = retry_layer(RetryConfig::default());
    let dest = Stack::new(store.clone())
        .layer(FaultLayer::new().fail_calls(
            Operation::Append,
            Trigger::first(2),
            Fault::temporary(ErrorKind::Unavailable),
        ))
        .layer(retry)
        .into_destination();

    let results = dest.append(&folder, messages(&folder, 4)).await.unwrap();
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(store.message_count(), 4);
    assert_eq!(taken(&events).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn append_items_that_exhaust_are_marked_and_the_rest_succeed() {
    let store = MemoryStore::new("dest");
    let folder = inbox(&store).await;
    let (retry, _) = retry_layer(RetryConfig::default().with_max_retries(2));
    let dest = Stack::new(store.clone())
        // The first message of every call fails: after two retries, the third is given up.
        .layer(FaultLayer::new().fail_items(
            Operation::Append,
            Trigger::first(3),
            Fault::temporary(ErrorKind::RateLimited),
        ))
        .layer(retry)
        .into_destination();

    let results = dest.append(&folder, messages(&folder, 1)).await.unwrap();
    let e = results[0].as_ref().unwrap_err();
    assert_eq!(e.retry_status(), RetryStatus::Exhausted);
    assert_eq!(e.context("message"), Some("src-0"));
    assert_eq!(store.message_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn append_later_round_failure_keeps_the_results_already_known() {
    let store = MemoryStore::new("dest");
    let folder = inbox(&store).await;
    let (retry, _) = retry_layer(RetryConfig::default());
    let dest = Stack::new(store.clone())
        .layer(
            FaultLayer::new()
                // The first message fails temporarily; the follow-up call fails for good.
                .fail_items(
                    Operation::Append,
                    Trigger::first(1),
                    Fault::temporary(ErrorKind::RateLimited),
                )
                .fail_calls(
                    Operation::Append,
                    Trigger::every(2),
                    Fault::permanent(ErrorKind::QuotaExceeded),
                ),
        )
        .layer(retry)
        .into_destination();

    let results = dest.append(&folder, messages(&folder, 3)).await.unwrap();
    let e = results[0].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
    assert_eq!(e.retry_status(), RetryStatus::Permanent);
    assert_eq!(e.context("message"), Some("src-0"));
    assert_eq!(e.context("folder"), Some(folder.as_str()));
    assert!(results[1..].iter().all(Result::is_ok));
    assert_eq!(store.message_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn fetch_rerequests_only_temporarily_failed_items() {
    let (store, folder, ids) = seeded(6).await;
    let reached = Arc::new(CountingObserver::default());
    let (retry, events) = retry_layer(RetryConfig::default());
    let source = Stack::new(store)
        .layer(MetricsLayer::new(Arc::clone(&reached)))
        .layer(FaultLayer::new().fail_items(
            Operation::Fetch,
            Trigger::first(2),
            Fault::temporary(ErrorKind::Unavailable).with_retry_after(Duration::from_secs(5)),
        ))
        .layer(retry)
        .into_source();

    let mut wanted = ids.clone();
    wanted.push(MessageId::new("999"));
    let started = Instant::now();
    let items: Vec<ItemResult<RawMessage>> = source.fetch(&folder, wanted).collect().await;

    assert_eq!(items.len(), 7);
    let got: BTreeSet<_> = items.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(got.len(), 7, "each id exactly once");
    for (id, r) in &items {
        if id.as_str() == "999" {
            let e = r.as_ref().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound);
            assert_eq!(e.retry_status(), RetryStatus::Permanent);
        } else {
            assert_eq!(&r.as_ref().unwrap().meta.id, id);
        }
    }
    // First call: 4 messages + the missing one; second call: the 2 failed ones.
    assert_eq!(reached.calls(Operation::Fetch), 2);
    assert_eq!(reached.items(Operation::Fetch), 6);
    assert_eq!(reached.failed_items(Operation::Fetch), 1);
    assert!(started.elapsed() >= Duration::from_secs(5));
    let events = taken(&events);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].operation, Operation::Fetch);
}

#[tokio::test(start_paused = true)]
async fn fetch_gives_up_with_exhausted_item_errors() {
    let (store, folder, ids) = seeded(3).await;
    let (retry, events) = retry_layer(RetryConfig::default().with_max_retries(3));
    let source = Stack::new(store)
        .layer(FaultLayer::new().fail_items(
            Operation::Fetch,
            Trigger::always(),
            Fault::temporary(ErrorKind::Unavailable),
        ))
        .layer(retry)
        .into_source();

    let items: Vec<_> = source.fetch(&folder, ids).collect().await;
    assert_eq!(items.len(), 3);
    for (id, r) in items {
        let e = r.unwrap_err();
        assert_eq!(e.retry_status(), RetryStatus::Exhausted);
        assert_eq!(e.context("message"), Some(id.as_str()));
    }
    assert_eq!(taken(&events).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn list_changes_reopens_before_the_first_item() {
    let (store, folder, _) = seeded(4).await;
    let (retry, events) = retry_layer(RetryConfig::default());
    let source = Stack::new(store)
        .layer(
            FaultLayer::new()
                // The first open fails outright, the second dies on its first entry.
                .fail_calls(
                    Operation::ListChanges,
                    Trigger::first(1),
                    Fault::temporary(ErrorKind::Unavailable),
                )
                .fail_items(
                    Operation::ListChanges,
                    Trigger::first(1),
                    Fault::temporary(ErrorKind::Unavailable),
                ),
        )
        .layer(retry)
        .into_source();

    let changes: Vec<Change> = source
        .list_changes(&folder, None)
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(changes.len(), 5);
    assert_eq!(
        changes
            .iter()
            .filter(|c| matches!(c, Change::Upsert(_)))
            .count(),
        4
    );
    assert!(matches!(changes.last(), Some(Change::Checkpoint(_))));
    let events = taken(&events);
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.operation == Operation::ListChanges));
}

#[tokio::test(start_paused = true)]
async fn list_changes_passes_mid_stream_errors_through() {
    let (store, folder, _) = seeded(4).await;
    let (retry, events) = retry_layer(RetryConfig::default());
    let source = Stack::new(store)
        .layer(FaultLayer::new().fail_items(
            Operation::ListChanges,
            Trigger::every(3),
            Fault::temporary(ErrorKind::Unavailable),
        ))
        .layer(retry)
        .into_source();

    let items: Vec<Result<Change>> = source.list_changes(&folder, None).collect().await;
    assert_eq!(
        items.len(),
        3,
        "two changes, then the error ends the stream"
    );
    assert!(items[..2].iter().all(Result::is_ok));
    let e = items[2].as_ref().unwrap_err();
    assert!(
        e.is_temporary(),
        "left for the engine to resume from its checkpoint"
    );
    assert_eq!(e.context("folder"), Some(folder.as_str()));
    assert!(taken(&events).is_empty());
}

#[tokio::test(start_paused = true)]
async fn list_changes_exhaustion_yields_one_marked_error() {
    let (store, folder, _) = seeded(1).await;
    let (retry, events) = retry_layer(RetryConfig::default().with_max_retries(2));
    let source = Stack::new(store)
        .layer(FaultLayer::new().fail_calls(
            Operation::ListChanges,
            Trigger::always(),
            Fault::temporary(ErrorKind::Unavailable),
        ))
        .layer(retry)
        .into_source();
    let items: Vec<_> = source
        .list_changes(&folder, Some(Checkpoint::new("0")))
        .collect()
        .await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].as_ref().unwrap_err().retry_status(),
        RetryStatus::Exhausted
    );
    assert_eq!(taken(&events).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn throttle_spaces_calls_and_stream_opens_on_the_virtual_clock() {
    let (store, folder, ids) = seeded(2).await;
    let source = ThrottleLayer::new(Rate::per_second(4).with_burst(2)).layer(store);
    let started = Instant::now();
    let mut at = Vec::new();
    for i in 0..6 {
        match i % 3 {
            0 => {
                Provider::list_folders(&source).await.unwrap();
            }
            1 => {
                let n = Source::fetch(&source, &folder, ids.clone()).count().await;
                assert_eq!(n, 2);
            }
            _ => {
                let n = Source::list_changes(&source, &folder, None).count().await;
                assert_eq!(n, 3);
            }
        }
        at.push(started.elapsed());
    }
    // A burst of two, then one call every 250 ms.
    let ms = |n| Duration::from_millis(n);
    assert_eq!(at[0], Duration::ZERO);
    assert_eq!(at[1], Duration::ZERO);
    for (i, t) in at.iter().enumerate().skip(2) {
        let due = ms(250 * (i as u64 - 1));
        assert!(
            *t >= due && *t < due + ms(5),
            "call {i} at {t:?}, due {due:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn throttle_paces_concurrent_callers() {
    let dest = Arc::new(ThrottleLayer::new(Rate::per_second(10)).layer(MemoryStore::new("d")));
    let started = Instant::now();
    let calls = (0..5).map(|_| {
        let dest = Arc::clone(&dest);
        async move {
            Provider::list_folders(&*dest).await.unwrap();
            started.elapsed()
        }
    });
    let mut at = futures::future::join_all(calls).await;
    at.sort();
    for pair in at.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(100), "{at:?}");
    }
}

/// Counts calls in flight.
#[derive(Debug, Default)]
struct InFlight {
    now: AtomicUsize,
    max_seen: AtomicUsize,
}

/// A source that counts calls in flight and takes virtual time over each.
#[derive(Debug)]
struct Probe<S> {
    inner: S,
    stats: Arc<InFlight>,
}

#[async_trait]
impl<S: Provider> Provider for Probe<S> {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        let now = self.stats.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.stats.max_seen.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let out = self.inner.list_folders().await;
        self.stats.now.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

#[async_trait]
impl<S: Source> Source for Probe<S> {
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
        self.inner.fetch(folder, ids)
    }
}

fn probe() -> (Probe<MemoryStore>, Arc<InFlight>) {
    let stats = Arc::new(InFlight::default());
    let probe = Probe {
        inner: MemoryStore::new("src"),
        stats: Arc::clone(&stats),
    };
    (probe, stats)
}

#[tokio::test(start_paused = true)]
async fn concurrency_limit_never_exceeds_its_bound() {
    let (inner, stats) = probe();
    let limited = Arc::new(ConcurrencyLimitLayer::new(3).layer(inner));
    let calls = (0..20).map(|_| {
        let limited = Arc::clone(&limited);
        tokio::spawn(async move { Provider::list_folders(&*limited).await })
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap().unwrap();
    }
    assert_eq!(stats.max_seen.load(Ordering::SeqCst), 3);

    // Without the limit the same load runs all at once.
    let (inner, stats) = probe();
    let calls = (0..20).map(|_| Provider::list_folders(&inner));
    futures::future::join_all(calls).await;
    assert_eq!(stats.max_seen.load(Ordering::SeqCst), 20);
}

#[tokio::test(start_paused = true)]
async fn open_streams_hold_their_permits_until_dropped() {
    let (store, folder, ids) = seeded(2).await;
    let limited = ConcurrencyLimitLayer::new(2).layer(store);
    let mut a = Source::list_changes(&limited, &folder, None);
    let mut b = Source::fetch(&limited, &folder, ids);
    assert!(a.next().await.is_some());
    assert!(b.next().await.is_some());

    // Both permits are held by the half-read streams.
    let blocked =
        tokio::time::timeout(Duration::from_secs(60), Provider::list_folders(&limited)).await;
    assert!(
        blocked.is_err(),
        "a third call ran while two streams were open"
    );

    drop(a);
    let folders = Provider::list_folders(&limited).now_or_never();
    assert!(matches!(folders, Some(Ok(ref f)) if f.len() == 1));
    drop(b);
}

#[tokio::test(start_paused = true)]
async fn metrics_count_calls_items_bytes_and_outcomes() {
    let store = MemoryStore::with_capabilities(
        "acct",
        Capabilities {
            append_max_size: Some(200),
            ..MemoryStore::capabilities()
        },
    );
    let folder = inbox(&store).await;
    let counts = Arc::new(CountingObserver::default());
    let both = Stack::new(store)
        .layer(MetricsLayer::new(Arc::clone(&counts)))
        .into_store();

    let mut batch = messages(&folder, 3);
    let appended_bytes: u64 = batch.iter().map(|m| m.bytes.len() as u64).sum();
    batch.push(RawMessage::new(
        MessageMeta::new(MessageId::new("big"), folder.clone()),
        Bytes::from(vec![b'x'; 300]),
    ));
    let ids: Vec<MessageId> = both
        .append(&folder, batch)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| r.ok().and_then(|a| a.id))
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(counts.calls(Operation::Append), 1);
    assert_eq!(counts.items(Operation::Append), 3);
    assert_eq!(counts.failed_items(Operation::Append), 1);
    assert_eq!(counts.failures(Operation::Append), 1);
    assert_eq!(counts.bytes(Operation::Append), appended_bytes);

    let mut wanted = ids.clone();
    wanted.push(MessageId::new("404"));
    let fetched = Source::fetch(&*both, &folder, wanted).count().await;
    assert_eq!(fetched, 4);
    assert_eq!(counts.calls(Operation::Fetch), 1);
    assert_eq!(counts.items(Operation::Fetch), 3);
    assert_eq!(counts.failed_items(Operation::Fetch), 1);
    assert_eq!(counts.bytes(Operation::Fetch), appended_bytes);

    let changes = Source::list_changes(&*both, &folder, None).count().await;
    assert_eq!(changes, 4);
    assert_eq!(
        counts.items(Operation::ListChanges),
        3,
        "the checkpoint is not an item"
    );
    assert_eq!(counts.failures(Operation::ListChanges), 0);

    Provider::list_folders(&*both).await.unwrap();
    Provider::list_folders(&*both).await.unwrap();
    assert_eq!(counts.calls(Operation::ListFolders), 2);
    assert_eq!(counts.items(Operation::ListFolders), 2);

    let err = both
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .map(|_| ());
    assert!(err.is_ok());
    assert_eq!(counts.total_calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn every_layer_passes_capabilities_through() {
    let caps = Capabilities {
        append_max_size: Some(1234),
        fetch_batch_max: 7,
        ..MemoryStore::capabilities()
    };
    let store = Stack::new(MemoryStore::with_capabilities("acct", caps))
        .layer(FaultLayer::new())
        .layer(ThrottleLayer::new(Rate::per_second(100)))
        .layer(ConcurrencyLimitLayer::new(4))
        .layer(RetryLayer::new(RetryConfig::default()))
        .layer(MetricsLayer::new(CountingObserver::default()))
        .into_store();
    assert_eq!(Provider::info(&*store).capabilities, caps);
    assert_eq!(Provider::info(&*store).account, "acct");
    assert_eq!(Provider::info(&*store).scheme, "memory");
}

#[tokio::test(start_paused = true)]
async fn lost_append_reply_is_not_retried_blindly() {
    let store = MemoryStore::new("dest");
    let folder = inbox(&store).await;
    let (retry, events) = retry_layer(RetryConfig::default());
    let dest = Stack::new(store.clone())
        .layer(FaultLayer::new().fail_calls(
            Operation::Append,
            Trigger::first(1),
            Fault::permanent(ErrorKind::Unavailable).after_call(),
        ))
        .layer(retry)
        .into_destination();

    let err = dest
        .append(&folder, messages(&folder, 2))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(taken(&events).is_empty());
    // The write happened; a resume must find these before writing again.
    assert_eq!(store.message_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn recommended_stack_moves_everything_once_through_random_faults() {
    let (source_store, src_folder, ids) = seeded(40).await;
    let dest_store = MemoryStore::new("dest");
    let dst_folder = inbox(&dest_store).await;
    let counts = Arc::new(CountingObserver::default());
    let flaky = || {
        FaultLayer::new()
            .with_seed(2024)
            .fail_calls(
                Operation::Append,
                Trigger::probability(0.2),
                Fault::temporary(ErrorKind::Unavailable),
            )
            .fail_items(
                Operation::Append,
                Trigger::probability(0.2),
                Fault::temporary(ErrorKind::RateLimited),
            )
            .fail_items(
                Operation::Fetch,
                Trigger::probability(0.3),
                Fault::temporary(ErrorKind::Unavailable),
            )
    };
    let (retry, events) = retry_layer(RetryConfig::default().with_max_retries(30));
    let source = Stack::new(source_store)
        .layer(flaky())
        .layer(ThrottleLayer::new(Rate::per_second(20).with_burst(5)))
        .layer(ConcurrencyLimitLayer::new(2))
        .layer(retry.clone())
        .layer(MetricsLayer::new(Arc::clone(&counts)))
        .into_source();
    let dest = Stack::new(dest_store.clone())
        .layer(flaky())
        .layer(ThrottleLayer::new(Rate::per_second(20).with_burst(5)))
        .layer(ConcurrencyLimitLayer::new(2))
        .layer(retry)
        .layer(MetricsLayer::new(Arc::clone(&counts)))
        .into_destination();

    for chunk in ids.chunks(8) {
        let fetched: Vec<RawMessage> = source
            .fetch(&src_folder, chunk.to_vec())
            .map(|(_, r)| r.unwrap())
            .collect()
            .await;
        let results = dest.append(&dst_folder, fetched).await.unwrap();
        assert!(results.iter().all(Result::is_ok));
    }
    assert_eq!(dest_store.message_count(), 40);
    let hashes: BTreeSet<_> = dest_store
        .messages(&dst_folder)
        .unwrap()
        .iter()
        .map(RawMessage::content_hash)
        .collect();
    assert_eq!(hashes.len(), 40, "no message written twice");
    // The outermost metrics saw one logical call per chunk on each side.
    assert_eq!(counts.calls(Operation::Fetch), 5);
    assert_eq!(counts.calls(Operation::Append), 5);
    assert_eq!(counts.items(Operation::Append), 40);
    let events = taken(&events);
    assert!(events.iter().any(|e| e.operation == Operation::Fetch));
    assert!(events.iter().any(|e| e.operation == Operation::Append));
}

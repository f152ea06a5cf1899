//! Reporting every operation: [`MetricsLayer`], [`Metrics`] and the [`Observer`] trait.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{BoxStream, Stream, StreamExt};
use tokio::time::Instant;

use super::{scheme, Layer};
use crate::{
    Appended, Capabilities, Change, Checkpoint, DedupeKey, Destination, EnsuredFolder, ErrorKind,
    ExistingCopy, FlagChange, Folder, FolderId, FolderPath, ItemResult, MessageId, Operation,
    Provider, ProviderInfo, RawMessage, Result, Source, SpecialUse,
};

/// One finished operation, as [`Metrics`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OperationEvent {
    /// The provider's scheme (`"imap"`, `"memory"`…).
    pub provider: &'static str,
    /// What was done.
    pub operation: Operation,
    /// From the call (or the stream's opening) until it returned (or the stream ended or
    /// was dropped), on the tokio clock.
    pub duration: Duration,
    /// Items that succeeded: folders listed, changes listed, messages fetched or appended.
    pub items: u64,
    /// Items of a batch that failed on their own.
    pub failed_items: u64,
    /// Raw message bytes fetched or appended successfully.
    pub bytes: u64,
    /// The kind of the error that failed the call, or of the first failed item.
    pub error: Option<ErrorKind>,
    /// False when a stream was dropped before its end.
    pub completed: bool,
}

impl OperationEvent {
    fn new(provider: &'static str, operation: Operation) -> Self {
        Self {
            provider,
            operation,
            duration: Duration::ZERO,
            items: 0,
            failed_items: 0,
            bytes: 0,
            error: None,
            completed: false,
        }
    }

    /// Whether the operation succeeded, every item included.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    fn fail(&mut self, kind: ErrorKind) {
        self.error.get_or_insert(kind);
    }
}

/// Receives one [`OperationEvent`] per finished operation; adapt it to Prometheus,
/// OpenTelemetry or logs outside core.
pub trait Observer: Send + Sync + 'static {
    /// Records a finished operation. Called on the task that ran it; keep it cheap.
    fn on_operation(&self, event: &OperationEvent);
}

impl<O: Observer + ?Sized> Observer for Arc<O> {
    fn on_operation(&self, event: &OperationEvent) {
        (**self).on_operation(event);
    }
}

const OPERATIONS: usize = 14;

fn slot(op: Operation) -> usize {
    match op {
        Operation::Unknown => 0,
        Operation::Build => 1,
        Operation::Connect => 2,
        Operation::ListFolders => 3,
        Operation::ListChanges => 4,
        Operation::Fetch => 5,
        Operation::EnsureFolder => 6,
        Operation::Append => 7,
        Operation::UpdateFlags => 8,
        Operation::FindExisting => 9,
        Operation::Delete => 10,
        Operation::State => 11,
        Operation::Parse => 12,
        Operation::Plan => 13,
    }
}

#[derive(Debug)]
struct Counters([AtomicU64; OPERATIONS]);

impl Default for Counters {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl Counters {
    fn add(&self, op: Operation, n: u64) {
        self.0[slot(op)].fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self, op: Operation) -> u64 {
        self.0[slot(op)].load(Ordering::Relaxed)
    }

    fn total(&self) -> u64 {
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// An [`Observer`] that counts calls, failures, items and bytes per operation with atomics.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use mailmigrate_core::layer::{CountingObserver, MetricsLayer, Stack};
/// use mailmigrate_core::store::MemoryStore;
/// use mailmigrate_core::{Destination, FolderPath, Operation};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let counts = Arc::new(CountingObserver::default());
/// let dest = Stack::new(MemoryStore::new("demo"))
///     .layer(MetricsLayer::new(Arc::clone(&counts)))
///     .into_destination();
/// dest.ensure_folder(&FolderPath::inbox(), None).await.unwrap();
/// assert_eq!(counts.calls(Operation::EnsureFolder), 1);
/// assert_eq!(counts.failures(Operation::EnsureFolder), 0);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct CountingObserver {
    calls: Counters,
    failures: Counters,
    items: Counters,
    failed_items: Counters,
    bytes: Counters,
}

impl CountingObserver {
    /// Operations of this kind that finished.
    pub fn calls(&self, op: Operation) -> u64 {
        self.calls.get(op)
    }

    /// Operations of this kind that reported an error (outer or per item).
    pub fn failures(&self, op: Operation) -> u64 {
        self.failures.get(op)
    }

    /// Items that succeeded in operations of this kind.
    pub fn items(&self, op: Operation) -> u64 {
        self.items.get(op)
    }

    /// Items that failed on their own in operations of this kind.
    pub fn failed_items(&self, op: Operation) -> u64 {
        self.failed_items.get(op)
    }

    /// Message bytes moved by operations of this kind.
    pub fn bytes(&self, op: Operation) -> u64 {
        self.bytes.get(op)
    }

    /// Operations of any kind that finished.
    pub fn total_calls(&self) -> u64 {
        self.calls.total()
    }
}

impl Observer for CountingObserver {
    fn on_operation(&self, event: &OperationEvent) {
        let op = event.operation;
        self.calls.add(op, 1);
        self.failures.add(op, u64::from(event.error.is_some()));
        self.items.add(op, event.items);
        self.failed_items.add(op, event.failed_items);
        self.bytes.add(op, event.bytes);
    }
}

/// `MetricsLayer` reports every operation to an [`Observer`]; see [`Metrics`].
///
/// Put it outermost to count logical operations, or innermost (just around the backend) to
/// count every attempt.
#[derive(Debug)]
pub struct MetricsLayer<O> {
    observer: Arc<O>,
}

impl<O> Clone for MetricsLayer<O> {
    fn clone(&self) -> Self {
        Self {
            observer: Arc::clone(&self.observer),
        }
    }
}

impl<O: Observer> MetricsLayer<O> {
    /// Builds the layer around `observer`.
    pub fn new(observer: O) -> Self {
        Self {
            observer: Arc::new(observer),
        }
    }
}

impl<S, O: Observer> Layer<S> for MetricsLayer<O> {
    type Output = Metrics<S, O>;

    fn layer(&self, inner: S) -> Metrics<S, O> {
        Metrics {
            inner,
            observer: Arc::clone(&self.observer),
        }
    }
}

/// `Metrics` times every call and stream and reports provider, operation, duration, item
/// and byte counts and the outcome to its [`Observer`].
pub struct Metrics<S, O> {
    inner: S,
    observer: Arc<O>,
}

impl<S: fmt::Debug, O> fmt::Debug for Metrics<S, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, O: Observer> Metrics<S, O> {
    /// The wrapped provider.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The observer events go to.
    pub fn observer(&self) -> &O {
        &self.observer
    }
}

impl<S: Send + Sync, O: Observer> Metrics<S, O> {
    async fn measure<T, Fut>(
        &self,
        provider: &'static str,
        operation: Operation,
        call: Fut,
        tally: impl FnOnce(&T, &mut OperationEvent) + Send,
    ) -> Result<T>
    where
        Fut: std::future::Future<Output = Result<T>> + Send,
        T: Send,
    {
        let started = Instant::now();
        let out = call.await;
        let mut event = OperationEvent::new(provider, operation);
        match &out {
            Ok(v) => tally(v, &mut event),
            Err(e) => event.fail(e.kind()),
        }
        event.duration = started.elapsed();
        event.completed = true;
        self.observer.on_operation(&event);
        out
    }
}

/// A stream that tallies its items and reports once, when it ends or is dropped.
struct Metered<T, O: Observer> {
    inner: BoxStream<'static, T>,
    observer: Arc<O>,
    started: Instant,
    event: Option<OperationEvent>,
    tally: fn(&T, &mut OperationEvent),
}

impl<T, O: Observer> Metered<T, O> {
    fn finish(&mut self, completed: bool) {
        if let Some(mut event) = self.event.take() {
            event.duration = self.started.elapsed();
            event.completed = completed;
            self.observer.on_operation(&event);
        }
    }
}

impl<T, O: Observer> Stream for Metered<T, O> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        match this.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(item)) => {
                if let Some(event) = &mut this.event {
                    (this.tally)(&item, event);
                }
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                this.finish(true);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, O: Observer> Drop for Metered<T, O> {
    fn drop(&mut self) {
        self.finish(false);
    }
}

fn tally_change(item: &Result<Change>, event: &mut OperationEvent) {
    match item {
        Ok(Change::Checkpoint(_)) => {}
        Ok(_) => event.items += 1,
        Err(e) => event.fail(e.kind()),
    }
}

fn tally_fetch(item: &ItemResult<RawMessage>, event: &mut OperationEvent) {
    match &item.1 {
        Ok(msg) => {
            event.items += 1;
            event.bytes += msg.bytes.len() as u64;
        }
        Err(e) => {
            event.failed_items += 1;
            event.fail(e.kind());
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Provider, O: Observer> Provider for Metrics<S, O> {
    fn info(&self) -> &ProviderInfo {
        Provider::info(&self.inner)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        let call = Provider::list_folders(&self.inner);
        self.measure(scheme(&self.inner), Operation::ListFolders, call, |v, e| {
            e.items = v.len() as u64
        })
        .await
    }

    async fn message_counts(&self, folders: &[FolderId]) -> Option<Vec<Result<u64>>> {
        self.inner.message_counts(folders).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Source, O: Observer> Source for Metrics<S, O> {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let provider = scheme(&self.inner);
        Metered {
            started: Instant::now(),
            inner: self.inner.list_changes(folder, since),
            observer: Arc::clone(&self.observer),
            event: Some(OperationEvent::new(provider, Operation::ListChanges)),
            tally: tally_change,
        }
        .boxed()
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let provider = scheme(&self.inner);
        Metered {
            started: Instant::now(),
            inner: self.inner.fetch(folder, ids),
            observer: Arc::clone(&self.observer),
            event: Some(OperationEvent::new(provider, Operation::Fetch)),
            tally: tally_fetch,
        }
        .boxed()
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Destination, O: Observer> Destination for Metrics<S, O> {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        let call = self.inner.ensure_folder(path, role);
        self.measure(
            scheme(&self.inner),
            Operation::EnsureFolder,
            call,
            |_, e| e.items = 1,
        )
        .await
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let sizes: Vec<u64> = messages.iter().map(|m| m.bytes.len() as u64).collect();
        let call = self.inner.append(folder, messages);
        self.measure(
            scheme(&self.inner),
            Operation::Append,
            call,
            |results, event| {
                for (r, size) in results.iter().zip(&sizes) {
                    match r {
                        Ok(_) => {
                            event.items += 1;
                            event.bytes += size;
                        }
                        Err(e) => {
                            event.failed_items += 1;
                            event.fail(e.kind());
                        }
                    }
                }
            },
        )
        .await
    }

    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        let call = self.inner.update_flags(folder, id, change);
        self.measure(
            scheme(&self.inner),
            Operation::UpdateFlags,
            call,
            |(), e| e.items = 1,
        )
        .await
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        let call = self.inner.find_existing(folder, key);
        self.measure(
            scheme(&self.inner),
            Operation::FindExisting,
            call,
            |v, e| e.items = v.len() as u64,
        )
        .await
    }

    async fn find_existing_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        let call = self.inner.find_existing_many(folder, keys);
        self.measure(
            scheme(&self.inner),
            Operation::FindExisting,
            call,
            |v, e| e.items = v.iter().map(Vec::len).sum::<usize>() as u64,
        )
        .await
    }

    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        let call = self.inner.delete(folder, ids);
        self.measure(scheme(&self.inner), Operation::Delete, call, |(), e| {
            e.items = ids.len() as u64
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Log(Mutex<Vec<OperationEvent>>);

    impl Observer for Log {
        fn on_operation(&self, event: &OperationEvent) {
            self.0.lock().unwrap().push(event.clone());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_stream_reports_incomplete() {
        let log = Arc::new(Log::default());
        let store = MemoryStore::new("t");
        let inbox = store
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap()
            .id;
        let m = MetricsLayer::new(Arc::clone(&log)).layer(store);
        let mut s = m.list_changes(&inbox, None);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(matches!(s.next().await, Some(Ok(Change::Checkpoint(_)))));
        drop(s);
        let events = log.0.lock().unwrap();
        assert_eq!(events.len(), 1);
        assert!(!events[0].completed);
        assert_eq!(events[0].items, 0);
        assert_eq!(events[0].duration, Duration::from_secs(2));
        assert_eq!(events[0].provider, "memory");
    }

    #[tokio::test]
    async fn failed_call_reports_its_kind() {
        let log = Arc::new(Log::default());
        let m = MetricsLayer::new(Arc::clone(&log)).layer(MemoryStore::new("t"));
        let err = m
            .update_flags(
                &FolderId::new("nope"),
                &MessageId::new("1"),
                &crate::FlagChange::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let events = log.0.lock().unwrap();
        assert_eq!(events[0].error, Some(ErrorKind::NotFound));
        assert!(events[0].completed && !events[0].is_ok());
    }

    #[test]
    fn counting_observer_sums_per_operation() {
        let c = CountingObserver::default();
        let mut e = OperationEvent::new("memory", Operation::Append);
        e.items = 3;
        e.failed_items = 1;
        e.bytes = 10;
        e.error = Some(ErrorKind::MessageTooLarge);
        c.on_operation(&e);
        c.on_operation(&OperationEvent::new("memory", Operation::Delete));
        assert_eq!(c.calls(Operation::Append), 1);
        assert_eq!(c.failures(Operation::Append), 1);
        assert_eq!(c.items(Operation::Append), 3);
        assert_eq!(c.failed_items(Operation::Append), 1);
        assert_eq!(c.bytes(Operation::Append), 10);
        assert_eq!(c.failures(Operation::Delete), 0);
        assert_eq!(c.total_calls(), 2);
    }
}

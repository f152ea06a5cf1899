//! Retrying temporary failures: [`RetryLayer`] and [`Retry`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::time::Instant;

use super::backoff::{Backoff, BackoffConfig};
use super::{scheme, Layer};
use crate::{
    Appended, Capabilities, Change, Checkpoint, DedupeKey, Destination, EnsuredFolder, Error,
    ErrorKind, ExistingCopy, FlagChange, Folder, FolderId, FolderPath, ItemResult, MessageId,
    Operation, Provider, ProviderInfo, RawMessage, Result, Source, SpecialUse,
};

/// How persistently [`Retry`] repeats temporary failures.
///
/// The defaults are 100 ms initial backoff doubling up to 15 s, at most 10 retries, and at
/// most 3 minutes from the first failure of an operation to the start of its last retry.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use mailmigrate_core::layer::RetryConfig;
///
/// let cfg = RetryConfig::default()
///     .with_max_retries(3)
///     .with_retry_timeout(Duration::from_secs(30));
/// assert_eq!(cfg.backoff.max, Duration::from_secs(15));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryConfig {
    /// The delays between attempts.
    pub backoff: BackoffConfig,
    /// The most retries of one operation (default 10); 0 disables retrying.
    pub max_retries: usize,
    /// The longest time from an operation's first failure until a retry may start (default
    /// 3 minutes). A retry whose delay would end past it is not attempted.
    pub retry_timeout: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            backoff: BackoffConfig::default(),
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
        }
    }
}

impl RetryConfig {
    /// Sets the backoff.
    #[must_use]
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the most retries per operation.
    #[must_use]
    pub fn with_max_retries(mut self, max_retries: usize) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the time budget from the first failure.
    #[must_use]
    pub fn with_retry_timeout(mut self, retry_timeout: Duration) -> Self {
        self.retry_timeout = retry_timeout;
        self
    }
}

/// What [`Retry`] reports to its observer before each retry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryEvent {
    /// The scheme of the provider that failed.
    pub provider: &'static str,
    /// The operation being retried.
    pub operation: Operation,
    /// The attempt that just failed, counting from 1.
    pub attempt: usize,
    /// How long the layer waits before the next attempt.
    pub delay: Duration,
    /// The kind of the error that caused the retry.
    pub kind: ErrorKind,
}

type RetryObserver = Arc<dyn Fn(&RetryEvent) + Send + Sync>;

struct Shared {
    config: RetryConfig,
    observer: Option<RetryObserver>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryConfig")
            .field("config", &self.config)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// `RetryLayer` retries temporary failures with backoff; see [`Retry`].
///
/// # Examples
/// ```
/// use std::sync::{Arc, Mutex};
/// use mailmigrate_core::layer::{Layer, RetryConfig, RetryEvent, RetryLayer};
/// use mailmigrate_core::store::MemoryStore;
///
/// let events = Arc::new(Mutex::new(Vec::<RetryEvent>::new()));
/// let log = Arc::clone(&events);
/// let layer = RetryLayer::new(RetryConfig::default())
///     .with_observer(move |e: &RetryEvent| log.lock().unwrap().push(e.clone()));
/// let store = layer.layer(MemoryStore::new("demo"));
/// assert_eq!(store.config().max_retries, 10);
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer {
    shared: Arc<Shared>,
}

impl RetryLayer {
    /// Builds the layer from its configuration.
    pub fn new(config: RetryConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                observer: None,
            }),
        }
    }

    /// Calls `observer` before every retry.
    #[must_use]
    pub fn with_observer(self, observer: impl Fn(&RetryEvent) + Send + Sync + 'static) -> Self {
        Self {
            shared: Arc::new(Shared {
                config: self.shared.config,
                observer: Some(Arc::new(observer)),
            }),
        }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Output = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        Retry {
            inner: Arc::new(inner),
            shared: Arc::clone(&self.shared),
        }
    }
}

/// `Retry` repeats calls that failed with a temporary error, after a backoff.
///
/// Only errors with [`Error::is_temporary`] are retried. Each wait is the larger of the
/// backoff delay and the server's retry-after hint. When the budget
/// ([`RetryConfig::max_retries`], [`RetryConfig::retry_timeout`]) is spent, the last error is
/// returned marked [`RetryStatus::Exhausted`](crate::RetryStatus::Exhausted), so no layer
/// above retries it again.
///
/// Per method:
/// - `list_folders`, `ensure_folder`, `update_flags`, `find_existing`, `delete`: the whole
///   call is repeated.
/// - `append`: a temporary outer error repeats the whole call (the contract says nothing was
///   written). Items that failed with a temporary error are re-sent on their own, and their
///   results are merged back in input order; items that succeeded are never sent again. If a
///   later round fails as a whole, each item still pending gets a copy of that error, so the
///   ids of the items already written are not lost.
/// - `fetch`: items that failed with a temporary error are requested again, all in one
///   follow-up fetch per round, after the backoff; other items pass through as they arrive.
/// - `list_changes`: a temporary error before the first item re-opens the listing after the
///   backoff. Once items have flowed, errors pass through unchanged: the engine resumes from
///   its checkpoint.
#[derive(Debug)]
pub struct Retry<S> {
    inner: Arc<S>,
    shared: Arc<Shared>,
}

impl<S> Retry<S> {
    /// The wrapped provider.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The retry settings.
    pub fn config(&self) -> &RetryConfig {
        &self.shared.config
    }
}

/// The retry budget of one logical operation.
struct Attempts {
    shared: Arc<Shared>,
    provider: &'static str,
    operation: Operation,
    backoff: Option<Backoff>,
    first_failure: Option<Instant>,
    failures: usize,
}

impl Attempts {
    fn new(shared: &Arc<Shared>, provider: &'static str, operation: Operation) -> Self {
        Self {
            shared: Arc::clone(shared),
            provider,
            operation,
            backoff: None,
            first_failure: None,
            failures: 0,
        }
    }

    /// Records a temporary failure and returns how long to wait before retrying, or `None`
    /// once the budget is spent.
    fn next_delay(&mut self, kind: ErrorKind, hint: Option<Duration>) -> Option<Duration> {
        let config = &self.shared.config;
        let now = Instant::now();
        let first = *self.first_failure.get_or_insert(now);
        self.failures += 1;
        if self.failures > config.max_retries {
            return None;
        }
        let backoff = self
            .backoff
            .get_or_insert_with(|| Backoff::new(&config.backoff));
        let delay = backoff.next_delay().max(hint.unwrap_or_default());
        if now.duration_since(first) + delay > config.retry_timeout {
            return None;
        }
        tracing::debug!(
            provider = self.provider,
            operation = %self.operation,
            attempt = self.failures,
            ?delay,
            %kind,
            "retrying after a temporary failure"
        );
        if let Some(observer) = &self.shared.observer {
            observer(&RetryEvent {
                provider: self.provider,
                operation: self.operation,
                attempt: self.failures,
                delay,
                kind,
            });
        }
        Some(delay)
    }
}

impl<S: Send + Sync> Retry<S> {
    async fn call<T, F, Fut>(
        &self,
        provider: &'static str,
        operation: Operation,
        mut f: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
        T: Send,
    {
        let mut attempts = Attempts::new(&self.shared, provider, operation);
        loop {
            match f().await {
                Err(e) if e.is_temporary() => {
                    match attempts.next_delay(e.kind(), e.retry_after()) {
                        Some(delay) => tokio::time::sleep(delay).await,
                        None => return Err(e.exhausted()),
                    }
                }
                other => return other,
            }
        }
    }
}

/// A copy of `e` for one item of a batch.
fn copy_for_item(e: &Error, folder: &FolderId, id: &MessageId) -> Error {
    e.copy_for_item(folder, id)
}

struct FetchRetry<S> {
    inner: Arc<S>,
    folder: FolderId,
    current: BoxStream<'static, ItemResult<RawMessage>>,
    failed: Vec<(MessageId, Error)>,
    giving_up: std::vec::IntoIter<(MessageId, Error)>,
    attempts: Attempts,
}

impl<S: Source> FetchRetry<S> {
    async fn next_item(mut self) -> Option<(ItemResult<RawMessage>, Self)> {
        loop {
            if let Some((id, e)) = self.giving_up.next() {
                return Some(((id, Err(e.exhausted())), self));
            }
            match self.current.next().await {
                Some((id, Err(e))) if e.is_temporary() => self.failed.push((id, e)),
                Some(item) => return Some((item, self)),
                None if self.failed.is_empty() => return None,
                None => {
                    let failed = std::mem::take(&mut self.failed);
                    let kind = failed[0].1.kind();
                    let hint = failed.iter().filter_map(|(_, e)| e.retry_after()).max();
                    match self.attempts.next_delay(kind, hint) {
                        Some(delay) => {
                            tokio::time::sleep(delay).await;
                            let ids = failed.into_iter().map(|(id, _)| id).collect();
                            self.current = Source::fetch(&*self.inner, &self.folder, ids);
                        }
                        None => {
                            self.current = stream::empty().boxed();
                            self.giving_up = failed.into_iter();
                        }
                    }
                }
            }
        }
    }
}

struct ListRetry<S> {
    inner: Arc<S>,
    folder: FolderId,
    since: Option<Checkpoint>,
    current: BoxStream<'static, Result<Change>>,
    flowing: bool,
    attempts: Attempts,
}

impl<S: Source> ListRetry<S> {
    async fn next_item(mut self) -> Option<(Result<Change>, Self)> {
        loop {
            match self.current.next().await {
                Some(Err(e)) if e.is_temporary() && !self.flowing => {
                    match self.attempts.next_delay(e.kind(), e.retry_after()) {
                        Some(delay) => {
                            tokio::time::sleep(delay).await;
                            self.current = Source::list_changes(
                                &*self.inner,
                                &self.folder,
                                self.since.clone(),
                            );
                        }
                        None => {
                            self.flowing = true;
                            return Some((Err(e.exhausted()), self));
                        }
                    }
                }
                Some(item) => {
                    self.flowing = true;
                    return Some((item, self));
                }
                None => return None,
            }
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Provider> Provider for Retry<S> {
    fn info(&self) -> &ProviderInfo {
        Provider::info(&*self.inner)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        let provider = scheme(&*self.inner);
        self.call(provider, Operation::ListFolders, || {
            Provider::list_folders(&*self.inner)
        })
        .await
    }

    async fn message_counts(&self, folders: &[FolderId]) -> Option<Vec<Result<u64>>> {
        self.inner.message_counts(folders).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Source> Source for Retry<S> {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let state = ListRetry {
            inner: Arc::clone(&self.inner),
            folder: folder.clone(),
            current: Source::list_changes(&*self.inner, folder, since.clone()),
            since,
            flowing: false,
            attempts: Attempts::new(&self.shared, scheme(&*self.inner), Operation::ListChanges),
        };
        stream::unfold(state, ListRetry::next_item).boxed()
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let state = FetchRetry {
            inner: Arc::clone(&self.inner),
            folder: folder.clone(),
            current: Source::fetch(&*self.inner, folder, ids),
            failed: Vec::new(),
            giving_up: Vec::new().into_iter(),
            attempts: Attempts::new(&self.shared, scheme(&*self.inner), Operation::Fetch),
        };
        stream::unfold(state, FetchRetry::next_item).boxed()
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Destination> Destination for Retry<S> {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        let provider = scheme(&*self.inner);
        self.call(provider, Operation::EnsureFolder, || {
            self.inner.ensure_folder(path, role)
        })
        .await
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let provider = scheme(&*self.inner);
        let mut attempts = Attempts::new(&self.shared, provider, Operation::Append);
        let mut results: Vec<Option<Result<Appended>>> = std::iter::repeat_with(|| None)
            .take(messages.len())
            .collect();
        let mut pending: Vec<(usize, RawMessage)> = messages.into_iter().enumerate().collect();
        while !pending.is_empty() {
            let batch = pending.iter().map(|(_, m)| m.clone()).collect();
            match self.inner.append(folder, batch).await {
                Ok(out) => {
                    let mut out = out.into_iter();
                    let mut again: Vec<(usize, RawMessage, Error)> = Vec::new();
                    for (idx, msg) in pending.drain(..) {
                        match out.next() {
                            Some(Err(e)) if e.is_temporary() => again.push((idx, msg, e)),
                            Some(r) => results[idx] = Some(r),
                            None => {
                                results[idx] = Some(Err(Error::new(
                                    ErrorKind::Unexpected,
                                    "the destination returned fewer results than messages",
                                )
                                .with_provider(provider)
                                .with_operation(Operation::Append)
                                .with_item(folder, &msg.meta.id)));
                            }
                        }
                    }
                    let Some(kind) = again.first().map(|(_, _, e)| e.kind()) else {
                        break;
                    };
                    let hint = again.iter().filter_map(|(_, _, e)| e.retry_after()).max();
                    if let Some(delay) = attempts.next_delay(kind, hint) {
                        pending = again.into_iter().map(|(i, m, _)| (i, m)).collect();
                        tokio::time::sleep(delay).await;
                    } else {
                        for (idx, _, e) in again {
                            results[idx] = Some(Err(e.exhausted()));
                        }
                    }
                }
                Err(e) => {
                    if e.is_temporary() {
                        if let Some(delay) = attempts.next_delay(e.kind(), e.retry_after()) {
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                    }
                    let e = e.exhausted();
                    if results.iter().all(Option::is_none) {
                        return Err(e);
                    }
                    for (idx, msg) in pending.drain(..) {
                        results[idx] = Some(Err(copy_for_item(&e, folder, &msg.meta.id)));
                    }
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::new(ErrorKind::Unexpected, "append result missing")
                        .with_provider(provider)
                        .with_operation(Operation::Append)
                        .with_context("folder", folder))
                })
            })
            .collect())
    }

    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        let provider = scheme(&*self.inner);
        self.call(provider, Operation::UpdateFlags, || {
            self.inner.update_flags(folder, id, change)
        })
        .await
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        let provider = scheme(&*self.inner);
        self.call(provider, Operation::FindExisting, || {
            self.inner.find_existing(folder, key)
        })
        .await
    }

    async fn find_existing_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        let provider = scheme(&*self.inner);
        self.call(provider, Operation::FindExisting, || {
            self.inner.find_existing_many(folder, keys)
        })
        .await
    }

    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        let provider = scheme(&*self.inner);
        self.call(provider, Operation::Delete, || {
            self.inner.delete(folder, ids)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn shared(config: RetryConfig) -> (Arc<Shared>, Arc<Mutex<Vec<RetryEvent>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&events);
        let layer = RetryLayer::new(config)
            .with_observer(move |e: &RetryEvent| log.lock().unwrap().push(e.clone()));
        (layer.shared, events)
    }

    #[tokio::test(start_paused = true)]
    async fn budget_stops_after_max_retries() {
        let (s, events) = shared(RetryConfig::default().with_max_retries(2));
        let mut a = Attempts::new(&s, "memory", Operation::Fetch);
        assert!(a.next_delay(ErrorKind::Unavailable, None).is_some());
        assert!(a.next_delay(ErrorKind::Unavailable, None).is_some());
        assert_eq!(a.next_delay(ErrorKind::Unavailable, None), None);
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].attempt, 2);
        assert_eq!(events[0].operation, Operation::Fetch);
    }

    #[tokio::test(start_paused = true)]
    async fn hint_longer_than_backoff_wins_and_timeout_applies() {
        let (s, _) = shared(RetryConfig::default().with_retry_timeout(Duration::from_secs(60)));
        let mut a = Attempts::new(&s, "memory", Operation::Append);
        let hint = Duration::from_secs(40);
        assert_eq!(a.next_delay(ErrorKind::RateLimited, Some(hint)), Some(hint));
        tokio::time::advance(hint).await;
        // 40 s already spent; another 40 s would end past the 60 s budget.
        assert_eq!(a.next_delay(ErrorKind::RateLimited, Some(hint)), None);
    }

    #[test]
    fn item_copy_keeps_kind_status_and_names_the_item() {
        let e = Error::new(ErrorKind::Unavailable, "gone")
            .with_provider("imap")
            .with_operation(Operation::Append)
            .temporary()
            .exhausted();
        let c = copy_for_item(&e, &FolderId::new("INBOX"), &MessageId::new("9"));
        assert_eq!(c.kind(), ErrorKind::Unavailable);
        assert_eq!(c.retry_status(), crate::RetryStatus::Exhausted);
        assert_eq!(c.provider(), "imap");
        assert_eq!(c.context("message"), Some("9"));
        let t = Error::new(ErrorKind::RateLimited, "x").temporary_after(Duration::from_secs(2));
        let c = copy_for_item(&t, &FolderId::new("f"), &MessageId::new("1"));
        assert_eq!(c.retry_after(), Some(Duration::from_secs(2)));
    }
}

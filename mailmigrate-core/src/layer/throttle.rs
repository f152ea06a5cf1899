//! Pacing calls with a token bucket: [`ThrottleLayer`] and [`Throttle`].

use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::time::Instant;

use super::Layer;
use crate::{
    Appended, Capabilities, Change, Checkpoint, DedupeKey, Destination, EnsuredFolder,
    ExistingCopy, FlagChange, Folder, FolderId, FolderPath, ItemResult, MessageId, Provider,
    ProviderInfo, RawMessage, Result, Source, SpecialUse,
};

/// The longest period a [`Rate`] accepts, so bucket arithmetic cannot overflow.
const MAX_PERIOD: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A sustained rate of calls plus the burst allowed on top of it.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use mailmigrate_core::layer::Rate;
///
/// let rate = Rate::per_second(4).with_burst(10);
/// assert_eq!(rate.interval(), Duration::from_millis(250));
/// assert_eq!(rate.burst(), 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    calls: NonZeroU32,
    per: Duration,
    burst: NonZeroU32,
}

impl Rate {
    /// `calls` per `per`, with a burst of one (strictly spaced calls). Zero calls count as
    /// one; a period longer than a year counts as a year.
    pub fn new(calls: u32, per: Duration) -> Self {
        Self {
            calls: NonZeroU32::new(calls).unwrap_or(NonZeroU32::MIN),
            per: per.min(MAX_PERIOD),
            burst: NonZeroU32::MIN,
        }
    }

    /// `calls` per second, with a burst of one. Zero counts as one.
    pub fn per_second(calls: u32) -> Self {
        Self::new(calls, Duration::from_secs(1))
    }

    /// `calls` per minute, with a burst of one. Zero counts as one.
    pub fn per_minute(calls: u32) -> Self {
        Self::new(calls, Duration::from_secs(60))
    }

    /// Lets up to `burst` calls through at once after an idle period. Zero counts as one.
    #[must_use]
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        self
    }

    /// The time between calls at the sustained rate.
    pub fn interval(&self) -> Duration {
        self.per / self.calls.get()
    }

    /// The most calls let through at once.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }
}

/// A token bucket on the tokio clock, kept as the time the next token is due (GCRA).
#[derive(Debug)]
struct Bucket {
    rate: Rate,
    /// When the bucket will next be empty-and-refilled; `None` before the first call.
    theoretical_arrival: Mutex<Option<Instant>>,
}

impl Bucket {
    /// Waits until a token is available and takes it. Tokens are reserved in call order, so
    /// callers are served first come, first served; a caller dropped while waiting still
    /// uses its token.
    async fn acquire(&self) {
        let ready_at = {
            let mut tat = self
                .theoretical_arrival
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let interval = self.rate.interval();
            let tolerance = interval * (self.rate.burst() - 1);
            let start = tat.map_or(now, |t| t.max(now));
            *tat = Some(start + interval);
            start.checked_sub(tolerance).map_or(now, |at| at.max(now))
        };
        tokio::time::sleep_until(ready_at).await;
    }
}

/// `ThrottleLayer` paces calls to a rate; see [`Throttle`].
///
/// Each provider wrapped by the layer gets its own bucket.
///
/// # Examples
/// ```
/// use mailmigrate_core::layer::{Rate, Stack, ThrottleLayer};
/// use mailmigrate_core::store::MemoryStore;
///
/// let source = Stack::new(MemoryStore::new("demo"))
///     .layer(ThrottleLayer::new(Rate::per_second(8).with_burst(4)))
///     .into_source();
/// # let _ = source;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLayer {
    rate: Rate,
}

impl ThrottleLayer {
    /// Builds the layer for `rate`.
    pub fn new(rate: Rate) -> Self {
        Self { rate }
    }
}

impl<S> Layer<S> for ThrottleLayer {
    type Output = Throttle<S>;

    fn layer(&self, inner: S) -> Throttle<S> {
        Throttle {
            inner: Arc::new(inner),
            bucket: Arc::new(Bucket {
                rate: self.rate,
                theoretical_arrival: Mutex::new(None),
            }),
        }
    }
}

/// `Throttle` takes one token from a token bucket before every call and every stream open.
///
/// A call waits (on the tokio clock) until a token is available. An `append` or `fetch`
/// batch is one call, whatever its size; match the rate to the provider's published
/// request quota.
pub struct Throttle<S> {
    inner: Arc<S>,
    bucket: Arc<Bucket>,
}

impl<S: fmt::Debug> fmt::Debug for Throttle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("rate", &self.bucket.rate)
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S> Throttle<S> {
    /// The wrapped provider.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The rate calls are paced to.
    pub fn rate(&self) -> Rate {
        self.bucket.rate
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Provider> Provider for Throttle<S> {
    fn info(&self) -> &ProviderInfo {
        Provider::info(&*self.inner)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        self.bucket.acquire().await;
        Provider::list_folders(&*self.inner).await
    }

    async fn message_counts(&self, folders: &[FolderId]) -> Option<Vec<Result<u64>>> {
        self.bucket.acquire().await;
        self.inner.message_counts(folders).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Source> Source for Throttle<S> {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let (inner, bucket, folder) = (
            Arc::clone(&self.inner),
            Arc::clone(&self.bucket),
            folder.clone(),
        );
        stream::once(async move {
            bucket.acquire().await;
            inner.list_changes(&folder, since)
        })
        .flatten()
        .boxed()
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let (inner, bucket, folder) = (
            Arc::clone(&self.inner),
            Arc::clone(&self.bucket),
            folder.clone(),
        );
        stream::once(async move {
            bucket.acquire().await;
            inner.fetch(&folder, ids)
        })
        .flatten()
        .boxed()
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Destination> Destination for Throttle<S> {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        self.bucket.acquire().await;
        self.inner.ensure_folder(path, role).await
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        self.bucket.acquire().await;
        self.inner.append(folder, messages).await
    }

    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        self.bucket.acquire().await;
        self.inner.update_flags(folder, id, change).await
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        self.bucket.acquire().await;
        self.inner.find_existing(folder, key).await
    }

    async fn find_existing_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        self.bucket.acquire().await;
        self.inner.find_existing_many(folder, keys).await
    }

    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        self.bucket.acquire().await;
        self.inner.delete(folder, ids).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(rate: Rate) -> Bucket {
        Bucket {
            rate,
            theoretical_arrival: Mutex::new(None),
        }
    }

    #[test]
    fn zero_values_count_as_one() {
        let r = Rate::per_second(0).with_burst(0);
        assert_eq!(r.interval(), Duration::from_secs(1));
        assert_eq!(r.burst(), 1);
        assert_eq!(Rate::per_minute(120).interval(), Duration::from_millis(500));
        assert_eq!(Rate::new(1, Duration::MAX).interval(), MAX_PERIOD);
    }

    #[tokio::test(start_paused = true)]
    async fn burst_passes_at_once_then_calls_are_spaced() {
        let b = bucket(Rate::per_second(10).with_burst(3));
        let t0 = Instant::now();
        for _ in 0..3 {
            b.acquire().await;
        }
        assert_eq!(t0.elapsed(), Duration::ZERO);
        b.acquire().await;
        assert_eq!(t0.elapsed(), Duration::from_millis(100));
        b.acquire().await;
        assert_eq!(t0.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_refills_up_to_the_burst_only() {
        let b = bucket(Rate::per_second(10).with_burst(2));
        b.acquire().await;
        tokio::time::advance(Duration::from_secs(10)).await;
        let t0 = Instant::now();
        b.acquire().await;
        b.acquire().await;
        assert_eq!(t0.elapsed(), Duration::ZERO);
        b.acquire().await;
        assert_eq!(t0.elapsed(), Duration::from_millis(100));
    }
}

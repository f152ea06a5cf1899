//! Bounding calls in flight: [`ConcurrencyLimitLayer`] and [`ConcurrencyLimit`].

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{scheme, Layer};
use crate::{
    Appended, Capabilities, Change, Checkpoint, DedupeKey, Destination, EnsuredFolder, Error,
    ErrorKind, ExistingCopy, FlagChange, Folder, FolderId, FolderPath, ItemResult, MessageId,
    Operation, Provider, ProviderInfo, RawMessage, Result, Source, SpecialUse,
};

/// `ConcurrencyLimitLayer` bounds how many calls run at once; see [`ConcurrencyLimit`].
///
/// Each provider wrapped by the layer gets its own limit, unless the layer was built with
/// [`ConcurrencyLimitLayer::with_semaphore`] to share one.
///
/// # Examples
/// ```
/// use mailmigrate_core::layer::{ConcurrencyLimitLayer, Layer};
/// use mailmigrate_core::store::MemoryStore;
///
/// let limited = ConcurrencyLimitLayer::new(4).layer(MemoryStore::new("demo"));
/// assert_eq!(limited.max_concurrency(), 4);
/// ```
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    max: usize,
    shared: Option<Arc<Semaphore>>,
}

impl ConcurrencyLimitLayer {
    /// Allows at most `max` calls in flight per wrapped provider (zero counts as one; values
    /// above [`Semaphore::MAX_PERMITS`] count as that).
    pub fn new(max: usize) -> Self {
        Self {
            max: max.clamp(1, Semaphore::MAX_PERMITS),
            shared: None,
        }
    }

    /// Shares `semaphore` between every provider this layer wraps (for a per-account limit
    /// that covers both the source and the destination side of one server).
    pub fn with_semaphore(semaphore: Arc<Semaphore>) -> Self {
        Self {
            max: semaphore.available_permits(),
            shared: Some(semaphore),
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Output = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> ConcurrencyLimit<S> {
        ConcurrencyLimit {
            inner: Arc::new(inner),
            max: self.max,
            semaphore: self
                .shared
                .as_ref()
                .map_or_else(|| Arc::new(Semaphore::new(self.max)), Arc::clone),
        }
    }
}

/// `ConcurrencyLimit` holds a semaphore permit for the duration of every call.
///
/// A stream takes its permit when first polled and holds it until it is dropped, so an
/// open IMAP `FETCH` or a Graph page walk counts as one call in flight.
#[derive(Debug)]
pub struct ConcurrencyLimit<S> {
    inner: Arc<S>,
    max: usize,
    semaphore: Arc<Semaphore>,
}

impl<S> ConcurrencyLimit<S> {
    /// The wrapped provider.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The most calls in flight.
    pub fn max_concurrency(&self) -> usize {
        self.max
    }
}

async fn permit(
    semaphore: Arc<Semaphore>,
    provider: &'static str,
    operation: Operation,
) -> Result<OwnedSemaphorePermit> {
    semaphore.acquire_owned().await.map_err(|e| {
        Error::new(ErrorKind::Unexpected, "the concurrency limit was closed")
            .with_provider(provider)
            .with_operation(operation)
            .with_source(e)
    })
}

impl<S: Provider> ConcurrencyLimit<S> {
    async fn permit(&self, operation: Operation) -> Result<OwnedSemaphorePermit> {
        permit(Arc::clone(&self.semaphore), scheme(&*self.inner), operation).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Provider> Provider for ConcurrencyLimit<S> {
    fn info(&self) -> &ProviderInfo {
        Provider::info(&*self.inner)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        let _permit = self.permit(Operation::ListFolders).await?;
        Provider::list_folders(&*self.inner).await
    }

    async fn message_counts(&self, folders: &[FolderId]) -> Option<Vec<Result<u64>>> {
        // Without a permit, the caller counts by listing (which waits for permits itself).
        let _permit = self.permit(Operation::ListChanges).await.ok()?;
        self.inner.message_counts(folders).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Source> Source for ConcurrencyLimit<S> {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let (inner, semaphore, folder) = (
            Arc::clone(&self.inner),
            Arc::clone(&self.semaphore),
            folder.clone(),
        );
        let provider = scheme(&*self.inner);
        stream::once(async move {
            match permit(semaphore, provider, Operation::ListChanges).await {
                Ok(permit) => inner
                    .list_changes(&folder, since)
                    .map(move |item| {
                        let _held = &permit;
                        item
                    })
                    .boxed(),
                Err(e) => stream::once(async move { Err(e) }).boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let (inner, semaphore, folder) = (
            Arc::clone(&self.inner),
            Arc::clone(&self.semaphore),
            folder.clone(),
        );
        let provider = scheme(&*self.inner);
        stream::once(async move {
            match permit(semaphore, provider, Operation::Fetch).await {
                Ok(permit) => inner
                    .fetch(&folder, ids)
                    .map(move |item| {
                        let _held = &permit;
                        item
                    })
                    .boxed(),
                Err(e) => {
                    let failed: Vec<_> = ids
                        .into_iter()
                        .map(|id| {
                            let err = copy_limit_error(&e, &folder, &id);
                            (id, Err(err))
                        })
                        .collect();
                    stream::iter(failed).boxed()
                }
            }
        })
        .flatten()
        .boxed()
    }
}

fn copy_limit_error(e: &Error, folder: &FolderId, id: &MessageId) -> Error {
    e.copy_for_item(folder, id)
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Destination> Destination for ConcurrencyLimit<S> {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        let _permit = self.permit(Operation::EnsureFolder).await?;
        self.inner.ensure_folder(path, role).await
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let _permit = self.permit(Operation::Append).await?;
        self.inner.append(folder, messages).await
    }

    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        let _permit = self.permit(Operation::UpdateFlags).await?;
        self.inner.update_flags(folder, id, change).await
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        let _permit = self.permit(Operation::FindExisting).await?;
        self.inner.find_existing(folder, key).await
    }

    async fn find_existing_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        let _permit = self.permit(Operation::FindExisting).await?;
        self.inner.find_existing_many(folder, keys).await
    }

    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        let _permit = self.permit(Operation::Delete).await?;
        self.inner.delete(folder, ids).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn stream_holds_its_permit_until_dropped() {
        let limited = ConcurrencyLimitLayer::new(1).layer(MemoryStore::new("t"));
        let folder = FolderId::new("INBOX");
        let mut s = Source::list_changes(&limited, &folder, None);
        // The store has no such folder; the stream still opens and yields its error.
        assert!(s.next().await.is_some_and(|r| r.is_err()));
        assert_eq!(limited.semaphore.available_permits(), 0);
        drop(s);
        assert_eq!(limited.semaphore.available_permits(), 1);
    }

    #[tokio::test]
    async fn closed_semaphore_fails_every_item_of_a_fetch() {
        let sem = Arc::new(Semaphore::new(2));
        let limited =
            ConcurrencyLimitLayer::with_semaphore(Arc::clone(&sem)).layer(MemoryStore::new("t"));
        assert_eq!(limited.max_concurrency(), 2);
        sem.close();
        let items: Vec<_> = Source::fetch(
            &limited,
            &FolderId::new("INBOX"),
            vec![MessageId::new("1"), MessageId::new("2")],
        )
        .collect()
        .await;
        assert_eq!(items.len(), 2);
        for (id, r) in items {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unexpected);
            assert_eq!(e.context("message"), Some(id.as_str()));
        }
        let e = Provider::list_folders(&limited).await.unwrap_err();
        assert_eq!(e.operation(), Operation::ListFolders);
    }

    #[test]
    fn out_of_range_limits_are_clamped() {
        assert_eq!(ConcurrencyLimitLayer::new(0).max, 1);
        let huge = ConcurrencyLimitLayer::new(usize::MAX).layer(MemoryStore::new("t"));
        assert_eq!(huge.max_concurrency(), Semaphore::MAX_PERMITS);
    }
}

//! Naming the provider and operation of every error: [`AttributeLayer`] and [`Attributed`].

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};

use super::{scheme, Layer};
use crate::{
    Appended, Capabilities, Change, Checkpoint, DedupeKey, Destination, EnsuredFolder, Error,
    ExistingCopy, FlagChange, Folder, FolderId, FolderPath, ItemResult, MessageId, Operation,
    Provider, ProviderInfo, RawMessage, Result, Source, SpecialUse,
};

/// Fills in the provider scheme and the operation of every error a call returns, whole-call
/// and per-item, where the provider left them unnamed (see [`Error::attributed`]).
///
/// The engine puts it around both sides, so errors in reports and logs always say where
/// they came from; a provider needs to name only what it knows better (a sub-operation, an
/// item).
///
/// # Examples
/// ```
/// use mailmigrate_core::layer::{AttributeLayer, Layer};
/// use mailmigrate_core::store::MemoryStore;
/// use mailmigrate_core::{Destination, FolderId, MessageId, Operation};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = AttributeLayer.layer(MemoryStore::new("demo"));
/// let e = store.delete(&FolderId::new("nowhere"), &[MessageId::new("1")]).await.unwrap_err();
/// assert_eq!((e.provider(), e.operation()), ("memory", Operation::Delete));
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AttributeLayer;

impl<S> Layer<S> for AttributeLayer {
    type Output = Attributed<S>;

    fn layer(&self, inner: S) -> Attributed<S> {
        Attributed { inner }
    }
}

/// A provider whose errors name it and the operation that failed. Built by
/// [`AttributeLayer`].
#[derive(Debug)]
pub struct Attributed<S> {
    inner: S,
}

impl<S: Provider> Attributed<S> {
    /// The wrapped provider.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn name(&self, op: Operation) -> impl Fn(Error) -> Error + Send + Sync + 'static {
        let provider = scheme(&self.inner);
        move |e: Error| e.attributed(provider, op)
    }
}

/// Attributes the per-item errors of a batch result.
fn items<T>(results: Vec<Result<T>>, name: impl Fn(Error) -> Error) -> Vec<Result<T>> {
    results.into_iter().map(|r| r.map_err(&name)).collect()
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Provider> Provider for Attributed<S> {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        self.inner
            .list_folders()
            .await
            .map_err(self.name(Operation::ListFolders))
    }

    async fn message_counts(&self, folders: &[FolderId]) -> Option<Vec<Result<u64>>> {
        let name = self.name(Operation::ListChanges);
        let counts = self.inner.message_counts(folders).await?;
        Some(items(counts, name))
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Source> Source for Attributed<S> {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let name = self.name(Operation::ListChanges);
        self.inner
            .list_changes(folder, since)
            .map(move |c| c.map_err(&name))
            .boxed()
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let name = self.name(Operation::Fetch);
        self.inner
            .fetch(folder, ids)
            .map(move |(id, r)| (id, r.map_err(&name)))
            .boxed()
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Destination> Destination for Attributed<S> {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        self.inner
            .ensure_folder(path, role)
            .await
            .map_err(self.name(Operation::EnsureFolder))
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let name = self.name(Operation::Append);
        let results = self.inner.append(folder, messages).await.map_err(&name)?;
        Ok(items(results, name))
    }

    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        self.inner
            .update_flags(folder, id, change)
            .await
            .map_err(self.name(Operation::UpdateFlags))
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        self.inner
            .find_existing(folder, key)
            .await
            .map_err(self.name(Operation::FindExisting))
    }

    async fn find_existing_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        self.inner
            .find_existing_many(folder, keys)
            .await
            .map_err(self.name(Operation::FindExisting))
    }

    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        self.inner
            .delete(folder, ids)
            .await
            .map_err(self.name(Operation::Delete))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    /// A source whose errors name nothing.
    #[derive(Debug)]
    struct Bare(ProviderInfo);

    #[async_trait]
    impl Provider for Bare {
        fn info(&self) -> &ProviderInfo {
            &self.0
        }
        async fn list_folders(&self) -> Result<Vec<Folder>> {
            Err(Error::new(ErrorKind::Unavailable, "down"))
        }
    }

    #[async_trait]
    impl Source for Bare {
        fn list_changes(
            &self,
            _: &FolderId,
            _: Option<Checkpoint>,
        ) -> BoxStream<'static, Result<Change>> {
            futures::stream::iter([Err(Error::new(ErrorKind::Unavailable, "down"))]).boxed()
        }
        fn fetch(
            &self,
            _: &FolderId,
            ids: Vec<MessageId>,
        ) -> BoxStream<'static, ItemResult<RawMessage>> {
            let gone = ids.into_iter().map(|id| {
                let e = Error::new(ErrorKind::NotFound, "gone");
                (id, Err(e))
            });
            futures::stream::iter(gone.collect::<Vec<_>>()).boxed()
        }
    }

    #[tokio::test]
    async fn every_error_names_the_provider_and_operation() {
        let info = ProviderInfo::new("bare", "a", Capabilities::default());
        let src = AttributeLayer.layer(Bare(info));
        let e = src.list_folders().await.unwrap_err();
        assert_eq!(
            (e.provider(), e.operation()),
            ("bare", Operation::ListFolders)
        );
        let folder = FolderId::new("INBOX");
        let e = src.list_changes(&folder, None).next().await.unwrap();
        let e = e.unwrap_err();
        assert_eq!(
            (e.provider(), e.operation()),
            ("bare", Operation::ListChanges)
        );
        let (_, r) = src
            .fetch(&folder, vec![MessageId::new("1")])
            .next()
            .await
            .unwrap();
        let e = r.unwrap_err();
        assert_eq!((e.provider(), e.operation()), ("bare", Operation::Fetch));
    }
}

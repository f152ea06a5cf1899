//! The two traits every provider implements: [`Source`] and [`Destination`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::{
    Appended, Capabilities, Change, Checkpoint, DedupeKey, EnsuredFolder, ExistingCopy, FlagChange,
    Folder, FolderId, FolderPath, ItemResult, MessageId, ProviderInfo, RawMessage, Result,
    SpecialUse,
};

/// What every provider has, whichever side it is on: who it is, what it can do, and its
/// folders. [`Source`] and [`Destination`] build on it, so a store that is both implements
/// these once.
///
/// # Contract
/// - [`capabilities`](Provider::capabilities) is honest: an operation it does not declare
///   returns [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported), and one it declares
///   works. The engine plans from it before any I/O. It is returned by value, so a layer
///   may narrow what it passes on (a size limit, a concurrency bound).
/// - [`list_folders`](Provider::list_folders) lists every folder, with its hierarchy
///   separator decoded (`FolderPath` segments) and its special use where the provider knows
///   it. A folder's [`FolderId`] stays the same while the folder exists.
///
/// ```
/// use mailmigrate_core::{store::MemoryStore, Provider};
///
/// let store = MemoryStore::new("alice");
/// assert_eq!(store.info().scheme, "memory");
/// assert!(store.capabilities().find_existing);
/// ```
#[async_trait]
pub trait Provider: fmt::Debug + Send + Sync + 'static {
    /// The provider's name, account and declared capabilities.
    fn info(&self) -> &ProviderInfo;

    /// What the provider can do, as this object offers it (the declared capabilities
    /// unless a layer changed them).
    fn capabilities(&self) -> Capabilities {
        self.info().capabilities
    }

    /// Lists every folder.
    ///
    /// # Errors
    /// `Unavailable`, `Unauthenticated` and the like from the provider.
    async fn list_folders(&self) -> Result<Vec<Folder>>;

    /// How many messages each of `folders` holds, one result per folder in order, where
    /// the provider can tell without listing them (IMAP `STATUS`); `None` (the default)
    /// where only a listing can. Checks that compare folder sizes use it to stay cheap.
    async fn message_counts(&self, folders: &[FolderId]) -> Option<Vec<Result<u64>>> {
        let _ = folders;
        None
    }
}

/// Reads folders and raw messages from one mailbox.
///
/// # Contract
/// - [`list_changes`](Source::list_changes) yields every message changed since the
///   checkpoint (everything when it is `None`) exactly once, in no set order, then ends with
///   one [`Change::Checkpoint`]. A stream that ends without a checkpoint failed, and the
///   engine resumes from the previous one.
/// - [`fetch`](Source::fetch) yields one entry per requested id, in any order, each with its
///   own result: one unreadable message never fails the batch. Bytes are returned exactly
///   as stored.
/// - A source never modifies the mailbox it reads (IMAP fetches use `BODY.PEEK`).
/// - An operation the provider cannot do returns
///   [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported), as
///   [`capabilities`](Provider::capabilities) said up front.
///
/// # Implementing
/// Streams are `'static`: they own what they need (an `Arc` of the client) so the engine can
/// move them between tasks. Paging happens inside them. Errors name the folder and item in
/// their context; the provider scheme and the operation are filled in by the engine
/// ([`AttributeLayer`](crate::layer::AttributeLayer)) where an error leaves them unnamed.
/// See `examples/src/bin/custom_provider.rs` and the conformance testkit.
///
/// # Wrappers
/// Layers forward every method; `Arc<T>` and `Box<T>` forward too.
#[async_trait]
pub trait Source: Provider {
    /// Streams what changed in `folder` since `since`, ending with the new checkpoint.
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>>;

    /// Streams the raw messages for `ids`, one entry per id.
    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>>;
}

/// Writes folders and raw messages into one mailbox.
///
/// # Contract
/// - [`ensure_folder`](Destination::ensure_folder) is idempotent and says whether it
///   created the folder.
/// - [`append`](Destination::append) returns one result per message, in input order. An
///   error whose outcome is unknown (the connection dropped after sending) must not be
///   marked temporary: the engine settles it with
///   [`find_existing`](Destination::find_existing) instead of writing again.
/// - Messages keep their bytes, flags and internal date as far as the capabilities say.
///
/// # Implementing
/// Map provider errors in one function; declare capabilities honestly; run the conformance
/// testkit (feature `testkit`).
#[async_trait]
pub trait Destination: Provider {
    /// Creates the folder at `path` (with its parents) unless it exists, and returns its id.
    ///
    /// # Errors
    /// `ConfigInvalid` for a name the provider cannot store, or provider errors.
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder>;

    /// Appends a batch of messages with their flags, keywords, labels and internal dates.
    ///
    /// # Errors
    /// The outer error fails the whole batch (nothing was written); per-item errors are in
    /// the returned vector.
    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>>;

    /// Adds and removes flags of an existing message, leaving its other flags alone.
    ///
    /// The engine sends only what changed at the source since it last wrote the message
    /// (see [`FlagChange`]); a flag the destination's users set themselves stays. Applying a
    /// change that is already in effect succeeds: it is not a sign that the message is
    /// missing (IMAP servers answer such a `STORE` without an untagged `FETCH`).
    ///
    /// # Errors
    /// `NotFound` only if the message is gone, `Unsupported` without `update_flags`.
    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()>;

    /// Returns every copy in `folder` whose bytes are the message's: same content hash (and
    /// so the same size), found by Message-ID or by size and then compared by content.
    ///
    /// The rules the engine relies on:
    /// - **Every** matching copy is returned, not just one: byte-identical twins are
    ///   distinct messages, and the engine hands each its own copy (it skips copies the
    ///   ledger already gives to another message). Return each copy's flags and internal
    ///   date when the look-up can read them ([`ExistingCopy`]); the engine prefers the copy
    ///   whose date and flags are the message's, and never takes one whose date differs
    ///   when the destination keeps dates (`append_with_internal_date`).
    /// - `key.size` may be `None` (a key rebuilt from the ledger alone): match on the hash
    ///   without narrowing by size. A look-up must not depend on how a server counts size
    ///   in a search; compare sizes the client read itself.
    /// - A copy written a moment ago, even by another connection, must be found: the
    ///   engine looks up writes whose answer was lost.
    /// - Nothing found is `Ok(vec![])`, never `NotFound`.
    ///
    /// ```
    /// # use mailmigrate_core::{store::MemoryStore, *};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new("doc");
    /// let inbox = store.ensure_folder(&FolderPath::parse("INBOX", '/')?, None).await?.id;
    /// let msg = RawMessage::new(
    ///     MessageMeta::new(MessageId::new("1"), inbox.clone()),
    ///     bytes::Bytes::from_static(b"Subject: hi\r\n\r\nbody\r\n"),
    /// );
    /// let key = DedupeKey::of(&msg);
    /// store.append(&inbox, vec![msg.clone(), msg]).await?; // twins
    /// assert_eq!(store.find_existing(&inbox, &key).await?.len(), 2);
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// `Unsupported` without `find_existing`.
    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>>;

    /// Deletes messages. Called only when the caller asked to propagate deletions.
    ///
    /// # Errors
    /// `Unsupported` without `delete`.
    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()>;
}

macro_rules! forward_impls {
    ($($wrapper:ident),*) => {$(
        #[async_trait]
        impl<T: Provider + ?Sized> Provider for $wrapper<T> {
            fn info(&self) -> &ProviderInfo {
                (**self).info()
            }
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
            async fn list_folders(&self) -> Result<Vec<Folder>> {
                (**self).list_folders().await
            }
            async fn message_counts(&self, folders: &[FolderId]) -> Option<Vec<Result<u64>>> {
                (**self).message_counts(folders).await
            }
        }

        #[async_trait]
        impl<T: Source + ?Sized> Source for $wrapper<T> {
            fn list_changes(
                &self,
                folder: &FolderId,
                since: Option<Checkpoint>,
            ) -> BoxStream<'static, Result<Change>> {
                (**self).list_changes(folder, since)
            }
            fn fetch(
                &self,
                folder: &FolderId,
                ids: Vec<MessageId>,
            ) -> BoxStream<'static, ItemResult<RawMessage>> {
                (**self).fetch(folder, ids)
            }
        }

        #[async_trait]
        impl<T: Destination + ?Sized> Destination for $wrapper<T> {
            async fn ensure_folder(
                &self,
                path: &FolderPath,
                role: Option<SpecialUse>,
            ) -> Result<EnsuredFolder> {
                (**self).ensure_folder(path, role).await
            }
            async fn append(
                &self,
                folder: &FolderId,
                messages: Vec<RawMessage>,
            ) -> Result<Vec<Result<Appended>>> {
                (**self).append(folder, messages).await
            }
            async fn update_flags(
                &self,
                folder: &FolderId,
                id: &MessageId,
                change: &FlagChange,
            ) -> Result<()> {
                (**self).update_flags(folder, id, change).await
            }
            async fn find_existing(
                &self,
                folder: &FolderId,
                key: &DedupeKey,
            ) -> Result<Vec<ExistingCopy>> {
                (**self).find_existing(folder, key).await
            }
            async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
                (**self).delete(folder, ids).await
            }
        }
    )*};
}

forward_impls!(Arc, Box);

fn _dyn_compatible(_: &dyn Source, _: &dyn Destination) {}

/// A backend that is both a [`Source`] and a [`Destination`] (local stores, IMAP).
///
/// `Arc<dyn Store>` upcasts to `Arc<dyn Source>` and `Arc<dyn Destination>`.
pub trait Store: Source + Destination {}
impl<T: Source + Destination + ?Sized> Store for T {}

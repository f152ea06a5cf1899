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
/// Each rule names the conformance case (in [`testkit::cases`](crate::testkit)) that checks
/// it.
/// - [`list_changes`](Source::list_changes) yields every message changed since the
///   checkpoint (everything when it is `None`) exactly once, in no set order, then ends with
///   one [`Change::Checkpoint`]. A stream that ends without a checkpoint failed, and the
///   engine resumes from the previous one. A source without incremental listing
///   (`list_since: false`) still returns a checkpoint and lists everything each time
///   (`changes::incremental_changes`).
/// - A message's [`MessageId`] names that message, and only it, for as long as the folder
///   lives. When ids may now name other messages, or the checkpoint cannot be honoured (an
///   IMAP UIDVALIDITY change after the folder was deleted and created anew), the listing
///   starts with [`Change::Reset`] and lists everything: the engine then forgets what it
///   knew of the folder's ids and matches its copies again by content
///   (`changes::renewed_folder_lists_anew`).
/// - The metadata a listing yields (flags, keywords, labels, internal date) is what the
///   engine writes; a source lists what the message has, not what the fetch will add
///   (`metadata::fetch_leaves_flags_alone`).
/// - A `Message-ID` a listing gives is the message's header without angle brackets, as
///   [`headers::message_id`](crate::headers::message_id) reads it: look-ups after a lost
///   answer compare the two (`metadata::listed_message_id_is_the_header`).
/// - [`fetch`](Source::fetch) yields one entry per requested id, in any order, each with its
///   own result: one unreadable message never fails the batch. Bytes are returned exactly
///   as stored (`malformed::fetch_unknown_id_is_not_found`,
///   `roundtrip::append_then_fetch_roundtrip`).
/// - A source declaring [`fetch_flags`](crate::Capabilities::fetch_flags) fills each
///   fetched message's flags and keywords as the listing would; without it a fetched
///   message's flags say nothing (`metadata::flags_preserved`).
/// - A source never modifies the mailbox it reads (IMAP fetches use `BODY.PEEK`).
/// - An operation the provider cannot do returns
///   [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported), as
///   [`capabilities`](Provider::capabilities) said up front
///   (`unsupported::unsupported_op_returns_unsupported`).
///
/// A listing after the folder's ids changed, as the engine reads it:
/// ```
/// use mailmigrate_core::{Change, Checkpoint, MessageId, MessageMeta, FolderId};
///
/// let folder = FolderId::new("INBOX");
/// let listing = vec![
///     Change::Reset, // every id listed before is void …
///     Change::Upsert(MessageMeta::new(MessageId::new("7:1"), folder.clone())),
///     Change::Upsert(MessageMeta::new(MessageId::new("7:2"), folder)),
///     Change::Checkpoint(Checkpoint::new("7:3:0")), // … and this is a full listing
/// ];
/// assert!(matches!(listing.first(), Some(Change::Reset)));
/// assert!(matches!(listing.last(), Some(Change::Checkpoint(_))));
/// ```
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
/// Each rule names the conformance case (in [`testkit::cases`](crate::testkit)) that checks
/// it.
/// - [`append`](Destination::append) returns one result per message, in input order; one
///   message the destination refuses never fails the others
///   (`malformed::malformed_message_isolated`).
/// - An error says what became of the message through its
///   [`disposition`](crate::Error::disposition): only the destination's refusal of the
///   message itself is final (`InvalidMessage`, `MessageTooLarge`…); anything that may pass
///   later (a bare `NO`, a throttle, a vanished folder) is retried. A write whose answer was
///   lost after the data left — the connection dropped mid-reply, a lost MULTIAPPEND answer
///   for all of its messages — is marked with [`Error::outcome_unknown`](crate::Error::outcome_unknown),
///   never temporary: the engine settles it with
///   [`find_existing`](Destination::find_existing) instead of writing again
///   (`wire::lost_append_reply_is_outcome_unknown`, `wire::engine_settles_a_reply_lost_on_the_wire`,
///   `retry::transient_error_retry`).
/// - [`find_existing`](Destination::find_existing) matches by content, not by Message-ID
///   alone, and returns every copy, twins included, with its flags and internal date
///   (`dedupe::dedupe_after_interrupted_write`, `dedupe::find_existing_tells_twins_apart`,
///   `engine::engine_settles_lost_replies`).
/// - [`update_flags`](Destination::update_flags) applies a change that is already in
///   effect as a success, not as a missing message
///   (`metadata::update_flags_applies_changes`).
/// - Messages keep their bytes, flags and internal date as far as the capabilities say
///   (`metadata::*`, `roundtrip::*`).
///
/// A lost answer, as a backend reports it:
/// ```
/// use mailmigrate_core::{Disposition, Error, ErrorKind};
///
/// let lost = Error::new(ErrorKind::Unavailable, "connection closed before the answer")
///     .outcome_unknown();
/// assert_eq!(lost.disposition(), Disposition::Settle); // looked up, never written blindly
/// let refused = Error::new(ErrorKind::InvalidMessage, "the server refused the message");
/// assert_eq!(refused.disposition(), Disposition::Final);
/// ```
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
    /// The key is of the message in the form the destination stores
    /// ([`Capabilities::stored_form`]): the engine writes that form, so a copy hashes to
    /// `key.hash` unless the destination rewrote it in a way its capabilities do not
    /// declare. A provider that cannot know beforehand finds out by trying, as the IMAP
    /// backend's fidelity probe does, and declares what it found.
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

    /// [`find_existing`](Self::find_existing) for several keys at once.
    ///
    /// # Contract
    /// - The answer holds one list per key, in the keys' order (repeated keys included):
    ///   the same list, in the same order, as `find_existing` gives for that key, every copy
    ///   with the flags and internal date `find_existing` gives it. The testkit's
    ///   `dedupe::batched_lookup_matches_single` case checks it (twins, messages without
    ///   `Message-ID`, look-alike `Message-ID`s, keys not present, a key without a size).
    /// - Each list is every copy there is: the engine claims copies across the batch
    ///   itself, so byte-identical twins each get their own.
    ///
    /// The engine asks this way once per batch when it deduplicates a folder it has no
    /// checkpoint for (a lost state file, mail copied before by another tool), so a provider
    /// that can answer many keys in a few round trips should: the default asks key by key.
    ///
    /// ```
    /// # use mailmigrate_core::{store::MemoryStore, *};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new("doc");
    /// let inbox = store.ensure_folder(&FolderPath::inbox(), None).await?.id;
    /// let msg = |n: u8| RawMessage::new(
    ///     MessageMeta::new(MessageId::new(n.to_string()), inbox.clone()),
    ///     bytes::Bytes::from(format!("Subject: {n}\r\n\r\nbody\r\n")),
    /// );
    /// store.append(&inbox, vec![msg(1)]).await?;
    /// let keys = [DedupeKey::of(&msg(1)), DedupeKey::of(&msg(2))];
    /// let found = store.find_existing_many(&inbox, &keys).await?;
    /// assert_eq!((found[0].len(), found[1].len()), (1, 0));
    /// assert_eq!(found[0], store.find_existing(&inbox, &keys[0]).await?);
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`find_existing`](Self::find_existing); an error for one key fails the call.
    async fn find_existing_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.find_existing(folder, key).await?);
        }
        Ok(out)
    }

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
            async fn find_existing_many(
                &self,
                folder: &FolderId,
                keys: &[DedupeKey],
            ) -> Result<Vec<Vec<ExistingCopy>>> {
                (**self).find_existing_many(folder, keys).await
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

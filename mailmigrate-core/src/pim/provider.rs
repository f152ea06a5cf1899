//! The contact and calendar counterparts of [`Source`](crate::Source) and
//! [`Destination`](crate::Destination).

use std::fmt;

use async_trait::async_trait;
use futures::stream::BoxStream;

use super::{Collection, CollectionId, ItemChange, ItemId, PimCapabilities, PimItem, PimKind};
use crate::{Checkpoint, ContentHash, ProviderInfo, Result};

/// One item's answer: its id and what became of it.
pub type PimResult<T> = (ItemId, Result<T>);

/// What every contact or calendar provider offers: who it is, what it can do, and its
/// collections.
///
/// A provider that also moves mail implements [`Provider`](crate::Provider) beside this;
/// its [`ProviderInfo`] is shared, and a provider of contacts and calendars only leaves the
/// mail capabilities off.
#[async_trait]
pub trait PimProvider: fmt::Debug + Send + Sync + 'static {
    /// The scheme, account label and mail capabilities.
    fn info(&self) -> &ProviderInfo;

    /// What the provider supports and keeps for contacts and calendars.
    fn pim_capabilities(&self) -> PimCapabilities;

    /// Every collection of `kind` (empty when the provider holds none of that kind).
    ///
    /// # Errors
    /// Provider errors (`Unavailable`, `Unauthenticated`…).
    async fn list_collections(&self, kind: PimKind) -> Result<Vec<Collection>>;
}

/// Reads address books and calendars.
///
/// # Contract
/// Each rule names the conformance case (in `testkit::pim`) that checks it.
/// - [`list_items`](PimSource::list_items) without a checkpoint lists every item with its
///   version, then a [`Checkpoint`](ItemChange::Checkpoint). With one, it lists what
///   changed since (new and changed items as `Upsert`, removed ones as `Removed`, when
///   [`list_removals`](PimCapabilities::list_removals) is declared) — or, when the
///   checkpoint expired, [`Reset`](ItemChange::Reset) and then everything
///   (`pim::incremental_listing`).
/// - Ids and versions are stable: an unchanged item keeps both across passes, a changed
///   one keeps its id and gets a new version (`pim::update_changes_version`).
/// - [`fetch_items`](PimSource::fetch_items) answers once per id, in any order; a
///   malformed item is an `InvalidMessage` error naming it, and the others still come
///   (`pim::malformed_item_isolated`). A gone item is `NotFound`.
///
/// # Implementing
/// Streams are `'static`: they own what they need (an `Arc` of the client). Paging happens
/// inside them.
#[async_trait]
pub trait PimSource: PimProvider {
    /// Streams the items of `collection` that changed since `since` (all of them without
    /// one), ending with the new checkpoint.
    fn list_items(
        &self,
        collection: &CollectionId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<ItemChange>>;

    /// Streams the items for `ids`, one answer per id.
    fn fetch_items(
        &self,
        collection: &CollectionId,
        ids: Vec<ItemId>,
    ) -> BoxStream<'static, PimResult<PimItem>>;
}

/// How one item is written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteTarget {
    /// A new item. With [`conditional_writes`](PimCapabilities::conditional_writes) the
    /// write fails with `AlreadyExists` when the collection holds the item's `UID` already.
    Create,
    /// Replaces the item `id`, conditional on `version` when given and the provider
    /// declares `conditional_writes` (a `Conflict` error when it changed meanwhile).
    Replace {
        /// The destination's id of the item.
        id: ItemId,
        /// The version the engine last wrote or found.
        version: Option<String>,
    },
}

/// One write of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ItemWrite {
    /// The item as the destination should hold it (its `UID` is set).
    pub item: PimItem,
    /// Create or replace.
    pub target: WriteTarget,
}

impl ItemWrite {
    /// A create.
    pub fn create(item: PimItem) -> Self {
        Self {
            item,
            target: WriteTarget::Create,
        }
    }

    /// A replace of `id`, conditional on `version`.
    pub fn replace(item: PimItem, id: ItemId, version: Option<String>) -> Self {
        Self {
            item,
            target: WriteTarget::Replace { id, version },
        }
    }
}

/// Options of a write call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Send invitations, updates and cancellations to attendees, as a user's own edit
    /// would. Off by default: a migration recreates what already happened and must not
    /// mail anyone.
    pub notify_attendees: bool,
}

/// A written item: the destination's id and version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Written {
    /// The destination's id of the item.
    pub id: ItemId,
    /// Its new version, when the write told it.
    pub version: Option<String>,
}

impl Written {
    /// A written item.
    pub fn new(id: ItemId, version: Option<String>) -> Self {
        Self { id, version }
    }
}

/// An item the destination holds under a `UID`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FoundItem {
    /// The destination's id.
    pub id: ItemId,
    /// Its version.
    pub version: Option<String>,
    /// The [`PimItem::content_hash`] of what it holds, when the look-up read the item.
    pub hash: Option<ContentHash>,
}

impl FoundItem {
    /// A found item.
    pub fn new(id: ItemId, version: Option<String>, hash: Option<ContentHash>) -> Self {
        Self { id, version, hash }
    }
}

/// Writes address books and calendars.
///
/// # Contract
/// Each rule names the conformance case (in `testkit::pim`) that checks it.
/// - [`ensure_collection`](PimDestination::ensure_collection) is idempotent: a collection
///   of the same kind and name is returned, not created twice (`pim::ensure_is_idempotent`).
/// - [`write_items`](PimDestination::write_items) answers once per write, in input order;
///   one refused item never fails the others. Only the destination's refusal of the item
///   itself is final (`InvalidMessage`, `MessageTooLarge`, `PermissionDenied` for an item
///   the account may not write); a write whose answer was lost after the data left is
///   marked [`outcome_unknown`](crate::Error::outcome_unknown)
///   (`pim::round_trip_keeps_declared_properties`, `pim::malformed_item_isolated`).
/// - With [`conditional_writes`](PimCapabilities::conditional_writes), creating a `UID`
///   the collection holds is `AlreadyExists` and nothing is written
///   (`pim::create_is_exactly_once`).
/// - [`find_by_uid`](PimDestination::find_by_uid) returns every item holding each `UID`,
///   one list per `UID` in order, including one written a moment ago; nothing found is an
///   empty list (`pim::find_by_uid_finds_writes`).
/// - Writing an event never mails anyone unless
///   [`WriteOptions::notify_attendees`] is on (`pim::no_notifications`).
/// - Items keep every property the capabilities say they keep (`pim::round_trip_*`).
#[async_trait]
pub trait PimDestination: PimProvider {
    /// Returns the collection of `like.kind` named `like.name`, creating it (with the
    /// description and colour of `like`) when there is none.
    ///
    /// # Errors
    /// `Unsupported` without `create_collections` when it does not exist; provider errors.
    async fn ensure_collection(&self, like: &Collection) -> Result<Collection>;

    /// Writes a batch, one answer per write in input order.
    ///
    /// # Errors
    /// The outer error fails the whole batch (nothing was written).
    async fn write_items(
        &self,
        collection: &CollectionId,
        writes: Vec<ItemWrite>,
        options: &WriteOptions,
    ) -> Result<Vec<Result<Written>>>;

    /// The items holding each of `uids`, one list per `UID`: every item holding it, or —
    /// on a store that refuses a second item with a `UID` it holds (CalDAV's and CardDAV's
    /// `no-uid-conflict`, RFC 4791 §5.3.2.1, RFC 6352 §6.3.2.1) — the one item. The engine
    /// picks among several the copy with the item's content, so a store that may hold a
    /// `UID` twice must list every holder.
    ///
    /// # Errors
    /// `Unsupported` without `find_by_uid`.
    async fn find_by_uid(
        &self,
        collection: &CollectionId,
        uids: &[String],
    ) -> Result<Vec<Vec<FoundItem>>>;

    /// Deletes items, one answer per id; deleting an item already gone succeeds.
    ///
    /// # Errors
    /// `Unsupported` without `delete`.
    async fn delete_items(
        &self,
        collection: &CollectionId,
        ids: &[ItemId],
    ) -> Result<Vec<Result<()>>>;
}

/// A provider that reads and writes contacts and calendars (a backup directory, a CalDAV
/// server, the memory store), so verification can read back what it wrote.
pub trait PimStore: PimSource + PimDestination {}
impl<T: PimSource + PimDestination + ?Sized> PimStore for T {}

macro_rules! forward_pim {
    ($($wrapper:ident),*) => {$(
        #[async_trait]
        impl<T: PimProvider + ?Sized> PimProvider for $wrapper<T> {
            fn info(&self) -> &ProviderInfo {
                (**self).info()
            }
            fn pim_capabilities(&self) -> PimCapabilities {
                (**self).pim_capabilities()
            }
            async fn list_collections(&self, kind: PimKind) -> Result<Vec<Collection>> {
                (**self).list_collections(kind).await
            }
        }

        #[async_trait]
        impl<T: PimSource + ?Sized> PimSource for $wrapper<T> {
            fn list_items(
                &self,
                collection: &CollectionId,
                since: Option<Checkpoint>,
            ) -> BoxStream<'static, Result<ItemChange>> {
                (**self).list_items(collection, since)
            }
            fn fetch_items(
                &self,
                collection: &CollectionId,
                ids: Vec<ItemId>,
            ) -> BoxStream<'static, PimResult<PimItem>> {
                (**self).fetch_items(collection, ids)
            }
        }

        #[async_trait]
        impl<T: PimDestination + ?Sized> PimDestination for $wrapper<T> {
            async fn ensure_collection(&self, like: &Collection) -> Result<Collection> {
                (**self).ensure_collection(like).await
            }
            async fn write_items(
                &self,
                collection: &CollectionId,
                writes: Vec<ItemWrite>,
                options: &WriteOptions,
            ) -> Result<Vec<Result<Written>>> {
                (**self).write_items(collection, writes, options).await
            }
            async fn find_by_uid(
                &self,
                collection: &CollectionId,
                uids: &[String],
            ) -> Result<Vec<Vec<FoundItem>>> {
                (**self).find_by_uid(collection, uids).await
            }
            async fn delete_items(
                &self,
                collection: &CollectionId,
                ids: &[ItemId],
            ) -> Result<Vec<Result<()>>> {
                (**self).delete_items(collection, ids).await
            }
        }
    )*};
}

use std::sync::Arc;
forward_pim!(Arc, Box);

fn _dyn_compatible(_: &dyn PimSource, _: &dyn PimDestination) {}

//! The mailbox as one core PIM store: contact folders ([`contacts`](crate::contacts)) and
//! calendars ([`calendars`](crate::calendars)) behind one
//! [`PimProvider`](mailmigrate_core::pim::PimProvider), told apart by collection id (a
//! calendar's starts with `calendar:`); and what both sides share: writes fitted to the
//! declared capabilities, creates settled by a look-up, deletes where gone is done.

use std::collections::HashSet;
use std::future::Future;

use async_trait::async_trait;
use futures::stream::BoxStream;
use mailmigrate_core::pim::{
    sync::adapt, Collection, CollectionId, ContactLimits, FoundItem, ItemChange, ItemId, ItemWrite,
    Notifications, PimCapabilities, PimDestination, PimItem, PimKind, PimProvider, PimResult,
    PimSource, WriteOptions, WriteTarget, Written,
};
use mailmigrate_core::{Checkpoint, Disposition, Error, ErrorKind, ProviderInfo, Result};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::calendars::{self, collections::is_calendar};
use crate::client::Call;
use crate::contacts;
use crate::mail::Graph;
use crate::PROVIDER;

/// What a mailbox's contacts and calendars keep (see [`Graph`]'s "Contacts" and
/// "Calendars").
pub(crate) fn capabilities() -> PimCapabilities {
    PimCapabilities {
        contacts: true,
        events: true,
        // [G-CDELTA]: per-folder delta with @removed. Calendars have none [G-DQ]: their
        // listings answer a checkpoint with Reset and everything.
        list_since: true,
        list_removals: true,
        create_collections: true,
        write: true,
        update: true,
        delete: true,
        // The UID travels in a named property, and look-ups filter on it [G-EXT].
        keeps_uid: true,
        find_by_uid: true,
        // No If-None-Match on create and no documented If-Match: a create looks the UID
        // up first, which is not atomic, so it is not claimed.
        conditional_writes: false,
        // What Graph has no field for travels in the stored vCard or iCalendar: unknown
        // properties, attachments by reference, every alarm (Graph shows the first as
        // its reminder), VTIMEZONE definitions (Graph keeps the zone's name).
        keeps_unknown_properties: true,
        keeps_attachment_references: true,
        keeps_alarms: true,
        keeps_timezone_definitions: true,
        // [G-EVPR][I-INV] Graph mails every attendee of an event created with them; this
        // crate writes attendees only with notify_attendees, keeping them in the stored
        // iCalendar otherwise.
        notifications: Notifications::Suppressible,
        contact_limits: ContactLimits {
            // [I-CONTACT] emailAddresses ≤ 3, businessPhones ≤ 2. Core counts all TEL
            // values: two always fit (business holds two), whatever their types.
            emails: Some(contacts::MAX_EMAILS),
            phones: Some(contacts::MAX_BUSINESS_PHONES),
            // businessAddress, homeAddress, otherAddress [G-CONT].
            addresses: Some(3),
        },
        // [I-4MB] one request holds 4 MB, and the body carries the text beside the fields.
        max_item_size: Some(1024 * 1024),
        ..PimCapabilities::default()
    }
}

/// One write fitted to what Graph keeps, with what names it in errors.
pub(crate) struct Fitted {
    pub(crate) item: PimItem,
    pub(crate) target: WriteTarget,
    /// The item's `UID`, or its source id without one.
    pub(crate) name: String,
    /// An earlier create of this batch has the `UID`.
    pub(crate) twin: bool,
}

/// Fits each write to the declared capabilities (a no-op for what the engine fitted).
pub(crate) fn fit(writes: Vec<ItemWrite>) -> Vec<Fitted> {
    let caps = capabilities();
    let mut creating = HashSet::new();
    writes
        .into_iter()
        .map(|w| {
            let mut item = w.item;
            let name = item
                .uid()
                .map_or_else(|| item.meta.id.to_string(), str::to_owned);
            adapt(&mut item, &caps);
            let twin = matches!(w.target, WriteTarget::Create)
                && item.uid().is_some_and(|u| !creating.insert(u.to_owned()));
            Fitted {
                item,
                target: w.target,
                name,
                twin,
            }
        })
        .collect()
}

/// A refusal of item `name` (a `contact` or an `event`).
pub(crate) fn refused(
    what: &'static str,
    name: &str,
    message: impl Into<String>,
    kind: ErrorKind,
) -> Error {
    Error::new(kind, message)
        .with_provider(PROVIDER)
        .with_context(what, name)
}

/// Sends a create; a container made meanwhile (409, `ErrorFolderExists` \[1.6\]) or by a
/// create whose answer was lost is found by `find` instead.
pub(crate) async fn create_or_find<T, F, Fut>(g: &Graph, call: &Call, find: F) -> Result<T>
where
    T: DeserializeOwned,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let answer = match g.client().send(call).await {
        Err(e) if e.disposition() == Disposition::Settle => return find().await?.ok_or(e),
        other => other?,
    };
    if answer.status.is_success() {
        return answer.json(&call.what);
    }
    let exists = answer.status == StatusCode::CONFLICT
        || answer.error(call).kind() == ErrorKind::AlreadyExists;
    if exists {
        if let Some(found) = find().await? {
            return Ok(found);
        }
    }
    Err(answer.error(call))
}

/// `DELETE` of the item at `path`; gone already is what was asked.
pub(crate) async fn delete(g: &Graph, path: &str, id: &ItemId) -> Result<()> {
    let call = Call {
        method: Method::DELETE,
        ..Call::get(g.client().user_url(path), format!("delete {id}"))
    };
    let answer = g.client().send(&call).await?;
    if answer.status.is_success() || answer.status == StatusCode::NOT_FOUND {
        Ok(())
    } else {
        Err(answer.error(&call).with_context("item", id.as_str()))
    }
}

#[async_trait]
impl PimProvider for Graph {
    fn info(&self) -> &ProviderInfo {
        mailmigrate_core::Provider::info(self)
    }

    fn pim_capabilities(&self) -> PimCapabilities {
        capabilities()
    }

    async fn list_collections(&self, kind: PimKind) -> Result<Vec<Collection>> {
        match kind {
            PimKind::Contacts => contacts::list_folders(self).await,
            PimKind::Events => calendars::collections::list(self).await,
            _ => Ok(Vec::new()),
        }
    }
}

impl PimSource for Graph {
    fn list_items(
        &self,
        collection: &CollectionId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<ItemChange>> {
        if is_calendar(collection) {
            calendars::source::list_items(self.client(), collection, since)
        } else {
            contacts::list_items(self, collection, since)
        }
    }

    fn fetch_items(
        &self,
        collection: &CollectionId,
        ids: Vec<ItemId>,
    ) -> BoxStream<'static, PimResult<PimItem>> {
        if is_calendar(collection) {
            calendars::source::fetch_items(self.client(), collection, ids)
        } else {
            contacts::fetch_items(self, collection, ids)
        }
    }
}

#[async_trait]
impl PimDestination for Graph {
    async fn ensure_collection(&self, like: &Collection) -> Result<Collection> {
        match like.kind {
            PimKind::Events => calendars::collections::ensure(self, like).await,
            _ => contacts::ensure_folder(self, like).await,
        }
    }

    async fn write_items(
        &self,
        collection: &CollectionId,
        writes: Vec<ItemWrite>,
        options: &WriteOptions,
    ) -> Result<Vec<Result<Written>>> {
        if is_calendar(collection) {
            Ok(calendars::destination::write_items(self, collection, writes, options).await)
        } else {
            Ok(contacts::write_items(self, collection, writes).await)
        }
    }

    async fn find_by_uid(
        &self,
        collection: &CollectionId,
        uids: &[String],
    ) -> Result<Vec<Vec<FoundItem>>> {
        if is_calendar(collection) {
            calendars::destination::find_by_uid(self, collection, uids).await
        } else {
            contacts::find_by_uid(self, collection, uids).await
        }
    }

    async fn delete_items(
        &self,
        collection: &CollectionId,
        ids: &[ItemId],
    ) -> Result<Vec<Result<()>>> {
        let path = |id: &ItemId| {
            let kind = if is_calendar(collection) {
                "events"
            } else {
                "contacts"
            };
            format!("/{kind}/{}", crate::client::segment(id.as_str()))
        };
        Ok(futures::StreamExt::collect(futures::StreamExt::buffered(
            futures::stream::iter(
                ids.iter()
                    .cloned()
                    .map(|id| async move { delete(self, &path(&id), &id).await }),
            ),
            4,
        ))
        .await)
    }
}

//! Reading: a calendar's events listed whole (series masters and single events, `changeKey`
//! the version) and each event read with its series' instances.
//!
//! Graph has event delta only over a date range of the primary calendar \[G-DQ\], not per
//! calendar; so every listing is a full one. `list_since` is declared for the mailbox
//! (contacts have delta), and a calendar listing given a checkpoint answers
//! [`ItemChange::Reset`] and then everything: the engine skips what kept its version, and
//! what is no longer listed was removed.

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use mailmigrate_core::pim::{
    CalendarObject, CollectionId, ItemChange, ItemId, ItemMeta, Payload, PimItem, PimResult,
};
use mailmigrate_core::{Checkpoint, Error, ErrorKind, Result};

use super::map::{self, GraphEvent};
use super::series::{self, Window};
use super::{collections, times};
use crate::client::{segment, Call, Client};
use crate::extended;
use crate::PROVIDER;

/// The checkpoint of a full listing (there is nothing to resume from).
const FULL_LISTING: &str = "graph-calendar-full-listing";

/// `$select` and `$expand` of a full read: the fields, the `UID` and the stored object.
pub(super) fn read_options() -> String {
    let (uid, ical) = (extended::uid_property(), map::ical_property());
    format!(
        "$select={}&$expand={}",
        map::SELECT,
        segment(&extended::expand(&[&uid, &ical]))
    )
}

/// Every event of a calendar with its version; a checkpoint gets `Reset` first.
pub(crate) fn list_items(
    client: &Arc<Client>,
    collection: &CollectionId,
    since: Option<Checkpoint>,
) -> BoxStream<'static, Result<ItemChange>> {
    let url = client.user_url(&format!(
        "/calendars/{}/events?$select=changeKey,type&$top=100",
        segment(collections::graph_id(collection))
    ));
    let head = since.map(|_| Ok(ItemChange::Reset));
    let items = client
        .items::<GraphEvent>(Call::get(url, format!("list events of {collection}")))
        .map_ok(|e| {
            ItemChange::Upsert(ItemMeta::new(ItemId::new(e.id)).with_version(e.change_key))
        });
    stream::iter(head)
        .chain(items)
        .chain(stream::once(async {
            Ok(ItemChange::Checkpoint(Checkpoint::new(FULL_LISTING)))
        }))
        .boxed()
}

fn iso(t: time::PrimitiveDateTime) -> String {
    format!("{}Z", times::fmt_local(t))
}

/// The instances of series `master` in `window` (occurrences and exceptions), every page.
pub(super) async fn instances(
    client: &Arc<Client>,
    master: &str,
    window: Window,
) -> Result<Vec<GraphEvent>> {
    let url = client.user_url(&format!(
        "/events/{}/instances?startDateTime={}&endDateTime={}&$select={}&$top=100",
        segment(master),
        iso(window.start),
        iso(window.end),
        map::SELECT
    ));
    client
        .items(Call::get(url, format!("list instances of event {master}")))
        .try_collect()
        .await
}

/// A read event (with its instances, for a series) as a core item.
pub(super) async fn item_of(client: &Arc<Client>, master: GraphEvent) -> Result<PimItem> {
    let stored = master
        .named(&map::ical_property())
        .and_then(|t| CalendarObject::from_ics(t).ok());
    let instances = match series::window(&master, stored.as_ref()) {
        Some(w) if master.kind.as_deref() == Some("seriesMaster") => {
            instances(client, &master.id, w).await?
        }
        _ => Vec::new(),
    };
    let object = series::object_of(&master, &instances).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidMessage,
            "Graph's event has no start this crate can read",
        )
        .with_provider(PROVIDER)
        .with_context("event", &master.id)
    })?;
    let meta = ItemMeta::new(ItemId::new(&master.id))
        .with_uid(Some(object.uid().to_owned()))
        .with_version(master.change_key.clone());
    Ok(PimItem::new(meta, Payload::Event(object)))
}

/// `GET events/{id}` with every field and both named properties, then its instances.
pub(super) async fn read(
    client: &Arc<Client>,
    collection: &CollectionId,
    id: &ItemId,
) -> Result<PimItem> {
    let call = Call::get(
        client.user_url(&format!(
            "/events/{}?{}",
            segment(id.as_str()),
            read_options()
        )),
        format!("GET event {id}"),
    );
    let named = |e: Error| {
        e.with_context("collection", collection.as_str())
            .with_context("item", id.as_str())
    };
    let master = client.json::<GraphEvent>(&call).await.map_err(named)?;
    item_of(client, master).await.map_err(named)
}

/// Each event of `ids`, four at a time.
pub(crate) fn fetch_items(
    client: &Arc<Client>,
    collection: &CollectionId,
    ids: Vec<ItemId>,
) -> BoxStream<'static, PimResult<PimItem>> {
    let client = Arc::clone(client);
    let collection = collection.clone();
    stream::iter(ids)
        .map(move |id| {
            let (client, collection) = (Arc::clone(&client), collection.clone());
            async move {
                let r = read(&client, &collection, &id).await;
                (id, r)
            }
        })
        .buffer_unordered(4)
        .boxed()
}

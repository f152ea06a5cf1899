//! Reading: a contact folder's changes by delta query \[G-CDELTA\] (`changeKey` is the
//! version), and contacts by id.

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};
use mailmigrate_core::pim::{
    CollectionId, ItemChange, ItemId, ItemMeta, Payload, PimItem, PimResult,
};
use mailmigrate_core::{Checkpoint, Result};

use super::map::{self, GraphContact};
use crate::client::{segment, Call, Client};
use crate::delta::{delta, DeltaEvent, DeltaQuery};
use crate::extended;
use crate::mail::Graph;

/// Contacts per delta page.
const DELTA_PAGE: u32 = 100;

/// `$select` and `$expand` of a full read: the fields, the `UID` and the stored vCard.
pub(super) fn read_options() -> String {
    let (uid, card) = (map::uid_property(), map::card_property());
    format!(
        "$select={}&$expand={}",
        map::SELECT,
        segment(&extended::expand(&[&uid, &card]))
    )
}

/// A read contact as a core item.
pub(super) fn item_of(g: &GraphContact) -> PimItem {
    let contact = map::from_graph(g);
    let meta = ItemMeta::new(ItemId::new(&g.id))
        .with_uid(contact.uid.clone())
        .with_version(g.change_key.clone());
    PimItem::new(meta, Payload::Contact(Box::new(contact)))
}

fn change(event: Result<DeltaEvent<GraphContact>>) -> Result<ItemChange> {
    Ok(match event? {
        DeltaEvent::Reset => ItemChange::Reset,
        DeltaEvent::Done(link) => ItemChange::Checkpoint(Checkpoint::new(link)),
        // [G-DQ] a removed item comes as its id with @removed.
        DeltaEvent::Item(c) if c.removed.is_some() => ItemChange::Removed(ItemId::new(c.id)),
        DeltaEvent::Item(c) => {
            ItemChange::Upsert(ItemMeta::new(ItemId::new(c.id)).with_version(c.change_key))
        }
    })
}

/// `GET contacts/{id}` with every field and both named properties.
async fn read(client: &Client, collection: &CollectionId, id: &ItemId) -> Result<PimItem> {
    let call = Call::get(
        client.user_url(&format!(
            "/contacts/{}?{}",
            segment(id.as_str()),
            read_options()
        )),
        format!("GET contact {id}"),
    );
    client
        .json::<GraphContact>(&call)
        .await
        .map(|g| item_of(&g))
        .map_err(|e| {
            e.with_context("collection", collection.as_str())
                .with_context("item", id.as_str())
        })
}

/// A contact folder's changes since `since` (everything without it).
pub(crate) fn list_items(
    g: &Graph,
    collection: &CollectionId,
    since: Option<Checkpoint>,
) -> BoxStream<'static, Result<ItemChange>> {
    let full = g.client().user_url(&format!(
        "/contactFolders/{}/contacts/delta?$select=changeKey",
        segment(collection.as_str())
    ));
    let query = DeltaQuery {
        full,
        since: since.map(|c| c.as_str().to_owned()),
        what: format!("delta of contact folder {collection}"),
        page_size: DELTA_PAGE,
    };
    delta::<GraphContact>(Arc::clone(g.client()), query)
        .map(change)
        .boxed()
}

/// Each contact of `ids`, four at a time.
pub(crate) fn fetch_items(
    g: &Graph,
    collection: &CollectionId,
    ids: Vec<ItemId>,
) -> BoxStream<'static, PimResult<PimItem>> {
    let client = Arc::clone(g.client());
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

//! Writing: contacts created stamped with their `UID` and vCard, replaced whole, found by
//! `UID` \[G-EXT\], deleted.

use futures::{StreamExt, TryStreamExt};
use mailmigrate_core::pim::{
    CollectionId, Contact, FoundItem, ItemId, ItemWrite, Payload, WriteTarget, Written,
};
use mailmigrate_core::{Error, ErrorKind, Result};
use reqwest::{Method, StatusCode};

use super::map::{self, GraphContact};
use super::source::{item_of, read_options};
use crate::client::{segment, Call};
use crate::error::code_and_message;
use crate::extended;
use crate::mail::Graph;
use crate::pim::{fit, Fitted};

/// One write, fitted to Graph, with what names it in errors.
struct Job {
    contact: Result<Contact>,
    target: WriteTarget,
    /// The item's `UID`, or its source id without one.
    name: String,
    /// An earlier create of this batch has the `UID`.
    twin: bool,
}

fn refused(name: &str, message: impl Into<String>, kind: ErrorKind) -> Error {
    crate::pim::refused("contact", name, message, kind)
}

/// The error of a refused write, naming the contact; Exchange's multi-value limits
/// \[I-CONTACT\] (which a fitted contact never reaches) say so plainly.
fn write_error(answer: &crate::client::Answer, call: &Call, name: &str) -> Error {
    let (_, message) = code_and_message(&answer.body);
    let e = answer.error(call).with_context("contact", name);
    if answer.status == StatusCode::BAD_REQUEST && message.contains("exceeds the max allowed value")
    {
        return refused(
            name,
            format!(
                "Graph refused the contact: {message} (at most {} email addresses and {} business phones; fit the contact with sync::adapt and the declared limits)",
                map::MAX_EMAILS,
                map::MAX_BUSINESS_PHONES
            ),
            ErrorKind::InvalidMessage,
        )
        .with_source(e);
    }
    e
}

impl Graph {
    /// The contacts of `collection` stamped with `uid`, read in full.
    async fn holding(&self, collection: &CollectionId, uid: &str) -> Result<Vec<GraphContact>> {
        // [G-EXT]: items are found by an extended property's value with a lambda filter.
        let filter = extended::value_filter(&map::uid_property(), uid);
        let url = self.client().user_url(&format!(
            "/contactFolders/{}/contacts?$filter={}&{}&$top=100",
            segment(collection.as_str()),
            segment(&filter),
            read_options()
        ));
        self.client()
            .items(Call::get(url, format!("look up a contact in {collection}")))
            .try_collect()
            .await
    }

    async fn write_one(&self, collection: &CollectionId, job: Job) -> Result<Written> {
        let contact = job.contact?;
        let (method, path, what) = match &job.target {
            WriteTarget::Replace { id, .. } => (
                Method::PATCH,
                format!("/contacts/{}", segment(id.as_str())),
                format!("replace contact {}", job.name),
            ),
            _ => {
                // No If-None-Match on create: a create of a UID the folder holds is
                // refused here, so a lost answer or a lost state never makes a twin.
                let held = job.twin
                    || match &contact.uid {
                        Some(uid) => !self.holding(collection, uid).await?.is_empty(),
                        None => false,
                    };
                if held {
                    return Err(refused(
                        &job.name,
                        "the contact folder holds a contact with this UID already",
                        ErrorKind::AlreadyExists,
                    ));
                }
                (
                    Method::POST,
                    format!("/contactFolders/{}/contacts", segment(collection.as_str())),
                    format!("create contact {}", job.name),
                )
            }
        };
        let call = Call::json(
            method,
            self.client().user_url(&path),
            &map::to_body(&contact),
            what,
        );
        let answer = self
            .client()
            .send(&call)
            .await
            .map_err(|e| e.with_context("contact", &job.name))?;
        if !answer.status.is_success() {
            return Err(write_error(&answer, &call, &job.name));
        }
        let written: GraphContact = answer.json(&call.what)?;
        Ok(Written::new(ItemId::new(written.id), written.change_key))
    }
}

/// The contacts of fitted writes.
fn jobs(writes: Vec<ItemWrite>) -> Vec<Job> {
    fit(writes)
        .into_iter()
        .map(
            |Fitted {
                 item,
                 target,
                 name,
                 twin,
             }| {
                let contact = match item.payload {
                    Payload::Contact(c) => Ok(*c),
                    _ => Err(refused(
                        &name,
                        "a Graph contact folder holds contacts; events go to a calendar",
                        ErrorKind::InvalidMessage,
                    )),
                };
                Job {
                    contact,
                    target,
                    name,
                    twin,
                }
            },
        )
        .collect()
}

/// Writes a batch into contact folder `collection`, one answer per write in order.
pub(crate) async fn write_items(
    g: &Graph,
    collection: &CollectionId,
    writes: Vec<ItemWrite>,
) -> Vec<Result<Written>> {
    futures::stream::iter(jobs(writes))
        .map(|job| g.write_one(collection, job))
        .buffered(4)
        .collect()
        .await
}

/// The contacts of `collection` holding each of `uids`.
pub(crate) async fn find_by_uid(
    g: &Graph,
    collection: &CollectionId,
    uids: &[String],
) -> Result<Vec<Vec<FoundItem>>> {
    futures::stream::iter(uids.to_vec())
        .map(|uid| async move {
            let found = g.holding(collection, &uid).await?;
            Ok(found
                .iter()
                .map(|c| {
                    let item = item_of(c);
                    FoundItem::new(
                        ItemId::new(&c.id),
                        c.change_key.clone(),
                        Some(item.content_hash()),
                    )
                })
                .collect())
        })
        .buffered(4)
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn the_multi_value_refusal_names_the_contact_and_the_limits() {
        let answer = crate::client::Answer {
            status: StatusCode::BAD_REQUEST,
            headers: reqwest::header::HeaderMap::new(),
            body: Bytes::from_static(
                br#"{"error":{"code":"BadRequest","message":"The multi value property EmailAddresses has 4 entries, that exceeds the max allowed value of 3"}}"#,
            ),
        };
        let call = Call::get("http://x/contacts".into(), "create contact ann-1");
        let e = write_error(&answer, &call, "ann-1");
        assert_eq!(e.kind(), ErrorKind::InvalidMessage);
        assert_eq!(e.context("contact"), Some("ann-1"));
        assert!(e.to_string().contains("at most 3 email addresses"), "{e}");
        assert!(!e.is_temporary());
    }
}

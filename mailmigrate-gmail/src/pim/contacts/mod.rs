//! Contacts through the People API \[GP-DISC\]: contact groups as collections, the
//! connections listing with sync tokens \[GP-CONN\], `batchCreateContacts` (≤ 200)
//! \[GP-BCC\], `updateContact` with the etag \[GP-UPD\], `deleteContact`. People has no `UID`:
//! it travels in `clientData`, and `find_by_uid` reads the listing (`searchContacts`
//! matches names, emails, phones and organisations, not `clientData`, and needs a
//! warm-up request before it sees new contacts \[GP-SEARCH\]).
//!
//! Mutations go one call at a time, as the reference asks for one user \[GP-BCC\].

mod map;

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};
use mailmigrate_core::pim::{
    sync::adapt, Collection, CollectionId, FoundItem, ItemChange, ItemId, ItemMeta, ItemWrite,
    Payload, PimCapabilities, PimItem, PimKind, PimResult, WriteTarget, Written,
};
use mailmigrate_core::{Checkpoint, Disposition, Error, ErrorKind, Result};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::Shared;
use crate::client::{segment, Answer, Call};
use crate::error::reason_and_message;
use crate::quota::Cost;
use crate::PROVIDER;

/// The most contacts one `batchCreateContacts` takes \[GP-BCC\].
pub(crate) const BATCH: usize = 200;
/// The group every contact is in.
const MY_CONTACTS: &str = "contactGroups/myContacts";
/// Its display name.
const MY_CONTACTS_NAME: &str = "My Contacts";
/// The checkpoint prefix of a connections sync token.
const CHECKPOINT: &str = "gppl1:";

fn refused(name: &str, message: impl Into<String>, kind: ErrorKind) -> Error {
    Error::new(kind, message)
        .with_provider(PROVIDER)
        .with_context("contact", name)
}

fn unreadable(what: &str, e: &serde_json::Error) -> Error {
    Error::new(
        ErrorKind::Unexpected,
        format!("{what}: unreadable answer ({e})"),
    )
    .with_provider(PROVIDER)
}

/// The same error for another item of a failed call (`Error` is not `Clone`).
fn copy(e: &Error) -> Error {
    let out = Error::new(e.kind(), e.message()).with_provider(PROVIDER);
    match e.disposition() {
        Disposition::Settle => out.outcome_unknown(),
        _ if e.is_temporary() => match e.retry_after() {
            Some(d) => out.temporary_after(d),
            None => out.temporary(),
        },
        _ => out,
    }
}

fn call_json(method: Method, url: String, body: &Value, what: impl Into<String>) -> Call {
    Call {
        method,
        ..Call::post_json(url, body, Cost::Small, what)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(a: &Answer, call: &Call) -> Result<T> {
    if !a.status.is_success() {
        return Err(a.error(call));
    }
    serde_json::from_slice(&a.body).map_err(|e| unreadable(&call.what, &e))
}

/// A Person as answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
struct Person(Map<String, Value>);

impl Person {
    fn resource(&self) -> &str {
        self.0
            .get("resourceName")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    fn etag(&self) -> Option<String> {
        self.0
            .get("etag")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
    fn deleted(&self) -> bool {
        self.0
            .get("metadata")
            .and_then(|m| m.get("deleted"))
            .and_then(Value::as_bool)
            == Some(true)
    }
    fn in_group(&self, group: &str) -> bool {
        group == MY_CONTACTS
            || self
                .0
                .get("memberships")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|m| {
                    m.pointer("/contactGroupMembership/contactGroupResourceName")
                        .and_then(Value::as_str)
                        == Some(group)
                })
    }
    fn uid(&self) -> Option<&str> {
        map::client_data(&self.0, map::UID_KEY)
    }
}

fn item_of(p: &Person) -> PimItem {
    let contact = map::contact_of(&p.0);
    let meta = ItemMeta::new(ItemId::new(p.resource()))
        .with_uid(contact.uid.clone())
        .with_version(p.etag());
    PimItem::new(meta, Payload::Contact(Box::new(contact)))
}

// ---- collections -------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    resource_name: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    group_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Groups {
    #[serde(default)]
    contact_groups: Vec<Group>,
    next_page_token: Option<String>,
}

/// `My Contacts` and every user contact group \[GP-DISC\] `contactGroups.list`.
pub(crate) async fn list_groups(shared: &Shared) -> Result<Vec<Collection>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = shared.people_url("/contactGroups?pageSize=1000&groupFields=name,groupType");
        if let Some(t) = &token {
            url.push_str(&format!("&pageToken={}", segment(t)));
        }
        let page: Groups = shared
            .client
            .json(&Call::get(url, Cost::Small, "list contact groups"))
            .await?;
        for g in page.contact_groups {
            let name = if g.resource_name == MY_CONTACTS {
                MY_CONTACTS_NAME.to_owned()
            } else if g.group_type == "USER_CONTACT_GROUP" {
                g.name
            } else {
                continue;
            };
            out.push(Collection::new(
                CollectionId::new(g.resource_name),
                PimKind::Contacts,
                name,
            ));
        }
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => return Ok(out),
        }
    }
}

/// The group named `like.name` (`My Contacts` for the address book itself), created when
/// there is none.
pub(crate) async fn ensure(shared: &Shared, like: &Collection) -> Result<Collection> {
    let find = || async {
        Ok::<_, Error>(
            list_groups(shared)
                .await?
                .into_iter()
                .find(|c| c.name == like.name),
        )
    };
    if let Some(c) = find().await? {
        return Ok(c);
    }
    let call = Call::post_json(
        shared.people_url("/contactGroups"),
        &json!({"contactGroup": {"name": like.name}, "readGroupFields": "name,groupType"}),
        Cost::Small,
        format!("create contact group {}", like.name),
    );
    match shared.client.send(&call).await {
        Ok(a) if a.status.is_success() => {
            let g: Group = read_json(&a, &call)?;
            Ok(Collection::new(
                CollectionId::new(g.resource_name),
                PimKind::Contacts,
                &like.name,
            ))
        }
        // Made meanwhile, or by a create whose answer was lost.
        Ok(a) if a.status == StatusCode::CONFLICT => find().await?.ok_or_else(|| a.error(&call)),
        Ok(a) => Err(a.error(&call)),
        Err(e) if e.disposition() == Disposition::Settle => find().await?.ok_or(e),
        Err(e) => Err(e),
    }
}

// ---- reading -----------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connections {
    #[serde(default)]
    connections: Vec<Person>,
    next_page_token: Option<String>,
    next_sync_token: Option<String>,
}

/// Whether an answer is People's refusal of an expired sync token \[GP-CONN\].
fn expired(a: &Answer) -> bool {
    let (_, message) = reason_and_message(&a.body);
    a.status == StatusCode::GONE
        || (a.status == StatusCode::BAD_REQUEST
            && (message.contains("EXPIRED_SYNC_TOKEN")
                || message
                    .to_ascii_lowercase()
                    .contains("sync token is expired")
                || String::from_utf8_lossy(&a.body).contains("EXPIRED_SYNC_TOKEN")))
}

/// Every page of the connections listing; `Ok(None)` when the sync token expired.
async fn connections(
    shared: &Shared,
    fields: &str,
    sync: Option<&str>,
) -> Result<Option<(Vec<Person>, Option<String>)>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = shared.people_url(&format!(
            "/people/me/connections?personFields={fields}&pageSize=1000&requestSyncToken=true"
        ));
        if let Some(s) = sync {
            url.push_str(&format!("&syncToken={}", segment(s)));
        }
        if let Some(t) = &token {
            url.push_str(&format!("&pageToken={}", segment(t)));
        }
        let call = Call::get(url, Cost::Small, "list contacts");
        let a = shared.client.send(&call).await?;
        if sync.is_some() && expired(&a) {
            return Ok(None);
        }
        let page: Connections = read_json(&a, &call)?;
        out.extend(page.connections);
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => return Ok(Some((out, page.next_sync_token))),
        }
    }
}

/// The members of `group`, or what changed for it since the checkpoint.
pub(crate) fn list_items(
    shared: Arc<Shared>,
    group: CollectionId,
    since: Option<Checkpoint>,
) -> BoxStream<'static, Result<ItemChange>> {
    let token = since.and_then(|c| c.as_str().strip_prefix(CHECKPOINT).map(str::to_owned));
    stream::once(async move { listing(&shared, &group, token).await })
        .map(|r| match r {
            Ok(v) => stream::iter(v.into_iter().map(Ok)).boxed(),
            Err(e) => stream::once(async { Err(e) }).boxed(),
        })
        .flatten()
        .boxed()
}

fn checkpoint(token: Option<String>) -> ItemChange {
    ItemChange::Checkpoint(Checkpoint::new(format!(
        "{CHECKPOINT}{}",
        token.unwrap_or_default()
    )))
}

async fn listing(
    shared: &Shared,
    group: &CollectionId,
    token: Option<String>,
) -> Result<Vec<ItemChange>> {
    let g = group.as_str();
    let fields = "memberships,metadata";
    let mut out = Vec::new();
    if let Some(t) = token {
        if let Some((changed, next)) = connections(shared, fields, Some(&t)).await? {
            for p in changed {
                if p.deleted() || !p.in_group(g) {
                    // Deleted, or no longer in this group.
                    out.push(ItemChange::Removed(ItemId::new(p.resource())));
                } else {
                    out.push(ItemChange::Upsert(
                        ItemMeta::new(ItemId::new(p.resource())).with_version(p.etag()),
                    ));
                }
            }
            out.push(checkpoint(next));
            return Ok(out);
        }
        out.push(ItemChange::Reset);
    }
    let (all, next) = connections(shared, fields, None).await?.unwrap_or_default();
    for p in all.iter().filter(|p| !p.deleted() && p.in_group(g)) {
        out.push(ItemChange::Upsert(
            ItemMeta::new(ItemId::new(p.resource())).with_version(p.etag()),
        ));
    }
    out.push(checkpoint(next));
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Got {
    #[serde(default)]
    responses: Vec<GotOne>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GotOne {
    requested_resource_name: Option<String>,
    person: Option<Person>,
}

/// The contacts `ids`, 200 per `people:batchGet`.
pub(crate) fn fetch_items(
    shared: Arc<Shared>,
    group: CollectionId,
    ids: Vec<ItemId>,
) -> BoxStream<'static, PimResult<PimItem>> {
    let chunks: Vec<Vec<ItemId>> = ids.chunks(BATCH).map(<[ItemId]>::to_vec).collect();
    stream::iter(chunks)
        .then(move |chunk| {
            let (shared, group) = (Arc::clone(&shared), group.clone());
            async move {
                let names: String = chunk
                    .iter()
                    .map(|id| format!("&resourceNames={}", segment(id.as_str())))
                    .collect();
                let url = shared.people_url(&format!(
                    "/people:batchGet?personFields={}{names}",
                    map::READ
                ));
                let got: Result<Got> = shared
                    .client
                    .json(&Call::get(url, Cost::Small, "read contacts"))
                    .await;
                let named = |e: Error, id: &ItemId| {
                    e.with_context("collection", group.as_str())
                        .with_context("item", id.as_str())
                };
                let answers: Vec<PimResult<PimItem>> = match got {
                    Err(e) => chunk
                        .into_iter()
                        .map(|id| {
                            let e = named(copy(&e), &id);
                            (id, Err(e))
                        })
                        .collect(),
                    Ok(got) => {
                        let mut by: HashMap<String, Person> = got
                            .responses
                            .into_iter()
                            .filter_map(|r| Some((r.requested_resource_name?, r.person?)))
                            .collect();
                        chunk
                            .into_iter()
                            .map(|id| {
                                let r = match by.remove(id.as_str()) {
                                    Some(p) if !p.deleted() => Ok(item_of(&p)),
                                    _ => Err(named(
                                        Error::new(ErrorKind::NotFound, "no such contact")
                                            .with_provider(PROVIDER),
                                        &id,
                                    )),
                                };
                                (id, r)
                            })
                            .collect()
                    }
                };
                stream::iter(answers)
            }
        })
        .flatten()
        .boxed()
}

/// Every live contact, with every field: the `UID` index.
async fn everyone(shared: &Shared) -> Result<Vec<Person>> {
    Ok(connections(shared, map::READ, None)
        .await?
        .map(|(p, _)| p)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !p.deleted())
        .collect())
}

/// The members of `group` holding each of `uids`, read from the listing.
pub(crate) async fn find_by_uid(
    shared: &Shared,
    group: &CollectionId,
    uids: &[String],
) -> Result<Vec<Vec<FoundItem>>> {
    let all = everyone(shared).await?;
    Ok(uids
        .iter()
        .map(|uid| {
            all.iter()
                .filter(|p| p.uid() == Some(uid.as_str()) && p.in_group(group.as_str()))
                .map(|p| {
                    let item = item_of(p);
                    FoundItem::new(
                        ItemId::new(p.resource()),
                        p.etag(),
                        Some(item.content_hash()),
                    )
                })
                .collect()
        })
        .collect())
}

// ---- writing -----------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    #[serde(default)]
    created_people: Vec<CreatedOne>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedOne {
    http_status_code: Option<u16>,
    person: Option<Person>,
}

fn memberships(group: &str) -> Value {
    let one = |g: &str| json!({"contactGroupMembership": {"contactGroupResourceName": g}});
    if group == MY_CONTACTS {
        json!([one(MY_CONTACTS)])
    } else {
        json!([one(MY_CONTACTS), one(group)])
    }
}

/// Adds `resource` to `group`.
async fn add_member(shared: &Shared, group: &str, resource: &str) -> Result<()> {
    let call = Call::post_json(
        shared.people_url(&format!("/{group}/members:modify")),
        &json!({"resourceNamesToAdd": [resource]}),
        Cost::Small,
        format!("add {resource} to {group}"),
    )
    .idempotent();
    let _: Value = shared.client.json(&call).await?;
    Ok(())
}

/// Creates `people` in one `batchCreateContacts`; one answer each.
async fn create_batch(
    shared: &Shared,
    people: Vec<Value>,
    names: &[String],
) -> Vec<Result<Written>> {
    let n = people.len();
    let body = json!({
        "contacts": people.into_iter().map(|p| json!({"contactPerson": p})).collect::<Vec<_>>(),
        "readMask": "metadata",
    });
    let call = Call::post_json(
        shared.people_url("/people:batchCreateContacts"),
        &body,
        Cost::Small,
        format!("create {n} contacts"),
    );
    let answer = match shared.client.send(&call).await {
        Ok(a) => read_json::<Created>(&a, &call),
        Err(e) => Err(e),
    };
    match answer {
        Err(e) => names
            .iter()
            .map(|name| Err(copy(&e).with_context("contact", name)))
            .collect(),
        Ok(c) => {
            let mut got = c.created_people.into_iter();
            names
                .iter()
                .map(|name| match got.next() {
                    Some(CreatedOne {
                        person: Some(p),
                        http_status_code: None | Some(200),
                    }) => Ok(Written::new(ItemId::new(p.resource()), p.etag())),
                    _ => Err(refused(
                        name,
                        "Google did not create the contact",
                        ErrorKind::Unexpected,
                    )),
                })
                .collect()
        }
    }
}

async fn replace(
    shared: &Shared,
    id: &ItemId,
    version: Option<&str>,
    person: Map<String, Value>,
    name: &str,
) -> Result<Written> {
    let etag = match version {
        Some(v) => v.to_owned(),
        None => {
            let url = shared.people_url(&format!("/{}?personFields=metadata", id.as_str()));
            let p: Person = shared
                .client
                .json(&Call::get(url, Cost::Small, format!("GET contact {id}")))
                .await?;
            p.etag().unwrap_or_default()
        }
    };
    let mut body = person;
    body.insert("etag".into(), json!(etag));
    let url = shared.people_url(&format!(
        "/{}:updateContact?updatePersonFields={}&personFields=metadata",
        id.as_str(),
        map::WRITTEN
    ));
    let call = call_json(
        Method::PATCH,
        url,
        &Value::Object(body),
        format!("update contact {name}"),
    );
    let a = shared.client.send(&call).await?;
    let (reason, _) = reason_and_message(&a.body);
    // [GP-UPD] a stale etag: 400 failedPrecondition (412 in older copies).
    if a.status == StatusCode::PRECONDITION_FAILED
        || (a.status == StatusCode::BAD_REQUEST && reason == "failedPrecondition")
    {
        return Err(refused(
            name,
            "the contact changed since the version given",
            ErrorKind::Conflict,
        ));
    }
    let p: Person = read_json(&a, &call).map_err(|e| e.with_context("contact", name))?;
    Ok(Written::new(ItemId::new(p.resource()), p.etag()))
}

/// Writes a batch into `group`, one answer per write in order; creates go 200 a call.
pub(crate) async fn write_items(
    shared: &Shared,
    caps: &PimCapabilities,
    group: &CollectionId,
    writes: Vec<ItemWrite>,
) -> Result<Vec<Result<Written>>> {
    let g = group.as_str();
    let n = writes.len();
    let mut answers: Vec<Option<Result<Written>>> = (0..n).map(|_| None).collect();
    let needs_index = writes
        .iter()
        .any(|w| matches!(w.target, WriteTarget::Create));
    let index = if needs_index {
        everyone(shared).await?
    } else {
        Vec::new()
    };
    let mut creating: Vec<(usize, Value, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, w) in writes.into_iter().enumerate() {
        let mut item = w.item;
        let name = item
            .uid()
            .map_or_else(|| item.meta.id.to_string(), str::to_owned);
        adapt(&mut item, caps);
        let Payload::Contact(contact) = &item.payload else {
            answers[i] = Some(Err(refused(
                &name,
                "a contact group holds contacts; events go to a calendar",
                ErrorKind::InvalidMessage,
            )));
            continue;
        };
        let person = map::to_person(contact);
        match w.target {
            WriteTarget::Replace { id, version } => {
                answers[i] = Some(replace(shared, &id, version.as_deref(), person, &name).await);
            }
            _ => {
                let uid = contact.uid.clone();
                if let Some(u) = &uid {
                    if !seen.insert(u.clone()) {
                        answers[i] = Some(Err(refused(
                            &name,
                            "an earlier write of this batch has the UID",
                            ErrorKind::AlreadyExists,
                        )));
                        continue;
                    }
                    let held: Vec<&Person> = index
                        .iter()
                        .filter(|p| p.uid() == Some(u.as_str()))
                        .collect();
                    if held.iter().any(|p| p.in_group(g)) {
                        answers[i] = Some(Err(refused(
                            &name,
                            "the group holds a contact with this UID already",
                            ErrorKind::AlreadyExists,
                        )));
                        continue;
                    }
                    if let Some(p) = held.first() {
                        // The contact exists outside the group: it joins the group.
                        answers[i] = Some(
                            add_member(shared, g, p.resource())
                                .await
                                .map(|()| Written::new(ItemId::new(p.resource()), None)),
                        );
                        continue;
                    }
                }
                let mut person = person;
                person.insert("memberships".into(), memberships(g));
                creating.push((i, Value::Object(person), name));
            }
        }
    }
    for chunk in creating.chunks(BATCH) {
        let people: Vec<Value> = chunk.iter().map(|(_, p, _)| p.clone()).collect();
        let names: Vec<String> = chunk.iter().map(|(_, _, n)| n.clone()).collect();
        for ((i, _, _), r) in chunk.iter().zip(create_batch(shared, people, &names).await) {
            answers[*i] = Some(r);
        }
    }
    Ok(answers
        .into_iter()
        .map(|a| {
            a.unwrap_or_else(|| {
                Err(Error::new(ErrorKind::Unexpected, "no answer").with_provider(PROVIDER))
            })
        })
        .collect())
}

/// Deletes from `My Contacts` (the contact) or from a user group (the membership); one
/// gone already is what was asked.
pub(crate) async fn delete_items(
    shared: &Shared,
    group: &CollectionId,
    ids: &[ItemId],
) -> Vec<Result<()>> {
    let mut out = Vec::new();
    for id in ids {
        let call = if group.as_str() == MY_CONTACTS {
            Call {
                method: Method::DELETE,
                ..Call::get(
                    shared.people_url(&format!("/{}:deleteContact", id.as_str())),
                    Cost::Small,
                    format!("delete contact {id}"),
                )
            }
        } else {
            Call::post_json(
                shared.people_url(&format!("/{}/members:modify", group.as_str())),
                &json!({"resourceNamesToRemove": [id.as_str()]}),
                Cost::Small,
                format!("remove {id} from {group}"),
            )
            .idempotent()
        };
        let r = match shared.client.send(&call).await {
            Ok(a) if a.status.is_success() || a.status == StatusCode::NOT_FOUND => Ok(()),
            Ok(a) => Err(a.error(&call).with_context("item", id.as_str())),
            Err(e) => Err(e.with_context("item", id.as_str())),
        };
        out.push(r);
    }
    out
}

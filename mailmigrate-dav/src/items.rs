//! Items: multiget, conditional PUTs, `UID` look-ups and
//! deletes.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use mailmigrate_core::pim::{
    CollectionId, FoundItem, ItemChange, ItemId, ItemMeta, ItemWrite, Param, Payload, PimItem,
    PimKind, WriteOptions, WriteTarget, Written,
};
use mailmigrate_core::{Error, ErrorKind, Operation, Result};
use reqwest::header::{CONTENT_TYPE, IF_MATCH, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};

use crate::http::{status_error, Request, PROVIDER};
use crate::listing::Listing;
use crate::names::{encode_segment, last_segment, resource_name};
use crate::store::{header, Inner};
use crate::xml;

fn item_path(collection: &CollectionId, id: &ItemId) -> String {
    format!(
        "{}/{}",
        collection.as_str().trim_end_matches('/'),
        encode_segment(id.as_str())
    )
}

fn item_paths(collection: &CollectionId, ids: &[ItemId]) -> Vec<String> {
    ids.iter().map(|id| item_path(collection, id)).collect()
}

/// The responses of a multiget by the resource name each is for.
fn by_name(ms: xml::Multistatus) -> HashMap<String, xml::DavResponse> {
    ms.responses
        .into_iter()
        .map(|r| (last_segment(&r.href), r))
        .collect()
}

/// The item `id` of a multiget's response for it (`None`: the server answered nothing
/// for it): `NotFound` unless the response holds its data; the errors are bare.
fn read_item(kind: PimKind, id: ItemId, r: Option<xml::DavResponse>) -> Result<PimItem> {
    match r {
        Some(r) if r.status.is_none_or(|s| s < 300) && r.props.data.is_some() => {
            let meta = ItemMeta::new(id).with_version(r.props.etag);
            let mut item =
                PimItem::parse(kind, meta, Bytes::from(r.props.data.unwrap_or_default()))?;
            let uid = item.uid().map(str::to_owned);
            item.meta = item.meta.clone().with_uid(uid);
            Ok(item)
        }
        _ => Err(Error::new(
            ErrorKind::NotFound,
            "the server holds no such item",
        )),
    }
}

fn content_type(kind: PimKind) -> &'static str {
    match kind {
        PimKind::Contacts => "text/vcard; charset=utf-8",
        _ => "text/calendar; charset=utf-8",
    }
}

/// Adds `SCHEDULE-AGENT=CLIENT` (RFC 6638 §7.1) to the organizer and attendees of every
/// event of an object, so a scheduling server sends no one anything.
fn without_scheduling(item: &mut PimItem) {
    let needs = |params: &[Param]| !params.iter().any(|p| p.name == "SCHEDULE-AGENT");
    let Payload::Event(obj) = &item.payload else {
        return;
    };
    let any = obj.events().iter().any(|e| {
        e.organizer.as_ref().is_some_and(|o| needs(&o.params))
            || e.attendees.iter().any(|a| needs(&a.params))
    });
    if !any {
        return;
    }
    item.edit(|p| {
        if let Payload::Event(obj) = p {
            for e in obj.events_mut() {
                if let Some(o) = e.organizer.as_mut().filter(|o| needs(&o.params)) {
                    o.params.push(Param::new("SCHEDULE-AGENT", ["CLIENT"]));
                }
                for a in e.attendees.iter_mut().filter(|a| needs(&a.params)) {
                    a.params.push(Param::new("SCHEDULE-AGENT", ["CLIENT"]));
                }
            }
        }
    });
}

/// A `UID` query's answer.
enum QueryAnswer {
    Found(Vec<FoundItem>),
    /// The server could not answer the query (status given).
    Refused(StatusCode),
}

impl Inner {
    /// One multiget report: an answer per id.
    pub(crate) async fn fetch_chunk(
        &self,
        collection: &CollectionId,
        ids: Vec<ItemId>,
    ) -> Vec<(ItemId, Result<PimItem>)> {
        let fetched = match self.kind_of(collection).await {
            Ok(kind) => self
                .multistatus(
                    "REPORT",
                    collection.as_str(),
                    "1",
                    xml::multiget(kind, &item_paths(collection, &ids)),
                )
                .await
                .map(|ms| (kind, by_name(ms)))
                .map_err(|e| e.with_operation(Operation::Fetch)),
            Err(e) => Err(e),
        };
        let (kind, mut by_id) = match fetched {
            Ok(f) => f,
            Err(e) => {
                return ids
                    .into_iter()
                    .map(|id| {
                        let e = e.copy_for_item(collection, &id);
                        (id, Err(e))
                    })
                    .collect()
            }
        };
        ids.into_iter()
            .map(|id| {
                let item = read_item(kind, id.clone(), by_id.remove(id.as_str())).map_err(|e| {
                    e.with_provider(PROVIDER)
                        .with_operation(Operation::Fetch)
                        .with_item(collection, &id)
                });
                (id, item)
            })
            .collect()
    }

    /// One `PUT`.
    pub(crate) async fn put(
        &self,
        collection: &CollectionId,
        kind: PimKind,
        write: ItemWrite,
        options: WriteOptions,
    ) -> Result<Written> {
        let ItemWrite {
            mut item, target, ..
        } = write;
        if item.kind() != kind {
            return Err(Error::new(
                ErrorKind::InvalidMessage,
                format!("a {} item cannot go in a collection of {kind}", item.kind()),
            )
            .with_provider(PROVIDER));
        }
        if self.schedules && !options.notify_attendees {
            without_scheduling(&mut item);
        }
        let (id, condition, create) = match &target {
            WriteTarget::Create => {
                let Some(uid) = item.uid() else {
                    return Err(Error::new(ErrorKind::InvalidMessage, "the item has no UID")
                        .with_provider(PROVIDER));
                };
                let id = ItemId::new(resource_name(uid, kind));
                (id, Some(header(IF_NONE_MATCH, "*")?), true)
            }
            WriteTarget::Replace { id, version } => {
                let cond = match version.as_deref().filter(|v| !v.starts_with("W/")) {
                    Some(v) => Some(header(IF_MATCH, v)?),
                    None => None,
                };
                (id.clone(), cond, false)
            }
            _ => return Err(Error::unsupported("this write target").with_provider(PROVIDER)),
        };
        let path = item_path(collection, &id);
        let what = format!("PUT {path}");
        let mut headers = vec![header(CONTENT_TYPE, content_type(kind))?];
        headers.extend(condition);
        let answer = self
            .http
            .send(&Request {
                method: Method::PUT,
                url: self.url(&path)?,
                headers,
                body: Some(item.text()),
                what: &what,
            })
            .await
            .map_err(|e| e.with_item(collection, &id))?;
        if answer.status.is_success() {
            return Ok(Written::new(id, answer.etag()));
        }
        let err = if answer.status == StatusCode::PRECONDITION_FAILED {
            if create {
                Error::new(
                    ErrorKind::AlreadyExists,
                    format!("{what}: the collection holds this UID"),
                )
            } else {
                Error::new(
                    ErrorKind::Conflict,
                    format!("{what}: the item changed at the server"),
                )
            }
            .with_provider(PROVIDER)
        } else {
            status_error(&answer, &what)
        };
        Err(err.with_item(collection, &id))
    }

    /// The items holding each `UID`.
    ///
    /// Resources are named after their `UID` ([`resource_name`]), so each is first read
    /// where this crate puts it: one multiget report per batch of `UID`s. Only the `UID`s
    /// not found there (never written, or renamed by the server) are looked up by a query
    /// report each, or by one scan of the collection where the server fails queries. A
    /// `UID` found at its own name is answered with that copy alone: a CalDAV or CardDAV
    /// server holds a `UID` once per collection (`no-uid-conflict`), so there is no other.
    pub(crate) async fn find_by_uid(
        &self,
        collection: &CollectionId,
        kind: PimKind,
        uids: &[String],
    ) -> Result<Vec<Vec<FoundItem>>> {
        let mut seen = HashSet::new();
        let unique: Vec<&str> = uids
            .iter()
            .map(String::as_str)
            .filter(|u| seen.insert(*u))
            .collect();
        let named = self.find_by_name(collection, kind, &unique).await?;
        let missing: Vec<String> = unique
            .into_iter()
            .filter(|u| !named.contains_key(*u))
            .map(str::to_owned)
            .collect();
        let queried = if missing.is_empty() {
            Vec::new()
        } else {
            self.find_by_query(collection, kind, &missing).await?
        };
        let others: HashMap<&str, Vec<FoundItem>> =
            missing.iter().map(String::as_str).zip(queried).collect();
        Ok(uids
            .iter()
            .map(|u| match named.get(u.as_str()) {
                Some(f) => vec![f.clone()],
                None => others.get(u.as_str()).cloned().unwrap_or_default(),
            })
            .collect())
    }

    /// The items found at the resource named after each of `uids` and holding it, by
    /// multiget reports of at most the batch size.
    async fn find_by_name(
        &self,
        collection: &CollectionId,
        kind: PimKind,
        uids: &[&str],
    ) -> Result<HashMap<String, FoundItem>> {
        let chunks: Vec<Vec<String>> = uids
            .chunks(self.limits.batch)
            .map(|c| c.iter().map(|u| (*u).to_owned()).collect())
            .collect();
        let found: Vec<Vec<(String, FoundItem)>> = stream::iter(chunks)
            .map(|chunk| async move { self.multiget_named(collection, kind, chunk).await })
            .buffered(self.limits.concurrency)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// One multiget report of the resources named after `uids`: those that hold their
    /// `UID`. A server that refuses the report finds none (the query looks for them).
    async fn multiget_named(
        &self,
        collection: &CollectionId,
        kind: PimKind,
        uids: Vec<String>,
    ) -> Result<Vec<(String, FoundItem)>> {
        let ids: Vec<ItemId> = uids
            .iter()
            .map(|u| ItemId::new(resource_name(u, kind)))
            .collect();
        let body = xml::multiget(kind, &item_paths(collection, &ids));
        let ms = match self.report(collection, body, "multiget").await? {
            Ok(ms) => ms,
            Err(status) => {
                tracing::warn!(%status, %collection, "the server fails a multiget; querying UIDs instead");
                return Ok(Vec::new());
            }
        };
        let mut by_id = by_name(ms);
        Ok(uids
            .into_iter()
            .zip(ids)
            .filter_map(|(uid, id)| {
                let item = read_item(kind, id.clone(), by_id.remove(id.as_str())).ok()?;
                let hash = item.content_hash();
                (item.uid() == Some(uid.as_str()))
                    .then(|| (uid, FoundItem::new(id, item.meta.version, Some(hash))))
            })
            .collect())
    }

    /// The items holding each of `uids`, by a query report per `UID`, or by a scan where
    /// the server fails the query.
    async fn find_by_query(
        &self,
        collection: &CollectionId,
        kind: PimKind,
        uids: &[String],
    ) -> Result<Vec<Vec<FoundItem>>> {
        if !self.query_fails(kind) {
            let answers: Vec<Result<QueryAnswer>> = stream::iter(uids.iter().cloned())
                .map(|uid| async move { self.query_uid(collection, kind, &uid).await })
                .buffered(self.limits.concurrency)
                .collect()
                .await;
            let mut found = Vec::with_capacity(uids.len());
            let mut refused = None;
            for a in answers {
                match a? {
                    QueryAnswer::Found(f) => found.push(f),
                    QueryAnswer::Refused(status) => refused = Some(status),
                }
            }
            let Some(status) = refused else {
                return Ok(found);
            };
            tracing::warn!(%status, %collection, "the server fails UID queries; scanning instead");
            self.mark_query_fails(kind);
        }
        self.scan_for_uids(collection, uids).await
    }

    /// A `REPORT` on `collection` answered by a multistatus, or the status of a refusal
    /// of the report itself (unsupported or failing). Credentials, a missing collection
    /// and throttling are errors.
    async fn report(
        &self,
        collection: &CollectionId,
        body: String,
        what: &str,
    ) -> Result<std::result::Result<xml::Multistatus, StatusCode>> {
        let answer = self
            .xml_request("REPORT", collection.as_str(), "1", body)
            .await?;
        if answer.status == StatusCode::MULTI_STATUS {
            return xml::parse_multistatus(&answer.text(), what).map(Ok);
        }
        match answer.status.as_u16() {
            401 | 404 | 429 | 503 => Err(status_error(
                &answer,
                &format!("REPORT {what} {collection}"),
            )),
            _ => Ok(Err(answer.status)),
        }
    }

    async fn query_uid(
        &self,
        collection: &CollectionId,
        kind: PimKind,
        uid: &str,
    ) -> Result<QueryAnswer> {
        let ms = match self
            .report(collection, xml::uid_query(kind, uid), "UID query")
            .await?
        {
            Ok(ms) => ms,
            Err(status) => return Ok(QueryAnswer::Refused(status)),
        };
        let mut out = Vec::new();
        for r in ms.responses {
            let Some(data) = r.props.data else { continue };
            let id = ItemId::new(last_segment(&r.href));
            let meta = ItemMeta::new(id.clone()).with_version(r.props.etag.clone());
            // A query may match loosely (case, substring): only the exact UID counts.
            match PimItem::parse(kind, meta, Bytes::from(data)) {
                Ok(item) if item.uid() == Some(uid) => {
                    out.push(FoundItem::new(id, r.props.etag, Some(item.content_hash())));
                }
                Ok(_) | Err(_) => {}
            }
        }
        Ok(QueryAnswer::Found(out))
    }

    /// Reads the whole collection, batch by batch, to find `uids`: the member listing is
    /// spooled and read from there a batch of ids at a time.
    async fn scan_for_uids(
        &self,
        collection: &CollectionId,
        uids: &[String],
    ) -> Result<Vec<Vec<FoundItem>>> {
        let mut wanted: HashMap<&str, Vec<FoundItem>> =
            uids.iter().map(|u| (u.as_str(), Vec::new())).collect();
        let members = Listing::members(self, collection.clone()).into_stream();
        let ids = members.try_filter_map(|change| async move {
            Ok(match change {
                ItemChange::Upsert(meta) => Some(meta.id),
                _ => None,
            })
        });
        let mut chunks = std::pin::pin!(ids.try_chunks(self.limits.batch));
        while let Some(chunk) = chunks.try_next().await.map_err(|e| e.1)? {
            for (id, item) in self.fetch_chunk(collection, chunk).await {
                let Ok(item) = item else { continue };
                if let Some(list) = item.uid().and_then(|u| wanted.get_mut(u)) {
                    list.push(FoundItem::new(
                        id,
                        item.meta.version.clone(),
                        Some(item.content_hash()),
                    ));
                }
            }
        }
        Ok(uids
            .iter()
            .map(|u| wanted.get(u.as_str()).cloned().unwrap_or_default())
            .collect())
    }

    /// One `DELETE`; an item already gone is deleted.
    pub(crate) async fn delete(&self, collection: &CollectionId, id: &ItemId) -> Result<()> {
        let path = item_path(collection, id);
        let what = format!("DELETE {path}");
        let answer = self
            .http
            .send(&Request {
                method: Method::DELETE,
                url: self.url(&path)?,
                headers: Vec::new(),
                body: None,
                what: &what,
            })
            .await?;
        if answer.status.is_success() || answer.status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(status_error(&answer, &what).with_item(collection, id))
        }
    }
}

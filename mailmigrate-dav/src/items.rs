//! Items: multiget, conditional PUTs, `UID` look-ups and
//! deletes.

use std::collections::HashMap;

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
        let kind = match self.kind_of(collection).await {
            Ok(k) => k,
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
        let hrefs: Vec<String> = ids.iter().map(|id| item_path(collection, id)).collect();
        let ms = match self
            .multistatus(
                "REPORT",
                collection.as_str(),
                "1",
                xml::multiget(kind, &hrefs),
            )
            .await
        {
            Ok(ms) => ms,
            Err(e) => {
                let e = e.with_operation(Operation::Fetch);
                return ids
                    .into_iter()
                    .map(|id| {
                        let e = e.copy_for_item(collection, &id);
                        (id, Err(e))
                    })
                    .collect();
            }
        };
        let mut by_id: HashMap<String, xml::DavResponse> = ms
            .responses
            .into_iter()
            .map(|r| (last_segment(&r.href), r))
            .collect();
        ids.into_iter()
            .map(|id| {
                let r = by_id.remove(id.as_str());
                let item = match r {
                    Some(r) if r.status.is_none_or(|s| s < 300) && r.props.data.is_some() => {
                        let meta = ItemMeta::new(id.clone()).with_version(r.props.etag);
                        let text = Bytes::from(r.props.data.unwrap_or_default());
                        PimItem::parse(kind, meta, text)
                            .map(|item| {
                                let uid = item.uid().map(str::to_owned);
                                let mut item = item;
                                item.meta = item.meta.clone().with_uid(uid);
                                item
                            })
                            .map_err(|e| {
                                e.with_provider(PROVIDER)
                                    .with_operation(Operation::Fetch)
                                    .with_item(collection, &id)
                            })
                    }
                    _ => Err(
                        Error::new(ErrorKind::NotFound, "the server holds no such item")
                            .with_provider(PROVIDER)
                            .with_operation(Operation::Fetch)
                            .with_item(collection, &id),
                    ),
                };
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
    pub(crate) async fn find_by_uid(
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

    async fn query_uid(
        &self,
        collection: &CollectionId,
        kind: PimKind,
        uid: &str,
    ) -> Result<QueryAnswer> {
        let answer = self
            .xml_request(
                "REPORT",
                collection.as_str(),
                "1",
                xml::uid_query(kind, uid),
            )
            .await?;
        if answer.status != StatusCode::MULTI_STATUS {
            // Credentials, a missing collection and throttling are errors; any other
            // refusal (an unsupported or failing query) falls back to a scan.
            return match answer.status.as_u16() {
                401 | 404 | 429 | 503 => Err(status_error(
                    &answer,
                    &format!("REPORT UID query {collection}"),
                )),
                _ => Ok(QueryAnswer::Refused(answer.status)),
            };
        }
        let ms = xml::parse_multistatus(&answer.text(), "UID query")?;
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
    /// read as it arrives, a batch of ids at a time.
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

//! Items: listing by sync token or ETags, multiget, conditional PUTs, `UID` look-ups and
//! deletes.

use std::collections::HashMap;

use bytes::Bytes;
use futures::{stream, StreamExt};
use mailmigrate_core::pim::{
    CollectionId, FoundItem, ItemChange, ItemId, ItemMeta, ItemWrite, Param, Payload, PimItem,
    PimKind, WriteOptions, WriteTarget, Written,
};
use mailmigrate_core::{Checkpoint, Error, ErrorKind, Operation, Result};
use reqwest::header::{CONTENT_TYPE, IF_MATCH, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};

use crate::http::{status_error, Request, PROVIDER};
use crate::names::{encode_segment, last_segment, resource_name, same_path};
use crate::store::{header, Inner};
use crate::xml;

/// The checkpoint of a collection listed by ETags (a server without sync tokens): every
/// pass is a full listing.
const ETAG_LISTING: &str = "mailmigrate:etag-listing";

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

/// Whether an answer refuses a sync token (RFC 6578 §3.2: `DAV:valid-sync-token`; some
/// servers answer a bare 4xx).
fn token_refused(status: StatusCode, body: &str) -> bool {
    xml::preconditions(body)
        .iter()
        .any(|(_, n)| n == "valid-sync-token")
        || matches!(status.as_u16(), 400 | 403 | 409 | 412)
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
    /// What changed in `collection` since `since`, ending with the checkpoint.
    pub(crate) async fn listing(
        &self,
        collection: &CollectionId,
        since: Option<Checkpoint>,
    ) -> Result<Vec<ItemChange>> {
        let path = collection.as_str();
        let mut token = since
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        let mut out = Vec::new();
        if token == ETAG_LISTING {
            out.push(ItemChange::Reset);
            return self.etag_listing(collection, out).await;
        }
        loop {
            let answer = self
                .xml_request("REPORT", path, "0", xml::sync_collection(&token))
                .await?;
            if answer.status != StatusCode::MULTI_STATUS {
                let body = answer.text();
                if !token.is_empty() && token_refused(answer.status, &body) {
                    // The token expired: everything, and the engine compares.
                    out.push(ItemChange::Reset);
                    token.clear();
                    continue;
                }
                if matches!(answer.status.as_u16(), 400 | 403 | 405 | 501) {
                    // No sync-collection here: list by ETags.
                    if since.is_some() {
                        out.push(ItemChange::Reset);
                    }
                    return self.etag_listing(collection, out).await;
                }
                return Err(
                    status_error(&answer, &format!("REPORT sync-collection {path}"))
                        .with_operation(Operation::ListChanges),
                );
            }
            let ms = xml::parse_multistatus(&answer.text(), "sync-collection")?;
            let mut truncated = false;
            for r in ms.responses {
                if same_path(&r.href, path) {
                    // RFC 6578 §3.6: 507 on the collection itself means "more to come".
                    truncated |= r.status == Some(507);
                    continue;
                }
                let id = ItemId::new(last_segment(&r.href));
                if r.status == Some(404) {
                    out.push(ItemChange::Removed(id));
                } else if r.props.etag.is_some() {
                    out.push(ItemChange::Upsert(
                        ItemMeta::new(id).with_version(r.props.etag),
                    ));
                }
            }
            token = ms.sync_token.ok_or_else(|| {
                Error::new(
                    ErrorKind::Unexpected,
                    "sync-collection answered without a sync token",
                )
                .with_provider(PROVIDER)
            })?;
            if !truncated {
                break;
            }
        }
        out.push(ItemChange::Checkpoint(Checkpoint::new(token)));
        Ok(out)
    }

    async fn etag_listing(
        &self,
        collection: &CollectionId,
        mut out: Vec<ItemChange>,
    ) -> Result<Vec<ItemChange>> {
        for (id, etag) in self.members(collection).await? {
            out.push(ItemChange::Upsert(ItemMeta::new(id).with_version(etag)));
        }
        out.push(ItemChange::Checkpoint(Checkpoint::new(ETAG_LISTING)));
        Ok(out)
    }

    /// Every member resource of a collection with its ETag.
    async fn members(&self, collection: &CollectionId) -> Result<Vec<(ItemId, Option<String>)>> {
        let path = collection.as_str();
        let ms = self
            .multistatus(
                "PROPFIND",
                path,
                "1",
                xml::propfind(&["d:getetag", "d:resourcetype"]),
            )
            .await
            .map_err(|e| e.with_operation(Operation::ListChanges))?;
        Ok(ms
            .responses
            .into_iter()
            .filter(|r| !same_path(&r.href, path) && !r.href.ends_with('/'))
            .map(|r| (ItemId::new(last_segment(&r.href)), r.props.etag))
            .collect())
    }

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

    /// Reads the whole collection, batch by batch, to find `uids`.
    async fn scan_for_uids(
        &self,
        collection: &CollectionId,
        uids: &[String],
    ) -> Result<Vec<Vec<FoundItem>>> {
        let mut wanted: HashMap<&str, Vec<FoundItem>> =
            uids.iter().map(|u| (u.as_str(), Vec::new())).collect();
        let ids: Vec<ItemId> = self
            .members(collection)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        for chunk in ids.chunks(self.limits.batch) {
            for (id, item) in self.fetch_chunk(collection, chunk.to_vec()).await {
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

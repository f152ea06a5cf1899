//! Calendars through the Calendar API v3 \[GC-DISC\]: the calendar list as collections,
//! events listed with sync tokens \[GC-SYNC\], created with `events.import` \[GC-IMP\],
//! series' exceptions written to their instances, found by iCalUID, deleted — never
//! mailing anyone unless asked (`sendUpdates=none`).

mod map;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use mailmigrate_core::pim::{
    sync::adapt, CalendarEvent, CalendarObject, Collection, CollectionId, EventTime, FoundItem,
    ItemChange, ItemId, ItemMeta, ItemWrite, Payload, PimCapabilities, PimItem, PimKind, PimResult,
    WriteOptions, WriteTarget, Written,
};
use mailmigrate_core::{Checkpoint, ContentHash, Disposition, Error, ErrorKind, Result};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::stored;
use super::Shared;
use crate::client::{segment, Call};
use crate::quota::Cost;
use crate::PROVIDER;

/// The checkpoint prefix of a calendar's sync token.
const CHECKPOINT: &str = "gcal1:";
/// `events.list` pages: the most Google gives \[GC-DISC\].
const PAGE: u32 = 2500;

fn refused(name: &str, message: impl Into<String>, kind: ErrorKind) -> Error {
    Error::new(kind, message)
        .with_provider(PROVIDER)
        .with_context("event", name)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    next_page_token: Option<String>,
    next_sync_token: Option<String>,
}

/// An event as Google answers it, read through its fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
struct GEvent(Map<String, Value>);

impl GEvent {
    fn str(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(Value::as_str)
    }
    fn id(&self) -> &str {
        self.str("id").unwrap_or("")
    }
    fn etag(&self) -> &str {
        self.str("etag").unwrap_or("")
    }
    fn uid(&self) -> &str {
        self.str("iCalUID").unwrap_or_else(|| self.id())
    }
    fn cancelled(&self) -> bool {
        self.str("status") == Some("cancelled")
    }
    fn master(&self) -> Option<&str> {
        self.str("recurringEventId")
    }
    fn private(&self, k: &str) -> Option<&str> {
        self.0
            .get("extendedProperties")?
            .get("private")?
            .get(k)?
            .as_str()
    }
}

fn call_get(url: String, what: impl Into<String>) -> Call {
    Call::get(url, Cost::Small, what)
}

fn call_json(method: Method, url: String, body: &Value, what: impl Into<String>) -> Call {
    Call {
        method,
        ..Call::post_json(url, body, Cost::Small, what)
    }
}

/// Every page of a listing.
async fn pages(shared: &Shared, base: &str, what: &str) -> Result<(Vec<GEvent>, Option<String>)> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = base.to_owned();
        if let Some(t) = &token {
            url.push_str(&format!("&pageToken={}", segment(t)));
        }
        let page: Page<GEvent> = shared.client.json(&call_get(url, what)).await?;
        out.extend(page.items);
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => return Ok((out, page.next_sync_token)),
        }
    }
}

// ---- collections -------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    id: String,
    #[serde(default)]
    summary: String,
    summary_override: Option<String>,
    description: Option<String>,
    background_color: Option<String>,
}

/// Every calendar of the calendar list \[GC-DISC\] `calendarList.list`.
pub(crate) async fn list_calendars(shared: &Shared) -> Result<Vec<Collection>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = shared.calendar_url("/users/me/calendarList?maxResults=250");
        if let Some(t) = &token {
            url.push_str(&format!("&pageToken={}", segment(t)));
        }
        let page: Page<Entry> = shared.client.json(&call_get(url, "list calendars")).await?;
        for e in page.items {
            let name = e.summary_override.unwrap_or(e.summary);
            out.push(
                Collection::new(CollectionId::new(e.id), PimKind::Events, name)
                    .with_description(e.description)
                    .with_color(e.background_color),
            );
        }
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => return Ok(out),
        }
    }
}

/// The calendar named `like.name`, created (`calendars.insert`) when there is none. The
/// colour is not set: it lives in the calendar list entry, not the calendar.
pub(crate) async fn ensure(shared: &Shared, like: &Collection) -> Result<Collection> {
    let find = || async {
        Ok::<_, Error>(
            list_calendars(shared)
                .await?
                .into_iter()
                .find(|c| c.name == like.name),
        )
    };
    if let Some(c) = find().await? {
        return Ok(c);
    }
    let mut body = json!({"summary": like.name});
    if let Some(d) = &like.description {
        body["description"] = json!(d);
    }
    let call = Call::post_json(
        shared.calendar_url("/calendars"),
        &body,
        Cost::Small,
        format!("create calendar {}", like.name),
    );
    match shared.client.json::<Entry>(&call).await {
        Ok(e) => Ok(
            Collection::new(CollectionId::new(e.id), PimKind::Events, &like.name)
                .with_description(like.description.clone()),
        ),
        Err(e) if e.disposition() == Disposition::Settle => find().await?.ok_or(e),
        Err(e) => Err(e),
    }
}

fn cal_path(collection: &CollectionId) -> String {
    format!("/calendars/{}", segment(collection.as_str()))
}

// ---- reading -----------------------------------------------------------------------

/// A series' version: the master's etag, with its exceptions' when it has any.
fn version_of(master: &GEvent, exceptions: &[&GEvent]) -> String {
    if exceptions.is_empty() {
        return master.etag().to_owned();
    }
    let mut parts: Vec<String> = exceptions
        .iter()
        .map(|e| format!("{}:{}", e.id(), e.etag()))
        .collect();
    parts.sort();
    let h = ContentHash::of(parts.join("\n").as_bytes()).to_hex();
    format!("{}+{}", master.etag(), &h[..16])
}

/// The etag of a version (what `If-Match` takes).
fn etag_of(version: &str) -> &str {
    version.split('+').next().unwrap_or(version)
}

/// The events holding `uid` (masters, exceptions and cancellations).
async fn holding(shared: &Shared, collection: &CollectionId, uid: &str) -> Result<Vec<GEvent>> {
    let base = shared.calendar_url(&format!(
        "{}/events?iCalUID={}&showDeleted=true&singleEvents=false&maxResults={PAGE}",
        cal_path(collection),
        segment(uid)
    ));
    Ok(pages(shared, &base, &format!("look up event {uid}"))
        .await?
        .0)
}

/// The calendar object a master and its exceptions hold.
fn object_of(master: &GEvent, exceptions: &[&GEvent]) -> Option<CalendarObject> {
    let uid = master.uid();
    let stored = stored::join(map::ICAL, |k| master.private(k))
        .and_then(|t| CalendarObject::from_ics(&t).ok())
        .filter(|o| o.uid() == uid);
    let fresh = map::from_google(&master.0, uid)?;
    let mut head = match stored.as_ref().and_then(CalendarObject::master) {
        Some(s) => map::merge(s, &fresh, &master.0, false),
        None => fresh,
    };
    let mut events = Vec::new();
    for x in exceptions {
        let Some(rid) = x.0.get("originalStartTime").and_then(map::time_of) else {
            continue;
        };
        if x.cancelled() {
            if !head.exdates.contains(&rid) {
                head.exdates.push(rid);
            }
            continue;
        }
        let Some(mut fresh) = map::from_google(&x.0, uid) else {
            continue;
        };
        fresh.recurrence_id = Some(rid.clone());
        let kept = stored.as_ref().and_then(|o| {
            o.overrides()
                .find(|e| e.recurrence_id.as_ref() == Some(&rid))
        });
        events.push(match kept {
            Some(s) => map::merge(s, &fresh, &x.0, true),
            None => fresh,
        });
    }
    events.insert(0, head);
    CalendarObject::from_events(events).ok()
}

fn item_of(master: &GEvent, exceptions: &[&GEvent]) -> Result<PimItem> {
    let object = object_of(master, exceptions).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidMessage,
            "Google's event has no start this crate can read",
        )
        .with_provider(PROVIDER)
        .with_context("event", master.id())
    })?;
    let meta = ItemMeta::new(ItemId::new(master.id()))
        .with_uid(Some(object.uid().to_owned()))
        .with_version(Some(version_of(master, exceptions)));
    Ok(PimItem::new(meta, Payload::Event(object)))
}

/// The master `id` among `events` and its exceptions.
fn series<'a>(events: &'a [GEvent], id: &str) -> Option<(&'a GEvent, Vec<&'a GEvent>)> {
    let master = events
        .iter()
        .find(|e| e.id() == id && e.master().is_none())?;
    let exceptions = events.iter().filter(|e| e.master() == Some(id)).collect();
    Some((master, exceptions))
}

/// Every item of a calendar (a full listing), or what changed since the checkpoint.
pub(crate) fn list_items(
    shared: Arc<Shared>,
    collection: CollectionId,
    since: Option<Checkpoint>,
) -> BoxStream<'static, Result<ItemChange>> {
    let token = since.and_then(|c| c.as_str().strip_prefix(CHECKPOINT).map(str::to_owned));
    stream::once(async move { listing(&shared, &collection, token).await })
        .map(|r| match r {
            Ok(v) => stream::iter(v.into_iter().map(Ok)).boxed(),
            Err(e) => stream::once(async { Err(e) }).boxed(),
        })
        .flatten()
        .boxed()
}

async fn listing(
    shared: &Shared,
    collection: &CollectionId,
    token: Option<String>,
) -> Result<Vec<ItemChange>> {
    let base = shared.calendar_url(&format!(
        "{}/events?singleEvents=false&showDeleted=true&maxResults={PAGE}",
        cal_path(collection)
    ));
    let mut out = Vec::new();
    if let Some(t) = token {
        let url = format!("{base}&syncToken={}", segment(&t));
        match pages(shared, &url, &format!("list changes of {collection}")).await {
            Ok((changed, next)) => {
                let mut affected: BTreeMap<String, String> = BTreeMap::new();
                for e in &changed {
                    match e.master() {
                        None if e.cancelled() => {
                            out.push(ItemChange::Removed(ItemId::new(e.id())));
                        }
                        None => {
                            affected.insert(e.id().to_owned(), e.uid().to_owned());
                        }
                        Some(m) => {
                            affected.insert(m.to_owned(), e.uid().to_owned());
                        }
                    }
                }
                for (id, uid) in affected {
                    let held = holding(shared, collection, &uid).await?;
                    match series(&held, &id) {
                        Some((m, x)) if !m.cancelled() => out.push(ItemChange::Upsert(
                            ItemMeta::new(ItemId::new(&id))
                                .with_uid(Some(uid))
                                .with_version(Some(version_of(m, &x))),
                        )),
                        _ => {}
                    }
                }
                out.push(checkpoint(next));
                return Ok(out);
            }
            // [GC-SYNC] 410 Gone: the token expired; start over with a full listing.
            Err(e) if e.message().contains("HTTP 410") => out.push(ItemChange::Reset),
            Err(e) => return Err(e),
        }
    }
    let (all, next) = pages(shared, &base, &format!("list events of {collection}")).await?;
    let mut exceptions: HashMap<&str, Vec<&GEvent>> = HashMap::new();
    for e in &all {
        if let Some(m) = e.master() {
            exceptions.entry(m).or_default().push(e);
        }
    }
    for e in all
        .iter()
        .filter(|e| e.master().is_none() && !e.cancelled())
    {
        let x = exceptions.get(e.id()).cloned().unwrap_or_default();
        out.push(ItemChange::Upsert(
            ItemMeta::new(ItemId::new(e.id()))
                .with_uid(Some(e.uid().to_owned()))
                .with_version(Some(version_of(e, &x))),
        ));
    }
    out.push(checkpoint(next));
    Ok(out)
}

fn checkpoint(token: Option<String>) -> ItemChange {
    ItemChange::Checkpoint(Checkpoint::new(format!(
        "{CHECKPOINT}{}",
        token.unwrap_or_default()
    )))
}

async fn read(shared: &Shared, collection: &CollectionId, id: &ItemId) -> Result<PimItem> {
    let url = shared.calendar_url(&format!(
        "{}/events/{}",
        cal_path(collection),
        segment(id.as_str())
    ));
    let master: GEvent = shared
        .client
        .json(&call_get(url, format!("GET event {id}")))
        .await?;
    if master.cancelled() {
        return Err(Error::new(ErrorKind::NotFound, "the event was deleted")
            .with_provider(PROVIDER)
            .with_context("item", id.as_str()));
    }
    if master.0.get("recurrence").is_none() {
        return item_of(&master, &[]);
    }
    let held = holding(shared, collection, master.uid()).await?;
    let exceptions: Vec<&GEvent> = held
        .iter()
        .filter(|e| e.master() == Some(master.id()))
        .collect();
    item_of(&master, &exceptions)
}

/// Each event of `ids`, four at a time.
pub(crate) fn fetch_items(
    shared: Arc<Shared>,
    collection: CollectionId,
    ids: Vec<ItemId>,
) -> BoxStream<'static, PimResult<PimItem>> {
    stream::iter(ids)
        .map(move |id| {
            let (shared, collection) = (Arc::clone(&shared), collection.clone());
            async move {
                let r = read(&shared, &collection, &id).await.map_err(|e| {
                    e.with_context("collection", collection.as_str())
                        .with_context("item", id.as_str())
                });
                (id, r)
            }
        })
        .buffer_unordered(4)
        .boxed()
}

// ---- writing -----------------------------------------------------------------------

fn send_updates(notify: bool) -> &'static str {
    if notify {
        "all"
    } else {
        "none"
    }
}

/// The body of a master: its fields, its `UID`, the object as written.
fn master_body(object: &CalendarObject, master: &CalendarEvent) -> Value {
    let mut body = map::to_google(master);
    body.insert("iCalUID".into(), json!(object.uid()));
    let private: Map<String, Value> = stored::pieces(map::ICAL, &object.to_ics())
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    body.insert(
        "extendedProperties".into(),
        json!({"private": Value::Object(private)}),
    );
    Value::Object(body)
}

/// The instances of `master` around `at` (two days either side, in UTC).
async fn instances_near(
    shared: &Shared,
    collection: &CollectionId,
    master: &str,
    at: &EventTime,
) -> Result<Vec<GEvent>> {
    let day = match at {
        EventTime::Date(d) => *d,
        EventTime::Floating(l) | EventTime::Zoned { local: l, .. } => l.date(),
        EventTime::Utc(u) => u.date(),
    };
    let fmt = |d: time::Date| {
        format!(
            "{:04}-{:02}-{:02}T00:00:00Z",
            d.year(),
            d.month() as u8,
            d.day()
        )
    };
    let url = shared.calendar_url(&format!(
        "{}/events/{}/instances?timeMin={}&timeMax={}&maxResults=250",
        cal_path(collection),
        segment(master),
        segment(&fmt(day - time::Duration::days(2))),
        segment(&fmt(day + time::Duration::days(3))),
    ));
    Ok(pages(shared, &url, &format!("list instances of {master}"))
        .await?
        .0)
}

/// Writes each override of `object` to its occurrence of `master`, and puts back
/// exceptions the object no longer has.
async fn apply_overrides(
    shared: &Shared,
    collection: &CollectionId,
    master: &GEvent,
    object: &CalendarObject,
    existing: &[&GEvent],
    notify: bool,
    name: &str,
) -> Result<()> {
    let head = object.master();
    for o in object.overrides() {
        let Some(rid) = &o.recurrence_id else {
            continue;
        };
        let near = instances_near(shared, collection, master.id(), rid).await?;
        let Some(inst) = near
            .iter()
            .find(|i| i.0.get("originalStartTime").and_then(map::time_of).as_ref() == Some(rid))
        else {
            return Err(refused(
                name,
                format!(
                    "the override of {} is no occurrence of the series in Google",
                    rid.value()
                ),
                ErrorKind::InvalidMessage,
            ));
        };
        let mut body = map::to_google(o);
        body.remove("recurrence");
        body.insert("iCalUID".into(), json!(object.uid()));
        let url = shared.calendar_url(&format!(
            "{}/events/{}?sendUpdates={}",
            cal_path(collection),
            segment(inst.id()),
            send_updates(notify)
        ));
        let call = call_json(
            Method::PUT,
            url,
            &Value::Object(body),
            format!("write the override of {name} at {}", rid.value()),
        );
        shared.client.json::<GEvent>(&call).await?;
    }
    let Some(head) = head else {
        return Ok(());
    };
    for x in existing.iter().filter(|x| !x.cancelled()) {
        let Some(rid) = x.0.get("originalStartTime").and_then(map::time_of) else {
            continue;
        };
        if object
            .overrides()
            .any(|o| o.recurrence_id.as_ref() == Some(&rid))
        {
            continue;
        }
        // An exception the object no longer has: the occurrence as the series says.
        let mut occurrence = head.clone();
        let end = map::end_of(head);
        occurrence.start = rid.clone();
        occurrence.end = Some(shift_like(&head.start, &end, &rid));
        occurrence.duration = None;
        occurrence.rrule = None;
        occurrence.exdates.clear();
        let mut body = map::to_google(&occurrence);
        body.insert("iCalUID".into(), json!(object.uid()));
        let url = shared.calendar_url(&format!(
            "{}/events/{}?sendUpdates={}",
            cal_path(collection),
            segment(x.id()),
            send_updates(notify)
        ));
        let call = call_json(
            Method::PUT,
            url,
            &Value::Object(body),
            format!("put back an occurrence of {name}"),
        );
        shared.client.json::<GEvent>(&call).await?;
    }
    Ok(())
}

/// The end of an occurrence starting at `at`, as long as the series' `start`..`end`.
fn shift_like(start: &EventTime, end: &EventTime, at: &EventTime) -> EventTime {
    let secs = |t: &EventTime| match t {
        EventTime::Date(d) => i64::from(d.to_julian_day()) * 86_400,
        EventTime::Floating(l) | EventTime::Zoned { local: l, .. } => {
            l.assume_utc().unix_timestamp()
        }
        EventTime::Utc(u) => u.unix_timestamp(),
    };
    map::shift(at, secs(end) - secs(start))
}

struct Job {
    item: PimItem,
    target: WriteTarget,
    name: String,
    twin: bool,
}

fn fit(writes: Vec<ItemWrite>, caps: &PimCapabilities) -> Vec<Job> {
    let mut creating = std::collections::HashSet::new();
    writes
        .into_iter()
        .map(|w| {
            let mut item = w.item;
            let name = item
                .uid()
                .map_or_else(|| item.meta.id.to_string(), str::to_owned);
            adapt(&mut item, caps);
            let twin = matches!(w.target, WriteTarget::Create)
                && item.uid().is_some_and(|u| !creating.insert(u.to_owned()));
            Job {
                item,
                target: w.target,
                name,
                twin,
            }
        })
        .collect()
}

async fn write_one(
    shared: &Shared,
    collection: &CollectionId,
    job: Job,
    notify: bool,
) -> Result<Written> {
    let name = job.name.clone();
    let Payload::Event(object) = job.item.payload else {
        return Err(refused(
            &name,
            "a Google calendar holds events; contacts go to a contact group",
            ErrorKind::InvalidMessage,
        ));
    };
    let Some(head) = object.master() else {
        return Err(refused(
            &name,
            "Google holds an occurrence only with its series; this object has no master event",
            ErrorKind::InvalidMessage,
        ));
    };
    if job.twin {
        return Err(refused(
            &name,
            "an earlier write of this batch has the UID",
            ErrorKind::AlreadyExists,
        ));
    }
    let body = master_body(&object, head);
    let created = matches!(job.target, WriteTarget::Create);
    let call = match &job.target {
        WriteTarget::Replace { id, version } => {
            let url = shared.calendar_url(&format!(
                "{}/events/{}?sendUpdates={}",
                cal_path(collection),
                segment(id.as_str()),
                send_updates(notify)
            ));
            let mut call = call_json(Method::PUT, url, &body, format!("replace event {name}"));
            if let Some(v) = version {
                call.headers.push(("If-Match", etag_of(v).to_owned()));
            }
            call
        }
        _ => Call::post_json(
            // [GC-IMP] import keeps the iCalUID and sends nothing to anyone.
            shared.calendar_url(&format!("{}/events/import", cal_path(collection))),
            &body,
            Cost::Small,
            format!("import event {name}"),
        ),
    };
    let master: GEvent = match shared.client.send(&call).await {
        Ok(a) if a.status.is_success() => serde_json::from_slice(&a.body).map_err(|e| {
            Error::new(
                ErrorKind::Unexpected,
                format!("{}: unreadable answer ({e})", call.what),
            )
            .with_provider(PROVIDER)
        })?,
        // [GC-IMP][I-GCAL] a held iCalUID: 409 duplicate.
        Ok(a) if created && a.status == StatusCode::CONFLICT => {
            return Err(refused(
                &name,
                "the calendar holds an event with this UID already",
                ErrorKind::AlreadyExists,
            ))
        }
        Ok(a) => return Err(a.error(&call).with_context("event", &name)),
        Err(e) => return Err(e.with_context("event", &name)),
    };
    let series = head.rrule.is_some();
    let existing_all = if series && !created {
        holding(shared, collection, object.uid()).await?
    } else {
        Vec::new()
    };
    let existing: Vec<&GEvent> = existing_all
        .iter()
        .filter(|e| e.master() == Some(master.id()))
        .collect();
    if !series || (object.overrides().next().is_none() && existing.is_empty()) {
        return Ok(Written::new(
            ItemId::new(master.id()),
            Some(master.etag().to_owned()),
        ));
    }
    // The master is written: a failure from here leaves the series half-written, which
    // the next run settles by a look-up and a replace.
    let settle = |e: Error| if created { e.outcome_unknown() } else { e };
    apply_overrides(
        shared, collection, &master, &object, &existing, notify, &name,
    )
    .await
    .map_err(|e| settle(e.with_context("event", &name)))?;
    let held = holding(shared, collection, object.uid())
        .await
        .map_err(settle)?;
    let version = series_version(&held, master.id()).unwrap_or_else(|| master.etag().to_owned());
    Ok(Written::new(ItemId::new(master.id()), Some(version)))
}

fn series_version(held: &[GEvent], id: &str) -> Option<String> {
    series(held, id).map(|(m, x)| version_of(m, &x))
}

/// Writes a batch into calendar `collection`, one answer per write in order.
pub(crate) async fn write_items(
    shared: &Shared,
    caps: &PimCapabilities,
    collection: &CollectionId,
    writes: Vec<ItemWrite>,
    options: &WriteOptions,
) -> Vec<Result<Written>> {
    let notify = options.notify_attendees;
    stream::iter(fit(writes, caps))
        .map(|job| write_one(shared, collection, job, notify))
        .buffered(4)
        .collect()
        .await
}

/// The series of `collection` holding each of `uids` \[GC-DISC\] `events.list?iCalUID=`.
pub(crate) async fn find_by_uid(
    shared: &Shared,
    collection: &CollectionId,
    uids: &[String],
) -> Result<Vec<Vec<FoundItem>>> {
    stream::iter(uids.to_vec())
        .map(|uid| async move {
            let held = holding(shared, collection, &uid).await?;
            let mut out = Vec::new();
            for m in held
                .iter()
                .filter(|e| e.master().is_none() && !e.cancelled() && e.uid() == uid)
            {
                let x: Vec<&GEvent> = held.iter().filter(|e| e.master() == Some(m.id())).collect();
                let item = item_of(m, &x)?;
                out.push(FoundItem::new(
                    ItemId::new(m.id()),
                    item.meta.version.clone(),
                    Some(item.content_hash()),
                ));
            }
            Ok::<_, Error>(out)
        })
        .buffered(4)
        .try_collect()
        .await
}

/// Deletes events (`sendUpdates=none`); one gone already is what was asked.
pub(crate) async fn delete_items(
    shared: &Shared,
    collection: &CollectionId,
    ids: &[ItemId],
) -> Vec<Result<()>> {
    stream::iter(ids.to_vec())
        .map(|id| async move {
            let url = shared.calendar_url(&format!(
                "{}/events/{}?sendUpdates=none",
                cal_path(collection),
                segment(id.as_str())
            ));
            let call = Call {
                method: Method::DELETE,
                ..call_get(url, format!("delete event {id}"))
            };
            let a = shared.client.send(&call).await?;
            if a.status.is_success()
                || a.status == StatusCode::NOT_FOUND
                || a.status == StatusCode::GONE
            {
                Ok(())
            } else {
                Err(a.error(&call).with_context("item", id.as_str()))
            }
        })
        .buffered(4)
        .collect()
        .await
}

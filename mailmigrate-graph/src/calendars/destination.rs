//! Writing: events created idempotently (`transactionId` \[G-EVT\]) and stamped with their
//! `UID` and calendar object, replaced, found by `UID` \[G-EXT\], deleted; a series'
//! overrides and `EXDATE`s written to its instances after the master.
//!
//! No invitation is ever sent unless asked: Graph mails every attendee of an event written
//! with them, and cannot be told not to \[G-EVPR\]\[I-INV\]. Without
//! [`WriteOptions::notify_attendees`] the attendees stay out of the Graph fields and travel
//! only in the stored iCalendar; the body is left as the event's, so what Outlook shows is
//! the event without its guest list.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};
use mailmigrate_core::pim::{
    CalendarObject, CollectionId, FoundItem, ItemId, ItemWrite, Payload, WriteOptions, WriteTarget,
    Written,
};
use mailmigrate_core::{ContentHash, Error, ErrorKind, Result};
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::map::{self, GraphEvent};
use super::source::{instances, item_of, read_options};
use super::{collections, series, times};
use crate::client::{segment, Call};
use crate::extended;
use crate::mail::Graph;
use crate::pim::{fit, Fitted};

fn refused(name: &str, message: impl Into<String>, kind: ErrorKind) -> Error {
    crate::pim::refused("event", name, message, kind)
}

/// The `transactionId` of the create of `uid` in `calendar`: the same for every attempt,
/// so a repeated `POST` makes no second event \[G-EVT\].
fn transaction_id(calendar: &str, uid: &str) -> String {
    let h = ContentHash::of(format!("{calendar}\u{0}{uid}").as_bytes()).to_hex();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The body of a master: its fields and both named properties.
fn master_body(object: &CalendarObject, notify: bool, name: &str) -> Result<Map<String, Value>> {
    let master = object.master().ok_or_else(|| {
        refused(
            name,
            "Graph holds an occurrence only with its series; this object has no master event",
            ErrorKind::InvalidMessage,
        )
    })?;
    let mut body = map::to_fields(master, notify).map_err(|why| {
        refused(
            name,
            format!("Graph cannot hold the recurrence: {why}"),
            ErrorKind::InvalidMessage,
        )
    })?;
    body.insert(
        "singleValueExtendedProperties".into(),
        json!([
            {"id": extended::uid_property(), "value": object.uid()},
            {"id": map::ical_property(), "value": object.to_ics()},
        ]),
    );
    Ok(body)
}

async fn send_json(
    g: &Graph,
    method: Method,
    path: &str,
    body: &Value,
    what: String,
) -> Result<GraphEvent> {
    let call = Call::json(method, g.client().user_url(path), body, what);
    g.client().json(&call).await
}

/// The events of `calendar` stamped with `uid`, read in full.
async fn holding(g: &Graph, calendar: &CollectionId, uid: &str) -> Result<Vec<GraphEvent>> {
    let filter = extended::value_filter(&extended::uid_property(), uid);
    let url = g.client().user_url(&format!(
        "/calendars/{}/events?$filter={}&{}&$top=100",
        segment(collections::graph_id(calendar)),
        segment(&filter),
        read_options()
    ));
    g.client()
        .items(Call::get(url, format!("look up an event in {calendar}")))
        .try_collect()
        .await
}

/// Writes the overrides and cancellations of `object` to the instances of `master`, and
/// puts back exceptions it no longer has (an exception that says what its occurrence says
/// reads as none).
async fn apply_instances(
    g: &Graph,
    master: &GraphEvent,
    object: &CalendarObject,
    notify: bool,
    name: &str,
) -> Result<()> {
    let Some(window) = series::window(master, Some(object)) else {
        return Ok(());
    };
    let zone = master.zone();
    let (overrides, cancelled) = series::wanted(object, &zone);
    let mut placed = HashSet::new();
    for inst in instances(g.client(), &master.id, window).await? {
        let Some(key) = inst.original_start() else {
            continue;
        };
        let path = format!("/events/{}", segment(&inst.id));
        if cancelled.contains(&key) {
            crate::pim::delete(g, &path, &ItemId::new(&inst.id)).await?;
        } else if let Some((_, o)) = overrides.iter().find(|(k, _)| *k == key) {
            let mut body = map::to_fields(o, notify).unwrap_or_default();
            body.remove("recurrence");
            send_json(
                g,
                Method::PATCH,
                &path,
                &Value::Object(body),
                format!("write the override of {name} at {}", times::fmt_local(key)),
            )
            .await?;
            placed.insert(key);
        } else if inst.kind.as_deref() == Some("exception") {
            let body = series::occurrence_fields(&master.fields, key);
            let keep = [
                "subject",
                "body",
                "start",
                "end",
                "isAllDay",
                "location",
                "categories",
                "showAs",
                "sensitivity",
                "importance",
                "isReminderOn",
                "reminderMinutesBeforeStart",
            ];
            let body: Map<String, Value> = body
                .into_iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .collect();
            send_json(
                g,
                Method::PATCH,
                &path,
                &Value::Object(body),
                format!("put back an occurrence of {name}"),
            )
            .await?;
        }
    }
    if let Some((key, _)) = overrides.iter().find(|(k, _)| !placed.contains(k)) {
        return Err(refused(
            name,
            format!(
                "the override of {} is no occurrence of the series in Graph",
                times::fmt_local(*key)
            ),
            ErrorKind::InvalidMessage,
        ));
    }
    Ok(())
}

async fn write_one(
    g: &Graph,
    calendar: &CollectionId,
    job: Fitted,
    notify: bool,
) -> Result<Written> {
    let name = job.name.clone();
    let Payload::Event(object) = job.item.payload else {
        return Err(refused(
            &name,
            "a Graph calendar holds events; contacts go to a contact folder",
            ErrorKind::InvalidMessage,
        ));
    };
    let mut body = master_body(&object, notify, &name)?;
    let created = matches!(job.target, WriteTarget::Create);
    let master = match &job.target {
        WriteTarget::Replace { id, .. } => {
            send_json(
                g,
                Method::PATCH,
                &format!("/events/{}", segment(id.as_str())),
                &Value::Object(body),
                format!("replace event {name}"),
            )
            .await
        }
        _ => {
            // No If-None-Match on create: a create of a UID the calendar holds is
            // refused here, so a lost state never makes a twin; transactionId makes a
            // repeated POST harmless.
            if job.twin || !holding(g, calendar, object.uid()).await?.is_empty() {
                return Err(refused(
                    &name,
                    "the calendar holds an event with this UID already",
                    ErrorKind::AlreadyExists,
                ));
            }
            let cal = collections::graph_id(calendar);
            body.insert(
                "transactionId".into(),
                json!(transaction_id(cal, object.uid())),
            );
            send_json(
                g,
                Method::POST,
                &format!("/calendars/{}/events", segment(cal)),
                &Value::Object(body),
                format!("create event {name}"),
            )
            .await
        }
    }
    .map_err(|e| e.with_context("event", &name))?;
    let series = object.master().is_some_and(|m| m.rrule.is_some());
    if !series
        || (created
            && object.overrides().next().is_none()
            && object.master().is_some_and(|m| m.exdates.is_empty()))
    {
        return Ok(Written::new(ItemId::new(master.id), master.change_key));
    }
    // The master exists: a failure from here leaves it half-written, which the next run
    // settles by a look-up (and a replace of the copy that is not the item's).
    let settle = |e: Error| if created { e.outcome_unknown() } else { e };
    apply_instances(g, &master, &object, notify, &name)
        .await
        .map_err(|e| settle(e.with_context("event", &name)))?;
    let call = Call::get(
        g.client().user_url(&format!(
            "/events/{}?$select=changeKey",
            segment(&master.id)
        )),
        format!("GET event {name}"),
    );
    let now: GraphEvent = g.client().json(&call).await.map_err(settle)?;
    Ok(Written::new(ItemId::new(master.id), now.change_key))
}

/// Writes a batch into calendar `calendar`, one answer per write in order.
pub(crate) async fn write_items(
    g: &Graph,
    calendar: &CollectionId,
    writes: Vec<ItemWrite>,
    options: &WriteOptions,
) -> Vec<Result<Written>> {
    let notify = options.notify_attendees;
    futures::stream::iter(fit(writes))
        .map(|job| write_one(g, calendar, job, notify))
        .buffered(4)
        .collect()
        .await
}

/// The events of `calendar` holding each of `uids`, with the hash of what each holds.
pub(crate) async fn find_by_uid(
    g: &Graph,
    calendar: &CollectionId,
    uids: &[String],
) -> Result<Vec<Vec<FoundItem>>> {
    futures::stream::iter(uids.to_vec())
        .map(|uid| async move {
            let mut out = Vec::new();
            for e in holding(g, calendar, &uid).await? {
                let (id, version) = (e.id.clone(), e.change_key.clone());
                let item = item_of(g.client(), e).await?;
                out.push(FoundItem::new(
                    ItemId::new(id),
                    version,
                    Some(item.content_hash()),
                ));
            }
            Ok(out)
        })
        .buffered(4)
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_ids_are_stable_per_calendar_and_uid() {
        let a = transaction_id("cal", "u@x");
        assert_eq!(a, transaction_id("cal", "u@x"));
        assert_ne!(a, transaction_id("other", "u@x"));
        assert_eq!(a.len(), 36);
    }
}

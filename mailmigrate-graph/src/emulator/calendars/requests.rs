//! The calendar endpoints: `…/calendar`, `…/calendars[/{id}/events]`,
//! `…/events[/{id}[/instances]]`, routed and answered \[G-EVT\].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use time::PrimitiveDateTime;

use crate::calendars::times::parse_local;
use crate::emulator::errors::{GraphError, Resp};
use crate::emulator::ids::{self, FOLDER_PREFIX, IMMUTABLE_PREFIX};
use crate::emulator::odata::extended_property_filter;
use crate::emulator::render::normalize_prop_id;
use crate::emulator::server::{unknown_segment, Ctx, State};
use crate::emulator::store::{now, Mailbox};
use crate::recurrence::parse_date;

use super::body::{bad, check, has_attendees, parse_body, INSTANCE_FIELDS};
use super::json::{calendar_json, render_event, render_instance, view};
use super::store::{date_key, occurrence_dates, Calendar, Event};

/// Routes `…/calendar`, `…/calendars…` and `…/events…` (`rest` is the path after the user).
pub(crate) fn route(
    st: &State,
    ctx: &Ctx,
    mbx: &mut Mailbox,
    rest: &[&str],
) -> Result<Resp, GraphError> {
    let default = mbx.calendars.calendars[0].id.clone();
    match (ctx.method.as_str(), rest) {
        ("GET", ["calendar"]) => Ok(Resp::json(200, &calendar_json(&mbx.calendars.calendars[0]))),
        ("GET", ["calendars"]) => {
            let all = mbx.calendars.calendars.iter().map(calendar_json).collect();
            crate::emulator::contacts::page(st, ctx, all)
        }
        ("POST", ["calendars"]) => create_calendar(st, ctx, mbx),
        ("GET", ["calendars", c]) => Ok(Resp::json(
            200,
            &calendar_json(&mbx.calendars.calendars[mbx.calendars.calendar_index(c)?]),
        )),
        ("GET", ["calendars", c, "events"]) => list(st, ctx, mbx, c),
        ("POST", ["calendars", c, "events"]) => create(ctx, mbx, c),
        (
            "GET",
            ["calendar" | "calendars", .., "events", id, "instances"] | ["events", id, "instances"],
        ) => instances(st, ctx, mbx, id),
        (_, ["calendar" | "calendars", .., "events", id] | ["events", id]) => item(ctx, mbx, id),
        ("GET", ["events"] | ["calendar", "events"]) => list(st, ctx, mbx, &default),
        ("POST", ["events"] | ["calendar", "events"]) => create(ctx, mbx, &default),
        (_, [.., last]) => Err(unknown_segment(last)),
        (_, []) => Err(unknown_segment("")),
    }
}

/// `POST …/calendars` `{name}` → 201; a calendar of that name → 409 `ErrorFolderExists`.
fn create_calendar(st: &State, ctx: &Ctx, mbx: &mut Mailbox) -> Result<Resp, GraphError> {
    let v: Value = serde_json::from_slice(&ctx.body)
        .map_err(|_| GraphError::body_read("Invalid JSON in the request body."))?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("The calendar needs a name."))?;
    let diary = &mut mbx.calendars;
    if diary
        .calendars
        .iter()
        .any(|c| c.name.eq_ignore_ascii_case(name))
    {
        return Err(GraphError::new(
            st.cfg.folder_exists_status,
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        ));
    }
    let c = Calendar {
        id: ids::new_id(FOLDER_PREFIX),
        name: name.to_owned(),
        is_default: false,
    };
    let out = calendar_json(&c);
    diary.calendars.push(c);
    Ok(Resp::json(201, &out))
}

/// `GET …/events` of a calendar: masters and single events (not occurrences), `$filter`
/// by a named property \[G-EXT\], `$select`, `$expand`, paging.
fn list(st: &State, ctx: &Ctx, mbx: &Mailbox, calendar: &str) -> Result<Resp, GraphError> {
    let diary = &mbx.calendars;
    let cal = &diary.calendars[diary.calendar_index(calendar)?].id;
    let by_property = match ctx.query.get("$filter") {
        None => None,
        Some(f) => Some(extended_property_filter(f).ok_or_else(|| {
            GraphError::new(
                400,
                "ErrorInvalidUrlQueryFilter",
                "The query filter contains one or more invalid nodes.",
            )
        })?),
    };
    let v = view(ctx);
    let all = diary
        .events
        .iter()
        .filter(|e| &e.calendar_id == cal)
        .filter(|e| {
            by_property.as_ref().is_none_or(|(id, value)| {
                let id = normalize_prop_id(id);
                e.extended
                    .iter()
                    .any(|(k, x)| normalize_prop_id(k).eq_ignore_ascii_case(&id) && x == value)
            })
        })
        .map(|e| render_event(e, &v, &mbx.upn))
        .collect();
    crate::emulator::contacts::page(st, ctx, all)
}

/// `POST …/events` → 201 \[G-EVT\]; a `transactionId` seen before answers the first event.
fn create(ctx: &Ctx, mbx: &mut Mailbox, calendar: &str) -> Result<Resp, GraphError> {
    let i = mbx.calendars.calendar_index(calendar)?;
    let (props, extended) = parse_body(&ctx.body)?;
    check(&props)?;
    if props.get("start").is_none_or(Value::is_null) {
        return Err(bad("An event needs a start."));
    }
    let v = view(ctx);
    if let Some(t) = props.get("transactionId").and_then(Value::as_str) {
        if let Some(e) = mbx
            .calendars
            .events
            .iter()
            .find(|e| e.props.get("transactionId").and_then(Value::as_str) == Some(t))
        {
            return Ok(Resp::json(201, &render_event(e, &v, &mbx.upn)));
        }
    }
    if has_attendees(&props) {
        mbx.calendars.invitations += 1;
    }
    let t = now();
    let e = Event {
        id: ids::new_id(IMMUTABLE_PREFIX),
        calendar_id: mbx.calendars.calendars[i].id.clone(),
        props,
        extended,
        ical_uid: format!("040000008200E00074C5B7101A82E008{:016X}", ids::random_u64()),
        created: t,
        modified: t,
        change_n: 1,
        exceptions: BTreeMap::new(),
        cancelled: BTreeSet::new(),
    };
    let out = render_event(&e, &v, &mbx.upn);
    mbx.calendars.events.push(e);
    Ok(Resp::json(201, &out))
}

/// `GET`, `PATCH` and `DELETE` of an event or an occurrence \[G-EVT\].
fn item(ctx: &Ctx, mbx: &mut Mailbox, id: &str) -> Result<Resp, GraphError> {
    let (i, occurrence) = mbx.calendars.find(id)?;
    let v = view(ctx);
    let upn = mbx.upn.clone();
    let diary = &mut mbx.calendars;
    match (ctx.method.as_str(), occurrence) {
        ("GET", None) => Ok(Resp::json(200, &render_event(&diary.events[i], &v, &upn))),
        ("GET", Some(d)) => {
            let date = parse_date(&format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]))
                .ok_or_else(GraphError::item_not_found)?;
            let (_, _, out) = render_instance(&diary.events[i], date, &v, &upn)
                .ok_or_else(GraphError::item_not_found)?;
            Ok(Resp::json(200, &out))
        }
        ("PATCH", occurrence) => {
            let (props, extended) = parse_body(&ctx.body)?;
            check(&props)?;
            if has_attendees(&props) {
                diary.invitations += 1;
            }
            let e = &mut diary.events[i];
            match occurrence {
                None => {
                    if props
                        .get("transactionId")
                        .is_some_and(|t| Some(t) != e.props.get("transactionId"))
                    {
                        return Err(bad("The transactionId of an event cannot be changed."));
                    }
                    e.props.extend(props);
                    upsert_extended(&mut e.extended, extended);
                    e.touch();
                    Ok(Resp::json(200, &render_event(e, &v, &upn)))
                }
                Some(d) => {
                    if let Some(k) = props
                        .keys()
                        .find(|k| !INSTANCE_FIELDS.contains(&k.as_str()))
                    {
                        return Err(bad(&format!(
                            "The property '{k}' cannot be changed on an occurrence."
                        )));
                    }
                    e.exceptions.entry(d.clone()).or_default().extend(props);
                    e.touch();
                    let date = parse_date(&format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]))
                        .ok_or_else(GraphError::item_not_found)?;
                    let (_, _, out) = render_instance(e, date, &v, &upn)
                        .ok_or_else(GraphError::item_not_found)?;
                    Ok(Resp::json(200, &out))
                }
            }
        }
        ("DELETE", None) => {
            diary.events.remove(i);
            Ok(Resp::empty(204))
        }
        ("DELETE", Some(d)) => {
            let e = &mut diary.events[i];
            e.exceptions.remove(&d);
            e.cancelled.insert(d);
            e.touch();
            Ok(Resp::empty(204))
        }
        _ => Err(GraphError::new(
            405,
            "ErrorInvalidRequest",
            "The OData request is not supported.",
        )),
    }
}

fn upsert_extended(into: &mut Vec<(String, String)>, props: Vec<(String, String)>) {
    for (id, value) in props {
        let key = normalize_prop_id(&id);
        match into
            .iter_mut()
            .find(|(k, _)| normalize_prop_id(k).eq_ignore_ascii_case(&key))
        {
            Some(slot) => slot.1 = value,
            None => into.push((id, value)),
        }
    }
}

/// `GET …/events/{id}/instances?startDateTime=…&endDateTime=…`: the occurrences and
/// exceptions of a series that overlap the window, cancelled ones left out, by start
/// \[G-EVT\]; both bounds are required.
fn instances(st: &State, ctx: &Ctx, mbx: &Mailbox, id: &str) -> Result<Resp, GraphError> {
    let (i, _) = mbx.calendars.find(id)?;
    let e = &mbx.calendars.events[i];
    let bound = |k: &str| {
        ctx.query
            .get(k)
            .and_then(|s| parse_local(s.trim_end_matches('Z')))
            .ok_or_else(|| bad(&format!("This request requires a time window specified by the query string parameters StartDateTime and EndDateTime; {k} is missing or invalid.")))
    };
    let (from, to) = (bound("startDateTime")?, bound("endDateTime")?);
    let v = view(ctx);
    let mut all: Vec<(PrimitiveDateTime, Value)> = occurrence_dates(e)
        .into_iter()
        .filter(|d| !e.cancelled.contains(&date_key(*d)))
        .filter_map(|d| render_instance(e, d, &v, &mbx.upn))
        .filter(|(s, en, _)| *s < to && *en > from || (*s == *en && *s >= from && *s < to))
        .map(|(s, _, out)| (s, out))
        .collect();
    all.sort_by_key(|(s, _)| *s);
    crate::emulator::contacts::page(st, ctx, all.into_iter().map(|(_, v)| v).collect())
}

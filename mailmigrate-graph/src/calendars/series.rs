//! A recurring series in Graph and as one core calendar object: the master, its
//! exceptions (`type: exception`, read through `/instances`) as `RECURRENCE-ID` overrides,
//! and its cancelled occurrences — the ones the pattern makes that `/instances` does not
//! list — as `EXDATE`s \[G-EVT\].
//!
//! Occurrences are matched by their original start as a UTC instant. `/instances` needs a
//! window: the whole series when it ends, else two years from its start or up to the
//! latest occurrence the stored object names, whichever is later.

use std::collections::HashSet;

use mailmigrate_core::pim::{CalendarEvent, CalendarObject, EventTime};
use serde_json::{json, Map, Value};
use time::{Date, Duration, PrimitiveDateTime, Time};

use super::map::{self, GraphEvent};
use super::times;
use crate::recurrence::{parse_date, Recurrence};

/// How far a series without end is read.
const OPEN_SERIES_DAYS: i64 = 730;

/// The UTC window `/instances` is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) start: PrimitiveDateTime,
    pub(crate) end: PrimitiveDateTime,
}

fn recurrence(master: &GraphEvent) -> Option<Recurrence> {
    serde_json::from_value(master.fields.get("recurrence")?.clone()).ok()
}

/// The master's first start, local to the zone it was made in.
fn local_start(master: &GraphEvent) -> Option<PrimitiveDateTime> {
    let utc = times::instant_of_graph(master.fields.get("start")?)?;
    Some(times::local_of(utc, &master.zone()))
}

/// The UTC instant of an occurrence's `RECURRENCE-ID` or `EXDATE` in a series made in
/// `zone` (an all-day date is midnight there).
pub(crate) fn key_of(t: &EventTime, zone: &str) -> Option<PrimitiveDateTime> {
    match t {
        EventTime::Date(d) => {
            let m = PrimitiveDateTime::new(*d, Time::MIDNIGHT);
            Some(times::utc_of(m, zone).unwrap_or(m))
        }
        other => times::instant_of(other),
    }
}

/// The window covering every occurrence of `master` worth reading or writing.
pub(crate) fn window(master: &GraphEvent, object: Option<&CalendarObject>) -> Option<Window> {
    let r = recurrence(master)?;
    let first = parse_date(&r.range.start_date)?;
    let zone = master.zone();
    let end = match r.range.kind.as_str() {
        "endDate" => r.range.end_date.as_deref().and_then(parse_date)?,
        "numbered" => {
            let at = local_start(master)?;
            r.occurrences(at, first + Duration::days(365 * 100))
                .last()
                .map_or(first, |t| t.date())
        }
        _ => {
            let latest = object
                .into_iter()
                .flat_map(|o| o.events())
                .flat_map(|e| e.recurrence_id.iter().chain(&e.exdates))
                .filter_map(|t| key_of(t, &zone))
                .map(|t| t.date())
                .max();
            latest
                .map_or(first, |l| l.max(first))
                .max(first + Duration::days(OPEN_SERIES_DAYS))
        }
    };
    Some(Window {
        start: PrimitiveDateTime::new(first - Duration::days(1), Time::MIDNIGHT),
        end: PrimitiveDateTime::new(end + Duration::days(2), Time::MIDNIGHT),
    })
}

/// The original starts (UTC) of every occurrence the pattern makes up to `until`.
fn expected(master: &GraphEvent, until: Date) -> Vec<PrimitiveDateTime> {
    let (Some(r), Some(at)) = (recurrence(master), local_start(master)) else {
        return Vec::new();
    };
    let zone = master.zone();
    r.occurrences(at, until)
        .into_iter()
        .map(|l| times::utc_of(l, &zone).unwrap_or(l))
        .collect()
}

/// The fields an untouched occurrence starting at `key` has: the master's, moved.
pub(crate) fn occurrence_fields(
    master: &Map<String, Value>,
    key: PrimitiveDateTime,
) -> Map<String, Value> {
    let mut f = master.clone();
    let start = master.get("start").and_then(times::instant_of_graph);
    let end = master.get("end").and_then(times::instant_of_graph);
    let length = match (start, end) {
        (Some(s), Some(e)) => e - s,
        _ => Duration::ZERO,
    };
    let at = |t: PrimitiveDateTime| json!({"dateTime": times::fmt_local(t), "timeZone": "UTC"});
    f.insert("start".into(), at(key));
    f.insert("end".into(), at(key + length));
    f.remove("recurrence");
    f
}

/// Whether an exception says what its occurrence would (one this crate put back).
fn is_untouched(master: &GraphEvent, inst: &GraphEvent, key: PrimitiveDateTime) -> bool {
    let untouched = occurrence_fields(&master.fields, key);
    let (Some(a), Some(b)) = (
        map::from_fields(&untouched, "x"),
        map::from_fields(&inst.fields, "x"),
    ) else {
        return false;
    };
    map::merge(&a, &b, &inst.fields) == a
}

/// The core calendar object of a Graph event and (for a series master) its instances.
pub(crate) fn object_of(master: &GraphEvent, instances: &[GraphEvent]) -> Option<CalendarObject> {
    let uid = master.uid();
    let fresh = map::from_fields(&master.fields, &uid)?;
    let stored = master
        .named(&map::ical_property())
        .and_then(|t| CalendarObject::from_ics(t).ok())
        .filter(|o| o.uid() == uid);
    let stored_master = stored.as_ref().and_then(CalendarObject::master);
    let mut m = match stored_master {
        Some(s) => map::merge(s, &fresh, &master.fields),
        None => fresh,
    };
    m.uid.clone_from(&uid);
    let mut events = Vec::new();
    if master.kind.as_deref() == Some("seriesMaster") && m.rrule.is_some() {
        let zone = master.zone();
        let present: HashSet<PrimitiveDateTime> = instances
            .iter()
            .filter_map(GraphEvent::original_start)
            .collect();
        for inst in instances
            .iter()
            .filter(|i| i.kind.as_deref() == Some("exception"))
        {
            let Some(key) = inst.original_start() else {
                continue;
            };
            let stored_o = stored
                .iter()
                .flat_map(CalendarObject::overrides)
                .find(|o| o.recurrence_id.as_ref().and_then(|r| key_of(r, &zone)) == Some(key));
            if stored_o.is_none() && is_untouched(master, inst, key) {
                continue;
            }
            let Some(mut fresh_o) = map::from_fields(&inst.fields, &uid) else {
                continue;
            };
            fresh_o.rrule = None;
            fresh_o.recurrence_id = Some(times::like(key, &m.start, &zone));
            let o = match stored_o {
                Some(s) => map::merge(s, &fresh_o, &inst.fields),
                None => fresh_o,
            };
            events.push(o);
        }
        let until = window(master, stored.as_ref()).map_or(Date::MIN, |w| w.end.date());
        let expected = expected(master, until);
        let cancelled: Vec<PrimitiveDateTime> = expected
            .iter()
            .copied()
            .filter(|k| !present.contains(k))
            .collect();
        let mut exdates = Vec::new();
        let mut covered = HashSet::new();
        for x in stored_master.map(|s| s.exdates.clone()).unwrap_or_default() {
            match key_of(&x, &zone) {
                Some(k) if cancelled.contains(&k) => {
                    covered.insert(k);
                    exdates.push(x);
                }
                // Restored in Outlook since.
                Some(k) if expected.contains(&k) => {}
                _ => exdates.push(x),
            }
        }
        exdates.extend(
            cancelled
                .into_iter()
                .filter(|k| !covered.contains(k))
                .map(|k| times::like(k, &m.start, &zone)),
        );
        m.exdates = exdates;
    }
    events.insert(0, m);
    CalendarObject::from_events(events).ok()
}

/// What a write of `object` asks of the instances: the overrides and the cancelled
/// occurrences by their original start (UTC), for a series made in `zone`.
pub(crate) fn wanted(
    object: &CalendarObject,
    zone: &str,
) -> (
    Vec<(PrimitiveDateTime, CalendarEvent)>,
    HashSet<PrimitiveDateTime>,
) {
    let overrides = object
        .overrides()
        .filter_map(|o| Some((key_of(o.recurrence_id.as_ref()?, zone)?, o.clone())))
        .collect();
    let cancelled = object
        .master()
        .into_iter()
        .flat_map(|m| &m.exdates)
        .filter_map(|x| key_of(x, zone))
        .collect();
    (overrides, cancelled)
}

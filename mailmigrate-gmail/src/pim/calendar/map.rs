//! The one mapping between Google's Event JSON \[GC-DISC\] and core's [`CalendarEvent`].
//!
//! Google's fields hold summary, description, location, start and end (a date, or a
//! wall-clock time with its IANA zone), `recurrence` lines, attendees, the organizer,
//! up to five reminder overrides, transparency, visibility, status and a colour id. The
//! rest of an iCalendar object — parameters, other alarms, `VTIMEZONE`s, attachments,
//! unknown properties, `SEQUENCE` — travels in the master's private extended properties
//! as the object written ([`stored`](crate::pim::stored)). Reading, each part whose fields
//! still say what the written object made of them takes the stored form; a part changed
//! in Google since is read from the fields.

use mailmigrate_core::pim::{
    Alarm, Attendee, CalendarEvent, EventStatus, EventTime, Organizer, Param, PartStat, Property,
    Transparency,
};
use serde_json::{json, Map, Value};
use time::{Date, PrimitiveDateTime};

/// The prefix of the stored calendar object's extended properties.
pub(crate) const ICAL: &str = "mm-ical-";
/// The colour id, which iCalendar has no property for.
const COLOR: &str = "X-GOOGLE-COLOR-ID";
/// The most reminder overrides Google keeps \[GC-DISC\] `reminders.overrides`.
const MAX_REMINDERS: usize = 5;
/// The latest reminder Google keeps, in minutes (4 weeks) \[GC-DISC\] `EventReminder`.
const MAX_MINUTES: i64 = 40_320;

fn fmt_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

fn fmt_local(l: PrimitiveDateTime) -> String {
    format!(
        "{}T{:02}:{:02}:{:02}",
        fmt_date(l.date()),
        l.hour(),
        l.minute(),
        l.second()
    )
}

/// `{date}` for all-day, else `{dateTime, timeZone}`. Google has no floating time: it is
/// written as UTC (the stored object keeps it floating).
pub(crate) fn time_json(t: &EventTime) -> Value {
    match t {
        EventTime::Date(d) => json!({"date": fmt_date(*d)}),
        EventTime::Floating(l) => json!({"dateTime": fmt_local(*l), "timeZone": "UTC"}),
        EventTime::Utc(u) => {
            let u = u.to_offset(time::UtcOffset::UTC);
            json!({"dateTime": format!("{}Z", fmt_local(PrimitiveDateTime::new(u.date(), u.time()))), "timeZone": "UTC"})
        }
        EventTime::Zoned { tzid, local } => {
            json!({"dateTime": fmt_local(*local), "timeZone": tzid})
        }
    }
}

fn is_utc_zone(z: &str) -> bool {
    matches!(z, "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Z")
}

fn parse_wall(s: &str) -> Option<PrimitiveDateTime> {
    let compact: String = s
        .chars()
        .take(19)
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    match EventTime::parse(&compact, Some("x"), false)? {
        EventTime::Zoned { local, .. } => Some(local),
        _ => None,
    }
}

/// A Google time as core's: a date, an instant in UTC, or a wall-clock time in a zone.
pub(crate) fn time_of(v: &Value) -> Option<EventTime> {
    if let Some(d) = v.get("date").and_then(Value::as_str) {
        return EventTime::parse(&d.replace('-', ""), None, true);
    }
    let dt = v.get("dateTime").and_then(Value::as_str)?;
    let zone = v.get("timeZone").and_then(Value::as_str);
    match zone {
        Some(z) if !is_utc_zone(z) => Some(EventTime::Zoned {
            tzid: z.to_owned(),
            local: parse_wall(dt)?,
        }),
        _ => {
            let tail = dt.get(19..).unwrap_or("");
            let tail = tail.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
            if tail.is_empty() || tail == "Z" || tail == "+00:00" {
                return Some(EventTime::Utc(parse_wall(dt)?.assume_utc()));
            }
            let t = time::OffsetDateTime::parse(dt, &time::format_description::well_known::Rfc3339)
                .ok()?;
            Some(EventTime::Utc(t.to_offset(time::UtcOffset::UTC)))
        }
    }
}

/// Seconds of an iCalendar duration (`-PT15M`, `P1D`, `P1W`).
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let s = s.strip_prefix('P')?;
    let (mut total, mut n, mut in_time) = (0i64, String::new(), false);
    for c in s.chars() {
        match c {
            'T' => in_time = true,
            '0'..='9' => n.push(c),
            _ => {
                let v: i64 = n.parse().ok()?;
                n.clear();
                total += v * match (c, in_time) {
                    ('W', false) => 604_800,
                    ('D', false) => 86_400,
                    ('H', true) => 3_600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
            }
        }
    }
    Some(if neg { -total } else { total })
}

/// `t` moved by `secs` (whole days for a date).
pub(crate) fn shift(t: &EventTime, secs: i64) -> EventTime {
    let d = time::Duration::seconds(secs);
    match t {
        EventTime::Date(x) => EventTime::Date(*x + time::Duration::days(secs.div_euclid(86_400))),
        EventTime::Floating(l) => EventTime::Floating(*l + d),
        EventTime::Utc(u) => EventTime::Utc(*u + d),
        EventTime::Zoned { tzid, local } => EventTime::Zoned {
            tzid: tzid.clone(),
            local: *local + d,
        },
    }
}

/// The end Google needs: `DTEND`, else start plus `DURATION`, else the start (a day later
/// for an all-day event, RFC 5545 §3.6.1).
pub(crate) fn end_of(e: &CalendarEvent) -> EventTime {
    if let Some(end) = &e.end {
        return end.clone();
    }
    if let Some(secs) = e.duration.as_deref().and_then(parse_duration) {
        return shift(&e.start, secs);
    }
    if e.start.is_all_day() {
        shift(&e.start, 86_400)
    } else {
        e.start.clone()
    }
}

/// One `recurrence` line for an `EXDATE`.
fn exdate_line(t: &EventTime) -> String {
    match t {
        EventTime::Date(_) => format!("EXDATE;VALUE=DATE:{}", t.value()),
        EventTime::Zoned { tzid, .. } => format!("EXDATE;TZID={tzid}:{}", t.value()),
        _ => format!("EXDATE:{}", t.value()),
    }
}

/// A `recurrence` line split into name, parameters and value.
fn split_line(line: &str) -> (String, Vec<(String, String)>, String) {
    let (head, value) = line.split_once(':').unwrap_or((line, ""));
    let mut parts = head.split(';');
    let name = parts.next().unwrap_or("").trim().to_ascii_uppercase();
    let params = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_uppercase(),
                v.trim_matches('"').to_owned(),
            )
        })
        .collect();
    (name, params, value.trim().to_owned())
}

fn extra<'a>(e: &'a CalendarEvent, name: &str) -> Option<&'a Property> {
    e.extra.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

fn set_extra(e: &mut CalendarEvent, name: &str, p: Option<Property>) {
    e.extra.retain(|x| !x.name.eq_ignore_ascii_case(name));
    e.extra.extend(p);
}

fn address(a: &str) -> &str {
    a.get(..7)
        .filter(|p| p.eq_ignore_ascii_case("mailto:"))
        .map_or(a, |_| &a[7..])
}

fn partstat_json(p: Option<&PartStat>) -> &'static str {
    match p {
        Some(PartStat::Accepted) => "accepted",
        Some(PartStat::Declined) => "declined",
        Some(PartStat::Tentative) => "tentative",
        _ => "needsAction",
    }
}

fn attendee_json(a: &Attendee) -> Value {
    let mut v =
        json!({"email": address(&a.address), "responseStatus": partstat_json(a.partstat.as_ref())});
    if let Some(cn) = &a.common_name {
        v["displayName"] = json!(cn);
    }
    if a.role
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("OPT-PARTICIPANT"))
    {
        v["optional"] = json!(true);
    }
    let resource = a.params.iter().any(|p| {
        p.name.eq_ignore_ascii_case("CUTYPE")
            && p.value()
                .is_some_and(|v| v.eq_ignore_ascii_case("RESOURCE"))
    });
    if resource {
        v["resource"] = json!(true);
    }
    v
}

fn attendee_of(v: &Value) -> Option<Attendee> {
    let email = v.get("email").and_then(Value::as_str)?;
    let mut a = Attendee::new(format!("mailto:{email}"));
    a.common_name = v
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if v.get("optional").and_then(Value::as_bool) == Some(true) {
        a.role = Some("OPT-PARTICIPANT".into());
    }
    if v.get("resource").and_then(Value::as_bool) == Some(true) {
        a.params.push(Param::new("CUTYPE", ["RESOURCE"]));
    }
    a.partstat = match v.get("responseStatus").and_then(Value::as_str) {
        Some("accepted") => Some(PartStat::Accepted),
        Some("declined") => Some(PartStat::Declined),
        Some("tentative") => Some(PartStat::Tentative),
        _ => None,
    };
    Some(a)
}

/// The reminder overrides Google can hold: display and email alarms a duration before
/// the start, at most five.
fn reminders(e: &CalendarEvent) -> Value {
    let overrides: Vec<Value> = e
        .alarms
        .iter()
        .filter_map(|a| {
            let method = match a.action.to_ascii_uppercase().as_str() {
                "DISPLAY" | "AUDIO" => "popup",
                "EMAIL" => "email",
                _ => return None,
            };
            let related_end = a
                .trigger_params
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case("RELATED") && p.value() == Some("END"));
            let secs = parse_duration(&a.trigger)?;
            let minutes = -secs / 60;
            (!related_end && secs <= 0 && minutes <= MAX_MINUTES)
                .then(|| json!({"method": method, "minutes": minutes}))
        })
        .take(MAX_REMINDERS)
        .collect();
    json!({"useDefault": false, "overrides": overrides})
}

fn visibility(e: &CalendarEvent) -> &'static str {
    match extra(e, "CLASS")
        .map(|p| p.value.to_ascii_uppercase())
        .as_deref()
    {
        Some("PUBLIC") => "public",
        Some("PRIVATE") => "private",
        Some("CONFIDENTIAL") => "confidential",
        _ => "default",
    }
}

/// Google's fields for `e` (a master, or an occurrence without `recurrence`).
pub(crate) fn to_google(e: &CalendarEvent) -> Map<String, Value> {
    let mut m = Map::new();
    let text = |s: &Option<String>| json!(s.as_deref().unwrap_or(""));
    m.insert("summary".into(), text(&e.summary));
    m.insert("description".into(), text(&e.description));
    m.insert("location".into(), text(&e.location));
    m.insert("start".into(), time_json(&e.start));
    m.insert("end".into(), time_json(&end_of(e)));
    let mut rec = Vec::new();
    if let Some(r) = &e.rrule {
        rec.push(json!(format!("RRULE:{r}")));
        rec.extend(e.exdates.iter().map(|x| json!(exdate_line(x))));
    }
    if !rec.is_empty() {
        m.insert("recurrence".into(), Value::Array(rec));
    }
    m.insert(
        "attendees".into(),
        e.attendees.iter().map(attendee_json).collect(),
    );
    if let Some(o) = &e.organizer {
        let mut v = json!({"email": address(&o.address)});
        if let Some(cn) = &o.common_name {
            v["displayName"] = json!(cn);
        }
        m.insert("organizer".into(), v);
    }
    m.insert("reminders".into(), reminders(e));
    let transparency = match e.transparency {
        Some(Transparency::Transparent) => "transparent",
        _ => "opaque",
    };
    m.insert("transparency".into(), json!(transparency));
    m.insert("visibility".into(), json!(visibility(e)));
    if let Some(s) = &e.status {
        let s = match s {
            EventStatus::Tentative => "tentative",
            _ => "confirmed",
        };
        m.insert("status".into(), json!(s));
    }
    if let Some(c) = extra(e, COLOR) {
        m.insert("colorId".into(), json!(c.value));
    }
    m
}

/// The event Google's fields alone say (one made in Google, or a part changed there).
pub(crate) fn from_google(f: &Map<String, Value>, uid: &str) -> Option<CalendarEvent> {
    let start = time_of(f.get("start")?)?;
    let mut e = CalendarEvent::new(uid, start);
    e.end = f.get("end").and_then(time_of);
    let text = |k: &str| {
        f.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    e.summary = text("summary");
    e.description = text("description");
    e.location = text("location");
    for line in f
        .get("recurrence")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let (name, params, value) = split_line(line);
        match name.as_str() {
            "RRULE" => e.rrule = Some(value),
            "EXDATE" => {
                let tz = params
                    .iter()
                    .find(|(k, _)| k == "TZID")
                    .map(|(_, v)| v.as_str());
                let date = params.iter().any(|(k, v)| k == "VALUE" && v == "DATE");
                e.exdates.extend(
                    value
                        .split(',')
                        .filter_map(|v| EventTime::parse(v, tz, date)),
                );
            }
            _ => {
                let mut p = Property::new(&name, value);
                for (k, v) in params {
                    p.params.push(Param::new(&k, [v]));
                }
                e.extra.push(p);
            }
        }
    }
    e.attendees = f
        .get("attendees")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(attendee_of)
        .collect();
    e.organizer = f
        .get("organizer")
        .filter(|o| o.get("self").and_then(Value::as_bool) != Some(true))
        .and_then(|o| {
            let mut org = Organizer::new(format!("mailto:{}", o.get("email")?.as_str()?));
            org.common_name = o
                .get("displayName")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Some(org)
        });
    for r in f
        .get("reminders")
        .and_then(|r| r.get("overrides"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let minutes = r.get("minutes").and_then(Value::as_i64).unwrap_or(0);
        let action = match r.get("method").and_then(Value::as_str) {
            Some("email") => "EMAIL",
            _ => "DISPLAY",
        };
        let mut a = Alarm::new(action, format!("-PT{minutes}M"));
        a.description = Some("Reminder".into());
        e.alarms.push(a);
    }
    e.transparency = match f.get("transparency").and_then(Value::as_str) {
        Some("transparent") => Some(Transparency::Transparent),
        _ => None,
    };
    let class = match f.get("visibility").and_then(Value::as_str) {
        Some("public") => Some("PUBLIC"),
        Some("private") => Some("PRIVATE"),
        Some("confidential") => Some("CONFIDENTIAL"),
        _ => None,
    };
    set_extra(&mut e, "CLASS", class.map(|c| Property::new("CLASS", c)));
    e.status = match f.get("status").and_then(Value::as_str) {
        Some("tentative") => Some(EventStatus::Tentative),
        _ => None,
    };
    if let Some(c) = f.get("colorId").and_then(Value::as_str) {
        set_extra(&mut e, COLOR, Some(Property::new(COLOR, c)));
    }
    Some(e)
}

/// One group of fields and the part of an event it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Summary,
    Description,
    Location,
    Times,
    Recurrence,
    Attendees,
    Organizer,
    Reminders,
    Transparency,
    Visibility,
    Status,
    Color,
}

const PARTS: [Part; 12] = [
    Part::Summary,
    Part::Description,
    Part::Location,
    Part::Times,
    Part::Recurrence,
    Part::Attendees,
    Part::Organizer,
    Part::Reminders,
    Part::Transparency,
    Part::Visibility,
    Part::Status,
    Part::Color,
];

fn norm_str(f: &Map<String, Value>, k: &str, default: &str) -> String {
    let s = f.get(k).and_then(Value::as_str).unwrap_or("").trim();
    if s.is_empty() {
        default.to_owned()
    } else {
        s.to_owned()
    }
}

fn norm_attendees(f: &Map<String, Value>) -> Vec<(String, bool, String)> {
    let mut v: Vec<(String, bool, String)> = f
        .get("attendees")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| {
            Some((
                a.get("email")?.as_str()?.to_ascii_lowercase(),
                a.get("optional").and_then(Value::as_bool).unwrap_or(false),
                a.get("responseStatus")
                    .and_then(Value::as_str)
                    .unwrap_or("needsAction")
                    .to_owned(),
            ))
        })
        .collect();
    v.sort();
    v
}

fn norm_reminders(f: &Map<String, Value>) -> (bool, Vec<(String, i64)>) {
    let r = f.get("reminders");
    let default = r
        .and_then(|r| r.get("useDefault"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let mut o: Vec<(String, i64)> = r
        .and_then(|r| r.get("overrides"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|x| {
            (
                x.get("method")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                x.get("minutes").and_then(Value::as_i64).unwrap_or(0),
            )
        })
        .collect();
    o.sort();
    (default, o)
}

fn norm_recurrence(f: &Map<String, Value>) -> Vec<String> {
    let mut v: Vec<String> = f
        .get("recurrence")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|l| l.trim().to_owned())
        .collect();
    v.sort();
    v
}

/// Whether part `p` says the same in the fields written and the fields now.
fn same(p: Part, w: &Map<String, Value>, n: &Map<String, Value>) -> bool {
    match p {
        Part::Summary => norm_str(w, "summary", "") == norm_str(n, "summary", ""),
        Part::Description => norm_str(w, "description", "") == norm_str(n, "description", ""),
        Part::Location => norm_str(w, "location", "") == norm_str(n, "location", ""),
        Part::Times => ["start", "end"]
            .iter()
            .all(|k| w.get(*k).and_then(time_of) == n.get(*k).and_then(time_of)),
        Part::Recurrence => norm_recurrence(w) == norm_recurrence(n),
        Part::Attendees => norm_attendees(w) == norm_attendees(n),
        Part::Organizer => {
            let email = |f: &Map<String, Value>| {
                f.get("organizer")
                    .filter(|o| o.get("self").and_then(Value::as_bool) != Some(true))
                    .and_then(|o| o.get("email"))
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
            };
            // Google names an organizer for an event given none (the calendar itself, or
            // for an occurrence the series'): only an organizer written is compared.
            w.get("organizer").is_none() || email(w) == email(n)
        }
        Part::Reminders => norm_reminders(w) == norm_reminders(n),
        Part::Transparency => {
            norm_str(w, "transparency", "opaque") == norm_str(n, "transparency", "opaque")
        }
        Part::Visibility => {
            norm_str(w, "visibility", "default") == norm_str(n, "visibility", "default")
        }
        Part::Status => norm_str(w, "status", "confirmed") == norm_str(n, "status", "confirmed"),
        Part::Color => norm_str(w, "colorId", "") == norm_str(n, "colorId", ""),
    }
}

/// Replaces part `p` of `into` with `from`'s.
fn take(p: Part, from: &CalendarEvent, into: &mut CalendarEvent) {
    match p {
        Part::Summary => {
            into.summary.clone_from(&from.summary);
            into.params.remove("SUMMARY");
        }
        Part::Description => {
            into.description.clone_from(&from.description);
            into.params.remove("DESCRIPTION");
        }
        Part::Location => {
            into.location.clone_from(&from.location);
            into.params.remove("LOCATION");
        }
        Part::Times => {
            into.start = from.start.clone();
            into.end.clone_from(&from.end);
            into.duration = None;
            into.params.remove("DTSTART");
            into.params.remove("DTEND");
        }
        Part::Recurrence => {
            into.rrule.clone_from(&from.rrule);
            into.exdates.clone_from(&from.exdates);
        }
        Part::Attendees => into.attendees.clone_from(&from.attendees),
        Part::Organizer => into.organizer.clone_from(&from.organizer),
        Part::Reminders => into.alarms.clone_from(&from.alarms),
        Part::Transparency => into.transparency.clone_from(&from.transparency),
        Part::Visibility => set_extra(into, "CLASS", extra(from, "CLASS").cloned()),
        Part::Status => into.status.clone_from(&from.status),
        Part::Color => set_extra(into, COLOR, extra(from, COLOR).cloned()),
    }
}

/// `stored` (the event as written) with every part Google's fields `now` no longer say as
/// written taken from `fresh` (the event the fields say).
pub(crate) fn merge(
    stored: &CalendarEvent,
    fresh: &CalendarEvent,
    now: &Map<String, Value>,
    occurrence: bool,
) -> CalendarEvent {
    let mut written = to_google(stored);
    if occurrence {
        written.remove("recurrence");
    }
    let mut out = stored.clone();
    for p in PARTS {
        if !same(p, &written, now) {
            take(p, fresh, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::pim::CalendarObject;

    fn ev(lines: &str) -> CalendarEvent {
        let ics = format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u@x\r\n{lines}END:VEVENT\r\nEND:VCALENDAR\r\n");
        CalendarObject::from_ics(&ics).unwrap().events()[0].clone()
    }

    #[test]
    fn fields_round_trip_and_changes_win() {
        let e = ev("DTSTART;TZID=Europe/Berlin:20250106T090000\r\nDTEND;TZID=Europe/Berlin:20250106T093000\r\n\
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10\r\nEXDATE;TZID=Europe/Berlin:20250120T090000\r\nSUMMARY;LANGUAGE=de:Stand-up\r\n\
CLASS:PRIVATE\r\nTRANSP:TRANSPARENT\r\nSEQUENCE:3\r\nATTENDEE;CN=Bo;ROLE=OPT-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:bo@example.com\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nEND:VALARM\r\nBEGIN:VALARM\r\nACTION:AUDIO\r\nTRIGGER;RELATED=END:PT0M\r\nEND:VALARM\r\n");
        let f = to_google(&e);
        assert_eq!(
            f["start"],
            json!({"dateTime": "2025-01-06T09:00:00", "timeZone": "Europe/Berlin"})
        );
        assert_eq!(
            f["recurrence"],
            json!([
                "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10",
                "EXDATE;TZID=Europe/Berlin:20250120T090000"
            ])
        );
        assert_eq!(
            f["reminders"]["overrides"],
            json!([{"method": "popup", "minutes": 10}])
        );
        assert_eq!(
            (f["visibility"].as_str(), f["transparency"].as_str()),
            (Some("private"), Some("transparent"))
        );
        assert_eq!(f["attendees"][0]["optional"], true);
        let fresh = from_google(&f, "u@x").unwrap();
        assert_eq!(fresh.exdates, e.exdates);
        assert_eq!(merge(&e, &fresh, &f, false), e);
        let mut now = f.clone();
        now.insert("summary".into(), json!("Daily"));
        now.insert(
            "start".into(),
            json!({"dateTime": "2025-01-06T10:00:00+01:00", "timeZone": "Europe/Berlin"}),
        );
        let fresh = from_google(&now, "u@x").unwrap();
        let got = merge(&e, &fresh, &now, false);
        assert_eq!(got.summary.as_deref(), Some("Daily"));
        assert_eq!(got.start.value(), "20250106T100000");
        assert_eq!(got.alarms.len(), 2, "alarms Google cannot hold are kept");
        assert_eq!(got.sequence, Some(3));
    }

    #[test]
    fn times_read_as_dates_instants_and_zoned() {
        assert!(time_of(&json!({"date": "2025-04-12"}))
            .unwrap()
            .is_all_day());
        let u = time_of(&json!({"dateTime": "2025-01-31T16:00:00+01:00"})).unwrap();
        assert_eq!(u.value(), "20250131T150000Z");
        assert_eq!(parse_duration("-PT1H30M"), Some(-5400));
        assert_eq!(parse_duration("P1W"), Some(604_800));
    }
}

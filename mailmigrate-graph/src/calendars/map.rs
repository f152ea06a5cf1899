//! The one mapping between Graph's event JSON \[G-EVT\] and core's [`CalendarEvent`].
//!
//! Graph's fields hold what Outlook shows: subject, a text or HTML body, start and end
//! with their zone, all-day, location, the recurrence pattern, categories, show-as,
//! sensitivity, importance, one reminder, the organizer and the attendees. The rest of an
//! iCalendar event — parameters, further alarms, `VTIMEZONE` definitions, attachments by
//! reference, unknown properties, and the attendees of an event written without
//! notifications — travels in a named property holding the calendar object as written
//! (`mailmigrate-ical`, \[G-EXT\]). Reading, each part whose Graph fields still say what the
//! stored object says takes the stored form; a part changed in Outlook since is read from
//! the fields. Attendees Graph lists none of are the stored ones: an event written without
//! notifications has none in Graph.
//!
//! Core has no typed field for some of Graph's: categories are `CATEGORIES`, sensitivity
//! `CLASS` (`personal` as `X-PERSONAL`), importance `PRIORITY` (1 high, 9 low), show-as
//! `TRANSP` with Outlook's own `X-MICROSOFT-CDO-BUSYSTATUS` for tentative, away and
//! working elsewhere, an HTML body `X-ALT-DESC;FMTTYPE=text/html` beside its text.

use mailmigrate_core::pim::{
    escape_text, unescape_text, Alarm, Attendee, CalendarEvent, EventTime, Organizer, Param,
    PartStat, Property, Transparency,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::PrimitiveDateTime;

use super::times;
use crate::extended::{self, named_string};
use crate::recurrence::{Anchor, Recurrence};

/// The property holding the calendar object the event was written from.
pub(crate) fn ical_property() -> String {
    named_string("mailmigrate-ical")
}

/// The fields a read asks for (`$select`).
pub(crate) const SELECT: &str = "changeKey,type,seriesMasterId,originalStart,iCalUId,subject,body,start,end,originalStartTimeZone,originalEndTimeZone,isAllDay,location,attendees,organizer,recurrence,showAs,sensitivity,importance,categories,reminderMinutesBeforeStart,isReminderOn";

const HTML: &str = "X-ALT-DESC";
const BUSY: &str = "X-MICROSOFT-CDO-BUSYSTATUS";

/// An event (a series master, a single instance, an occurrence or an exception) as Graph
/// returns it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GraphEvent {
    pub(crate) id: String,
    pub(crate) change_key: Option<String>,
    /// `singleInstance`, `occurrence`, `exception`, `seriesMaster`.
    #[serde(rename = "type", default)]
    pub(crate) kind: Option<String>,
    /// An occurrence's start as the pattern set it (UTC).
    #[serde(default)]
    pub(crate) original_start: Option<String>,
    #[serde(default)]
    single_value_extended_properties: Vec<extended::NamedValue>,
    #[serde(flatten)]
    pub(crate) fields: Map<String, Value>,
}

impl GraphEvent {
    /// The value of the named property `id`, when the read expanded it.
    pub(crate) fn named(&self, id: &str) -> Option<&str> {
        extended::value_of(&self.single_value_extended_properties, id)
    }

    /// The `UID` this crate stamped, else Graph's `iCalUId`.
    pub(crate) fn uid(&self) -> String {
        self.named(&extended::uid_property())
            .or_else(|| self.fields.get("iCalUId").and_then(Value::as_str))
            .unwrap_or(&self.id)
            .to_owned()
    }

    /// The zone the event was made in (`originalStartTimeZone`, else its start's).
    pub(crate) fn zone(&self) -> String {
        self.fields
            .get("originalStartTimeZone")
            .and_then(Value::as_str)
            .or_else(|| self.fields.get("start")?.get("timeZone")?.as_str())
            .unwrap_or("UTC")
            .to_owned()
    }

    /// An occurrence's `originalStart` as a UTC instant.
    pub(crate) fn original_start(&self) -> Option<PrimitiveDateTime> {
        times::parse_local(self.original_start.as_deref()?)
    }
}

fn extra<'a>(e: &'a CalendarEvent, name: &str) -> Option<&'a Property> {
    e.extra.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

fn set_extra(e: &mut CalendarEvent, name: &str, p: Option<Property>) {
    e.extra.retain(|x| !x.name.eq_ignore_ascii_case(name));
    e.extra.extend(p);
}

/// `CATEGORIES` values, every such property of the event.
fn categories(e: &CalendarEvent) -> Vec<String> {
    e.extra
        .iter()
        .filter(|p| p.name.eq_ignore_ascii_case("CATEGORIES"))
        .flat_map(|p| split_list(&p.value))
        .collect()
}

/// A text list (`a,b\,c`) split on unescaped commas, unescaped.
fn split_list(v: &str) -> Vec<String> {
    let (mut out, mut cur, mut esc) = (Vec::new(), String::new(), false);
    for c in v.chars() {
        match (c, esc) {
            (',', false) => out.push(unescape_text(&std::mem::take(&mut cur))),
            ('\\', false) => {
                esc = true;
                cur.push(c);
            }
            _ => {
                esc = false;
                cur.push(c);
            }
        }
    }
    out.push(unescape_text(&cur));
    out.retain(|s| !s.is_empty());
    out
}

/// The alarm Graph's reminder is: the first that fires a duration before the start.
fn reminder_index(e: &CalendarEvent) -> Option<(usize, i64)> {
    e.alarms.iter().enumerate().find_map(|(i, a)| {
        let related_end = a
            .trigger_params
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case("RELATED") && p.value() == Some("END"));
        let secs = times::parse_duration(&a.trigger)?;
        (!related_end && secs <= 0).then_some((i, -secs / 60))
    })
}

fn show_as(e: &CalendarEvent) -> &'static str {
    match extra(e, BUSY)
        .map(|p| p.value.to_ascii_uppercase())
        .as_deref()
    {
        Some("TENTATIVE") => return "tentative",
        Some("OOF") => return "oof",
        Some("WORKINGELSEWHERE") => return "workingElsewhere",
        Some("FREE") => return "free",
        _ => {}
    }
    match e.transparency {
        Some(Transparency::Transparent) => "free",
        _ => "busy",
    }
}

fn sensitivity(e: &CalendarEvent) -> &'static str {
    match extra(e, "CLASS")
        .map(|p| p.value.to_ascii_uppercase())
        .as_deref()
    {
        Some("PRIVATE") => "private",
        Some("CONFIDENTIAL") => "confidential",
        Some("X-PERSONAL") => "personal",
        _ => "normal",
    }
}

fn importance(e: &CalendarEvent) -> &'static str {
    match extra(e, "PRIORITY").and_then(|p| p.value.trim().parse::<u8>().ok()) {
        Some(1..=4) => "high",
        Some(6..=9) => "low",
        _ => "normal",
    }
}

fn address(a: &str) -> &str {
    a.get(..7)
        .filter(|p| p.eq_ignore_ascii_case("mailto:"))
        .map_or(a, |_| &a[7..])
}

fn attendee_json(a: &Attendee) -> Value {
    let resource = a.params.iter().any(|p| {
        p.name.eq_ignore_ascii_case("CUTYPE")
            && p.value()
                .is_some_and(|v| v.eq_ignore_ascii_case("RESOURCE"))
    });
    let kind = match (resource, a.role.as_deref()) {
        (true, _) => "resource",
        (_, Some(r)) if r.eq_ignore_ascii_case("OPT-PARTICIPANT") => "optional",
        _ => "required",
    };
    json!({
        "emailAddress": {"address": address(&a.address), "name": a.common_name.as_deref().unwrap_or("")},
        "type": kind,
    })
}

/// The Graph fields of `e`: every field this crate writes (unset ones empty, so a `PATCH`
/// with them replaces the event), attendees only when they are to be invited.
///
/// # Errors
/// A recurrence rule Graph has no pattern for, as text.
pub(crate) fn to_fields(
    e: &CalendarEvent,
    with_attendees: bool,
) -> Result<Map<String, Value>, String> {
    let mut m = Map::new();
    m.insert("subject".into(), json!(e.summary.as_deref().unwrap_or("")));
    let body = match extra(e, HTML) {
        Some(p) => json!({"contentType": "html", "content": p.text()}),
        None => json!({"contentType": "text", "content": e.description.as_deref().unwrap_or("")}),
    };
    m.insert("body".into(), body);
    let end = times::end_of(&e.start, e.end.as_ref(), e.duration.as_deref());
    m.insert("start".into(), times::to_graph(&e.start));
    m.insert("end".into(), times::to_graph(&end));
    m.insert("isAllDay".into(), json!(e.start.is_all_day()));
    m.insert(
        "location".into(),
        json!({"displayName": e.location.as_deref().unwrap_or("")}),
    );
    let recurrence = match &e.rrule {
        None => Value::Null,
        Some(rule) => {
            let r = Recurrence::from_rule(rule, &anchor(&e.start))?;
            serde_json::to_value(r).unwrap_or(Value::Null)
        }
    };
    m.insert("recurrence".into(), recurrence);
    m.insert("categories".into(), json!(categories(e)));
    m.insert("showAs".into(), json!(show_as(e)));
    m.insert("sensitivity".into(), json!(sensitivity(e)));
    m.insert("importance".into(), json!(importance(e)));
    match reminder_index(e) {
        Some((_, minutes)) => {
            m.insert("isReminderOn".into(), json!(true));
            m.insert("reminderMinutesBeforeStart".into(), json!(minutes));
        }
        None => {
            m.insert("isReminderOn".into(), json!(false));
        }
    }
    if with_attendees {
        m.insert(
            "attendees".into(),
            e.attendees.iter().map(attendee_json).collect(),
        );
    }
    Ok(m)
}

/// Where a series with this start begins, for its rule.
pub(crate) fn anchor(start: &EventTime) -> Anchor {
    let (local, zone) = match start {
        EventTime::Date(d) => (PrimitiveDateTime::new(*d, time::Time::MIDNIGHT), "UTC"),
        EventTime::Floating(l) => (*l, "UTC"),
        EventTime::Utc(u) => (PrimitiveDateTime::new(u.date(), u.time()), "UTC"),
        EventTime::Zoned { tzid, local } => (*local, tzid.as_str()),
    };
    Anchor {
        start: local,
        zone: Some(zone.to_owned()),
        all_day: start.is_all_day(),
    }
}

/// Text of an HTML body: tags dropped, block ends as line breaks, the common entities.
fn text_of_html(html: &str) -> String {
    let (mut out, mut in_tag, mut tag) = (String::new(), false, String::new());
    for c in html.chars() {
        match (c, in_tag) {
            ('<', false) => {
                in_tag = true;
                tag.clear();
            }
            ('>', true) => {
                in_tag = false;
                let t = tag.trim_start_matches('/').to_ascii_lowercase();
                if ["br", "p", "div", "li", "tr"]
                    .iter()
                    .any(|b| t.starts_with(b))
                    && tag.starts_with('/')
                    || t.starts_with("br")
                {
                    out.push('\n');
                }
            }
            (c, true) => tag.push(c),
            (c, false) => out.push(c),
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.trim().to_owned()
}

/// `f[outer][inner]`.
fn at<'a>(f: &'a Map<String, Value>, outer: &str, inner: &str) -> Option<&'a Value> {
    f.get(outer)?.get(inner)
}

fn str_field<'a>(f: &'a Map<String, Value>, k: &str) -> &'a str {
    f.get(k).and_then(Value::as_str).unwrap_or("")
}

fn person(v: &Value) -> Option<(String, Option<String>)> {
    let e = v.get("emailAddress")?;
    let addr = e
        .get("address")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())?;
    let name = e
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty() && *n != addr)
        .map(str::to_owned);
    Some((format!("mailto:{addr}"), name))
}

fn attendee_of(v: &Value) -> Option<Attendee> {
    let (address, name) = person(v)?;
    let mut a = Attendee::new(address);
    a.common_name = name;
    match v.get("type").and_then(Value::as_str) {
        Some("optional") => a.role = Some("OPT-PARTICIPANT".into()),
        Some("resource") => a.params.push(Param::new("CUTYPE", ["RESOURCE"])),
        _ => a.role = Some("REQ-PARTICIPANT".into()),
    }
    a.partstat = match v.pointer("/status/response").and_then(Value::as_str) {
        Some("accepted" | "organizer") => Some(PartStat::Accepted),
        Some("declined") => Some(PartStat::Declined),
        Some("tentativelyAccepted") => Some(PartStat::Tentative),
        Some("notResponded") => Some(PartStat::NeedsAction),
        _ => None,
    };
    Some(a)
}

/// The event the fields alone say (one made in Outlook, or a part changed there).
pub(crate) fn from_fields(f: &Map<String, Value>, uid: &str) -> Option<CalendarEvent> {
    let all_day = f.get("isAllDay").and_then(Value::as_bool).unwrap_or(false);
    let made_in = f.get("originalStartTimeZone").and_then(Value::as_str);
    let start = times::from_graph(f.get("start")?, made_in, all_day)?;
    let mut e = CalendarEvent::new(uid, start);
    let ends_in = f
        .get("originalEndTimeZone")
        .and_then(Value::as_str)
        .or(made_in);
    e.end = f
        .get("end")
        .and_then(|v| times::from_graph(v, ends_in, all_day));
    e.summary = Some(str_field(f, "subject").to_owned()).filter(|s| !s.is_empty());
    let content = at(f, "body", "content")
        .and_then(Value::as_str)
        .unwrap_or("");
    let html = at(f, "body", "contentType")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("html"));
    if html && !content.is_empty() {
        e.extra.push(
            Property::new(HTML, escape_text(content))
                .with_param(Param::new("FMTTYPE", ["text/html"])),
        );
        e.description = Some(text_of_html(content)).filter(|s| !s.is_empty());
    } else {
        e.description = Some(content.to_owned()).filter(|s| !s.is_empty());
    }
    e.location = at(f, "location", "displayName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if let Some(r) = f
        .get("recurrence")
        .filter(|r| !r.is_null())
        .and_then(|r| serde_json::from_value::<Recurrence>(r.clone()).ok())
    {
        e.rrule = Some(r.to_rule(&anchor(&e.start)));
    }
    let cats: Vec<String> = f
        .get("categories")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(escape_text)
        .collect();
    if !cats.is_empty() {
        e.extra.push(Property::new("CATEGORIES", cats.join(",")));
    }
    take_flags(f, &mut e);
    if f.get("isReminderOn").and_then(Value::as_bool) == Some(true) {
        let n = f
            .get("reminderMinutesBeforeStart")
            .and_then(Value::as_i64)
            .unwrap_or(15);
        let mut a = Alarm::new("DISPLAY", format!("-PT{n}M"));
        a.description = Some("Reminder".into());
        e.alarms.push(a);
    }
    e.organizer = f.get("organizer").and_then(person).map(|(address, name)| {
        let mut o = Organizer::new(address);
        o.common_name = name;
        o
    });
    e.attendees = f
        .get("attendees")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(attendee_of)
        .collect();
    Some(e)
}

/// Show-as, sensitivity and importance from the fields into `e`.
fn take_flags(f: &Map<String, Value>, e: &mut CalendarEvent) {
    let (transparency, busy) = match str_field(f, "showAs") {
        "free" => (Some(Transparency::Transparent), None),
        "tentative" => (Some(Transparency::Opaque), Some("TENTATIVE")),
        "oof" => (Some(Transparency::Opaque), Some("OOF")),
        "workingElsewhere" => (Some(Transparency::Opaque), Some("WORKINGELSEWHERE")),
        "busy" => (Some(Transparency::Opaque), None),
        _ => (None, None),
    };
    e.transparency = transparency;
    set_extra(e, BUSY, busy.map(|b| Property::new(BUSY, b)));
    let class = match str_field(f, "sensitivity") {
        "private" => Some("PRIVATE"),
        "confidential" => Some("CONFIDENTIAL"),
        "personal" => Some("X-PERSONAL"),
        _ => None,
    };
    set_extra(e, "CLASS", class.map(|c| Property::new("CLASS", c)));
    let priority = match str_field(f, "importance") {
        "high" => Some("1"),
        "low" => Some("9"),
        _ => None,
    };
    set_extra(
        e,
        "PRIORITY",
        priority.map(|p| Property::new("PRIORITY", p)),
    );
}

/// One group of Graph fields and the part of an event it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Subject,
    Body,
    Times,
    Location,
    Recurrence,
    Categories,
    Flags,
    Reminder,
}

const PARTS: [Part; 8] = [
    Part::Subject,
    Part::Body,
    Part::Times,
    Part::Location,
    Part::Recurrence,
    Part::Categories,
    Part::Flags,
    Part::Reminder,
];

fn norm_str(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or("").trim().to_owned()
}

/// A recurrence as compared: what the pattern and range say, not how Graph spells the
/// defaults (`endDate` `0001-01-01` of a range without one, `firstDayOfWeek` of a
/// pattern that has no weeks, the zone's name).
fn norm_recurrence(v: Option<&Value>) -> Option<Recurrence> {
    let mut r: Recurrence = serde_json::from_value(v?.clone()).ok()?;
    r.pattern
        .days_of_week
        .iter_mut()
        .for_each(|d| d.make_ascii_lowercase());
    r.pattern.days_of_week.sort();
    if r.pattern.kind != "weekly" {
        r.pattern.first_day_of_week = None;
    }
    if !r.pattern.kind.starts_with("relative") {
        r.pattern.index = None;
    }
    if r.range.kind != "endDate" {
        r.range.end_date = None;
    }
    if r.range.kind != "numbered" {
        r.range.number_of_occurrences = 0;
    }
    r.range.recurrence_time_zone = None;
    Some(r)
}

/// Whether part `p` says the same in both sets of fields. Times compare as instants (Graph
/// answers in UTC); a zone outside the table cannot be compared and counts as the same.
fn same(p: Part, a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let instant = |f: &Map<String, Value>, k: &str| f.get(k).and_then(times::instant_of_graph);
    match p {
        Part::Subject => norm_str(a.get("subject")) == norm_str(b.get("subject")),
        Part::Body => {
            let kind = |f: &Map<String, Value>| {
                norm_str(at(f, "body", "contentType")).to_ascii_lowercase()
            };
            let content = |f: &Map<String, Value>| norm_str(at(f, "body", "content"));
            content(a) == content(b) && (content(a).is_empty() || kind(a) == kind(b))
        }
        Part::Times => {
            let flag = |f: &Map<String, Value>| {
                f.get("isAllDay").and_then(Value::as_bool).unwrap_or(false)
            };
            flag(a) == flag(b)
                && ["start", "end"]
                    .iter()
                    .all(|k| match (instant(a, k), instant(b, k)) {
                        (Some(x), Some(y)) => x == y,
                        _ => true,
                    })
        }
        Part::Location => {
            norm_str(at(a, "location", "displayName")) == norm_str(at(b, "location", "displayName"))
        }
        Part::Recurrence => {
            norm_recurrence(a.get("recurrence")) == norm_recurrence(b.get("recurrence"))
        }
        Part::Categories => {
            a.get("categories").unwrap_or(&json!([])) == b.get("categories").unwrap_or(&json!([]))
        }
        Part::Flags => [
            ("showAs", "busy"),
            ("sensitivity", "normal"),
            ("importance", "normal"),
        ]
        .iter()
        .all(|(k, default)| {
            let v = |f: &Map<String, Value>| {
                Some(norm_str(f.get(*k)))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| (*default).to_owned())
            };
            v(a) == v(b)
        }),
        Part::Reminder => {
            let on = |f: &Map<String, Value>| {
                f.get("isReminderOn")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            };
            let minutes = |f: &Map<String, Value>| {
                f.get("reminderMinutesBeforeStart").and_then(Value::as_i64)
            };
            on(a) == on(b) && (!on(a) || minutes(a) == minutes(b))
        }
    }
}

fn params(e: &mut CalendarEvent, name: &str) {
    e.params.remove(name);
}

/// Replaces part `p` of `into` with `from`'s.
fn take(p: Part, from: &CalendarEvent, into: &mut CalendarEvent) {
    match p {
        Part::Subject => {
            into.summary.clone_from(&from.summary);
            params(into, "SUMMARY");
        }
        Part::Body => {
            into.description.clone_from(&from.description);
            params(into, "DESCRIPTION");
            set_extra(into, HTML, extra(from, HTML).cloned());
        }
        Part::Times => {
            into.start = from.start.clone();
            into.end.clone_from(&from.end);
            into.duration = None;
            params(into, "DTSTART");
            params(into, "DTEND");
        }
        Part::Location => {
            into.location.clone_from(&from.location);
            params(into, "LOCATION");
        }
        Part::Recurrence => into.rrule.clone_from(&from.rrule),
        Part::Categories => {
            into.extra
                .retain(|x| !x.name.eq_ignore_ascii_case("CATEGORIES"));
            into.extra.extend(
                from.extra
                    .iter()
                    .filter(|x| x.name.eq_ignore_ascii_case("CATEGORIES"))
                    .cloned(),
            );
        }
        Part::Flags => {
            into.transparency.clone_from(&from.transparency);
            for name in [BUSY, "CLASS", "PRIORITY"] {
                set_extra(into, name, extra(from, name).cloned());
            }
        }
        Part::Reminder => match (reminder_index(into), reminder_index(from)) {
            (Some((i, _)), Some((j, _))) => {
                into.alarms[i].trigger.clone_from(&from.alarms[j].trigger)
            }
            (Some((i, _)), None) => {
                into.alarms.remove(i);
            }
            (None, Some((j, _))) => into.alarms.insert(0, from.alarms[j].clone()),
            (None, None) => {}
        },
    }
}

/// `stored` (the event as written) with every part Graph's fields `now` no longer say
/// taken from `fresh` (the event the fields say); the attendees are Graph's when it lists
/// any and they are not the stored ones.
pub(crate) fn merge(
    stored: &CalendarEvent,
    fresh: &CalendarEvent,
    now: &Map<String, Value>,
) -> CalendarEvent {
    let mut out = stored.clone();
    let Ok(written) = to_fields(stored, true) else {
        return fresh.clone();
    };
    for p in PARTS {
        if !same(p, &written, now) {
            take(p, fresh, &mut out);
        }
    }
    let addresses = |e: &CalendarEvent| {
        let mut v: Vec<String> = e
            .attendees
            .iter()
            .map(|a| address(&a.address).to_ascii_lowercase())
            .collect();
        v.sort();
        v
    };
    if !fresh.attendees.is_empty() && addresses(fresh) != addresses(stored) {
        out.attendees.clone_from(&fresh.attendees);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::pim::CalendarObject;

    fn series() -> CalendarEvent {
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:s@x\r\n\
DTSTART;TZID=Europe/Berlin:20250106T090000\r\nDTEND;TZID=Europe/Berlin:20250106T093000\r\n\
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10\r\nSUMMARY;LANGUAGE=de:Stand-up\r\nLOCATION:Room 1\r\n\
CATEGORIES:work,team\r\nCLASS:PRIVATE\r\nPRIORITY:1\r\nTRANSP:TRANSPARENT\r\n\
ATTENDEE;CN=Bo;PARTSTAT=ACCEPTED:mailto:bo@example.com\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nEND:VALARM\r\n\
BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-P1D\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        CalendarObject::from_ics(ics).unwrap().events()[0].clone()
    }

    /// What Graph answers for fields written: times in UTC, the zone made in beside them.
    fn answered(f: &Map<String, Value>) -> Map<String, Value> {
        let mut g = f.clone();
        for (k, z) in [
            ("start", "originalStartTimeZone"),
            ("end", "originalEndTimeZone"),
        ] {
            let zone = f[k]["timeZone"].as_str().unwrap().to_owned();
            let utc = times::instant_of_graph(&f[k]).unwrap();
            g.insert(k.into(), json!({"dateTime": format!("{}.0000000", times::fmt_local(utc)), "timeZone": "UTC"}));
            g.insert(z.into(), json!(zone));
        }
        g
    }

    #[test]
    fn fields_hold_what_outlook_shows() {
        let e = series();
        let f = to_fields(&e, false).unwrap();
        assert_eq!(f["subject"], "Stand-up");
        assert_eq!(
            f["start"],
            json!({"dateTime": "2025-01-06T09:00:00", "timeZone": "Europe/Berlin"})
        );
        assert_eq!(f["recurrence"]["pattern"]["type"], "weekly");
        assert_eq!(f["recurrence"]["range"]["numberOfOccurrences"], 10);
        assert_eq!(f["categories"], json!(["work", "team"]));
        assert_eq!(
            (
                f["showAs"].as_str(),
                f["sensitivity"].as_str(),
                f["importance"].as_str()
            ),
            (Some("free"), Some("private"), Some("high"))
        );
        assert_eq!(f["reminderMinutesBeforeStart"], 10);
        assert!(f.get("attendees").is_none());
        assert_eq!(
            to_fields(&e, true).unwrap()["attendees"][0]["emailAddress"]["address"],
            "bo@example.com"
        );
    }

    #[test]
    fn unchanged_fields_keep_the_stored_event_and_changed_ones_win() {
        let e = series();
        let now = answered(&to_fields(&e, false).unwrap());
        let fresh = from_fields(&now, "s@x").unwrap();
        assert_eq!(fresh.start, e.start);
        assert_eq!(merge(&e, &fresh, &now), e);
        let mut changed = now.clone();
        changed.insert("subject".into(), json!("Daily"));
        changed.insert("reminderMinutesBeforeStart".into(), json!(30));
        let fresh = from_fields(&changed, "s@x").unwrap();
        let got = merge(&e, &fresh, &changed);
        assert_eq!(got.summary.as_deref(), Some("Daily"));
        assert!(!got.params.contains_key("SUMMARY"));
        assert_eq!(got.alarms[0].trigger, "-PT30M");
        assert_eq!(got.alarms[1].trigger, "-P1D", "the second alarm is kept");
        assert_eq!(
            got.attendees, e.attendees,
            "attendees Graph does not list are kept"
        );
    }

    #[test]
    fn an_outlook_event_reads_from_its_fields() {
        let f: Map<String, Value> = serde_json::from_value(json!({
            "subject": "Lunch", "body": {"contentType": "html", "content": "<p>Bring &amp; share</p>"},
            "start": {"dateTime": "2025-03-10T16:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2025-03-10T17:00:00.0000000", "timeZone": "UTC"},
            "originalStartTimeZone": "Eastern Standard Time", "isAllDay": false,
            "showAs": "tentative", "importance": "low", "isReminderOn": false,
            "organizer": {"emailAddress": {"address": "ann@x.org", "name": "Ann"}},
            "attendees": [{"emailAddress": {"address": "bo@x.org", "name": "Bo"}, "type": "optional", "status": {"response": "declined"}}],
        })).unwrap();
        let e = from_fields(&f, "u").unwrap();
        assert_eq!(e.start.tzid(), Some("America/New_York"));
        assert_eq!(e.start.value(), "20250310T120000");
        assert_eq!(e.description.as_deref(), Some("Bring & share"));
        assert_eq!(e.attendees[0].partstat, Some(PartStat::Declined));
        assert_eq!(e.attendees[0].role.as_deref(), Some("OPT-PARTICIPANT"));
        assert_eq!(
            e.organizer.as_ref().unwrap().common_name.as_deref(),
            Some("Ann")
        );
        assert!(e.alarms.is_empty());
        let again = to_fields(&e, true).unwrap();
        for p in PARTS {
            assert!(same(p, &again, &f), "{p:?}");
        }
    }
}

//! Events as Graph answers them: properties in UTC beside their zone, series masters and
//! occurrences expanded from them, `$select` and `$expand` \[G-EVT\].

use serde_json::{json, Map, Value};
use time::{Date, PrimitiveDateTime};

use crate::calendars::times::{fmt_local, instant_of_graph, local_of, utc_of};
use crate::emulator::render::{self, fmt_time, normalize_prop_id, View};
use crate::emulator::server::Ctx;

use super::store::{bare, date_key, Calendar, Event};

fn utc_json(t: PrimitiveDateTime) -> Value {
    json!({"dateTime": format!("{}.0000000", fmt_local(t)), "timeZone": "UTC"})
}

fn iso_z(t: PrimitiveDateTime) -> String {
    format!("{}Z", fmt_local(t))
}

/// The Graph form of `props`: every property (unset ones `null` or `[]`), times in UTC.
fn render_props(
    v: &mut Map<String, Value>,
    props: &Map<String, Value>,
    span: Option<(PrimitiveDateTime, PrimitiveDateTime)>,
    upn: &str,
) {
    for k in ["subject", "showAs", "sensitivity", "importance"] {
        let default = match k {
            "showAs" => json!("busy"),
            "sensitivity" | "importance" => json!("normal"),
            _ => json!(""),
        };
        v.insert(
            k.into(),
            props
                .get(k)
                .cloned()
                .filter(|x| !x.is_null())
                .unwrap_or(default),
        );
    }
    v.insert(
        "body".into(),
        props
            .get("body")
            .cloned()
            .filter(|b| !b.is_null())
            .unwrap_or(json!({"contentType": "text", "content": ""})),
    );
    v.insert(
        "location".into(),
        props
            .get("location")
            .cloned()
            .filter(|b| !b.is_null())
            .unwrap_or(json!({"displayName": ""})),
    );
    for k in ["attendees", "categories"] {
        v.insert(k.into(), props.get(k).cloned().unwrap_or(json!([])));
    }
    v.insert(
        "isAllDay".into(),
        props.get("isAllDay").cloned().unwrap_or(json!(false)),
    );
    v.insert(
        "isReminderOn".into(),
        props.get("isReminderOn").cloned().unwrap_or(json!(true)),
    );
    v.insert(
        "reminderMinutesBeforeStart".into(),
        props
            .get("reminderMinutesBeforeStart")
            .cloned()
            .unwrap_or(json!(15)),
    );
    if let Some((s, e)) = span {
        v.insert("start".into(), utc_json(s));
        v.insert("end".into(), utc_json(e));
    }
    v.insert(
        "organizer".into(),
        json!({"emailAddress": {"address": upn, "name": upn}}),
    );
}

fn finish(mut v: Map<String, Value>, e: &Event, view: &View) -> Value {
    if let Some(select) = &view.select {
        v.retain(|k, _| {
            k == "@odata.etag" || k == "id" || select.iter().any(|s| s.eq_ignore_ascii_case(k))
        });
    }
    if let Some(wanted) = &view.expand {
        let props: Vec<Value> = wanted
            .iter()
            .filter_map(|w| {
                let id = normalize_prop_id(w);
                e.extended
                    .iter()
                    .find(|(k, _)| normalize_prop_id(k).eq_ignore_ascii_case(&id))
                    .map(|(_, val)| json!({"id": w, "value": val}))
            })
            .collect();
        if !props.is_empty() {
            v.insert("singleValueExtendedProperties".into(), Value::Array(props));
        }
    }
    Value::Object(v)
}

/// A master or single event as Graph renders it \[G-EVT\].
pub(super) fn render_event(e: &Event, view: &View, upn: &str) -> Value {
    let mut v = Map::new();
    v.insert(
        "@odata.etag".into(),
        json!(format!("W/\"{}\"", e.change_key())),
    );
    v.insert("id".into(), json!(e.id));
    v.insert("changeKey".into(), json!(e.change_key()));
    v.insert("createdDateTime".into(), json!(fmt_time(e.created)));
    v.insert("lastModifiedDateTime".into(), json!(fmt_time(e.modified)));
    v.insert("iCalUId".into(), json!(e.ical_uid));
    let series = e.recurrence().is_some();
    v.insert(
        "type".into(),
        json!(if series {
            "seriesMaster"
        } else {
            "singleInstance"
        }),
    );
    v.insert("seriesMasterId".into(), Value::Null);
    v.insert(
        "recurrence".into(),
        e.props.get("recurrence").cloned().unwrap_or(Value::Null),
    );
    v.insert("originalStartTimeZone".into(), json!(e.zone()));
    let end_zone = e
        .props
        .get("end")
        .and_then(|s| s.get("timeZone"))
        .and_then(Value::as_str)
        .map_or_else(|| e.zone(), str::to_owned);
    v.insert("originalEndTimeZone".into(), json!(end_zone));
    if let Some(t) = e.props.get("transactionId").filter(|t| !t.is_null()) {
        // [G-EVT] only echoed when set.
        v.insert("transactionId".into(), t.clone());
    }
    render_props(&mut v, &e.props, e.span(), upn);
    finish(v, e, view)
}

/// Occurrence `date` of series `e`: the master's fields, the exception's over them.
pub(super) fn render_instance(
    e: &Event,
    date: Date,
    view: &View,
    upn: &str,
) -> Option<(PrimitiveDateTime, PrimitiveDateTime, Value)> {
    let (start, end) = e.span()?;
    let zone = e.zone();
    let local = PrimitiveDateTime::new(date, local_of(start, &zone).time());
    let original = utc_of(local, &zone).unwrap_or(local);
    let key = date_key(date);
    let mut props = e.props.clone();
    props.remove("recurrence");
    let exception = e.exceptions.get(&key);
    if let Some(x) = exception {
        props.extend(x.clone());
    }
    let moved = |k: &str, default: PrimitiveDateTime| {
        exception
            .and_then(|x| x.get(k))
            .and_then(|v| instant_of_graph(v).or_else(|| bare(v)))
            .unwrap_or(default)
    };
    let (s, en) = (
        moved("start", original),
        moved("end", original + (end - start)),
    );
    let mut v = Map::new();
    v.insert(
        "@odata.etag".into(),
        json!(format!("W/\"{}\"", e.change_key())),
    );
    v.insert("id".into(), json!(format!("{}_{key}", e.id)));
    v.insert("changeKey".into(), json!(e.change_key()));
    v.insert("iCalUId".into(), json!(format!("{}{key}", e.ical_uid)));
    v.insert(
        "type".into(),
        json!(if exception.is_some() {
            "exception"
        } else {
            "occurrence"
        }),
    );
    v.insert("seriesMasterId".into(), json!(e.id));
    v.insert("originalStart".into(), json!(iso_z(original)));
    v.insert("originalStartTimeZone".into(), json!(zone));
    v.insert("originalEndTimeZone".into(), json!(zone));
    v.insert("recurrence".into(), Value::Null);
    render_props(&mut v, &props, Some((s, en)), upn);
    let mut out = finish(v, e, view);
    if let Some(o) = out.as_object_mut() {
        o.remove("singleValueExtendedProperties");
    }
    Some((s, en, out))
}

pub(super) fn view(ctx: &Ctx) -> View {
    View {
        immutable: ctx.prefer.immutable,
        select: ctx.query.select(),
        expand: render::parse_expand(ctx.query.get("$expand")),
    }
}

pub(super) fn calendar_json(c: &Calendar) -> Value {
    json!({"id": c.id, "name": c.name, "isDefaultCalendar": c.is_default, "canEdit": true, "hexColor": "", "color": "auto"})
}

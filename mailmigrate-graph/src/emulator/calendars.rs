//! Calendars and events \[G-EVT\]: the default calendar and others by name, events with the
//! fields Graph has, series masters whose `recurrence` `/instances` expands (every pattern
//! type, the three range types), occurrences that become exceptions when patched and are
//! cancelled when deleted, `transactionId` idempotency, named properties \[G-EXT\] and an
//! invitation counter: every create or update that carries attendees counts one, as the
//! service would mail them \[G-EVPR\]\[I-INV\].
//!
//! Times are kept as written and answered in UTC with `originalStartTimeZone` beside them,
//! as Graph does without `Prefer: outlook.timezone` \[G-EVT\]; zones outside the crate's
//! table count as UTC. Event ids are the same with or without immutable ids \[G-IMM\].
//! Unverified and chosen here: a `POST` repeating a `transactionId` answers 201 with the
//! first event; a change to an occurrence gives its master a new `changeKey`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime};

use super::errors::{GraphError, Resp};
use super::handle::EmulatorHandle;
use super::ids::{self, FOLDER_PREFIX, IMMUTABLE_PREFIX};
use super::odata::extended_property_filter;
use super::render::{self, fmt_time, normalize_prop_id, View};
use super::server::{unknown_segment, Ctx, State};
use super::store::{now, Mailbox};
use crate::calendars::times::{fmt_local, instant_of_graph, local_of, parse_local, utc_of};
use crate::recurrence::{fmt_date, parse_date, Recurrence};

/// Writable event properties and the JSON types they take \[G-EVT\].
const STRINGS: &[&str] = &[
    "subject",
    "showAs",
    "sensitivity",
    "importance",
    "transactionId",
];
const OBJECTS: &[&str] = &[
    "body",
    "start",
    "end",
    "location",
    "organizer",
    "recurrence",
];
const ARRAYS: &[&str] = &["attendees", "categories", "locations"];
const BOOLS: &[&str] = &[
    "isAllDay",
    "isReminderOn",
    "responseRequested",
    "hideAttendees",
];
/// What an occurrence may change (not its recurrence) \[G-EVT\].
const INSTANCE_FIELDS: &[&str] = &[
    "subject",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "attendees",
    "categories",
    "showAs",
    "sensitivity",
    "importance",
    "isAllDay",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "responseRequested",
];
const READ_ONLY: &[&str] = &[
    "id",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "iCalUId",
    "type",
    "seriesMasterId",
    "originalStart",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "isOrganizer",
    "webLink",
];

/// A calendar. Containers have stable ids \[G-IMM\].
#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    id: String,
    name: String,
    is_default: bool,
}

/// A series master or a single event.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    id: String,
    calendar_id: String,
    props: Map<String, Value>,
    extended: Vec<(String, String)>,
    ical_uid: String,
    created: OffsetDateTime,
    modified: OffsetDateTime,
    change_n: u64,
    /// Patched occurrences by original local date (`20250113`).
    exceptions: BTreeMap<String, Map<String, Value>>,
    /// Deleted occurrences by original local date.
    cancelled: BTreeSet<String>,
}

impl Event {
    fn change_key(&self) -> String {
        format!("DwAAABYAAAA{:08x}{}", self.change_n, &self.id[6..14])
    }

    fn recurrence(&self) -> Option<Recurrence> {
        serde_json::from_value(self.props.get("recurrence")?.clone()).ok()
    }

    fn zone(&self) -> String {
        self.props
            .get("start")
            .and_then(|s| s.get("timeZone"))
            .and_then(Value::as_str)
            .unwrap_or("UTC")
            .to_owned()
    }

    /// The start and end as UTC instants.
    fn span(&self) -> Option<(PrimitiveDateTime, PrimitiveDateTime)> {
        let s = instant_of_graph(self.props.get("start")?)
            .or_else(|| bare(self.props.get("start")?))?;
        let e = self
            .props
            .get("end")
            .and_then(|e| instant_of_graph(e).or_else(|| bare(e)))
            .unwrap_or(s);
        Some((s, e))
    }

    fn touch(&mut self) {
        self.change_n += 1;
        self.modified = now();
    }
}

/// A time in a zone outside the table: taken as UTC.
fn bare(v: &Value) -> Option<PrimitiveDateTime> {
    parse_local(v.get("dateTime")?.as_str()?)
}

fn date_key(d: Date) -> String {
    fmt_date(d).replace('-', "")
}

/// A mailbox's calendars, events and the invitations they would have sent.
#[derive(Debug)]
pub(crate) struct Diary {
    calendars: Vec<Calendar>,
    events: Vec<Event>,
    invitations: u64,
}

impl Diary {
    /// The default `Calendar`, empty.
    pub(crate) fn new() -> Self {
        Self {
            calendars: vec![Calendar {
                id: ids::new_id(FOLDER_PREFIX),
                name: "Calendar".into(),
                is_default: true,
            }],
            events: Vec::new(),
            invitations: 0,
        }
    }

    fn calendar_index(&self, key: &str) -> Result<usize, GraphError> {
        match self.calendars.iter().position(|c| c.id == key) {
            Some(i) => Ok(i),
            None if ids::is_well_formed(key, FOLDER_PREFIX) => Err(GraphError::item_not_found()),
            None => Err(GraphError::malformed_id()),
        }
    }

    /// An event by id, or an occurrence (`{master}_{date}`) as its master and date.
    fn find(&self, id: &str) -> Result<(usize, Option<String>), GraphError> {
        if let Some(i) = self.events.iter().position(|e| e.id == id) {
            return Ok((i, None));
        }
        if let Some((master, date)) = id.rsplit_once('_') {
            if let Some(i) = self.events.iter().position(|e| e.id == master) {
                let e = &self.events[i];
                if !e.cancelled.contains(date)
                    && occurrence_dates(e).iter().any(|d| date_key(*d) == date)
                {
                    return Ok((i, Some(date.to_owned())));
                }
                return Err(GraphError::item_not_found());
            }
        }
        if ids::is_well_formed(id.split('_').next().unwrap_or(id), IMMUTABLE_PREFIX) {
            Err(GraphError::item_not_found())
        } else {
            Err(GraphError::malformed_id())
        }
    }

    fn calendar_by_name(&mut self, name: &str) -> String {
        if let Some(c) = self
            .calendars
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name) || (name.is_empty() && c.is_default))
        {
            return c.id.clone();
        }
        let id = ids::new_id(FOLDER_PREFIX);
        self.calendars.push(Calendar {
            id: id.clone(),
            name: name.to_owned(),
            is_default: false,
        });
        id
    }
}

/// The local dates of a series' occurrences (a single event: none), up to 100 years.
fn occurrence_dates(e: &Event) -> Vec<Date> {
    let (Some(r), Some((start, _))) = (e.recurrence(), e.span()) else {
        return Vec::new();
    };
    let local = local_of(start, &e.zone());
    r.occurrences(local, local.date() + Duration::days(36_500))
        .into_iter()
        .map(|t| t.date())
        .collect()
}

fn bad(message: &str) -> GraphError {
    GraphError::bad_request(message)
}

/// Reads an event body, checking names and types \[G-EVT\]; named properties apart.
fn parse_body(body: &[u8]) -> Result<super::contacts::Body, GraphError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| GraphError::body_read("Invalid JSON in the request body."))?;
    let Value::Object(obj) = v else {
        return Err(GraphError::body_read(
            "The request body must be a JSON object.",
        ));
    };
    let (mut props, mut extended) = (Map::new(), Vec::new());
    for (k, val) in obj {
        let key = k.as_str();
        let ok = if STRINGS.contains(&key) {
            val.is_null() || val.is_string()
        } else if OBJECTS.contains(&key) {
            val.is_null() || val.is_object()
        } else if ARRAYS.contains(&key) {
            val.is_array()
        } else if BOOLS.contains(&key) {
            val.is_boolean()
        } else if key == "reminderMinutesBeforeStart" {
            val.is_i64()
        } else if key == "singleValueExtendedProperties" {
            for p in val.as_array().into_iter().flatten() {
                let (Some(id), Some(value)) = (
                    p.get("id").and_then(Value::as_str),
                    p.get("value").and_then(Value::as_str),
                ) else {
                    return Err(GraphError::body_read(
                        "An extended property needs a string id and value.",
                    ));
                };
                extended.push((id.to_owned(), value.to_owned()));
            }
            continue;
        } else if READ_ONLY.contains(&key) || key.starts_with("@odata.") {
            continue;
        } else {
            return Err(GraphError::body_read(&format!(
                "The property '{k}' does not exist on type 'microsoft.graph.event'. Make sure to only use property names that are defined by the type."
            )));
        };
        if !ok {
            return Err(GraphError::body_read(&format!(
                "Cannot convert the value of the property '{k}' to its type."
            )));
        }
        props.insert(k, val);
    }
    Ok((props, extended))
}

/// `start`/`end` are `dateTimeTimeZone`s; an all-day event's are midnights \[G-EVT\]; a
/// recurrence has a known pattern and range type.
fn check(props: &Map<String, Value>) -> Result<(), GraphError> {
    for k in ["start", "end"] {
        if let Some(v) = props.get(k).filter(|v| !v.is_null()) {
            if v.get("dateTime")
                .and_then(Value::as_str)
                .and_then(parse_local)
                .is_none()
            {
                return Err(bad(&format!(
                    "The {k} of the event is not a valid dateTimeTimeZone."
                )));
            }
        }
    }
    if props.get("isAllDay").and_then(Value::as_bool) == Some(true) {
        let midnight = |k: &str| {
            props
                .get(k)
                .and_then(|v| v.get("dateTime")?.as_str())
                .and_then(parse_local)
                .is_none_or(|t| t.time() == time::Time::MIDNIGHT)
        };
        if !midnight("start") || !midnight("end") {
            return Err(bad(
                "Start and End of an all-day event must be at midnight.",
            ));
        }
    }
    if let Some(r) = props.get("recurrence").filter(|r| !r.is_null()) {
        let kinds = [
            "daily",
            "weekly",
            "absoluteMonthly",
            "relativeMonthly",
            "absoluteYearly",
            "relativeYearly",
        ];
        let parsed: Option<Recurrence> = serde_json::from_value(r.clone()).ok();
        let ok = parsed.is_some_and(|p| {
            kinds.contains(&p.pattern.kind.as_str())
                && ["endDate", "noEnd", "numbered"].contains(&p.range.kind.as_str())
                && parse_date(&p.range.start_date).is_some()
        });
        if !ok {
            return Err(bad("The recurrence pattern or range is not valid."));
        }
    }
    Ok(())
}

fn has_attendees(props: &Map<String, Value>) -> bool {
    props
        .get("attendees")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

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
fn render_event(e: &Event, view: &View, upn: &str) -> Value {
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
fn render_instance(
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

fn view(ctx: &Ctx) -> View {
    View {
        immutable: ctx.prefer.immutable,
        select: ctx.query.select(),
        expand: render::parse_expand(ctx.query.get("$expand")),
    }
}

fn calendar_json(c: &Calendar) -> Value {
    json!({"id": c.id, "name": c.name, "isDefaultCalendar": c.is_default, "canEdit": true, "hexColor": "", "color": "auto"})
}

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
            super::contacts::page(st, ctx, all)
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
    super::contacts::page(st, ctx, all)
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
    super::contacts::page(st, ctx, all.into_iter().map(|(_, v)| v).collect())
}

/// An event as the emulator holds it, for tests.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredEvent {
    /// Its id.
    pub id: String,
    /// Its calendar's name.
    pub calendar: String,
    /// Its writable properties as sent (`subject`, `start`, `recurrence`…).
    pub props: Map<String, Value>,
    /// Its named properties (id, value) \[G-EXT\].
    pub extended: Vec<(String, String)>,
    /// Patched occurrences by original local date (`2025-01-13`) and what was patched.
    pub exceptions: Vec<(String, Map<String, Value>)>,
    /// Deleted occurrences by original local date (`2025-01-20`).
    pub cancelled: Vec<String>,
}

fn dashed(key: &str) -> String {
    format!("{}-{}-{}", &key[..4], &key[4..6], &key[6..])
}

impl EmulatorHandle {
    /// Every event (series master or single) of `upn`'s mailbox, in every calendar.
    ///
    /// # Panics
    /// When the emulator has no such mailbox.
    ///
    /// # Examples
    /// ```
    /// use mailmigrate_graph::emulator::Emulator;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let emu = Emulator::builder().mailbox("ada@example.com").start().await.unwrap();
    /// let id = emu.seed_event(
    ///     "ada@example.com",
    ///     "Work",
    ///     serde_json::json!({"subject": "Review",
    ///         "start": {"dateTime": "2025-01-06T09:00:00", "timeZone": "Europe/Berlin"},
    ///         "end": {"dateTime": "2025-01-06T10:00:00", "timeZone": "Europe/Berlin"}}),
    /// );
    /// let all = emu.events("ada@example.com");
    /// assert_eq!((all[0].id.as_str(), all[0].calendar.as_str()), (id.as_str(), "Work"));
    /// assert_eq!(emu.invitations_sent("ada@example.com"), 0);
    /// emu.shutdown().await;
    /// # });
    /// ```
    pub fn events(&self, upn: &str) -> Vec<StoredEvent> {
        self.with_mailbox(upn, |mbx| {
            let d = &mbx.calendars;
            d.events
                .iter()
                .map(|e| StoredEvent {
                    id: e.id.clone(),
                    calendar: d
                        .calendars
                        .iter()
                        .find(|c| c.id == e.calendar_id)
                        .map(|c| c.name.clone())
                        .unwrap_or_default(),
                    props: e.props.clone(),
                    extended: e.extended.clone(),
                    exceptions: e
                        .exceptions
                        .iter()
                        .map(|(k, v)| (dashed(k), v.clone()))
                        .collect(),
                    cancelled: e.cancelled.iter().map(|k| dashed(k)).collect(),
                })
                .collect()
        })
    }

    /// How many creates and updates carried attendees: the invitations Graph would have
    /// sent \[G-EVPR\].
    ///
    /// # Panics
    /// When the emulator has no such mailbox.
    pub fn invitations_sent(&self, upn: &str) -> u64 {
        self.with_mailbox(upn, |mbx| mbx.calendars.invitations)
    }

    /// Adds an event with the Graph properties `props` to the calendar named `calendar`
    /// (`""`: the default one), created as needed, as a user would; returns its id.
    /// Nothing is checked and nobody is invited.
    ///
    /// # Panics
    /// When the emulator has no such mailbox or `props` is not a JSON object.
    pub fn seed_event(&self, upn: &str, calendar: &str, props: Value) -> String {
        self.with_mailbox(upn, |mbx| {
            let Value::Object(props) = props else {
                panic!("an event's properties are a JSON object");
            };
            let calendar_id = mbx.calendars.calendar_by_name(calendar);
            let t = now();
            let id = ids::new_id(IMMUTABLE_PREFIX);
            mbx.calendars.events.push(Event {
                id: id.clone(),
                calendar_id,
                props,
                extended: Vec::new(),
                ical_uid: format!("040000008200E00074C5B7101A82E008{:016X}", ids::random_u64()),
                created: t,
                modified: t,
                change_n: 1,
                exceptions: BTreeMap::new(),
                cancelled: BTreeSet::new(),
            });
            id
        })
    }

    /// Changes occurrence `date` (`2025-01-13`, its original local date) of series `id` as
    /// a user would: `Some(patch)` makes it an exception, `None` cancels it.
    ///
    /// # Panics
    /// When the mailbox or the series does not exist.
    pub fn change_occurrence(&self, upn: &str, id: &str, date: &str, patch: Option<Value>) {
        self.with_mailbox(upn, |mbx| {
            let e = mbx
                .calendars
                .events
                .iter_mut()
                .find(|e| e.id == id)
                .expect("no such series");
            let key = date.replace('-', "");
            match patch {
                Some(Value::Object(p)) => {
                    e.exceptions.entry(key).or_default().extend(p);
                }
                _ => {
                    e.exceptions.remove(&key);
                    e.cancelled.insert(key);
                }
            }
            e.touch();
        });
    }

    /// Changes event `id`'s properties as a user would (the ones `patch` names).
    ///
    /// # Panics
    /// When the mailbox or the event does not exist, or `patch` is not an object.
    pub fn update_event(&self, upn: &str, id: &str, patch: Value) {
        self.with_mailbox(upn, |mbx| {
            let e = mbx
                .calendars
                .events
                .iter_mut()
                .find(|e| e.id == id)
                .expect("no such event");
            let Value::Object(p) = patch else {
                panic!("a patch is a JSON object")
            };
            e.props.extend(p);
            e.touch();
        });
    }

    /// Deletes event `id` as a user would.
    ///
    /// # Panics
    /// When the mailbox does not exist.
    pub fn delete_event(&self, upn: &str, id: &str) {
        self.with_mailbox(upn, |mbx| mbx.calendars.events.retain(|e| e.id != id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked_like_graph() {
        assert!(parse_body(br#"{"subjekt": "x"}"#).is_err());
        assert!(parse_body(br#"{"isAllDay": "yes"}"#).is_err());
        let (p, _) = parse_body(br#"{"isAllDay": true, "start": {"dateTime": "2025-01-06T09:00:00", "timeZone": "UTC"}}"#).unwrap();
        assert!(check(&p).is_err(), "an all-day event starts at midnight");
        let (p, _) = parse_body(br#"{"recurrence": {"pattern": {"type": "hourly"}, "range": {"type": "noEnd", "startDate": "2025-01-06"}}}"#).unwrap();
        assert!(check(&p).is_err());
    }
}

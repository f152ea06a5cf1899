//! Calendars and events \[GC-IMP\]\[GC-SYNC\]\[GC-DISC\].
//!
//! Events are stored as the JSON Google answers with; a series' modified or cancelled
//! occurrences are events of their own with `recurringEventId` and `originalStartTime`,
//! listed beside their master when `singleEvents=false`. Deleting marks an event
//! `cancelled`: it is listed to sync tokens (and with `showDeleted`), as Google does.

use axum::response::Response;
use serde_json::{json, Map, Value};
use time::PrimitiveDateTime;

use super::rrule::{self, parse_ical};
use super::{random_id, PimConfig, PimReq};
use crate::emulator::errors::{json as answer, GoogleError};

/// A calendar.
#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    pub(crate) id: String,
    pub(crate) summary: String,
    pub(crate) description: Option<String>,
    pub(crate) time_zone: String,
    pub(crate) primary: bool,
    pub(crate) color: Option<String>,
}

/// An event (or an occurrence's exception) as stored.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) calendar: String,
    /// The change sequence number of its last change.
    pub(crate) seq: u64,
    pub(crate) json: Map<String, Value>,
}

impl Event {
    pub(crate) fn id(&self) -> &str {
        self.json.get("id").and_then(Value::as_str).unwrap_or("")
    }
    fn str(&self, k: &str) -> Option<&str> {
        self.json.get(k).and_then(Value::as_str)
    }
    pub(crate) fn cancelled(&self) -> bool {
        self.str("status") == Some("cancelled")
    }
}

/// One user's calendars.
#[derive(Debug, Default)]
pub(crate) struct Calendars {
    pub(crate) calendars: Vec<Calendar>,
    pub(crate) events: Vec<Event>,
    seq: u64,
    /// Sync tokens of an older epoch are expired.
    epoch: u64,
    /// Notifications `sendUpdates` would have mailed to guests.
    pub(crate) notifications: u64,
}

/// The largest page `events.list` gives (`maxResults` ≤ 2500, default 250 \[GC-DISC\]).
const MAX_PAGE: usize = 2500;

impl Calendars {
    pub(crate) fn add_primary(&mut self, user: &str) {
        self.calendars.push(Calendar {
            id: user.to_ascii_lowercase(),
            summary: user.to_ascii_lowercase(),
            description: None,
            time_zone: "UTC".into(),
            primary: true,
            color: Some("#9fe1e7".into()),
        });
    }

    fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// `primary` is the user's own calendar.
    fn resolve(&self, id: &str) -> Result<String, GoogleError> {
        let c = if id == "primary" {
            self.calendars.iter().find(|c| c.primary)
        } else {
            self.calendars.iter().find(|c| c.id == id)
        };
        c.map(|c| c.id.clone()).ok_or_else(GoogleError::not_found)
    }

    /// Sync tokens handed out so far expire: the next incremental listing is 410.
    pub(crate) fn expire_sync_tokens(&mut self) {
        self.epoch += 1;
    }

    /// Stores a new event as Google would have it.
    pub(crate) fn store_new(&mut self, calendar: &str, mut ev: Map<String, Value>) -> Value {
        let seq = self.bump();
        ev.insert("kind".into(), json!("calendar#event"));
        if !ev.contains_key("id") {
            ev.insert("id".into(), json!(random_id(26)));
        }
        let id = ev["id"].as_str().unwrap_or("").to_owned();
        ev.entry("iCalUID")
            .or_insert_with(|| json!(format!("{id}@google.com")));
        ev.entry("status").or_insert_with(|| json!("confirmed"));
        ev.insert("etag".into(), etag(seq));
        ev.insert("created".into(), json!(now()));
        ev.insert("updated".into(), json!(now()));
        ev.entry("sequence").or_insert(json!(0));
        ev.entry("organizer")
            .or_insert_with(|| json!({"email": calendar, "self": true}));
        ev.insert(
            "htmlLink".into(),
            json!(format!("https://www.google.com/calendar/event?eid={id}")),
        );
        let out = Value::Object(ev.clone());
        self.events.push(Event {
            calendar: calendar.to_owned(),
            seq,
            json: ev,
        });
        out
    }

    fn find(&self, calendar: &str, id: &str) -> Option<usize> {
        self.events
            .iter()
            .position(|e| e.calendar == calendar && e.id() == id)
    }

    /// Replaces event `i`'s fields with `fields` (keeping what Google assigns).
    fn replace(&mut self, i: usize, fields: Map<String, Value>) -> Value {
        let seq = self.bump();
        let e = &mut self.events[i];
        let keep = [
            "id",
            "iCalUID",
            "created",
            "htmlLink",
            "kind",
            "recurringEventId",
            "originalStartTime",
        ];
        let mut next: Map<String, Value> = e
            .json
            .iter()
            .filter(|(k, _)| keep.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in fields {
            if !keep.contains(&k.as_str()) && !v.is_null() {
                next.insert(k, v);
            }
        }
        next.entry("status").or_insert_with(|| json!("confirmed"));
        next.entry("organizer")
            .or_insert_with(|| e.json.get("organizer").cloned().unwrap_or(Value::Null));
        let sequence = e.json.get("sequence").and_then(Value::as_i64).unwrap_or(0);
        next.entry("sequence").or_insert(json!(sequence));
        next.insert("etag".into(), etag(seq));
        next.insert("updated".into(), json!(now()));
        e.json = next;
        e.seq = seq;
        Value::Object(e.json.clone())
    }

    /// The master's instances (occurrence times and their exceptions), `showDeleted` or
    /// not.
    fn instances(&self, calendar: &str, master: &Event, show_deleted: bool) -> Vec<Value> {
        let Some((start, all_day, zone)) = master.json.get("start").and_then(local_of) else {
            return Vec::new();
        };
        let end = master
            .json
            .get("end")
            .and_then(local_of)
            .map_or(start, |e| e.0);
        let length = end - start;
        let lines: Vec<&str> = master
            .json
            .get("recurrence")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut times = Vec::new();
        let mut ex = Vec::new();
        let horizon = start + time::Duration::days(366 * 5);
        for l in &lines {
            let (name, value) = l.split_once(':').unwrap_or((l, ""));
            let name = name.split(';').next().unwrap_or("").to_ascii_uppercase();
            match name.as_str() {
                "RRULE" => times.extend(rrule::expand(start, value, horizon, 1000)),
                "RDATE" => times.extend(value.split(',').filter_map(parse_ical)),
                "EXDATE" => ex.extend(value.split(',').filter_map(parse_ical)),
                _ => {}
            }
        }
        if times.is_empty() {
            times.push(start);
        }
        times.sort();
        times.dedup();
        let mid = master.id();
        let mut out = Vec::new();
        for t in times.into_iter().filter(|t| !ex.contains(t)) {
            let stamp = fmt_stamp(t, all_day);
            let inst_id = format!("{mid}_{stamp}");
            if let Some(x) = self
                .events
                .iter()
                .find(|e| e.calendar == calendar && e.id() == inst_id)
            {
                if !x.cancelled() || show_deleted {
                    out.push(Value::Object(x.json.clone()));
                }
                continue;
            }
            let mut inst = master.json.clone();
            inst.remove("recurrence");
            inst.insert("id".into(), json!(inst_id));
            inst.insert("recurringEventId".into(), json!(mid));
            let when = |t: PrimitiveDateTime| time_json(t, all_day, zone.as_deref());
            inst.insert("originalStartTime".into(), when(t));
            inst.insert("start".into(), when(t));
            inst.insert("end".into(), when(t + length));
            out.push(Value::Object(inst));
        }
        out
    }

    /// Counts what `sendUpdates` would mail about `ev` \[GC-DISC\]: every guest but the
    /// user, or only guests outside the user's domain.
    fn notify(&mut self, req: &PimReq, ev: &Value) {
        let mode = match req.param("sendUpdates") {
            Some(m) => m.to_owned(),
            None if req.flag("sendNotifications") => "all".into(),
            None => return,
        };
        if mode == "none" {
            return;
        }
        let domain = req.user.rsplit('@').next().unwrap_or("").to_owned();
        let n = ev
            .get("attendees")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|a| a.get("self").and_then(Value::as_bool) != Some(true))
            .filter_map(|a| a.get("email").and_then(Value::as_str))
            .filter(|e| !e.eq_ignore_ascii_case(&req.user))
            .filter(|e| mode == "all" || !e.to_ascii_lowercase().ends_with(&format!("@{domain}")))
            .count();
        self.notifications += n as u64;
    }
}

fn etag(seq: u64) -> Value {
    json!(format!("\"{}\"", 3_400_000_000_000_000u64 + seq * 1000))
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A `{date}` / `{dateTime, timeZone}` as a wall-clock time, whether all-day, and its zone.
/// An offset or `Z` is dropped: the emulator has no zone database.
fn local_of(v: &Value) -> Option<(PrimitiveDateTime, bool, Option<String>)> {
    let zone = v.get("timeZone").and_then(Value::as_str).map(str::to_owned);
    if let Some(d) = v.get("date").and_then(Value::as_str) {
        return Some((parse_ical(&d.replace('-', ""))?, true, zone));
    }
    let dt = v.get("dateTime").and_then(Value::as_str)?;
    Some((parse_rfc3339_local(dt)?, false, zone))
}

/// `2025-01-06T09:00:00[.000][Z|+01:00]` as its wall-clock part.
pub(crate) fn parse_rfc3339_local(s: &str) -> Option<PrimitiveDateTime> {
    let core: String = s
        .chars()
        .take(19)
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    parse_ical(&core)
}

fn fmt_stamp(t: PrimitiveDateTime, all_day: bool) -> String {
    let d = t.date();
    let date = format!("{:04}{:02}{:02}", d.year(), d.month() as u8, d.day());
    if all_day {
        date
    } else {
        format!("{date}T{:02}{:02}{:02}", t.hour(), t.minute(), t.second())
    }
}

fn time_json(t: PrimitiveDateTime, all_day: bool, zone: Option<&str>) -> Value {
    let d = t.date();
    let date = format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day());
    if all_day {
        return json!({"date": date});
    }
    let dt = format!("{date}T{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    match zone {
        Some(z) => json!({"dateTime": dt, "timeZone": z}),
        None => json!({"dateTime": format!("{dt}Z")}),
    }
}

fn page_size(req: &PimReq, default: usize) -> usize {
    req.param("maxResults")
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|m| *m > 0)
        .unwrap_or(default)
        .min(MAX_PAGE)
}

/// Splits `items` into the page `pageToken` names.
fn page(req: &PimReq, items: Vec<Value>, default: usize) -> (Vec<Value>, Option<String>) {
    let size = page_size(req, default);
    let from: usize = req
        .param("pageToken")
        .and_then(|t| t.strip_prefix("p"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let next = (from + size < items.len()).then(|| format!("p{}", from + size));
    (items.into_iter().skip(from).take(size).collect(), next)
}

fn calendar_json(c: &Calendar) -> Value {
    json!({
        "kind": "calendar#calendar", "etag": "\"1\"", "id": c.id, "summary": c.summary,
        "description": c.description, "timeZone": c.time_zone,
    })
}

fn entry_json(c: &Calendar) -> Value {
    let mut v = json!({
        "kind": "calendar#calendarListEntry", "etag": "\"1\"", "id": c.id, "summary": c.summary,
        "timeZone": c.time_zone, "accessRole": "owner", "backgroundColor": c.color,
        "foregroundColor": "#000000", "selected": true,
    });
    if let Some(d) = &c.description {
        v["description"] = json!(d);
    }
    if c.primary {
        v["primary"] = json!(true);
    }
    v
}

/// Answers one Calendar request.
pub(crate) fn handle(
    req: &PimReq,
    cals: &mut Calendars,
    cfg: &PimConfig,
) -> Result<Response, GoogleError> {
    let id = req
        .matched
        .method
        .id
        .strip_prefix("calendar.")
        .unwrap_or("");
    match id {
        "calendarList.list" => {
            let items: Vec<Value> = cals.calendars.iter().map(entry_json).collect();
            let (items, next) = page(req, items, 100);
            Ok(answer(
                200,
                &json!({"kind": "calendar#calendarList", "etag": "\"1\"", "items": items,
                    "nextPageToken": next, "nextSyncToken": next.is_none().then_some("cl1")}),
            ))
        }
        "calendars.insert" => {
            let b = req.body();
            let summary = b.get("summary").and_then(Value::as_str).unwrap_or("");
            if summary.is_empty() {
                return Err(GoogleError::new(400, "required", "Missing title."));
            }
            let c = Calendar {
                id: format!("{}@group.calendar.google.com", random_id(26)),
                summary: summary.to_owned(),
                description: b
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                time_zone: b
                    .get("timeZone")
                    .and_then(Value::as_str)
                    .unwrap_or("UTC")
                    .to_owned(),
                primary: false,
                color: Some("#9a9cff".into()),
            };
            let out = calendar_json(&c);
            cals.calendars.push(c);
            Ok(answer(200, &out))
        }
        "calendars.get" => {
            let cid = cals.resolve(req.path("calendarId"))?;
            let c = cals.calendars.iter().find(|c| c.id == cid);
            Ok(answer(200, &c.map(calendar_json).unwrap_or(Value::Null)))
        }
        "events.list" => list(req, cals),
        "events.get" => {
            let cid = cals.resolve(req.path("calendarId"))?;
            let i = cals
                .find(&cid, req.path("eventId"))
                .ok_or_else(GoogleError::not_found)?;
            Ok(answer(200, &Value::Object(cals.events[i].json.clone())))
        }
        "events.import" => import(req, cals, cfg),
        "events.insert" => {
            let cid = cals.resolve(req.path("calendarId"))?;
            let fields = times_required(req.body())?;
            if let Some(id) = fields.get("id").and_then(Value::as_str) {
                if cals.find(&cid, id).is_some() {
                    return Err(GoogleError::new(
                        409,
                        "duplicate",
                        "The requested identifier already exists.",
                    ));
                }
            }
            let out = cals.store_new(&cid, fields);
            cals.notify(req, &out);
            Ok(answer(200, &out))
        }
        "events.update" | "events.patch" => update(req, cals, id == "events.patch"),
        "events.delete" => {
            let cid = cals.resolve(req.path("calendarId"))?;
            let eid = req.path("eventId").to_owned();
            let i = match cals.find(&cid, &eid) {
                Some(i) => i,
                None => materialise(cals, &cid, &eid)?,
            };
            if cals.events[i].cancelled() {
                return Err(GoogleError::new(
                    410,
                    "deleted",
                    "Resource has been deleted",
                ));
            }
            check_if_match(req, &cals.events[i])?;
            let before = Value::Object(cals.events[i].json.clone());
            let seq = cals.bump();
            let e = &mut cals.events[i];
            e.json.insert("status".into(), json!("cancelled"));
            e.json.insert("etag".into(), etag(seq));
            e.seq = seq;
            cals.notify(req, &before);
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = axum::http::StatusCode::NO_CONTENT;
            Ok(r)
        }
        "events.instances" => {
            let cid = cals.resolve(req.path("calendarId"))?;
            let i = cals
                .find(&cid, req.path("eventId"))
                .ok_or_else(GoogleError::not_found)?;
            let master = cals.events[i].clone();
            let min = req.param("timeMin").and_then(parse_rfc3339_local);
            let max = req.param("timeMax").and_then(parse_rfc3339_local);
            let original = req.param("originalStart").and_then(parse_rfc3339_local);
            let items: Vec<Value> = cals
                .instances(&cid, &master, req.flag("showDeleted"))
                .into_iter()
                .filter(|v| {
                    let s = v.get("start").and_then(local_of).map(|x| x.0);
                    let e = v.get("end").and_then(local_of).map(|x| x.0).or(s);
                    let o = v.get("originalStartTime").and_then(local_of).map(|x| x.0);
                    min.is_none_or(|m| e.is_some_and(|e| e > m))
                        && max.is_none_or(|m| s.is_some_and(|s| s < m))
                        && original.is_none_or(|x| o == Some(x))
                })
                .collect();
            let (items, next) = page(req, items, 250);
            Ok(answer(
                200,
                &json!({"kind": "calendar#events", "items": items, "nextPageToken": next}),
            ))
        }
        other => Err(GoogleError::new(
            501,
            "notImplemented",
            format!("{other} is not emulated"),
        )),
    }
}

/// `start` and `end` are required \[GC-IMP\].
fn times_required(body: Value) -> Result<Map<String, Value>, GoogleError> {
    let Value::Object(fields) = body else {
        return Err(GoogleError::invalid("The request body is not an Event."));
    };
    for k in ["start", "end"] {
        let ok = fields.get(k).is_some_and(|v| {
            v.get("date").is_some_and(Value::is_string)
                || v.get("dateTime").is_some_and(Value::is_string)
        });
        if !ok {
            return Err(GoogleError::new(
                400,
                "required",
                format!("Missing {k} time."),
            ));
        }
    }
    if fields.get("recurrence").is_some_and(|r| !r.is_null())
        && fields["start"].get("dateTime").is_some()
        && fields["start"].get("timeZone").is_none()
    {
        return Err(GoogleError::new(
            400,
            "invalid",
            "Missing time zone definition for start time.",
        ));
    }
    Ok(fields)
}

fn import(req: &PimReq, cals: &mut Calendars, cfg: &PimConfig) -> Result<Response, GoogleError> {
    let cid = cals.resolve(req.path("calendarId"))?;
    let fields = times_required(req.body())?;
    let uid = fields
        .get("iCalUID")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| GoogleError::new(400, "required", "Missing iCalUID."))?
        .to_owned();
    // [GC-IMP][I-GCAL]: a second import of a UID is 409 `duplicate`, not an update.
    let held = cals.events.iter().position(|e| {
        e.calendar == cid && e.str("iCalUID") == Some(&uid) && e.str("recurringEventId").is_none()
    });
    if let Some(i) = held {
        if !cals.events[i].cancelled() || !cfg.import_revives_deleted {
            return Err(GoogleError::new(
                409,
                "duplicate",
                "The requested identifier already exists.",
            ));
        }
        let out = cals.replace(i, fields);
        return Ok(answer(200, &out));
    }
    let mut fields = fields;
    fields.remove("id");
    // Import sends nothing to anyone: it has no sendUpdates [GC-IMP].
    let out = cals.store_new(&cid, fields);
    Ok(answer(200, &out))
}

fn check_if_match(req: &PimReq, e: &Event) -> Result<(), GoogleError> {
    if let Some(want) = req.header("if-match") {
        let have = e.str("etag").unwrap_or("");
        if want.trim() != "*" && want.trim() != have {
            return Err(GoogleError::new(
                412,
                "conditionNotMet",
                "Precondition Failed",
            ));
        }
    }
    Ok(())
}

/// Makes the exception event of occurrence `eid` (`<master>_<stamp>`) of a series.
fn materialise(cals: &mut Calendars, cid: &str, eid: &str) -> Result<usize, GoogleError> {
    let (mid, _) = eid.rsplit_once('_').ok_or_else(GoogleError::not_found)?;
    let i = cals.find(cid, mid).ok_or_else(GoogleError::not_found)?;
    let master = cals.events[i].clone();
    let inst = cals
        .instances(cid, &master, false)
        .into_iter()
        .find(|v| v.get("id").and_then(Value::as_str) == Some(eid))
        .ok_or_else(GoogleError::not_found)?;
    let Value::Object(inst) = inst else {
        return Err(GoogleError::not_found());
    };
    let seq = cals.bump();
    let mut inst = inst;
    inst.insert("etag".into(), etag(seq));
    cals.events.push(Event {
        calendar: cid.to_owned(),
        seq,
        json: inst,
    });
    Ok(cals.events.len() - 1)
}

fn update(req: &PimReq, cals: &mut Calendars, patch: bool) -> Result<Response, GoogleError> {
    let cid = cals.resolve(req.path("calendarId"))?;
    let eid = req.path("eventId").to_owned();
    let i = match cals.find(&cid, &eid) {
        Some(i) => i,
        None => materialise(cals, &cid, &eid)?,
    };
    check_if_match(req, &cals.events[i])?;
    let Value::Object(body) = req.body() else {
        return Err(GoogleError::invalid("The request body is not an Event."));
    };
    let fields = if patch {
        let mut merged = cals.events[i].json.clone();
        for (k, v) in body {
            if v.is_null() {
                merged.remove(&k);
            } else if k == "extendedProperties" {
                let mut ext = merged.get(&k).cloned().unwrap_or_else(|| json!({}));
                for scope in ["private", "shared"] {
                    if let Some(Value::Object(add)) = v.get(scope) {
                        let dst = ext
                            .as_object_mut()
                            .map(|m| m.entry(scope).or_insert_with(|| json!({})));
                        if let Some(Value::Object(dst)) = dst {
                            for (pk, pv) in add {
                                if pv.is_null() {
                                    dst.remove(pk);
                                } else {
                                    dst.insert(pk.clone(), pv.clone());
                                }
                            }
                        }
                    }
                }
                merged.insert(k, ext);
            } else {
                merged.insert(k, v);
            }
        }
        merged
    } else {
        times_required(Value::Object(body))?
    };
    let out = cals.replace(i, fields);
    cals.notify(req, &out);
    Ok(answer(200, &out))
}

fn list(req: &PimReq, cals: &mut Calendars) -> Result<Response, GoogleError> {
    let cid = cals.resolve(req.path("calendarId"))?;
    let since = match req.param("syncToken") {
        None => None,
        Some(t) => {
            // [GC-DISC] these cannot be combined with a sync token.
            for p in [
                "iCalUID",
                "orderBy",
                "privateExtendedProperty",
                "q",
                "sharedExtendedProperty",
                "timeMin",
                "timeMax",
                "updatedMin",
            ] {
                if req.param(p).is_some() {
                    return Err(GoogleError::new(
                        400,
                        "syncTokenWithRequestRestrictions",
                        "Sync token cannot be used with other request restrictions.",
                    ));
                }
            }
            let parsed = t
                .strip_prefix("s")
                .and_then(|t| t.split_once('-'))
                .and_then(|(e, s)| Some((e.parse::<u64>().ok()?, s.parse::<u64>().ok()?)));
            match parsed {
                Some((epoch, seq)) if epoch == cals.epoch => Some(seq),
                Some(_) => {
                    return Err(GoogleError::new(
                        410,
                        "fullSyncRequired",
                        "Sync token is no longer valid, a full sync is required.",
                    ))
                }
                None => return Err(GoogleError::invalid("Invalid sync token value.")),
            }
        }
    };
    let single = req.flag("singleEvents");
    let show_deleted = since.is_some() || req.flag("showDeleted");
    let uid = req.param("iCalUID");
    let at_start = req
        .param("pageToken")
        .and_then(|p| p.split_once('@'))
        .and_then(|(_, s)| s.parse::<u64>().ok())
        .unwrap_or(cals.seq);
    let mut items = Vec::new();
    for e in cals.events.iter().filter(|e| e.calendar == cid) {
        if since.is_some_and(|s| e.seq <= s) || (e.cancelled() && !show_deleted) {
            continue;
        }
        if uid.is_some_and(|u| e.str("iCalUID") != Some(u)) {
            continue;
        }
        let is_series = e.json.get("recurrence").is_some_and(Value::is_array);
        if single && is_series && !e.cancelled() {
            items.extend(cals.instances(&cid, e, show_deleted));
        } else if !(single && e.str("recurringEventId").is_some()) {
            items.push(Value::Object(e.json.clone()));
        }
    }
    let mut inner = req.query.clone();
    inner.retain(|(k, _)| k != "pageToken");
    let stripped = req
        .param("pageToken")
        .map(|p| p.split('@').next().unwrap_or("").to_owned());
    let (items, next) = {
        let size = page_size(req, 250);
        let from: usize = stripped
            .as_deref()
            .and_then(|t| t.strip_prefix("p"))
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let next = (from + size < items.len()).then(|| format!("p{}@{at_start}", from + size));
        (
            items.into_iter().skip(from).take(size).collect::<Vec<_>>(),
            next,
        )
    };
    // [GC-SYNC] the sync token comes on the last page only, and not for filtered lists.
    let sync = (next.is_none() && uid.is_none()).then(|| format!("s{}-{at_start}", cals.epoch));
    Ok(answer(
        200,
        &json!({"kind": "calendar#events", "summary": cid, "items": items,
            "nextPageToken": next, "nextSyncToken": sync}),
    ))
}

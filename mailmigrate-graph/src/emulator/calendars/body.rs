//! Event bodies as Graph reads them: the writable properties and their JSON types, the
//! time and recurrence checks, named properties apart \[G-EVT\]\[G-EXT\].

use serde_json::{Map, Value};

use crate::calendars::times::parse_local;
use crate::emulator::errors::GraphError;
use crate::recurrence::{parse_date, Recurrence};

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
pub(super) const INSTANCE_FIELDS: &[&str] = &[
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

pub(super) fn bad(message: &str) -> GraphError {
    GraphError::bad_request(message)
}

/// Reads an event body, checking names and types \[G-EVT\]; named properties apart.
pub(super) fn parse_body(body: &[u8]) -> Result<crate::emulator::contacts::Body, GraphError> {
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
pub(super) fn check(props: &Map<String, Value>) -> Result<(), GraphError> {
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

pub(super) fn has_attendees(props: &Map<String, Value>) -> bool {
    props
        .get("attendees")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

//! Request shapes of the Calendar and People APIs checked against their discovery
//! documents \[GC-DISC\]\[GP-DISC\]: paths (flat paths, with People's `{id}:verb`
//! segments), query parameters (names, types, enums, repetition) and JSON bodies (every
//! field named in the request schema, with its type).
//!
//! `calendar-discovery.json` and `people-discovery.json` are the published documents
//! (revisions 20240517 and 20240313, `/work/shared/specs/google/`) trimmed to the methods
//! the emulator serves and the schemas their requests use.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use crate::emulator::errors::GoogleError;

#[derive(Debug, Deserialize)]
struct Document {
    parameters: HashMap<String, Param>,
    methods: Vec<Method>,
    schemas: HashMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct Param {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "enum", default)]
    values: Option<Vec<String>>,
    #[serde(default)]
    repeated: bool,
    #[serde(default)]
    location: String,
}

/// One method of a document.
#[derive(Debug, Deserialize)]
pub(crate) struct Method {
    /// `calendar.events.import`.
    pub(crate) id: String,
    #[serde(rename = "httpMethod")]
    http_method: String,
    path: String,
    parameters: HashMap<String, Param>,
    /// The request body's schema.
    request: Option<String>,
    /// The scopes that admit the method (read for the Admin SDK).
    #[serde(default)]
    scopes: Vec<String>,
}

impl Method {
    /// The scopes that admit the method, as the document lists them.
    pub(crate) fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

/// Which API a document describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Calendar,
    People,
    /// The Admin SDK Directory API \[AD-DISC\] (`../directory/admin-discovery.json`).
    Admin,
}

fn document(api: Api) -> &'static Document {
    static CAL: OnceLock<Document> = OnceLock::new();
    static PEOPLE: OnceLock<Document> = OnceLock::new();
    static ADMIN: OnceLock<Document> = OnceLock::new();
    match api {
        Api::Calendar => CAL.get_or_init(|| {
            serde_json::from_str(include_str!("calendar-discovery.json"))
                .expect("calendar-discovery.json parses")
        }),
        Api::People => PEOPLE.get_or_init(|| {
            serde_json::from_str(include_str!("people-discovery.json"))
                .expect("people-discovery.json parses")
        }),
        Api::Admin => ADMIN.get_or_init(|| {
            serde_json::from_str(include_str!("../directory/admin-discovery.json"))
                .expect("admin-discovery.json parses")
        }),
    }
}

/// Binds one path segment to one template segment (`{peopleId}:updateContact`).
fn bind_segment<'a>(template: &'a str, seg: &'a str) -> Option<Option<(&'a str, &'a str)>> {
    let Some(open) = template.find('{') else {
        return (template == seg).then_some(None);
    };
    let close = template.find('}')?;
    let (prefix, name, suffix) = (
        &template[..open],
        &template[open + 1..close],
        &template[close + 1..],
    );
    let value = seg.strip_prefix(prefix)?.strip_suffix(suffix)?;
    // A bare `{id}` is no `{id}:verb`: the verb belongs to another method.
    if value.is_empty() || (suffix.is_empty() && value.contains(':')) {
        return None;
    }
    Some(Some((name, value)))
}

/// A request matched to a method, with its path parameters.
#[derive(Debug)]
pub(crate) struct Matched {
    pub(crate) api: Api,
    pub(crate) method: &'static Method,
    pub(crate) path: HashMap<String, String>,
}

/// The method `http` `segments` name in either document.
pub(crate) fn find(http: &str, segments: &[&str]) -> Option<Matched> {
    find_in(&[Api::Calendar, Api::People], http, segments)
}

/// The method `http` `segments` name in one of `apis`' documents.
pub(crate) fn find_in(apis: &[Api], http: &str, segments: &[&str]) -> Option<Matched> {
    for &api in apis {
        'methods: for m in &document(api).methods {
            if !m.http_method.eq_ignore_ascii_case(http) {
                continue;
            }
            let parts: Vec<&str> = m.path.split('/').collect();
            if parts.len() != segments.len() {
                continue;
            }
            let mut path = HashMap::new();
            for (t, s) in parts.iter().zip(segments) {
                match bind_segment(t, s) {
                    None => continue 'methods,
                    Some(Some((k, v))) => {
                        path.insert(k.to_owned(), crate::emulator::server::decode(v));
                    }
                    Some(None) => {}
                }
            }
            return Some(Matched {
                api,
                method: m,
                path,
            });
        }
    }
    None
}

/// Checks a query against `m`: names known (the method's query parameters or the
/// document's global ones), repetition, booleans, integers and enums.
///
/// # Errors
/// The 400 Google answers.
pub(crate) fn check_query(
    api: Api,
    m: &Method,
    query: &[(String, String)],
) -> Result<(), GoogleError> {
    let doc = document(api);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (name, value) in query {
        let p = m
            .parameters
            .get(name)
            .filter(|p| p.location != "path")
            .or_else(|| doc.parameters.get(name));
        let Some(p) = p else {
            return Err(GoogleError::invalid(format!(
                "Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query \
                 parameter. Field '{name}' could not be found in request message."
            )));
        };
        let n = seen.entry(name).or_default();
        *n += 1;
        if *n > 1 && !p.repeated {
            return Err(GoogleError::invalid(format!(
                "Invalid JSON payload received. Repeated values for non-repeated field '{name}'."
            )));
        }
        let ok = match p.kind.as_str() {
            "boolean" => value == "true" || value == "false",
            "integer" => value.parse::<i64>().is_ok(),
            _ => true,
        } && p.values.as_ref().is_none_or(|v| v.contains(value));
        if !ok {
            return Err(GoogleError::invalid(format!(
                "Invalid value at '{name}' ({}), \"{value}\"",
                p.kind
            )));
        }
    }
    Ok(())
}

/// Checks a JSON body against the method's request schema: every field known, every
/// value of its type. A method without a request schema takes no body.
///
/// # Errors
/// 400 "Invalid JSON payload received. Unknown name …" as Google answers.
pub(crate) fn check_body(api: Api, m: &Method, body: &[u8]) -> Result<Option<Value>, GoogleError> {
    let Some(schema) = &m.request else {
        return Ok(None);
    };
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        GoogleError::invalid(format!(
            "Invalid JSON payload received. Unexpected token. ({e})"
        ))
    })?;
    let doc = document(api);
    check_value(doc, &json_ref(schema), &v, "")?;
    Ok(Some(v))
}

fn json_ref(name: &str) -> Value {
    serde_json::json!({"$ref": name})
}

fn check_value(doc: &Document, schema: &Value, v: &Value, at: &str) -> Result<(), GoogleError> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let Some(s) = doc.schemas.get(r) else {
            return Ok(());
        };
        return check_value(doc, s, v, at);
    }
    if v.is_null() {
        // Null clears a field in a patch.
        return Ok(());
    }
    let bad = |want: &str| {
        GoogleError::invalid(format!(
            "Invalid value at '{}' ({want}), {v}",
            at.trim_start_matches('.')
        ))
    };
    match schema.get("type").and_then(Value::as_str).unwrap_or("") {
        "object" => {
            let obj = v.as_object().ok_or_else(|| bad("object"))?;
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties");
            for (k, fv) in obj {
                let sub = props.and_then(|p| p.get(k)).or(extra);
                let Some(sub) = sub else {
                    return Err(GoogleError::invalid(format!(
                        "Invalid JSON payload received. Unknown name \"{k}\" at '{}': Cannot \
                         find field.",
                        at.trim_start_matches('.')
                    )));
                };
                check_value(doc, sub, fv, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        "array" => {
            let items = v.as_array().ok_or_else(|| bad("array"))?;
            let sub = schema.get("items").cloned().unwrap_or(Value::Null);
            for (i, x) in items.iter().enumerate() {
                check_value(doc, &sub, x, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        "string" => {
            let ok = v.is_string()
                && schema
                    .get("enum")
                    .and_then(Value::as_array)
                    .is_none_or(|e| e.contains(v));
            if ok {
                Ok(())
            } else {
                Err(bad("TYPE_STRING"))
            }
        }
        "integer" => {
            // int64 travels as a string, int32 as a number.
            let ok = v.is_i64() || v.as_str().is_some_and(|s| s.parse::<i64>().is_ok());
            if ok {
                Ok(())
            } else {
                Err(bad("TYPE_INT32"))
            }
        }
        "boolean" => v.is_boolean().then_some(()).ok_or_else(|| bad("TYPE_BOOL")),
        "number" => v
            .is_number()
            .then_some(())
            .ok_or_else(|| bad("TYPE_DOUBLE")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_paths_and_verbs_match() {
        let m = find("PATCH", &["v1", "people", "c12:updateContact"]).unwrap();
        assert_eq!(m.method.id, "people.people.updateContact");
        assert_eq!(m.path["peopleId"], "c12");
        let m = find("GET", &["v1", "people", "c12"]).unwrap();
        assert_eq!(m.method.id, "people.people.get");
        assert!(find("GET", &["v1", "people", "c12:updateContact"]).is_none());
        let m = find("POST", &["v1", "people:batchCreateContacts"]).unwrap();
        assert_eq!(m.method.id, "people.people.batchCreateContacts");
        let m = find(
            "POST",
            &["calendar", "v3", "calendars", "primary", "events", "import"],
        )
        .unwrap();
        assert_eq!(m.method.id, "calendar.events.import");
        let m = find(
            "GET",
            &["calendar", "v3", "calendars", "a%40b", "events", "x1"],
        )
        .unwrap();
        assert_eq!(
            (m.method.id.as_str(), m.path["calendarId"].as_str()),
            ("calendar.events.get", "a@b")
        );
    }

    #[test]
    fn bodies_and_queries_follow_the_schemas() {
        let m = find(
            "POST",
            &["calendar", "v3", "calendars", "primary", "events", "import"],
        )
        .unwrap();
        let ok = br#"{"iCalUID":"u","start":{"date":"2025-01-01"},"extendedProperties":{"private":{"a":"b"}},"reminders":{"useDefault":false,"overrides":[{"method":"popup","minutes":10}]}}"#;
        assert!(check_body(Api::Calendar, m.method, ok).is_ok());
        let unknown = br#"{"iCalUID":"u","start":{"when":"2025-01-01"}}"#;
        let e = check_body(Api::Calendar, m.method, unknown).unwrap_err();
        assert!(e.message.contains("Unknown name \"when\""), "{}", e.message);
        let typed = br#"{"summary":5}"#;
        assert!(check_body(Api::Calendar, m.method, typed).is_err());
        let q = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert!(check_query(Api::Calendar, m.method, &q("sendUpdates", "none")).is_err());
        let upd = find(
            "PUT",
            &["calendar", "v3", "calendars", "primary", "events", "e1"],
        )
        .unwrap();
        assert!(check_query(Api::Calendar, upd.method, &q("sendUpdates", "none")).is_ok());
        assert!(check_query(Api::Calendar, upd.method, &q("sendUpdates", "nobody")).is_err());
    }
}

//! Google Calendar and People (contacts) in the emulator: one hook from the server's
//! dispatcher ([`route`]), a store per user, and the handlers.
//!
//! Requests are checked against the Calendar and People discovery documents (path, query
//! and JSON body, [`discovery`]); then they pass the same bearer check, injected faults and
//! per-user quota and concurrency cap as Gmail's (each call costs 1 unit: both APIs
//! publish per-request quotas, not unit costs).
//!
//! - [`calendar`]: `calendarList.list`, `calendars.insert|get`, `events.list` (with
//!   `syncToken`, 410 when it expired), `events.get|import|insert|update|patch|delete`,
//!   `events.instances` (expanding the rules in [`rrule`]), `If-Match` etags (412), and a
//!   count of the notifications `sendUpdates` would have mailed;
//! - [`people`]: `contactGroups.list|create|members.modify`, `people.connections.list`
//!   (with `syncToken`), `createContact`, `batchCreateContacts` (≤ 200),
//!   `updateContact` (etag required, a stale one refused), `deleteContact`, `get`,
//!   `getBatchGet`.

pub(crate) mod calendar;
pub(crate) mod discovery;
mod handle;
pub(crate) mod people;
mod rrule;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::Value;

use super::errors::GoogleError;
use super::faults::Fault;
use super::server::{decode, State};
use discovery::{Api, Matched};

pub use handle::{StoredContact, StoredEvent};

/// Emulator options for Calendar and People.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PimConfig {
    /// The status of an `updateContact` with a stale etag: 400 `failedPrecondition` in the
    /// current reference, 412 in older client libraries' copies of it (conflict).
    pub(crate) stale_etag_status: u16,
    /// Whether an import of an iCalUID whose event was deleted brings it back (default)
    /// or answers 409 like a live one (not documented; observed behaviours differ).
    pub(crate) import_revives_deleted: bool,
}

impl Default for PimConfig {
    fn default() -> Self {
        Self {
            stale_etag_status: 400,
            import_revives_deleted: true,
        }
    }
}

/// One user's calendars and contacts.
#[derive(Debug, Default)]
pub(crate) struct Account {
    pub(crate) calendars: calendar::Calendars,
    pub(crate) people: people::People,
}

/// Every user's calendars and contacts, and the options.
#[derive(Debug, Default)]
pub(crate) struct PimState {
    accounts: Mutex<HashMap<String, Account>>,
    pub(crate) cfg: Mutex<PimConfig>,
}

impl PimState {
    /// The account of `user`, made on first use.
    pub(crate) fn with<T>(&self, user: &str, f: impl FnOnce(&mut Account) -> T) -> T {
        let mut all = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let acc = all.entry(user.to_ascii_lowercase()).or_insert_with(|| {
            let mut a = Account::default();
            a.calendars.add_primary(user);
            a
        });
        f(acc)
    }

    pub(crate) fn cfg(&self) -> MutexGuard<'_, PimConfig> {
        self.cfg.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A Calendar or People request, checked.
#[derive(Debug)]
pub(crate) struct PimReq {
    pub(crate) matched: Matched,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Value>,
    pub(crate) user: String,
}

impl PimReq {
    pub(crate) fn path(&self, name: &str) -> &str {
        self.matched.path.get(name).map_or("", String::as_str)
    }
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.param(name) == Some("true")
    }
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub(crate) fn body(&self) -> Value {
        self.body.clone().unwrap_or(Value::Null)
    }
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Answers a Calendar or People request; `None` when the path is neither's (Gmail's).
pub(crate) fn route(
    st: &State,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Result<Response, GoogleError>> {
    let first = path.trim_matches('/').split('/').next().unwrap_or("");
    if first != "calendar" && first != "v1" {
        return None;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let Some(matched) = discovery::find(method.as_str(), &segments) else {
        return Some(Err(GoogleError::new(
            404,
            "notFound",
            format!("Not Found: {path}"),
        )));
    };
    Some(serve(st, (method, path), matched, query, headers, body))
}

fn serve(
    st: &State,
    (method, path): (&Method, &str),
    matched: Matched,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GoogleError> {
    let query = parse_query(query);
    discovery::check_query(matched.api, matched.method, &query)?;
    let auth_header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = super::auth::check(st, auth_header)?;
    let method_id = matched.method.id.clone();
    match st.faults.take(false, method.as_str(), path) {
        Some(Fault::Fail { status, reason }) => {
            let reason: &'static str = match reason.as_str() {
                "backendError" => "backendError",
                "rateLimitExceeded" => "rateLimitExceeded",
                "userRateLimitExceeded" => "userRateLimitExceeded",
                _ => "emulatorFault",
            };
            return Err(GoogleError::new(status, reason, "Injected fault."));
        }
        Some(Fault::RateLimit) => {
            return Err(GoogleError::new(
                st.cfg.quota.rate_limit_status,
                "userRateLimitExceeded",
                "User-rate limit exceeded.",
            )
            .with_domain("usageLimits"));
        }
        _ => {}
    }
    let body = discovery::check_body(matched.api, matched.method, body)?;
    let _slot = st.admit(&user, &method_id)?;
    let req = PimReq {
        matched,
        query,
        headers: headers.clone(),
        body,
        user,
    };
    let cfg = st.pim.cfg().clone();
    st.pim.with(&req.user.clone(), |acc| match req.matched.api {
        Api::Calendar => calendar::handle(&req, &mut acc.calendars, &cfg),
        Api::People => people::handle(&req, &mut acc.people, &cfg),
        Api::Admin => Err(GoogleError::not_found()),
    })
}

/// A fresh opaque id of `n` base32hex characters (Google's event id alphabet).
pub(crate) fn random_id(n: usize) -> String {
    const A: &[u8] = b"0123456789abcdefghijklmnopqrstuv";
    (0..n)
        .map(|_| A[(rand::random::<u32>() as usize) % A.len()] as char)
        .collect()
}

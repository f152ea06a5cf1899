//! Resumable uploads of `messages.import` \[GM-UPL\]: sessions, `308 Resume Incomplete`
//! with `Range`, status queries, expiry, and faults on chunk `PUT`s.
//!
//! The initiating `POST …/messages/import?uploadType=resumable` (through the discovery
//! check, auth and quota like every call; it is what the import's 25 units pay for)
//! answers `200` with the session URI in `Location`. `PUT`s to that URI carry
//! `Content-Range: bytes A-B/TOTAL` and the bytes; every chunk but the last must be a
//! multiple of 256 KiB. An incomplete session answers `308` with `Range: bytes=0-N` (no
//! `Range` before the first byte); the last byte delivers the message and answers `200`
//! with the Message. `Content-Range: bytes */TOTAL` with no body asks where a session
//! stands. A session lives a week \[GM-UPL\] (configurable); after that, and for an unknown
//! `upload_id`, `404`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

use super::errors::{json, GoogleError};
use super::faults::Fault;
use super::import::{accepted, check_size, deliver, Metadata};
use super::server::{Req, State};
use super::store::Mailbox;

/// Chunks but the last are multiples of this \[GM-UPL\].
const QUANTUM: usize = 256 * 1024;

/// One upload session.
#[derive(Debug)]
struct Session {
    user: String,
    /// The import's query (`neverMarkSpam`, `internalDateSource`…).
    query: Vec<(String, String)>,
    labels: Vec<String>,
    total: usize,
    data: Vec<u8>,
    created: Instant,
    /// The Message, once the last byte arrived.
    done: Option<Value>,
}

/// The open sessions, by `upload_id`.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends every session (they answer 404 from now on).
    pub(crate) fn expire_all(&self) {
        self.lock().clear();
    }

    /// How many sessions are open.
    pub(crate) fn open(&self) -> usize {
        self.lock().values().filter(|s| s.done.is_none()).count()
    }
}

/// The initiating request \[GM-UPL\]: checks the metadata and the announced media, opens
/// a session, answers its URI.
pub(crate) fn initiate(st: &State, req: &Req, mbx: &mut Mailbox) -> Result<Response, GoogleError> {
    let meta: Metadata = if req.body.is_empty() {
        Metadata::default()
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| GoogleError::invalid(format!("Invalid JSON payload received. {e}")))?
    };
    if meta.raw.is_some() {
        return Err(GoogleError::invalid(
            "'raw' must not be set when the message is uploaded",
        ));
    }
    let accept = req
        .matched
        .method
        .media
        .as_ref()
        .map(|m| m.accept.clone())
        .unwrap_or_default();
    let media_type = req
        .header("x-upload-content-type")
        .unwrap_or("message/rfc822");
    if !accepted(&accept, media_type) {
        return Err(GoogleError::invalid(format!(
            "Media type '{media_type}' is not supported. Valid media types: [{}]",
            accept.join(", ")
        )));
    }
    // The emulator needs the length up front (Google also takes `bytes A-B/*` chunks).
    let total: usize = req
        .header("x-upload-content-length")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            GoogleError::invalid("X-Upload-Content-Length is required by the emulator")
        })?;
    check_size(st, total as u64)?;
    mbx.check_labels(&meta.label_ids)?;
    let id = format!("AEmu{:032x}", rand::random::<u128>());
    let query: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| k != "uploadType")
        .cloned()
        .collect();
    st.uploads.lock().insert(
        id.clone(),
        Session {
            user: mbx.email.clone(),
            query: query.clone(),
            labels: meta.label_ids,
            total,
            data: Vec::with_capacity(total.min(64 << 20)),
            created: Instant::now(),
            done: None,
        },
    );
    let mut location = format!(
        "{}/upload/gmail/v1/users/{}/messages/import?uploadType=resumable",
        st.base_url,
        req.path("userId")
    );
    for (k, v) in &query {
        location.push_str(&format!("&{}={}", enc(k), enc(v)));
    }
    location.push_str(&format!("&upload_id={id}"));
    let mut r = Response::new(Body::empty());
    let h = r.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(|_| GoogleError::invalid("bad location"))?,
    );
    h.insert(
        "x-guploader-uploadid",
        HeaderValue::from_str(&id).map_err(|_| GoogleError::invalid("bad id"))?,
    );
    Ok(r)
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Whether a request goes to an upload session (its query names an `upload_id`).
pub(crate) fn is_session(query: &[(String, String)]) -> bool {
    query.iter().any(|(k, _)| k == "upload_id")
}

/// A `Content-Range` header: `bytes A-B/T` or `bytes */T`.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    Chunk {
        first: usize,
        last: usize,
        total: usize,
    },
    Query {
        total: usize,
    },
}

fn content_range(h: Option<&str>) -> Option<Range> {
    let v = h?.trim().strip_prefix("bytes ")?;
    let (span, total) = v.split_once('/')?;
    let total = total.trim().parse().ok()?;
    if span.trim() == "*" {
        return Some(Range::Query { total });
    }
    let (a, b) = span.split_once('-')?;
    Some(Range::Chunk {
        first: a.trim().parse().ok()?,
        last: b.trim().parse().ok()?,
        total,
    })
}

/// A `PUT` to a session URI \[GM-UPL\].
pub(crate) fn put(
    st: &State,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, GoogleError> {
    if method != "PUT" {
        return Err(GoogleError::invalid(format!(
            "{method} is not how an upload session is written to (PUT is)"
        )));
    }
    let id = query
        .iter()
        .find(|(k, _)| k == "upload_id")
        .map_or("", |(_, v)| v.as_str())
        .to_owned();
    match st.faults.take(false, method, path) {
        Some(Fault::Fail { status, reason }) => {
            let reason: &'static str = if reason == "backendError" {
                "backendError"
            } else {
                "emulatorFault"
            };
            return Err(GoogleError::new(status, reason, "Injected fault."));
        }
        Some(Fault::RateLimit) => {
            return Err(GoogleError::new(503, "backendError", "Injected fault."));
        }
        _ => {}
    }
    let range = content_range(
        headers
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok()),
    )
    .ok_or_else(|| GoogleError::invalid("Failed to parse Content-Range header."))?;
    let complete = {
        let mut sessions = st.uploads.lock();
        let live = sessions
            .get(&id)
            .is_some_and(|s| s.created.elapsed() < st.cfg.upload_session_lifetime);
        if !live {
            sessions.remove(&id);
            return Err(GoogleError::not_found());
        }
        let s = sessions.get_mut(&id).ok_or_else(GoogleError::not_found)?;
        if let Some(done) = &s.done {
            return Ok(json(200, done));
        }
        match range {
            Range::Query { total } => {
                if total != s.total {
                    return Err(mismatch(total, s.total));
                }
                return Ok(incomplete(s.data.len()));
            }
            Range::Chunk { first, last, total } => {
                if total != s.total {
                    return Err(mismatch(total, s.total));
                }
                if last < first || last >= total || body.len() != last - first + 1 {
                    return Err(GoogleError::invalid(
                        "Content-Range does not match the bytes sent.",
                    ));
                }
                let have = s.data.len();
                if first > have {
                    return Err(GoogleError::invalid(format!(
                        "Invalid request. According to the Content-Range header, the upload \
                         offset is {first} byte(s), which exceeds already uploaded size of \
                         {have} byte(s)."
                    )));
                }
                if last + 1 < total && !body.len().is_multiple_of(QUANTUM) {
                    return Err(GoogleError::invalid(format!(
                        "Invalid request. The number of bytes uploaded is required to be a \
                         multiple of {QUANTUM}, except for the final request. The received \
                         request contained {} bytes.",
                        body.len()
                    )));
                }
                // Bytes already held (a resent chunk) are skipped.
                if last + 1 > have {
                    s.data.extend_from_slice(&body[have - first..]);
                }
                if s.data.len() < s.total {
                    return Ok(incomplete(s.data.len()));
                }
                (
                    s.user.clone(),
                    std::mem::take(&mut s.labels),
                    Bytes::from(std::mem::take(&mut s.data)),
                    s.query.clone(),
                )
            }
        }
    };
    let (user, labels, raw, import_query) = complete;
    let delivered = {
        let mut mailboxes = st.mailboxes();
        let mbx = mailboxes
            .get_mut(&user)
            .ok_or_else(GoogleError::not_found)?;
        deliver(st, mbx, labels, raw, &import_query)
    };
    let mut sessions = st.uploads.lock();
    match delivered {
        Ok(v) => {
            if let Some(s) = sessions.get_mut(&id) {
                s.done = Some(v.clone());
            }
            Ok(json(200, &v))
        }
        Err(e) => {
            sessions.remove(&id);
            Err(e)
        }
    }
}

/// `308 Resume Incomplete` with the bytes held so far \[GM-UPL\].
fn incomplete(have: usize) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if have > 0 {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes=0-{}", have - 1)) {
            r.headers_mut().insert(header::RANGE, v);
        }
    }
    r
}

fn mismatch(said: usize, announced: usize) -> GoogleError {
    GoogleError::invalid(format!(
        "The total size {said} in Content-Range differs from X-Upload-Content-Length {announced}."
    ))
}

/// The upload session store of a request, for the dispatcher's hook.
pub(crate) fn route(
    st: &State,
    method: &str,
    path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<Result<Response, GoogleError>> {
    let query = super::server::parse_query(raw_query);
    is_session(&query).then(|| put(st, method, path, &query, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            content_range(Some("bytes 0-262143/300000")),
            Some(Range::Chunk {
                first: 0,
                last: 262_143,
                total: 300_000
            })
        );
        assert_eq!(
            content_range(Some("bytes */300000")),
            Some(Range::Query { total: 300_000 })
        );
        assert_eq!(content_range(Some("bytes 5/3")), None);
    }
}

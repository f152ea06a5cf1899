//! `POST /batch/gmail/v1` \[GM-BATCH\]: a `multipart/mixed` body of `application/http`
//! parts, each a whole request with a path-only URL, dispatched through the ordinary
//! routes (discovery checks, auth, faults, quota: n calls in a batch count as n) and
//! answered in request order, each part with its own status and
//! `Content-ID: response-<id>`.

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::Response;
use bytes::Bytes;

use super::errors::GoogleError;
use super::server::State;
use crate::multipart;

/// \[GM-BATCH\] "You're limited to 100 calls in a single batch request."
pub(crate) const MAX_PARTS: usize = 100;

/// Whether `path` is the batch endpoint: the Gmail guide's `/batch/gmail/v1`
/// \[GM-BATCH\], or the discovery document's `batchPath` `batch` \[GM-DISC\].
pub(crate) fn is_batch(path: &str) -> bool {
    matches!(path, "/batch/gmail/v1" | "/batch")
}

/// Answers a batch request.
pub(crate) async fn handle(st: &State, outer: &HeaderMap, body: &[u8]) -> Response {
    match run(st, outer, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(st: &State, outer: &HeaderMap, body: &[u8]) -> Result<Response, GoogleError> {
    let content_type = outer
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = content_type
        .to_ascii_lowercase()
        .starts_with("multipart/mixed")
        .then(|| multipart::boundary(content_type))
        .flatten()
        .ok_or_else(|| GoogleError::invalid("Invalid batch request: not multipart/mixed"))?;
    let parts = multipart::split(body, &boundary);
    if parts.len() > MAX_PARTS {
        // [GM-BATCH] the cap; the message text is the emulator's own.
        return Err(GoogleError::invalid(format!(
            "A batch request may hold at most {MAX_PARTS} calls; this one holds {}",
            parts.len()
        )));
    }
    // [GM-BATCH] parts run independently and in no set order (here all at once, which is
    // what makes the per-user concurrency cap bite in large batches, [I-G429]).
    let answers = futures::future::join_all(parts.iter().map(|p| one(st, outer, p))).await;
    let out_boundary = format!("batch_{:024x}", rand::random::<u128>());
    let mut out = Vec::new();
    for (content_id, status, headers, body) in answers {
        out.extend_from_slice(
            format!("--{out_boundary}\r\nContent-Type: application/http\r\n").as_bytes(),
        );
        if let Some(id) = content_id {
            out.extend_from_slice(format!("Content-ID: response-{id}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("\r\nHTTP/1.1 {status}\r\n").as_bytes());
        for (k, v) in headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{out_boundary}--\r\n").as_bytes());
    let mut r = Response::new(Body::from(out));
    let ct = format!("multipart/mixed; boundary={out_boundary}");
    if let Ok(v) = HeaderValue::from_str(&ct) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(r)
}

type PartAnswer = (Option<String>, String, Vec<(String, String)>, Bytes);

/// One part: its request parsed and routed; the answer's status line, headers, body.
async fn one(st: &State, outer: &HeaderMap, part: &[u8]) -> PartAnswer {
    let (part_headers, inner) = multipart::head_and_body(part);
    let content_id = multipart::header(&part_headers, "Content-ID")
        .map(|id| id.trim_matches(['<', '>']).to_owned());
    let (start, headers, body) = multipart::http_message(inner);
    let mut words = start.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let answer = match Method::from_bytes(method.as_bytes()) {
        // [GM-BATCH] every part must be a call of the same API (Gmail's).
        Ok(m) if path.starts_with("/gmail/v1/") => {
            // [GM-BATCH] the outer headers apply to every part unless the part sets them.
            let mut merged = outer.clone();
            merged.remove(header::CONTENT_TYPE);
            merged.remove(header::CONTENT_LENGTH);
            for (k, v) in &headers {
                if let (Ok(k), Ok(v)) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(v),
                ) {
                    merged.insert(k, v);
                }
            }
            super::server::route(st, &m, path, query, merged, Bytes::copy_from_slice(body))
                .await
                .unwrap_or_else(GoogleError::into_response)
        }
        _ => GoogleError::invalid(format!("Invalid batch part: {start:?}")).into_response(),
    };
    let status = answer.status();
    let status_line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let headers: Vec<(String, String)> = answer
        .headers()
        .iter()
        .filter(|(k, _)| *k == header::CONTENT_TYPE || *k == header::RETRY_AFTER)
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let body = to_bytes(answer.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    (content_id, status_line, headers, body)
}

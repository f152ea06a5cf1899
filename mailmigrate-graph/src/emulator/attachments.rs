//! Attachments: direct POST (< 3 MB) and upload sessions (3–150 MB) \[5.5\]\[G-ATT\].

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use serde_json::{json, Value};

use super::errors::{GraphError, Resp};
use super::ids;
use super::messages::{self, file_attachment};
use super::render::fmt_time;
use super::server::{Ctx, State};
use super::store::{self, Attachment, Mailbox};

/// An open upload session.
#[derive(Debug)]
pub(crate) struct UploadSession {
    upn: String,
    message_imm_id: String,
    name: String,
    size: u64,
    content_type: String,
    is_inline: bool,
    content_id: Option<String>,
    received: Vec<u8>,
    expires: Instant,
}

/// \[G-ATT\]: upload sessions take attachments up to 150 MB.
const MAX_ATTACHMENT: u64 = 150 * 1024 * 1024;

fn attachment_json(a: &Attachment) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": a.id,
        "lastModifiedDateTime": fmt_time(store::now()),
        "name": a.name,
        "contentType": a.content_type,
        "size": a.bytes.len(),
        "isInline": a.is_inline,
        "contentId": a.content_id,
        "contentBytes": ids::encode_std(&a.bytes),
    })
}

/// `GET …/messages/{id}/attachments`, with `$select`.
pub(crate) fn list(st: &State, ctx: &Ctx, mbx: &Mailbox, id: &str) -> Result<Resp, GraphError> {
    let m = &mbx.messages[messages::resolve(mbx, id)?];
    let select = ctx.query.select();
    let value: Vec<Value> = m
        .attachments
        .iter()
        .map(|a| {
            let mut v = attachment_json(a);
            if let (Some(select), Value::Object(o)) = (&select, &mut v) {
                // $select: the named properties, id and the type annotation [4.1].
                o.retain(|k, _| {
                    k == "id"
                        || k == "@odata.type"
                        || select.iter().any(|s| s.eq_ignore_ascii_case(k))
                });
            }
            v
        })
        .collect();
    Ok(Resp::json(
        200,
        &json!({
            "@odata.context": format!("{}/$metadata#users('{}')/messages('{}')/attachments", ctx.graph_url(st), mbx.upn, id),
            "value": value,
        }),
    ))
}

/// `POST …/messages/{id}/attachments` with a fileAttachment → 201 \[G-ATT\]. Works on
/// non-drafts too (tools report it; undocumented, section 17).
pub(crate) fn add(st: &State, ctx: &Ctx, mbx: &mut Mailbox, id: &str) -> Result<Resp, GraphError> {
    let i = messages::resolve(mbx, id)?;
    let v: Value = serde_json::from_slice(&ctx.body)
        .map_err(|_| GraphError::body_read("Invalid JSON in the request body."))?;
    let a = file_attachment(&v)?;
    let mut out = attachment_json(&a);
    out["@odata.context"] = json!(format!(
        "{}/$metadata#users('{}')/messages('{}')/attachments/$entity",
        ctx.graph_url(st),
        mbx.upn,
        id
    ));
    mbx.messages[i].attachments.push(a);
    mbx.touch(i);
    Ok(Resp::json(201, &out))
}

/// `POST …/attachments/createUploadSession {AttachmentItem}` → 201 `{uploadUrl,
/// expirationDateTime, nextExpectedRanges:["0-"]}` \[G-ATT\].
pub(crate) fn create_session(
    st: &State,
    ctx: &Ctx,
    mbx: &mut Mailbox,
    id: &str,
) -> Result<Resp, GraphError> {
    let i = messages::resolve(mbx, id)?;
    let v: Value = serde_json::from_slice(&ctx.body)
        .map_err(|_| GraphError::body_read("Invalid JSON in the request body."))?;
    let item = v
        .get("AttachmentItem")
        .or_else(|| v.get("attachmentItem"))
        .ok_or_else(|| GraphError::body_read("AttachmentItem is required."))?;
    let s = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
    if !s("attachmentType").is_some_and(|t| t.eq_ignore_ascii_case("file")) {
        return Err(GraphError::body_read("attachmentType must be 'file'."));
    }
    let name = s("name").ok_or_else(|| GraphError::body_read("name is required."))?;
    let size = item
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| GraphError::body_read("size is required."))?;
    if size < st.cfg.upload_session_min_size {
        // [G-ATT] files under 3 MB are POSTed directly.
        return Err(GraphError::new(
            400,
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
            "Attachment size must be greater than the minimum size.",
        ));
    }
    if size > MAX_ATTACHMENT {
        return Err(GraphError::new(
            400,
            "ErrorAttachmentSizeShouldNotBeLargerThanMaxSize",
            "Attachment size must be less than the maximum size.",
        ));
    }
    let token = ids::new_token(40);
    let lifetime = st.cfg.upload_session_lifetime;
    let expires = Instant::now() + lifetime;
    st.uploads.lock().unwrap_or_else(|e| e.into_inner()).insert(
        token.clone(),
        UploadSession {
            upn: mbx.upn.clone(),
            message_imm_id: mbx.messages[i].imm_id.clone(),
            name,
            size,
            content_type: s("contentType").unwrap_or_else(|| "application/octet-stream".into()),
            is_inline: item
                .get("isInline")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            content_id: s("contentId"),
            received: Vec::new(),
            expires,
        },
    );
    Ok(Resp::json(
        201,
        &json!({
            "@odata.context": format!("{}/$metadata#microsoft.graph.uploadSession", ctx.graph_url(st)),
            "uploadUrl": format!("{}/upload/{token}", st.base_url),
            "expirationDateTime": fmt_time(store::now() + lifetime),
            "nextExpectedRanges": ["0-"],
        }),
    ))
}

fn parse_range(h: &str) -> Option<(u64, u64, u64)> {
    let r = h.trim().strip_prefix("bytes ")?;
    let (range, total) = r.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

/// The state of a session: 200 `{expirationDateTime, nextExpectedRanges}`.
fn state(session: &UploadSession, lifetime: Duration) -> Resp {
    Resp::json(
        200,
        &json!({
            "expirationDateTime": fmt_time(store::now() + lifetime),
            "nextExpectedRanges": [session.received.len().to_string()],
        }),
    )
}

/// Requests to an `uploadUrl` \[G-ATT\]: `PUT` a chunk (see [`put_chunk`]), `GET` the
/// session's state (200 `{expirationDateTime, nextExpectedRanges}`; how resumable upload
/// sessions report progress, not stated on the Outlook page), `DELETE` to cancel (204). An
/// expired or finished session is 404 `itemNotFound`.
pub(crate) fn upload(
    st: &State,
    method: &Method,
    token: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Resp, GraphError> {
    if headers.contains_key("authorization") {
        // [G-ATT] the uploadUrl is pre-authenticated; send no Authorization header.
        return Err(GraphError::new(
            401,
            "InvalidAuthenticationToken",
            "The upload URL is pre-authenticated; do not send an Authorization header.",
        ));
    }
    let lifetime = st.cfg.upload_session_lifetime;
    let mut sessions = st.uploads.lock().unwrap_or_else(|e| e.into_inner());
    let Some(session) = sessions
        .get_mut(token)
        .filter(|s| Instant::now() < s.expires)
    else {
        sessions.remove(token);
        return Err(GraphError::item_not_found());
    };
    // Every request to the session counts against its mailbox's limits [G-THR].
    let upload = if method == Method::PUT {
        body.len() as u64
    } else {
        0
    };
    let _slot = st
        .throttle
        .admit(&st.cfg.limits, &st.cfg.client_id, &session.upn, upload)?;
    match method.as_str() {
        "GET" => Ok(state(session, lifetime)),
        "DELETE" => {
            sessions.remove(token);
            Ok(Resp::empty(204))
        }
        "PUT" => {
            if !put_chunk(session, headers, body, lifetime)? {
                return Ok(state(session, lifetime));
            }
            let done = sessions
                .remove(token)
                .ok_or_else(GraphError::item_not_found)?;
            drop(sessions);
            finish(st, done)
        }
        _ => Err(GraphError::new(405, "MethodNotAllowed", "Use PUT.")),
    }
}

/// Every chunk is smaller: "keep each chunk < 4 MB" \[G-ATT\], read as 4,000,000 bytes,
/// the stricter of the two readings.
const MAX_CHUNK: usize = 4_000_000;

/// Takes one chunk: `Content-Type: application/octet-stream`, `Content-Length`,
/// `Content-Range: bytes a-b/total` matching the body and the session's size, starting at
/// the next expected byte, under 4 MB \[G-ATT\]. `true` when it was the last.
fn put_chunk(
    session: &mut UploadSession,
    headers: &HeaderMap,
    body: &Bytes,
    lifetime: Duration,
) -> Result<bool, GraphError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if !header("content-type")
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/octet-stream"))
    {
        return Err(GraphError::new(
            415,
            "UnsupportedMediaType",
            "Upload chunks are application/octet-stream.",
        ));
    }
    if header("content-length").and_then(|v| v.trim().parse::<usize>().ok()) != Some(body.len()) {
        return Err(GraphError::new(
            411,
            "LengthRequired",
            "Content-Length is required and must match the body.",
        ));
    }
    if body.len() >= MAX_CHUNK {
        return Err(GraphError::new(
            413,
            "RequestEntityTooLarge",
            "Each chunk of an upload session must be smaller than 4 MB.",
        ));
    }
    let (start, end, total) = header("content-range")
        .and_then(parse_range)
        .ok_or_else(|| {
            GraphError::new(400, "invalidRange", "Content-Range is missing or invalid.")
        })?;
    if total != session.size || end < start || end >= total || end - start + 1 != body.len() as u64
    {
        return Err(GraphError::new(
            400,
            "invalidRange",
            "Content-Range does not match the body or the session size.",
        ));
    }
    if start != session.received.len() as u64 {
        // [G-ATT] bytes must be sent in order.
        return Err(GraphError::new(
            416,
            "invalidRange",
            &format!(
                "The next expected range starts at {}.",
                session.received.len()
            ),
        ));
    }
    if session.received.is_empty() {
        session.received.reserve_exact(session.size as usize);
    }
    session.received.extend_from_slice(body);
    session.expires = Instant::now() + lifetime;
    Ok(session.received.len() as u64 == session.size)
}

/// Files a completed session's bytes as an attachment of its message: 201 with
/// `Location` \[G-ATT\]; 404 if the message went away meanwhile.
fn finish(st: &State, done: UploadSession) -> Result<Resp, GraphError> {
    let mut store = st.store();
    let mbx = store
        .mailbox_mut(&done.upn)
        .ok_or_else(GraphError::item_not_found)?;
    let i = mbx
        .message_index(&done.message_imm_id)
        .map_err(|_| GraphError::item_not_found())?;
    let att = Attachment {
        id: ids::new_id("AAMkAGAtt"),
        name: done.name,
        content_type: done.content_type,
        is_inline: done.is_inline,
        content_id: done.content_id,
        bytes: Bytes::from(done.received),
    };
    let location = format!(
        "{}/v1.0/users('{}')/messages('{}')/attachments('{}')",
        st.base_url, mbx.upn, done.message_imm_id, att.id
    );
    mbx.messages[i].attachments.push(att);
    mbx.touch(i);
    Ok(Resp::empty(201).with_header("location", &location))
}

//! Messages: list, get, `$value`, create (JSON and MIME), beta `importMime`, update,
//! delete, move \[4\]\[5\].

use bytes::Bytes;
use serde_json::{json, Value};

use super::errors::{GraphError, Resp};
use super::folders;
use super::ids;
use super::mime;
use super::odata::{extended_property_filter, parse_time, Cmp, Filter, Lit};
use super::render::{self, parse_recipient, parse_recipients, View};
use super::server::{Ctx, State};
use super::store::{Attachment, CreatedBy, Lookup, Mailbox, Message};

/// Resolves a message by immutable or rest id; case-sensitive \[G-IMM\].
pub(crate) fn resolve(mbx: &Mailbox, id: &str) -> Result<usize, GraphError> {
    mbx.message_index(id).map_err(|e| match e {
        Lookup::Malformed => GraphError::malformed_id(),
        Lookup::NotFound => GraphError::item_not_found(),
    })
}

/// The rendering options of this request.
pub(crate) fn view(ctx: &Ctx) -> View {
    View {
        immutable: ctx.prefer.immutable,
        select: ctx.query.select(),
        expand: render::parse_expand(ctx.query.get("$expand")),
    }
}

fn entity(st: &State, ctx: &Ctx, mbx: &Mailbox, m: &Message, status: u16) -> Resp {
    let mut v = render::message(mbx, m, &view(ctx));
    v["@odata.context"] = json!(format!(
        "{}/$metadata#users('{}')/messages/$entity",
        ctx.graph_url(st),
        mbx.upn
    ));
    Resp::json(status, &v)
}

fn matches(m: &Message, f: &Filter) -> Result<bool, GraphError> {
    let bad = || {
        GraphError::new(
            400,
            "ErrorInvalidUrlQueryFilter",
            "The query filter contains one or more invalid nodes.",
        )
    };
    for (field, cmp, lit) in &f.0 {
        let ok = match (field.to_ascii_lowercase().as_str(), lit) {
            ("internetmessageid", Lit::Str(s)) => {
                // Exchange compares strings case-insensitively.
                let eq = m
                    .internet_message_id
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(s));
                match cmp {
                    Cmp::Eq => eq,
                    Cmp::Ne => !eq,
                    _ => return Err(bad()),
                }
            }
            ("subject", Lit::Str(s)) => {
                let eq = m
                    .subject
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(s));
                match cmp {
                    Cmp::Eq => eq,
                    Cmp::Ne => !eq,
                    _ => return Err(bad()),
                }
            }
            ("isread", Lit::Bool(b))
            | ("isdraft", Lit::Bool(b))
            | ("hasattachments", Lit::Bool(b)) => {
                let v = match field.to_ascii_lowercase().as_str() {
                    "isread" => m.is_read,
                    "isdraft" => m.is_draft,
                    _ => m.has_attachments(),
                };
                match cmp {
                    Cmp::Eq => v == *b,
                    Cmp::Ne => v != *b,
                    _ => return Err(bad()),
                }
            }
            ("receiveddatetime", Lit::Time(t)) | ("sentdatetime", Lit::Time(t)) => {
                let v = if field.eq_ignore_ascii_case("receivedDateTime") {
                    m.received
                } else {
                    m.sent
                };
                let Some(v) = v else { return Ok(false) };
                match cmp {
                    Cmp::Eq => v == *t,
                    Cmp::Ne => v != *t,
                    Cmp::Ge => v >= *t,
                    Cmp::Gt => v > *t,
                    Cmp::Le => v <= *t,
                    Cmp::Lt => v < *t,
                }
            }
            _ => return Err(bad()),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `GET …/messages` (all folders) or `…/mailFolders/{id}/messages`: `$top` (1..1000,
/// default 10), `$skip`, `$select`, `$filter`, `$expand` \[4.1\]\[1.3\]; newest first.
pub(crate) fn list(
    st: &State,
    ctx: &Ctx,
    mbx: &Mailbox,
    folder: Option<&str>,
) -> Result<Resp, GraphError> {
    let folder_id = match folder {
        Some(key) => Some(mbx.folders[folders::resolve(mbx, key)?].id.clone()),
        None => None,
    };
    let by_property = ctx.query.get("$filter").and_then(extended_property_filter);
    let filter = match ctx.query.get("$filter") {
        Some(_) if by_property.is_some() => None,
        Some(f) => Some(Filter::parse(f)?),
        None => None,
    };
    let mut all = Vec::new();
    for m in &mbx.messages {
        if folder_id.as_deref().is_some_and(|f| m.folder_id != f) {
            continue;
        }
        if let Some((id, value)) = &by_property {
            let id = render::normalize_prop_id(id);
            let has = m
                .extended
                .iter()
                .any(|(k, v)| render::normalize_prop_id(k).eq_ignore_ascii_case(&id) && v == value);
            if !has {
                continue;
            }
        }
        if let Some(f) = &filter {
            if !matches(m, f)? {
                continue;
            }
        }
        all.push(m);
    }
    all.sort_by(|a, b| b.received.cmp(&a.received).then(a.imm_id.cmp(&b.imm_id)));
    let top = ctx.query.top(st.cfg.page_size)?;
    let skip = ctx.query.skip()?;
    let v = view(ctx);
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(top)
        .map(|m| render::message(mbx, m, &v))
        .collect();
    let context = match &folder_id {
        Some(f) => format!(
            "{}/$metadata#users('{}')/mailFolders('{}')/messages",
            ctx.graph_url(st),
            mbx.upn,
            f
        ),
        None => format!(
            "{}/$metadata#users('{}')/messages",
            ctx.graph_url(st),
            mbx.upn
        ),
    };
    let mut body = json!({"@odata.context": context, "value": page});
    if skip + top < all.len() {
        body["@odata.nextLink"] = json!(format!(
            "{}?{}",
            ctx.self_url(st),
            ctx.query.with("$skip", &(skip + top).to_string())
        ));
    }
    Ok(Resp::json(200, &body))
}

/// `GET …/messages/{id}`.
pub(crate) fn get(st: &State, ctx: &Ctx, mbx: &Mailbox, id: &str) -> Result<Resp, GraphError> {
    let i = resolve(mbx, id)?;
    Ok(entity(st, ctx, mbx, &mbx.messages[i], 200))
}

/// `GET …/messages/{id}/$value`: stored MIME for items that came in as MIME (header block
/// re-rendered when configured), otherwise MIME generated from the fields \[G-GMIME\].
pub(crate) fn value(st: &State, mbx: &Mailbox, id: &str) -> Result<Resp, GraphError> {
    let m = &mbx.messages[resolve(mbx, id)?];
    let bytes = match &m.mime {
        Some(stored) if st.cfg.regenerate_mime => Bytes::from(mime::regenerate(stored)),
        Some(stored) => stored.clone(),
        None => Bytes::from(mime::render(m)),
    };
    let mut r = Resp::empty(200).with_header("content-type", "message/rfc822");
    r.body = bytes;
    Ok(r)
}

fn target_folder(mbx: &Mailbox, folder: Option<&str>) -> Result<String, GraphError> {
    // [G-CMSG] POST /users/{id}/messages lands in Drafts.
    let key = folder.unwrap_or("drafts");
    Ok(mbx.folders[folders::resolve(mbx, key)?].id.clone())
}

/// Decodes a `text/plain` base64 MIME body \[G-MIME\]; JSON or other non-base64 → 400.
fn decode_mime_body(body: &[u8]) -> Result<(Bytes, mime::Parsed), GraphError> {
    let invalid = || {
        GraphError::new(
            400,
            "ErrorMimeContentInvalidBase64String",
            "Invalid base64 string for MIME content.",
        )
    };
    let raw = ids::decode_std(body)
        .filter(|r| !r.is_empty())
        .ok_or_else(invalid)?;
    let parsed = mime::parse(&raw).ok_or_else(|| {
        GraphError::new(
            400,
            "ErrorMimeContentInvalid",
            "The MIME content is invalid.",
        )
    })?;
    Ok((Bytes::from(raw), parsed))
}

/// `POST …/messages` or `…/mailFolders/{id}/messages`: JSON \[5.1\] or `text/plain` base64
/// MIME \[5.2\]; 201 + message.
pub(crate) fn create(
    st: &State,
    ctx: &Ctx,
    mbx: &mut Mailbox,
    folder: Option<&str>,
) -> Result<Resp, GraphError> {
    let folder_id = target_folder(mbx, folder)?;
    let ct = ctx.content_type();
    let m = if ct.starts_with("text/plain") {
        // [G-MIME][I-DRAFT] MIME create is always a draft.
        let (raw, parsed) = decode_mime_body(&ctx.body)?;
        let mut m = Message::new(&folder_id, CreatedBy::MimeCreate);
        parsed.apply(&mut m);
        m.mime = Some(raw);
        m.is_draft = true;
        m
    } else if ct.is_empty() || ct.starts_with("application/json") {
        json_message(&ctx.body, &folder_id)?
    } else {
        return Err(GraphError::new(
            415,
            "UnsupportedMediaType",
            "The content type is not supported.",
        ));
    };
    let i = mbx.insert(m);
    Ok(entity(st, ctx, mbx, &mbx.messages[i], 201))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A `SystemTime` property's value, or the error Exchange answers for one it cannot read.
fn system_time(val: &str) -> Result<time::OffsetDateTime, GraphError> {
    parse_time(val).ok_or_else(|| {
        GraphError::new(
            400,
            "ErrorInvalidExtendedPropertyValue",
            "Invalid SystemTime value.",
        )
    })
}

fn is_prop(id: &str, tag: &str) -> bool {
    render::normalize_prop_id(id).eq_ignore_ascii_case(tag)
}

/// Validates `internetMessageHeaders`: custom headers only, named `x-…` (\[G-MSG\]: "name
/// them starting with x-", set when creating); between one and five, an empty list
/// refused like a sixth header, and the error bodies as Graph words them (\[I-IMH\],
/// observed).
fn headers(v: &Value) -> Result<Vec<(String, String)>, GraphError> {
    let arr = v.as_array().cloned().unwrap_or_default();
    if arr.is_empty() || arr.len() > 5 {
        return Err(GraphError::new(
            400,
            "InvalidInternetMessageHeaderCollection",
            "Maximum number of headers in one message should be less than or equal to 5.",
        ));
    }
    let mut out = Vec::new();
    for h in arr {
        let name = h.get("name").and_then(Value::as_str).unwrap_or("");
        if !name.to_ascii_lowercase().starts_with("x-") {
            return Err(GraphError::new(
                400,
                "InvalidInternetMessageHeader",
                &format!(
                    "The internet message header name '{name}' should start with 'x-' or 'X-'."
                ),
            ));
        }
        let value = h.get("value").and_then(Value::as_str).unwrap_or("");
        out.push((name.to_owned(), value.to_owned()));
    }
    Ok(out)
}

/// A `#microsoft.graph.fileAttachment` from JSON \[5.1\]\[G-ATT\].
pub(crate) fn file_attachment(v: &Value) -> Result<Attachment, GraphError> {
    let ty = v.get("@odata.type").and_then(Value::as_str).unwrap_or("");
    if !ty.eq_ignore_ascii_case("#microsoft.graph.fileAttachment") {
        return Err(GraphError::new(
            400,
            "ErrorInvalidRequest",
            "Only #microsoft.graph.fileAttachment is supported by the emulator.",
        ));
    }
    let bytes = v
        .get("contentBytes")
        .and_then(Value::as_str)
        .and_then(|s| ids::decode_std(s.as_bytes()))
        .ok_or_else(|| GraphError::body_read("contentBytes is not valid base64."))?;
    Ok(Attachment {
        id: ids::new_id("AAMkAGAtt"),
        name: v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("attachment")
            .to_owned(),
        content_type: v
            .get("contentType")
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream")
            .to_owned(),
        is_inline: v.get("isInline").and_then(Value::as_bool).unwrap_or(false),
        content_id: v
            .get("contentId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        bytes: Bytes::from(bytes),
    })
}

/// JSON create \[5.1\]\[5.3\].
fn json_message(body: &[u8], folder_id: &str) -> Result<Message, GraphError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| GraphError::body_read("Invalid JSON in the request body."))?;
    if !v.is_object() {
        return Err(GraphError::body_read(
            "The request body must be a JSON object.",
        ));
    }
    let mut m = Message::new(folder_id, CreatedBy::JsonCreate);
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    m.subject = s("subject");
    if let Some(b) = v.get("body") {
        m.body_type = b
            .get("contentType")
            .and_then(Value::as_str)
            .unwrap_or("text")
            .to_ascii_lowercase();
        m.body = b
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
    }
    m.from = v.get("from").and_then(parse_recipient);
    m.sender = v
        .get("sender")
        .and_then(parse_recipient)
        .or_else(|| m.from.clone());
    m.to = v
        .get("toRecipients")
        .map(parse_recipients)
        .unwrap_or_default();
    m.cc = v
        .get("ccRecipients")
        .map(parse_recipients)
        .unwrap_or_default();
    m.bcc = v
        .get("bccRecipients")
        .map(parse_recipients)
        .unwrap_or_default();
    m.reply_to = v.get("replyTo").map(parse_recipients).unwrap_or_default();
    if let Some(imp) = s("importance") {
        m.importance = imp.to_ascii_lowercase();
    }
    m.internet_message_id = s("internetMessageId");
    m.categories = v.get("categories").map(strings).unwrap_or_default();
    if let Some(f) = v.pointer("/flag/flagStatus").and_then(Value::as_str) {
        m.flag_status = f.to_owned();
    }
    m.is_read = v.get("isRead").and_then(Value::as_bool).unwrap_or(false);
    if let Some(h) = v.get("internetMessageHeaders") {
        m.headers = headers(h)?;
    }
    if let Some(atts) = v.get("attachments").and_then(Value::as_array) {
        for a in atts {
            m.attachments.push(file_attachment(a)?);
        }
    }
    // [5.1] plain receivedDateTime/sentDateTime are ignored: Exchange stamps now (observed).
    let mut flags = None;
    for p in v
        .get("singleValueExtendedProperties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = p.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
        let val = p
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if is_prop(&id, "Integer 0xe07") {
            // [MS-OXCMSG][EE] decimal string; settable only at creation.
            flags = Some(val.trim().parse::<u32>().map_err(|_| {
                GraphError::new(
                    400,
                    "ErrorInvalidExtendedPropertyValue",
                    "Invalid value for Integer 0x0E07.",
                )
            })?);
        } else if is_prop(&id, "SystemTime 0xe06") {
            // [EE] PR_MESSAGE_DELIVERY_TIME → receivedDateTime.
            m.received = Some(system_time(&val)?);
        } else if is_prop(&id, "SystemTime 0x39") {
            // (observed) PR_CLIENT_SUBMIT_TIME → sentDateTime.
            m.sent = Some(system_time(&val)?);
        }
        m.extended.push((id, val));
    }
    match flags {
        // [G-CMSG][I-DRAFT] JSON create without 0x0E07 is a draft.
        None => m.is_draft = true,
        // [5.3] bit 0x08 (mfUnsent) ⇒ draft, bit 0x01 (mfRead) ⇒ read.
        Some(f) => {
            m.is_draft = f & 0x08 != 0;
            m.is_read = f & 0x01 != 0;
        }
    }
    if !m.is_draft && m.sent.is_none() {
        m.sent = m.received;
    }
    Ok(m)
}

/// Beta `POST …/mailFolders/{id}/importMime`: base64 MIME → 201, `isDraft:false`; read
/// state and receivedDateTime are configurable guesses (section 17) \[G-IMIME\].
pub(crate) fn import_mime(
    st: &State,
    ctx: &Ctx,
    mbx: &mut Mailbox,
    folder: &str,
) -> Result<Resp, GraphError> {
    let folder_id = mbx.folders[folders::resolve(mbx, folder)?].id.clone();
    if !ctx.content_type().starts_with("text/plain") {
        return Err(GraphError::new(
            415,
            "UnsupportedMediaType",
            "importMime takes text/plain base64 MIME.",
        ));
    }
    let (raw, parsed) = decode_mime_body(&ctx.body)?;
    let received = if st.cfg.import_mime_received_from_headers {
        parsed.received.or(parsed.date)
    } else {
        None
    };
    let mut m = Message::new(&folder_id, CreatedBy::ImportMime);
    parsed.apply(&mut m);
    if let Some(r) = received {
        m.received = Some(r);
    }
    m.mime = Some(raw);
    m.is_draft = false;
    m.is_read = st.cfg.import_mime_read;
    let i = mbx.insert(m);
    Ok(entity(st, ctx, mbx, &mbx.messages[i], 201))
}

/// `PATCH …/messages/{id}` \[G-UPD\]\[5.3\].
pub(crate) fn patch(
    st: &State,
    ctx: &Ctx,
    mbx: &mut Mailbox,
    id: &str,
) -> Result<Resp, GraphError> {
    let i = resolve(mbx, id)?;
    let v: Value = serde_json::from_slice(&ctx.body)
        .map_err(|_| GraphError::body_read("Invalid JSON in the request body."))?;
    let obj = v
        .as_object()
        .ok_or_else(|| GraphError::body_read("The request body must be a JSON object."))?;
    let draft = mbx.messages[i].is_draft;
    for k in obj.keys() {
        if !draft
            && matches!(
                k.as_str(),
                "subject" | "body" | "internetMessageId" | "replyTo"
            )
        {
            // [G-UPD] body, subject, internetMessageId, replyTo only while isDraft; the
            // code is Exchange's (EWS ResponseCode list; not in the doc).
            return Err(GraphError::new(
                400,
                "ErrorInvalidPropertyUpdateSentMessage",
                "Update operation is invalid for property of a sent message.",
            ));
        }
        if k == "importance"
            && !matches!(
                obj[k].as_str().map(str::to_ascii_lowercase).as_deref(),
                Some("low" | "normal" | "high")
            )
        {
            return Err(GraphError::body_read("Invalid importance."));
        }
    }
    let m = &mut mbx.messages[i];
    for (k, val) in obj {
        match k.as_str() {
            "isRead" => {
                if let Some(b) = val.as_bool() {
                    m.is_read = b;
                }
            }
            "categories" => m.categories = strings(val),
            "flag" => {
                if let Some(f) = val.get("flagStatus").and_then(Value::as_str) {
                    m.flag_status = f.to_owned();
                }
            }
            "importance" => m.importance = val.as_str().unwrap_or("normal").to_ascii_lowercase(),
            "toRecipients" => m.to = parse_recipients(val),
            "ccRecipients" => m.cc = parse_recipients(val),
            "bccRecipients" => m.bcc = parse_recipients(val),
            "replyTo" => m.reply_to = parse_recipients(val),
            "subject" => m.subject = val.as_str().map(str::to_owned),
            "internetMessageId" => m.internet_message_id = val.as_str().map(str::to_owned),
            "body" => {
                if let Some(c) = val.get("content").and_then(Value::as_str) {
                    m.body = c.to_owned();
                }
                if let Some(t) = val.get("contentType").and_then(Value::as_str) {
                    m.body_type = t.to_ascii_lowercase();
                }
            }
            // [5.3][I-DRAFT] isDraft:false after creation silently no-ops.
            "isDraft" => {}
            "singleValueExtendedProperties" => {
                for p in val.as_array().into_iter().flatten() {
                    let pid = p.get("id").and_then(Value::as_str).unwrap_or("");
                    let pval = p.get("value").and_then(Value::as_str).unwrap_or("");
                    // [MS-OXCMSG][MAPI-MF] PR_MESSAGE_FLAGS is read-only after the first
                    // save: 200, no effect [I-DRAFT].
                    if is_prop(pid, "Integer 0xe07") {
                        continue;
                    }
                    match m
                        .extended
                        .iter_mut()
                        .find(|(k, _)| is_prop(k, &render::normalize_prop_id(pid)))
                    {
                        Some(e) => e.1 = pval.to_owned(),
                        None => m.extended.push((pid.to_owned(), pval.to_owned())),
                    }
                }
            }
            _ => {}
        }
    }
    mbx.touch(i);
    Ok(entity(st, ctx, mbx, &mbx.messages[i], 200))
}

/// `DELETE …/messages/{id}` → 204.
pub(crate) fn delete(_ctx: &Ctx, mbx: &mut Mailbox, id: &str) -> Result<Resp, GraphError> {
    let i = resolve(mbx, id)?;
    mbx.delete(i);
    Ok(Resp::empty(204))
}

/// `POST …/messages/{id}/move {destinationId}` → 201; the rest id changes, the immutable
/// id stays \[G-IMM\].
pub(crate) fn move_message(
    st: &State,
    ctx: &Ctx,
    mbx: &mut Mailbox,
    id: &str,
) -> Result<Resp, GraphError> {
    let i = resolve(mbx, id)?;
    let v: Value = serde_json::from_slice(&ctx.body)
        .map_err(|_| GraphError::body_read("Invalid JSON in the request body."))?;
    let dest = v
        .get("destinationId")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::new(400, "ErrorInvalidRequest", "destinationId is required."))?;
    let folder_id = mbx.folders[folders::resolve(mbx, dest)?].id.clone();
    mbx.move_to(i, &folder_id);
    Ok(entity(st, ctx, mbx, &mbx.messages[i], 201))
}

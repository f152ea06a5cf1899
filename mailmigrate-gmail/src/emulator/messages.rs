//! `users.messages` list, get and modify, and `users.getProfile` \[GM-DISC\].

use axum::response::Response;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{json, GoogleError};
use super::server::Req;
use super::store::{Mailbox, Message};

/// The header fields of `raw`, unfolded, in order.
pub(crate) fn headers(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    out
}

/// The `Message-ID` of `raw` without angle brackets.
pub(crate) fn message_id(raw: &[u8]) -> Option<String> {
    headers(raw)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("message-id"))
        .map(|(_, v)| {
            v.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
}

/// A message id is Gmail's hex form; anything else is 400 "Invalid id value".
pub(crate) fn check_id(id: &str) -> Result<(), GoogleError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(GoogleError::invalid("Invalid id value"));
    }
    Ok(())
}

/// A Message resource in `format` (`minimal`, `metadata`, `raw`, `full`) \[GM-DISC\].
pub(crate) fn render(m: &Message, format: &str, wanted: &[&str]) -> Value {
    let mut v = json!({
        "id": m.id,
        "threadId": m.id,
        "labelIds": m.labels.iter().collect::<Vec<_>>(),
        "snippet": snippet(&m.raw),
        "sizeEstimate": m.raw.len(),
        "historyId": m.history_id.to_string(),
        "internalDate": m.internal_date.to_string(),
    });
    match format {
        "raw" => {
            v["raw"] = json!(base64::engine::general_purpose::URL_SAFE.encode(&m.raw));
        }
        "metadata" | "full" => {
            let hs: Vec<Value> = headers(&m.raw)
                .into_iter()
                .filter(|(n, _)| {
                    format == "full"
                        || wanted.is_empty()
                        || wanted.iter().any(|w| w.eq_ignore_ascii_case(n))
                })
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect();
            v["payload"] = json!({"partId": "", "mimeType": "message/rfc822", "headers": hs});
        }
        _ => {}
    }
    v
}

fn snippet(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let body = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .map_or("", |(_, b)| b);
    body.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(100)
        .collect()
}

/// `GET profile` → `{emailAddress, messagesTotal, threadsTotal, historyId}`.
pub(crate) fn profile(mbx: &Mailbox) -> Result<Response, GoogleError> {
    Ok(json(
        200,
        &json!({
            "emailAddress": mbx.email,
            "messagesTotal": mbx.messages.len(),
            "threadsTotal": mbx.messages.len(),
            "historyId": mbx.history_id.to_string(),
        }),
    ))
}

/// What `q` may say here: `rfc822msgid:<id>`, the one search the client uses, or several
/// joined by `OR` (Gmail's search operators combine with `OR` \[GM-SEARCH\]). Any other
/// query is refused, so a client relying on more is caught.
fn search(q: &str) -> Result<Vec<String>, GoogleError> {
    let refuse = || {
        GoogleError::invalid(format!(
            "Invalid query {q:?}: the emulator understands only rfc822msgid:<id> [OR …]"
        ))
    };
    q.split(" OR ")
        .map(|term| {
            let value = term
                .trim()
                .strip_prefix("rfc822msgid:")
                .filter(|v| !v.trim().is_empty() && !v.trim().contains(' '))
                .ok_or_else(refuse)?;
            Ok(value
                .trim()
                .trim_matches('"')
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned())
        })
        .collect()
}

/// An opaque page token for `offset`, and back.
pub(crate) fn page_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("page:{offset}"))
}

pub(crate) fn page_offset(token: Option<&str>) -> Result<usize, GoogleError> {
    let Some(token) = token else { return Ok(0) };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("page:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| GoogleError::invalid("Invalid pageToken"))
}

/// The page size a request asks for: `maxResults`, default `default`, at most 500
/// \[GM-DISC\]\[12\].
pub(crate) fn page_size(req: &Req, default: usize) -> usize {
    req.param("maxResults")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(default)
        .clamp(1, 500)
}

/// `GET messages`: newest first (by `internalDate`), `labelIds` must all match, Spam and
/// Trash only with `includeSpamTrash=true`, pages of `maxResults` (≤ 500) with an opaque
/// `nextPageToken` \[GM-DISC\].
pub(crate) fn list(req: &Req, mbx: &Mailbox) -> Result<Response, GoogleError> {
    let labels = req.params("labelIds");
    let spam_trash = req.flag("includeSpamTrash");
    let wanted_id = req.param("q").map(search).transpose()?;
    let mut hits: Vec<&Message> = mbx
        .messages
        .values()
        .filter(|m| labels.iter().all(|l| m.labels.contains(*l)))
        .filter(|m| spam_trash || !(m.labels.contains("SPAM") || m.labels.contains("TRASH")))
        .filter(|m| {
            wanted_id
                .as_ref()
                .is_none_or(|w| message_id(&m.raw).is_some_and(|id| w.contains(&id)))
        })
        .collect();
    hits.sort_by(|a, b| (b.internal_date, &b.id).cmp(&(a.internal_date, &a.id)));
    let size = page_size(req, 100);
    let offset = page_offset(req.param("pageToken"))?;
    let page: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(size)
        .map(|m| json!({"id": m.id, "threadId": m.id}))
        .collect();
    let mut v = json!({ "resultSizeEstimate": hits.len() });
    if !page.is_empty() {
        v["messages"] = json!(page);
    }
    if offset + size < hits.len() {
        v["nextPageToken"] = json!(page_token(offset + size));
    }
    Ok(json(200, &v))
}

/// `GET messages/{id}?format=…&metadataHeaders=…` \[GM-DISC\].
pub(crate) fn get(req: &Req, mbx: &Mailbox) -> Result<Response, GoogleError> {
    let id = req.path("id");
    check_id(id)?;
    let m = mbx.messages.get(id).ok_or_else(GoogleError::not_found)?;
    let format = req.param("format").unwrap_or("full");
    Ok(json(
        200,
        &render(m, format, &req.params("metadataHeaders")),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Modify {
    #[serde(default)]
    add_label_ids: Vec<String>,
    #[serde(default)]
    remove_label_ids: Vec<String>,
}

/// `POST messages/{id}/modify` `{addLabelIds, removeLabelIds}`. DRAFT and SENT cannot be
/// applied or removed by hand \[GM-LBL\]; unknown labels are 400.
pub(crate) fn modify(req: &Req, mbx: &mut Mailbox) -> Result<Response, GoogleError> {
    let id = req.path("id").to_owned();
    check_id(&id)?;
    let body: Modify = serde_json::from_slice(&req.body)
        .map_err(|e| GoogleError::invalid(format!("Invalid JSON payload received. {e}")))?;
    if !mbx.messages.contains_key(&id) {
        return Err(GoogleError::not_found());
    }
    let all = body.add_label_ids.iter().chain(&body.remove_label_ids);
    mbx.check_labels(all.clone())?;
    if let Some(fixed) = all.clone().find(|l| *l == "DRAFT" || *l == "SENT") {
        return Err(GoogleError::invalid(format!("Invalid label: {fixed}")));
    }
    mbx.relabel(&id, &body.add_label_ids, &body.remove_label_ids);
    let m = mbx.messages.get(&id).expect("checked above");
    Ok(json(200, &render(m, "minimal", &[])))
}

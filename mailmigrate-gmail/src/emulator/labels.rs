//! `users.labels`: list, get, create \[GM-LBL\]\[GM-DISC\].

use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::{json, GoogleError};
use super::server::{Req, State};
use super::store::{Label, Mailbox};

fn render(l: &Label) -> Value {
    let mut v = json!({
        "id": l.id,
        "name": l.name,
        "type": if l.system { "system" } else { "user" },
    });
    if !l.system {
        v["messageListVisibility"] = json!("show");
        v["labelListVisibility"] = json!("labelShow");
    }
    v
}

/// `GET labels` → `{labels: [Label]}`, no paging \[GM-LBL\].
pub(crate) fn list(mbx: &Mailbox) -> Result<Response, GoogleError> {
    let labels: Vec<Value> = mbx.labels.iter().map(render).collect();
    Ok(json(200, &json!({ "labels": labels })))
}

/// `GET labels/{id}` with its counts \[GM-LBL\].
pub(crate) fn get(req: &Req, mbx: &Mailbox) -> Result<Response, GoogleError> {
    let id = req.path("id");
    let label = mbx.label(id).ok_or_else(GoogleError::not_found)?;
    let with: Vec<_> = mbx
        .messages
        .values()
        .filter(|m| m.labels.contains(id))
        .collect();
    let unread = with.iter().filter(|m| m.labels.contains("UNREAD")).count();
    let mut v = render(label);
    v["messagesTotal"] = json!(with.len());
    v["messagesUnread"] = json!(unread);
    v["threadsTotal"] = json!(with.len());
    v["threadsUnread"] = json!(unread);
    Ok(json(200, &v))
}

#[derive(Debug, Deserialize)]
struct NewLabel {
    name: Option<String>,
}

/// `POST labels` `{name}`: a system label's name (or another reserved one) is 400
/// "Invalid label name", a name taken in any case 409 "Label name exists or conflicts",
/// past the cap 400 \[GM-LBL\]\[I-GLBL\]. A name with `/` is stored as given: it shows
/// nested only where its parent exists \[GM-LBL\].
pub(crate) fn create(st: &State, req: &Req, mbx: &mut Mailbox) -> Result<Response, GoogleError> {
    let body: NewLabel = serde_json::from_slice(&req.body)
        .map_err(|e| GoogleError::invalid(format!("Invalid JSON payload received. {e}")))?;
    let name = body.name.unwrap_or_default();
    let trimmed = name.trim();
    let reserved = super::store::SYSTEM_LABELS
        .iter()
        .copied()
        .chain(st.cfg.reserved_names.iter().map(String::as_str))
        .any(|r| r.eq_ignore_ascii_case(trimmed));
    if trimmed.is_empty() || reserved {
        return Err(GoogleError::invalid("Invalid label name"));
    }
    if mbx
        .labels
        .iter()
        .any(|l| l.name.eq_ignore_ascii_case(trimmed))
    {
        return Err(GoogleError::new(
            409,
            "aborted",
            "Label name exists or conflicts",
        ));
    }
    if mbx.user_labels() >= st.cfg.label_cap {
        // [GM-LBL] 10,000 labels per mailbox; the answer's wording is not documented.
        return Err(GoogleError::new(
            400,
            "failedPrecondition",
            "Too many labels.",
        ));
    }
    let id = mbx.add_label(trimmed);
    let label = mbx.label(&id).expect("just added");
    Ok(json(200, &render(label)))
}

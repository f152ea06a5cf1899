//! `users.settings.delegates.list` and `users.settings.sendAs.list` \[GM-DISC\]: what the
//! directory's permission listing reads, from the user's
//! [`WorkspaceUser`](super::WorkspaceUser) profile.

use serde_json::{json, Value};

use super::errors::{json, GoogleError};
use super::server::State;
use super::store::Mailbox;
use super::WorkspaceUser;
use axum::response::Response;

fn profile(st: &State, mbx: &Mailbox) -> WorkspaceUser {
    st.cfg
        .directory
        .profiles
        .iter()
        .find(|p| p.email.eq_ignore_ascii_case(&mbx.email))
        .cloned()
        .unwrap_or_else(|| WorkspaceUser::new(&mbx.email))
}

/// `{delegates: [{delegateEmail, verificationStatus}]}`; the field is left out when there
/// are none ("If an account doesn't have delegates, this field doesn't appear",
/// `ListDelegatesResponse` \[GM-DISC\]). Delegates "can read, send, and delete messages"
/// of the account \[GM-DELEG\].
pub(crate) fn delegates(st: &State, mbx: &Mailbox) -> Result<Response, GoogleError> {
    let list: Vec<Value> = profile(st, mbx)
        .delegates
        .iter()
        .map(|d| json!({"delegateEmail": d, "verificationStatus": "accepted"}))
        .collect();
    let body = if list.is_empty() {
        json!({})
    } else {
        json!({ "delegates": list })
    };
    Ok(json(200, &body))
}

/// `{sendAs: [SendAs…]}`: the primary address first (`isPrimary`, `isDefault`: "Every
/// Gmail account has exactly one primary address"), then each custom "from" address,
/// `accepted` \[GM-DISC\]\[GM-SENDAS\].
pub(crate) fn send_as(st: &State, mbx: &Mailbox) -> Result<Response, GoogleError> {
    let user = profile(st, mbx);
    let mut list = vec![json!({
        "sendAsEmail": user.email,
        "displayName": user.full_name.clone().unwrap_or_default(),
        "isPrimary": true,
        "isDefault": true,
    })];
    list.extend(user.send_as.iter().map(|a| {
        json!({
            "sendAsEmail": a,
            "isPrimary": false,
            "isDefault": false,
            "treatAsAlias": true,
            "verificationStatus": "accepted",
        })
    }));
    Ok(json(200, &json!({ "sendAs": list })))
}

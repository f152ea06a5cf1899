//! Google's OAuth 2.0 token endpoint — the refresh-token grant (RFC 6749 §6, \[RFC6749\]) —
//! and the bearer check of every API call \[GM-ERR\].

use std::collections::HashMap;
use std::time::Instant;

use axum::response::Response;
use serde_json::json;

use super::errors::{json, GoogleError};
use super::server::{decode, State};

/// An issued access token: whose, until when, of which epoch.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub(crate) user: String,
    expires: Instant,
    epoch: u64,
}

/// An OAuth error body `{error, error_description}`.
fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// `POST /token`, form-encoded.
pub(crate) fn token(st: &State, body: &[u8]) -> Response {
    let form: HashMap<String, String> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    match get("grant_type") {
        "refresh_token" => {}
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            // [GO-SA] service accounts: not emulated in this slice.
            return oauth_error(
                400,
                "unsupported_grant_type",
                "The emulator does not issue service-account tokens yet.",
            );
        }
        other => {
            return oauth_error(
                400,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            )
        }
    }
    if get("client_id") != st.cfg.client_id || get("client_secret") != st.cfg.client_secret {
        return oauth_error(401, "invalid_client", "The OAuth client was not found.");
    }
    let Some((user, _)) = st
        .cfg
        .users
        .iter()
        .find(|(_, refresh)| refresh == get("refresh_token"))
    else {
        return oauth_error(400, "invalid_grant", "Token has been expired or revoked.");
    };
    let token = format!("ya29.emulated-{:032x}", rand::random::<u128>());
    let life = st.cfg.token_lifetime;
    st.tokens().insert(
        token.clone(),
        Issued {
            user: user.clone(),
            expires: Instant::now() + life,
            epoch: st.token_epoch(),
        },
    );
    st.counters().tokens_issued += 1;
    json(
        200,
        &json!({
            "access_token": token,
            "expires_in": life.as_secs(),
            "token_type": "Bearer",
            "scope": "https://mail.google.com/",
        }),
    )
}

/// The user of `Authorization: Bearer …`; 401 `authError` otherwise \[GM-ERR\].
pub(crate) fn check(st: &State, header: Option<&str>) -> Result<String, GoogleError> {
    let token = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(GoogleError::auth)?;
    let tokens = st.tokens();
    let issued = tokens.get(token.trim()).ok_or_else(GoogleError::auth)?;
    if issued.epoch != st.token_epoch() || Instant::now() >= issued.expires {
        return Err(GoogleError::auth());
    }
    Ok(issued.user.clone())
}

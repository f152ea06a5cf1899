//! Google's OAuth 2.0 token endpoint — the refresh-token grant (RFC 6749 §6, \[RFC6749\]),
//! the service-account JWT bearer grant ([`super::service_account`], \[GO-SA\]) and the
//! installed-app authorization-code grant ([`super::consent`], \[GO-IA\]) — and the bearer
//! and scope checks of every API call \[GM-ERR\]\[GM-DISC\].

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
    /// The scopes granted.
    scopes: Vec<String>,
}

/// Issues an access token for `user` with `scopes`.
pub(crate) fn issue(st: &State, user: &str, scopes: Vec<String>) -> String {
    let token = format!("ya29.emulated-{:032x}", rand::random::<u128>());
    st.tokens().insert(
        token.clone(),
        Issued {
            user: user.to_owned(),
            expires: Instant::now() + st.cfg.token_lifetime,
            epoch: st.token_epoch(),
            scopes,
        },
    );
    st.counters().tokens_issued += 1;
    token
}

/// An OAuth error body `{error, error_description}`.
pub(crate) fn oauth_error(status: u16, error: &str, description: &str) -> Response {
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
        // [GO-SA] a service account's signed assertion: no client id or secret.
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            return super::service_account::grant(st, &form);
        }
        // [GO-IA] the installed-app flow's code, with its PKCE verifier.
        "authorization_code" => return super::consent::exchange(st, &form),
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
    let scopes: Vec<String> = REFRESH_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    let token = issue(st, user, scopes);
    let life = st.cfg.token_lifetime;
    json(
        200,
        &json!({
            "access_token": token,
            "expires_in": life.as_secs(),
            "token_type": "Bearer",
            "scope": REFRESH_SCOPES.join(" "),
        }),
    )
}

/// The full mail scope; refresh tokens of the emulator carry it \[10.3\].
pub(crate) const FULL: &str = "https://mail.google.com/";

/// What the emulator's refresh tokens were consented for: the full mail scope and the
/// directory's read-only scopes \[AD-DISC\] (reading the directory takes an admin too).
const REFRESH_SCOPES: &[&str] = &[
    FULL,
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
];

/// Whether the bearer's token holds one of `admitting` (an unknown token passes here;
/// [`check`] refuses it).
pub(crate) fn has_scope(st: &State, header: Option<&str>, admitting: &[String]) -> bool {
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return true;
    };
    st.tokens()
        .get(token.trim())
        .is_none_or(|t| t.scopes.iter().any(|s| admitting.contains(s)))
}

/// The scopes that admit a Gmail method, per the discovery document's `scopes`
/// \[GM-DISC\]; `None` for methods outside this table (they are not checked).
fn admitting(method_id: &str) -> Option<&'static [&'static str]> {
    Some(match method_id.strip_prefix("gmail.users.")? {
        "labels.list" | "labels.get" => &[
            FULL,
            "https://www.googleapis.com/auth/gmail.modify",
            "https://www.googleapis.com/auth/gmail.readonly",
            "https://www.googleapis.com/auth/gmail.labels",
            "https://www.googleapis.com/auth/gmail.metadata",
        ],
        "labels.create" => &[
            FULL,
            "https://www.googleapis.com/auth/gmail.modify",
            "https://www.googleapis.com/auth/gmail.labels",
        ],
        "messages.list" | "messages.get" | "history.list" | "getProfile" => &[
            FULL,
            "https://www.googleapis.com/auth/gmail.modify",
            "https://www.googleapis.com/auth/gmail.readonly",
            "https://www.googleapis.com/auth/gmail.metadata",
        ],
        "messages.modify" => &[FULL, "https://www.googleapis.com/auth/gmail.modify"],
        "settings.delegates.list" | "settings.sendAs.list" => &[
            FULL,
            "https://www.googleapis.com/auth/gmail.modify",
            "https://www.googleapis.com/auth/gmail.readonly",
            "https://www.googleapis.com/auth/gmail.settings.basic",
        ],
        "messages.import" | "messages.insert" => &[
            FULL,
            "https://www.googleapis.com/auth/gmail.modify",
            "https://www.googleapis.com/auth/gmail.insert",
        ],
        _ => return None,
    })
}

/// Checks that the bearer's token may call `method_id`: 403 `insufficientPermissions`
/// "Request had insufficient authentication scopes." without an admitting scope
/// \[GM-ERR\]; 400 `failedPrecondition` for a service account's own token (no `sub`),
/// which has no mailbox (observed).
pub(crate) fn check_scope(
    st: &State,
    header: Option<&str>,
    method_id: &str,
) -> Result<(), GoogleError> {
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return Ok(());
    };
    let tokens = st.tokens();
    let Some(issued) = tokens.get(token.trim()) else {
        return Ok(());
    };
    if issued.user.is_empty() {
        return Err(GoogleError::new(
            400,
            "failedPrecondition",
            "Precondition check failed.",
        ));
    }
    match admitting(method_id) {
        Some(ok) if !issued.scopes.iter().any(|s| ok.contains(&s.as_str())) => {
            Err(GoogleError::new(
                403,
                "insufficientPermissions",
                "Request had insufficient authentication scopes.",
            ))
        }
        _ => Ok(()),
    }
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

//! The identity platform's token endpoint — the client-credentials grant \[AAD-CC\], and
//! the device code and refresh-token grants of delegated sign-ins ([`super::device`],
//! \[AAD-DC\]) — and bearer checks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use super::errors::{GraphError, Resp};
use super::ids;
use super::odata::decode;
use super::server::State;

/// An issued access token.
#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    pub(crate) client_id: String,
    /// The signed-in user of a delegated token (lower case); `None` for app-only.
    pub(crate) user: Option<String>,
    expires: Instant,
    epoch: u64,
}

/// Issued tokens.
#[derive(Debug, Default)]
pub(crate) struct Tokens(Mutex<HashMap<String, TokenInfo>>);

/// An OAuth error `{error, error_description "AADSTS…", error_codes, timestamp, trace_id,
/// correlation_id}` \[AAD-CC\].
pub(crate) fn oauth_error(status: u16, error: &str, aadsts: u32, text: &str) -> Resp {
    let trace = super::errors::request_id();
    let now = super::render::fmt_time(super::store::now());
    Resp::json(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{aadsts}: {text} Trace ID: {trace} Correlation ID: {trace} Timestamp: {now}"),
            "error_codes": [aadsts],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": trace,
        }),
    )
}

/// `POST /{tenant}/oauth2/v2.0/{endpoint}`, form-encoded: `token` \[AAD-CC\]\[AAD-DC\] or
/// `devicecode` \[AAD-DC\].
pub(crate) fn endpoint(st: &State, tenant: &str, endpoint: &str, body: &[u8]) -> Resp {
    if !tenant.eq_ignore_ascii_case(&st.cfg.tenant) {
        return oauth_error(
            400,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let form: HashMap<String, String> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    if endpoint == "devicecode" {
        return super::device::devicecode(st, &form);
    }
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    match get("grant_type") {
        "client_credentials" => {}
        "urn:ietf:params:oauth:grant-type:device_code" => return super::device::poll(st, &form),
        "refresh_token" => return super::device::refresh(st, &form),
        "" => {
            return oauth_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        }
        _ => {
            return oauth_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            )
        }
    }
    if get("client_id") != st.cfg.client_id {
        return oauth_error(
            400,
            "unauthorized_client",
            700016,
            "Application was not found in the directory.",
        );
    }
    if get("client_secret") != st.cfg.client_secret {
        return oauth_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        );
    }
    if get("scope") != "https://graph.microsoft.com/.default" {
        // [AAD-CC] app-only tokens need the `/.default` scope.
        return oauth_error(
            400,
            "invalid_scope",
            1002012,
            "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
        );
    }
    let (token, life) = issue(st, &st.cfg.client_id, None);
    Resp::json(
        200,
        &json!({
            "token_type": "Bearer",
            "expires_in": life.as_secs(),
            "ext_expires_in": life.as_secs(),
            "access_token": token,
        }),
    )
}

/// Issues an access token for `client_id`, acting as `user` when delegated; the token and
/// its lifetime.
pub(crate) fn issue(st: &State, client_id: &str, user: Option<&str>) -> (String, Duration) {
    let token = format!("eyJ0eXAiOiJKV1Qi.{}", ids::new_token(48));
    let life = st.cfg.token_lifetime;
    st.tokens
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            token.clone(),
            TokenInfo {
                client_id: client_id.to_owned(),
                user: user.map(str::to_owned),
                expires: Instant::now() + life,
                epoch: st.faults.token_epoch(),
            },
        );
    st.counters().tokens_issued += 1;
    (token, life)
}

/// Checks `Authorization: Bearer …`; 401 `InvalidAuthenticationToken` otherwise \[G-ERR\].
pub(crate) fn check(st: &State, header: Option<&str>) -> Result<TokenInfo, GraphError> {
    let unauth = |m: &str| GraphError::new(401, "InvalidAuthenticationToken", m);
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return Err(unauth("Access token is empty."));
    };
    let tokens = st.tokens.0.lock().unwrap_or_else(|e| e.into_inner());
    let Some(info) = tokens.get(token.trim()) else {
        return Err(unauth("IDX14100: JWT is not well formed."));
    };
    if info.epoch != st.faults.token_epoch() || Instant::now() >= info.expires {
        return Err(unauth("Lifetime validation failed, the token is expired."));
    }
    Ok(info.clone())
}

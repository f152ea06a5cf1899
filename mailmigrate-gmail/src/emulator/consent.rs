//! The installed-app flow \[GO-IA\]\[RFC7636\]: `GET /o/oauth2/auth` (and `/o/oauth2/v2/auth`)
//! is the consent screen, answered at once by the approval hook
//! ([`Consent`], set with [`EmulatorHandle::set_consent`](super::EmulatorHandle::set_consent)):
//! a `302` to the loopback `redirect_uri` with `code` and `state`, or with
//! `error=access_denied`. The token endpoint's `authorization_code` grant takes each code
//! once, within ten minutes, with the same `redirect_uri` and the PKCE `code_verifier`
//! whose S256 hash is the `code_challenge`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde_json::json;

use super::auth::{issue, oauth_error};
use super::errors::json;
use super::server::State;

/// How long a code may wait for its exchange (Google publishes no figure; inferred).
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// What the emulated user does on the consent screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Consent {
    /// Approve as the `login_hint` user when the domain has it, else as the domain's
    /// first user (the default).
    #[default]
    AsHinted,
    /// Approve as this user of the domain.
    ApproveAs(String),
    /// Refuse: the redirect carries `error=access_denied`.
    Deny,
}

/// A code handed out and not yet exchanged.
#[derive(Debug)]
struct Pending {
    user: String,
    redirect_uri: String,
    challenge: Option<(String, String)>,
    scopes: Vec<String>,
    offline: bool,
    issued: Instant,
}

/// The consent decision and the codes in flight.
#[derive(Debug, Default)]
pub(crate) struct ConsentState {
    decision: Mutex<Consent>,
    codes: Mutex<HashMap<String, Pending>>,
}

impl ConsentState {
    pub(crate) fn set(&self, c: Consent) {
        *self.decision.lock().unwrap_or_else(|e| e.into_inner()) = c;
    }
    fn decision(&self) -> Consent {
        self.decision
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    fn codes(&self) -> MutexGuard<'_, HashMap<String, Pending>> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An error page of the consent screen (Google shows `Error 400: …` in the browser and
/// does not redirect when the client or the redirect cannot be trusted).
fn page(status: u16, text: &str) -> Response {
    let mut r = Response::new(Body::from(format!(
        "<!doctype html><title>Error</title><p>{text}</p>"
    )));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn redirect(to: &str) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Whether `uri` is a loopback redirect (`http://127.0.0.1:port`, `[::1]`, `localhost`)
/// \[GO-IA\].
fn loopback(uri: &str) -> bool {
    let Ok(u) = oauth2::url::Url::parse(uri) else {
        return false;
    };
    u.scheme() == "http"
        && match u.host() {
            Some(oauth2::url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(oauth2::url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            Some(oauth2::url::Host::Domain(d)) => d == "localhost",
            None => false,
        }
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `GET /o/oauth2/auth?…` \[GO-IA\].
pub(crate) fn authorize(st: &State, raw_query: Option<&str>) -> Response {
    let q = super::server::parse_query(raw_query);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("client_id") != Some(st.cfg.client_id.as_str()) {
        return page(
            401,
            "Error 401: invalid_client. The OAuth client was not found.",
        );
    }
    let Some(redirect_uri) = get("redirect_uri").filter(|r| loopback(r)) else {
        return page(400, "Error 400: redirect_uri_mismatch");
    };
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let state = get("state")
        .map(|s| format!("&state={}", enc(s)))
        .unwrap_or_default();
    let fail = |error: &str| redirect(&format!("{redirect_uri}{sep}error={error}{state}"));
    if get("response_type") != Some("code") {
        return fail("unsupported_response_type");
    }
    let scopes: Vec<String> = get("scope")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return page(
            400,
            "Error 400: invalid_request. Missing required parameter: scope",
        );
    }
    if scopes.iter().any(|s| !s.starts_with("https://")) {
        return fail("invalid_scope");
    }
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), m @ (None | Some("S256") | Some("plain"))) => {
            Some((c.to_owned(), m.unwrap_or("plain").to_owned()))
        }
        (None, None) => None,
        _ => {
            return page(
                400,
                "Error 400: invalid_request. Invalid code_challenge_method",
            )
        }
    };
    let users: Vec<&String> = st.cfg.users.iter().map(|(u, _)| u).collect();
    let user = match st.consent.decision() {
        Consent::Deny => return fail("access_denied"),
        Consent::ApproveAs(u) => u.to_ascii_lowercase(),
        Consent::AsHinted => match get("login_hint").map(str::to_ascii_lowercase) {
            Some(h) if users.contains(&&h) => h,
            _ => match users.first() {
                Some(u) => (*u).clone(),
                None => return fail("access_denied"),
            },
        },
    };
    let code = format!("4/0Emu{:032x}", rand::random::<u128>());
    st.consent.codes().insert(
        code.clone(),
        Pending {
            user,
            redirect_uri: redirect_uri.to_owned(),
            challenge,
            scopes: scopes.clone(),
            offline: get("access_type") == Some("offline"),
            issued: Instant::now(),
        },
    );
    redirect(&format!(
        "{redirect_uri}{sep}code={}&scope={}{state}",
        enc(&code),
        enc(&scopes.join(" "))
    ))
}

/// `grant_type=authorization_code` \[GO-IA\]\[RFC7636\].
pub(crate) fn exchange(st: &State, form: &HashMap<String, String>) -> Response {
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != st.cfg.client_id || get("client_secret") != st.cfg.client_secret {
        return oauth_error(401, "invalid_client", "The OAuth client was not found.");
    }
    let Some(p) = st.consent.codes().remove(get("code")) else {
        // A used or unknown code (observed wording for both).
        return oauth_error(400, "invalid_grant", "Malformed auth code.");
    };
    if p.issued.elapsed() > CODE_LIFETIME {
        return oauth_error(400, "invalid_grant", "Bad Request");
    }
    if get("redirect_uri") != p.redirect_uri {
        return oauth_error(400, "redirect_uri_mismatch", "Bad Request");
    }
    let verifier = form.get("code_verifier");
    match (&p.challenge, verifier) {
        (Some(_), None) => return oauth_error(400, "invalid_grant", "Missing code verifier."),
        (Some((challenge, method)), Some(v)) => {
            let derived = match method.as_str() {
                "S256" => base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(ring::digest::digest(&ring::digest::SHA256, v.as_bytes())),
                _ => v.clone(),
            };
            if derived != *challenge {
                return oauth_error(400, "invalid_grant", "Invalid code verifier.");
            }
        }
        (None, Some(_)) => {
            return oauth_error(
                400,
                "invalid_grant",
                "code_verifier or verifier is not needed.",
            )
        }
        (None, None) => {}
    }
    let token = issue(st, &p.user, p.scopes.clone());
    let mut answer = json!({
        "access_token": token,
        "expires_in": st.cfg.token_lifetime.as_secs(),
        "token_type": "Bearer",
        "scope": p.scopes.join(" "),
    });
    if p.offline {
        if let Some((_, refresh)) = st.cfg.users.iter().find(|(u, _)| *u == p.user) {
            answer["refresh_token"] = json!(refresh);
        }
    }
    json(200, &answer)
}

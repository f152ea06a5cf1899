//! Delegated sign-ins: the device code flow and refresh tokens \[AAD-DC\].
//!
//! `POST /{tenant}/oauth2/v2.0/devicecode` hands out a device code and a user code; the
//! token endpoint answers `authorization_pending` (AADSTS70016) until a test approves the
//! user code for a mailbox ([`EmulatorHandle::approve_device_code`]), then an access token
//! acting as that mailbox's user and a refresh token. Refresh tokens rotate: every
//! refresh answers a new one (the old one keeps working, as the identity platform's do
//! until they expire). A poll sooner than the interval is counted
//! ([`Stats::early_device_polls`]), since RFC 8628 §3.5 asks clients to wait it out.
//!
//! [`EmulatorHandle::approve_device_code`]: super::EmulatorHandle::approve_device_code
//! [`Stats::early_device_polls`]: super::Stats::early_device_polls

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use serde_json::json;

use super::auth::{issue, oauth_error};
use super::errors::Resp;
use super::ids;
use super::server::State;

/// Where a device code stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Waiting,
    Approved(String),
    Declined,
}

#[derive(Debug)]
struct Pending {
    user_code: String,
    client_id: String,
    expires: Instant,
    last_poll: Option<Instant>,
    answer: Answer,
}

#[derive(Debug, Default)]
struct Inner {
    /// By device code.
    codes: HashMap<String, Pending>,
    /// Refresh token → (client id, user).
    refresh: HashMap<String, (String, String)>,
    early_polls: u64,
}

/// The emulator's delegated sign-ins.
#[derive(Debug, Default)]
pub(crate) struct SignIns(Mutex<Inner>);

impl SignIns {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Approves (`Some(upn)`) or declines (`None`) the sign-in showing `user_code`;
    /// whether there was one.
    pub(crate) fn answer(&self, user_code: &str, upn: Option<&str>) -> bool {
        let mut inner = self.lock();
        let Some(p) = inner.codes.values_mut().find(|p| p.user_code == user_code) else {
            return false;
        };
        p.answer = match upn {
            Some(u) => Answer::Approved(u.to_ascii_lowercase()),
            None => Answer::Declined,
        };
        true
    }

    /// Polls that came sooner than the interval.
    pub(crate) fn early_polls(&self) -> u64 {
        self.lock().early_polls
    }
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` with `client_id` and `scope` \[AAD-DC\].
pub(crate) fn devicecode(st: &State, form: &HashMap<String, String>) -> Resp {
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != st.cfg.client_id {
        return oauth_error(
            400,
            "unauthorized_client",
            700016,
            "Application was not found in the directory.",
        );
    }
    if get("scope").is_empty() {
        return oauth_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    }
    let device_code = ids::new_token(40);
    let user_code = ids::new_token(9).to_ascii_uppercase();
    let life = st.cfg.device_code_lifetime;
    st.sign_ins.lock().codes.insert(
        device_code.clone(),
        Pending {
            user_code: user_code.clone(),
            client_id: st.cfg.client_id.clone(),
            expires: Instant::now() + life,
            last_poll: None,
            answer: Answer::Waiting,
        },
    );
    let uri = "https://microsoft.com/devicelogin";
    Resp::json(
        200,
        &json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": uri,
            "expires_in": life.as_secs(),
            "interval": st.cfg.device_code_interval.as_secs(),
            "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
        }),
    )
}

/// The token endpoint's `urn:ietf:params:oauth:grant-type:device_code` grant \[AAD-DC\].
pub(crate) fn poll(st: &State, form: &HashMap<String, String>) -> Resp {
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let now = Instant::now();
    let user = {
        let mut inner = st.sign_ins.lock();
        let Inner {
            codes, early_polls, ..
        } = &mut *inner;
        let Some(p) = codes.get_mut(get("device_code")) else {
            return oauth_error(
                400,
                "bad_verification_code",
                70019,
                "The device code is not known.",
            );
        };
        if p.client_id != get("client_id") {
            return oauth_error(
                400,
                "invalid_grant",
                70000,
                "The provided value for the 'device_code' is not valid for this client.",
            );
        }
        if p.last_poll
            .is_some_and(|t| now.duration_since(t) < st.cfg.device_code_interval)
        {
            *early_polls += 1;
        }
        p.last_poll = Some(now);
        if now >= p.expires {
            return oauth_error(
                400,
                "expired_token",
                70020,
                "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
            );
        }
        match p.answer.clone() {
            Answer::Waiting => {
                return oauth_error(
                    400,
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                )
            }
            Answer::Declined => {
                return oauth_error(
                    400,
                    "authorization_declined",
                    70000,
                    "The user declined the authorization request.",
                )
            }
            Answer::Approved(user) => {
                codes.remove(get("device_code"));
                user
            }
        }
    };
    delegated(st, get("client_id"), &user, get("scope"))
}

/// The token endpoint's `refresh_token` grant for a delegated sign-in.
pub(crate) fn refresh(st: &State, form: &HashMap<String, String>) -> Resp {
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let known = st
        .sign_ins
        .lock()
        .refresh
        .get(get("refresh_token"))
        .cloned();
    match known {
        Some((client, user)) if client == get("client_id") => {
            delegated(st, &client, &user, get("scope"))
        }
        _ => oauth_error(
            400,
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid.",
        ),
    }
}

/// An access token acting as `user` and a new refresh token.
fn delegated(st: &State, client_id: &str, user: &str, scope: &str) -> Resp {
    let (token, life) = issue(st, client_id, Some(user));
    let refresh = format!("0.AX8A{}", ids::new_token(48));
    st.sign_ins
        .lock()
        .refresh
        .insert(refresh.clone(), (client_id.to_owned(), user.to_owned()));
    Resp::json(
        200,
        &json!({
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": life.as_secs(),
            "ext_expires_in": life.as_secs(),
            "access_token": token,
            "refresh_token": refresh,
        }),
    )
}

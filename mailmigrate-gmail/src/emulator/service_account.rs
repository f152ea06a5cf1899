//! The JWT bearer grant of a service account with domain-wide delegation, verified as
//! Google's token endpoint does \[GO-SA\]\[RFC7523\]\[I-GSA\].
//!
//! The emulator's service account signs with an embedded test key pair
//! (`test-service-account.pem`, 2048-bit RSA, PKCS#8; for tests only) whose JSON key
//! [`EmulatorHandle::service_account_json`](super::EmulatorHandle::service_account_json)
//! hands out. An assertion is accepted when its header is RS256 (with the key's `kid`,
//! if any), its signature verifies against the public key, `iss` is the account, `aud`
//! the emulator's token URL, `exp - iat` at most an hour, `iat` not in the future and
//! `exp` not past (both within a small skew), `sub` a user of the domain, and `scope`
//! non-empty with every scope authorised for the account (the Admin console's
//! domain-wide delegation list, [`service_account_scopes`](super::EmulatorBuilder::service_account_scopes)).
//! The token acts for `sub` only.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::response::Response;
use base64::Engine;
use ring::signature::{KeyPair, RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{issue, oauth_error};
use super::server::State;

/// The test key (PKCS#8 PEM). It signs nothing outside tests.
pub(crate) const TEST_KEY_PEM: &str = include_str!("test-service-account.pem");

/// The test key's id (`kid`, `private_key_id`).
pub(crate) const TEST_KEY_ID: &str = "emulator-test-key-1";

/// How far `iat` may lie in the future, and `exp` in the past: clocks differ (Google
/// publishes no figure; its message says "a reasonable timeframe", \[I-GSA\]).
const SKEW: Duration = Duration::from_secs(60);

/// The scopes the emulator serves, authorised for the account by default \[10.3\]\[GM-DISC\].
pub(crate) const GMAIL_SCOPES: [&str; 6] = [
    "https://mail.google.com/",
    "https://www.googleapis.com/auth/gmail.modify",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.insert",
    "https://www.googleapis.com/auth/gmail.labels",
    "https://www.googleapis.com/auth/gmail.metadata",
];

/// The service account the emulated domain trusts.
#[derive(Debug, Clone)]
pub(crate) struct ServiceAccountConfig {
    /// `client_email`, the assertions' `iss`.
    pub(crate) email: String,
    /// The numeric client id (`client_id` of the JSON key).
    pub(crate) client_id: String,
    /// Scopes authorised for domain-wide delegation.
    pub(crate) scopes: Vec<String>,
}

impl Default for ServiceAccountConfig {
    fn default() -> Self {
        Self {
            email: "mailmigrate@emulator-project.iam.gserviceaccount.com".into(),
            client_id: "100000000000000000001".into(),
            scopes: GMAIL_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// The public half of the test key, parsed once.
fn public_key() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        let body: String = TEST_KEY_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("the embedded test key is base64");
        let pair = RsaKeyPair::from_pkcs8(&der).expect("the embedded test key is PKCS#8 RSA");
        pair.public_key().as_ref().to_vec()
    })
}

/// The JSON key of the emulator's service account, as the Cloud console downloads it
/// \[GO-SA\], with `token_uri` the emulator's.
pub(crate) fn json_key(st: &State, token_uri: &str) -> String {
    let sa = &st.cfg.service_account;
    json!({
        "type": "service_account",
        "project_id": "emulator-project",
        "private_key_id": TEST_KEY_ID,
        "private_key": TEST_KEY_PEM,
        "client_email": sa.email,
        "client_id": sa.client_id,
        "auth_uri": format!("{}/o/oauth2/auth", st.base_url),
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    })
    .to_string()
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    scope: Option<String>,
    aud: Option<Value>,
    iat: Option<i64>,
    exp: Option<i64>,
}

/// The descriptions Google's endpoint gives, as quoted in client-library issues
/// \[I-GSA\]; those marked (inferred) were not seen quoted.
const SIGNATURE: &str = "Invalid JWT Signature.";
const TIMEFRAME: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a \
                         reasonable timeframe. Check your iat and exp values in the JWT claim.";
const UNKNOWN_USER: &str = "Invalid email or User ID";
const UNKNOWN_ACCOUNT: &str = "Invalid grant: account not found";
/// (inferred)
const AUDIENCE: &str = "Invalid JWT: Failed audience check.";
const UNAUTHORIZED: &str = "Client is unauthorized to retrieve access tokens using this method, \
                            or client not authorized for any of the scopes requested.";
const NO_SCOPE: &str = "Empty or missing scope not allowed.";
const BAD_SCOPE: &str = "Invalid OAuth scope or ID token audience provided.";

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with `assertion` \[GO-SA\].
pub(crate) fn grant(st: &State, form: &HashMap<String, String>) -> Response {
    match verify(st, form.get("assertion").map_or("", String::as_str)) {
        Ok((user, scopes)) => {
            let token = issue(st, &user, scopes.clone());
            super::errors::json(
                200,
                &json!({
                    "access_token": token,
                    "expires_in": st.cfg.token_lifetime.as_secs(),
                    "token_type": "Bearer",
                }),
            )
        }
        Err((status, error, description)) => oauth_error(status, error, description),
    }
}

type Refusal = (u16, &'static str, &'static str);

/// The user and scopes of a valid assertion, or the refusal.
fn verify(st: &State, assertion: &str) -> Result<(String, Vec<String>), Refusal> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let malformed = (400, "invalid_grant", SIGNATURE);
    let parts: Vec<&str> = assertion.split('.').collect();
    let [head, body, sig] = parts.as_slice() else {
        return Err(malformed);
    };
    let header: Header = b64
        .decode(head)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(malformed)?;
    if header.alg != "RS256" || header.kid.as_deref().is_some_and(|k| k != TEST_KEY_ID) {
        // A key id the account does not have (deleted, rotated) fails as a bad signature.
        return Err(malformed);
    }
    let signature = b64.decode(sig).map_err(|_| malformed)?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key())
        .verify(format!("{head}.{body}").as_bytes(), &signature)
        .map_err(|_| malformed)?;
    let claims: Claims = b64
        .decode(body)
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok())
        .ok_or(malformed)?;
    let sa = &st.cfg.service_account;
    if claims.iss.as_deref() != Some(sa.email.as_str()) {
        return Err((400, "invalid_grant", UNKNOWN_ACCOUNT));
    }
    let token_url = format!("{}/token", st.base_url);
    let aud_ok = match &claims.aud {
        Some(Value::String(a)) => *a == token_url,
        Some(Value::Array(a)) => a.len() == 1 && a[0] == token_url.as_str(),
        _ => false,
    };
    if !aud_ok {
        return Err((400, "invalid_grant", AUDIENCE));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let skew = SKEW.as_secs() as i64;
    let (Some(iat), Some(exp)) = (claims.iat, claims.exp) else {
        return Err((400, "invalid_grant", TIMEFRAME));
    };
    if exp <= iat || exp - iat > 3600 || iat > now + skew || exp < now - skew {
        return Err((400, "invalid_grant", TIMEFRAME));
    }
    let scopes: Vec<String> = claims
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return Err((400, "invalid_scope", NO_SCOPE));
    }
    if scopes.iter().any(|s| !s.starts_with("https://")) {
        return Err((400, "invalid_scope", BAD_SCOPE));
    }
    if scopes.iter().any(|s| !sa.scopes.contains(s)) {
        // [I-GSA] the scope is not in the account's domain-wide delegation list.
        return Err((401, "unauthorized_client", UNAUTHORIZED));
    }
    let Some(sub) = claims.sub else {
        // The account acting as itself: a token Gmail refuses (failedPrecondition).
        return Ok((String::new(), scopes));
    };
    let sub = sub.to_ascii_lowercase();
    if !st.cfg.users.iter().any(|(u, _)| *u == sub) {
        return Err((400, "invalid_grant", UNKNOWN_USER));
    }
    Ok((sub, scopes))
}

//! The installed-app sign-in against the emulator: the loopback redirect with `state`
//! and PKCE, a refused consent, and the code exchange's checks on the wire.
#![cfg(feature = "emulator")]

use std::time::Duration;

use base64::Engine;

use mailmigrate_core::{ErrorKind, Provider};
use mailmigrate_gmail::emulator::{Consent, Emulator, EmulatorHandle};
use mailmigrate_gmail::{InstalledApp, GMAIL_SCOPE};
use serde_json::Value;

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";

fn app(emu: &EmulatorHandle) -> InstalledApp {
    InstalledApp::new(emu.client_id(), emu.client_secret())
        .with_auth_url(emu.auth_url())
        .with_token_url(emu.token_url())
        .allow_http_loopback(true)
        .with_timeout(Duration::from_secs(10))
}

/// "Opens the browser": visits the URL, following the redirect to the loopback.
fn visit(url: &oauth2::url::Url) {
    let url = url.to_string();
    tokio::spawn(async move {
        let _ = reqwest::get(url).await;
    });
}

#[tokio::test]
async fn the_loopback_flow_yields_a_refresh_token() {
    let emu = Emulator::builder()
        .user(ADA)
        .user(BOB)
        .start()
        .await
        .unwrap();
    let mut seen = None;
    let signed_in = app(&emu)
        .with_login_hint(BOB)
        .authorize([GMAIL_SCOPE], |url| {
            seen = Some(url.clone());
            visit(url);
        })
        .await
        .unwrap();
    let url = seen.unwrap();
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("code_challenge_method"), Some("S256"));
    assert_eq!(get("access_type"), Some("offline"));
    assert_eq!(get("login_hint"), Some(BOB));
    assert!(get("redirect_uri")
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    let refresh = signed_in
        .refresh
        .expect("offline access gives a refresh token");
    assert_eq!(refresh.expose_secret(), emu.refresh_token(BOB));
    let gmail = emu
        .gmail_builder(BOB)
        .with_refresh_token(emu.client_id(), emu.client_secret(), refresh)
        .build()
        .unwrap();
    assert!(gmail
        .list_folders()
        .await
        .unwrap()
        .iter()
        .any(|f| f.path.is_inbox()));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_refused_consent_is_permission_denied() {
    let emu = Emulator::builder().user(ADA).start().await.unwrap();
    emu.set_consent(Consent::Deny);
    let e = app(&emu).authorize([GMAIL_SCOPE], visit).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    emu.shutdown().await;
}

#[tokio::test]
async fn the_code_exchange_checks_pkce_and_single_use() {
    let emu = Emulator::builder().user(ADA).start().await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = "http://127.0.0.1:9/";
    let verifier = "dBjftJeZ4CVP-mJ92ZPpUofJFhx6SwlaNFSmCc9RASk";
    // S256: base64url(SHA-256(verifier)) without padding (RFC 7636 §4.2).
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let challenge = challenge.as_str();
    let code = || async {
        let r = http
            .get(emu.auth_url())
            .query(&[
                ("client_id", emu.client_id().as_str()),
                ("redirect_uri", redirect),
                ("response_type", "code"),
                ("scope", GMAIL_SCOPE),
                ("state", "s1"),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let to = oauth2::url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        assert!(to.as_str().starts_with(redirect));
        let pairs: Vec<(String, String)> = to
            .query_pairs()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        assert!(pairs.contains(&("state".into(), "s1".into())));
        pairs.into_iter().find(|(k, _)| k == "code").unwrap().1
    };
    let exchange = |code: String, verifier: &'static str| {
        let http = http.clone();
        let (url, id, secret) = (emu.token_url(), emu.client_id(), emu.client_secret());
        async move {
            let r = http
                .post(url)
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", redirect),
                    ("client_id", id.as_str()),
                    ("client_secret", secret.as_str()),
                    ("code_verifier", verifier),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = exchange(code().await, "not-the-verifier-not-the-verifier-000000000").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    let c = code().await;
    let (s, v) = exchange(c.clone(), verifier).await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("refresh_token").is_none(), "no access_type=offline");
    let (s, v) = exchange(c, verifier).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "a code is used once"
    );
    let r = http
        .get(emu.auth_url())
        .query(&[
            ("client_id", emu.client_id().as_str()),
            ("redirect_uri", "https://evil.example/cb"),
            ("response_type", "code"),
            ("scope", GMAIL_SCOPE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        400,
        "only loopback redirects for installed apps"
    );
    emu.shutdown().await;
}

//! Service accounts with domain-wide delegation against the emulator: one provider per
//! user from one key, assertions verified as Google does, tokens that act for their
//! subject only, refusals mapped to core errors.
#![cfg(feature = "emulator")]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use mailmigrate_core::auth::{CachingTokenProvider, TokenProvider, TokenSource};
use mailmigrate_core::{Destination, ErrorKind, FolderPath, Provider};
use mailmigrate_gmail::emulator::{Emulator, EmulatorHandle};
use mailmigrate_gmail::{GmailBuilder, ServiceAccount, ServiceAccountKey, GMAIL_SCOPE};
use serde_json::{json, Value};

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";

async fn domain() -> EmulatorHandle {
    Emulator::builder()
        .user(ADA)
        .user(BOB)
        .start()
        .await
        .unwrap()
}

/// Signs `claims` with the emulator's test key (as a client with the JSON key would).
fn sign(emu: &EmulatorHandle, header: &Value, claims: &Value) -> String {
    let key: Value = serde_json::from_str(&emu.service_account_json()).unwrap();
    let pem = key["private_key"].as_str().unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signed = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{signed}.{}", b64.encode(sig))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(emu: &EmulatorHandle) -> Value {
    json!({
        "iss": emu.service_account_email(),
        "sub": ADA,
        "scope": GMAIL_SCOPE,
        "aud": emu.token_url(),
        "iat": now(),
        "exp": now() + 3600,
    })
}

fn header() -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": "emulator-test-key-1"})
}

async fn grant(emu: &EmulatorHandle, assertion: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(emu.token_url())
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn one_key_serves_every_user_with_a_provider_each() {
    let emu = domain().await;
    let key = emu.service_account_key();
    let build = |user: &str| {
        GmailBuilder::new(user)
            .with_api_url(emu.base_url())
            .with_service_account(&key)
            .allow_plaintext(true)
            .build()
            .unwrap()
    };
    let (ada, ada_again, bob) = (build(ADA), build(ADA), build(BOB));
    let path = FolderPath::parse("Projects", '/').unwrap();
    ada.ensure_folder(&path, None).await.unwrap();
    assert!(ada_again
        .list_folders()
        .await
        .unwrap()
        .iter()
        .any(|f| f.path == path));
    assert!(!bob
        .list_folders()
        .await
        .unwrap()
        .iter()
        .any(|f| f.path == path));
    assert!(emu.labels(ADA).iter().any(|l| l.name == "Projects"));
    assert!(!emu.labels(BOB).iter().any(|l| l.name == "Projects"));
    assert_eq!(
        emu.stats().tokens_issued,
        2,
        "one token for ada (shared by both of her mailboxes), one for bob"
    );
    let e = GmailBuilder::new("me")
        .with_service_account(&key)
        .allow_plaintext(true)
        .build()
        .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::ConfigInvalid,
        "a service account needs a named user"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn the_token_endpoint_verifies_assertions() {
    let emu = domain().await;
    let ok = claims(&emu);
    let (s, v) = grant(&emu, &sign(&emu, &header(), &ok)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_in"].as_u64().unwrap() <= 3600);

    let description = |v: &Value| v["error_description"].as_str().unwrap_or("").to_owned();
    let refused = |mut c: Value, patch: Value| {
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    // The signature: tampered claims, another key id.
    let jwt = sign(&emu, &header(), &ok);
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(refused(ok.clone(), json!({"sub": BOB})).to_string());
    let (s, v) = grant(&emu, &parts.join(".")).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(description(&v), "Invalid JWT Signature.");
    let other_kid = json!({"alg": "RS256", "typ": "JWT", "kid": "deleted-key"});
    let (s, v) = grant(&emu, &sign(&emu, &other_kid, &ok)).await;
    assert_eq!(
        (s, description(&v).as_str()),
        (400, "Invalid JWT Signature.")
    );

    let cases = [
        (
            json!({"aud": "https://oauth2.googleapis.com/token"}),
            400,
            "invalid_grant",
            "audience",
        ),
        (
            json!({"exp": now() + 3601}),
            400,
            "invalid_grant",
            "short-lived",
        ),
        (
            json!({"iat": now() - 7200, "exp": now() - 3600}),
            400,
            "invalid_grant",
            "short-lived",
        ),
        (
            json!({"iat": now() + 600, "exp": now() + 1200}),
            400,
            "invalid_grant",
            "short-lived",
        ),
        (
            json!({"iss": "other@p.iam.gserviceaccount.com"}),
            400,
            "invalid_grant",
            "account not found",
        ),
        (
            json!({"sub": "eve@example.com"}),
            400,
            "invalid_grant",
            "Invalid email or User ID",
        ),
        (
            json!({"scope": "https://www.googleapis.com/auth/drive"}),
            401,
            "unauthorized_client",
            "not authorized",
        ),
        (
            json!({"scope": ""}),
            400,
            "invalid_scope",
            "Empty or missing scope",
        ),
    ];
    for (patch, status, error, hint) in cases {
        let c = refused(ok.clone(), patch.clone());
        let (s, v) = grant(&emu, &sign(&emu, &header(), &c)).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (status, Some(error)),
            "{patch}: {v}"
        );
        assert!(description(&v).contains(hint), "{patch}: {v}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_token_acts_for_its_subject_and_scopes_only() {
    let emu = domain().await;
    let http = reqwest::Client::new();
    let token = |c: Value| {
        let emu = emu.clone();
        async move {
            let (s, v) = grant(&emu, &sign(&emu, &header(), &c)).await;
            assert_eq!(s, 200, "{v}");
            v["access_token"].as_str().unwrap().to_owned()
        }
    };
    let ada = token(claims(&emu)).await;
    let labels = |user: &str| format!("{}/gmail/v1/users/{user}/labels", emu.base_url());
    let r = http
        .get(labels(ADA))
        .bearer_auth(&ada)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(labels(BOB))
        .bearer_auth(&ada)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "ada's token on bob's mailbox");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["errors"][0]["reason"], "forbidden");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Delegation denied"));

    let mut readonly = claims(&emu);
    readonly["scope"] = json!("https://www.googleapis.com/auth/gmail.readonly");
    let ro = token(readonly).await;
    let r = http
        .get(labels("me"))
        .bearer_auth(&ro)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "readonly may list labels");
    let r = http
        .post(format!(
            "{}/upload/gmail/v1/users/me/messages/import?uploadType=media",
            emu.base_url()
        ))
        .bearer_auth(&ro)
        .header("content-type", "message/rfc822")
        .body("Subject: x\r\n\r\nx\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "readonly may not import");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["errors"][0]["reason"], "insufficientPermissions");
    assert!(emu.messages(ADA).is_empty());

    let mut itself = claims(&emu);
    itself.as_object_mut().unwrap().remove("sub");
    let own = token(itself).await;
    let r = http
        .get(labels("me"))
        .bearer_auth(&own)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the account itself has no mailbox");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["errors"][0]["reason"], "failedPrecondition");
    emu.shutdown().await;
}

#[tokio::test]
async fn refusals_map_to_core_errors_without_the_key() {
    let emu = Emulator::builder()
        .user(ADA)
        .service_account_scopes(["https://www.googleapis.com/auth/gmail.readonly"])
        .start()
        .await
        .unwrap();
    let key = emu.service_account_key();
    let pem_line = serde_json::from_str::<Value>(&emu.service_account_json()).unwrap()
        ["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .nth(3)
        .unwrap()
        .to_owned();
    let unknown = key.source_for("eve@example.com", [GMAIL_SCOPE.to_owned()]);
    let e = unknown.fetch().await.unwrap_err();
    // mail.google.com is not authorised for the account here, and eve is unknown.
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    assert!(!e.is_temporary());
    let not_authorised = key.source_for(ADA, [GMAIL_SCOPE]);
    let e = not_authorised.fetch().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.to_string().contains("unauthorized_client"), "{e}");
    let text = format!("{e} {e:?} {key:?} {not_authorised:?}");
    assert!(!text.contains(&pem_line), "{text}");
    let readonly = key.source_for(ADA, ["https://www.googleapis.com/auth/gmail.readonly"]);
    let token = readonly.fetch().await.unwrap();
    assert!(token.is_valid_for(Duration::from_secs(3000)));

    // An https-only key refuses the emulator's http token URI.
    let strict = ServiceAccountKey::from_json(&emu.service_account_json()).unwrap();
    let e = strict.source_for(ADA, ["x"]).fetch().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    let from = ServiceAccount::from_json_key(&emu.service_account_json(), ADA, ["a", "b"]).unwrap();
    assert_eq!(from.subject(), ADA);
    emu.shutdown().await;
}

#[tokio::test]
async fn tokens_are_renewed_before_they_expire() {
    let emu = Emulator::builder()
        .user(ADA)
        .token_lifetime(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let provider: Arc<dyn TokenProvider> = Arc::new(CachingTokenProvider::new(
        emu.service_account_key().source_for(ADA, [GMAIL_SCOPE]),
    ));
    let first = provider.token().await.unwrap();
    let again = provider.token().await.unwrap();
    assert_eq!(first.secret(), again.secret(), "cached");
    // A 2 s token is handed out for half its life, then renewed with a new assertion.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let renewed = provider.token().await.unwrap();
    assert_ne!(first.secret(), renewed.secret());
    assert_eq!(emu.stats().tokens_issued, 2);
    emu.shutdown().await;
}

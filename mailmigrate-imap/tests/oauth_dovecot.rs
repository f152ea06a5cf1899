//! XOAUTH2 and OAUTHBEARER against the real Dovecot started by `.ci/imap-servers.sh`.
//!
//! Dovecot validates the bearer tokens itself: HS256 JWTs signed with the key in
//! `MAILMIGRATE_TEST_IMAP_DOVECOT_OAUTH_KEY` (base64), whose `sub` names
//! `MAILMIGRATE_TEST_IMAP_DOVECOT_OAUTH_USER`. Missing variables skip these tests, unless
//! `MAILMIGRATE_TEST_REQUIRE` contains `imap`, which makes them fail.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use mailmigrate_core::auth::{AccessToken, CachingTokenProvider, StaticToken, TokenSource};
use mailmigrate_core::{ErrorKind, Provider};
use mailmigrate_imap::{AuthMechanism, ImapBuilder, Tls, TokenProvider};

/// Where the OAuth2-enabled Dovecot is, and the key its tokens are signed with.
struct Target {
    host: String,
    port: u16,
    user: String,
    key: Vec<u8>,
}

fn target() -> Option<Target> {
    let var = |k: &str| std::env::var(format!("MAILMIGRATE_TEST_IMAP_DOVECOT_{k}")).ok();
    let required = std::env::var("MAILMIGRATE_TEST_REQUIRE")
        .map(|v| v.split(',').any(|s| s.trim().eq_ignore_ascii_case("imap")))
        .unwrap_or(false);
    let (Some(host), Some(port), Some(user), Some(key)) = (
        var("HOST"),
        var("PORT"),
        var("OAUTH_USER"),
        var("OAUTH_KEY"),
    ) else {
        assert!(
            !required,
            "MAILMIGRATE_TEST_IMAP_DOVECOT_{{HOST,PORT,OAUTH_USER,OAUTH_KEY}} are not all set \
             but MAILMIGRATE_TEST_REQUIRE asks for imap"
        );
        eprintln!("skipping: the Dovecot OAuth2 target is not set (run .ci/imap-servers.sh start)");
        return None;
    };
    Some(Target {
        host,
        port: port.parse().expect("MAILMIGRATE_TEST_IMAP_DOVECOT_PORT"),
        user,
        key: base64::engine::general_purpose::STANDARD
            .decode(key)
            .expect("MAILMIGRATE_TEST_IMAP_DOVECOT_OAUTH_KEY is base64"),
    })
}

impl Target {
    /// An HS256 JWT for the OAuth2 user, expiring `expires_in` seconds from now (negative:
    /// already expired).
    fn jwt(&self, expires_in: i64) -> String {
        let b64 = |d: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = b64(format!(
            r#"{{"sub":"{}","iat":{},"exp":{}}}"#,
            self.user,
            now - 3600,
            now + expires_in
        )
        .as_bytes());
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.key);
        let signature = ring::hmac::sign(&key, format!("{header}.{claims}").as_bytes());
        format!("{header}.{claims}.{}", b64(signature.as_ref()))
    }

    fn builder(&self, provider: Arc<dyn TokenProvider>) -> ImapBuilder {
        ImapBuilder::new()
            .with_host(&self.host)
            .with_port(self.port)
            .with_user(&self.user)
            .with_tls(Tls::Plaintext)
            .allow_plaintext(true)
            .with_pool_size(1)
            .with_credentials(provider)
    }
}

/// Hands out the given tokens in order (the last one again once they run out), counting.
#[derive(Debug)]
struct Sequence {
    tokens: Mutex<Vec<String>>,
    fetches: AtomicUsize,
}

impl Sequence {
    fn new(tokens: Vec<String>) -> Self {
        Self {
            tokens: Mutex::new(tokens),
            fetches: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl TokenSource for Sequence {
    async fn fetch(&self) -> mailmigrate_core::Result<AccessToken> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let mut tokens = self.tokens.lock().unwrap();
        let t = if tokens.len() > 1 {
            tokens.remove(0)
        } else {
            tokens[0].clone()
        };
        Ok(AccessToken::new(t))
    }
}

#[tokio::test]
async fn xoauth2_with_a_valid_token_logs_in() {
    let Some(t) = target() else { return };
    let imap = t
        .builder(Arc::new(StaticToken::new(t.jwt(600))))
        .build()
        .await
        .unwrap_or_else(|e| panic!("XOAUTH2 login failed: {e:?}"));
    let folders = imap.list_folders().await.unwrap();
    assert!(
        folders.iter().any(|f| f.path.to_string() == "INBOX"),
        "{folders:?}"
    );
}

#[tokio::test]
async fn oauthbearer_with_a_valid_token_logs_in() {
    let Some(t) = target() else { return };
    let imap = t
        .builder(Arc::new(StaticToken::new(t.jwt(600))))
        .with_auth_mechanism(AuthMechanism::OAuthBearer)
        .build()
        .await
        .unwrap_or_else(|e| panic!("OAUTHBEARER login failed: {e:?}"));
    imap.list_folders().await.unwrap();
}

#[tokio::test]
async fn an_expired_or_forged_token_is_unauthenticated() {
    let Some(t) = target() else { return };
    let expired = t.jwt(-600);
    // A valid token with one bit of its signature changed ('A' and 'E' differ in the last
    // signature bits and both keep the base64 padding bits zero).
    let mut forged = t.jwt(600);
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'E' } else { 'A' });
    for (name, token, mechanism) in [
        ("expired", expired, AuthMechanism::XOAuth2),
        ("forged", forged, AuthMechanism::OAuthBearer),
    ] {
        let e = t
            .builder(Arc::new(StaticToken::new(token.clone())))
            .with_auth_mechanism(mechanism)
            .build()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{name}: {e:?}");
        assert!(!e.is_temporary(), "{name}: {e:?}");
        let shown = format!("{e:?} {e}");
        assert!(
            !shown.contains(&token[token.len() - 20..]),
            "{name}: {shown}"
        );
    }
}

#[tokio::test]
async fn a_refused_first_token_is_invalidated_and_the_second_logs_in() {
    let Some(t) = target() else { return };
    let provider = Arc::new(CachingTokenProvider::new(Sequence::new(vec![
        t.jwt(-600),
        t.jwt(600),
    ])));
    let imap = t
        .builder(Arc::clone(&provider) as Arc<dyn TokenProvider>)
        .build()
        .await
        .unwrap_or_else(|e| panic!("the fresh token did not log in: {e:?}"));
    imap.list_folders().await.unwrap();
    assert_eq!(provider.source().fetches.load(Ordering::SeqCst), 2);
}

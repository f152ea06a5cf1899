//! Service accounts with domain-wide delegation: a signed JWT exchanged for a user's
//! access token \[GO-SA\]\[RFC7523\].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use mailmigrate_core::auth::{
    AccessToken, CachingTokenProvider, SecretString, TokenProvider, TokenSource,
};
use mailmigrate_core::{Error, ErrorKind, Result};
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::token_endpoint;
use crate::PROVIDER;

/// The grant type of a JWT bearer assertion \[GO-SA\]\[RFC7523\].
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The longest assertion Google accepts: `exp` at most an hour after `iat` \[GO-SA\].
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// A service account's JSON key, as the Google Cloud console downloads it: the account's
/// email, its RSA private key and the token endpoint \[GO-SA\].
///
/// One key serves every user of the domain: [`provider_for`](Self::provider_for) hands out
/// one caching token provider per user (the `sub` of the assertion), shared by every
/// caller that asks for the same user and scopes. Clones share the key and the providers.
/// `Debug` shows the account and the key id, never the key.
///
/// # Examples
/// ```no_run
/// use mailmigrate_gmail::{GmailBuilder, ServiceAccountKey};
///
/// # fn run() -> mailmigrate_core::Result<()> {
/// let key = ServiceAccountKey::from_json(&std::fs::read_to_string("sa.json").unwrap())?;
/// let ada = GmailBuilder::new("ada@example.com").with_service_account(&key).build()?;
/// let bob = GmailBuilder::new("bob@example.com").with_service_account(&key).build()?;
/// # let _ = (ada, bob);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ServiceAccountKey {
    material: Arc<Material>,
    allow_http_loopback: bool,
    lifetime: Duration,
    /// One provider per (subject, scopes).
    providers: Arc<Mutex<Providers>>,
}

/// The providers handed out, by (subject, scopes).
type Providers = HashMap<(String, Vec<String>), Arc<dyn TokenProvider>>;

/// What the key file says, and the HTTP client of the token requests.
struct Material {
    client_email: String,
    key_id: Option<String>,
    token_uri: String,
    key: RsaKeyPair,
    http: reqwest::Client,
}

/// The fields of the JSON key that are read \[GO-SA\].
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: String,
    private_key: SecretField,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

/// The private key as read from the file, never shown.
struct SecretField(SecretString);

impl<'de> Deserialize<'de> for SecretField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(|s| Self(SecretString::new(s)))
    }
}

impl ServiceAccountKey {
    /// Reads a service-account JSON key (`client_email`, `private_key` as a PKCS#8 PEM,
    /// `private_key_id`, `token_uri`).
    ///
    /// # Errors
    /// `ConfigInvalid` when the JSON is not a service-account key, or the private key is
    /// not a PKCS#8 RSA key of 2048 to 8192 bits. The message never quotes the file.
    pub fn from_json(key_json: &str) -> Result<Self> {
        let file: KeyFile = serde_json::from_str(key_json).map_err(|e| {
            // serde_json's message can quote a value (the key itself): give the place only.
            config(format!(
                "the service-account key is not valid JSON of the expected shape (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if file.kind.as_deref().is_some_and(|k| k != "service_account") {
            return Err(config(
                "the JSON key is not a service account's (its \"type\" is not \"service_account\")",
            ));
        }
        let der = pem_to_der(file.private_key.0.expose_secret())?;
        let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| {
            config(format!(
                "the service account's private key is not a usable PKCS#8 RSA key ({e})"
            ))
        })?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("mailmigrate-gmail/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            material: Arc::new(Material {
                client_email: file.client_email,
                key_id: file.private_key_id,
                token_uri: file
                    .token_uri
                    .unwrap_or_else(|| crate::TOKEN_URL.to_owned()),
                key,
                http,
            }),
            allow_http_loopback: false,
            lifetime: MAX_ASSERTION_LIFETIME,
            providers: Arc::default(),
        })
    }

    /// The service account (`…@….iam.gserviceaccount.com`), the assertions' `iss`.
    pub fn client_email(&self) -> &str {
        &self.material.client_email
    }

    /// The token endpoint assertions are sent to, and their `aud` (the key's `token_uri`).
    pub fn token_uri(&self) -> &str {
        &self.material.token_uri
    }

    /// Admits an `http` token URI on a loopback address (the emulator's). Never for a
    /// real endpoint: the assertion grants access to every user of the domain.
    #[must_use]
    pub fn allow_http_loopback(mut self, allow: bool) -> Self {
        self.allow_http_loopback = allow;
        self.providers = Arc::default();
        self
    }

    /// How long each assertion is valid (`exp - iat`; default and at most an hour
    /// \[GO-SA\]). The access tokens' lifetime is the endpoint's choice.
    #[must_use]
    pub fn with_assertion_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime.clamp(Duration::from_secs(1), MAX_ASSERTION_LIFETIME);
        self.providers = Arc::default();
        self
    }

    /// A token source acting for `subject` (a user of the domain) with `scopes`: each
    /// fetch signs a new assertion and exchanges it. Wrap it in a
    /// [`CachingTokenProvider`], or use [`provider_for`](Self::provider_for).
    pub fn source_for<I, S>(&self, subject: impl Into<String>, scopes: I) -> ServiceAccount
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ServiceAccount {
            key: self.clone(),
            subject: subject.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }

    /// The caching token provider for `subject` with `scopes`, renewing tokens before they
    /// expire: one per (subject, scopes) for this key, created on first use.
    pub fn provider_for<I, S>(&self, subject: &str, scopes: I) -> Arc<dyn TokenProvider>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        let id = (subject.to_ascii_lowercase(), scopes.clone());
        let mut providers = self.providers.lock().unwrap_or_else(|e| e.into_inner());
        let p = providers.entry(id).or_insert_with(|| {
            Arc::new(CachingTokenProvider::new(self.source_for(subject, scopes)))
        });
        Arc::clone(p)
    }

    /// A signed assertion for `subject` and `scopes`, issued at `iat` (Unix seconds):
    /// `header.claims.signature`, each base64url without padding \[GO-SA\].
    fn assertion(&self, subject: &str, scopes: &[String], iat: u64) -> Result<SecretString> {
        let k = &self.material;
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &k.key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": k.client_email,
            "sub": subject,
            "scope": scopes.join(" "),
            "aud": k.token_uri,
            "iat": iat,
            "exp": iat + self.lifetime.as_secs(),
        });
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signed = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let mut sig = vec![0; k.key.public().modulus_len()];
        k.key
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signed.as_bytes(),
                &mut sig,
            )
            .map_err(|_| {
                Error::new(ErrorKind::Unexpected, "signing the assertion failed")
                    .with_provider(PROVIDER)
            })?;
        Ok(SecretString::new(format!("{signed}.{}", b64.encode(sig))))
    }
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.material.client_email)
            .field("private_key_id", &self.material.key_id)
            .field("token_uri", &self.material.token_uri)
            .field("private_key", &"***")
            .finish_non_exhaustive()
    }
}

/// A [`TokenSource`] acting for one user of the domain through a service account with
/// domain-wide delegation \[GO-SA\]: each fetch signs a JWT (RS256; `iss` the account,
/// `sub` the user, `scope` space-separated, `aud` the token URI, `exp` at most an hour
/// after `iat`) and exchanges it with the `urn:ietf:params:oauth:grant-type:jwt-bearer`
/// grant. Google issues no refresh token for it: a new assertion is the renewal.
///
/// Build it with [`ServiceAccount::from_json_key`] or [`ServiceAccountKey::source_for`],
/// and wrap it in a [`CachingTokenProvider`].
///
/// # Errors
/// `fetch` fails with permanent `Unauthenticated` for `invalid_grant` (a bad signature, a
/// clock off by minutes, an unknown user) and `unauthorized_client` (the account's client
/// id is not authorised for these scopes in the Admin console), `PermissionDenied` for
/// `invalid_scope`, temporary `RateLimited` / `Unavailable` for 429, 5xx and network
/// failures. Errors name the account and the user, never the key or the assertion.
#[derive(Clone)]
pub struct ServiceAccount {
    key: ServiceAccountKey,
    subject: String,
    scopes: Vec<String>,
}

impl ServiceAccount {
    /// A source for `subject_user` with `scopes`, from a service-account JSON key.
    ///
    /// # Errors
    /// As [`ServiceAccountKey::from_json`].
    ///
    /// # Examples
    /// ```no_run
    /// use mailmigrate_core::auth::CachingTokenProvider;
    /// use mailmigrate_gmail::{ServiceAccount, GMAIL_SCOPE};
    ///
    /// # fn run(key_json: &str) -> mailmigrate_core::Result<()> {
    /// let source = ServiceAccount::from_json_key(key_json, "ada@example.com", [GMAIL_SCOPE])?;
    /// let tokens = CachingTokenProvider::new(source);
    /// # let _ = tokens;
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_json_key<I, S>(key_json: &str, subject_user: &str, scopes: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Ok(ServiceAccountKey::from_json(key_json)?.source_for(subject_user, scopes))
    }

    /// The user acted for (the assertions' `sub`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The key it signs with.
    pub fn key(&self) -> &ServiceAccountKey {
        &self.key
    }
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.key.material.client_email)
            .field("subject", &self.subject)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenSource for ServiceAccount {
    async fn fetch(&self) -> Result<AccessToken> {
        let k = &self.key.material;
        let url = token_endpoint::checked_url(&k.token_uri, self.key.allow_http_loopback)?;
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion = self.key.assertion(&self.subject, &self.scopes, iat)?;
        let who = format!(
            "service account {} acting for {}",
            k.client_email, self.subject
        );
        let form = [
            ("grant_type", JWT_BEARER),
            ("assertion", assertion.expose_secret()),
        ];
        let granted = token_endpoint::exchange(&k.http, url, &form, &who).await?;
        let token = granted.token;
        Ok(if token.scopes().is_empty() {
            token.with_scopes(self.scopes.clone())
        } else {
            token
        })
    }
}

/// The DER bytes of a PEM `PRIVATE KEY` block (PKCS#8), kept out of sight.
fn pem_to_der(pem: &str) -> Result<Zeroizing<Vec<u8>>> {
    let begin = "-----BEGIN PRIVATE KEY-----";
    let end = "-----END PRIVATE KEY-----";
    let body = pem
        .find(begin)
        .map(|at| &pem[at + begin.len()..])
        .and_then(|rest| rest.find(end).map(|at| &rest[..at]))
        .ok_or_else(|| {
            config("the service account's private_key is not a PEM \"PRIVATE KEY\" (PKCS#8) block")
        })?;
    let b64: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_whitespace()).collect());
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| config("the service account's private_key PEM is not base64"))
}

fn config(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ConfigInvalid, msg).with_provider(PROVIDER)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = include_str!("../emulator/test-service-account.pem");

    fn key_json() -> String {
        json!({
            "type": "service_account",
            "client_email": "sa@p.iam.gserviceaccount.com",
            "private_key_id": "kid-1",
            "private_key": PEM,
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string()
    }

    #[test]
    fn the_assertion_carries_googles_claims_and_verifies() {
        let key = ServiceAccountKey::from_json(&key_json()).unwrap();
        let scopes = vec!["https://mail.google.com/".to_owned(), "b".to_owned()];
        let jwt = key.assertion("ada@example.com", &scopes, 1_000).unwrap();
        let parts: Vec<&str> = jwt.expose_secret().split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"alg": "RS256", "typ": "JWT", "kid": "kid-1"})
        );
        let claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "sa@p.iam.gserviceaccount.com");
        assert_eq!(claims["sub"], "ada@example.com");
        assert_eq!(claims["scope"], "https://mail.google.com/ b");
        assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
        assert_eq!(
            (claims["iat"].as_u64(), claims["exp"].as_u64()),
            (Some(1_000), Some(4_600))
        );
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            key.material.key.public().as_ref().to_vec(),
        );
        let signed = format!("{}.{}", parts[0], parts[1]);
        public
            .verify(signed.as_bytes(), &b64.decode(parts[2]).unwrap())
            .unwrap();
    }

    #[test]
    fn debug_and_errors_never_show_the_key() {
        let key = ServiceAccountKey::from_json(&key_json()).unwrap();
        let source = key.source_for("ada@example.com", ["s"]);
        let dbg = format!("{key:?} {source:?}");
        let body_line = PEM.lines().nth(1).unwrap();
        assert!(!dbg.contains(body_line), "{dbg}");
        let broken = key_json().replace("MII", "XXX");
        let e = ServiceAccountKey::from_json(&broken).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(!e.to_string().contains("XXX"), "{e}");
        let wrong_type = json!({"client_email": 1, "private_key": PEM}).to_string();
        let e = ServiceAccountKey::from_json(&wrong_type).unwrap_err();
        assert!(!e.to_string().contains(body_line), "{e}");
    }

    #[test]
    fn one_provider_per_user_and_scopes() {
        let key = ServiceAccountKey::from_json(&key_json()).unwrap();
        let a = key.provider_for("ada@example.com", ["s"]);
        let b = key.provider_for("ADA@example.com", ["s"]);
        let c = key.provider_for("bob@example.com", ["s"]);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }
}

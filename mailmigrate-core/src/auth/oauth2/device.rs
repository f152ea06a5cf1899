//! The device authorization grant (RFC 8628): a person signs in on another device with a
//! short code, and the program gets a refresh token for the
//! [refresh-token grant](super::OAuth2Grant::RefreshToken).

use std::fmt;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, DeviceAuthorizationResponse, DeviceAuthorizationUrl, DeviceCodeErrorResponseType,
    ExtraDeviceAuthorizationFields, Scope, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::error::{from_code, map_with};
use super::{endpoint_url, http, http_client};
use crate::auth::token::now;
use crate::auth::{AccessToken, SecretString};
use crate::{Error, ErrorKind, Result};

/// What a device authorization answer may carry beyond RFC 8628: Microsoft's `message`,
/// the sentence to show the person ([AAD-DC]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Extra {
    #[serde(default)]
    message: Option<String>,
}

impl ExtraDeviceAuthorizationFields for Extra {}

/// A sign-in by device code (RFC 8628) against one identity platform.
///
/// [`start`](Self::start) asks for a code to show; [`DeviceSignIn::finish`] waits while the
/// person signs in elsewhere and returns the tokens. The refresh token then feeds an
/// [`OAuth2Client`](super::OAuth2Client) with the
/// [refresh-token grant](super::OAuth2Grant::RefreshToken) for every later run.
///
/// # Examples
/// ```no_run
/// use mailmigrate_core::auth::DeviceCodeFlow;
///
/// # async fn run() -> mailmigrate_core::Result<()> {
/// let flow = DeviceCodeFlow::builder(
///     "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode",
///     "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
///     "my-client-id",
/// )
/// .with_scopes(["https://graph.microsoft.com/Mail.ReadWrite", "offline_access"])
/// .build()?;
/// let sign_in = flow.start().await?;
/// eprintln!("{}", sign_in.message());
/// let signed_in = sign_in.finish().await?;
/// let refresh = signed_in.refresh_token().expect("offline_access gives a refresh token");
/// # let _ = refresh;
/// # Ok(())
/// # }
/// # let _ = run;
/// ```
pub struct DeviceCodeFlow {
    device_url: DeviceAuthorizationUrl,
    token_url: TokenUrl,
    client_id: String,
    scopes: Vec<String>,
    http: reqwest::Client,
}

impl fmt::Debug for DeviceCodeFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodeFlow")
            .field("device_url", &self.device_url.as_str())
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl DeviceCodeFlow {
    /// Starts a flow for `client_id` (a public client: no secret) with the device
    /// authorization endpoint `device_url` and the token endpoint `token_url`.
    pub fn builder(
        device_url: impl Into<String>,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
    ) -> DeviceCodeFlowBuilder {
        DeviceCodeFlowBuilder {
            device_url: device_url.into(),
            token_url: token_url.into(),
            client_id: client_id.into(),
            scopes: Vec::new(),
            allow_http_loopback: false,
            timeout: Duration::from_secs(30),
        }
    }

    fn client(
        &self,
    ) -> oauth2::Client<
        oauth2::basic::BasicErrorResponse,
        oauth2::basic::BasicTokenResponse,
        oauth2::basic::BasicTokenIntrospectionResponse,
        oauth2::StandardRevocableToken,
        oauth2::basic::BasicRevocationErrorResponse,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    > {
        BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_device_authorization_url(self.device_url.clone())
            .set_token_uri(self.token_url.clone())
    }

    /// Asks for a code for the person to enter (RFC 8628 §3.1–3.2).
    ///
    /// # Errors
    /// The endpoint's refusal (an unknown client, scopes it will not grant) or a transport
    /// error, as [`OAuth2Client`](super::OAuth2Client) maps them.
    pub async fn start(&self) -> Result<DeviceSignIn<'_>> {
        let http = http::Http(&self.http);
        let answer: DeviceAuthorizationResponse<Extra> = self
            .client()
            .exchange_device_code()
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .request_async(&http)
            .await
            .map_err(|e| map_with(e, |r| from_code(r.error())))?;
        Ok(DeviceSignIn { flow: self, answer })
    }
}

/// A sign-in under way: the code to show, then [`finish`](Self::finish).
pub struct DeviceSignIn<'f> {
    flow: &'f DeviceCodeFlow,
    answer: DeviceAuthorizationResponse<Extra>,
}

impl fmt::Debug for DeviceSignIn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The user code is shown to a person on purpose; the device code never is.
        f.debug_struct("DeviceSignIn")
            .field("user_code", &self.user_code())
            .field("verification_uri", &self.verification_uri())
            .finish_non_exhaustive()
    }
}

impl DeviceSignIn<'_> {
    /// The code the person enters.
    pub fn user_code(&self) -> &str {
        self.answer.user_code().secret()
    }

    /// Where the person enters it.
    pub fn verification_uri(&self) -> &str {
        self.answer.verification_uri().as_str()
    }

    /// How long the code is valid.
    pub fn expires_in(&self) -> Duration {
        self.answer.expires_in()
    }

    /// The sentence to show the person: the endpoint's own where it sends one, otherwise
    /// "To sign in, open … and enter the code …".
    pub fn message(&self) -> String {
        self.answer
            .extra_fields()
            .message
            .clone()
            .unwrap_or_else(|| {
                format!(
                    "To sign in, open {} and enter the code {}.",
                    self.verification_uri(),
                    self.user_code()
                )
            })
    }

    /// Polls the token endpoint at the interval it asks for (RFC 8628 §3.4–3.5, slowing
    /// down when told) until the person has signed in, declined, or the code expired.
    ///
    /// # Errors
    /// `Unauthenticated` when the sign-in was declined or the code expired (start again);
    /// other refusals and transport errors as [`OAuth2Client`](super::OAuth2Client) maps
    /// them.
    pub async fn finish(self) -> Result<SignedIn> {
        let http = http::Http(&self.flow.http);
        let asked = now();
        let client = self.flow.client();
        let answer = client
            .exchange_device_access_token(&self.answer)
            .request_async(&http, tokio::time::sleep, None)
            .await
            .map_err(|e| map_with(e, |r| refusal(r.error())))?;
        let mut access = AccessToken::new(answer.access_token().secret().clone());
        if let Some(lifetime) = answer.expires_in() {
            access = access.with_expires_at(asked + lifetime);
        }
        let granted: Vec<String> = match answer.scopes() {
            Some(s) => s.iter().map(|s| s.to_string()).collect(),
            None => self.flow.scopes.clone(),
        };
        Ok(SignedIn {
            access: access.with_scopes(granted),
            refresh: answer
                .refresh_token()
                .map(|r| SecretString::new(r.secret().clone())),
        })
    }
}

/// Maps the token endpoint's final refusal of a device code.
fn refusal(code: &DeviceCodeErrorResponseType) -> Error {
    use DeviceCodeErrorResponseType as T;
    match code {
        T::AccessDenied => declined(),
        T::ExpiredToken => expired(),
        T::Basic(oauth2::basic::BasicErrorResponseType::Extension(c))
            if c == "authorization_declined" =>
        {
            declined()
        }
        T::Basic(oauth2::basic::BasicErrorResponseType::Extension(c))
            if c == "bad_verification_code" =>
        {
            Error::new(
                ErrorKind::Unauthenticated,
                "the token endpoint does not know this device code (bad_verification_code); start again",
            )
        }
        T::Basic(c) => from_code(c),
        // Pending and slow_down are polled through by the oauth2 crate.
        T::AuthorizationPending | T::SlowDown => expired(),
    }
}

fn declined() -> Error {
    Error::new(
        ErrorKind::Unauthenticated,
        "the sign-in was declined at the verification page",
    )
}

fn expired() -> Error {
    Error::new(
        ErrorKind::Unauthenticated,
        "the code expired before anyone signed in; start the sign-in again",
    )
}

/// The tokens of a finished sign-in.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SignedIn {
    /// The first access token.
    pub access: AccessToken,
    /// The refresh token, when the scopes asked for one (`offline_access` at Microsoft).
    pub refresh: Option<SecretString>,
}

impl SignedIn {
    /// The refresh token for [`OAuth2Grant::refresh_token`](super::OAuth2Grant::refresh_token).
    pub fn refresh_token(&self) -> Option<&SecretString> {
        self.refresh.as_ref()
    }
}

/// Settings of a [`DeviceCodeFlow`].
#[derive(Debug, Clone)]
#[must_use]
pub struct DeviceCodeFlowBuilder {
    device_url: String,
    token_url: String,
    client_id: String,
    scopes: Vec<String>,
    allow_http_loopback: bool,
    timeout: Duration,
}

impl DeviceCodeFlowBuilder {
    /// The scopes to ask for (add `offline_access` at Microsoft for a refresh token).
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Admits `http` endpoint URLs to a loopback host, for tests against a local endpoint.
    pub fn allow_http_loopback(mut self, allow: bool) -> Self {
        self.allow_http_loopback = allow;
        self
    }

    /// Sets the time one request may take (default 30 s); the whole sign-in takes as long
    /// as the code is valid.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates the settings and builds the flow.
    ///
    /// # Errors
    /// `ConfigInvalid` for an empty client id or an endpoint URL that does not parse or is
    /// not `https` (nor loopback `http` when allowed).
    pub fn build(self) -> Result<DeviceCodeFlow> {
        if self.client_id.is_empty() {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                "the OAuth2 client id is empty",
            ));
        }
        let loopback = self.allow_http_loopback;
        Ok(DeviceCodeFlow {
            device_url: DeviceAuthorizationUrl::from_url(endpoint_url(
                "device authorization",
                &self.device_url,
                loopback,
            )?),
            token_url: TokenUrl::from_url(endpoint_url("token", &self.token_url, loopback)?),
            client_id: self.client_id,
            scopes: self.scopes,
            http: http_client(loopback, self.timeout)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_like_the_token_client() {
        let b = |d: &str| DeviceCodeFlow::builder(d, "https://x.example/token", "c");
        assert!(b("https://x.example/devicecode").build().is_ok());
        let e = b("http://x.example/devicecode").build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(b("http://127.0.0.1:9/devicecode")
            .allow_http_loopback(true)
            .build()
            .is_ok());
        assert!(
            DeviceCodeFlow::builder("https://x.example/d", "https://x.example/t", "")
                .build()
                .is_err()
        );
    }

    #[test]
    fn refusals_say_what_to_do() {
        assert!(refusal(&DeviceCodeErrorResponseType::ExpiredToken)
            .to_string()
            .contains("start the sign-in again"));
        let declined = refusal(&DeviceCodeErrorResponseType::Basic(
            oauth2::basic::BasicErrorResponseType::Extension("authorization_declined".into()),
        ));
        assert_eq!(declined.kind(), ErrorKind::Unauthenticated);
        assert!(declined.to_string().contains("declined"), "{declined}");
    }
}

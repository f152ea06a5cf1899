//! The installed-app (desktop) sign-in of one user: an authorization code returned to a
//! loopback redirect, with PKCE (S256) and a `state` check \[GO-IA\]\[RFC7636\]\[10.2\].

use std::fmt;
use std::time::Duration;

use mailmigrate_core::auth::{AccessToken, SecretString};
use mailmigrate_core::{Error, ErrorKind, Result};
use oauth2::basic::BasicClient;
use oauth2::url::Url;
use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::token_endpoint;
use crate::PROVIDER;

/// Google's authorization endpoint for installed apps \[GO-IA\].
pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";

/// The tokens of a finished sign-in.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SignedIn {
    /// The first access token.
    pub access: AccessToken,
    /// The refresh token (Google sends one for `access_type=offline`, on first consent),
    /// for [`GmailBuilder::with_refresh_token`](crate::GmailBuilder::with_refresh_token).
    pub refresh: Option<SecretString>,
}

/// Signs one user in through the browser: Google's installed-app flow with a loopback
/// redirect \[GO-IA\].
///
/// [`authorize`](Self::authorize) listens on `127.0.0.1` on a free port, builds the
/// authorization URL (`response_type=code`, PKCE `S256`, a random `state`,
/// `access_type=offline` so a refresh token comes back), hands it to `open_url` (open a
/// browser, or print it), waits for the redirect, checks `state`, and exchanges the code
/// and the PKCE verifier at the token endpoint. `Debug` never shows the client secret.
///
/// # Examples
/// ```no_run
/// use mailmigrate_gmail::{GmailBuilder, InstalledApp, GMAIL_SCOPE};
///
/// # async fn run() -> mailmigrate_core::Result<()> {
/// let app = InstalledApp::new("1234.apps.googleusercontent.com", "GOCSPX-…");
/// let signed_in = app
///     .authorize([GMAIL_SCOPE], |url| eprintln!("Open {url} to sign in"))
///     .await?;
/// let refresh = signed_in.refresh.expect("first consent gives a refresh token");
/// let gmail = GmailBuilder::new("me")
///     .with_refresh_token("1234.apps.googleusercontent.com", "GOCSPX-…", refresh)
///     .build()?;
/// # let _ = gmail;
/// # Ok(())
/// # }
/// ```
#[must_use]
#[derive(Clone)]
pub struct InstalledApp {
    client_id: String,
    client_secret: SecretString,
    auth_url: String,
    token_url: String,
    login_hint: Option<String>,
    allow_http_loopback: bool,
    timeout: Duration,
}

impl fmt::Debug for InstalledApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstalledApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("login_hint", &self.login_hint)
            .finish_non_exhaustive()
    }
}

impl InstalledApp {
    /// The desktop OAuth client `client_id` / `client_secret` (Google's "Desktop app"
    /// clients have a secret that is not secret; it is still kept out of sight).
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<SecretString>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth_url: GOOGLE_AUTH_URL.to_owned(),
            token_url: crate::TOKEN_URL.to_owned(),
            login_hint: None,
            allow_http_loopback: false,
            timeout: Duration::from_secs(300),
        }
    }

    /// The authorization endpoint (default [`GOOGLE_AUTH_URL`]; the emulator's
    /// `auth_url`).
    pub fn with_auth_url(mut self, url: impl Into<String>) -> Self {
        self.auth_url = url.into();
        self
    }

    /// The token endpoint (default [`TOKEN_URL`](crate::TOKEN_URL)).
    pub fn with_token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// The account to preselect (`login_hint`, \[GYB\]).
    pub fn with_login_hint(mut self, user: impl Into<String>) -> Self {
        self.login_hint = Some(user.into());
        self
    }

    /// Admits `http` endpoints on a loopback host (the emulator).
    pub fn allow_http_loopback(mut self, allow: bool) -> Self {
        self.allow_http_loopback = allow;
        self
    }

    /// How long to wait for the redirect (default 5 minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the sign-in for `scopes`; `open_url` gets the URL the user must visit.
    ///
    /// # Errors
    /// `ConfigInvalid` for endpoints that are not `https` (nor loopback `http` when
    /// allowed) or a loopback port that cannot be bound; `PermissionDenied` when the user
    /// refuses (`error=access_denied`); `Unavailable` (temporary) when no redirect comes
    /// within the timeout; the token endpoint's refusals as for
    /// [`ServiceAccount`](super::ServiceAccount).
    pub async fn authorize<I, S>(&self, scopes: I, open_url: impl FnOnce(&Url)) -> Result<SignedIn>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let auth = token_endpoint::checked_url(&self.auth_url, self.allow_http_loopback)?;
        let token_url = token_endpoint::checked_url(&self.token_url, self.allow_http_loopback)?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
            config("cannot listen on a loopback port for the redirect").with_source(e)
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| config("the loopback listener has no address").with_source(e))?
            .port();
        // [GO-IA] the loopback IP redirect: http://127.0.0.1:port.
        let redirect = format!("http://127.0.0.1:{port}/");
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(auth))
            .set_redirect_uri(
                RedirectUrl::new(redirect.clone())
                    .map_err(|_| config("the loopback redirect URL does not parse"))?,
            );
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes.into_iter().map(|s| Scope::new(s.into())))
            .set_pkce_challenge(challenge)
            // [10.2][GYB] offline: a refresh token comes back.
            .add_extra_param("access_type", "offline");
        if let Some(hint) = &self.login_hint {
            request = request.add_extra_param("login_hint", hint.clone());
        }
        let (url, state) = request.url();
        open_url(&url);
        let code = tokio::time::timeout(self.timeout, wait_for_code(&listener, state.secret()))
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Unavailable,
                    "no sign-in arrived at the loopback redirect in time",
                )
                .with_provider(PROVIDER)
                .temporary()
            })??;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("redirect_uri", redirect.as_str()),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
            ("code_verifier", verifier.secret().as_str()),
        ];
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| config(format!("cannot build the HTTP client: {e}")))?;
        let granted = token_endpoint::exchange(
            &http,
            token_url,
            &form,
            &format!("the sign-in of OAuth client {}", self.client_id),
        )
        .await?;
        Ok(SignedIn {
            access: granted.token,
            refresh: granted.refresh,
        })
    }
}

/// Answers requests on the loopback listener until one carries `state` and a `code` (or
/// an `error`). Other requests (a favicon, a forged `state`) are answered and ignored.
async fn wait_for_code(listener: &TcpListener, state: &str) -> Result<SecretString> {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let mut buf = Vec::with_capacity(2048);
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        let query = target.split_once('?').map_or("", |(_, q)| q);
        let params: Vec<(String, String)> = oauth2::url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if get("state") != Some(state) {
            let _ = respond(
                &mut conn,
                "400 Bad Request",
                "This is not the sign-in it waits for.",
            )
            .await;
            continue;
        }
        if let Some(error) = get("error") {
            let _ = respond(
                &mut conn,
                "200 OK",
                "Sign-in refused. You can close this window.",
            )
            .await;
            let known = matches!(
                error,
                "access_denied" | "invalid_scope" | "unauthorized_client"
            );
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                if known {
                    format!("the sign-in was refused ({error})")
                } else {
                    "the sign-in was refused".to_owned()
                },
            )
            .with_provider(PROVIDER));
        }
        let Some(code) = get("code") else {
            let _ = respond(&mut conn, "400 Bad Request", "No code in the redirect.").await;
            continue;
        };
        let _ = respond(&mut conn, "200 OK", "Signed in. You can close this window.").await;
        return Ok(SecretString::new(code));
    }
}

async fn respond(
    conn: &mut tokio::net::TcpStream,
    status: &str,
    text: &str,
) -> std::io::Result<()> {
    let body = format!("<!doctype html><title>mailmigrate</title><p>{text}</p>\n");
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body.as_bytes()).await?;
    conn.shutdown().await
}

fn config(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ConfigInvalid, msg).with_provider(PROVIDER)
}

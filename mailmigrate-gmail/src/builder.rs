//! [`GmailBuilder`]: one Gmail user, and how to reach it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mailmigrate_core::auth::{
    CachingTokenProvider, OAuth2Client, OAuth2Grant, SecretString, TokenProvider,
};
use mailmigrate_core::{Error, ErrorKind, Result};

use crate::auth::ServiceAccountKey;
use crate::client::Client;
use crate::mail::{Gmail, Settings};
use crate::quota::GmailLimits;
use crate::PROVIDER;

/// The Gmail API root \[GM-DISC\] `rootUrl`.
pub const GMAIL_URL: &str = "https://gmail.googleapis.com";
/// Google's OAuth 2.0 token endpoint \[GO-SA\].
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The scope this crate asks for: full mail access (`https://mail.google.com/`), the one
/// scope that covers reading, importing and label changes \[GM-IMPORT\]\[10.3\].
pub const GMAIL_SCOPE: &str = "https://mail.google.com/";
/// The largest message imported by default: 150 MB per \[GM-IMPORT\] (the discovery
/// document says 50 MB — conflict; set it with [`GmailBuilder::with_max_message_size`]).
pub const MAX_MESSAGE_BYTES: u64 = 150 * 1024 * 1024;
/// Messages larger than this are imported by resumable upload, smaller ones by one
/// multipart request: 5 MB, the size up to which \[GM-UPL\] calls a simple upload fit.
pub const RESUMABLE_THRESHOLD: u64 = 5 * 1024 * 1024;
/// The chunk of a resumable upload: 8 MiB, a multiple of the 256 KiB \[GM-UPL\] requires.
pub const RESUMABLE_CHUNK: usize = 8 * 1024 * 1024;

/// Connects to one Gmail user (an address, or `me` for the token's own user).
///
/// Tokens come from a [`TokenProvider`] you give, or from the refresh-token grant of an
/// installed-app OAuth client ([`with_refresh_token`](Self::with_refresh_token)), renewed
/// before they expire and once more when Gmail refuses one. TLS is verified; `http://` is
/// refused unless [`allow_plaintext`](Self::allow_plaintext) (the [emulator](crate::emulator)).
/// `Debug` never shows a secret.
///
/// # Examples
/// ```no_run
/// use mailmigrate_core::Provider;
/// use mailmigrate_gmail::GmailBuilder;
///
/// # async fn run() -> mailmigrate_core::Result<()> {
/// let gmail = GmailBuilder::new("ada@example.com")
///     .with_refresh_token("client-id.apps.googleusercontent.com", "client-secret", "1//refresh")
///     .build()?;
/// let folders = gmail.list_folders().await?;
/// # let _ = folders;
/// # Ok(())
/// # }
/// # let _ = run;
/// ```
#[must_use]
pub struct GmailBuilder {
    user: String,
    api_url: String,
    admin_url: String,
    token_url: String,
    tokens: Option<Arc<dyn TokenProvider>>,
    refresh: Option<(String, SecretString, SecretString)>,
    service_account: Option<ServiceAccountKey>,
    limits: GmailLimits,
    settings: Settings,
    allow_plaintext: bool,
    timeout: Duration,
    /// Scopes asked for beside [`GMAIL_SCOPE`] (the calendar and contacts store's).
    pub(crate) extra_scopes: Vec<&'static str>,
}

impl fmt::Debug for GmailBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GmailBuilder")
            .field("user", &self.user)
            .field("api_url", &self.api_url)
            .field("token_url", &self.token_url)
            .field("tokens", &self.tokens.is_some())
            .field("client_id", &self.refresh.as_ref().map(|r| &r.0))
            .field(
                "service_account",
                &self.service_account.as_ref().map(|k| k.client_email()),
            )
            .field("limits", &self.limits)
            .field("allow_plaintext", &self.allow_plaintext)
            .finish_non_exhaustive()
    }
}

impl GmailBuilder {
    /// A builder for `user` (`ada@example.com`, or `me`).
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            api_url: GMAIL_URL.to_owned(),
            admin_url: crate::ADMIN_URL.to_owned(),
            token_url: TOKEN_URL.to_owned(),
            tokens: None,
            refresh: None,
            service_account: None,
            limits: GmailLimits::default(),
            settings: Settings::default(),
            allow_plaintext: false,
            timeout: Duration::from_secs(300),
            extra_scopes: Vec::new(),
        }
    }

    /// The API root, `https://gmail.googleapis.com` by default (the emulator's `base_url`).
    pub fn with_api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into();
        self
    }

    /// The token endpoint, `https://oauth2.googleapis.com/token` by default.
    pub fn with_token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// Takes tokens from `tokens` (a service account's, shared with other users, or your
    /// own sign-in).
    pub fn with_token_provider(mut self, tokens: Arc<dyn TokenProvider>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Access as the user whose refresh token this is, through the OAuth client
    /// `client_id` / `secret`, with [`GMAIL_SCOPE`].
    pub fn with_refresh_token(
        mut self,
        client_id: impl Into<String>,
        secret: impl Into<SecretString>,
        refresh: impl Into<SecretString>,
    ) -> Self {
        self.refresh = Some((client_id.into(), secret.into(), refresh.into()));
        self
    }

    /// Access as this builder's user through a service account with domain-wide
    /// delegation \[GO-SA\], with [`GMAIL_SCOPE`]: the key's provider for the user (one per
    /// user, shared by every mailbox built from the same key). The user must be an address,
    /// not `me`.
    pub fn with_service_account(mut self, key: &ServiceAccountKey) -> Self {
        self.service_account = Some(key.clone());
        self
    }

    /// Imports messages over `threshold` bytes (default [`RESUMABLE_THRESHOLD`]) by
    /// resumable upload in chunks of `chunk` bytes (default [`RESUMABLE_CHUNK`]; rounded
    /// down to a multiple of 256 KiB, at least 256 KiB, \[GM-UPL\]).
    pub fn with_resumable_upload(mut self, threshold: u64, chunk: usize) -> Self {
        self.settings.resumable_threshold = threshold;
        self.settings.chunk = crate::mail::chunk_size(chunk);
        self
    }

    /// The per-user quota budget, concurrency and backoff (defaults: [`GmailLimits::default`]).
    pub fn with_limits(mut self, limits: GmailLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The largest message imported (default [`MAX_MESSAGE_BYTES`]); a larger one is
    /// refused as `MessageTooLarge`, naming it, without a request.
    pub fn with_max_message_size(mut self, bytes: u64) -> Self {
        self.settings.max_message = bytes;
        self
    }

    /// The parent label under which IMAP keywords (and `\Answered`, which Gmail cannot
    /// hold) are kept as labels (default `Keywords`: keyword `$Forwarded` is the label
    /// `Keywords/$Forwarded`). Labels under it are read back as keywords.
    pub fn with_keyword_labels(mut self, parent: impl Into<String>) -> Self {
        self.settings.keyword_parent = parent.into();
        self
    }

    /// Allows `http://` URLs (tests against the emulator only).
    pub fn allow_plaintext(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }

    /// The timeout of one request, body included (default 300 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether `http://` URLs are allowed.
    pub(crate) fn allows_plaintext(&self) -> bool {
        self.allow_plaintext
    }

    /// The limits set.
    pub(crate) fn limits(&self) -> GmailLimits {
        self.limits
    }

    /// Builds the mailbox. It makes no request: the first call shows whether it answers.
    ///
    /// # Errors
    /// `ConfigInvalid` for a URL that is not `https` (without
    /// [`allow_plaintext`](Self::allow_plaintext)), no credentials (a token provider, a
    /// refresh token or a service account), or a service account for the user `me`.
    pub fn build(self) -> Result<Gmail> {
        let (client, user, settings, limits) = self.client(&[GMAIL_SCOPE])?;
        Ok(Gmail::new(Arc::new(client), user, settings, limits))
    }

    /// Builds the domain's directory, read as this builder's user: an admin of the
    /// domain (with a service account, the subject it acts for), with
    /// [`DIRECTORY_USER_SCOPE`](crate::DIRECTORY_USER_SCOPE) and
    /// [`DIRECTORY_GROUP_SCOPE`](crate::DIRECTORY_GROUP_SCOPE), which the admin must have
    /// authorised for the service account's domain-wide delegation. It makes no request.
    ///
    /// ```no_run
    /// # fn run(key: mailmigrate_gmail::ServiceAccountKey) -> mailmigrate_core::Result<()> {
    /// let dir = mailmigrate_gmail::GmailBuilder::new("admin@example.com")
    ///     .with_service_account(&key)
    ///     .connect_directory()?;
    /// # let _ = dir;
    /// # Ok(())
    /// # }
    /// # let _ = run;
    /// ```
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn connect_directory(mut self) -> Result<crate::GoogleDirectory> {
        let scopes = [crate::DIRECTORY_USER_SCOPE, crate::DIRECTORY_GROUP_SCOPE];
        self.extra_scopes.extend(scopes);
        let admin_url = self.admin_url.clone();
        let (client, user, _, _) = self.client(&scopes)?;
        let label = user
            .rsplit_once('@')
            .map_or(user.as_str(), |(_, d)| d)
            .to_owned();
        Ok(crate::GoogleDirectory::new(client, admin_url, label))
    }

    /// The Admin SDK root, [`ADMIN_URL`](crate::ADMIN_URL) by default (the emulator's
    /// `base_url`).
    pub fn with_admin_url(mut self, url: impl Into<String>) -> Self {
        self.admin_url = url.into();
        self
    }

    /// The HTTP client of the user, with a service account's tokens for `sa_scopes`.
    fn client(
        mut self,
        sa_scopes: &[&'static str],
    ) -> Result<(Client, String, Settings, GmailLimits)> {
        for url in [&self.api_url, &self.token_url, &self.admin_url] {
            let plain = url.starts_with("http://");
            if !(url.starts_with("https://") || plain && self.allow_plaintext) {
                return Err(config(format!(
                    "the URL {url:?} is not https:// (allow_plaintext admits http:// for tests)"
                )));
            }
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("mailmigrate-gmail/", env!("CARGO_PKG_VERSION")))
            .https_only(!self.allow_plaintext)
            .build()
            .map_err(|e| config(format!("cannot build the HTTP client: {e}")))?;
        if self.tokens.is_none() {
            if let Some(key) = self.service_account.take() {
                self.tokens = Some(service_account_tokens(&key, &self.user, sa_scopes)?);
            }
        }
        let tokens = match (self.tokens.take(), self.refresh.take()) {
            (Some(t), _) => t,
            (None, Some((client_id, secret, refresh))) => {
                let source = OAuth2Client::builder(self.token_url.clone(), client_id)
                    .with_client_secret(secret)
                    .with_scopes(
                        std::iter::once(GMAIL_SCOPE).chain(self.extra_scopes.iter().copied()),
                    )
                    .with_grant(OAuth2Grant::refresh_token(refresh))
                    .with_credentials_in_body()
                    .allow_http_loopback(self.allow_plaintext)
                    .build()?;
                Arc::new(CachingTokenProvider::new(source))
            }
            (None, None) => {
                return Err(config(
                    "no credentials: a token provider, refresh token or service account",
                ))
            }
        };
        let client = Client::new(http, &self.api_url, &self.user, tokens, self.limits);
        Ok((client, self.user, self.settings, self.limits))
    }
}

/// The service account's provider for `user` \[GO-SA\]: a named user, never `me`.
fn service_account_tokens(
    key: &ServiceAccountKey,
    user: &str,
    scopes: &[&'static str],
) -> Result<Arc<dyn TokenProvider>> {
    if user.eq_ignore_ascii_case("me") || !user.contains('@') {
        return Err(config(
            "a service account acts for a named user of the domain, not \"me\"",
        ));
    }
    Ok(key.provider_for(user, scopes.iter().copied()))
}

fn config(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ConfigInvalid, msg).with_provider(PROVIDER)
}

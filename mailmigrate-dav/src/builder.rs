//! Configuring and connecting a [`DavStore`]: the server, credentials, TLS and limits.

use std::sync::Arc;
use std::time::Duration;

use mailmigrate_core::auth::{SecretString, TokenProvider};
use mailmigrate_core::{Error, ErrorKind, Result};
use reqwest::Url;

use crate::http::{DavAuth, Http, PROVIDER};
use crate::store::{discover, DavStore, Limits};

/// Builds a [`DavStore`].
///
/// TLS certificates are verified against the web's root authorities (plus any given with
/// [`with_root_certificate_pem`](Self::with_root_certificate_pem)); plain `http://` URLs
/// are refused unless [`allow_plaintext`](Self::allow_plaintext) is set.
///
/// ```no_run
/// # async fn run() -> mailmigrate_core::Result<()> {
/// use mailmigrate_dav::DavBuilder;
/// let store = DavBuilder::new("https://dav.example.com/")
///     .with_basic("ann", "secret")
///     .connect()
///     .await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DavBuilder {
    url: String,
    auth: DavAuth,
    allow_plaintext: bool,
    roots: Vec<Vec<u8>>,
    calendar_home: Option<String>,
    addressbook_home: Option<String>,
    limits: Limits,
    timeout: Duration,
}

impl DavBuilder {
    /// A builder for the server at `url`: its root, a principal or a home set. Discovery
    /// finds the home sets from there (`current-user-principal`, then
    /// `/.well-known/caldav` and `/.well-known/carddav`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            auth: DavAuth::None,
            allow_plaintext: false,
            roots: Vec::new(),
            calendar_home: None,
            addressbook_home: None,
            limits: Limits::default(),
            timeout: Duration::from_secs(120),
        }
    }

    /// A builder from the environment: `{prefix}URL`, and `{prefix}USER` with
    /// `{prefix}PASSWORD` for Basic credentials when set.
    ///
    /// ```
    /// let b = mailmigrate_dav::DavBuilder::from_env_prefix("MY_UNSET_PREFIX_");
    /// assert!(format!("{b:?}").contains("url: \"\""));
    /// ```
    pub fn from_env_prefix(prefix: &str) -> Self {
        let var = |k: &str| std::env::var(format!("{prefix}{k}")).ok();
        let mut b = Self::new(var("URL").unwrap_or_default());
        if let Some(user) = var("USER") {
            b = b.with_basic(user, var("PASSWORD").unwrap_or_default());
        }
        b
    }

    /// HTTP Basic credentials.
    #[must_use]
    pub fn with_basic(
        mut self,
        user: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Self {
        self.auth = DavAuth::Basic {
            user: user.into(),
            password: password.into(),
        };
        self
    }

    /// Bearer tokens from `provider` (OAuth2), renewed when the server refuses one.
    #[must_use]
    pub fn with_bearer(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.auth = DavAuth::Bearer(provider);
        self
    }

    /// Allows `http://` URLs (a server on 127.0.0.1, a test server). Credentials then
    /// travel unencrypted.
    #[must_use]
    pub fn allow_plaintext(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }

    /// Trusts a private certificate authority (PEM) beside the web's roots.
    #[must_use]
    pub fn with_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots.push(pem.into());
        self
    }

    /// Uses these home sets instead of discovering them (a server without
    /// `current-user-principal`). Either may be `None`: that kind is then discovered.
    #[must_use]
    pub fn with_homes(mut self, calendars: Option<String>, addressbooks: Option<String>) -> Self {
        self.calendar_home = calendars;
        self.addressbook_home = addressbooks;
        self
    }

    /// Requests in flight at once (PUTs of a batch, multiget reports); default 4.
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.limits.concurrency = n.max(1);
        self
    }

    /// Items per multiget report and per write batch the engine sends; default 100.
    #[must_use]
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.limits.batch = n.max(1);
        self
    }

    /// The largest answer read whole into memory, in bytes (default 256 MiB): a multiget
    /// answer holds a batch of items, so this bounds a batch, not a collection. Listings of
    /// a collection's members are spooled instead (see
    /// [`with_max_listing`](Self::with_max_listing)) and parsed holding at most 64 KiB of
    /// any one element.
    #[must_use]
    pub fn with_max_answer(mut self, bytes: usize) -> Self {
        self.limits.max_answer = bytes;
        self
    }

    /// The largest listing answer, in bytes (default 1 GiB, some 4 million members).
    ///
    /// A listing (`sync-collection` report, or `PROPFIND` of the members with their ETags)
    /// grows with the collection. It is read as fast as the server sends it into a spool —
    /// memory up to 256 KiB, then an anonymous temporary file in the system's temporary
    /// directory (`TMPDIR`), which needs room for it — and parsed from there as the engine
    /// asks, so memory stays bounded and the server is never kept waiting. A longer answer
    /// fails the listing (`Unexpected`, naming the collection) rather than fill the disk.
    #[must_use]
    pub fn with_max_listing(mut self, bytes: u64) -> Self {
        self.limits.max_listing = bytes;
        self
    }

    /// The timeout of a request (default 120 s).
    ///
    /// No request waits longer than this for its answer's headers, nor between two reads
    /// of its body. Every request but a listing must also end within it, body included. A
    /// listing has no whole-request deadline: its answer grows with the collection (60 MB
    /// take minutes on a slow link) and is bounded by
    /// [`with_max_listing`](Self::with_max_listing) instead.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn config_error(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::ConfigInvalid, msg).with_provider(PROVIDER)
    }

    /// Discovers the principal, its home sets and whether the server schedules, and
    /// returns the store.
    ///
    /// # Errors
    /// `ConfigInvalid` for a bad URL or a plaintext URL not allowed (before any
    /// connection); `Unauthenticated` when the server refuses the credentials (a refused
    /// bearer token after one renewal); `Unavailable`, permanent, when the server's TLS
    /// certificate is not trusted (an unknown issuer, another host's name); `NotFound`
    /// when neither home set can be found; other transport errors (`Unavailable`,
    /// temporary).
    pub async fn connect(self) -> Result<DavStore> {
        let mut base = Url::parse(&self.url).map_err(|e| {
            Self::config_error(format!("the DAV URL {:?} is not a URL: {e}", self.url))
        })?;
        match base.scheme() {
            "https" => {}
            "http" if self.allow_plaintext => {}
            "http" => {
                return Err(Self::config_error(
                    "the DAV URL is http:// and plaintext is not allowed (allow_plaintext)",
                ))
            }
            other => {
                return Err(Self::config_error(format!(
                    "unsupported URL scheme {other}"
                )))
            }
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Per read: a listing may take longer in all (see `with_timeout`); every other
            // request sets the whole-request deadline itself (`Deadline::Whole`).
            .read_timeout(self.timeout)
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("mailmigrate-dav/", env!("CARGO_PKG_VERSION")))
            .https_only(!self.allow_plaintext);
        for pem in &self.roots {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| Self::config_error(format!("a root certificate is not PEM: {e}")))?;
            client = client.add_root_certificate(cert);
        }
        let client = client
            .build()
            .map_err(|e| Self::config_error(format!("cannot build the HTTP client: {e}")))?;
        let account = match &self.auth {
            DavAuth::Basic { user, .. } => {
                format!("{user}@{}", base.host_str().unwrap_or_default())
            }
            _ => base.host_str().unwrap_or_default().to_owned(),
        };
        let http = Http {
            client,
            auth: self.auth,
            max_answer: self.limits.max_answer,
            timeout: self.timeout,
        };
        discover(
            http,
            base,
            account,
            self.calendar_home,
            self.addressbook_home,
            self.limits,
        )
        .await
    }
}

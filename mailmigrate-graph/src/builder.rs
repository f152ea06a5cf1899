//! [`GraphBuilder`]: one mailbox of a Microsoft 365 tenant (or its directory), and how to
//! reach it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mailmigrate_core::auth::{
    CachingTokenProvider, DeviceCodeFlow, OAuth2Client, OAuth2Grant, SecretString, TokenProvider,
};
use mailmigrate_core::{Error, ErrorKind, Result};

use crate::client::{Client, MailboxLimits};
use crate::directory::GraphDirectory;
use crate::mail::Graph;
use crate::PROVIDER;

/// Microsoft Graph v1.0, where every call but `importMime` goes.
pub const GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
/// The Microsoft identity platform; a tenant's token endpoint is
/// `{authority}/{tenant}/oauth2/v2.0/token` ([AAD-CC]).
pub const AUTHORITY_URL: &str = "https://login.microsoftonline.com";
/// The scope of an app-only token for Graph ([AAD-CC]: `.default` asks for the
/// application permissions an administrator granted).
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The scopes of delegated access (a person signed in, [AAD-DC]): mail, contacts and
/// calendars read and write, and `offline_access` for a refresh token.
pub const DELEGATED_SCOPES: [&str; 4] = [
    "https://graph.microsoft.com/Mail.ReadWrite",
    "https://graph.microsoft.com/Contacts.ReadWrite",
    "https://graph.microsoft.com/Calendars.ReadWrite",
    "offline_access",
];

/// How the builder signs in: as the app, or as a person who signed in once.
#[derive(Clone)]
enum Credentials {
    /// The client-credentials grant: tenant, client id, secret.
    App(String, String, SecretString),
    /// The refresh-token grant of a public client: tenant, client id, refresh token.
    Delegated(String, String, SecretString),
}

impl Credentials {
    fn client_id(&self) -> &str {
        match self {
            Self::App(_, id, _) | Self::Delegated(_, id, _) => id,
        }
    }
}

/// Connects to one mailbox (a user principal name or object id) of a tenant.
///
/// Tokens come from a [`TokenProvider`] you give ([`with_token_provider`](Self::with_token_provider)),
/// or from the client-credentials grant of an app registration
/// ([`with_client_credentials`](Self::with_client_credentials)), renewed before they expire
/// and once more when Graph refuses one. TLS is verified; `http://` is refused unless
/// [`allow_plaintext`](Self::allow_plaintext) (for the [emulator](crate::emulator) on
/// 127.0.0.1). `Debug` never shows the secret.
///
/// # Examples
/// ```no_run
/// use mailmigrate_core::Provider;
/// use mailmigrate_graph::GraphBuilder;
///
/// # async fn run() -> mailmigrate_core::Result<()> {
/// let mailbox = GraphBuilder::new("ada@contoso.com")
///     .with_client_credentials("contoso.onmicrosoft.com", "app-id", "app-secret")
///     .connect()
///     .await?;
/// let folders = mailbox.list_folders().await?;
/// # let _ = folders;
/// # Ok(())
/// # }
/// # let _ = run;
/// ```
#[must_use]
pub struct GraphBuilder {
    mailbox: String,
    graph_url: String,
    authority_url: String,
    tokens: Option<Arc<dyn TokenProvider>>,
    credentials: Option<Credentials>,
    limits: MailboxLimits,
    allow_plaintext: bool,
    import_mime: bool,
    timeout: Duration,
    roots: Vec<Vec<u8>>,
}

impl fmt::Debug for GraphBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphBuilder")
            .field("mailbox", &self.mailbox)
            .field("graph_url", &self.graph_url)
            .field("authority_url", &self.authority_url)
            .field("tokens", &self.tokens.is_some())
            .field(
                "client_id",
                &self.credentials.as_ref().map(Credentials::client_id),
            )
            .field("limits", &self.limits)
            .field("allow_plaintext", &self.allow_plaintext)
            .finish_non_exhaustive()
    }
}

impl GraphBuilder {
    /// A builder for `mailbox` (`ada@contoso.com` or the user's object id); for
    /// [`connect_directory`](Self::connect_directory), a label for the tenant.
    pub fn new(mailbox: impl Into<String>) -> Self {
        Self {
            mailbox: mailbox.into(),
            graph_url: GRAPH_URL.to_owned(),
            authority_url: AUTHORITY_URL.to_owned(),
            tokens: None,
            credentials: None,
            limits: MailboxLimits::default(),
            allow_plaintext: false,
            import_mime: false,
            timeout: Duration::from_secs(300),
            roots: Vec::new(),
        }
    }

    /// The Graph root, `https://graph.microsoft.com/v1.0` by default (a national cloud or
    /// the emulator's `graph_url`). `/beta` is derived from it.
    pub fn with_graph_url(mut self, url: impl Into<String>) -> Self {
        self.graph_url = url.into();
        self
    }

    /// The identity platform root, `https://login.microsoftonline.com` by default.
    pub fn with_authority_url(mut self, url: impl Into<String>) -> Self {
        self.authority_url = url.into();
        self
    }

    /// Takes tokens from `tokens` (shared with other mailboxes of the same tenant, or a
    /// delegated sign-in).
    pub fn with_token_provider(mut self, tokens: Arc<dyn TokenProvider>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// App-only access through the client-credentials grant of the app `client_id` in
    /// `tenant` (a tenant id or domain), with the application permissions an
    /// administrator granted (`Mail.ReadWrite`).
    pub fn with_client_credentials(
        mut self,
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        secret: impl Into<SecretString>,
    ) -> Self {
        self.credentials = Some(Credentials::App(
            tenant.into(),
            client_id.into(),
            secret.into(),
        ));
        self
    }

    /// Delegated access as the person whose refresh token this is (from
    /// [`device_code_flow`](Self::device_code_flow)), through the public client
    /// `client_id` of `tenant`, with [`DELEGATED_SCOPES`]. A rotated refresh token replaces
    /// it for the rest of the run.
    pub fn with_refresh_token(
        mut self,
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        refresh: impl Into<SecretString>,
    ) -> Self {
        self.credentials = Some(Credentials::Delegated(
            tenant.into(),
            client_id.into(),
            refresh.into(),
        ));
        self
    }

    /// A sign-in by device code ([AAD-DC]) at this builder's identity platform, for the
    /// public client `client_id` of `tenant` (`organizations` for any work account) with
    /// [`DELEGATED_SCOPES`]; its refresh token goes to
    /// [`with_refresh_token`](Self::with_refresh_token).
    ///
    /// ```no_run
    /// use mailmigrate_graph::GraphBuilder;
    /// # async fn run() -> mailmigrate_core::Result<()> {
    /// let builder = GraphBuilder::new("ada@contoso.com");
    /// let flow = builder.device_code_flow("organizations", "app-id")?;
    /// let sign_in = flow.start().await?;
    /// eprintln!("{}", sign_in.message());
    /// let signed_in = sign_in.finish().await?;
    /// let refresh = signed_in.refresh_token().cloned().expect("offline_access");
    /// let mailbox = builder
    ///     .with_refresh_token("organizations", "app-id", refresh)
    ///     .connect()
    ///     .await?;
    /// # let _ = mailbox;
    /// # Ok(())
    /// # }
    /// # let _ = run;
    /// ```
    ///
    /// # Errors
    /// `ConfigInvalid` for an authority URL that is not `https` (without
    /// [`allow_plaintext`](Self::allow_plaintext)).
    pub fn device_code_flow(&self, tenant: &str, client_id: &str) -> Result<DeviceCodeFlow> {
        DeviceCodeFlow::builder(
            self.tenant_endpoint(tenant, "devicecode"),
            self.tenant_endpoint(tenant, "token"),
            client_id,
        )
        .with_scopes(DELEGATED_SCOPES)
        .allow_http_loopback(self.allow_plaintext)
        .build()
    }

    /// `{authority}/{tenant}/oauth2/v2.0/{endpoint}`.
    fn tenant_endpoint(&self, tenant: &str, endpoint: &str) -> String {
        format!(
            "{}/{}/oauth2/v2.0/{endpoint}",
            self.authority_url.trim_end_matches('/'),
            crate::client::segment(tenant)
        )
    }

    /// The per-mailbox limits (defaults: Graph's documented Outlook limits).
    pub fn with_limits(mut self, limits: MailboxLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Creates messages with the beta `importMime` action where the tenant offers it
    /// (\[G-IMIME\]; the app needs `Mail-Advanced.ReadWrite.All`): the MIME is kept as
    /// given — every header, the body parts as they were — instead of being rebuilt from
    /// its parsed fields. Tried on the first write; a tenant that does not offer it (or an
    /// app without the permission) gets the JSON path for the rest of the run. Drafts,
    /// messages without a `Message-ID` and those over 3 MB take the JSON path too. Off by default:
    /// the action is beta ("not for production use"), and what it makes of the received
    /// date is not documented, so a mailbox built with it does not declare the internal
    /// date kept.
    pub fn with_import_mime(mut self, on: bool) -> Self {
        self.import_mime = on;
        self
    }

    /// Allows `http://` URLs (tests against the emulator only).
    pub fn allow_plaintext(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }

    /// The timeout of one request, body included (default 300 s: a 4 MB create on a slow
    /// line).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Trusts this PEM root certificate besides the webpki roots (a TLS-inspecting proxy).
    pub fn with_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots.push(pem.into());
        self
    }

    /// Builds the mailbox. It makes no request: the first call shows whether the mailbox
    /// answers.
    ///
    /// # Errors
    /// `ConfigInvalid` for a URL that is not `https` (without
    /// [`allow_plaintext`](Self::allow_plaintext)), a PEM that does not parse, or neither
    /// a token provider nor client credentials.
    pub async fn connect(self) -> Result<Graph> {
        let mailbox = self.mailbox.clone();
        let import_mime = self.import_mime;
        let client = self.client()?;
        Ok(Graph::new(Arc::new(client), mailbox).importing(import_mime))
    }

    /// Builds the tenant's [`GraphDirectory`]: its users, shared and resource mailboxes
    /// and mail-enabled groups. The name given to [`new`](Self::new) is the directory's
    /// label (the tenant's domain, say); the token must be tenant-wide, app-only with
    /// `User.Read.All`, `Group.Read.All` and `MailboxSettings.Read` (and `Mail.ReadBasic.All`
    /// for [stats](GraphDirectory::with_stats)). It makes no request.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    ///
    /// # Examples
    /// ```no_run
    /// use mailmigrate_core::directory::Directory;
    /// use mailmigrate_graph::GraphBuilder;
    ///
    /// # async fn run() -> mailmigrate_core::Result<()> {
    /// let tenant = GraphBuilder::new("contoso.com")
    ///     .with_client_credentials("contoso.onmicrosoft.com", "app-id", "app-secret")
    ///     .connect_directory()
    ///     .await?;
    /// let inventory = tenant.inventory().await?;
    /// let mailboxes = inventory.totals().accounts;
    /// # let _ = mailboxes;
    /// # Ok(())
    /// # }
    /// # let _ = run;
    /// ```
    pub async fn connect_directory(self) -> Result<GraphDirectory> {
        let label = self.mailbox.clone();
        let client = self.client()?;
        Ok(GraphDirectory::new(Arc::new(client), label))
    }

    /// The HTTP client both [`connect`](Self::connect) and
    /// [`connect_directory`](Self::connect_directory) build on (a directory addresses
    /// users by id, so its `mailbox` is only a label).
    fn client(mut self) -> Result<Client> {
        for url in [&self.graph_url, &self.authority_url] {
            let plain = url.starts_with("http://");
            if !(url.starts_with("https://") || plain && self.allow_plaintext) {
                return Err(config(format!(
                    "the Graph URL {url:?} is not https:// (allow_plaintext admits http:// for tests)"
                )));
            }
        }
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("mailmigrate-graph/", env!("CARGO_PKG_VERSION")))
            .https_only(!self.allow_plaintext);
        for pem in &self.roots {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| config(format!("a root certificate is not PEM: {e}")))?;
            http = http.add_root_certificate(cert);
        }
        let http = http
            .build()
            .map_err(|e| config(format!("cannot build the HTTP client: {e}")))?;
        let tokens = match (self.tokens.take(), self.credentials.take()) {
            (Some(t), _) => t,
            (None, Some(Credentials::App(tenant, client_id, secret))) => {
                let source =
                    OAuth2Client::builder(self.tenant_endpoint(&tenant, "token"), client_id)
                        .with_client_secret(secret)
                        .with_scopes([GRAPH_SCOPE])
                        .with_grant(OAuth2Grant::ClientCredentials)
                        // [AAD-CC] documents the secret as a form field of the request.
                        .with_credentials_in_body()
                        .allow_http_loopback(self.allow_plaintext)
                        .build()?;
                Arc::new(CachingTokenProvider::new(source))
            }
            (None, Some(Credentials::Delegated(tenant, client_id, refresh))) => {
                let source =
                    OAuth2Client::builder(self.tenant_endpoint(&tenant, "token"), client_id)
                        .with_scopes(DELEGATED_SCOPES)
                        .with_grant(OAuth2Grant::refresh_token(refresh))
                        .with_credentials_in_body()
                        .allow_http_loopback(self.allow_plaintext)
                        .build()?;
                Arc::new(CachingTokenProvider::new(source))
            }
            (None, None) => {
                return Err(config(
                    "no credentials: give a token provider or client credentials",
                ))
            }
        };
        Ok(Client::new(
            http,
            &self.graph_url,
            &self.mailbox,
            tokens,
            self.limits,
        ))
    }
}

fn config(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ConfigInvalid, msg).with_provider(PROVIDER)
}

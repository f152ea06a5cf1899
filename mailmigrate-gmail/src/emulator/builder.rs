//! [`EmulatorBuilder`] and [`Quota`]: what the emulated domain looks like, and the values
//! Google documents loosely or not at all.

use std::time::Duration;

use super::handle::EmulatorHandle;

/// Per-user quota and concurrency \[GM-QUOTA\]\[I-G429\], scaled down for tests as needed.
///
/// ```
/// use mailmigrate_gmail::emulator::Quota;
/// use std::time::Duration;
///
/// let q = Quota::default();
/// assert_eq!((q.units_per_window, q.window), (6_000, Duration::from_secs(60)));
/// let fast = Quota::default().with_units_per_window(100, Duration::from_millis(500));
/// assert_eq!(fast.units_per_window, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quota {
    /// Quota units one user may spend per [`window`](Self::window): 6,000 per minute for
    /// projects created since 2026-05-01, 15,000 before \[GM-QUOTA\].
    pub units_per_window: u64,
    /// The window of [`units_per_window`](Self::units_per_window) (a minute).
    pub window: Duration,
    /// Requests one user may have in flight before 429 "Too many concurrent requests for
    /// user" (10; Google publishes no figure, observed \[I-G429\]).
    pub concurrency: usize,
    /// The status of `userRateLimitExceeded`: 403 in \[GM-ERR\]'s table, 429 in newer
    /// guidance (default 403).
    pub rate_limit_status: u16,
    /// Whether a rate-limit answer carries `Retry-After` (default off: Gmail states the
    /// instant in the message text only, observed).
    pub send_retry_after: bool,
    /// Units one user may spend per day before 403 `dailyLimitExceeded` \[GM-ERR\]
    /// (default none: Google publishes no per-user daily figure; a test knob).
    pub daily_units_per_user: Option<u64>,
    /// Units the whole project may spend per day before 403 `dailyLimitExceeded`
    /// (default none; \[GM-QUOTA\] names 80,000,000 a day for projects since 2026-05-01).
    pub daily_units_per_project: Option<u64>,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            units_per_window: 6_000,
            window: Duration::from_secs(60),
            concurrency: 10,
            rate_limit_status: 403,
            send_retry_after: false,
            daily_units_per_user: None,
            daily_units_per_project: None,
        }
    }
}

impl Quota {
    /// Sets [`units_per_window`](Self::units_per_window) and [`window`](Self::window).
    #[must_use]
    pub fn with_units_per_window(mut self, units: u64, window: Duration) -> Self {
        self.units_per_window = units;
        self.window = window;
        self
    }
    /// Sets [`concurrency`](Self::concurrency).
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// Sets [`rate_limit_status`](Self::rate_limit_status).
    #[must_use]
    pub fn with_rate_limit_status(mut self, status: u16) -> Self {
        self.rate_limit_status = status;
        self
    }
    /// Sets [`daily_units_per_user`](Self::daily_units_per_user) and
    /// [`daily_units_per_project`](Self::daily_units_per_project).
    ///
    /// ```
    /// use mailmigrate_gmail::emulator::Quota;
    /// let q = Quota::default().with_daily_units(Some(500), None);
    /// assert_eq!(q.daily_units_per_user, Some(500));
    /// ```
    #[must_use]
    pub fn with_daily_units(mut self, per_user: Option<u64>, per_project: Option<u64>) -> Self {
        self.daily_units_per_user = per_user;
        self.daily_units_per_project = per_project;
        self
    }
    /// Sets [`send_retry_after`](Self::send_retry_after).
    #[must_use]
    pub fn with_retry_after(mut self, on: bool) -> Self {
        self.send_retry_after = on;
        self
    }
}

/// Everything the builder collected; read by the handlers.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    /// (user email, refresh token).
    pub(crate) users: Vec<(String, String)>,
    pub(crate) token_lifetime: Duration,
    pub(crate) quota: Quota,
    pub(crate) history_max_age: Duration,
    pub(crate) max_upload: u64,
    pub(crate) reserved_names: Vec<String>,
    pub(crate) label_cap: usize,
    pub(crate) spam_marker: Option<String>,
    pub(crate) latency: Duration,
    pub(crate) service_account: super::service_account::ServiceAccountConfig,
    pub(crate) upload_session_lifetime: Duration,
    pub(crate) directory: super::directory::DirectoryConfig,
}

/// Configures and starts an emulated Google Workspace domain. Every setter has a
/// faithful default. Created by [`Emulator::builder`](super::Emulator::builder).
#[derive(Debug, Clone)]
#[must_use]
pub struct EmulatorBuilder {
    pub(crate) cfg: Config,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            cfg: Config {
                client_id: "mailmigrate-emulator.apps.googleusercontent.com".into(),
                client_secret: "emulator-secret".into(),
                users: Vec::new(),
                token_lifetime: Duration::from_secs(3599),
                quota: Quota::default(),
                history_max_age: Duration::from_secs(7 * 24 * 3600),
                max_upload: 52_428_800,
                reserved_names: vec!["Muted".into()],
                label_cap: 10_000,
                spam_marker: Some("X-Spam-Flag: YES".into()),
                latency: Duration::ZERO,
                service_account: Default::default(),
                upload_session_lifetime: Duration::from_secs(7 * 24 * 3600),
                directory: Default::default(),
            },
        }
    }
}

impl EmulatorBuilder {
    /// The one OAuth client the token endpoint accepts.
    pub fn client(mut self, id: &str, secret: &str) -> Self {
        self.cfg.client_id = id.to_owned();
        self.cfg.client_secret = secret.to_owned();
        self
    }
    /// Adds a user with an empty mailbox and its system labels \[GM-LBL\]; its refresh
    /// token is `refresh-<email>` (see [`EmulatorHandle::refresh_token`]).
    pub fn user(mut self, email: &str) -> Self {
        let token = format!("refresh-{}", email.to_ascii_lowercase());
        self.cfg.users.push((email.to_ascii_lowercase(), token));
        self.cfg.directory.known.insert(email.to_ascii_lowercase());
        self
    }
    /// Adds a user (as [`user`](Self::user)) with the name, aliases and state the
    /// Directory API lists for it \[AD-USER\].
    ///
    /// ```
    /// use mailmigrate_gmail::emulator::{Emulator, WorkspaceUser};
    /// let b = Emulator::builder()
    ///     .workspace_user(WorkspaceUser::new("ada@example.com").with_alias("a@example.com"))
    ///     .admin("root@example.com");
    /// # let _ = b;
    /// ```
    pub fn workspace_user(mut self, user: super::WorkspaceUser) -> Self {
        let email = user.email.clone();
        self.cfg.directory.profiles.push(user);
        self.user(&email)
    }
    /// Adds a user (as [`user`](Self::user)) who is a super admin: the only kind of caller
    /// (or service-account subject) the Directory API answers \[AD-403\].
    pub fn admin(mut self, email: &str) -> Self {
        self.cfg.directory.admins.insert(email.to_ascii_lowercase());
        self.user(email)
    }
    /// Adds a group with its members \[AD-GROUP\].
    pub fn workspace_group(mut self, group: super::WorkspaceGroup) -> Self {
        self.cfg.directory.groups.push(group);
        self
    }
    /// The most items one Directory API page holds, below `maxResults` (default none:
    /// `maxResults` decides; Google may return fewer than asked, \[AD-USERS\]), so tests
    /// page through a small domain.
    pub fn directory_page_size(mut self, n: usize) -> Self {
        self.cfg.directory.page_size = Some(n.max(1));
        self
    }
    /// The lifetime of access tokens, announced as `expires_in` (default 3599 s).
    pub fn token_lifetime(mut self, d: Duration) -> Self {
        self.cfg.token_lifetime = d;
        self
    }
    /// Quota units and concurrency per user \[GM-QUOTA\].
    pub fn quota(mut self, q: Quota) -> Self {
        self.cfg.quota = q;
        self
    }
    /// How long history records are kept: a `startHistoryId` older than the oldest kept
    /// record answers 404 (default a week: "usually at least a week, sometimes only
    /// hours", \[GM-HIST\]).
    pub fn history_max_age(mut self, d: Duration) -> Self {
        self.cfg.history_max_age = d;
        self
    }
    /// The largest accepted upload (default 52,428,800 bytes, the discovery document's
    /// `maxSize`; \[GM-IMPORT\] says 150 MB — conflict).
    pub fn max_upload(mut self, bytes: u64) -> Self {
        self.cfg.max_upload = bytes;
        self
    }
    /// Label names refused besides the system labels' (default `Muted`, observed
    /// \[I-GLBL\]).
    pub fn reserved_label_names<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        names: I,
    ) -> Self {
        self.cfg.reserved_names = names.into_iter().map(Into::into).collect();
        self
    }
    /// The most user labels a mailbox holds (default 10,000, \[GM-LBL\]).
    pub fn label_cap(mut self, n: usize) -> Self {
        self.cfg.label_cap = n;
        self
    }
    /// Imports classify like SMTP delivery \[GM-IMPORT\]: a message containing this text
    /// lands in Spam unless `neverMarkSpam=true` (default `X-Spam-Flag: YES`; `None`
    /// classifies nothing as spam).
    pub fn spam_marker(mut self, marker: Option<&str>) -> Self {
        self.cfg.spam_marker = marker.map(str::to_owned);
        self
    }
    /// How long each API call takes while it holds one of the user's concurrency slots
    /// (default zero). Real calls take tens to hundreds of milliseconds, which is what
    /// makes the per-user concurrency cap bite; set it to test concurrency.
    pub fn latency(mut self, d: Duration) -> Self {
        self.cfg.latency = d;
        self
    }
    /// The scopes the domain's admin authorised for the service account's domain-wide
    /// delegation (default the Gmail scopes the emulator serves, \[10.3\]); an assertion
    /// asking for another is refused with `unauthorized_client` \[I-GSA\].
    pub fn service_account_scopes<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        scopes: I,
    ) -> Self {
        self.cfg.service_account.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
    /// How long a resumable upload session lives (default a week, \[GM-UPL\]); after
    /// that its URI answers 404.
    pub fn upload_session_lifetime(mut self, d: Duration) -> Self {
        self.cfg.upload_session_lifetime = d;
        self
    }
    /// Binds `127.0.0.1:0` and serves until the last [`EmulatorHandle`] is dropped or
    /// [`EmulatorHandle::shutdown`] is called.
    ///
    /// # Errors
    /// The bind error, if the loopback port cannot be bound.
    pub async fn start(self) -> std::io::Result<EmulatorHandle> {
        super::server::start(self.cfg).await
    }
}

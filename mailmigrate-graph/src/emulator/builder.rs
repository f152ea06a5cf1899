//! [`EmulatorBuilder`] and [`Limits`]: what the emulated tenant looks like and which
//! undocumented or conflicting behaviours it shows.

use std::time::Duration;

use super::directory::seed::{TenantContact, TenantGroup, TenantUser};
use super::handle::EmulatorHandle;

/// Outlook service limits per (app, mailbox) pair \[G-THR\], scaled down for tests as needed.
///
/// Build with [`Limits::default`] and the `with_*` setters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Requests in flight per mailbox before `429 ApplicationThrottled` (4) \[G-THR\]\[I-CONC\].
    pub concurrent_per_mailbox: usize,
    /// Requests per sliding window before `429 TooManyRequests` (10,000) \[G-THR\].
    pub requests_per_window: u32,
    /// The request window (10 minutes) \[G-THR\].
    pub window: Duration,
    /// Upload bytes (POST/PATCH/PUT bodies) per upload window (150 MB) \[G-THR\] (conflict:
    /// older revisions said 15 MB per 30 s).
    pub upload_bytes_per_window: u64,
    /// The upload window (5 minutes) \[G-THR\].
    pub upload_window: Duration,
    /// Largest accepted request body (4 MiB) \[I-4MB\].
    pub max_request_bytes: usize,
    /// What `Retry-After` announces on 429s; fractional values are sent as such ("2.128")
    /// \[G-THG\].
    pub retry_after: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            concurrent_per_mailbox: 4,
            requests_per_window: 10_000,
            window: Duration::from_secs(600),
            upload_bytes_per_window: 150 * 1024 * 1024,
            upload_window: Duration::from_secs(300),
            max_request_bytes: 4 * 1024 * 1024,
            retry_after: Duration::from_secs(1),
        }
    }
}

impl Limits {
    /// Sets [`Limits::concurrent_per_mailbox`].
    #[must_use]
    pub fn with_concurrent_per_mailbox(mut self, n: usize) -> Self {
        self.concurrent_per_mailbox = n;
        self
    }
    /// Sets [`Limits::requests_per_window`] and [`Limits::window`].
    #[must_use]
    pub fn with_requests_per_window(mut self, n: u32, window: Duration) -> Self {
        self.requests_per_window = n;
        self.window = window;
        self
    }
    /// Sets [`Limits::upload_bytes_per_window`] and [`Limits::upload_window`].
    #[must_use]
    pub fn with_upload_bytes_per_window(mut self, bytes: u64, window: Duration) -> Self {
        self.upload_bytes_per_window = bytes;
        self.upload_window = window;
        self
    }
    /// Sets [`Limits::max_request_bytes`].
    #[must_use]
    pub fn with_max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }
    /// Sets [`Limits::retry_after`].
    #[must_use]
    pub fn with_retry_after(mut self, d: Duration) -> Self {
        self.retry_after = d;
        self
    }
}

/// Which code an unknown user gets: Graph answers either for the same user \[I-MBXREST\].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnknownMailbox {
    /// `404 MailboxNotEnabledForRESTAPI` (default).
    #[default]
    MailboxNotEnabled,
    /// `404 ResourceNotFound`.
    ResourceNotFound,
}

/// Everything the builder collected; read by the handlers.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) tenant: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) mailboxes: Vec<String>,
    pub(crate) import_mime: bool,
    pub(crate) token_lifetime: Duration,
    pub(crate) device_code_lifetime: Duration,
    pub(crate) device_code_interval: Duration,
    pub(crate) limits: Limits,
    pub(crate) regenerate_mime: bool,
    pub(crate) folder_exists_status: u16,
    pub(crate) request_too_large_status: u16,
    pub(crate) unknown_mailbox: UnknownMailbox,
    pub(crate) latency: Duration,
    pub(crate) page_size: usize,
    pub(crate) delta_page_size: usize,
    pub(crate) delta_empty_pages: bool,
    pub(crate) delta_replay: bool,
    pub(crate) delta_token_max_age: Option<Duration>,
    pub(crate) import_mime_read: bool,
    pub(crate) import_mime_received_from_headers: bool,
    pub(crate) upload_session_min_size: u64,
    pub(crate) upload_session_lifetime: Duration,
    pub(crate) batch_reorder: bool,
    pub(crate) users: Vec<TenantUser>,
    pub(crate) groups: Vec<TenantGroup>,
    pub(crate) contacts: Vec<TenantContact>,
    pub(crate) denied_permissions: Vec<String>,
    pub(crate) directory_page_cap: usize,
    /// `None`: the mailbox import/export API is offered; else the status it is refused with.
    pub(crate) import_export_refusal: Option<u16>,
    pub(crate) import_session_lifetime: Duration,
}

/// Configures and starts an emulated tenant. Every setter has a faithful default.
///
/// Created by [`Emulator::builder`](super::Emulator::builder).
#[derive(Debug, Clone)]
#[must_use]
pub struct EmulatorBuilder {
    pub(crate) cfg: Config,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            cfg: Config {
                tenant: "emulated-tenant".into(),
                client_id: "mailmigrate-emulator".into(),
                client_secret: "emulator-secret".into(),
                mailboxes: Vec::new(),
                import_mime: false,
                token_lifetime: Duration::from_secs(3599),
                device_code_lifetime: Duration::from_secs(900),
                device_code_interval: Duration::from_secs(5),
                limits: Limits::default(),
                regenerate_mime: false,
                folder_exists_status: 409,
                request_too_large_status: 413,
                unknown_mailbox: UnknownMailbox::default(),
                latency: Duration::ZERO,
                page_size: 10,
                delta_page_size: 10,
                delta_empty_pages: true,
                delta_replay: false,
                delta_token_max_age: None,
                import_mime_read: false,
                import_mime_received_from_headers: true,
                upload_session_min_size: 3 * 1024 * 1024,
                upload_session_lifetime: Duration::from_secs(15 * 60),
                batch_reorder: true,
                users: Vec::new(),
                groups: Vec::new(),
                contacts: Vec::new(),
                denied_permissions: Vec::new(),
                directory_page_cap: 999,
                import_export_refusal: None,
                import_session_lifetime: super::exchange::IMPORT_SESSION_LIFETIME,
            },
        }
    }
}

impl EmulatorBuilder {
    /// The tenant id in the token URL (default `emulated-tenant`) \[AAD-CC\].
    pub fn tenant(mut self, id: &str) -> Self {
        self.cfg.tenant = id.to_owned();
        self
    }
    /// The one app's credentials the token endpoint accepts (default
    /// `mailmigrate-emulator` / `emulator-secret`) \[AAD-CC\].
    pub fn app(mut self, client_id: &str, client_secret: &str) -> Self {
        self.cfg.client_id = client_id.to_owned();
        self.cfg.client_secret = client_secret.to_owned();
        self
    }
    /// Adds a mailbox with the default folders (Inbox, Drafts, Sent Items, Deleted Items,
    /// Junk Email, Outbox, Archive, Conversation History) and their well-known names \[G-FOLD\].
    pub fn mailbox(mut self, upn: &str) -> Self {
        self.cfg.mailboxes.push(upn.to_owned());
        self
    }
    /// Offers the beta `importMime` action (default off: the segment is unknown, as on a
    /// tenant without it) \[G-IMIME\].
    pub fn import_mime(mut self, offered: bool) -> Self {
        self.cfg.import_mime = offered;
        self
    }
    /// Access-token lifetime, announced as `expires_in` (default 3599 s) \[AAD-CC\].
    pub fn token_lifetime(mut self, d: Duration) -> Self {
        self.cfg.token_lifetime = d;
        self
    }
    /// How long a device code is valid, announced as `expires_in` (default 900 s)
    /// \[AAD-DC\].
    pub fn device_code_lifetime(mut self, d: Duration) -> Self {
        self.cfg.device_code_lifetime = d;
        self
    }
    /// The polling interval a device code announces, in whole seconds, at least 1
    /// (default 5 s) \[AAD-DC\].
    pub fn device_code_interval(mut self, d: Duration) -> Self {
        self.cfg.device_code_interval = Duration::from_secs(d.as_secs().max(1));
        self
    }
    /// Throttling and size limits \[G-THR\]\[I-4MB\].
    pub fn limits(mut self, l: Limits) -> Self {
        self.cfg.limits = l;
        self
    }
    /// Re-renders the header block of stored MIME on `$value` (unfolded, an added
    /// `X-MS-Exchange-Organization-*` header), because Outlook does not store MIME and
    /// generates it on the fly \[G-GMIME\]. Default off (stored bytes are returned).
    pub fn regenerate_mime(mut self, on: bool) -> Self {
        self.cfg.regenerate_mime = on;
        self
    }
    /// Status for `ErrorFolderExists`: 400 or 409 are both seen (observed) (default 409).
    pub fn folder_exists_status(mut self, status: u16) -> Self {
        self.cfg.folder_exists_status = status;
        self
    }
    /// Status for a body over the request cap: 400 or 413 varies by endpoint \[I-4MB\]
    /// (conflict, section 17) (default 413).
    pub fn request_too_large_status(mut self, status: u16) -> Self {
        self.cfg.request_too_large_status = status;
        self
    }
    /// Which 404 code an unknown user gets \[I-MBXREST\].
    pub fn unknown_mailbox(mut self, code: UnknownMailbox) -> Self {
        self.cfg.unknown_mailbox = code;
        self
    }
    /// Minimum time each Graph request takes while it holds its concurrency slot (default
    /// zero). Real requests take tens to hundreds of milliseconds, which is what makes
    /// the 4-concurrent limit bite; set this to test concurrency.
    pub fn latency(mut self, d: Duration) -> Self {
        self.cfg.latency = d;
        self
    }
    /// Default page size of message and folder lists (10) \[I-FOLD10\]\[1.3\].
    pub fn page_size(mut self, n: usize) -> Self {
        self.cfg.page_size = n.max(1);
        self
    }
    /// Default delta page size without `Prefer: odata.maxpagesize` (10) \[G-MDELTA\].
    pub fn delta_page_size(mut self, n: usize) -> Self {
        self.cfg.delta_page_size = n.max(1);
        self
    }
    /// Starts every delta round with an empty page that carries a nextLink (default on),
    /// as Graph may \[G-DQM\].
    pub fn delta_empty_pages(mut self, on: bool) -> Self {
        self.cfg.delta_empty_pages = on;
        self
    }
    /// Repeats the last change of each delta round once (default off): clients must
    /// tolerate replays \[G-DQ\].
    pub fn delta_replay(mut self, on: bool) -> Self {
        self.cfg.delta_replay = on;
        self
    }
    /// Delta and skip tokens older than this answer `410 syncStateNotFound` (default never):
    /// the real lifetime is not fixed \[G-DQ\].
    pub fn delta_token_max_age(mut self, d: Option<Duration>) -> Self {
        self.cfg.delta_token_max_age = d;
        self
    }
    /// Read state of `importMime` items (default unread): not documented \[G-IMIME\] (section 17).
    pub fn import_mime_read(mut self, read: bool) -> Self {
        self.cfg.import_mime_read = read;
        self
    }
    /// Whether `importMime` takes receivedDateTime from the top `Received:` header (then
    /// `Date:`), or stamps now (default from headers): not documented \[G-IMIME\] (section 17).
    pub fn import_mime_received_from_headers(mut self, on: bool) -> Self {
        self.cfg.import_mime_received_from_headers = on;
        self
    }
    /// Smallest attachment accepted by `createUploadSession` (default 3 MiB; smaller ones
    /// are to be POSTed directly) \[G-ATT\].
    pub fn upload_session_min_size(mut self, bytes: u64) -> Self {
        self.cfg.upload_session_min_size = bytes;
        self
    }
    /// How long an upload session lives after its creation or its last chunk (default 15
    /// minutes). Graph announces it in `expirationDateTime` and documents no figure
    /// \[G-ATT\]; after it, the `uploadUrl` answers 404.
    pub fn upload_session_lifetime(mut self, d: Duration) -> Self {
        self.cfg.upload_session_lifetime = d;
        self
    }
    /// Returns `$batch` responses in another order than requested (default on) \[G-BAT\].
    pub fn batch_reorder(mut self, on: bool) -> Self {
        self.cfg.batch_reorder = on;
        self
    }
    /// Adds a directory user, with its mailbox when it has one (see [`TenantUser`]). A
    /// plain [`mailbox`](Self::mailbox) is listed as a member user with a person's
    /// mailbox.
    pub fn user(mut self, user: TenantUser) -> Self {
        self.cfg.users.push(user);
        self
    }
    /// Adds a group; its members are resolved when the emulator starts, after every
    /// user and contact (and the groups added before it).
    pub fn group(mut self, group: TenantGroup) -> Self {
        self.cfg.groups.push(group);
        self
    }
    /// Adds a mail contact (`orgContact`) groups can hold.
    pub fn contact(mut self, contact: TenantContact) -> Self {
        self.cfg.contacts.push(contact);
        self
    }
    /// Withholds an application permission (`User.Read.All`, `Group.Read.All`,
    /// `MailboxSettings.Read`): the calls needing it answer 403 as Graph does without
    /// admin consent (directory calls `Authorization_RequestDenied` \[I-DIR403\], mailbox
    /// calls `ErrorAccessDenied` \[G-ERR\]). Default: everything granted. Mail calls are
    /// not checked.
    pub fn without_permission(mut self, permission: &str) -> Self {
        self.cfg.denied_permissions.push(permission.to_owned());
        self
    }
    /// The most objects one directory page holds, whatever `$top` asks (default 999, the
    /// largest `$top`). Graph may answer with fewer objects than `$top` and a next link;
    /// clients follow `@odata.nextLink` until there is none \[G-PAGE\]. Lower it to page
    /// a small tenant.
    pub fn directory_page_cap(mut self, n: usize) -> Self {
        self.cfg.directory_page_cap = n.max(1);
        self
    }
    /// Whether the tenant offers the mailbox import/export API (default: yes, GA since
    /// May 2026 \[IE-GA\]). Off, `settings/exchange`, every `admin/exchange/mailboxes`
    /// call and the import URL answer 403 `ErrorAccessDenied`, as for an app without
    /// `MailboxItem.ImportExport.All` \[G-EXP\]\[G-IMPS\]; see
    /// [`mailbox_import_export_refusal`](Self::mailbox_import_export_refusal).
    pub fn mailbox_import_export(mut self, offered: bool) -> Self {
        self.cfg.import_export_refusal = if offered { None } else { Some(403) };
        self
    }
    /// Turns the mailbox import/export API off with this status: 403 (`ErrorAccessDenied`),
    /// 404 (`ResourceNotFound`, an endpoint the cloud does not have) or 501
    /// (`NotImplemented`).
    pub fn mailbox_import_export_refusal(mut self, status: u16) -> Self {
        self.cfg.import_export_refusal = Some(status);
        self
    }
    /// How long an import session's URL stays valid (default one hour; the length is not
    /// documented, only that it expires at `expirationDateTime` \[G-IMP\]).
    pub fn import_session_lifetime(mut self, d: Duration) -> Self {
        self.cfg.import_session_lifetime = d;
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

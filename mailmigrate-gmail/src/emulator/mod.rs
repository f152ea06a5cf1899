//! An in-process Gmail API emulator, for this crate's tests and for users'.
//!
//! It serves Google's token endpoint (the refresh-token grant, a service account's JWT
//! bearer grant verified against an embedded test key, and the installed-app flow's
//! authorization code with PKCE behind a consent screen) and the Gmail methods a
//! migration calls, faithfully rather than conveniently: every request's path and query
//! are checked against the Gmail discovery document (unknown parameters and values
//! outside an enum are 400, as Google answers); system labels, reserved names, duplicate
//! names and the label cap; pages of at most 500 with opaque tokens; `format=raw` as
//! base64url; `import` through `uploadType=multipart`, `media` and `resumable` (sessions with
//! `308` and `Range`, status queries, expiry), and `raw` JSON under its 1 MB cap, with `internalDateSource`, `neverMarkSpam` and `processForCalendar`; label
//! changes; a history log whose ids go out of date; quota units per user per window and
//! a per-user concurrency cap answered with Google's error envelope; injectable faults.
//! Every behaviour cites its source key from `docs/gmail-sources.md` (e.g. `[GM-HIST]`);
//! values the sources mark (observed) or (conflict) are builder options.
//!
//! # Example
//! ```
//! use mailmigrate_gmail::emulator::Emulator;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let emu = Emulator::builder().user("ada@example.com").start().await.unwrap();
//! let id = emu.seed_message(
//!     "ada@example.com",
//!     b"Subject: hi\r\nMessage-ID: <1@example.com>\r\n\r\nbody\r\n",
//!     &["INBOX", "UNREAD"],
//!     1_700_000_000_000,
//! );
//! let stored = emu.messages("ada@example.com");
//! assert_eq!(stored[0].id, id);
//! assert!(emu.labels("ada@example.com").iter().any(|l| l.id == "CATEGORY_SOCIAL"));
//! emu.shutdown().await;
//! # });
//! ```
//!
//! # Endpoints
//! `POST /token`; `GET /o/oauth2/auth`; `GET /gmail/v1/users/{userId}/profile`; `GET|POST …/labels`,
//! `GET …/labels/{id}`; `GET …/messages`, `GET …/messages/{id}`,
//! `POST …/messages/{id}/modify`; `POST /upload/gmail/v1/users/{userId}/messages/import`
//! (`uploadType=multipart|media|resumable`, then `PUT` to the session URI) and
//! `POST …/messages/import` (`raw` JSON); `GET …/history`; `GET …/settings/delegates` and
//! `GET …/settings/sendAs` (from each [`WorkspaceUser`]'s delegates and send-as addresses). `userId` is `me` or the token's
//! user (another is 403 "Delegation denied"); a token without a scope the method accepts is
//! 403 `insufficientPermissions`.
//!
//! Google Calendar (`/calendar/v3/…`: the calendar list, calendars, events with sync
//! tokens, `import` with its 409 on a held iCalUID, `instances`, `If-Match`, and a count
//! of the mails `sendUpdates` would have sent, [`EmulatorHandle::notifications_sent`]) and
//! the People API (`/v1/…`: contact groups, connections with sync tokens,
//! `batchCreateContacts` ≤ 200, `updateContact` with etags, deletes) are served beside
//! Gmail, their requests checked against their own discovery documents.
//!
//! The batch endpoint (`POST /batch/gmail/v1`, ≤ 100 parts, each dispatched through the
//! routes above with its own status, \[GM-BATCH\]) and the Admin SDK Directory API
//! (`GET /admin/directory/v1/users`, `…/groups`, `…/groups/{groupKey}/members`, paged,
//! for admins only, \[AD-DISC\]) are served too. A daily budget
//! ([`Quota::daily_units_per_user`]) answers 403 `dailyLimitExceeded` until
//! [`EmulatorHandle::reset_daily_quota`].
//!
//! Not emulated yet: `insert`.

mod auth;
mod batch;
mod builder;
mod consent;
mod directory;
mod discovery;
mod errors;
mod faults;
mod handle;
mod history;
mod import;
mod labels;
mod messages;
mod pim;
mod quota;
mod resumable;
mod server;
mod service_account;
mod settings;
mod store;

pub use builder::{EmulatorBuilder, Quota};
pub use consent::Consent;
pub use directory::{WorkspaceGroup, WorkspaceUser};
pub use faults::{Fault, Faults};
pub use handle::{EmulatorHandle, Stats, StoredLabel, StoredMessage};
pub use pim::{StoredContact, StoredEvent};

/// The emulator's entry point: [`Emulator::builder`] configures a domain and starts it.
///
/// # Examples
/// ```
/// use mailmigrate_gmail::emulator::{Emulator, Quota};
/// use std::time::Duration;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let emu = Emulator::builder()
///     .user("ada@example.com")
///     .quota(Quota::default().with_units_per_window(250, Duration::from_secs(1)))
///     .history_max_age(Duration::from_secs(3600))
///     .start()
///     .await
///     .unwrap();
/// assert!(emu.token_url().ends_with("/token"));
/// emu.faults().fail_next(1, 503, "backendError");
/// emu.shutdown().await;
/// # });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Emulator;

impl Emulator {
    /// A builder with faithful defaults (no users yet).
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
}

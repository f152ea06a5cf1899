//! An in-process Microsoft Graph emulator (mail), for this crate's tests and for users'.
//!
//! It serves the client-credentials token endpoint and the Graph mail endpoints a
//! migration uses, faithfully rather than conveniently: pages of 10 with opaque links,
//! drafts unless `Integer 0x0E07` is sent at creation, write-once message flags, the 4 MB
//! request cap, per-mailbox throttling, case-sensitive ids, expiring delta tokens. Every
//! behaviour cites its source key from the table in `docs/graph-sources.md` (e.g.
//! `[G-CMSG]`); facts the doc marks (observed) or (conflict) are builder options.
//!
//! # Example
//! ```
//! use mailmigrate_graph::emulator::{Emulator, Seed};
//!
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! rt.block_on(async {
//!     let emu = Emulator::builder()
//!         .mailbox("ada@example.com")
//!         .start()
//!         .await
//!         .unwrap();
//!     let id = emu.seed_message(
//!         "ada@example.com",
//!         "Inbox/Projects",
//!         b"Subject: hi\r\nMessage-ID: <1@example.com>\r\n\r\nbody\r\n",
//!         Seed::default(),
//!     );
//!     let stored = emu.messages("ada@example.com");
//!     assert_eq!(stored[0].id, id);
//!     assert_eq!(stored[0].folder_path, "Inbox/Projects");
//!     assert!(emu.token_url().ends_with("/emulated-tenant/oauth2/v2.0/token"));
//!     emu.shutdown().await;
//! });
//! ```
//!
//! # Endpoints
//! `POST /{tenant}/oauth2/v2.0/token`; under `/v1.0` and `/beta`:
//! `/users/{id|upn}/mailFolders[/{id}[/childFolders|/messages[/delta]]]`,
//! `/users/{u}/messages[/{id}[/$value|/move|/attachments[/createUploadSession]]]`,
//! beta-only `…/mailFolders/{id}/importMime` (when offered),
//! `/users/{u}/contactFolders[/{id}[/childFolders|/contacts[/delta|/{id}]]]`,
//! `/users/{u}/contacts[/{id}]`, `/users/{u}/calendar`, `/users/{u}/calendars[/{id}[/events]]`,
//! `/users/{u}/events[/{id}[/instances]]`, `$batch`; upload-session
//! URLs under `/upload/` (`PUT` a chunk, `GET` the session's state, `DELETE`), which take
//! no `Authorization` header, only in-order `application/octet-stream` chunks under 4 MB
//! that add up to the announced size, and expire (\[G-ATT\]).
//!
//! The mailbox import/export API (\[G-EXP\]\[G-IMP\]\[G-IMPS\]\[G-MBXF\], offered unless
//! [`EmulatorBuilder::mailbox_import_export`] turns it off):
//! `GET /users/{u}/settings/exchange`, `GET /admin/exchange/mailboxes/{id}/folders[/{id}[/childFolders|/items]]`,
//! `POST …/exportItems` (at most 20 ids; the data is an emulator-private stream of the
//! whole stored message, so an import in another emulator restores it with its flags,
//! dates and draft state), `POST …/createImportSession`, and the pre-authenticated
//! `POST /api/gbeta/Mailboxes('{id}')/importItem?authtoken=…`, which takes no
//! `Authorization` header, checks the token and its expiry
//! ([`Faults::expire_import_sessions`]), and enforces the `create`/`update` rules.
//!
//! The directory, read-only and seeded with [`TenantUser`], [`TenantGroup`] and
//! [`TenantContact`]: `GET /users[/{id}]`, `/users/{id}/mailboxSettings/userPurpose`,
//! `GET /groups[/{id}[/members]]` with 100 objects a page (`$top` up to 999), opaque
//! `$skiptoken` links, `$select` honoured (unselected properties are absent), only the
//! `$filter` `mailEnabled eq true|false` on groups, and 403s for permissions withheld with
//! [`EmulatorBuilder::without_permission`] (\[G-USERS\]\[G-GROUPS\]\[G-MEMB\]\[G-MBXS\]).

mod attachments;
mod auth;
mod batch;
mod builder;
mod calendars;
mod contacts;
mod delta;
mod device;
mod directory;
mod errors;
mod exchange;
mod faults;
mod folders;
mod handle;
mod ids;
mod messages;
mod mime;
mod odata;
mod render;
mod server;
mod store;
mod throttle;

pub use builder::{EmulatorBuilder, Limits, UnknownMailbox};
pub use calendars::StoredEvent;
pub use contacts::StoredContact;
pub use directory::seed::{GroupType, MailboxPurpose, TenantContact, TenantGroup, TenantUser};
pub use faults::{Fault, Faults};
pub use handle::{EmulatorHandle, Seed, Stats, StoredAttachment, StoredFolder, StoredMessage};
pub use store::CreatedBy;

/// The emulator's entry point: [`Emulator::builder`] configures a tenant and starts it.
///
/// # Examples
/// ```
/// use mailmigrate_graph::emulator::{Emulator, Limits};
/// use std::time::Duration;
///
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let emu = Emulator::builder()
///         .mailbox("ada@example.com")
///         .import_mime(true)
///         .limits(Limits::default().with_retry_after(Duration::from_millis(2128)))
///         .start()
///         .await
///         .unwrap();
///     assert!(emu.graph_url().ends_with("/v1.0"));
///     let inbox = emu.folders("ada@example.com");
///     assert!(inbox.iter().any(|f| f.well_known_name.as_deref() == Some("inbox")));
///     emu.faults().throttle_next(1); // the next Graph request gets a 429
///     emu.shutdown().await;
/// });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Emulator;

impl Emulator {
    /// A builder with faithful defaults (one app, no mailboxes yet).
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
}

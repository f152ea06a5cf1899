//! Google Workspace (Gmail API) provider for mailmigrate.
//!
//! [`Gmail`] is one Gmail user's mailbox as a mail source and destination, built by
//! [`GmailBuilder`]. Gmail keeps labels, not folders: the mailbox lists each label as a
//! folder and declares `list_labels`, so the engine copies the `All Mail` folder once, each
//! message with its labels, instead of once per label (see [`Gmail`]). Messages are read
//! byte-exact (`format=raw`) and written with `messages.import` as delivered mail; every
//! request spends quota units from a per-user budget ([`GmailLimits`]) and rate limits are
//! waited out.
//!
//! The feature `emulator` adds an in-process Gmail API for tests ([`emulator`]); this
//! crate's tests run the core conformance suite against it.
//!
//! Tokens come from a refresh token, a service account with domain-wide delegation
//! ([`ServiceAccountKey`], any user of the domain), the installed-app sign-in of one user
//! ([`InstalledApp`]), or any core token provider. Large messages are imported by resumable
//! upload, resumed after an interrupted chunk.
//!
//! [`GooglePim`] is the same user's Google Calendar and Google Contacts (People API) as a
//! core PIM source and destination, built by [`GooglePimBuilder`].
//!
//! [`GoogleDirectory`] is the domain's users, aliases and groups through the Admin SDK
//! Directory API, as a core [`Directory`](mailmigrate_core::directory::Directory), built
//! by [`GmailBuilder::connect_directory`].

/// The URL scheme this provider answers to (`gmail://`).
pub const SCHEME: &str = "gmail";

/// The provider name errors carry.
const PROVIDER: &str = "gmail";

mod auth;
mod builder;
mod client;
mod directory;
mod error;
mod mail;
mod multipart;
mod pim;
mod quota;

pub use auth::{
    InstalledApp, ServiceAccount, ServiceAccountKey, SignedIn, GOOGLE_AUTH_URL,
    MAX_ASSERTION_LIFETIME,
};
pub use builder::{
    GmailBuilder, GMAIL_SCOPE, GMAIL_URL, MAX_MESSAGE_BYTES, RESUMABLE_CHUNK, RESUMABLE_THRESHOLD,
    TOKEN_URL,
};
pub use directory::{GoogleDirectory, ADMIN_URL, DIRECTORY_GROUP_SCOPE, DIRECTORY_USER_SCOPE};
pub use mail::{Gmail, LabelRename, ALL_MAIL};
pub use pim::{
    GooglePim, GooglePimBuilder, CALENDAR_SCOPE, CALENDAR_URL, CONTACTS_SCOPE, PEOPLE_URL,
};
pub use quota::GmailLimits;

#[cfg(feature = "emulator")]
pub mod emulator;

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
//! [`GooglePim`] is the same user's Google Calendar and Google Contacts (People API) as a
//! core PIM source and destination, built by [`GooglePimBuilder`].
//!
//! The Admin directory and service-account tokens are not built yet.

/// The URL scheme this provider answers to (`gmail://`).
pub const SCHEME: &str = "gmail";

/// The provider name errors carry.
const PROVIDER: &str = "gmail";

mod builder;
mod client;
mod error;
mod mail;
mod pim;
mod quota;

pub use builder::{GmailBuilder, GMAIL_SCOPE, GMAIL_URL, MAX_MESSAGE_BYTES, TOKEN_URL};
pub use mail::{Gmail, LabelRename, ALL_MAIL};
pub use pim::{
    GooglePim, GooglePimBuilder, CALENDAR_SCOPE, CALENDAR_URL, CONTACTS_SCOPE, PEOPLE_URL,
};
pub use quota::GmailLimits;

#[cfg(feature = "emulator")]
pub mod emulator;

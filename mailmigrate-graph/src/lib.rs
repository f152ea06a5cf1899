//! Microsoft 365 (Microsoft Graph) provider for mailmigrate.
//!
//! [`Graph`] is one Exchange Online mailbox as a mail source and destination, built by
//! [`GraphBuilder`]: folders with their well-known roles, per-folder delta listings, the
//! MIME of each message, and messages created as received mail (not drafts) with their
//! dates, read state, flag and categories. Every request carries a token from the core
//! [`TokenProvider`](mailmigrate_core::auth::TokenProvider) and keeps within the
//! per-mailbox [`MailboxLimits`]; throttled requests wait as Graph asks.
//!
//! The feature `emulator` adds an in-process Graph for tests ([`emulator`]); this crate's
//! tests run the core conformance suite against it.
//!
//! The same [`Graph`] is a contact and calendar store for the core PIM engine
//! ([`PimSource`](mailmigrate_core::pim::PimSource),
//! [`PimDestination`](mailmigrate_core::pim::PimDestination)): contact folders are
//! address books, calendars hold events and series (see [`Graph`]'s "Contacts" and
//! "Calendars").
//!
//! [`GraphDirectory`] is the tenant's inventory, a core
//! [`Directory`](mailmigrate_core::directory::Directory): mailboxes with their kinds and
//! aliases, and mail-enabled groups with their members.
//!
//! [`GraphTenantCopy`] copies one Exchange Online mailbox into another (tenant to tenant)
//! through the mailbox import/export API, Exchange's opaque full-fidelity item streams,
//! where both tenants offer it, and as JSON otherwise; [`GraphTenantCopy::paths`] says
//! which path each folder's messages took.

/// The URL scheme this provider answers to (`graph://`).
pub const SCHEME: &str = "graph";

/// The provider name errors carry.
const PROVIDER: &str = "graph";

mod builder;
mod calendars;
mod client;
mod contacts;
mod delta;
mod directory;
mod error;
mod extended;
mod mail;
mod pim;
mod recurrence;
mod tenant;
mod timezones;

pub use builder::{GraphBuilder, AUTHORITY_URL, DELEGATED_SCOPES, GRAPH_SCOPE, GRAPH_URL};
pub use client::MailboxLimits;
pub use directory::GraphDirectory;
pub use mail::Graph;
pub use tenant::{CopyPath, FolderCopyPath, GraphTenantCopy};

#[cfg(feature = "emulator")]
pub mod emulator;

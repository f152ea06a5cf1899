//! CalDAV (RFC 4791) and CardDAV (RFC 6352) for mailmigrate: the calendars and address
//! books of any DAV server (Radicale, Xandikos, Nextcloud, Baïkal, Cyrus, SOGo, iCloud,
//! Fastmail…) as a [`PimSource`](mailmigrate_core::pim::PimSource) and
//! [`PimDestination`](mailmigrate_core::pim::PimDestination).
//!
//! ```no_run
//! # async fn run() -> mailmigrate_core::Result<()> {
//! use mailmigrate_core::pim::{PimKind, PimProvider};
//! use mailmigrate_dav::DavBuilder;
//!
//! let store = DavBuilder::new("https://dav.example.com/")
//!     .with_basic("ann", "secret")
//!     .connect()
//!     .await?;
//! for book in store.list_collections(PimKind::Contacts).await? {
//!     println!("{} ({})", book.name, book.id);
//! }
//! # Ok(()) }
//! ```
//!
//! Migrations run it through the core engine,
//! [`PimSync`](mailmigrate_core::pim::sync::PimSync), which keeps the ledger; this crate
//! only speaks the protocol. See [`DavStore`] for what it does at the server, and
//! `docs/decisions/0010-dav-client.md` for why the client is written here on `reqwest`.

mod builder;
mod http;
mod items;
mod listing;
mod multistatus;
mod names;
mod spool;
mod store;
mod xml;

pub use builder::DavBuilder;
pub use http::DavAuth;
pub use store::{DavStore, SCHEME};

//! Microsoft 365 (Microsoft Graph) provider for mailmigrate.
//!
//! This crate is under construction. Its HTTP client (authorisation through the core
//! [`TokenProvider`](mailmigrate_core::auth::TokenProvider), immutable ids, the per-mailbox
//! limits of [`MailboxLimits`], throttling and paging) and its error mapping are in place
//! and unit-tested; the mail source and destination built on them, and the emulator they
//! are tested against (feature `emulator`), come next. Nothing here pretends to migrate
//! yet.

/// The URL scheme this provider answers to (`graph://`).
pub const SCHEME: &str = "graph";

/// The provider name errors carry.
const PROVIDER: &str = "graph";

// The client has no caller until the mail source and destination land.
#[allow(dead_code)]
mod client;
#[allow(dead_code)]
mod error;

pub use client::MailboxLimits;

#[cfg(feature = "emulator")]
pub mod emulator;

//! Microsoft 365 (Microsoft Graph) provider for mailmigrate.
//!
//! This crate is under construction. With the `emulator` feature it ships an in-process
//! server that behaves like Microsoft Graph for everything the backend calls, so the
//! backend (and users' own tests) run against documented behaviour without a tenant.

/// The URL scheme this provider answers to (`graph://`).
pub const SCHEME: &str = "graph";

#[cfg(feature = "emulator")]
pub mod emulator;

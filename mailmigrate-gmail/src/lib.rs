//! Google Workspace (Gmail, Calendar, People APIs) provider for mailmigrate.
//!
//! This crate is under construction: it exports only its URL scheme so the example CLI can
//! say clearly that the backend is not available yet. Nothing here pretends to work.

/// The URL scheme this provider answers to (`gmail://`).
pub const SCHEME: &str = "gmail";

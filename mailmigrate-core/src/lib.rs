//! # mailmigrate-core
//!
//! Move whole mailboxes between providers without losing or duplicating a single item.
//!
//! This crate holds what every provider shares: the item model ([`RawMessage`],
//! [`FolderPath`], [`Flag`]…), the [`Source`] and [`Destination`] traits, one [`Error`]
//! type, [`Capabilities`], the durable [`state`] ledger, the local [`store`]s, and the
//! sync [`engine`]. A campaign's list of mailboxes comes from a [`directory`]: a
//! provider's directory API or an inventory file, and a [`campaign`] moves many
//! mailboxes by a plan, in batches, with a status for each that survives restarts.
//!
//! ## A migration in a few lines
//! Build a source and a destination (any provider crate, or the local stores here), a
//! state store, and run the [`engine::Engine`]. Running it again moves only what changed.
//! See the [`engine`] module for a complete, tested example.
//!
//! ## How data flows
//! 1. The engine lists folders on both sides and builds an [`engine::FolderPlan`]
//!    (special-use roles first, then the caller's include/exclude/rename rules). A dry run
//!    stops here and reports what would move.
//! 2. Per folder it asks the source for changes since the stored [`Checkpoint`], consults
//!    the ledger, and fetches only bodies it has not written before, in bounded batches.
//! 3. Each batch is recorded as pending, appended, then recorded as done with the
//!    destination's ids. A run killed between the two is settled on resume by
//!    [`Destination::find_existing`], never by writing again blindly.
//! 4. Progress flows out as [`engine::Event`]s; the result is an [`engine::SyncReport`].
//!
//! ## Writing a provider
//! Implement [`Source`] and/or [`Destination`], declare [`Capabilities`] honestly, map
//! your errors into [`Error`] in one function, and run the conformance suite from the
//! `testkit` feature against your server or emulator.
//!
//! ## Errors
//! Every fallible call returns [`Error`]: an [`ErrorKind`] (what happened), a
//! [`RetryStatus`] (whether repeating is safe), the provider and [`Operation`], and context
//! naming the folder and item — never message content or credentials.
#![doc(test(attr(deny(warnings))))]

pub mod auth;
pub mod campaign;
mod capabilities;
pub mod directory;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod engine;
mod error;
pub mod headers;
mod id_hashes;
pub mod layer;
mod model;
pub mod pim;
mod provider;
pub mod registry;
pub mod state;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod utf7;
pub mod verify;

pub use capabilities::{Capabilities, ProviderInfo};
pub use error::{Disposition, Error, ErrorKind, Operation, Result, RetryStatus};
pub use model::*;
pub use provider::{Destination, Provider, Source, Store};

//! # mailmigrate-core
//!
//! Move whole mailboxes between providers without losing or duplicating a single item.
//!
//! This crate holds what every provider shares: the item model ([`RawMessage`],
//! [`FolderPath`], [`Flag`]…), the [`Source`] and [`Destination`] traits, one [`Error`]
//! type, [`Capabilities`], the durable [`state`] ledger, the local [`store`]s, and the
//! sync [`engine`].
#![doc(test(attr(deny(warnings))))]

mod capabilities;
mod error;
pub mod headers;
mod model;
pub mod pim;
mod provider;
pub mod state;
pub mod store;
pub mod verify;

pub use capabilities::{Capabilities, ProviderInfo};
pub use error::{Error, ErrorKind, Operation, Result, RetryStatus};
pub use model::*;
pub use provider::{Destination, Source, Store};

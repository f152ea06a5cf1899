#![doc = include_str!("../README.md")]
#![doc(test(attr(deny(warnings))))]

mod acl;
mod backend;
mod builder;
mod client;
mod config;
mod destination;
mod error;
mod lookup;
mod model;
mod probe;
mod smtp;
mod source;

pub use acl::AclEntry;
pub use backend::Imap;
pub use builder::{ImapBuilder, DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT};
pub use config::{AuthMechanism, ImapConfigKey, Tls};
/// The token provider XOAUTH2 and OAUTHBEARER use, from [`mailmigrate_core::auth`].
pub use mailmigrate_core::auth::TokenProvider;
pub use probe::Fidelity;
pub use smtp::{SmtpProtocol, SmtpSubmission};

/// The URL scheme this provider answers to (`imap://`, `imaps://`).
pub const SCHEME: &str = "imap";

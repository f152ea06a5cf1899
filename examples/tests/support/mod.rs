//! Helpers of `kill_resume_imap.rs`: the corpus and the independent check (a Python
//! imaplib script), the `migrate` job and its runs, a fault-injecting TCP proxy and a
//! seeded random number generator.

pub(crate) mod corpus;
pub(crate) mod job;
pub(crate) mod proxy;
pub(crate) mod rng;
pub(crate) mod server;

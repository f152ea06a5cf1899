//! Helpers of `kill_resume_imap.rs`: the corpus and the independent check (a Python
//! imaplib script), the `migrate` job and its runs, and a seeded random number generator
//! (the fault-injecting TCP proxy is the testkit's).

pub(crate) mod corpus;
pub(crate) mod job;
pub(crate) mod rng;
pub(crate) mod server;

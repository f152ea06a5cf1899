//! Building blocks of the mailmigrate example programs.
//!
//! - [`demo`] generates the bundled demo mailbox (deterministic, seeded), reused by the
//!   benchmarks.
//! - [`pim_demo`] generates the demo's address book and calendar and migrates them.
//! - [`campaign`] runs the campaign steps over one campaign file; [`logging`] installs the
//!   log subscriber (a redacted log file per run).
//! - [`config`] reads a migration job from a TOML file.
//! - [`stores`] opens stores and state from URLs and paths ([`graph_target`]: Microsoft
//!   365 mailboxes; [`gmail_target`]: Google Workspace users); [`pim_stores`] opens contact
//!   and calendar stores (`vdir://`, `dav://`, `graph://`, `gmail://`).
//! - [`progress`] turns engine events into a progress bar.
//! - [`run`] runs a pass (or the full verification) of a job or the demo.
//! - [`run_ledger`] remembers which ledger rows a pass wrote; [`pass_check`] checks those
//!   at the destination, with folder counts, at the end of every pass.
//! - [`full_verify`] compares every message of a job (`migrate verify`).
//! - [`verdict`] decides, in one place, what a pass's report means and the exit code (the
//!   report itself is the engine's `SyncReport`).
#![doc(test(attr(deny(warnings))))]

pub mod campaign;
pub mod config;
pub mod demo;
pub mod full_verify;
pub mod gmail_target;
pub mod graph_target;
pub mod logging;
pub mod pass_check;
pub mod pim_demo;
pub mod pim_stores;
pub mod progress;
pub mod run;
pub mod run_ledger;
pub mod stores;
pub mod verdict;

//! Building blocks of the mailmigrate example programs.
//!
//! - [`demo`] generates the bundled demo mailbox (deterministic, seeded), reused by the
//!   benchmarks.
//! - [`config`] reads a migration job from a TOML file.
//! - [`stores`] opens stores and state from URLs and paths, and verifies a finished job.
//! - [`progress`] turns engine events into a progress bar.
//! - [`run`] runs a job or the demo and decides the exit code.
#![doc(test(attr(deny(warnings))))]

pub mod config;
pub mod demo;
pub mod progress;
pub mod run;
pub mod stores;

//! The campaign steps of the `migrate` CLI over one campaign file
//! ([`CampaignFile`]): `inventory`, `plan`, `backup`, `run`, `delta`, `switch`, `status`,
//! `validate`, `dns`, `report`, `pause`, `resume`, `retry-failed` — each printing for people by default and
//! JSON with `--json` ([`StepOutput`]), with the exit codes of
//! [`verdict`](crate::verdict).
//!
//! The library does the work (`mailmigrate_core::campaign`); this module opens the stores
//! by URL ([`UrlStores`]), prints, and writes the inventory files.

mod backup;
mod checks;
mod demo;
mod dns;
mod factory;
mod file;
mod inventory;
mod open;
mod operate;
mod output;
mod report;
mod validate;

pub use backup::{backup, restore};
pub use checks::{probe_all, review, ProbeSettings};
pub use demo::{ensure_demo_campaign, DEMO_CAMPAIGN, DEMO_MAILBOXES, DEMO_MESSAGES_PER_MAILBOX};
pub use dns::{check as check_dns, dns, DnsSettings};
pub use factory::{fill_template, UrlStores};
pub use file::{CampaignFile, InventoryFile, StoreTemplates};
pub use inventory::inventory;
pub use open::Campaign;
pub use operate::{delta, pause, plan, retry_failed, run, status, status_text, switch};
pub use output::{bar, failure_code, settled, status_code, StepOutput};
pub use report::report;
pub use validate::{
    validate, validate_all, validate_mailbox, validation_output, MailboxValidation, Validation,
};

//! `migrate validate`: every mailbox compared in full, source against destination — every
//! message (bytes or parsed fingerprint, flags, dates) and every contact and event property
//! by property — with the campaign's ledger, so recorded refusals are named, not missing.

use std::fmt::Write as _;

use mailmigrate_core::campaign::probe::ProbeResult;
use mailmigrate_core::campaign::report::PermissionReview;
use mailmigrate_core::campaign::{CampaignRunner, MailboxPair};
use mailmigrate_core::engine::SyncOptions;
use mailmigrate_core::pim::verify::verify_pim;
use mailmigrate_core::pim::PimKind;
use mailmigrate_core::state::StateStore;
use mailmigrate_core::Result;
use serde::Serialize;
use serde_json::json;

use super::open::Campaign;
use super::output::StepOutput;
use crate::run;

/// One mailbox's validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MailboxValidation {
    /// The source address.
    pub mailbox: String,
    /// Folders compared.
    pub folders: u64,
    /// Messages compared at the source.
    pub messages: u64,
    /// Messages equal at the destination.
    pub matched: u64,
    /// Messages missing, extra or changed at the destination.
    pub differences: u64,
    /// Writes the ledger still holds pending (run again first).
    pub pending: u64,
    /// Messages the destination refused for good (named in the report).
    pub refused: usize,
    /// Contacts and events compared.
    pub pim_items: u64,
    /// Contacts and events missing, extra or different.
    pub pim_differences: u64,
    /// Why the mailbox could not be compared, if it could not.
    pub error: Option<String>,
}

impl MailboxValidation {
    /// Whether nothing differs and nothing is pending.
    pub fn passed(&self) -> bool {
        self.error.is_none()
            && self.differences == 0
            && self.pending == 0
            && self.pim_differences == 0
    }
}

/// Compares one mailbox in full.
///
/// # Errors
/// Opening, listing or state errors.
pub async fn validate_mailbox(
    campaign: &Campaign,
    pair: &MailboxPair,
) -> Result<MailboxValidation> {
    let (source, dest) = campaign.stores.open_mail(pair, false).await?;
    let job = CampaignRunner::job_of(campaign.plan.name(), &pair.key());
    let mut options = SyncOptions::new(job);
    options.mapping = campaign.plan.mapping_of(&pair.batch).clone();
    let state: std::sync::Arc<dyn StateStore> =
        std::sync::Arc::clone(&campaign.state) as std::sync::Arc<dyn StateStore>;
    let out = run::verify_job(source, dest, state, options).await?;
    let mut v = MailboxValidation {
        mailbox: pair.source.address.clone(),
        folders: out.verification.report.folders.len() as u64,
        messages: (out.verification.report.folders.iter())
            .map(|f| f.counts.source)
            .sum(),
        matched: (out.verification.report.folders.iter())
            .map(|f| f.counts.matched)
            .sum(),
        differences: out.verification.report.differences(),
        pending: out.verification.pending,
        refused: out.failures.iter().filter(|f| f.final_for_item).count(),
        ..MailboxValidation::default()
    };
    if let Some((from, to)) = campaign.stores.open_pim(pair).await? {
        let report = verify_pim(&*from, &*to, &[PimKind::Contacts, PimKind::Events], 100).await?;
        for c in &report.collections {
            v.pim_items += c.source_items;
            v.pim_differences +=
                (c.missing.len() + c.extra.len() + c.differences.len() + c.unreadable.len()) as u64;
        }
    }
    Ok(v)
}

/// Validates every mailbox of the campaign.
///
/// Exit code: 0 when every mailbox passed, 4 when one differs, 2 when one could not be
/// compared or has pending writes (run again).
///
/// # Errors
/// None of its own: a mailbox that cannot be compared is reported with its error.
pub async fn validate(campaign: &Campaign) -> Result<StepOutput> {
    let results = validate_all(campaign).await?;
    Ok(validation_output(campaign, &results))
}

/// Everything `validate` checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Validation {
    /// Each mailbox compared in full.
    pub mailboxes: Vec<MailboxValidation>,
    /// The send-and-receive probes, with a `[probe]` table.
    pub probes: Option<Vec<ProbeResult>>,
    /// The permissions review, with the destination's inventory.
    pub permissions: Option<PermissionReview>,
}

/// Compares every mailbox of the campaign, one after another (a mailbox that cannot be
/// compared carries its error), then runs the probes and the permissions review the
/// campaign file asks for.
///
/// # Errors
/// A bad `[probe]` table; the destination inventory's errors.
pub async fn validate_all(campaign: &Campaign) -> Result<Validation> {
    let mut results = Vec::new();
    for pair in campaign.plan.pairs() {
        let v = match validate_mailbox(campaign, pair).await {
            Ok(v) => v,
            Err(e) => MailboxValidation {
                mailbox: pair.source.address.clone(),
                error: Some(e.to_string()),
                ..MailboxValidation::default()
            },
        };
        results.push(v);
    }
    Ok(Validation {
        mailboxes: results,
        probes: super::checks::probe_all(campaign).await?,
        permissions: super::checks::review(campaign).await?,
    })
}

/// The validation's text, JSON and exit code: 4 when something differs (messages,
/// contacts, permissions), 5 when a probe did not arrive (mail does not reach the
/// destination: fix that first), 2 when a mailbox could not be compared.
pub fn validation_output(campaign: &Campaign, validation: &Validation) -> StepOutput {
    let results = &validation.mailboxes;
    let passed = results.iter().filter(|v| v.passed()).count();
    let mut text = format!(
        "Validation of campaign {:?}: {passed} of {} mailboxes equal at the destination\n\n",
        campaign.plan.name(),
        results.len()
    );
    let _ = writeln!(
        text,
        "  {:<32} {:>8} {:>11} {:>7} {:>9} {:>9}  result",
        "mailbox", "messages", "differences", "refused", "pim items", "pim diffs"
    );
    for v in results {
        let _ = writeln!(
            text,
            "  {:<32} {:>8} {:>11} {:>7} {:>9} {:>9}  {}",
            v.mailbox,
            v.messages,
            v.differences,
            v.refused,
            v.pim_items,
            v.pim_differences,
            match (&v.error, v.passed(), v.pending) {
                (Some(e), _, _) => format!("not compared: {e}"),
                (None, true, _) => "passed".to_owned(),
                (None, false, p) if p > 0 => format!("{p} writes pending: run again"),
                (None, false, _) => "DIFFERS".to_owned(),
            }
        );
    }
    let mut code = if results
        .iter()
        .any(|v| v.error.is_none() && (v.differences > 0 || v.pim_differences > 0))
    {
        4
    } else if results.iter().all(MailboxValidation::passed) {
        0
    } else {
        2
    };
    if let Some(probes) = &validation.probes {
        let arrived = probes.iter().filter(|p| p.is_ok()).count();
        let _ = writeln!(
            text,
            "\nSend-and-receive probes: {arrived} of {} arrived",
            probes.len()
        );
        for p in probes {
            match (&p.found_after, &p.error) {
                (Some(after), None) => {
                    let _ = writeln!(
                        text,
                        "  {}: arrived after {:.1} s",
                        p.mailbox,
                        after.as_secs_f64()
                    );
                }
                (_, Some(e)) => {
                    let _ = writeln!(text, "  {}: {e}", p.mailbox);
                }
                (None, None) => {}
            }
        }
        if arrived < probes.len() {
            code = code.max(5);
        }
    }
    if let Some(review) = &validation.permissions {
        let _ = writeln!(
            text,
            "\nPermissions: {} grants compared, {} differences",
            review.checked,
            review.differences.len()
        );
        for d in &review.differences {
            let _ = writeln!(text, "  {d:?}");
        }
        if !review.differences.is_empty() {
            code = code.max(4);
        }
    }
    StepOutput::new(
        text,
        json!({ "campaign": campaign.plan.name(), "validation": validation }),
        code,
    )
}

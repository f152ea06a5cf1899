//! `migrate report`: the campaign's self-contained HTML page and its JSON, written into the
//! report directory — plan, statuses, volumes, durations, throughput, every item not
//! migrated with its reason, and each mailbox's validation.

use mailmigrate_core::campaign::report::{CampaignReport, VerificationResult};
use mailmigrate_core::directory::{Inventory, MailboxStats};
use mailmigrate_core::Result;
use serde_json::json;

use super::open::Campaign;
use super::output::StepOutput;
use super::validate::{validate_all, MailboxValidation, Validation};

/// The verification section from the validation's results.
fn verification(results: &[MailboxValidation]) -> Vec<VerificationResult> {
    results
        .iter()
        .map(|v| {
            let mut details = Vec::new();
            if let Some(e) = &v.error {
                details.push(format!("not compared: {e}"));
            }
            if v.differences > 0 {
                details.push(format!("{} messages differ", v.differences));
            }
            if v.pim_differences > 0 {
                details.push(format!("{} contacts or events differ", v.pim_differences));
            }
            if v.pending > 0 {
                details.push(format!("{} writes pending", v.pending));
            }
            if v.refused > 0 {
                details.push(format!("{} messages refused by the destination", v.refused));
            }
            let differences = v.differences + v.pim_differences + u64::from(v.error.is_some());
            let mut r = VerificationResult::new(&v.mailbox, differences, details);
            r.folders = v.folders;
            r.matched = v.matched;
            r
        })
        .collect()
}

/// The inventory with each account's volume from the last `inventory` step's survey
/// (`inventory.json` in the report directory), where the directory itself counted none.
fn surveyed_inventory(campaign: &Campaign) -> Inventory {
    let mut inventory = campaign.inventory.clone();
    let path = campaign.file.report_dir().join("inventory.json");
    let Some(survey) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return inventory;
    };
    let sum = |items: &serde_json::Value, field: &str, kind: Option<&str>| -> u64 {
        items.as_array().map_or(0, |a| {
            a.iter()
                .filter(|c| kind.is_none_or(|k| c["kind"] == k))
                .filter_map(|c| c[field].as_u64())
                .sum()
        })
    };
    for m in survey["mailboxes"].as_array().into_iter().flatten() {
        let Some(address) = m["mailbox"].as_str() else {
            continue;
        };
        let Some(account) = inventory.accounts.iter_mut().find(|a| a.matches(address)) else {
            continue;
        };
        if account.stats.as_ref().is_some_and(|s| !s.is_empty()) {
            continue;
        }
        let folders = &m["folders"];
        account.stats = Some(
            MailboxStats::new()
                .with_folders(folders.as_array().map_or(0, |f| f.len() as u64))
                .with_messages(sum(folders, "messages", None))
                .with_bytes(sum(folders, "bytes", None))
                .with_contacts(sum(&m["collections"], "items", Some("contacts")))
                .with_events(sum(&m["collections"], "items", Some("events"))),
        );
    }
    inventory
}

/// Writes the report; with `validations` (the results of a validation just run, or
/// `None` to run it now unless `verify` is off) it holds each mailbox's comparison.
///
/// Exit code: 0, or the validation's when it found differences (4) or could not compare
/// (2).
///
/// # Errors
/// Errors of the state store or writing the files.
pub async fn report(
    campaign: &Campaign,
    validation: Option<Validation>,
    verify: bool,
) -> Result<StepOutput> {
    let runner = campaign.runner().await?;
    let validation = match validation {
        Some(v) => Some(v),
        None if verify => Some(validate_all(campaign).await?),
        None => None,
    };
    let inventory = surveyed_inventory(campaign);
    let mut report = CampaignReport::collect(&runner)
        .await?
        .with_inventory(&inventory);
    let mut code = 0;
    if let Some(v) = &validation {
        code = super::validate::validation_output(campaign, v).code;
        report = report.with_verification(verification(&v.mailboxes));
        if let Some(probes) = &v.probes {
            report = report.with_probes(probes.iter().map(|p| p.to_check()).collect());
        }
        if let Some(review) = &v.permissions {
            report = report.with_permissions(review.clone());
        }
    }
    if let Some(domains) = super::dns::check(campaign, time::OffsetDateTime::now_utc()).await? {
        report = report.with_dns(domains.into_iter().map(|(_, state)| state).collect());
    }
    let (html, json_path) = report.write_to(campaign.file.report_dir())?;
    let text = format!(
        "Report of campaign {:?}: {} mailboxes, {} items not migrated listed{}\n  {}\n  {}\n",
        campaign.plan.name(),
        report.mailboxes.len(),
        report.items.len(),
        if validation.is_some() {
            ", with each mailbox's validation"
        } else {
            ""
        },
        html.display(),
        json_path.display()
    );
    Ok(StepOutput::new(
        text,
        json!({ "html": html, "json": json_path, "mailboxes": report.mailboxes.len() }),
        code,
    ))
}

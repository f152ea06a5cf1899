//! `migrate report`: the campaign's self-contained HTML page and its JSON, written into the
//! report directory — plan, statuses, volumes, durations, throughput, every item not
//! migrated with its reason, and each mailbox's validation.

use mailmigrate_core::campaign::report::{CampaignReport, VerificationResult};
use mailmigrate_core::Result;
use serde_json::json;

use super::open::Campaign;
use super::output::StepOutput;
use super::validate::{validate_all, MailboxValidation};

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
            VerificationResult::new(&v.mailbox, differences, details)
        })
        .collect()
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
    validations: Option<Vec<MailboxValidation>>,
    verify: bool,
) -> Result<StepOutput> {
    let runner = campaign.runner().await?;
    let validations = match validations {
        Some(v) => Some(v),
        None if verify => Some(validate_all(campaign).await),
        None => None,
    };
    let mut report = CampaignReport::collect(&runner)
        .await?
        .with_inventory(&campaign.inventory);
    let mut code = 0;
    if let Some(v) = &validations {
        code = super::validate::validation_output(campaign, v).code;
        report = report.with_verification(verification(v));
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
        if validations.is_some() {
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

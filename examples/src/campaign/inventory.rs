//! `migrate inventory`: the accounts, each mailbox's volume and the preflight, printed and
//! written as JSON and CSV beside the report.

use std::fmt::Write as _;
use std::path::PathBuf;

use mailmigrate_core::campaign::{survey_campaign, CampaignSurvey, SurveyOptions};
use mailmigrate_core::pim::PimKind;
use mailmigrate_core::{Error, ErrorKind, Operation, Result};
use serde_json::json;

use super::open::Campaign;
use super::output::StepOutput;

/// Surveys every mailbox of the campaign (listings only, or every message's headers with
/// `read_headers`) and writes `inventory.json`, `inventory.csv` (one row a mailbox) and
/// `preflight.csv` (one row a finding) into the report directory.
///
/// Exit code: 0; 3 when the preflight found messages the destination would refuse; 2 when
/// a mailbox could not be surveyed (rerun once it is reachable).
///
/// # Errors
/// Errors writing the files.
pub async fn inventory(campaign: &Campaign, read_headers: bool) -> Result<StepOutput> {
    let options = SurveyOptions::default().with_read_headers(read_headers);
    let survey = survey_campaign(&campaign.plan, &*campaign.stores, &options).await;
    let dir = campaign.file.report_dir();
    let files = write_files(&survey, &dir)?;
    let totals = campaign.inventory.totals();
    let mut text = format!(
        "Inventory of campaign {:?}: {} accounts, {} groups in the directory; {} mailboxes planned\n",
        campaign.plan.name(),
        campaign.inventory.accounts.len(),
        campaign.inventory.groups.len(),
        campaign.plan.pairs().len()
    );
    let _ = writeln!(
        text,
        "\n{:<32} {:<10} {:>8} {:>10} {:>9} {:>7} {:>9}",
        "mailbox", "batch", "folders", "messages", "MiB", "contacts", "events"
    );
    for m in &survey.mailboxes {
        let _ = writeln!(
            text,
            "{:<32} {:<10} {:>8} {:>10} {:>9.1} {:>7} {:>9}",
            m.mailbox,
            m.batch,
            m.folders.len(),
            m.messages(),
            m.bytes() as f64 / 1_048_576.0,
            m.items(PimKind::Contacts),
            m.items(PimKind::Events)
        );
    }
    let _ = writeln!(text, "\nMessage sizes:");
    for b in survey.sizes().buckets().iter().filter(|b| b.messages > 0) {
        let _ = writeln!(text, "  {:<14} {:>8} messages", b.label, b.messages);
    }
    let findings: Vec<_> = survey
        .mailboxes
        .iter()
        .flat_map(|m| m.preflight.iter().map(move |p| (m, p)))
        .collect();
    let refusals = findings
        .iter()
        .filter(|(_, p)| p.finding.is_refusal())
        .count();
    let _ = writeln!(
        text,
        "\nPreflight: {refusals} messages will not travel (over the destination's size cap, \
         or unreadable at the source), {} carried with less (no Message-ID, Date or From){}",
        findings.len() - refusals,
        if read_headers {
            ""
        } else {
            "; headers not read (--headers reads them)"
        }
    );
    for (m, p) in findings.iter().take(20) {
        let _ = writeln!(
            text,
            "  {}: {}/{}: {:?}",
            m.mailbox, p.folder, p.id, p.finding
        );
    }
    if findings.len() > 20 {
        let _ = writeln!(text, "  … {} more in preflight.csv", findings.len() - 20);
    }
    for (mailbox, why) in &survey.failed {
        let _ = writeln!(text, "Not surveyed: {mailbox}: {why}");
    }
    let _ = writeln!(
        text,
        "\nWritten: {}",
        files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let code = if !survey.failed.is_empty() {
        2
    } else if refusals > 0 {
        3
    } else {
        0
    };
    let json = json!({
        "campaign": campaign.plan.name(),
        "directory": {
            "accounts": totals.accounts,
            "users": totals.users,
            "shared_mailboxes": totals.shared_mailboxes,
            "resources": totals.resources,
            "disabled": totals.disabled,
            "aliases": totals.aliases,
            "groups": campaign.inventory.groups.len(),
        },
        "survey": survey,
        "files": files,
    });
    Ok(StepOutput::new(text, json, code))
}

fn write_files(survey: &CampaignSurvey, dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    let io = |e: std::io::Error, path: &std::path::Path| {
        Error::new(ErrorKind::Unavailable, "cannot write the inventory")
            .with_operation(Operation::Build)
            .with_context("path", path.display())
            .with_source(e)
    };
    std::fs::create_dir_all(dir).map_err(|e| io(e, dir))?;
    let json_path = dir.join("inventory.json");
    let text = serde_json::to_string_pretty(survey).unwrap_or_default();
    std::fs::write(&json_path, text).map_err(|e| io(e, &json_path))?;

    let csv_err =
        |e: csv::Error, path: &std::path::Path| io(std::io::Error::other(e.to_string()), path);
    let rows_path = dir.join("inventory.csv");
    let mut w = csv::Writer::from_path(&rows_path).map_err(|e| csv_err(e, &rows_path))?;
    w.write_record([
        "mailbox",
        "destination",
        "batch",
        "folders",
        "messages",
        "bytes",
        "contacts",
        "events",
        "refusals",
        "findings",
    ])
    .map_err(|e| csv_err(e, &rows_path))?;
    for m in &survey.mailboxes {
        w.write_record([
            m.mailbox.clone(),
            m.destination.clone(),
            m.batch.clone(),
            m.folders.len().to_string(),
            m.messages().to_string(),
            m.bytes().to_string(),
            m.items(PimKind::Contacts).to_string(),
            m.items(PimKind::Events).to_string(),
            m.refusals().to_string(),
            m.preflight.len().to_string(),
        ])
        .map_err(|e| csv_err(e, &rows_path))?;
    }
    w.flush().map_err(|e| io(e, &rows_path))?;

    let pre_path = dir.join("preflight.csv");
    let mut w = csv::Writer::from_path(&pre_path).map_err(|e| csv_err(e, &pre_path))?;
    w.write_record(["mailbox", "folder", "id", "subject", "finding"])
        .map_err(|e| csv_err(e, &pre_path))?;
    for m in &survey.mailboxes {
        for p in &m.preflight {
            let finding = serde_json::to_value(&p.finding)
                .ok()
                .and_then(|v| v["kind"].as_str().map(str::to_owned))
                .unwrap_or_default();
            w.write_record([
                m.mailbox.as_str(),
                p.folder.as_str(),
                p.id.as_str(),
                p.subject.as_deref().unwrap_or(""),
                finding.as_str(),
            ])
            .map_err(|e| csv_err(e, &pre_path))?;
        }
    }
    w.flush().map_err(|e| io(e, &pre_path))?;
    Ok(vec![json_path, rows_path, pre_path])
}

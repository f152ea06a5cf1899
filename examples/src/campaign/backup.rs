//! `migrate backup` and `migrate restore`: the manifests of the backups the campaign made
//! (each mailbox's is kept in its status), checked against the backup store on request,
//! and a mailbox restored from its backup into any store.

use std::fmt::Write as _;
use std::sync::Arc;

use mailmigrate_core::campaign::{restore_job, verify_backup, Restore};
use mailmigrate_core::state::StateStore;
use mailmigrate_core::{Destination, Error, ErrorKind, Operation, Result, Source};
use serde_json::json;

use super::factory::fill_template;
use super::open::Campaign;
use super::output::StepOutput;
use crate::stores;

/// Writes each backed-up mailbox's manifest into `<report>/backups/` and, with `verify`,
/// reads every backup again and compares it with its manifest.
///
/// Exit code: 0; 2 while a mailbox has no backup yet (run first); 4 when a backup no
/// longer matches its manifest.
///
/// # Errors
/// Errors of the state store or writing the files.
pub async fn backup(campaign: &Campaign, verify: bool) -> Result<StepOutput> {
    let runner = campaign.runner().await?;
    let status = runner.status().await?;
    let dir = campaign.file.report_dir().join("backups");
    let mut text = String::new();
    let (mut missing, mut differing) = (0, 0);
    let mut rows = Vec::new();
    for m in &status.mailboxes {
        let Some(manifest) = &m.backup else {
            missing += 1;
            let _ = writeln!(
                text,
                "  {:<32} no backup yet ({})",
                m.mailbox,
                m.stage.as_str()
            );
            continue;
        };
        let path = manifest.write_manifest(&dir)?;
        let mut differences = Vec::new();
        if verify {
            let pair = campaign.plan.pair(&m.mailbox).ok_or_else(|| {
                Error::new(
                    ErrorKind::StateCorrupt,
                    "a status names a mailbox the plan lacks",
                )
                .with_context("mailbox", &m.mailbox)
            })?;
            let url = backup_url(campaign, pair)?;
            let store = stores::open_store(&url).await?;
            differences = verify_backup(manifest, &*store).await?;
        }
        differing += usize::from(!differences.is_empty());
        let _ = writeln!(
            text,
            "  {:<32} {:>7} messages {:>6} folders  {}{}",
            m.mailbox,
            manifest.messages,
            manifest.folders.len(),
            &manifest.digest[..16.min(manifest.digest.len())],
            match (verify, differences.len()) {
                (false, _) => String::new(),
                (true, 0) => "  matches the backup".to_owned(),
                (true, n) => format!("  {n} DIFFERENCES"),
            }
        );
        for d in differences.iter().take(10) {
            let _ = writeln!(text, "      {d}");
        }
        rows.push(json!({ "mailbox": m.mailbox, "manifest": path, "differences": differences.iter().map(ToString::to_string).collect::<Vec<_>>() }));
    }
    let head = format!(
        "Backups of campaign {:?}: {} of {} mailboxes backed up; manifests in {}\n",
        campaign.plan.name(),
        status.mailboxes.len() - missing,
        status.mailboxes.len(),
        dir.display()
    );
    let code = if differing > 0 {
        4
    } else if missing > 0 {
        2
    } else {
        0
    };
    Ok(StepOutput::new(
        head + &text,
        json!({ "backups": rows }),
        code,
    ))
}

fn backup_url(
    campaign: &Campaign,
    pair: &mailmigrate_core::campaign::MailboxPair,
) -> Result<String> {
    let plan = campaign.file.plan.backup.as_ref().ok_or_else(|| {
        Error::new(ErrorKind::ConfigInvalid, "the plan has no backup")
            .with_operation(Operation::Plan)
    })?;
    Ok(fill_template(&plan.url, pair))
}

/// Restores `mailbox` from its backup into the store at `into` (its source, after a
/// loss, or any other), under its own job: run it again and it writes nothing twice.
///
/// Exit code: 0 when everything was written; 2 when the pass did not complete.
///
/// # Errors
/// `NotFound` for a mailbox the plan lacks; opening the stores; state errors.
pub async fn restore(campaign: &Campaign, mailbox: &str, into: &str) -> Result<StepOutput> {
    let pair = campaign.plan.pair(mailbox).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("the plan has no mailbox {mailbox}"),
        )
        .with_operation(Operation::Plan)
    })?;
    let backup: Arc<dyn Source> = stores::open_store(&backup_url(campaign, pair)?).await?;
    let target: Arc<dyn Destination> = stores::open_destination(&fill_template(into, pair)).await?;
    let state: Arc<dyn StateStore> = Arc::clone(&campaign.state) as Arc<dyn StateStore>;
    let job = restore_job(campaign.plan.name(), &pair.key());
    let report = Restore::new(backup, target, state, job).run().await?;
    let complete = report.check().is_ok();
    let text = format!(
        "Restore of {} from its backup into {}: {} written{}\n",
        pair.source.address,
        stores::redact(into),
        report.written(),
        if complete {
            ""
        } else {
            "; not complete: run it again"
        }
    );
    let json = json!({ "mailbox": pair.source.address, "written": report.written(), "complete": complete });
    Ok(StepOutput::new(text, json, if complete { 0 } else { 2 }))
}

//! The campaign steps that move mailboxes — `plan`, `run`, `delta`, `switch`,
//! `retry-failed`, `pause`, `resume` — and `status`.

use std::fmt::Write as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mailmigrate_core::campaign::{CampaignRunner, CampaignStatus, PassReport};
use mailmigrate_core::Result;
use serde_json::json;

use super::open::Campaign;
use super::output::{bar, failure_code, settled, status_code, StepOutput};

/// `plan`: the validated plan — every pair, by batch, with the strategy and windows.
pub fn plan(campaign: &Campaign) -> StepOutput {
    let p = campaign.plan.plan();
    let mut text = format!(
        "Campaign {:?}: strategy {}, grace period {} h, {} mailboxes at once, plan {}\n",
        p.name,
        p.strategy.name(),
        p.grace_period.as_secs() / 3600,
        p.limits.mailboxes_in_parallel,
        &campaign.plan.hash()[..12.min(campaign.plan.hash().len())]
    );
    for b in campaign.plan.batches_in_order() {
        let _ = writeln!(
            text,
            "\nBatch {}{}{}:",
            b.name,
            if b.pilot { " (pilot)" } else { "" },
            b.window
                .map(|w| format!(", window {} to {}", w.start, w.end))
                .unwrap_or_default()
        );
        for pair in campaign.plan.members(&b.name) {
            let _ = writeln!(text, "  {} -> {}", pair.source.address, pair.destination);
        }
    }
    let json = json!({
        "campaign": p.name,
        "strategy": p.strategy.name(),
        "plan_hash": campaign.plan.hash(),
        "pairs": campaign.plan.pairs(),
    });
    StepOutput::new(text, json, 0)
}

/// Runs `step` on the runner with a progress bar of mailboxes past their copy (on a
/// terminal, unless `quiet`).
async fn with_progress<F, Fut>(runner: &CampaignRunner, quiet: bool, step: F) -> Result<PassReport>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<PassReport>>,
{
    let total = runner.plan().pairs().len() as u64;
    let pb = ProgressBar::with_draw_target(
        Some(total),
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    pb.set_style(
        ProgressStyle::with_template("{spinner} mailboxes {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let poll = async {
        loop {
            if let Ok(st) = runner.status().await {
                let c = st.counts();
                pb.set_position(settled(&c) as u64);
                pb.set_message(format!("{} failed", c.failed));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    // Nobody sees the bar when quiet: no status reads for it either.
    let out = if quiet {
        step().await
    } else {
        tokio::select! {
            out = step() => out,
            () = poll => unreachable!("the poll never ends"),
        }
    };
    pb.finish_and_clear();
    out
}

/// What a pass report says, for people, and its exit code.
fn pass_output(what: &str, r: &PassReport, status: &CampaignStatus) -> StepOutput {
    let mut text = format!(
        "{what}: {} synced, {} finalising, {} validated, {} failed; {} messages written\n",
        r.synced.len(),
        r.finalising.len(),
        r.validated.len(),
        r.failed.len(),
        r.copied
    );
    for (mailbox, f) in &r.failed {
        let _ = writeln!(text, "  failed: {mailbox}: {f}");
    }
    for b in &r.blocked {
        let _ = writeln!(
            text,
            "  blocked: batch {b} (the pilot failed and the plan says it blocks)"
        );
    }
    for b in &r.waiting {
        let _ = writeln!(
            text,
            "  waiting: batch {b} (pilot or earlier batch not done, or outside its window)"
        );
    }
    if !r.busy.is_empty() {
        let _ = writeln!(
            text,
            "  busy: {} mailboxes driven by another runner (their lease has not expired): run again later",
            r.busy.len()
        );
    }
    if !r.paused.is_empty() {
        let _ = writeln!(text, "  paused: {} mailboxes", r.paused.len());
    }
    text.push('\n');
    text.push_str(&status_text(status));
    let failed = r
        .failed
        .iter()
        .map(|(_, f)| failure_code(f))
        .max()
        .unwrap_or(0);
    let held_up = !(r.waiting.is_empty() && r.blocked.is_empty() && r.busy.is_empty());
    let code = failed.max(if held_up { 2 } else { 0 });
    StepOutput::new(
        text,
        json!({ "step": what, "report": r, "status": status }),
        code,
    )
}

/// `run`: first copies, the pilot first (backups before them).
///
/// # Errors
/// Errors of the state store.
pub async fn run(campaign: &Campaign, quiet: bool) -> Result<StepOutput> {
    let runner = campaign.driver().await?;
    let r = with_progress(&runner, quiet, || runner.run()).await?;
    Ok(pass_output("Run", &r, &runner.status().await?))
}

/// `delta`: one more pass on every synced mailbox (coexistence, or a presync's catch-up).
///
/// # Errors
/// Errors of the state store.
pub async fn delta(campaign: &Campaign, quiet: bool) -> Result<StepOutput> {
    let runner = campaign.driver().await?;
    let r = with_progress(&runner, quiet, || runner.delta_pass()).await?;
    Ok(pass_output("Delta pass", &r, &runner.status().await?))
}

/// `switch BATCH…`: the batches were switched to the destination; a grace-period pass,
/// and validation once the grace period is over (run it again until then).
///
/// # Errors
/// `NotFound` for an unknown batch; errors of the state store.
pub async fn switch(campaign: &Campaign, batches: &[String], quiet: bool) -> Result<StepOutput> {
    let runner = campaign.driver().await?;
    let names: Vec<String> = if batches.is_empty() {
        campaign
            .plan
            .batches_in_order()
            .map(|b| b.name.clone())
            .collect()
    } else {
        batches.to_vec()
    };
    let mut all = PassReport::default();
    for name in &names {
        let r = with_progress(&runner, quiet, || runner.finalise(name)).await?;
        all.synced.extend(r.synced);
        all.finalising.extend(r.finalising);
        all.validated.extend(r.validated);
        all.failed.extend(r.failed);
        all.copied += r.copied;
    }
    let what = format!("Switch of {}", names.join(", "));
    Ok(pass_output(&what, &all, &runner.status().await?))
}

/// `retry-failed`: every failed mailbox queued again and run to synced.
///
/// # Errors
/// Errors of the state store.
pub async fn retry_failed(campaign: &Campaign, quiet: bool) -> Result<StepOutput> {
    let runner = campaign.driver().await?;
    let r = with_progress(&runner, quiet, || runner.retry_failed()).await?;
    Ok(pass_output(
        "Retry of failed mailboxes",
        &r,
        &runner.status().await?,
    ))
}

/// `pause` (`true`) or `resume` (`false`).
///
/// # Errors
/// Errors of the state store.
pub async fn pause(campaign: &Campaign, pause: bool) -> Result<StepOutput> {
    let runner = campaign.runner().await?;
    if pause {
        runner.pause().await?;
    } else {
        runner.resume().await?;
    }
    let st = runner.status().await?;
    let what = if pause { "paused" } else { "resumed" };
    let text = format!("Campaign {:?} {what}.\n\n{}", st.name, status_text(&st));
    Ok(StepOutput::new(
        text,
        json!({ "step": what, "status": st }),
        0,
    ))
}

/// `status`: every batch with a bar, every mailbox with its stage, counts and failure.
///
/// # Errors
/// Errors of the state store.
pub async fn status(campaign: &Campaign) -> Result<StepOutput> {
    let runner = campaign.runner().await?;
    let st = runner.status().await?;
    let code = status_code(&st);
    Ok(StepOutput::new(status_text(&st), json!(st), code))
}

/// The status as a table with a bar per batch.
pub fn status_text(st: &CampaignStatus) -> String {
    let c = st.counts();
    let mut text = format!(
        "Campaign {:?}{}: {} of {} mailboxes past their copy, {} validated, {} failed\n",
        st.name,
        if st.paused { " (paused)" } else { "" },
        settled(&c),
        c.total(),
        c.validated,
        c.failed
    );
    for b in &st.batches {
        let _ = writeln!(
            text,
            "  {:<12} {} {}{}",
            b.name,
            bar(settled(&b.counts), b.counts.total(), 20),
            if b.pilot { "pilot " } else { "" },
            if b.blocked { "blocked" } else { "" }
        );
    }
    let _ = writeln!(
        text,
        "\n  {:<32} {:<10} {:<11} {:>6} {:>8} {:>7}",
        "mailbox", "batch", "stage", "passes", "copied", "refused"
    );
    for m in &st.mailboxes {
        let _ = writeln!(
            text,
            "  {:<32} {:<10} {:<11} {:>6} {:>8} {:>7}",
            m.mailbox,
            m.batch,
            m.stage.as_str(),
            m.counts.passes,
            m.counts.copied,
            m.counts.refused
        );
        if let Some(f) = &m.failure {
            let _ = writeln!(text, "      {f}");
        }
    }
    text
}

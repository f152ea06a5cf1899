//! Building the report from what a runner's state holds: the plan, every mailbox's status
//! and history, and the items the engine recorded as not migrated.

use std::collections::{BTreeMap, HashMap};

use time::OffsetDateTime;

use super::model::{
    round3, BatchReport, InventoryMailbox, InventorySummary, ItemIssue, ItemOutcome, MailboxReport,
    PlanSummary, PlannedBatch, ProgressPoint, ReportTotals, Throughput, Volume,
};
use crate::campaign::{MailboxStatus, Stage, StageCounts, Strategy, Transition, ValidPlan};
use crate::directory::{address_key, Inventory};

/// The plan's summary.
pub(super) fn plan_summary(plan: &ValidPlan) -> PlanSummary {
    let p = plan.plan();
    let pilot = plan.pilot();
    PlanSummary {
        strategy: p.strategy.name().to_owned(),
        coexistence_interval_secs: match p.strategy {
            Strategy::Coexistence { interval } => Some(interval.as_secs()),
            _ => None,
        },
        grace_period_secs: p.grace_period.as_secs(),
        plan_hash: plan.hash().to_owned(),
        pilot: pilot.map(|b| b.name.clone()),
        pilot_blocks: pilot.is_some_and(|b| b.pilot_blocks),
        mailboxes_in_parallel: p.limits.mailboxes_in_parallel,
        backup: p.backup.is_some(),
        batches: plan
            .batches_in_order()
            .map(|b| PlannedBatch {
                name: b.name.clone(),
                pilot: b.pilot,
                members: plan.members(&b.name).map(|m| m.key()).collect(),
                window_start: b.window.map(|w| w.start),
                window_end: b.window.map(|w| w.end),
            })
            .collect(),
    }
}

/// The inventory's summary over the plan's mailboxes, from the accounts the plan resolved
/// (and, when given, the directory's whole inventory).
pub(super) fn inventory_summary(
    plan: &ValidPlan,
    inventory: Option<&Inventory>,
) -> InventorySummary {
    let mailboxes: Vec<InventoryMailbox> = plan
        .pairs()
        .iter()
        .map(|p| {
            let key = p.key();
            let account = inventory
                .and_then(|i| i.accounts.iter().find(|a| address_key(&a.address) == key))
                .filter(|a| a.stats.is_some())
                .unwrap_or(&p.source);
            let stats = account.stats.unwrap_or_default();
            InventoryMailbox {
                mailbox: key,
                name: account.name.clone().or_else(|| p.source.name.clone()),
                messages: stats.messages,
                bytes: stats.bytes,
                contacts: stats.contacts,
                events: stats.events,
            }
        })
        .collect();
    let sum = |f: fn(&InventoryMailbox) -> Option<u64>| {
        mailboxes
            .iter()
            .filter_map(f)
            .reduce(|a, b| a.saturating_add(b))
    };
    InventorySummary {
        accounts: inventory.map_or(mailboxes.len(), |i| i.accounts.len()),
        in_campaign: mailboxes.len(),
        messages: sum(|m| m.messages),
        bytes: sum(|m| m.bytes),
        mailboxes,
    }
}

/// Seconds from `a` to `b`, to the millisecond.
fn secs(a: OffsetDateTime, b: OffsetDateTime) -> f64 {
    round3((b - a).as_seconds_f64())
}

/// One mailbox's report from its status and history (item counts are filled by
/// [`recount`]).
pub(super) fn mailbox_report(st: &MailboxStatus, history: &[Transition]) -> MailboxReport {
    let first = |stages: &[Stage]| {
        history
            .iter()
            .find(|t| t.from.is_some() && stages.contains(&t.to))
            .map(|t| t.at)
    };
    let started_at = first(&[Stage::BackingUp, Stage::Syncing]);
    let synced_at = first(&[Stage::Synced]);
    let validated_at = first(&[Stage::Validated]);
    let syncing_secs = round3(
        history
            .windows(2)
            .filter(|w| w[0].to == Stage::Syncing)
            .map(|w| (w[1].at - w[0].at).as_seconds_f64().max(0.0))
            .sum(),
    );
    let c = &st.counts;
    MailboxReport {
        mailbox: st.mailbox.clone(),
        destination: st.destination.clone(),
        batch: st.batch.clone(),
        stage: st.stage,
        failure: st.failure.clone(),
        counts: *c,
        volume: Volume {
            items_copied: c.copied,
            bytes_copied: c.bytes,
            deduplicated: c.deduplicated,
            pim_written: c.pim_written,
            items_skipped: 0,
            items_failed: 0,
        },
        started_at,
        synced_at,
        validated_at,
        duration_secs: started_at.zip(synced_at).map(|(a, b)| secs(a, b)),
        total_secs: started_at.zip(validated_at).map(|(a, b)| secs(a, b)),
        syncing_secs,
        throughput: Throughput::over(c.copied, c.bytes, syncing_secs),
        transitions: history.len(),
    }
}

/// How many mailboxes were synced, validated and failed after each moment something
/// changed, from every mailbox's history (in time order; moves at the same instant are
/// one point).
pub(super) fn timeline(histories: &[(String, Vec<Transition>)]) -> Vec<ProgressPoint> {
    let mut events: Vec<(OffsetDateTime, usize, Stage)> = histories
        .iter()
        .enumerate()
        // Entries into the campaign (queued) change no count; they are left out, so the
        // timeline starts with the first mailbox's first step.
        .flat_map(|(i, (_, h))| {
            h.iter()
                .filter(|t| t.from.is_some())
                .map(move |t| (t.at, i, t.to))
        })
        .collect();
    events.sort_by_key(|e| e.0);
    let mut current: HashMap<usize, Stage> = HashMap::new();
    let mut ever_synced = vec![false; histories.len()];
    let mut points: Vec<ProgressPoint> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let at = events[i].0;
        while i < events.len() && events[i].0 == at {
            let (_, m, to) = events[i];
            current.insert(m, to);
            if matches!(to, Stage::Synced | Stage::Finalising | Stage::Validated) {
                ever_synced[m] = true;
            }
            i += 1;
        }
        let p = ProgressPoint {
            at,
            synced: ever_synced.iter().filter(|s| **s).count(),
            validated: current.values().filter(|s| **s == Stage::Validated).count(),
            failed: current.values().filter(|s| **s == Stage::Failed).count(),
        };
        let same = points.last().is_some_and(|l| {
            (l.synced, l.validated, l.failed) == (p.synced, p.validated, p.failed)
        });
        if !same {
            points.push(p);
        }
    }
    points
}

/// Recomputes every figure that depends on the item issues, and the batches and totals
/// from the mailboxes.
pub(super) fn recount(
    mailboxes: &mut [MailboxReport],
    items: &[ItemIssue],
    batches: &mut [BatchReport],
    totals: &mut ReportTotals,
) {
    let mut per: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for i in items {
        let e = per.entry(i.mailbox.as_str()).or_default();
        match i.outcome {
            ItemOutcome::Skipped => e.0 += 1,
            ItemOutcome::Failed => e.1 += 1,
        }
    }
    for m in mailboxes.iter_mut() {
        let (s, f) = per.get(m.mailbox.as_str()).copied().unwrap_or_default();
        m.volume.items_skipped = s;
        m.volume.items_failed = f;
    }
    for b in batches.iter_mut() {
        let members: Vec<&MailboxReport> = mailboxes.iter().filter(|m| m.batch == b.name).collect();
        let mut stages = StageCounts::default();
        members.iter().for_each(|m| stages.add(m.stage));
        b.stages = stages;
        b.mailboxes = members.len();
        b.items_copied = members.iter().map(|m| m.volume.items_copied).sum();
        b.bytes_copied = members.iter().map(|m| m.volume.bytes_copied).sum();
        b.items_skipped = members.iter().map(|m| m.volume.items_skipped).sum();
        b.items_failed = members.iter().map(|m| m.volume.items_failed).sum();
        b.started_at = members.iter().filter_map(|m| m.started_at).min();
        b.synced_at = if members.iter().all(|m| m.synced_at.is_some()) {
            members.iter().filter_map(|m| m.synced_at).max()
        } else {
            None
        };
        b.duration_secs = b.started_at.zip(b.synced_at).map(|(a, z)| secs(a, z));
    }
    let mut stages = StageCounts::default();
    mailboxes.iter().for_each(|m| stages.add(m.stage));
    let sum = |f: fn(&Volume) -> u64| mailboxes.iter().map(|m| f(&m.volume)).sum::<u64>();
    let start = mailboxes.iter().filter_map(|m| m.started_at).min();
    let end = mailboxes.iter().filter_map(|m| m.synced_at).max();
    let duration = start.zip(end).map(|(a, z)| secs(a, z));
    *totals = ReportTotals {
        mailboxes: mailboxes.len(),
        stages,
        items_copied: sum(|v| v.items_copied),
        bytes_copied: sum(|v| v.bytes_copied),
        deduplicated: sum(|v| v.deduplicated),
        pim_written: sum(|v| v.pim_written),
        items_skipped: sum(|v| v.items_skipped),
        items_failed: sum(|v| v.items_failed),
        duration_secs: duration,
        throughput: None,
    };
    totals.throughput =
        duration.and_then(|d| Throughput::over(totals.items_copied, totals.bytes_copied, d));
}

/// An empty batch record for `name` (filled by [`recount`]).
pub(super) fn batch_shell(name: &str, pilot: bool, blocked: bool) -> BatchReport {
    BatchReport {
        name: name.to_owned(),
        pilot,
        blocked,
        stages: StageCounts::default(),
        mailboxes: 0,
        items_copied: 0,
        bytes_copied: 0,
        items_skipped: 0,
        items_failed: 0,
        started_at: None,
        synced_at: None,
        duration_secs: None,
    }
}

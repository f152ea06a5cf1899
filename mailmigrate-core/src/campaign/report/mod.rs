//! The final report of a campaign: one self-contained HTML page and the same facts as JSON.
//!
//! [`CampaignReport::collect`] reads what a [`CampaignRunner`]'s state holds — the plan,
//! every mailbox's status and history, the items the engine recorded as not migrated — and
//! computes volumes, durations, throughput and a progress timeline. The caller adds what
//! the runner does not know: the directory's inventory, more item failures (contacts and
//! calendars), the final verification, the permission review and the DNS state.
//!
//! [`to_html`](CampaignReport::to_html) renders a page with no script and no external
//! reference (inline CSS and SVG charts), every user-supplied text escaped. Each figure on
//! it carries the [JSON pointer](https://www.rfc-editor.org/rfc/rfc6901) of its value in
//! [`to_json`](CampaignReport::to_json) as `data-field`, and the value itself as
//! `data-value`, so the two can be checked against each other.

mod chart;
mod collect;
mod html;
mod html_sections;
mod model;
mod sections;
mod text;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use model::{
    BatchReport, InventoryMailbox, InventorySummary, ItemIssue, ItemOutcome, MailboxReport,
    PlanSummary, PlannedBatch, ProgressPoint, ReportTotals, Throughput, Volume,
};
pub use sections::{
    DnsDomainState, DnsRecordState, PermissionDifference, PermissionReview, ProbeCheck,
    VerificationResult,
};

use super::CampaignRunner;
use crate::directory::{address_key, Inventory};
use crate::{Error, ErrorKind, Operation, Result};

/// Everything a campaign did, for the people who ordered it: plan, inventory, per-batch
/// and per-mailbox status, volumes, durations, throughput, every item left behind with its
/// reason, verification, permissions and DNS.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use mailmigrate_core::campaign::report::{CampaignReport, DnsDomainState, DnsRecordState};
/// use mailmigrate_core::campaign::*;
/// use mailmigrate_core::directory::{Account, Inventory};
/// use mailmigrate_core::state::MemoryState;
/// use mailmigrate_core::store::MemoryStore;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let inventory = Inventory::new(vec![Account::new("ann@old.example")]);
/// let plan = CampaignPlan::new("acme", Strategy::Cutover)
///     .with_rewrite(DomainRewrite::new("old.example", "new.example"))
///     .with_batch(Batch::new("all", ["ann@old.example"]))
///     .validate(&inventory)?;
/// let stores = |_: &MailboxPair| {
///     Ok(MailboxStores::new(Arc::new(MemoryStore::new("old")), Arc::new(MemoryStore::new("new"))))
/// };
/// let runner = CampaignRunner::open(plan, Arc::new(MemoryState::new()), Arc::new(stores)).await?;
/// runner.run().await?;
///
/// let report = CampaignReport::collect(&runner)
///     .await?
///     .with_inventory(&inventory)
///     .with_dns(vec![DnsDomainState::new("new.example")
///         .with_record(DnsRecordState::new("MX", "new.example", "10 mx.new.example").with_ttl(300))]);
/// assert_eq!(report.mailboxes[0].stage, Stage::Synced);
/// assert!(report.to_html().contains("data-field=\"/totals/mailboxes\""));
/// let dir = tempfile::tempdir().unwrap();
/// let (html, json) = report.write_to(dir.path())?;
/// assert!(html.exists() && json.exists());
/// # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CampaignReport {
    /// The campaign's name.
    pub campaign: String,
    /// When the report was made.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Whether the campaign is paused.
    pub paused: bool,
    /// What the plan said.
    pub plan: PlanSummary,
    /// What the inventory said about the mailboxes.
    pub inventory: InventorySummary,
    /// Sums over the campaign.
    pub totals: ReportTotals,
    /// Each batch, in the order they run.
    pub batches: Vec<BatchReport>,
    /// Each mailbox, in plan order.
    pub mailboxes: Vec<MailboxReport>,
    /// Every item skipped or failed, with its reason, in mailbox order.
    pub items: Vec<ItemIssue>,
    /// Mailboxes synced, validated and failed over time.
    pub timeline: Vec<ProgressPoint>,
    /// The final comparison per mailbox, if the caller attached it.
    pub verification: Option<Vec<VerificationResult>>,
    /// The permission review, if the caller attached it.
    pub permissions: Option<PermissionReview>,
    /// The DNS state per domain, if the caller attached it.
    pub dns: Option<Vec<DnsDomainState>>,
    /// The send-and-receive probes, if the caller attached them.
    #[serde(default)]
    pub probes: Option<Vec<ProbeCheck>>,
}

impl CampaignReport {
    /// Reads the runner's plan, status, histories and recorded item failures.
    ///
    /// # Errors
    /// Errors of the state store.
    pub async fn collect(runner: &CampaignRunner) -> Result<Self> {
        let plan = runner.plan();
        let status = runner.status().await?;
        let mut histories = Vec::with_capacity(status.mailboxes.len());
        let mut mailboxes = Vec::with_capacity(status.mailboxes.len());
        let mut items = Vec::new();
        for st in &status.mailboxes {
            let history = runner.history(&st.mailbox).await?;
            mailboxes.push(collect::mailbox_report(st, &history));
            histories.push((st.mailbox.clone(), history));
            let failures = runner.item_failures(&st.mailbox).await?;
            items.extend(failures.iter().map(|f| ItemIssue::of(&st.mailbox, f)));
        }
        let batches = status
            .batches
            .iter()
            .map(|b| collect::batch_shell(&b.name, b.pilot, b.blocked))
            .collect();
        let mut report = Self {
            campaign: status.name.clone(),
            generated_at: OffsetDateTime::now_utc(),
            paused: status.paused,
            plan: collect::plan_summary(plan),
            inventory: collect::inventory_summary(plan, None),
            totals: ReportTotals::default(),
            batches,
            mailboxes,
            items,
            timeline: collect::timeline(&histories),
            verification: None,
            permissions: None,
            dns: None,
            probes: None,
        };
        report.recount();
        Ok(report)
    }

    fn recount(&mut self) {
        let order = |key: &str| self.mailboxes.iter().position(|m| m.mailbox == key);
        let mut items = std::mem::take(&mut self.items);
        items.sort_by_key(|i| order(&i.mailbox));
        self.items = items;
        collect::recount(
            &mut self.mailboxes,
            &self.items,
            &mut self.batches,
            &mut self.totals,
        );
    }

    /// Sets when the report was made (default: when it was collected).
    #[must_use]
    pub fn with_generated_at(mut self, at: OffsetDateTime) -> Self {
        self.generated_at = at;
        self
    }

    /// Takes account counts and mailbox sizes from the directory's inventory (the plan's
    /// own accounts are used for mailboxes it does not describe).
    #[must_use]
    pub fn with_inventory(mut self, inventory: &Inventory) -> Self {
        let sizes = |a: &crate::directory::Account| a.stats.is_some();
        for m in &mut self.inventory.mailboxes {
            if let Some(a) = inventory
                .accounts
                .iter()
                .find(|a| address_key(&a.address) == m.mailbox && sizes(a))
            {
                let s = a.stats.unwrap_or_default();
                m.name = a.name.clone().or(m.name.take());
                (m.messages, m.bytes, m.contacts, m.events) =
                    (s.messages, s.bytes, s.contacts, s.events);
            }
        }
        let sum = |f: fn(&InventoryMailbox) -> Option<u64>| {
            let m = &self.inventory.mailboxes;
            m.iter().filter_map(f).reduce(u64::saturating_add)
        };
        self.inventory.messages = sum(|m| m.messages);
        self.inventory.bytes = sum(|m| m.bytes);
        self.inventory.accounts = inventory.accounts.len();
        self
    }

    /// Adds items of `mailbox` that were not migrated (contacts and calendars from a
    /// [`PimReport`](crate::pim::sync::PimReport), or failures the engine's ledger does not
    /// keep). An item already listed (same folder and id) is not listed twice.
    #[must_use]
    pub fn with_item_failures(
        mut self,
        mailbox: &str,
        issues: impl IntoIterator<Item = ItemIssue>,
    ) -> Self {
        let key = address_key(mailbox);
        for mut issue in issues {
            issue.mailbox.clone_from(&key);
            let dup = self
                .items
                .iter()
                .any(|i| i.mailbox == key && i.folder == issue.folder && i.item == issue.item);
            if !dup {
                self.items.push(issue);
            }
        }
        self.recount();
        self
    }

    /// Adds the final comparison of some mailboxes (a mailbox given twice keeps the last).
    #[must_use]
    pub fn with_verification(
        mut self,
        results: impl IntoIterator<Item = VerificationResult>,
    ) -> Self {
        let list = self.verification.get_or_insert_with(Vec::new);
        for r in results {
            list.retain(|x| x.mailbox != r.mailbox);
            list.push(r);
        }
        let order = |key: &str| self.mailboxes.iter().position(|m| m.mailbox == key);
        list.sort_by_key(|r| order(&r.mailbox));
        self
    }

    /// Sets the permission review.
    #[must_use]
    pub fn with_permissions(mut self, review: PermissionReview) -> Self {
        self.permissions = Some(review);
        self
    }

    /// Sets the DNS state of the campaign's domains.
    #[must_use]
    pub fn with_dns(mut self, domains: Vec<DnsDomainState>) -> Self {
        self.dns = Some(domains);
        self
    }

    /// Sets the send-and-receive probes' results.
    #[must_use]
    pub fn with_probes(mut self, probes: Vec<ProbeCheck>) -> Self {
        self.probes = Some(probes);
        self
    }

    /// The report as pretty-printed JSON.
    ///
    /// # Errors
    /// `Unexpected` if serialisation fails (it does not for these types).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| {
            Error::new(
                ErrorKind::Unexpected,
                "cannot serialise the campaign report",
            )
            .with_source(e)
        })
    }

    /// The report as one self-contained HTML page: inline CSS and SVG, no script, no
    /// external reference.
    pub fn to_html(&self) -> String {
        html::render(self)
    }

    /// Writes `<campaign>-report.html` and `<campaign>-report.json` into `dir` (created if
    /// missing) and returns their paths.
    ///
    /// # Errors
    /// `Unexpected` for a file that cannot be written, naming it.
    pub fn write_to(&self, dir: impl AsRef<Path>) -> Result<(PathBuf, PathBuf)> {
        let dir = dir.as_ref();
        let stem: String = self
            .campaign
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let html = dir.join(format!("{stem}-report.html"));
        let json = dir.join(format!("{stem}-report.json"));
        let write = |path: &Path, text: &str| {
            std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(path, text))
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Unexpected,
                        format!("cannot write the campaign report {}", path.display()),
                    )
                    .with_operation(Operation::State)
                    .with_source(e)
                })
        };
        write(&json, &self.to_json()?)?;
        write(&html, &self.to_html())?;
        Ok((html, json))
    }
}

//! The campaign plan: which mailbox goes where, in which batch, by which strategy, and the
//! checks that refuse a plan with mistakes before anything moves.
//!
//! A program builds a [`CampaignPlan`] with its `with_*` setters, or reads one from TOML
//! ([`CampaignPlan::from_toml`]). [`CampaignPlan::validate`] checks it against the
//! [`Inventory`] and returns a [`ValidPlan`] (the only thing a runner accepts) or a
//! [`PlanError`] listing every [`Problem`] at once, so the operator fixes them in one round.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::duration;
use crate::directory::{address_key, is_valid_address, Account, Inventory};
use crate::engine::{Filter, MappingRules};
use crate::{Error, ErrorKind, Operation};

/// How the mailboxes of a campaign move.
///
/// ```
/// use std::time::Duration;
/// use mailmigrate_core::campaign::Strategy;
/// let hybrid = Strategy::Coexistence { interval: Duration::from_secs(6 * 3600) };
/// assert!(hybrid.requires_pilot());
/// assert!(!Strategy::Cutover.requires_pilot());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Strategy {
    /// Every mailbox is presynced, then a final delta pass runs at the switch.
    Cutover,
    /// Batches move one after another, each in its window, the pilot first.
    Staged,
    /// Both systems stay live; delta passes repeat every `interval` until each mailbox is
    /// finalised.
    Coexistence {
        /// The time between two delta passes.
        #[serde(with = "duration")]
        interval: Duration,
    },
}

impl Strategy {
    /// Whether a plan with this strategy must name a pilot batch. A staged or coexistence
    /// campaign moves people group by group and proves the process on a pilot first; a
    /// cutover moves everyone in one window, where a pilot is optional.
    pub fn requires_pilot(&self) -> bool {
        !matches!(self, Self::Cutover)
    }

    /// The strategy's name in a plan file (`"cutover"`, `"staged"`, `"coexistence"`).
    ///
    /// ```
    /// use mailmigrate_core::campaign::Strategy;
    /// assert_eq!(Strategy::Staged.name(), "staged");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Self::Cutover => "cutover",
            Self::Staged => "staged",
            Self::Coexistence { .. } => "coexistence",
        }
    }
}

/// A time window a batch may run in (start inclusive, end exclusive).
///
/// ```
/// use mailmigrate_core::campaign::Window;
/// use time::macros::datetime;
/// let night = Window::new(datetime!(2025-03-01 20:00 UTC), datetime!(2025-03-02 06:00 UTC));
/// assert!(night.contains(datetime!(2025-03-01 23:30 UTC)));
/// assert!(!night.contains(datetime!(2025-03-02 06:00 UTC)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Window {
    /// When the batch may start.
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// When it must not start any more mailboxes.
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

impl Window {
    /// A window from `start` to `end`.
    pub fn new(start: OffsetDateTime, end: OffsetDateTime) -> Self {
        Self { start, end }
    }

    /// Whether `at` falls inside the window.
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        self.start <= at && at < self.end
    }
}

/// One batch: mailboxes that move together.
///
/// ```
/// use mailmigrate_core::campaign::Batch;
/// let pilot = Batch::new("pilot", ["alice@old.example", "bob@old.example"]).with_pilot(true);
/// assert!(pilot.pilot && pilot.pilot_blocks);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Batch {
    /// Its name, unique in the plan.
    pub name: String,
    /// Source addresses (primary address or alias) of its mailboxes.
    pub members: Vec<String>,
    /// When it may run; `None` = any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Whether this is the pilot batch, which runs before every other.
    #[serde(default)]
    pub pilot: bool,
    /// For the pilot: whether one failed pilot mailbox keeps the other batches from
    /// starting (default true).
    #[serde(default = "yes")]
    pub pilot_blocks: bool,
    /// Folder mapping for this batch, instead of the plan's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<MappingRules>,
    /// Message filter for this batch, instead of the plan's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
}

fn yes() -> bool {
    true
}

impl Batch {
    /// A batch of `members` that may run any time, not a pilot.
    pub fn new<I, S>(name: impl Into<String>, members: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name: name.into(),
            members: members.into_iter().map(Into::into).collect(),
            window: None,
            pilot: false,
            pilot_blocks: true,
            mapping: None,
            filter: None,
        }
    }

    /// Makes it the pilot batch (or not).
    #[must_use]
    pub fn with_pilot(mut self, pilot: bool) -> Self {
        self.pilot = pilot;
        self
    }

    /// Sets whether a failed pilot blocks the other batches.
    #[must_use]
    pub fn with_pilot_blocks(mut self, blocks: bool) -> Self {
        self.pilot_blocks = blocks;
        self
    }

    /// Sets the window it may run in.
    #[must_use]
    pub fn with_window(mut self, window: Window) -> Self {
        self.window = Some(window);
        self
    }

    /// Sets its own folder mapping.
    #[must_use]
    pub fn with_mapping(mut self, mapping: MappingRules) -> Self {
        self.mapping = Some(mapping);
        self
    }

    /// Sets its own message filter.
    #[must_use]
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }
}

/// A domain rewrite: `alice@old.example` becomes `alice@new.example`.
///
/// ```
/// use mailmigrate_core::campaign::DomainRewrite;
/// let r = DomainRewrite::new("old.example", "new.example");
/// assert_eq!(r.apply("Alice@OLD.example").as_deref(), Some("Alice@new.example"));
/// assert_eq!(r.apply("bob@other.example"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DomainRewrite {
    /// The source domain (compared case-insensitively).
    pub from: String,
    /// The destination domain.
    pub to: String,
}

impl DomainRewrite {
    /// A rewrite of `from` into `to`.
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
        }
    }

    /// The rewritten address, if its domain is `from`.
    pub fn apply(&self, address: &str) -> Option<String> {
        let (local, domain) = address.rsplit_once('@')?;
        domain
            .eq_ignore_ascii_case(self.from.trim())
            .then(|| format!("{local}@{}", self.to.trim()))
    }
}

/// An explicit destination for one source mailbox, stronger than any rewrite.
///
/// ```
/// use mailmigrate_core::campaign::PairOverride;
/// let o = PairOverride::new("bob@old.example", "robert@new.example");
/// assert_eq!(o.destination, "robert@new.example");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PairOverride {
    /// The source address (primary or alias).
    pub source: String,
    /// Its destination address.
    pub destination: String,
}

impl PairOverride {
    /// `source` goes to `destination`.
    pub fn new(source: impl Into<String>, destination: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            destination: destination.into(),
        }
    }
}

/// How source addresses become destination addresses: an override, else the first
/// matching rewrite, else the same address.
///
/// ```
/// use mailmigrate_core::campaign::{AddressMapping, DomainRewrite, PairOverride};
/// let m = AddressMapping::default()
///     .with_rewrite(DomainRewrite::new("old.example", "new.example"))
///     .with_override(PairOverride::new("bob@old.example", "robert@new.example"));
/// assert_eq!(m.destination_of("alice@old.example"), "alice@new.example");
/// assert_eq!(m.destination_of("BOB@old.example"), "robert@new.example");
/// assert_eq!(m.destination_of("carol@elsewhere.example"), "carol@elsewhere.example");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct AddressMapping {
    /// Domain rewrites, first match wins.
    pub rewrites: Vec<DomainRewrite>,
    /// Explicit pairs.
    pub overrides: Vec<PairOverride>,
}

impl AddressMapping {
    /// Adds a domain rewrite.
    #[must_use]
    pub fn with_rewrite(mut self, rewrite: DomainRewrite) -> Self {
        self.rewrites.push(rewrite);
        self
    }

    /// Adds an explicit pair.
    #[must_use]
    pub fn with_override(mut self, pair: PairOverride) -> Self {
        self.overrides.push(pair);
        self
    }

    /// The destination of the source address `source` (not resolved through aliases; see
    /// [`CampaignPlan::validate`] for that).
    pub fn destination_of(&self, source: &str) -> String {
        let key = address_key(source);
        if let Some(o) = self
            .overrides
            .iter()
            .find(|o| address_key(&o.source) == key)
        {
            return o.destination.trim().to_owned();
        }
        self.rewrites
            .iter()
            .find_map(|r| r.apply(source.trim()))
            .unwrap_or_else(|| source.trim().to_owned())
    }
}

/// Bounds on what runs at once.
///
/// ```
/// use mailmigrate_core::campaign::Limits;
/// assert_eq!(Limits::default().mailboxes_in_parallel, 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct Limits {
    /// Mailboxes migrated at once (default 4).
    pub mailboxes_in_parallel: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            mailboxes_in_parallel: 4,
        }
    }
}

/// Where each mailbox is backed up before its first copy: a store URL with `{source}`
/// (the source address) or `{mailbox}` (its lower-case key), opened by a
/// [`Registry`](crate::registry::Registry).
///
/// ```
/// use mailmigrate_core::campaign::BackupPlan;
/// let b = BackupPlan::new("maildir:///srv/backup/{mailbox}");
/// assert_eq!(b.url_for("Alice@old.example"), "maildir:///srv/backup/alice@old.example");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackupPlan {
    /// The URL template.
    pub url: String,
}

impl BackupPlan {
    /// A backup to `url` (a template).
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into() }
    }

    /// The URL of one mailbox's backup.
    pub fn url_for(&self, source: &str) -> String {
        expand(&self.url, source, "")
    }

    fn is_per_mailbox(&self) -> bool {
        self.url.contains("{source}") || self.url.contains("{mailbox}")
    }
}

/// Fills a store URL template: `{source}`, `{mailbox}` (lower-case source) and
/// `{destination}`.
pub(crate) fn expand(template: &str, source: &str, destination: &str) -> String {
    template
        .replace("{source}", source)
        .replace("{mailbox}", &address_key(source))
        .replace("{destination}", destination)
}

/// A migration campaign: mailbox pairs, batches, the strategy, the grace period, rules and
/// limits.
///
/// ```
/// use mailmigrate_core::campaign::{Batch, CampaignPlan, DomainRewrite, Strategy};
/// use mailmigrate_core::directory::{Account, Inventory};
///
/// let inventory = Inventory::new(vec![
///     Account::new("alice@old.example"),
///     Account::new("bob@old.example"),
/// ]);
/// let plan = CampaignPlan::new("acme", Strategy::Staged)
///     .with_rewrite(DomainRewrite::new("old.example", "new.example"))
///     .with_batch(Batch::new("pilot", ["alice@old.example"]).with_pilot(true))
///     .with_batch(Batch::new("everyone", ["bob@old.example"]));
/// let valid = plan.validate(&inventory).unwrap();
/// assert_eq!(valid.pairs()[1].destination, "bob@new.example");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CampaignPlan {
    /// The campaign's name: its key in the state store.
    pub name: String,
    /// How mailboxes move.
    pub strategy: Strategy,
    /// How long after the switch delta passes keep collecting mail that still lands on
    /// the old system (default 7 days).
    #[serde(with = "duration", default = "default_grace")]
    pub grace_period: Duration,
    /// Source → destination addresses.
    #[serde(default)]
    pub addresses: AddressMapping,
    /// The batches, in the order they run (the pilot runs first wherever it is listed).
    #[serde(default)]
    pub batches: Vec<Batch>,
    /// Bounds on concurrency.
    #[serde(default)]
    pub limits: Limits,
    /// Where mailboxes are backed up; `None` = no backup by the campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupPlan>,
    /// Folder mapping for batches without their own.
    #[serde(default)]
    pub mapping: MappingRules,
    /// Message filter for batches without their own.
    #[serde(default)]
    pub filter: Filter,
    /// Pre-stage by date: the first copy moves only mail older than this, and every later
    /// pass (delta, switch) moves everything, so the bulk moves early and the recent mail
    /// at the cut. `None`: the first copy moves everything.
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub prestage_older_than: Option<Duration>,
}

fn default_grace() -> Duration {
    Duration::from_secs(7 * 86_400)
}

impl CampaignPlan {
    /// An empty plan: no batches, a 7-day grace period, default limits and rules.
    pub fn new(name: impl Into<String>, strategy: Strategy) -> Self {
        Self {
            name: name.into(),
            strategy,
            grace_period: default_grace(),
            addresses: AddressMapping::default(),
            batches: Vec::new(),
            limits: Limits::default(),
            backup: None,
            mapping: MappingRules::default(),
            filter: Filter::default(),
            prestage_older_than: None,
        }
    }

    /// Reads a plan from TOML.
    ///
    /// ```
    /// use mailmigrate_core::campaign::{CampaignPlan, Strategy};
    /// let plan = CampaignPlan::from_toml(r#"
    ///     name = "acme"
    ///     strategy = { kind = "coexistence", interval = "6h" }
    ///     grace_period = "3d"
    ///     [limits]
    ///     mailboxes_in_parallel = 8
    ///     [addresses]
    ///     rewrites = [{ from = "old.example", to = "new.example" }]
    ///     overrides = [{ source = "bob@old.example", destination = "robert@new.example" }]
    ///     [backup]
    ///     url = "maildir:///srv/backup/{mailbox}"
    ///     [[batches]]
    ///     name = "pilot"
    ///     pilot = true
    ///     members = ["alice@old.example"]
    ///     [[batches]]
    ///     name = "sales"
    ///     members = ["bob@old.example"]
    ///     window = { start = "2025-03-01T20:00:00Z", end = "2025-03-02T06:00:00Z" }
    ///     mapping = { exclude = ["Junk"] }
    /// "#).unwrap();
    /// assert_eq!(plan.strategy, Strategy::Coexistence { interval: std::time::Duration::from_secs(6 * 3600) });
    /// assert_eq!(plan.limits.mailboxes_in_parallel, 8);
    /// assert_eq!(plan.batches[1].mapping.as_ref().unwrap().exclude, ["Junk"]);
    /// ```
    ///
    /// # Errors
    /// `ConfigInvalid` with the parser's message (line and column) for text that is not a
    /// plan. A plan that parses may still be wrong: [`validate`](Self::validate) says how.
    #[cfg(feature = "campaign-toml")]
    pub fn from_toml(text: &str) -> crate::Result<Self> {
        toml::from_str(text).map_err(|e| {
            Error::new(ErrorKind::ConfigInvalid, format!("campaign plan: {e}"))
                .with_operation(Operation::Plan)
        })
    }

    /// Writes the plan as TOML (what [`from_toml`](Self::from_toml) reads back).
    ///
    /// # Errors
    /// `Unexpected` if a value has no TOML form.
    #[cfg(feature = "campaign-toml")]
    pub fn to_toml(&self) -> crate::Result<String> {
        toml::to_string(self).map_err(|e| {
            Error::new(ErrorKind::Unexpected, format!("campaign plan: {e}"))
                .with_operation(Operation::Plan)
        })
    }

    /// Adds a batch.
    #[must_use]
    pub fn with_batch(mut self, batch: Batch) -> Self {
        self.batches.push(batch);
        self
    }

    /// Adds a domain rewrite.
    #[must_use]
    pub fn with_rewrite(mut self, rewrite: DomainRewrite) -> Self {
        self.addresses.rewrites.push(rewrite);
        self
    }

    /// Adds an explicit source → destination pair.
    #[must_use]
    pub fn with_override(mut self, pair: PairOverride) -> Self {
        self.addresses.overrides.push(pair);
        self
    }

    /// Sets the grace period after the switch.
    #[must_use]
    pub fn with_grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// Sets how many mailboxes run at once.
    #[must_use]
    pub fn with_mailboxes_in_parallel(mut self, n: usize) -> Self {
        self.limits.mailboxes_in_parallel = n;
        self
    }

    /// Sets the backup location.
    #[must_use]
    pub fn with_backup(mut self, backup: BackupPlan) -> Self {
        self.backup = Some(backup);
        self
    }

    /// Sets the folder mapping of batches without their own.
    #[must_use]
    pub fn with_mapping(mut self, mapping: MappingRules) -> Self {
        self.mapping = mapping;
        self
    }

    /// Sets the message filter of batches without their own.
    #[must_use]
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Pre-stages by date: the first copy moves mail older than `age` only (see
    /// [`prestage_older_than`](Self::prestage_older_than)).
    ///
    /// ```
    /// use mailmigrate_core::campaign::{CampaignPlan, Strategy};
    /// let p = CampaignPlan::new("x", Strategy::Cutover)
    ///     .with_prestage_older_than(std::time::Duration::from_secs(30 * 86_400));
    /// assert!(p.to_toml().unwrap().contains("prestage_older_than = \"30d\""));
    /// ```
    #[must_use]
    pub fn with_prestage_older_than(mut self, age: Duration) -> Self {
        self.prestage_older_than = Some(age);
        self
    }

    /// A digest of the whole plan (64 hex digits): the state store keeps it, so a campaign
    /// resumed with a different plan is noticed.
    ///
    /// ```
    /// use mailmigrate_core::campaign::{CampaignPlan, Strategy};
    /// let a = CampaignPlan::new("x", Strategy::Staged);
    /// assert_eq!(a.hash(), a.clone().hash());
    /// assert_ne!(a.hash(), a.with_grace_period(std::time::Duration::ZERO).hash());
    /// ```
    pub fn hash(&self) -> String {
        // Serialising plain data into JSON cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        blake3::hash(&json).to_hex().to_string()
    }

    /// Checks the plan against the inventory, resolving every member to its account.
    ///
    /// # Errors
    /// A [`PlanError`] listing every [`Problem`] found, in plan order.
    pub fn validate(&self, inventory: &Inventory) -> Result<ValidPlan, PlanError> {
        let mut problems = Vec::new();
        self.check_shape(&mut problems);
        let pairs = self.resolve(inventory, &mut problems);
        if problems.is_empty() {
            Ok(ValidPlan {
                hash: self.hash(),
                plan: self.clone(),
                pairs,
            })
        } else {
            Err(PlanError {
                campaign: self.name.clone(),
                problems,
            })
        }
    }

    /// Checks what needs no inventory: batches, pilot, windows, rules, limits.
    fn check_shape(&self, problems: &mut Vec<Problem>) {
        if self.batches.is_empty() {
            problems.push(Problem::NoBatches);
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        for b in &self.batches {
            let seen = names.entry(b.name.as_str()).or_default();
            *seen += 1;
            if *seen == 2 {
                problems.push(Problem::DuplicateBatch {
                    batch: b.name.clone(),
                });
            }
            if b.members.is_empty() {
                problems.push(Problem::EmptyBatch {
                    batch: b.name.clone(),
                });
            }
            if let Some(w) = b.window {
                if w.end <= w.start {
                    problems.push(Problem::WindowEndsBeforeStart {
                        batch: b.name.clone(),
                        start: w.start,
                        end: w.end,
                    });
                }
            }
            if let Some(m) = &b.mapping {
                check_mapping(Some(&b.name), m, problems);
            }
            if let Some(f) = &b.filter {
                check_filter(Some(&b.name), f, problems);
            }
        }
        check_mapping(None, &self.mapping, problems);
        check_filter(None, &self.filter, problems);
        let pilots: Vec<String> = self
            .batches
            .iter()
            .filter(|b| b.pilot)
            .map(|b| b.name.clone())
            .collect();
        if pilots.is_empty() && self.strategy.requires_pilot() && !self.batches.is_empty() {
            problems.push(Problem::NoPilot {
                strategy: self.strategy.name(),
            });
        }
        if pilots.len() > 1 {
            problems.push(Problem::SeveralPilots { batches: pilots });
        }
        if self.limits.mailboxes_in_parallel == 0 {
            problems.push(Problem::NoParallelism);
        }
        if let Strategy::Coexistence { interval } = self.strategy {
            if interval.is_zero() {
                problems.push(Problem::ZeroInterval);
            }
        }
        if let Some(b) = &self.backup {
            if !b.is_per_mailbox() {
                problems.push(Problem::SharedBackup { url: b.url.clone() });
            }
        }
    }

    /// Resolves members and overrides to accounts, and their destinations.
    fn resolve(&self, inventory: &Inventory, problems: &mut Vec<Problem>) -> Vec<MailboxPair> {
        // Overrides keyed by the account they name (an alias resolves to its account).
        let mut overrides: HashMap<String, &str> = HashMap::new();
        for o in &self.addresses.overrides {
            match inventory.find_account(&o.source) {
                Some(a) => {
                    overrides.insert(address_key(&a.address), o.destination.trim());
                }
                None => problems.push(Problem::UnknownMailbox {
                    batch: None,
                    mailbox: o.source.clone(),
                }),
            }
        }
        let mut placed: HashMap<String, &str> = HashMap::new();
        let mut pairs = Vec::new();
        for b in &self.batches {
            for member in &b.members {
                let Some(account) = inventory.find_account(member) else {
                    problems.push(Problem::UnknownMailbox {
                        batch: Some(b.name.clone()),
                        mailbox: member.clone(),
                    });
                    continue;
                };
                let key = address_key(&account.address);
                if let Some(first) = placed.get(&key) {
                    problems.push(Problem::MailboxInTwoBatches {
                        mailbox: account.address.clone(),
                        first: (*first).to_owned(),
                        second: b.name.clone(),
                    });
                    continue;
                }
                placed.insert(key.clone(), &b.name);
                let destination = match overrides.get(&key) {
                    Some(d) => (*d).to_owned(),
                    None => self.addresses.destination_of(&account.address),
                };
                if !is_valid_address(&destination) {
                    problems.push(Problem::InvalidTarget {
                        mailbox: account.address.clone(),
                        target: destination.clone(),
                    });
                }
                pairs.push(MailboxPair {
                    source: account.clone(),
                    destination,
                    batch: b.name.clone(),
                });
            }
        }
        let mut targets: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &pairs {
            targets
                .entry(address_key(&p.destination))
                .or_default()
                .push(p.source.address.clone());
        }
        for (target, mailboxes) in targets {
            if mailboxes.len() > 1 {
                problems.push(Problem::DuplicateTarget { target, mailboxes });
            }
        }
        pairs
    }
}

fn check_mapping(batch: Option<&str>, m: &MappingRules, problems: &mut Vec<Problem>) {
    if let Err(e) = m.compile() {
        let reason = match std::error::Error::source(&e) {
            Some(src) => format!("{}: {src}", e.message()),
            None => e.message().to_owned(),
        };
        problems.push(Problem::ImpossibleMapping {
            batch: batch.map(str::to_owned),
            reason,
        });
    }
    if !m.include.is_empty() && m.include.iter().all(|i| m.exclude.contains(i)) {
        problems.push(Problem::ImpossibleMapping {
            batch: batch.map(str::to_owned),
            reason: "every included folder is also excluded: nothing would move".to_owned(),
        });
    }
}

fn check_filter(batch: Option<&str>, f: &Filter, problems: &mut Vec<Problem>) {
    if let (Some(since), Some(before)) = (f.since, f.before) {
        if before <= since {
            problems.push(Problem::ImpossibleMapping {
                batch: batch.map(str::to_owned),
                reason: format!(
                    "the filter keeps mail since {since} and before {before}: nothing would move"
                ),
            });
        }
    }
    if f.max_size == Some(0) {
        problems.push(Problem::ImpossibleMapping {
            batch: batch.map(str::to_owned),
            reason: "the filter's max_size is 0: nothing would move".to_owned(),
        });
    }
}

/// One source mailbox, its destination address and its batch.
///
/// ```
/// use mailmigrate_core::campaign::MailboxPair;
/// use mailmigrate_core::directory::Account;
/// let p = MailboxPair::new(Account::new("Alice@old.example"), "alice@new.example", "pilot");
/// assert_eq!(p.key(), "alice@old.example");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailboxPair {
    /// The source account, as the inventory lists it.
    pub source: Account,
    /// The destination address.
    pub destination: String,
    /// The batch it belongs to.
    pub batch: String,
}

impl MailboxPair {
    /// A pair (plans build them in [`CampaignPlan::validate`]).
    pub fn new(source: Account, destination: impl Into<String>, batch: impl Into<String>) -> Self {
        Self {
            source,
            destination: destination.into(),
            batch: batch.into(),
        }
    }

    /// The mailbox's key in the campaign's state: its source address, lower-case.
    pub fn key(&self) -> String {
        address_key(&self.source.address)
    }
}

/// A plan that passed [`CampaignPlan::validate`], with every mailbox resolved.
///
/// ```
/// use mailmigrate_core::campaign::{Batch, CampaignPlan, Strategy};
/// use mailmigrate_core::directory::{Account, Inventory};
/// let inv = Inventory::new(vec![Account::new("a@x.example"), Account::new("b@x.example")]);
/// let valid = CampaignPlan::new("c", Strategy::Staged)
///     .with_batch(Batch::new("rest", ["b@x.example"]))
///     .with_batch(Batch::new("pilot", ["a@x.example"]).with_pilot(true))
///     .validate(&inv)
///     .unwrap();
/// let order: Vec<&str> = valid.batches_in_order().map(|b| b.name.as_str()).collect();
/// assert_eq!(order, ["pilot", "rest"]);
/// assert_eq!(valid.members("rest").count(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPlan {
    plan: CampaignPlan,
    pairs: Vec<MailboxPair>,
    hash: String,
}

impl ValidPlan {
    /// The plan as written.
    pub fn plan(&self) -> &CampaignPlan {
        &self.plan
    }

    /// Every mailbox, in batch and member order.
    pub fn pairs(&self) -> &[MailboxPair] {
        &self.pairs
    }

    /// The plan's digest ([`CampaignPlan::hash`]).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The campaign's name.
    pub fn name(&self) -> &str {
        &self.plan.name
    }

    /// The batches in the order they run: the pilot first, then the others as listed.
    pub fn batches_in_order(&self) -> impl Iterator<Item = &Batch> {
        let b = &self.plan.batches;
        b.iter()
            .filter(|b| b.pilot)
            .chain(b.iter().filter(|b| !b.pilot))
    }

    /// The batch named `name`.
    pub fn batch(&self, name: &str) -> Option<&Batch> {
        self.plan.batches.iter().find(|b| b.name == name)
    }

    /// The pilot batch, if the plan has one.
    pub fn pilot(&self) -> Option<&Batch> {
        self.plan.batches.iter().find(|b| b.pilot)
    }

    /// The mailboxes of batch `name`.
    pub fn members<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a MailboxPair> + 'a {
        self.pairs.iter().filter(move |p| p.batch == name)
    }

    /// The mailbox whose key ([`MailboxPair::key`]) or source address is `mailbox`.
    pub fn pair(&self, mailbox: &str) -> Option<&MailboxPair> {
        let key = address_key(mailbox);
        self.pairs.iter().find(|p| p.key() == key)
    }

    /// The folder mapping batch `name` runs with (its own, else the plan's).
    pub fn mapping_of(&self, name: &str) -> &MappingRules {
        self.batch(name)
            .and_then(|b| b.mapping.as_ref())
            .unwrap_or(&self.plan.mapping)
    }

    /// The message filter batch `name` runs with (its own, else the plan's).
    pub fn filter_of(&self, name: &str) -> &Filter {
        self.batch(name)
            .and_then(|b| b.filter.as_ref())
            .unwrap_or(&self.plan.filter)
    }
}

/// One mistake in a plan, naming the batch and mailbox it is about.
///
/// ```
/// use mailmigrate_core::campaign::Problem;
/// let p = Problem::UnknownMailbox { batch: Some("pilot".into()), mailbox: "eve@x.example".into() };
/// assert_eq!(p.to_string(), "batch `pilot`: mailbox eve@x.example is not in the inventory");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// The plan has no batch.
    NoBatches,
    /// A batch has no members.
    EmptyBatch {
        /// The batch.
        batch: String,
    },
    /// Two batches share a name.
    DuplicateBatch {
        /// The name.
        batch: String,
    },
    /// A member (or an override's source, `batch: None`) is not in the inventory.
    UnknownMailbox {
        /// The batch naming it; `None` for an address override.
        batch: Option<String>,
        /// The address as written.
        mailbox: String,
    },
    /// One mailbox is a member of two batches.
    MailboxInTwoBatches {
        /// Its primary address.
        mailbox: String,
        /// The batch listing it first.
        first: String,
        /// The batch listing it again.
        second: String,
    },
    /// Several source mailboxes map to one destination.
    DuplicateTarget {
        /// The destination address (lower-case).
        target: String,
        /// The source mailboxes.
        mailboxes: Vec<String>,
    },
    /// A mailbox's destination is not a valid address.
    InvalidTarget {
        /// The source mailbox.
        mailbox: String,
        /// What the mapping made of it.
        target: String,
    },
    /// The strategy needs a pilot batch and none is marked `pilot = true`.
    NoPilot {
        /// The strategy's name.
        strategy: &'static str,
    },
    /// More than one batch is marked as the pilot.
    SeveralPilots {
        /// Their names.
        batches: Vec<String>,
    },
    /// Folder mapping or filter rules that cannot work (a bad glob or regex, a date range
    /// that keeps nothing); `batch: None` for the plan's own rules.
    ImpossibleMapping {
        /// The batch; `None` for the plan-wide rules.
        batch: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// A batch window ends at or before its start.
    WindowEndsBeforeStart {
        /// The batch.
        batch: String,
        /// The window's start.
        #[serde(with = "time::serde::rfc3339")]
        start: OffsetDateTime,
        /// Its end.
        #[serde(with = "time::serde::rfc3339")]
        end: OffsetDateTime,
    },
    /// `limits.mailboxes_in_parallel` is 0: nothing would ever run.
    NoParallelism,
    /// A coexistence interval of zero would run delta passes back to back forever.
    ZeroInterval,
    /// The backup URL names no mailbox, so every mailbox would be backed up into one store.
    SharedBackup {
        /// The template.
        url: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let batch = |b: &Option<String>| match b {
            Some(b) => format!("batch `{b}`"),
            None => "the plan".to_owned(),
        };
        match self {
            Self::NoBatches => write!(f, "the plan has no batches"),
            Self::EmptyBatch { batch } => write!(f, "batch `{batch}` has no members"),
            Self::DuplicateBatch { batch } => write!(f, "two batches are named `{batch}`"),
            Self::UnknownMailbox {
                batch: Some(b),
                mailbox,
            } => write!(f, "batch `{b}`: mailbox {mailbox} is not in the inventory"),
            Self::UnknownMailbox {
                batch: None,
                mailbox,
            } => write!(
                f,
                "address override: mailbox {mailbox} is not in the inventory"
            ),
            Self::MailboxInTwoBatches {
                mailbox,
                first,
                second,
            } => write!(
                f,
                "mailbox {mailbox} is in batch `{first}` and again in batch `{second}`"
            ),
            Self::DuplicateTarget { target, mailboxes } => write!(
                f,
                "{} mailboxes would be migrated into {target}: {}",
                mailboxes.len(),
                mailboxes.join(", ")
            ),
            Self::InvalidTarget { mailbox, target } => write!(
                f,
                "mailbox {mailbox} maps to {target:?}, which is not a valid address"
            ),
            Self::NoPilot { strategy } => write!(
                f,
                "a {strategy} campaign needs a pilot batch (mark one `pilot = true`)"
            ),
            Self::SeveralPilots { batches } => write!(
                f,
                "only one batch can be the pilot; marked: {}",
                batches.join(", ")
            ),
            Self::ImpossibleMapping { batch: b, reason } => {
                write!(f, "{}: impossible mapping: {reason}", batch(b))
            }
            Self::WindowEndsBeforeStart { batch, start, end } => write!(
                f,
                "batch `{batch}`: its window ends ({end}) before it starts ({start})"
            ),
            Self::NoParallelism => write!(
                f,
                "limits.mailboxes_in_parallel is 0: no mailbox would ever run"
            ),
            Self::ZeroInterval => write!(f, "the coexistence interval is 0"),
            Self::SharedBackup { url } => write!(
                f,
                "backup url {url:?} names no mailbox ({{source}} or {{mailbox}}): every \
                 mailbox would be backed up into one store"
            ),
        }
    }
}

/// Every problem of a plan that did not validate.
///
/// ```
/// use mailmigrate_core::campaign::{Batch, CampaignPlan, Problem, Strategy};
/// use mailmigrate_core::directory::Inventory;
/// let err = CampaignPlan::new("c", Strategy::Staged)
///     .with_batch(Batch::new("b", ["ghost@x.example"]))
///     .validate(&Inventory::new(vec![]))
///     .unwrap_err();
/// assert_eq!(err.problems().len(), 2);
/// assert!(matches!(err.problems()[0], Problem::NoPilot { .. }));
/// assert!(matches!(&err.problems()[1], Problem::UnknownMailbox { mailbox, .. } if mailbox == "ghost@x.example"));
/// assert!(err.to_string().contains("ghost@x.example"));
/// let e: mailmigrate_core::Error = err.into();
/// assert_eq!(e.kind(), mailmigrate_core::ErrorKind::ConfigInvalid);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanError {
    campaign: String,
    problems: Vec<Problem>,
}

impl PlanError {
    /// The problems, in plan order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The campaign's name.
    pub fn campaign(&self) -> &str {
        &self.campaign
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "campaign `{}`: the plan has {} problem{}:",
            self.campaign,
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanError {}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Self {
        Error::new(ErrorKind::ConfigInvalid, e.to_string())
            .with_operation(Operation::Plan)
            .with_context("campaign", &e.campaign)
    }
}

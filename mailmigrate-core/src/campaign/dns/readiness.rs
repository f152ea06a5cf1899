//! Whether a domain's DNS is ready for the switch, and after it whether the switch took:
//! findings with a severity, and the times that matter (when TTLs must be lowered by, when
//! the old answers have left every cache).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::records::{normalise_host, Answer, DomainRecords, Ttl};
use crate::campaign::CampaignPlan;

/// How much a finding matters. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing; nothing to do.
    Info,
    /// Something to fix before (or soon after) the switch.
    Warning,
    /// Mail will go astray or be refused unless it is fixed.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// What a finding is about, for programs (the message is for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingCode {
    /// The domain does not exist (NXDOMAIN).
    DomainMissing,
    /// The domain has no MX record.
    MxMissing,
    /// A record's TTL is above the limit, and there is still time to lower it.
    TtlTooHigh,
    /// A record's TTL is above the limit and the time to lower it has passed: caches will
    /// keep the old answer past the switch.
    TtlLoweringOverdue,
    /// Every MX record points at the destination.
    MxAtDestination,
    /// Some MX records point at the destination, others elsewhere.
    MxPartlyAtDestination,
    /// No MX record points at the destination (after the switch).
    MxNotAtDestination,
    /// Resolvers may still hand out the old MX until [`Readiness::old_ttl_expires_at`].
    OldTtlPending,
    /// The old MX has left every cache.
    OldTtlExpired,
    /// Old MX answers outlive the campaign's grace period.
    OldTtlOutlivesGrace,
    /// No SPF policy.
    SpfMissing,
    /// More than one SPF policy (receivers treat that as a permanent error).
    SpfMultiple,
    /// The SPF policy does not include the destination's senders.
    SpfMissingInclude,
    /// Neither `autodiscover.<domain>` nor `_autodiscover._tcp.<domain>` exists.
    AutodiscoverMissing,
    /// Autodiscover does not point at the destination (after the switch).
    AutodiscoverNotAtDestination,
    /// `autoconfig.<domain>` does not exist.
    AutoconfigMissing,
}

/// One thing a readiness check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// What it is about.
    pub code: FindingCode,
    /// The record set it is about (`"MX"`, `"SPF"`, `"autodiscover.acme.example"`…).
    pub record: String,
    /// What to tell a person.
    pub message: String,
    /// The time it is about: when a TTL must be lowered by, or when old answers expire.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub at: Option<OffsetDateTime>,
}

impl Finding {
    fn new(
        severity: Severity,
        code: FindingCode,
        record: impl Into<String>,
        message: String,
    ) -> Self {
        Self {
            severity,
            code,
            record: record.into(),
            message,
            at: None,
        }
    }

    fn at(mut self, at: OffsetDateTime) -> Self {
        self.at = Some(at);
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)
    }
}

/// Where mail should go after the switch: MX host suffixes or exact hosts, the SPF
/// includes the destination sends from, and its autodiscover host.
///
/// ```
/// use mailmigrate_core::campaign::dns::DestinationHint;
/// let m365 = DestinationHint::microsoft365();
/// assert!(m365.matches_mx("acme-example.mail.protection.outlook.com."));
/// assert!(!m365.matches_mx("mx.old-provider.example"));
/// let google = DestinationHint::google_workspace();
/// assert!(google.matches_mx("ASPMX.L.GOOGLE.COM"));
/// assert!(google.matches_mx("alt1.aspmx.l.googlemail.com"));
/// let own = DestinationHint::hosts(["mx1.new.example", "mx2.new.example"]);
/// assert!(own.matches_mx("mx1.new.example"));
/// assert!(!own.matches_mx("evil-mx1.new.example"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(default)]
pub struct DestinationHint {
    /// A name for messages (`"Microsoft 365"`).
    pub name: String,
    /// An MX host matches if it is one of these or ends with `.` + one of these.
    pub mx_suffixes: Vec<String>,
    /// An MX host matches if it is exactly one of these.
    pub mx_hosts: Vec<String>,
    /// Domains the SPF policy must `include:` (none: not checked).
    pub spf_includes: Vec<String>,
    /// Host suffixes autodiscover should point at after the switch (none: not checked).
    pub autodiscover_suffixes: Vec<String>,
}

impl DestinationHint {
    /// Microsoft 365 / Exchange Online: MX under `mail.protection.outlook.com`, SPF
    /// `include:spf.protection.outlook.com`, autodiscover to `autodiscover.outlook.com`.
    pub fn microsoft365() -> Self {
        Self {
            name: "Microsoft 365".to_owned(),
            mx_suffixes: vec!["mail.protection.outlook.com".to_owned()],
            mx_hosts: Vec::new(),
            spf_includes: vec!["spf.protection.outlook.com".to_owned()],
            autodiscover_suffixes: vec!["autodiscover.outlook.com".to_owned()],
        }
    }

    /// Google Workspace: MX under `google.com` or `googlemail.com`, SPF
    /// `include:_spf.google.com`; autodiscover is not checked (Google does not serve it).
    pub fn google_workspace() -> Self {
        Self {
            name: "Google Workspace".to_owned(),
            mx_suffixes: vec!["google.com".to_owned(), "googlemail.com".to_owned()],
            mx_hosts: Vec::new(),
            spf_includes: vec!["_spf.google.com".to_owned()],
            autodiscover_suffixes: Vec::new(),
        }
    }

    /// A destination whose MX must be exactly these hosts (SPF and autodiscover not
    /// checked until set with [`with_spf_include`](Self::with_spf_include) and
    /// [`with_autodiscover_suffix`](Self::with_autodiscover_suffix)).
    pub fn hosts<I, S>(hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mx_hosts: Vec<String> = hosts
            .into_iter()
            .map(|h| normalise_host(h.as_ref()))
            .collect();
        Self {
            name: mx_hosts.join(", "),
            mx_hosts,
            ..Self::default()
        }
    }

    /// A destination whose MX hosts end with one of `suffixes`.
    pub fn suffixes<I, S>(name: impl Into<String>, suffixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            name: name.into(),
            mx_suffixes: suffixes
                .into_iter()
                .map(|h| normalise_host(h.as_ref()))
                .collect(),
            ..Self::default()
        }
    }

    /// Also requires `include:<domain>` in the SPF policy.
    #[must_use]
    pub fn with_spf_include(mut self, domain: impl AsRef<str>) -> Self {
        self.spf_includes.push(normalise_host(domain.as_ref()));
        self
    }

    /// Also checks that autodiscover points under `suffix` after the switch.
    #[must_use]
    pub fn with_autodiscover_suffix(mut self, suffix: impl AsRef<str>) -> Self {
        self.autodiscover_suffixes
            .push(normalise_host(suffix.as_ref()));
        self
    }

    /// Whether the MX host `host` is the destination's.
    pub fn matches_mx(&self, host: &str) -> bool {
        let host = normalise_host(host);
        self.mx_hosts.iter().any(|h| normalise_host(h) == host)
            || self.mx_suffixes.iter().any(|s| has_suffix(&host, s))
    }

    fn matches_autodiscover(&self, host: &str) -> bool {
        let host = normalise_host(host);
        self.autodiscover_suffixes
            .iter()
            .any(|s| has_suffix(&host, s))
    }

    fn label(&self) -> &str {
        if self.name.is_empty() {
            "the destination"
        } else {
            &self.name
        }
    }
}

fn has_suffix(host: &str, suffix: &str) -> bool {
    let suffix = normalise_host(suffix);
    !suffix.is_empty()
        && (host == suffix
            || host
                .strip_suffix(suffix.as_str())
                .is_some_and(|rest| rest.ends_with('.')))
}

/// Which side of the switch a check ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// `now` is before the switch: are the TTLs low enough, is SPF ready?
    BeforeSwitch,
    /// `now` is at or after the switch: does the MX point at the destination, when have
    /// the old answers expired?
    AfterSwitch,
}

/// The verdict of a readiness check of one domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Readiness {
    /// The domain.
    pub domain: String,
    /// The planned (or past) switch.
    #[serde(with = "time::serde::rfc3339")]
    pub switch_at: OffsetDateTime,
    /// When the check ran (the `now` it was given).
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// Before or after the switch.
    pub phase: Phase,
    /// The highest TTL allowed at the switch, in seconds.
    pub max_ttl_secs: u64,
    /// Whether every MX record points at the destination.
    pub mx_at_destination: bool,
    /// Before the switch: the earliest time by which a too-high TTL must be lowered
    /// (`switch_at − that TTL`).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub lower_ttls_by: Option<OffsetDateTime>,
    /// After the switch, with the MX at the destination: when the old MX answers have left
    /// every cache (the time the MX changed + the old TTL).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub old_ttl_expires_at: Option<OffsetDateTime>,
    /// What was found, errors first.
    pub findings: Vec<Finding>,
}

impl Readiness {
    /// Whether nothing needs doing: no warning and no error.
    pub fn is_ready(&self) -> bool {
        self.worst().is_none_or(|s| s < Severity::Warning)
    }

    /// The highest severity among the findings.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// The findings with `code`.
    pub fn with_code(&self, code: FindingCode) -> impl Iterator<Item = &Finding> + '_ {
        self.findings.iter().filter(move |f| f.code == code)
    }

    /// Whether a finding has `code`.
    pub fn has(&self, code: FindingCode) -> bool {
        self.with_code(code).next().is_some()
    }

    /// How long after `now` the old MX answers have expired (zero once they have), if
    /// that time is known.
    pub fn old_ttl_remaining(&self) -> Option<Duration> {
        let left = self.old_ttl_expires_at? - self.checked_at;
        Some(left.try_into().unwrap_or(Duration::ZERO))
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |s| self.findings.iter().filter(|f| f.severity == s).count();
        let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
        let verdict = if self.is_ready() {
            "ready"
        } else {
            "not ready"
        };
        let side = match self.phase {
            Phase::BeforeSwitch => "switch at",
            Phase::AfterSwitch => "switched at",
        };
        write!(
            f,
            "{}: {verdict} ({errors} error{}, {warnings} warning{}), {side} {}",
            self.domain,
            plural(errors),
            plural(warnings),
            rfc3339(self.switch_at)
        )?;
        for finding in &self.findings {
            write!(f, "\n  {finding}")?;
        }
        Ok(())
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A time as RFC 3339 in UTC (`2025-03-01T20:00:00Z`).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// The limits a readiness check applies.
///
/// ```
/// use std::time::Duration;
/// use mailmigrate_core::campaign::dns::ReadinessRules;
/// let rules = ReadinessRules::default().with_max_ttl(Duration::from_secs(600));
/// assert_eq!(rules.max_ttl, Duration::from_secs(600));
/// assert_eq!(ReadinessRules::default().max_ttl, Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReadinessRules {
    /// The highest TTL a record that changes at the switch may have (default 300 s).
    #[serde(with = "crate::campaign::duration")]
    pub max_ttl: Duration,
    /// When the MX was changed to the destination, if known (else the check's `now`).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub mx_changed_at: Option<OffsetDateTime>,
    /// The TTL the old MX had, if known (e.g. from a check before the switch); else the
    /// current MX's TTL, which is right when the TTL was not changed with the records.
    #[serde(
        default,
        with = "crate::campaign::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub old_mx_ttl: Option<Duration>,
    /// How long after the switch the old system is still read (the campaign's grace
    /// period); when set, old MX answers that outlive it are a warning.
    #[serde(
        default,
        with = "crate::campaign::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub grace_period: Option<Duration>,
}

impl Default for ReadinessRules {
    fn default() -> Self {
        Self {
            max_ttl: Duration::from_secs(300),
            mx_changed_at: None,
            old_mx_ttl: None,
            grace_period: None,
        }
    }
}

impl ReadinessRules {
    /// The default rules with the grace period of `plan`.
    pub fn for_plan(plan: &CampaignPlan) -> Self {
        Self::default().with_grace_period(plan.grace_period)
    }

    /// Sets the highest TTL allowed at the switch.
    #[must_use]
    pub fn with_max_ttl(mut self, max_ttl: Duration) -> Self {
        self.max_ttl = max_ttl;
        self
    }

    /// Sets when the MX was changed.
    #[must_use]
    pub fn with_mx_changed_at(mut self, at: OffsetDateTime) -> Self {
        self.mx_changed_at = Some(at);
        self
    }

    /// Sets the TTL the old MX had.
    #[must_use]
    pub fn with_old_mx_ttl(mut self, ttl: Duration) -> Self {
        self.old_mx_ttl = Some(ttl);
        self
    }

    /// Sets the grace period after the switch.
    #[must_use]
    pub fn with_grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = Some(grace);
        self
    }

    /// Judges `records` for a switch at `switch_at`, as of `now`, with mail expected to go
    /// to `expected`.
    ///
    /// Before the switch, every record set with a TTL above [`max_ttl`](Self::max_ttl)
    /// must be lowered by `switch_at − its TTL`: a resolver that fetched it just before the
    /// lowering may keep it that long, and must have let it go by the switch. After the
    /// switch, the MX must point at `expected`, and the old answers leave the caches at
    /// the time the MX changed + the old TTL.
    pub fn evaluate(
        &self,
        records: &DomainRecords,
        switch_at: OffsetDateTime,
        now: OffsetDateTime,
        expected: &DestinationHint,
    ) -> Readiness {
        let phase = if now < switch_at {
            Phase::BeforeSwitch
        } else {
            Phase::AfterSwitch
        };
        let mut out = Readiness {
            domain: records.domain.clone(),
            switch_at,
            checked_at: now,
            phase,
            max_ttl_secs: self.max_ttl.as_secs(),
            mx_at_destination: false,
            lower_ttls_by: None,
            old_ttl_expires_at: None,
            findings: Vec::new(),
        };
        let mut eval = Eval {
            rules: self,
            records,
            switch_at,
            now,
            expected,
            out: &mut out,
        };
        eval.mx();
        eval.spf();
        eval.autodiscover();
        eval.autoconfig();
        out.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        out
    }
}

/// Judges `records` for a switch at `switch_at`, as of `now`, with mail expected to go to
/// `expected`, by the [default rules](ReadinessRules::default) (TTLs ≤ 300 s at the switch;
/// the MX changed at `now`).
pub fn readiness(
    records: &DomainRecords,
    switch_at: OffsetDateTime,
    now: OffsetDateTime,
    expected: &DestinationHint,
) -> Readiness {
    ReadinessRules::default().evaluate(records, switch_at, now, expected)
}

struct Eval<'a> {
    rules: &'a ReadinessRules,
    records: &'a DomainRecords,
    switch_at: OffsetDateTime,
    now: OffsetDateTime,
    expected: &'a DestinationHint,
    out: &'a mut Readiness,
}

impl Eval<'_> {
    fn push(&mut self, finding: Finding) {
        self.out.findings.push(finding);
    }

    fn before(&self) -> bool {
        self.out.phase == Phase::BeforeSwitch
    }

    /// Before the switch: a finding if `answer`'s TTL is too high for it.
    fn ttl<T: Ttl>(&mut self, record: &str, answer: &Answer<T>) {
        if !self.before() {
            return;
        }
        let Some(ttl) = answer.max_ttl() else {
            return;
        };
        let max = self.rules.max_ttl.as_secs();
        if u64::from(ttl) <= max {
            return;
        }
        let lower_by = self.switch_at - Duration::from_secs(u64::from(ttl));
        self.out.lower_ttls_by = Some(self.out.lower_ttls_by.map_or(lower_by, |t| t.min(lower_by)));
        let finding = if lower_by > self.now {
            Finding::new(
                Severity::Warning,
                FindingCode::TtlTooHigh,
                record,
                format!(
                    "{record} TTL is {ttl} s; lower it to ≤ {max} s before {} (the switch at {} minus the old TTL)",
                    rfc3339(lower_by),
                    rfc3339(self.switch_at)
                ),
            )
        } else {
            let cached_until = self.now + Duration::from_secs(u64::from(ttl));
            Finding::new(
                Severity::Error,
                FindingCode::TtlLoweringOverdue,
                record,
                format!(
                    "{record} TTL is {ttl} s; it had to be lowered to ≤ {max} s by {} for the switch at {}: lower it now, and expect resolvers to keep the old answer until {}",
                    rfc3339(lower_by),
                    rfc3339(self.switch_at),
                    rfc3339(cached_until)
                ),
            )
        };
        self.push(finding.at(lower_by));
    }

    fn mx(&mut self) {
        let records = self.records;
        let domain = &records.domain;
        let mx = &records.mx;
        if mx.is_empty() {
            let (code, message) = if mx.status == super::AnswerStatus::NxDomain {
                (
                    FindingCode::DomainMissing,
                    format!("{domain} does not exist (NXDOMAIN)"),
                )
            } else {
                (
                    FindingCode::MxMissing,
                    format!(
                        "{domain} has no MX record: mail for it cannot be delivered to {}",
                        self.expected.label()
                    ),
                )
            };
            self.push(Finding::new(Severity::Error, code, "MX", message));
            return;
        }
        let (at_dest, elsewhere): (Vec<_>, Vec<_>) = records
            .mx_by_preference()
            .into_iter()
            .partition(|r| self.expected.matches_mx(&r.exchange));
        let elsewhere_list = elsewhere
            .iter()
            .map(|r| r.exchange.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let dest = self.expected.label().to_owned();
        if elsewhere.is_empty() {
            self.out.mx_at_destination = true;
            let when = if self.before() { " already" } else { "" };
            self.push(Finding::new(
                Severity::Info,
                FindingCode::MxAtDestination,
                "MX",
                format!("MX{when} points at {dest}"),
            ));
            if !self.before() {
                self.old_ttl();
            }
            return;
        }
        if self.before() {
            self.ttl("MX", mx);
            if !at_dest.is_empty() {
                self.push(Finding::new(
                    Severity::Info,
                    FindingCode::MxPartlyAtDestination,
                    "MX",
                    format!(
                        "MX points partly at {dest} already; still elsewhere: {elsewhere_list}"
                    ),
                ));
            }
        } else if at_dest.is_empty() {
            self.push(Finding::new(
                Severity::Error,
                FindingCode::MxNotAtDestination,
                "MX",
                format!(
                    "MX does not point at {dest} after the switch at {}: it points at {elsewhere_list}",
                    rfc3339(self.switch_at)
                ),
            ));
        } else {
            self.push(Finding::new(
                Severity::Warning,
                FindingCode::MxPartlyAtDestination,
                "MX",
                format!("MX points partly at {dest}; still elsewhere: {elsewhere_list}"),
            ));
        }
    }

    /// After the switch with the MX at the destination: when the old answers expire.
    fn old_ttl(&mut self) {
        let current = self
            .records
            .mx
            .max_ttl()
            .map(|s| Duration::from_secs(u64::from(s)));
        let Some(old_ttl) = self.rules.old_mx_ttl.or(current) else {
            return;
        };
        let changed_at = self.rules.mx_changed_at.unwrap_or(self.now);
        let expires = changed_at + old_ttl;
        self.out.old_ttl_expires_at = Some(expires);
        let finding = if expires > self.now {
            let left = (expires - self.now).whole_seconds();
            Finding::new(
                Severity::Info,
                FindingCode::OldTtlPending,
                "MX",
                format!(
                    "resolvers may hand out the old MX until {} ({left} s from now; old TTL {} s): keep the old system receiving until then",
                    rfc3339(expires),
                    old_ttl.as_secs()
                ),
            )
        } else {
            Finding::new(
                Severity::Info,
                FindingCode::OldTtlExpired,
                "MX",
                format!(
                    "the old MX has expired from every cache (since {})",
                    rfc3339(expires)
                ),
            )
        };
        self.push(finding.at(expires));
        if let Some(grace) = self.rules.grace_period {
            let grace_end = self.switch_at + grace;
            if expires > grace_end {
                self.push(
                    Finding::new(
                        Severity::Warning,
                        FindingCode::OldTtlOutlivesGrace,
                        "MX",
                        format!(
                            "old MX answers may outlive the grace period (it ends {}, they expire {}): mail delivered to the old system after it ends would not be collected",
                            rfc3339(grace_end),
                            rfc3339(expires)
                        ),
                    )
                    .at(expires),
                );
            }
        }
    }

    fn spf(&mut self) {
        let spf = &self.records.spf;
        match spf.records.len() {
            0 => self.push(Finding::new(
                Severity::Warning,
                FindingCode::SpfMissing,
                "SPF",
                format!(
                    "{} has no SPF policy (TXT \"v=spf1 …\"): receivers may treat its mail as spam",
                    self.records.domain
                ),
            )),
            1 => {
                self.ttl("SPF", spf);
                let includes = spf.records[0].includes();
                let missing: Vec<_> = self
                    .expected
                    .spf_includes
                    .iter()
                    .map(|d| normalise_host(d))
                    .filter(|d| !includes.contains(d))
                    .map(|d| format!("include:{d}"))
                    .collect();
                if missing.is_empty() {
                    return;
                }
                let missing = missing.join(" ");
                let (severity, message) = if self.before() {
                    (
                        Severity::Warning,
                        format!("SPF does not include {missing}; add it before the switch so mail sent from {} passes SPF", self.expected.label()),
                    )
                } else {
                    (
                        Severity::Error,
                        format!("SPF does not include {missing}: mail sent from {} fails SPF", self.expected.label()),
                    )
                };
                self.push(Finding::new(
                    severity,
                    FindingCode::SpfMissingInclude,
                    "SPF",
                    message,
                ));
            }
            n => self.push(Finding::new(
                Severity::Error,
                FindingCode::SpfMultiple,
                "SPF",
                format!(
                    "{} has {n} SPF policies: receivers treat that as a permanent error (RFC 7208 §4.5); merge them into one",
                    self.records.domain
                ),
            )),
        }
    }

    fn autodiscover(&mut self) {
        let records = self.records;
        let (host, srv) = (&records.autodiscover, &records.autodiscover_srv);
        if host.is_empty() && srv.is_empty() {
            self.push(Finding::new(
                Severity::Warning,
                FindingCode::AutodiscoverMissing,
                host.name.clone(),
                format!(
                    "neither {} nor {} (SRV) exists: Outlook and phones will not find the mailbox server by themselves",
                    host.name, srv.name
                ),
            ));
            return;
        }
        self.ttl(&host.name, host);
        self.ttl(&format!("{} SRV", srv.name), srv);
        if self.before() || self.expected.autodiscover_suffixes.is_empty() {
            return;
        }
        let targets: Vec<&str> = host
            .records
            .iter()
            .filter_map(|r| r.cname_target())
            .chain(srv.records.iter().map(|r| r.target.as_str()))
            .collect();
        if !targets
            .iter()
            .any(|t| self.expected.matches_autodiscover(t))
        {
            let shown = if targets.is_empty() {
                "an address".to_owned()
            } else {
                targets.join(", ")
            };
            self.push(Finding::new(
                Severity::Warning,
                FindingCode::AutodiscoverNotAtDestination,
                host.name.clone(),
                format!(
                    "autodiscover does not point at {} ({}) after the switch: it points at {shown}",
                    self.expected.label(),
                    self.expected.autodiscover_suffixes.join(", ")
                ),
            ));
        }
    }

    fn autoconfig(&mut self) {
        let autoconfig = &self.records.autoconfig;
        if autoconfig.is_empty() {
            self.push(Finding::new(
                Severity::Info,
                FindingCode::AutoconfigMissing,
                autoconfig.name.clone(),
                format!(
                    "{} does not exist: Thunderbird-style clients guess their settings",
                    autoconfig.name
                ),
            ));
        } else {
            self.ttl(&autoconfig.name, autoconfig);
        }
    }
}

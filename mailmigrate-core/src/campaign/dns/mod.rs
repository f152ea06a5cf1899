//! DNS readiness of a campaign's domains (feature `dns`).
//!
//! Mail follows the MX records, and resolvers keep each answer for its TTL. Before the
//! switch, every record that changes with it (MX, SPF, autodiscover, autoconfig) needs a
//! TTL low enough that caches have let the old answer go by the switch time; after it,
//! the MX must point at the destination, and the old system keeps receiving until the old
//! answers have expired.
//!
//! - [`DnsChecker`] reads a domain's records into [`DomainRecords`], through a
//!   [`DnsResolver`] ([`HickoryResolver`] by default: a given nameserver or the system's);
//! - [`readiness`] (or [`ReadinessRules::evaluate`]) turns them into a [`Readiness`]:
//!   [`Finding`]s with a [`Severity`], the time TTLs must be lowered by, and after the
//!   switch when the old MX expires from caches;
//! - [`DestinationHint`] says where mail should go ([`DestinationHint::microsoft365`],
//!   [`DestinationHint::google_workspace`], [`DestinationHint::hosts`]).
//!
//! Every result is plain data (serde) for a campaign report, and has a `Display` for people.

mod readiness;
mod records;
mod resolver;
mod to_report;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

pub use readiness::{
    readiness, DestinationHint, Finding, FindingCode, Phase, Readiness, ReadinessRules, Severity,
};
pub use records::{
    Answer, AnswerStatus, DomainRecords, HostRecord, HostTarget, MxRecord, SpfRecord, SrvRecord,
    Ttl,
};
pub use resolver::{
    DnsResolver, HickoryResolver, QueryError, RawAnswer, RawRecord, RecordData, RecordKind,
};
pub use to_report::report_state;

use crate::campaign::ValidPlan;
use crate::{Error, ErrorKind, Operation};
use records::normalise_host;

/// Why a domain could not be checked. A missing record or domain is a finding of the
/// check, not an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// No nameserver answered in time.
    #[error("DNS lookup of {name} {kind} for {domain} timed out after {after:?}")]
    Timeout {
        /// The domain being checked.
        domain: String,
        /// The name asked for.
        name: String,
        /// The record type asked for.
        kind: RecordKind,
        /// How long the checker waited.
        after: Duration,
    },
    /// The nameserver refused or failed the query, or could not be reached.
    #[error("DNS lookup of {name} {kind} for {domain} failed: {message}")]
    Lookup {
        /// The domain being checked.
        domain: String,
        /// The name asked for.
        name: String,
        /// The record type asked for.
        kind: RecordKind,
        /// What the resolver said.
        message: String,
    },
    /// The domain is not a domain name.
    #[error("{domain:?} is not a domain name")]
    InvalidDomain {
        /// What was given.
        domain: String,
    },
    /// The resolver could not be set up.
    #[error("the DNS resolver could not be set up: {0}")]
    Setup(String),
}

impl DnsError {
    /// The domain the error is about (empty for [`Setup`](Self::Setup)).
    pub fn domain(&self) -> &str {
        match self {
            Self::Timeout { domain, .. }
            | Self::Lookup { domain, .. }
            | Self::InvalidDomain { domain } => domain,
            Self::Setup(_) => "",
        }
    }

    /// Whether no answer came in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }
}

impl From<DnsError> for Error {
    fn from(e: DnsError) -> Self {
        let kind = match &e {
            DnsError::InvalidDomain { .. } | DnsError::Setup(_) => ErrorKind::ConfigInvalid,
            DnsError::Timeout { .. } | DnsError::Lookup { .. } => ErrorKind::Unavailable,
        };
        let domain = e.domain().to_owned();
        let err = Error::new(kind, e.to_string())
            .with_provider("dns")
            .with_operation(Operation::Plan);
        let err = if domain.is_empty() {
            err
        } else {
            err.with_context("domain", domain)
        };
        if kind == ErrorKind::Unavailable {
            err.temporary()
        } else {
            err
        }
    }
}

/// The default time the checker waits for one answer (both of the resolver's attempts
/// included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`HickoryResolver`] waits for each of its two attempts, by default.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads the DNS records that matter to a mail migration: MX, SPF, autodiscover (CNAME
/// and SRV) and autoconfig, with their TTLs.
///
/// # Example
/// Check a domain against the nameserver at 127.0.0.1:5353 for a switch to Microsoft 365
/// on the evening of 1 March:
/// ```no_run
/// use mailmigrate_core::campaign::dns::{readiness, DestinationHint, DnsChecker};
/// use time::macros::datetime;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let checker = DnsChecker::with_nameserver("127.0.0.1:5353".parse().unwrap())?;
/// let records = checker.check_domain("acme.example").await?;
/// println!("{records}");
/// let verdict = readiness(
///     &records,
///     datetime!(2025-03-01 20:00 UTC),
///     time::OffsetDateTime::now_utc(),
///     &DestinationHint::microsoft365(),
/// );
/// println!("{verdict}");
/// if let Some(by) = verdict.lower_ttls_by {
///     println!("lower the TTLs before {by}");
/// }
/// # Ok::<(), mailmigrate_core::campaign::dns::DnsError>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct DnsChecker {
    resolver: Arc<dyn DnsResolver>,
    timeout: Duration,
}

impl DnsChecker {
    /// A checker asking `resolver`, waiting at most [`DEFAULT_TIMEOUT`] per query.
    pub fn new(resolver: Arc<dyn DnsResolver>) -> Self {
        Self {
            resolver,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A checker asking the nameserver at `address` (UDP, TCP for truncated answers).
    ///
    /// # Errors
    /// [`DnsError::Setup`] if the resolver cannot be built.
    pub fn with_nameserver(address: SocketAddr) -> Result<Self, DnsError> {
        let resolver = HickoryResolver::nameserver(address, ATTEMPT_TIMEOUT).map_err(setup)?;
        Ok(Self::new(Arc::new(resolver)))
    }

    /// A checker asking the system's nameservers (`/etc/resolv.conf` on Unix).
    ///
    /// # Errors
    /// [`DnsError::Setup`] if the system configuration cannot be read.
    pub fn system() -> Result<Self, DnsError> {
        let resolver = HickoryResolver::system(ATTEMPT_TIMEOUT).map_err(setup)?;
        Ok(Self::new(Arc::new(resolver)))
    }

    /// Waits at most `timeout` for each answer (a query still unanswered then is
    /// [`DnsError::Timeout`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The time it waits for each answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Reads `domain`'s MX and SPF records, `autodiscover.<domain>` (CNAME, else A/AAAA),
    /// `_autodiscover._tcp.<domain>` (SRV) and `autoconfig.<domain>` (CNAME, else A/AAAA).
    /// The lookups run at once.
    ///
    /// # Errors
    /// [`DnsError::Timeout`] naming the domain if any lookup went unanswered,
    /// [`DnsError::Lookup`] if a nameserver failed one, [`DnsError::InvalidDomain`] for a
    /// name that is not a domain. A name without records is not an error: its
    /// [`Answer`] says [`NoData`](AnswerStatus::NoData) or
    /// [`NxDomain`](AnswerStatus::NxDomain).
    pub async fn check_domain(&self, domain: &str) -> Result<DomainRecords, DnsError> {
        let domain = normalise_host(domain);
        if !is_domain(&domain) {
            return Err(DnsError::InvalidDomain { domain });
        }
        let checked_at = OffsetDateTime::now_utc();
        let autodiscover = format!("autodiscover.{domain}");
        let srv_name = format!("_autodiscover._tcp.{domain}");
        let autoconfig = format!("autoconfig.{domain}");
        let (mx, txt, autodiscover, srv, autoconfig) = futures::try_join!(
            self.ask(&domain, &domain, RecordKind::Mx),
            self.ask(&domain, &domain, RecordKind::Txt),
            self.host(&domain, &autodiscover),
            self.ask(&domain, &srv_name, RecordKind::Srv),
            self.host(&domain, &autoconfig),
        )?;
        let mx = answer(&domain, mx, |d| match d {
            RecordData::Mx {
                preference,
                exchange,
            } => Some((preference, exchange)),
            _ => None,
        })
        .map(|(p, e), ttl| MxRecord::new(p, e, ttl));
        let spf = answer(&domain, txt, |d| match d {
            RecordData::Txt(t) if SpfRecord::is_spf(&t) => Some(t),
            _ => None,
        })
        .map(SpfRecord::new);
        let srv = answer(&srv_name, srv_answer(srv), Some).map(|d, ttl| match d {
            RecordData::Srv {
                priority,
                weight,
                port,
                target,
            } => SrvRecord::new(priority, weight, port, target, ttl),
            _ => unreachable!("filtered to SRV"),
        });
        Ok(DomainRecords::new(&domain, checked_at)
            .with_mx(mx)
            .with_spf(spf)
            .with_autodiscover(autodiscover)
            .with_autodiscover_srv(srv)
            .with_autoconfig(autoconfig))
    }

    /// Checks each domain in turn (see [`check_domain`](Self::check_domain)).
    ///
    /// # Errors
    /// The first domain's error.
    pub async fn check_domains<I, S>(&self, domains: I) -> Result<Vec<DomainRecords>, DnsError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for domain in domains {
            out.push(self.check_domain(domain.as_ref()).await?);
        }
        Ok(out)
    }

    /// One query, within the timeout, its error naming the domain.
    async fn ask(&self, domain: &str, name: &str, kind: RecordKind) -> Result<RawAnswer, DnsError> {
        let timeout = || DnsError::Timeout {
            domain: domain.to_owned(),
            name: name.to_owned(),
            kind,
            after: self.timeout,
        };
        match tokio::time::timeout(self.timeout, self.resolver.query(name, kind)).await {
            Err(_) | Ok(Err(QueryError::Timeout)) => Err(timeout()),
            Ok(Err(QueryError::Failed(message))) => Err(DnsError::Lookup {
                domain: domain.to_owned(),
                name: name.to_owned(),
                kind,
                message,
            }),
            Ok(Ok(answer)) => Ok(answer),
        }
    }

    /// A host name's CNAME, else its A and AAAA records.
    async fn host(&self, domain: &str, name: &str) -> Result<Answer<HostRecord>, DnsError> {
        let cname = self.ask(domain, name, RecordKind::Cname).await?;
        if let RawAnswer::Records(records) = &cname {
            let records = records
                .iter()
                .filter_map(|r| match &r.data {
                    RecordData::Cname(t) => Some(HostRecord::cname(t, r.ttl)),
                    _ => None,
                })
                .collect();
            return Ok(Answer::found(name, records));
        }
        if cname == RawAnswer::NxDomain {
            return Ok(Answer::none(name, AnswerStatus::NxDomain));
        }
        let (a, aaaa) = futures::try_join!(
            self.ask(domain, name, RecordKind::A),
            self.ask(domain, name, RecordKind::Aaaa),
        )?;
        let mut records = Vec::new();
        let mut status = AnswerStatus::NoData;
        for raw in [a, aaaa] {
            match raw {
                RawAnswer::Records(rs) => {
                    records.extend(rs.into_iter().filter_map(|r| match r.data {
                        RecordData::Address(ip) => Some(HostRecord::address(ip, r.ttl)),
                        _ => None,
                    }))
                }
                RawAnswer::NxDomain => status = AnswerStatus::NxDomain,
                RawAnswer::NoData => {}
            }
        }
        Ok(if records.is_empty() {
            Answer::none(name, status)
        } else {
            Answer::found(name, records)
        })
    }
}

fn setup(e: QueryError) -> DnsError {
    DnsError::Setup(e.to_string())
}

fn srv_answer(raw: RawAnswer) -> RawAnswer {
    match raw {
        RawAnswer::Records(rs) => {
            let rs: Vec<_> = rs
                .into_iter()
                .filter(|r| matches!(r.data, RecordData::Srv { .. }))
                .collect();
            if rs.is_empty() {
                RawAnswer::NoData
            } else {
                RawAnswer::Records(rs)
            }
        }
        other => other,
    }
}

/// An answer's records, kept by `keep`, with their TTLs.
struct Kept<T> {
    name: String,
    status: AnswerStatus,
    records: Vec<(T, u32)>,
}

fn answer<T>(name: &str, raw: RawAnswer, keep: impl Fn(RecordData) -> Option<T>) -> Kept<T> {
    let (status, records) = match raw {
        RawAnswer::Records(rs) => (
            AnswerStatus::Found,
            rs.into_iter()
                .filter_map(|r| Some((keep(r.data)?, r.ttl)))
                .collect(),
        ),
        RawAnswer::NoData => (AnswerStatus::NoData, Vec::new()),
        RawAnswer::NxDomain => (AnswerStatus::NxDomain, Vec::new()),
    };
    Kept {
        name: name.to_owned(),
        status,
        records,
    }
}

impl<T> Kept<T> {
    fn map<R: Ttl>(self, f: impl Fn(T, u32) -> R) -> Answer<R> {
        let records: Vec<R> = self.records.into_iter().map(|(t, ttl)| f(t, ttl)).collect();
        if records.is_empty() {
            let status = match self.status {
                AnswerStatus::Found => AnswerStatus::NoData,
                other => other,
            };
            Answer::none(self.name, status)
        } else {
            Answer::found(self.name, records)
        }
    }
}

/// Whether `name` (normalised) looks like a domain name: dot-separated labels of 1–63
/// letters, digits, hyphens or underscores, 253 characters at most.
fn is_domain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The domains a campaign's mail goes to after the switch: the domain of each pair's
/// destination address, lower case, each once, in plan order. These are the domains whose
/// MX must point at the destination.
///
/// ```
/// use mailmigrate_core::campaign::{Batch, CampaignPlan, DomainRewrite, Strategy};
/// use mailmigrate_core::campaign::dns::destination_domains;
/// use mailmigrate_core::directory::{Account, Inventory};
///
/// let inventory = Inventory::new(vec![Account::new("ann@old.example"), Account::new("bo@old.example")]);
/// let plan = CampaignPlan::new("acme", Strategy::Cutover)
///     .with_rewrite(DomainRewrite::new("old.example", "New.Example"))
///     .with_batch(Batch::new("all", ["ann@old.example", "bo@old.example"]))
///     .validate(&inventory)
///     .unwrap();
/// assert_eq!(destination_domains(&plan), ["new.example"]);
/// ```
pub fn destination_domains(plan: &ValidPlan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for pair in plan.pairs() {
        if let Some((_, domain)) = pair.destination.rsplit_once('@') {
            let domain = normalise_host(domain);
            if !out.contains(&domain) {
                out.push(domain);
            }
        }
    }
    out
}

//! What a DNS check found for one domain: the MX, SPF, autodiscover and autoconfig records
//! with their TTLs, as plain serializable values.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How a lookup of one name and type ended.
///
/// ```
/// use mailmigrate_core::campaign::dns::AnswerStatus;
/// assert_eq!(AnswerStatus::NxDomain.to_string(), "no such name (NXDOMAIN)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AnswerStatus {
    /// The name has records of the asked type.
    Found,
    /// The name exists but has no record of the asked type (NOERROR, empty answer).
    NoData,
    /// The name does not exist (NXDOMAIN).
    NxDomain,
}

impl fmt::Display for AnswerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Found => "found",
            Self::NoData => "no record of that type",
            Self::NxDomain => "no such name (NXDOMAIN)",
        })
    }
}

/// The records one name has of one type (or why it has none).
///
/// ```
/// use mailmigrate_core::campaign::dns::{Answer, MxRecord};
/// let mx = Answer::found("acme.example", vec![
///     MxRecord::new(10, "acme-example.mail.protection.outlook.com", 3600),
///     MxRecord::new(20, "backup.acme.example", 300),
/// ]);
/// assert_eq!(mx.max_ttl(), Some(3600));
/// assert!(Answer::<MxRecord>::none("acme.example", mailmigrate_core::campaign::dns::AnswerStatus::NoData).is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Answer<T> {
    /// The name looked up (without the trailing dot).
    pub name: String,
    /// How the lookup ended.
    pub status: AnswerStatus,
    /// The records found (empty unless `status` is [`Found`](AnswerStatus::Found)).
    #[serde(default = "Vec::new")]
    pub records: Vec<T>,
}

impl<T: Ttl> Answer<T> {
    /// An answer with `records` (with no records it is [`NoData`](AnswerStatus::NoData)).
    pub fn found(name: impl Into<String>, records: Vec<T>) -> Self {
        let status = if records.is_empty() {
            AnswerStatus::NoData
        } else {
            AnswerStatus::Found
        };
        Self {
            name: name.into(),
            status,
            records,
        }
    }

    /// An answer without records, for the reason `status`.
    pub fn none(name: impl Into<String>, status: AnswerStatus) -> Self {
        Self {
            name: name.into(),
            status,
            records: Vec::new(),
        }
    }

    /// Whether it has no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The highest TTL among its records, in seconds: how long a resolver may keep the
    /// set once it has it.
    pub fn max_ttl(&self) -> Option<u32> {
        self.records.iter().map(Ttl::ttl).max()
    }
}

/// A record with a time to live.
pub trait Ttl {
    /// Its TTL in seconds.
    fn ttl(&self) -> u32;
}

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MxRecord {
    /// Lower is tried first.
    pub preference: u16,
    /// The mail exchanger's host name (lower case, without the trailing dot).
    pub exchange: String,
    /// TTL in seconds.
    pub ttl: u32,
}

impl MxRecord {
    /// An MX record (the host name is normalised: lower case, no trailing dot).
    pub fn new(preference: u16, exchange: impl AsRef<str>, ttl: u32) -> Self {
        Self {
            preference,
            exchange: normalise_host(exchange.as_ref()),
            ttl,
        }
    }
}

impl Ttl for MxRecord {
    fn ttl(&self) -> u32 {
        self.ttl
    }
}

/// One SPF policy: a TXT record whose text starts with `v=spf1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SpfRecord {
    /// The policy text (the TXT strings joined).
    pub text: String,
    /// TTL in seconds.
    pub ttl: u32,
}

impl SpfRecord {
    /// An SPF record.
    pub fn new(text: impl Into<String>, ttl: u32) -> Self {
        Self {
            text: text.into(),
            ttl,
        }
    }

    /// Whether `text` is an SPF policy (`v=spf1` followed by the end or a space, any case).
    ///
    /// ```
    /// use mailmigrate_core::campaign::dns::SpfRecord;
    /// assert!(SpfRecord::is_spf("v=spf1 include:_spf.google.com ~all"));
    /// assert!(!SpfRecord::is_spf("v=spf10"));
    /// assert!(!SpfRecord::is_spf("google-site-verification=abc"));
    /// ```
    pub fn is_spf(text: &str) -> bool {
        let t = text.trim_start();
        t.len() >= 6
            && t.is_char_boundary(6)
            && t[..6].eq_ignore_ascii_case("v=spf1")
            && t[6..].chars().next().is_none_or(char::is_whitespace)
    }

    /// The domains its `include:` mechanisms name (any qualifier, lower case).
    ///
    /// ```
    /// use mailmigrate_core::campaign::dns::SpfRecord;
    /// let spf = SpfRecord::new("v=spf1 include:spf.protection.outlook.com ~include:Other.example -all", 300);
    /// assert_eq!(spf.includes(), ["spf.protection.outlook.com", "other.example"]);
    /// ```
    pub fn includes(&self) -> Vec<String> {
        self.text
            .split_whitespace()
            .filter_map(|term| {
                let term = term.trim_start_matches(['+', '-', '~', '?']);
                let (mechanism, domain) = term.split_once(':')?;
                mechanism
                    .eq_ignore_ascii_case("include")
                    .then(|| normalise_host(domain))
            })
            .collect()
    }
}

impl Ttl for SpfRecord {
    fn ttl(&self) -> u32 {
        self.ttl
    }
}

/// What a host name (`autodiscover.<domain>`, `autoconfig.<domain>`) resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HostTarget {
    /// An alias (CNAME) to another host name.
    Cname(String),
    /// An IPv4 or IPv6 address (A or AAAA), when the name has no CNAME.
    Address(std::net::IpAddr),
}

impl fmt::Display for HostTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cname(target) => write!(f, "CNAME {target}"),
            Self::Address(ip) => write!(f, "{} {ip}", if ip.is_ipv4() { "A" } else { "AAAA" }),
        }
    }
}

/// One record of a host name: a CNAME, or an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostRecord {
    /// What it points at.
    pub target: HostTarget,
    /// TTL in seconds.
    pub ttl: u32,
}

impl HostRecord {
    /// A CNAME record to `target` (normalised: lower case, no trailing dot).
    pub fn cname(target: impl AsRef<str>, ttl: u32) -> Self {
        Self {
            target: HostTarget::Cname(normalise_host(target.as_ref())),
            ttl,
        }
    }

    /// An A or AAAA record.
    pub fn address(ip: std::net::IpAddr, ttl: u32) -> Self {
        Self {
            target: HostTarget::Address(ip),
            ttl,
        }
    }

    /// The CNAME target, if it is one.
    pub fn cname_target(&self) -> Option<&str> {
        match &self.target {
            HostTarget::Cname(t) => Some(t),
            HostTarget::Address(_) => None,
        }
    }
}

impl Ttl for HostRecord {
    fn ttl(&self) -> u32 {
        self.ttl
    }
}

/// One SRV record (`_autodiscover._tcp.<domain>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SrvRecord {
    /// Lower is tried first.
    pub priority: u16,
    /// Share among records of the same priority.
    pub weight: u16,
    /// The service's port.
    pub port: u16,
    /// The service's host (lower case, without the trailing dot).
    pub target: String,
    /// TTL in seconds.
    pub ttl: u32,
}

impl SrvRecord {
    /// An SRV record (the target is normalised: lower case, no trailing dot).
    pub fn new(priority: u16, weight: u16, port: u16, target: impl AsRef<str>, ttl: u32) -> Self {
        Self {
            priority,
            weight,
            port,
            target: normalise_host(target.as_ref()),
            ttl,
        }
    }
}

impl Ttl for SrvRecord {
    fn ttl(&self) -> u32 {
        self.ttl
    }
}

/// Everything a check read for one domain.
///
/// Built by [`DnsChecker::check_domain`](super::DnsChecker::check_domain), or by hand (for
/// a report, or to test [`readiness`](super::readiness) without a network).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DomainRecords {
    /// The domain (lower case, without the trailing dot).
    pub domain: String,
    /// When the records were read.
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// The domain's MX records.
    pub mx: Answer<MxRecord>,
    /// The domain's SPF policies (TXT records starting `v=spf1`; other TXT records are left
    /// out). More than one is a mistake that [`readiness`](super::readiness) reports.
    pub spf: Answer<SpfRecord>,
    /// `autodiscover.<domain>`: its CNAME, else its addresses.
    pub autodiscover: Answer<HostRecord>,
    /// `_autodiscover._tcp.<domain>` SRV records.
    pub autodiscover_srv: Answer<SrvRecord>,
    /// `autoconfig.<domain>` (Thunderbird-style client configuration): its CNAME, else its
    /// addresses.
    pub autoconfig: Answer<HostRecord>,
}

impl DomainRecords {
    /// Records of `domain` with nothing found (NXDOMAIN everywhere), read at `checked_at`;
    /// fill the fields in with the `with_*` setters.
    ///
    /// ```
    /// use mailmigrate_core::campaign::dns::{Answer, DomainRecords, MxRecord};
    /// use time::macros::datetime;
    /// let records = DomainRecords::new("Acme.Example.", datetime!(2025-03-01 12:00 UTC))
    ///     .with_mx(Answer::found("acme.example", vec![MxRecord::new(0, "mx.acme.example", 300)]));
    /// assert_eq!(records.domain, "acme.example");
    /// assert_eq!(records.mx.max_ttl(), Some(300));
    /// ```
    pub fn new(domain: impl AsRef<str>, checked_at: OffsetDateTime) -> Self {
        let domain = normalise_host(domain.as_ref());
        let nx = AnswerStatus::NxDomain;
        Self {
            mx: Answer::none(domain.clone(), nx),
            spf: Answer::none(domain.clone(), nx),
            autodiscover: Answer::none(format!("autodiscover.{domain}"), nx),
            autodiscover_srv: Answer::none(format!("_autodiscover._tcp.{domain}"), nx),
            autoconfig: Answer::none(format!("autoconfig.{domain}"), nx),
            domain,
            checked_at,
        }
    }

    /// Sets the MX answer.
    #[must_use]
    pub fn with_mx(mut self, mx: Answer<MxRecord>) -> Self {
        self.mx = mx;
        self
    }

    /// Sets the SPF answer.
    #[must_use]
    pub fn with_spf(mut self, spf: Answer<SpfRecord>) -> Self {
        self.spf = spf;
        self
    }

    /// Sets the `autodiscover.<domain>` answer.
    #[must_use]
    pub fn with_autodiscover(mut self, autodiscover: Answer<HostRecord>) -> Self {
        self.autodiscover = autodiscover;
        self
    }

    /// Sets the `_autodiscover._tcp.<domain>` SRV answer.
    #[must_use]
    pub fn with_autodiscover_srv(mut self, srv: Answer<SrvRecord>) -> Self {
        self.autodiscover_srv = srv;
        self
    }

    /// Sets the `autoconfig.<domain>` answer.
    #[must_use]
    pub fn with_autoconfig(mut self, autoconfig: Answer<HostRecord>) -> Self {
        self.autoconfig = autoconfig;
        self
    }

    /// The MX records, most preferred first.
    pub fn mx_by_preference(&self) -> Vec<&MxRecord> {
        let mut mx: Vec<_> = self.mx.records.iter().collect();
        mx.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
        mx
    }

    /// The highest TTL of every record read (how long the slowest cache may keep any of
    /// them), if any was found.
    pub fn max_ttl(&self) -> Option<Duration> {
        [
            self.mx.max_ttl(),
            self.spf.max_ttl(),
            self.autodiscover.max_ttl(),
            self.autodiscover_srv.max_ttl(),
            self.autoconfig.max_ttl(),
        ]
        .into_iter()
        .flatten()
        .max()
        .map(|s| Duration::from_secs(u64::from(s)))
    }
}

impl fmt::Display for DomainRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "DNS records of {}:", self.domain)?;
        write!(f, "  MX:")?;
        if self.mx.is_empty() {
            writeln!(f, " {}", self.mx.status)?;
        } else {
            writeln!(f)?;
            for mx in self.mx_by_preference() {
                writeln!(
                    f,
                    "    {} {} (TTL {} s)",
                    mx.preference, mx.exchange, mx.ttl
                )?;
            }
        }
        write!(f, "  SPF:")?;
        if self.spf.is_empty() {
            writeln!(f, " {}", self.spf.status)?;
        } else {
            writeln!(f)?;
            for spf in &self.spf.records {
                writeln!(f, "    \"{}\" (TTL {} s)", spf.text, spf.ttl)?;
            }
        }
        hosts(f, &self.autodiscover)?;
        write!(f, "  {} SRV:", self.autodiscover_srv.name)?;
        if self.autodiscover_srv.is_empty() {
            writeln!(f, " {}", self.autodiscover_srv.status)?;
        } else {
            writeln!(f)?;
            for srv in &self.autodiscover_srv.records {
                writeln!(
                    f,
                    "    {} {} {} {} (TTL {} s)",
                    srv.priority, srv.weight, srv.port, srv.target, srv.ttl
                )?;
            }
        }
        hosts(f, &self.autoconfig)
    }
}

fn hosts(f: &mut fmt::Formatter<'_>, answer: &Answer<HostRecord>) -> fmt::Result {
    write!(f, "  {}:", answer.name)?;
    if answer.is_empty() {
        return writeln!(f, " {}", answer.status);
    }
    writeln!(f)?;
    for r in &answer.records {
        writeln!(f, "    {} (TTL {} s)", r.target, r.ttl)?;
    }
    Ok(())
}

/// A host name as compared here: trimmed, lower case, without the trailing dot.
pub(crate) fn normalise_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

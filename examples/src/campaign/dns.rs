//! `migrate dns`: each domain's MX, SPF, autodiscover and autoconfig records with their
//! TTLs, checked against the planned switch — before it, whether TTLs are low enough and
//! by when they must be lowered; after it, whether MX points at the destination and when
//! the old answers have expired from caches.

use std::net::SocketAddr;
use std::time::Duration;

use mailmigrate_core::campaign::dns::{
    destination_domains, report_state, DestinationHint, DnsChecker, Readiness, ReadinessRules,
    Severity,
};
use mailmigrate_core::campaign::report::DnsDomainState;
use mailmigrate_core::{Error, ErrorKind, Operation, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::open::Campaign;
use super::output::StepOutput;

/// The campaign file's `[dns]` table.
///
/// ```toml
/// [dns]
/// switch_at = "2026-12-12T20:00:00Z"   # when MX moves
/// destination = "microsoft365"         # or "google_workspace", or hosts = [...]
/// domains = ["new.example"]            # default: the plan's destination domains
/// nameserver = "127.0.0.1:5353"        # default: the system's resolver
/// max_ttl = 300                        # seconds (default 300)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSettings {
    /// When the MX records move to the destination.
    #[serde(with = "time::serde::rfc3339")]
    pub switch_at: OffsetDateTime,
    /// `microsoft365`, `google_workspace`, or absent with `hosts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The destination's MX hosts, when it is neither of the known ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// The domains checked (default: the plan's destination domains).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// A nameserver to ask instead of the system's resolver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nameserver: Option<SocketAddr>,
    /// The highest TTL in seconds a record that changes at the switch may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttl: Option<u64>,
    /// When MX was actually changed, once it was.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub mx_changed_at: Option<OffsetDateTime>,
}

impl DnsSettings {
    fn hint(&self) -> Result<DestinationHint> {
        match self.destination.as_deref() {
            Some("microsoft365") => Ok(DestinationHint::microsoft365()),
            Some("google_workspace" | "google") => Ok(DestinationHint::google_workspace()),
            None if !self.hosts.is_empty() => Ok(DestinationHint::hosts(self.hosts.clone())),
            other => Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!(
                    "[dns] destination {other:?}: use \"microsoft365\", \"google_workspace\" \
                     or list the destination's MX hosts in `hosts`"
                ),
            )
            .with_operation(Operation::Plan)),
        }
    }
}

/// Checks every domain; `None` without a `[dns]` table.
///
/// # Errors
/// `ConfigInvalid` for a bad `[dns]` table; `Unavailable` when the resolver does not
/// answer (naming the domain).
pub async fn check(
    campaign: &Campaign,
    now: OffsetDateTime,
) -> Result<Option<Vec<(Readiness, DnsDomainState)>>> {
    let Some(settings) = &campaign.file.dns else {
        return Ok(None);
    };
    let hint = settings.hint()?;
    let checker = match settings.nameserver {
        Some(addr) => DnsChecker::with_nameserver(addr)?,
        None => DnsChecker::system()?,
    };
    let domains = if settings.domains.is_empty() {
        destination_domains(&campaign.plan)
    } else {
        settings.domains.clone()
    };
    let mut rules = ReadinessRules::for_plan(campaign.plan.plan());
    if let Some(secs) = settings.max_ttl {
        rules = rules.with_max_ttl(Duration::from_secs(secs));
    }
    if let Some(at) = settings.mx_changed_at {
        rules = rules.with_mx_changed_at(at);
    }
    let mut out = Vec::new();
    for records in checker.check_domains(&domains).await? {
        let ready = rules.evaluate(&records, settings.switch_at, now, &hint);
        let state = report_state(&records, &ready);
        out.push((ready, state));
    }
    Ok(Some(out))
}

/// `dns`: the readiness of every domain.
///
/// Exit code: 0 when every domain is ready; 2 with warnings only (act before the date they
/// name, then check again); 5 with an error (the records must change first).
///
/// # Errors
/// As [`check`]; `ConfigInvalid` without a `[dns]` table.
pub async fn dns(campaign: &Campaign) -> Result<StepOutput> {
    let checked = check(campaign, OffsetDateTime::now_utc())
        .await?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::ConfigInvalid,
                "the campaign file has no [dns] table (switch_at, destination)",
            )
            .with_operation(Operation::Plan)
        })?;
    let mut text = String::new();
    let mut code = 0;
    for (ready, _) in &checked {
        text.push_str(&format!("{ready}\n"));
        code = code.max(match ready.worst() {
            Some(Severity::Error) => 5,
            Some(Severity::Warning) => 2,
            _ => 0,
        });
    }
    let json = json!({
        "domains": checked.iter().map(|(r, _)| r).collect::<Vec<_>>(),
    });
    Ok(StepOutput::new(text, json, code))
}

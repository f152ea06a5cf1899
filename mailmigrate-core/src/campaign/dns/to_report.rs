//! A domain's records and readiness as the campaign report shows them.

use super::{DomainRecords, Readiness, Severity};
use crate::campaign::report::{DnsDomainState, DnsRecordState};

/// The report's view of one domain: each record found with its TTL, marked not ok where
/// a finding names it, and every warning or error as a line.
///
/// ```
/// use mailmigrate_core::campaign::dns::{readiness, Answer, DestinationHint, DomainRecords, MxRecord};
/// use mailmigrate_core::campaign::dns::report_state;
/// use time::macros::datetime;
/// let now = datetime!(2026-12-01 12:00 UTC);
/// let records = DomainRecords::new("new.example", now)
///     .with_mx(Answer::found("new.example", vec![MxRecord::new(10, "mx.old.example", 86_400)]));
/// let ready = readiness(&records, datetime!(2026-12-10 20:00 UTC), now, &DestinationHint::microsoft365());
/// let state = report_state(&records, &ready);
/// assert_eq!(state.records[0].kind, "MX");
/// assert_eq!(state.records[0].ttl, Some(86_400));
/// assert!(!state.warnings.is_empty());
/// ```
pub fn report_state(records: &DomainRecords, readiness: &Readiness) -> DnsDomainState {
    // A finding names a record set by its type or its owner name.
    let flagged = |kind: &str, name: &str| {
        readiness.findings.iter().any(|f| {
            f.severity > Severity::Info
                && (f.record.eq_ignore_ascii_case(kind) || f.record.eq_ignore_ascii_case(name))
        })
    };
    let mut state = DnsDomainState::new(&records.domain);
    let mut add = |kind: &str, name: &str, value: String, ttl: u32| {
        let mut r = DnsRecordState::new(kind, name, value).with_ttl(ttl);
        r.ok = !flagged(kind, name);
        state.records.push(r);
    };
    for mx in records.mx_by_preference() {
        add(
            "MX",
            &records.mx.name,
            format!("{} {}", mx.preference, mx.exchange),
            mx.ttl,
        );
    }
    for spf in &records.spf.records {
        add("SPF", &records.spf.name, spf.text.clone(), spf.ttl);
    }
    for h in &records.autodiscover.records {
        add(
            "autodiscover",
            &records.autodiscover.name,
            h.target.to_string(),
            h.ttl,
        );
    }
    for s in &records.autodiscover_srv.records {
        let value = format!("{} {} {} {}", s.priority, s.weight, s.port, s.target);
        add("SRV", &records.autodiscover_srv.name, value, s.ttl);
    }
    for h in &records.autoconfig.records {
        add(
            "autoconfig",
            &records.autoconfig.name,
            h.target.to_string(),
            h.ttl,
        );
    }
    for f in readiness
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
    {
        state
            .warnings
            .push(format!("{:?}: {}", f.severity, f.message));
    }
    state
}

//! DNS readiness checks against an authoritative in-memory zone served by hickory-server
//! on 127.0.0.1 (an ephemeral port, UDP and TCP): never the internet.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailmigrate_core::campaign::dns::*;
use mailmigrate_core::testkit::dns::{RunningZone, Zone};
use time::macros::datetime;
use time::OffsetDateTime;
use tokio::net::UdpSocket;

const DOMAIN: &str = "acme.test";
const SWITCH: OffsetDateTime = datetime!(2025-03-01 20:00 UTC);

/// The usual records of a domain about to move to Microsoft 365: MX still at the old
/// provider, SPF already including both, autodiscover and autoconfig aliases; every TTL
/// `ttl`.
fn moving_to_m365(ttl: u32) -> Zone {
    Zone::new(DOMAIN)
        .mx(10, "mx1.oldmail.test.", ttl)
        .mx(20, "mx2.oldmail.test.", ttl)
        .txt(
            "v=spf1 include:spf.oldmail.test include:spf.protection.outlook.com -all",
            ttl,
        )
        .txt("google-site-verification=not-an-spf-record", ttl)
        .cname("autodiscover", "autodiscover.outlook.com.", ttl)
        .autodiscover_srv("autodiscover.outlook.com.", ttl)
        .cname("autoconfig", "autoconfig.oldmail.test.", ttl)
}

async fn check(dns: &RunningZone) -> DomainRecords {
    dns.checker().check_domain(DOMAIN).await.unwrap()
}

fn codes(r: &Readiness) -> Vec<FindingCode> {
    r.findings.iter().map(|f| f.code).collect()
}

#[tokio::test]
async fn low_ttls_are_ready_and_every_record_is_read() {
    let dns = moving_to_m365(300).serve().await;
    let records = check(&dns).await;

    assert_eq!(records.domain, DOMAIN);
    let mx = records.mx_by_preference();
    assert_eq!(mx.len(), 2);
    assert_eq!(
        (mx[0].preference, mx[0].exchange.as_str(), mx[0].ttl),
        (10, "mx1.oldmail.test", 300)
    );
    assert_eq!(mx[1].exchange, "mx2.oldmail.test");
    assert_eq!(
        records.spf.records.len(),
        1,
        "the verification TXT is not SPF"
    );
    assert_eq!(
        records.spf.records[0].includes(),
        ["spf.oldmail.test", "spf.protection.outlook.com"]
    );
    assert_eq!(records.spf.records[0].ttl, 300);
    assert_eq!(
        records.autodiscover.records,
        [HostRecord::cname("autodiscover.outlook.com", 300)]
    );
    assert_eq!(
        records.autodiscover_srv.records,
        [SrvRecord::new(0, 0, 443, "autodiscover.outlook.com", 300)]
    );
    assert_eq!(
        records.autoconfig.records[0].cname_target(),
        Some("autoconfig.oldmail.test")
    );
    assert_eq!(records.max_ttl(), Some(Duration::from_secs(300)));

    let now = SWITCH - Duration::from_secs(2 * 86_400);
    let verdict = readiness(&records, SWITCH, now, &DestinationHint::microsoft365());
    assert_eq!(verdict.phase, Phase::BeforeSwitch);
    assert!(verdict.is_ready(), "{verdict}");
    assert_eq!(verdict.lower_ttls_by, None);
    assert!(!verdict.mx_at_destination);
    assert!(verdict
        .findings
        .iter()
        .all(|f| f.severity == Severity::Info));

    let shown = records.to_string();
    assert!(shown.contains("10 mx1.oldmail.test (TTL 300 s)"), "{shown}");
    assert!(shown.contains("CNAME autodiscover.outlook.com"), "{shown}");
}

#[tokio::test]
async fn a_high_ttl_must_be_lowered_by_the_switch_minus_the_old_ttl() {
    let dns = moving_to_m365(300)
        .mx(30, "mx3.oldmail.test.", 86_400)
        .serve()
        .await;
    let records = check(&dns).await;
    // The highest TTL of the set counts: a resolver may keep the set that long.
    assert_eq!(records.mx.max_ttl(), Some(86_400));

    let now = SWITCH - Duration::from_secs(3 * 86_400);
    let verdict = readiness(&records, SWITCH, now, &DestinationHint::microsoft365());
    assert!(!verdict.is_ready());
    let lower_by = datetime!(2025-02-28 20:00 UTC);
    assert_eq!(verdict.lower_ttls_by, Some(lower_by));
    let finding = verdict.with_code(FindingCode::TtlTooHigh).next().unwrap();
    assert_eq!(finding.severity, Severity::Warning);
    assert_eq!(finding.record, "MX");
    assert_eq!(finding.at, Some(lower_by));
    assert!(
        finding
            .message
            .starts_with("MX TTL is 86400 s; lower it to ≤ 300 s before 2025-02-28T20:00:00Z"),
        "{}",
        finding.message
    );
    assert!(
        verdict
            .to_string()
            .contains("not ready (0 errors, 1 warning)"),
        "{verdict}"
    );

    // Half a day before the switch it is too late: caches keep the old MX past it.
    let late = SWITCH - Duration::from_secs(12 * 3600);
    let verdict = readiness(&records, SWITCH, late, &DestinationHint::microsoft365());
    let overdue = verdict
        .with_code(FindingCode::TtlLoweringOverdue)
        .next()
        .unwrap();
    assert_eq!(overdue.severity, Severity::Error);
    assert!(
        overdue.message.contains("until 2025-03-02T08:00:00Z"),
        "{}",
        overdue.message
    );

    // A looser limit accepts it.
    let loose = ReadinessRules::default()
        .with_max_ttl(Duration::from_secs(86_400))
        .evaluate(&records, SWITCH, now, &DestinationHint::microsoft365());
    assert!(loose.is_ready(), "{loose}");

    // Reports embed the verdict as JSON and read it back.
    let json = serde_json::to_string(&verdict).unwrap();
    assert!(json.contains("\"ttl_lowering_overdue\""), "{json}");
    let back: Readiness = serde_json::from_str(&json).unwrap();
    assert_eq!(back, verdict);
    let json = serde_json::to_string(&records).unwrap();
    assert_eq!(
        serde_json::from_str::<DomainRecords>(&json).unwrap(),
        records
    );
}

#[tokio::test]
async fn after_the_switch_an_mx_still_at_the_old_provider_is_an_error() {
    let dns = moving_to_m365(300).serve().await;
    let records = check(&dns).await;
    let now = SWITCH + Duration::from_secs(3600);
    let verdict = readiness(&records, SWITCH, now, &DestinationHint::microsoft365());
    assert_eq!(verdict.phase, Phase::AfterSwitch);
    let finding = verdict
        .with_code(FindingCode::MxNotAtDestination)
        .next()
        .unwrap();
    assert_eq!(finding.severity, Severity::Error);
    assert!(
        finding
            .message
            .contains("mx1.oldmail.test, mx2.oldmail.test"),
        "{}",
        finding.message
    );
    assert!(!verdict.mx_at_destination);
    assert_eq!(verdict.old_ttl_expires_at, None);
    // Autodiscover already points at Microsoft: no finding about it.
    assert!(!verdict.has(FindingCode::AutodiscoverNotAtDestination));

    // Half moved: a warning naming what is left.
    let dns = moving_to_m365(300)
        .mx(0, "acme-test.mail.protection.outlook.com.", 300)
        .serve()
        .await;
    let verdict = readiness(
        &check(&dns).await,
        SWITCH,
        now,
        &DestinationHint::microsoft365(),
    );
    assert!(verdict.has(FindingCode::MxPartlyAtDestination), "{verdict}");
    assert!(!verdict.mx_at_destination);
}

#[tokio::test]
async fn an_mx_at_the_destination_is_ok_and_says_when_old_ttls_expire() {
    let dns = Zone::new(DOMAIN)
        .mx(0, "acme-test.mail.protection.outlook.com.", 3600)
        .txt("v=spf1 include:spf.protection.outlook.com -all", 3600)
        .cname("autodiscover", "autodiscover.outlook.com.", 3600)
        .cname("autoconfig", "autoconfig.new.test.", 3600)
        .serve()
        .await;
    let records = check(&dns).await;
    let hint = DestinationHint::microsoft365();

    // The MX changed at the switch; the old MX had a TTL of 2 h.
    let now = SWITCH + Duration::from_secs(600);
    let verdict = ReadinessRules::default()
        .with_mx_changed_at(SWITCH)
        .with_old_mx_ttl(Duration::from_secs(7200))
        .evaluate(&records, SWITCH, now, &hint);
    assert!(verdict.is_ready(), "{verdict}");
    assert!(verdict.mx_at_destination);
    assert!(verdict.has(FindingCode::MxAtDestination));
    let expires = datetime!(2025-03-01 22:00 UTC);
    assert_eq!(verdict.old_ttl_expires_at, Some(expires));
    assert_eq!(
        verdict.old_ttl_remaining(),
        Some(Duration::from_secs(7200 - 600))
    );
    let pending = verdict
        .with_code(FindingCode::OldTtlPending)
        .next()
        .unwrap();
    assert_eq!(pending.at, Some(expires));
    assert!(
        pending.message.contains("6600 s from now"),
        "{}",
        pending.message
    );

    // Without what the caller knows: changed now, the current TTL.
    let verdict = readiness(&records, SWITCH, now, &hint);
    assert_eq!(
        verdict.old_ttl_expires_at,
        Some(now + Duration::from_secs(3600))
    );

    // Long after: expired.
    let later = SWITCH + Duration::from_secs(86_400);
    let verdict = ReadinessRules::default()
        .with_mx_changed_at(SWITCH)
        .evaluate(&records, SWITCH, later, &hint);
    assert!(verdict.has(FindingCode::OldTtlExpired), "{verdict}");
    assert_eq!(verdict.old_ttl_remaining(), Some(Duration::ZERO));

    // A grace period shorter than the old TTL leaves mail behind.
    let verdict = ReadinessRules::default()
        .with_mx_changed_at(SWITCH)
        .with_old_mx_ttl(Duration::from_secs(86_400))
        .with_grace_period(Duration::from_secs(3600))
        .evaluate(&records, SWITCH, now, &hint);
    assert!(verdict.has(FindingCode::OldTtlOutlivesGrace), "{verdict}");

    // Google Workspace is not the destination of this MX.
    let verdict = readiness(&records, SWITCH, now, &DestinationHint::google_workspace());
    assert!(verdict.has(FindingCode::MxNotAtDestination));
    assert!(verdict.has(FindingCode::SpfMissingInclude));
}

#[tokio::test]
async fn missing_autodiscover_is_a_finding_not_an_error() {
    let dns = Zone::new(DOMAIN)
        .mx(10, "mx1.oldmail.test.", 300)
        .txt("v=spf1 include:spf.protection.outlook.com -all", 300)
        .a("autoconfig", Ipv4Addr::new(192, 0, 2, 10), 300)
        .serve()
        .await;
    let records = check(&dns).await;
    assert_eq!(records.autodiscover.status, AnswerStatus::NxDomain);
    assert_eq!(records.autodiscover_srv.status, AnswerStatus::NxDomain);
    // autoconfig has an address, not an alias.
    assert_eq!(
        records.autoconfig.records,
        [HostRecord::address("192.0.2.10".parse().unwrap(), 300)]
    );

    let verdict = readiness(
        &records,
        SWITCH,
        SWITCH - Duration::from_secs(86_400),
        &DestinationHint::microsoft365(),
    );
    let finding = verdict
        .with_code(FindingCode::AutodiscoverMissing)
        .next()
        .unwrap();
    assert_eq!(finding.severity, Severity::Warning);
    assert!(
        finding.message.contains("autodiscover.acme.test"),
        "{}",
        finding.message
    );
    assert!(!verdict.has(FindingCode::AutoconfigMissing));
}

#[tokio::test]
async fn two_spf_records_are_an_error() {
    let dns = moving_to_m365(300)
        .txt("v=spf1 include:_spf.google.com ~all", 300)
        .serve()
        .await;
    let records = check(&dns).await;
    assert_eq!(records.spf.records.len(), 2);
    let verdict = readiness(
        &records,
        SWITCH,
        SWITCH - Duration::from_secs(86_400),
        &DestinationHint::microsoft365(),
    );
    let finding = verdict.with_code(FindingCode::SpfMultiple).next().unwrap();
    assert_eq!(finding.severity, Severity::Error);
    assert_eq!(
        verdict.findings[0].code,
        FindingCode::SpfMultiple,
        "errors first"
    );
    assert!(
        finding.message.contains("2 SPF policies"),
        "{}",
        finding.message
    );
}

#[tokio::test]
async fn a_name_that_does_not_exist_is_a_finding() {
    let dns = moving_to_m365(300).serve().await;
    let records = dns.checker().check_domain("ghost.acme.test").await.unwrap();
    assert_eq!(records.mx.status, AnswerStatus::NxDomain);
    assert!(records.spf.is_empty());
    let verdict = readiness(&records, SWITCH, SWITCH, &DestinationHint::microsoft365());
    assert_eq!(codes(&verdict)[0], FindingCode::DomainMissing, "{verdict}");

    // A name that exists without an MX: no data.
    let dns = Zone::new(DOMAIN).txt("v=spf1 -all", 300).serve().await;
    let records = check(&dns).await;
    assert_eq!(records.mx.status, AnswerStatus::NoData);
    let verdict = readiness(&records, SWITCH, SWITCH, &DestinationHint::microsoft365());
    assert!(verdict.has(FindingCode::MxMissing), "{verdict}");

    // Not a domain name at all.
    let err = dns
        .checker()
        .check_domain("not a domain")
        .await
        .unwrap_err();
    assert!(matches!(err, DnsError::InvalidDomain { .. }), "{err}");
}

#[tokio::test]
async fn a_nameserver_that_never_answers_times_out_naming_the_domain() {
    // Bound, never read: queries go unanswered (TCP to the port is refused).
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let address = udp.local_addr().unwrap();
    let checker = DnsChecker::with_nameserver(address)
        .unwrap()
        .with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = checker.check_domain("Slow.Acme.Test").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.domain(), "slow.acme.test");
    assert!(
        err.to_string().contains("for slow.acme.test timed out"),
        "{err}"
    );
    let err = mailmigrate_core::Error::from(err);
    assert!(err.is_temporary());
    assert_eq!(err.context("domain"), Some("slow.acme.test"));
    drop(udp);
}

/// The checks run on any [`DnsResolver`], without a network.
#[tokio::test]
async fn a_resolver_of_ones_own_answers_the_checker() {
    #[derive(Debug)]
    struct Fixed;

    #[async_trait::async_trait]
    impl DnsResolver for Fixed {
        async fn query(&self, name: &str, kind: RecordKind) -> Result<RawAnswer, QueryError> {
            Ok(match (name, kind) {
                ("acme.test", RecordKind::Mx) => RawAnswer::Records(vec![RawRecord::new(
                    60,
                    RecordData::Mx {
                        preference: 1,
                        exchange: "ASPMX.L.GOOGLE.COM.".to_owned(),
                    },
                )]),
                ("acme.test", RecordKind::Txt) => RawAnswer::Records(vec![RawRecord::new(
                    60,
                    RecordData::Txt("v=spf1 include:_spf.google.com ~all".to_owned()),
                )]),
                // The name exists (it has other records), without CNAME or addresses.
                ("autodiscover.acme.test", _) => RawAnswer::NoData,
                _ => RawAnswer::NxDomain,
            })
        }
    }

    let records = DnsChecker::new(Arc::new(Fixed))
        .check_domain("acme.test")
        .await
        .unwrap();
    assert_eq!(records.mx.records[0].exchange, "aspmx.l.google.com");
    assert_eq!(records.autodiscover.status, AnswerStatus::NoData);
    let verdict = readiness(
        &records,
        SWITCH,
        SWITCH + Duration::from_secs(60),
        &DestinationHint::google_workspace(),
    );
    assert!(verdict.mx_at_destination, "{verdict}");
    assert!(!verdict.has(FindingCode::SpfMissingInclude));
    assert!(verdict.has(FindingCode::AutodiscoverMissing));
}

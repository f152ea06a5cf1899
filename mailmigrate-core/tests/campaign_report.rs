//! The campaign report: a small campaign on in-memory stores (one mailbox with an item
//! the destination refuses, one whose stores cannot be opened with HTML in its reason),
//! its JSON, the escaping of its HTML, and the page as headless Chromium renders it: the
//! charts are there with a bar per mailbox, and every figure marked `data-field` equals
//! the JSON value its pointer names.
//!
//! Chromium is `/usr/bin/chromium` or `MAILMIGRATE_CHROMIUM`. Without it the rendering test
//! is skipped with a message, unless `MAILMIGRATE_TEST_REQUIRE` contains `chromium`, which
//! makes it fail.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mailmigrate_core::campaign::report::*;
use mailmigrate_core::campaign::*;
use mailmigrate_core::directory::{Account, Inventory, MailboxStats};
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::verify::VerifyReport;
use mailmigrate_core::{Destination, Error, ErrorKind, FolderPath, MessageId, MessageMeta};
use mailmigrate_core::{RawMessage, Result};
use serde_json::Value;
use time::macros::datetime;

const EVIL: &str = "<script>alert('pwned')</script> & \"quotes\"";
const USERS: [&str; 4] = [
    "ann@old.example",
    "bo@old.example",
    "cy@old.example",
    "dee@old.example",
];

fn message(folder: &mailmigrate_core::FolderId, n: u32, body: usize) -> RawMessage {
    let bytes = format!(
        "Message-ID: <m{n}@test>\r\nSubject: m {n}\r\nDate: Mon, 1 Jan 2018 10:00:00 +0000\r\n\r\n{}\r\n",
        "x".repeat(body)
    );
    RawMessage::new(
        MessageMeta::new(MessageId::new(n.to_string()), folder.clone()),
        Bytes::from(bytes),
    )
}

/// A source mailbox with `n` small messages, and one of 5000 bytes when `big`.
async fn source(n: u32, big: bool) -> MemoryStore {
    let store = MemoryStore::new("old");
    let f = store
        .ensure_folder(&FolderPath::parse("INBOX", '/').unwrap(), None)
        .await
        .unwrap()
        .id;
    let mut batch: Vec<RawMessage> = (0..n)
        .map(|i| message(&f, i, 40 * (i as usize + 1)))
        .collect();
    if big {
        batch.push(message(&f, 999, 5000));
    }
    for r in store.append(&f, batch).await.unwrap() {
        r.unwrap();
    }
    store
}

/// Runs the campaign to its end (`cy` fails, the others are validated) and builds the
/// report with every optional section.
async fn report() -> CampaignReport {
    let inventory = Inventory::new(vec![
        Account::new(USERS[0]).with_stats(MailboxStats::new().with_messages(3).with_bytes(4096)),
        Account::new(USERS[1]).with_name("Bo <b>Bold</b> & Co"),
        Account::new(USERS[2]),
        Account::new(USERS[3]),
        Account::new("left@old.example"),
    ]);
    let plan = CampaignPlan::new("acme <2025>", Strategy::Staged)
        .with_rewrite(DomainRewrite::new("old.example", "new.example"))
        .with_grace_period(Duration::ZERO)
        .with_batch(Batch::new("pilot", [USERS[0]]).with_pilot(true))
        .with_batch(Batch::new("rest", [USERS[1], USERS[2], USERS[3]]))
        .validate(&inventory)
        .unwrap();
    let sources = [
        source(3, false).await,
        source(2, true).await,
        source(1, false).await,
        source(5, false).await,
    ];
    // The destinations refuse messages over 2000 bytes: `bo`'s big one is skipped.
    let mut caps = MemoryStore::capabilities();
    caps.append_max_size = Some(2000);
    let dests: Vec<MemoryStore> = USERS
        .iter()
        .map(|_| MemoryStore::with_capabilities("new", caps))
        .collect();
    let stores = move |pair: &MailboxPair| -> Result<MailboxStores> {
        let i = USERS.iter().position(|u| *u == pair.key()).unwrap();
        if i == 2 {
            return Err(Error::new(ErrorKind::Unauthenticated, EVIL));
        }
        Ok(MailboxStores::new(
            Arc::new(sources[i].clone()),
            Arc::new(dests[i].clone()),
        ))
    };
    let tick = Arc::new(AtomicI64::new(0));
    let clock = move || {
        datetime!(2025-03-01 20:00 UTC)
            + time::Duration::seconds(tick.fetch_add(1, Ordering::SeqCst))
    };
    let runner = CampaignRunner::open(plan, Arc::new(MemoryState::new()), Arc::new(stores))
        .await
        .unwrap()
        .with_clock(clock);
    let pass = runner.run().await.unwrap();
    assert_eq!(pass.failed.len(), 1, "{pass:?}");
    for batch in ["pilot", "rest"] {
        runner.finalise(batch).await.unwrap();
    }
    let clean = VerificationResult::from_verify(USERS[0], &VerifyReport::default());
    CampaignReport::collect(&runner)
        .await
        .unwrap()
        .with_generated_at(datetime!(2025-03-02 08:00 UTC))
        .with_inventory(&inventory)
        .with_item_failures(
            "DEE@old.example",
            [ItemIssue::new(
                USERS[3],
                "Contacts",
                "c-1",
                ErrorKind::InvalidMessage,
                "<img src=x onerror=alert(1)> vCard unreadable",
            )],
        )
        .with_verification([
            clean,
            VerificationResult::new(USERS[1], 1, vec!["INBOX: 1 missing <b>".into()]),
        ])
        .with_permissions(PermissionReview::new(
            4,
            vec![PermissionDifference::new(
                USERS[1],
                "ann@new.example",
                "send_as",
                "missing at the destination",
            )
            .with_folder("<Inbox>")],
        ))
        .with_dns(vec![DnsDomainState::new("new.example")
            .with_record(
                DnsRecordState::new("MX", "new.example", "10 mx.new.example").with_ttl(300),
            )
            .with_record(
                DnsRecordState::new("TXT", "new.example", "v=spf1 -all")
                    .with_ttl(3600)
                    .with_expected("v=spf1 include:new.example -all"),
            )
            .with_warning("SPF <does not> include the new provider")])
        .with_probes(vec![
            ProbeCheck::new(
                "ann@new.example",
                "probe-1@mailmigrate",
                "2026-01-01T00:00:00Z",
            )
            .with_found_after(1.25)
            .with_deleted(true),
            ProbeCheck::new(
                "bo@new.example",
                "probe-2@mailmigrate",
                "2026-01-01T00:00:01Z",
            )
            .with_error("not found <in> INBOX within 120s after the submission"),
        ])
}

fn json(r: &CampaignReport) -> Value {
    serde_json::from_str(&r.to_json().unwrap()).unwrap()
}

#[tokio::test]
async fn the_json_holds_status_volumes_durations_and_every_item_left_behind() {
    let r = report().await;
    let j = json(&r);
    assert_eq!(j["campaign"], "acme <2025>");
    assert_eq!(j["generated_at"], "2025-03-02T08:00:00Z");
    assert_eq!(j["plan"]["strategy"], "staged");
    assert_eq!(j["plan"]["pilot"], "pilot");
    assert_eq!(j["plan"]["batches"][1]["members"][2], USERS[3]);
    assert!(j["plan"]["plan_hash"].as_str().unwrap().len() > 8);
    assert_eq!(j["inventory"]["accounts"], 5);
    assert_eq!(j["inventory"]["in_campaign"], 4);
    assert_eq!(j["inventory"]["messages"], 3);
    assert_eq!(
        j["inventory"]["mailboxes"][1]["name"],
        "Bo <b>Bold</b> & Co"
    );

    let t = &j["totals"];
    assert_eq!(t["mailboxes"], 4);
    assert_eq!(t["stages"]["validated"], 3);
    assert_eq!(t["stages"]["failed"], 1);
    assert_eq!(t["items_copied"], 3 + 2 + 5);
    assert_eq!(t["items_skipped"], 1 + 1);
    assert_eq!(t["items_failed"], 0);
    assert!(t["duration_secs"].as_f64().unwrap() > 0.0);
    assert!(t["throughput"]["items_per_sec"].as_f64().unwrap() > 0.0);
    let bytes: u64 = r.mailboxes.iter().map(|m| m.volume.bytes_copied).sum();
    assert_eq!(t["bytes_copied"], bytes);
    assert!(bytes > 0);

    let ann = &j["mailboxes"][0];
    assert_eq!(
        (ann["mailbox"].as_str(), ann["stage"].as_str()),
        (Some(USERS[0]), Some("validated"))
    );
    assert_eq!(ann["volume"]["items_copied"], 3);
    assert!(ann["duration_secs"].as_f64().unwrap() > 0.0);
    assert!(ann["total_secs"].as_f64().unwrap() >= ann["duration_secs"].as_f64().unwrap());
    assert!(ann["throughput"]["bytes_per_sec"].as_f64().unwrap() > 0.0);
    let bo = &j["mailboxes"][1];
    assert_eq!(bo["stage"], "validated");
    assert_eq!(
        (
            bo["counts"]["refused"].as_u64(),
            bo["volume"]["items_skipped"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let cy = &j["mailboxes"][2];
    assert_eq!(cy["stage"], "failed");
    assert_eq!(cy["failure"]["kind"], "Unauthenticated");
    assert!(cy["failure"]["message"].as_str().unwrap().contains(EVIL));
    assert!(cy["synced_at"].is_null() && cy["throughput"].is_null());

    let items = j["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(
        (items[0]["mailbox"].as_str(), items[0]["outcome"].as_str()),
        (Some(USERS[1]), Some("skipped"))
    );
    assert_eq!(items[0]["kind"], "MessageTooLarge");
    assert!(
        !items[0]["item"].as_str().unwrap().is_empty()
            && !items[0]["folder"].as_str().unwrap().is_empty()
    );
    assert!(items[0]["reason"]
        .as_str()
        .unwrap()
        .contains("more than the destination accepts"));
    assert_eq!(items[1]["mailbox"], USERS[3]);

    let batches = j["batches"].as_array().unwrap();
    assert_eq!(
        (batches[0]["name"].as_str(), batches[0]["pilot"].as_bool()),
        (Some("pilot"), Some(true))
    );
    assert_eq!(batches[1]["stages"]["failed"], 1);
    assert_eq!(batches[1]["items_skipped"], 2);
    assert!(
        batches[1]["synced_at"].is_null(),
        "one of its mailboxes never synced"
    );
    assert!(batches[0]["duration_secs"].as_f64().unwrap() > 0.0);

    let timeline = j["timeline"].as_array().unwrap();
    let last = timeline.last().unwrap();
    assert_eq!(
        (
            last["synced"].as_u64(),
            last["validated"].as_u64(),
            last["failed"].as_u64()
        ),
        (Some(3), Some(3), Some(1))
    );
    let synced: Vec<u64> = timeline
        .iter()
        .map(|p| p["synced"].as_u64().unwrap())
        .collect();
    assert!(synced.windows(2).all(|w| w[0] <= w[1]), "{synced:?}");

    assert_eq!(j["verification"][1]["differences"], 1);
    assert_eq!(j["verification"][0]["clean"], true);
    assert_eq!(j["permissions"]["differences"][0]["folder"], "<Inbox>");
    assert_eq!(j["dns"][0]["records"][1]["ok"], false);
    assert_eq!(j["dns"][0]["records"][0]["ttl"], 300);

    let back: CampaignReport = serde_json::from_value(j).unwrap();
    assert_eq!(back, r, "the JSON reads back to the same report");
}

#[tokio::test]
async fn the_page_is_self_contained_and_escapes_everything_user_supplied() {
    let r = report().await;
    let html = r.to_html();
    for bad in [
        "<script",
        "<img",
        "<b>",
        "<Inbox>",
        "<does not>",
        "<2025>",
        "onerror=alert(1)>",
    ] {
        assert!(!html.contains(bad), "{bad} is not escaped");
    }
    assert!(html
        .contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    assert!(html.contains("Bo &lt;b&gt;Bold&lt;/b&gt; &amp; Co"));
    for external in [
        "http:", "https:", "src=\"", "href=", "url(", "@import", "<link",
    ] {
        assert!(
            !html.contains(external),
            "the page refers outside itself: {external}"
        );
    }
    assert_eq!(html.matches("<rect class=\"bar").count(), USERS.len());
    let dir = tempfile::tempdir().unwrap();
    let (h, j) = r.write_to(dir.path().join("out")).unwrap();
    assert_eq!(std::fs::read_to_string(&h).unwrap(), html);
    let back: CampaignReport = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
    assert_eq!(back, r);
    assert_eq!(h.file_name().unwrap(), "acme__2025_-report.html");
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("MAILMIGRATE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

fn run_chromium(bin: &Path, profile: &Path, args: &[String]) -> std::process::Output {
    let out = std::process::Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The text of an HTML serialisation with its entities decoded.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Every element with a `data-field`: its attributes and its text up to the next tag.
fn fields(dom: &str) -> Vec<(String, Option<String>, Option<String>, String)> {
    let tag = regex::Regex::new(r#"<[a-zA-Z][a-zA-Z0-9]*\s([^>]*data-field="[^"]*"[^>]*)>([^<]*)"#)
        .unwrap();
    let attr = |attrs: &str, name: &str| {
        regex::Regex::new(&format!(r#"(?:^|\s){name}="([^"]*)""#))
            .unwrap()
            .captures(attrs)
            .map(|c| unescape(&c[1]))
    };
    tag.captures_iter(dom)
        .map(|c| {
            (
                attr(&c[1], "data-field").unwrap(),
                attr(&c[1], "data-value"),
                attr(&c[1], "data-format"),
                unescape(&c[2]),
            )
        })
        .collect()
}

/// The JSON value as the page's `data-value` carries it.
fn as_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

#[tokio::test]
async fn chromium_renders_the_page_and_its_figures_match_the_json() {
    let Some(bin) = chromium() else {
        let required = std::env::var("MAILMIGRATE_TEST_REQUIRE")
            .map(|v| {
                v.split(',')
                    .any(|s| s.trim().eq_ignore_ascii_case("chromium"))
            })
            .unwrap_or(false);
        assert!(!required, "chromium is not installed (set MAILMIGRATE_CHROMIUM or apt-get install chromium) but MAILMIGRATE_TEST_REQUIRE asks for it");
        eprintln!("skipping: chromium not found at /usr/bin/chromium (or MAILMIGRATE_CHROMIUM)");
        return;
    };
    let r = report().await;
    let dir = tempfile::tempdir().unwrap();
    let (html, json_path) = r.write_to(dir.path()).unwrap();
    let j: Value = serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    let url = format!("file://{}", html.display());
    let profile = tempfile::tempdir().unwrap();
    let out = run_chromium(&bin, profile.path(), &["--dump-dom".into(), url.clone()]);
    let dom = String::from_utf8(out.stdout).unwrap();

    // It rendered: the report's root, both charts, a bar per mailbox, every table.
    assert!(
        dom.contains("id=\"campaign-report\""),
        "no report in the DOM:\n{dom:.2000}"
    );
    assert!(dom.contains("<svg id=\"chart-volume\""));
    assert!(dom.contains("<svg id=\"chart-progress\""));
    let bars = regex::Regex::new(r#"<rect class="bar[^"]*"[^>]*data-mailbox="([^"]*)""#).unwrap();
    let barred: Vec<String> = bars.captures_iter(&dom).map(|c| unescape(&c[1])).collect();
    assert_eq!(barred, USERS, "one bar per mailbox, in plan order");
    assert_eq!(
        dom.matches("<path class=\"line-").count(),
        3,
        "three progress lines"
    );
    assert!(!dom.contains("<script"), "an escaped reason stays text");
    assert!(dom.contains("&lt;script&gt;alert('pwned')&lt;/script&gt;"));

    // Every figure equals its JSON value.
    let found = fields(&dom);
    assert!(found.len() > 100, "only {} figures", found.len());
    for (pointer, value, format, text) in &found {
        let expected = j
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{pointer} is not in the JSON"));
        let value = value
            .as_deref()
            .unwrap_or_else(|| panic!("{pointer} has no data-value"));
        assert_eq!(value, as_value(expected), "{pointer}");
        if format.is_none() {
            let shown = match expected {
                Value::Null => "null".to_owned(),
                Value::Number(_) => text.replace(',', ""),
                _ => text.clone(),
            };
            let want = if expected.is_null() {
                "null".to_owned()
            } else {
                as_value(expected)
            };
            assert_eq!(shown, want, "text of {pointer}");
        }
    }
    for pointer in [
        "/totals/mailboxes",
        "/totals/items_copied",
        "/totals/bytes_copied",
        "/totals/items_skipped",
        "/totals/throughput/items_per_sec",
        "/mailboxes/1/volume/items_skipped",
        "/mailboxes/2/failure/message",
        "/items/0/reason",
        "/items/1/reason",
        "/verification/1/differences",
        "/permissions/differences/0/folder",
        "/dns/0/records/0/ttl",
        "/dns/0/warnings/0",
        "/timeline/0/synced",
    ] {
        assert!(
            found.iter().any(|f| f.0 == pointer),
            "{pointer} is not on the page"
        );
    }

    // And it paints.
    let png = dir.path().join("report.png");
    run_chromium(
        &bin,
        profile.path(),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,2000".into(),
            "--hide-scrollbars".into(),
            url,
        ],
    );
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert!(bytes.len() > 10_000, "screenshot of {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    if let Some(keep) = std::env::var_os("MAILMIGRATE_REPORT_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}

#[tokio::test]
async fn probes_are_in_the_json_and_on_the_page() {
    let r = report().await;
    let j = json(&r);
    assert_eq!(j["probes"][0]["found_after_secs"], 1.25);
    assert_eq!(j["probes"][0]["ok"], true);
    assert_eq!(j["probes"][1]["ok"], false);
    let html = r.to_html();
    assert!(html.contains("id=\"probes\""));
    assert!(html.contains("data-field=\"/probes/1/error\""));
    assert!(html.contains("not found &lt;in&gt; INBOX"));
    let back: CampaignReport = serde_json::from_value(j).unwrap();
    assert_eq!(back.probes, r.probes);
}

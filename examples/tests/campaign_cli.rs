//! The campaign steps of the `migrate` binary end to end on local stores: the bundled demo
//! (twice: the second run moves nothing), every step over a campaign file (plan, run,
//! status, delta with new mail, switch, validate), a mailbox that fails alone and is
//! retried, pause and resume, a plan with mistakes, JSON output and the per-run log.

use std::path::{Path, PathBuf};
use std::process::Output;

use mailmigrate_core::store::MaildirStore;
use mailmigrate_core::{Destination, FolderPath, MessageId, MessageMeta, RawMessage};

mod common;
use common::{migrate, stdout};

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", stdout(o)))
}

/// Messages in every folder of the Maildir at `root`.
fn count_mail(root: &Path) -> usize {
    let mut n = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() && (name == "cur" || name == "new") {
                n += std::fs::read_dir(&p).unwrap().count();
            } else if p.is_dir() && name != "tmp" {
                dirs.push(p);
            }
        }
    }
    n
}

async fn add_mail(root: &Path, tag: &str, range: std::ops::Range<u32>) {
    let store = MaildirStore::open(root).unwrap();
    let inbox = store
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id;
    let batch = range
        .map(|i| {
            RawMessage::new(
                MessageMeta::new(MessageId::new(i.to_string()), inbox.clone()),
                bytes::Bytes::from(format!(
                    "Message-ID: <{tag}.{i}@campaign.test>\r\nFrom: a@old.example\r\nSubject: {i}\r\n\r\nbody {i}\r\n"
                )),
            )
        })
        .collect();
    for r in store.append(&inbox, batch).await.unwrap() {
        r.unwrap();
    }
}

const USERS: [&str; 3] = ["ann", "bo", "cy"];

/// A campaign of three Maildir mailboxes with 5 messages each: pilot ann, then bo and cy.
async fn campaign_dir(dir: &Path) -> PathBuf {
    let mut csv = String::from("address,name\n");
    for u in USERS {
        add_mail(&dir.join("old").join(format!("{u}@old.example")), u, 0..5).await;
        csv.push_str(&format!("{u}@old.example,{u}\n"));
    }
    std::fs::write(dir.join("accounts.csv"), csv).unwrap();
    let file = dir.join("acme.toml");
    std::fs::write(
        &file,
        r#"
[inventory]
accounts = "accounts.csv"
[stores]
source = "maildir://{dir}/old/{mailbox}"
destination = "maildir://{dir}/new/{destination}"
[plan]
name = "acme"
strategy = { kind = "coexistence", interval = "1h" }
grace_period = "0s"
addresses = { rewrites = [{ from = "old.example", to = "new.example" }] }
backup = { url = "maildir://{dir}/backup/{mailbox}" }
[[plan.batches]]
name = "pilot"
pilot = true
members = ["ann@old.example"]
[[plan.batches]]
name = "rest"
members = ["bo@old.example", "cy@old.example"]
"#,
    )
    .unwrap();
    file
}

#[test]
fn the_demo_campaign_completes_and_a_second_run_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(&["--demo-dir", "demo"], dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Run: 6 synced"), "{text}");
    assert!(text.contains("6 validated, 0 failed"), "{text}");
    assert!(
        text.contains("6 of 6 mailboxes equal at the destination"),
        "{text}"
    );
    assert!(
        text.contains("Result: campaign complete: 6 mailboxes validated (exit 0)"),
        "{text}"
    );
    let root = dir.path().join("demo/campaign");
    for (address, _, _) in mailmigrate_examples::campaign::DEMO_MAILBOXES {
        let dest = address.replace("old.example", "new.example");
        let copied = count_mail(&root.join("new").join(&dest));
        let backed_up = count_mail(&root.join("backup").join(address));
        assert_eq!(
            copied,
            count_mail(&root.join("old").join(address)),
            "{dest}"
        );
        assert_eq!(backed_up, copied, "{address}: backed up in full");
    }
    let html = root.join("report/demo-report.html");
    assert!(
        text.trim_end()
            .ends_with(&format!("Report: {}", html.display())),
        "{text}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    for (address, _, _) in mailmigrate_examples::campaign::DEMO_MAILBOXES {
        assert!(
            page.contains(&format!("data-mailbox=\"{address}\"")),
            "{address} charted"
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("report/demo-report.json")).unwrap())
            .unwrap();
    assert_eq!(report["mailboxes"].as_array().unwrap().len(), 6);
    assert!(
        report["verification"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["clean"] == true),
        "{report}"
    );
    for f in ["inventory.json", "inventory.csv", "preflight.csv"] {
        assert!(root.join("report").join(f).exists(), "{f}");
    }
    let logs: Vec<_> = std::fs::read_dir(root.join("logs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(logs.len(), 1);
    let log = std::fs::read_to_string(logs[0].path()).unwrap();
    assert!(
        log.contains("Run: 6 synced"),
        "the log holds what was printed:\n{log}"
    );

    let again = migrate(&["--demo-dir", "demo"], dir.path());
    let text = stdout(&again);
    assert_eq!(again.status.code(), Some(0), "{text}");
    assert!(text.contains("Using the demo campaign"), "{text}");
    assert!(text.contains("0 messages written"), "{text}");
    assert!(
        !text.contains("Run: 6 synced"),
        "nothing runs twice:\n{text}"
    );
    assert_eq!(
        std::fs::read_dir(root.join("logs")).unwrap().count(),
        2,
        "one log per run"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_step_over_a_campaign_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = campaign_dir(dir.path()).await;
    let f = file.to_str().unwrap();
    let cwd = dir.path();

    let plan = migrate(&["plan", "--campaign", f, "--json"], cwd);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));
    let plan = json(&plan);
    assert_eq!(plan["pairs"].as_array().unwrap().len(), 3);
    assert_eq!(plan["pairs"][1]["destination"], "bo@new.example");

    let inv = migrate(&["inventory", "--campaign", f, "--headers", "--json"], cwd);
    assert_eq!(inv.status.code(), Some(0), "{}", stdout(&inv));
    let inv = json(&inv);
    let boxes = inv["survey"]["mailboxes"].as_array().unwrap();
    assert_eq!(boxes.len(), 3);
    // No Date header in these messages: the preflight names each one.
    assert_eq!(boxes[0]["preflight"].as_array().unwrap().len(), 5);

    let run = migrate(&["run", "--campaign", f], cwd);
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run));
    assert!(stdout(&run).contains("Run: 3 synced"), "{}", stdout(&run));
    for u in USERS {
        assert_eq!(count_mail(&cwd.join(format!("new/{u}@new.example"))), 5);
        assert_eq!(count_mail(&cwd.join(format!("backup/{u}@old.example"))), 5);
    }

    // Coexistence: mail keeps arriving at the source; a delta pass collects it.
    add_mail(&cwd.join("old/bo@old.example"), "late", 0..2).await;
    let delta = migrate(&["delta", "--campaign", f, "--json"], cwd);
    assert_eq!(delta.status.code(), Some(0), "{}", stdout(&delta));
    assert_eq!(json(&delta)["report"]["copied"], 2);
    assert_eq!(count_mail(&cwd.join("new/bo@new.example")), 7);

    let status = migrate(&["status", "--campaign", f, "--json"], cwd);
    let st = json(&status);
    let stages: Vec<&str> = st["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["synced", "synced", "synced"]);

    // Mail that lands on the old system after the switch is collected in the grace pass.
    add_mail(&cwd.join("old/cy@old.example"), "straggler", 0..1).await;
    let switch = migrate(&["switch", "--campaign", f, "pilot", "rest"], cwd);
    assert_eq!(switch.status.code(), Some(0), "{}", stdout(&switch));
    assert!(
        stdout(&switch).contains("3 validated"),
        "{}",
        stdout(&switch)
    );
    assert_eq!(count_mail(&cwd.join("new/cy@new.example")), 6);

    let validate = migrate(&["validate", "--campaign", f], cwd);
    assert_eq!(validate.status.code(), Some(0), "{}", stdout(&validate));
    assert!(stdout(&validate).contains("3 of 3 mailboxes equal"));
    // Four steps logged one file each, beside the state.
    let logs = std::fs::read_dir(cwd.join("logs")).unwrap().count();
    assert!(logs >= 7, "one log per run: {logs}");
    assert!(cwd.join("acme.sqlite").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mailbox_that_fails_fails_alone_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let file = campaign_dir(dir.path()).await;
    let f = file.to_str().unwrap();
    let cwd = dir.path();
    // bo's destination cannot be created: a file sits where its Maildir would go.
    std::fs::create_dir_all(cwd.join("new")).unwrap();
    std::fs::write(cwd.join("new/bo@new.example"), b"not a directory").unwrap();

    let run = migrate(&["run", "--campaign", f], cwd);
    let text = stdout(&run);
    assert_ne!(run.status.code(), Some(0), "{text}");
    assert!(text.contains("Run: 2 synced"), "{text}");
    assert!(text.contains("failed: bo@old.example"), "{text}");
    assert_eq!(
        count_mail(&cwd.join("new/cy@new.example")),
        5,
        "the others go on"
    );

    let status = json(&migrate(&["status", "--campaign", f, "--json"], cwd));
    let bo = &status["mailboxes"][1];
    assert_eq!(bo["stage"], "failed");
    assert!(
        bo["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("bo@new.example"),
        "{bo}"
    );

    std::fs::remove_file(cwd.join("new/bo@new.example")).unwrap();
    let retry = migrate(&["retry-failed", "--campaign", f], cwd);
    assert_eq!(retry.status.code(), Some(0), "{}", stdout(&retry));
    assert_eq!(count_mail(&cwd.join("new/bo@new.example")), 5);
    for u in ["ann", "cy"] {
        assert_eq!(
            count_mail(&cwd.join(format!("new/{u}@new.example"))),
            5,
            "{u}: nothing twice"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_holds_every_mailbox_until_resume() {
    let dir = tempfile::tempdir().unwrap();
    let file = campaign_dir(dir.path()).await;
    let f = file.to_str().unwrap();
    let cwd = dir.path();
    assert_eq!(
        migrate(&["pause", "--campaign", f], cwd).status.code(),
        Some(0)
    );
    let run = migrate(&["run", "--campaign", f, "--json"], cwd);
    assert_eq!(json(&run)["report"]["paused"].as_array().unwrap().len(), 3);
    assert_eq!(
        count_mail(&cwd.join("new")),
        0,
        "nothing moves while paused"
    );
    assert_eq!(
        migrate(&["resume", "--campaign", f], cwd).status.code(),
        Some(0)
    );
    let run = migrate(&["run", "--campaign", f], cwd);
    assert_eq!(run.status.code(), Some(0), "{}", stdout(&run));
    assert_eq!(count_mail(&cwd.join("new")), 15);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_with_mistakes_names_every_one_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = campaign_dir(dir.path()).await;
    // A cutover without a pilot: both runners take on the same mailboxes at once.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace(
            r#"strategy = { kind = "coexistence", interval = "1h" }"#,
            r#"strategy = { kind = "cutover" }"#,
        )
        .replace("pilot = true\n", "")
        .replace(
            r#"members = ["bo@old.example", "cy@old.example"]"#,
            r#"members = ["bo@old.example", "nobody@old.example", "ann@old.example"]"#,
        );
    std::fs::write(&file, text).unwrap();
    let out = migrate(&["run", "--campaign", file.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nobody@old.example"), "{err}");
    assert!(
        err.contains("ann@old.example"),
        "both problems at once: {err}"
    );
    assert!(!dir.path().join("new").exists(), "nothing moved");
}

/// Appends a `[dns]` table to the campaign file.
fn with_dns(file: &Path, table: &str) {
    let mut text = std::fs::read_to_string(file).unwrap();
    // The table must come before [plan]'s array tables: put it first.
    text = format!("{table}\n{text}");
    std::fs::write(file, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_step_says_which_ttls_to_lower_and_when_mx_has_moved() {
    use mailmigrate_core::testkit::dns::Zone;
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let file = campaign_dir(cwd).await;

    // Before the switch: MX still at the old provider with a day-long TTL.
    let before = Zone::new("new.example")
        .mx(10, "mx.oldhost.test.", 86_400)
        .txt("v=spf1 include:spf.oldhost.test -all", 3600)
        .serve()
        .await;
    let switch = time::OffsetDateTime::now_utc() + time::Duration::days(3);
    let switch = switch
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let table = |ns: std::net::SocketAddr, at: &str| {
        format!(
            "[dns]\nswitch_at = \"{at}\"\nhosts = [\"mx.new.example\"]\nnameserver = \"{ns}\"\n"
        )
    };
    let original = std::fs::read_to_string(&file).unwrap();
    with_dns(&file, &table(before.address(), &switch));
    let f = file.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let cwd = std::path::PathBuf::from(&f).parent().unwrap().to_path_buf();
        migrate(&["dns", "--campaign", &f], &cwd)
    })
    .await
    .unwrap();
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "warnings: act, then check again:\n{text}"
    );
    assert!(text.contains("new.example: not ready"), "{text}");
    assert!(text.contains("86400"), "names the TTL to lower:\n{text}");

    // After the switch: MX at the destination with a low TTL.
    let after = Zone::new("new.example")
        .mx(10, "mx.new.example.", 300)
        .txt("v=spf1 include:spf.new.example -all", 300)
        .serve()
        .await;
    std::fs::write(&file, &original).unwrap();
    with_dns(&file, &table(after.address(), "2025-01-01T00:00:00Z"));
    let f = file.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let cwd = std::path::PathBuf::from(&f).parent().unwrap().to_path_buf();
        let dns = migrate(&["dns", "--campaign", &f, "--json"], &cwd);
        let report = migrate(&["report", "--campaign", &f, "--no-verify"], &cwd);
        (dns, report)
    })
    .await
    .unwrap();
    let (dns, report) = out;
    let j = json(&dns);
    assert_eq!(j["domains"][0]["mx_at_destination"], true, "{j}");
    assert_eq!(report.status.code(), Some(0), "{}", stdout(&report));
    let page = std::fs::read_to_string(cwd.join("report/acme-report.html")).unwrap();
    assert!(
        page.contains("mx.new.example"),
        "the report shows the DNS state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_can_come_from_a_tenant_directory() {
    use mailmigrate_graph::emulator::{Emulator, TenantUser};
    let emu = Emulator::builder()
        .user(TenantUser::member("ann@old.example").with_name("Ann"))
        .user(TenantUser::member("bo@old.example").with_alias("robert@old.example"))
        .user(TenantUser::shared("cy@old.example"))
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let file = campaign_dir(cwd).await;
    let enc = |s: String| {
        s.replace('%', "%25")
            .replace(':', "%3A")
            .replace('/', "%2F")
    };
    let url = format!(
        "graph://directory@{}?client_id={}&secret_env=MM_CAMPAIGN_GRAPH_SECRET&tls=plaintext&graph_url={}&authority_url={}",
        emu.tenant(),
        emu.client_id(),
        enc(emu.graph_url()),
        enc(emu.base_url())
    );
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "accounts = \"accounts.csv\"",
        &format!("directory = \"{url}\""),
    );
    std::fs::write(&file, text).unwrap();
    let f = file.to_str().unwrap().to_owned();
    let (cwd2, secret) = (cwd.to_path_buf(), emu.client_secret());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(["plan", "--campaign", &f, "--json"])
            .current_dir(&cwd2)
            .env("MM_CAMPAIGN_GRAPH_SECRET", secret)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = json(&out);
    let pairs: Vec<&str> = plan["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["source"]["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        pairs,
        ["ann@old.example", "bo@old.example", "cy@old.example"]
    );
    assert_eq!(
        plan["pairs"][1]["source"]["aliases"][0]["address"], "robert@old.example",
        "{plan}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_repeat_keeps_collecting_new_mail_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().to_path_buf();
    let file = campaign_dir(&cwd).await;
    let f = file.to_str().unwrap().to_owned();
    assert_eq!(
        migrate(&["run", "--campaign", &f], &cwd).status.code(),
        Some(0)
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(["delta", "--campaign", &f, "--repeat", "--interval", "1"])
        .current_dir(&cwd)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Mail arrives while it runs: each batch is collected by a later pass.
    for round in 0..3 {
        add_mail(
            &cwd.join("old/ann@old.example"),
            &format!("live{round}"),
            0..2,
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "it keeps going while mailboxes coexist"
    );
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let text = stdout(&out);
    assert!(
        text.matches("Next delta pass in 1 s").count() >= 3,
        "{text}"
    );
    assert_eq!(count_mail(&cwd.join("new/ann@new.example")), 11, "{text}");
}

/// The shared PostgreSQL state of the tests, when one is configured.
fn postgres_url() -> Option<String> {
    let url = std::env::var("MAILMIGRATE_TEST_POSTGRES_URL").ok();
    if url.is_none() {
        let required = std::env::var("MAILMIGRATE_TEST_REQUIRE")
            .is_ok_and(|v| v.split(',').any(|s| s.trim() == "postgres"));
        assert!(
            !required,
            "MAILMIGRATE_TEST_POSTGRES_URL is not set but postgres is required"
        );
        eprintln!("skipping: no PostgreSQL server (MAILMIGRATE_TEST_POSTGRES_URL)");
    }
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_machines_sharing_a_postgres_state_copy_every_message_once() {
    let Some(url) = postgres_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().to_path_buf();
    let file = campaign_dir(&cwd).await;
    for u in ["dee", "ed", "flo", "gus", "hal"] {
        add_mail(&cwd.join("old").join(format!("{u}@old.example")), u, 0..40).await;
    }
    let mut csv = std::fs::read_to_string(cwd.join("accounts.csv")).unwrap();
    for u in ["dee", "ed", "flo", "gus", "hal"] {
        csv.push_str(&format!("{u}@old.example,{u}\n"));
    }
    std::fs::write(cwd.join("accounts.csv"), csv).unwrap();
    let schema = format!("cli_{}", std::process::id());
    // A cutover without a pilot: both runners take on the same mailboxes at once.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace(r#"strategy = { kind = "coexistence", interval = "1h" }"#, r#"strategy = { kind = "cutover" }"#)
        .replace("pilot = true\n", "")
        .replace(
        r#"members = ["bo@old.example", "cy@old.example"]"#,
        r#"members = ["bo@old.example", "cy@old.example", "dee@old.example", "ed@old.example", "flo@old.example", "gus@old.example", "hal@old.example"]"#,
    );
    std::fs::write(&file, format!("state = \"{url}?schema={schema}\"\n{text}")).unwrap();
    let f = file.to_str().unwrap().to_owned();
    // Two runners at once, as on two machines: each mailbox is driven by one of them.
    let spawn = |machine: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(["run", "--campaign", &f, "--json"])
            .current_dir(&cwd)
            .env("MAILMIGRATE_WORKER", machine)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("machine-a"), spawn("machine-b"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        assert!(
            matches!(o.status.code(), Some(0 | 2)),
            "{}{}",
            stdout(o),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let synced = |o: &Output| json(o)["report"]["synced"].as_array().map_or(0, Vec::len);
    eprintln!(
        "runner a synced {}, runner b synced {}",
        synced(&a),
        synced(&b)
    );
    assert!(
        synced(&a) > 0 && synced(&b) > 0,
        "both runners drove mailboxes"
    );
    // Whatever one left waiting (busy with the other), a last run finishes.
    let last = migrate(&["run", "--campaign", &f], &cwd);
    assert_eq!(last.status.code(), Some(0), "{}", stdout(&last));
    let status = json(&migrate(&["status", "--campaign", &f, "--json"], &cwd));
    assert!(
        status["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["stage"] == "synced"),
        "{status}"
    );
    for u in ["ann", "bo", "cy"] {
        assert_eq!(
            count_mail(&cwd.join(format!("new/{u}@new.example"))),
            5,
            "{u}"
        );
    }
    for u in ["dee", "ed", "flo", "gus", "hal"] {
        assert_eq!(
            count_mail(&cwd.join(format!("new/{u}@new.example"))),
            40,
            "{u}: once"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_have_manifests_that_catch_tampering_and_restore_a_lost_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().to_path_buf();
    let file = campaign_dir(&cwd).await;
    let f = file.to_str().unwrap();
    let before = migrate(&["backup", "--campaign", f], &cwd);
    assert_eq!(
        before.status.code(),
        Some(2),
        "no backup yet: {}",
        stdout(&before)
    );
    let run = migrate(&["run", "--campaign", f], &cwd);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}{}",
        stdout(&run),
        String::from_utf8_lossy(&run.stderr)
    );
    let b = migrate(&["backup", "--campaign", f, "--verify"], &cwd);
    assert_eq!(
        b.status.code(),
        Some(0),
        "{}{}",
        stdout(&b),
        String::from_utf8_lossy(&b.stderr)
    );
    assert!(
        stdout(&b).contains("3 of 3 mailboxes backed up"),
        "{}",
        stdout(&b)
    );
    assert_eq!(stdout(&b).matches("matches the backup").count(), 3);
    let manifest = cwd.join("report/backups/bo@old.example.backup-manifest.json");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(m["messages"], 5, "{m}");

    // A message removed from bo's backup: --verify names it.
    let inbox = cwd.join("backup/bo@old.example");
    let victim = walk(&inbox)
        .into_iter()
        .next()
        .expect("a backed-up message file");
    std::fs::remove_file(&victim).unwrap();
    let t = migrate(&["backup", "--campaign", f, "--verify", "--json"], &cwd);
    assert_eq!(t.status.code(), Some(4), "{}", stdout(&t));

    // cy's source is lost: restored from its backup, then restored again writes nothing.
    std::fs::remove_dir_all(cwd.join("old/cy@old.example")).unwrap();
    let into = "maildir://{dir}/restored/{mailbox}".replace("{dir}", cwd.to_str().unwrap());
    for (run, written) in [(0, 5), (1, 0)] {
        let r = migrate(
            &[
                "restore",
                "--campaign",
                f,
                "--mailbox",
                "cy@old.example",
                "--into",
                &into,
                "--json",
            ],
            &cwd,
        );
        assert_eq!(r.status.code(), Some(0), "restore {run}: {}", stdout(&r));
        assert_eq!(json(&r)["written"], written, "restore {run}");
    }
    assert_eq!(count_mail(&cwd.join("restored/cy@old.example")), 5);
}

/// The message files under a Maildir.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != "tmp" {
                    dirs.push(p);
                }
            } else if d.ends_with("cur") || d.ends_with("new") {
                out.push(p);
            }
        }
    }
    out
}

/// While this process holds the worker name of the campaign at `held` (as a running
/// `migrate` would), `migrate run` on the campaign at `file` refuses to drive; once the
/// hold is dropped, it runs.
async fn only_one_process_holds_a_worker_name(held: &Path, file: &Path) {
    let cwd = file.parent().unwrap().to_path_buf();
    let f = file.to_str().unwrap().to_owned();
    let c = mailmigrate_examples::campaign::Campaign::open(held)
        .await
        .unwrap();
    let held = c.driver().await.unwrap();
    let out = migrate(&["run", "--campaign", &f], &cwd);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another process drives this campaign"),
        "{err}"
    );
    // Reading the status needs no worker name.
    assert_eq!(
        migrate(&["status", "--campaign", &f], &cwd).status.code(),
        Some(0)
    );
    drop(held);
    drop(c);
    let out = migrate(&["run", "--campaign", &f], &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn one_process_per_worker_name_drives_a_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let file = campaign_dir(dir.path()).await;
    only_one_process_holds_a_worker_name(&file, &file).await;
}

/// Two copies of one campaign file over a PostgreSQL state, run under one worker name (two
/// machines with one host name): the state holds the name, so one of them drives.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_name_is_held_once_across_copies_of_a_postgres_campaign() {
    let Some(url) = postgres_url() else { return };
    let schema = format!("cli_names_{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let file = campaign_dir(dir.path()).await;
    let text = std::fs::read_to_string(&file).unwrap();
    let text = format!("state = \"{url}?schema={schema}\"\n{text}");
    std::fs::write(&file, &text).unwrap();
    let copy = dir.path().join("acme-copy.toml");
    std::fs::write(&copy, &text).unwrap();
    let files = [file, copy];
    only_one_process_holds_a_worker_name(&files[0], &files[1]).await;
}

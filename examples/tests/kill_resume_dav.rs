//! The kill test for contacts and calendars: the real `migrate` process moving the demo
//! address book and calendar (204 items) from a backup directory into a real Radicale,
//! SIGKILLed again and again mid-copy, then run to the end, then run again with its state
//! file deleted. Afterwards the server is read with plain HTTP (`PROPFIND`, not this
//! library): it must hold exactly one resource per source item — nothing lost, nothing
//! twice — and `migrate verify` must find every item property-equal.
//!
//! The Radicale account is `MAILMIGRATE_TEST_RADICALE_E2E_USER`, emptied first (the
//! end-to-end test in `mailmigrate-dav` uses it too; test binaries run one at a time).
//! Skipped without `.ci/dav-servers.sh`'s environment, unless `MAILMIGRATE_TEST_REQUIRE`
//! names `dav`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn env(k: &str) -> Option<String> {
    std::env::var(format!("MAILMIGRATE_TEST_RADICALE_{k}")).ok()
}

fn migrate(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run migrate")
}

const PROPFIND: &str = r#"<?xml version="1.0"?><propfind xmlns="DAV:"><prop><resourcetype/><displayname/></prop></propfind>"#;

/// The hrefs under `path` (Depth 1), without `path` itself.
async fn members(
    http: &reqwest::Client,
    base: &reqwest::Url,
    path: &str,
    auth: (&str, &str),
) -> Vec<String> {
    let r = http
        .request(
            reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
            base.join(path).unwrap(),
        )
        .basic_auth(auth.0, Some(auth.1))
        .header("depth", "1")
        .header("content-type", "application/xml")
        .body(PROPFIND)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 207, "PROPFIND {path}");
    let body = r.text().await.unwrap();
    body.split("<href>")
        .skip(1)
        .filter_map(|s| s.split("</href>").next())
        .map(str::to_owned)
        .filter(|h| h.trim_end_matches('/') != path.trim_end_matches('/'))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pim_migration_into_radicale_survives_kills_and_lost_state() {
    let (Some(url), Some(user), Some(password)) = (env("URL"), env("E2E_USER"), env("PASSWORD"))
    else {
        assert!(
            !mailmigrate_core::testkit::is_required("dav"),
            "MAILMIGRATE_TEST_REQUIRE asks for dav but Radicale is not configured"
        );
        eprintln!("skipping: run .ci/dav-servers.sh start and source its env");
        return;
    };
    let base = reqwest::Url::parse(&url).unwrap();
    let http = reqwest::Client::new();
    let home = format!("/{user}/");
    for c in members(&http, &base, &home, (&user, &password)).await {
        let r = http
            .delete(base.join(&c).unwrap())
            .basic_auth(&user, Some(&password))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "empty the account: {}", r.status());
    }

    let dir = tempfile::tempdir().unwrap();
    let (_, items) = mailmigrate_examples::pim_demo::ensure_demo_pim(
        &dir.path().join("src"),
        &dir.path().join("src.complete"),
    )
    .await
    .unwrap();
    let hostpath = url.trim_start_matches("http://");
    let cfg = dir.path().join("job.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"kill\"\nsource = \"memory:\"\ndestination = \"memory:\"\n\
             state = \"state.sqlite\"\n[pim]\nsource = \"vdir://{}\"\n\
             destination = \"dav://{user}@{hostpath}?tls=plaintext&password_env=MAILMIGRATE_TEST_RADICALE_PASSWORD\"\n",
            dir.path().join("src").display()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();

    // Kills spread over the copy: the whole copy takes seconds (Radicale writes tens of
    // items per second), so these land before, during and after the first writes.
    let count = || async {
        let mut n = 0;
        for c in members(&http, &base, &home, (&user, &password)).await {
            n += members(&http, &base, &c, (&user, &password)).await.len();
        }
        n
    };
    let mut mid_copy = 0;
    for (n, ms) in [150_u64, 700, 1300, 400, 2100, 900, 1700, 250]
        .into_iter()
        .enumerate()
    {
        let mut child = Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(["--config", cfg])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start migrate");
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        let at_server = count().await;
        if !finished && at_server > 0 && at_server < items {
            mid_copy += 1;
        }
        eprintln!(
            "kill {n} after {ms} ms: {at_server} of {items} at the server{}",
            if finished { " (it had finished)" } else { "" }
        );
    }
    assert!(mid_copy >= 2, "kills landed mid-copy only {mid_copy} times");
    let mut code = None;
    for _ in 0..3 {
        let out = migrate(&["--config", cfg], dir.path());
        code = out.status.code();
        if code == Some(0) {
            break;
        }
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    }
    assert_eq!(code, Some(0), "the job completes after the kills");

    // The state lost: everything is found where it is, nothing written again.
    std::fs::remove_file(dir.path().join("state.sqlite")).unwrap();
    let out = migrate(&["--config", cfg], dir.path());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    let rows: Vec<&str> = text.lines().filter(|l| l.contains(" listed, ")).collect();
    assert!(!rows.is_empty(), "{text}");
    assert!(rows.iter().all(|l| l.contains(" 0 written")), "{text}");

    // Read with plain HTTP: one resource per source item.
    let mut resources = 0;
    for c in members(&http, &base, &home, (&user, &password)).await {
        resources += members(&http, &base, &c, (&user, &password)).await.len();
    }
    assert_eq!(
        resources, items,
        "exactly one copy of each item at the server"
    );
    let verify = migrate(&["--config", cfg, "verify"], dir.path());
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

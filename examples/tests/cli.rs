//! The `migrate` binary end to end: demo, config jobs, errors and exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn migrate(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run migrate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn demo_runs_reports_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(&["--demo-dir", "demo"], dir.path());
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Generated the demo mailbox: 3000 messages"),
        "{text}"
    );
    assert!(text.contains("Projekte/Ünïcode"), "{text}");
    assert!(text.contains("copied 2999 messages"), "{text}");
    assert!(text.contains("empty message"), "{text}");
    assert!(text.contains("Verification passed"), "{text}");
    assert!(dir.path().join("demo/source-maildir.complete").exists());
    // The progress bar stays hidden when stdout is not a terminal.
    assert!(!text.contains(" msgs, eta "), "{text}");

    // A second run, a new process, moves nothing and says so.
    let again = migrate(&["--demo-dir", "demo"], dir.path());
    let text = stdout(&again);
    assert_eq!(again.status.code(), Some(0), "{text}");
    assert!(text.contains("Using the demo mailbox"), "{text}");
    assert!(text.contains("Nothing to do"), "{text}");
    assert!(text.contains("Verification passed"), "{text}");
}

#[test]
fn demo_dry_run_prints_the_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(&["--demo-dir", "demo", "--dry-run"], dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Folder plan:"), "{text}");
    assert!(text.contains("would copy"), "{text}");
    assert!(!text.contains("Verification"), "{text}");
}

#[test]
fn config_job_with_remote_scheme_names_the_crate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("job.toml");
    std::fs::write(
        &cfg,
        "source = \"gmail://me@example.com\"\ndestination = \"memory:\"\n",
    )
    .unwrap();
    let out = migrate(&["--config", cfg.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mailmigrate-gmail"), "{err}");
}

#[test]
fn config_job_between_memory_stores_runs_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nightly.toml");
    std::fs::write(
        &cfg,
        "source = \"memory:\"\ndestination = \"memory:\"\n[mapping]\nexclude = [\"Spam\"]\n",
    )
    .unwrap();
    let out = migrate(
        &["--config", cfg.to_str().unwrap(), "--job", "alice"],
        dir.path(),
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Job \"alice\""), "{text}");
    assert!(text.contains("Nothing to do"), "{text}");
}

#[test]
fn bad_config_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("job.toml");
    std::fs::write(
        &cfg,
        "source = \"memory:\"\ndestination = \"memory:\"\nbatchsize = 1\n",
    )
    .unwrap();
    let out = migrate(&["--config", cfg.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("batchsize"));
    let missing = migrate(&["--config", "nope.toml"], dir.path());
    assert_eq!(missing.status.code(), Some(1));
}

/// A config job from a real IMAP server (Dovecot, started by `.ci/imap-servers.sh`) into a
/// Maildir: runs, verifies, and a second run moves nothing.
#[test]
fn config_job_from_imap_into_maildir() {
    let Ok(host) = std::env::var("MAILMIGRATE_TEST_IMAP_DOVECOT_HOST") else {
        let required = std::env::var("MAILMIGRATE_TEST_REQUIRE")
            .is_ok_and(|v| v.split(',').any(|s| s.trim() == "imap"));
        assert!(
            !required,
            "MAILMIGRATE_TEST_REQUIRE names imap but no Dovecot is configured"
        );
        eprintln!("skipping: no Dovecot configured (run .ci/imap-servers.sh start)");
        return;
    };
    let var = |k: &str| std::env::var(format!("MAILMIGRATE_TEST_IMAP_DOVECOT_{k}")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imap.toml");
    std::fs::write(
        &cfg,
        format!(
            "source = \"imap://{}@{host}:{}/?tls=plaintext&password_env=MM_CLI_TEST_PW\"\n\
             destination = \"maildir://{}\"\n\
             [mapping]\ninclude = [\"INBOX\"]\n",
            var("USER"),
            var("PORT"),
            dir.path().join("out").display()
        ),
    )
    .unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(["--config", cfg.to_str().unwrap()])
            .env("MM_CLI_TEST_PW", var("PASSWORD"))
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run();
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Verification passed"), "{text}");
    assert!(!text.contains(&var("PASSWORD")), "the password never shows");
    let again = run();
    let text = stdout(&again);
    assert_eq!(again.status.code(), Some(0), "{text}");
    assert!(text.contains("Nothing to do"), "{text}");
}

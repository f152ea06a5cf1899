//! The `migrate` binary end to end: demo, config jobs, errors, every exit code, and the
//! rule that the output never contradicts itself (a report with differences never says
//! "passed", one without never says "DIFFERENCES"). Exit codes a local store cannot be
//! made to produce from outside (a folder stopped on a temporary or a permanent error) are
//! checked through the same library calls the binary makes, with injected faults.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use mailmigrate_core::engine::{Event, SyncOptions};
use mailmigrate_core::layer::{Fault, FaultLayer, Stack, Trigger};
use mailmigrate_core::store::MaildirStore;
use mailmigrate_core::{
    Destination, ErrorKind, FolderId, FolderPath, MessageId, MessageMeta, Operation, RawMessage,
    Store,
};
use mailmigrate_examples::{run, stores};

mod common;
use common::{migrate, stdout};

/// The exit code, after checking the no-contradiction rule on the output: exactly one
/// `Result:` line naming that code; "passed" only without differences, "DIFFERENCES"
/// only with them (exit 4).
fn verdict(o: &Output) -> i32 {
    let text = stdout(o);
    let code = o.status.code().expect("exited");
    let results: Vec<&str> = text.lines().filter(|l| l.starts_with("Result:")).collect();
    assert_eq!(results.len(), 1, "one verdict line:\n{text}");
    assert!(
        results[0].ends_with(&format!("(exit {code})")),
        "the verdict names the exit code:\n{text}"
    );
    if code == 4 {
        assert!(text.contains("DIFFERENCES FOUND"), "{text}");
        assert!(
            !text.contains("passed"),
            "differences never say passed:\n{text}"
        );
    } else {
        assert!(
            !text.contains("DIFFERENCES"),
            "no differences, none claimed:\n{text}"
        );
        assert!(!text.contains("up to date"), "{text}");
    }
    code
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes a job file `name.toml` in `dir` from `source` to `dest`; returns its path.
fn job_file(dir: &Path, name: &str, source: &str, dest: &str) -> PathBuf {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!("source = \"{source}\"\ndestination = \"{dest}\"\n"),
    )
    .unwrap();
    cfg
}

/// A message with a Message-ID.
fn message(i: u32, folder: &FolderId) -> RawMessage {
    RawMessage::new(
        MessageMeta::new(MessageId::new(i.to_string()), folder.clone()),
        bytes::Bytes::from(format!(
            "Message-ID: <{i}@cli.test>\r\nSubject: {i}\r\n\r\nbody {i}\r\n"
        )),
    )
}

/// A Maildir at `root` whose inbox holds `n` messages; returns the inbox's directory.
async fn maildir_with(root: &Path, n: u32) -> PathBuf {
    let store = MaildirStore::open(root).unwrap();
    let inbox = store
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id;
    store
        .append(&inbox, (1..=n).map(|i| message(i, &inbox)).collect())
        .await
        .unwrap();
    store.folder_dir(&inbox).unwrap()
}

/// The files of a Maildir folder directory's `cur/` and `new/`.
fn mail_files(folder_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["cur", "new"]
        .iter()
        .flat_map(|d| std::fs::read_dir(folder_dir.join(d)).into_iter().flatten())
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn demo_runs_reports_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(&["mailbox-demo", "--demo-dir", "demo"], dir.path());
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
    assert!(
        text.contains("Copies written by this pass: 2999 read back, 2999 as written"),
        "{text}"
    );
    assert!(
        text.contains("Result: COMPLETE: the check passed (exit 0)"),
        "{text}"
    );
    assert_eq!(verdict(&out), 0);
    assert!(dir.path().join("demo/source-maildir.complete").exists());
    // The progress bar stays hidden when stdout is not a terminal.
    assert!(!text.contains(" msgs, eta "), "{text}");

    // A second run, a new process, moves nothing and says so.
    let again = migrate(&["mailbox-demo", "--demo-dir", "demo"], dir.path());
    let text = stdout(&again);
    assert_eq!(again.status.code(), Some(0), "{text}");
    assert!(text.contains("Using the demo mailbox"), "{text}");
    assert!(text.contains("Nothing to do"), "{text}");
    assert!(
        text.contains("Copies written by this pass: 0 read back"),
        "{text}"
    );
    assert_eq!(verdict(&again), 0);

    // The full comparison is its own step; it names the planted failures, not missing.
    let full = migrate(&["verify", "--demo-dir", "demo"], dir.path());
    let text = stdout(&full);
    assert_eq!(verdict(&full), 0, "{text}{}", stderr(&full));
    assert!(text.contains("Full verification"), "{text}");
    assert!(text.contains("recorded failures 1"), "{text}");
    assert!(text.contains("  not copied  source "), "{text}");
}

#[test]
fn help_lists_the_verify_step_and_every_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(&["--help"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("verify"), "{text}");
    for code in 0..=5 {
        assert!(
            text.contains(&format!("\n  {code}  ")),
            "exit code {code}:\n{text}"
        );
    }
}

#[test]
fn a_usage_error_is_exit_1_not_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(&["--no-such-flag"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(1),
        "2 means run again; a typo is not that"
    );
}

/// Exit 4: a copy deleted at the destination shows in the next pass's folder counts and in
/// the full verification; a copy whose flags or bytes were changed at the destination is
/// "changed", never missing plus extra.
#[tokio::test]
async fn differences_at_the_destination_are_exit_4_and_never_passed() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    maildir_with(&src, 5).await;
    let cfg = job_file(
        dir.path(),
        "job",
        &format!("maildir://{}", src.display()),
        &format!("maildir://{}", dir.path().join("dst").display()),
    );
    let cfg = cfg.to_str().unwrap();
    let first = migrate(&["--config", cfg], dir.path());
    assert_eq!(verdict(&first), 0, "{}{}", stdout(&first), stderr(&first));

    let dst = MaildirStore::open(dir.path().join("dst")).unwrap();
    let inbox = dst.folder_dir(&FolderId::new("INBOX")).unwrap();
    let files = mail_files(&inbox);
    assert_eq!(files.len(), 5);
    std::fs::remove_file(&files[0]).unwrap();
    let pass = migrate(&["--config", cfg], dir.path());
    let text = stdout(&pass);
    assert_eq!(verdict(&pass), 4, "{text}");
    assert!(
        text.contains("INBOX  source 5 (without recorded failures), destination 4"),
        "{text}"
    );

    // Flags changed on one copy, bytes on another (same Message-ID).
    let flagged = &files[1];
    let name = flagged.file_name().unwrap().to_str().unwrap();
    let base = name.split(":2,").next().unwrap();
    std::fs::rename(flagged, inbox.join("cur").join(format!("{base}:2,F"))).unwrap();
    let edited = &files[2];
    let mut bytes = std::fs::read(edited).unwrap();
    bytes.extend_from_slice(b"edited at the destination\r\n");
    std::fs::write(edited, bytes).unwrap();
    let full = migrate(&["verify", "--config", cfg], dir.path());
    let text = stdout(&full);
    assert_eq!(verdict(&full), 4, "{text}");
    assert!(
        text.contains("missing 1, extra 0, changed content 1, changed flags 1"),
        "{text}"
    );
    assert!(text.contains("  changed (content)  source "), "{text}");
    assert!(text.contains("  changed (flags)    source "), "{text}");
}

/// Exit 3: a message the destination cannot take is refused for good, listed with its
/// reason; the rest is verified and a rerun does not change the verdict.
#[tokio::test]
async fn items_refused_for_good_are_exit_3_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let inbox = maildir_with(&src, 3).await;
    std::fs::write(inbox.join("cur").join("damaged.test:2,S"), b"").unwrap();
    let cfg = job_file(
        dir.path(),
        "job",
        &format!("maildir://{}", src.display()),
        &format!("mbox://{}", dir.path().join("dst").display()),
    );
    let cfg = cfg.to_str().unwrap();
    for round in 0..2 {
        let out = migrate(&["--config", cfg], dir.path());
        let text = stdout(&out);
        assert_eq!(verdict(&out), 3, "round {round}: {text}{}", stderr(&out));
        assert!(text.contains("Refused for good"), "{text}");
        assert!(text.contains("empty message"), "{text}");
        assert!(text.contains("1 items refused for good"), "{text}");
    }
    let full = migrate(&["verify", "--config", cfg], dir.path());
    let text = stdout(&full);
    assert_eq!(verdict(&full), 3, "{text}");
    assert!(text.contains("matched 3, recorded failures 1"), "{text}");
}

/// Runs one pass through the library, as the binary does, with `dest` wrapped in `faults`.
async fn pass_with_faults(faults: FaultLayer) -> u8 {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    maildir_with(&src, 4).await;
    let source = stores::open_store(&format!("maildir://{}", src.display()))
        .await
        .unwrap();
    let dest = MaildirStore::open(dir.path().join("dst")).unwrap();
    let dest: Arc<dyn Store> = Stack::new(dest).layer(faults).into_store();
    let state = stores::open_state(&dir.path().join("state.sqlite")).unwrap();
    let out = run::run_job(source, dest, state, SyncOptions::new("j"), |_: &Event| {})
        .await
        .unwrap();
    let findings = out.findings(0);
    let text = findings.to_string();
    assert!(text.starts_with("Result: "), "{text}");
    assert!(
        !text.contains("passed") || findings.exit_code() != 4,
        "{text}"
    );
    findings.exit_code()
}

/// Exit 2: a folder pass stopped by a failing destination resumes when run again.
#[tokio::test]
async fn a_pass_stopped_by_an_unavailable_destination_is_exit_2() {
    let faults = FaultLayer::new().fail_calls(
        Operation::Append,
        Trigger::always(),
        Fault::permanent(ErrorKind::Unavailable),
    );
    assert_eq!(pass_with_faults(faults).await, 2);
}

/// Exit 2 too: items that failed for a reason that is not theirs are tried again.
#[tokio::test]
async fn items_failed_temporarily_are_exit_2() {
    let faults = FaultLayer::new().fail_items(
        Operation::Append,
        Trigger::first(1),
        Fault::permanent(ErrorKind::Unavailable),
    );
    assert_eq!(pass_with_faults(faults).await, 2);
}

/// Exit 5: a folder the destination will not let us create needs a fix, not a rerun.
#[tokio::test]
async fn a_folder_stopped_by_a_permission_error_is_exit_5() {
    let faults = FaultLayer::new().fail_calls(
        Operation::EnsureFolder,
        Trigger::always(),
        Fault::permanent(ErrorKind::PermissionDenied),
    );
    assert_eq!(pass_with_faults(faults).await, 5);
}

#[test]
fn demo_dry_run_prints_the_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(
        &["mailbox-demo", "--demo-dir", "demo", "--dry-run"],
        dir.path(),
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Folder plan:"), "{text}");
    assert!(text.contains("would copy"), "{text}");
    assert!(!text.contains("Check of this pass"), "{text}");
    assert_eq!(verdict(&out), 0);
}

#[test]
fn config_job_with_gmail_without_sign_in_names_the_parameters() {
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
    assert!(err.contains("key_file"), "{err}");
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
    assert_eq!(verdict(&out), 0);
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
    assert_eq!(verdict(&out), 0);
    assert!(!text.contains(&var("PASSWORD")), "the password never shows");
    let again = run();
    let text = stdout(&again);
    assert_eq!(verdict(&again), 0, "{text}");
    assert!(text.contains("Nothing to do"), "{text}");
}

/// A job file's `[pim]` table moves contacts and calendars beside the mail: from a backup
/// directory, and from Radicale when `.ci/dav-servers.sh` runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_job_moves_contacts_and_calendars_from_vdir_and_dav() {
    let dir = tempfile::tempdir().unwrap();
    let (_, generated) = mailmigrate_examples::pim_demo::ensure_demo_pim(
        &dir.path().join("src-pim"),
        &dir.path().join("src-pim.complete"),
    )
    .await
    .unwrap();
    let mut sources = vec![(
        "backup",
        format!("vdir://{}", dir.path().join("src-pim").display()),
    )];
    match std::env::var("MAILMIGRATE_TEST_RADICALE_URL") {
        Ok(url) => {
            let user = std::env::var("MAILMIGRATE_TEST_RADICALE_USER").unwrap();
            let hostpath = url.trim_start_matches("http://");
            sources.push((
                "radicale",
                format!(
                    "dav://{user}@{hostpath}?tls=plaintext&password_env=MAILMIGRATE_TEST_RADICALE_PASSWORD"
                ),
            ));
        }
        Err(_) => assert!(
            !mailmigrate_core::testkit::is_required("dav"),
            "MAILMIGRATE_TEST_REQUIRE asks for dav but Radicale is not configured"
        ),
    }
    for (name, source) in sources {
        let dest = dir.path().join(format!("{name}-copy"));
        let cfg = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "source = \"memory:\"\ndestination = \"memory:\"\n[pim]\nsource = \"{source}\"\n\
                 destination = \"vdir://{}\"\n",
                dest.display()
            ),
        )
        .unwrap();
        let args = ["--config", cfg.to_str().unwrap()];
        let out = migrate(&args, dir.path());
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{name}: {text}{}", stderr(&out));
        assert!(text.contains("Contacts and calendars"), "{name}: {text}");
        assert!(!text.contains("DIFFERENT"), "{name}: {text}");
        if name == "backup" {
            assert!(
                text.contains(&format!("{} written", generated - 4)),
                "{name}: every demo contact written: {text}"
            );
        }
        // A second pass writes nothing; verify compares again.
        let again = stdout(&migrate(&args, dir.path()));
        assert!(!again.contains("DIFFERENT"), "{name}: {again}");
        assert!(
            again
                .lines()
                .filter(|l| l.contains(" listed, "))
                .all(|l| l.contains(" 0 written")),
            "{name}: the second pass writes nothing: {again}"
        );
        let verify = migrate(&["--config", cfg.to_str().unwrap(), "verify"], dir.path());
        assert_eq!(verify.status.code(), Some(0), "{name}: {}", stdout(&verify));
    }
}

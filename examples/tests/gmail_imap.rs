//! End to end between a real IMAP server and Google Workspace: the real `migrate` process
//! copies a Dovecot account (the kill test's corpus: nested and non-ASCII folders, flags
//! and keywords, twins, messages without a Message-ID, ~200 KB messages) into a user of the
//! Gmail emulator, then (the account wiped) that user back into the account, and
//! `migrate verify` finds zero differences on both legs (Gmail keeps the imported bytes:
//! both legs compare bytes). On the way back each message's labels other than its folder
//! become IMAP keywords; a label with non-ASCII characters (the corpus's folder names)
//! travels in modified UTF-7, as `Flag::from_label` documents, since a keyword is ASCII.
//!
//! Uses the account `mmtest2` of `.ci/imap-servers.sh` (`MAILMIGRATE_TEST_IMAP_DOVECOT_*`),
//! wiped first and last, so the source account `mmtest1` of the other tests is not
//! touched. Skipped without the server unless `MAILMIGRATE_TEST_REQUIRE` names `imap`.

#[allow(dead_code, reason = "the IMAP kill test uses the rest of its helpers")]
mod support;

use std::path::Path;
use std::process::Command;

use mailmigrate_gmail::emulator::{Emulator, EmulatorHandle, Quota};
use support::corpus::Corpus;
use support::server::Server;

const USER: &str = "ada@example.com";
const ACCOUNT: &str = "mmtest2";
const KEY_VAR: &str = "MAILMIGRATE_E2E_GMAIL_KEY";
const PASSWORD_VAR: &str = "MAILMIGRATE_E2E_IMAP_PASSWORD";
/// Quota units a minute: enough that the emulator's budget does not pace the test.
const UNITS: u64 = 10_000_000;

fn url_encoded(s: &str) -> String {
    s.replace('%', "%25")
        .replace(':', "%3A")
        .replace('/', "%2F")
        .replace('@', "%40")
}

fn gmail_url(emu: &EmulatorHandle) -> String {
    format!(
        "gmail://{}?key_env={KEY_VAR}&api_url={}&quota_units={UNITS}&tls=plaintext",
        url_encoded(USER),
        url_encoded(&emu.base_url()),
    )
}

fn imap_url(server: &Server, user: &str) -> String {
    format!(
        "imap://{user}@{}:{}/?tls=plaintext&password_env={PASSWORD_VAR}&probe=off",
        server.host, server.port
    )
}

/// Runs `migrate` (with `args` after the config) until it exits 0, at most three times;
/// the last exit code and output.
fn run(
    dir: &Path,
    source: &str,
    dest: &str,
    extra: &str,
    args: &[&str],
    server: &Server,
    emu: &EmulatorHandle,
) -> (Option<i32>, String) {
    let cfg = dir.join("job.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"e2e-gmail\"\nsource = \"{source}\"\ndestination = \"{dest}\"\n\
             state = \"state.sqlite\"\nsettle_grace_ms = 300\n{extra}"
        ),
    )
    .unwrap();
    let mut last = (None, String::new());
    for _ in 0..3 {
        let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(["--config", cfg.to_str().unwrap()])
            .args(args)
            .current_dir(dir)
            .env(KEY_VAR, emu.service_account_json())
            .env(PASSWORD_VAR, &server.password)
            .output()
            .expect("run migrate");
        last = (
            out.status.code(),
            format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        );
        if last.0 == Some(0) || !args.is_empty() {
            break;
        }
        eprintln!("run ended {:?}:\n{}", last.0, last.1);
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_to_gmail_and_back_verifies_with_zero_differences() {
    let Some(mut server) = Server::from_env("DOVECOT") else {
        return;
    };
    server.source_user = ACCOUNT.to_owned();
    server.dest_user = ACCOUNT.to_owned();
    let corpus = Corpus::new(&server);
    corpus.wipe_both().unwrap();
    let seeded = corpus.seed(0x6e2f, 150).unwrap();
    let emu = Emulator::builder()
        .user(USER)
        .quota(Quota::default().with_units_per_window(UNITS, std::time::Duration::from_secs(60)))
        .start()
        .await
        .unwrap();

    let into = tempfile::tempdir().unwrap();
    let src = imap_url(&server, ACCOUNT);
    let gmail = gmail_url(&emu);
    let (code, out) = run(into.path(), &src, &gmail, "", &[], &server, &emu);
    assert_eq!(code, Some(0), "IMAP -> Gmail:\n{out}");
    let (code, out) = run(into.path(), &src, &gmail, "", &["verify"], &server, &emu);
    assert_eq!(code, Some(0), "verify IMAP -> Gmail:\n{out}");
    let at_gmail = emu.messages(USER).len() as u64;
    assert!(
        at_gmail >= seeded.messages - 2 && at_gmail <= seeded.messages,
        "{at_gmail} messages at Gmail for {} seeded: each once",
        seeded.messages
    );

    // The account emptied, the Gmail user is copied back into it.
    corpus.wipe_destination().unwrap();
    let back = tempfile::tempdir().unwrap();
    let dest = imap_url(&server, ACCOUNT);
    let prefix = "";
    let (code, out) = run(back.path(), &gmail, &dest, prefix, &[], &server, &emu);
    assert_eq!(code, Some(0), "Gmail -> IMAP:\n{out}");
    let (code, out) = run(
        back.path(),
        &gmail,
        &dest,
        prefix,
        &["verify"],
        &server,
        &emu,
    );
    assert_eq!(code, Some(0), "verify Gmail -> IMAP:\n{out}");
    corpus.wipe_both().unwrap();
    emu.shutdown().await;
}

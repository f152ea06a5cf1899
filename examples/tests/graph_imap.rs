//! End to end between a real IMAP server and Microsoft 365: the real `migrate` process
//! copies a Dovecot account (the kill test's corpus: nested and non-ASCII folders, flags
//! and keywords, twins, messages without a Message-ID, ~200 KB messages) into a mailbox of
//! the Graph emulator, then that mailbox into a second Dovecot account, and `migrate
//! verify` finds zero differences on both legs (Graph stores messages rewritten: the first
//! leg compares parsed messages, the second bytes against what Graph serves).
//!
//! Uses the accounts of `.ci/imap-servers.sh` (`MAILMIGRATE_TEST_IMAP_DOVECOT_*`, the
//! source and `mmtest2`, wiped first; test binaries run one at a time). Skipped without
//! them unless `MAILMIGRATE_TEST_REQUIRE` names `imap`.

#[allow(dead_code, reason = "the IMAP kill test uses the rest of its helpers")]
mod support;

use std::path::Path;
use std::process::Command;

use mailmigrate_graph::emulator::{Emulator, EmulatorHandle};
use support::corpus::Corpus;
use support::server::Server;

const MAILBOX: &str = "ada@example.com";
const SECRET_VAR: &str = "MAILMIGRATE_E2E_GRAPH_SECRET";
const PASSWORD_VAR: &str = "MAILMIGRATE_E2E_IMAP_PASSWORD";

fn url_encoded(s: &str) -> String {
    s.replace('%', "%25")
        .replace(':', "%3A")
        .replace('/', "%2F")
        .replace('@', "%40")
}

fn graph_url(emu: &EmulatorHandle) -> String {
    format!(
        "graph://{}@{}?client_id={}&secret_env={SECRET_VAR}&tls=plaintext&graph_url={}&authority_url={}",
        url_encoded(MAILBOX),
        emu.tenant(),
        emu.client_id(),
        url_encoded(&emu.graph_url()),
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
    args: &[&str],
    server: &Server,
    emu: &EmulatorHandle,
) -> (Option<i32>, String) {
    let cfg = dir.join("job.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"e2e\"\nsource = \"{source}\"\ndestination = \"{dest}\"\n\
             state = \"state.sqlite\"\nsettle_grace_ms = 300\n"
        ),
    )
    .unwrap();
    let mut last = (None, String::new());
    for _ in 0..3 {
        let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(["--config", cfg.to_str().unwrap()])
            .args(args)
            .current_dir(dir)
            .env(SECRET_VAR, emu.client_secret())
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
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_to_graph_and_back_verifies_with_zero_differences() {
    let Some(server) = Server::from_env("DOVECOT") else {
        return;
    };
    let corpus = Corpus::new(&server);
    corpus.wipe_both().unwrap();
    let seeded = corpus.seed(0x6e2e, 150).unwrap();
    let emu = Emulator::builder().mailbox(MAILBOX).start().await.unwrap();

    let into = tempfile::tempdir().unwrap();
    let src = imap_url(&server, &server.source_user);
    let graph = graph_url(&emu);
    let (code, out) = run(into.path(), &src, &graph, &[], &server, &emu);
    assert_eq!(code, Some(0), "IMAP -> Graph:\n{out}");
    let (code, out) = run(into.path(), &src, &graph, &["verify"], &server, &emu);
    assert_eq!(code, Some(0), "verify IMAP -> Graph:\n{out}");
    assert!(
        emu.messages(MAILBOX).len() as u64 >= seeded.messages - 2,
        "{} messages in the mailbox for {} seeded",
        emu.messages(MAILBOX).len(),
        seeded.messages
    );

    let back = tempfile::tempdir().unwrap();
    let dest = imap_url(&server, &server.dest_user);
    let (code, out) = run(back.path(), &graph, &dest, &[], &server, &emu);
    assert_eq!(code, Some(0), "Graph -> IMAP:\n{out}");
    let (code, out) = run(back.path(), &graph, &dest, &["verify"], &server, &emu);
    assert_eq!(code, Some(0), "verify Graph -> IMAP:\n{out}");
    emu.shutdown().await;
}

//! The shared conformance suite against real Dovecot and Cyrus servers.
//!
//! Targets come from `MAILMIGRATE_TEST_IMAP_{DOVECOT,CYRUS}_*` (written by
//! `.ci/imap-servers.sh start` into its `env` file). A missing target skips, unless
//! `MAILMIGRATE_TEST_REQUIRE` names `imap`, which makes it fail.

/// Connects to one configured server, or `None` when it is not configured.
async fn server(name: &str) -> Option<mailmigrate_core::testkit::Harness> {
    let prefix = format!("MAILMIGRATE_TEST_IMAP_{name}_");
    if std::env::var(format!("{prefix}HOST")).is_err() {
        return mailmigrate_core::testkit::skip_unless_required(
            "imap",
            &format!("{prefix}HOST is not set (run .ci/imap-servers.sh start)"),
        );
    }
    let imap = mailmigrate_imap::ImapBuilder::from_env_prefix(&prefix)
        .allow_plaintext(true)
        .with_pool_size(3)
        .build()
        .await
        .unwrap_or_else(|e| panic!("{name}: cannot connect: {e:?}"));
    Some(mailmigrate_core::testkit::Harness::same(imap))
}

mod dovecot {
    mailmigrate_core::conformance_tests!(super::server("DOVECOT"));
}

mod cyrus {
    mailmigrate_core::conformance_tests!(super::server("CYRUS"));
}

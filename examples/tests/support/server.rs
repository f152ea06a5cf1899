//! The IMAP servers under test, read from the environment `.ci/imap-servers.sh` writes.

use std::net::SocketAddr;

/// The account the servers script creates next to `MAILMIGRATE_TEST_IMAP_<NAME>_USER`; it is
/// the destination, that user the source.
const DESTINATION_USER: &str = "mmtest2";

/// One server and the two accounts a migration runs between.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    /// `DOVECOT` or `CYRUS`, as in the variables' names.
    pub(crate) name: &'static str,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) password: String,
    pub(crate) source_user: String,
    pub(crate) dest_user: String,
}

impl Server {
    /// The server `name` from `MAILMIGRATE_TEST_IMAP_<NAME>_{HOST,PORT,USER,PASSWORD,TLS}`.
    /// `None` (after a printed line) when it is not configured, unless
    /// `MAILMIGRATE_TEST_REQUIRE` names `imap`: then a missing server fails the test.
    pub(crate) fn from_env(name: &'static str) -> Option<Self> {
        let prefix = format!("MAILMIGRATE_TEST_IMAP_{name}_");
        let var = |key: &str| std::env::var(format!("{prefix}{key}")).ok();
        let Some(host) = var("HOST") else {
            assert!(
                !required(),
                "{prefix}HOST is not set but MAILMIGRATE_TEST_REQUIRE asks for imap"
            );
            eprintln!("skipping {name}: {prefix}HOST is not set (run .ci/imap-servers.sh start)");
            return None;
        };
        let tls = var("TLS").unwrap_or_default();
        assert!(
            tls.eq_ignore_ascii_case("plaintext"),
            "{prefix}TLS is {tls:?}: the kill test needs the plaintext port (its proxy and \
             its checker speak plain IMAP)"
        );
        let port = var("PORT")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{prefix}PORT is not a port number"));
        Some(Self {
            name,
            host,
            port,
            password: var("PASSWORD").unwrap_or_else(|| panic!("{prefix}PASSWORD is not set")),
            source_user: var("USER").unwrap_or_else(|| panic!("{prefix}USER is not set")),
            dest_user: DESTINATION_USER.to_owned(),
        })
    }

    /// The server's address, for the proxy.
    pub(crate) fn addr(&self) -> SocketAddr {
        format!("{}:{}", self.host, self.port)
            .parse()
            .unwrap_or_else(|_| panic!("{}: the host must be an IP address", self.name))
    }
}

fn required() -> bool {
    std::env::var("MAILMIGRATE_TEST_REQUIRE")
        .map(|v| v.split(',').any(|s| s.trim().eq_ignore_ascii_case("imap")))
        .unwrap_or(false)
}

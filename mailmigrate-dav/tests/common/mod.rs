//! The test servers `.ci/dav-servers.sh start` runs: Radicale and Xandikos on 127.0.0.1.
//! A server whose URL is not set is skipped with a message, unless
//! `MAILMIGRATE_TEST_REQUIRE` names `dav`, which makes it fail.

#![allow(dead_code, unreachable_pub)]

use mailmigrate_dav::{DavBuilder, DavStore};

/// The servers by the prefix of their environment variables.
pub const SERVERS: [&str; 2] = ["RADICALE", "XANDIKOS"];

fn required() -> bool {
    mailmigrate_core::testkit::is_required("dav")
}

/// Connects to the server `name` (`RADICALE`, `XANDIKOS`), or `None` when it is not
/// configured and not required.
pub async fn connect(name: &str) -> Option<DavStore> {
    let prefix = format!("MAILMIGRATE_TEST_{name}_");
    if std::env::var(format!("{prefix}URL")).is_err() {
        assert!(
            !required(),
            "{prefix}URL is not set but MAILMIGRATE_TEST_REQUIRE asks for dav"
        );
        eprintln!("skipping {name}: {prefix}URL is not set (run .ci/dav-servers.sh start)");
        return None;
    }
    let store = DavBuilder::from_env_prefix(&prefix)
        .allow_plaintext(true)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {name}: {e}"));
    Some(store)
}

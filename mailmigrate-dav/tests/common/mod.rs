//! The test servers `.ci/dav-servers.sh start` runs: Radicale and Xandikos on 127.0.0.1.
//! A server whose URL is not set is skipped with a message, unless
//! `MAILMIGRATE_TEST_REQUIRE` names `dav`, which makes it fail.

#![allow(dead_code, unreachable_pub)]

use mailmigrate_core::pim::{Collection, CollectionId, PimDestination, PimKind};
use mailmigrate_dav::{DavBuilder, DavStore};

/// The servers by the prefix of their environment variables.
pub const SERVERS: [&str; 2] = ["RADICALE", "XANDIKOS"];

fn required() -> bool {
    mailmigrate_core::testkit::is_required("dav")
}

/// The environment variable `var`, or `None` (with a message) when it is not set and dav is
/// not required.
pub fn env(var: &str) -> Option<String> {
    let Ok(value) = std::env::var(var) else {
        assert!(
            !required(),
            "{var} is not set but MAILMIGRATE_TEST_REQUIRE asks for dav"
        );
        eprintln!("skipping: {var} is not set (run .ci/dav-servers.sh start)");
        return None;
    };
    Some(value)
}

/// The builder of the server `name` (`RADICALE`, `XANDIKOS`), or `None` when it is not
/// configured and not required.
pub fn builder(name: &str) -> Option<DavBuilder> {
    let prefix = format!("MAILMIGRATE_TEST_{name}_");
    if std::env::var(format!("{prefix}URL")).is_err() {
        assert!(
            !required(),
            "{prefix}URL is not set but MAILMIGRATE_TEST_REQUIRE asks for dav"
        );
        eprintln!("skipping {name}: {prefix}URL is not set (run .ci/dav-servers.sh start)");
        return None;
    }
    Some(DavBuilder::from_env_prefix(&prefix).allow_plaintext(true))
}

/// Connects to the server `name` (`RADICALE`, `XANDIKOS`), or `None` when it is not
/// configured and not required.
pub async fn connect(name: &str) -> Option<DavStore> {
    connect_with(builder(name)?, name).await
}

/// Connects with `builder`, made by [`builder`] for the server `name`.
pub async fn connect_with(builder: DavBuilder, name: &str) -> Option<DavStore> {
    let store = builder
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {name}: {e}"));
    Some(store)
}

/// A label unique to this run, for the names of collections and `UID`s.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}", nanos & 0xffff_ffff_ffff)
}

/// The collection of `kind` named `name` in `store`, created when there is none.
pub async fn collection(store: &DavStore, kind: PimKind, name: &str) -> Collection {
    store
        .ensure_collection(&Collection::new(CollectionId::new(name), kind, name))
        .await
        .unwrap_or_else(|e| panic!("ensure {kind} {name}: {e}"))
}

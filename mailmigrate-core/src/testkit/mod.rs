//! The conformance testkit: one suite every backend runs against its own server.
//!
//! A backend is done when it passes this suite. Each case is a `pub async fn` in
//! [`cases`] that first reads [`Harness::capabilities`] and returns [`Outcome::Skipped`]
//! when it does not apply, so the same suite runs against a full-featured IMAP server, an
//! API emulator or a read-mostly archive. Cases work in fresh folders under
//! `mm-test-<run-id>/`, never assume an empty account, and delete what they wrote where the
//! destination supports deletion.
//!
//! The testkit is behind the `testkit` feature and is not semver-stable.
//!
//! # Running the suite against a backend
//! In the backend crate's `tests/conformance.rs` (with `mailmigrate-core` and its `testkit`
//! feature as a dev-dependency):
//!
//! ```
//! mailmigrate_core::conformance_tests!(async {
//!     // Build the store; return `None` to skip (see `env_config`).
//!     let store = mailmigrate_core::store::MemoryStore::new("conformance");
//!     Some(mailmigrate_core::testkit::Harness::same(store))
//! });
//! # fn main() {}
//! ```
//!
//! The macro expands to one `#[test]` per case, so `cargo test flags_preserved` runs one
//! case. A remote target reads its settings from the environment:
//!
//! ```no_run
//! mailmigrate_core::conformance_tests!(async {
//!     // `None` (skip) unless MAILMIGRATE_TEST_IMAP_* is set; panics instead when
//!     // MAILMIGRATE_TEST_REQUIRE names imap.
//!     let cfg = mailmigrate_core::testkit::env_config("imap")?;
//!     let account = cfg.get("user").cloned().unwrap_or_default();
//!     let store = mailmigrate_core::store::MemoryStore::new(account);
//!     Some(mailmigrate_core::testkit::Harness::same(store))
//! });
//! # fn main() {}
//! ```
//!
//! # Renewal and the wire
//! Two cases need more than the trait objects, and are skipped without it:
//! - [`Harness::with_renewal`] lets `renewed_folder_lists_anew` delete a folder and create it
//!   anew (on IMAP a new UIDVALIDITY), to check what a source lists since a checkpoint of
//!   its earlier life;
//! - [`Harness::with_wire`] lets the `wire` cases connect a second destination through a
//!   fault-injecting [`proxy::Proxy`], which loses replies on the real connection: the
//!   backend must report them as unknown outcomes, and the engine must end exactly.
//!
//! A backend that talks to a server over TCP should give both; `mailmigrate-imap`'s
//! `tests/conformance.rs` shows how.
//!
//! # Adding a case
//! Write `pub async fn my_case(h: &Harness) -> CaseResult` in a `cases/<area>.rs` file and
//! add one line to the list in [`conformance_tests!`].

use std::collections::HashMap;

pub mod campaign;
pub mod cases;
#[cfg(feature = "testkit-dns")]
pub mod dns;
pub mod fixtures;
mod harness;
pub mod pim;
pub mod proxy;

pub use harness::{CaseResult, Harness, Listing, Outcome};

/// The environment variable that lists providers whose targets must be configured.
pub const REQUIRE_VAR: &str = "MAILMIGRATE_TEST_REQUIRE";

/// Reads the test target of `provider` from `MAILMIGRATE_TEST_<PROVIDER>_<KEY>` variables.
///
/// Keys are returned in lower case without the prefix: `MAILMIGRATE_TEST_IMAP_URL=…` becomes
/// `("url", …)`. Returns `None` when no variable is set, so the caller skips its tests.
///
/// # Panics
/// When no variable is set but [`REQUIRE_VAR`] (`MAILMIGRATE_TEST_REQUIRE=imap,graph`) names
/// `provider`: CI must fail rather than skip silently.
///
/// # Examples
/// ```
/// // Nothing configured for this made-up provider, and it is not required: skip.
/// assert!(mailmigrate_core::testkit::env_config("no-such-provider").is_none());
/// ```
pub fn env_config(provider: &str) -> Option<HashMap<String, String>> {
    let config = config_from_vars(
        provider,
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    );
    if config.is_none() && is_required(provider) {
        panic!("{}", not_configured_message(provider));
    }
    config
}

/// Whether [`REQUIRE_VAR`] names `provider` (comma-separated, case-insensitive).
pub fn is_required(provider: &str) -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|list| list_names(&list, provider))
}

/// Skips (returns `None`) unless `provider` is required, in which case it panics with
/// `reason`.
///
/// Use it in the setup block when a target is configured but unusable, e.g. a server binary
/// is missing.
///
/// # Panics
/// When [`REQUIRE_VAR`] names `provider`.
///
/// # Examples
/// ```
/// let skipped: Option<u8> =
///     mailmigrate_core::testkit::skip_unless_required("no-such-provider", "no server");
/// assert!(skipped.is_none());
/// ```
pub fn skip_unless_required<T>(provider: &str, reason: &str) -> Option<T> {
    if is_required(provider) {
        panic!("{REQUIRE_VAR} names {provider}, but its target is unusable: {reason}");
    }
    eprintln!("skipping {provider} conformance tests: {reason}");
    None
}

fn not_configured_message(provider: &str) -> String {
    format!(
        "{REQUIRE_VAR} names {provider}, but no {} variable is set; configure the target \
         or remove {provider} from {REQUIRE_VAR}",
        env_prefix(provider) + "*"
    )
}

fn env_prefix(provider: &str) -> String {
    format!("MAILMIGRATE_TEST_{}_", provider.to_ascii_uppercase())
}

fn list_names(list: &str, provider: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|p| p.eq_ignore_ascii_case(provider))
}

fn config_from_vars(
    provider: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Option<HashMap<String, String>> {
    let prefix = env_prefix(provider);
    let config: HashMap<String, String> = vars
        .into_iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(&prefix)?;
            (!key.is_empty()).then(|| (key.to_ascii_lowercase(), v))
        })
        .collect();
    (!config.is_empty()).then_some(config)
}

/// Expands to one test per conformance case, each running against the harness that the
/// given async block builds.
///
/// The block returns `Option<Harness>`; `None` skips every case (use
/// [`env_config`](crate::testkit::env_config) or
/// [`skip_unless_required`](crate::testkit::skip_unless_required) so CI fails instead when
/// the provider is required). The block runs once per case, inside a multi-threaded tokio
/// runtime that the generated test builds, so the backend crate needs no tokio macros.
///
/// A case that fails panics with the case's message. A case that does not apply passes and
/// prints `SKIPPED <case> on <target>: <reason>` past the test harness's output capture, so
/// every run lists what it did not test (libtest has no skipped state of its own).
///
/// # Examples
/// ```
/// mailmigrate_core::conformance_tests!(async {
///     let store = mailmigrate_core::store::MemoryStore::new("doc");
///     Some(mailmigrate_core::testkit::Harness::same(store))
/// });
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($setup:expr $(,)?) => {
        $crate::__conformance_cases!(tests($setup));
    };
}

/// The one list of conformance cases (`test name => <area>::<fn>` in `cases`), handed to
/// [`__conformance_each!`](crate::__conformance_each) with the caller's mode: `tests(setup)`
/// makes one test per case ([`conformance_tests!`]); the testkit's own self-test runs each.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($mode:ident $args:tt) => {
        $crate::__conformance_each!($mode $args;
            folders_nested_and_non_ascii => folders::nested_and_non_ascii,
            ensure_folder_idempotent => folders::ensure_folder_idempotent,
            ensure_folder_tells_whether_it_holds_mail => folders::ensure_folder_tells_whether_it_holds_mail,
            append_then_fetch_roundtrip => roundtrip::append_then_fetch_roundtrip,
            flags_preserved => metadata::flags_preserved,
            fetch_leaves_flags_alone => metadata::fetch_leaves_flags_alone,
            listed_message_id_is_the_header => metadata::listed_message_id_is_the_header,
            internal_date_preserved => metadata::internal_date_preserved,
            update_flags_applies_changes => metadata::update_flags_applies_changes,
            labels_preserved => metadata::labels_preserved,
            incremental_changes => changes::incremental_changes,
            renewed_folder_lists_anew => changes::renewed_folder_lists_anew,
            dedupe_after_interrupted_write => dedupe::dedupe_after_interrupted_write,
            find_existing_tells_twins_apart => dedupe::find_existing_tells_twins_apart,
            batched_lookup_matches_single => dedupe::batched_lookup_matches_single,
            engine_settles_lost_replies => engine::engine_settles_lost_replies,
            lost_append_reply_is_outcome_unknown => wire::lost_append_reply_is_outcome_unknown,
            engine_settles_a_reply_lost_on_the_wire => wire::engine_settles_a_reply_lost_on_the_wire,
            large_message_25mb => large::large_message_25mb,
            malformed_message_isolated => malformed::malformed_message_isolated,
            fetch_unknown_id_is_not_found => malformed::fetch_unknown_id_is_not_found,
            unsupported_op_returns_unsupported => unsupported::unsupported_op_returns_unsupported,
            transient_error_retry => retry::transient_error_retry,
        );
    };
}

/// Expands the case list of [`__conformance_cases!`](crate::__conformance_cases) in one
/// mode: `tests(setup)` into test functions, `each(run)` into `run(name, case).await` calls
/// (the self-test's).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_each {
    (tests($setup:expr); $($name:ident => $area:ident :: $case:ident,)*) => {
        $( $crate::__conformance_case!($setup, $name => $area::$case); )*
    };
    (each($run:ident); $($name:ident => $area:ident :: $case:ident,)*) => {
        $( $run(stringify!($name), $crate::testkit::cases::$area::$case).await; )*
    };
}

/// Expands one conformance case into a test function. Used by [`conformance_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_case {
    ($setup:expr, $name:ident => $area:ident :: $case:ident) => {
        #[test]
        fn $name() {
            $crate::testkit::__private::block_on(async {
                let harness = $crate::testkit::__private::setup(stringify!($name), $setup).await;
                if let ::std::option::Option::Some(h) = harness {
                    let result = $crate::testkit::cases::$area::$case(&h).await;
                    $crate::testkit::__private::finish(stringify!($name), &h, result).await;
                }
            });
        }
    };
}

pub use crate::conformance_tests;

/// Support for the macros; not public API.
#[doc(hidden)]
pub mod __private {
    use std::future::Future;

    use super::{CaseResult, Harness, Outcome};

    /// Runs `fut` to completion on a fresh multi-threaded runtime.
    ///
    /// # Panics
    /// When the runtime cannot start.
    pub fn block_on<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the conformance runtime starts")
            .block_on(fut)
    }

    /// Builds the harness, reporting a skip.
    pub async fn setup(
        name: &str,
        setup: impl Future<Output = Option<Harness>>,
    ) -> Option<Harness> {
        let harness = setup.await;
        if harness.is_none() {
            report_skip(&format!("{name}: no target configured"));
        }
        harness
    }

    /// Prints a skip where the test harness does not capture it (straight to the process's
    /// stderr, not through `eprintln!`), so every run shows what it did not test.
    fn report_skip(what: &str) {
        use std::io::Write;
        // One write of the whole line, so parallel tests do not split it.
        let _ = std::io::stderr().write_all(format!("SKIPPED {what}\n").as_bytes());
    }

    /// Cleans up, then reports the case's result.
    ///
    /// # Panics
    /// When the case failed.
    pub async fn finish(name: &str, h: &Harness, result: CaseResult) {
        h.cleanup().await;
        let info = h.dest.info();
        match result {
            Ok(Outcome::Passed) => {}
            Ok(Outcome::Skipped(reason)) => report_skip(&format!(
                "{name} on {} ({}): {reason}",
                info.scheme, info.account
            )),
            Err(message) => panic!(
                "conformance case {name} failed on {} ({}), run {}: {message}",
                info.scheme, info.account, h.run_id
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn config_reads_prefixed_keys_in_lower_case() {
        let cfg = config_from_vars(
            "imap",
            vars(&[
                ("MAILMIGRATE_TEST_IMAP_URL", "imap://127.0.0.1:1143"),
                ("MAILMIGRATE_TEST_IMAP_USER", "tester"),
                ("MAILMIGRATE_TEST_GRAPH_URL", "http://graph"),
                ("MAILMIGRATE_TEST_IMAP_", "ignored: no key"),
                ("PATH", "/bin"),
            ]),
        )
        .expect("imap is configured");
        assert_eq!(cfg.len(), 2);
        assert_eq!(cfg["url"], "imap://127.0.0.1:1143");
        assert_eq!(cfg["user"], "tester");
    }

    #[test]
    fn config_is_none_without_variables() {
        let cfg = config_from_vars("gmail", vars(&[("MAILMIGRATE_TEST_IMAP_URL", "x")]));
        assert!(cfg.is_none());
    }

    #[test]
    fn require_list_is_comma_separated_and_case_insensitive() {
        assert!(list_names("imap, Graph", "graph"));
        assert!(list_names("IMAP", "imap"));
        assert!(!list_names("imap,graph", "gmail"));
        assert!(!list_names("", "imap"));
        assert!(!list_names("imapx", "imap"));
    }

    #[test]
    fn not_configured_message_names_provider_and_variables() {
        let m = not_configured_message("graph");
        assert!(m.contains("MAILMIGRATE_TEST_GRAPH_*"), "{m}");
        assert!(m.contains(REQUIRE_VAR), "{m}");
    }
}

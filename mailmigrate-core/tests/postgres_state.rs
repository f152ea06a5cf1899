//! `PostgresState` against a real server: the state conformance suites, schema versioning,
//! the compare-and-set and leases under concurrent clients, and two campaign runners (each
//! with its own connection pool, as on two machines) racing over one campaign.
//!
//! The server is `MAILMIGRATE_TEST_POSTGRES_URL` (`.ci/postgres.sh start DIR` starts a
//! private cluster and writes it to `DIR/env`). Without it the tests are skipped with a
//! message, unless `MAILMIGRATE_TEST_REQUIRE` names `postgres`, which makes them fail. Each
//! test works in a schema of its own (dropped at its end), so they run in parallel.

use std::sync::Arc;
use std::time::Duration;

use mailmigrate_core::campaign::{CampaignStore, MailboxStatus, Stage};
use mailmigrate_core::state::{suite, PostgresOptions, PostgresState, StateStore};
use mailmigrate_core::{Checkpoint, ErrorKind, FolderId};

#[path = "support/runner_race.rs"]
mod runner_race;

/// The server's URL, or `None` (skip) when it is not configured.
fn url() -> Option<String> {
    let url = mailmigrate_core::testkit::env_config("postgres")?
        .get("url")
        .cloned();
    if url.is_none() {
        return mailmigrate_core::testkit::skip_unless_required(
            "postgres",
            "MAILMIGRATE_TEST_POSTGRES_URL is not set",
        );
    }
    url
}

/// A fresh schema name for one test.
fn schema(tag: &str) -> String {
    format!("mmt_{tag}_{:012x}", rand::random::<u64>() >> 16)
}

async fn open(url: &str, schema: &str) -> PostgresState {
    PostgresState::connect_with(url, PostgresOptions::default().with_schema(schema))
        .await
        .unwrap_or_else(|e| panic!("cannot open {schema}: {e:?}"))
}

/// Skips the test (returns) when no server is configured.
macro_rules! server {
    () => {
        match url() {
            Some(u) => u,
            None => {
                eprintln!("skipping: no PostgreSQL server (MAILMIGRATE_TEST_POSTGRES_URL)");
                return;
            }
        }
    };
}

#[tokio::test]
async fn passes_the_state_suite() {
    let url = server!();
    let state = open(&url, &schema("suite")).await;
    suite::run_all(&state).await;
    // Twice over one schema: cases touch only their own jobs.
    suite::run_all(&state).await;
    state.drop_schema().await.unwrap();
}

#[tokio::test]
async fn passes_the_campaign_suite() {
    let url = server!();
    let state = open(&url, &schema("campaign")).await;
    suite::run_all_campaign(&state).await;
    state.drop_schema().await.unwrap();
}

#[tokio::test]
async fn reopening_keeps_the_state_and_newer_or_foreign_schemas_are_refused() {
    let url = server!();
    let name = schema("reopen");
    let state = open(&url, &name).await;
    let inbox = FolderId::new("INBOX");
    state
        .set_checkpoint("j", &inbox, &Checkpoint::new("7:100"))
        .await
        .unwrap();
    drop(state);
    let state = open(&url, &name).await;
    assert_eq!(
        state.checkpoint("j", &inbox).await.unwrap(),
        Some(Checkpoint::new("7:100"))
    );
    assert_eq!(state.schema(), name);

    // A schema written by a newer mailmigrate is refused, naming it.
    raw(
        &url,
        &format!("UPDATE {name}.mailmigrate_meta SET version = version + 1"),
    )
    .await;
    let e = PostgresState::connect_with(&url, PostgresOptions::default().with_schema(&name))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StateCorrupt, "{e:?}");
    assert!(e.message().contains("newer"), "{e}");
    assert_eq!(e.context("schema"), Some(name.as_str()));
    assert_eq!(e.provider(), "postgres");
    state.drop_schema().await.unwrap();

    // Another application's schema is refused untouched.
    let other = schema("other");
    raw(
        &url,
        &format!("CREATE SCHEMA {other}; CREATE TABLE {other}.notes (body text);"),
    )
    .await;
    let e = PostgresState::connect_with(&url, PostgresOptions::default().with_schema(&other))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StateCorrupt, "{e:?}");
    assert!(e.message().contains("not a mailmigrate"), "{e}");
    raw(&url, &format!("DROP SCHEMA {other} CASCADE")).await;
}

/// Runs SQL on a connection of its own (no schema set).
async fn raw(url: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = task.await;
}

#[tokio::test]
async fn runners_opening_a_new_schema_together_create_it_once() {
    let url = server!();
    let name = schema("together");
    let opened =
        futures::future::join_all((0..6).map(|_| {
            PostgresState::connect_with(&url, PostgresOptions::default().with_schema(&name))
        }))
        .await;
    for o in &opened {
        assert!(o.is_ok(), "{o:?}");
    }
    opened[0].as_ref().unwrap().drop_schema().await.unwrap();
}

#[tokio::test]
async fn the_password_is_in_neither_errors_nor_debug() {
    let url = server!();
    // Trust authentication ignores the password: it is only there to be hidden.
    let with_password = url.replacen("://mmtest@", "://mmtest:s3cret-pw@", 1);
    assert_ne!(with_password, url, "the test URL names the mmtest role");
    let name = schema("secret");
    let state = open(&with_password, &name).await;
    let debug = format!("{state:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(debug.contains("mmtest@127.0.0.1"), "{debug}");
    // A refused move's error, and a server error (a NUL in an id).
    let s = MailboxStatus::new(
        "a@old.example",
        "a@new.example",
        "b",
        time::macros::datetime!(2025-01-01 0:00 UTC),
    );
    let e = state.apply("c", &s, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    let e2 = state
        .set_checkpoint("j\0", &FolderId::new("INBOX"), &Checkpoint::new("1"))
        .await
        .unwrap_err();
    for shown in [format!("{e} {e:?}"), format!("{e2} {e2:?}")] {
        assert!(!shown.contains("s3cret"), "{shown}");
    }
    assert!(format!("{e2:?}").contains("mmtest@127.0.0.1"), "{e2:?}");
    state.drop_schema().await.unwrap();
}

/// Many clients (separate pools) move one mailbox from the same stage at once: exactly
/// one move is stored, the others are `Conflict`, and the history has one entry per move.
#[tokio::test]
async fn concurrent_moves_from_one_stage_store_exactly_one() {
    let url = server!();
    let name = schema("cas");
    let first = open(&url, &name).await;
    let mut others = Vec::new();
    for _ in 0..5 {
        others.push(open(&url, &name).await);
    }
    let t0 = time::macros::datetime!(2025-01-01 0:00 UTC);
    for round in 0..5 {
        let mailbox = format!("m{round}@old.example");
        let s = MailboxStatus::new(&mailbox, "x@new.example", "b", t0);
        // Entering: only one of the racers creates the row.
        let entered = futures::future::join_all(
            others
                .iter()
                .map(|st| async { st.apply("race", &s, Some(&s.entered())).await }),
        )
        .await;
        assert_eq!(
            entered.iter().filter(|r| r.is_ok()).count(),
            1,
            "{entered:?}"
        );
        for r in entered.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(r.kind(), ErrorKind::Conflict, "{r:?}");
        }
        // Moving on: each racer moves queued → syncing.
        let moved = futures::future::join_all(others.iter().map(|st| {
            let mut mine = s.clone();
            async move {
                let t = mine.advance(Stage::Syncing, t0).unwrap();
                st.apply("race", &mine, Some(&t)).await
            }
        }))
        .await;
        assert_eq!(moved.iter().filter(|r| r.is_ok()).count(), 1, "{moved:?}");
        assert_eq!(first.history("race", &mailbox).await.unwrap().len(), 2);
    }
    first.drop_schema().await.unwrap();
}

/// Many clients claim one mailbox at once: exactly one gets it.
#[tokio::test]
async fn concurrent_claims_grant_one_lease() {
    let url = server!();
    let name = schema("lease");
    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(open(&url, &name).await);
    }
    for round in 0..10 {
        let mailbox = format!("m{round}");
        let got = futures::future::join_all(stores.iter().enumerate().map(|(i, st)| {
            let (mailbox, worker) = (mailbox.clone(), format!("w{i}"));
            async move {
                st.claim("c", &mailbox, &worker, Duration::from_secs(60))
                    .await
                    .unwrap()
            }
        }))
        .await;
        assert_eq!(got.iter().filter(|g| **g).count(), 1, "{got:?}");
    }
    stores[0].drop_schema().await.unwrap();
}

/// Two runners, each with its own pool (as on two machines), race over one campaign of 12
/// mailboxes: every mailbox is copied exactly once and driven by one runner only.
#[tokio::test]
async fn two_runners_on_two_pools_copy_every_mailbox_exactly_once() {
    let url = server!();
    let name = schema("race");
    let a = Arc::new(open(&url, &name).await);
    let b = Arc::new(open(&url, &name).await);
    runner_race::race(
        Arc::clone(&a) as Arc<dyn CampaignStore>,
        b as Arc<dyn CampaignStore>,
    )
    .await;
    a.drop_schema().await.unwrap();
}

/// Two runners under one worker name, each with its own pool (two machines with one host
/// name): the advisory lock lets one drive.
#[tokio::test]
async fn two_runners_under_one_worker_name_on_two_pools_never_both_drive() {
    let url = server!();
    let name = schema("twins");
    let a = Arc::new(open(&url, &name).await);
    let b = Arc::new(open(&url, &name).await);
    runner_race::twins(
        Arc::clone(&a) as Arc<dyn CampaignStore>,
        b as Arc<dyn CampaignStore>,
    )
    .await;
    a.drop_schema().await.unwrap();
}

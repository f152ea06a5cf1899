//! What a real server refuses comes back as a typed error naming the item, and the rest of
//! the batch goes on.

mod common;

use mailmigrate_core::pim::*;
use mailmigrate_core::testkit::pim::sample_contact;
use mailmigrate_core::{Disposition, ErrorKind};

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}", nanos & 0xffff_ffff_ffff)
}

#[tokio::test]
async fn a_uid_held_elsewhere_and_a_stale_version_fail_only_their_items() {
    let Some(rad) = common::connect("RADICALE").await else {
        return;
    };
    let run = run_id();
    let name = format!("mm-refusals-{run}");
    let book = rad
        .ensure_collection(&Collection::new(
            CollectionId::new(&name),
            PimKind::Contacts,
            &name,
        ))
        .await
        .unwrap();
    let a = format!("a-{run}@example.com");
    let b = format!("b-{run}@example.com");
    let written: Vec<Written> = rad
        .write_items(
            &book.id,
            vec![
                ItemWrite::create(sample_contact(&a)),
                ItemWrite::create(sample_contact(&b)),
            ],
            &WriteOptions::default(),
        )
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let c = format!("c-{run}@example.com");
    let answers = rad
        .write_items(
            &book.id,
            vec![
                // b's UID written over a's resource: Radicale's no-uid-conflict.
                ItemWrite::replace(
                    sample_contact(&b),
                    written[0].id.clone(),
                    written[0].version.clone(),
                ),
                // A replace conditional on a version that is not the server's.
                ItemWrite::replace(
                    sample_contact(&b),
                    written[1].id.clone(),
                    Some("\"not-the-etag\"".into()),
                ),
                ItemWrite::create(sample_contact(&c)),
            ],
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    let e = answers[0].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert_eq!(e.context("message"), Some(written[0].id.as_str()), "{e}");
    let e = answers[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(!e.is_outcome_unknown());
    assert!(answers[2].is_ok(), "the rest goes on: {:?}", answers[2]);
    // Nothing already there was touched.
    let found = rad
        .find_by_uid(&book.id, &[a.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(found[0].len(), 1, "a is where it was");
    assert_eq!(found[0][0].version, written[0].version, "a is unchanged");
    assert_eq!(found[1][0].version, written[1].version, "b is unchanged");
}

#[tokio::test]
async fn another_users_collection_fails_the_batch_before_anything_is_sent() {
    let Some(rad) = common::connect("RADICALE").await else {
        return;
    };
    let Ok(other) = std::env::var("MAILMIGRATE_TEST_RADICALE_E2E_USER") else {
        return;
    };
    let foreign = CollectionId::new(format!("/{other}/not-mine-{}/", run_id()));
    let err = rad
        .ensure_collection(&Collection::new(foreign.clone(), PimKind::Contacts, "x"))
        .await;
    assert!(err.is_ok(), "the account's own home is used: {err:?}");
    let answers = rad
        .write_items(
            &foreign,
            vec![ItemWrite::create(sample_contact("z@example.com"))],
            &WriteOptions::default(),
        )
        .await;
    // The kind look-up of a collection the account may not read fails the batch as a
    // whole, before anything is sent.
    let e = answers.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::NotFound),
        "{e}"
    );
    assert_ne!(
        e.disposition(),
        Disposition::Settle,
        "nothing was sent: {e}"
    );
}

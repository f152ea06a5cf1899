//! What a real server refuses comes back as a typed error naming the item, and the rest of
//! the batch goes on.

mod common;

use mailmigrate_core::pim::*;
use mailmigrate_core::testkit::pim::sample_contact;
use mailmigrate_core::{Disposition, ErrorKind};

#[tokio::test]
async fn a_uid_held_elsewhere_and_a_stale_version_fail_only_their_items() {
    let Some(rad) = common::connect("RADICALE").await else {
        return;
    };
    let run = common::run_id();
    let name = format!("mm-refusals-{run}");
    let book = common::collection(&rad, PimKind::Contacts, &name).await;
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
    let foreign = CollectionId::new(format!("/{other}/not-mine-{}/", common::run_id()));
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

fn event(uid: &str, extra: &str) -> PimItem {
    let text = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailmigrate//refusals//EN\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20250101T000000Z\r\n{extra}SUMMARY:x\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    PimItem::parse(
        PimKind::Events,
        ItemMeta::new(ItemId::new(uid)),
        text.into(),
    )
    .unwrap()
}

/// An unknown `TZID` and a 50 MB inline attachment: each server stores the item or
/// refuses it with a typed error naming it; the plain item beside them is always stored,
/// and nothing is left of unknown outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_and_huge_events_are_stored_or_refused_by_name() {
    // 50 MB of attachment, base64, folded at 75 octets.
    let blob: String = "QUJD".repeat(50 * 1024 * 1024 / 3);
    let mut folded = String::with_capacity(blob.len() + blob.len() / 37);
    for (i, chunk) in blob.as_bytes().chunks(74).enumerate() {
        if i > 0 {
            folded.push_str("\r\n ");
        }
        folded.push_str(std::str::from_utf8(chunk).unwrap());
    }
    for server in common::SERVERS {
        let Some(store) = common::connect(server).await else {
            continue;
        };
        let run = common::run_id();
        let name = format!("mm-odd-{run}");
        let cal = common::collection(&store, PimKind::Events, &name).await;
        let writes = vec![
            ItemWrite::create(event(
                &format!("tz-{run}"),
                "DTSTART;TZID=Mars/Olympus_Mons:20250106T090000\r\n",
            )),
            ItemWrite::create(event(
                &format!("big-{run}"),
                &format!(
                    "DTSTART:20250106T090000Z\r\nATTACH;ENCODING=BASE64;VALUE=BINARY;\
                     FMTTYPE=application/octet-stream:{folded}\r\n"
                ),
            )),
            ItemWrite::create(event(
                &format!("plain-{run}"),
                "DTSTART:20250106T090000Z\r\n",
            )),
        ];
        let started = std::time::Instant::now();
        let answers = store
            .write_items(&cal.id, writes, &WriteOptions::default())
            .await
            .unwrap();
        eprintln!(
            "{server}: {:?} in {:?}",
            answers.iter().map(Result::is_ok).collect::<Vec<_>>(),
            started.elapsed()
        );
        for (n, a) in answers.iter().enumerate() {
            if let Err(e) = a {
                assert!(!e.is_outcome_unknown(), "{server} item {n}: {e}");
                assert!(
                    e.context("message").is_some(),
                    "{server}: the error names the item: {e}"
                );
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::InvalidMessage
                            | ErrorKind::MessageTooLarge
                            | ErrorKind::QuotaExceeded
                    ),
                    "{server} item {n}: a refusal of the item itself: {e}"
                );
            }
        }
        assert!(
            answers[2].is_ok(),
            "{server}: the plain event is stored: {:?}",
            answers[2]
        );
    }
}

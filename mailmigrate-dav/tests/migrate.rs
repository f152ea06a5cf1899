//! A whole migration over real servers: Radicale → a backup directory → Xandikos, and back
//! from Xandikos into Radicale with the state lost; verified property by property, a
//! second pass moving nothing, an incremental pass moving exactly what changed.

mod common;

use mailmigrate_core::pim::sync::{PimReport, PimSync, PimSyncOptions};
use mailmigrate_core::pim::verify::verify_pim;
use mailmigrate_core::pim::*;
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::testkit::pim::{sample_contact, sample_series};
use mailmigrate_dav::{DavBuilder, DavStore};

fn env(k: &str) -> Option<String> {
    std::env::var(format!("MAILMIGRATE_TEST_{k}")).ok()
}

/// Radicale as the end-to-end user, emptied of what earlier runs left.
async fn radicale() -> Option<DavStore> {
    let url = env("RADICALE_URL")?;
    let user = env("RADICALE_E2E_USER")?;
    let password = env("RADICALE_PASSWORD").unwrap_or_default();
    let store = DavBuilder::new(&url)
        .with_basic(&user, password.as_str())
        .allow_plaintext(true)
        .connect()
        .await
        .expect("connect to Radicale");
    let http = reqwest::Client::new();
    for kind in PimKind::ALL {
        for c in store.list_collections(kind).await.unwrap() {
            let url = reqwest::Url::parse(&url)
                .unwrap()
                .join(c.id.as_str())
                .unwrap();
            let r = http
                .delete(url)
                .basic_auth(&user, Some(&password))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "empty Radicale: {}", r.status());
        }
    }
    Some(store)
}

/// Xandikos with home sets of this run only.
async fn xandikos(run: &str) -> Option<DavStore> {
    let url = reqwest::Url::parse(&env("XANDIKOS_URL")?).unwrap();
    let http = reqwest::Client::new();
    let mkcol = reqwest::Method::from_bytes(b"MKCOL").unwrap();
    for path in [
        format!("/e2e-{run}/"),
        format!("/e2e-{run}/calendars/"),
        format!("/e2e-{run}/contacts/"),
    ] {
        let r = http
            .request(mkcol.clone(), url.join(&path).unwrap())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "MKCOL {path}: {}", r.status());
    }
    let store = DavBuilder::new(url.as_str())
        .with_homes(
            Some(format!("/e2e-{run}/calendars/")),
            Some(format!("/e2e-{run}/contacts/")),
        )
        .allow_plaintext(true)
        .connect()
        .await
        .expect("connect to Xandikos");
    Some(store)
}

async fn pass(
    src: &dyn PimSource,
    dest: &dyn PimDestination,
    state: &MemoryState,
    deletions: bool,
) -> PimReport {
    let report = PimSync::new(src, dest, state, "e2e")
        .with_options(PimSyncOptions::default().with_propagate_deletions(deletions))
        .run()
        .await
        .expect("the pass runs");
    assert!(report.is_clean(), "a clean pass: {report:?}");
    report
}

async fn assert_equal(src: &dyn PimSource, dest: &dyn PimStore, what: &str) {
    let v = verify_pim(src, dest, &PimKind::ALL, 50).await.unwrap();
    assert!(v.is_equal(), "{what}: {v:?}");
    assert!(
        v.collections.iter().all(|c| c.source_items > 0),
        "{what}: nothing compared: {v:?}"
    );
}

async fn write(store: &DavStore, c: &CollectionId, items: Vec<ItemWrite>) -> Vec<Written> {
    store
        .write_items(c, items, &WriteOptions::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.expect("the seed write"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_to_backup_to_xandikos_and_back() {
    let run = common::run_id();
    let (Some(rad), Some(xan)) = (radicale().await, xandikos(&run).await) else {
        assert!(
            !mailmigrate_core::testkit::is_required("dav"),
            "MAILMIGRATE_TEST_REQUIRE asks for dav but the servers are not configured"
        );
        eprintln!("skipping: run .ci/dav-servers.sh start and source its env");
        return;
    };
    // The source: an address book of 30 and a calendar of 4 recurring series.
    let book = rad
        .ensure_collection(&Collection::new(
            CollectionId::new("b"),
            PimKind::Contacts,
            "Friends",
        ))
        .await
        .unwrap();
    let cal = rad
        .ensure_collection(
            &Collection::new(CollectionId::new("c"), PimKind::Events, "Work")
                .with_description(Some("Team meetings".into())),
        )
        .await
        .unwrap();
    let contacts: Vec<ItemWrite> = (0..30)
        .map(|n| ItemWrite::create(sample_contact(&format!("e2e-{n}@example.com"))))
        .collect();
    let written = write(&rad, &book.id, contacts).await;
    let series: Vec<ItemWrite> = (0..4)
        .map(|n| ItemWrite::create(sample_series(&format!("urn:uuid:e2e-series-{n}"))))
        .collect();
    write(&rad, &cal.id, series).await;

    // Radicale → backup.
    let dir = tempfile::tempdir().unwrap();
    let backup = VdirStore::open(dir.path().join("backup")).unwrap();
    let to_backup = MemoryState::new();
    let first = pass(&rad, &backup, &to_backup, true).await;
    assert_eq!(first.totals().written, 34, "{first:?}");
    assert_equal(&rad, &backup, "Radicale → backup").await;

    // Backup → Xandikos.
    let to_xan = MemoryState::new();
    let second = pass(&backup, &xan, &to_xan, true).await;
    assert_eq!(second.totals().written, 34, "{second:?}");
    assert_equal(&backup, &xan, "backup → Xandikos").await;
    assert_equal(&rad, &xan, "Radicale vs Xandikos").await;

    // Nothing changed: nothing moves.
    let idle = pass(&backup, &xan, &to_xan, true).await;
    assert_eq!(
        (
            idle.totals().written,
            idle.totals().updated,
            idle.totals().deleted
        ),
        (0, 0, 0),
        "{idle:?}"
    );
    let idle = pass(&rad, &backup, &to_backup, true).await;
    assert_eq!(idle.totals().written, 0, "{idle:?}");

    // At the source: one contact changed, one added, one deleted; an occurrence moved.
    let mut changed = sample_contact("e2e-3@example.com");
    changed.edit(|p| {
        if let Payload::Contact(c) = p {
            c.full_name = "Zoë Müller-Schmidt".into();
        }
    });
    write(
        &rad,
        &book.id,
        vec![
            ItemWrite::replace(changed, written[3].id.clone(), written[3].version.clone()),
            ItemWrite::create(sample_contact("e2e-new@example.com")),
        ],
    )
    .await;
    let deleted = rad
        .delete_items(&book.id, &[written[7].id.clone()])
        .await
        .unwrap();
    assert!(deleted.iter().all(Result::is_ok));

    for (src, dest, state, what) in [
        (
            &rad as &dyn PimStore,
            &backup as &dyn PimStore,
            &to_backup,
            "Radicale → backup",
        ),
        (&backup, &xan, &to_xan, "backup → Xandikos"),
    ] {
        let inc = pass(src, dest, state, true).await;
        let t = inc.totals();
        assert_eq!(
            (t.written, t.updated, t.deleted),
            (2, 1, 1),
            "{what}: {inc:?}"
        );
        assert_equal(src, dest, what).await;
    }
    assert_equal(
        &rad,
        &xan,
        "Radicale vs Xandikos after the incremental pass",
    )
    .await;

    // And back: Xandikos → Radicale with no state (a new machine): every item is found
    // where it already is, nothing is written twice.
    let back = MemoryState::new();
    let restore = pass(&xan, &rad, &back, false).await;
    let t = restore.totals();
    assert_eq!(t.written, 0, "nothing written twice: {restore:?}");
    assert_eq!(t.adopted, 30 + 4, "{restore:?}");
    assert_equal(&xan, &rad, "Xandikos → Radicale").await;
}

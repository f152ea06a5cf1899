//! `UID` look-ups on real servers (Radicale, Xandikos): resources named after their `UID`
//! are found by multiget batches, one the server holds under another name by the `UID`
//! query (Radicale) or the scan that replaces it (Xandikos, whose query fails), and one
//! never written is absent.

mod common;

use mailmigrate_core::pim::sync::adapt;
use mailmigrate_core::pim::*;
use mailmigrate_core::testkit::pim::sample_contact;

#[tokio::test]
async fn named_renamed_and_absent_uids_are_told_apart() {
    for server in common::SERVERS {
        let Some(builder) = common::builder(server) else {
            continue;
        };
        // Batches of two: five named resources take three multigets.
        let Some(store) = common::connect_with(builder.with_batch_size(2), server).await else {
            continue;
        };
        let run = common::run_id();
        let name = format!("mm-lookups-{run}");
        let book = common::collection(&store, PimKind::Contacts, &name).await;
        let named: Vec<String> = (0..5).map(|n| format!("n{n}-{run}@example.com")).collect();
        let renamed = format!("renamed-{run}@example.com");
        let elsewhere = ItemId::new(format!("elsewhere-{run}.vcf"));
        let mut writes: Vec<ItemWrite> = named
            .iter()
            .map(|u| ItemWrite::create(sample_contact(u)))
            .collect();
        // Stored under a name that is not its UID's, as a server that renames would.
        writes.push(ItemWrite::replace(
            sample_contact(&renamed),
            elsewhere.clone(),
            None,
        ));
        let written: Vec<Written> = store
            .write_items(&book.id, writes, &WriteOptions::default())
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.unwrap_or_else(|e| panic!("{server}: {e}")))
            .collect();

        let absent = format!("absent-{run}@example.com");
        let mut uids = named.clone();
        uids.extend([renamed.clone(), absent, named[0].clone()]);
        let found = store.find_by_uid(&book.id, &uids).await.unwrap();
        assert_eq!(found.len(), uids.len(), "{server}");
        let caps = store.pim_capabilities();
        for (n, uid) in named.iter().enumerate() {
            assert_eq!(found[n].len(), 1, "{server} {uid}: {:?}", found[n]);
            assert_eq!(found[n][0].id, written[n].id, "{server} {uid}");
            let mut expected = sample_contact(uid);
            adapt(&mut expected, &caps);
            assert_eq!(
                found[n][0].hash,
                Some(expected.content_hash()),
                "{server} {uid}: the found copy is the item written"
            );
        }
        assert_eq!(found[5].len(), 1, "{server}: {:?}", found[5]);
        assert_eq!(
            found[5][0].id, elsewhere,
            "{server}: found under its other name"
        );
        assert!(found[6].is_empty(), "{server}: {:?}", found[6]);
        assert_eq!(found[7], found[0], "{server}: a UID asked twice");
    }
}

//! Backups of contacts and calendars to a directory of files, and restores from it.

use mailmigrate_core::pim::sync::PimSync;
use mailmigrate_core::pim::*;
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::ErrorKind;

const CARD3: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1\r\nFN:Zoë Müller\r\n\
N:Müller;Zoë;;;\r\nEMAIL;TYPE=INTERNET,WORK:zoe@example.com\r\nX-ABLABEL:odd\r\nEND:VCARD\r\n";

const EVENT: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:ev/1 odd?\r\n\
DTSTART;TZID=America/New_York:20250301T090000\r\nRRULE:FREQ=DAILY;COUNT=3\r\n\
ATTACH:https://files.example.com/agenda.pdf\r\nSUMMARY:Daily\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

async fn source() -> (MemoryPim, CollectionId, CollectionId) {
    let src = MemoryPim::new("old");
    let book = src
        .ensure_collection(&Collection::new(
            CollectionId::new("b"),
            PimKind::Contacts,
            "My Contacts",
        ))
        .await
        .unwrap()
        .id;
    let cal = src
        .ensure_collection(
            &Collection::new(CollectionId::new("c"), PimKind::Events, "Team / Ops")
                .with_color(Some("#ff8800".into())),
        )
        .await
        .unwrap()
        .id;
    let card = PimItem::parse(
        PimKind::Contacts,
        ItemMeta::new(ItemId::new("1")),
        CARD3.into(),
    )
    .unwrap();
    src.put(&book, card);
    let ev = PimItem::parse(
        PimKind::Events,
        ItemMeta::new(ItemId::new("2")),
        EVENT.into(),
    )
    .unwrap();
    src.put(&cal, ev);
    (src, book, cal)
}

#[tokio::test]
async fn backup_and_restore_round_trip_text_and_properties() {
    let (src, book, cal) = source().await;
    let dir = tempfile::tempdir().unwrap();
    let backup = VdirStore::open(dir.path()).unwrap();
    let state = MemoryState::new();
    let r = PimSync::new(&src, &backup, &state, "backup")
        .run()
        .await
        .unwrap();
    assert!(r.is_clean(), "{r:?}");
    assert_eq!(r.totals().written, 2);
    // The source's text is kept byte for byte, vCard 3.0 and unknown properties included.
    let card = std::fs::read(dir.path().join("contacts/my-contacts/card-1.vcf")).unwrap();
    assert_eq!(card, CARD3.as_bytes());
    let calendars = backup.list_collections(PimKind::Events).await.unwrap();
    assert_eq!(calendars[0].name, "Team / Ops");
    assert_eq!(calendars[0].color.as_deref(), Some("#ff8800"));

    let manifest = backup.write_manifest().await.unwrap();
    assert_eq!(manifest.items(), 2);
    assert!(backup.check_manifest().await.unwrap().is_empty());

    // A second backup pass reads versions only and writes nothing.
    let again = PimSync::new(&src, &backup, &state, "backup")
        .run()
        .await
        .unwrap();
    assert_eq!(
        (again.totals().written, again.totals().unchanged),
        (0, 0),
        "{again:?}"
    );

    // Restore into an empty store: property-equal to the source.
    let restored = MemoryPim::new("new");
    let state2 = MemoryState::new();
    let r = PimSync::new(&backup, &restored, &state2, "restore")
        .run()
        .await
        .unwrap();
    assert!(r.is_clean(), "{r:?}");
    let rb = restored.list_collections(PimKind::Contacts).await.unwrap()[0]
        .id
        .clone();
    let rc = restored.list_collections(PimKind::Events).await.unwrap()[0]
        .id
        .clone();
    let payloads = |items: Vec<PimItem>| items.into_iter().map(|i| i.payload).collect::<Vec<_>>();
    assert_eq!(payloads(restored.items(&rb)), payloads(src.items(&book)));
    assert_eq!(payloads(restored.items(&rc)), payloads(src.items(&cal)));
    // An idle restore pass lists every file and fetches none.
    let idle = PimSync::new(&backup, &restored, &state2, "restore")
        .run()
        .await
        .unwrap();
    assert_eq!(
        (idle.totals().listed, idle.totals().written),
        (2, 0),
        "{idle:?}"
    );
}

#[tokio::test]
async fn a_malformed_file_is_named_and_the_rest_is_restored() {
    let (src, _, _) = source().await;
    let dir = tempfile::tempdir().unwrap();
    let backup = VdirStore::open(dir.path()).unwrap();
    PimSync::new(&src, &backup, &MemoryState::new(), "b")
        .run()
        .await
        .unwrap();
    let book = dir.path().join("contacts/my-contacts");
    std::fs::write(
        book.join("broken.vcf"),
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:No end\r\n",
    )
    .unwrap();
    std::fs::write(
        book.join("latin1.vcf"),
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ren\xe9\r\nEND:VCARD\r\n",
    )
    .unwrap();
    assert_eq!(
        backup.check_manifest().await.unwrap_err().kind(),
        ErrorKind::NotFound
    );

    let restored = MemoryPim::new("new");
    let r = PimSync::new(&backup, &restored, &MemoryState::new(), "r")
        .run()
        .await
        .unwrap();
    let c = &r.collections[0];
    assert_eq!(c.counts.written, 1, "{r:?}");
    let mut failed: Vec<&str> = c.failures.iter().map(|f| f.src_id.as_str()).collect();
    failed.sort_unstable();
    assert_eq!(failed, ["broken.vcf", "latin1.vcf"]);
    assert!(c
        .failures
        .iter()
        .all(|f| f.kind == ErrorKind::InvalidMessage && f.final_for_item));
}

#[tokio::test]
async fn a_backup_taken_twice_into_a_fresh_state_holds_each_item_once() {
    let (src, _, _) = source().await;
    let dir = tempfile::tempdir().unwrap();
    let backup = VdirStore::open(dir.path()).unwrap();
    PimSync::new(&src, &backup, &MemoryState::new(), "b")
        .run()
        .await
        .unwrap();
    let r = PimSync::new(&src, &backup, &MemoryState::new(), "b")
        .run()
        .await
        .unwrap();
    assert_eq!((r.totals().written, r.totals().adopted), (0, 2), "{r:?}");
    let manifest = backup.write_manifest().await.unwrap();
    assert_eq!(manifest.items(), 2);
    // Tampering is found.
    let file = dir.path().join("contacts/my-contacts/card-1.vcf");
    std::fs::write(&file, CARD3.replace("odd", "even")).unwrap();
    assert_eq!(
        backup.check_manifest().await.unwrap(),
        ["contacts/my-contacts/card-1.vcf: changed"]
    );
}

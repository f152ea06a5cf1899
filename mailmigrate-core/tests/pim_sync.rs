//! The contact and calendar engine against the memory store: first copy, idle and
//! incremental passes, lost answers, a lost state file, shared UIDs, limits of the
//! destination, invitations, and edits made at the destination.

use mailmigrate_core::pim::sync::{Fate, PimReport, PimSync, PimSyncOptions};
use mailmigrate_core::pim::*;
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::ErrorKind;

fn contact(uid: &str, name: &str, emails: usize) -> PimItem {
    let mut c = Contact::new(name);
    c.uid = Some(uid.into());
    for n in 0..emails {
        c.emails
            .push(Email::new(format!("{uid}.{n}@example.com")).with_types(["work"]));
    }
    c.extra.push(Property::new("X-SPOUSE", "Jo"));
    PimItem::new(
        ItemMeta::new(ItemId::new(format!("{uid}.vcf"))),
        Payload::Contact(Box::new(c)),
    )
}

const SERIES: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n\
BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n\
TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n\
END:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:weekly@example.com\r\nDTSTAMP:20250101T000000Z\r\n\
DTSTART;TZID=Europe/Berlin:20250106T090000\r\nDTEND;TZID=Europe/Berlin:20250106T093000\r\n\
RRULE:FREQ=WEEKLY;BYDAY=MO\r\nEXDATE;TZID=Europe/Berlin:20250120T090000\r\n\
SUMMARY:Stand-up\r\nORGANIZER;CN=Ann:mailto:ann@example.com\r\n\
ATTENDEE;PARTSTAT=ACCEPTED:mailto:bo@example.com\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nDESCRIPTION:soon\r\nEND:VALARM\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly@example.com\r\nDTSTAMP:20250101T000000Z\r\n\
RECURRENCE-ID;TZID=Europe/Berlin:20250113T090000\r\n\
DTSTART;TZID=Europe/Berlin:20250113T100000\r\nDTEND;TZID=Europe/Berlin:20250113T103000\r\n\
SUMMARY:Stand-up (moved)\r\nORGANIZER;CN=Ann:mailto:ann@example.com\r\n\
ATTENDEE;PARTSTAT=ACCEPTED:mailto:bo@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

fn series() -> PimItem {
    PimItem::parse(
        PimKind::Events,
        ItemMeta::new(ItemId::new("weekly.ics")),
        SERIES.into(),
    )
    .unwrap()
}

struct World {
    src: MemoryPim,
    dest: MemoryPim,
    state: MemoryState,
    book: CollectionId,
    cal: CollectionId,
}

async fn world(contacts: usize) -> World {
    let src = MemoryPim::new("old");
    let book = src
        .ensure_collection(&Collection::new(
            CollectionId::new("b"),
            PimKind::Contacts,
            "Friends",
        ))
        .await
        .unwrap()
        .id;
    let cal = src
        .ensure_collection(&Collection::new(
            CollectionId::new("c"),
            PimKind::Events,
            "Work",
        ))
        .await
        .unwrap()
        .id;
    for n in 0..contacts {
        src.put(&book, contact(&format!("c{n}"), &format!("Person {n}"), 1));
    }
    src.put(&cal, series());
    World {
        src,
        dest: MemoryPim::new("new"),
        state: MemoryState::new(),
        book,
        cal,
    }
}

impl World {
    async fn run(&self, options: PimSyncOptions) -> PimReport {
        PimSync::new(&self.src, &self.dest, &self.state, "job")
            .with_options(options)
            .run()
            .await
            .unwrap()
    }

    async fn dest_collection(&self, kind: PimKind) -> CollectionId {
        self.dest.list_collections(kind).await.unwrap()[0]
            .id
            .clone()
    }

    /// Every destination item's payload, by UID; panics on a UID held twice.
    async fn dest_payloads(&self, kind: PimKind) -> std::collections::BTreeMap<String, Payload> {
        let mut out = std::collections::BTreeMap::new();
        for item in self.dest.items(&self.dest_collection(kind).await) {
            let uid = item.uid().unwrap().to_owned();
            assert!(
                out.insert(uid.clone(), item.payload).is_none(),
                "{uid} held twice"
            );
        }
        out
    }

    fn src_payloads(&self, coll: &CollectionId) -> std::collections::BTreeMap<String, Payload> {
        self.src
            .items(coll)
            .into_iter()
            .map(|i| (i.uid().unwrap().to_owned(), i.payload))
            .collect()
    }
}

#[tokio::test]
async fn first_copy_is_property_equal_and_a_second_pass_moves_nothing() {
    let w = world(5).await;
    let first = w.run(PimSyncOptions::default()).await;
    assert!(first.is_clean(), "{first:?}");
    assert_eq!(first.totals().written, 6);
    assert_eq!(
        w.dest_payloads(PimKind::Contacts).await,
        w.src_payloads(&w.book)
    );
    assert_eq!(
        w.dest_payloads(PimKind::Events).await,
        w.src_payloads(&w.cal)
    );
    let series = &w.dest_payloads(PimKind::Events).await["weekly@example.com"];
    let Payload::Event(o) = series else { panic!() };
    assert_eq!(o.events().len(), 2, "the override travels with its rule");
    assert_eq!(o.events()[0].exdates.len(), 1);
    assert_eq!(o.events()[0].timezones.len(), 1);
    assert_eq!(w.dest.notifications_sent(), 0, "no attendee was mailed");

    let second = w.run(PimSyncOptions::default()).await;
    assert_eq!(second.totals().listed, 0, "{second:?}");
    assert_eq!(second.totals().written, 0);
}

#[tokio::test]
async fn an_incremental_pass_moves_exactly_what_changed() {
    let w = world(5).await;
    w.run(PimSyncOptions::default()).await;
    // Change one, add one, delete one at the source.
    w.src.put(&w.book, contact("c1", "Person One Renamed", 2));
    w.src.put(&w.book, contact("c9", "New Person", 1));
    w.src.remove(&w.book, &ItemId::new("c2.vcf"));
    let r = w.run(PimSyncOptions::default()).await;
    let t = r.totals();
    assert_eq!(
        (t.listed, t.written, t.updated, t.removed_kept),
        (2, 2, 1, 1),
        "{r:?}"
    );
    let dest = w.dest_payloads(PimKind::Contacts).await;
    assert_eq!(
        dest.len(),
        6,
        "the removed contact is kept without deletions"
    );
    let Payload::Contact(c) = &dest["c1"] else {
        panic!()
    };
    assert_eq!(c.full_name, "Person One Renamed");

    // A moved occurrence at the source moves at the destination.
    let mut moved = series();
    moved.edit(|p| {
        let Payload::Event(o) = p else { unreachable!() };
        o.events_mut()[1].summary = Some("Stand-up (moved again)".into());
    });
    w.src.put(&w.cal, moved);
    w.src.remove(&w.book, &ItemId::new("c3.vcf"));
    let r = w
        .run(PimSyncOptions::default().with_propagate_deletions(true))
        .await;
    assert_eq!((r.totals().updated, r.totals().deleted), (1, 1), "{r:?}");
    let dest = w.dest_payloads(PimKind::Contacts).await;
    assert!(!dest.contains_key("c3"));
    assert!(
        dest.contains_key("c2"),
        "a removal from an earlier pass is not replayed"
    );
    assert_eq!(
        w.dest_payloads(PimKind::Events).await,
        w.src_payloads(&w.cal)
    );
}

#[tokio::test]
async fn lost_answers_are_settled_by_uid_without_a_second_copy() {
    let w = world(4).await;
    w.dest.lose_next_replies(3);
    let first = w.run(PimSyncOptions::default()).await;
    assert_eq!(first.totals().pending, 3, "{first:?}");
    assert!(!first.is_clean());
    let second = w.run(PimSyncOptions::default()).await;
    assert_eq!(second.totals().adopted, 3, "{second:?}");
    assert!(second.is_clean());
    assert_eq!(
        w.dest_payloads(PimKind::Contacts).await,
        w.src_payloads(&w.book)
    );
    let third = w.run(PimSyncOptions::default()).await;
    assert_eq!(third.totals().written + third.totals().listed, 0);
}

/// How a write is lost: per item or for the whole batch, before or after it took effect.
#[derive(Debug, Clone, Copy)]
enum Lost {
    Request,
    Reply,
    Batch,
    BatchReply,
}

impl Lost {
    /// Injects the loss into the next write of `dest`; how many items it leaves unknown
    /// out of a batch of five, and whether they were written.
    fn arm(self, dest: &MemoryPim) -> (u64, bool) {
        match self {
            Self::Request => {
                dest.drop_next_writes(3);
                (3, false)
            }
            Self::Reply => {
                dest.lose_next_replies(3);
                (3, true)
            }
            Self::Batch => {
                dest.drop_next_batches(1);
                (5, false)
            }
            Self::BatchReply => {
                dest.lose_next_batch_replies(1);
                (5, true)
            }
        }
    }
}

/// Every form of a lost write — per item or for the whole batch, the request never
/// arrived or it arrived and the answer was lost — on a destination with and without
/// conditional creates (`If-None-Match`): the resumed pass leaves one copy of each item.
#[tokio::test]
async fn lost_writes_of_every_form_leave_one_copy_with_or_without_conditional_creates() {
    for conditional in [true, false] {
        for lost in [Lost::Request, Lost::Reply, Lost::Batch, Lost::BatchReply] {
            let mut w = world(5).await;
            w.dest = w.dest.with_capabilities(PimCapabilities {
                conditional_writes: conditional,
                ..MemoryPim::capabilities()
            });
            let case = format!("conditional {conditional}, {lost:?} lost");
            let (unknown, arrived) = lost.arm(&w.dest);
            let first = w.run(PimSyncOptions::default()).await;
            assert_eq!(first.totals().pending, unknown, "{case}: {first:?}");
            let held = w
                .dest
                .items(&w.dest_collection(PimKind::Contacts).await)
                .len();
            let expected_held = if arrived { 5 } else { 5 - unknown as usize };
            assert_eq!(held, expected_held, "{case}");
            let second = w.run(PimSyncOptions::default()).await;
            assert!(second.is_clean(), "{case}: {second:?}");
            let t = second.totals();
            let expected = if arrived { (0, unknown) } else { (unknown, 0) };
            assert_eq!((t.written, t.adopted), expected, "{case}: {second:?}");
            // `dest_payloads` panics on a UID held twice.
            assert_eq!(
                w.dest_payloads(PimKind::Contacts).await,
                w.src_payloads(&w.book),
                "{case}"
            );
            let third = w.run(PimSyncOptions::default()).await;
            assert_eq!(third.totals().written + third.totals().listed, 0, "{case}");
        }
    }
}

/// Credentials revoked in the middle of a run: the pass stops after the batch that was
/// refused (not one refused request per remaining item), says it is incomplete, and the
/// next pass with working credentials copies everything once.
#[tokio::test]
async fn refused_credentials_stop_the_pass_after_one_batch() {
    let mut w = world(0).await;
    for n in 0..40 {
        w.src.put(
            &w.book,
            contact(&format!("c{n}"), &format!("Person {n}"), 1),
        );
    }
    let second_book = w
        .src
        .ensure_collection(&Collection::new(
            CollectionId::new("b2"),
            PimKind::Contacts,
            "Family",
        ))
        .await
        .unwrap()
        .id;
    w.src.put(&second_book, contact("f0", "Kin", 1));
    w.dest = w.dest.with_capabilities(MemoryPim::capabilities());
    w.dest.refuse_writes(Some(ErrorKind::Unauthenticated));
    let options = PimSyncOptions::default().with_batch_size(10);
    let first = w.run(options.clone()).await;
    assert!(!first.is_clean(), "{first:?}");
    assert_eq!(
        w.dest.refused_writes(),
        10,
        "one batch, then the pass stopped"
    );
    assert_eq!(
        first.collections.len(),
        1,
        "later collections are not visited"
    );
    assert!(!first.collections[0].complete);
    w.dest.refuse_writes(None);
    let second = w.run(options).await;
    assert!(second.is_clean(), "{second:?}");
    assert_eq!(second.totals().written, 42, "{second:?}");
    let mut held = 0;
    for c in w.dest.list_collections(PimKind::Contacts).await.unwrap() {
        held += w.dest.items(&c.id).len();
    }
    assert_eq!(held, 41, "every contact of both books once");
}

/// A listing cut off half-way: what was listed is written, the checkpoint stays where it
/// was, and the next pass lists and copies the rest, nothing twice.
#[tokio::test]
async fn a_listing_cut_off_half_way_is_resumed_without_loss() {
    let w = world(6).await;
    w.src.fail_next_listing_after(2);
    let first = PimSync::new(&w.src, &w.dest, &w.state, "job")
        .with_options(PimSyncOptions::default())
        .run()
        .await;
    let first_clean = first.as_ref().is_ok_and(PimReport::is_clean);
    assert!(!first_clean, "a cut listing is not a clean pass: {first:?}");
    let second = w.run(PimSyncOptions::default()).await;
    assert!(second.is_clean(), "{second:?}");
    assert_eq!(
        w.dest_payloads(PimKind::Contacts).await,
        w.src_payloads(&w.book)
    );
    assert_eq!(
        w.dest_payloads(PimKind::Events).await,
        w.src_payloads(&w.cal)
    );
    let third = w.run(PimSyncOptions::default()).await;
    assert_eq!(
        third.totals().written + third.totals().listed,
        0,
        "{third:?}"
    );
}

#[tokio::test]
async fn a_lost_state_file_duplicates_nothing() {
    let w = world(6).await;
    w.run(PimSyncOptions::default()).await;
    let fresh = MemoryState::new();
    let r = PimSync::new(&w.src, &w.dest, &fresh, "job")
        .run()
        .await
        .unwrap();
    assert_eq!((r.totals().written, r.totals().adopted), (0, 7), "{r:?}");
    assert_eq!(w.dest_payloads(PimKind::Contacts).await.len(), 6);
    // A change made while the state was lost still travels.
    w.src.put(&w.book, contact("c0", "Changed", 1));
    let fresh = MemoryState::new();
    let r = PimSync::new(&w.src, &w.dest, &fresh, "job")
        .run()
        .await
        .unwrap();
    assert_eq!((r.totals().written, r.totals().updated), (1, 1), "{r:?}");
    assert_eq!(
        w.dest_payloads(PimKind::Contacts).await,
        w.src_payloads(&w.book)
    );
}

#[tokio::test]
async fn two_items_with_one_uid_fail_the_second_by_name() {
    let w = world(2).await;
    let mut twin = contact("c0", "Impostor", 1);
    twin.meta.id = ItemId::new("zz-twin.vcf");
    w.src.put(&w.book, twin);
    let r = w.run(PimSyncOptions::default()).await;
    let book = &r.collections[0];
    assert_eq!(book.counts.written, 2, "{r:?}");
    assert_eq!(book.failures.len(), 1);
    let f = &book.failures[0];
    assert_eq!(f.kind, ErrorKind::InvalidMessage);
    assert!(f.message.contains("same UID"), "{}", f.message);
    assert_eq!(f.src_id.as_str(), "zz-twin.vcf");
    assert!(book.complete, "a final failure lets the checkpoint pass");
    let Payload::Contact(c) = &w.dest_payloads(PimKind::Contacts).await["c0"] else {
        panic!()
    };
    assert_eq!(
        c.full_name, "Person 0",
        "the first item's copy is untouched"
    );
}

#[tokio::test]
async fn overflow_beyond_the_destination_limits_is_carried_and_reported() {
    let mut w = world(0).await;
    w.src.put(&w.book, contact("many", "Many Mails", 5));
    let mut caps = MemoryPim::capabilities();
    caps.contact_limits.emails = Some(3);
    caps.keeps_alarms = false;
    w.dest = w.dest.with_capabilities(caps);
    let r = w.run(PimSyncOptions::default()).await;
    let lines: Vec<String> = r
        .collections
        .iter()
        .flat_map(|c| c.transformations.iter().map(ToString::to_string))
        .collect();
    assert_eq!(
        lines,
        [
            "many: 2 EMAIL carried in NOTE",
            "weekly@example.com: 1 VALARM not kept by the destination"
        ]
    );
    assert!(matches!(
        r.collections[1].transformations[0].fate,
        Fate::Dropped
    ));
    let Payload::Contact(c) = &w.dest_payloads(PimKind::Contacts).await["many"] else {
        panic!()
    };
    assert_eq!(c.emails.len(), 3);
    assert_eq!(
        c.notes,
        ["EMAIL (work): many.3@example.com\nEMAIL (work): many.4@example.com"]
    );
    // Carried content is stable: the next pass writes nothing again.
    let again = w.run(PimSyncOptions::default()).await;
    assert_eq!(again.totals().written, 0, "{again:?}");
}

/// A destination that keeps IANA time zone ids but not `VTIMEZONE` definitions: the
/// definitions are dropped with a line in the report, the events keep their `TZID`
/// references, verification expects exactly that, and the next pass writes nothing.
#[tokio::test]
async fn timezone_definitions_a_destination_drops_are_reported() {
    let mut w = world(0).await;
    let mut caps = MemoryPim::capabilities();
    caps.keeps_timezone_definitions = false;
    w.dest = w.dest.with_capabilities(caps);
    let r = w.run(PimSyncOptions::default()).await;
    let lines: Vec<String> = r
        .collections
        .iter()
        .flat_map(|c| c.transformations.iter().map(ToString::to_string))
        .collect();
    assert_eq!(
        lines,
        ["weekly@example.com: 1 VTIMEZONE not kept by the destination"]
    );
    let Payload::Event(o) = &w.dest_payloads(PimKind::Events).await["weekly@example.com"] else {
        panic!()
    };
    assert!(o.events()[0].timezones.is_empty());
    assert_eq!(
        o.events()[0].start.tzid(),
        Some("Europe/Berlin"),
        "the reference stays"
    );
    let again = w.run(PimSyncOptions::default()).await;
    assert_eq!(again.totals().written, 0, "{again:?}");
}

#[tokio::test]
async fn events_with_attendees_never_mail_anyone_unless_asked() {
    let mut w = world(1).await;
    let mut caps = MemoryPim::capabilities();
    caps.notifications = Notifications::Always;
    w.dest = w.dest.with_capabilities(caps);
    let r = w.run(PimSyncOptions::default()).await;
    let cal = &r.collections[1];
    assert_eq!(cal.counts.written, 0);
    assert_eq!(cal.failures[0].kind, ErrorKind::Unsupported);
    assert!(cal.failures[0].message.contains("attendee"));
    assert_eq!(
        r.collections[0].counts.written, 1,
        "the contacts still move"
    );
    assert_eq!(w.dest.notifications_sent(), 0);

    let w = world(0).await;
    w.run(PimSyncOptions::default().with_notify_attendees(true))
        .await;
    assert_eq!(
        w.dest.notifications_sent(),
        1,
        "the opt-in reaches the destination"
    );
}

#[tokio::test]
async fn an_edit_at_the_destination_is_reported_not_overwritten() {
    let w = world(2).await;
    w.run(PimSyncOptions::default()).await;
    let dest_book = w.dest_collection(PimKind::Contacts).await;
    let mut copy = w
        .dest
        .items(&dest_book)
        .into_iter()
        .find(|i| i.uid() == Some("c0"))
        .unwrap();
    copy.edit(|p| {
        let Payload::Contact(c) = p else {
            unreachable!()
        };
        c.title = Some("Edited by the new owner".into());
    });
    w.dest.put(&dest_book, copy);
    w.src
        .put(&w.book, contact("c0", "Changed at the source", 1));
    let r = w.run(PimSyncOptions::default()).await;
    let book = &r.collections[0];
    assert_eq!(book.counts.written, 0, "{r:?}");
    assert_eq!(book.failures[0].kind, ErrorKind::Conflict);
    let Payload::Contact(c) = &w.dest_payloads(PimKind::Contacts).await["c0"] else {
        panic!()
    };
    assert_eq!(c.title.as_deref(), Some("Edited by the new owner"));
}

#[tokio::test]
async fn a_contact_without_uid_gets_a_stable_one() {
    let w = world(0).await;
    let mut c = Contact::new("No Uid");
    c.uid = None;
    w.src.put(
        &w.book,
        PimItem::new(
            ItemMeta::new(ItemId::new("nouid.vcf")),
            Payload::Contact(Box::new(c)),
        ),
    );
    w.run(PimSyncOptions::default()).await;
    let first: Vec<String> = w
        .dest_payloads(PimKind::Contacts)
        .await
        .into_keys()
        .collect();
    assert!(first[0].starts_with("mailmigrate-"), "{first:?}");
    let fresh = MemoryState::new();
    let r = PimSync::new(&w.src, &w.dest, &fresh, "job")
        .run()
        .await
        .unwrap();
    assert_eq!(r.totals().adopted, 2, "the same UID is given again: {r:?}");
    assert_eq!(w.dest_payloads(PimKind::Contacts).await.len(), 1);
}

#[tokio::test]
async fn verification_compares_property_by_property_and_expects_declared_limits() {
    use mailmigrate_core::pim::verify::verify_pim;
    let mut w = world(3).await;
    w.src.put(&w.book, contact("many", "Many Mails", 5));
    let mut caps = MemoryPim::capabilities();
    caps.contact_limits.emails = Some(3);
    w.dest = w.dest.with_capabilities(caps);
    w.run(PimSyncOptions::default()).await;
    let report = verify_pim(&w.src, &w.dest, &PimKind::ALL, 2).await.unwrap();
    assert!(report.is_equal(), "{report:?}");
    assert_eq!(report.collections[0].equal, 4);
    assert_eq!(
        report.collections[0].transformed[0].to_string(),
        "many: 2 EMAIL carried in NOTE"
    );

    // A property changed at the destination, one copy gone, one extra item.
    let dest_book = w.dest_collection(PimKind::Contacts).await;
    let mut copy = w
        .dest
        .items(&dest_book)
        .into_iter()
        .find(|i| i.uid() == Some("c1"))
        .unwrap();
    copy.edit(|p| {
        let Payload::Contact(c) = p else {
            unreachable!()
        };
        c.emails[0].address = "someone.else@example.com".into();
    });
    w.dest.put(&dest_book, copy);
    let gone = w
        .dest
        .items(&dest_book)
        .into_iter()
        .find(|i| i.uid() == Some("c2"))
        .unwrap();
    w.dest.remove(&dest_book, &gone.meta.id);
    let mut stray = contact("stray", "Stray", 0);
    stray.meta.id = ItemId::new("stray");
    w.dest.put(&dest_book, stray);
    let report = verify_pim(&w.src, &w.dest, &PimKind::ALL, 2).await.unwrap();
    let c = &report.collections[0];
    assert!(!report.is_equal());
    assert_eq!(c.missing, ["c2"]);
    assert_eq!(c.extra, ["stray"]);
    assert_eq!(c.differences.len(), 1, "{:?}", c.differences);
    assert_eq!(
        (
            c.differences[0].uid.as_str(),
            c.differences[0].property.as_str()
        ),
        ("c1", "EMAIL")
    );
    assert_eq!((c.differences[0].missing, c.differences[0].extra), (1, 1));
    assert!(
        report.collections[1].is_equal(),
        "the calendar is untouched"
    );
}

/// Two source items sharing a `UID` after a lost state file: both creates are refused as
/// present, and the look-up that settles them finds the one copy (the first item's, from
/// the run before). The first takes it; the second must not take the same copy as its own
/// and overwrite it (the first item's content would be gone while its row says done).
#[tokio::test]
async fn a_lost_state_file_does_not_let_a_uid_twin_overwrite_the_first_copy() {
    let w = world(2).await;
    let mut twin = contact("c0", "Impostor", 1);
    twin.meta.id = ItemId::new("zz-twin.vcf");
    w.src.put(&w.book, twin);
    w.run(PimSyncOptions::default()).await;
    let fresh = MemoryState::new();
    let r = PimSync::new(&w.src, &w.dest, &fresh, "job")
        .run()
        .await
        .unwrap();
    let book = &r.collections[0];
    assert_eq!(book.counts.written, 0, "{r:?}");
    assert_eq!(book.counts.adopted, 2, "c0 and c1 are found: {r:?}");
    assert_eq!(book.failures.len(), 1, "{r:?}");
    assert_eq!(book.failures[0].src_id.as_str(), "zz-twin.vcf");
    let held = w.dest.items(&w.dest_collection(PimKind::Contacts).await);
    assert_eq!(held.len(), 2, "one copy each of c0 and c1");
    let Payload::Contact(c) = &w.dest_payloads(PimKind::Contacts).await["c0"] else {
        panic!()
    };
    assert_eq!(
        c.full_name, "Person 0",
        "the first item's copy is untouched"
    );
}

/// The same twins with both writes' answers lost: the resumed pass settles both pending
/// rows by one look-up, which finds one copy. It is the first item's (its content); the
/// second must not take it as its own to replace.
#[tokio::test]
async fn pending_uid_twins_settle_to_one_owner_of_the_copy() {
    let w = world(0).await;
    w.src.put(&w.book, contact("c0", "Person 0", 1));
    let mut twin = contact("c0", "Impostor", 1);
    twin.meta.id = ItemId::new("zz-twin.vcf");
    w.src.put(&w.book, twin);
    // The whole batch's answer is lost: c0 is created, the twin is refused inside it.
    w.dest.lose_next_batch_replies(1);
    let first = w.run(PimSyncOptions::default()).await;
    assert!(!first.is_clean(), "{first:?}");
    let second = w.run(PimSyncOptions::default()).await;
    let held = w.dest.items(&w.dest_collection(PimKind::Contacts).await);
    assert_eq!(held.len(), 1, "{second:?}");
    let Payload::Contact(c) = &w.dest_payloads(PimKind::Contacts).await["c0"] else {
        panic!()
    };
    assert_eq!(c.full_name, "Person 0", "{second:?}");
    let book = &second.collections[0];
    assert_eq!(book.counts.adopted, 1, "{second:?}");
    assert_eq!(book.failures.len(), 1, "{second:?}");
    assert_eq!(book.failures[0].src_id.as_str(), "zz-twin.vcf");
    // And the pass after it changes nothing at the destination.
    w.run(PimSyncOptions::default()).await;
    let Payload::Contact(c) = &w.dest_payloads(PimKind::Contacts).await["c0"] else {
        panic!()
    };
    assert_eq!(c.full_name, "Person 0");
}

/// A destination that can neither look a `UID` up nor refuse a second create: a write of
/// unknown outcome cannot be settled, so it waits for the operator. The next pass lists
/// the item again (the checkpoint did not move) and must not write it blindly: the lost
/// answer's write did arrive, and a second create is a second copy.
#[tokio::test]
async fn an_unsettleable_pending_item_is_not_written_again_when_listed() {
    let mut w = world(3).await;
    w.dest = w.dest.with_capabilities(PimCapabilities {
        find_by_uid: false,
        conditional_writes: false,
        ..MemoryPim::capabilities()
    });
    w.dest.lose_next_replies(1);
    let first = w.run(PimSyncOptions::default()).await;
    assert_eq!(first.totals().pending, 1, "{first:?}");
    let second = w.run(PimSyncOptions::default()).await;
    assert!(!second.is_clean(), "still unknown: {second:?}");
    assert_eq!(second.totals().pending, 1, "{second:?}");
    // `dest_payloads` panics on a UID held twice.
    assert_eq!(
        w.dest_payloads(PimKind::Contacts).await,
        w.src_payloads(&w.book)
    );
}

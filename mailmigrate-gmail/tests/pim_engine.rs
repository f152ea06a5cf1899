//! The PIM engine with Google on either side: a calendar into Google (a weekly series with
//! a moved occurrence and an excluded date, all-day events, events in Berlin and New York,
//! attendees nobody is mailed, alarms), idle second passes, exact changes, lost replies
//! and dropped requests settled without twins, a lost state file; contacts with many
//! emails and phones; Google's own series and contacts out into memory.
#![cfg(feature = "emulator")]

use std::time::Duration;

use mailmigrate_core::pim::sync::{PimSync, PimSyncOptions};
use mailmigrate_core::pim::verify::verify_pim;
use mailmigrate_core::pim::{
    Collection, CollectionId, ItemId, ItemMeta, MemoryPim, Payload, PimDestination, PimItem,
    PimKind, PimProvider,
};
use mailmigrate_core::state::MemoryState;
use mailmigrate_gmail::emulator::{Emulator, EmulatorHandle, Fault, Quota};
use mailmigrate_gmail::{GmailLimits, GooglePim};
use serde_json::json;

const USER: &str = "ada@example.com";

async fn emulator() -> EmulatorHandle {
    Emulator::builder()
        .user(USER)
        .quota(Quota::default().with_units_per_window(1_000_000, Duration::from_secs(60)))
        .start()
        .await
        .unwrap()
}

fn store(emu: &EmulatorHandle) -> GooglePim {
    let limits =
        GmailLimits::default().with_backoff(Duration::from_millis(10), Duration::from_millis(100));
    emu.pim_builder(USER)
        .with_gmail(|g| g.with_limits(limits))
        .build()
        .unwrap()
}

fn event(uid: &str, body: &str) -> PimItem {
    let text =
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n");
    PimItem::parse(
        PimKind::Events,
        ItemMeta::new(ItemId::new(format!("{uid}.ics"))),
        text.into(),
    )
    .unwrap()
}

/// Event `n`: all-day every fifth, else in Berlin, New York or UTC; attendees on every
/// fourth, an alarm on every third and two on every ninth.
fn single(n: usize, summary: &str) -> PimItem {
    let uid = format!("e{n}@example.com");
    let day = 1 + n % 27;
    let when = if n.is_multiple_of(5) {
        format!(
            "DTSTART;VALUE=DATE:202503{day:02}\r\nDTEND;VALUE=DATE:202503{:02}\r\n",
            day + 1
        )
    } else {
        match n % 3 {
            0 => format!("DTSTART;TZID=Europe/Berlin:202503{day:02}T090000\r\nDTEND;TZID=Europe/Berlin:202503{day:02}T100000\r\n"),
            1 => format!("DTSTART;TZID=America/New_York:202503{day:02}T140000\r\nDTEND;TZID=America/New_York:202503{day:02}T150000\r\n"),
            _ => format!("DTSTART:202503{day:02}T120000Z\r\nDURATION:PT45M\r\n"),
        }
    };
    let mut body = format!(
        "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20250101T000000Z\r\n{when}SUMMARY:{summary} {n}\r\n\
DESCRIPTION:Agenda {n}\\nline two\r\nLOCATION:Room {n}\r\nCATEGORIES:work\r\nX-TEST-KEPT:{n}\r\n"
    );
    if n.is_multiple_of(4) {
        body.push_str("ORGANIZER;CN=Ada:mailto:ada@example.com\r\nATTENDEE;CN=Bo;PARTSTAT=ACCEPTED:mailto:bo@example.org\r\nATTENDEE;ROLE=OPT-PARTICIPANT:mailto:cy@example.org\r\n");
    }
    if n.is_multiple_of(3) {
        body.push_str("BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Soon\r\nEND:VALARM\r\n");
    }
    if n.is_multiple_of(9) {
        body.push_str("BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-P1D\r\nDESCRIPTION:Tomorrow\r\nEND:VALARM\r\n");
    }
    body.push_str("END:VEVENT\r\n");
    event(&uid, &body)
}

/// A weekly stand-up in Berlin: the 13 January one moved to 10:00, the 20 January one
/// excluded, with attendees.
fn standup() -> PimItem {
    event(
        "standup",
        "BEGIN:VEVENT\r\nUID:standup@example.com\r\nDTSTAMP:20250101T000000Z\r\n\
DTSTART;TZID=Europe/Berlin:20250106T090000\r\nDTEND;TZID=Europe/Berlin:20250106T093000\r\n\
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10\r\nEXDATE;TZID=Europe/Berlin:20250120T090000\r\n\
SUMMARY:Stand-up\r\nORGANIZER;CN=Ada:mailto:ada@example.com\r\n\
ATTENDEE;CN=Bo;PARTSTAT=ACCEPTED:mailto:bo@example.org\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:standup@example.com\r\nDTSTAMP:20250101T000000Z\r\n\
RECURRENCE-ID;TZID=Europe/Berlin:20250113T090000\r\n\
DTSTART;TZID=Europe/Berlin:20250113T100000\r\nDTEND;TZID=Europe/Berlin:20250113T103000\r\n\
SUMMARY:Stand-up (moved)\r\nEND:VEVENT\r\n",
    )
}

fn series() -> Vec<PimItem> {
    vec![
        standup(),
        event("daily", "BEGIN:VEVENT\r\nUID:daily@example.com\r\nDTSTART;TZID=America/New_York:20250303T080000\r\n\
DTEND;TZID=America/New_York:20250303T081500\r\nRRULE:FREQ=DAILY;COUNT=14\r\n\
EXDATE;TZID=America/New_York:20250310T080000\r\nSUMMARY:Run\r\nEND:VEVENT\r\n"),
        event("review", "BEGIN:VEVENT\r\nUID:review@example.com\r\nDTSTART:20250131T150000Z\r\n\
DTEND:20250131T160000Z\r\nRRULE:FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20251231T150000Z\r\nSUMMARY:Review\r\nEND:VEVENT\r\n"),
        event("birthday", "BEGIN:VEVENT\r\nUID:birthday@example.com\r\nDTSTART;VALUE=DATE:20250412\r\n\
DTEND;VALUE=DATE:20250413\r\nRRULE:FREQ=YEARLY\r\nSUMMARY:Zoë's birthday\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n"),
    ]
}

fn contact(n: usize, title: &str) -> PimItem {
    let mut card = format!(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:c{n}@example.com\r\nFN:Person {n}\r\nN:Person;{n};;;\r\n\
ORG:Example;Team {n}\r\nTITLE:{title}\r\nBDAY:1985{:02}{:02}\r\nNOTE:Met at {n}\r\nX-KEPT:{n}\r\n",
        1 + n % 12,
        1 + n % 28
    );
    // Many emails and phones: more than Graph keeps, all of which Google holds.
    for k in 0..(2 + n % 5) {
        card.push_str(&format!("EMAIL;TYPE=work:p{n}.{k}@example.com\r\n"));
        card.push_str(&format!("TEL;TYPE=cell:+49 30 {n}{k}\r\n"));
    }
    card.push_str("END:VCARD\r\n");
    PimItem::parse(
        PimKind::Contacts,
        ItemMeta::new(ItemId::new(format!("c{n}.vcf"))),
        card.into(),
    )
    .unwrap()
}

fn options(kind: PimKind) -> PimSyncOptions {
    PimSyncOptions::default()
        .with_kinds([kind])
        .with_propagate_deletions(true)
        .with_batch_size(10)
}

async fn source(kind: PimKind, name: &str) -> (MemoryPim, CollectionId) {
    let src = MemoryPim::new("old");
    let c = src
        .ensure_collection(&Collection::new(CollectionId::new("c"), kind, name))
        .await
        .unwrap()
        .id;
    (src, c)
}

async fn assert_equal(src: &MemoryPim, dst: &GooglePim, kind: PimKind) {
    let check = verify_pim(src, dst, &[kind], 50).await.unwrap();
    assert!(check.is_equal(), "{check:#?}");
    for c in &check.collections {
        assert!(c.extra.is_empty(), "{:?}", c.extra);
        assert_eq!(c.source_items, c.dest_items);
    }
}

async fn go(
    src: &MemoryPim,
    google: &GooglePim,
    state: &MemoryState,
    opts: &PimSyncOptions,
) -> mailmigrate_core::pim::sync::PimReport {
    PimSync::new(src, google, state, "job")
        .with_options(opts.clone())
        .run()
        .await
        .unwrap()
}

fn held(emu: &EmulatorHandle, calendar: &str) -> usize {
    emu.events(USER)
        .iter()
        .filter(|e| e.calendar_name == calendar && e.str("recurringEventId").is_none())
        .count()
}

#[tokio::test]
async fn a_calendar_moves_into_google_exactly_once_and_mails_nobody() {
    let emu = emulator().await;
    let google = store(&emu);
    let (src, cal) = source(PimKind::Events, "Team").await;
    for n in 0..36 {
        src.put(&cal, single(n, "Meeting"));
    }
    for s in series() {
        src.put(&cal, s);
    }
    let state = MemoryState::new();
    let opts = options(PimKind::Events);
    let first = go(&src, &google, &state, &opts).await;
    assert!(first.is_clean(), "{first:#?}");
    assert_eq!(first.totals().written, 40);
    assert_eq!(held(&emu, "Team"), 40);
    assert_eq!(emu.notifications_sent(USER), 0, "nobody was mailed");

    // Google holds the fields: attendees, reminders, the series and its exception.
    let events = emu.events(USER);
    let standup = events
        .iter()
        .find(|e| e.str("summary") == Some("Stand-up"))
        .unwrap();
    assert_eq!(
        standup.json["recurrence"],
        json!([
            "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10",
            "EXDATE;TZID=Europe/Berlin:20250120T090000"
        ])
    );
    assert_eq!(
        standup.json["start"],
        json!({"dateTime": "2025-01-06T09:00:00", "timeZone": "Europe/Berlin"})
    );
    assert_eq!(standup.json["attendees"][0]["email"], "bo@example.org");
    assert_eq!(
        standup.json["reminders"]["overrides"],
        json!([{"method": "popup", "minutes": 10}])
    );
    let moved = events
        .iter()
        .find(|e| e.str("recurringEventId") == Some(standup.str("id").unwrap()))
        .unwrap();
    assert_eq!(moved.str("summary"), Some("Stand-up (moved)"));
    assert_eq!(
        moved.json["start"],
        json!({"dateTime": "2025-01-13T10:00:00", "timeZone": "Europe/Berlin"})
    );
    assert_eq!(
        moved.json["originalStartTime"],
        json!({"dateTime": "2025-01-13T09:00:00", "timeZone": "Europe/Berlin"})
    );
    let e5 = events
        .iter()
        .find(|e| e.str("summary") == Some("Meeting 5"))
        .unwrap();
    assert_eq!(e5.json["start"], json!({"date": "2025-03-06"}));
    let e9 = events
        .iter()
        .find(|e| e.str("summary") == Some("Meeting 9"))
        .unwrap();
    assert_eq!(
        e9.json["reminders"]["overrides"].as_array().unwrap().len(),
        2
    );
    let e2 = events
        .iter()
        .find(|e| e.str("summary") == Some("Meeting 2"))
        .unwrap();
    assert_eq!(
        e2.json["end"],
        json!({"dateTime": "2025-03-03T12:45:00Z", "timeZone": "UTC"})
    );
    assert_equal(&src, &google, PimKind::Events).await;

    // Nothing changed: nothing moves.
    let second = go(&src, &google, &state, &opts).await;
    assert!(second.is_clean(), "{second:?}");
    assert_eq!(second.totals().written, 0, "{second:?}");
    assert_eq!(second.totals().updated, 0, "{second:?}");

    // A change, an addition and a removal are exactly what moves.
    src.put(&cal, single(7, "Workshop"));
    src.put(&cal, single(500, "Meeting"));
    src.remove(&cal, &ItemId::new("e8@example.com.ics"));
    let third = go(&src, &google, &state, &opts).await;
    assert!(third.is_clean(), "{third:?}");
    let t = third.totals();
    assert_eq!((t.written, t.updated, t.deleted), (2, 1, 1), "{t:?}");
    assert_eq!(held(&emu, "Team"), 40);
    assert_equal(&src, &google, PimKind::Events).await;

    // Replies lost after the imports, requests dropped before: settled without twins.
    for n in 600..606 {
        src.put(&cal, single(n, "Meeting"));
    }
    let faults = emu.faults();
    faults.arm("POST", "/events/import", 0, 2, Fault::LoseReply);
    faults.arm("POST", "/events/import", 2, 2, Fault::Drop);
    let lossy = go(&src, &google, &state, &opts).await;
    assert_eq!(lossy.totals().pending, 4, "{lossy:?}");
    assert_eq!(
        held(&emu, "Team"),
        44,
        "two arrived unanswered, two imported; two dropped"
    );
    let settled = go(&src, &google, &state, &opts).await;
    assert!(settled.is_clean(), "{settled:?}");
    let s = settled.totals();
    assert_eq!((s.adopted, s.written), (2, 2), "{s:?}");
    assert_eq!(held(&emu, "Team"), 46);
    assert_equal(&src, &google, PimKind::Events).await;

    // A lost state file: every event is found by its UID, none written again.
    let again = go(&src, &google, &MemoryState::new(), &opts).await;
    assert!(again.is_clean(), "{again:?}");
    assert_eq!((again.totals().written, again.totals().adopted), (0, 46));
    assert_eq!(held(&emu, "Team"), 46);
    assert_eq!(emu.notifications_sent(USER), 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn with_notifications_opted_in_updates_mail_the_guests() {
    let emu = emulator().await;
    let google = store(&emu);
    let (src, cal) = source(PimKind::Events, "Team").await;
    src.put(&cal, single(4, "Meeting"));
    let state = MemoryState::new();
    let opts = options(PimKind::Events).with_notify_attendees(true);
    PimSync::new(&src, &google, &state, "job")
        .with_options(opts.clone())
        .run()
        .await
        .unwrap();
    assert_eq!(emu.notifications_sent(USER), 0, "an import mails nobody");
    src.put(&cal, single(4, "Workshop"));
    let r = PimSync::new(&src, &google, &state, "job")
        .with_options(opts)
        .run()
        .await
        .unwrap();
    assert_eq!(r.totals().updated, 1, "{r:?}");
    assert_eq!(
        emu.notifications_sent(USER),
        2,
        "the update told both guests"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn contacts_move_into_google_exactly_once() {
    let emu = emulator().await;
    let google = store(&emu);
    let (src, book) = source(PimKind::Contacts, "Friends").await;
    for n in 0..230 {
        src.put(&book, contact(n, "Engineer"));
    }
    let state = MemoryState::new();
    let opts = options(PimKind::Contacts).with_batch_size(250);
    let first = go(&src, &google, &state, &opts).await;
    assert!(first.is_clean(), "{first:#?}");
    assert_eq!(first.totals().written, 230);
    assert_eq!(emu.contacts(USER).len(), 230);
    assert!(
        first.collections[0].transformations.is_empty(),
        "Google keeps every email and phone"
    );
    let calls = emu.stats().calls;
    assert_eq!(
        calls.get("people.people.batchCreateContacts"),
        Some(&2),
        "{calls:?}"
    );
    let c6 = emu
        .contacts(USER)
        .into_iter()
        .find(|c| c.fields["names"][0]["unstructuredName"] == "Person 6")
        .unwrap();
    assert_eq!(c6.fields["emailAddresses"].as_array().unwrap().len(), 3);
    assert_eq!(c6.fields["phoneNumbers"][0]["type"], "mobile");
    assert_equal(&src, &google, PimKind::Contacts).await;

    let second = go(&src, &google, &state, &opts).await;
    assert_eq!(
        (second.totals().written, second.totals().updated),
        (0, 0),
        "{second:?}"
    );

    src.put(&book, contact(3, "Manager"));
    src.put(&book, contact(900, "New"));
    src.remove(&book, &ItemId::new("c4.vcf"));
    let third = go(&src, &google, &state, &opts).await;
    assert!(third.is_clean(), "{third:?}");
    let t = third.totals();
    assert_eq!((t.written, t.updated, t.deleted), (2, 1, 1), "{t:?}");
    assert_equal(&src, &google, PimKind::Contacts).await;

    // A lost batch reply: the batch is settled by the UID index, nothing twice.
    for n in 1000..1005 {
        src.put(&book, contact(n, "Lost"));
    }
    emu.faults()
        .arm("POST", "batchCreateContacts", 0, 1, Fault::LoseReply);
    let lossy = go(&src, &google, &state, &opts).await;
    assert_eq!(lossy.totals().pending, 5, "{lossy:?}");
    let settled = go(&src, &google, &state, &opts).await;
    assert!(settled.is_clean(), "{settled:?}");
    assert_eq!(settled.totals().adopted, 5, "{settled:?}");
    // Removed from the group, the contact is still in My Contacts.
    assert_eq!(emu.contacts(USER).len(), 236);
    let c4 = emu
        .contacts(USER)
        .into_iter()
        .find(|c| c.fields["names"][0]["unstructuredName"] == "Person 4")
        .unwrap();
    assert_eq!(c4.fields["memberships"].as_array().unwrap().len(), 1);

    // Expired sync tokens: a full listing, still nothing to write.
    emu.expire_sync_tokens(USER);
    let reset = go(&src, &google, &state, &opts).await;
    assert!(reset.is_clean(), "{reset:?}");
    assert_eq!(reset.totals().written, 0, "{reset:?}");

    let again = go(&src, &google, &MemoryState::new(), &opts).await;
    assert_eq!(
        (again.totals().written, again.totals().adopted),
        (0, 235),
        "{again:?}"
    );
    assert_eq!(emu.contacts(USER).len(), 236);
    emu.shutdown().await;
}

#[tokio::test]
async fn google_series_and_contacts_move_out_property_equal() {
    let emu = emulator().await;
    let id = emu.seed_event(
        USER,
        "primary",
        json!({
            "summary": "Planning", "description": "Plan & act", "iCalUID": "plan@google.com",
            "start": {"dateTime": "2025-01-07T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2025-01-07T11:00:00+01:00", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=TU"],
            "reminders": {"useDefault": false, "overrides": [{"method": "popup", "minutes": 30}]},
            "attendees": [{"email": "bo@example.org", "responseStatus": "accepted"}],
        }),
    );
    emu.seed_event(
        USER,
        "primary",
        json!({
            "summary": "Planning (long)", "iCalUID": "plan@google.com", "id": format!("{id}_20250114T100000"),
            "recurringEventId": id,
            "originalStartTime": {"dateTime": "2025-01-14T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            "start": {"dateTime": "2025-01-14T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2025-01-14T12:30:00+01:00", "timeZone": "Europe/Berlin"},
        }),
    );
    emu.seed_event(
        USER,
        "primary",
        json!({
            "status": "cancelled", "iCalUID": "plan@google.com", "id": format!("{id}_20250128T100000"),
            "recurringEventId": id,
            "originalStartTime": {"dateTime": "2025-01-28T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            "start": {"dateTime": "2025-01-28T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2025-01-28T11:00:00+01:00", "timeZone": "Europe/Berlin"},
        }),
    );
    emu.seed_event(
        USER,
        "primary",
        json!({"summary": "Offsite", "start": {"date": "2025-02-03"}, "end": {"date": "2025-02-05"}, "transparency": "transparent"}),
    );
    emu.seed_contact(
        USER,
        json!({"names": [{"givenName": "Ann", "familyName": "Lee", "unstructuredName": "Ann Lee"}],
               "emailAddresses": [{"value": "ann@example.org", "type": "home"}, {"value": "ann@work.example", "type": "work"}],
               "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
               "birthdays": [{"date": {"month": 4, "day": 12}}],
               "biographies": [{"value": "Met in Lisbon", "contentType": "TEXT_PLAIN"}]}),
    );
    let google = store(&emu);
    let names: Vec<String> = google
        .list_collections(PimKind::Events)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, [USER]);
    let dest = MemoryPim::new("new");
    let state = MemoryState::new();
    for kind in [PimKind::Events, PimKind::Contacts] {
        let r = PimSync::new(&google, &dest, &state, "out")
            .with_options(options(kind))
            .run()
            .await
            .unwrap();
        assert!(r.is_clean(), "{r:?}");
        let check = verify_pim(&google, &dest, &[kind], 50).await.unwrap();
        assert!(check.is_equal(), "{check:#?}");
    }
    let cal = dest
        .list_collections(PimKind::Events)
        .await
        .unwrap()
        .remove(0);
    let items = dest.items(&cal.id);
    assert_eq!(items.len(), 2);
    let planning = items
        .iter()
        .find_map(|i| match &i.payload {
            Payload::Event(o) if o.uid() == "plan@google.com" => Some(o.clone()),
            _ => None,
        })
        .unwrap();
    let m = planning.master().unwrap();
    assert_eq!(
        (m.start.tzid(), m.start.value().as_str()),
        (Some("Europe/Berlin"), "20250107T100000")
    );
    assert_eq!(m.rrule.as_deref(), Some("FREQ=WEEKLY;COUNT=6;BYDAY=TU"));
    assert_eq!(
        m.exdates.iter().map(|x| x.value()).collect::<Vec<_>>(),
        ["20250128T100000"]
    );
    assert_eq!(m.alarms[0].trigger, "-PT30M");
    assert_eq!(m.attendees[0].address, "mailto:bo@example.org");
    let o: Vec<_> = planning.overrides().collect();
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].summary.as_deref(), Some("Planning (long)"));
    assert_eq!(o[0].end.as_ref().unwrap().value(), "20250114T123000");

    // Unchanged: nothing; a change in Google: exactly that.
    let sync = PimSync::new(&google, &dest, &state, "out").with_options(options(PimKind::Events));
    assert_eq!(sync.run().await.unwrap().totals().written, 0);
    emu.seed_event(
        USER,
        "primary",
        json!({"status": "cancelled", "iCalUID": "plan@google.com", "id": format!("{id}_20250204T100000"),
               "recurringEventId": id,
               "originalStartTime": {"dateTime": "2025-02-04T10:00:00+01:00", "timeZone": "Europe/Berlin"},
               "start": {"dateTime": "2025-02-04T10:00:00+01:00", "timeZone": "Europe/Berlin"},
               "end": {"dateTime": "2025-02-04T11:00:00+01:00", "timeZone": "Europe/Berlin"}}),
    );
    let third = sync.run().await.unwrap();
    assert_eq!(third.totals().updated, 1, "{third:?}");
    let items = dest.items(&cal.id);
    let exdates = items
        .iter()
        .find_map(|i| match &i.payload {
            Payload::Event(o) if o.uid() == "plan@google.com" => {
                Some(o.master().unwrap().exdates.len())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(exdates, 2);
    let book = dest
        .list_collections(PimKind::Contacts)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(book.name, "My Contacts");
    let Payload::Contact(ann) = &dest.items(&book.id)[0].payload else {
        panic!("a contact")
    };
    assert_eq!(ann.emails.len(), 2);
    assert_eq!(ann.birthday.as_deref(), Some("--0412"));
    emu.shutdown().await;
}

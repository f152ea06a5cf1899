//! The PIM engine over the Graph emulator's calendars: a calendar into Graph (series with a
//! moved occurrence and an excluded date, all-day events, events in Berlin and New York,
//! attendees nobody is mailed, alarms), incremental passes, lost requests and replies, a
//! lost state file, notifications opted in; and Graph's own series out of it.
#![cfg(feature = "emulator")]

use mailmigrate_core::pim::sync::{PimSync, PimSyncOptions};
use mailmigrate_core::pim::verify::verify_pim;
use mailmigrate_core::pim::{
    Collection, CollectionId, ItemId, ItemMeta, MemoryPim, Payload, PimItem, PimKind, PimProvider,
};
use mailmigrate_core::state::MemoryState;
use mailmigrate_graph::emulator::{Emulator, EmulatorHandle};
use mailmigrate_graph::Graph;
use serde_json::json;

const MAILBOX: &str = "ada@example.com";
const CALENDAR: &str = "Team";

fn item(uid: &str, body: &str) -> PimItem {
    let text =
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n");
    let _ = uid;
    PimItem::parse(
        PimKind::Events,
        ItemMeta::new(ItemId::new(format!("{uid}.ics"))),
        text.into(),
    )
    .unwrap()
}

/// Event `n`: all-day every fifth, else in Berlin, New York or UTC by turn; attendees on
/// every fourth, one alarm on every third and two on every ninth.
fn single(n: usize, summary: &str) -> PimItem {
    let uid = format!("e{n}@example.com");
    let day = 1 + n % 28;
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
        body.push_str("ORGANIZER;CN=Ada:mailto:ada@example.com\r\nATTENDEE;CN=Bo;PARTSTAT=ACCEPTED:mailto:bo@example.com\r\nATTENDEE;ROLE=OPT-PARTICIPANT:mailto:cy@example.com\r\n");
    }
    if n.is_multiple_of(3) {
        body.push_str("BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Soon\r\nEND:VALARM\r\n");
    }
    if n.is_multiple_of(9) {
        body.push_str("BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-P1D\r\nDESCRIPTION:Tomorrow\r\nEND:VALARM\r\n");
    }
    body.push_str("END:VEVENT\r\n");
    item(&uid, &body)
}

/// A weekly stand-up in Berlin: the 13 January one moved to 10:00, the 20 January one
/// excluded, with attendees.
fn standup() -> PimItem {
    item(
        "standup",
        "BEGIN:VEVENT\r\nUID:standup@example.com\r\nDTSTAMP:20250101T000000Z\r\n\
DTSTART;TZID=Europe/Berlin:20250106T090000\r\nDTEND;TZID=Europe/Berlin:20250106T093000\r\n\
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10\r\nEXDATE;TZID=Europe/Berlin:20250120T090000\r\n\
SUMMARY:Stand-up\r\nORGANIZER;CN=Ada:mailto:ada@example.com\r\n\
ATTENDEE;CN=Bo;PARTSTAT=ACCEPTED:mailto:bo@example.com\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:standup@example.com\r\nDTSTAMP:20250101T000000Z\r\n\
RECURRENCE-ID;TZID=Europe/Berlin:20250113T090000\r\n\
DTSTART;TZID=Europe/Berlin:20250113T100000\r\nDTEND;TZID=Europe/Berlin:20250113T103000\r\n\
SUMMARY:Stand-up (moved)\r\nEND:VEVENT\r\n",
    )
}

/// More series: daily in New York with an excluded day, the last Friday of each month,
/// and yearly all-day.
fn series() -> Vec<PimItem> {
    vec![
        standup(),
        item("daily", "BEGIN:VEVENT\r\nUID:daily@example.com\r\nDTSTART;TZID=America/New_York:20250303T080000\r\n\
DTEND;TZID=America/New_York:20250303T081500\r\nRRULE:FREQ=DAILY;COUNT=14\r\n\
EXDATE;TZID=America/New_York:20250310T080000\r\nSUMMARY:Run\r\nEND:VEVENT\r\n"),
        item("review", "BEGIN:VEVENT\r\nUID:review@example.com\r\nDTSTART:20250131T150000Z\r\n\
DTEND:20250131T160000Z\r\nRRULE:FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20251231T150000Z\r\nSUMMARY:Review\r\nEND:VEVENT\r\n"),
        item("birthday", "BEGIN:VEVENT\r\nUID:birthday@example.com\r\nDTSTART;VALUE=DATE:20250412\r\n\
DTEND;VALUE=DATE:20250413\r\nRRULE:FREQ=YEARLY\r\nSUMMARY:Zoë's birthday\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n"),
    ]
}

struct World {
    emu: EmulatorHandle,
    graph: Graph,
    src: MemoryPim,
    cal: CollectionId,
}

async fn world(singles: usize) -> World {
    let emu = Emulator::builder().mailbox(MAILBOX).start().await.unwrap();
    let graph = emu.graph_builder(MAILBOX).connect().await.unwrap();
    let src = MemoryPim::new("old");
    let cal = mailmigrate_core::pim::PimDestination::ensure_collection(
        &src,
        &Collection::new(CollectionId::new("c"), PimKind::Events, CALENDAR),
    )
    .await
    .unwrap()
    .id;
    for n in 0..singles {
        src.put(&cal, single(n, "Meeting"));
    }
    for s in series() {
        src.put(&cal, s);
    }
    World {
        emu,
        graph,
        src,
        cal,
    }
}

fn events_only(notify: bool) -> PimSyncOptions {
    PimSyncOptions::default()
        .with_kinds([PimKind::Events])
        .with_propagate_deletions(true)
        .with_notify_attendees(notify)
        .with_batch_size(10)
}

impl World {
    async fn run(&self, state: &MemoryState) -> mailmigrate_core::pim::sync::PimReport {
        PimSync::new(&self.src, &self.graph, state, "job")
            .with_options(events_only(false))
            .run()
            .await
            .unwrap()
    }

    fn held(&self) -> usize {
        self.emu
            .events(MAILBOX)
            .iter()
            .filter(|e| e.calendar == CALENDAR)
            .count()
    }

    async fn assert_equal(&self) {
        let check = verify_pim(&self.src, &self.graph, &[PimKind::Events], 50)
            .await
            .unwrap();
        assert!(check.is_equal(), "{check:#?}");
        let c = &check.collections[0];
        assert!(c.extra.is_empty(), "{:?}", c.extra);
        assert_eq!(c.source_items, c.dest_items);
    }
}

#[tokio::test]
async fn a_calendar_moves_into_graph_exactly_once_and_mails_nobody() {
    let w = world(36).await;
    let state = MemoryState::new();
    let first = w.run(&state).await;
    assert!(first.is_clean(), "{first:#?}");
    assert_eq!(first.totals().written, 40);
    assert_eq!(w.held(), 40);
    assert!(
        first.collections[0].transformations.is_empty(),
        "{:?}",
        first.collections[0].transformations
    );
    assert_eq!(w.emu.invitations_sent(MAILBOX), 0, "nobody was mailed");
    let events = w.emu.events(MAILBOX);
    assert!(events.iter().all(|e| e.props.get("attendees").is_none()));

    // The series' exception and excluded date are the instances', as Outlook shows them.
    let standup = events
        .iter()
        .find(|e| e.props["subject"] == "Stand-up")
        .unwrap();
    assert_eq!(standup.props["recurrence"]["pattern"]["type"], "weekly");
    assert_eq!(
        standup.props["start"],
        json!({"dateTime": "2025-01-06T09:00:00", "timeZone": "Europe/Berlin"})
    );
    assert_eq!(standup.cancelled, ["2025-01-20"]);
    assert_eq!(standup.exceptions.len(), 1);
    let (day, moved) = &standup.exceptions[0];
    assert_eq!(day, "2025-01-13");
    assert_eq!(moved["subject"], "Stand-up (moved)");
    assert_eq!(
        moved["start"],
        json!({"dateTime": "2025-01-13T10:00:00", "timeZone": "Europe/Berlin"})
    );
    let daily = events.iter().find(|e| e.props["subject"] == "Run").unwrap();
    assert_eq!(daily.cancelled, ["2025-03-10"]);
    let e4 = events
        .iter()
        .find(|e| e.props["subject"] == "Meeting 4")
        .unwrap();
    assert_eq!(e4.props["isReminderOn"], false);
    let e3 = events
        .iter()
        .find(|e| e.props["subject"] == "Meeting 3")
        .unwrap();
    assert_eq!(e3.props["reminderMinutesBeforeStart"], 15);
    let e5 = events
        .iter()
        .find(|e| e.props["subject"] == "Meeting 5")
        .unwrap();
    assert_eq!(e5.props["isAllDay"], true);
    // Every property is where Graph holds it, or in the stored iCalendar.
    w.assert_equal().await;

    // Nothing changed: nothing moves.
    let second = w.run(&state).await;
    assert!(second.is_clean(), "{second:?}");
    assert_eq!(second.totals().written, 0, "{second:?}");

    // A change, an addition and a removal are exactly what moves.
    w.src.put(&w.cal, single(7, "Workshop"));
    w.src.put(&w.cal, single(500, "Meeting"));
    w.src.remove(&w.cal, &ItemId::new("e8@example.com.ics"));
    let third = w.run(&state).await;
    assert!(third.is_clean(), "{third:?}");
    let t = third.totals();
    assert_eq!((t.written, t.updated, t.deleted), (2, 1, 1), "{t:?}");
    assert_eq!(w.held(), 40);
    w.assert_equal().await;

    // Replies lost after the creates, requests dropped before: settled without twins.
    for n in 600..606 {
        w.src.put(&w.cal, single(n, "Meeting"));
    }
    let faults = w.emu.faults();
    faults.lose_reply_matching("POST", "/events", 2);
    faults.drop_matching("POST", "/events", 2);
    let lossy = w.run(&state).await;
    assert_eq!(lossy.totals().pending, 4, "{lossy:?}");
    assert_eq!(
        w.held(),
        44,
        "two arrived unanswered, two created; two dropped"
    );
    let settled = w.run(&state).await;
    assert!(settled.is_clean(), "{settled:?}");
    let s = settled.totals();
    assert_eq!((s.adopted, s.written), (2, 2), "{s:?}");
    assert_eq!(w.held(), 46);
    w.assert_equal().await;

    // A lost state file: every event is found by its UID, none written again.
    let fresh = MemoryState::new();
    let again = w.run(&fresh).await;
    assert!(again.is_clean(), "{again:?}");
    assert_eq!((again.totals().written, again.totals().adopted), (0, 46));
    assert_eq!(w.held(), 46);
    assert_eq!(w.emu.invitations_sent(MAILBOX), 0);
    w.emu.shutdown().await;
}

#[tokio::test]
async fn with_notifications_opted_in_attendees_are_invited() {
    let w = world(8).await;
    let report = PimSync::new(&w.src, &w.graph, &MemoryState::new(), "job")
        .with_options(events_only(true))
        .run()
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:?}");
    // Events 0 and 4 and the stand-up (its master) carry attendees.
    assert_eq!(w.emu.invitations_sent(MAILBOX), 3);
    let e4 = w
        .emu
        .events(MAILBOX)
        .into_iter()
        .find(|e| e.props["subject"] == "Meeting 4")
        .unwrap();
    assert_eq!(
        e4.props["attendees"][0]["emailAddress"]["address"],
        "bo@example.com"
    );
    w.assert_equal().await;
    w.emu.shutdown().await;
}

#[tokio::test]
async fn a_graph_series_moves_out_with_its_exception_and_cancellation() {
    let emu = Emulator::builder().mailbox(MAILBOX).start().await.unwrap();
    let id = emu.seed_event(
        MAILBOX,
        "",
        json!({
            "subject": "Planning", "body": {"contentType": "html", "content": "<p>Plan &amp; act</p>"},
            "start": {"dateTime": "2025-01-07T10:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2025-01-07T11:00:00", "timeZone": "W. Europe Standard Time"},
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"], "firstDayOfWeek": "sunday"},
                "range": {"type": "numbered", "startDate": "2025-01-07", "numberOfOccurrences": 6, "recurrenceTimeZone": "W. Europe Standard Time"}
            },
            "isReminderOn": true, "reminderMinutesBeforeStart": 30, "categories": ["plans"],
        }),
    );
    emu.change_occurrence(
        MAILBOX,
        &id,
        "2025-01-14",
        Some(json!({
            "subject": "Planning (long)",
            "end": {"dateTime": "2025-01-14T12:30:00", "timeZone": "W. Europe Standard Time"},
        })),
    );
    emu.change_occurrence(MAILBOX, &id, "2025-01-28", None);
    emu.seed_event(
        MAILBOX,
        "",
        json!({
            "subject": "Offsite", "isAllDay": true,
            "start": {"dateTime": "2025-02-03T00:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2025-02-05T00:00:00", "timeZone": "UTC"},
        }),
    );
    let graph = emu.graph_builder(MAILBOX).connect().await.unwrap();
    let names: Vec<String> = graph
        .list_collections(PimKind::Events)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Calendar"]);
    let dest = MemoryPim::new("new");
    let state = MemoryState::new();
    let sync = PimSync::new(&graph, &dest, &state, "out").with_options(events_only(false));
    let first = sync.run().await.unwrap();
    assert!(first.is_clean(), "{first:?}");
    assert_eq!(first.totals().written, 2);
    let copy = dest
        .list_collections(PimKind::Events)
        .await
        .unwrap()
        .remove(0);
    let items = dest.items(&copy.id);
    let planning = items
        .iter()
        .find_map(|i| match &i.payload {
            Payload::Event(o)
                if o.master().and_then(|m| m.summary.as_deref()) == Some("Planning") =>
            {
                Some(o.clone())
            }
            _ => None,
        })
        .unwrap();
    let m = planning.master().unwrap();
    assert_eq!(m.start.tzid(), Some("Europe/Berlin"));
    assert_eq!(m.start.value(), "20250107T100000");
    assert_eq!(
        m.rrule.as_deref(),
        Some("FREQ=WEEKLY;COUNT=6;BYDAY=TU;WKST=SU")
    );
    assert_eq!(
        m.exdates.iter().map(|x| x.value()).collect::<Vec<_>>(),
        ["20250128T100000"]
    );
    assert_eq!(m.exdates[0].tzid(), Some("Europe/Berlin"));
    assert_eq!(m.alarms[0].trigger, "-PT30M");
    assert_eq!(m.description.as_deref(), Some("Plan & act"));
    let o: Vec<_> = planning.overrides().collect();
    assert_eq!(o.len(), 1);
    assert_eq!(
        o[0].recurrence_id.as_ref().unwrap().value(),
        "20250114T100000"
    );
    assert_eq!(o[0].summary.as_deref(), Some("Planning (long)"));
    assert_eq!(o[0].end.as_ref().unwrap().value(), "20250114T123000");
    let check = verify_pim(&graph, &dest, &[PimKind::Events], 50)
        .await
        .unwrap();
    assert!(check.is_equal(), "{check:#?}");

    // Unchanged: nothing; a change in Outlook and a removal: exactly those.
    let second = sync.run().await.unwrap();
    assert_eq!(second.totals().written, 0, "{second:?}");
    emu.change_occurrence(MAILBOX, &id, "2025-02-04", None);
    let offsite = emu
        .events(MAILBOX)
        .into_iter()
        .find(|e| e.props["subject"] == "Offsite")
        .unwrap();
    emu.delete_event(MAILBOX, &offsite.id);
    let third = sync.run().await.unwrap();
    let t = third.totals();
    assert_eq!((t.written, t.updated, t.deleted), (1, 1, 1), "{third:?}");
    let items = dest.items(&copy.id);
    let Payload::Event(o) = &items[0].payload else {
        panic!("an event")
    };
    assert_eq!(o.master().unwrap().exdates.len(), 2);
    emu.shutdown().await;
}

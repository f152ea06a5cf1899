//! Contacts and calendars from a real CalDAV/CardDAV server (Radicale) into Microsoft 365:
//! an address book and a calendar seeded with the testkit's samples, moved by the core PIM
//! engine into the Graph emulator's contact folders and calendars, then verified property
//! by property with zero differences. Recurring series with a moved occurrence and an
//! excluded date in Berlin, events in New York and all-day, attendees (nobody invited: the
//! emulator's invitation counter stays 0), and a contact with five email addresses, which
//! Graph holds three of (the others are carried, not dropped).
//!
//! The Radicale account is `MAILMIGRATE_TEST_RADICALE_USER`; the collections are named
//! for this run, and only they are moved and compared, so other tests' collections in the
//! account do not matter. Skipped without `.ci/dav-servers.sh`'s environment, unless
//! `MAILMIGRATE_TEST_REQUIRE` names `dav`.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use mailmigrate_core::pim::sync::{PimSync, PimSyncOptions};
use mailmigrate_core::pim::verify::verify_pim;
use mailmigrate_core::pim::*;
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::testkit::pim::{sample_contact, sample_series};
use mailmigrate_core::{Checkpoint, ProviderInfo, Result};
use mailmigrate_dav::{DavBuilder, DavStore};
use mailmigrate_graph::emulator::Emulator;

const MAILBOX: &str = "ada@example.com";

/// A source that shows only the collections whose names start with `prefix`: this run's.
#[derive(Debug)]
struct ThisRun {
    inner: Arc<DavStore>,
    prefix: String,
}

#[async_trait]
impl PimProvider for ThisRun {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    fn pim_capabilities(&self) -> PimCapabilities {
        self.inner.pim_capabilities()
    }

    async fn list_collections(&self, kind: PimKind) -> Result<Vec<Collection>> {
        let all = self.inner.list_collections(kind).await?;
        Ok(all
            .into_iter()
            .filter(|c| c.name.starts_with(&self.prefix))
            .collect())
    }
}

#[async_trait]
impl PimSource for ThisRun {
    fn list_items(
        &self,
        collection: &CollectionId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<ItemChange>> {
        self.inner.list_items(collection, since)
    }

    fn fetch_items(
        &self,
        collection: &CollectionId,
        ids: Vec<ItemId>,
    ) -> BoxStream<'static, PimResult<PimItem>> {
        self.inner.fetch_items(collection, ids)
    }
}

fn event(uid: &str, body: &str) -> PimItem {
    let text = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailmigrate//dav-to-graph//EN\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20250101T000000Z\r\n{body}END:VEVENT\r\n\
         END:VCALENDAR\r\n"
    );
    PimItem::parse(
        PimKind::Events,
        ItemMeta::new(ItemId::new(format!("{uid}.ics"))),
        text.into(),
    )
    .unwrap()
}

/// A contact with five email addresses (Graph holds three) and four phones.
fn many_addresses(uid: &str) -> PimItem {
    let text = format!(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:{uid}\r\nFN:Bo Lee\r\nN:Lee;Bo;;;\r\n\
         EMAIL;TYPE=work:bo@example.com\r\nEMAIL;TYPE=home:bo@home.example\r\n\
         EMAIL:bo@third.example\r\nEMAIL;TYPE=work:bo.lee@fourth.example\r\n\
         EMAIL:bo@fifth.example\r\nTEL;TYPE=work:+1 555 0100\r\nTEL;TYPE=work:+1 555 0101\r\n\
         TEL;TYPE=work:+1 555 0102\r\nTEL;TYPE=cell:+1 555 0199\r\nORG:Example Inc.\r\n\
         END:VCARD\r\n"
    );
    PimItem::parse(
        PimKind::Contacts,
        ItemMeta::new(ItemId::new(format!("{uid}.vcf"))),
        text.into(),
    )
    .unwrap()
}

async fn seed(store: &DavStore, c: &CollectionId, items: Vec<PimItem>) {
    let writes = items.into_iter().map(ItemWrite::create).collect();
    for r in store
        .write_items(c, writes, &WriteOptions::default())
        .await
        .unwrap()
    {
        r.expect("the seed write");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_contacts_and_calendars_move_into_graph_and_verify_equal() {
    if std::env::var("MAILMIGRATE_TEST_RADICALE_URL").is_err() {
        assert!(
            !mailmigrate_core::testkit::is_required("dav"),
            "MAILMIGRATE_TEST_REQUIRE asks for dav but Radicale is not configured"
        );
        eprintln!("skipping: run .ci/dav-servers.sh start and source its env");
        return;
    }
    let run = format!(
        "mm-graph-{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            & 0xffff_ffff_ffff
    );
    let rad = DavBuilder::from_env_prefix("MAILMIGRATE_TEST_RADICALE_")
        .allow_plaintext(true)
        .connect()
        .await
        .expect("connect to Radicale");

    // The source: an address book and a calendar of this run.
    let book = rad
        .ensure_collection(&Collection::new(
            CollectionId::new(format!("{run}-book")),
            PimKind::Contacts,
            format!("{run} Friends"),
        ))
        .await
        .unwrap();
    let cal = rad
        .ensure_collection(&Collection::new(
            CollectionId::new(format!("{run}-cal")),
            PimKind::Events,
            format!("{run} Work"),
        ))
        .await
        .unwrap();
    let mut contacts: Vec<PimItem> = (0..6)
        .map(|n| sample_contact(&format!("{run}-c{n}@example.com")))
        .collect();
    contacts.push(many_addresses(&format!("{run}-many@example.com")));
    seed(&rad, &book.id, contacts).await;
    let events = vec![
        sample_series(&format!("urn:uuid:{run}-series-1")),
        sample_series(&format!("urn:uuid:{run}-series-2")),
        event(
            &format!("{run}-ny@example.com"),
            "DTSTART;TZID=America/New_York:20250304T140000\r\n\
             DTEND;TZID=America/New_York:20250304T150000\r\nSUMMARY:Budget\r\n\
             LOCATION:Room 4\r\nORGANIZER;CN=Ann:mailto:ann@example.com\r\n\
             ATTENDEE;CN=Cy;ROLE=OPT-PARTICIPANT:mailto:cy@example.com\r\n",
        ),
        event(
            &format!("{run}-daily@example.com"),
            "DTSTART;TZID=America/New_York:20250303T080000\r\n\
             DTEND;TZID=America/New_York:20250303T081500\r\nRRULE:FREQ=DAILY;COUNT=14\r\n\
             EXDATE;TZID=America/New_York:20250310T080000\r\nSUMMARY:Run\r\n",
        ),
        event(
            &format!("{run}-holiday@example.com"),
            "DTSTART;VALUE=DATE:20250412\r\nDTEND;VALUE=DATE:20250413\r\n\
             RRULE:FREQ=YEARLY\r\nSUMMARY:Holiday\r\nTRANSP:TRANSPARENT\r\n",
        ),
        event(
            &format!("{run}-utc@example.com"),
            "DTSTART:20250305T120000Z\r\nDURATION:PT45M\r\nSUMMARY:Call\r\n\
             BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Soon\r\nEND:VALARM\r\n",
        ),
    ];
    let event_count = events.len();
    seed(&rad, &cal.id, events).await;
    let source = ThisRun {
        inner: Arc::new(rad),
        prefix: run.clone(),
    };

    // Radicale → Graph through the PIM engine.
    let emu = Emulator::builder().mailbox(MAILBOX).start().await.unwrap();
    let graph = emu.graph_builder(MAILBOX).connect().await.unwrap();
    let state = MemoryState::new();
    let sync = PimSync::new(&source, &graph, &state, "dav-to-graph")
        .with_options(PimSyncOptions::default().with_batch_size(10));
    let first = sync.run().await.unwrap();
    assert!(first.is_clean(), "{first:#?}");
    assert_eq!(first.totals().written, 7 + event_count as u64, "{first:#?}");
    assert_eq!(emu.invitations_sent(MAILBOX), 0, "nobody was mailed");
    assert!(emu
        .events(MAILBOX)
        .iter()
        .all(|e| e.props.get("attendees").is_none()));

    // The series' moved occurrence and excluded date are Graph's exception and
    // cancellation, in Berlin time.
    let stored = emu.events(MAILBOX);
    let standup: Vec<_> = stored
        .iter()
        .filter(|e| e.props["subject"] == "Stand-up")
        .collect();
    assert_eq!(standup.len(), 2);
    for s in standup {
        assert_eq!(s.props["recurrence"]["pattern"]["type"], "weekly");
        assert_eq!(s.props["start"]["timeZone"], "Europe/Berlin");
        assert_eq!(s.cancelled, ["2025-01-20"]);
        assert_eq!(s.exceptions.len(), 1);
        assert_eq!(s.exceptions[0].1["subject"], "Stand-up (moved)");
    }

    // Five addresses: three in Graph's field, the rest carried (reported), none dropped.
    let report = first
        .collections
        .iter()
        .find(|c| c.transformations.iter().any(|t| t.uid.contains("-many@")))
        .expect("the address book's report");
    let carried: Vec<String> = report
        .transformations
        .iter()
        .filter(|t| t.uid.contains("-many@"))
        .map(ToString::to_string)
        .collect();
    assert!(
        carried
            .iter()
            .any(|t| t.contains("2 EMAIL carried in NOTE")),
        "{carried:?}"
    );
    let bo = emu
        .contacts(MAILBOX)
        .into_iter()
        .find(|c| c.props["displayName"] == "Bo Lee")
        .unwrap();
    assert_eq!(bo.props["emailAddresses"].as_array().unwrap().len(), 3);
    let notes = bo.props["personalNotes"].as_str().unwrap_or_default();
    assert!(
        notes.contains("bo.lee@fourth.example") && notes.contains("bo@fifth.example"),
        "{notes}"
    );
    // Read back through Graph: three addresses as EMAIL, the other two in its NOTE.
    let books = graph.list_collections(PimKind::Contacts).await.unwrap();
    let gbook = books.iter().find(|c| c.name == book.name).unwrap();
    let mut ids = Vec::new();
    let mut listing = graph.list_items(&gbook.id, None);
    while let Some(change) = listing.next().await {
        if let ItemChange::Upsert(m) = change.unwrap() {
            ids.push(m.id);
        }
    }
    assert_eq!(ids.len(), 7);
    let mut fetched = graph.fetch_items(&gbook.id, ids);
    let mut read_back = None;
    while let Some((_, item)) = fetched.next().await {
        if let Payload::Contact(c) = item.unwrap().payload {
            if c.full_name == "Bo Lee" {
                read_back = Some(c);
            }
        }
    }
    let bo = read_back.expect("the contact reads back");
    let mut addresses: Vec<&str> = bo.emails.iter().map(|e| e.address.as_str()).collect();
    let notes = bo.notes.join("\n");
    for extra in ["bo.lee@fourth.example", "bo@fifth.example"] {
        assert!(notes.contains(extra), "{notes}");
        addresses.push(extra);
    }
    assert_eq!(addresses.len(), 5, "every address is kept: {addresses:?}");

    // Property by property: zero differences, nothing missing or extra.
    let check = verify_pim(&source, &graph, &PimKind::ALL, 50)
        .await
        .unwrap();
    assert!(check.is_equal(), "{check:#?}");
    assert_eq!(check.collections.len(), 2, "{check:#?}");
    for c in &check.collections {
        assert!(c.source_items > 0, "{check:#?}");
        assert_eq!(c.source_items, c.dest_items, "{c:#?}");
        assert_eq!(c.equal, c.source_items, "{c:#?}");
        assert!(c.extra.is_empty(), "{c:#?}");
        assert!(c.differences.is_empty(), "{c:#?}");
    }

    // Nothing changed: nothing moves, and still nobody is mailed.
    let second = sync.run().await.unwrap();
    assert!(second.is_clean(), "{second:#?}");
    assert_eq!(second.totals().written, 0, "{second:#?}");
    assert_eq!(emu.invitations_sent(MAILBOX), 0);

    // Leave Radicale as it was.
    for c in [&book.id, &cal.id] {
        let url = reqwest::Url::parse(&std::env::var("MAILMIGRATE_TEST_RADICALE_URL").unwrap())
            .unwrap()
            .join(c.as_str())
            .unwrap();
        let user = std::env::var("MAILMIGRATE_TEST_RADICALE_USER").unwrap_or_default();
        let password = std::env::var("MAILMIGRATE_TEST_RADICALE_PASSWORD").unwrap_or_default();
        let r = reqwest::Client::new()
            .delete(url)
            .basic_auth(user, Some(password))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "remove {c}: {}", r.status());
    }
    emu.shutdown().await;
}

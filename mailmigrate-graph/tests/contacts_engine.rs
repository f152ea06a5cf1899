//! The PIM engine over the Graph emulator's contacts: an address book into Graph (overflow
//! carried and reported, incremental passes, lost requests and replies, a lost state
//! file), and Graph's own contacts out of it.
#![cfg(feature = "emulator")]

use mailmigrate_core::pim::sync::{Fate, PimSync, PimSyncOptions};
use mailmigrate_core::pim::verify::verify_pim;
use mailmigrate_core::pim::{
    Collection, CollectionId, Contact, Email, ItemId, ItemMeta, MemoryPim, Payload, Phone, PimItem,
    PimKind, PimProvider, Property,
};
use mailmigrate_core::state::MemoryState;
use mailmigrate_graph::emulator::{Emulator, EmulatorHandle};
use mailmigrate_graph::Graph;
use serde_json::json;

const MAILBOX: &str = "ada@example.com";
const BOOK: &str = "Friends";

/// Contact `n`: every tenth with 5 email addresses and 4 business phones, every
/// seventh without a `UID` (the engine gives it one), all with fields Graph has a place
/// for and one it has not.
fn contact(n: usize, title: &str) -> PimItem {
    let mut c = Contact::new(format!("Person {n}"));
    if n % 7 != 5 {
        c.uid = Some(format!("p{n}@example.com"));
    }
    let (emails, work_phones) = if n.is_multiple_of(10) {
        (5, 4)
    } else {
        (1 + n % 3, n % 2)
    };
    for e in 0..emails {
        c.emails
            .push(Email::new(format!("p{n}.{e}@example.com")).with_types(["work"]));
    }
    for p in 0..work_phones {
        c.phones
            .push(Phone::new(format!("+1 555 {n:04} {p}")).with_types(["work"]));
    }
    if !n.is_multiple_of(10) && n.is_multiple_of(2) {
        c.phones
            .push(Phone::new(format!("+49 170 {n}")).with_types(["cell"]));
    }
    c.organization = vec!["Example Ltd".into(), "Sales".into()];
    c.title = Some(title.into());
    c.birthday = Some("19800102".into());
    c.notes = vec![format!("Note {n}")];
    c.categories = vec!["friends".into()];
    c.extra.push(Property::new("NICKNAME", format!("P{n}")));
    c.extra
        .push(Property::new("IMPP", format!("xmpp:p{n}@example.com")));
    c.extra.push(Property::new("X-SOCIAL", format!("@p{n}")));
    PimItem::new(
        ItemMeta::new(ItemId::new(format!("p{n}.vcf"))),
        Payload::Contact(Box::new(c)),
    )
}

struct World {
    emu: EmulatorHandle,
    graph: Graph,
    src: MemoryPim,
    book: CollectionId,
}

async fn world(n: usize) -> World {
    let emu = Emulator::builder().mailbox(MAILBOX).start().await.unwrap();
    let graph = emu.graph_builder(MAILBOX).connect().await.unwrap();
    let src = MemoryPim::new("old");
    let book = mailmigrate_core::pim::PimDestination::ensure_collection(
        &src,
        &Collection::new(CollectionId::new("b"), PimKind::Contacts, BOOK),
    )
    .await
    .unwrap()
    .id;
    for i in 0..n {
        src.put(&book, contact(i, "Engineer"));
    }
    World {
        emu,
        graph,
        src,
        book,
    }
}

fn contacts_only() -> PimSyncOptions {
    PimSyncOptions::default()
        .with_kinds([PimKind::Contacts])
        .with_propagate_deletions(true)
        .with_batch_size(25)
}

impl World {
    async fn run(&self, state: &MemoryState) -> mailmigrate_core::pim::sync::PimReport {
        PimSync::new(&self.src, &self.graph, state, "job")
            .with_options(contacts_only())
            .run()
            .await
            .unwrap()
    }

    /// The emulator's contacts in the book, counted at the server.
    fn held(&self) -> usize {
        self.emu
            .contacts(MAILBOX)
            .iter()
            .filter(|c| c.folder_path == BOOK)
            .count()
    }

    async fn assert_equal(&self) {
        let check = verify_pim(&self.src, &self.graph, &[PimKind::Contacts], 50)
            .await
            .unwrap();
        assert!(check.is_equal(), "{check:?}");
        let book = &check.collections[0];
        assert!(book.extra.is_empty(), "{:?}", book.extra);
        assert_eq!(book.source_items, book.dest_items);
    }
}

#[tokio::test]
async fn an_address_book_moves_into_graph_incrementally_and_exactly_once() {
    let w = world(120).await;
    let state = MemoryState::new();
    let first = w.run(&state).await;
    assert!(first.is_clean(), "{first:?}");
    assert_eq!(first.totals().written, 120);
    assert_eq!(w.held(), 120);

    // Overflow beyond Graph's limits is carried in the note and reported, by name.
    let report = &first.collections[0];
    let overflow: Vec<String> = report
        .transformations
        .iter()
        .filter(|t| t.uid == "p10@example.com")
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        overflow,
        [
            "p10@example.com: 2 EMAIL carried in NOTE",
            "p10@example.com: 2 TEL carried in NOTE"
        ]
    );
    assert!(report
        .transformations
        .iter()
        .all(|t| matches!(&t.fate, Fate::Carried { to } if to == "NOTE")));
    assert_eq!(report.transformations.len(), 2 * 12);
    let p10 = w
        .emu
        .contacts(MAILBOX)
        .into_iter()
        .find(|c| c.props["displayName"] == "Person 10")
        .unwrap();
    assert_eq!(p10.props["emailAddresses"].as_array().unwrap().len(), 3);
    assert_eq!(p10.props["businessPhones"].as_array().unwrap().len(), 2);
    let notes = p10.props["personalNotes"].as_str().unwrap();
    assert!(
        notes.contains("EMAIL (work): p10.4@example.com")
            && notes.contains("TEL (work): +1 555 0010 3"),
        "{notes}"
    );
    assert_eq!(p10.props["nickName"], "P10");
    assert_eq!(p10.props["imAddresses"], json!(["xmpp:p10@example.com"]));
    assert_eq!(p10.props["department"], "Sales");
    // Every property is where Graph holds it, or carried as reported.
    w.assert_equal().await;

    // Nothing changed: nothing moves.
    let second = w.run(&state).await;
    assert!(second.is_clean(), "{second:?}");
    assert_eq!((second.totals().written, second.totals().listed), (0, 0));

    // A change, an addition and a removal at the source are exactly what moves.
    w.src.put(&w.book, contact(5, "Manager"));
    w.src.put(&w.book, contact(500, "Engineer"));
    w.src.remove(&w.book, &ItemId::new("p6.vcf"));
    let third = w.run(&state).await;
    assert!(third.is_clean(), "{third:?}");
    let t = third.totals();
    assert_eq!(
        (t.listed, t.written, t.updated, t.deleted),
        (2, 2, 1, 1),
        "{t:?}"
    );
    assert_eq!(w.held(), 120);
    w.assert_equal().await;

    // Replies lost after the creates took effect, and requests dropped before: the next
    // pass settles both, by UID, without a second copy.
    for n in 600..606 {
        w.src.put(&w.book, contact(n, "Engineer"));
    }
    let faults = w.emu.faults();
    faults.lose_reply_matching("POST", "/contacts", 2);
    faults.drop_matching("POST", "/contacts", 2);
    let lossy = w.run(&state).await;
    assert_eq!(lossy.totals().pending, 4, "{lossy:?}");
    assert_eq!(
        w.held(),
        120 + 4,
        "two arrived unanswered, two created; two dropped"
    );
    let settled = w.run(&state).await;
    assert!(settled.is_clean(), "{settled:?}");
    let s = settled.totals();
    assert_eq!((s.adopted, s.written), (2, 2), "{s:?}");
    assert_eq!(w.held(), 126);
    w.assert_equal().await;

    // A lost state file: every contact is found by its UID, none written again.
    let fresh = MemoryState::new();
    let again = w.run(&fresh).await;
    assert!(again.is_clean(), "{again:?}");
    assert_eq!((again.totals().written, again.totals().adopted), (0, 126));
    assert_eq!(w.held(), 126);
    w.emu.shutdown().await;
}

#[tokio::test]
async fn graph_contacts_move_out_property_equal() {
    let emu = Emulator::builder().mailbox(MAILBOX).start().await.unwrap();
    let bo = emu.seed_contact(
        MAILBOX,
        "",
        json!({
            "displayName": "Bo Lee", "givenName": "Bo", "surname": "Lee", "nickName": "B",
            "emailAddresses": [{"address": "bo@x.org", "name": "Bo Lee"}],
            "businessPhones": ["+1 555 0100"], "mobilePhone": "+1 555 0199",
            "companyName": "Co", "department": "Ops", "jobTitle": "CTO",
            "homeAddress": {"street": "1 Main St", "city": "Town", "postalCode": "12345", "countryOrRegion": "US"},
            "birthday": "1970-01-02T11:59:00Z", "personalNotes": "met in 2020",
            "categories": ["work"], "imAddresses": ["sip:bo@x.org"], "spouseName": "Di",
        }),
    );
    for n in 0..12 {
        emu.seed_contact(
            MAILBOX,
            "Work/Team",
            json!({"displayName": format!("Member {n}"), "emailAddresses": [{"address": format!("m{n}@x.org"), "name": format!("m{n}@x.org")}]}),
        );
    }
    let graph = emu.graph_builder(MAILBOX).connect().await.unwrap();
    let names: Vec<String> = graph
        .list_collections(PimKind::Contacts)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Contacts", "Work", "Work/Team"]);
    let dest = MemoryPim::new("new");
    let state = MemoryState::new();
    let sync = PimSync::new(&graph, &dest, &state, "out").with_options(contacts_only());
    let first = sync.run().await.unwrap();
    assert!(first.is_clean(), "{first:?}");
    assert_eq!(first.totals().written, 13);
    let check = verify_pim(&graph, &dest, &[PimKind::Contacts], 50)
        .await
        .unwrap();
    assert!(check.is_equal(), "{check:?}");
    let copy = dest
        .list_collections(PimKind::Contacts)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == "Contacts")
        .unwrap();
    let items = dest.items(&copy.id);
    let Payload::Contact(c) = &items[0].payload else {
        panic!("a contact")
    };
    assert_eq!(c.full_name, "Bo Lee");
    assert_eq!(c.organization, ["Co", "Ops"]);
    assert_eq!(c.birthday.as_deref(), Some("19700102"));
    assert!(c
        .extra
        .iter()
        .any(|p| p.name == "NICKNAME" && p.value == "B"));
    assert!(c
        .extra
        .iter()
        .any(|p| p.name == "X-MS-SPOUSE" && p.value == "Di"));

    // Unchanged: nothing; a change and a removal in Outlook: exactly those.
    let second = sync.run().await.unwrap();
    assert_eq!(second.totals().written, 0, "{second:?}");
    emu.update_contact(MAILBOX, &bo, json!({"jobTitle": "CEO"}));
    let member = emu
        .contacts(MAILBOX)
        .into_iter()
        .find(|c| c.folder_path == "Work/Team")
        .unwrap();
    emu.delete_contact(MAILBOX, &member.id);
    let third = sync.run().await.unwrap();
    let t = third.totals();
    assert_eq!((t.written, t.updated, t.deleted), (1, 1, 1), "{third:?}");
    let check = verify_pim(&graph, &dest, &[PimKind::Contacts], 50)
        .await
        .unwrap();
    assert!(check.is_equal(), "{check:?}");
    emu.shutdown().await;
}

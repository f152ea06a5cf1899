//! The campaign survey and preflight on in-memory stores: volumes per folder, the size
//! histogram, contact and event counts, and each message the destination would refuse or
//! take with less, named by folder and id; one mailbox that cannot be opened fails alone.

use std::sync::Arc;

use bytes::Bytes;
use mailmigrate_core::campaign::*;
use mailmigrate_core::directory::{Account, Inventory};
use mailmigrate_core::pim::{
    Collection, CollectionId, Contact, ItemId, ItemMeta, MemoryPim, Payload, PimDestination,
    PimItem, PimKind,
};
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{Destination, Error, ErrorKind, FolderPath};
use mailmigrate_core::{MessageId, MessageMeta, RawMessage};

async fn put(store: &MemoryStore, path: &str, messages: &[(&str, Vec<u8>)]) {
    let f = store
        .ensure_folder(&FolderPath::parse(path, '/').unwrap(), None)
        .await
        .unwrap()
        .id;
    let batch = messages
        .iter()
        .map(|(id, bytes)| {
            RawMessage::new(
                MessageMeta::new(MessageId::new(*id), f.clone()),
                Bytes::from(bytes.clone()),
            )
        })
        .collect();
    for r in store.append(&f, batch).await.unwrap() {
        r.unwrap();
    }
}

fn good(n: usize, body: usize) -> Vec<u8> {
    let mut m = format!(
        "Message-ID: <m{n}@test>\r\nFrom: a@old.example\r\nDate: Mon, 1 Jan 2018 10:00:00 +0000\r\nSubject: m{n}\r\n\r\n"
    )
    .into_bytes();
    m.resize(m.len() + body, b'x');
    m
}

/// Ann: 3 small messages and one of 2 MiB in INBOX; in Odd, one without Message-ID, one
/// without Date and From; an address book of 2 and a calendar of 0.
async fn ann() -> (MemoryStore, MemoryPim) {
    let src = MemoryStore::new("ann");
    put(
        &src,
        "INBOX",
        &[
            ("1", good(1, 100)),
            ("2", good(2, 100)),
            ("3", good(3, 20_000)),
            ("big", good(4, 2 << 20)),
        ],
    )
    .await;
    put(
        &src,
        "Odd",
        &[
            ("noid", b"From: a@old.example\r\nDate: Mon, 1 Jan 2018 10:00:00 +0000\r\nSubject: no id\r\n\r\nx".to_vec()),
            ("nodate", b"Message-ID: <nd@test>\r\nSubject: no date\r\n\r\nx".to_vec()),
        ],
    )
    .await;
    let pim = MemoryPim::new("ann");
    let book = pim
        .ensure_collection(&Collection::new(
            CollectionId::new("b"),
            PimKind::Contacts,
            "Friends",
        ))
        .await
        .unwrap();
    for i in 0..2 {
        let mut c = Contact::new(format!("Friend {i}"));
        c.uid = Some(format!("f{i}"));
        pim.put(
            &book.id,
            PimItem::new(
                ItemMeta::new(ItemId::new(format!("f{i}.vcf"))),
                Payload::Contact(Box::new(c)),
            ),
        );
    }
    pim.ensure_collection(&Collection::new(
        CollectionId::new("c"),
        PimKind::Events,
        "Work",
    ))
    .await
    .unwrap();
    (src, pim)
}

fn plan() -> ValidPlan {
    let inventory = Inventory::new(vec![
        Account::new("ann@old.example"),
        Account::new("gone@old.example"),
    ]);
    CampaignPlan::new("acme", Strategy::Cutover)
        .with_rewrite(DomainRewrite::new("old.example", "new.example"))
        .with_batch(Batch::new("all", ["ann@old.example", "gone@old.example"]))
        .validate(&inventory)
        .unwrap()
}

fn factory(src: MemoryStore, pim: MemoryPim) -> impl StoreFactory {
    move |pair: &MailboxPair| -> mailmigrate_core::Result<MailboxStores> {
        if pair.source.address.starts_with("gone") {
            return Err(Error::new(
                ErrorKind::NotFound,
                "no such mailbox at the source",
            ));
        }
        let mut caps = MemoryStore::capabilities();
        caps.append_max_size = Some(1 << 20);
        let dest = MemoryStore::with_capabilities("new", caps);
        Ok(
            MailboxStores::new(Arc::new(src.clone()), Arc::new(dest)).with_pim(PimStores::new(
                Arc::new(pim.clone()),
                Arc::new(MemoryPim::new("new")),
            )),
        )
    }
}

#[tokio::test]
async fn listing_survey_counts_volumes_and_finds_oversize_messages() {
    let (src, pim) = ann().await;
    let survey = survey_campaign(&plan(), &factory(src, pim), &SurveyOptions::default()).await;
    assert_eq!(survey.failed.len(), 1, "{:?}", survey.failed);
    assert_eq!(survey.failed[0].0, "gone@old.example");
    assert!(
        survey.failed[0].1.contains("no such mailbox"),
        "{:?}",
        survey.failed
    );

    let ann = &survey.mailboxes[0];
    assert_eq!(ann.destination, "ann@new.example");
    assert_eq!(ann.messages(), 6);
    let inbox = ann.folders.iter().find(|f| f.path == "INBOX").unwrap();
    assert_eq!(inbox.messages, 4);
    assert!(inbox.bytes > 2 << 20);
    assert_eq!(ann.bytes(), ann.sizes.total_bytes());
    let buckets = ann.sizes.buckets();
    assert_eq!(buckets[0].messages, 4, "{buckets:?}"); // 3 small + 2 odd - 1 of 20 KB
    assert_eq!(buckets[1].messages, 1);
    assert_eq!(buckets[3].messages, 1); // 1-10 MiB
    assert_eq!(
        (ann.items(PimKind::Contacts), ann.items(PimKind::Events)),
        (2, 0)
    );
    assert_eq!(ann.collections.len(), 2);

    // Only the size cap can be checked from listings; header problems need the headers.
    assert!(!ann.headers_read);
    assert_eq!(ann.size_limit, Some(1 << 20));
    assert_eq!(ann.preflight.len(), 1, "{:?}", ann.preflight);
    let big = &ann.preflight[0];
    assert_eq!((big.folder.as_str(), big.id.as_str()), ("INBOX", "4")); // the store numbers messages 1.. in order
    assert!(matches!(big.finding, Finding::TooLarge { limit, .. } if limit == 1 << 20));
    assert_eq!(ann.refusals(), 1);
    assert_eq!(survey.sizes().total_messages(), 6);
}

#[tokio::test]
async fn header_survey_names_each_message_without_id_date_or_from() {
    let (src, pim) = ann().await;
    let options = SurveyOptions::default().with_read_headers(true);
    let survey = survey_campaign(&plan(), &factory(src, pim), &options).await;
    let ann = &survey.mailboxes[0];
    assert!(ann.headers_read);
    let mut found: Vec<(String, String)> = ann
        .preflight
        .iter()
        .map(|p| {
            (
                p.id.clone(),
                serde_json::to_value(&p.finding).unwrap()["kind"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("4".to_owned(), "too_large".to_owned()),
            ("5".to_owned(), "no_message_id".to_owned()),
            ("6".to_owned(), "no_date".to_owned()),
            ("6".to_owned(), "no_from".to_owned()),
        ]
    );
    let noid = ann.preflight.iter().find(|p| p.id == "5").unwrap();
    assert_eq!(noid.subject.as_deref(), Some("no id"));
    assert_eq!(ann.messages(), 6);
    // The same figures as the listing survey: reading headers changes no count.
    assert_eq!(ann.sizes.total_messages(), 6);
}

#[tokio::test]
async fn an_explicit_cap_overrides_the_destination() {
    let (src, pim) = ann().await;
    let options = SurveyOptions::default().with_max_message_size(Some(10_000));
    let survey = survey_campaign(&plan(), &factory(src, pim), &options).await;
    let ann = &survey.mailboxes[0];
    let mut ids: Vec<&str> = ann.preflight.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["3", "4"]);
}

#[tokio::test]
async fn a_message_the_source_cannot_give_is_named_and_the_survey_goes_on() {
    use mailmigrate_core::layer::{Fault, FaultLayer, Layer, Trigger};
    use mailmigrate_core::Operation;
    let (src, pim) = ann().await;
    // The third message fetched is damaged at the source, for good.
    let damaged = FaultLayer::new()
        .fail_items(
            Operation::Fetch,
            Trigger::every(3),
            Fault::permanent(ErrorKind::InvalidMessage),
        )
        .layer(src);
    let damaged = Arc::new(damaged);
    let factory = move |pair: &MailboxPair| -> mailmigrate_core::Result<MailboxStores> {
        if pair.source.address.starts_with("gone") {
            return Err(Error::new(ErrorKind::NotFound, "gone"));
        }
        Ok(MailboxStores::new(
            Arc::clone(&damaged) as Arc<dyn mailmigrate_core::Source>,
            Arc::new(MemoryStore::new("new")),
        )
        .with_pim(PimStores::new(
            Arc::new(pim.clone()),
            Arc::new(MemoryPim::new("new")),
        )))
    };
    let options = SurveyOptions::default().with_read_headers(true);
    let survey = survey_campaign(&plan(), &factory, &options).await;
    let ann = &survey.mailboxes[0];
    assert_eq!(ann.messages(), 6, "every message counted");
    let unreadable: Vec<_> = ann
        .preflight
        .iter()
        .filter(|p| matches!(p.finding, Finding::Unreadable { .. }))
        .collect();
    assert!(!unreadable.is_empty(), "{:?}", ann.preflight);
    assert_eq!(ann.refusals(), unreadable.len());
}

//! The emulator's contacts over raw HTTP: the multi-value limits with Exchange's message,
//! folders, `changeKey`, `$select`, paging, delta with `@removed`, and an expired delta
//! token turned into a full listing by the backend.
#![cfg(feature = "emulator")]

mod common;

use common::{assert_envelope, setup, UPN};
use futures::StreamExt;
use mailmigrate_core::pim::{CollectionId, ItemChange, PimSource};
use mailmigrate_graph::emulator::Emulator;
use serde_json::json;

#[tokio::test]
async fn more_than_three_addresses_or_two_business_phones_are_refused_as_exchange_does() {
    let t = setup(Emulator::builder()).await;
    let base = format!("/users/{UPN}/contacts");
    let emails: Vec<_> = (0..4)
        .map(|n| json!({"address": format!("a{n}@x.org")}))
        .collect();
    let (status, body) = t.post(&base, &json!({"emailAddresses": emails})).await;
    assert_eq!(status, 400);
    assert_envelope(&body, "BadRequest");
    assert_eq!(
        body["error"]["message"],
        "The multi value property EmailAddresses has 4 entries, that exceeds the max allowed value of 3"
    );
    let (status, body) = t
        .post(&base, &json!({"businessPhones": ["1", "2", "3"]}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "The multi value property BusinessPhones has 3 entries, that exceeds the max allowed value of 2"
    );
    assert!(t.emu.contacts(UPN).is_empty());
    let (status, body) = t.post(&base, &json!({"nickname": "x"})).await;
    assert_eq!(status, 400);
    assert_envelope(&body, "RequestBodyRead");
}

#[tokio::test]
async fn contacts_page_select_and_change_keys() {
    let t = setup(Emulator::builder()).await;
    let (status, folder) = t
        .post(
            &format!("/users/{UPN}/contactFolders"),
            &json!({"displayName": "Work"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = t
        .post(
            &format!("/users/{UPN}/contactFolders"),
            &json!({"displayName": "work"}),
        )
        .await;
    assert_eq!(status, 409, "names compare without case");
    let fid = folder["id"].as_str().unwrap();
    let (_, default) = t
        .get(&format!("/users/{UPN}/contactFolders/contacts"))
        .await;
    assert_eq!(folder["parentFolderId"], default["id"]);
    let path = format!("/users/{UPN}/contactFolders/{fid}/contacts");
    let mut first = None;
    for n in 0..12 {
        let (status, c) = t
            .post(&path, &json!({"displayName": format!("C{n}")}))
            .await;
        assert_eq!(status, 201);
        first.get_or_insert(c);
    }
    let (_, page) = t.get(&format!("{path}?$select=displayName")).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 10, "pages of 10");
    assert!(page["value"][0].get("surname").is_none(), "$select");
    let (_, rest) = t.get(page["@odata.nextLink"].as_str().unwrap()).await;
    assert_eq!(rest["value"].as_array().unwrap().len(), 2);
    let first = first.unwrap();
    let id = first["id"].as_str().unwrap();
    let r = t
        .http
        .patch(t.url(&format!("/users/{UPN}/contacts/{id}")))
        .bearer_auth(&t.token)
        .json(&json!({"jobTitle": "CTO"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let patched: serde_json::Value = r.json().await.unwrap();
    assert_ne!(patched["changeKey"], first["changeKey"]);
    assert_eq!(patched["displayName"], "C0");
}

#[tokio::test]
async fn delta_lists_changes_and_removals_and_an_expired_token_restarts() {
    let emu = Emulator::builder()
        .mailbox(UPN)
        .delta_page_size(3)
        .start()
        .await
        .unwrap();
    let ids: Vec<String> = (0..5)
        .map(|n| emu.seed_contact(UPN, "", json!({"displayName": format!("C{n}")})))
        .collect();
    let graph = emu.graph_builder(UPN).connect().await.unwrap();
    let book = mailmigrate_core::pim::PimProvider::list_collections(
        &graph,
        mailmigrate_core::pim::PimKind::Contacts,
    )
    .await
    .unwrap()
    .remove(0)
    .id;
    let listing = |since| {
        let s = graph.list_items(&CollectionId::new(book.as_str()), since);
        s.map(Result::unwrap).collect::<Vec<_>>()
    };
    let all = listing(None).await;
    assert_eq!(
        all.len(),
        6,
        "five contacts over two pages, then the checkpoint"
    );
    let Some(ItemChange::Checkpoint(cp)) = all.last().cloned() else {
        panic!("{all:?}")
    };
    emu.update_contact(UPN, &ids[0], json!({"jobTitle": "x"}));
    emu.delete_contact(UPN, &ids[1]);
    let changes = listing(Some(cp.clone())).await;
    assert!(matches!(&changes[0], ItemChange::Upsert(m) if m.id.as_str() == ids[0]));
    assert!(matches!(&changes[1], ItemChange::Removed(id) if id.as_str() == ids[1]));
    assert_eq!(changes.len(), 3);
    emu.faults().expire_delta_tokens();
    let again = listing(Some(cp)).await;
    assert_eq!(again[0], ItemChange::Reset);
    assert_eq!(again.len(), 1 + 4 + 1, "a full listing follows the reset");
    emu.shutdown().await;
}

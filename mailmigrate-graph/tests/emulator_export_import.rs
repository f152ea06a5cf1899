//! The emulator's mailbox import/export endpoints, request by request: discovery,
//! folders and items, the export's twenty-id cap and per-item errors, and the import
//! URL's rules (\[G-EXP\]\[G-IMP\]\[G-IMPS\]\[G-MBXF\]).
#![cfg(feature = "emulator")]

mod common;

use common::{assert_envelope, setup, T, UPN};
use mailmigrate_graph::emulator::{Emulator, Seed};
use serde_json::{json, Value};

const MIME: &[u8] = b"Message-ID: <1@example.com>\r\nSubject: hi\r\n\r\nbody\r\n";

async fn mailbox(t: &T) -> String {
    let (status, v) = t.get(&format!("/users/{UPN}/settings/exchange")).await;
    assert_eq!(status, 200, "{v}");
    assert!(v.get("inPlaceArchiveMailboxId").is_some(), "{v}");
    let id = v["primaryMailboxId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("MBX:") && id.contains('@'), "{id}");
    id
}

async fn import(t: &T, url: &str, body: &Value, bearer: bool) -> (u16, Value) {
    let mut req = t.http.post(url).json(body);
    if bearer {
        req = req.bearer_auth(&t.token);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn folders_items_and_an_export_round_trip_through_an_import() {
    let t = setup(Emulator::builder()).await;
    let id = t.emu.seed_message(UPN, "Inbox/Sub", MIME, Seed::default());
    let mbx = mailbox(&t).await;
    let base = format!("/admin/exchange/mailboxes/{mbx}");
    let (status, top) = t.get(&format!("{base}/folders")).await;
    assert_eq!(status, 200, "{top}");
    let inbox = top["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["wellKnownName"] == "inbox")
        .unwrap()
        .clone();
    assert_eq!(inbox["childFolderCount"], 1);
    let inbox_id = inbox["id"].as_str().unwrap();
    let (_, kids) = t
        .get(&format!("{base}/folders/{inbox_id}/childFolders"))
        .await;
    let sub = kids["value"][0]["id"].as_str().unwrap().to_owned();
    let (_, items) = t.get(&format!("{base}/folders/{sub}/items")).await;
    assert_eq!(items["value"][0]["id"], id.as_str());
    assert!(items["value"][0]["changeKey"].is_string());
    // At most twenty ids; an unknown id gets its own error, the others their data.
    let many: Vec<String> = (0..21).map(|_| id.clone()).collect();
    let (status, v) = t
        .post(&format!("{base}/exportItems"), &json!({"itemIds": many}))
        .await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = t
        .post(
            &format!("{base}/exportItems"),
            &json!({"itemIds": [id, "AAkALgnope"]}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let data = v["value"][0]["data"].as_str().unwrap().to_owned();
    assert_eq!(v["value"][1]["error"]["code"], "ErrorItemNotFound");
    let (status, s) = t
        .post(&format!("{base}/createImportSession"), &json!({}))
        .await;
    assert_eq!(status, 200, "{s}");
    let url = s["importUrl"].as_str().unwrap().to_owned();
    assert!(url.contains("/importItem?authtoken=") && s["expirationDateTime"].is_string());
    let create = json!({"FolderId": inbox_id, "Mode": "create", "Data": data});
    // Pre-authenticated: a bearer token is refused, and so is a missing authtoken.
    assert_eq!(import(&t, &url, &create, true).await.0, 400);
    let bare = url.split('?').next().unwrap();
    assert_eq!(import(&t, bare, &create, false).await.0, 401);
    // create forbids ItemId/ChangeKey; update needs both.
    let mut bad = create.clone();
    bad["ItemId"] = json!(id);
    assert_eq!(import(&t, &url, &bad, false).await.0, 400);
    let (status, made) = import(&t, &url, &create, false).await;
    assert_eq!(status, 200, "{made}");
    let new_id = made["itemId"].as_str().unwrap().to_owned();
    let update = json!({"FolderId": inbox_id, "Mode": "update", "Data": data, "ItemId": new_id});
    assert_eq!(import(&t, &url, &update, false).await.0, 400);
    let mut update = update;
    update["ChangeKey"] = made["changeKey"].clone();
    let (status, v) = import(&t, &url, &update, false).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["itemId"], new_id.as_str());
    let stored = t.emu.messages(UPN);
    assert_eq!(stored.len(), 2);
    let copy = stored.iter().find(|m| m.id == new_id).unwrap();
    assert!(!copy.is_draft);
    assert_eq!(copy.mime.as_deref(), Some(MIME));
    // An expired session answers 401.
    t.emu.faults().expire_import_sessions();
    assert_eq!(import(&t, &url, &create, false).await.0, 401);
    t.emu.shutdown().await;
}

#[tokio::test]
async fn a_tenant_without_the_api_refuses_it_with_the_graph_envelope() {
    for (status, code) in [(403, "ErrorAccessDenied"), (404, "ResourceNotFound")] {
        let t = setup(Emulator::builder().mailbox_import_export_refusal(status)).await;
        let (got, v) = t.get(&format!("/users/{UPN}/settings/exchange")).await;
        assert_eq!(got, status, "{v}");
        assert_envelope(&v, code);
        t.emu.shutdown().await;
    }
}

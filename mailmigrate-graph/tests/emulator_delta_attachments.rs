//! Emulator: message delta and attachments (direct and upload sessions).
#![cfg(feature = "emulator")]

use mailmigrate_graph::emulator::{Emulator, Seed};
use serde_json::{json, Value};

mod common;
use common::*;

fn mime(i: usize) -> Vec<u8> {
    format!("Subject: d{i}\r\nMessage-ID: <d{i}@x>\r\n\r\nbody {i}\r\n").into_bytes()
}

/// Follows a delta round to its deltaLink; returns (items, deltaLink, pages).
async fn round(t: &T, first: &str, page: usize) -> (Vec<Value>, String, usize) {
    let mut url = first.to_owned();
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let r = t
            .http
            .get(t.url(&url))
            .bearer_auth(&t.token)
            .header(
                "prefer",
                format!("odata.maxpagesize={page}, IdType=\"ImmutableId\""),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        pages += 1;
        assert!(v["@odata.context"].is_string());
        let value = v["value"].as_array().unwrap();
        assert!(value.len() <= page);
        items.extend(value.iter().cloned());
        if let Some(d) = v["@odata.deltaLink"].as_str() {
            assert!(d.contains("$deltatoken="));
            assert!(v.get("@odata.nextLink").is_none());
            return (items, d.to_owned(), pages);
        }
        let n = v["@odata.nextLink"]
            .as_str()
            .expect("nextLink or deltaLink");
        assert!(n.contains("$skiptoken="));
        url = n.to_owned();
    }
}

#[tokio::test]
async fn delta_round_trip_created_updated_deleted_then_expired() {
    let t = setup(Emulator::builder()).await;
    let ids: Vec<String> = (0..7)
        .map(|i| t.emu.seed_message(UPN, "Inbox", &mime(i), Seed::default()))
        .collect();
    let first = format!("/users/{UPN}/mailFolders/inbox/messages/delta?$select=subject,isRead");
    let (items, delta, pages) = round(&t, &first, 3).await;
    assert_eq!(items.len(), 7);
    // An empty first page carrying a nextLink, then 3 + 3 + 1.
    assert_eq!(pages, 4);
    assert!(items
        .iter()
        .all(|i| i["@odata.type"] == "#microsoft.graph.message"));
    assert!(
        items[0].get("body").is_none(),
        "$select carried in the links"
    );
    // The token is opaque: not a counter the client could build.
    let token = delta.split("$deltatoken=").nth(1).unwrap();
    assert!(token.len() >= 32 && token.parse::<u64>().is_err());

    // No changes: an empty round.
    let (items, delta, _) = round(&t, &delta, 3).await;
    assert!(items.is_empty());

    // Created (JSON into the folder), updated (user reads), deleted, moved out.
    let (_, created) = t
        .post(&format!("/users/{UPN}/mailFolders/inbox/messages"), &json!({"subject": "new", "singleValueExtendedProperties": [{"id": "Integer 0x0E07", "value": "0"}]}))
        .await;
    t.emu.set_read(UPN, &ids[0], true);
    t.emu.delete_message(UPN, &ids[1]);
    t.emu.move_message(UPN, &ids[2], "Archive");
    let (items, delta, _) = round(&t, &delta, 10).await;
    assert_eq!(items.len(), 4, "{items:?}");
    let find = |id: &str| items.iter().find(|i| i["id"] == id).cloned().unwrap();
    let imm_created = t
        .emu
        .messages(UPN)
        .into_iter()
        .find(|m| m.subject.as_deref() == Some("new"))
        .unwrap()
        .id;
    assert_eq!(find(&imm_created)["subject"], created["subject"]);
    assert_eq!(find(&ids[0])["isRead"], true);
    for gone in [&ids[1], &ids[2]] {
        let g = find(gone);
        assert_eq!(g["@removed"]["reason"], "deleted");
        assert_eq!(g["@odata.type"], "#microsoft.graph.message");
    }
    // Moved-in shows as created in the other folder's delta.
    let (arch, _, _) = round(
        &t,
        &format!("/users/{UPN}/mailFolders/archive/messages/delta"),
        10,
    )
    .await;
    assert_eq!(arch.len(), 1);
    assert_eq!(arch[0]["id"], ids[2].as_str());

    // Expired: 410 Gone syncStateNotFound with a Location.
    t.emu.faults().expire_delta_tokens();
    let r = t
        .http
        .get(t.url(&delta))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    assert!(r.headers().get("location").is_some());
    let v: Value = r.json().await.unwrap();
    assert_envelope(&v, "syncStateNotFound");
}

#[tokio::test]
async fn delta_change_type_filter_and_max_age() {
    let t = setup(
        Emulator::builder()
            .delta_empty_pages(false)
            .delta_token_max_age(Some(std::time::Duration::from_millis(300))),
    )
    .await;
    let a = t.emu.seed_message(UPN, "Inbox", &mime(1), Seed::default());
    let (_, delta, pages) = round(
        &t,
        &format!("/users/{UPN}/mailFolders/inbox/messages/delta?changeType=created"),
        10,
    )
    .await;
    assert_eq!(pages, 1);
    t.emu.set_read(UPN, &a, true);
    t.emu.seed_message(UPN, "Inbox", &mime(2), Seed::default());
    let (items, _, _) = round(&t, &delta, 10).await;
    assert_eq!(items.len(), 1, "only the created one");
    assert_eq!(items[0]["subject"], "d2");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let r = t
        .http
        .get(t.url(&delta))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
}

#[tokio::test]
async fn delta_replay_repeats_the_last_change() {
    let t = setup(Emulator::builder().delta_replay(true)).await;
    t.emu.seed_message(UPN, "Inbox", &mime(1), Seed::default());
    t.emu.seed_message(UPN, "Inbox", &mime(2), Seed::default());
    let (items, _, _) = round(
        &t,
        &format!("/users/{UPN}/mailFolders/inbox/messages/delta"),
        10,
    )
    .await;
    assert_eq!(items.len(), 3);
    assert_eq!(items[1]["id"], items[2]["id"]);
}

#[tokio::test]
async fn small_attachment_posts_directly() {
    let t = setup(Emulator::builder()).await;
    let id = t.emu.seed_message(UPN, "Inbox", &mime(1), Seed::default());
    let (s, v) = t
        .post(
            &format!("/users/{UPN}/messages/{id}/attachments"),
            &json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentType": "text/plain", "contentBytes": "aGVsbG8="}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["size"], 5);
    let (_, m) = t.get(&format!("/users/{UPN}/messages/{id}")).await;
    assert_eq!(m["hasAttachments"], true);
    let stored = &t.emu.messages(UPN)[0].attachments[0];
    assert_eq!((stored.name.as_str(), stored.size), ("a.txt", 5));
}

#[tokio::test]
async fn upload_session_in_order_chunks_and_refusals() {
    let t = setup(Emulator::builder().upload_session_min_size(1000)).await;
    let id = t.emu.seed_message(UPN, "Inbox", &mime(1), Seed::default());
    let path = format!("/users/{UPN}/messages/{id}/attachments/createUploadSession");
    let (s, v) = t
        .post(
            &path,
            &json!({"AttachmentItem": {"attachmentType": "file", "name": "tiny.bin", "size": 10}}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        v["error"]["code"],
        "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
    );
    let total = 3000usize;
    let (s, v) = t
        .post(&path, &json!({"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": total, "contentType": "application/octet-stream"}}))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["nextExpectedRanges"], json!(["0-"]));
    assert!(v["expirationDateTime"].is_string());
    let upload = v["uploadUrl"].as_str().unwrap().to_owned();
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let put = |range: (usize, usize), auth: bool| {
        let mut r = t
            .http
            .put(&upload)
            .header("content-type", "application/octet-stream")
            .header(
                "content-range",
                format!("bytes {}-{}/{total}", range.0, range.1),
            )
            .body(data[range.0..=range.1].to_vec());
        if auth {
            r = r.bearer_auth(&t.token);
        }
        r.send()
    };
    // Pre-authenticated: an Authorization header is refused.
    assert_eq!(put((0, 999), true).await.unwrap().status(), 401);
    // Out of order: 416.
    let r = put((1000, 1999), false).await.unwrap();
    assert_eq!(r.status(), 416);
    let r = put((0, 999), false).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["nextExpectedRanges"], json!(["1000"]));
    assert!(v["expirationDateTime"].is_string());
    assert_eq!(put((1000, 1999), false).await.unwrap().status(), 200);
    let r = put((2000, 2999), false).await.unwrap();
    assert_eq!(r.status(), 201);
    assert!(r
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("/attachments('"));
    let stored = &t.emu.messages(UPN)[0].attachments[0];
    assert_eq!((stored.name.as_str(), stored.size), ("big.bin", 3000));
}

#[tokio::test]
async fn upload_sessions_are_as_strict_as_documented() {
    let t = setup(
        Emulator::builder()
            .upload_session_min_size(1000)
            .upload_session_lifetime(std::time::Duration::from_millis(300)),
    )
    .await;
    let id = t.emu.seed_message(UPN, "Inbox", &mime(2), Seed::default());
    let path = format!("/users/{UPN}/messages/{id}/attachments/createUploadSession");
    let total = 5_000_000usize;
    let (s, v) = t
        .post(&path, &json!({"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": total}}))
        .await;
    assert_eq!(s, 201, "{v}");
    let upload = v["uploadUrl"].as_str().unwrap().to_owned();
    let data = vec![7u8; total];
    let put = |a: usize, b: usize, kind: Option<&'static str>| {
        let mut r = t
            .http
            .put(&upload)
            .header("content-range", format!("bytes {a}-{b}/{total}"))
            .body(data[a..=b].to_vec());
        if let Some(kind) = kind {
            r = r.header("content-type", kind);
        }
        r.send()
    };
    let octets = Some("application/octet-stream");
    // [G-ATT] chunks are application/octet-stream and under 4 MB.
    assert_eq!(put(0, 999, None).await.unwrap().status(), 415);
    assert_eq!(put(0, 999, Some("text/plain")).await.unwrap().status(), 415);
    assert_eq!(put(0, 3_999_999, octets).await.unwrap().status(), 413);
    // Nothing was taken: the session still expects byte 0.
    let state = t.http.get(&upload).send().await.unwrap();
    assert_eq!(state.status(), 200);
    let v: Value = state.json().await.unwrap();
    assert_eq!(v["nextExpectedRanges"], json!(["0"]));
    // Answer faults reach upload URLs too: nothing happens server-side.
    t.emu
        .faults()
        .fail_matching("PUT", "/upload/", 1, 503, "serviceNotAvailable");
    assert_eq!(put(0, 999, octets).await.unwrap().status(), 503);
    assert_eq!(put(0, 999, octets).await.unwrap().status(), 200);
    // A Content-Range past the session's size, or for another total, is refused.
    let r = t
        .http
        .put(&upload)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("bytes 1000-1999/{}", total + 1))
        .body(data[1000..2000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The session expires after its lifetime without a chunk.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(put(1000, 1999, octets).await.unwrap().status(), 404);
    assert_eq!(t.http.get(&upload).send().await.unwrap().status(), 404);
    assert!(t.emu.messages(UPN)[0].attachments.is_empty());
    // $select keeps the attachment list light.
    let (s, v) = t
        .get(&format!(
            "/users/{UPN}/messages/{id}/attachments?$select=id,name"
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["value"], json!([]));
}

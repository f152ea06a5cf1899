//! Emulator: message create (JSON, MIME, importMime), draft semantics, read, update.
#![cfg(feature = "emulator")]

use mailmigrate_graph::emulator::{CreatedBy, Emulator, Limits, Seed};
use serde_json::{json, Value};

mod common;
use common::*;

impl T {
    async fn post_raw(&self, p: &str, ct: &str, body: Vec<u8>, immutable: bool) -> (u16, Value) {
        let mut r = self
            .http
            .post(self.url(p))
            .bearer_auth(&self.token)
            .header("content-type", ct)
            .body(body);
        if immutable {
            r = r.header("prefer", "IdType=\"ImmutableId\"");
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
    async fn patch(&self, p: &str, v: &Value) -> (u16, Value) {
        let r = self
            .http
            .patch(self.url(p))
            .bearer_auth(&self.token)
            .json(v)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const MIME: &[u8] = b"Received: from mx by mbx; Tue, 02 Jan 2024 10:00:00 +0000\r\nFrom: Bob <bob@example.com>\r\nTo: ada@example.com\r\nSubject: Quarterly\r\nDate: Mon, 01 Jan 2024 09:00:00 +0000\r\nMessage-ID: <q1@example.com>\r\n\r\nNumbers inside.\r\n";

#[tokio::test]
async fn json_create_without_message_flags_is_a_draft_in_drafts() {
    let t = setup(Emulator::builder()).await;
    let (s, v) = t
        .post(
            &format!("/users/{UPN}/messages"),
            &json!({
                "subject": "hello",
                "body": {"contentType": "text", "content": "hi"},
                "toRecipients": [{"emailAddress": {"address": "bob@example.com"}}],
                "receivedDateTime": "2001-01-01T00:00:00Z",
            }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["isDraft"], true);
    assert_eq!(v["subject"], "hello");
    assert_eq!(v["body"]["contentType"], "text");
    assert_eq!(
        v["toRecipients"][0]["emailAddress"]["address"],
        "bob@example.com"
    );
    for k in [
        "id",
        "parentFolderId",
        "changeKey",
        "createdDateTime",
        "lastModifiedDateTime",
        "receivedDateTime",
        "bodyPreview",
        "conversationId",
        "importance",
    ] {
        assert!(v[k].is_string(), "{k}: {v}");
    }
    assert!(v["flag"]["flagStatus"].is_string());
    assert!(v["hasAttachments"].is_boolean());
    assert!(
        v.get("internetMessageHeaders").is_none(),
        "only with $select"
    );
    // Plain receivedDateTime is ignored: stamped now.
    assert!(!v["receivedDateTime"].as_str().unwrap().starts_with("2001"));
    let stored = t.emu.messages(UPN);
    assert_eq!(stored[0].folder_path, "Drafts");
    assert!(stored[0].is_draft);
    assert_eq!(stored[0].created_by, CreatedBy::JsonCreate);
}

#[tokio::test]
async fn message_flags_at_creation_make_a_read_non_draft_with_dates() {
    let t = setup(Emulator::builder()).await;
    let (s, v) = t
        .post(
            &format!("/users/{UPN}/mailFolders/inbox/messages"),
            &json!({
                "subject": "imported",
                "internetMessageId": "<imp1@example.com>",
                "singleValueExtendedProperties": [
                    {"id": "Integer 0x0E07", "value": "1"},
                    {"id": "SystemTime 0x0E06", "value": "2020-05-04T03:02:01Z"},
                    {"id": "SystemTime 0x0039", "value": "2020-05-04T03:00:00Z"},
                ],
            }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["isDraft"], false);
    assert_eq!(v["isRead"], true);
    assert_eq!(v["receivedDateTime"], "2020-05-04T03:02:01Z");
    assert_eq!(v["sentDateTime"], "2020-05-04T03:00:00Z");
    let id = v["id"].as_str().unwrap();
    let (_, e) = t
        .get(&format!(
            "/users/{UPN}/messages/{id}?$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0E07')"
        ))
        .await;
    let props = e["singleValueExtendedProperties"].as_array().unwrap();
    assert_eq!(props[0]["id"], "Integer 0xe07");
    assert_eq!(props[0]["value"], "1");
    // "9" = read + unsent: still a draft.
    let (_, d) = t
        .post(
            &format!("/users/{UPN}/mailFolders/inbox/messages"),
            &json!({"singleValueExtendedProperties": [{"id": "Integer 0x0E07", "value": "9"}]}),
        )
        .await;
    assert_eq!(d["isDraft"], true);
    assert_eq!(d["isRead"], true);
    assert_eq!(t.emu.messages(UPN)[0].folder_path, "Inbox");
}

#[tokio::test]
async fn patch_cannot_undo_draft_and_refuses_subject_on_non_drafts() {
    let t = setup(Emulator::builder()).await;
    let (_, d) = t
        .post(&format!("/users/{UPN}/messages"), &json!({"subject": "d"}))
        .await;
    let id = d["id"].as_str().unwrap().to_owned();
    let path = format!("/users/{UPN}/messages/{id}");
    let (s, v) = t
        .patch(
            &path,
            &json!({"isDraft": false, "singleValueExtendedProperties": [{"id": "Integer 0x0E07", "value": "1"}]}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["isDraft"], true, "write-once flags: silently no effect");
    assert!(t.emu.messages(UPN)[0].is_draft);
    // Drafts accept subject changes.
    assert_eq!(
        t.patch(&path, &json!({"subject": "d2"})).await.1["subject"],
        "d2"
    );
    // A non-draft: flags, categories, read state update; subject does not.
    let sid = t.emu.seed_message(UPN, "Inbox", MIME, Seed::default());
    let spath = format!("/users/{UPN}/messages/{sid}");
    let (s, v) = t
        .patch(&spath, &json!({"isRead": true, "categories": ["Red"], "flag": {"flagStatus": "flagged"}, "importance": "high"}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["isRead"], true);
    assert_eq!(v["categories"], json!(["Red"]));
    assert_eq!(v["flag"]["flagStatus"], "flagged");
    assert_eq!(v["importance"], "high");
    let (s, v) = t.patch(&spath, &json!({"subject": "changed"})).await;
    assert_eq!(s, 400);
    assert_envelope(&v, "ErrorInvalidPropertyUpdateSentMessage");
    assert_eq!(
        t.emu
            .messages(UPN)
            .iter()
            .find(|m| m.id == sid)
            .unwrap()
            .subject
            .as_deref(),
        Some("Quarterly")
    );
}

#[tokio::test]
async fn mime_create_is_always_a_draft_and_rejects_non_base64() {
    let t = setup(Emulator::builder()).await;
    let path = format!("/users/{UPN}/mailFolders/inbox/messages");
    let (s, v) = t
        .post_raw(&path, "text/plain", b64(MIME).into_bytes(), false)
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["isDraft"], true);
    assert_eq!(v["subject"], "Quarterly");
    assert_eq!(v["internetMessageId"], "<q1@example.com>");
    assert_eq!(v["from"]["emailAddress"]["address"], "bob@example.com");
    let stored = &t.emu.messages(UPN)[0];
    assert_eq!(stored.created_by, CreatedBy::MimeCreate);
    assert_eq!(stored.mime.as_deref(), Some(MIME));
    let (s, v) = t
        .post_raw(
            &path,
            "text/plain",
            br#"{"subject":"json in text"}"#.to_vec(),
            false,
        )
        .await;
    assert_eq!(s, 400);
    assert_envelope(&v, "ErrorMimeContentInvalidBase64String");
    let (s, _) = t
        .post_raw(&path, "text/plain", b"not base64 at all!".to_vec(), false)
        .await;
    assert_eq!(s, 400);
    assert_eq!(t.emu.messages(UPN).len(), 1);
}

#[tokio::test]
async fn import_mime_only_on_beta_and_only_when_offered() {
    let off = setup(Emulator::builder()).await;
    let beta = |t: &T| {
        format!(
            "{}/beta/users/{UPN}/mailFolders/inbox/importMime",
            t.emu.base_url()
        )
    };
    let (s, v) = off
        .post_raw(&beta(&off), "text/plain", b64(MIME).into_bytes(), false)
        .await;
    assert_eq!(s, 400);
    assert_envelope(&v, "BadRequest");
    assert!(off.emu.messages(UPN).is_empty());
    let on = setup(Emulator::builder().import_mime(true)).await;
    let v1 = format!("/users/{UPN}/mailFolders/inbox/importMime");
    assert_eq!(
        on.post_raw(&v1, "text/plain", b64(MIME).into_bytes(), false)
            .await
            .0,
        400
    );
    let (s, v) = on
        .post_raw(&beta(&on), "text/plain", b64(MIME).into_bytes(), false)
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["isDraft"], false);
    assert_eq!(v["isRead"], false);
    // receivedDateTime from the top Received header (configurable guess).
    assert_eq!(v["receivedDateTime"], "2024-01-02T10:00:00Z");
    assert_eq!(v["sentDateTime"], "2024-01-01T09:00:00Z");
    let m = &on.emu.messages(UPN)[0];
    assert_eq!(m.created_by, CreatedBy::ImportMime);
    assert_eq!(m.folder_path, "Inbox");
}

#[tokio::test]
async fn filter_on_internet_message_id_with_quote_escaping() {
    let t = setup(Emulator::builder()).await;
    let weird = b"Subject: q\r\nMessage-ID: <o'brien@example.com>\r\n\r\nx\r\n";
    let old = Seed {
        received: Some(time::macros::datetime!(2023-01-01 0:00 UTC)),
        ..Seed::default()
    };
    t.emu.seed_message(UPN, "Inbox", weird, old);
    t.emu.seed_message(UPN, "Inbox", MIME, Seed::default());
    let (s, v) = t
        .get(&format!(
            "/users/{UPN}/messages?$filter=internetMessageId eq '<o''brien@example.com>'"
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    let value = v["value"].as_array().unwrap();
    assert_eq!(value.len(), 1);
    assert_eq!(value[0]["internetMessageId"], "<o'brien@example.com>");
    let (_, v) = t
        .get(&format!(
            "/users/{UPN}/mailFolders/inbox/messages?$filter=internetMessageId eq '<none@x>'"
        ))
        .await;
    assert!(v["value"].as_array().unwrap().is_empty());
    let (_, v) = t
        .get(&format!(
            "/users/{UPN}/messages?$filter=receivedDateTime ge 2024-01-02T00:00:00Z"
        ))
        .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    let (s, v) = t.get(&format!("/users/{UPN}/messages?$filter=bogus")).await;
    assert_eq!(s, 400);
    assert_envelope(&v, "ErrorInvalidUrlQueryFilter");
}

#[tokio::test]
async fn messages_page_by_ten_and_select_limits_fields() {
    let t = setup(Emulator::builder()).await;
    for i in 0..23 {
        let mime = format!("Subject: m{i}\r\nMessage-ID: <m{i}@x>\r\n\r\nbody\r\n");
        t.emu
            .seed_message(UPN, "Inbox", mime.as_bytes(), Seed::default());
    }
    let mut url =
        format!("/users/{UPN}/mailFolders/inbox/messages?$select=subject,internetMessageHeaders");
    let mut sizes = Vec::new();
    loop {
        let (_, v) = t.get(&url).await;
        let page = v["value"].as_array().unwrap();
        sizes.push(page.len());
        let first = page[0].as_object().unwrap();
        assert!(first.contains_key("id") && first.contains_key("subject"));
        assert!(first.contains_key("internetMessageHeaders"));
        assert!(!first.contains_key("body"), "not selected");
        match v["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(sizes, vec![10, 10, 3]);
    let (s, _) = t.get(&format!("/users/{UPN}/messages?$top=1001")).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn value_returns_stored_mime_or_a_rendering() {
    let t = setup(Emulator::builder()).await;
    let id = t.emu.seed_message(UPN, "Inbox", MIME, Seed::default());
    let r = t
        .http
        .get(t.url(&format!("/users/{UPN}/messages/{id}/$value")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), MIME);
    let (_, d) = t
        .post(
            &format!("/users/{UPN}/messages"),
            &json!({"subject": "Rendered", "internetMessageId": "<r@x>"}),
        )
        .await;
    let did = d["id"].as_str().unwrap();
    let r = t
        .http
        .get(t.url(&format!("/users/{UPN}/messages/{did}/$value")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(
        text.contains("Subject: Rendered\r\n") && text.contains("Message-ID: <r@x>\r\n"),
        "{text}"
    );
    let regen = setup(Emulator::builder().regenerate_mime(true)).await;
    let id = regen.emu.seed_message(UPN, "Inbox", MIME, Seed::default());
    let r = regen
        .http
        .get(regen.url(&format!("/users/{UPN}/messages/{id}/$value")))
        .bearer_auth(&regen.token)
        .send()
        .await
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    assert_ne!(bytes.as_ref(), MIME);
    assert!(String::from_utf8_lossy(&bytes).contains("X-MS-Exchange-Organization-"));
}

#[tokio::test]
async fn immutable_ids_survive_moves_rest_ids_do_not_and_ids_are_case_sensitive() {
    let t = setup(Emulator::builder()).await;
    let imm = t.emu.seed_message(UPN, "Inbox", MIME, Seed::default());
    let (_, plain) = t.get(&format!("/users/{UPN}/messages/{imm}")).await;
    let rest = plain["id"].as_str().unwrap().to_owned();
    assert_ne!(rest, imm, "without Prefer, rest ids");
    let r = t
        .http
        .post(t.url(&format!("/users/{UPN}/messages/{rest}/move")))
        .bearer_auth(&t.token)
        .header("prefer", "IdType=\"ImmutableId\"")
        .json(&json!({"destinationId": "archive"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let moved: Value = r.json().await.unwrap();
    assert_eq!(moved["id"], imm.as_str());
    let (s, v) = t.get(&format!("/users/{UPN}/messages/{rest}")).await;
    assert_eq!(s, 404, "old rest id is gone");
    assert_envelope(&v, "ErrorItemNotFound");
    assert_eq!(t.get(&format!("/users/{UPN}/messages/{imm}")).await.0, 200);
    // Flip the case of one letter in the random part: a different id.
    let mut chars: Vec<char> = imm.chars().collect();
    let pos = chars
        .iter()
        .enumerate()
        .skip(6)
        .find(|(_, c)| c.is_ascii_alphabetic())
        .unwrap()
        .0;
    chars[pos] = if chars[pos].is_ascii_uppercase() {
        chars[pos].to_ascii_lowercase()
    } else {
        chars[pos].to_ascii_uppercase()
    };
    let flipped: String = chars.into_iter().collect();
    assert_eq!(
        t.get(&format!("/users/{UPN}/messages/{flipped}")).await.0,
        404
    );
    assert_eq!(
        t.get(&format!("/users/{UPN}/messages/garbage")).await.0,
        400
    );
    assert_eq!(t.emu.messages(UPN)[0].folder_path, "Archive");
}

#[tokio::test]
async fn four_megabyte_cap_and_header_rules() {
    let t = setup(Emulator::builder()).await;
    let big = "a".repeat(4 * 1024 * 1024 + 10);
    let (s, v) = t
        .post(
            &format!("/users/{UPN}/messages"),
            &json!({"body": {"contentType": "text", "content": big}}),
        )
        .await;
    assert_eq!(s, 413);
    assert_eq!(
        v["error"]["message"],
        "The maximum request length supported is 4MB."
    );
    assert!(t.emu.messages(UPN).is_empty());
    let (s, v) = t
        .post(
            &format!("/users/{UPN}/messages"),
            &json!({"internetMessageHeaders": [{"name": "References", "value": "<a@b>"}]}),
        )
        .await;
    assert_eq!(s, 400);
    assert_envelope(&v, "InvalidInternetMessageHeader");
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("x-h{i}"), "value": "v"}))
        .collect();
    let (s, v) = t
        .post(
            &format!("/users/{UPN}/messages"),
            &json!({"internetMessageHeaders": six}),
        )
        .await;
    assert_eq!(s, 400);
    assert_envelope(&v, "InvalidInternetMessageHeaderCollection");
    // An empty list is refused the same way [I-IMH].
    let (s, v) = t
        .post(
            &format!("/users/{UPN}/messages"),
            &json!({"internetMessageHeaders": []}),
        )
        .await;
    assert_eq!(s, 400);
    assert_envelope(&v, "InvalidInternetMessageHeaderCollection");
    let small = setup(
        Emulator::builder()
            .request_too_large_status(400)
            .limits(Limits::default().with_max_request_bytes(1000)),
    )
    .await;
    let (s, _) = small
        .post(
            &format!("/users/{UPN}/messages"),
            &json!({"subject": "x".repeat(2000)}),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn delete_removes_and_seed_flags_are_visible() {
    let t = setup(Emulator::builder()).await;
    let id = t.emu.seed_message(
        UPN,
        "Inbox",
        MIME,
        Seed {
            is_read: true,
            flagged: true,
            categories: vec!["Blue".into()],
            ..Default::default()
        },
    );
    let (_, v) = t.get(&format!("/users/{UPN}/messages/{id}")).await;
    assert_eq!(v["isRead"], true);
    assert_eq!(v["flag"]["flagStatus"], "flagged");
    assert_eq!(v["categories"], json!(["Blue"]));
    let r = t
        .http
        .delete(t.url(&format!("/users/{UPN}/messages/{id}")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(t.emu.messages(UPN).is_empty());
}

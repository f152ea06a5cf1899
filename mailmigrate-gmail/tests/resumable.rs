//! Resumable uploads: large imports in 256 KiB-multiple chunks, resumed from the
//! session's `Range` after an interrupted chunk, a lost last reply settled by asking the
//! session (or left of unknown outcome), expired sessions; and the emulator's sessions on
//! the wire.
#![cfg(feature = "emulator")]

use bytes::Bytes;
use mailmigrate_core::{
    DedupeKey, Destination, Disposition, FolderId, FolderPath, MessageId, MessageMeta, RawMessage,
};
use mailmigrate_gmail::emulator::{Emulator, EmulatorHandle, Fault};
use mailmigrate_gmail::{Gmail, GmailLimits};
use serde_json::Value;
use std::time::Duration;

const USER: &str = "ada@example.com";
const KIB: usize = 1024;

/// A message of about `size` bytes.
fn big(size: usize, n: usize) -> Bytes {
    let mut m = format!(
        "From: bob@example.org\r\nTo: ada@example.com\r\nSubject: big {n}\r\n\
         Message-ID: <big{n}@example.org>\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\n"
    )
    .into_bytes();
    let line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd\r\n";
    while m.len() + line.len() <= size {
        m.extend_from_slice(line);
    }
    Bytes::from(m)
}

/// A mailbox that uploads anything over 300 KiB in 256 KiB chunks.
fn gmail(emu: &EmulatorHandle) -> Gmail {
    emu.gmail_builder(USER)
        .with_resumable_upload(300 * KIB as u64, 256 * KIB)
        .with_limits(
            GmailLimits::default()
                .with_backoff(Duration::from_millis(5), Duration::from_millis(50)),
        )
        .build()
        .unwrap()
}

async fn inbox(g: &Gmail) -> FolderId {
    g.ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id
}

fn msg(bytes: Bytes) -> RawMessage {
    RawMessage::new(
        MessageMeta::new(MessageId::new("s1"), FolderId::new("INBOX")),
        bytes,
    )
}

fn imports(emu: &EmulatorHandle) -> u64 {
    emu.stats()
        .calls
        .get("gmail.users.messages.import")
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn large_messages_go_in_chunks_and_small_ones_in_one_request() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let g = gmail(&emu);
    let folder = inbox(&g).await;
    let raw = big(700 * KIB, 1);
    let small = big(10 * KIB, 2);
    let out = g
        .append(&folder, vec![msg(raw.clone()), msg(small.clone())])
        .await
        .unwrap();
    let ids: Vec<String> = out
        .into_iter()
        .map(|r| r.unwrap().id.unwrap().as_str().to_owned())
        .collect();
    let stored = emu.messages(USER);
    let by_id = |id: &str| stored.iter().find(|m| m.id == id).unwrap();
    assert_eq!(by_id(&ids[0]).raw, raw, "byte-exact through three chunks");
    assert!(
        by_id(&ids[0]).label_ids.contains("INBOX"),
        "metadata of the initiating request"
    );
    assert_eq!(by_id(&ids[1]).raw, small);
    assert_eq!(
        imports(&emu),
        2,
        "one initiating request, one multipart import"
    );
    assert_eq!(emu.open_upload_sessions(), 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn an_interrupted_chunk_resumes_from_the_sessions_range() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let g = gmail(&emu);
    let folder = inbox(&g).await;
    let raw = big(900 * KIB, 1);
    // The second chunk's connection drops before it is read; the third answers 503.
    emu.faults()
        .arm("PUT", "/messages/import", 1, 1, Fault::Drop);
    emu.faults().arm(
        "PUT",
        "/messages/import",
        3,
        1,
        Fault::Fail {
            status: 503,
            reason: "backendError".into(),
        },
    );
    let out = g.append(&folder, vec![msg(raw.clone())]).await.unwrap();
    let id = out.into_iter().next().unwrap().unwrap().id.unwrap();
    let stored = emu.messages(USER);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, id.as_str());
    assert_eq!(stored[0].raw, raw);
    assert_eq!(imports(&emu), 1, "one session, resumed");
    assert_eq!(emu.faults().remaining(), 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_lost_reply_on_the_last_chunk_is_settled_by_asking_the_session() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let g = gmail(&emu);
    let folder = inbox(&g).await;
    let raw = big(600 * KIB, 1);
    // Chunks 0-256K, 256K-512K, then the last: stored, and its answer lost.
    emu.faults()
        .arm("PUT", "/messages/import", 2, 1, Fault::LoseReply);
    let out = g.append(&folder, vec![msg(raw.clone())]).await.unwrap();
    let id = out.into_iter().next().unwrap().unwrap().id.unwrap();
    let stored = emu.messages(USER);
    assert_eq!(stored.len(), 1, "no second copy");
    assert_eq!(stored[0].id, id.as_str());
    emu.shutdown().await;
}

#[tokio::test]
async fn a_last_chunk_of_unknown_fate_is_left_to_the_look_up() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let g = gmail(&emu);
    let folder = inbox(&g).await;
    let raw = big(600 * KIB, 1);
    emu.faults()
        .arm("PUT", "/messages/import", 2, 1, Fault::LoseReply);
    // Every status query after it is cut off too (both faults count the first two PUTs;
    // the third fires the first fault only).
    emu.faults()
        .arm("PUT", "/messages/import", 2, 50, Fault::Drop);
    let out = g.append(&folder, vec![msg(raw.clone())]).await.unwrap();
    let e = out.into_iter().next().unwrap().unwrap_err();
    assert_eq!(e.disposition(), Disposition::Settle, "{e}");
    assert!(
        !e.to_string().contains("upload_id"),
        "the session URI is a capability: {e}"
    );
    emu.faults().clear();
    assert_eq!(emu.messages(USER).len(), 1, "it did arrive");
    let found = g
        .find_existing(&folder, &DedupeKey::of(&msg(raw.clone())))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "the look-up settles it");
    emu.shutdown().await;
}

#[tokio::test]
async fn an_expired_session_is_started_again() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let g = gmail(&emu);
    let folder = inbox(&g).await;
    let raw = big(600 * KIB, 1);
    // The second chunk finds its session gone.
    emu.faults().arm(
        "PUT",
        "/messages/import",
        1,
        1,
        Fault::Fail {
            status: 404,
            reason: "notFound".into(),
        },
    );
    let out = g.append(&folder, vec![msg(raw.clone())]).await.unwrap();
    out.into_iter().next().unwrap().unwrap();
    assert_eq!(imports(&emu), 2, "a second session");
    let stored = emu.messages(USER);
    assert_eq!((stored.len(), &stored[0].raw), (1, &raw));
    emu.shutdown().await;
}

#[tokio::test]
async fn sessions_follow_the_protocol_on_the_wire() {
    let emu = Emulator::builder()
        .user(USER)
        .max_upload(2 * 1024 * 1024)
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = {
        let v: Value = http
            .post(emu.token_url())
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", &emu.client_id()),
                ("client_secret", &emu.client_secret()),
                ("refresh_token", &emu.refresh_token(USER)),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    };
    let raw = big(300 * KIB, 1);
    let total = raw.len();
    let start = |len: usize| {
        http.post(format!(
            "{}/upload/gmail/v1/users/me/messages/import?uploadType=resumable&neverMarkSpam=true",
            emu.base_url()
        ))
        .bearer_auth(&token)
        .header("content-type", "application/json; charset=UTF-8")
        .header("x-upload-content-type", "message/rfc822")
        .header("x-upload-content-length", len.to_string())
        .body(r#"{"labelIds":["INBOX","UNREAD"]}"#)
        .send()
    };
    let too_big = start(3 * 1024 * 1024).await.unwrap();
    assert_eq!(too_big.status(), 413);
    let r = start(total).await.unwrap();
    assert_eq!(r.status(), 200);
    let session = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(session.contains("upload_id="), "{session}");
    let put = |range: String, body: Bytes| {
        http.put(&session)
            .header("content-range", range)
            .body(body)
            .send()
    };
    let r = put(format!("bytes */{total}"), Bytes::new()).await.unwrap();
    assert_eq!(r.status(), 308);
    assert!(r.headers().get("range").is_none(), "nothing arrived yet");
    let r = put(format!("bytes 0-99999/{total}"), raw.slice(..100_000))
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "not a multiple of 256 KiB");
    let q = 256 * KIB;
    let r = put(format!("bytes 0-{}/{total}", q - 1), raw.slice(..q))
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["range"], format!("bytes=0-{}", q - 1).as_str());
    let r = put(
        format!("bytes {}-{}/{total}", q + 1, total - 1),
        raw.slice(q + 1..),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400, "a gap after what arrived");
    let r = put(format!("bytes */{total}"), Bytes::new()).await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["range"].to_str().unwrap()),
        (308, format!("bytes=0-{}", q - 1).as_str())
    );
    let r = put(format!("bytes {q}-{}/{total}", total - 1), raw.slice(q..))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    let id = m["id"].as_str().unwrap().to_owned();
    let r = put(format!("bytes */{total}"), Bytes::new()).await.unwrap();
    assert_eq!(r.status(), 200, "a complete session says so");
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], id.as_str());
    let stored = emu.messages(USER);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].raw, raw);
    assert!(stored[0].label_ids.contains("UNREAD"));

    let r = start(total).await.unwrap();
    let second = r.headers()["location"].to_str().unwrap().to_owned();
    emu.expire_upload_sessions();
    let r = http
        .put(&second)
        .header("content-range", format!("bytes */{total}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "an expired session");
    emu.shutdown().await;
}

//! `X-` headers on the JSON create path: carried as `internetMessageHeaders` within
//! Graph's limits (five, named `x-…`), shown by `$select` and in the regenerated MIME; the
//! rest counted as not carried.
#![cfg(feature = "emulator")]

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use mailmigrate_core::engine::Engine;
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{
    Destination, FolderPath, MessageId, MessageMeta, Provider, RawMessage, Source,
};
use mailmigrate_graph::emulator::Emulator;

const MAILBOX: &str = "ada@example.com";

const MIME: &str = "From: Bo <bo@example.com>\r\nTo: ada@example.com\r\nSubject: Ticket\r\n\
Message-ID: <t1@example.com>\r\nDate: Tue, 3 Mar 2020 10:00:00 +0000\r\n\
Received: from mx.example.com by mail.example.com\r\nList-Id: <support.example.com>\r\n\
X-Ticket: 4711\r\nX-Priority: 1\r\nX-Spam-Status: No,\r\n score=0.1\r\nX-A: a\r\nX-B: b\r\n\
X-Sixth: left out\r\nX-Ticket: 4712\r\n\r\nHello.\r\n";

#[tokio::test]
async fn x_headers_are_created_with_the_message_and_the_rest_is_reported() {
    let emu = Emulator::builder().mailbox(MAILBOX).start().await.unwrap();
    let source = MemoryStore::new("old");
    let inbox = source
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id;
    let msg = RawMessage::new(
        MessageMeta::new(MessageId::new("1"), inbox.clone()),
        Bytes::from_static(MIME.as_bytes()),
    );
    source.append(&inbox, vec![msg]).await.unwrap()[0]
        .as_ref()
        .unwrap();
    let graph = Arc::new(emu.graph_builder(MAILBOX).connect().await.unwrap());
    let report = Engine::new(
        Arc::new(source),
        Arc::clone(&graph) as _,
        Arc::new(MemoryState::new()),
    )
    .run()
    .await
    .unwrap();
    assert_eq!(report.totals.copied, 1, "{report}");
    assert_eq!(report.totals.failed, 0, "{report}");

    // Stored as Graph keeps them: the first five X- headers, unfolded, in order.
    let stored = emu.messages(MAILBOX);
    let m = stored
        .iter()
        .find(|m| m.subject.as_deref() == Some("Ticket"))
        .unwrap();
    let names: Vec<&str> = m.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["X-Ticket", "X-Priority", "X-Spam-Status", "X-A", "X-B"]
    );
    assert_eq!(m.headers[2].1, "No, score=0.1");
    assert!(!m.is_draft);

    // What nothing carries is reported, by name.
    let left = graph.headers_not_carried();
    let names: Vec<&str> = left.keys().map(String::as_str).collect();
    assert_eq!(names, ["list-id", "received", "x-sixth", "x-ticket"]);
    assert!(left.values().all(|&n| n == 1), "{left:?}");

    // Read back: `$select=internetMessageHeaders` shows them, and the MIME Graph
    // regenerates has them as header fields.
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(emu.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &emu.client_id()),
            ("client_secret", &emu.client_secret()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let url = format!(
        "{}/users/{MAILBOX}/messages/{}?$select=subject,internetMessageHeaders",
        emu.graph_url(),
        m.id
    );
    let v: serde_json::Value = http
        .get(&url)
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["internetMessageHeaders"][0]["name"], "X-Ticket");
    assert_eq!(v["internetMessageHeaders"][0]["value"], "4711");
    assert_eq!(v["internetMessageHeaders"].as_array().unwrap().len(), 5);

    let folders = graph.list_folders().await.unwrap();
    let inbox = folders.iter().find(|f| f.path.is_inbox()).unwrap();
    let mut back = graph.fetch(&inbox.id, vec![MessageId::new(&m.id)]);
    let (_, fetched) = back.next().await.unwrap();
    let text = String::from_utf8_lossy(&fetched.unwrap().bytes).into_owned();
    assert!(text.contains("X-Ticket: 4711\r\n"), "{text}");
    assert!(text.contains("X-B: b\r\n"), "{text}");
    assert!(!text.contains("X-Sixth"), "{text}");
    emu.shutdown().await;
}

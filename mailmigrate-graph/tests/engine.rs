//! The engine over the Graph backend: what a delta listing may do to it.
#![cfg(feature = "emulator")]

use std::sync::Arc;

use futures::StreamExt;
use mailmigrate_core::engine::Engine;
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{Change, Provider, Source};
use mailmigrate_graph::emulator::{Emulator, Seed};

const MAILBOX: &str = "ada@example.com";

/// Graph may list the same change twice in one round ([G-MDELTA]); the emulator replays
/// the last change of each round. Each message is still copied once, and a second pass
/// copies nothing.
#[tokio::test]
async fn replayed_delta_entries_are_copied_once() {
    let emu = Emulator::builder()
        .mailbox(MAILBOX)
        .delta_replay(true)
        .delta_page_size(3)
        .start()
        .await
        .unwrap();
    for i in 0..20 {
        let mime = format!("Subject: m{i}\r\nMessage-ID: <m{i}@example.com>\r\n\r\nbody {i}\r\n");
        emu.seed_message(MAILBOX, "Inbox", mime.as_bytes(), Seed::default());
    }
    let graph = Arc::new(emu.graph_builder(MAILBOX).connect().await.unwrap());
    let dest = MemoryStore::new("copy");
    let state = Arc::new(MemoryState::new());
    let engine = Engine::new(graph, Arc::new(dest.clone()), state);
    let first = engine.run().await.unwrap();
    assert!(
        first.totals.listed > 20,
        "the replay was listed: {:?}",
        first.totals
    );
    assert_eq!(first.totals.copied, 20);
    let second = engine.run().await.unwrap();
    assert_eq!(second.totals.copied, 0);
    let mut stored = 0;
    for folder in dest.list_folders().await.unwrap() {
        stored += dest
            .list_changes(&folder.id, None)
            .filter(|c| futures::future::ready(matches!(c, Ok(Change::Upsert(_)))))
            .count()
            .await;
    }
    assert_eq!(stored, 20);
    emu.shutdown().await;
}

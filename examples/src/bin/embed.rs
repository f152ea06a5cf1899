//! Embedding mailmigrate: copy one in-memory mailbox into another and print the report.

use std::sync::Arc;

use mailmigrate_core::engine::{Engine, SyncOptions};
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{Destination, FolderPath, MessageId, MessageMeta, RawMessage};

#[tokio::main]
async fn main() -> mailmigrate_core::Result<()> {
    // A source mailbox with one message (any Source works: Maildir, mbox, IMAP, Graph, Gmail).
    let source = MemoryStore::new("old@example.com");
    let inbox = source.ensure_folder(&FolderPath::inbox(), None).await?.id;
    let raw = b"Message-ID: <1@example.com>\r\nSubject: Hello\r\n\r\nHi there.\r\n";
    let msg = RawMessage::new(
        MessageMeta::new(MessageId::new("1"), inbox.clone()),
        raw[..].into(),
    );
    source.append(&inbox, vec![msg]).await?;

    // Migrate it, recording progress so a second run is incremental.
    let dest = MemoryStore::new("new@example.com");
    let state = Arc::new(MemoryState::new());
    let engine = Engine::new(Arc::new(source), Arc::new(dest.clone()), state)
        .with_options(SyncOptions::new("old-to-new"));
    println!("{}", engine.run().await?);
    println!("{}", engine.run().await?); // "Nothing to do…"
    assert_eq!(dest.message_count(), 1);
    Ok(())
}

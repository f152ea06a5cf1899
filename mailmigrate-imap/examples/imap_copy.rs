//! Copies every folder of one IMAP account into another and prints the throughput.
//!
//! ```text
//! MAILMIGRATE_SRC_HOST=… MAILMIGRATE_SRC_PORT=… MAILMIGRATE_SRC_USER=… MAILMIGRATE_SRC_PASSWORD=…
//! MAILMIGRATE_SRC_TLS=plaintext MAILMIGRATE_SRC_ALLOW_PLAINTEXT=true  (same with MAILMIGRATE_DST_)
//! cargo run --release -p mailmigrate-imap --example imap_copy
//! ```
//!
//! A deliberately small loop over the `Source`/`Destination` traits (no state store, no
//! retries): list changes, fetch in batches, append in batches.

use std::time::Instant;

use futures::StreamExt;
use mailmigrate_core::{Change, Destination, MessageId, Provider, Source};
use mailmigrate_imap::ImapBuilder;

#[tokio::main]
async fn main() -> mailmigrate_core::Result<()> {
    let src = ImapBuilder::from_env_prefix("MAILMIGRATE_SRC_")
        .build()
        .await?;
    let dst = ImapBuilder::from_env_prefix("MAILMIGRATE_DST_")
        .build()
        .await?;
    let started = Instant::now();
    let (mut messages, mut bytes, mut failed) = (0usize, 0usize, 0usize);
    for folder in Provider::list_folders(&src).await? {
        if !folder.selectable {
            continue;
        }
        let target = dst.ensure_folder(&folder.path, folder.role).await?.id;
        let mut ids: Vec<MessageId> = Vec::new();
        let mut changes = src.list_changes(&folder.id, None);
        while let Some(change) = changes.next().await {
            if let Change::Upsert(meta) = change? {
                ids.push(meta.id);
            }
        }
        for chunk in ids.chunks(64) {
            let mut batch = Vec::with_capacity(chunk.len());
            let mut fetched = src.fetch(&folder.id, chunk.to_vec());
            while let Some((id, r)) = fetched.next().await {
                match r {
                    Ok(m) => batch.push(m),
                    Err(e) => {
                        failed += 1;
                        eprintln!("skipped {id}: {e}");
                    }
                }
            }
            let sizes: Vec<usize> = batch.iter().map(|m| m.bytes.len()).collect();
            for (r, size) in dst.append(&target, batch).await?.into_iter().zip(sizes) {
                match r {
                    Ok(_) => {
                        messages += 1;
                        bytes += size;
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("not stored: {e}");
                    }
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{messages} messages, {:.1} MB in {secs:.2} s: {:.0} msg/s, {:.1} MB/s; {failed} failed",
        bytes as f64 / 1e6,
        messages as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
    Ok(())
}

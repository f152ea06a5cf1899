//! The destination under the real engine: lost replies and lost state must end in exactly
//! one copy of every message, twins included.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{ensure, skip};
use crate::engine::{Engine, SyncOptions};
use crate::layer::{Fault, FaultLayer, Stack, Trigger};
use crate::state::{MemoryState, StateStore};
use crate::store::MemoryStore;
use crate::testkit::{fixtures, CaseResult, Harness, Outcome};
use crate::verify::parsed_fingerprint;
use crate::{ContentHash, Destination, ErrorKind, FolderId, Operation, RawMessage};

/// Content hash → copies, of the bytes as this destination stores them.
pub(super) type Census = BTreeMap<ContentHash, usize>;

/// The source mailbox: every portable fixture once, and one of them twice (byte-identical
/// twins must stay two messages).
async fn source(h: &Harness, name: &str) -> Result<(MemoryStore, Census), String> {
    source_with(h, name, Vec::new()).await
}

/// [`source`] with `extra` messages (named `extra-<n>`) after the fixtures.
pub(super) async fn source_with(
    h: &Harness,
    name: &str,
    extra: Vec<bytes::Bytes>,
) -> Result<(MemoryStore, Census), String> {
    let store = MemoryStore::new("conformance-source");
    let path = h.path(&[name])?;
    let folder = store
        .ensure_folder(&path, None)
        .await
        .map_err(|e| format!("memory source: {e}"))?
        .id;
    let mut batch: Vec<RawMessage> = fixtures::ALL
        .iter()
        .filter(|f| f.portable)
        .map(|f| f.message(&folder))
        .collect();
    let mut twin = fixtures::NO_MESSAGE_ID.message(&folder);
    twin.meta.id = crate::MessageId::new("no_message_id-twin");
    batch.push(twin);
    for (n, bytes) in extra.into_iter().enumerate() {
        batch.push(fixtures::message(&format!("extra-{n}"), &folder, bytes));
    }
    let mut census = Census::new();
    for m in &batch {
        *census.entry(stored_hash(h, m)).or_default() += 1;
    }
    for r in store
        .append(&folder, batch)
        .await
        .map_err(|e| format!("memory source: {e}"))?
    {
        r.map_err(|e| format!("memory source: {e}"))?;
    }
    Ok((store, census))
}

/// How a census counts `m`: by the hash of its stored form where the destination keeps
/// bytes, otherwise by the fields a regenerated copy keeps.
pub(super) fn stored_hash(h: &Harness, m: &RawMessage) -> ContentHash {
    let caps = h.capabilities();
    if caps.byte_exact {
        ContentHash::of(&caps.stored_form(&m.bytes))
    } else {
        parsed_fingerprint(&m.bytes)
    }
}

pub(super) async fn destination_census(h: &Harness, folder: &FolderId) -> Result<Census, String> {
    let listing = h.list(folder, None).await?;
    let mut census = Census::new();
    for id in listing.ids() {
        let m = h.fetch_one(folder, &id).await?;
        let key = if h.capabilities().byte_exact {
            m.content_hash()
        } else {
            parsed_fingerprint(&m.bytes)
        };
        *census.entry(key).or_default() += 1;
    }
    Ok(census)
}

pub(super) fn engine(
    source: &MemoryStore,
    dest: Arc<dyn Destination>,
    state: Arc<dyn StateStore>,
) -> Engine {
    Engine::new(Arc::new(source.clone()), dest, state).with_options(
        SyncOptions::new("conformance")
            .with_batch_size(4)
            .with_settle_grace(Duration::from_millis(200)),
    )
}

/// The real engine writes into this destination while every third reply is lost after the
/// message was stored (the form a dropped connection takes per item); a second run then
/// starts without any state. Each must leave exactly the source's messages: the copy just
/// written must be found by `find_existing`, and twins must stay two.
///
/// # Errors
/// A message naming the duplicate or the loss, with counts.
pub async fn engine_settles_lost_replies(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    if !caps.find_existing || !caps.fetch || !caps.list_folders {
        return skip("needs find_existing, fetch and list_folders");
    }
    let name = "engine-lost-replies";
    let folder = h.folder(name).await?;
    let (src, want) = source(h, name).await?;
    let lossy = Stack::new(Arc::clone(&h.dest))
        .layer(FaultLayer::new().fail_items(
            Operation::Append,
            Trigger::every(3),
            Fault::permanent(ErrorKind::Unavailable).after_call(),
        ))
        .into_destination();
    for (what, dest) in [
        ("with lost replies", lossy),
        ("without state after a complete run", Arc::clone(&h.dest)),
    ] {
        let report = engine(&src, dest, Arc::new(MemoryState::new()))
            .run()
            .await
            .map_err(|e| format!("the engine failed {what}: {e}"))?;
        ensure!(
            report.is_complete() && report.failures.is_empty(),
            "the run {what} did not complete: {report}"
        );
        exactly(h, &folder, &want, what).await?;
    }
    Ok(Outcome::Passed)
}

/// Checks that `folder` holds exactly the messages of `want`.
///
/// # Errors
/// How many were duplicated and lost, after the run `what`.
pub(super) async fn exactly(
    h: &Harness,
    folder: &FolderId,
    want: &Census,
    what: &str,
) -> Result<(), String> {
    let got = destination_census(h, folder).await?;
    let extra: usize = got
        .iter()
        .map(|(k, n)| n.saturating_sub(want.get(k).copied().unwrap_or(0)))
        .sum();
    let missing: usize = want
        .iter()
        .map(|(k, n)| n.saturating_sub(got.get(k).copied().unwrap_or(0)))
        .sum();
    ensure!(
        extra == 0 && missing == 0,
        "after the run {what}: {extra} duplicated, {missing} lost ({} expected)",
        want.values().sum::<usize>()
    );
    Ok(())
}

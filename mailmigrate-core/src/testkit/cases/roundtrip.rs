//! Appending the corpus and reading it back.

use std::collections::BTreeMap;

use futures::StreamExt;

use super::{ensure, skip};
use crate::testkit::{fixtures, CaseResult, Harness, Outcome};
use crate::{ErrorKind, MessageId};

/// Every fixture appended in batches comes back from `fetch`: byte-exact when the pair is
/// `byte_exact`, otherwise with the same parsed headers, text and attachments.
///
/// A destination that is not byte-exact, or that speaks a CRLF text protocol (IMAP), may
/// refuse a non-portable fixture (NUL byte, binary body) with a per-item `InvalidMessage`
/// naming it; every other failure fails the case, and what is stored must come back intact.
///
/// # Errors
/// A message naming the first fixture that did not round-trip.
pub async fn append_then_fetch_roundtrip(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    if !caps.fetch {
        return skip("needs fetch");
    }
    let folder = h.folder("roundtrip").await?;
    let messages: Vec<_> = fixtures::ALL.iter().map(|f| f.message(&folder)).collect();
    let batch = if caps.append_batch_max == 0 {
        messages.len()
    } else {
        caps.append_batch_max
    };
    let mut results = Vec::with_capacity(messages.len());
    for chunk in messages.chunks(batch) {
        results.extend(h.append(&folder, chunk.to_vec()).await?);
    }
    let mut stored: BTreeMap<MessageId, &fixtures::Fixture> = BTreeMap::new();
    for (fixture, result) in fixtures::ALL.iter().zip(results) {
        match result {
            Ok(id) => {
                let previous = stored.insert(id.clone(), fixture);
                ensure!(
                    previous.is_none(),
                    "{} and {} were both stored as {id}",
                    previous.map_or("", |f| f.name),
                    fixture.name
                );
            }
            Err(e)
                if (!caps.byte_exact || caps.requires_crlf)
                    && !fixture.portable
                    && e.kind() == ErrorKind::InvalidMessage =>
            {
                ensure!(
                    e.context("message") == Some(fixture.name),
                    "refusing {} must name it: {e}",
                    fixture.name
                );
            }
            Err(e) => return Err(format!("append of fixture {} failed: {e}", fixture.name)),
        }
    }
    let ids: Vec<MessageId> = stored.keys().cloned().collect();
    let chunk = if caps.fetch_batch_max == 0 {
        ids.len()
    } else {
        caps.fetch_batch_max
    };
    let mut seen = 0;
    for ids in ids.chunks(chunk) {
        let mut entries = h.source.fetch(&folder, ids.to_vec());
        while let Some((id, result)) = entries.next().await {
            let fixture = stored
                .get(&id)
                .ok_or_else(|| format!("fetch yielded {id}, which was not asked for"))?;
            let msg = result.map_err(|e| format!("fetch of {} failed: {e}", fixture.name))?;
            ensure!(
                msg.meta.id == id,
                "fetch of {} returned metadata for {}",
                fixture.name,
                msg.meta.id
            );
            h.same_content(fixture.bytes, &msg.bytes)
                .map_err(|d| format!("fixture {} did not round-trip: {d}", fixture.name))?;
            seen += 1;
        }
    }
    ensure!(
        seen == ids.len(),
        "fetch of {} messages yielded {seen} entries",
        ids.len()
    );
    Ok(Outcome::Passed)
}

//! Temporary failures retried by the retry layer, without loss or duplicates.

use std::time::Duration;

use futures::StreamExt;

use super::{ensure, skip};
use crate::layer::{BackoffConfig, Fault, FaultLayer, RetryConfig, RetryLayer, Stack, Trigger};
use crate::testkit::{fixtures, CaseResult, Harness, Outcome};
use crate::{ErrorKind, Operation, RawMessage};

fn fast_retry() -> RetryLayer {
    RetryLayer::new(
        RetryConfig::default()
            .with_backoff(
                BackoffConfig::default()
                    .with_init(Duration::from_millis(1))
                    .with_max(Duration::from_millis(20)),
            )
            .with_max_retries(8),
    )
}

/// The backend's calls, made to fail temporarily (a busy server, a rate limit with a
/// retry-after hint, single items refused for a moment), are retried by [`RetryLayer`]
/// until every message is stored exactly once and fetches back intact.
///
/// # Errors
/// A message naming the item that was lost, duplicated or altered.
pub async fn transient_error_retry(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    if !(caps.append && caps.fetch && caps.list_folders) {
        return skip("needs append, fetch and listing");
    }
    let folder = h.folder("retry").await?;
    let faults = FaultLayer::new()
        .with_seed(11)
        .fail_calls(
            Operation::Append,
            Trigger::every(2),
            Fault::temporary(ErrorKind::RateLimited).with_retry_after(Duration::from_millis(5)),
        )
        .fail_items(
            Operation::Append,
            Trigger::every(3),
            Fault::temporary(ErrorKind::Unavailable),
        )
        .fail_items(
            Operation::Fetch,
            Trigger::every(2),
            Fault::temporary(ErrorKind::Unavailable),
        );
    let dest = Stack::new(std::sync::Arc::clone(&h.dest))
        .layer(&faults)
        .layer(fast_retry())
        .into_destination();
    let source = Stack::new(std::sync::Arc::clone(&h.source))
        .layer(&faults)
        .layer(fast_retry())
        .into_source();
    let messages: Vec<RawMessage> = fixtures::ALL
        .iter()
        .filter(|f| f.portable)
        .map(|f| f.message(&folder))
        .collect();
    for chunk in messages.chunks(3) {
        let results = dest
            .append(&folder, chunk.to_vec())
            .await
            .map_err(|e| format!("append failed despite retries: {e}"))?;
        ensure!(
            results.len() == chunk.len(),
            "append returned {} results for {}",
            results.len(),
            chunk.len()
        );
        for (r, m) in results.into_iter().zip(chunk) {
            r.map_err(|e| format!("{} not stored despite retries: {e}", m.meta.id))?;
        }
    }
    let listing = h.list(&folder, None).await?;
    ensure!(
        listing.upserts.len() == messages.len(),
        "{} messages appended through retries, {} stored (lost or duplicated)",
        messages.len(),
        listing.upserts.len()
    );
    let mut fetched = source.fetch(&folder, listing.ids().into_iter().collect());
    let mut got = Vec::new();
    while let Some((id, r)) = fetched.next().await {
        let raw = r.map_err(|e| format!("fetch of {id} failed despite retries: {e}"))?;
        got.push(raw.bytes);
    }
    ensure!(
        got.len() == messages.len(),
        "fetched {} of {}",
        got.len(),
        messages.len()
    );
    for m in &messages {
        ensure!(
            got.iter().any(|g| h.same_content(&m.bytes, g).is_ok()),
            "{} did not come back intact",
            m.meta.id
        );
    }
    Ok(Outcome::Passed)
}

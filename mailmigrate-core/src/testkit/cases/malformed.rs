//! Malformed input fails alone, and unknown ids fail alone.

use bytes::Bytes;
use futures::StreamExt;

use super::{ensure, skip};
use crate::testkit::harness::{expect_error, same_bytes};
use crate::testkit::{fixtures, CaseResult, Harness, Outcome};
use crate::ErrorKind;

/// The source id of the empty message.
const EMPTY: &str = "empty_message";

/// In a batch of `[good, empty, good]` the empty message gets a per-item `InvalidMessage`
/// naming it and both good ones are stored; a truncated multipart message is still stored
/// (byte-exact where the pair is).
///
/// # Errors
/// A message naming the item that failed the batch, was lost or was altered.
pub async fn malformed_message_isolated(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    let folder = h.folder("malformed").await?;
    let good = [fixtures::EIGHT_BIT_BODY, fixtures::FROM_LINE];
    let batch = vec![
        good[0].message(&folder),
        fixtures::message(EMPTY, &folder, Bytes::new()),
        good[1].message(&folder),
    ];
    let results = h.append(&folder, batch).await?;
    let e = expect_error("the empty message", &results[1], ErrorKind::InvalidMessage)?;
    ensure!(
        e.context("message") == Some(EMPTY),
        "the error for the empty message must name it: {e}"
    );
    for (fixture, result) in good.iter().zip([&results[0], &results[2]]) {
        let id = result
            .as_ref()
            .map_err(|e| format!("{} failed next to the empty message: {e}", fixture.name))?;
        if caps.fetch {
            let got = h.fetch_one(&folder, id).await?;
            h.same_content(fixture.bytes, &got.bytes)
                .map_err(|d| format!("{} was altered: {d}", fixture.name))?;
        }
    }

    let listed = h.list(&folder, None).await?.ids();
    ensure!(
        listed.len() == 2,
        "after a batch of two good messages and an empty one, {folder} lists {listed:?}"
    );

    let truncated = fixtures::TRUNCATED_MULTIPART;
    let mut results = h.append(&folder, vec![truncated.message(&folder)]).await?;
    match results.pop().expect("one result") {
        Ok(id) => {
            if caps.fetch && caps.byte_exact {
                let got = h.fetch_one(&folder, &id).await?;
                same_bytes(truncated.bytes, &got.bytes)
                    .map_err(|d| format!("the truncated message was altered: {d}"))?;
            }
        }
        Err(e) if !caps.byte_exact && e.kind() == ErrorKind::InvalidMessage => {
            ensure!(
                e.context("message") == Some(truncated.name),
                "refusing the truncated message must name it: {e}"
            );
        }
        Err(e) => return Err(format!("the truncated message was not stored: {e}")),
    }
    Ok(Outcome::Passed)
}

/// Fetching a known and an unknown id yields two entries: the message, and a per-item
/// `NotFound` for the unknown id, never a failed stream.
///
/// # Errors
/// A message saying how the fetch stream misbehaved.
pub async fn fetch_unknown_id_is_not_found(h: &Harness) -> CaseResult {
    if !h.capabilities().fetch {
        return skip("needs fetch");
    }
    let folder = h.folder("unknown-id").await?;
    let known_fixture = fixtures::EIGHT_BIT_BODY;
    let known = h
        .append_one(&folder, known_fixture.message(&folder))
        .await?;
    let unknown = h.unknown_id(&folder).await?;
    let entries: Vec<_> = h
        .source
        .fetch(&folder, vec![unknown.clone(), known.clone()])
        .collect()
        .await;
    ensure!(
        entries.len() == 2,
        "fetch of two ids yielded {} entries",
        entries.len()
    );
    let (mut saw_known, mut saw_unknown) = (false, false);
    for (id, result) in &entries {
        if id == &known {
            let msg = result
                .as_ref()
                .map_err(|e| format!("fetch of {known} failed next to an unknown id: {e}"))?;
            h.same_content(known_fixture.bytes, &msg.bytes)?;
            saw_known = true;
        } else if id == &unknown {
            let e = expect_error(
                &format!("fetch of unknown {unknown}"),
                result,
                ErrorKind::NotFound,
            )?;
            ensure!(
                e.context("message").is_some(),
                "the NotFound error must name the message: {e}"
            );
            saw_unknown = true;
        } else {
            return Err(format!("fetch yielded {id}, which was not asked for"));
        }
    }
    ensure!(saw_known && saw_unknown, "fetch answered one id twice");
    Ok(Outcome::Passed)
}

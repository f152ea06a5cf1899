//! The destination on its real connection, through a fault-injecting
//! [`Proxy`]: a reply lost after the whole message left must be reported as an unknown
//! outcome, and the engine must end with exactly one copy of every message.
//!
//! These cases need [`Harness::with_wire`]; without it they are skipped.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::engine::{destination_census, engine, exactly, source_with, stored_hash};
use super::{ensure, skip};
use crate::state::{MemoryState, StateStore};
use crate::testkit::proxy::{Afterwards, Cut, Fault, Proxy};
use crate::testkit::{fixtures, CaseResult, Harness, Outcome};
use crate::{Destination, Disposition, Error, FolderId, RawMessage};

/// Starts a proxy to `upstream` with `fault` and connects a destination through it.
async fn through(
    h: &Harness,
    upstream: SocketAddr,
    fault: Fault,
) -> Result<(Proxy, Arc<dyn Destination>), String> {
    let proxy =
        Proxy::start(upstream, fault).map_err(|e| format!("cannot start the proxy: {e}"))?;
    let dest = h.connect_to(proxy.addr()).await?;
    Ok((proxy, dest))
}

/// A message of the wire cases, ending with `end` (the proxy's marker).
fn wire_message(folder: &FolderId, name: &str, end: &str) -> RawMessage {
    let bytes = format!(
        "From: wire@example.org\r\nTo: case@example.org\r\nSubject: {name}\r\n\
         Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\n\
         A message of a batch whose reply is lost.\r\n{end}\r\n"
    );
    fixtures::message(name, folder, Bytes::from(bytes))
}

/// What the engine does with an item of this disposition, for failure messages.
fn consequence(d: Disposition) -> &'static str {
    match d {
        Disposition::Settle => "look it up",
        Disposition::Final => "file it as failed for good",
        Disposition::Retry => "write it again without looking",
    }
}

/// A batch of three is appended through a proxy that, once the last message has left in
/// full, either drops the server's replies (the server stores the batch: `Cut::Deaf`) or
/// drops the rest of the command (the server stores nothing: `Cut::Swallow`), then closes
/// the connection. The client cannot tell the two apart, so each message must come back
/// as an error with [`Error::outcome_unknown`] (per item or for the whole call), or as
/// stored when it is.
///
/// # Errors
/// A message naming the item reported as refused or temporary while its fate was unknown.
pub async fn lost_append_reply_is_outcome_unknown(h: &Harness) -> CaseResult {
    let Some(upstream) = h.wire() else {
        return skip("needs a wire (Harness::with_wire)");
    };
    let caps = h.capabilities();
    if !caps.fetch || !caps.list_folders {
        return skip("needs fetch and list_folders");
    }
    let folder = h.folder("wire-lost-reply").await?;
    for (cut, what) in [
        (
            Cut::Deaf,
            "the server stored the batch and its reply was lost",
        ),
        (
            Cut::Swallow,
            "the batch left in full, its end never reached the server and no reply came",
        ),
    ] {
        let end = format!("the end of the {cut:?} batch of run {}", h.run_id);
        let batch: Vec<RawMessage> = (0..3)
            .map(|i| {
                let last = if i == 2 { end.as_str() } else { "" };
                wire_message(&folder, &format!("wire {cut:?} {i} {}", h.run_id), last)
            })
            .collect();
        let (proxy, dest) = through(h, upstream, Fault::after_marker(cut, end.clone())).await?;
        let results = dest.append(&folder, batch.clone()).await;
        let tripped = proxy.tripped();
        drop(dest);
        drop(proxy);
        ensure!(
            tripped,
            "the append never reached the proxy's marker: the destination built by \
             with_wire does not connect to the address it is given"
        );
        let stored = destination_census(h, &folder).await?;
        for (i, msg) in batch.iter().enumerate() {
            let outcome: Result<(), &Error> = match &results {
                Err(e) => Err(e),
                Ok(items) => match items.get(i) {
                    Some(Ok(_)) => Ok(()),
                    Some(Err(e)) => Err(e),
                    None => return Err(format!("append of 3 returned {} results", items.len())),
                },
            };
            let copies = stored.get(&stored_hash(h, msg)).copied().unwrap_or(0);
            match outcome {
                Ok(()) => ensure!(
                    copies == 1,
                    "{what}: message {i} was reported stored, and {copies} copies of it are \
                     at the destination"
                ),
                Err(e) => ensure!(
                    e.is_outcome_unknown(),
                    "{what}: message {i} failed with \"{e}\", so the engine would {} \
                     ({copies} copies of it are at the destination); a write whose answer \
                     was lost after the data left must be reported with \
                     Error::outcome_unknown",
                    consequence(e.disposition())
                ),
            }
        }
    }
    Ok(Outcome::Passed)
}

/// The real engine copies a mailbox into this destination through a proxy that drops the
/// server's replies once one message in the middle has left, then closes that connection:
/// once with the destination refusing for the rest of the run (a second run with the same
/// state finishes the job), once with later connections passing (the same run recovers).
/// Either way the destination must end with exactly the source's messages.
///
/// # Errors
/// A message naming the duplicate or the loss, with counts.
pub async fn engine_settles_a_reply_lost_on_the_wire(h: &Harness) -> CaseResult {
    let Some(upstream) = h.wire() else {
        return skip("needs a wire (Harness::with_wire)");
    };
    let caps = h.capabilities();
    if !caps.find_existing || !caps.fetch || !caps.list_folders {
        return skip("needs find_existing, fetch and list_folders");
    }
    for afterwards in [Afterwards::Refuse, Afterwards::Pass] {
        let name = format!("wire-engine-{afterwards:?}").to_ascii_lowercase();
        let folder = h.folder(&name).await?;
        let end = format!("the marked message of {name} in run {}", h.run_id);
        let marked = wire_message(&folder, &name, &end).bytes;
        let (src, want) = source_with(h, &name, vec![marked]).await?;
        let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
        let fault = Fault {
            afterwards,
            ..Fault::after_marker(Cut::Deaf, end)
        };
        let (proxy, dest) = through(h, upstream, fault).await?;
        let first = engine(&src, dest, Arc::clone(&state)).run().await;
        let tripped = proxy.tripped();
        drop(proxy);
        ensure!(
            tripped,
            "the engine's writes never reached the proxy's marker: the destination built \
             by with_wire does not connect to the address it is given"
        );
        if afterwards == Afterwards::Pass {
            let report = first.map_err(|e| format!("the run through the proxy failed: {e}"))?;
            ensure!(
                report.is_complete() && report.failures.is_empty(),
                "the run whose lost reply the destination let it recover from did not \
                 complete: {report}"
            );
            exactly(h, &folder, &want, "that lost a reply and recovered").await?;
        } else {
            let report = engine(&src, Arc::clone(&h.dest), state)
                .run()
                .await
                .map_err(|e| format!("the run after the lost reply failed: {e}"))?;
            ensure!(
                report.is_complete() && report.failures.is_empty(),
                "the run after the one that lost a reply did not complete: {report}"
            );
            exactly(h, &folder, &want, "after the one that lost a reply").await?;
        }
    }
    Ok(Outcome::Passed)
}

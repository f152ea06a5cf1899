//! Operations a target declares it cannot do fail with `Unsupported`.

use futures::StreamExt;

use super::{ensure, skip};
use crate::testkit::harness::expect_error;
use crate::testkit::{fixtures, CaseResult, Harness, Outcome};
use crate::{DedupeKey, ErrorKind, Flag, FlagChange};

/// Every optional operation switched off in the capabilities (`update_flags`, `delete`,
/// `find_existing`, `fetch`) returns `Unsupported` instead of half-working, and a refused
/// `delete` leaves the message in place.
///
/// # Errors
/// A message naming the operation that did not say `Unsupported`.
pub async fn unsupported_op_returns_unsupported(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    if caps.update_flags && caps.delete && caps.find_existing && caps.fetch {
        return skip("every optional operation is supported");
    }
    let folder = h.folder("unsupported").await?;
    let msg = fixtures::EIGHT_BIT_BODY.message(&folder);
    let id = h.append_one(&folder, msg.clone()).await?;
    if !caps.update_flags {
        let change = FlagChange::add([Flag::Seen].into_iter().collect());
        let r = h.dest.update_flags(&folder, &id, &change).await;
        expect_error(
            "update_flags without update_flags",
            &r,
            ErrorKind::Unsupported,
        )?;
    }
    if !caps.delete {
        let r = h.dest.delete(&folder, std::slice::from_ref(&id)).await;
        expect_error("delete without delete", &r, ErrorKind::Unsupported)?;
        let listing = h.list(&folder, None).await?;
        ensure!(
            listing.get(&id).is_some(),
            "a refused delete removed {id} anyway"
        );
    }
    if !caps.find_existing {
        let r = h.dest.find_existing(&folder, &DedupeKey::of(&msg)).await;
        expect_error(
            "find_existing without find_existing",
            &r,
            ErrorKind::Unsupported,
        )?;
    }
    if !caps.fetch {
        let entries: Vec<_> = h.source.fetch(&folder, vec![id.clone()]).collect().await;
        ensure!(
            entries.len() == 1,
            "fetch of one id yielded {} entries",
            entries.len()
        );
        expect_error("fetch without fetch", &entries[0].1, ErrorKind::Unsupported)?;
    }
    Ok(Outcome::Passed)
}

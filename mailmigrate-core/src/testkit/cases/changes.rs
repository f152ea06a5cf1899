//! Incremental change listing.

use std::collections::BTreeSet;

use super::ensure;
use crate::testkit::{fixtures, CaseResult, Harness, Outcome};
use crate::{Flag, FlagChange, Flags, MessageId};

/// After a first full listing, two appends and a flag change on an old message, listing
/// since the checkpoint yields exactly those three (with `list_since`; otherwise the full
/// listing contains them) and a new checkpoint; an unchanged folder then lists nothing;
/// with `list_removals` and `delete`, a deletion is listed as removed.
///
/// # Errors
/// A message naming the change that was missed, repeated or invented.
pub async fn incremental_changes(h: &Harness) -> CaseResult {
    let caps = h.capabilities();
    let folder = h.folder("changes").await?;
    let mut old = Vec::new();
    for f in [
        fixtures::EIGHT_BIT_BODY,
        fixtures::FROM_LINE,
        fixtures::BARE_LF,
    ] {
        old.push(h.append_one(&folder, f.message(&folder)).await?);
    }
    let first = h.list(&folder, None).await?;
    let old_set: BTreeSet<MessageId> = old.iter().cloned().collect();
    ensure!(
        first.ids() == old_set,
        "a full listing of a folder holding {old_set:?} listed {:?}",
        first.ids()
    );

    let mut expected = BTreeSet::new();
    for f in [fixtures::RFC2047_HEADERS, fixtures::NO_MESSAGE_ID] {
        expected.insert(h.append_one(&folder, f.message(&folder)).await?);
    }
    let changed_flags: Flags = [Flag::Seen, Flag::Flagged].into_iter().collect();
    if caps.update_flags {
        h.dest
            .update_flags(&folder, &old[0], &FlagChange::add(changed_flags.clone()))
            .await
            .map_err(|e| format!("update_flags of {} failed: {e}", old[0]))?;
        expected.insert(old[0].clone());
    }

    let second = h.list(&folder, Some(first.checkpoint.clone())).await?;
    if caps.list_since {
        ensure!(
            !second.reset,
            "an unchanged UIDVALIDITY-like state reported a reset"
        );
        ensure!(
            second.ids() == expected,
            "listing since the checkpoint: expected exactly {expected:?}, got {:?}",
            second.ids()
        );
        ensure!(
            second.removed.is_empty(),
            "nothing was removed, but {:?} were listed as removed",
            second.removed
        );
    } else {
        let all: BTreeSet<MessageId> = old_set.union(&expected).cloned().collect();
        ensure!(
            all.is_subset(&second.ids()),
            "without list_since the listing must hold every message {all:?}, got {:?}",
            second.ids()
        );
    }
    if caps.update_flags {
        let meta = second
            .get(&old[0])
            .ok_or_else(|| format!("{} is missing from the second listing", old[0]))?;
        ensure!(
            changed_flags.is_subset(&meta.flags),
            "the changed flags of {} are not listed: {:?}",
            old[0],
            meta.flags
        );
    }
    if !caps.list_since {
        return Ok(Outcome::Passed);
    }

    let third = h.list(&folder, Some(second.checkpoint.clone())).await?;
    ensure!(
        third.upserts.is_empty() && third.removed.is_empty(),
        "an unchanged folder listed {:?} and removed {:?}",
        third.ids(),
        third.removed
    );
    if caps.list_removals && caps.delete {
        h.dest
            .delete(&folder, std::slice::from_ref(&old[1]))
            .await
            .map_err(|e| format!("delete of {} failed: {e}", old[1]))?;
        let fourth = h.list(&folder, Some(third.checkpoint.clone())).await?;
        ensure!(
            fourth.removed == [old[1].clone()],
            "after deleting {} the listing reported removed {:?}",
            old[1],
            fourth.removed
        );
        ensure!(
            fourth.get(&old[1]).is_none(),
            "the deleted {} is still listed",
            old[1]
        );
    }
    Ok(Outcome::Passed)
}

/// A folder deleted and created anew at the same path (what an IMAP server marks with a
/// new UIDVALIDITY) and listed since a checkpoint of its earlier life: the listing reports
/// [`Change::Reset`](crate::Change::Reset), or else holds every message of the new folder
/// under ids that named no message of the old one. Without either, the engine would take
/// the new messages for copies it already made, or never see them.
///
/// Needs [`Harness::with_renewal`].
///
/// # Errors
/// A message naming the ids that were reused or the messages that were hidden.
pub async fn renewed_folder_lists_anew(h: &Harness) -> CaseResult {
    if !h.can_renew() {
        return super::skip("needs a way to renew a folder (Harness::with_renewal)");
    }
    let folder = h.folder("renewed").await?;
    let mut old = BTreeSet::new();
    for f in [fixtures::EIGHT_BIT_BODY, fixtures::FROM_LINE] {
        old.insert(h.append_one(&folder, f.message(&folder)).await?);
    }
    let before = h.list(&folder, None).await?;
    let folder = h.renew(&h.path(&["renewed"])?).await?;
    let mut new = BTreeSet::new();
    for f in [fixtures::RFC2047_HEADERS, fixtures::NO_MESSAGE_ID] {
        new.insert(h.append_one(&folder, f.message(&folder)).await?);
    }
    let after = h.list(&folder, Some(before.checkpoint.clone())).await?;
    let reused: BTreeSet<&MessageId> = old.intersection(&new).collect();
    ensure!(
        after.reset || reused.is_empty(),
        "the folder was deleted and created anew, and {reused:?} now name other messages, \
         but the listing since the old folder's checkpoint reported no Reset"
    );
    let listed = after.ids();
    let hidden: BTreeSet<&MessageId> = new.difference(&listed).collect();
    ensure!(
        hidden.is_empty(),
        "listing the renewed folder since the old folder's checkpoint (reset: {}) left out \
         its messages {hidden:?}",
        after.reset
    );
    Ok(Outcome::Passed)
}

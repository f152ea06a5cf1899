//! Finding the copies a destination already holds: a pending row's after an interrupted
//! write, and a whole batch's when a folder with mail has no checkpoint of ours (a lost
//! state file, mail copied before by another tool). A look-up returns every byte-identical
//! copy; the claim here picks the one that is this message's (decision 0004).

use std::collections::HashSet;

use super::{ledger_row, written_date, Ctx};
use crate::engine::{Event, Stats};
use crate::state::{LedgerEntry, LedgerState};
use crate::{
    DedupeKey, Error, ErrorKind, ExistingCopy, FlagChange, FolderId, MessageId, Operation,
    RawMessage, Result,
};

/// Looks up, by `key`, the copy of what `row` wrote: one the ledger gives to no other
/// message, of the row's date, with its flags if there is such a copy (see [`claim_copy`]).
pub(super) async fn copy_of_row(
    ctx: &Ctx<'_>,
    row: &LedgerEntry,
    key: &DedupeKey,
) -> Result<Option<ExistingCopy>> {
    let candidates = ctx.engine.dest.find_existing(&row.dest_folder, key).await?;
    let wanted = Wanted {
        flags: &row.flags,
        date: row.internal_date,
    };
    claim_copy(ctx, &row.dest_folder, candidates, &wanted, &HashSet::new()).await
}

/// What a message's copy was (or is to be) written with.
struct Wanted<'a> {
    flags: &'a crate::Flags,
    date: Option<time::OffsetDateTime>,
}

/// Picks the copy that is this message's among the look-up's candidates: never one the
/// ledger (or `unrecorded`, claims about to be recorded) gives to another message, never
/// one whose date differs when the destination keeps dates (it belongs to a byte-identical
/// twin), and one with the message's flags before one without. `None` when no candidate
/// can be this message's.
async fn claim_copy(
    ctx: &Ctx<'_>,
    folder: &FolderId,
    candidates: Vec<ExistingCopy>,
    wanted: &Wanted<'_>,
    unrecorded: &HashSet<MessageId>,
) -> Result<Option<ExistingCopy>> {
    let keeps_dates = ctx.dcaps.append_with_internal_date;
    let mut fallback = None;
    for c in candidates {
        if keeps_dates && dates_differ(wanted.date, c.internal_date) {
            continue;
        }
        if unrecorded.contains(&c.id) || ctx.engine.state.is_claimed(ctx.job, folder, &c.id).await?
        {
            continue;
        }
        if c.flags.as_ref().is_none_or(|f| f == wanted.flags) {
            return Ok(Some(c));
        }
        fallback.get_or_insert(c);
    }
    Ok(fallback)
}

/// Whether two internal dates are known and name different instants (dates are kept to the
/// second; a second's difference is rounding, not another message).
fn dates_differ(a: Option<time::OffsetDateTime>, b: Option<time::OffsetDateTime>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if (a - b).abs() > time::Duration::SECOND)
}

/// Makes a found copy's flags `want` (where the destination can change flags).
pub(super) async fn set_flags(
    ctx: &Ctx<'_>,
    folder: &FolderId,
    id: &MessageId,
    have: &crate::Flags,
    want: &crate::Flags,
) -> Result<()> {
    let change = FlagChange::between(have, want);
    if change.is_empty() || !ctx.dcaps.update_flags {
        return Ok(());
    }
    ctx.engine.dest.update_flags(folder, id, &change).await
}

/// Looks each message up at the destination; found copies are recorded done, the rest is
/// returned for writing.
///
/// A found copy is given the source's flags: when the destination reports the copy's
/// flags, exactly (the ledger that knew what was synced is gone, and a byte-identical
/// twin's copy may have been taken); otherwise by adding only, so nothing is cleared blindly.
pub(super) async fn dedupe_batch(
    ctx: &Ctx<'_>,
    dest: &FolderId,
    batch: Vec<RawMessage>,
    stats: &mut Stats,
) -> Result<Vec<RawMessage>> {
    let engine = ctx.engine;
    let mut rest = Vec::with_capacity(batch.len());
    // Found copies are recorded together at the end (one transaction, not one per
    // message); until then their claims are kept here.
    let mut claimed = HashSet::new();
    let mut found = Vec::new();
    let keys: Vec<DedupeKey> = batch.iter().map(DedupeKey::of).collect();
    let copies = engine.dest.find_existing_many(dest, &keys).await?;
    if copies.len() != batch.len() {
        return Err(Error::new(
            ErrorKind::Unexpected,
            format!(
                "the destination answered {} look-ups for {} keys",
                copies.len(),
                batch.len()
            ),
        )
        .with_operation(Operation::FindExisting));
    }
    for (msg, candidates) in batch.into_iter().zip(copies) {
        let wanted = Wanted {
            flags: &msg.meta.flags,
            date: written_date(ctx, &msg),
        };
        match claim_copy(ctx, dest, candidates, &wanted, &claimed).await? {
            Some(copy) => {
                match &copy.flags {
                    Some(have) => set_flags(ctx, dest, &copy.id, have, &msg.meta.flags).await?,
                    None if ctx.dcaps.update_flags && !msg.meta.flags.is_empty() => {
                        let change = FlagChange::add(msg.meta.flags.clone());
                        engine.dest.update_flags(dest, &copy.id, &change).await?;
                    }
                    None => {}
                }
                claimed.insert(copy.id.clone());
                found.push(ledger_row(
                    ctx,
                    dest,
                    &msg,
                    Some(copy.id),
                    LedgerState::Done,
                ));
            }
            None => rest.push(msg),
        }
    }
    engine.state.record(ctx.job, &found).await?;
    let found = found.len() as u64;
    stats.deduplicated += found;
    if found > 0 {
        engine.events.emit(|| Event::Deduplicated {
            source: ctx.entry.source.path.clone(),
            messages: found,
        });
    }
    Ok(rest)
}

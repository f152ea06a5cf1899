//! One folder's pass: settle unknown writes, list changes, fetch, write, record.
//!
//! A reader (listing, ledger lookups, fetching) and a writer (append, flag updates,
//! deletions, ledger rows) run concurrently, joined by a channel of two batches: memory is
//! bounded by the batch size and the largest message, never by the folder's size.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

mod dedupe;

use self::dedupe::{copy_of_row, dedupe_batch, set_flags};
use super::plan::LabelPolicy;
use super::{Engine, Event, FolderReport, PlanEntry, Stats};
use crate::headers::header_len;
use crate::id_hashes::IdHashes;
use crate::state::{ItemFailure, LedgerEntry, LedgerState};
use crate::{
    Capabilities, Change, Checkpoint, DedupeKey, Disposition, EnsuredFolder, Error, ErrorKind,
    Flag, FlagChange, FolderId, MessageId, MessageMeta, Operation, RawMessage, Result,
};

/// Metadata entries read from a listing before the ledger is consulted for them.
const LIST_CHUNK: usize = 1024;
/// Ledger rows read per page when looking for deletions.
const LEDGER_PAGE: usize = 4096;

enum Work {
    Copy(Vec<RawMessage>),
    WouldCopy {
        messages: u64,
        bytes: u64,
    },
    /// Done rows, the source's flags now, and the change to send.
    Flags(Vec<(LedgerEntry, crate::Flags, FlagChange)>),
    Delete(Vec<LedgerEntry>),
    Failed(MessageId, Error),
}

struct Ctx<'a> {
    engine: &'a Engine,
    entry: &'a PlanEntry,
    job: &'a str,
    dcaps: Capabilities,
    /// Items of this folder that an earlier pass found unmigratable for good.
    failed_for_good: HashSet<MessageId>,
    /// When the latest write of unknown outcome was seen (a lost answer in this pass, or a
    /// pending row of an earlier run that a look-up did not find): the final look-up waits
    /// [`SyncOptions::settle_grace`](super::SyncOptions::settle_grace) after it.
    uncertain_since: Mutex<Option<Instant>>,
    /// Set when a side refused the credentials (`Unauthenticated`) or its quota is spent
    /// (`QuotaExceeded`: a destination full, a provider's daily limit), in any folder of
    /// this pass: every request would be refused the same way, so folders stop asking.
    refused: &'a OnceLock<ErrorKind>,
}

impl Ctx<'_> {
    fn src(&self) -> &FolderId {
        &self.entry.source.id
    }

    /// Notes that a write's outcome is unknown as of now.
    fn mark_uncertain(&self) {
        let mut g = self
            .uncertain_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *g = Some(Instant::now());
    }

    fn uncertain_since(&self) -> Option<Instant> {
        *self
            .uncertain_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a failed item. `held` counts failures that keep the folder's checkpoint
    /// where it is (every disposition but [`Disposition::Final`]).
    async fn fail(
        &self,
        stats: &mut Stats,
        held: &mut u64,
        id: MessageId,
        err: Error,
    ) -> Result<()> {
        let err = err.with_item(&self.entry.source.path, &id);
        tracing::warn!(message = %id, error = %err, "item failed");
        if stops_the_pass(err.kind()) {
            let _ = self.refused.set(err.kind());
        }
        stats.failed += 1;
        if err.disposition() != Disposition::Final {
            *held += 1;
        }
        let failure = ItemFailure::of(self.src().clone(), id.clone(), &err);
        self.engine.state.record_failure(self.job, &failure).await?;
        self.engine.events.emit(|| Event::ItemFailed {
            source: self.entry.source.path.clone(),
            id,
            kind: err.kind(),
            message: err.to_string(),
        });
        Ok(())
    }

    /// The metadata as the destination will store it: labels per policy, keywords only if
    /// the destination keeps them.
    fn prepare(&self, mut meta: MessageMeta) -> MessageMeta {
        let policy = self.engine.options.mapping.labels;
        if policy == LabelPolicy::Drop {
            meta.labels.clear();
        }
        if policy.as_keywords(&self.dcaps) {
            let labels = std::mem::take(&mut meta.labels);
            meta.flags
                .extend(labels.iter().map(|l| Flag::from_label(l)));
        }
        if !self.dcaps.append_with_keywords {
            meta.flags.retain(|f| !f.is_keyword());
        }
        meta
    }
}

pub(super) async fn sync_folder(
    engine: &Engine,
    entry: &PlanEntry,
    refused: &OnceLock<ErrorKind>,
) -> FolderReport {
    engine.events.emit(|| Event::FolderStarted {
        source: entry.source.path.clone(),
        target: entry.target.clone(),
    });
    let mut stats = Stats::default();
    let outcome = match known_failures(engine, entry).await {
        Ok(_) if refused.get().is_some() => Err(refused_error(refused)),
        Ok(failed_for_good) => {
            let ctx = Ctx {
                engine,
                entry,
                job: &engine.options.job,
                dcaps: engine.dest.capabilities(),
                failed_for_good,
                uncertain_since: Mutex::new(None),
                refused,
            };
            run(&ctx, &mut stats).await
        }
        Err(e) => Err(e),
    };
    // Refused items held the folder back even when no further work came to see the flag:
    // the report still says why, so the caller knows to park the mailbox.
    let outcome = match outcome {
        Ok(false) if refused.get().is_some() => Err(refused_error(refused)),
        other => other,
    };
    let (complete, error, error_kind) = match outcome {
        Ok(complete) => (complete, None, None),
        Err(e) => {
            tracing::error!(error = %e, "folder pass stopped");
            (false, Some(e.to_string()), Some(e.kind()))
        }
    };
    engine.events.emit(|| Event::FolderDone {
        source: entry.source.path.clone(),
        complete,
    });
    FolderReport {
        source: entry.source.path.clone(),
        target: entry.target.clone(),
        stats,
        complete,
        error,
        error_kind,
    }
}

/// Whether an item's error stops the whole pass: refused credentials, or a spent quota
/// (a full destination, a provider's daily limit, Gmail's `dailyLimitExceeded`). Every
/// further request would be refused the same way, one per message; the items not written
/// stay for the next pass, which a campaign runs once the quota is back.
pub(super) fn stops_the_pass(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Unauthenticated | ErrorKind::QuotaExceeded)
}

/// Why a folder pass stops once credentials were refused or a quota ran out.
fn refused_error(refused: &OnceLock<ErrorKind>) -> Error {
    match refused.get() {
        Some(ErrorKind::QuotaExceeded) => Error::new(
            ErrorKind::QuotaExceeded,
            "a quota is exhausted; the pass stops (run again once it is back)",
        ),
        _ => Error::new(
            ErrorKind::Unauthenticated,
            "credentials were refused; the pass stops (fix them and run again)",
        ),
    }
}

/// The items of the folder recorded as failed for good (unless the caller asked to retry).
async fn known_failures(engine: &Engine, entry: &PlanEntry) -> Result<HashSet<MessageId>> {
    if engine.options.retry_failed {
        return Ok(HashSet::new());
    }
    Ok(engine
        .state
        .failures(&engine.options.job)
        .await?
        .into_iter()
        .filter(|f| f.src_folder == entry.source.id && f.final_for_item)
        .map(|f| f.src_id)
        .collect())
}

async fn run(ctx: &Ctx<'_>, stats: &mut Stats) -> Result<bool> {
    let engine = ctx.engine;
    let dry_run = engine.options.dry_run;
    let dest = if dry_run {
        None
    } else {
        Some(
            engine
                .dest
                .ensure_folder(&ctx.entry.target, ctx.entry.role)
                .await?,
        )
    };
    let mut since = engine.state.checkpoint(ctx.job, ctx.src()).await?;
    if let Some(d) = &dest {
        refill_if_recreated(ctx, d, &mut since).await?;
    }
    // A folder that holds mail and has no history with us may already hold copies (an
    // earlier tool, a lost state file): look before writing.
    let dedupe = AtomicBool::new(
        since.is_none() && dest.as_ref().is_some_and(|d| !d.empty) && ctx.dcaps.find_existing,
    );
    if dest.is_some() {
        settle_pending(ctx, stats).await?;
    }
    // A second pass runs only when the final look-ups found writes that did not happen: it
    // lists again from the same checkpoint and copies exactly those.
    for pass in 0..2 {
        let (tx, rx) = mpsc::channel(2);
        let mut reader_stats = Stats::default();
        let mut held = 0;
        let (read, written) = tokio::join!(
            read(ctx, since.clone(), tx, &dedupe, &mut reader_stats),
            write(
                ctx,
                dest.as_ref().map(|d| &d.id),
                rx,
                &dedupe,
                stats,
                &mut held
            ),
        );
        // The second listing meets every message again: what the reader counts (listed,
        // unchanged, filtered) was counted by the first.
        if pass == 0 {
            *stats += reader_stats;
        }
        written?;
        let checkpoint = read?;
        if dry_run {
            return Ok(true);
        }
        let settled = settle_after_pass(ctx, stats).await?;
        if settled.rewrite > 0 && pass == 0 {
            dedupe.store(false, Ordering::SeqCst);
            continue;
        }
        stats.unsettled += settled.pending - settled.uncheckable;
        stats.uncheckable += settled.uncheckable;
        return match checkpoint {
            Some(cp) if held == 0 && settled.pending == 0 && settled.rewrite == 0 => {
                engine.state.set_checkpoint(ctx.job, ctx.src(), &cp).await?;
                Ok(true)
            }
            _ => Ok(false),
        };
    }
    Ok(false)
}

/// A destination folder that the destination had to create although the ledger knows
/// copies in it was deleted (or renamed) since the last pass: those copies are gone, so the
/// folder's history is forgotten and everything is copied again.
async fn refill_if_recreated(
    ctx: &Ctx<'_>,
    dest: &EnsuredFolder,
    since: &mut Option<Checkpoint>,
) -> Result<()> {
    if !dest.created {
        return Ok(());
    }
    let engine = ctx.engine;
    let known = engine.state.page(ctx.job, ctx.src(), None, 1).await?;
    if since.is_none() && known.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        target = %ctx.entry.target,
        "the destination folder was gone and has been created again; copying the folder again"
    );
    engine.events.emit(|| Event::DestinationFolderRecreated {
        source: ctx.entry.source.path.clone(),
        target: ctx.entry.target.clone(),
    });
    engine.state.reset_folder(ctx.job, ctx.src()).await?;
    *since = None;
    Ok(())
}

/// The key that finds a pending row's copy: the ledger's own when it recorded the size,
/// otherwise rebuilt from the source item (rows of older state files), otherwise the
/// ledger's without a size. `None` when the source could not be read for now.
async fn settle_key(ctx: &Ctx<'_>, row: &LedgerEntry) -> Option<DedupeKey> {
    if row.size.is_some() {
        return Some(row.dedupe_key());
    }
    let fetched = ctx
        .engine
        .source
        .fetch(ctx.src(), vec![row.src_id.clone()])
        .next()
        .await;
    match fetched {
        Some((_, Ok(mut raw))) => {
            raw.bytes = ctx.dcaps.stored_form(&raw.bytes);
            Some(DedupeKey::of(&raw))
        }
        // The item left the source: the ledger's key without a size still finds its copy.
        Some((_, Err(e))) if e.kind() == ErrorKind::NotFound => Some(row.dedupe_key()),
        _ => None,
    }
}

/// Looks a pending row's copy up. `Some(true)`: found and recorded done. `Some(false)`:
/// not found (the row stays pending). `None`: cannot tell now (the source could not be
/// read, or the destination cannot look copies up), so the row stays pending and holds the
/// folder's checkpoint: writing it again blindly could duplicate it.
async fn settle_one(ctx: &Ctx<'_>, row: &LedgerEntry) -> Result<Option<bool>> {
    let engine = ctx.engine;
    if !ctx.dcaps.find_existing {
        return Ok(None);
    }
    let Some(key) = settle_key(ctx, row).await else {
        return Ok(None);
    };
    match copy_of_row(ctx, row, &key).await? {
        Some(copy) => {
            // The copy of a byte-identical twin may have been the only one left unclaimed
            // with other flags: it becomes this row's copy, with this row's flags.
            if let Some(have) = &copy.flags {
                set_flags(ctx, &row.dest_folder, &copy.id, have, &row.flags).await?;
            }
            let mut done = row.clone();
            done.dest_id = Some(copy.id);
            done.state = LedgerState::Done;
            engine.state.record(ctx.job, &[done]).await?;
            Ok(Some(true))
        }
        None => Ok(Some(false)),
    }
}

/// Pending rows are writes whose outcome is unknown (the run died between intent and
/// confirmation). Each is looked up at the destination before anything is written again.
/// A row whose copy is not found stays pending: the server may still be committing the
/// old connection's upload, so [`settle_after_pass`] decides after the grace period.
async fn settle_pending(ctx: &Ctx<'_>, stats: &mut Stats) -> Result<()> {
    let engine = ctx.engine;
    let pending = engine.state.pending(ctx.job, ctx.src()).await?;
    if pending.is_empty() {
        return Ok(());
    }
    tracing::info!(
        count = pending.len(),
        "settling writes of an interrupted run"
    );
    let mut missing = 0;
    for row in pending {
        match settle_one(ctx, &row).await? {
            Some(true) => stats.deduplicated += 1,
            Some(false) | None => missing += 1,
        }
    }
    if missing > 0 {
        ctx.mark_uncertain();
    }
    Ok(())
}

/// What the look-ups after a pass left.
struct Settled {
    /// Rows whose copy is not at the destination after the grace period: forgotten, so the
    /// next listing copies them again.
    rewrite: u64,
    /// Rows still of unknown outcome (the destination or source could not be asked).
    pending: u64,
    /// Of those, rows the destination can never be asked about (no `find_existing`).
    uncheckable: u64,
}

/// The last word on writes of unknown outcome: after the grace period, each pending row is
/// looked up once more; found → done, absent → forgotten (and copied again by the caller's
/// second pass), undecidable → left pending, holding the checkpoint.
async fn settle_after_pass(ctx: &Ctx<'_>, stats: &mut Stats) -> Result<Settled> {
    let engine = ctx.engine;
    let mut out = Settled {
        rewrite: 0,
        pending: 0,
        uncheckable: 0,
    };
    // Rows stay pending only where an outcome became uncertain (a look-up at the start that
    // found nothing, a lost answer in this pass); an ordinary pass asks the ledger nothing.
    let Some(at) = ctx.uncertain_since() else {
        return Ok(out);
    };
    let pending = engine.state.pending(ctx.job, ctx.src()).await?;
    if pending.is_empty() {
        return Ok(out);
    }
    tokio::time::sleep_until(at + engine.options.settle_grace).await;
    let mut gone = Vec::new();
    for row in pending {
        match settle_one(ctx, &row).await? {
            Some(true) => stats.deduplicated += 1,
            Some(false) => gone.push(row.src_id),
            // Nothing will ever tell: the operator decides (`rewrite_uncheckable`).
            None if !ctx.dcaps.find_existing && engine.options.rewrite_uncheckable => {
                gone.push(row.src_id);
            }
            None if !ctx.dcaps.find_existing => {
                out.pending += 1;
                out.uncheckable += 1;
            }
            None => out.pending += 1,
        }
    }
    if !gone.is_empty() {
        tracing::info!(
            count = gone.len(),
            "writes of unknown outcome did not happen; copying them again"
        );
        engine.state.remove(ctx.job, ctx.src(), &gone).await?;
        out.rewrite = gone.len() as u64;
    }
    Ok(out)
}

/// The reader: lists changes, consults the ledger, fetches what must be written.
/// Returns the new checkpoint if the listing completed. Failures it meets go to the writer
/// as [`Work::Failed`], which records and counts them.
async fn read(
    ctx: &Ctx<'_>,
    since: Option<Checkpoint>,
    tx: mpsc::Sender<Work>,
    dedupe: &AtomicBool,
    stats: &mut Stats,
) -> Result<Option<Checkpoint>> {
    let engine = ctx.engine;
    let scaps = engine.source.capabilities();
    // Every source gets its checkpoint: one without incremental listing still lists
    // everything, but can tell from it that its ids were reset (IMAP UIDVALIDITY). The
    // ledger diff finds what changed.
    let full_listing = since.is_none() || !scaps.list_since;
    let propagate = engine.options.propagate_deletions;
    // What a full listing yielded, to find the ledger rows whose source item is gone.
    let mut seen: Option<IdHashes> = (propagate && full_listing).then(IdHashes::default);
    let mut listing = engine.source.list_changes(ctx.src(), since);
    let mut chunk = Vec::with_capacity(LIST_CHUNK);
    let mut removed = Vec::new();
    let mut checkpoint = None;
    while let Some(change) = listing.next().await {
        match change.map_err(|e| e.with_context("folder", &ctx.entry.source.path))? {
            Change::Upsert(meta) => {
                if let Some(seen) = &mut seen {
                    seen.insert(meta.id.as_str());
                }
                chunk.push(meta);
                if chunk.len() >= LIST_CHUNK {
                    read_chunk(ctx, std::mem::take(&mut chunk), &tx, stats).await?;
                }
            }
            Change::Removed(id) => removed.push(id),
            Change::Reset => {
                read_chunk(ctx, std::mem::take(&mut chunk), &tx, stats).await?;
                tracing::warn!("source ids were reset; looking up copies before writing");
                engine.state.reset_folder(ctx.job, ctx.src()).await?;
                dedupe.store(true, Ordering::SeqCst);
                seen = (propagate).then(IdHashes::default);
            }
            Change::Checkpoint(cp) => checkpoint = Some(cp),
        }
    }
    read_chunk(ctx, chunk, &tx, stats).await?;
    if propagate && checkpoint.is_some() {
        for ids in removed.chunks(LIST_CHUNK) {
            let rows: Vec<LedgerEntry> = engine
                .state
                .lookup(ctx.job, ctx.src(), ids)
                .await?
                .into_values()
                .collect();
            send(&tx, Work::Delete(rows)).await?;
        }
        if let Some(mut seen) = seen {
            seen.seal();
            let mut after: Option<MessageId> = None;
            loop {
                let page = engine
                    .state
                    .page(ctx.job, ctx.src(), after.as_ref(), LEDGER_PAGE)
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.src_id.clone());
                let gone: Vec<LedgerEntry> = page
                    .into_iter()
                    .filter(|e| !seen.contains(e.src_id.as_str()))
                    .collect();
                if !gone.is_empty() {
                    send(&tx, Work::Delete(gone)).await?;
                }
            }
        }
    }
    Ok(checkpoint)
}

async fn send(tx: &mpsc::Sender<Work>, work: Work) -> Result<()> {
    tx.send(work).await.map_err(|_| {
        Error::new(ErrorKind::Unexpected, "the writer stopped").with_operation(Operation::Append)
    })
}

async fn read_chunk(
    ctx: &Ctx<'_>,
    chunk: Vec<MessageMeta>,
    tx: &mpsc::Sender<Work>,
    stats: &mut Stats,
) -> Result<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    let engine = ctx.engine;
    let opts = &engine.options;
    stats.listed += chunk.len() as u64;
    engine.events.emit(|| Event::Listed {
        source: ctx.entry.source.path.clone(),
        messages: chunk.len() as u64,
    });
    let ids: Vec<MessageId> = chunk.iter().map(|m| m.id.clone()).collect();
    let known = engine.state.lookup(ctx.job, ctx.src(), &ids).await?;
    let mut to_fetch = Vec::new();
    let mut flag_updates = Vec::new();
    for meta in chunk {
        if !opts.filter.accepts(meta.internal_date, meta.size) {
            stats.filtered += 1;
            continue;
        }
        match known.get(&meta.id) {
            Some(row) if row.state == LedgerState::Done => {
                let want = ctx.prepare(meta).flags;
                let change = FlagChange::between(&row.flags, &want);
                if opts.sync_flags
                    && ctx.dcaps.update_flags
                    && row.dest_id.is_some()
                    && !change.is_empty()
                {
                    flag_updates.push((row.clone(), want, change));
                } else {
                    stats.unchanged += 1;
                }
            }
            // A write of unknown outcome: settled by look-ups, never written blindly.
            Some(_) => {}
            None if ctx.failed_for_good.contains(&meta.id) => stats.previously_failed += 1,
            _ => to_fetch.push(meta),
        }
    }
    if !flag_updates.is_empty() {
        send(tx, Work::Flags(flag_updates)).await?;
    }
    if opts.dry_run {
        let bytes = to_fetch.iter().filter_map(|m| m.size).sum();
        return send(
            tx,
            Work::WouldCopy {
                messages: to_fetch.len() as u64,
                bytes,
            },
        )
        .await;
    }
    let scaps = engine.source.capabilities();
    let fetch_batch = match scaps.fetch_batch_max {
        0 => opts.batch_size,
        n => n.min(opts.batch_size),
    };
    let append_batch = match ctx.dcaps.append_batch_max {
        0 => opts.batch_size,
        n => n.min(opts.batch_size),
    };
    let mut batch: Vec<RawMessage> = Vec::new();
    let mut batch_bytes = 0usize;
    for metas in to_fetch.chunks(fetch_batch) {
        let mut wanted: HashMap<MessageId, &MessageMeta> =
            metas.iter().map(|m| (m.id.clone(), m)).collect();
        let mut fetched = engine
            .source
            .fetch(ctx.src(), metas.iter().map(|m| m.id.clone()).collect());
        while let Some((id, result)) = fetched.next().await {
            let Some(meta) = wanted.remove(&id) else {
                continue; // an id we did not ask for: ignore it
            };
            match result {
                Ok(raw) => {
                    let msg = RawMessage::new(ctx.prepare(meta.clone()), raw.bytes);
                    if !opts.filter.accepts(None, msg.meta.size) {
                        stats.filtered += 1;
                        continue;
                    }
                    batch_bytes += msg.bytes.len();
                    batch.push(msg);
                    if batch.len() >= append_batch || batch_bytes >= opts.batch_bytes {
                        batch_bytes = 0;
                        send(tx, Work::Copy(std::mem::take(&mut batch))).await?;
                    }
                }
                Err(e) => {
                    send(tx, Work::Failed(id, e.with_operation(Operation::Fetch))).await?;
                }
            }
        }
        for (id, _) in wanted {
            let e = Error::new(
                ErrorKind::Unexpected,
                "the source returned nothing for this message",
            )
            .with_operation(Operation::Fetch);
            send(tx, Work::Failed(id, e)).await?;
        }
    }
    if !batch.is_empty() {
        send(tx, Work::Copy(batch)).await?;
    }
    Ok(())
}

/// The writer: appends, updates flags, deletes, and records every outcome.
async fn write(
    ctx: &Ctx<'_>,
    dest: Option<&FolderId>,
    mut rx: mpsc::Receiver<Work>,
    dedupe: &AtomicBool,
    stats: &mut Stats,
    held: &mut u64,
) -> Result<()> {
    while let Some(work) = rx.recv().await {
        if ctx.refused.get().is_some() {
            return Err(refused_error(ctx.refused));
        }
        match work {
            Work::WouldCopy { messages, bytes } => {
                stats.copied += messages;
                stats.bytes += bytes;
            }
            Work::Failed(id, e) => ctx.fail(stats, held, id, e).await?,
            Work::Copy(batch) => {
                let Some(dest) = dest else { continue };
                copy_batch(ctx, dest, batch, dedupe.load(Ordering::SeqCst), stats, held).await?;
            }
            Work::Flags(updates) => update_flags(ctx, updates, stats, held).await?,
            Work::Delete(rows) => delete_rows(ctx, rows, stats).await?,
        }
    }
    Ok(())
}

async fn copy_batch(
    ctx: &Ctx<'_>,
    dest: &FolderId,
    batch: Vec<RawMessage>,
    dedupe: bool,
    stats: &mut Stats,
    held: &mut u64,
) -> Result<()> {
    let engine = ctx.engine;
    let batch = not_yet_recorded(ctx, batch).await?;
    let mut ok = Vec::with_capacity(batch.len());
    // Messages whose header bytes the destination stores otherwise (rare: kept by id).
    let mut altered = HashSet::new();
    for mut msg in batch {
        if ctx.dcaps.replaces_8bit_header_bytes && !msg.bytes[..header_len(&msg.bytes)].is_ascii() {
            altered.insert(msg.meta.id.clone());
        }
        // What the destination will store, and so what the ledger records.
        msg.bytes = ctx.dcaps.stored_form(&msg.bytes);
        if let Some(max) = ctx
            .dcaps
            .append_max_size
            .filter(|&m| msg.bytes.len() as u64 > m)
        {
            let e = Error::new(
                ErrorKind::MessageTooLarge,
                format!(
                    "{} bytes is more than the destination accepts ({max})",
                    msg.bytes.len()
                ),
            )
            .with_operation(Operation::Append);
            ctx.fail(stats, held, msg.meta.id.clone(), e).await?;
            continue;
        }
        ok.push(msg);
    }
    if dedupe {
        ok = dedupe_batch(ctx, dest, ok, stats).await?;
    }
    if ok.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<LedgerEntry> = ok
        .iter()
        .map(|m| ledger_row(ctx, dest, m, None, LedgerState::Pending))
        .collect();
    engine.state.record(ctx.job, &rows).await?;
    // An outer error leaves the rows pending: the next run settles them.
    let results = engine.dest.append(dest, ok).await.inspect_err(|e| {
        if e.is_outcome_unknown() {
            ctx.mark_uncertain();
        }
    })?;
    if results.len() != rows.len() {
        return Err(Error::new(
            ErrorKind::Unexpected,
            format!(
                "the destination answered {} results for {} messages",
                results.len(),
                rows.len()
            ),
        )
        .with_operation(Operation::Append));
    }
    let mut not_written = Vec::new();
    let (mut copied, mut bytes, mut replaced) = (0, 0, 0);
    let mut done = Vec::with_capacity(rows.len());
    for (mut row, result) in rows.drain(..).zip(results) {
        match result {
            Ok(appended) => {
                let size = row.size.unwrap_or(0);
                replaced += u64::from(altered.contains(&row.src_id));
                row.dest_id = appended.id;
                if row.dest_id.is_none() && ctx.dcaps.find_existing {
                    // Recorded one at a time: the next twin's look-up must see this claim.
                    record_written_copy(ctx, row).await?;
                } else {
                    row.state = LedgerState::Done;
                    done.push(row);
                }
                copied += 1;
                bytes += size;
            }
            Err(e) if e.disposition() == Disposition::Settle => {
                // Maybe stored: the row stays pending and is looked up after the pass.
                tracing::info!(message = %row.src_id, error = %e, "write of unknown outcome");
                ctx.mark_uncertain();
            }
            Err(e) => {
                not_written.push(row.src_id.clone());
                ctx.fail(stats, held, row.src_id, e.with_operation(Operation::Append))
                    .await?;
            }
        }
    }
    engine.state.record(ctx.job, &done).await?;
    if !not_written.is_empty() {
        engine
            .state
            .remove(ctx.job, ctx.src(), &not_written)
            .await?;
    }
    stats.copied += copied;
    stats.bytes += bytes;
    stats.header_bytes_replaced += replaced;
    engine.events.emit(|| Event::Copied {
        source: ctx.entry.source.path.clone(),
        messages: copied,
        bytes,
    });
    Ok(())
}

/// Records done a copy that a destination reporting no ids (IMAP without UIDPLUS) just
/// acknowledged, with the id a look-up finds for it: a row done without an id claims no
/// copy, and a byte-identical twin's look-up could later take this one's. When the look-up
/// cannot match it (a server that rewrote the bytes), the row is still done, without an
/// id: the destination said it stored the message, and writing it again would duplicate it.
async fn record_written_copy(ctx: &Ctx<'_>, mut row: LedgerEntry) -> Result<()> {
    row.dest_id = copy_of_row(ctx, &row, &row.dedupe_key())
        .await?
        .map(|copy| copy.id);
    row.state = LedgerState::Done;
    ctx.engine.state.record(ctx.job, &[row]).await
}

/// Drops messages the ledger already has a row for, and repeats of an id within the batch:
/// a source may list one message twice in a pass (a Maildir file moved from `new/` to
/// `cur/` while the folder was read), and it must be written once.
async fn not_yet_recorded(ctx: &Ctx<'_>, batch: Vec<RawMessage>) -> Result<Vec<RawMessage>> {
    let ids: Vec<MessageId> = batch.iter().map(|m| m.meta.id.clone()).collect();
    let known = ctx.engine.state.lookup(ctx.job, ctx.src(), &ids).await?;
    let mut seen = HashSet::with_capacity(batch.len());
    Ok(batch
        .into_iter()
        .filter(|m| !known.contains_key(&m.meta.id) && seen.insert(m.meta.id.clone()))
        .collect())
}

/// The internal date a copy of `msg` carries: the source's, where the destination keeps
/// dates.
fn written_date(ctx: &Ctx<'_>, msg: &RawMessage) -> Option<time::OffsetDateTime> {
    msg.meta
        .internal_date
        .filter(|_| ctx.dcaps.append_with_internal_date)
}

fn ledger_row(
    ctx: &Ctx<'_>,
    dest: &FolderId,
    msg: &RawMessage,
    dest_id: Option<MessageId>,
    state: LedgerState,
) -> LedgerEntry {
    let message_id = msg
        .meta
        .message_id
        .clone()
        .or_else(|| crate::headers::message_id(&msg.bytes));
    LedgerEntry::new(
        ctx.src().clone(),
        msg.meta.id.clone(),
        dest.clone(),
        dest_id,
        msg.content_hash(),
        message_id,
        msg.meta.flags.clone(),
        state,
    )
    .with_size(Some(msg.bytes.len() as u64))
    .with_internal_date(written_date(ctx, msg))
}

async fn update_flags(
    ctx: &Ctx<'_>,
    updates: Vec<(LedgerEntry, crate::Flags, FlagChange)>,
    stats: &mut Stats,
    held: &mut u64,
) -> Result<()> {
    let engine = ctx.engine;
    let mut done = Vec::with_capacity(updates.len());
    let mut updated = 0;
    for (mut row, flags, change) in updates {
        let Some(dest_id) = &row.dest_id else {
            continue;
        };
        match engine
            .dest
            .update_flags(&row.dest_folder, dest_id, &change)
            .await
        {
            Ok(()) => updated += 1,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Someone moved or deleted the copy in the new system: their decision
                // stands, and the message is not copied again.
                tracing::info!(message = %row.src_id, "the copy is gone at the destination; flags not carried");
                stats.gone_at_destination += 1;
            }
            Err(e) => {
                ctx.fail(stats, held, row.src_id.clone(), e).await?;
                continue;
            }
        }
        row.flags = flags;
        done.push(row);
    }
    engine.state.record(ctx.job, &done).await?;
    stats.flags_updated += updated;
    engine.events.emit(|| Event::FlagsUpdated {
        source: ctx.entry.source.path.clone(),
        messages: updated,
    });
    Ok(())
}

async fn delete_rows(ctx: &Ctx<'_>, rows: Vec<LedgerEntry>, stats: &mut Stats) -> Result<()> {
    let engine = ctx.engine;
    let mut by_folder: HashMap<FolderId, Vec<MessageId>> = HashMap::new();
    for r in &rows {
        if let Some(d) = &r.dest_id {
            by_folder
                .entry(r.dest_folder.clone())
                .or_default()
                .push(d.clone());
        }
    }
    for (folder, ids) in by_folder {
        engine.dest.delete(&folder, &ids).await?;
    }
    let src_ids: Vec<MessageId> = rows.iter().map(|r| r.src_id.clone()).collect();
    engine.state.remove(ctx.job, ctx.src(), &src_ids).await?;
    stats.deleted += rows.len() as u64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_valid_flags() {
        assert_eq!(Flag::from_label("\\Starred"), Flag::Flagged);
        assert_eq!(
            Flag::from_label("\\Important"),
            Flag::Keyword("$Important".into())
        );
        assert_eq!(Flag::from_label("\\Inbox"), Flag::Keyword("$Inbox".into()));
        assert_eq!(
            Flag::from_label("Projects/Alpha (old)"),
            Flag::Keyword("Projects/Alpha__old_".into())
        );
        // A keyword is ASCII: the label travels in modified UTF-7 and decodes back.
        let Flag::Keyword(k) = Flag::from_label("Ünïcode") else {
            panic!("a user label is a keyword")
        };
        assert!(k.is_ascii(), "{k}");
        assert_eq!(crate::utf7::decode(&k).as_deref(), Some("Ünïcode"));
    }
}

//! One folder's pass: settle unknown writes, list changes, fetch, write, record.
//!
//! A reader (listing, ledger lookups, fetching) and a writer (append, flag updates,
//! deletions, ledger rows) run concurrently, joined by a channel of two batches: memory is
//! bounded by the batch size and the largest message, never by the folder's size.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use tokio::sync::mpsc;

use super::plan::LabelPolicy;
use super::{is_final_for_item, Engine, Event, FolderReport, PlanEntry, Stats};
use crate::headers::{canonical_crlf, check_message, Headers};
use crate::state::{ItemFailure, LedgerEntry, LedgerState};
use crate::{
    Capabilities, Change, Checkpoint, DedupeKey, Error, ErrorKind, Flag, FolderId, MessageId,
    MessageMeta, Operation, RawMessage, Result,
};

/// Metadata entries read from a listing before the ledger is consulted for them.
const LIST_CHUNK: usize = 1024;
/// Ledger rows read per page when looking for deletions.
const LEDGER_PAGE: usize = 4096;

enum Work {
    Copy(Vec<RawMessage>),
    WouldCopy { messages: u64, bytes: u64 },
    Flags(Vec<(LedgerEntry, crate::Flags)>),
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
}

impl Ctx<'_> {
    fn src(&self) -> &FolderId {
        &self.entry.source.id
    }

    async fn fail(
        &self,
        stats: &mut Stats,
        retryable: &mut u64,
        id: MessageId,
        err: Error,
    ) -> Result<()> {
        let err = err.with_item(&self.entry.source.path, &id);
        tracing::warn!(message = %id, error = %err, "item failed");
        stats.failed += 1;
        if !is_final_for_item(err.kind()) {
            *retryable += 1;
        }
        let failure = ItemFailure::new(self.src().clone(), id.clone(), err.kind(), err.to_string());
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
        let to_keywords = match self.engine.options.mapping.labels {
            LabelPolicy::Drop => {
                meta.labels.clear();
                false
            }
            LabelPolicy::Keywords => true,
            LabelPolicy::LabelsOrKeywords => !self.dcaps.append_with_labels,
        };
        if to_keywords {
            let labels = std::mem::take(&mut meta.labels);
            meta.flags.extend(labels.iter().map(|l| label_as_flag(l)));
        }
        if !self.dcaps.append_with_keywords {
            meta.flags.retain(|f| !f.is_keyword());
        }
        meta
    }
}

/// A label as a flag: Gmail's system labels map to their IMAP meaning (`\\Starred` is
/// `\\Flagged`, `\\Important` is `$Important`), other labels become keywords with the
/// characters IMAP forbids in an atom replaced by `_`.
fn label_as_flag(label: &str) -> Flag {
    match label {
        "\\Starred" => return Flag::Flagged,
        "\\Draft" => return Flag::Draft,
        _ => {}
    }
    let name = label
        .strip_prefix('\\')
        .map_or_else(|| label.to_owned(), |l| format!("${l}"));
    let keyword: String = name
        .chars()
        .map(|c| {
            if c.is_control() || c.is_whitespace() || "(){%*\"\\]".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    Flag::Keyword(keyword)
}

pub(super) async fn sync_folder(engine: &Engine, entry: &PlanEntry) -> FolderReport {
    engine.events.emit(|| Event::FolderStarted {
        source: entry.source.path.clone(),
        target: entry.target.clone(),
    });
    let mut stats = Stats::default();
    let outcome = match known_failures(engine, entry).await {
        Ok(failed_for_good) => {
            let ctx = Ctx {
                engine,
                entry,
                job: &engine.options.job,
                dcaps: engine.dest.info().capabilities,
                failed_for_good,
            };
            run(&ctx, &mut stats).await
        }
        Err(e) => Err(e),
    };
    let (complete, error) = match outcome {
        Ok(complete) => (complete, None),
        Err(e) => {
            tracing::error!(error = %e, "folder pass stopped");
            (false, Some(e.to_string()))
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
        .filter(|f| f.src_folder == entry.source.id && is_final_for_item(f.kind))
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
    let since = engine.state.checkpoint(ctx.job, ctx.src()).await?;
    // A folder that holds mail and has no history with us may already hold copies (an
    // earlier tool, a lost state file): look before writing.
    let dedupe = AtomicBool::new(
        since.is_none() && dest.as_ref().is_some_and(|d| !d.empty) && ctx.dcaps.find_existing,
    );
    if dest.is_some() {
        settle_pending(ctx, stats).await?;
    }
    let (tx, rx) = mpsc::channel(2);
    let mut reader_stats = Stats::default();
    let mut writer_retryable = 0;
    let (read, written) = tokio::join!(
        read(ctx, since, tx, &dedupe, &mut reader_stats),
        write(
            ctx,
            dest.as_ref().map(|d| &d.id),
            rx,
            &dedupe,
            stats,
            &mut writer_retryable
        ),
    );
    *stats += reader_stats;
    written?;
    let checkpoint = read?;
    if dry_run {
        return Ok(true);
    }
    match checkpoint {
        Some(cp) if writer_retryable == 0 => {
            engine.state.set_checkpoint(ctx.job, ctx.src(), &cp).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Pending rows are writes whose outcome is unknown (the run died between intent and
/// confirmation). Each is looked up at the destination before anything is written again.
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
    for p in pending {
        let found = if ctx.dcaps.find_existing {
            // Re-read the source item for a full key (size, Message-ID); fall back to the
            // ledger's key if it is gone.
            let key = match engine
                .source
                .fetch(ctx.src(), vec![p.src_id.clone()])
                .next()
                .await
            {
                Some((_, Ok(mut raw))) => {
                    if ctx.dcaps.requires_crlf {
                        raw.bytes = canonical_crlf(&raw.bytes);
                    }
                    DedupeKey::of(&raw)
                }
                _ => DedupeKey::new(p.message_id.clone(), p.hash, 0),
            };
            let candidates = engine.dest.find_existing(&p.dest_folder, &key).await?;
            first_unclaimed(ctx, &p.dest_folder, candidates).await?
        } else {
            tracing::warn!(message = %p.src_id, "destination cannot look up copies; rewriting");
            None
        };
        match found {
            Some(id) => {
                let mut done = p;
                done.dest_id = Some(id);
                done.state = LedgerState::Done;
                engine.state.record(ctx.job, &[done]).await?;
                stats.deduplicated += 1;
            }
            None => {
                engine
                    .state
                    .remove(ctx.job, ctx.src(), std::slice::from_ref(&p.src_id))
                    .await?;
            }
        }
    }
    Ok(())
}

async fn first_unclaimed(
    ctx: &Ctx<'_>,
    folder: &FolderId,
    candidates: Vec<MessageId>,
) -> Result<Option<MessageId>> {
    for c in candidates {
        if !ctx.engine.state.is_claimed(ctx.job, folder, &c).await? {
            return Ok(Some(c));
        }
    }
    Ok(None)
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
    let scaps = engine.source.info().capabilities;
    // A source without incremental listing lists everything every time; the ledger diff
    // finds what changed.
    let since = since.filter(|_| scaps.list_since);
    let full_listing = since.is_none();
    let propagate = engine.options.propagate_deletions;
    let mut seen: Option<HashSet<MessageId>> = (propagate && full_listing).then(HashSet::new);
    let mut listing = engine.source.list_changes(ctx.src(), since);
    let mut chunk = Vec::with_capacity(LIST_CHUNK);
    let mut removed = Vec::new();
    let mut checkpoint = None;
    while let Some(change) = listing.next().await {
        match change.map_err(|e| e.with_context("folder", &ctx.entry.source.path))? {
            Change::Upsert(meta) => {
                if let Some(seen) = &mut seen {
                    seen.insert(meta.id.clone());
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
                seen = (propagate).then(HashSet::new);
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
        if let Some(seen) = seen {
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
                    .filter(|e| !seen.contains(&e.src_id))
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
                if opts.sync_flags
                    && ctx.dcaps.update_flags
                    && row.dest_id.is_some()
                    && row.flags != want
                {
                    flag_updates.push((row.clone(), want));
                } else {
                    stats.unchanged += 1;
                }
            }
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
    let scaps = engine.source.info().capabilities;
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
    retryable: &mut u64,
) -> Result<()> {
    while let Some(work) = rx.recv().await {
        match work {
            Work::WouldCopy { messages, bytes } => {
                stats.copied += messages;
                stats.bytes += bytes;
            }
            Work::Failed(id, e) => ctx.fail(stats, retryable, id, e).await?,
            Work::Copy(batch) => {
                let Some(dest) = dest else { continue };
                copy_batch(
                    ctx,
                    dest,
                    batch,
                    dedupe.load(Ordering::SeqCst),
                    stats,
                    retryable,
                )
                .await?;
            }
            Work::Flags(updates) => update_flags(ctx, updates, stats, retryable).await?,
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
    retryable: &mut u64,
) -> Result<()> {
    let engine = ctx.engine;
    let mut ok = Vec::with_capacity(batch.len());
    for mut msg in batch {
        if ctx.dcaps.requires_crlf {
            // What the destination will store, and so what the ledger records.
            msg.bytes = canonical_crlf(&msg.bytes);
        }
        if let Err(e) = check_message(&msg.bytes) {
            ctx.fail(
                stats,
                retryable,
                msg.meta.id.clone(),
                e.with_operation(Operation::Append),
            )
            .await?;
            continue;
        }
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
            ctx.fail(stats, retryable, msg.meta.id.clone(), e).await?;
            continue;
        }
        ok.push(msg);
    }
    if dedupe {
        let mut found = 0;
        let mut rest = Vec::with_capacity(ok.len());
        for msg in ok {
            let key = DedupeKey::of(&msg);
            let candidates = engine.dest.find_existing(dest, &key).await?;
            match first_unclaimed(ctx, dest, candidates).await? {
                Some(id) => {
                    if ctx.dcaps.update_flags && !msg.meta.flags.is_empty() {
                        engine.dest.update_flags(dest, &id, &msg.meta.flags).await?;
                    }
                    let row = ledger_row(ctx, dest, &msg, Some(id), LedgerState::Done);
                    engine.state.record(ctx.job, &[row]).await?;
                    found += 1;
                }
                None => rest.push(msg),
            }
        }
        ok = rest;
        stats.deduplicated += found;
        if found > 0 {
            engine.events.emit(|| Event::Deduplicated {
                source: ctx.entry.source.path.clone(),
                messages: found,
            });
        }
    }
    if ok.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<LedgerEntry> = ok
        .iter()
        .map(|m| ledger_row(ctx, dest, m, None, LedgerState::Pending))
        .collect();
    engine.state.record(ctx.job, &rows).await?;
    let sizes: Vec<u64> = ok.iter().map(|m| m.bytes.len() as u64).collect();
    // An outer error leaves the rows pending: the next run settles them.
    let results = engine.dest.append(dest, ok).await?;
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
    let mut failed_ids = Vec::new();
    let mut copied = 0;
    let mut bytes = 0;
    let mut done = Vec::with_capacity(rows.len());
    for ((mut row, result), size) in rows.drain(..).zip(results).zip(sizes) {
        match result {
            Ok(appended) => {
                row.dest_id = appended.id;
                row.state = LedgerState::Done;
                copied += 1;
                bytes += size;
                done.push(row);
            }
            Err(e) => {
                failed_ids.push(row.src_id.clone());
                ctx.fail(
                    stats,
                    retryable,
                    row.src_id,
                    e.with_operation(Operation::Append),
                )
                .await?;
            }
        }
    }
    engine.state.record(ctx.job, &done).await?;
    if !failed_ids.is_empty() {
        engine.state.remove(ctx.job, ctx.src(), &failed_ids).await?;
    }
    stats.copied += copied;
    stats.bytes += bytes;
    engine.events.emit(|| Event::Copied {
        source: ctx.entry.source.path.clone(),
        messages: copied,
        bytes,
    });
    Ok(())
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
        .or_else(|| Headers::parse(&msg.bytes).message_id);
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
}

async fn update_flags(
    ctx: &Ctx<'_>,
    updates: Vec<(LedgerEntry, crate::Flags)>,
    stats: &mut Stats,
    retryable: &mut u64,
) -> Result<()> {
    let engine = ctx.engine;
    let mut done = Vec::with_capacity(updates.len());
    for (mut row, flags) in updates {
        let Some(dest_id) = &row.dest_id else {
            continue;
        };
        match engine
            .dest
            .update_flags(&row.dest_folder, dest_id, &flags)
            .await
        {
            Ok(()) => {
                row.flags = flags;
                done.push(row);
            }
            Err(e) => ctx.fail(stats, retryable, row.src_id.clone(), e).await?,
        }
    }
    engine.state.record(ctx.job, &done).await?;
    stats.flags_updated += done.len() as u64;
    let n = done.len() as u64;
    engine.events.emit(|| Event::FlagsUpdated {
        source: ctx.entry.source.path.clone(),
        messages: n,
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
        assert_eq!(label_as_flag("\\Starred"), Flag::Flagged);
        assert_eq!(
            label_as_flag("\\Important"),
            Flag::Keyword("$Important".into())
        );
        assert_eq!(label_as_flag("\\Inbox"), Flag::Keyword("$Inbox".into()));
        assert_eq!(
            label_as_flag("Projects/Alpha (old)"),
            Flag::Keyword("Projects/Alpha__old_".into())
        );
        assert_eq!(label_as_flag("Ünïcode"), Flag::Keyword("Ünïcode".into()));
    }
}

//! One pass over one collection.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;

use super::{adapt, CollectionReport, PimCounts, PimSync, Transformation};
use crate::pim::{
    Collection, FoundItem, ItemChange, ItemId, ItemMeta, ItemWrite, Payload, PimCapabilities,
    PimItem, WriteOptions, WriteTarget,
};
use crate::state::{ItemFailure, LedgerEntry, LedgerState};
use crate::{ContentHash, Disposition, Error, ErrorKind, Flags, FolderId, MessageId, Result};

/// One prepared write.
struct Prepared {
    src_id: MessageId,
    item: PimItem,
    hash: ContentHash,
    uid: String,
    previous: Option<LedgerEntry>,
    transformations: Vec<Transformation>,
}

struct Pass<'s, 'a> {
    sync: &'s PimSync<'a>,
    caps: &'s PimCapabilities,
    folder: FolderId,
    dest_folder: FolderId,
    dest: Collection,
    counts: PimCounts,
    transformations: Vec<Transformation>,
    failures: Vec<ItemFailure>,
    complete: bool,
    /// Targets decided while settling, for items written again.
    targets: HashMap<MessageId, WriteTarget>,
    /// Pending items settled as absent that this pass has not written yet: the listing
    /// writes those it lists, the rest are written after it (never both: on a
    /// destination without conditional creates a second create is a second copy).
    unwritten: HashSet<MessageId>,
    /// A side refused the credentials: nothing more is asked this pass (every item would
    /// be refused the same way, each at the cost of a request).
    refused: bool,
}

pub(super) async fn run(
    sync: &PimSync<'_>,
    caps: &PimCapabilities,
    src: &Collection,
) -> Result<CollectionReport> {
    let dest = sync.dest.ensure_collection(src).await?;
    let mut pass = Pass {
        sync,
        caps,
        folder: ledger_folder(src),
        dest_folder: FolderId::new(format!("{}:{}", src.kind, dest.id)),
        dest,
        counts: PimCounts::default(),
        transformations: Vec::new(),
        failures: Vec::new(),
        complete: true,
        targets: HashMap::new(),
        unwritten: HashSet::new(),
        refused: false,
    };
    let state = sync.state;
    let job = &sync.job;
    pass.unwritten = pass.settle_pending().await?.into_iter().collect();

    let since = state.checkpoint(job, &pass.folder).await?;
    let src_caps = sync.source.pim_capabilities();
    let mut full = since.is_none() || !src_caps.list_since;
    let mut listing = sync.source.list_items(&src.id, since);
    let mut batch: Vec<ItemMeta> = Vec::new();
    let mut removed: Vec<MessageId> = Vec::new();
    let mut listed: HashSet<MessageId> = HashSet::new();
    let mut next = None;
    let diff = sync.options.propagate_deletions;
    while let Some(change) = listing.next().await {
        match change? {
            ItemChange::Upsert(meta) => {
                if diff {
                    listed.insert(MessageId::new(meta.id.as_str()));
                }
                batch.push(meta);
                if batch.len() >= sync.options.batch_size {
                    pass.upserts(std::mem::take(&mut batch), false).await?;
                    if pass.refused {
                        break;
                    }
                }
            }
            ItemChange::Removed(id) => removed.push(MessageId::new(id.as_str())),
            ItemChange::Reset => full = true,
            ItemChange::Checkpoint(cp) => next = Some(cp),
        }
    }
    if !pass.refused {
        pass.upserts(batch, false).await?;
    }
    // Pending writes that did not arrive and were not listed, written again.
    let mut rewrite: Vec<MessageId> = pass.unwritten.drain().collect();
    rewrite.sort();
    for chunk in rewrite.chunks(sync.options.batch_size) {
        if pass.refused {
            break;
        }
        let metas = chunk
            .iter()
            .map(|id| ItemMeta::new(ItemId::new(id.as_str())))
            .collect();
        pass.upserts(metas, true).await?;
    }
    if pass.refused {
        pass.complete = false;
    } else {
        if full && diff {
            removed.extend(pass.unlisted(&listed).await?);
        }
        pass.removals(removed).await?;
    }
    if pass.complete {
        if let Some(cp) = next {
            state.set_checkpoint(job, &pass.folder, &cp).await?;
        }
    }
    Ok(CollectionReport {
        kind: src.kind,
        name: src.name.clone(),
        source_id: src.id.to_string(),
        dest_id: pass.dest.id.to_string(),
        counts: pass.counts,
        transformations: pass.transformations,
        failures: pass.failures,
        complete: pass.complete,
    })
}

/// The ledger's folder id of a source collection.
pub(crate) fn ledger_folder(c: &Collection) -> FolderId {
    FolderId::new(format!("{}:{}", c.kind, c.id))
}

/// The `UID` the engine gives an item that has none: stable across runs, so a rerun finds
/// the copy it wrote.
pub(crate) fn assigned_uid(folder: &FolderId, id: &MessageId) -> String {
    let h = ContentHash::of(format!("{folder}\u{0}{id}").as_bytes()).to_hex();
    format!("mailmigrate-{}", &h[..32])
}

fn has_attendees(item: &PimItem) -> bool {
    matches!(&item.payload, Payload::Event(o) if o.events().iter().any(|e| !e.attendees.is_empty()))
}

impl Pass<'_, '_> {
    fn fail(&mut self, src_id: &MessageId, err: &Error) {
        if err.kind() == ErrorKind::Unauthenticated {
            self.refused = true;
        }
        let failure = ItemFailure::of(self.folder.clone(), src_id.clone(), err);
        if !failure.final_for_item {
            self.complete = false;
        }
        self.counts.failed += 1;
        self.failures.push(failure);
    }

    async fn record_failures(&self, from: usize) -> Result<()> {
        for f in &self.failures[from..] {
            self.sync.state.record_failure(&self.sync.job, f).await?;
        }
        Ok(())
    }

    /// Whether `id` at the destination belongs to a ledger row other than `own`.
    async fn claimed_by_other(&self, id: &ItemId, own: Option<&LedgerEntry>) -> Result<bool> {
        let dest_id = MessageId::new(id.as_str());
        if own.and_then(|r| r.dest_id.as_ref()) == Some(&dest_id) {
            return Ok(false);
        }
        self.sync
            .state
            .is_claimed(&self.sync.job, &self.dest_folder, &dest_id)
            .await
    }

    /// Picks, among the copies holding a `UID`, the one that is this item's: the copy with
    /// its content if any, else (unless `exact`) another copy nobody else claims. Copies in
    /// `taken` are claimed by decisions of this pass not recorded yet, and count as
    /// another item's. `Err` when every copy is another item's (two source items share the
    /// `UID`).
    async fn pick(
        &self,
        found: &[FoundItem],
        hash: ContentHash,
        own: Option<&LedgerEntry>,
        taken: &HashSet<ItemId>,
        exact: bool,
    ) -> Result<std::result::Result<Option<(FoundItem, bool)>, ItemId>> {
        let mut other = None;
        let mut claimed = None;
        for f in found {
            if taken.contains(&f.id) || self.claimed_by_other(&f.id, own).await? {
                claimed = Some(f.id.clone());
                continue;
            }
            if f.hash == Some(hash) {
                return Ok(Ok(Some((f.clone(), true))));
            }
            other.get_or_insert(f);
        }
        if exact {
            return Ok(Ok(None));
        }
        match (other, claimed) {
            (Some(f), _) => Ok(Ok(Some((f.clone(), false)))),
            (None, Some(id)) => Ok(Err(id)),
            (None, None) => Ok(Ok(None)),
        }
    }

    /// [`pick`](Self::pick) for several items at once, each copy given to one item: first
    /// to the items whose content it holds, then the rest in order. Without this, of two
    /// items sharing a `UID` the second could take the first's copy, unrecorded yet, as
    /// its own and replace it.
    async fn pick_all(
        &self,
        wanted: &[(ContentHash, Option<&LedgerEntry>)],
        found: &[Vec<FoundItem>],
    ) -> Result<Vec<std::result::Result<Option<(FoundItem, bool)>, ItemId>>> {
        let mut taken = HashSet::new();
        let mut out: Vec<Option<_>> = vec![None; wanted.len()];
        for exact in [true, false] {
            for (i, ((hash, own), copies)) in wanted.iter().zip(found).enumerate() {
                if out[i].is_some() {
                    continue;
                }
                let picked = self.pick(copies, *hash, *own, &taken, exact).await?;
                match &picked {
                    Ok(Some((f, _))) => {
                        taken.insert(f.id.clone());
                    }
                    Ok(None) if exact => continue,
                    _ => {}
                }
                out[i] = Some(picked);
            }
        }
        Ok(out.into_iter().map(|p| p.unwrap_or(Ok(None))).collect())
    }

    fn done_row(&self, p: &Prepared, id: &ItemId, version: Option<String>) -> LedgerEntry {
        LedgerEntry::new(
            self.folder.clone(),
            p.src_id.clone(),
            self.dest_folder.clone(),
            Some(MessageId::new(id.as_str())),
            p.hash,
            Some(p.uid.clone()),
            Flags::new(),
            LedgerState::Done,
        )
        .with_versions(p.item.meta.version.clone(), version)
    }

    /// Settles the rows an earlier run left pending; returns the items to write again.
    async fn settle_pending(&mut self) -> Result<Vec<MessageId>> {
        let pending = self
            .sync
            .state
            .pending(&self.sync.job, &self.folder)
            .await?;
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        if !self.caps.find_by_uid {
            // Nothing can tell whether these arrived: they wait for the operator.
            self.counts.pending += pending.len() as u64;
            self.complete = false;
            return Ok(Vec::new());
        }
        let uids: Vec<String> = pending
            .iter()
            .map(|r| r.message_id.clone().unwrap_or_default())
            .collect();
        let mut found = self.sync.dest.find_by_uid(&self.dest.id, &uids).await?;
        // A destination answering fewer lists than asked: the rows without one stay
        // pending, undecided (never written again blindly).
        found.truncate(pending.len());
        let unanswered = pending.len() - found.len();
        if unanswered > 0 {
            self.counts.pending += unanswered as u64;
            self.complete = false;
        }
        let pending: Vec<LedgerEntry> = pending.into_iter().take(found.len()).collect();
        let wanted: Vec<_> = pending.iter().map(|r| (r.hash, Some(r))).collect();
        let picked = self.pick_all(&wanted, &found).await?;
        let mut done = Vec::new();
        let mut rewrite = Vec::new();
        for (row, picked) in pending.iter().cloned().zip(picked) {
            match picked {
                Ok(Some((f, true))) => {
                    let mut r = row;
                    r.dest_id = Some(MessageId::new(f.id.as_str()));
                    r.dest_version = f.version;
                    r.state = LedgerState::Done;
                    self.counts.adopted += 1;
                    done.push(r);
                }
                Ok(Some((f, false))) => {
                    self.targets.insert(
                        row.src_id.clone(),
                        WriteTarget::Replace {
                            id: f.id,
                            version: f.version,
                        },
                    );
                    rewrite.push(row.src_id);
                }
                Ok(None) | Err(_) => {
                    self.targets.insert(row.src_id.clone(), WriteTarget::Create);
                    rewrite.push(row.src_id);
                }
            }
        }
        self.sync.state.record(&self.sync.job, &done).await?;
        Ok(rewrite)
    }

    /// Fetches and writes the listed items that the ledger does not hold as they are.
    async fn upserts(&mut self, metas: Vec<ItemMeta>, forced: bool) -> Result<()> {
        if metas.is_empty() {
            return Ok(());
        }
        let ids: Vec<MessageId> = metas
            .iter()
            .map(|m| MessageId::new(m.id.as_str()))
            .collect();
        let rows = self
            .sync
            .state
            .lookup(&self.sync.job, &self.folder, &ids)
            .await?;
        let mut need = Vec::new();
        for m in metas {
            if !forced {
                self.counts.listed += 1;
            }
            let row = rows.get(&MessageId::new(m.id.as_str()));
            // A write of unknown outcome that settling did not decide (the destination
            // cannot look it up) waits for the operator: written again, it may be a
            // second copy.
            let undecided = row.is_some_and(|r| {
                r.state == LedgerState::Pending && !self.targets.contains_key(&r.src_id)
            });
            if undecided && !forced {
                continue;
            }
            let same = row.is_some_and(|r| {
                r.state == LedgerState::Done && m.version.is_some() && r.src_version == m.version
            });
            if forced || !same {
                self.unwritten.remove(&MessageId::new(m.id.as_str()));
                need.push(m.id);
            }
        }
        if need.is_empty() {
            return Ok(());
        }
        let failures_before = self.failures.len();
        let mut fetched = self
            .sync
            .source
            .fetch_items(&self.sync_source_collection(), need);
        let mut prepared = Vec::new();
        let mut touched = Vec::new();
        while let Some((id, res)) = fetched.next().await {
            let src_id = MessageId::new(id.as_str());
            let item = match res {
                Ok(item) => item,
                Err(e) => {
                    self.fail(&src_id, &e.with_context("item", id.as_str()));
                    continue;
                }
            };
            let previous = rows.get(&src_id).cloned();
            match self.prepare(src_id, item, previous) {
                Ok(Some(p)) => prepared.push(p),
                Ok(None) => {}
                Err((src_id, e)) => self.fail(&src_id, &e),
            }
        }
        drop(fetched);
        // Unchanged content under a new version: only the version moves.
        prepared.retain(|p| {
            let same = p.previous.as_ref().is_some_and(|r| {
                r.state == LedgerState::Done
                    && r.hash == p.hash
                    && !self.targets.contains_key(&p.src_id)
            });
            if same {
                let mut r = p.previous.clone().unwrap_or_else(|| unreachable!());
                r.src_version.clone_from(&p.item.meta.version);
                touched.push(r);
            }
            !same
        });
        self.counts.unchanged += touched.len() as u64;
        self.sync.state.record(&self.sync.job, &touched).await?;
        self.write(prepared, true).await?;
        self.record_failures(failures_before).await
    }

    fn sync_source_collection(&self) -> crate::pim::CollectionId {
        let s = self.folder.as_str();
        crate::pim::CollectionId::new(s.split_once(':').map_or(s, |(_, id)| id))
    }

    /// Gives the item a `UID`, fits it to the destination and checks what would refuse it.
    #[allow(
        clippy::result_large_err,
        reason = "the error names the item; it is rare"
    )]
    fn prepare(
        &mut self,
        src_id: MessageId,
        mut item: PimItem,
        previous: Option<LedgerEntry>,
    ) -> std::result::Result<Option<Prepared>, (MessageId, Error)> {
        let named = |e: Error, uid: &str| {
            e.with_context("item", src_id.as_str())
                .with_context("uid", uid)
        };
        if item.uid().is_none() {
            let uid = assigned_uid(&self.folder, &src_id);
            item.edit(|p| {
                if let Payload::Contact(c) = p {
                    c.uid = Some(uid);
                }
            });
        }
        let uid = item.uid().unwrap_or_default().to_owned();
        if has_attendees(&item) && self.sync.blocks_invitations(self.caps) {
            let e = Error::new(
                ErrorKind::Unsupported,
                "the destination would mail every attendee of this event; it is not written unless notifications are allowed",
            );
            return Err((src_id.clone(), named(e, &uid)));
        }
        let transformations = adapt(&mut item, self.caps);
        if let Some(max) = self.caps.max_item_size {
            let size = item.text().len() as u64;
            if size > max {
                let e = Error::new(
                    ErrorKind::MessageTooLarge,
                    format!("{size} bytes; the destination takes at most {max}"),
                );
                return Err((src_id.clone(), named(e, &uid)));
            }
        }
        let hash = item.content_hash();
        Ok(Some(Prepared {
            src_id,
            item,
            hash,
            uid,
            previous,
            transformations,
        }))
    }

    fn target(&self, p: &Prepared) -> WriteTarget {
        if let Some(t) = self.targets.get(&p.src_id) {
            return t.clone();
        }
        match &p.previous {
            Some(r) if r.state == LedgerState::Done => match &r.dest_id {
                Some(id) => WriteTarget::Replace {
                    id: ItemId::new(id.as_str()),
                    version: r.dest_version.clone(),
                },
                None => WriteTarget::Create,
            },
            _ => WriteTarget::Create,
        }
    }

    /// Records the batch pending, writes it and records what came of each item. Creates the
    /// destination refused as present are settled by a look-up (and, when `retry`, written
    /// once more as a replace of the copy that is the item's).
    async fn write(&mut self, prepared: Vec<Prepared>, retry: bool) -> Result<()> {
        if prepared.is_empty() {
            return Ok(());
        }
        let max = match self.caps.write_batch_max {
            0 => usize::MAX,
            n => n,
        };
        let mut rest = prepared;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(max));
            let chunk = std::mem::replace(&mut rest, tail);
            self.write_chunk(chunk, retry).await?;
        }
        Ok(())
    }

    async fn write_chunk(&mut self, chunk: Vec<Prepared>, retry: bool) -> Result<()> {
        let state = self.sync.state;
        let job = &self.sync.job;
        let targets: Vec<WriteTarget> = chunk.iter().map(|p| self.target(p)).collect();
        let pending: Vec<LedgerEntry> = chunk
            .iter()
            .zip(&targets)
            .map(|(p, t)| {
                let (dest_id, version) = match t {
                    WriteTarget::Replace { id, version } => {
                        (Some(MessageId::new(id.as_str())), version.clone())
                    }
                    WriteTarget::Create => (None, None),
                };
                LedgerEntry::new(
                    self.folder.clone(),
                    p.src_id.clone(),
                    self.dest_folder.clone(),
                    dest_id,
                    p.hash,
                    Some(p.uid.clone()),
                    Flags::new(),
                    LedgerState::Pending,
                )
                .with_versions(p.item.meta.version.clone(), version)
            })
            .collect();
        state.record(job, &pending).await?;
        let writes = chunk
            .iter()
            .zip(&targets)
            .map(|(p, t)| ItemWrite {
                item: p.item.clone(),
                target: t.clone(),
            })
            .collect();
        let options = WriteOptions {
            notify_attendees: self.sync.options.notify_attendees,
        };
        let answers = match self
            .sync
            .dest
            .write_items(&self.dest.id, writes, &options)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                // Nothing was written unless the answer was lost.
                let lost = e.disposition() == Disposition::Settle;
                let mut restore = Vec::new();
                for p in &chunk {
                    if lost {
                        self.counts.pending += 1;
                        self.complete = false;
                    } else {
                        self.fail(&p.src_id, &e);
                        restore.push(p);
                    }
                }
                self.restore(&restore).await?;
                return Ok(());
            }
        };
        let mut done = Vec::new();
        let mut restore = Vec::new();
        let mut refused_as_present = Vec::new();
        for ((p, target), answer) in chunk.iter().zip(&targets).zip(answers) {
            match answer {
                Ok(w) => {
                    self.counts.written += 1;
                    if matches!(target, WriteTarget::Replace { .. }) {
                        self.counts.updated += 1;
                    }
                    self.transformations
                        .extend(p.transformations.iter().cloned());
                    done.push(self.done_row(p, &w.id, w.version));
                }
                Err(e)
                    if e.kind() == ErrorKind::AlreadyExists
                        && matches!(target, WriteTarget::Create) =>
                {
                    refused_as_present.push(p);
                }
                Err(e) if e.disposition() == Disposition::Settle => {
                    self.counts.pending += 1;
                    self.complete = false;
                }
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    let e = Error::new(
                        ErrorKind::Conflict,
                        "changed at the destination since it was written; not overwritten",
                    )
                    .with_context("item", p.src_id.as_str())
                    .with_context("uid", &p.uid);
                    let failure =
                        ItemFailure::of(self.folder.clone(), p.src_id.clone(), &e).with_final(true);
                    self.counts.failed += 1;
                    self.failures.push(failure);
                    restore.push(p);
                }
                Err(e) => {
                    self.fail(
                        &p.src_id,
                        &e.with_context("item", p.src_id.as_str())
                            .with_context("uid", &p.uid),
                    );
                    restore.push(p);
                }
            }
        }
        state.record(job, &done).await?;
        self.restore(&restore).await?;
        self.settle_refused(refused_as_present, retry).await
    }

    /// Puts back the rows of writes that did not happen.
    async fn restore(&self, items: &[&Prepared]) -> Result<()> {
        let state = self.sync.state;
        let job = &self.sync.job;
        let back: Vec<LedgerEntry> = items.iter().filter_map(|p| p.previous.clone()).collect();
        let gone: Vec<MessageId> = items
            .iter()
            .filter(|p| p.previous.is_none())
            .map(|p| p.src_id.clone())
            .collect();
        state.record(job, &back).await?;
        state.remove(job, &self.folder, &gone).await
    }

    /// Creates the destination refused because it holds the `UID`: the copy with the
    /// item's content is taken as it; another copy nobody claims is replaced; when every
    /// copy is another item's, two source items share the `UID` and this one fails.
    async fn settle_refused(&mut self, refused: Vec<&Prepared>, retry: bool) -> Result<()> {
        if refused.is_empty() {
            return Ok(());
        }
        let uids: Vec<String> = refused.iter().map(|p| p.uid.clone()).collect();
        let found = if self.caps.find_by_uid {
            self.sync.dest.find_by_uid(&self.dest.id, &uids).await?
        } else {
            vec![Vec::new(); uids.len()]
        };
        let wanted: Vec<_> = refused.iter().map(|p| (p.hash, None)).collect();
        let picked = self.pick_all(&wanted, &found).await?;
        let mut done = Vec::new();
        let mut again = Vec::new();
        let mut restore = Vec::new();
        for (p, picked) in refused.into_iter().zip(picked) {
            match picked {
                Ok(Some((f, true))) => {
                    self.counts.adopted += 1;
                    done.push(self.done_row(p, &f.id, f.version));
                }
                Ok(Some((f, false))) if retry => {
                    self.targets.insert(
                        p.src_id.clone(),
                        WriteTarget::Replace {
                            id: f.id,
                            version: f.version,
                        },
                    );
                    again.push(Prepared {
                        src_id: p.src_id.clone(),
                        item: p.item.clone(),
                        hash: p.hash,
                        uid: p.uid.clone(),
                        previous: p.previous.clone(),
                        transformations: p.transformations.clone(),
                    });
                }
                Err(other) => {
                    let e = Error::new(
                        ErrorKind::InvalidMessage,
                        format!(
                            "another item of this collection has the same UID (its copy is {other}); UIDs must be unique in a collection"
                        ),
                    )
                    .with_context("item", p.src_id.as_str())
                    .with_context("uid", &p.uid);
                    self.fail(&p.src_id, &e);
                    restore.push(p);
                }
                _ => {
                    let e = Error::new(
                        ErrorKind::AlreadyExists,
                        "the destination holds this UID but a look-up does not find it",
                    )
                    .with_context("item", p.src_id.as_str())
                    .with_context("uid", &p.uid)
                    .temporary();
                    self.fail(&p.src_id, &e);
                    restore.push(p);
                }
            }
        }
        self.sync.state.record(&self.sync.job, &done).await?;
        self.restore(&restore).await?;
        Box::pin(self.write(again, false)).await
    }

    /// Ledger rows of items a full listing no longer holds.
    async fn unlisted(&self, listed: &HashSet<MessageId>) -> Result<Vec<MessageId>> {
        let mut out = Vec::new();
        let mut after: Option<MessageId> = None;
        loop {
            let page = self
                .sync
                .state
                .page(&self.sync.job, &self.folder, after.as_ref(), 500)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.src_id.clone());
            out.extend(
                page.iter()
                    .filter(|r| !listed.contains(&r.src_id))
                    .map(|r| r.src_id.clone()),
            );
        }
        Ok(out)
    }

    /// Items removed at the source: their copies are deleted when asked, else counted.
    async fn removals(&mut self, removed: Vec<MessageId>) -> Result<()> {
        if removed.is_empty() {
            return Ok(());
        }
        let state = self.sync.state;
        let job = &self.sync.job;
        let rows = state.lookup(job, &self.folder, &removed).await?;
        if !self.sync.options.propagate_deletions {
            self.counts.removed_kept += rows.len() as u64;
            return Ok(());
        }
        let (ids, srcs): (Vec<ItemId>, Vec<MessageId>) = rows
            .values()
            .filter_map(|r| {
                r.dest_id
                    .as_ref()
                    .map(|d| (ItemId::new(d.as_str()), r.src_id.clone()))
            })
            .unzip();
        let answers = self.sync.dest.delete_items(&self.dest.id, &ids).await?;
        let mut gone = Vec::new();
        for (src, answer) in srcs.into_iter().zip(answers) {
            match answer {
                Ok(()) => {
                    self.counts.deleted += 1;
                    gone.push(src);
                }
                Err(e) => self.fail(&src, &e),
            }
        }
        state.remove(job, &self.folder, &gone).await
    }
}

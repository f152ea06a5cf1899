//! The full comparison (`migrate verify`): every copied folder read on both sides, bodies
//! hashed, paired through the job's ledger, recorded failures named as such.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use mailmigrate_core::engine::{FolderPlan, LabelPolicy};
use mailmigrate_core::state::{LedgerState, StateStore};
use mailmigrate_core::verify::{FolderPair, FolderRef, VerifyOptions, VerifyReport};
use mailmigrate_core::{Change, FolderId, MessageId, Provider, Result, Source, SpecialUse, Store};

/// Ledger rows read per page.
const PAGE: usize = 1024;

/// What the job's state says about one source folder: its recorded copies, the items
/// recorded as failed for good, and writes still pending.
#[derive(Debug, Default)]
struct FolderLedger {
    copies: Vec<(MessageId, MessageId)>,
    pending: u64,
}

async fn folder_ledger(
    state: &Arc<dyn StateStore>,
    job: &str,
    folder: &FolderId,
) -> Result<FolderLedger> {
    let mut out = FolderLedger::default();
    let mut after: Option<MessageId> = None;
    loop {
        let rows = state.page(job, folder, after.as_ref(), PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.src_id.clone());
        let n = rows.len();
        for row in rows {
            match (row.state, row.dest_id) {
                (LedgerState::Pending, _) => out.pending += 1,
                (_, Some(dest)) => out.copies.push((row.src_id, dest)),
                _ => {}
            }
        }
        if n < PAGE {
            break;
        }
    }
    Ok(out)
}

/// Whether the source folder lists no message.
async fn is_empty(source: &dyn Source, folder: &FolderId) -> Result<bool> {
    let mut listing = source.list_changes(folder, None);
    while let Some(change) = listing.next().await {
        if matches!(change?, Change::Upsert(_)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The full comparison and what the ledger adds to it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FullVerification {
    /// The folder-by-folder comparison (recorded failures are listed, not missing).
    pub report: VerifyReport,
    /// Writes still pending in the ledger (a run was interrupted): run again first.
    pub pending: u64,
}

/// Compares every copied folder of `plan` between source and destination with
/// [`mailmigrate_core::verify`], reading the destination back through its [`Source`] side.
/// The job's ledger pairs each source message with its copy (so a message changed since
/// is reported changed, not missing plus extra) and its recorded final failures are
/// reported as such. Memory is bounded by the verifier's batch and one folder's ledger.
///
/// Messages left out by a filter show as missing: verify filtered jobs with that in mind.
///
/// # Errors
/// Listing or state errors.
pub async fn verify(
    source: &Arc<dyn Store>,
    dest: &Arc<dyn Store>,
    state: &Arc<dyn StateStore>,
    job: &str,
    plan: &FolderPlan,
    labels: LabelPolicy,
) -> Result<FullVerification> {
    let source: &dyn Source = source.as_ref();
    let dest_store: &dyn Store = dest.as_ref();
    let dest_folders = Provider::list_folders(dest_store).await?;
    let mut failed: HashMap<FolderId, HashSet<MessageId>> = HashMap::new();
    for f in state.failures(job).await? {
        if f.final_for_item {
            failed.entry(f.src_folder).or_default().insert(f.src_id);
        }
    }
    let caps = Provider::info(dest_store).capabilities;
    let opts =
        VerifyOptions::for_destination(&caps).with_labels_as_keywords(labels.as_keywords(&caps));
    let mut folders = Vec::new();
    let mut pending = 0;
    for e in plan.copies() {
        let ledger = folder_ledger(state, job, &e.source.id).await?;
        let mut target = dest_folders
            .iter()
            .find(|d| d.path == e.target)
            .map(FolderRef::from);
        if target.is_none() {
            // Stored under another name than the plan's (Gmail renames label names it
            // reserves, `Archive/2019` → `_Archive/2019`): the folder `ensure_folder`
            // answers for the plan's path, as it answered the engine that wrote the copies.
            let f = dest_store.ensure_folder(&e.target, e.role).await?;
            let holds_all = dest_folders
                .iter()
                .find(|d| d.id == f.id)
                .and_then(|d| d.role)
                .is_some_and(SpecialUse::is_virtual);
            // An empty folder that went to one holding every message (an `Archive` into
            // Gmail's All Mail) has nothing to compare; that folder's count is the mailbox's.
            if holds_all
                && ledger.copies.is_empty()
                && ledger.pending == 0
                && is_empty(source, &e.source.id).await?
            {
                continue;
            }
            target = Some(FolderRef::new(f.id, e.target.clone()));
        }
        pending += ledger.pending;
        let pair = FolderPair::new(FolderRef::from(&e.source), target)
            .with_copies(ledger.copies)
            .with_failed(failed.remove(&e.source.id).unwrap_or_default());
        let one = mailmigrate_core::verify::verify(source, dest_store, &[pair], &opts).await?;
        folders.extend(one.folders);
    }
    Ok(FullVerification {
        report: VerifyReport::from_folders(folders),
        pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::engine::{Engine, SyncOptions};
    use mailmigrate_core::layer::{Fault, FaultLayer, Stack, Trigger};
    use mailmigrate_core::state::MemoryState;
    use mailmigrate_core::store::MemoryStore;
    use mailmigrate_core::{Destination, ErrorKind, FolderPath, MessageMeta, RawMessage};

    #[tokio::test]
    async fn names_recorded_failures_and_notices_losses() {
        let src = MemoryStore::new("src");
        let inbox = src
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap()
            .id;
        let mk = |i: u32| {
            RawMessage::new(
                MessageMeta::new(MessageId::new(i.to_string()), inbox.clone()),
                bytes::Bytes::from(format!("Message-ID: <{i}@x>\r\n\r\nbody {i}")),
            )
        };
        src.append(&inbox, vec![mk(1), mk(2), mk(3)]).await.unwrap();
        let dst = MemoryStore::new("dst");
        let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
        let source: Arc<dyn Store> = Arc::new(src.clone());
        let dest: Arc<dyn Store> = Arc::new(dst.clone());
        // The first message cannot be read: a recorded, final failure.
        let unreadable = Stack::new(src.clone())
            .layer(FaultLayer::new().fail_items(
                mailmigrate_core::Operation::Fetch,
                Trigger::first(1),
                Fault::permanent(ErrorKind::InvalidMessage),
            ))
            .into_source();
        let engine = Engine::new(
            unreadable,
            Arc::<dyn Store>::clone(&dest),
            Arc::clone(&state),
        )
        .with_options(SyncOptions::new("j"));
        let plan = engine.plan().await.unwrap();
        engine.run_plan(&plan).await.unwrap();
        let v = verify(&source, &dest, &state, "j", &plan, LabelPolicy::default())
            .await
            .unwrap();
        let c = v.report.totals.counts;
        assert_eq!((c.matched, c.failed, c.missing), (2, 1, 0));
        assert!(v.report.is_clean(), "{}", v.report);

        // Remove one copy at the destination: verification notices.
        let dinbox = FolderId::new("INBOX");
        let first = dst.messages(&dinbox).unwrap()[0].meta.id.clone();
        dst.expunge(&dinbox, &first).unwrap();
        let v = verify(&source, &dest, &state, "j", &plan, LabelPolicy::default())
            .await
            .unwrap();
        assert_eq!(v.report.differences(), 1);
        assert!(!v.report.is_clean());
    }
}

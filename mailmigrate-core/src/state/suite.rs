//! A conformance suite every [`StateStore`] must pass.
//!
//! Each case is a `pub async fn(store, job)` that panics with a message naming the broken
//! rule. Cases only touch the job names they are given (and names derived from them by
//! appending `/…`), so they run against a store that already holds other data. [`run_all`]
//! runs every case under fresh random job names.
//!
//! Source ids are ordered as [`MessageId`]'s `Ord`: byte-wise on the id string (SQLite's
//! `BINARY` collation, PostgreSQL's `"C"`).
//!
//! # Examples
//! ```
//! use mailmigrate_core::state::{suite, MemoryState};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! suite::run_all(&MemoryState::new()).await;
//! # }
//! ```

use std::collections::BTreeSet;

use super::{ItemFailure, LedgerEntry, LedgerState, StateStore};
use crate::campaign::{CampaignRecord, CampaignStore, Failure, MailboxStatus, Stage, Transition};
use crate::{Checkpoint, ContentHash, ErrorKind, Flag, Flags, FolderId, MessageId};

/// Runs every case against `store`, each under its own fresh job name.
///
/// # Panics
/// On the first broken rule, with a message naming it.
pub async fn run_all(store: &dyn StateStore) {
    let run = format!("suite-{:016x}", rand::random::<u64>());
    let job = |case: &str| format!("{run}-{case}");
    checkpoints_are_isolated_by_job_and_folder(store, &job("checkpoints")).await;
    record_then_lookup_round_trips(store, &job("round-trip")).await;
    record_replaces_rows_and_moves_claims(store, &job("replace")).await;
    pending_lists_only_pending_rows_of_the_folder(store, &job("pending")).await;
    claims_are_counted_per_row(store, &job("claims")).await;
    remove_deletes_rows_and_releases_claims(store, &job("remove")).await;
    reset_folder_forgets_only_that_folder(store, &job("reset")).await;
    page_orders_by_source_id_within_bounds(store, &job("page")).await;
    failures_are_replaced_and_cleared_by_record(store, &job("failures")).await;
    jobs_are_isolated(store, &job("jobs")).await;
    large_batch_round_trips(store, &job("large")).await;
}

/// Runs every case of a [`CampaignStore`] (the `campaign_*` cases) against `store`, each
/// under its own fresh campaign name, after [`run_all`] on its ledger side.
///
/// ```
/// use mailmigrate_core::state::{suite, MemoryState};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// suite::run_all_campaign(&MemoryState::new()).await;
/// # }
/// ```
///
/// # Panics
/// On the first broken rule, with a message naming it.
pub async fn run_all_campaign(store: &dyn CampaignStore) {
    run_all(store).await;
    let run = format!("suite-{:016x}", rand::random::<u64>());
    let name = |case: &str| format!("{run}-{case}");
    campaign_records_round_trip_by_name(store, &name("records")).await;
    campaign_statuses_round_trip_with_history(store, &name("statuses")).await;
    campaign_moves_are_compare_and_set(store, &name("cas")).await;
    campaign_counts_update_without_a_move(store, &name("counts")).await;
    campaign_leases_exclude_other_workers(store, &name("leases")).await;
    campaign_worker_names_are_held_once(store, &name("names")).await;
}

/// Builds a ledger row whose hash, Message-ID and flags derive from its ids.
///
/// The same arguments always build the same row, so a case can rebuild the row it expects.
pub fn entry(
    src_folder: &str,
    src_id: &str,
    dest_folder: &str,
    dest_id: Option<&str>,
    state: LedgerState,
) -> LedgerEntry {
    let mut flags = Flags::new();
    flags.insert(Flag::Seen);
    if src_id.len().is_multiple_of(2) {
        flags.insert(Flag::Keyword("$Forwarded".to_owned()));
        flags.insert(Flag::Flagged);
    }
    LedgerEntry::new(
        FolderId::new(src_folder),
        MessageId::new(src_id),
        FolderId::new(dest_folder),
        dest_id.map(MessageId::new),
        ContentHash::of(format!("{src_folder}\u{0}{src_id}").as_bytes()),
        Some(format!("<{src_id}.{src_folder}@suite.example>")),
        flags,
        state,
    )
}

fn ids(list: &[&str]) -> Vec<MessageId> {
    list.iter().map(|s| MessageId::new(*s)).collect()
}

fn sorted(mut rows: Vec<LedgerEntry>) -> Vec<LedgerEntry> {
    rows.sort_by(|a, b| (&a.src_folder, &a.src_id).cmp(&(&b.src_folder, &b.src_id)));
    rows
}

async fn claimed(store: &dyn StateStore, job: &str, folder: &str, id: &str) -> bool {
    store
        .is_claimed(job, &FolderId::new(folder), &MessageId::new(id))
        .await
        .expect("is_claimed failed")
}

async fn record(store: &dyn StateStore, job: &str, rows: &[LedgerEntry]) {
    store.record(job, rows).await.expect("record failed");
}

async fn all_rows(store: &dyn StateStore, job: &str, folder: &str) -> Vec<LedgerEntry> {
    store
        .page(job, &FolderId::new(folder), None, usize::MAX)
        .await
        .expect("page failed")
}

fn failure(folder: &str, id: &str, kind: ErrorKind, message: &str) -> ItemFailure {
    ItemFailure::new(
        FolderId::new(folder),
        MessageId::new(id),
        kind,
        message.to_owned(),
    )
}

async fn failures_sorted(store: &dyn StateStore, job: &str) -> Vec<ItemFailure> {
    let mut f = store.failures(job).await.expect("failures failed");
    f.sort_by(|a, b| (&a.src_folder, &a.src_id).cmp(&(&b.src_folder, &b.src_id)));
    f
}

/// A checkpoint is stored per (job, source folder), replaced by a later set, and invisible
/// to other folders and jobs; `checkpointed_folders` lists the job's folders once each.
///
/// # Panics
/// If the store breaks the rule.
pub async fn checkpoints_are_isolated_by_job_and_folder(store: &dyn StateStore, job: &str) {
    let other_job = format!("{job}/other");
    let (inbox, sent) = (FolderId::new("INBOX"), FolderId::new("Sent"));
    let get = |j: &str, f: &FolderId| {
        let (j, f) = (j.to_owned(), f.clone());
        async move { store.checkpoint(&j, &f).await.expect("checkpoint failed") }
    };

    assert_eq!(get(job, &inbox).await, None, "a new job has no checkpoint");
    store
        .set_checkpoint(job, &inbox, &Checkpoint::new("7:100"))
        .await
        .expect("set_checkpoint failed");
    assert_eq!(get(job, &inbox).await, Some(Checkpoint::new("7:100")));
    assert_eq!(
        get(job, &sent).await,
        None,
        "a checkpoint leaked to another folder"
    );
    assert_eq!(
        get(&other_job, &inbox).await,
        None,
        "a checkpoint leaked to another job"
    );

    store
        .set_checkpoint(job, &inbox, &Checkpoint::new("7:250"))
        .await
        .expect("set_checkpoint failed");
    store
        .set_checkpoint(&other_job, &inbox, &Checkpoint::new("delta?token=x"))
        .await
        .expect("set_checkpoint failed");
    store
        .set_checkpoint(job, &sent, &Checkpoint::new(""))
        .await
        .expect("set_checkpoint failed");
    assert_eq!(
        get(job, &inbox).await,
        Some(Checkpoint::new("7:250")),
        "set_checkpoint must replace"
    );
    assert_eq!(
        get(&other_job, &inbox).await,
        Some(Checkpoint::new("delta?token=x"))
    );
    assert_eq!(
        get(job, &sent).await,
        Some(Checkpoint::new("")),
        "an empty checkpoint is still a checkpoint"
    );
    let mut folders = store
        .checkpointed_folders(job)
        .await
        .expect("checkpointed_folders failed");
    folders.sort();
    assert_eq!(
        folders,
        [inbox.clone(), sent],
        "each folder once, this job's only"
    );
    let others = store
        .checkpointed_folders(&other_job)
        .await
        .expect("checkpointed_folders failed");
    assert_eq!(others, [inbox]);
}

/// Every field of a recorded row comes back from `lookup`; ids without a row, and rows of
/// other folders or jobs, are absent.
///
/// # Panics
/// If the store breaks the rule.
pub async fn record_then_lookup_round_trips(store: &dyn StateStore, job: &str) {
    let mut odd = entry(
        "Archive/2020",
        "1713:42",
        "Archive",
        None,
        LedgerState::Pending,
    );
    odd.message_id = None;
    odd.flags = [
        Flag::Draft,
        Flag::Answered,
        Flag::Deleted,
        Flag::Keyword("Étiquette \"rouge\"".to_owned()),
        Flag::Keyword("$Label1".to_owned()),
    ]
    .into_iter()
    .collect();
    let mut bare = entry(
        "Archive/2020",
        "1713:43",
        "Archive",
        Some("9"),
        LedgerState::Done,
    );
    bare.flags = Flags::new();
    bare.size = Some(48_213);
    // Kept as an instant: the offset it was written with is not part of it.
    bare.internal_date = Some(time::macros::datetime!(2014-07-01 09:30:15 +02:00));
    // A contact's or event's ETags, quotes and all.
    bare.src_version = Some("\"63a1-5f2\"".to_owned());
    bare.dest_version = Some("W/\"2\"".to_owned());
    let rows = vec![
        odd.clone(),
        bare.clone(),
        entry(
            "INBOX",
            "1713:42",
            "Inbox",
            Some("AAMk=="),
            LedgerState::Done,
        ),
    ];
    record(store, job, &rows).await;

    let archive = FolderId::new("Archive/2020");
    let found = store
        .lookup(job, &archive, &ids(&["1713:42", "1713:43", "1713:44"]))
        .await
        .expect("lookup failed");
    assert_eq!(
        found.len(),
        2,
        "lookup must return exactly the recorded ids"
    );
    assert_eq!(found.get(&MessageId::new("1713:42")), Some(&odd));
    assert_eq!(found.get(&MessageId::new("1713:43")), Some(&bare));

    let inbox = store
        .lookup(job, &FolderId::new("INBOX"), &ids(&["1713:42", "1713:43"]))
        .await
        .expect("lookup failed");
    assert_eq!(
        inbox.keys().collect::<Vec<_>>(),
        vec![&MessageId::new("1713:42")],
        "rows are keyed by folder and id"
    );
    assert_eq!(inbox[&MessageId::new("1713:42")], rows[2]);

    let other = store
        .lookup(&format!("{job}/other"), &archive, &ids(&["1713:42"]))
        .await
        .expect("lookup failed");
    assert!(other.is_empty(), "a row leaked to another job");
    let none = store
        .lookup(job, &archive, &[])
        .await
        .expect("lookup failed");
    assert!(none.is_empty(), "an empty lookup finds nothing");
}

/// Recording a row with an existing key replaces it entirely, moves its claim to the new
/// destination id, and the last of two rows with one key in a batch wins.
///
/// # Panics
/// If the store breaks the rule.
pub async fn record_replaces_rows_and_moves_claims(store: &dyn StateStore, job: &str) {
    record(
        store,
        job,
        &[entry(
            "INBOX",
            "1:1",
            "Inbox",
            Some("d1"),
            LedgerState::Done,
        )],
    )
    .await;
    assert!(claimed(store, job, "Inbox", "d1").await);

    let mut moved = entry("INBOX", "1:1", "Old", Some("d2"), LedgerState::Pending);
    moved.message_id = Some("<other@x>".to_owned());
    moved.hash = ContentHash::of(b"different bytes");
    record(store, job, std::slice::from_ref(&moved)).await;
    assert!(
        !claimed(store, job, "Inbox", "d1").await,
        "a replaced row must release its old claim"
    );
    assert!(claimed(store, job, "Old", "d2").await);
    let found = store
        .lookup(job, &FolderId::new("INBOX"), &ids(&["1:1"]))
        .await
        .expect("lookup failed");
    assert_eq!(
        found.get(&MessageId::new("1:1")),
        Some(&moved),
        "replace is total"
    );

    // Two rows with one key in a batch: the last wins.
    let first = entry("INBOX", "1:2", "Inbox", Some("d3"), LedgerState::Pending);
    let last = entry("INBOX", "1:2", "Inbox", Some("d4"), LedgerState::Done);
    record(store, job, &[first, last.clone()]).await;
    assert_eq!(
        all_rows(store, job, "INBOX").await,
        vec![moved, last],
        "one row per key"
    );
    assert!(
        !claimed(store, job, "Inbox", "d3").await,
        "the overwritten row claims nothing"
    );
    assert!(claimed(store, job, "Inbox", "d4").await);

    // Clearing the destination id releases the claim.
    record(
        store,
        job,
        &[entry("INBOX", "1:2", "Inbox", None, LedgerState::Pending)],
    )
    .await;
    assert!(!claimed(store, job, "Inbox", "d4").await);
}

/// `pending` lists the folder's pending rows and nothing else; a row recorded done leaves it.
///
/// # Panics
/// If the store breaks the rule.
pub async fn pending_lists_only_pending_rows_of_the_folder(store: &dyn StateStore, job: &str) {
    let inbox = FolderId::new("INBOX");
    assert!(store
        .pending(job, &inbox)
        .await
        .expect("pending failed")
        .is_empty());
    let p1 = entry("INBOX", "5:1", "Inbox", None, LedgerState::Pending);
    let p3 = entry("INBOX", "5:3", "Inbox", Some("u3"), LedgerState::Pending);
    record(
        store,
        job,
        &[
            p3.clone(),
            entry("INBOX", "5:2", "Inbox", Some("u2"), LedgerState::Done),
            p1.clone(),
            entry("Sent", "5:4", "Sent", None, LedgerState::Pending),
        ],
    )
    .await;
    record(
        store,
        &format!("{job}/other"),
        &[entry("INBOX", "5:5", "Inbox", None, LedgerState::Pending)],
    )
    .await;
    let pending = sorted(store.pending(job, &inbox).await.expect("pending failed"));
    assert_eq!(pending, vec![p1, p3.clone()]);

    record(
        store,
        job,
        &[entry(
            "INBOX",
            "5:1",
            "Inbox",
            Some("u1"),
            LedgerState::Done,
        )],
    )
    .await;
    let pending = store.pending(job, &inbox).await.expect("pending failed");
    assert_eq!(pending, vec![p3], "a done row is no longer pending");
}

/// A destination id is claimed while at least one row of the job points at it, in that
/// destination folder; pending rows with a destination id claim it too.
///
/// # Panics
/// If the store breaks the rule.
pub async fn claims_are_counted_per_row(store: &dyn StateStore, job: &str) {
    record(
        store,
        job,
        &[
            entry("INBOX", "2:1", "Inbox", Some("shared"), LedgerState::Done),
            entry("Archive", "2:1", "Inbox", Some("shared"), LedgerState::Done),
            entry(
                "INBOX",
                "2:2",
                "Inbox",
                Some("pending-id"),
                LedgerState::Pending,
            ),
            entry("INBOX", "2:3", "Inbox", None, LedgerState::Pending),
        ],
    )
    .await;
    assert!(claimed(store, job, "Inbox", "shared").await);
    assert!(
        claimed(store, job, "Inbox", "pending-id").await,
        "a pending row's destination id is claimed"
    );
    assert!(
        !claimed(store, job, "Archive", "shared").await,
        "claims are per destination folder"
    );
    assert!(
        !claimed(store, &format!("{job}/other"), "Inbox", "shared").await,
        "claims are per job"
    );
    assert!(!claimed(store, job, "Inbox", "").await);

    store
        .remove(job, &FolderId::new("INBOX"), &ids(&["2:1"]))
        .await
        .expect("remove failed");
    assert!(
        claimed(store, job, "Inbox", "shared").await,
        "a claim held by two rows survives removing one"
    );
    store
        .remove(job, &FolderId::new("Archive"), &ids(&["2:1"]))
        .await
        .expect("remove failed");
    assert!(!claimed(store, job, "Inbox", "shared").await);
}

/// `remove` deletes exactly the named rows of the folder (ignoring unknown ids) and releases
/// their claims.
///
/// # Panics
/// If the store breaks the rule.
pub async fn remove_deletes_rows_and_releases_claims(store: &dyn StateStore, job: &str) {
    let keep = entry("INBOX", "3:2", "Inbox", Some("k2"), LedgerState::Done);
    let same_id_elsewhere = entry("Sent", "3:1", "Sent", Some("s1"), LedgerState::Done);
    record(
        store,
        job,
        &[
            entry("INBOX", "3:1", "Inbox", Some("k1"), LedgerState::Done),
            keep.clone(),
            entry("INBOX", "3:3", "Inbox", None, LedgerState::Pending),
            same_id_elsewhere.clone(),
        ],
    )
    .await;
    let inbox = FolderId::new("INBOX");
    store
        .remove(job, &inbox, &ids(&["3:1", "3:3", "3:404"]))
        .await
        .expect("remove failed");
    store
        .remove(job, &inbox, &[])
        .await
        .expect("empty remove failed");

    assert_eq!(all_rows(store, job, "INBOX").await, vec![keep]);
    assert_eq!(
        all_rows(store, job, "Sent").await,
        vec![same_id_elsewhere],
        "remove is scoped to its folder"
    );
    assert!(
        !claimed(store, job, "Inbox", "k1").await,
        "a removed row releases its claim"
    );
    assert!(claimed(store, job, "Inbox", "k2").await);
    assert!(store
        .pending(job, &inbox)
        .await
        .expect("pending failed")
        .is_empty());
    let found = store
        .lookup(job, &inbox, &ids(&["3:1"]))
        .await
        .expect("lookup failed");
    assert!(found.is_empty());
}

/// `reset_folder` forgets the folder's checkpoint, rows, claims and failures, and nothing of
/// other folders or jobs.
///
/// # Panics
/// If the store breaks the rule.
pub async fn reset_folder_forgets_only_that_folder(store: &dyn StateStore, job: &str) {
    let other_job = format!("{job}/other");
    let (inbox, sent) = (FolderId::new("INBOX"), FolderId::new("Sent"));
    for j in [job, other_job.as_str()] {
        for f in [&inbox, &sent] {
            store
                .set_checkpoint(j, f, &Checkpoint::new("1:10"))
                .await
                .expect("set_checkpoint failed");
            record(
                store,
                j,
                &[
                    entry(
                        f.as_str(),
                        "4:1",
                        "Dest",
                        Some(f.as_str()),
                        LedgerState::Done,
                    ),
                    entry(f.as_str(), "4:2", "Dest", None, LedgerState::Pending),
                ],
            )
            .await;
            store
                .record_failure(
                    j,
                    &failure(f.as_str(), "4:3", ErrorKind::InvalidMessage, "bad"),
                )
                .await
                .expect("record_failure failed");
        }
    }

    store
        .reset_folder(job, &inbox)
        .await
        .expect("reset_folder failed");

    assert_eq!(
        store
            .checkpoint(job, &inbox)
            .await
            .expect("checkpoint failed"),
        None
    );
    assert!(
        all_rows(store, job, "INBOX").await.is_empty(),
        "rows survived a reset"
    );
    assert!(store
        .pending(job, &inbox)
        .await
        .expect("pending failed")
        .is_empty());
    assert!(
        !claimed(store, job, "Dest", "INBOX").await,
        "a claim survived a reset"
    );
    assert_eq!(
        failures_sorted(store, job).await,
        vec![failure("Sent", "4:3", ErrorKind::InvalidMessage, "bad")],
        "a reset forgets the folder's failures, and only those"
    );

    assert!(store
        .checkpoint(job, &sent)
        .await
        .expect("checkpoint failed")
        .is_some());
    assert_eq!(all_rows(store, job, "Sent").await.len(), 2);
    assert!(claimed(store, job, "Dest", "Sent").await);
    assert!(store
        .checkpoint(&other_job, &inbox)
        .await
        .expect("checkpoint failed")
        .is_some());
    assert_eq!(all_rows(store, &other_job, "INBOX").await.len(), 2);
    assert!(claimed(store, &other_job, "Dest", "INBOX").await);
    assert_eq!(failures_sorted(store, &other_job).await.len(), 2);

    // Resetting an unknown folder is a no-op.
    store
        .reset_folder(job, &FolderId::new("Nowhere"))
        .await
        .expect("reset_folder failed");
}

/// `page` returns the folder's rows ordered by source id, at most `limit` of them, strictly
/// after `after` (which need not exist); paging from the last id of each page visits every
/// row exactly once.
///
/// # Panics
/// If the store breaks the rule.
pub async fn page_orders_by_source_id_within_bounds(store: &dyn StateStore, job: &str) {
    let raw = [
        "7:10",
        "7:9",
        "7:100",
        "7:2",
        "a",
        "B",
        "é",
        "7:1",
        "AAMk-x_y=",
        "0",
    ];
    let rows: Vec<LedgerEntry> = raw
        .iter()
        .map(|id| entry("Folder", id, "Dest", Some(id), LedgerState::Done))
        .collect();
    record(store, job, &rows).await;
    record(
        store,
        job,
        &[entry("Folder2", "7:5", "Dest", None, LedgerState::Done)],
    )
    .await;
    record(
        store,
        &format!("{job}/other"),
        &[entry("Folder", "7:5", "Dest", None, LedgerState::Done)],
    )
    .await;
    let mut expected_ids: Vec<MessageId> = ids(&raw);
    expected_ids.sort();
    let folder = FolderId::new("Folder");
    let page = |after: Option<&str>, limit: usize| {
        let after = after.map(MessageId::new);
        let folder = folder.clone();
        async move {
            store
                .page(job, &folder, after.as_ref(), limit)
                .await
                .expect("page failed")
        }
    };
    let ids_of = |rows: &[LedgerEntry]| rows.iter().map(|e| e.src_id.clone()).collect::<Vec<_>>();

    let all = page(None, 1000).await;
    assert_eq!(ids_of(&all), expected_ids, "page is ordered by source id");
    assert_eq!(all, sorted(rows.clone()), "page returns whole rows");
    assert!(page(None, 0).await.is_empty(), "limit 0 returns nothing");
    assert_eq!(ids_of(&page(None, 3).await), expected_ids[..3]);

    let mut seen = Vec::new();
    let mut after: Option<MessageId> = None;
    loop {
        let chunk = page(after.as_ref().map(MessageId::as_str), 3).await;
        assert!(chunk.len() <= 3, "page returned more than its limit");
        let Some(last) = chunk.last() else { break };
        after = Some(last.src_id.clone());
        seen.extend(ids_of(&chunk));
    }
    assert_eq!(seen, expected_ids, "paging visits every row once, in order");

    // `after` need not be a stored id: "7:15" sorts between "7:100" and "7:2".
    let tail = page(Some("7:15"), 1000).await;
    let expected_tail: Vec<MessageId> = expected_ids
        .iter()
        .filter(|id| id.as_str() > "7:15")
        .cloned()
        .collect();
    assert_eq!(ids_of(&tail), expected_tail);
    let last = expected_ids.last().map(MessageId::as_str);
    assert!(page(last, 10).await.is_empty(), "nothing after the last id");
    assert!(store
        .page(job, &FolderId::new("Empty"), None, 10)
        .await
        .expect("page failed")
        .is_empty());
}

/// A failure is stored per (job, folder, item), replaced by a later one for the same item,
/// and cleared when the item is recorded in the ledger.
///
/// # Panics
/// If the store breaks the rule.
pub async fn failures_are_replaced_and_cleared_by_record(store: &dyn StateStore, job: &str) {
    assert!(failures_sorted(store, job).await.is_empty());
    let a = failure(
        "INBOX",
        "6:1",
        ErrorKind::MessageTooLarge,
        "too large: 40 MB",
    );
    let b = failure(
        "INBOX",
        "6:2",
        ErrorKind::InvalidMessage,
        "no header separator",
    );
    let c = failure("Sent", "6:1", ErrorKind::RateLimited, "gave up");
    for f in [&a, &b, &c] {
        store
            .record_failure(job, f)
            .await
            .expect("record_failure failed");
    }
    assert_eq!(
        failures_sorted(store, job).await,
        vec![a, b.clone(), c.clone()]
    );

    let a2 = failure("INBOX", "6:1", ErrorKind::Unavailable, "server went away");
    store
        .record_failure(job, &a2)
        .await
        .expect("record_failure failed");
    assert_eq!(
        failures_sorted(store, job).await,
        vec![a2, b.clone(), c.clone()],
        "a later failure replaces the earlier one"
    );

    record(
        store,
        job,
        &[entry(
            "INBOX",
            "6:1",
            "Inbox",
            Some("x1"),
            LedgerState::Done,
        )],
    )
    .await;
    assert_eq!(
        failures_sorted(store, job).await,
        vec![b.clone(), c.clone()],
        "recording an item clears its failure, and only that one"
    );
    record(
        store,
        job,
        &[entry("INBOX", "6:2", "Inbox", None, LedgerState::Pending)],
    )
    .await;
    assert_eq!(
        failures_sorted(store, job).await,
        vec![c],
        "a pending record clears the failure too"
    );
    assert!(
        failures_sorted(store, &format!("{job}/other"))
            .await
            .is_empty(),
        "failures are per job"
    );
}

/// Two jobs with the same folders and ids never see each other's checkpoints, rows, claims
/// or failures.
///
/// # Panics
/// If the store breaks the rule.
pub async fn jobs_are_isolated(store: &dyn StateStore, job: &str) {
    let (a, b) = (format!("{job}/a"), format!("{job}/b"));
    let inbox = FolderId::new("INBOX");
    let row_a = entry("INBOX", "8:1", "Inbox", Some("da"), LedgerState::Done);
    let row_b = entry("INBOX", "8:1", "Other", Some("db"), LedgerState::Pending);
    record(store, &a, std::slice::from_ref(&row_a)).await;
    record(store, &b, std::slice::from_ref(&row_b)).await;
    store
        .record_failure(&b, &failure("INBOX", "8:2", ErrorKind::NotFound, "gone"))
        .await
        .expect("record_failure failed");
    store
        .set_checkpoint(&a, &inbox, &Checkpoint::new("a"))
        .await
        .expect("set_checkpoint failed");

    assert_eq!(all_rows(store, &a, "INBOX").await, vec![row_a.clone()]);
    assert_eq!(all_rows(store, &b, "INBOX").await, vec![row_b.clone()]);
    assert!(store
        .pending(&a, &inbox)
        .await
        .expect("pending failed")
        .is_empty());
    assert_eq!(
        store.pending(&b, &inbox).await.expect("pending failed"),
        vec![row_b]
    );
    assert!(!claimed(store, &a, "Other", "db").await);
    assert!(!claimed(store, &b, "Inbox", "da").await);
    assert!(failures_sorted(store, &a).await.is_empty());
    assert_eq!(
        store
            .checkpoint(&b, &inbox)
            .await
            .expect("checkpoint failed"),
        None
    );

    store
        .remove(&b, &inbox, &ids(&["8:1"]))
        .await
        .expect("remove failed");
    store
        .reset_folder(&b, &inbox)
        .await
        .expect("reset_folder failed");
    assert_eq!(
        all_rows(store, &a, "INBOX").await,
        vec![row_a],
        "another job's remove and reset left this job alone"
    );
    assert_eq!(
        store
            .checkpoint(&a, &inbox)
            .await
            .expect("checkpoint failed"),
        Some(Checkpoint::new("a"))
    );
    assert!(claimed(store, &a, "Inbox", "da").await);
}

/// A batch of a few thousand rows is recorded atomically and read back whole through
/// `lookup` and `page`.
///
/// # Panics
/// If the store breaks the rule.
pub async fn large_batch_round_trips(store: &dyn StateStore, job: &str) {
    const N: usize = 2_500;
    let rows: Vec<LedgerEntry> = (0..N)
        .map(|i| {
            let id = format!("9:{i:06}");
            let state = if i.is_multiple_of(10) {
                LedgerState::Pending
            } else {
                LedgerState::Done
            };
            entry("Big", &id, "Dest", Some(&id), state)
        })
        .collect();
    record(store, job, &rows).await;

    let all_ids: Vec<MessageId> = rows.iter().map(|e| e.src_id.clone()).collect();
    let found = store
        .lookup(job, &FolderId::new("Big"), &all_ids)
        .await
        .expect("lookup failed");
    assert_eq!(found.len(), N);
    assert!(rows.iter().all(|e| found.get(&e.src_id) == Some(e)));

    let mut seen = 0;
    let mut after: Option<MessageId> = None;
    let mut distinct = BTreeSet::new();
    loop {
        let chunk = store
            .page(job, &FolderId::new("Big"), after.as_ref(), 700)
            .await
            .expect("page failed");
        let Some(last) = chunk.last() else { break };
        after = Some(last.src_id.clone());
        for e in &chunk {
            assert_eq!(Some(e), rows.get(seen), "page order or content differs");
            distinct.insert(e.src_id.clone());
            seen += 1;
        }
    }
    assert_eq!((seen, distinct.len()), (N, N));
    let pending = store
        .pending(job, &FolderId::new("Big"))
        .await
        .expect("pending failed");
    assert_eq!(pending.len(), N / 10);
    assert!(claimed(store, job, "Dest", "9:002499").await);
}

const T0: time::OffsetDateTime = time::macros::datetime!(2025-03-01 20:00 UTC);

fn at(minutes: i64) -> time::OffsetDateTime {
    T0 + time::Duration::minutes(minutes)
}

/// A campaign record is stored by name, replaced by a later put, and invisible to other
/// names.
///
/// # Panics
/// If the store breaks the rule.
pub async fn campaign_records_round_trip_by_name(store: &dyn CampaignStore, campaign: &str) {
    let other = format!("{campaign}/other");
    assert_eq!(
        store.campaign(campaign).await.expect("campaign failed"),
        None,
        "a new campaign has no record"
    );
    let mut record = CampaignRecord::new(campaign, "a".repeat(64), at(0));
    store
        .put_campaign(&record)
        .await
        .expect("put_campaign failed");
    assert_eq!(
        store.campaign(campaign).await.unwrap(),
        Some(record.clone())
    );
    record.paused = true;
    record.updated = at(5);
    store
        .put_campaign(&record)
        .await
        .expect("put_campaign failed");
    assert_eq!(
        store.campaign(campaign).await.unwrap(),
        Some(record),
        "a later put replaces the record"
    );
    assert_eq!(
        store.campaign(&other).await.unwrap(),
        None,
        "a record leaked to another campaign"
    );
}

/// Statuses round-trip whole (failure, pause origin, switch time, counts), `mailboxes`
/// lists a campaign's mailboxes ordered by key, and `history` returns every transition
/// in the order applied.
///
/// # Panics
/// If the store breaks the rule.
pub async fn campaign_statuses_round_trip_with_history(store: &dyn CampaignStore, campaign: &str) {
    let mut b = MailboxStatus::new("bo@old.example", "bo@new.example", "pilot", at(0));
    let a = MailboxStatus::new("ann@old.example", "ann@new.example", "pilot", at(0));
    store
        .apply(campaign, &b, Some(&b.entered()))
        .await
        .expect("apply failed");
    store
        .apply(campaign, &a, Some(&a.entered()))
        .await
        .expect("apply failed");
    let mut expected = vec![b.entered()];
    for (i, stage) in [
        Stage::BackingUp,
        Stage::Syncing,
        Stage::Synced,
        Stage::Finalising,
    ]
    .into_iter()
    .enumerate()
    {
        let t = b.advance(stage, at(i as i64 + 1)).unwrap();
        b.counts.copied += 10;
        store
            .apply(campaign, &b, Some(&t))
            .await
            .expect("apply failed");
        expected.push(t);
    }
    let failure = Failure::new(
        Stage::Finalising,
        ErrorKind::QuotaExceeded,
        "destination full",
    );
    let t = b.fail(failure, at(9)).unwrap();
    store
        .apply(campaign, &b, Some(&t))
        .await
        .expect("apply failed");
    expected.push(t);

    let got = store.mailbox(campaign, "bo@old.example").await.unwrap();
    assert_eq!(got.as_ref(), Some(&b), "a status must round-trip whole");
    let got = got.unwrap();
    assert_eq!(got.switched, Some(at(4)));
    assert_eq!(got.failure.unwrap().kind, ErrorKind::QuotaExceeded);
    let all: Vec<String> = store
        .mailboxes(campaign)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.mailbox)
        .collect();
    assert_eq!(all, ["ann@old.example", "bo@old.example"], "ordered by key");
    assert_eq!(
        store.history(campaign, "bo@old.example").await.unwrap(),
        expected,
        "history in the order applied"
    );
    assert!(store
        .mailboxes(&format!("{campaign}/other"))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .history(campaign, "nobody@old.example")
        .await
        .unwrap()
        .is_empty());
}

/// A move is stored only if the stored stage is the one it starts from; a refused move
/// is `Conflict` and changes nothing (neither the status nor the history).
///
/// # Panics
/// If the store breaks the rule.
pub async fn campaign_moves_are_compare_and_set(store: &dyn CampaignStore, campaign: &str) {
    let mut s = MailboxStatus::new("cy@old.example", "cy@new.example", "b", at(0));
    store.apply(campaign, &s, Some(&s.entered())).await.unwrap();
    let e = store
        .apply(campaign, &s, Some(&s.entered()))
        .await
        .expect_err("entering twice must conflict");
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");

    // Two runners both take the queued mailbox: only the first move is stored.
    let mut rival = s.clone();
    let mine = s.advance(Stage::BackingUp, at(1)).unwrap();
    let theirs = rival.advance(Stage::Syncing, at(1)).unwrap();
    store.apply(campaign, &s, Some(&mine)).await.unwrap();
    let e = store
        .apply(campaign, &rival, Some(&theirs))
        .await
        .expect_err("a move from a stale stage must conflict");
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(e.context("mailbox"), Some("cy@old.example"));
    let stored = store
        .mailbox(campaign, "cy@old.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.stage,
        Stage::BackingUp,
        "the refused move changed the status"
    );
    assert_eq!(
        store
            .history(campaign, "cy@old.example")
            .await
            .unwrap()
            .len(),
        2,
        "the refused move reached the history"
    );
    // A transition that does not lead to the status stored with it is refused too.
    let bogus = Transition::new(
        "cy@old.example",
        Some(Stage::BackingUp),
        Stage::Synced,
        at(2),
    );
    let e = store.apply(campaign, &s, Some(&bogus)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
}

/// Without a transition, `apply` updates the counts of a mailbox in the stage stored, and
/// refuses a status whose stage differs (or that has no row).
///
/// # Panics
/// If the store breaks the rule.
pub async fn campaign_counts_update_without_a_move(store: &dyn CampaignStore, campaign: &str) {
    let mut s = MailboxStatus::new("di@old.example", "di@new.example", "b", at(0));
    let e = store.apply(campaign, &s, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "no row to update: {e}");
    store.apply(campaign, &s, Some(&s.entered())).await.unwrap();
    s.counts.passes = 3;
    s.counts.backed_up = true;
    store
        .apply(campaign, &s, None)
        .await
        .expect("a counts update failed");
    let got = store
        .mailbox(campaign, "di@old.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.counts, s.counts);
    assert_eq!(
        store
            .history(campaign, "di@old.example")
            .await
            .unwrap()
            .len(),
        1
    );
    let mut moved = s.clone();
    moved.advance(Stage::Syncing, at(1)).unwrap();
    let e = store.apply(campaign, &moved, None).await.unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Conflict,
        "a move needs its transition: {e}"
    );
}

/// A claimed mailbox cannot be claimed by another worker until its holder releases it or
/// its lease runs out; the holder renews by claiming again; a release by another worker
/// changes nothing; leases are per mailbox and per campaign.
///
/// # Panics
/// If the store breaks the rule.
pub async fn campaign_leases_exclude_other_workers(store: &dyn CampaignStore, campaign: &str) {
    use std::time::Duration;
    let long = Duration::from_secs(600);
    let (m, other) = ("ed@old.example", "fay@old.example");
    let claim = |c: &str, m: &str, w: &str, ttl: Duration| {
        let (c, m, w) = (c.to_owned(), m.to_owned(), w.to_owned());
        async move { store.claim(&c, &m, &w, ttl).await.expect("claim failed") }
    };
    assert!(
        claim(campaign, m, "w1", long).await,
        "a free mailbox is claimed"
    );
    assert!(
        !claim(campaign, m, "w2", long).await,
        "a held mailbox was claimed by another worker"
    );
    assert!(claim(campaign, m, "w1", long).await, "the holder renews");
    assert!(
        claim(campaign, other, "w2", long).await,
        "leases are per mailbox"
    );
    let elsewhere = format!("{campaign}/other");
    assert!(
        claim(&elsewhere, m, "w2", long).await,
        "leases are per campaign"
    );
    store
        .release(campaign, m, "w2")
        .await
        .expect("release failed");
    assert!(
        !claim(campaign, m, "w2", long).await,
        "a release by another worker freed the lease"
    );
    store
        .release(campaign, m, "w1")
        .await
        .expect("release failed");
    assert!(
        claim(campaign, m, "w2", long).await,
        "a released mailbox is claimed"
    );
    // A lease that ran out is taken over.
    assert!(claim(campaign, "gus@old.example", "w1", Duration::from_millis(1)).await);
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        claim(campaign, "gus@old.example", "w2", long).await,
        "an expired lease was not taken over"
    );
    assert!(
        !claim(campaign, "gus@old.example", "w1", long).await,
        "the old holder claimed a lease taken over"
    );
}

/// [`CampaignStore::hold_worker`]: a worker name has one holder at a time, per campaign;
/// a hold dropped frees its name.
///
/// # Panics
/// If the store breaks the rule.
pub async fn campaign_worker_names_are_held_once(store: &dyn CampaignStore, campaign: &str) {
    let first = store
        .hold_worker(campaign, "w1")
        .await
        .expect("a free name is held");
    assert!(first.is_held(), "a new hold is in force");
    let twin = store
        .hold_worker(campaign, "w1")
        .await
        .expect_err("a held name was held twice");
    assert_eq!(twin.kind(), ErrorKind::Conflict, "{twin}");
    let other = store
        .hold_worker(campaign, "w2")
        .await
        .expect("names are held one by one");
    let elsewhere = format!("{campaign}/other");
    let _elsewhere = store
        .hold_worker(&elsewhere, "w1")
        .await
        .expect("names are held per campaign");
    drop(first);
    let again = store
        .hold_worker(campaign, "w1")
        .await
        .expect("a dropped hold frees its name");
    drop((again, other));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryState;

    #[tokio::test]
    async fn memory_state_passes_the_suite() {
        run_all(&MemoryState::new()).await;
    }

    #[tokio::test]
    async fn memory_state_passes_the_campaign_suite() {
        run_all_campaign(&MemoryState::new()).await;
    }

    #[tokio::test]
    async fn suite_leaves_other_jobs_alone() {
        let store = MemoryState::new();
        let bystander = entry("INBOX", "1:1", "Inbox", Some("z"), LedgerState::Done);
        store
            .record("bystander", std::slice::from_ref(&bystander))
            .await
            .unwrap();
        run_all(&store).await;
        run_all(&store).await;
        assert_eq!(
            store
                .page("bystander", &FolderId::new("INBOX"), None, 10)
                .await
                .unwrap(),
            vec![bystander]
        );
    }

    #[test]
    fn entry_is_deterministic() {
        let a = entry("f", "12", "d", None, LedgerState::Done);
        assert_eq!(a, entry("f", "12", "d", None, LedgerState::Done));
        assert!(a.flags.contains(&Flag::Keyword("$Forwarded".into())));
        assert_ne!(a.hash, entry("f", "13", "d", None, LedgerState::Done).hash);
    }
}

//! The check every pass ends with: the copies this pass wrote, read back from the
//! destination, and cheap folder counts. It costs what changed plus one metadata listing of
//! each folder (no bodies); the full comparison is its own step (`migrate verify`, see
//! [`crate::full_verify`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use futures::{stream, StreamExt};
use mailmigrate_core::engine::{FolderPlan, SyncReport};
use mailmigrate_core::state::{ItemFailure, LedgerEntry, LedgerState, StateStore};
use mailmigrate_core::{
    Capabilities, Change, Flag, Flags, FolderId, FolderPath, MessageId, Provider, Result, Source,
    SpecialUse, Store,
};

use crate::run_ledger::RunLedger;

/// Rows looked up in the state store at once.
const LOOKUP_BATCH: usize = 512;
/// Bodies fetched back at once (the destination's own limit applies too).
const FETCH_BATCH: usize = 64;
/// Folders counted at once.
const COUNT_CONCURRENCY: usize = 4;
/// Problems listed in the text (the count stays exact).
const MAX_LISTED: usize = 50;

/// How many messages each of `folders` of `side` holds, one result per folder in order: the
/// provider's own count where it has a cheap one (IMAP pipelines one `STATUS` per folder),
/// otherwise a listing of [`COUNT_CONCURRENCY`] folders at once (metadata only).
async fn counts(side: &dyn Source, folders: &[FolderId]) -> Vec<Result<u64>> {
    if let Some(counts) = side.message_counts(folders).await {
        return counts;
    }
    stream::iter(folders)
        .map(|f| async move { listed_flags(side, f).await.map(|s| s.len() as u64) })
        .buffered(COUNT_CONCURRENCY)
        .collect()
        .await
}

/// What is wrong with one copy this pass wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The destination does not hold the copy the ledger records.
    Absent,
    /// The copy's bytes differ from what was written.
    ContentChanged,
    /// The copy lacks flags that were written.
    FlagsMissing(Vec<Flag>),
    /// The copy could not be read back.
    Unreadable(String),
}

/// One copy of this pass that the destination does not hold as written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The source folder.
    pub source: FolderPath,
    /// The source id.
    pub src_id: MessageId,
    /// The destination id the ledger records.
    pub dest_id: Option<MessageId>,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// One destination folder's message count against what its source folders hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FolderCount {
    /// The destination folder.
    pub target: FolderPath,
    /// Source messages that should be there: listed in its source folders, less those
    /// recorded as failed for good.
    pub expected: u64,
    /// Messages the destination lists in it.
    pub found: u64,
    /// Why the folder could not be counted, if it could not.
    pub error: Option<String>,
}

impl FolderCount {
    /// Whether the counts agree.
    pub fn agrees(&self) -> bool {
        self.error.is_none() && self.expected == self.found
    }
}

/// What the end-of-pass check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PassCheck {
    /// Copies written (or found and recorded) by this pass that were checked.
    pub checked: u64,
    /// Of those, the copies the destination holds as written.
    pub confirmed: u64,
    /// The copies it does not hold as written.
    pub problems: Vec<Problem>,
    /// Writes of this pass whose outcome is still unknown (pending in the ledger).
    pub unsettled: u64,
    /// Counts per destination folder of the completed folders.
    pub counts: Vec<FolderCount>,
    /// Why folder counts were not compared, when they were not.
    pub counts_skipped: Option<String>,
}

impl PassCheck {
    /// Differences found: copies not held as written, plus folders whose counts disagree.
    /// What could not be looked at is not a difference (see [`unchecked`](Self::unchecked)).
    pub fn differences(&self) -> u64 {
        let copies = self
            .problems
            .iter()
            .filter(|p| !matches!(p.kind, ProblemKind::Unreadable(_)))
            .count();
        let folders = self
            .counts
            .iter()
            .filter(|c| c.error.is_none() && !c.agrees())
            .count();
        (copies + folders) as u64
    }

    /// Copies that could not be read back and folders that could not be counted (the
    /// destination did not answer): the check is incomplete, and a rerun or `migrate
    /// verify` completes it.
    pub fn unchecked(&self) -> u64 {
        let copies = self
            .problems
            .iter()
            .filter(|p| matches!(p.kind, ProblemKind::Unreadable(_)))
            .count();
        let folders = self.counts.iter().filter(|c| c.error.is_some()).count();
        (copies + folders) as u64
    }
}

impl fmt::Display for PassCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Copies written by this pass: {} read back, {} as written, {} not.",
            self.checked,
            self.confirmed,
            self.problems.len()
        )?;
        for p in self.problems.iter().take(MAX_LISTED) {
            let dest = p
                .dest_id
                .as_ref()
                .map_or_else(|| "(no id)".to_owned(), ToString::to_string);
            let what = match &p.kind {
                ProblemKind::Absent => "absent at the destination".to_owned(),
                ProblemKind::ContentChanged => "changed (content)".to_owned(),
                ProblemKind::FlagsMissing(flags) => {
                    let names: Vec<String> = flags.iter().map(ToString::to_string).collect();
                    format!("changed (flags): lacks {}", names.join(" "))
                }
                ProblemKind::Unreadable(e) => format!("unreadable: {e}"),
            };
            writeln!(
                f,
                "  {}  source {} / dest {dest}  {what}",
                p.source, p.src_id
            )?;
        }
        if self.problems.len() > MAX_LISTED {
            writeln!(f, "  ({} more)", self.problems.len() - MAX_LISTED)?;
        }
        if self.unsettled > 0 {
            writeln!(
                f,
                "Writes of unknown outcome, looked up on the next run: {}.",
                self.unsettled
            )?;
        }
        if let Some(why) = &self.counts_skipped {
            writeln!(f, "Folder counts not compared: {why}.")?;
        } else {
            let agree = self.counts.iter().filter(|c| c.agrees()).count();
            writeln!(
                f,
                "Folder counts: {agree} of {} destination folders hold as many messages as their source.",
                self.counts.len()
            )?;
            for c in self.counts.iter().filter(|c| !c.agrees()) {
                match &c.error {
                    Some(e) => writeln!(f, "  {}  not counted: {e}", c.target)?,
                    None => writeln!(
                        f,
                        "  {}  source {} (without recorded failures), destination {}",
                        c.target, c.expected, c.found
                    )?,
                }
            }
        }
        Ok(())
    }
}

/// Checks what this pass wrote (the rows `ledger` saw recorded) against the destination,
/// and compares folder counts of the folders whose pass completed.
///
/// Counts are skipped when `filtered` (messages left out on purpose make them differ).
/// Each side counts a folder its cheapest way ([`Provider::message_counts`], else a listing).
///
/// # Errors
/// State store errors; destination and source errors are reported in the check instead.
#[allow(clippy::too_many_arguments)]
pub async fn check_pass(
    source: &dyn Source,
    dest: &Arc<dyn Store>,
    ledger: &RunLedger,
    job: &str,
    plan: &FolderPlan,
    report: &SyncReport,
    filtered: bool,
) -> Result<PassCheck> {
    let state = ledger.inner();
    let mut check = PassCheck::default();
    let mut listed = ListedFlags::default();
    let paths: HashMap<&FolderId, &FolderPath> = plan
        .copies()
        .map(|e| (&e.source.id, &e.source.path))
        .collect();
    for (folder, ids) in ledger.written() {
        let path = paths
            .get(&folder)
            .map_or_else(FolderPath::inbox, |p| (*p).clone());
        let ids: Vec<MessageId> = ids.into_iter().collect();
        for chunk in ids.chunks(LOOKUP_BATCH) {
            let rows = state.lookup(job, &folder, chunk).await?;
            let done: Vec<LedgerEntry> = rows
                .into_values()
                .filter(|r| {
                    let pending = r.state == LedgerState::Pending;
                    check.unsettled += u64::from(pending);
                    !pending
                })
                .collect();
            check_rows(dest.as_ref(), &path, done, &mut check, &mut listed).await;
        }
    }
    if filtered {
        check.counts_skipped = Some(
            "a filter leaves messages out on purpose; `migrate verify` compares messages".into(),
        );
    } else {
        check.counts = count_folders(source, dest.as_ref(), state, job, plan, report).await?;
    }
    Ok(check)
}

/// The flags of destination folders listed for a destination whose fetch carries none
/// ([`Capabilities::fetch_flags`] off): each folder listed once per check.
#[derive(Default)]
struct ListedFlags(HashMap<FolderId, std::result::Result<HashMap<MessageId, Flags>, String>>);

impl ListedFlags {
    async fn of(
        &mut self,
        dest: &dyn Store,
        folder: &FolderId,
    ) -> &std::result::Result<HashMap<MessageId, Flags>, String> {
        if !self.0.contains_key(folder) {
            let listed = listed_flags(dest, folder).await.map_err(|e| e.to_string());
            self.0.insert(folder.clone(), listed);
        }
        &self.0[folder]
    }
}

/// One folder's messages with their flags, from a listing (metadata only, no bodies).
async fn listed_flags(side: &dyn Source, folder: &FolderId) -> Result<HashMap<MessageId, Flags>> {
    let mut out = HashMap::new();
    let mut changes = side.list_changes(folder, None);
    while let Some(change) = changes.next().await {
        match change? {
            Change::Upsert(meta) => {
                out.insert(meta.id, meta.flags);
            }
            Change::Removed(id) => {
                out.remove(&id);
            }
            Change::Reset => out.clear(),
            _ => {}
        }
    }
    Ok(out)
}

/// Reads back done rows (all from one source folder) and records what they show.
async fn check_rows(
    dest: &dyn Store,
    source: &FolderPath,
    rows: Vec<LedgerEntry>,
    check: &mut PassCheck,
    listed: &mut ListedFlags,
) {
    let caps = Provider::info(dest).capabilities;
    let compares_flags = caps.append_with_flags && caps.update_flags;
    let no_flags = Flags::new();
    let mut by_folder: BTreeMap<FolderId, Vec<LedgerEntry>> = BTreeMap::new();
    for row in rows {
        by_folder
            .entry(row.dest_folder.clone())
            .or_default()
            .push(row);
    }
    let problem = |row: &LedgerEntry, kind| Problem {
        source: source.clone(),
        src_id: row.src_id.clone(),
        dest_id: row.dest_id.clone(),
        kind,
    };
    for (folder, rows) in by_folder {
        check.checked += rows.len() as u64;
        let (with_id, without_id): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|r| r.dest_id.is_some());
        let folder_flags = if compares_flags && !caps.fetch_flags {
            Some(listed.of(dest, &folder).await.clone())
        } else {
            None
        };
        for row in without_id {
            match dest.find_existing(&folder, &row.dedupe_key()).await {
                Ok(found) if !found.is_empty() => check.confirmed += 1,
                Ok(_) => check.problems.push(problem(&row, ProblemKind::Absent)),
                Err(e) => check
                    .problems
                    .push(problem(&row, ProblemKind::Unreadable(e.to_string()))),
            }
        }
        let cap = Provider::info(dest).capabilities.fetch_batch_max;
        let batch = if cap > 0 {
            FETCH_BATCH.min(cap)
        } else {
            FETCH_BATCH
        };
        for chunk in with_id.chunks(batch) {
            let mut wanted: HashMap<MessageId, &LedgerEntry> = chunk
                .iter()
                .filter_map(|r| Some((r.dest_id.clone()?, r)))
                .collect();
            let ids: Vec<MessageId> = wanted.keys().cloned().collect();
            let mut fetched = Source::fetch(dest, &folder, ids);
            while let Some((id, result)) = fetched.next().await {
                let Some(row) = wanted.remove(&id) else {
                    continue;
                };
                let kind = match (result, &folder_flags) {
                    (Ok(msg), None) => compare_copy(row, &msg.bytes, &msg.meta.flags, &caps),
                    (Ok(msg), Some(Ok(flags))) => {
                        compare_copy(row, &msg.bytes, flags.get(&id).unwrap_or(&no_flags), &caps)
                    }
                    (Ok(_), Some(Err(e))) => Some(ProblemKind::Unreadable(format!(
                        "the folder's flags could not be listed: {e}"
                    ))),
                    (Err(e), _) if e.kind() == mailmigrate_core::ErrorKind::NotFound => {
                        Some(ProblemKind::Absent)
                    }
                    (Err(e), _) => Some(ProblemKind::Unreadable(e.to_string())),
                };
                match kind {
                    None => check.confirmed += 1,
                    Some(k) => check.problems.push(problem(row, k)),
                }
            }
            for row in wanted.into_values() {
                check.problems.push(problem(row, ProblemKind::Absent));
            }
        }
    }
}

/// What is wrong with a copy read back, if anything.
fn compare_copy(
    row: &LedgerEntry,
    bytes: &[u8],
    flags: &Flags,
    caps: &Capabilities,
) -> Option<ProblemKind> {
    if caps.byte_exact && mailmigrate_core::ContentHash::of(bytes) != row.hash {
        return Some(ProblemKind::ContentChanged);
    }
    if !(caps.append_with_flags && caps.update_flags) {
        return None;
    }
    let lacking: Vec<Flag> = row
        .flags
        .iter()
        .filter(|f| caps.append_with_keywords || !f.is_keyword())
        .filter(|f| !flags.contains(f))
        .cloned()
        .collect();
    (!lacking.is_empty()).then_some(ProblemKind::FlagsMissing(lacking))
}

/// Counts every destination folder of the plan whose source folders all completed.
///
/// A source folder with messages recorded as failed for good is listed (those messages are
/// not expected at the destination, and only a listing tells which of them the folder still
/// holds); any other folder is counted by [`counts`].
async fn count_folders(
    source: &dyn Source,
    dest: &dyn Store,
    state: &Arc<dyn StateStore>,
    job: &str,
    plan: &FolderPlan,
    report: &SyncReport,
) -> Result<Vec<FolderCount>> {
    let complete: HashSet<&FolderPath> = report
        .folders
        .iter()
        .filter(|f| f.complete)
        .map(|f| &f.source)
        .collect();
    let mut groups: BTreeMap<&FolderPath, Vec<&FolderId>> = BTreeMap::new();
    let mut incomplete: HashSet<&FolderPath> = HashSet::new();
    for e in plan.copies() {
        groups.entry(&e.target).or_default().push(&e.source.id);
        if !complete.contains(&e.source.path) {
            incomplete.insert(&e.target);
        }
    }
    let failed: HashSet<(FolderId, MessageId)> = state
        .failures(job)
        .await?
        .into_iter()
        .filter(|f: &ItemFailure| f.final_for_item)
        .map(|f| (f.src_folder, f.src_id))
        .collect();
    let failed_in: HashSet<&FolderId> = failed.iter().map(|(f, _)| f).collect();
    // A destination that cannot list its folders leaves every folder uncounted (reported
    // per folder like any other count error), not the whole pass without its report.
    let dest_folders = dest
        .list_folders()
        .await
        .map_err(|e| format!("the destination's folders could not be listed: {e}"));
    // A destination may store a folder under another name than the plan's (Gmail renames
    // label names it reserves, `Archive` → `_Archive`): the folder the engine wrote to is
    // the one `ensure_folder` answers for the plan's path, as it answered the engine.
    // One that answers a folder holding every message (Gmail's All Mail, for an `Archive`)
    // is not counted: its count is the whole mailbox's.
    let mut stored_as: HashMap<&FolderPath, FolderId> = HashMap::new();
    let mut holds_all: HashSet<&FolderPath> = HashSet::new();
    if let Ok(list) = &dest_folders {
        for e in plan.copies() {
            let listed = list.iter().any(|d| d.path == e.target);
            if listed || incomplete.contains(&e.target) || stored_as.contains_key(&e.target) {
                continue;
            }
            if let Ok(f) = dest.ensure_folder(&e.target, e.role).await {
                let role = list.iter().find(|d| d.id == f.id).and_then(|d| d.role);
                if role.is_some_and(SpecialUse::is_virtual) {
                    holds_all.insert(&e.target);
                }
                stored_as.insert(&e.target, f.id);
            }
        }
    }
    let groups: Vec<(
        &FolderPath,
        Vec<&FolderId>,
        std::result::Result<FolderId, String>,
    )> = groups
        .into_iter()
        .filter(|(t, _)| !incomplete.contains(t) && !holds_all.contains(t))
        .map(|(target, sources)| {
            let dest_id = dest_folders
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|list| {
                    list.iter()
                        .find(|d| &d.path == target)
                        .map(|d| d.id.clone())
                        .or_else(|| stored_as.get(target).cloned())
                        .ok_or_else(|| "the destination has no such folder".to_owned())
                });
            (target, sources, dest_id)
        })
        .collect();
    // Every count of a side at once: one round trip per side for IMAP.
    let dest_ids: Vec<FolderId> = groups
        .iter()
        .filter_map(|(_, _, d)| d.as_ref().ok().cloned())
        .collect();
    let counted_sources: Vec<FolderId> = groups
        .iter()
        .flat_map(|(_, sources, _)| sources.iter())
        .filter(|f| !failed_in.contains(*f))
        .map(|f| (*f).clone())
        .collect();
    let (found, expected) =
        futures::join!(counts(dest, &dest_ids), counts(source, &counted_sources));
    let found: HashMap<&FolderId, Result<u64>> = dest_ids.iter().zip(found).collect();
    let mut expected: HashMap<&FolderId, Result<u64>> =
        counted_sources.iter().zip(expected).collect();
    // A folder with messages failed for good is listed: only a listing tells which of
    // them it still holds.
    for folder in groups
        .iter()
        .flat_map(|(_, sources, _)| sources.iter())
        .filter(|f| failed_in.contains(**f))
    {
        let n = listed_flags(source, folder).await.map(|ids| {
            ids.keys()
                .filter(|id| !failed.contains(&((*folder).clone(), (*id).clone())))
                .count() as u64
        });
        expected.insert(folder, n);
    }
    let mut counts = Vec::with_capacity(groups.len());
    for (target, sources, dest_id) in &groups {
        let mut count = FolderCount {
            target: (*target).clone(),
            expected: 0,
            found: 0,
            error: None,
        };
        let dest_id = match dest_id {
            Ok(id) => id,
            Err(e) => {
                count.error = Some(e.clone());
                counts.push(count);
                continue;
            }
        };
        let mut source_error = None;
        for folder in sources {
            match expected.get(*folder) {
                Some(Ok(n)) => count.expected += n,
                Some(Err(e)) => source_error = Some(e.to_string()),
                None => source_error = Some("not counted".into()),
            }
        }
        match found.get(dest_id) {
            Some(Ok(n)) => count.found = *n,
            Some(Err(e)) => count.error = Some(e.to_string()),
            None => count.error = Some("not counted".into()),
        }
        if source_error.is_some() {
            count.error = source_error;
        }
        counts.push(count);
    }
    Ok(counts)
}

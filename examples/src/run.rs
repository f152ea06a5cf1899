//! Running a job (or the bundled demo) and collecting what its verdict is decided from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;

use mailmigrate_core::engine::{Engine, EventSink, Filter, FolderPlan, SyncOptions, SyncReport};
use mailmigrate_core::state::StateStore;
use mailmigrate_core::{Destination, Error, ErrorKind, Operation, Provider, Result, Source, Store};

use crate::demo;
use crate::full_verify::{self, FullVerification};
use crate::pass_check::{self, PassCheck};
use crate::run_ledger::RunLedger;
use crate::verdict::Findings;

/// What a pass produced.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// The folder plan the run followed.
    pub plan: FolderPlan,
    /// The engine's report.
    pub report: SyncReport,
    /// The check of what the pass wrote, unless it was a dry run.
    pub check: Option<PassCheck>,
}

impl Outcome {
    /// What the verdict is decided from, tolerating `tolerated` final failures of kind
    /// `InvalidMessage` (the demo's planted malformed messages).
    pub fn findings(&self, tolerated: usize) -> Findings {
        let mut f = Findings::of_report(&self.report, tolerated);
        if let Some(check) = &self.check {
            f.differences += check.differences();
            f.unchecked += check.unchecked();
            // The check counts every pending row, the uncheckable ones too.
            let pending = f.unsettled + f.uncheckable;
            f.unsettled += check.unsettled.saturating_sub(pending);
        }
        f
    }
}

fn is_filtered(filter: &Filter) -> bool {
    filter != &Filter::default()
}

fn engine_for(
    source: &Arc<dyn Store>,
    dest: &Arc<dyn Store>,
    state: Arc<dyn StateStore>,
    options: SyncOptions,
) -> Engine {
    let src: Arc<dyn Source> = Arc::<dyn Store>::clone(source);
    let dst: Arc<dyn Destination> = Arc::<dyn Store>::clone(dest);
    Engine::new(src, dst, state).with_options(options)
}

/// Plans, runs one pass, and checks what it wrote (skipped on a dry run): the copies of
/// this pass read back from the destination, and folder counts (by listing each folder;
/// a provider with a cheaper count, such as IMAP's `STATUS`, uses it). See [`pass_check`].
///
/// # Errors
/// As [`Engine::run`] and [`pass_check::check_pass`].
pub async fn run_job(
    source: Arc<dyn Store>,
    dest: Arc<dyn Store>,
    state: Arc<dyn StateStore>,
    options: SyncOptions,
    events: impl EventSink,
) -> Result<Outcome> {
    let dry_run = options.dry_run;
    let job = options.job.clone();
    let filtered = is_filtered(&options.filter);
    let ledger = Arc::new(RunLedger::new(state));
    let engine = engine_for(
        &source,
        &dest,
        Arc::clone(&ledger) as Arc<dyn StateStore>,
        options,
    )
    .with_events(events);
    let plan = engine.plan().await?;
    let report = engine.run_plan(&plan).await?;
    let check = if dry_run {
        None
    } else {
        Some(
            pass_check::check_pass(
                source.as_ref(),
                &dest,
                &ledger,
                &job,
                &plan,
                &report,
                filtered,
            )
            .await?,
        )
    };
    Ok(Outcome {
        plan,
        report,
        check,
    })
}

/// What `migrate verify` produced.
#[derive(Debug)]
#[non_exhaustive]
pub struct VerifyOutcome {
    /// The full comparison.
    pub verification: FullVerification,
    /// The job's recorded failures.
    pub failures: Vec<mailmigrate_core::state::ItemFailure>,
}

impl VerifyOutcome {
    /// What the verdict is decided from (see [`Outcome::findings`] for `tolerated`).
    pub fn findings(&self, tolerated: usize) -> Findings {
        let mut f = Findings {
            differences: self.verification.report.differences(),
            unsettled: self.verification.pending,
            ..Findings::default()
        };
        f.add_failures(&self.failures, tolerated);
        f
    }
}

/// Plans the job (writing nothing) and compares every copied folder in full. See
/// [`full_verify::verify`].
///
/// # Errors
/// Planning, listing or state errors.
pub async fn verify_job(
    source: Arc<dyn Store>,
    dest: Arc<dyn Store>,
    state: Arc<dyn StateStore>,
    options: SyncOptions,
) -> Result<VerifyOutcome> {
    let job = options.job.clone();
    let labels = options.mapping.labels;
    let plan = engine_for(&source, &dest, Arc::clone(&state), options)
        .plan()
        .await?;
    let verification = full_verify::verify(&source, &dest, &state, &job, &plan, labels).await?;
    let failures = state.failures(&job).await?;
    Ok(VerifyOutcome {
        verification,
        failures,
    })
}

/// Where the demo keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DemoPaths {
    /// The generated source mailbox (Maildir).
    pub source: PathBuf,
    /// The destination Maildir.
    pub dest: PathBuf,
    /// The SQLite state file.
    pub state: PathBuf,
    /// Written once the source is completely generated.
    pub marker: PathBuf,
}

impl DemoPaths {
    /// The demo's layout under `root` (the CLI uses `target/mailmigrate-demo`).
    pub fn under(root: &Path) -> Self {
        Self {
            source: root.join("source-maildir"),
            dest: root.join("maildir"),
            state: root.join("state.sqlite"),
            marker: root.join("source-maildir.complete"),
        }
    }

    /// The source store URL.
    pub fn source_url(&self) -> String {
        format!("maildir://{}", self.source.display())
    }

    /// The destination store URL.
    pub fn dest_url(&self) -> String {
        format!("maildir://{}", self.dest.display())
    }
}

/// Fills `store` with the demo corpus unless it already holds it. Returns how many
/// messages were generated (0 when the source was there already).
///
/// # Errors
/// `ConfigInvalid` when the store holds folders but the completion marker is missing (a
/// generation was interrupted: delete the directory); store errors.
pub async fn ensure_demo_source(
    store: &Arc<dyn Store>,
    maildir_root: Option<&Path>,
    marker: &Path,
    seed: u64,
    n: usize,
) -> Result<usize> {
    if marker.exists() {
        return Ok(0);
    }
    // A store may list an empty inbox from the start: only messages betray a generation
    // that was interrupted.
    let mut holds_mail = false;
    for folder in Provider::list_folders(store.as_ref()).await? {
        let mut listing = store.list_changes(&folder.id, None);
        if let Some(Ok(mailmigrate_core::Change::Upsert(_))) = listing.next().await {
            holds_mail = true;
            break;
        }
    }
    if holds_mail {
        return Err(Error::new(
            ErrorKind::ConfigInvalid,
            "the demo source exists but was not completely generated; delete its directory",
        )
        .with_operation(Operation::Build)
        .with_context("marker", marker.display()));
    }
    let mut ids = std::collections::HashMap::new();
    for (path, role) in demo::demo_folders() {
        let f = store.ensure_folder(&path, role).await?;
        ids.insert(path, f.id);
    }
    // Append in bounded batches per folder, so memory stays flat.
    const BATCH: usize = 128;
    let mut pending: std::collections::HashMap<_, Vec<_>> = std::collections::HashMap::new();
    let mut count = 0;
    for (i, (path, _, msg)) in demo::demo_messages(seed, n).enumerate() {
        if demo::is_malformed(i) {
            // No well-behaved store accepts these through `append`: they stand for files
            // damaged on disk, so they are planted as files where a Maildir keeps mail.
            if let Some(root) = maildir_root {
                plant_raw(root, &ids[&path], &msg)?;
                count += 1;
            }
            continue;
        }
        let batch = pending.entry(path.clone()).or_default();
        batch.push(msg);
        count += 1;
        if batch.len() >= BATCH {
            let batch = std::mem::take(batch);
            append_all(store, &ids[&path], batch).await?;
        }
    }
    for (path, batch) in pending {
        if !batch.is_empty() {
            append_all(store, &ids[&path], batch).await?;
        }
    }
    if let Some(parent) = marker.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(e, parent))?;
    }
    std::fs::write(marker, format!("{count} demo messages, seed {seed:#x}\n"))
        .map_err(|e| io_error(e, marker))?;
    Ok(count)
}

/// Writes a message as a file in a Maildir folder's `cur/`, bypassing the store.
fn plant_raw(
    root: &Path,
    folder: &mailmigrate_core::FolderId,
    msg: &mailmigrate_core::RawMessage,
) -> Result<()> {
    let dir = mailmigrate_core::store::MaildirStore::open(root)?.folder_dir(folder)?;
    let file = dir.join("cur").join(format!("{}.demo:2,S", msg.meta.id));
    std::fs::write(&file, &msg.bytes).map_err(|e| io_error(e, &file))
}

async fn append_all(
    store: &Arc<dyn Store>,
    folder: &mailmigrate_core::FolderId,
    batch: Vec<mailmigrate_core::RawMessage>,
) -> Result<()> {
    for r in store.append(folder, batch).await? {
        r?;
    }
    Ok(())
}

fn io_error(e: std::io::Error, path: &Path) -> Error {
    Error::new(ErrorKind::Unavailable, "cannot write the demo files")
        .with_operation(Operation::Build)
        .with_context("path", path.display())
        .with_source(e)
}

/// The number of failures the demo expects: its empty message, which exists only in a
/// Maildir source (planted as a file) and which no destination stores. (The headerless one
/// travels byte-exact.)
pub fn demo_expected_failures(n: usize, maildir_source: bool) -> usize {
    if maildir_source {
        (0..n).filter(|&i| demo::is_empty_message(i)).count()
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores;
    use crate::verdict::Verdict;
    use mailmigrate_core::engine::Event;
    use mailmigrate_core::state::MemoryState;
    use mailmigrate_core::store::MemoryStore;

    #[tokio::test]
    async fn demo_migrates_then_second_pass_moves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let paths = DemoPaths::under(dir.path());
        let open = || async {
            let source = stores::open_store(&paths.source_url()).await.unwrap();
            let dest = stores::open_store(&paths.dest_url()).await.unwrap();
            let state = stores::open_state(&paths.state).unwrap();
            (source, dest, state)
        };
        let (source, dest, state) = open().await;
        let n = 1_200;
        let generate = |source| {
            let paths = paths.clone();
            async move {
                ensure_demo_source(&source, Some(&paths.source), &paths.marker, 5, n)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(generate(Arc::clone(&source)).await, n);
        assert_eq!(generate(Arc::clone(&source)).await, 0);

        let expected = demo_expected_failures(n, true);
        assert_eq!(expected, 1);
        let first = run_job(
            source,
            dest,
            state,
            SyncOptions::new("demo"),
            |_: &Event| {},
        )
        .await
        .unwrap();
        let t = first.report.totals;
        assert_eq!(t.copied as usize, n - expected);
        assert_eq!(t.failed as usize, expected);
        assert!(first
            .report
            .failures
            .iter()
            .all(|f| f.kind == ErrorKind::InvalidMessage));
        let check = first.check.as_ref().unwrap();
        assert_eq!(check.differences(), 0, "{check}");
        assert_eq!(
            check.checked as usize,
            n - expected,
            "every copy is read back"
        );
        assert_eq!(check.confirmed, check.checked);
        assert!(check.counts.iter().all(|c| c.agrees()), "{check}");
        assert_eq!(first.findings(expected).verdict(), Verdict::Complete);
        assert_eq!(first.findings(0).verdict(), Verdict::Refused);

        // A second process: everything reopened from disk.
        let (source, dest, state) = open().await;
        let second = run_job(
            source,
            dest,
            state,
            SyncOptions::new("demo"),
            |_: &Event| {},
        )
        .await
        .unwrap();
        assert!(second.report.totals.moved_nothing());
        assert_eq!(second.report.totals.failed, 0);
        assert_eq!(second.report.totals.previously_failed as usize, expected);
        assert!(
            second.report.to_string().contains("Nothing to do"),
            "{}",
            second.report
        );
        let check = second.check.as_ref().unwrap();
        assert_eq!(
            check.checked, 0,
            "a pass that wrote nothing reads nothing back"
        );
        assert_eq!(check.differences(), 0, "{check}");
        assert_eq!(second.findings(expected).verdict(), Verdict::Complete);

        // The full comparison, its own step, agrees and names the recorded failures.
        let (source, dest, state) = open().await;
        let full = verify_job(source, dest, state, SyncOptions::new("demo"))
            .await
            .unwrap();
        let c = full.verification.report.totals.counts;
        assert_eq!((c.failed as usize, c.missing), (expected, 0));
        assert!(
            full.verification.report.is_clean(),
            "{}",
            full.verification.report
        );
        assert_eq!(full.findings(expected).verdict(), Verdict::Complete);
        assert_eq!(full.findings(0).verdict(), Verdict::Refused);
    }

    #[tokio::test]
    async fn interrupted_generation_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new("x"));
        let inbox = store
            .ensure_folder(&mailmigrate_core::FolderPath::inbox(), None)
            .await
            .unwrap()
            .id;
        // A generation that died after its first batch: mail, but no completion marker.
        let (_, _, msg) = demo::demo_messages(1, 1).next().unwrap();
        store.append(&inbox, vec![msg]).await.unwrap();
        let e = ensure_demo_source(&store, None, &dir.path().join("marker"), 1, 10)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    }

    #[tokio::test]
    async fn dry_run_writes_nothing_and_checks_nothing() {
        let source: Arc<dyn Store> = Arc::new(MemoryStore::new("s"));
        let dest = MemoryStore::new("d");
        let dir = tempfile::tempdir().unwrap();
        ensure_demo_source(&source, None, &dir.path().join("m"), 9, 100)
            .await
            .unwrap();
        let out = run_job(
            source,
            Arc::new(dest.clone()),
            Arc::new(MemoryState::new()),
            SyncOptions::new("dry").with_dry_run(true),
            |_: &Event| {},
        )
        .await
        .unwrap();
        assert_eq!(dest.message_count(), 0);
        assert_eq!(out.report.totals.copied, 100);
        assert!(out.check.is_none());
    }
}

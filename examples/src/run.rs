//! Running a job (or the bundled demo) and turning its outcome into an exit code.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;

use mailmigrate_core::engine::{Engine, EventSink, FolderPlan, SyncOptions, SyncReport};
use mailmigrate_core::state::StateStore;
use mailmigrate_core::{Destination, Error, ErrorKind, Operation, Result, Source, Store};

use crate::demo;
use crate::stores::{self, Verification};

/// Exit code: the run completed and every message is at the destination.
pub const EXIT_OK: u8 = 0;
/// Exit code: the job could not start (bad config, unknown scheme, unreachable store,
/// unreadable state).
pub const EXIT_ERROR: u8 = 1;
/// Exit code: some folder stopped early; run again to resume from its checkpoint.
pub const EXIT_INCOMPLETE: u8 = 2;
/// Exit code: the run completed but some messages failed (listed in the report).
pub const EXIT_FAILURES: u8 = 3;
/// Exit code: verification found a migrated message missing or different.
pub const EXIT_VERIFY_FAILED: u8 = 4;

/// What a run produced.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// The folder plan the run followed.
    pub plan: FolderPlan,
    /// The engine's report.
    pub report: SyncReport,
    /// The verification, unless it was a dry run.
    pub verification: Option<Verification>,
}

impl Outcome {
    /// The exit code, tolerating `expected_failures` failures of kind `InvalidMessage`
    /// (the demo's planted malformed messages). The worst condition wins:
    /// verification failure, then incomplete folders, then item failures.
    ///
    /// ```
    /// use mailmigrate_examples::run::{EXIT_OK, EXIT_FAILURES};
    /// # let _ = (EXIT_OK, EXIT_FAILURES);
    /// ```
    pub fn exit_code(&self, expected_failures: usize) -> u8 {
        if self.verification.as_ref().is_some_and(|v| !v.is_clean()) {
            return EXIT_VERIFY_FAILED;
        }
        if !self.report.is_complete() {
            return EXIT_INCOMPLETE;
        }
        let failures = &self.report.failures;
        let only_expected = failures.len() == expected_failures
            && failures.iter().all(|f| f.kind == ErrorKind::InvalidMessage);
        if failures.is_empty() || (expected_failures > 0 && only_expected) {
            EXIT_OK
        } else {
            EXIT_FAILURES
        }
    }
}

/// Plans, runs one pass and verifies it (verification is skipped on a dry run).
///
/// # Errors
/// As [`Engine::run`] and [`stores::verify`].
pub async fn run_job(
    source: Arc<dyn Store>,
    dest: Arc<dyn Store>,
    state: Arc<dyn StateStore>,
    options: SyncOptions,
    events: impl EventSink,
) -> Result<Outcome> {
    let dry_run = options.dry_run;
    let job = options.job.clone();
    let src: Arc<dyn Source> = Arc::<dyn Store>::clone(&source);
    let dst: Arc<dyn Destination> = Arc::<dyn Store>::clone(&dest);
    let engine = Engine::new(src, dst, Arc::clone(&state))
        .with_options(options)
        .with_events(events);
    let plan = engine.plan().await?;
    let report = engine.run_plan(&plan).await?;
    let verification = if dry_run {
        None
    } else {
        Some(stores::verify(&source, &dest, &state, &job, &plan).await?)
    };
    Ok(Outcome {
        plan,
        report,
        verification,
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
    for folder in Source::list_folders(store.as_ref()).await? {
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

/// The number of failures the demo expects: its empty message, which the destination
/// refuses and which exists only in a Maildir source (planted as a file).
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
        let v = first.verification.as_ref().unwrap();
        assert!(v.is_clean(), "{v}");
        assert_eq!(v.explained as usize, expected);
        assert_eq!(first.exit_code(expected), EXIT_OK);
        assert_eq!(first.exit_code(0), EXIT_FAILURES);

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
        assert!(second.verification.as_ref().unwrap().is_clean());
        assert_eq!(second.exit_code(expected), EXIT_OK);
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
    async fn dry_run_writes_nothing_and_skips_verification() {
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
        assert!(out.verification.is_none());
    }
}

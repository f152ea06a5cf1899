//! The exactly-once promise under every form of failure the backends produce, one test per
//! way it was found broken: per-item lost replies, unknown outcomes that did not happen, a
//! server still committing a dead connection's upload, transient refusals, repeated ids in
//! one listing, pending rows whose source item cannot be read, destination folders deleted
//! between passes, destination-side flag changes during coexistence, and plans that would
//! silently copy the wrong set.
//!
//! Each test looks for the duplicate or the loss: it counts what the destination holds, not
//! what the report says.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use mailmigrate_core::engine::{Engine, SyncOptions, SyncReport};
use mailmigrate_core::layer::{Fault, FaultLayer, Stack, Trigger};
use mailmigrate_core::state::{LedgerEntry, LedgerState, MemoryState, SqliteState, StateStore};
use mailmigrate_core::store::{MaildirStore, MemoryStore};
use mailmigrate_core::{
    Appended, Capabilities, Change, Checkpoint, ContentHash, DedupeKey, Destination, EnsuredFolder,
    Error, ErrorKind, ExistingCopy, Flag, FlagChange, Flags, Folder, FolderId, FolderPath,
    ItemResult, MessageId, MessageMeta, Operation, Provider, ProviderInfo, RawMessage, Result,
    Source, SpecialUse,
};

fn msg(folder: &FolderId, n: u32, flags: &[Flag]) -> RawMessage {
    // Every fourth message has no Message-ID: only its content can find it again.
    let mid = if n.is_multiple_of(4) {
        String::new()
    } else {
        format!("Message-ID: <{n}@exactly.once>\r\n")
    };
    let bytes = format!("{mid}Subject: message {n}\r\n\r\nbody {n}\r\n");
    RawMessage::new(
        MessageMeta::new(MessageId::new(n.to_string()), folder.clone())
            .with_flags(flags.iter().cloned().collect()),
        Bytes::from(bytes),
    )
}

async fn fill(store: &MemoryStore, path: &str, range: std::ops::Range<u32>) -> FolderId {
    let f = store
        .ensure_folder(&FolderPath::parse(path, '/').unwrap(), None)
        .await
        .unwrap()
        .id;
    let batch: Vec<RawMessage> = range.map(|n| msg(&f, n, &[Flag::Seen])).collect();
    for r in store.append(&f, batch).await.unwrap() {
        r.unwrap();
    }
    f
}

fn options() -> SyncOptions {
    SyncOptions::new("t")
        .with_batch_size(16)
        .with_settle_grace(Duration::ZERO)
}

/// Runs one pass and checks that it completed.
async fn run_complete(
    src: Arc<dyn Source>,
    dst: Arc<dyn Destination>,
    state: &Arc<dyn StateStore>,
    opts: SyncOptions,
) -> SyncReport {
    let r = run_with(src, dst, state, opts).run().await.unwrap();
    assert!(r.is_complete(), "{r}");
    r
}

fn run_with(
    src: Arc<dyn Source>,
    dst: Arc<dyn Destination>,
    state: &Arc<dyn StateStore>,
    opts: SyncOptions,
) -> Engine {
    Engine::new(src, dst, Arc::clone(state)).with_options(opts)
}

/// `dest` with its appends failing per item, for the items `trigger` picks, with `fault`
/// (the form the IMAP backend reports a lost reply or a refusal in).
fn failing_appends(dest: impl Destination, trigger: Trigger, fault: Fault) -> Arc<dyn Destination> {
    Stack::new(dest)
        .layer(FaultLayer::new().fail_items(Operation::Append, trigger, fault))
        .into_destination()
}

/// Content hash → how many copies the folder holds.
fn census(store: &MemoryStore, folder: &str) -> BTreeMap<ContentHash, usize> {
    let mut out = BTreeMap::new();
    for m in store.messages(&FolderId::new(folder)).unwrap_or_default() {
        *out.entry(m.content_hash()).or_default() += 1;
    }
    out
}

fn assert_equal(src: &MemoryStore, dst: &MemoryStore, folder: &str) {
    let (want, got) = (census(src, folder), census(dst, folder));
    let dups: Vec<_> = got.iter().filter(|(h, n)| want.get(h) < Some(n)).collect();
    let lost: Vec<_> = want.iter().filter(|(h, n)| got.get(h) < Some(n)).collect();
    assert!(
        dups.is_empty() && lost.is_empty(),
        "{folder}: {} duplicated, {} lost",
        dups.len(),
        lost.len()
    );
}

async fn no_pending(state: &Arc<dyn StateStore>, folder: &str) {
    let p = state.pending("t", &FolderId::new(folder)).await.unwrap();
    assert!(p.is_empty(), "{} rows still pending", p.len());
}

/// A lost reply reported per item (the IMAP backend's form of a connection lost after the
/// literal) is settled by a look-up at the end of the same pass, not counted as a
/// rejection and appended again.
#[tokio::test]
async fn per_item_lost_replies_are_settled_not_rewritten() {
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..200).await;
    let dst = MemoryStore::new("dst");
    let lossy = failing_appends(
        dst.clone(),
        Trigger::every(7),
        Fault::permanent(ErrorKind::Unavailable).after_call(),
    );
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let r = run_complete(Arc::new(src.clone()), lossy, &state, options()).await;
    assert_eq!(r.totals.failed, 0, "{r}");
    assert_equal(&src, &dst, "INBOX");
    no_pending(&state, "INBOX").await;
    let again = run_with(
        Arc::new(src.clone()),
        Arc::new(dst.clone()),
        &state,
        options(),
    )
    .run()
    .await
    .unwrap();
    assert!(again.totals.moved_nothing(), "{again}");
    assert_equal(&src, &dst, "INBOX");
}

/// A write reported as of unknown outcome that did not happen is found missing after the
/// grace period and written exactly once, in the same run.
#[tokio::test]
async fn unknown_outcomes_that_did_not_happen_are_written_once() {
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..100).await;
    let dst = MemoryStore::new("dst");
    let lossy = failing_appends(
        dst.clone(),
        Trigger::every(5),
        Fault::permanent(ErrorKind::Unavailable).unknown_outcome(),
    );
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let r = run_with(Arc::new(src.clone()), lossy, &state, options())
        .run()
        .await
        .unwrap();
    // The second listing, which copies the writes that did not happen, is not counted as
    // listing the folder twice.
    assert_eq!(r.totals.listed, 100, "{r}");
    assert!(r.totals.unchanged <= 100 - r.totals.copied, "{r}");
    // The second listing hits the fault rule again for some items; a third run is healthy.
    let r2 = run_with(
        Arc::new(src.clone()),
        Arc::new(dst.clone()),
        &state,
        options(),
    )
    .run()
    .await
    .unwrap();
    assert!(r2.is_complete(), "{r}\n{r2}");
    assert_equal(&src, &dst, "INBOX");
    no_pending(&state, "INBOX").await;
}

/// A memory store whose appends go through a hook (everything else is the store's own): a
/// destination that misbehaves in one way only.
#[derive(Debug, Clone)]
struct Hooked<H> {
    inner: MemoryStore,
    hook: H,
}

/// What a [`Hooked`] store does on append instead of appending plainly.
#[async_trait]
trait AppendHook: std::fmt::Debug + Send + Sync + 'static {
    async fn append(
        &self,
        inner: &MemoryStore,
        f: &FolderId,
        m: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>>;
}

#[async_trait]
impl<H: AppendHook> Provider for Hooked<H> {
    fn info(&self) -> &ProviderInfo {
        Provider::info(&self.inner)
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        Provider::list_folders(&self.inner).await
    }
}

#[async_trait]
impl<H: AppendHook> Destination for Hooked<H> {
    async fn ensure_folder(&self, p: &FolderPath, r: Option<SpecialUse>) -> Result<EnsuredFolder> {
        self.inner.ensure_folder(p, r).await
    }
    async fn append(&self, f: &FolderId, m: Vec<RawMessage>) -> Result<Vec<Result<Appended>>> {
        self.hook.append(&self.inner, f, m).await
    }
    async fn update_flags(&self, f: &FolderId, id: &MessageId, c: &FlagChange) -> Result<()> {
        self.inner.update_flags(f, id, c).await
    }
    async fn find_existing(&self, f: &FolderId, k: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        self.inner.find_existing(f, k).await
    }
    async fn delete(&self, f: &FolderId, ids: &[MessageId]) -> Result<()> {
        self.inner.delete(f, ids).await
    }
}

/// Makes an upload visible only some time after the connection that sent it died (a server
/// still committing a killed client's MULTIAPPEND).
#[derive(Debug, Clone)]
struct LateCommit {
    /// How many more appends are answered "unknown" and committed late.
    late: Arc<Mutex<usize>>,
    delay: Duration,
}

#[async_trait]
impl AppendHook for LateCommit {
    async fn append(
        &self,
        inner: &MemoryStore,
        f: &FolderId,
        m: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let late = {
            let mut g = self.late.lock().unwrap();
            let n = (*g).min(m.len());
            *g -= n;
            n
        };
        let (late_msgs, now): (Vec<_>, Vec<_>) =
            m.into_iter().enumerate().partition(|(i, _)| *i < late);
        let late_msgs: Vec<RawMessage> = late_msgs.into_iter().map(|(_, m)| m).collect();
        let now: Vec<RawMessage> = now.into_iter().map(|(_, m)| m).collect();
        if !late_msgs.is_empty() {
            let (inner, folder, delay) = (inner.clone(), f.clone(), self.delay);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                inner.append(&folder, late_msgs).await.unwrap();
            });
        }
        let mut out: Vec<Result<Appended>> = (0..late)
            .map(|_| Err(Error::new(ErrorKind::Unavailable, "connection lost").outcome_unknown()))
            .collect();
        out.extend(inner.append(f, now).await?);
        Ok(out)
    }
}

/// A look-up that finds nothing is not the last word while the server may still be
/// writing: the final look-up waits for the grace period, and the late copy is recognised
/// instead of written a second time.
#[tokio::test(start_paused = true)]
async fn a_late_commit_within_the_grace_period_is_not_duplicated() {
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..40).await;
    let dst = MemoryStore::new("dst");
    let late = Hooked {
        inner: dst.clone(),
        hook: LateCommit {
            late: Arc::new(Mutex::new(10)),
            delay: Duration::from_secs(2),
        },
    };
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let opts = options().with_settle_grace(Duration::from_secs(5));
    let r = run_complete(Arc::new(src.clone()), Arc::new(late), &state, opts).await;
    assert_eq!(r.totals.deduplicated, 10, "{r}");
    assert_equal(&src, &dst, "INBOX");
}

/// A refusal that names no fault of the message (a vanished folder's `[TRYCREATE]`, a bare
/// `NO`) is retried on the next pass of an incremental source, not filed as failed for
/// good behind a checkpoint that moved past it.
#[tokio::test]
async fn transient_refusals_are_retried_on_the_next_pass() {
    for kind in [ErrorKind::NotFound, ErrorKind::Unexpected] {
        let src = MemoryStore::new("src");
        fill(&src, "INBOX", 0..30).await;
        let dst = MemoryStore::new("dst");
        let refusing = failing_appends(dst.clone(), Trigger::first(3), Fault::permanent(kind));
        let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
        let r = run_with(Arc::new(src.clone()), refusing, &state, options())
            .run()
            .await
            .unwrap();
        assert_eq!(r.totals.failed, 3, "{kind}: {r}");
        assert!(
            !r.is_complete(),
            "{kind}: the checkpoint must not pass them: {r}"
        );
        let r = run_with(
            Arc::new(src.clone()),
            Arc::new(dst.clone()),
            &state,
            options(),
        )
        .run()
        .await
        .unwrap();
        assert!(r.is_complete() && r.failures.is_empty(), "{kind}: {r}");
        assert_equal(&src, &dst, "INBOX");
    }
}

/// Only what the destination refuses for the message's own sake is final.
#[test]
fn dispositions_follow_the_documented_table() {
    use mailmigrate_core::Disposition;
    let append = |k: ErrorKind| Error::new(k, "x").with_operation(Operation::Append);
    assert_eq!(
        append(ErrorKind::InvalidMessage).disposition(),
        Disposition::Final
    );
    assert_eq!(
        append(ErrorKind::MessageTooLarge).disposition(),
        Disposition::Final
    );
    for k in [
        ErrorKind::NotFound,
        ErrorKind::Unexpected,
        ErrorKind::RateLimited,
        ErrorKind::Unavailable,
        ErrorKind::PermissionDenied,
        ErrorKind::QuotaExceeded,
    ] {
        assert_eq!(append(k).disposition(), Disposition::Retry, "{k}");
    }
    let gone = Error::new(ErrorKind::NotFound, "x").with_operation(Operation::Fetch);
    assert_eq!(gone.disposition(), Disposition::Final);
    let lost = append(ErrorKind::Unavailable).temporary().outcome_unknown();
    assert_eq!(lost.disposition(), Disposition::Settle);
    assert!(
        !lost.is_temporary(),
        "an unknown outcome is never retried blindly"
    );
}

/// A source that lists every message twice in one pass (a Maildir file moved from `new/`
/// to `cur/` while the folder was read), records the checkpoints it was handed, and can
/// be told to fail fetches.
#[derive(Debug, Clone)]
struct Echo {
    inner: MemoryStore,
    info: ProviderInfo,
    handed: Arc<Mutex<Vec<Option<Checkpoint>>>>,
    twice: bool,
}

impl Echo {
    fn new(inner: MemoryStore, caps: Capabilities, twice: bool) -> Self {
        let info = ProviderInfo::new("echo", "echo", caps);
        Self {
            inner,
            info,
            handed: Arc::default(),
            twice,
        }
    }
}

#[async_trait]
impl Provider for Echo {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        Provider::list_folders(&self.inner).await
    }
}

#[async_trait]
impl Source for Echo {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        self.handed.lock().unwrap().push(since);
        let first = self.inner.list_changes(folder, None);
        if !self.twice {
            return first;
        }
        let again = self
            .inner
            .list_changes(folder, None)
            .filter(|c| futures::future::ready(matches!(c, Ok(Change::Upsert(_)))));
        // The repeats come first, in their own listing chunk.
        again.chain(first).boxed()
    }
    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        self.inner.fetch(folder, ids)
    }
}

/// Ids repeated within one pass are written once.
#[tokio::test]
async fn an_id_listed_twice_in_one_pass_is_written_once() {
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..50).await;
    let caps = Capabilities {
        list_since: false,
        ..MemoryStore::capabilities()
    };
    for batch in [1, 16, 256] {
        let dst = MemoryStore::new("dst");
        let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
        let echo = Echo::new(src.clone(), caps, true);
        run_complete(
            Arc::new(echo),
            Arc::new(dst.clone()),
            &state,
            options().with_batch_size(batch),
        )
        .await;
        assert_equal(&src, &dst, "INBOX");
    }
}

/// A source without incremental listing still gets its checkpoint, so it can report that
/// its ids were reset (IMAP UIDVALIDITY without CONDSTORE).
#[tokio::test]
async fn a_full_listing_source_is_handed_its_checkpoint() {
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..5).await;
    let caps = Capabilities {
        list_since: false,
        ..MemoryStore::capabilities()
    };
    let echo = Echo::new(src.clone(), caps, false);
    let handed = Arc::clone(&echo.handed);
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let src_dyn: Arc<dyn Source> = Arc::new(echo);
    let dst = MemoryStore::new("dst");
    for _ in 0..2 {
        run_with(
            Arc::clone(&src_dyn),
            Arc::new(dst.clone()),
            &state,
            options(),
        )
        .run()
        .await
        .unwrap();
    }
    let handed = handed.lock().unwrap().clone();
    assert_eq!(handed.len(), 2);
    assert!(handed[0].is_none() && handed[1].is_some(), "{handed:?}");
}

/// Flags sync three-way: the source's changes travel, flags the destination's users set
/// or cleared themselves stay as they made them.
#[tokio::test]
async fn flag_sync_keeps_destination_side_changes() {
    let src = MemoryStore::new("src");
    let inbox = fill(&src, "INBOX", 0..3).await;
    let dst = MemoryStore::new("dst");
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let engine = run_with(
        Arc::new(src.clone()),
        Arc::new(dst.clone()),
        &state,
        options(),
    );
    engine.run().await.unwrap();
    let dst_inbox = FolderId::new("INBOX");
    let copies = dst.messages(&dst_inbox).unwrap();
    let first = copies[0].meta.id.clone();
    // In the new system the user flags it and tags it.
    let todo = Flag::Keyword("$Todo".into());
    dst.set_flags(
        &dst_inbox,
        &first,
        [Flag::Seen, Flag::Flagged, todo.clone()]
            .into_iter()
            .collect(),
    )
    .unwrap();
    // In the old system it is answered, then read state cleared.
    let src_first = src.messages(&inbox).unwrap()[0].meta.id.clone();
    src.set_flags(&inbox, &src_first, [Flag::Answered].into_iter().collect())
        .unwrap();
    let r = engine.run().await.unwrap();
    assert_eq!(r.totals.flags_updated, 1, "{r}");
    let want: Flags = [Flag::Answered, Flag::Flagged, todo].into_iter().collect();
    assert_eq!(dst.flags(&dst_inbox, &first).unwrap(), want);
    // A pass with no source change leaves the destination's flags alone.
    dst.set_flags(&dst_inbox, &first, Flags::new()).unwrap();
    let r = engine.run().await.unwrap();
    assert!(r.totals.moved_nothing(), "{r}");
    assert!(dst.flags(&dst_inbox, &first).unwrap().is_empty());
}

/// A copy found by a look-up after the state was lost takes the source's flags exactly:
/// without the ledger nothing tells a destination-side change from a stale copy (or from
/// the copy of a byte-identical twin), and the source is what the migration must equal.
#[tokio::test]
async fn a_found_copy_takes_the_source_flags() {
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..3).await;
    let dst = MemoryStore::new("dst");
    let run = || {
        let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
        run_with(
            Arc::new(src.clone()),
            Arc::new(dst.clone()),
            &state,
            options(),
        )
    };
    run().run().await.unwrap();
    let inbox = FolderId::new("INBOX");
    let id = dst.messages(&inbox).unwrap()[0].meta.id.clone();
    let mine = Flag::Keyword("mine".into());
    dst.set_flags(&inbox, &id, [mine.clone()].into_iter().collect())
        .unwrap();
    let r = run().run().await.unwrap();
    assert_eq!(r.totals.deduplicated, 3, "{r}");
    let got = dst.flags(&inbox, &id).unwrap();
    assert_eq!(got, [Flag::Seen].into_iter().collect::<Flags>());
    assert_equal(&src, &dst, "INBOX");
}

/// The (bytes, flags, date) of every message of a folder, counted.
fn census_full(store: &MemoryStore, folder: &str) -> BTreeMap<(ContentHash, String, i64), usize> {
    let mut out = BTreeMap::new();
    for m in store.messages(&FolderId::new(folder)).unwrap_or_default() {
        let flags = format!("{:?}", m.meta.flags);
        let date = m.meta.internal_date.map_or(0, |d| d.unix_timestamp());
        *out.entry((m.content_hash(), flags, date)).or_default() += 1;
    }
    out
}

/// A folder where `filler` ordinary messages come first (ids 1 to `filler`), then two
/// byte-identical twins with other flags and dates: an older one without flags, a newer one
/// `\Seen` and `\Flagged`. With 8 fillers the twins are 9 and 10, and "10" sorts first as
/// text, so look-ups of pending rows meet the twins' copies in the opposite order.
async fn twins(filler: u32) -> MemoryStore {
    let src = MemoryStore::new("src");
    let f = fill(&src, "INBOX", 0..filler).await;
    let twin = |flags: &[Flag], date| {
        let mut m = msg(&f, 1000, flags);
        m.meta.internal_date = Some(date);
        m
    };
    let batch = vec![
        twin(&[], time::macros::datetime!(2020-01-01 00:00 UTC)),
        twin(
            &[Flag::Seen, Flag::Flagged],
            time::macros::datetime!(2024-06-01 12:00 UTC),
        ),
    ];
    for r in src.append(&f, batch).await.unwrap() {
        r.unwrap();
    }
    src
}

/// Byte-identical twins written in one batch whose replies were lost are settled each to
/// its own copy: flags and dates are not swapped, and neither twin is lost.
#[tokio::test]
async fn lost_replies_of_twins_settle_each_to_its_own_copy() {
    let src = twins(8).await;
    let dst = MemoryStore::new("dst");
    let lossy = failing_appends(
        dst.clone(),
        Trigger::always(),
        Fault::permanent(ErrorKind::Unavailable).after_call(),
    );
    // SQLite returns pending rows by id as text: "10" before "9".
    let state: Arc<dyn StateStore> = Arc::new(SqliteState::open_in_memory().unwrap());
    run_complete(Arc::new(src.clone()), lossy, &state, options()).await;
    assert_eq!(census_full(&src, "INBOX"), census_full(&dst, "INBOX"));
    no_pending(&state, "INBOX").await;
}

/// After a lost state, a twin met before its sibling does not take the sibling's copy (its
/// date is another): it is written with its own date, and the sibling finds its copy.
#[tokio::test]
async fn a_twin_never_takes_its_siblings_copy_after_a_lost_state() {
    let src = twins(3).await;
    let dst = MemoryStore::new("dst");
    // The first run copies everything but the older twin.
    let first = options().with_filter(
        mailmigrate_core::engine::Filter::default()
            .with_since(time::macros::datetime!(2021-01-01 00:00 UTC)),
    );
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    run_with(Arc::new(src.clone()), Arc::new(dst.clone()), &state, first)
        .run()
        .await
        .unwrap();
    assert_eq!(census(&dst, "INBOX").values().sum::<usize>(), 4);
    let fresh: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    run_complete(
        Arc::new(src.clone()),
        Arc::new(dst.clone()),
        &fresh,
        options(),
    )
    .await;
    assert_eq!(census_full(&src, "INBOX"), census_full(&dst, "INBOX"));
}

/// A pending row is settled even when its source item cannot be read at that moment (a
/// failed fetch used to make a size-0 key that no store matched, so the row was dropped
/// and the message written again). The destination here compares sizes, like Maildir.
#[tokio::test]
async fn a_pending_row_is_settled_when_the_source_cannot_be_read() {
    for recorded_size in [true, false] {
        let src = MemoryStore::new("src");
        let inbox = fill(&src, "INBOX", 0..4).await;
        let tmp = tempfile::tempdir().unwrap();
        let dst = MaildirStore::open(tmp.path()).unwrap();
        let state: Arc<dyn StateStore> = Arc::new(SqliteState::open_in_memory().unwrap());
        // A first run copies everything; then its rows are turned back into pending ones,
        // as if the process had died before recording the answers.
        run_with(
            Arc::new(src.clone()),
            Arc::new(dst.clone()),
            &state,
            options(),
        )
        .run()
        .await
        .unwrap();
        let rows = state.page("t", &inbox, None, 100).await.unwrap();
        let pending: Vec<LedgerEntry> = rows
            .into_iter()
            .map(|mut r| {
                r.state = LedgerState::Pending;
                r.dest_id = None;
                if !recorded_size {
                    r = r.with_size(None); // a row of an older state file
                }
                r
            })
            .collect();
        state.record("t", &pending).await.unwrap();
        let flaky = Stack::new(src.clone())
            .layer(FaultLayer::new().fail_calls(
                Operation::Fetch,
                Trigger::first(2),
                Fault::permanent(ErrorKind::Unavailable),
            ))
            .into_source();
        let r = run_with(flaky, Arc::new(dst.clone()), &state, options())
            .run()
            .await
            .unwrap();
        assert_eq!(r.totals.copied, 0, "size recorded: {recorded_size}: {r}");
        let r = run_complete(
            Arc::new(src.clone()),
            Arc::new(dst.clone()),
            &state,
            options(),
        )
        .await;
        assert_eq!(r.totals.copied, 0, "size recorded: {recorded_size}: {r}");
        no_pending(&state, "INBOX").await;
        let count = Source::list_changes(&dst, &FolderId::new("INBOX"), None)
            .filter(|c| futures::future::ready(matches!(c, Ok(Change::Upsert(_)))))
            .count()
            .await;
        assert_eq!(count, 4, "size recorded: {recorded_size}");
    }
}

/// A destination folder deleted between passes is filled again, not left empty behind a
/// ledger that says everything is there.
#[tokio::test]
async fn a_destination_folder_deleted_between_passes_is_refilled() {
    let src = MemoryStore::new("src");
    fill(&src, "Archive", 0..20).await;
    let dst = MemoryStore::new("dst");
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let engine = run_with(
        Arc::new(src.clone()),
        Arc::new(dst.clone()),
        &state,
        options(),
    );
    engine.run().await.unwrap();
    dst.remove_folder(&FolderId::new("Archive")).unwrap();
    let r = engine.run().await.unwrap();
    assert!(r.is_complete(), "{r}");
    assert_eq!(r.totals.copied, 20, "{r}");
    assert_equal(&src, &dst, "Archive");
}

/// Deletions cannot travel from a source whose incremental listing hides removals: refused
/// before any I/O instead of silently doing nothing.
#[tokio::test]
async fn deletions_without_reported_removals_are_refused() {
    let caps = Capabilities {
        list_since: true,
        list_removals: false,
        ..MemoryStore::capabilities()
    };
    let src = MemoryStore::with_capabilities("src", caps);
    fill(&src, "INBOX", 0..2).await;
    let dst = MemoryStore::new("dst");
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let err = run_with(
        Arc::new(src),
        Arc::new(dst.clone()),
        &state,
        options().with_propagate_deletions(true),
    )
    .run()
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert_eq!(dst.message_count(), 0);
}

/// A labelling source (Gmail) whose All Mail folder is hidden cannot be copied folder by
/// folder without losing unlabelled mail and copying multi-label mail twice: refused.
#[tokio::test]
async fn a_labelling_source_without_all_mail_is_refused() {
    let caps = Capabilities {
        list_labels: true,
        ..MemoryStore::capabilities()
    };
    let src = MemoryStore::with_capabilities("src", caps);
    fill(&src, "INBOX", 0..2).await;
    fill(&src, "Work", 0..2).await;
    let dst = MemoryStore::new("dst");
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let err = run_with(Arc::new(src), Arc::new(dst.clone()), &state, options())
        .run()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(err.to_string().contains("All Mail"), "{err}");
    assert_eq!(dst.message_count(), 0);
}

/// Messages that servers accept travel, however odd: no header at all, a leading mbox
/// `From ` line, a folded first line, an empty header. The engine parses only to find a
/// Message-ID for dedupe; only the destination may refuse an item.
#[tokio::test]
async fn messages_the_destination_accepts_are_carried() {
    let src = MemoryStore::new("src");
    let inbox = src
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id;
    let odd: [&[u8]; 4] = [
        b"just a body, no header\r\n",
        b"From someone@example.com Mon Jan  1 00:00:00 2018\r\nSubject: x\r\n\r\nbody\r\n",
        b" folded first line\r\nSubject: y\r\n\r\nbody\r\n",
        b"\r\nbody after an empty header\r\n",
    ];
    let batch: Vec<RawMessage> = odd
        .iter()
        .enumerate()
        .map(|(i, b)| {
            RawMessage::new(
                MessageMeta::new(MessageId::new(i.to_string()), inbox.clone()),
                Bytes::from_static(b),
            )
        })
        .collect();
    for r in src.append(&inbox, batch).await.unwrap() {
        r.unwrap();
    }
    let dst = MemoryStore::new("dst");
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let r = run_with(
        Arc::new(src.clone()),
        Arc::new(dst.clone()),
        &state,
        options(),
    )
    .run()
    .await
    .unwrap();
    assert!(r.is_complete() && r.failures.is_empty(), "{r}");
    assert_eq!(r.totals.copied, 4, "{r}");
    assert_equal(&src, &dst, "INBOX");
}

/// A destination that reports no ids (IMAP without UIDPLUS): each written copy is found and
/// claimed before its row is done, so the look-up for a twin whose write did not happen
/// cannot take its sibling's copy for its own (which would leave one copy for two).
#[tokio::test]
async fn without_ids_from_the_destination_twins_keep_two_copies() {
    let src = MemoryStore::new("src");
    let f = fill(&src, "INBOX", 0..8).await;
    let twin = msg(&f, 1000, &[Flag::Seen]);
    for r in src.append(&f, vec![twin.clone(), twin]).await.unwrap() {
        r.unwrap();
    }
    let caps = Capabilities {
        append_returns_id: false,
        ..MemoryStore::capabilities()
    };
    let dst = MemoryStore::with_capabilities("dst", caps);
    // The second twin (the tenth message) is answered "unknown" and never stored.
    let lossy = failing_appends(
        dst.clone(),
        Trigger::every(10),
        Fault::permanent(ErrorKind::Unavailable).unknown_outcome(),
    );
    let state: Arc<dyn StateStore> = Arc::new(SqliteState::open_in_memory().unwrap());
    run_complete(Arc::new(src.clone()), lossy, &state, options()).await;
    assert_equal(&src, &dst, "INBOX");
    no_pending(&state, "INBOX").await;
}

/// Notes how many appends into one folder are in flight at once.
#[derive(Debug, Clone, Default)]
struct Overlap {
    in_flight: Arc<Mutex<BTreeMap<FolderId, usize>>>,
    most: Arc<Mutex<usize>>,
}

#[async_trait]
impl AppendHook for Overlap {
    async fn append(
        &self,
        inner: &MemoryStore,
        f: &FolderId,
        m: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        {
            let mut g = self.in_flight.lock().unwrap();
            let n = g.entry(f.clone()).or_default();
            *n += 1;
            let mut most = self.most.lock().unwrap();
            *most = (*most).max(*n);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let out = inner.append(f, m).await;
        *self.in_flight.lock().unwrap().get_mut(f).unwrap() -= 1;
        out
    }
}

/// Source folders merged into one destination folder run one after another, so their
/// look-ups see each other's copies: a message filed in both keeps two copies even when
/// every reply is lost and each is settled by a look-up.
#[tokio::test]
async fn folders_merged_into_one_run_one_after_another() {
    let src = MemoryStore::new("src");
    for path in ["Old/A", "Old/B", "Old/C"] {
        fill(&src, path, 0..40).await;
    }
    let dst = MemoryStore::new("dst");
    let watch = Hooked {
        inner: dst.clone(),
        hook: Overlap::default(),
    };
    let lossy = failing_appends(
        watch.clone(),
        Trigger::always(),
        Fault::permanent(ErrorKind::Unavailable).after_call(),
    );
    let merged = mailmigrate_core::engine::MappingRules::default()
        .with_rename(mailmigrate_core::engine::Rename::new("^Old/.*$", "Merged"));
    let opts = options().with_mapping(merged).with_folder_concurrency(3);
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    run_complete(Arc::new(src.clone()), lossy, &state, opts).await;
    assert_eq!(
        *watch.hook.most.lock().unwrap(),
        1,
        "appends into Merged overlapped"
    );
    let copies = census(&dst, "Merged");
    assert_eq!(copies.len(), 40, "{copies:?}");
    assert!(copies.values().all(|&n| n == 3), "{copies:?}");
}

/// A source folder renamed (or deleted) at the source since the last pass is named in the
/// report: its copies stay, and the renamed folder is copied again under its new name.
#[tokio::test]
async fn a_source_folder_gone_since_the_last_pass_is_reported() {
    let src = MemoryStore::new("src");
    fill(&src, "Projects", 0..5).await;
    let dst = MemoryStore::new("dst");
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let run = || {
        run_with(
            Arc::new(src.clone()),
            Arc::new(dst.clone()),
            &state,
            options(),
        )
    };
    assert!(run().run().await.unwrap().vanished_sources.is_empty());
    src.remove_folder(&FolderId::new("Projects")).unwrap();
    fill(&src, "Projekte", 0..5).await;
    let r = run().run().await.unwrap();
    assert_eq!(r.vanished_sources, [FolderId::new("Projects")]);
    assert!(r.to_string().contains("gone since the last pass"), "{r}");
    assert_equal(&src, &dst, "Projekte");
}

/// Rewrites every message it stores (a trailer line), as a server that is not byte-exact.
#[derive(Debug, Clone, Default)]
struct Rewrites;

#[async_trait]
impl AppendHook for Rewrites {
    async fn append(
        &self,
        inner: &MemoryStore,
        f: &FolderId,
        m: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let changed = m
            .into_iter()
            .map(|mut msg| {
                let mut bytes = msg.bytes.to_vec();
                bytes.extend_from_slice(b"X-Rewritten: yes\r\n");
                msg.bytes = Bytes::from(bytes);
                msg
            })
            .collect();
        inner.append(f, changed).await
    }
}

/// A destination that reports no ids and rewrites what it stores: the look-up that claims
/// each acknowledged copy cannot match it, and the copy is still recorded done (without an
/// id) instead of being written again after the grace period, on every run.
#[tokio::test]
async fn acknowledged_copies_a_look_up_cannot_match_are_written_once() {
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..20).await;
    let caps = Capabilities {
        append_returns_id: false,
        ..MemoryStore::capabilities()
    };
    let dst = MemoryStore::with_capabilities("dst", caps);
    let rewriting = Hooked {
        inner: dst.clone(),
        hook: Rewrites,
    };
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    for _ in 0..2 {
        run_complete(
            Arc::new(src.clone()),
            Arc::new(rewriting.clone()),
            &state,
            options(),
        )
        .await;
    }
    assert_eq!(dst.messages(&FolderId::new("INBOX")).unwrap().len(), 20);
    no_pending(&state, "INBOX").await;
}

/// A destination that cannot look copies up leaves a lost reply undecidable for good: the
/// row stays pending and holds the checkpoint, and the report calls it uncheckable (a rerun
/// cannot help), never "run again" forever. Once the operator says so, each is written
/// again: the lost write that did arrive is duplicated (the cost the option names), those
/// that did not arrive are copied, and nothing is pending any more.
#[tokio::test]
async fn unknown_outcomes_on_a_destination_without_lookups_wait_for_the_operator() {
    let src = MemoryStore::new("src");
    fill(&src, "INBOX", 0..20).await;
    let caps = Capabilities {
        find_existing: false,
        ..MemoryStore::capabilities()
    };
    let dst = MemoryStore::with_capabilities("dst", caps);
    // Outside, two writes of unknown outcome that were not stored (the 9th and 18th);
    // inside, one stored whose reply was lost (the 10th of the rest).
    let lossy = Stack::new(dst.clone())
        .layer(FaultLayer::new().fail_items(
            Operation::Append,
            Trigger::every(10),
            Fault::permanent(ErrorKind::Unavailable).after_call(),
        ))
        .layer(FaultLayer::new().fail_items(
            Operation::Append,
            Trigger::every(9),
            Fault::permanent(ErrorKind::Unavailable).unknown_outcome(),
        ))
        .into_destination();
    let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
    let first = run_with(Arc::new(src.clone()), lossy, &state, options())
        .run()
        .await
        .unwrap();
    assert_eq!(
        (first.totals.uncheckable, first.totals.unsettled),
        (3, 0),
        "{first}"
    );
    assert_eq!(dst.message_count(), 18);
    assert!(!first.is_complete(), "{first}");
    assert!(first.to_string().contains("cannot be checked"), "{first}");
    // A rerun alone changes nothing: still uncheckable, nothing written again.
    let dst_only: Arc<dyn Destination> = Arc::new(dst.clone());
    let again = run_with(
        Arc::new(src.clone()),
        Arc::clone(&dst_only),
        &state,
        options(),
    )
    .run()
    .await
    .unwrap();
    assert_eq!(
        (again.totals.uncheckable, again.totals.copied),
        (3, 0),
        "{again}"
    );
    assert_eq!(dst.message_count(), 18);
    // The operator checked and chose: all three are written again.
    let opts = options().with_rewrite_uncheckable(true);
    let last = run_complete(Arc::new(src.clone()), dst_only, &state, opts).await;
    assert_eq!(
        (last.totals.copied, last.totals.uncheckable),
        (3, 0),
        "{last}"
    );
    assert_eq!(
        dst.message_count(),
        21,
        "the write that arrived is duplicated"
    );
    no_pending(&state, "INBOX").await;
}

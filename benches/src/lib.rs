//! Shared pieces of the mailmigrate benchmarks: synthetic messages, a streaming
//! synthetic [`Source`], a counting [`Destination`], and a small results table.
//!
//! Run them with `cargo bench -p mailmigrate-benches` (add
//! `-- --warm-up-time 1 --measurement-time 3` for quick runs).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
pub mod pim;

use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{
    Appended, Capabilities, Change, Checkpoint, DedupeKey, Destination, EnsuredFolder, Error,
    ExistingCopy, Flag, FlagChange, Flags, Folder, FolderId, FolderPath, ItemResult, MessageId,
    MessageMeta, Provider, ProviderInfo, RawMessage, Result, Source, SpecialUse,
};

/// The size of a synthetic message, in bytes.
pub const MESSAGE_SIZE: usize = 4096;

/// Builds synthetic message `i` of exactly `size` bytes (at least the header length):
/// unique Message-ID, a plain-text body, deterministic content.
///
/// ```
/// let a = mailmigrate_benches::synthetic_message(7, 4096);
/// assert_eq!(a.len(), 4096);
/// assert_eq!(a, mailmigrate_benches::synthetic_message(7, 4096));
/// assert_ne!(a, mailmigrate_benches::synthetic_message(8, 4096));
/// ```
pub fn synthetic_message(i: u64, size: usize) -> Bytes {
    let mut v = format!(
        "Message-ID: <bench-{i}@mailmigrate.example>\r\n\
         From: Bench <bench@example.org>\r\n\
         To: Sink <sink@example.org>\r\n\
         Subject: Synthetic message {i}\r\n\
         Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    .into_bytes();
    // Exactly `size` bytes of capacity: a message's memory is its length, as a real
    // provider's would be.
    v.reserve_exact(size.saturating_sub(v.len()));
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut col = 0;
    while v.len() < size {
        if col == 76 && v.len() + 2 <= size {
            v.extend_from_slice(b"\r\n");
            col = 0;
            continue;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(b'a' + (x % 26) as u8);
        col += 1;
    }
    Bytes::from(v)
}

/// The folder names the benchmarks spread messages over.
pub fn bench_folders(n: usize) -> Vec<FolderPath> {
    (0..n)
        .map(|k| match k {
            0 => FolderPath::inbox(),
            _ => FolderPath::new(["Archive".to_owned(), format!("{k:02}")])
                .unwrap_or_else(|_| FolderPath::inbox()),
        })
        .collect()
}

/// Generates `n` synthetic 4 KB messages once, to be appended into several stores that
/// then share the same bytes.
pub fn corpus(n: usize) -> Vec<Bytes> {
    (0..n as u64)
        .map(|i| synthetic_message(i, MESSAGE_SIZE))
        .collect()
}

/// Appends `corpus` round-robin over `folders` folders of `store`.
///
/// # Errors
/// Store errors.
pub async fn fill(store: &MemoryStore, corpus: &[Bytes], folders: usize) -> Result<()> {
    let paths = bench_folders(folders);
    let mut ids = Vec::new();
    for p in &paths {
        ids.push(store.ensure_folder(p, None).await?.id);
    }
    for (k, id) in ids.iter().enumerate() {
        let mut batch = Vec::with_capacity(256);
        for (i, bytes) in corpus.iter().enumerate().skip(k).step_by(folders) {
            let flags: Flags = if i % 3 == 0 {
                [Flag::Seen].into()
            } else {
                Flags::new()
            };
            let meta =
                MessageMeta::new(MessageId::new(i.to_string()), id.clone()).with_flags(flags);
            batch.push(RawMessage::new(meta, bytes.clone()));
            if batch.len() == 256 {
                store.append(id, std::mem::take(&mut batch)).await?;
            }
        }
        if !batch.is_empty() {
            store.append(id, batch).await?;
        }
    }
    Ok(())
}

/// A source that holds nothing: it lists `per_folder` metas per folder lazily and
/// synthesises each message's bytes from its id on fetch. Memory does not depend on the
/// mailbox size, so it isolates the engine's own memory use.
#[derive(Debug, Clone)]
pub struct SyntheticSource {
    info: Arc<ProviderInfo>,
    folders: usize,
    per_folder: u64,
    size: usize,
}

impl SyntheticSource {
    /// `folders` folders of `per_folder` messages of `size` bytes.
    pub fn new(folders: usize, per_folder: u64, size: usize) -> Self {
        let caps = Capabilities {
            list_folders: true,
            fetch: true,
            byte_exact: true,
            ..Capabilities::default()
        };
        Self {
            info: Arc::new(ProviderInfo::new("synthetic", "bench", caps)),
            folders,
            per_folder,
            size,
        }
    }

    fn folder_index(&self, folder: &FolderId) -> u64 {
        folder
            .as_str()
            .strip_prefix('f')
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

#[async_trait]
impl Provider for SyntheticSource {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        Ok(bench_folders(self.folders)
            .into_iter()
            .enumerate()
            .map(|(k, p)| {
                let role = (k == 0).then_some(SpecialUse::Inbox);
                Folder::new(FolderId::new(format!("f{k}")), p).with_role(role)
            })
            .collect())
    }
}

#[async_trait]
impl Source for SyntheticSource {
    fn list_changes(
        &self,
        folder: &FolderId,
        _since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let base = self.folder_index(folder) * self.per_folder;
        let folder = folder.clone();
        let size = self.size as u64;
        let metas = (base..base + self.per_folder).map(move |i| {
            Ok(Change::Upsert(
                MessageMeta::new(MessageId::new(i.to_string()), folder.clone()).with_size(size),
            ))
        });
        stream::iter(metas)
            .chain(stream::once(async {
                Ok(Change::Checkpoint(Checkpoint::new("end")))
            }))
            .boxed()
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let folder = folder.clone();
        let size = self.size;
        stream::iter(ids.into_iter().map(move |id| {
            let n: u64 = id.as_str().parse().unwrap_or(0);
            let msg = RawMessage::new(
                MessageMeta::new(id.clone(), folder.clone()),
                synthetic_message(n, size),
            );
            (id, Ok(msg))
        }))
        .boxed()
    }
}

/// A destination that discards bytes and counts: it returns fresh ids and keeps only
/// its folder list.
#[derive(Debug, Clone)]
pub struct CountingSink {
    info: Arc<ProviderInfo>,
    folders: Arc<Mutex<BTreeMap<FolderPath, Folder>>>,
    messages: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Default for CountingSink {
    fn default() -> Self {
        Self::new()
    }
}

impl CountingSink {
    /// An empty sink.
    pub fn new() -> Self {
        let caps = Capabilities {
            list_folders: true,
            append: true,
            append_with_flags: true,
            append_with_keywords: true,
            append_with_internal_date: true,
            append_returns_id: true,
            ..Capabilities::default()
        };
        Self {
            info: Arc::new(ProviderInfo::new("sink", "bench", caps)),
            folders: Arc::default(),
            messages: Arc::default(),
            bytes: Arc::default(),
        }
    }

    /// Messages appended so far.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Bytes appended so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<FolderPath, Folder>> {
        self.folders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Provider for CountingSink {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        Ok(self.lock().values().cloned().collect())
    }
}

#[async_trait]
impl Destination for CountingSink {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        let mut g = self.lock();
        let id = FolderId::new(path.join("/"));
        let created = !g.contains_key(path);
        g.entry(path.clone())
            .or_insert_with(|| Folder::new(id.clone(), path.clone()).with_role(role));
        Ok(EnsuredFolder::new(id, created))
    }

    async fn append(
        &self,
        _folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let bytes: u64 = messages.iter().map(|m| m.bytes.len() as u64).sum();
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let first = self
            .messages
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        Ok((first..first + messages.len() as u64)
            .map(|n| Ok(Appended::new(Some(MessageId::new(n.to_string())))))
            .collect())
    }

    async fn update_flags(&self, _: &FolderId, _: &MessageId, _: &FlagChange) -> Result<()> {
        Err(Error::unsupported("the counting sink keeps no messages"))
    }

    async fn find_existing(&self, _: &FolderId, _: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        Err(Error::unsupported("the counting sink keeps no messages"))
    }

    async fn delete(&self, _: &FolderId, _: &[MessageId]) -> Result<()> {
        Err(Error::unsupported("the counting sink keeps no messages"))
    }
}

/// Wraps a source so that it cannot list incrementally: it declares `list_since: false`
/// and ignores the checkpoint it is given, listing everything every time. The engine then
/// finds what is new by diffing each listing against its ledger.
#[derive(Debug, Clone)]
pub struct FullListing<S> {
    inner: S,
    info: ProviderInfo,
}

impl<S: Source> FullListing<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        let mut info = inner.info().clone();
        info.capabilities.list_since = false;
        Self { inner, info }
    }
}

#[async_trait]
impl<S: Provider> Provider for FullListing<S> {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        self.inner.list_folders().await
    }
}

#[async_trait]
impl<S: Source> Source for FullListing<S> {
    fn list_changes(
        &self,
        folder: &FolderId,
        _since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        self.inner.list_changes(folder, None)
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        self.inner.fetch(folder, ids)
    }
}

/// Per-iteration timings collected by the benches, for the summary table they print.
#[derive(Debug, Default, Clone)]
pub struct Timings(Arc<Mutex<BTreeMap<String, Vec<Duration>>>>);

impl Timings {
    /// Records one iteration of `name`.
    pub fn record(&self, name: &str, d: Duration) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(name.to_owned())
            .or_default()
            .push(d);
    }

    /// The median iteration time of `name`.
    pub fn median(&self, name: &str) -> Option<Duration> {
        let g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut v = g.get(name)?.clone();
        v.sort();
        v.get(v.len() / 2).copied()
    }

    /// Every recorded name.
    pub fn names(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }
}

/// Reads a field of `/proc/self/status` in kB (`VmHWM` = peak RSS, `VmRSS` = current).
pub fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Whether a harness-less bench named `name` should run under the arguments `cargo bench`
/// passed: criterion's own flags are skipped, and a filter that does not match `name`
/// skips the bench, as criterion would.
pub fn selected_by_args(name: &str, args: &[String]) -> bool {
    const VALUED: [&str; 14] = [
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--profile-time",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--nresamples",
        "--output-format",
        "--color",
        "--plotting-backend",
    ];
    let mut filters = Vec::new();
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        if VALUED.contains(&a.as_str()) {
            rest.next();
        } else if !a.starts_with('-') {
            filters.push(a);
        }
    }
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

/// Runs this bench binary again as a child with `args` and returns the numbers of the
/// `RESULT` line it printed, or the child's stderr when it printed none.
pub fn child_result(args: &[&str]) -> std::result::Result<Vec<f64>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().find_map(|l| l.strip_prefix("RESULT ")) {
        Some(line) => Ok(line
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect()),
        None => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::engine::{Engine, SyncOptions};
    use mailmigrate_core::state::MemoryState;

    #[test]
    fn synthetic_messages_have_the_asked_size_and_a_header() {
        for size in [300, 4096, 10_000] {
            let m = synthetic_message(42, size);
            assert_eq!(m.len(), size);
            assert!(mailmigrate_core::headers::check_message(&m).is_ok());
        }
        let h = mailmigrate_core::headers::Headers::parse(&synthetic_message(42, 4096));
        assert_eq!(
            h.message_id.as_deref(),
            Some("bench-42@mailmigrate.example")
        );
    }

    #[tokio::test]
    async fn synthetic_source_into_counting_sink_moves_everything_once() {
        let source = SyntheticSource::new(3, 500, 1024);
        let sink = CountingSink::new();
        let engine = Engine::new(
            Arc::new(source),
            Arc::new(sink.clone()),
            Arc::new(MemoryState::new()),
        )
        .with_options(SyncOptions::new("t"));
        let r = engine.run().await.unwrap();
        assert_eq!(r.totals.copied, 1500);
        assert_eq!(sink.messages(), 1500);
        assert_eq!(sink.bytes(), 1500 * 1024);
        // The ledger remembers: a second pass writes nothing.
        let again = engine.run().await.unwrap();
        assert_eq!(again.totals.copied, 0);
        assert_eq!(again.totals.unchanged, 1500);
        assert_eq!(sink.messages(), 1500);
    }

    #[tokio::test]
    async fn fill_spreads_the_corpus_over_folders() {
        let store = MemoryStore::new("m");
        fill(&store, &corpus(100), 4).await.unwrap();
        assert_eq!(store.message_count(), 100);
        assert_eq!(
            store.messages(&FolderId::new("Archive/03")).unwrap().len(),
            25
        );
    }

    #[tokio::test]
    async fn full_listing_lists_everything_every_time() {
        let store = MemoryStore::new("m");
        fill(&store, &corpus(10), 1).await.unwrap();
        let wrapped = FullListing::new(store);
        assert!(!wrapped.capabilities().list_since);
        let inbox = FolderId::new("INBOX");
        let changes: Vec<_> = wrapped
            .list_changes(&inbox, Some(Checkpoint::new("999999")))
            .collect()
            .await;
        let upserts = changes
            .iter()
            .filter(|c| matches!(c, Ok(Change::Upsert(_))))
            .count();
        assert_eq!(upserts, 10);
    }

    #[test]
    fn proc_status_reads_peak_rss() {
        let hwm = proc_status_kb("VmHWM").unwrap();
        assert!(hwm > 0);
        assert!(proc_status_kb("NoSuchField").is_none());
    }

    #[test]
    fn timings_report_the_median() {
        let t = Timings::default();
        for ms in [5, 1, 3] {
            t.record("x", Duration::from_millis(ms));
        }
        assert_eq!(t.median("x"), Some(Duration::from_millis(3)));
        assert_eq!(t.names(), ["x"]);
        assert_eq!(t.median("y"), None);
    }
}

//! Tenant-to-tenant copies with the mailbox import/export API: each message travels as
//! Exchange's opaque full-fidelity stream (\[G-EXP\]\[G-IMP\]\[G-IMPS\]\[IE-GA\]) where both
//! tenants offer it, and as the JSON of a received message otherwise. See
//! [`GraphTenantCopy`] and `docs/decisions/0015-graph-export-import.md`.

mod wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use mailmigrate_core::{
    Appended, DedupeKey, Destination, EnsuredFolder, Error, ExistingCopy, FlagChange, Folder,
    FolderId, FolderPath, MessageId, Provider, ProviderInfo, RawMessage, Result, SpecialUse,
};
use tokio::sync::OnceCell;

use crate::mail::Graph;
use wire::{Exported, Imported, Session};

/// The path a folder's messages took to the destination (see [`FolderCopyPath`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyPath {
    /// Every message written went through `exportItems` and `importItem`: full fidelity.
    ExportImport,
    /// Every message written was created as JSON from its MIME (the plain [`Graph`] path).
    Json,
    /// Some of each (an item the export refused, one without a `Message-ID`…).
    Mixed,
}

/// What a [`GraphTenantCopy`] wrote into one destination folder, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FolderCopyPath {
    /// The destination folder.
    pub folder: FolderId,
    /// Its path, when it went through [`ensure_folder`](Destination::ensure_folder) of
    /// this copy.
    pub path: Option<FolderPath>,
    /// Messages written through the export/import API.
    pub exported: u64,
    /// Messages written as JSON.
    pub json: u64,
    /// Why messages took the JSON path (the last reason seen), if any did.
    pub reason: Option<String>,
}

impl FolderCopyPath {
    /// The path the folder's messages took.
    pub fn path_taken(&self) -> CopyPath {
        match (self.exported, self.json) {
            (_, 0) if self.exported > 0 => CopyPath::ExportImport,
            (0, _) => CopyPath::Json,
            _ => CopyPath::Mixed,
        }
    }
}

/// The mailbox ids, once discovery answered: `Err(reason)` when either tenant does not
/// offer the API.
type Mailboxes = std::result::Result<(String, String), String>;

/// A Graph → Graph copy (tenant to tenant, or mailbox to mailbox): the destination
/// [`Graph`] as a core [`Destination`] whose writes take each message from the source
/// mailbox through the mailbox import/export API, where both offer it.
///
/// Give the source [`Graph`] to the engine as its source and this as its destination.
/// The engine lists and fetches the MIME as always (its content hash is what the ledger,
/// look-ups and verification go by); [`append`](Destination::append) then exports the
/// same items from the source mailbox (`exportItems`, twenty ids a request) and imports
/// each opaque stream into the destination folder (`importItem`, `create` mode), so a
/// message arrives with every property Exchange holds: flags, categories, dates, not a
/// draft, MAPI properties the MIME cannot carry. Each import is then stamped with the
/// content hash the JSON path would have set, so
/// [`find_existing`](Destination::find_existing) finds it; an import whose answer (or
/// stamp) was lost is found by its `Message-ID` and bytes, and stamped then (decision
/// 0015). Everything else — folders, flag updates, deletes — is the destination
/// [`Graph`]'s own.
///
/// Where the API is not there — `settings/exchange`, `exportItems` or the import session
/// answering 403 (no `MailboxItem.ImportExport.All`), 404 or 501 — the copy falls back
/// to the destination's JSON path for the rest of the run; an item the export refuses,
/// a message without `Message-ID` (a lost answer could not be settled) and a folder the
/// import API does not know take it too. [`paths`](Self::paths) says, per folder, which
/// path its messages took.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use mailmigrate_core::{engine::Engine, state::MemoryState};
/// use mailmigrate_graph::emulator::{Emulator, Seed};
/// use mailmigrate_graph::{CopyPath, GraphTenantCopy};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let a = Emulator::builder().mailbox("ada@a.example").start().await.unwrap();
/// let b = Emulator::builder().mailbox("ada@b.example").start().await.unwrap();
/// a.seed_message("ada@a.example", "Inbox", b"Message-ID: <1@a>\r\nSubject: hi\r\n\r\nbody\r\n", Seed::default());
/// let source = Arc::new(a.graph_builder("ada@a.example").connect().await.unwrap());
/// let dest = Arc::new(b.graph_builder("ada@b.example").connect().await.unwrap());
/// let copy = Arc::new(GraphTenantCopy::new(Arc::clone(&source), dest));
/// let engine = Engine::new(source, Arc::clone(&copy) as _, Arc::new(MemoryState::new()));
/// assert_eq!(engine.run().await.unwrap().totals.copied, 1);
/// let inbox = copy.paths().into_iter().find(|p| p.exported > 0).unwrap();
/// assert_eq!(inbox.path_taken(), CopyPath::ExportImport);
/// # a.shutdown().await;
/// # b.shutdown().await;
/// # });
/// ```
#[derive(Debug)]
pub struct GraphTenantCopy {
    source: Arc<Graph>,
    dest: Arc<Graph>,
    info: ProviderInfo,
    mailboxes: OnceCell<Mailboxes>,
    /// Set once the API refused mid-run: the reason, for the rest of the run.
    off: Mutex<Option<String>>,
    /// Per destination folder: whether the import API addresses it (or why not).
    folders: tokio::sync::Mutex<HashMap<FolderId, std::result::Result<(), String>>>,
    session: tokio::sync::Mutex<Option<Session>>,
    report: Mutex<BTreeMap<FolderId, FolderCopyPath>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl GraphTenantCopy {
    /// A copy from `source` into `dest`. It makes no request: the first write discovers
    /// both mailboxes (`settings/exchange`).
    pub fn new(source: Arc<Graph>, dest: Arc<Graph>) -> Self {
        let mut info = dest.info().clone();
        // [G-EXP]: one export takes twenty ids, so a batch of twenty is one request.
        info.capabilities.append_batch_max = wire::MAX_EXPORT;
        Self {
            source,
            dest,
            info,
            mailboxes: OnceCell::new(),
            off: Mutex::new(None),
            folders: tokio::sync::Mutex::new(HashMap::new()),
            session: tokio::sync::Mutex::new(None),
            report: Mutex::new(BTreeMap::new()),
        }
    }

    /// The source mailbox.
    pub fn source(&self) -> &Arc<Graph> {
        &self.source
    }

    /// The destination mailbox.
    pub fn destination(&self) -> &Arc<Graph> {
        &self.dest
    }

    /// Per destination folder written to so far, the path its messages took (in folder
    /// id order).
    pub fn paths(&self) -> Vec<FolderCopyPath> {
        lock(&self.report).values().cloned().collect()
    }

    /// Counts `n` messages written into `folder` one way or the other.
    fn tally(&self, folder: &FolderId, exported: u64, json: u64, reason: Option<String>) {
        let mut report = lock(&self.report);
        let entry = report
            .entry(folder.clone())
            .or_insert_with(|| FolderCopyPath {
                folder: folder.clone(),
                path: None,
                exported: 0,
                json: 0,
                reason: None,
            });
        entry.exported += exported;
        entry.json += json;
        if reason.is_some() {
            entry.reason = reason;
        }
    }

    /// Turns the API off for the rest of the run.
    fn turn_off(&self, reason: String) {
        tracing::warn!(%reason, "the mailbox import/export API is not offered; copying as JSON");
        lock(&self.off).get_or_insert(reason);
    }

    /// The source and destination mailbox ids and the import folder for `folder`, or why
    /// this folder's messages take the JSON path.
    async fn route(
        &self,
        folder: &FolderId,
    ) -> Result<std::result::Result<(String, String), String>> {
        if let Some(reason) = lock(&self.off).clone() {
            return Ok(Err(reason));
        }
        let ids = self
            .mailboxes
            .get_or_try_init(|| async {
                let src = wire::mailbox_id(self.source.client()).await?;
                let dst = wire::mailbox_id(self.dest.client()).await?;
                Ok::<_, Error>(src.and_then(|s| dst.map(|d| (s, d))))
            })
            .await?
            .clone();
        let (src, dst) = match ids {
            Ok(ids) => ids,
            Err(reason) => return Ok(Err(reason)),
        };
        let mut folders = self.folders.lock().await;
        if !folders.contains_key(folder) {
            let (offered, known) =
                wire::folder_addressable(self.dest.client(), &dst, folder.as_str()).await?;
            if !offered {
                let reason = known.clone().err().unwrap_or_default();
                self.turn_off(reason.clone());
                return Ok(Err(reason));
            }
            folders.insert(folder.clone(), known);
        }
        Ok(folders[folder].clone().map(|()| (src, dst)))
    }

    /// The current import session, created (or renewed when `stale` is its URL) as
    /// needed; `Ok(Err(reason))` when the API is not offered.
    async fn session(
        &self,
        dst: &str,
        stale: Option<&str>,
    ) -> Result<std::result::Result<Session, String>> {
        let mut s = self.session.lock().await;
        if let Some(cur) = s.as_ref() {
            if cur.fresh() && stale != Some(cur.url.as_str()) {
                return Ok(Ok(cur.clone()));
            }
        }
        let created = wire::create_session(self.dest.client(), dst).await?;
        if let Ok(new) = &created {
            *s = Some(new.clone());
        }
        Ok(created)
    }

    /// Imports one exported stream into `folder` and stamps it; `Ok(Err(reason))` when the
    /// API turned out not to be there (nothing was created).
    async fn import_one(
        &self,
        dst: &str,
        folder: &FolderId,
        msg: &RawMessage,
        data: &str,
    ) -> Result<std::result::Result<Appended, String>> {
        let mut stale: Option<String> = None;
        for attempt in 0..2 {
            let session = match self.session(dst, stale.as_deref()).await? {
                Ok(s) => s,
                Err(reason) => return Ok(Err(reason)),
            };
            let what = format!("import message {} into {folder}", msg.meta.id);
            match wire::import(self.dest.client(), &session, folder.as_str(), data, what).await? {
                Imported::Created(id) => {
                    wire::stamp(self.dest.client(), &id, &msg.content_hash()).await?;
                    return Ok(Ok(Appended::new(Some(MessageId::new(id)))));
                }
                // [G-IMP]: the URL expires at expirationDateTime; a new session, once.
                Imported::SessionExpired if attempt == 0 => stale = Some(session.url),
                Imported::SessionExpired => {
                    return Ok(Err("importItem refused a new session".into()))
                }
                Imported::NotOffered(reason) => return Ok(Err(reason)),
            }
        }
        Ok(Err("importItem refused a new session".into()))
    }

    /// Exports `msgs` from the source mailbox `src`, twenty ids a request, before anything
    /// is written; `Ok(Err(reason))` when the API is not offered.
    async fn export_all(
        &self,
        src: &str,
        msgs: &[&RawMessage],
    ) -> Result<std::result::Result<HashMap<String, Exported>, String>> {
        let mut all = HashMap::new();
        for chunk in msgs.chunks(wire::MAX_EXPORT) {
            let ids: Vec<&str> = chunk.iter().map(|m| m.meta.id.as_str()).collect();
            match wire::export(self.source.client(), src, &ids).await {
                Ok(Ok(got)) => all.extend(got),
                Ok(Err(reason)) => return Ok(Err(reason)),
                // Nothing was written: a failed export (even one cut off) is only retried.
                Err(e) if e.is_outcome_unknown() => {
                    return Err(Error::new(e.kind(), e.to_string()).temporary())
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Ok(all))
    }
}

/// Whether a message may go through the import: it has a `Message-ID`, by which a look-up
/// finds an import whose answer was lost (it carries no stamp until its `PATCH`).
fn importable(msg: &RawMessage) -> bool {
    msg.meta.message_id.is_some() || mailmigrate_core::headers::message_id(&msg.bytes).is_some()
}

#[async_trait]
impl Provider for GraphTenantCopy {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        self.dest.list_folders().await
    }

    async fn message_counts(&self, folders: &[FolderId]) -> Option<Vec<Result<u64>>> {
        self.dest.message_counts(folders).await
    }
}

#[async_trait]
impl Destination for GraphTenantCopy {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        let ensured = self.dest.ensure_folder(path, role).await?;
        self.tally(&ensured.id, 0, 0, None);
        if let Some(entry) = lock(&self.report).get_mut(&ensured.id) {
            entry.path = Some(path.clone());
        }
        Ok(ensured)
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        // Before anything is sent: a copy whose answer is lost is still looked up.
        for m in &messages {
            self.dest.note_writing(folder, &m.content_hash());
        }
        let (src, dst) = match self.route(folder).await? {
            Ok(ids) => ids,
            Err(reason) => {
                self.tally(folder, 0, messages.len() as u64, Some(reason));
                return self.dest.append(folder, messages).await;
            }
        };
        let candidates: Vec<&RawMessage> = messages.iter().filter(|m| importable(m)).collect();
        let exported = match self.export_all(&src, &candidates).await? {
            Ok(e) => e,
            Err(reason) => {
                self.turn_off(reason.clone());
                self.tally(folder, 0, messages.len() as u64, Some(reason));
                return self.dest.append(folder, messages).await;
            }
        };
        let mut out: Vec<Option<Result<Appended>>> = (0..messages.len()).map(|_| None).collect();
        let mut json: Vec<(usize, String)> = Vec::new();
        let mut imports = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            match exported.get(m.meta.id.as_str()) {
                Some(Exported::Data(data)) => imports.push((i, data.as_str())),
                Some(Exported::Refused(why)) => json.push((i, format!("exportItems: {why}"))),
                None if importable(m) => json.push((i, "exportItems did not answer it".into())),
                None => json.push((i, "no Message-ID to settle a lost import by".into())),
            }
        }
        let (dst, all) = (&dst, &messages);
        let pending: Vec<_> = imports
            .into_iter()
            .map(|(i, data)| async move { (i, self.import_one(dst, folder, &all[i], data).await) })
            .collect();
        let results: Vec<(usize, Result<std::result::Result<Appended, String>>)> =
            futures::stream::iter(pending).buffered(4).collect().await;
        let mut exported_n = 0;
        for (i, r) in results {
            match r {
                Ok(Ok(appended)) => {
                    exported_n += 1;
                    out[i] = Some(Ok(appended));
                }
                Ok(Err(reason)) => {
                    self.turn_off(reason.clone());
                    json.push((i, reason));
                }
                Err(e) => out[i] = Some(Err(e.with_item(folder, &messages[i].meta.id))),
            }
        }
        self.tally(folder, exported_n, 0, None);
        if !json.is_empty() {
            let reason = json.last().map(|(_, r)| r.clone());
            self.tally(folder, 0, json.len() as u64, reason);
            let idx: Vec<usize> = json.iter().map(|(i, _)| *i).collect();
            let batch: Vec<RawMessage> = idx.iter().map(|&i| messages[i].clone()).collect();
            let written = self.dest.append(folder, batch).await?;
            for (i, r) in idx.into_iter().zip(written) {
                out[i] = Some(r);
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(wire_gap())))
            .collect())
    }

    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        self.dest.update_flags(folder, id, change).await
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        let found = self.dest.find_existing(folder, key).await?;
        match &key.message_id {
            // An import whose answer or stamp was lost: found by its Message-ID and bytes.
            Some(id) if found.is_empty() => self.dest.unstamped_copies(folder, id, &key.hash).await,
            _ => Ok(found),
        }
    }

    async fn find_existing_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        let found = self.dest.find_existing_many(folder, keys).await?;
        let pending: Vec<_> = found
            .into_iter()
            .zip(keys)
            .map(|(copies, key)| async move {
                match &key.message_id {
                    Some(id) if copies.is_empty() => {
                        self.dest.unstamped_copies(folder, id, &key.hash).await
                    }
                    _ => Ok(copies),
                }
            })
            .collect();
        futures::stream::iter(pending)
            .buffered(4)
            .try_collect()
            .await
    }

    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        self.dest.delete(folder, ids).await
    }
}

/// A result the append loop failed to fill (a bug): reported, never taken for a write.
fn wire_gap() -> Error {
    Error::new(
        mailmigrate_core::ErrorKind::Unexpected,
        "the export/import path left a message without a result",
    )
    .with_provider(crate::PROVIDER)
}

impl Graph {
    /// A copy from this mailbox into `dest` through the mailbox import/export API (see
    /// [`GraphTenantCopy`]).
    pub fn export_import_to(self: &Arc<Self>, dest: Arc<Graph>) -> GraphTenantCopy {
        GraphTenantCopy::new(Arc::clone(self), dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(exported: u64, json: u64) -> FolderCopyPath {
        FolderCopyPath {
            folder: FolderId::new("f"),
            path: None,
            exported,
            json,
            reason: None,
        }
    }

    #[test]
    fn the_path_taken_follows_the_counts() {
        assert_eq!(report(3, 0).path_taken(), CopyPath::ExportImport);
        assert_eq!(report(0, 2).path_taken(), CopyPath::Json);
        assert_eq!(report(0, 0).path_taken(), CopyPath::Json);
        assert_eq!(report(1, 1).path_taken(), CopyPath::Mixed);
    }

    #[test]
    fn only_messages_with_an_id_are_imported() {
        use mailmigrate_core::MessageMeta;
        let raw = |b: &'static [u8]| {
            RawMessage::new(
                MessageMeta::new(MessageId::new("m"), FolderId::new("f")),
                bytes::Bytes::from_static(b),
            )
        };
        assert!(importable(&raw(b"Message-ID: <a@b>\r\n\r\nx")));
        assert!(!importable(&raw(b"Subject: none\r\n\r\nx")));
    }
}

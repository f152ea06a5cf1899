//! mboxrd files on the local file system, one per folder, with a sidecar index.
//!
//! See [`MboxStore`] for the format.
//!
//! The parts: `layout` (file names, `.sbd` nesting, roles), `mboxrd` (the `From_` line and
//! `>From` quoting), `index` (the sidecar index and its records), `scan` (indexing a
//! foreign mbox), `load` (loading and repairing a folder's index under its lock), `read`
//! (fetch, listing, dedupe) and `write` (append, flag updates).

mod index;
mod layout;
mod load;
mod mboxrd;
mod read;
mod scan;
mod write;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use futures::stream::BoxStream;

use self::index::FolderIndex;
use super::maildir::{blocking, blocking_stream};
use crate::{
    Appended, Capabilities, Change, Checkpoint, DedupeKey, Destination, EnsuredFolder, Error,
    ErrorKind, ExistingCopy, FlagChange, Folder, FolderId, FolderPath, ItemResult, MessageId,
    Operation, Provider, ProviderInfo, RawMessage, Result, Source, SpecialUse,
};

/// The scheme of [`MboxStore`].
pub(crate) const SCHEME: &str = "mbox";

/// A directory of mboxrd files, one per folder, with sidecar indexes that keep every
/// message byte-exact along with its flags, keywords, labels and internal date. It is both a
/// [`Source`] and a [`Destination`]; cloning shares the same store.
///
/// # Layout
/// Folders nest the way Thunderbird nests them: folder `Archive` is the file `root/Archive`,
/// its child `2020` is `root/Archive.sbd/2020`, and the inbox is `root/INBOX`. Each segment
/// is escaped reversibly as in the Maildir store (`%` → `%25`, `.` → `%2E`, `/` → `%2F`,
/// `\` → `%5C`; non-ASCII kept as UTF-8), so a folder name can never collide with the
/// `.sbd`, `.mmidx` or `.mmtail-*` names this store uses. Files of other tools (`*.msf`,
/// dot files) are ignored.
///
/// # mboxrd
/// Each message is written as `From <sender> <asctime of the internal date, UTC>\n`, then
/// its bytes with every line matching `^>*From ` given one more `>`, then a newline if the
/// message did not end with one, then a blank line. Reading removes one `>` from lines
/// matching `^>+From `. No `Status` or `X-Status` header is ever added to the bytes.
///
/// # The sidecar index
/// `<file>.mmidx` holds one JSON line per message: the offsets of its `From_` line, data and
/// end, its original length, whether a newline was added, its flags, labels, internal
/// date, content hash and `Message-ID`. Flag changes append an update line. The index is
/// written and fsynced only after the data it describes is fsynced, so:
/// - bytes after the last indexed message (a killed append, or bytes another program
///   appended) are never listed; before the next append they are moved to
///   `<file>.mmtail-<offset>` and cut from the mbox, so no byte is destroyed and reading
///   alone never modifies the mbox;
/// - index entries that reach beyond the end of the file are dropped, as is a torn last
///   index line.
///
/// Appending to a store's mbox file with another program is therefore not supported; delete
/// the `.mmidx` file to have the store scan it again. Likewise one directory is served by
/// one `MboxStore` (and its clones) at a time: clones share the per-folder locks, separate
/// instances do not.
///
/// An mbox without a sidecar (from Thunderbird, mutt or Google Takeout) is scanned once,
/// streaming, and indexed: flags come from `Status`, `X-Status`, `X-Mozilla-Status` and
/// `X-Keywords`, labels from `X-Gmail-Labels` (`Opened` also sets `\Seen`, `Starred` also
/// sets `\Flagged`), the internal date from the `From_` line. The mbox file itself is never
/// modified by a scan; when its directory cannot take the index (read-only media), the index
/// goes to the temp directory as `mailmigrate-<hash of the path>.mmidx`.
///
/// Roles come from well-known top-level names (`Sent`, `Drafts`, `Trash`, `Junk`, `Archive`
/// and common variants); a role given to `ensure_folder` that the name does not imply is
/// remembered in `root/.mailmigrate-roles.json`.
///
/// A [`MessageId`] is the decimal byte offset of the message's `From_` line, stable because
/// the file is append-only. Deleting is unsupported (it would move every later message);
/// the capabilities say so.
///
/// No per-message metadata stays in memory: per folder in use the store keeps the index
/// position of every 64th message (16 bytes per 64 messages) and the flag changes made since
/// the index was last compacted (on the next open). Listing and dedupe stream the index; fetch seeks into it, then reads only
/// the message's byte range from the mbox.
///
/// # Examples
/// ```
/// use mailmigrate_core::store::MboxStore;
/// use mailmigrate_core::{Destination, FolderPath, MessageId, MessageMeta, RawMessage, Source};
/// use futures::StreamExt;
/// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// let store = MboxStore::open(dir.path().join("backup")).unwrap();
/// let inbox = store.ensure_folder(&FolderPath::inbox(), None).await.unwrap().id;
/// let raw = b"Subject: hi\n\nFrom here on, quoting keeps this line intact";
/// let msg = RawMessage::new(
///     MessageMeta::new(MessageId::new("src-1"), inbox.clone()),
///     bytes::Bytes::from_static(raw),
/// );
/// let id = store.append(&inbox, vec![msg]).await.unwrap()[0]
///     .as_ref()
///     .unwrap()
///     .id
///     .clone()
///     .unwrap();
/// let (_, fetched) = store.fetch(&inbox, vec![id]).next().await.unwrap();
/// assert_eq!(&fetched.unwrap().bytes[..], &raw[..]);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct MboxStore {
    inner: Arc<Inner>,
}

type Slot = Arc<Mutex<Option<FolderIndex>>>;

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    info: ProviderInfo,
    folders: Mutex<HashMap<String, Slot>>,
    /// Serialises changes to the roles file.
    roles: Mutex<()>,
}

impl MboxStore {
    /// Opens the mbox store at `root`, creating the directory if missing.
    ///
    /// This is the one synchronous call (a few directory checks and creations), meant for
    /// setup; every trait method runs its file-system work on tokio's blocking pool.
    ///
    /// Folders, the inbox included, come into being through
    /// [`ensure_folder`](Destination::ensure_folder); existing mbox files are found as they are.
    ///
    /// # Errors
    /// `PermissionDenied` or `Unexpected` when the directory cannot be created, and
    /// `ConfigInvalid` when `root` exists but is not a directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if root.exists() && !root.is_dir() {
            return Err(
                Error::new(ErrorKind::ConfigInvalid, "root is not a directory")
                    .with_provider(SCHEME)
                    .with_operation(Operation::Build)
                    .with_context("path", root.display()),
            );
        }
        fs::create_dir_all(&root).map_err(|e| {
            Error::from(e)
                .with_provider(SCHEME)
                .with_operation(Operation::Build)
                .with_context("path", root.display())
        })?;
        let account = root.display().to_string();
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                info: ProviderInfo::new(SCHEME, account, Self::capabilities()),
                folders: Mutex::new(HashMap::new()),
                roles: Mutex::new(()),
            }),
        })
    }

    /// The capabilities an mbox store has (no delete, no incremental listing).
    pub fn capabilities() -> Capabilities {
        Capabilities {
            delete: false,
            ..super::file_store_capabilities()
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn err(kind: ErrorKind, msg: impl Into<String>, op: Operation) -> Error {
    Error::new(kind, msg)
        .with_provider(SCHEME)
        .with_operation(op)
}

fn folder_err(e: impl Into<Error>, op: Operation, folder: &FolderId) -> Error {
    e.into()
        .with_provider(SCHEME)
        .with_operation(op)
        .with_context("folder", folder)
}

#[async_trait]
impl Provider for MboxStore {
    fn info(&self) -> &ProviderInfo {
        &self.inner.info
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.list_folders()).await
    }
}

#[async_trait]
impl Source for MboxStore {
    fn list_changes(
        &self,
        folder: &FolderId,
        _since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let inner = Arc::clone(&self.inner);
        let folder = folder.clone();
        blocking_stream(move |tx| {
            if let Err(e) = inner.list_into(&folder, tx) {
                let _ = tx.blocking_send(Err(e));
            }
        })
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let inner = Arc::clone(&self.inner);
        let folder = folder.clone();
        blocking_stream(move |tx| {
            for id in ids {
                let r = inner.read_one(&folder, &id);
                if tx.blocking_send((id, r)).is_err() {
                    return;
                }
            }
        })
    }
}

#[async_trait]
impl Destination for MboxStore {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        let inner = Arc::clone(&self.inner);
        let path = path.clone();
        blocking(move || inner.ensure_folder(&path, role)).await
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let inner = Arc::clone(&self.inner);
        let folder = folder.clone();
        blocking(move || inner.append_batch(&folder, &messages)).await
    }

    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        let folder = folder.clone();
        let id = id.clone();
        let change = change.clone();
        blocking(move || inner.update_flags(&folder, &id, change)).await
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        let inner = Arc::clone(&self.inner);
        let folder = folder.clone();
        let key = key.clone();
        blocking(move || inner.find_existing(&folder, &key)).await
    }

    async fn delete(&self, folder: &FolderId, _ids: &[MessageId]) -> Result<()> {
        Err(err(
            ErrorKind::Unsupported,
            "an mbox store cannot delete messages without moving the others",
            Operation::Delete,
        )
        .with_context("folder", folder))
    }
}

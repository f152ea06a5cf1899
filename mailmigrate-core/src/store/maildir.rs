//! A Maildir++ mailbox on the local file system, laid out as Dovecot lays it out.
//!
//! See [`MaildirStore`] for the format.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use time::OffsetDateTime;

use crate::id_hashes::IdHashes;
use crate::utf7;
use crate::{
    Appended, Capabilities, Change, Checkpoint, ContentHash, DedupeKey, Destination, EnsuredFolder,
    Error, ErrorKind, ExistingCopy, Flag, FlagChange, Flags, Folder, FolderId, FolderPath,
    ItemResult, MessageId, Operation, Provider, ProviderInfo, RawMessage, Result, Source,
    SpecialUse,
};

/// The scheme of [`MaildirStore`].
pub(crate) const SCHEME: &str = "maildir";

/// The folder id of the inbox (the root directory).
const INBOX_ID: &str = "INBOX";
/// Dovecot's per-folder keyword table.
const KEYWORDS_FILE: &str = "dovecot-keywords";
/// Dovecot's marker file in every non-inbox folder.
const FOLDER_MARKER: &str = "maildirfolder";
/// The most keywords one folder can hold (`a`..`z`).
const MAX_KEYWORDS: usize = 26;
/// The longest directory name most file systems accept, in bytes.
const MAX_NAME: usize = 255;
/// How many listing entries or fetched bodies are buffered ahead of the consumer.
const CHANNEL_DEPTH: usize = 64;

/// A Maildir++ mailbox rooted at a directory, laid out as Dovecot lays it out. It is both a
/// [`Source`] and a [`Destination`]; cloning shares the same mailbox.
///
/// # Layout
/// - The root directory is the inbox (`cur/`, `new/`, `tmp/`).
/// - Every other folder is a directory `root/.Seg1.Seg2/`, `.` being the hierarchy
///   separator, with its own `cur/ new/ tmp/` and an empty `maildirfolder` file (as Dovecot
///   creates it).
/// - Segments are named as Dovecot names them: in modified UTF-7 (RFC 3501 §5.1.3, see
///   [`crate::utf7`]), so `Entwürfe & Notizen` is the directory `.Entw&APw-rfe &- Notizen`.
/// - The two characters a segment cannot hold on disk are escaped before that: `.` becomes
///   `%2E` and `/` becomes `%2F` (and `\` becomes `%5C` on Windows, where it separates
///   paths); a `%` becomes `%25` only where two hex digits follow it, so `100%` stays
///   `100%`. Decoding turns every `%` and two hex digits back into its character and keeps
///   any other `%` as is. Dovecot refuses names holding `.` and shows these escapes
///   literally (`a%2Eb`); every other name reads the same in both.
/// - A directory name that is not valid modified UTF-7 is taken literally (and logged),
///   never skipped. That keeps readable the raw UTF-8 names this store wrote before it
///   followed Dovecot (`.Entwürfe`, with `%25` and `%5C` escapes) and those of Dovecot's
///   `:UTF-8` option; `ensure_folder` reuses such an existing directory instead of making
///   a second one for the same folder.
///
/// # Messages
/// - A message is one file `cur/<unique>:2,<info>`; its [`MessageId`] is the unique base
///   name (before `:2,`), stable across flag changes. Files delivered into `new/` by other
///   tools are listed too: `new/` first, then `cur/`, skipping in `cur/` the ids `new/`
///   gave, so a message a mail client moves from `new/` to `cur/` during the listing is
///   listed once (only the ids found in `new/` are remembered, never the whole folder).
/// - The info letters follow the Maildir spec, sorted: `D` `\Draft`, `F` `\Flagged`, `R`
///   `\Answered`, `S` `\Seen`, `T` `\Deleted`; `P` (passed) is read as `$Forwarded`.
///   Keywords use Dovecot's `dovecot-keywords` file in the folder: lowercase letters `a`..`z`
///   stand for keyword 0..25, so Dovecot serving the same directory shows them. A folder
///   holds at most 26 distinct keywords: a message needing a 27th fails alone with
///   [`ErrorKind::Unsupported`] and nothing is written for it.
/// - The internal date is the file's modification time (whole seconds).
/// - An append writes `tmp/<unique>`, sets its mtime, fsyncs it and renames it into `cur/`,
///   so a killed process leaves at most a stray file in `tmp/`, never half a message in
///   `cur/`. Unique names follow the spec: `<secs>.M<usec>P<pid>Q<counter>R<random>.<host>`.
///
/// Dovecot reads and writes this layout with its default `mail_location = maildir:<root>`
/// (Maildir++ layout, modified UTF-7 names). Messages Dovecot delivers, with its
/// `,S=`/`,W=` name suffixes and keyword letters, are read as they are.
///
/// Listing has no incremental mode: every pass lists all names (with a `stat`, never the
/// bodies) and ends with the message count as the checkpoint. Roles come from well-known
/// top-level names (`Sent`, `Drafts`, `Trash`, `Junk`/`Spam`, `Archive` and their common
/// variants); a role given to `ensure_folder` that the name does not imply is remembered in
/// `root/.mailmigrate-roles.json`. Deleting ids that are already gone succeeds.
///
/// # Examples
/// ```
/// use mailmigrate_core::store::MaildirStore;
/// use mailmigrate_core::{Destination, Flag, FolderPath, MessageId, MessageMeta, RawMessage, Source};
/// use futures::StreamExt;
/// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// let store = MaildirStore::open(dir.path().join("mail")).unwrap();
/// let folder = store
///     .ensure_folder(&FolderPath::parse("Archive/2020", '/').unwrap(), None)
///     .await
///     .unwrap()
///     .id;
/// let meta = MessageMeta::new(MessageId::new("src-1"), folder.clone())
///     .with_flags([Flag::Seen].into_iter().collect());
/// let msg = RawMessage::new(meta, bytes::Bytes::from_static(b"Subject: hi\n\nbody"));
/// let id = store.append(&folder, vec![msg]).await.unwrap()[0]
///     .as_ref()
///     .unwrap()
///     .id
///     .clone()
///     .unwrap();
/// let (_, fetched) = store.fetch(&folder, vec![id]).next().await.unwrap();
/// assert_eq!(&fetched.unwrap().bytes[..], b"Subject: hi\n\nbody");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct MaildirStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    info: ProviderInfo,
    host: String,
    counter: AtomicU64,
    /// Serialises changes to `dovecot-keywords` files within this process.
    keywords: Mutex<()>,
    /// Serialises changes to the roles file.
    roles: Mutex<()>,
}

impl MaildirStore {
    /// Opens the Maildir++ mailbox at `root`, creating the root and its inbox if missing.
    ///
    /// This is the one synchronous call (a few directory checks and creations), meant for
    /// setup; every trait method runs its file-system work on tokio's blocking pool.
    ///
    /// # Errors
    /// `PermissionDenied` or `Unexpected` when the directories cannot be created, and
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
        create_maildir(&root).map_err(|e| {
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
                host: hostname(),
                counter: AtomicU64::new(0),
                keywords: Mutex::new(()),
                roles: Mutex::new(()),
            }),
        })
    }

    /// The capabilities a Maildir store has.
    pub fn capabilities() -> Capabilities {
        Capabilities {
            delete: true,
            ..super::file_store_capabilities()
        }
    }

    /// The root directory (the inbox).
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The directory of an existing folder (the one holding its `cur/`, `new/`, `tmp/`).
    ///
    /// # Errors
    /// `NotFound` for an id that names no folder of this store.
    pub fn folder_dir(&self, id: &FolderId) -> Result<PathBuf> {
        self.inner.folder_dir(id, Operation::Unknown)
    }
}

impl Inner {
    /// The directory of an existing folder.
    fn folder_dir(&self, id: &FolderId, op: Operation) -> Result<PathBuf> {
        let s = id.as_str();
        let dir = if s == INBOX_ID {
            self.root.clone()
        } else if s.len() > 1
            && s.starts_with('.')
            && s != ".."
            && !s.contains(|c| c == '\0' || std::path::is_separator(c))
        {
            self.root.join(s)
        } else {
            return Err(err(ErrorKind::NotFound, "no such folder", op).with_context("folder", id));
        };
        if dir.join("cur").is_dir() {
            Ok(dir)
        } else {
            Err(err(ErrorKind::NotFound, "no such folder", op).with_context("folder", id))
        }
    }

    fn unique_name(&self) -> String {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let r: u32 = rand::random();
        format!(
            "{}.M{}P{}Q{}R{:08x}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            n,
            r,
            self.host
        )
    }

    /// Builds the `:2,` info letters for `flags`, allocating keyword letters as needed.
    fn info_for(&self, dir: &Path, flags: &Flags) -> Result<String> {
        let mut letters: Vec<char> = Vec::new();
        let mut keywords: Vec<&str> = Vec::new();
        for f in flags {
            match f {
                Flag::Draft => letters.push('D'),
                Flag::Flagged => letters.push('F'),
                Flag::Answered => letters.push('R'),
                Flag::Seen => letters.push('S'),
                Flag::Deleted => letters.push('T'),
                // `\Recent` is session state, not something a mailbox stores.
                Flag::Keyword(k) if k.eq_ignore_ascii_case("\\Recent") => {}
                Flag::Keyword(k) => {
                    let bad = k.is_empty()
                        || k.starts_with('\\')
                        || k.chars().any(|c| c.is_whitespace() || c.is_control());
                    if bad {
                        return Err(Error::new(
                            ErrorKind::InvalidMessage,
                            "not a valid keyword (empty, whitespace or a backslash flag)",
                        )
                        .with_context("keyword", k.escape_debug()));
                    }
                    keywords.push(k);
                }
            }
        }
        if !keywords.is_empty() {
            let _guard = self
                .keywords
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut table = read_keywords(dir)?;
            let mut changed = false;
            for k in keywords {
                let idx = match table.iter().find(|(_, name)| name.as_str() == k) {
                    Some((&i, _)) => i,
                    None => {
                        let Some(free) = (0..MAX_KEYWORDS).find(|i| !table.contains_key(i)) else {
                            return Err(Error::new(
                                ErrorKind::Unsupported,
                                "the folder already holds 26 keywords, the Maildir limit",
                            )
                            .with_context("keyword", k));
                        };
                        table.insert(free, k.to_owned());
                        changed = true;
                        free
                    }
                };
                letters.push(keyword_letter(idx));
            }
            if changed {
                write_keywords(dir, &table)?;
            }
        }
        letters.sort_unstable();
        letters.dedup();
        Ok(letters.into_iter().collect())
    }

    fn append_one(&self, dir: &Path, msg: &RawMessage) -> Result<MessageId> {
        if msg.bytes.is_empty() {
            return Err(Error::new(ErrorKind::InvalidMessage, "empty message"));
        }
        let info = self.info_for(dir, &msg.meta.flags)?;
        let name = self.unique_name();
        let tmp = dir.join("tmp").join(&name);
        let dest = dir.join("cur").join(format!("{name}:2,{info}"));
        let write = || -> io::Result<()> {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(&msg.bytes)?;
            if let Some(date) = msg.meta.internal_date {
                f.set_modified(SystemTime::from(date))?;
            }
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &dest)
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(Error::from(e));
        }
        Ok(MessageId::new(name))
    }

    /// Finds the files of the requested ids in `new/` and `cur/`, in one directory pass.
    ///
    /// `new/` is read first: a message moved from `new/` to `cur/` meanwhile is then found in
    /// `cur/` (which wins), and one moved after both reads has a stale path that the reader
    /// looks up again.
    fn locate(&self, dir: &Path, ids: &HashSet<&str>) -> io::Result<HashMap<String, PathBuf>> {
        let mut found = HashMap::new();
        for sub in ["new", "cur"] {
            for entry in fs::read_dir(dir.join(sub))? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let (base, _) = split_name(name);
                if ids.contains(base) {
                    found.insert(base.to_owned(), entry.path());
                }
            }
        }
        Ok(found)
    }

    fn locate_one(&self, dir: &Path, id: &MessageId) -> io::Result<Option<PathBuf>> {
        let ids: HashSet<&str> = [id.as_str()].into_iter().collect();
        Ok(self.locate(dir, &ids)?.remove(id.as_str()))
    }

    fn read_message(
        &self,
        dir: &Path,
        folder: &FolderId,
        id: &MessageId,
        path: Option<PathBuf>,
        keywords: &BTreeMap<usize, String>,
    ) -> Result<RawMessage> {
        let not_found =
            || err(ErrorKind::NotFound, "no such message", Operation::Fetch).with_item(folder, id);
        let mut path = path.ok_or_else(not_found)?;
        // A concurrent flag change renames the file: look it up once more.
        let bytes = match fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                path = self
                    .locate_one(dir, id)
                    .map_err(|e| io_err(e, Operation::Fetch, folder, id))?
                    .ok_or_else(not_found)?;
                fs::read(&path)
            }
            other => other,
        }
        .map_err(|e| io_err(e, Operation::Fetch, folder, id))?;
        let md = fs::metadata(&path).map_err(|e| io_err(e, Operation::Fetch, folder, id))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let meta = meta_for(folder, name, &md, keywords);
        Ok(RawMessage::new(meta, Bytes::from(bytes)))
    }
}

/// Runs blocking file-system work off the async runtime.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        Error::new(ErrorKind::Unexpected, "blocking file-system task failed").with_source(e)
    })?
}

/// Streams what a blocking producer sends, starting it on first poll.
pub(crate) fn blocking_stream<T, F>(produce: F) -> BoxStream<'static, T>
where
    T: Send + 'static,
    F: FnOnce(&tokio::sync::mpsc::Sender<T>) + Send + 'static,
{
    stream::once(async move {
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_DEPTH);
        tokio::task::spawn_blocking(move || produce(&tx));
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
    })
    .flatten()
    .boxed()
}

/// Escapes one folder name segment reversibly (the scheme is on [`MaildirStore`]).
pub(crate) fn escape_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '.' => out.push_str("%2E"),
            '/' => out.push_str("%2F"),
            '\\' => out.push_str("%5C"),
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape_segment`]; a `%` not followed by two hex digits is kept as is.
pub(crate) fn unescape_segment(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// The directory name (`.Seg1.Seg2`) of the folder at `segs`, as Dovecot's Maildir++
/// layout names it (the scheme is on [`MaildirStore`]).
fn folder_dir_name(segs: &[String]) -> String {
    segs.iter()
        .map(|seg| format!(".{}", utf7::encode(&escape_separators(seg))))
        .collect()
}

/// The directory name this store gave the folder at `segs` before it followed Dovecot's
/// naming: raw UTF-8 segments escaped by [`escape_segment`].
fn legacy_folder_dir_name(segs: &[String]) -> String {
    segs.iter()
        .map(|seg| format!(".{}", escape_segment(seg)))
        .collect()
}

/// Escapes what a Maildir++ segment cannot hold: `.` (the hierarchy separator) as `%2E`,
/// `/` as `%2F` (and `\` as `%5C` on Windows), and a `%` that two hex digits follow as
/// `%25`, so that
/// [`unescape_segment`] reverses it. Any other `%` stays, as Dovecot would write it.
fn escape_separators(seg: &str) -> String {
    let chars: Vec<char> = seg.chars().collect();
    let mut out = String::with_capacity(seg.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '.' => out.push_str("%2E"),
            '/' => out.push_str("%2F"),
            // A path separator where it is one; Dovecot on Unix keeps `\` as it is.
            '\\' if std::path::is_separator('\\') => out.push_str("%5C"),
            '%' if starts_with_hex_pair(&chars[i + 1..]) => out.push_str("%25"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `chars` begins with two hex digits (what makes a `%` an escape).
fn starts_with_hex_pair(chars: &[char]) -> bool {
    chars.len() >= 2 && chars[..2].iter().all(char::is_ascii_hexdigit)
}

/// The folder path that a folder directory name stands for, `rest` being the name without
/// its leading `.`. A segment that is not valid modified UTF-7 is taken literally (an
/// older store of ours, Dovecot's `:UTF-8` option, another tool), and logged.
fn path_from_dir_name(rest: &str) -> Result<FolderPath> {
    let mut literal = false;
    let segs: Vec<String> = rest
        .split('.')
        .map(|raw| match utf7::decode(raw) {
            Some(text) => unescape_segment(&text),
            None => {
                literal = true;
                unescape_segment(raw)
            }
        })
        .collect();
    if literal && rest.is_ascii() {
        tracing::warn!(
            dir = rest,
            "a Maildir folder name that is not modified UTF-7, taken literally"
        );
    } else if literal {
        tracing::info!(
            dir = rest,
            "a Maildir folder name in UTF-8 (an older mailmigrate store or Dovecot's :UTF-8 \
             layout), taken literally"
        );
    }
    FolderPath::new(segs)
}

/// The file at a store's root that remembers roles given to `ensure_folder` which the
/// folder's name does not imply (a dot file, so neither store lists it as a folder).
pub(crate) const ROLES_FILE: &str = ".mailmigrate-roles.json";

/// The roles remembered at `root`, by folder id.
pub(crate) fn read_roles(root: &Path) -> io::Result<BTreeMap<String, SpecialUse>> {
    match fs::read(root.join(ROLES_FILE)) {
        Ok(b) => Ok(serde_json::from_slice(&b).unwrap_or_else(|_| {
            tracing::warn!("ignoring an unreadable {ROLES_FILE}");
            BTreeMap::new()
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

/// Remembers `role` for the folder `id` at `path`, unless its name implies it already.
pub(crate) fn remember_role(
    root: &Path,
    lock: &Mutex<()>,
    id: &FolderId,
    path: &FolderPath,
    role: Option<SpecialUse>,
) -> io::Result<()> {
    let Some(role) = role else { return Ok(()) };
    if role_for_path(path) == Some(role) {
        return Ok(());
    }
    let _guard = lock
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut roles = read_roles(root)?;
    if roles.get(id.as_str()) == Some(&role) {
        return Ok(());
    }
    roles.insert(id.as_str().to_owned(), role);
    let tmp = root.join(format!("{ROLES_FILE}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(&roles)?)?;
    f.sync_all()?;
    fs::rename(&tmp, root.join(ROLES_FILE))
}

/// The role a folder has by its well-known top-level name.
pub(crate) fn role_for_path(path: &FolderPath) -> Option<SpecialUse> {
    if path.is_inbox() {
        return Some(SpecialUse::Inbox);
    }
    if path.segments().len() != 1 {
        return None;
    }
    let name = path.segments()[0].to_lowercase();
    Some(match name.as_str() {
        "sent" | "sent items" | "sent messages" | "sent mail" => SpecialUse::Sent,
        "drafts" | "draft" => SpecialUse::Drafts,
        "trash" | "deleted items" | "deleted messages" | "bin" => SpecialUse::Trash,
        "junk" | "spam" | "junk e-mail" | "junk email" | "bulk mail" => SpecialUse::Junk,
        "archive" | "archives" => SpecialUse::Archive,
        _ => return None,
    })
}

/// Converts a file time to an internal date (UTC, whole seconds).
pub(crate) fn system_time_to_date(t: SystemTime) -> Option<OffsetDateTime> {
    let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok()?,
        Err(e) => -i64::try_from(e.duration().as_secs()).ok()?,
    };
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

fn err(kind: ErrorKind, msg: &str, op: Operation) -> Error {
    Error::new(kind, msg)
        .with_provider(SCHEME)
        .with_operation(op)
}

fn io_err(e: io::Error, op: Operation, folder: &FolderId, id: &MessageId) -> Error {
    Error::from(e)
        .with_provider(SCHEME)
        .with_operation(op)
        .with_item(folder, id)
}

fn folder_io_err(e: io::Error, op: Operation, folder: &FolderId) -> Error {
    Error::from(e)
        .with_provider(SCHEME)
        .with_operation(op)
        .with_context("folder", folder)
}

fn create_maildir(dir: &Path) -> io::Result<()> {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    Ok(())
}

fn hostname() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    // The Maildir spec replaces `/` and `:` in the host name with octal escapes.
    raw.replace('/', "\\057").replace(':', "\\072")
}

/// Splits a file name into its unique base name and its `:2,` info letters, if any.
fn split_name(name: &str) -> (&str, Option<&str>) {
    match name.split_once(':') {
        Some((base, info)) => (base, info.strip_prefix("2,")),
        None => (name, None),
    }
}

fn keyword_letter(idx: usize) -> char {
    char::from(b'a' + u8::try_from(idx).unwrap_or(0))
}

/// Reads the folder's `dovecot-keywords` table (index → name); missing means empty.
fn read_keywords(dir: &Path) -> Result<BTreeMap<usize, String>> {
    let text = match fs::read_to_string(dir.join(KEYWORDS_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(Error::from(e).with_context("file", KEYWORDS_FILE)),
    };
    let mut table = BTreeMap::new();
    for line in text.lines() {
        let Some((idx, name)) = line.split_once(' ') else {
            continue;
        };
        if let Ok(idx) = idx.trim().parse::<usize>() {
            if idx < MAX_KEYWORDS && !name.is_empty() {
                table.insert(idx, name.to_owned());
            }
        }
    }
    Ok(table)
}

/// Replaces the keyword table atomically (temporary file, fsync, rename).
fn write_keywords(dir: &Path, table: &BTreeMap<usize, String>) -> Result<()> {
    let mut text = String::new();
    for (idx, name) in table {
        text.push_str(&format!("{idx} {name}\n"));
    }
    let tmp = dir.join(format!("{KEYWORDS_FILE}.tmp"));
    let write = || -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(KEYWORDS_FILE))
    };
    write().map_err(|e| Error::from(e).with_context("file", KEYWORDS_FILE))
}

/// Decodes info letters into flags.
fn flags_from_info(info: &str, keywords: &BTreeMap<usize, String>) -> Flags {
    let mut flags = Flags::new();
    for c in info.chars() {
        match c {
            'D' => {
                flags.insert(Flag::Draft);
            }
            'F' => {
                flags.insert(Flag::Flagged);
            }
            'P' => {
                flags.insert(Flag::Keyword("$Forwarded".to_owned()));
            }
            'R' => {
                flags.insert(Flag::Answered);
            }
            'S' => {
                flags.insert(Flag::Seen);
            }
            'T' => {
                flags.insert(Flag::Deleted);
            }
            'a'..='z' => {
                let idx = usize::from(c as u8 - b'a');
                if let Some(name) = keywords.get(&idx) {
                    flags.insert(Flag::Keyword(name.clone()));
                }
            }
            _ => {}
        }
    }
    flags
}

fn meta_for(
    folder: &FolderId,
    name: &str,
    md: &fs::Metadata,
    keywords: &BTreeMap<usize, String>,
) -> crate::MessageMeta {
    let (base, info) = split_name(name);
    crate::MessageMeta::new(MessageId::new(base), folder.clone())
        .with_flags(
            info.map(|i| flags_from_info(i, keywords))
                .unwrap_or_default(),
        )
        .with_internal_date(md.modified().ok().and_then(system_time_to_date))
        .with_size(md.len())
}

/// Whether a directory entry name is a message file (not a dot file).
fn is_message_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.')
}

/// Lists a folder: `new/`, then `cur/` without the ids `new/` gave.
///
/// A mail client moves a message from `new/` to `cur/` at any moment. Moved before its
/// `new/` entry was read or stat'ed, it is not listed from `new/` and `cur/` has it, being
/// read later. Moved after, it was listed from `new/` and its id is skipped in `cur/`. So
/// each message is listed once, and only the ids of `new/` are remembered.
///
/// A flag change renames a file inside `cur/`, and a directory read that runs meanwhile
/// may return neither name. So the modification times of `new/` and `cur/` are compared
/// before and after: if either changed, both are read again and the messages not listed
/// yet are listed (a 64-bit hash of each listed id is kept, 8 bytes a message). The
/// checkpoint comes only after a read during which neither directory changed, so a
/// message a rename hid is never taken for deleted. (A filesystem whose directory times
/// are coarser than the changes can miss one; Linux filesystems keep nanoseconds.)
fn list_changes_blocking(
    inner: &Inner,
    folder: &FolderId,
    tx: &tokio::sync::mpsc::Sender<Result<Change>>,
) -> Result<()> {
    /// Reads of a folder that keeps changing before the listing ends without a checkpoint.
    const READS: usize = 4;
    let op = Operation::ListChanges;
    let dir = inner.folder_dir(folder, op)?;
    let keywords = read_keywords(&dir).map_err(|e| {
        e.with_provider(SCHEME)
            .with_operation(op)
            .with_context("folder", folder)
    })?;
    let mut listed = IdHashes::default();
    let mut send = |name: &str, md: &fs::Metadata| {
        let meta = meta_for(folder, name, md, &keywords);
        match tx.blocking_send(Ok(Change::Upsert(meta))) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    };
    let mut before = dir_times(&dir);
    for _ in 0..READS {
        if read_folder_once(&dir, folder, &mut listed, &mut send)?.is_break() {
            return Ok(());
        }
        let after = dir_times(&dir);
        if after == before {
            let count = listed.len().to_string();
            let _ = tx.blocking_send(Ok(Change::Checkpoint(Checkpoint::new(count))));
            return Ok(());
        }
        tracing::debug!(folder = %folder, "the folder changed while it was read; reading it again");
        before = after;
        listed.seal();
    }
    tracing::warn!(
        folder = %folder,
        "the folder kept changing while it was read; its listing ends without a checkpoint"
    );
    Ok(())
}

/// The modification times of `new/` and `cur/` (`None` where unreadable).
fn dir_times(dir: &Path) -> [Option<SystemTime>; 2] {
    ["new", "cur"].map(|sub| fs::metadata(dir.join(sub)).and_then(|m| m.modified()).ok())
}

/// One read of `new/` then `cur/` (see [`list_changes_blocking`]), sending each message
/// no earlier read sent.
fn read_folder_once(
    dir: &Path,
    folder: &FolderId,
    listed: &mut IdHashes,
    send: &mut impl FnMut(&str, &fs::Metadata) -> ControlFlow<()>,
) -> Result<ControlFlow<()>> {
    let mut listed_from_new: HashSet<String> = HashSet::new();
    let mut visit = |name: &str, md: &fs::Metadata, listed: &mut IdHashes| {
        let base = split_name(name).0;
        if listed.contains(base) {
            return ControlFlow::Continue(());
        }
        listed.insert(base);
        send(name, md)
    };
    let new = for_each_message(&dir.join("new"), folder, |name, md| {
        listed_from_new.insert(split_name(name).0.to_owned());
        visit(name, md, listed)
    })?;
    if new.is_break() {
        return Ok(new);
    }
    for_each_message(&dir.join("cur"), folder, |name, md| {
        if listed_from_new.contains(split_name(name).0) {
            return ControlFlow::Continue(());
        }
        visit(name, md, listed)
    })
}

/// Calls `visit` with the name and metadata of every message file in `sub` (a `new/` or
/// `cur/` directory), until it breaks. Files gone between the directory read and their
/// `stat` are skipped: they were renamed (or deleted) by someone else meanwhile.
fn for_each_message(
    sub: &Path,
    folder: &FolderId,
    mut visit: impl FnMut(&str, &fs::Metadata) -> ControlFlow<()>,
) -> Result<ControlFlow<()>> {
    let op = Operation::ListChanges;
    let rd = fs::read_dir(sub).map_err(|e| folder_io_err(e, op, folder))?;
    for entry in rd {
        let entry = entry.map_err(|e| folder_io_err(e, op, folder))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            tracing::warn!(folder = %folder, "skipping a Maildir file with a non-UTF-8 name");
            continue;
        };
        if !is_message_name(name) {
            continue;
        }
        let md = match entry.metadata() {
            Ok(md) => md,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(folder_io_err(e, op, folder)),
        };
        if md.is_file() && visit(name, &md).is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    Ok(ControlFlow::Continue(()))
}

fn fetch_blocking(
    inner: &Inner,
    folder: &FolderId,
    ids: Vec<MessageId>,
    tx: &tokio::sync::mpsc::Sender<ItemResult<RawMessage>>,
) {
    let op = Operation::Fetch;
    let prepared = inner.folder_dir(folder, op).and_then(|dir| {
        let keywords = read_keywords(&dir).map_err(|e| {
            e.with_provider(SCHEME)
                .with_operation(op)
                .with_context("folder", folder)
        })?;
        let wanted: HashSet<&str> = ids.iter().map(MessageId::as_str).collect();
        let found = inner
            .locate(&dir, &wanted)
            .map_err(|e| folder_io_err(e, op, folder))?;
        Ok((dir, keywords, found))
    });
    let (dir, keywords, mut found) = match prepared {
        Ok(p) => p,
        Err(e) => {
            for id in ids {
                let e = Error::new(e.kind(), e.message())
                    .with_provider(SCHEME)
                    .with_operation(op)
                    .with_item(folder, &id);
                if tx.blocking_send((id, Err(e))).is_err() {
                    return;
                }
            }
            return;
        }
    };
    for id in ids {
        let path = found.remove(id.as_str());
        let r = inner.read_message(&dir, folder, &id, path, &keywords);
        if tx.blocking_send((id, r)).is_err() {
            return;
        }
    }
}

/// Creates the directories of the folder at `path` (and of its parents) as needed.
fn ensure_dirs(inner: &Inner, path: &FolderPath) -> Result<EnsuredFolder> {
    let op = Operation::EnsureFolder;
    if path.is_inbox() {
        create_maildir(&inner.root).map_err(|e| {
            Error::from(e)
                .with_provider(SCHEME)
                .with_operation(op)
                .with_context("folder", path)
        })?;
        return Ok(EnsuredFolder::new(FolderId::new(INBOX_ID), false)
            .with_empty(holds_no_mail(&inner.root)));
    }
    let segs = path.segments();
    let io_error = |e: io::Error| {
        Error::from(e)
            .with_provider(SCHEME)
            .with_operation(op)
            .with_context("folder", path)
    };
    if existing_folder_dir(&inner.root, segs).is_none() && folder_dir_name(segs).len() > MAX_NAME {
        return Err(err(
            ErrorKind::ConfigInvalid,
            "folder name too long for a Maildir++ directory",
            op,
        )
        .with_context("folder", path));
    }
    let mut created = false;
    let mut name = String::new();
    for depth in 1..=segs.len() {
        let level = &segs[..depth];
        let leaf = depth == segs.len();
        if let Some(existing) = existing_folder_dir(&inner.root, level) {
            name = existing;
            continue;
        }
        // The inbox's children need no inbox directory of their own.
        if depth == 1 && !leaf && level[0].eq_ignore_ascii_case("INBOX") {
            continue;
        }
        name = folder_dir_name(level);
        let fresh = create_folder_dir(&inner.root, &name).map_err(io_error)?;
        if leaf {
            created = fresh;
        }
    }
    let dir = inner.root.join(&name);
    Ok(EnsuredFolder::new(FolderId::new(name), created).with_empty(created || holds_no_mail(&dir)))
}

/// The directory name of an existing folder at `segs`: the one Dovecot would use, or the
/// one this store used before it followed Dovecot's naming.
fn existing_folder_dir(root: &Path, segs: &[String]) -> Option<String> {
    [folder_dir_name(segs), legacy_folder_dir_name(segs)]
        .into_iter()
        .find(|name| root.join(name).join("cur").is_dir())
}

/// Creates the folder directory `root/name` with its `cur/ new/ tmp/` and marker file, and
/// says whether this call created it (whoever creates the directory does, even in a race).
fn create_folder_dir(root: &Path, name: &str) -> io::Result<bool> {
    let dir = root.join(name);
    let fresh = match fs::create_dir(&dir) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(e),
    };
    create_maildir(&dir)?;
    File::create(dir.join(FOLDER_MARKER))?.sync_all()?;
    File::open(root)?.sync_all()?;
    Ok(fresh)
}

/// Logs folders that two directories stand for (an older name of ours beside Dovecot's);
/// both are listed, so no message in either is left behind.
fn warn_about_twins(sorted: &[Folder]) {
    for pair in sorted.windows(2) {
        if pair[0].path == pair[1].path {
            tracing::warn!(
                folder = %pair[0].path,
                first = %pair[0].id,
                second = %pair[1].id,
                "two Maildir directories name the same folder"
            );
        }
    }
}

/// Whether a Maildir folder's `cur/` and `new/` hold no file (unknown counts as not empty).
fn holds_no_mail(dir: &Path) -> bool {
    ["cur", "new"]
        .iter()
        .all(|sub| fs::read_dir(dir.join(sub)).is_ok_and(|mut entries| entries.next().is_none()))
}

#[async_trait]
impl Provider for MaildirStore {
    fn info(&self) -> &ProviderInfo {
        &self.inner.info
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let op = Operation::ListFolders;
            let mut out = vec![Folder::new(FolderId::new(INBOX_ID), FolderPath::inbox())
                .with_role(Some(SpecialUse::Inbox))];
            let rd = fs::read_dir(&inner.root).map_err(|e| {
                Error::from(e)
                    .with_provider(SCHEME)
                    .with_operation(op)
                    .with_context("folder", INBOX_ID)
            })?;
            let roles = read_roles(&inner.root).map_err(|e| {
                Error::from(e)
                    .with_provider(SCHEME)
                    .with_operation(op)
                    .with_context("file", ROLES_FILE)
            })?;
            let mut folders = Vec::new();
            for entry in rd {
                let entry = entry.map_err(|e| Error::from(e).with_provider(SCHEME))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let Some(rest) = name.strip_prefix('.') else {
                    continue;
                };
                if rest.is_empty() || rest == "." || !entry.path().join("cur").is_dir() {
                    continue;
                }
                let Ok(path) = path_from_dir_name(rest) else {
                    tracing::warn!(dir = name, "skipping a Maildir folder with an invalid name");
                    continue;
                };
                let role = roles.get(name).copied().or_else(|| role_for_path(&path));
                folders.push(Folder::new(FolderId::new(name), path).with_role(role));
            }
            folders.sort_by(|a, b| a.path.cmp(&b.path));
            warn_about_twins(&folders);
            out.extend(folders);
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl Source for MaildirStore {
    fn list_changes(
        &self,
        folder: &FolderId,
        _since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let inner = Arc::clone(&self.inner);
        let folder = folder.clone();
        blocking_stream(move |tx| {
            if let Err(e) = list_changes_blocking(&inner, &folder, tx) {
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
        blocking_stream(move |tx| fetch_blocking(&inner, &folder, ids, tx))
    }
}

#[async_trait]
impl Destination for MaildirStore {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        let inner = Arc::clone(&self.inner);
        let path = path.clone();
        blocking(move || {
            let op = Operation::EnsureFolder;
            let ensured = ensure_dirs(&inner, &path)?;
            remember_role(&inner.root, &inner.roles, &ensured.id, &path, role).map_err(|e| {
                Error::from(e)
                    .with_provider(SCHEME)
                    .with_operation(op)
                    .with_context("folder", &path)
            })?;
            Ok(ensured)
        })
        .await
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let inner = Arc::clone(&self.inner);
        let folder = folder.clone();
        blocking(move || {
            let op = Operation::Append;
            let dir = inner.folder_dir(&folder, op)?;
            let out: Vec<Result<Appended>> = messages
                .iter()
                .map(|msg| {
                    inner
                        .append_one(&dir, msg)
                        .map(|id| Appended::new(Some(id)))
                        .map_err(|e| {
                            e.with_provider(SCHEME)
                                .with_operation(op)
                                .with_item(&folder, &msg.meta.id)
                        })
                })
                .collect();
            // Make the renames durable before reporting success.
            File::open(dir.join("cur"))
                .and_then(|d| d.sync_all())
                .map_err(|e| folder_io_err(e, op, &folder))?;
            Ok(out)
        })
        .await
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
        blocking(move || {
            let op = Operation::UpdateFlags;
            let dir = inner.folder_dir(&folder, op)?;
            let path = inner
                .locate_one(&dir, &id)
                .map_err(|e| io_err(e, op, &folder, &id))?
                .ok_or_else(|| {
                    err(ErrorKind::NotFound, "no such message", op).with_item(&folder, &id)
                })?;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let current = match split_name(name).1 {
                Some(info) => flags_from_info(info, &read_keywords(&dir)?),
                None => Flags::new(),
            };
            let info = inner.info_for(&dir, &change.apply(&current)).map_err(|e| {
                e.with_provider(SCHEME)
                    .with_operation(op)
                    .with_item(&folder, &id)
            })?;
            let dest = dir.join("cur").join(format!("{id}:2,{info}"));
            if dest != path {
                fs::rename(&path, &dest).map_err(|e| io_err(e, op, &folder, &id))?;
            }
            Ok(())
        })
        .await
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        let inner = Arc::clone(&self.inner);
        let folder = folder.clone();
        let key = key.clone();
        blocking(move || {
            let op = Operation::FindExisting;
            let dir = inner.folder_dir(&folder, op)?;
            let keywords = read_keywords(&dir)?;
            let mut out: Vec<ExistingCopy> = Vec::new();
            // `new/` first, so a message moved to `cur/` meanwhile is still seen (perhaps in
            // both: the ids are deduplicated below).
            for sub in ["new", "cur"] {
                let rd = fs::read_dir(dir.join(sub)).map_err(|e| folder_io_err(e, op, &folder))?;
                for entry in rd {
                    let entry = entry.map_err(|e| folder_io_err(e, op, &folder))?;
                    let name = entry.file_name();
                    let Some(name) = name.to_str() else { continue };
                    if !is_message_name(name) {
                        continue;
                    }
                    // The size from stat rules out almost every file without reading it.
                    let md = match entry.metadata() {
                        Ok(md) if md.is_file() && key.size.is_none_or(|s| md.len() == s) => md,
                        _ => continue,
                    };
                    let bytes = match fs::read(entry.path()) {
                        Ok(b) => b,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(folder_io_err(e, op, &folder)),
                    };
                    if let Some(want) = &key.message_id {
                        let have = crate::headers::message_id(&bytes);
                        if have.as_ref().is_some_and(|h| h != want) {
                            continue;
                        }
                    }
                    if ContentHash::of(&bytes) == key.hash {
                        let meta = meta_for(&folder, name, &md, &keywords);
                        out.push(
                            ExistingCopy::new(meta.id)
                                .with_flags(meta.flags)
                                .with_internal_date(meta.internal_date),
                        );
                    }
                }
            }
            // Seen in `new/` and again in `cur/`: the later sighting has the current flags.
            out.reverse();
            let mut ids = HashSet::new();
            out.retain(|c| ids.insert(c.id.clone()));
            out.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(out)
        })
        .await
    }

    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        let folder = folder.clone();
        let ids = ids.to_vec();
        blocking(move || {
            let op = Operation::Delete;
            let dir = inner.folder_dir(&folder, op)?;
            let wanted: HashSet<&str> = ids.iter().map(MessageId::as_str).collect();
            let found = inner
                .locate(&dir, &wanted)
                .map_err(|e| folder_io_err(e, op, &folder))?;
            for (id, path) in found {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(e, op, &folder, &MessageId::new(id))),
                }
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_and_removes_separators() {
        for s in [
            "Archive",
            "a.b",
            "x/y",
            "100%",
            "Früh.Spät/ü",
            "%2E",
            "..",
            "a\\b",
        ] {
            let e = escape_segment(s);
            assert!(!e.contains(['.', '/', '\\']), "{e}");
            assert_eq!(unescape_segment(&e), s);
        }
        assert_eq!(escape_segment("a.b/c%"), "a%2Eb%2Fc%25");
        // Lenient decoding of names made by other tools.
        assert_eq!(unescape_segment("50% off"), "50% off");
        assert_eq!(unescape_segment("a%"), "a%");
    }

    fn segs(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn folder_dirs_are_named_as_dovecot_names_them() {
        for (names, disk) in [
            (&["Entwürfe & Notizen"][..], ".Entw&APw-rfe &- Notizen"),
            (&["Früh", "Spät"][..], ".Fr&APw-h.Sp&AOQ-t"),
            (&["📁 Files"][..], ".&2D3cwQ- Files"),
            (&["INBOX", "child"][..], ".INBOX.child"),
            (&["100%"][..], ".100%"),
            (&["x\\y"][..], ".x\\y"),
            (&["a.b/c"][..], ".a%2Eb%2Fc"),
            (&["50%2E"][..], ".50%252E"),
        ] {
            assert_eq!(folder_dir_name(&segs(names)), disk);
            let back = path_from_dir_name(&disk[1..]).unwrap();
            assert_eq!(back.segments(), names, "{disk}");
        }
    }

    #[test]
    fn escaping_of_separators_round_trips() {
        for s in [
            "%", "%%", "%2E", "%%2E", "%.", "%A.", "a%", "%zz", "..", "ü%20ü", "%%%41",
        ] {
            let e = escape_separators(s);
            assert!(!e.contains(['.', '/']), "{e}");
            assert_eq!(unescape_segment(&e), s, "{e}");
        }
    }

    #[test]
    fn names_that_are_not_modified_utf7_are_taken_literally() {
        // As this store wrote them before, as Dovecot's `:UTF-8` option writes them, and
        // ASCII that is not modified UTF-7.
        for (rest, want) in [
            ("Früh%2FSpät", &["Früh/Spät"][..]),
            ("Tom & Jerry", &["Tom & Jerry"][..]),
            ("a%5Cb.c%25", &["a\\b", "c%"][..]),
            ("R&D-Team", &["R&D-Team"][..]),
            ("Entw&APw-rfe.Früh", &["Entwürfe", "Früh"][..]),
        ] {
            let path = path_from_dir_name(rest).unwrap();
            assert_eq!(path.segments(), want, "{rest}");
        }
        assert_eq!(
            legacy_folder_dir_name(&segs(&["Früh/Spät", "a.b"])),
            ".Früh%2FSpät.a%2Eb"
        );
    }

    /// Writes `n` messages into `new/` and `n` into `cur/` of the inbox at `root`.
    fn fill_new_and_cur(root: &Path, n: usize) {
        for i in 0..n {
            fs::write(root.join(format!("new/{i}.new.host")), b"Subject: n\n\n").unwrap();
            fs::write(
                root.join(format!("cur/{i}.cur.host:2,S")),
                b"Subject: c\n\n",
            )
            .unwrap();
        }
    }

    /// Moves the messages in `new/` that `pick` names to `cur/`, as a mail client does.
    fn move_new_to_cur(root: &Path, pick: impl Fn(&str) -> bool) {
        for entry in fs::read_dir(root.join("new")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if pick(&name) {
                let to = root.join(format!("cur/{name}:2,S"));
                fs::rename(root.join("new").join(&name), to).unwrap();
            }
        }
    }

    async fn next_id(listing: &mut BoxStream<'static, Result<Change>>) -> String {
        match listing.next().await.unwrap().unwrap() {
            Change::Upsert(meta) => meta.id.as_str().to_owned(),
            other => panic!("{other:?}"),
        }
    }

    /// The listing's producer blocks once `CHANNEL_DEPTH` entries wait unread, so with
    /// three times that many in `new/` it cannot reach `cur/` while the test holds the
    /// stream after one entry: whatever the test moves then, it moves between the two
    /// directory reads. The message already received was surely listed from `new/`; the
    /// others moved with it may or may not have been, and each must come once either way.
    /// After the first `cur/` entry the test moves the rest while `cur/` is being read.
    #[tokio::test]
    async fn a_message_moved_from_new_to_cur_while_listing_is_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let store = MaildirStore::open(root).unwrap();
        let n = CHANNEL_DEPTH * 3;
        fill_new_and_cur(root, n);
        let mut listing = Source::list_changes(&store, &FolderId::new(INBOX_ID), None);
        let first = next_id(&mut listing).await;
        assert!(first.contains(".new."), "{first}");
        move_new_to_cur(root, |name| {
            name == first || name.starts_with(['0', '2', '4', '6', '8'])
        });
        let mut ids = vec![first];
        while !ids.last().unwrap().contains(".cur.") {
            ids.push(next_id(&mut listing).await);
        }
        move_new_to_cur(root, |_| true);
        let rest: Vec<Change> = listing.map(|c| c.unwrap()).collect().await;
        let (checkpoint, upserts) = rest.split_last().unwrap();
        for change in upserts {
            let Change::Upsert(meta) = change else {
                panic!("{change:?}")
            };
            ids.push(meta.id.as_str().to_owned());
        }
        let mut want: Vec<String> = (0..n)
            .flat_map(|i| [format!("{i}.new.host"), format!("{i}.cur.host")])
            .collect();
        want.sort();
        ids.sort();
        assert_eq!(ids, want, "each message once");
        assert_eq!(
            checkpoint,
            &Change::Checkpoint(Checkpoint::new((2 * n).to_string()))
        );
    }

    /// A flag change renames a file in `cur/`; renamed while `cur/` is being read, a
    /// message can be missing from the directory read (its old name gone when stat'ed, its
    /// new one placed where the read already passed). Every message must still be listed,
    /// once, and the listing must end with its checkpoint.
    #[tokio::test]
    async fn messages_renamed_in_cur_while_listing_are_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let store = MaildirStore::open(root).unwrap();
        let n = CHANNEL_DEPTH * 3;
        for i in 0..n {
            let name = format!("cur/{i}.cur.host:2,");
            fs::write(root.join(name), b"Subject: c\n\n").unwrap();
        }
        let mut listing = Source::list_changes(&store, &FolderId::new(INBOX_ID), None);
        let mut ids = vec![next_id(&mut listing).await];
        // The producer waits on the full channel, inside `cur/`: mark every message seen.
        for entry in fs::read_dir(root.join("cur")).unwrap() {
            let path = entry.unwrap().path();
            let mut to = path.clone().into_os_string();
            to.push("S");
            fs::rename(&path, to).unwrap();
        }
        let rest: Vec<Change> = listing.map(|c| c.unwrap()).collect().await;
        let (checkpoint, upserts) = rest.split_last().unwrap();
        assert!(
            matches!(checkpoint, Change::Checkpoint(_)),
            "{checkpoint:?}"
        );
        for change in upserts {
            let Change::Upsert(meta) = change else {
                panic!("{change:?}")
            };
            ids.push(meta.id.as_str().to_owned());
        }
        let mut want: Vec<String> = (0..n).map(|i| format!("{i}.cur.host")).collect();
        want.sort();
        ids.sort();
        assert_eq!(ids, want, "each message once");
    }

    #[test]
    fn names_split_into_base_and_info() {
        assert_eq!(
            split_name("123.M1P2.host:2,FS"),
            ("123.M1P2.host", Some("FS"))
        );
        assert_eq!(split_name("123.host"), ("123.host", None));
        assert_eq!(split_name("123.host:1,x"), ("123.host", None));
    }

    #[test]
    fn info_letters_decode_to_flags() {
        let kw: BTreeMap<usize, String> = [(0, "work".to_owned()), (2, "$Junk".to_owned())]
            .into_iter()
            .collect();
        let flags = flags_from_info("DFPRSTacz", &kw);
        let want: Flags = [
            Flag::Draft,
            Flag::Flagged,
            Flag::Keyword("$Forwarded".into()),
            Flag::Answered,
            Flag::Seen,
            Flag::Deleted,
            Flag::Keyword("work".into()),
            Flag::Keyword("$Junk".into()),
        ]
        .into_iter()
        .collect();
        assert_eq!(flags, want);
    }

    #[test]
    fn keywords_are_allocated_and_limited() {
        let dir = tempfile::tempdir().unwrap();
        let store = MaildirStore::open(dir.path()).unwrap();
        let inner = &store.inner;
        let flags: Flags = [
            Flag::Seen,
            Flag::Keyword("b".into()),
            Flag::Keyword("a".into()),
        ]
        .into_iter()
        .collect();
        // BTreeSet order: "a" gets letter a, "b" gets letter b.
        assert_eq!(inner.info_for(dir.path(), &flags).unwrap(), "Sab");
        let text = fs::read_to_string(dir.path().join(KEYWORDS_FILE)).unwrap();
        assert_eq!(text, "0 a\n1 b\n");
        for i in 0..24 {
            let f: Flags = [Flag::Keyword(format!("k{i}"))].into_iter().collect();
            inner.info_for(dir.path(), &f).unwrap();
        }
        let f: Flags = [Flag::Keyword("one-too-many".into())].into_iter().collect();
        let e = inner.info_for(dir.path(), &f).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        // A known keyword still works when the table is full.
        let f: Flags = [Flag::Keyword("k23".into())].into_iter().collect();
        assert_eq!(inner.info_for(dir.path(), &f).unwrap(), "z");
    }

    #[test]
    fn roles_come_from_top_level_names() {
        let p = |s: &str| FolderPath::parse(s, '/').unwrap();
        assert_eq!(role_for_path(&p("Sent Items")), Some(SpecialUse::Sent));
        assert_eq!(role_for_path(&p("spam")), Some(SpecialUse::Junk));
        assert_eq!(role_for_path(&p("Projects/Sent")), None);
        assert_eq!(role_for_path(&p("inbox")), Some(SpecialUse::Inbox));
    }

    #[test]
    fn folder_ids_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = MaildirStore::open(dir.path().join("m")).unwrap();
        for bad in ["..", "../x", "x", ".a/../../b", ""] {
            let e = store
                .inner
                .folder_dir(&FolderId::new(bad), Operation::Fetch)
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{bad}");
        }
    }

    #[test]
    fn unique_names_differ_and_hold_no_separator() {
        let dir = tempfile::tempdir().unwrap();
        let store = MaildirStore::open(dir.path()).unwrap();
        let a = store.inner.unique_name();
        let b = store.inner.unique_name();
        assert_ne!(a, b);
        assert!(!a.contains([':', '/']));
    }
}

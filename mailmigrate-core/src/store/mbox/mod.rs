//! mboxrd files on the local file system, one per folder, with a sidecar index.
//!
//! See [`MboxStore`] for the format.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::maildir::{
    blocking, blocking_stream, escape_segment, read_roles, remember_role, role_for_path,
    unescape_segment, ROLES_FILE,
};
use crate::headers::Headers;
use crate::{
    Appended, Capabilities, Change, Checkpoint, ContentHash, DedupeKey, Destination, EnsuredFolder,
    Error, ErrorKind, ExistingCopy, Flag, FlagChange, Flags, Folder, FolderId, FolderPath,
    ItemResult, MessageId, MessageMeta, Operation, Provider, ProviderInfo, RawMessage, Result,
    Source, SpecialUse,
};

/// The scheme of [`MboxStore`].
pub(crate) const SCHEME: &str = "mbox";

const INDEX_EXT: &str = ".mmidx";
const TAIL_EXT: &str = ".mmtail-";
const SBD_EXT: &str = ".sbd";
/// The longest file name most file systems accept, in bytes.
const MAX_NAME: usize = 255;
/// How many header bytes a scan keeps to read flags and labels from.
const HEADER_LIMIT: usize = 256 * 1024;
/// How many listing entries are read from the index between two looks at the flag updates.
const LIST_CHUNK: usize = 256;
/// Every how many index entries the in-memory map remembers a position.
const SPARSE_EVERY: u64 = 64;

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

/// One message as the index knows it.
#[derive(Debug, Clone)]
struct Msg {
    /// Offset of the `From_` line (the message id).
    o: u64,
    /// Offset of the first data byte.
    d: u64,
    /// Length of the quoted data on disk, without an added newline or the separator.
    q: u64,
    /// Offset just past the separator (the next message's `From_` line).
    e: u64,
    /// Length of the original message.
    n: u64,
    /// Whether a newline was added after the data.
    nl: bool,
    flags: Flags,
    labels: BTreeSet<String>,
    date: Option<OffsetDateTime>,
    hash: ContentHash,
    message_id: Option<String>,
}

/// What the store keeps in memory about a folder: positions in its index, never one entry
/// per message, so memory does not grow with the folder.
#[derive(Debug, Default)]
struct FolderIndex {
    /// Where the index lives: next to the mbox, or in the temp directory when the mbox's
    /// directory is read-only.
    idx_path: PathBuf,
    /// Length of the mbox file the index covers.
    end: u64,
    /// Length of the mbox file when last looked at; a change means another writer.
    seen_len: u64,
    /// Length of the index file.
    idx_len: u64,
    /// Number of messages.
    count: u64,
    /// `(message offset, index line offset)` of every `SPARSE_EVERY`th message.
    sparse: Vec<(u64, u64)>,
    /// Flags changed since the index was last compacted, by message offset.
    updates: HashMap<u64, Flags>,
}

impl FolderIndex {
    /// Records that the entry of the message at `o` starts at `line_pos` in the index.
    fn note_entry(&mut self, o: u64, line_pos: u64) {
        if self.count.is_multiple_of(SPARSE_EVERY) {
            self.sparse.push((o, line_pos));
        }
        self.count += 1;
    }

    /// The message's entry with its current flags.
    fn apply(&self, mut m: Msg) -> Msg {
        if let Some(f) = self.updates.get(&m.o) {
            m.flags = f.clone();
        }
        m
    }

    /// Reads the entry of the message with id `id`, seeking near it in the index.
    fn get(&self, id: &MessageId) -> Result<Option<Msg>, IdxErr> {
        let Ok(o) = id.as_str().parse::<u64>() else {
            return Ok(None);
        };
        let i = self.sparse.partition_point(|&(so, _)| so <= o);
        let Some(&(_, pos)) = i.checked_sub(1).and_then(|i| self.sparse.get(i)) else {
            return Ok(None);
        };
        let mut rd = IndexReader::open(&self.idx_path, pos)?;
        while let Some((_, rec)) = rd.next_record(self.idx_len)? {
            match rec {
                Record::Entry(r) if r.o == o => return Ok(Some(self.apply(Msg::from_record(r)?))),
                Record::Entry(r) if r.o > o => return Ok(None),
                _ => {}
            }
        }
        Ok(None)
    }
}

/// A failure reading or writing an index: I/O, or content that makes no sense.
#[derive(Debug)]
enum IdxErr {
    Io(io::Error),
    Corrupt(&'static str),
}

impl From<io::Error> for IdxErr {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<serde_json::Error> for IdxErr {
    fn from(e: serde_json::Error) -> Self {
        Self::Io(e.into())
    }
}

impl IdxErr {
    fn into_error(self, op: Operation, folder: &FolderId) -> Error {
        match self {
            Self::Io(e) => folder_err(e, op, folder),
            Self::Corrupt(msg) => {
                err(ErrorKind::StateCorrupt, msg, op).with_context("folder", folder)
            }
        }
    }
}

/// One line of an index.
enum IndexLine {
    /// A record and the offset its line starts at.
    Record(u64, Record),
    /// A last line without its newline: a write that never completed.
    Torn,
    /// The end of the file.
    End,
}

/// Reads index lines one at a time.
struct IndexReader {
    r: BufReader<File>,
    pos: u64,
    line: Vec<u8>,
}

impl IndexReader {
    fn open(path: &Path, pos: u64) -> io::Result<Self> {
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(pos))?;
        Ok(Self {
            r: BufReader::with_capacity(64 * 1024, f),
            pos,
            line: Vec::new(),
        })
    }

    fn next_line(&mut self) -> Result<IndexLine, IdxErr> {
        self.line.clear();
        let n = self.r.read_until(b'\n', &mut self.line)?;
        if n == 0 {
            return Ok(IndexLine::End);
        }
        if self.line.last() != Some(&b'\n') {
            return Ok(IndexLine::Torn);
        }
        let start = self.pos;
        self.pos += n as u64;
        let rec = serde_json::from_slice(&self.line)
            .map_err(|_| IdxErr::Corrupt("unreadable mbox index line"))?;
        Ok(IndexLine::Record(start, rec))
    }

    /// The next complete record that starts before `limit`.
    fn next_record(&mut self, limit: u64) -> Result<Option<(u64, Record)>, IdxErr> {
        if self.pos >= limit {
            return Ok(None);
        }
        Ok(match self.next_line()? {
            IndexLine::Record(pos, rec) => Some((pos, rec)),
            IndexLine::Torn | IndexLine::End => None,
        })
    }
}

/// An index line describing a message.
#[derive(Debug, Serialize, Deserialize)]
struct EntryRecord {
    o: u64,
    d: u64,
    q: u64,
    e: u64,
    n: u64,
    #[serde(default)]
    nl: bool,
    #[serde(default)]
    f: Vec<String>,
    #[serde(default)]
    l: Vec<String>,
    #[serde(default)]
    t: Option<i64>,
    h: String,
    #[serde(default)]
    m: Option<String>,
}

/// An index line replacing a message's flags.
#[derive(Debug, Serialize, Deserialize)]
struct UpdateRecord {
    u: u64,
    f: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Record {
    Entry(EntryRecord),
    Update(UpdateRecord),
}

impl Msg {
    fn to_record(&self) -> EntryRecord {
        EntryRecord {
            o: self.o,
            d: self.d,
            q: self.q,
            e: self.e,
            n: self.n,
            nl: self.nl,
            f: self.flags.iter().map(ToString::to_string).collect(),
            l: self.labels.iter().cloned().collect(),
            t: self.date.map(OffsetDateTime::unix_timestamp),
            h: self.hash.to_hex(),
            m: self.message_id.clone(),
        }
    }

    fn from_record(r: EntryRecord) -> Result<Self, IdxErr> {
        Ok(Self {
            o: r.o,
            d: r.d,
            q: r.q,
            e: r.e,
            n: r.n,
            nl: r.nl,
            flags: r.f.iter().map(|f| Flag::parse(f)).collect(),
            labels: r.l.into_iter().collect(),
            date: r
                .t
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()),
            hash: ContentHash::from_hex(&r.h).ok_or(IdxErr::Corrupt("bad hash in mbox index"))?,
            message_id: r.m,
        })
    }

    fn meta(&self, folder: &FolderId) -> MessageMeta {
        MessageMeta::new(MessageId::new(self.o.to_string()), folder.clone())
            .with_flags(self.flags.clone())
            .with_labels(self.labels.clone())
            .with_internal_date(self.date)
            .with_size(self.n)
            .with_message_id(self.message_id.clone())
    }
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

fn index_path(mbox: &Path) -> PathBuf {
    let mut s = mbox.as_os_str().to_owned();
    s.push(INDEX_EXT);
    PathBuf::from(s)
}

/// The relative file path of a folder.
fn rel_path(path: &FolderPath) -> String {
    let segs = path.segments();
    let mut out = String::new();
    for (i, seg) in segs.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        if i == 0 && path.is_inbox() {
            out.push_str("INBOX");
        } else {
            out.push_str(&escape_segment(seg));
        }
        if i + 1 < segs.len() {
            out.push_str(SBD_EXT);
        }
    }
    out
}

/// Whether a line (without its newline) needs one more `>` in mboxrd.
fn is_from_line(line: &[u8]) -> bool {
    let rest = line
        .iter()
        .position(|&b| b != b'>')
        .map_or(&[][..], |i| &line[i..]);
    rest.starts_with(b"From ")
}

/// Writes `bytes` with mboxrd quoting and returns the number of bytes written.
fn write_quoted(w: &mut impl Write, bytes: &[u8]) -> io::Result<u64> {
    let mut n = 0u64;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if is_from_line(line) {
            w.write_all(b">")?;
            n += 1;
        }
        w.write_all(line)?;
        n += line.len() as u64;
    }
    Ok(n)
}

/// The line without one level of mboxrd quoting.
fn unquote_line(line: &[u8]) -> &[u8] {
    if line.first() == Some(&b'>') && is_from_line(line) {
        &line[1..]
    } else {
        line
    }
}

const ASCTIME: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
);
const ASCTIME_LOOSE: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short] [month repr:short] [day padding:none] [hour]:[minute]:[second] [year]"
);
const ASCTIME_ZONE: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short] [month repr:short] [day padding:none] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute] [year]"
);

fn from_line(sender: Option<&str>, date: Option<OffsetDateTime>) -> Vec<u8> {
    let sender = sender
        .filter(|s| !s.is_empty() && s.len() < 256 && s.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or("MAILER-DAEMON");
    let date = date
        .unwrap_or_else(OffsetDateTime::now_utc)
        .to_offset(time::UtcOffset::UTC);
    let stamp = date
        .format(ASCTIME)
        .unwrap_or_else(|_| "Thu Jan  1 00:00:00 1970".to_owned());
    format!("From {sender} {stamp}\n").into_bytes()
}

/// The internal date written on a `From_` line, if it has a recognisable one.
fn parse_from_line_date(line: &[u8]) -> Option<OffsetDateTime> {
    let text = std::str::from_utf8(line).ok()?;
    let words: Vec<&str> = text.split_whitespace().skip(2).collect();
    let joined = words.join(" ");
    if let Ok(t) = time::PrimitiveDateTime::parse(&joined, ASCTIME_LOOSE) {
        return Some(t.assume_utc());
    }
    if let Ok(t) = OffsetDateTime::parse(&joined, ASCTIME_ZONE) {
        return Some(t);
    }
    // Some writers put more words before the date; the date is the last five words.
    let tail = words.get(words.len().checked_sub(5)?..)?.join(" ");
    time::PrimitiveDateTime::parse(&tail, ASCTIME_LOOSE)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// Unfolded header fields of a header block, in order.
fn header_fields(block: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for raw in block.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(text.trim());
            }
            continue;
        }
        if let Some((name, value)) = text.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    out
}

/// Splits a comma-separated label list, honouring double quotes.
fn split_labels(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
            }
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Flags and labels from a foreign message's headers.
fn flags_from_headers(block: &[u8]) -> (Flags, BTreeSet<String>) {
    let mut flags = Flags::new();
    let mut labels = BTreeSet::new();
    for (name, value) in header_fields(block) {
        match name.as_str() {
            "status" if value.contains('R') => {
                flags.insert(Flag::Seen);
            }
            "x-status" => {
                for c in value.chars() {
                    match c {
                        'A' => {
                            flags.insert(Flag::Answered);
                        }
                        'F' => {
                            flags.insert(Flag::Flagged);
                        }
                        'T' => {
                            flags.insert(Flag::Draft);
                        }
                        'D' => {
                            flags.insert(Flag::Deleted);
                        }
                        _ => {}
                    }
                }
            }
            "x-mozilla-status" => {
                if let Ok(bits) = u32::from_str_radix(value.trim(), 16) {
                    for (bit, flag) in [
                        (0x0001, Flag::Seen),
                        (0x0002, Flag::Answered),
                        (0x0004, Flag::Flagged),
                        (0x0008, Flag::Deleted),
                        (0x1000, Flag::Keyword("$Forwarded".to_owned())),
                    ] {
                        if bits & bit != 0 {
                            flags.insert(flag);
                        }
                    }
                }
            }
            "x-keywords" => {
                for k in value.split([',', ' ', '\t']).filter(|k| !k.is_empty()) {
                    flags.insert(Flag::Keyword(k.to_owned()));
                }
            }
            "x-gmail-labels" => {
                for l in split_labels(&value) {
                    match l.as_str() {
                        "Opened" => {
                            flags.insert(Flag::Seen);
                        }
                        "Starred" => {
                            flags.insert(Flag::Flagged);
                        }
                        _ => {}
                    }
                    labels.insert(l);
                }
            }
            _ => {}
        }
    }
    (flags, labels)
}

/// The state of one message while scanning a foreign mbox.
struct ScanMsg {
    o: u64,
    d: u64,
    date: Option<OffsetDateTime>,
    in_headers: bool,
    headers: Vec<u8>,
    hasher: blake3::Hasher,
    n: u64,
    /// The line ending held back: it is data only if more data follows.
    pending: &'static [u8],
}

impl ScanMsg {
    fn new(o: u64, from_line: &[u8]) -> Self {
        Self {
            o,
            d: o + from_line.len() as u64,
            date: parse_from_line_date(from_line),
            in_headers: true,
            headers: Vec::new(),
            hasher: blake3::Hasher::new(),
            n: 0,
            pending: b"",
        }
    }

    /// Feeds one line of data as stored on disk (with its newline, if any).
    fn feed(&mut self, disk_line: &[u8]) {
        let line = unquote_line(disk_line);
        // The line ending before the next From_ line is the separator, not data: hold each
        // one back until more data follows. A blank CRLF line (a CRLF mbox) is held whole.
        self.hasher.update(self.pending);
        self.n += self.pending.len() as u64;
        let (body, pending): (&[u8], &'static [u8]) = if line == b"\r\n" {
            (b"", b"\r\n")
        } else if let Some(b) = line.strip_suffix(b"\n") {
            (b, b"\n")
        } else {
            (line, b"")
        };
        self.hasher.update(body);
        self.n += body.len() as u64;
        self.pending = pending;
        if self.in_headers {
            if body.is_empty() || body == b"\r" {
                self.in_headers = false;
            }
            if self.headers.len() + line.len() <= HEADER_LIMIT {
                self.headers.extend_from_slice(line);
            } else {
                self.in_headers = false;
            }
        }
    }

    fn finish(self, end: u64) -> Msg {
        let (flags, labels) = flags_from_headers(&self.headers);
        let region = end - self.d;
        Msg {
            o: self.o,
            d: self.d,
            q: region - self.pending.len() as u64,
            e: end,
            n: self.n,
            nl: false,
            flags,
            labels,
            date: self.date,
            hash: ContentHash::from_bytes(*self.hasher.finalize().as_bytes()),
            message_id: Headers::parse(&self.headers).message_id,
        }
    }
}

/// Scans a foreign mbox file line by line, handing each message's entry to `emit`.
fn scan(path: &Path, mut emit: impl FnMut(Msg) -> io::Result<()>) -> Result<(), IdxErr> {
    let mut r = BufReader::with_capacity(64 * 1024, File::open(path)?);
    let mut line = Vec::new();
    let mut pos = 0u64;
    let mut cur: Option<ScanMsg> = None;
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.starts_with(b"From ") {
            if let Some(m) = cur.take() {
                emit(m.finish(pos))?;
            }
            cur = Some(ScanMsg::new(pos, &line));
        } else {
            match cur.as_mut() {
                Some(m) => m.feed(&line),
                None => return Err(IdxErr::Corrupt("the file does not start with a From_ line")),
            }
        }
        pos += n as u64;
    }
    if let Some(m) = cur {
        emit(m.finish(pos))?;
    }
    Ok(())
}

/// A sibling path with `suffix` appended to the file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes an index file through a temporary file, fsync and rename.
fn write_index_file(
    dest: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), IdxErr>,
) -> Result<(), IdxErr> {
    let tmp = with_suffix(dest, ".tmp");
    let write = || -> Result<(), IdxErr> {
        let mut w = BufWriter::new(File::create(&tmp)?);
        fill(&mut w)?;
        w.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()?;
        fs::rename(&tmp, dest)?;
        Ok(())
    };
    let r = write();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

fn write_line(w: &mut impl Write, rec: &EntryRecord) -> io::Result<()> {
    serde_json::to_writer(&mut *w, rec)?;
    w.write_all(b"\n")
}

/// Indexes a foreign mbox, next to it if possible, else in the temp directory; returns
/// where the index went.
fn index_foreign(path: &Path, folder: &FolderId) -> Result<PathBuf, IdxErr> {
    let fill = |w: &mut BufWriter<File>| scan(path, |m| write_line(w, &m.to_record()));
    let sidecar = index_path(path);
    match write_index_file(&sidecar, fill) {
        Ok(()) => Ok(sidecar),
        Err(IdxErr::Io(e)) => {
            let key = blake3::hash(path.as_os_str().as_encoded_bytes()).to_hex();
            let alt = std::env::temp_dir().join(format!("mailmigrate-{}{INDEX_EXT}", &key[..32]));
            tracing::warn!(folder = %folder, error = %e, "cannot write the mbox index next to the mbox; using the temp directory");
            write_index_file(&alt, |w| scan(path, |m| write_line(w, &m.to_record())))?;
            Ok(alt)
        }
        Err(c) => Err(c),
    }
}

/// Appends lines to the index and fsyncs it, returning the offset they start at. On failure
/// the index is cut back to its previous length, so none of the lines counts.
fn append_index_lines(idx_path: &Path, lines: &[u8]) -> io::Result<u64> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(idx_path)?;
    let before = f.metadata()?.len();
    let r = f.write_all(lines).and_then(|()| f.sync_all());
    if let Err(e) = r {
        let _ = f.set_len(before).and_then(|()| f.sync_all());
        return Err(e);
    }
    Ok(before)
}

/// Creates a new `<file>.mmtail-<offset>[.<n>]` file, never overwriting an earlier one.
fn create_tail_file(path: &Path, end: u64) -> io::Result<File> {
    for n in 0u32.. {
        let suffix = if n == 0 {
            format!("{TAIL_EXT}{end}")
        } else {
            format!("{TAIL_EXT}{end}.{n}")
        };
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(with_suffix(path, &suffix))
        {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            other => return other,
        }
    }
    Err(io::Error::other("no free name for the mbox tail"))
}

/// One streaming pass over an index.
struct Pass {
    index: FolderIndex,
    last_o: Option<u64>,
    /// Torn lines, update lines or entries beyond the end of the mbox were seen.
    needs_rewrite: bool,
}

fn read_pass(idx_path: &Path, file_len: u64) -> Result<Pass, IdxErr> {
    let mut rd = IndexReader::open(idx_path, 0)?;
    let mut index = FolderIndex::default();
    let mut prev_e = 0;
    let mut last_o = None;
    let mut needs_rewrite = false;
    let mut dropping = false;
    loop {
        match rd.next_line()? {
            IndexLine::End => break,
            IndexLine::Torn => {
                // The write that produced it was never confirmed.
                needs_rewrite = true;
                break;
            }
            IndexLine::Record(pos, Record::Entry(r)) => {
                // Unquoting only removes bytes, so the original is never longer than its data.
                let sane = r.o >= prev_e
                    && r.o <= r.d
                    && r.d.checked_add(r.q).is_some_and(|x| x <= r.e)
                    && r.n <= r.q;
                if !sane {
                    return Err(IdxErr::Corrupt(
                        "mbox index entries overlap or make no sense",
                    ));
                }
                if ContentHash::from_hex(&r.h).is_none() {
                    return Err(IdxErr::Corrupt("bad hash in mbox index"));
                }
                // Entries beyond the end of the file describe data that is gone, and so
                // does every later one.
                if dropping || r.e > file_len {
                    dropping = true;
                    needs_rewrite = true;
                    continue;
                }
                index.note_entry(r.o, pos);
                prev_e = r.e;
                last_o = Some(r.o);
            }
            IndexLine::Record(_, Record::Update(u)) => {
                index
                    .updates
                    .insert(u.u, u.f.iter().map(|f| Flag::parse(f)).collect());
                needs_rewrite = true;
            }
        }
    }
    index.end = prev_e;
    index.idx_len = rd.pos;
    Ok(Pass {
        index,
        last_o,
        needs_rewrite,
    })
}

/// Rewrites an index without torn lines, update lines or entries beyond `file_len`, with
/// the updated flags folded into the entries.
fn compact(idx_path: &Path, file_len: u64, updates: &HashMap<u64, Flags>) -> Result<(), IdxErr> {
    let mut rd = IndexReader::open(idx_path, 0)?;
    write_index_file(idx_path, |w| {
        while let IndexLine::Record(_, rec) = rd.next_line()? {
            if let Record::Entry(mut r) = rec {
                if r.e > file_len {
                    continue;
                }
                if let Some(f) = updates.get(&r.o) {
                    r.f = f.iter().map(ToString::to_string).collect();
                }
                write_line(w, &r)?;
            }
        }
        Ok(())
    })
}

/// Loads (and repairs) the index of the mbox file at `path`.
///
/// Bytes after the last indexed message (a killed append) are never listed. With
/// `repair_tail` (before an append) they are moved to a `.mmtail-*` file and cut from the
/// mbox; without it the mbox is left as it is, so reading never modifies it.
fn load(path: &Path, folder: &FolderId, op: Operation, repair_tail: bool) -> Result<FolderIndex> {
    let ferr = |e: io::Error| folder_err(e, op, folder);
    let ierr = |e: IdxErr| e.into_error(op, folder);
    let file_len = fs::metadata(path).map_err(ferr)?.len();
    let sidecar = index_path(path);
    let idx_path = if sidecar.is_file() {
        sidecar
    } else {
        // A foreign mbox: index it once; the mbox itself is not modified.
        index_foreign(path, folder).map_err(ierr)?
    };
    let mut pass = read_pass(&idx_path, file_len).map_err(ierr)?;
    if pass.needs_rewrite {
        compact(&idx_path, file_len, &pass.index.updates).map_err(ierr)?;
        pass = read_pass(&idx_path, file_len).map_err(ierr)?;
        if pass.needs_rewrite {
            return Err(ierr(IdxErr::Corrupt("the mbox index cannot be repaired")));
        }
    }
    let mut index = pass.index;
    index.idx_path = idx_path;
    if let Some(last) = pass.last_o {
        let mut f = File::open(path).map_err(ferr)?;
        let mut head = [0u8; 5];
        f.seek(SeekFrom::Start(last)).map_err(ferr)?;
        f.read_exact(&mut head).map_err(ferr)?;
        if &head != b"From " {
            return Err(ierr(IdxErr::Corrupt(
                "mbox index does not match the mbox file",
            )));
        }
    }
    let end = index.end;
    index.seen_len = file_len;
    if file_len > end && !repair_tail {
        tracing::warn!(folder = %folder, bytes = file_len - end, "not listing unindexed bytes at the end of an mbox");
    }
    if file_len > end && repair_tail {
        // Data the index never confirmed: a killed append. Keep the bytes aside, then cut.
        tracing::warn!(folder = %folder, bytes = file_len - end, "moving an unindexed mbox tail aside");
        let mut src = File::open(path).map_err(ferr)?;
        src.seek(SeekFrom::Start(end)).map_err(ferr)?;
        let mut dst = create_tail_file(path, end).map_err(ferr)?;
        io::copy(&mut src, &mut dst).map_err(ferr)?;
        dst.sync_all().map_err(ferr)?;
        let f = OpenOptions::new().write(true).open(path).map_err(ferr)?;
        f.set_len(end).map_err(ferr)?;
        f.sync_all().map_err(ferr)?;
        index.seen_len = end;
    }
    Ok(index)
}

impl Inner {
    /// The mbox file of an existing folder.
    fn folder_file(&self, id: &FolderId, op: Operation) -> Result<PathBuf> {
        let s = id.as_str();
        let valid = !s.is_empty()
            && !s.contains(['\\', '\0'])
            && !s.ends_with(INDEX_EXT)
            && !s.contains(TAIL_EXT)
            && s.split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && !c.starts_with('.'));
        let path = self.root.join(s);
        if valid && path.is_file() {
            Ok(path)
        } else {
            Err(err(ErrorKind::NotFound, "no such folder", op).with_context("folder", id))
        }
    }

    fn slot(&self, id: &FolderId) -> Slot {
        Arc::clone(
            lock(&self.folders)
                .entry(id.as_str().to_owned())
                .or_default(),
        )
    }

    /// Runs `f` on the folder's index, loading or repairing it first when the file changed.
    fn with_index<R>(
        &self,
        folder: &FolderId,
        op: Operation,
        f: impl FnOnce(&Path, &mut FolderIndex) -> Result<R>,
    ) -> Result<R> {
        self.with_index_as(folder, op, false, f)
    }

    /// As [`Inner::with_index`]; with `repair_tail`, also moves unindexed bytes aside so
    /// the index covers the whole mbox (before an append).
    fn with_index_as<R>(
        &self,
        folder: &FolderId,
        op: Operation,
        repair_tail: bool,
        f: impl FnOnce(&Path, &mut FolderIndex) -> Result<R>,
    ) -> Result<R> {
        let path = self.folder_file(folder, op)?;
        let slot = self.slot(folder);
        let mut g = lock(&slot);
        let len = fs::metadata(&path)
            .map_err(|e| folder_err(e, op, folder))?
            .len();
        let stale = g
            .as_ref()
            .is_none_or(|idx| idx.seen_len != len || (repair_tail && idx.end != len));
        if stale {
            *g = None;
            *g = Some(load(&path, folder, op, repair_tail)?);
        }
        let idx = g
            .as_mut()
            .ok_or_else(|| err(ErrorKind::Unexpected, "index missing", op))?;
        f(&path, idx)
    }

    fn append_batch(
        &self,
        folder: &FolderId,
        messages: &[RawMessage],
    ) -> Result<Vec<Result<Appended>>> {
        let op = Operation::Append;
        self.with_index_as(folder, op, true, |path, idx| {
            append_to(path, idx, folder, messages)
        })
    }

    fn read_one(&self, folder: &FolderId, id: &MessageId) -> Result<RawMessage> {
        let op = Operation::Fetch;
        let msg = self.with_index(folder, op, |_, idx| {
            idx.get(id)
                .map_err(|e| e.into_error(op, folder))?
                .ok_or_else(|| err(ErrorKind::NotFound, "no such message", op))
        });
        let msg = msg.map_err(|e| e.with_item(folder, id))?;
        let path = self.folder_file(folder, op)?;
        let ioe = |e: io::Error| folder_err(e, op, folder).with_item(folder, id);
        let mut file = File::open(&path).map_err(ioe)?;
        file.seek(SeekFrom::Start(msg.d)).map_err(ioe)?;
        let mut r = BufReader::with_capacity(64 * 1024, file.take(msg.q));
        let cap = usize::try_from(msg.n.min(msg.q)).unwrap_or(0);
        let mut out = Vec::with_capacity(cap);
        let mut line = Vec::new();
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line).map_err(ioe)? == 0 {
                break;
            }
            out.extend_from_slice(unquote_line(&line));
        }
        let consistent = out.len() as u64 == msg.n && ContentHash::of(&out) == msg.hash;
        if !consistent {
            return Err(err(
                ErrorKind::StateCorrupt,
                "stored message does not match its index entry",
                op,
            )
            .with_item(folder, id));
        }
        Ok(RawMessage::new(msg.meta(folder), Bytes::from(out)))
    }

    /// Streams a folder's entries from its index into `tx`, then the checkpoint.
    fn list_into(
        &self,
        folder: &FolderId,
        tx: &tokio::sync::mpsc::Sender<Result<Change>>,
    ) -> Result<()> {
        let op = Operation::ListChanges;
        let ierr = |e: IdxErr| e.into_error(op, folder);
        let (idx_path, limit) =
            self.with_index(folder, op, |_, idx| Ok((idx.idx_path.clone(), idx.idx_len)))?;
        let mut rd = IndexReader::open(&idx_path, 0).map_err(|e| folder_err(e, op, folder))?;
        let mut count = 0u64;
        let mut chunk = Vec::with_capacity(LIST_CHUNK);
        loop {
            let rec = rd.next_record(limit).map_err(ierr)?;
            let done = rec.is_none();
            if let Some((_, Record::Entry(r))) = rec {
                chunk.push(Msg::from_record(r).map_err(ierr)?);
            }
            if chunk.len() == LIST_CHUNK || (done && !chunk.is_empty()) {
                // Apply flag changes made since the index was compacted; send unlocked, so a
                // consumer may write to the folder while it lists.
                let metas: Vec<MessageMeta> = {
                    let slot = self.slot(folder);
                    let g = lock(&slot);
                    chunk
                        .drain(..)
                        .map(|m| match g.as_ref() {
                            Some(idx) => idx.apply(m).meta(folder),
                            None => m.meta(folder),
                        })
                        .collect()
                };
                for meta in metas {
                    count += 1;
                    if tx.blocking_send(Ok(Change::Upsert(meta))).is_err() {
                        return Ok(());
                    }
                }
            }
            if done {
                break;
            }
        }
        let _ = tx.blocking_send(Ok(Change::Checkpoint(Checkpoint::new(count.to_string()))));
        Ok(())
    }

    fn list_folders(&self) -> Result<Vec<Folder>> {
        let op = Operation::ListFolders;
        let mut out = Vec::new();
        walk(&self.root, &mut Vec::new(), "", &mut out)
            .map_err(|e| Error::from(e).with_provider(SCHEME).with_operation(op))?;
        let roles = read_roles(&self.root).map_err(|e| {
            Error::from(e)
                .with_provider(SCHEME)
                .with_operation(op)
                .with_context("file", ROLES_FILE)
        })?;
        for f in &mut out {
            if let Some(&role) = roles.get(f.id.as_str()) {
                f.role = Some(role);
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

/// A message written by an append, and where its index line starts.
struct Written {
    msg: Msg,
    line: u64,
}

/// Appends `messages` at the end of the mbox file `path` and records them in `idx`.
fn append_to(
    path: &Path,
    idx: &mut FolderIndex,
    folder: &FolderId,
    messages: &[RawMessage],
) -> Result<Vec<Result<Appended>>> {
    let op = Operation::Append;
    let start = idx.end;
    let mut out = Vec::with_capacity(messages.len());
    let mut new = Vec::new();
    let idx_path = idx.idx_path.clone();
    let idx_len = idx.idx_len;
    // Returns the new length of the index.
    let write = |new: &mut Vec<Written>, out: &mut Vec<Result<Appended>>| -> io::Result<u64> {
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        // A foreign file may end without a newline: the next From_ line must start a line.
        let mut pos = start;
        let mut last = [b'\n'];
        if start > 0 {
            file.seek(SeekFrom::Start(start - 1))?;
            file.read_exact(&mut last)?;
        }
        file.seek(SeekFrom::Start(start))?;
        let mut w = BufWriter::with_capacity(256 * 1024, file);
        let mut need_newline = last[0] != b'\n';
        for msg in messages {
            if msg.bytes.is_empty() {
                out.push(Err(err(ErrorKind::InvalidMessage, "empty message", op)
                    .with_item(folder, &msg.meta.id)));
                continue;
            }
            if need_newline {
                w.write_all(b"\n")?;
                pos += 1;
                need_newline = false;
            }
            let o = pos;
            // Without a date the arrival time is the internal date, as on a server.
            let date = msg.meta.internal_date.or_else(|| {
                OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).ok()
            });
            let headers = Headers::parse(&msg.bytes);
            let from = from_line(headers.from.as_deref(), date);
            w.write_all(&from)?;
            let d = o + from.len() as u64;
            let q = write_quoted(&mut w, &msg.bytes)?;
            let nl = !msg.bytes.ends_with(b"\n");
            if nl {
                w.write_all(b"\n")?;
            }
            w.write_all(b"\n")?;
            pos = d + q + u64::from(nl) + 1;
            let msg = Msg {
                o,
                d,
                q,
                e: pos,
                n: msg.bytes.len() as u64,
                nl,
                flags: msg.meta.flags.clone(),
                labels: msg.meta.labels.clone(),
                date,
                hash: ContentHash::of(&msg.bytes),
                message_id: msg.meta.message_id.clone().or(headers.message_id),
            };
            new.push(Written { msg, line: 0 });
            out.push(Ok(Appended::new(Some(MessageId::new(o.to_string())))));
        }
        w.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()?;
        // Only now that the data is durable does the index describe it.
        let mut lines = Vec::new();
        for m in new.iter_mut() {
            let at = lines.len() as u64;
            write_line(&mut lines, &m.msg.to_record())?;
            // Remember where each line starts, relative to the batch for now.
            m.line = at;
        }
        if lines.is_empty() {
            return Ok(idx_len);
        }
        let base = append_index_lines(&idx_path, &lines)?;
        for m in new.iter_mut() {
            m.line += base;
        }
        Ok(base + lines.len() as u64)
    };
    match write(&mut new, &mut out) {
        Ok(len) => idx.idx_len = len,
        Err(e) => {
            // Whatever reached the file is unindexed: force a reload; the next append moves
            // it aside.
            idx.seen_len = u64::MAX;
            return Err(folder_err(e, op, folder));
        }
    }
    for m in &new {
        idx.note_entry(m.msg.o, m.line);
        idx.end = m.msg.e;
    }
    idx.seen_len = idx.end;
    Ok(out)
}

/// Lists the folders under `dir` into `out`.
fn walk(dir: &Path, segs: &mut Vec<String>, rel: &str, out: &mut Vec<Folder>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let ty = entry.file_type()?;
        let child_rel = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{rel}/{name}")
        };
        if ty.is_dir() {
            if let Some(stem) = name.strip_suffix(SBD_EXT) {
                segs.push(unescape_segment(stem));
                walk(&entry.path(), segs, &child_rel, out)?;
                segs.pop();
            }
            continue;
        }
        if !ty.is_file()
            || name.ends_with(INDEX_EXT)
            || name.ends_with(".msf")
            || name.ends_with(".tmp")
            || name.contains(TAIL_EXT)
        {
            continue;
        }
        segs.push(unescape_segment(name));
        match FolderPath::new(segs.clone()) {
            Ok(path) => {
                let role = role_for_path(&path);
                out.push(Folder::new(FolderId::new(child_rel), path).with_role(role));
            }
            Err(_) => tracing::warn!(file = name, "skipping an mbox file with an invalid name"),
        }
        segs.pop();
    }
    Ok(())
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
        blocking(move || {
            let op = Operation::EnsureFolder;
            let rel = rel_path(&path);
            // Room for the longest suffix this store adds (`.mmtail-<offset>.<n>`).
            if rel.split('/').any(|c| c.len() + 32 > MAX_NAME) {
                return Err(err(
                    ErrorKind::ConfigInvalid,
                    "folder name too long for an mbox file name",
                    op,
                )
                .with_context("folder", &path));
            }
            let mut created = false;
            let mut prefix = PathBuf::new();
            let parts: Vec<&str> = rel.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                let leaf = i + 1 == parts.len();
                let (file_name, sbd) = if leaf {
                    (*part, None)
                } else {
                    let stem = part.strip_suffix(SBD_EXT).unwrap_or(part);
                    (stem, Some(*part))
                };
                let file = inner.root.join(&prefix).join(file_name);
                let make = || -> io::Result<bool> {
                    if file.is_file() {
                        return Ok(false);
                    }
                    // The empty index first: an mbox with an index is never scanned as foreign.
                    File::create(index_path(&file))?.sync_all()?;
                    match OpenOptions::new().write(true).create_new(true).open(&file) {
                        Ok(f) => f.sync_all().map(|()| true),
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                        Err(e) => Err(e),
                    }
                };
                let made = make().map_err(|e| {
                    Error::from(e)
                        .with_provider(SCHEME)
                        .with_operation(op)
                        .with_context("folder", &path)
                })?;
                if leaf {
                    created = made;
                }
                if let Some(sbd) = sbd {
                    prefix.push(sbd);
                    fs::create_dir_all(inner.root.join(&prefix)).map_err(|e| {
                        Error::from(e)
                            .with_provider(SCHEME)
                            .with_operation(op)
                            .with_context("folder", &path)
                    })?;
                }
            }
            let id = FolderId::new(rel);
            remember_role(&inner.root, &inner.roles, &id, &path, role).map_err(|e| {
                Error::from(e)
                    .with_provider(SCHEME)
                    .with_operation(op)
                    .with_context("folder", &path)
            })?;
            Ok(EnsuredFolder::new(id, created))
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
        blocking(move || {
            let op = Operation::UpdateFlags;
            inner
                .with_index(&folder, op, |_, idx| {
                    let m = idx
                        .get(&id)
                        .map_err(|e| e.into_error(op, &folder))?
                        .ok_or_else(|| err(ErrorKind::NotFound, "no such message", op))?;
                    let flags = change.apply(&idx.apply(m.clone()).flags);
                    let rec = UpdateRecord {
                        u: m.o,
                        f: flags.iter().map(ToString::to_string).collect(),
                    };
                    let mut line = serde_json::to_vec(&rec).map_err(|e| {
                        err(ErrorKind::Unexpected, "cannot encode", op).with_source(e)
                    })?;
                    line.push(b'\n');
                    let base = append_index_lines(&idx.idx_path, &line)
                        .map_err(|e| folder_err(e, op, &folder))?;
                    idx.idx_len = base + line.len() as u64;
                    idx.updates.insert(m.o, flags);
                    Ok(())
                })
                .map_err(|e| e.with_item(&folder, &id))
        })
        .await
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        let inner = Arc::clone(&self.inner);
        let folder = folder.clone();
        let key = key.clone();
        blocking(move || {
            let op = Operation::FindExisting;
            inner.with_index(&folder, op, |_, idx| {
                // One streaming pass over the index: sizes and hashes are in it.
                let scan = || -> Result<Vec<ExistingCopy>, IdxErr> {
                    let mut rd = IndexReader::open(&idx.idx_path, 0)?;
                    let mut out = Vec::new();
                    while let Some((_, rec)) = rd.next_record(idx.idx_len)? {
                        if let Record::Entry(r) = rec {
                            if key.size.is_none_or(|s| r.n == s)
                                && ContentHash::from_hex(&r.h) == Some(key.hash)
                            {
                                let m = idx.apply(Msg::from_record(r)?);
                                out.push(
                                    ExistingCopy::new(MessageId::new(m.o.to_string()))
                                        .with_flags(m.flags)
                                        .with_internal_date(m.date),
                                );
                            }
                        }
                    }
                    Ok(out)
                };
                scan().map_err(|e| e.into_error(op, &folder))
            })
        })
        .await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips() {
        let msg = b"From: a@b\nSubject: x\n\nFrom here\n>From there\n>>From x\nFromage\n> From y";
        let mut out = Vec::new();
        let n = write_quoted(&mut out, msg).unwrap();
        assert_eq!(n as usize, out.len());
        assert_eq!(
            out,
            b"From: a@b\nSubject: x\n\n>From here\n>>From there\n>>>From x\nFromage\n> From y"
        );
        let back: Vec<u8> = out
            .split_inclusive(|&b| b == b'\n')
            .flat_map(|l| unquote_line(l).to_vec())
            .collect();
        assert_eq!(back, msg);
    }

    #[test]
    fn from_line_uses_sender_and_asctime() {
        let date = time::macros::datetime!(2021-03-05 07:08:09 +02:00);
        let line = from_line(Some("ann@example.com"), Some(date));
        assert_eq!(line, b"From ann@example.com Fri Mar  5 05:08:09 2021\n");
        assert_eq!(
            parse_from_line_date(&line),
            Some(time::macros::datetime!(2021-03-05 05:08:09 UTC))
        );
        let line = from_line(None, Some(date));
        assert!(line.starts_with(b"From MAILER-DAEMON "));
        let line = from_line(Some("two words"), Some(date));
        assert!(line.starts_with(b"From MAILER-DAEMON "));
        assert_eq!(
            parse_from_line_date(b"From 1234@xxx Sat Jan 01 10:00:00 +0000 2022\n"),
            Some(time::macros::datetime!(2022-01-01 10:00:00 UTC))
        );
    }

    #[test]
    fn foreign_headers_give_flags_and_labels() {
        let h = b"Status: RO\nX-Status: AF\nX-Keywords: $Label1, work\nX-Gmail-Labels: Inbox,\"a,b\",Opened\n\nbody";
        let (flags, labels) = flags_from_headers(h);
        for f in [
            Flag::Seen,
            Flag::Answered,
            Flag::Flagged,
            Flag::Keyword("$Label1".into()),
            Flag::Keyword("work".into()),
        ] {
            assert!(flags.contains(&f), "{f}");
        }
        assert_eq!(flags.len(), 5);
        let want: BTreeSet<String> = ["Inbox", "a,b", "Opened"].map(String::from).into();
        assert_eq!(labels, want);
        let (flags, _) = flags_from_headers(b"X-Mozilla-Status: 0003\n\n");
        assert!(flags.contains(&Flag::Seen) && flags.contains(&Flag::Answered));
    }

    #[test]
    fn folder_paths_map_to_nested_files() {
        let p = |s: &[&str]| FolderPath::new(s.iter().copied()).unwrap();
        assert_eq!(rel_path(&p(&["inbox"])), "INBOX");
        assert_eq!(rel_path(&p(&["Archive", "2020"])), "Archive.sbd/2020");
        assert_eq!(rel_path(&p(&["a.b", "c/d"])), "a%2Eb.sbd/c%2Fd");
    }

    fn scan_all(path: &Path) -> Result<Vec<Msg>, IdxErr> {
        let mut out = Vec::new();
        scan(path, |m| {
            out.push(m);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn scan_splits_messages_and_strips_separators() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(
            &path,
            b"From a Mon Jan  1 00:00:00 2001\nSubject: 1\n\n>From quoted\n\nFrom b Mon Jan  1 00:00:00 2001\nSubject: 2\n\nno newline",
        )
        .unwrap();
        let msgs = scan_all(&path).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].n, b"Subject: 1\n\nFrom quoted\n".len() as u64);
        assert_eq!(
            msgs[0].hash,
            ContentHash::of(b"Subject: 1\n\nFrom quoted\n")
        );
        assert_eq!(msgs[1].hash, ContentHash::of(b"Subject: 2\n\nno newline"));
        assert_eq!(msgs[1].e, fs::metadata(&path).unwrap().len());
        fs::write(
            &path,
            b"From a Mon Jan  1 00:00:00 2001\r\nSubject: crlf\r\n\r\nbody\r\n\r\nFrom b Mon Jan  1 00:00:00 2001\r\nSubject: 2\r\n\r\nx\r\n",
        )
        .unwrap();
        let msgs = scan_all(&path).unwrap();
        assert_eq!(
            msgs[0].hash,
            ContentHash::of(b"Subject: crlf\r\n\r\nbody\r\n")
        );
        assert_eq!(msgs[0].q, b"Subject: crlf\r\n\r\nbody\r\n".len() as u64);
        assert_eq!(msgs[1].hash, ContentHash::of(b"Subject: 2\r\n\r\nx\r"));
        fs::write(&path, b"not an mbox\n").unwrap();
        assert!(matches!(scan_all(&path), Err(IdxErr::Corrupt(_))));
    }
}

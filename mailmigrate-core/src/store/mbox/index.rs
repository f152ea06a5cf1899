//! The sidecar index `<file>.mmidx`: its JSON records, reading them line by line, writing
//! them durably, the per-folder [`FolderIndex`] kept in memory, and the validating pass and
//! compaction run when a folder's index is loaded.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::layout::with_suffix;
use super::{err, folder_err};
use crate::{
    ContentHash, Error, ErrorKind, Flag, Flags, FolderId, MessageId, MessageMeta, Operation, Result,
};

/// Every how many index entries the in-memory map remembers a position.
const SPARSE_EVERY: u64 = 64;

/// One message as the index knows it.
#[derive(Debug, Clone)]
pub(super) struct Msg {
    /// Offset of the `From_` line (the message id).
    pub(super) o: u64,
    /// Offset of the first data byte.
    pub(super) d: u64,
    /// Length of the quoted data on disk, without an added newline or the separator.
    pub(super) q: u64,
    /// Offset just past the separator (the next message's `From_` line).
    pub(super) e: u64,
    /// Length of the original message.
    pub(super) n: u64,
    /// Whether a newline was added after the data.
    pub(super) nl: bool,
    pub(super) flags: Flags,
    pub(super) labels: BTreeSet<String>,
    pub(super) date: Option<OffsetDateTime>,
    pub(super) hash: ContentHash,
    pub(super) message_id: Option<String>,
}

/// What the store keeps in memory about a folder: positions in its index, never one entry
/// per message, so memory does not grow with the folder.
#[derive(Debug, Default)]
pub(super) struct FolderIndex {
    /// Where the index lives: next to the mbox, or in the temp directory when the mbox's
    /// directory is read-only.
    pub(super) idx_path: PathBuf,
    /// Length of the mbox file the index covers.
    pub(super) end: u64,
    /// Length of the mbox file when last looked at; a change means another writer.
    pub(super) seen_len: u64,
    /// Length of the index file.
    pub(super) idx_len: u64,
    /// Number of messages.
    count: u64,
    /// `(message offset, index line offset)` of every `SPARSE_EVERY`th message.
    sparse: Vec<(u64, u64)>,
    /// Flags changed since the index was last compacted, by message offset.
    pub(super) updates: HashMap<u64, Flags>,
}

impl FolderIndex {
    /// Records that the entry of the message at `o` starts at `line_pos` in the index.
    pub(super) fn note_entry(&mut self, o: u64, line_pos: u64) {
        if self.count.is_multiple_of(SPARSE_EVERY) {
            self.sparse.push((o, line_pos));
        }
        self.count += 1;
    }

    /// The message's entry with its current flags.
    pub(super) fn apply(&self, mut m: Msg) -> Msg {
        if let Some(f) = self.updates.get(&m.o) {
            m.flags = f.clone();
        }
        m
    }

    /// Reads the entry of the message with id `id`, seeking near it in the index.
    pub(super) fn get(&self, id: &MessageId) -> Result<Option<Msg>, IdxErr> {
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
pub(super) enum IdxErr {
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
    pub(super) fn into_error(self, op: Operation, folder: &FolderId) -> Error {
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
pub(super) struct IndexReader {
    r: BufReader<File>,
    pos: u64,
    line: Vec<u8>,
}

impl IndexReader {
    pub(super) fn open(path: &Path, pos: u64) -> io::Result<Self> {
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
    pub(super) fn next_record(&mut self, limit: u64) -> Result<Option<(u64, Record)>, IdxErr> {
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
pub(super) struct EntryRecord {
    o: u64,
    d: u64,
    q: u64,
    e: u64,
    pub(super) n: u64,
    #[serde(default)]
    nl: bool,
    #[serde(default)]
    f: Vec<String>,
    #[serde(default)]
    l: Vec<String>,
    #[serde(default)]
    t: Option<i64>,
    pub(super) h: String,
    #[serde(default)]
    m: Option<String>,
}

/// An index line replacing a message's flags.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct UpdateRecord {
    pub(super) u: u64,
    pub(super) f: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Record {
    Entry(EntryRecord),
    Update(UpdateRecord),
}

impl Msg {
    pub(super) fn to_record(&self) -> EntryRecord {
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

    pub(super) fn from_record(r: EntryRecord) -> Result<Self, IdxErr> {
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

    pub(super) fn meta(&self, folder: &FolderId) -> MessageMeta {
        MessageMeta::new(MessageId::new(self.o.to_string()), folder.clone())
            .with_flags(self.flags.clone())
            .with_labels(self.labels.clone())
            .with_internal_date(self.date)
            .with_size(self.n)
            .with_message_id(self.message_id.clone())
    }
}

/// Writes an index file through a temporary file, fsync and rename.
pub(super) fn write_index_file(
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

pub(super) fn write_line(w: &mut impl Write, rec: &EntryRecord) -> io::Result<()> {
    serde_json::to_writer(&mut *w, rec)?;
    w.write_all(b"\n")
}

/// Appends lines to the index and fsyncs it, returning the offset they start at. On failure
/// the index is cut back to its previous length, so none of the lines counts.
pub(super) fn append_index_lines(idx_path: &Path, lines: &[u8]) -> io::Result<u64> {
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

/// One streaming pass over an index.
pub(super) struct Pass {
    pub(super) index: FolderIndex,
    pub(super) last_o: Option<u64>,
    /// Torn lines, update lines or entries beyond the end of the mbox were seen.
    pub(super) needs_rewrite: bool,
}

pub(super) fn read_pass(idx_path: &Path, file_len: u64) -> Result<Pass, IdxErr> {
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
pub(super) fn compact(
    idx_path: &Path,
    file_len: u64,
    updates: &HashMap<u64, Flags>,
) -> Result<(), IdxErr> {
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

//! Writing to a folder: appending messages (data fsynced before the index describes it) and
//! recording flag changes as update lines in the index.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use time::OffsetDateTime;

use super::index::{append_index_lines, write_line, FolderIndex, Msg, UpdateRecord};
use super::mboxrd::{from_line, write_quoted};
use super::{err, folder_err, Inner};
use crate::headers::Headers;
use crate::{
    Appended, ContentHash, ErrorKind, FlagChange, FolderId, MessageId, Operation, RawMessage,
    Result,
};

impl Inner {
    /// Appends a batch to the end of the folder's mbox, moving an unindexed tail aside first.
    pub(super) fn append_batch(
        &self,
        folder: &FolderId,
        messages: &[RawMessage],
    ) -> Result<Vec<Result<Appended>>> {
        let op = Operation::Append;
        self.with_index_as(folder, op, true, |path, idx| {
            append_to(path, idx, folder, messages)
        })
    }

    /// Replaces the flags of one message by appending an update line to the index.
    pub(super) fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: FlagChange,
    ) -> Result<()> {
        let op = Operation::UpdateFlags;
        self.with_index(folder, op, |_, idx| {
            let m = idx
                .get(id)
                .map_err(|e| e.into_error(op, folder))?
                .ok_or_else(|| err(ErrorKind::NotFound, "no such message", op))?;
            let flags = change.apply(&idx.apply(m.clone()).flags);
            let rec = UpdateRecord {
                u: m.o,
                f: flags.iter().map(ToString::to_string).collect(),
            };
            let mut line = serde_json::to_vec(&rec)
                .map_err(|e| err(ErrorKind::Unexpected, "cannot encode", op).with_source(e))?;
            line.push(b'\n');
            let base =
                append_index_lines(&idx.idx_path, &line).map_err(|e| folder_err(e, op, folder))?;
            idx.idx_len = base + line.len() as u64;
            idx.updates.insert(m.o, flags);
            Ok(())
        })
        .map_err(|e| e.with_item(folder, id))
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

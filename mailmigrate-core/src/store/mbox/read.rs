//! Reading a folder: fetching a message's bytes, listing its messages from the index, and
//! finding copies of a message by size and content hash.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use bytes::Bytes;

use super::index::{IdxErr, IndexReader, Msg, Record};
use super::mboxrd::unquote_line;
use super::{err, folder_err, lock, Inner};
use crate::{
    Change, Checkpoint, ContentHash, DedupeKey, ErrorKind, ExistingCopy, FolderId, MessageId,
    MessageMeta, Operation, RawMessage, Result,
};

/// How many listing entries are read from the index between two looks at the flag updates.
const LIST_CHUNK: usize = 256;

impl Inner {
    /// Reads one message's bytes, unquoted, and checks them against its index entry.
    pub(super) fn read_one(&self, folder: &FolderId, id: &MessageId) -> Result<RawMessage> {
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
    pub(super) fn list_into(
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

    /// The messages of `folder` that match `key`, from one streaming pass over its index.
    pub(super) fn find_existing(
        &self,
        folder: &FolderId,
        key: &DedupeKey,
    ) -> Result<Vec<ExistingCopy>> {
        let op = Operation::FindExisting;
        self.with_index(folder, op, |_, idx| {
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
            scan().map_err(|e| e.into_error(op, folder))
        })
    }
}

//! Loading a folder's index into memory when its mbox file changed, under the folder's
//! lock: a foreign mbox is scanned first, a damaged index is compacted, and bytes no index
//! entry covers are moved aside before an append.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use super::index::{compact, read_pass, FolderIndex, IdxErr};
use super::layout::{index_path, with_suffix, TAIL_EXT};
use super::scan::index_foreign;
use super::{err, folder_err, lock, Inner, Slot};
use crate::{ErrorKind, FolderId, Operation, Result};

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
    /// The lock and cached index of a folder, made empty on first use.
    pub(super) fn slot(&self, id: &FolderId) -> Slot {
        Arc::clone(
            lock(&self.folders)
                .entry(id.as_str().to_owned())
                .or_default(),
        )
    }

    /// Runs `f` on the folder's index, loading or repairing it first when the file changed.
    pub(super) fn with_index<R>(
        &self,
        folder: &FolderId,
        op: Operation,
        f: impl FnOnce(&Path, &mut FolderIndex) -> Result<R>,
    ) -> Result<R> {
        self.with_index_as(folder, op, false, f)
    }

    /// As [`Inner::with_index`]; with `repair_tail`, also moves unindexed bytes aside so
    /// the index covers the whole mbox (before an append).
    pub(super) fn with_index_as<R>(
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
}

//! Reading a backup store back: every selectable folder listed as a stream, its messages
//! fetched in batches and hashed, one folder at a time.

use std::fmt;

use futures::StreamExt;

use super::FolderManifest;
use crate::{Change, ContentHash, Error, ErrorKind, Folder, FolderPath, MessageId, Result, Source};

/// Messages fetched at once while a backup is read back (bodies are dropped once hashed,
/// so at most this many are held).
pub const FETCH_BATCH: usize = 64;

/// Unreadable messages kept by name (all are counted).
const KEEP_UNREADABLE: usize = 100;

/// A message that could not be read back.
#[derive(Debug)]
pub(super) struct Unreadable {
    pub(super) path: FolderPath,
    pub(super) id: MessageId,
    pub(super) reason: String,
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}: {}", self.id, self.path, self.reason)
    }
}

/// What reading the store back found.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub(super) folders: Vec<FolderManifest>,
    pub(super) unreadable: Vec<Unreadable>,
    pub(super) unreadable_count: u64,
}

/// One folder being read: the hashes so far, bytes, and the ids waiting for a fetch.
struct Running {
    hashes: Vec<ContentHash>,
    bytes: u64,
    pending: Vec<MessageId>,
}

pub(super) async fn scan(source: &dyn Source) -> Result<Scan> {
    let mut scan = Scan::default();
    let folders = source.list_folders().await?;
    for folder in folders.iter().filter(|f| f.selectable) {
        if folder.role.is_some_and(crate::SpecialUse::is_virtual) {
            continue;
        }
        let manifest = scan_folder(source, folder, &mut scan).await?;
        scan.folders.push(manifest);
    }
    scan.folders.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(scan)
}

async fn scan_folder(
    source: &dyn Source,
    folder: &Folder,
    scan: &mut Scan,
) -> Result<FolderManifest> {
    let mut run = Running {
        hashes: Vec::new(),
        bytes: 0,
        pending: Vec::with_capacity(FETCH_BATCH),
    };
    let mut listing = source.list_changes(&folder.id, None);
    let mut ended = false;
    while let Some(change) = listing.next().await {
        match change? {
            Change::Upsert(meta) => {
                run.pending.push(meta.id);
                if run.pending.len() >= FETCH_BATCH {
                    fetch(source, folder, &mut run, scan).await;
                }
            }
            Change::Removed(_) => {}
            Change::Reset => {
                run.hashes.clear();
                run.pending.clear();
                run.bytes = 0;
            }
            Change::Checkpoint(_) => {
                ended = true;
                break;
            }
        }
    }
    drop(listing);
    if !ended {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!("the listing of backup folder {} ended early", folder.path),
        )
        .with_context("folder", &folder.path));
    }
    fetch(source, folder, &mut run, scan).await;
    Ok(FolderManifest::from_hashes(
        folder.path.clone(),
        run.hashes,
        run.bytes,
    ))
}

/// Fetches the pending ids, hashing each body and noting each failure.
async fn fetch(source: &dyn Source, folder: &Folder, run: &mut Running, scan: &mut Scan) {
    if run.pending.is_empty() {
        return;
    }
    let ids = std::mem::replace(&mut run.pending, Vec::with_capacity(FETCH_BATCH));
    let mut bodies = source.fetch(&folder.id, ids);
    while let Some((id, got)) = bodies.next().await {
        match got {
            Ok(raw) => {
                run.hashes.push(raw.content_hash());
                run.bytes += raw.bytes.len() as u64;
            }
            Err(e) => {
                scan.unreadable_count += 1;
                if scan.unreadable.len() < KEEP_UNREADABLE {
                    scan.unreadable.push(Unreadable {
                        path: folder.path.clone(),
                        id,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
}

//! Which content hashes a folder's copies may carry, so a batch of look-ups asks Graph only
//! about the messages that may be there.
//!
//! The engine looks up every message before writing it into a folder that holds mail and
//! has no history with this job (decision 0004) — an Inbox with one welcome message is such
//! a folder — and each look-up is a request (\[G-EXT\]'s filter), four in flight at most
//! (\[G-THR\]): half of all requests, and half the speed. Only copies this crate wrote
//! carry a hash stamp, so a look-up can only find a message whose hash a stamp in the
//! folder holds. The stamps are read once per folder, in pages of 1,000 (a folder with
//! more than [`MAX_PAGES`] pages is not read: its look-ups all go to Graph), and every
//! create this process starts adds its hash before the request leaves, so a copy written
//! since — even one whose answer was lost — is looked up as before.
//!
//! This holds while one process writes the mailbox's migrated copies, which is how a job
//! runs (concurrent runs of one job are not supported).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use futures::TryStreamExt;
use mailmigrate_core::{ContentHash, FolderId, Result};
use serde::Deserialize;

use super::create::hash_property;
use super::Graph;
use crate::client::{segment, Call};

/// The most pages of 1,000 messages read to learn a folder's stamps.
const MAX_PAGES: usize = 5;
/// The most hashes remembered per folder (read and written); past it the folder's
/// look-ups all go to Graph, so memory stays bounded whatever the mailbox holds.
const MAX_HASHES: usize = 100_000;

/// A hash as remembered: its first 16 bytes (a collision only costs a look-up).
type Short = [u8; 16];

fn short(hash: &ContentHash) -> Short {
    let mut s = [0; 16];
    s.copy_from_slice(&hash.as_bytes()[..16]);
    s
}

/// What is known of one folder's stamps.
#[derive(Debug, Default)]
struct Folder {
    /// The stamps read from Graph: `None` until read, or when the folder was too large.
    read: Option<HashSet<Short>>,
    /// Whether the stamps were read (or found too many to read).
    looked: bool,
    /// The hashes of creates this process started in the folder.
    written: HashSet<Short>,
    /// Too many hashes to remember: every look-up asks Graph.
    overflow: bool,
}

/// The stamps known per destination folder.
#[derive(Debug, Default)]
pub(super) struct Stamps(Mutex<HashMap<FolderId, Folder>>);

impl Stamps {
    fn lock(&self) -> MutexGuard<'_, HashMap<FolderId, Folder>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes a create of a message with `hash` into `folder`, before it is sent.
    pub(super) fn writing(&self, folder: &FolderId, hash: &ContentHash) {
        let mut map = self.lock();
        let f = map.entry(folder.clone()).or_default();
        if f.written.len() >= MAX_HASHES {
            f.overflow = true;
            f.written.clear();
        }
        if !f.overflow {
            f.written.insert(short(hash));
        }
    }

    /// Whether `folder`'s stamps were read (or found too many to read).
    fn looked(&self, folder: &FolderId) -> bool {
        self.lock().get(folder).is_some_and(|f| f.looked)
    }

    fn learn(&self, folder: &FolderId, read: Option<HashSet<Short>>) {
        let mut map = self.lock();
        let f = map.entry(folder.clone()).or_default();
        f.looked = true;
        f.read = read;
    }

    /// Whether a copy in `folder` may carry `hash`.
    fn may_hold(&self, folder: &FolderId, hash: &ContentHash) -> bool {
        let map = self.lock();
        let Some(f) = map.get(folder) else {
            return true;
        };
        let s = short(hash);
        match &f.read {
            Some(read) if !f.overflow => read.contains(&s) || f.written.contains(&s),
            _ => true,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stamped {
    #[serde(default)]
    single_value_extended_properties: Vec<Prop>,
}

#[derive(Deserialize)]
struct Prop {
    #[serde(default)]
    value: String,
}

impl Graph {
    /// Which of `hashes` a copy in `folder` may carry (reading the folder's stamps the
    /// first time, see the module docs).
    pub(super) async fn may_hold(
        &self,
        folder: &FolderId,
        hashes: &[ContentHash],
    ) -> Result<Vec<bool>> {
        if !self.stamps.looked(folder) {
            let read = self.read_stamps(folder).await?;
            self.stamps.learn(folder, read);
        }
        Ok(hashes
            .iter()
            .map(|h| self.stamps.may_hold(folder, h))
            .collect())
    }

    /// The hash stamps of `folder`'s messages; `None` past [`MAX_PAGES`] pages.
    async fn read_stamps(&self, folder: &FolderId) -> Result<Option<HashSet<Short>>> {
        let url = self.client.user_url(&format!(
            "/mailFolders/{}/messages?$select=id&$top=1000&$expand={}",
            segment(folder.as_str()),
            segment(&crate::extended::expand(&[&hash_property()]))
        ));
        let mut items = self.client.items::<Stamped>(Call::get(
            url,
            format!("read the copies' stamps in {folder}"),
        ));
        let mut hashes = HashSet::new();
        let mut seen = 0usize;
        while let Some(item) = items.try_next().await? {
            seen += 1;
            if seen > MAX_PAGES * 1000 {
                return Ok(None);
            }
            for p in item.single_value_extended_properties {
                // A partial stamp is `partial:<hex>`: both forms count.
                let hex = p.value.trim_start_matches("partial:");
                if let Some(h) = ContentHash::from_hex(hex) {
                    hashes.insert(short(&h));
                }
            }
        }
        Ok(Some(hashes))
    }
}

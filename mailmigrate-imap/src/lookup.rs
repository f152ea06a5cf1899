//! [`find_existing`](mailmigrate_core::Destination::find_existing): the copies of a message
//! already in a folder.
//!
//! Nothing here trusts how a server implements SEARCH beyond narrowing: `HEADER Message-ID`
//! is a substring search, and `LARGER`/`SMALLER` compare whatever size a server stores
//! (some compare the LF-terminated form, not `RFC822.SIZE`). So:
//! - a key with a Message-ID searches for it and hashes *every* candidate's body;
//! - otherwise (or when that finds nothing and the key has a size) the sizes come from
//!   `UID FETCH … (RFC822.SIZE)`, compared here, and the candidates' bodies are hashed.
//!
//! The sizes are read once per folder and UIDVALIDITY, then only above the highest UID
//! read, so a lookup per message stays one short round trip in a large folder. A `NOOP`
//! first makes messages appended by other connections (this process's own appends
//! included) visible: Dovecot does not show them to a selected connection during a FETCH or
//! SEARCH.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use mailmigrate_core::{ContentHash, DedupeKey, ExistingCopy, FolderId};

use crate::client::{quote, Connection};
use crate::error::ImapError;
use crate::model::{message_id, uid_set};

type Res<T> = std::result::Result<T, ImapError>;

/// The `RFC822.SIZE` of every message read so far, per folder.
#[derive(Debug, Default)]
pub(crate) struct SizeCache {
    folders: Mutex<HashMap<String, FolderSizes>>,
}

/// The sizes of one folder under one UIDVALIDITY.
#[derive(Debug, Clone, Default)]
struct FolderSizes {
    uidvalidity: u32,
    /// The highest UID read (0: none yet).
    last_uid: u32,
    /// UID → size.
    sizes: BTreeMap<u32, u64>,
}

impl SizeCache {
    /// The first UID not read yet for `folder` under `uidvalidity`.
    fn next_uid(&self, folder: &str, uidvalidity: u32) -> u32 {
        let folders = self.folders.lock().unwrap_or_else(|e| e.into_inner());
        match folders.get(folder) {
            Some(f) if f.uidvalidity == uidvalidity => f.last_uid.saturating_add(1),
            _ => 1,
        }
    }

    /// Adds sizes read from `from` upwards; a new UIDVALIDITY starts the folder afresh.
    fn extend(&self, folder: &str, uidvalidity: u32, from: u32, read: &[(u32, u64)]) {
        let mut folders = self.folders.lock().unwrap_or_else(|e| e.into_inner());
        let entry = folders.entry(folder.to_owned()).or_default();
        if entry.uidvalidity != uidvalidity {
            *entry = FolderSizes {
                uidvalidity,
                ..FolderSizes::default()
            };
        }
        // `n:*` answers the highest message even below `n`: keep only what was asked for.
        for &(uid, size) in read.iter().filter(|(uid, _)| *uid >= from) {
            entry.sizes.insert(uid, size);
            entry.last_uid = entry.last_uid.max(uid);
        }
        entry.last_uid = entry.last_uid.max(from.saturating_sub(1));
    }

    /// The UIDs of `folder` whose size is `size` (every UID with `None`).
    fn matching(&self, folder: &str, uidvalidity: u32, size: Option<u64>) -> Vec<u32> {
        let folders = self.folders.lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = folders.get(folder).filter(|f| f.uidvalidity == uidvalidity) else {
            return Vec::new();
        };
        f.sizes
            .iter()
            .filter(|(_, s)| size.is_none_or(|want| **s == want))
            .map(|(uid, _)| *uid)
            .collect()
    }

    /// Forgets messages this process deleted.
    pub(crate) fn remove(&self, folder: &str, uids: &[u32]) {
        let mut folders = self.folders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = folders.get_mut(folder) {
            for uid in uids {
                f.sizes.remove(uid);
            }
        }
    }
}

/// Finds the copies of `key` in `folder`, selected (and refreshed) on `c` under
/// `uidvalidity`, lowest UID first, each with the flags and INTERNALDATE that came with its
/// body (they tell byte-identical twins' copies apart).
pub(crate) async fn find_copies(
    c: &mut Connection,
    cache: &SizeCache,
    folder: &FolderId,
    uidvalidity: u32,
    key: &DedupeKey,
    batch: usize,
) -> Res<Vec<ExistingCopy>> {
    let quoted = key.message_id.as_deref().and_then(quote);
    if let Some(q) = quoted {
        let candidates = c.uid_search(&format!("HEADER Message-ID {q}")).await?;
        let found = hash_matches(c, uidvalidity, candidates, key, batch).await?;
        // Without a size, only the Message-ID narrows (hashing a whole folder per lookup
        // is not cheap); with one, a server whose header search missed gets a second look.
        if !found.is_empty() || key.size.is_none() {
            return Ok(found);
        }
    }
    let from = cache.next_uid(folder.as_str(), uidvalidity);
    let read = c.uid_sizes(from).await?;
    cache.extend(folder.as_str(), uidvalidity, from, &read);
    let candidates = cache.matching(folder.as_str(), uidvalidity, key.size);
    hash_matches(c, uidvalidity, candidates, key, batch).await
}

/// A key whose size matches more messages than this is looked up on its own (its
/// Message-ID narrows the candidates), so that one common size cannot make a batch
/// download much of the folder.
const MAX_SHARED_SIZE: usize = 8;

/// [`find_copies`] for many keys: the folder's sizes are read once (above the highest UID
/// read before), the bodies of every message whose size is a key's are fetched `batch` at
/// a time, each hashed once, and every key gets the copies with its hash. A copy has its
/// message's bytes, so it has its size: nothing `find_copies` would return is missed. Keys
/// without a size, or whose size many messages share, go through [`find_copies`].
pub(crate) async fn find_many(
    c: &mut Connection,
    cache: &SizeCache,
    folder: &FolderId,
    uidvalidity: u32,
    keys: &[DedupeKey],
    batch: usize,
) -> Res<Vec<Vec<ExistingCopy>>> {
    let from = cache.next_uid(folder.as_str(), uidvalidity);
    let read = c.uid_sizes(from).await?;
    cache.extend(folder.as_str(), uidvalidity, from, &read);
    let mut alone = Vec::new();
    let mut wanted = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let same_size = key
            .size
            .map(|s| cache.matching(folder.as_str(), uidvalidity, Some(s)));
        match same_size {
            Some(uids) if uids.len() <= MAX_SHARED_SIZE => wanted.extend(uids),
            _ => alone.push(i),
        }
    }
    let mut by_hash: HashMap<ContentHash, Vec<u32>> = HashMap::new();
    let mut copies: BTreeMap<u32, ExistingCopy> = BTreeMap::new();
    wanted.sort_unstable();
    wanted.dedup();
    for chunk in wanted.chunks(batch.max(1)) {
        for m in c.uid_fetch(&uid_set(chunk), true).await? {
            let Some(body) = m.body.as_ref() else {
                continue;
            };
            if chunk.binary_search(&m.uid).is_err() || copies.contains_key(&m.uid) {
                continue;
            }
            by_hash
                .entry(ContentHash::of(body))
                .or_default()
                .push(m.uid);
            let copy = ExistingCopy::new(message_id(uidvalidity, m.uid))
                .with_flags(m.flags)
                .with_internal_date(m.internal_date);
            copies.insert(m.uid, copy);
        }
    }
    let mut out: Vec<Vec<ExistingCopy>> = keys
        .iter()
        .map(|key| {
            let mut uids = by_hash.get(&key.hash).cloned().unwrap_or_default();
            uids.sort_unstable();
            uids.iter().filter_map(|u| copies.get(u).cloned()).collect()
        })
        .collect();
    for i in alone {
        out[i] = find_copies(c, cache, folder, uidvalidity, &keys[i], batch).await?;
    }
    Ok(out)
}

/// The candidates whose body hashes to `key.hash`, fetched `batch` at a time.
async fn hash_matches(
    c: &mut Connection,
    uidvalidity: u32,
    mut candidates: Vec<u32>,
    key: &DedupeKey,
    batch: usize,
) -> Res<Vec<ExistingCopy>> {
    candidates.sort_unstable();
    candidates.dedup();
    let mut found = BTreeMap::new();
    for chunk in candidates.chunks(batch.max(1)) {
        for m in c.uid_fetch(&uid_set(chunk), true).await? {
            let same = m
                .body
                .as_ref()
                .is_some_and(|b| ContentHash::of(b) == key.hash);
            if same && chunk.binary_search(&m.uid).is_ok() {
                let copy = ExistingCopy::new(message_id(uidvalidity, m.uid))
                    .with_flags(m.flags)
                    .with_internal_date(m.internal_date);
                found.insert(m.uid, copy);
            }
        }
    }
    Ok(found.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_extend_and_restart_with_a_new_uidvalidity() {
        let cache = SizeCache::default();
        assert_eq!(cache.next_uid("INBOX", 7), 1);
        cache.extend("INBOX", 7, 1, &[(1, 10), (2, 20), (4, 10)]);
        assert_eq!(cache.next_uid("INBOX", 7), 5);
        assert_eq!(cache.matching("INBOX", 7, Some(10)), [1, 4]);
        // `5:*` answered with the highest message, already known: nothing new.
        cache.extend("INBOX", 7, 5, &[(4, 10)]);
        assert_eq!(cache.next_uid("INBOX", 7), 5);
        assert_eq!(cache.matching("INBOX", 7, None), [1, 2, 4]);
        cache.remove("INBOX", &[1]);
        assert_eq!(cache.matching("INBOX", 7, Some(10)), [4]);
        // Another UIDVALIDITY: the old UIDs mean nothing.
        assert_eq!(cache.next_uid("INBOX", 8), 1);
        assert!(cache.matching("INBOX", 8, Some(10)).is_empty());
        cache.extend("INBOX", 8, 1, &[(1, 30)]);
        assert_eq!(cache.matching("INBOX", 8, None), [1]);
    }
}

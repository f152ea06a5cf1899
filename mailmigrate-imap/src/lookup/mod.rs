//! [`find_existing`](mailmigrate_core::Destination::find_existing) and
//! [`find_existing_many`](mailmigrate_core::Destination::find_existing_many): the copies of
//! messages already in a folder.
//!
//! Candidates are picked here, from the folder's [`LookupIndex`] (each message's
//! `RFC822.SIZE` and `Message-ID`, read once with `UID FETCH n:* (RFC822.SIZE
//! BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])`, then only above the highest UID read), and
//! their bodies hashed: nothing trusts how a server implements SEARCH (`HEADER Message-ID`
//! is a substring search; `LARGER`/`SMALLER` compare whatever size a server stores, some
//! the LF-terminated form). For a key with a size:
//! - first the messages of its size with its `Message-ID` (none for none), compared exactly;
//! - when none of them has its bytes, every other message of its size (a server whose
//!   header field reads otherwise here must not make a copy missed).
//!
//! A batch of keys shares each step: one index read, then the bodies of every key's
//! candidates, `fetch_batch` to a command and read one at a time, each hashed once. A key
//! without a size (rebuilt from a ledger row whose source item is gone) is narrowed by a
//! `SEARCH HEADER Message-ID`, or not at all without one.
//!
//! A `NOOP` before each look-up makes messages appended by other connections (this
//! process's own appends included) visible: Dovecot does not show them to a selected
//! connection during a FETCH or SEARCH.

mod index;

use std::collections::{BTreeMap, HashMap, HashSet};

use mailmigrate_core::{ContentHash, DedupeKey, ExistingCopy, FolderId};

use self::index::IdHash;
pub(crate) use self::index::LookupIndex;
use crate::client::{quote, Connection};
use crate::error::ImapError;
use crate::model::{message_id, uid_set};

type Res<T> = std::result::Result<T, ImapError>;

/// Finds the copies of each of `keys` in `folder`, selected (and refreshed) on `c` under
/// `uidvalidity`: one list per key, in their order, lowest UID first, each copy with the
/// flags and INTERNALDATE that came with its body (they tell byte-identical twins' copies
/// apart). The keys share the index read and every body fetched (see the module docs).
pub(crate) async fn find_many(
    c: &mut Connection,
    index: &LookupIndex,
    folder: &FolderId,
    uidvalidity: u32,
    keys: &[DedupeKey],
    batch: usize,
) -> Res<Vec<Vec<ExistingCopy>>> {
    let name = folder.as_str();
    let from = index.next_uid(name, uidvalidity);
    let read = c.uid_index(from).await?;
    index.extend(name, uidvalidity, from, &read);
    drop(read);

    let mut hashed = Hashed::new(uidvalidity, keys, batch);
    let same_size: Vec<Vec<index::Entry>> = keys
        .iter()
        .map(|k| {
            k.size
                .map(|s| index.same_size(name, uidvalidity, s))
                .unwrap_or_default()
        })
        .collect();
    let first = keys.iter().zip(&same_size).flat_map(|(key, same)| {
        let id = IdHash::of(key.message_id.as_deref());
        same.iter().filter(move |e| e.id == id).map(|e| e.uid)
    });
    hashed.fetch(c, first.collect()).await?;
    let second = keys
        .iter()
        .zip(&same_size)
        .filter(|(key, _)| !hashed.found(&key.hash))
        .flat_map(|(_, same)| same.iter().map(|e| e.uid));
    hashed.fetch(c, second.collect()).await?;

    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        out.push(match key.size {
            // Every copy has the key's size: it was a candidate of the first or second look.
            Some(_) => hashed.copies(&key.hash, None),
            None => {
                let candidates = match key.message_id.as_deref().and_then(quote) {
                    Some(q) => c.uid_search(&format!("HEADER Message-ID {q}")).await?,
                    // Hashing a whole folder is not cheap: only a key with neither comes here.
                    None => index.uids(name, uidvalidity),
                };
                hashed.fetch(c, candidates.clone()).await?;
                hashed.copies(&key.hash, Some(&candidates))
            }
        });
    }
    Ok(out)
}

/// The bodies one look-up hashed, keeping only the copies whose hash a key wants.
struct Hashed {
    uidvalidity: u32,
    batch: usize,
    wanted: HashSet<ContentHash>,
    /// UIDs fetched already (each body is hashed once per look-up).
    asked: HashSet<u32>,
    by_hash: HashMap<ContentHash, Vec<u32>>,
    copies: BTreeMap<u32, ExistingCopy>,
}

impl Hashed {
    fn new(uidvalidity: u32, keys: &[DedupeKey], batch: usize) -> Self {
        Self {
            uidvalidity,
            batch: batch.max(1),
            wanted: keys.iter().map(|k| k.hash).collect(),
            asked: HashSet::new(),
            by_hash: HashMap::new(),
            copies: BTreeMap::new(),
        }
    }

    /// Fetches and hashes the bodies of `uids` not fetched yet, `batch` to a command and one
    /// body in memory at a time.
    async fn fetch(&mut self, c: &mut Connection, mut uids: Vec<u32>) -> Res<()> {
        uids.retain(|u| !self.asked.contains(u));
        uids.sort_unstable();
        uids.dedup();
        for chunk in uids.chunks(self.batch) {
            self.asked.extend(chunk);
            let tag = c.start_body_fetch(&uid_set(chunk)).await?;
            while let Some(m) = c.next_fetched(&tag).await? {
                let Some(body) = m.body.as_ref() else {
                    continue;
                };
                let hash = ContentHash::of(body);
                if !self.wanted.contains(&hash)
                    || chunk.binary_search(&m.uid).is_err()
                    || self.copies.contains_key(&m.uid)
                {
                    continue;
                }
                self.by_hash.entry(hash).or_default().push(m.uid);
                let copy = ExistingCopy::new(message_id(self.uidvalidity, m.uid))
                    .with_flags(m.flags)
                    .with_internal_date(m.internal_date);
                self.copies.insert(m.uid, copy);
            }
        }
        Ok(())
    }

    /// Whether a message with these bytes was found.
    fn found(&self, hash: &ContentHash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// The copies with `hash` (of `among` only, if given), lowest UID first.
    fn copies(&self, hash: &ContentHash, among: Option<&[u32]>) -> Vec<ExistingCopy> {
        let mut uids = self.by_hash.get(hash).cloned().unwrap_or_default();
        if let Some(among) = among {
            uids.retain(|u| among.contains(u));
        }
        uids.sort_unstable();
        uids.iter()
            .filter_map(|u| self.copies.get(u).cloned())
            .collect()
    }
}

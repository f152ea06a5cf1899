//! What look-ups pick candidates from: each message's size and a hash of its `Message-ID`,
//! per folder and UIDVALIDITY, read once and then only above the highest UID read. About
//! 16 bytes a message (and a map entry per distinct size); never a body.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use crate::model::IndexedMessage;

/// A hash of a `Message-ID` as [`IdHash::of`] normalises it, or of its absence. Equal ids
/// hash equal; a collision only adds a candidate, whose body hash then rules it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdHash(u64);

impl IdHash {
    /// No `Message-ID` (or one that is empty once normalised).
    const NONE: Self = Self(0);

    /// Hashes `id` without angle brackets or white space (what unfolding and trimming
    /// leave of it; a `Message-ID` holds neither), so the key's id and the one read from the
    /// server meet however each was written.
    pub(crate) fn of(id: Option<&str>) -> Self {
        let Some(id) = id else { return Self::NONE };
        let id = id.trim().trim_start_matches('<').trim_end_matches('>');
        let mut h = DefaultHasher::new();
        let mut empty = true;
        for b in id.bytes().filter(|b| !b.is_ascii_whitespace()) {
            b.hash(&mut h);
            empty = false;
        }
        if empty {
            return Self::NONE;
        }
        Self(h.finish().max(1))
    }
}

/// One indexed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) uid: u32,
    pub(crate) id: IdHash,
}

/// The index of every folder looked up so far.
#[derive(Debug, Default)]
pub(crate) struct LookupIndex {
    folders: Mutex<HashMap<String, FolderIndex>>,
}

/// One folder under one UIDVALIDITY.
#[derive(Debug, Default)]
struct FolderIndex {
    uidvalidity: u32,
    /// The highest UID read (0: none yet).
    last_uid: u32,
    /// `RFC822.SIZE` → the messages of that size, lowest UID first.
    by_size: HashMap<u64, Vec<Entry>>,
}

impl LookupIndex {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, FolderIndex>) -> T) -> T {
        f(&mut self.folders.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The first UID not read yet for `folder` under `uidvalidity`.
    pub(crate) fn next_uid(&self, folder: &str, uidvalidity: u32) -> u32 {
        self.with(|folders| match folders.get(folder) {
            Some(f) if f.uidvalidity == uidvalidity => f.last_uid.saturating_add(1),
            _ => 1,
        })
    }

    /// Adds messages read from `from` upwards; a new UIDVALIDITY starts the folder afresh.
    pub(crate) fn extend(
        &self,
        folder: &str,
        uidvalidity: u32,
        from: u32,
        read: &[IndexedMessage],
    ) {
        self.with(|folders| {
            let entry = folders.entry(folder.to_owned()).or_default();
            if entry.uidvalidity != uidvalidity {
                *entry = FolderIndex {
                    uidvalidity,
                    ..FolderIndex::default()
                };
            }
            // `n:*` answers the highest message even below `n`: keep only what was asked for.
            for m in read
                .iter()
                .filter(|m| m.uid >= from && m.uid > entry.last_uid)
            {
                let e = Entry {
                    uid: m.uid,
                    id: IdHash::of(m.message_id.as_deref()),
                };
                let same = entry.by_size.entry(m.size).or_default();
                let at = same.partition_point(|x| x.uid < m.uid);
                if same.get(at).is_none_or(|x| x.uid != m.uid) {
                    same.insert(at, e);
                }
            }
            let top = read.iter().map(|m| m.uid).filter(|&u| u >= from).max();
            entry.last_uid = entry
                .last_uid
                .max(top.unwrap_or(0))
                .max(from.saturating_sub(1));
        });
    }

    /// The messages of `folder` whose size is `size`, lowest UID first.
    pub(crate) fn same_size(&self, folder: &str, uidvalidity: u32, size: u64) -> Vec<Entry> {
        self.with(|folders| {
            folders
                .get(folder)
                .filter(|f| f.uidvalidity == uidvalidity)
                .and_then(|f| f.by_size.get(&size).cloned())
                .unwrap_or_default()
        })
    }

    /// Every UID of `folder`, lowest first.
    pub(crate) fn uids(&self, folder: &str, uidvalidity: u32) -> Vec<u32> {
        self.with(|folders| {
            let Some(f) = folders.get(folder).filter(|f| f.uidvalidity == uidvalidity) else {
                return Vec::new();
            };
            let mut uids: Vec<u32> = f.by_size.values().flatten().map(|e| e.uid).collect();
            uids.sort_unstable();
            uids
        })
    }

    /// Forgets messages this process deleted.
    pub(crate) fn remove(&self, folder: &str, uids: &[u32]) {
        self.with(|folders| {
            if let Some(f) = folders.get_mut(folder) {
                for same in f.by_size.values_mut() {
                    same.retain(|e| !uids.contains(&e.uid));
                }
                f.by_size.retain(|_, same| !same.is_empty());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(uid: u32, size: u64, id: Option<&str>) -> IndexedMessage {
        IndexedMessage {
            uid,
            size,
            message_id: id.map(str::to_owned),
        }
    }

    fn uids(entries: &[Entry]) -> Vec<u32> {
        entries.iter().map(|e| e.uid).collect()
    }

    #[test]
    fn extends_and_restarts_with_a_new_uidvalidity() {
        let index = LookupIndex::default();
        assert_eq!(index.next_uid("INBOX", 7), 1);
        index.extend(
            "INBOX",
            7,
            1,
            &[m(1, 10, Some("a@x")), m(2, 20, None), m(4, 10, None)],
        );
        assert_eq!(index.next_uid("INBOX", 7), 5);
        assert_eq!(uids(&index.same_size("INBOX", 7, 10)), [1, 4]);
        // `5:*` answered with the highest message, already known: nothing new.
        index.extend("INBOX", 7, 5, &[m(4, 10, None)]);
        assert_eq!(index.next_uid("INBOX", 7), 5);
        assert_eq!(index.uids("INBOX", 7), [1, 2, 4]);
        index.remove("INBOX", &[1]);
        assert_eq!(uids(&index.same_size("INBOX", 7, 10)), [4]);
        // Another UIDVALIDITY: the old UIDs mean nothing.
        assert_eq!(index.next_uid("INBOX", 8), 1);
        assert!(index.same_size("INBOX", 8, 10).is_empty());
        index.extend("INBOX", 8, 1, &[m(1, 30, None)]);
        assert_eq!(index.uids("INBOX", 8), [1]);
    }

    #[test]
    fn ids_meet_however_they_were_written() {
        let plain = IdHash::of(Some("a@x.example"));
        assert_eq!(IdHash::of(Some("<a@x.example>")), plain);
        assert_eq!(IdHash::of(Some(" <a@x.\r\n example> ")), plain);
        // A look-alike (one a substring of the other) is another id.
        assert_ne!(IdHash::of(Some("a@x.example.org")), plain);
        assert_ne!(IdHash::of(Some("a@x.exampl")), plain);
        assert_eq!(IdHash::of(None), IdHash::NONE);
        assert_eq!(IdHash::of(Some(" <> ")), IdHash::NONE);
    }
}

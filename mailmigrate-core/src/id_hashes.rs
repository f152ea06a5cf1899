//! A compact set of message ids for listings that must remember what they saw.

use std::hash::{Hash, Hasher};

/// Message ids kept as 64-bit hashes: 8 bytes a message instead of the ids themselves, so a
/// listing of a million messages remembers them in 8 MB.
///
/// Ids are [`insert`](Self::insert)ed while a listing runs and become visible to
/// [`contains`](Self::contains) when it is [`seal`](Self::seal)ed. A hash collision (odds
/// near 2⁻⁶⁴ a pair) makes an id look present that is not. In the engine's deletion diff
/// that errs on the safe side (a gone message looks present and its copy is kept); in a
/// Maildir re-read it would skip a message that a rename hid from the first read, and with
/// deletions propagated that message's copy would be deleted.
#[derive(Debug, Default)]
pub(crate) struct IdHashes {
    sealed: Vec<u64>,
    current: Vec<u64>,
}

impl IdHashes {
    fn hash(id: &str) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        id.hash(&mut h);
        h.finish()
    }

    /// Notes an id.
    pub(crate) fn insert(&mut self, id: &str) {
        self.current.push(Self::hash(id));
    }

    /// Makes every id inserted so far visible to [`contains`](Self::contains).
    pub(crate) fn seal(&mut self) {
        self.sealed.append(&mut self.current);
        self.sealed.sort_unstable();
        self.sealed.dedup();
    }

    /// Whether an id inserted before the last [`seal`](Self::seal) is `id`.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.sealed.binary_search(&Self::hash(id)).is_ok()
    }

    /// How many ids were inserted (each counted once per seal).
    pub(crate) fn len(&self) -> usize {
        self.sealed.len() + self.current.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_visible_when_sealed() {
        let mut ids = IdHashes::default();
        ids.insert("1:7");
        assert!(!ids.contains("1:7"), "not before the seal");
        ids.seal();
        assert!(ids.contains("1:7") && !ids.contains("1:8"));
        ids.insert("1:8");
        ids.insert("1:7");
        assert_eq!(ids.len(), 3);
        ids.seal();
        assert!(ids.contains("1:8"));
        assert_eq!(ids.len(), 2);
    }
}

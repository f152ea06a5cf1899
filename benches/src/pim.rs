//! Contact stand-ins for the memory benchmarks: a source that makes its vCards on the
//! fly and a destination that only counts, so neither holds anything per item and any
//! growth in a run is the engine's, the state store's or the provider's under test.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use mailmigrate_core::pim::{
    Collection, CollectionId, FoundItem, ItemChange, ItemId, ItemMeta, ItemWrite, PimCapabilities,
    PimDestination, PimItem, PimKind, PimProvider, PimResult, PimSource, WriteOptions, Written,
};
use mailmigrate_core::{Capabilities, Checkpoint, ProviderInfo, Result};

/// The vCard of contact `i`: about 250 bytes, its `UID` `bench-{i}`.
pub fn synthetic_vcard(i: u64) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:bench-{i}\r\nFN:Person {i}\r\n\
         N:{i};Person;;;\r\nEMAIL;TYPE=work:p{i}@example.com\r\n\
         TEL;TYPE=cell:+1 555 {i:07}\r\nORG:Example\r\nX-SEQ:{i}\r\nEND:VCARD\r\n"
    )
}

/// One address book of `n` contacts, listed and fetched without being stored.
#[derive(Debug, Clone)]
pub struct SyntheticContacts {
    info: Arc<ProviderInfo>,
    n: u64,
}

impl SyntheticContacts {
    /// An address book of `n` contacts.
    pub fn new(n: u64) -> Self {
        Self {
            info: Arc::new(ProviderInfo::new(
                "synthetic",
                "bench",
                Capabilities::default(),
            )),
            n,
        }
    }

    fn book() -> Collection {
        Collection::new(CollectionId::new("book"), PimKind::Contacts, "Bench")
    }
}

#[async_trait]
impl PimProvider for SyntheticContacts {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    fn pim_capabilities(&self) -> PimCapabilities {
        PimCapabilities {
            contacts: true,
            ..PimCapabilities::default()
        }
    }

    async fn list_collections(&self, kind: PimKind) -> Result<Vec<Collection>> {
        Ok(if kind == PimKind::Contacts {
            vec![Self::book()]
        } else {
            Vec::new()
        })
    }
}

#[async_trait]
impl PimSource for SyntheticContacts {
    fn list_items(
        &self,
        _collection: &CollectionId,
        _since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<ItemChange>> {
        let items = (0..self.n).map(|i| {
            Ok(ItemChange::Upsert(
                ItemMeta::new(ItemId::new(i.to_string())).with_version(Some("1".into())),
            ))
        });
        let end = std::iter::once(Ok(ItemChange::Checkpoint(Checkpoint::new("end"))));
        stream::iter(items.chain(end)).boxed()
    }

    fn fetch_items(
        &self,
        _collection: &CollectionId,
        ids: Vec<ItemId>,
    ) -> BoxStream<'static, PimResult<PimItem>> {
        stream::iter(ids.into_iter().map(|id| {
            let i: u64 = id.as_str().parse().unwrap_or(0);
            let meta = ItemMeta::new(id.clone()).with_version(Some("1".into()));
            let item = PimItem::parse(PimKind::Contacts, meta, synthetic_vcard(i).into());
            (id, item)
        }))
        .boxed()
    }
}

/// A destination that keeps nothing: each write gets a fresh id and is counted.
#[derive(Debug, Clone)]
pub struct CountingPim {
    info: Arc<ProviderInfo>,
    written: Arc<AtomicU64>,
}

impl Default for CountingPim {
    fn default() -> Self {
        Self::new()
    }
}

impl CountingPim {
    /// A destination that has counted nothing yet.
    pub fn new() -> Self {
        Self {
            info: Arc::new(ProviderInfo::new(
                "counting",
                "bench",
                Capabilities::default(),
            )),
            written: Arc::default(),
        }
    }

    /// Items written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl PimProvider for CountingPim {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    fn pim_capabilities(&self) -> PimCapabilities {
        PimCapabilities {
            contacts: true,
            events: true,
            create_collections: true,
            write: true,
            keeps_uid: true,
            keeps_unknown_properties: true,
            ..PimCapabilities::default()
        }
    }

    async fn list_collections(&self, _kind: PimKind) -> Result<Vec<Collection>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl PimDestination for CountingPim {
    async fn ensure_collection(&self, like: &Collection) -> Result<Collection> {
        Ok(like.clone())
    }

    async fn write_items(
        &self,
        _collection: &CollectionId,
        writes: Vec<ItemWrite>,
        _options: &WriteOptions,
    ) -> Result<Vec<Result<Written>>> {
        Ok(writes
            .into_iter()
            .map(|_| {
                let n = self.written.fetch_add(1, Ordering::Relaxed);
                Ok(Written::new(ItemId::new(format!("w{n}")), None))
            })
            .collect())
    }

    async fn find_by_uid(
        &self,
        _collection: &CollectionId,
        uids: &[String],
    ) -> Result<Vec<Vec<FoundItem>>> {
        Ok(vec![Vec::new(); uids.len()])
    }

    async fn delete_items(
        &self,
        _collection: &CollectionId,
        ids: &[ItemId],
    ) -> Result<Vec<Result<()>>> {
        Ok(ids.iter().map(|_| Ok(())).collect())
    }
}

//! A directory of `.vcf` and `.ics` files: the backup store for contacts and calendars.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};

use super::{
    Collection, CollectionId, FoundItem, ItemChange, ItemId, ItemMeta, ItemWrite, Notifications,
    PimCapabilities, PimDestination, PimItem, PimKind, PimProvider, PimResult, PimSource,
    WriteOptions, WriteTarget, Written,
};
use crate::store::blocking;
use crate::{Capabilities, Checkpoint, ContentHash, Error, ErrorKind, ProviderInfo, Result};

const SCHEME: &str = "vdir";
/// The file in each collection directory holding its name, description and colour.
const META_FILE: &str = "collection.json";
/// The file at the root listing every collection with its item count and file hashes.
pub const MANIFEST_FILE: &str = "manifest.json";

/// A collection directory's own description.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    kind: PimKind,
    name: String,
    description: Option<String>,
    color: Option<String>,
}

/// One collection in the [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManifestCollection {
    /// Its id in the store (`contacts/friends`).
    pub id: String,
    /// What it holds.
    pub kind: PimKind,
    /// Its display name.
    pub name: String,
    /// How many items.
    pub items: u64,
    /// Every item file with the BLAKE3 hash of its bytes (hex), by file name.
    pub files: std::collections::BTreeMap<String, String>,
}

/// What a backup holds: counts and hashes, written by [`VdirStore::write_manifest`] and
/// checked by [`VdirStore::check_manifest`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Manifest {
    /// Every collection, by id.
    pub collections: Vec<ManifestCollection>,
}

impl Manifest {
    /// Items in every collection.
    pub fn items(&self) -> u64 {
        self.collections.iter().map(|c| c.items).sum()
    }
}

/// Address books and calendars as directories of files, one item per file — the
/// [vdir](https://vdirsyncer.pimutils.org/en/stable/vdir.html) layout that vdirsyncer,
/// khal and khard read: `<root>/contacts/<collection>/<name>.vcf` and
/// `<root>/events/<collection>/<name>.ics`.
///
/// - An item's file is named after its `UID` (kept as it is when it is a plain name,
///   otherwise a hash of it), so a backup taken twice has the same names and a look-up by
///   `UID` is one file read.
/// - Writes are atomic: a temporary file is written, synced and then linked (a create,
///   which fails when the name exists — exactly-once by construction) or renamed (a
///   replace, conditional on the version) into place, and the directory is synced.
/// - An item's version is its file's size and modification time; every pass lists every
///   file (there is no change log), and the engine fetches only those whose version moved.
/// - Items are written as the source gave their text, so unknown properties and vCard 3.0
///   survive a backup and a restore.
///
/// ```
/// use mailmigrate_core::pim::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = VdirStore::open(dir.path())?;
/// let cal = store
///     .ensure_collection(&Collection::new(CollectionId::new("x"), PimKind::Events, "Work"))
///     .await?;
/// let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:e1@example.com\r\n\
///            DTSTART:20250101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
/// let item = PimItem::parse(PimKind::Events, ItemMeta::new(ItemId::new("e1")), ics.into())?;
/// store.write_items(&cal.id, vec![ItemWrite::create(item)], &WriteOptions::default()).await?;
/// assert!(dir.path().join("events/work/e1@example.com.ics").exists());
/// let manifest = store.write_manifest().await?;
/// assert_eq!(manifest.items(), 1);
/// # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct VdirStore {
    root: Arc<PathBuf>,
    info: Arc<ProviderInfo>,
}

fn io_err(e: std::io::Error, path: &Path) -> Error {
    Error::from(e)
        .with_provider(SCHEME)
        .with_context("path", path.display())
}

/// A file or directory name for `s`: itself when it is a plain name, else a readable
/// prefix and a hash, so odd or hostile names (`../x`, `CON`, 300 bytes) stay inside.
fn safe_name(s: &str) -> String {
    let plain = !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'));
    if plain {
        return s.to_owned();
    }
    let prefix: String = s
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(24)
        .collect::<String>()
        .to_ascii_lowercase();
    let hash = ContentHash::of(s.as_bytes()).to_hex();
    format!("{prefix}-{}", &hash[..16])
}

fn version_of(md: &fs::Metadata) -> String {
    let mtime = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{mtime}-{}", md.len())
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(e, dir))
}

impl VdirStore {
    /// Opens (creating when missing) the store at `root`.
    ///
    /// # Errors
    /// `ConfigInvalid` when `root` exists and is not a directory; I/O errors.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        if root.exists() && !root.is_dir() {
            return Err(Error::new(ErrorKind::ConfigInvalid, "not a directory")
                .with_provider(SCHEME)
                .with_context("path", root.display()));
        }
        fs::create_dir_all(&root).map_err(|e| io_err(e, &root))?;
        let info = ProviderInfo::new(SCHEME, root.display().to_string(), Capabilities::default());
        Ok(Self {
            root: Arc::new(root),
            info: Arc::new(info),
        })
    }

    /// What the store declares: it keeps everything it is given, as text.
    pub fn capabilities() -> PimCapabilities {
        PimCapabilities {
            contacts: true,
            events: true,
            create_collections: true,
            write: true,
            update: true,
            delete: true,
            keeps_uid: true,
            find_by_uid: true,
            conditional_writes: true,
            keeps_unknown_properties: true,
            keeps_attachment_references: true,
            keeps_alarms: true,
            keeps_timezone_definitions: true,
            notifications: Notifications::Never,
            ..PimCapabilities::default()
        }
    }

    fn dir(root: &Path, id: &CollectionId) -> Result<(PathBuf, PimKind)> {
        let (kind, name) = id.as_str().split_once('/').unwrap_or(("", ""));
        let kind = match kind {
            "contacts" => PimKind::Contacts,
            "events" => PimKind::Events,
            _ => {
                return Err(Error::new(ErrorKind::NotFound, "no such collection")
                    .with_provider(SCHEME)
                    .with_context("collection", id))
            }
        };
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(Error::new(ErrorKind::NotFound, "no such collection")
                .with_provider(SCHEME)
                .with_context("collection", id));
        }
        let dir = root.join(kind.as_str()).join(name);
        if !dir.is_dir() {
            return Err(Error::new(ErrorKind::NotFound, "no such collection")
                .with_provider(SCHEME)
                .with_context("collection", id));
        }
        Ok((dir, kind))
    }

    fn collections_of(root: &Path, kind: PimKind) -> Result<Vec<Collection>> {
        let base = root.join(kind.as_str());
        let entries = match fs::read_dir(&base) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(e, &base)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err(e, &base))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            let meta_path = entry.path().join(META_FILE);
            let meta: Option<Meta> = fs::read(&meta_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let id = CollectionId::new(format!("{kind}/{name}"));
            let c = match meta {
                Some(m) => Collection::new(id, kind, m.name)
                    .with_description(m.description)
                    .with_color(m.color),
                None => Collection::new(id, kind, name),
            };
            out.push(c);
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Item files of a collection directory, by name.
    fn files(dir: &Path, kind: PimKind) -> Result<Vec<(String, fs::Metadata)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| io_err(e, dir))? {
            let entry = entry.map_err(|e| io_err(e, dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_item = Path::new(&name)
                .extension()
                .is_some_and(|x| x == kind.extension());
            if name.starts_with('.') || !is_item {
                continue;
            }
            let md = entry.metadata().map_err(|e| io_err(e, dir))?;
            if md.is_file() {
                out.push((name, md));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn read_item(dir: &Path, kind: PimKind, name: &str) -> Result<PimItem> {
        let path = dir.join(name);
        let md = fs::metadata(&path).map_err(|e| io_err(e, &path).with_context("item", name))?;
        let text = fs::read(&path).map_err(|e| io_err(e, &path).with_context("item", name))?;
        let meta = ItemMeta::new(ItemId::new(name)).with_version(Some(version_of(&md)));
        let mut item =
            PimItem::parse(kind, meta, Bytes::from(text)).map_err(|e| e.with_provider(SCHEME))?;
        item.meta.uid = item.uid().map(str::to_owned);
        Ok(item)
    }

    /// Writes `bytes` to a temporary file in `dir`, synced; returns its path.
    fn temp(dir: &Path, bytes: &[u8]) -> Result<PathBuf> {
        let name = format!(
            ".tmp-{}-{}",
            std::process::id(),
            ContentHash::of(bytes)
                .to_hex()
                .get(..16)
                .unwrap_or_default()
        );
        let path = dir.join(name);
        let mut f = fs::File::create(&path).map_err(|e| io_err(e, &path))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| io_err(e, &path))?;
        Ok(path)
    }

    fn write_one(dir: &Path, kind: PimKind, w: &ItemWrite) -> Result<Written> {
        let uid = w.item.uid().unwrap_or_default();
        let text = w.item.text();
        let tmp = Self::temp(dir, &text)?;
        let name = match &w.target {
            WriteTarget::Create => format!("{}.{}", safe_name(uid), kind.extension()),
            WriteTarget::Replace { id, .. } => id.as_str().to_owned(),
        };
        if name.contains('/') || name.starts_with('.') {
            let _ = fs::remove_file(&tmp);
            return Err(Error::new(ErrorKind::NotFound, "no such item")
                .with_provider(SCHEME)
                .with_context("item", &name));
        }
        let path = dir.join(&name);
        let placed = match &w.target {
            WriteTarget::Create => fs::hard_link(&tmp, &path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::new(
                        ErrorKind::AlreadyExists,
                        "the collection holds this UID already",
                    )
                    .with_provider(SCHEME)
                    .with_context("item", &name)
                } else {
                    io_err(e, &path)
                }
            }),
            WriteTarget::Replace { version, .. } => {
                let current = fs::metadata(&path).ok().map(|m| version_of(&m));
                if version.is_some() && current.is_some() && &current != version {
                    Err(
                        Error::new(ErrorKind::Conflict, "the file changed since it was written")
                            .with_provider(SCHEME)
                            .with_context("item", &name),
                    )
                } else {
                    fs::rename(&tmp, &path).map_err(|e| io_err(e, &path))
                }
            }
        };
        let _ = fs::remove_file(&tmp);
        placed?;
        sync_dir(dir)?;
        let md = fs::metadata(&path).map_err(|e| io_err(e, &path))?;
        Ok(Written::new(ItemId::new(name), Some(version_of(&md))))
    }

    /// Scans the store and writes [`MANIFEST_FILE`] at its root (atomically): every
    /// collection with its item count and the hash of each file.
    ///
    /// # Errors
    /// I/O errors.
    pub async fn write_manifest(&self) -> Result<Manifest> {
        let root = Arc::clone(&self.root);
        blocking(move || {
            let manifest = Self::scan(&root)?;
            let json = serde_json::to_vec_pretty(&manifest)
                .map_err(|e| Error::new(ErrorKind::Unexpected, e.to_string()))?;
            let tmp = Self::temp(&root, &json)?;
            let path = root.join(MANIFEST_FILE);
            fs::rename(&tmp, &path).map_err(|e| io_err(e, &path))?;
            sync_dir(&root)?;
            Ok(manifest)
        })
        .await
    }

    /// Compares the store with the manifest written last; returns one line per
    /// difference (a missing, extra or changed file, a count that differs). Empty when
    /// the backup is as it was written.
    ///
    /// # Errors
    /// `NotFound` without a manifest; `StateCorrupt` for an unreadable one; I/O errors.
    pub async fn check_manifest(&self) -> Result<Vec<String>> {
        let root = Arc::clone(&self.root);
        blocking(move || {
            let path = root.join(MANIFEST_FILE);
            let bytes = fs::read(&path).map_err(|e| io_err(e, &path))?;
            let written: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(ErrorKind::StateCorrupt, format!("unreadable manifest: {e}"))
                    .with_context("path", path.display())
            })?;
            let now = Self::scan(&root)?;
            let mut out = Vec::new();
            for c in &written.collections {
                let Some(n) = now.collections.iter().find(|n| n.id == c.id) else {
                    out.push(format!("{}: collection missing", c.id));
                    continue;
                };
                for (file, hash) in &c.files {
                    match n.files.get(file) {
                        None => out.push(format!("{}/{file}: missing", c.id)),
                        Some(h) if h != hash => out.push(format!("{}/{file}: changed", c.id)),
                        Some(_) => {}
                    }
                }
                for file in n.files.keys().filter(|f| !c.files.contains_key(*f)) {
                    out.push(format!("{}/{file}: not in the manifest", c.id));
                }
            }
            Ok(out)
        })
        .await
    }

    fn scan(root: &Path) -> Result<Manifest> {
        let mut manifest = Manifest::default();
        for kind in PimKind::ALL {
            for c in Self::collections_of(root, kind)? {
                let (dir, _) = Self::dir(root, &c.id)?;
                let mut files = std::collections::BTreeMap::new();
                for (name, _) in Self::files(&dir, kind)? {
                    let path = dir.join(&name);
                    let bytes = fs::read(&path).map_err(|e| io_err(e, &path))?;
                    files.insert(name, ContentHash::of(&bytes).to_hex());
                }
                manifest.collections.push(ManifestCollection {
                    id: c.id.to_string(),
                    kind,
                    name: c.name,
                    items: files.len() as u64,
                    files,
                });
            }
        }
        Ok(manifest)
    }
}

#[async_trait]
impl PimProvider for VdirStore {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    fn pim_capabilities(&self) -> PimCapabilities {
        Self::capabilities()
    }

    async fn list_collections(&self, kind: PimKind) -> Result<Vec<Collection>> {
        let root = Arc::clone(&self.root);
        blocking(move || Self::collections_of(&root, kind)).await
    }
}

#[async_trait]
impl PimSource for VdirStore {
    fn list_items(
        &self,
        collection: &CollectionId,
        _since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<ItemChange>> {
        let root = Arc::clone(&self.root);
        let id = collection.clone();
        stream::once(async move {
            let listed = blocking(move || {
                let (dir, kind) = Self::dir(&root, &id)?;
                Self::files(&dir, kind)
            })
            .await;
            let changes: Vec<Result<ItemChange>> = match listed {
                Ok(files) => files
                    .into_iter()
                    .map(|(name, md)| {
                        Ok(ItemChange::Upsert(
                            ItemMeta::new(ItemId::new(name)).with_version(Some(version_of(&md))),
                        ))
                    })
                    .chain([Ok(ItemChange::Checkpoint(Checkpoint::new("")))])
                    .collect(),
                Err(e) => vec![Err(e)],
            };
            stream::iter(changes)
        })
        .flatten()
        .boxed()
    }

    fn fetch_items(
        &self,
        collection: &CollectionId,
        ids: Vec<ItemId>,
    ) -> BoxStream<'static, PimResult<PimItem>> {
        let root = Arc::clone(&self.root);
        let coll = collection.clone();
        stream::iter(ids)
            .then(move |id| {
                let root = Arc::clone(&root);
                let coll = coll.clone();
                async move {
                    let name = id.as_str().to_owned();
                    let r = blocking(move || {
                        let (dir, kind) = Self::dir(&root, &coll)?;
                        if name.contains('/') || name.starts_with('.') {
                            return Err(Error::new(ErrorKind::NotFound, "no such item")
                                .with_context("item", &name));
                        }
                        Self::read_item(&dir, kind, &name)
                    })
                    .await;
                    (id, r)
                }
            })
            .boxed()
    }
}

#[async_trait]
impl PimDestination for VdirStore {
    async fn ensure_collection(&self, like: &Collection) -> Result<Collection> {
        let root = Arc::clone(&self.root);
        let like = like.clone();
        blocking(move || {
            if let Some(c) = Self::collections_of(&root, like.kind)?
                .into_iter()
                .find(|c| c.name == like.name)
            {
                return Ok(c);
            }
            let base = root.join(like.kind.as_str());
            fs::create_dir_all(&base).map_err(|e| io_err(e, &base))?;
            let stem = safe_name(&like.name.to_lowercase().replace(' ', "-"));
            let mut name = stem.clone();
            let mut n = 1;
            while base.join(&name).exists() {
                n += 1;
                name = format!("{stem}-{n}");
            }
            let dir = base.join(&name);
            fs::create_dir(&dir).map_err(|e| io_err(e, &dir))?;
            let meta = Meta {
                kind: like.kind,
                name: like.name.clone(),
                description: like.description.clone(),
                color: like.color.clone(),
            };
            let json = serde_json::to_vec_pretty(&meta)
                .map_err(|e| Error::new(ErrorKind::Unexpected, e.to_string()))?;
            let tmp = Self::temp(&dir, &json)?;
            fs::rename(&tmp, dir.join(META_FILE)).map_err(|e| io_err(e, &dir))?;
            sync_dir(&dir)?;
            sync_dir(&base)?;
            Ok(Collection::new(
                CollectionId::new(format!("{}/{name}", like.kind)),
                like.kind,
                like.name,
            )
            .with_description(like.description)
            .with_color(like.color))
        })
        .await
    }

    async fn write_items(
        &self,
        collection: &CollectionId,
        writes: Vec<ItemWrite>,
        _options: &WriteOptions,
    ) -> Result<Vec<Result<Written>>> {
        let root = Arc::clone(&self.root);
        let coll = collection.clone();
        blocking(move || {
            let (dir, kind) = Self::dir(&root, &coll)?;
            Ok(writes
                .iter()
                .map(|w| {
                    if w.item.kind() == kind {
                        Self::write_one(&dir, kind, w)
                    } else {
                        Err(
                            Error::new(ErrorKind::InvalidMessage, "item of the wrong kind")
                                .with_provider(SCHEME)
                                .with_context("item", w.item.meta.id.as_str()),
                        )
                    }
                })
                .collect())
        })
        .await
    }

    async fn find_by_uid(
        &self,
        collection: &CollectionId,
        uids: &[String],
    ) -> Result<Vec<Vec<FoundItem>>> {
        let root = Arc::clone(&self.root);
        let coll = collection.clone();
        let uids = uids.to_vec();
        blocking(move || {
            let (dir, kind) = Self::dir(&root, &coll)?;
            let mut out = Vec::with_capacity(uids.len());
            for uid in &uids {
                let name = format!("{}.{}", safe_name(uid), kind.extension());
                let found = match Self::read_item(&dir, kind, &name) {
                    Ok(item) if item.uid() == Some(uid.as_str()) => vec![FoundItem::new(
                        ItemId::new(name),
                        item.meta.version.clone(),
                        Some(item.content_hash()),
                    )],
                    Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                    _ => Vec::new(),
                };
                out.push(found);
            }
            Ok(out)
        })
        .await
    }

    async fn delete_items(
        &self,
        collection: &CollectionId,
        ids: &[ItemId],
    ) -> Result<Vec<Result<()>>> {
        let root = Arc::clone(&self.root);
        let coll = collection.clone();
        let ids = ids.to_vec();
        blocking(move || {
            let (dir, _) = Self::dir(&root, &coll)?;
            let out = ids
                .iter()
                .map(|id| {
                    let name = id.as_str();
                    if name.contains('/') || name.starts_with('.') {
                        return Ok(());
                    }
                    match fs::remove_file(dir.join(name)) {
                        Ok(()) => Ok(()),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                        Err(e) => Err(io_err(e, &dir.join(name))),
                    }
                })
                .collect();
            sync_dir(&dir)?;
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_names_stay_inside_and_are_stable() {
        assert_eq!(safe_name("e1@example.com"), "e1@example.com");
        for odd in [
            "../../etc/passwd",
            ".hidden",
            "a/b",
            "CON ",
            "",
            &"x".repeat(300),
        ] {
            let n = safe_name(odd);
            assert!(
                !n.contains('/') && !n.starts_with('.') && n.len() < 60,
                "{odd:?} → {n}"
            );
            assert_eq!(n, safe_name(odd));
        }
        assert_ne!(safe_name("a/b"), safe_name("a\\b"));
    }
}

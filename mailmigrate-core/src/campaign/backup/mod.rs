//! What a mailbox's backup holds, read back from the backup store: the
//! [`BackupManifest`] (per folder the message count, bytes and a digest of the messages'
//! content hashes), written once per backup pass, and [`verify_backup`], which reads the
//! backup again and lists every [`Difference`].
//!
//! The manifest proves what is on disk, not what was sent: it is computed by listing and
//! fetching the backup store through its [`Source`] side after the backup pass. Memory is
//! bounded by the largest folder, not the mailbox: the listing is streamed, bodies are
//! fetched in batches of [`FETCH_BATCH`] and dropped once hashed, and per folder only the
//! 32-byte content hash of each message is kept until the folder's digest is computed
//! (the digest is over the *sorted* hashes, so the order a store lists in does not matter;
//! sorting needs them all — 32 MB for a folder of a million messages).

mod scan;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Error, ErrorKind, FolderPath, MessageId, Result, Source};

pub use scan::FETCH_BATCH;

/// One folder of a backup: how many messages, how many bytes, and the digest of their
/// content.
///
/// ```
/// use mailmigrate_core::campaign::FolderManifest;
/// use mailmigrate_core::{ContentHash, FolderPath};
/// let f = FolderManifest::from_hashes(FolderPath::inbox(), vec![ContentHash::of(b"b"), ContentHash::of(b"a")], 2);
/// let g = FolderManifest::from_hashes(FolderPath::inbox(), vec![ContentHash::of(b"a"), ContentHash::of(b"b")], 2);
/// assert_eq!(f, g); // the order does not matter
/// assert_eq!(f.messages, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FolderManifest {
    /// The folder's path in the backup store.
    pub path: FolderPath,
    /// Messages in it.
    pub messages: u64,
    /// Their raw bytes, summed.
    pub bytes: u64,
    /// BLAKE3 (hex) over the sorted 32-byte [`ContentHash`](crate::ContentHash)es of its
    /// messages: two folders with the same multiset of messages have the same digest.
    pub digest: String,
}

impl FolderManifest {
    /// The manifest of a folder holding messages with these content hashes (in any order)
    /// and `bytes` bytes in all.
    pub fn from_hashes(path: FolderPath, mut hashes: Vec<crate::ContentHash>, bytes: u64) -> Self {
        hashes.sort_unstable();
        let mut h = blake3::Hasher::new();
        for c in &hashes {
            h.update(c.as_bytes());
        }
        Self {
            path,
            messages: hashes.len() as u64,
            bytes,
            digest: h.finalize().to_hex().to_string(),
        }
    }
}

/// What a mailbox's backup holds, as read back from the backup store after the backup
/// pass; the runner keeps it in the mailbox's status
/// ([`MailboxStatus::backup`](super::MailboxStatus::backup)).
///
/// ```
/// use mailmigrate_core::campaign::{verify_backup, BackupManifest};
/// use mailmigrate_core::store::MemoryStore;
/// use mailmigrate_core::{Destination, FolderPath, MessageId, MessageMeta, RawMessage};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let backup = MemoryStore::new("backup");
/// let inbox = backup.ensure_folder(&FolderPath::inbox(), None).await?.id;
/// let msg = RawMessage::new(
///     MessageMeta::new(MessageId::new("1"), inbox.clone()),
///     bytes::Bytes::from_static(b"Subject: hi\r\n\r\nhello"),
/// );
/// backup.append(&inbox, vec![msg]).await?;
/// let manifest = BackupManifest::read_back(&backup, "ann@old.example", "acme/ann@old.example#backup").await?;
/// assert_eq!((manifest.messages, manifest.bytes), (1, 20));
/// assert!(verify_backup(&manifest, &backup).await?.is_empty());
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = manifest.write_manifest(dir.path())?;
/// assert_eq!(BackupManifest::read_file(&path)?, manifest);
/// # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackupManifest {
    /// The mailbox's key.
    pub mailbox: String,
    /// The backup's job in the state store (`"<campaign>/<mailbox>#backup"`).
    pub job: String,
    /// When the backup was read back.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Every selectable folder of the backup, by path.
    pub folders: Vec<FolderManifest>,
    /// Messages in every folder.
    pub messages: u64,
    /// Bytes in every folder.
    pub bytes: u64,
    /// BLAKE3 (hex) over each folder's path and digest, in path order.
    pub digest: String,
}

impl BackupManifest {
    /// The manifest of these folders (sorted by path here), with totals and digest.
    ///
    /// ```
    /// use mailmigrate_core::campaign::{BackupManifest, FolderManifest};
    /// use mailmigrate_core::{ContentHash, FolderPath};
    /// let inbox = FolderManifest::from_hashes(FolderPath::inbox(), vec![ContentHash::of(b"x")], 1);
    /// let m = BackupManifest::from_folders("ann", "acme/ann#backup", time::OffsetDateTime::UNIX_EPOCH, vec![inbox]);
    /// assert_eq!((m.messages, m.bytes, m.folders.len()), (1, 1, 1));
    /// ```
    pub fn from_folders(
        mailbox: impl Into<String>,
        job: impl Into<String>,
        created: OffsetDateTime,
        mut folders: Vec<FolderManifest>,
    ) -> Self {
        folders.sort_by(|a, b| a.path.cmp(&b.path));
        let mut h = blake3::Hasher::new();
        for f in &folders {
            for segment in f.path.segments() {
                h.update(&(segment.len() as u64).to_le_bytes());
                h.update(segment.as_bytes());
            }
            h.update(&u64::MAX.to_le_bytes());
            h.update(f.digest.as_bytes());
        }
        Self {
            mailbox: mailbox.into(),
            job: job.into(),
            created,
            messages: folders.iter().map(|f| f.messages).sum(),
            bytes: folders.iter().map(|f| f.bytes).sum(),
            digest: h.finalize().to_hex().to_string(),
            folders,
        }
    }

    /// Reads `backup` back (every selectable folder, every message fetched and hashed)
    /// and builds its manifest, stamped now.
    ///
    /// # Errors
    /// Errors listing folders or messages; `StateCorrupt` when a message of the backup
    /// cannot be read (the backup does not hold what it should).
    pub async fn read_back(backup: &dyn Source, mailbox: &str, job: &str) -> Result<Self> {
        Self::read_back_at(backup, mailbox, job, OffsetDateTime::now_utc()).await
    }

    /// [`read_back`](Self::read_back) stamped `created` (the runner passes its clock).
    ///
    /// # Errors
    /// As [`read_back`](Self::read_back).
    pub async fn read_back_at(
        backup: &dyn Source,
        mailbox: &str,
        job: &str,
        created: OffsetDateTime,
    ) -> Result<Self> {
        let scan = scan::scan(backup).await?;
        if let Some(u) = scan.unreadable.first() {
            return Err(Error::new(
                ErrorKind::StateCorrupt,
                format!(
                    "the backup has {} unreadable messages; first: {}",
                    scan.unreadable_count, u
                ),
            )
            .with_context("mailbox", mailbox));
        }
        Ok(Self::from_folders(mailbox, job, created, scan.folders))
    }

    /// The manifest as pretty JSON.
    ///
    /// # Errors
    /// `Unexpected` if it cannot be encoded (it always can).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::new(ErrorKind::Unexpected, e.to_string()))
    }

    /// A manifest read from [`to_json`](Self::to_json)'s text.
    ///
    /// # Errors
    /// `StateCorrupt` for text that is not a manifest.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| {
            Error::new(
                ErrorKind::StateCorrupt,
                format!("unreadable backup manifest: {e}"),
            )
        })
    }

    /// The manifest's file name: `<mailbox>.backup-manifest.json`, the mailbox key with
    /// any character other than letters, digits and `.-_@+` replaced by `_`.
    ///
    /// ```
    /// # use mailmigrate_core::campaign::BackupManifest;
    /// let m = BackupManifest::from_folders("ann@old.example", "j", time::OffsetDateTime::UNIX_EPOCH, vec![]);
    /// assert_eq!(m.file_name(), "ann@old.example.backup-manifest.json");
    /// ```
    pub fn file_name(&self) -> String {
        let mut name: String = self
            .mailbox
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '+') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if name.is_empty() || name.starts_with('.') {
            name.insert(0, '_');
        }
        format!("{name}.backup-manifest.json")
    }

    /// Writes the manifest as JSON into `dir` (created if missing) under
    /// [`file_name`](Self::file_name) (atomically: a temporary file, synced, then
    /// renamed); returns its path.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_manifest(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        use std::io::Write;
        let dir = dir.as_ref();
        let path = dir.join(self.file_name());
        let tmp = dir.join(format!(".{}.tmp", self.file_name()));
        let io = |e: std::io::Error, p: &Path| Error::from(e).with_context("path", p.display());
        let json = self.to_json()?;
        std::fs::create_dir_all(dir).map_err(|e| io(e, dir))?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| io(e, &tmp))?;
        f.write_all(json.as_bytes()).map_err(|e| io(e, &tmp))?;
        f.sync_all().map_err(|e| io(e, &tmp))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(e, &path))?;
        Ok(path)
    }

    /// A manifest written by [`write_manifest`](Self::write_manifest).
    ///
    /// # Errors
    /// I/O errors; `StateCorrupt` for a file that is not a manifest.
    pub fn read_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::from(e).with_context("path", path.display()))?;
        Self::from_json(&text)
    }
}

/// One way a backup no longer matches its manifest.
///
/// ```
/// use mailmigrate_core::campaign::Difference;
/// use mailmigrate_core::FolderPath;
/// let d = Difference::Missing { path: FolderPath::inbox(), messages: 3 };
/// assert_eq!(d.to_string(), "folder INBOX (3 messages) is gone from the backup");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "difference")]
#[non_exhaustive]
pub enum Difference {
    /// A folder of the manifest is not in the backup.
    Missing {
        /// Its path.
        path: FolderPath,
        /// The messages the manifest says it held.
        messages: u64,
    },
    /// A folder of the backup is not in the manifest.
    Extra {
        /// Its path.
        path: FolderPath,
        /// The messages it holds.
        messages: u64,
    },
    /// A folder whose messages differ from the manifest's (count, bytes or digest).
    Changed {
        /// What the manifest says.
        expected: FolderManifest,
        /// What the backup holds now.
        found: FolderManifest,
    },
    /// A message of the backup that could not be read.
    Unreadable {
        /// Its folder.
        path: FolderPath,
        /// Its id in the backup store.
        id: MessageId,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { path, messages } => {
                write!(f, "folder {path} ({messages} messages) is gone from the backup")
            }
            Self::Extra { path, messages } => {
                write!(f, "folder {path} ({messages} messages) is not in the manifest")
            }
            Self::Changed { expected, found } => write!(
                f,
                "folder {}: the manifest has {} messages ({} bytes, digest {}), the backup {} ({} bytes, digest {})",
                expected.path,
                expected.messages,
                expected.bytes,
                &expected.digest[..expected.digest.len().min(16)],
                found.messages,
                found.bytes,
                &found.digest[..found.digest.len().min(16)],
            ),
            Self::Unreadable { path, id, reason } => {
                write!(f, "message {id} in {path} is unreadable: {reason}")
            }
        }
    }
}

/// Reads `backup` again and compares it with `manifest`, folder by folder; empty when the
/// backup still holds exactly what the manifest says. Unreadable messages are listed (their
/// folder is then also reported changed). See [`BackupManifest`] for an example.
///
/// # Errors
/// Errors listing the backup's folders or messages.
pub async fn verify_backup(
    manifest: &BackupManifest,
    backup: &dyn Source,
) -> Result<Vec<Difference>> {
    let scan = scan::scan(backup).await?;
    let mut out: Vec<Difference> = scan
        .unreadable
        .into_iter()
        .map(|u| Difference::Unreadable {
            path: u.path,
            id: u.id,
            reason: u.reason,
        })
        .collect();
    for expected in &manifest.folders {
        match scan.folders.iter().find(|f| f.path == expected.path) {
            None => out.push(Difference::Missing {
                path: expected.path.clone(),
                messages: expected.messages,
            }),
            Some(found) if found != expected => out.push(Difference::Changed {
                expected: expected.clone(),
                found: found.clone(),
            }),
            Some(_) => {}
        }
    }
    for found in &scan.folders {
        if !manifest.folders.iter().any(|f| f.path == found.path) {
            out.push(Difference::Extra {
                path: found.path.clone(),
                messages: found.messages,
            });
        }
    }
    Ok(out)
}

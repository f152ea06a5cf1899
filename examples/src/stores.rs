//! Opening stores and state from URLs and paths, and verifying a finished job.
//!
//! Store URLs name a scheme and a path: `maildir:///srv/mail/alice`, `mbox://backup/alice`
//! (relative), `memory:` (an empty in-process store, for trials). Providers that live in
//! their own crates (`imap`, `graph`, `gmail`) are not linked into this example; their
//! schemes give an error naming the crate to use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use mailmigrate_core::state::{MemoryState, StateStore};
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{
    Change, ContentHash, Error, ErrorKind, FolderId, MessageId, Operation, Result, Source, Store,
};

/// The kind of local store a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// A Maildir++ tree.
    Maildir,
    /// A directory of mbox files.
    Mbox,
    /// An in-process store (empty at start, gone at exit).
    Memory,
}

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreUrl {
    /// Which store.
    pub kind: StoreKind,
    /// Its directory (empty for memory).
    pub path: PathBuf,
}

impl StoreUrl {
    /// Parses `scheme://path` (or `memory:`).
    ///
    /// ```
    /// use mailmigrate_examples::stores::{StoreKind, StoreUrl};
    /// let u = StoreUrl::parse("maildir:///srv/mail/alice").unwrap();
    /// assert_eq!(u.kind, StoreKind::Maildir);
    /// assert_eq!(u.path.to_str(), Some("/srv/mail/alice"));
    /// let err = StoreUrl::parse("imaps://mail.example.com").unwrap_err();
    /// assert!(err.to_string().contains("mailmigrate-imap"));
    /// ```
    ///
    /// # Errors
    /// `ConfigInvalid` for a malformed URL or an empty path; `Unsupported` for a scheme
    /// this program does not link, naming the crate that provides it.
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |msg: &str| {
            Error::new(ErrorKind::ConfigInvalid, msg.to_owned())
                .with_operation(Operation::Build)
                .with_context("url", url)
        };
        let (scheme, rest) = url
            .split_once(':')
            .ok_or_else(|| invalid("a store URL looks like maildir:///path or mbox:///path"))?;
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "maildir" => StoreKind::Maildir,
            "mbox" => StoreKind::Mbox,
            "memory" => StoreKind::Memory,
            "imap" | "imaps" => return Err(elsewhere(scheme, "mailmigrate-imap", "ImapBuilder")),
            "graph" | "m365" | "exchange" => {
                return Err(elsewhere(scheme, "mailmigrate-graph", "GraphBuilder"));
            }
            "gmail" | "google" => {
                return Err(elsewhere(scheme, "mailmigrate-gmail", "GmailBuilder"));
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("unknown store scheme {scheme:?}; this program knows maildir, mbox and memory"),
                )
                .with_operation(Operation::Build));
            }
        };
        if kind == StoreKind::Memory {
            return Ok(Self {
                kind,
                path: PathBuf::new(),
            });
        }
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(invalid("the store URL has no path"));
        }
        Ok(Self {
            kind,
            path: PathBuf::from(path),
        })
    }
}

fn elsewhere(scheme: &str, krate: &str, builder: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "the {scheme:?} scheme is provided by the {krate} crate ({builder}); \
             this example program links only the local stores (maildir, mbox, memory)"
        ),
    )
    .with_operation(Operation::Build)
}

/// Opens (creating if needed) the store a URL names.
///
/// # Errors
/// As [`StoreUrl::parse`], and the store's own errors opening its directory.
pub fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    let url = StoreUrl::parse(url)?;
    match url.kind {
        // MERGE: replace with `Arc::new(mailmigrate_core::store::MaildirStore::open(&url.path)?)`.
        StoreKind::Maildir => Ok(Arc::new(MemoryStore::new(url.path.display().to_string()))),
        // MERGE: replace with `Arc::new(mailmigrate_core::store::MboxStore::open(&url.path)?)`.
        StoreKind::Mbox => Ok(Arc::new(MemoryStore::new(url.path.display().to_string()))),
        StoreKind::Memory => Ok(Arc::new(MemoryStore::new("memory"))),
    }
}

/// Opens (creating if needed) the state store at `path`.
///
/// # Errors
/// `StateCorrupt` or I/O errors from the state store.
pub fn open_state(path: &Path) -> Result<Arc<dyn StateStore>> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::new(ErrorKind::Unavailable, "cannot create the state directory")
                .with_operation(Operation::State)
                .with_context("path", parent.display())
                .with_source(e)
        })?;
    }
    // MERGE: replace with `Ok(Arc::new(mailmigrate_core::state::SqliteState::open(path)?))`.
    Ok(Arc::new(MemoryState::new()))
}

/// What verification found for one source folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FolderVerification {
    /// The source folder.
    pub folder: String,
    /// Messages the source holds.
    pub source: u64,
    /// Messages found at the destination with the recorded content hash.
    pub verified: u64,
    /// Messages at the destination whose bytes differ from what was recorded.
    pub mismatched: u64,
    /// Messages the ledger maps to a destination id that is gone.
    pub missing: u64,
    /// Source messages with no ledger row and a recorded failure.
    pub failed: u64,
    /// Source messages with no ledger row and no failure (not migrated yet, or filtered).
    pub not_migrated: u64,
}

/// What verification found for a job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// Per source folder.
    pub folders: Vec<FolderVerification>,
}

impl Verification {
    /// Whether every migrated message is at the destination with identical bytes.
    pub fn is_clean(&self) -> bool {
        self.folders
            .iter()
            .all(|f| f.mismatched == 0 && f.missing == 0)
    }
}

impl std::fmt::Display for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut t = FolderVerification::default();
        for v in &self.folders {
            writeln!(
                f,
                "{:<40} source {:>6}  verified {:>6}  mismatched {:>3}  missing {:>3}  failed {:>3}  not migrated {:>4}",
                v.folder, v.source, v.verified, v.mismatched, v.missing, v.failed, v.not_migrated
            )?;
            t.source += v.source;
            t.verified += v.verified;
            t.mismatched += v.mismatched;
            t.missing += v.missing;
            t.failed += v.failed;
            t.not_migrated += v.not_migrated;
        }
        writeln!(
            f,
            "Verification {}: {} of {} source messages found byte-identical at the destination; \
             {} mismatched, {} missing, {} failed, {} not migrated.",
            if self.is_clean() { "passed" } else { "FAILED" },
            t.verified,
            t.source,
            t.mismatched,
            t.missing,
            t.failed,
            t.not_migrated
        )
    }
}

/// Source ids checked per step: bounds memory whatever the mailbox size.
const VERIFY_CHUNK: usize = 512;

/// Verifies a job: every source message has a ledger row whose destination copy exists
/// with the recorded content hash, or a recorded failure.
///
/// The destination is read back through its [`Source`] side. Memory is bounded by
/// 512 source messages per step.
///
/// # Errors
/// Listing or state errors; a destination that cannot fetch gives `Unsupported`.
pub async fn verify(
    source: &Arc<dyn Store>,
    dest: &Arc<dyn Store>,
    state: &Arc<dyn StateStore>,
    job: &str,
) -> Result<Verification> {
    // MERGE: delegate to `mailmigrate_core::verify` once it lands, keeping this signature.
    if !Source::info(dest.as_ref()).capabilities.fetch {
        return Err(
            Error::unsupported("the destination cannot read messages back")
                .with_operation(Operation::Fetch),
        );
    }
    let failures = state.failures(job).await?;
    let mut out = Verification::default();
    for folder in Source::list_folders(source.as_ref()).await? {
        if !folder.selectable {
            continue;
        }
        let mut v = FolderVerification {
            folder: folder.path.to_string(),
            ..FolderVerification::default()
        };
        let mut listing = source.list_changes(&folder.id, None);
        let mut chunk = Vec::with_capacity(VERIFY_CHUNK);
        while let Some(change) = listing.next().await {
            if let Change::Upsert(meta) = change? {
                chunk.push(meta.id);
                if chunk.len() >= VERIFY_CHUNK {
                    verify_chunk(
                        dest,
                        state,
                        job,
                        &folder.id,
                        &failures,
                        std::mem::take(&mut chunk),
                        &mut v,
                    )
                    .await?;
                }
            }
        }
        verify_chunk(dest, state, job, &folder.id, &failures, chunk, &mut v).await?;
        if v.source > 0 {
            out.folders.push(v);
        }
    }
    Ok(out)
}

async fn verify_chunk(
    dest: &Arc<dyn Store>,
    state: &Arc<dyn StateStore>,
    job: &str,
    folder: &FolderId,
    failures: &[mailmigrate_core::state::ItemFailure],
    ids: Vec<MessageId>,
    v: &mut FolderVerification,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    v.source += ids.len() as u64;
    let rows = state.lookup(job, folder, &ids).await?;
    for id in &ids {
        if !rows.contains_key(id) {
            if failures
                .iter()
                .any(|f| &f.src_folder == folder && &f.src_id == id)
            {
                v.failed += 1;
            } else {
                v.not_migrated += 1;
            }
        }
    }
    // Group the destination ids by destination folder and read them back.
    let mut by_folder: std::collections::BTreeMap<FolderId, Vec<(MessageId, ContentHash)>> =
        std::collections::BTreeMap::new();
    for row in rows.into_values() {
        match row.dest_id {
            Some(d) => by_folder
                .entry(row.dest_folder)
                .or_default()
                .push((d, row.hash)),
            None => v.missing += 1,
        }
    }
    for (dfolder, wanted) in by_folder {
        let expected: std::collections::HashMap<MessageId, ContentHash> =
            wanted.iter().cloned().collect();
        let mut seen = 0u64;
        let mut fetched = dest.fetch(&dfolder, wanted.into_iter().map(|(id, _)| id).collect());
        while let Some((id, result)) = fetched.next().await {
            let Some(hash) = expected.get(&id) else {
                continue;
            };
            seen += 1;
            match result {
                Ok(raw) if raw.content_hash() == *hash => v.verified += 1,
                Ok(_) => v.mismatched += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => v.missing += 1,
                Err(e) => return Err(e),
            }
        }
        v.missing += expected.len() as u64 - seen;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_schemes() {
        let m = StoreUrl::parse("mbox://backup/alice").unwrap();
        assert_eq!(m.kind, StoreKind::Mbox);
        assert_eq!(m.path, PathBuf::from("backup/alice"));
        assert_eq!(StoreUrl::parse("memory:").unwrap().kind, StoreKind::Memory);
        assert_eq!(
            StoreUrl::parse("MAILDIR:///x").unwrap().path,
            PathBuf::from("/x")
        );
    }

    #[test]
    fn remote_schemes_name_their_crate() {
        for (url, krate) in [
            ("imap://host", "mailmigrate-imap"),
            ("graph://tenant/user", "mailmigrate-graph"),
            ("gmail://me@example.com", "mailmigrate-gmail"),
        ] {
            let e = StoreUrl::parse(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported);
            assert!(e.to_string().contains(krate), "{e}");
        }
    }

    #[test]
    fn malformed_urls_are_config_errors() {
        assert_eq!(
            StoreUrl::parse("/just/a/path").unwrap_err().kind(),
            ErrorKind::ConfigInvalid
        );
        assert_eq!(
            StoreUrl::parse("maildir://").unwrap_err().kind(),
            ErrorKind::ConfigInvalid
        );
        assert_eq!(
            StoreUrl::parse("ftp://x").unwrap_err().kind(),
            ErrorKind::Unsupported
        );
    }

    #[tokio::test]
    async fn verify_counts_verified_failed_and_tampered() {
        use mailmigrate_core::engine::{Engine, SyncOptions};
        use mailmigrate_core::{Destination, FolderPath, MessageMeta, RawMessage};
        let src = MemoryStore::new("src");
        let inbox = src
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap()
            .id;
        let mk = |i: u32, body: &'static [u8]| {
            RawMessage::new(
                MessageMeta::new(MessageId::new(i.to_string()), inbox.clone()),
                bytes::Bytes::from_static(body),
            )
        };
        src.append(
            &inbox,
            vec![
                mk(1, b"Message-ID: <1@x>\r\n\r\none"),
                mk(2, b"Message-ID: <2@x>\r\n\r\ntwo"),
                mk(3, b""),
            ],
        )
        .await
        .unwrap();
        let dst = MemoryStore::new("dst");
        let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
        let source: Arc<dyn Store> = Arc::new(src.clone());
        let dest: Arc<dyn Store> = Arc::new(dst.clone());
        Engine::new(
            Arc::<dyn Store>::clone(&source),
            Arc::<dyn Store>::clone(&dest),
            Arc::clone(&state),
        )
        .with_options(SyncOptions::new("j"))
        .run()
        .await
        .unwrap();
        let v = verify(&source, &dest, &state, "j").await.unwrap();
        assert_eq!(v.folders.len(), 1);
        assert_eq!(
            (
                v.folders[0].source,
                v.folders[0].verified,
                v.folders[0].failed
            ),
            (3, 2, 1)
        );
        assert!(v.is_clean());
        assert!(v.to_string().contains("Verification passed"));

        // Remove one copy at the destination: verification notices.
        let dinbox = FolderId::new("INBOX");
        let first = dst.messages(&dinbox).unwrap()[0].meta.id.clone();
        dst.expunge(&dinbox, &first).unwrap();
        let v = verify(&source, &dest, &state, "j").await.unwrap();
        assert_eq!(v.folders[0].missing, 1);
        assert!(!v.is_clean());
    }
}

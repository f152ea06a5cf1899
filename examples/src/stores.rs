//! Opening stores and state from URLs and paths, and verifying a finished job.
//!
//! Store URLs name a scheme and a path: `maildir:///srv/mail/alice`, `mbox://backup/alice`
//! (relative), `memory:` (an empty in-process store, for trials). Providers that live in
//! their own crates (`imap`, `graph`, `gmail`) are not linked into this example; their
//! schemes give an error naming the crate to use.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailmigrate_core::engine::FolderPlan;
use mailmigrate_core::state::{SqliteState, StateStore};
use mailmigrate_core::store::{MaildirStore, MboxStore, MemoryStore};
use mailmigrate_core::verify::{FolderPair, FolderRef, VerifyOptions, VerifyReport};
use mailmigrate_core::{
    Destination, Error, ErrorKind, FolderId, MessageId, Operation, Result, Source, Store,
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
        StoreKind::Maildir => Ok(Arc::new(MaildirStore::open(&url.path)?)),
        StoreKind::Mbox => Ok(Arc::new(MboxStore::open(&url.path)?)),
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
    Ok(Arc::new(SqliteState::open(path)?))
}

/// What verification found: the core comparison report, and how many of the messages it
/// found missing are failures the engine recorded (malformed, too large) rather than losses.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Verification {
    /// The folder-by-folder comparison of source and destination.
    pub report: VerifyReport,
    /// Missing messages that are recorded failures of the job.
    pub explained: u64,
}

impl Verification {
    /// Differences not explained by recorded failures: missing, extra or changed messages,
    /// flag and date differences, unreadable items, missing folders.
    pub fn unexplained(&self) -> u64 {
        let t = &self.report.totals;
        let c = &t.counts;
        c.missing.saturating_sub(self.explained)
            + c.extra
            + c.changed
            + c.flag_differences
            + c.date_differences
            + c.unreadable
            + self
                .report
                .folders
                .iter()
                .filter(|f| f.error.is_some())
                .count() as u64
    }

    /// Whether the destination equals the source but for recorded failures.
    pub fn is_clean(&self) -> bool {
        self.unexplained() == 0
    }
}

impl std::fmt::Display for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.report.to_text())?;
        let c = &self.report.totals.counts;
        writeln!(
            f,
            "Verification {}: {} of {} source messages identical at the destination; \
             {} missing are recorded failures; {} unexplained differences.",
            if self.is_clean() { "passed" } else { "FAILED" },
            c.matched,
            c.source,
            self.explained,
            self.unexplained()
        )
    }
}

/// Compares every copied folder of `plan` between source and destination with
/// [`mailmigrate_core::verify`], reading the destination back through its [`Source`] side,
/// and accounts the job's recorded failures. Memory is bounded by the verifier's batch.
///
/// Messages left out by a filter show as missing: verify filtered jobs with that in mind.
///
/// # Errors
/// Listing or state errors.
pub async fn verify(
    source: &Arc<dyn Store>,
    dest: &Arc<dyn Store>,
    state: &Arc<dyn StateStore>,
    job: &str,
    plan: &FolderPlan,
) -> Result<Verification> {
    let source: &dyn Source = source.as_ref();
    let dest_store: &dyn Store = dest.as_ref();
    let dest_folders = Source::list_folders(dest_store).await?;
    let pairs: Vec<FolderPair> = plan
        .copies()
        .map(|e| {
            let target = dest_folders
                .iter()
                .find(|d| d.path == e.target)
                .map(FolderRef::from);
            FolderPair::new(FolderRef::from(&e.source), target)
        })
        .collect();
    let opts = VerifyOptions::for_destination(&Destination::info(dest_store).capabilities);
    let report = mailmigrate_core::verify::verify(source, dest_store, &pairs, &opts).await?;
    let failed: HashSet<(FolderId, MessageId)> = state
        .failures(job)
        .await?
        .into_iter()
        .map(|f| (f.src_folder, f.src_id))
        .collect();
    let explained = report
        .folders
        .iter()
        .flat_map(|f| {
            f.missing
                .iter()
                .filter(|m| failed.contains(&(f.source.id.clone(), m.source_id.clone())))
        })
        .count() as u64;
    Ok(Verification { report, explained })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::state::MemoryState;

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
    async fn verify_accounts_failures_and_notices_losses() {
        use mailmigrate_core::engine::{Engine, SyncOptions};
        use mailmigrate_core::layer::{Fault, FaultLayer, Stack, Trigger};
        use mailmigrate_core::{Destination, FolderPath, MessageMeta, RawMessage};
        let src = MemoryStore::new("src");
        let inbox = src
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap()
            .id;
        let mk = |i: u32| {
            RawMessage::new(
                MessageMeta::new(MessageId::new(i.to_string()), inbox.clone()),
                bytes::Bytes::from(format!("Message-ID: <{i}@x>\r\n\r\nbody {i}")),
            )
        };
        src.append(&inbox, vec![mk(1), mk(2), mk(3)]).await.unwrap();
        let dst = MemoryStore::new("dst");
        let state: Arc<dyn StateStore> = Arc::new(MemoryState::new());
        let source: Arc<dyn Store> = Arc::new(src.clone());
        let dest: Arc<dyn Store> = Arc::new(dst.clone());
        // The first message cannot be read: a recorded, final failure.
        let unreadable = Stack::new(src.clone())
            .layer(FaultLayer::new().fail_items(
                mailmigrate_core::Operation::Fetch,
                Trigger::first(1),
                Fault::permanent(ErrorKind::InvalidMessage),
            ))
            .into_source();
        let engine = Engine::new(
            unreadable,
            Arc::<dyn Store>::clone(&dest),
            Arc::clone(&state),
        )
        .with_options(SyncOptions::new("j"));
        let plan = engine.plan().await.unwrap();
        engine.run_plan(&plan).await.unwrap();
        let v = verify(&source, &dest, &state, "j", &plan).await.unwrap();
        assert_eq!(v.report.totals.counts.matched, 2);
        assert_eq!(v.explained, 1);
        assert!(v.is_clean(), "{v}");
        assert!(v.to_string().contains("Verification passed"));

        // Remove one copy at the destination: verification notices.
        let dinbox = FolderId::new("INBOX");
        let first = dst.messages(&dinbox).unwrap()[0].meta.id.clone();
        dst.expunge(&dinbox, &first).unwrap();
        let v = verify(&source, &dest, &state, "j", &plan).await.unwrap();
        assert_eq!(v.unexplained(), 1);
        assert!(!v.is_clean());
        assert!(v.to_string().contains("Verification FAILED"));
    }
}

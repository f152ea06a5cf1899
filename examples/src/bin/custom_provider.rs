//! Writing a provider: a read-only [`Source`] over a directory of `.eml` files. What every
//! provider has (its info, capabilities and folders) is its [`Provider`] impl; what reading
//! adds is the [`Source`] impl.
//!
//! Files directly in the directory form the inbox; each subdirectory is a folder (nested
//! subdirectories are nested folders). A message's id is its file name, its internal date
//! the file's modification time.
//!
//! The provider declares its capabilities honestly: it lists folders and fetches bytes
//! exactly as stored, but has no incremental listing (`list_since: false`, so the engine
//! diffs each full listing against its ledger), reports no removals, and is never a
//! destination.
//!
//! ```text
//! cargo run -p mailmigrate-examples --bin custom_provider -- path/to/eml-dir
//! ```
//! Without an argument it writes a few sample files under `target/mailmigrate-eml-demo`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use mailmigrate_core::engine::{Engine, SyncOptions};
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{
    Capabilities, Change, Checkpoint, Error, ErrorKind, Folder, FolderId, FolderPath, ItemResult,
    MessageId, MessageMeta, Operation, Provider, ProviderInfo, RawMessage, Result, Source,
    SpecialUse,
};
use time::OffsetDateTime;

/// The provider's scheme, used in errors and reports.
const SCHEME: &str = "emldir";

/// A directory of `.eml` files, read-only.
#[derive(Debug, Clone)]
struct EmlDir {
    root: Arc<PathBuf>,
    info: Arc<ProviderInfo>,
}

impl EmlDir {
    /// Opens `root`, which must be a directory.
    fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if !root.is_dir() {
            return Err(Error::new(ErrorKind::NotFound, "not a directory")
                .with_provider(SCHEME)
                .with_operation(Operation::Build)
                .with_context("path", root.display()));
        }
        let capabilities = Capabilities {
            list_folders: true,
            fetch: true,
            // Reading never alters bytes, but `byte_exact` speaks of `fetch(append(m))`,
            // and this provider cannot append.
            ..Capabilities::default()
        };
        let info = ProviderInfo::new(SCHEME, root.display().to_string(), capabilities);
        Ok(Self {
            root: Arc::new(root),
            info: Arc::new(info),
        })
    }

    /// The directory of a folder id (`INBOX` is the root; others are relative paths).
    fn dir(&self, folder: &FolderId) -> Result<PathBuf> {
        if folder.as_str() == "INBOX" {
            return Ok(self.root.to_path_buf());
        }
        let rel = Path::new(folder.as_str());
        if rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(not_found(folder, "no such folder"));
        }
        Ok(self.root.join(rel))
    }
}

/// The one place provider errors are mapped into [`Error`].
fn io_error(e: &std::io::Error, op: Operation, folder: &FolderId) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Unavailable,
    };
    Error::new(kind, e.to_string())
        .with_provider(SCHEME)
        .with_operation(op)
        .with_context("folder", folder)
}

fn not_found(folder: &FolderId, msg: &str) -> Error {
    Error::new(ErrorKind::NotFound, msg.to_owned())
        .with_provider(SCHEME)
        .with_context("folder", folder)
}

fn is_eml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("eml"))
}

#[async_trait]
impl Provider for EmlDir {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        let inbox = FolderId::new("INBOX");
        let mut out = vec![
            Folder::new(inbox.clone(), FolderPath::inbox()).with_role(Some(SpecialUse::Inbox))
        ];
        // Walk subdirectories breadth-first; folder count is small, messages are not read.
        let mut queue = vec![Vec::<String>::new()];
        while let Some(segs) = queue.pop() {
            let dir = segs.iter().fold(self.root.to_path_buf(), |p, s| p.join(s));
            let mut rd = tokio::fs::read_dir(&dir)
                .await
                .map_err(|e| io_error(&e, Operation::ListFolders, &inbox))?;
            while let Some(entry) = rd
                .next_entry()
                .await
                .map_err(|e| io_error(&e, Operation::ListFolders, &inbox))?
            {
                let is_dir = entry.file_type().await.is_ok_and(|t| t.is_dir());
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue; // a name that is not UTF-8 cannot be a folder name
                };
                if !is_dir || name.starts_with('.') {
                    continue;
                }
                let mut child = segs.clone();
                child.push(name);
                let path = FolderPath::new(child.iter().cloned())?;
                out.push(Folder::new(FolderId::new(child.join("/")), path));
                queue.push(child);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Source for EmlDir {
    fn list_changes(
        &self,
        folder: &FolderId,
        _since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        // No incremental listing: every pass lists everything, then a constant checkpoint.
        let dir = match self.dir(folder) {
            Ok(d) => d,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let folder = folder.clone();
        enum St {
            Start,
            Reading(tokio::fs::ReadDir),
            Done,
        }
        // Lazily, one directory entry at a time: memory does not grow with the folder.
        stream::unfold(St::Start, move |st| {
            let dir = dir.clone();
            let folder = folder.clone();
            async move {
                let mut rd = match st {
                    St::Done => return None,
                    St::Start => match tokio::fs::read_dir(&dir).await {
                        Ok(rd) => rd,
                        Err(e) => {
                            return Some((
                                Err(io_error(&e, Operation::ListChanges, &folder)),
                                St::Done,
                            ))
                        }
                    },
                    St::Reading(rd) => rd,
                };
                loop {
                    match rd.next_entry().await {
                        Ok(Some(entry)) => {
                            let path = entry.path();
                            let Ok(md) = entry.metadata().await else {
                                continue;
                            };
                            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                                continue;
                            };
                            if !md.is_file() || !is_eml(&path) {
                                continue;
                            }
                            let date = md.modified().ok().map(OffsetDateTime::from);
                            let meta = MessageMeta::new(MessageId::new(name), folder.clone())
                                .with_size(md.len())
                                .with_internal_date(date);
                            return Some((Ok(Change::Upsert(meta)), St::Reading(rd)));
                        }
                        Ok(None) => {
                            return Some((
                                Ok(Change::Checkpoint(Checkpoint::new("full"))),
                                St::Done,
                            ));
                        }
                        Err(e) => {
                            return Some((
                                Err(io_error(&e, Operation::ListChanges, &folder)),
                                St::Done,
                            ))
                        }
                    }
                }
            }
        })
        .boxed()
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let folder = folder.clone();
        let Ok(dir) = self.dir(&folder) else {
            return stream::iter(ids.into_iter().map(move |id| {
                let e = not_found(&folder, "no such folder").with_context("message", &id);
                (id, Err(e))
            }))
            .boxed();
        };
        stream::iter(ids)
            .then(move |id| {
                let dir = dir.clone();
                let folder = folder.clone();
                async move {
                    let result = async {
                        // An id is a plain file name; anything else cannot be ours.
                        if id.as_str().contains(['/', '\\']) || id.as_str().starts_with('.') {
                            return Err(not_found(&folder, "no such message"));
                        }
                        let bytes = tokio::fs::read(dir.join(id.as_str()))
                            .await
                            .map_err(|e| io_error(&e, Operation::Fetch, &folder))?;
                        let meta = MessageMeta::new(id.clone(), folder.clone());
                        Ok(RawMessage::new(meta, bytes.into()))
                    }
                    .await
                    .map_err(|e: Error| e.with_context("message", &id));
                    (id, result)
                }
            })
            .boxed()
    }
}

const SAMPLES: &[(&str, &str)] = &[
    (
        "hello.eml",
        "Message-ID: <hello@example.com>\r\nSubject: Hello\r\n\r\nHi.\r\n",
    ),
    (
        "Projects/plan.eml",
        "Message-ID: <plan@example.com>\r\nSubject: Plan\r\n\r\nQ3.\r\n",
    ),
    (
        "Projects/2024/done.eml",
        "Message-ID: <done@example.com>\r\nSubject: Done\r\n\r\nOK.\r\n",
    ),
    ("broken.eml", ""),
];

fn write_samples(root: &Path) -> std::io::Result<()> {
    for (rel, text) in SAMPLES {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let root = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let root = PathBuf::from("target/mailmigrate-eml-demo");
            if let Err(e) = write_samples(&root) {
                eprintln!(
                    "error: cannot write sample files to {}: {e}",
                    root.display()
                );
                return std::process::ExitCode::FAILURE;
            }
            root
        }
    };
    let result = async {
        let source = EmlDir::open(&root)?;
        let dest = MemoryStore::new("imported");
        let engine = Engine::new(
            Arc::new(source),
            Arc::new(dest),
            Arc::new(MemoryState::new()),
        )
        .with_options(SyncOptions::new("eml-import"));
        engine.run().await
    }
    .await;
    match result {
        Ok(report) => {
            println!("{report}");
            if report.is_complete() && report.failures.is_empty() {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Writes `.eml` files where an [`EmlDir`] reads them: the conformance suite's way to seed
/// a read-only source. Each message becomes `<n>.eml` in its folder's directory, with the
/// internal date as the file's modification time.
#[cfg(test)]
mod seeder {
    use std::sync::atomic::{AtomicU64, Ordering};

    use mailmigrate_core::{
        Appended, DedupeKey, Destination, EnsuredFolder, ExistingCopy, FlagChange, SpecialUse,
    };

    use super::*;

    #[derive(Debug)]
    pub(super) struct EmlSeeder {
        source: EmlDir,
        info: ProviderInfo,
        next: AtomicU64,
    }

    impl EmlSeeder {
        pub(super) fn new(source: EmlDir) -> Self {
            let capabilities = Capabilities {
                list_folders: true,
                append: true,
                append_with_internal_date: true,
                append_returns_id: true,
                ..Capabilities::default()
            };
            let info =
                ProviderInfo::new("emldir-seeder", source.info.account.clone(), capabilities);
            Self {
                source,
                info,
                next: AtomicU64::new(1),
            }
        }
    }

    #[async_trait]
    impl Provider for EmlSeeder {
        fn info(&self) -> &ProviderInfo {
            &self.info
        }
        async fn list_folders(&self) -> Result<Vec<Folder>> {
            self.source.list_folders().await
        }
    }

    #[async_trait]
    impl Destination for EmlSeeder {
        async fn ensure_folder(
            &self,
            path: &FolderPath,
            _: Option<SpecialUse>,
        ) -> Result<EnsuredFolder> {
            let id = if path.is_inbox() {
                FolderId::new("INBOX")
            } else {
                FolderId::new(path.segments().join("/"))
            };
            let dir = self.source.dir(&id)?;
            let existed = dir.is_dir();
            std::fs::create_dir_all(&dir)
                .map_err(|e| io_error(&e, Operation::EnsureFolder, &id))?;
            let empty = !std::fs::read_dir(&dir)
                .map_err(|e| io_error(&e, Operation::EnsureFolder, &id))?
                .any(|e| e.is_ok_and(|e| is_eml(&e.path())));
            Ok(EnsuredFolder::new(id, !existed).with_empty(empty))
        }

        async fn append(
            &self,
            folder: &FolderId,
            messages: Vec<RawMessage>,
        ) -> Result<Vec<Result<Appended>>> {
            let dir = self.source.dir(folder)?;
            Ok(messages
                .into_iter()
                .map(|m| {
                    if m.bytes.is_empty() {
                        // Like every mail store: a file of no bytes is no message.
                        return Err(Error::new(ErrorKind::InvalidMessage, "an empty message")
                            .with_operation(Operation::Append)
                            .with_context("message", &m.meta.id));
                    }
                    let name = format!("{}.eml", self.next.fetch_add(1, Ordering::Relaxed));
                    let path = dir.join(&name);
                    std::fs::write(&path, &m.bytes)
                        .and_then(|()| match m.meta.internal_date {
                            Some(date) => std::fs::File::options()
                                .write(true)
                                .open(&path)?
                                .set_modified(date.into()),
                            None => Ok(()),
                        })
                        .map_err(|e| io_error(&e, Operation::Append, folder))?;
                    Ok(Appended::new(Some(MessageId::new(name))))
                })
                .collect())
        }

        async fn update_flags(&self, _: &FolderId, _: &MessageId, _: &FlagChange) -> Result<()> {
            Err(Error::unsupported("an .eml directory keeps no flags"))
        }

        async fn find_existing(&self, _: &FolderId, _: &DedupeKey) -> Result<Vec<ExistingCopy>> {
            Err(Error::unsupported("the seeder does not look copies up"))
        }

        async fn delete(&self, _: &FolderId, _: &[MessageId]) -> Result<()> {
            Err(Error::unsupported("the .eml source is read-only"))
        }
    }
}

/// The conformance suite against the read-only source, seeded through [`seeder::EmlSeeder`]:
/// cases that need what an `.eml` directory cannot do (flags, look-ups) report why they do
/// not apply.
#[cfg(test)]
mod conformance {
    mailmigrate_core::conformance_tests!(async {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let source = super::EmlDir::open(dir.path()).expect("the directory opens");
        let seeder = super::seeder::EmlSeeder::new(source.clone());
        Some(mailmigrate_core::testkit::Harness::new(source, seeder).with_guard(dir))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrates_a_directory_tree_and_reports_the_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        write_samples(dir.path()).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not mail").unwrap();
        let source = EmlDir::open(dir.path()).unwrap();
        let mut paths: Vec<String> = source
            .list_folders()
            .await
            .unwrap()
            .iter()
            .map(|f| f.path.to_string())
            .collect();
        paths.sort();
        assert_eq!(paths, ["INBOX", "Projects", "Projects/2024"]);

        let dest = MemoryStore::new("d");
        let engine = Engine::new(
            Arc::new(source),
            Arc::new(dest.clone()),
            Arc::new(MemoryState::new()),
        );
        let report = engine.run().await.unwrap();
        assert_eq!(report.totals.copied, 3);
        assert_eq!(report.totals.failed, 1);
        assert_eq!(report.failures[0].kind, ErrorKind::InvalidMessage);
        assert_eq!(report.failures[0].src_id.as_str(), "broken.eml");
        let inbox = Provider::list_folders(&dest).await.unwrap();
        assert_eq!(inbox.len(), 3);
        // Bytes arrive exactly as stored.
        let got = dest.messages(&FolderId::new("Projects/2024")).unwrap();
        assert_eq!(&got[0].bytes[..], SAMPLES[2].1.as_bytes());

        // No incremental listing: the second pass diffs against the ledger and copies nothing.
        let again = engine.run().await.unwrap();
        assert_eq!(again.totals.copied, 0);
        assert_eq!(again.totals.unchanged, 3);
    }

    #[tokio::test]
    async fn missing_files_and_escaping_ids_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let source = EmlDir::open(dir.path()).unwrap();
        let ids = vec![MessageId::new("gone.eml"), MessageId::new("../etc/passwd")];
        let got: Vec<_> = source.fetch(&FolderId::new("INBOX"), ids).collect().await;
        assert!(got
            .iter()
            .all(|(_, r)| r.as_ref().unwrap_err().kind() == ErrorKind::NotFound));
        assert_eq!(
            source.dir(&FolderId::new("../x")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            EmlDir::open(dir.path().join("nope")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}

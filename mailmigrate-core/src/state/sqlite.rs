//! The default durable [`StateStore`]: one SQLite file holding checkpoints, the ledger and
//! failures of any number of jobs. See [`SqliteState`].

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{
    params, Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior,
};

use super::{ItemFailure, LedgerEntry, LedgerState, StateStore};
use crate::{Checkpoint, ContentHash, Error, ErrorKind, Flag, Flags, FolderId, MessageId};
use crate::{Operation, Result};

mod campaign;

/// The provider name used in errors.
const PROVIDER: &str = "sqlite";

/// `PRAGMA application_id` of a mailmigrate state file ("MMST").
const APPLICATION_ID: i32 = 0x4D4D_5354;

/// How long a call waits for another process holding the file's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The page cache per connection, in KiB.
const CACHE_KIB: i64 = 2 * 1024;

/// Schema migrations: `MIGRATIONS[v]` upgrades a file from version `v` to `v + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the initial schema.
    "CREATE TABLE checkpoints (
         job        TEXT NOT NULL,
         src_folder TEXT NOT NULL,
         checkpoint TEXT NOT NULL,
         PRIMARY KEY (job, src_folder)
     ) WITHOUT ROWID;
     CREATE TABLE ledger (
         job         TEXT NOT NULL,
         src_folder  TEXT NOT NULL,
         src_id      TEXT NOT NULL,
         dest_folder TEXT NOT NULL,
         dest_id     TEXT,
         hash        BLOB NOT NULL CHECK (length(hash) = 32),
         message_id  TEXT,
         flags       TEXT NOT NULL,
         state       INTEGER NOT NULL CHECK (state IN (0, 1)),
         PRIMARY KEY (job, src_folder, src_id)
     ) WITHOUT ROWID;
     CREATE INDEX ledger_claims ON ledger (job, dest_folder, dest_id)
         WHERE dest_id IS NOT NULL;
     CREATE INDEX ledger_pending ON ledger (job, src_folder, src_id) WHERE state = 0;
     CREATE TABLE failures (
         job        TEXT NOT NULL,
         src_folder TEXT NOT NULL,
         src_id     TEXT NOT NULL,
         kind       TEXT NOT NULL,
         message    TEXT NOT NULL,
         PRIMARY KEY (job, src_folder, src_id)
     ) WITHOUT ROWID;",
    // 1 → 2: the size of the bytes written (a complete dedupe key without the source item),
    // and whether a failure is the item's own for good (see `Disposition`).
    "ALTER TABLE ledger ADD COLUMN size INTEGER;
     ALTER TABLE failures ADD COLUMN final INTEGER NOT NULL DEFAULT 0 CHECK (final IN (0, 1));
     UPDATE failures SET final = 1
      WHERE kind IN ('InvalidMessage', 'MessageTooLarge', 'Unsupported', 'NotFound');",
    // 2 → 3: the internal date written with a copy (Unix seconds), which tells the copies
    // of byte-identical messages apart when a write is settled.
    "ALTER TABLE ledger ADD COLUMN internal_date INTEGER;",
    // 3 → 4: the versions (ETags) of a contact or calendar item at the source and at the
    // destination, which tell a changed item without fetching it and guard a replace.
    "ALTER TABLE ledger ADD COLUMN src_version TEXT;
     ALTER TABLE ledger ADD COLUMN dest_version TEXT;",
    // 4 → 5: campaigns (see `campaign.rs`): a record per campaign, a status per mailbox
    // (its stage a column, for the compare-and-set of a move) and the history of moves.
    // Records are JSON, so fields added later need no migration.
    "CREATE TABLE campaigns (
         campaign TEXT NOT NULL PRIMARY KEY,
         record   TEXT NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE campaign_mailboxes (
         campaign TEXT NOT NULL,
         mailbox  TEXT NOT NULL,
         stage    TEXT NOT NULL,
         status   TEXT NOT NULL,
         PRIMARY KEY (campaign, mailbox)
     ) WITHOUT ROWID;
     CREATE TABLE campaign_history (
         campaign   TEXT NOT NULL,
         mailbox    TEXT NOT NULL,
         seq        INTEGER NOT NULL,
         transition TEXT NOT NULL,
         PRIMARY KEY (campaign, mailbox, seq),
         FOREIGN KEY (campaign, mailbox) REFERENCES campaign_mailboxes (campaign, mailbox)
     ) WITHOUT ROWID;",
    // 5 → 6: leases on mailboxes (see `CampaignStore::claim`): which worker drives a
    // mailbox, until when (Unix milliseconds), so runners sharing the file never drive one
    // mailbox at once.
    "CREATE TABLE campaign_leases (
         campaign TEXT NOT NULL,
         mailbox  TEXT NOT NULL,
         worker   TEXT NOT NULL,
         expires  INTEGER NOT NULL,
         PRIMARY KEY (campaign, mailbox)
     ) WITHOUT ROWID;",
];

/// The schema version this build writes.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The tables every valid file has.
const TABLES: [&str; 7] = [
    "checkpoints",
    "ledger",
    "failures",
    "campaigns",
    "campaign_mailboxes",
    "campaign_history",
    "campaign_leases",
];

/// `state` column values.
const PENDING: i64 = 0;
const DONE: i64 = 1;

/// What can go wrong inside the store, mapped into [`Error`] in one place ([`StoreError::into_error`]).
#[derive(Debug, thiserror::Error)]
enum StoreError {
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error("{what}")]
    Corrupt {
        what: String,
        item: Option<(String, String)>,
    },
    #[error("task failed: {0}")]
    Task(String),
    /// A refusal decided above SQLite (a campaign move that conflicts), passed on as is.
    #[error(transparent)]
    Refused(Box<Error>),
}

impl StoreError {
    fn corrupt(what: impl Into<String>) -> Self {
        Self::Corrupt {
            what: what.into(),
            item: None,
        }
    }

    fn corrupt_item(what: impl Into<String>, folder: &str, id: &str) -> Self {
        Self::Corrupt {
            what: what.into(),
            item: Some((folder.to_owned(), id.to_owned())),
        }
    }

    /// Maps a failure into the workspace error, naming the state file.
    fn into_error(self, path: &str) -> Error {
        let err = match self {
            Self::Sql(e) => {
                let (kind, temporary, message) = classify(&e);
                let err = Error::new(kind, message);
                let err = if temporary { err.temporary() } else { err };
                err.with_source(e)
            }
            Self::Corrupt { what, item } => {
                let err = Error::new(ErrorKind::StateCorrupt, what);
                match item {
                    Some((folder, id)) => err.with_item(folder, id),
                    None => err,
                }
            }
            Self::Task(what) => Error::new(ErrorKind::Unexpected, what),
            Self::Refused(e) => *e,
        };
        err.with_provider(PROVIDER)
            .with_operation(Operation::State)
            .with_context("path", path)
    }
}

/// Kind, retry status and message of a SQLite error.
fn classify(e: &rusqlite::Error) -> (ErrorKind, bool, String) {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::NotADatabase => (
                ErrorKind::StateCorrupt,
                false,
                "the file is not a SQLite database".to_owned(),
            ),
            ErrorCode::DatabaseCorrupt => (
                ErrorKind::StateCorrupt,
                false,
                "the database file is malformed or truncated".to_owned(),
            ),
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => (
                ErrorKind::Unavailable,
                true,
                "the state file is locked by another process".to_owned(),
            ),
            ErrorCode::DiskFull => (
                ErrorKind::QuotaExceeded,
                false,
                "the disk holding the state file is full".to_owned(),
            ),
            ErrorCode::ReadOnly | ErrorCode::PermissionDenied => (
                ErrorKind::PermissionDenied,
                false,
                "the state file is not writable".to_owned(),
            ),
            ErrorCode::CannotOpen => (
                ErrorKind::ConfigInvalid,
                false,
                "cannot open or create the state file (missing directory or no permission)"
                    .to_owned(),
            ),
            ErrorCode::SystemIoFailure => (
                ErrorKind::Unavailable,
                false,
                "disk I/O error on the state file".to_owned(),
            ),
            _ => (ErrorKind::Unexpected, false, e.to_string()),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => (
            ErrorKind::StateCorrupt,
            false,
            format!("a stored value has an unexpected type: {e}"),
        ),
        _ => (ErrorKind::Unexpected, false, e.to_string()),
    }
}

/// Keeps migration state in one SQLite file (or in memory).
///
/// Open it once per process and share it: it is `Send + Sync`, and a clone is another handle
/// to the same connection. Every [`StateStore`] call is one SQLite transaction, so a call
/// interrupted at any point leaves all of its rows or none.
///
/// # Durability
/// The file runs in WAL journal mode with `synchronous=FULL`: a call that returned `Ok` is on
/// disk, and survives a power loss or an OS crash as well as the process being killed. The
/// ledger protocol needs exactly that: the `Pending` row of a batch must be durable before
/// the destination write it guards, or a crash could drop the intent together with the
/// result while an older checkpoint survives, and the writes would be repeated without a
/// look-up. A call that records only `Done` rows (the confirmation of writes, flags carried,
/// copies found) commits without its own sync in WAL mode: lost in a crash, the rows it
/// replaced are still pending and are settled by a look-up, and the next synced commit (the
/// next batch's pending rows, a checkpoint) makes it durable as well. So a batch costs one
/// log sync, not two; the `engine_throughput` and `peak_rss` benchmarks measure it.
///
/// If the filesystem cannot hold a write-ahead log, the store falls back to a rollback
/// journal with the same `synchronous=FULL`.
///
/// # Schema
/// Tables: `checkpoints (job, src_folder)`; `ledger (job, src_folder, src_id)` with a
/// partial index on `(job, dest_folder, dest_id)` for claims and one on pending rows; and
/// `failures (job, src_folder, src_id)`; for [`CampaignStore`](crate::campaign::CampaignStore)
/// (schema 5), `campaigns (campaign)`, `campaign_mailboxes (campaign, mailbox)` and
/// `campaign_history (campaign, mailbox, seq)`, whose records are JSON; and (schema 6)
/// `campaign_leases (campaign, mailbox)`, each mailbox's lease holder and expiry. Ids are `TEXT`,
/// content hashes 32-byte `BLOB`s,
/// flags a JSON array of their IMAP spelling (`["\\Seen","$Forwarded"]`). The file carries
/// an `application_id` marking it as a mailmigrate state file and its schema version in
/// `user_version`; older versions are migrated on open, newer ones refused.
///
/// # Concurrency
/// Calls run on tokio's blocking thread pool (`spawn_blocking`) with the connection behind a
/// `std::sync::Mutex`. A dedicated thread fed by a channel would serialise the calls just
/// the same, since SQLite admits one writer at a time; the mutex needs no shutdown protocol
/// and the connection closes when the last handle drops. Outside a tokio runtime a call runs
/// on the calling thread.
///
/// # Examples
/// ```
/// use mailmigrate_core::state::{SqliteState, StateStore};
/// use mailmigrate_core::{Checkpoint, FolderId};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> mailmigrate_core::Result<()> {
/// let dir = tempfile::tempdir()?;
/// let state = SqliteState::open(dir.path().join("state.sqlite"))?;
/// let inbox = FolderId::new("INBOX");
/// state.set_checkpoint("alice", &inbox, &Checkpoint::new("7:100")).await?;
/// drop(state);
///
/// let state = SqliteState::open(dir.path().join("state.sqlite"))?;
/// assert_eq!(state.checkpoint("alice", &inbox).await?, Some(Checkpoint::new("7:100")));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteState {
    conn: Arc<Mutex<Connection>>,
    /// The file's path (or `:memory:`) for errors and `Debug`.
    label: Arc<str>,
    path: Option<Arc<Path>>,
    /// Worker names held through an in-memory database (a file's are held by lock files).
    names: crate::campaign::HeldNames,
}

/// Debug shows where the file is, nothing of its contents.
impl fmt::Debug for SqliteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteState")
            .field("path", &&*self.label)
            .finish_non_exhaustive()
    }
}

impl SqliteState {
    /// Opens the state file at `path`, creating it and its schema if it does not exist.
    ///
    /// Migrates a file written by an older version; an empty file counts as new. Blocks for
    /// the few milliseconds opening takes.
    ///
    /// # Errors
    /// - `StateCorrupt` if the file is not a SQLite database, is truncated or malformed, is
    ///   some other application's database, or was written by a newer mailmigrate;
    /// - `ConfigInvalid` if the file cannot be opened or created (missing directory);
    /// - `PermissionDenied` if it is read-only; `Unavailable` if another process keeps it
    ///   locked.
    ///
    /// Every error names the path.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let label: Arc<str> = Arc::from(path.display().to_string());
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(StoreError::from)
            .and_then(|mut c| init(&mut c, true).map(|()| c))
            .map_err(|e| e.into_error(&label))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            label,
            path: Some(Arc::from(path)),
            names: crate::campaign::HeldNames::default(),
        })
    }

    /// Opens a private in-memory store, lost when the last handle drops (for tests and dry
    /// runs).
    ///
    /// # Errors
    /// `Unexpected` if SQLite cannot allocate the database.
    ///
    /// # Examples
    /// ```
    /// use mailmigrate_core::state::{SqliteState, StateStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> mailmigrate_core::Result<()> {
    /// let state = SqliteState::open_in_memory()?;
    /// assert!(state.failures("job").await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_in_memory() -> Result<Self> {
        let label: Arc<str> = Arc::from(":memory:");
        let conn = Connection::open_in_memory()
            .map_err(StoreError::from)
            .and_then(|mut c| init(&mut c, false).map(|()| c))
            .map_err(|e| e.into_error(&label))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            label,
            path: None,
            names: crate::campaign::HeldNames::default(),
        })
    }

    /// The file's path, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads the whole file and checks its structure (`PRAGMA quick_check`).
    ///
    /// Takes time proportional to the file size; opening does only cheap checks, so run this
    /// before trusting a file that went through a crash of the machine or a copy.
    ///
    /// # Errors
    /// `StateCorrupt` naming the path and SQLite's first finding if the file is damaged.
    pub async fn verify_integrity(&self) -> Result<()> {
        self.run(|conn| {
            let mut stmt = conn.prepare("PRAGMA quick_check")?;
            let findings = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            match findings.as_slice() {
                [ok] if ok == "ok" => Ok(()),
                [] => Err(StoreError::corrupt("integrity check returned nothing")),
                [first, ..] => Err(StoreError::corrupt(format!(
                    "integrity check failed ({} findings), first: {first}",
                    findings.len()
                ))),
            }
        })
        .await
    }

    /// Runs `f` with the connection on the blocking pool and maps its error.
    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Connection) -> std::result::Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let work = move || f(&mut lock(&conn));
        let out = match tokio::runtime::Handle::try_current() {
            // The blocking task finishes its transaction even if this future is dropped, so
            // a cancelled call is still all-or-nothing.
            Ok(rt) => rt.spawn_blocking(work).await.unwrap_or_else(|e| {
                Err(StoreError::Task(if e.is_panic() {
                    "the state store task panicked".to_owned()
                } else {
                    "the state store task was cancelled".to_owned()
                }))
            }),
            Err(_) => work(),
        };
        out.map_err(|e| e.into_error(&self.label))
    }
}

/// Locks the connection; a panic in an earlier call rolled its transaction back, so a
/// poisoned lock still guards a consistent connection.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets the connection up and brings the schema to [`SCHEMA_VERSION`].
fn init(conn: &mut Connection, file: bool) -> std::result::Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(32);
    // Reading the header first: a non-database file fails here, and a file that is not ours
    // is refused before anything (even its journal mode) changes.
    identify(conn)?;
    if file {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                journal_mode = %mode,
                "state file cannot use a write-ahead log; using a rollback journal"
            );
        }
        // Durable before the destination write it guards (see "Durability" above).
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Keep the log from growing without bound after large batches.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    }
    // A fixed page cache (negative = KiB): large batches stay in memory between statements,
    // and memory use does not grow with the ledger.
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    // No table references another yet; later schema versions get their references enforced.
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate(conn)
}

/// Checks that the file is empty or a mailmigrate state file this version can read, and
/// returns its schema version (0 for an empty file).
fn identify(conn: &Connection) -> std::result::Result<usize, StoreError> {
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    let fresh = app_id == 0 && version == 0 && objects == 0;
    if !fresh && app_id != APPLICATION_ID {
        return Err(StoreError::corrupt(format!(
            "not a mailmigrate state file (application id {app_id:#x}, {objects} schema objects)"
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::corrupt(format!(
            "the state file has schema version {version}, newer than the {SCHEMA_VERSION} this \
             version of mailmigrate understands; upgrade mailmigrate to open it"
        )));
    }
    usize::try_from(version)
        .map_err(|_| StoreError::corrupt(format!("invalid schema version {version}")))
}

/// Brings a file to [`SCHEMA_VERSION`], one step at a time, in one transaction.
///
/// A fresh (empty) file gets the whole schema; a file of another application or of a newer
/// schema version is refused untouched.
fn migrate(conn: &mut Connection) -> std::result::Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Again inside the write transaction: another process may have initialised the file.
    let from = identify(&tx)?;
    if from < MIGRATIONS.len() {
        for step in &MIGRATIONS[from..] {
            tx.execute_batch(step)?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    for table in TABLES {
        let present: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1)",
            [table],
            |r| r.get(0),
        )?;
        if !present {
            return Err(StoreError::corrupt(format!("table `{table}` is missing")));
        }
    }
    tx.commit()?;
    Ok(())
}

/// Flags as a JSON array of their IMAP spelling.
fn encode_flags(flags: &Flags) -> String {
    /// Serialises a flag through its `Display` form, without an intermediate string.
    struct Name<'a>(&'a Flag);
    impl serde::Serialize for Name<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.collect_str(self.0)
        }
    }
    /// Serialises the set as a sequence of names.
    struct Names<'a>(&'a Flags);
    impl serde::Serialize for Names<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(Name))
        }
    }
    // Serialising strings into JSON cannot fail.
    serde_json::to_string(&Names(flags)).unwrap_or_else(|_| "[]".to_owned())
}

fn decode_flags(text: &str, folder: &str, id: &str) -> std::result::Result<Flags, StoreError> {
    let names: Vec<String> = serde_json::from_str(text)
        .map_err(|_| StoreError::corrupt_item("unreadable flags column", folder, id))?;
    Ok(names.iter().map(|n| Flag::parse(n)).collect())
}

/// The stored name of an error kind (`"RateLimited"`).
fn encode_kind(kind: ErrorKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{kind:?}"),
    }
}

fn decode_kind(name: String, folder: &str, id: &str) -> std::result::Result<ErrorKind, StoreError> {
    serde_json::from_value(serde_json::Value::String(name))
        .map_err(|_| StoreError::corrupt_item("unknown error kind in failures", folder, id))
}

fn encode_state(state: LedgerState) -> i64 {
    match state {
        LedgerState::Pending => PENDING,
        LedgerState::Done => DONE,
    }
}

/// A ledger row encoded for its columns, owned so it can move to the blocking pool.
struct EncodedRow {
    src_folder: String,
    src_id: String,
    dest_folder: String,
    dest_id: Option<String>,
    hash: [u8; 32],
    message_id: Option<String>,
    flags: String,
    state: i64,
    size: Option<i64>,
    internal_date: Option<i64>,
    src_version: Option<String>,
    dest_version: Option<String>,
}

impl EncodedRow {
    fn new(e: &LedgerEntry) -> Self {
        Self {
            src_folder: e.src_folder.as_str().to_owned(),
            src_id: e.src_id.as_str().to_owned(),
            dest_folder: e.dest_folder.as_str().to_owned(),
            dest_id: e.dest_id.as_ref().map(|d| d.as_str().to_owned()),
            hash: *e.hash.as_bytes(),
            message_id: e.message_id.clone(),
            flags: encode_flags(&e.flags),
            state: encode_state(e.state),
            size: e.size.and_then(|n| i64::try_from(n).ok()),
            internal_date: e.internal_date.map(time::OffsetDateTime::unix_timestamp),
            src_version: e.src_version.clone(),
            dest_version: e.dest_version.clone(),
        }
    }
}

/// Whether the connection writes ahead to a log (a commit at `synchronous=NORMAL` then
/// loses at most its own durability, never the file's integrity).
fn in_wal_mode(conn: &Connection) -> std::result::Result<bool, StoreError> {
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    Ok(mode.eq_ignore_ascii_case("wal"))
}

/// Upserts ledger rows in one transaction, clearing the failures they replace.
fn record_rows(
    conn: &mut Connection,
    j: &str,
    rows: &[EncodedRow],
) -> std::result::Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        // Most jobs have no failures: skip the per-row delete when there is nothing
        // to clear.
        let has_failures: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM failures WHERE job = ?1)")?
            .query_row([&j], |r| r.get(0))?;
        let mut clear = if has_failures {
            Some(tx.prepare_cached(
                "DELETE FROM failures WHERE job = ?1 AND src_folder = ?2 AND src_id = ?3",
            )?)
        } else {
            None
        };
        let mut upsert = tx.prepare_cached(
            "INSERT INTO ledger (job, src_folder, src_id, dest_folder, dest_id, hash,
                                 message_id, flags, state, size, internal_date,
                                 src_version, dest_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (job, src_folder, src_id) DO UPDATE SET
                 dest_folder = excluded.dest_folder,
                 dest_id = excluded.dest_id,
                 hash = excluded.hash,
                 message_id = excluded.message_id,
                 flags = excluded.flags,
                 state = excluded.state,
                 size = excluded.size,
                 internal_date = excluded.internal_date,
                 src_version = excluded.src_version,
                 dest_version = excluded.dest_version",
        )?;
        for r in rows {
            upsert.execute(params![
                j,
                r.src_folder,
                r.src_id,
                r.dest_folder,
                r.dest_id,
                &r.hash[..],
                r.message_id,
                r.flags,
                r.state,
                r.size,
                r.internal_date,
                r.src_version,
                r.dest_version,
            ])?;
            if let Some(clear) = clear.as_mut() {
                clear.execute(params![j, r.src_folder, r.src_id])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// The columns [`read_entry`] expects, in order.
macro_rules! entry_columns {
    () => {
        "src_folder, src_id, dest_folder, dest_id, hash, message_id, flags, state, size, \
         internal_date, src_version, dest_version"
    };
}

/// The pending rows of a folder. Without statistics the planner would walk the whole folder
/// by primary key; the partial index holds only pending rows (`state = 0` spelled literally
/// to match its definition).
const SQL_PENDING: &str = concat!(
    "SELECT ",
    entry_columns!(),
    " FROM ledger INDEXED BY ledger_pending
      WHERE job = ?1 AND src_folder = ?2 AND state = 0 ORDER BY src_id"
);

/// Whether a destination id is claimed (served by the `ledger_claims` index).
const SQL_IS_CLAIMED: &str = "SELECT EXISTS (SELECT 1 FROM ledger
     WHERE job = ?1 AND dest_folder = ?2 AND dest_id = ?3)";

/// One page of a folder's rows after a source id (a primary-key range, no sort).
const SQL_PAGE_AFTER: &str = concat!(
    "SELECT ",
    entry_columns!(),
    " FROM ledger WHERE job = ?1 AND src_folder = ?2 AND src_id > ?3
      ORDER BY src_id LIMIT ?4"
);

/// Decodes one ledger row selected with [`entry_columns!`].
fn read_entry(row: &Row<'_>) -> std::result::Result<LedgerEntry, StoreError> {
    let src_folder: String = row.get(0)?;
    let src_id: String = row.get(1)?;
    let dest_folder: String = row.get(2)?;
    let dest_id: Option<String> = row.get(3)?;
    let hash: [u8; 32] = row
        .get_ref(4)?
        .as_blob()
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            StoreError::corrupt_item("content hash is not 32 bytes", &src_folder, &src_id)
        })?;
    let message_id: Option<String> = row.get(5)?;
    let flags = decode_flags(row.get_ref(6)?.as_str().unwrap_or(""), &src_folder, &src_id)?;
    let state = match row.get::<_, i64>(7)? {
        PENDING => LedgerState::Pending,
        DONE => LedgerState::Done,
        other => {
            return Err(StoreError::corrupt_item(
                format!("unknown ledger state {other}"),
                &src_folder,
                &src_id,
            ))
        }
    };
    Ok(LedgerEntry::new(
        FolderId::new(src_folder),
        MessageId::new(src_id),
        FolderId::new(dest_folder),
        dest_id.map(MessageId::new),
        ContentHash::from_bytes(hash),
        message_id,
        flags,
        state,
    )
    .with_size(
        row.get::<_, Option<i64>>(8)?
            .and_then(|n| u64::try_from(n).ok()),
    )
    .with_internal_date(
        row.get::<_, Option<i64>>(9)?
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()),
    )
    .with_versions(row.get(10)?, row.get(11)?))
}

/// Collects ledger rows from a prepared query.
fn collect_entries(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> std::result::Result<Vec<LedgerEntry>, StoreError> {
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(read_entry(row)?);
    }
    Ok(out)
}

/// Adds the job and folder to an error's context.
fn scoped(e: Error, job: &str, folder: Option<&FolderId>) -> Error {
    let e = e.with_context("job", job);
    match folder {
        Some(f) if e.context("folder").is_none() => e.with_context("folder", f),
        _ => e,
    }
}

#[async_trait]
impl StateStore for SqliteState {
    async fn checkpointed_folders(&self, job: &str) -> Result<Vec<FolderId>> {
        let j = job.to_owned();
        self.run(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT src_folder FROM checkpoints WHERE job = ?1")?;
            let rows = stmt.query_map([&j], |r| r.get::<_, String>(0))?;
            Ok(rows
                .collect::<rusqlite::Result<Vec<String>>>()?
                .into_iter()
                .map(FolderId::new)
                .collect())
        })
        .await
        .map_err(|e| scoped(e, job, None))
    }

    async fn checkpoint(&self, job: &str, src_folder: &FolderId) -> Result<Option<Checkpoint>> {
        let (j, f) = (job.to_owned(), src_folder.as_str().to_owned());
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT checkpoint FROM checkpoints WHERE job = ?1 AND src_folder = ?2",
            )?;
            Ok(stmt
                .query_row(params![j, f], |r| r.get::<_, String>(0))
                .optional()?
                .map(Checkpoint::new))
        })
        .await
        .map_err(|e| scoped(e, job, Some(src_folder)))
    }

    async fn set_checkpoint(
        &self,
        job: &str,
        src_folder: &FolderId,
        cp: &Checkpoint,
    ) -> Result<()> {
        let (j, f, c) = (
            job.to_owned(),
            src_folder.as_str().to_owned(),
            cp.as_str().to_owned(),
        );
        self.run(move |conn| {
            conn.prepare_cached(
                "INSERT INTO checkpoints (job, src_folder, checkpoint) VALUES (?1, ?2, ?3)
                 ON CONFLICT (job, src_folder) DO UPDATE SET checkpoint = excluded.checkpoint",
            )?
            .execute(params![j, f, c])?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, job, Some(src_folder)))
    }

    async fn lookup(
        &self,
        job: &str,
        src_folder: &FolderId,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, LedgerEntry>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let (j, f, ids) = (job.to_owned(), src_folder.as_str().to_owned(), ids.to_vec());
        self.run(move |conn| {
            let tx = conn.transaction()?;
            let mut out = HashMap::with_capacity(ids.len());
            {
                let mut stmt = tx.prepare_cached(concat!(
                    "SELECT ",
                    entry_columns!(),
                    " FROM ledger WHERE job = ?1 AND src_folder = ?2 AND src_id = ?3"
                ))?;
                for id in ids {
                    let mut rows = stmt.query(params![j, f, id.as_str()])?;
                    if let Some(row) = rows.next()? {
                        let entry = read_entry(row)?;
                        drop(rows);
                        out.insert(id, entry);
                    }
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| scoped(e, job, Some(src_folder)))
    }

    async fn record(&self, job: &str, entries: &[LedgerEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let j = job.to_owned();
        let rows: Vec<EncodedRow> = entries.iter().map(EncodedRow::new).collect();
        self.run(move |conn| {
            // Rows that only confirm writes need not reach the disk before the call returns
            // (see "Durability"): in WAL mode such a commit skips its sync, and the next
            // synced one carries it.
            let relaxed = rows.iter().all(|r| r.state == DONE) && in_wal_mode(conn)?;
            if relaxed {
                conn.pragma_update(None, "synchronous", "NORMAL")?;
            }
            let written = record_rows(conn, &j, &rows);
            if relaxed {
                conn.pragma_update(None, "synchronous", "FULL")?;
            }
            written
        })
        .await
        .map_err(|e| scoped(e, job, None))
    }

    async fn pending(&self, job: &str, src_folder: &FolderId) -> Result<Vec<LedgerEntry>> {
        let (j, f) = (job.to_owned(), src_folder.as_str().to_owned());
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(SQL_PENDING)?;
            collect_entries(&mut stmt, params![j, f])
        })
        .await
        .map_err(|e| scoped(e, job, Some(src_folder)))
    }

    async fn is_claimed(
        &self,
        job: &str,
        dest_folder: &FolderId,
        dest_id: &MessageId,
    ) -> Result<bool> {
        let (j, f, d) = (
            job.to_owned(),
            dest_folder.as_str().to_owned(),
            dest_id.as_str().to_owned(),
        );
        self.run(move |conn| {
            Ok(conn
                .prepare_cached(SQL_IS_CLAIMED)?
                .query_row(params![j, f, d], |r| r.get(0))?)
        })
        .await
        .map_err(|e| scoped(e, job, Some(dest_folder)))
    }

    async fn remove(&self, job: &str, src_folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let (j, f, ids) = (job.to_owned(), src_folder.as_str().to_owned(), ids.to_vec());
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(
                    "DELETE FROM ledger WHERE job = ?1 AND src_folder = ?2 AND src_id = ?3",
                )?;
                for id in &ids {
                    stmt.execute(params![j, f, id.as_str()])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, job, Some(src_folder)))
    }

    async fn reset_folder(&self, job: &str, src_folder: &FolderId) -> Result<()> {
        let (j, f) = (job.to_owned(), src_folder.as_str().to_owned());
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for sql in [
                "DELETE FROM checkpoints WHERE job = ?1 AND src_folder = ?2",
                "DELETE FROM ledger WHERE job = ?1 AND src_folder = ?2",
                "DELETE FROM failures WHERE job = ?1 AND src_folder = ?2",
            ] {
                tx.prepare_cached(sql)?.execute(params![j, f])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, job, Some(src_folder)))
    }

    async fn page(
        &self,
        job: &str,
        src_folder: &FolderId,
        after: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (j, f) = (job.to_owned(), src_folder.as_str().to_owned());
        let after = after.map(|a| a.as_str().to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |conn| match after {
            Some(a) => {
                let mut stmt = conn.prepare_cached(SQL_PAGE_AFTER)?;
                collect_entries(&mut stmt, params![j, f, a, limit])
            }
            None => {
                let mut stmt = conn.prepare_cached(concat!(
                    "SELECT ",
                    entry_columns!(),
                    " FROM ledger WHERE job = ?1 AND src_folder = ?2 ORDER BY src_id LIMIT ?3"
                ))?;
                collect_entries(&mut stmt, params![j, f, limit])
            }
        })
        .await
        .map_err(|e| scoped(e, job, Some(src_folder)))
    }

    async fn record_failure(&self, job: &str, failure: &ItemFailure) -> Result<()> {
        let j = job.to_owned();
        let (f, id, kind, message, final_) = (
            failure.src_folder.as_str().to_owned(),
            failure.src_id.as_str().to_owned(),
            encode_kind(failure.kind),
            failure.message.clone(),
            i64::from(failure.final_for_item),
        );
        self.run(move |conn| {
            conn.prepare_cached(
                "INSERT INTO failures (job, src_folder, src_id, kind, message, final)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (job, src_folder, src_id) DO UPDATE SET
                     kind = excluded.kind, message = excluded.message, final = excluded.final",
            )?
            .execute(params![j, f, id, kind, message, final_])?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, job, None).with_item(&failure.src_folder, &failure.src_id))
    }

    async fn failures(&self, job: &str) -> Result<Vec<ItemFailure>> {
        let j = job.to_owned();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT src_folder, src_id, kind, message, final FROM failures WHERE job = ?1
                 ORDER BY src_folder, src_id",
            )?;
            let mut rows = stmt.query([&j])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let folder: String = row.get(0)?;
                let id: String = row.get(1)?;
                let kind = decode_kind(row.get(2)?, &folder, &id)?;
                let message: String = row.get(3)?;
                let final_: i64 = row.get(4)?;
                out.push(
                    ItemFailure::new(FolderId::new(folder), MessageId::new(id), kind, message)
                        .with_final(final_ == 1),
                );
            }
            Ok(out)
        })
        .await
        .map_err(|e| scoped(e, job, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::suite;

    fn raw(path: &Path) -> Connection {
        Connection::open(path).unwrap()
    }

    fn corrupt_err(r: Result<SqliteState>) -> Error {
        let e = r.expect_err("opening must fail");
        assert_eq!(e.kind(), ErrorKind::StateCorrupt, "{e:?}");
        e
    }

    #[tokio::test]
    async fn in_memory_store_passes_the_suite() {
        suite::run_all(&SqliteState::open_in_memory().unwrap()).await;
    }

    #[tokio::test]
    async fn in_memory_store_passes_the_campaign_suite() {
        suite::run_all_campaign(&SqliteState::open_in_memory().unwrap()).await;
    }

    /// A state file written before campaigns existed (schema 4, made here with the old
    /// schema's SQL) opens: its ledger is intact and campaigns can be stored in it.
    #[tokio::test]
    async fn a_version_4_file_opens_keeping_its_ledger_and_gains_campaigns() {
        use crate::campaign::{CampaignRecord, CampaignStore, MailboxStatus};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.sqlite");
        let c = raw(&path);
        for step in &MIGRATIONS[..4] {
            c.execute_batch(step).unwrap();
        }
        c.execute_batch(
            "INSERT INTO ledger VALUES ('j', 'INBOX', '1:7', 'Inbox', '9', zeroblob(32), '<7@x>',
                                        '[\"\\\\Seen\"]', 1, 120, 1700000000, NULL, NULL);
             INSERT INTO checkpoints VALUES ('j', 'INBOX', '1:8');",
        )
        .unwrap();
        c.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        c.pragma_update(None, "user_version", 4).unwrap();
        drop(c);

        let state = SqliteState::open(&path).unwrap();
        let inbox = FolderId::new("INBOX");
        let rows = state.page("j", &inbox, None, 10).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].size, Some(120));
        assert!(rows[0].flags.contains(&Flag::Seen), "{:?}", rows[0].flags);
        assert_eq!(
            state.checkpoint("j", &inbox).await.unwrap(),
            Some(Checkpoint::new("1:8"))
        );
        assert_eq!(state.campaign("acme").await.unwrap(), None);

        let t = time::macros::datetime!(2025-03-01 20:00 UTC);
        state
            .put_campaign(&CampaignRecord::new("acme", "h", t))
            .await
            .unwrap();
        let s = MailboxStatus::new("ann@old.example", "ann@new.example", "pilot", t);
        state.apply("acme", &s, Some(&s.entered())).await.unwrap();
        drop(state);
        let version: i64 = raw(&path)
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let state = SqliteState::open(&path).unwrap();
        assert_eq!(state.mailboxes("acme").await.unwrap(), vec![s]);
        suite::run_all_campaign(&state).await;
    }

    #[test]
    fn new_file_gets_schema_version_and_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let state = SqliteState::open(&path).unwrap();
        assert_eq!(state.path(), Some(path.as_path()));
        drop(state);
        let c = raw(&path);
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        let app: i32 = c
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .unwrap();
        let mode: String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(
            (v, app, mode.as_str()),
            (SCHEMA_VERSION, APPLICATION_ID, "wal")
        );
        // Reopening an up-to-date file changes nothing.
        drop(c);
        SqliteState::open(&path).unwrap();
    }

    #[test]
    fn newer_schema_version_is_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        drop(SqliteState::open(&path).unwrap());
        raw(&path)
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let e = corrupt_err(SqliteState::open(&path));
        assert!(e.message().contains("newer"), "{e}");
        assert_eq!(e.context("path"), Some(path.display().to_string().as_str()));
        assert_eq!(e.provider(), "sqlite");
        assert_eq!(e.operation(), Operation::State);
    }

    #[test]
    fn other_applications_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        raw(&path)
            .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');")
            .unwrap();
        let e = corrupt_err(SqliteState::open(&path));
        assert!(e.message().contains("not a mailmigrate state file"), "{e}");
        let c = raw(&path);
        let tables: i64 = c
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 1, "a refused file must not be modified");
        let mode: String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete", "a refused file keeps its journal mode");
    }

    #[test]
    fn missing_table_is_state_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        drop(SqliteState::open(&path).unwrap());
        raw(&path).execute_batch("DROP TABLE failures").unwrap();
        let e = corrupt_err(SqliteState::open(&path));
        assert!(e.message().contains("failures"), "{e}");
    }

    #[test]
    fn garbage_file_is_state_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage.sqlite");
        std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
        let e = corrupt_err(SqliteState::open(&path));
        assert!(e.to_string().contains("garbage.sqlite"), "{e}");
    }

    #[test]
    fn missing_directory_is_config_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/s.sqlite");
        let e = SqliteState::open(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{e:?}");
        assert!(e.to_string().contains("no/such/dir"), "{e}");
    }

    #[tokio::test]
    async fn every_call_is_synced_to_disk_before_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let state = SqliteState::open(dir.path().join("s.sqlite")).unwrap();
        // 2 = FULL: the pending row is on disk before the write it guards.
        let sync: i64 = state
            .run(|c| Ok(c.pragma_query_value(None, "synchronous", |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(sync, 2);
    }

    #[tokio::test]
    async fn done_rows_commit_unsynced_and_leave_the_connection_synced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let state = SqliteState::open(&path).unwrap();
        let mut row = suite::entry("INBOX", "1:1", "Inbox", None, LedgerState::Pending);
        state.record("j", &[row.clone()]).await.unwrap();
        row.state = LedgerState::Done;
        row.dest_id = Some(MessageId::new("9"));
        state.record("j", &[row.clone()]).await.unwrap();
        let sync: i64 = state
            .run(|c| Ok(c.pragma_query_value(None, "synchronous", |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(sync, 2, "FULL again for the next pending rows");
        drop(state);
        let reopened = SqliteState::open(&path).unwrap();
        let got = reopened
            .lookup("j", &FolderId::new("INBOX"), &[MessageId::new("1:1")])
            .await
            .unwrap();
        assert_eq!(got.values().next(), Some(&row));
    }

    #[tokio::test]
    async fn a_version_1_file_is_migrated_keeping_rows_and_finality() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        let c = raw(&path);
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.execute_batch(
            "INSERT INTO ledger VALUES ('j', 'INBOX', '1:7', 'Inbox', '9', zeroblob(32), NULL, '[]', 1);
             INSERT INTO failures VALUES ('j', 'INBOX', '1:8', 'InvalidMessage', 'bad');
             INSERT INTO failures VALUES ('j', 'INBOX', '1:9', 'Unavailable', 'down');",
        )
        .unwrap();
        c.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        drop(c);
        let state = SqliteState::open(&path).unwrap();
        let rows = state
            .page("j", &FolderId::new("INBOX"), None, 10)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].size, None, "older rows have no size");
        assert_eq!(rows[0].internal_date, None, "nor a written date");
        let f = state.failures("j").await.unwrap();
        let finality: Vec<bool> = f.iter().map(|f| f.final_for_item).collect();
        assert_eq!(finality, [true, false]);
    }

    #[tokio::test]
    async fn undecodable_row_is_state_corrupt_naming_the_item() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let state = SqliteState::open(&path).unwrap();
        let c = raw(&path);
        c.execute_batch(
            "PRAGMA ignore_check_constraints = ON;
             INSERT INTO ledger VALUES ('j', 'INBOX', '1:7', 'Inbox', NULL, x'00', NULL, '[]', 1, NULL, NULL, NULL, NULL);
             INSERT INTO failures VALUES ('j', 'INBOX', '1:8', 'NoSuchKind', 'm', 0);",
        )
        .unwrap();
        let e = state
            .page("j", &FolderId::new("INBOX"), None, 10)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StateCorrupt);
        assert_eq!(e.context("message"), Some("1:7"));
        assert_eq!(e.context("folder"), Some("INBOX"));
        assert_eq!(e.context("job"), Some("j"));
        let e = state.failures("j").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StateCorrupt);
        assert_eq!(e.context("message"), Some("1:8"));
    }

    #[test]
    fn claims_and_pending_queries_use_their_indexes() {
        let state = SqliteState::open_in_memory().unwrap();
        let conn = lock(&state.conn);
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            // Parameters stay unbound: only the plan is wanted.
            let mut rows = stmt.raw_query();
            let mut steps = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                steps.push(row.get::<_, String>(3).unwrap());
            }
            steps.join("; ")
        };
        let claims = plan(SQL_IS_CLAIMED);
        assert!(claims.contains("ledger_claims"), "{claims}");
        let pending = plan(SQL_PENDING);
        assert!(pending.contains("ledger_pending"), "{pending}");
        assert!(
            !pending.contains("TEMP B-TREE"),
            "pending must not sort: {pending}"
        );
        let page = plan(SQL_PAGE_AFTER);
        assert!(!page.contains("TEMP B-TREE"), "page must not sort: {page}");
        assert!(!page.contains("SCAN"), "page must seek, not scan: {page}");
    }

    #[test]
    fn debug_shows_only_the_path() {
        let state = SqliteState::open_in_memory().unwrap();
        assert_eq!(
            format!("{state:?}"),
            "SqliteState { path: \":memory:\", .. }"
        );
    }

    #[test]
    fn calls_work_outside_a_tokio_runtime() {
        let state = SqliteState::open_in_memory().unwrap();
        let f = FolderId::new("INBOX");
        futures::executor::block_on(async {
            state
                .set_checkpoint("j", &f, &Checkpoint::new("1"))
                .await
                .unwrap();
            assert_eq!(
                state.checkpoint("j", &f).await.unwrap(),
                Some(Checkpoint::new("1"))
            );
        });
    }

    #[test]
    fn flags_and_kinds_round_trip_through_their_columns() {
        let flags: Flags = [
            Flag::Seen,
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Draft,
            Flag::Keyword("$Forwarded".into()),
            Flag::Keyword("with \"quotes\" and \\ and spaces".into()),
        ]
        .into_iter()
        .collect();
        let text = encode_flags(&flags);
        assert!(text.starts_with("[\"\\\\Seen\""), "{text}");
        assert_eq!(decode_flags(&text, "f", "i").unwrap(), flags);
        assert_eq!(encode_flags(&Flags::new()), "[]");
        for kind in [
            ErrorKind::RateLimited,
            ErrorKind::MessageTooLarge,
            ErrorKind::StateCorrupt,
        ] {
            assert_eq!(decode_kind(encode_kind(kind), "f", "i").unwrap(), kind);
        }
        assert_eq!(encode_kind(ErrorKind::NotFound), "NotFound");
    }

    #[test]
    fn sqlite_errors_map_to_kinds() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let e = StoreError::from(busy).into_error("/x/s.sqlite");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_temporary(), "a rolled-back busy call may be repeated");
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert_eq!(
            StoreError::from(full).into_error("p").kind(),
            ErrorKind::QuotaExceeded
        );
        let corrupt = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            None,
        );
        let e = StoreError::from(corrupt).into_error("/x/s.sqlite");
        assert_eq!(e.kind(), ErrorKind::StateCorrupt);
        assert_eq!(e.context("path"), Some("/x/s.sqlite"));
    }
}

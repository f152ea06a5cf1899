//! The shared durable [`StateStore`]: checkpoints, the ledger, failures, campaigns and
//! mailbox leases in one schema of a PostgreSQL database, for runners on several machines.
//! See [`PostgresState`].

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::{ItemFailure, LedgerEntry, LedgerState, StateStore};
use crate::{Checkpoint, ContentHash, Error, ErrorKind, Flag, Flags, FolderId, MessageId};
use crate::{Operation, Result};

mod campaign;

/// The provider name used in errors.
const PROVIDER: &str = "postgres";

/// What `mailmigrate_meta.application` holds in a mailmigrate schema.
const APPLICATION: &str = "mailmigrate-state";

/// Schema migrations: `MIGRATIONS[v]` upgrades a schema from version `v` to `v + 1`.
///
/// Text columns that are keys or ordered (`job`, folders, ids, campaigns, mailboxes) use the
/// `"C"` collation: byte order, as [`MessageId`]'s `Ord` and SQLite's `BINARY`.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the whole schema of SQLite's version 6 (ledger, failures, campaigns, leases).
    r#"CREATE TABLE mailmigrate_meta (
         singleton   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
         application TEXT NOT NULL,
         version     INTEGER NOT NULL
     );
     CREATE TABLE checkpoints (
         job        TEXT COLLATE "C" NOT NULL,
         src_folder TEXT COLLATE "C" NOT NULL,
         checkpoint TEXT NOT NULL,
         PRIMARY KEY (job, src_folder)
     );
     CREATE TABLE ledger (
         job           TEXT COLLATE "C" NOT NULL,
         src_folder    TEXT COLLATE "C" NOT NULL,
         src_id        TEXT COLLATE "C" NOT NULL,
         dest_folder   TEXT COLLATE "C" NOT NULL,
         dest_id       TEXT COLLATE "C",
         hash          BYTEA NOT NULL CHECK (octet_length(hash) = 32),
         message_id    TEXT,
         flags         TEXT NOT NULL,
         state         SMALLINT NOT NULL CHECK (state IN (0, 1)),
         size          BIGINT,
         internal_date BIGINT,
         src_version   TEXT,
         dest_version  TEXT,
         PRIMARY KEY (job, src_folder, src_id)
     );
     CREATE INDEX ledger_claims ON ledger (job, dest_folder, dest_id)
         WHERE dest_id IS NOT NULL;
     CREATE INDEX ledger_pending ON ledger (job, src_folder, src_id) WHERE state = 0;
     CREATE TABLE failures (
         job        TEXT COLLATE "C" NOT NULL,
         src_folder TEXT COLLATE "C" NOT NULL,
         src_id     TEXT COLLATE "C" NOT NULL,
         kind       TEXT NOT NULL,
         message    TEXT NOT NULL,
         final      BOOLEAN NOT NULL DEFAULT FALSE,
         PRIMARY KEY (job, src_folder, src_id)
     );
     CREATE TABLE campaigns (
         campaign TEXT COLLATE "C" NOT NULL PRIMARY KEY,
         record   TEXT NOT NULL
     );
     CREATE TABLE campaign_mailboxes (
         campaign TEXT COLLATE "C" NOT NULL,
         mailbox  TEXT COLLATE "C" NOT NULL,
         stage    TEXT NOT NULL,
         status   TEXT NOT NULL,
         PRIMARY KEY (campaign, mailbox)
     );
     CREATE TABLE campaign_history (
         campaign   TEXT COLLATE "C" NOT NULL,
         mailbox    TEXT COLLATE "C" NOT NULL,
         seq        BIGINT NOT NULL,
         transition TEXT NOT NULL,
         PRIMARY KEY (campaign, mailbox, seq),
         FOREIGN KEY (campaign, mailbox) REFERENCES campaign_mailboxes (campaign, mailbox)
     );
     CREATE TABLE campaign_leases (
         campaign TEXT COLLATE "C" NOT NULL,
         mailbox  TEXT COLLATE "C" NOT NULL,
         worker   TEXT NOT NULL,
         expires  TIMESTAMPTZ NOT NULL,
         PRIMARY KEY (campaign, mailbox)
     );"#,
];

/// The schema version this build writes.
const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The tables every valid schema has.
const TABLES: [&str; 8] = [
    "mailmigrate_meta",
    "checkpoints",
    "ledger",
    "failures",
    "campaigns",
    "campaign_mailboxes",
    "campaign_history",
    "campaign_leases",
];

/// `state` column values.
const PENDING: i16 = 0;
const DONE: i16 = 1;

/// How a [`PostgresState`] connects: the schema its tables live in, the pool size, extra
/// trusted certificate authorities and timeouts.
///
/// ```
/// use std::time::Duration;
/// use mailmigrate_core::state::PostgresOptions;
/// let o = PostgresOptions::default()
///     .with_schema("acme_2025")
///     .with_pool_size(8)
///     .with_connect_timeout(Duration::from_secs(5));
/// assert_eq!(o.schema, "acme_2025");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The schema holding the tables (created if missing; default `mailmigrate`). Lower-case
    /// letters, digits and `_`, not starting with a digit, at most 63 bytes.
    pub schema: String,
    /// The most connections the store keeps open (default 4).
    pub pool_size: usize,
    /// A PEM file of certificate authorities trusted besides the webpki roots (a private
    /// CA that signed the server's certificate).
    pub ca_file: Option<PathBuf>,
    /// How long connecting (and waiting for a free connection) may take (default 10 s).
    pub connect_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            schema: "mailmigrate".to_owned(),
            pool_size: 4,
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl PostgresOptions {
    /// Sets the schema holding the tables.
    #[must_use]
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Sets the most connections kept open (at least 1).
    #[must_use]
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Trusts the certificate authorities of a PEM file besides the webpki roots.
    #[must_use]
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Sets how long connecting may take.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// Keeps migration state in a PostgreSQL database that runners on several machines share.
///
/// The project's rule: SQLite ([`SqliteState`](super::SqliteState)) for state by default,
/// PostgreSQL where many machines share a migration. This store holds the same things —
/// checkpoints, the exactly-once ledger, failures, and for
/// [`CampaignStore`](crate::campaign::CampaignStore) campaigns, mailbox statuses, their
/// history and the mailbox leases — with the same semantics, and passes the same
/// conformance suite ([`state::suite`](super::suite)).
///
/// Open it once per process and share it: it is `Send + Sync`, and a clone is another handle
/// to the same connection pool.
///
/// # Connecting
/// [`connect`](Self::connect) takes a libpq-style URL
/// (`postgres://user:password@host:5432/dbname?sslmode=require`) or key/value string. The
/// password never appears in errors or in `Debug`: both name only `user@host:port/dbname`
/// and the schema. TLS uses rustls with the webpki roots (and
/// [`PostgresOptions::ca_file`]), and the server's certificate and name are always
/// verified. `sslmode=disable` connects in plain text, `prefer` tries TLS first, `require`
/// insists on it; a URL without `sslmode` to a host other than the loopback or a Unix
/// socket is treated as `require`, so a remote state database is never reached in plain
/// text by default.
///
/// # Atomicity and durability
/// Every call is one statement or one transaction: a call interrupted at any point (the
/// future dropped, the connection cut) leaves all of its rows or none. A call that returned
/// `Ok` is committed with the server's `synchronous_commit`, except a `record` of only
/// `Done` rows, which commits with `synchronous_commit = off` for the reason
/// [`SqliteState`](super::SqliteState) skips that sync: lost in a crash, the rows it
/// replaced are still pending and are settled by a look-up, and the server's log keeps
/// commits in order, so the next synchronous commit makes it durable too.
///
/// # Concurrency
/// Campaign moves are compare-and-set in SQL: [`apply`](crate::campaign::CampaignStore::apply)
/// locks the mailbox's row (`SELECT … FOR UPDATE`), checks the stored stage with
/// [`check_apply`](crate::campaign::check_apply) and updates only `WHERE stage = $from` (a
/// new mailbox is `INSERT … ON CONFLICT DO NOTHING`), so two machines can never both move a
/// mailbox from the same stage. Leases ([`claim`](crate::campaign::CampaignStore::claim))
/// are one upsert judged by the database's clock, so machines whose clocks disagree still
/// agree on who holds a mailbox.
///
/// # Schema
/// The tables live in one schema ([`PostgresOptions::schema`], default `mailmigrate`),
/// created on first open with a `mailmigrate_meta` row naming the application and the
/// schema version; an older version is migrated on open (under an advisory lock, so
/// machines opening together migrate once), a newer one or a schema holding other tables
/// is refused. Tables mirror SQLite's: `checkpoints`, `ledger` (hash `BYTEA`, flags a JSON
/// array of their IMAP spelling), `failures`, `campaigns`, `campaign_mailboxes`,
/// `campaign_history` (records JSON text) and `campaign_leases` (expiry `TIMESTAMPTZ`). Ids
/// are `TEXT COLLATE "C"`, so pages are in byte order; PostgreSQL text cannot hold a NUL
/// character: a call with an id containing one fails with `InvalidMessage`.
///
/// # Examples
/// ```no_run
/// use mailmigrate_core::state::{PostgresOptions, PostgresState, StateStore};
/// use mailmigrate_core::{Checkpoint, FolderId};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> mailmigrate_core::Result<()> {
/// let state = PostgresState::connect_with(
///     "postgres://mailmigrate:secret@db.example.net/migrations",
///     PostgresOptions::default().with_schema("acme_2025"),
/// )
/// .await?;
/// let inbox = FolderId::new("INBOX");
/// state.set_checkpoint("alice", &inbox, &Checkpoint::new("7:100")).await?;
/// assert_eq!(state.checkpoint("alice", &inbox).await?, Some(Checkpoint::new("7:100")));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresState {
    pool: Pool,
    /// `user@host:port/dbname`, without the password, for errors and `Debug`.
    label: Arc<str>,
    schema: Arc<str>,
}

/// Debug shows where the database is (never the password) and the schema.
impl fmt::Debug for PostgresState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresState")
            .field("target", &&*self.label)
            .field("schema", &&*self.schema)
            .finish_non_exhaustive()
    }
}

/// What can go wrong inside the store, mapped into [`Error`] in one place.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error(transparent)]
    Sql(#[from] tokio_postgres::Error),
    #[error("{0}")]
    Pool(String, ErrorKind, bool),
    #[error("{what}")]
    Corrupt {
        what: String,
        item: Option<(String, String)>,
    },
    /// A refusal decided above PostgreSQL (a campaign move that conflicts), passed on as is.
    #[error(transparent)]
    Refused(Box<Error>),
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => Self::Sql(e),
            PoolError::Timeout(_) => Self::Pool(
                "timed out waiting for a connection to the state database".to_owned(),
                ErrorKind::Unavailable,
                true,
            ),
            PoolError::Closed => Self::Pool(
                "the state store's connection pool is closed".to_owned(),
                ErrorKind::Unexpected,
                false,
            ),
            other => Self::Pool(
                format!("cannot get a connection to the state database: {other}"),
                ErrorKind::Unexpected,
                false,
            ),
        }
    }
}

impl StoreError {
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
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

    /// Maps a failure into the workspace error, naming the database (never the password).
    fn into_error(self, target: &str, schema: &str) -> Error {
        let err = match self {
            Self::Sql(e) => {
                let (kind, temporary, message) = classify(&e);
                let err = Error::new(kind, message);
                let err = if temporary { err.temporary() } else { err };
                err.with_source(e)
            }
            Self::Pool(what, kind, temporary) => {
                let err = Error::new(kind, what);
                if temporary {
                    err.temporary()
                } else {
                    err
                }
            }
            Self::Corrupt { what, item } => {
                let err = Error::new(ErrorKind::StateCorrupt, what);
                match item {
                    Some((folder, id)) => err.with_item(folder, id),
                    None => err,
                }
            }
            Self::Refused(e) => *e,
        };
        err.with_provider(PROVIDER)
            .with_operation(Operation::State)
            .with_context("target", target)
            .with_context("schema", schema)
    }
}

/// Kind, retry status and message of a PostgreSQL error.
fn classify(e: &tokio_postgres::Error) -> (ErrorKind, bool, String) {
    let Some(db) = e.as_db_error() else {
        // No server error: the connection failed, closed or timed out.
        return (
            ErrorKind::Unavailable,
            true,
            format!("cannot reach the state database: {e}"),
        );
    };
    let code = db.code();
    let text = format!("{}: {}", db.severity(), db.message());
    let class = &code.code()[..2];
    let (kind, temporary) = if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::QUERY_CANCELED
    {
        (ErrorKind::Unavailable, true)
    } else if *code == SqlState::DISK_FULL || *code == SqlState::PROGRAM_LIMIT_EXCEEDED {
        (ErrorKind::QuotaExceeded, false)
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        (ErrorKind::PermissionDenied, false)
    } else if *code == SqlState::INVALID_CATALOG_NAME || *code == SqlState::INVALID_SCHEMA_NAME {
        (ErrorKind::ConfigInvalid, false)
    } else if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE
        || *code == SqlState::UNTRANSLATABLE_CHARACTER
    {
        (ErrorKind::InvalidMessage, false)
    } else {
        match class {
            // Connection exceptions, insufficient resources, operator intervention (server
            // shutting down), system errors.
            "08" | "53" | "57" | "58" => (ErrorKind::Unavailable, true),
            // Invalid authorization (wrong password, no such role).
            "28" => (ErrorKind::Unauthenticated, false),
            // Undefined tables or columns: the schema was damaged after opening.
            "42" => (ErrorKind::StateCorrupt, false),
            _ => (ErrorKind::Unexpected, false),
        }
    };
    (kind, temporary, text)
}

/// Whether `schema` is a plain lower-case identifier (needs no quoting, cannot inject).
fn valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63
        && !schema.starts_with("pg_")
}

/// `user@host:port/dbname` of a configuration: everything needed to find the database,
/// nothing that opens it.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost".to_owned()
    } else {
        hosts.join(",")
    };
    let user = config
        .get_user()
        .map_or_else(String::new, |u| format!("{u}@"));
    let db = config.get_dbname().unwrap_or("");
    format!("{user}{hosts}/{db}")
}

/// Whether every host is this machine (a loopback address, `localhost` or a Unix socket).
fn only_local(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().all(|h| match h {
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    })
}

/// The rustls client configuration: webpki roots, plus the CAs of `ca_file`.
fn tls_config(ca_file: Option<&PathBuf>) -> std::result::Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| format!("unreadable CA file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("invalid certificate in {}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("no certificate in the CA file {}", path.display()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl PostgresState {
    /// Connects to the database at `url` with the default [`PostgresOptions`] (schema
    /// `mailmigrate`), creating or migrating the schema.
    ///
    /// # Errors
    /// As [`connect_with`](Self::connect_with).
    ///
    /// # Examples
    /// ```no_run
    /// use mailmigrate_core::state::PostgresState;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> mailmigrate_core::Result<()> {
    /// let state = PostgresState::connect("postgres://mm@127.0.0.1:5432/mailmigrate").await?;
    /// assert_eq!(state.schema(), "mailmigrate");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Connects to the database at `url`, creating the schema named in `options` (and its
    /// tables) if it does not exist, or migrating one written by an older version.
    ///
    /// # Errors
    /// - `ConfigInvalid` for a URL that does not parse (the error does not repeat it), an
    ///   invalid schema name, an unreadable CA file, or a database that does not exist;
    /// - `Unauthenticated` when the server refuses the credentials;
    /// - `Unavailable` (temporary) when the server cannot be reached;
    /// - `StateCorrupt` when the schema holds tables of another application, lacks one of
    ///   ours, or was written by a newer mailmigrate.
    ///
    /// Every error names `user@host:port/dbname` and the schema, never the password.
    ///
    /// # Examples
    /// ```no_run
    /// use mailmigrate_core::state::{PostgresOptions, PostgresState};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> mailmigrate_core::Result<()> {
    /// let state = PostgresState::connect_with(
    ///     "host=db.example.net user=mm password=secret dbname=mm sslmode=require",
    ///     PostgresOptions::default().with_schema("acme").with_ca_file("/etc/mm/ca.pem"),
    /// )
    /// .await?;
    /// assert_eq!(state.target(), "mm@db.example.net/mm");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self> {
        let schema: Arc<str> = Arc::from(options.schema.as_str());
        let invalid = |what: String, target: &str| {
            Error::new(ErrorKind::ConfigInvalid, what)
                .with_provider(PROVIDER)
                .with_operation(Operation::State)
                .with_context("target", target)
                .with_context("schema", &schema)
        };
        // The parser's message may quote the string, password and all: not passed on.
        let mut config = tokio_postgres::Config::from_str(url).map_err(|_| {
            invalid(
                "invalid PostgreSQL connection URL (expected postgres://user@host/dbname or \
                 key=value pairs)"
                    .to_owned(),
                "(unparsable)",
            )
        })?;
        let label: Arc<str> = Arc::from(describe(&config));
        if !valid_schema(&schema) {
            return Err(invalid(
                format!(
                    "invalid schema name {:?}: lower-case letters, digits and `_`, not \
                     starting with a digit or `pg_`, at most 63 bytes",
                    &*schema
                ),
                &label,
            ));
        }
        if !url.contains("sslmode") && !only_local(&config) {
            config.ssl_mode(SslMode::Require);
        }
        // Every connection of the pool works in the schema.
        let search_path = format!("-c search_path={schema}");
        let opts = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} {search_path}"),
            _ => search_path,
        };
        config.options(opts);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("mailmigrate");
        }
        let tls = tls_config(options.ca_file.as_ref()).map_err(|e| invalid(e, &label))?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| invalid(format!("cannot build the connection pool: {e}"), &label))?;
        let state = Self {
            pool,
            label,
            schema,
        };
        state
            .run(async { migrate(&mut state.conn().await?, &state.schema).await })
            .await?;
        Ok(state)
    }

    /// The schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Where the database is: `user@host:port/dbname`, without the password.
    pub fn target(&self) -> &str {
        &self.label
    }

    /// Drops the schema and everything in it (for tests that made a schema of their own).
    ///
    /// # Errors
    /// As the server reports.
    ///
    /// # Examples
    /// ```no_run
    /// use mailmigrate_core::state::{PostgresOptions, PostgresState};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> mailmigrate_core::Result<()> {
    /// let opts = PostgresOptions::default().with_schema("scratch_1");
    /// let state = PostgresState::connect_with("postgres://mm@127.0.0.1/mm", opts).await?;
    /// state.drop_schema().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn drop_schema(&self) -> Result<()> {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        self.run(async {
            self.conn().await?.batch_execute(&sql).await?;
            Ok(())
        })
        .await
    }

    /// A connection from the pool.
    async fn conn(&self) -> std::result::Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// Awaits `work` and maps its error, naming the database and schema.
    async fn run<T>(
        &self,
        work: impl std::future::Future<Output = std::result::Result<T, StoreError>> + Send,
    ) -> Result<T> {
        work.await
            .map_err(|e| e.into_error(&self.label, &self.schema))
    }
}

/// Creates the schema or brings it to [`SCHEMA_VERSION`], in one transaction under an
/// advisory lock, so runners opening it together migrate it once.
async fn migrate(conn: &mut Object, schema: &str) -> std::result::Result<(), StoreError> {
    let tx = conn.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('mailmigrate-schema:' || $1, 0))",
        &[&schema],
    )
    .await?;
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .await?;
    let tables: Vec<String> = tx
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
            &[&schema],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let from = if tables.is_empty() {
        0
    } else if !tables.iter().any(|t| t == "mailmigrate_meta") {
        return Err(StoreError::corrupt(format!(
            "schema `{schema}` is not a mailmigrate state schema ({} tables, no \
             mailmigrate_meta)",
            tables.len()
        )));
    } else {
        let row = tx
            .query_opt("SELECT application, version FROM mailmigrate_meta", &[])
            .await?
            .ok_or_else(|| StoreError::corrupt("mailmigrate_meta has no row"))?;
        let (app, version): (String, i32) = (row.get(0), row.get(1));
        if app != APPLICATION {
            return Err(StoreError::corrupt(format!(
                "schema `{schema}` belongs to {app:?}, not a mailmigrate state store"
            )));
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::corrupt(format!(
                "the state schema has version {version}, newer than the {SCHEMA_VERSION} \
                 this version of mailmigrate understands; upgrade mailmigrate to open it"
            )));
        }
        usize::try_from(version)
            .map_err(|_| StoreError::corrupt(format!("invalid schema version {version}")))?
    };
    if from < MIGRATIONS.len() {
        for step in &MIGRATIONS[from..] {
            tx.batch_execute(step).await?;
        }
        tx.execute(
            "INSERT INTO mailmigrate_meta (application, version) VALUES ($1, $2)
             ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version",
            &[&APPLICATION, &SCHEMA_VERSION],
        )
        .await?;
    }
    for table in TABLES {
        let present: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                  WHERE table_schema = $1 AND table_name = $2)",
                &[&schema, &table],
            )
            .await?
            .get(0);
        if !present {
            return Err(StoreError::corrupt(format!("table `{table}` is missing")));
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Flags as a JSON array of their IMAP spelling (as SQLite stores them).
fn encode_flags(flags: &Flags) -> String {
    let names: Vec<String> = flags.iter().map(ToString::to_string).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
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

/// The columns [`read_entry`] expects, in order.
macro_rules! entry_columns {
    () => {
        "src_folder, src_id, dest_folder, dest_id, hash, message_id, flags, state, size, \
         internal_date, src_version, dest_version"
    };
}

/// Decodes one ledger row selected with [`entry_columns!`].
fn read_entry(row: &Row) -> std::result::Result<LedgerEntry, StoreError> {
    let src_folder: String = row.try_get(0)?;
    let src_id: String = row.try_get(1)?;
    let dest_folder: String = row.try_get(2)?;
    let dest_id: Option<String> = row.try_get(3)?;
    let hash: Vec<u8> = row.try_get(4)?;
    let hash = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
        StoreError::corrupt_item("content hash is not 32 bytes", &src_folder, &src_id)
    })?;
    let message_id: Option<String> = row.try_get(5)?;
    let flags = decode_flags(row.try_get(6)?, &src_folder, &src_id)?;
    let state = match row.try_get::<_, i16>(7)? {
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
    let size: Option<i64> = row.try_get(8)?;
    let date: Option<i64> = row.try_get(9)?;
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
    .with_size(size.and_then(|n| u64::try_from(n).ok()))
    .with_internal_date(date.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()))
    .with_versions(row.try_get(10)?, row.try_get(11)?))
}

fn read_entries(rows: &[Row]) -> std::result::Result<Vec<LedgerEntry>, StoreError> {
    rows.iter().map(read_entry).collect()
}

/// Adds the job and folder to an error's context.
fn scoped(e: Error, job: &str, folder: Option<&FolderId>) -> Error {
    let e = e.with_context("job", job);
    match folder {
        Some(f) if e.context("folder").is_none() => e.with_context("folder", f),
        _ => e,
    }
}

/// Ledger rows as column arrays, for one `INSERT … SELECT FROM unnest(…)`.
#[derive(Default)]
struct Columns {
    src_folder: Vec<String>,
    src_id: Vec<String>,
    dest_folder: Vec<String>,
    dest_id: Vec<Option<String>>,
    hash: Vec<Vec<u8>>,
    message_id: Vec<Option<String>>,
    flags: Vec<String>,
    state: Vec<i16>,
    size: Vec<Option<i64>>,
    internal_date: Vec<Option<i64>>,
    src_version: Vec<Option<String>>,
    dest_version: Vec<Option<String>>,
}

impl Columns {
    /// The rows, the last of each (folder, id) only: rows of one call are applied in
    /// order, as SQLite's one upsert per row does, and one statement may not touch a row
    /// twice.
    fn of(entries: &[LedgerEntry]) -> Self {
        let mut last: HashMap<(&str, &str), usize> = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            last.insert((e.src_folder.as_str(), e.src_id.as_str()), i);
        }
        let mut c = Self::default();
        for (i, e) in entries.iter().enumerate() {
            if last.get(&(e.src_folder.as_str(), e.src_id.as_str())) != Some(&i) {
                continue;
            }
            c.src_folder.push(e.src_folder.as_str().to_owned());
            c.src_id.push(e.src_id.as_str().to_owned());
            c.dest_folder.push(e.dest_folder.as_str().to_owned());
            c.dest_id
                .push(e.dest_id.as_ref().map(|d| d.as_str().to_owned()));
            c.hash.push(e.hash.as_bytes().to_vec());
            c.message_id.push(e.message_id.clone());
            c.flags.push(encode_flags(&e.flags));
            c.state.push(match e.state {
                LedgerState::Pending => PENDING,
                LedgerState::Done => DONE,
            });
            c.size.push(e.size.and_then(|n| i64::try_from(n).ok()));
            c.internal_date
                .push(e.internal_date.map(time::OffsetDateTime::unix_timestamp));
            c.src_version.push(e.src_version.clone());
            c.dest_version.push(e.dest_version.clone());
        }
        c
    }
}

const SQL_UPSERT: &str = "INSERT INTO ledger (job, src_folder, src_id, dest_folder, dest_id, hash,
                         message_id, flags, state, size, internal_date, src_version,
                         dest_version)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[],
                              $7::text[], $8::text[], $9::int2[], $10::int8[], $11::int8[],
                              $12::text[], $13::text[])
     ON CONFLICT (job, src_folder, src_id) DO UPDATE SET
         dest_folder = EXCLUDED.dest_folder,
         dest_id = EXCLUDED.dest_id,
         hash = EXCLUDED.hash,
         message_id = EXCLUDED.message_id,
         flags = EXCLUDED.flags,
         state = EXCLUDED.state,
         size = EXCLUDED.size,
         internal_date = EXCLUDED.internal_date,
         src_version = EXCLUDED.src_version,
         dest_version = EXCLUDED.dest_version";

const SQL_CLEAR_FAILURES: &str = "DELETE FROM failures WHERE job = $1
       AND (src_folder, src_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))";

#[async_trait]
impl StateStore for PostgresState {
    async fn checkpoint(&self, job: &str, src_folder: &FolderId) -> Result<Option<Checkpoint>> {
        let (j, f) = (job, src_folder.as_str());
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(
                    "SELECT checkpoint FROM checkpoints WHERE job = $1 AND src_folder = $2",
                )
                .await?;
            let row = c.query_opt(&stmt, &[&j, &f]).await?;
            Ok(row.map(|r| Checkpoint::new(r.get::<_, String>(0))))
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
        let (j, f, cp_text) = (job, src_folder.as_str(), cp.as_str());
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(
                    "INSERT INTO checkpoints (job, src_folder, checkpoint) VALUES ($1, $2, $3)
                         ON CONFLICT (job, src_folder)
                         DO UPDATE SET checkpoint = EXCLUDED.checkpoint",
                )
                .await?;
            c.execute(&stmt, &[&j, &f, &cp_text]).await?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, job, Some(src_folder)))
    }

    async fn checkpointed_folders(&self, job: &str) -> Result<Vec<FolderId>> {
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached("SELECT src_folder FROM checkpoints WHERE job = $1")
                .await?;
            let rows = c.query(&stmt, &[&job]).await?;
            Ok(rows
                .iter()
                .map(|r| FolderId::new(r.get::<_, String>(0)))
                .collect())
        })
        .await
        .map_err(|e| scoped(e, job, None))
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
        let f = src_folder.as_str();
        let list: Vec<&str> = ids.iter().map(MessageId::as_str).collect();
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(concat!(
                    "SELECT ",
                    entry_columns!(),
                    " FROM ledger WHERE job = $1 AND src_folder = $2 AND src_id = ANY($3)"
                ))
                .await?;
            let rows = c.query(&stmt, &[&job, &f, &list]).await?;
            let mut out = HashMap::with_capacity(rows.len());
            for e in read_entries(&rows)? {
                out.insert(e.src_id.clone(), e);
            }
            Ok(out)
        })
        .await
        .map_err(|e| scoped(e, job, Some(src_folder)))
    }

    async fn record(&self, job: &str, entries: &[LedgerEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let cols = Columns::of(entries);
        // Rows that only confirm writes need not be flushed before the call returns (see
        // "Atomicity and durability").
        let relaxed = entries.iter().all(|e| e.state == LedgerState::Done);
        self.run(async {
            let c = &mut self.conn().await?;
            let upsert = c.prepare_cached(SQL_UPSERT).await?;
            let clear = c.prepare_cached(SQL_CLEAR_FAILURES).await?;
            let tx = c.transaction().await?;
            if relaxed {
                tx.batch_execute("SET LOCAL synchronous_commit = off")
                    .await?;
            }
            tx.execute(
                &upsert,
                &[
                    &job,
                    &cols.src_folder,
                    &cols.src_id,
                    &cols.dest_folder,
                    &cols.dest_id,
                    &cols.hash,
                    &cols.message_id,
                    &cols.flags,
                    &cols.state,
                    &cols.size,
                    &cols.internal_date,
                    &cols.src_version,
                    &cols.dest_version,
                ],
            )
            .await?;
            tx.execute(&clear, &[&job, &cols.src_folder, &cols.src_id])
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, job, None))
    }

    async fn pending(&self, job: &str, src_folder: &FolderId) -> Result<Vec<LedgerEntry>> {
        let f = src_folder.as_str();
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(concat!(
                    "SELECT ",
                    entry_columns!(),
                    " FROM ledger WHERE job = $1 AND src_folder = $2 AND state = 0
                          ORDER BY src_id"
                ))
                .await?;
            read_entries(&c.query(&stmt, &[&job, &f]).await?)
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
        let (f, d) = (dest_folder.as_str(), dest_id.as_str());
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM ledger
                          WHERE job = $1 AND dest_folder = $2 AND dest_id = $3)",
                )
                .await?;
            Ok(c.query_one(&stmt, &[&job, &f, &d]).await?.get(0))
        })
        .await
        .map_err(|e| scoped(e, job, Some(dest_folder)))
    }

    async fn remove(&self, job: &str, src_folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let f = src_folder.as_str();
        let list: Vec<&str> = ids.iter().map(MessageId::as_str).collect();
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(
                    "DELETE FROM ledger WHERE job = $1 AND src_folder = $2 AND src_id = ANY($3)",
                )
                .await?;
            c.execute(&stmt, &[&job, &f, &list]).await?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, job, Some(src_folder)))
    }

    async fn reset_folder(&self, job: &str, src_folder: &FolderId) -> Result<()> {
        let f = src_folder.as_str();
        self.run(async {
            let c = &mut self.conn().await?;
            let tx = c.transaction().await?;
            for sql in [
                "DELETE FROM checkpoints WHERE job = $1 AND src_folder = $2",
                "DELETE FROM ledger WHERE job = $1 AND src_folder = $2",
                "DELETE FROM failures WHERE job = $1 AND src_folder = $2",
            ] {
                let stmt = tx.prepare_cached(sql).await?;
                tx.execute(&stmt, &[&job, &f]).await?;
            }
            tx.commit().await?;
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
        let f = src_folder.as_str();
        let after = after.map(MessageId::as_str);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(async {
            let c = &mut self.conn().await?;
            let rows = match after {
                Some(a) => {
                    let stmt = c
                        .prepare_cached(concat!(
                            "SELECT ",
                            entry_columns!(),
                            " FROM ledger WHERE job = $1 AND src_folder = $2 AND src_id > $3
                                  ORDER BY src_id LIMIT $4"
                        ))
                        .await?;
                    c.query(&stmt, &[&job, &f, &a, &limit]).await?
                }
                None => {
                    let stmt = c
                        .prepare_cached(concat!(
                            "SELECT ",
                            entry_columns!(),
                            " FROM ledger WHERE job = $1 AND src_folder = $2
                                  ORDER BY src_id LIMIT $3"
                        ))
                        .await?;
                    c.query(&stmt, &[&job, &f, &limit]).await?
                }
            };
            read_entries(&rows)
        })
        .await
        .map_err(|e| scoped(e, job, Some(src_folder)))
    }

    async fn record_failure(&self, job: &str, failure: &ItemFailure) -> Result<()> {
        let (f, id, kind, message, final_) = (
            failure.src_folder.as_str(),
            failure.src_id.as_str(),
            encode_kind(failure.kind),
            failure.message.as_str(),
            failure.final_for_item,
        );
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(
                    "INSERT INTO failures (job, src_folder, src_id, kind, message, final)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (job, src_folder, src_id) DO UPDATE SET
                             kind = EXCLUDED.kind, message = EXCLUDED.message,
                             final = EXCLUDED.final",
                )
                .await?;
            c.execute(&stmt, &[&job, &f, &id, &kind, &message, &final_])
                .await?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, job, None).with_item(&failure.src_folder, &failure.src_id))
    }

    async fn failures(&self, job: &str) -> Result<Vec<ItemFailure>> {
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(
                    "SELECT src_folder, src_id, kind, message, final FROM failures
                          WHERE job = $1 ORDER BY src_folder, src_id",
                )
                .await?;
            let mut out = Vec::new();
            for row in c.query(&stmt, &[&job]).await? {
                let folder: String = row.try_get(0)?;
                let id: String = row.try_get(1)?;
                let kind = decode_kind(row.try_get(2)?, &folder, &id)?;
                let message: String = row.try_get(3)?;
                let final_: bool = row.try_get(4)?;
                out.push(
                    ItemFailure::new(FolderId::new(folder), MessageId::new(id), kind, message)
                        .with_final(final_),
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

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["mailmigrate", "_x", "acme_2025", &"a".repeat(63)] {
            assert!(valid_schema(ok), "{ok}");
        }
        for bad in [
            "",
            "1a",
            "Acme",
            "a-b",
            "a;drop",
            "pg_x",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(!valid_schema(bad), "{bad}");
        }
    }

    #[test]
    fn the_description_has_no_password() {
        let c =
            tokio_postgres::Config::from_str("postgres://mm:s3cret@db.example:6543/state").unwrap();
        assert_eq!(describe(&c), "mm@db.example:6543/state");
        assert!(!only_local(&c));
        let c =
            tokio_postgres::Config::from_str("host=127.0.0.1 user=u password=p dbname=d").unwrap();
        assert_eq!(describe(&c), "u@127.0.0.1/d");
        assert!(only_local(&c));
    }

    #[tokio::test]
    async fn a_bad_url_is_config_invalid_and_not_repeated() {
        let e = PostgresState::connect("postgres://mm:s3cret@db.example:notaport/x")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{e:?}");
        assert!(!format!("{e} {e:?}").contains("s3cret"), "{e:?}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable_without_the_password() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("postgres://mm:s3cret@127.0.0.1:{port}/x");
        let e = PostgresState::connect_with(
            &url,
            PostgresOptions::default().with_connect_timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e:?}");
        assert!(e.is_temporary());
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains(&format!("mm@127.0.0.1:{port}/x")), "{shown}");
    }

    #[test]
    fn flags_round_trip_as_sqlite_spells_them() {
        let flags: Flags = [Flag::Seen, Flag::Keyword("$Forwarded".into())]
            .into_iter()
            .collect();
        let text = encode_flags(&flags);
        assert!(text.starts_with("[\"\\\\Seen\""), "{text}");
        assert_eq!(decode_flags(&text, "f", "i").unwrap(), flags);
    }
}

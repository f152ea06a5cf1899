//! A campaign opened from its file: the plan validated against the inventory, the state
//! file, the store factory and the runner over them.

use std::path::Path;
use std::sync::Arc;

use mailmigrate_core::campaign::{CampaignRunner, CampaignStore, ValidPlan};
use mailmigrate_core::directory::Inventory;
use mailmigrate_core::state::{PostgresOptions, PostgresState, SqliteState};
use mailmigrate_core::{Error, ErrorKind, Operation, Result};

use super::factory::UrlStores;
use super::file::CampaignFile;

/// Everything a campaign step needs.
#[derive(Debug)]
pub struct Campaign {
    /// The campaign file.
    pub file: CampaignFile,
    /// The inventory the plan was checked against.
    pub inventory: Inventory,
    /// The plan, validated.
    pub plan: ValidPlan,
    /// The state (ledger and statuses): the SQLite file, or a shared PostgreSQL database.
    pub state: Arc<dyn CampaignStore>,
    /// Opens each mailbox's stores.
    pub stores: Arc<UrlStores>,
}

impl Campaign {
    /// Reads the file and the inventory, validates the plan (every problem listed at
    /// once) and opens the state file.
    ///
    /// # Errors
    /// `ConfigInvalid` for a malformed file or plan (naming each problem); the inventory's
    /// and the state file's errors.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::from_file(CampaignFile::load(path)?).await
    }

    /// The same from a campaign file already read (the CLI reads it first to start its
    /// log where the file says).
    ///
    /// # Errors
    /// As [`open`](Self::open), but for reading the file.
    pub async fn from_file(file: CampaignFile) -> Result<Self> {
        let inventory = file.inventory().await?;
        let plan = file.plan.validate(&inventory)?;
        let state: Arc<dyn CampaignStore> = match file.state_url() {
            Some(url) => Arc::new(open_postgres(&url).await?),
            None => {
                let state_path = file.state_path();
                if let Some(dir) = state_path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        Error::new(ErrorKind::Unavailable, "cannot create the state directory")
                            .with_operation(Operation::State)
                            .with_context("path", dir.display())
                            .with_source(e)
                    })?;
                }
                Arc::new(SqliteState::open(&state_path)?)
            }
        };
        let backup = file.plan.backup.as_ref().map(|b| b.url.clone());
        let stores = Arc::new(UrlStores::new(file.stores.clone(), backup));
        Ok(Self {
            file,
            inventory,
            plan,
            state,
            stores,
        })
    }

    /// The runner that drives mailboxes, under this machine's worker name: the
    /// `MAILMIGRATE_WORKER` environment variable, else the host name. The runner holds the
    /// name in the state store for as long as it lives (a lock file beside a SQLite state,
    /// an advisory lock of its own session in PostgreSQL; see
    /// [`CampaignStore::hold_worker`](mailmigrate_core::campaign::CampaignStore::hold_worker)),
    /// so one process per worker name drives at a time on every machine sharing the state,
    /// and a process started after one was killed takes its mailbox leases back at once (a
    /// lease is its holder's to renew) instead of waiting for them to expire. Runners
    /// under other names wait for the leases of a dead one to expire.
    ///
    /// # Errors
    /// `Conflict` when another process holds this worker name (run it elsewhere or under
    /// another `MAILMIGRATE_WORKER`); as [`runner`](Self::runner).
    pub async fn driver(&self) -> Result<CampaignRunner> {
        let runner = self.runner().await?.with_worker(worker_name());
        runner.hold_worker().await?;
        Ok(runner)
    }

    /// The runner over this campaign's plan, state and stores (it records the campaign
    /// in the state the first time).
    ///
    /// # Errors
    /// `ConfigInvalid` when the state holds this campaign with another plan; state errors.
    pub async fn runner(&self) -> Result<CampaignRunner> {
        let state = Arc::clone(&self.state);
        let stores: Arc<dyn mailmigrate_core::campaign::StoreFactory> =
            Arc::clone(&self.stores) as Arc<dyn mailmigrate_core::campaign::StoreFactory>;
        CampaignRunner::open(self.plan.clone(), state, stores).await
    }
}

/// Connects the PostgreSQL state named by `url`: `schema=` and `password_env=` are taken
/// out of the query (the password is read from that variable and never shown), the rest
/// goes to the server as written.
async fn open_postgres(url: &str) -> Result<PostgresState> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut options = PostgresOptions::default();
    let mut password = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("schema", v)) => options = options.with_schema(v),
            Some(("password_env", v)) => {
                password = Some(std::env::var(v).map_err(|_| {
                    Error::new(
                        ErrorKind::ConfigInvalid,
                        format!(
                            "set the state database's password in the environment variable {v}"
                        ),
                    )
                    .with_operation(Operation::State)
                })?);
            }
            _ => rest.push(pair),
        }
    }
    let mut url = base.to_owned();
    if let Some(pw) = password {
        let (scheme, after) = url.split_once("://").unwrap_or(("postgres", &url));
        let (user, host) = after.split_once('@').ok_or_else(|| {
            Error::new(
                ErrorKind::ConfigInvalid,
                "a state URL with password_env names its user: postgres://USER@HOST/DB",
            )
            .with_operation(Operation::State)
        })?;
        let pw: String = pw
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        url = format!("{scheme}://{user}:{pw}@{host}");
    }
    if !rest.is_empty() {
        url = format!("{url}?{}", rest.join("&"));
    }
    PostgresState::connect_with(&url, options).await
}

/// This machine's worker name: `MAILMIGRATE_WORKER`, else the host name.
fn worker_name() -> String {
    std::env::var("MAILMIGRATE_WORKER")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|n| !n.is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

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
        let file = CampaignFile::load(path)?;
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

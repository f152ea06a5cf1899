//! A campaign opened from its file: the plan validated against the inventory, the state
//! file, the store factory and the runner over them.

use std::path::Path;
use std::sync::Arc;

use mailmigrate_core::campaign::{CampaignRunner, CampaignStore, ValidPlan};
use mailmigrate_core::directory::Inventory;
use mailmigrate_core::state::SqliteState;
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
    /// The state file (ledger and statuses).
    pub state: Arc<SqliteState>,
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
        let state_path = file.state_path();
        if let Some(dir) = state_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::new(ErrorKind::Unavailable, "cannot create the state directory")
                    .with_operation(Operation::State)
                    .with_context("path", dir.display())
                    .with_source(e)
            })?;
        }
        let state = Arc::new(SqliteState::open(&state_path)?);
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
        let state: Arc<dyn CampaignStore> = Arc::clone(&self.state) as Arc<dyn CampaignStore>;
        let stores: Arc<dyn mailmigrate_core::campaign::StoreFactory> =
            Arc::clone(&self.stores) as Arc<dyn mailmigrate_core::campaign::StoreFactory>;
        CampaignRunner::open(self.plan.clone(), state, stores).await
    }
}

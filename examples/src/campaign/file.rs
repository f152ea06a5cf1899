//! The campaign file: one TOML file holding a campaign's plan, where its inventory comes
//! from, the URL templates of every mailbox's stores, and where its state, logs and report
//! are kept. Every campaign step of the CLI reads the same file.
//!
//! ```toml
//! state = "campaign.sqlite"          # beside this file unless absolute
//! report = "report"                  # the report's directory
//! logs = "logs"                      # one log file per run
//!
//! [inventory]
//! accounts = "accounts.csv"          # a CSV or TOML account list (core's FileDirectory)
//!
//! [stores]                           # {source} {mailbox} {destination} {dir}
//! source = "imaps://{source}@mail.old.example?password_env=OLD_PASSWORD"
//! destination = "graph://{destination}@new.onmicrosoft.com?client_id=APP"
//! contacts_source = "vdir://{dir}/pim/{mailbox}"       # optional, with the next two
//! contacts_destination = "dav://{destination}@dav.new.example"
//! contacts_backup = "vdir://{dir}/backup-pim/{mailbox}"
//!
//! [plan]                             # core's CampaignPlan
//! name = "acme"
//! strategy = { kind = "staged" }
//! backup = { url = "maildir://{dir}/backup/{mailbox}" }
//! [[plan.batches]]
//! name = "pilot"
//! pilot = true
//! members = ["ann@old.example"]
//! ```
//!
//! `{dir}` is the campaign file's directory, so a campaign directory can be moved whole.

use std::path::{Path, PathBuf};

use mailmigrate_core::campaign::CampaignPlan;
use mailmigrate_core::directory::{Directory, FileDirectory, Inventory};
use mailmigrate_core::{Error, ErrorKind, Operation, Result};
use serde::{Deserialize, Serialize};

/// Where the campaign's accounts are listed: a file, or the source's own directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    /// A CSV or TOML file of accounts, groups and permissions (relative to the campaign
    /// file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<PathBuf>,
    /// A provider's directory by URL: `graph://LABEL@TENANT?client_id=…` (a Microsoft
    /// 365 tenant's users, shared mailboxes, aliases and groups, with the sign-in of a
    /// `graph://` store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    /// The destination's accounts and permissions (a CSV or TOML file), for the
    /// permissions review of `validate` and the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_accounts: Option<PathBuf>,
}

/// The URL templates of each mailbox's stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreTemplates {
    /// Where each mailbox's mail is read.
    pub source: String,
    /// Where it is written.
    pub destination: String,
    /// Where contacts and calendars are read (`vdir://`, `dav://`, `graph://`); with
    /// `contacts_destination`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts_source: Option<String>,
    /// Where they are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts_destination: Option<String>,
    /// Where they are backed up before the first copy (a `vdir://` directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts_backup: Option<String>,
}

/// A campaign file, read.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("acme.toml");
/// std::fs::write(&path, r#"
///     [inventory]
///     accounts = "accounts.csv"
///     [stores]
///     source = "maildir://{dir}/old/{mailbox}"
///     destination = "maildir://{dir}/new/{destination}"
///     [plan]
///     name = "acme"
///     strategy = { kind = "cutover" }
/// "#).unwrap();
/// let file = mailmigrate_examples::campaign::CampaignFile::load(&path).unwrap();
/// assert_eq!(file.state_path(), dir.path().join("acme.sqlite"));
/// assert_eq!(file.stores.source, format!("maildir://{}/old/{{mailbox}}", dir.path().display()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    /// The state file (default: the campaign file's name with `.sqlite`), or a PostgreSQL
    /// database that runners on several machines share:
    /// `postgres://USER@HOST[:PORT]/DB[?schema=S&password_env=VAR&sslmode=require]` (the
    /// password from the environment variable, never from the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PathBuf>,
    /// The report's directory (default `report`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
    /// The directory of per-run logs (default `logs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<PathBuf>,
    /// Where the accounts are listed.
    pub inventory: InventoryFile,
    /// The stores of each mailbox.
    pub stores: StoreTemplates,
    /// The plan.
    pub plan: CampaignPlan,
    /// The DNS switch, when the campaign checks it (`migrate dns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<super::dns::DnsSettings>,
    /// The send-and-receive probe of `validate`, when the campaign runs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<super::checks::ProbeSettings>,
    /// The file's own path (set by [`load`](Self::load)).
    #[serde(skip)]
    path: PathBuf,
}

impl CampaignFile {
    /// Reads and parses a campaign file, filling `{dir}` in its store templates.
    ///
    /// # Errors
    /// `ConfigInvalid` naming the file for unreadable or malformed TOML.
    pub fn load(path: &Path) -> Result<Self> {
        let invalid = |msg: String| {
            Error::new(ErrorKind::ConfigInvalid, msg)
                .with_operation(Operation::Build)
                .with_context("file", path.display())
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("cannot read the campaign file: {e}")))?;
        let mut file: CampaignFile = toml::from_str(&text)
            .map_err(|e| invalid(format!("the campaign file is not valid: {e}")))?;
        file.path = path.to_path_buf();
        let dir = file.dir().display().to_string();
        let s = &mut file.stores;
        for t in [&mut s.source, &mut s.destination]
            .into_iter()
            .chain(s.contacts_source.as_mut())
            .chain(s.contacts_destination.as_mut())
            .chain(s.contacts_backup.as_mut())
        {
            *t = t.replace("{dir}", &dir);
        }
        if let Some(b) = file.plan.backup.as_mut() {
            b.url = b.url.replace("{dir}", &dir);
        }
        Ok(file)
    }

    /// The directory the file is in (relative paths are relative to it).
    pub fn dir(&self) -> PathBuf {
        let parent = self.path.parent().unwrap_or(Path::new("."));
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf())
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir().join(p)
        }
    }

    /// The PostgreSQL URL of the state, when `state` names one.
    pub fn state_url(&self) -> Option<String> {
        let s = self.state.as_ref()?.to_str()?;
        (s.starts_with("postgres://") || s.starts_with("postgresql://")).then(|| s.to_owned())
    }

    /// The state file: the engine's ledger and the campaign's statuses, one file (the
    /// campaign's logs and report sit beside it, also with a PostgreSQL state).
    pub fn state_path(&self) -> PathBuf {
        match &self.state {
            Some(_) if self.state_url().is_some() => self.dir().join("campaign.sqlite"),
            Some(p) => self.resolve(p),
            None => self.dir().join(format!(
                "{}.sqlite",
                self.path.file_stem().unwrap_or_default().to_string_lossy()
            )),
        }
    }

    /// The report's directory.
    pub fn report_dir(&self) -> PathBuf {
        self.resolve(self.report.as_deref().unwrap_or(Path::new("report")))
    }

    /// The per-run logs' directory.
    pub fn log_dir(&self) -> PathBuf {
        self.resolve(self.logs.as_deref().unwrap_or(Path::new("logs")))
    }

    /// Reads the inventory the plan is checked against.
    ///
    /// # Errors
    /// `ConfigInvalid` unless exactly one of `accounts` and `directory` is given; the
    /// account file's errors (naming the line) or the directory's.
    pub async fn inventory(&self) -> Result<Inventory> {
        match (&self.inventory.accounts, &self.inventory.directory) {
            (Some(file), None) => FileDirectory::open(self.resolve(file))?.inventory().await,
            (None, Some(url)) if url.starts_with("graph:") => {
                crate::graph_target::GraphTarget::parse_url(url)?
                    .connect_directory()
                    .await?
                    .inventory()
                    .await
            }
            (None, Some(url)) => Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "[inventory] directory {:?}: this program reads graph:// directories \
                     (or an account file)",
                    crate::stores::redact(url)
                ),
            )
            .with_operation(Operation::Build)),
            _ => Err(Error::new(
                ErrorKind::ConfigInvalid,
                "[inventory] takes one of `accounts` (a file) and `directory` (a URL)",
            )
            .with_operation(Operation::Build)
            .with_context("file", self.path.display())),
        }
    }
}

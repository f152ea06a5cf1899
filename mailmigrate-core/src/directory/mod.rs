//! Who is to be migrated: the [`Directory`] trait, the [`Inventory`] it builds, and
//! directories for files and tests.
//!
//! A migration campaign starts from an inventory: every user, shared mailbox and resource
//! with its aliases and volume, the groups with their members, and who may read or send as
//! whom. A provider with a directory API (Microsoft Graph, the Google Admin SDK) implements
//! [`Directory`]; an IMAP-only migration, which has no such API, writes the list in a CSV or
//! TOML file and reads it with [`FileDirectory`]. [`MemoryDirectory`] serves tests.
//!
//! Addresses are compared case-insensitively, local part included ([`address_key`] says
//! why). Problems in the data (a duplicate address, a member nobody has) are listed by
//! [`Inventory::validate`] as [`Finding`]s; nothing panics.
//!
//! # Examples
//! ```
//! use mailmigrate_core::directory::{Account, AccountKind, Directory, MemoryDirectory};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let dir = MemoryDirectory::new("example.com").with_accounts(vec![
//!     Account::new("alice@example.com").with_aliases(["a.smith@example.com"]),
//!     Account::new("info@example.com").with_kind(AccountKind::SharedMailbox),
//! ]);
//! let inventory = dir.inventory().await?;
//! assert_eq!(inventory.totals().shared_mailboxes, 1);
//! assert!(inventory.validate().is_empty());
//! assert_eq!(inventory.find_account("A.Smith@example.com").unwrap().address, "alice@example.com");
//! # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
//! ```

mod account;
mod address;
#[cfg(feature = "file-directory")]
mod file;
mod group;
mod inventory;
pub(crate) mod kind;
mod memory;
mod permission;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub use account::{Account, AccountKind, Alias, MailboxStats};
pub use address::{address_key, is_valid_address};
#[cfg(feature = "file-directory")]
pub use file::{FileDirectory, FileFormat};
pub use group::{Group, GroupKind, GroupMember, MemberKind};
pub use inventory::{Finding, Inventory, Place, Totals};
pub use memory::MemoryDirectory;
pub use permission::{Permission, Right};

/// What a directory can list beyond its accounts. Build it with struct-update syntax from
/// [`DirectoryCapabilities::default`] (everything off).
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::DirectoryCapabilities;
/// let caps = DirectoryCapabilities { groups: true, stats: true, ..DirectoryCapabilities::default() };
/// assert!(!caps.permissions);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DirectoryCapabilities {
    /// [`Directory::groups`] lists groups (and [`Directory::group_members`] their members).
    #[serde(default)]
    pub groups: bool,
    /// [`Directory::permissions`] lists delegations.
    #[serde(default)]
    pub permissions: bool,
    /// Accounts may carry [`MailboxStats`]. Without it every account's `stats` is `None`.
    #[serde(default)]
    pub stats: bool,
}

/// A directory's scheme, label and capabilities.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::{DirectoryCapabilities, DirectoryInfo};
/// let info = DirectoryInfo::new("memory", "example.com", DirectoryCapabilities::default());
/// assert_eq!(info.scheme, "memory");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirectoryInfo {
    /// The provider's scheme (`"graph"`, `"file"`, `"memory"`…).
    pub scheme: &'static str,
    /// A human label: the tenant, domain or file (never a secret).
    pub label: String,
    /// What it can list.
    pub capabilities: DirectoryCapabilities,
}

impl DirectoryInfo {
    /// Builds the info.
    pub fn new(
        scheme: &'static str,
        label: impl Into<String>,
        capabilities: DirectoryCapabilities,
    ) -> Self {
        Self {
            scheme,
            label: label.into(),
            capabilities,
        }
    }
}

/// Lists the accounts, groups and delegations of one organisation.
///
/// It is the provider side of an inventory: a campaign calls
/// [`inventory`](Directory::inventory) once and plans from the [`Inventory`].
///
/// # Contract
/// - [`accounts`](Directory::accounts) streams every mailbox once, in no set order: users,
///   shared mailboxes and resources, disabled ones included (their mail still moves).
///   Paging (Graph `@odata.nextLink`, Google `nextPageToken`) is the provider's business
///   and happens inside the stream, which holds one page at a time, so memory stays
///   bounded however large the tenant. A stream that yields an error has failed: the caller
///   stops there rather than take a partial list for a whole one.
/// - Each account says what the provider knows: aliases, kind, enabled state, its native
///   id, and [`MailboxStats`] where [`stats`](DirectoryCapabilities::stats) is declared and
///   the provider can say (a field it cannot say is `None`, never a guessed zero).
/// - [`groups`](Directory::groups) lists every group when
///   [`groups`](DirectoryCapabilities::groups) is declared; members may be left out when
///   listing them costs a call per group, and [`group_members`](Directory::group_members)
///   then fetches them.
/// - [`permissions`](Directory::permissions) lists the delegations on one mailbox when
///   [`permissions`](DirectoryCapabilities::permissions) is declared.
/// - A listing the provider cannot do returns [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported),
///   as the capabilities said up front; it never returns an empty list in its place.
/// - Errors are core [`Error`]s with the usual kinds: `Unauthenticated` and
///   `PermissionDenied` for a token without directory scopes, `RateLimited` and
///   `Unavailable` (temporary) from the service, `ConfigInvalid` for an unreadable
///   inventory file. No error carries a credential.
///
/// # Implementing
/// Implement [`info`](Directory::info) and [`accounts`](Directory::accounts); override
/// the others as the provider can. The stream is `'static` like
/// [`Source::list_changes`](crate::Source::list_changes): it owns what it needs (an `Arc`
/// of the client), so a caller may move it to another task. See [`MemoryDirectory`].
///
/// # Wrappers
/// `Arc<T>` and `Box<T>` forward every method.
///
/// # Examples
/// ```
/// use futures::TryStreamExt;
/// use mailmigrate_core::directory::{Account, Directory, MemoryDirectory};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = MemoryDirectory::new("doc").with_accounts(vec![Account::new("a@example.com")]);
/// let accounts: Vec<Account> = dir.accounts().try_collect().await?;
/// assert_eq!(accounts.len(), 1);
/// # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
/// ```
#[async_trait]
pub trait Directory: fmt::Debug + Send + Sync + 'static {
    /// The directory's scheme, label and capabilities.
    fn info(&self) -> &DirectoryInfo;

    /// What the directory can list (the declared capabilities).
    fn capabilities(&self) -> DirectoryCapabilities {
        self.info().capabilities
    }

    /// Streams every account once.
    ///
    /// # Errors
    /// An item error ends the listing: `Unauthenticated`, `PermissionDenied`,
    /// `RateLimited`, `Unavailable` and the like from the provider.
    fn accounts(&self) -> BoxStream<'static, Result<Account>>;

    /// Lists every group, members included where the listing has them.
    ///
    /// # Errors
    /// `Unsupported` (the default) without [`groups`](DirectoryCapabilities::groups);
    /// otherwise provider errors.
    async fn groups(&self) -> Result<Vec<Group>> {
        Err(Error::unsupported("this directory does not list groups"))
    }

    /// Lists the members of `group`, one of those [`groups`](Self::groups) returned.
    ///
    /// The default returns the members `groups` gave; a provider whose group listing
    /// leaves them out overrides it.
    ///
    /// # Errors
    /// `NotFound` if the group is gone; provider errors.
    async fn group_members(&self, group: &Group) -> Result<Vec<GroupMember>> {
        Ok(group.members.clone())
    }

    /// Lists the delegations on `account`'s mailbox (rights others hold on it).
    ///
    /// # Errors
    /// `Unsupported` (the default) without
    /// [`permissions`](DirectoryCapabilities::permissions); otherwise provider errors.
    async fn permissions(&self, account: &Account) -> Result<Vec<Permission>> {
        let _ = account;
        Err(Error::unsupported(
            "this directory does not list permissions",
        ))
    }

    /// Collects everything the directory can list into an [`Inventory`].
    ///
    /// Groups and permissions are asked for only where the capabilities declare them, and
    /// [`Inventory::listed`] records which were. Any error fails the whole call: an
    /// inventory missing an account would leave its mailbox behind.
    ///
    /// # Errors
    /// The first error of any listing.
    async fn inventory(&self) -> Result<Inventory> {
        let caps = self.capabilities();
        let accounts: Vec<Account> = self.accounts().try_collect().await?;
        let mut groups = Vec::new();
        if caps.groups {
            for mut group in self.groups().await? {
                group.members = self.group_members(&group).await?;
                groups.push(group);
            }
        }
        let mut permissions = Vec::new();
        if caps.permissions {
            for account in &accounts {
                permissions.extend(self.permissions(account).await?);
            }
        }
        Ok(Inventory {
            accounts,
            groups,
            permissions,
            listed: caps,
        })
    }
}

macro_rules! forward_directory {
    ($($wrapper:ident),*) => {$(
        #[async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl<T: Directory + ?Sized> Directory for $wrapper<T> {
            fn info(&self) -> &DirectoryInfo {
                (**self).info()
            }
            fn capabilities(&self) -> DirectoryCapabilities {
                (**self).capabilities()
            }
            fn accounts(&self) -> BoxStream<'static, Result<Account>> {
                (**self).accounts()
            }
            async fn groups(&self) -> Result<Vec<Group>> {
                (**self).groups().await
            }
            async fn group_members(&self, group: &Group) -> Result<Vec<GroupMember>> {
                (**self).group_members(group).await
            }
            async fn permissions(&self, account: &Account) -> Result<Vec<Permission>> {
                (**self).permissions(account).await
            }
            async fn inventory(&self) -> Result<Inventory> {
                (**self).inventory().await
            }
        }
    )*};
}

forward_directory!(Arc, Box);

fn _dyn_compatible(_: &dyn Directory) {}

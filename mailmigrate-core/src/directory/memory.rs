//! A directory held in memory, for tests and for embedders that already have the list.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};

use super::{
    address_key, Account, Directory, DirectoryCapabilities, DirectoryInfo, Group, Inventory,
    Permission,
};
use crate::{Error, Result};

/// A [`Directory`] over accounts, groups and permissions given up front.
///
/// It declares groups, permissions and stats, so its [`inventory`](Directory::inventory)
/// gives back what it was given. [`with_capabilities`](Self::with_capabilities) narrows
/// that to test how callers handle a directory that can list less.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::{
///     Account, Directory, Group, GroupMember, MemoryDirectory, Permission, Right,
/// };
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = MemoryDirectory::new("example.com")
///     .with_accounts(vec![Account::new("alice@example.com"), Account::new("info@example.com")])
///     .with_groups(vec![Group::new("team@example.com").with_members([GroupMember::account("alice@example.com")])])
///     .with_permissions(vec![Permission::new("info@example.com", "alice@example.com", Right::SendAs)]);
/// let inv = dir.inventory().await?;
/// assert_eq!((inv.accounts.len(), inv.groups.len(), inv.permissions.len()), (2, 1, 1));
/// assert!(inv.validate().is_empty());
/// # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct MemoryDirectory {
    info: DirectoryInfo,
    accounts: Arc<[Account]>,
    groups: Vec<Group>,
    permissions: Vec<Permission>,
}

impl MemoryDirectory {
    /// An empty directory labelled `label`.
    pub fn new(label: impl Into<String>) -> Self {
        Self::with_scheme("memory", label)
    }

    /// An empty directory that reports `scheme` (used by directories built on this one).
    pub(crate) fn with_scheme(scheme: &'static str, label: impl Into<String>) -> Self {
        Self {
            info: DirectoryInfo::new(
                scheme,
                label,
                DirectoryCapabilities {
                    groups: true,
                    permissions: true,
                    stats: true,
                },
            ),
            accounts: Arc::from(Vec::new()),
            groups: Vec::new(),
            permissions: Vec::new(),
        }
    }

    /// A directory holding everything in `inventory`.
    ///
    /// ```
    /// use mailmigrate_core::directory::{Account, Directory, Inventory, MemoryDirectory};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let given = Inventory::new(vec![Account::new("a@example.com")]);
    /// let dir = MemoryDirectory::from_inventory("doc", given.clone());
    /// assert_eq!(dir.inventory().await?.accounts, given.accounts);
    /// # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
    /// ```
    pub fn from_inventory(label: impl Into<String>, inventory: Inventory) -> Self {
        Self::new(label)
            .with_accounts(inventory.accounts)
            .with_groups(inventory.groups)
            .with_permissions(inventory.permissions)
    }

    /// Sets the accounts.
    #[must_use]
    pub fn with_accounts(mut self, accounts: Vec<Account>) -> Self {
        self.accounts = Arc::from(accounts);
        self
    }

    /// Sets the groups.
    #[must_use]
    pub fn with_groups(mut self, groups: Vec<Group>) -> Self {
        self.groups = groups;
        self
    }

    /// Sets the permissions.
    #[must_use]
    pub fn with_permissions(mut self, permissions: Vec<Permission>) -> Self {
        self.permissions = permissions;
        self
    }

    /// Declares `capabilities` instead: what is not declared is not listed.
    ///
    /// ```
    /// use mailmigrate_core::directory::{Directory, DirectoryCapabilities, MemoryDirectory};
    /// let dir = MemoryDirectory::new("doc").with_capabilities(DirectoryCapabilities::default());
    /// assert!(!dir.capabilities().groups);
    /// ```
    #[must_use]
    pub fn with_capabilities(mut self, capabilities: DirectoryCapabilities) -> Self {
        self.info.capabilities = capabilities;
        self
    }
}

#[async_trait]
impl Directory for MemoryDirectory {
    fn info(&self) -> &DirectoryInfo {
        &self.info
    }

    fn accounts(&self) -> BoxStream<'static, Result<Account>> {
        let accounts = Arc::clone(&self.accounts);
        stream::iter(0..accounts.len())
            .map(move |i| Ok(accounts[i].clone()))
            .boxed()
    }

    async fn groups(&self) -> Result<Vec<Group>> {
        if !self.info.capabilities.groups {
            return Err(Error::unsupported("this directory does not list groups")
                .with_provider(self.info.scheme));
        }
        Ok(self.groups.clone())
    }

    async fn permissions(&self, account: &Account) -> Result<Vec<Permission>> {
        if !self.info.capabilities.permissions {
            return Err(
                Error::unsupported("this directory does not list permissions")
                    .with_provider(self.info.scheme),
            );
        }
        let key = address_key(&account.address);
        Ok(self
            .permissions
            .iter()
            .filter(|p| address_key(&p.mailbox) == key)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;
    use crate::directory::Right;
    use crate::ErrorKind;

    #[tokio::test]
    async fn undeclared_listings_are_unsupported_and_left_out() {
        let dir = MemoryDirectory::new("t")
            .with_accounts(vec![Account::new("a@example.com")])
            .with_groups(vec![Group::new("g@example.com")])
            .with_capabilities(DirectoryCapabilities::default());
        let err = dir.groups().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        let err = dir
            .permissions(&Account::new("a@example.com"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        let inv = dir.inventory().await.unwrap();
        assert!(inv.groups.is_empty());
        assert!(!inv.listed.groups && !inv.listed.permissions);
    }

    #[tokio::test]
    async fn permissions_are_those_on_the_mailbox() {
        let dir = MemoryDirectory::new("t").with_permissions(vec![
            Permission::new("Info@example.com", "a@example.com", Right::SendAs),
            Permission::new("other@example.com", "a@example.com", Right::FullAccess),
        ]);
        let got = dir
            .permissions(&Account::new("info@example.com"))
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].right, Right::SendAs);
    }

    #[tokio::test]
    async fn account_stream_outlives_the_directory() {
        let dir = MemoryDirectory::new("t").with_accounts(vec![Account::new("a@example.com")]);
        let stream = dir.accounts();
        drop(dir);
        let all: Vec<Account> = stream.try_collect().await.unwrap();
        assert_eq!(all.len(), 1);
    }
}

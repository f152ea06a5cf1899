//! The tenant's directory: mailboxes and mail-enabled groups as a core
//! [`Directory`](mailmigrate_core::directory::Directory).
//!
//! - [`users`]: `GET /users`, each user's mailbox kind from `mailboxSettings/userPurpose`,
//!   and the optional per-mailbox counts;
//! - [`groups`]: `GET /groups` filtered on `mailEnabled`, and each group's members;
//! - [`addresses`]: primary and secondary addresses from `proxyAddresses`.

mod addresses;
mod groups;
mod users;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::BoxStream;
use mailmigrate_core::directory::{
    Account, AccountKind, Directory, DirectoryCapabilities, DirectoryInfo, Group, GroupMember,
};
use mailmigrate_core::{Error, ErrorKind, Result};

use crate::client::Client;

/// How often one directory read is sent again after a 5xx or a cut connection. No core
/// retry layer wraps a [`Directory`], and a listing stream that fails cannot resume, so
/// the client retries the page itself (429s are waited out on top of these).
const READ_RETRIES: u32 = 5;

/// The mailbox kind of each user seen so far, by object id: `None` for a user without a
/// mailbox. Filled by the account listing, read by the member listing.
type Kinds = Arc<Mutex<HashMap<String, Option<AccountKind>>>>;

/// A Microsoft 365 tenant's mailboxes and mail-enabled groups, through Microsoft Graph.
/// Build it with [`GraphBuilder::connect_directory`](crate::GraphBuilder::connect_directory).
///
/// # Accounts
/// Every user of `GET /users` that has an Exchange Online mailbox, in the order Graph
/// lists them, with its kind from `GET /users/{id}/mailboxSettings/userPurpose`
/// (\[G-MBXS\]): `user` and `linked` are [`User`](AccountKind::User), `shared`
/// [`SharedMailbox`](AccountKind::SharedMailbox), `room` and `equipment` the resource
/// kinds, anything else (`others`) `Other` with Graph's word. Graph has no kind on the user
/// itself; the common rule of thumb "a disabled account with a mailbox is a shared
/// mailbox" is not used, because a leaver's disabled account has a mailbox too — the
/// mailbox's own `userPurpose` says which it is. `enabled` is `accountEnabled`; the
/// address is the `SMTP:` entry of `proxyAddresses` (else `mail`), the aliases its
/// `smtp:` entries; `id` is the object id and `source_login` the user principal name
/// when it differs from the address (Graph addresses a mailbox by id or UPN, not by
/// alias, \[G-CMSG\]).
///
/// Left out, because they have no mailbox in this tenant: guests (`userType` `Guest`,
/// their mailbox is in their own organisation, \[G-USER\]) and users whose mailbox settings
/// answer `MailboxNotEnabledForRESTAPI` or `ResourceNotFound` (no Exchange licence, an
/// on-premises or soft-deleted mailbox, \[I-MBXREST\]). That costs one request per member
/// user, four at a time.
///
/// # Stats
/// Off by default. [`with_stats`](Self::with_stats) adds, per mailbox, the number of mail
/// folders and the sum of their `totalItemCount` (items, not only messages: meeting
/// requests count too, \[G-FOLD\]), walking the folder tree as the mail source does (one
/// request per folder with sub-folders; hidden folders are not counted, as they are not
/// listed). Bytes stay unknown: the v1.0 `mailFolder` has no size (\[G-FOLD\]).
///
/// # Groups
/// `GET /groups?$filter=mailEnabled eq true`: distribution lists, mail-enabled security
/// groups and Microsoft 365 groups (`groupTypes` containing `Unified`), told apart as the
/// group resource documents (\[G-GROUP\]). Members come from `GET /groups/{id}/members`,
/// one listing per group ([`group_members`](Directory::group_members)): users with a
/// mailbox as accounts, nested mail-enabled groups as groups, mail contacts, guests and
/// users without a mailbox as external addresses. Members that cannot receive mail (a
/// device, a group without an address) are left out. Owners are not listed.
///
/// # Permissions
/// Not listed (`permissions` is off): Microsoft Graph v1.0 has no API for mailbox
/// permissions (`FullAccess`, `SendAs`, `SendOnBehalf` are Exchange Online PowerShell's),
/// and an inventory does not guess them.
///
/// # Limits
/// The client's request budget ([`MailboxLimits`](crate::MailboxLimits), 10,000 requests
/// per 10 minutes and 4 at once by default) covers the whole directory, though Outlook
/// counts per mailbox (\[G-THR\]): a tenant of 50,000 users takes about 50 minutes at
/// the default. Raise it with [`with_limits`](crate::GraphBuilder::with_limits) for a
/// large tenant; Graph's 429s are waited out either way.
///
/// # Errors
/// A 403 is `PermissionDenied` with the application permission the call needs in its
/// context (`needs`): Graph's own message does not name it. 429s are waited out and
/// 5xx answers retried a few times by the client; anything else ends the listing.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::{AccountKind, Directory};
/// use mailmigrate_graph::emulator::{Emulator, TenantGroup, TenantUser};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let emu = Emulator::builder()
///     .user(TenantUser::member("ada@example.com").with_alias("a.lovelace@example.com"))
///     .user(TenantUser::shared("info@example.com"))
///     .group(TenantGroup::distribution("all@example.com").with_members(["ada@example.com"]))
///     .start()
///     .await
///     .unwrap();
/// let tenant = emu.graph_builder("example.com").connect_directory().await.unwrap();
/// let inventory = tenant.inventory().await.unwrap();
/// let info = inventory.find_account("A.Lovelace@example.com").unwrap();
/// assert_eq!(info.address, "ada@example.com");
/// assert_eq!(inventory.find_account("info@example.com").unwrap().kind, AccountKind::SharedMailbox);
/// assert_eq!(inventory.groups[0].members.len(), 1);
/// assert!(inventory.validate().is_empty());
/// emu.shutdown().await;
/// # });
/// ```
#[derive(Debug)]
pub struct GraphDirectory {
    client: Arc<Client>,
    info: DirectoryInfo,
    kinds: Kinds,
}

impl GraphDirectory {
    pub(crate) fn new(client: Arc<Client>, label: String) -> Self {
        Self {
            client,
            info: DirectoryInfo::new(crate::SCHEME, label, capabilities(false)),
            kinds: Kinds::default(),
        }
    }

    /// Lists each mailbox's folder and item counts too (see [Stats](Self#stats)): one
    /// more request per mail folder with sub-folders, per mailbox. Declares
    /// [`stats`](DirectoryCapabilities::stats).
    ///
    /// ```no_run
    /// # async fn run() -> mailmigrate_core::Result<()> {
    /// use mailmigrate_core::directory::Directory;
    /// let tenant = mailmigrate_graph::GraphBuilder::new("contoso.com")
    ///     .with_client_credentials("contoso.onmicrosoft.com", "app-id", "app-secret")
    ///     .connect_directory()
    ///     .await?
    ///     .with_stats(true);
    /// assert!(tenant.capabilities().stats);
    /// # Ok(())
    /// # }
    /// # let _ = run;
    /// ```
    #[must_use]
    pub fn with_stats(mut self, stats: bool) -> Self {
        self.info.capabilities = capabilities(stats);
        self
    }
}

/// Groups always, stats on request, permissions never (see [`GraphDirectory`]).
fn capabilities(stats: bool) -> DirectoryCapabilities {
    DirectoryCapabilities {
        groups: true,
        permissions: false,
        stats,
    }
}

#[async_trait]
impl Directory for GraphDirectory {
    fn info(&self) -> &DirectoryInfo {
        &self.info
    }

    fn accounts(&self) -> BoxStream<'static, Result<Account>> {
        users::accounts(
            Arc::clone(&self.client),
            Arc::clone(&self.kinds),
            self.info.capabilities.stats,
        )
    }

    async fn groups(&self) -> Result<Vec<Group>> {
        groups::list(&self.client).await
    }

    async fn group_members(&self, group: &Group) -> Result<Vec<GroupMember>> {
        groups::members(&self.client, &self.kinds, group).await
    }
}

/// Names the application permission a call needs on its `PermissionDenied` error: Graph's
/// 403 says only "Insufficient privileges to complete the operation." (\[I-DIR403\]) or
/// "Access is denied." \[G-ERR\].
fn needs(permission: &'static str) -> impl Fn(Error) -> Error + Clone + Send + Sync {
    move |e| {
        if e.kind() == ErrorKind::PermissionDenied {
            e.with_context("needs", permission)
        } else {
            e
        }
    }
}

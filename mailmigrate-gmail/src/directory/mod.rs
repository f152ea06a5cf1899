//! The domain's directory through the Admin SDK Directory API \[AD-DISC\]: users with
//! their aliases, groups and their members, as a core
//! [`Directory`](mailmigrate_core::directory::Directory).

mod admin;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use mailmigrate_core::directory::{
    Account, Directory, DirectoryCapabilities, DirectoryInfo, Group, GroupMember, Permission,
};
use mailmigrate_core::Result;

use crate::client::Client;
use crate::GmailBuilder;

/// The Admin SDK root \[AD-DISC\] `rootUrl`.
pub const ADMIN_URL: &str = "https://admin.googleapis.com";
/// Reading users \[AD-DISC\] (`directory.users.list`'s read-only scope).
pub const DIRECTORY_USER_SCOPE: &str =
    "https://www.googleapis.com/auth/admin.directory.user.readonly";
/// Reading groups and their members \[AD-DISC\].
pub const DIRECTORY_GROUP_SCOPE: &str =
    "https://www.googleapis.com/auth/admin.directory.group.readonly";

/// Builds the Gmail mailbox of a user, to count what it holds (see
/// [`GoogleDirectory::with_stats`]).
pub(crate) type Mailboxes = Arc<dyn Fn(&str) -> GmailBuilder + Send + Sync>;

/// A Google Workspace domain's users and groups through the Admin SDK Directory API.
/// Build it with [`GmailBuilder::connect_directory`]: the builder's user is the admin who
/// reads the directory (with a service account, the subject it acts for, which must be
/// an admin: anyone else is refused 403 "Not Authorized to access this resource/api",
/// \[AD-403\], reported as `PermissionDenied`).
///
/// # Accounts
/// `GET /admin/directory/v1/users?customer=my_customer&maxResults=500`, every page by
/// `nextPageToken` \[AD-USERS\]: the address is `primaryEmail`, the name `name.fullName`,
/// the aliases `aliases` then `nonEditableAliases` (domain-alias addresses Google adds;
/// mail to them arrives too, \[AD-USER\]), `enabled` is not `suspended`, `id` Google's user
/// id. Every account is a [`User`](mailmigrate_core::directory::AccountKind::User):
/// Workspace has no shared mailboxes (a collaborative inbox is a group). Users whose
/// `isMailboxSetup` is false have no Gmail mailbox yet and are left out.
///
/// # Groups
/// `GET …/groups?customer=my_customer`, then `GET …/groups/{groupKey}/members` per group
/// ([`group_members`](Directory::group_members)), each paged \[AD-GROUPS\]\[AD-MEMB\]:
/// members of `type` `USER` are accounts, `GROUP` nested groups, `EXTERNAL` outside
/// addresses; `CUSTOMER` (everyone in the domain) has no address and is left out.
/// Owners are not listed.
///
/// # Permissions
/// Off by default. [`with_permissions`](Self::with_permissions) adds, per mailbox, what
/// Gmail's settings say others may do with it: each accepted delegate of
/// `users.settings.delegates` holds [`FullAccess`](mailmigrate_core::directory::Right::FullAccess)
/// (delegates read, send and delete the account's mail \[GM-DELEG\]), and each accepted
/// custom "from" address of `users.settings.sendAs` other than the primary one is a
/// [`SendAs`](mailmigrate_core::directory::Right::SendAs) of the user on that address
/// \[GM-SENDAS\]. Two requests of one quota unit per mailbox. Folder-level rights do not
/// exist in Gmail.
///
/// # Stats
/// Off by default. [`with_stats`](Self::with_stats) adds, per mailbox, Gmail's own
/// counts: `messagesTotal` of `users.getProfile` and the number of labels of
/// `users.labels.list` (the folders the mailbox lists) \[GM-DISC\]. Bytes stay unknown:
/// Gmail reports no mailbox size.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::Directory;
/// use mailmigrate_gmail::emulator::{Emulator, WorkspaceGroup, WorkspaceUser};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let emu = Emulator::builder()
///     .admin("root@example.com")
///     .workspace_user(WorkspaceUser::new("ada@example.com").with_alias("a.lovelace@example.com"))
///     .workspace_group(WorkspaceGroup::new("all@example.com").with_members(["ada@example.com"]))
///     .start()
///     .await
///     .unwrap();
/// let dir = emu.gmail_builder("root@example.com").connect_directory().unwrap();
/// let inventory = dir.inventory().await.unwrap();
/// assert_eq!(inventory.find_account("A.Lovelace@example.com").unwrap().address, "ada@example.com");
/// assert_eq!(inventory.groups[0].members.len(), 1);
/// emu.shutdown().await;
/// # });
/// ```
pub struct GoogleDirectory {
    client: Arc<Client>,
    admin_url: String,
    info: DirectoryInfo,
    mailboxes: Option<Mailboxes>,
}

impl fmt::Debug for GoogleDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleDirectory")
            .field("admin_url", &self.admin_url)
            .field("info", &self.info)
            .field("stats", &self.mailboxes.is_some())
            .finish_non_exhaustive()
    }
}

impl GoogleDirectory {
    pub(crate) fn new(client: Client, admin_url: String, label: String) -> Self {
        Self {
            client: Arc::new(client),
            admin_url: admin_url.trim_end_matches('/').to_owned(),
            info: DirectoryInfo::new(crate::SCHEME, label, capabilities(false)),
            mailboxes: None,
        }
    }

    /// Counts each mailbox too (see [Stats](Self#stats)): `mailbox(address)` gives the
    /// builder of that user's Gmail (with a service account, the key acting for the
    /// user). Two requests per mailbox. Declares
    /// [`stats`](DirectoryCapabilities::stats).
    ///
    /// ```no_run
    /// # fn run(key: mailmigrate_gmail::ServiceAccountKey) -> mailmigrate_core::Result<()> {
    /// use mailmigrate_core::directory::Directory;
    /// use mailmigrate_gmail::GmailBuilder;
    /// let dir = GmailBuilder::new("admin@example.com")
    ///     .with_service_account(&key)
    ///     .connect_directory()?
    ///     .with_stats(move |user| GmailBuilder::new(user).with_service_account(&key));
    /// assert!(dir.capabilities().stats);
    /// # Ok(())
    /// # }
    /// # let _ = run;
    /// ```
    #[must_use]
    pub fn with_stats<F>(mut self, mailbox: F) -> Self
    where
        F: Fn(&str) -> GmailBuilder + Send + Sync + 'static,
    {
        self.mailboxes = Some(Arc::new(mailbox));
        self.info.capabilities.stats = true;
        self
    }

    /// Lists each mailbox's delegations too (see [Permissions](Self#permissions)):
    /// `mailbox(address)` gives the builder of that user's Gmail, as for
    /// [`with_stats`](Self::with_stats) (the last one given serves both). Declares
    /// [`permissions`](DirectoryCapabilities::permissions).
    ///
    /// ```
    /// use mailmigrate_core::directory::{Directory, Right};
    /// use mailmigrate_gmail::emulator::{Emulator, WorkspaceUser};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let emu = Emulator::builder()
    ///     .admin("root@example.com")
    ///     .workspace_user(WorkspaceUser::new("ada@example.com").with_delegate("bob@example.com"))
    ///     .user("bob@example.com")
    ///     .start()
    ///     .await
    ///     .unwrap();
    /// let builder = emu.gmail_builder("root@example.com");
    /// let per_user = emu.clone();
    /// let dir = builder
    ///     .connect_directory()
    ///     .unwrap()
    ///     .with_permissions(move |user| per_user.gmail_builder(user));
    /// let inventory = dir.inventory().await.unwrap();
    /// let p = &inventory.permissions[0];
    /// assert_eq!((p.mailbox.as_str(), p.grantee.as_str()), ("ada@example.com", "bob@example.com"));
    /// assert_eq!(p.right, Right::FullAccess);
    /// emu.shutdown().await;
    /// # });
    /// ```
    #[must_use]
    pub fn with_permissions<F>(mut self, mailbox: F) -> Self
    where
        F: Fn(&str) -> GmailBuilder + Send + Sync + 'static,
    {
        self.mailboxes = Some(Arc::new(mailbox));
        self.info.capabilities.permissions = true;
        self
    }
}

/// Groups always; stats and permissions on request (see [`GoogleDirectory`]).
fn capabilities(stats: bool) -> DirectoryCapabilities {
    DirectoryCapabilities {
        groups: true,
        permissions: false,
        stats,
    }
}

#[async_trait]
impl Directory for GoogleDirectory {
    fn info(&self) -> &DirectoryInfo {
        &self.info
    }

    fn accounts(&self) -> BoxStream<'static, Result<Account>> {
        admin::accounts(
            Arc::clone(&self.client),
            self.admin_url.clone(),
            self.mailboxes
                .clone()
                .filter(|_| self.info.capabilities.stats),
        )
    }

    async fn groups(&self) -> Result<Vec<Group>> {
        admin::groups(&self.client, &self.admin_url).await
    }

    async fn group_members(&self, group: &Group) -> Result<Vec<GroupMember>> {
        admin::members(&self.client, &self.admin_url, group).await
    }

    async fn permissions(&self, account: &Account) -> Result<Vec<Permission>> {
        let Some(mailbox) = self
            .mailboxes
            .as_ref()
            .filter(|_| self.info.capabilities.permissions)
        else {
            return Err(mailmigrate_core::Error::unsupported(
                "this directory lists permissions only with_permissions",
            ));
        };
        mailbox(&account.address)
            .build()?
            .delegations(&account.address)
            .await
            .map_err(|e| e.with_context("user", &account.address))
    }
}

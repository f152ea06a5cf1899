//! The emulated domain's directory: users with their names, aliases and state, groups
//! with their members, and which users are admins.

use std::collections::BTreeSet;

use serde_json::{json, Value};

/// A user of the emulated domain as the Directory API lists it \[AD-USER\].
///
/// Every [`EmulatorBuilder::user`](crate::emulator::EmulatorBuilder::user) is listed
/// with defaults (no name, no aliases, active, mailbox set up); this sets more.
///
/// ```
/// use mailmigrate_gmail::emulator::WorkspaceUser;
/// let u = WorkspaceUser::new("ada@example.com")
///     .with_name("Ada Lovelace")
///     .with_alias("a.lovelace@example.com")
///     .with_non_editable_alias("ada@example.test-google-a.com")
///     .with_delegate("bob@example.com")
///     .with_send_as("info@example.com")
///     .suspended(true);
/// assert_eq!(u.email, "ada@example.com");
/// assert!(u.suspended);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkspaceUser {
    /// `primaryEmail`.
    pub email: String,
    /// `name.fullName`.
    pub full_name: Option<String>,
    /// `aliases`: addresses the admin added.
    pub aliases: Vec<String>,
    /// `nonEditableAliases`: addresses Google adds (domain aliases, the test domain).
    pub non_editable_aliases: Vec<String>,
    /// `suspended`.
    pub suspended: bool,
    /// `isMailboxSetup`: whether Gmail has provisioned the mailbox.
    pub mailbox_setup: bool,
    /// Gmail's delegates of the mailbox (`users.settings.delegates`, each `accepted`).
    pub delegates: Vec<String>,
    /// Custom "from" addresses the user may send as (`users.settings.sendAs`, besides the
    /// primary address, each `accepted`).
    pub send_as: Vec<String>,
}

impl WorkspaceUser {
    /// An active user with a mailbox, no name and no aliases.
    pub fn new(email: &str) -> Self {
        Self {
            email: email.to_ascii_lowercase(),
            full_name: None,
            aliases: Vec::new(),
            non_editable_aliases: Vec::new(),
            suspended: false,
            mailbox_setup: true,
            delegates: Vec::new(),
            send_as: Vec::new(),
        }
    }
    /// Sets `name.fullName`.
    #[must_use]
    pub fn with_name(mut self, name: &str) -> Self {
        self.full_name = Some(name.to_owned());
        self
    }
    /// Adds an alias.
    #[must_use]
    pub fn with_alias(mut self, alias: &str) -> Self {
        self.aliases.push(alias.to_owned());
        self
    }
    /// Adds a non-editable alias.
    #[must_use]
    pub fn with_non_editable_alias(mut self, alias: &str) -> Self {
        self.non_editable_aliases.push(alias.to_owned());
        self
    }
    /// Adds a delegate: `delegate` may read, send and delete the user's mail.
    #[must_use]
    pub fn with_delegate(mut self, delegate: &str) -> Self {
        self.delegates.push(delegate.to_ascii_lowercase());
        self
    }
    /// Adds a send-as address: the user may send mail from `address`.
    #[must_use]
    pub fn with_send_as(mut self, address: &str) -> Self {
        self.send_as.push(address.to_ascii_lowercase());
        self
    }
    /// Sets `suspended`.
    #[must_use]
    pub fn suspended(mut self, suspended: bool) -> Self {
        self.suspended = suspended;
        self
    }
    /// Sets `isMailboxSetup`.
    #[must_use]
    pub fn mailbox_setup(mut self, setup: bool) -> Self {
        self.mailbox_setup = setup;
        self
    }

    /// The User resource \[AD-USER\]: `aliases` and `nonEditableAliases` only when there
    /// are some, as Google leaves empty lists out.
    pub(crate) fn render(&self) -> Value {
        let mut v = json!({
            "kind": "admin#directory#user",
            "id": numeric_id(&self.email),
            "primaryEmail": self.email,
            "name": {"fullName": self.full_name.clone().unwrap_or_default()},
            "suspended": self.suspended,
            "isMailboxSetup": self.mailbox_setup,
        });
        if !self.aliases.is_empty() {
            v["aliases"] = json!(self.aliases);
        }
        if !self.non_editable_aliases.is_empty() {
            v["nonEditableAliases"] = json!(self.non_editable_aliases);
        }
        v
    }
}

/// A group of the emulated domain with its members \[AD-GROUP\]\[AD-MEMB\].
///
/// A member that is another group of the domain is listed with `type` `GROUP`, a user of
/// the domain `USER`, anything else `EXTERNAL`.
///
/// ```
/// use mailmigrate_gmail::emulator::WorkspaceGroup;
/// let g = WorkspaceGroup::new("team@example.com")
///     .with_name("Team")
///     .with_members(["ada@example.com", "partner@other.example"]);
/// assert_eq!(g.members.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkspaceGroup {
    /// `email`.
    pub email: String,
    /// `name`.
    pub name: Option<String>,
    /// `aliases`.
    pub aliases: Vec<String>,
    /// The members' addresses.
    pub members: Vec<String>,
}

impl WorkspaceGroup {
    /// A group without members.
    pub fn new(email: &str) -> Self {
        Self {
            email: email.to_ascii_lowercase(),
            name: None,
            aliases: Vec::new(),
            members: Vec::new(),
        }
    }
    /// Sets `name`.
    #[must_use]
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
    /// Adds an alias.
    #[must_use]
    pub fn with_alias(mut self, alias: &str) -> Self {
        self.aliases.push(alias.to_owned());
        self
    }
    /// Adds members by address.
    #[must_use]
    pub fn with_members<I: IntoIterator<Item = S>, S: Into<String>>(mut self, members: I) -> Self {
        self.members.extend(members.into_iter().map(Into::into));
        self
    }

    /// The Group resource \[AD-GROUP\].
    pub(crate) fn render(&self) -> Value {
        let mut v = json!({
            "kind": "admin#directory#group",
            "id": numeric_id(&self.email),
            "email": self.email,
            "name": self.name.clone().unwrap_or_default(),
            "directMembersCount": self.members.len().to_string(),
        });
        if !self.aliases.is_empty() {
            v["aliases"] = json!(self.aliases);
        }
        v
    }

    /// The Member resources \[AD-MEMB\]: `type` `USER`, `GROUP` or `EXTERNAL`, role
    /// `MEMBER`, status `ACTIVE`.
    pub(crate) fn render_members(&self, dir: &DirectoryConfig) -> Vec<Value> {
        self.members
            .iter()
            .map(|m| {
                let kind = if dir.group(m).is_some() {
                    "GROUP"
                } else if dir.has_user(m) {
                    "USER"
                } else {
                    "EXTERNAL"
                };
                json!({
                    "kind": "admin#directory#member",
                    "id": numeric_id(m),
                    "email": m,
                    "role": "MEMBER",
                    "type": kind,
                    "status": "ACTIVE",
                })
            })
            .collect()
    }
}

/// What the builder set for the directory.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirectoryConfig {
    /// Users with more than the defaults, by address.
    pub(crate) profiles: Vec<WorkspaceUser>,
    pub(crate) groups: Vec<WorkspaceGroup>,
    /// Users who may read the directory (super admins).
    pub(crate) admins: BTreeSet<String>,
    /// Every user's address (members of the domain).
    pub(crate) known: BTreeSet<String>,
    /// Caps every page (Google may return fewer than `maxResults`), so tests see paging
    /// without hundreds of users.
    pub(crate) page_size: Option<usize>,
}

impl DirectoryConfig {
    pub(crate) fn is_admin(&self, user: &str) -> bool {
        self.admins.contains(&user.to_ascii_lowercase())
    }

    /// Every user of the domain (the builder's users, with their profiles), in the order
    /// they were added.
    pub(crate) fn users(&self, mailboxes: &[(String, String)]) -> Vec<WorkspaceUser> {
        mailboxes
            .iter()
            .map(|(email, _)| {
                self.profiles
                    .iter()
                    .find(|p| p.email == *email)
                    .cloned()
                    .unwrap_or_else(|| WorkspaceUser::new(email))
            })
            .collect()
    }

    fn has_user(&self, address: &str) -> bool {
        let a = address.to_ascii_lowercase();
        self.known.contains(&a)
    }

    /// The group `key` names: its address, an alias, or its id.
    pub(crate) fn group(&self, key: &str) -> Option<&WorkspaceGroup> {
        let k = key.to_ascii_lowercase();
        self.groups.iter().find(|g| {
            g.email == k
                || g.aliases.iter().any(|a| a.eq_ignore_ascii_case(&k))
                || numeric_id(&g.email) == k
        })
    }
}

/// A stable numeric id for `email` (Google's ids are 21 digits).
fn numeric_id(email: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in email.to_ascii_lowercase().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("1{h:020}")
}

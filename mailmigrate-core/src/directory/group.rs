//! Groups: distribution lists, security groups and Microsoft 365 groups.

use serde::{Deserialize, Serialize};

use super::kind::open_kind;

open_kind! {
    /// What sort of group it is.
    ///
    /// # Examples
    /// ```
    /// use mailmigrate_core::directory::GroupKind;
    ///
    /// assert_eq!("MailUniversalDistributionGroup".parse::<GroupKind>().unwrap(), GroupKind::Distribution);
    /// assert_eq!("m365".parse::<GroupKind>().unwrap(), GroupKind::Microsoft365);
    /// assert_eq!(GroupKind::Security.to_string(), "security");
    /// ```
    pub enum GroupKind ("group kind") {
        /// A distribution list: mail to it goes to every member.
        Distribution = "distribution" | "distribution_list" | "dl" | "list"
            | "mail_universal_distribution_group",
        /// A security group (mail-enabled or not).
        Security = "security" | "mail_universal_security_group",
        /// A Microsoft 365 (unified) group with its own mailbox and calendar.
        Microsoft365 = "microsoft365" | "m365" | "unified" | "office365" | "group_mailbox",
    }
}

impl Default for GroupKind {
    /// A distribution list, [`GroupKind::Distribution`].
    fn default() -> Self {
        Self::Distribution
    }
}

open_kind! {
    /// What a group member is.
    ///
    /// # Examples
    /// ```
    /// use mailmigrate_core::directory::MemberKind;
    ///
    /// assert_eq!("external".parse::<MemberKind>().unwrap(), MemberKind::External);
    /// assert_eq!(MemberKind::default(), MemberKind::Account);
    /// ```
    pub enum MemberKind ("member kind") {
        /// An account of the same directory (any [`AccountKind`](super::AccountKind)).
        Account = "account" | "user" | "mailbox",
        /// Another group of the same directory (a nested group).
        Group = "group",
        /// An address outside the directory (a mail contact, a partner).
        External = "external" | "contact" | "mail_contact" | "guest",
    }
}

impl Default for MemberKind {
    /// An account of the directory, [`MemberKind::Account`].
    fn default() -> Self {
        Self::Account
    }
}

/// One member of a group, by address.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::{GroupMember, MemberKind};
///
/// let m = GroupMember::new("partner@other.example", MemberKind::External);
/// assert_eq!(m.kind, MemberKind::External);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupMember {
    /// The member's address.
    pub address: String,
    /// What the member is.
    #[serde(default)]
    pub kind: MemberKind,
}

impl GroupMember {
    /// A member of `kind` at `address`.
    pub fn new(address: impl Into<String>, kind: MemberKind) -> Self {
        Self {
            address: address.into(),
            kind,
        }
    }

    /// An [`Account`](MemberKind::Account) member.
    ///
    /// ```
    /// use mailmigrate_core::directory::{GroupMember, MemberKind};
    /// assert_eq!(GroupMember::account("alice@example.com").kind, MemberKind::Account);
    /// ```
    pub fn account(address: impl Into<String>) -> Self {
        Self::new(address, MemberKind::Account)
    }
}

/// A group with an address: who is in it and who owns it.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::{Group, GroupKind, GroupMember};
///
/// let team = Group::new("team@example.com")
///     .with_name("Team")
///     .with_kind(GroupKind::Microsoft365)
///     .with_members([GroupMember::account("alice@example.com")])
///     .with_owners(["alice@example.com"]);
/// assert_eq!(team.members.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Group {
    /// The group's address.
    pub address: String,
    /// Its display name, if any.
    pub name: Option<String>,
    /// What sort of group it is.
    #[serde(default)]
    pub kind: GroupKind,
    /// Its members, as far as they were listed.
    #[serde(default)]
    pub members: Vec<GroupMember>,
    /// The addresses of its owners.
    #[serde(default)]
    pub owners: Vec<String>,
    /// The provider's own id.
    pub id: Option<String>,
}

impl Group {
    /// A [`Distribution`](GroupKind::Distribution) group with no members.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            name: None,
            kind: GroupKind::Distribution,
            members: Vec::new(),
            owners: Vec::new(),
            id: None,
        }
    }

    /// Sets the display name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the kind.
    #[must_use]
    pub fn with_kind(mut self, kind: GroupKind) -> Self {
        self.kind = kind;
        self
    }

    /// Adds members.
    #[must_use]
    pub fn with_members(mut self, members: impl IntoIterator<Item = GroupMember>) -> Self {
        self.members.extend(members);
        self
    }

    /// Adds owners by address.
    #[must_use]
    pub fn with_owners<I, S>(mut self, owners: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.owners.extend(owners.into_iter().map(Into::into));
        self
    }

    /// Sets the provider's id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

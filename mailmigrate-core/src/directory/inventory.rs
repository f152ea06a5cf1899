//! The inventory a migration campaign starts from: every account, group and delegation,
//! with totals and a consistency check.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::address::{address_key, is_valid_address};
use super::{Account, AccountKind, DirectoryCapabilities, Group, MemberKind, Permission};
use crate::{Error, ErrorKind, Result};

/// Every account, group and permission of a directory, as one value.
///
/// [`Directory::inventory`](super::Directory::inventory) builds it; a campaign plans its
/// batches from it, checks it with [`validate`](Self::validate), and may store it as JSON.
///
/// [`listed`](Self::listed) says what the directory could list: when `listed.groups` is
/// false, an empty `groups` means "not known", not "none".
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::{Account, Inventory};
///
/// let inv = Inventory::new(vec![
///     Account::new("alice@example.com").with_aliases(["a.smith@example.com"]),
///     Account::new("bob@example.com"),
/// ]);
/// assert_eq!(inv.find_account("A.Smith@example.com").unwrap().address, "alice@example.com");
/// assert!(inv.validate().is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Inventory {
    /// The accounts, in the order the directory listed them.
    pub accounts: Vec<Account>,
    /// The groups, with their members.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// The permissions and delegations.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// What the directory could list, so that an empty list can be told from an unknown
    /// one.
    #[serde(default)]
    pub listed: DirectoryCapabilities,
}

impl Inventory {
    /// An inventory of `accounts` alone (nothing else marked as listed).
    pub fn new(accounts: Vec<Account>) -> Self {
        Self {
            accounts,
            ..Self::default()
        }
    }

    /// Sets the groups, and marks them as [listed](Self::listed).
    #[must_use]
    pub fn with_groups(mut self, groups: Vec<Group>) -> Self {
        self.groups = groups;
        self.listed.groups = true;
        self
    }

    /// Sets the permissions, and marks them as [listed](Self::listed).
    #[must_use]
    pub fn with_permissions(mut self, permissions: Vec<Permission>) -> Self {
        self.permissions = permissions;
        self.listed.permissions = true;
        self
    }

    /// Sets what the directory could list.
    #[must_use]
    pub fn with_listed(mut self, listed: DirectoryCapabilities) -> Self {
        self.listed = listed;
        self
    }

    /// The account whose primary address or alias is `address`, compared
    /// case-insensitively (see [`address_key`](super::address_key)). A primary address wins
    /// over another account's alias. Scans the accounts; for many look-ups build a map
    /// with [`address_key`](super::address_key) once.
    ///
    /// ```
    /// use mailmigrate_core::directory::{Account, Inventory};
    /// let inv = Inventory::new(vec![Account::new("Info@Example.com").with_aliases(["hello@example.com"])]);
    /// assert!(inv.find_account("info@example.com").is_some());
    /// assert!(inv.find_account("HELLO@EXAMPLE.COM").is_some());
    /// assert!(inv.find_account("nobody@example.com").is_none());
    /// ```
    pub fn find_account(&self, address: &str) -> Option<&Account> {
        let key = address_key(address);
        self.accounts
            .iter()
            .find(|a| address_key(&a.address) == key)
            .or_else(|| {
                self.accounts
                    .iter()
                    .find(|a| a.aliases.iter().any(|al| address_key(&al.address) == key))
            })
    }

    /// The group at `address`, compared case-insensitively.
    ///
    /// ```
    /// use mailmigrate_core::directory::{Group, Inventory};
    /// let inv = Inventory::new(vec![]).with_groups(vec![Group::new("team@example.com")]);
    /// assert!(inv.find_group("Team@example.com").is_some());
    /// ```
    pub fn find_group(&self, address: &str) -> Option<&Group> {
        let key = address_key(address);
        self.groups.iter().find(|g| address_key(&g.address) == key)
    }

    /// Counts and volumes over the whole inventory.
    ///
    /// ```
    /// use mailmigrate_core::directory::{Account, AccountKind, Inventory, MailboxStats};
    /// let inv = Inventory::new(vec![
    ///     Account::new("a@example.com").with_stats(MailboxStats::new().with_messages(10).with_bytes(1_000)),
    ///     Account::new("b@example.com").with_kind(AccountKind::SharedMailbox),
    /// ]);
    /// let t = inv.totals();
    /// assert_eq!((t.accounts, t.users, t.shared_mailboxes), (2, 1, 1));
    /// assert_eq!((t.messages, t.bytes, t.accounts_without_size), (10, 1_000, 1));
    /// ```
    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            accounts: self.accounts.len(),
            groups: self.groups.len(),
            permissions: self.permissions.len(),
            ..Totals::default()
        };
        for a in &self.accounts {
            match a.kind {
                AccountKind::User => t.users += 1,
                AccountKind::SharedMailbox => t.shared_mailboxes += 1,
                AccountKind::Room | AccountKind::Equipment => t.resources += 1,
                AccountKind::Other(_) => t.other += 1,
            }
            if !a.enabled {
                t.disabled += 1;
            }
            t.aliases += a.aliases.len();
            let stats = a.stats.unwrap_or_default();
            t.messages += stats.messages.unwrap_or(0);
            t.bytes += stats.bytes.unwrap_or(0);
            t.contacts += stats.contacts.unwrap_or(0);
            t.events += stats.events.unwrap_or(0);
            if stats.bytes.is_none() {
                t.accounts_without_size += 1;
            }
        }
        t
    }

    /// Lists every inconsistency, in inventory order; empty when there is none.
    ///
    /// Nothing here panics or stops at the first problem: a campaign shows the whole list
    /// and the operator fixes the source of the inventory. What it finds:
    /// - an empty address ([`Finding::EmptyAddress`]) or one that is not `local@domain`
    ///   ([`Finding::InvalidAddress`]), wherever an address is expected;
    /// - one address (compared case-insensitively) as the primary address of two accounts
    ///   or groups, or as an alias of two accounts ([`Finding::DuplicateAddress`]);
    /// - an alias that is another account's or group's primary address
    ///   ([`Finding::AliasIsPrimary`]);
    /// - a group member, owner, permission mailbox or grantee that names no account (or,
    ///   for a [`MemberKind::Group`] member, no group) of the inventory
    ///   ([`Finding::NotFound`]). [`MemberKind::External`] members are not looked up, nor
    ///   are grantees when the inventory did not list groups (a grantee may be a group).
    ///
    /// ```
    /// use mailmigrate_core::directory::{Account, Finding, Inventory};
    /// let inv = Inventory::new(vec![
    ///     Account::new("alice@example.com"),
    ///     Account::new("ALICE@example.com"),
    /// ]);
    /// assert!(matches!(inv.validate()[..], [Finding::DuplicateAddress { .. }]));
    /// ```
    pub fn validate(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        let check = |address: &str, place: &Place, findings: &mut Vec<Finding>| {
            if address.trim().is_empty() {
                findings.push(Finding::EmptyAddress {
                    place: place.clone(),
                });
                false
            } else if !is_valid_address(address.trim()) {
                findings.push(Finding::InvalidAddress {
                    address: address.to_owned(),
                    place: place.clone(),
                });
                false
            } else {
                true
            }
        };

        // Primary addresses of accounts, then of groups.
        let mut primaries: HashMap<String, Place> = HashMap::new();
        let mut note_primary =
            |key: String, place: Place, address: &str, findings: &mut Vec<Finding>| {
                if let Some(first) = primaries.get(&key) {
                    findings.push(Finding::DuplicateAddress {
                        address: address.to_owned(),
                        first: first.clone(),
                        second: place,
                    });
                } else {
                    primaries.insert(key, place);
                }
            };
        for (index, a) in self.accounts.iter().enumerate() {
            let place = Place::Account {
                index,
                address: a.address.clone(),
            };
            if check(&a.address, &place, &mut findings) {
                note_primary(address_key(&a.address), place, &a.address, &mut findings);
            }
        }
        for (index, g) in self.groups.iter().enumerate() {
            let place = Place::Group {
                index,
                address: g.address.clone(),
            };
            if check(&g.address, &place, &mut findings) {
                note_primary(address_key(&g.address), place, &g.address, &mut findings);
            }
        }

        // Aliases.
        let mut aliases: HashMap<String, Place> = HashMap::new();
        for (index, a) in self.accounts.iter().enumerate() {
            let own = address_key(&a.address);
            for alias in &a.aliases {
                let place = Place::Alias {
                    account: index,
                    address: a.address.clone(),
                };
                if !check(&alias.address, &place, &mut findings) {
                    continue;
                }
                let key = address_key(&alias.address);
                if key == own {
                    continue; // an alias repeating its own primary address is harmless
                }
                if let Some(primary) = primaries.get(&key) {
                    findings.push(Finding::AliasIsPrimary {
                        address: alias.address.clone(),
                        alias: place,
                        primary: primary.clone(),
                    });
                } else if let Some(first) = aliases.get(&key) {
                    if !matches!(first, Place::Alias { account, .. } if *account == index) {
                        findings.push(Finding::DuplicateAddress {
                            address: alias.address.clone(),
                            first: first.clone(),
                            second: place,
                        });
                    }
                } else {
                    aliases.insert(key, place);
                }
            }
        }

        // References: members, owners, permissions.
        let is_account = |key: &str| {
            matches!(primaries.get(key), Some(Place::Account { .. })) || aliases.contains_key(key)
        };
        let is_group = |key: &str| matches!(primaries.get(key), Some(Place::Group { .. }));
        for (index, g) in self.groups.iter().enumerate() {
            for m in &g.members {
                let place = Place::Member {
                    group: index,
                    address: g.address.clone(),
                };
                if !check(&m.address, &place, &mut findings) {
                    continue;
                }
                let key = address_key(&m.address);
                let found = match m.kind {
                    MemberKind::Account => is_account(&key),
                    MemberKind::Group => is_group(&key),
                    MemberKind::External => true,
                    MemberKind::Other(_) => is_account(&key) || is_group(&key),
                };
                if !found {
                    findings.push(Finding::NotFound {
                        address: m.address.clone(),
                        place,
                    });
                }
            }
            for owner in &g.owners {
                let place = Place::Owner {
                    group: index,
                    address: g.address.clone(),
                };
                if check(owner, &place, &mut findings) && !is_account(&address_key(owner)) {
                    findings.push(Finding::NotFound {
                        address: owner.clone(),
                        place,
                    });
                }
            }
        }
        for (index, p) in self.permissions.iter().enumerate() {
            let mailbox = Place::PermissionMailbox { index };
            if check(&p.mailbox, &mailbox, &mut findings) && !is_account(&address_key(&p.mailbox)) {
                findings.push(Finding::NotFound {
                    address: p.mailbox.clone(),
                    place: mailbox,
                });
            }
            let grantee = Place::PermissionGrantee { index };
            let key = address_key(&p.grantee);
            if check(&p.grantee, &grantee, &mut findings)
                && !is_account(&key)
                && !is_group(&key)
                && self.listed.groups
            {
                findings.push(Finding::NotFound {
                    address: p.grantee.clone(),
                    place: grantee,
                });
            }
        }
        findings
    }

    /// [`validate`](Self::validate) as a `Result`, for callers that stop on any finding.
    ///
    /// # Errors
    /// [`ErrorKind::ConfigInvalid`] naming how many findings there are and the first few.
    ///
    /// ```
    /// use mailmigrate_core::directory::{Account, Inventory};
    /// assert!(Inventory::new(vec![Account::new("a@example.com")]).ensure_valid().is_ok());
    /// let err = Inventory::new(vec![Account::new("not an address")]).ensure_valid().unwrap_err();
    /// assert!(err.message().starts_with("1 problem in the inventory"));
    /// ```
    pub fn ensure_valid(&self) -> Result<()> {
        let findings = self.validate();
        if findings.is_empty() {
            return Ok(());
        }
        const SHOWN: usize = 5;
        let mut message = format!(
            "{} problem{} in the inventory: ",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        );
        for (i, f) in findings.iter().take(SHOWN).enumerate() {
            if i > 0 {
                message.push_str("; ");
            }
            message.push_str(&f.to_string());
        }
        if findings.len() > SHOWN {
            message.push_str(&format!("; and {} more", findings.len() - SHOWN));
        }
        Err(Error::new(ErrorKind::ConfigInvalid, message))
    }
}

/// Counts and volumes over an [`Inventory`].
///
/// Volumes add up what the directory said; [`accounts_without_size`](Self::accounts_without_size)
/// counts the accounts whose size it did not, so a plan knows when `bytes` is a lower bound.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::Inventory;
/// assert_eq!(Inventory::default().totals().accounts, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Totals {
    /// Accounts of every kind.
    pub accounts: usize,
    /// [`User`](AccountKind::User) accounts.
    pub users: usize,
    /// [`SharedMailbox`](AccountKind::SharedMailbox) accounts.
    pub shared_mailboxes: usize,
    /// [`Room`](AccountKind::Room) and [`Equipment`](AccountKind::Equipment) accounts.
    pub resources: usize,
    /// Accounts of another kind.
    pub other: usize,
    /// Disabled accounts.
    pub disabled: usize,
    /// Aliases over all accounts.
    pub aliases: usize,
    /// Groups.
    pub groups: usize,
    /// Permissions.
    pub permissions: usize,
    /// Messages, over the accounts that said.
    pub messages: u64,
    /// Bytes, over the accounts that said.
    pub bytes: u64,
    /// Contacts, over the accounts that said.
    pub contacts: u64,
    /// Events, over the accounts that said.
    pub events: u64,
    /// Accounts whose size in bytes is unknown.
    pub accounts_without_size: usize,
}

/// Where in an [`Inventory`] a [`Finding`] is: the index into its list and the primary
/// address of the account or group concerned.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::Place;
/// let p = Place::Account { index: 2, address: "alice@example.com".into() };
/// assert_eq!(p.to_string(), "account #2 <alice@example.com>");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Place {
    /// An account's primary address.
    Account {
        /// Its index in [`Inventory::accounts`].
        index: usize,
        /// Its primary address.
        address: String,
    },
    /// An alias of an account.
    Alias {
        /// The account's index in [`Inventory::accounts`].
        account: usize,
        /// The account's primary address.
        address: String,
    },
    /// A group's address.
    Group {
        /// Its index in [`Inventory::groups`].
        index: usize,
        /// Its address.
        address: String,
    },
    /// A member of a group.
    Member {
        /// The group's index in [`Inventory::groups`].
        group: usize,
        /// The group's address.
        address: String,
    },
    /// An owner of a group.
    Owner {
        /// The group's index in [`Inventory::groups`].
        group: usize,
        /// The group's address.
        address: String,
    },
    /// The mailbox of a permission.
    PermissionMailbox {
        /// Its index in [`Inventory::permissions`].
        index: usize,
    },
    /// The grantee of a permission.
    PermissionGrantee {
        /// Its index in [`Inventory::permissions`].
        index: usize,
    },
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Account { index, address } => write!(f, "account #{index} <{address}>"),
            Self::Alias { account, address } => {
                write!(f, "an alias of account #{account} <{address}>")
            }
            Self::Group { index, address } => write!(f, "group #{index} <{address}>"),
            Self::Member { group, address } => write!(f, "a member of group #{group} <{address}>"),
            Self::Owner { group, address } => write!(f, "an owner of group #{group} <{address}>"),
            Self::PermissionMailbox { index } => write!(f, "the mailbox of permission #{index}"),
            Self::PermissionGrantee { index } => write!(f, "the grantee of permission #{index}"),
        }
    }
}

/// One inconsistency [`Inventory::validate`] found.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::{Account, Finding, Inventory, Place};
/// let inv = Inventory::new(vec![Account::new("")]);
/// let findings = inv.validate();
/// assert_eq!(findings, [Finding::EmptyAddress { place: Place::Account { index: 0, address: String::new() } }]);
/// assert_eq!(findings[0].to_string(), "account #0 <> has an empty address");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Finding {
    /// An address is empty.
    EmptyAddress {
        /// Where.
        place: Place,
    },
    /// An address is not `local@domain` (see
    /// [`is_valid_address`](super::is_valid_address)).
    InvalidAddress {
        /// The address as written.
        address: String,
        /// Where.
        place: Place,
    },
    /// Two accounts or groups share a primary address, or two accounts an alias.
    DuplicateAddress {
        /// The address as the second place wrote it.
        address: String,
        /// Where it appeared first.
        first: Place,
        /// Where it appeared again.
        second: Place,
    },
    /// An alias of one account is the primary address of another account or a group.
    AliasIsPrimary {
        /// The alias.
        address: String,
        /// The account holding the alias.
        alias: Place,
        /// The account or group whose primary address it is.
        primary: Place,
    },
    /// A member, owner, permission mailbox or grantee names nothing in the inventory.
    NotFound {
        /// The address looked up.
        address: String,
        /// Where it was named.
        place: Place,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyAddress { place } => write!(f, "{place} has an empty address"),
            Self::InvalidAddress { address, place } => {
                write!(
                    f,
                    "{place}: `{}` is not a valid address",
                    address.escape_debug()
                )
            }
            Self::DuplicateAddress {
                address,
                first,
                second,
            } => write!(f, "{address} is both {first} and {second}"),
            Self::AliasIsPrimary {
                address,
                alias,
                primary,
            } => write!(f, "{address}, {alias}, is the address of {primary}"),
            Self::NotFound { address, place } => {
                write!(f, "{place}, {address}, is not in the inventory")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{GroupMember, Right};

    fn campaign() -> Inventory {
        Inventory::new(vec![
            Account::new("alice@example.com").with_aliases(["a.smith@example.com"]),
            Account::new("bob@example.com"),
            Account::new("info@example.com").with_kind(AccountKind::SharedMailbox),
        ])
        .with_groups(vec![Group::new("team@example.com").with_members([
            GroupMember::account("alice@example.com"),
            GroupMember::account("A.Smith@example.com"),
            GroupMember::new("partner@other.example", MemberKind::External),
        ])])
        .with_permissions(vec![Permission::new(
            "info@example.com",
            "team@example.com",
            Right::SendAs,
        )])
    }

    #[test]
    fn consistent_inventory_has_no_findings() {
        assert_eq!(campaign().validate(), []);
    }

    #[test]
    fn alias_colliding_with_primary_is_found() {
        let mut inv = campaign();
        inv.accounts[1]
            .aliases
            .push(crate::directory::Alias::new("INFO@example.com"));
        assert_eq!(
            inv.validate(),
            [Finding::AliasIsPrimary {
                address: "INFO@example.com".into(),
                alias: Place::Alias {
                    account: 1,
                    address: "bob@example.com".into()
                },
                primary: Place::Account {
                    index: 2,
                    address: "info@example.com".into()
                },
            }]
        );
    }

    #[test]
    fn alias_on_two_accounts_is_a_duplicate_once() {
        let mut inv = campaign();
        inv.accounts[1]
            .aliases
            .push(crate::directory::Alias::new("a.smith@example.com"));
        let findings = inv.validate();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(matches!(
            &findings[0],
            Finding::DuplicateAddress {
                second: Place::Alias { account: 1, .. },
                ..
            }
        ));
    }

    #[test]
    fn group_address_taken_by_account_is_a_duplicate() {
        let mut inv = campaign();
        inv.groups.push(Group::new("Bob@example.com"));
        assert!(matches!(
            &inv.validate()[..],
            [Finding::DuplicateAddress {
                first: Place::Account { index: 1, .. },
                second: Place::Group { index: 1, .. },
                ..
            }]
        ));
    }

    #[test]
    fn dangling_references_are_not_found() {
        let mut inv = campaign();
        inv.groups[0]
            .members
            .push(GroupMember::account("carol@example.com"));
        inv.groups[0]
            .members
            .push(GroupMember::new("alice@example.com", MemberKind::Group));
        inv.groups[0].owners.push("dave@example.com".into());
        inv.permissions.push(Permission::new(
            "gone@example.com",
            "bob@example.com",
            Right::FullAccess,
        ));
        let missing: Vec<_> = inv
            .validate()
            .into_iter()
            .map(|f| match f {
                Finding::NotFound { address, .. } => address,
                other => panic!("unexpected {other}"),
            })
            .collect();
        assert_eq!(
            missing,
            [
                "carol@example.com",
                "alice@example.com",
                "dave@example.com",
                "gone@example.com"
            ]
        );
    }

    #[test]
    fn ensure_valid_summarises_many_findings() {
        let inv = Inventory::new((0..7).map(|i| Account::new(format!("bad{i}"))).collect());
        let err = inv.ensure_valid().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        assert!(err.message().starts_with("7 problems"), "{}", err.message());
        assert!(err.message().ends_with("and 2 more"), "{}", err.message());
    }

    #[test]
    fn primary_wins_over_alias_in_lookup() {
        let inv = Inventory::new(vec![
            Account::new("x@example.com").with_aliases(["y@example.com"]),
            Account::new("y@example.com"),
        ]);
        assert_eq!(
            inv.find_account("y@example.com").unwrap().address,
            "y@example.com"
        );
    }
}

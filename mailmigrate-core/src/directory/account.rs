//! Accounts: one mailbox each, with its kind, aliases and volume.

use serde::{Deserialize, Serialize};

use super::address::address_key;
use super::kind::open_kind;

open_kind! {
    /// What sort of mailbox an account is.
    ///
    /// Parsing is lenient about spelling, so Exchange's `RecipientTypeDetails` values
    /// (`UserMailbox`, `SharedMailbox`, `RoomMailbox`, `EquipmentMailbox`) read as they are.
    ///
    /// # Examples
    /// ```
    /// use mailmigrate_core::directory::AccountKind;
    ///
    /// assert_eq!("SharedMailbox".parse::<AccountKind>().unwrap(), AccountKind::SharedMailbox);
    /// assert_eq!("room".parse::<AccountKind>().unwrap(), AccountKind::Room);
    /// let other: AccountKind = "other:SchedulingMailbox".parse().unwrap();
    /// assert_eq!(other, AccountKind::Other("SchedulingMailbox".into()));
    /// assert_eq!(other.to_string(), "other:SchedulingMailbox");
    /// assert!("robot".parse::<AccountKind>().is_err());
    /// ```
    pub enum AccountKind ("account kind") {
        /// A person's own mailbox.
        User = "user" | "user_mailbox" | "mailbox",
        /// A mailbox several people read, without its own sign-in (Exchange shared mailbox,
        /// Google collaborative inbox).
        SharedMailbox = "shared_mailbox" | "shared",
        /// A meeting room's resource mailbox.
        Room = "room" | "room_mailbox",
        /// An equipment resource mailbox (a projector, a car).
        Equipment = "equipment" | "equipment_mailbox",
    }
}

impl Default for AccountKind {
    /// A person's mailbox, [`AccountKind::User`].
    fn default() -> Self {
        Self::User
    }
}

/// A further address that delivers to an account's mailbox.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::Alias;
///
/// let alias = Alias::new("a.smith@example.com");
/// assert_eq!(alias.address, "a.smith@example.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Alias {
    /// The address, as the provider or the file wrote it.
    pub address: String,
}

impl Alias {
    /// An alias for `address`.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
        }
    }
}

/// How much a mailbox holds, as far as the provider says.
///
/// Every field is an `Option`: `None` means the provider did not say, which is not the
/// same as zero. Totals over an inventory add up what is known and count what is not.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::MailboxStats;
///
/// let stats = MailboxStats::new().with_messages(12_000).with_bytes(3_500_000_000);
/// assert_eq!(stats.messages, Some(12_000));
/// assert_eq!(stats.contacts, None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailboxStats {
    /// Messages in all folders.
    pub messages: Option<u64>,
    /// Bytes of mail (the provider's own count: quota usage or the sum of message sizes).
    pub bytes: Option<u64>,
    /// Contacts.
    pub contacts: Option<u64>,
    /// Calendar events.
    pub events: Option<u64>,
    /// Mail folders.
    pub folders: Option<u64>,
}

impl MailboxStats {
    /// Stats that say nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the message count.
    #[must_use]
    pub fn with_messages(mut self, messages: u64) -> Self {
        self.messages = Some(messages);
        self
    }

    /// Sets the size in bytes.
    #[must_use]
    pub fn with_bytes(mut self, bytes: u64) -> Self {
        self.bytes = Some(bytes);
        self
    }

    /// Sets the contact count.
    #[must_use]
    pub fn with_contacts(mut self, contacts: u64) -> Self {
        self.contacts = Some(contacts);
        self
    }

    /// Sets the event count.
    #[must_use]
    pub fn with_events(mut self, events: u64) -> Self {
        self.events = Some(events);
        self
    }

    /// Sets the folder count.
    #[must_use]
    pub fn with_folders(mut self, folders: u64) -> Self {
        self.folders = Some(folders);
        self
    }

    /// Whether no field is known.
    ///
    /// ```
    /// use mailmigrate_core::directory::MailboxStats;
    /// assert!(MailboxStats::new().is_empty());
    /// assert!(!MailboxStats::new().with_folders(3).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One mailbox in a directory: a person's, a shared one or a resource.
///
/// The primary address names the account; [`matches`](Self::matches) compares addresses
/// case-insensitively (see [`address_key`](super::address_key) for why).
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::{Account, AccountKind, MailboxStats};
///
/// let info = Account::new("info@example.com")
///     .with_name("Info desk")
///     .with_kind(AccountKind::SharedMailbox)
///     .with_aliases(["contact@example.com", "hello@example.com"])
///     .with_stats(MailboxStats::new().with_messages(4_200));
/// assert!(info.matches("Contact@Example.com"));
/// assert!(info.enabled);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Account {
    /// The primary address, as the provider or the file wrote it.
    pub address: String,
    /// The display name, if any.
    pub name: Option<String>,
    /// What sort of mailbox it is.
    #[serde(default)]
    pub kind: AccountKind,
    /// Whether the account may sign in and receive mail. Disabled accounts are usually
    /// leavers whose mail still has to move.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Further addresses that deliver to this mailbox.
    #[serde(default)]
    pub aliases: Vec<Alias>,
    /// How much the mailbox holds, if the provider says.
    pub stats: Option<MailboxStats>,
    /// The provider's own id (a Graph object id, a Google user id).
    pub id: Option<String>,
    /// The login to read this mailbox with at the source, when it is not the address.
    /// Never a secret.
    pub source_login: Option<String>,
    /// The login to write this mailbox with at the destination, when it is not the
    /// address. Never a secret.
    pub destination_login: Option<String>,
}

impl Account {
    /// An enabled [`User`](AccountKind::User) account with no aliases or stats.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            name: None,
            kind: AccountKind::User,
            enabled: true,
            aliases: Vec::new(),
            stats: None,
            id: None,
            source_login: None,
            destination_login: None,
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
    pub fn with_kind(mut self, kind: AccountKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets whether the account is enabled.
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Adds aliases.
    #[must_use]
    pub fn with_aliases<I, S>(mut self, aliases: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.aliases
            .extend(aliases.into_iter().map(|a| Alias::new(a)));
        self
    }

    /// Sets the stats.
    #[must_use]
    pub fn with_stats(mut self, stats: MailboxStats) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Sets the provider's id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the source login.
    #[must_use]
    pub fn with_source_login(mut self, login: impl Into<String>) -> Self {
        self.source_login = Some(login.into());
        self
    }

    /// Sets the destination login.
    #[must_use]
    pub fn with_destination_login(mut self, login: impl Into<String>) -> Self {
        self.destination_login = Some(login.into());
        self
    }

    /// Whether `address` is this account's primary address or one of its aliases,
    /// compared case-insensitively.
    ///
    /// ```
    /// use mailmigrate_core::directory::Account;
    /// let a = Account::new("Alice@Example.com").with_aliases(["ali@example.com"]);
    /// assert!(a.matches("alice@example.com"));
    /// assert!(a.matches(" ALI@example.com"));
    /// assert!(!a.matches("bob@example.com"));
    /// ```
    pub fn matches(&self, address: &str) -> bool {
        let key = address_key(address);
        self.addresses().any(|a| address_key(a) == key)
    }

    /// The primary address, then every alias.
    ///
    /// ```
    /// use mailmigrate_core::directory::Account;
    /// let a = Account::new("alice@example.com").with_aliases(["ali@example.com"]);
    /// assert_eq!(a.addresses().collect::<Vec<_>>(), ["alice@example.com", "ali@example.com"]);
    /// ```
    pub fn addresses(&self) -> impl Iterator<Item = &str> + '_ {
        std::iter::once(self.address.as_str())
            .chain(self.aliases.iter().map(|a| a.address.as_str()))
    }

    /// The login for the source: [`source_login`](Self::source_login), else the address.
    ///
    /// ```
    /// use mailmigrate_core::directory::Account;
    /// let a = Account::new("alice@example.com");
    /// assert_eq!(a.source_login_or_address(), "alice@example.com");
    /// assert_eq!(a.with_source_login("alice").source_login_or_address(), "alice");
    /// ```
    pub fn source_login_or_address(&self) -> &str {
        self.source_login.as_deref().unwrap_or(&self.address)
    }

    /// The login for the destination: [`destination_login`](Self::destination_login), else
    /// the address.
    ///
    /// ```
    /// use mailmigrate_core::directory::Account;
    /// let a = Account::new("alice@old.example").with_destination_login("alice@new.example");
    /// assert_eq!(a.destination_login_or_address(), "alice@new.example");
    /// ```
    pub fn destination_login_or_address(&self) -> &str {
        self.destination_login.as_deref().unwrap_or(&self.address)
    }
}

fn enabled_by_default() -> bool {
    true
}

//! What a test seeds the emulated directory with: [`TenantUser`], [`TenantGroup`],
//! [`TenantContact`].

/// What a user's mailbox is, as `mailboxSettings.userPurpose` reports it \[G-MBXS\].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailboxPurpose {
    /// `user`: a person's mailbox.
    User,
    /// `linked`: a mailbox linked to an account in another forest.
    Linked,
    /// `shared`: a shared mailbox.
    Shared,
    /// `room`: a meeting room.
    Room,
    /// `equipment`: an equipment mailbox.
    Equipment,
    /// `others`: a mailbox of another purpose.
    Others,
}

impl MailboxPurpose {
    /// The `userPurpose` value \[G-MBXS\].
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Linked => "linked",
            Self::Shared => "shared",
            Self::Room => "room",
            Self::Equipment => "equipment",
            Self::Others => "others",
        }
    }
}

/// A user of the emulated tenant, seeded with
/// [`EmulatorBuilder::user`](crate::emulator::EmulatorBuilder::user) or
/// [`EmulatorHandle::seed_user`](crate::emulator::EmulatorHandle::seed_user).
///
/// A user with a mailbox gets one with the default folders (as
/// [`mailbox`](crate::emulator::EmulatorBuilder::mailbox) makes), reachable by its user
/// principal name or object id.
///
/// ```
/// use mailmigrate_graph::emulator::TenantUser;
///
/// let ada = TenantUser::member("ada@example.com")
///     .with_name("Ada Lovelace")
///     .with_alias("a.lovelace@example.com")
///     .with_proxy_address("SIP:ada@example.com");
/// let info = TenantUser::shared("info@example.com");
/// let guest = TenantUser::guest("bob_other.example#EXT#@example.onmicrosoft.com", "bob@other.example");
/// let unlicensed = TenantUser::member("svc@example.com").without_mailbox();
/// # let _ = (ada, info, guest, unlicensed);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantUser {
    pub(crate) upn: String,
    pub(crate) display_name: String,
    pub(crate) mail: Option<String>,
    pub(crate) proxy_addresses: Vec<String>,
    pub(crate) account_enabled: bool,
    pub(crate) user_type: &'static str,
    pub(crate) purpose: Option<MailboxPurpose>,
}

impl TenantUser {
    /// An enabled member with a person's mailbox: `mail` is the UPN, `proxyAddresses`
    /// `["SMTP:{upn}"]` \[G-USER\].
    pub fn member(upn: &str) -> Self {
        Self::with_purpose(upn, Some(MailboxPurpose::User), true)
    }

    /// A shared mailbox: its account is disabled, as Exchange creates them.
    pub fn shared(upn: &str) -> Self {
        Self::with_purpose(upn, Some(MailboxPurpose::Shared), false)
    }

    /// A room mailbox (disabled account).
    pub fn room(upn: &str) -> Self {
        Self::with_purpose(upn, Some(MailboxPurpose::Room), false)
    }

    /// An equipment mailbox (disabled account).
    pub fn equipment(upn: &str) -> Self {
        Self::with_purpose(upn, Some(MailboxPurpose::Equipment), false)
    }

    /// A guest (`userType` `Guest`) without a mailbox here, whose `mail` is its address
    /// at home.
    pub fn guest(upn: &str, mail: &str) -> Self {
        Self {
            mail: Some(mail.to_owned()),
            proxy_addresses: vec![format!("SMTP:{mail}")],
            user_type: "Guest",
            ..Self::with_purpose(upn, None, true)
        }
    }

    fn with_purpose(upn: &str, purpose: Option<MailboxPurpose>, enabled: bool) -> Self {
        let local = upn.split('@').next().unwrap_or(upn);
        Self {
            upn: upn.to_owned(),
            display_name: local.to_owned(),
            mail: Some(upn.to_owned()),
            proxy_addresses: vec![format!("SMTP:{upn}")],
            account_enabled: enabled,
            user_type: "Member",
            purpose,
        }
    }

    /// Sets `displayName`.
    #[must_use]
    pub fn with_name(mut self, name: &str) -> Self {
        self.display_name = name.to_owned();
        self
    }

    /// Adds a secondary address (`smtp:{address}`).
    #[must_use]
    pub fn with_alias(mut self, address: &str) -> Self {
        self.proxy_addresses.push(format!("smtp:{address}"));
        self
    }

    /// Adds a raw `proxyAddresses` entry (`SIP:…`, `X500:…`).
    #[must_use]
    pub fn with_proxy_address(mut self, entry: &str) -> Self {
        self.proxy_addresses.push(entry.to_owned());
        self
    }

    /// Makes `address` the primary (`SMTP:`, and `mail`), the UPN staying as it is.
    #[must_use]
    pub fn with_primary(mut self, address: &str) -> Self {
        for entry in &mut self.proxy_addresses {
            if let Some(rest) = entry.strip_prefix("SMTP:") {
                *entry = format!("smtp:{rest}");
            }
        }
        self.proxy_addresses.insert(0, format!("SMTP:{address}"));
        self.mail = Some(address.to_owned());
        self
    }

    /// Sets `accountEnabled` to false (a leaver).
    #[must_use]
    pub fn disabled(mut self) -> Self {
        self.account_enabled = false;
        self
    }

    /// No Exchange Online mailbox (no licence): no `mail`, no `proxyAddresses`, and
    /// mailbox calls answer `MailboxNotEnabledForRESTAPI` \[I-MBXREST\].
    #[must_use]
    pub fn without_mailbox(mut self) -> Self {
        self.purpose = None;
        self.mail = None;
        self.proxy_addresses.clear();
        self
    }
}

/// What sort of group: the combinations of `groupTypes`, `mailEnabled` and
/// `securityEnabled` the group resource documents \[G-GROUP\].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupType {
    /// A distribution list: mail-enabled, not security-enabled.
    Distribution,
    /// A mail-enabled security group.
    MailSecurity,
    /// A security group without mail.
    Security,
    /// A Microsoft 365 group: `groupTypes` `["Unified"]`, mail-enabled.
    Microsoft365,
}

/// A group of the emulated tenant, seeded with
/// [`EmulatorBuilder::group`](crate::emulator::EmulatorBuilder::group) after the users,
/// groups and contacts it names as members.
///
/// ```
/// use mailmigrate_graph::emulator::TenantGroup;
///
/// let all = TenantGroup::distribution("all@example.com")
///     .with_members(["ada@example.com", "team@example.com", "partner@other.example"]);
/// let team = TenantGroup::microsoft365("team@example.com").with_name("Team");
/// let admins = TenantGroup::security("Admins");
/// # let _ = (all, team, admins);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantGroup {
    pub(crate) display_name: String,
    pub(crate) mail: Option<String>,
    pub(crate) proxy_addresses: Vec<String>,
    pub(crate) kind: GroupType,
    pub(crate) members: Vec<String>,
}

impl TenantGroup {
    fn mail_enabled(mail: &str, kind: GroupType) -> Self {
        Self {
            display_name: mail.split('@').next().unwrap_or(mail).to_owned(),
            mail: Some(mail.to_owned()),
            proxy_addresses: vec![format!("SMTP:{mail}")],
            kind,
            members: Vec::new(),
        }
    }

    /// A distribution list at `mail`.
    pub fn distribution(mail: &str) -> Self {
        Self::mail_enabled(mail, GroupType::Distribution)
    }

    /// A mail-enabled security group at `mail`.
    pub fn mail_security(mail: &str) -> Self {
        Self::mail_enabled(mail, GroupType::MailSecurity)
    }

    /// A Microsoft 365 group at `mail`.
    pub fn microsoft365(mail: &str) -> Self {
        Self::mail_enabled(mail, GroupType::Microsoft365)
    }

    /// A security group without mail, named `name` (members name it by that).
    pub fn security(name: &str) -> Self {
        Self {
            display_name: name.to_owned(),
            mail: None,
            proxy_addresses: Vec::new(),
            kind: GroupType::Security,
            members: Vec::new(),
        }
    }

    /// Sets `displayName`.
    #[must_use]
    pub fn with_name(mut self, name: &str) -> Self {
        self.display_name = name.to_owned();
        self
    }

    /// Adds a secondary address (`smtp:{address}`).
    #[must_use]
    pub fn with_alias(mut self, address: &str) -> Self {
        self.proxy_addresses.push(format!("smtp:{address}"));
        self
    }

    /// Adds members, each named by a user's UPN or address, a group's address (or a
    /// mail-less group's name), or a contact's address.
    #[must_use]
    pub fn with_members<I, S>(mut self, members: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.members
            .extend(members.into_iter().map(|m| m.as_ref().to_owned()));
        self
    }
}

/// A mail contact (`orgContact`): an outside address groups can hold.
///
/// ```
/// use mailmigrate_graph::emulator::TenantContact;
/// let partner = TenantContact::new("partner@other.example").with_name("Partner");
/// # let _ = partner;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContact {
    pub(crate) mail: String,
    pub(crate) display_name: String,
}

impl TenantContact {
    /// A contact at `mail`.
    pub fn new(mail: &str) -> Self {
        Self {
            mail: mail.to_owned(),
            display_name: mail.to_owned(),
        }
    }

    /// Sets `displayName`.
    #[must_use]
    pub fn with_name(mut self, name: &str) -> Self {
        self.display_name = name.to_owned();
        self
    }
}

//! Folder access-control lists (IMAP ACL, RFC 4314): each folder's identifiers and their
//! rights letters, source against destination, identifiers mapped.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::compare::{DifferenceKind, PermissionComparison, RightDifference};
use crate::campaign::{AddressMapping, ValidPlan};
use crate::directory::address_key;
use crate::Result;

/// One access-control entry: `identifier` holds `rights` on `folder`.
///
/// `folder` is the folder's path with `/` between levels; `rights` are RFC 4314 letters
/// (`lrswipkxtea`). A negative right (an identifier starting with `-`) is kept as it is.
///
/// ```
/// use mailmigrate_core::campaign::permissions::FolderAcl;
/// let e = FolderAcl::new("Projects/2024", "bo", "lrs");
/// assert_eq!(e.rights, "lrs");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FolderAcl {
    /// The folder's path, levels joined with `/`.
    pub folder: String,
    /// Who the rights are for, as the server names them (a user, a group, `anyone`).
    pub identifier: String,
    /// The rights letters.
    pub rights: String,
}

impl FolderAcl {
    /// An entry.
    pub fn new(
        folder: impl Into<String>,
        identifier: impl Into<String>,
        rights: impl Into<String>,
    ) -> Self {
        Self {
            folder: folder.into(),
            identifier: identifier.into(),
            rights: rights.into(),
        }
    }
}

/// A mailbox whose folders' access-control lists can be read: the IMAP backend with the
/// ACL extension, or a list read before (`Vec<FolderAcl>`).
///
/// ```
/// use mailmigrate_core::campaign::permissions::{FolderAcl, FolderAclView};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let view: Vec<FolderAcl> = vec![FolderAcl::new("INBOX", "bo", "lr")];
/// assert_eq!(view.folder_acls().await?.len(), 1);
/// # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
/// ```
#[async_trait]
pub trait FolderAclView: Send + Sync {
    /// Every entry of every folder's access-control list.
    ///
    /// # Errors
    /// `Unsupported` when the mailbox has no ACLs; provider errors.
    async fn folder_acls(&self) -> Result<Vec<FolderAcl>>;
}

#[async_trait]
impl FolderAclView for Vec<FolderAcl> {
    async fn folder_acls(&self) -> Result<Vec<FolderAcl>> {
        Ok(self.clone())
    }
}

/// How the source's identifiers and folders are named at the destination.
///
/// An identifier is looked up in the explicit table first; else, when it looks like an
/// address and the mapping was built [from a plan](Self::from_plan), it is mapped as the
/// plan maps addresses; else it stays as it is (`anyone`, `authenticated`, a user name the
/// two servers share). A leading `-` (a negative right) is kept. Folders map through their
/// own table, else keep their name.
///
/// ```
/// use mailmigrate_core::campaign::permissions::AclMapping;
/// let m = AclMapping::new().with_identifier("bo", "robert").with_folder("Sent Items", "Sent");
/// assert_eq!(m.identifier("bo"), "robert");
/// assert_eq!(m.identifier("-bo"), "-robert");
/// assert_eq!(m.identifier("anyone"), "anyone");
/// assert_eq!(m.folder("Sent Items"), "Sent");
/// ```
#[derive(Debug, Clone, Default)]
pub struct AclMapping {
    identifiers: HashMap<String, String>,
    folders: HashMap<String, String>,
    pairs: HashMap<String, String>,
    addresses: Option<AddressMapping>,
}

impl AclMapping {
    /// No mapping: every identifier and folder keeps its name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps address identifiers as `plan` maps mailboxes: a planned mailbox's address (or
    /// alias) to its pair's destination, any other address through the plan's
    /// [`AddressMapping`].
    ///
    /// ```
    /// use mailmigrate_core::campaign::permissions::AclMapping;
    /// use mailmigrate_core::campaign::{Batch, CampaignPlan, DomainRewrite, Strategy};
    /// use mailmigrate_core::directory::{Account, Inventory};
    /// let inv = Inventory::new(vec![Account::new("ann@old.example")]);
    /// let plan = CampaignPlan::new("c", Strategy::Cutover)
    ///     .with_rewrite(DomainRewrite::new("old.example", "new.example"))
    ///     .with_batch(Batch::new("all", ["ann@old.example"]))
    ///     .validate(&inv)?;
    /// let m = AclMapping::from_plan(&plan);
    /// assert_eq!(m.identifier("Ann@old.example"), "ann@new.example");
    /// assert_eq!(m.identifier("team@old.example"), "team@new.example");
    /// # Ok::<(), mailmigrate_core::campaign::PlanError>(())
    /// ```
    pub fn from_plan(plan: &ValidPlan) -> Self {
        let mut pairs = HashMap::new();
        for p in plan.pairs() {
            pairs.insert(p.key(), p.destination.clone());
            for al in &p.source.aliases {
                pairs.insert(address_key(&al.address), p.destination.clone());
            }
        }
        Self {
            pairs,
            addresses: Some(plan.plan().addresses.clone()),
            ..Self::default()
        }
    }

    /// Names the source identifier `source` `destination` at the destination.
    #[must_use]
    pub fn with_identifier(
        mut self,
        source: impl Into<String>,
        destination: impl Into<String>,
    ) -> Self {
        self.identifiers
            .insert(source.into().trim().to_lowercase(), destination.into());
        self
    }

    /// Names the source folder `source` `destination` at the destination.
    #[must_use]
    pub fn with_folder(
        mut self,
        source: impl Into<String>,
        destination: impl Into<String>,
    ) -> Self {
        self.folders.insert(source.into(), destination.into());
        self
    }

    /// The destination's name for the source identifier `source`.
    pub fn identifier(&self, source: &str) -> String {
        let source = source.trim();
        if let Some(rest) = source.strip_prefix('-') {
            return format!("-{}", self.identifier(rest));
        }
        if let Some(d) = self.identifiers.get(&source.to_lowercase()) {
            return d.clone();
        }
        if source.contains('@') {
            if let Some(d) = self.pairs.get(&address_key(source)) {
                return d.clone();
            }
            if let Some(a) = &self.addresses {
                return a.destination_of(source);
            }
        }
        source.to_owned()
    }

    /// The destination's name for the source folder `source`.
    pub fn folder(&self, source: &str) -> String {
        self.folders
            .get(source)
            .cloned()
            .unwrap_or_else(|| source.to_owned())
    }
}

/// Normalises RFC 4314 rights: the obsolete `c` becomes `kx` and `d` becomes `te` (servers
/// list either or both), duplicates go, and the letters come in RFC order
/// (`lrswipkxtea`, then any others sorted).
///
/// ```
/// use mailmigrate_core::campaign::permissions::normalise_rights;
/// assert_eq!(normalise_rights("lrswipkxtecda"), "lrswipkxtea");
/// assert_eq!(normalise_rights("rlc"), "lrkx");
/// ```
pub fn normalise_rights(rights: &str) -> String {
    let mut set: BTreeSet<char> = BTreeSet::new();
    for c in rights.chars().filter(|c| !c.is_whitespace()) {
        match c {
            'c' => set.extend(['k', 'x']),
            'd' => set.extend(['t', 'e']),
            c => {
                set.insert(c);
            }
        }
    }
    const ORDER: &str = "lrswipkxtea";
    let mut out: String = ORDER.chars().filter(|c| set.contains(c)).collect();
    out.extend(set.iter().filter(|c| !ORDER.contains(**c)));
    out
}

/// Compares one mailbox's folder ACLs: `source` entries, their identifiers and folders
/// mapped by `mapping`, against `destination`'s. Identifiers compare case-insensitively,
/// rights after [`normalise_rights`]; an entry with no rights counts as absent. Each
/// difference names the folder (as the destination names it), the identifier (likewise)
/// and the rights; `grants` counts the distinct (folder, identifier) entries of both
/// sides.
///
/// ```
/// use mailmigrate_core::campaign::permissions::{compare_folder_acls, AclMapping, DifferenceKind, FolderAcl};
/// let source = vec![FolderAcl::new("Projects", "bo", "lrs"), FolderAcl::new("Projects", "ann", "lrswipkxtea")];
/// let destination = vec![FolderAcl::new("Projects", "robert", "lr"), FolderAcl::new("Projects", "ann", "lrswipkxtecda")];
/// let c = compare_folder_acls("ann@old.example", &source, &destination, &AclMapping::new().with_identifier("bo", "robert"));
/// assert_eq!(c.grants, 2);
/// assert_eq!(c.differences.len(), 1);
/// assert_eq!(c.differences[0].kind, DifferenceKind::Changed);
/// assert_eq!(c.differences[0].issue(), "changed at the destination: source lrs, destination lr");
/// ```
pub fn compare_folder_acls(
    mailbox: &str,
    source: &[FolderAcl],
    destination: &[FolderAcl],
    mapping: &AclMapping,
) -> PermissionComparison {
    let index = |entries: &mut dyn Iterator<Item = (String, String, String)>| {
        let mut map: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
        for (folder, identifier, rights) in entries {
            let rights = normalise_rights(&rights);
            if rights.is_empty() {
                continue;
            }
            let e = map
                .entry((folder, identifier.to_lowercase()))
                .or_insert_with(|| (identifier, String::new()));
            e.1 = normalise_rights(&format!("{}{rights}", e.1));
        }
        map
    };
    let src = index(&mut source.iter().map(|e| {
        (
            mapping.folder(&e.folder),
            mapping.identifier(&e.identifier),
            e.rights.clone(),
        )
    }));
    let dst = index(&mut destination.iter().map(|e| {
        (
            e.folder.clone(),
            e.identifier.trim().to_owned(),
            e.rights.clone(),
        )
    }));
    let keys: BTreeSet<_> = src.keys().chain(dst.keys()).collect();
    let mut out = PermissionComparison {
        pairs: 1,
        grants: keys.len() as u64,
        differences: Vec::new(),
    };
    let mailbox = address_key(mailbox);
    for key in keys {
        let folder = &key.0;
        let d = match (src.get(key), dst.get(key)) {
            (Some((id, r)), None) => RightDifference::new(&mailbox, id, r, DifferenceKind::Missing),
            (None, Some((id, r))) => RightDifference::new(&mailbox, id, r, DifferenceKind::Extra),
            (Some((id, a)), Some((_, b))) if a != b => {
                RightDifference::new(&mailbox, id, a, DifferenceKind::Changed)
                    .with_rights(Some(a), Some(b))
            }
            _ => continue,
        };
        out.differences.push(d.with_folder(folder));
    }
    out
}

/// Reads both views and [compares](compare_folder_acls) them.
///
/// ```
/// use mailmigrate_core::campaign::permissions::{compare_acl_views, AclMapping, FolderAcl};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let source = vec![FolderAcl::new("INBOX", "bo", "lr")];
/// let destination: Vec<FolderAcl> = vec![];
/// let c = compare_acl_views("ann@x.example", &source, &destination, &AclMapping::new()).await?;
/// assert_eq!(c.differences[0].issue(), "missing at the destination");
/// # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
/// ```
///
/// # Errors
/// Either view's error.
pub async fn compare_acl_views(
    mailbox: &str,
    source: &dyn FolderAclView,
    destination: &dyn FolderAclView,
    mapping: &AclMapping,
) -> Result<PermissionComparison> {
    let src = source.folder_acls().await?;
    let dst = destination.folder_acls().await?;
    Ok(compare_folder_acls(mailbox, &src, &dst, mapping))
}

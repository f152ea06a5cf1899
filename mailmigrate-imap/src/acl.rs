//! Access-control lists (RFC 4314), for carrying shared-folder permissions across.

use mailmigrate_core::{Error, ErrorKind, FolderId, Operation, Result};

use crate::backend::Imap;
use crate::error::PROVIDER;

/// One access-control entry of a folder: an identifier (a user, a group, `anyone`) and its
/// rights letters (`lrswipkxtea`, RFC 4314 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AclEntry {
    /// Who the rights are for, as the server names them.
    pub identifier: String,
    /// The rights letters, e.g. `"lrs"`.
    pub rights: String,
}

impl AclEntry {
    /// Builds an entry.
    pub fn new(identifier: impl Into<String>, rights: impl Into<String>) -> Self {
        Self {
            identifier: identifier.into(),
            rights: rights.into(),
        }
    }
}

fn unsupported(op: Operation) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        "the server has no ACL extension (RFC 4314)",
    )
    .with_provider(PROVIDER)
    .with_operation(op)
}

impl Imap {
    fn has_acl(&self) -> bool {
        self.inner.facts.has("ACL")
    }

    /// Reads a folder's access-control list (`GETACL`).
    ///
    /// # Errors
    /// `Unsupported` without the ACL extension; `PermissionDenied` without the `a` right;
    /// `NotFound` for a missing folder.
    pub async fn acl(&self, folder: &FolderId) -> Result<Vec<AclEntry>> {
        let op = Operation::ListFolders;
        if !self.has_acl() {
            return Err(unsupported(op));
        }
        let mut c = self.conn(op).await?;
        c.get_acl(folder.as_str())
            .await
            .map_err(|e| e.into_error(op).with_context("folder", folder))
    }

    /// Returns the rights the logged-in user has on a folder (`MYRIGHTS`).
    ///
    /// # Errors
    /// `Unsupported` without the ACL extension; `NotFound` for a missing folder.
    pub async fn my_rights(&self, folder: &FolderId) -> Result<String> {
        let op = Operation::ListFolders;
        if !self.has_acl() {
            return Err(unsupported(op));
        }
        let mut c = self.conn(op).await?;
        c.my_rights(folder.as_str())
            .await
            .map_err(|e| e.into_error(op).with_context("folder", folder))
    }

    /// Gives `entry.identifier` exactly `entry.rights` on a folder (`SETACL`); empty rights
    /// remove the entry (`DELETEACL`).
    ///
    /// # Errors
    /// `Unsupported` without the ACL extension; `ConfigInvalid` for rights that are not
    /// letters or digits; `PermissionDenied` without the `a` right.
    pub async fn set_acl(&self, folder: &FolderId, entry: &AclEntry) -> Result<()> {
        let op = Operation::EnsureFolder;
        if !self.has_acl() {
            return Err(unsupported(op));
        }
        if !entry.rights.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(
                Error::new(ErrorKind::ConfigInvalid, "ACL rights must be letters")
                    .with_provider(PROVIDER)
                    .with_operation(op)
                    .with_context("folder", folder),
            );
        }
        let mut c = self.conn(op).await?;
        c.set_acl(folder.as_str(), &entry.identifier, &entry.rights)
            .await
            .map_err(|e| e.into_error(op).with_context("folder", folder))
    }
}

/// Every selectable folder's ACL, for the campaign's permissions review
/// ([`compare_acl_views`](mailmigrate_core::campaign::permissions::compare_acl_views)).
/// Folders are named by their path with `/` between levels. Folders the user may not
/// administer (no `a` right in `MYRIGHTS`: other users' folders shared with them) are left
/// out: their ACLs belong to their owners' review.
///
/// # Errors
/// `Unsupported` without the ACL extension; provider errors.
#[async_trait::async_trait]
impl mailmigrate_core::campaign::permissions::FolderAclView for Imap {
    async fn folder_acls(&self) -> Result<Vec<mailmigrate_core::campaign::permissions::FolderAcl>> {
        use mailmigrate_core::campaign::permissions::FolderAcl;
        use mailmigrate_core::Provider as _;
        if !self.has_acl() {
            return Err(unsupported(Operation::ListFolders));
        }
        let mut out = Vec::new();
        for folder in self.list_folders().await? {
            if !folder.selectable {
                continue;
            }
            if !self.my_rights(&folder.id).await?.contains('a') {
                continue;
            }
            let name = folder.path.join("/");
            for entry in self.acl(&folder.id).await? {
                out.push(FolderAcl::new(&name, entry.identifier, entry.rights));
            }
        }
        Ok(out)
    }
}

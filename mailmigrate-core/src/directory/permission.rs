//! Permissions and delegations: who may read or send as which mailbox.

use serde::{Deserialize, Serialize};

use super::kind::open_kind;

open_kind! {
    /// A right one account holds on another's mailbox.
    ///
    /// # Examples
    /// ```
    /// use mailmigrate_core::directory::Right;
    ///
    /// assert_eq!("FullAccess".parse::<Right>().unwrap(), Right::FullAccess);
    /// assert_eq!("send-on-behalf".parse::<Right>().unwrap(), Right::SendOnBehalf);
    /// assert_eq!("other:CalendarEditor".parse::<Right>().unwrap(), Right::Other("CalendarEditor".into()));
    /// ```
    pub enum Right ("right") {
        /// Read and change everything in the mailbox (Exchange `FullAccess`, Google mail
        /// delegation).
        FullAccess = "full_access",
        /// Send mail that appears to come from the mailbox itself.
        SendAs = "send_as",
        /// Send mail "on behalf of" the mailbox.
        SendOnBehalf = "send_on_behalf",
        /// Read one folder (or, without a folder, every mail folder).
        FolderRead = "folder_read" | "reviewer" | "read",
        /// Read and change one folder's items.
        FolderEdit = "folder_edit" | "editor" | "edit",
    }
}

/// One delegation: `grantee` holds `right` on `mailbox` (on one folder, when `folder` is
/// set).
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::{Permission, Right};
///
/// let p = Permission::new("info@example.com", "alice@example.com", Right::SendAs);
/// assert_eq!(p.folder, None);
/// let cal = Permission::new("boss@example.com", "assistant@example.com", Right::FolderEdit)
///     .with_folder("Calendar");
/// assert_eq!(cal.folder.as_deref(), Some("Calendar"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Permission {
    /// The address of the mailbox the right is on.
    pub mailbox: String,
    /// The address of the account or group that holds it.
    pub grantee: String,
    /// The right.
    pub right: Right,
    /// The folder it is limited to, if any.
    pub folder: Option<String>,
}

impl Permission {
    /// `grantee` holds `right` on all of `mailbox`.
    pub fn new(mailbox: impl Into<String>, grantee: impl Into<String>, right: Right) -> Self {
        Self {
            mailbox: mailbox.into(),
            grantee: grantee.into(),
            right,
            folder: None,
        }
    }

    /// Limits the right to one folder.
    #[must_use]
    pub fn with_folder(mut self, folder: impl Into<String>) -> Self {
        self.folder = Some(folder.into());
        self
    }
}

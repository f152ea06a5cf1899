//! Folders: paths made of segments, special-use roles, provider ids.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, ErrorKind, Result};

/// A folder's location as a list of segments, independent of any server's separator.
///
/// `["Archive", "2020"]` is the same folder whether the server writes it `Archive/2020`,
/// `Archive.2020` or `INBOX.Archive.2020`; backends translate at their edge. Segments are
/// validated on creation: none is empty, none contains a control character.
///
/// # Examples
/// ```
/// use mailmigrate_core::FolderPath;
///
/// let p = FolderPath::new(["Archive", "2020", "Früh/Spät"]).unwrap();
/// assert_eq!(p.segments().len(), 3);
/// assert_eq!(p.leaf(), Some("Früh/Spät"));
/// assert_eq!(p.join("."), "Archive.2020.Früh/Spät");
/// assert!(FolderPath::new(["bad\u{7}name"]).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct FolderPath(Vec<String>);

impl FolderPath {
    /// Builds a path from segments.
    ///
    /// # Errors
    /// [`ErrorKind::ConfigInvalid`] when the path is empty, a segment is empty, or a segment
    /// holds a control character.
    pub fn new<I, S>(segments: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let segs: Vec<String> = segments.into_iter().map(Into::into).collect();
        if segs.is_empty() {
            return Err(Error::new(ErrorKind::ConfigInvalid, "empty folder path"));
        }
        for s in &segs {
            if s.is_empty() {
                return Err(
                    Error::new(ErrorKind::ConfigInvalid, "empty folder name segment")
                        .with_context("folder", segs.join("/")),
                );
            }
            if s.chars().any(char::is_control) {
                return Err(Error::new(
                    ErrorKind::ConfigInvalid,
                    "folder name contains a control character",
                )
                .with_context("folder", s.escape_debug()));
            }
        }
        Ok(Self(segs))
    }

    /// Splits `s` on `sep` (e.g. `"Archive/2020"` on `'/'`).
    ///
    /// # Errors
    /// As [`FolderPath::new`].
    pub fn parse(s: &str, sep: char) -> Result<Self> {
        Self::new(s.split(sep))
    }

    /// The inbox path, `["INBOX"]`.
    pub fn inbox() -> Self {
        Self(vec!["INBOX".to_owned()])
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// The last segment.
    pub fn leaf(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }

    /// The parent path, if this is not a top-level folder.
    pub fn parent(&self) -> Option<Self> {
        (self.0.len() > 1).then(|| Self(self.0[..self.0.len() - 1].to_vec()))
    }

    /// A child path.
    ///
    /// # Errors
    /// As [`FolderPath::new`] for the new segment.
    pub fn child(&self, segment: impl Into<String>) -> Result<Self> {
        let mut v = self.0.clone();
        v.push(segment.into());
        Self::new(v)
    }

    /// Joins the segments with `sep`, for display or a server that uses that separator.
    pub fn join(&self, sep: &str) -> String {
        self.0.join(sep)
    }

    /// Whether this is the inbox (case-insensitive, as IMAP defines it).
    pub fn is_inbox(&self) -> bool {
        self.0.len() == 1 && self.0[0].eq_ignore_ascii_case("INBOX")
    }
}

impl TryFrom<Vec<String>> for FolderPath {
    type Error = Error;
    fn try_from(v: Vec<String>) -> Result<Self> {
        Self::new(v)
    }
}

impl From<FolderPath> for Vec<String> {
    fn from(p: FolderPath) -> Self {
        p.0
    }
}

impl fmt::Display for FolderPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

impl fmt::Debug for FolderPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FolderPath({:?})", self.0)
    }
}

/// A provider's own handle for a folder (an IMAP mailbox name, a Graph folder id, a Gmail
/// label id). Opaque to the engine.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FolderId(String);

impl FolderId {
    /// Wraps a provider's folder handle.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The handle as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FolderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FolderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FolderId({:?})", self.0)
    }
}

/// A folder's special-use role (RFC 6154 plus Inbox and Gmail's Important).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SpecialUse {
    /// The inbox.
    Inbox,
    /// Sent mail (`\Sent`).
    Sent,
    /// Drafts (`\Drafts`).
    Drafts,
    /// Deleted items (`\Trash`).
    Trash,
    /// Spam (`\Junk`).
    Junk,
    /// Archive (`\Archive`).
    Archive,
    /// A virtual folder holding every message (`\All`).
    All,
    /// Gmail's Important (`\Important`).
    Important,
    /// A virtual folder of flagged messages (`\Flagged`).
    Flagged,
}

impl SpecialUse {
    /// All roles, in the order the engine maps them.
    pub const ALL: [SpecialUse; 9] = [
        Self::Inbox,
        Self::Sent,
        Self::Drafts,
        Self::Trash,
        Self::Junk,
        Self::Archive,
        Self::All,
        Self::Important,
        Self::Flagged,
    ];

    /// The RFC 6154 attribute (`"\\Sent"`), or `None` for the inbox.
    pub fn attribute(self) -> Option<&'static str> {
        Some(match self {
            Self::Inbox => return None,
            Self::Sent => "\\Sent",
            Self::Drafts => "\\Drafts",
            Self::Trash => "\\Trash",
            Self::Junk => "\\Junk",
            Self::Archive => "\\Archive",
            Self::All => "\\All",
            Self::Important => "\\Important",
            Self::Flagged => "\\Flagged",
        })
    }

    /// Parses an RFC 6154 attribute, case-insensitively.
    ///
    /// ```
    /// use mailmigrate_core::SpecialUse;
    /// assert_eq!(SpecialUse::from_attribute("\\sent"), Some(SpecialUse::Sent));
    /// assert_eq!(SpecialUse::from_attribute("\\Noselect"), None);
    /// ```
    pub fn from_attribute(attr: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.attribute().is_some_and(|a| a.eq_ignore_ascii_case(attr)))
    }

    /// Whether the folder with this role is virtual: its messages live in other folders too,
    /// so copying it would duplicate them.
    pub fn is_virtual(self) -> bool {
        matches!(self, Self::All | Self::Important | Self::Flagged)
    }

    /// The conventional name of a folder with this role, used when a destination has none.
    pub fn default_name(self) -> &'static str {
        match self {
            Self::Inbox => "INBOX",
            Self::Sent => "Sent",
            Self::Drafts => "Drafts",
            Self::Trash => "Trash",
            Self::Junk => "Junk",
            Self::Archive => "Archive",
            Self::All => "All Mail",
            Self::Important => "Important",
            Self::Flagged => "Flagged",
        }
    }
}

/// A folder as a provider lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Folder {
    /// The provider's handle.
    pub id: FolderId,
    /// The folder's location.
    pub path: FolderPath,
    /// Its special-use role, if any.
    pub role: Option<SpecialUse>,
    /// Whether it can hold messages (IMAP `\Noselect` folders cannot).
    pub selectable: bool,
    /// Whether the user is subscribed to it.
    pub subscribed: bool,
    /// Other provider attributes, verbatim (e.g. `\HasChildren`).
    pub attributes: Vec<String>,
}

impl Folder {
    /// A selectable, subscribed folder with no role.
    pub fn new(id: FolderId, path: FolderPath) -> Self {
        Self {
            id,
            path,
            role: None,
            selectable: true,
            subscribed: true,
            attributes: Vec::new(),
        }
    }

    /// Sets the special-use role.
    #[must_use]
    pub fn with_role(mut self, role: Option<SpecialUse>) -> Self {
        self.role = role;
        self
    }

    /// Sets whether the folder can hold messages.
    #[must_use]
    pub fn with_selectable(mut self, selectable: bool) -> Self {
        self.selectable = selectable;
        self
    }

    /// Sets the subscription state.
    #[must_use]
    pub fn with_subscribed(mut self, subscribed: bool) -> Self {
        self.subscribed = subscribed;
        self
    }

    /// Sets the raw attributes.
    #[must_use]
    pub fn with_attributes(mut self, attributes: Vec<String>) -> Self {
        self.attributes = attributes;
        self
    }
}

/// The result of [`Destination::ensure_folder`](crate::Destination::ensure_folder).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnsuredFolder {
    /// The folder's handle.
    pub id: FolderId,
    /// True when the call created it; false when it existed already (the engine then looks
    /// for existing copies before writing, so a lost state file causes no duplicates).
    pub created: bool,
    /// True when the folder is known to hold no message (always so when just created): the
    /// engine then skips the look-ups before writing.
    pub empty: bool,
}

impl EnsuredFolder {
    /// Builds the result; a created folder is empty, an existing one is assumed not to be.
    pub fn new(id: FolderId, created: bool) -> Self {
        Self {
            id,
            created,
            empty: created,
        }
    }

    /// Says whether the folder holds no message (a provider that knows it cheaply, from a
    /// `SELECT` or a directory listing, saves the engine a look-up per message).
    #[must_use]
    pub fn with_empty(mut self, empty: bool) -> Self {
        self.empty = empty;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_and_control() {
        assert!(FolderPath::new(Vec::<String>::new()).is_err());
        assert!(FolderPath::new(["a", ""]).is_err());
        assert!(FolderPath::new(["a\nb"]).is_err());
        assert!(FolderPath::parse("a//b", '/').is_err());
    }

    #[test]
    fn serde_validates() {
        let p: FolderPath = serde_json::from_str(r#"["Archive","Ünïcode"]"#).unwrap();
        assert_eq!(p.to_string(), "Archive/Ünïcode");
        assert!(serde_json::from_str::<FolderPath>(r#"["x\u0000"]"#).is_err());
    }

    #[test]
    fn inbox_is_case_insensitive() {
        assert!(FolderPath::parse("Inbox", '/').unwrap().is_inbox());
        assert!(!FolderPath::parse("INBOX/x", '/').unwrap().is_inbox());
    }

    #[test]
    fn roles_round_trip_attributes() {
        for r in SpecialUse::ALL {
            if let Some(a) = r.attribute() {
                assert_eq!(SpecialUse::from_attribute(a), Some(r));
            }
        }
    }
}

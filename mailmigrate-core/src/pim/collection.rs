//! Address books and calendars, the items in them, and what changed since a checkpoint.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Checkpoint;

/// What a collection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PimKind {
    /// An address book of contacts (vCard, CardDAV, Graph contact folders, People API).
    Contacts,
    /// A calendar of events (iCalendar, CalDAV, Graph calendars, Calendar API).
    Events,
}

impl PimKind {
    /// Both kinds, contacts first.
    pub const ALL: [PimKind; 2] = [PimKind::Contacts, PimKind::Events];

    /// `contacts` or `events`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Events => "events",
        }
    }

    /// The file extension of one item: `vcf` or `ics`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Contacts => "vcf",
            Self::Events => "ics",
        }
    }
}

impl fmt::Display for PimKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a provider's id.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A collection's provider-native, stable id (a CalDAV collection href, a Graph folder
    /// id, a directory name).
    ///
    /// ```
    /// use mailmigrate_core::pim::CollectionId;
    /// assert_eq!(CollectionId::new("/dav/ann/work/").as_str(), "/dav/ann/work/");
    /// ```
    CollectionId
);

string_id!(
    /// An item's provider-native, stable id within its collection (a resource href, a
    /// Graph id, a file name). It is not the item's `UID`: providers name items their own
    /// way, and several items of one collection may claim one `UID`.
    ///
    /// ```
    /// use mailmigrate_core::pim::ItemId;
    /// assert_eq!(ItemId::new("a1.vcf").to_string(), "a1.vcf");
    /// ```
    ItemId
);

/// One address book or calendar.
///
/// ```
/// use mailmigrate_core::pim::{Collection, CollectionId, PimKind};
/// let c = Collection::new(CollectionId::new("work"), PimKind::Events, "Work");
/// assert_eq!(c.name, "Work");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Collection {
    /// The provider's id.
    pub id: CollectionId,
    /// What it holds.
    pub kind: PimKind,
    /// The display name; destinations create collections by it.
    pub name: String,
    /// A description, when the provider has one.
    pub description: Option<String>,
    /// A colour as `#RRGGBB`, when the provider has one.
    pub color: Option<String>,
}

impl Collection {
    /// A collection with an id, a kind and a display name.
    pub fn new(id: CollectionId, kind: PimKind, name: impl Into<String>) -> Self {
        Self {
            id,
            kind,
            name: name.into(),
            description: None,
            color: None,
        }
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: Option<String>) -> Self {
        self.description = description;
        self
    }

    /// Sets the colour.
    #[must_use]
    pub fn with_color(mut self, color: Option<String>) -> Self {
        self.color = color;
        self
    }
}

/// What a listing says about one item: its id, its `UID` and a version that changes
/// whenever the item does.
///
/// ```
/// use mailmigrate_core::pim::{ItemId, ItemMeta};
/// let m = ItemMeta::new(ItemId::new("a.vcf")).with_uid(Some("urn:uuid:1".into()))
///     .with_version(Some("\"etag-1\"".into()));
/// assert_eq!(m.version.as_deref(), Some("\"etag-1\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ItemMeta {
    /// The provider's id.
    pub id: ItemId,
    /// The item's `UID`, when the listing tells it.
    pub uid: Option<String>,
    /// A version (an ETag, a change key): equal versions mean equal content.
    pub version: Option<String>,
}

impl ItemMeta {
    /// Metadata with only an id.
    pub fn new(id: ItemId) -> Self {
        Self {
            id,
            uid: None,
            version: None,
        }
    }

    /// Sets the `UID`.
    #[must_use]
    pub fn with_uid(mut self, uid: Option<String>) -> Self {
        self.uid = uid;
        self
    }

    /// Sets the version.
    #[must_use]
    pub fn with_version(mut self, version: Option<String>) -> Self {
        self.version = version;
        self
    }
}

/// One entry of an item listing: the contact or calendar counterpart of
/// [`Change`](crate::Change).
///
/// A listing since a checkpoint holds only what changed; a listing without one (or after
/// [`Reset`](ItemChange::Reset)) holds every item. It always ends with
/// [`Checkpoint`](ItemChange::Checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemChange {
    /// The item is new or changed since the checkpoint.
    Upsert(ItemMeta),
    /// The item was removed since the checkpoint.
    Removed(ItemId),
    /// The checkpoint is no longer valid (an expired sync token): what follows is a full
    /// listing, and items the engine knows that it does not hold were removed.
    Reset,
    /// The last entry: the position to resume from next time.
    Checkpoint(Checkpoint),
}

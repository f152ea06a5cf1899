//! What a contact or calendar store can do and keep, declared before any I/O.

use super::PimKind;

/// Whether writing an event with attendees makes the store send mail to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notifications {
    /// The store never sends invitations or cancellations (files, a CalDAV server without
    /// scheduling, an import API).
    #[default]
    Never,
    /// The store sends them unless the write asks it not to
    /// ([`WriteOptions::notify_attendees`](super::WriteOptions) off): CalDAV scheduling
    /// with `SCHEDULE-AGENT=CLIENT`, Google's `sendUpdates=none`.
    Suppressible,
    /// The store sends them whenever an event has attendees (Graph's create). The engine
    /// refuses to write such events unless the caller opts in to notifications, or the
    /// provider carries attendees another way and declares [`Suppressible`](Self::Suppressible).
    Always,
}

/// The most values of a contact field a store keeps; `None` is no limit. The engine carries
/// the overflow in the contact's note and reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContactLimits {
    /// `EMAIL` values (Graph: 3).
    pub emails: Option<usize>,
    /// `TEL` values.
    pub phones: Option<usize>,
    /// `ADR` values.
    pub addresses: Option<usize>,
}

/// What a contact or calendar provider supports and keeps. Build it with struct-update
/// syntax from [`PimCapabilities::default`] (everything off).
///
/// The engine plans with these and never branches on a provider's name. Declare them
/// honestly: the conformance testkit checks each one that is on.
///
/// ```
/// use mailmigrate_core::pim::{PimCapabilities, PimKind};
/// let caps = PimCapabilities {
///     contacts: true,
///     write: true,
///     keeps_uid: true,
///     find_by_uid: true,
///     ..PimCapabilities::default()
/// };
/// assert!(caps.holds(PimKind::Contacts) && !caps.holds(PimKind::Events));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "each flag is an independent capability"
)]
pub struct PimCapabilities {
    /// Holds address books.
    pub contacts: bool,
    /// Holds calendars.
    pub events: bool,
    /// Lists only what changed since a checkpoint (a WebDAV sync token, a delta link).
    /// Without it every pass lists every item with its version and the engine compares.
    pub list_since: bool,
    /// Listings report removals (needed to propagate deletions incrementally).
    pub list_removals: bool,
    /// Creates collections.
    pub create_collections: bool,
    /// Writes items.
    pub write: bool,
    /// Replaces an existing item (updates travel).
    pub update: bool,
    /// Deletes items (used only when the caller asks to propagate deletions).
    pub delete: bool,
    /// Stores the `UID` it is given, so [`find_by_uid`](super::PimDestination::find_by_uid)
    /// finds what was written.
    pub keeps_uid: bool,
    /// Finds items by `UID` (by the `UID` itself, or by a property the provider wrote it
    /// in). With it an unknown outcome is settled by a look-up instead of waiting for the
    /// operator.
    pub find_by_uid: bool,
    /// A create of a `UID` the collection already holds fails with `AlreadyExists` instead
    /// of storing a second copy (CalDAV `If-None-Match: *`), and a replace whose version
    /// no longer matches fails with `Conflict` (`If-Match`): writes are exactly-once by
    /// construction.
    pub conditional_writes: bool,
    /// Keeps properties it has no field for (`X-` properties, unknown components).
    pub keeps_unknown_properties: bool,
    /// Keeps attachments given by reference (`ATTACH` with a URI).
    pub keeps_attachment_references: bool,
    /// Keeps alarms (`VALARM`).
    pub keeps_alarms: bool,
    /// Keeps `VTIMEZONE` definitions as given (otherwise it keeps IANA zone ids only).
    pub keeps_timezone_definitions: bool,
    /// Whether writing events with attendees sends them mail.
    pub notifications: Notifications,
    /// Per-field limits of contacts.
    pub contact_limits: ContactLimits,
    /// The largest item text accepted, in bytes.
    pub max_item_size: Option<u64>,
    /// The most items worth sending in one write call (0 = no preference).
    pub write_batch_max: usize,
}

impl PimCapabilities {
    /// Whether the provider holds collections of `kind`.
    pub fn holds(&self, kind: PimKind) -> bool {
        match kind {
            PimKind::Contacts => self.contacts,
            PimKind::Events => self.events,
        }
    }
}
